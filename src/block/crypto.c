/*
 * crypto.c - glue between disk encryption and the libraries that do the
 * cryptography (see crypto.h for which library does what, and why).
 *
 * A sector cipher keeps its keys in one of two forms. AES in XTS (128/256)
 * and CBC goes to GnuTLS, whose cipher handles carry the IV as state: a
 * small pool of handles, each used by one thread at a time, lets virtio-blk's
 * workers encrypt concurrently. Everything else is nettle, whose key
 * schedules are read-only once set, so one copy serves every thread and the
 * IV lives on the caller's stack. Each sector's IV is computed from its
 * number (plain: 32-bit little-endian, plain64: 64-bit, essiv: the number
 * encrypted with a key hashed from the sector key), as dm-crypt and QEMU do.
 */
#include "block/crypto.h"
#include "util/mem.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/aes.h>
#include <nettle/base64.h>
#include <nettle/cast128.h>
#include <nettle/cbc.h>
#include <nettle/ctr.h>
#include <nettle/hmac.h>
#include <nettle/md5.h>
#include <nettle/nettle-meta.h>
#include <nettle/pbkdf2.h>
#include <nettle/ripemd160.h>
#include <nettle/serpent.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>
#include <nettle/twofish.h>
#include <nettle/xts.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- names ---------------------------------------------------------- */

static const char *const cipher_names[CRYPTO_CIPHER__MAX] = {
    [CRYPTO_AES_128] = "aes-128",         [CRYPTO_AES_192] = "aes-192",
    [CRYPTO_AES_256] = "aes-256",         [CRYPTO_CAST5_128] = "cast5-128",
    [CRYPTO_SERPENT_128] = "serpent-128", [CRYPTO_SERPENT_192] = "serpent-192",
    [CRYPTO_SERPENT_256] = "serpent-256", [CRYPTO_TWOFISH_128] = "twofish-128",
    [CRYPTO_TWOFISH_192] = "twofish-192", [CRYPTO_TWOFISH_256] = "twofish-256",
};
static const char *const mode_names[CRYPTO_MODE__MAX] = {"ecb", "cbc", "xts", "ctr"};
static const char *const ivgen_names[CRYPTO_IVGEN__MAX] = {"plain", "plain64", "essiv"};
static const char *const hash_names[CRYPTO_HASH__MAX] = {
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160",
};

static int lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -EINVAL;
}

#define PARSE(names, max, name, out)                                                               \
    do {                                                                                           \
        int i_ = lookup(names, max, name);                                                         \
        if (i_ < 0)                                                                                \
            return i_;                                                                             \
        *(out) = i_;                                                                               \
        return 0;                                                                                  \
    } while (0)

int crypto_cipher_alg_parse(const char *name, enum crypto_cipher_alg *out)
{
    PARSE(cipher_names, CRYPTO_CIPHER__MAX, name, out);
}

const char *crypto_cipher_alg_name(enum crypto_cipher_alg alg)
{
    return (unsigned)alg < CRYPTO_CIPHER__MAX ? cipher_names[alg] : "?";
}

int crypto_cipher_mode_parse(const char *name, enum crypto_cipher_mode *out)
{
    PARSE(mode_names, CRYPTO_MODE__MAX, name, out);
}

const char *crypto_cipher_mode_name(enum crypto_cipher_mode mode)
{
    return (unsigned)mode < CRYPTO_MODE__MAX ? mode_names[mode] : "?";
}

int crypto_ivgen_parse(const char *name, enum crypto_ivgen *out)
{
    PARSE(ivgen_names, CRYPTO_IVGEN__MAX, name, out);
}

const char *crypto_ivgen_name(enum crypto_ivgen ivgen)
{
    return (unsigned)ivgen < CRYPTO_IVGEN__MAX ? ivgen_names[ivgen] : "?";
}

int crypto_hash_parse(const char *name, enum crypto_hash *out)
{
    PARSE(hash_names, CRYPTO_HASH__MAX, name, out);
}

const char *crypto_hash_name(enum crypto_hash hash)
{
    return (unsigned)hash < CRYPTO_HASH__MAX ? hash_names[hash] : "?";
}

