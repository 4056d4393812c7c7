/*
 * ata.c - the ATA and ATAPI command sets of the drives on an AHCI port
 * (see ata.h): a command arrives as the registers of a H2D Register FIS and
 * leaves as status and error registers. A disk's reads and writes go to its
 * drive (blockdev.h) through the PRDT's buffers; a CD-ROM's packets go to
 * its MMC logical unit (scsi-lun.c, scsi-mmc.c), whose CHECK CONDITION
 * becomes ATAPI's ERR with the sense key in the error register and the sense
 * data kept for the REQUEST SENSE the host sends next (ATAPI has no
 * autosense).
 *
 * IDENTIFY data follows QEMU's ide-hd and ide-cd (model "QEMU HARDDISK" /
 * "QEMU DVD-ROM", firmware "2.5+", serial "QM000NN"), so a guest sees the
 * same drive under both VMMs.
 */
#include "vmm/dev/ata.h"
#include "util/log.h"
#include "vmm/dev/blockdev.h"
#include "vmm/backends.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SECTOR       512u
#define CHS_HEADS    16u
#define CHS_SECTORS  63u
#define MAX_MULTIPLE 16u

void ata_put_string(uint16_t *words, const char *s, unsigned len)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < len; i++) {
        uint8_t c = i < n ? (uint8_t)s[i] : ' ';
        uint16_t *w = &words[i / 2];
        if (i % 2 == 0)
            *w = (uint16_t)((*w & 0x00ff) | c << 8);
        else
            *w = (uint16_t)((*w & 0xff00) | c);
    }
}

/* QEMU's ATAPI drive reports no unit attention for a power-on or reset (only for a medium
 * change), unlike a SCSI unit: the same drive answers the same way under both VMMs. */
static void forget_reset(struct ata_drive *d)
{
    pthread_mutex_lock(&d->lun.lock);
    if (d->lun.ua.key == SENSE_UNIT_ATTENTION && d->lun.ua.asc == 0x29)
        d->lun.ua = SENSE_OK;
    pthread_mutex_unlock(&d->lun.lock);
}

void ata_drive_init(struct ata_drive *d, const struct ata_drive_config *cfg, struct blockdev *bdev,
                    const char *drive_id)
{
    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    d->bdev = bdev;
    if (cfg->serial)
        snprintf(d->serial, sizeof(d->serial), "%s", cfg->serial);
    else
        snprintf(d->serial, sizeof(d->serial), "QM%05u", cfg->index);
    snprintf(d->model, sizeof(d->model), "%s",
             cfg->model ? cfg->model
             : cfg->cd  ? "QEMU DVD-ROM"
                        : "QEMU HARDDISK");
    snprintf(d->ver, sizeof(d->ver), "%s", cfg->ver ? cfg->ver : "2.5+");
    d->cfg.serial = d->cfg.model = d->cfg.ver = NULL; /* the copies above are the drive's */
    pthread_mutex_init(&d->lock, NULL);
    d->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    d->wce = cfg->write_cache;
    if (cfg->cd) {
        struct scsi_lun_config lc = {
            .kind = SCSI_LUN_CD,
            .removable = true,
            .serial = d->serial,
            .vendor = "QEMU",
            .product = "QEMU DVD-ROM",
            .version = d->ver,
        };
        scsi_lun_init(&d->lun, &lc, bdev, drive_id);
        forget_reset(d);
    }
}

void ata_drive_destroy(struct ata_drive *d)
{
    if (d->cfg.cd)
        scsi_lun_destroy(&d->lun);
    pthread_mutex_destroy(&d->lock);
}

void ata_drive_reset(struct ata_drive *d)
{
    pthread_mutex_lock(&d->lock);
    d->wce = d->cfg.write_cache;
    d->multiple = 0;
    d->sense = SENSE_OK;
    pthread_mutex_unlock(&d->lock);
    if (d->cfg.cd) {
        scsi_lun_reset(&d->lun, true);
        forget_reset(d);
    }
}

