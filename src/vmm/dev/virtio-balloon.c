/*
 * virtio-balloon.c - the virtio memory balloon device (virtio 1.2 §5.5),
 * device id 5, with the inflate (0), deflate (1) and statistics (2) queues.
 *
 * Inflate buffers are arrays of little-endian 32-bit page frame numbers
 * (4 KiB pages whatever the host page size). Each PFN is checked to lie
 * inside guest RAM (guest_mem_ptr) and its page is returned to the host:
 * MADV_DONTNEED for anonymous RAM, MADV_REMOVE for a shared file. RAM backed
 * by huge pages is not discarded (one 4 KiB page cannot be freed out of a
 * 2 MiB page; TODO: track whole huge pages as QEMU does). RAM restored by mapping
 * a saved state file gets a fresh anonymous page instead (see discard_page). Deflate needs no
 * work: a discarded page faults back in (zeroed) when the guest touches it.
 *
 * The statistics queue follows the spec's protocol (§5.5.6.3): the driver
 * offers one buffer of (le16 tag, le64 value) entries; the device keeps it,
 * records the values (virtio_balloon_parse_stats: known tags only, at most
 * STATS_MAX_BYTES read) and the time, and pushes it back to ask for fresh
 * ones when the polling interval (QEMU's guest-stats-polling-interval, in
 * seconds, 0 = off) expires. Setting an interval asks at once, as QEMU does.
 * A small thread per balloon sleeps on the interval; it takes the stats
 * queue's lock to return the buffer.
 *
 * Configuration: num_pages (le32, offset 0, written by the host) and actual
 * (le32, offset 4, written by the driver). A new target bumps the config
 * generation and raises the configuration interrupt.
 *
 * The type (-device virtio-balloon-pci, one per VM) owns QMP's balloon and
 * query-balloon, the BALLOON_CHANGE event, and the QOM properties
 * guest-stats and guest-stats-polling-interval. Sizes on the wire are bytes
 * of memory the guest keeps (QEMU's meaning).
 */
#include "vmm/dev/virtio-balloon.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS   2

#define STATS_MAX_BYTES (64 * 10) /* read at most 64 entries of a stats buffer */

struct virtio_balloon {
    struct virtio_pci vp;
    struct vq_chain chain;
    /* Statistics (under stats_lock). */
    pthread_mutex_t stats_lock;
    pthread_cond_t stats_cond;
    uint64_t stats[VIRTIO_BALLOON_NR_STATS];
    int64_t last_update; /* seconds since the epoch, 0 = never */
    uint32_t poll_interval;
    bool poll_now, stats_stop;
    bool paused;  /* a save quiesced the device: the stats thread gives nothing back */
    bool holding; /* the driver's stats buffer is with the device */
    uint16_t held_head;
    uint32_t held_epoch;
    pthread_t stats_thread;
    bool stats_thread_started;
    uint32_t num_pages; /* atomic */
    uint32_t actual;    /* atomic */
};