size_t crypto_cipher_key_len(enum crypto_cipher_alg alg)
{
    switch (alg) {
    case CRYPTO_AES_128:
    case CRYPTO_CAST5_128:
    case CRYPTO_SERPENT_128:
    case CRYPTO_TWOFISH_128:
        return 16;
    case CRYPTO_AES_192:
    case CRYPTO_SERPENT_192:
    case CRYPTO_TWOFISH_192:
        return 24;
    default:
        return 32;
    }
}

size_t crypto_cipher_block_len(enum crypto_cipher_alg alg)
{
    return alg == CRYPTO_CAST5_128 ? 8 : 16;
}

/* ---- hashes, PBKDF2, random ----------------------------------------- */

static const struct nettle_hash *nettle_hash_of(enum crypto_hash hash)
{
    switch (hash) {
    case CRYPTO_HASH_MD5:
        return &nettle_md5;
    case CRYPTO_HASH_SHA1:
        return &nettle_sha1;
    case CRYPTO_HASH_SHA224:
        return &nettle_sha224;
    case CRYPTO_HASH_SHA384:
        return &nettle_sha384;
    case CRYPTO_HASH_SHA512:
        return &nettle_sha512;
    case CRYPTO_HASH_RIPEMD160:
        return &nettle_ripemd160;
    default:
        return &nettle_sha256;
    }
}

size_t crypto_hash_digest_len(enum crypto_hash hash)
{
    return nettle_hash_of(hash)->digest_size;
}

void crypto_hash2(enum crypto_hash hash, const void *a, size_t alen, const void *b, size_t blen,
                  uint8_t *digest)
{
    const struct nettle_hash *h = nettle_hash_of(hash);
    union {
        struct sha512_ctx big; /* the largest context of the hashes above */
        struct ripemd160_ctx r;
        struct md5_ctx m;
    } ctx;
    h->init(&ctx);
    h->update(&ctx, alen, a);
    if (b)
        h->update(&ctx, blen, b);
    h->digest(&ctx, h->digest_size, digest);
}

/* nettle's generic HMAC keeps three hash contexts; pbkdf2() drives it
 * through these two callbacks. */
struct hmac_any {
    const struct nettle_hash *h;
    uint8_t *outer, *inner, *state;
};

static void hmac_any_update(void *ctx, size_t len, const uint8_t *data)
{
    struct hmac_any *m = ctx;
    hmac_update(m->state, m->h, len, data);
}

static void hmac_any_digest(void *ctx, size_t len, uint8_t *digest)
{
    struct hmac_any *m = ctx;
    hmac_digest(m->outer, m->inner, m->state, m->h, len, digest);
}

void crypto_pbkdf2(enum crypto_hash hash, const void *pass, size_t plen, const uint8_t *salt,
                   size_t slen, uint32_t iterations, uint8_t *out, size_t olen)
{
    struct hmac_any m = {.h = nettle_hash_of(hash)};
    size_t cs = m.h->context_size;
    uint8_t *mem = xmalloc(3 * cs);
    m.outer = mem;
    m.inner = mem + cs;
    m.state = mem + 2 * cs;
    hmac_set_key(m.outer, m.inner, m.state, m.h, plen, pass);
    pbkdf2(&m, hmac_any_update, hmac_any_digest, m.h->digest_size, iterations ? iterations : 1,
           slen, salt, olen, out);
    memset(mem, 0, 3 * cs);
    free(mem);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t crypto_pbkdf2_iters_per_second(enum crypto_hash hash, size_t outlen)
{
    static const uint8_t pass[] = "calibration", salt[32];
    uint8_t out[CRYPTO_MAX_KEY * 2];
    if (outlen > sizeof(out))
        outlen = sizeof(out);
    /* Grow the run until it takes a measurable slice of CPU time (thread
     * CPU time, so a loaded machine does not shrink the count much). */
    uint64_t iters = 1024;
    for (;;) {
        uint64_t t0 = thread_cpu_ns();
        crypto_pbkdf2(hash, pass, sizeof(pass) - 1, salt, sizeof(salt), (uint32_t)iters, out,
                      outlen);
        uint64_t ns = thread_cpu_ns() - t0;
        if (ns >= 150000000ull || iters >= (1ull << 31)) {
            uint64_t rate = ns ? iters * 1000000000ull / ns : iters;
            return rate ? rate : 1;
        }
        iters = ns < 15000000ull ? iters * 8 : iters * 2;
    }
}

int crypto_random(void *buf, size_t len, struct verr *err)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return verr_errno(err, n < 0 ? errno : EIO, "could not read random bytes");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int crypto_base64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen,
                         struct verr *err)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    *out = NULL;
    *outlen = 0;
    for (size_t i = 0; i < inlen; i++)
        if (!in[i] || !strchr(alphabet, in[i]))
            return verr_set(err, EINVAL, "Base64 data contains invalid characters");
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    uint8_t *buf = xmalloc(BASE64_DECODE_LENGTH(inlen) + 1);
    size_t n = BASE64_DECODE_LENGTH(inlen) + 1;
    if (!base64_decode_update(&ctx, &n, buf, inlen, in) || !base64_decode_final(&ctx)) {
        free(buf);
        return verr_set(err, EINVAL, "Base64 data is not valid");
    }
    buf[n] = 0;
    *out = buf;
    *outlen = n;
    return 0;
}

