/*
 * remote-driver.c - libvireo's driver for vireod: every operation is one call
 * of the libvirt remote protocol over a UNIX socket (src/rpc/client.h).
 *
 * It serves vireo:///system and, as an alias, qemu:///system (also
 * /session), with libvirt's URI forms and transports (remote-transport.c:
 * unix, tcp, tls, ssh; "?socket=PATH" picks the socket, by default the
 * daemon's: /run/vireo/vireo-sock as root, $XDG_RUNTIME_DIR/vireo/
 * vireo-sock otherwise, and the -ro socket for a read-only connection) and
 * SASL when the daemon asks for it (remote-sasl.c).
 * Errors come back as the daemon wrote them (code and whole message), so
 * vsh prints what virsh prints.
 *
 * Events and console data arrive between replies: the rpc client hands
 * them to on_message, which queues lifecycle events and appends console
 * bytes to the open stream (network lifecycle events too, each with the server's callback id
 * of its local callback); vir_connect_process_events() waits on the
 * socket and then runs the callbacks, so a callback never runs inside
 * another call (it may make calls itself). Lifecycle events are asked for
 * with one server-side callback (the callback form libvirt's clients use)
 * whatever the number of local callbacks; the local layer filters them.
 *
 * TODO: one stream per connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/driver.h"
#include "lib/remote-transport.h"
#include "rpc/qemu_protocol.h"
#include "rpc/client.h"
#include "rpc/dispatch.h"
#include "rpc/xdr.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

struct queued_event {
    struct queued_event *next;
    char *name; /* a secret's: its usage id; a pool's: its name */
    unsigned char uuid[16];
    int id, event, detail; /* a secret's id: its usage type */
    int net_callback;      /* a network, secret or pool event: the server's callback id; -1 for a
                              domain's */
    int secret_event;      /* a secret's: its vir_secret_event_id; -1 otherwise */
    int pool_event;        /* a storage pool's: its vir_storage_pool_event_id; -1 otherwise */
};

struct remote_priv {
    struct rpc_client client;
    vir_connect *conn;
    int server_callback; /* the server's lifecycle callback id, -1 none */
    struct queued_event *events, **events_tail;
    vir_stream *stream;    /* the open console, if any */
    struct rpc_sasl *sasl; /* the SASL session (and security layer), if any */
};

static struct rpc_client *cl(vir_connect *conn)
{
    return &((struct remote_priv *)conn->priv)->client;
}

/* Makes one call; a server error becomes the vir_error as the server
 * worded it. */
static int call(vir_connect *conn, int proc, const void *args, void *ret, vir_error *err)
{
    struct rpc_error remote = {0};
    struct verr e = {0};
    int r = rpc_client_call(cl(conn), proc, args, ret, &remote, &e);
    if (r == -EREMOTEIO) {
        if (err) {
            err->code = remote.code;
            str_copy(err->message, sizeof(err->message),
                     remote.message ? remote.message : "unknown error");
        }
        rpc_error_free(&remote);
        return -1;
    }
    if (r < 0)
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "%s", verr_msg(&e));
    return 0;
}

static void to_wire(const vir_domain *dom, struct remote_nonnull_domain *d);

int vir_remote_call(vir_connect *conn, int proc, const void *args, void *ret, vir_error *err)
{
    return call(conn, proc, args, ret, err);
}

static void stream_error(vir_stream *st, const uint8_t *payload, size_t len)
{
    struct rpc_error e = {0};
    struct xdr_dec dec;
    struct verr verr = {0};
    xdr_dec_init(&dec, payload, len, &verr);
    st->failed = true;
    st->error.code = VIR_ERR_INTERNAL_ERROR;
    if (rpc_error_decode(&dec, &e) == 0 && e.message) {
        st->error.code = e.code;
        str_copy(st->error.message, sizeof(st->error.message), e.message);
    } else {
        str_copy(st->error.message, sizeof(st->error.message), "stream error");
    }
    rpc_error_free(&e);
}

/* Events and stream data: called by the rpc client between replies. */
static void on_message(void *opaque, const struct rpc_header *h, const uint8_t *payload, size_t len)
{
    struct remote_priv *p = opaque;
    if (h->type == RPC_STREAM) {
        vir_stream *st = p->stream;
        if (!st || h->serial != st->serial || h->proc != st->proc)
            return;
        if (h->status == RPC_CONTINUE && len)
            vir_stream_push(st, payload, len);
        else if (h->status == RPC_CONTINUE)
            st->data_end = true; /* libvirt's end of a server's data */
        else if (h->status == RPC_OK)
            st->eof = true;
        else
            stream_error(st, payload, len);
        return;
    }
    if (h->proc != REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE &&
        h->proc != REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE &&
        h->proc != REMOTE_PROC_NETWORK_EVENT_LIFECYCLE &&
        h->proc != REMOTE_PROC_SECRET_EVENT_LIFECYCLE &&
        h->proc != REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED &&
        h->proc != REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE &&
        h->proc != REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH)
        return;
    const struct remote_proc *proc = remote_proc_lookup(h->proc);
    void *msg = NULL;
    struct verr verr = {0};
    if (!proc || rpc_payload_decode(proc->args, payload, len, &msg, &verr) < 0)
        return; /* a malformed event is dropped, the connection goes on */
    struct queued_event *q = xcalloc(1, sizeof(*q));
    q->secret_event = -1;
    q->pool_event = -1;
    if (h->proc == REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE ||
        h->proc == REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH) {
        const struct remote_nonnull_storage_pool *pool;
        if (h->proc == REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE) {
            const struct remote_storage_pool_event_lifecycle_msg *l = msg;
            pool = &l->pool;
            q->net_callback = l->callbackID;
            q->event = l->event;
            q->detail = l->detail;
            q->pool_event = VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE;
        } else {
            const struct remote_storage_pool_event_refresh_msg *r = msg;
            pool = &r->pool;
            q->net_callback = r->callbackID;
            q->pool_event = VIR_STORAGE_POOL_EVENT_ID_REFRESH;
        }
        q->name = xstrdup(pool->name ? pool->name : "");
        memcpy(q->uuid, pool->uuid, 16);
        *p->events_tail = q;
        p->events_tail = &q->next;
        rpc_payload_free(proc->args, msg);
        return;
    }
    if (h->proc == REMOTE_PROC_SECRET_EVENT_LIFECYCLE ||
        h->proc == REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED) {
        const struct remote_nonnull_secret *sec;
        if (h->proc == REMOTE_PROC_SECRET_EVENT_LIFECYCLE) {
            const struct remote_secret_event_lifecycle_msg *l = msg;
            sec = &l->secret;
            q->net_callback = l->callbackID;
            q->event = l->event;
            q->detail = l->detail;
            q->secret_event = VIR_SECRET_EVENT_ID_LIFECYCLE;
        } else {
            const struct remote_secret_event_value_changed_msg *v = msg;
            sec = &v->secret;
            q->net_callback = v->callbackID;
            q->secret_event = VIR_SECRET_EVENT_ID_VALUE_CHANGED;
        }
        q->name = xstrdup(sec->usageID ? sec->usageID : "");
        memcpy(q->uuid, sec->uuid, 16);
        q->id = sec->usageType;
        *p->events_tail = q;
        p->events_tail = &q->next;
        rpc_payload_free(proc->args, msg);
        return;
    }
    if (h->proc == REMOTE_PROC_NETWORK_EVENT_LIFECYCLE) {
        const struct remote_network_event_lifecycle_msg *n = msg;
        q->name = xstrdup(n->net.name);
        memcpy(q->uuid, n->net.uuid, 16);
        q->net_callback = n->callbackID;
        q->event = n->event;
        q->detail = n->detail;
        *p->events_tail = q;
        p->events_tail = &q->next;
        rpc_payload_free(proc->args, msg);
        return;
    }
    const struct remote_domain_event_lifecycle_msg *m =
        h->proc == REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE
            ? msg
            : &((const struct remote_domain_event_callback_lifecycle_msg *)msg)->msg;
    q->net_callback = -1;
    q->name = xstrdup(m->dom.name);
    memcpy(q->uuid, m->dom.uuid, 16);
    q->id = m->dom.id;
    q->event = m->event;
    q->detail = m->detail;
    *p->events_tail = q;
    p->events_tail = &q->next;
    rpc_payload_free(proc->args, msg);
}

static void deliver_events(vir_connect *conn)
{
    struct remote_priv *p = conn->priv;
    while (p->events) {
        struct queued_event *q = p->events;
        p->events = q->next;
        if (!p->events)
            p->events_tail = &p->events;
        if (q->pool_event >= 0)
            vir_emit_pool_event(conn, q->net_callback, q->pool_event, q->name, q->uuid, q->event,
                                q->detail);
        else if (q->secret_event >= 0)
            vir_emit_secret_event(conn, q->net_callback, q->secret_event, q->uuid, q->id, q->name,
                                  q->event, q->detail);
        else if (q->net_callback >= 0)
            vir_emit_network_lifecycle(conn, q->net_callback, q->name, q->uuid, q->event,
                                       q->detail);
        else
            vir_emit_lifecycle(conn, q->name, q->uuid, q->id, q->event, q->detail);
        free(q->name);
        free(q);
    }
}

static int remote_event_fd(vir_connect *conn)
{
    return cl(conn)->fd;
}

static int remote_process_events(vir_connect *conn, int timeout_ms, vir_error *err)
{
    struct remote_priv *p = conn->priv;
    struct verr e = {0};
    int n = 0;
    if (!p->events) {
        int r = rpc_client_poll(&p->client, timeout_ms, &e);
        if (r < 0) {
            if (p->stream)
                p->stream->eof = true;
            return vir_report(err, VIR_ERR_INTERNAL_ERROR, "%s", verr_msg(&e));
        }
        n = r;
        /* take whatever else has already arrived */
        while (n < 64 && (r = rpc_client_poll(&p->client, 0, &e)) > 0)
            n++;
    }
    deliver_events(conn);
    return n;
}

