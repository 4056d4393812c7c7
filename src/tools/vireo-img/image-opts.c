/*
 * image-opts.c - how vireo-img is told about secrets and image options,
 * as qemu-img is: `--object secret,id=ID,data=...` defines a passphrase,
 * `--image-opts` makes a file name an option string such as
 * "driver=qcow2,file.filename=disk.qcow2,encrypt.key-secret=sec0", and
 * `--target-image-opts` does the same for convert's target.
 *
 * main.c takes those options off the command line before the subcommand's
 * getopt runs and keeps them in the session; the subcommands open images
 * through img_open*(), which turn a name into block_open_opts here. An
 * option the block layer cannot honour is refused with one line (QEMU's
 * wording where it has one), never ignored.
 */
#include "img.h"

#include "block/secret.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int img_session_object(struct img_session *s, const char *arg)
{
    if (strcmp(arg, "help") == 0 || strcmp(arg, "?") == 0) {
        printf("List of user creatable objects:\n  secret\n  tls-creds-x509\n");
        return 1;
    }
    if (strncmp(arg, "tls-creds-x509,", 15) == 0 || strstr(arg, "qom-type=tls-creds-x509")) {
        struct verr e;
        verr_clear(&e);
        struct nbd_tls_x509 c;
        if (nbd_tls_x509_parse(arg, &c, &e) < 0) {
            img_error("%s", verr_msg(&e));
            return -1;
        }
        if (nbd_tls_x509_check(&c, &e) < 0) {
            img_error("%s", verr_msg(&e));
            nbd_tls_x509_free(&c);
            return -1;
        }
        for (size_t i = 0; i < s->ntls; i++) {
            if (strcmp(s->tls[i].id, c.id) == 0) {
                img_error("attempt to add duplicate property '%s' to object (type 'container')",
                          c.id);
                nbd_tls_x509_free(&c);
                return -1;
            }
        }
        s->tls = xrealloc(s->tls, (s->ntls + 1) * sizeof(*s->tls));
        s->tls[s->ntls++] = c;
        return 0;
    }
    if (strcmp(arg, "secret,help") == 0) {
        printf("secret options:\n  data=<string>\n  file=<string>\n"
               "  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n");
        return 1;
    }
    struct verr err;
    verr_clear(&err);
    if (secret_store_add_object(&s->secrets, arg, &err) < 0) {
        img_error("%s", verr_msg(&err));
        return -1;
    }
    return 0;
}

void img_session_free(struct img_session *s)
{
    for (size_t i = 0; i < s->ntls; i++)
        nbd_tls_x509_free(&s->tls[i]);
    free(s->tls);
    secret_store_clear(&s->secrets);
    for (int d = 0; d < IMG_SPEC_DEPTH; d++) {
        free(s->chain_secret[d]);
        free(s->chain_format[d]);
    }
}

/* Keeps a copy of the first image's key chain (see img_session_keys). */
static void remember_chain(struct img_session *s, const struct block_keys *keys)
{
    if (s->chain_set)
        return;
    s->chain_set = true;
    for (int d = 0; d < IMG_SPEC_DEPTH; d++) {
        s->chain_secret[d] = keys[d].key_secret ? xstrdup(keys[d].key_secret) : NULL;
        s->chain_format[d] = keys[d].encrypt_format ? xstrdup(keys[d].encrypt_format) : NULL;
        s->chain[d] = (struct block_keys){&s->secrets, s->chain_secret[d], s->chain_format[d],
                                          d + 1 < IMG_SPEC_DEPTH ? &s->chain[d + 1] : NULL};
    }
}

const struct block_keys *img_session_keys(struct img_session *s, int depth)
{
    if (!s->chain_set || depth < 0 || depth >= IMG_SPEC_DEPTH) {
        s->chain[0] = (struct block_keys){.secrets = &s->secrets};
        return &s->chain[0];
    }
    return &s->chain[depth];
}

/* ---- option strings -------------------------------------------------- */

static bool parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* The export's address as QEMU names the node: nbd+unix:///EXPORT?socket=PATH or
 * nbd://HOST:PORT/EXPORT (without "/EXPORT" for the default, empty, export). */
