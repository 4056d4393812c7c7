/*
 * virtio-scsi.c - the virtio SCSI host adapter (virtio 1.2 §5.6):
 * -device virtio-scsi-pci[,num_queues=N], a SCSI bus "ID.0" for scsi-hd and
 * scsi-cd (scsi-disk.c), whose commands the logical units answer (scsi.h).
 *
 * Queues: 0 control (task management functions, asynchronous notification
 * queries), 1 event, 2.. requests. A request's device-readable part is the
 * header (LUN, tag, task attributes, CDB of cdb_size bytes) and the data-out
 * buffer; its device-writable part the response (sense_len, residual, status,
 * response, sense of sense_size bytes) and the data-in buffer. A request
 * moving data both ways (F_INOUT is not offered) fails with
 * VIRTIO_SCSI_S_FAILURE; one whose buffer is smaller than its CDB asks, or
 * points the other way, with VIRTIO_SCSI_S_OVERRUN (QEMU's answer); a LUN
 * address nobody answers with VIRTIO_SCSI_S_BAD_TARGET; a chain too short for
 * its header or response breaks the queue (DEVICE_NEEDS_RESET).
 *
 * I/O follows virtio-blk's design: the I/O thread pops everything available
 * into request structures kept on a free list, answers what needs no block
 * I/O at once, and runs a lone request itself; several go to a pool of worker
 * threads (io-pool.c) doing blocking preadv/pwritev straight into the guest's
 * buffers. Completions take the queue lock to push and let event idx decide on
 * the interrupt. A driver reset waits until nothing is in flight; a completion
 * whose queue was reset since it was popped (the transport's epoch) is
 * dropped.
 *
 * Task management: a logical unit reset or I_T nexus reset waits for the
 * unit's commands in flight, then resets it (unit attention); ABORT TASK and
 * the task set functions cannot stop a blocking call, so they wait for the
 * commands to finish (they complete normally, before the TMF's answer) and
 * report FUNCTION COMPLETE. QUERY TASK (SET) answers whether one is in flight.
 *
 * Events: a capacity change (block_resize) is a VIRTIO_SCSI_T_PARAM_CHANGE
 * event when the driver took VIRTIO_SCSI_F_CHANGE, as QEMU sends it; with no
 * event buffer posted the event is dropped and the next buffer carries
 * VIRTIO_SCSI_T_EVENTS_MISSED.
 *
 * Hot-plug: device_add of a scsi-hd or scsi-cd onto the controller's bus
 * posts VIRTIO_SCSI_T_TRANSPORT_RESET with reason RESCAN for its address,
 * device_del reason REMOVED and the unit leaves at once (DEVICE_DELETED), as
 * QEMU does, when the driver took VIRTIO_SCSI_F_HOTPLUG.
 *
 * Compatibility: num_queues defaults to the vCPU count (QEMU 7.2's default)
 * up to 62 request queues (the transport's 64 queues); QEMU's hotplug and
 * param_change properties, cmd_per_lun, max_sectors and virtqueue_size are
 * not taken (the defaults are QEMU's: hot-plug and parameter changes on,
 * QEMU's limits in the configuration). iothread=ID serves the
 * queues on that -object iothread (vmm/iothread.h) instead of on the
 * device's own I/O thread.
 */
#include "util/log.h"
#include "util/mem.h"
#include "vmm/iothread.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/dev/io-pool.h"
#include "vmm/dev/scsi.h"
#include "vmm/dev/virtio-pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VIRTIO_ID_SCSI 8

#define VIRTIO_SCSI_F_HOTPLUG 1
#define VIRTIO_SCSI_F_CHANGE  2

#define Q_CTRL  0
#define Q_EVENT 1
#define Q_REQ   2

#define QUEUE_SIZE 256
#define CONFIG_LEN 36
#define MAX_QUEUES (VIRTIO_PCI_MAX_QUEUES - Q_REQ)
#define SENSE_SIZE 96 /* the defaults, and the largest a driver may ask for */
#define CDB_SIZE   32
#define HDR_FIXED  19 /* lun[8], id, task_attr, prio, crn: the header before the CDB */
#define RESP_FIXED 12 /* sense_len, residual, status_qualifier, status, response */

/* Responses (virtio 1.2 §5.6.6.1). */
#define S_OK                 0
#define S_OVERRUN            1
#define S_BAD_TARGET         3
#define S_FAILURE            9
#define S_FUNCTION_SUCCEEDED 10
#define S_FUNCTION_REJECTED  11
#define S_INCORRECT_LUN      12

