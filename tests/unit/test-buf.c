/* Unit tests for util/buf and util/str. */
#include "tap.h"
#include "util/buf.h"
#include "util/str.h"

#include <errno.h>
#include <stdlib.h>

static void test_buf(void)
{
    struct buf b = BUF_INIT;
    is_str(buf_cstr(&b), "", "an empty buffer reads as an empty string");
    buf_append_str(&b, "hello");
    buf_append_byte(&b, ' ');
    buf_printf(&b, "%d-%s", 42, "x");
    is_str(buf_cstr(&b), "hello 42-x", "appends and printf accumulate");
    is_int(b.len, 10, "length counts the bytes");
    for (int i = 0; i < 10000; i++)
        buf_append(&b, "0123456789", 10);
    is_int(b.len, 100010, "the buffer grows past many doublings");
    ok(b.data[b.len] == 0, "the buffer stays NUL-terminated");
    buf_consume(&b, 100000);
    is_str(buf_cstr(&b), "0123456789", "consume drops the front");
    buf_append(&b, "\0z", 2);
    is_int(b.len, 12, "binary data with NUL bytes is kept");
    size_t len;
    char *s = buf_detach(&b, &len);
    is_int(len, 12, "detach reports the length");
    ok(b.data == NULL && b.len == 0, "detach empties the buffer");
    free(s);
    s = buf_detach(&b, NULL);
    is_str(s, "", "detaching an empty buffer gives an empty string");
    free(s);
}

static void test_str(void)
{
    char small[4];
    is_int(str_copy(small, sizeof(small), "abc"), 0, "str_copy fits exactly");
    is_int(str_copy(small, sizeof(small), "abcd"), -ENAMETOOLONG, "str_copy reports truncation");
    is_str(small, "abc", "a truncated copy is still terminated");
    is_int(str_printf(small, sizeof(small), "%d", 12345), -ENAMETOOLONG, "str_printf truncation");

    uint64_t v;
    is_int(str_to_u64("0x10", 0, &v), 0, "hex parses");
    is_int(v, 16, "hex value");
    is_int(str_to_u64("12a", 10, &v), -EINVAL, "trailing junk is refused");
    is_int(str_to_u64("-1", 10, &v), -EINVAL, "a sign is refused for unsigned");
    is_int(str_to_u64(" 1", 10, &v), -EINVAL, "leading space is refused");
    is_int(str_to_u64("", 10, &v), -EINVAL, "empty is refused");
    is_int(str_to_u64("18446744073709551616", 10, &v), -ERANGE, "overflow is refused");
    int64_t i;
    is_int(str_to_i64("-9223372036854775808", 10, &i), 0, "INT64_MIN parses");
    ok(i == INT64_MIN, "INT64_MIN value");
    is_int(str_to_i64("9223372036854775808", 10, &i), -ERANGE, "INT64_MAX+1 is refused");
    unsigned u;
    is_int(str_to_uint("4294967296", 10, &u), -ERANGE, "uint overflow is refused");

    is_int(str_parse_size("128", 1 << 20, &v), 0, "a bare number uses the default unit");
    ok(v == 128ull << 20, "128 -> 128 MiB");
    str_parse_size("2G", 1, &v);
    ok(v == 2ull << 30, "2G -> 2 GiB");
    str_parse_size("1.5k", 1, &v);
    is_int(v, 1536, "1.5k -> 1536");
    str_parse_size("512b", 1 << 20, &v);
    is_int(v, 512, "a b suffix means bytes");
    is_int(str_parse_size("1.5", 1, &v), -EINVAL, "a fraction needs a suffix");
    is_int(str_parse_size("12Q", 1, &v), -EINVAL, "an unknown suffix is refused");
    is_int(str_parse_size("16E", 1, &v), -ERANGE, "16 EiB overflows");
    is_int(str_parse_size("G", 1, &v), -EINVAL, "a suffix alone is refused");

    char out[32];
    str_format_size(4ull << 30, out, sizeof(out));
    is_str(out, "4 GiB", "4 GiB formats like qemu-img");
    str_format_size(512, out, sizeof(out));
    is_str(out, "512 B", "bytes format");
    str_format_size(1536ull << 20, out, sizeof(out));
    is_str(out, "1.5 GiB", "a fraction keeps its digits");
    str_format_size(1000 * 1024, out, sizeof(out));
    is_str(out, "0.977 MiB", "1000 KiB switches to the next unit, as qemu-img does");
    ok(str_starts_with("vireo-vmm", "vireo") && !str_starts_with("vir", "vireo"), "starts_with");
    ok(str_ends_with("a.qcow2", ".qcow2") && !str_ends_with("2", ".qcow2"), "ends_with");
    ok(str_hex_digit('0') == 0 && str_hex_digit('9') == 9 && str_hex_digit('a') == 10 &&
           str_hex_digit('F') == 15 && str_hex_digit('g') == -1 && str_hex_digit(':') == -1 &&
           str_hex_digit('x') == -1 && str_hex_digit(0) == -1,
       "hex digits of either case; anything else is -1");
    char shown[8];
    is_str(str_shown("a\nb\x7f", shown, sizeof(shown)), "a?b?", "shown: control characters as ?");
    is_str(str_shown("allow-all", shown, sizeof(shown)), "allo...", "shown: cut with ... to fit");
    is_str(str_shown("1234567", shown, sizeof(shown)), "1234567", "shown: a string that fits");
}

int main(void)
{
    test_buf();
    test_str();
    return tap_done();
}
