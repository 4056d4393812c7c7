/*
 * common.c - helpers every vireo-img subcommand uses: qemu-img-style error
 * lines, opening images, size and --output parsing, the -o option list and
 * its mapping onto block_create_opts, the snapshot table, and the progress
 * meter. Kept apart from the subcommands so their files read as the
 * subcommand's logic only.
 */
#include "img.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void img_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", IMG_PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void img_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", IMG_PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information\n", IMG_PROG);
}

/* The library's messages already name the file ("could not open 'a.qcow2':
 * ..."); qemu-img prints "Could not open 'a.qcow2': REASON", so strip a
 * leading repetition of the path to avoid saying it twice. */
const char *img_reason(const char *msg, const char *path)
{
    static const char *const prefixes[] = {"could not open ", "cannot open ", "could not create ",
                                           ""};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t p = strlen(prefixes[i]);
        if (strncasecmp(msg, prefixes[i], p) != 0)
            continue;
        const char *m = msg + p;
        if (m[0] == '\'' && strncmp(m + 1, path, n) == 0 && m[n + 1] == '\'' && m[n + 2] == ':' &&
            m[n + 3] == ' ')
            return m + n + 4;
    }
    return msg;
}

/* Same for open errors, stripping a leading "could not open 'ANY':" (the
 * name printed may be an option string, the path inside it). */
static const char *reason_without_path(const char *msg)
{
    static const char *const prefixes[] = {"could not open '", "cannot open '"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t p = strlen(prefixes[i]);
        if (strncasecmp(msg, prefixes[i], p) != 0)
            continue;
        const char *end = strstr(msg + p, "': ");
        if (end)
            return end + 3;
    }
    return msg;
}

void img_print_open_error(const char *name, const char *msg)
{
    const char *reason = reason_without_path(msg);
    img_error("Could not open '%s': %s", name, reason != msg ? reason : img_reason(msg, name));
}

struct block_dev *img_open_opts(struct img_session *s, const char *path,
                                const struct block_open_opts *opts)
{
    return img_open_spec(s, path, s->image_opts, opts);
}

struct block_dev *img_open_plain(struct img_session *s, const char *path,
                                 const struct block_open_opts *opts)
{
    return img_open_spec(s, path, false, opts);
}

struct block_dev *img_open(struct img_session *s, const char *path, const char *format,
                           bool read_only, bool no_backing, const char *cache)
{
    struct block_open_opts o = {
        .read_only = read_only,
        .format = format,
        .no_backing = no_backing,
    };
    if (cache && block_cache_parse(cache, &o.cache) < 0) {
        img_error("Invalid cache option: %s", cache);
        return NULL;
    }
    return img_open_opts(s, path, &o);
}

int img_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || s[0] == '-' || str_parse_size(s, 1, out) < 0 || *out > INT64_MAX) {
        /* qemu-img spreads this over two lines; one line keeps it greppable. */
        img_error("Invalid image size specified: '%s'. You may use k, M, G, T, P or E suffixes "
                  "for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
                  s ? s : "");
        return -1;
    }
    return 0;
}

int img_parse_output(const char *s)
{
    if (strcmp(s, "human") == 0)
        return 0;
    if (strcmp(s, "json") == 0)
        return 1;
    img_error("--output must be used with human or json as argument.");
    return -1;
}

/* ---- -o option lists ---- */

static void optlist_push(struct img_optlist *list, const char *item, size_t len)
{
    char *s = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        s[o++] = item[i];
        if (item[i] == ',' && i + 1 < len && item[i + 1] == ',')
            i++; /* ",," is a literal comma */
    }
    s[o] = '\0';
    char *eq = strchr(s, '=');
    list->items = xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    struct img_kv *kv = &list->items[list->count++];
    if (eq) {
        *eq = '\0';
        kv->key = s;
        kv->value = xstrdup(eq + 1);
    } else {
        kv->key = s;
        kv->value = NULL;
    }
}

int img_optlist_add(struct img_optlist *list, const char *arg)
{
    const char *start = arg;
    const char *p = arg;
    for (;;) {
        if (*p == ',' && p[1] == ',') {
            p += 2;
            continue;
        }
        if (*p == ',' || *p == '\0') {
            if (p > start) {
                size_t len = (size_t)(p - start);
                if ((len == 4 && strncmp(start, "help", 4) == 0) || (len == 1 && start[0] == '?'))
                    list->help = true;
                else
                    optlist_push(list, start, len);
            }
            if (*p == '\0')
                break;
            start = p + 1;
        }
        p++;
    }
    return 0;
}