static int remote_lifecycle_events(vir_connect *conn, bool on, vir_error *err)
{
    struct remote_priv *p = conn->priv;
    if (on && p->server_callback < 0) {
        struct remote_connect_domain_event_callback_register_any_args a = {
            .eventID = VIR_DOMAIN_EVENT_ID_LIFECYCLE};
        struct remote_connect_domain_event_callback_register_any_ret r = {0};
        if (call(conn, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, &a, &r, err) < 0)
            return -1;
        p->server_callback = r.callbackID;
    } else if (!on && p->server_callback >= 0) {
        struct remote_connect_domain_event_callback_deregister_any_args a = {
            .callbackID = p->server_callback};
        p->server_callback = -1;
        return call(conn, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, &a, NULL, err);
    }
    return 0;
}

static int remote_open_console(vir_domain *dom, const char *dev_name, unsigned int flags,
                               vir_stream *st, vir_error *err)
{
    struct remote_priv *p = dom->conn->priv;
    if (p->stream)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "this connection already has a stream open");
    struct remote_domain_open_console_args a = {.dev_name = (char *)dev_name, .flags = flags};
    to_wire(dom, &a.dom);
    /* Data may follow the reply at once: route it from the call's serial on. */
    st->proc = REMOTE_PROC_DOMAIN_OPEN_CONSOLE;
    st->serial = p->client.serial + 1;
    p->stream = st;
    if (call(dom->conn, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, &a, NULL, err) < 0) {
        p->stream = NULL;
        return -1;
    }
    return 0;
}

static int remote_send_key(vir_domain *dom, unsigned int codeset, unsigned int holdtime,
                           const unsigned int *keycodes, int nkeycodes, unsigned int flags,
                           vir_error *err)
{
    struct remote_domain_send_key_args a = {.codeset = codeset,
                                            .holdtime = holdtime,
                                            .keycodes_len = (uint32_t)nkeycodes,
                                            .keycodes = (uint32_t *)keycodes,
                                            .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SEND_KEY, &a, NULL, err);
}

static int remote_screenshot(vir_domain *dom, unsigned int screen, unsigned int flags,
                             vir_stream *st, char **mime, vir_error *err)
{
    struct remote_priv *p = dom->conn->priv;
    if (p->stream)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "this connection already has a stream open");
    struct remote_domain_screenshot_args a = {.screen = screen, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_screenshot_ret r = {0};
    /* The image follows the reply at once: route it from the call's serial on. */
    st->proc = REMOTE_PROC_DOMAIN_SCREENSHOT;
    st->serial = p->client.serial + 1;
    p->stream = st;
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SCREENSHOT, &a, &r, err) < 0) {
        p->stream = NULL;
        return -1;
    }
    *mime = r.mime ? r.mime : xstrdup("application/octet-stream");
    return 0;
}

static int remote_rpc_stream_call(vir_connect *conn, int proc, const void *args, vir_stream *st,
                                  vir_error *err)
{
    struct remote_priv *p = conn->priv;
    if (p->stream)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "this connection already has a stream open");
    /* Data may follow the reply at once: route it from the call's serial on. */
    st->proc = proc;
    st->serial = p->client.serial + 1;
    p->stream = st;
    if (call(conn, proc, args, NULL, err) < 0) {
        p->stream = NULL;
        return -1;
    }
    return 0;
}

static int remote_stream_send(vir_stream *st, const char *data, size_t len, vir_error *err)
{
    struct verr e = {0};
    if (rpc_client_stream_send(cl(st->conn), st->proc, st->serial, RPC_CONTINUE, data, len, &e) < 0)
        return vir_report(err, VIR_ERR_WRITE_FAILED, "%s", verr_msg(&e));
    return 0;
}

static int remote_stream_send_hole(vir_stream *st, long long length, vir_error *err)
{
    struct verr e = {0};
    if (rpc_client_stream_hole(cl(st->conn), st->proc, st->serial, length, &e) < 0)
        return vir_report(err, VIR_ERR_WRITE_FAILED, "%s", verr_msg(&e));
    return 0;
}

static int remote_stream_finish(vir_stream *st, vir_error *err)
{
    struct verr e = {0};
    if (rpc_client_stream_send(cl(st->conn), st->proc, st->serial, RPC_OK, NULL, 0, &e) < 0)
        return vir_report(err, VIR_ERR_WRITE_FAILED, "%s", verr_msg(&e));
    /* The server confirms with its own end of the stream. */
    for (int i = 0; i < 50 && !st->eof && !st->failed; i++)
        if (rpc_client_poll(cl(st->conn), 100, &e) < 0)
            break;
    st->eof = true;
    return 0;
}

static void remote_stream_close(vir_stream *st)
{
    struct remote_priv *p = st->conn->priv;
    if (p && p->stream == st)
        p->stream = NULL;
}

static int remote_open(vir_connect *conn, vir_error *err)
{
    struct remote_priv *p = xcalloc(1, sizeof(*p));
    char *host = NULL;
    bool secure = true;
    if (remote_transport_open(conn, &p->client, &host, &secure, err) < 0) {
        free(host);
        free(p);
        return -1;
    }
    conn->priv = p;
    p->conn = conn;
    p->server_callback = -1;
    p->events_tail = &p->events;
    p->client.on_message = on_message;
    p->client.opaque = p;
    struct remote_connect_open_args a = {.name = NULL, .flags = conn->flags & VIR_CONNECT_RO};
    struct remote_auth_list_ret auth = {0};
    int r = call(conn, REMOTE_PROC_AUTH_LIST, NULL, &auth, err);
    if (r == 0 && auth.types_len && auth.types[0] == 1 /* REMOTE_AUTH_SASL */)
        r = remote_sasl_auth(conn, &p->client, host, secure, &p->sasl, err);
    else if (r == 0 && auth.types_len && auth.types[0] != 0)
        r = vir_report(err, VIR_ERR_AUTH_FAILED,
                       "authentication failed: the server asks for polkit, which vireo does "
                       "not do");
    if (r == 0)
        r = call(conn, REMOTE_PROC_CONNECT_OPEN, &a, NULL, err);
    remote_auth_list_ret_free(&auth);
    free(host);
    if (r < 0) {
        rpc_client_close(&p->client);
        remote_sasl_free(p->sasl);
        free(p);
        conn->priv = NULL;
        return -1;
    }
    return 0;
}

static void remote_close(vir_connect *conn)
{
    struct remote_priv *p = conn->priv;
    if (!p)
        return;
    call(conn, REMOTE_PROC_CONNECT_CLOSE, NULL, NULL, NULL);
    rpc_client_close(&p->client);
    remote_sasl_free(p->sasl);
    while (p->events) {
        struct queued_event *q = p->events;
        p->events = q->next;
        free(q->name);
        free(q);
    }
    free(p);
}

static char *remote_get_hostname(vir_connect *conn, vir_error *err)
{
    struct remote_connect_get_hostname_ret r = {0};
    if (call(conn, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, &r, err) < 0)
        return NULL;
    return r.hostname;
}

static int remote_get_version(vir_connect *conn, unsigned long *version, vir_error *err)
{
    struct remote_connect_get_version_ret r = {0};
    if (call(conn, REMOTE_PROC_CONNECT_GET_VERSION, NULL, &r, err) < 0)
        return -1;
    *version = (unsigned long)r.hv_ver;
    return 0;
}

static char *remote_get_capabilities(vir_connect *conn, vir_error *err)
{
    struct remote_connect_get_capabilities_ret r = {0};
    if (call(conn, REMOTE_PROC_CONNECT_GET_CAPABILITIES, NULL, &r, err) < 0)
        return NULL;
    return r.capabilities;
}

static int remote_node_get_info(vir_connect *conn, vir_node_info *info, vir_error *err)
{
    struct remote_node_get_info_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_INFO, NULL, &r, err) < 0)
        return -1;
    memset(info, 0, sizeof(*info));
    memcpy(info->model, r.model, sizeof(info->model) - 1);
    info->memory = (unsigned long)r.memory;
    info->cpus = (unsigned)r.cpus;
    info->mhz = (unsigned)r.mhz;
    info->nodes = (unsigned)r.nodes;
    info->sockets = (unsigned)r.sockets;
    info->cores = (unsigned)r.cores;
    info->threads = (unsigned)r.threads;
    remote_node_get_info_ret_free(&r);
    return 0;
}

static vir_domain *handle(vir_connect *conn, const struct remote_nonnull_domain *d)
{
    return vir_domain_handle_new(conn, d->name, d->uuid, d->id);
}

static void to_wire(const vir_domain *dom, struct remote_nonnull_domain *d)
{
    d->name = dom->name; /* borrowed: never freed through this structure */
    memcpy(d->uuid, dom->uuid, 16);
    d->id = dom->id;
}

/* virsh's order, which callers (vsh list) rely on as the test driver gives
 * it: running domains by id, then the others by name. */
static int cmp_wire(const void *a, const void *b)
{
    const struct remote_nonnull_domain *x = a, *y = b;
    bool xa = x->id >= 0, ya = y->id >= 0;
    if (xa != ya)
        return xa ? -1 : 1;
    if (xa)
        return x->id - y->id;
    return strcmp(x->name, y->name);
}

static int remote_list_all(vir_connect *conn, vir_domain ***domains, unsigned int flags,
                           vir_error *err)
{
    struct remote_connect_list_all_domains_args a = {.need_results = domains != NULL,
                                                     .flags = flags};
    struct remote_connect_list_all_domains_ret r = {0};
    if (call(conn, REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, &a, &r, err) < 0)
        return -1;
    if (domains) {
        if (r.domains_len > 1) /* (an empty list comes as NULL) */
            qsort(r.domains, r.domains_len, sizeof(*r.domains), cmp_wire);
        *domains = xcalloc(r.domains_len + 1, sizeof(**domains));
        for (size_t i = 0; i < r.domains_len; i++)
            (*domains)[i] = handle(conn, &r.domains[i]);
    }
    int n = r.ret;
    remote_connect_list_all_domains_ret_free(&r);
    return n;
}

#define LOOKUP(fn, proc, argtype, rettype, field, value)                                           \
    static vir_domain *fn                                                                          \
    {                                                                                              \
        struct argtype a = {0};                                                                    \
        field;                                                                                     \
        struct rettype r = {0};                                                                    \
        if (call(conn, proc, &a, &r, err) < 0)                                                     \
            return NULL;                                                                           \
        vir_domain *dom = handle(conn, &r.dom);                                                    \
        rettype##_free(&r);                                                                        \
        (void)(value);                                                                             \
        return dom;                                                                                \
    }