static void actual_changed(struct virtio_balloon *b, uint32_t pages);

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
    if (gm->fd < 0 && gm->file_mapped) {
        /* RAM restored by mapping a state file privately: MADV_DONTNEED would bring the
         * file's page back. A fresh anonymous page in its place frees the private copy and
         * reads as zeros, as on a VM that was never saved. */
        if (mmap(host, 1u << VIRTIO_BALLOON_PAGE_SHIFT, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            log_warn("virtio-balloon-pci: remapping PFN 0x%x: %s", pfn, strerror(errno));
        else if ((gm->no_dump && madvise(host, 1u << VIRTIO_BALLOON_PAGE_SHIFT, MADV_DONTDUMP)) ||
                 (gm->merge && madvise(host, 1u << VIRTIO_BALLOON_PAGE_SHIFT, MADV_MERGEABLE)))
            log_warn("virtio-balloon-pci: advice on PFN 0x%x: %s", pfn, strerror(errno));
        return;
    }
    int advice = gm->fd >= 0 ? MADV_REMOVE : MADV_DONTNEED;
    if (madvise(host, 1u << VIRTIO_BALLOON_PAGE_SHIFT, advice) < 0) {
        log_warn("virtio-balloon-pci: madvise on PFN 0x%x: %s", pfn, strerror(errno));
        return;
    }
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

unsigned virtio_balloon_parse_stats(const uint8_t *buf, size_t len,
                                    uint64_t stats[VIRTIO_BALLOON_NR_STATS])
{
    unsigned n = 0;
    for (size_t off = 0; off + 10 <= len; off += 10) {
        uint16_t tag = (uint16_t)(buf[off] | buf[off + 1] << 8);
        uint64_t val = 0;
        for (unsigned i = 0; i < 8; i++)
            val |= (uint64_t)buf[off + 2 + i] << (8 * i);
        if (tag < VIRTIO_BALLOON_NR_STATS) { /* newer tags are ignored, as QEMU does */
            stats[tag] = val;
            n++;
        }
    }
    return n;
}

/* I/O thread, stats queue lock held: a (fresh) statistics buffer arrived. */
static void handle_stats(struct virtio_balloon *b, const struct vq_chain *c)
{
    uint8_t buf[STATS_MAX_BYTES];
    uint64_t len = vq_chain_read(c, 0, buf, sizeof(buf));
    pthread_mutex_lock(&b->stats_lock);
    virtio_balloon_parse_stats(buf, (size_t)len, b->stats);
    b->last_update = (int64_t)time(NULL);
    b->holding = true;
    b->held_head = c->head;
    b->held_epoch = b->vp.queues[Q_STATS].epoch;
    pthread_mutex_unlock(&b->stats_lock);
}

/* Gives the held buffer back (used, 0 bytes written): the driver's cue to refill it. */
static void request_stats(struct virtio_balloon *b)
{
    struct virtio_queue *q = &b->vp.queues[Q_STATS];
    pthread_mutex_lock(&q->lock);
    pthread_mutex_lock(&b->stats_lock);
    bool give = b->holding && b->held_epoch == q->epoch && q->enabled && !q->vq.broken;
    uint16_t head = b->held_head;
    if (b->paused) { /* asked again once the save is over (resume) */
        b->poll_now = true;
        give = false;
    } else {
        b->holding = false;
    }
    pthread_mutex_unlock(&b->stats_lock);
    if (give) {
        vq_push(&q->vq, head, 0);
        virtio_pci_queue_done(&b->vp, Q_STATS);
    }
    pthread_mutex_unlock(&q->lock);
}

/* Sleeps for the polling interval (or until told), then asks for fresh statistics. */
static void *stats_thread(void *opaque)
{
    struct virtio_balloon *b = opaque;
    pthread_mutex_lock(&b->stats_lock);
    while (!b->stats_stop) {
        if (b->poll_now && !b->paused) {
            b->poll_now = false;
            pthread_mutex_unlock(&b->stats_lock);
            request_stats(b);
            pthread_mutex_lock(&b->stats_lock);
            continue;
        }
        if (b->poll_interval == 0 || b->paused) {
            pthread_cond_wait(&b->stats_cond, &b->stats_lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += b->poll_interval;
        if (pthread_cond_timedwait(&b->stats_cond, &b->stats_lock, &ts) == ETIMEDOUT)
            b->poll_now = b->poll_interval != 0;
    }
    pthread_mutex_unlock(&b->stats_lock);
    return NULL;
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
            /* Kept by the device until it wants new statistics (the polling interval). */
            handle_stats(b, c);
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
    if (old != v)
        actual_changed(b, v);
}

static void balloon_reset(void *opaque)
{
    struct virtio_balloon *b = opaque;
    /* The pages come back to the guest with the reset; the target stays (as in QEMU). */
    uint32_t old = __atomic_exchange_n(&b->actual, 0, __ATOMIC_ACQ_REL);
    if (old)
        actual_changed(b, 0);
    pthread_mutex_lock(&b->stats_lock);
    b->holding = false; /* the buffer went with the queue; the values stay */
    pthread_mutex_unlock(&b->stats_lock);
}

static const struct virtio_dev_ops balloon_ops = {
    .read_config = balloon_read_config,
    .write_config = balloon_write_config,
    .process_queue = balloon_process,
    .reset = balloon_reset,
};

static void balloon_release(struct virtio_balloon *b)
{
    if (b->stats_thread_started) {
        pthread_mutex_lock(&b->stats_lock);
        b->stats_stop = true;
        pthread_cond_signal(&b->stats_cond);
        pthread_mutex_unlock(&b->stats_lock);
        pthread_join(b->stats_thread, NULL);
    }
    virtio_pci_destroy(&b->vp);
    pthread_mutex_destroy(&b->stats_lock);
    pthread_cond_destroy(&b->stats_cond);
    free(b);
}

static int balloon_create(struct device *dev, struct verr *err)
{
    struct virtio_balloon *b = xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->stats_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->stats_cond, &ca);
    pthread_condattr_destroy(&ca);
    memset(b->stats, 0xff, sizeof(b->stats)); /* "not reported" is -1, as QEMU shows it */
    /* Class 00ff00 ("other"), as QEMU gives its balloon. */
    int r = virtio_pci_init(&b->vp, dev->vm, "virtio-balloon-pci", VIRTIO_ID_BALLOON, 0x00ff00,
                            1ull << VIRTIO_BALLOON_F_STATS_VQ, 3, 128, 8, &balloon_ops, b, err);
    if (r == 0)
        r = virtio_pci_plug(&b->vp, &dev->cfg->pci, err);
    if (r == 0) {
        r = -pthread_create(&b->stats_thread, NULL, stats_thread, b);
        if (r < 0)
            verr_errno(err, -r, "virtio-balloon-pci: starting the statistics thread");
        b->stats_thread_started = r == 0;
    }
    if (r < 0) {
        balloon_release(b);
        return r;
    }
    dev->priv = b;
    dev->pci = &b->vp.pci;
    return 0;
}

static void balloon_system_reset(struct device *dev)
{
    struct virtio_balloon *b = dev->priv;
    virtio_pci_system_reset(&b->vp);
}

static void balloon_free(struct device *dev)
{
    balloon_release(dev->priv);
}

/* --- QMP ------------------------------------------------------------------------------------ */

static const struct dev_type virtio_balloon_pci_type;

static int64_t actual_bytes(struct virtio_balloon *b, uint32_t pages)
{
    uint64_t out = (uint64_t)pages << VIRTIO_BALLOON_PAGE_SHIFT;
    uint64_t ram = b->vp.vm->mem.size;
    return (int64_t)(out < ram ? ram - out : 0);
}

/* vCPU thread (the driver wrote `actual`) or the main thread (reset): BALLOON_CHANGE. */
static void actual_changed(struct virtio_balloon *b, uint32_t pages)
{
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "actual", json_object_new_int64(actual_bytes(b, pages)));
    vm_qmp_event(b->vp.vm, "BALLOON_CHANGE", data);
}

static struct virtio_balloon *the_balloon(struct vm *vm, struct qmp_error *err)
{
    struct device *d = dev_find_type(vm, &virtio_balloon_pci_type, 0);
    if (!d)
        qmp_error_set(err, QMP_ERROR_DEVICE_NOT_ACTIVE, "No balloon device has been activated");
    return d ? d->priv : NULL;
}

static int qmp_balloon(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct virtio_balloon *b = the_balloon(opaque, err);
    if (!b)
        return -1;
    int64_t value = json_object_get_int64(json_object_object_get(args, "value"));
    if (value <= 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'value' expects a size (positive byte count)");
    uint64_t ram = b->vp.vm->mem.size;
    uint64_t target = (uint64_t)value < ram ? (uint64_t)value : ram;
    __atomic_store_n(&b->num_pages, (uint32_t)((ram - target) >> VIRTIO_BALLOON_PAGE_SHIFT),
                     __ATOMIC_RELEASE);
    virtio_pci_config_changed(&b->vp);
    return 0;
}

static int qmp_query_balloon(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args;
    struct virtio_balloon *b = the_balloon(opaque, err);
    if (!b)
        return -1;
    struct json_object *o = json_object_new_object();
    json_object_object_add(
        o, "actual",
        json_object_new_int64(actual_bytes(b, __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE))));
    *ret = o;
    return 0;
}

static int balloon_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg balloon_args[] = {{"value", QMP_ARG_INT, false}, {NULL}};
    int r = qmp_server_register(server, "balloon", balloon_args, qmp_balloon, vm);
    if (r == 0)
        r = qmp_server_register(server, "query-balloon", NULL, qmp_query_balloon, vm);
    return r;
}

/* QOM: guest-stats (read-only) and guest-stats-polling-interval (seconds); wording checked
 * against QEMU 7.2. */
static const char *const stat_names[VIRTIO_BALLOON_NR_STATS] = {
    "stat-swap-in",      "stat-swap-out",     "stat-major-faults",     "stat-minor-faults",
    "stat-free-memory",  "stat-total-memory", "stat-available-memory", "stat-disk-caches",
    "stat-htlb-pgalloc", "stat-htlb-pgfail",
};

static int get_stats(struct device *dev, struct json_object **out, struct qmp_error *err)
{
    (void)err;
    struct virtio_balloon *b = dev->priv;
    pthread_mutex_lock(&b->stats_lock);
    uint64_t st[VIRTIO_BALLOON_NR_STATS];
    memcpy(st, b->stats, sizeof(st));
    int64_t last = b->last_update;
    pthread_mutex_unlock(&b->stats_lock);
    struct json_object *stats = json_object_new_object();
    for (unsigned k = 0; k < VIRTIO_BALLOON_NR_STATS; k++)
        json_object_object_add(stats, stat_names[k], json_object_new_uint64(st[k]));
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "stats", stats);
    json_object_object_add(o, "last-update", json_object_new_int64(last));
    *out = o;
    return 0;
}