/* Control queue. */
#define T_TMF                  0
#define T_AN_QUERY             1
#define T_AN_SUBSCRIBE         2
#define TMF_ABORT_TASK         0
#define TMF_ABORT_TASK_SET     1
#define TMF_CLEAR_ACA          2
#define TMF_CLEAR_TASK_SET     3
#define TMF_I_T_NEXUS_RESET    4
#define TMF_LOGICAL_UNIT_RESET 5
#define TMF_QUERY_TASK         6
#define TMF_QUERY_TASK_SET     7

/* Events. */
#define T_NO_EVENT        0
#define T_TRANSPORT_RESET 1
#define T_PARAM_CHANGE    3
#define REASON_RESCAN     1 /* T_TRANSPORT_RESET (VIRTIO_SCSI_EVT_RESET_RESCAN): a unit came */
#define REASON_REMOVED    2 /* VIRTIO_SCSI_EVT_RESET_REMOVED: a unit left */
#define T_EVENTS_MISSED   0x80000000u

struct vscsi_req {
    struct io_pool_item item; /* first: the pool hands it back as this */
    struct vscsi_req *next;   /* free list, in-flight list */
    struct vscsi_req *prev;
    struct vscsi_req *batch; /* popped together, to start after the pops */
    unsigned qi;
    uint32_t epoch;
    uint64_t tag;
    struct scsi_lun *lun;
    uint64_t resp_len, data_len; /* the response's size; the data buffer's, either way */
    enum scsi_dir dir;           /* which way the data buffer points */
    struct scsi_cmd cmd;
    struct iovec iov[VQ_MAX_SEGS];
    struct vq_chain chain;
};

struct virtio_scsi {
    struct scsi_bus bus; /* first: scsi-disk.c finds it through the device's priv */
    struct virtio_pci vp;
    uint8_t config[CONFIG_LEN];
    uint32_t sense_size, cdb_size; /* what the driver set (atomic) */
    struct io_pool pool;
    /* Requests: free list, the list in flight (for TMFs), and their count. */
    pthread_mutex_t req_lock;
    pthread_cond_t drained;
    struct vscsi_req *free_reqs, *inflight_head;
    unsigned inflight;
    bool events_dropped; /* under the event queue's lock */
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

/* --- configuration ------------------------------------------------------------------------ */

static void scsi_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_scsi *s = opaque;
    if (off + size <= CONFIG_LEN)
        memcpy(data, s->config + off, size);
}

/* sense_size and cdb_size are the driver's to set, up to the defaults (the request and
 * response layouts follow them); the rest is read-only. */
static void scsi_write_config(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_scsi *s = opaque;
    if (size != 4 || (off != 20 && off != 24))
        return;
    uint32_t v = (uint32_t)get_le(data, 4);
    uint32_t max = off == 20 ? SENSE_SIZE : CDB_SIZE;
    if (v > max) {
        if (ratelimit_allow(&s->rl, monotonic_ns()))
            log_warn("%s: the driver set %s to %u (at most %u): ignored", s->vp.pci.name,
                     off == 20 ? "sense_size" : "cdb_size", v, max);
        return;
    }
    put_le(s->config + off, v, 4);
    __atomic_store_n(off == 20 ? &s->sense_size : &s->cdb_size, v, __ATOMIC_RELEASE);
}

/* --- requests ----------------------------------------------------------------------------- */

static struct vscsi_req *req_get(struct virtio_scsi *s)
{
    pthread_mutex_lock(&s->req_lock);
    struct vscsi_req *req = s->free_reqs;
    if (req)
        s->free_reqs = req->next;
    pthread_mutex_unlock(&s->req_lock);
    return req ? req : xmalloc(sizeof(*req));
}

/* Back to the free list; an in-flight one leaves the in-flight list and its unit. */
static void req_put(struct virtio_scsi *s, struct vscsi_req *req, bool was_inflight)
{
    if (req->lun)
        scsi_bus_put(&s->bus, req->lun);
    req->lun = NULL;
    pthread_mutex_lock(&s->req_lock);
    if (was_inflight) {
        if (req->prev)
            req->prev->next = req->next;
        else
            s->inflight_head = req->next;
        if (req->next)
            req->next->prev = req->prev;
        if (--s->inflight == 0)
            pthread_cond_broadcast(&s->drained);
    }
    req->next = s->free_reqs;
    s->free_reqs = req;
    pthread_mutex_unlock(&s->req_lock);
}

static void inflight_add(struct virtio_scsi *s, struct vscsi_req *req)
{
    pthread_mutex_lock(&s->req_lock);
    req->prev = NULL;
    req->next = s->inflight_head;
    if (s->inflight_head)
        s->inflight_head->prev = req;
    s->inflight_head = req;
    s->inflight++;
    pthread_mutex_unlock(&s->req_lock);
}

