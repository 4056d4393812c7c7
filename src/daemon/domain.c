/*
 * domain.c - vireod's domains: the store on disk, the live state, and the
 * lifecycle of the vireo-vmm processes behind them.
 *
 * Persistent definitions are one XML file per domain in domain_dir,
 * written with vd_store_write (store.c) so a kill at any moment leaves the old
 * or the new file, never half of one. A running domain also has three
 * files in run_dir: NAME.xml (the live definition), NAME.state (pid, id,
 * state) and the VMM's own NAME.pid; a daemon starting up reads them and
 * reattaches (pidfd + a new QMP connection) without disturbing the VM, or,
 * if the process is gone, records the domain as shut off (crashed).
 *
 * The VMM runs with -daemonize, so it is not the daemon's child and
 * outlives a daemon restart; its exit is seen through a pidfd watched on
 * the loop, which fires as soon as the process ends, and the reason for it
 * from the QMP events that came before (SHUTDOWN, with libvirt's guest /
 * host distinction) read by a QMP client attached to the loop.
 *
 * Every slow operation is a job (job.c) that never blocks the loop: start
 * spawns the VMM and waits for its QMP greeting in a worker thread that
 * touches only its own start_work; QMP commands are asynchronous; destroy
 * is SIGTERM, a timer, SIGKILL, and ends when the pidfd fires.
 *
 * on_poweroff / on_reboot / on_crash follow libvirt's QEMU driver: the VMM
 * always runs with -no-shutdown, so a guest power-off leaves it paused and
 * the daemon decides (destroy: end it, reason shutdown; restart: reset and
 * continue, libvirt's "fake reboot"; preserve: keep it, "paused (shutting
 * down)"); on_reboot other than restart adds -no-reboot, so a guest reset
 * ends the VMM (reason shutdown); a VMM that dies with no SHUTDOWN event
 * crashed: shut off (crashed), and on_crash restart starts it again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "conf/xnode.h"
#include "daemon/vmm-argv.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "qmp/qmp-client.h"

#define QMP_TIMEOUT_MS   5000
#define DESTROY_GRACE_MS 3000

static int pidfd_open_compat(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* vd_domain_find_name and vd_domain_find_uuid: index.c */

struct vd_domain *vd_domain_find_id(struct vd_daemon *d, int id)
{
    for (struct vd_domain *x = d->domains; x; x = x->next)
        if (x->id >= 0 && x->id == id)
            return x;
    return NULL;
}

struct domain_def *vd_domain_config(struct vd_domain *dom)
{
    return dom->newdef ? dom->newdef : dom->def;
}

bool vd_any_running(struct vd_daemon *d)
{
    for (struct vd_domain *x = d->domains; x; x = x->next)
        if (x->state != VD_STATE_SHUTOFF)
            return true;
    return false;
}

static void console_close(struct vd_daemon *d, struct vd_domain *dom);

void vd_domain_free(struct vd_domain *dom)
{
    if (!dom)
        return;
    console_close(NULL, dom);
    vd_job_free_all(dom);
    loop_timer_free(dom->stop_timer);
    loop_watch_remove(dom->pid_watch);
    if (dom->pidfd >= 0)
        close(dom->pidfd);
    if (dom->qmp)
        qmp_client_close(dom->qmp);
    domain_def_free(dom->def);
    domain_def_free(dom->newdef);
    free(dom);
}

static void domain_unlink(struct vd_daemon *d, struct vd_domain *dom)
{
    for (struct vd_domain **p = &d->domains; *p; p = &(*p)->next)
        if (*p == dom) {
            *p = dom->next;
            vd_index_remove(d, dom);
            return;
        }
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
    return xasprintf("%s/%s%s", dir, name, suffix);
}

int vd_domain_save_config(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    struct domain_def *def = vd_domain_config(dom);
    char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    char *path = path_in(d->domain_dir, def->name, ".xml");
    int r = vd_store_write(d, path, xml, strlen(xml), true, err);
    free(path);
    free(xml);
    return r;
}

/* Live state: NAME.xml and NAME.state in the run dir. */
void vd_domain_save_status(struct vd_daemon *d, struct vd_domain *dom)
{
    struct verr err = {0};
    char *xml = domain_def_format(dom->def, DOMAIN_FORMAT_SECURE);
    char *path = path_in(d->run_dir, dom->def->name, ".xml");
    if (vd_store_write(d, path, xml, strlen(xml), false, &err) < 0)
        log_warn("%s", verr_msg(&err));
    free(path);
    free(xml);
    char *st = xasprintf("pid=%d\nid=%d\nstate=%d\nreason=%d\npersistent=%d\nstart=%llu\n",
                         (int)dom->pid, dom->id, dom->state, dom->reason, dom->persistent,
                         (unsigned long long)dom->start_time);
    path = path_in(d->run_dir, dom->def->name, ".state");
    if (vd_store_write(d, path, st, strlen(st), false, &err) < 0)
        log_warn("%s", verr_msg(&err));
    free(path);
    free(st);
}

static void remove_status(struct vd_daemon *d, const char *name)
{
    static const char *const suffixes[] = {".state", ".xml", ".pid", ".qmp", ".console"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char *p = path_in(d->run_dir, name, suffixes[i]);
        unlink(p);
        free(p);
    }
}

static void console_close(struct vd_daemon *d, struct vd_domain *dom)
{
    loop_watch_remove(dom->console_watch);
    dom->console_watch = NULL;
    if (dom->console_fd >= 0)
        close(dom->console_fd);
    dom->console_fd = -1;
    if (dom->console_log_fd >= 0)
        close(dom->console_log_fd);
    dom->console_log_fd = -1;
    if (d)
        vd_console_end(d, dom);
}

static void on_console_data(struct vd_domain *dom, const char *buf, size_t n)
{
    if (dom->console_log_fd >= 0)
        fd_write_all(dom->console_log_fd, buf, n);
    vd_console_output(dom->daemon, dom, buf, n);
}

static void on_console(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_domain *dom = opaque;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        console_close(dom->daemon, dom);
        return;
    }
    on_console_data(dom, buf, (size_t)n);
}

static void watch_vmm(struct vd_daemon *d, struct vd_domain *dom);
static void submit_internal(struct vd_domain *dom, const char *what, vd_job_fn run);

