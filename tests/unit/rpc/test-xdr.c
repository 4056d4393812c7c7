/*
 * test-xdr.c - XDR primitives: exact bytes on the wire (RFC 4506), round
 * trips, and every decoder rejection with its message.
 */
#include <errno.h>
#include <math.h>

#include "../tap.h"
#include "rpc/xdr.h"

static int bytes_are(const struct buf *b, const uint8_t *want, size_t n)
{
    return b->len == n && memcmp(b->data, want, n) == 0;
}

static void test_golden(void)
{
    struct buf b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &b);

    xdr_put_u32(&e, 0x01020304);
    ok(bytes_are(&b, (const uint8_t[]){1, 2, 3, 4}, 4), "uint is big-endian");
    buf_reset(&b);
    xdr_put_i32(&e, -2);
    ok(bytes_are(&b, (const uint8_t[]){0xff, 0xff, 0xff, 0xfe}, 4), "int is two's complement");
    buf_reset(&b);
    xdr_put_u64(&e, 0x0102030405060708ull);
    ok(bytes_are(&b, (const uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8), "hyper is 8 bytes, high first");
    buf_reset(&b);
    xdr_put_bool(&e, true);
    ok(bytes_are(&b, (const uint8_t[]){0, 0, 0, 1}, 4), "bool true is 1");
    buf_reset(&b);
    xdr_put_double(&e, 1.0);
    ok(bytes_are(&b, (const uint8_t[]){0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, 8), "double is IEEE 754");
    buf_reset(&b);
    xdr_put_string(&e, "abcde");
    ok(bytes_are(&b, (const uint8_t[]){0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0}, 12),
       "string: length, bytes, zero padding to 4");
    buf_reset(&b);
    xdr_put_string(&e, "");
    ok(bytes_are(&b, (const uint8_t[]){0, 0, 0, 0}, 4), "empty string is one zero unit");
    buf_reset(&b);
    xdr_put_opaque_fixed(&e, "\x01\x02\x03\x04\x05\x06", 6);
    ok(bytes_are(&b, (const uint8_t[]){1, 2, 3, 4, 5, 6, 0, 0}, 8), "fixed opaque is padded");
    buf_reset(&b);
    xdr_put_opaque(&e, "\xaa", 1);
    ok(bytes_are(&b, (const uint8_t[]){0, 0, 0, 1, 0xaa, 0, 0, 0}, 8), "variable opaque");
    buf_free(&b);
}

static void test_round_trip(void)
{
    struct buf b = BUF_INIT;
    struct xdr_enc e;
    xdr_enc_init(&e, &b);
    xdr_put_u32(&e, 4000000000u);
    xdr_put_i32(&e, -123456);
    xdr_put_u64(&e, UINT64_MAX - 5);
    xdr_put_i64(&e, INT64_MIN + 7);
    xdr_put_bool(&e, false);
    xdr_put_double(&e, -2.5);
    xdr_put_string(&e, "hello, world");
    xdr_put_opaque(&e, "\x00\x01\x02", 3);
    xdr_put_i32(&e, 2);

    struct verr err = {0};
    struct xdr_dec d;
    xdr_dec_init(&d, b.data, b.len, &err);
    uint32_t u;
    int32_t i;
    uint64_t uh;
    int64_t ih;
    bool bo = true;
    double db;
    char *s = NULL;
    uint8_t *o = NULL;
    uint32_t olen;
    int32_t en;
    static const int32_t allowed[] = {0, 1, 2};
    ok(xdr_get_u32(&d, &u, "u") == 0 && u == 4000000000u, "uint round trip");
    ok(xdr_get_i32(&d, &i, "i") == 0 && i == -123456, "int round trip");
    ok(xdr_get_u64(&d, &uh, "uh") == 0 && uh == UINT64_MAX - 5, "uhyper round trip");
    ok(xdr_get_i64(&d, &ih, "ih") == 0 && ih == INT64_MIN + 7, "hyper round trip");
    ok(xdr_get_bool(&d, &bo, "b") == 0 && !bo, "bool round trip");
    ok(xdr_get_double(&d, &db, "d") == 0 && db == -2.5, "double round trip");
    ok(xdr_get_string(&d, &s, 100, "s") == 0 && s && strcmp(s, "hello, world") == 0,
       "string round trip");
    ok(xdr_get_opaque(&d, &o, &olen, 10, "o") == 0 && olen == 3 && memcmp(o, "\0\1\2", 3) == 0,
       "opaque round trip");
    ok(xdr_get_enum(&d, &en, allowed, 3, "e") == 0 && en == 2, "enum round trip");
    ok(xdr_expect_end(&d, "all") == 0, "nothing left over");
    free(s);
    free(o);
    buf_free(&b);
}

/* Decodes `data` with one call and expects failure whose message contains `needle`. */
#define REJECT(call_, data_, needle_, desc_)                                                       \
    do {                                                                                           \
        static const uint8_t in_[] = data_;                                                        \
        struct verr err_ = {0};                                                                    \
        struct xdr_dec d_;                                                                         \
        xdr_dec_init(&d_, in_, sizeof(in_), &err_);                                                \
        struct xdr_dec *dec = &d_;                                                                 \
        int r_ = (call_);                                                                          \
        ok(r_ == -EBADMSG && strstr(err_.msg, needle_), "rejects %s", desc_);                      \
        if (r_ != -EBADMSG || !strstr(err_.msg, needle_))                                          \
            tap_diag("r=%d msg='%s'", r_, err_.msg);                                               \
    } while (0)

#define BYTES(...)                                                                                 \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static void test_rejections(void)
{
    uint32_t u;
    uint64_t uh;
    bool bo;
    char *s = NULL;
    uint8_t *o = NULL;
    uint32_t n;
    int32_t en;
    uint8_t uc;
    uint16_t us;
    uint8_t fixed[16];
    static const int32_t allowed[] = {0, 1, 2};

    REJECT(xdr_get_u32(dec, &u, "x.n"), BYTES(0, 0, 1), "truncated at 'x.n' (offset 0): need 4",
           "a truncated uint");
    REJECT(xdr_get_u64(dec, &uh, "x.h"), BYTES(0, 0, 0, 0, 1), "need 8", "a truncated hyper");
    {
        /* rpcgen's xdr_bool (libvirtd's) takes any non-zero word as true: so does Vireo. */
        static const uint8_t in[] = {0, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0};
        struct verr err = {0};
        struct xdr_dec d;
        bool b1 = false, b2 = false, b3 = true;
        xdr_dec_init(&d, in, sizeof(in), &err);
        ok(xdr_get_bool(&d, &b1, "x.b") == 0 && xdr_get_bool(&d, &b2, "x.b") == 0 &&
               xdr_get_bool(&d, &b3, "x.b") == 0 && b1 && b2 && !b3,
           "a bool is true for any non-zero word, false for 0 (as xdr_bool)");
    }
    REJECT(xdr_get_bool(dec, &bo, "x.b"), BYTES(0, 0, 1), "truncated at 'x.b'", "a truncated bool");
    REJECT(xdr_get_enum(dec, &en, allowed, 3, "x.e"), BYTES(0, 0, 0, 7), "bad enum value 7",
           "an enum value outside the enum");
    REJECT(xdr_get_uchar(dec, &uc, "x.c"), BYTES(0, 0, 1, 0), "out of range",
           "an unsigned char over 255");
    REJECT(xdr_get_ushort(dec, &us, "x.s"), BYTES(0, 1, 0, 0), "out of range",
           "an unsigned short over 65535");
    REJECT(
        xdr_get_string(dec, &s, 4, "x.name"), BYTES(0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0),
        "string 'x.name' (offset 0) has length 5, over the limit 4", "a string past its maximum");
    REJECT(xdr_get_string(dec, &s, 100, "x.name"), BYTES(0, 0, 0, 9, 'a', 'b', 'c', 'd'),
           "truncated at 'x.name'", "a string longer than the message");
    REJECT(xdr_get_string(dec, &s, 100, "x.name"), BYTES(0, 0, 0, 3, 'a', 0, 'c', 0),
           "contains a NUL byte", "a string with an embedded NUL");
    REJECT(xdr_get_string(dec, &s, 100, "x.name"), BYTES(0, 0, 0, 1, 'a', 0, 7, 0),
           "nonzero padding", "nonzero padding after a string");
    REJECT(xdr_get_string(dec, &s, UINT32_MAX, "x.name"), BYTES(0xff, 0xff, 0xff, 0xff),
           "truncated", "a 4 GiB string length (no allocation, no overflow)");
    REJECT(xdr_get_opaque(dec, &o, &n, 2, "x.map"), BYTES(0, 0, 0, 3, 1, 2, 3, 0),
           "over the limit 2", "an opaque past its maximum");
    REJECT(xdr_get_opaque_fixed(dec, fixed, 16, "x.uuid"), BYTES(1, 2, 3, 4, 5, 6, 7, 8),
           "truncated at 'x.uuid'", "a short uuid");
    REJECT(xdr_get_count(dec, &n, 16, 4, "x.list"), BYTES(0, 0, 0, 17),
           "has 17 elements, over the limit 16", "an array past its maximum");
    REJECT(xdr_get_count(dec, &n, 16384, 4, "x.list"), BYTES(0, 0, 0, 3, 0, 0, 0, 0),
           "claims 3 elements but only 4 bytes are left", "an array longer than the message");
    {
        static const uint8_t in[] = {0, 0, 0, 1, 0, 0, 0, 2};
        struct verr err = {0};
        struct xdr_dec d;
        xdr_dec_init(&d, in, sizeof(in), &err);
        xdr_get_u32(&d, &u, "a");
        ok(xdr_expect_end(&d, "thing") == -EBADMSG && strstr(err.msg, "4 unexpected bytes"),
           "rejects trailing bytes");
    }
    ok(s == NULL && o == NULL, "failed decoders allocate nothing");
}

int main(void)
{
    test_golden();
    test_round_trip();
    test_rejections();
    return tap_done();
}
