/*
 * xhci.c - an xHCI USB host controller (QEMU's qemu-xhci, PCI 1b36:000d, and
 * its nec-xhci, 1033:0194), from the eXtensible Host Controller Interface
 * specification 1.2, with the register values QEMU's controller shows.
 *
 * BAR 0 (64-bit, 16 KiB) holds the capability registers (0x00), the
 * operational registers and port register sets (0x40), the runtime registers
 * with 16 interrupters (0x1000), the doorbells (0x2000) and the MSI-X table
 * and PBA (0x3000, 0x3800). Root ports as QEMU's p3= and p2= say (4 and 4 by
 * default, up to 15 each): 1..p3 speak USB 3, the next p2 USB 2 (where the
 * low/full/high-speed devices here attach: QEMU's usb port N is xHCI port
 * p3 + N), as the two Supported Protocol capabilities say, in QEMU's order;
 * 64 device slots.
 *
 * What runs: the command ring (Enable/Disable Slot, Address Device, Configure
 * Endpoint, Evaluate Context, Reset Endpoint, Stop Endpoint, Set TR Dequeue
 * Pointer, Reset Device, No Op), one event ring segment per interrupter with
 * interrupts through MSI-X (vector = interrupter) or INTx (interrupter 0),
 * the device slots' contexts in guest memory (32-byte contexts), control
 * transfers on endpoint 0 and interrupt/bulk IN transfers on the others, port
 * reset and the port change bits with Port Status Change events.
 * Not done (each refused or reported as the spec says where a guest can ask):
 * isochronous and OUT data endpoints (a TD there completes with a TRB Error),
 * streams (MaxPSASize 0), Event Data TRBs, MSI (only MSI-X and INTx), save and
 * restore (the device blocks migration), hubs (route strings must be 0).
 *
 * Everything the guest hands over (TRBs, contexts, the event ring segment
 * table) is read from guest memory with bounds checks: an address outside RAM
 * stops the controller with Host System Error, never the VMM; a ring that
 * loops without ending is cut after XHCI_TD_MAX TRBs.
 *
 * Threads: MMIO from vCPUs and input wake-ups from the loop thread take one
 * lock (also the USB devices' lock, see usb.h).
 */
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pci.h"
#include "vmm/dev/usb.h"
#include "vmm/dev/xhci.h"
#include "vmm/kvm/memory.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XHCI_MAX_PORTS_2 15 /* p2= and p3= (QEMU's properties and limits) */
#define XHCI_MAX_PORTS_3 15
#define XHCI_SLOTS       64
#define XHCI_INTRS       16
#define XHCI_EPS         31
#define XHCI_TD_MAX      64 /* TRBs one TD may have (a guest ring cannot loop us forever) */
#define XHCI_DATA_MAX    65536

#define OFF_OPER     0x40
#define OFF_PORTS    (OFF_OPER + 0x400)
#define OFF_RUNTIME  0x1000
#define OFF_DOORBELL 0x2000
#define OFF_MSIX     0x3000
#define OFF_PBA      0x3800
#define BAR_SIZE     0x4000

#define USBCMD_RS    (1u << 0)
#define USBCMD_HCRST (1u << 1)
#define USBCMD_INTE  (1u << 2)
#define USBSTS_HCH   (1u << 0)
#define USBSTS_HSE   (1u << 2)
#define USBSTS_EINT  (1u << 3)
#define USBSTS_PCD   (1u << 4)
#define USBSTS_HCE   (1u << 12)

#define PORTSC_CCS       (1u << 0)
#define PORTSC_PED       (1u << 1)
#define PORTSC_PR        (1u << 4)
#define PORTSC_PLS_SHIFT 5
#define PORTSC_PLS       (0xfu << 5)
#define PORTSC_PP        (1u << 9)
#define PORTSC_SPEED     (0xfu << 10)
#define PORTSC_PIC       (3u << 14)
#define PORTSC_LWS       (1u << 16)
#define PORTSC_CSC       (1u << 17)
#define PORTSC_PEC       (1u << 18)
#define PORTSC_WRC       (1u << 19)
#define PORTSC_OCC       (1u << 20)
#define PORTSC_PRC       (1u << 21)
#define PORTSC_PLC       (1u << 22)
#define PORTSC_CEC       (1u << 23)
#define PORTSC_CHANGES   (0x7fu << 17)
#define PORTSC_WAKE      (7u << 25)
#define PORTSC_WPR       (1u << 31)
#define PLS_U0           0
#define PLS_U3           3
#define PLS_RXDETECT     5
#define PLS_POLLING      7

#define CRCR_RCS (1u << 0)
#define CRCR_CS  (1u << 1)
#define CRCR_CA  (1u << 2)
#define CRCR_CRR (1u << 3)

#define IMAN_IP  (1u << 0)
#define IMAN_IE  (1u << 1)
#define ERDP_EHB (1u << 3)

/* TRB types and completion codes (xHCI 6.4.6, 6.4.5). */
enum {
    TRB_NORMAL = 1,
    TRB_SETUP = 2,
    TRB_DATA = 3,
    TRB_STATUS = 4,
    TRB_LINK = 6,
    TRB_EVDATA = 7,
    TRB_NOOP = 8,
    CMD_ENABLE_SLOT = 9,
    CMD_DISABLE_SLOT = 10,
    CMD_ADDRESS_DEVICE = 11,
    CMD_CONFIGURE_EP = 12,
    CMD_EVALUATE_CTX = 13,
    CMD_RESET_EP = 14,
    CMD_STOP_EP = 15,
    CMD_SET_TR_DEQ = 16,
    CMD_RESET_DEVICE = 17,
    CMD_NOOP = 23,
    EV_TRANSFER = 32,
    EV_CMD_COMPLETE = 33,
    EV_PORT_STATUS = 34,
};
enum {
    CC_SUCCESS = 1,
    CC_DATA_BUFFER = 2,
    CC_USB_TRANSACTION = 4,
    CC_TRB = 5,
    CC_STALL = 6,
    CC_NO_SLOTS = 9,
    CC_SLOT_NOT_ENABLED = 11,
    CC_EP_NOT_ENABLED = 12,
    CC_SHORT_PACKET = 13,
    CC_PARAMETER = 17,
    CC_CONTEXT_STATE = 19,
    CC_CMD_RING_STOPPED = 24,
    CC_CMD_ABORTED = 25,
    CC_STOPPED = 26,
};

#define TRB_C       (1u << 0)
#define TRB_TC      (1u << 1) /* link: toggle cycle */
#define TRB_ISP     (1u << 2)
#define TRB_CH      (1u << 4)
#define TRB_IOC     (1u << 5)
#define TRB_IDT     (1u << 6)
#define TRB_BSR     (1u << 9) /* address device: block SET_ADDRESS */
#define TRB_DC      (1u << 9) /* configure endpoint: deconfigure */
#define TRB_DIR     (1u << 16)
#define TRB_TYPE(c) (((c) >> 10) & 0x3f)

/* Context states (6.2.2, 6.2.3). */
#define EP_DISABLED     0
#define EP_RUNNING      1
#define EP_HALTED       2
#define EP_STOPPED      3
#define SLOT_DEFAULT    1
#define SLOT_ADDRESSED  2
#define SLOT_CONFIGURED 3

struct trb {
    uint64_t param;
    uint32_t status, control;
    uint64_t addr; /* where it was read */
};

struct xhci_opts {
    uint32_t p2, p3;
};

struct xhci_ring {
    uint64_t dequeue;
    bool ccs;
};

