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
 * the loop, which fires as soon as the process ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
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
#include "daemon/vmm-argv.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/qmp/qmp-client.h"

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

/* Connects to the VMM's COM1 socket; its output is logged and relayed to
 * console streams. vireo-vmm serves one client at a time: this is it. */
static int console_open(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    char *path = path_in(d->run_dir, dom->def->name, ".console");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int r = 0;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        r = verr_set(err, ENAMETOOLONG, "console socket path %s: too long", path);
        goto out;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = verr_errno(err, errno, "cannot connect to console socket %s", path);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    dom->console_fd = fd;
    dom->console_watch = loop_watch_fd(d->loop, fd, LOOP_READ, on_console, dom, err);
    char *logpath = path_in(d->log_dir, dom->def->name, ".console.log");
    dom->console_log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(logpath);
out:
    free(path);
    return r;
}

/* The VMM is gone: shut off, event, transient domains vanish. */
static void domain_stopped(struct vd_daemon *d, struct vd_domain *dom, int reason, int detail)
{
    loop_watch_remove(dom->pid_watch);
    dom->pid_watch = NULL;
    if (dom->pidfd >= 0)
        close(dom->pidfd);
    dom->pidfd = -1;
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
    dom->destroying = dom->shutdown_seen = false;
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = dom->newdef;
        dom->newdef = NULL;
    }
    if (!dom->persistent) {
        domain_unlink(d, dom);
        vd_domain_free(dom);
    }
}

/* Reads queued QMP events (the socket may still hold them after the exit). */
static void drain_events(struct vd_domain *dom)
{
    if (!dom->qmp)
        return;
    struct json_object *ev;
    struct verr err = {0};
    while (qmp_client_next_event(dom->qmp, 0, &ev, &err) == 0) {
        struct json_object *name;
        if (json_object_object_get_ex(ev, "event", &name) &&
            strcmp(json_object_get_string(name), "SHUTDOWN") == 0)
            dom->shutdown_seen = true;
        json_object_put(ev);
    }
}

/* Reason and event detail for an exit, from what led to it. */
static void exit_classify(struct vd_domain *dom, int *reason, int *detail)
{
    drain_events(dom);
    if (dom->destroying) {
        *reason = 2; /* VIR_DOMAIN_SHUTOFF_DESTROYED */
        *detail = 1; /* VIR_DOMAIN_EVENT_STOPPED_DESTROYED */
    } else if (dom->shutdown_seen) {
        *reason = 1; /* SHUTDOWN */
        *detail = 0; /* STOPPED_SHUTDOWN */
    } else {
        *reason = 3; /* CRASHED */
        *detail = 2; /* STOPPED_CRASHED */
    }
}

