/*
 * ahci.c - -device ahci (QEMU's ich9-ahci, 8086:2922, class 01.06.01): a
 * Serial ATA host bus adapter with six ports, each holding one ATA drive
 * (ide-hd, ide-cd: ata.c) on the bus QEMU names ID.N (ide.N for q35's
 * built-in controller at 00:1f.2, which has no id).
 *
 * AHCI 1.3: the HBA registers (CAP, GHC, IS, PI, VS) and each port's (command
 * list and FIS receive area bases, PxIS/PxIE, PxCMD, PxTFD, PxSIG, PxSSTS,
 * PxSCTL, PxSERR, PxSACT, PxCI) in the memory BAR 5 (ABAR). Setting a bit of
 * PxCI runs that command slot: its command header, its command table's
 * Register H2D FIS (and ATAPI packet), its PRDT as the data buffers in guest
 * RAM; the result lands in the FIS receive area (D2H Register FIS, PIO Setup
 * FIS for PIO data-in, Set Device Bits FIS for NCQ) and in PxTFD, with PxIS's
 * bits raising INTx or MSI (the function's MSI capability, 64-bit, one
 * vector). COMRESET through PxSCTL.DET, and a H2D FIS with the SRST bit,
 * reset the drive and post its signature.
 *
 * Commands run at once on the vCPU thread that writes PxCI, under the HBA's
 * lock, so a command is never in flight while the vCPUs are parked (TODO: a
 * worker per port, for guests that keep several ports busy at once). Every
 * address the guest gives is checked to lie in RAM; a command list, table or
 * PRDT outside it is a host bus fatal error (PxIS.HBFS), as on hardware.
 */
#include "vmm/dev/ahci.h"
#include "util/mem.h"
#include "vmm/dev/ata.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define ABAR      5
#define ABAR_SIZE 0x1000

/* HBA registers. */
#define HBA_CAP  0x00
#define HBA_GHC  0x04
#define HBA_IS   0x08
#define HBA_PI   0x0c
#define HBA_VS   0x10
#define HBA_CAP2 0x24

#define CAP_S64A (1u << 31)
#define CAP_SNCQ (1u << 30)
#define CAP_SAM  (1u << 18) /* AHCI only: no legacy IDE mode */
#define CAP_ISS1 (1u << 20) /* interface speed: Gen 1 */
#define GHC_HR   (1u << 0)
#define GHC_IE   (1u << 1)
#define GHC_AE   (1u << 31)

/* Port registers, at 0x100 + 0x80 * port. */
#define PORT_BASE 0x100
#define PORT_SIZE 0x80
#define PX_CLB    0x00
#define PX_CLBU   0x04
#define PX_FB     0x08
#define PX_FBU    0x0c
#define PX_IS     0x10
#define PX_IE     0x14
#define PX_CMD    0x18
#define PX_TFD    0x20
#define PX_SIG    0x24
#define PX_SSTS   0x28
#define PX_SCTL   0x2c
#define PX_SERR   0x30
#define PX_SACT   0x34
#define PX_CI     0x38
#define PX_SNTF   0x3c

#define CMD_ST    (1u << 0)
#define CMD_SUD   (1u << 1)
#define CMD_POD   (1u << 2)
#define CMD_CLO   (1u << 3)
#define CMD_FRE   (1u << 4)
#define CMD_FR    (1u << 14)
#define CMD_CR    (1u << 15)
#define CMD_ATAPI (1u << 24)
#define CMD_WRITABLE                                                                               \
    (CMD_ST | CMD_SUD | CMD_POD | CMD_FRE | CMD_ATAPI | (1u << 25) | (1u << 26) | (1u << 27) |     \
     0xf0000000u)

#define IS_DHRS (1u << 0)
#define IS_PSS  (1u << 1)
#define IS_SDBS (1u << 3)
#define IS_DPS  (1u << 5)
#define IS_PCS  (1u << 6)
#define IS_HBFS (1u << 29)
#define IS_TFES (1u << 30)
#define IS_MASK 0xfdc000ffu /* the bits that exist */

#define SSTS_PRESENT 0x113 /* device present, Gen 1, active */