LOOKUP(remote_lookup_by_name(vir_connect *conn, const char *name, vir_error *err),
       REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, remote_domain_lookup_by_name_args,
       remote_domain_lookup_by_name_ret, a.name = (char *)name, 0)
LOOKUP(remote_lookup_by_id(vir_connect *conn, int id, vir_error *err),
       REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, remote_domain_lookup_by_id_args,
       remote_domain_lookup_by_id_ret, a.id = id, 0)
LOOKUP(remote_lookup_by_uuid(vir_connect *conn, const unsigned char *uuid, vir_error *err),
       REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, remote_domain_lookup_by_uuid_args,
       remote_domain_lookup_by_uuid_ret, memcpy(a.uuid, uuid, 16), 0)

static vir_domain *remote_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                     vir_error *err)
{
    struct remote_domain_define_xml_flags_args a = {.xml = (char *)xml, .flags = flags};
    struct remote_domain_define_xml_flags_ret r = {0};
    if (call(conn, REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, &a, &r, err) < 0)
        return NULL;
    vir_domain *dom = handle(conn, &r.dom);
    remote_domain_define_xml_flags_ret_free(&r);
    return dom;
}

static vir_domain *remote_create_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                     vir_error *err)
{
    struct remote_domain_create_xml_args a = {.xml_desc = (char *)xml, .flags = flags};
    struct remote_domain_create_xml_ret r = {0};
    if (call(conn, REMOTE_PROC_DOMAIN_CREATE_XML, &a, &r, err) < 0)
        return NULL;
    vir_domain *dom = handle(conn, &r.dom);
    remote_domain_create_xml_ret_free(&r);
    return dom;
}

/* Procedures whose arguments are (dom, uint flags) and whose reply is empty. */
static int dom_flags_call(vir_domain *dom, int proc, unsigned flags, vir_error *err)
{
    struct remote_domain_destroy_flags_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, proc, &a, NULL, err);
}

/* Procedures whose arguments are (dom) and whose reply is empty. */
static int dom_call(vir_domain *dom, int proc, vir_error *err)
{
    struct remote_domain_destroy_args a = {0};
    to_wire(dom, &a.dom);
    return call(dom->conn, proc, &a, NULL, err);
}

static int remote_undefine(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, flags, err);
}

static int remote_create(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_create_with_flags_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_create_with_flags_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, &a, &r, err) < 0)
        return -1;
    dom->id = r.dom.id;
    remote_domain_create_with_flags_ret_free(&r);
    return 0;
}

static int remote_shutdown(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, flags, err);
}

static int remote_destroy(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_DESTROY_FLAGS, flags, err);
}

static int remote_reboot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_REBOOT, flags, err);
}

static int remote_reset(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_RESET, flags, err);
}

static int remote_suspend(vir_domain *dom, vir_error *err)
{
    return dom_call(dom, REMOTE_PROC_DOMAIN_SUSPEND, err);
}

static int remote_resume(vir_domain *dom, vir_error *err)
{
    return dom_call(dom, REMOTE_PROC_DOMAIN_RESUME, err);
}

static int remote_save(vir_domain *dom, const char *path, const char *dxml, unsigned int flags,
                       vir_error *err)
{
    struct remote_domain_save_flags_args a = {
        .to = (char *)path, .dxml = (char *)dxml, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SAVE_FLAGS, &a, NULL, err);
}

static int remote_restore(vir_connect *conn, const char *path, const char *dxml, unsigned int flags,
                          vir_error *err)
{
    struct remote_domain_restore_flags_args a = {
        .from = (char *)path, .dxml = (char *)dxml, .flags = flags};
    return call(conn, REMOTE_PROC_DOMAIN_RESTORE_FLAGS, &a, NULL, err);
}

static int remote_managed_save(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_MANAGED_SAVE, flags, err);
}

static int remote_managed_save_remove(vir_domain *dom, unsigned int flags, vir_error *err)
{
    return dom_flags_call(dom, REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE, flags, err);
}

static char *remote_save_image_get_xml_desc(vir_connect *conn, const char *path, unsigned int flags,
                                            vir_error *err)
{
    struct remote_domain_save_image_get_xml_desc_args a = {.file = (char *)path, .flags = flags};
    struct remote_domain_save_image_get_xml_desc_ret r = {0};
    if (call(conn, REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static int remote_save_image_define_xml(vir_connect *conn, const char *path, const char *dxml,
                                        unsigned int flags, vir_error *err)
{
    struct remote_domain_save_image_define_xml_args a = {
        .file = (char *)path, .dxml = (char *)dxml, .flags = flags};
    return call(conn, REMOTE_PROC_DOMAIN_SAVE_IMAGE_DEFINE_XML, &a, NULL, err);
}

static char *remote_managed_save_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_managed_save_get_xml_desc_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_managed_save_get_xml_desc_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_MANAGED_SAVE_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static int remote_managed_save_define_xml(vir_domain *dom, const char *dxml, unsigned int flags,
                                          vir_error *err)
{
    struct remote_domain_managed_save_define_xml_args a = {.dxml = (char *)dxml, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_MANAGED_SAVE_DEFINE_XML, &a, NULL, err);
}

static int remote_has_managed_save(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_has_managed_save_image_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_has_managed_save_image_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, &a, &r, err) < 0)
        return -1;
    return r.result;
}

static int remote_get_id(vir_domain *dom, vir_error *err)
{
    struct remote_domain_lookup_by_uuid_args a = {0};
    memcpy(a.uuid, dom->uuid, 16);
    struct remote_domain_lookup_by_uuid_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, &a, &r, err) < 0)
        return dom->id;
    int id = r.dom.id;
    remote_domain_lookup_by_uuid_ret_free(&r);
    return id;
}

static char *remote_get_os_type(vir_domain *dom, vir_error *err)
{
    struct remote_domain_get_os_type_args a = {0};
    to_wire(dom, &a.dom);
    struct remote_domain_get_os_type_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_OS_TYPE, &a, &r, err) < 0)
        return NULL;
    return r.type;
}

static int remote_get_info(vir_domain *dom, vir_domain_info *info, vir_error *err)
{
    struct remote_domain_get_info_args a = {0};
    to_wire(dom, &a.dom);
    struct remote_domain_get_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_INFO, &a, &r, err) < 0)
        return -1;
    info->state = r.state;
    info->max_mem = (unsigned long)r.maxMem;
    info->memory = (unsigned long)r.memory;
    info->nr_virt_cpu = r.nrVirtCpu;
    info->cpu_time = r.cpuTime;
    return 0;
}

static int remote_get_state(vir_domain *dom, int *state, int *reason, unsigned int flags,
                            vir_error *err)
{
    struct remote_domain_get_state_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_state_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_STATE, &a, &r, err) < 0)
        return -1;
    *state = r.state;
    if (reason)
        *reason = r.reason;
    return 0;
}

/* Strings of at most the struct's size, with or without the NUL libvirtd sends. */
static int copy_label(char *dst, size_t size, const char *src, uint32_t len, const char *what,
                      vir_error *err)
{
    if (len > size) {
        return vir_report(err, VIR_ERR_RPC, "%s too long (%u bytes)", what, (unsigned)len);
    }
    memset(dst, 0, size);
    memcpy(dst, src, len);
    dst[size - 1] = 0;
    return 0;
}

static int remote_node_get_security_model(vir_connect *conn, vir_security_model *model,
                                          vir_error *err)
{
    struct remote_node_get_security_model_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_SECURITY_MODEL, NULL, &r, err) < 0)
        return -1;
    int rc =
        copy_label(model->model, sizeof(model->model), r.model, r.model_len, "security model", err);
    if (rc == 0)
        rc = copy_label(model->doi, sizeof(model->doi), r.doi, r.doi_len, "security DOI", err);
    remote_node_get_security_model_ret_free(&r);
    return rc;
}

static int remote_get_security_label(vir_domain *dom, vir_security_label *label, vir_error *err)
{
    struct remote_domain_get_security_label_args a = {0};
    to_wire(dom, &a.dom);
    struct remote_domain_get_security_label_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, &a, &r, err) < 0)
        return -1;
    int rc =
        copy_label(label->label, sizeof(label->label), r.label, r.label_len, "security label", err);
    label->enforcing = r.enforcing;
    remote_domain_get_security_label_ret_free(&r);
    return rc;
}

static int remote_is_persistent(vir_domain *dom, vir_error *err)
{
    struct remote_domain_is_persistent_args a = {0};
    to_wire(dom, &a.dom);
    struct remote_domain_is_persistent_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_IS_PERSISTENT, &a, &r, err) < 0)
        return -1;
    return r.persistent;
}

static char *remote_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_xml_desc_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_xml_desc_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static int remote_get_autostart(vir_domain *dom, int *autostart, vir_error *err)
{
    struct remote_domain_get_autostart_args a = {0};
    to_wire(dom, &a.dom);
    struct remote_domain_get_autostart_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_AUTOSTART, &a, &r, err) < 0)
        return -1;
    *autostart = r.autostart;
    return 0;
}

static int remote_set_autostart(vir_domain *dom, int autostart, vir_error *err)
{
    struct remote_domain_set_autostart_args a = {.autostart = autostart};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_AUTOSTART, &a, NULL, err);
}

static int remote_get_vcpus_flags(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_vcpus_flags_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_vcpus_flags_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, &a, &r, err) < 0)
        return -1;
    return r.num;
}

/* ---- CPU placement ---- */

static int remote_node_cpu_count(vir_connect *conn, vir_error *err)
{
    struct remote_node_get_cpu_map_args a = {.need_map = 0, .need_online = 0};
    struct remote_node_get_cpu_map_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_CPU_MAP, &a, &r, err) < 0)
        return -1;
    int n = r.ret;
    remote_node_get_cpu_map_ret_free(&r);
    return n;
}

static int remote_node_cells_free_memory(vir_connect *conn, unsigned long long *free_mems,
                                         int start, int max, vir_error *err)
{
    struct remote_node_get_cells_free_memory_args a = {.startCell = start, .maxcells = max};
    struct remote_node_get_cells_free_memory_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_CELLS_FREE_MEMORY, &a, &r, err) < 0)
        return -1;
    int n = (int)r.cells_len < max ? (int)r.cells_len : max;
    for (int i = 0; i < n; i++)
        free_mems[i] = r.cells[i];
    remote_node_get_cells_free_memory_ret_free(&r);
    return n;
}

