/*
 * qmp-json.c - QMP's wire JSON (see qmp-json.h for why it is not json-c's
 * tokener).
 *
 * Three stages, as in QEMU's design (the behaviour, not the code, is what
 * must match):
 *   lexer    a byte-at-a-time state machine producing tokens; on an invalid
 *            byte it reports "stray '...'" and skips to the next structural
 *            character ({ } [ ] , :), control character or 0xFE/0xFF byte,
 *            which it then lexes afresh;
 *   streamer counts brace/bracket depth and hands a token list to the parser
 *            whenever the depth returns to zero (or goes negative), so
 *            concatenated objects and objects split across reads both work;
 *   parser   recursive descent over one token list into a json_object tree.
 * Bounds: nesting depth 1024 (as QEMU), and max_message bytes/tokens per
 * value, after which the caller is told to drop the peer.
 */
#include "qmp-json.h"

#include "util/buf.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QMP_JSON_DEFAULT_MAX (1024 * 1024)

enum tok_type {
    TOK_LCURLY,
    TOK_RCURLY,
    TOK_LSQUARE,
    TOK_RSQUARE,
    TOK_COLON,
    TOK_COMMA,
    TOK_STRING,
    TOK_INTEGER,
    TOK_FLOAT,
    TOK_KEYWORD,
};

struct tok {
    enum tok_type type;
    size_t off; /* into stream->text */
    size_t len;
};

enum lex_state {
    L_START,
    L_STRING,
    L_STRING_ESC,
    L_NUM_MINUS,
    L_NUM_ZERO,
    L_NUM_INT,
    L_NUM_DOT,
    L_NUM_FRAC,
    L_NUM_EXP,
    L_NUM_EXP_SIGN,
    L_NUM_EXP_DIGITS,
    L_KEYWORD,
    L_RECOVERY,
};

struct qmp_json_stream {
    size_t max_message;
    qmp_json_value_fn fn;
    void *opaque;

    enum lex_state state;
    unsigned char quote; /* the quote that opened the current string */
    struct buf cur;      /* the token being lexed */

    struct tok *toks; /* tokens of the value being streamed */
    size_t ntoks, toks_cap;
    struct buf text; /* their texts, back to back */
    int braces, brackets;
};

/* ---------------------------------------------------------------- parser */

struct parser {
    const struct tok *toks;
    size_t ntoks, pos;
    const char *text;
    char err[256];
};

