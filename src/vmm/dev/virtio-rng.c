/*
 * virtio-rng.c - the virtio entropy device (see virtio-rng.h): every
 * device-writable buffer the driver offers is filled from getrandom(2), at
 * most VIRTIO_VIRTIO_RNG_MAX_REQUEST bytes per request.
 */
#include "vmm/dev/virtio-rng.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/dev/virtio-pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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
        for (unsigned i = 0; i < c->nr && done < VIRTIO_RNG_MAX_REQUEST; i++) {
            const struct vq_seg *s = &c->seg[i];
            if (!s->write)
                continue;
            uint32_t want =
                s->len < VIRTIO_RNG_MAX_REQUEST - done ? s->len : VIRTIO_RNG_MAX_REQUEST - done;
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

static int virtio_rng_create(struct device *dev, struct verr *err)
{
    struct virtio_rng *rng = xcalloc(1, sizeof(*rng));
    int r = virtio_pci_init(&rng->vp, dev->vm, "virtio-rng-pci", VIRTIO_ID_RNG, 0x00ff00, 0, 1, 256,
                            0, &rng_ops, rng, err);
    if (r == 0)
        r = virtio_pci_plug(&rng->vp, &dev->cfg->pci, err);
    if (r < 0) {
        virtio_pci_destroy(&rng->vp);
        free(rng);
        return r;
    }
    dev->priv = rng;
    dev->pci = &rng->vp.pci;
    return 0;
}

static void virtio_rng_reset(struct device *dev)
{
    struct virtio_rng *rng = dev->priv;
    virtio_pci_system_reset(&rng->vp);
}

static void virtio_rng_free(struct device *dev)
{
    struct virtio_rng *rng = dev->priv;
    virtio_pci_destroy(&rng->vp);
    free(rng);
}

/* Requests are served synchronously on the I/O thread: once it is stopped nothing is in
 * flight, and the transport is the whole state. */
static int virtio_rng_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_rng *rng = dev->priv;
    virtio_pci_stop_io(&rng->vp);
    return virtio_pci_save(&rng->vp, w, err);
}

static int virtio_rng_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_rng *rng = dev->priv;
    return virtio_pci_load(&rng->vp, r, err);
}

static void virtio_rng_resume(struct device *dev)
{
    struct virtio_rng *rng = dev->priv;
    struct verr err = {0};
    if (virtio_pci_start_io(&rng->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_type virtio_rng_pci_type = {
    .name = "virtio-rng-pci",
    .alias = "virtio-rng",
    .desc = "virtio entropy source (host getrandom)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .create = virtio_rng_create,
    .reset = virtio_rng_reset,
    .free = virtio_rng_free,
    .state_version = 1,
    .save = virtio_rng_save,
    .load = virtio_rng_load,
    .resume = virtio_rng_resume,
};

const struct dev_type *const dev_types_virtio_rng[] = {&virtio_rng_pci_type, NULL};
