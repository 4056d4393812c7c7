/*
 * test-remote.c - the remote program: the procedure table, golden bytes of
 * structures with rpcgen's quirks (chars as 4-byte units), a round trip of
 * every procedure's arguments and reply, limit rejections, and dispatch
 * (NO_SUPPORT errors, keepalive, bad arguments, a successful call).
 */
#include <errno.h>

#include "../tap.h"
#include "rpc/dispatch.h"

static void test_table(void)
{
    int sorted = 1, named = 1;
    for (size_t i = 0; i < REMOTE_PROC_COUNT; i++) {
        if (i && remote_procs[i - 1].proc >= remote_procs[i].proc)
            sorted = 0;
        if (!remote_procs[i].is_event &&
            (!remote_procs[i].api || strncmp(remote_procs[i].api, "vir", 3)))
            named = 0;
        if (remote_proc_lookup(remote_procs[i].proc) != &remote_procs[i])
            sorted = 0;
    }
    ok(sorted, "procedure table is sorted and every entry can be looked up");
    ok(named, "every call names its libvirt API");
    ok(remote_proc_lookup(9999) == NULL && remote_proc_lookup(0) == NULL, "unknown numbers miss");
    const struct remote_proc *p = remote_proc_lookup(273);
    ok(p && strcmp(p->name, "CONNECT_LIST_ALL_DOMAINS") == 0 &&
           strcmp(p->api, "virConnectListAllDomains") == 0,
       "273 is CONNECT_LIST_ALL_DOMAINS");
    p = remote_proc_lookup(318);
    ok(p && p->is_event && p->args, "318 is the callback lifecycle event");
    tap_diag("%d procedures and events in the table", REMOTE_PROC_COUNT);
}

static void test_golden(void)
{
    struct buf b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &b);

    struct remote_node_get_info_ret ni = {.model = "ab", .memory = 1, .cpus = 2};
    remote_node_get_info_ret_encode(&e, &ni);
    ok(b.len == 32 * 4 + 8 + 6 * 4, "node info: 32 chars as 4-byte units, then the numbers");
    ok(memcmp(b.data, "\0\0\0a\0\0\0b\0\0\0\0", 12) == 0, "model chars are one unit each");

    buf_reset(&b);
    struct remote_domain_get_info_ret gi = {
        .state = 1, .maxMem = 2, .memory = 3, .nrVirtCpu = 4, .cpuTime = 5};
    remote_domain_get_info_ret_encode(&e, &gi);
    static const uint8_t want_gi[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0,
                                      0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5};
    ok(b.len == sizeof(want_gi) && memcmp(b.data, want_gi, sizeof(want_gi)) == 0,
       "domain info: uchar and ushort take 4 bytes each");

    buf_reset(&b);
    struct remote_nonnull_domain dom = {.name = "vm", .id = -1};
    memset(dom.uuid, 0xab, 16);
    struct remote_connect_list_all_domains_ret la = {.domains_len = 1, .domains = &dom, .ret = 1};
    remote_connect_list_all_domains_ret_encode(&e, &la);
    static const uint8_t want_la[] = {0,    0,    0,    1,    0,    0,    0,    2,    'v',
                                      'm',  0,    0,    0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                      0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                      0xab, 0xff, 0xff, 0xff, 0xff, 0,    0,    0,    1};
    ok(b.len == sizeof(want_la) && memcmp(b.data, want_la, sizeof(want_la)) == 0,
       "list all domains: count, name, uuid, id, ret");
    buf_free(&b);
}

/* Encodes a zeroed structure, decodes it, re-encodes: the bytes must agree. */
static int round_trip(const struct remote_type *t)
{
    void *zero = calloc(1, t->size);
    struct buf a = BUF_INIT, b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &a);
    t->encode(&e, zero);
    void *v = NULL;
    struct verr err = {0};
    int good = rpc_payload_decode(t, a.data, a.len, &v, &err) == 0;
    if (good) {
        xdr_enc_init(&e, &b);
        t->encode(&e, v);
        good = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
    } else {
        tap_diag("%s: %s", t->name, err.msg);
    }
    /* Every truncation must fail cleanly. */
    for (size_t n = 0; good && n < a.len; n++) {
        void *w = NULL;
        if (rpc_payload_decode(t, a.data, n, &w, &err) != -EBADMSG || w) {
            tap_diag("%s accepted %zu of %zu bytes", t->name, n, a.len);
            good = 0;
        }
    }
    rpc_payload_free(t, v);
    free(zero);
    buf_free(&a);
    buf_free(&b);
    return good;
}

