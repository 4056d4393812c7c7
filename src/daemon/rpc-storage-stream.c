/*
 * rpc-storage-stream.c - virStorageVolUpload and virStorageVolDownload: a
 * volume's host bytes (the file as it is, qcow2 header and all, as libvirt
 * moves them) as a stream after the call's reply.
 *
 * Download: the daemon sends STREAM data in 64 KiB messages from the loop,
 * a little at a time so a slow client holds at most about a megabyte of
 * queued output, then an empty STREAM CONTINUE (the end); the client's
 * finish is confirmed with STREAM OK. With the sparse flag the file's holes
 * (SEEK_HOLE) go as STREAM_HOLE messages instead of zeroes.
 * Upload: the client's STREAM data is written at offset + position; its
 * STREAM_HOLE messages punch holes (or extend the file); its finish syncs
 * the file and is confirmed with STREAM OK. A failed write ends the stream
 * with a STREAM ERROR naming the volume and the cause.
 * A client that goes away ends its transfers (vd_storage_client_gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

#define CHUNK        65536u
#define QUEUED_LIMIT (1u << 20)

struct vd_transfer {
    struct vd_transfer *next;
    struct vd_storage *s;
    struct vd_client *client;
    int proc;
    uint32_t serial;
    int fd;
    char *path;
    uint64_t offset, pos, length; /* length 0: to the end (download: fixed at start) */
    bool sparse, upload, done;
    struct loop_timer *timer;
};

static void transfer_free(struct vd_transfer *t)
{
    for (struct vd_transfer **pp = &t->s->transfers; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    if (t->fd >= 0)
        close(t->fd);
    loop_timer_free(t->timer);
    vd_client_unref(t->client);
    free(t->path);
    free(t);
}

static void send_error(struct vd_transfer *t, struct buf *out, int code, const char *fmt,
                       const char *cause)
{
    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, t->proc, RPC_STREAM, t->serial, RPC_ERROR};
    struct rpc_error re = {0};
    struct verr err = {0};
    rpc_error_set(&re, code, VIR_FROM_STORAGE, fmt, t->path, cause);
    rpc_msg_encode_error(out, &h, &re, &err);
    rpc_error_free(&re);
}

static int open_transfer(struct vd_call *c, const struct remote_nonnull_storage_vol *vol,
                         uint64_t offset, uint64_t length, unsigned flags, bool upload)
{
    struct vd_storage *s = c->d->storage;
    const char *fn = upload ? "storageVolUpload" : "storageVolDownload";
    if (!s)
        return vd_call_fail(c, VIR_ERR_NO_SUPPORT,
                            "this function is not supported by the "
                            "connection driver: the storage driver is not "
                            "running");
    if (vd_call_check_flags(c, flags, VD_VOL_STREAM_SPARSE, fn) < 0)
        return -1;
    struct vd_pool *p = vd_pool_find_name(s, vol->pool);
    if (!p)
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                            "Storage pool not found: no storage pool with matching name '%s'",
                            vol->pool);
    if (!p->active)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: storage pool '%s' is not active",
                            p->def->name);
    struct vd_vol v;
    if (vd_vol_lookup(p, vol->name, &v) < 0)
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_VOL,
                            "Storage volume not found: no storage vol with matching name '%s'",
                            vol->name);
    if (vd_storage_job_busy(s, v.path)) {
        vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                     "Requested operation is not valid: volume '%s' is still in use.", v.name);
        vd_vol_clear(&v);
        return -1;
    }
    int fd = open(v.path, (upload ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        vd_call_fail(c, VIR_ERR_SYSTEM_ERROR, "Unable to open '%s': %s", v.path, strerror(e));
        vd_vol_clear(&v);
        return -1;
    }
    if (!upload && offset > (uint64_t)st.st_size) {
        close(fd);
        vd_call_fail(c, VIR_ERR_INVALID_ARG,
                     "invalid argument: offset %llu is past the end of '%s' (%lld bytes)",
                     (unsigned long long)offset, v.path, (long long)st.st_size);
        vd_vol_clear(&v);
        return -1;
    }
    struct vd_transfer *t = xcalloc(1, sizeof(*t));
    t->s = s;
    t->client = c->client;
    vd_client_ref(c->client);
    t->proc = c->h->proc;
    t->serial = c->h->serial;
    t->fd = fd;
    t->path = v.path;
    v.path = NULL;
    vd_vol_clear(&v);
    t->offset = offset;
    t->upload = upload;
    t->sparse = flags & VD_VOL_STREAM_SPARSE;
    t->length = length;
    if (!upload) {
        uint64_t rest = (uint64_t)st.st_size - offset;
        if (!length || length > rest)
            t->length = rest;
    }
    t->next = s->transfers;
    s->transfers = t;
    return 0;
}

