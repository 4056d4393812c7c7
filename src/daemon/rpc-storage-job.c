/*
 * rpc-storage-job.c - the volume procedures that may take long (create,
 * clone, wipe, resize, delete): checked on the loop, done in a worker
 * thread, answered when the worker ends, so the loop keeps serving other
 * clients while a large volume is written ("nothing slow runs on the loop",
 * vireod.h).
 *
 * The worker sees only its own copies (paths, the parsed volume XML), never
 * the daemon's objects. While it runs, its volume (and a clone's source) is
 * busy: another job on it is refused with libvirt's "still in use", and its
 * pool cannot be destroyed, deleted or undefined ("has asynchronous jobs
 * running"). The daemon waits for its workers before it exits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

struct vd_vol_job {
    struct vd_vol_job *next; /* in the storage's busy list */
    struct vd_daemon *d;
    struct vd_client *client;
    struct rpc_header call;
    enum vd_vol_job_kind kind;
    struct vd_pool *pool; /* counts this job in its `jobs` */
    char *dir, *path, *name, *from;
    struct storage_vol_def *def; /* create */
    uint8_t *key;                /* create encrypted: the secret's value (wiped when freed) */
    size_t key_len;
    unsigned flags, algorithm;
    uint64_t capacity;
    int r;
    struct verr err;
};

bool vd_storage_job_busy(const struct vd_storage *s, const char *path)
{
    for (const struct vd_vol_job *j = s->jobs; j; j = j->next)
        if (strcmp(j->path, path) == 0 || (j->from && strcmp(j->from, path) == 0))
            return true;
    return false;
}

/* a job's volume, or one an upload or download has open */
static bool busy(const struct vd_storage *s, const char *path)
{
    return vd_storage_job_busy(s, path) || vd_storage_transfer_busy(s, path);
}

static void job_free(struct vd_vol_job *j)
{
    free(j->dir);
    free(j->path);
    free(j->name);
    free(j->from);
    storage_vol_def_free(j->def);
    if (j->key)
        explicit_bzero(j->key, j->key_len);
    free(j->key);
    free(j);
}

static void job_done(void *opaque)
{
    struct vd_vol_job *j = opaque;
    struct vd_storage *s = j->d->storage;
    j->d->workers--;
    for (struct vd_vol_job **pp = &s->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    j->pool->jobs--;
    struct buf out = BUF_INIT;
    struct verr e = {0};
    struct rpc_header h = j->call;
    h.type = RPC_REPLY;
    if (j->r < 0) {
        struct rpc_error re = {0};
        rpc_error_set(&re, vd_storage_error_code(j->r, verr_msg(&j->err)), VIR_FROM_STORAGE, "%s",
                      verr_msg(&j->err));
        h.status = RPC_ERROR;
        rpc_msg_encode_error(&out, &h, &re, &e);
        rpc_error_free(&re);
    } else {
        h.status = RPC_OK;
        const struct remote_proc *p = remote_proc_lookup(h.proc);
        /* create and create-from answer the new volume (the same shape); the others nothing */
        struct remote_storage_vol_create_xml_ret ret = {{j->pool->def->name, j->name, j->path}};
        if (rpc_msg_encode(&out, &h, p->ret, p->ret ? &ret : NULL, &e) < 0)
            log_warn("storage: %s", verr_msg(&e));
    }
    vd_client_send(j->client, &out);
    buf_free(&out);
    vd_client_unref(j->client);
    job_free(j);
}

static void *job_thread(void *opaque)
{
    struct vd_vol_job *j = opaque;
    struct vd_vol v = {NULL, j->name, j->path};
    switch (j->kind) {
    case VD_VOL_JOB_CREATE:
        j->r = vd_vol_create_data(j->dir, j->def, j->flags, j->from, j->key, j->key_len, &j->err);
        break;
    case VD_VOL_JOB_DELETE:
        j->r = vd_vol_delete(&v, j->flags, &j->err);
        break;
    case VD_VOL_JOB_WIPE:
        j->r = vd_vol_wipe(&v, j->algorithm, j->flags, &j->err);
        break;
    case VD_VOL_JOB_RESIZE:
        j->r = vd_vol_resize(&v, j->capacity, j->flags, &j->err);
        break;
    }
    loop_call_soon(j->d->loop, job_done, j);
    return NULL;
}

int vd_storage_job(struct vd_call *c, const struct vd_vol_job_args *a)
{
    struct vd_storage *s = c->d->storage;
    const char *dir = a->pool->def->target_path;
    struct storage_vol_def *def = NULL;
    struct verr e = {0};
    char *path;
    uint8_t *key = NULL;
    size_t key_len = 0;
    if (a->kind == VD_VOL_JOB_CREATE) {
        int r = vd_vol_create_check(dir, a->xml, a->flags, &def, &e);
        if (r < 0)
            return vd_call_fail(c, vd_storage_error_code(r, verr_msg(&e)), "%s", verr_msg(&e));
        /* an encrypted volume's passphrase: its secret must exist and have a value now */
        const struct vd_secret *sec = NULL;
        if (def->encryption_format &&
            !(sec = vd_secret_with_value(c->d, def->secret_uuid, def->secret_usage, &e))) {
            storage_vol_def_free(def);
            return vd_call_fail(c, VIR_ERR_NO_SECRET, "%s", verr_msg(&e));
        }
        if (sec) {
            key = xmalloc(sec->value_len + 1);
            memcpy(key, sec->value, sec->value_len);
            key_len = sec->value_len;
        }
        path = xasprintf("%s/%s", dir, def->name);
    } else {
        path = xstrdup(a->vol->path);
    }
    if (busy(s, path) || (a->from && busy(s, a->from->path))) {
        const char *name = def ? def->name : a->vol->name;
        free(path);
        storage_vol_def_free(def);
        if (key)
            explicit_bzero(key, key_len);
        free(key);
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: volume '%s' is still in use.", name);
    }
    /* what a wipe would refuse is refused now, with no job */
    if (a->kind == VD_VOL_JOB_WIPE && vd_vol_wipe_check(a->algorithm, a->flags, &e) < 0) {
        free(path);
        return vd_call_fail(c, vd_storage_error_code(-ENOTSUP, verr_msg(&e)), "%s", verr_msg(&e));
    }
    struct vd_vol_job *j = xcalloc(1, sizeof(*j));
    j->d = c->d;
    j->client = c->client;
    j->call = *c->h;
    j->kind = a->kind;
    j->pool = a->pool;
    j->dir = xstrdup(dir);
    j->path = path;
    j->name = xstrdup(def ? def->name : a->vol->name);
    j->from = a->from ? xstrdup(a->from->path) : NULL;
    j->def = def;
    j->key = key;
    j->key_len = key_len;
    j->flags = a->flags;
    j->algorithm = a->algorithm;
    j->capacity = a->capacity;
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old; /* the worker takes no signals: the loop's signalfd gets them all */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&tid, &attr, job_thread, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        job_free(j);
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                            "operation failed: cannot create a thread for volume '%s': %s",
                            a->vol ? a->vol->name : "", strerror(r));
    }
    vd_client_ref(c->client);
    c->d->workers++;
    a->pool->jobs++;
    j->next = s->jobs;
    s->jobs = j;
    return RPC_HANDLER_DEFERRED;
}
