/*
 * test-scsi.c - the SCSI target emulation (vmm/dev/scsi-*.c) on real image
 * files, command by command, for what the guest tests do not reach: VPD
 * pages, UNMAP and WRITE SAME on the file, VERIFY, MODE SELECT of the write
 * cache, write protection, and the CD-ROM's MMC answers (READ TOC, GET
 * CONFIGURATION, GET EVENT STATUS NOTIFICATION) across medium changes, the
 * guest's medium lock and an empty drive.
 */
#include "../tap.h"
#include "vmm/backends.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/scsi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t buf[65536];

struct res {
    uint8_t status, key, asc, ascq;
    uint64_t moved;
};

/* One command with the transport's rules (overrun refused): data is buf, len its size. */
static struct res run(struct scsi_lun *lun, const uint8_t *cdb, size_t cdb_len, size_t len)
{
    struct scsi_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    memcpy(cmd.cdb_bytes, cdb, cdb_len);
    cmd.cdb_len = cdb_len;
    scsi_cdb_decode(cmd.cdb_bytes, cmd.cdb_len, lun->block_size, &cmd.cdb);
    uint64_t xfer = cmd.cdb.known && cmd.cdb.dir != SCSI_DIR_NONE ? cmd.cdb.xfer : 0;
    if (xfer > len)
        return (struct res){0xff, 0, 0, 0, 0};
    struct iovec iov = {buf, (size_t)xfer};
    cmd.iov = &iov;
    cmd.iovcnt = 1;
    cmd.data_len = xfer;
    if (scsi_lun_start(lun, &cmd) == SCSI_IO)
        scsi_lun_run_io(lun, &cmd);
    return (struct res){cmd.status, cmd.sense.key, cmd.sense.asc, cmd.sense.ascq, cmd.transferred};
}

#define RUN(lun, len, ...)                                                                         \
    run(lun, (const uint8_t[]){__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), len)

static bool sense(struct res r, uint8_t key, uint8_t asc, uint8_t ascq)
{
    return r.status == SCSI_CHECK_CONDITION && r.key == key && r.asc == asc && r.ascq == ascq;
}

static char *image(const char *tag, size_t size, uint8_t fill)
{
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/vireo-test-scsi-%s-XXXXXX", tag);
    int fd = mkstemp(path);
    uint8_t *b = malloc(size);
    memset(b, fill, size);
    if (fd < 0 || write(fd, b, size) != (ssize_t)size)
        abort();
    free(b);
    close(fd);
    return path;
}

static const struct blockdev_dev_ops fixed_ops = {0};

static void media_cb(void *opaque, bool load)
{
    scsi_lun_media_changed(opaque, load);
}

static void eject_cb(void *opaque, bool force)
{
    (void)force;
    scsi_lun_eject_request(opaque);
}

static const struct blockdev_dev_ops cd_ops = {
    .removable = true, .has_tray = true, .change_media = media_cb, .eject_request = eject_cb};