static int parse_error(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int parse_error(struct parser *p, const char *fmt, ...)
{
    if (p->err[0])
        return -1; /* the first error wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    return -1;
}

static const struct tok *parser_next(struct parser *p)
{
    return p->pos < p->ntoks ? &p->toks[p->pos++] : NULL;
}

static const struct tok *parser_peek(struct parser *p)
{
    return p->pos < p->ntoks ? &p->toks[p->pos] : NULL;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void utf8_put(struct buf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_append_byte(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        buf_append_byte(b, (uint8_t)(0xC0 | (cp >> 6)));
        buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_append_byte(b, (uint8_t)(0xE0 | (cp >> 12)));
        buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        buf_append_byte(b, (uint8_t)(0xF0 | (cp >> 18)));
        buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

/*
 * Decodes one UTF-8 sequence at s (n bytes available). Returns its length and
 * the code point, or 0 for an invalid sequence (overlong, surrogate, beyond
 * U+10FFFF, truncated).
 */
static size_t utf8_get(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/*
 * For output: decodes one sequence at s, always consuming at least a byte.
 * An invalid sequence becomes one U+FFFD spanning its lead byte and the
 * continuation bytes that follow it, the grouping QEMU's formatter uses.
 */
static size_t utf8_get_lenient(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len = utf8_get(s, n, cp);
    if (len)
        return len;
    unsigned c = s[0];
    size_t want = c >= 0xC0 && c <= 0xDF   ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF7 ? 4
                  : c >= 0xF8 && c <= 0xFB ? 5
                  : c >= 0xFC && c <= 0xFD ? 6
                                           : 1;
    len = 1;
    while (len < want && len < n && (s[len] & 0xC0) == 0x80)
        len++;
    *cp = 0xFFFD;
    return len;
}

/* Decodes a string token (with its quotes) into a json string. */
static struct json_object *parse_string(struct parser *p, const struct tok *t)
{
    const char *s = p->text + t->off + 1;
    size_t n = t->len - 2;
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\') {
            unsigned cp;
            size_t l = utf8_get((const unsigned char *)s + i, n - i, &cp);
            if (!l) {
                buf_free(&out);
                parse_error(p, "invalid UTF-8 sequence in string");
                return NULL;
            }
            buf_append(&out, s + i, l);
            i += l;
            continue;
        }
        if (i + 1 >= n)
            goto bad_escape;
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\'':
        case '\\':
        case '/':
            buf_append_byte(&out, (uint8_t)e);
            break;
        case 'b':
            buf_append_byte(&out, '\b');
            break;
        case 'f':
            buf_append_byte(&out, '\f');
            break;
        case 'n':
            buf_append_byte(&out, '\n');
            break;
        case 'r':
            buf_append_byte(&out, '\r');
            break;
        case 't':
            buf_append_byte(&out, '\t');
            break;
        case 'u': {
            unsigned cp, lo;
            /* Errors quote the escape as QEMU does: its first six bytes,
             * the closing quote included when the string ends sooner. */
            const char *start = s + i - 2;
            int shown = (int)(n + 1 - (i - 2)) < 6 ? (int)(n + 1 - (i - 2)) : 6;
            if (i + 4 > n || hex4(s + i, &cp) < 0) {
                buf_free(&out);
                parse_error(p, "%.*s is not a valid Unicode character", shown, start);
                return NULL;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' && hex4(s + i + 2, &lo) == 0 &&
                    lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                } else {
                    buf_free(&out);
                    parse_error(p, "%.*s is not a valid Unicode character", shown, start);
                    return NULL;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                buf_free(&out);
                parse_error(p, "%.*s is not a valid Unicode character", shown, start);
                return NULL;
            } else if (cp == 0) {
                /* Strings are C strings everywhere downstream. */
                buf_free(&out);
                parse_error(p, "\\u0000 is not supported");
                return NULL;
            }
            utf8_put(&out, cp);
            break;
        }
        default:
            goto bad_escape;
        }
    }
    struct json_object *o = json_object_new_string_len(buf_cstr(&out), (int)out.len);
    buf_free(&out);
    return o;
bad_escape:
    buf_free(&out);
    parse_error(p, "invalid escape sequence in string");
    return NULL;
}

static struct json_object *parse_number(struct parser *p, const struct tok *t)
{
    char tmp[64];
    const char *s = p->text + t->off;
    char *heap = NULL;
    if (t->len >= sizeof(tmp)) {
        heap = xstrndup(s, t->len);
        s = heap;
    } else {
        memcpy(tmp, s, t->len);
        tmp[t->len] = 0;
        s = tmp;
    }
    struct json_object *o = NULL;
    if (t->type == TOK_INTEGER) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!errno && !*end) {
            o = json_object_new_int64(v);
        } else if (s[0] != '-') {
            errno = 0;
            unsigned long long u = strtoull(s, &end, 10);
            if (!errno && !*end)
                o = json_object_new_uint64(u);
        }
    }
    if (!o)
        o = json_object_new_double(strtod(s, NULL)); /* overflow gives inf, as QEMU */
    free(heap);
    return o;
}

static struct json_object *parse_value(struct parser *p);

