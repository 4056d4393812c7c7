/*
 * server.c - vireod's RPC server: the two UNIX sockets, one reader and
 * writer per client on the event loop, and dispatch of each call to its
 * procedure (the rpc-*.c tables, see server.h).
 *
 * The read-only socket sets the dispatcher's readonly flag, so mutating
 * procedures get libvirt's "read only access prevents" error before any
 * procedure runs. A client whose bytes cannot be framed is dropped; the
 * others never notice. A procedure nobody implements gets libvirt's
 * VIR_ERR_NO_SUPPORT naming its API, for every procedure number libvirt
 * has (src/rpc/remote-procs.list).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/migrate.h"
#include "daemon/network.h"
#include "daemon/sasl.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "tls/tls-server.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

static void client_drop(struct vd_client *c);
static void on_client(struct loop *loop, int fd, unsigned events, void *opaque);
static void accepting_update(struct vd_daemon *d);

static const struct vd_proc_table *const tables[] = {
    &vd_host_procs,       &vd_domain_procs,       &vd_lifecycle_procs,   &vd_event_procs,
    &vd_console_procs,    &vd_screenshot_procs,   &vd_send_key_procs,    &vd_save_procs,
    &vd_snapshot_procs,   &vd_stats_procs,        &vd_domstats_procs,    &vd_cpu_stats_procs,
    &vd_agent_procs,      &vd_migrate_procs,      &vd_storage_procs,     &vd_storage_event_procs,
    &vd_auth_procs,       &vd_network_procs,      &vd_tune_procs,        &vd_iftune_procs,
    &vd_node_stats_procs, &vd_hotplug_procs,      &vd_iotune_procs,      &vd_iothread_procs,
    &vd_blockjob_procs,   &vd_domcaps_procs,      &vd_cpu_compare_procs, &vd_network_event_procs,
    &vd_secret_procs,     &vd_secret_event_procs, &vd_misc_procs,        &vd_metadata_procs,
    &vd_pages_procs,
};

static vd_proc_fn find_proc(int proc)
{
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (size_t i = 0; i < tables[t]->n; i++)
            if (tables[t]->procs[i].proc == proc)
                return tables[t]->procs[i].fn;
    return NULL;
}

int vd_call_fail(struct vd_call *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    rpc_error_set(c->err, code, VIR_FROM_QEMU, "%s", msg ? msg : "internal error");
    free(msg);
    return -1;
}

int vd_call_fail_errno(struct vd_call *c, int r, const struct verr *e)
{
    return vd_call_fail(c, vd_errno_to_code(r), "%s", verr_msg(e));
}

int vd_call_check_flags(struct vd_call *c, unsigned flags, unsigned allowed, const char *fn)
{
    if (!(flags & ~allowed))
        return 0;
    return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                        "invalid argument: unsupported flags (0x%x) in function %s",
                        flags & ~allowed, fn);
}

int vd_call_need_running(struct vd_call *c, const struct vd_domain *dom, bool need_vmm)
{
    if (vd_domain_is_active(dom) && (!need_vmm || dom->vmm))
        return 0;
    return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                        "Requested operation is not valid: domain is not running");
}

void vd_server_fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom)
{
    out->name = xstrdup(dom->def->name);
    memcpy(out->uuid, dom->def->uuid, 16);
    out->id = dom->id;
}

/* What a client may call before it has authenticated (libvirtd's
 * procedures without needAuth), and before CONNECT_OPEN. */
static bool is_auth_proc(int proc)
{
    return proc == REMOTE_PROC_AUTH_LIST || proc == REMOTE_PROC_AUTH_SASL_INIT ||
           proc == REMOTE_PROC_AUTH_SASL_START || proc == REMOTE_PROC_AUTH_SASL_STEP ||
           proc == REMOTE_PROC_AUTH_POLKIT;
}