void crypto_aes256_cbc_decrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len)
{
    struct aes256_ctx ctx;
    uint8_t chain[16];
    aes256_set_decrypt_key(&ctx, key);
    memcpy(chain, iv, 16);
    cbc_decrypt(&ctx, (nettle_cipher_func *)aes256_decrypt, 16, chain, len, buf, buf);
    memset(&ctx, 0, sizeof(ctx));
}

/* ---- anti-forensic splitter ----------------------------------------- */

/* Each digest-sized piece d_i of the block becomes HASH(be32(i) || d_i); a
 * short last piece takes the first bytes of its digest. */
static void af_diffuse(enum crypto_hash hash, uint8_t *block, size_t len)
{
    size_t dl = crypto_hash_digest_len(hash);
    uint8_t digest[CRYPTO_HASH_MAX_DIGEST];
    for (size_t i = 0, off = 0; off < len; i++, off += dl) {
        size_t n = len - off < dl ? len - off : dl;
        uint8_t be[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        crypto_hash2(hash, be, 4, block + off, n, digest);
        memcpy(block + off, digest, n);
    }
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] ^= src[i];
}

int crypto_afsplit_encode(enum crypto_hash hash, size_t blocklen, uint32_t stripes,
                          const uint8_t *in, uint8_t *out, struct verr *err)
{
    uint8_t *acc = xcalloc(1, blocklen);
    int r = 0;
    for (uint32_t i = 0; r == 0 && i + 1 < stripes; i++) {
        r = crypto_random(out + (size_t)i * blocklen, blocklen, err);
        xor_into(acc, out + (size_t)i * blocklen, blocklen);
        af_diffuse(hash, acc, blocklen);
    }
    if (r == 0) {
        uint8_t *last = out + (size_t)(stripes - 1) * blocklen;
        for (size_t j = 0; j < blocklen; j++)
            last[j] = acc[j] ^ in[j];
    }
    memset(acc, 0, blocklen);
    free(acc);
    return r;
}

void crypto_afsplit_decode(enum crypto_hash hash, size_t blocklen, uint32_t stripes,
                           const uint8_t *in, uint8_t *out)
{
    uint8_t *acc = xcalloc(1, blocklen);
    for (uint32_t i = 0; i + 1 < stripes; i++) {
        xor_into(acc, in + (size_t)i * blocklen, blocklen);
        af_diffuse(hash, acc, blocklen);
    }
    const uint8_t *last = in + (size_t)(stripes - 1) * blocklen;
    for (size_t j = 0; j < blocklen; j++)
        out[j] = acc[j] ^ last[j];
    memset(acc, 0, blocklen);
    free(acc);
}

/* ---- keyed block ciphers (nettle) ----------------------------------- */

/* One cipher key, both directions. AES needs a separate decryption
 * schedule; the others use one context for both. */
