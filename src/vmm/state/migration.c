/*
 * migration.c - QMP migrate/-incoming over the state stream (see
 * migration.h). URIs: tcp:HOST:PORT and unix:PATH (transport.c), file:PATH,
 * fd:NAME (a getfd name, or a number for an inherited descriptor), exec:CMD
 * (run by /bin/sh -c with the stream on its stdin, or its stdout for
 * -incoming). A running VM migrates live (precopy.c) to anything but a
 * regular file; a stopped one, or to a file (whose RAM image a restore can
 * map), stops and writes everything once. Status names, events and error
 * words follow QEMU 7.2.
 */
#include "vmm/state/migration.h"
#include "vmm/authz.h"
#include "vmm/blockjob.h"
#include "vmm/nbd/nbd-server.h"
#include "vmm/state/postcopy.h"
#include "vmm/state/precopy.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/transport.h"
#include "vmm/state/mig-tls.h"
#include "vmm/state/multifd.h"
#include "vmm/tls-creds.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/cli.h"
#include "vmm/dev/blockdev.h"
#include "vmm/state/stream.h"
#include "vmm/state/vmstate.h"
#include "vmm/vm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_FDS 32

enum mig_status {
    MIG_NONE,
    MIG_SETUP,
    MIG_ACTIVE,
    MIG_COMPLETED,
    MIG_FAILED,
    MIG_CANCELLING,
    MIG_CANCELLED,
    MIG_DEVICE,
    MIG_POSTCOPY_ACTIVE,
    MIG_POSTCOPY_PAUSED,
    MIG_POSTCOPY_RECOVER,
};

static const char *const status_names[] = {
    "none",      "setup",  "active",          "completed",       "failed",          "cancelling",
    "cancelled", "device", "postcopy-active", "postcopy-paused", "postcopy-recover"};

#define DEFAULT_DOWNTIME_LIMIT 300 /* ms, QEMU's */
#define MAX_DOWNTIME_LIMIT     2000000
#define DEFAULT_MULTIFD        2 /* QEMU's multifd-channels */

/* QEMU 7.2's capability names: each accepted as false; "events", "auto-converge",
 * "multifd" and "postcopy-ram" are honoured. */
static const char *const capability_names[] = {
    "xbzrle",           "rdma-pin-all",  "auto-converge",       "zero-blocks",
    "compress",         "events",        "postcopy-ram",        "x-colo",
    "release-ram",      "block",         "return-path",         "pause-before-switchover",
    "multifd",          "dirty-bitmaps", "postcopy-blocktime",  "late-block-activate",
    "x-ignore-shared",  "validate-uuid", "background-snapshot", "zero-copy-send",
    "postcopy-preempt",
};

struct named_fd {
    char *name;
    int fd;
};

struct migration {
    struct vm *vm;
    struct snapshot_jobs *snapshots; /* snapshot-save/-load/-delete (snapshot.h) */
    struct nbd_server *nbd;          /* nbd-server-start/-add/-stop (nbd/nbd-server.h) */
    struct block_jobs *block_jobs;   /* drive-mirror and the block-job-* verbs (blockjob.h) */
    struct named_fd fds[MAX_FDS];
    unsigned nr_fds;
    bool events;                                        /* capability "events" */
    bool auto_converge;                                 /* capability "auto-converge" (precopy.h) */
    volatile uint64_t max_bandwidth;                    /* bytes/s: live passes are paced to it */
    volatile uint64_t downtime_limit;                   /* ms: when pre-copy stops iterating */
    bool multifd;                                       /* capability "multifd" (multifd.h) */
    bool postcopy_ram;                                  /* capability "postcopy-ram" */
    volatile bool start_postcopy;                       /* migrate-start-postcopy was given */
    volatile uint64_t max_postcopy_bandwidth;           /* bytes/s after the switch; 0: any */
    uint64_t multifd_channels;                          /* connections besides the main one */
    uint64_t throttle_initial, throttle_increment;      /* cpu-throttle-*, percent */
    char *tls_creds, *tls_hostname;                     /* parameters; "" when unset */
    struct tls_creds_spec tls_added[VMM_MAX_TLS_CREDS]; /* object-add'ed tls-creds-x509 */
    unsigned nr_tls_added;
    char *tls_authz;                        /* parameter; "" when unset */
    struct authz *authz[2 * VMM_MAX_AUTHZ]; /* -object and object-add'ed authz-simple/-list */
    unsigned nr_authz;

    enum mig_status status;
    bool incoming;
    bool worker_running;
    pthread_t worker;
    volatile bool cancel;
    int fd;
    int listen_fd;                  /* -incoming tcp:/unix: until the connection comes */
    char *connect_uri;              /* migrate tcp:/unix: (the worker connects) */
    struct mig_tls_creds *tls_cred; /* this migration's, when tls-creds is set */
    char *tls_host;                 /* the name the destination's certificate must carry */
    struct mig_tls *tls;            /* the session under m->fd once the handshake is done */
    struct multifd mf;              /* this migration's channels when multifd is on */
    pid_t child;
    char *uri_desc; /* for messages: the command or path */
    char *path;     /* file: target */
    char *tmp_path; /* file: what is written until the rename */
    enum vm_status prev_status;
    struct vm_state_capture cap;
    struct state_ram_stats ram;
    uint64_t t_start, t_active, t_end;
    /* Live migration (precopy.h): the worker asks the main thread to stop the VM. */
    bool live;
    struct precopy pc;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop_done, parked, captured, committed, freeing;
    int stop_rc;
    struct verr stop_err;
    /* Live: downtime is from the stop (before the vCPUs are kicked out, as QEMU's
     * downtime_start) to the end of the stream sent (t_sent_us: the last byte written and
     * flushed), in us, as QEMU 7.2 counts a pre-copy migration without a return path
     * (migration_completion, then migration_calculate_complete); the main thread's later
     * bookkeeping is not part of it. The source still waits for the destination's ACK
     * before it completes (t_acked_us, in the log line): only the figure is QEMU's. After
     * a post-copy switch, as QEMU 7.2's postcopy_start: to the device state and END sent,
     * since the destination runs the VM without waiting for more. */
    uint64_t t_stop_us, t_sent_us, t_acked_us, downtime;
    unsigned in_channels; /* destination: multifd channels the last load used */
    /* Post-copy (postcopy.h): the source's page phase, the destination's. */
    struct postcopy_source_stats pcs;
    bool pcs_started;          /* source: pcs counts what is left (else pc.st.remaining) */
    bool handed_over;          /* source: the destination acknowledged it took the VM over */
    bool pc_advised;           /* destination: the source may switch (PADV) */
    struct postcopy_dest *pcd; /* destination: kept while paused (the guest waits on it) */
    int rc;
    struct verr err;
    char error_desc[VERR_MSG_MAX];
};

/* CLOCK_MONOTONIC in ms with a fraction, for the debug trace of the switchover. */
static double trace_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The event goes out before query-migrate can show the new status, as QEMU's does (on the
 * main thread at once; from a worker it is queued for the main thread first). */
static void status_event(struct migration *m, enum mig_status s, bool main_thread)
{
    if (m->events) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "status", json_object_new_string(status_names[s]));
        if (main_thread)
            vm_qmp_event_main(m->vm, "MIGRATION", d);
        else
            vm_qmp_event(m->vm, "MIGRATION", d);
    }
}

static void set_status_from(struct migration *m, enum mig_status s, bool main_thread)
{
    status_event(m, s, main_thread);
    __atomic_store_n(&m->status, s, __ATOMIC_RELAXED);
}

/* Main thread. */
static void set_status(struct migration *m, enum mig_status s)
{
    set_status_from(m, s, true);
}

/* A worker thread. */
static void set_status_worker(struct migration *m, enum mig_status s)
{
    set_status_from(m, s, false);
}

struct migration *migration_new(struct vm *vm)
{
    struct migration *m = xcalloc(1, sizeof(*m));
    m->vm = vm;
    m->snapshots = snapshot_jobs_new(vm);
    m->nbd = nbd_server_new(vm);
    m->block_jobs = block_jobs_new(vm);
    m->fd = -1;
    m->listen_fd = -1;
    m->child = -1;
    m->max_bandwidth = 128ull << 20; /* QEMU's default max-bandwidth (MAX_THROTTLE) */
    m->downtime_limit = DEFAULT_DOWNTIME_LIMIT;
    m->multifd_channels = DEFAULT_MULTIFD;
    m->throttle_initial = 20; /* QEMU's cpu-throttle-initial and -increment */
    m->throttle_increment = 10;
    m->tls_creds = xstrdup("");
    m->tls_hostname = xstrdup("");
    m->tls_authz = xstrdup("");
    for (unsigned i = 0; vm->cfg && i < vm->cfg->nr_authz; i++)
        m->authz[m->nr_authz++] = authz_ref(vm->cfg->authz[i]);
    multifd_init(&m->mf);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    return m;
}

struct snapshot_jobs *migration_snapshot_jobs(struct migration *m)
{
    return m ? m->snapshots : NULL;
}

bool migration_active(const struct migration *m)
{
    return m && (m->status == MIG_SETUP || m->status == MIG_ACTIVE || m->status == MIG_CANCELLING ||
                 m->status == MIG_DEVICE || m->status == MIG_POSTCOPY_ACTIVE);
}

