/*
 * pcie-root-port.c - QEMU's generic PCIe root port (1b36:000c): a PCI-to-PCI
 * bridge on pcie.0 whose secondary bus holds one slot, with PCIe native
 * hot-plug, so device_add/device_del can plug a device into a running guest
 * the way Linux's pciehp driver expects.
 *
 * The slot (PCIe capability: slot capabilities, control, status) has an
 * attention button, a power controller, power and attention indicators,
 * presence detect and data-link-layer state reporting. The sequences are
 * QEMU's:
 *   - hot-add: the device appears (presence detect state, link active) and
 *     the port raises presence-detect-changed together with the attention
 *     button (what QEMU 7.2 raises, seen from a guest: slot status PDC|ABP,
 *     no DLL-state-changed); the guest powers the slot on (it is off while
 *     the slot is empty) and enumerates the device;
 *   - hot-remove request (device_del): the attention button is pressed; the
 *     guest (Linux waits 5 s for a second press that would cancel) turns
 *     the power indicator off and the slot power off; at that write the
 *     device leaves (presence and link gone, PDC raised) and the VMM frees
 *     it and emits DEVICE_DELETED.
 * Every slot control write completes at once (command completed is set). An
 * event interrupts when hot-plug interrupts are enabled and the event's own
 * enable bit is set: through the port's one MSI-X vector (BAR 0) or, without
 * MSI-X, INTx pin A. While the slot power is off the device behind answers no
 * configuration cycle and decodes no BAR (pci_bridge_set_power).
 *
 * Migration: the device behind a port must be on the destination's command
 * line (bus=ID), as QEMU requires; the stream's slot state is checked
 * against it.
 */
#include "util/log.h"
#include "util/mem.h"
#include "util/loop.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RP_VENDOR 0x1b36
#define RP_DEVICE 0x000c

/* PCIe capability registers (offsets from the capability). */
#define EXP_FLAGS  0x02
#define EXP_LNKCAP 0x0c
#define EXP_LNKSTA 0x12
#define EXP_SLTCAP 0x14
#define EXP_SLTCTL 0x18
#define EXP_SLTSTA 0x1a
#define EXP_SIZE   0x3c

#define LNKSTA_DLLLA 0x2000

#define SLTCAP_ABP 0x01
#define SLTCAP_PCP 0x02
#define SLTCAP_AIP 0x08
#define SLTCAP_PIP 0x10
#define SLTCAP_HPS 0x20 /* hot-plug surprise: QEMU sets it with hot-plug */
#define SLTCAP_HPC 0x40
#define SLTCAP_EIP 0x20000

#define SLTCTL_ABPE      0x0001
#define SLTCTL_PDCE      0x0008
#define SLTCTL_CCIE      0x0010
#define SLTCTL_HPIE      0x0020
#define SLTCTL_AIC       0x00c0
#define SLTCTL_AIC_OFF   0x00c0
#define SLTCTL_PIC       0x0300
#define SLTCTL_PIC_ON    0x0100
#define SLTCTL_PIC_BLINK 0x0200
#define SLTCTL_PIC_OFF   0x0300
#define SLTCTL_PCC       0x0400 /* 1: power off */
#define SLTCTL_DLLSCE    0x1000

#define SLTSTA_ABP   0x0001
#define SLTSTA_PDC   0x0008
#define SLTSTA_CC    0x0010
#define SLTSTA_PDS   0x0040
#define SLTSTA_DLLSC 0x0100

#define MSIX_BAR_SIZE 0x1000
#define MSIX_PBA_OFF  0x800

struct rp_opts {
    uint8_t chassis, port;
    uint16_t slot;
    bool hotplug;
};

static const struct dev_prop rp_props[] = {
    DEV_PROP("chassis", DEV_PROP_U8, struct rp_opts, chassis, "0", 0, 0, NULL),
    DEV_PROP("slot", DEV_PROP_U16, struct rp_opts, slot, "0", 0, 8191, NULL),
    DEV_PROP("port", DEV_PROP_U8, struct rp_opts, port, "0", 0, 0, NULL),
    DEV_PROP("hotplug", DEV_PROP_BOOL, struct rp_opts, hotplug, "on", 0, 0, NULL),
    DEV_PROP_END,
};