static unsigned long long remote_node_free_memory(vir_connect *conn, vir_error *err)
{
    struct remote_node_get_free_memory_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_FREE_MEMORY, NULL, &r, err) < 0)
        return 0;
    return r.freeMem;
}

static int remote_node_memory_stats(vir_connect *conn, int cell, vir_node_stats_param *params,
                                    int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_node_get_memory_stats_args a = {
        .nparams = *nparams, .cellNum = cell, .flags = flags};
    struct remote_node_get_memory_stats_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_MEMORY_STATS, &a, &r, err) < 0)
        return -1;
    if (*nparams == 0) {
        *nparams = r.nparams;
    } else {
        int n = (int)r.params_len < *nparams ? (int)r.params_len : *nparams;
        for (int i = 0; i < n; i++) {
            str_copy(params[i].field, sizeof(params[i].field), r.params[i].field);
            params[i].value = r.params[i].value;
        }
        *nparams = n;
    }
    remote_node_get_memory_stats_ret_free(&r);
    return 0;
}

static int remote_node_cpu_stats(vir_connect *conn, int cpu, vir_node_stats_param *params,
                                 int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_node_get_cpu_stats_args a = {.cpuNum = cpu, .nparams = *nparams, .flags = flags};
    struct remote_node_get_cpu_stats_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_CPU_STATS, &a, &r, err) < 0)
        return -1;
    if (*nparams == 0) {
        *nparams = r.nparams;
    } else {
        int n = (int)r.params_len < *nparams ? (int)r.params_len : *nparams;
        for (int i = 0; i < n; i++) {
            str_copy(params[i].field, sizeof(params[i].field), r.params[i].field);
            params[i].value = r.params[i].value;
        }
        *nparams = n;
    }
    remote_node_get_cpu_stats_ret_free(&r);
    return 0;
}

static int remote_node_cpu_map(vir_connect *conn, unsigned char **map, unsigned int *online,
                               unsigned int flags, vir_error *err)
{
    struct remote_node_get_cpu_map_args a = {
        .need_map = map != NULL, .need_online = online != NULL, .flags = flags};
    struct remote_node_get_cpu_map_ret r = {0};
    if (call(conn, REMOTE_PROC_NODE_GET_CPU_MAP, &a, &r, err) < 0)
        return -1;
    if (map) {
        *map = xcalloc(r.cpumap_len ? r.cpumap_len : 1, 1);
        memcpy(*map, r.cpumap, r.cpumap_len);
    }
    if (online)
        *online = r.online;
    int n = r.ret;
    remote_node_get_cpu_map_ret_free(&r);
    return n;
}

static int remote_get_vcpus(vir_domain *dom, vir_vcpu_info *info, int maxinfo,
                            unsigned char *cpumaps, int maplen, vir_error *err)
{
    struct remote_domain_get_vcpus_args a = {.maxinfo = maxinfo, .maplen = cpumaps ? maplen : 0};
    to_wire(dom, &a.dom);
    struct remote_domain_get_vcpus_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_VCPUS, &a, &r, err) < 0)
        return -1;
    int n = (int)r.info_len < maxinfo ? (int)r.info_len : maxinfo;
    for (int i = 0; i < n; i++) {
        info[i].number = r.info[i].number;
        info[i].state = r.info[i].state;
        info[i].cpu_time = r.info[i].cpu_time;
        info[i].cpu = r.info[i].cpu;
    }
    if (cpumaps) {
        size_t want = (size_t)maxinfo * (size_t)maplen;
        memset(cpumaps, 0, want);
        memcpy(cpumaps, r.cpumaps, r.cpumaps_len < want ? r.cpumaps_len : want);
    }
    remote_domain_get_vcpus_ret_free(&r);
    return n;
}

static int remote_get_vcpu_pin_info(vir_domain *dom, int ncpumaps, unsigned char *cpumaps,
                                    int maplen, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_vcpu_pin_info_args a = {
        .ncpumaps = ncpumaps, .maplen = maplen, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_vcpu_pin_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, &a, &r, err) < 0)
        return -1;
    size_t want = (size_t)ncpumaps * (size_t)maplen;
    memset(cpumaps, 0, want);
    memcpy(cpumaps, r.cpumaps, r.cpumaps_len < want ? r.cpumaps_len : want);
    int n = r.num;
    remote_domain_get_vcpu_pin_info_ret_free(&r);
    return n;
}

static int remote_pin_vcpu(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap,
                           int maplen, unsigned int flags, vir_error *err)
{
    struct remote_domain_pin_vcpu_flags_args a = {
        .vcpu = vcpu, .cpumap_len = (uint32_t)maplen, .cpumap = (uint8_t *)cpumap, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS, &a, NULL, err);
}

static int remote_get_emulator_pin_info(vir_domain *dom, unsigned char *cpumap, int maplen,
                                        unsigned int flags, vir_error *err)
{
    struct remote_domain_get_emulator_pin_info_args a = {.maplen = maplen, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_emulator_pin_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_EMULATOR_PIN_INFO, &a, &r, err) < 0)
        return -1;
    memset(cpumap, 0, (size_t)maplen);
    memcpy(cpumap, r.cpumaps, r.cpumaps_len < (uint32_t)maplen ? r.cpumaps_len : (uint32_t)maplen);
    int n = r.ret;
    remote_domain_get_emulator_pin_info_ret_free(&r);
    return n;
}

static int remote_pin_emulator(vir_domain *dom, const unsigned char *cpumap, int maplen,
                               unsigned int flags, vir_error *err)
{
    struct remote_domain_pin_emulator_args a = {
        .cpumap_len = (uint32_t)maplen, .cpumap = (uint8_t *)cpumap, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_PIN_EMULATOR, &a, NULL, err);
}

static int remote_get_iothread_info(vir_domain *dom, vir_iothread_info ***info, unsigned int flags,
                                    vir_error *err)
{
    struct remote_domain_get_iothread_info_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_iothread_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_IOTHREAD_INFO, &a, &r, err) < 0)
        return -1;
    int n = (int)r.info_len;
    vir_iothread_info **list = xcalloc((size_t)n + 1, sizeof(*list));
    for (int i = 0; i < n; i++) {
        list[i] = xcalloc(1, sizeof(**list));
        list[i]->iothread_id = r.info[i].iothread_id;
        list[i]->cpumaplen = (int)r.info[i].cpumap_len;
        list[i]->cpumap = xcalloc(r.info[i].cpumap_len ? r.info[i].cpumap_len : 1, 1);
        memcpy(list[i]->cpumap, r.info[i].cpumap, r.info[i].cpumap_len);
    }
    remote_domain_get_iothread_info_ret_free(&r);
    if (info)
        *info = list;
    else {
        for (int i = 0; i < n; i++)
            vir_iothread_info_free(list[i]);
        free(list);
    }
    return n;
}

static int remote_add_iothread(vir_domain *dom, unsigned int id, unsigned int flags, vir_error *err)
{
    struct remote_domain_add_iothread_args a = {.iothread_id = id, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_ADD_IOTHREAD, &a, NULL, err);
}

static int remote_del_iothread(vir_domain *dom, unsigned int id, unsigned int flags, vir_error *err)
{
    struct remote_domain_del_iothread_args a = {.iothread_id = id, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_DEL_IOTHREAD, &a, NULL, err);
}

static int remote_pin_iothread(vir_domain *dom, unsigned int iothread_id,
                               const unsigned char *cpumap, int maplen, unsigned int flags,
                               vir_error *err)
{
    struct remote_domain_pin_iothread_args a = {.iothreads_id = iothread_id,
                                                .cpumap_len = (uint32_t)maplen,
                                                .cpumap = (uint8_t *)cpumap,
                                                .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_PIN_IOTHREAD, &a, NULL, err);
}

static char *remote_get_scheduler_type(vir_domain *dom, int *nparams, vir_error *err)
{
    struct remote_domain_get_scheduler_type_args a;
    to_wire(dom, &a.dom);
    struct remote_domain_get_scheduler_type_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE, &a, &r, err) < 0)
        return NULL;
    if (nparams)
        *nparams = r.nparams;
    char *type = r.type;
    r.type = NULL;
    remote_domain_get_scheduler_type_ret_free(&r);
    return type;
}

/* Typed parameters between the API's form and the wire's. */
static struct remote_typed_param *params_to_wire(const vir_typed_parameter *p, int n);
static void params_free_wire(struct remote_typed_param *w, int n);

static void params_from_wire(const struct remote_typed_param *w, int n, vir_typed_parameter *out)
{
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        str_copy(out[i].field, sizeof(out[i].field), w[i].field);
        out[i].type = w[i].type;
        switch (w[i].type) {
        case REMOTE_TYPED_PARAM_INT:
            out[i].value.i = w[i].value.i;
            break;
        case REMOTE_TYPED_PARAM_UINT:
            out[i].value.ui = w[i].value.ui;
            break;
        case REMOTE_TYPED_PARAM_LLONG:
            out[i].value.l = w[i].value.l;
            break;
        case REMOTE_TYPED_PARAM_ULLONG:
            out[i].value.ul = w[i].value.ul;
            break;
        case REMOTE_TYPED_PARAM_DOUBLE:
            out[i].value.d = w[i].value.d;
            break;
        case REMOTE_TYPED_PARAM_BOOLEAN:
            out[i].value.b = (char)w[i].value.b;
            break;
        default: /* a string: the caller's to free */
            out[i].type = VIR_TYPED_PARAM_STRING;
            out[i].value.s = xstrdup(w[i].value.s ? w[i].value.s : "");
            break;
        }
    }
}

static int remote_get_scheduler_params(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                       unsigned int flags, vir_error *err)
{
    struct remote_domain_get_scheduler_parameters_flags_args a = {.nparams = *nparams,
                                                                  .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_scheduler_parameters_flags_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS, &a, &r, err) < 0)
        return -1;
    int n = (int)r.params_len < *nparams ? (int)r.params_len : *nparams;
    params_from_wire(r.params, n, params);
    *nparams = n;
    remote_domain_get_scheduler_parameters_flags_ret_free(&r);
    return 0;
}

