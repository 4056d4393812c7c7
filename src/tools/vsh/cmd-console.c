/*
 * cmd-console.c - vsh's interactive commands that wait on the connection:
 * `console` (the guest's serial console through a stream, Ctrl-] detaches;
 * `ttyconsole` names its pty),
 * `event`, `net-event`, `secret-event` and `pool-event` (domain and network
 * lifecycle events, secret lifecycle and value-changed events, pool lifecycle
 * and refresh events, as they come).
 *
 * Both are one poll() loop over the terminal (or a signalfd for Ctrl-C) and
 * the connection's event fd, with vir_connect_process_events() doing the
 * delivery; the output is virsh's, line for line, so the two can be
 * compared. Ctrl-C reaches `event --loop` through a signalfd rather than a
 * handler, so no global flag is needed.
 */
#include "tools/vsh/commands.h"
#include "util/str.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x1d /* Ctrl-] */

/* ---- console ---- */

/* Copies what the guest sent to stdout; false at the end of the stream. */
static bool drain_stream(struct vsh_ctl *ctl, vir_stream *st, bool *failed)
{
    char buf[4096];
    for (;;) {
        vir_error err;
        int n = vir_stream_recv(st, buf, sizeof(buf), &err);
        if (n == -2)
            return true;
        if (n == 0)
            return false;
        if (n < 0) {
            vsh_report(ctl, &err);
            *failed = true;
            return false;
        }
        ssize_t w = write(STDOUT_FILENO, buf, (size_t)n);
        (void)w;
    }
}

/* The loop: keystrokes to the guest until Ctrl-], guest output to stdout. */
static bool run_console(struct vsh_ctl *ctl, vir_connect *conn, vir_stream *st)
{
    struct termios saved, raw;
    bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    }
    bool failed = false, open = true, in_open = true;
    while (open) {
        struct pollfd p[2] = {{.fd = vir_connect_get_event_fd(conn), .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents) {
            vir_error err;
            if (vir_connect_process_events(conn, 0, &err) < 0) {
                open = drain_stream(ctl, st, &failed) && false;
                break;
            }
            open = drain_stream(ctl, st, &failed);
        }
        if (open && p[1].revents) {
            char buf[1024];
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) {
                in_open = false; /* stdin closed: keep showing the guest until it ends */
                continue;
            }
            char *esc = memchr(buf, ESCAPE_CHAR, (size_t)n);
            size_t len = esc ? (size_t)(esc - buf) : (size_t)n;
            vir_error err;
            if (len && vir_stream_send(st, buf, len, &err) < 0) {
                vsh_report(ctl, &err);
                failed = true;
                break;
            }
            if (esc) {
                vir_stream_finish(st, NULL);
                break;
            }
        }
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    return !failed;
}

bool vsh_cmd_console(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *name;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, &name);
    if (!dom)
        return false;
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "force"))
        flags |= VIR_DOMAIN_CONSOLE_FORCE;
    if (vsh_opt_bool(cmd, "safe"))
        flags |= VIR_DOMAIN_CONSOLE_SAFE;
    bool ok = vsh_console_attach(ctl, dom, vsh_opt_string(cmd, "devname"), flags);
    vir_domain_free(dom);
    return ok;
}

bool vsh_console_attach(struct vsh_ctl *ctl, vir_domain *dom, const char *devname, unsigned flags)
{
    bool ok = false;
    vir_error err;
    int state = 0;
    if (vir_domain_get_state(dom, &state, NULL, 0, &err) < 0) {
        vsh_error(ctl, "%s", "Unable to get domain status");
        vsh_report(ctl, &err);
        goto out;
    }
    if (state == VIR_DOMAIN_SHUTOFF) {
        vsh_error(ctl, "%s", "The domain is not running");
        goto out;
    }
    if (!isatty(STDIN_FILENO)) {
        vsh_error(ctl, "%s", "Cannot run interactive console without a controlling TTY");
        goto out;
    }
    vsh_print_extra(ctl, "Connected to domain '%s'\n", vir_domain_get_name(dom));
    vsh_print_extra(ctl, "Escape character is ^] (Ctrl + ])\n");
    fflush(ctl->out);
    vir_stream *st = vir_domain_open_console(dom, devname, flags, &err);
    if (!st) {
        vsh_error(ctl, "%s", "Failed to get console");
        vsh_report(ctl, &err);
        goto out;
    }
    ok = run_console(ctl, vir_domain_get_connect(dom), st);
    vir_stream_free(st);
out:
    return ok;
}

