/*
 * The guest agent test (`tests=agent`): the test guest answers as a QEMU guest agent on the
 * virtio-serial port named org.qemu.guest_agent.0 (agent_port=, default 1), so that the
 * host's agent client (vireod) can be driven end to end. It runs the multiport control
 * handshake (DEVICE_READY, PORT_READY for each DEVICE_ADD, PORT_NAME checked), opens the port
 * (PORT_OPEN 1: the VMM's VSERPORT_CHANGE), then serves commands, one JSON object per line:
 *
 *   guest-sync-delimited  0xFF, then {"return": ID}        guest-sync  {"return": ID}
 *   guest-ping            {"return": {}}                   guest-info  version and commands
 *   guest-get-time        the CMOS clock (plus what guest-set-time moved it), in ns
 *   guest-set-time        {"time": NS} moves the clock; without it, back to the CMOS clock
 *   guest-get-fsinfo      the first virtio-blk disk as one file system "/" (type vireo-testfs,
 *                         its capacity from the device's config as total-bytes, at the PCI
 *                         address the guest found it), or [] without a disk
 *   guest-get-disks       that disk as /dev/vda (not a partition, no dependencies), same address
 *   guest-fsfreeze-freeze[-list], guest-fsfreeze-thaw   the number of those file systems
 *   guest-network-get-interfaces  the first virtio-net NIC as eth0 with the MAC in its config
 *                         and no IP address (the guest has no network stack), or []
 *   guest-set-user-password  {} (reported with its username and base64 password)
 *   guest-get-vcpus       each vCPU of the MADT with its online flag; all but vCPU 0 can go
 *                         offline. The test guest cannot really offline a CPU (its other
 *                         vCPUs are parked by the VMM, never started): guest-set-vcpus keeps
 *                         a per-CPU online flag, reports each change, and answers with the
 *                         count applied as qemu-ga does (stopping at the first it refuses)
 *   guest-get-osinfo, guest-get-timezone, guest-get-host-name   what the test guest is
 *   guest-shutdown        no answer: "# agent: guest-shutdown" and ACPI power-off
 *   anything else         {"error": {"class": "CommandNotFound", ...}} as qemu-ga words it
 *
 * A 0xFF byte from the host drops a half-read line, as qemu-ga's parser resets on it. Each
 * command is reported as a TAP line. With no command for agent_idle= seconds (default 600)
 * the test fails and returns, so a broken host never leaves the guest waiting forever.
 */
#include "guest.h"
#include "lib/cmos.h"
#include "lib/cpu.h"
#include "lib/format.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define CON_F_MULTIPORT (1ull << 1)
#define EV_DEVICE_READY 0
#define EV_DEVICE_ADD   1
#define EV_PORT_READY   3
#define EV_PORT_OPEN    6
#define EV_PORT_NAME    7

#define Q_CIN   2
#define Q_COUT  3
#define NQ      6 /* port 0, control, port 1; the agent's port must be 1 */
#define CBUF    64
#define RXB     64
#define LINEMAX 1024

#define AGENT_NAME "org.qemu.guest_agent.0"

static struct vring rings[NQ];
static uint16_t q_avail[NQ], q_used[NQ], q_notify[NQ];
static uint8_t cin_buf[VQ_SIZE][CBUF] __attribute__((aligned(64)));
static uint8_t cout_buf[16] __attribute__((aligned(64)));
static uint8_t rx_buf[VQ_SIZE][RXB] __attribute__((aligned(64)));
static char tx_buf[1024] __attribute__((aligned(64)));
static char line[LINEMAX];

struct agent {
    struct guest *g;
    struct vdev *d;
    unsigned port, rxq, txq;
    int64_t offset_ns; /* what guest-set-time moved the clock by */
    bool named, added;
    /* What the guest found on its PCI bus for guest-get-fsinfo/-disks and the interfaces. */
    bool have_disk, have_nic;
    unsigned disk_bus, disk_dev, nic_bus, nic_dev;
    uint64_t disk_bytes;
    uint8_t mac[6];
    unsigned ncpus;
    bool online[ACPI_MAX_CPUS];
};

static void w16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static uint16_t r16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}