static int set_stats(struct device *dev, struct json_object *value, struct qmp_error *err)
{
    (void)dev, (void)value;
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "Property 'virtio-balloon-device.guest-stats' is not writable");
}

static int get_interval(struct device *dev, struct json_object **out, struct qmp_error *err)
{
    (void)err;
    struct virtio_balloon *b = dev->priv;
    pthread_mutex_lock(&b->stats_lock);
    uint32_t v = b->poll_interval;
    pthread_mutex_unlock(&b->stats_lock);
    *out = json_object_new_int64(v);
    return 0;
}

static int set_interval(struct device *dev, struct json_object *value, struct qmp_error *err)
{
    struct virtio_balloon *b = dev->priv;
    if (!json_object_is_type(value, json_type_int))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'guest-stats-polling-interval', "
                             "expected: integer");
    int64_t s = json_object_get_int64(value);
    if (s < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "timer value must be greater than zero");
    if (s > UINT32_MAX)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "timer value is too big");
    pthread_mutex_lock(&b->stats_lock);
    if ((uint32_t)s != b->poll_interval) {
        b->poll_interval = (uint32_t)s;
        b->poll_now = s != 0; /* a new interval asks at once (QEMU's behaviour) */
        pthread_cond_signal(&b->stats_cond);
    }
    pthread_mutex_unlock(&b->stats_lock);
    return 0;
}