/* Whether a command of unit lun (with tag, unless any_tag) is in flight. */
static bool is_inflight(struct virtio_scsi *s, const struct scsi_lun *lun, bool any_tag,
                        uint64_t tag)
{
    pthread_mutex_lock(&s->req_lock);
    bool found = false;
    for (struct vscsi_req *r = s->inflight_head; r && !found; r = r->next)
        found = r->lun == lun && (any_tag || r->tag == tag);
    pthread_mutex_unlock(&s->req_lock);
    return found;
}

static void wait_drained(struct virtio_scsi *s)
{
    pthread_mutex_lock(&s->req_lock);
    while (s->inflight)
        pthread_cond_wait(&s->drained, &s->req_lock);
    pthread_mutex_unlock(&s->req_lock);
}

/* Writes the response and returns the chain (unless its queue was reset since it was
 * popped), interrupting if the driver wants it. q_locked: the caller holds the queue lock. */
static void complete(struct virtio_scsi *s, struct vscsi_req *req, uint8_t response, bool q_locked)
{
    struct virtio_queue *q = &s->vp.queues[req->qi];
    const struct scsi_cmd *cmd = &req->cmd;
    uint8_t resp[RESP_FIXED + SENSE_SIZE] = {0};
    uint64_t sense_room = req->resp_len - RESP_FIXED;
    uint32_t sense_len = 0;
    if (response == S_OK && cmd->status == SCSI_CHECK_CONDITION) {
        uint8_t sense[SCSI_SENSE_LEN];
        scsi_sense_fixed(cmd->sense, sense);
        sense_len = sense_room < SCSI_SENSE_LEN ? (uint32_t)sense_room : SCSI_SENSE_LEN;
        memcpy(resp + RESP_FIXED, sense, sense_len);
    }
    uint64_t moved = response == S_OK ? cmd->transferred : 0;
    put_le(resp, sense_len, 4);
    put_le(resp + 4, req->data_len - moved, 4); /* residual: of the buffer the driver gave */
    resp[10] = response == S_OK ? cmd->status : 0;
    resp[11] = response;
    uint32_t written = (uint32_t)req->resp_len + (req->dir == SCSI_DIR_IN ? (uint32_t)moved : 0);
    if (!q_locked)
        pthread_mutex_lock(&q->lock);
    if (q->epoch == req->epoch && q->enabled && !q->vq.broken) {
        vq_chain_write(&req->chain, 0, resp, req->resp_len);
        vq_push(&q->vq, req->chain.head, written);
        virtio_pci_queue_done(&s->vp, req->qi);
    }
    if (!q_locked)
        pthread_mutex_unlock(&q->lock);
}

static void run_io(struct virtio_scsi *s, struct vscsi_req *req, bool q_locked)
{
    scsi_lun_run_io(req->lun, &req->cmd);
    complete(s, req, S_OK, q_locked);
    req_put(s, req, true);
}

static void pool_run(void *opaque, struct io_pool_item *item)
{
    run_io(opaque, (struct vscsi_req *)item, false);
}

/* The iovec of the data buffer: skip bytes of the readable (out) or writable (in) part,
 * then up to len bytes. */
static int build_iov(struct vscsi_req *req, bool out, uint64_t skip, uint64_t len)
{
    const struct vq_chain *c = &req->chain;
    int n = 0;
    for (unsigned i = 0; i < c->nr && len; i++) {
        const struct vq_seg *sg = &c->seg[i];
        if (sg->write == out)
            continue;
        if (skip >= sg->len) {
            skip -= sg->len;
            continue;
        }
        uint64_t k = sg->len - skip < len ? sg->len - skip : len;
        req->iov[n++] = (struct iovec){sg->host + skip, (size_t)k};
        len -= k;
        skip = 0;
    }
    return n;
}

/* Which unit a virtio-scsi LUN address names: byte 0 is 1, byte 1 the target, bytes 2-3
 * the LUN in peripheral (00xx) or flat (40xx-7fxx) form. False: an address nobody has. */
static bool decode_lun(const uint8_t *lun, unsigned *target, unsigned *l)
{
    if (lun[0] != 1 || (lun[2] != 0 && (lun[2] < 0x40 || lun[2] >= 0x80)))
        return false;
    *target = lun[1];
    *l = ((unsigned)lun[2] << 8 | lun[3]) & 0x3fff;
    return true;
}

/* I/O thread, queue lock held: one popped request. Returns true when it needs block I/O
 * (it is then in flight, on the in-flight list), false when it is answered (the caller puts
 * it back). */