static int remote_set_scheduler_params(vir_domain *dom, const vir_typed_parameter *params,
                                       int nparams, unsigned int flags, vir_error *err)
{
    struct remote_domain_set_scheduler_parameters_flags_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

/* A "get parameters" reply into the caller's array: with *nparams 0 only the
 * count the daemon has, else at most *nparams of them (and how many). */
static void params_reply(const struct remote_typed_param *wire, uint32_t wire_len, int count,
                         vir_typed_parameter *params, int *nparams)
{
    if (*nparams == 0) {
        *nparams = count;
        return;
    }
    int n = (int)wire_len < *nparams ? (int)wire_len : *nparams;
    params_from_wire(wire, n, params);
    *nparams = n;
}

static int remote_get_memory_params(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                    unsigned int flags, vir_error *err)
{
    struct remote_domain_get_memory_parameters_args a = {.nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_memory_parameters_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_MEMORY_PARAMETERS, &a, &r, err) < 0)
        return -1;
    params_reply(r.params, r.params_len, r.nparams, params, nparams);
    remote_domain_get_memory_parameters_ret_free(&r);
    return 0;
}

static int remote_get_blkio_params(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                   unsigned int flags, vir_error *err)
{
    struct remote_domain_get_blkio_parameters_args a = {.nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_blkio_parameters_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_BLKIO_PARAMETERS, &a, &r, err) < 0)
        return -1;
    params_reply(r.params, r.params_len, r.nparams, params, nparams);
    remote_domain_get_blkio_parameters_ret_free(&r);
    return 0;
}

static int remote_set_blkio_params(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                   unsigned int flags, vir_error *err)
{
    struct remote_domain_set_blkio_parameters_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_BLKIO_PARAMETERS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_memory_stats(vir_domain *dom, vir_domain_memory_stat *stats, unsigned int nr,
                               unsigned int flags, vir_error *err)
{
    struct remote_domain_memory_stats_args a = {.maxStats = nr, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_memory_stats_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_MEMORY_STATS, &a, &r, err) < 0)
        return -1;
    unsigned n = r.stats_len < nr ? r.stats_len : nr;
    for (unsigned i = 0; i < n; i++) {
        stats[i].tag = r.stats[i].tag;
        stats[i].val = r.stats[i].val;
    }
    remote_domain_memory_stats_ret_free(&r);
    return (int)n;
}

static int remote_get_cpu_stats(vir_domain *dom, vir_typed_parameter *params, unsigned int nparams,
                                int start_cpu, unsigned int ncpus, unsigned int flags,
                                vir_error *err)
{
    struct remote_domain_get_cpu_stats_args a = {
        .nparams = nparams, .start_cpu = start_cpu, .ncpus = ncpus, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_cpu_stats_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_CPU_STATS, &a, &r, err) < 0)
        return -1;
    int rv = r.nparams;
    if (r.params_len > (uint64_t)nparams * ncpus ||
        (r.params_len &&
         (r.nparams <= 0 || r.params_len % (uint32_t)r.nparams || (unsigned)r.nparams > nparams))) {
        rv = vir_report(err, VIR_ERR_RPC,
                        "remoteDomainGetCPUStats: returned number of stats exceeds limit");
    } else if (nparams) {
        /* the server leaves out the empty slots: spread each CPU's back to its stride */
        memset(params, 0, sizeof(*params) * nparams * ncpus);
        unsigned got = r.nparams ? r.params_len / (uint32_t)r.nparams : 0;
        for (unsigned cpu = 0; cpu < got; cpu++)
            params_from_wire(&r.params[cpu * (unsigned)r.nparams], r.nparams,
                             &params[cpu * nparams]);
    }
    remote_domain_get_cpu_stats_ret_free(&r);
    return rv;
}

static int remote_get_time(vir_domain *dom, long long *seconds, unsigned int *nseconds,
                           unsigned int flags, vir_error *err)
{
    struct remote_domain_get_time_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_time_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_TIME, &a, &r, err) < 0)
        return -1;
    *seconds = r.seconds;
    *nseconds = r.nseconds;
    return 0;
}

static int remote_fs_freeze_thaw(vir_domain *dom, int proc, const char **mountpoints,
                                 unsigned int n, unsigned int flags, vir_error *err)
{
    struct remote_domain_fsfreeze_args a = {
        .mountpoints = (char **)mountpoints, .mountpoints_len = n, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_fsfreeze_ret r = {0};
    if (call(dom->conn, proc, &a, &r, err) < 0)
        return -1;
    return r.filesystems;
}

static int remote_fs_freeze(vir_domain *dom, const char **mountpoints, unsigned int n,
                            unsigned int flags, vir_error *err)
{
    return remote_fs_freeze_thaw(dom, REMOTE_PROC_DOMAIN_FSFREEZE, mountpoints, n, flags, err);
}

static int remote_fs_thaw(vir_domain *dom, const char **mountpoints, unsigned int n,
                          unsigned int flags, vir_error *err)
{
    return remote_fs_freeze_thaw(dom, REMOTE_PROC_DOMAIN_FSTHAW, mountpoints, n, flags, err);
}

static int remote_get_fs_info(vir_domain *dom, vir_domain_fs_info ***info, unsigned int flags,
                              vir_error *err)
{
    struct remote_domain_get_fsinfo_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_fsinfo_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_FSINFO, &a, &r, err) < 0)
        return -1;
    vir_domain_fs_info **out = xcalloc(r.info_len + 1, sizeof(*out));
    for (uint32_t i = 0; i < r.info_len; i++) {
        const struct remote_domain_fsinfo *f = &r.info[i];
        vir_domain_fs_info *o = xcalloc(1, sizeof(*o));
        o->mountpoint = xstrdup(f->mountpoint);
        o->name = xstrdup(f->name);
        o->fstype = xstrdup(f->fstype);
        o->ndev_alias = f->dev_aliases_len;
        o->dev_alias = xcalloc(f->dev_aliases_len + 1, sizeof(char *));
        for (uint32_t j = 0; j < f->dev_aliases_len; j++)
            o->dev_alias[j] = xstrdup(f->dev_aliases[j]);
        out[i] = o;
    }
    int n = (int)r.info_len;
    remote_domain_get_fsinfo_ret_free(&r);
    *info = out;
    return n;
}

static int remote_get_guest_vcpus(vir_domain *dom, vir_typed_parameter **params, int *nparams,
                                  unsigned int flags, vir_error *err)
{
    struct remote_domain_get_guest_vcpus_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_guest_vcpus_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_GUEST_VCPUS, &a, &r, err) < 0)
        return -1;
    vir_typed_parameter *p = xcalloc(r.params_len ? r.params_len : 1, sizeof(*p));
    params_from_wire(r.params, (int)r.params_len, p);
    *params = p;
    *nparams = (int)r.params_len;
    remote_domain_get_guest_vcpus_ret_free(&r);
    return 0;
}

static int remote_set_guest_vcpus(vir_domain *dom, const char *cpumap, int state,
                                  unsigned int flags, vir_error *err)
{
    struct remote_domain_set_guest_vcpus_args a = {
        .cpumap = (char *)cpumap, .state = state, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_GUEST_VCPUS, &a, NULL, err);
}

static int remote_set_vcpu(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                           vir_error *err)
{
    struct remote_domain_set_vcpu_args a = {
        .cpumap = (char *)cpumap, .state = state, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_VCPU, &a, NULL, err);
}

static int remote_get_guest_info(vir_domain *dom, unsigned int types, vir_typed_parameter **params,
                                 int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_guest_info_args a = {.types = types, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_guest_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_GUEST_INFO, &a, &r, err) < 0)
        return -1;
    vir_typed_parameter *p = xcalloc(r.params_len ? r.params_len : 1, sizeof(*p));
    params_from_wire(r.params, (int)r.params_len, p);
    *params = p;
    *nparams = (int)r.params_len;
    remote_domain_get_guest_info_ret_free(&r);
    return 0;
}

static int remote_set_user_password(vir_domain *dom, const char *user, const char *password,
                                    unsigned int flags, vir_error *err)
{
    struct remote_domain_set_user_password_args a = {
        .user = (char *)user, .password = (char *)password, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_USER_PASSWORD, &a, NULL, err);
}

/* One call of libvirt's QEMU program; a server error becomes the vir_error as the server
 * worded it. */
static int call_qemu(vir_connect *conn, int proc, const void *args, void *ret, vir_error *err)
{
    struct rpc_error remote = {0};
    struct verr e = {0};
    int rc = rpc_client_call_qemu(cl(conn), proc, args, ret, &remote, &e);
    if (rc == -EREMOTEIO) {
        if (err) {
            err->code = remote.code;
            str_copy(err->message, sizeof(err->message),
                     remote.message ? remote.message : "unknown error");
        }
        rpc_error_free(&remote);
        return -1;
    }
    if (rc < 0)
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "%s", verr_msg(&e));
    return 0;
}

static char *remote_qemu_monitor_command(vir_domain *dom, const char *cmd, unsigned int flags,
                                         vir_error *err)
{
    struct qemu_domain_monitor_command_args a = {.cmd = (char *)cmd, .flags = flags};
    to_wire(dom, &a.dom);
    struct qemu_domain_monitor_command_ret r = {0};
    if (call_qemu(dom->conn, QEMU_PROC_DOMAIN_MONITOR_COMMAND, &a, &r, err) < 0)
        return NULL;
    return r.result; /* the caller's */
}

static char *remote_qemu_agent_command(vir_domain *dom, const char *cmd, int timeout,
                                       unsigned int flags, vir_error *err)
{
    struct qemu_domain_agent_command_args a = {
        .cmd = (char *)cmd, .timeout = timeout, .flags = flags};
    to_wire(dom, &a.dom);
    struct qemu_domain_agent_command_ret r = {0};
    if (call_qemu(dom->conn, QEMU_PROC_DOMAIN_AGENT_COMMAND, &a, &r, err) < 0)
        return NULL;
    return r.result; /* the caller's */
}

static int remote_set_time(vir_domain *dom, long long seconds, unsigned int nseconds,
                           unsigned int flags, vir_error *err)
{
    struct remote_domain_set_time_args a = {
        .seconds = seconds, .nseconds = nseconds, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_TIME, &a, NULL, err);
}

static int remote_get_block_info(vir_domain *dom, const char *disk, vir_domain_block_info *info,
                                 unsigned int flags, vir_error *err)
{
    struct remote_domain_get_block_info_args a = {.path = (char *)disk, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_block_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_BLOCK_INFO, &a, &r, err) < 0)
        return -1;
    info->capacity = r.capacity;
    info->allocation = r.allocation;
    info->physical = r.physical;
    return 0;
}