/* FIS receive area offsets. */
#define RFIS_PIO 0x20
#define RFIS_D2H 0x40
#define RFIS_SDB 0x58

#define MAX_PRDT 1024

struct ahci_port {
    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
    struct ata_drive *drive; /* NULL: nothing on the port */
    bool halted;             /* a task file error: nothing runs until ST goes off */
    bool sig_sent;           /* the drive's first D2H FIS (signature) went out since reset */
};

struct ahci {
    struct pci_dev pci;
    struct vm *vm;
    pthread_mutex_t lock;
    uint32_t ghc, is;
    uint8_t msi_cap;
    struct ahci_port ports[AHCI_PORTS];
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* --- interrupts ------------------------------------------------------------------------------ */

/* The MSI capability's message when the guest enabled it. */
static bool msi_message(struct ahci *h, uint64_t *addr, uint32_t *data)
{
    pthread_mutex_lock(&h->pci.lock);
    const uint8_t *c = h->pci.cfg + h->msi_cap;
    bool on = c[2] & 1;
    *addr = le32(c + 4) | (uint64_t)le32(c + 8) << 32;
    *data = (uint32_t)(c[12] | c[13] << 8);
    pthread_mutex_unlock(&h->pci.lock);
    return on;
}

/* Recomputes IS and the interrupt line; notify: a new interrupt condition (MSI is sent for
 * it). Lock held. */
static void update_irq(struct ahci *h, bool notify)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->ports[i].is & h->ports[i].ie)
            h->is |= 1u << i;
    bool level = (h->ghc & GHC_IE) && h->is;
    uint64_t addr;
    uint32_t data;
    if (msi_message(h, &addr, &data)) {
        pci_intx_set(&h->pci, false);
        if (level && notify) {
            struct kvm_msi msi = {
                .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};
            if (ioctl(h->vm->kvm.vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
                log_warn("ahci: KVM_SIGNAL_MSI failed");
        }
        return;
    }
    pci_intx_set(&h->pci, level);
}

static void raise_port(struct ahci *h, struct ahci_port *p, uint32_t bits)
{
    p->is |= bits;
    update_irq(h, (bits & p->ie) != 0);
}

/* --- ports ----------------------------------------------------------------------------------- */

static void *ram(struct ahci *h, uint64_t gpa, uint64_t len)
{
    return guest_mem_ptr(&h->vm->mem, gpa, len);
}

/* Posts a FIS in the port's receive area (when FIS receive is on). */
static void post_fis(struct ahci *h, struct ahci_port *p, unsigned off, const uint8_t *fis,
                     unsigned len)
{
    if (!(p->cmd & CMD_FRE))
        return;
    uint8_t *dst = ram(h, ((uint64_t)p->fbu << 32 | p->fb) + off, len);
    if (!dst)
        return;
    guest_mem_mark_dirty(&h->vm->mem, dst, len);
    memcpy(dst, fis, len);
}

static void d2h_fis(uint8_t *f, uint8_t status, uint8_t error, uint32_t sig_or_count, bool irq)
{
    memset(f, 0, 20);
    f[0] = 0x34;
    f[1] = irq ? 0x40 : 0;
    f[2] = status;
    f[3] = error;
    f[12] = (uint8_t)sig_or_count;
    f[13] = (uint8_t)(sig_or_count >> 8);
}

/* The drive came out of reset: its signature in PxSIG, a D2H FIS carrying it, ready. */
static void port_signature(struct ahci *h, struct ahci_port *p)
{
    if (!p->drive)
        return;
    uint32_t sig = ata_drive_signature(p->drive);
    p->sig = sig;
    p->sig_sent = true;
    p->tfd = ATA_DRDY | ATA_DSC;
    uint8_t f[20];
    d2h_fis(f, (uint8_t)p->tfd, 1, 0, false);
    f[4] = (uint8_t)(sig >> 8); /* LBA low, mid, high; count */
    f[5] = (uint8_t)(sig >> 16);
    f[6] = (uint8_t)(sig >> 24);
    f[12] = (uint8_t)sig;
    post_fis(h, p, RFIS_D2H, f, 20);
    raise_port(h, p, IS_DHRS);
}

static void port_reset(struct ahci_port *p, bool hard)
{
    p->is = p->ie = p->serr = p->sact = p->ci = 0;
    p->halted = false;
    p->cmd &= ~(CMD_ST | CMD_CR | CMD_FRE | CMD_FR);
    if (hard) {
        p->clb = p->clbu = p->fb = p->fbu = p->sctl = 0;
        p->cmd = CMD_SUD | CMD_POD;
    }
    p->ssts = p->drive ? SSTS_PRESENT : 0;
    /* PxSIG is all ones until the drive's first D2H FIS arrives, which it sends once FIS
     * receive is on (QEMU's order: Linux and SeaBIOS read it after a COMRESET). */
    p->sig = 0xffffffffu;
    p->sig_sent = false;
    p->tfd = p->drive ? ATA_DRDY | ATA_DSC : 0x7f;
    if (p->drive && p->drive->cfg.cd)
        p->cmd |= CMD_ATAPI;
}

static void hba_reset(struct ahci *h)
{
    h->ghc = GHC_AE;
    h->is = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (h->ports[i].drive)
            ata_drive_reset(h->ports[i].drive);
        port_reset(&h->ports[i], true);
    }
    update_irq(h, false);
}

