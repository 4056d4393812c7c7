/*
 * test-crypto.c - unit tests of the encryption glue and of the LUKS header.
 *
 * Known answers from the standards (PBKDF2: RFC 6070 and RFC 7914; XTS-AES:
 * IEEE 1619's vectors; SHA-256 of "abc"), so a wrong wiring of the
 * libraries (key halves swapped, IV byte order, HMAC key) fails here; the
 * anti-forensic splitter and a whole LUKS volume round-trip in memory;
 * secret objects parse as QEMU parses them; hostile LUKS headers are refused
 * with one message each.
 */
#include "../tap.h"
#include "block/crypto.h"
#include "block/encrypt.h"
#include "block/luks-header.h"
#include "block/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void known_answers(void)
{
    uint8_t out[64];
    char h[129];
    crypto_hash2(CRYPTO_HASH_SHA256, "abc", 3, NULL, 0, out);
    hex(out, 32, h);
    is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
    crypto_hash2(CRYPTO_HASH_SHA256, "a", 1, "bc", 2, out);
    hex(out, 32, h);
    is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 over two parts");

    crypto_pbkdf2(CRYPTO_HASH_SHA1, "password", 8, (const uint8_t *)"salt", 4, 1, out, 20);
    hex(out, 20, h);
    is_str(h, "0c60c80f961f0e71f3a9b524af6012062fe037a6", "PBKDF2-SHA1 c=1 (RFC 6070)");
    crypto_pbkdf2(CRYPTO_HASH_SHA1, "password", 8, (const uint8_t *)"salt", 4, 4096, out, 20);
    hex(out, 20, h);
    is_str(h, "4b007901b765489abead49d926f721d065a429c1", "PBKDF2-SHA1 c=4096 (RFC 6070)");
    crypto_pbkdf2(CRYPTO_HASH_SHA256, "passwd", 6, (const uint8_t *)"salt", 4, 1, out, 64);
    hex(out, 64, h);
    is_str(h,
           "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664"
           "b39d77ef317c71b845b1e30bd509112041d3a19783",
           "PBKDF2-SHA256 c=1 dkLen=64 (RFC 7914)");

    /* IEEE 1619 XTS-AES-128 vector 2: key1 = 0x11.., key2 = 0x22..,
     * data unit 0x3333333333, plaintext 0x44... */
    uint8_t key[32];
    memset(key, 0x11, 16);
    memset(key + 16, 0x22, 16);
    struct crypto_sector_spec spec = {CRYPTO_AES_128, CRYPTO_MODE_XTS, CRYPTO_IVGEN_PLAIN64,
                                      CRYPTO_HASH_SHA256};
    struct crypto_sectors *cs;
    struct verr err;
    ok(crypto_sectors_new(&spec, key, 32, &cs, &err) == 0, "aes-128-xts-plain64 keyed");
    uint8_t sector[512];
    memset(sector, 0x44, sizeof(sector));
    crypto_sectors_encrypt(cs, 0x3333333333ull, sector, sizeof(sector), NULL);
    hex(sector, 32, h);
    is_str(h, "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0",
           "XTS-AES-128 vector 2 (IEEE 1619)");
    crypto_sectors_decrypt(cs, 0x3333333333ull, sector, sizeof(sector), NULL);
    ok(sector[0] == 0x44 && sector[511] == 0x44, "and back");
    crypto_sectors_free(cs);

    /* Every cipher, mode and IV generator combination round-trips, and a
     * different sector number gives different ciphertext (except ECB). */
    int combos = 0, good = 0;
    for (int a = 0; a < CRYPTO_CIPHER__MAX; a++) {
        for (int m = 0; m < CRYPTO_MODE__MAX; m++) {
            for (int iv = 0; iv < CRYPTO_IVGEN__MAX; iv++) {
                struct crypto_sector_spec s = {(enum crypto_cipher_alg)a,
                                               (enum crypto_cipher_mode)m, (enum crypto_ivgen)iv,
                                               CRYPTO_HASH_SHA256};
                size_t kl;
                if (crypto_sector_spec_check(&s, &kl, NULL) < 0)
                    continue;
                combos++;
                uint8_t k[64], p1[1024], p2[1024], ref[1024];
                for (size_t i = 0; i < sizeof(k); i++)
                    k[i] = (uint8_t)(i * 7 + 1);
                for (size_t i = 0; i < sizeof(ref); i++)
                    ref[i] = (uint8_t)(i * 13);
                memcpy(p1, ref, sizeof(ref));
                memcpy(p2, ref, sizeof(ref));
                if (crypto_sectors_new(&s, k, kl, &cs, NULL) < 0)
                    continue;
                crypto_sectors_encrypt(cs, 7, p1, sizeof(p1), NULL);
                crypto_sectors_encrypt(cs, 9, p2, sizeof(p2), NULL);
                bool differ = memcmp(p1, ref, sizeof(ref)) != 0 &&
                              (m == CRYPTO_MODE_ECB || memcmp(p1, p2, 512) != 0);
                crypto_sectors_decrypt(cs, 7, p1, sizeof(p1), NULL);
                if (differ && memcmp(p1, ref, sizeof(ref)) == 0)
                    good++;
                crypto_sectors_free(cs);
            }
        }
    }
    ok(combos > 60 && good == combos, "%d of %d cipher/mode/ivgen combinations round-trip", good,
       combos);
    ok(crypto_sector_spec_check(&(struct crypto_sector_spec){CRYPTO_CAST5_128, CRYPTO_MODE_XTS,
                                                             CRYPTO_IVGEN_PLAIN64,
                                                             CRYPTO_HASH_SHA256},
                                NULL, NULL) < 0,
       "cast5 (8-byte blocks) is refused with XTS");
    verr_clear(&err);
    ok(crypto_sector_spec_check(&(struct crypto_sector_spec){CRYPTO_AES_128, CRYPTO_MODE_CBC,
                                                             CRYPTO_IVGEN_ESSIV,
                                                             CRYPTO_HASH_SHA512},
                                NULL, &err) < 0,
       "essiv with a 64-byte digest has no AES key size");
    is_str(verr_msg(&err), "No AES cipher with key size 64 available", "QEMU's message");
}

