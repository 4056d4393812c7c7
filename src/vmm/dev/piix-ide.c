/*
 * piix-ide.c - the pc machine's IDE function, QEMU's piix3-ide: PCI 00:01.1,
 * 8086:7010, class 01.01 with programming interface 0x80 (both channels in
 * legacy mode, bus-master capable). Two channels at the ISA legacy places
 * (primary: ports 0x1f0-0x1f7, device control 0x3f6, IRQ 14; secondary:
 * 0x170-0x177, 0x376, IRQ 15), each with a master and a slave drive (ide-hd,
 * ide-cd: ide-disk.c) answering the ATA/ATAPI command set of ata.c, the same
 * core AHCI's ports use. This file is only the parallel ATA transport:
 *
 *  - the task file (features, sector count, LBA low/mid/high with their
 *    "previous" bytes for 48-bit commands, device/head, command, status,
 *    alternate status, device control with nIEN, SRST and HOB). Writes go to
 *    both drives of a channel, reads come from the selected one, as on a real
 *    cable; a missing slave reads status 0 and an empty channel reads 0;
 *  - PIO data in and out through the data port (16 or 32 bits): an ATA
 *    command moves one DRQ block at a time (a sector, or SET MULTIPLE's count
 *    for READ/WRITE MULTIPLE), each block run through ata_execute as a 48-bit
 *    command for its part of the range; ATAPI's PACKET takes its 12-byte
 *    packet through the data port, then moves the reply (or the parameter
 *    data of a data-out packet) in pieces of at most the byte count limit
 *    the host wrote in LBA mid/high, with the interrupt reason in the sector
 *    count register;
 *  - bus-master DMA (BAR 4, 16 ports: per channel the command, status and
 *    PRD table address registers): READ/WRITE DMA (EXT) and PACKET with the
 *    DMA feature bit run when the host sets the start bit, their data in the
 *    guest memory the PRD table describes (checked to lie in RAM; anything
 *    else ends the transfer with the bus-master error bit).
 *
 * Commands run at once on the vCPU thread that writes the command or starts
 * the DMA, under the controller's lock (as ahci.c does), so nothing is in
 * flight while the vCPUs are parked. CHS addressing is not modelled: the
 * sector number registers are taken as LBA bits whatever the device
 * register's LBA bit says (SeaBIOS and Linux use LBA on drives that offer
 * it, as these do). TODO: CHS for guests that need it.
 */
#include "vmm/dev/piix-ide.h"
#include "util/mem.h"
#include "vmm/dev/ata.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BM_BAR      4
#define BM_SIZE     16
#define SECTOR      512u
#define PACKET_LEN  12
#define ATAPI_MAX   (8u << 20) /* the largest ATAPI transfer buffered for PIO */
#define MAX_PRD     4096       /* a PRD table is at most 64 KiB */
#define IRQ_PRIMARY 14

/* Task file register offsets (from the command block base). */
#define REG_DATA    0
#define REG_FEATURE 1 /* error on read */
#define REG_NSECTOR 2
#define REG_LBAL    3
#define REG_LBAM    4
#define REG_LBAH    5
#define REG_DEVICE  6
#define REG_COMMAND 7 /* status on read */

#define DEV_SLAVE 0x10
#define DEV_OBS   0xa0 /* the obsolete bits, read as set */
#define CTL_NIEN  0x02
#define CTL_SRST  0x04
#define CTL_HOB   0x80

/* ATAPI interrupt reason (sector count): C/D and I/O. */
#define IREASON_CD 0x01
#define IREASON_IO 0x02

/* Bus-master registers (per channel, 8 apart). */
#define BM_CMD       0
#define BM_STATUS    2
#define BM_PRD       4
#define BMC_START    0x01
#define BMC_WRITE    0x08 /* the device writes to memory (a read command) */
#define BMS_ACTIVE   0x01
#define BMS_ERROR    0x02
#define BMS_INTR     0x04
#define BMS_DMA_CAP  0x60 /* drive 0 and 1 DMA capable (software bits) */
#define PRD_EOT      0x80000000u
#define BMS_WRITABLE BMS_DMA_CAP

enum xfer {
    XFER_NONE,
    XFER_ATA_IN,   /* PIO data-in: buf holds the current block */
    XFER_ATA_OUT,  /* PIO data-out: buf fills with the current block */
    XFER_PACKET,   /* the host writes the 12-byte packet */
    XFER_ATAPI_IN, /* the packet's reply, in pieces of the byte count limit */
    XFER_ATAPI_OUT,
    XFER_DMA, /* a DMA command waits for the bus master's start */
};

/* A drive's registers: both drives of a channel see every task file write. */
struct ide_regs {
    uint8_t feature, nsector, lbal, lbam, lbah;
    uint8_t hob_feature, hob_nsector, hob_lbal, hob_lbam, hob_lbah;
    uint8_t device, status, error;
};

struct ide_channel {
    struct piix_ide *c;
    struct ata_drive *drive[PIIX_IDE_UNITS];
    struct ide_regs regs[PIIX_IDE_UNITS];
    unsigned unit; /* the selected drive */
    uint8_t ctl;   /* device control */
    bool intrq;    /* the selected drive's INTRQ (cleared by reading status) */
    bool line;     /* what the IRQ line is at */
    /* The command in progress. */
    enum xfer xfer;
    uint8_t cmd;
    uint8_t *buf;
    uint32_t buf_size, len, pos; /* buf's valid bytes (this DRQ block) and the data port's place */
    uint64_t lba;                /* ATA PIO: the next block's first sector */
    uint32_t left, block;        /* ATA PIO: sectors to go, per DRQ block */
    uint32_t total, done, bcl;   /* ATAPI PIO: the reply's bytes, those passed, byte count limit */
    uint8_t packet[16];
    uint8_t fis[20]; /* a DMA command's registers, kept until the start bit */
    /* Bus master. */
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prd;
};