struct xhci_ep {
    unsigned state; /* EP_* */
    unsigned type;  /* endpoint type (6.2.3: 4 control, 7 interrupt IN...) */
    struct xhci_ring ring;
};

struct xhci_slot {
    bool enabled;
    unsigned port;                    /* 1-based root port, 0 before Address Device */
    uint64_t ctx;                     /* output device context */
    struct xhci_ep eps[XHCI_EPS + 1]; /* by DCI (1: EP 0) */
};

struct xhci_intr {
    uint32_t iman, imod, erstsz;
    uint64_t erstba, erdp;
    uint64_t er_start;
    uint32_t er_size, er_idx;
    bool er_pcs;
    bool full_logged; /* said once that the ring overflowed */
};

struct xhci_port {
    uint32_t portsc;
    struct usb_device *ud;
};

struct xhci {
    struct pci_dev pci; /* first: the BAR handlers get the controller */
    struct vm *vm;
    pthread_mutex_t lock;
    bool nec;
    uint32_t usbcmd, usbsts, dnctrl, config;
    uint64_t dcbaap;
    struct xhci_ring cmd_ring;
    bool cmd_running;
    struct xhci_port ports[XHCI_MAX_PORTS_2 + XHCI_MAX_PORTS_3];
    unsigned p2, p3, nports; /* USB 2 and USB 3 ports: 1..p3 USB 3, p3+1..p3+p2 USB 2 */
    struct xhci_slot slots[XHCI_SLOTS + 1]; /* by slot id */
    struct xhci_intr intr[XHCI_INTRS];
    struct timespec mf_start;
};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* --- guest memory ------------------------------------------------------------------------ */

/* Stops the controller for a bad guest address (Host System Error, 4.10.2.6). */
static void host_error_locked(struct xhci *x, const char *what, uint64_t gpa)
{
    if (!(x->usbsts & USBSTS_HSE))
        log_warn("qemu-xhci: %s at 0x%llx is outside guest RAM: host system error", what,
                 (unsigned long long)gpa);
    x->usbsts |= USBSTS_HSE | USBSTS_HCH;
    x->usbcmd &= ~USBCMD_RS;
}

static bool dma_read(struct xhci *x, uint64_t gpa, void *buf, size_t len, const char *what)
{
    const void *p = guest_mem_ptr(&x->vm->mem, gpa, len);
    if (!p) {
        host_error_locked(x, what, gpa);
        return false;
    }
    memcpy(buf, p, len);
    return true;
}

static bool dma_write(struct xhci *x, uint64_t gpa, const void *buf, size_t len, const char *what)
{
    void *p = guest_mem_ptr(&x->vm->mem, gpa, len);
    if (!p) {
        host_error_locked(x, what, gpa);
        return false;
    }
    guest_mem_mark_dirty(&x->vm->mem, p, len);
    memcpy(p, buf, len);
    return true;
}

