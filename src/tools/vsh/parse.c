/*
 * parse.c - vsh's command-line grammar: splitting a line into words and
 * commands, and binding words to a command's declared options, with the error
 * messages virsh gives for each mistake ("unknown command: 'x'", "command
 * 'dominfo' requires <domain> option", "unexpected data 'y'", ...).
 *
 * A whole line is parsed before anything runs, so a typo in the third command
 * of "a; b; c" runs none of them, as in virsh.
 */
#include "tools/vsh/vsh.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A word of a command, or the end of one command. */
struct word {
    char *text; /* NULL marks a ';' or newline */
};

struct words {
    struct word *v;
    size_t n, cap;
};

static void words_push(struct words *w, char *text)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
    }
    w->v[w->n++].text = text;
}

static void words_free(struct words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].text);
    free(w->v);
}

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Splits a line into words; ';' and newlines become separators. */
static int split_line(const char *s, struct words *out, char *errbuf, size_t errlen)
{
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return 0;
        if (*s == ';' || *s == '\n') {
            words_push(out, NULL);
            s++;
            continue;
        }
        if (*s == '#') { /* comment to the end of the line */
            while (*s && *s != '\n')
                s++;
            continue;
        }
        struct buf b = BUF_INIT;
        char quote = 0;
        for (; *s; s++) {
            char c = *s;
            if (!quote && (c == ' ' || c == '\t' || c == ';' || c == '\n'))
                break;
            if (quote == '\'') {
                if (c == '\'')
                    quote = 0;
                else
                    buf_append_byte(&b, (uint8_t)c);
                continue;
            }
            if (c == '\\') {
                if (!s[1]) {
                    buf_free(&b);
                    return fail(errbuf, errlen, "dangling \\");
                }
                buf_append_byte(&b, (uint8_t) * ++s);
                continue;
            }
            if (c == '"') {
                quote = quote ? 0 : '"';
                continue;
            }
            if (!quote && c == '\'') {
                quote = '\'';
                continue;
            }
            buf_append_byte(&b, (uint8_t)c);
        }
        if (quote) {
            buf_free(&b);
            return fail(errbuf, errlen, "missing %c", quote);
        }
        /* An empty word ('' or "") is a word, and must still be a string. */
        if (b.len == 0) {
            buf_free(&b);
            words_push(out, xstrdup(""));
        } else {
            words_push(out, buf_detach(&b, NULL));
        }
    }
}

static const char *type_word(const struct vsh_opt *o)
{
    return o->type == VSH_OT_INT ? "number" : "string";
}

