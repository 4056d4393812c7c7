/*
 * test-qmp-json.c - the QMP JSON stream parser and formatter: splitting of
 * concatenated and fragmented values, recovery after errors, bounds, and
 * QEMU's output layout.
 */
#include "../tap.h"
#include "util/buf.h"
#include "qmp/qmp-json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* Collects what the stream produces as lines: the formatted value, or "E:" + error. */
static void collect(void *opaque, struct json_object *value, const char *error)
{
    struct buf *out = opaque;
    if (error) {
        buf_printf(out, "E:%s\n", error);
        return;
    }
    qmp_json_format(out, value);
    buf_append_byte(out, '\n');
    json_object_put(value);
}

/* Feeds text in chunks of `chunk` bytes (0: all at once) and returns the lines. */
static char *run(const char *text, size_t chunk)
{
    struct buf out = BUF_INIT;
    struct qmp_json_stream *s = qmp_json_stream_new(0, collect, &out);
    size_t len = strlen(text);
    if (!chunk)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk)
        qmp_json_stream_feed(s, text + off, len - off < chunk ? len - off : chunk);
    qmp_json_stream_free(s);
    return buf_detach(&out, NULL);
}

static void check(const char *in, const char *want, const char *what)
{
    for (size_t chunk = 0; chunk <= 3; chunk++) {
        char *got = run(in, chunk);
        if (chunk == 0 || strcmp(got, want)) {
            is_str(got, want, "%s (chunks of %zu)", what, chunk);
            if (strcmp(got, want)) {
                free(got);
                return;
            }
        }
        free(got);
    }
}

static void test_stream(void)
{
    check("{\"a\":1}{\"b\":[true,false,null]}", "{\"a\": 1}\n{\"b\": [true, false, null]}\n",
          "concatenated objects are split, whatever the read boundaries");
    check("  {}\n[]\r\n\t\"s\" ", "{}\n[]\n\"s\"\n", "whitespace between values is skipped");
    check("12 -3 4.5 1e3 0 ", "12\n-3\n4.5\n1000\n0\n", "numbers end at the next delimiter");
    check("12", "", "a number is not complete until something follows it");
    check("0e1 1e1 0.5e1 ", "0\nE:JSON parse error, invalid keyword 'e'\n1\n10\n5\n",
          "QEMU's quirk: a bare 0 takes no exponent");
    check("garbage {\"a\":1}", "E:JSON parse error, invalid keyword 'garbage'\n{\"a\": 1}\n",
          "an invalid keyword is reported and the stream continues");
    check("@@@{\"a\":1}", "E:JSON parse error, stray '@'\n{\"a\": 1}\n",
          "a stray byte is reported once and skipped up to the next structural character");
    check("{\"a\" 1}", "E:JSON parse error, missing : in object pair\n", "missing colon");
    check("{\"a\":1,\"a\":2}", "E:JSON parse error, duplicate key\n", "duplicate keys rejected");
    check("[1 2]", "E:JSON parse error, expected separator in list\n", "missing comma in list");
    check("{'a':'it\\'s'}", "{\"a\": \"it's\"}\n", "single-quoted strings as QEMU accepts");
    check("\"\\u00e9\\ud83d\\ude00\\n\\/\"", "\"\\u00E9\\uD83D\\uDE00\\n/\"\n",
          "escapes decode and non-ASCII is written back as \\uXXXX");
    check("\"\\u0000\"", "E:JSON parse error, \\u0000 is not supported\n", "NUL is refused");
    check("\"\xc3(\"", "E:JSON parse error, invalid UTF-8 sequence in string\n",
          "invalid UTF-8 in a string is refused");
    check("\"a\xff\"{}", "E:JSON parse error, stray '\"a\xff'\n{}\n",
          "a byte impossible in UTF-8 stops the string at once, as in QEMU's lexer");
    check("\"\\uzz\"", "E:JSON parse error, \\uzz\" is not a valid Unicode character\n",
          "a bad \\u escape is quoted with the closing quote when short");
    check("\"\xc3\xa9\"", "\"\\u00E9\"\n", "raw UTF-8 is accepted");
    check("\"a\x01\"{}", "E:JSON parse error, stray '\"a\x01'\n{}\n",
          "a control character inside a string is an error; the stream resyncs");
    check("9223372036854775807 9223372036854775808 18446744073709551616 -0 ",
          "9223372036854775807\n9223372036854775808\n1.8446744073709552e+19\n0\n",
          "integers go to int64, then uint64, then double, as QEMU");

    /* Nesting bound. */
    struct buf deep = BUF_INIT;
    for (int i = 0; i < QMP_JSON_MAX_NESTING; i++)
        buf_append_byte(&deep, '[');
    for (int i = 0; i < QMP_JSON_MAX_NESTING; i++)
        buf_append_byte(&deep, ']');
    char *got = run(buf_cstr(&deep), 0);
    ok(!strncmp(got, "[[[[", 4) && !strstr(got, "E:"), "nesting of exactly %d is accepted",
       QMP_JSON_MAX_NESTING);
    free(got);
    buf_reset(&deep);
    for (int i = 0; i <= QMP_JSON_MAX_NESTING; i++)
        buf_append_byte(&deep, '{');
    got = run(buf_cstr(&deep), 0);
    is_str(got, "E:JSON nesting depth limit exceeded\n", "one level deeper is refused");
    free(got);
    buf_free(&deep);
}

