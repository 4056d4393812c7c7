/*
 * nbd-server.c - the NBD server's QMP commands, listener and client threads
 * (see nbd-server.h).
 */
#include "vmm/nbd/nbd-server.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/blockdev.h"
#include "vmm/nbd/nbd-session.h"
#include "vmm/state/mig-tls.h"
#include "vmm/state/migration.h"
#include "vmm/state/transport.h"
#include "vmm/authz.h"
#include "vmm/tls-creds.h"
#include "vmm/vm.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_EXPORTS 32
#define MAX_CLIENTS 16

/* An export and what QMP knows it by (block-export-add's id; nbd-server-add's is its name). */
struct server_export {
    struct nbd_export ex;
    char *id;
    uint64_t serial; /* the clients' handle on it: never reused */
};

struct nbd_client {
    struct nbd_server *server;
    int fd;
    pthread_t thread;
    bool used;
    bool reaping;                  /* being joined by stop or a hard removal (lock held to set) */
    bool finished;                 /* the session is over (atomic) */
    struct mig_tls *tls;           /* after NBD_OPT_STARTTLS: the session, which owns a dup of fd */
    int plain;                     /* and the descriptor the session reads and writes in clear */
    uint64_t serials[MAX_EXPORTS]; /* of the exports the session was given */
    uint64_t claimed;              /* the serial of the export it serves, 0: none yet */
};

struct nbd_server {
    struct vm *vm;
    pthread_mutex_t lock; /* exports, clients */
    bool running;
    int lfd;
    char *uri;
    struct mig_tls_creds *tls_creds; /* tls-creds: STARTTLS required of every client */
    pthread_t acceptor;
    volatile bool stopping;
    unsigned max_conn; /* max-connections: at most this many clients at once (0: MAX_CLIENTS) */
    struct server_export exports[MAX_EXPORTS];
    unsigned nr_exports;
    uint64_t next_serial;
    struct nbd_client clients[MAX_CLIENTS];
};