struct root_port {
    struct pci_dev pci;
    struct device *dev;
    uint8_t exp; /* PCIe capability offset */
    bool hotplug;
    bool event;              /* an enabled event is pending (the interrupt condition) */
    struct pci_dev *leaving; /* powered off by the guest, to be freed on the main thread */
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

/* pci.lock held: sets status bits, then re-evaluates the interrupt condition. Returns whether
 * an MSI-X message must be sent (a new event while MSI-X is on); INTx is driven by the caller
 * through intx_want. */
static bool raise_locked(struct root_port *rp, uint16_t status_bits, bool *intx_want)
{
    uint8_t *e = rp->pci.cfg + rp->exp;
    uint16_t sta = (uint16_t)(rd16(e + EXP_SLTSTA) | status_bits);
    wr16(e + EXP_SLTSTA, sta);
    uint16_t ctl = rd16(e + EXP_SLTCTL);
    bool on = (ctl & SLTCTL_HPIE) && ((sta & ctl & (SLTSTA_ABP | SLTSTA_PDC | SLTSTA_CC)) ||
                                      ((sta & SLTSTA_DLLSC) && (ctl & SLTCTL_DLLSCE)));
    bool rising = on && !rp->event;
    rp->event = on;
    bool msix = rp->pci.msix_cap && (rd16(rp->pci.cfg + rp->pci.msix_cap + 2) & 0x8000);
    *intx_want = !msix && on;
    return msix && rising;
}

/* Any lock state but pci.lock: raises status bits and interrupts as the slot control says. */
static void raise_event(struct root_port *rp, uint16_t status_bits)
{
    bool intx;
    pthread_mutex_lock(&rp->pci.lock);
    bool send = raise_locked(rp, status_bits, &intx);
    pthread_mutex_unlock(&rp->pci.lock);
    if (send)
        pci_msix_notify(&rp->pci, 0);
    pci_intx_set(&rp->pci, intx);
}

/* Main thread: the guest powered the slot off with a device in it: the device goes. */
static void finish_unplug(void *opaque)
{
    struct root_port *rp = opaque;
    struct vm *vm = rp->dev->vm;
    pthread_mutex_lock(&rp->pci.lock); /* set under it by the vCPU's slot control write */
    struct pci_dev *child = rp->leaving;
    rp->leaving = NULL;
    pthread_mutex_unlock(&rp->pci.lock);
    for (unsigned i = 0; child && i < vm->nr_devices; i++) {
        if (vm->devices[i]->pci == child) {
            dev_hotplug_remove(vm->devices[i]);
            return;
        }
    }
}

/* Bus write-locked (a configuration write): slot control and status side effects. */
static void rp_cfg_written(struct pci_dev *pd, unsigned off, unsigned size, const uint8_t *old)
{
    struct root_port *rp = (struct root_port *)pd;
    unsigned ctl_off = rp->exp + EXP_SLTCTL, sta_off = rp->exp + EXP_SLTSTA;
    bool ctl_hit = off < ctl_off + 2 && off + size > ctl_off;
    bool sta_hit = off < sta_off + 2 && off + size > sta_off;
    if (!ctl_hit && !sta_hit)
        return;
    uint8_t *e = pd->cfg + rp->exp;
    pthread_mutex_lock(&pd->lock);
    uint16_t ctl = rd16(e + EXP_SLTCTL);
    uint16_t old_ctl = ctl;
    if (ctl_hit) { /* rebuild the old value from the bytes the write replaced */
        uint8_t b[2] = {e[EXP_SLTCTL], e[EXP_SLTCTL + 1]};
        for (unsigned i = 0; i < 2; i++)
            if (ctl_off + i >= off && ctl_off + i < off + size)
                b[i] = old[ctl_off + i - off];
        old_ctl = rd16(b);
    }
    uint16_t bits = 0;
    if (ctl_hit) {
        bits |= SLTSTA_CC; /* every command completes at once */
        bool power_off = ctl & SLTCTL_PCC;
        bool was_off = old_ctl & SLTCTL_PCC;
        bool present = rd16(e + EXP_SLTSTA) & SLTSTA_PDS;
        /* QEMU's condition: power controller and power indicator both turned off with a
         * device in the slot. */
        if (present && power_off && (ctl & SLTCTL_PIC) == SLTCTL_PIC_OFF &&
            (!was_off || (old_ctl & SLTCTL_PIC) != SLTCTL_PIC_OFF) && pd->sec[0] && !rp->leaving) {
            rp->leaving = pd->sec[0];
            wr16(e + EXP_SLTSTA, rd16(e + EXP_SLTSTA) & ~SLTSTA_PDS);
            wr16(e + EXP_LNKSTA, rd16(e + EXP_LNKSTA) & ~LNKSTA_DLLLA);
            bits |= SLTSTA_PDC; /* QEMU 7.2 raises no DLL-state-changed here either */
            loop_call_soon(rp->dev->vm->loop, finish_unplug, rp);
        }
    }
    /* Also after a status write: cleared bits may end the interrupt condition. */
    bool intx;
    bool send = raise_locked(rp, bits, &intx);
    bool power_on = !(ctl & SLTCTL_PCC) && !rp->leaving;
    pthread_mutex_unlock(&pd->lock);
    pci_bridge_set_power_locked(pd, power_on);
    if (send)
        pci_msix_notify(pd, 0);
    pci_intx_set(pd, intx);
}

static void msix_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct root_port *rp = opaque;
    if (off >= MSIX_PBA_OFF)
        pci_msix_pba_read(&rp->pci, off - MSIX_PBA_OFF, data, size);
    else
        pci_msix_table_read(&rp->pci, off, data, size);
}

