/*
 * The virtio-console test (`tests=console`): the first virtio-serial device
 * (1af4:1043, or QEMU's transitional 1003) with VERSION_1, MULTIPORT, SIZE
 * and EMERG_WRITE as far as offered. Checks max_nr_ports in the config
 * (con_ports=, default QEMU's 31) and, with MULTIPORT, runs the control
 * handshake of virtio 1.2 §5.3.6.2 the way Linux does: DEVICE_READY, then
 * PORT_READY for every DEVICE_ADD, PORT_OPEN for the console port, and waits
 * for CONSOLE_PORT, PORT_NAME (con_name=, when given) and the host's
 * PORT_OPEN for port 0. con_nports= is the number of ports the device must
 * announce (default 1).
 *
 * Then, with con_mode=echo (the default), it reads one line from port 0
 * into a single 8-byte receive buffer, re-posted only after each fill (so a
 * longer line needs the device to hold input back until buffers come), and
 * writes "vireo-testguest console: hello" followed by "ECHO: " and the line
 * in upper case, each line ending in "\n", the echo as a two-buffer chain;
 * with con_mode=write it writes the hello line and "no input" instead.
 * Last, with EMERG_WRITE, it writes "EMERG\n" through the emerg_wr config
 * field (then, with con_bye=1, waits for one more line). con_again=1: after the echo, a
 * second line read and echoed the same way (the host saves and restores the VM while the
 * guest waits for it). con_mode=flood:
 * after the echo, 128 chunks of 4 KiB instead ("C%07u", 'x's, "\n"), each
 * waited for, on port con_flood_port= (1, the
 * default: a virtserialport the guest opens and whose host side must be
 * open; or 0, the console). The host checks what arrives on its side of the chardev.
 * Queues are set up here (the shared driver in virtio.c runs one queue).
 */
#include "guest.h"
#include "lib/cpu.h"
#include "lib/format.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define CON_F_SIZE      (1ull << 0)
#define CON_F_MULTIPORT (1ull << 1)
#define CON_F_EMERG     (1ull << 2)

#define EV_DEVICE_READY 0
#define EV_DEVICE_ADD   1
#define EV_PORT_READY   3
#define EV_CONSOLE_PORT 4
#define EV_PORT_OPEN    6
#define EV_PORT_NAME    7

#define Q_RX     0
#define Q_TX     1
#define Q_CIN    2
#define Q_COUT   3
#define NQ       6 /* port 0, control, port 1 (con_mode=flood) */
#define RXBUF    8
#define CBUF     64
#define MAX_LINE 256
/* Polling bounds in TSC cycles: tens of seconds at any rate seen here. */
#define WAIT_LONG 60000000000ull

static struct vring rings[NQ];
static uint16_t q_avail[NQ], q_used[NQ], q_notify[NQ];
static uint8_t cin_buf[VQ_SIZE][CBUF] __attribute__((aligned(64)));
static uint8_t cout_buf[16] __attribute__((aligned(64)));
static uint8_t rx_buf[RXBUF] __attribute__((aligned(64)));
static char tx_hello[64], tx_prefix[8], tx_line[MAX_LINE + 2];
static char tx_chunk[4096] __attribute__((aligned(64)));

static void w16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static uint16_t r16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}