/* Runs command slot `slot` of port p. Lock held. */
static void run_slot(struct ahci *h, struct ahci_port *p, unsigned slot)
{
    uint64_t clb = (uint64_t)p->clbu << 32 | (p->clb & ~0x3ffu);
    uint8_t *hdr = ram(h, clb + 32ull * slot, 32);
    bool master;
    pthread_mutex_lock(&h->pci.lock);
    master = h->pci.cfg[0x04] & 0x04;
    pthread_mutex_unlock(&h->pci.lock);
    if (!hdr || !master) {
        p->halted = true;
        raise_port(h, p, IS_HBFS);
        return;
    }
    uint32_t dw0 = le32(hdr);
    unsigned cfl = dw0 & 0x1f, prdtl = dw0 >> 16;
    uint64_t ctba = (uint64_t)le32(hdr + 12) << 32 | (le32(hdr + 8) & ~0x7fu);
    uint8_t *table = ram(h, ctba, 0x80 + 16ull * prdtl);
    if (!table || prdtl > MAX_PRDT) {
        p->halted = true;
        raise_port(h, p, IS_HBFS);
        return;
    }
    uint8_t fis[64], acmd[16];
    memcpy(fis, table, sizeof(fis));
    memcpy(acmd, table + 0x40, sizeof(acmd));
    if (fis[0] != 0x27 || cfl < 5) { /* not a Register H2D FIS: the HBA drops it */
        p->halted = true;
        raise_port(h, p, IS_HBFS);
        return;
    }
    if (!(fis[1] & 0x80)) {
        /* Device control: SRST set resets the drive, cleared it posts the signature. */
        if (fis[15] & 0x04) {
            if (p->drive)
                ata_drive_reset(p->drive);
            p->tfd = ATA_BSY;
        } else {
            port_signature(h, p);
        }
        put_le32(hdr + 4, 0);
        return;
    }
    struct iovec *iov = xcalloc(prdtl ? prdtl : 1, sizeof(*iov));
    uint64_t total = 0;
    for (unsigned i = 0; i < prdtl; i++) {
        const uint8_t *e = table + 0x80 + 16 * i;
        uint64_t dba = (uint64_t)le32(e + 4) << 32 | (le32(e) & ~1u);
        uint32_t dbc = (le32(e + 12) & 0x3fffff) + 1;
        void *buf = ram(h, dba, dbc);
        if (!buf) {
            free(iov);
            p->halted = true;
            raise_port(h, p, IS_HBFS);
            return;
        }
        iov[i] = (struct iovec){buf, dbc};
        total += dbc;
    }
    struct ata_cmd c = {
        .fis = fis, .packet = acmd, .iov = iov, .iovcnt = (int)prdtl, .total = total};
    ata_execute(p->drive, &c);
    /* A read wrote guest RAM: tell a live migration (the buffers it filled). */
    uint64_t left = c.transferred;
    for (unsigned i = 0; i < prdtl && left && !(dw0 & 0x40); i++) {
        uint64_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
        guest_mem_mark_dirty(&h->vm->mem, iov[i].iov_base, n);
        left -= n;
    }
    free(iov);
    put_le32(hdr + 4, (uint32_t)c.transferred); /* PRDBC */
    p->tfd = (uint32_t)c.error << 8 | c.status;
    bool error = c.status & ATA_ERR;
    uint32_t bits = 0;
    uint8_t f[20];
    if (c.ncq && !error) {
        memset(f, 0, 8);
        f[0] = 0xa1;
        f[1] = 0x40;
        f[2] = c.status & 0x77;
        put_le32(f + 4, 1u << c.tag);
        post_fis(h, p, RFIS_SDB, f, 8);
        p->sact &= ~(1u << c.tag);
        bits |= IS_SDBS;
    } else {
        if (c.pio_in && !error) {
            memset(f, 0, 20);
            f[0] = 0x5f;
            f[1] = 0x20 | 0x40; /* device to host, interrupt */
            f[2] = c.status;
            f[3] = c.error;
            f[12] = (uint8_t)c.count;
            f[15] = c.status; /* E_Status */
            f[16] = (uint8_t)c.transferred;
            f[17] = (uint8_t)(c.transferred >> 8);
            post_fis(h, p, RFIS_PIO, f, 20);
            bits |= IS_PSS;
        }
        d2h_fis(f, c.status, c.error, c.count, true);
        f[4] = (uint8_t)c.lba;
        f[5] = (uint8_t)(c.lba >> 8);
        f[6] = (uint8_t)(c.lba >> 16);
        post_fis(h, p, RFIS_D2H, f, 20);
        bits |= IS_DHRS;
        if (c.ncq)
            p->sact &= ~(1u << c.tag);
    }
    if (error) {
        bits |= IS_TFES;
        p->halted = true; /* AHCI 6.2.2: the host recovers by turning ST off */
    }
    raise_port(h, p, bits);
}