static int server_gate(void *ctx, bool qemu_program, int proc, struct rpc_error *e)
{
    struct vd_client *c = ctx;
    bool auth = !qemu_program && is_auth_proc(proc);
    if (c->auth_pending && !auth) {
        rpc_error_set(e, RPC_ERR_RPC, RPC_FROM_RPC, "authentication required");
        return -1;
    }
    if (!c->opened && !auth &&
        (qemu_program ||
         (proc != REMOTE_PROC_CONNECT_OPEN && proc != REMOTE_PROC_CONNECT_SUPPORTS_FEATURE))) {
        rpc_error_set(e, RPC_ERR_INTERNAL_ERROR, RPC_FROM_REMOTE,
                      "internal error: connection not open");
        return -1;
    }
    return 0;
}

/* Every call: its procedure, with its domain resolved when it names one. */
static int server_call(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    struct vd_client *client = ctx;
    struct vd_call c = {client, client->d, h, args, ret, err, NULL};
    const struct remote_proc *p = remote_proc_lookup(h->proc);
    vd_proc_fn fn = find_proc(h->proc);
    if (!fn) {
        rpc_error_no_support(err, p->api);
        return -1;
    }
    if (p->dom_arg) {
        /* By uuid, as libvirt does. */
        const struct remote_nonnull_domain *nd = args;
        c.dom = vd_domain_find_uuid(c.d, nd->uuid);
        if (!c.dom) {
            char uuid[37];
            domain_uuid_format(nd->uuid, uuid);
            return vd_call_fail(&c, VIR_ERR_NO_DOMAIN,
                                "Domain not found: no domain with matching uuid '%s' (%s)", uuid,
                                nd->name);
        }
    }
    return fn(&c);
}

void vd_server_attach_sink(struct vd_daemon *d)
{
    d->sink.lifecycle = vd_events_lifecycle;
    d->sink.reboot = vd_events_reboot;
    d->sink.device_removed = vd_events_device_removed;
    d->sink.agent_lifecycle = vd_events_agent_lifecycle;
    d->sink.migration_iteration = vd_events_migration_iteration;
    d->sink.console = vd_console_output;
    d->sink.monitor_event = vd_qemu_monitor_event;
    d->sink.block_job = vd_events_block_job;
    d->sink.ctx = d;
}

/* Reading stops while the client has too many replies queued (it does not
 * read them) or too many calls in progress (jobs that will reply): what it
 * sends meanwhile waits in its socket, and then in the kernel's buffers of
 * the sender, so a client that never reads costs a bounded amount of
 * memory however long it goes on. */
static bool client_full(const struct vd_client *c)
{
    const struct vd_daemon *d = c->d;
    return (d->max_client_output && c->writer.queued > d->max_client_output) ||
           (d->max_requests && (unsigned)(c->refs - 1) >= d->max_requests);
}

static void client_resume_cb(void *opaque);

static void client_update_watch(struct vd_client *c)
{
    if (c->fd < 0 || c->handshaking)
        return;
    bool full = client_full(c);
    if (!full && c->held.len && !c->resume_queued) {
        /* Calls read before the pause wait in held: no socket event will
         * come for them. */
        c->resume_queued = true;
        vd_client_ref(c);
        loop_call_soon(c->d->loop, client_resume_cb, c);
    }
    if (full != c->read_paused && full)
        log_debug("client %s: %zu bytes of replies queued, %d calls in progress: not reading",
                  c->peer ? c->peer : "unix", c->writer.queued, c->refs - 1);
    c->read_paused = full;
    loop_watch_set_events(c->watch, (full ? 0 : LOOP_READ) |
                                        (rpc_writer_pending(&c->writer) ? LOOP_WRITE : 0));
}

static ssize_t tls_send_cb(void *ctx, const void *data, size_t len, struct verr *err)
{
    return tls_session_send(ctx, data, len, err);
}

static int client_flush(struct vd_client *c, struct verr *err)
{
    if (c->tls)
        return rpc_writer_flush_with(&c->writer, tls_send_cb, c->tls, err);
    return rpc_writer_flush(&c->writer, c->fd, err);
}