/* The VMM is gone: shut off, event, transient domains vanish. */
static void domain_stopped(struct vd_daemon *d, struct vd_domain *dom, int reason, int detail)
{
    loop_watch_remove(dom->pid_watch);
    dom->pid_watch = NULL;
    if (dom->pidfd >= 0)
        close(dom->pidfd);
    dom->pidfd = -1;
    loop_timer_free(dom->stop_timer);
    dom->stop_timer = NULL;
    dom->kill_stage = 0;
    if (dom->qmp)
        qmp_client_close(dom->qmp);
    dom->qmp = NULL;
    /* What COM1 still holds is the guest's last words: keep them in the log. */
    if (dom->console_fd >= 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(dom->console_fd, buf, sizeof(buf))) > 0)
            on_console_data(dom, buf, (size_t)n);
    }
    console_close(d, dom);
    log_info("domain '%s' (pid %d) stopped, reason %d", dom->def->name, (int)dom->pid, reason);
    dom->pid = 0;
    dom->state = VD_STATE_SHUTOFF;
    dom->reason = reason;
    remove_status(d, dom->def->name);
    vd_emit_lifecycle(d, dom, VD_EVENT_STOPPED, detail);
    dom->id = -1;
    dom->def->id = -1;
    dom->destroying = dom->shutdown_seen = dom->exited = false;
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = dom->newdef;
        dom->newdef = NULL;
    }
}

/* After the stop: what on_crash asks for, the job that waited for the end
 * (destroy), and transient domains leaving. */
static void domain_after_stop(struct vd_daemon *d, struct vd_domain *dom, bool crashed)
{
    bool restart = crashed && dom->def->on_crash == DOMAIN_ACTION_RESTART;
    if (dom->job && dom->job->awaiting_qmp) {
        /* The QMP reply it waited for will never come: the client was closed. */
        dom->job->awaiting_qmp = false;
        vd_job_fail(dom->job, RPC_ERR_OPERATION_FAILED,
                    "operation failed: domain '%s' stopped during %s", dom->def->name,
                    dom->job->what);
    } else if (dom->job && dom->job->wait_stop) {
        vd_job_done(dom->job, NULL);
    }
    if (restart) {
        log_info("domain '%s' crashed; on_crash restart", dom->def->name);
        submit_internal(dom, "restart", vd_domain_job_start);
        return;
    }
    if (!dom->persistent && !dom->vanished) {
        domain_unlink(d, dom);
        dom->vanished = true;
        if (!dom->job && !dom->jobq)
            vd_domain_free(dom);
    }
}

/* Reason and event detail for an exit, from what led to it. */
static bool exit_classify(struct vd_domain *dom, int *reason, int *detail)
{
    if (dom->destroying) {
        *reason = 2; /* VIR_DOMAIN_SHUTOFF_DESTROYED */
        *detail = 1; /* VIR_DOMAIN_EVENT_STOPPED_DESTROYED */
    } else if (dom->shutdown_seen) {
        *reason = 1; /* SHUTDOWN */
        *detail = 0; /* STOPPED_SHUTDOWN */
    } else {
        *reason = 3; /* CRASHED */
        *detail = 2; /* STOPPED_CRASHED */
        return true;
    }
    return false;
}

/* Both ends seen (the process exited and QMP delivered its last events, or
 * gave up): the domain is shut off. */
static void domain_finish_exit(struct vd_domain *dom)
{
    struct vd_daemon *d = dom->daemon;
    int reason, detail;
    bool crashed = exit_classify(dom, &reason, &detail);
    domain_stopped(d, dom, reason, detail);
    domain_after_stop(d, dom, crashed);
}

static void on_exit_grace(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    domain_finish_exit(opaque);
}

static void on_pidfd(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd, (void)events;
    struct vd_domain *dom = opaque;
    loop_watch_remove(dom->pid_watch);
    dom->pid_watch = NULL;
    dom->exited = true;
    if (!dom->qmp) {
        domain_finish_exit(dom);
        return;
    }
    /* QMP's socket may still hold the SHUTDOWN event that explains the exit;
     * its end comes right after. Wait for it, a little. */
    if (!dom->stop_timer)
        dom->stop_timer = loop_timer_new(dom->daemon->loop, on_exit_grace, dom);
    loop_timer_arm(dom->stop_timer, 500 * 1000000ull, 0);
}

static void on_qmp_closed(struct qmp_client *c, const char *why, void *opaque)
{
    struct vd_domain *dom = opaque;
    log_debug("domain '%s': QMP closed: %s", dom->def->name, why);
    qmp_client_close(c);
    dom->qmp = NULL;
    if (dom->exited)
        domain_finish_exit(dom);
}

static void fake_reboot_cont(struct qmp_client *c, struct json_object *reply, const char *error,
                             void *opaque)
{
    (void)c, (void)reply;
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    job->awaiting_qmp = false;
    if (error) {
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: restart: %s", error);
        return;
    }
    dom->state = VD_STATE_RUNNING;
    dom->reason = 1; /* BOOTED */
    vd_domain_save_status(dom->daemon, dom);
    vd_emit_lifecycle(dom->daemon, dom, VD_EVENT_RESUMED, 0);
    vd_job_done(job, NULL);
}

static void fake_reboot_reset(struct qmp_client *c, struct json_object *reply, const char *error,
                              void *opaque)
{
    (void)reply;
    struct vd_job *job = opaque;
    if (error) {
        job->awaiting_qmp = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: restart: %s", error);
        return;
    }
    if (qmp_client_execute_async(c, "cont", NULL, QMP_TIMEOUT_MS, fake_reboot_cont, job) < 0) {
        job->awaiting_qmp = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: restart: QMP is gone");
    }
}

/* on_poweroff restart: the VMM stayed (-no-shutdown); reset and go on, as
 * libvirt's "fake reboot" does with QEMU. */
static void job_fake_reboot(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (!dom->qmp || dom->state == VD_STATE_SHUTOFF) {
        vd_job_done(job, NULL);
        return;
    }
    job->awaiting_qmp = true;
    if (qmp_client_execute_async(dom->qmp, "system_reset", NULL, QMP_TIMEOUT_MS, fake_reboot_reset,
                                 job) < 0) {
        job->awaiting_qmp = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: restart: QMP is gone");
    }
}

/* on_poweroff destroy after a guest power-off: end the VMM, reason shutdown. */
static void job_poweroff_kill(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (dom->state == VD_STATE_SHUTOFF || dom->pid <= 0) {
        vd_job_done(job, NULL);
        return;
    }
    job->wait_stop = true;
    kill(dom->pid, SIGTERM);
}

static const char *event_reason(struct json_object *data, bool *guest)
{
    struct json_object *v;
    *guest = data && json_object_object_get_ex(data, "guest", &v) && json_object_get_boolean(v);
    return data && json_object_object_get_ex(data, "reason", &v) ? json_object_get_string(v) : "";
}