static bool start_request(struct virtio_scsi *s, struct vscsi_req *req)
{
    const struct vq_chain *c = &req->chain;
    uint32_t cdb_size = __atomic_load_n(&s->cdb_size, __ATOMIC_ACQUIRE);
    uint32_t sense_size = __atomic_load_n(&s->sense_size, __ATOMIC_ACQUIRE);
    uint64_t hdr_len = HDR_FIXED + cdb_size;
    uint8_t hdr[HDR_FIXED + CDB_SIZE];
    vq_chain_read(c, 0, hdr, hdr_len);
    req->resp_len = RESP_FIXED + sense_size;
    req->tag = get_le(hdr + 8, 8);
    req->lun = NULL;
    uint64_t out = c->out_len - hdr_len, in = c->in_len - req->resp_len;
    req->dir = out ? SCSI_DIR_OUT : in ? SCSI_DIR_IN : SCSI_DIR_NONE;
    req->data_len = out ? out : in;
    struct scsi_cmd *cmd = &req->cmd;
    memset(cmd, 0, sizeof(*cmd));
    if (out && in) { /* bidirectional: F_INOUT is not offered */
        complete(s, req, S_FAILURE, true);
        return false;
    }
    unsigned target, l;
    bool target_exists = false;
    if (decode_lun(hdr, &target, &l))
        req->lun = scsi_bus_get(&s->bus, target, l, &target_exists);
    if (!req->lun && !target_exists) {
        complete(s, req, S_BAD_TARGET, true);
        return false;
    }
    cmd->cdb_len = cdb_size < SCSI_CDB_MAX ? cdb_size : SCSI_CDB_MAX;
    memcpy(cmd->cdb_bytes, hdr + HDR_FIXED, cmd->cdb_len);
    scsi_cdb_decode(cmd->cdb_bytes, cmd->cdb_len, req->lun ? req->lun->block_size : 512, &cmd->cdb);
    const struct scsi_cdb *d = &cmd->cdb;
    if (d->known && d->dir != SCSI_DIR_NONE && (d->dir != req->dir || d->xfer > req->data_len)) {
        complete(s, req, S_OVERRUN, true); /* the buffer cannot hold what the CDB moves */
        return false;
    }
    uint64_t xfer = d->known && d->dir != SCSI_DIR_NONE ? d->xfer : 0;
    cmd->iovcnt = build_iov(req, req->dir == SCSI_DIR_OUT,
                            req->dir == SCSI_DIR_OUT ? hdr_len : req->resp_len, xfer);
    cmd->iov = req->iov;
    cmd->data_len = xfer;
    if (d->known && d->opcode == SCSI_REPORT_LUNS) { /* the target's, whichever LUN asks */
        unsigned luns[64];
        scsi_report_luns(cmd, luns, scsi_bus_target_luns(&s->bus, target, luns, 64));
    } else if (!req->lun) {
        scsi_no_lun_command(cmd);
    } else if (scsi_lun_start(req->lun, cmd) == SCSI_IO) {
        inflight_add(s, req);
        return true;
    }
    complete(s, req, S_OK, true);
    return false;
}

/* I/O thread, queue lock held: pops everything available on request queue qi and starts it;
 * a lone request with nothing else in flight runs here, the rest on the pool. */
static void process_requests(struct virtio_scsi *s, unsigned qi)
{
    struct virtio_queue *q = &s->vp.queues[qi];
    struct vscsi_req *batch = NULL, **tail = &batch;
    unsigned n = 0;
    pthread_mutex_lock(&s->req_lock);
    unsigned before = s->inflight;
    pthread_mutex_unlock(&s->req_lock);
    for (;;) {
        struct verr err = {0};
        struct vscsi_req *req = req_get(s);
        req->lun = NULL;
        int r = vq_pop(&q->vq, &req->chain, &err);
        if (r == 0) {
            req_put(s, req, false);
            break;
        }
        uint32_t cdb_size = __atomic_load_n(&s->cdb_size, __ATOMIC_ACQUIRE);
        uint32_t sense_size = __atomic_load_n(&s->sense_size, __ATOMIC_ACQUIRE);
        if (r > 0 && (req->chain.out_len < HDR_FIXED + cdb_size ||
                      req->chain.in_len < RESP_FIXED + sense_size)) {
            verr_set(&err, EINVAL, "request at head %u shorter than its header or response",
                     req->chain.head);
            r = -EINVAL;
        }
        if (r < 0) {
            req_put(s, req, false);
            virtio_pci_queue_broken(&s->vp, qi, &err);
            break; /* what was popped before still runs; its completion is dropped */
        }
        req->qi = qi;
        req->epoch = q->epoch;
        if (!start_request(s, req)) {
            req_put(s, req, false);
            continue;
        }
        *tail = req;
        tail = &req->batch;
        n++;
    }
    *tail = NULL;
    for (struct vscsi_req *req = batch, *next; req; req = next) {
        next = req->batch;
        if ((n == 1 && before == 0) || !io_pool_submit(&s->pool, &req->item))
            run_io(s, req, true);
    }
}