void vd_client_send(struct vd_client *c, struct buf *out)
{
    if (c->fd < 0 || !out->len)
        return;
    struct verr err = {0};
    if (c->sasl_layer) {
        struct buf enc = BUF_INIT;
        if (vd_sasl_encode(c->sasl, out->data, out->len, &enc, &err) < 0) {
            log_warn("dropping client %s: %s", c->peer ? c->peer : "unix", verr_msg(&err));
            buf_free(&enc);
            client_drop(c);
            return;
        }
        buf_free(out);
        *out = enc;
    }
    rpc_writer_push(&c->writer, out);
    if (client_flush(c, &err) < 0) {
        client_drop(c);
        return;
    }
    /* What the client did not ask for (events, console output) is not held
     * back by the pause: a client that never reads it is let go. */
    if (c->d->max_client_output && c->writer.queued > 4 * c->d->max_client_output) {
        log_warn("dropping client %s: %zu bytes of unread output", c->peer ? c->peer : "unix",
                 c->writer.queued);
        client_drop(c);
        return;
    }
    client_update_watch(c);
}

struct vd_deferred *vd_defer(struct vd_call *c)
{
    struct vd_deferred *df = xcalloc(1, sizeof(*df));
    df->client = c->client;
    df->call = *c->h;
    vd_client_ref(c->client);
    return df;
}

void vd_deferred_reply(struct vd_deferred *df, const struct remote_type *type, const void *ret,
                       int code, int from, const char *message)
{
    struct buf out = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = df->call;
    h.type = RPC_REPLY;
    struct rpc_error re = {0};
    bool too_large = false;
    if (!message) {
        h.status = RPC_OK;
        if (rpc_msg_encode(&out, &h, type, ret, &err) < 0) {
            /* Too large to send: tell the client instead of going silent. */
            buf_reset(&out);
            code = VIR_ERR_RPC;
            from = VIR_FROM_RPC;
            message = verr_msg(&err);
            too_large = true;
        }
    }
    if (message) {
        rpc_error_set(&re, code, from, "%s%s", too_large ? "reply too large: " : "", message);
        rpc_msg_encode_error(&out, &h, &re, &err);
        rpc_error_free(&re);
    }
    vd_client_send(df->client, &out);
    buf_free(&out);
    vd_client_unref(df->client);
    free(df);
}

void vd_deferred_cancel(struct vd_deferred *df)
{
    vd_client_unref(df->client);
    free(df);
}

void vd_client_ref(struct vd_client *c)
{
    c->refs++;
}

void vd_client_unref(struct vd_client *c)
{
    if (--c->refs > 0) {
        client_update_watch(c); /* a call ended: reading may resume */
        return;
    }
    vd_qemu_client_free(c);
    rpc_reader_free(&c->reader);
    rpc_writer_free(&c->writer);
    buf_free(&c->held);
    tls_session_free(c->tls);
    vd_sasl_conn_free(c->sasl);
    free(c->peer);
    free(c->identity);
    free(c);
}

static void client_free_cb(void *opaque)
{
    vd_client_unref(opaque);
}