struct nkey {
    void *enc, *dec;
    nettle_cipher_func *encf, *decf;
    size_t ctx_size;
};

static void nkey_free(struct nkey *k)
{
    if (k->enc) {
        memset(k->enc, 0, k->ctx_size);
        free(k->enc);
    }
    if (k->dec && k->dec != k->enc) {
        memset(k->dec, 0, k->ctx_size);
        free(k->dec);
    }
    memset(k, 0, sizeof(*k));
}

static void nkey_init(struct nkey *k, enum crypto_cipher_alg alg, const uint8_t *key)
{
    size_t kl = crypto_cipher_key_len(alg);
    switch (alg) {
    case CRYPTO_AES_128: {
        struct aes128_ctx *e = xmalloc(sizeof(*e)), *d = xmalloc(sizeof(*d));
        aes128_set_encrypt_key(e, key);
        aes128_set_decrypt_key(d, key);
        *k = (struct nkey){e, d, (nettle_cipher_func *)aes128_encrypt,
                           (nettle_cipher_func *)aes128_decrypt, sizeof(*e)};
        break;
    }
    case CRYPTO_AES_192: {
        struct aes192_ctx *e = xmalloc(sizeof(*e)), *d = xmalloc(sizeof(*d));
        aes192_set_encrypt_key(e, key);
        aes192_set_decrypt_key(d, key);
        *k = (struct nkey){e, d, (nettle_cipher_func *)aes192_encrypt,
                           (nettle_cipher_func *)aes192_decrypt, sizeof(*e)};
        break;
    }
    case CRYPTO_AES_256: {
        struct aes256_ctx *e = xmalloc(sizeof(*e)), *d = xmalloc(sizeof(*d));
        aes256_set_encrypt_key(e, key);
        aes256_set_decrypt_key(d, key);
        *k = (struct nkey){e, d, (nettle_cipher_func *)aes256_encrypt,
                           (nettle_cipher_func *)aes256_decrypt, sizeof(*e)};
        break;
    }
    case CRYPTO_CAST5_128: {
        struct cast128_ctx *c = xmalloc(sizeof(*c));
        cast5_set_key(c, kl, key);
        *k = (struct nkey){c, c, (nettle_cipher_func *)cast128_encrypt,
                           (nettle_cipher_func *)cast128_decrypt, sizeof(*c)};
        break;
    }
    case CRYPTO_SERPENT_128:
    case CRYPTO_SERPENT_192:
    case CRYPTO_SERPENT_256: {
        struct serpent_ctx *c = xmalloc(sizeof(*c));
        serpent_set_key(c, kl, key);
        *k = (struct nkey){c, c, (nettle_cipher_func *)serpent_encrypt,
                           (nettle_cipher_func *)serpent_decrypt, sizeof(*c)};
        break;
    }
    default: {
        struct twofish_ctx *c = xmalloc(sizeof(*c));
        twofish_set_key(c, kl, key);
        *k = (struct nkey){c, c, (nettle_cipher_func *)twofish_encrypt,
                           (nettle_cipher_func *)twofish_decrypt, sizeof(*c)};
        break;
    }
    }
}

/* ---- sector ciphers ------------------------------------------------- */

struct crypto_sectors {
    struct crypto_sector_spec spec;
    size_t block;   /* cipher block length */
    size_t niv;     /* IV length (0 for ECB) */
    struct nkey k1; /* data key (nettle path) */
    struct nkey k2; /* XTS tweak key */
    struct nkey essiv;
    /* GnuTLS path: the algorithm, the key, and idle handles. */
    gnutls_cipher_algorithm_t galg;
    uint8_t gkey[CRYPTO_MAX_KEY];
    size_t gkey_len;
    pthread_mutex_t pool_lock;
    gnutls_cipher_hd_t *pool;
    size_t pool_n, pool_cap;
};

