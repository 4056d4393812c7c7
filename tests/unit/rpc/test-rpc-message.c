/*
 * test-rpc-message.c - the envelope: header bytes, length framing and its
 * limits, the incremental reader (byte by byte, in chunks, on a socket),
 * the write queue under back-pressure, and the error structure.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tap.h"
#include "rpc/message.h"
#include "rpc/remote_protocol.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_header_golden(void)
{
    struct buf b = BUF_INIT;
    struct rpc_header h = {RPC_REMOTE_PROGRAM, 1, REMOTE_PROC_CONNECT_OPEN, RPC_CALL, 5, RPC_OK};
    struct remote_connect_open_args a = {.name = "qemu:///system", .flags = 0};
    struct verr err = {0};
    ok(rpc_msg_encode(&b, &h, remote_proc_lookup(1)->args, &a, &err) == 0, "encode open call");
    static const uint8_t want[] = {
        0,    0,    0,    56,   /* length: 4 + 24 + 28 */
        0x20, 0x00, 0x80, 0x86, /* REMOTE_PROGRAM */
        0,    0,    0,    1,    /* version */
        0,    0,    0,    1,    /* CONNECT_OPEN */
        0,    0,    0,    0,    /* CALL */
        0,    0,    0,    5,    /* serial */
        0,    0,    0,    0,    /* OK */
        0,    0,    0,    1,    /* name present */
        0,    0,    0,    14,   'q', 'e', 'm', 'u', ':', '/',
        '/',  '/',  's',  'y',  's', 't', 'e', 'm', 0,   0, /* padding */
        0,    0,    0,    0,                                /* flags */
    };
    ok(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0,
       "connect open call has libvirt's exact bytes");

    struct rpc_header g;
    const uint8_t *payload;
    size_t plen;
    ok(rpc_msg_parse(b.data, b.len, &g, &payload, &plen, &err) == 0 && g.prog == h.prog &&
           g.vers == 1 && g.proc == 1 && g.type == RPC_CALL && g.serial == 5 && plen == 28,
       "parse gives the header back");
    buf_free(&b);
}

static void test_parse_rejections(void)
{
    uint8_t m[28] = {0};
    struct rpc_header h = {RPC_REMOTE_PROGRAM, 1, 1, RPC_CALL, 1, RPC_OK};
    struct buf b = BUF_INIT;
    struct verr err = {0};
    rpc_msg_encode(&b, &h, NULL, NULL, &err);
    memcpy(m, b.data, 28);
    buf_free(&b);
    const uint8_t *p;
    size_t pl;
    struct rpc_header g;

    uint8_t t[28];
    memcpy(t, m, 28);
    put_be32(t, 20);
    ok(rpc_msg_parse(t, 28, &g, &p, &pl, &err) == -EBADMSG && strstr(err.msg, "too small"),
       "length word below the header size is rejected");
    put_be32(t, 29);
    ok(rpc_msg_parse(t, 28, &g, &p, &pl, &err) == -EBADMSG && strstr(err.msg, "says 29 bytes"),
       "length word disagreeing with the message is rejected");
    memcpy(t, m, 28);
    put_be32(t + 16, 7);
    ok(rpc_msg_parse(t, 28, &g, &p, &pl, &err) == -EBADMSG && strstr(err.msg, "bad message type 7"),
       "unknown message type is rejected");
    memcpy(t, m, 28);
    put_be32(t + 24, 3);
    ok(rpc_msg_parse(t, 28, &g, &p, &pl, &err) == -EBADMSG &&
           strstr(err.msg, "bad message status 3"),
       "unknown status is rejected");
    ok(rpc_msg_check_length(RPC_MESSAGE_MAX + 4, &err) == 0, "32 MiB + 4 is the largest length");
    ok(rpc_msg_check_length(RPC_MESSAGE_MAX + 5, &err) == -EMSGSIZE &&
           strstr(err.msg, "exceeds the protocol limit"),
       "one byte more is rejected");
}