static struct json_object *parse_object(struct parser *p)
{
    struct json_object *obj = json_object_new_object();
    const struct tok *t = parser_peek(p);
    if (t && t->type == TOK_RCURLY) {
        p->pos++;
        return obj;
    }
    for (;;) {
        struct json_object *key = parse_value(p);
        if (p->err[0])
            goto fail;
        if (!json_object_is_type(key, json_type_string)) {
            json_object_put(key);
            parse_error(p, "key is not a string in object");
            goto fail;
        }
        t = parser_next(p);
        if (!t || t->type != TOK_COLON) {
            json_object_put(key);
            parse_error(p, "missing : in object pair");
            goto fail;
        }
        struct json_object *val = parse_value(p); /* NULL is JSON null */
        if (p->err[0]) {
            json_object_put(key);
            goto fail;
        }
        const char *k = json_object_get_string(key);
        if (json_object_object_get_ex(obj, k, NULL)) {
            json_object_put(key);
            json_object_put(val);
            parse_error(p, "duplicate key");
            goto fail;
        }
        json_object_object_add(obj, k, val);
        json_object_put(key);
        t = parser_next(p);
        if (t && t->type == TOK_RCURLY)
            return obj;
        if (!t || t->type != TOK_COMMA) {
            parse_error(p, "expected separator in dict");
            goto fail;
        }
    }
fail:
    json_object_put(obj);
    return NULL;
}

static struct json_object *parse_array(struct parser *p)
{
    struct json_object *arr = json_object_new_array();
    const struct tok *t = parser_peek(p);
    if (t && t->type == TOK_RSQUARE) {
        p->pos++;
        return arr;
    }
    for (;;) {
        struct json_object *val = parse_value(p);
        if (p->err[0])
            goto fail;
        json_object_array_add(arr, val);
        t = parser_next(p);
        if (t && t->type == TOK_RSQUARE)
            return arr;
        if (!t || t->type != TOK_COMMA) {
            parse_error(p, "expected separator in list");
            goto fail;
        }
    }
fail:
    json_object_put(arr);
    return NULL;
}

static struct json_object *parse_value(struct parser *p)
{
    const struct tok *t = parser_next(p);
    if (!t) {
        parse_error(p, "premature end of input");
        return NULL;
    }
    switch (t->type) {
    case TOK_LCURLY:
        return parse_object(p);
    case TOK_LSQUARE:
        return parse_array(p);
    case TOK_STRING:
        return parse_string(p, t);
    case TOK_INTEGER:
    case TOK_FLOAT:
        return parse_number(p, t);
    case TOK_KEYWORD: {
        const char *s = p->text + t->off;
        if (t->len == 4 && !memcmp(s, "true", 4))
            return json_object_new_boolean(1);
        if (t->len == 5 && !memcmp(s, "false", 5))
            return json_object_new_boolean(0);
        if (t->len == 4 && !memcmp(s, "null", 4))
            return json_object_new_null();
        parse_error(p, "invalid keyword '%.*s'", t->len > 200 ? 200 : (int)t->len, s);
        return NULL;
    }
    default:
        parse_error(p, "expecting value");
        return NULL;
    }
}

/* ---------------------------------------------------------------- streamer */

static void stream_clear(struct qmp_json_stream *s)
{
    s->ntoks = 0;
    buf_reset(&s->text);
    s->braces = s->brackets = 0;
}

