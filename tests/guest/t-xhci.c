/*
 * t-xhci.c - an xHCI host controller with a USB tablet and keyboard, driven
 * the way an OS driver drives them (tests=xhci, not in `all`: the input
 * comes from the host through the VMM's display, tests/integration/vmm/
 * test-usb.py, which also runs this same guest under QEMU to compare):
 *
 *   finds the controller (PCI class 0c0330), maps BAR 0, reads the
 *   capability registers and the Supported Protocol capabilities, resets
 *   the controller, sets up the device context array, a command ring and
 *   interrupter 0's event ring (polled: interrupts off), runs it; for every
 *   connected port: port reset (Port Status Change event, enabled, U0),
 *   Enable Slot, Address Device, the device/configuration/HID/report/string
 *   descriptors over control transfers on EP 0, SET_CONFIGURATION,
 *   Configure Endpoint for its interrupt IN endpoint, Evaluate Context;
 *   a stalled request (SET_REPORT to the tablet) recovered with Reset
 *   Endpoint and Set TR Dequeue Pointer; the keyboard's LED report; then two
 *   rounds fed by the host:
 *     "# xhci: tablet ready"     prints every report until one with the
 *                                left button
 *     "# xhci: keyboard ready"   prints every report until the one after
 *                                Return is released
 *   and Stop Endpoint on the tablet's endpoint at the end.
 * Everything printed is what both VMMs must agree on (no addresses).
 */
#include "guest.h"
#include "lib/crc32.h"
#include "lib/format.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "lib/pci.h"
#include "virtio.h"

#define BAR_ADDR  0xd8000000ull /* inside both VMMs' 32-bit window, above virtio's pool */
#define RING_TRBS 64
#define MAX_DEVS  4

#define TRB_NORMAL  1
#define TRB_SETUP   2
#define TRB_DATA    3
#define TRB_STATUS  4
#define TRB_LINK    6
#define CMD_ENABLE  9
#define CMD_ADDRESS 11
#define CMD_CONFIG  12
#define CMD_EVAL    13
#define CMD_RESETEP 14
#define CMD_STOPEP  15
#define CMD_SETDEQ  16
#define EV_TRANSFER 32
#define EV_CMD      33
#define EV_PORT     34

struct ring {
    volatile uint32_t (*trb)[4];
    unsigned idx;
    uint32_t cycle;
};

struct usbdev {
    unsigned port, speed, slot;
    struct ring ep0, ep1;
    uint8_t ep1_addr, ep1_interval;
    uint16_t report_len;
    uint8_t subclass, protocol;
    char product[40];
};

static uint32_t dcbaa_[512] __attribute__((aligned(4096)));
static uint32_t out_ctx[MAX_DEVS][256] __attribute__((aligned(4096)));
static uint32_t in_ctx[264] __attribute__((aligned(4096)));
static uint32_t cmd_trbs[RING_TRBS][4] __attribute__((aligned(4096)));
static uint32_t ev_trbs[RING_TRBS][4] __attribute__((aligned(4096)));
static uint32_t erst[4] __attribute__((aligned(64)));
static uint32_t ep_trbs[MAX_DEVS][2][RING_TRBS][4] __attribute__((aligned(4096)));
static uint8_t buf[512] __attribute__((aligned(64)));
static uint8_t report_bufs[8][8] __attribute__((aligned(64)));

struct xhci {
    struct tap *t;
    uint64_t base, op, rt, db;
    unsigned nports;
    struct ring cmd;
    unsigned ev_idx;
    uint32_t ev_cycle;
};

