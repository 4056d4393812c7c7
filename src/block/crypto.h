/*
 * crypto.h - the cryptographic primitives disk encryption needs, from
 * maintained libraries: block ciphers in the modes LUKS uses, IV generators,
 * hashes, PBKDF2, the LUKS anti-forensic splitter and random bytes.
 *
 * Nothing here is hand-written cryptography. Two libraries do the work:
 * GnuTLS (libgnutls28-dev) for AES in XTS and CBC mode, because its
 * AES-NI/VAES code is several times faster than the generic modes and those
 * are the ciphers real images use; nettle (nettle-dev, which GnuTLS itself
 * is built on) for every other cipher and mode LUKS allows (Serpent,
 * Twofish, CAST5, ECB, CTR, AES-192-XTS), for the hashes and HMAC-PBKDF2,
 * and for the single-block ESSIV cipher. The anti-forensic splitter (LUKS1
 * specification, section "AF-Splitter") is only XOR and the hash, composed
 * here. Random bytes come from the kernel (getrandom).
 *
 * Names are QEMU's (qapi/crypto.json): "aes-256", "xts", "plain64",
 * "sha256", so that option values and `info` output read as qemu-img's.
 */
#ifndef VIREO_BLOCK_CRYPTO_H
#define VIREO_BLOCK_CRYPTO_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum crypto_cipher_alg {
    CRYPTO_AES_128,
    CRYPTO_AES_192,
    CRYPTO_AES_256,
    CRYPTO_CAST5_128,
    CRYPTO_SERPENT_128,
    CRYPTO_SERPENT_192,
    CRYPTO_SERPENT_256,
    CRYPTO_TWOFISH_128,
    CRYPTO_TWOFISH_192,
    CRYPTO_TWOFISH_256,
    CRYPTO_CIPHER__MAX,
};

enum crypto_cipher_mode {
    CRYPTO_MODE_ECB,
    CRYPTO_MODE_CBC,
    CRYPTO_MODE_XTS,
    CRYPTO_MODE_CTR,
    CRYPTO_MODE__MAX,
};

enum crypto_ivgen {
    CRYPTO_IVGEN_PLAIN,
    CRYPTO_IVGEN_PLAIN64,
    CRYPTO_IVGEN_ESSIV,
    CRYPTO_IVGEN__MAX,
};

enum crypto_hash {
    CRYPTO_HASH_MD5,
    CRYPTO_HASH_SHA1,
    CRYPTO_HASH_SHA224,
    CRYPTO_HASH_SHA256,
    CRYPTO_HASH_SHA384,
    CRYPTO_HASH_SHA512,
    CRYPTO_HASH_RIPEMD160,
    CRYPTO_HASH__MAX,
};

#define CRYPTO_HASH_MAX_DIGEST 64
#define CRYPTO_MAX_KEY         64 /* XTS with a 256-bit cipher: two 32-byte keys */
#define CRYPTO_SECTOR_SIZE     512

/* Name <-> value, QEMU's spelling. parse returns 0 or -EINVAL. */
int crypto_cipher_alg_parse(const char *name, enum crypto_cipher_alg *out);
const char *crypto_cipher_alg_name(enum crypto_cipher_alg alg);
int crypto_cipher_mode_parse(const char *name, enum crypto_cipher_mode *out);
const char *crypto_cipher_mode_name(enum crypto_cipher_mode mode);
int crypto_ivgen_parse(const char *name, enum crypto_ivgen *out);
const char *crypto_ivgen_name(enum crypto_ivgen ivgen);
int crypto_hash_parse(const char *name, enum crypto_hash *out);
const char *crypto_hash_name(enum crypto_hash hash);

/* Key length of one cipher key (without XTS's doubling) and block length. */
size_t crypto_cipher_key_len(enum crypto_cipher_alg alg);
size_t crypto_cipher_block_len(enum crypto_cipher_alg alg);
size_t crypto_hash_digest_len(enum crypto_hash hash);

/* digest = HASH(a || b) (b may be NULL). */
void crypto_hash2(enum crypto_hash hash, const void *a, size_t alen, const void *b, size_t blen,
                  uint8_t *digest);

/* PBKDF2 with HMAC-HASH (RFC 8018). */
void crypto_pbkdf2(enum crypto_hash hash, const void *pass, size_t plen, const uint8_t *salt,
                   size_t slen, uint32_t iterations, uint8_t *out, size_t olen);
/* How many PBKDF2 iterations this thread computes per second (CPU time), for
 * a key of outlen bytes; at least 1. Used to turn iter-time into a count. */
uint64_t crypto_pbkdf2_iters_per_second(enum crypto_hash hash, size_t outlen);

/* Fills buf from the kernel's random source. */
int crypto_random(void *buf, size_t len, struct verr *err);

/* Strict base64 (the standard alphabet, '=' padding, nothing else) into a
 * malloc'd buffer (NUL-terminated for convenience). QEMU's messages. */
int crypto_base64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen,
                         struct verr *err);
/* AES-256-CBC decryption in place (len a multiple of 16): secrets that
 * libvirt hands over encrypted under a master key. */
void crypto_aes256_cbc_decrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len);

/* The LUKS1 anti-forensic splitter: `stripes` blocks of blocklen bytes hold
 * one block of key material. encode draws random bytes. */
int crypto_afsplit_encode(enum crypto_hash hash, size_t blocklen, uint32_t stripes,
                          const uint8_t *in, uint8_t *out, struct verr *err);
void crypto_afsplit_decode(enum crypto_hash hash, size_t blocklen, uint32_t stripes,
                           const uint8_t *in, uint8_t *out);

/*
 * A sector cipher: cipher + mode + IV generator under one key, encrypting
 * whole 512-byte sectors in place, sector n's IV made from n. Safe to use
 * from many threads at once (each call takes its own library context).
 */
struct crypto_sectors;

struct crypto_sector_spec {
    enum crypto_cipher_alg alg;
    enum crypto_cipher_mode mode;
    enum crypto_ivgen ivgen;
    enum crypto_hash ivgen_hash; /* ESSIV only */
};

/* The cipher ESSIV runs with for alg and hash (dm-crypt's rule: the same
 * family, with a key as long as the digest). -ENOTSUP with a message. */
int crypto_essiv_cipher(enum crypto_cipher_alg alg, enum crypto_hash hash,
                        enum crypto_cipher_alg *out, struct verr *err);
/* Checks that the combination can run (XTS needs 16-byte blocks, ESSIV a
 * matching cipher) and gives the key length it takes. */
int crypto_sector_spec_check(const struct crypto_sector_spec *spec, size_t *key_len,
                             struct verr *err);
int crypto_sectors_new(const struct crypto_sector_spec *spec, const uint8_t *key, size_t key_len,
                       struct crypto_sectors **out, struct verr *err);
void crypto_sectors_free(struct crypto_sectors *cs);
/* len is a multiple of 512; the first sector is number `sector`. */
int crypto_sectors_encrypt(struct crypto_sectors *cs, uint64_t sector, void *buf, size_t len,
                           struct verr *err);
int crypto_sectors_decrypt(struct crypto_sectors *cs, uint64_t sector, void *buf, size_t len,
                           struct verr *err);

#endif