static void test_bound(void)
{
    struct buf out = BUF_INIT;
    struct qmp_json_stream *s = qmp_json_stream_new(1000, collect, &out);
    char big[2000];
    memset(big, 'x', sizeof(big));
    big[0] = '"';
    is_int(qmp_json_stream_feed(s, big, sizeof(big)), -EMSGSIZE,
           "a string token past the bound is refused with -EMSGSIZE");
    is_int(qmp_json_stream_feed(s, "{\"ok\":1}", 8), 0, "the stream is usable after a reset");
    is_str(buf_cstr(&out), "{\"ok\": 1}\n", "and parses the next value");
    buf_reset(&out);
    struct buf many = BUF_INIT;
    buf_append_byte(&many, '[');
    for (int i = 0; i < 600; i++)
        buf_append_str(&many, "1,");
    is_int(qmp_json_stream_feed(s, many.data, many.len), -EMSGSIZE,
           "many small tokens also hit the bound");
    buf_free(&many);
    qmp_json_stream_free(s);
    buf_free(&out);
}

static void test_parse_and_format(void)
{
    char err[256];
    const char *text = "{\"b\": [1, 2.5, \"x\"], \"a\": {}}";
    struct json_object *v = qmp_json_parse(text, strlen(text), err, sizeof(err));
    ok(v && !err[0], "qmp_json_parse parses one value");
    char *s = qmp_json_to_string(v);
    is_str(s, "{\"b\": [1, 2.5, \"x\"], \"a\": {}}", "members keep their order, QEMU's spacing");
    free(s);
    json_object_put(v);
    v = qmp_json_parse("null", 4, err, sizeof(err));
    ok(!v && !err[0], "null parses to NULL without an error");
    v = qmp_json_parse("{} {}", 5, err, sizeof(err));
    ok(!v && err[0], "two values are refused: %s", err);
    v = qmp_json_parse("{\"a\":", 5, err, sizeof(err));
    ok(!v && err[0], "a truncated value is refused: %s", err);
    v = qmp_json_parse("", 0, err, sizeof(err));
    ok(!v && err[0], "empty input is refused: %s", err);

    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "s", json_object_new_string("q\"b\\\x7f\t\x01"));
    json_object_object_add(o, "d", json_object_new_double(0.1));
    json_object_object_add(o, "u", json_object_new_uint64(18446744073709551615ull));
    json_object_object_add(o, "n", NULL);
    s = qmp_json_to_string(o);
    is_str(s,
           "{\"s\": \"q\\\"b\\\\\\u007F\\t\\u0001\", \"d\": 0.10000000000000001, \"u\": "
           "18446744073709551615, \"n\": null}",
           "strings escape like QEMU, doubles use %%.17g, uint64 survives");
    free(s);
    json_object_put(o);
}

int main(void)
{
    test_stream();
    test_bound();
    test_parse_and_format();
    return tap_done();
}