const char *img_optlist_get(const struct img_optlist *list, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < list->count; i++) /* the last one wins, as in qemu-img */
        if (strcmp(list->items[i].key, key) == 0)
            v = list->items[i].value ? list->items[i].value : "on";
    return v;
}

void img_optlist_free(struct img_optlist *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int parse_onoff(const char *filename, const char *key, const char *v, bool *out)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
        *out = false;
        return 0;
    }
    img_error("%s: Parameter '%s' expects 'on' or 'off'", filename, key);
    return -1;
}

/* The encryption options: luks's own (key-secret, cipher-alg, ...) or
 * qcow2's under "encrypt." (and encrypt.format). 1 when k is one of them
 * (stored), 0 when not, -1 on a bad value (printed). */
static int encrypt_opt(const char *filename, const char *k, const char *v, bool qcow2,
                       struct block_encrypt_opts *e)
{
    if (qcow2) {
        if (strncmp(k, "encrypt.", 8) != 0)
            return 0;
        k += 8;
        if (strcmp(k, "format") == 0) {
            e->format = v;
            return 1;
        }
    }
    const char **slot = strcmp(k, "key-secret") == 0       ? &e->key_secret
                        : strcmp(k, "cipher-alg") == 0     ? &e->cipher_alg
                        : strcmp(k, "cipher-mode") == 0    ? &e->cipher_mode
                        : strcmp(k, "ivgen-alg") == 0      ? &e->ivgen_alg
                        : strcmp(k, "ivgen-hash-alg") == 0 ? &e->ivgen_hash_alg
                        : strcmp(k, "hash-alg") == 0       ? &e->hash_alg
                                                           : NULL;
    if (slot) {
        *slot = v;
        return 1;
    }
    if (strcmp(k, "iter-time") == 0) {
        if (str_to_u64(v, 10, &e->iter_time) < 0) {
            img_error("%s: Parameter '%siter-time' expects a number", filename,
                      qcow2 ? "encrypt." : "");
            return -1;
        }
        e->has_iter_time = true;
        return 1;
    }
    return 0;
}

