/*
 * fuzz-ata.c - drives the ATA and ATAPI command sets of the drives on an
 * AHCI port (vmm/dev/ata.c, and through ATAPI's packets the MMC unit) with
 * arbitrary commands, as the controller hands them over: a H2D Register
 * FIS, an ATAPI packet and the buffers a PRDT described, on a real 64 KiB
 * image file.
 *
 * Input: byte 0 sets up the drive (bit 0 CD-ROM, 1 an empty CD drive, 2
 * read-only, 3 write cache); then commands, each 20 bytes of FIS, 12 of
 * packet, a 16-bit buffer length (mod 8 KiB, split into up to three
 * buffers at the next byte's cut points) and, for a write, the bytes to
 * write (zero-padded). A FIS whose first byte is 0xff resets the drive or
 * opens or closes the tray instead. After each command: the status has DRDY
 * and without ERR no error, no more bytes moved than the buffers hold, and the
 * image keeps its size.
 */
#include "vmm/backends.h"
#include "vmm/dev/ata.h"
#include "vmm/dev/blockdev.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMAGE 65536
#define BUF   8192

static void media(void *opaque, bool load)
{
    struct ata_drive *d = opaque;
    scsi_lun_media_changed(&d->lun, load);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t setup = data[0];
    bool cd = setup & 1, empty = cd && (setup & 2);
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz-ata-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, IMAGE) < 0)
        abort();
    close(fd);
    struct vmm_drive dr = {
        .id = "d0", .file = empty ? NULL : path, .format = "raw", .read_only = cd || (setup & 4)};
    static const struct blockdev_dev_ops fixed = {0};
    struct blockdev_dev_ops removable = {
        .removable = true, .has_tray = true, .change_media = media};
    struct ata_drive drive;
    struct blockdev *b;
    struct verr err = {0};
    if (blockdev_open(NULL, &dr, "dev0", cd ? &removable : &fixed, &drive, &b, &err) < 0)
        abort();
    struct ata_drive_config ac = {.cd = cd,
                                  .serial = "fuzz",
                                  .wwn = 0x5000c50015ea71acull,
                                  .write_cache = setup & 8,
                                  .ncq = true};
    ata_drive_init(&drive, &ac, b, "d0");
    uint8_t *buf = malloc(BUF);
    size_t off = 1;
    while (off < size) {
        uint8_t fis[20] = {0}, packet[16] = {0};
        size_t n = size - off < 20 ? size - off : 20;
        memcpy(fis, data + off, n);
        off += n;
        if (fis[0] == 0xff) {
            if (fis[1] % 3 == 0)
                ata_drive_reset(&drive);
            else if (cd && fis[1] % 3 == 1)
                blockdev_open_tray(b, true, "dev0", &err);
            else if (cd)
                blockdev_close_tray(b, "dev0", &err);
            continue;
        }
        n = size - off < 12 ? size - off : 12;
        memcpy(packet, data + off, n);
        off += n;
        uint32_t len = 0, cut = 0;
        if (off + 3 <= size) {
            len = ((uint32_t)data[off] | (uint32_t)data[off + 1] << 8) % (BUF + 1);
            cut = data[off + 2];
        }
        off += 3;
        memset(buf, 0, BUF);
        if (off < size) { /* what a write moves: as much as there is */
            size_t k = len < size - off ? len : size - off;
            memcpy(buf, data + off, k);
            off += k;
        }
        /* Up to three buffers, as a PRDT of several entries gives them. */
        struct iovec iov[3];
        uint32_t a = len ? (cut & 15) * len / 16 : 0, bcut = len ? (cut >> 4) * len / 16 : 0;
        if (a > bcut) {
            uint32_t t = a;
            a = bcut;
            bcut = t;
        }
        iov[0] = (struct iovec){buf, a};
        iov[1] = (struct iovec){buf + a, bcut - a};
        iov[2] = (struct iovec){buf + bcut, len - bcut};
        struct ata_cmd c = {.fis = fis, .packet = packet, .iov = iov, .iovcnt = 3, .total = len};
        ata_execute(&drive, &c);
        if (c.transferred > len)
            abort();
        if (!(c.status & ATA_DRDY) || (c.status & ATA_BSY))
            abort();
        if (!(c.status & ATA_ERR) && c.error)
            abort();
        if ((c.status & ATA_ERR) && !c.error)
            abort();
        if (blockdev_inserted(b) && blockdev_size(b) != IMAGE)
            abort();
    }
    free(buf);
    ata_drive_destroy(&drive);
    blockdev_close(b);
    unlink(path);
    return 0;
}