struct nbd_server *nbd_server_new(struct vm *vm)
{
    struct nbd_server *s = xcalloc(1, sizeof(*s));
    s->vm = vm;
    s->lfd = -1;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

/* ---- export I/O over a blockdev ---- */

static int bd_pread(void *opaque, void *buf, uint32_t len, uint64_t off)
{
    struct iovec iov = {buf, len};
    return blockdev_preadv(opaque, &iov, 1, off, NULL);
}

static int bd_pwrite(void *opaque, const void *buf, uint32_t len, uint64_t off)
{
    struct iovec iov = {(void *)buf, len};
    return blockdev_pwritev(opaque, &iov, 1, off, NULL);
}

static int bd_flush(void *opaque)
{
    return blockdev_flush(opaque, NULL);
}

static int bd_write_zeroes(void *opaque, uint64_t off, uint32_t len, bool may_unmap)
{
    return blockdev_write_zeroes(opaque, off, len, may_unmap ? BLOCK_ZERO_MAY_UNMAP : 0, NULL);
}

static int bd_trim(void *opaque, uint64_t off, uint32_t len)
{
    return blockdev_discard(opaque, off, len, NULL);
}

/* base:allocation as qemu-nbd derives it from the block layer: a hole is a run not read as
 * data from a file, and zero a run known to read as zeroes. */
static int bd_block_status(void *opaque, uint64_t off, uint32_t *len, uint32_t *state)
{
    struct block_extent ex;
    int r = blockdev_block_status(opaque, off, *len, &ex, NULL);
    if (r < 0)
        return r;
    *len = ex.length < *len ? (uint32_t)ex.length : *len;
    *state = (ex.data ? 0 : 1) | (ex.zero ? 2 : 0);
    return 0;
}

/* ---- threads ---- */

/* A receive timeout on sock (0: none). */
static void set_recv_timeout(int sock, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* NBD_OPT_STARTTLS acknowledged: the handshake (blocking; nbd-server-stop's shutdown of the
 * socket ends it) and the clear side of the session for the rest of the connection. */
static int client_starttls(void *opaque, int sock, int *plain, struct verr *err)
{
    struct nbd_client *c = opaque;
    int own = dup(sock); /* the session closes its own; c->fd stays the server's to shut down */
    if (own < 0)
        return verr_errno(err, errno, "NBD: cannot start TLS");
    int r = mig_tls_start(c->server->tls_creds, own, NULL, &c->tls, &c->plain, err);
    if (r < 0) {
        close(own);
        verr_prefix(err, "NBD: client refused");
        return r;
    }
    set_recv_timeout(sock, 0); /* negotiated: the rest may be idle for as long as it likes */
    *plain = c->plain;
    return 0;
}

static struct server_export *find_serial(struct nbd_server *s, uint64_t serial)
{
    for (unsigned i = 0; i < s->nr_exports; i++)
        if (s->exports[i].serial == serial)
            return &s->exports[i];
    return NULL;
}

static bool client_claim(void *opaque, unsigned index)
{
    struct nbd_client *c = opaque;
    pthread_mutex_lock(&c->server->lock);
    bool live = find_serial(c->server, c->serials[index]) != NULL;
    if (live)
        c->claimed = c->serials[index];
    pthread_mutex_unlock(&c->server->lock);
    return live;
}

static void *client_thread(void *opaque)
{
    struct nbd_client *c = opaque;
    struct nbd_server *s = c->server;
    /* The exports as they are now, their strings copied: an export removed meanwhile is
     * refused when chosen (claim), and one in use is not removed without ending this thread. */
    pthread_mutex_lock(&s->lock);
    unsigned n = s->nr_exports;
    struct nbd_export ex[MAX_EXPORTS];
    for (unsigned i = 0; i < n; i++) {
        ex[i] = s->exports[i].ex;
        ex[i].name = xstrdup(ex[i].name);
        ex[i].description = ex[i].description ? xstrdup(ex[i].description) : NULL;
        c->serials[i] = s->exports[i].serial;
    }
    pthread_mutex_unlock(&s->lock);
    struct verr e = {0};
    struct nbd_session_tls tls = {client_starttls, c};
    struct nbd_session_claim claim = {client_claim, c};
    /* With TLS required, a client has MIG_TLS_HANDSHAKE_TIMEOUT_S per read to get through
     * the clear negotiation up to STARTTLS, and as long for the TLS handshake: one that
     * connects and stalls is dropped instead of holding one of the MAX_CLIENTS slots. */
    if (s->tls_creds)
        set_recv_timeout(c->fd, MIG_TLS_HANDSHAKE_TIMEOUT_S);
    if (nbd_session_run(c->fd, ex, n, s->tls_creds ? &tls : NULL, &claim, &e) < 0 && !s->stopping) {
        /* Refusals of the TLS peer (its certificate, tls-authz, a stall) are worth a line. */
        if (e.code == EACCES || e.code == ETIMEDOUT || e.code == EPROTO)
            log_warn("%s", verr_msg(&e));
        else
            log_info("%s", verr_msg(&e));
    }
    if (c->tls) {
        close(c->plain);
        mig_tls_finish(c->tls, false);
        c->tls = NULL;
    }
    shutdown(c->fd, SHUT_RDWR);
    for (unsigned i = 0; i < n; i++) {
        free((char *)ex[i].name);
        free((char *)ex[i].description);
    }
    __atomic_store_n(&c->finished, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Joins clients that have finished (lock held). */
static void reap(struct nbd_server *s)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        struct nbd_client *c = &s->clients[i];
        if (c->used && !c->reaping && pthread_tryjoin_np(c->thread, NULL) == 0) {
            close(c->fd);
            c->used = false;
        }
    }
}

/* Ends the clients serving the export of that serial (0: all) and joins them. The lock is
 * held on entry and exit, and dropped while joining (a client may be waiting for it). */
static void disconnect(struct nbd_server *s, uint64_t serial)
{
    bool mine[MAX_CLIENTS] = {false};
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        struct nbd_client *c = &s->clients[i];
        if (c->used && !c->reaping && (!serial || c->claimed == serial)) {
            c->reaping = mine[i] = true;
            shutdown(c->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (mine[i])
            pthread_join(s->clients[i].thread, NULL);
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (mine[i]) {
            close(s->clients[i].fd);
            s->clients[i].used = s->clients[i].reaping = false;
        }
}

/* Whether a client still being served uses the export (lock held). */
static bool export_in_use(struct nbd_server *s, uint64_t serial)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        struct nbd_client *c = &s->clients[i];
        if (c->used && c->claimed == serial && !__atomic_load_n(&c->finished, __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

static void export_free(struct server_export *x)
{
    free((char *)x->ex.name);
    free((char *)x->ex.description);
    free(x->id);
}

void nbd_server_drop_blockdev(struct nbd_server *s, struct blockdev *b)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nr_exports;) {
        if (s->exports[i].ex.opaque != b) {
            i++;
            continue;
        }
        log_info("NBD: export '%s' ends with its drive", s->exports[i].ex.name);
        disconnect(s, s->exports[i].serial); /* drops and retakes the lock */
        export_free(&s->exports[i]);
        s->exports[i] = s->exports[--s->nr_exports];
    }
    pthread_mutex_unlock(&s->lock);
}

/* Clients being served, the finished ones joined first (lock held). */
static unsigned nr_clients(struct nbd_server *s)
{
    reap(s);
    unsigned n = 0;
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        n += s->clients[i].used;
    return n;
}

static void *accept_thread(void *opaque)
{
    struct nbd_server *s = opaque;
    while (!s->stopping) {
        if (s->max_conn) {
            /* As QEMU: at max-connections the server stops accepting, so a new client waits
             * in the listen backlog until one leaves (then it is served), not refused. */
            pthread_mutex_lock(&s->lock);
            bool full = nr_clients(s) >= s->max_conn;
            pthread_mutex_unlock(&s->lock);
            if (full) {
                struct pollfd pfd = {.fd = s->lfd, .events = 0};
                poll(&pfd, 1, 20); /* wakes early only when nbd-server-stop shuts it */
                continue;
            }
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* shut down by nbd-server-stop */
        }
        pthread_mutex_lock(&s->lock);
        reap(s);
        struct nbd_client *c = NULL;
        for (unsigned i = 0; i < MAX_CLIENTS && !c; i++)
            if (!s->clients[i].used)
                c = &s->clients[i];
        if (c) {
            *c = (struct nbd_client){.server = s, .fd = fd, .used = true, .plain = -1};
            if (pthread_create(&c->thread, NULL, client_thread, c) != 0) {
                c->used = false;
                c = NULL;
            }
        }
        pthread_mutex_unlock(&s->lock);
        if (!c) {
            log_info("NBD: more than %u clients at once: connection refused", MAX_CLIENTS);
            close(fd);
        }
    }
    return NULL;
}

static void stop(struct nbd_server *s)
{
    if (!s->running)
        return;
    s->stopping = true;
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    s->lfd = -1;
    if (s->uri && !strncmp(s->uri, "unix:", 5))
        unlink(s->uri + 5);
    pthread_mutex_lock(&s->lock);
    disconnect(s, 0);
    for (unsigned i = 0; i < s->nr_exports; i++)
        export_free(&s->exports[i]);
    s->nr_exports = 0;
    pthread_mutex_unlock(&s->lock);
    free(s->uri);
    s->uri = NULL;
    mig_tls_creds_free(s->tls_creds);
    s->tls_creds = NULL;
    s->running = false;
    s->stopping = false;
}

void nbd_server_free(struct nbd_server *s)
{
    if (!s)
        return;
    stop(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- QMP ---- */

/* SocketAddressLegacy {"type": "inet"|"unix", "data": {...}} as a transport URI. */
static char *addr_uri(struct json_object *addr, struct qmp_error *err)
{
    struct json_object *t, *d, *v;
    if (!json_object_is_type(addr, json_type_object) ||
        !json_object_object_get_ex(addr, "type", &t) ||
        !json_object_object_get_ex(addr, "data", &d) || !json_object_is_type(d, json_type_object)) {
        qmp_error_set(err, QMP_ERROR_GENERIC,
                      "Invalid parameter type for 'addr', expected: SocketAddressLegacy");
        return NULL;
    }
    const char *type = json_object_get_string(t);
    char *uri = NULL;
    if (!strcmp(type, "unix") && json_object_object_get_ex(d, "path", &v)) {
        if (asprintf(&uri, "unix:%s", json_object_get_string(v)) < 0)
            abort();
    } else if (!strcmp(type, "inet") && json_object_object_get_ex(d, "host", &v)) {
        struct json_object *p;
        const char *host = json_object_get_string(v);
        const char *port =
            json_object_object_get_ex(d, "port", &p) ? json_object_get_string(p) : "10809";
        if (asprintf(&uri, strchr(host, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", host, port) < 0)
            abort();
    } else {
        qmp_error_set(err, QMP_ERROR_GENERIC,
                      "NBD server address type '%s' is not supported by vireo-vmm (inet and "
                      "unix are)",
                      type);
    }
    return uri;
}

/* tls-creds: a tls-creds-x509 object with endpoint=server, its files read now (QEMU's words
 * for a missing object or the wrong endpoint). */
static struct mig_tls_creds *load_creds(struct nbd_server *s, struct json_object *id,
                                        struct qmp_error *err)
{
    if (!json_object_is_type(id, json_type_string)) {
        qmp_error_set(err, QMP_ERROR_GENERIC,
                      "Invalid parameter type for 'tls-creds', expected: string");
        return NULL;
    }
    const struct tls_creds_spec *spec =
        migration_tls_creds_find(s->vm->migration, json_object_get_string(id));
    if (!spec) {
        qmp_error_set(err, QMP_ERROR_GENERIC, "No TLS credentials with id '%s'",
                      json_object_get_string(id));
        return NULL;
    }
    if (spec->client) {
        qmp_error_set(err, QMP_ERROR_GENERIC, "Expected TLS credentials for a server endpoint");
        return NULL;
    }
    struct mig_tls_creds *c = NULL;
    struct verr e = {0};
    if (mig_tls_creds_load(spec, true, &c, &e) < 0)
        qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return c;
}

static int qmp_start(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                     struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct nbd_server *s = opaque;
    struct json_object *v;
    if (s->running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "NBD server already running");
    struct authz *authz = NULL;
    if (json_object_object_get_ex(args, "tls-authz", &v)) {
        if (!json_object_is_type(v, json_type_string))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'tls-authz', expected: string");
        if (!json_object_object_get(args, "tls-creds"))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "tls-authz is not supported without tls-creds");
        authz = migration_authz_find(s->vm->migration, json_object_get_string(v));
        if (!authz)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find QAuthZ object ID %s",
                                 json_object_get_string(v));
    }
    if (json_object_object_get_ex(args, "max-connections", &v) &&
        (json_object_get_int64(v) < 0 || json_object_get_int64(v) > MAX_CLIENTS))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "max-connections above %u is not supported by vireo-vmm", MAX_CLIENTS);
    unsigned max_conn = json_object_object_get_ex(args, "max-connections", &v)
                            ? (unsigned)json_object_get_int64(v)
                            : 0;
    struct mig_tls_creds *creds = NULL;
    if (json_object_object_get_ex(args, "tls-creds", &v) && (creds = load_creds(s, v, err)) == NULL)
        return -1;
    struct verr ae = {0};
    if (authz && mig_tls_creds_set_authz(creds, authz, &ae) < 0) {
        mig_tls_creds_free(creds);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ae));
    }
    char *uri = addr_uri(json_object_object_get(args, "addr"), err);
    if (!uri) {
        mig_tls_creds_free(creds);
        return -1;
    }
    struct verr e = {0};
    int lfd = mig_transport_listen(uri, &e);
    if (lfd < 0) {
        free(uri);
        mig_tls_creds_free(creds);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    }
    s->tls_creds = creds;
    s->max_conn = max_conn;
    s->lfd = lfd;
    s->uri = uri;
    s->stopping = false;
    if (pthread_create(&s->acceptor, NULL, accept_thread, s) != 0) {
        close(lfd);
        s->lfd = -1;
        free(uri);
        s->uri = NULL;
        mig_tls_creds_free(s->tls_creds);
        s->tls_creds = NULL;
        return qmp_error_set(err, QMP_ERROR_GENERIC, "cannot start the NBD server thread");
    }
    s->running = true;
    return 0;
}

/* An export of the drive or node called device (both commands' common part). */
static int add_export(struct nbd_server *s, const char *id, const char *device,
                      const char *lookup_device, const char *name, const char *desc, bool writable,
                      struct qmp_error *err)
{
    if (!s->running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "NBD server not running");
    if (strlen(name) > 4096)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "export name '%.64s...' too long", name);
    if (desc && strlen(desc) > 4096)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "description '%.64s...' too long", desc);
    struct blockdev *b = blockdev_find(s->vm, device);
    if (!b)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device=%s nor node_name=%s",
                             lookup_device, device);
    if (!blockdev_inserted(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' has no medium", device);
    if (writable && blockdev_read_only(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Block node is read-only");
    pthread_mutex_lock(&s->lock);
    int r = 0;
    for (unsigned i = 0; i < s->nr_exports && r == 0; i++)
        if (!strcmp(s->exports[i].id, id))
            r = qmp_error_set(err, QMP_ERROR_GENERIC, "Block export id '%s' is already in use", id);
        else if (!strcmp(s->exports[i].ex.name, name))
            r = qmp_error_set(err, QMP_ERROR_GENERIC, "NBD server already has export named '%s'",
                              name);
    if (r == 0 && s->nr_exports == MAX_EXPORTS)
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "too many NBD exports (%u)", MAX_EXPORTS);
    if (r == 0)
        s->exports[s->nr_exports++] = (struct server_export){
            .ex =
                {
                    .name = xstrdup(name),
                    .description = desc ? xstrdup(desc) : NULL,
                    .size = blockdev_size(b),
                    .writable = writable,
                    .pread = bd_pread,
                    .pwrite = bd_pwrite,
                    .flush = bd_flush,
                    .write_zeroes = bd_write_zeroes,
                    .trim = bd_trim,
                    .block_status = bd_block_status,
                    .opaque = b,
                },
            .id = xstrdup(id),
            .serial = ++s->next_serial,
        };
    pthread_mutex_unlock(&s->lock);
    return r;
}

static const char *opt_string(struct json_object *args, const char *key, const char *dflt)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : dflt;
}

static bool opt_bool(struct json_object *args, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) && json_object_get_boolean(v);
}

static int qmp_add(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                   struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct nbd_server *s = opaque;
    if (!s->running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "NBD server not running");
    if (json_object_object_get(args, "bitmap"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Exporting a dirty bitmap over NBD is not supported by vireo-vmm");
    const char *device = opt_string(args, "device", NULL);
    const char *name = opt_string(args, "name", device);
    /* QEMU gives a legacy export the id of its name. */
    return add_export(s, name, device, device, name, opt_string(args, "description", NULL),
                      opt_bool(args, "writable"), err);
}

/* QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
static bool id_wellformed(const char *id)
{
    if (!isalpha((unsigned char)id[0]))
        return false;
    for (const char *p = id + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-._", *p))
            return false;
    return true;
}

static int qmp_export_add(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct nbd_server *s = opaque;
    const char *type = opt_string(args, "type", "");
    const char *id = opt_string(args, "id", "");
    const char *node = opt_string(args, "node-name", "");
    struct json_object *v;
    if (strcmp(type, "nbd"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Block export type '%s' is not supported by vireo-vmm (nbd is)", type);
    if (!id_wellformed(id))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid block export id");
    if (json_object_object_get(args, "iothread") || json_object_object_get(args, "fixed-iothread"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "iothread and fixed-iothread of a block export are not supported "
                             "by vireo-vmm (each NBD client has its own thread)");
    if (opt_bool(args, "writethrough"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "writethrough=true on a block export is not supported by vireo-vmm");
    if (json_object_object_get_ex(args, "bitmaps", &v) && json_object_array_length(v))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Exporting a dirty bitmap over NBD is not supported by vireo-vmm");
    if (opt_bool(args, "allocation-depth"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "allocation-depth (qemu:allocation-depth) is not supported by "
                             "vireo-vmm");
    return add_export(s, id, node, "", opt_string(args, "name", node),
                      opt_string(args, "description", NULL), opt_bool(args, "writable"), err);
}

/* block-export-del and nbd-server-remove: mode safe refuses while a client is served the
 * export, hard ends those clients first (QEMU's words). */
static int remove_export(struct nbd_server *s, const char *id, const char *mode,
                         struct qmp_error *err)
{
    if (strcmp(mode, "safe") && strcmp(mode, "hard"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'mode' does not accept value '%s'",
                             mode);
    pthread_mutex_lock(&s->lock);
    struct server_export *x = NULL;
    for (unsigned i = 0; i < s->nr_exports && !x; i++)
        if (!strcmp(s->exports[i].id, id))
            x = &s->exports[i];
    int r = 0;
    if (!x) {
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "Export '%s' is not found", id);
    } else if (!strcmp(mode, "safe") && export_in_use(s, x->serial)) {
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "export '%s' still in use", id);
    } else {
        uint64_t serial = x->serial;
        /* Gone from the list first: no client can claim it while the lock is dropped. */
        struct server_export gone = *x;
        *x = s->exports[--s->nr_exports];
        disconnect(s, serial);
        export_free(&gone);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

static int qmp_export_del(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return remove_export(opaque, opt_string(args, "id", ""), opt_string(args, "mode", "safe"), err);
}

static int qmp_remove(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                      struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return remove_export(opaque, opt_string(args, "name", ""), opt_string(args, "mode", "safe"),
                         err);
}

static int qmp_query_exports(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct nbd_server *s = opaque;
    struct json_object *list = json_object_new_array();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nr_exports; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("nbd"));
        json_object_object_add(o, "id", json_object_new_string(s->exports[i].id));
        json_object_object_add(o, "node-name",
                               json_object_new_string(blockdev_node_name(s->exports[i].ex.opaque)));
        json_object_object_add(o, "shutting-down", json_object_new_boolean(false));
        json_object_array_add(list, o);
    }
    pthread_mutex_unlock(&s->lock);
    *ret = list;
    return 0;
}

static int qmp_stop(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                    struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)ret;
    struct nbd_server *s = opaque;
    if (!s->running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "NBD server not running");
    stop(s);
    return 0;
}

int nbd_server_qmp_register(struct qmp_server *server, struct nbd_server *s)
{
    static const struct qmp_arg start_args[] = {{"addr", QMP_ARG_ANY, false},
                                                {"tls-creds", QMP_ARG_ANY, true},
                                                {"tls-authz", QMP_ARG_ANY, true},
                                                {"max-connections", QMP_ARG_INT, true},
                                                {NULL}};
    static const struct qmp_arg add_args[] = {
        {"device", QMP_ARG_STRING, false},     {"name", QMP_ARG_STRING, true},
        {"description", QMP_ARG_STRING, true}, {"writable", QMP_ARG_BOOL, true},
        {"bitmap", QMP_ARG_ANY, true},         {NULL}};
    static const struct qmp_arg export_add_args[] = {
        {"type", QMP_ARG_STRING, false},          {"id", QMP_ARG_STRING, false},
        {"node-name", QMP_ARG_STRING, false},     {"writable", QMP_ARG_BOOL, true},
        {"writethrough", QMP_ARG_BOOL, true},     {"iothread", QMP_ARG_STRING, true},
        {"fixed-iothread", QMP_ARG_BOOL, true},   {"name", QMP_ARG_STRING, true},
        {"description", QMP_ARG_STRING, true},    {"bitmaps", QMP_ARG_ARRAY, true},
        {"allocation-depth", QMP_ARG_BOOL, true}, {NULL}};
    static const struct qmp_arg export_del_args[] = {
        {"id", QMP_ARG_STRING, false}, {"mode", QMP_ARG_STRING, true}, {NULL}};
    static const struct qmp_arg remove_args[] = {
        {"name", QMP_ARG_STRING, false}, {"mode", QMP_ARG_STRING, true}, {NULL}};
    int r = qmp_server_register(server, "nbd-server-start", start_args, qmp_start, s);
    if (!r)
        r = qmp_server_register(server, "nbd-server-add", add_args, qmp_add, s);
    if (!r)
        r = qmp_server_register(server, "nbd-server-stop", NULL, qmp_stop, s);
    if (!r)
        r = qmp_server_register(server, "nbd-server-remove", remove_args, qmp_remove, s);
    if (!r)
        r = qmp_server_register(server, "block-export-add", export_add_args, qmp_export_add, s);
    if (!r)
        r = qmp_server_register(server, "block-export-del", export_del_args, qmp_export_del, s);
    if (!r)
        r = qmp_server_register(server, "query-block-exports", NULL, qmp_query_exports, s);
    return r;
}
