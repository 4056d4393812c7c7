/*
 * scsi-lun.c - one SCSI logical unit, disk (SBC) or CD-ROM (MMC): unit
 * attentions, the SPC commands, capacity, and the media access commands
 * through its drive (see scsi.h for the command list and the threads). The
 * CD-ROM's own commands are in scsi-mmc.c.
 *
 * What a guest sees follows QEMU's scsi-hd/scsi-cd (vendor "QEMU", products
 * "QEMU HARDDISK" and "QEMU CD-ROM", version "2.5+", SPC-3, the same VPD
 * pages and mode pages), so guests and their installers that key on that
 * identity behave the same under both. Differences, on purpose: a CD-ROM
 * without a medium says whether its tray is open (NOT READY, 3A/01 tray
 * closed, 3A/02 tray open, as MMC-6 asks and Linux's sr reads to report
 * CDS_TRAY_OPEN), where QEMU says 3A/00 for both.
 */
#include "vmm/dev/scsi.h"
#include "util/mem.h"
#include "vmm/dev/blockdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UNMAP_BLOCKS      0x400000u /* per descriptor and per WRITE SAME (2 GiB of 512) */
#define MAX_UNMAP_DESCRIPTORS 255u
#define MAX_TRANSFER_BLOCKS   0xffffu
#define PARAM_MAX             4096u /* longest parameter list read (MODE SELECT, UNMAP) */
#define CHUNK                 (64u * 1024u)

/* --- replies ------------------------------------------------------------------------------ */

void scsi_cmd_fail(struct scsi_cmd *cmd, struct scsi_sense sense)
{
    cmd->status = SCSI_CHECK_CONDITION;
    cmd->sense = sense;
    cmd->transferred = 0;
}

static uint64_t copy_to_iov(const struct iovec *iov, int iovcnt, const void *src, uint64_t len)
{
    uint64_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        uint64_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
        memcpy(iov[i].iov_base, (const uint8_t *)src + done, n);
        done += n;
    }
    return done;
}