uint32_t ata_drive_signature(const struct ata_drive *d)
{
    return d->cfg.cd ? ATA_SIG_ATAPI : ATA_SIG_DISK;
}

static void ok(struct ata_cmd *c)
{
    c->status = ATA_DRDY | ATA_DSC;
    c->error = 0;
}

static void fail(struct ata_cmd *c, uint8_t error)
{
    c->status = ATA_DRDY | ATA_ERR;
    c->error = error;
}

/* Copies len bytes of data into the command's buffers (at most its total). */
static void reply(struct ata_cmd *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t done = 0;
    for (int i = 0; i < c->iovcnt && done < len; i++) {
        size_t n = c->iov[i].iov_len < len - done ? c->iov[i].iov_len : len - done;
        memcpy(c->iov[i].iov_base, p + done, n);
        done += n;
    }
    c->transferred = done;
}

/* --- IDENTIFY ------------------------------------------------------------------------------- */

static void put32(uint16_t *w, uint32_t v)
{
    w[0] = (uint16_t)v;
    w[1] = (uint16_t)(v >> 16);
}

static void put_wwn(uint16_t *w, uint64_t wwn)
{
    for (int i = 0; i < 4; i++)
        w[i] = (uint16_t)(wwn >> (48 - 16 * i));
}

/* Word 255: signature 0xA5 and a checksum making the 512 bytes sum to zero. */
static void checksum(uint16_t *w)
{
    uint8_t sum = 0xa5;
    for (unsigned i = 0; i < 255; i++)
        sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
    w[255] = (uint16_t)(0xa5 | (uint8_t)(-sum) << 8);
}

static void identify_disk(struct ata_drive *d, uint16_t *w)
{
    uint64_t sectors = blockdev_size(d->bdev) / SECTOR;
    uint64_t cyls = sectors / (CHS_HEADS * CHS_SECTORS);
    if (cyls > 16383)
        cyls = 16383;
    if (cyls < 2)
        cyls = 2;
    pthread_mutex_lock(&d->lock);
    bool wce = d->wce;
    uint8_t multiple = d->multiple;
    pthread_mutex_unlock(&d->lock);
    w[0] = 0x0040; /* fixed device */
    w[1] = (uint16_t)cyls;
    w[3] = CHS_HEADS;
    w[4] = (uint16_t)(SECTOR * CHS_SECTORS);
    w[5] = SECTOR;
    w[6] = CHS_SECTORS;
    ata_put_string(w + 10, d->serial, ATA_SERIAL_LEN);
    w[20] = 3; /* buffer type, size, ECC bytes: as QEMU */
    w[21] = 512;
    w[22] = 4;
    ata_put_string(w + 23, d->ver, ATA_FW_LEN);
    ata_put_string(w + 27, d->model, ATA_MODEL_LEN);
    w[47] = 0x8000 | MAX_MULTIPLE;
    w[48] = 1;                               /* double-word I/O */
    w[49] = (1 << 11) | (1 << 9) | (1 << 8); /* IORDY, LBA, DMA */
    w[50] = 0x4000;
    w[51] = 0x200; /* PIO transfer cycle */
    w[52] = 0x200;
    w[53] = 1 | 2 | 4; /* words 54-58, 64-70 and 88 valid */
    w[54] = (uint16_t)cyls;
    w[55] = CHS_HEADS;
    w[56] = CHS_SECTORS;
    put32(w + 57, (uint32_t)(cyls * CHS_HEADS * CHS_SECTORS));
    w[59] = multiple ? (uint16_t)(0x100 | multiple) : 0;
    put32(w + 60, sectors > 0x0fffffff ? 0x0fffffff : (uint32_t)sectors);
    w[62] = 0x07;
    w[63] = 0x07;
    w[64] = 0x03;
    w[65] = w[66] = w[67] = w[68] = 120;
    if (d->cfg.ncq) {
        w[75] = 31;           /* queue depth - 1 */
        w[76] = (1 << 8) | 2; /* NCQ; 1.5 Gb/s */
    } else {
        w[76] = 2;
    }
    w[80] = 0xf0; /* ATA/ATAPI-4 to -7 */
    w[81] = 0x16;
    w[82] = (1 << 14) | (1 << 5) | 1; /* NOP, write cache, SMART-less as QEMU */
    w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10); /* FLUSH (EXT), 48-bit */
    w[84] = (uint16_t)((1 << 14) | (d->cfg.wwn ? 1 << 8 : 0));
    w[85] = (uint16_t)((1 << 14) | (wce ? 1 << 5 : 0) | 1);
    w[86] = (1 << 13) | (1 << 12) | (1 << 10);
    w[87] = (uint16_t)((1 << 14) | (d->cfg.wwn ? 1 << 8 : 0));
    w[88] = 0x3f | (1 << 13); /* UDMA 0-5, mode 5 selected */
    w[93] = 1 | (1 << 14) | 0x2000;
    put32(w + 100, (uint32_t)sectors);
    put32(w + 102, (uint32_t)(sectors >> 32));
    w[106] = 0x4000; /* one logical sector per physical sector */
    if (d->cfg.wwn)
        put_wwn(w + 108, d->cfg.wwn);
    w[217] = d->cfg.rotation_rate;
    checksum(w);
}