static bool read_trb(struct xhci *x, uint64_t gpa, struct trb *t)
{
    uint8_t b[16];
    if (!dma_read(x, gpa, b, 16, "TRB"))
        return false;
    t->param = (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
    t->status = get32(b + 8);
    t->control = get32(b + 12);
    t->addr = gpa;
    return true;
}

/* The TRB at the ring's dequeue pointer, following Link TRBs; false when the guest has not
 * handed it over yet (cycle bit) or on a bad address. The ring is not advanced. */
static bool ring_peek(struct xhci *x, struct xhci_ring *r, struct trb *t)
{
    for (unsigned links = 0; links < XHCI_TD_MAX; links++) {
        if (!read_trb(x, r->dequeue, t) || (bool)(t->control & TRB_C) != r->ccs)
            return false;
        if (TRB_TYPE(t->control) != TRB_LINK)
            return true;
        r->dequeue = t->param & ~0xfull;
        if (t->control & TRB_TC)
            r->ccs = !r->ccs;
    }
    return false;
}

/* --- events and interrupts --------------------------------------------------------------- */

static void intx_update_locked(struct xhci *x)
{
    if (pci_msix_enabled(&x->pci))
        return;
    struct xhci_intr *in = &x->intr[0];
    pci_intx_set(&x->pci,
                 (x->usbcmd & USBCMD_INTE) && (in->iman & IMAN_IP) && (in->iman & IMAN_IE));
}

/* Puts an event on interrupter v's ring and interrupts as 5.5.2 says (one interrupt until the
 * guest clears Event Handler Busy by writing ERDP). */
static void event_locked(struct xhci *x, unsigned v, uint64_t param, uint32_t status,
                         uint32_t control)
{
    if (v >= XHCI_INTRS)
        v = 0;
    struct xhci_intr *in = &x->intr[v];
    if (!in->er_size || (x->usbsts & USBSTS_HCH))
        return;
    /* Full: the slot after this one is where the guest's dequeue pointer is. */
    uint32_t next = (in->er_idx + 1) % in->er_size;
    uint64_t deq = in->erdp & ~0xfull;
    if (deq == in->er_start + (uint64_t)next * 16) {
        /* TODO: the Event Ring Full Error event (4.9.4) once the guest makes room. */
        if (!in->full_logged)
            log_warn("qemu-xhci: event ring %u full: events dropped", v);
        in->full_logged = true;
        return;
    }
    uint8_t b[16];
    put32(b, (uint32_t)param);
    put32(b + 4, (uint32_t)(param >> 32));
    put32(b + 8, status);
    put32(b + 12, (control & ~TRB_C) | (in->er_pcs ? TRB_C : 0));
    if (!dma_write(x, in->er_start + (uint64_t)in->er_idx * 16, b, 16, "event ring"))
        return;
    in->er_idx = next;
    in->full_logged = false;
    if (next == 0)
        in->er_pcs = !in->er_pcs;
    bool busy = in->erdp & ERDP_EHB;
    in->erdp |= ERDP_EHB;
    in->iman |= IMAN_IP;
    x->usbsts |= USBSTS_EINT;
    if (busy || !(in->iman & IMAN_IE) || !(x->usbcmd & USBCMD_INTE))
        return;
    if (pci_msix_enabled(&x->pci))
        pci_msix_notify(&x->pci, v);
    else
        intx_update_locked(x);
}

static void cmd_complete_locked(struct xhci *x, const struct trb *t, unsigned cc, unsigned slot)
{
    event_locked(x, 0, t->addr, (uint32_t)cc << 24,
                 (uint32_t)slot << 24 | (uint32_t)EV_CMD_COMPLETE << 10);
}

static void port_event_locked(struct xhci *x, unsigned port)
{
    x->usbsts |= USBSTS_PCD;
    event_locked(x, 0, (uint64_t)port << 24, (uint32_t)CC_SUCCESS << 24,
                 (uint32_t)EV_PORT_STATUS << 10);
}

/* --- ports ------------------------------------------------------------------------------- */

/* Ports 1..p3 are USB 3, the next p2 USB 2 (QEMU's layout). */
static bool port_is_usb2(const struct xhci *x, unsigned idx)
{
    return idx >= x->p3;
}

/* Power-on state of a port: powered; a device there is connected (CSC) and, on a USB 2
 * port, waits for the reset that enables it. */
static void port_power_on(struct xhci *x, unsigned idx)
{
    struct xhci_port *p = &x->ports[idx];
    p->portsc = PORTSC_PP;
    if (p->ud) {
        p->portsc |= PORTSC_CCS | PORTSC_CSC | (uint32_t)p->ud->speed << 10 |
                     (uint32_t)PLS_POLLING << PORTSC_PLS_SHIFT;
    } else {
        p->portsc |= (uint32_t)PLS_RXDETECT << PORTSC_PLS_SHIFT; /* QEMU's, on both kinds */
    }
}

static void port_reset_locked(struct xhci *x, unsigned idx, bool warm)
{
    struct xhci_port *p = &x->ports[idx];
    if (!p->ud)
        return;
    p->ud->ops->reset(p->ud);
    p->portsc &= ~(PORTSC_PLS | PORTSC_PR);
    p->portsc |=
        PORTSC_PED | PORTSC_PRC | (warm ? PORTSC_WRC : 0) | (uint32_t)PLS_U0 << PORTSC_PLS_SHIFT;
    port_event_locked(x, idx + 1);
}

static void port_write_locked(struct xhci *x, unsigned idx, uint32_t v)
{
    struct xhci_port *p = &x->ports[idx];
    uint32_t sc = p->portsc;
    sc &= ~(v & PORTSC_CHANGES); /* write 1 to clear */
    if (v & PORTSC_PED)          /* writing 1 disables the port */
        sc &= ~PORTSC_PED;
    sc = (sc & ~(PORTSC_PIC | PORTSC_WAKE)) | (v & (PORTSC_PIC | PORTSC_WAKE));
    if ((v & PORTSC_LWS) && p->ud) {
        unsigned pls = (v & PORTSC_PLS) >> PORTSC_PLS_SHIFT;
        if (pls == PLS_U0 || pls == PLS_U3) {
            unsigned old = (sc & PORTSC_PLS) >> PORTSC_PLS_SHIFT;
            sc = (sc & ~PORTSC_PLS) | (uint32_t)pls << PORTSC_PLS_SHIFT;
            if (old == PLS_U3 && pls == PLS_U0) {
                sc |= PORTSC_PLC;
                p->portsc = sc;
                port_event_locked(x, idx + 1);
                sc = p->portsc;
            }
        }
    }
    p->portsc = sc;
    if (v & PORTSC_PR)
        port_reset_locked(x, idx, false);
    else if ((v & PORTSC_WPR) && !port_is_usb2(x, idx))
        port_reset_locked(x, idx, true);
}

/* --- contexts ---------------------------------------------------------------------------- */

/* Output context field offsets: slot context at 0, endpoint DCI at 32 * DCI. */
static uint64_t ep_ctx_addr(const struct xhci_slot *s, unsigned dci)
{
    return s->ctx + 32ull * dci;
}

static void ep_set_state_locked(struct xhci *x, unsigned slot, unsigned dci, unsigned state)
{
    struct xhci_slot *s = &x->slots[slot];
    struct xhci_ep *ep = &s->eps[dci];
    ep->state = state;
    uint8_t c[16];
    if (!dma_read(x, ep_ctx_addr(s, dci), c, 16, "endpoint context"))
        return;
    put32(c, (get32(c) & ~7u) | state);
    uint64_t deq = ep->ring.dequeue | (ep->ring.ccs ? 1 : 0);
    put32(c + 8, (uint32_t)deq);
    put32(c + 12, (uint32_t)(deq >> 32));
    dma_write(x, ep_ctx_addr(s, dci), c, 16, "endpoint context");
}

static void slot_set_state_locked(struct xhci *x, unsigned slot, unsigned state, unsigned addr)
{
    uint8_t c[16];
    struct xhci_slot *s = &x->slots[slot];
    if (!dma_read(x, s->ctx, c, 16, "slot context"))
        return;
    put32(c + 12, (uint32_t)state << 27 | (addr & 0xff));
    dma_write(x, s->ctx, c, 16, "slot context");
}

static void ep_disable(struct xhci_ep *ep)
{
    memset(ep, 0, sizeof(*ep));
}

/* An endpoint from a 32-byte endpoint context (input context), running. */
static unsigned ep_enable_locked(struct xhci *x, unsigned slot, unsigned dci, const uint8_t *in)
{
    struct xhci_slot *s = &x->slots[slot];
    struct xhci_ep *ep = &s->eps[dci];
    uint64_t deq = (uint64_t)get32(in + 8) | (uint64_t)get32(in + 12) << 32;
    ep->type = (get32(in + 4) >> 3) & 7;
    if (ep->type == 0 || (dci == 1) != (ep->type == 4))
        return CC_TRB;            /* "not valid" type for this DCI */
    if ((get32(in) >> 10) & 0x1f) /* MaxPStreams: no streams here */
        return CC_TRB;
    ep->ring.dequeue = deq & ~0xfull;
    ep->ring.ccs = deq & 1;
    uint8_t out[32];
    memcpy(out, in, 32);
    put32(out, (get32(out) & ~7u) | EP_RUNNING);
    if (!dma_write(x, ep_ctx_addr(s, dci), out, 32, "endpoint context"))
        return CC_TRB;
    ep->state = EP_RUNNING;
    return CC_SUCCESS;
}

/* --- transfers --------------------------------------------------------------------------- */

/* A transfer buffer outside guest RAM (besides USB_RET_STALL and USB_RET_NAK). */
#define XFER_DMA_ERROR (-100)

static void transfer_event_locked(struct xhci *x, unsigned slot, unsigned dci, const struct trb *t,
                                  unsigned cc, uint32_t residual)
{
    event_locked(x, t->status >> 22, t->addr, (uint32_t)cc << 24 | (residual & 0xffffff),
                 (uint32_t)slot << 24 | (uint32_t)dci << 16 | (uint32_t)EV_TRANSFER << 10);
}

/* Collects one TD starting at the ring's dequeue pointer into tds (through its last TRB,
 * the first without the chain bit; a control TD runs from Setup to Status). Returns the
 * number of TRBs, 0 when the guest has not queued a whole TD, -1 on a malformed ring. The
 * ring is advanced past the TD in *after. */
static int collect_td(struct xhci *x, const struct xhci_ring *ring, bool control, struct trb *tds,
                      struct xhci_ring *after)
{
    struct xhci_ring r = *ring;
    int n = 0;
    for (;;) {
        if (n == XHCI_TD_MAX)
            return -1;
        if (!ring_peek(x, &r, &tds[n]))
            return 0;
        unsigned type = TRB_TYPE(tds[n].control);
        r.dequeue += 16;
        n++;
        if (control ? type == TRB_STATUS : !(tds[n - 1].control & TRB_CH))
            break;
    }
    *after = r;
    return n;
}

/* The bytes of the TD's buffers (data stage / normal TRBs): total length. */
static uint32_t td_length(const struct trb *tds, int n, int first)
{
    uint32_t len = 0;
    for (int i = first; i < n; i++) {
        unsigned type = TRB_TYPE(tds[i].control);
        if (type == TRB_DATA || type == TRB_NORMAL)
            len += tds[i].status & 0x1ffff;
    }
    return len;
}

/* Copies between buf and the TD's buffers (to_guest: IN). Immediate data (IDT) lives in the
 * TRB's parameter. */
static bool td_copy(struct xhci *x, const struct trb *tds, int n, int first, uint8_t *buf,
                    uint32_t len, bool to_guest)
{
    uint32_t off = 0;
    for (int i = first; i < n && off < len; i++) {
        unsigned type = TRB_TYPE(tds[i].control);
        if (type != TRB_DATA && type != TRB_NORMAL)
            continue;
        uint32_t chunk = tds[i].status & 0x1ffff;
        if (chunk > len - off)
            chunk = len - off;
        if (tds[i].control & TRB_IDT) {
            if (to_guest || chunk > 8)
                return false; /* immediate data only carries OUT bytes, at most 8 */
            for (uint32_t k = 0; k < chunk; k++)
                buf[off + k] = (uint8_t)(tds[i].param >> (8 * k));
        } else if (to_guest ? !dma_write(x, tds[i].param, buf + off, chunk, "transfer buffer")
                            : !dma_read(x, tds[i].param, buf + off, chunk, "transfer buffer")) {
            return false;
        }
        off += chunk;
    }
    return true;
}

/* Events for a finished data TD of `want` bytes of which `got` moved: the TRB where a short
 * packet ended gets SHORT_PACKET (if ISP or IOC asks), else IOC TRBs get SUCCESS. */
static void td_events_locked(struct xhci *x, unsigned slot, unsigned dci, const struct trb *tds,
                             int n, int first, uint32_t got)
{
    uint32_t off = 0;
    for (int i = first; i < n; i++) {
        unsigned type = TRB_TYPE(tds[i].control);
        uint32_t chunk = (type == TRB_DATA || type == TRB_NORMAL) ? tds[i].status & 0x1ffff : 0;
        if (chunk && off + chunk > got) {
            uint32_t residual = off + chunk - (got > off ? got : off);
            if (tds[i].control & (TRB_ISP | TRB_IOC))
                transfer_event_locked(x, slot, dci, &tds[i], CC_SHORT_PACKET, residual);
            /* The rest of the TD is skipped, apart from a control transfer's status stage. */
            for (int k = i + 1; k < n; k++)
                if (TRB_TYPE(tds[k].control) == TRB_STATUS && (tds[k].control & TRB_IOC))
                    transfer_event_locked(x, slot, dci, &tds[k], CC_SUCCESS, 0);
            return;
        }
        off += chunk;
        if (tds[i].control & TRB_IOC)
            transfer_event_locked(x, slot, dci, &tds[i], CC_SUCCESS, 0);
    }
}

static struct usb_device *slot_device(struct xhci *x, unsigned slot)
{
    unsigned port = x->slots[slot].port;
    return port ? x->ports[port - 1].ud : NULL;
}

/* One control TD on EP 0: true when it was consumed. */
static bool control_td_locked(struct xhci *x, unsigned slot, struct xhci_ep *ep)
{
    struct trb tds[XHCI_TD_MAX];
    struct xhci_ring after;
    int n = collect_td(x, &ep->ring, true, tds, &after);
    if (n == 0)
        return false;
    if (n < 0 || TRB_TYPE(tds[0].control) != TRB_SETUP || !(tds[0].control & TRB_IDT) ||
        (tds[0].status & 0x1ffff) != 8) {
        transfer_event_locked(x, slot, 1, &tds[n < 0 ? 0 : n - 1], CC_TRB, 0);
        ep->ring = n < 0 ? ep->ring : after;
        if (n < 0)
            ep->ring.dequeue += 16;
        return true;
    }
    struct usb_setup s = {
        .type = (uint8_t)tds[0].param,
        .request = (uint8_t)(tds[0].param >> 8),
        .value = (uint16_t)(tds[0].param >> 16),
        .index = (uint16_t)(tds[0].param >> 32),
        .length = (uint16_t)(tds[0].param >> 48),
    };
    uint32_t buflen = td_length(tds, n, 1);
    if (buflen > s.length)
        buflen = s.length;
    uint8_t *buf = xcalloc(1, (size_t)s.length + 1);
    bool in = s.type & USB_DIR_IN;
    struct usb_device *ud = slot_device(x, slot);
    int r = USB_RET_STALL;
    if (!in && !td_copy(x, tds, n, 1, buf, buflen, false))
        r = XFER_DMA_ERROR;
    else if (ud)
        r = ud->ops->control(ud, &s, buf);
    if (r >= 0 && in && (uint32_t)r > buflen)
        r = (int)buflen;
    if (r >= 0 && in && !td_copy(x, tds, n, 1, buf, (uint32_t)r, true))
        r = XFER_DMA_ERROR;
    free(buf);
    ep->ring = after;
    if (r == XFER_DMA_ERROR) {
        transfer_event_locked(x, slot, 1, &tds[n - 1], CC_DATA_BUFFER, 0);
    } else if (r < 0) {
        /* A stall halts EP 0 (4.10.2.1); the guest resets it and moves the dequeue pointer. */
        transfer_event_locked(x, slot, 1, &tds[n > 2 ? 1 : n - 1], CC_STALL, 0);
        ep_set_state_locked(x, slot, 1, EP_HALTED);
    } else {
        if (tds[0].control & TRB_IOC)
            transfer_event_locked(x, slot, 1, &tds[0], CC_SUCCESS, 0);
        td_events_locked(x, slot, 1, tds, n, 1, in ? (uint32_t)r : buflen);
    }
    return true;
}

/* One data TD on an IN endpoint: true when consumed, false when the device NAKed (the TD
 * stays queued until usb_device_wakeup) or none is queued. */
static bool data_td_locked(struct xhci *x, unsigned slot, unsigned dci, struct xhci_ep *ep)
{
    struct trb tds[XHCI_TD_MAX];
    struct xhci_ring after;
    int n = collect_td(x, &ep->ring, false, tds, &after);
    if (n == 0)
        return false;
    bool in = dci & 1;
    /* TODO: OUT, isochronous and Event Data TRBs (no device here needs them). */
    if (n < 0 || !in || ep->type == 1 || ep->type == 5) {
        transfer_event_locked(x, slot, dci, &tds[n < 0 ? 0 : n - 1], CC_TRB, 0);
        if (n < 0)
            ep->ring.dequeue += 16;
        else
            ep->ring = after;
        return true;
    }
    uint32_t len = td_length(tds, n, 0);
    if (len > XHCI_DATA_MAX)
        len = XHCI_DATA_MAX;
    uint8_t *buf = xcalloc(1, len + 1);
    struct usb_device *ud = slot_device(x, slot);
    int r = ud ? ud->ops->data_in(ud, dci / 2, buf, len) : USB_RET_STALL;
    if (r == USB_RET_NAK) {
        free(buf);
        return false;
    }
    if (r >= 0 && (uint32_t)r > len)
        r = (int)len;
    if (r >= 0 && !td_copy(x, tds, n, 0, buf, (uint32_t)r, true))
        r = XFER_DMA_ERROR;
    free(buf);
    if (r == USB_RET_STALL) {
        transfer_event_locked(x, slot, dci, &tds[0], CC_STALL, 0);
        ep_set_state_locked(x, slot, dci, EP_HALTED);
        return true; /* the TD stays on the ring for after Reset Endpoint */
    }
    ep->ring = after;
    if (r == XFER_DMA_ERROR)
        transfer_event_locked(x, slot, dci, &tds[n - 1], CC_DATA_BUFFER, 0);
    else
        td_events_locked(x, slot, dci, tds, n, 0, (uint32_t)r);
    return true;
}

/* Runs an endpoint's ring until it is empty, NAKs or stops. */
static void kick_ep_locked(struct xhci *x, unsigned slot, unsigned dci)
{
    if (slot == 0 || slot > XHCI_SLOTS || dci == 0 || dci > XHCI_EPS)
        return;
    struct xhci_slot *s = &x->slots[slot];
    struct xhci_ep *ep = &s->eps[dci];
    if (!s->enabled)
        return;
    if (ep->state == EP_STOPPED)
        ep_set_state_locked(x, slot, dci, EP_RUNNING); /* a doorbell restarts it (4.6.9) */
    for (unsigned i = 0; i < 256 && ep->state == EP_RUNNING && (x->usbcmd & USBCMD_RS); i++) {
        bool done = dci == 1 ? control_td_locked(x, slot, ep) : data_td_locked(x, slot, dci, ep);
        if (!done)
            break;
    }
}

static void device_wakeup(void *hc, struct usb_device *ud, unsigned epnum)
{
    struct xhci *x = hc;
    for (unsigned slot = 1; slot <= XHCI_SLOTS; slot++)
        if (x->slots[slot].enabled && slot_device(x, slot) == ud)
            kick_ep_locked(x, slot, epnum * 2 + 1);
}

/* --- commands ---------------------------------------------------------------------------- */

/* Stop Endpoint (4.6.9): a TD the endpoint was working on (queued, waiting for its device)
 * ends with a Stopped transfer event before the command completes; it stays on the ring. */
static void stop_ep_locked(struct xhci *x, unsigned slot, unsigned dci)
{
    struct xhci_ep *ep = &x->slots[slot].eps[dci];
    struct xhci_ring r = ep->ring;
    struct trb t;
    if (ring_peek(x, &r, &t)) {
        ep->ring = r; /* past any Link TRB: where the TD starts */
        transfer_event_locked(x, slot, dci, &t, CC_STOPPED, t.status & 0x1ffff);
    }
    ep_set_state_locked(x, slot, dci, EP_STOPPED);
}

static unsigned cmd_address_device(struct xhci *x, unsigned slot, const struct trb *t)
{
    struct xhci_slot *s = &x->slots[slot];
    uint8_t ictx[96];
    if (!dma_read(x, t->param & ~0xfull, ictx, sizeof(ictx), "input context"))
        return CC_TRB;
    if (get32(ictx) != 0 || get32(ictx + 4) != 3)
        return CC_TRB; /* drop flags 0, add flags A0|A1 only (4.6.5) */
    uint32_t slot0 = get32(ictx + 32), slot1 = get32(ictx + 36);
    unsigned port = (slot1 >> 16) & 0xff;
    if ((slot0 & 0xfffff) != 0)
        return CC_TRB; /* route string: no hubs behind this controller */
    if (port < 1 || port > x->nports || !x->ports[port - 1].ud ||
        !(x->ports[port - 1].portsc & PORTSC_PED))
        return CC_USB_TRANSACTION;
    uint64_t out;
    uint8_t ptr[8];
    if (!dma_read(x, (x->dcbaap & ~0x3full) + 8ull * slot, ptr, 8, "DCBAA"))
        return CC_TRB;
    out = ((uint64_t)get32(ptr) | (uint64_t)get32(ptr + 4) << 32) & ~0x3full;
    s->ctx = out;
    s->port = port;
    bool bsr = t->control & TRB_BSR;
    struct usb_device *ud = x->ports[port - 1].ud;
    if (!bsr) {
        struct usb_setup set = {0, USB_REQ_SET_ADDRESS, (uint16_t)slot, 0, 0};
        if (ud->ops->control(ud, &set, NULL) < 0)
            return CC_USB_TRANSACTION;
    }
    uint8_t sc[32];
    memcpy(sc, ictx + 32, 32);
    put32(sc + 12, (uint32_t)(bsr ? SLOT_DEFAULT : SLOT_ADDRESSED) << 27 | (bsr ? 0 : slot));
    if (!dma_write(x, out, sc, 32, "slot context"))
        return CC_TRB;
    for (unsigned i = 1; i <= XHCI_EPS; i++)
        ep_disable(&s->eps[i]);
    return ep_enable_locked(x, slot, 1, ictx + 64);
}

static unsigned cmd_configure_ep(struct xhci *x, unsigned slot, const struct trb *t)
{
    struct xhci_slot *s = &x->slots[slot];
    if (!s->ctx)
        return CC_CONTEXT_STATE;
    if (t->control & TRB_DC) {
        for (unsigned dci = 2; dci <= XHCI_EPS; dci++)
            if (s->eps[dci].state != EP_DISABLED)
                ep_set_state_locked(x, slot, dci, EP_DISABLED);
        for (unsigned dci = 2; dci <= XHCI_EPS; dci++)
            ep_disable(&s->eps[dci]);
        slot_set_state_locked(x, slot, SLOT_ADDRESSED, slot);
        return CC_SUCCESS;
    }
    uint8_t *ictx = xcalloc(1, 32 * 33);
    unsigned cc = CC_SUCCESS;
    if (!dma_read(x, t->param & ~0xfull, ictx, 32 * 33, "input context")) {
        free(ictx);
        return CC_TRB;
    }
    uint32_t drop = get32(ictx), add = get32(ictx + 4);
    if ((drop & 3) || (add & 2)) {
        free(ictx);
        return CC_TRB;
    }
    for (unsigned dci = 2; dci <= XHCI_EPS; dci++) {
        if (drop & (1u << dci)) {
            ep_set_state_locked(x, slot, dci, EP_DISABLED);
            ep_disable(&s->eps[dci]);
        }
    }
    for (unsigned dci = 2; dci <= XHCI_EPS && cc == CC_SUCCESS; dci++)
        if (add & (1u << dci))
            cc = ep_enable_locked(x, slot, dci, ictx + 32 * (dci + 1));
    if (cc == CC_SUCCESS && (add & 1)) {
        /* Context Entries and the rest of the slot context, state Configured. */
        uint8_t sc[32];
        memcpy(sc, ictx + 32, 32);
        put32(sc + 4, (get32(sc + 4) & ~0xff0000u) | (uint32_t)s->port << 16);
        put32(sc + 12, (uint32_t)SLOT_CONFIGURED << 27 | slot);
        dma_write(x, s->ctx, sc, 32, "slot context");
    } else if (cc == CC_SUCCESS) {
        slot_set_state_locked(x, slot, SLOT_CONFIGURED, slot);
    }
    free(ictx);
    return cc;
}

static unsigned cmd_evaluate_ctx(struct xhci *x, unsigned slot, const struct trb *t)
{
    struct xhci_slot *s = &x->slots[slot];
    if (!s->ctx)
        return CC_CONTEXT_STATE;
    uint8_t ictx[96], c[32];
    if (!dma_read(x, t->param & ~0xfull, ictx, sizeof(ictx), "input context"))
        return CC_TRB;
    uint32_t add = get32(ictx + 4);
    if (add & 1) { /* interrupter target and max exit latency (6.2.2.3) */
        if (!dma_read(x, s->ctx, c, 32, "slot context"))
            return CC_TRB;
        put32(c + 4, (get32(c + 4) & ~0xffffu) | (get32(ictx + 36) & 0xffff));
        put32(c + 8, (get32(c + 8) & 0x003fffffu) | (get32(ictx + 40) & 0xffc00000u));
        dma_write(x, s->ctx, c, 32, "slot context");
    }
    if (add & 2) { /* EP 0's max packet size */
        if (!dma_read(x, ep_ctx_addr(s, 1), c, 32, "endpoint context"))
            return CC_TRB;
        put32(c + 4, (get32(c + 4) & 0xffff) | (get32(ictx + 68) & 0xffff0000u));
        dma_write(x, ep_ctx_addr(s, 1), c, 32, "endpoint context");
    }
    return CC_SUCCESS;
}

static void run_commands_locked(struct xhci *x)
{
    x->cmd_running = true;
    for (unsigned budget = 0; budget < 4096 && (x->usbcmd & USBCMD_RS); budget++) {
        struct trb t;
        if (!ring_peek(x, &x->cmd_ring, &t))
            break;
        x->cmd_ring.dequeue += 16;
        unsigned type = TRB_TYPE(t.control), slot = t.control >> 24, cc = CC_SUCCESS;
        unsigned dci = (t.control >> 16) & 0x1f;
        struct xhci_slot *s = slot >= 1 && slot <= XHCI_SLOTS ? &x->slots[slot] : NULL;
        bool needs_slot = type != CMD_ENABLE_SLOT && type != CMD_NOOP;
        if (needs_slot && (!s || !s->enabled)) {
            cmd_complete_locked(x, &t, s ? CC_SLOT_NOT_ENABLED : CC_TRB, slot);
            continue;
        }
        switch (type) {
        case CMD_ENABLE_SLOT:
            slot = 0;
            for (unsigned i = 1; i <= XHCI_SLOTS && !slot; i++)
                if (!x->slots[i].enabled)
                    slot = i;
            if (slot) {
                memset(&x->slots[slot], 0, sizeof(x->slots[slot]));
                x->slots[slot].enabled = true;
            } else {
                cc = CC_NO_SLOTS;
            }
            break;
        case CMD_DISABLE_SLOT:
            if (s->ctx)
                slot_set_state_locked(x, slot, 0, 0);
            memset(s, 0, sizeof(*s));
            break;
        case CMD_ADDRESS_DEVICE:
            cc = cmd_address_device(x, slot, &t);
            break;
        case CMD_CONFIGURE_EP:
            cc = cmd_configure_ep(x, slot, &t);
            break;
        case CMD_EVALUATE_CTX:
            cc = cmd_evaluate_ctx(x, slot, &t);
            break;
        case CMD_RESET_EP:
            if (dci < 1 || s->eps[dci].state != EP_HALTED)
                cc = dci < 1 || s->eps[dci].state == EP_DISABLED ? CC_EP_NOT_ENABLED
                                                                 : CC_CONTEXT_STATE;
            else
                ep_set_state_locked(x, slot, dci, EP_STOPPED);
            break;
        case CMD_STOP_EP:
            if (dci < 1 || s->eps[dci].state == EP_DISABLED)
                cc = CC_EP_NOT_ENABLED;
            else if (s->eps[dci].state != EP_RUNNING)
                cc = CC_CONTEXT_STATE;
            else
                stop_ep_locked(x, slot, dci);
            break;
        case CMD_SET_TR_DEQ:
            if (dci < 1 || s->eps[dci].state == EP_DISABLED) {
                cc = CC_EP_NOT_ENABLED;
            } else if (s->eps[dci].state != EP_STOPPED) {
                cc = CC_CONTEXT_STATE;
            } else {
                s->eps[dci].ring.dequeue = t.param & ~0xfull;
                s->eps[dci].ring.ccs = t.param & 1;
                ep_set_state_locked(x, slot, dci, EP_STOPPED);
            }
            break;
        case CMD_RESET_DEVICE:
            if (!s->ctx) {
                cc = CC_CONTEXT_STATE;
                break;
            }
            for (unsigned i = 2; i <= XHCI_EPS; i++) {
                if (s->eps[i].state != EP_DISABLED)
                    ep_set_state_locked(x, slot, i, EP_DISABLED);
                ep_disable(&s->eps[i]);
            }
            slot_set_state_locked(x, slot, SLOT_DEFAULT, 0);
            break;
        case CMD_NOOP:
            break;
        default:
            cc = CC_TRB;
            break;
        }
        cmd_complete_locked(x, &t, cc, type == CMD_NOOP ? 0 : slot);
    }
}

/* --- registers --------------------------------------------------------------------------- */

static void hc_reset_locked(struct xhci *x)
{
    x->usbcmd = 0;
    x->usbsts = USBSTS_HCH;
    x->dnctrl = 0;
    x->config = 0;
    x->dcbaap = 0;
    memset(&x->cmd_ring, 0, sizeof(x->cmd_ring));
    x->cmd_running = false;
    memset(x->slots, 0, sizeof(x->slots));
    memset(x->intr, 0, sizeof(x->intr));
    for (unsigned i = 0; i < x->nports; i++)
        port_power_on(x, i);
    clock_gettime(CLOCK_MONOTONIC, &x->mf_start);
    intx_update_locked(x);
}

static uint32_t cap_read(struct xhci *x, uint64_t off)
{
    (void)x;
    switch (off) {
    case 0x00:
        return 0x01000000u | OFF_OPER; /* HCIVERSION 1.0, CAPLENGTH */
    case 0x04:
        return (uint32_t)x->nports << 24 | XHCI_INTRS << 8 | XHCI_SLOTS;
    case 0x08:
        return 0x0000000f; /* IST 15 microframes, ERST Max 2^0 */
    case 0x0c:
        return 0;
    case 0x10:
        return 0x00080001; /* xECP at 0x20, 64-bit addressing, no streams */
    case 0x14:
        return OFF_DOORBELL;
    case 0x18:
        return OFF_RUNTIME;
    /* Supported Protocol capabilities: USB 2.0 on ports 5-8, USB 3.0 on ports 1-4. */
    case 0x20:
        return 0x02000402;
    case 0x24:
    case 0x34:
        return 0x20425355; /* "USB " */
    case 0x28:
        return (uint32_t)x->p2 << 8 | (x->p3 + 1);
    case 0x30:
        return 0x03000002;
    case 0x38:
        return (uint32_t)x->p3 << 8 | 1;
    }
    return 0;
}

static uint32_t oper_read(struct xhci *x, uint64_t off)
{
    if (off >= 0x400) {
        unsigned idx = (unsigned)(off - 0x400) / 16;
        if (idx < x->nports && (off & 15) == 0)
            return x->ports[idx].portsc;
        return 0;
    }
    switch (off) {
    case 0x00:
        return x->usbcmd;
    case 0x04:
        return x->usbsts;
    case 0x08:
        return 1; /* PAGESIZE: 4 KiB */
    case 0x14:
        return x->dnctrl;
    case 0x18:
        return x->cmd_running ? CRCR_CRR : 0; /* the pointer reads as 0 */
    case 0x1c:
        return 0;
    case 0x30:
        return (uint32_t)x->dcbaap;
    case 0x34:
        return (uint32_t)(x->dcbaap >> 32);
    case 0x38:
        return x->config;
    }
    return 0;
}

static void usbcmd_write_locked(struct xhci *x, uint32_t v)
{
    if (v & USBCMD_HCRST) {
        hc_reset_locked(x);
        return;
    }
    bool was = x->usbcmd & USBCMD_RS;
    x->usbcmd = v & 0x00000f0d; /* RS INTE HSEE LHCRST(ignored) CSS CRS EWE EU3S */
    if ((v & USBCMD_RS) && !was) {
        if (!(x->usbsts & USBSTS_HSE))
            x->usbsts &= ~USBSTS_HCH;
        else
            x->usbcmd &= ~USBCMD_RS;
    } else if (!(v & USBCMD_RS) && was) {
        x->usbsts |= USBSTS_HCH;
        x->cmd_running = false;
    }
    intx_update_locked(x);
}

static void crcr_write_locked(struct xhci *x, bool high, uint32_t v)
{
    if (high) {
        if (!x->cmd_running)
            x->cmd_ring.dequeue = (x->cmd_ring.dequeue & 0xffffffffull) | (uint64_t)v << 32;
        return;
    }
    if (x->cmd_running) {
        if (v & (CRCR_CS | CRCR_CA)) {
            x->cmd_running = false;
            struct trb t = {.addr = x->cmd_ring.dequeue};
            cmd_complete_locked(x, &t, (v & CRCR_CA) ? CC_CMD_ABORTED : CC_CMD_RING_STOPPED, 0);
        }
        return;
    }
    x->cmd_ring.dequeue = (x->cmd_ring.dequeue & ~0xffffffffull) | (v & ~0x3fu);
    x->cmd_ring.ccs = v & CRCR_RCS;
}

static void oper_write_locked(struct xhci *x, uint64_t off, uint32_t v)
{
    if (off >= 0x400) {
        unsigned idx = (unsigned)(off - 0x400) / 16;
        if (idx < x->nports && (off & 15) == 0)
            port_write_locked(x, idx, v);
        return;
    }
    switch (off) {
    case 0x00:
        usbcmd_write_locked(x, v);
        break;
    case 0x04: /* HSE EINT PCD SRE: write 1 to clear */
        x->usbsts &= ~(v & (USBSTS_HSE | USBSTS_EINT | USBSTS_PCD | (1u << 10)));
        if (x->usbsts & USBSTS_HSE)
            x->usbsts |= USBSTS_HCH;
        intx_update_locked(x);
        break;
    case 0x14:
        x->dnctrl = v & 0xffff;
        break;
    case 0x18:
        crcr_write_locked(x, false, v);
        break;
    case 0x1c:
        crcr_write_locked(x, true, v);
        break;
    case 0x30:
        x->dcbaap = (x->dcbaap & ~0xffffffffull) | (v & ~0x3fu);
        break;
    case 0x34:
        x->dcbaap = (x->dcbaap & 0xffffffffull) | (uint64_t)v << 32;
        break;
    case 0x38:
        x->config = v & 0xff;
        break;
    }
}

/* Reads the event ring segment table (one segment, HCSPARAMS2's ERST Max 0). */
static void erst_setup_locked(struct xhci *x, unsigned v)
{
    struct xhci_intr *in = &x->intr[v];
    in->er_size = 0;
    in->er_idx = 0;
    in->er_pcs = true;
    if (in->erstsz == 0)
        return;
    uint8_t seg[16];
    if (!dma_read(x, in->erstba, seg, 16, "event ring segment table"))
        return;
    uint64_t base = ((uint64_t)get32(seg) | (uint64_t)get32(seg + 4) << 32) & ~0x3full;
    uint32_t size = get32(seg + 8) & 0xffff;
    if (size < 16 || size > 4096 || !guest_mem_ptr(&x->vm->mem, base, (uint64_t)size * 16)) {
        log_warn("qemu-xhci: interrupter %u: event ring segment 0x%llx (%u TRBs) refused", v,
                 (unsigned long long)base, size);
        host_error_locked(x, "event ring segment", base);
        return;
    }
    in->er_start = base;
    in->er_size = size;
}

static uint32_t runtime_read(struct xhci *x, uint64_t off)
{
    if (off < 0x20) {
        if (off != 0 || (x->usbsts & USBSTS_HCH))
            return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t ns =
            (now.tv_sec - x->mf_start.tv_sec) * 1000000000ll + (now.tv_nsec - x->mf_start.tv_nsec);
        return (uint32_t)(ns / 125000) & 0x3fff; /* MFINDEX: 125 us microframes */
    }
    unsigned v = (unsigned)(off - 0x20) / 0x20;
    if (v >= XHCI_INTRS)
        return 0;
    struct xhci_intr *in = &x->intr[v];
    switch ((off - 0x20) & 0x1f) {
    case 0x00:
        return in->iman;
    case 0x04:
        return in->imod;
    case 0x08:
        return in->erstsz;
    case 0x10:
        return (uint32_t)in->erstba;
    case 0x14:
        return (uint32_t)(in->erstba >> 32);
    case 0x18:
        return (uint32_t)in->erdp;
    case 0x1c:
        return (uint32_t)(in->erdp >> 32);
    }
    return 0;
}

static void runtime_write_locked(struct xhci *x, uint64_t off, uint32_t val)
{
    if (off < 0x20)
        return;
    unsigned v = (unsigned)(off - 0x20) / 0x20;
    if (v >= XHCI_INTRS)
        return;
    struct xhci_intr *in = &x->intr[v];
    switch ((off - 0x20) & 0x1f) {
    case 0x00:
        if (val & IMAN_IP)
            in->iman &= ~IMAN_IP;
        in->iman = (in->iman & ~IMAN_IE) | (val & IMAN_IE);
        if (v == 0)
            intx_update_locked(x);
        break;
    case 0x04:
        in->imod = val;
        break;
    case 0x08:
        in->erstsz = val & 0xffff;
        break;
    case 0x10:
        in->erstba = (in->erstba & ~0xffffffffull) | (val & ~0x3fu);
        break;
    case 0x14:
        in->erstba = (in->erstba & 0xffffffffull) | (uint64_t)val << 32;
        erst_setup_locked(x, v);
        break;
    case 0x18: {
        uint64_t ehb = (in->erdp & ERDP_EHB) && !(val & ERDP_EHB) ? ERDP_EHB : 0;
        in->erdp = (in->erdp & ~0xffffffffull) | (val & ~0xfu) | ehb | (val & 7);
        /* Events still unread behind the new dequeue pointer interrupt again (4.17.2). */
        uint64_t enq = in->er_start + (uint64_t)in->er_idx * 16;
        if (in->er_size && (in->erdp & ~0xfull) != enq && !(in->erdp & ERDP_EHB)) {
            in->erdp |= ERDP_EHB;
            in->iman |= IMAN_IP;
            if ((in->iman & IMAN_IE) && (x->usbcmd & USBCMD_INTE) && pci_msix_enabled(&x->pci))
                pci_msix_notify(&x->pci, v);
        }
        if (v == 0)
            intx_update_locked(x);
        break;
    }
    case 0x1c:
        in->erdp = (in->erdp & 0xffffffffull) | (uint64_t)val << 32;
        break;
    }
}

static void doorbell_write_locked(struct xhci *x, unsigned db, uint32_t v)
{
    if (!(x->usbcmd & USBCMD_RS))
        return;
    if (db == 0) {
        if ((v & 0xff) == 0)
            run_commands_locked(x);
        return;
    }
    kick_ep_locked(x, db, v & 0xff);
}

static uint32_t reg_read_locked(struct xhci *x, uint64_t off)
{
    if (off < OFF_OPER)
        return cap_read(x, off);
    if (off < OFF_RUNTIME)
        return oper_read(x, off - OFF_OPER);
    if (off < OFF_DOORBELL)
        return runtime_read(x, off - OFF_RUNTIME);
    return 0; /* doorbells read as 0 */
}

static void reg_write_locked(struct xhci *x, uint64_t off, uint32_t v)
{
    if (off < OFF_OPER)
        return;
    if (off < OFF_RUNTIME)
        oper_write_locked(x, off - OFF_OPER, v);
    else if (off < OFF_DOORBELL)
        runtime_write_locked(x, off - OFF_RUNTIME, v);
    else if (off < OFF_DOORBELL + 4 * (XHCI_SLOTS + 1))
        doorbell_write_locked(x, (unsigned)(off - OFF_DOORBELL) / 4, v);
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct xhci *x = opaque;
    if (off >= OFF_MSIX) {
        if (off >= OFF_PBA)
            pci_msix_pba_read(&x->pci, off - OFF_PBA, data, size);
        else
            pci_msix_table_read(&x->pci, off - OFF_MSIX, data, size);
        return;
    }
    pthread_mutex_lock(&x->lock);
    uint64_t v = reg_read_locked(x, off & ~3ull);
    if (size == 8)
        v |= (uint64_t)reg_read_locked(x, (off & ~3ull) + 4) << 32;
    pthread_mutex_unlock(&x->lock);
    v >>= 8 * (off & 3);
    for (unsigned i = 0; i < size; i++)
        data[i] = (uint8_t)(v >> (8 * i));
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct xhci *x = opaque;
    if (off >= OFF_MSIX) {
        if (off < OFF_PBA)
            pci_msix_table_write(&x->pci, off - OFF_MSIX, data, size);
        return;
    }
    if ((off & 3) || (size != 4 && size != 8))
        return; /* registers take dword (and qword) accesses only */
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)data[i] << (8 * i);
    pthread_mutex_lock(&x->lock);
    reg_write_locked(x, off, (uint32_t)v);
    if (size == 8)
        reg_write_locked(x, off + 4, (uint32_t)(v >> 32));
    pthread_mutex_unlock(&x->lock);
}