static int nbd_spec_check(struct img_spec *sp, const char *str)
{
    struct img_spec_layer *l = &sp->layers[0];
    const char *type = l->server_type;
    if (l->filename) {
        img_error("Could not open '%s': Block protocol 'nbd' doesn't support the option 'filename'",
                  str);
        return -1;
    }
    if (!type) {
        img_error("Could not open '%s': Parameter 'type' is missing", str);
        return -1;
    }
    bool is_unix = strcmp(type, "unix") == 0;
    if (!is_unix && strcmp(type, "inet") != 0) {
        img_error("Could not open '%s': Parameter 'type' does not accept value '%s'", str, type);
        return -1;
    }
    const char *missing = is_unix           ? (l->server_path ? NULL : "path")
                          : !l->server_host ? "host"
                          : !l->server_port ? "port"
                                            : NULL;
    if (missing) {
        img_error("Could not open '%s': Parameter '%s' is missing", str, missing);
        return -1;
    }
    if ((is_unix && (l->server_host || l->server_port)) || (!is_unix && l->server_path)) {
        img_error("Could not open '%s': Block protocol 'nbd' doesn't support the option '%s'", str,
                  is_unix ? (l->server_host ? "server.host" : "server.port") : "server.path");
        return -1;
    }
    const char *e = l->export_name ? l->export_name : "";
    bool v6 = !is_unix && strchr(l->server_host, ':');
    l->filename = is_unix ? xasprintf("nbd+unix://%s%s?socket=%s", *e ? "/" : "", e, l->server_path)
                          : xasprintf("nbd://%s%s%s:%s%s%s", v6 ? "[" : "", l->server_host,
                                      v6 ? "]" : "", l->server_port, *e ? "/" : "", e);
    return 0;
}