int crypto_essiv_cipher(enum crypto_cipher_alg alg, enum crypto_hash hash,
                        enum crypto_cipher_alg *out, struct verr *err)
{
    size_t dl = crypto_hash_digest_len(hash);
    if (dl == crypto_cipher_key_len(alg)) {
        *out = alg;
        return 0;
    }
    enum crypto_cipher_alg base;
    const char *family;
    switch (alg) {
    case CRYPTO_AES_128:
    case CRYPTO_AES_192:
    case CRYPTO_AES_256:
        base = CRYPTO_AES_128;
        family = "AES";
        break;
    case CRYPTO_SERPENT_128:
    case CRYPTO_SERPENT_192:
    case CRYPTO_SERPENT_256:
        base = CRYPTO_SERPENT_128;
        family = "Serpent";
        break;
    case CRYPTO_TWOFISH_128:
    case CRYPTO_TWOFISH_192:
    case CRYPTO_TWOFISH_256:
        base = CRYPTO_TWOFISH_128;
        family = "Twofish";
        break;
    default:
        return verr_set(err, ENOTSUP, "Cipher %s not supported with essiv",
                        crypto_cipher_alg_name(alg));
    }
    /* The family's members are consecutive: 128, 192, 256. */
    for (int i = 0; i < 3; i++) {
        if (crypto_cipher_key_len((enum crypto_cipher_alg)(base + i)) == dl) {
            *out = (enum crypto_cipher_alg)(base + i);
            return 0;
        }
    }
    return verr_set(err, ENOTSUP, "No %s cipher with key size %zu available", family, dl);
}

int crypto_sector_spec_check(const struct crypto_sector_spec *spec, size_t *key_len,
                             struct verr *err)
{
    if ((unsigned)spec->alg >= CRYPTO_CIPHER__MAX || (unsigned)spec->mode >= CRYPTO_MODE__MAX ||
        (unsigned)spec->ivgen >= CRYPTO_IVGEN__MAX ||
        (unsigned)spec->ivgen_hash >= CRYPTO_HASH__MAX)
        return verr_set(err, EINVAL, "invalid cipher specification");
    size_t kl = crypto_cipher_key_len(spec->alg);
    if (spec->mode == CRYPTO_MODE_XTS) {
        if (crypto_cipher_block_len(spec->alg) != 16)
            return verr_set(err, ENOTSUP, "XTS mode not supported with cipher %s",
                            crypto_cipher_alg_name(spec->alg));
        kl *= 2;
    }
    if (spec->ivgen == CRYPTO_IVGEN_ESSIV) {
        enum crypto_cipher_alg e;
        int r = crypto_essiv_cipher(spec->alg, spec->ivgen_hash, &e, err);
        if (r < 0)
            return r;
    }
    if (key_len)
        *key_len = kl;
    return 0;
}

static gnutls_cipher_algorithm_t gnutls_alg(const struct crypto_sector_spec *spec)
{
    if (spec->mode == CRYPTO_MODE_XTS && spec->alg == CRYPTO_AES_128)
        return GNUTLS_CIPHER_AES_128_XTS;
    if (spec->mode == CRYPTO_MODE_XTS && spec->alg == CRYPTO_AES_256)
        return GNUTLS_CIPHER_AES_256_XTS;
    if (spec->mode == CRYPTO_MODE_CBC && spec->alg == CRYPTO_AES_128)
        return GNUTLS_CIPHER_AES_128_CBC;
    if (spec->mode == CRYPTO_MODE_CBC && spec->alg == CRYPTO_AES_192)
        return GNUTLS_CIPHER_AES_192_CBC;
    if (spec->mode == CRYPTO_MODE_CBC && spec->alg == CRYPTO_AES_256)
        return GNUTLS_CIPHER_AES_256_CBC;
    return GNUTLS_CIPHER_UNKNOWN;
}

static int gnutls_handle_new(struct crypto_sectors *cs, gnutls_cipher_hd_t *h)
{
    uint8_t iv[16] = {0};
    gnutls_datum_t k = {cs->gkey, (unsigned)cs->gkey_len}, v = {iv, sizeof(iv)};
    return gnutls_cipher_init(h, cs->galg, &k, &v) < 0 ? -1 : 0;
}