struct piix_ide {
    struct pci_dev pci;
    struct vm *vm;
    pthread_mutex_t lock;
    struct ide_channel ch[PIIX_IDE_BUSES];
};

static const uint16_t cmd_base[PIIX_IDE_BUSES] = {0x1f0, 0x170};
static const uint16_t ctl_port[PIIX_IDE_BUSES] = {0x3f6, 0x376};

/* --- interrupts and status --------------------------------------------------------------- */

static unsigned channel_index(struct piix_ide *c, struct ide_channel *ch)
{
    return (unsigned)(ch - c->ch);
}

static void update_line(struct piix_ide *c, struct ide_channel *ch)
{
    bool level = ch->intrq && !(ch->ctl & CTL_NIEN);
    if (level == ch->line)
        return;
    ch->line = level;
    vm_set_irq(c->vm, IRQ_PRIMARY + channel_index(c, ch), level);
}

static void raise_irq(struct piix_ide *c, struct ide_channel *ch)
{
    ch->bm_status |= BMS_INTR;
    ch->intrq = true;
    update_line(c, ch);
}

static struct ide_regs *cur(struct ide_channel *ch)
{
    return &ch->regs[ch->unit];
}

static void set_status(struct ide_channel *ch, uint8_t status, uint8_t error)
{
    cur(ch)->status = status;
    cur(ch)->error = error;
}

static void end_xfer(struct ide_channel *ch)
{
    ch->xfer = XFER_NONE;
    ch->len = ch->pos = 0;
}

/* A drive's signature after power-on or reset (ATA8-ACS 9.12), QEMU's for a missing one. */
static void set_signature(struct ide_channel *ch, unsigned unit)
{
    struct ide_regs *r = &ch->regs[unit];
    struct ata_drive *d = ch->drive[unit];
    r->nsector = r->lbal = 1;
    r->lbam = r->lbah = d ? 0 : 0xff;
    if (d && d->cfg.cd) {
        r->lbam = 0x14;
        r->lbah = 0xeb;
    }
    r->error = 1; /* diagnostics passed */
    /* A CD-ROM drive is not ready for ATA commands after reset (QEMU's status 0). */
    r->status = !d ? 0 : d->cfg.cd ? 0 : ATA_DRDY | ATA_DSC;
}

static void channel_reset(struct ide_channel *ch, bool drives)
{
    end_xfer(ch);
    ch->intrq = false;
    for (unsigned u = 0; u < PIIX_IDE_UNITS; u++) {
        if (drives && ch->drive[u])
            ata_drive_reset(ch->drive[u]);
        set_signature(ch, u);
    }
}

static void *buffer(struct ide_channel *ch, uint32_t size)
{
    if (ch->buf_size < size) {
        free(ch->buf);
        ch->buf = xmalloc(size);
        ch->buf_size = size;
    }
    return ch->buf;
}

/* --- running commands through ata.c ---------------------------------------------------------- */

/* The H2D Register FIS of the registers the host wrote, for command cmd. */
static void make_fis(const struct ide_regs *r, uint8_t cmd, uint8_t *f)
{
    memset(f, 0, 20);
    f[0] = 0x27;
    f[1] = 0x80;
    f[2] = cmd;
    f[3] = r->feature;
    f[4] = r->lbal;
    f[5] = r->lbam;
    f[6] = r->lbah;
    f[7] = r->device;
    f[8] = r->hob_lbal;
    f[9] = r->hob_lbam;
    f[10] = r->hob_lbah;
    f[11] = r->hob_feature;
    f[12] = r->nsector;
    f[13] = r->hob_nsector;
}

static void run(struct ide_channel *ch, struct ata_cmd *c, const uint8_t *fis, void *data,
                uint64_t len)
{
    struct iovec iov = {data, len};
    c->fis = fis;
    c->packet = ch->packet;
    c->iov = &iov;
    c->iovcnt = len ? 1 : 0;
    c->total = len;
    if (!ch->drive[ch->unit]) {
        /* The guest selected the absent unit in the middle of a transfer: the command
         * ends in an abort instead of reaching a drive that is not there. */
        c->status = ATA_DRDY | ATA_ERR;
        c->error = ATA_ABRT;
        c->transferred = 0;
        return;
    }
    ata_execute(ch->drive[ch->unit], c);
}

/* A command's count/LBA outputs (a signature, CHECK POWER MODE's answer) in the task file. */
static void put_outputs(struct ide_channel *ch, const struct ata_cmd *c)
{
    if (!c->count && !c->lba)
        return;
    struct ide_regs *r = cur(ch);
    r->nsector = (uint8_t)c->count;
    r->lbal = (uint8_t)c->lba;
    r->lbam = (uint8_t)(c->lba >> 8);
    r->lbah = (uint8_t)(c->lba >> 16);
}

static void finish(struct piix_ide *c, struct ide_channel *ch, uint8_t status, uint8_t error)
{
    end_xfer(ch);
    set_status(ch, status, error);
    raise_irq(c, ch);
}