/* Splits "a=b,c=d" (",," for a comma) into the spec; 0 or -1 (printed). */
static int spec_set(struct img_spec *sp, const char *name, const char *k, const char *v)
{
    /* backing.<...> applies to the image one level down the chain. */
    int depth = 0;
    while (strncmp(k, "backing.", 8) == 0) {
        k += 8;
        depth++;
    }
    if (depth >= IMG_SPEC_DEPTH) {
        img_error("Could not open '%s': backing chain options nest too deep", name);
        return -1;
    }
    if (depth > sp->depth)
        sp->depth = depth;
    struct img_spec_layer *l = &sp->layers[depth];
    bool b;
    /* The nbd protocol's options, on the node (driver=nbd) or its file (file.driver=nbd). */
    const char *nk = strncmp(k, "file.", 5) == 0 ? k + 5 : k;
    static const char *const nbd_keys[] = {"server.type", "server.host", "server.port",
                                           "server.path", "export",      "tls-creds",
                                           "tls-hostname"};
    for (size_t i = 0; i < sizeof(nbd_keys) / sizeof(nbd_keys[0]); i++) {
        if (strcmp(nk, nbd_keys[i]) != 0)
            continue;
        char **slot[] = {&l->server_type, &l->server_host, &l->server_port, &l->server_path,
                         &l->export_name, &l->tls_creds,   &l->tls_hostname};
        if (depth) {
            img_error("Could not open '%s': Block format '%s' does not support the option '%s'",
                      name, l->format ? l->format : "raw", k);
            return -1;
        }
        free(*slot[i]);
        *slot[i] = xstrdup(v);
        return 0;
    }
    if (strcmp(k, "driver") == 0 && strcmp(v, "nbd") == 0) {
        free(l->format);
        l->format = xstrdup("nbd");
        l->nbd = true;
    } else if (strcmp(k, "file.driver") == 0 && strcmp(v, "nbd") == 0) {
        l->nbd = true;
    } else if (strcmp(k, "driver") == 0) {
        free(l->format);
        l->format = xstrdup(strcmp(v, "file") == 0 ? "raw" : v);
        l->protocol_only = strcmp(v, "file") == 0;
    } else if (strcmp(k, "file.filename") == 0 || (strcmp(k, "filename") == 0)) {
        free(l->filename);
        l->filename = xstrdup(v);
    } else if (strcmp(k, "file.driver") == 0) {
        if (strcmp(v, "file") != 0 && strcmp(v, "host_device") != 0) {
            img_error("Could not open '%s': protocol '%s' is not supported (file only)", name, v);
            return -1;
        }
    } else if (strcmp(k, "file.locking") == 0 || strcmp(k, "locking") == 0) {
        if (block_locking_parse(v, &l->locking) < 0) {
            img_error("Could not open '%s': Parameter 'locking' does not accept value '%s'", name,
                      v);
            return -1;
        }
    } else if (strcmp(k, "key-secret") == 0 || strcmp(k, "encrypt.key-secret") == 0) {
        free(l->key_secret);
        l->key_secret = xstrdup(v);
        l->key_option = k[0] == 'e' ? "encrypt.key-secret" : "key-secret";
    } else if (strcmp(k, "encrypt.format") == 0) {
        if (strcmp(v, "luks") != 0 && strcmp(v, "aes") != 0) {
            img_error("Could not open '%s': Parameter 'encrypt.format' does not accept value '%s'",
                      name, v);
            return -1;
        }
        free(l->encrypt_format);
        l->encrypt_format = xstrdup(v);
    } else if (strcmp(k, "read-only") == 0 && parse_bool(v, &b)) {
        l->read_only = b;
    } else if (strcmp(k, "force-share") == 0 && parse_bool(v, &b)) {
        l->force_share = b;
    } else if (strcmp(k, "cache.direct") == 0 && parse_bool(v, &b)) {
        l->cache_direct = b;
        l->has_cache = true;
    } else if (strcmp(k, "cache.no-flush") == 0 && parse_bool(v, &b)) {
        l->cache_no_flush = b;
        l->has_cache = true;
    } else if (l->nbd && l->format && strcmp(l->format, "nbd") == 0) {
        img_error("Could not open '%s': Block protocol 'nbd' doesn't support the option '%s'", name,
                  k);
        return -1;
    } else {
        const char *drv = sp->layers[depth].format;
        img_error("Could not open '%s': Block format '%s' does not support the option '%s'", name,
                  drv ? drv : "raw", k);
        return -1;
    }
    return 0;
}

int img_spec_parse(struct img_spec *sp, const char *str)
{
    memset(sp, 0, sizeof(*sp));
    const char *p = str;
    char *item = xmalloc(strlen(str) + 1);
    int r = 0;
    while (r == 0 && *p) {
        size_t o = 0;
        for (; *p; p++) {
            if (*p == ',' && p[1] == ',') {
                item[o++] = ',';
                p++;
            } else if (*p == ',') {
                p++;
                break;
            } else {
                item[o++] = *p;
            }
        }
        item[o] = 0;
        if (!o)
            continue;
        char *eq = strchr(item, '=');
        if (!eq) {
            img_error("Could not open '%s': option '%s' has no value", str, item);
            r = -1;
            break;
        }
        *eq = 0;
        r = spec_set(sp, str, item, eq + 1);
    }
    free(item);
    const struct img_spec_layer *top = &sp->layers[0];
    bool nbd_opts = top->server_type || top->server_host || top->server_port || top->server_path ||
                    top->export_name || top->tls_creds || top->tls_hostname;
    if (r == 0 && nbd_opts && !top->nbd) {
        img_error("Could not open '%s': Block format '%s' does not support the option '%s'", str,
                  top->format ? top->format : "raw", "server.type");
        r = -1;
    }
    if (r == 0 && top->nbd)
        r = nbd_spec_check(sp, str);
    if (r == 0 && !sp->layers[0].filename) {
        img_error("Could not open '%s': A block device must be specified for \"file\"", str);
        r = -1;
    }
    for (int d = 1; r == 0 && d <= sp->depth; d++) {
        if (sp->layers[d].filename && d > 1) {
            img_error("Could not open '%s': only the first backing file's name can be given", str);
            r = -1;
        }
    }
    if (r < 0)
        img_spec_free(sp);
    return r;
}