static void test_encode_limit(void)
{
    struct buf b = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = {RPC_REMOTE_PROGRAM, 1, 201, RPC_STREAM, 3, RPC_CONTINUE};
    uint8_t *big = calloc(1, RPC_MESSAGE_PAYLOAD_MAX + 1);
    ok(rpc_msg_encode_raw(&b, &h, big, RPC_MESSAGE_PAYLOAD_MAX + 1, &err) == -EMSGSIZE &&
           b.len == 0,
       "a payload one byte over the maximum is refused, nothing written");
    ok(rpc_msg_encode_raw(&b, &h, big, RPC_MESSAGE_PAYLOAD_MAX, &err) == 0 &&
           b.len == RPC_MESSAGE_MAX + 4,
       "a payload of exactly the maximum is sent");
    free(big);
    buf_free(&b);
}

/* Three messages of different sizes, back to back. */
static void make_stream(struct buf *b, size_t *sizes)
{
    struct verr err = {0};
    size_t payloads[3] = {0, 100, 70000};
    for (int i = 0; i < 3; i++) {
        size_t before = b->len;
        struct rpc_header h = {RPC_REMOTE_PROGRAM, 1, 201, RPC_STREAM, (uint32_t)i, RPC_CONTINUE};
        uint8_t *p = malloc(payloads[i] + 1);
        for (size_t j = 0; j < payloads[i]; j++)
            p[j] = (uint8_t)(j * 7 + i);
        rpc_msg_encode_raw(b, &h, p, payloads[i], &err);
        free(p);
        sizes[i] = b->len - before;
    }
}

static void test_reader_feed(void)
{
    struct buf s = BUF_INIT;
    size_t sizes[3];
    make_stream(&s, sizes);
    struct verr err = {0};

    for (int mode = 0; mode < 2; mode++) {
        struct rpc_reader r;
        rpc_reader_init(&r);
        size_t pos = 0, got = 0, off = 0;
        int good = 1;
        while (pos < s.len) {
            size_t chunk = mode == 0 ? 1 : 4093;
            if (chunk > s.len - pos)
                chunk = s.len - pos;
            ssize_t n = rpc_reader_feed(&r, s.data + pos, chunk, &err);
            if (n <= 0) {
                good = 0;
                break;
            }
            pos += (size_t)n;
            if (rpc_reader_done(&r)) {
                size_t len;
                const uint8_t *m = rpc_reader_message(&r, &len);
                good &= got < 3 && len == sizes[got] && memcmp(m, s.data + off, len) == 0;
                off += len;
                got++;
                rpc_reader_next(&r);
            }
        }
        ok(good && got == 3, "reader splits a stream fed %s into its 3 messages",
           mode == 0 ? "byte by byte" : "in 4093-byte chunks");
        rpc_reader_free(&r);
    }
    buf_free(&s);

    struct rpc_reader r;
    rpc_reader_init(&r);
    uint8_t word[4];
    put_be32(word, RPC_MESSAGE_MAX + 5);
    ok(rpc_reader_feed(&r, word, 4, &err) == -EMSGSIZE && r.cap == RPC_MESSAGE_INITIAL,
       "an oversized length word is rejected before any allocation");
    rpc_reader_free(&r);
    rpc_reader_init(&r);
    put_be32(word, 3);
    ok(rpc_reader_feed(&r, word, 4, &err) == -EBADMSG && strstr(err.msg, "too small"),
       "a length word smaller than a header is rejected");
    rpc_reader_free(&r);
}