static void test_all_round_trips(void)
{
    int good = 1, n = 0;
    for (size_t i = 0; i < REMOTE_PROC_COUNT; i++) {
        if (remote_procs[i].args) {
            good &= round_trip(remote_procs[i].args);
            n++;
        }
        if (remote_procs[i].ret) {
            good &= round_trip(remote_procs[i].ret);
            n++;
        }
    }
    ok(good, "all %d argument, reply and event structures round-trip and reject truncation", n);

    /* A richer value: scheduler parameters with every typed parameter kind. */
    struct remote_typed_param tp[7] = {
        {.field = "i", .type = 1, .value.i = -5},     {.field = "ui", .type = 2, .value.ui = 5},
        {.field = "l", .type = 3, .value.l = -1},     {.field = "ul", .type = 4, .value.ul = 1},
        {.field = "d", .type = 5, .value.d = 0.25},   {.field = "b", .type = 6, .value.b = 1},
        {.field = "s", .type = 7, .value.s = "text"},
    };
    struct remote_domain_set_scheduler_parameters_flags_args sp = {
        .dom = {.name = "vm"}, .params_len = 7, .params = tp, .flags = 3};
    struct buf b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &b);
    remote_domain_set_scheduler_parameters_flags_args_encode(&e, &sp);
    void *v = NULL;
    struct verr err = {0};
    const struct remote_proc *p = remote_proc_lookup(219);
    ok(rpc_payload_decode(p->args, b.data, b.len, &v, &err) == 0, "typed parameters decode");
    struct remote_domain_set_scheduler_parameters_flags_args *d = v;
    ok(d && d->params_len == 7 && d->params[0].value.i == -5 && d->params[4].value.d == 0.25 &&
           strcmp(d->params[6].value.s, "text") == 0 && d->flags == 3,
       "typed parameters keep their values");
    rpc_payload_free(p->args, v);
    buf_free(&b);
}

static void test_rejections(void)
{
    struct verr err = {0};
    void *v = NULL;
    struct buf b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &b);

    /* A name one byte longer than REMOTE_STRING_MAX (the bytes are not even needed). */
    xdr_put_u32(&e, REMOTE_STRING_MAX + 1);
    ok(rpc_payload_decode(remote_proc_lookup(23)->args, b.data, b.len, &v, &err) == -EBADMSG &&
           strstr(err.msg, "domain_lookup_by_name_args.name") && strstr(err.msg, "over the limit"),
       "a string past REMOTE_STRING_MAX is rejected: %s", err.msg);

    buf_reset(&b);
    xdr_put_u32(&e, REMOTE_DOMAIN_LIST_MAX + 1);
    ok(rpc_payload_decode(remote_proc_lookup(273)->ret, b.data, b.len, &v, &err) == -EBADMSG &&
           strstr(err.msg, "over the limit 16384"),
       "a domain list past REMOTE_DOMAIN_LIST_MAX is rejected: %s", err.msg);

    buf_reset(&b);
    xdr_put_u32(&e, 1);
    xdr_put_u32(&e, 5);
    ok(rpc_payload_decode(remote_proc_lookup(66)->ret, b.data, b.len, &v, &err) == -EBADMSG &&
           strstr(err.msg, "bad enum value 5"),
       "an auth type outside the enum is rejected: %s", err.msg);

    buf_reset(&b);
    xdr_put_u32(&e, 1);
    xdr_put_string(&e, "f");
    xdr_put_u32(&e, 8);
    ok(rpc_payload_decode(remote_proc_lookup(57)->ret, b.data, b.len, &v, &err) == -EBADMSG &&
           strstr(err.msg, "bad typed parameter type 8"),
       "a typed parameter of unknown type is rejected: %s", err.msg);

    buf_reset(&b);
    xdr_put_u32(&e, 1);
    xdr_put_u32(&e, 0);
    ok(rpc_payload_decode(remote_proc_lookup(60)->args, b.data, b.len, &v, &err) == -EBADMSG &&
           strstr(err.msg, "unexpected bytes"),
       "trailing bytes after the arguments are rejected: %s", err.msg);

    buf_reset(&b);
    xdr_put_u32(&e, 2);
    ok(rpc_payload_decode(remote_proc_lookup(316)->args, b.data, b.len, &v, &err) == -EBADMSG,
       "a truncated optional domain is rejected");
    buf_free(&b);
}