/* Runs the issued commands of port p. Lock held. */
static void port_run(struct ahci *h, struct ahci_port *p)
{
    while ((p->cmd & CMD_ST) && !p->halted && p->ci) {
        unsigned slot = (unsigned)__builtin_ctz(p->ci);
        if (!p->drive)
            return; /* nothing answers: the command stays issued */
        run_slot(h, p, slot);
        if (p->halted && (p->is & IS_HBFS))
            break; /* the slot stays issued: the host sees it never ran */
        p->ci &= ~(1u << slot);
    }
}

/* --- registers ------------------------------------------------------------------------------- */

static uint32_t port_read(struct ahci_port *p, unsigned reg)
{
    switch (reg) {
    case PX_CLB:
        return p->clb;
    case PX_CLBU:
        return p->clbu;
    case PX_FB:
        return p->fb;
    case PX_FBU:
        return p->fbu;
    case PX_IS:
        return p->is;
    case PX_IE:
        return p->ie;
    case PX_CMD:
        return p->cmd;
    case PX_TFD:
        return p->tfd;
    case PX_SIG:
        return p->sig;
    case PX_SSTS:
        return p->ssts;
    case PX_SCTL:
        return p->sctl;
    case PX_SERR:
        return p->serr;
    case PX_SACT:
        return p->sact;
    case PX_CI:
        return p->ci;
    }
    return 0;
}