/* --- events --------------------------------------------------------------------------------- */

/* Queue lock held: posts one event (T_NO_EVENT with EVENTS_MISSED when only that) into the
 * next event buffer; false when the driver posted none (the event is dropped and the next
 * buffer says so). */
static bool post_event(struct virtio_scsi *s, uint32_t event, const uint8_t lun[8], uint32_t reason)
{
    struct virtio_queue *q = &s->vp.queues[Q_EVENT];
    if (!q->enabled || q->vq.broken)
        return false;
    struct vq_chain *c = xmalloc(sizeof(*c));
    struct verr err = {0};
    int r = vq_pop(&q->vq, c, &err);
    if (r > 0 && c->in_len < 16) {
        verr_set(&err, EINVAL, "event buffer at head %u shorter than an event", c->head);
        r = -EINVAL;
    }
    if (r < 0)
        virtio_pci_queue_broken(&s->vp, Q_EVENT, &err);
    if (r <= 0) {
        free(c);
        s->events_dropped = true;
        return false;
    }
    uint8_t ev[16] = {0};
    if (s->events_dropped)
        event |= T_EVENTS_MISSED;
    s->events_dropped = false;
    put_le(ev, event, 4);
    if (lun)
        memcpy(ev + 4, lun, 8);
    put_le(ev + 12, reason, 4);
    vq_chain_write(c, 0, ev, sizeof(ev));
    vq_push(&q->vq, c->head, sizeof(ev));
    virtio_pci_queue_done(&s->vp, Q_EVENT);
    free(c);
    return true;
}

/* scsi_lun report_change (any thread): a capacity change becomes a parameter-change event
 * (ASC in the low byte of reason, ASCQ in the next) when the driver took F_CHANGE. */
static void report_change(void *opaque, struct scsi_lun *lun, struct scsi_sense sense)
{
    struct virtio_scsi *s = opaque;
    if (!virtio_pci_has_feature(&s->vp, VIRTIO_SCSI_F_CHANGE))
        return;
    uint8_t addr[8] = {1, (uint8_t)lun->target, (uint8_t)(0x40 | (lun->lun >> 8)),
                       (uint8_t)lun->lun};
    if (lun->lun < 256)
        addr[2] = 0;
    struct virtio_queue *q = &s->vp.queues[Q_EVENT];
    pthread_mutex_lock(&q->lock);
    post_event(s, T_PARAM_CHANGE, addr, (uint32_t)sense.asc | (uint32_t)sense.ascq << 8);
    pthread_mutex_unlock(&q->lock);
}

/* I/O thread, queue lock held: the driver posted event buffers; one says what was missed. */
static void process_events(struct virtio_scsi *s)
{
    if (s->events_dropped)
        post_event(s, T_NO_EVENT, NULL, 0);
}

/* --- control queue --------------------------------------------------------------------------- */

/* One task management function; returns its response code. */
static uint8_t run_tmf(struct virtio_scsi *s, uint32_t subtype, const uint8_t *addr, uint64_t tag)
{
    unsigned target, l;
    bool target_exists = false;
    struct scsi_lun *lun = NULL;
    if (decode_lun(addr, &target, &l))
        lun = scsi_bus_get(&s->bus, target, l, &target_exists);
    if (!lun)
        return target_exists ? S_INCORRECT_LUN : S_BAD_TARGET;
    uint8_t resp = S_OK; /* FUNCTION COMPLETE */
    switch (subtype) {
    case TMF_ABORT_TASK:
    case TMF_ABORT_TASK_SET:
    case TMF_CLEAR_TASK_SET:
    case TMF_CLEAR_ACA:
        /* A blocking call cannot be stopped: the commands finish (and are answered) first. */
        scsi_bus_put(&s->bus, lun);
        scsi_bus_drain(&s->bus, -1, lun);
        return S_OK;
    case TMF_LOGICAL_UNIT_RESET:
        scsi_bus_put(&s->bus, lun);
        scsi_bus_drain(&s->bus, -1, lun);
        scsi_lun_reset(lun, false);
        return S_OK;
    case TMF_I_T_NEXUS_RESET: {
        scsi_bus_put(&s->bus, lun);
        scsi_bus_drain(&s->bus, (int)target, NULL);
        pthread_mutex_lock(&s->bus.lock);
        for (unsigned i = 0; i < s->bus.nr; i++)
            if (s->bus.luns[i]->target == target)
                scsi_lun_reset(s->bus.luns[i], false);
        pthread_mutex_unlock(&s->bus.lock);
        return S_OK;
    }
    case TMF_QUERY_TASK:
    case TMF_QUERY_TASK_SET:
        resp =
            is_inflight(s, lun, subtype == TMF_QUERY_TASK_SET, tag) ? S_FUNCTION_SUCCEEDED : S_OK;
        break;
    default:
        resp = S_FUNCTION_REJECTED;
        break;
    }
    scsi_bus_put(&s->bus, lun);
    return resp;
}