static void stream_report(struct qmp_json_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stream_report(struct qmp_json_stream *s, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->fn(s->opaque, NULL, msg);
}

static void stream_parse(struct qmp_json_stream *s)
{
    struct parser p = {.toks = s->toks, .ntoks = s->ntoks, .text = buf_cstr(&s->text)};
    struct json_object *v = parse_value(&p);
    if (!p.err[0] && p.pos < p.ntoks)
        parse_error(&p, "unexpected trailing input");
    stream_clear(s);
    if (!p.err[0]) {
        s->fn(s->opaque, v, NULL);
    } else {
        json_object_put(v);
        stream_report(s, "JSON parse error, %s", p.err);
    }
}

static int stream_token(struct qmp_json_stream *s, enum tok_type type, const void *text, size_t len)
{
    if (s->text.len + len > s->max_message || s->ntoks >= s->max_message / 2)
        return -EMSGSIZE;
    if (s->ntoks == s->toks_cap) {
        s->toks_cap = s->toks_cap ? s->toks_cap * 2 : 64;
        s->toks = xreallocarray(s->toks, s->toks_cap, sizeof(*s->toks));
    }
    s->toks[s->ntoks++] = (struct tok){type, s->text.len, len};
    buf_append(&s->text, text, len);
    switch (type) {
    case TOK_LCURLY:
        s->braces++;
        break;
    case TOK_RCURLY:
        s->braces--;
        break;
    case TOK_LSQUARE:
        s->brackets++;
        break;
    case TOK_RSQUARE:
        s->brackets--;
        break;
    default:
        break;
    }
    if (s->braces < 0 || s->brackets < 0 || (s->braces == 0 && s->brackets == 0)) {
        stream_parse(s);
    } else if (s->braces + s->brackets > QMP_JSON_MAX_NESTING) {
        stream_clear(s);
        stream_report(s, "JSON nesting depth limit exceeded");
    }
    return 0;
}

/* ---------------------------------------------------------------- lexer */

static bool is_structural(unsigned char c)
{
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':';
}

static int cur_add(struct qmp_json_stream *s, unsigned char c)
{
    if (s->cur.len + s->text.len >= s->max_message)
        return -EMSGSIZE;
    buf_append_byte(&s->cur, c);
    return 0;
}

/* Reports the current token as stray and skips to a resynchronisation point. */
static void lex_error(struct qmp_json_stream *s)
{
    struct buf shown = BUF_INIT;
    if (s->cur.len > 200) {
        buf_append(&shown, s->cur.data, 200);
        buf_append_str(&shown, "...");
    } else {
        buf_append(&shown, s->cur.data, s->cur.len);
    }
    /* The message is a C string: like QEMU's, it ends at an embedded NUL. */
    buf_reset(&s->cur);
    stream_clear(s);
    s->state = L_RECOVERY;
    stream_report(s, "JSON parse error, stray '%s'", buf_cstr(&shown));
    buf_free(&shown);
}

static int lex_emit(struct qmp_json_stream *s, enum tok_type type)
{
    int r = stream_token(s, type, s->cur.data, s->cur.len);
    buf_reset(&s->cur);
    s->state = L_START;
    return r;
}

static int lex_byte(struct qmp_json_stream *s, unsigned char c)
{
    static const enum tok_type structural_type[128] = {
        ['{'] = TOK_LCURLY,  ['}'] = TOK_RCURLY, ['['] = TOK_LSQUARE,
        [']'] = TOK_RSQUARE, [','] = TOK_COMMA,  [':'] = TOK_COLON,
    };
    int r;
    for (;;) {
        switch (s->state) {
        case L_START:
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                return 0;
            if (is_structural(c))
                return stream_token(s, structural_type[c], &c, 1);
            if ((r = cur_add(s, c)) < 0)
                return r;
            if (c == '"' || c == '\'') {
                s->quote = c;
                s->state = L_STRING;
            } else if (c == '-') {
                s->state = L_NUM_MINUS;
            } else if (c == '0') {
                s->state = L_NUM_ZERO;
            } else if (c >= '1' && c <= '9') {
                s->state = L_NUM_INT;
            } else if (c >= 'a' && c <= 'z') {
                s->state = L_KEYWORD;
            } else {
                lex_error(s);
            }
            return 0;
        case L_STRING:
        case L_STRING_ESC:
            if ((r = cur_add(s, c)) < 0)
                return r;
            /* 0xFE and 0xFF never occur in UTF-8; QEMU's lexer rejects them
             * here, other invalid UTF-8 is left to the parser. */
            if (c < 0x20 || c >= 0xFE) {
                lex_error(s);
            } else if (s->state == L_STRING_ESC) {
                s->state = L_STRING;
            } else if (c == '\\') {
                s->state = L_STRING_ESC;
            } else if (c == s->quote) {
                return lex_emit(s, TOK_STRING);
            }
            return 0;
        case L_NUM_MINUS:
        case L_NUM_DOT:
        case L_NUM_EXP_SIGN:
            if ((r = cur_add(s, c)) < 0)
                return r;
            if (c >= '0' && c <= '9')
                s->state = s->state == L_NUM_MINUS ? (c == '0' ? L_NUM_ZERO : L_NUM_INT)
                           : s->state == L_NUM_DOT ? L_NUM_FRAC
                                                   : L_NUM_EXP_DIGITS;
            else
                lex_error(s);
            return 0;
        case L_NUM_EXP:
            if ((r = cur_add(s, c)) < 0)
                return r;
            if (c == '+' || c == '-')
                s->state = L_NUM_EXP_SIGN;
            else if (c >= '0' && c <= '9')
                s->state = L_NUM_EXP_DIGITS;
            else
                lex_error(s);
            return 0;
        case L_NUM_ZERO:
        case L_NUM_INT:
        case L_NUM_FRAC:
        case L_NUM_EXP_DIGITS:
            if (c >= '0' && c <= '9') {
                if ((r = cur_add(s, c)) < 0)
                    return r;
                if (s->state == L_NUM_ZERO)
                    lex_error(s);
                return 0;
            }
            if (c == '.' && (s->state == L_NUM_ZERO || s->state == L_NUM_INT)) {
                s->state = L_NUM_DOT;
                return cur_add(s, c);
            }
            /* As in QEMU's lexer, a bare 0 takes no exponent: "0e1" is the
             * integer 0 followed by the keyword "e1". */
            if ((c == 'e' || c == 'E') && s->state != L_NUM_EXP_DIGITS && s->state != L_NUM_ZERO) {
                s->state = L_NUM_EXP;
                return cur_add(s, c);
            }
            r = lex_emit(s, (s->state == L_NUM_ZERO || s->state == L_NUM_INT) ? TOK_INTEGER
                                                                              : TOK_FLOAT);
            if (r < 0)
                return r;
            continue; /* c starts the next token */
        case L_KEYWORD:
            if (c >= 'a' && c <= 'z')
                return cur_add(s, c);
            if ((r = lex_emit(s, TOK_KEYWORD)) < 0)
                return r;
            continue;
        case L_RECOVERY:
            /* Resynchronise at a structural character, a control character
             * or a byte impossible in UTF-8, and lex it afresh (so a stray
             * control character is itself reported, as QEMU does). */
            if (is_structural(c) || (c < 0x20 && c != '\t') || c >= 0xFE) {
                s->state = L_START;
                continue;
            }
            return 0;
        }
    }
}

struct qmp_json_stream *qmp_json_stream_new(size_t max_message, qmp_json_value_fn fn, void *opaque)
{
    struct qmp_json_stream *s = xcalloc(1, sizeof(*s));
    s->max_message = max_message ? max_message : QMP_JSON_DEFAULT_MAX;
    s->fn = fn;
    s->opaque = opaque;
    return s;
}

void qmp_json_stream_reset(struct qmp_json_stream *s)
{
    stream_clear(s);
    buf_reset(&s->cur);
    s->state = L_START;
}

void qmp_json_stream_free(struct qmp_json_stream *s)
{
    if (!s)
        return;
    buf_free(&s->cur);
    buf_free(&s->text);
    free(s->toks);
    free(s);
}

int qmp_json_stream_feed(struct qmp_json_stream *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        int r = lex_byte(s, p[i]);
        if (r < 0) {
            qmp_json_stream_reset(s);
            return r;
        }
    }
    return 0;
}