static void identify_packet(struct ata_drive *d, uint16_t *w)
{
    /* ATAPI, CD-ROM (type 5), removable, DRQ within 50 us, 12-byte packets */
    w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);
    ata_put_string(w + 10, d->serial, ATA_SERIAL_LEN);
    w[20] = 3;
    w[21] = 512;
    w[22] = 4;
    ata_put_string(w + 23, d->ver, ATA_FW_LEN);
    ata_put_string(w + 27, d->model, ATA_MODEL_LEN);
    w[48] = 1;
    w[49] = (1 << 9) | (1 << 8); /* LBA, DMA */
    w[53] = 7;
    w[62] = 7;
    w[63] = 7;
    w[64] = 3;
    w[65] = w[66] = w[67] = w[68] = 0xb4;
    w[71] = 30;
    w[72] = 30;
    w[76] = 2;
    w[80] = 0x1e;                 /* ATAPI-1 to -4 */
    w[82] = (1 << 14) | (1 << 4); /* NOP, PACKET */
    w[83] = 1 << 14;
    w[84] = (uint16_t)((1 << 14) | (d->cfg.wwn ? 1 << 8 : 0));
    w[85] = (1 << 14) | (1 << 4);
    w[87] = (uint16_t)((1 << 14) | (d->cfg.wwn ? 1 << 8 : 0));
    w[88] = 0x3f | (1 << 13);
    if (d->cfg.wwn)
        put_wwn(w + 108, d->cfg.wwn);
    checksum(w);
}

static void identify(struct ata_drive *d, struct ata_cmd *c, bool packet)
{
    if (packet != d->cfg.cd) {
        /* A packet device aborts IDENTIFY DEVICE with its signature in the registers, so the
         * host learns it is ATAPI (and a disk aborts IDENTIFY PACKET DEVICE). */
        fail(c, ATA_ABRT);
        if (d->cfg.cd) {
            c->count = 1;
            c->lba = ATA_SIG_ATAPI >> 8;
        }
        return;
    }
    uint16_t w[256] = {0};
    if (packet)
        identify_packet(d, w);
    else
        identify_disk(d, w);
    uint8_t bytes[512];
    for (unsigned i = 0; i < 256; i++) {
        bytes[2 * i] = (uint8_t)w[i];
        bytes[2 * i + 1] = (uint8_t)(w[i] >> 8);
    }
    reply(c, bytes, sizeof(bytes));
    c->pio_in = true;
    ok(c);
}

/* --- reads and writes ---------------------------------------------------------------------- */

struct ata_rw {
    uint64_t lba, count;
    bool write, fua;
};