/* Dispatch: one handler, everything else falls through. */
static int h_hostname(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                      struct rpc_error *err)
{
    (void)h, (void)args, (void)err;
    (*(int *)ctx)++;
    ((struct remote_connect_get_hostname_ret *)ret)->hostname = strdup("box");
    return 0;
}

static int h_lookup(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                    struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)ret;
    rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU, "Domain not found");
    return -1;
}

static void echo_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                        struct buf *out)
{
    struct verr err = {0};
    (*(int *)ctx)++;
    rpc_stream_encode(out, h->proc, h->serial, h->status, payload, len, &err);
}

struct reply {
    struct rpc_header h;
    struct rpc_error e;
    struct buf raw;
    const uint8_t *payload;
    size_t plen;
};

static int call(const struct rpc_dispatcher *d, uint32_t prog, uint32_t type, int proc,
                const uint8_t *payload, size_t plen, struct reply *out)
{
    struct buf in = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = {prog, 1, proc, type, 42, RPC_OK};
    rpc_msg_encode_raw(&in, &h, payload, plen, &err);
    memset(out, 0, sizeof(*out));
    int r = rpc_dispatch(d, in.data, in.len, &out->raw, &err);
    buf_free(&in);
    if (r < 0 || out->raw.len == 0)
        return r;
    rpc_msg_parse(out->raw.data, out->raw.len, &out->h, &out->payload, &out->plen, &err);
    if (out->h.status == RPC_ERROR) {
        struct xdr_dec dec;
        xdr_dec_init(&dec, out->payload, out->plen, &err);
        rpc_error_decode(&dec, &out->e);
    }
    return 0;
}

static void reply_free(struct reply *r)
{
    rpc_error_free(&r->e);
    buf_free(&r->raw);
}