static void port_write(struct ahci *h, struct ahci_port *p, unsigned reg, uint32_t v)
{
    switch (reg) {
    case PX_CLB:
        p->clb = v & ~0x3ffu;
        return;
    case PX_CLBU:
        p->clbu = v;
        return;
    case PX_FB:
        p->fb = v & ~0xffu;
        return;
    case PX_FBU:
        p->fbu = v;
        return;
    case PX_IS:
        p->is &= ~v;
        update_irq(h, false);
        return;
    case PX_IE:
        p->ie = v & IS_MASK;
        update_irq(h, true);
        return;
    case PX_CMD: {
        uint32_t old = p->cmd;
        p->cmd = (old & ~CMD_WRITABLE) | (v & CMD_WRITABLE);
        if (v & CMD_CLO) /* command list override: clears BSY and DRQ */
            p->tfd &= ~(uint32_t)(ATA_BSY | ATA_DRQ);
        p->cmd = (p->cmd & ~(CMD_CR | CMD_FR)) | (p->cmd & CMD_ST ? CMD_CR : 0) |
                 (p->cmd & CMD_FRE ? CMD_FR : 0);
        if ((p->cmd & CMD_FRE) && !p->sig_sent)
            port_signature(h, p);
        if (!(p->cmd & CMD_ST) && (old & CMD_ST)) {
            p->ci = p->sact = 0; /* the engine stops: nothing stays issued */
            p->halted = false;
        }
        if ((p->cmd & CMD_ST) && p->drive)
            port_run(h, p);
        return;
    }
    case PX_SCTL: {
        uint32_t old = p->sctl;
        p->sctl = v & 0xfff;
        if ((v & 0xf) == 1 && (old & 0xf) != 1) { /* COMRESET begins */
            if (p->drive)
                ata_drive_reset(p->drive);
            p->ssts = 0;
            p->tfd = p->drive ? ATA_BSY : 0x7f;
        } else if ((v & 0xf) == 0 && (old & 0xf) == 1 && p->drive) { /* ... and ends */
            p->ssts = SSTS_PRESENT;
            p->serr |= 1u << 26; /* DIAG.X: exchanged (the link came up again) */
            port_signature(h, p);
        }
        return;
    }
    case PX_SERR:
        p->serr &= ~v;
        return;
    case PX_SACT:
        if (p->cmd & CMD_ST)
            p->sact |= v;
        return;
    case PX_CI:
        if (!(p->cmd & CMD_ST))
            return;
        p->ci |= v;
        port_run(h, p);
        return;
    }
}

static uint32_t hba_read(struct ahci *h, unsigned off)
{
    if (off >= PORT_BASE && off < PORT_BASE + PORT_SIZE * AHCI_PORTS)
        return port_read(&h->ports[(off - PORT_BASE) / PORT_SIZE], (off - PORT_BASE) % PORT_SIZE);
    switch (off) {
    case HBA_CAP:
        return CAP_S64A | CAP_SNCQ | CAP_SAM | CAP_ISS1 | (31u << 8) | (AHCI_PORTS - 1);
    case HBA_GHC:
        return h->ghc;
    case HBA_IS:
        return h->is;
    case HBA_PI:
        return (1u << AHCI_PORTS) - 1;
    case HBA_VS:
        return 0x00010000; /* 1.0, as QEMU says */
    }
    return 0;
}

static void hba_write(struct ahci *h, unsigned off, uint32_t v)
{
    if (off >= PORT_BASE && off < PORT_BASE + PORT_SIZE * AHCI_PORTS) {
        port_write(h, &h->ports[(off - PORT_BASE) / PORT_SIZE], (off - PORT_BASE) % PORT_SIZE, v);
        return;
    }
    switch (off) {
    case HBA_GHC:
        if (v & GHC_HR) {
            hba_reset(h);
            return;
        }
        h->ghc = GHC_AE | (v & GHC_IE);
        update_irq(h, true);
        return;
    case HBA_IS:
        h->is &= ~v;
        update_irq(h, false);
        return;
    }
}

static void abar_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    uint32_t v = hba_read(h, (unsigned)(offset & ~3ull));
    uint32_t hi = size == 8 ? hba_read(h, (unsigned)(offset & ~3ull) + 4) : 0;
    pthread_mutex_unlock(&h->lock);
    uint64_t all = ((uint64_t)hi << 32 | v) >> (8 * (offset & 3));
    for (unsigned i = 0; i < size; i++)
        data[i] = (uint8_t)(all >> (8 * i));
}