static void msix_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct root_port *rp = opaque;
    if (off < MSIX_PBA_OFF)
        pci_msix_table_write(&rp->pci, off, data, size);
}

static const struct bus_ops rp_msix_ops = {msix_read, msix_write};

/* The slot's power-on state: an empty slot is powered off, an occupied one on (QEMU's). */
static void slot_reset(struct root_port *rp)
{
    uint8_t *e = rp->pci.cfg + rp->exp;
    bool populated = rp->pci.sec[0] != NULL;
    pthread_mutex_lock(&rp->pci.lock);
    wr16(e + EXP_SLTCTL,
         (uint16_t)(SLTCTL_AIC_OFF | (populated ? SLTCTL_PIC_ON : SLTCTL_PIC_OFF | SLTCTL_PCC)));
    wr16(e + EXP_SLTSTA, populated ? SLTSTA_PDS : 0);
    wr16(e + EXP_LNKSTA, (uint16_t)(0x0011 | (populated ? LNKSTA_DLLLA : 0))); /* 2.5GT/s x1 */
    rp->event = false;
    pthread_mutex_unlock(&rp->pci.lock);
    pci_bridge_set_power(&rp->pci, populated);
}

static int rp_create(struct device *dev, struct verr *err)
{
    const struct rp_opts *o = DEV_OPTS(dev->cfg, struct rp_opts);
    struct root_port *rp = xcalloc(1, sizeof(*rp));
    rp->dev = dev;
    rp->hotplug = o->hotplug;
    struct pci_dev *pd = &rp->pci;
    pci_bridge_init(pd, "pcie-root-port", RP_VENDOR, RP_DEVICE, 0);
    /* I/O and prefetchable windows, as QEMU's: what is behind (a transitional virtio device
     * on a pcie-pci-bridge) gets its I/O BAR. */
    pci_bridge_init_windows(pd);
    uint8_t body[EXP_SIZE - 2] = {0};
    wr16(body + EXP_FLAGS - 2, 0x0142); /* version 2, root port (4), slot implemented */
    wr32(body + EXP_LNKCAP - 2, (uint32_t)o->port << 24 | 0x00100000u | 0x11); /* DLLLARC */
    uint32_t sltcap = SLTCAP_ABP | SLTCAP_PCP | SLTCAP_AIP | SLTCAP_PIP | SLTCAP_EIP |
                      (o->hotplug ? SLTCAP_HPC | SLTCAP_HPS : 0) | (uint32_t)o->slot << 19;
    wr32(body + EXP_SLTCAP - 2, sltcap);
    rp->exp = pci_dev_add_cap(pd, 0x10, body, EXP_SIZE);
    wr16(pd->wmask + rp->exp + 0x08, 0x7fff); /* device control */
    wr16(pd->wmask + rp->exp + 0x10, 0x0ffb); /* link control */
    wr16(pd->wmask + rp->exp + EXP_SLTCTL, 0x1fff);
    wr16(pd->w1cmask + rp->exp + EXP_SLTSTA, 0x011f); /* ABP PFD MRLSC PDC CC DLLSC */
    wr16(pd->wmask + rp->exp + 0x1c, 0x001f);         /* root control */
    pci_dev_set_bar(pd, 0, MSIX_BAR_SIZE, false, &rp_msix_ops, rp);
    pci_dev_init_msix(pd, 1, 0, 0, MSIX_PBA_OFF);
    pd->cfg_written = rp_cfg_written;
    pd->id = dev->cfg->pci.id;
    pd->multifunction = dev->cfg->pci.multifunction;
    int r = pci_dev_plug(dev->vm->pci, pd, &dev->cfg->pci, err);
    if (r < 0) {
        free(pd->msix);
        free(rp);
        return r;
    }
    slot_reset(rp);
    dev->pci = pd;
    dev->priv = rp;
    return 0;
}