static void test_dispatch(void)
{
    int calls = 0;
    static const struct rpc_handler handlers[] = {
        {REMOTE_PROC_CONNECT_GET_HOSTNAME, h_hostname},
        {REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, h_lookup},
    };
    struct rpc_dispatcher d = {handlers, 2, NULL, &calls};
    struct reply r;

    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, 0, &r);
    ok(calls == 1 && r.h.type == RPC_REPLY && r.h.status == RPC_OK && r.h.serial == 42 &&
           r.h.proc == REMOTE_PROC_CONNECT_GET_HOSTNAME,
       "handled call gets an OK reply with the same serial and procedure");
    ok(r.plen == 8 && memcmp(r.payload, "\0\0\0\3box\0", 8) == 0, "reply carries the hostname");
    reply_free(&r);

    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_DOMAIN_GET_INFO,
         (const uint8_t *)"\0\0\0\1v\0\0\0"
                          "0123456789abcdef"
                          "\0\0\0\1",
         28, &r);
    ok(r.h.status == RPC_ERROR && r.e.code == RPC_ERR_NO_SUPPORT &&
           strcmp(r.e.message, "this function is not supported by the connection driver: "
                               "virDomainGetInfo") == 0,
       "known procedure without a handler: NO_SUPPORT naming the API");
    reply_free(&r);

    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, 4242, NULL, 0, &r);
    ok(r.h.status == RPC_ERROR && r.e.code == RPC_ERR_NO_SUPPORT && r.e.domain == RPC_FROM_RPC &&
           strstr(r.e.message, "unknown procedure: 4242"),
       "unknown procedure: NO_SUPPORT naming the number");
    reply_free(&r);

    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME,
         (const uint8_t *)"\0\0\0\5", 4, &r);
    ok(r.h.status == RPC_ERROR && r.e.code == RPC_ERR_RPC &&
           strstr(r.e.message, "cannot decode arguments of DOMAIN_LOOKUP_BY_NAME"),
       "malformed arguments: an RPC error reply, handler not called");
    reply_free(&r);

    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME,
         (const uint8_t *)"\0\0\0\2vm\0\0", 8, &r);
    ok(r.h.status == RPC_ERROR && r.e.code == RPC_ERR_NO_DOMAIN &&
           strcmp(r.e.message, "Domain not found") == 0,
       "a handler's error reaches the client");
    reply_free(&r);

    call(&d, RPC_KEEPALIVE_PROGRAM, RPC_MESSAGE, RPC_KEEPALIVE_PROC_PING, NULL, 0, &r);
    static const uint8_t pong[] = {0, 0, 0, 28, 0x6b, 0x65, 0x65, 0x70, 0, 0, 0, 1, 0, 0,
                                   0, 2, 0, 0,  0,    2,    0,    0,    0, 0, 0, 0, 0, 0};
    ok(r.raw.len == sizeof(pong) && memcmp(r.raw.data, pong, sizeof(pong)) == 0,
       "keepalive PING is answered with PONG");
    reply_free(&r);

    call(&d, RPC_KEEPALIVE_PROGRAM, RPC_MESSAGE, RPC_KEEPALIVE_PROC_PONG, NULL, 0, &r);
    ok(r.raw.len == 0, "a PONG needs no answer");
    reply_free(&r);

    call(&d, 0x12345678, RPC_CALL, 1, NULL, 0, &r);
    ok(r.h.status == RPC_ERROR && strstr(r.e.message, "cannot find program"),
       "a call to an unknown program gets an error");
    reply_free(&r);

    d.readonly = true;
    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_DOMAIN_DESTROY,
         (const uint8_t *)"\0\0\0\1v\0\0\0"
                          "0123456789abcdef"
                          "\0\0\0\1",
         28, &r);
    ok(r.h.status == RPC_ERROR && r.e.code == RPC_ERR_OPERATION_DENIED &&
           strcmp(r.e.message, "operation forbidden: read only access prevents virDomainDestroy") ==
               0,
       "read-only connection: a state-changing call is denied in libvirt's words");
    reply_free(&r);
    calls = 0;
    call(&d, RPC_REMOTE_PROGRAM, RPC_CALL, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, 0, &r);
    ok(calls == 1 && r.h.status == RPC_OK, "read-only connection: reads still work");
    reply_free(&r);
    d.readonly = false;

    calls = 0;
    call(&d, RPC_REMOTE_PROGRAM, RPC_STREAM, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, (const uint8_t *)"ab",
         2, &r);
    ok(calls == 0 && r.raw.len == 0, "stream data without a stream handler is dropped");
    reply_free(&r);
    d.stream = echo_stream;
    call(&d, RPC_REMOTE_PROGRAM, RPC_STREAM, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, (const uint8_t *)"ab",
         2, &r);
    ok(calls == 1 && r.h.type == RPC_STREAM && r.h.serial == 42 &&
           r.h.proc == REMOTE_PROC_DOMAIN_OPEN_CONSOLE && r.plen == 2 &&
           memcmp(r.payload, "ab", 2) == 0,
       "stream data reaches the stream handler, which can answer on the same stream");
    reply_free(&r);

    struct buf out = BUF_INIT;
    struct verr err = {0};
    ok(rpc_dispatch(&d, (const uint8_t *)"\0\0\0\4", 4, &out, &err) == -EBADMSG && out.len == 0,
       "an unframeable message asks for the connection to be dropped");
    buf_free(&out);
}

int main(void)
{
    test_table();
    test_golden();
    test_all_round_trips();
    test_rejections();
    test_dispatch();
    return tap_done();
}