static int remote_get_disk_errors(vir_domain *dom, vir_domain_disk_error *errors, unsigned int max,
                                  unsigned int flags, vir_error *err)
{
    struct remote_domain_get_disk_errors_args a = {.maxerrors = max, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_disk_errors_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_DISK_ERRORS, &a, &r, err) < 0)
        return -1;
    int n = r.nerrors;
    if (errors) {
        n = 0;
        for (uint32_t i = 0; i < r.errors_len && i < max; i++) {
            errors[i].disk = xstrdup(r.errors[i].disk);
            errors[i].error = r.errors[i].error;
            n++;
        }
    }
    remote_domain_get_disk_errors_ret_free(&r);
    return n;
}

static int remote_set_memory_stats_period(vir_domain *dom, int period, unsigned int flags,
                                          vir_error *err)
{
    struct remote_domain_set_memory_stats_period_args a = {.period = period, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_MEMORY_STATS_PERIOD, &a, NULL, err);
}

static int remote_interface_stats(vir_domain *dom, const char *device,
                                  vir_domain_interface_stats_struct *st, vir_error *err)
{
    struct remote_domain_interface_stats_args a = {.device = (char *)device};
    to_wire(dom, &a.dom);
    struct remote_domain_interface_stats_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_INTERFACE_STATS, &a, &r, err) < 0)
        return -1;
    st->rx_bytes = r.rx_bytes;
    st->rx_packets = r.rx_packets;
    st->rx_errs = r.rx_errs;
    st->rx_drop = r.rx_drop;
    st->tx_bytes = r.tx_bytes;
    st->tx_packets = r.tx_packets;
    st->tx_errs = r.tx_errs;
    st->tx_drop = r.tx_drop;
    return 0;
}

static int remote_get_all_domain_stats(vir_connect *conn, vir_domain **doms, unsigned int ndoms,
                                       unsigned int stats, vir_domain_stats_record ***ret,
                                       unsigned int flags, vir_error *err)
{
    struct remote_connect_get_all_domain_stats_args a = {.stats = stats, .flags = flags};
    if (ndoms) {
        a.doms = xcalloc(ndoms, sizeof(*a.doms));
        a.doms_len = ndoms;
        for (unsigned i = 0; i < ndoms; i++)
            to_wire(doms[i], &a.doms[i]);
    }
    struct remote_connect_get_all_domain_stats_ret r = {0};
    int rc = call(conn, REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS, &a, &r, err);
    free(a.doms);
    if (rc < 0)
        return -1;
    vir_domain_stats_record **list = xcalloc(r.retStats_len + 1, sizeof(*list));
    for (uint32_t i = 0; i < r.retStats_len; i++) {
        const struct remote_domain_stats_record *w = &r.retStats[i];
        vir_domain_stats_record *rec = xcalloc(1, sizeof(*rec));
        rec->dom = handle(conn, &w->dom);
        rec->params = xcalloc(w->params_len ? w->params_len : 1, sizeof(*rec->params));
        params_from_wire(w->params, (int)w->params_len, rec->params);
        rec->nparams = (int)w->params_len;
        list[i] = rec;
    }
    *ret = list;
    int n = (int)r.retStats_len;
    remote_connect_get_all_domain_stats_ret_free(&r);
    return n;
}

static int remote_block_stats_flags(vir_domain *dom, const char *path, vir_typed_parameter *params,
                                    int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_domain_block_stats_flags_args a = {
        .path = (char *)path, .nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_block_stats_flags_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, &a, &r, err) < 0)
        return -1;
    params_reply(r.params, r.params_len, r.nparams, params, nparams);
    remote_domain_block_stats_flags_ret_free(&r);
    return 0;
}

static int remote_get_numa_params(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                  unsigned int flags, vir_error *err)
{
    struct remote_domain_get_numa_parameters_args a = {.nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_numa_parameters_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_NUMA_PARAMETERS, &a, &r, err) < 0)
        return -1;
    params_reply(r.params, r.params_len, r.nparams, params, nparams);
    remote_domain_get_numa_parameters_ret_free(&r);
    return 0;
}

static int remote_set_numa_params(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                  unsigned int flags, vir_error *err)
{
    struct remote_domain_set_numa_parameters_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_NUMA_PARAMETERS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_set_iothread_params(vir_domain *dom, unsigned int id,
                                      const vir_typed_parameter *params, int nparams,
                                      unsigned int flags, vir_error *err)
{
    struct remote_domain_set_iothread_params_args a = {.iothread_id = id, .flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_IOTHREAD_PARAMS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_get_block_io_tune(vir_domain *dom, const char *disk, vir_typed_parameter *params,
                                    int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_block_io_tune_args a = {
        .disk = (char *)disk, .nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_block_io_tune_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_BLOCK_IO_TUNE, &a, &r, err) < 0)
        return -1;
    if (*nparams == 0) {
        *nparams = r.nparams;
    } else {
        int n = (int)r.params_len < *nparams ? (int)r.params_len : *nparams;
        params_from_wire(r.params, n, params);
        *nparams = n;
    }
    remote_domain_get_block_io_tune_ret_free(&r);
    return 0;
}

static int remote_set_block_io_tune(vir_domain *dom, const char *disk,
                                    const vir_typed_parameter *params, int nparams,
                                    unsigned int flags, vir_error *err)
{
    struct remote_domain_set_block_io_tune_args a = {.disk = (char *)disk, .flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_BLOCK_IO_TUNE, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_set_memory_params(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                    unsigned int flags, vir_error *err)
{
    struct remote_domain_set_memory_parameters_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_MEMORY_PARAMETERS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_get_interface_params(vir_domain *dom, const char *device,
                                       vir_typed_parameter *params, int *nparams,
                                       unsigned int flags, vir_error *err)
{
    struct remote_domain_get_interface_parameters_args a = {
        .device = (char *)device, .nparams = *nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_interface_parameters_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_INTERFACE_PARAMETERS, &a, &r, err) < 0)
        return -1;
    params_reply(r.params, r.params_len, r.nparams, params, nparams);
    remote_domain_get_interface_parameters_ret_free(&r);
    return 0;
}

static int remote_set_interface_params(vir_domain *dom, const char *device,
                                       const vir_typed_parameter *params, int nparams,
                                       unsigned int flags, vir_error *err)
{
    struct remote_domain_set_interface_parameters_args a = {.device = (char *)device,
                                                            .flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_SET_INTERFACE_PARAMETERS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_block_copy(vir_domain *dom, const char *disk, const char *destxml,
                             const vir_typed_parameter *params, int nparams, unsigned int flags,
                             vir_error *err)
{
    struct remote_domain_block_copy_args a = {
        .path = (char *)disk, .destxml = (char *)destxml, .flags = flags};
    to_wire(dom, &a.dom);
    a.params_len = (uint32_t)nparams;
    a.params = params_to_wire(params, nparams);
    int r = call(dom->conn, REMOTE_PROC_DOMAIN_BLOCK_COPY, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return r;
}

static int remote_block_rebase(vir_domain *dom, const char *disk, const char *base,
                               unsigned long bandwidth, unsigned int flags, vir_error *err)
{
    struct remote_domain_block_rebase_args a = {
        .path = (char *)disk, .base = (char *)base, .bandwidth = bandwidth, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_BLOCK_REBASE, &a, NULL, err);
}

static int remote_block_job_info(vir_domain *dom, const char *disk, vir_domain_block_job_info *info,
                                 unsigned int flags, vir_error *err)
{
    struct remote_domain_get_block_job_info_args a = {.path = (char *)disk, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_block_job_info_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_BLOCK_JOB_INFO, &a, &r, err) < 0)
        return -1;
    if (!r.found)
        return 0;
    info->type = r.type;
    info->bandwidth = (unsigned long)r.bandwidth;
    info->cur = r.cur;
    info->end = r.end;
    return 1;
}

static int remote_block_job_abort(vir_domain *dom, const char *disk, unsigned int flags,
                                  vir_error *err)
{
    struct remote_domain_block_job_abort_args a = {.path = (char *)disk, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_BLOCK_JOB_ABORT, &a, NULL, err);
}

static int remote_block_job_set_speed(vir_domain *dom, const char *disk, unsigned long bandwidth,
                                      unsigned int flags, vir_error *err)
{
    struct remote_domain_block_job_set_speed_args a = {
        .path = (char *)disk, .bandwidth = bandwidth, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_BLOCK_JOB_SET_SPEED, &a, NULL, err);
}

static int remote_set_vcpus_flags(vir_domain *dom, unsigned int nvcpus, unsigned int flags,
                                  vir_error *err)
{
    struct remote_domain_set_vcpus_flags_args a = {.nvcpus = nvcpus, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, &a, NULL, err);
}

static int remote_set_memory_flags(vir_domain *dom, unsigned long kib, unsigned int flags,
                                   vir_error *err)
{
    struct remote_domain_set_memory_flags_args a = {.memory = kib, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, &a, NULL, err);
}

static int remote_update_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                      vir_error *err)
{
    struct remote_domain_update_device_flags_args a = {.xml = (char *)xml, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_UPDATE_DEVICE_FLAGS, &a, NULL, err);
}

/* The plain virDomainAttachDevice/DetachDevice go as the flags forms with AFFECT_LIVE (what
 * libvirt's public API does too before calling its driver). */
static int remote_attach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                      vir_error *err)
{
    struct remote_domain_attach_device_flags_args a = {.xml = (char *)xml, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS, &a, NULL, err);
}

static int remote_detach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                      vir_error *err)
{
    struct remote_domain_detach_device_flags_args a = {.xml = (char *)xml, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS, &a, NULL, err);
}

static int remote_detach_device_alias(vir_domain *dom, const char *alias, unsigned int flags,
                                      vir_error *err)
{
    struct remote_domain_detach_device_alias_args a = {.alias = (char *)alias, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_DETACH_DEVICE_ALIAS, &a, NULL, err);
}

/* ---- snapshots ---- */

static void snap_to_wire(vir_domain *dom, const char *name,
                         struct remote_nonnull_domain_snapshot *s)
{
    s->name = (char *)name; /* borrowed */
    to_wire(dom, &s->dom);
}

static char *remote_snapshot_create_xml(vir_domain *dom, const char *xml, unsigned int flags,
                                        vir_error *err)
{
    struct remote_domain_snapshot_create_xml_args a = {.xml_desc = (char *)(xml ? xml : ""),
                                                       .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_snapshot_create_xml_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML, &a, &r, err) < 0)
        return NULL;
    char *name = r.snap.name;
    r.snap.name = NULL;
    remote_domain_snapshot_create_xml_ret_free(&r);
    return name;
}

static int remote_snapshot_list(vir_domain *dom, const char *parent, char ***names,
                                unsigned int flags, vir_error *err)
{
    struct remote_nonnull_domain_snapshot *list;
    uint32_t len;
    int n;
    if (parent) {
        struct remote_domain_snapshot_list_all_children_args a = {.need_results = names != NULL,
                                                                  .flags = flags};
        snap_to_wire(dom, parent, &a.snapshot);
        struct remote_domain_snapshot_list_all_children_ret r = {0};
        if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN, &a, &r, err) < 0)
            return -1;
        list = r.snapshots, len = r.snapshots_len, n = r.ret;
    } else {
        struct remote_domain_list_all_snapshots_args a = {.need_results = names != NULL,
                                                          .flags = flags};
        to_wire(dom, &a.dom);
        struct remote_domain_list_all_snapshots_ret r = {0};
        if (call(dom->conn, REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS, &a, &r, err) < 0)
            return -1;
        list = r.snapshots, len = r.snapshots_len, n = r.ret;
    }
    if (names) {
        *names = xcalloc(len + 1, sizeof(**names));
        for (uint32_t i = 0; i < len; i++) {
            (*names)[i] = list[i].name;
            list[i].name = NULL;
        }
    }
    struct remote_domain_list_all_snapshots_ret fr = {.snapshots_len = len, .snapshots = list};
    remote_domain_list_all_snapshots_ret_free(&fr);
    return n;
}