static gnutls_cipher_hd_t pool_get(struct crypto_sectors *cs)
{
    gnutls_cipher_hd_t h = NULL;
    pthread_mutex_lock(&cs->pool_lock);
    if (cs->pool_n)
        h = cs->pool[--cs->pool_n];
    pthread_mutex_unlock(&cs->pool_lock);
    if (!h && gnutls_handle_new(cs, &h) < 0)
        return NULL;
    return h;
}

static void pool_put(struct crypto_sectors *cs, gnutls_cipher_hd_t h)
{
    pthread_mutex_lock(&cs->pool_lock);
    if (cs->pool_n == cs->pool_cap) {
        cs->pool_cap = cs->pool_cap ? cs->pool_cap * 2 : 8;
        cs->pool = xreallocarray(cs->pool, cs->pool_cap, sizeof(*cs->pool));
    }
    cs->pool[cs->pool_n++] = h;
    pthread_mutex_unlock(&cs->pool_lock);
}

int crypto_sectors_new(const struct crypto_sector_spec *spec, const uint8_t *key, size_t key_len,
                       struct crypto_sectors **out, struct verr *err)
{
    size_t want;
    *out = NULL;
    int r = crypto_sector_spec_check(spec, &want, err);
    if (r < 0)
        return r;
    if (key_len != want)
        return verr_set(err, EINVAL, "cipher %s-%s needs a %zu-byte key, not %zu bytes",
                        crypto_cipher_alg_name(spec->alg), crypto_cipher_mode_name(spec->mode),
                        want, key_len);
    struct crypto_sectors *cs = xcalloc(1, sizeof(*cs));
    cs->spec = *spec;
    cs->block = crypto_cipher_block_len(spec->alg);
    cs->niv = spec->mode == CRYPTO_MODE_ECB ? 0 : cs->block;
    pthread_mutex_init(&cs->pool_lock, NULL);
    size_t half = crypto_cipher_key_len(spec->alg);
    cs->galg = gnutls_alg(spec);
    if (cs->galg != GNUTLS_CIPHER_UNKNOWN) {
        memcpy(cs->gkey, key, key_len);
        cs->gkey_len = key_len;
        gnutls_cipher_hd_t h;
        if (gnutls_handle_new(cs, &h) == 0)
            pool_put(cs, h);
        else
            cs->galg = GNUTLS_CIPHER_UNKNOWN; /* e.g. XTS with equal halves: nettle takes it */
    }
    if (cs->galg == GNUTLS_CIPHER_UNKNOWN) {
        memset(cs->gkey, 0, sizeof(cs->gkey));
        nkey_init(&cs->k1, spec->alg, key);
        if (spec->mode == CRYPTO_MODE_XTS)
            nkey_init(&cs->k2, spec->alg, key + half);
    }
    if (spec->ivgen == CRYPTO_IVGEN_ESSIV) {
        enum crypto_cipher_alg ealg;
        crypto_essiv_cipher(spec->alg, spec->ivgen_hash, &ealg, NULL);
        uint8_t salt[CRYPTO_HASH_MAX_DIGEST];
        crypto_hash2(spec->ivgen_hash, key, key_len, NULL, 0, salt);
        nkey_init(&cs->essiv, ealg, salt);
        memset(salt, 0, sizeof(salt));
    }
    *out = cs;
    return 0;
}

void crypto_sectors_free(struct crypto_sectors *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->pool_n; i++)
        gnutls_cipher_deinit(cs->pool[i]);
    free(cs->pool);
    pthread_mutex_destroy(&cs->pool_lock);
    nkey_free(&cs->k1);
    nkey_free(&cs->k2);
    nkey_free(&cs->essiv);
    memset(cs, 0, sizeof(*cs));
    free(cs);
}

static void make_iv(const struct crypto_sectors *cs, uint64_t sector, uint8_t *iv)
{
    memset(iv, 0, cs->niv);
    if (cs->spec.ivgen == CRYPTO_IVGEN_PLAIN)
        sector &= 0xffffffffu;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(sector >> (8 * i));
    size_t n = cs->spec.ivgen == CRYPTO_IVGEN_PLAIN ? 4 : 8;
    if (cs->spec.ivgen == CRYPTO_IVGEN_ESSIV) {
        /* The sector number, zero-padded to a block, encrypted; the
         * ESSIV cipher's block may differ from the IV length. */
        uint8_t blk[16] = {0};
        memcpy(blk, le, 8);
        cs->essiv.encf(cs->essiv.enc, 16, blk, blk);
        memcpy(iv, blk, cs->niv < 16 ? cs->niv : 16);
        return;
    }
    memcpy(iv, le, n < cs->niv ? n : cs->niv);
}