static void client_drop(struct vd_client *c)
{
    struct vd_daemon *d = c->d;
    for (struct vd_client **p = &d->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    d->nclients--;
    vd_storage_client_gone(c);
    vd_network_events_client_gone(d, c);
    vd_secret_events_client_gone(d, c);
    vd_migrate_client_gone(d, c);
    if (c->anonymous)
        d->nanonymous--;
    c->anonymous = false;
    if (!d->nclients)
        d->idle_since_ns = monotonic_ns();
    accepting_update(d);
    loop_watch_remove(c->watch);
    close(c->fd);
    c->fd = -1;
    loop_call_soon(d->loop, client_free_cb, c);
}

/* Dispatches the complete messages in data; the last partial one stays in
 * the reader. -1 when the client was dropped. Also the fuzz target's entry
 * (tests/fuzz/fuzz-daemon.c), which has no socket behind the client. */
int vd_client_feed(struct vd_client *c, const uint8_t *data, size_t len)
{
    struct verr err = {0};
    while (len) {
        if (c->fd >= 0 && client_full(c)) {
            /* Each reply counts: keep the rest until the client has read. */
            buf_append(&c->held, data, len);
            client_update_watch(c);
            return 0;
        }
        ssize_t took = rpc_reader_feed(&c->reader, data, len, &err);
        if (took < 0) {
            log_warn("dropping client: %s", verr_msg(&err));
            client_drop(c);
            return -1;
        }
        data += took;
        len -= (size_t)took;
        if (!rpc_reader_done(&c->reader))
            continue;
        size_t mlen;
        const uint8_t *msg = rpc_reader_message(&c->reader, &mlen);
        struct buf out = BUF_INIT;
        struct rpc_dispatcher disp = {NULL,
                                      0,
                                      vd_console_stream,
                                      c,
                                      c->readonly || c->ro_socket,
                                      server_call,
                                      vd_qemu_call,
                                      server_gate};
        int r = rpc_dispatch(&disp, msg, mlen, &out, &err);
        rpc_reader_next(&c->reader);
        if (r < 0) {
            log_warn("dropping client: %s", verr_msg(&err));
            buf_free(&out);
            client_drop(c);
            return -1;
        }
        /* The procedure may have dropped this client through an event push. */
        bool alive = false;
        for (struct vd_client *x = c->d->clients; x; x = x->next)
            alive |= x == c;
        if (!alive) {
            buf_free(&out);
            return -1;
        }
        vd_client_send(c, &out);
        buf_free(&out);
        if (c->fd < 0)
            return -1;
        /* The last SASL step's reply went out in the clear; what follows
         * is wrapped in the negotiated layer. */
        if (c->sasl_layer_next) {
            c->sasl_layer_next = false;
            c->sasl_layer = true;
        }
    }
    return 0;
}

/* Dispatches what was held back while the client was full. */
static int client_resume(struct vd_client *c)
{
    if (!c->held.len)
        return 0;
    struct buf held = c->held;
    c->held = (struct buf)BUF_INIT;
    int r = vd_client_feed(c, held.data, held.len);
    buf_free(&held);
    return r;
}

static void client_resume_cb(void *opaque)
{
    struct vd_client *c = opaque;
    c->resume_queued = false;
    if (c->fd >= 0 && !client_full(c) && client_resume(c) == 0 && !c->held.len && c->tls &&
        tls_session_pending(c->tls))
        on_client(c->d->loop, c->fd, LOOP_READ, c);
    vd_client_unref(c);
}

/* Received bytes: unwrapped from the SASL layer when there is one. */
static int client_take(struct vd_client *c, const uint8_t *data, size_t len)
{
    if (!c->sasl_layer)
        return vd_client_feed(c, data, len);
    struct buf plain = BUF_INIT;
    struct verr err = {0};
    int r = vd_sasl_decode(c->sasl, data, len, &plain, &err);
    if (r < 0) {
        log_warn("dropping client %s: %s", c->peer ? c->peer : "unix", verr_msg(&err));
        buf_free(&plain);
        client_drop(c);
        return -1;
    }
    r = plain.len ? vd_client_feed(c, plain.data, plain.len) : 0;
    buf_free(&plain);
    return r;
}

/* The TLS handshake, then libvirt's confirmation byte. 1 when done. */
static int client_handshake(struct vd_client *c)
{
    struct verr err = {0};
    bool want_write = false;
    int r = tls_session_handshake(c->tls, &want_write, &err);
    if (r < 0) {
        log_warn("refusing TLS client %s: %s", c->peer, verr_msg(&err));
        client_drop(c);
        return -1;
    }
    if (r == 0) {
        loop_watch_set_events(c->watch, want_write ? LOOP_WRITE : LOOP_READ);
        return 0;
    }
    c->handshaking = false;
    const char *dn = tls_session_dname(c->tls);
    if (*dn)
        c->identity = xstrdup(dn);
    if (!c->auth_pending && c->anonymous) {
        c->anonymous = false;
        c->d->nanonymous--;
    }
    log_info("TLS client %s: certificate '%s' accepted", c->peer, dn);
    struct buf ok = BUF_INIT;
    buf_append(&ok, "\1", 1);
    vd_client_send(c, &ok);
    buf_free(&ok);
    return c->fd < 0 ? -1 : 1;
}

static ssize_t client_recv(struct vd_client *c, void *buf, size_t len, struct verr *err)
{
    if (c->tls)
        return tls_session_recv(c->tls, buf, len, err);
    for (;;) {
        ssize_t n = read(c->fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return verr_errno(err, errno, "cannot read from client socket");
    }
}

static void on_client(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd;
    struct vd_client *c = opaque;
    if (c->fd < 0)
        return;
    struct verr err = {0};
    if (c->handshaking) {
        if (client_handshake(c) <= 0)
            return;
        events |= LOOP_READ; /* records may have come with the handshake's end */
    }
    if (events & (LOOP_WRITE | LOOP_HUP)) {
        if (client_flush(c, &err) < 0) {
            client_drop(c);
            return;
        }
        client_update_watch(c);
    }
    if (c->read_paused) {
        /* A hang-up is always reported: a client gone while it is not
         * read from is dropped here instead of waking the loop forever. */
        if (events & LOOP_HUP)
            client_drop(c);
        return;
    }
    if (!(events & (LOOP_READ | LOOP_HUP)))
        return;
    if (client_resume(c) < 0 || c->held.len)
        return;
    /* One read takes whatever the socket holds (a whole small call, or
     * several pipelined ones); rpc_reader_feed cuts it into messages and
     * keeps a partial one. A short read means the socket was empty: the
     * loop (level-triggered) calls again when more arrives. TLS reads go
     * on until the session has nothing left (its buffered records are not
     * seen by the loop). */
    uint8_t ahead[16384];
    for (;;) {
        ssize_t n = client_recv(c, ahead, sizeof(ahead), &err);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            if (n < 0 && err.code != ECONNRESET)
                log_warn("dropping client: %s", verr_msg(&err));
            else if (n == 0 && c->reader.have)
                log_warn("dropping client: connection closed in the middle of a message");
            client_drop(c);
            return;
        }
        if (client_take(c, ahead, (size_t)n) < 0)
            return;
        if (client_full(c)) {
            client_update_watch(c);
            return;
        }
        if (!c->tls && (size_t)n < sizeof(ahead))
            return;
    }
}

static void listeners_watch(struct vd_daemon *d, unsigned events)
{
    loop_watch_set_events(d->lwatch, events);
    loop_watch_set_events(d->lwatch_ro, events);
    if (d->lwatch_lv) {
        loop_watch_set_events(d->lwatch_lv, events);
        loop_watch_set_events(d->lwatch_lv_ro, events);
    }
    for (unsigned i = 0; i < d->ntcp; i++)
        loop_watch_set_events(d->tcp[i].watch, events);
}

/* As libvirtd: at max_clients the listening sockets are not watched, so new
 * connections wait in the kernel's backlog until a client leaves. */
static void accepting_update(struct vd_daemon *d)
{
    bool on = d->nclients < d->max_clients && !d->accept_backoff;
    if (!d->lwatch || on == !d->accept_paused)
        return;
    if (!on && !d->accept_backoff)
        log_info("max_clients (%u) reached: new connections wait", d->max_clients);
    d->accept_paused = !on;
    listeners_watch(d, on ? LOOP_READ : 0);
}

static void on_backoff_end(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    struct vd_daemon *d = opaque;
    d->accept_backoff = false;
    accepting_update(d);
}

/* Out of descriptors: the pending connection stays in the backlog and
 * accept() would fail again at once, so the listening sockets are left
 * alone for a while instead of spinning on them. */
static void accept_failed(struct vd_daemon *d, int e)
{
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
        return; /* EAGAIN, ECONNABORTED...: nothing to wait for */
    if (!d->backoff)
        d->backoff = loop_timer_new(d->loop, on_backoff_end, d);
    log_warn("cannot accept a client: %s; not accepting for 200 ms", strerror(e));
    d->accept_backoff = true;
    accepting_update(d);
    loop_timer_arm(d->backoff, 200000000ull, 0);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_daemon *d = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        accept_failed(d, errno);
        return;
    }
    if (d->nclients >= d->max_clients) {
        log_warn("refusing client: max_clients (%u) reached", d->max_clients);
        close(cfd);
        return;
    }
    struct verr err = {0};
    bool ro = fd == d->lfd_ro || fd == d->lfd_lv_ro;
    struct vd_client *c = vd_client_new(d, cfd, ro, &err);
    if (!c) {
        log_error("%s", verr_msg(&err));
        return;
    }
    c->auth = ro ? d->auth_unix_ro : d->auth_unix_rw;
    c->auth_pending = c->auth == VD_AUTH_SASL;
    if (c->auth_pending) {
        c->sasl = vd_sasl_conn_new(d->sasl, NULL, NULL, 0, &err);
        if (!c->sasl) {
            log_error("UNIX client: %s", verr_msg(&err));
            client_drop(c);
        }
    }
}