static const struct bus_ops bar_ops = {bar_read, bar_write};

/* --- the bus: devices attach --------------------------------------------------------------- */

int xhci_attach(struct xhci *x, struct usb_device *ud, unsigned port, const char *bus,
                struct verr *err)
{
    pthread_mutex_lock(&x->lock);
    /* Low/full/high-speed devices take the USB 2 port of each pair (QEMU's port N). */
    unsigned idx = x->nports;
    if (port == 0) {
        for (unsigned i = x->p3; i < x->p3 + x->p2 && idx == x->nports; i++)
            if (!x->ports[i].ud)
                idx = i;
    } else if (port <= x->p2 && !x->ports[x->p3 + port - 1].ud) {
        idx = x->p3 + port - 1;
    }
    if (idx == x->nports) {
        pthread_mutex_unlock(&x->lock);
        if (port)
            return verr_set(err, EBUSY, "usb port %u (bus %s.0) not found (in use?)", port, bus);
        return verr_set(err, ENOSPC, "tried to attach usb device %s to a bus with no free ports",
                        ud->name);
    }
    ud->lock = &x->lock;
    ud->hc = x;
    ud->wakeup = device_wakeup;
    x->ports[idx].ud = ud;
    port_power_on(x, idx);
    pthread_mutex_unlock(&x->lock);
    return 0;
}

