/*
 * fuzz-scsi.c - drives the SCSI target emulation (vmm/dev/scsi-cdb.c,
 * scsi-lun.c, scsi-mmc.c) with arbitrary commands, as virtio-scsi hands them
 * over: the CDB decoded, a data buffer of the size the guest gave, the
 * transport's overrun rule, then start and, when it asks for I/O, the I/O on
 * a real 64 KiB image file.
 *
 * Input: byte 0 sets up the unit (bit 0 CD-ROM, 1 removable, 2 discard,
 * 3 read-only, 4 an empty CD drive, 5 write cache); then commands, each a CDB
 * length byte (0-32), the CDB, a 16-bit data length (mod 8 KiB) and, for a
 * data-out command, that many bytes (zero-padded). A CDB length byte of 0xff
 * instead changes the medium (unload or load by the next byte) or resets.
 * After each command: the status is GOOD or CHECK CONDITION with a sense key,
 * no more bytes moved than the buffer holds, and the image keeps its size.
 */
#include "vmm/backends.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/scsi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMAGE 65536
#define BUF   8192

static void noop_media(void *opaque, bool load)
{
    scsi_lun_media_changed(opaque, load);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t setup = data[0];
    bool cd = setup & 1, empty = cd && (setup & 0x10);
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz-scsi-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, IMAGE) < 0)
        abort();
    close(fd);
    struct vmm_drive dr = {.id = "d0",
                           .file = empty ? NULL : path,
                           .format = "raw",
                           .read_only = cd || (setup & 8),
                           .discard_unmap = setup & 4};
    static const struct blockdev_dev_ops fixed = {0};
    struct blockdev_dev_ops removable = {
        .removable = true, .has_tray = true, .change_media = noop_media};
    struct scsi_lun lun;
    struct blockdev *b;
    struct verr err = {0};
    bool rem = cd || (setup & 2);
    if (blockdev_open(NULL, &dr, "dev0", rem ? &removable : &fixed, &lun, &b, &err) < 0)
        abort();
    struct scsi_lun_config lc = {.kind = cd ? SCSI_LUN_CD : SCSI_LUN_DISK,
                                 .removable = rem,
                                 .serial = "fuzz",
                                 .wwn = 0x5000c50015ea71acull,
                                 .discard = setup & 4,
                                 .write_cache = setup & 0x20};
    scsi_lun_init(&lun, &lc, b, "d0");
    uint8_t *buf = malloc(BUF);
    size_t off = 1;
    while (off < size) {
        uint8_t clen = data[off++];
        if (clen == 0xff) {
            uint8_t what = off < size ? data[off++] : 0;
            if (what % 3 == 2)
                scsi_lun_reset(&lun, what & 4);
            else if (rem && what % 3 == 0)
                blockdev_open_tray(b, true, "dev0", &err);
            else if (rem)
                blockdev_close_tray(b, "dev0", &err);
            continue;
        }
        clen %= SCSI_CDB_MAX + 1;
        struct scsi_cmd cmd;
        memset(&cmd, 0, sizeof(cmd));
        size_t n = clen <= size - off ? clen : size - off;
        memcpy(cmd.cdb_bytes, data + off, n);
        cmd.cdb_len = clen;
        off += n;
        uint32_t dlen = 0;
        if (off + 2 <= size)
            dlen = ((uint32_t)data[off] | (uint32_t)data[off + 1] << 8) % (BUF + 1);
        off += 2;
        scsi_cdb_decode(cmd.cdb_bytes, cmd.cdb_len, lun.block_size, &cmd.cdb);
        if (cmd.cdb.known && cmd.cdb.xfer > dlen)
            continue; /* the transport's overrun */
        uint64_t xfer = cmd.cdb.known && cmd.cdb.dir != SCSI_DIR_NONE ? cmd.cdb.xfer : 0;
        memset(buf, 0, BUF);
        if (cmd.cdb.dir == SCSI_DIR_OUT && off < size) {
            size_t k = xfer < size - off ? (size_t)xfer : size - off;
            memcpy(buf, data + off, k);
            off += k;
        }
        struct iovec iov = {buf, (size_t)xfer};
        cmd.iov = &iov;
        cmd.iovcnt = 1;
        cmd.data_len = xfer;
        if (cmd.cdb.known && cmd.cdb.opcode == SCSI_REPORT_LUNS) {
            unsigned luns[1] = {0};
            scsi_report_luns(&cmd, luns, 1);
        } else if (scsi_lun_start(&lun, &cmd) == SCSI_IO) {
            scsi_lun_run_io(&lun, &cmd);
        }
        if (cmd.transferred > xfer)
            abort();
        if (cmd.status != SCSI_GOOD && cmd.status != SCSI_CHECK_CONDITION)
            abort();
        if (cmd.status == SCSI_CHECK_CONDITION && cmd.sense.key == 0)
            abort();
        if (blockdev_inserted(b) && blockdev_size(b) != IMAGE)
            abort();
    }
    free(buf);
    scsi_lun_destroy(&lun);
    blockdev_close(b);
    unlink(path);
    return 0;
}