/* ATA PIO: runs the next block (a read fills buf; a write sends it). */
static bool ata_block(struct piix_ide *c, struct ide_channel *ch, bool write)
{
    uint32_t n = ch->left < ch->block ? ch->left : ch->block;
    uint8_t f[20];
    struct ide_regs r = {.device = 0x40};
    r.lbal = (uint8_t)ch->lba;
    r.lbam = (uint8_t)(ch->lba >> 8);
    r.lbah = (uint8_t)(ch->lba >> 16);
    r.hob_lbal = (uint8_t)(ch->lba >> 24);
    r.hob_lbam = (uint8_t)(ch->lba >> 32);
    r.hob_lbah = (uint8_t)(ch->lba >> 40);
    r.nsector = (uint8_t)n;
    r.hob_nsector = (uint8_t)(n >> 8);
    make_fis(&r, write ? ATA_WRITE_SECTORS_EXT : ATA_READ_SECTORS_EXT, f);
    struct ata_cmd ac = {0};
    run(ch, &ac, f, ch->buf, (uint64_t)n * SECTOR);
    if (ac.status & ATA_ERR) {
        finish(c, ch, ac.status, ac.error);
        return false;
    }
    ch->lba += n;
    ch->left -= n;
    return true;
}

/* ATA PIO: the next block is there to read, or room for the next block to write. */
static void ata_next_block(struct piix_ide *c, struct ide_channel *ch, bool write)
{
    uint32_t n = ch->left < ch->block ? ch->left : ch->block;
    ch->len = n * SECTOR;
    ch->pos = 0;
    if (!write && !ata_block(c, ch, false))
        return;
    set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
}

static void start_ata_pio(struct piix_ide *c, struct ide_channel *ch, uint8_t cmd)
{
    const struct ide_regs *r = cur(ch);
    bool ext = cmd == ATA_READ_SECTORS_EXT || cmd == ATA_WRITE_SECTORS_EXT ||
               cmd == ATA_READ_MULTIPLE_EXT || cmd == ATA_WRITE_MULTIPLE_EXT;
    bool multiple = cmd == ATA_READ_MULTIPLE || cmd == ATA_WRITE_MULTIPLE ||
                    cmd == ATA_READ_MULTIPLE_EXT || cmd == ATA_WRITE_MULTIPLE_EXT;
    bool write = cmd == ATA_WRITE_SECTORS || cmd == ATA_WRITE_SECTORS_EXT ||
                 cmd == ATA_WRITE_MULTIPLE || cmd == ATA_WRITE_MULTIPLE_EXT;
    struct ata_drive *d = ch->drive[ch->unit];
    if (d->cfg.cd) { /* a packet device aborts the disk command set (ata.c says the same) */
        finish(c, ch, ATA_DRDY | ATA_ERR, ATA_ABRT);
        return;
    }
    uint32_t count;
    if (ext) {
        ch->lba = (uint64_t)r->lbal | (uint64_t)r->lbam << 8 | (uint64_t)r->lbah << 16 |
                  (uint64_t)r->hob_lbal << 24 | (uint64_t)r->hob_lbam << 32 |
                  (uint64_t)r->hob_lbah << 40;
        count = r->nsector | (uint32_t)r->hob_nsector << 8;
        count = count ? count : 65536;
    } else {
        ch->lba = (uint64_t)r->lbal | (uint64_t)r->lbam << 8 | (uint64_t)r->lbah << 16 |
                  (uint64_t)(r->device & 0xf) << 24;
        count = r->nsector ? r->nsector : 256;
    }
    ch->block = 1;
    if (multiple) {
        pthread_mutex_lock(&d->lock);
        ch->block = d->multiple;
        pthread_mutex_unlock(&d->lock);
        if (!ch->block) { /* READ/WRITE MULTIPLE before SET MULTIPLE MODE */
            finish(c, ch, ATA_DRDY | ATA_ERR, ATA_ABRT);
            return;
        }
    }
    ch->left = count;
    ch->cmd = cmd;
    buffer(ch, ch->block * SECTOR);
    ch->xfer = write ? XFER_ATA_OUT : XFER_ATA_IN;
    ata_next_block(c, ch, write);
    if (ch->xfer != XFER_NONE && !write)
        raise_irq(c, ch); /* data-in: an interrupt for each block; data-out: none for the first */
}

/* ATAPI PIO: offers the next piece of the reply (in), or asks for the next (out), or ends. */
static void atapi_next_piece(struct piix_ide *c, struct ide_channel *ch)
{
    if (ch->done >= ch->total) {
        if (ch->xfer == XFER_ATAPI_OUT) { /* the parameter data is in: run the packet */
            uint8_t f[20];
            make_fis(cur(ch), ATA_PACKET, f);
            struct ata_cmd ac = {0};
            run(ch, &ac, f, ch->buf, ch->total);
            cur(ch)->nsector = IREASON_IO | IREASON_CD;
            finish(c, ch, ac.status, ac.error);
            return;
        }
        cur(ch)->nsector = IREASON_IO | IREASON_CD;
        finish(c, ch, ATA_DRDY | ATA_DSC, 0);
        return;
    }
    uint32_t piece = ch->total - ch->done;
    if (piece > ch->bcl)
        piece = ch->bcl;
    struct ide_regs *r = cur(ch);
    r->lbam = (uint8_t)piece;
    r->lbah = (uint8_t)(piece >> 8);
    r->nsector = ch->xfer == XFER_ATAPI_IN ? IREASON_IO : 0;
    ch->pos = ch->done;
    ch->len = ch->done + piece;
    set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
    raise_irq(c, ch);
}

static void run_dma(struct piix_ide *c, struct ide_channel *ch);