static uint64_t copy_from_iov(const struct iovec *iov, int iovcnt, uint64_t off, void *dst,
                              uint64_t len)
{
    uint64_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        uint64_t n = iov[i].iov_len - off < len - done ? iov[i].iov_len - off : len - done;
        memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

void scsi_cmd_reply(struct scsi_cmd *cmd, const void *data, size_t len)
{
    uint64_t n = len;
    if (n > cmd->cdb.xfer)
        n = cmd->cdb.xfer;
    if (n > cmd->data_len)
        n = cmd->data_len;
    cmd->transferred = copy_to_iov(cmd->iov, cmd->iovcnt, data, n);
    cmd->status = SCSI_GOOD;
}

size_t scsi_cmd_read_params(const struct scsi_cmd *cmd, void *buf, size_t len)
{
    uint64_t n = len;
    if (n > cmd->cdb.xfer)
        n = cmd->cdb.xfer;
    if (n > cmd->data_len)
        n = cmd->data_len;
    return (size_t)copy_from_iov(cmd->iov, cmd->iovcnt, 0, buf, n);
}

static void good(struct scsi_cmd *cmd)
{
    cmd->status = SCSI_GOOD;
    cmd->transferred = 0;
}

/* --- the unit ----------------------------------------------------------------------------- */

static void pad(char *dst, size_t n, const char *src)
{
    memset(dst, ' ', n);
    size_t len = strnlen(src, n);
    memcpy(dst, src, len);
    dst[n] = '\0';
}

void scsi_lun_init(struct scsi_lun *lun, const struct scsi_lun_config *cfg, struct blockdev *bdev,
                   const char *drive_id)
{
    memset(lun, 0, sizeof(*lun));
    lun->cfg = *cfg;
    if (cfg->kind == SCSI_LUN_CD)
        lun->cfg.removable = true;
    lun->bdev = bdev;
    lun->block_size = cfg->kind == SCSI_LUN_CD ? 2048 : 512;
    pad(lun->vendor, 8, cfg->vendor ? cfg->vendor : "QEMU");
    pad(lun->product, 16,
        cfg->product               ? cfg->product
        : cfg->kind == SCSI_LUN_CD ? "QEMU CD-ROM"
                                   : "QEMU HARDDISK");
    pad(lun->version, 4, cfg->version ? cfg->version : "2.5+");
    const char *id = cfg->device_id ? cfg->device_id : cfg->serial ? cfg->serial : drive_id;
    snprintf(lun->device_id, sizeof(lun->device_id), "%s", id ? id : "");
    pthread_mutex_init(&lun->lock, NULL);
    lun->ua = SENSE_UA_RESET; /* power on */
    lun->wce = lun->wce_default = cfg->write_cache;
    lun->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
}

void scsi_lun_destroy(struct scsi_lun *lun)
{
    pthread_mutex_destroy(&lun->lock);
}

void scsi_lun_reset(struct scsi_lun *lun, bool system)
{
    pthread_mutex_lock(&lun->lock);
    lun->ua = SENSE_UA_RESET;
    lun->media_changed = false;
    lun->eject_request = false;
    if (system)
        lun->wce = lun->wce_default;
    pthread_mutex_unlock(&lun->lock);
    if (system && lun->cfg.removable)
        blockdev_set_locked(lun->bdev, false);
}

void scsi_lun_media_changed(struct scsi_lun *lun, bool load)
{
    /* The guest first sees the medium go (UNIT ATTENTION, MEDIUM NOT PRESENT) and, when one
     * came, then MEDIUM MAY HAVE CHANGED once that was reported: a guest that does not poll
     * GET EVENT STATUS NOTIFICATION still sees the tray cycle. */
    pthread_mutex_lock(&lun->lock);
    lun->media_changed = load;
    lun->ua = SENSE_UA_NO_MEDIUM;
    lun->media_event = true;
    lun->eject_request = false;
    pthread_mutex_unlock(&lun->lock);
}

void scsi_lun_eject_request(struct scsi_lun *lun)
{
    pthread_mutex_lock(&lun->lock);
    lun->eject_request = true;
    pthread_mutex_unlock(&lun->lock);
}

void scsi_lun_resized(struct scsi_lun *lun)
{
    pthread_mutex_lock(&lun->lock);
    lun->ua = SENSE_UA_CAPACITY_CHANGED;
    pthread_mutex_unlock(&lun->lock);
    if (lun->report_change)
        lun->report_change(lun->report_opaque, lun, SENSE_UA_CAPACITY_CHANGED);
}

/* Lock held: the unit attention was reported; a medium change has a second one. */
static void ua_reported(struct scsi_lun *lun)
{
    lun->ua = SENSE_OK;
    if (lun->media_changed) {
        lun->media_changed = false;
        lun->ua = SENSE_UA_MEDIUM_CHANGED;
    }
}

static uint64_t capacity_blocks(struct scsi_lun *lun)
{
    return blockdev_size(lun->bdev) / lun->block_size;
}

/* A medium to work on: false (and the command failed) when there is none. */
static bool need_medium(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    bool open = lun->cfg.removable && blockdev_tray_open(lun->bdev);
    if (!open && blockdev_inserted(lun->bdev))
        return true;
    if (lun->cfg.kind == SCSI_LUN_CD)
        scsi_cmd_fail(cmd, open ? SENSE_NO_MEDIUM_TRAY_OPEN : SENSE_NO_MEDIUM_TRAY_CLOSED);
    else
        scsi_cmd_fail(cmd, SENSE_NO_MEDIUM);
    return false;
}

/* --- INQUIRY ------------------------------------------------------------------------------ */

static void inquiry_vpd(struct scsi_lun *lun, struct scsi_cmd *cmd, uint8_t page)
{
    uint8_t d[512] = {0};
    bool disk = lun->cfg.kind == SCSI_LUN_DISK;
    d[0] = disk ? 0x00 : 0x05;
    d[1] = page;
    size_t len;
    switch (page) {
    case 0x00: { /* supported pages */
        unsigned n = 4;
        d[n++] = 0x00;
        if (lun->cfg.serial)
            d[n++] = 0x80;
        d[n++] = 0x83;
        if (disk) {
            d[n++] = 0xb0;
            d[n++] = 0xb1;
            d[n++] = 0xb2;
        }
        d[3] = (uint8_t)(n - 4);
        len = n;
        break;
    }
    case 0x80: { /* unit serial number */
        if (!lun->cfg.serial) {
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return;
        }
        size_t n = strnlen(lun->cfg.serial, 252);
        memcpy(d + 4, lun->cfg.serial, n);
        d[3] = (uint8_t)n;
        len = 4 + n;
        break;
    }
    case 0x83: { /* device identification */
        size_t n = 4, id_len = strnlen(lun->device_id, 200);
        if (id_len) {
            d[n++] = 0x02; /* code set: ASCII */
            d[n++] = 0x00; /* association: logical unit; designator type: vendor specific */
            d[n++] = 0;
            d[n++] = (uint8_t)id_len;
            memcpy(d + n, lun->device_id, id_len);
            n += id_len;
        }
        if (lun->cfg.wwn) {
            d[n++] = 0x01; /* code set: binary */
            d[n++] = 0x03; /* association: logical unit; designator type: NAA */
            d[n++] = 0;
            d[n++] = 8;
            scsi_put_be64(d + n, lun->cfg.wwn);
            n += 8;
        }
        scsi_put_be16(d + 2, (uint16_t)(n - 4));
        len = n;
        break;
    }
    case 0xb0: /* block limits */
        if (!disk)
            goto bad;
        d[3] = 0x3c;
        d[4] = 0x01; /* WSNZ: WRITE SAME with zero blocks is refused */
        scsi_put_be32(d + 8, MAX_TRANSFER_BLOCKS);
        scsi_put_be32(d + 20, MAX_UNMAP_BLOCKS);
        scsi_put_be32(d + 24, MAX_UNMAP_DESCRIPTORS);
        scsi_put_be64(d + 36, MAX_UNMAP_BLOCKS);
        len = 64;
        break;
    case 0xb1: /* block device characteristics */
        if (!disk)
            goto bad;
        d[3] = 0x3c;
        scsi_put_be16(d + 4, lun->cfg.rotation_rate);
        len = 64;
        break;
    case 0xb2: /* logical block provisioning: UNMAP and WRITE SAME(10/16) with UNMAP */
        if (!disk)
            goto bad;
        d[3] = 0x04;
        d[5] = 0xe0;
        d[6] = lun->cfg.discard ? 0x02 : 0x00; /* thin provisioned when discard=unmap */
        len = 8;
        break;
    default:
        goto bad;
    }
    scsi_cmd_reply(cmd, d, len);
    return;
bad:
    scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
}

static void inquiry(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    if (c[1] & 0x02) { /* CmdDt (obsolete) */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    if (c[1] & 0x01) {
        inquiry_vpd(lun, cmd, c[2]);
        return;
    }
    if (c[2]) {
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    uint8_t d[36] = {0};
    d[0] = lun->cfg.kind == SCSI_LUN_DISK ? 0x00 : 0x05;
    d[1] = lun->cfg.removable ? 0x80 : 0x00;
    d[2] = 5;           /* SPC-3 */
    d[3] = 0x10 | 0x02; /* HiSup, response data format 2 */
    d[4] = sizeof(d) - 5;
    d[7] = 0x02; /* CmdQue: tagged commands, several in flight */
    memcpy(d + 8, lun->vendor, 8);
    memcpy(d + 16, lun->product, 16);
    memcpy(d + 32, lun->version, 4);
    scsi_cmd_reply(cmd, d, sizeof(d));
}

/* --- mode pages --------------------------------------------------------------------------- */

enum { PC_CURRENT, PC_CHANGEABLE, PC_DEFAULT, PC_SAVED };

/* One mode page into p (up to 64 bytes); its length, 0 when the unit has no such page. */
static size_t mode_page(struct scsi_lun *lun, uint8_t page, int pc, uint8_t *p)
{
    memset(p, 0, 64);
    switch (page) {
    case 0x01: /* read-write error recovery */
        p[0] = 0x01, p[1] = 0x0a;
        if (pc != PC_CHANGEABLE)
            p[2] = 0x80; /* AWRE */
        return 12;
    case 0x08: /* caching: WCE is the guest's to change */
        p[0] = 0x08, p[1] = 0x12;
        if (pc == PC_CHANGEABLE) {
            p[2] = 0x04;
        } else {
            pthread_mutex_lock(&lun->lock);
            bool wce = pc == PC_CURRENT ? lun->wce : lun->wce_default;
            pthread_mutex_unlock(&lun->lock);
            p[2] = wce ? 0x04 : 0x00;
        }
        return 20;
    case 0x2a:
        if (lun->cfg.kind != SCSI_LUN_CD)
            return 0;
        return scsi_mmc_mode_page(lun, p, pc == PC_CHANGEABLE);
    default:
        return 0;
    }
}

static const uint8_t all_pages[] = {0x01, 0x08, 0x2a};

static void mode_sense(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    bool ten = c[0] == SCSI_MODE_SENSE_10;
    int pc = c[2] >> 6;
    uint8_t page = c[2] & 0x3f, sub = c[3];
    if (pc == PC_SAVED) {
        scsi_cmd_fail(cmd, SENSE_SAVING_UNSUPPORTED);
        return;
    }
    if (sub != 0 && !(sub == 0xff && page == 0x3f)) {
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    bool disk = lun->cfg.kind == SCSI_LUN_DISK;
    bool llbaa = ten && (c[1] & 0x10);
    /* MMC: CD-ROMs have no block descriptors and no device-specific parameter. */
    size_t bdlen = (!disk || (c[1] & 0x08)) ? 0 : llbaa ? 16 : 8;
    uint8_t d[512] = {0};
    size_t hdr = ten ? 8 : 4, n = hdr + bdlen;
    if (bdlen) {
        uint64_t blocks = blockdev_inserted(lun->bdev) ? capacity_blocks(lun) : 0;
        if (llbaa) {
            scsi_put_be64(d + hdr, blocks);
            scsi_put_be32(d + hdr + 12, lun->block_size);
        } else {
            scsi_put_be32(d + hdr, blocks > 0xffffff ? 0xffffff : (uint32_t)blocks);
            d[hdr] = 0; /* density code */
            scsi_put_be32(d + hdr + 4, lun->block_size);
        }
    }
    size_t got = 0;
    for (size_t i = 0; i < sizeof(all_pages); i++) {
        if (page != 0x3f && page != all_pages[i])
            continue;
        got += mode_page(lun, all_pages[i], pc, d + n + got);
    }
    if (!got && page != 0x3f) {
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    n += got;
    uint8_t dsp = disk && blockdev_read_only(lun->bdev) ? 0x80 : 0x00; /* WP */
    if (ten) {
        scsi_put_be16(d, (uint16_t)(n - 2));
        d[3] = dsp;
        d[4] = llbaa ? 0x01 : 0x00;
        scsi_put_be16(d + 6, (uint16_t)bdlen);
    } else {
        d[0] = (uint8_t)(n - 1);
        d[2] = dsp;
        d[3] = (uint8_t)bdlen;
    }
    scsi_cmd_reply(cmd, d, n);
}

/* MODE SELECT: pages must match what MODE SENSE reports except in changeable bits; the
 * caching page's WCE is the one the guest can change (Linux's sd does, for cache_type). */
static void mode_select(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    bool ten = c[0] == SCSI_MODE_SELECT_10;
    if (c[1] & 0x01) { /* SP: save pages */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    uint64_t len = cmd->cdb.xfer;
    if (len == 0) {
        good(cmd);
        return;
    }
    if (!(c[1] & 0x10)) { /* PF: only the standard page format is understood */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    uint8_t p[PARAM_MAX];
    size_t hdr = ten ? 8 : 4;
    if (len > sizeof(p) || len < hdr || scsi_cmd_read_params(cmd, p, len) != len) {
        scsi_cmd_fail(cmd, SENSE_INVALID_PARAM_LEN);
        return;
    }
    size_t bdlen = ten ? scsi_be16(p + 6) : p[3];
    if (bdlen != 0 && bdlen != 8 && bdlen != 16) {
        scsi_cmd_fail(cmd, SENSE_INVALID_PARAM);
        return;
    }
    if (hdr + bdlen > len) {
        scsi_cmd_fail(cmd, SENSE_INVALID_PARAM_LEN);
        return;
    }
    if (bdlen) { /* a block descriptor may only restate the block length */
        uint32_t bl = bdlen == 8 ? (scsi_be32(p + hdr + 4) & 0xffffff) : scsi_be32(p + hdr + 12);
        if (bl != lun->block_size) {
            scsi_cmd_fail(cmd, SENSE_INVALID_PARAM);
            return;
        }
    }
    int wce = -1;
    for (size_t off = hdr + bdlen; off < len;) {
        if (off + 2 > len) {
            scsi_cmd_fail(cmd, SENSE_INVALID_PARAM_LEN);
            return;
        }
        uint8_t page = p[off] & 0x3f;
        size_t plen = (size_t)p[off + 1] + 2;
        if (p[off] & 0x40 || off + plen > len) { /* SPF: no subpages */
            scsi_cmd_fail(cmd, p[off] & 0x40 ? SENSE_INVALID_PARAM : SENSE_INVALID_PARAM_LEN);
            return;
        }
        uint8_t cur[64], mask[64];
        size_t clen = mode_page(lun, page, PC_CURRENT, cur);
        mode_page(lun, page, PC_CHANGEABLE, mask);
        if (!clen || clen != plen) {
            scsi_cmd_fail(cmd, SENSE_INVALID_PARAM);
            return;
        }
        for (size_t i = 2; i < plen; i++) {
            if ((p[off + i] ^ cur[i]) & ~mask[i]) {
                scsi_cmd_fail(cmd, SENSE_INVALID_PARAM);
                return;
            }
        }
        if (page == 0x08)
            wce = (p[off + 2] & 0x04) != 0;
        off += plen;
    }
    if (wce >= 0) {
        pthread_mutex_lock(&lun->lock);
        lun->wce = wce;
        pthread_mutex_unlock(&lun->lock);
    }
    good(cmd);
}

/* --- the rest of SPC and SBC ---------------------------------------------------------------- */

static void request_sense(struct scsi_cmd *cmd, struct scsi_sense s)
{
    uint8_t d[SCSI_SENSE_LEN];
    scsi_sense_fixed(s, d);
    scsi_cmd_reply(cmd, d, sizeof(d));
}

static void start_stop(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    uint8_t b4 = cmd->cdb_bytes[4];
    bool start = b4 & 0x01, loej = b4 & 0x02;
    if ((b4 >> 4) == 0 && loej && lun->cfg.removable) { /* power conditions do not eject */
        bool open = blockdev_tray_open(lun->bdev);
        if (!start && !open && blockdev_locked(lun->bdev)) {
            scsi_cmd_fail(cmd, blockdev_inserted(lun->bdev) ? SENSE_REMOVAL_PREVENTED
                                                            : SENSE_NOT_READY_REMOVAL_PREVENTED);
            return;
        }
        blockdev_guest_tray(lun->bdev, !start);
    }
    good(cmd);
}

static void read_capacity(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    if (!need_medium(lun, cmd))
        return;
    uint64_t blocks = capacity_blocks(lun), last = blocks ? blocks - 1 : 0;
    uint8_t d[32] = {0};
    if (c[0] == SCSI_READ_CAPACITY_10) {
        if (!(c[8] & 0x01) && scsi_be32(c + 2)) { /* an LBA needs PMI */
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return;
        }
        scsi_put_be32(d, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
        scsi_put_be32(d + 4, lun->block_size);
        scsi_cmd_reply(cmd, d, 8);
        return;
    }
    scsi_put_be64(d, last);
    scsi_put_be32(d + 8, lun->block_size);
    if (lun->cfg.kind == SCSI_LUN_DISK)
        d[14] = 0x80; /* LBPME: UNMAP is understood (advisory with discard=ignore) */
    scsi_cmd_reply(cmd, d, 32);
}

/* Media access commands: the range is inside the medium. */
static bool range_ok(struct scsi_lun *lun, struct scsi_cmd *cmd, uint64_t lba, uint64_t blocks)
{
    uint64_t cap = capacity_blocks(lun);
    if (lba > cap || blocks > cap - lba) {
        scsi_cmd_fail(cmd, SENSE_LBA_OUT_OF_RANGE);
        return false;
    }
    return true;
}

static bool writable(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    if (blockdev_read_only(lun->bdev)) {
        scsi_cmd_fail(cmd, SENSE_WRITE_PROTECTED);
        return false;
    }
    return true;
}

static bool exempt_from_ua(uint8_t op)
{
    return op == SCSI_INQUIRY || op == SCSI_REPORT_LUNS || op == SCSI_GET_CONFIGURATION ||
           op == SCSI_GET_EVENT_STATUS;
}

enum scsi_start scsi_lun_start(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    const struct scsi_cdb *d = &cmd->cdb;
    uint8_t op = d->opcode;
    good(cmd);
    cmd->sense = SENSE_OK;
    /* A pending unit attention ends this command (REQUEST SENSE returns it as data). */
    pthread_mutex_lock(&lun->lock);
    struct scsi_sense ua = lun->ua;
    bool report = ua.key && !exempt_from_ua(op);
    if (report)
        ua_reported(lun);
    pthread_mutex_unlock(&lun->lock);
    if (report) {
        if (op == SCSI_REQUEST_SENSE && d->known)
            request_sense(cmd, ua);
        else
            scsi_cmd_fail(cmd, ua);
        return SCSI_DONE;
    }
    if (!d->known) {
        scsi_cmd_fail(cmd, SENSE_INVALID_OPCODE);
        return SCSI_DONE;
    }
    bool disk = lun->cfg.kind == SCSI_LUN_DISK;
    switch (op) {
    case SCSI_TEST_UNIT_READY:
        if (need_medium(lun, cmd))
            good(cmd);
        return SCSI_DONE;
    case SCSI_REQUEST_SENSE:
        request_sense(cmd, SENSE_OK);
        return SCSI_DONE;
    case SCSI_INQUIRY:
        inquiry(lun, cmd);
        return SCSI_DONE;
    case SCSI_MODE_SENSE_6:
    case SCSI_MODE_SENSE_10:
        mode_sense(lun, cmd);
        return SCSI_DONE;
    case SCSI_MODE_SELECT_6:
    case SCSI_MODE_SELECT_10:
        mode_select(lun, cmd);
        return SCSI_DONE;
    case SCSI_START_STOP_UNIT:
        start_stop(lun, cmd);
        return SCSI_DONE;
    case SCSI_PREVENT_ALLOW:
        if (lun->cfg.removable)
            blockdev_set_locked(lun->bdev, c[4] & 0x01);
        good(cmd);
        return SCSI_DONE;
    case SCSI_READ_CAPACITY_10:
    case SCSI_SERVICE_ACTION_IN:
        read_capacity(lun, cmd);
        return SCSI_DONE;
    case SCSI_REPORT_LUNS: /* the target's: the transport answers it */
        scsi_cmd_fail(cmd, SENSE_INVALID_OPCODE);
        return SCSI_DONE;
    case SCSI_SEEK_10:
        if (need_medium(lun, cmd) && range_ok(lun, cmd, d->lba, 1))
            good(cmd);
        return SCSI_DONE;
    case SCSI_READ_6:
    case SCSI_READ_10:
    case SCSI_READ_12:
    case SCSI_READ_16:
    case SCSI_VERIFY_10:
    case SCSI_VERIFY_12:
    case SCSI_VERIFY_16:
        if (!need_medium(lun, cmd) || !range_ok(lun, cmd, d->lba, d->blocks))
            return SCSI_DONE;
        if (((c[1] >> 1) & 3) == 2 && (op == SCSI_VERIFY_10 || op == SCSI_VERIFY_12 ||
                                       op == SCSI_VERIFY_16)) { /* BYTCHK 10b is reserved */
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return SCSI_DONE;
        }
        return d->xfer ? SCSI_IO : (good(cmd), SCSI_DONE);
    case SCSI_WRITE_6:
    case SCSI_WRITE_10:
    case SCSI_WRITE_12:
    case SCSI_WRITE_16:
    case SCSI_WRITE_VERIFY_10:
    case SCSI_WRITE_VERIFY_12:
    case SCSI_WRITE_VERIFY_16:
        if (!need_medium(lun, cmd) || !writable(lun, cmd) || !range_ok(lun, cmd, d->lba, d->blocks))
            return SCSI_DONE;
        return d->xfer ? SCSI_IO : (good(cmd), SCSI_DONE);
    case SCSI_SYNC_CACHE_10:
    case SCSI_SYNC_CACHE_16:
        if (!need_medium(lun, cmd) || !range_ok(lun, cmd, d->lba, d->blocks))
            return SCSI_DONE;
        return SCSI_IO;
    case SCSI_UNMAP:
    case SCSI_WRITE_SAME_10:
    case SCSI_WRITE_SAME_16:
        if (!disk) {
            scsi_cmd_fail(cmd, SENSE_INVALID_OPCODE);
            return SCSI_DONE;
        }
        if (!need_medium(lun, cmd) || !writable(lun, cmd))
            return SCSI_DONE;
        if (op == SCSI_UNMAP) {
            if (c[1] & 0x01) { /* ANCHOR */
                scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
                return SCSI_DONE;
            }
            return d->xfer ? SCSI_IO : (good(cmd), SCSI_DONE);
        }
        if ((c[1] & 0x10) || d->blocks == 0 || d->blocks > MAX_UNMAP_BLOCKS) {
            /* ANCHOR; zero blocks (WSNZ); more than the block limits page allows */
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return SCSI_DONE;
        }
        return range_ok(lun, cmd, d->lba, d->blocks) ? SCSI_IO : SCSI_DONE;
    default:
        if (!disk && scsi_mmc_command(lun, cmd))
            return SCSI_DONE;
        scsi_cmd_fail(cmd, SENSE_INVALID_OPCODE);
        return SCSI_DONE;
    }
}

/* --- block I/O (workers) ------------------------------------------------------------------ */

static void io_failed(struct scsi_lun *lun, struct scsi_cmd *cmd, const char *what, int r,
                      const struct verr *err)
{
    struct scsi_sense s = r == -ENOMEDIUM ? SENSE_NO_MEDIUM
                          : r == -EROFS   ? SENSE_WRITE_PROTECTED
                          : r == -ENOSPC  ? SENSE_SPACE_ALLOC_FAILED
                                          : SENSE_IO_ERROR;
    scsi_cmd_fail(cmd, s);
    if (r == -ENOMEDIUM) /* the medium went between the check and the I/O: not an error */
        return;
    pthread_mutex_lock(&lun->lock);
    bool say = ratelimit_allow(&lun->rl, monotonic_ns());
    pthread_mutex_unlock(&lun->lock);
    if (say)
        log_warn("scsi %u:%u: %s: %s", lun->target, lun->lun, what, verr_msg(err));
}

static bool write_through(struct scsi_lun *lun, const struct scsi_cmd *cmd)
{
    pthread_mutex_lock(&lun->lock);
    bool wce = lun->wce;
    pthread_mutex_unlock(&lun->lock);
    return cmd->cdb.fua || !wce;
}

static void do_unmap(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    uint8_t p[8 + 16 * MAX_UNMAP_DESCRIPTORS];
    uint64_t len = cmd->cdb.xfer;
    if (len < 8 || len > sizeof(p) || scsi_cmd_read_params(cmd, p, len) != len) {
        scsi_cmd_fail(cmd, len > sizeof(p) ? SENSE_INVALID_FIELD : SENSE_INVALID_PARAM_LEN);
        return;
    }
    uint32_t bd_len = scsi_be16(p + 2);
    if (bd_len % 16 || 8 + (uint64_t)bd_len > len || scsi_be16(p) + 2u < 8u + bd_len) {
        scsi_cmd_fail(cmd, SENSE_INVALID_PARAM_LEN);
        return;
    }
    uint64_t cap = capacity_blocks(lun);
    for (uint32_t off = 8; off < 8 + bd_len; off += 16) { /* check all before acting */
        uint64_t lba = scsi_be64(p + off);
        uint32_t n = scsi_be32(p + off + 8);
        if (n > MAX_UNMAP_BLOCKS) {
            scsi_cmd_fail(cmd, SENSE_INVALID_PARAM);
            return;
        }
        if (lba > cap || n > cap - lba) {
            scsi_cmd_fail(cmd, SENSE_LBA_OUT_OF_RANGE);
            return;
        }
    }
    if (!lun->cfg.discard) { /* discard=ignore: UNMAP is advisory */
        good(cmd);
        return;
    }
    for (uint32_t off = 8; off < 8 + bd_len; off += 16) {
        uint64_t lba = scsi_be64(p + off);
        uint32_t n = scsi_be32(p + off + 8);
        struct verr err = {0};
        int r = n ? blockdev_discard(lun->bdev, lba * lun->block_size,
                                     (uint64_t)n * lun->block_size, &err)
                  : 0;
        if (r < 0) {
            io_failed(lun, cmd, "unmap", r, &err);
            return;
        }
    }
    good(cmd);
}

static void do_write_same(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    uint8_t *block = xcalloc(1, CHUNK);
    unsigned bs = lun->block_size;
    if (cmd->cdb.xfer && scsi_cmd_read_params(cmd, block, bs) != bs) {
        free(block);
        scsi_cmd_fail(cmd, SENSE_INVALID_PARAM_LEN);
        return;
    }
    bool zero = true;
    for (unsigned i = 0; i < bs && zero; i++)
        zero = block[i] == 0;
    uint64_t off = cmd->cdb.lba * bs, len = (uint64_t)cmd->cdb.blocks * bs;
    struct verr err = {0};
    int r = 0;
    if (zero) {
        bool unmap = (c[1] & 0x08) && lun->cfg.discard;
        r = blockdev_write_zeroes(lun->bdev, off, len, unmap ? BLOCK_ZERO_MAY_UNMAP : 0, &err);
    } else {
        for (unsigned i = bs; i < CHUNK; i += bs)
            memcpy(block + i, block, bs);
        for (uint64_t done = 0; r == 0 && done < len;) {
            struct iovec v = {block, len - done < CHUNK ? (size_t)(len - done) : CHUNK};
            r = blockdev_pwritev(lun->bdev, &v, 1, off + done, &err);
            done += v.iov_len;
        }
    }
    free(block);
    if (r == 0 && write_through(lun, cmd))
        r = blockdev_flush(lun->bdev, &err);
    if (r < 0)
        io_failed(lun, cmd, "write same", r, &err);
    else
        good(cmd);
}

/* VERIFY with BYTCHK: the data-out buffer (or its one block, BYTCHK 11b) against the medium. */
static void do_verify(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    bool one = ((cmd->cdb_bytes[1] >> 1) & 3) == 3;
    unsigned bs = lun->block_size;
    uint64_t len = (uint64_t)cmd->cdb.blocks * bs, off = cmd->cdb.lba * bs;
    uint8_t *medium = xmalloc(CHUNK), *data = xmalloc(CHUNK);
    int r = 0;
    bool same = true;
    struct verr err = {0};
    for (uint64_t done = 0; r == 0 && same && done < len;) {
        size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        struct iovec v = {medium, n};
        r = blockdev_preadv(lun->bdev, &v, 1, off + done, &err);
        for (size_t k = 0; r == 0 && same && k < n; k += bs) {
            uint64_t src = one ? 0 : done + k;
            copy_from_iov(cmd->iov, cmd->iovcnt, src, data, bs);
            same = memcmp(medium + k, data, bs) == 0;
        }
        done += n;
    }
    free(medium);
    free(data);
    if (r < 0)
        io_failed(lun, cmd, "verify", r, &err);
    else if (!same)
        scsi_cmd_fail(cmd, SENSE_MISCOMPARE_VERIFY);
    else
        good(cmd);
}

void scsi_lun_run_io(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const struct scsi_cdb *d = &cmd->cdb;
    uint64_t off = d->lba * lun->block_size;
    struct verr err = {0};
    int r;
    switch (d->opcode) {
    case SCSI_READ_6:
    case SCSI_READ_10:
    case SCSI_READ_12:
    case SCSI_READ_16:
        r = blockdev_preadv(lun->bdev, cmd->iov, cmd->iovcnt, off, &err);
        if (r < 0) {
            io_failed(lun, cmd, "read", r, &err);
        } else {
            cmd->status = SCSI_GOOD;
            cmd->transferred = d->xfer;
        }
        return;
    case SCSI_WRITE_6:
    case SCSI_WRITE_10:
    case SCSI_WRITE_12:
    case SCSI_WRITE_16:
    case SCSI_WRITE_VERIFY_10:
    case SCSI_WRITE_VERIFY_12:
    case SCSI_WRITE_VERIFY_16:
        r = blockdev_pwritev(lun->bdev, cmd->iov, cmd->iovcnt, off, &err);
        if (r == 0 && write_through(lun, cmd))
            r = blockdev_flush(lun->bdev, &err);
        if (r < 0) {
            io_failed(lun, cmd, "write", r, &err);
        } else {
            cmd->status = SCSI_GOOD;
            cmd->transferred = d->xfer;
        }
        return;
    case SCSI_VERIFY_10:
    case SCSI_VERIFY_12:
    case SCSI_VERIFY_16:
        do_verify(lun, cmd);
        return;
    case SCSI_SYNC_CACHE_10:
    case SCSI_SYNC_CACHE_16:
        r = blockdev_flush(lun->bdev, &err);
        if (r < 0)
            io_failed(lun, cmd, "flush", r, &err);
        else
            good(cmd);
        return;
    case SCSI_UNMAP:
        do_unmap(lun, cmd);
        return;
    case SCSI_WRITE_SAME_10:
    case SCSI_WRITE_SAME_16:
        do_write_same(lun, cmd);
        return;
    default:
        scsi_cmd_fail(cmd, SENSE_INVALID_OPCODE);
        return;
    }
}

/* --- the target's own answers --------------------------------------------------------------- */

void scsi_no_lun_command(struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    good(cmd);
    if (!cmd->cdb.known) {
        scsi_cmd_fail(cmd, SENSE_LUN_NOT_SUPPORTED);
        return;
    }
    if (c[0] == SCSI_INQUIRY) {
        if (c[1] & 0x03 || c[2]) {
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return;
        }
        uint8_t d[36] = {0};
        d[0] = 0x7f; /* peripheral qualifier 3: no logical unit here; type 1f: unknown */
        d[2] = 5;
        d[3] = 0x12;
        d[4] = sizeof(d) - 5;
        scsi_cmd_reply(cmd, d, sizeof(d));
    } else if (c[0] == SCSI_REQUEST_SENSE) {
        request_sense(cmd, SENSE_LUN_NOT_SUPPORTED);
    } else {
        scsi_cmd_fail(cmd, SENSE_LUN_NOT_SUPPORTED);
    }
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

void scsi_report_luns(struct scsi_cmd *cmd, const unsigned *luns, unsigned n)
{
    const uint8_t *c = cmd->cdb_bytes;
    good(cmd);
    if (cmd->cdb.xfer < 16 || c[2] > 2) { /* SPC-4: at least 16 bytes; select report 0-2 */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    unsigned *sorted = xmalloc((n ? n : 1) * sizeof(*sorted));
    memcpy(sorted, luns, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_unsigned);
    size_t len = 8 + 8 * (size_t)n;
    uint8_t *d = xcalloc(1, len);
    scsi_put_be32(d, (uint32_t)(8 * n));
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = d + 8 + 8 * i;
        if (sorted[i] < 256) { /* peripheral addressing */
            e[1] = (uint8_t)sorted[i];
        } else { /* flat space addressing */
            e[0] = (uint8_t)(0x40 | (sorted[i] >> 8));
            e[1] = (uint8_t)sorted[i];
        }
    }
    scsi_cmd_reply(cmd, d, len);
    free(d);
    free(sorted);
}