int img_create_opts_from_list(const char *format, const char *filename,
                              const struct img_optlist *list, struct block_create_opts *opts)
{
    if (img_foreign_format(format))
        return img_foreign_create_opts(format, filename, list, opts);
    bool qcow2 = strcmp(format, "qcow2") == 0;
    bool luks = strcmp(format, "luks") == 0;
    for (size_t i = 0; i < list->count; i++) {
        const char *k = list->items[i].key;
        const char *v = list->items[i].value ? list->items[i].value : "on";
        int e = (qcow2 || luks) ? encrypt_opt(filename, k, v, qcow2, &opts->encrypt) : 0;
        if (e < 0)
            return -1;
        if (e > 0)
            continue;
        if (qcow2 && strcmp(k, "encryption") == 0) {
            bool on;
            if (parse_onoff(filename, k, v, &on) < 0)
                return -1;
            if (on) /* the deprecated spelling of encrypt.format=aes */
                opts->encrypt.format = "aes";
            continue;
        }
        if (strcmp(k, "size") == 0) {
            if (img_parse_size(v, &opts->size) < 0)
                return -1;
        } else if (strcmp(k, "preallocation") == 0) {
            if (block_prealloc_parse(v, &opts->prealloc) < 0) {
                img_error("%s: Invalid parameter '%s'", filename, v);
                return -1;
            }
        } else if (qcow2 && strcmp(k, "cluster_size") == 0) {
            uint64_t cs;
            if (str_parse_size(v, 1, &cs) < 0 || cs < 512 || cs > 2 * 1024 * 1024 ||
                (cs & (cs - 1)) != 0) {
                img_error("%s: Cluster size must be a power of two between 512 and 2048k",
                          filename);
                return -1;
            }
            opts->cluster_size = (uint32_t)cs;
        } else if (qcow2 && strcmp(k, "backing_file") == 0) {
            opts->backing_file = v;
        } else if (qcow2 && strcmp(k, "backing_fmt") == 0) {
            opts->backing_format = v;
        } else if (qcow2 && strcmp(k, "compat") == 0) {
            if (block_compat_parse(v, &opts->compat) < 0) {
                img_error("%s: Invalid parameter '%s'", filename, v);
                return -1;
            }
        } else if (qcow2 && strcmp(k, "lazy_refcounts") == 0) {
            if (parse_onoff(filename, k, v, &opts->lazy_refcounts) < 0)
                return -1;
        } else if (qcow2 && strcmp(k, "refcount_bits") == 0) {
            unsigned bits;
            if (str_to_uint(v, 10, &bits) < 0 || bits == 0 || bits > 64 ||
                (bits & (bits - 1)) != 0) {
                img_error("%s: Refcount width must be a power of two and may not exceed 64 bits",
                          filename);
                return -1;
            }
            opts->refcount_bits = (int)bits;
        } else if (qcow2 && strcmp(k, "compression_type") == 0) {
            if (strcmp(v, "zlib") != 0 && strcmp(v, "zstd") != 0) {
                img_error("%s: Invalid parameter '%s'", filename, v);
                return -1;
            }
            opts->compression_type = v;
        } else if (qcow2 && strcmp(k, "extended_l2") == 0) {
            if (parse_onoff(filename, k, v, &opts->extended_l2) < 0)
                return -1;
        } else if (qcow2 && strcmp(k, "data_file") == 0) {
            opts->data_file = v;
        } else if (qcow2 && strcmp(k, "data_file_raw") == 0) {
            if (parse_onoff(filename, k, v, &opts->data_file_raw) < 0)
                return -1;
        } else {
            img_error("%s: Invalid parameter '%s'", filename, k);
            return -1;
        }
    }
    if (opts->lazy_refcounts && opts->compat == 2) {
        img_error("%s: Lazy refcounts only supported with compatibility level 1.1 and above "
                  "(use version=v3 or greater)",
                  filename);
        return -1;
    }
    if (opts->compression_type && strcmp(opts->compression_type, "zstd") == 0 &&
        opts->compat == 2) {
        img_error("%s: Compression type selection is only supported with compatibility level "
                  "1.1 and above (use version=v3 or greater)",
                  filename);
        return -1;
    }
    return 0;
}

void img_print_create_help(const char *format)
{
    if (img_foreign_format(format)) {
        img_foreign_print_help(format);
        return;
    }
    printf("Supported options:\n");
    if (strcmp(format, "luks") == 0) {
        printf("  cipher-alg=<str>       - Name of encryption cipher algorithm\n"
               "  cipher-mode=<str>      - Name of encryption cipher mode\n"
               "  hash-alg=<str>         - Name of encryption hash algorithm\n"
               "  iter-time=<num>        - Time to spend in PBKDF in milliseconds\n"
               "  ivgen-alg=<str>        - Name of IV generator algorithm\n"
               "  ivgen-hash-alg=<str>   - Name of IV generator hash algorithm\n"
               "  key-secret=<str>       - ID of the secret that provides the keyslot "
               "passphrase\n"
               "  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, "
               "full)\n"
               "  size=<size>            - Virtual disk size\n");
    } else if (strcmp(format, "qcow2") == 0) {
        printf("  backing_file=<str>     - File name of a base image\n"
               "  backing_fmt=<str>      - Image format of the base image\n"
               "  cluster_size=<size>    - qcow2 cluster size\n"
               "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
               "  compression_type=<str> - Compression method used for image cluster "
               "compression\n"
               "  data_file=<str>        - File name of an external data file\n"
               "  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw "
               "image\n"
               "  encrypt.cipher-alg=<str> - Name of encryption cipher algorithm\n"
               "  encrypt.cipher-mode=<str> - Name of encryption cipher mode\n"
               "  encrypt.format=<str>   - Encrypt the image, format choices: 'aes', 'luks'\n"
               "  encrypt.hash-alg=<str> - Name of encryption hash algorithm\n"
               "  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds\n"
               "  encrypt.ivgen-alg=<str> - Name of IV generator algorithm\n"
               "  encrypt.ivgen-hash-alg=<str> - Name of IV generator hash algorithm\n"
               "  encrypt.key-secret=<str> - ID of secret providing qcow AES key or LUKS "
               "passphrase\n"
               "  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. (Deprecated "
               "in favor of encrypt.format=aes)\n"
               "  extended_l2=<bool (on/off)> - Extended L2 tables\n"
               "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
               "  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, "
               "falloc, full)\n"
               "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
               "  size=<size>            - Virtual disk size\n");
    } else {
        printf("  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, "
               "full)\n"
               "  size=<size>            - Virtual disk size\n");
    }
}