static int nettle_sector(const struct crypto_sectors *cs, const uint8_t *iv, uint8_t *p,
                         bool encrypt)
{
    uint8_t chain[16];
    const size_t len = CRYPTO_SECTOR_SIZE;
    switch (cs->spec.mode) {
    case CRYPTO_MODE_ECB:
        (encrypt ? cs->k1.encf : cs->k1.decf)(encrypt ? cs->k1.enc : cs->k1.dec, len, p, p);
        break;
    case CRYPTO_MODE_CBC:
        memcpy(chain, iv, cs->block);
        if (encrypt)
            cbc_encrypt(cs->k1.enc, cs->k1.encf, cs->block, chain, len, p, p);
        else
            cbc_decrypt(cs->k1.dec, cs->k1.decf, cs->block, chain, len, p, p);
        break;
    case CRYPTO_MODE_XTS:
        if (encrypt)
            xts_encrypt_message(cs->k1.enc, cs->k2.enc, cs->k1.encf, iv, len, p, p);
        else
            xts_decrypt_message(cs->k1.dec, cs->k2.enc, cs->k1.decf, cs->k2.encf, iv, len, p, p);
        break;
    case CRYPTO_MODE_CTR:
        memcpy(chain, iv, cs->block);
        ctr_crypt(cs->k1.enc, cs->k1.encf, cs->block, chain, len, p, p);
        break;
    default:
        return -EINVAL;
    }
    return 0;
}

static int run(struct crypto_sectors *cs, uint64_t sector, void *buf, size_t len, bool encrypt,
               struct verr *err)
{
    if (len % CRYPTO_SECTOR_SIZE)
        return verr_set(err, EINVAL, "encrypted I/O of %zu bytes is not a whole number of sectors",
                        len);
    uint8_t *p = buf, iv[16];
    if (cs->galg == GNUTLS_CIPHER_UNKNOWN) {
        for (size_t off = 0; off < len; off += CRYPTO_SECTOR_SIZE, sector++) {
            make_iv(cs, sector, iv);
            nettle_sector(cs, iv, p + off, encrypt);
        }
        return 0;
    }
    gnutls_cipher_hd_t h = pool_get(cs);
    if (!h)
        return verr_set(err, ENOMEM, "could not set up the %s-%s cipher",
                        crypto_cipher_alg_name(cs->spec.alg),
                        crypto_cipher_mode_name(cs->spec.mode));
    int r = 0;
    for (size_t off = 0; r == 0 && off < len; off += CRYPTO_SECTOR_SIZE, sector++) {
        make_iv(cs, sector, iv);
        gnutls_cipher_set_iv(h, iv, cs->niv);
        int g = encrypt ? gnutls_cipher_encrypt2(h, p + off, CRYPTO_SECTOR_SIZE, p + off,
                                                 CRYPTO_SECTOR_SIZE)
                        : gnutls_cipher_decrypt2(h, p + off, CRYPTO_SECTOR_SIZE, p + off,
                                                 CRYPTO_SECTOR_SIZE);
        if (g < 0)
            r = verr_set(err, EIO, "%s failed: %s", encrypt ? "encryption" : "decryption",
                         gnutls_strerror(g));
    }
    pool_put(cs, h);
    return r;
}

int crypto_sectors_encrypt(struct crypto_sectors *cs, uint64_t sector, void *buf, size_t len,
                           struct verr *err)
{
    return run(cs, sector, buf, len, true, err);
}

int crypto_sectors_decrypt(struct crypto_sectors *cs, uint64_t sector, void *buf, size_t len,
                           struct verr *err)
{
    return run(cs, sector, buf, len, false, err);
}