/* One-shot parse: run the stream over text, then flush a trailing number or
 * keyword with a space; exactly one value must come out. */
struct one_value {
    struct json_object *value;
    int count;
    char err[256];
};

static void one_value_cb(void *opaque, struct json_object *value, const char *error)
{
    struct one_value *ov = opaque;
    ov->count++;
    if (ov->count == 1 && !error) {
        ov->value = value;
        return;
    }
    if (value)
        json_object_put(value);
    if (!ov->err[0])
        snprintf(ov->err, sizeof(ov->err), "%s", error ? error : "more than one JSON value");
}

struct json_object *qmp_json_parse(const char *text, size_t len, char *err_out, size_t err_size)
{
    struct one_value ov = {0};
    if (err_out && err_size)
        err_out[0] = 0;
    struct qmp_json_stream *s = qmp_json_stream_new(len + 16, one_value_cb, &ov);
    int r = qmp_json_stream_feed(s, text, len);
    if (r == 0)
        r = qmp_json_stream_feed(s, " ", 1);
    if (r == 0 && (s->ntoks || s->cur.len) && !ov.err[0])
        snprintf(ov.err, sizeof(ov.err), "JSON parse error, premature end of input");
    qmp_json_stream_free(s);
    if (r < 0 && !ov.err[0])
        snprintf(ov.err, sizeof(ov.err), "JSON value too large");
    if (!ov.err[0] && !ov.count)
        snprintf(ov.err, sizeof(ov.err), "no JSON value");
    if (ov.err[0]) {
        if (ov.value)
            json_object_put(ov.value);
        if (err_out && err_size)
            snprintf(err_out, err_size, "%s", ov.err);
        return NULL;
    }
    return ov.value;
}