/* ---- ttyconsole ---- */

bool vsh_cmd_ttyconsole(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    char *xml = vir_domain_get_xml_desc(dom, 0, &err);
    vir_domain_free(dom);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    /* the live XML's pty; virsh fails without a word when there is none */
    char *tty = vsh_xpath_string(xml, "string(/domain/devices/console/@tty)");
    free(xml);
    if (tty)
        vsh_print(ctl, "%s\n", tty);
    free(tty);
    return tty != NULL;
}

/* ---- event ---- */

struct event_state {
    struct vsh_ctl *ctl;
    bool timestamp;
    bool loop;
    int count;
};

/* virsh's --timestamp prefix, "2024-01-02 03:04:05.678+0000: ", or "" without it. */
static void event_stamp(const struct event_state *s, char stamp[64])
{
    stamp[0] = 0;
    if (!s->timestamp)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(stamp, 64, "%s.%03ld+0000: ", base, ts.tv_nsec / 1000000);
}

/* An object event's line (net-event, secret-event, pool-event), as virsh prints it: the
 * --timestamp prefix, then the text, flushed and counted; a one-shot watch prints only the
 * first event (a second may come in the same round). */
static void event_print(struct event_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void event_print(struct event_state *s, const char *fmt, ...)
{
    if (!s->loop && s->count)
        return;
    char stamp[64], text[4096];
    event_stamp(s, stamp);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    vsh_print(s->ctl, "%s%s", stamp, text);
    fflush(s->ctl->out);
    s->count++;
}

static void on_lifecycle(vir_connect *conn, vir_domain *dom, int event, int detail, void *opaque)
{
    (void)conn;
    struct event_state *s = opaque;
    char stamp[64];
    event_stamp(s, stamp);
    vsh_print(s->ctl, "%sevent 'lifecycle' for domain '%s': %s %s\n", stamp,
              vir_domain_get_name(dom), vir_domain_event_to_string(event),
              vir_domain_event_detail_to_string(event, detail));
    fflush(s->ctl->out);
    s->count++;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Delivers events until the first (the loop: until the timeout or Ctrl-C), printing virsh's
 * line for the end of the wait; false when the connection failed. */
static bool wait_events(struct vsh_ctl *ctl, vir_connect *conn, struct event_state *s,
                        unsigned timeout)
{
    vir_error err;
    /* Ctrl-C ends the wait through a signalfd (restored afterwards); an ignored SIGINT (a
     * background job of a shell) would never reach it, and virsh catches it even then. */
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, &old);
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old_act;
    sigaction(SIGINT, &dfl, &old_act);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    uint64_t deadline = timeout ? now_ms() + (uint64_t)timeout * 1000 : 0;
    const char *why = NULL;
    bool ok = true;
    while (s->loop || s->count == 0) {
        int wait = -1;
        if (deadline) {
            uint64_t t = now_ms();
            if (t >= deadline) {
                why = "event loop timed out\n";
                break;
            }
            wait = (int)(deadline - t);
        }
        struct pollfd p[2] = {{.fd = vir_connect_get_event_fd(conn), .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, wait) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents) {
            /* taken, or the unblocking below would deliver it and end vsh unflushed */
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) < 0)
                si.ssi_signo = 0;
            why = "event loop interrupted\n";
            break;
        }
        if (p[0].revents && vir_connect_process_events(conn, 0, &err) < 0) {
            vsh_report(ctl, &err);
            ok = false;
            break;
        }
    }
    if (sfd >= 0)
        close(sfd);
    sigaction(SIGINT, &old_act, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (why)
        vsh_print(ctl, "%s", why);
    return ok;
}

