/*
 * virtio-blk.c - the virtio block device (virtio 1.2 §5.2) on Vireo's block
 * layer (raw and qcow2 through block/block.h).
 *
 * Requests run on the transport's I/O thread with blocking block_* calls:
 * IN and OUT move data straight between the image and guest buffers (no
 * bounce), FLUSH maps to block_flush (per the cache mode), DISCARD and
 * WRITE_ZEROES take segment lists, GET_ID returns the serial. A request
 * outside the disk, with a length that is not a multiple of 512, or a write
 * to a read-only disk gets VIRTIO_BLK_S_IOERR (the spec's answer for writes
 * when VIRTIO_BLK_F_RO is offered, and what QEMU returns); unknown types get
 * VIRTIO_BLK_S_UNSUPP. A chain with no room for the status byte breaks the
 * queue. TODO: io_uring (aio=io_uring) and several requests in flight.
 */
#include "vmm/dev/virtio-blk.h"
#include "block/block.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13

#define S_OK     0
#define S_IOERR  1
#define S_UNSUPP 2

#define SECTOR      512ull
#define QUEUE_SIZE  256
#define SEG_MAX     (QUEUE_SIZE - 2)
#define MAX_DISCARD (1u << 22) /* sectors per segment (2 GiB) */
#define MAX_DZ_SEGS 16
#define CONFIG_LEN  60

struct virtio_blk {
    struct virtio_pci vp;
    struct block_dev *bd;
    uint64_t capacity; /* sectors */
    bool read_only, discard;
    char serial[20];
    uint8_t config[CONFIG_LEN];
    struct vq_chain chain; /* one at a time per device (the I/O thread) */
    struct ratelimit rl;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void blk_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_blk *b = opaque;
    if (off + size <= CONFIG_LEN)
        memcpy(data, b->config + off, size);
}

static void io_error(struct virtio_blk *b, const char *what, const struct verr *err)
{
    if (ratelimit_allow(&b->rl, monotonic_ns()))
        log_warn("%s: %s: %s", b->vp.pci.name, what, verr_msg(err));
}

/* Walks the data area [16, 16 + len) of the chain (skipping the header) calling fn per piece. */
static int rw_data(struct virtio_blk *b, const struct vq_chain *c, bool write, uint64_t sector,
                   uint64_t len, struct verr *err)
{
    uint64_t skip = write ? 16 : 0, pos = sector * SECTOR, left = len;
    for (unsigned i = 0; i < c->nr && left; i++) {
        const struct vq_seg *s = &c->seg[i];
        if (s->write != !write)
            continue;
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint64_t n = s->len - skip < left ? s->len - skip : left;
        int r = write ? block_pwrite(b->bd, s->host + skip, n, pos, err)
                      : block_pread(b->bd, s->host + skip, n, pos, err);
        if (r < 0)
            return r;
        pos += n;
        left -= n;
        skip = 0;
    }
    return 0;
}

static bool range_ok(struct virtio_blk *b, uint64_t sector, uint64_t sectors)
{
    return sector <= b->capacity && sectors <= b->capacity - sector;
}

static uint8_t do_segments(struct virtio_blk *b, const struct vq_chain *c, bool zeroes)
{
    if (b->read_only)
        return S_IOERR;
    uint64_t data = c->out_len - 16;
    if (data == 0 || data % 16 || data / 16 > MAX_DZ_SEGS)
        return S_IOERR;
    for (uint64_t off = 16; off < c->out_len; off += 16) {
        uint8_t seg[16];
        vq_chain_read(c, off, seg, 16);
        uint64_t sector = get_le(seg, 8);
        uint32_t n = (uint32_t)get_le(seg + 8, 4), flags = (uint32_t)get_le(seg + 12, 4);
        if (n > MAX_DISCARD || !range_ok(b, sector, n))
            return S_IOERR;
        if (flags & ~1u || (!zeroes && flags))
            return S_UNSUPP;
        struct verr err = {0};
        int r;
        if (zeroes)
            r = block_write_zeroes(b->bd, sector * SECTOR, n * SECTOR,
                                   (flags & 1) && b->discard ? BLOCK_ZERO_MAY_UNMAP : 0, &err);
        else if (b->discard)
            r = block_discard(b->bd, sector * SECTOR, n * SECTOR, &err);
        else
            r = 0; /* discard=ignore: advisory, nothing to do */
        if (r < 0) {
            io_error(b, zeroes ? "write zeroes" : "discard", &err);
            return S_IOERR;
        }
    }
    return S_OK;
}

