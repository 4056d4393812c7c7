/*
 * vmm-start.c - starting a vireo-vmm so that it can never outlive the
 * daemon unrecorded: the order of the steps is the point of this file.
 *
 * On the loop thread, before anything runs:
 *   1. the command line (vmm_argv_build refuses what vireo-vmm cannot do);
 *   2. the domain lock (vmm-record.h): refused if a VMM of the domain lives;
 *   3. the record, phase=starting.
 * In a worker thread (it touches only its struct start_work):
 *   4. spawn vireo-vmm -S -daemonize with the lock handed to it; the
 *      spawned process forks the VMM and exits once the VM is built;
 *   5. the pid from the pid file, opened as a pidfd and checked to be this
 *      domain's VMM (vmm-proc.h), its start time read;
 *   6. the record, phase=spawned with pid and start time; until here the
 *      VMM has run no guest code (-S), and from here a restarted daemon
 *      can name it without scanning;
 *   7. the console and QMP connected (in that order, see there), the
 *      balloon and the VNC password set, cont;
 *   8. the record, phase=ready.
 * Back on the loop: the handle is made and watched, and the caller's done
 * callback gets it. Any failure ends what was started (SIGKILL through
 * the pidfd, and a scan for the domain's processes), waits for the end,
 * removes the record and releases the lock before done reports the error.
 * A daemon killed at any step leaves a record and a held lock that tell
 * its successor what to end (vmm-recover.c).
 *
 * An autoport VNC port is probed free on the loop (domain-graphics.c) and
 * bound by the VMM later: when another program or daemon took it in
 * between, the VMM ends with EADDRINUSE at step 4 and the worker tries
 * again (at most VNC_RETRIES times) with the next free port, which the
 * loop picks and puts into the live definition; the lock, the record, the
 * labels and the taps (kept open for that) stay as they are.
 *
 * The spawn stays in the worker: done on the loop it took the worker's
 * creation off the start's path (0.1-0.2 ms) but made the loop wait for
 * posix_spawn's vfork (5 ms, median, at load 20 on 2 CPUs), and every
 * other client with it.
 *
 * TODO (speed, docs/daemon-perf.md): steps 5-8 event-driven on the loop
 * (the spawned process's end through a pidfd watch, QMP negotiated and
 * `cont` sent asynchronously) would save the worker's hand-off back to
 * the loop, one wake-up per start; it needs an asynchronous QMP
 * handshake (qmp_client_attach wants a negotiated client) and the undo
 * (which waits for processes to end) kept off the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/net-iface.h"
#include "daemon/nvram.h"
#include "daemon/security-dac.h"
#include "daemon/storage.h"
#include "daemon/tune.h"
#include "daemon/vireod.h"
#include "daemon/secret.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-internal.h"
#include "daemon/vmm-namespace.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "qmp/qmp-client.h"

#define VNC_RETRIES 8

struct start_work {
    struct vd_daemon *d; /* read on the loop thread only */
    struct loop *loop;
    char **argv;
    char *name, *run_dir, *logpath, *qmp_path, *console_path, *pidfile;
    char *memory_base; /* the daemon's memory_backing_dir (memory-dir.c) */
    char uuid[37];
    bool paused;
    uint64_t balloon_bytes;
    unsigned balloon_stats_period;
    int incoming_fd; /* a dup of the caller's, or -1 */
    /* an incoming migration with storage (vmm-driver.h), or NULL */
    char *incoming_uri, *nbd_addr;
    char *incoming_tls_dir; /* --tls: the server's credentials (vmm-driver.h), or NULL */
    bool incoming_tls_verify;
    int nbd_port;
    char **nbd_drives;         /* NULL-terminated */
    unsigned incoming_multifd; /* multifd-channels of a --parallel migration, or 0 */
    bool incoming_postcopy;    /* postcopy-ram; the load ends at postcopy-active too */
    int *net_fds;              /* dups of the caller's taps (above VD_VMM_LOCK_FD), or -1 */
    size_t nnet_fds;
    char **link_down;   /* NULL-terminated: the aliases (netN) with <link state='down'/> */
    char *vnc_password; /* <graphics passwd=>: over QMP, never in argv or the log */
    char *vnc_socket;
    int64_t vnc_valid_to;
    unsigned vnc_port;  /* an autoport VNC's port (a start may move it), or 0 */
    unsigned vnc_tries; /* the starts retried on another port */
    int vnc_next;       /* the loop's answer: the next port, or -errno */
    bool vnc_answered;
    pthread_mutex_t vnc_lock;
    pthread_cond_t vnc_cond;
    int lock_fd;
    struct vd_ns_plan *ns; /* qemu.conf's namespaces = [ "mount" ]: the private /dev, or NULL */
    bool memlock;          /* <locked/>: the VMM's RLIMIT_MEMLOCK is memlock_limit */
    struct rlimit memlock_limit;
    bool spawned; /* a process was started: an undo must look for it */
    const struct vd_vmm_events *ev;
    void *owner;
    vd_vmm_started_fn done;
    void *opaque;
    /* results */
    int r;
    struct verr err;
    pid_t pid;
    uint64_t start_time;
    int pidfd, console_fd;
    struct qmp_client *qmp;
    struct vd_tune_plan *tune; /* <cputune> and <vcpu cpuset>, applied before cont */
    pid_t *vcpu_tids;
    size_t nvcpu_tids;
    struct vd_iothread_tid *iothreads;
    size_t niothreads;
    unsigned *plug_vcpus; /* <vcpus>' enabled hotpluggable vCPUs, in their order */
    size_t nplug_vcpus;
    bool query_dimms; /* the definition has <memory> devices: read their slots and bases */
    struct vd_vmm_dimm *dimms;
    size_t ndimms;
};