int usb_bus_attach(struct device *hc, struct usb_device *ud, unsigned port, struct verr *err)
{
    if (hc->type->child_bus != DEV_BUS_USB)
        return verr_set(err, EINVAL, "'%s' is not a USB controller", hc->type->name);
    return xhci_attach(hc->priv, ud, port, hc->cfg->id ? hc->cfg->id : "usb-bus", err);
}

void usb_bus_detach(struct usb_device *ud)
{
    struct xhci *x = ud->hc;
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    for (unsigned i = 0; i < x->nports; i++)
        if (x->ports[i].ud == ud)
            x->ports[i].ud = NULL;
    ud->wakeup = NULL;
    pthread_mutex_unlock(&x->lock);
}

/* --- the device -------------------------------------------------------------------------- */

struct xhci *xhci_new(struct vm *vm, bool nec, unsigned p2, unsigned p3)
{
    struct xhci *x = xcalloc(1, sizeof(*x));
    x->vm = vm;
    x->nec = nec;
    x->p2 = p2 > XHCI_MAX_PORTS_2 ? XHCI_MAX_PORTS_2 : p2;
    x->p3 = p3 > XHCI_MAX_PORTS_3 ? XHCI_MAX_PORTS_3 : p3;
    x->nports = x->p2 + x->p3;
    pthread_mutex_init(&x->lock, NULL);
    struct pci_dev *pd = &x->pci;
    if (nec)
        pci_dev_init(pd, "nec-usb-xhci", 0x1033, 0x0194, 0x0c0330, 0x03, 0x1af4, 0x1100);
    else
        pci_dev_init(pd, "qemu-xhci", 0x1b36, 0x000d, 0x0c0330, 0x01, 0x1af4, 0x1100);
    pd->cfg[0x60] = 0x30;    /* SBRN: USB 3.0 */
    pd->cfg[0x61] = 0x20;    /* FLADJ */
    pd->slot = PCI_NR_SLOTS; /* on no bus until plugged (no INTx line to drive) */
    pci_dev_set_bar(pd, 0, BAR_SIZE, true, &bar_ops, x);
    pci_dev_init_msix(pd, XHCI_INTRS, 0, OFF_MSIX, OFF_PBA);
    hc_reset_locked(x);
    return x;
}