/* The packet is in (PIO): run it, or wait for the bus master when the host asked for DMA. */
static void atapi_packet(struct piix_ide *c, struct ide_channel *ch)
{
    struct ide_regs *r = cur(ch);
    if (r->feature & 1) {
        make_fis(r, ATA_PACKET, ch->fis);
        ch->xfer = XFER_DMA;
        set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
        if (ch->bm_cmd & BMC_START)
            run_dma(c, ch);
        return;
    }
    struct ata_drive *d = ch->drive[ch->unit];
    struct scsi_cdb cdb;
    scsi_cdb_decode(ch->packet, PACKET_LEN, d->lun.block_size, &cdb);
    uint64_t want = cdb.dir == SCSI_DIR_NONE ? 0 : cdb.xfer;
    uint32_t size = want > ATAPI_MAX ? ATAPI_MAX : (uint32_t)want; /* TODO: split larger reads */
    ch->bcl = r->lbam | (uint32_t)r->lbah << 8;
    if (ch->bcl == 0 || ch->bcl == 0xffff)
        ch->bcl = 0xfffe;
    ch->bcl &= ~1u; /* pieces of whole words */
    buffer(ch, size ? size : 1);
    ch->done = 0;
    if (cdb.dir == SCSI_DIR_OUT && size) {
        ch->xfer = XFER_ATAPI_OUT;
        ch->total = size;
        atapi_next_piece(c, ch);
        return;
    }
    uint8_t f[20];
    make_fis(r, ATA_PACKET, f);
    struct ata_cmd ac = {0};
    run(ch, &ac, f, ch->buf, size);
    if (ac.status & ATA_ERR) {
        r->nsector = IREASON_IO | IREASON_CD;
        finish(c, ch, ac.status, ac.error);
        return;
    }
    ch->xfer = XFER_ATAPI_IN;
    ch->total = (uint32_t)ac.transferred;
    atapi_next_piece(c, ch);
}

static bool is_dma(uint8_t cmd)
{
    return cmd == ATA_READ_DMA || cmd == ATA_WRITE_DMA || cmd == ATA_READ_DMA_EXT ||
           cmd == ATA_WRITE_DMA_EXT;
}

static bool is_pio(uint8_t cmd)
{
    switch (cmd) {
    case ATA_READ_SECTORS:
    case ATA_READ_SECTORS_EXT:
    case ATA_READ_MULTIPLE:
    case ATA_READ_MULTIPLE_EXT:
    case ATA_WRITE_SECTORS:
    case ATA_WRITE_SECTORS_EXT:
    case ATA_WRITE_MULTIPLE:
    case ATA_WRITE_MULTIPLE_EXT:
        return true;
    }
    return false;
}

static void command(struct piix_ide *c, struct ide_channel *ch, uint8_t cmd)
{
    if (!ch->drive[ch->unit])
        return; /* no drive answers: the command goes nowhere */
    end_xfer(ch);
    ch->intrq = false;
    update_line(c, ch);
    struct ide_regs *r = cur(ch);
    ch->cmd = cmd;
    struct ata_drive *d = ch->drive[ch->unit];
    if (is_pio(cmd)) {
        start_ata_pio(c, ch, cmd);
        return;
    }
    if (is_dma(cmd) && !d->cfg.cd) {
        make_fis(r, cmd, ch->fis);
        ch->xfer = XFER_DMA;
        set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
        if (ch->bm_cmd & BMC_START)
            run_dma(c, ch);
        return;
    }
    if (cmd == ATA_PACKET && d->cfg.cd) {
        ch->xfer = XFER_PACKET;
        ch->pos = 0;
        ch->len = PACKET_LEN;
        r->nsector = IREASON_CD;
        set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
        return;
    }
    /* Everything else moves no data, or (IDENTIFY) one block in. */
    uint8_t f[20];
    make_fis(r, cmd, f);
    struct ata_cmd ac = {0};
    run(ch, &ac, f, buffer(ch, SECTOR), SECTOR);
    put_outputs(ch, &ac);
    if (ac.pio_in && ac.transferred && !(ac.status & ATA_ERR)) {
        ch->xfer = XFER_ATA_IN;
        ch->left = 0;
        ch->pos = 0;
        ch->len = (uint32_t)ac.transferred;
        set_status(ch, ATA_DRDY | ATA_DSC | ATA_DRQ, 0);
        raise_irq(c, ch);
        return;
    }
    finish(c, ch, ac.status, ac.error);
}

/* The data port: the host read or wrote len bytes at ch->pos. */
static void data_done(struct piix_ide *c, struct ide_channel *ch)
{
    if (ch->pos < ch->len)
        return;
    switch (ch->xfer) {
    case XFER_ATA_IN:
        if (ch->left) {
            ata_next_block(c, ch, false);
            if (ch->xfer != XFER_NONE)
                raise_irq(c, ch);
        } else {
            end_xfer(ch);
            set_status(ch, ATA_DRDY | ATA_DSC, 0);
        }
        break;
    case XFER_ATA_OUT:
        if (!ata_block(c, ch, true))
            return;
        if (ch->left) {
            ata_next_block(c, ch, true);
            raise_irq(c, ch);
        } else {
            finish(c, ch, ATA_DRDY | ATA_DSC, 0);
        }
        break;
    case XFER_PACKET:
        end_xfer(ch);
        atapi_packet(c, ch);
        break;
    case XFER_ATAPI_IN:
    case XFER_ATAPI_OUT:
        ch->done = ch->len;
        atapi_next_piece(c, ch);
        break;
    default:
        break;
    }
}

static void data_read(struct piix_ide *c, struct ide_channel *ch, uint8_t *data, unsigned size)
{
    memset(data, 0xff, size);
    if (ch->xfer != XFER_ATA_IN && ch->xfer != XFER_ATAPI_IN)
        return;
    uint32_t n = ch->len - ch->pos < size ? ch->len - ch->pos : size;
    memcpy(data, ch->buf + ch->pos, n);
    ch->pos += n;
    data_done(c, ch);
}

static void data_write(struct piix_ide *c, struct ide_channel *ch, const uint8_t *data,
                       unsigned size)
{
    uint8_t *dst;
    switch (ch->xfer) {
    case XFER_PACKET:
        dst = ch->packet;
        break;
    case XFER_ATA_OUT:
    case XFER_ATAPI_OUT:
        dst = ch->buf;
        break;
    default:
        return;
    }
    uint32_t n = ch->len - ch->pos < size ? ch->len - ch->pos : size;
    memcpy(dst + ch->pos, data, n);
    ch->pos += n;
    data_done(c, ch);
}