static void q_post(unsigned q, uint16_t slot)
{
    rings[q].avail.ring[q_avail[q] % VQ_SIZE] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q_avail[q]++;
    rings[q].avail.idx = q_avail[q];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void q_kick(struct vdev *d, unsigned q)
{
    w16(d->notify + (uint64_t)q_notify[q] * d->notify_mult, (uint16_t)q);
}

/* Takes one used entry of queue q if there is one. */
static bool q_get(unsigned q, uint32_t *id, uint32_t *len)
{
    uint16_t used = *(volatile uint16_t *)&rings[q].used.idx;
    if (used == q_used[q])
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *id = rings[q].used.ring[q_used[q] % VQ_SIZE].id;
    *len = rings[q].used.ring[q_used[q] % VQ_SIZE].len;
    q_used[q]++;
    return true;
}

static bool q_wait(unsigned q, uint32_t *id, uint32_t *len, uint64_t cycles)
{
    uint64_t start = rdtsc();
    while (!q_get(q, id, len)) {
        if (rdtsc() - start > cycles)
            return false;
        cpu_pause();
    }
    return true;
}

static const char *con_start(struct vdev *d, bool multiport_wanted, unsigned nq)
{
    uint64_t c = d->common;
    virtio_reset(d);
    mmio_write8(c + 20, VIRTIO_ST_ACK);
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER);
    mmio_write32(c + 0, 0);
    uint64_t offered = mmio_read32(c + 4);
    mmio_write32(c + 0, 1);
    offered |= (uint64_t)mmio_read32(c + 4) << 32;
    if (!(offered & VIRTIO_F_VERSION_1))
        return "device does not offer VERSION_1";
    if (multiport_wanted && !(offered & CON_F_MULTIPORT))
        return "device does not offer MULTIPORT";
    if (!multiport_wanted && (offered & CON_F_MULTIPORT))
        return "device offers MULTIPORT with con_ports=1";
    d->features = offered & (VIRTIO_F_VERSION_1 | CON_F_MULTIPORT | CON_F_SIZE | CON_F_EMERG);
    mmio_write32(c + 8, 0);
    mmio_write32(c + 12, (uint32_t)d->features);
    mmio_write32(c + 8, 1);
    mmio_write32(c + 12, (uint32_t)(d->features >> 32));
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK);
    if (!(mmio_read8(c + 20) & VIRTIO_ST_FEATURES_OK))
        return "device refused FEATURES_OK";
    for (unsigned q = 0; q < nq; q++) {
        w16(c + 22, (uint16_t)q);
        if (r16(c + 24) < VQ_SIZE)
            return "a queue is smaller than 8 entries";
    }
    memset(rings, 0, sizeof(rings));
    memset(q_avail, 0, sizeof(q_avail));
    memset(q_used, 0, sizeof(q_used));
    for (unsigned q = 0; q < nq; q++)
        q_notify[q] = virtio_set_vring(d, (uint16_t)q, &rings[q]);
    return 0;
}

static void put_le(uint8_t *p, uint32_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Sends one control message on c_ovq and waits for the device to take it. */
static bool ctrl_send(struct vdev *d, uint32_t id, uint16_t event, uint16_t value)
{
    put_le(cout_buf, id, 4);
    put_le(cout_buf + 4, event, 2);
    put_le(cout_buf + 6, value, 2);
    rings[Q_COUT].desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)cout_buf, 8, 0, 0};
    q_post(Q_COUT, 0);
    q_kick(d, Q_COUT);
    uint32_t idx, len;
    return q_wait(Q_COUT, &idx, &len, WAIT_LONG);
}

static void post_rx(struct vdev *d)
{
    rings[Q_RX].desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)rx_buf, RXBUF, VQ_F_WRITE, 0};
    q_post(Q_RX, 0);
    q_kick(d, Q_RX);
}

struct handshake {
    unsigned added, ports_added_mask;
    bool console, named, host_open, want_port1, host_open1;
    char name[CBUF];
};

/* Runs the control handshake until port 0 is a named (if asked), host-open console. */
static bool handshake(struct guest *g, struct vdev *d, struct handshake *h, bool want_name,
                      unsigned nports)
{
    for (uint16_t i = 0; i < VQ_SIZE; i++) {
        rings[Q_CIN].desc[i] =
            (struct vq_desc){(uint64_t)(uintptr_t)cin_buf[i], CBUF, VQ_F_WRITE, 0};
        q_post(Q_CIN, i);
    }
    q_kick(d, Q_CIN);
    if (!tap_ok(&g->tap, ctrl_send(d, 0, EV_DEVICE_READY, 1), "console: DEVICE_READY taken"))
        return false;
    uint64_t start = rdtsc();
    while (rdtsc() - start < WAIT_LONG) {
        if (h->added >= nports && h->console && h->host_open && (h->named || !want_name) &&
            (h->host_open1 || !h->want_port1))
            return true;
        uint32_t id, len;
        if (!q_get(Q_CIN, &id, &len)) {
            cpu_pause();
            continue;
        }
        if (id >= VQ_SIZE || len < 8 || len > CBUF) {
            tap_ok(&g->tap, false, "console: bad control buffer from the device (id %u len %u)", id,
                   len);
            return false;
        }
        const uint8_t *m = cin_buf[id];
        uint32_t port = m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
        uint16_t ev = (uint16_t)(m[4] | m[5] << 8), val = (uint16_t)(m[6] | m[7] << 8);
        char name[CBUF];
        memset(name, 0, sizeof(name));
        if (ev == EV_PORT_NAME)
            memcpy(name, m + 8, len - 8);
        q_post(Q_CIN, (uint16_t)id);
        q_kick(d, Q_CIN);
        tap_diag(&g->tap, "console: control event %u port %u value %u%s%s", ev, port, val,
                 ev == EV_PORT_NAME ? " name " : "", ev == EV_PORT_NAME ? name : "");
        if (ev == EV_DEVICE_ADD) {
            h->added++;
            if (port < 32)
                h->ports_added_mask |= 1u << port;
            if (!ctrl_send(d, port, EV_PORT_READY, 1))
                return false;
            if (port == 1 && h->want_port1 && !ctrl_send(d, 1, EV_PORT_OPEN, 1))
                return false;
        } else if (ev == EV_CONSOLE_PORT && port == 0) {
            h->console = true;
            if (!ctrl_send(d, 0, EV_PORT_OPEN, 1)) /* as Linux does for a console */
                return false;
        } else if (ev == EV_PORT_NAME && port == 0) {
            h->named = true;
            memcpy(h->name, name, sizeof(name));
        } else if (ev == EV_PORT_OPEN && port == 0) {
            h->host_open = val == 1;
        } else if (ev == EV_PORT_OPEN && port == 1) {
            h->host_open1 = val == 1;
        }
    }
    return false;
}

