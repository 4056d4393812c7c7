/*
 * scsi-mmc.c - the CD-ROM's own commands (T10 MMC-6): GET CONFIGURATION,
 * GET EVENT STATUS NOTIFICATION, READ TOC/PMA/ATIP, READ DISC INFORMATION,
 * MECHANISM STATUS, SET CD SPEED, and the capabilities mode page (0x2a).
 *
 * The medium is what an ISO image is: one complete session holding one data
 * track from LBA 0 to the end. Its profile is CD-ROM up to a CD's largest
 * size (80 minutes, 360000 blocks of 2048 bytes) and DVD-ROM above, as QEMU
 * tells them apart. Media events follow QEMU's scsi-cd: a medium that arrived
 * is reported once as NEW MEDIA, an eject request (QMP on a locked tray) once
 * as EJECT REQUESTED, both only while the tray is closed.
 */
#include "vmm/dev/scsi.h"
#include "vmm/dev/blockdev.h"

#include <string.h>

#define CD_MAX_BLOCKS   360000u /* 80 min * 60 s * 75 frames */
#define PROFILE_NONE    0x0000
#define PROFILE_CD_ROM  0x0008
#define PROFILE_DVD_ROM 0x0010

static bool medium_ready(struct scsi_lun *lun)
{
    return blockdev_inserted(lun->bdev) && !blockdev_tray_open(lun->bdev);
}

static uint64_t blocks(struct scsi_lun *lun)
{
    return blockdev_size(lun->bdev) / lun->block_size;
}

static bool not_ready(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    if (medium_ready(lun))
        return false;
    scsi_cmd_fail(cmd, blockdev_tray_open(lun->bdev) ? SENSE_NO_MEDIUM_TRAY_OPEN
                                                     : SENSE_NO_MEDIUM_TRAY_CLOSED);
    return true;
}

static unsigned current_profile(struct scsi_lun *lun)
{
    if (!medium_ready(lun))
        return PROFILE_NONE;
    return blocks(lun) > CD_MAX_BLOCKS ? PROFILE_DVD_ROM : PROFILE_CD_ROM;
}

/* LBA -> MSF (the 2-second pregap: LBA 0 is 00:02:00) into p[0..3] as 0, M, S, F. */
static void put_msf(uint8_t *p, uint64_t lba)
{
    uint64_t f = lba + 150;
    p[0] = 0;
    p[1] = (uint8_t)(f / (75 * 60) > 255 ? 255 : f / (75 * 60));
    p[2] = (uint8_t)((f / 75) % 60);
    p[3] = (uint8_t)(f % 75);
}

static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (msf)
        put_msf(p, lba);
    else
        scsi_put_be32(p, lba > 0xffffffffu ? 0xffffffffu : (uint32_t)lba);
}

/* One feature descriptor of GET CONFIGURATION; returns its length. */
static size_t feature(struct scsi_lun *lun, unsigned code, uint8_t *p)
{
    unsigned profile = current_profile(lun);
    memset(p, 0, 16);
    scsi_put_be16(p, (uint16_t)code);
    switch (code) {
    case 0x0000:     /* profile list: DVD-ROM, CD-ROM */
        p[2] = 0x03; /* persistent, current */
        p[3] = 8;
        scsi_put_be16(p + 4, PROFILE_DVD_ROM);
        p[6] = profile == PROFILE_DVD_ROM;
        scsi_put_be16(p + 8, PROFILE_CD_ROM);
        p[10] = profile == PROFILE_CD_ROM;
        return 12;
    case 0x0001: /* core: SCSI interface, DBE */
        p[2] = 2 << 2 | 0x03;
        p[3] = 8;
        scsi_put_be32(p + 4, 1);
        p[8] = 0x01;
        return 12;
    case 0x0003: /* removable medium: tray, load, eject, lock */
        p[2] = 2 << 2 | 0x03;
        p[3] = 4;
        p[4] = 0x20 | 0x10 | 0x08 | 0x01;
        return 8;
    case 0x001e: /* CD read */
        p[2] = 2 << 2 | (profile == PROFILE_CD_ROM);
        p[3] = 4;
        return 8;
    case 0x001f: /* DVD read */
        p[2] = 1 << 2 | (profile == PROFILE_DVD_ROM);
        p[3] = 4;
        return 8;
    }
    return 0;
}

static const unsigned features[] = {0x0000, 0x0001, 0x0003, 0x001e, 0x001f};

static void get_configuration(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    unsigned rt = c[1] & 3, start = scsi_be16(c + 2);
    if (rt == 3) {
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    uint8_t d[8 + 16 * 8] = {0};
    size_t n = 8;
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
        unsigned f = features[i];
        if (f < start || (rt == 2 && f != start))
            continue;
        size_t len = feature(lun, f, d + n);
        if (rt == 1 && !(d[n + 2] & 0x01)) /* only the current ones */
            continue;
        n += len;
    }
    scsi_put_be32(d, (uint32_t)(n - 4));
    scsi_put_be16(d + 6, (uint16_t)current_profile(lun));
    scsi_cmd_reply(cmd, d, n);
}