/* --- bus-master DMA ----------------------------------------------------------------------------
 */

static void run_dma(struct piix_ide *c, struct ide_channel *ch)
{
    struct iovec *iov = xcalloc(MAX_PRD, sizeof(*iov));
    int n = 0;
    uint64_t total = 0;
    bool bad = false, eot = false;
    uint32_t prd = ch->bm_prd;
    bool to_memory = ch->bm_cmd & BMC_WRITE;
    while (!eot && n < MAX_PRD) {
        const uint8_t *e = guest_mem_ptr(&c->vm->mem, prd, 8);
        if (!e) {
            bad = true;
            break;
        }
        uint32_t addr = (uint32_t)(e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24) & ~1u;
        uint32_t len = (uint32_t)(e[4] | e[5] << 8);
        uint32_t flags =
            (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 | (uint32_t)e[7] << 24;
        len = len ? len & ~1u : 0x10000;
        eot = flags & PRD_EOT;
        void *p = guest_mem_ptr(&c->vm->mem, addr, len);
        if (!p) {
            bad = true;
            break;
        }
        if (to_memory)
            guest_mem_mark_dirty(&c->vm->mem, p, len);
        iov[n++] = (struct iovec){p, len};
        total += len;
        prd += 8;
    }
    struct ata_cmd ac = {
        .fis = ch->fis, .packet = ch->packet, .iov = iov, .iovcnt = n, .total = total};
    if (bad || !ch->drive[ch->unit]) { /* a bad PRD, or the absent unit selected since */
        ch->bm_status |= BMS_ERROR;
        ac.status = ATA_DRDY | ATA_ERR;
        ac.error = ATA_ABRT;
    } else {
        ata_execute(ch->drive[ch->unit], &ac);
    }
    free(iov);
    if (ch->fis[2] == ATA_PACKET)
        cur(ch)->nsector = IREASON_IO | IREASON_CD;
    /* The PRDs describe more than moved: the engine stays active (the host sees the short
     * transfer); exactly what they describe: it stops. */
    if (bad || ac.transferred >= total)
        ch->bm_status &= (uint8_t)~BMS_ACTIVE;
    else
        ch->bm_status |= BMS_ACTIVE;
    finish(c, ch, ac.status, ac.error);
}

static void bm_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct piix_ide *c = opaque;
    memset(data, 0, size);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < size && offset + i < BM_SIZE; i++) {
        struct ide_channel *ch = &c->ch[(offset + i) / 8];
        unsigned reg = (unsigned)(offset + i) % 8;
        if (reg == BM_CMD)
            data[i] = ch->bm_cmd;
        else if (reg == BM_STATUS)
            data[i] = ch->bm_status;
        else if (reg >= BM_PRD)
            data[i] = (uint8_t)(ch->bm_prd >> (8 * (reg - BM_PRD)));
    }
    pthread_mutex_unlock(&c->lock);
}

static void bm_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct piix_ide *c = opaque;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < size && offset + i < BM_SIZE; i++) {
        struct ide_channel *ch = &c->ch[(offset + i) / 8];
        unsigned reg = (unsigned)(offset + i) % 8;
        uint8_t v = data[i];
        if (reg == BM_CMD) {
            bool start = (v & BMC_START) && !(ch->bm_cmd & BMC_START);
            if (!(v & BMC_START))
                ch->bm_status &= (uint8_t)~BMS_ACTIVE; /* stopping aborts the engine */
            ch->bm_cmd = v & (BMC_START | BMC_WRITE);
            if (start) {
                ch->bm_status |= BMS_ACTIVE;
                if (ch->xfer == XFER_DMA)
                    run_dma(c, ch);
            }
        } else if (reg == BM_STATUS) {
            ch->bm_status =
                (uint8_t)((ch->bm_status & ~(BMS_WRITABLE | (v & (BMS_ERROR | BMS_INTR)))) |
                          (v & BMS_WRITABLE));
        } else if (reg >= BM_PRD) {
            unsigned shift = 8 * (reg - BM_PRD);
            ch->bm_prd = (ch->bm_prd & ~(0xffu << shift)) | (uint32_t)v << shift;
            ch->bm_prd &= ~3u;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static const struct bus_ops bm_ops = {bm_read, bm_write};

/* --- the task file ports ------------------------------------------------------------------- */

static bool empty(const struct ide_channel *ch)
{
    return !ch->drive[0] && !ch->drive[1];
}

static uint8_t tf_read(struct piix_ide *c, struct ide_channel *ch, unsigned reg)
{
    const struct ide_regs *r = cur(ch);
    bool hob = ch->ctl & CTL_HOB;
    bool absent = !ch->drive[ch->unit];
    if (empty(ch))
        return 0;
    switch (reg) {
    case REG_FEATURE:
        return absent && ch->unit ? 0 : hob ? r->hob_feature : r->error;
    case REG_NSECTOR:
        return hob ? r->hob_nsector : r->nsector;
    case REG_LBAL:
        return hob ? r->hob_lbal : r->lbal;
    case REG_LBAM:
        return hob ? r->hob_lbam : r->lbam;
    case REG_LBAH:
        return hob ? r->hob_lbah : r->lbah;
    case REG_DEVICE:
        return r->device;
    default:
        ch->intrq = false; /* reading status acknowledges the interrupt */
        update_line(c, ch);
        return absent ? 0 : r->status;
    }
}

static void tf_write(struct piix_ide *c, struct ide_channel *ch, unsigned reg, uint8_t v)
{
    if (reg == REG_COMMAND) {
        command(c, ch, v);
        return;
    }
    ch->ctl &= (uint8_t)~CTL_HOB; /* a write clears HOB (ATA8-ACS) */
    for (unsigned u = 0; u < PIIX_IDE_UNITS; u++) {
        struct ide_regs *r = &ch->regs[u];
        switch (reg) {
        case REG_FEATURE:
            r->hob_feature = r->feature;
            r->feature = v;
            break;
        case REG_NSECTOR:
            r->hob_nsector = r->nsector;
            r->nsector = v;
            break;
        case REG_LBAL:
            r->hob_lbal = r->lbal;
            r->lbal = v;
            break;
        case REG_LBAM:
            r->hob_lbam = r->lbam;
            r->lbam = v;
            break;
        case REG_LBAH:
            r->hob_lbah = r->lbah;
            r->lbah = v;
            break;
        case REG_DEVICE:
            r->device = v | DEV_OBS;
            break;
        }
    }
    if (reg == REG_DEVICE) {
        ch->unit = (v & DEV_SLAVE) ? 1 : 0;
        update_line(c, ch);
    }
}

static void cmd_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct ide_channel *ch = opaque;
    pthread_mutex_lock(&ch->c->lock);
    if (offset == REG_DATA) {
        data_read(ch->c, ch, data, size);
    } else {
        for (unsigned i = 0; i < size; i++)
            data[i] = offset + i < 8 ? tf_read(ch->c, ch, (unsigned)(offset + i)) : 0xff;
    }
    pthread_mutex_unlock(&ch->c->lock);
}

static void cmd_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct ide_channel *ch = opaque;
    pthread_mutex_lock(&ch->c->lock);
    if (offset == REG_DATA) {
        data_write(ch->c, ch, data, size);
    } else {
        for (unsigned i = 0; i < size && offset + i < 8; i++)
            tf_write(ch->c, ch, (unsigned)(offset + i), data[i]);
    }
    pthread_mutex_unlock(&ch->c->lock);
}