static void reset_op(struct migration *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    m->listen_fd = -1;
    free(m->connect_uri);
    m->connect_uri = NULL;
    multifd_close(&m->mf, true);
    mig_tls_finish(m->tls, true);
    m->tls = NULL;
    mig_tls_creds_free(m->tls_cred);
    m->tls_cred = NULL;
    free(m->tls_host);
    m->tls_host = NULL;
    if (m->child > 0) {
        kill(m->child, SIGTERM);
        waitpid(m->child, NULL, 0);
    }
    m->child = -1;
    if (m->tmp_path)
        unlink(m->tmp_path);
    free(m->tmp_path);
    free(m->path);
    free(m->uri_desc);
    m->tmp_path = m->path = m->uri_desc = NULL;
    vm_state_capture_free(&m->cap);
}

void migration_free(struct migration *m)
{
    if (!m)
        return;
    if (m->worker_running) {
        m->cancel = true;
        m->freeing = true;
        if (m->child > 0)
            kill(m->child, SIGTERM);
        int fd = __atomic_load_n(&m->fd, __ATOMIC_ACQUIRE);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        if (m->listen_fd >= 0)
            shutdown(m->listen_fd, SHUT_RDWR);
        multifd_shutdown(&m->mf);
        pthread_mutex_lock(&m->lock);
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->worker, NULL);
        m->worker_running = false;
    }
    precopy_free(&m->pc);
    reset_op(m);
    postcopy_dest_free(m->pcd);
    for (unsigned i = 0; i < m->nr_fds; i++) {
        close(m->fds[i].fd);
        free(m->fds[i].name);
    }
    snapshot_jobs_free(m->snapshots);
    block_jobs_free(m->block_jobs); /* its jobs read the drives the NBD server may export */
    nbd_server_free(m->nbd);
    multifd_destroy(&m->mf);
    free(m->tls_creds);
    free(m->tls_hostname);
    for (unsigned i = 0; i < m->nr_tls_added; i++)
        tls_creds_spec_free(&m->tls_added[i]);
    free(m->tls_authz);
    for (unsigned i = 0; i < m->nr_authz; i++)
        authz_unref(m->authz[i]);
    free(m);
}

/* ---- URIs ---- */

static int take_named_fd(struct migration *m, const char *name)
{
    for (unsigned i = 0; i < m->nr_fds; i++) {
        if (!strcmp(m->fds[i].name, name)) {
            int fd = m->fds[i].fd;
            free(m->fds[i].name);
            m->fds[i] = m->fds[--m->nr_fds];
            return fd;
        }
    }
    return -1;
}

/* exec: /bin/sh -c cmd with one end of a pipe as its stdin (to_child) or stdout. */
static int spawn_exec(struct migration *m, const char *cmd, bool to_child, struct verr *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "exec:%s: pipe", cmd);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child ? p[0] : p[1], to_child ? 0 : 1);
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to_child ? p[0] : p[1]);
    if (r != 0) {
        close(to_child ? p[1] : p[0]);
        return verr_errno(err, r, "exec:%s: cannot start /bin/sh", cmd);
    }
    m->child = pid;
    m->fd = to_child ? p[1] : p[0];
    return 0;
}

static int open_uri(struct migration *m, const char *uri, bool incoming, struct verr *err)
{
    m->uri_desc = xstrdup(uri);
    if (mig_transport_is_socket(uri)) {
        if (incoming) {
            m->listen_fd = mig_transport_listen(uri, err);
            return m->listen_fd < 0 ? m->listen_fd : 0;
        }
        m->connect_uri = xstrdup(uri); /* connected by the worker: it may take a while */
        return 0;
    }
    if (!strncmp(uri, "exec:", 5))
        return spawn_exec(m, uri + 5, !incoming, err);
    if (!strncmp(uri, "fd:", 3)) {
        const char *name = uri + 3;
        int fd = take_named_fd(m, name);
        if (fd < 0 && isdigit((unsigned char)*name)) {
            char *end;
            long n = strtol(name, &end, 10);
            if (!*end && n >= 0 && n < 1 << 20 && fcntl((int)n, F_GETFD) >= 0)
                fd = (int)n;
        }
        if (fd < 0)
            return verr_set(err, EBADF, "File descriptor named '%s' has not been found", name);
        m->fd = fd;
        return 0;
    }
    if (!strncmp(uri, "file:", 5)) {
        const char *path = uri + 5;
        if (incoming) {
            m->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (m->fd < 0)
                return verr_errno(err, errno, "Could not open '%s'", path);
            return 0;
        }
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* a device or FIFO: as it is */
            m->fd = open(path, O_WRONLY | O_CLOEXEC);
            if (m->fd < 0)
                return verr_errno(err, errno, "Could not open '%s'", path);
            return 0;
        }
        /* A temporary name beside it, renamed over it when the stream is complete. */
        char *dup = xstrdup(path);
        char *tmp = NULL;
        if (asprintf(&tmp, "%s/.%s.vireo-XXXXXX", dirname(dup), basename((char *)path)) < 0)
            abort();
        free(dup);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            free(tmp);
            return verr_errno(err, e, "Could not open '%s'", path);
        }
        fchmod(fd, 0600);
        m->fd = fd;
        m->tmp_path = tmp;
        m->path = xstrdup(path);
        return 0;
    }
    return verr_set(err, EINVAL, "unknown migration protocol: %s", uri);
}