static void work_free(struct start_work *w)
{
    if (w->incoming_fd >= 0)
        close(w->incoming_fd);
    for (size_t i = 0; i < w->nnet_fds; i++)
        if (w->net_fds[i] >= 0)
            close(w->net_fds[i]);
    free(w->net_fds);
    vmm_argv_free(w->link_down);
    vmm_argv_free(w->argv);
    free(w->incoming_uri);
    free(w->incoming_tls_dir);
    free(w->nbd_addr);
    vmm_argv_free(w->nbd_drives);
    free(w->name);
    free(w->run_dir);
    free(w->memory_base);
    free(w->logpath);
    free(w->qmp_path);
    free(w->console_path);
    free(w->pidfile);
    free(w->vnc_socket);
    vd_tune_plan_free(w->tune);
    vd_ns_plan_free(w->ns);
    free(w->vcpu_tids);
    free(w->plug_vcpus);
    free(w->iothreads);
    free(w->dimms);
    if (w->vnc_password)
        explicit_bzero(w->vnc_password, strlen(w->vnc_password));
    free(w->vnc_password);
    pthread_mutex_destroy(&w->vnc_lock);
    pthread_cond_destroy(&w->vnc_cond);
    free(w);
}

static int write_record(struct start_work *w, enum vd_vmm_phase phase)
{
    struct vd_vmm_record rec = {phase, w->pid, w->start_time, ""};
    memcpy(rec.uuid, w->uuid, sizeof(rec.uuid));
    return vd_record_write(w->run_dir, w->name, &rec, &w->err);
}

/* The last line vireo-vmm wrote to its log: its error. */
static void last_log_line(const char *logpath, char *out, size_t size)
{
    struct buf b = BUF_INIT;
    struct verr e2 = {0};
    snprintf(out, size, "no message");
    if (file_read_all(logpath, 1 << 20, &b, &e2) == 0 && b.len) {
        buf_append(&b, "", 1);
        char *t = (char *)b.data;
        size_t l = strlen(t);
        while (l && t[l - 1] == '\n')
            t[--l] = 0;
        char *nl = strrchr(t, '\n');
        snprintf(out, size, "%s", nl ? nl + 1 : t);
    }
    buf_free(&b);
}

static int read_pidfile(const char *path, pid_t *pid, struct verr *err)
{
    struct buf b = BUF_INIT;
    int r = file_read_all(path, 64, &b, err);
    if (r < 0)
        return r;
    buf_append(&b, "", 1);
    char *text = (char *)b.data;
    text[strcspn(text, "\n")] = 0;
    int64_t v;
    r = str_to_i64(text, 10, &v);
    buf_free(&b);
    if (r < 0 || v <= 1 || v > 0x7fffffff)
        return verr_set(err, EINVAL, "pid file %s: not a process id", path);
    *pid = (pid_t)v;
    return 0;
}

static int qmp_run(struct start_work *w, const char *cmd, struct json_object *args)
{
    struct json_object *reply = NULL, *e, *desc;
    int r = qmp_client_execute(w->qmp, cmd, args, VMM_QMP_TIMEOUT_MS, &reply, &w->err);
    if (r == 0 && json_object_object_get_ex(reply, "error", &e))
        r = verr_set(&w->err, EIO, "vireo-vmm refused %s: %s", cmd,
                     json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc)
                                                                 : "error");
    json_object_put(reply);
    return r;
}

/* <vcpus>: each enabled hotpluggable vCPU N device_add'ed as vcpuN into its slot (libvirt's
 * qemuProcessSetupHotpluggableVcpus), before the threads are read and placed. The slots come
 * from query-hotpluggable-cpus, last first: vCPU N is entry len - 1 - N. */
static int plug_vcpus(struct start_work *w)
{
    struct json_object *reply = NULL, *ret;
    int r = qmp_client_execute(w->qmp, "query-hotpluggable-cpus", NULL, VMM_QMP_TIMEOUT_MS, &reply,
                               &w->err);
    if (r == 0 && (!json_object_object_get_ex(reply, "return", &ret) ||
                   !json_object_is_type(ret, json_type_array)))
        r = verr_set(&w->err, EIO, "vireo-vmm gave no answer to query-hotpluggable-cpus");
    size_t len = r == 0 ? json_object_array_length(ret) : 0;
    for (size_t i = 0; r == 0 && i < w->nplug_vcpus; i++) {
        unsigned id = w->plug_vcpus[i];
        struct json_object *slot = id < len ? json_object_array_get_idx(ret, len - 1 - id) : NULL;
        struct json_object *type, *props;
        if (!slot || !json_object_object_get_ex(slot, "type", &type) ||
            !json_object_object_get_ex(slot, "props", &props) ||
            json_object_object_get_ex(slot, "qom-path", NULL)) {
            r = verr_set(&w->err, EINVAL, "internal error: no free hotpluggable slot for vcpu %u",
                         id);
            break;
        }
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "driver", json_object_get(type));
        char name[32];
        snprintf(name, sizeof(name), "vcpu%u", id);
        json_object_object_add(args, "id", json_object_new_string(name));
        json_object_object_foreach(props, key, val)
        {
            json_object_object_add(args, key, json_object_get(val));
        }
        r = qmp_run(w, "device_add", args);
    }
    json_object_put(reply);
    return r;
}

/* query-memory-devices: each DIMM's slot and the base vireo-vmm placed it at (libvirt reads
 * them so into the live XML). */
static int query_dimms(struct start_work *w)
{
    struct json_object *reply = NULL, *ret;
    int r = qmp_client_execute(w->qmp, "query-memory-devices", NULL, VMM_QMP_TIMEOUT_MS, &reply,
                               &w->err);
    if (r == 0 && (!json_object_object_get_ex(reply, "return", &ret) ||
                   !json_object_is_type(ret, json_type_array)))
        r = verr_set(&w->err, EIO, "vireo-vmm gave no list to query-memory-devices");
    size_t n = r == 0 ? json_object_array_length(ret) : 0;
    w->dimms = n ? xcalloc(n, sizeof(*w->dimms)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(ret, i), *data, *v;
        if (!json_object_object_get_ex(o, "data", &data))
            continue;
        struct vd_vmm_dimm *m = &w->dimms[w->ndimms];
        if (!json_object_object_get_ex(data, "id", &v))
            continue;
        snprintf(m->id, sizeof(m->id), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(data, "slot", &v))
            m->slot = (unsigned)json_object_get_int(v);
        if (json_object_object_get_ex(data, "addr", &v))
            m->addr = (unsigned long long)json_object_get_uint64(v);
        w->ndimms++;
    }
    json_object_put(reply);
    return r;
}