static int remote_snapshot_lookup(vir_domain *dom, const char *name, vir_error *err)
{
    struct remote_domain_snapshot_lookup_by_name_args a = {.name = (char *)name};
    to_wire(dom, &a.dom);
    struct remote_domain_snapshot_lookup_by_name_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, &a, &r, err) < 0)
        return -1;
    remote_domain_snapshot_lookup_by_name_ret_free(&r);
    return 0;
}

static int remote_has_current_snapshot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_has_current_snapshot_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_has_current_snapshot_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT, &a, &r, err) < 0)
        return -1;
    return r.result;
}

static char *remote_snapshot_current(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_snapshot_current_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_snapshot_current_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT, &a, &r, err) < 0)
        return NULL;
    char *name = r.snap.name;
    r.snap.name = NULL;
    remote_domain_snapshot_current_ret_free(&r);
    return name;
}

static char *remote_snapshot_get_parent(vir_domain *dom, const char *name, unsigned int flags,
                                        vir_error *err)
{
    struct remote_domain_snapshot_get_parent_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    struct remote_domain_snapshot_get_parent_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT, &a, &r, err) < 0)
        return NULL;
    char *parent = r.snap.name;
    r.snap.name = NULL;
    remote_domain_snapshot_get_parent_ret_free(&r);
    return parent;
}

static char *remote_snapshot_get_xml_desc(vir_domain *dom, const char *name, unsigned int flags,
                                          vir_error *err)
{
    struct remote_domain_snapshot_get_xml_desc_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    struct remote_domain_snapshot_get_xml_desc_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static int remote_snapshot_is_current(vir_domain *dom, const char *name, unsigned int flags,
                                      vir_error *err)
{
    struct remote_domain_snapshot_is_current_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    struct remote_domain_snapshot_is_current_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT, &a, &r, err) < 0)
        return -1;
    return r.current;
}

static int remote_snapshot_has_metadata(vir_domain *dom, const char *name, unsigned int flags,
                                        vir_error *err)
{
    struct remote_domain_snapshot_has_metadata_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    struct remote_domain_snapshot_has_metadata_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_HAS_METADATA, &a, &r, err) < 0)
        return -1;
    return r.metadata;
}

static int remote_snapshot_revert(vir_domain *dom, const char *name, unsigned int flags,
                                  vir_error *err)
{
    struct remote_domain_revert_to_snapshot_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    return call(dom->conn, REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT, &a, NULL, err);
}

static int remote_snapshot_delete(vir_domain *dom, const char *name, unsigned int flags,
                                  vir_error *err)
{
    struct remote_domain_snapshot_delete_args a = {.flags = flags};
    snap_to_wire(dom, name, &a.snap);
    return call(dom->conn, REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE, &a, NULL, err);
}

/* ---- migration ---- */

static struct remote_typed_param *params_to_wire(const vir_typed_parameter *p, int n)
{
    struct remote_typed_param *w = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*w));
    for (int i = 0; i < n; i++) {
        w[i].field = xstrdup(p[i].field);
        w[i].type = p[i].type;
        switch (p[i].type) {
        case VIR_TYPED_PARAM_STRING:
            w[i].value.s = xstrdup(p[i].value.s ? p[i].value.s : "");
            break;
        case VIR_TYPED_PARAM_INT:
        case VIR_TYPED_PARAM_BOOLEAN:
            w[i].value.i = p[i].type == VIR_TYPED_PARAM_BOOLEAN ? p[i].value.b : p[i].value.i;
            break;
        case VIR_TYPED_PARAM_UINT:
            w[i].value.ui = p[i].value.ui;
            break;
        case VIR_TYPED_PARAM_LLONG:
            w[i].value.l = p[i].value.l;
            break;
        case VIR_TYPED_PARAM_DOUBLE:
            w[i].value.d = p[i].value.d;
            break;
        default:
            w[i].value.ul = p[i].value.ul;
            break;
        }
    }
    return w;
}

static void params_free_wire(struct remote_typed_param *w, int n)
{
    for (int i = 0; i < n; i++)
        remote_typed_param_free(&w[i]);
    free(w);
}

static void take_cookie(uint8_t *bytes, uint32_t len, uint8_t **out, uint32_t *out_len)
{
    if (out) {
        *out = len ? bytes : NULL;
        *out_len = len;
        if (len)
            return;
    }
    free(bytes);
}

static char *remote_migrate_begin3(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                   uint8_t **cookie_out, uint32_t *cookie_out_len,
                                   unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_begin3_params_args a = {
        .params = params_to_wire(params, nparams), .params_len = (uint32_t)nparams, .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_migrate_begin3_params_ret r = {0};
    int rc = call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_BEGIN3_PARAMS, &a, &r, err);
    params_free_wire(a.params, nparams);
    if (rc < 0)
        return NULL;
    take_cookie(r.cookie_out, r.cookie_out_len, cookie_out, cookie_out_len);
    return r.xml;
}

static int remote_migrate_prepare3(vir_connect *dconn, const vir_typed_parameter *params,
                                   int nparams, const uint8_t *cookie_in, uint32_t cookie_in_len,
                                   uint8_t **cookie_out, uint32_t *cookie_out_len, char **uri_out,
                                   unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_prepare3_params_args a = {.params =
                                                               params_to_wire(params, nparams),
                                                           .params_len = (uint32_t)nparams,
                                                           .cookie_in = (uint8_t *)cookie_in,
                                                           .cookie_in_len = cookie_in_len,
                                                           .flags = flags};
    struct remote_domain_migrate_prepare3_params_ret r = {0};
    int rc = call(dconn, REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS, &a, &r, err);
    params_free_wire(a.params, nparams);
    if (rc < 0)
        return -1;
    take_cookie(r.cookie_out, r.cookie_out_len, cookie_out, cookie_out_len);
    *uri_out = r.uri_out;
    return 0;
}

static int remote_migrate_perform3(vir_domain *dom, const char *dconnuri,
                                   const vir_typed_parameter *params, int nparams,
                                   const uint8_t *cookie_in, uint32_t cookie_in_len,
                                   uint8_t **cookie_out, uint32_t *cookie_out_len,
                                   unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_perform3_params_args a = {.dconnuri = (char *)dconnuri,
                                                           .params =
                                                               params_to_wire(params, nparams),
                                                           .params_len = (uint32_t)nparams,
                                                           .cookie_in = (uint8_t *)cookie_in,
                                                           .cookie_in_len = cookie_in_len,
                                                           .flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_migrate_perform3_params_ret r = {0};
    int rc = call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, &a, &r, err);
    params_free_wire(a.params, nparams);
    if (rc < 0)
        return -1;
    take_cookie(r.cookie_out, r.cookie_out_len, cookie_out, cookie_out_len);
    return 0;
}

static vir_domain *remote_migrate_finish3(vir_connect *dconn, const vir_typed_parameter *params,
                                          int nparams, const uint8_t *cookie_in,
                                          uint32_t cookie_in_len, uint8_t **cookie_out,
                                          uint32_t *cookie_out_len, unsigned int flags,
                                          int cancelled, vir_error *err)
{
    struct remote_domain_migrate_finish3_params_args a = {.params = params_to_wire(params, nparams),
                                                          .params_len = (uint32_t)nparams,
                                                          .cookie_in = (uint8_t *)cookie_in,
                                                          .cookie_in_len = cookie_in_len,
                                                          .flags = flags,
                                                          .cancelled = cancelled};
    struct remote_domain_migrate_finish3_params_ret r = {0};
    int rc = call(dconn, REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS, &a, &r, err);
    params_free_wire(a.params, nparams);
    if (rc < 0)
        return NULL;
    vir_domain *dom = handle(dconn, &r.dom);
    take_cookie(r.cookie_out, r.cookie_out_len, cookie_out, cookie_out_len);
    r.cookie_out = NULL;
    r.cookie_out_len = 0;
    remote_domain_migrate_finish3_params_ret_free(&r);
    return dom;
}

static int remote_migrate_confirm3(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                   const uint8_t *cookie_in, uint32_t cookie_in_len,
                                   unsigned int flags, int cancelled, vir_error *err)
{
    struct remote_domain_migrate_confirm3_params_args a = {.params =
                                                               params_to_wire(params, nparams),
                                                           .params_len = (uint32_t)nparams,
                                                           .cookie_in = (uint8_t *)cookie_in,
                                                           .cookie_in_len = cookie_in_len,
                                                           .flags = flags,
                                                           .cancelled = cancelled};
    to_wire(dom, &a.dom);
    int rc = call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_CONFIRM3_PARAMS, &a, NULL, err);
    params_free_wire(a.params, nparams);
    return rc;
}

