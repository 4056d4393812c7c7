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
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

static void client_drop(struct vd_client *c);
static void accepting_update(struct vd_daemon *d);

static const struct vd_proc_table *const tables[] = {
    &vd_host_procs,    &vd_domain_procs,     &vd_lifecycle_procs, &vd_event_procs,
    &vd_console_procs, &vd_screenshot_procs, &vd_send_key_procs,  &vd_save_procs,
    &vd_stats_procs,   &vd_migrate_procs,    &vd_tune_procs,      &vd_node_stats_procs,
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

void vd_server_fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom)
{
    out->name = xstrdup(dom->def->name);
    memcpy(out->uuid, dom->def->uuid, 16);
    out->id = dom->id;
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
    d->sink.console = vd_console_output;
    d->sink.monitor_event = vd_qemu_monitor_event;
    d->sink.ctx = d;
}

static void client_update_watch(struct vd_client *c)
{
    loop_watch_set_events(c->watch, LOOP_READ | (rpc_writer_pending(&c->writer) ? LOOP_WRITE : 0));
}

void vd_client_send(struct vd_client *c, struct buf *out)
{
    if (c->fd < 0 || !out->len)
        return;
    rpc_writer_push(&c->writer, out);
    struct verr err = {0};
    if (rpc_writer_flush(&c->writer, c->fd, &err) < 0) {
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
    if (--c->refs > 0)
        return;
    vd_qemu_client_free(c);
    rpc_reader_free(&c->reader);
    rpc_writer_free(&c->writer);
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
        struct rpc_dispatcher disp = {
            NULL, 0, vd_console_stream, c, c->readonly || c->ro_socket, server_call, vd_qemu_call};
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
    }
    return 0;
}

static void on_client(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd;
    struct vd_client *c = opaque;
    if (c->fd < 0)
        return;
    struct verr err = {0};
    if (events & LOOP_WRITE) {
        if (rpc_writer_flush(&c->writer, c->fd, &err) < 0) {
            client_drop(c);
            return;
        }
        client_update_watch(c);
    }
    if (!(events & (LOOP_READ | LOOP_HUP)))
        return;
    /* One read takes whatever the socket holds (a whole small call, or
     * several pipelined ones); rpc_reader_feed cuts it into messages and
     * keeps a partial one. A short read means the socket was empty: the
     * loop (level-triggered) calls again when more arrives. */
    uint8_t ahead[16384];
    for (;;) {
        ssize_t n = read(c->fd, ahead, sizeof(ahead));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n < 0 && errno != ECONNRESET)
                log_warn("dropping client: cannot read from client socket: %s", strerror(errno));
            else if (n == 0 && c->reader.have)
                log_warn("dropping client: connection closed in the middle of a message");
            client_drop(c);
            return;
        }
        if (vd_client_feed(c, ahead, (size_t)n) < 0 || (size_t)n < sizeof(ahead))
            return;
    }
}

/* As libvirtd: at max_clients the listening sockets are not watched, so new
 * connections wait in the kernel's backlog until a client leaves. */
static void accepting_update(struct vd_daemon *d)
{
    bool on = d->nclients < d->max_clients;
    if (!d->lwatch || on == !d->accept_paused)
        return;
    if (!on)
        log_info("max_clients (%u) reached: new connections wait", d->max_clients);
    d->accept_paused = !on;
    loop_watch_set_events(d->lwatch, on ? LOOP_READ : 0);
    loop_watch_set_events(d->lwatch_ro, on ? LOOP_READ : 0);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_daemon *d = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    if (d->nclients >= d->max_clients) {
        log_warn("refusing client: max_clients (%u) reached", d->max_clients);
        close(cfd);
        return;
    }
    struct verr err = {0};
    if (!vd_client_new(d, cfd, fd == d->lfd_ro, &err))
        log_error("%s", verr_msg(&err));
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
    if (r < 0)
        return r;
    d->lwatch = loop_watch_fd(d->loop, d->lfd, LOOP_READ, on_accept, d, err);
    d->lwatch_ro = loop_watch_fd(d->loop, d->lfd_ro, LOOP_READ, on_accept, d, err);
    if (!d->lwatch || !d->lwatch_ro)
        return -EIO;
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
    vd_unlisten(d);
}