#define INCOMING_FD_NAME "vireo-restore"
/* How long a restore may take to read its stream. */
#define INCOMING_TIMEOUT_MS (10 * 60 * 1000)
#define INCOMING_POLL_MS    20

/* The VMM's end after a refused stream: its log's last line says why. */
static int incoming_failed(struct start_work *w)
{
    char last[512];
    vd_proc_wait_exit(w->pidfd, VMM_DESTROY_GRACE_MS);
    last_log_line(w->logpath, last, sizeof(last));
    const char *why = last;
    if (strncmp(why, "vireo-vmm: error: ", 18) == 0)
        why += 18;
    return verr_set(&w->err, EINVAL, "operation failed: job 'migration in' failed: %s", why);
}

/* The VM's state from w->incoming_fd, as libvirt restores into QEMU: getfd,
 * migrate-incoming "fd:", then the migration's status up to completed. A
 * failed load ends the VMM (as QEMU's does). The status is polled with
 * query-migrate rather than taken from MIGRATION events: the process that
 * refuses a stream exits at once, and the one thing that says why is its
 * log. */
/* --tls: the server's credentials as libvirt adds them to QEMU, and the stream set to use
 * them (vireo-vmm is then the TLS server of the source's VMM). */
static int incoming_tls(struct start_work *w)
{
    if (!w->incoming_tls_dir)
        return 0;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "qom-type", json_object_new_string("tls-creds-x509"));
    json_object_object_add(args, "id", json_object_new_string(VD_MIGRATE_TLS_ID));
    json_object_object_add(args, "dir", json_object_new_string(w->incoming_tls_dir));
    json_object_object_add(args, "endpoint", json_object_new_string("server"));
    json_object_object_add(args, "verify-peer", json_object_new_boolean(w->incoming_tls_verify));
    int r = qmp_run(w, "object-add", args);
    if (r < 0)
        return r;
    args = json_object_new_object();
    json_object_object_add(args, "tls-creds", json_object_new_string(VD_MIGRATE_TLS_ID));
    return qmp_run(w, "migrate-set-parameters", args);
}

static int load_incoming(struct start_work *w)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "fdname", json_object_new_string(INCOMING_FD_NAME));
    struct json_object *reply = NULL, *e, *desc, *ret, *status;
    int r = qmp_client_execute_fd(w->qmp, "getfd", args, w->incoming_fd, VMM_QMP_TIMEOUT_MS, &reply,
                                  &w->err);
    if (r == 0 && json_object_object_get_ex(reply, "error", &e))
        r = verr_set(&w->err, EIO, "vireo-vmm refused getfd: %s",
                     json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc)
                                                                 : "error");
    json_object_put(reply);
    if (r < 0 || (r = incoming_tls(w)) < 0)
        return r;
    if (w->incoming_postcopy) { /* before the stream: its first section may advise post-copy */
        struct json_object *cap = json_object_new_object();
        json_object_object_add(cap, "capability", json_object_new_string("postcopy-ram"));
        json_object_object_add(cap, "state", json_object_new_boolean(true));
        struct json_object *caps = json_object_new_array();
        json_object_array_add(caps, cap);
        args = json_object_new_object();
        json_object_object_add(args, "capabilities", caps);
        r = qmp_run(w, "migrate-set-capabilities", args);
        if (r < 0)
            return r;
    }
    args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string("fd:" INCOMING_FD_NAME));
    r = qmp_run(w, "migrate-incoming", args);
    if (r < 0)
        return r;
    for (int waited = 0; waited < INCOMING_TIMEOUT_MS; waited += INCOMING_POLL_MS) {
        struct verr e2 = {0};
        reply = NULL;
        r = qmp_client_execute(w->qmp, "query-migrate", NULL, VMM_QMP_TIMEOUT_MS, &reply, &e2);
        const char *st = NULL;
        if (r == 0 && json_object_object_get_ex(reply, "return", &ret) &&
            json_object_object_get_ex(ret, "status", &status))
            st = json_object_get_string(status);
        /* Post-copy: the device state is in and the rest comes on demand; Finish's cont
         * runs the VM here while the source serves the pages. */
        bool done = st && (strcmp(st, "completed") == 0 ||
                           (w->incoming_postcopy && strcmp(st, "postcopy-active") == 0));
        bool failed = r < 0 || (st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0));
        json_object_put(reply);
        if (done && w->incoming_tls_dir) {
            /* libvirt's reset after a TLS migration: the VM's later saves and migrations
             * go without TLS unless asked again, and the credentials go. */
            args = json_object_new_object();
            json_object_object_add(args, "tls-creds", json_object_new_string(""));
            r = qmp_run(w, "migrate-set-parameters", args);
            args = json_object_new_object();
            json_object_object_add(args, "id", json_object_new_string(VD_MIGRATE_TLS_ID));
            if (r == 0)
                r = qmp_run(w, "object-del", args);
            else
                json_object_put(args);
            if (r < 0) /* the VM is in: not a reason to end it */
                log_warn("after the TLS migration: %s", verr_msg(&w->err));
            return 0;
        }
        if (done)
            return 0;
        if (failed) /* QMP ended, or the status says so: the VMM refused the stream */
            return incoming_failed(w);
        struct timespec ts = {0, INCOMING_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return verr_set(&w->err, ETIMEDOUT,
                    "operation failed: job 'migration in' failed: no end after %d s",
                    INCOMING_TIMEOUT_MS / 1000);
}

static int migrate_incoming_uri(struct start_work *w)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(w->incoming_uri));
    return qmp_run(w, "migrate-incoming", args);
}