/* I/O thread, queue lock held: TMFs and asynchronous notification requests. Asynchronous
 * notifications are not offered: a query or subscription gets no events (event_actual 0). */
static void process_control(struct virtio_scsi *s)
{
    struct virtio_queue *q = &s->vp.queues[Q_CTRL];
    struct vq_chain *c = xmalloc(sizeof(*c));
    for (;;) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r == 0)
            break;
        uint8_t req[24] = {0};
        uint32_t type = 0;
        if (r > 0) {
            vq_chain_read(c, 0, req, c->out_len < sizeof(req) ? c->out_len : sizeof(req));
            type = (uint32_t)get_le(req, 4);
            bool tmf = type == T_TMF;
            bool an = type == T_AN_QUERY || type == T_AN_SUBSCRIBE;
            if (c->out_len < 4 || (tmf && (c->out_len < 24 || c->in_len < 1)) ||
                (an && (c->out_len < 16 || c->in_len < 5)) || (!tmf && !an && c->in_len < 1)) {
                verr_set(&err, EINVAL, "control request at head %u too short for type %u", c->head,
                         type);
                r = -EINVAL;
            }
        }
        if (r < 0) {
            virtio_pci_queue_broken(&s->vp, Q_CTRL, &err);
            break;
        }
        uint8_t resp[5] = {0};
        uint32_t len;
        if (type == T_TMF) {
            resp[0] = run_tmf(s, (uint32_t)get_le(req + 4, 4), req + 8, get_le(req + 16, 8));
            len = 1;
        } else if (type == T_AN_QUERY || type == T_AN_SUBSCRIBE) {
            resp[4] = S_OK; /* event_actual 0: none of the requested events are supported */
            len = 5;
        } else {
            resp[0] = S_FAILURE;
            len = 1;
        }
        vq_chain_write(c, 0, resp, len);
        vq_push(&q->vq, c->head, len);
        virtio_pci_queue_done(&s->vp, Q_CTRL);
    }
    free(c);
}

static void scsi_process(void *opaque, unsigned qi)
{
    struct virtio_scsi *s = opaque;
    if (qi == Q_CTRL)
        process_control(s);
    else if (qi == Q_EVENT)
        process_events(s);
    else
        process_requests(s, qi);
}

static void set_default_sizes(struct virtio_scsi *s)
{
    put_le(s->config + 20, SENSE_SIZE, 4);
    put_le(s->config + 24, CDB_SIZE, 4);
    __atomic_store_n(&s->sense_size, SENSE_SIZE, __ATOMIC_RELEASE);
    __atomic_store_n(&s->cdb_size, CDB_SIZE, __ATOMIC_RELEASE);
}

/* vCPU thread, device reset (queues already stopped): nothing of the old queues may still run
 * when the driver sets them up again; the sizes go back to the defaults. */
static void scsi_reset(void *opaque)
{
    struct virtio_scsi *s = opaque;
    wait_drained(s);
    set_default_sizes(s);
    s->events_dropped = false;
}

static const struct virtio_dev_ops scsi_ops = {
    .read_config = scsi_read_config,
    .write_config = scsi_write_config,
    .process_queue = scsi_process,
    .reset = scsi_reset,
};

/* --- the device type ------------------------------------------------------------------------ */

struct vscsi_opts {
    uint32_t num_queues; /* 0: one per vCPU */
    char *iothread;
};

static void bus_stop(struct scsi_bus *bus)
{
    struct virtio_scsi *s = (struct virtio_scsi *)bus;
    virtio_pci_stop_io(&s->vp);
}

static int vscsi_check(struct dev_config *cfg, struct verr *err)
{
    const struct vscsi_opts *o = DEV_OPTS(cfg, struct vscsi_opts);
    if (o->num_queues > MAX_QUEUES)
        return verr_set(err, EINVAL, "num_queues=%u: at most %u request queues", o->num_queues,
                        MAX_QUEUES);
    return 0;
}

static void vscsi_free_state(struct virtio_scsi *s)
{
    wait_drained(s);
    io_pool_destroy(&s->pool);
    while (s->free_reqs) {
        struct vscsi_req *r = s->free_reqs;
        s->free_reqs = r->next;
        free(r);
    }
    pthread_mutex_destroy(&s->req_lock);
    pthread_cond_destroy(&s->drained);
    scsi_bus_destroy(&s->bus);
}

