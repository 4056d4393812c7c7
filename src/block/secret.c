/*
 * secret.c - the secret objects of one process (see secret.h).
 *
 * Parses QEMU's keyval form of an object ("secret,id=s,data=x", with ",,"
 * for a literal comma), loads the data (inline or from a file, raw or
 * base64, optionally AES-256-CBC-encrypted under an earlier secret) and
 * keeps the bytes until the store is cleared, when they are wiped.
 */
#include "block/secret.h"
#include "block/crypto.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_FILE_MAX (1u << 20)

/* A secret is short; reading more than this from a file is a mistake. */

static bool is_identifier(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

static void wipe_free(void *p, size_t n)
{
    if (p) {
        memset(p, 0, n);
        free(p);
    }
}

int secret_store_add(struct secret_store *store, const char *id, const void *data, size_t len,
                     struct verr *err)
{
    for (size_t i = 0; i < store->count; i++)
        if (strcmp(store->items[i].id, id) == 0)
            return verr_set(err, EEXIST,
                            "attempt to add duplicate property '%s' to object (type 'container')",
                            id);
    store->items = xreallocarray(store->items, store->count + 1, sizeof(*store->items));
    struct secret *s = &store->items[store->count++];
    s->id = xstrdup(id);
    s->data = xmalloc(len + 1);
    memcpy(s->data, data, len);
    s->data[len] = 0;
    s->len = len;
    return 0;
}

int secret_store_del(struct secret_store *store, const char *id)
{
    for (size_t i = 0; i < store->count; i++) {
        if (strcmp(store->items[i].id, id) != 0)
            continue;
        free(store->items[i].id);
        wipe_free(store->items[i].data, store->items[i].len + 1);
        store->items[i] = store->items[--store->count];
        return 0;
    }
    return -ENOENT;
}

void secret_store_clear(struct secret_store *store)
{
    for (size_t i = 0; i < store->count; i++) {
        free(store->items[i].id);
        wipe_free(store->items[i].data, store->items[i].len + 1);
    }
    free(store->items);
    store->items = NULL;
    store->count = 0;
}

int secret_lookup(const struct secret_store *store, const char *id, const uint8_t **data,
                  size_t *len, struct verr *err)
{
    for (size_t i = 0; store && i < store->count; i++) {
        if (strcmp(store->items[i].id, id) == 0) {
            *data = store->items[i].data;
            *len = store->items[i].len;
            return 0;
        }
    }
    return verr_set(err, ENOENT, "No secret with id '%s'", id);
}

/* As g_utf8_validate: well-formed, no overlong forms, no surrogates. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c < 0x80)
            k = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            k = 1;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return false;
        if (k && n - i <= k)
            return false;
        if (k && (s[i + 1] < lo || s[i + 1] > hi))
            return false;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

int secret_lookup_passphrase(const struct secret_store *store, const char *id, const char **pass,
                             size_t *len, struct verr *err)
{
    const uint8_t *d;
    size_t n;
    int r = secret_lookup(store, id, &d, &n, err);
    if (r < 0)
        return r;
    if (!valid_utf8(d, n))
        return verr_set(err, EINVAL, "Data from secret %s is not valid UTF-8", id);
    *pass = (const char *)d;
    *len = strlen((const char *)d);
    return 0;
}

/* ---- the object option string ----------------------------------------- */

struct kv {
    char *key, *value;
};

/* Splits "a,b=c,,d" into items (",," is a literal comma); the first item
 * without '=' is the object type. */
static size_t split(const char *s, struct kv *out, size_t max, struct verr *err)
{
    size_t n = 0;
    while (*s) {
        char *item = xmalloc(strlen(s) + 1);
        size_t o = 0;
        for (; *s; s++) {
            if (*s == ',' && s[1] == ',') {
                item[o++] = ',';
                s++;
            } else if (*s == ',') {
                s++;
                break;
            } else {
                item[o++] = *s;
            }
        }
        item[o] = 0;
        if (n == max) {
            free(item);
            for (size_t i = 0; i < n; i++)
                free(out[i].key);
            verr_set(err, E2BIG, "too many object options");
            return (size_t)-1;
        }
        char *eq = strchr(item, '=');
        if (eq) {
            *eq = 0;
            out[n].key = item;
            out[n].value = eq + 1;
        } else {
            out[n].key = item;
            out[n].value = NULL;
        }
        n++;
    }
    return n;
}

static int read_file(const char *path, uint8_t **data, size_t *len, struct verr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return verr_set(err, errno, "Unable to read %s: Failed to open file \u201c%s\u201d: %s",
                        path, path, strerror(errno));
    /* Regular files and pipes (a shell's <(...)); not devices, which could
     * block forever (a terminal) or never end (/dev/zero). */
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        close(fd);
        return verr_set(err, EINVAL, "Unable to read %s: not a regular file or a pipe", path);
    }
    uint8_t *buf = xmalloc(SECRET_FILE_MAX + 1);
    size_t n = 0;
    int r = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, SECRET_FILE_MAX + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = verr_set(err, errno, "Unable to read %s: %s", path, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > SECRET_FILE_MAX) {
            r = verr_set(err, EFBIG, "Unable to read %s: more than %u bytes", path,
                         SECRET_FILE_MAX);
            break;
        }
    }
    close(fd);
    if (r < 0) {
        wipe_free(buf, SECRET_FILE_MAX + 1);
        return r;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

/* keyid=: the data is AES-256-CBC under that secret's 32 bytes, with a
 * base64 IV, and ends with PKCS#7-style padding (QEMU's rules). */
static int decrypt_with_key(const struct secret_store *store, const char *keyid, const char *iv64,
                            bool base64, uint8_t **data, size_t *len, struct verr *err)
{
    const uint8_t *key;
    size_t keylen;
    int r = secret_lookup(store, keyid, &key, &keylen, err);
    if (r < 0)
        return r;
    if (keylen != 32)
        return verr_set(err, EINVAL, "Key should be 32 bytes in length");
    if (!iv64)
        return verr_set(err, EINVAL, "IV is required to decrypt secret");
    uint8_t *iv, *ct = NULL;
    size_t ivlen, ctlen;
    r = crypto_base64_decode(iv64, strlen(iv64), &iv, &ivlen, err);
    if (r < 0)
        return r;
    if (ivlen != 16) {
        free(iv);
        return verr_set(err, EINVAL, "IV should be 16 bytes in length not %zu", ivlen);
    }
    if (base64) {
        r = crypto_base64_decode((const char *)*data, *len, &ct, &ctlen, err);
        if (r < 0) {
            free(iv);
            return r;
        }
        wipe_free(*data, *len + 1);
        *data = ct;
        *len = ctlen;
    }
    if (*len == 0 || *len % 16) {
        free(iv);
        return verr_set(err, EINVAL, "encrypted secret data is not a whole number of AES blocks");
    }
    crypto_aes256_cbc_decrypt(key, iv, *data, *len);
    free(iv);
    uint8_t pad = (*data)[*len - 1];
    if (pad > 16 || pad > *len)
        return verr_set(err, EINVAL,
                        "Incorrect number of padding bytes (%d) found on decrypted data", pad);
    *len -= pad;
    (*data)[*len] = 0;
    return 0;
}

int secret_store_add_object(struct secret_store *store, const char *optstr, struct verr *err)
{
    if (optstr[0] == '{')
        return verr_set(err, ENOTSUP, "JSON object syntax is not supported; use secret,id=...");
    struct kv kv[16];
    size_t n = split(optstr, kv, 16, err);
    if (n == (size_t)-1)
        return -E2BIG;
    const char *type = NULL, *id = NULL, *data = NULL, *file = NULL, *format = NULL;
    const char *keyid = NULL, *iv = NULL;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        if (!v && i == 0)
            type = k;
        else if (strcmp(k, "qom-type") == 0 && v)
            type = v;
        else if (strcmp(k, "id") == 0 && v)
            id = v;
        else if (strcmp(k, "data") == 0 && v)
            data = v;
        else if (strcmp(k, "file") == 0 && v)
            file = v;
        else if (strcmp(k, "format") == 0 && v)
            format = v;
        else if (strcmp(k, "keyid") == 0 && v)
            keyid = v;
        else if (strcmp(k, "iv") == 0 && v)
            iv = v;
        else if (!v)
            r = verr_set(err, EINVAL, "Invalid parameter '%s'", k);
        else
            r = verr_set(err, EINVAL, "Parameter '%s' is unexpected", k);
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (r == 0 && !type)
        r = verr_set(err, EINVAL, "Parameter 'qom-type' is missing");
    if (r == 0 && strcmp(type, "secret") != 0)
        r = verr_set(err, ENOTSUP,
                     strcmp(type, "secret_keyring") == 0 || strcmp(type, "throttle-group") == 0 ||
                             strncmp(type, "authz-", 6) == 0 || strcmp(type, "iothread") == 0
                         ? "Object type '%s' is not supported here (only 'secret')"
                         : "Parameter 'qom-type' does not accept value '%s'",
                     type);
    if (r == 0 && !id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    if (r == 0 && !is_identifier(id))
        r = verr_set(err, EINVAL,
                     "Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', "
                     "starting with a letter)");
    if (r == 0 && format && strcmp(format, "raw") != 0 && strcmp(format, "base64") != 0)
        r = verr_set(err, EINVAL, "Parameter 'format' does not accept value '%s'", format);
    if (r == 0 && data && file)
        r = verr_set(err, EINVAL, "'file' and 'data' are mutually exclusive");
    if (r == 0 && !data && !file)
        r = verr_set(err, EINVAL, "Either 'file' or 'data' must be provided");
    if (r == 0 && iv && !keyid) /* QEMU ignores it; an unused IV is a mistake */
        r = verr_set(err, EINVAL, "'iv' is only used with 'keyid'");
    if (r == 0 && file) {
        r = read_file(file, &bytes, &len, err);
    } else if (r == 0) {
        len = strlen(data);
        bytes = xmalloc(len + 1);
        memcpy(bytes, data, len + 1);
    }
    bool b64 = format && strcmp(format, "base64") == 0;
    if (r == 0 && keyid) {
        r = decrypt_with_key(store, keyid, iv, b64, &bytes, &len, err);
    } else if (r == 0 && b64) {
        uint8_t *dec;
        size_t dlen;
        r = crypto_base64_decode((const char *)bytes, len, &dec, &dlen, err);
        if (r == 0) {
            wipe_free(bytes, len + 1);
            bytes = dec;
            len = dlen;
        }
    }
    if (r == 0)
        r = secret_store_add(store, id, bytes, len, err);
    if (bytes)
        wipe_free(bytes, len + 1);
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(kv[i].key) + 1 + (kv[i].value ? strlen(kv[i].value) + 1 : 0);
        wipe_free(kv[i].key, kl);
    }
    return r;
}