static void on_pidfd(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd, (void)events;
    struct vd_domain *dom = opaque;
    struct vd_daemon *d = dom->daemon;
    int reason, detail;
    exit_classify(dom, &reason, &detail);
    domain_stopped(d, dom, reason, detail);
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

static int watch_pid(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    dom->pidfd = pidfd_open_compat(dom->pid);
    if (dom->pidfd < 0)
        return verr_errno(err, errno, "pidfd_open of vireo-vmm pid %d", (int)dom->pid);
    dom->pid_watch = loop_watch_fd(d->loop, dom->pidfd, LOOP_READ, on_pidfd, dom, err);
    if (!dom->pid_watch) {
        close(dom->pidfd);
        dom->pidfd = -1;
        return -EIO;
    }
    return 0;
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

int vd_domain_start(struct vd_daemon *d, struct vd_domain *dom, bool paused, struct verr *err)
{
    if (dom->state != VD_STATE_SHUTOFF)
        return verr_set(err, EBUSY, "Requested operation is not valid: domain is already running");
    const char *name = dom->def->name;
    char *qmp = path_in(d->run_dir, name, ".qmp");
    char *console = path_in(d->run_dir, name, ".console");
    char *pidfile = path_in(d->run_dir, name, ".pid");
    char *logpath = path_in(d->log_dir, name, ".log");
    remove_status(d, name);
    struct vmm_argv_paths paths = {d->vmm_path, qmp, console, pidfile};
    char **argv = NULL;
    int r = vmm_argv_build(dom->def, &paths, &argv, err);
    if (r < 0)
        goto out;
    /* Always -S: the console is connected before the guest prints a byte,
     * then QMP cont starts it (libvirt does the same with QEMU). */
    {
        size_t n = 0;
        while (argv[n])
            n++;
        argv = xrealloc(argv, (n + 2) * sizeof(*argv));
        argv[n] = xstrdup("-S");
        argv[n + 1] = NULL;
    }
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        r = verr_errno(err, errno, "cannot open log file %s", logpath);
        goto out;
    }
    {
        struct buf line = BUF_INIT;
        for (char **p = argv; *p; p++) {
            buf_append(&line, *p, strlen(*p));
            buf_append(&line, p[1] ? " " : "\n", 1);
        }
        fd_write_all(logfd, line.data, line.len);
        buf_free(&line);
    }
    pid_t child;
    r = vd_spawn(argv, logfd, &child, err);
    close(logfd);
    if (r < 0)
        goto out;
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* Its error is the last line of the log. */
        struct buf b = BUF_INIT;
        struct verr e2 = {0};
        const char *last = "no message";
        if (file_read_all(logpath, 1 << 20, &b, &e2) == 0 && b.len) {
            buf_append(&b, "", 1);
            char *t = (char *)b.data;
            size_t l = strlen(t);
            while (l && t[l - 1] == '\n')
                t[--l] = 0;
            char *nl = strrchr(t, '\n');
            last = nl ? nl + 1 : t;
        }
        r = verr_set(err, EIO, "vireo-vmm for domain '%s' failed to start: %s", name, last);
        buf_free(&b);
        goto out;
    }
    r = read_pidfile(pidfile, &dom->pid, err);
    if (r < 0)
        goto out;
    r = watch_pid(d, dom, err);
    if (r < 0)
        goto kill;
    r = qmp_client_connect(qmp, QMP_TIMEOUT_MS, &dom->qmp, err);
    if (r < 0)
        goto kill;
    if (console_open(d, dom, err) < 0)
        log_warn("domain '%s': no console: %s", name, verr_msg(err));
    /* query-status is a round trip through the VMM's loop, which has then
     * accepted the console connection too. */
    {
        struct json_object *reply = NULL;
        r = qmp_client_execute(dom->qmp, "query-status", NULL, QMP_TIMEOUT_MS, &reply, err);
        json_object_put(reply);
        dom->state = VD_STATE_PAUSED;
        if (r == 0 && !paused)
            r = vd_domain_qmp(d, dom, "cont", err);
        if (r < 0)
            goto kill;
    }
    dom->id = d->next_id++;
    dom->def->id = dom->id;
    dom->state = paused ? VD_STATE_PAUSED : VD_STATE_RUNNING;
    dom->reason = 1; /* PAUSED_USER or RUNNING_BOOTED */
    dom->start_time = (uint64_t)time(NULL);
    vd_domain_save_status(d, dom);
    log_info("domain '%s' started, pid %d", name, (int)dom->pid);
    vd_emit_lifecycle(d, dom, VD_EVENT_STARTED, 0);
    if (paused)
        vd_emit_lifecycle(d, dom, VD_EVENT_SUSPENDED, 0);
    r = 0;
    goto out;
kill:
    kill(dom->pid, SIGKILL);
    console_close(NULL, dom);
    if (dom->qmp)
        qmp_client_close(dom->qmp);
    dom->qmp = NULL;
    dom->state = VD_STATE_SHUTOFF;
    loop_watch_remove(dom->pid_watch);
    dom->pid_watch = NULL;
    if (dom->pidfd >= 0)
        close(dom->pidfd);
    dom->pidfd = -1;
    dom->pid = 0;
out:
    vmm_argv_free(argv);
    free(qmp);
    free(console);
    free(pidfile);
    free(logpath);
    return r;
}