static int vscsi_create(struct device *dev, struct verr *err)
{
    const struct vscsi_opts *o = DEV_OPTS(dev->cfg, struct vscsi_opts);
    struct iothread *it = NULL;
    if (o->iothread && !(it = iothread_set_find(&dev->vm->iothreads, o->iothread)))
        return verr_set(err, ENOENT, "Device '%s' not found", o->iothread);
    unsigned nq = o->num_queues ? o->num_queues : dev->vm->nr_vcpus;
    if (nq == 0)
        nq = 1;
    if (nq > MAX_QUEUES)
        nq = MAX_QUEUES;
    struct virtio_scsi *s = xcalloc(1, sizeof(*s));
    scsi_bus_init(&s->bus);
    s->bus.stop = bus_stop;
    s->bus.report_change = report_change;
    s->bus.report_opaque = s;
    s->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    pthread_mutex_init(&s->req_lock, NULL);
    pthread_cond_init(&s->drained, NULL);
    io_pool_init(&s->pool, pool_run, s);
    uint8_t *cf = s->config;
    put_le(cf + 0, nq, 4);
    put_le(cf + 4, QUEUE_SIZE - 2, 4); /* seg_max: QEMU's, the queue size less header/response */
    put_le(cf + 8, 0xffff, 4);         /* max_sectors */
    put_le(cf + 12, 128, 4);           /* cmd_per_lun */
    put_le(cf + 16, 16, 4);            /* event_info_size */
    put_le(cf + 28, 0, 2);             /* max_channel */
    put_le(cf + 30, SCSI_MAX_TARGET, 2);
    put_le(cf + 32, SCSI_MAX_LUN, 4);
    set_default_sizes(s);
    uint64_t f = 1ull << VIRTIO_SCSI_F_CHANGE | 1ull << VIRTIO_SCSI_F_HOTPLUG;
    int r = virtio_pci_init(&s->vp, dev->vm, "virtio-scsi-pci", VIRTIO_ID_SCSI, 0x010000, f,
                            Q_REQ + nq, QUEUE_SIZE, CONFIG_LEN, &scsi_ops, s, err);
    if (r == 0 && it)
        virtio_pci_set_iothread(&s->vp, it);
    if (r == 0)
        r = virtio_pci_plug(&s->vp, &dev->cfg->pci, err);
    if (r < 0) {
        virtio_pci_stop_io(&s->vp);
        vscsi_free_state(s);
        virtio_pci_destroy(&s->vp);
        free(s);
        return r;
    }
    dev->priv = s;
    dev->pci = &s->vp.pci;
    return 0;
}

static void vscsi_reset(struct device *dev)
{
    struct virtio_scsi *s = dev->priv;
    virtio_pci_system_reset(&s->vp);
}

static void vscsi_free(struct device *dev)
{
    struct virtio_scsi *s = dev->priv;
    virtio_pci_stop_io(&s->vp);
    vscsi_free_state(s);
    virtio_pci_destroy(&s->vp);
    free(s);
}

static const struct dev_prop vscsi_props[] = {
    DEV_PROP("num_queues", DEV_PROP_U32, struct vscsi_opts, num_queues, "0", 0, 0, NULL),
    DEV_PROP("iothread", DEV_PROP_STR, struct vscsi_opts, iothread, NULL, 0, 0, NULL),
    DEV_PROP_END,
};

/* --- state ---------------------------------------------------------------------------------- */

/* Records besides the transport's: "scsi.sizes" (the driver's sense_size and cdb_size, le32
 * each) and "scsi.events_missed" (u8: an event was dropped for want of a buffer, the next
 * one says so). The units' own state (attentions, tray, medium) is in their sections.
 *
 * Quiesce: the I/O thread stopped (no request starts), then every request in flight
 * completes and is pushed to its used ring, which is in RAM and saved after the devices:
 * nothing is in flight in the stream, so nothing is lost or done twice. */
static int vscsi_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_scsi *s = dev->priv;
    virtio_pci_stop_io(&s->vp);
    wait_drained(s);
    uint8_t sizes[8];
    put_le(sizes, __atomic_load_n(&s->sense_size, __ATOMIC_ACQUIRE), 4);
    put_le(sizes + 4, __atomic_load_n(&s->cdb_size, __ATOMIC_ACQUIRE), 4);
    struct virtio_queue *eq = &s->vp.queues[Q_EVENT];
    pthread_mutex_lock(&eq->lock);
    uint8_t missed = s->events_dropped;
    pthread_mutex_unlock(&eq->lock);
    int r = w->put(w, "scsi.sizes", sizes, sizeof(sizes), err);
    if (r == 0)
        r = w->put(w, "scsi.events_missed", &missed, 1, err);
    return r < 0 ? r : virtio_pci_save(&s->vp, w, err);
}