/* A guest-initiated power-off: libvirt's state "in shutdown", its event,
 * then on_poweroff. */
static void on_guest_shutdown(struct vd_domain *dom, bool guest, const char *reason)
{
    struct vd_daemon *d = dom->daemon;
    dom->shutdown_seen = true;
    if (dom->destroying || dom->exited)
        return;
    vd_emit_lifecycle(d, dom, VD_EVENT_SHUTDOWN, guest ? 1 : 2); /* FINISHED after guest/host */
    if (!guest || strcmp(reason, "guest-shutdown") != 0)
        return; /* a reset under -no-reboot, a quit, a signal: the VMM ends by itself */
    dom->state = VD_STATE_SHUTDOWN;
    dom->reason = 1; /* VIR_DOMAIN_SHUTDOWN_USER */
    switch (dom->def->on_poweroff) {
    case DOMAIN_ACTION_RESTART:
        log_info("domain '%s' powered off; on_poweroff restart", dom->def->name);
        submit_internal(dom, "restart", job_fake_reboot);
        break;
    case DOMAIN_ACTION_PRESERVE:
        log_info("domain '%s' powered off; on_poweroff preserve keeps it", dom->def->name);
        vd_domain_save_status(d, dom);
        break;
    default:
        submit_internal(dom, "power-off", job_poweroff_kill);
        break;
    }
}

static void on_qmp_event(struct qmp_client *c, struct json_object *ev, void *opaque)
{
    (void)c;
    struct vd_domain *dom = opaque;
    struct json_object *name, *data = NULL;
    if (!json_object_object_get_ex(ev, "event", &name))
        return;
    json_object_object_get_ex(ev, "data", &data);
    const char *n = json_object_get_string(name);
    bool guest;
    const char *reason = event_reason(data, &guest);
    log_debug("domain '%s': QMP event %s %s", dom->def->name, n, reason);
    if (strcmp(n, "SHUTDOWN") == 0) {
        on_guest_shutdown(dom, guest, reason);
    } else if (strcmp(n, "STOP") == 0) {
        if (dom->state == VD_STATE_SHUTDOWN) {
            dom->state = VD_STATE_PAUSED;
            dom->reason = 8; /* VIR_DOMAIN_PAUSED_SHUTTING_DOWN */
            vd_domain_save_status(dom->daemon, dom);
        }
    } else if (strcmp(n, "RESET") == 0) {
        /* on_reboot restart: the VMM rebooted the guest itself (no -no-reboot). */
        log_info("domain '%s' reset (%s)", dom->def->name, guest ? "guest" : "host");
    } else if (strcmp(n, "BALLOON_CHANGE") == 0) {
        struct json_object *actual;
        if (data && json_object_object_get_ex(data, "actual", &actual)) {
            int64_t bytes = json_object_get_int64(actual);
            if (bytes > 0)
                dom->def->current_memory_kib = (unsigned long long)bytes / 1024;
        }
    }
}

/* Watches a running VMM from the loop: its pidfd, QMP events, COM1. */
static int attach_vmm(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    dom->pid_watch = loop_watch_fd(d->loop, dom->pidfd, LOOP_READ, on_pidfd, dom, err);
    if (!dom->pid_watch)
        return -EIO;
    if (qmp_client_attach(dom->qmp, d->loop, on_qmp_event, on_qmp_closed, dom, err) < 0)
        return -EIO;
    if (dom->console_fd >= 0) {
        dom->console_watch =
            loop_watch_fd(d->loop, dom->console_fd, LOOP_READ, on_console, dom, err);
        char *logpath = path_in(d->log_dir, dom->def->name, ".console.log");
        dom->console_log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        free(logpath);
    }
    return 0;
}

static void watch_vmm(struct vd_daemon *d, struct vd_domain *dom)
{
    struct verr err = {0};
    if (attach_vmm(d, dom, &err) < 0)
        log_error("domain '%s': cannot watch vireo-vmm pid %d: %s", dom->def->name, (int)dom->pid,
                  verr_msg(&err));
}

static void submit_internal(struct vd_domain *dom, const char *what, vd_job_fn run)
{
    vd_job_submit(vd_job_new(dom, NULL, NULL, what, run));
}

static struct vd_domain *domain_new_with(struct vd_daemon *d, struct domain_def *def)
{
    struct vd_domain *dom = xcalloc(1, sizeof(*dom));
    dom->daemon = d;
    dom->def = def;
    dom->state = VD_STATE_SHUTOFF;
    dom->id = -1;
    dom->pidfd = -1;
    dom->console_fd = -1;
    dom->console_log_fd = -1;
    dom->next = d->domains;
    d->domains = dom;
    vd_index_add(d, dom);
    return dom;
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
    if (r < 0 || v <= 1)
        return verr_set(err, EINVAL, "pid file %s: not a process id", path);
    *pid = (pid_t)v;
    return 0;
}

/* ---- start: a worker thread spawns the VMM and waits for its QMP ---- */

struct start_work {
    struct vd_job *job;
    struct loop *loop;
    char **argv;
    char *name, *qmp_path, *console_path, *pidfile, *logpath, *vnc_socket;
    char *vnc_password; /* <graphics passwd=>: set over QMP before the guest runs */
    bool paused;
    /* results */
    int r;
    struct verr err;
    pid_t pid;
    int pidfd, console_fd;
    struct qmp_client *qmp;
};