static bool wait_pidfd(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

int vd_domain_destroy(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    if (dom->state == VD_STATE_SHUTOFF)
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    dom->destroying = true;
    kill(dom->pid, SIGTERM);
    if (!wait_pidfd(dom->pidfd, DESTROY_GRACE_MS)) {
        kill(dom->pid, SIGKILL);
        if (!wait_pidfd(dom->pidfd, DESTROY_GRACE_MS))
            return verr_set(err, ETIMEDOUT, "vireo-vmm pid %d did not end after SIGKILL",
                            (int)dom->pid);
    }
    domain_stopped(d, dom, 2, 1);
    return 0;
}

/* Runs a QMP command that returns nothing of interest. */
int vd_domain_qmp(struct vd_daemon *d, struct vd_domain *dom, const char *cmd, struct verr *err)
{
    (void)d;
    if (dom->state == VD_STATE_SHUTOFF || !dom->qmp)
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    struct json_object *reply = NULL;
    int r = qmp_client_execute(dom->qmp, cmd, NULL, QMP_TIMEOUT_MS, &reply, err);
    if (r < 0)
        return r;
    struct json_object *e;
    if (json_object_object_get_ex(reply, "error", &e)) {
        struct json_object *desc;
        const char *msg =
            json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc) : "error";
        r = verr_set(err, EIO, "vireo-vmm refused %s: %s", cmd, msg);
    }
    json_object_put(reply);
    if (r == 0 && strcmp(cmd, "system_powerdown") == 0)
        dom->shutdown_seen = true;
    return r;
}

int vd_domain_define(struct vd_daemon *d, const char *xml, unsigned flags, struct vd_domain **out,
                     struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, flags, &def, err);
    if (r < 0)
        return r;
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
        if (dom->state != VD_STATE_SHUTOFF) {
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
            if (dom->state != VD_STATE_SHUTOFF) {
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

/* A transient domain from XML, started at once. */
int vd_domain_create_transient(struct vd_daemon *d, const char *xml, bool paused,
                               struct vd_domain **out, struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    struct vd_domain *other = vd_domain_find_name(d, def->name);
    if (!other)
        other = vd_domain_find_uuid(d, def->uuid);
    if (other) {
        /* A defined, inactive domain of that name and uuid may be started
         * with this definition; anything else is a clash. */
        bool same = memcmp(other->def->uuid, def->uuid, 16) == 0 &&
                    strcmp(other->def->name, def->name) == 0;
        if (!same || other->state != VD_STATE_SHUTOFF) {
            verr_set(err, EEXIST, "operation failed: domain '%s' already exists", other->def->name);
            domain_def_free(def);
            return -EEXIST;
        }
        other->newdef = other->def;
        other->def = def;
        r = vd_domain_start(d, other, paused, err);
        if (r < 0) {
            domain_def_free(other->def);
            other->def = other->newdef;
            other->newdef = NULL;
            return r;
        }
        *out = other;
        return 0;
    }
    struct vd_domain *dom = domain_new_with(d, def);
    r = vd_domain_start(d, dom, paused, err);
    if (r < 0) {
        domain_unlink(d, dom);
        vd_domain_free(dom);
        return r;
    }
    *out = dom;
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
    if (dom->state == VD_STATE_SHUTOFF) {
        domain_unlink(d, dom);
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
    if (pid <= 1 || watch_pid(d, dom, &err) < 0 ||
        qmp_client_connect(qmp, QMP_TIMEOUT_MS, &dom->qmp, &err) < 0) {
        log_warn("domain '%s': vireo-vmm pid %d is gone (%s); marking it crashed", name, (int)pid,
                 verr_msg(&err));
        if (dom->pid > 1)
            kill(dom->pid, SIGKILL); /* a VMM without a usable QMP is unmanageable */
        dom->destroying = false;
        domain_stopped(d, dom, 3, 2);
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
        if (console_open(d, dom, &err) < 0)
            log_warn("domain '%s': no console: %s", name, verr_msg(&err));
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
        struct verr err = {0};
        if (vd_domain_start(d, x, false, &err) < 0)
            log_error("autostart of domain '%s' failed: %s", x->def->name, verr_msg(&err));
    }
}
