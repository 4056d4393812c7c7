/*
 * fuzz-rpc.c - libFuzzer target for everything src/rpc reads from a peer:
 * bytes -> incremental message reader -> header -> the procedure's argument
 * (or reply / event / error) decoder, and the whole server dispatch path.
 *
 * Every structure that decodes is encoded again and decoded a second time:
 * the two encodings must be identical (a decoder that accepts what the
 * encoder cannot reproduce is a bug). Short payloads are also tried against
 * every structure in the table, so each decoder sees every seed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/dispatch.h"

static void check_type(const struct remote_type *t, const uint8_t *p, size_t n)
{
    void *v = NULL;
    struct verr err = {0};
    if (!t || rpc_payload_decode(t, p, n, &v, &err) < 0)
        return;
    struct buf a = BUF_INIT, b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &a);
    t->encode(&e, v);
    void *w = NULL;
    if (rpc_payload_decode(t, a.data, a.len, &w, &err) < 0)
        abort();
    xdr_enc_init(&e, &b);
    t->encode(&e, w);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    rpc_payload_free(t, v);
    rpc_payload_free(t, w);
    buf_free(&a);
    buf_free(&b);
}

static void check_message(const uint8_t *msg, size_t len)
{
    struct rpc_header h;
    const uint8_t *p;
    size_t n;
    struct verr err = {0};
    if (rpc_msg_parse(msg, len, &h, &p, &n, &err) < 0)
        return;

    const struct remote_proc *proc = remote_proc_lookup(h.proc);
    if (proc) {
        check_type(proc->args, p, n);
        check_type(proc->ret, p, n);
    }
    struct xdr_dec dec;
    xdr_dec_init(&dec, p, n, &err);
    struct rpc_error e;
    if (rpc_error_decode(&dec, &e) == 0)
        rpc_error_free(&e);
    /* a STREAM_HOLE payload (sparse volume uploads) */
    int64_t hole;
    if (rpc_stream_hole_decode(p, n, &hole) == 0 && hole < 0)
        __builtin_trap();
    if (n <= 512) {
        for (size_t i = 0; i < REMOTE_PROC_COUNT; i++) {
            check_type(remote_procs[i].args, p, n);
            check_type(remote_procs[i].ret, p, n);
        }
    }

    /* The server path with no handlers: NO_SUPPORT, keepalive, errors. */
    struct rpc_dispatcher d = {NULL, 0, NULL, NULL};
    struct buf out = BUF_INIT;
    rpc_dispatch(&d, msg, len, &out, &err);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_reader r;
    rpc_reader_init(&r);
    size_t pos = 0;
    struct verr err = {0};
    while (pos < size) {
        ssize_t n = rpc_reader_feed(&r, data + pos, size - pos, &err);
        if (n <= 0)
            break;
        pos += (size_t)n;
        if (rpc_reader_done(&r)) {
            size_t len;
            const uint8_t *msg = rpc_reader_message(&r, &len);
            check_message(msg, len);
            rpc_reader_next(&r);
        }
    }
    rpc_reader_free(&r);
    return 0;
}