static void q_post(struct vdev *d, unsigned q, uint16_t slot)
{
    rings[q].avail.ring[q_avail[q] % VQ_SIZE] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q_avail[q]++;
    rings[q].avail.idx = q_avail[q];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w16(d->notify + (uint64_t)q_notify[q] * d->notify_mult, (uint16_t)q);
}

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

static bool q_wait(unsigned q, uint32_t *id, uint32_t *len)
{
    uint64_t start = rdtsc();
    while (!q_get(q, id, len)) {
        if (rdtsc() - start > 60 * TSC_SEC)
            return false;
        cpu_pause();
    }
    return true;
}

static const char *start_device(struct vdev *d)
{
    uint64_t c = d->common;
    virtio_reset(d);
    mmio_write8(c + 20, VIRTIO_ST_ACK);
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER);
    mmio_write32(c + 0, 0);
    uint64_t offered = mmio_read32(c + 4);
    mmio_write32(c + 0, 1);
    offered |= (uint64_t)mmio_read32(c + 4) << 32;
    if (!(offered & VIRTIO_F_VERSION_1) || !(offered & CON_F_MULTIPORT))
        return "device does not offer VERSION_1 and MULTIPORT";
    d->features = VIRTIO_F_VERSION_1 | CON_F_MULTIPORT;
    mmio_write32(c + 8, 0);
    mmio_write32(c + 12, (uint32_t)d->features);
    mmio_write32(c + 8, 1);
    mmio_write32(c + 12, (uint32_t)(d->features >> 32));
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK);
    if (!(mmio_read8(c + 20) & VIRTIO_ST_FEATURES_OK))
        return "device refused FEATURES_OK";
    for (unsigned q = 0; q < NQ; q++) {
        w16(c + 22, (uint16_t)q);
        if (r16(c + 24) < VQ_SIZE)
            return "a queue is smaller than 8 entries";
    }
    memset(rings, 0, sizeof(rings));
    memset(q_avail, 0, sizeof(q_avail));
    memset(q_used, 0, sizeof(q_used));
    for (unsigned q = 0; q < NQ; q++)
        q_notify[q] = virtio_set_vring(d, (uint16_t)q, &rings[q]);
    mmio_write8(c + 20,
                VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK | VIRTIO_ST_DRIVER_OK);
    return 0;
}

static bool ctrl_send(struct vdev *d, uint32_t id, uint16_t event, uint16_t value)
{
    for (unsigned i = 0; i < 4; i++)
        cout_buf[i] = (uint8_t)(id >> (8 * i));
    cout_buf[4] = (uint8_t)event;
    cout_buf[5] = (uint8_t)(event >> 8);
    cout_buf[6] = (uint8_t)value;
    cout_buf[7] = (uint8_t)(value >> 8);
    rings[Q_COUT].desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)cout_buf, 8, 0, 0};
    q_post(d, Q_COUT, 0);
    uint32_t idx, len;
    return q_wait(Q_COUT, &idx, &len);
}

/* Takes the control messages there are (the handshake's, and the host's PORT_OPENs). */
static bool ctrl_poll(struct agent *a)
{
    uint32_t id, len;
    while (q_get(Q_CIN, &id, &len)) {
        if (id >= VQ_SIZE || len < 8 || len > CBUF)
            return tap_ok(&a->g->tap, false, "agent: bad control buffer (id %u len %u)", id, len);
        const uint8_t *m = cin_buf[id];
        uint32_t port = m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
        uint16_t ev = (uint16_t)(m[4] | m[5] << 8);
        bool name_ok = ev == EV_PORT_NAME && len - 8 == strlen(AGENT_NAME) &&
                       !memcmp(m + 8, AGENT_NAME, len - 8);
        q_post(a->d, Q_CIN, (uint16_t)id);
        if (ev == EV_DEVICE_ADD) {
            if (!ctrl_send(a->d, port, EV_PORT_READY, 1))
                return false;
            a->added |= port == a->port;
        } else if (ev == EV_PORT_NAME && port == a->port) {
            a->named = name_ok;
        }
    }
    return true;
}

static bool send_text(struct agent *a, const char *s, uint32_t n)
{
    memcpy(tx_buf, s, n);
    rings[a->txq].desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)tx_buf, n, 0, 0};
    q_post(a->d, a->txq, 0);
    uint32_t id, len;
    return q_wait(a->txq, &id, &len);
}

static bool reply(struct agent *a, const char *s)
{
    return send_text(a, s, (uint32_t)strlen(s));
}