static void start_work_free(struct start_work *w)
{
    vmm_argv_free(w->argv);
    free(w->name);
    free(w->qmp_path);
    free(w->console_path);
    free(w->pidfile);
    free(w->logpath);
    free(w->vnc_socket);
    if (w->vnc_password)
        memset(w->vnc_password, 0, strlen(w->vnc_password));
    free(w->vnc_password);
    free(w);
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

static int connect_console(const char *path, int *fdp, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "console socket path %s: too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = verr_errno(err, errno, "cannot connect to console socket %s", path);
        if (fd >= 0)
            close(fd);
        return r;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *fdp = fd;
    return 0;
}

/* The blocking part of a start; touches nothing but w. */
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
    int sr = vd_spawn(w->argv, logfd, &child, err);
    close(logfd);
    if (sr < 0)
        return sr;
    /* -daemonize: the parent exits once the VM is set up. */
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char last[512];
        last_log_line(w->logpath, last, sizeof(last));
        return verr_set(err, EIO, "vireo-vmm for domain '%s' failed to start: %s", w->name, last);
    }
    int r = read_pidfile(w->pidfile, &w->pid, err);
    if (r < 0)
        return r;
    w->pidfd = pidfd_open_compat(w->pid);
    if (w->pidfd < 0)
        return verr_errno(err, errno, "pidfd_open of vireo-vmm pid %d", (int)w->pid);
    r = qmp_client_connect(w->qmp_path, QMP_TIMEOUT_MS, &w->qmp, err);
    if (r < 0)
        return r;
    struct verr cerr = {0};
    if (connect_console(w->console_path, &w->console_fd, &cerr) < 0)
        log_warn("domain '%s': no console: %s", w->name, verr_msg(&cerr));
    if (w->vnc_password) { /* as libvirt: the VNC password goes over QMP, never in argv */
        struct json_object *args = json_object_new_object(), *reply = NULL, *e;
        json_object_object_add(args, "protocol", json_object_new_string("vnc"));
        json_object_object_add(args, "password", json_object_new_string(w->vnc_password));
        r = qmp_client_execute(w->qmp, "set_password", args, QMP_TIMEOUT_MS, &reply, err);
        if (r == 0 && json_object_object_get_ex(reply, "error", &e))
            r = verr_set(err, EIO, "vireo-vmm refused the VNC password");
        json_object_put(reply);
        if (r < 0)
            return r;
    }
    /* query-status is a round trip through the VMM's loop, which has then
     * accepted the console connection too; then the guest may run. */
    const char *cmds[] = {"query-status", w->paused ? NULL : "cont"};
    for (size_t i = 0; i < 2 && cmds[i]; i++) {
        struct json_object *reply = NULL, *e;
        r = qmp_client_execute(w->qmp, cmds[i], NULL, QMP_TIMEOUT_MS, &reply, err);
        if (r == 0 && json_object_object_get_ex(reply, "error", &e))
            r = verr_set(err, EIO, "vireo-vmm refused %s", cmds[i]);
        json_object_put(reply);
        if (r < 0)
            return r;
    }
    return 0;
}

static void start_done(void *opaque);

/* Whether TCP port is free to listen on (what libvirt checks: a bind on every address). */
static bool tcp_port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A VNC port of another running domain of this daemon. */
static bool vnc_port_taken(struct vd_daemon *d, const struct vd_domain *self, unsigned port)
{
    char p[16];
    snprintf(p, sizeof(p), "%u", port);
    for (struct vd_domain *x = d->domains; x; x = x->next) {
        if (x == self || x->state == VD_STATE_SHUTOFF || !x->def)
            continue;
        for (size_t i = 0; i < x->def->ndevices; i++) {
            const struct xnode *n = x->def->devices[i].node;
            const char *xp = xnode_attr(n, "port");
            if (strcmp(n->name, "graphics") == 0 && xp && strcmp(xp, p) == 0)
                return true;
        }
    }
    return false;
}

/* Before the command line is built: each <graphics type='vnc' autoport='yes'> gets the
 * first free port from 5900, as libvirtd allocates them (the live XML shows it), and a
 * socket listen without a path gets one in the run directory. */
static int assign_graphics(struct vd_daemon *d, struct vd_domain *dom, struct start_work *w,
                           struct verr *err)
{
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        const char *t = xnode_attr(n, "type");
        if (strcmp(n->name, "graphics") != 0 || !t || strcmp(t, "vnc") != 0)
            continue;
        struct xnode *l = xnode_child(n, "listen");
        const char *lt = l ? xnode_attr(l, "type") : NULL;
        if (lt && strcmp(lt, "socket") == 0) {
            if (!xnode_attr(l, "socket")) {
                w->vnc_socket = path_in(d->run_dir, dom->def->name, ".vnc");
                xnode_set_attr(l, "socket", w->vnc_socket);
            }
        } else if (!lt || strcmp(lt, "address") == 0) {
            const char *ap = xnode_attr(n, "autoport"), *port = xnode_attr(n, "port");
            if ((ap && strcmp(ap, "yes") == 0) || !port || strcmp(port, "-1") == 0) {
                unsigned p;
                for (p = 5900; p <= 65535; p++)
                    if (!vnc_port_taken(d, dom, p) && tcp_port_free(p))
                        break;
                if (p > 65535)
                    return verr_set(err, EADDRINUSE, "Unable to find an unused port for VNC");
                char buf[16];
                snprintf(buf, sizeof(buf), "%u", p);
                xnode_set_attr(n, "port", buf);
            }
        }
        const char *pw = xnode_attr(n, "passwd");
        if (pw) {
            free(w->vnc_password);
            w->vnc_password = xstrdup(pw);
        }
    }
    return 0;
}

static void *start_thread(void *opaque)
{
    struct start_work *w = opaque;
    w->r = start_blocking(w);
    loop_call_soon(w->loop, start_done, w);
    return NULL;
}

static void start_done(void *opaque)
{
    struct start_work *w = opaque;
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = job->d;
    d->workers--;
    dom->starting = false;
    if (w->r == 0) {
        dom->pid = w->pid;
        dom->pidfd = w->pidfd;
        dom->qmp = w->qmp;
        dom->console_fd = w->console_fd;
        w->pidfd = w->console_fd = -1;
        w->qmp = NULL;
        w->r = attach_vmm(d, dom, &w->err);
        if (w->r < 0) {
            kill(dom->pid, SIGKILL);
            loop_watch_remove(dom->pid_watch);
            dom->pid_watch = NULL;
            console_close(NULL, dom);
            qmp_client_close(dom->qmp);
            dom->qmp = NULL;
            close(dom->pidfd);
            dom->pidfd = -1;
            dom->pid = 0;
        }
    }
    if (w->r < 0) {
        if (w->pid > 1)
            kill(w->pid, SIGKILL);
        if (w->pidfd >= 0)
            close(w->pidfd);
        if (w->console_fd >= 0)
            close(w->console_fd);
        if (w->qmp)
            qmp_client_close(w->qmp);
        remove_status(d, dom->def->name);
        if (job->restore_def && dom->newdef) {
            /* a transient start of a defined domain: back to its definition */
            domain_def_free(dom->def);
            dom->def = dom->newdef;
            dom->newdef = NULL;
        }
        if (!dom->persistent && !dom->vanished) {
            domain_unlink(d, dom);
            dom->vanished = true;
        }
        vd_job_fail_verr(job, w->r, &w->err);
        start_work_free(w);
        return;
    }
    dom->id = d->next_id++;
    dom->def->id = dom->id;
    dom->state = w->paused ? VD_STATE_PAUSED : VD_STATE_RUNNING;
    dom->reason = 1; /* PAUSED_USER or RUNNING_BOOTED */
    dom->start_time = (uint64_t)time(NULL);
    vd_domain_save_status(d, dom);
    log_info("domain '%s' started, pid %d", dom->def->name, (int)dom->pid);
    vd_emit_lifecycle(d, dom, VD_EVENT_STARTED, 0);
    if (w->paused)
        vd_emit_lifecycle(d, dom, VD_EVENT_SUSPENDED, 0);
    start_work_free(w);
    /* create and create_with_flags reply with the domain (its new id);
     * create_xml too; the old create's reply is empty. */
    struct remote_domain_create_with_flags_ret ret = {0};
    vd_server_fill_dom(&ret.dom, dom);
    bool has_dom = job->call.proc == REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS ||
                   job->call.proc == REMOTE_PROC_DOMAIN_CREATE_XML;
    vd_job_done(job, has_dom ? &ret : NULL);
    remote_domain_create_with_flags_ret_free(&ret);
}