static void test_disk(void)
{
    char *path = image("hd", 1 << 20, 0x5a);
    struct vmm_drive dr = {.id = "d0", .file = path, .format = "raw", .discard_unmap = true};
    struct blockdev *b;
    struct scsi_lun lun;
    struct verr err = {0};
    ok(blockdev_open(NULL, &dr, "hd0", &fixed_ops, &lun, &b, &err) == 0, "disk opens: %s",
       verr_msg(&err));
    struct scsi_lun_config lc = {.kind = SCSI_LUN_DISK,
                                 .serial = "SER-1",
                                 .wwn = 0x5000c50015ea71acull,
                                 .discard = true,
                                 .write_cache = true};
    scsi_lun_init(&lun, &lc, b, "d0");

    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 6, 0x29, 0), "power-on unit attention first");
    struct res r = RUN(&lun, 18, 0x03, 0, 0, 0, 18, 0);
    ok(r.status == 0 && buf[2] == 0 && buf[12] == 0, "REQUEST SENSE after it: no sense");

    r = RUN(&lun, 255, 0x12, 1, 0x80, 0, 255, 0);
    ok(r.status == 0 && buf[3] == 5 && !memcmp(buf + 4, "SER-1", 5), "VPD 0x80: the serial");
    r = RUN(&lun, 255, 0x12, 1, 0x83, 0, 255, 0);
    bool naa = false;
    for (unsigned off = 4; off + 4 < 4u + (buf[2] << 8 | buf[3]); off += 4 + buf[off + 3])
        naa |= (buf[off + 1] & 0x0f) == 3 && buf[off + 3] == 8 && buf[off + 4] == 0x50 &&
               buf[off + 11] == 0xac;
    ok(r.status == 0 && naa, "VPD 0x83: the wwn as an NAA designator");
    r = RUN(&lun, 255, 0x12, 1, 0xb2, 0, 255, 0);
    ok(r.status == 0 && buf[5] == 0xe0, "VPD 0xb2: UNMAP and WRITE SAME (10/16) provisioning");
    r = RUN(&lun, 255, 0x12, 1, 0x42, 0, 255, 0);
    ok(sense(r, 5, 0x24, 0), "an unknown VPD page: INVALID FIELD IN CDB");
    r = RUN(&lun, 32, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
    ok(r.status == 0 && buf[7] == 0xff && buf[6] == 0x07 && buf[10] == 0x02 && (buf[14] & 0x80),
       "READ CAPACITY(16): last LBA 2047, LBPME set");

    /* UNMAP 8 blocks at LBA 16 of a disk full of 0x5a: they read back as zeroes. */
    uint8_t list[24] = {0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 8};
    memcpy(buf, list, sizeof(list));
    r = RUN(&lun, 24, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
    ok(r.status == 0, "UNMAP of 8 blocks at LBA 16");
    r = RUN(&lun, 10 * 512, 0x28, 0, 0, 0, 0, 15, 0, 0, 10, 0);
    bool zero = true;
    for (unsigned i = 512; i < 9 * 512; i++)
        zero &= buf[i] == 0;
    ok(r.status == 0 && zero && buf[0] == 0x5a && buf[9 * 512] == 0x5a,
       "exactly those blocks read back as zeroes (discard=unmap on a raw file)");
    /* WRITE SAME(16) of a pattern block over 4 blocks. */
    for (unsigned i = 0; i < 512; i++)
        buf[i] = (uint8_t)(i * 3);
    r = RUN(&lun, 512, 0x93, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 4, 0, 0);
    ok(r.status == 0, "WRITE SAME(16) of one block over 4");
    r = RUN(&lun, 4 * 512, 0x28, 0, 0, 0, 0, 40, 0, 0, 4, 0);
    bool same = true;
    for (unsigned i = 0; i < 4 * 512; i++)
        same &= buf[i] == (uint8_t)((i % 512) * 3);
    ok(r.status == 0 && same, "the 4 blocks hold the pattern");
    r = RUN(&lun, 512, 0x93, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0);
    ok(sense(r, 5, 0x24, 0), "WRITE SAME of zero blocks refused (WSNZ)");
    /* VERIFY(10) with BYTCHK=1. */
    for (unsigned i = 0; i < 1024; i++)
        buf[i] = (uint8_t)((i % 512) * 3);
    r = RUN(&lun, 1024, 0x2f, 0x02, 0, 0, 0, 40, 0, 0, 2, 0);
    ok(r.status == 0, "VERIFY with the same data: GOOD");
    buf[700] ^= 1;
    r = RUN(&lun, 1024, 0x2f, 0x02, 0, 0, 0, 40, 0, 0, 2, 0);
    ok(sense(r, 0xe, 0x1d, 0), "VERIFY with one bit changed: MISCOMPARE");
    /* The write cache: MODE SELECT turns WCE off, MODE SENSE says so. */
    r = RUN(&lun, 64, 0x1a, 0x08, 0x08, 0, 64, 0);
    ok(r.status == 0 && (buf[4] & 0x3f) == 8 && (buf[6] & 0x04), "caching page: WCE on");
    uint8_t sel[24] = {0, 0, 0, 0, 0x08, 0x12};
    memcpy(buf, sel, sizeof(sel));
    r = RUN(&lun, 24, 0x15, 0x10, 0, 0, 24, 0);
    ok(r.status == 0, "MODE SELECT(6) of the caching page with WCE off");
    r = RUN(&lun, 64, 0x1a, 0x08, 0x08, 0, 64, 0);
    ok(r.status == 0 && !(buf[6] & 0x04), "caching page: WCE off now");
    sel[6] = 0x01; /* RCD: not changeable */
    memcpy(buf, sel, sizeof(sel));
    r = RUN(&lun, 24, 0x15, 0x10, 0, 0, 24, 0);
    ok(sense(r, 5, 0x26, 0), "MODE SELECT changing a bit that is not changeable is refused");
    r = RUN(&lun, 64, 0x1a, 0x08, 0x08 | 0xc0, 0, 64, 0);
    ok(sense(r, 5, 0x39, 0), "saved values: SAVING PARAMETERS NOT SUPPORTED");
    r = RUN(&lun, 512, 0x28, 0, 0, 0, 0x08, 0, 0, 0, 1, 0);
    ok(sense(r, 5, 0x21, 0), "READ past the end: LBA OUT OF RANGE");
    r = RUN(&lun, sizeof(buf), 0x28, 0, 0, 0, 0, 0, 0, 0x01, 0, 0); /* 128 KiB */
    ok(r.status == 0xff, "a READ larger than the buffer is the transport's overrun");
    scsi_lun_destroy(&lun);
    blockdev_close(b);

    /* The same file read-only: WP in MODE SENSE, writes refused. */
    dr.read_only = true;
    ok(blockdev_open(NULL, &dr, "hd0", &fixed_ops, &lun, &b, &err) == 0, "read-only disk opens");
    scsi_lun_init(&lun, &lc, b, "d0");
    RUN(&lun, 0, 0, 0, 0, 0, 0, 0);
    r = RUN(&lun, 64, 0x1a, 0, 0x3f, 0, 64, 0);
    ok(r.status == 0 && (buf[2] & 0x80), "MODE SENSE: the write-protect bit");
    r = RUN(&lun, 512, 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0);
    ok(sense(r, 7, 0x27, 0), "WRITE: DATA PROTECT, WRITE PROTECTED");
    r = RUN(&lun, 24, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
    ok(sense(r, 7, 0x27, 0), "UNMAP: DATA PROTECT, WRITE PROTECTED");
    scsi_lun_destroy(&lun);
    blockdev_close(b);
    unlink(path);
    free(path);
}

static void test_cd(void)
{
    /* The second medium: 400000 blocks (sparse), more than a CD holds. */
    char *a = image("cda", 100 * 2048, 0x11), *b2 = image("cdb", 65536, 0x22);
    if (truncate(b2, 400000ll * 2048) < 0)
        abort();
    struct vmm_drive dr = {.id = "cd0", .file = a, .format = "raw", .read_only = true};
    struct blockdev *b;
    struct scsi_lun lun;
    struct verr err = {0};
    ok(blockdev_open(NULL, &dr, "cdrom0", &cd_ops, &lun, &b, &err) == 0, "CD-ROM opens");
    struct scsi_lun_config lc = {.kind = SCSI_LUN_CD};
    scsi_lun_init(&lun, &lc, b, "cd0");
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 6, 0x29, 0), "power-on unit attention");
    struct res r = RUN(&lun, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    ok(r.status == 0 && buf[3] == 99 && buf[6] == 0x08, "READ CAPACITY: 100 blocks of 2048");
    r = RUN(&lun, 100, 0x43, 0, 0, 0, 0, 0, 0, 0, 100, 0);
    ok(r.status == 0 && buf[3] == 1 && buf[6] == 1 && buf[14] == 0xaa && buf[19] == 100,
       "READ TOC: track 1, lead-out at LBA 100");
    r = RUN(&lun, 100, 0x43, 0x02, 0, 0, 0, 0, 0, 0, 100, 0);
    ok(r.status == 0 && buf[17] == 0 && buf[18] == 3 && buf[19] == 25,
       "READ TOC in MSF: the lead-out at 00:03:25 (LBA 100 + 150 frames)");
    r = RUN(&lun, 256, 0x46, 0, 0, 0, 0, 0, 0, 1, 0, 0);
    ok(r.status == 0 && buf[6] == 0 && buf[7] == 0x08, "GET CONFIGURATION: profile CD-ROM");
    r = RUN(&lun, 8, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0);
    ok(r.status == 0 && buf[4] == 0 && buf[5] == 0x02, "GET EVENT STATUS: no event, medium in");
    r = RUN(&lun, 8, 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0);
    ok(sense(r, 5, 0x24, 0), "GET EVENT STATUS asynchronous: refused");

    /* A medium change (QMP), seen as a tray cycle: NOT PRESENT, then MAY HAVE CHANGED. */
    ok(blockdev_change_medium(b, b2, "raw", false, BLOCKDEV_RO_RETAIN, "cdrom0", &err) == 0,
       "blockdev-change-medium to a DVD-sized image: %s", verr_msg(&err));
    r = RUN(&lun, 8, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0);
    ok(r.status == 0 && buf[4] == 2 && buf[5] == 0x02,
       "GET EVENT STATUS (not held by the unit attention): NEW MEDIA");
    r = RUN(&lun, 8, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0);
    ok(r.status == 0 && buf[4] == 0, "then no event");
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 6, 0x3a, 0), "TEST UNIT READY: MEDIUM NOT PRESENT");
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 6, 0x28, 0), "then MEDIUM MAY HAVE CHANGED");
    ok(RUN(&lun, 0, 0, 0, 0, 0, 0, 0).status == 0, "then GOOD");
    r = RUN(&lun, 256, 0x46, 0, 0, 0, 0, 0, 0, 1, 0, 0);
    ok(r.status == 0 && buf[7] == 0x10, "GET CONFIGURATION: profile DVD-ROM for the larger one");
    r = RUN(&lun, 2048, 0x28, 0, 0, 0, 0, 10, 0, 0, 1, 0);
    ok(r.status == 0 && buf[0] == 0x22 && buf[2047] == 0x22, "READ(10) reads the new medium");

    /* The guest locks the tray: an eject request instead of an open tray. */
    ok(RUN(&lun, 0, 0x1e, 0, 0, 0, 1, 0).status == 0, "PREVENT MEDIUM REMOVAL");
    ok(blockdev_open_tray(b, false, "cdrom0", &err) == -EINPROGRESS && !blockdev_tray_open(b),
       "QMP opening the locked tray: refused, the tray stays closed");
    r = RUN(&lun, 8, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0);
    ok(r.status == 0 && buf[4] == 1, "GET EVENT STATUS: EJECT REQUESTED");
    ok(sense(RUN(&lun, 0, 0x1b, 0, 0, 0, 2, 0), 5, 0x53, 2),
       "START STOP UNIT eject while locked: MEDIUM REMOVAL PREVENTED");
    ok(RUN(&lun, 0, 0x1e, 0, 0, 0, 0, 0).status == 0 &&
           RUN(&lun, 0, 0x1b, 0, 0, 0, 2, 0).status == 0 && blockdev_tray_open(b),
       "unlocked, the guest's eject opens the tray");
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 2, 0x3a, 2), "TEST UNIT READY: NOT READY, tray open");
    ok(RUN(&lun, 0, 0x1b, 0, 0, 0, 3, 0).status == 0 && !blockdev_tray_open(b) &&
           RUN(&lun, 0, 0, 0, 0, 0, 0, 0).status == 0,
       "the guest's load closes it: GOOD again");
    /* QMP eject: the drive is empty, the tray open. */
    ok(blockdev_open_tray(b, true, "cdrom0", &err) == 0 &&
           blockdev_remove_medium(b, "cdrom0", &err) == 0 && !blockdev_inserted(b),
       "QMP eject empties the drive");
    RUN(&lun, 0, 0, 0, 0, 0, 0, 0); /* the unit attention */
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 2, 0x3a, 2), "empty, tray open: 3A/02");
    ok(blockdev_close_tray(b, "cdrom0", &err) == 0, "blockdev-close-tray");
    for (int i = 0; i < 2; i++)
        RUN(&lun, 0, 0, 0, 0, 0, 0, 0);
    ok(sense(RUN(&lun, 0, 0, 0, 0, 0, 0, 0), 2, 0x3a, 1), "empty, tray closed: 3A/01");
    r = RUN(&lun, 100, 0x43, 0, 0, 0, 0, 0, 0, 0, 100, 0);
    ok(sense(r, 2, 0x3a, 1), "READ TOC without a medium: NOT READY");
    r = RUN(&lun, 8, 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0);
    ok(r.status == 0 && !(buf[1] & 0x10), "MECHANISM STATUS: door closed");
    scsi_lun_destroy(&lun);
    blockdev_close(b);
    unlink(a);
    unlink(b2);
    free(a);
    free(b2);
}

int main(void)
{
    test_disk();
    test_cd();
    return tap_done();
}