/* An incoming migration on the stream's own port (with storage, or --parallel), as
 * libvirt's destination drives QEMU: multifd set first for --parallel, the TLS credentials
 * for --tls, with storage the NBD server on the migration address and every migrated disk
 * exported writable for the source's mirrors, then migrate-incoming on the stream's port.
 * The stream is loaded while the mirrors run; Finish waits for its end. */
static int storage_incoming(struct start_work *w)
{
    int r = 0;
    if (w->incoming_multifd) { /* --parallel: multifd on this end too, before the stream */
        struct json_object *cap = json_object_new_object();
        json_object_object_add(cap, "capability", json_object_new_string("multifd"));
        json_object_object_add(cap, "state", json_object_new_boolean(true));
        struct json_object *caps = json_object_new_array();
        json_object_array_add(caps, cap);
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "capabilities", caps);
        r = qmp_run(w, "migrate-set-capabilities", args);
        args = json_object_new_object();
        json_object_object_add(args, "multifd-channels",
                               json_object_new_int((int)w->incoming_multifd));
        if (r == 0)
            r = qmp_run(w, "migrate-set-parameters", args);
        else
            json_object_put(args);
    }
    if (r == 0) /* --tls: the stream and the NBD server with the same credentials (libvirt's) */
        r = incoming_tls(w);
    if (r < 0 || !w->nbd_addr)
        return r < 0 ? r : migrate_incoming_uri(w);
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "host", json_object_new_string(w->nbd_addr));
    char port[16];
    snprintf(port, sizeof(port), "%d", w->nbd_port);
    json_object_object_add(data, "port", json_object_new_string(port));
    struct json_object *addr = json_object_new_object();
    json_object_object_add(addr, "type", json_object_new_string("inet"));
    json_object_object_add(addr, "data", data);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "addr", addr);
    if (w->incoming_tls_dir)
        json_object_object_add(args, "tls-creds", json_object_new_string(VD_MIGRATE_TLS_ID));
    r = qmp_run(w, "nbd-server-start", args);
    for (size_t i = 0; r == 0 && w->nbd_drives[i]; i++) {
        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string(w->nbd_drives[i]));
        json_object_object_add(args, "writable", json_object_new_boolean(true));
        r = qmp_run(w, "nbd-server-add", args);
    }
    return r < 0 ? r : migrate_incoming_uri(w);
}

/* Steps 4-8; touches nothing but w. */
static int start_blocking(struct start_work *w)
{
    struct verr *err = &w->err;
    int logfd = open(w->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return verr_errno(err, errno, "cannot open log file %s", w->logpath);
    struct buf line = BUF_INIT;
    for (char **p = w->argv; *p; p++) {
        buf_append(&line, *p, strlen(*p));
        buf_append(&line, p[1] ? " " : "\n", 1);
    }
    fd_write_all(logfd, line.data, line.len);
    buf_free(&line);
    pid_t child;
    int r = vd_spawn(w->argv, logfd, w->lock_fd, w->net_fds, w->nnet_fds, w->ns,
                     w->memlock ? &w->memlock_limit : NULL, &child, err);
    if (r < 0 && w->ns) /* the step that failed, with the domain's name */
        verr_prefix(err, "cannot start domain '%s'", w->name);
    close(logfd);
    /* The VMM has its own copies now: a tap lives as long as the VMM does. A start that may be
     * retried on another VNC port keeps them for the retry (work_free closes them). */
    for (size_t i = 0; !w->vnc_port && i < w->nnet_fds; i++)
        if (w->net_fds[i] >= 0)
            close(w->net_fds[i]);
    if (!w->vnc_port)
        w->nnet_fds = 0;
    if (r < 0)
        return r;
    w->spawned = true;
    /* -daemonize: the spawned process exits once the VM is built. */
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char last[512];
        last_log_line(w->logpath, last, sizeof(last));
        return verr_set(err, EIO, "vireo-vmm for domain '%s' failed to start: %s", w->name, last);
    }
    r = read_pidfile(w->pidfile, &w->pid, err);
    if (r < 0)
        return r;
    struct vd_vmm_ident id = {w->uuid, w->pidfile};
    w->pidfd = vd_proc_open(w->pid, 0, &id);
    if (w->pidfd < 0 && errno == ESRCH)
        return verr_set(err, ESRCH, "vireo-vmm pid %d of domain '%s' is gone", (int)w->pid,
                        w->name);
    if (w->pidfd < 0)
        return verr_errno(err, errno, "cannot watch vireo-vmm pid %d of domain '%s'", (int)w->pid,
                          w->name);
    w->start_time = vd_proc_start_time(w->pid, err);
    if (!w->start_time)
        return -ESRCH;
    r = write_record(w, VD_VMM_SPAWNED);
    if (r < 0)
        return r;
    /* The console first: its connection is complete (in the listening
     * socket's backlog) before qmp_capabilities is sent, so the VMM's loop
     * iteration that answers qmp_capabilities has accepted it too (the
     * loop dispatches every ready descriptor of an iteration, and the
     * listening socket stays ready until accepted). `cont` is sent only
     * after that answer: the guest never runs without its console, and no
     * extra round trip is needed to know it (query-status was one). */
    struct verr cerr = {0};
    if (vmm_console_connect(w->console_path, &w->console_fd, &cerr) < 0)
        log_warn("domain '%s': no console: %s", w->name, verr_msg(&cerr));
    r = qmp_client_connect(w->qmp_path, VMM_QMP_TIMEOUT_MS, &w->qmp, err);
    if (r < 0)
        return r;
    if (w->incoming_fd >= 0)
        r = load_incoming(w);
    else if (w->incoming_uri)
        r = storage_incoming(w);
    /* The vCPUs' threads exist (the VM is built) and have run no guest code (-S): the
     * groups, shares, bandwidth and affinities are in place before the first cont. */
    if (r == 0 && w->nplug_vcpus)
        r = plug_vcpus(w);
    if (r == 0)
        r = vmm_query_vcpu_tids(w->qmp, &w->vcpu_tids, &w->nvcpu_tids, err);
    if (r == 0)
        r = vmm_query_iothreads(w->qmp, &w->iothreads, &w->niothreads, err);
    if (r == 0 && w->query_dimms)
        r = query_dimms(w);
    if (r == 0)
        r = vd_tune_apply(w->tune, w->pid, w->vcpu_tids, w->nvcpu_tids, w->iothreads, w->niothreads,
                          err);
    if (r == 0 && w->balloon_bytes) {
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "value", json_object_new_int64((int64_t)w->balloon_bytes));
        r = qmp_run(w, "balloon", args);
    }
    if (r == 0 && w->balloon_stats_period) { /* <memballoon><stats period=>, as libvirt sets it */
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "path",
                               json_object_new_string("/machine/peripheral/balloon0"));
        json_object_object_add(args, "property",
                               json_object_new_string("guest-stats-polling-interval"));
        json_object_object_add(args, "value", json_object_new_int((int)w->balloon_stats_period));
        r = qmp_run(w, "qom-set", args);
    }
    if (r == 0 && w->vnc_password) { /* as libvirt: the VNC password goes over QMP */
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "protocol", json_object_new_string("vnc"));
        json_object_object_add(args, "password", json_object_new_string(w->vnc_password));
        r = qmp_run(w, "set_password", args);
    }
    if (r == 0 && w->vnc_password && w->vnc_valid_to) { /* <graphics passwdValidTo=> */
        char when[24];
        snprintf(when, sizeof(when), "%lld", (long long)w->vnc_valid_to);
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "protocol", json_object_new_string("vnc"));
        json_object_object_add(args, "time", json_object_new_string(when));
        r = qmp_run(w, "expire_password", args);
    }
    /* <link state='down'/>: as libvirt, set_link on the NIC before the guest runs */
    for (char **l = w->link_down; r == 0 && l && *l; l++) {
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "name", json_object_new_string(*l));
        json_object_object_add(args, "up", json_object_new_boolean(false));
        r = qmp_run(w, "set_link", args);
    }
    if (r == 0 && !w->paused)
        r = qmp_run(w, "cont", NULL);
    if (r == 0)
        r = write_record(w, VD_VMM_READY);
    return r;
}

