/*
 * scsi-cdb.c - decoding a SCSI command descriptor block into what a
 * transport must know before the command runs: its length, its data
 * direction and how many bytes it moves (see scsi.h), and the fixed-format
 * sense data every refusal carries. Pure functions of their bytes: the fuzz
 * target calls them with anything.
 */
#include "vmm/dev/scsi.h"

#include <string.h>

void scsi_sense_fixed(struct scsi_sense s, uint8_t *buf)
{
    memset(buf, 0, SCSI_SENSE_LEN);
    buf[0] = 0x70; /* current error, fixed format, no information field */
    buf[2] = s.key;
    buf[7] = SCSI_SENSE_LEN - 8; /* additional sense length */
    buf[12] = s.asc;
    buf[13] = s.ascq;
}

/* The CDB length a group code implies (SAM-5 table: group 0 six bytes, 1-2 ten, 4
 * sixteen, 5 twelve); 0 for the variable-length and vendor groups. */
static unsigned group_len(uint8_t opcode)
{
    switch (opcode >> 5) {
    case 0:
        return 6;
    case 1:
    case 2:
        return 10;
    case 4:
        return 16;
    case 5:
        return 12;
    default:
        return 0;
    }
}

static void blocks_cmd(struct scsi_cdb *d, enum scsi_dir dir, uint64_t lba, uint32_t blocks,
                       unsigned block_size)
{
    d->lba = lba;
    d->blocks = blocks;
    d->dir = blocks ? dir : SCSI_DIR_NONE;
    d->xfer = (uint64_t)blocks * block_size;
}

void scsi_cdb_decode(const uint8_t *c, size_t len, unsigned block_size, struct scsi_cdb *d)
{
    memset(d, 0, sizeof(*d));
    if (len == 0)
        return;
    d->opcode = c[0];
    d->len = group_len(c[0]);
    if (d->len == 0 || len < d->len)
        return;
    d->known = true;
    uint64_t alloc = 0;
    enum scsi_dir dir = SCSI_DIR_NONE;
    switch (c[0]) {
    case SCSI_TEST_UNIT_READY:
    case SCSI_START_STOP_UNIT:
    case SCSI_PREVENT_ALLOW:
    case SCSI_SET_CD_SPEED:
        break;
    case SCSI_REQUEST_SENSE:
    case SCSI_MODE_SENSE_6:
        dir = SCSI_DIR_IN, alloc = c[4];
        break;
    case SCSI_MODE_SELECT_6:
        dir = SCSI_DIR_OUT, alloc = c[4];
        break;
    case SCSI_INQUIRY:
        dir = SCSI_DIR_IN, alloc = scsi_be16(c + 3);
        break;
    case SCSI_READ_CAPACITY_10:
        dir = SCSI_DIR_IN, alloc = 8;
        break;
    case SCSI_READ_TOC:
    case SCSI_GET_CONFIGURATION:
    case SCSI_GET_EVENT_STATUS:
    case SCSI_READ_DISC_INFO:
    case SCSI_MODE_SENSE_10:
        dir = SCSI_DIR_IN, alloc = scsi_be16(c + 7);
        break;
    case SCSI_MODE_SELECT_10:
    case SCSI_UNMAP:
        dir = SCSI_DIR_OUT, alloc = scsi_be16(c + 7);
        break;
    case SCSI_MECHANISM_STATUS:
        dir = SCSI_DIR_IN, alloc = scsi_be16(c + 8);
        break;
    case SCSI_REPORT_LUNS:
        dir = SCSI_DIR_IN, alloc = scsi_be32(c + 6);
        break;
    case SCSI_SERVICE_ACTION_IN:
        if ((c[1] & 0x1f) != 0x10) { /* only READ CAPACITY(16) */
            d->known = false;
            return;
        }
        dir = SCSI_DIR_IN, alloc = scsi_be32(c + 10);
        break;
    case SCSI_READ_6:
    case SCSI_WRITE_6: {
        uint32_t blocks = c[4] ? c[4] : 256; /* zero means 256 in the 6-byte forms */
        blocks_cmd(d, c[0] == SCSI_READ_6 ? SCSI_DIR_IN : SCSI_DIR_OUT,
                   (uint64_t)(c[1] & 0x1f) << 16 | scsi_be16(c + 2), blocks, block_size);
        return;
    }
    case SCSI_READ_10:
    case SCSI_WRITE_10:
    case SCSI_WRITE_VERIFY_10:
        d->fua = c[1] & 0x08;
        blocks_cmd(d, c[0] == SCSI_READ_10 ? SCSI_DIR_IN : SCSI_DIR_OUT, scsi_be32(c + 2),
                   scsi_be16(c + 7), block_size);
        return;
    case SCSI_READ_12:
    case SCSI_WRITE_12:
    case SCSI_WRITE_VERIFY_12:
        d->fua = c[1] & 0x08;
        blocks_cmd(d, c[0] == SCSI_READ_12 ? SCSI_DIR_IN : SCSI_DIR_OUT, scsi_be32(c + 2),
                   scsi_be32(c + 6), block_size);
        return;
    case SCSI_READ_16:
    case SCSI_WRITE_16:
    case SCSI_WRITE_VERIFY_16:
        d->fua = c[1] & 0x08;
        blocks_cmd(d, c[0] == SCSI_READ_16 ? SCSI_DIR_IN : SCSI_DIR_OUT, scsi_be64(c + 2),
                   scsi_be32(c + 10), block_size);
        return;
    case SCSI_VERIFY_10:
    case SCSI_VERIFY_12:
    case SCSI_VERIFY_16: {
        uint64_t lba = c[0] == SCSI_VERIFY_16 ? scsi_be64(c + 2) : scsi_be32(c + 2);
        uint32_t blocks = c[0] == SCSI_VERIFY_10   ? scsi_be16(c + 7)
                          : c[0] == SCSI_VERIFY_12 ? scsi_be32(c + 6)
                                                   : scsi_be32(c + 10);
        unsigned bytchk = (c[1] >> 1) & 3; /* 0: medium only; 1: compare; 3: one block */
        blocks_cmd(d, SCSI_DIR_OUT, lba, blocks, block_size);
        if (bytchk == 0 || bytchk == 2)
            d->dir = SCSI_DIR_NONE, d->xfer = 0;
        else if (bytchk == 3 && blocks)
            d->xfer = block_size;
        return;
    }
    case SCSI_SEEK_10:
        d->lba = scsi_be32(c + 2);
        return;
    case SCSI_SYNC_CACHE_10:
        d->lba = scsi_be32(c + 2), d->blocks = scsi_be16(c + 7);
        return;
    case SCSI_SYNC_CACHE_16:
        d->lba = scsi_be64(c + 2), d->blocks = scsi_be32(c + 10);
        return;
    case SCSI_WRITE_SAME_10:
        d->lba = scsi_be32(c + 2), d->blocks = scsi_be16(c + 7);
        d->dir = SCSI_DIR_OUT, d->xfer = block_size;
        return;
    case SCSI_WRITE_SAME_16:
        d->lba = scsi_be64(c + 2), d->blocks = scsi_be32(c + 10);
        if (!(c[1] & 0x01)) /* NDOB: no data-out buffer, the block is zeroes */
            d->dir = SCSI_DIR_OUT, d->xfer = block_size;
        return;
    default:
        d->known = false;
        return;
    }
    d->dir = alloc ? dir : SCSI_DIR_NONE;
    d->xfer = alloc;
}