static void ctl_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct ide_channel *ch = opaque;
    (void)offset;
    memset(data, 0, size);
    pthread_mutex_lock(&ch->c->lock);
    /* Alternate status: the status without acknowledging the interrupt. */
    if (ch->drive[ch->unit])
        data[0] = cur(ch)->status;
    pthread_mutex_unlock(&ch->c->lock);
}

static void ctl_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct ide_channel *ch = opaque;
    (void)offset;
    (void)size;
    uint8_t v = data[0];
    pthread_mutex_lock(&ch->c->lock);
    if ((v & CTL_SRST) && !(ch->ctl & CTL_SRST)) {
        /* Software reset asserted: both drives busy until it is released. */
        end_xfer(ch);
        for (unsigned u = 0; u < PIIX_IDE_UNITS; u++)
            if (ch->drive[u])
                ch->regs[u].status = ATA_BSY | ATA_DSC;
    } else if (!(v & CTL_SRST) && (ch->ctl & CTL_SRST)) {
        channel_reset(ch, true);
    }
    ch->ctl = v;
    update_line(ch->c, ch);
    pthread_mutex_unlock(&ch->c->lock);
}

static const struct bus_ops cmd_ops = {cmd_read, cmd_write};
static const struct bus_ops ctl_ops = {ctl_read, ctl_write};

/* --- drives ---------------------------------------------------------------------------------- */

int piix_ide_attach(struct piix_ide *c, unsigned bus, unsigned unit, struct ata_drive *drive,
                    struct verr *err)
{
    if (bus >= PIIX_IDE_BUSES || unit >= PIIX_IDE_UNITS)
        return verr_set(err, EINVAL, "bus %u unit %u: the controller has buses 0-1, units 0-1", bus,
                        unit);
    pthread_mutex_lock(&c->lock);
    struct ide_channel *ch = &c->ch[bus];
    if (ch->drive[unit]) {
        pthread_mutex_unlock(&c->lock);
        return verr_set(err, EEXIST, "bus %u unit %u is taken", bus, unit);
    }
    ch->drive[unit] = drive;
    set_signature(ch, unit);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void piix_ide_detach(struct piix_ide *c, unsigned bus, unsigned unit)
{
    pthread_mutex_lock(&c->lock);
    struct ide_channel *ch = &c->ch[bus];
    if (ch->unit == unit)
        end_xfer(ch);
    ch->drive[unit] = NULL;
    set_signature(ch, unit);
    pthread_mutex_unlock(&c->lock);
}

/* --- the device ------------------------------------------------------------------------------ */

static void set_defaults(struct piix_ide *c)
{
    uint8_t *cfg = c->pci.cfg;
    cfg[0x04] = 0x00;
    cfg[0x05] = 0x00;
    cfg[0x06] = 0x80; /* fast back-to-back capable */
    cfg[0x07] = 0x02; /* DEVSEL medium */
    memset(cfg + 0x40, 0, 0x10);
}

struct piix_ide *piix_ide_new(struct vm *vm)
{
    struct piix_ide *c = xcalloc(1, sizeof(*c));
    c->vm = vm;
    pthread_mutex_init(&c->lock, NULL);
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        c->ch[i].c = c;
        channel_reset(&c->ch[i], false);
    }
    return c;
}

void piix_ide_delete(struct piix_ide *c)
{
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++)
        free(c->ch[i].buf);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void piix_ide_port(struct piix_ide *c, uint16_t port, uint8_t *data, unsigned size, bool write)
{
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        struct ide_channel *ch = &c->ch[i];
        if (port >= cmd_base[i] && port < cmd_base[i] + 8) {
            if (write)
                cmd_write(ch, port - cmd_base[i], data, size);
            else
                cmd_read(ch, port - cmd_base[i], data, size);
        } else if (port == ctl_port[i]) {
            if (write)
                ctl_write(ch, 0, data, size);
            else
                ctl_read(ch, 0, data, size);
        }
    }
}