static char *sockaddr_text(const struct sockaddr_storage *sa, socklen_t len)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return xstrdup("unknown");
    return xasprintf("%s;%s", host, serv); /* Cyrus SASL's IP;PORT */
}

/* A TCP client has this long to finish its TLS handshake and SASL exchange:
 * without it, max_anonymous_clients idle connections would lock every
 * remote client out for good. */
#define VD_AUTH_DEADLINE_S 30

static void on_anon_check(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop;
    struct vd_daemon *d = opaque;
    uint64_t now = monotonic_ns();
    for (struct vd_client *c = d->clients, *next; c; c = next) {
        next = c->next;
        if (c->anonymous && now - c->since_ns >= VD_AUTH_DEADLINE_S * 1000000000ull) {
            log_warn("dropping client %s: not authenticated within %d s", c->peer,
                     VD_AUTH_DEADLINE_S);
            client_drop(c);
        }
    }
    if (!d->nanonymous)
        loop_timer_disarm(t);
}

static void on_accept_tcp(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_tcp_listener *l = opaque;
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof(peer), llen = sizeof(local);
    int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct vd_daemon *dd = l->daemon;
    if (cfd < 0) {
        accept_failed(dd, errno);
        return;
    }
    /* Calls and replies are small and each waits for the other: no Nagle. */
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char *peer_s = sockaddr_text(&peer, plen);
    enum vd_auth auth = l->transport == VD_TRANSPORT_TLS ? dd->auth_tls : dd->auth_tcp;
    bool anon = l->transport == VD_TRANSPORT_TLS || auth == VD_AUTH_SASL;
    if (dd->nclients >= dd->max_clients || (anon && dd->nanonymous >= dd->max_anonymous)) {
        log_warn("refusing client %s: %s (%u) reached", peer_s,
                 dd->nclients >= dd->max_clients ? "max_clients" : "max_anonymous_clients",
                 dd->nclients >= dd->max_clients ? dd->max_clients : dd->max_anonymous);
        close(cfd);
        free(peer_s);
        return;
    }
    struct verr err = {0};
    struct vd_client *c = vd_client_new(dd, cfd, false, &err);
    if (!c) {
        log_error("%s", verr_msg(&err));
        free(peer_s);
        return;
    }
    c->peer = peer_s;
    c->transport = l->transport;
    c->auth = auth;
    c->auth_pending = auth == VD_AUTH_SASL;
    if (anon) {
        c->anonymous = true;
        c->since_ns = monotonic_ns();
        dd->nanonymous++;
        if (!dd->anon_timer)
            dd->anon_timer = loop_timer_new(dd->loop, on_anon_check, dd);
        if (!loop_timer_armed(dd->anon_timer))
            loop_timer_arm(dd->anon_timer, 1000000000ull, 1000000000ull);
    }
    if (c->auth == VD_AUTH_SASL) {
        char *local_s = getsockname(cfd, (struct sockaddr *)&local, &llen) == 0
                            ? sockaddr_text(&local, llen)
                            : NULL;
        c->sasl = vd_sasl_conn_new(dd->sasl, local_s, peer_s,
                                   l->transport == VD_TRANSPORT_TCP ? 56 : 0, &err);
        free(local_s);
        if (!c->sasl) {
            log_error("client %s: %s", peer_s, verr_msg(&err));
            client_drop(c);
            return;
        }
    }
    if (l->transport == VD_TRANSPORT_TLS) {
        c->tls = tls_session_new(dd->tls, cfd, &err);
        if (!c->tls) {
            log_error("client %s: %s", peer_s, verr_msg(&err));
            client_drop(c);
            return;
        }
        c->handshaking = true;
    }
    log_debug("client %s connected over %s", peer_s,
              l->transport == VD_TRANSPORT_TLS ? "TLS" : "TCP");
}