bool vsh_cmd_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *ev = vsh_opt_string(cmd, "event");
    if (vsh_opt_bool(cmd, "list")) {
        vsh_print(ctl, "lifecycle\nreboot\n");
        return true;
    }
    if (!ev && !vsh_opt_bool(cmd, "all")) {
        vsh_error(ctl, "%s", "one of --list, --all, or --event <type> is required");
        return false;
    }
    if (ev && strcmp(ev, "lifecycle") != 0) {
        vsh_error(ctl, "unknown event type %s", ev);
        return false;
    }
    unsigned timeout = 0;
    if (vsh_opt_uint(ctl, cmd, "timeout", &timeout) < 0)
        return false;
    vir_domain *dom = NULL;
    if (vsh_opt_string(cmd, "domain") && !(dom = vsh_lookup_domain(ctl, cmd, NULL)))
        return false;
    vir_connect *conn = ctl->conn;
    struct event_state s = {ctl, vsh_opt_bool(cmd, "timestamp"), vsh_opt_bool(cmd, "loop"), 0};
    vir_error err;
    int id = vir_connect_domain_event_register_any(conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                   on_lifecycle, &s, NULL, &err);
    vir_domain_free(dom);
    if (id < 0) {
        vsh_error(ctl, "failed to register event type %s", "lifecycle");
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = wait_events(ctl, conn, &s, timeout);
    vir_connect_domain_event_deregister_any(conn, id, NULL);
    vsh_print(ctl, "events received: %d\n", s.count);
    return ok;
}

/* ---- net-event ---- */

static void on_net_lifecycle(vir_connect *conn, vir_network *net, int event, int detail,
                             void *opaque)
{
    (void)conn;
    (void)detail; /* always 0: virsh does not print it */
    event_print(opaque, "event 'lifecycle' for network %s: %s\n", vir_network_get_name(net),
                vir_network_event_to_string(event));
}

bool vsh_cmd_net_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    if (vsh_opt_bool(cmd, "list")) {
        vsh_print(ctl, "lifecycle\n"); /* libvirt 9.0's only network event */
        return true;
    }
    const char *ev = vsh_opt_string(cmd, "event");
    if (!ev) {
        vsh_error(ctl, "%s", "either --list or --event <type> is required");
        return false;
    }
    if (strcmp(ev, "lifecycle") != 0) {
        vsh_error(ctl, "unknown event type %s", ev);
        return false;
    }
    unsigned timeout = 0;
    if (vsh_opt_uint(ctl, cmd, "timeout", &timeout) < 0)
        return false;
    vir_network *net = NULL;
    if (vsh_opt_string(cmd, "network") && !(net = vsh_lookup_network(ctl, cmd, "network")))
        return false;
    vir_connect *conn = ctl->conn;
    struct event_state s = {ctl, vsh_opt_bool(cmd, "timestamp"), vsh_opt_bool(cmd, "loop"), 0};
    vir_error err;
    int id = vir_connect_network_event_register_any(conn, net, VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                                    on_net_lifecycle, &s, NULL, &err);
    vir_network_free(net);
    if (id < 0) {
        vsh_error(ctl, "failed to register event type %s", "lifecycle");
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = wait_events(ctl, conn, &s, timeout);
    vir_connect_network_event_deregister_any(conn, id, NULL);
    vsh_print(ctl, "events received: %d\n", s.count);
    return ok && s.count > 0; /* virsh fails the command when nothing came */
}

/* ---- secret-event ---- */

static void on_secret_lifecycle(vir_connect *conn, vir_secret *secret, int event, int detail,
                                void *opaque)
{
    (void)conn;
    (void)detail; /* always 0: virsh does not print it */
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_secret_get_uuid_string(secret, uuid);
    event_print(opaque, "event 'lifecycle' for secret %s: %s\n", uuid,
                vir_secret_event_to_string(event));
}

static void on_secret_value_changed(vir_connect *conn, vir_secret *secret, void *opaque)
{
    (void)conn;
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_secret_get_uuid_string(secret, uuid);
    event_print(opaque, "event 'value-changed' for secret %s\n", uuid);
}

/* secret-event's and pool-event's start, as virsh's: --list answered (*event_id -1), or the
 * --event among names (its index) and the --timeout; false after virsh's error. */