static const struct dev_qom_prop balloon_qom[] = {
    {"guest-stats", "guest statistics", get_stats, set_stats},
    {"guest-stats-polling-interval", "int", get_interval, set_interval},
    {NULL, NULL, NULL, NULL},
};

/* --- state ---------------------------------------------------------------------------------- */

/* Records besides the transport's: "balloon.config" (num_pages, actual: le32 each),
 * "balloon.stats" (the VIRTIO_BALLOON_NR_STATS values, le64 each, then last-update as le64),
 * "balloon.poll" (interval in seconds le32, whether the driver's statistics buffer is with
 * the device (u8) and its head (le16): the pending statistics request). */
#define BALLOON_CFG_REC   8
#define BALLOON_STATS_REC (8 * VIRTIO_BALLOON_NR_STATS + 8)
#define BALLOON_POLL_REC  7

/* Quiesce: the I/O thread stopped (inflate/deflate run there synchronously, so nothing is
 * half done), and the stats thread may not give the held buffer back until resume: the
 * used ring is in RAM, saved after the devices. Taking the stats queue's lock waits for a
 * give-back already under way. */
static int balloon_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_balloon *b = dev->priv;
    virtio_pci_stop_io(&b->vp);
    struct virtio_queue *q = &b->vp.queues[Q_STATS];
    pthread_mutex_lock(&q->lock);
    pthread_mutex_lock(&b->stats_lock);
    b->paused = true;
    uint8_t st[BALLOON_STATS_REC], poll[BALLOON_POLL_REC], cfg[BALLOON_CFG_REC];
    for (unsigned i = 0; i < VIRTIO_BALLOON_NR_STATS; i++)
        state_put_le(st + 8 * i, b->stats[i], 8);
    state_put_le(st + 8 * VIRTIO_BALLOON_NR_STATS, (uint64_t)b->last_update, 8);
    bool held = b->holding && b->held_epoch == q->epoch;
    state_put_le(poll, b->poll_interval, 4);
    poll[4] = held;
    state_put_le(poll + 5, held ? b->held_head : 0, 2);
    pthread_mutex_unlock(&b->stats_lock);
    pthread_mutex_unlock(&q->lock);
    state_put_le(cfg, __atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE), 4);
    state_put_le(cfg + 4, __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE), 4);
    int r = w->put(w, "balloon.config", cfg, sizeof(cfg), err);
    if (r == 0)
        r = w->put(w, "balloon.stats", st, sizeof(st), err);
    if (r == 0)
        r = w->put(w, "balloon.poll", poll, sizeof(poll), err);
    return r < 0 ? r : virtio_pci_save(&b->vp, w, err);
}