/* Ends whatever this start made and waits for it: the pid it knows, and
 * any process of the domain it does not (the spawned parent, a VMM whose
 * pid file was not written). */
static void start_undo(struct start_work *w)
{
    if (w->qmp)
        qmp_client_close(w->qmp);
    w->qmp = NULL;
    if (w->console_fd >= 0)
        close(w->console_fd);
    w->console_fd = -1;
    if (w->pidfd >= 0) {
        vd_proc_signal(w->pidfd, SIGKILL);
        vd_proc_wait_exit(w->pidfd, VMM_DESTROY_GRACE_MS);
        close(w->pidfd);
        w->pidfd = -1;
    }
    struct vd_vmm_ident id = {w->uuid, w->pidfile};
    if (w->spawned && vd_proc_kill_all(&id, VMM_DESTROY_GRACE_MS) < 0) {
        log_error("domain '%s': a vireo-vmm process outlived SIGKILL", w->name);
    } else if (w->lock_fd >= 0) {
        /* No VMM of the domain runs any more, but one that failed may still
         * be inside exit(): its address space is gone (so the scan above
         * cannot recognise it, and it never runs again) while its copy of
         * the lock descriptor is not closed yet, which can take
         * milliseconds (tearing down the guest's memory). The lock belongs
         * to the open file description that copy shares with ours:
         * released here, a retry right after this failure is not refused
         * with "still has a vireo-vmm process". */
        flock(w->lock_fd, LOCK_UN);
    }
    vd_dac_restore(w->run_dir, w->name);
    vd_record_remove(w->run_dir, w->name);
    vd_memory_dir_remove(w->memory_base, w->name);
    if (w->tune)
        vd_cg_domain_remove(&w->tune->cg, w->name);
}

static void start_done(void *opaque);

/* On the loop: the next free VNC port for the starting domain, into its live definition. */
static void vnc_pick(void *opaque)
{
    struct start_work *w = opaque;
    unsigned char u[16];
    struct vd_domain *dom =
        domain_uuid_parse(w->uuid, u) == 0 ? vd_domain_find_uuid(w->d, u) : NULL;
    struct verr e = {0};
    int p =
        dom && dom->starting ? vd_domain_graphics_next_port(w->d, dom, w->vnc_port, &e) : -ESRCH;
    pthread_mutex_lock(&w->vnc_lock);
    w->vnc_next = p;
    w->vnc_answered = true;
    pthread_cond_signal(&w->vnc_cond);
    pthread_mutex_unlock(&w->vnc_lock);
}

/* The -vnc argument with display port-5900 instead of its own ("HOST:N[,options]"). */
static void vnc_argv_port(char **argv, unsigned port)
{
    for (size_t i = 0; argv[i] && argv[i + 1]; i++) {
        if (strcmp(argv[i], "-vnc") != 0)
            continue;
        char *v = argv[i + 1], *comma = strchr(v, ',');
        size_t hostlen = comma ? (size_t)(comma - v) : strlen(v);
        char *colon = memrchr(v, ':', hostlen);
        if (!colon)
            return;
        char *nv = xasprintf("%.*s:%u%s", (int)(colon - v), v, port - 5900, comma ? comma : "");
        free(argv[i + 1]);
        argv[i + 1] = nv;
        return;
    }
}

/* In the worker, after a failed start: whether it failed because the VMM could not bind its
 * autoport VNC port (taken since the probe) and may go again on the next free one. If so,
 * what the failed VMM left is ended, the loop has picked the port, and the command line
 * says it. */