static bool event_choice(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *const names[2],
                         int *event_id, unsigned *timeout)
{
    *event_id = -1;
    if (vsh_opt_bool(cmd, "list")) {
        vsh_print(ctl, "%s\n%s\n", names[0], names[1]);
        return true;
    }
    const char *ev = vsh_opt_string(cmd, "event");
    if (ev && !*ev) {
        vsh_error(ctl, "Failed to get option '%s': Option argument is empty", "event");
        return false;
    }
    if (!ev) {
        vsh_error(ctl, "%s", "either --list or --event <type> is required");
        return false;
    }
    *event_id = strcmp(ev, names[0]) == 0 ? 0 : strcmp(ev, names[1]) == 0 ? 1 : -1;
    if (*event_id < 0) {
        vsh_error(ctl, "unknown event type %s", ev);
        return false;
    }
    *timeout = 0;
    if (vsh_opt_uint(ctl, cmd, "timeout", timeout) < 0)
        return false;
    if (vsh_opt_string(cmd, "timeout") && (*timeout == 0 || *timeout > INT32_MAX / 1000)) {
        /* virsh's vshCommandOptTimeoutToMs: no zero, nothing that overflows in ms */
        vsh_error(ctl, "Numeric value '%u' for <%s> option is malformed or out of range", *timeout,
                  "timeout");
        return false;
    }
    return true;
}

bool vsh_cmd_secret_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const char *const names[] = {"lifecycle", "value-changed"}; /* by vir_secret_event_id */
    int event_id;
    unsigned timeout;
    if (!event_choice(ctl, cmd, names, &event_id, &timeout))
        return false;
    if (event_id < 0)
        return true; /* --list */
    /* virsh goes on without the filter when the lookup fails: all secrets, after its error */
    vir_secret *secret = vsh_opt_string(cmd, "secret") ? vsh_lookup_secret(ctl, cmd, NULL) : NULL;
    vir_connect *conn = ctl->conn;
    struct event_state s = {ctl, vsh_opt_bool(cmd, "timestamp"), vsh_opt_bool(cmd, "loop"), 0};
    vir_error err;
    vir_connect_secret_event_generic_callback cb =
        event_id == VIR_SECRET_EVENT_ID_LIFECYCLE ? VIR_SECRET_EVENT_CALLBACK(on_secret_lifecycle)
                                                  : on_secret_value_changed;
    int id = vir_connect_secret_event_register_any(conn, secret, event_id, cb, &s, NULL, &err);
    vir_secret_free(secret);
    if (id < 0) {
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = wait_events(ctl, conn, &s, timeout);
    vir_connect_secret_event_deregister_any(conn, id, NULL);
    vsh_print(ctl, "events received: %d\n", s.count);
    return ok && s.count > 0; /* virsh fails the command when nothing came */
}

/* ---- pool-event ---- */

static void on_pool_lifecycle(vir_connect *conn, vir_storage_pool *pool, int event, int detail,
                              void *opaque)
{
    (void)conn;
    (void)detail; /* always 0: virsh does not print it */
    event_print(opaque, "event 'lifecycle' for storage pool %s: %s\n",
                vir_storage_pool_get_name(pool), vir_storage_pool_event_to_string(event));
}

static void on_pool_refresh(vir_connect *conn, vir_storage_pool *pool, void *opaque)
{
    (void)conn;
    event_print(opaque, "event 'refresh' for storage pool %s\n", vir_storage_pool_get_name(pool));
}

bool vsh_cmd_pool_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const char *const names[] = {"lifecycle", "refresh"}; /* by vir_storage_pool_event_id */
    int event_id;
    unsigned timeout;
    if (!event_choice(ctl, cmd, names, &event_id, &timeout))
        return false;
    if (event_id < 0)
        return true; /* --list */
    /* as secret-event: a failed lookup is reported, and the wait is for every pool */
    const char *name = vsh_opt_string(cmd, "pool");
    vir_storage_pool *pool = NULL;
    if (name && !*name)
        vsh_error(ctl, "Failed to get option '%s': Option argument is empty", "pool");
    else if (name)
        pool = vsh_lookup_pool_name(ctl, name);
    vir_connect *conn = ctl->conn;
    struct event_state s = {ctl, vsh_opt_bool(cmd, "timestamp"), vsh_opt_bool(cmd, "loop"), 0};
    vir_error err;
    vir_connect_storage_pool_event_generic_callback cb =
        event_id == VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE
            ? VIR_STORAGE_POOL_EVENT_CALLBACK(on_pool_lifecycle)
            : on_pool_refresh;
    int id = vir_connect_storage_pool_event_register_any(conn, pool, event_id, cb, &s, NULL, &err);
    vir_storage_pool_free(pool);
    if (id < 0) {
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = wait_events(ctl, conn, &s, timeout);
    vir_connect_storage_pool_event_deregister_any(conn, id, NULL);
    vsh_print(ctl, "events received: %d\n", s.count);
    return ok && s.count > 0; /* virsh fails the command when nothing came */
}