static int remote_migrate_set_max_downtime(vir_domain *dom, unsigned long long ms,
                                           unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_set_max_downtime_args a = {.downtime = ms, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_DOWNTIME, &a, NULL, err);
}

static int remote_migrate_get_max_downtime(vir_domain *dom, unsigned long long *ms,
                                           unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_get_max_downtime_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_migrate_get_max_downtime_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_DOWNTIME, &a, &r, err) < 0)
        return -1;
    *ms = r.downtime;
    return 0;
}

static int remote_migrate_set_max_speed(vir_domain *dom, unsigned long bandwidth,
                                        unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_set_max_speed_args a = {.bandwidth = bandwidth, .flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_SPEED, &a, NULL, err);
}

static int remote_migrate_get_max_speed(vir_domain *dom, unsigned long *bandwidth,
                                        unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_get_max_speed_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_migrate_get_max_speed_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_SPEED, &a, &r, err) < 0)
        return -1;
    *bandwidth = (unsigned long)r.bandwidth;
    return 0;
}

static int remote_get_job_stats(vir_domain *dom, int *type, vir_typed_parameter **params,
                                int *nparams, unsigned int flags, vir_error *err)
{
    struct remote_domain_get_job_stats_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    struct remote_domain_get_job_stats_ret r = {0};
    if (call(dom->conn, REMOTE_PROC_DOMAIN_GET_JOB_STATS, &a, &r, err) < 0)
        return -1;
    *type = r.type;
    vir_typed_parameter *p = xcalloc(r.params_len ? r.params_len : 1, sizeof(*p));
    for (uint32_t i = 0; i < r.params_len; i++) {
        const struct remote_typed_param *w = &r.params[i];
        snprintf(p[i].field, sizeof(p[i].field), "%s", w->field);
        p[i].type = w->type;
        switch (w->type) {
        case REMOTE_TYPED_PARAM_STRING:
            p[i].value.s = xstrdup(w->value.s ? w->value.s : "");
            break;
        case REMOTE_TYPED_PARAM_INT:
            p[i].value.i = w->value.i;
            break;
        case REMOTE_TYPED_PARAM_BOOLEAN:
            p[i].value.b = (char)(w->value.b != 0);
            break;
        case REMOTE_TYPED_PARAM_UINT:
            p[i].value.ui = w->value.ui;
            break;
        case REMOTE_TYPED_PARAM_LLONG:
            p[i].value.l = w->value.l;
            break;
        case REMOTE_TYPED_PARAM_DOUBLE:
            p[i].value.d = w->value.d;
            break;
        default:
            p[i].value.ul = w->value.ul;
            break;
        }
    }
    *params = p;
    *nparams = (int)r.params_len;
    remote_domain_get_job_stats_ret_free(&r);
    return 0;
}

static int remote_abort_job(vir_domain *dom, vir_error *err)
{
    return dom_call(dom, REMOTE_PROC_DOMAIN_ABORT_JOB, err);
}

static int remote_migrate_start_post_copy(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct remote_domain_migrate_start_post_copy_args a = {.flags = flags};
    to_wire(dom, &a.dom);
    return call(dom->conn, REMOTE_PROC_DOMAIN_MIGRATE_START_POST_COPY, &a, NULL, err);
}

const struct vir_driver vir_remote_driver = {
    .name = "QEMU",
    .open = remote_open,
    .close = remote_close,
    .get_hostname = remote_get_hostname,
    .get_version = remote_get_version,
    .get_capabilities = remote_get_capabilities,
    .node_get_info = remote_node_get_info,
    .node_get_security_model = remote_node_get_security_model,
    .list_all_domains = remote_list_all,
    .lookup_by_name = remote_lookup_by_name,
    .lookup_by_id = remote_lookup_by_id,
    .lookup_by_uuid = remote_lookup_by_uuid,
    .define_xml = remote_define_xml,
    .undefine = remote_undefine,
    .create = remote_create,
    .create_xml = remote_create_xml,
    .shutdown = remote_shutdown,
    .destroy = remote_destroy,
    .reboot = remote_reboot,
    .reset = remote_reset,
    .suspend = remote_suspend,
    .resume = remote_resume,
    .has_managed_save = remote_has_managed_save,
    .save = remote_save,
    .restore = remote_restore,
    .managed_save = remote_managed_save,
    .snapshot_create_xml = remote_snapshot_create_xml,
    .snapshot_list = remote_snapshot_list,
    .snapshot_lookup = remote_snapshot_lookup,
    .has_current_snapshot = remote_has_current_snapshot,
    .snapshot_current = remote_snapshot_current,
    .snapshot_get_parent = remote_snapshot_get_parent,
    .snapshot_get_xml_desc = remote_snapshot_get_xml_desc,
    .snapshot_is_current = remote_snapshot_is_current,
    .snapshot_has_metadata = remote_snapshot_has_metadata,
    .snapshot_revert = remote_snapshot_revert,
    .snapshot_delete = remote_snapshot_delete,
    .managed_save_remove = remote_managed_save_remove,
    .save_image_get_xml_desc = remote_save_image_get_xml_desc,
    .save_image_define_xml = remote_save_image_define_xml,
    .managed_save_get_xml_desc = remote_managed_save_get_xml_desc,
    .managed_save_define_xml = remote_managed_save_define_xml,
    .get_id = remote_get_id,
    .get_os_type = remote_get_os_type,
    .get_info = remote_get_info,
    .get_state = remote_get_state,
    .get_security_label = remote_get_security_label,
    .is_persistent = remote_is_persistent,
    .get_xml_desc = remote_get_xml_desc,
    .get_autostart = remote_get_autostart,
    .set_autostart = remote_set_autostart,
    .get_vcpus_flags = remote_get_vcpus_flags,
    .set_vcpus_flags = remote_set_vcpus_flags,
    .node_cpu_count = remote_node_cpu_count,
    .node_cells_free_memory = remote_node_cells_free_memory,
    .node_free_memory = remote_node_free_memory,
    .node_memory_stats = remote_node_memory_stats,
    .node_cpu_stats = remote_node_cpu_stats,
    .node_cpu_map = remote_node_cpu_map,
    .get_vcpus = remote_get_vcpus,
    .get_vcpu_pin_info = remote_get_vcpu_pin_info,
    .pin_vcpu = remote_pin_vcpu,
    .get_emulator_pin_info = remote_get_emulator_pin_info,
    .get_iothread_info = remote_get_iothread_info,
    .pin_iothread = remote_pin_iothread,
    .add_iothread = remote_add_iothread,
    .del_iothread = remote_del_iothread,
    .set_iothread_params = remote_set_iothread_params,
    .pin_emulator = remote_pin_emulator,
    .get_scheduler_type = remote_get_scheduler_type,
    .get_scheduler_params = remote_get_scheduler_params,
    .set_scheduler_params = remote_set_scheduler_params,
    .get_memory_params = remote_get_memory_params,
    .get_blkio_params = remote_get_blkio_params,
    .set_blkio_params = remote_set_blkio_params,
    .block_stats_flags = remote_block_stats_flags,
    .memory_stats = remote_memory_stats,
    .set_memory_stats_period = remote_set_memory_stats_period,
    .get_block_info = remote_get_block_info,
    .get_time = remote_get_time,
    .set_time = remote_set_time,
    .qemu_agent_command = remote_qemu_agent_command,
    .qemu_monitor_command = remote_qemu_monitor_command,
    .fs_freeze = remote_fs_freeze,
    .get_fs_info = remote_get_fs_info,
    .get_guest_info = remote_get_guest_info,
    .get_guest_vcpus = remote_get_guest_vcpus,
    .set_guest_vcpus = remote_set_guest_vcpus,
    .set_vcpu = remote_set_vcpu,
    .set_user_password = remote_set_user_password,
    .fs_thaw = remote_fs_thaw,
    .get_cpu_stats = remote_get_cpu_stats,
    .get_disk_errors = remote_get_disk_errors,
    .interface_stats = remote_interface_stats,
    .get_all_domain_stats = remote_get_all_domain_stats,
    .get_numa_params = remote_get_numa_params,
    .get_block_io_tune = remote_get_block_io_tune,
    .set_block_io_tune = remote_set_block_io_tune,
    .set_numa_params = remote_set_numa_params,
    .set_memory_params = remote_set_memory_params,
    .get_interface_params = remote_get_interface_params,
    .block_copy = remote_block_copy,
    .block_rebase = remote_block_rebase,
    .block_job_info = remote_block_job_info,
    .block_job_abort = remote_block_job_abort,
    .block_job_set_speed = remote_block_job_set_speed,
    .set_interface_params = remote_set_interface_params,
    .set_memory_flags = remote_set_memory_flags,
    .update_device_flags = remote_update_device_flags,
    .attach_device_flags = remote_attach_device_flags,
    .detach_device_flags = remote_detach_device_flags,
    .detach_device_alias = remote_detach_device_alias,
    .event_fd = remote_event_fd,
    .process_events = remote_process_events,
    .lifecycle_events = remote_lifecycle_events,
    .open_console = remote_open_console,
    .screenshot = remote_screenshot,
    .migrate_begin3 = remote_migrate_begin3,
    .migrate_prepare3 = remote_migrate_prepare3,
    .migrate_perform3 = remote_migrate_perform3,
    .migrate_finish3 = remote_migrate_finish3,
    .migrate_confirm3 = remote_migrate_confirm3,
    .migrate_set_max_downtime = remote_migrate_set_max_downtime,
    .migrate_get_max_downtime = remote_migrate_get_max_downtime,
    .migrate_set_max_speed = remote_migrate_set_max_speed,
    .migrate_get_max_speed = remote_migrate_get_max_speed,
    .get_job_stats = remote_get_job_stats,
    .abort_job = remote_abort_job,
    .migrate_start_post_copy = remote_migrate_start_post_copy,
    .send_key = remote_send_key,
    .stream_send = remote_stream_send,
    .stream_finish = remote_stream_finish,
    .stream_close = remote_stream_close,
    .network = &vir_remote_network_driver,
    .rpc_call = call,
    .stream_send_hole = remote_stream_send_hole,
    .rpc_stream_call = remote_rpc_stream_call,
};