void vd_domain_job_start(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = job->d;
    if (dom->state != VD_STATE_SHUTOFF) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is already running");
        return;
    }
    const char *name = dom->def->name;
    struct start_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->loop = d->loop;
    w->name = xstrdup(name);
    w->qmp_path = path_in(d->run_dir, name, ".qmp");
    w->console_path = path_in(d->run_dir, name, ".console");
    w->pidfile = path_in(d->run_dir, name, ".pid");
    w->logpath = path_in(d->log_dir, name, ".log");
    w->paused = job->paused;
    w->pidfd = w->console_fd = -1;
    remove_status(d, name);
    int r = assign_graphics(d, dom, w, &w->err);
    if (r == 0) {
        struct vmm_argv_paths paths = {d->vmm_path, w->qmp_path, w->console_path, w->pidfile,
                                       w->vnc_socket};
        r = vmm_argv_build(dom->def, &paths, &w->argv, &w->err);
    }
    if (r < 0) {
        /* As a failed start later on: a transient domain (virsh create) does not stay. */
        if (job->restore_def && dom->newdef) {
            domain_def_free(dom->def);
            dom->def = dom->newdef;
            dom->newdef = NULL;
        }
        if (!dom->persistent && !dom->vanished) {
            domain_unlink(d, dom);
            dom->vanished = true;
        }
        vd_job_fail_verr(job, r, &w->err);
        start_work_free(w);
        return;
    }
    /* Always -S: the console is connected before the guest prints a byte,
     * then QMP cont starts it (libvirt does the same with QEMU). */
    size_t n = 0;
    while (w->argv[n])
        n++;
    w->argv = xrealloc(w->argv, (n + 2) * sizeof(*w->argv));
    w->argv[n] = xstrdup("-S");
    w->argv[n + 1] = NULL;
    dom->starting = true;
    d->workers++;
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&tid, &attr, start_thread, w);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        d->workers--;
        dom->starting = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "cannot create a thread to start '%s': %s", name,
                    strerror(r));
        start_work_free(w);
    }
}

/* ---- destroy: SIGTERM, SIGKILL after a grace period, done at the exit ---- */

static void on_kill_timer(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop;
    struct vd_domain *dom = opaque;
    if (dom->exited) { /* waiting for QMP's end: that is on_exit_grace's job */
        domain_finish_exit(dom);
        return;
    }
    if (dom->kill_stage == 1) {
        log_info("domain '%s': vireo-vmm pid %d ignored SIGTERM; SIGKILL", dom->def->name,
                 (int)dom->pid);
        kill(dom->pid, SIGKILL);
        dom->kill_stage = 2;
        loop_timer_arm(t, DESTROY_GRACE_MS * 1000000ull, 0);
        return;
    }
    if (dom->job && dom->job->wait_stop) {
        struct vd_job *job = dom->job;
        job->wait_stop = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED,
                    "operation failed: vireo-vmm pid %d did not end after SIGKILL", (int)dom->pid);
    }
}

void vd_domain_job_destroy(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (dom->state == VD_STATE_SHUTOFF || dom->pid <= 0) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return;
    }
    dom->destroying = true;
    job->wait_stop = true;
    if (dom->exited)
        return; /* already gone: the stop is moments away */
    kill(dom->pid, SIGTERM);
    dom->kill_stage = 1;
    if (!dom->stop_timer)
        dom->stop_timer = loop_timer_new(job->d->loop, on_kill_timer, dom);
    loop_timer_arm(dom->stop_timer, DESTROY_GRACE_MS * 1000000ull, 0);
}

/* ---- QMP round trips: suspend, resume, reset, reboot, shutdown ---- */

static void qmp_job_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                          void *opaque)
{
    (void)c;
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = job->d;
    job->awaiting_qmp = false;
    struct json_object *e;
    if (error) {
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: %s: %s", job->what, error);
        return;
    }
    if (json_object_object_get_ex(reply, "error", &e)) {
        struct json_object *desc;
        const char *msg =
            json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc) : "error";
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: vireo-vmm refused %s: %s",
                    job->what, msg);
        return;
    }
    if (strcmp(job->what, "stop") == 0) {
        dom->state = VD_STATE_PAUSED;
        dom->reason = 1; /* VIR_DOMAIN_PAUSED_USER */
        vd_domain_save_status(d, dom);
        vd_emit_lifecycle(d, dom, VD_EVENT_SUSPENDED, 0);
    } else if (strcmp(job->what, "cont") == 0) {
        dom->state = VD_STATE_RUNNING;
        dom->reason = 5; /* VIR_DOMAIN_RUNNING_UNPAUSED */
        vd_domain_save_status(d, dom);
        vd_emit_lifecycle(d, dom, VD_EVENT_RESUMED, 0);
    }
    vd_job_done(job, NULL);
}

static int qmp_job_send(struct vd_job *job, const char *cmd, struct json_object *args)
{
    struct vd_domain *dom = job->dom;
    if (dom->state == VD_STATE_SHUTOFF || !dom->qmp || dom->exited) {
        json_object_put(args);
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return -1;
    }
    job->awaiting_qmp = true;
    if (qmp_client_execute_async(dom->qmp, cmd, args, QMP_TIMEOUT_MS, qmp_job_reply, job) < 0) {
        job->awaiting_qmp = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: %s: QMP is gone", cmd);
        return -1;
    }
    return 0;
}