static void event_status(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    if (!(c[1] & 0x01)) { /* asynchronous notification is not offered */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    uint8_t d[8] = {0};
    d[3] = 0x10; /* supported event classes: media */
    if (!(c[4] & 0x10)) {
        d[2] = 0x80; /* NEA: no event of a requested class */
        scsi_put_be16(d, 2);
        scsi_cmd_reply(cmd, d, 4);
        return;
    }
    bool open = blockdev_tray_open(lun->bdev);
    uint8_t status = open ? 0x01 : blockdev_inserted(lun->bdev) ? 0x02 : 0x00, code = 0;
    pthread_mutex_lock(&lun->lock);
    if (!open && lun->media_event) {
        code = 2; /* new media */
        lun->media_event = false;
    } else if (!open && lun->eject_request) {
        code = 1; /* eject requested */
        lun->eject_request = false;
    }
    pthread_mutex_unlock(&lun->lock);
    d[2] = 0x04; /* class: media */
    d[4] = code;
    d[5] = status;
    scsi_put_be16(d, 6);
    scsi_cmd_reply(cmd, d, 8);
}

static void read_toc(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    const uint8_t *c = cmd->cdb_bytes;
    bool msf = c[1] & 0x02;
    unsigned format = c[2] & 0x0f, track = c[6];
    if (format == 0 && (c[9] >> 6)) /* the older place of the format (SFF-8020) */
        format = c[9] >> 6;
    if (not_ready(lun, cmd))
        return;
    uint64_t end = blocks(lun);
    uint8_t d[64] = {0};
    size_t n;
    switch (format) {
    case 0: /* TOC: track 1 and the lead-out */
        if (track > 1 && track != 0xaa) {
            scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
            return;
        }
        d[2] = 1, d[3] = 1;
        n = 4;
        if (track <= 1) {
            d[n + 1] = 0x14; /* ADR 1, data track */
            d[n + 2] = 1;
            put_addr(d + n + 4, 0, msf);
            n += 8;
        }
        d[n + 1] = 0x14;
        d[n + 2] = 0xaa;
        put_addr(d + n + 4, end, msf);
        n += 8;
        break;
    case 1: /* session information: one session starting at track 1 */
        d[2] = 1, d[3] = 1;
        d[5] = 0x14;
        d[6] = 1;
        put_addr(d + 8, 0, msf);
        n = 12;
        break;
    case 2: { /* full TOC: points A0, A1, A2 and track 1, MSF */
        d[2] = 1, d[3] = 1;
        n = 4;
        static const uint8_t points[] = {0xa0, 0xa1, 0xa2, 0x01};
        for (unsigned i = 0; i < 4; i++, n += 11) {
            uint8_t *e = d + n;
            e[0] = 1;    /* session */
            e[1] = 0x14; /* ADR 1, data track */
            e[3] = points[i];
            if (points[i] == 0xa0)
                e[8] = 1; /* first track; disc type CD-ROM (0) */
            else if (points[i] == 0xa1)
                e[8] = 1; /* last track */
            else
                put_msf(e + 7, points[i] == 0xa2 ? end : 0); /* PMIN, PSEC, PFRAME */
        }
        break;
    }
    default:
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    scsi_put_be16(d, (uint16_t)(n - 2));
    scsi_cmd_reply(cmd, d, n);
}

static void read_disc_info(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    if (cmd->cdb_bytes[1] & 0x07) { /* only the standard disc information */
        scsi_cmd_fail(cmd, SENSE_INVALID_FIELD);
        return;
    }
    if (not_ready(lun, cmd))
        return;
    uint8_t d[34] = {0};
    scsi_put_be16(d, sizeof(d) - 2);
    d[2] = 0x0e; /* last session complete, disc complete */
    d[3] = 1;    /* first track */
    d[4] = 1;    /* sessions */
    d[5] = 1;    /* first and last track of the last session */
    d[6] = 1;
    d[7] = 0x20;             /* unrestricted use */
    memset(d + 16, 0xff, 8); /* no lead-in or lead-out start times to report */
    scsi_cmd_reply(cmd, d, sizeof(d));
}

static void mechanism_status(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    uint8_t d[8] = {0};
    d[1] = blockdev_tray_open(lun->bdev) ? 0x10 : 0x00; /* door open */
    scsi_cmd_reply(cmd, d, sizeof(d));
}

bool scsi_mmc_command(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
    switch (cmd->cdb.opcode) {
    case SCSI_GET_CONFIGURATION:
        get_configuration(lun, cmd);
        return true;
    case SCSI_GET_EVENT_STATUS:
        event_status(lun, cmd);
        return true;
    case SCSI_READ_TOC:
        read_toc(lun, cmd);
        return true;
    case SCSI_READ_DISC_INFO:
        read_disc_info(lun, cmd);
        return true;
    case SCSI_MECHANISM_STATUS:
        mechanism_status(lun, cmd);
        return true;
    case SCSI_SET_CD_SPEED:
        cmd->status = SCSI_GOOD;
        return true;
    default:
        return false;
    }
}

size_t scsi_mmc_mode_page(struct scsi_lun *lun, uint8_t *p, bool changeable)
{
    p[0] = 0x2a;
    p[1] = 0x14;
    if (changeable)
        return 22;
    p[2] = 0x3b; /* reads CD-R, CD-RW, method 2, DVD-ROM, DVD-R */
    p[4] = 0x71; /* multi-session, mode 2 form 1 and 2, audio play */
    p[5] = 0x00;
    p[6] = 0x29 | (blockdev_locked(lun->bdev) ? 0x02 : 0x00); /* tray, eject, lock (state) */
    scsi_put_be16(p + 8, 706);                                /* maximum read speed (kB/s, 4x) */
    scsi_put_be16(p + 10, 0);                                 /* no volume levels */
    scsi_put_be16(p + 12, 512);                               /* buffer (KiB) */
    scsi_put_be16(p + 14, 706);
    return 22;
}
