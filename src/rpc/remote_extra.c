/*
 * remote_extra.c - hand-written pieces of the remote program: the typed
 * parameter union, optional strings, and procedure lookup in the generated
 * table.
 */
#include "rpc/remote_extra.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/remote_protocol.h"

const struct remote_proc *remote_proc_lookup(int proc)
{
    size_t lo = 0, hi = REMOTE_PROC_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (remote_procs[mid].proc == proc)
            return &remote_procs[mid];
        if (remote_procs[mid].proc < proc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *remote_proc_api_name(int proc)
{
    size_t lo = 0, hi = REMOTE_PROC_NAME_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (remote_proc_names[mid].proc == proc)
            return remote_proc_names[mid].api;
        if (remote_proc_names[mid].proc < proc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int remote_get_opt_string(struct xdr_dec *dec, char **out, const char *what)
{
    bool present;
    int r = xdr_get_bool(dec, &present, what);
    if (r < 0)
        return r;
    *out = NULL;
    return present ? xdr_get_string(dec, out, REMOTE_STRING_MAX, what) : 0;
}

int remote_typed_param_decode(struct xdr_dec *dec, struct remote_typed_param *v)
{
    int r = xdr_get_string(dec, &v->field, REMOTE_STRING_MAX, "typed_param.field");
    if (r < 0)
        return r;
    size_t at = dec->pos;
    if ((r = xdr_get_i32(dec, &v->type, "typed_param.type")) < 0)
        return r;
    switch (v->type) {
    case REMOTE_TYPED_PARAM_INT:
        return xdr_get_i32(dec, &v->value.i, "typed_param.i");
    case REMOTE_TYPED_PARAM_UINT:
        return xdr_get_u32(dec, &v->value.ui, "typed_param.ui");
    case REMOTE_TYPED_PARAM_LLONG:
        return xdr_get_i64(dec, &v->value.l, "typed_param.l");
    case REMOTE_TYPED_PARAM_ULLONG:
        return xdr_get_u64(dec, &v->value.ul, "typed_param.ul");
    case REMOTE_TYPED_PARAM_DOUBLE:
        return xdr_get_double(dec, &v->value.d, "typed_param.d");
    case REMOTE_TYPED_PARAM_BOOLEAN:
        return xdr_get_i32(dec, &v->value.b, "typed_param.b");
    case REMOTE_TYPED_PARAM_STRING:
        return xdr_get_string(dec, &v->value.s, REMOTE_STRING_MAX, "typed_param.s");
    default: {
        int32_t bad = v->type;
        v->type = 0; /* so that free does not read a union member that was never set */
        return verr_set(dec->err, EBADMSG, "bad typed parameter type %d at offset %zu", bad, at);
    }
    }
}

void remote_typed_param_encode(struct xdr_enc *enc, const struct remote_typed_param *v)
{
    xdr_put_string(enc, v->field ? v->field : "");
    xdr_put_i32(enc, v->type);
    switch (v->type) {
    case REMOTE_TYPED_PARAM_INT:
        xdr_put_i32(enc, v->value.i);
        break;
    case REMOTE_TYPED_PARAM_UINT:
        xdr_put_u32(enc, v->value.ui);
        break;
    case REMOTE_TYPED_PARAM_LLONG:
        xdr_put_i64(enc, v->value.l);
        break;
    case REMOTE_TYPED_PARAM_ULLONG:
        xdr_put_u64(enc, v->value.ul);
        break;
    case REMOTE_TYPED_PARAM_DOUBLE:
        xdr_put_double(enc, v->value.d);
        break;
    case REMOTE_TYPED_PARAM_BOOLEAN:
        xdr_put_i32(enc, v->value.b);
        break;
    case REMOTE_TYPED_PARAM_STRING:
        xdr_put_string(enc, v->value.s ? v->value.s : "");
        break;
    default:
        /* Callers build these; an unknown type is a programming error. */
        abort();
    }
}

void remote_typed_param_free(struct remote_typed_param *v)
{
    free(v->field);
    if (v->type == REMOTE_TYPED_PARAM_STRING)
        free(v->value.s);
    memset(v, 0, sizeof(*v));
}