void vd_domain_job_qmp(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    const char *cmd = job->what;
    if (strcmp(cmd, "stop") == 0 && dom->state == VD_STATE_PAUSED) {
        vd_job_done(job, NULL);
        return;
    }
    if (strcmp(cmd, "cont") == 0 && dom->state == VD_STATE_RUNNING) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not paused");
        return;
    }
    qmp_job_send(job, cmd, NULL);
}

/* ---- undefine ---- */

void vd_domain_job_undefine(struct vd_job *job)
{
    struct verr e = {0};
    int r = vd_domain_undefine(job->d, job->dom, &e);
    if (r < 0)
        vd_job_fail_verr(job, r, &e);
    else
        vd_job_done(job, NULL);
}

/* ---- memory and vCPUs ---- */

int vd_domain_commit_config(struct vd_daemon *d, struct vd_domain *dom, struct domain_def *def,
                            struct verr *err)
{
    int r = domain_def_validate(def, 0, err);
    if (r < 0) {
        domain_def_free(def);
        return r;
    }
    struct domain_def **slot = dom->newdef ? &dom->newdef : &dom->def;
    if ((dom->state != VD_STATE_SHUTOFF || dom->starting) && !dom->newdef)
        slot = &dom->newdef;
    struct domain_def *old = *slot;
    *slot = def;
    r = vd_domain_save_config(d, dom, err);
    if (r < 0) {
        *slot = old;
        domain_def_free(def);
        return r;
    }
    domain_def_free(old);
    return 0;
}

/* flags: VIR_DOMAIN_AFFECT_LIVE 1, AFFECT_CONFIG 2 (0 = current). */
static bool affects_live(struct vd_domain *dom, unsigned flags)
{
    return (flags & 1) || ((flags & 3) == 0 && dom->state != VD_STATE_SHUTOFF);
}

static bool affects_config(struct vd_domain *dom, unsigned flags)
{
    return (flags & 2) || ((flags & 3) == 0 && dom->state == VD_STATE_SHUTOFF);
}

/* The checks libvirt makes before any change, in its words. */
static int check_targets(struct vd_job *job, bool live, bool config)
{
    struct vd_domain *dom = job->dom;
    if (live && dom->state == VD_STATE_SHUTOFF) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return -1;
    }
    if (config && !dom->persistent) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: transient domains do not have any "
                    "persistent config");
        return -1;
    }
    return 0;
}

static bool has_balloon(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct domain_device *x = &def->devices[i];
        if (strcmp(x->node->name, "memballoon") == 0) {
            const char *model = xnode_attr(x->node, "model");
            return model && strcmp(model, "virtio") == 0;
        }
    }
    return false;
}

/* The config half of setmem (after the live half succeeded, if any). */
static void set_memory_config(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool max = job->flags & 4; /* VIR_DOMAIN_MEM_MAXIMUM */
    struct domain_def *def = domain_def_copy(vd_domain_config(dom));
    unsigned long long kib = job->value;
    if (max) {
        def->memory_kib = kib;
        if (def->current_memory_kib > kib)
            def->current_memory_kib = kib;
    } else {
        if (kib > def->memory_kib) {
            domain_def_free(def);
            vd_job_fail(job, RPC_ERR_INVALID_ARG,
                        "invalid argument: cannot set memory higher than max memory");
            return;
        }
        def->current_memory_kib = kib;
    }
    struct verr e = {0};
    int r = vd_domain_commit_config(job->d, dom, def, &e);
    if (r < 0)
        vd_job_fail(job, r == -EINVAL ? RPC_ERR_INVALID_ARG : RPC_ERR_OPERATION_FAILED, "%s",
                    verr_msg(&e));
    else
        vd_job_done(job, NULL);
}

static void balloon_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                          void *opaque)
{
    (void)c;
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    job->awaiting_qmp = false;
    struct json_object *e;
    if (error || json_object_object_get_ex(reply, "error", &e)) {
        struct json_object *desc = NULL;
        if (!error && json_object_object_get_ex(e, "desc", &desc))
            error = json_object_get_string(desc);
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: balloon: %s",
                    error ? error : "error");
        return;
    }
    /* libvirt shows the target at once; BALLOON_CHANGE brings the actual. */
    dom->def->current_memory_kib = job->value;
    vd_domain_save_status(job->d, dom);
    if (affects_config(dom, job->flags))
        set_memory_config(job);
    else
        vd_job_done(job, NULL);
}

void vd_domain_job_set_memory(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool live = affects_live(dom, job->flags);
    bool config = affects_config(dom, job->flags);
    bool max = job->flags & 4;
    if (check_targets(job, live, config) < 0)
        return;
    if (live && max) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: cannot resize the maximum memory on an "
                    "active domain");
        return;
    }
    if (!live) {
        set_memory_config(job);
        return;
    }
    if (job->value > dom->def->memory_kib) {
        vd_job_fail(job, RPC_ERR_INVALID_ARG,
                    "invalid argument: cannot set memory higher than max memory");
        return;
    }
    if (!has_balloon(dom->def)) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: Unable to change memory of active domain "
                    "without the balloon device");
        return;
    }
    if (dom->state == VD_STATE_SHUTOFF || !dom->qmp || dom->exited) {
        vd_job_fail(job, RPC_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return;
    }
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "value", json_object_new_int64((int64_t)job->value * 1024));
    job->awaiting_qmp = true;
    if (qmp_client_execute_async(dom->qmp, "balloon", args, QMP_TIMEOUT_MS, balloon_reply, job) <
        0) {
        job->awaiting_qmp = false;
        vd_job_fail(job, RPC_ERR_OPERATION_FAILED, "operation failed: balloon: QMP is gone");
    }
}