static int vscsi_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_scsi *s = dev->priv;
    uint8_t sizes[8], missed;
    int rc = r->get(r, "scsi.sizes", sizes, sizeof(sizes), err);
    if (rc == 0)
        rc = r->get(r, "scsi.events_missed", &missed, 1, err);
    if (rc < 0)
        return rc;
    uint32_t sense = (uint32_t)get_le(sizes, 4), cdb = (uint32_t)get_le(sizes + 4, 4);
    if (sense > SENSE_SIZE || cdb > CDB_SIZE)
        return verr_set(err, EINVAL,
                        "field 'scsi.sizes': sense_size %u, cdb_size %u (at most %u and %u)", sense,
                        cdb, SENSE_SIZE, CDB_SIZE);
    if (missed > 1)
        return verr_set(err, EINVAL, "field 'scsi.events_missed': %u (0 or 1)", missed);
    put_le(s->config + 20, sense, 4);
    put_le(s->config + 24, cdb, 4);
    __atomic_store_n(&s->sense_size, sense, __ATOMIC_RELEASE);
    __atomic_store_n(&s->cdb_size, cdb, __ATOMIC_RELEASE);
    struct virtio_queue *eq = &s->vp.queues[Q_EVENT];
    pthread_mutex_lock(&eq->lock);
    s->events_dropped = missed;
    pthread_mutex_unlock(&eq->lock);
    return virtio_pci_load(&s->vp, r, err);
}

/* --- hot-plug ------------------------------------------------------------------------------- */

/* A unit plugged (hot) or unplugged: QEMU's VIRTIO_SCSI_T_TRANSPORT_RESET event with the
 * unit's address, when the driver took F_HOTPLUG (else the guest finds it on its next scan). */
static void hotplug_event(struct virtio_scsi *s, const struct device *child, uint32_t reason)
{
    if (!virtio_pci_has_feature(&s->vp, VIRTIO_SCSI_F_HOTPLUG))
        return;
    const struct scsi_lun *lun = scsi_disk_lun(child);
    uint8_t addr[8] = {1, (uint8_t)lun->target, (uint8_t)(0x40 | (lun->lun >> 8)),
                       (uint8_t)lun->lun};
    if (lun->lun < 256)
        addr[2] = 0;
    struct virtio_queue *q = &s->vp.queues[Q_EVENT];
    pthread_mutex_lock(&q->lock);
    post_event(s, T_TRANSPORT_RESET, addr, reason);
    pthread_mutex_unlock(&q->lock);
}

static int vscsi_hotplug_check(struct device *owner, struct verr *err)
{
    (void)owner, (void)err;
    return 0; /* QEMU's hotplug=on: any free target and LUN (scsi-disk.c checks them) */
}

static void vscsi_plugged(struct device *owner, struct device *child, bool hot)
{
    if (hot)
        hotplug_event(owner->priv, child, REASON_RESCAN);
}

/* device_del of a unit: the guest is told and the unit leaves at once, as in QEMU (SCSI has
 * no handshake: requests still queued for it end with BAD_TARGET). */
static int vscsi_unplug(struct device *owner, struct device *child, struct verr *err)
{
    (void)err;
    struct virtio_scsi *s = owner->priv;
    hotplug_event(s, child, REASON_REMOVED);
    bool running = s->vp.thread_started; /* not while the VM is paused */
    dev_hotplug_remove(child);           /* stops the queues to let the unit's I/O end */
    struct verr e = {0};
    if (running && virtio_pci_start_io(&s->vp, &e) < 0)
        log_error("%s", verr_msg(&e));
    return 0;
}

static void vscsi_resume(struct device *dev)
{
    struct virtio_scsi *s = dev->priv;
    struct verr err = {0};
    if (virtio_pci_start_io(&s->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_type virtio_scsi_pci_type = {
    .name = "virtio-scsi-pci",
    .alias = "virtio-scsi",
    .desc = "virtio SCSI host adapter (bus ID.0 for scsi-hd and scsi-cd)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_SCSI,
    .user_creatable = true,
    .props = vscsi_props,
    .opts_size = sizeof(struct vscsi_opts),
    .check = vscsi_check,
    .create = vscsi_create,
    .reset = vscsi_reset,
    .free = vscsi_free,
    .state_version = 1,
    .save = vscsi_save,
    .load = vscsi_load,
    .resume = vscsi_resume,
    .hotplug_check = vscsi_hotplug_check,
    .plugged = vscsi_plugged,
    .unplug = vscsi_unplug,
};

const struct dev_type *const dev_types_virtio_scsi[] = {&virtio_scsi_pci_type, NULL};