static void rp_reset(struct device *dev)
{
    struct root_port *rp = dev->priv;
    pci_dev_reset(&rp->pci);
    slot_reset(rp);
}

static void rp_free(struct device *dev)
{
    struct root_port *rp = dev->priv;
    pci_dev_release(&rp->pci);
    free(rp);
}

static int rp_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                     struct verr *err)
{
    const struct rp_opts *o = DEV_OPTS(cfg, struct rp_opts);
    for (unsigned i = 0; i < n && all[i] != cfg; i++) {
        if (all[i]->type != cfg->type)
            continue;
        const struct rp_opts *p = DEV_OPTS(all[i], struct rp_opts);
        if (p->chassis == o->chassis && p->slot == o->slot)
            return verr_set(err, EBUSY, "%s: Can't add chassis slot, error -16",
                            cfg->what ? cfg->what : "pcie-root-port");
    }
    return 0;
}

static void rp_plugged(struct device *owner, struct device *child, bool hot)
{
    struct root_port *rp = owner->priv;
    (void)child;
    if (!hot) {
        slot_reset(rp); /* present at start-up: powered, indicator on */
        return;
    }
    pthread_mutex_lock(&rp->pci.lock);
    uint8_t *e = rp->pci.cfg + rp->exp;
    wr16(e + EXP_SLTSTA, rd16(e + EXP_SLTSTA) | SLTSTA_PDS);
    wr16(e + EXP_LNKSTA, rd16(e + EXP_LNKSTA) | LNKSTA_DLLLA);
    bool power_on = !(rd16(e + EXP_SLTCTL) & SLTCTL_PCC);
    pthread_mutex_unlock(&rp->pci.lock);
    pci_bridge_set_power(&rp->pci, power_on);
    raise_event(rp, SLTSTA_PDC | SLTSTA_ABP); /* QEMU's pair on hot-add */
}

static int rp_hotplug_check(struct device *owner, struct verr *err)
{
    struct root_port *rp = owner->priv;
    if (!rp->hotplug)
        return verr_set(err, EINVAL, "Bus '%s' does not support hotplugging",
                        owner->cfg->id ? owner->cfg->id : "pcie-root-port");
    pthread_mutex_lock(&rp->pci.lock);
    bool leaving = rp->leaving != NULL;
    pthread_mutex_unlock(&rp->pci.lock);
    if (leaving)
        return verr_set(err, EBUSY, "Slot of '%s' is busy: a device is being removed",
                        owner->cfg->id ? owner->cfg->id : "pcie-root-port");
    return 0;
}