void img_spec_free(struct img_spec *sp)
{
    for (int d = 0; d < IMG_SPEC_DEPTH; d++) {
        free(sp->layers[d].format);
        free(sp->layers[d].filename);
        free(sp->layers[d].key_secret);
        free(sp->layers[d].encrypt_format);
        free(sp->layers[d].server_type);
        free(sp->layers[d].server_host);
        free(sp->layers[d].server_port);
        free(sp->layers[d].server_path);
        free(sp->layers[d].export_name);
        free(sp->layers[d].tls_creds);
        free(sp->layers[d].tls_hostname);
    }
    memset(sp, 0, sizeof(*sp));
}

/* The key secret options only make sense for the format that has them. */
static int check_key_option(const char *name, const struct img_spec_layer *l)
{
    if (!l->format || !l->key_secret)
        return 0;
    bool luks = strcmp(l->format, "luks") == 0, qcow2 = strcmp(l->format, "qcow2") == 0;
    if ((luks && strcmp(l->key_option, "key-secret") == 0) ||
        (qcow2 && strcmp(l->key_option, "encrypt.key-secret") == 0))
        return 0;
    img_error("Could not open '%s': Block format '%s' does not support the option '%s'", name,
              l->format, l->key_option);
    return -1;
}

/* ---- opening --------------------------------------------------------- */

/* The TLS hooks of an nbd node's tls-creds (and tls-hostname: the server's name to check,
 * by default its host), as QEMU's nbd driver takes them. */
static int nbd_tls_hooks(struct img_session *s, const struct img_spec_layer *l,
                         struct nbd_client_tls *out, struct verr *err)
{
    if (!l->tls_creds)
        return verr_set(err, EINVAL, "tls-hostname is set but tls-creds is not");
    const struct nbd_tls_x509 *c = NULL;
    for (size_t i = 0; i < s->ntls && !c; i++)
        if (strcmp(s->tls[i].id, l->tls_creds) == 0)
            c = &s->tls[i];
    if (!c)
        return verr_set(err, ENOENT, "No TLS credentials with id '%s'", l->tls_creds);
    return nbd_tls_client_new(c, l->tls_hostname ? l->tls_hostname : l->server_host, out, err);
}

struct block_dev *img_open_spec(struct img_session *s, const char *name, bool image_opts,
                                const struct block_open_opts *base)
{
    struct block_open_opts o = *base;
    struct block_keys keys[IMG_SPEC_DEPTH];
    memset(keys, 0, sizeof(keys));
    for (int d = 0; d < IMG_SPEC_DEPTH; d++) {
        keys[d].secrets = &s->secrets;
        keys[d].backing = d + 1 < IMG_SPEC_DEPTH ? &keys[d + 1] : NULL;
    }
    if (base->keys) { /* the caller knows the keys (a target just created, a base) */
        keys[0].key_secret = base->keys->key_secret;
        keys[0].encrypt_format = base->keys->encrypt_format;
        if (base->keys->backing)
            keys[0].backing = base->keys->backing;
    }
    o.keys = &keys[0];
    o.force_share = o.force_share || s->force_share;
    if (!image_opts) {
        struct verr err;
        verr_clear(&err);
        struct block_dev *bd = NULL;
        if (block_open(name, &o, &bd, &err) < 0) {
            img_print_open_error(name, verr_msg(&err));
            return NULL;
        }
        if (!base->keys)
            remember_chain(s, keys);
        return bd;
    }
    struct img_spec sp;
    if (img_spec_parse(&sp, name) < 0)
        return NULL;
    struct block_dev *bd = NULL;
    const struct img_spec_layer *top = &sp.layers[0];
    int r = 0;
    for (int d = 0; r == 0 && d <= sp.depth; d++) {
        r = check_key_option(name, &sp.layers[d]);
        if (sp.layers[d].key_secret)
            keys[d].key_secret = sp.layers[d].key_secret;
        keys[d].encrypt_format = sp.layers[d].encrypt_format;
    }
    if (r == 0) {
        if (top->format)
            o.format = top->format;
        if (top->read_only)
            o.read_only = true;
        if (top->force_share)
            o.force_share = true;
        o.locking = top->locking;
        if (top->has_cache)
            o.cache = top->cache_no_flush ? BLOCK_CACHE_UNSAFE
                      : top->cache_direct ? BLOCK_CACHE_NONE
                                          : BLOCK_CACHE_WRITEBACK;
        if (sp.depth >= 1 && sp.layers[1].filename) {
            o.backing_override = sp.layers[1].filename;
            o.backing_format_override = sp.layers[1].format;
        }
        struct verr err;
        verr_clear(&err);
        struct nbd_client_tls tls;
        if (top->nbd && (top->tls_creds || top->tls_hostname)) {
            r = nbd_tls_hooks(s, top, &tls, &err);
            o.nbd_tls = &tls;
        }
        if (r < 0)
            img_print_open_error(name, verr_msg(&err));
        else if (block_open(top->filename, &o, &bd, &err) < 0) {
            img_print_open_error(name, verr_msg(&err));
            bd = NULL;
        } else {
            remember_chain(s, keys);
        }
    }
    img_spec_free(&sp);
    return bd;
}