/* Worker side: closes the stream and collects the exec child; 0 or an error. */
static int finish_transport(struct migration *m, struct verr *err)
{
    int r = 0;
    if (m->fd >= 0 && close(m->fd) < 0 && !m->incoming)
        r = verr_errno(err, errno, "cannot close the migration stream");
    m->fd = -1;
    /* TLS: the relay delivers what the stream wrote (a failed stream cuts it at once). */
    mig_tls_finish(m->tls, err == NULL);
    m->tls = NULL;
    if (m->child > 0) {
        int st = 0;
        while (waitpid(m->child, &st, 0) < 0 && errno == EINTR)
            ;
        m->child = -1;
        if (r == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            r = verr_set(err, EIO, "%s: the command %s %d", m->uri_desc,
                         WIFEXITED(st) ? "exited with status" : "was killed by signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    return r;
}

/* ---- outgoing ---- */

static void out_done(void *opaque);

/* Worker: with tls-creds, the handshake on the connected m->fd and the relay in its place;
 * a migrate_cancel meanwhile shuts m->fd down, which ends the handshake. */
static int start_tls(struct migration *m, struct verr *err)
{
    if (!m->tls_cred)
        return 0;
    int plain;
    int r = mig_tls_start(m->tls_cred, m->fd, m->tls_host, &m->tls, &plain, err);
    if (r < 0)
        return m->cancel ? verr_set(err, ECANCELED, "cancelled") : r;
    __atomic_store_n(&m->fd, plain, __ATOMIC_RELEASE);
    if (m->cancel) /* the shutdown may have hit the socket between handshake and relay */
        return verr_set(err, ECANCELED, "cancelled");
    return 0;
}

/* Worker: connects a tcp:/unix: target, then TLS when it is asked for. */
static int connect_target(struct migration *m, struct verr *err)
{
    if (m->connect_uri) {
        int fd = mig_transport_connect(m->connect_uri, err);
        if (fd < 0)
            return fd;
        __atomic_store_n(&m->fd, fd, __ATOMIC_RELEASE);
        if (m->cancel) /* cancelled while connecting: the shutdown may have missed it */
            return verr_set(err, ECANCELED, "cancelled");
    }
    return start_tls(m, err);
}

static void *out_worker(void *opaque)
{
    struct migration *m = opaque;
    struct verr e = {0};
    int r = connect_target(m, &e);
    if (r == 0)
        r = vm_state_write(m->vm, &m->cap, m->fd, &m->cancel, m->tmp_path != NULL, &m->ram, &e);
    if (r < 0 && m->child > 0) /* a reader still waiting for more would never exit */
        kill(m->child, SIGTERM);
    int r2 = finish_transport(m, r < 0 ? NULL : &e);
    if (r == 0)
        r = r2;
    if (r == 0 && m->tmp_path) {
        if (rename(m->tmp_path, m->path) < 0) {
            r = verr_errno(&e, errno, "cannot rename the state file to '%s'", m->path);
        } else {
            free(m->tmp_path);
            m->tmp_path = NULL;
            char *dup = xstrdup(m->path);
            int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            free(dup);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
    }
    m->rc = r;
    m->err = e;
    loop_call_soon(m->vm->loop, out_done, m);
    return NULL;
}

/* Main thread, asked by the live worker: stop the vCPUs and capture the devices. */
static void live_stop(void *opaque)
{
    struct migration *m = opaque;
    struct vm *vm = m->vm;
    struct verr e = {0};
    int r = 0;
    if (m->cancel) {
        r = verr_set(&e, ECANCELED, "cancelled");
    } else {
        double t0 = trace_ms();
        m->t_stop_us = now_us();
        m->prev_status = vm->status;
        vm_park(vm, VM_STATUS_FINISH_MIGRATE);
        if (m->prev_status == VM_STATUS_RUNNING)
            vm_qmp_event(vm, "STOP", NULL);
        m->parked = true;
        double t1 = trace_ms();
        r = vm_state_capture_ex(vm, &m->cap, false, &e);
        m->captured = r == 0;
        double t2 = trace_ms();
        /* The images go to the destination: flushed, unlocked (QEMU's inactivation). */
        if (r == 0)
            r = blockdev_set_active_all(vm, false, true, &e);
        log_debug("migration: stop at %.3f: vCPUs parked +%.3f, captured +%.3f, images "
                  "inactive +%.3f",
                  t0, t1 - t0, t2 - t0, trace_ms() - t0);
    }
    pthread_mutex_lock(&m->lock);
    m->stop_rc = r;
    m->stop_err = e;
    m->stop_done = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static int live_stop_and_capture(void *opaque, struct vm_state_capture **cap, struct verr *err)
{
    struct migration *m = opaque;
    pthread_mutex_lock(&m->lock);
    m->stop_done = false;
    pthread_mutex_unlock(&m->lock);
    loop_call_soon(m->vm->loop, live_stop, m);
    pthread_mutex_lock(&m->lock);
    while (!m->stop_done && !m->freeing)
        pthread_cond_wait(&m->cond, &m->lock);
    int r = m->stop_done ? m->stop_rc : verr_set(&m->stop_err, ECANCELED, "cancelled");
    if (r < 0)
        *err = m->stop_err;
    pthread_mutex_unlock(&m->lock);
    *cap = &m->cap;
    return r;
}

static void live_pass(void *opaque, uint64_t n)
{
    struct migration *m = opaque;
    if (!m->events)
        return;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "pass", json_object_new_int64((int64_t)n));
    vm_qmp_event(m->vm, "MIGRATION_PASS", d);
}

static void live_device_stage(void *opaque)
{
    struct migration *m = opaque;
    if (m->pc.switched)
        m->committed = true; /* migrate_cancel no longer cuts a post-copy (as in QEMU) */
    set_status_worker(m, m->pc.switched ? MIG_POSTCOPY_ACTIVE : MIG_DEVICE);
}

/* Worker: the destination's acknowledgement (STATE_FLAG_ACK) that it has taken over. */
static int wait_ack(struct migration *m, struct verr *err)
{
    uint8_t b = 0;
    ssize_t n;
    do
        n = read(m->fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && b == STATE_ACK_BYTE)
        return 0;
    if (n < 0)
        return verr_errno(err, errno, "waiting for the destination to take over the VM");
    return verr_set(err, EPIPE,
                    "the destination closed the connection before it took over the VM (its "
                    "load failed or it was stopped)");
}

static bool fd_is_socket(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void *live_worker(void *opaque)
{
    struct migration *m = opaque;
    struct verr e = {0};
    struct state_writer w;
    bool have_writer = false;
    int r = connect_target(m, &e);
    bool ack = fd_is_socket(m->fd);
    bool multifd = m->mf.n > 0;
    if (r == 0) {
        uint32_t flags =
            (ack ? STATE_FLAG_ACK | STATE_FLAG_PING : 0) | (multifd ? STATE_FLAG_MULTIFD : 0);
        m->pc.ping = ack;
        r = state_writer_init_flags(&w, m->fd, &m->cancel, flags, &e);
        have_writer = true;
        w.rate_limit = &m->max_bandwidth;
        w.copy_pages = true;
    }
    /* multifd: the destination learns the channels and the id from the main stream, then
     * they connect. */
    if (r == 0 && multifd)
        r = multifd_send_announce(&m->mf, &w, &e);
    if (r == 0 && multifd)
        r = multifd_send_connect(&m->mf, m->connect_uri, m->tls_cred, m->tls_host, &e);
    if (r < 0 && multifd && m->cancel)
        r = verr_set(&e, ECANCELED, "cancelled");
    if (r == 0)
        r = vm_state_write_conf(m->vm, &w, &e);
    /* Post-copy needs the return path; the destination learns it may come before any RAM,
     * and refuses there when its own capability is off. */
    if (r == 0 && m->postcopy_ram && !ack)
        r = verr_set(&e, ENOTSUP, "Unable to open return-path for postcopy");
    if (r == 0 && m->postcopy_ram)
        r = state_write_section(&w, STATE_SEC_PADV, 1, NULL, 0, &e);
    if (r == 0) {
        m->t_active = now_ms();
        set_status_worker(m, MIG_ACTIVE);
        r = precopy_run(&m->pc, &w, &e);
    }
    m->t_sent_us = now_us();
    if (r == 0) {
        /* From here a cancel no longer cuts the connection: the destination may already be
         * running the VM, and only its answer says whether it is. */
        m->committed = true;
        if (ack)
            r = wait_ack(m, &e);
        m->t_acked_us = now_us();
        log_debug("migration: acknowledged at %.3f", trace_ms());
        m->handed_over = r == 0;
        /* Post-copy: the destination runs the VM; it has the pages it asks for first. */
        if (r == 0 && m->pc.switched) {
            __atomic_store_n(&m->pcs.pages_left, m->pc.st.remaining / STATE_PAGE_SIZE,
                             __ATOMIC_RELAXED);
            __atomic_store_n(&m->pcs_started, true, __ATOMIC_RELEASE);
        }
        if (r == 0 && m->pc.switched)
            r = postcopy_source_run(m->vm, m->fd, m->pc.dirty, m->pc.words,
                                    &m->max_postcopy_bandwidth, &m->pcs, &e);
    }
    if (have_writer)
        state_writer_free(&w);
    multifd_close(&m->mf, r < 0);
    if (r < 0 && m->child > 0)
        kill(m->child, SIGTERM);
    int r2 = finish_transport(m, r < 0 ? NULL : &e);
    if (r == 0)
        r = r2;
    m->rc = r;
    m->err = e;
    loop_call_soon(m->vm->loop, out_done, m);
    return NULL;
}

static void out_done(void *opaque)
{
    struct migration *m = opaque;
    pthread_join(m->worker, NULL);
    m->worker_running = false;
    m->t_end = now_ms();
    log_debug("migration: completed at %.3f", trace_ms());
    struct vm *vm = m->vm;
    bool live = m->live;
    bool switched = live && m->pc.switched;
    if (live)
        precopy_finish(&m->pc);
    if (switched && m->rc < 0 && m->handed_over) {
        /* After the take-over the destination has run the VM: this RAM is no longer the
         * truth, so the VM stays stopped here, RAM kept for the pages the destination still
         * lacks (QEMU's postcopy-paused, until migrate resume=true). */
        snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(&m->err));
        log_error("post-copy migration paused, the VM stays stopped: %s", m->error_desc);
        reset_op(m);
        if (m->status != MIG_POSTCOPY_PAUSED) /* (a resume that could not connect) */
            set_status(m, MIG_POSTCOPY_PAUSED);
        return;
    }
    if (!live || m->captured)
        vm_state_resume_devices(vm);
    if (m->rc == 0) {
        /* Pre-copy's and post-copy's as QEMU's: to the end of sending the stream (the
         * device state and END); the destination's load and ACK come after. */
        m->downtime = live ? (m->t_sent_us - m->t_stop_us + 500) / 1000 : m->t_end - m->t_start;
        uint64_t acked = live && !switched && m->t_acked_us > m->t_stop_us
                             ? (m->t_acked_us - m->t_stop_us + 500) / 1000
                             : m->downtime;
        reset_op(m);
        vm_unpark(vm, VM_STATUS_POSTMIGRATE);
        set_status(m, MIG_COMPLETED);
        log_info("migration to %s completed: %llu MiB in %llu ms (downtime %llu ms, %llu ms to "
                 "the destination's acknowledgement)%s",
                 m->path ? m->path : "stream",
                 (unsigned long long)((live ? m->pc.st.transferred : m->ram.bytes_written) >> 20),
                 (unsigned long long)(m->t_end - m->t_start), (unsigned long long)m->downtime,
                 (unsigned long long)acked, m->pc.mf ? ", RAM over multifd channels" : "");
        return;
    }
    bool cancelled = m->cancel;
    snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(&m->err));
    if (!cancelled)
        log_error("migration failed: %s", m->error_desc);
    reset_op(m); /* removes the temporary file */
    /* The VM goes on as it was, with its images back. */
    struct verr ae = {0};
    if (blockdev_set_active_all(vm, true, false, &ae) < 0)
        log_error("migration failed, and the images cannot be taken back: %s", verr_msg(&ae));
    if (!live || m->parked)
        vm_unpark(vm, m->prev_status);
    set_status(m, cancelled ? MIG_CANCELLED : MIG_FAILED);
}

/* Main thread, at migrate/migrate-incoming: with tls-creds set, its object's credentials for
 * this end (the source is the client, as in QEMU) and the name the destination's
 * certificate must carry; one line when TLS cannot be had. After open_uri (an fd: is there). */
static int setup_tls(struct migration *m, const char *uri, bool server, struct verr *err)
{
    if (!*m->tls_creds)
        return 0;
    if (!mig_transport_is_socket(uri) && strncmp(uri, "fd:", 3))
        return verr_set(err, ENOTSUP,
                        "TLS migration (tls-creds) needs a tcp:, unix: or fd: socket, not '%s'",
                        uri);
    if (!strncmp(uri, "fd:", 3) && !fd_is_socket(m->fd))
        return verr_set(err, ENOTSUP, "TLS migration (tls-creds): '%s' is not a socket", uri);
    const struct tls_creds_spec *spec = migration_tls_creds_find(m, m->tls_creds);
    if (!spec)
        return verr_set(err, ENOENT, "No TLS credentials with id '%s'", m->tls_creds);
    if (spec->client == server)
        return verr_set(err, EINVAL, "Expected TLS credentials for a %s endpoint",
                        server ? "server" : "client");
    if (!server) {
        if (*m->tls_hostname) {
            m->tls_host = xstrdup(m->tls_hostname);
        } else if (!strncmp(uri, "tcp:", 4)) {
            const char *h = uri + 4, *end;
            if (*h == '[') {
                end = strchr(++h, ']');
            } else {
                end = strrchr(h, ':');
            }
            if (end && end > h)
                m->tls_host = xstrndup(h, (size_t)(end - h));
        }
        if (!m->tls_host && spec->verify_peer)
            return verr_set(err, EINVAL, "No hostname available for TLS");
    }
    struct authz *authz = NULL;
    if (server && *m->tls_authz && !(authz = migration_authz_find(m, m->tls_authz)))
        return verr_set(err, ENOENT, "Cannot find QAuthZ object ID %s", m->tls_authz);
    int r = mig_tls_creds_load(spec, server, &m->tls_cred, err);
    if (r == 0 && authz && (r = mig_tls_creds_set_authz(m->tls_cred, authz, err)) < 0) {
        mig_tls_creds_free(m->tls_cred);
        m->tls_cred = NULL;
    }
    return r;
}

static int start_outgoing(struct migration *m, const char *uri, struct verr *err)
{
    struct vm *vm = m->vm;
    int r = vm_state_check_migratable(vm, err);
    if (r < 0)
        return r;
    reset_op(m);
    m->incoming = false;
    m->cancel = false;
    m->rc = 0;
    m->error_desc[0] = '\0';
    m->parked = m->captured = m->committed = false;
    m->downtime = 0;
    m->start_postcopy = false;
    m->pcs_started = m->handed_over = false;
    memset(&m->pcs, 0, sizeof(m->pcs));
    memset(&m->ram, 0, sizeof(m->ram));
    if (m->multifd && !mig_transport_is_socket(uri))
        return verr_set(err, ENOTSUP, "Migration requires multi-channel URIs (e.g. tcp)");
    if (m->postcopy_ram && strncmp(uri, "fd:", 3) && !mig_transport_is_socket(uri))
        return verr_set(err, ENOTSUP, "Unable to open return-path for postcopy");
    multifd_begin(&m->mf, m->multifd ? (unsigned)m->multifd_channels : 0, vm, &m->cancel);
    if ((r = open_uri(m, uri, false, err)) < 0 || (r = setup_tls(m, uri, false, err)) < 0) {
        reset_op(m);
        return r;
    }
    /* Live unless the VM is stopped (nothing to iterate) or the target is a regular file
     * (kept as one whole RAM image that a restore maps). */
    struct stat st;
    bool to_file = m->fd >= 0 && fstat(m->fd, &st) == 0 && S_ISREG(st.st_mode);
    m->live = (vm->status == VM_STATUS_RUNNING || m->multifd) && !to_file;
    m->t_start = now_ms();
    set_status(m, MIG_SETUP);
    m->prev_status = vm->status;
    if (m->live) {
        struct precopy *pc = &m->pc;
        uint64_t *keep = pc->vmm_bitmap;
        memset(pc, 0, sizeof(*pc));
        pc->vmm_bitmap = keep;
        pc->vm = vm;
        pc->downtime_limit_ms = &m->downtime_limit;
        pc->max_bandwidth = &m->max_bandwidth;
        pc->auto_converge = m->auto_converge;
        pc->throttle_initial = (unsigned)m->throttle_initial;
        pc->throttle_increment = (unsigned)m->throttle_increment;
        pc->cancel = &m->cancel;
        pc->mf = m->multifd ? &m->mf : NULL;
        pc->stop_and_capture = live_stop_and_capture;
        pc->pass = live_pass;
        pc->device_stage = live_device_stage;
        pc->postcopy_switch = m->postcopy_ram ? &m->start_postcopy : NULL;
        pc->opaque = m;
        vm_quiesce(vm);
        r = precopy_start(pc, err);
        vm_unquiesce(vm);
        if (r == 0) {
            r = pthread_create(&m->worker, NULL, live_worker, m);
            if (r != 0) {
                precopy_finish(pc);
                r = verr_errno(err, r, "cannot start the migration thread");
            } else {
                m->worker_running = true;
            }
        }
        if (r < 0) {
            snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(err));
            reset_op(m);
            set_status(m, MIG_FAILED);
        }
        return 0;
    }
    if (vm->status == VM_STATUS_RUNNING) {
        vm_park(vm, VM_STATUS_FINISH_MIGRATE);
        vm_qmp_event(vm, "STOP", NULL);
    } else {
        vm_park(vm, VM_STATUS_FINISH_MIGRATE);
    }
    r = vm_state_capture(vm, &m->cap, err);
    if (r == 0 && (r = blockdev_set_active_all(vm, false, true, err)) < 0)
        vm_state_resume_devices(vm);
    if (r == 0) {
        m->t_active = now_ms();
        set_status(m, MIG_ACTIVE);
        r = pthread_create(&m->worker, NULL, out_worker, m);
        if (r != 0)
            r = verr_errno(err, r, "cannot start the migration thread");
        else
            m->worker_running = true;
        if (r < 0)
            vm_state_resume_devices(vm);
    }
    if (r < 0) {
        struct verr ae = {0};
        blockdev_set_active_all(vm, true, false, &ae);
    }
    if (r < 0) {
        snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(err));
        reset_op(m);
        vm_unpark(vm, m->prev_status);
        set_status(m, MIG_FAILED);
        /* QEMU reports the failure through query-migrate, not the command. */
        return 0;
    }
    return 0;
}

/* ---- incoming ---- */

static void in_done(void *opaque);

/* The source waits for this (STATE_FLAG_ACK) before it gives the VM up. */
static int send_ack(struct migration *m, struct verr *err)
{
    uint8_t b = STATE_ACK_BYTE;
    ssize_t n;
    do
        n = write(m->fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        return verr_errno(err, n < 0 ? errno : EIO,
                          "the source went away before the migration completed");
    return 0;
}

static int in_sync(void *opaque, const struct state_section *s, struct verr *err)
{
    struct migration *m = opaque;
    if (s->kind == STATE_SEC_PADV) {
        if (!m->postcopy_ram)
            return verr_set(err, ENOTSUP,
                            "the source migrates with postcopy-ram, which is off on the "
                            "destination (migrate-set-capabilities)");
        m->pc_advised = true;
        return 0;
    }
    if (s->kind == STATE_SEC_PCPY) { /* the devices' state follows, then END */
        if (!m->pc_advised || m->pcd)
            return verr_set(err, EINVAL, "VM state: section %u is an unexpected PCPY", s->index);
        return postcopy_dest_prepare(m->vm, m->fd, s->payload, s->len, &m->pcd, err);
    }
    if (m->mf.n == 0)
        return verr_set(err, EINVAL, "VM state: section %u is SYNC without multifd", s->index);
    return multifd_recv_sync(&m->mf, s, err);
}

/* Main thread: post-copy's switch on the destination; the VM runs with pages missing. */
static void in_postcopy_run(void *opaque)
{
    struct migration *m = opaque;
    struct vm *vm = m->vm;
    vm_unpark(vm, vm->autostart && vm->loaded_running ? VM_STATUS_RUNNING : VM_STATUS_PAUSED);
}

/* Worker: the source's connection on m->listen_fd (TLS done when asked for) in m->fd. */
static int accept_source(struct migration *m, struct verr *e)
{
    for (;;) {
        int lfd = m->listen_fd;
        int fd = mig_transport_accept_keep(lfd, m->uri_desc, e);
        if (fd < 0)
            return fd;
        __atomic_store_n(&m->fd, fd, __ATOMIC_RELEASE);
        /* A peer that fails the TLS handshake, is not authorized (tls-authz) or stalls is
         * dropped with one line and the next connection waited for, as QEMU's listener goes
         * on after a failed TLS channel: it must not end the incoming migration. */
        int rc = 0;
        if (m->tls_cred && (rc = start_tls(m, e)) < 0 && !m->cancel) {
            log_warn("migration: refused a connection on %s: %s", m->uri_desc, verr_msg(e));
            __atomic_store_n(&m->fd, -1, __ATOMIC_RELEASE);
            close(fd);
            *e = (struct verr){0};
            continue;
        }
        return rc;
    }
}

static void *in_worker(void *opaque)
{
    struct migration *m = opaque;
    struct verr e = {0};
    struct state_reader r;
    int rc = 0;
    bool over_socket = m->listen_fd >= 0;
    bool tls_done = false;
    if (over_socket) {
        rc = accept_source(m, &e);
        tls_done = true;
        if (rc == 0)
            set_status_worker(m, MIG_ACTIVE);
    }
    /* The capability and channels as they are when the source comes (-incoming tcp: may
     * have had them set after start-up, as QEMU allows). */
    bool multifd = over_socket && m->multifd;
    multifd_begin(&m->mf, multifd ? (unsigned)m->multifd_channels : 0, m->vm, &m->cancel);
    if (rc == 0 && !tls_done)
        rc = start_tls(m, &e);
    bool reader = false;
    if (rc == 0) {
        rc = state_reader_init_fd(&r, m->fd, &e);
        reader = true;
    }
    if (rc == 0)
        rc = multifd_recv_announce(&m->mf, &r, multifd, &e);
    if (rc == 0 && multifd)
        rc = multifd_recv_start(&m->mf, m->listen_fd, m->uri_desc, m->fd, m->tls_cred, &e);
    if (m->listen_fd >= 0) {
        /* Every connection is in: no more are taken. */
        int lfd = m->listen_fd;
        m->listen_fd = -1;
        mig_transport_unlisten(lfd, m->uri_desc);
    }
    if (rc == 0)
        rc = vm_state_load_ex(m->vm, &r, true, true, &m->ram, in_sync, m, &e);
    log_debug("incoming migration: loaded at %.3f", trace_ms());
    if (multifd) {
        int r2 = multifd_recv_finish(&m->mf, rc < 0, &m->ram, &e);
        if (r2 < 0 && (rc == 0 || r2 == -EIO))
            rc = r2;
        m->in_channels = m->mf.n;
    }
    /* The images become this side's (locked, their metadata read afresh) before it says it
     * has taken over; nothing runs yet, so no device needs quiescing. TODO(#13): closing the
     * inactive handle flushes (fdatasync) though nothing was written through it unless an
     * NBD export was: 1-18 ms of the downtime on a loaded host; QEMU skips a flush with no
     * write since the last (write_gen). */
    if (rc == 0 && (rc = blockdev_set_active_all(m->vm, true, true, &e)) < 0)
        verr_prefix(&e, "Failed to activate the images");
    log_debug("incoming migration: images active at %.3f", trace_ms());
    /* Post-copy: the pages still on the source fault until they come (postcopy.h). */
    bool postcopy = rc == 0 && m->pcd;
    if (postcopy && !(r.flags & STATE_FLAG_ACK))
        rc = verr_set(&e, EPROTO, "post-copy without a return path");
    if (rc == 0 && (r.flags & STATE_FLAG_ACK))
        rc = send_ack(m, &e);
    if (postcopy && rc == 0) {
        set_status_worker(m, MIG_POSTCOPY_ACTIVE);
        loop_call_soon(m->vm->loop, in_postcopy_run, m);
        rc = postcopy_dest_receive(m->pcd, &e);
    }
    if (reader)
        state_reader_free(&r);
    if (rc < 0 && m->child > 0)
        kill(m->child, SIGTERM);
    int r2 = finish_transport(m, rc < 0 ? NULL : &e);
    m->rc = rc < 0 ? rc : r2;
    m->err = e;
    loop_call_soon(m->vm->loop, in_done, m);
    return NULL;
}

static void in_done(void *opaque)
{
    struct migration *m = opaque;
    pthread_join(m->worker, NULL);
    m->worker_running = false;
    m->t_end = now_ms();
    struct vm *vm = m->vm;
    bool postcopy =
        m->pcd && (m->status == MIG_POSTCOPY_ACTIVE || m->status == MIG_POSTCOPY_RECOVER ||
                   m->status == MIG_POSTCOPY_PAUSED); /* a recovery's listening */
    if (m->rc < 0 && postcopy) {
        /* The guest runs here with pages only the source had: it waits on them (the RAM
         * stays registered) rather than see zeros. QEMU's postcopy-paused, until
         * migrate-recover and the source's migrate resume=true bring the rest. */
        snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(&m->err));
        log_error("post-copy migration paused: %s", m->error_desc);
        reset_op(m);
        if (m->status != MIG_POSTCOPY_PAUSED)
            set_status(m, MIG_POSTCOPY_PAUSED);
        return;
    }
    if (m->rc < 0) {
        snprintf(m->error_desc, sizeof(m->error_desc), "%s", verr_msg(&m->err));
        set_status(m, MIG_FAILED);
        /* As QEMU: a failed incoming migration ends the process; the VM never ran. */
        log_error("load of migration failed: %s", m->error_desc);
        reset_op(m);
        vm_quit(vm, 1);
        return;
    }
    reset_op(m);
    log_info("incoming migration completed in %llu ms (%llu MiB of RAM %s, over %u "
             "connection%s)",
             (unsigned long long)(m->t_end - m->t_start),
             (unsigned long long)(m->ram.bytes_written >> 20), m->ram.mapped ? "mapped" : "read",
             1 + m->in_channels, m->in_channels ? "s" : "");
    set_status(m, MIG_COMPLETED);
    if (postcopy) { /* running since the switch */
        postcopy_dest_free(m->pcd);
        m->pcd = NULL;
        return;
    }
    /* As QEMU: without -S (or after a cont) the guest runs, unless the source was paused. */
    vm_unpark(vm, vm->autostart && vm->loaded_running ? VM_STATUS_RUNNING : VM_STATUS_PAUSED);
    log_debug("incoming migration: resumed at %.3f", trace_ms());
}

static int start_incoming(struct migration *m, const char *uri, struct verr *err)
{
    reset_op(m);
    m->incoming = true;
    m->cancel = false;
    m->in_channels = 0;
    m->pc_advised = false;
    memset(&m->ram, 0, sizeof(m->ram));
    if (m->multifd && !mig_transport_is_socket(uri))
        return verr_set(err, ENOTSUP, "Migration requires multi-channel URIs (e.g. tcp)");
    int r = open_uri(m, uri, true, err);
    if (r == 0)
        r = setup_tls(m, uri, true, err);
    if (r < 0) {
        reset_op(m);
        return r;
    }
    m->t_start = now_ms();
    set_status(m, MIG_SETUP);
    if (m->listen_fd < 0) /* a socket goes active once the source has connected */
        set_status(m, MIG_ACTIVE);
    r = pthread_create(&m->worker, NULL, in_worker, m);
    if (r != 0) {
        reset_op(m);
        return verr_errno(err, r, "cannot start the migration thread");
    }
    m->worker_running = true;
    return 0;
}

int migration_start_incoming(struct migration *m, const char *uri, struct verr *err)
{
    if (!strcmp(uri, "defer"))
        return 0;
    return start_incoming(m, uri, err);
}

/* ---- post-copy recovery ---- */

/* Destination worker after migrate-recover: the source's new connection, the pages still
 * missing asked for again, and the page phase to its end (in_done as for the first). */
static void *recover_worker(void *opaque)
{
    struct migration *m = opaque;
    struct verr e = {0};
    int rc = 0;
    if (m->listen_fd >= 0) {
        rc = accept_source(m, &e);
        int lfd = m->listen_fd;
        m->listen_fd = -1;
        mig_transport_unlisten(lfd, m->uri_desc);
    } else {
        rc = start_tls(m, &e);
    }
    /* As QEMU's destination: postcopy-recover once the source has connected. */
    if (rc == 0)
        set_status_worker(m, MIG_POSTCOPY_RECOVER);
    if (rc == 0)
        rc = postcopy_dest_reconnect(m->pcd, m->fd, &e);
    if (rc == 0) {
        set_status_worker(m, MIG_POSTCOPY_ACTIVE);
        rc = postcopy_dest_receive(m->pcd, &e);
    }
    int r2 = finish_transport(m, rc < 0 ? NULL : &e);
    m->rc = rc < 0 ? rc : r2;
    m->err = e;
    loop_call_soon(m->vm->loop, in_done, m);
    return NULL;
}

/* Source worker after migrate resume=true: the new connection, the destination's bitmap of
 * what it lacks, those pages (requested ones first); out_done as for the first connection. */
static void *resume_worker(void *opaque)
{
    struct migration *m = opaque;
    struct verr e = {0};
    uint64_t *need = NULL;
    size_t words = 0;
    int r = connect_target(m, &e);
    /* As QEMU's source: postcopy-recover once connected (a failed connect leaves it paused). */
    if (r == 0)
        set_status_worker(m, MIG_POSTCOPY_RECOVER);
    if (r == 0)
        r = postcopy_source_resume(m->vm, m->fd, &need, &words, &e);
    if (r == 0) {
        set_status_worker(m, MIG_POSTCOPY_ACTIVE);
        r = postcopy_source_run(m->vm, m->fd, need, words, &m->max_postcopy_bandwidth, &m->pcs, &e);
    }
    free(need);
    int r2 = finish_transport(m, r < 0 ? NULL : &e);
    if (r == 0)
        r = r2;
    m->rc = r;
    m->err = e;
    loop_call_soon(m->vm->loop, out_done, m);
    return NULL;
}

/* migrate-recover (destination) and migrate resume=true (source): a new connection on uri for
 * a paused post-copy; status postcopy-recover on both sides once connected (as QEMU's) until
 * the two sides have agreed on the pages left. On an error nothing changed (still
 * postcopy-paused). */
static int start_recovery(struct migration *m, const char *uri, struct verr *err)
{
    if (strncmp(uri, "fd:", 3) && !mig_transport_is_socket(uri)) {
        if (strncmp(uri, "file:", 5) && strncmp(uri, "exec:", 5))
            return verr_set(err, EINVAL, "unknown migration protocol: %s", uri);
        return verr_set(err, ENOTSUP, "Unable to open return-path for postcopy");
    }
    reset_op(m);
    m->cancel = false;
    m->rc = 0;
    int r = open_uri(m, uri, m->incoming, err);
    if (r == 0)
        r = setup_tls(m, uri, m->incoming, err);
    if (r == 0 && !m->incoming && !m->connect_uri && !fd_is_socket(m->fd))
        r = verr_set(err, ENOTSUP, "Unable to open return-path for postcopy");
    if (r < 0) {
        reset_op(m);
        return r;
    }
    if (m->incoming) /* QEMU 7.2's destination says setup as it listens, still paused */
        status_event(m, MIG_SETUP, true);
    r = pthread_create(&m->worker, NULL, m->incoming ? recover_worker : resume_worker, m);
    if (r != 0) {
        reset_op(m);
        return verr_errno(err, r, "cannot start the migration thread");
    }
    m->worker_running = true;
    return 0;
}

/* ---- QMP ---- */

static int qmp_migrate(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    struct json_object *v;
    if ((json_object_object_get_ex(args, "blk", &v) && json_object_get_boolean(v)) ||
        (json_object_object_get_ex(args, "inc", &v) && json_object_get_boolean(v)))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Block migration (blk, inc) is not supported by vireo-vmm");
    const char *uri = json_object_get_string(json_object_object_get(args, "uri"));
    struct verr e = {0};
    if (json_object_object_get_ex(args, "resume", &v) && json_object_get_boolean(v)) {
        if (m->incoming || m->status != MIG_POSTCOPY_PAUSED)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Cannot resume if there is no paused "
                                 "migration");
        if (m->worker_running) /* a resume still connecting */
            return qmp_error_set(err, QMP_ERROR_GENERIC, "There's a migration process in progress");
        if (start_recovery(m, uri, &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        return 0;
    }
    /* A paused post-copy is still in progress on either side (its VM is not whole here). */
    if (migration_active(m) || m->status == MIG_POSTCOPY_PAUSED ||
        m->status == MIG_POSTCOPY_RECOVER)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "There's a migration process in progress");
    if (m->vm->status == VM_STATUS_INMIGRATE)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Guest is waiting for an incoming migration");
    if (start_outgoing(m, uri, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

static int qmp_migrate_cancel(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)ret, (void)err;
    struct migration *m = opaque;
    if (m->worker_running && !m->incoming && !m->committed) {
        m->cancel = true;
        if (m->child > 0)
            kill(m->child, SIGTERM);
        /* A write blocked on a full socket (or a connect) returns at once. */
        int fd = __atomic_load_n(&m->fd, __ATOMIC_ACQUIRE);
        if (fd >= 0 && fd_is_socket(fd))
            shutdown(fd, SHUT_RDWR);
        multifd_shutdown(&m->mf);
        set_status(m, MIG_CANCELLING);
    }
    return 0;
}

static int qmp_migrate_incoming(struct qmp_session *ss, struct json_object *args,
                                struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    if (!m->vm->cfg->incoming || strcmp(m->vm->cfg->incoming, "defer"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "'-incoming' was not specified on the command line");
    if (m->status != MIG_NONE)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "The incoming migration has already been started");
    const char *uri = json_object_get_string(json_object_object_get(args, "uri"));
    if (strncmp(uri, "file:", 5) && strncmp(uri, "fd:", 3) && strncmp(uri, "exec:", 5) &&
        !mig_transport_is_socket(uri))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "unknown migration protocol: %s", uri);
    struct verr e = {0};
    if (start_incoming(m, uri, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

static int qmp_start_postcopy(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)ret;
    struct migration *m = opaque;
    if (!m->postcopy_ram)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Enable postcopy with migrate_set_capability before the start of "
                             "migration");
    if (m->status == MIG_NONE)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Postcopy must be started after migration has been started");
    /* Taken at the next pass boundary (precopy.h); a migration that ends first completes
     * as pre-copy, as in QEMU. */
    m->start_postcopy = true;
    return 0;
}

static int qmp_migrate_recover(struct qmp_session *ss, struct json_object *args,
                               struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    if (m->incoming && m->status == MIG_POSTCOPY_PAUSED && m->worker_running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Migrate recovery is triggered already");
    if (!m->incoming || m->status != MIG_POSTCOPY_PAUSED)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Migrate recover can only be run when postcopy is paused.");
    const char *uri = json_object_get_string(json_object_object_get(args, "uri"));
    struct verr e = {0};
    if (start_recovery(m, uri, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

/* migrate-pause: either side of a post-copy cuts its connection; both go postcopy-paused
 * (the source's worker and the destination's see the stream end). */
static int qmp_migrate_pause(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)ret;
    struct migration *m = opaque;
    int fd = __atomic_load_n(&m->fd, __ATOMIC_ACQUIRE);
    if (m->status != MIG_POSTCOPY_ACTIVE || !m->worker_running || fd < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "migrate-pause is currently only supported during postcopy-active "
                             "state");
    if (shutdown(fd, SHUT_RDWR) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Failed to pause %s migration",
                             m->incoming ? "destination" : "source");
    return 0;
}

static int64_t stat_get(const uint64_t *f)
{
    return (int64_t)__atomic_load_n(f, __ATOMIC_RELAXED);
}

static int qmp_query_migrate(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct migration *m = opaque;
    struct json_object *o = json_object_new_object();
    *ret = o;
    enum mig_status status = __atomic_load_n(&m->status, __ATOMIC_RELAXED);
    if (status == MIG_NONE)
        return 0;
    json_object_object_add(o, "status", json_object_new_string(status_names[status]));
    if ((status == MIG_FAILED || status == MIG_POSTCOPY_PAUSED) && m->error_desc[0])
        json_object_object_add(o, "error-desc", json_object_new_string(m->error_desc));
    if (m->incoming || status == MIG_SETUP)
        return 0;
    /* A paused or recovering post-copy is still running, as QEMU shows it (with its RAM). */
    bool running = status == MIG_ACTIVE || status == MIG_CANCELLING || status == MIG_DEVICE ||
                   status == MIG_POSTCOPY_ACTIVE || status == MIG_POSTCOPY_PAUSED ||
                   status == MIG_POSTCOPY_RECOVER;
    bool done = status == MIG_COMPLETED;
    uint64_t end = running ? now_ms() : m->t_end;
    uint64_t total = end - m->t_start;
    json_object_object_add(o, "total-time", json_object_new_int64((int64_t)total));
    if (done)
        json_object_object_add(o, "downtime", json_object_new_int64((int64_t)m->downtime));
    else if (m->live && running)
        json_object_object_add(o, "expected-downtime",
                               json_object_new_int64(stat_get(&m->pc.st.expected_downtime)));
    json_object_object_add(o, "setup-time",
                           json_object_new_int64((int64_t)(m->t_active - m->t_start)));
    if (!running && !done)
        return 0;
    struct json_object *ram = json_object_new_object();
    uint64_t pages = m->vm->mem.size / STATE_PAGE_SIZE;
    int64_t transferred, normal, duplicate, remaining, rate = 0, syncs = 1;
    double mbps;
    if (m->live) {
        /* After a post-copy switch, pages go in runs (postcopy.h). */
        transferred = stat_get(&m->pc.st.transferred) + stat_get(&m->pcs.bytes);
        normal = stat_get(&m->pc.st.normal) + stat_get(&m->pcs.pages_sent);
        duplicate = stat_get(&m->pc.st.duplicate) + stat_get(&m->pcs.pages_zero);
        remaining = done ? 0
                    : __atomic_load_n(&m->pcs_started, __ATOMIC_ACQUIRE)
                        ? stat_get(&m->pcs.pages_left) * (int64_t)STATE_PAGE_SIZE
                        : stat_get(&m->pc.st.remaining);
        rate = stat_get(&m->pc.st.dirty_pages_rate);
        syncs = stat_get(&m->pc.st.dirty_sync_count);
        mbps = (double)stat_get(&m->pc.st.mbps_x1000) / 1000;
    } else {
        transferred = (int64_t)m->ram.bytes_written;
        normal = (int64_t)m->ram.pages_written;
        duplicate = done ? (int64_t)(pages - m->ram.pages_written) : 0;
        remaining = done ? 0 : (int64_t)(m->vm->mem.size - m->ram.bytes_written);
        mbps = total ? (double)m->ram.bytes_written * 8 / 1e6 / ((double)total / 1000) : 0;
    }
    json_object_object_add(ram, "transferred", json_object_new_int64(transferred));
    json_object_object_add(ram, "remaining", json_object_new_int64(remaining));
    json_object_object_add(ram, "total", json_object_new_int64((int64_t)m->vm->mem.size));
    json_object_object_add(ram, "duplicate", json_object_new_int64(duplicate));
    json_object_object_add(ram, "skipped", json_object_new_int64(0));
    json_object_object_add(ram, "normal", json_object_new_int64(normal));
    json_object_object_add(ram, "normal-bytes",
                           json_object_new_int64(normal * (int64_t)STATE_PAGE_SIZE));
    json_object_object_add(ram, "dirty-pages-rate", json_object_new_int64(rate));
    json_object_object_add(ram, "dirty-sync-count", json_object_new_int64(syncs));
    json_object_object_add(ram, "page-size", json_object_new_int64(STATE_PAGE_SIZE));
    json_object_object_add(ram, "mbps", json_object_new_double(mbps));
    if (m->live) { /* QEMU's split of transferred at the stop and the post-copy switch */
        int64_t after = stat_get(&m->pc.st.downtime_bytes), post = stat_get(&m->pcs.bytes);
        json_object_object_add(ram, "precopy-bytes",
                               json_object_new_int64(transferred - after - post));
        json_object_object_add(ram, "downtime-bytes", json_object_new_int64(after));
        json_object_object_add(ram, "postcopy-bytes", json_object_new_int64(post));
    }
    json_object_object_add(ram, "postcopy-requests",
                           json_object_new_int64(m->live ? stat_get(&m->pcs.requests) : 0));
    if (m->live && m->pc.mf)
        json_object_object_add(ram, "multifd-bytes",
                               json_object_new_int64(stat_get(&m->pc.st.multifd_bytes)));
    json_object_object_add(o, "ram", ram);
    if (m->live && running && stat_get(&m->pc.st.throttle_pct))
        json_object_object_add(o, "cpu-throttle-percentage",
                               json_object_new_int64(stat_get(&m->pc.st.throttle_pct)));
    return 0;
}

static int qmp_getfd(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                     struct qmp_error *err, void *opaque)
{
    (void)ret;
    struct migration *m = opaque;
    const char *name = json_object_get_string(json_object_object_get(args, "fdname"));
    int fd = qmp_session_take_fd(ss);
    if (fd < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "No file descriptor supplied via SCM_RIGHTS");
    if (isdigit((unsigned char)name[0])) {
        close(fd);
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'fdname' expects a name not starting with a digit");
    }
    for (unsigned i = 0; i < m->nr_fds; i++) {
        if (!strcmp(m->fds[i].name, name)) { /* QEMU replaces a same-named one */
            close(m->fds[i].fd);
            m->fds[i].fd = fd;
            return 0;
        }
    }
    if (m->nr_fds == MAX_FDS) {
        close(fd);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Too many file descriptors passed (%u)",
                             MAX_FDS);
    }
    m->fds[m->nr_fds++] = (struct named_fd){xstrdup(name), fd};
    return 0;
}

static int qmp_closefd(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    const char *name = json_object_get_string(json_object_object_get(args, "fdname"));
    int fd = take_named_fd(m, name);
    if (fd < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "File descriptor named '%s' not found", name);
    close(fd);
    return 0;
}

/* TODO: QMP add-fd/remove-fd/query-fdsets (fd sets opened as /dev/fdset/N); getfd names cover
 * what vireod passes (the save stream, hot-plugged taps). */
int migration_tls_creds_add(struct migration *m, const char *optstr, struct verr *err)
{
    struct tls_creds_spec spec;
    int r = tls_creds_spec_parse(optstr, &spec, err);
    if (r < 0)
        return r;
    const struct vmm_config *cfg = m->vm->cfg;
    bool dup = false;
    for (unsigned i = 0; i < cfg->nr_tls_creds; i++)
        dup |= !strcmp(cfg->tls_creds[i].id, spec.id);
    for (unsigned i = 0; i < m->nr_tls_added; i++)
        dup |= !strcmp(m->tls_added[i].id, spec.id);
    dup |= migration_authz_find(m, spec.id) != NULL;
    if (dup)
        r = verr_set(err, EEXIST,
                     "attempt to add duplicate property '%s' to object (type "
                     "'container')",
                     spec.id);
    else if (m->nr_tls_added == VMM_MAX_TLS_CREDS)
        r = verr_set(err, ENOSPC, "at most %d tls-creds-x509 objects can be added",
                     VMM_MAX_TLS_CREDS);
    if (r < 0) {
        tls_creds_spec_free(&spec);
        return r;
    }
    m->tls_added[m->nr_tls_added++] = spec;
    return 0;
}

int migration_tls_creds_del(struct migration *m, const char *id, struct verr *err)
{
    (void)err;
    for (unsigned i = 0; i < m->nr_tls_added; i++) {
        if (!strcmp(m->tls_added[i].id, id)) {
            /* A migration running with it keeps its own loaded credentials. */
            tls_creds_spec_free(&m->tls_added[i]);
            m->tls_added[i] = m->tls_added[--m->nr_tls_added];
            return 1;
        }
    }
    return 0;
}

const struct tls_creds_spec *migration_tls_creds_find(const struct migration *m, const char *id)
{
    const struct vmm_config *cfg = m->vm->cfg;
    const struct tls_creds_spec *spec = NULL;
    for (unsigned i = 0; i < cfg->nr_tls_creds; i++)
        if (!strcmp(cfg->tls_creds[i].id, id))
            spec = &cfg->tls_creds[i];
    for (unsigned i = 0; i < m->nr_tls_added; i++)
        if (!strcmp(m->tls_added[i].id, id))
            spec = &m->tls_added[i];
    return spec;
}

static bool object_id_taken(const struct migration *m, const char *id)
{
    return migration_tls_creds_find(m, id) || migration_authz_find(m, id);
}

int migration_authz_add(struct migration *m, struct authz *a, struct verr *err)
{
    int r = 0;
    if (object_id_taken(m, authz_id(a)))
        r = verr_set(err, EEXIST,
                     "attempt to add duplicate property '%s' to object (type "
                     "'container')",
                     authz_id(a));
    else if (m->nr_authz == 2 * VMM_MAX_AUTHZ)
        r = verr_set(err, ENOSPC, "at most %d authorization objects", 2 * VMM_MAX_AUTHZ);
    if (r < 0) {
        authz_unref(a);
        return r;
    }
    m->authz[m->nr_authz++] = a;
    return 0;
}

int migration_authz_del(struct migration *m, const char *id, struct verr *err)
{
    for (unsigned i = 0; i < m->nr_authz; i++) {
        struct authz *a = m->authz[i];
        if (strcmp(authz_id(a), id) != 0)
            continue;
        /* Named by tls-authz, or held by a running migration or NBD server (their loaded
         * credentials take a reference). */
        if (!strcmp(m->tls_authz, id) || authz_in_use(a))
            return verr_set(err, EBUSY, "object '%s' is in use, can not be deleted", id);
        authz_unref(a);
        m->authz[i] = m->authz[--m->nr_authz];
        return 1;
    }
    return 0;
}

struct authz *migration_authz_find(const struct migration *m, const char *id)
{
    for (unsigned i = 0; i < m->nr_authz; i++)
        if (!strcmp(authz_id(m->authz[i]), id))
            return m->authz[i];
    return NULL;
}

int migration_take_fd(struct migration *m, const char *name)
{
    return m && name ? take_named_fd(m, name) : -1;
}

static int qmp_query_caps(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct migration *m = opaque;
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < sizeof(capability_names) / sizeof(capability_names[0]); i++) {
        struct json_object *o = json_object_new_object();
        bool on = (!strcmp(capability_names[i], "events") && m->events) ||
                  (!strcmp(capability_names[i], "auto-converge") && m->auto_converge) ||
                  (!strcmp(capability_names[i], "multifd") && m->multifd) ||
                  (!strcmp(capability_names[i], "postcopy-ram") && m->postcopy_ram);
        json_object_object_add(o, "state", json_object_new_boolean(on));
        json_object_object_add(o, "capability", json_object_new_string(capability_names[i]));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

static int qmp_set_caps(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                        struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    struct json_object *caps = json_object_object_get(args, "capabilities");
    size_t n = json_object_array_length(caps);
    bool events = m->events, auto_converge = m->auto_converge, multifd = m->multifd;
    bool postcopy_ram = m->postcopy_ram;
    for (size_t i = 0; i < n; i++) {
        struct json_object *c = json_object_array_get_idx(caps, i);
        struct json_object *jn, *js;
        if (!json_object_is_type(c, json_type_object) ||
            !json_object_object_get_ex(c, "capability", &jn) ||
            !json_object_object_get_ex(c, "state", &js) ||
            !json_object_is_type(js, json_type_boolean))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'capabilities', expected: array of "
                                 "{capability, state}");
        const char *name = json_object_get_string(jn);
        bool on = json_object_get_boolean(js), known = false;
        for (size_t k = 0; k < sizeof(capability_names) / sizeof(capability_names[0]); k++)
            known |= !strcmp(capability_names[k], name);
        if (!known)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'capability' does not accept value '%s'", name);
        if (!strcmp(name, "events"))
            events = on;
        else if (!strcmp(name, "auto-converge"))
            auto_converge = on;
        else if (!strcmp(name, "multifd"))
            multifd = on;
        else if (!strcmp(name, "postcopy-ram"))
            postcopy_ram = on;
        else if (on)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Migration capability '%s' is not supported by vireo-vmm", name);
    }
    /* As QEMU: only an outgoing migration in progress holds them (a destination waiting
     * on -incoming tcp: may still turn events on). */
    if (migration_active(m) && !m->incoming)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "There's a migration process in progress");
    /* As QEMU: a destination already taking its stream from a single-channel URI (or
     * reading it) cannot turn multifd on. */
    if (multifd && migration_active(m) && m->incoming &&
        (m->listen_fd < 0 || !mig_transport_is_socket(m->uri_desc)))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "multifd is not supported by current protocol");
    if (postcopy_ram && multifd)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Postcopy is not yet compatible with multifd");
    /* As QEMU: the destination's host and RAM are checked when it is turned on there. */
    struct verr pe = {0};
    if (postcopy_ram && !m->postcopy_ram && m->vm->status == VM_STATUS_INMIGRATE &&
        postcopy_supported(m->vm, &pe) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Postcopy is not supported: %s",
                             verr_msg(&pe));
    m->events = events;
    m->auto_converge = auto_converge;
    m->multifd = multifd;
    m->postcopy_ram = postcopy_ram;
    return 0;
}

static int qmp_query_params(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct migration *m = opaque;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "max-bandwidth", json_object_new_int64((int64_t)m->max_bandwidth));
    json_object_object_add(o, "downtime-limit", json_object_new_int64((int64_t)m->downtime_limit));
    json_object_object_add(o, "multifd-channels",
                           json_object_new_int64((int64_t)m->multifd_channels));
    json_object_object_add(o, "cpu-throttle-initial",
                           json_object_new_int64((int64_t)m->throttle_initial));
    json_object_object_add(o, "cpu-throttle-increment",
                           json_object_new_int64((int64_t)m->throttle_increment));
    json_object_object_add(o, "tls-creds", json_object_new_string(m->tls_creds));
    json_object_object_add(o, "tls-hostname", json_object_new_string(m->tls_hostname));
    json_object_object_add(o, "tls-authz", json_object_new_string(m->tls_authz));
    json_object_object_add(o, "max-postcopy-bandwidth",
                           json_object_new_int64((int64_t)m->max_postcopy_bandwidth));
    *ret = o;
    return 0;
}

/* One integer parameter in [lo, hi]; QEMU's words otherwise. */
static bool param_int(struct json_object *val, int64_t lo, int64_t hi, int64_t *out)
{
    if (!json_object_is_type(val, json_type_int))
        return false;
    int64_t v = json_object_get_int64(val);
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int qmp_set_params(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct migration *m = opaque;
    int64_t bw = (int64_t)m->max_bandwidth, dl = (int64_t)m->downtime_limit;
    int64_t mf = (int64_t)m->multifd_channels, ti = (int64_t)m->throttle_initial;
    int64_t tinc = (int64_t)m->throttle_increment;
    int64_t pbw = (int64_t)m->max_postcopy_bandwidth;
    const char *creds = NULL, *host = NULL, *authz = NULL;
    /* Every value is checked before any is applied. */
    json_object_object_foreach(args, key, val)
    {
        if (!strcmp(key, "max-bandwidth")) {
            if (!param_int(val, 0, INT64_MAX, &bw))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'max_bandwidth' expects an integer in the range "
                                     "of 0 to 9223372036854775807 bytes/second");
        } else if (!strcmp(key, "max-postcopy-bandwidth")) {
            if (!param_int(val, 0, INT64_MAX, &pbw))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'max-postcopy-bandwidth' expects an integer in "
                                     "the range of 0 to 9223372036854775807 bytes/second");
        } else if (!strcmp(key, "downtime-limit")) {
            if (!param_int(val, 0, MAX_DOWNTIME_LIMIT, &dl))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'downtime_limit' expects an integer in the range "
                                     "of 0 to %d milliseconds",
                                     MAX_DOWNTIME_LIMIT);
        } else if (!strcmp(key, "multifd-channels")) {
            /* The connections a multifd migration opens besides the main one. */
            if (!param_int(val, 1, 255, &mf))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'multifd-channels' expects is invalid, it should "
                                     "be in the range of 1 to 255");
        } else if (!strcmp(key, "cpu-throttle-initial")) {
            if (!param_int(val, 1, 99, &ti))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'cpu_throttle_initial' expects an integer in the "
                                     "range of 1 to 99");
        } else if (!strcmp(key, "cpu-throttle-increment")) {
            if (!param_int(val, 1, 99, &tinc))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'cpu_throttle_increment' expects an integer in "
                                     "the range of 1 to 99");
        } else if (!strcmp(key, "tls-creds") || !strcmp(key, "tls-hostname") ||
                   !strcmp(key, "tls-authz")) {
            /* A string, or null for "" (QEMU's StrOrNull). */
            const char *v = "";
            if (val && !json_object_is_type(val, json_type_string))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Invalid parameter type for '%s', expected: string", key);
            if (val)
                v = json_object_get_string(val);
            if (!strcmp(key, "tls-creds"))
                creds = v;
            else if (!strcmp(key, "tls-hostname"))
                host = v;
            else
                authz = v; /* looked up at migrate-incoming, as QEMU does at the handshake */
        } else {
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Migration parameter '%s' is not supported by vireo-vmm", key);
        }
    }
    /* downtime-limit and max-bandwidth apply to a migration in progress at its next pass
     * (or, for the bandwidth, within a second); the throttle steps to the next one. */
    m->max_bandwidth = (uint64_t)bw;
    m->max_postcopy_bandwidth = (uint64_t)pbw; /* a running page phase takes it at once */
    m->downtime_limit = (uint64_t)dl;
    m->multifd_channels = (uint64_t)mf;
    m->throttle_initial = (uint64_t)ti;
    m->throttle_increment = (uint64_t)tinc;
    /* Taken by the next migrate or migrate-incoming (one running keeps its own). */
    if (creds) {
        free(m->tls_creds);
        m->tls_creds = xstrdup(creds);
    }
    if (host) {
        free(m->tls_hostname);
        m->tls_hostname = xstrdup(host);
    }
    if (authz) {
        free(m->tls_authz);
        m->tls_authz = xstrdup(authz);
    }
    return 0;
}