/* The first place needle is in text, or NULL. */
static const char *find(const char *text, const char *needle)
{
    size_t n = strlen(needle);
    for (; *text; text++)
        if (!memcmp(text, needle, n))
            return text;
    return 0;
}

/* The value of "key": a string (copied to out) or a number or boolean (into *num), from a flat JSON
 * text; false when the key is absent. Enough for the commands above. */
static bool json_field(const char *text, const char *key, char *out, unsigned max, int64_t *num)
{
    unsigned kl = (unsigned)strlen(key);
    for (const char *p = text; *p; p++) {
        if (*p != '"' || memcmp(p + 1, key, kl) || p[1 + kl] != '"')
            continue;
        p += kl + 2;
        while (*p == ' ' || *p == ':')
            p++;
        if (*p == '"' && out) {
            unsigned n = 0;
            for (p++; *p && *p != '"' && n + 1 < max; p++)
                out[n++] = *p;
            out[n] = '\0';
            return true;
        }
        if (num && (*p == 't' || *p == 'f')) { /* true, false */
            *num = *p == 't';
            return true;
        }
        if (num && ((*p >= '0' && *p <= '9') || *p == '-')) {
            bool neg = *p == '-';
            int64_t v = 0;
            for (p += neg; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (*p - '0');
            *num = neg ? -v : v;
            return true;
        }
        return false;
    }
    return false;
}

static unsigned bcd(uint8_t v, bool binary)
{
    return binary ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

/* The CMOS clock as nanoseconds since the epoch (whole seconds). */
static int64_t rtc_ns(void)
{
    for (int i = 0; i < 2000 && (cmos_read(RTC_STATUS_A) & RTC_A_UIP); i++)
        ;
    uint8_t b = cmos_read(RTC_STATUS_B);
    bool bin = b & RTC_B_BINARY;
    int64_t sec = bcd(cmos_read(RTC_SECONDS), bin), min = bcd(cmos_read(RTC_MINUTES), bin);
    uint8_t hr = cmos_read(RTC_HOURS);
    int64_t hour = bcd(hr & 0x7f, bin);
    if (!(b & RTC_B_24H))
        hour = hour % 12 + ((hr & 0x80) ? 12 : 0);
    int64_t day = bcd(cmos_read(RTC_DAY), bin), mon = bcd(cmos_read(RTC_MONTH), bin);
    unsigned century = bcd(cmos_read(RTC_CENTURY), bin);
    if (century < 19 || century > 30)
        century = 20;
    int64_t year = century * 100 + bcd(cmos_read(RTC_YEAR), bin);
    /* days from the civil date (proleptic Gregorian) */
    int64_t y = year - (mon <= 2), era = y / 400, yoe = y - era * 400;
    int64_t doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return ((days * 24 + hour) * 60 + min) * 60 * 1000000000ll + sec * 1000000000ll;
}

/* One command line; false when the agent should stop (guest-shutdown, a failed write). */
static bool serve(struct agent *a, const char *cmd)
{
    struct tap *t = &a->g->tap;
    char name[64], out[512];
    int64_t num = 0;
    if (!json_field(cmd, "execute", name, sizeof(name), 0)) {
        tap_diag(t, "agent: ignored a line without \"execute\"");
        return true;
    }
    bool ok;
    if (!strcmp(name, "guest-sync-delimited") || !strcmp(name, "guest-sync")) {
        json_field(cmd, "id", 0, 0, &num);
        format_buf(out, sizeof(out), "%s{\"return\": %ld}\n", name[10] == '-' ? "\xff" : "",
                   (long)num);
        ok = reply(a, out);
        tap_ok(t, ok, "agent: %s answered (id %ld)", name, (long)num);
    } else if (!strcmp(name, "guest-ping")) {
        ok = reply(a, "{\"return\": {}}\n");
        tap_ok(t, ok, "agent: guest-ping answered");
    } else if (!strcmp(name, "guest-info")) {
        ok = reply(a, "{\"return\": {\"version\": \"vireo-testguest\", \"supported_commands\": ["
                      "{\"enabled\": true, \"name\": \"guest-sync-delimited\", "
                      "\"success-response\": true}, {\"enabled\": true, \"name\": "
                      "\"guest-ping\", \"success-response\": true}, {\"enabled\": true, "
                      "\"name\": \"guest-get-time\", \"success-response\": true}, {\"enabled\": "
                      "true, \"name\": \"guest-set-time\", \"success-response\": true}, "
                      "{\"enabled\": true, \"name\": \"guest-shutdown\", \"success-response\": "
                      "false}]}}\n");
        tap_ok(t, ok, "agent: guest-info answered");
    } else if (!strcmp(name, "guest-get-time")) {
        int64_t now = rtc_ns() + a->offset_ns;
        format_buf(out, sizeof(out), "{\"return\": %ld}\n", (long)now);
        ok = reply(a, out);
        tap_ok(t, ok, "agent: guest-get-time answered %ld s", (long)(now / 1000000000));
    } else if (!strcmp(name, "guest-set-time")) {
        if (json_field(cmd, "time", 0, 0, &num)) {
            a->offset_ns = num - rtc_ns();
            tap_diag(t, "agent: guest-set-time to %ld s", (long)(num / 1000000000));
        } else {
            a->offset_ns = 0;
            tap_diag(t, "agent: guest-set-time from the RTC");
        }
        ok = reply(a, "{\"return\": {}}\n");
        tap_ok(t, ok, "agent: guest-set-time answered");
    } else if (!strcmp(name, "guest-get-fsinfo") || !strcmp(name, "guest-get-disks")) {
        char addr[200];
        bool fs = name[10] == 'f';
        format_buf(addr, sizeof(addr),
                   "{\"bus-type\": \"virtio\", \"bus\": 0, \"target\": 0, \"unit\": 0, "
                   "\"pci-controller\": {\"domain\": 0, \"bus\": %u, \"slot\": %u, "
                   "\"function\": 0}, \"dev\": \"/dev/vda\"}",
                   a->disk_bus, a->disk_dev);
        if (!a->have_disk)
            format_buf(out, sizeof(out), "{\"return\": []}\n");
        else if (fs)
            format_buf(
                out, sizeof(out),
                "{\"return\": [{\"name\": \"vda\", \"mountpoint\": \"/\", \"type\": "
                "\"vireo-testfs\", \"used-bytes\": 0, \"total-bytes\": %lu, \"disk\": [%s]}]}\n",
                (unsigned long)a->disk_bytes, addr);
        else
            format_buf(out, sizeof(out),
                       "{\"return\": [{\"name\": \"/dev/vda\", \"partition\": false, "
                       "\"dependencies\": [], \"address\": %s}]}\n",
                       addr);
        ok = reply(a, out);
        tap_ok(t, ok, "agent: %s answered (%s)", name,
               a->have_disk ? "the virtio disk" : "no filesystems");
    } else if (!strcmp(name, "guest-fsfreeze-freeze") || !strcmp(name, "guest-fsfreeze-thaw") ||
               !strcmp(name, "guest-fsfreeze-freeze-list")) {
        format_buf(out, sizeof(out), "{\"return\": %u}\n", a->have_disk ? 1u : 0u);
        ok = reply(a, out);
        tap_ok(t, ok, "agent: %s answered (%u filesystems)", name, a->have_disk ? 1u : 0u);
    } else if (!strcmp(name, "guest-network-get-interfaces")) {
        if (a->have_nic)
            format_buf(out, sizeof(out),
                       "{\"return\": [{\"name\": \"eth0\", \"hardware-address\": "
                       "\"%02x:%02x:%02x:%02x:%02x:%02x\", \"ip-addresses\": []}]}\n",
                       a->mac[0], a->mac[1], a->mac[2], a->mac[3], a->mac[4], a->mac[5]);
        else
            format_buf(out, sizeof(out), "{\"return\": []}\n");
        ok = reply(a, out);
        tap_ok(t, ok, "agent: guest-network-get-interfaces answered (%s)",
               a->have_nic ? "eth0" : "no interfaces");
    } else if (!strcmp(name, "guest-set-user-password")) {
        char user[32] = "", pw[64] = "";
        json_field(cmd, "username", user, sizeof(user), 0);
        json_field(cmd, "password", pw, sizeof(pw), 0);
        ok = reply(a, "{\"return\": {}}\n");
        int64_t crypted = 0;
        json_field(cmd, "crypted", 0, 0, &crypted);
        tap_ok(t, ok, "agent: guest-set-user-password for %s (password %s, crypted %s)", user, pw,
               crypted ? "yes" : "no");
    } else if (!strcmp(name, "guest-get-vcpus")) {
        unsigned n = (unsigned)format_buf(out, sizeof(out), "{\"return\": [");
        for (unsigned i = 0; i < a->ncpus && n < sizeof(out); i++)
            n += (unsigned)format_buf(out + n, sizeof(out) - n,
                                      "%s{\"online\": %s, \"can-offline\": %s, "
                                      "\"logical-id\": %u}",
                                      i ? ", " : "", a->online[i] ? "true" : "false",
                                      i ? "true" : "false", i);
        format_buf(out + n, sizeof(out) - n, "]}\n");
        ok = reply(a, out);
        tap_ok(t, ok, "agent: guest-get-vcpus answered (%u vCPUs)", a->ncpus);
    } else if (!strcmp(name, "guest-set-vcpus")) {
        /* "vcpus": [{"logical-id": N, "online": B}, ...], applied in order: each object
         * (from '{' to '}') read on its own */
        unsigned done = 0;
        const char *p = find(cmd, "\"vcpus\"");
        for (p = p ? find(p, "{") : 0; p; p = find(p + 1, "{")) {
            char obj[128];
            unsigned k = 0;
            while (p[k] && p[k] != '}' && k + 1 < sizeof(obj))
                obj[k] = p[k], k++;
            obj[k] = '\0';
            int64_t id = -1, on = -1;
            if (!json_field(obj, "logical-id", 0, 0, &id) ||
                !json_field(obj, "online", 0, 0, &on) || id < 0 || (unsigned)id >= a->ncpus ||
                (id == 0 && !on))
                break;
            a->online[id] = on != 0;
            tap_diag(t, "agent: vCPU %ld set %s", (long)id, on ? "online" : "offline");
            done++;
        }
        if (done)
            format_buf(out, sizeof(out), "{\"return\": %u}\n", done);
        else
            format_buf(out, sizeof(out),
                       "{\"error\": {\"class\": \"GenericError\", \"desc\": \"vCPU change "
                       "refused\"}}\n");
        ok = reply(a, out);
        tap_ok(t, ok, "agent: guest-set-vcpus answered (%u applied)", done);
    } else if (!strcmp(name, "guest-get-osinfo")) {
        ok = reply(a, "{\"return\": {\"id\": \"vireo-testguest\", \"name\": \"Vireo test guest\", "
                      "\"pretty-name\": \"Vireo test guest\", \"machine\": \"x86_64\"}}\n");
        tap_ok(t, ok, "agent: guest-get-osinfo answered");
    } else if (!strcmp(name, "guest-get-timezone")) {
        ok = reply(a, "{\"return\": {\"zone\": \"UTC\", \"offset\": 0}}\n");
        tap_ok(t, ok, "agent: guest-get-timezone answered");
    } else if (!strcmp(name, "guest-get-host-name")) {
        ok = reply(a, "{\"return\": {\"host-name\": \"vireo-testguest\"}}\n");
        tap_ok(t, ok, "agent: guest-get-host-name answered");
    } else if (!strcmp(name, "guest-shutdown")) {
        char mode[16] = "powerdown";
        json_field(cmd, "mode", mode, sizeof(mode), 0);
        tap_ok(t, true, "agent: guest-shutdown (mode %s)", mode);
        return false;
    } else {
        format_buf(out, sizeof(out),
                   "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %s has "
                   "not been found\"}}\n",
                   name);
        ok = reply(a, out);
        tap_ok(t, ok, "agent: unknown command %s refused", name);
    }
    return ok;
}

/* Serves until guest-shutdown (true) or idle/failure (false). */
static bool agent_loop(struct agent *a, uint64_t idle_cycles)
{
    for (uint16_t i = 0; i < VQ_SIZE; i++) {
        rings[a->rxq].desc[i] =
            (struct vq_desc){(uint64_t)(uintptr_t)rx_buf[i], RXB, VQ_F_WRITE, 0};
        q_post(a->d, a->rxq, i);
    }
    unsigned n = 0;
    uint64_t last = rdtsc();
    for (;;) {
        if (!ctrl_poll(a))
            return false;
        uint32_t id, len;
        if (!q_get(a->rxq, &id, &len)) {
            if (rdtsc() - last > idle_cycles)
                return tap_ok(&a->g->tap, false, "agent: no command for agent_idle= seconds");
            cpu_pause();
            continue;
        }
        last = rdtsc();
        if (id >= VQ_SIZE || len > RXB)
            return tap_ok(&a->g->tap, false, "agent: bad receive buffer (id %u len %u)", id, len);
        for (uint32_t i = 0; i < len; i++) {
            char c = (char)rx_buf[id][i];
            if ((uint8_t)c == 0xff) { /* the host's reset: a half-read line is dropped */
                n = 0;
                continue;
            }
            if (c != '\n') {
                if (n + 1 < LINEMAX)
                    line[n++] = c;
                continue;
            }
            line[n] = '\0';
            n = 0;
            if (!serve(a, line)) {
                q_post(a->d, a->rxq, (uint16_t)id);
                return true;
            }
        }
        q_post(a->d, a->rxq, (uint16_t)id);
    }
}

void test_agent(struct guest *g)
{
    static struct vdev d;
    struct tap *t = &g->tap;
    struct pci_access pa;
    struct agent a = {.g = g, .d = &d, .port = 1, .rxq = 4, .txq = 5};
    uint64_t idle = 600;
    const char *v;
    uint32_t n;
    if (param_str(g, "agent_idle", &v, &n))
        param_u64(g, "agent_idle", false, false, &idle);
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    /* The disk and NIC the agent describes: where they are, their capacity and MAC. */
    static struct vdev other;
    if (virtio_find(&other, &pa, 0x1042, 0) && other.device) {
        a.have_disk = true;
        a.disk_bus = other.bus;
        a.disk_dev = other.dev;
        a.disk_bytes =
            ((uint64_t)mmio_read32(other.device + 4) << 32 | mmio_read32(other.device)) * 512;
        tap_diag(t, "agent: virtio disk at %02x:%02x.0, %lu bytes", a.disk_bus, a.disk_dev,
                 (unsigned long)a.disk_bytes);
    }
    if (virtio_find(&other, &pa, 0x1041, 0) && other.device) {
        a.have_nic = true;
        a.nic_bus = other.bus;
        a.nic_dev = other.dev;
        for (int i = 0; i < 6; i++)
            a.mac[i] = mmio_read8(other.device + (uint64_t)i);
        tap_diag(t, "agent: virtio NIC at %02x:%02x.0, MAC %02x:%02x:%02x:%02x:%02x:%02x",
                 a.nic_bus, a.nic_dev, a.mac[0], a.mac[1], a.mac[2], a.mac[3], a.mac[4], a.mac[5]);
    }
    a.ncpus = g->have_acpi && g->madt.cpus ? g->madt.cpus : 1;
    if (a.ncpus > ACPI_MAX_CPUS)
        a.ncpus = ACPI_MAX_CPUS;
    for (unsigned i = 0; i < a.ncpus; i++)
        a.online[i] = true;
    if (!tap_ok(t, virtio_find(&d, &pa, 0x1043, 0), "agent: virtio-serial device found"))
        return;
    const char *why = start_device(&d);
    if (!tap_ok(t, !why, "agent: driver started%s%s", why ? ": " : "", why ? why : ""))
        return;
    for (uint16_t i = 0; i < VQ_SIZE; i++) {
        rings[Q_CIN].desc[i] =
            (struct vq_desc){(uint64_t)(uintptr_t)cin_buf[i], CBUF, VQ_F_WRITE, 0};
        q_post(&d, Q_CIN, i);
    }
    if (!tap_ok(t, ctrl_send(&d, 0, EV_DEVICE_READY, 1), "agent: DEVICE_READY taken"))
        return;
    uint64_t start = rdtsc();
    while (!(a.added && a.named) && rdtsc() - start < 60 * TSC_SEC)
        if (!ctrl_poll(&a))
            return;
    if (!tap_ok(t, a.added && a.named, "agent: port %u added and named " AGENT_NAME, a.port))
        return;
    if (!tap_ok(t, ctrl_send(&d, a.port, EV_PORT_OPEN, 1), "agent: port %u opened", a.port))
        return;
    bool shutdown = agent_loop(&a, idle * TSC_SEC);
    virtio_reset(&d);
    if (shutdown)
        test_poweroff(g);
}