/* ---- the "json:{...}" name qemu-img prints for an option string -------- */

/* QEMU prints the options as its QDict holds them: in the order of the hash
 * of each key (qobject/qdict.c: tdb_hash modulo 512 buckets). */
static unsigned qdict_bucket(const char *key)
{
    unsigned v = 0x238F13AFu * (unsigned)strlen(key);
    for (unsigned i = 0; key[i]; i++)
        v = v + ((unsigned)(unsigned char)key[i] << (i * 5 % 24));
    return (1103515243u * v + 12345u) % 512u;
}

struct jkv {
    const char *key;
    char *value; /* already JSON */
};

static int jkv_cmp(const void *a, const void *b)
{
    unsigned x = qdict_bucket(((const struct jkv *)a)->key);
    unsigned y = qdict_bucket(((const struct jkv *)b)->key);
    return x < y ? -1 : x > y;
}

static char *json_str(const char *s)
{
    char *out = xmalloc(strlen(s) * 6 + 3), *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

static char *json_object(struct jkv *kv, size_t n)
{
    qsort(kv, n, sizeof(*kv), jkv_cmp);
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += strlen(kv[i].key) + strlen(kv[i].value) + 8;
    char *out = xmalloc(len), *o = out;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        char *k = json_str(kv[i].key);
        o += sprintf(o, "%s%s: %s", i ? ", " : "", k, kv[i].value);
        free(k);
        free(kv[i].value);
    }
    *o++ = '}';
    *o = 0;
    return out;
}

char *img_spec_json_name(const char *str)
{
    struct img_spec sp;
    if (img_spec_parse(&sp, str) < 0)
        return xstrdup(str);
    const struct img_spec_layer *l = &sp.layers[0];
    struct jkv top[8], file[2];
    size_t n = 0;
    if (l->nbd) { /* QEMU names the nbd node by its address */
        char *uri = xstrdup(l->filename);
        img_spec_free(&sp);
        return uri;
    }
    file[0] = (struct jkv){"driver", json_str("file")};
    file[1] = (struct jkv){"filename", json_str(l->filename)};
    if (l->protocol_only) {
        char *r = json_object(file, 2);
        img_spec_free(&sp);
        char *out = xasprintf("json:%s", r);
        free(r);
        return out;
    }
    if (l->format)
        top[n++] = (struct jkv){"driver", json_str(l->format)};
    top[n++] = (struct jkv){"file", json_object(file, 2)};
    if (l->key_secret)
        top[n++] = (struct jkv){l->key_option, json_str(l->key_secret)};
    if (l->encrypt_format)
        top[n++] = (struct jkv){"encrypt.format", json_str(l->encrypt_format)};
    char *r = json_object(top, n);
    char *out = xasprintf("json:%s", r);
    free(r);
    img_spec_free(&sp);
    return out;
}