static void abar_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct ahci *h = opaque;
    if (size != 4 && size != 8)
        return; /* AHCI registers take dword accesses (1.3, 3: smaller ones are undefined) */
    if (offset & 3)
        return;
    pthread_mutex_lock(&h->lock);
    hba_write(h, (unsigned)offset, le32(data));
    if (size == 8)
        hba_write(h, (unsigned)offset + 4, le32(data + 4));
    pthread_mutex_unlock(&h->lock);
}

static const struct bus_ops abar_ops = {abar_read, abar_write};

/* --- the drives' side ---------------------------------------------------------------------- */

int ahci_attach(struct ahci *h, unsigned port, struct ata_drive *drive, struct verr *err)
{
    if (port >= AHCI_PORTS)
        return verr_set(err, EINVAL, "port %u: the controller has %u", port, AHCI_PORTS);
    pthread_mutex_lock(&h->lock);
    struct ahci_port *p = &h->ports[port];
    if (p->drive) {
        pthread_mutex_unlock(&h->lock);
        return verr_set(err, EEXIST, "port %u is taken", port);
    }
    p->drive = drive;
    port_reset(p, true);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

void ahci_detach(struct ahci *h, unsigned port)
{
    pthread_mutex_lock(&h->lock);
    h->ports[port].drive = NULL;
    port_reset(&h->ports[port], false);
    pthread_mutex_unlock(&h->lock);
}

/* --- the device ------------------------------------------------------------------------------ */

static int ahci_create(struct device *dev, struct verr *err)
{
    struct ahci *h = xcalloc(1, sizeof(*h));
    h->vm = dev->vm;
    pthread_mutex_init(&h->lock, NULL);
    /* QEMU's ich9-ahci: Intel 82801IR (ICH9R) SATA controller in AHCI mode, revision 2. */
    pci_dev_init(&h->pci, "ich9-ahci", 0x8086, 0x2922, 0x010601, 0x02, 0x1af4, 0x1100);
    h->pci.id = dev->cfg->id;
    h->pci.cfg[0x3d] = 1; /* interrupt pin A */
    pci_dev_set_bar(&h->pci, ABAR, ABAR_SIZE, false, &abar_ops, h);
    /* MSI: 64-bit address, one vector; enable, address and data are the guest's. */
    uint8_t msi[12] = {0x80, 0};
    h->msi_cap = pci_dev_add_cap(&h->pci, 0x05, msi, 14);
    h->pci.wmask[h->msi_cap + 2] = 0x01;
    memset(h->pci.wmask + h->msi_cap + 4, 0xff, 10);
    h->pci.wmask[h->msi_cap + 4] = 0xfc; /* the address is dword aligned */
    /* SATA capability (ICH9's: revision 1.0, registers in BAR 4's index-data pair, which
     * vireo-vmm leaves out: BAR offset 0 says none). */
    uint8_t sata[6] = {0x10, 0, 0, 0, 0, 0};
    pci_dev_add_cap(&h->pci, 0x12, sata, 8);
    hba_reset(h);
    int r = pci_dev_plug(dev->vm->pci, &h->pci, &dev->cfg->pci, err);
    if (r < 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return r;
    }
    dev->priv = h;
    dev->pci = &h->pci;
    return 0;
}

static void ahci_reset(struct device *dev)
{
    struct ahci *h = dev->priv;
    pci_dev_reset(&h->pci);
    pthread_mutex_lock(&h->pci.lock);
    h->pci.cfg[h->msi_cap + 2] &= (uint8_t)~1;
    pthread_mutex_unlock(&h->pci.lock);
    pthread_mutex_lock(&h->lock);
    hba_reset(h);
    pthread_mutex_unlock(&h->lock);
}

static void ahci_free(struct device *dev)
{
    struct ahci *h = dev->priv;
    pci_dev_release(&h->pci);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* --- state ---------------------------------------------------------------------------------- */

/* Records besides the function's ("pci.*"): "ahci.hba" (GHC, IS: le32 each) and
 * "ahci.ports" (per port: CLB, CLBU, FB, FBU, IS, IE, CMD, TFD, SIG, SSTS, SCTL, SERR, SACT,
 * CI and flags (halted 1, signature sent 2), le32 each). Commands run to their end under the
 * lock, so none is in flight in the stream. The drives' own state is in their sections. */
#define PORT_WORDS 15

static int ahci_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct ahci *h = dev->priv;
    uint8_t hba[8], ports[AHCI_PORTS * PORT_WORDS * 4];
    pthread_mutex_lock(&h->lock);
    put_le32(hba, h->ghc);
    put_le32(hba + 4, h->is);
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        const struct ahci_port *p = &h->ports[i];
        uint32_t v[PORT_WORDS] = {
            p->clb,  p->clbu, p->fb,   p->fbu, p->is,
            p->ie,   p->cmd,  p->tfd,  p->sig, p->ssts,
            p->sctl, p->serr, p->sact, p->ci,  (p->halted ? 1u : 0) | (p->sig_sent ? 2u : 0)};
        for (unsigned k = 0; k < PORT_WORDS; k++)
            put_le32(ports + 4 * (i * PORT_WORDS + k), v[k]);
    }
    pthread_mutex_unlock(&h->lock);
    int r = w->put(w, "ahci.hba", hba, sizeof(hba), err);
    if (r == 0)
        r = w->put(w, "ahci.ports", ports, sizeof(ports), err);
    return r < 0 ? r : pci_dev_save(&h->pci, w, err);
}