/* ---- JSON in QEMU's pretty style ---- */

void img_json_init(struct img_json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->first = true;
}

void img_json_write_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void json_item(struct img_json *j, const char *key)
{
    if (j->depth > 0) {
        fputs(j->first ? "\n" : ",\n", j->out);
        for (int i = 0; i < j->depth; i++)
            fputs("    ", j->out);
    }
    j->first = false;
    if (key) {
        img_json_write_string(j->out, key);
        fputs(": ", j->out);
    }
}

static void json_close(struct img_json *j, char c)
{
    j->depth--;
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("    ", j->out);
    fputc(c, j->out);
    j->first = false;
    if (j->depth == 0)
        fputc('\n', j->out);
}

void img_json_begin_object(struct img_json *j, const char *key)
{
    json_item(j, key);
    fputc('{', j->out);
    j->depth++;
    j->first = true;
}

void img_json_end_object(struct img_json *j)
{
    json_close(j, '}');
}

void img_json_begin_array(struct img_json *j, const char *key)
{
    json_item(j, key);
    fputc('[', j->out);
    j->depth++;
    j->first = true;
}

void img_json_end_array(struct img_json *j)
{
    json_close(j, ']');
}

void img_json_str(struct img_json *j, const char *key, const char *value)
{
    json_item(j, key);
    img_json_write_string(j->out, value);
}

void img_json_u64(struct img_json *j, const char *key, uint64_t value)
{
    json_item(j, key);
    fprintf(j->out, "%llu", (unsigned long long)value);
}

void img_json_i64(struct img_json *j, const char *key, int64_t value)
{
    json_item(j, key);
    fprintf(j->out, "%lld", (long long)value);
}

void img_json_bool(struct img_json *j, const char *key, bool value)
{
    json_item(j, key);
    fputs(value ? "true" : "false", j->out);
}

/* ---- progress ---- */

void img_progress_init(struct img_progress *p, bool enabled)
{
    p->enabled = enabled;
    p->last = -1.0;
    img_progress_update(p, 0.0);
}

void img_progress_update(struct img_progress *p, double percent)
{
    if (!p->enabled)
        return;
    if (percent > 100.0)
        percent = 100.0;
    /* Redraw only on a visible change (1% steps, and the end), like qemu-img. */
    if (p->last >= 0.0 && percent < 100.0 && percent - p->last < 1.0)
        return;
    p->last = percent;
    printf("    (%3.2f/100%%)\r", percent);
    fflush(stdout);
}

void img_progress_end(struct img_progress *p)
{
    if (!p->enabled)
        return;
    img_progress_update(p, 100.0);
    printf("\n");
    fflush(stdout);
}

void img_format_size(uint64_t bytes, char *dst, size_t size)
{
    str_format_size(bytes, dst, size);
}

void img_print_snapshot_table(FILE *out, const struct block_snapshot *list, size_t count)
{
    struct buf b;
    buf_init(&b);
    block_snapshot_table_header(&b);
    for (size_t i = 0; i < count; i++)
        block_snapshot_table_row(&b, &list[i], NULL);
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}

void img_getopt_prepare(char **argv)
{
    static char prog[] = IMG_PROG;
    argv[0] = prog;
    optind = 1;
    opterr = 1;
}

int img_bad_option(void)
{
    fprintf(stderr, "Try '%s --help' for more information\n", IMG_PROG);
    return 1;
}

bool img_format_known(const char *format)
{
    return block_format_known(format);
}

bool img_check_format(const char *format)
{
    if (!format || img_format_known(format))
        return true;
    img_error("Unknown file format '%s'", format);
    return false;
}

int img_create_format(const char *format, bool help)
{
    if (!img_check_format(format))
        return -1;
    if (!block_format_creatable(format)) {
        img_error("Format driver '%s' does not support image creation", format);
        return -1;
    }
    if (help) {
        img_print_create_help(format);
        return 1;
    }
    return 0;
}

char *img_backing_path(const char *image, const char *backing)
{
    const char *slash = strrchr(image, '/');
    if (backing[0] == '/' || !slash)
        return xstrdup(backing);
    return xasprintf("%.*s/%s", (int)(slash - image), image, backing);
}