static uint64_t fis_lba48(const uint8_t *f)
{
    return (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)f[8] << 24 |
           (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
}

static uint64_t fis_lba28(const uint8_t *f)
{
    return (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
           (uint64_t)(f[7] & 0xf) << 24;
}

bool ata_fis_ncq(const uint8_t *fis, unsigned *tag)
{
    if (fis[2] != ATA_READ_FPDMA_QUEUED && fis[2] != ATA_WRITE_FPDMA_QUEUED)
        return false;
    *tag = fis[12] >> 3;
    return true;
}

/* The iovecs covering the first len bytes of c's buffers into out (at most max); returns
 * their count, or -1 when the buffers hold fewer than len bytes or need more entries. */
static int trim_iov(const struct ata_cmd *c, uint64_t len, struct iovec *out, int max)
{
    uint64_t left = len;
    int n = 0;
    for (int i = 0; i < c->iovcnt && left; i++) {
        if (n == max)
            return -1;
        size_t l = c->iov[i].iov_len < left ? c->iov[i].iov_len : (size_t)left;
        out[n++] = (struct iovec){c->iov[i].iov_base, l};
        left -= l;
    }
    return left ? -1 : n;
}

static void io_error(struct ata_drive *d, const char *what, struct verr *err)
{
    pthread_mutex_lock(&d->lock);
    bool say = ratelimit_allow(&d->rl, monotonic_ns());
    pthread_mutex_unlock(&d->lock);
    if (say)
        log_warn("ide drive '%s': %s: %s", d->bdev->drive->id, what, verr_msg(err));
}

#define MAX_IOV 1024

static void do_rw(struct ata_drive *d, struct ata_cmd *c, const struct ata_rw *rw)
{
    uint64_t start = monotonic_ns();
    enum blockdev_acct kind = rw->write ? BLOCKDEV_ACCT_WRITE : BLOCKDEV_ACCT_READ;
    uint64_t sectors = blockdev_size(d->bdev) / SECTOR;
    uint64_t bytes = rw->count * SECTOR;
    if (rw->lba > sectors || rw->count > sectors - rw->lba) {
        blockdev_account(d->bdev, kind, rw->lba * SECTOR, bytes, start, 1);
        fail(c, ATA_IDNF | ATA_ABRT);
        return;
    }
    struct iovec iov[MAX_IOV];
    int n = trim_iov(c, bytes, iov, MAX_IOV);
    if (n < 0) { /* the PRDT describes less than the sectors asked for */
        blockdev_account(d->bdev, kind, rw->lba * SECTOR, bytes, start, 1);
        fail(c, ATA_ABRT);
        return;
    }
    struct verr err = {0};
    int r;
    if (rw->write) {
        r = blockdev_pwritev(d->bdev, iov, n, rw->lba * SECTOR, &err);
        pthread_mutex_lock(&d->lock);
        bool wce = d->wce;
        pthread_mutex_unlock(&d->lock);
        if (r == 0 && (rw->fua || !wce))
            r = blockdev_flush(d->bdev, &err);
    } else {
        r = blockdev_preadv(d->bdev, iov, n, rw->lba * SECTOR, &err);
    }
    blockdev_account(d->bdev, kind, rw->lba * SECTOR, bytes, start, r < 0 ? r : 0);
    if (r < 0) {
        io_error(d, rw->write ? "write" : "read", &err);
        fail(c, r == -EROFS ? ATA_ABRT : rw->write ? ATA_ABRT : ATA_UNC);
        return;
    }
    c->transferred = bytes;
    ok(c);
}

static void do_verify(struct ata_drive *d, struct ata_cmd *c, uint64_t lba, uint64_t count)
{
    uint64_t sectors = blockdev_size(d->bdev) / SECTOR;
    if (lba > sectors || count > sectors - lba)
        fail(c, ATA_IDNF | ATA_ABRT);
    else
        ok(c);
}

static void do_flush(struct ata_drive *d, struct ata_cmd *c)
{
    uint64_t start = monotonic_ns();
    struct verr err = {0};
    int r = blockdev_flush(d->bdev, &err);
    blockdev_account(d->bdev, BLOCKDEV_ACCT_FLUSH, 0, 0, start, r);
    if (r < 0) {
        io_error(d, "flush", &err);
        fail(c, ATA_ABRT);
        return;
    }
    ok(c);
}

static void set_features(struct ata_drive *d, struct ata_cmd *c)
{
    uint8_t sub = c->fis[3];
    switch (sub) {
    case 0x02: /* enable write cache */
    case 0x82: /* disable write cache */
        if (d->cfg.cd)
            break;
        pthread_mutex_lock(&d->lock);
        d->wce = sub == 0x02;
        pthread_mutex_unlock(&d->lock);
        ok(c);
        return;
    case 0x03: /* set transfer mode: every PIO, multiword and UDMA mode is the same here */
    case 0x05: /* advanced power management */
    case 0x42: /* acoustic management */
    case 0x55: /* read look-ahead off */
    case 0x66: /* keep settings over a reset */
    case 0x85:
    case 0xaa: /* read look-ahead on */
    case 0xc2:
    case 0xcc:
        ok(c);
        return;
    }
    fail(c, ATA_ABRT);
}

/* --- ATAPI ---------------------------------------------------------------------------------- */

static void packet(struct ata_drive *d, struct ata_cmd *c)
{
    struct scsi_cmd sc = {0};
    memcpy(sc.cdb_bytes, c->packet, 12);
    sc.cdb_len = 12;
    scsi_cdb_decode(sc.cdb_bytes, 12, d->lun.block_size, &sc.cdb);
    /* ATAPI has no autosense: REQUEST SENSE answers the last CHECK CONDITION's sense. */
    pthread_mutex_lock(&d->lock);
    struct scsi_sense kept = d->sense;
    d->sense = SENSE_OK;
    pthread_mutex_unlock(&d->lock);
    if (sc.cdb.opcode == SCSI_REQUEST_SENSE && sc.cdb.known && kept.key) {
        uint8_t s[SCSI_SENSE_LEN];
        scsi_sense_fixed(kept, s);
        size_t len = sc.cdb.xfer < sizeof(s) ? (size_t)sc.cdb.xfer : sizeof(s);
        reply(c, s, len);
        ok(c);
        c->count = 3; /* interrupt reason: I/O, C/D: command completed */
        return;
    }
    struct iovec iov[MAX_IOV];
    uint64_t len = sc.cdb.dir == SCSI_DIR_NONE ? 0 : sc.cdb.xfer;
    if (len > c->total)
        len = c->total; /* the host's buffers bound the transfer */
    int n = trim_iov(c, len, iov, MAX_IOV);
    if (n < 0) {
        sc.status = SCSI_CHECK_CONDITION;
        sc.sense = SENSE_INVALID_FIELD;
    } else {
        sc.iov = iov;
        sc.iovcnt = n;
        sc.data_len = len;
        if (scsi_lun_start(&d->lun, &sc) == SCSI_IO) {
            if (len != sc.cdb.xfer) /* a READ whose buffers are smaller than its blocks */
                scsi_cmd_fail(&sc, SENSE_INVALID_FIELD);
            else
                scsi_lun_run_io(&d->lun, &sc);
        }
    }
    c->count = 3;
    if (sc.status == SCSI_GOOD) {
        c->transferred = sc.transferred;
        ok(c);
        return;
    }
    pthread_mutex_lock(&d->lock);
    d->sense = sc.sense;
    pthread_mutex_unlock(&d->lock);
    c->status = ATA_DRDY | ATA_ERR;
    c->error =
        (uint8_t)(sc.sense.key << 4 | (sc.sense.key == SENSE_ILLEGAL_REQUEST ? ATA_ABRT : 0));
    c->transferred = 0;
}

/* --- dispatch ------------------------------------------------------------------------------- */

void ata_execute(struct ata_drive *d, struct ata_cmd *c)
{
    const uint8_t *f = c->fis;
    uint8_t op = f[2];
    bool cd = d->cfg.cd;
    c->transferred = 0;
    c->pio_in = false;
    c->count = 0;
    c->lba = 0;
    c->ncq = false;
    struct ata_rw rw = {0};
    switch (op) {
    case ATA_IDENTIFY:
    case ATA_IDENTIFY_PACKET:
        identify(d, c, op == ATA_IDENTIFY_PACKET);
        return;
    case ATA_PACKET:
        if (!cd)
            break;
        packet(d, c);
        return;
    case ATA_DEVICE_RESET:
        if (!cd)
            break;
        ata_drive_reset(d);
        ok(c);
        c->count = 1;
        c->lba = ATA_SIG_ATAPI >> 8;
        return;
    case ATA_CHECK_POWER_MODE:
        ok(c);
        c->count = 0xff; /* active or idle */
        return;
    case ATA_STANDBY_IMMEDIATE:
    case ATA_IDLE_IMMEDIATE:
    case ATA_STANDBY:
    case ATA_IDLE:
        ok(c);
        return;
    case ATA_SET_FEATURES:
        set_features(d, c);
        return;
    }
    if (cd) { /* the rest is the disk's command set */
        fail(c, ATA_ABRT);
        return;
    }
    switch (op) {
    case ATA_READ_DMA:
    case ATA_READ_SECTORS:
    case ATA_READ_MULTIPLE:
    case ATA_WRITE_DMA:
    case ATA_WRITE_SECTORS:
    case ATA_WRITE_MULTIPLE:
        rw.lba = fis_lba28(f);
        rw.count = f[12] ? f[12] : 256;
        rw.write = op == ATA_WRITE_DMA || op == ATA_WRITE_SECTORS || op == ATA_WRITE_MULTIPLE;
        c->pio_in = op == ATA_READ_SECTORS || op == ATA_READ_MULTIPLE;
        do_rw(d, c, &rw);
        return;
    case ATA_READ_DMA_EXT:
    case ATA_READ_SECTORS_EXT:
    case ATA_READ_MULTIPLE_EXT:
    case ATA_WRITE_DMA_EXT:
    case ATA_WRITE_SECTORS_EXT:
    case ATA_WRITE_MULTIPLE_EXT: {
        unsigned n = f[12] | (unsigned)f[13] << 8;
        rw.lba = fis_lba48(f);
        rw.count = n ? n : 65536;
        rw.write =
            op == ATA_WRITE_DMA_EXT || op == ATA_WRITE_SECTORS_EXT || op == ATA_WRITE_MULTIPLE_EXT;
        c->pio_in = op == ATA_READ_SECTORS_EXT || op == ATA_READ_MULTIPLE_EXT;
        do_rw(d, c, &rw);
        return;
    }
    case ATA_READ_FPDMA_QUEUED:
    case ATA_WRITE_FPDMA_QUEUED: {
        if (!d->cfg.ncq)
            break;
        unsigned n = f[3] | (unsigned)f[11] << 8;
        rw.lba = fis_lba48(f);
        rw.count = n ? n : 65536;
        rw.write = op == ATA_WRITE_FPDMA_QUEUED;
        rw.fua = f[7] & 0x80;
        c->ncq = true;
        c->tag = f[12] >> 3;
        do_rw(d, c, &rw);
        return;
    }
    case ATA_READ_VERIFY:
        do_verify(d, c, fis_lba28(f), f[12] ? f[12] : 256);
        return;
    case ATA_READ_VERIFY_EXT: {
        unsigned n = f[12] | (unsigned)f[13] << 8;
        do_verify(d, c, fis_lba48(f), n ? n : 65536);
        return;
    }
    case ATA_FLUSH_CACHE:
    case ATA_FLUSH_CACHE_EXT:
        do_flush(d, c);
        return;
    case ATA_SET_MULTIPLE: {
        uint8_t m = f[12];
        if (m > MAX_MULTIPLE || (m & (m - 1))) { /* 0 (off) or a power of two up to 16 */
            fail(c, ATA_ABRT);
            return;
        }
        pthread_mutex_lock(&d->lock);
        d->multiple = m;
        pthread_mutex_unlock(&d->lock);
        ok(c);
        return;
    }
    case ATA_INIT_DEV_PARAMS:
        ok(c);
        return;
    }
    fail(c, ATA_ABRT); /* NOP, DATA SET MANAGEMENT (TRIM: TODO) and everything unknown */
}