static int ahci_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct ahci *h = dev->priv;
    uint8_t hba[8], ports[AHCI_PORTS * PORT_WORDS * 4];
    int rc = r->get(r, "ahci.hba", hba, sizeof(hba), err);
    if (rc == 0)
        rc = r->get(r, "ahci.ports", ports, sizeof(ports), err);
    if (rc < 0)
        return rc;
    uint32_t ghc = le32(hba), is = le32(hba + 4);
    if ((ghc & ~(GHC_AE | GHC_IE)) != 0 || !(ghc & GHC_AE) || is >> AHCI_PORTS)
        return verr_set(err, EINVAL, "field 'ahci.hba': GHC 0x%x, IS 0x%x", ghc, is);
    struct ahci_port loaded[AHCI_PORTS];
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        uint32_t v[PORT_WORDS];
        for (unsigned k = 0; k < PORT_WORDS; k++)
            v[k] = le32(ports + 4 * (i * PORT_WORDS + k));
        struct ahci_port *p = &loaded[i];
        *p = (struct ahci_port){.clb = v[0] & ~0x3ffu,
                                .clbu = v[1],
                                .fb = v[2] & ~0xffu,
                                .fbu = v[3],
                                .is = v[4],
                                .ie = v[5],
                                .cmd = v[6],
                                .tfd = v[7],
                                .sig = v[8],
                                .ssts = v[9],
                                .sctl = v[10],
                                .serr = v[11],
                                .sact = v[12],
                                .ci = v[13],
                                .halted = v[14] & 1,
                                .sig_sent = v[14] & 2,
                                .drive = h->ports[i].drive};
        bool present = p->ssts == SSTS_PRESENT;
        if ((p->is & ~IS_MASK) || (p->ie & ~IS_MASK) || v[14] > 3 || p->sctl > 0xfff ||
            (p->ssts != 0 && !present) || (present && !p->drive) || (p->tfd >> 16))
            return verr_set(err, EINVAL,
                            "field 'ahci.ports': port %u's registers do not fit this controller "
                            "and its drives",
                            i);
    }
    rc = pci_dev_load(&h->pci, r, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&h->lock);
    h->ghc = ghc;
    h->is = is;
    memcpy(h->ports, loaded, sizeof(loaded));
    update_irq(h, false);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static const struct dev_type ich9_ahci_type = {
    .name = "ich9-ahci",
    .alias = "ahci",
    .desc = "ICH9 AHCI SATA controller, 6 ports (buses ID.0 to ID.5 for ide-hd and ide-cd)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_IDE,
    .user_creatable = true,
    .create = ahci_create,
    .reset = ahci_reset,
    .free = ahci_free,
    .state_version = 1,
    .save = ahci_save,
    .load = ahci_load,
};

const struct dev_type *const dev_types_ahci[] = {&ich9_ahci_type, NULL};
