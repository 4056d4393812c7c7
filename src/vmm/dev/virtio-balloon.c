/*
 * virtio-balloon.c - the virtio memory balloon device (virtio 1.2 §5.5),
 * device id 5, with the inflate (0), deflate (1) and statistics (2) queues.
 *
 * Inflate buffers are arrays of little-endian 32-bit page frame numbers
 * (4 KiB pages whatever the host page size). Each PFN is checked to lie
 * inside guest RAM (guest_mem_ptr) and its page is returned to the host:
 * MADV_DONTNEED for anonymous RAM, MADV_REMOVE for a shared file. RAM backed
 * by huge pages is not discarded (one 4 KiB page cannot be freed out of a
 * 2 MiB page; TODO: track whole huge pages as QEMU does). Deflate needs no
 * work: a discarded page faults back in (zeroed) when the guest touches it.
 *
 * The statistics queue follows the spec's protocol: the driver offers one
 * buffer of (le16 tag, le64 value) entries; the device keeps it and reads
 * the values, and would push it back to ask for fresh ones (TODO: a polling
 * interval and QEMU's guest-stats QOM property; the latest values are only
 * logged at debug level).
 *
 * Configuration: num_pages (le32, offset 0, written by the host) and actual
 * (le32, offset 4, written by the driver). A new target bumps the config
 * generation and raises the configuration interrupt.
 */
#include "vmm/dev/virtio-balloon.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS   2

struct virtio_balloon {
    struct virtio_pci vp;
    struct vq_chain chain;
    uint32_t num_pages; /* atomic */
    uint32_t actual;    /* atomic */
    uint64_t discarded; /* atomic */
    virtio_balloon_actual_fn notify;
    void *notify_opaque;
};

static void discard_page(struct virtio_balloon *b, uint32_t pfn)
{
    const struct guest_mem *gm = &b->vp.vm->mem;
    uint64_t gpa = (uint64_t)pfn << VIRTIO_BALLOON_PAGE_SHIFT;
    uint8_t *host = guest_mem_ptr(gm, gpa, 1u << VIRTIO_BALLOON_PAGE_SHIFT);
    if (!host) {
        log_debug("virtio-balloon-pci: PFN 0x%x is outside guest RAM, ignored", pfn);
        return;
    }
    if (gm->page_size != 1u << VIRTIO_BALLOON_PAGE_SHIFT)
        return; /* huge pages: see the file comment */
    int advice = gm->fd >= 0 ? MADV_REMOVE : MADV_DONTNEED;
    if (madvise(host, 1u << VIRTIO_BALLOON_PAGE_SHIFT, advice) < 0) {
        log_warn("virtio-balloon-pci: madvise on PFN 0x%x: %s", pfn, strerror(errno));
        return;
    }
    __atomic_fetch_add(&b->discarded, 1, __ATOMIC_RELAXED);
}

static void handle_pfns(struct virtio_balloon *b, const struct vq_chain *c, bool inflate)
{
    uint64_t off = 0;
    uint32_t pfn;
    while (vq_chain_read(c, off, &pfn, sizeof(pfn)) == sizeof(pfn)) {
        off += sizeof(pfn);
        if (inflate)
            discard_page(b, le32toh(pfn));
    }
}

static void handle_stats(const struct vq_chain *c)
{
    uint8_t e[10];
    for (uint64_t off = 0; vq_chain_read(c, off, e, sizeof(e)) == sizeof(e); off += sizeof(e)) {
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, e, 2);
        memcpy(&val, e + 2, 8);
        log_debug("virtio-balloon-pci: stat %u = %llu", le16toh(tag),
                  (unsigned long long)le64toh(val));
    }
}

static void balloon_process(void *opaque, unsigned qi)
{
    struct virtio_balloon *b = opaque;
    struct virtio_queue *q = &b->vp.queues[qi];
    struct vq_chain *c = &b->chain;
    for (;;) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_pci_queue_broken(&b->vp, qi, &err);
            return;
        }
        if (qi == Q_STATS) {
            /* Kept by the device until it wants new statistics (TODO above). */
            handle_stats(c);
            continue;
        }
        handle_pfns(b, c, qi == Q_INFLATE);
        vq_push(&q->vq, c->head, 0);
        virtio_pci_queue_done(&b->vp, qi);
    }
}

static void balloon_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_balloon *b = opaque;
    uint32_t cfg[2] = {htole32(__atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE)),
                       htole32(__atomic_load_n(&b->actual, __ATOMIC_ACQUIRE))};
    memset(data, 0, size);
    if (off < sizeof(cfg))
        memcpy(data, (uint8_t *)cfg + off, off + size <= sizeof(cfg) ? size : sizeof(cfg) - off);
}

static void balloon_write_config(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_balloon *b = opaque;
    if (off != 4 || size != 4)
        return; /* num_pages is read-only for the driver; partial writes are ignored */
    uint32_t v;
    memcpy(&v, data, 4);
    v = le32toh(v);
    uint32_t old = __atomic_exchange_n(&b->actual, v, __ATOMIC_ACQ_REL);
    if (old != v && b->notify)
        b->notify(b->notify_opaque, v);
}

static void balloon_reset(void *opaque)
{
    struct virtio_balloon *b = opaque;
    /* The pages come back to the guest with the reset; the target stays (as in QEMU). */
    uint32_t old = __atomic_exchange_n(&b->actual, 0, __ATOMIC_ACQ_REL);
    if (old && b->notify)
        b->notify(b->notify_opaque, 0);
}

static const struct virtio_dev_ops balloon_ops = {
    .read_config = balloon_read_config,
    .write_config = balloon_write_config,
    .process_queue = balloon_process,
    .reset = balloon_reset,
};

int virtio_balloon_create(struct vm *vm, struct virtio_balloon **out, struct verr *err)
{
    struct virtio_balloon *b = xcalloc(1, sizeof(*b));
    /* Class 00ff00 ("other"), as QEMU gives its balloon. */
    int r = virtio_pci_init(&b->vp, vm, "virtio-balloon-pci", VIRTIO_ID_BALLOON, 0x00ff00,
                            1ull << VIRTIO_BALLOON_F_STATS_VQ, 3, 128, 8, &balloon_ops, b, err);
    if (r == 0)
        r = virtio_pci_plug(&b->vp, err);
    if (r < 0) {
        virtio_pci_destroy(&b->vp);
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

struct virtio_pci *virtio_balloon_transport(struct virtio_balloon *b)
{
    return &b->vp;
}

void virtio_balloon_set_notify(struct virtio_balloon *b, virtio_balloon_actual_fn fn, void *opaque)
{
    b->notify = fn;
    b->notify_opaque = opaque;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t num_pages)
{
    __atomic_store_n(&b->num_pages, num_pages, __ATOMIC_RELEASE);
    virtio_pci_config_changed(&b->vp);
}

uint32_t virtio_balloon_actual(struct virtio_balloon *b)
{
    return __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE);
}

uint64_t virtio_balloon_discarded(struct virtio_balloon *b)
{
    return __atomic_load_n(&b->discarded, __ATOMIC_RELAXED);
}

void virtio_balloon_free(struct virtio_balloon *b)
{
    if (!b)
        return;
    virtio_pci_destroy(&b->vp);
    free(b);
}