void vd_domain_job_set_vcpus(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned n = (unsigned)job->value;
    bool live = affects_live(dom, job->flags);
    bool config = affects_config(dom, job->flags);
    if (check_targets(job, live, config) < 0)
        return;
    if (n == 0) {
        vd_job_fail(job, RPC_ERR_INVALID_ARG, "invalid argument: argument unsupported: zero vCPUs");
        return;
    }
    if (live) {
        const struct domain_def *cur = dom->def;
        unsigned now = cur->vcpus_current ? cur->vcpus_current : cur->vcpus;
        if ((job->flags & 4) || n > cur->vcpus) {
            vd_job_fail(job, RPC_ERR_INVALID_ARG,
                        (job->flags & 4) ? "invalid argument: cannot change the maximum vCPU "
                                           "count of an active domain"
                                         : "invalid argument: requested vcpus is greater than "
                                           "max allowable vcpus for the live domain: %u > %u",
                        n, cur->vcpus);
            return;
        }
        if (n != now) {
            /* vireo-vmm has no CPU hot-plug: libvirt's words when QEMU
             * offers no hotpluggable vCPU entity for the change. */
            vd_job_fail(job, RPC_ERR_INVALID_ARG,
                        "invalid argument: failed to find appropriate hotpluggable vcpus to "
                        "reach the desired target vcpu count");
            return;
        }
        if (!config) {
            vd_job_done(job, NULL);
            return;
        }
    }
    struct domain_def *def = domain_def_copy(vd_domain_config(dom));
    if (job->flags & 4) { /* VIR_DOMAIN_VCPU_MAXIMUM */
        def->vcpus = n;
        if (def->vcpus_current > n)
            def->vcpus_current = n;
    } else {
        if (n > def->vcpus) {
            domain_def_free(def);
            vd_job_fail(job, RPC_ERR_INVALID_ARG,
                        "invalid argument: requested vcpus is greater than max allowable vcpus "
                        "for the persistent domain: %u > %u",
                        n, def->vcpus);
            return;
        }
        def->vcpus_current = n;
    }
    struct verr e = {0};
    int r = vd_domain_commit_config(job->d, dom, def, &e);
    if (r < 0)
        vd_job_fail(job, r == -EINVAL ? RPC_ERR_INVALID_ARG : RPC_ERR_OPERATION_FAILED, "%s",
                    verr_msg(&e));
    else
        vd_job_done(job, NULL);
}

int vd_domain_define(struct vd_daemon *d, const char *xml, unsigned flags, struct vd_domain **out,
                     struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, flags, &def, err);
    if (r < 0)
        return r;
    r = vmm_argv_check_lifecycle(def, err);
    if (r < 0) {
        domain_def_free(def);
        return r;
    }
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    struct vd_domain *by_name = vd_domain_find_name(d, def->name);
    struct vd_domain *by_uuid = vd_domain_find_uuid(d, def->uuid);
    if (by_name && by_name != by_uuid) {
        char other[37];
        domain_uuid_format(by_name->def->uuid, other);
        verr_set(err, EEXIST, "operation failed: domain '%s' is already defined with uuid %s",
                 def->name, other);
        domain_def_free(def);
        return -EEXIST;
    }
    if (by_uuid && !by_name) {
        verr_set(err, EEXIST, "operation failed: domain '%s' already exists with uuid %s",
                 by_uuid->def->name, uuid);
        domain_def_free(def);
        return -EEXIST;
    }
    struct vd_domain *dom = by_name;
    bool created = !dom;
    struct domain_def *old_def = NULL, *old_newdef = NULL;
    bool old_persistent = false;
    if (created) {
        dom = domain_new_with(d, def);
    } else {
        old_persistent = dom->persistent;
        if (dom->state != VD_STATE_SHUTOFF || dom->starting) {
            old_newdef = dom->newdef;
            dom->newdef = def;
        } else {
            old_def = dom->def;
            dom->def = def;
        }
    }
    dom->persistent = true;
    r = vd_domain_save_config(d, dom, err);
    if (r < 0) {
        if (created) {
            domain_unlink(d, dom);
            vd_domain_free(dom);
        } else {
            dom->persistent = old_persistent;
            if (dom->state != VD_STATE_SHUTOFF || dom->starting) {
                dom->newdef = old_newdef;
            } else {
                dom->def = old_def;
            }
            domain_def_free(def);
        }
        return r;
    }
    domain_def_free(old_def);
    domain_def_free(old_newdef);
    vd_emit_lifecycle(d, dom, VD_EVENT_DEFINED, created ? 0 : 1);
    *out = dom;
    return 0;
}

/* A transient domain from XML, to be started by the caller's start job:
 * a new domain, or a defined inactive one of the same name and uuid that
 * runs this definition once (*restore_def: put its own back if the start
 * fails). */
int vd_domain_create_transient(struct vd_daemon *d, const char *xml, struct vd_domain **out,
                               bool *restore_def, struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    *restore_def = false;
    struct vd_domain *other = vd_domain_find_name(d, def->name);
    if (!other)
        other = vd_domain_find_uuid(d, def->uuid);
    if (other) {
        bool same = memcmp(other->def->uuid, def->uuid, 16) == 0 &&
                    strcmp(other->def->name, def->name) == 0;
        if (!same || other->state != VD_STATE_SHUTOFF || other->job || other->newdef) {
            verr_set(err, EEXIST, "operation failed: domain '%s' already exists", other->def->name);
            domain_def_free(def);
            return -EEXIST;
        }
        other->newdef = other->def;
        other->def = def;
        *restore_def = true;
        *out = other;
        return 0;
    }
    *out = domain_new_with(d, def);
    return 0;
}