static void afsplit(void)
{
    uint8_t key[64], back[64], *split = malloc(64 * 4000);
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)(200 - i);
    ok(crypto_afsplit_encode(CRYPTO_HASH_SHA256, 64, 4000, key, split, NULL) == 0, "split");
    crypto_afsplit_decode(CRYPTO_HASH_SHA256, 64, 4000, split, back);
    ok(memcmp(key, back, 64) == 0, "4000 stripes merge back to the key");
    split[1234] ^= 1;
    crypto_afsplit_decode(CRYPTO_HASH_SHA256, 64, 4000, split, back);
    ok(memcmp(key, back, 64) != 0, "one flipped bit anywhere spoils the key");
    crypto_afsplit_encode(CRYPTO_HASH_SHA1, 20, 3, key, split, NULL); /* short last piece */
    crypto_afsplit_decode(CRYPTO_HASH_SHA1, 20, 3, split, back);
    ok(memcmp(key, back, 20) == 0, "sha1 split with a partial digest block");
    free(split);
}

static void secrets(void)
{
    struct secret_store st = {0};
    struct verr err;
    const char *pass;
    size_t plen;
    ok(secret_store_add_object(&st, "secret,id=sec0,data=abc,,def", NULL) == 0, "data=");
    ok(secret_lookup_passphrase(&st, "sec0", &pass, &plen, NULL) == 0 && plen == 7 &&
           strcmp(pass, "abc,def") == 0,
       "',,' is a literal comma");
    ok(secret_store_add_object(&st, "qom-type=secret,id=b,data=cGFzcw==,format=base64", NULL) ==
               0 &&
           secret_lookup_passphrase(&st, "b", &pass, &plen, NULL) == 0 && strcmp(pass, "pass") == 0,
       "format=base64 decodes");
    static const struct {
        const char *opt, *msg;
    } bad[] = {
        {"secret,id=s", "Either 'file' or 'data' must be provided"},
        {"secret,data=x", "Parameter 'id' is missing"},
        {"foo,id=x,data=y", "Parameter 'qom-type' does not accept value 'foo'"},
        {"secret,id=s,data=x,file=/etc/hostname", "'file' and 'data' are mutually exclusive"},
        {"secret,id=s,data=!!,format=base64", "Base64 data contains invalid characters"},
        {"secret,id=s,data=x,format=hex", "Parameter 'format' does not accept value 'hex'"},
        {"secret,id=s,data=x,bogus=1", "Parameter 'bogus' is unexpected"},
        {"secret,id=s,data=x,keyid=k", "No secret with id 'k'"},
        {"secret,id=sec0,data=x",
         "attempt to add duplicate property 'sec0' to object (type 'container')"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        verr_clear(&err);
        ok(secret_store_add_object(&st, bad[i].opt, &err) < 0, "refused: %s", bad[i].opt);
        is_str(verr_msg(&err), bad[i].msg, "message for %s", bad[i].opt);
    }
    /* keyid=: AES-256-CBC under a 32-byte key secret, PKCS#7 padding.
     * Ciphertext made with: printf pass | openssl enc -aes-256-cbc -K
     * 00..1f -iv 00..0f | base64 */
    ok(secret_store_add_object(
           &st,
           "secret,id=mk,format=base64,data=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
           "GxwdHh8=",
           NULL) == 0,
       "a 32-byte master key");
    verr_clear(&err);
    int r = secret_store_add_object(&st,
                                    "secret,id=enc,keyid=mk,iv=AAECAwQFBgcICQoLDA0ODw==,format="
                                    "base64,data=39UGYE+6JbqMs9PILjIYnA==",
                                    &err);
    ok(r == 0, "keyid= decrypts (%s)", r ? verr_msg(&err) : "ok");
    ok(r == 0 && secret_lookup_passphrase(&st, "enc", &pass, &plen, NULL) == 0 &&
           strcmp(pass, "pass") == 0,
       "to the plaintext");
    verr_clear(&err);
    ok(secret_lookup(&st, "nope", &(const uint8_t *){0}, &plen, &err) == -ENOENT, "lookup");
    is_str(verr_msg(&err), "No secret with id 'nope'", "QEMU's message");
    secret_store_clear(&st);
}

/* A LUKS container in memory. */
struct mem {
    uint8_t *buf;
    size_t len;
};

static int mem_read(void *o, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct mem *m = o;
    if (off > m->len || len > m->len - off)
        return verr_set(err, EIO, "read past the end");
    memcpy(buf, m->buf + off, len);
    return 0;
}

static int mem_write(void *o, const void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct mem *m = o;
    if (off > m->len || len > m->len - off)
        return verr_set(err, EIO, "write past the end");
    memcpy(m->buf + off, buf, len);
    return 0;
}

static void luks_volume(void)
{
    struct mem m = {calloc(1, 2 << 20), 2 << 20};
    struct luks_io io = {&m, mem_read, mem_write, m.len};
    struct secret_store st = {0};
    secret_store_add(&st, "a", "first", 5, NULL);
    secret_store_add(&st, "b", "second", 6, NULL);
    struct block_encrypt_opts o = {.key_secret = "a", .has_iter_time = true, .iter_time = 1};
    struct encrypt_luks v, w;
    struct verr err;
    int r = encrypt_luks_create(&v, &io, &o, &st, "", &err);
    ok(r == 0, "format a volume (%s)", r ? verr_msg(&err) : "ok");
    is_int(v.h.payload_offset, 4040, "payload after 8 slots of 504 sectors, as qemu-img");
    is_int(v.h.slots[1].key_offset, 8 + 504, "slot 1's material offset");
    is_str(v.h.cipher_mode, "xts-plain64", "default mode string");
    uint8_t data[1024], back[1024];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    memcpy(back, data, sizeof(data));
    encrypt_luks_encrypt(&v, 3, back, sizeof(back), NULL);

    struct block_keys keys = {&st, "a", NULL};
    r = encrypt_luks_open(&w, &io, &keys, false, "", &err);
    ok(r == 0, "reopen with the passphrase (%s)", r ? verr_msg(&err) : "ok");
    ok(memcmp(w.master, v.master, v.h.key_bytes) == 0, "same master key");
    encrypt_luks_decrypt(&w, 3, back, sizeof(back), NULL);
    ok(memcmp(back, data, sizeof(data)) == 0, "data decrypts");
    encrypt_luks_close(&w);

    keys.key_secret = "b";
    verr_clear(&err);
    ok(encrypt_luks_open(&w, &io, &keys, false, "", &err) == -EACCES, "wrong passphrase refused");
    is_str(verr_msg(&err), "Invalid password, cannot unlock any keyslot", "QEMU's message");
    keys.key_secret = NULL;
    verr_clear(&err);
    ok(encrypt_luks_open(&w, &io, &keys, false, "encrypt.", &err) < 0, "no key-secret");
    is_str(verr_msg(&err), "Parameter 'encrypt.key-secret' is required for cipher",
           "QEMU's message");
    ok(encrypt_luks_open(&w, &io, &keys, true, "", NULL) == 0 && !w.have_key,
       "metadata-only open needs no key");
    encrypt_luks_close(&w);

    /* Key slots: add "b" to slot 3, erase "a", open with "b". */
    struct block_keyslot_change add = {
        .activate = true, .keyslot = 3, .new_secret = "b", .has_iter_time = true, .iter_time = 1};
    ok(encrypt_luks_amend(&v, &add, NULL) == 0 && luks_active_slots(&v.h) == 2, "slot 3 added");
    verr_clear(&err);
    ok(encrypt_luks_amend(&v, &add, &err) < 0, "an active slot is not overwritten");
    is_str(verr_msg(&err), "Refusing to overwrite active keyslot 3 - please erase it first",
           "QEMU's message");
    struct block_keyslot_change del = {.activate = false, .keyslot = -1, .old_secret = "a"};
    ok(encrypt_luks_amend(&v, &del, NULL) == 0 && luks_active_slots(&v.h) == 1 &&
           v.h.slots[0].active == LUKS_SLOT_INACTIVE,
       "slot 0 erased by its passphrase");
    struct block_keyslot_change last = {.activate = false, .keyslot = 3};
    verr_clear(&err);
    ok(encrypt_luks_amend(&v, &last, &err) < 0, "the last slot is kept");
    is_str(verr_msg(&err),
           "Attempt to erase the only active keyslot 3 which will erase all the data in the image "
           "irreversibly - refusing operation",
           "QEMU's message");
    keys.key_secret = "b";
    ok(encrypt_luks_open(&w, &io, &keys, false, "", NULL) == 0 &&
           memcmp(w.master, v.master, v.h.key_bytes) == 0,
       "the new passphrase opens the same key");
    encrypt_luks_close(&w);
    keys.key_secret = "a";
    ok(encrypt_luks_open(&w, &io, &keys, false, "", NULL) == -EACCES,
       "the erased one no longer does");
    encrypt_luks_close(&v);

    /* Hostile headers: each refused with one message, never a crash. */
    uint8_t hdr[LUKS_HEADER_SIZE], bad[LUKS_HEADER_SIZE];
    memcpy(hdr, m.buf, sizeof(hdr));
    struct luks_header h;
    ok(luks_header_decode(hdr, sizeof(hdr), m.len, &h, NULL) == 0, "the header decodes");
    static const struct {
        size_t off;
        uint8_t val;
        const char *msg;
    } cases[] = {
        {0, 'X', "Volume is not in LUKS format"},
        {7, 2, "LUKS version 2 is not supported"},
        {208 + 44, 0, NULL},        /* stripes of slot 0: high byte */
        {208 + 48 + 3, 0x77, NULL}, /* slot 1's state */
        {40, 'q', NULL},            /* mode "qts-..." */
        {106, 0, "Keyslot 0 is overlapping with the encrypted payload"}, /* payload at 200 */
        {108 + 3, 17, NULL},                                             /* key bytes */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, hdr, sizeof(bad));
        bad[cases[i].off] = cases[i].val;
        if (cases[i].off == 208 + 44) /* stripes = 0 */
            memset(bad + 208 + 44, 0, 4);
        verr_clear(&err);
        r = luks_header_decode(bad, sizeof(bad), m.len, &h, &err);
        ok(r < 0, "bad header %zu refused: %s", i, verr_msg(&err));
        if (cases[i].msg)
            is_str(verr_msg(&err), cases[i].msg, "message %zu", i);
    }
    verr_clear(&err);
    ok(luks_header_decode(hdr, sizeof(hdr), 4096, &h, &err) < 0,
       "key material past the end of a short container: %s", verr_msg(&err));
    secret_store_clear(&st);
    free(m.buf);
}

int main(void)
{
    known_answers();
    afsplit();
    secrets();
    luks_volume();
    return tap_done();
}
