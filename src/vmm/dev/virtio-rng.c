/*
 * virtio-rng.c - the virtio entropy device (virtio 1.2 §5.4): every
 * device-writable buffer the driver offers is filled from getrandom(2).
 * Requests are capped at 64 KiB each so one greedy chain cannot keep the
 * I/O thread in the kernel's random generator for long.
 */
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/virtio-blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RNG_MAX_REQUEST 65536u

struct virtio_rng {
    struct virtio_pci vp;
    struct vq_chain chain;
};

static void rng_process(void *opaque, unsigned qi)
{
    struct virtio_rng *rng = opaque;
    struct virtio_queue *q = &rng->vp.queues[qi];
    struct vq_chain *c = &rng->chain;
    for (;;) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_pci_queue_broken(&rng->vp, qi, &err);
            return;
        }
        uint32_t done = 0;
        for (unsigned i = 0; i < c->nr && done < RNG_MAX_REQUEST; i++) {
            const struct vq_seg *s = &c->seg[i];
            if (!s->write)
                continue;
            uint32_t want = s->len < RNG_MAX_REQUEST - done ? s->len : RNG_MAX_REQUEST - done;
            ssize_t n = getrandom(s->host, want, 0);
            if (n < 0) {
                log_warn("virtio-rng-pci: getrandom: %s", strerror(errno));
                break;
            }
            done += (uint32_t)n;
            if ((uint32_t)n < want)
                break;
        }
        vq_push(&q->vq, c->head, done);
        virtio_pci_queue_done(&rng->vp, qi);
    }
}

static const struct virtio_dev_ops rng_ops = {
    .process_queue = rng_process,
};

int virtio_rng_create(struct vm *vm, const struct pci_place *place, struct virtio_rng **out,
                      struct verr *err)
{
    struct virtio_rng *rng = xcalloc(1, sizeof(*rng));
    int r = virtio_pci_init(&rng->vp, vm, "virtio-rng-pci", VIRTIO_ID_RNG, 0x00ff00, 0, 1, 256, 0,
                            &rng_ops, rng, err);
    if (r == 0)
        r = virtio_pci_plug(&rng->vp, place, err);
    if (r < 0) {
        virtio_pci_destroy(&rng->vp);
        free(rng);
        return r;
    }
    *out = rng;
    return 0;
}

struct virtio_pci *virtio_rng_transport(struct virtio_rng *r)
{
    return &r->vp;
}

void virtio_rng_free(struct virtio_rng *r)
{
    if (!r)
        return;
    virtio_pci_destroy(&r->vp);
    free(r);
}