void piix_ide_bm(struct piix_ide *c, uint64_t off, uint8_t *data, unsigned size, bool write)
{
    if (write)
        bm_write(c, off, data, size);
    else
        bm_read(c, off, data, size);
}

static int piix_ide_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct piix_ide *c = piix_ide_new(vm);
    pci_dev_init(&c->pci, PIIX_IDE_TYPE, 0x8086, 0x7010, 0x010180, 0x00, 0x1af4, 0x1100);
    c->pci.id = dev->cfg->id;
    set_defaults(c);
    memset(c->pci.wmask + 0x40, 0xff, 0x10); /* IDETIM, SIDETIM, UDMA control and timing */
    pci_dev_set_io_bar(&c->pci, BM_BAR, BM_SIZE, &bm_ops, c);
    int r = 0;
    unsigned done = 0;
    for (unsigned i = 0; i < PIIX_IDE_BUSES && r == 0; i++) {
        struct ide_channel *ch = &c->ch[i];
        r = bus_register(&vm->pio, cmd_base[i], 8, &cmd_ops, ch, "ide", err);
        if (r < 0)
            break;
        r = bus_register(&vm->pio, ctl_port[i], 1, &ctl_ops, ch, "ide-ctl", err);
        if (r < 0) {
            bus_unregister(&vm->pio, cmd_base[i]);
            break;
        }
        done++;
    }
    if (r == 0)
        r = pci_dev_add(vm->pci, &c->pci, PCI_DEVFN(1, 1), err);
    if (r < 0) {
        for (unsigned i = 0; i < done; i++) {
            bus_unregister(&vm->pio, cmd_base[i]);
            bus_unregister(&vm->pio, ctl_port[i]);
        }
        piix_ide_delete(c);
        return r;
    }
    c->pci.cfg[0x3d] = 0; /* legacy mode: IRQ 14 and 15, no INTx pin */
    dev->priv = c;
    dev->pci = &c->pci;
    return 0;
}

static void piix_ide_reset(struct device *dev)
{
    struct piix_ide *c = dev->priv;
    pthread_mutex_lock(&c->pci.lock);
    set_defaults(c);
    pthread_mutex_unlock(&c->pci.lock);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        struct ide_channel *ch = &c->ch[i];
        channel_reset(ch, false); /* the drives reset themselves (ide-disk.c) */
        ch->unit = 0;
        ch->ctl = 0;
        ch->bm_cmd = ch->bm_status = 0;
        ch->bm_prd = 0;
        update_line(c, ch);
    }
    pthread_mutex_unlock(&c->lock);
}

static void piix_ide_free(struct device *dev)
{
    struct piix_ide *c = dev->priv;
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        bus_unregister(&dev->vm->pio, cmd_base[i]);
        bus_unregister(&dev->vm->pio, ctl_port[i]);
    }
    pci_dev_release(&c->pci);
    piix_ide_delete(c);
}

/* --- state ------------------------------------------------------------------------------------ */

/* Per channel, record "ide.chN" (CHAN_REC bytes, little-endian): each drive's registers
 * (feature, count, LBA low/mid/high, their previous bytes, device, status, error: 13 each),
 * the selected unit, device control, INTRQ, the transfer kind, its command, len, pos, next
 * LBA (8), sectors left, block, ATAPI total, done, byte count limit, the packet (16), a
 * waiting DMA command's registers (20), the bus master's command, status and PRD address;
 * then "ide.bufN": the transfer's buffered data (len bytes for ATA, total for ATAPI). */
#define REGS_REC 13
#define CHAN_REC (2 * REGS_REC + 5 + 4 * 2 + 8 + 4 * 5 + 16 + 20 + 2 + 4)

static void put32(uint8_t **p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t **p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t) * (*p)++ << (8 * i);
    return v;
}

static void regs_out(const struct ide_regs *r, uint8_t *o)
{
    const uint8_t v[REGS_REC] = {
        r->feature,  r->nsector,  r->lbal,     r->lbam,   r->lbah,   r->hob_feature, r->hob_nsector,
        r->hob_lbal, r->hob_lbam, r->hob_lbah, r->device, r->status, r->error};
    memcpy(o, v, REGS_REC);
}

static void regs_in(struct ide_regs *r, const uint8_t *v)
{
    *r = (struct ide_regs){v[0], v[1], v[2], v[3],  v[4],  v[5], v[6],
                           v[7], v[8], v[9], v[10], v[11], v[12]};
}

/* How many bytes of buf a transfer of this kind keeps. */
static uint32_t buffered(const struct ide_channel *ch)
{
    switch (ch->xfer) {
    case XFER_ATA_IN:
    case XFER_ATA_OUT:
        return ch->len;
    case XFER_ATAPI_IN:
    case XFER_ATAPI_OUT:
        return ch->total;
    default:
        return 0;
    }
}

