/*
 * probe.c - which format an image file is in, from its bytes, the way
 * qemu-img 7.2 decides it when no format is given.
 *
 * Every format qemu-img can probe is recognised here, whether Vireo has a
 * driver for it or not, so that an image of a known format is never mistaken
 * for raw (a VMDK "converted" byte for byte is a silent bad copy): block_open
 * then refuses the ones without a driver by name. The rules are qemu's
 * (magic numbers in the first 2048 bytes, versions where qemu checks them),
 * with two differences, both toward recognising more:
 *  - a fixed VHD has its "conectix" footer only in its last 512 bytes;
 *    qemu-img probes only offset 0 and so takes a fixed VHD for raw (its
 *    footer then becomes the last sector of the disk). Vireo looks at the
 *    footer too.
 *  - a DMG image is recognised by its "koly" trailer rather than by its
 *    file name ending in ".dmg", which is all qemu-img looks at.
 * Like qemu, a raw image whose guest wrote one of these magics at the right
 * place is probed as that format: give -f raw for images guests write to.
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROBE_HEAD 2048 /* qemu's BLOCK_PROBE_BUF_SIZE */
#define PROBE_TAIL 512

/* qemu's VMDK text-descriptor rule: comment lines and lines of spaces may
 * come first; the first other line must be "version=1", "=2" or "=3". */
static bool vmdk_descriptor(const uint8_t *buf, size_t len)
{
    const char *p = (const char *)buf, *end = p + len;
    while (p < end) {
        if (*p == '#') {
            while (p < end && *p != '\n')
                p++;
            p++;
            continue;
        }
        if (*p == ' ') {
            while (p < end && *p == ' ')
                p++;
            if (p < end && *p == '\r')
                p++;
            if (p == end || *p != '\n')
                return false;
            p++;
            continue;
        }
        for (char v = '1'; v <= '3'; v++) {
            char lf[] = {'v', 'e', 'r', 's', 'i', 'o', 'n', '=', v, '\n'};
            char crlf[] = {'v', 'e', 'r', 's', 'i', 'o', 'n', '=', v, '\r', '\n'};
            if ((size_t)(end - p) >= sizeof(lf) && memcmp(p, lf, sizeof(lf)) == 0)
                return true;
            if ((size_t)(end - p) >= sizeof(crlf) && memcmp(p, crlf, sizeof(crlf)) == 0)
                return true;
        }
        return false;
    }
    return false;
}

static const char cloop_magic[] = "#!/bin/sh\n#V2.0 Format\n"
                                  "modprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n";

const char *block_probe_buffer(const uint8_t *h, size_t n, const uint8_t *tail)
{
    if (n >= 104 && memcmp(h, "QFI\xfb", 4) == 0 && get_be32(h + 4) >= 2)
        return "qcow2";
    if (n >= 48 && memcmp(h, "QFI\xfb", 4) == 0 && get_be32(h + 4) == 1)
        return "qcow";
    if (n >= 64 && memcmp(h, "QED\0", 4) == 0)
        return "qed";
    if (n >= 4 && (memcmp(h, "KDMV", 4) == 0 || memcmp(h, "COWD", 4) == 0))
        return "vmdk";
    if (vmdk_descriptor(h, n))
        return "vmdk";
    if (n >= 512 && get_le32(h + 0x40) == 0xbeda107f)
        return "vdi";
    if (n >= 8 && memcmp(h, "conectix", 8) == 0)
        return "vpc";
    if (n >= 8 && memcmp(h, "vhdxfile", 8) == 0)
        return "vhdx";
    if (n >= 8 && memcmp(h, "LUKS\xba\xbe", 6) == 0 && get_be16(h + 6) == 1)
        return "luks";
    if (n >= 512 && strcmp((const char *)h, "Bochs Virtual HD Image") == 0 &&
        strcmp((const char *)h + 32, "Redolog") == 0 &&
        strcmp((const char *)h + 48, "Growing") == 0 &&
        (get_le32(h + 64) == 0x00020000 || get_le32(h + 64) == 0x00010000))
        return "bochs";
    if (n >= 64 &&
        (memcmp(h, "WithoutFreeSpace", 16) == 0 || memcmp(h, "WithouFreSpacExt", 16) == 0) &&
        get_le32(h + 16) == 2)
        return "parallels";
    if (n >= sizeof(cloop_magic) - 1 && memcmp(h, cloop_magic, sizeof(cloop_magic) - 1) == 0)
        return "cloop";
    if (tail && memcmp(tail, "conectix", 8) == 0)
        return "vpc";
    if (tail && memcmp(tail, "koly", 4) == 0 && get_be32(tail + 4) == 4 &&
        get_be32(tail + 8) == 512)
        return "dmg";
    return "raw";
}

int block_probe_format(const char *path, char *fmt, size_t fmt_size, struct verr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return verr_errno(err, errno, "could not open '%s'", path);
    /* Like qemu, the probes see 2048 bytes, zeroes past the end of a short file. */
    uint8_t head[PROBE_HEAD] = {0}, tail[PROBE_TAIL];
    bool have_tail = false;
    ssize_t n = pread(fd, head, sizeof(head), 0);
    int e = errno;
    struct stat st;
    if (n >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 2 * PROBE_TAIL)
        have_tail = pread(fd, tail, sizeof(tail), st.st_size - PROBE_TAIL) == PROBE_TAIL;
    close(fd);
    if (n < 0)
        return verr_errno(err, e, "could not read '%s'", path);
    str_copy(fmt, fmt_size, block_probe_buffer(head, sizeof(head), have_tail ? tail : NULL));
    return 0;
}

int block_probe_hostfile(struct hostfile *hf, char *fmt, size_t fmt_size, struct verr *err)
{
    uint8_t head[PROBE_HEAD] = {0}, tail[PROBE_TAIL];
    uint64_t size;
    int r = hostfile_length(hf, &size, err);
    if (r == 0)
        r = hostfile_pread(hf, head, size < sizeof(head) ? size : sizeof(head), 0, err);
    bool have_tail = r == 0 && size >= 2 * PROBE_TAIL &&
                     hostfile_pread(hf, tail, sizeof(tail), size - PROBE_TAIL, err) == 0;
    if (r < 0)
        return r;
    str_copy(fmt, fmt_size, block_probe_buffer(head, sizeof(head), have_tail ? tail : NULL));
    return 0;
}

/* Formats qemu-img 7.2 opens that Vireo has no driver for. */
static const char *const foreign_only[] = {"bochs", "cloop", "parallels"};

bool block_format_known(const char *format)
{
    if (block_format_supported(format))
        return true;
    for (size_t i = 0; i < sizeof(foreign_only) / sizeof(foreign_only[0]); i++)
        if (strcmp(format, foreign_only[i]) == 0)
            return true;
    return false;
}