static int balloon_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_balloon *b = dev->priv;
    uint8_t st[BALLOON_STATS_REC], poll[BALLOON_POLL_REC], cfg[BALLOON_CFG_REC];
    int rc = r->get(r, "balloon.config", cfg, sizeof(cfg), err);
    if (rc == 0)
        rc = r->get(r, "balloon.stats", st, sizeof(st), err);
    if (rc == 0)
        rc = r->get(r, "balloon.poll", poll, sizeof(poll), err);
    if (rc < 0)
        return rc;
    uint32_t num_pages = (uint32_t)state_get_le(cfg, 4),
             actual = (uint32_t)state_get_le(cfg + 4, 4);
    uint64_t ram_pages = b->vp.vm->mem.size >> VIRTIO_BALLOON_PAGE_SHIFT;
    if (num_pages > ram_pages)
        return verr_set(err, EINVAL,
                        "field 'balloon.config': num_pages %u is more than the VM's %llu pages",
                        num_pages, (unsigned long long)ram_pages);
    if (poll[4] > 1)
        return verr_set(err, EINVAL, "field 'balloon.poll': held flag %u (0 or 1)", poll[4]);
    /* The transport first: the held head is checked against the queue size it restores. */
    if ((rc = virtio_pci_load(&b->vp, r, err)) < 0)
        return rc;
    struct virtio_queue *q = &b->vp.queues[Q_STATS];
    uint16_t head = (uint16_t)state_get_le(poll + 5, 2);
    pthread_mutex_lock(&q->lock);
    bool held = poll[4] && q->enabled;
    if (poll[4] && (!q->enabled || head >= q->vq.size))
        rc = verr_set(err, EINVAL,
                      "field 'balloon.poll': held statistics buffer %u, the statistics queue %s",
                      head, q->enabled ? "is smaller" : "is not enabled");
    pthread_mutex_lock(&b->stats_lock);
    if (rc == 0) {
        for (unsigned i = 0; i < VIRTIO_BALLOON_NR_STATS; i++)
            b->stats[i] = state_get_le(st + 8 * i, 8);
        b->last_update = (int64_t)state_get_le(st + 8 * VIRTIO_BALLOON_NR_STATS, 8);
        b->poll_interval = (uint32_t)state_get_le(poll, 4);
        b->holding = held;
        b->held_head = head;
        b->held_epoch = q->epoch;
        __atomic_store_n(&b->num_pages, num_pages, __ATOMIC_RELEASE);
        __atomic_store_n(&b->actual, actual, __ATOMIC_RELEASE);
        pthread_cond_signal(&b->stats_cond); /* the interval starts over */
    }
    pthread_mutex_unlock(&b->stats_lock);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static void balloon_resume(struct device *dev)
{
    struct virtio_balloon *b = dev->priv;
    pthread_mutex_lock(&b->stats_lock);
    b->paused = false;
    pthread_cond_signal(&b->stats_cond);
    pthread_mutex_unlock(&b->stats_lock);
    struct verr err = {0};
    if (virtio_pci_start_io(&b->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_type virtio_balloon_pci_type = {
    .name = "virtio-balloon-pci",
    .alias = "virtio-balloon",
    .desc = "virtio memory balloon (QMP balloon, guest statistics)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .singleton = true,
    .create = balloon_create,
    .reset = balloon_system_reset,
    .free = balloon_free,
    .qmp_register = balloon_qmp_register,
    .qom_props = balloon_qom,
    .state_version = 1,
    .save = balloon_save,
    .load = balloon_load,
    .resume = balloon_resume,
};

const struct dev_type *const dev_types_virtio_balloon[] = {&virtio_balloon_pci_type, NULL};