/* Reads one line (without its "\n") through the 8-byte receive buffer. */
static int read_line(struct vdev *d, char *line, unsigned max, unsigned *fills)
{
    unsigned n = 0;
    *fills = 0;
    post_rx(d);
    for (;;) {
        uint32_t id, len;
        if (!q_wait(Q_RX, &id, &len, WAIT_LONG))
            return -1;
        if (id != 0 || len > RXBUF)
            return -2;
        (*fills)++;
        for (uint32_t i = 0; i < len; i++) {
            if (rx_buf[i] == '\n')
                return (int)n; /* the rest of this buffer (after the line) is ignored */
            if (n < max)
                line[n++] = (char)rx_buf[i];
        }
        tsc_delay(1000000); /* let input pile up on the host while the guest has no buffer */
        post_rx(d);
    }
}

static bool write_out(struct vdev *d, const char *a, const char *b)
{
    rings[Q_TX].desc[0] =
        (struct vq_desc){(uint64_t)(uintptr_t)tx_hello, (uint32_t)strlen(tx_hello), 0, 0};
    q_post(Q_TX, 0);
    if (b) {
        rings[Q_TX].desc[1] =
            (struct vq_desc){(uint64_t)(uintptr_t)a, (uint32_t)strlen(a), VQ_F_NEXT, 2};
        rings[Q_TX].desc[2] = (struct vq_desc){(uint64_t)(uintptr_t)b, (uint32_t)strlen(b), 0, 0};
    } else {
        rings[Q_TX].desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)a, (uint32_t)strlen(a), 0, 0};
    }
    q_post(Q_TX, 1);
    q_kick(d, Q_TX);
    uint32_t id, len;
    return q_wait(Q_TX, &id, &len, WAIT_LONG) && q_wait(Q_TX, &id, &len, WAIT_LONG);
}