static const struct vsh_opt *find_opt(const struct vsh_cmd_def *def, const char *name, size_t len)
{
    for (const struct vsh_opt *o = def->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static bool seen(const struct vsh_cmd *cmd, const struct vsh_opt *o)
{
    for (int i = 0; i < cmd->nopts; i++)
        if (cmd->opts[i].opt == o)
            return true;
    return false;
}

static int bind(struct vsh_cmd *cmd, const struct vsh_opt *o, const char *value, char *errbuf,
                size_t errlen)
{
    if (o->type != VSH_OT_ARGV && seen(cmd, o))
        return fail(errbuf, errlen, "option --%s already seen", o->name);
    if (cmd->nopts == VSH_MAX_OPTS)
        return fail(errbuf, errlen, "too many arguments for command '%s'", cmd->def->name);
    cmd->opts[cmd->nopts].opt = o;
    cmd->opts[cmd->nopts].value = value ? xstrdup(value) : NULL;
    cmd->nopts++;
    return 0;
}

/* The next option a positional word binds to: declaration order, not yet given. */
static const struct vsh_opt *next_positional(const struct vsh_cmd *cmd)
{
    for (const struct vsh_opt *o = cmd->def->opts; o && o->name; o++) {
        if (o->type == VSH_OT_BOOL || (o->flags & VSH_OFLAG_REQ_OPT))
            continue;
        if (o->type == VSH_OT_ARGV || !seen(cmd, o))
            return o;
    }
    return NULL;
}

/* Builds one command from words[0..n). */
static struct vsh_cmd *build(char *const *w, size_t n, char *errbuf, size_t errlen)
{
    const struct vsh_cmd_def *def = vsh_command_find(w[0]);
    if (!def) {
        fail(errbuf, errlen, "unknown command: '%s'", w[0]);
        return NULL;
    }
    struct vsh_cmd *cmd = xcalloc(1, sizeof(*cmd));
    cmd->def = def;
    bool data_only = false;
    for (size_t i = 1; i < n; i++) {
        const char *word = w[i];
        if (!data_only && strcmp(word, "--") == 0) {
            data_only = true;
            continue;
        }
        if (!data_only && word[0] == '-' && word[1] == '-' && word[2]) {
            const char *name = word + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct vsh_opt *o = find_opt(def, name, len);
            if (!o) {
                fail(errbuf, errlen, "command '%s' doesn't support option --%.*s", def->name,
                     (int)len, name);
                goto bad;
            }
            const char *value = NULL;
            if (o->type == VSH_OT_BOOL) {
                if (eq) {
                    fail(errbuf, errlen, "invalid '=' after option --%s", o->name);
                    goto bad;
                }
            } else if (eq) {
                value = eq + 1;
            } else if (i + 1 < n) {
                value = w[++i];
            } else {
                fail(errbuf, errlen, "expected syntax: --%s <%s>", o->name, type_word(o));
                goto bad;
            }
            if (bind(cmd, o, value, errbuf, errlen) < 0)
                goto bad;
            continue;
        }
        const struct vsh_opt *o = next_positional(cmd);
        if (!o) {
            fail(errbuf, errlen, "unexpected data '%s'", word);
            goto bad;
        }
        if (bind(cmd, o, word, errbuf, errlen) < 0)
            goto bad;
    }
    for (const struct vsh_opt *o = def->opts; o && o->name; o++) {
        if ((o->flags & VSH_OFLAG_REQ) && !seen(cmd, o)) {
            if (o->flags & VSH_OFLAG_REQ_OPT)
                fail(errbuf, errlen, "command '%s' requires --%s option", def->name, o->name);
            else
                fail(errbuf, errlen, "command '%s' requires <%s> option", def->name, o->name);
            goto bad;
        }
    }
    return cmd;
bad:
    vsh_cmd_free(cmd);
    return NULL;
}

/* Turns separated words into a chain of commands. */
static struct vsh_cmd *build_all(struct words *w, char *errbuf, size_t errlen, bool *failed)
{
    struct vsh_cmd *first = NULL, **tail = &first;
    *failed = false;
    size_t start = 0;
    char **texts = xcalloc(w->n + 1, sizeof(*texts));
    for (size_t i = 0; i < w->n; i++)
        texts[i] = w->v[i].text;
    for (size_t i = 0; i <= w->n; i++) {
        if (i < w->n && w->v[i].text)
            continue;
        if (i > start) {
            struct vsh_cmd *cmd = build(&texts[start], i - start, errbuf, errlen);
            if (!cmd) {
                *failed = true;
                vsh_cmd_free(first);
                free(texts);
                return NULL;
            }
            *tail = cmd;
            tail = &cmd->next;
        }
        start = i + 1;
    }
    free(texts);
    return first;
}

struct vsh_cmd *vsh_parse_string(const char *line, char *errbuf, size_t errlen, bool *failed)
{
    struct words w = {0};
    *failed = false;
    if (split_line(line, &w, errbuf, errlen) < 0) {
        words_free(&w);
        *failed = true;
        return NULL;
    }
    struct vsh_cmd *cmd = build_all(&w, errbuf, errlen, failed);
    words_free(&w);
    return cmd;
}

struct vsh_cmd *vsh_parse_argv(int argc, char *const *argv, char *errbuf, size_t errlen,
                               bool *failed)
{
    *failed = false;
    if (argc <= 0)
        return NULL;
    struct vsh_cmd *cmd = build(argv, (size_t)argc, errbuf, errlen);
    if (!cmd)
        *failed = true;
    return cmd;
}

void vsh_cmd_free(struct vsh_cmd *cmd)
{
    while (cmd) {
        struct vsh_cmd *next = cmd->next;
        for (int i = 0; i < cmd->nopts; i++)
            free(cmd->opts[i].value);
        free(cmd);
        cmd = next;
    }
}

/* ---- getters ---- */

static const char *value_of(const struct vsh_cmd *cmd, const char *name, bool *present)
{
    for (int i = 0; i < cmd->nopts; i++) {
        if (strcmp(cmd->opts[i].opt->name, name) == 0) {
            *present = true;
            return cmd->opts[i].value;
        }
    }
    *present = false;
    return NULL;
}

bool vsh_opt_bool(const struct vsh_cmd *cmd, const char *name)
{
    bool present;
    value_of(cmd, name, &present);
    return present;
}

const char *vsh_opt_string(const struct vsh_cmd *cmd, const char *name)
{
    bool present;
    return value_of(cmd, name, &present);
}

int vsh_opt_argv(const struct vsh_cmd *cmd, const char *name, const char **out, int max)
{
    int n = 0;
    for (int i = 0; i < cmd->nopts && n < max; i++)
        if (strcmp(cmd->opts[i].opt->name, name) == 0)
            out[n++] = cmd->opts[i].value;
    return n;
}

int vsh_opt_ulong(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name,
                  unsigned long long *value)
{
    bool present;
    const char *s = value_of(cmd, name, &present);
    if (!present)
        return 0;
    uint64_t v;
    if (!s || str_to_u64(s, 10, &v) < 0) {
        vsh_error(ctl, "Numeric value '%s' for <%s> option is malformed or out of range",
                  s ? s : "", name);
        return -1;
    }
    *value = v;
    return 1;
}

int vsh_opt_uint(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name, unsigned *value)
{
    unsigned long long v = 0;
    int r = vsh_opt_ulong(ctl, cmd, name, &v);
    if (r <= 0)
        return r;
    if (v > 0xffffffffull) {
        vsh_error(ctl, "Numeric value '%s' for <%s> option is malformed or out of range",
                  vsh_opt_string(cmd, name), name);
        return -1;
    }
    *value = (unsigned)v;
    return 1;
}

/*
 * virsh's scaled integers: a number, then an optional unit: b/bytes, k/KiB,
 * M/MiB, G/GiB, T/TiB, P/PiB, E/EiB (powers of 1024) or KB, MB, GB, TB, PB,
 * EB (powers of 1000). Without a unit, `scale` applies.
 */
int vsh_parse_scaled(const char *s, unsigned long long scale, unsigned long long max,
                     unsigned long long *bytes)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    unsigned long long mult = scale;
    if (*end) {
        static const char units[] = "kmgtpe";
        const char *suffix = end;
        int base = 1024;
        char c = (char)(suffix[0] | 0x20);
        const char *u = strchr(units, c);
        if (strcmp(suffix, "b") == 0 || strcmp(suffix, "B") == 0 || strcmp(suffix, "bytes") == 0)
            mult = 1;
        else if (!u || !suffix[0])
            return -EINVAL;
        else {
            const char *rest = suffix + 1;
            if (rest[0] == '\0' || strcmp(rest, "iB") == 0 || strcmp(rest, "ib") == 0)
                base = 1024;
            else if (strcmp(rest, "B") == 0 || strcmp(rest, "b") == 0)
                base = 1000;
            else
                return -EINVAL;
            mult = 1;
            for (const char *p = units; p <= u; p++) {
                if (mult > ~0ull / (unsigned)base)
                    return -ERANGE;
                mult *= (unsigned)base;
            }
        }
    }
    if (mult && v > ~0ull / mult)
        return -ERANGE;
    v *= mult;
    if (v > max)
        return -ERANGE;
    *bytes = v;
    return 0;
}

int vsh_opt_scaled(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name,
                   unsigned long long scale, unsigned long long max, unsigned long long *bytes)
{
    bool present;
    const char *s = value_of(cmd, name, &present);
    if (!present)
        return 0;
    if (vsh_parse_scaled(s, scale, max, bytes) < 0) {
        vsh_error(ctl, "Scaled numeric value '%s' for <%s> option is malformed or out of range",
                  s ? s : "", name);
        return -1;
    }
    return 1;
}