/* Download: as much as the client's queue allows, then again later. */
static void download_pump(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct vd_transfer *t = opaque;
    struct vd_client *c = t->client;
    if (c->fd < 0) {
        transfer_free(t);
        return;
    }
    struct buf out = BUF_INIT;
    struct verr err = {0};
    uint8_t *data = xmalloc(CHUNK);
    while (!t->done && c->writer.queued + out.len < QUEUED_LIMIT) {
        uint64_t left = t->length - t->pos;
        if (!left) {
            rpc_stream_encode(&out, t->proc, t->serial, RPC_CONTINUE, NULL, 0, &err);
            t->done = true; /* the client's finish is answered in vd_storage_stream */
            break;
        }
        off_t at = (off_t)(t->offset + t->pos);
        uint64_t n = left < CHUNK ? left : CHUNK;
        if (t->sparse) {
            off_t d = lseek(t->fd, at, SEEK_DATA);
            if (d < 0 && errno == ENXIO) /* a hole to the end */
                d = (off_t)(t->offset + t->length);
            if (d > at) {
                uint64_t hole = (uint64_t)(d - at) < left ? (uint64_t)(d - at) : left;
                rpc_stream_hole_encode(&out, t->proc, t->serial, (int64_t)hole, &err);
                t->pos += hole;
                continue;
            }
            off_t hend = lseek(t->fd, at, SEEK_HOLE);
            if (hend > at && (uint64_t)(hend - at) < n)
                n = (uint64_t)(hend - at);
        }
        ssize_t got = pread(t->fd, data, n, at);
        if (got <= 0) {
            send_error(t, &out, VIR_ERR_SYSTEM_ERROR, "cannot read from '%s': %s",
                       got < 0 ? strerror(errno) : "the file is shorter than it was");
            t->done = true;
            break;
        }
        rpc_stream_encode(&out, t->proc, t->serial, RPC_CONTINUE, data, (size_t)got, &err);
        t->pos += (uint64_t)got;
    }
    free(data);
    bool done = t->done;
    vd_client_send(c, &out); /* a failed send drops the client, and t with it */
    buf_free(&out);
    if (c->fd >= 0 && !done)
        loop_timer_arm(t->timer, 1000000, 0); /* the queue drains meanwhile */
}

int vd_storage_download(struct vd_call *c)
{
    const struct remote_storage_vol_download_args *a = c->args;
    if (open_transfer(c, &a->vol, a->offset, a->length, a->flags, false) < 0)
        return -1;
    struct vd_transfer *t = c->d->storage->transfers;
    t->timer = loop_timer_new(c->d->loop, download_pump, t);
    loop_timer_arm(t->timer, 1, 0); /* after the reply goes out */
    return 0;
}

int vd_storage_upload(struct vd_call *c)
{
    const struct remote_storage_vol_upload_args *a = c->args;
    return open_transfer(c, &a->vol, a->offset, a->length, a->flags, true) < 0 ? -1 : 0;
}