/* ---------------------------------------------------------------- formatter */

static void format_string(struct buf *out, const char *s, size_t n)
{
    buf_append_byte(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned cp;
        i += utf8_get_lenient((const unsigned char *)s + i, n - i, &cp);
        switch (cp) {
        case '"':
            buf_append_str(out, "\\\"");
            break;
        case '\\':
            buf_append_str(out, "\\\\");
            break;
        case '\b':
            buf_append_str(out, "\\b");
            break;
        case '\f':
            buf_append_str(out, "\\f");
            break;
        case '\n':
            buf_append_str(out, "\\n");
            break;
        case '\r':
            buf_append_str(out, "\\r");
            break;
        case '\t':
            buf_append_str(out, "\\t");
            break;
        default:
            if (cp >= 0x20 && cp <= 0x7E) {
                buf_append_byte(out, (uint8_t)cp);
            } else if (cp >= 0x10000) {
                cp -= 0x10000;
                buf_printf(out, "\\u%04X\\u%04X", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                buf_printf(out, "\\u%04X", cp);
            }
        }
    }
    buf_append_byte(out, '"');
}

void qmp_json_format(struct buf *out, struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        buf_append_str(out, "null");
        break;
    case json_type_boolean:
        buf_append_str(out, json_object_get_boolean(v) ? "true" : "false");
        break;
    case json_type_int: {
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX)
            buf_printf(out, "%" PRIu64, json_object_get_uint64(v));
        else
            buf_printf(out, "%" PRId64, i);
        break;
    }
    case json_type_double:
        buf_printf(out, "%.17g", json_object_get_double(v));
        break;
    case json_type_string:
        format_string(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        buf_append_byte(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_append_str(out, ", ");
            qmp_json_format(out, json_object_array_get_idx(v, i));
        }
        buf_append_byte(out, ']');
        break;
    }
    case json_type_object: {
        bool first = true;
        buf_append_byte(out, '{');
        json_object_object_foreach(v, key, val)
        {
            if (!first)
                buf_append_str(out, ", ");
            first = false;
            format_string(out, key, strlen(key));
            buf_append_str(out, ": ");
            qmp_json_format(out, val);
        }
        buf_append_byte(out, '}');
        break;
    }
    }
}

char *qmp_json_to_string(struct json_object *v)
{
    struct buf b = BUF_INIT;
    qmp_json_format(&b, v);
    return buf_detach(&b, NULL);
}