static int piix_ide_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct piix_ide *c = dev->priv;
    int r = 0;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < PIIX_IDE_BUSES && r == 0; i++) {
        const struct ide_channel *ch = &c->ch[i];
        uint8_t rec[CHAN_REC], *p = rec;
        for (unsigned u = 0; u < PIIX_IDE_UNITS; u++, p += REGS_REC)
            regs_out(&ch->regs[u], p);
        *p++ = (uint8_t)ch->unit;
        *p++ = ch->ctl;
        *p++ = ch->intrq;
        *p++ = (uint8_t)ch->xfer;
        *p++ = ch->cmd;
        put32(&p, ch->len);
        put32(&p, ch->pos);
        put32(&p, (uint32_t)ch->lba);
        put32(&p, (uint32_t)(ch->lba >> 32));
        put32(&p, ch->left);
        put32(&p, ch->block);
        put32(&p, ch->total);
        put32(&p, ch->done);
        put32(&p, ch->bcl);
        memcpy(p, ch->packet, 16);
        p += 16;
        memcpy(p, ch->fis, 20);
        p += 20;
        *p++ = ch->bm_cmd;
        *p++ = ch->bm_status;
        put32(&p, ch->bm_prd);
        char name[16];
        snprintf(name, sizeof(name), "ide.ch%u", i);
        r = w->put(w, name, rec, sizeof(rec), err);
        snprintf(name, sizeof(name), "ide.buf%u", i);
        if (r == 0)
            r = w->put(w, name, ch->buf, buffered(ch), err);
    }
    pthread_mutex_unlock(&c->lock);
    return r < 0 ? r : pci_dev_save(&c->pci, w, err);
}

/* Checks a loaded channel against what this controller and its drives can hold. */
static bool channel_fits(const struct ide_channel *ch, size_t buf_len)
{
    if (ch->unit > 1 || ch->xfer > XFER_DMA || (ch->bm_cmd & ~(BMC_START | BMC_WRITE)) ||
        (ch->bm_status & 0x98) || (ch->bm_prd & 3) || ch->pos > ch->len)
        return false;
    if (ch->xfer == XFER_NONE)
        return buf_len == 0;
    const struct ata_drive *d = ch->drive[ch->unit];
    if (!d)
        return false;
    switch (ch->xfer) {
    case XFER_ATA_IN:
    case XFER_ATA_OUT:
        /* a CD-ROM's only PIO data-in ATA command is IDENTIFY PACKET DEVICE (one block) */
        return (!d->cfg.cd || (ch->xfer == XFER_ATA_IN && !ch->left)) && ch->len <= 16 * SECTOR &&
               buf_len == ch->len && ch->block <= 16 && (ch->block || !ch->left);
    case XFER_PACKET:
        return d->cfg.cd && ch->len == PACKET_LEN && buf_len == 0;
    case XFER_ATAPI_IN:
    case XFER_ATAPI_OUT:
        return d->cfg.cd && ch->total <= ATAPI_MAX && buf_len == ch->total && ch->done <= ch->len &&
               ch->len <= ch->total && ch->bcl && !(ch->bcl & 1) && ch->bcl <= 0xfffe;
    default: /* XFER_DMA */
        return buf_len == 0 && (ch->fis[2] == ATA_PACKET ? d->cfg.cd : !d->cfg.cd);
    }
}

static int piix_ide_load(struct device *dev, struct dev_state_reader *rd, struct verr *err)
{
    struct piix_ide *c = dev->priv;
    struct ide_channel loaded[PIIX_IDE_BUSES];
    const uint8_t *bufs[PIIX_IDE_BUSES];
    size_t lens[PIIX_IDE_BUSES];
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        uint8_t rec[CHAN_REC];
        char name[16];
        snprintf(name, sizeof(name), "ide.ch%u", i);
        int rc = rd->get(rd, name, rec, sizeof(rec), err);
        snprintf(name, sizeof(name), "ide.buf%u", i);
        if (rc == 0)
            rc = rd->get_var(rd, name, &bufs[i], &lens[i], err);
        if (rc < 0)
            return rc;
        struct ide_channel *ch = &loaded[i];
        *ch = (struct ide_channel){.c = c};
        memcpy(ch->drive, c->ch[i].drive, sizeof(ch->drive));
        const uint8_t *p = rec;
        for (unsigned u = 0; u < PIIX_IDE_UNITS; u++, p += REGS_REC)
            regs_in(&ch->regs[u], p);
        ch->unit = *p++;
        ch->ctl = *p++;
        ch->intrq = *p++ & 1;
        ch->xfer = (enum xfer) * p++;
        ch->cmd = *p++;
        ch->len = get32(&p);
        ch->pos = get32(&p);
        ch->lba = get32(&p);
        ch->lba |= (uint64_t)get32(&p) << 32;
        ch->left = get32(&p);
        ch->block = get32(&p);
        ch->total = get32(&p);
        ch->done = get32(&p);
        ch->bcl = get32(&p);
        memcpy(ch->packet, p, 16);
        p += 16;
        memcpy(ch->fis, p, 20);
        p += 20;
        ch->bm_cmd = *p++;
        ch->bm_status = *p++;
        ch->bm_prd = get32(&p);
        if (!channel_fits(ch, lens[i]))
            return verr_set(err, EINVAL,
                            "field 'ide.ch%u': the channel's state does not fit this "
                            "controller and its drives",
                            i);
    }
    int rc = pci_dev_load(&c->pci, rd, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < PIIX_IDE_BUSES; i++) {
        struct ide_channel *ch = &c->ch[i];
        uint8_t *buf = ch->buf;
        uint32_t size = ch->buf_size;
        *ch = loaded[i];
        ch->buf = buf;
        ch->buf_size = size;
        if (lens[i])
            memcpy(buffer(ch, (uint32_t)lens[i]), bufs[i], lens[i]);
        ch->line = false;
        vm_set_irq(c->vm, IRQ_PRIMARY + i, 0);
        update_line(c, ch);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static const struct dev_type piix_ide_type = {
    .name = PIIX_IDE_TYPE,
    .desc = "PIIX3 IDE controller (pc's 01.1): buses ide.0 and ide.1, units 0 and 1",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_IDE,
    .singleton = true,
    .create = piix_ide_create,
    .reset = piix_ide_reset,
    .free = piix_ide_free,
    .state_version = 1,
    .save = piix_ide_save,
    .load = piix_ide_load,
};

const struct dev_type *const dev_types_piix_ide[] = {&piix_ide_type, NULL};