struct vd_client *vd_client_new(struct vd_daemon *d, int cfd, bool ro_socket, struct verr *err)
{
    struct vd_client *c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->fd = cfd;
    c->refs = 1;
    c->ro_socket = ro_socket;
    rpc_reader_init(&c->reader);
    rpc_writer_init(&c->writer);
    c->watch = loop_watch_fd(d->loop, cfd, LOOP_READ, on_client, c, err);
    if (!c->watch) {
        close(cfd);
        client_free_cb(c);
        return NULL;
    }
    c->next = d->clients;
    d->clients = c;
    d->nclients++;
    accepting_update(d);
    return c;
}

void vd_client_close(struct vd_client *c)
{
    if (c->fd >= 0)
        client_drop(c);
}

int vd_server_start(struct vd_daemon *d, struct verr *err)
{
    vd_server_attach_sink(d);
    int r = vd_listen(d, err);
    if (r == 0)
        r = vd_listen_libvirt(d, err);
    if (r == 0)
        r = vd_listen_tcp(d, err);
    if (r < 0)
        return r;
    d->lwatch = loop_watch_fd(d->loop, d->lfd, LOOP_READ, on_accept, d, err);
    d->lwatch_ro = loop_watch_fd(d->loop, d->lfd_ro, LOOP_READ, on_accept, d, err);
    if (!d->lwatch || !d->lwatch_ro)
        return -EIO;
    if (d->lfd_lv >= 0) {
        d->lwatch_lv = loop_watch_fd(d->loop, d->lfd_lv, LOOP_READ, on_accept, d, err);
        d->lwatch_lv_ro = loop_watch_fd(d->loop, d->lfd_lv_ro, LOOP_READ, on_accept, d, err);
        if (!d->lwatch_lv || !d->lwatch_lv_ro)
            return -EIO;
    }
    for (unsigned i = 0; i < d->ntcp; i++) {
        d->tcp[i].daemon = d;
        d->tcp[i].watch =
            loop_watch_fd(d->loop, d->tcp[i].fd, LOOP_READ, on_accept_tcp, &d->tcp[i], err);
        if (!d->tcp[i].watch)
            return -EIO;
    }
    d->idle_since_ns = monotonic_ns();
    return 0;
}

void vd_server_stop(struct vd_daemon *d)
{
    while (d->clients) {
        struct vd_client *c = d->clients;
        d->clients = c->next;
        close(c->fd);
        c->fd = -1;
        vd_client_unref(c);
    }
    loop_timer_free(d->backoff);
    d->backoff = NULL;
    loop_timer_free(d->anon_timer);
    d->anon_timer = NULL;
    vd_unlisten(d);
}
