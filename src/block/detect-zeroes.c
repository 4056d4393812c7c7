/*
 * detect-zeroes.c - QEMU's detect-zeroes for an image: a write whose data is
 * all zeroes becomes a write-zeroes request to the format (qcow2 zero flags,
 * a raw file's ZERO_RANGE or, under unmap, a punched hole), so a guest that
 * zeroes its disk does not allocate space for it. block_pwrite and
 * block_pwritev apply it; it belongs to the image the opener opened, never to
 * its backing files (QEMU sets it on one node).
 *
 * The scan must cost next to nothing for ordinary data: it reads a word at a
 * time and stops at the first non-zero one, which for real data is the first.
 */
#include "block/block-int.h"
#include "util/str.h"

#include <errno.h>
#include <string.h>

const char *block_detect_zeroes_name(enum block_detect_zeroes mode)
{
    switch (mode) {
    case BLOCK_DETECT_ZEROES_ON:
        return "on";
    case BLOCK_DETECT_ZEROES_UNMAP:
        return "unmap";
    default:
        return "off";
    }
}

int block_detect_zeroes_parse(const char *word, enum block_detect_zeroes *out)
{
    static const enum block_detect_zeroes modes[] = {
        BLOCK_DETECT_ZEROES_OFF, BLOCK_DETECT_ZEROES_ON, BLOCK_DETECT_ZEROES_UNMAP};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (str_eq(word, block_detect_zeroes_name(modes[i]))) {
            *out = modes[i];
            return 0;
        }
    }
    return -EINVAL;
}

static bool bytes_zero(const unsigned char *p, size_t n)
{
    /* Bytes up to a word boundary, then words (memcpy: no aliasing or alignment traps,
     * compiled to plain loads), then the tail. */
    while (n && ((uintptr_t)p & (sizeof(uint64_t) - 1))) {
        if (*p)
            return false;
        p++, n--;
    }
    for (; n >= 4 * sizeof(uint64_t); p += 4 * sizeof(uint64_t), n -= 4 * sizeof(uint64_t)) {
        uint64_t w[4];
        memcpy(w, p, sizeof(w));
        if (w[0] | w[1] | w[2] | w[3])
            return false;
    }
    for (; n >= sizeof(uint64_t); p += sizeof(uint64_t), n -= sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, p, sizeof(w));
        if (w)
            return false;
    }
    for (; n; p++, n--)
        if (*p)
            return false;
    return true;
}

bool block_iov_is_zero(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++)
        if (!bytes_zero(iov[i].iov_base, iov[i].iov_len))
            return false;
    return true;
}

bool block_write_detects_zeroes(struct block_dev *bd, const struct iovec *iov, int iovcnt,
                                unsigned *flags)
{
    enum block_detect_zeroes mode = __atomic_load_n(&bd->detect_zeroes, __ATOMIC_RELAXED);
    *flags = 0;
    if (mode == BLOCK_DETECT_ZEROES_OFF || bd->read_only || !block_iov_is_zero(iov, iovcnt))
        return false;
    if (mode == BLOCK_DETECT_ZEROES_UNMAP)
        *flags = BLOCK_ZERO_MAY_UNMAP;
    return true;
}

void block_set_detect_zeroes(struct block_dev *bd, enum block_detect_zeroes mode)
{
    __atomic_store_n(&bd->detect_zeroes, mode, __ATOMIC_RELAXED);
}