void migration_quit(struct migration *m)
{
    if (m && m->pcd)
        postcopy_dest_release(m->pcd);
}

struct nbd_server *migration_nbd(struct migration *m)
{
    return m ? m->nbd : NULL;
}

int migration_qmp_register(struct qmp_server *s, struct migration *m)
{
    static const struct qmp_arg migrate_args[] = {
        {"uri", QMP_ARG_STRING, false}, {"blk", QMP_ARG_BOOL, true},    {"inc", QMP_ARG_BOOL, true},
        {"detach", QMP_ARG_BOOL, true}, {"resume", QMP_ARG_BOOL, true}, {NULL}};
    static const struct qmp_arg incoming_args[] = {{"uri", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg recover_args[] = {{"uri", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg fd_args[] = {{"fdname", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg caps_args[] = {{"capabilities", QMP_ARG_ARRAY, false}, {NULL}};
    static const struct qmp_arg params_args[] = {
        {"max-bandwidth", QMP_ARG_ANY, true},          {"downtime-limit", QMP_ARG_ANY, true},
        {"multifd-channels", QMP_ARG_ANY, true},       {"cpu-throttle-initial", QMP_ARG_ANY, true},
        {"cpu-throttle-increment", QMP_ARG_ANY, true}, {"tls-creds", QMP_ARG_ANY, true},
        {"tls-hostname", QMP_ARG_ANY, true},           {"tls-authz", QMP_ARG_ANY, true},
        {"max-postcopy-bandwidth", QMP_ARG_ANY, true}, {NULL}};
    int r = qmp_server_register(s, "migrate", migrate_args, qmp_migrate, m);
    if (!r)
        r = qmp_server_register(s, "migrate_cancel", NULL, qmp_migrate_cancel, m);
    if (!r)
        r = qmp_server_register(s, "migrate-incoming", incoming_args, qmp_migrate_incoming, m);
    if (!r)
        r = qmp_server_register(s, "query-migrate", NULL, qmp_query_migrate, m);
    if (!r)
        r = qmp_server_register(s, "migrate-start-postcopy", NULL, qmp_start_postcopy, m);
    if (!r)
        r = qmp_server_register(s, "migrate-recover", recover_args, qmp_migrate_recover, m);
    if (!r)
        r = qmp_server_register(s, "migrate-pause", NULL, qmp_migrate_pause, m);
    if (!r)
        r = qmp_server_register(s, "getfd", fd_args, qmp_getfd, m);
    if (!r)
        r = qmp_server_register(s, "closefd", fd_args, qmp_closefd, m);
    if (!r)
        r = qmp_server_register(s, "query-migrate-capabilities", NULL, qmp_query_caps, m);
    if (!r)
        r = qmp_server_register(s, "migrate-set-capabilities", caps_args, qmp_set_caps, m);
    if (!r)
        r = qmp_server_register(s, "query-migrate-parameters", NULL, qmp_query_params, m);
    if (!r)
        r = qmp_server_register(s, "migrate-set-parameters", params_args, qmp_set_params, m);
    if (!r)
        r = snapshot_qmp_register(s, m->snapshots);
    if (!r)
        r = nbd_server_qmp_register(s, m->nbd);
    if (!r)
        r = block_jobs_qmp_register(s, m->block_jobs);
    return r;
}