static bool vnc_retry(struct start_work *w)
{
    char inuse[96];
    snprintf(inuse, sizeof(inuse), ": %s", strerror(EADDRINUSE));
    const char *m = verr_msg(&w->err);
    if (!w->vnc_port || w->vnc_tries >= VNC_RETRIES || w->pidfd >= 0 || w->qmp ||
        !strstr(m, "-vnc: cannot listen on ") || !strstr(m, inuse))
        return false;
    struct vd_vmm_ident id = {w->uuid, w->pidfile};
    if (w->spawned && vd_proc_kill_all(&id, VMM_DESTROY_GRACE_MS) < 0)
        return false; /* the undo reports it */
    static const char *const stale[] = {".pid", ".qmp", ".console"};
    for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
        char *path = vd_record_path(w->run_dir, w->name, stale[i]);
        unlink(path);
        free(path);
    }
    w->spawned = false;
    pthread_mutex_lock(&w->vnc_lock);
    w->vnc_answered = false;
    pthread_mutex_unlock(&w->vnc_lock);
    loop_call_soon(w->loop, vnc_pick, w);
    pthread_mutex_lock(&w->vnc_lock);
    while (!w->vnc_answered)
        pthread_cond_wait(&w->vnc_cond, &w->vnc_lock);
    int next = w->vnc_next;
    pthread_mutex_unlock(&w->vnc_lock);
    if (next < 0)
        return false; /* no port left: the VMM's error stands */
    log_warn("domain '%s': VNC port %u was taken after it was found free; starting again on %d",
             w->name, w->vnc_port, next);
    w->vnc_tries++;
    w->vnc_port = (unsigned)next;
    vnc_argv_port(w->argv, w->vnc_port);
    verr_clear(&w->err);
    return true;
}

static void *start_thread(void *opaque)
{
    struct start_work *w = opaque;
    do
        w->r = start_blocking(w);
    while (w->r < 0 && vnc_retry(w));
    if (w->r < 0)
        start_undo(w);
    loop_call_soon(w->loop, start_done, w);
    return NULL;
}

static void start_done(void *opaque)
{
    struct start_work *w = opaque;
    w->d->workers--;
    struct vd_vmm *vmm = NULL;
    if (w->r == 0) {
        vmm = vmm_new(w->d, w->name, w->uuid, w->pid, w->start_time, w->pidfd);
        vmm->qmp = w->qmp;
        vmm->console_fd = w->console_fd;
        vmm->lock_fd = w->lock_fd;
        vmm->vcpu_tids = w->vcpu_tids;
        vmm->nvcpu_tids = w->nvcpu_tids;
        w->vcpu_tids = NULL;
        vmm->iothreads = w->iothreads;
        vmm->niothreads = w->niothreads;
        w->iothreads = NULL;
        vmm->dimms = w->dimms;
        vmm->ndimms = w->ndimms;
        w->dimms = NULL;
        w->pidfd = w->console_fd = w->lock_fd = -1;
        w->qmp = NULL;
        w->r = vmm_attach(vmm, w->ev, w->owner, &w->err);
        if (w->r < 0) {
            /* No watch: end it here, waiting (briefly) on the loop. */
            vd_proc_signal(vmm->pidfd, SIGKILL);
            vd_proc_wait_exit(vmm->pidfd, VMM_DESTROY_GRACE_MS);
            vmm_free(vmm);
            vmm = NULL;
            vd_dac_restore(w->run_dir, w->name);
            vd_record_remove(w->run_dir, w->name);
            vd_memory_dir_remove(w->memory_base, w->name);
            vd_cg_domain_remove(&w->tune->cg, w->name);
        }
    }
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* after the undo: nothing of the domain lives */
    w->lock_fd = -1;
    if (vmm)
        log_info("domain '%s' started, vireo-vmm pid %d", w->name, (int)vmm->pid);
    w->done(w->opaque, vmm, w->r, w->r < 0 ? verr_msg(&w->err) : NULL);
    work_free(w);
}

/* A <graphics type='vnc'> in the definition (qemu.conf's vnc_tls applies to it). */
static bool has_vnc(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const char *type =
            n && n->name && !strcmp(n->name, "graphics") ? xnode_attr(n, "type") : NULL;
        if (type && !strcmp(type, "vnc"))
            return true;
    }
    return false;
}

int vd_vmm_start(struct vd_daemon *d, const struct vd_vmm_start_args *a,
                 const struct vd_vmm_events *ev, void *owner, vd_vmm_started_fn done, void *opaque,
                 struct verr *err)
{
    const struct domain_def *def = a->def;
    struct start_work *w = xcalloc(1, sizeof(*w));
    w->d = d;
    w->loop = d->loop;
    w->name = xstrdup(def->name);
    w->run_dir = xstrdup(d->run_dir);
    w->logpath = xasprintf("%s/%s.log", d->log_dir, def->name);
    w->qmp_path = vd_record_path(d->run_dir, def->name, ".qmp");
    w->console_path = vd_record_path(d->run_dir, def->name, ".console");
    w->pidfile = vd_record_path(d->run_dir, def->name, ".pid");
    domain_uuid_format(def->uuid, w->uuid);
    w->paused = a->paused;
    w->query_dimms = domain_def_memory_devices_kib(def) > 0;
    w->balloon_bytes = a->balloon_bytes;
    w->balloon_stats_period = a->balloon_stats_period;
    w->vnc_password = a->vnc_password ? xstrdup(a->vnc_password) : NULL;
    w->vnc_socket = vd_record_path(d->run_dir, def->name, ".vnc");
    w->vnc_valid_to = a->vnc_valid_to;
    w->vnc_port = vd_domain_graphics_autoport(def);
    pthread_mutex_init(&w->vnc_lock, NULL);
    pthread_cond_init(&w->vnc_cond, NULL);
    w->ev = ev;
    w->owner = owner;
    w->done = done;
    w->opaque = opaque;
    w->pidfd = w->console_fd = w->lock_fd = w->incoming_fd = -1;
    if (a->incoming_fd >= 0) {
        w->incoming_fd = fcntl(a->incoming_fd, F_DUPFD_CLOEXEC, 3);
        if (w->incoming_fd < 0) {
            int r = verr_errno(err, errno, "cannot duplicate the state file's descriptor");
            work_free(w);
            return r;
        }
    }