static void test_socket_io(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        ok(0, "socketpair");
        return;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

    /* 1 MiB of stream data plus two small messages. */
    struct buf b = BUF_INIT, copy = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = {RPC_REMOTE_PROGRAM, 1, 201, RPC_STREAM, 9, RPC_CONTINUE};
    uint8_t *big = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        big[i] = (uint8_t)(i * 31);
    rpc_msg_encode_raw(&b, &h, big, 1 << 20, &err);
    h.status = RPC_OK;
    rpc_msg_encode_raw(&b, &h, NULL, 0, &err);
    rpc_msg_encode_raw(&b, &h, "xyz", 3, &err);
    buf_append(&copy, b.data, b.len);

    struct rpc_writer w;
    rpc_writer_init(&w);
    rpc_writer_push(&w, &b);
    ok(b.len == 0, "push takes the bytes");
    int r = rpc_writer_flush(&w, sv[0], &err);
    ok(r == 1 && rpc_writer_pending(&w), "writer reports pending bytes when the socket is full");

    struct rpc_reader rd;
    rpc_reader_init(&rd);
    struct buf got = BUF_INIT;
    int messages = 0, guard = 0;
    while ((rpc_writer_pending(&w) || messages < 3) && guard++ < 100000) {
        if (rpc_writer_pending(&w) && rpc_writer_flush(&w, sv[0], &err) < 0)
            break;
        int rr = rpc_reader_read_fd(&rd, sv[1], &err);
        if (rr < 0)
            break;
        if (rr == 1) {
            size_t len;
            const uint8_t *m = rpc_reader_message(&rd, &len);
            buf_append(&got, m, len);
            messages++;
            rpc_reader_next(&rd);
        }
    }
    ok(messages == 3 && got.len == copy.len && memcmp(got.data, copy.data, got.len) == 0,
       "reader on a non-blocking socket gets all 3 messages intact (%d)", messages);
    ok(!rpc_writer_pending(&w), "writer queue drained");
    close(sv[0]);
    struct verr eof = {0};
    ok(rpc_reader_read_fd(&rd, sv[1], &eof) == -ECONNRESET, "end of file is reported");
    close(sv[1]);
    rpc_reader_free(&rd);
    rpc_writer_free(&w);
    buf_free(&got);
    buf_free(&copy);
    buf_free(&b);
    free(big);
}

static void test_error_struct(void)
{
    struct rpc_error e = {0};
    rpc_error_no_support(&e, "virDomainPinEmulator");
    is_int(e.code, 3, "NO_SUPPORT is code 3");
    is_int(e.domain, RPC_FROM_DOMAIN, "a virDomain API reports from the domain layer");
    is_str(e.message,
           "this function is not supported by the connection driver: "
           "virDomainPinEmulator",
           "message in libvirt's words");

    struct buf b = BUF_INIT;
    struct xdr_enc enc;
    xdr_enc_init(&enc, &b);
    rpc_error_encode(&enc, &e);
    /* code, domain, message present, len */
    static const uint8_t head[] = {0, 0, 0, 3, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 77};
    ok(b.len > sizeof(head) && memcmp(b.data, head, sizeof(head)) == 0,
       "error starts with code, domain and the optional message");

    struct rpc_error d;
    struct verr err = {0};
    struct xdr_dec dec;
    xdr_dec_init(&dec, b.data, b.len, &err);
    ok(rpc_error_decode(&dec, &d) == 0 && xdr_expect_end(&dec, "error") == 0, "error decodes");
    ok(d.code == 3 && d.domain == 20 && d.level == 2 && d.int1 == -1 && d.str2 == NULL &&
           strcmp(d.message, e.message) == 0 && strcmp(d.str1, "virDomainPinEmulator") == 0,
       "error round trip keeps every member");
    rpc_error_free(&d);

    /* Truncations at every point fail cleanly (and leak nothing under ASan). */
    int clean = 1;
    for (size_t n = 0; n < b.len; n++) {
        xdr_dec_init(&dec, b.data, n, &err);
        clean &= rpc_error_decode(&dec, &d) == -EBADMSG && d.message == NULL;
    }
    ok(clean, "every truncation of an error is rejected");
    rpc_error_free(&e);
    buf_free(&b);
}

int main(void)
{
    test_header_golden();
    test_parse_rejections();
    test_encode_limit();
    test_reader_feed();
    test_socket_io();
    test_error_struct();
    return tap_done();
}