static int rp_unplug(struct device *owner, struct device *child, struct verr *err)
{
    struct root_port *rp = owner->priv;
    (void)child;
    if (!rp->hotplug)
        return verr_set(err, EINVAL, "Bus '%s' does not support hotplugging",
                        owner->cfg->id ? owner->cfg->id : "pcie-root-port");
    pthread_mutex_lock(&rp->pci.lock);
    uint16_t ctl = rd16(rp->pci.cfg + rp->exp + EXP_SLTCTL);
    pthread_mutex_unlock(&rp->pci.lock);
    if ((ctl & SLTCTL_PIC) == SLTCTL_PIC_BLINK)
        return verr_set(err, EBUSY, "Hot-unplug failed: guest is busy (power indicator blinking)");
    raise_event(rp, SLTSTA_ABP); /* the attention button */
    return 0;
}

/* State: the function (bus numbers, window, slot control, MSI-X) and the slot's status and
 * link status, which the guest cannot write directly. A hot-unplug in flight is refused:
 * its device is between two owners. */
struct rp_state {
    uint16_t slot_status, link_status;
    uint8_t event, pad[3];
};

static int rp_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct root_port *rp = dev->priv;
    pthread_mutex_lock(&rp->pci.lock);
    bool leaving = rp->leaving != NULL;
    pthread_mutex_unlock(&rp->pci.lock);
    if (leaving)
        return verr_set(err, EBUSY, "pcie-root-port %s: a hot-unplug is in progress",
                        dev->cfg->id ? dev->cfg->id : "");
    int r = pci_dev_save(&rp->pci, w, err);
    if (r < 0)
        return r;
    struct rp_state st = {0};
    pthread_mutex_lock(&rp->pci.lock);
    st.slot_status = rd16(rp->pci.cfg + rp->exp + EXP_SLTSTA);
    st.link_status = rd16(rp->pci.cfg + rp->exp + EXP_LNKSTA);
    st.event = rp->event;
    pthread_mutex_unlock(&rp->pci.lock);
    return w->put(w, "rp.slot", &st, sizeof(st), err);
}

static int rp_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct root_port *rp = dev->priv;
    struct rp_state st;
    int rc = r->get(r, "rp.slot", &st, sizeof(st), err);
    if (rc < 0)
        return rc;
    bool present = rp->pci.sec[0] != NULL;
    if (st.event > 1 || (st.slot_status & ~(0x011f | SLTSTA_PDS)) ||
        (st.link_status & ~(0x000f | 0x03f0 | LNKSTA_DLLLA)))
        return verr_set(err, EINVAL, "field 'rp.slot' holds bits a root port never sets");
    if (!!(st.slot_status & SLTSTA_PDS) != present)
        return verr_set(err, EINVAL, "field 'rp.slot': the slot is %s in the stream but %s here",
                        present ? "empty" : "occupied", present ? "occupied" : "empty");
    rc = pci_dev_load(&rp->pci, r, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rp->pci.lock);
    uint8_t *e = rp->pci.cfg + rp->exp;
    wr16(e + EXP_SLTSTA, st.slot_status);
    wr16(e + EXP_LNKSTA, st.link_status);
    rp->event = st.event;
    bool power_on = !(rd16(e + EXP_SLTCTL) & SLTCTL_PCC);
    pthread_mutex_unlock(&rp->pci.lock);
    pci_bridge_set_power(&rp->pci, power_on && present);
    return 0;
}

static const struct dev_type pcie_root_port_type = {
    .name = "pcie-root-port",
    .desc = "PCI Express Root Port (with native hot-plug)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_PCI,
    .user_creatable = true,
    .props = rp_props,
    .opts_size = sizeof(struct rp_opts),
    .finish = rp_finish,
    .create = rp_create,
    .reset = rp_reset,
    .free = rp_free,
    .state_version = 1,
    .save = rp_save,
    .load = rp_load,
    .hotplug_check = rp_hotplug_check,
    .plugged = rp_plugged,
    .unplug = rp_unplug,
};

const struct dev_type *const dev_types_pcie_root_port[] = {&pcie_root_port_type, NULL};