void xhci_free(struct xhci *x)
{
    pci_dev_release(&x->pci);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

void xhci_mmio(struct xhci *x, uint64_t off, uint8_t *data, unsigned size, bool write)
{
    if (write)
        bar_write(x, off, data, size);
    else
        bar_read(x, off, data, size);
}

static int xhci_create(struct device *dev, struct verr *err)
{
    const struct xhci_opts *o = DEV_OPTS(dev->cfg, struct xhci_opts);
    struct xhci *x = xhci_new(dev->vm, strcmp(dev->type->name, "nec-usb-xhci") == 0, o->p2, o->p3);
    struct pci_dev *pd = &x->pci;
    pd->id = dev->cfg->pci.id;
    pd->multifunction = dev->cfg->pci.multifunction;
    int r = pci_dev_plug(dev->vm->pci, pd, &dev->cfg->pci, err);
    if (r < 0) {
        xhci_free(x);
        return r;
    }
    dev->pci = pd;
    dev->priv = x;
    return 0;
}

static void xhci_reset(struct device *dev)
{
    struct xhci *x = dev->priv;
    pci_dev_reset(&x->pci);
    pthread_mutex_lock(&x->lock);
    hc_reset_locked(x);
    pthread_mutex_unlock(&x->lock);
}

static void xhci_dev_free(struct device *dev)
{
    xhci_free(dev->priv);
}

static const struct dev_prop xhci_props[] = {
    DEV_PROP("p2", DEV_PROP_U32, struct xhci_opts, p2, "4", 0, 15, NULL),
    DEV_PROP("p3", DEV_PROP_U32, struct xhci_opts, p3, "4", 0, 15, NULL),
    DEV_PROP_END,
};

static const struct dev_type qemu_xhci_type = {
    .name = "qemu-xhci",
    .desc = "USB xHCI controller",
    .category = DEV_CAT_USB,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_USB,
    .user_creatable = true,
    .props = xhci_props,
    .opts_size = sizeof(struct xhci_opts),
    .create = xhci_create,
    .reset = xhci_reset,
    .free = xhci_dev_free,
};

static const struct dev_type nec_xhci_type = {
    .name = "nec-usb-xhci",
    .desc = "USB xHCI controller (NEC's ids)",
    .category = DEV_CAT_USB,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_USB,
    .user_creatable = true,
    .props = xhci_props,
    .opts_size = sizeof(struct xhci_opts),
    .create = xhci_create,
    .reset = xhci_reset,
    .free = xhci_dev_free,
};

const struct dev_type *const dev_types_xhci[] = {&qemu_xhci_type, &nec_xhci_type, NULL};