int vd_domain_undefine(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    if (!dom->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot undefine transient domain");
    char *path = path_in(d->domain_dir, dom->def->name, ".xml");
    if (unlink(path) < 0 && errno != ENOENT) {
        int r = verr_errno(err, errno, "cannot remove %s", path);
        free(path);
        return r;
    }
    vd_store_dir_changed(d, path);
    free(path);
    path = path_in(d->autostart_dir, dom->def->name, "");
    if (unlink(path) == 0)
        vd_store_dir_changed(d, path);
    free(path);
    dom->autostart = false;
    dom->persistent = false;
    domain_def_free(dom->newdef);
    dom->newdef = NULL;
    vd_emit_lifecycle(d, dom, VD_EVENT_UNDEFINED, 0);
    if (dom->state == VD_STATE_SHUTOFF && !dom->starting) {
        /* gone from every lookup now; freed once no job holds it */
        domain_unlink(d, dom);
        dom->vanished = true;
        if (!dom->job && !dom->jobq)
            vd_domain_free(dom);
    } else {
        vd_domain_save_status(d, dom);
    }
    return 0;
}

int vd_domain_set_autostart(struct vd_daemon *d, struct vd_domain *dom, bool on, struct verr *err)
{
    if (!dom->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot set autostart for transient "
                        "domain");
    char *path = path_in(d->autostart_dir, dom->def->name, "");
    int r = 0;
    if (on) {
        r = vd_store_write(d, path, "", 0, true, err);
    } else if (unlink(path) < 0 && errno != ENOENT) {
        r = verr_errno(err, errno, "cannot remove %s", path);
    } else {
        vd_store_dir_changed(d, path);
    }
    free(path);
    if (r == 0)
        dom->autostart = on;
    return r;
}

uint64_t vd_domain_cpu_time(struct vd_domain *dom)
{
    if (dom->state == VD_STATE_SHUTOFF || dom->pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)dom->pid);
    struct buf b = BUF_INIT;
    struct verr err = {0};
    uint64_t ns = 0;
    if (file_read_all(path, 4096, &b, &err) == 0) {
        buf_append(&b, "", 1);
        const char *p = strrchr((char *)b.data, ')');
        unsigned long long ut = 0, st = 0;
        /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
         * utime stime */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            ns = (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
    }
    buf_free(&b);
    return ns;
}

/* Loads every NAME.xml of the domain dir. A file that does not parse is
 * reported and skipped, never deleted. */
int vd_store_load(struct vd_daemon *d, struct verr *err)
{
    DIR *dir = opendir(d->domain_dir);
    if (!dir)
        return verr_errno(err, errno, "cannot open domain directory %s", d->domain_dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' && strstr(e->d_name, ".xml.")) {
            /* a temporary file of file_replace_atomic left by a killed daemon:
             * the definition it was replacing is intact, the file is noise */
            if (unlinkat(dirfd(dir), e->d_name, 0) == 0)
                log_info("removed the stale temporary file %s/%s", d->domain_dir, e->d_name);
            continue;
        }
        if (l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0 || e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", d->domain_dir, e->d_name);
        struct domain_def *def;
        struct verr e2 = {0};
        if (domain_def_parse_file(path, 0, &def, &e2) < 0) {
            log_error("skipping %s: %s", path, verr_msg(&e2));
            free(path);
            continue;
        }
        if (vd_domain_find_name(d, def->name) || vd_domain_find_uuid(d, def->uuid)) {
            log_error("skipping %s: domain '%s' already loaded", path, def->name);
            domain_def_free(def);
            free(path);
            continue;
        }
        free(path);
        struct vd_domain *dom = domain_new_with(d, def);
        dom->persistent = true;
        char *ap = path_in(d->autostart_dir, def->name, "");
        dom->autostart = access(ap, F_OK) == 0;
        free(ap);
    }
    closedir(dir);
    return 0;
}

/* key=value lines of NAME.state. */
static long long state_get(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return strtoll(p + kl + 1, NULL, 10);
    }
    return -1;
}

static void reattach_one(struct vd_daemon *d, const char *name)
{
    char *spath = path_in(d->run_dir, name, ".state");
    char *xpath = path_in(d->run_dir, name, ".xml");
    struct buf b = BUF_INIT;
    struct verr err = {0};
    struct domain_def *live = NULL;
    if (file_read_all(spath, 4096, &b, &err) < 0 ||
        domain_def_parse_file(xpath, DOMAIN_PARSE_LIVE, &live, &err) < 0) {
        log_error("domain '%s': cannot read live state: %s", name, verr_msg(&err));
        buf_free(&b);
        remove_status(d, name);
        goto out;
    }
    buf_append(&b, "", 1);
    const char *text = (const char *)b.data;
    pid_t pid = (pid_t)state_get(text, "pid");
    int id = (int)state_get(text, "id");
    int state = (int)state_get(text, "state");
    int reason = (int)state_get(text, "reason");
    bool persistent = state_get(text, "persistent") == 1;
    long long start = state_get(text, "start");
    buf_free(&b);

    struct vd_domain *dom = vd_domain_find_name(d, name);
    if (dom) {
        vd_index_remove(d, dom); /* the live definition is indexed in its place */
        dom->newdef = dom->def;
        dom->def = live;
        vd_index_add(d, dom);
    } else {
        dom = domain_new_with(d, live);
    }
    dom->persistent = dom->persistent || persistent;
    live = NULL;
    dom->pid = pid;
    dom->id = id;
    dom->def->id = id;
    dom->state = state;
    dom->reason = reason;
    dom->start_time = start > 0 ? (uint64_t)start : 0;
    if (id >= d->next_id)
        d->next_id = id + 1;
    char *qmp = path_in(d->run_dir, name, ".qmp");
    if (pid > 1 && (dom->pidfd = pidfd_open_compat(pid)) < 0)
        verr_errno(&err, errno, "pidfd_open of vireo-vmm pid %d", (int)pid);
    if (pid <= 1 || dom->pidfd < 0 ||
        qmp_client_connect(qmp, QMP_TIMEOUT_MS, &dom->qmp, &err) < 0) {
        log_warn("domain '%s': vireo-vmm pid %d is gone (%s); marking it crashed", name, (int)pid,
                 verr_msg(&err));
        if (dom->pid > 1)
            kill(dom->pid, SIGKILL); /* a VMM without a usable QMP is unmanageable */
        dom->destroying = false;
        domain_stopped(d, dom, 3, 2);
        domain_after_stop(d, dom, false);
    } else {
        /* Refresh running/paused from the VMM itself. */
        struct json_object *reply = NULL, *ret, *running;
        if (qmp_client_execute(dom->qmp, "query-status", NULL, QMP_TIMEOUT_MS, &reply, &err) == 0 &&
            json_object_object_get_ex(reply, "return", &ret) &&
            json_object_object_get_ex(ret, "running", &running)) {
            bool run = json_object_get_boolean(running);
            if (run && dom->state != VD_STATE_RUNNING) {
                dom->state = VD_STATE_RUNNING;
                dom->reason = 5; /* UNPAUSED */
            } else if (!run && dom->state == VD_STATE_RUNNING) {
                dom->state = VD_STATE_PAUSED;
                dom->reason = 1; /* USER */
            }
        }
        json_object_put(reply);
        char *console = path_in(d->run_dir, name, ".console");
        if (connect_console(console, &dom->console_fd, &err) < 0)
            log_warn("domain '%s': no console: %s", name, verr_msg(&err));
        free(console);
        watch_vmm(d, dom);
        log_info("reattached to domain '%s', pid %d", name, (int)pid);
    }
    free(qmp);
out:
    domain_def_free(live);
    free(spath);
    free(xpath);
}

void vd_domain_reattach_all(struct vd_daemon *d)
{
    DIR *dir = opendir(d->run_dir);
    if (!dir)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".state") == 0) {
            names = xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = xasprintf("%.*s", (int)(l - 6), e->d_name);
        }
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++) {
        reattach_one(d, names[i]);
        free(names[i]);
    }
    free(names);
}

void vd_domain_autostart_all(struct vd_daemon *d)
{
    for (struct vd_domain *x = d->domains; x; x = x->next) {
        if (!x->autostart || x->state != VD_STATE_SHUTOFF)
            continue;
        submit_internal(x, "autostart", vd_domain_job_start);
    }
}