static uint8_t handle(struct virtio_blk *b, const struct vq_chain *c, uint32_t *written)
{
    uint8_t hdr[16];
    *written = 0;
    if (vq_chain_read(c, 0, hdr, 16) != 16)
        return S_IOERR;
    uint32_t type = (uint32_t)get_le(hdr, 4);
    uint64_t sector = get_le(hdr + 8, 8);
    struct verr err = {0};
    switch (type) {
    case T_IN: {
        uint64_t len = c->in_len - 1;
        if (len % SECTOR || !range_ok(b, sector, len / SECTOR))
            return S_IOERR;
        if (rw_data(b, c, false, sector, len, &err) < 0) {
            io_error(b, "read", &err);
            return S_IOERR;
        }
        *written = (uint32_t)len;
        return S_OK;
    }
    case T_OUT: {
        uint64_t len = c->out_len - 16;
        if (b->read_only || len % SECTOR || !range_ok(b, sector, len / SECTOR))
            return S_IOERR;
        if (rw_data(b, c, true, sector, len, &err) < 0) {
            io_error(b, "write", &err);
            return S_IOERR;
        }
        return S_OK;
    }
    case T_FLUSH:
        if (!b->read_only && block_flush(b->bd, &err) < 0) {
            io_error(b, "flush", &err);
            return S_IOERR;
        }
        return S_OK;
    case T_GET_ID: {
        uint64_t n = c->in_len - 1 < sizeof(b->serial) ? c->in_len - 1 : sizeof(b->serial);
        *written = (uint32_t)vq_chain_write(c, 0, b->serial, n);
        return S_OK;
    }
    case T_DISCARD:
        return do_segments(b, c, false);
    case T_WRITE_ZEROES:
        return do_segments(b, c, true);
    default:
        return S_UNSUPP;
    }
}

static void blk_process(void *opaque, unsigned qi)
{
    struct virtio_blk *b = opaque;
    struct virtio_queue *q = &b->vp.queues[qi];
    struct vq_chain *c = &b->chain;
    for (;;) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r == 0)
            break;
        if (r < 0 || c->in_len < 1 || c->out_len < 16) {
            if (r >= 0)
                verr_set(&err, EINVAL, "request at head %u without header or status byte", c->head);
            virtio_pci_queue_broken(&b->vp, qi, &err);
            return;
        }
        uint32_t written;
        uint8_t status = handle(b, c, &written);
        /* The status is the last writable byte. */
        vq_chain_write(c, c->in_len - 1, &status, 1);
        vq_push(&q->vq, c->head, written + 1);
        virtio_pci_queue_done(&b->vp, qi);
    }
}

static const struct virtio_dev_ops blk_ops = {
    .read_config = blk_read_config,
    .process_queue = blk_process,
};

int virtio_blk_create(struct vm *vm, const struct virtio_blk_options *o, struct virtio_blk **out,
                      struct verr *err)
{
    struct virtio_blk *b = xcalloc(1, sizeof(*b));
    b->rl = (struct ratelimit){.interval_ns = 1000000000ull, .burst = 5};
    struct block_open_opts bo = {.read_only = o->read_only, .cache = o->cache, .format = o->format};
    int r = block_open(o->file, &bo, &b->bd, err);
    if (r < 0) {
        free(b);
        return r;
    }
    b->read_only = o->read_only;
    b->discard = o->discard_unmap;
    b->capacity = block_size(b->bd) / SECTOR;
    if (o->serial) /* 20 bytes, NUL-padded, not necessarily terminated (§5.2.6) */
        memcpy(b->serial, o->serial, strnlen(o->serial, sizeof(b->serial)));
    uint64_t f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD |
                 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    if (o->read_only)
        f |= 1ull << VIRTIO_BLK_F_RO;
    if (o->num_queues > 1)
        f |= 1ull << VIRTIO_BLK_F_MQ;
    uint8_t *cf = b->config;
    put_le(cf + 0, b->capacity, 8);
    put_le(cf + 12, SEG_MAX, 4);
    put_le(cf + 20, 512, 4);
    cf[32] = o->cache != BLOCK_CACHE_WRITETHROUGH && o->cache != BLOCK_CACHE_DIRECTSYNC;
    put_le(cf + 34, o->num_queues, 2);
    put_le(cf + 36, MAX_DISCARD, 4);
    put_le(cf + 40, MAX_DZ_SEGS, 4);
    put_le(cf + 44, 1, 4);
    put_le(cf + 48, MAX_DISCARD, 4);
    put_le(cf + 52, MAX_DZ_SEGS, 4);
    cf[56] = o->discard_unmap;
    r = virtio_pci_init(&b->vp, vm, "virtio-blk-pci", VIRTIO_ID_BLOCK, 0x018000, f, o->num_queues,
                        QUEUE_SIZE, CONFIG_LEN, &blk_ops, b, err);
    if (r == 0)
        r = virtio_pci_plug(&b->vp, err);
    if (r < 0) {
        virtio_pci_destroy(&b->vp);
        block_close(b->bd);
        free(b);
        return verr_prefix(err, "virtio-blk-pci");
    }
    *out = b;
    return 0;
}

struct virtio_pci *virtio_blk_transport(struct virtio_blk *b)
{
    return &b->vp;
}

struct block_dev *virtio_blk_block(struct virtio_blk *b)
{
    return b->bd;
}

void virtio_blk_free(struct virtio_blk *b)
{
    if (!b)
        return;
    virtio_pci_destroy(&b->vp);
    block_close(b->bd);
    free(b);
}