    w->incoming_postcopy = a->incoming_postcopy;
    if (a->incoming_tls_dir) {
        w->incoming_tls_dir = xstrdup(a->incoming_tls_dir);
        w->incoming_tls_verify = a->incoming_tls_verify;
    }
    if (a->incoming_uri) {
        w->incoming_uri = xstrdup(a->incoming_uri);
        w->nbd_addr = a->nbd_addr ? xstrdup(a->nbd_addr) : NULL;
        w->incoming_multifd = a->incoming_multifd;
        w->nbd_port = a->nbd_port;
        w->nbd_drives = xcalloc(a->nnbd_drives + 1, sizeof(char *));
        for (size_t i = 0; i < a->nnbd_drives; i++)
            w->nbd_drives[i] = xstrdup(a->nbd_drives[i]);
    }

    if (a->net_fds) {
        size_t nfds = vmm_argv_net_nfds(def);
        w->net_fds = xcalloc(nfds ? nfds : 1, sizeof(int));
        for (size_t i = 0; i < nfds; i++) {
            w->net_fds[i] = -1;
            w->nnet_fds = i + 1;
            if (a->net_fds[i] >= 0 &&
                (w->net_fds[i] = fcntl(a->net_fds[i], F_DUPFD_CLOEXEC, VD_VMM_LOCK_FD + 1)) < 0) {
                int r = verr_errno(err, errno, "cannot duplicate a tap device's descriptor");
                work_free(w);
                return r;
            }
        }
    }

    w->link_down = xcalloc(def->nnets + 1, sizeof(char *));
    for (size_t i = 0, k = 0; i < def->nnets; i++)
        if (vd_net_link_down(&def->nets[i]))
            w->link_down[k++] = xasprintf("net%zu", i);