void test_virtio_console(struct guest *g)
{
    static struct vdev d;
    struct tap *t = &g->tap;
    struct pci_access pa;
    uint64_t want_ports = 31, nports = 1;
    const char *v;
    uint32_t n;
    if (param_str(g, "con_ports", &v, &n))
        param_u64(g, "con_ports", false, false, &want_ports);
    if (param_str(g, "con_nports", &v, &n))
        param_u64(g, "con_nports", false, false, &nports);
    const char *want_name = 0;
    uint32_t want_name_len = 0;
    if (param_str(g, "con_name", &v, &n)) {
        want_name = v;
        want_name_len = n;
    }
    bool write_only = param_is(g, "con_mode", "write");
    bool flood = param_is(g, "con_mode", "flood");
    uint64_t flood_port = 1;
    if (param_str(g, "con_flood_port", &v, &n))
        param_u64(g, "con_flood_port", false, false, &flood_port);
    flood_port = flood_port ? 1 : 0;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    if (!tap_ok(t, virtio_find(&d, &pa, 0x1043, 0),
                "console: virtio-console device found on bus 0"))
        return;
    bool multiport = want_ports > 1;
    unsigned nq = !multiport ? 2 : flood && flood_port ? 6 : 4;
    const char *why = con_start(&d, multiport, nq);
    if (!tap_ok(t, !why, "console: driver started (features 0x%lx)%s%s", d.features,
                why ? ": " : "", why ? why : ""))
        return;
    uint32_t max_ports = virtio_cfg32(&d, 4);
    uint16_t cols = (uint16_t)(virtio_cfg8(&d, 0) | virtio_cfg8(&d, 1) << 8);
    uint16_t rows = (uint16_t)(virtio_cfg8(&d, 2) | virtio_cfg8(&d, 3) << 8);
    tap_ok(t, !multiport || max_ports == want_ports, "console: config max_nr_ports = %u (want %lu)",
           max_ports, want_ports);
    if (d.features & CON_F_SIZE)
        tap_ok(t, cols && rows, "console: F_SIZE: %u columns, %u rows", cols, rows);
    else
        tap_diag(t, "console: F_SIZE not offered");
    mmio_write8(d.common + 20,
                VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK | VIRTIO_ST_DRIVER_OK);

    if (multiport) {
        struct handshake h;
        memset(&h, 0, sizeof(h));
        h.want_port1 = flood && flood_port;
        bool done = handshake(g, &d, &h, want_name != 0, (unsigned)nports);
        tap_ok(t, h.added == nports && (h.ports_added_mask & 1),
               "console: DEVICE_ADD for port 0 and %lu port(s) in all (got %u)", nports, h.added);
        tap_ok(t, h.console, "console: CONSOLE_PORT for port 0");
        if (want_name)
            tap_ok(t,
                   h.named && strlen(h.name) == want_name_len &&
                       !memcmp(h.name, want_name, want_name_len),
                   "console: PORT_NAME of port 0 is '%s'", h.name);
        tap_ok(t, h.host_open, "console: the host opened port 0 (PORT_OPEN 1)");
        if (h.want_port1)
            tap_ok(t, h.host_open1, "console: the host opened port 1 (PORT_OPEN 1)");
        if (!done)
            return;
    }
    format_buf(tx_hello, sizeof(tx_hello), "vireo-testguest console: hello\n");
    bool good;
    if (write_only) {
        good = write_out(&d, "no input\n", 0);
        tap_ok(t, good, "console: hello and a second line written on port 0");
    } else {
        tap_diag(t, "console: waiting for a line on port 0");
        char line[MAX_LINE];
        unsigned fills;
        int len = read_line(&d, line, sizeof(line) - 1, &fills);
        if (!tap_ok(t, len >= 0, "console: a line from the host arrived (%d bytes, %u buffers)",
                    len, fills))
            return;
        for (int i = 0; i < len; i++)
            tx_line[i] = line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i];
        tx_line[len] = '\n';
        tx_line[len + 1] = '\0';
        memcpy(tx_prefix, "ECHO: ", 7);
        good = write_out(&d, tx_prefix, tx_line);
        tap_ok(t, good, "console: hello and the echo written on port 0");
        /* con_again=1: a second round on the same port (the host saves and restores the VM
         * while the guest waits for it). */
        if (good && param_is(g, "con_again", "1")) {
            tap_diag(t, "console: waiting for a second line on port 0");
            len = read_line(&d, line, sizeof(line) - 1, &fills);
            if (!tap_ok(t, len >= 0, "console: a second line arrived (%d bytes, %u buffers)", len,
                        fills))
                return;
            for (int i = 0; i < len; i++)
                tx_line[i] = line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i];
            tx_line[len] = '\n';
            tx_line[len + 1] = '\0';
            good = write_out(&d, tx_prefix, tx_line);
            tap_ok(t, good, "console: hello and the second echo written on port 0");
        }
    }
    if (good && flood) {
        /* 128 chunks of 4 KiB, "C%07u" + 'x'... + "\n", one at a time: more than a socket
         * buffer holds, so the device must hold a chunk until the host reads (or drop it
         * when the host goes away). */
        memset(tx_chunk, 'x', sizeof(tx_chunk));
        tx_chunk[sizeof(tx_chunk) - 1] = '\n';
        unsigned i, q = flood_port ? 5 : Q_TX; /* port 1's transmit queue is 5 */
        for (i = 0; i < 128 && good; i++) {
            format_buf(tx_chunk, 9, "C%07u", i);
            tx_chunk[8] = 'x';
            rings[q].desc[0] =
                (struct vq_desc){(uint64_t)(uintptr_t)tx_chunk, sizeof(tx_chunk), 0, 0};
            q_post(q, 0);
            q_kick(&d, q);
            uint32_t id, len;
            good = q_wait(q, &id, &len, WAIT_LONG);
        }
        tap_ok(t, good, "console: %u chunks of 4096 bytes written on port %lu", i, flood_port);
        return; /* no EMERG: the host counts bytes */
    }
    if (good && (d.features & CON_F_EMERG)) {
        const char *e = "EMERG\n";
        for (unsigned i = 0; e[i]; i++)
            mmio_write32(d.device + 8, (uint8_t)e[i]);
        tap_diag(t, "console: EMERG written through emerg_wr");
    }
    /* con_bye=1: stay until the host says it has read everything (a pty's
     * pending output is flushed when the VMM exits and closes the master). */
    if (good && param_is(g, "con_bye", "1")) {
        char bye[16];
        unsigned fills;
        tap_ok(t, read_line(&d, bye, sizeof(bye), &fills) >= 0,
               "console: the host's closing line arrived");
    }
    virtio_reset(&d);
}
