/*
 * protocol.c - header and error structure codecs, and the error helpers
 * that produce messages in the words a stock libvirt client expects.
 */
#include "rpc/protocol.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/remote_protocol.h"
#include "util/mem.h"

void rpc_header_encode(struct xdr_enc *enc, const struct rpc_header *h)
{
    xdr_put_u32(enc, h->prog);
    xdr_put_u32(enc, h->vers);
    xdr_put_i32(enc, h->proc);
    xdr_put_u32(enc, h->type);
    xdr_put_u32(enc, h->serial);
    xdr_put_u32(enc, h->status);
}

int rpc_header_decode(struct xdr_dec *dec, struct rpc_header *h)
{
    int r;
    if ((r = xdr_get_u32(dec, &h->prog, "header.prog")) < 0 ||
        (r = xdr_get_u32(dec, &h->vers, "header.vers")) < 0 ||
        (r = xdr_get_i32(dec, &h->proc, "header.proc")) < 0 ||
        (r = xdr_get_u32(dec, &h->type, "header.type")) < 0 ||
        (r = xdr_get_u32(dec, &h->serial, "header.serial")) < 0 ||
        (r = xdr_get_u32(dec, &h->status, "header.status")) < 0)
        return r;
    if (h->type > RPC_STREAM_HOLE)
        return verr_set(dec->err, EBADMSG, "bad message type %u in header", h->type);
    if (h->status > RPC_CONTINUE)
        return verr_set(dec->err, EBADMSG, "bad message status %u in header", h->status);
    return 0;
}

const char *rpc_msg_type_name(uint32_t type)
{
    static const char *const names[] = {"CALL",          "REPLY",          "MESSAGE",    "STREAM",
                                        "CALL_WITH_FDS", "REPLY_WITH_FDS", "STREAM_HOLE"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static void put_opt_string(struct xdr_enc *enc, const char *s)
{
    xdr_put_bool(enc, s != NULL);
    if (s)
        xdr_put_string(enc, s);
}

void rpc_error_encode(struct xdr_enc *enc, const struct rpc_error *e)
{
    xdr_put_i32(enc, e->code);
    xdr_put_i32(enc, e->domain);
    put_opt_string(enc, e->message);
    xdr_put_i32(enc, e->level);
    xdr_put_bool(enc, false); /* dom */
    put_opt_string(enc, e->str1);
    put_opt_string(enc, e->str2);
    put_opt_string(enc, e->str3);
    xdr_put_i32(enc, e->int1);
    xdr_put_i32(enc, e->int2);
    xdr_put_bool(enc, false); /* net */
}

int rpc_error_decode(struct xdr_dec *dec, struct rpc_error *e)
{
    int r;
    bool present;
    memset(e, 0, sizeof(*e));
    if ((r = xdr_get_i32(dec, &e->code, "error.code")) < 0 ||
        (r = xdr_get_i32(dec, &e->domain, "error.domain")) < 0 ||
        (r = remote_get_opt_string(dec, &e->message, "error.message")) < 0 ||
        (r = xdr_get_i32(dec, &e->level, "error.level")) < 0 ||
        (r = xdr_get_bool(dec, &present, "error.dom")) < 0)
        goto fail;
    if (present) {
        struct remote_nonnull_domain dom = {0};
        r = remote_nonnull_domain_decode(dec, &dom);
        remote_nonnull_domain_free(&dom);
        if (r < 0)
            goto fail;
    }
    if ((r = remote_get_opt_string(dec, &e->str1, "error.str1")) < 0 ||
        (r = remote_get_opt_string(dec, &e->str2, "error.str2")) < 0 ||
        (r = remote_get_opt_string(dec, &e->str3, "error.str3")) < 0 ||
        (r = xdr_get_i32(dec, &e->int1, "error.int1")) < 0 ||
        (r = xdr_get_i32(dec, &e->int2, "error.int2")) < 0 ||
        (r = xdr_get_bool(dec, &present, "error.net")) < 0)
        goto fail;
    if (present) {
        struct remote_nonnull_network net = {0};
        r = remote_nonnull_network_decode(dec, &net);
        remote_nonnull_network_free(&net);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    rpc_error_free(e);
    return r;
}

void rpc_error_free(struct rpc_error *e)
{
    free(e->message);
    free(e->str1);
    free(e->str2);
    free(e->str3);
    memset(e, 0, sizeof(*e));
}

void rpc_error_set(struct rpc_error *e, int code, int domain, const char *fmt, ...)
{
    rpc_error_free(e);
    e->code = code;
    e->domain = domain;
    e->level = RPC_ERR_LEVEL_ERROR;
    e->int1 = -1;
    e->int2 = -1;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&e->message, fmt, ap) < 0)
        abort();
    va_end(ap);
}

/*
 * libvirt raises API-level errors from the public API entry point: the
 * domain is that file's (virDomain* in libvirt-domain.c, the rest in
 * libvirt-host.c).
 */
static int api_error_domain(const char *api)
{
    return strncmp(api, "virDomain", 9) == 0 ? RPC_FROM_DOMAIN : RPC_FROM_NONE;
}

void rpc_error_read_only(struct rpc_error *e, const char *api)
{
    rpc_error_set(e, RPC_ERR_OPERATION_DENIED, api_error_domain(api),
                  "operation forbidden: read only access prevents %s", api);
    e->str1 = xasprintf("read only access prevents %s", api);
}

void rpc_error_no_support(struct rpc_error *e, const char *api)
{
    int domain = api_error_domain(api);
    rpc_error_set(e, RPC_ERR_NO_SUPPORT, domain,
                  "this function is not supported by the connection driver: %s", api);
    e->str1 = xstrdup(api);
}