static int upload_hole(struct vd_transfer *t, const uint8_t *payload, size_t len)
{
    int64_t hole;
    if (!t->sparse || rpc_stream_hole_decode(payload, len, &hole) < 0)
        return -EPROTO;
    off_t at = (off_t)(t->offset + t->pos);
    struct stat st;
    if (fstat(t->fd, &st) < 0)
        return -errno;
    off_t end = at + hole;
    if (end > st.st_size && ftruncate(t->fd, end) < 0)
        return -errno;
    off_t punch_end = end < st.st_size ? end : st.st_size;
    if (punch_end > at &&
        fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, punch_end - at) < 0) {
        /* no hole punching here: write the zeroes */
        static const uint8_t zero[4096];
        for (off_t o = at; o < punch_end;) {
            size_t n = punch_end - o < (off_t)sizeof(zero) ? (size_t)(punch_end - o) : sizeof(zero);
            ssize_t w = pwrite(t->fd, zero, n, o);
            if (w <= 0)
                return w < 0 ? -errno : -EIO;
            o += w;
        }
    }
    t->pos += (uint64_t)hole;
    return 0;
}

bool vd_storage_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                       struct buf *out)
{
    struct vd_client *c = ctx;
    struct vd_storage *s = c->d->storage;
    if (!s ||
        (h->proc != REMOTE_PROC_STORAGE_VOL_UPLOAD && h->proc != REMOTE_PROC_STORAGE_VOL_DOWNLOAD))
        return false;
    struct vd_transfer *t = s->transfers;
    while (t && !(t->client == c && t->serial == h->serial && t->proc == h->proc))
        t = t->next;
    if (!t)
        return true;
    struct verr err = {0};
    if (h->status != RPC_CONTINUE) { /* finish or abort */
        if (t->upload && h->status == RPC_OK && fdatasync(t->fd) < 0)
            send_error(t, out, VIR_ERR_SYSTEM_ERROR, "cannot sync '%s': %s", strerror(errno));
        else
            rpc_stream_encode(out, h->proc, h->serial, RPC_OK, NULL, 0, &err);
        transfer_free(t);
        return true;
    }
    if (!t->upload || t->done)
        return true;
    int r = 0;
    if (h->type == RPC_STREAM_HOLE) {
        r = upload_hole(t, payload, len);
    } else {
        if (t->length && len > t->length - t->pos) {
            r = -EFBIG;
        } else {
            for (size_t done = 0; done < len && r == 0;) {
                ssize_t w =
                    pwrite(t->fd, payload + done, len - done, (off_t)(t->offset + t->pos + done));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    r = w < 0 ? -errno : -EIO;
                else
                    done += (size_t)w;
            }
            if (r == 0)
                t->pos += len;
        }
    }
    if (r < 0) {
        send_error(t, out, VIR_ERR_SYSTEM_ERROR, "cannot write to '%s': %s",
                   r == -EFBIG    ? "more data than the upload's length"
                   : r == -EPROTO ? "a malformed or unrequested hole"
                                  : strerror(-r));
        t->done = true; /* the client's abort or finish still ends it */
    }
    return true;
}

bool vd_storage_transfer_busy(const struct vd_storage *s, const char *path)
{
    for (const struct vd_transfer *t = s->transfers; t; t = t->next)
        if (strcmp(t->path, path) == 0)
            return true;
    return false;
}

void vd_storage_streams_end(struct vd_storage *s)
{
    vd_storage_events_end(s); /* and the event registrations */
    while (s->transfers)
        transfer_free(s->transfers);
}

void vd_storage_client_gone(struct vd_client *c)
{
    struct vd_storage *s = c->d->storage;
    if (!s)
        return;
    vd_storage_events_client_gone(s, c);
    for (struct vd_transfer *t = s->transfers, *next; t; t = next) {
        next = t->next;
        if (t->client == c)
            transfer_free(t);
    }
}