static uint32_t rd(uint64_t a)
{
    return mmio_read32(a);
}
static void wr(uint64_t a, uint32_t v)
{
    mmio_write32(a, v);
}
static uint64_t addr_of(const volatile void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static uint64_t deadline(unsigned ms)
{
    return rdtsc() + (uint64_t)ms * 3000000;
}

static void ring_init(struct ring *r, volatile uint32_t (*trbs)[4])
{
    memset((void *)trbs, 0, RING_TRBS * 16);
    r->trb = trbs;
    r->idx = 0;
    r->cycle = 1;
}

static uint64_t ring_addr(const struct ring *r)
{
    return addr_of(r->trb[r->idx]);
}

/* Queues one TRB (control's type and flags, the cycle bit added), following the ring's end
 * with a Link TRB back to its start. Returns the TRB's address. */
static uint64_t ring_put(struct ring *r, uint64_t param, uint32_t status, uint32_t control)
{
    volatile uint32_t *t = r->trb[r->idx];
    uint64_t at = addr_of(t);
    t[0] = (uint32_t)param;
    t[1] = (uint32_t)(param >> 32);
    t[2] = status;
    t[3] = (control & ~1u) | r->cycle;
    if (++r->idx == RING_TRBS - 1) {
        volatile uint32_t *l = r->trb[r->idx];
        l[0] = (uint32_t)addr_of(r->trb[0]);
        l[1] = 0;
        l[2] = 0;
        l[3] = TRB_LINK << 10 | 2 | r->cycle; /* toggle cycle */
        r->idx = 0;
        r->cycle ^= 1;
    }
    return at;
}

struct event {
    uint64_t param;
    uint32_t status, control;
};

/* The next event within ms (false: none). Acknowledges it through ERDP (EHB cleared). */
static bool next_event(struct xhci *x, struct event *e, unsigned ms)
{
    uint64_t end = deadline(ms);
    volatile uint32_t *t = ev_trbs[x->ev_idx];
    while ((t[3] & 1) != x->ev_cycle) {
        if (rdtsc() > end)
            return false;
        cpu_pause();
    }
    e->param = (uint64_t)t[0] | (uint64_t)t[1] << 32;
    e->status = t[2];
    e->control = t[3];
    if (++x->ev_idx == RING_TRBS) {
        x->ev_idx = 0;
        x->ev_cycle ^= 1;
    }
    uint64_t deq = addr_of(ev_trbs[x->ev_idx]);
    wr(x->rt + 0x38, (uint32_t)deq | 8);
    wr(x->rt + 0x3c, (uint32_t)(deq >> 32));
    return true;
}

/* Waits for an event of type `type`, printing any other that comes first. */
static bool wait_event(struct xhci *x, unsigned type, struct event *e, unsigned ms)
{
    while (next_event(x, e, ms)) {
        if (((e->control >> 10) & 0x3f) == type)
            return true;
        tap_diag(x->t, "xhci: unexpected event type %u code %u", (e->control >> 10) & 0x3f,
                 e->status >> 24);
    }
    return false;
}

/* Runs one command; returns its completion code (0: no completion), *slot from the event. */
static unsigned command(struct xhci *x, uint64_t param, uint32_t control, unsigned *slot)
{
    uint64_t at = ring_put(&x->cmd, param, 0, control);
    wr(x->db, 0);
    struct event e;
    for (;;) {
        if (!wait_event(x, EV_CMD, &e, 2000))
            return 0;
        if (e.param == at)
            break;
    }
    if (slot)
        *slot = e.control >> 24;
    return e.status >> 24;
}

/* A control transfer on the device's EP 0: returns the completion code of the TD's last
 * event, *len the bytes moved (IN). */
static unsigned control(struct xhci *x, struct usbdev *d, uint8_t type, uint8_t req, uint16_t value,
                        uint16_t index, uint16_t length, void *data, unsigned *len)
{
    uint64_t setup = type | (uint64_t)req << 8 | (uint64_t)value << 16 | (uint64_t)index << 32 |
                     (uint64_t)length << 48;
    bool in = type & 0x80;
    uint32_t trt = length ? (in ? 3u : 2u) : 0u;
    ring_put(&d->ep0, setup, 8, TRB_SETUP << 10 | 1u << 6 | trt << 16); /* IDT */
    if (length)
        ring_put(&d->ep0, addr_of(data), length,
                 TRB_DATA << 10 | 1u << 2 | (in ? 1u << 16 : 0)); /* ISP */
    uint64_t status_at =
        ring_put(&d->ep0, 0, 0, TRB_STATUS << 10 | 1u << 5 | ((in && length) ? 0 : 1u << 16));
    wr(x->db + 4 * d->slot, 1);
    struct event e;
    unsigned cc = 0;
    uint32_t residual = 0;
    while (wait_event(x, EV_TRANSFER, &e, 2000)) {
        cc = e.status >> 24;
        if (cc == 13) /* short packet on the data stage */
            residual = e.status & 0xffffff;
        if (e.param == status_at || (cc != 1 && cc != 13))
            break;
    }
    if (len)
        *len = length - residual;
    return cc;
}

static unsigned get_desc(struct xhci *x, struct usbdev *d, uint8_t rtype, uint16_t value,
                         uint16_t index, uint16_t length, unsigned *len)
{
    memset(buf, 0, sizeof(buf));
    return control(x, d, rtype, 6, value, index, length, buf, len);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static bool find_controller(struct guest *g, struct pci_access *pa, unsigned *devno)
{
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    for (unsigned dev = 0; dev < 32; dev++) {
        if (pci_read16(pa, 0, dev, 0, PCI_VENDOR_ID) == PCI_NO_DEVICE)
            continue;
        if ((pci_read32(pa, 0, dev, 0, PCI_CLASS_REV) >> 8) == 0x0c0330) {
            *devno = dev;
            return true;
        }
    }
    return false;
}

static bool controller_setup(struct guest *g, struct xhci *x)
{
    struct tap *t = &g->tap;
    uint32_t cap = rd(x->base);
    x->op = x->base + (cap & 0xff);
    x->rt = x->base + (rd(x->base + 0x18) & ~0x1fu);
    x->db = x->base + (rd(x->base + 0x14) & ~3u);
    uint32_t hcs1 = rd(x->base + 4);
    x->nports = hcs1 >> 24;
    tap_diag(t, "xhci: version %x, %u ports, %u interrupters, %u slots", cap >> 16, hcs1 >> 24,
             (hcs1 >> 8) & 0x7ff, hcs1 & 0xff);
    /* Supported Protocol capabilities (id 2) in the extended capability list. */
    uint64_t ecp = x->base + ((rd(x->base + 0x10) >> 16) << 2);
    for (unsigned i = 0; i < 16 && ecp != x->base; i++) {
        uint32_t h = rd(ecp);
        if ((h & 0xff) == 2) {
            uint32_t ports = rd(ecp + 8);
            tap_diag(t, "xhci: USB %x.%x on ports %u-%u", h >> 24, (h >> 16) & 0xff, ports & 0xff,
                     (ports & 0xff) + ((ports >> 8) & 0xff) - 1);
        }
        if (!((h >> 8) & 0xff))
            break;
        ecp += ((h >> 8) & 0xff) << 2;
    }
    wr(x->op, 2); /* HCRST */
    uint64_t end = deadline(1000);
    while ((rd(x->op) & 2) || (rd(x->op + 4) & (1u << 11)))
        if (rdtsc() > end)
            break;
    tap_ok(t, !(rd(x->op) & 2) && (rd(x->op + 4) & 1), "xhci: reset completes, halted");
    tap_ok(t, rd(x->op + 8) == 1, "xhci: page size 4 KiB");
    wr(x->op + 0x38, MAX_DEVS);
    memset(dcbaa_, 0, sizeof(dcbaa_));
    wr(x->op + 0x30, (uint32_t)addr_of(dcbaa_));
    wr(x->op + 0x34, 0);
    ring_init(&x->cmd, cmd_trbs);
    wr(x->op + 0x18, (uint32_t)addr_of(cmd_trbs) | 1);
    wr(x->op + 0x1c, 0);
    memset(ev_trbs, 0, sizeof(ev_trbs));
    erst[0] = (uint32_t)addr_of(ev_trbs);
    erst[1] = 0;
    erst[2] = RING_TRBS;
    erst[3] = 0;
    x->ev_idx = 0;
    x->ev_cycle = 1;
    wr(x->rt + 0x28, 1); /* ERSTSZ */
    wr(x->rt + 0x38, (uint32_t)addr_of(ev_trbs));
    wr(x->rt + 0x3c, 0);
    wr(x->rt + 0x30, (uint32_t)addr_of(erst));
    wr(x->rt + 0x34, 0);
    wr(x->op, 1); /* run, interrupts off: the guest polls */
    end = deadline(1000);
    while ((rd(x->op + 4) & 1) && rdtsc() < end)
        cpu_pause();
    bool ok = !(rd(x->op + 4) & 1);
    tap_ok(t, ok, "xhci: running");
    unsigned cc = command(x, 0, 23u << 10, 0); /* No Op */
    return tap_ok(t, ok && cc == 1, "xhci: No Op command completes (code %u)", cc);
}

/* Port reset of a connected port: the Port Status Change event, enabled, U0. */
static bool port_reset(struct xhci *x, unsigned port)
{
    uint64_t sc = x->op + 0x400 + 0x10 * (port - 1);
    uint32_t v = rd(sc);
    wr(sc, (v & 0x0e00c3e0u & ~0x1e0u) | (1u << 4) | (1u << 9)); /* PR, keep PP */
    struct event e;
    bool ev = wait_event(x, EV_PORT, &e, 2000) && (e.param >> 24) == port;
    v = rd(sc);
    bool ok = ev && (v & 2) && !(v & 0x10) && (v & (1u << 21)) && ((v >> 5) & 0xf) == 0;
    tap_ok(x->t, ok, "xhci: port %u reset: event, enabled, U0 (portsc %x)", port, v & 0x00ffffff);
    wr(sc, (v & 0x0e00c3e0u & ~0x1e2u) | (0x7fu << 17) | (1u << 9)); /* clear the changes */
    return ok;
}

static void input_ctx_clear(void)
{
    memset(in_ctx, 0, sizeof(in_ctx));
}

/* Enable Slot and Address Device for the device on port. */
static bool address_device(struct xhci *x, struct usbdev *d, unsigned n)
{
    struct tap *t = x->t;
    unsigned cc = command(x, 0, CMD_ENABLE << 10, &d->slot);
    if (!tap_ok(t, cc == 1 && d->slot >= 1 && d->slot <= MAX_DEVS,
                "xhci: Enable Slot gives slot %u", d->slot))
        return false;
    memset(out_ctx[n], 0, sizeof(out_ctx[n]));
    dcbaa_[2 * d->slot] = (uint32_t)addr_of(out_ctx[n]);
    dcbaa_[2 * d->slot + 1] = 0;
    ring_init(&d->ep0, ep_trbs[n][0]);
    input_ctx_clear();
    in_ctx[1] = 3; /* add slot and EP 0 */
    in_ctx[8] = 1u << 27 | d->speed << 20;
    in_ctx[9] = d->port << 16;
    unsigned mps = d->speed == 3 ? 64 : 8;
    in_ctx[16 + 1] = 3u << 1 | 4u << 3 | mps << 16; /* CErr 3, control */
    in_ctx[16 + 2] = (uint32_t)addr_of(ep_trbs[n][0]) | 1;
    in_ctx[16 + 4] = 8;
    cc = command(x, addr_of(in_ctx), CMD_ADDRESS << 10 | d->slot << 24, 0);
    uint32_t state = out_ctx[n][3] >> 27, ep0 = out_ctx[n][8] & 7;
    return tap_ok(t, cc == 1 && state == 2 && ep0 == 1 && (out_ctx[n][3] & 0xff) != 0,
                  "xhci: Address Device: slot addressed (state %u), EP 0 running (%u)", state, ep0);
}

static void read_string(struct xhci *x, struct usbdev *d, unsigned idx, char *out, unsigned size)
{
    unsigned len = 0;
    out[0] = '\0';
    if (!idx)
        return;
    unsigned cc = get_desc(x, d, 0x80, 0x0300 | idx, 0x0409, 255, &len);
    if (cc != 1 && cc != 13)
        return;
    unsigned n = 0;
    for (unsigned i = 2; i + 1 < len && i < buf[0] && n + 1 < size; i += 2)
        out[n++] = (char)buf[i];
    out[n] = '\0';
}

static bool describe(struct xhci *x, struct usbdev *d)
{
    struct tap *t = x->t;
    unsigned len = 0;
    unsigned cc = get_desc(x, d, 0x80, 0x0100, 0, 18, &len);
    if (!tap_ok(t, cc == 1 && len == 18 && buf[1] == 1, "xhci: device descriptor (%u bytes)", len))
        return false;
    tap_diag(t, "xhci: device %04x:%04x usb %x class %u ep0 %u configs %u", le16(buf + 8),
             le16(buf + 10), le16(buf + 2), buf[4], buf[7], buf[17]);
    uint8_t iproduct = buf[15];
    cc = get_desc(x, d, 0x80, 0x0200, 0, 9, &len);
    uint16_t total = le16(buf + 2);
    cc = cc == 1 ? get_desc(x, d, 0x80, 0x0200, 0, total, &len) : cc;
    if (!tap_ok(t, (cc == 1 || cc == 13) && len == total && total >= 34,
                "xhci: configuration descriptor (%u bytes)", len))
        return false;
    tap_diag(t, "xhci: config %u attributes %x power %u", buf[5], buf[7], buf[8]);
    for (unsigned off = 9; off + 2 <= len && buf[off] >= 2; off += buf[off]) {
        const uint8_t *p = buf + off;
        if (p[1] == 4) {
            d->subclass = p[6];
            d->protocol = p[7];
            tap_diag(t, "xhci: interface class %u subclass %u protocol %u", p[5], p[6], p[7]);
        } else if (p[1] == 0x21) {
            d->report_len = le16(p + 7);
            tap_diag(t, "xhci: hid %x report descriptor %u bytes", le16(p + 2), d->report_len);
        } else if (p[1] == 5) {
            d->ep1_addr = p[2];
            d->ep1_interval = p[6];
            tap_diag(t, "xhci: endpoint %x type %u max packet %u interval %u", p[2], p[3] & 3,
                     le16(p + 4), p[6]);
        }
    }
    read_string(x, d, iproduct, d->product, sizeof(d->product));
    tap_diag(t, "xhci: product \"%s\"", d->product);
    cc = get_desc(x, d, 0x81, 0x2200, 0, d->report_len, &len);
    tap_ok(t, cc == 1 && len == d->report_len && len > 0,
           "xhci: report descriptor: %u bytes crc32 %08x", len, crc32_update(0, buf, len));
    return d->ep1_addr == 0x81;
}

static bool configure(struct xhci *x, struct usbdev *d, unsigned n)
{
    struct tap *t = x->t;
    unsigned cc = control(x, d, 0, 9, 1, 0, 0, 0, 0);
    tap_ok(t, cc == 1, "xhci: SET_CONFIGURATION 1 (code %u)", cc);
    unsigned len = 0;
    cc = control(x, d, 0x80, 8, 0, 0, 1, buf, &len);
    tap_ok(t, cc == 1 && len == 1 && buf[0] == 1, "xhci: GET_CONFIGURATION is 1");
    ring_init(&d->ep1, ep_trbs[n][1]);
    input_ctx_clear();
    in_ctx[1] = 1u | 1u << 3; /* slot, EP 1 IN (DCI 3) */
    in_ctx[8] = 3u << 27 | d->speed << 20;
    in_ctx[9] = d->port << 16;
    uint32_t interval = d->speed == 3 ? d->ep1_interval - 1u : 3u;
    in_ctx[8 * 4] = interval << 16;
    in_ctx[8 * 4 + 1] = 3u << 1 | 7u << 3 | 8u << 16; /* interrupt IN, 8 bytes */
    in_ctx[8 * 4 + 2] = (uint32_t)addr_of(ep_trbs[n][1]) | 1;
    in_ctx[8 * 4 + 4] = 8 | 8u << 16;
    cc = command(x, addr_of(in_ctx), CMD_CONFIG << 10 | d->slot << 24, 0);
    uint32_t state = out_ctx[n][3] >> 27, ep = out_ctx[n][3 * 8] & 7;
    tap_ok(t, cc == 1 && state == 3 && ep == 1,
           "xhci: Configure Endpoint: slot configured (state %u), EP 1 IN running (%u)", state, ep);
    input_ctx_clear();
    in_ctx[1] = 2; /* EP 0: max packet size */
    in_ctx[16 + 1] = 3u << 1 | 4u << 3 | (d->speed == 3 ? 64u : 8u) << 16;
    cc = command(x, addr_of(in_ctx), CMD_EVAL << 10 | d->slot << 24, 0);
    return tap_ok(t, cc == 1, "xhci: Evaluate Context (code %u)", cc);
}

/* A request the tablet stalls, then EP 0 reset and moved past the stalled TD. */
static void stall_recovery(struct xhci *x, struct usbdev *d, unsigned n)
{
    struct tap *t = x->t;
    buf[0] = 0;
    unsigned cc = control(x, d, 0x21, 0x09, 0x0200, 0, 1, buf, 0);
    uint32_t state = out_ctx[n][8] & 7;
    tap_ok(t, cc == 6 && state == 2,
           "xhci: SET_REPORT to the tablet stalls (code %u), EP 0 halted (%u)", cc, state);
    cc = command(x, 0, CMD_RESETEP << 10 | 1u << 16 | d->slot << 24, 0);
    state = out_ctx[n][8] & 7;
    tap_ok(t, cc == 1 && state == 3, "xhci: Reset Endpoint: EP 0 stopped (code %u, state %u)", cc,
           state);
    uint64_t deq = ring_addr(&d->ep0) | d->ep0.cycle;
    cc = command(x, deq, CMD_SETDEQ << 10 | 1u << 16 | d->slot << 24, 0);
    tap_ok(t, cc == 1, "xhci: Set TR Dequeue Pointer past the stalled TD (code %u)", cc);
    unsigned len = 0;
    cc = control(x, d, 0x80, 0, 0, 0, 2, buf, &len);
    tap_ok(t, cc == 1 && len == 2, "xhci: EP 0 works again (GET_STATUS %02x%02x)", buf[1], buf[0]);
}

static void queue_reports(struct xhci *x, struct usbdev *d, unsigned first, unsigned count)
{
    for (unsigned i = first; i < first + count; i++)
        ring_put(&d->ep1, addr_of(report_bufs[i]), 8, TRB_NORMAL << 10 | 1u << 5 | 1u << 2);
    wr(x->db + 4 * d->slot, 3);
}

/* The next interrupt IN report of the device (its bytes in out), or -1. */
static int next_report(struct xhci *x, struct usbdev *d, uint8_t *out)
{
    struct event e;
    for (;;) {
        if (!wait_event(x, EV_TRANSFER, &e, 60000))
            return -1;
        if ((e.control >> 24) != d->slot || ((e.control >> 16) & 0x1f) != 3)
            continue;
        unsigned cc = e.status >> 24;
        if (cc != 1 && cc != 13)
            return -1;
        const uint8_t *p = (const uint8_t *)(uintptr_t)e.param;
        const uint32_t *trb = (const uint32_t *)p;
        const uint8_t *data = (const uint8_t *)(uintptr_t)trb[0];
        int len = 8 - (int)(e.status & 0xffffff);
        memcpy(out, data, 8);
        /* the buffer goes back on the ring */
        ring_put(&d->ep1, trb[0], 8, TRB_NORMAL << 10 | 1u << 5 | 1u << 2);
        wr(x->db + 4 * d->slot, 3);
        return len;
    }
}

static void tablet_round(struct xhci *x, struct usbdev *d)
{
    struct tap *t = x->t;
    queue_reports(x, d, 0, 4);
    tap_diag(t, "xhci: tablet ready");
    uint8_t r[8];
    int len;
    unsigned n = 0;
    while ((len = next_report(x, d, r)) >= 0) {
        tap_diag(t, "xhci: tablet report len=%d buttons=%u x=%u y=%u wheel=%d", len, r[0],
                 le16(r + 1), le16(r + 3), (int)(int8_t)r[5]);
        n++;
        if (r[0] & 1)
            break;
    }
    tap_diag(t, "xhci: tablet done (%u reports)", n);
}

static void keyboard_round(struct xhci *x, struct usbdev *d)
{
    struct tap *t = x->t;
    queue_reports(x, d, 4, 4);
    tap_diag(t, "xhci: keyboard ready");
    uint8_t r[8];
    bool enter = false;
    while (next_report(x, d, r) >= 0) {
        tap_diag(t, "xhci: key report %02x %02x %02x %02x %02x %02x %02x %02x", r[0], r[1], r[2],
                 r[3], r[4], r[5], r[6], r[7]);
        bool any = r[0];
        for (unsigned i = 2; i < 8; i++)
            any |= r[i] != 0;
        if (r[2] == 0x28)
            enter = true;
        if (enter && !any)
            break;
    }
    tap_diag(t, "xhci: keyboard done");
}

void test_xhci(struct guest *g)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    unsigned dev = 0;
    if (!tap_ok(t, find_controller(g, &pa, &dev), "xhci: a USB xHCI controller (class 0c0330)"))
        return;
    uint32_t id = pci_read32(&pa, 0, dev, 0, PCI_VENDOR_ID);
    tap_diag(t, "xhci: controller %04x:%04x revision %u", id & 0xffff, id >> 16,
             pci_read8(&pa, 0, dev, 0, PCI_CLASS_REV));
    uint32_t bar = pci_read32(&pa, 0, dev, 0, PCI_BAR0);
    pci_write32(&pa, 0, dev, 0, PCI_BAR0, 0xffffffffu);
    uint32_t mask = pci_read32(&pa, 0, dev, 0, PCI_BAR0);
    tap_diag(t, "xhci: BAR 0 %s, %u KiB", (bar & 6) == 4 ? "64-bit" : "32-bit",
             (~(mask & ~0xfu) + 1u) >> 10);
    pci_write32(&pa, 0, dev, 0, PCI_BAR0, (uint32_t)BAR_ADDR);
    pci_write32(&pa, 0, dev, 0, PCI_BAR0 + 4, 0);
    uint32_t cmd = pci_read32(&pa, 0, dev, 0, PCI_COMMAND) & 0xffff;
    pci_write32(&pa, 0, dev, 0, PCI_COMMAND, cmd | 0x406); /* memory, bus master, no INTx */
    struct xhci x = {.t = t, .base = BAR_ADDR};
    if (!controller_setup(g, &x))
        return;

    static struct usbdev devs[MAX_DEVS];
    unsigned ndev = 0;
    for (unsigned port = 1; port <= x.nports && ndev < MAX_DEVS; port++) {
        uint32_t sc = rd(x.op + 0x400 + 0x10 * (port - 1));
        if (!(sc & 1))
            continue;
        tap_diag(t, "xhci: port %u connected: speed %u, link state %u, enabled %u", port,
                 (sc >> 10) & 0xf, (sc >> 5) & 0xf, (sc >> 1) & 1);
        struct usbdev *d = &devs[ndev];
        d->port = port;
        d->speed = (sc >> 10) & 0xf;
        if (port_reset(&x, port) && address_device(&x, d, ndev) && describe(&x, d) &&
            configure(&x, d, ndev))
            ndev++;
    }
    tap_ok(t, ndev == 2, "xhci: %u devices configured", ndev);
    struct usbdev *tablet = 0, *kbd = 0;
    for (unsigned i = 0; i < ndev; i++) {
        if (devs[i].subclass == 1 && devs[i].protocol == 1)
            kbd = &devs[i]; /* the boot keyboard; the tablet has no boot protocol */
        else
            tablet = &devs[i];
    }
    if (kbd) {
        unsigned cc = control(&x, kbd, 0x21, 0x0a, 0, 0, 0, 0, 0);
        tap_ok(t, cc == 1, "xhci: keyboard SET_IDLE 0 (code %u)", cc);
        cc = control(&x, kbd, 0x21, 0x0b, 0, 0, 0, 0, 0);
        tap_ok(t, cc == 1, "xhci: keyboard SET_PROTOCOL boot (code %u)", cc);
        buf[0] = 0x02;
        cc = control(&x, kbd, 0x21, 0x09, 0x0200, 0, 1, buf, 0);
        tap_ok(t, cc == 1, "xhci: keyboard LED report (caps lock) accepted (code %u)", cc);
    }
    if (tablet)
        stall_recovery(&x, tablet, (unsigned)(tablet - devs));
    if (tablet)
        tablet_round(&x, tablet);
    if (kbd)
        keyboard_round(&x, kbd);
    if (tablet) {
        unsigned cc = command(&x, 0, CMD_STOPEP << 10 | 3u << 16 | tablet->slot << 24, 0);
        uint32_t state = out_ctx[tablet - devs][3 * 8] & 7;
        tap_ok(t, cc == 1 && state == 3, "xhci: Stop Endpoint: EP 1 IN stopped (code %u, state %u)",
               cc, state);
    }
}