    /* 1. The command line. What vireo-vmm cannot run is refused here,
     * before anything is spawned: vmm_argv_build first runs
     * vmm_support_check (vmm-support.c), the start-time check that every
     * element of the definition is honoured or refused with libvirt's
     * words (issue #11, "accepted means applied"). Always -S: the console
     * is connected and the balloon set before the guest runs a single
     * instruction. */
    struct vmm_argv_paths paths = {d->vmm_path, w->qmp_path,   w->console_path,
                                   w->pidfile,  w->vnc_socket, w->net_fds};
    if (d->vnc_tls) {
        paths.vnc_tls_dir = d->vnc_tls_dir;
        paths.vnc_tls_verify = d->vnc_tls_verify;
    }
    struct domain_def *resolved; /* type='volume' disks as the files they are (storage-disk.c) */
    int r = vd_storage_resolve_disks(d->storage, def, &resolved, err);
    if (r == 0 && d->vnc_tls && has_vnc(def) && access(d->vnc_tls_dir, F_OK) < 0)
        r = verr_set(err, ENOENT, "vnc_tls_x509_cert_dir directory '%s' does not exist",
                     d->vnc_tls_dir);
    struct vd_dac dac; /* qemu.conf's user, or the domain's static DAC label */
    if (r == 0)
        r = vd_dac_for_domain(&d->dac, def, &dac, err);
    /* <encryption> disks: a master key file and their secrets encrypted under it */
    char *master_key = vd_record_path(d->run_dir, def->name, ".masterkey");
    char **key_data = NULL, **key_iv = NULL;
    uint8_t master[32];
    bool have_master = false;
    if (r == 0 && (r = vd_secret_disk_keys(d, def, master, &key_data, &key_iv, err)) == 0 &&
        key_data) {
        have_master = true;
        paths.master_key = master_key;
        paths.disk_secret_data = key_data;
        paths.disk_secret_iv = key_iv;
    }
    /* <source type='file'/>: ID-NAME under memory_backing_dir, with the id the domain will
     * have (two starts at once may both see the same next id: their names still differ) */
    char *memdir =
        vd_memory_dir_wanted(def) ? vd_memory_dir_path(d->memory_dir, d->next_id, def->name) : NULL;
    paths.memory_dir = memdir;
    if (r == 0) {
        /* <vcpus>: a fresh VMM gets -smp with the non-hotpluggable vCPUs and the others are
         * plugged before the guest runs (plug_vcpus); an incoming one takes every vCPU it had
         * (those plugged included, under their names) from the state, so it starts with the
         * live count as without <vcpus>. */
        const struct domain_def *src = resolved ? resolved : def;
        struct domain_def *flat = NULL;
        if (src->vcpu_states && (w->incoming_fd >= 0 || w->incoming_uri)) {
            flat = domain_def_copy(src);
            free(flat->vcpu_states);
            flat->vcpu_states = NULL;
        } else {
            w->nplug_vcpus = vmm_argv_plug_vcpus(src, &w->plug_vcpus);
        }
        r = vmm_argv_build(flat ? flat : src, &paths, &w->argv, err);
        domain_def_free(flat);
    }
    free(memdir);
    vd_secret_disk_keys_free(key_data, key_iv, def->ndisks);
    free(master_key);
    if (r < 0)
        explicit_bzero(master, sizeof(master));
    if (r == 0)
        r = vd_tune_plan_make(def, vd_daemon_cgroups(d), &w->tune, err);
    char *mem_path = NULL; /* <hugepages/>: host-dependent, so not in the golden-tested argv */
    if (r == 0)
        r = vd_hugepages_prepare(def, &mem_path, err);
    /* <locked/>: as libvirt, the VMM may lock <memtune><hard_limit> (unlimited without one) */
    struct vd_memtune mt;
    if (r == 0 && def->memory_backing && xnode_child(def->memory_backing, "locked") &&
        (r = vd_memtune_from_def(def->memtune, &mt, err)) == 0) {
        rlim_t lim = mt.hard ? (rlim_t)mt.hard * 1024 : RLIM_INFINITY;
        w->memlock = true;
        w->memlock_limit = (struct rlimit){lim, lim};
    }
    if (r == 0) /* the per-domain VARS copy, once the command line is known to be good */
        r = vd_nvram_prepare(def, err);
    if (r < 0) {
        domain_def_free(resolved);
        work_free(w);
        return r;
    }
    /* The private /dev needs to know the huge-page mount (mem_path moves into argv below). */
    char *ns_mem_path = mem_path && d->ns_mount ? xstrdup(mem_path) : NULL;
    size_t n = 0;
    while (w->argv[n])
        n++;
    w->argv = xrealloc(w->argv, (n + 11) * sizeof(*w->argv));
    w->argv[n++] = xstrdup("-S");
    /* qemu.conf's seccomp_sandbox = 1 (the default): libvirt's -sandbox argument */
    if (d->seccomp_sandbox) {
        w->argv[n++] = xstrdup("-sandbox");
        w->argv[n++] = xstrdup("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                               "resourcecontrol=deny");
    }
    /* user/group: the VMM opens its files as root, then becomes the user */
    if (vd_dac_active(&dac)) {
        w->argv[n++] = xstrdup("-runas");
        w->argv[n++] = xasprintf("%ld:%ld", dac.uid, dac.gid);
    }
    /* Guest NUMA's memory backends (vmm-argv.c) take the huge pages themselves, as libvirt
     * makes them: memory-backend-file on the mount, preallocated; a memfd backend
     * hugetlb=on with the mount's page size (libvirt's hugetlbsize=, in bytes). */
    bool backends = false;
    struct statfs hsfs;
    for (size_t i = 0; mem_path && i < n; i++) {
        if (strncmp(w->argv[i], "memory-backend-memfd,", 21) == 0 && statfs(mem_path, &hsfs) == 0) {
            char *m = xasprintf("%s,hugetlb=on,hugetlbsize=%llu,prealloc=on", w->argv[i],
                                (unsigned long long)hsfs.f_bsize);
            free(w->argv[i]);
            w->argv[i] = m;
            backends = true;
        }
        if (strncmp(w->argv[i], "memory-backend-ram,", 19) != 0)
            continue;
        struct buf b = BUF_INIT;
        buf_printf(&b, "memory-backend-file,%s,mem-path=", w->argv[i] + 19);
        for (const char *p = mem_path; *p; p++) /* QEMU's escape: ',' is written ",," */
            buf_append(&b, *p == ',' ? ",," : p, *p == ',' ? 2 : 1);
        buf_printf(&b, ",prealloc=on");
        free(w->argv[i]);
        w->argv[i] = buf_detach(&b, NULL);
        backends = true;
    }
    if (mem_path && backends) {
        free(mem_path);
    } else if (mem_path) { /* as libvirt backs huge pages: preallocated, so the pages are the
                            * VM's now */
        w->argv[n++] = xstrdup("-mem-path");
        w->argv[n++] = mem_path;
        w->argv[n++] = xstrdup("-mem-prealloc");
    }
    if (w->incoming_fd >= 0 || w->incoming_uri) { /* the stream comes once QMP is up */
        w->argv[n++] = xstrdup("-incoming");
        w->argv[n++] = xstrdup("defer");
    }
    w->argv[n] = NULL;

    /* 2. The lock: no second VMM while one of this domain lives. */
    w->lock_fd = vd_lock_take(d->run_dir, def->name, err);
    if (w->lock_fd < 0) {
        r = w->lock_fd;
        if (r == -EWOULDBLOCK) /* libvirt's "operation failed" (VIR_ERR_OPERATION_FAILED) */
            verr_set(err, EWOULDBLOCK,
                     "operation failed: domain '%s' still has a vireo-vmm process (it holds "
                     "%s/%s.lock)",
                     def->name, d->run_dir, def->name);
        free(ns_mem_path);
        domain_def_free(resolved);
        work_free(w);
        return r;
    }

    /* 2b. The images given to the VM's user (security-dac.h), with the lock held; the
     * guest memory directory (a previous run's, left by a daemon that died, goes first). */
    r = vd_dac_label(&dac, d->run_dir, resolved ? resolved : def, err);
    if (vd_memory_dir_wanted(def)) {
        w->memory_base = xstrdup(d->memory_dir);
        vd_memory_dir_remove(d->memory_dir, def->name);
        memdir = vd_memory_dir_path(d->memory_dir, d->next_id, def->name); /* as in argv */
        if (r == 0 &&
            (r = vd_memory_dir_make(d->memory_dir, memdir, vd_dac_active(&dac) ? dac.uid : -1,
                                    dac.gid, err)) < 0)
            vd_dac_restore(d->run_dir, def->name);
        free(memdir);
    }
    /* 2c. The private /dev (qemu.conf's namespaces), its nodes as the labels left them. */
    if (r == 0 && d->ns_mount &&
        (r = vd_ns_plan_make(resolved ? resolved : def, ns_mem_path, &w->ns, err)) < 0) {
        vd_dac_restore(d->run_dir, def->name);
        vd_memory_dir_remove(w->memory_base, def->name);
    }
    free(ns_mem_path);
    domain_def_free(resolved);
    if (r < 0) {
        close(w->lock_fd);
        work_free(w);
        return r;
    }

    /* 3. The record, before the process exists. */
    vd_record_remove(d->run_dir, def->name); /* a previous run's pid file and sockets */
    r = write_record(w, VD_VMM_STARTING);
    if (r == 0 && have_master) {
        /* 0600 from its creation (a mkostemp file renamed into place); removed with the
         * records when the domain goes */
        char *path = vd_record_path(d->run_dir, def->name, ".masterkey");
        r = file_replace_atomic(path, master, sizeof(master), 0600, &w->err);
        free(path);
        if (r < 0)
            vd_record_remove(d->run_dir, def->name);
    }
    explicit_bzero(master, sizeof(master));
    if (r < 0) {
        *err = w->err;
        vd_dac_restore(d->run_dir, def->name);
        vd_memory_dir_remove(w->memory_base, def->name);
        close(w->lock_fd);
        work_free(w);
        return r;
    }

    d->workers++;
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The worker takes no signals: the loop's signalfd gets them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&tid, &attr, start_thread, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        d->workers--;
        vd_dac_restore(d->run_dir, def->name);
        vd_record_remove(d->run_dir, def->name);
        vd_memory_dir_remove(w->memory_base, def->name);
        close(w->lock_fd);
        work_free(w);
        return verr_errno(err, r, "operation failed: cannot create a thread to start '%s'",
                          def->name);
    }
    return 0;
}
