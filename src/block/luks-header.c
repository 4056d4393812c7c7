/*
 * luks-header.c - the LUKS1 header and its key slots (see luks-header.h).
 *
 * On disk (big-endian, 592 bytes): magic "LUKS\xba\xbe", version, cipher
 * name, cipher mode ("MODE-IVGEN[:IVHASH]"), hash, payload offset and key
 * length, the master key digest (PBKDF2 of the master key), the UUID and
 * eight key slots. A slot holds the master key split into `stripes` pieces
 * by the anti-forensic splitter and encrypted, sector by sector, with the
 * volume's cipher under a key PBKDF2 derives from the passphrase.
 *
 * Unlocking a slot: derive the slot key, decrypt the material, merge the
 * stripes, and accept the result only when its PBKDF2 digest matches the
 * header's; a wrong passphrase never yields a key, so it can never produce
 * a garbage copy of the data.
 */
#include "block/luks-header.h"
#include "util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};

#define SECTOR         512u
#define HEADER_SECTORS (LUKS_KEY_SLOT_OFFSET / SECTOR)
#define MAX_STRIPES    (1u << 20) /* qemu-img and cryptsetup write 4000 */
#define ERASE_PASSES   40         /* qemu-img overwrites an erased slot this often */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool luks_header_probe(const uint8_t *buf, size_t len)
{
    return len >= 8 && memcmp(buf, magic, 6) == 0 && buf[6] == 0 && buf[7] == 1;
}

uint64_t luks_slot_material_bytes(const struct luks_header *h, uint32_t stripes)
{
    /* Sectors for key_bytes * stripes, then rounded to the header's size in
     * sectors (cryptsetup's rule, which qemu-img follows). */
    uint64_t sectors = ((uint64_t)h->key_bytes * stripes + SECTOR - 1) / SECTOR;
    sectors = (sectors + HEADER_SECTORS - 1) / HEADER_SECTORS * HEADER_SECTORS;
    return sectors * SECTOR;
}

unsigned luks_active_slots(const struct luks_header *h)
{
    unsigned n = 0;
    for (int i = 0; i < LUKS_SLOTS; i++)
        n += h->slots[i].active == LUKS_SLOT_ACTIVE;
    return n;
}

/* A fixed 32-byte string field: up to its NUL; all 32 bytes when none. */
static void field(char *dst, const uint8_t *src)
{
    memcpy(dst, src, 32);
    dst[32] = 0;
}

/* The cipher's LUKS name and key length (XTS halves it) -> algorithm. */
static int cipher_lookup(const char *name, enum crypto_cipher_mode mode, uint32_t key_bytes,
                         enum crypto_cipher_alg *out, struct verr *err)
{
    static const struct {
        const char *name;
        enum crypto_cipher_alg first; /* 128-bit member; others follow */
        int sizes;
    } families[] = {
        {"aes", CRYPTO_AES_128, 3},
        {"cast5", CRYPTO_CAST5_128, 1},
        {"serpent", CRYPTO_SERPENT_128, 3},
        {"twofish", CRYPTO_TWOFISH_128, 3},
    };
    uint32_t kb = mode == CRYPTO_MODE_XTS ? key_bytes / 2 : key_bytes;
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strcmp(families[i].name, name) != 0)
            continue;
        for (int j = 0; j < families[i].sizes; j++) {
            enum crypto_cipher_alg a = (enum crypto_cipher_alg)(families[i].first + j);
            if (crypto_cipher_key_len(a) == kb && (mode != CRYPTO_MODE_XTS || key_bytes % 2 == 0)) {
                *out = a;
                return 0;
            }
        }
    }
    return verr_set(err, ENOTSUP, "Algorithm %s with key size %u bytes not supported", name, kb);
}

/* The family name LUKS headers use for alg ("aes", "serpent", ...). */
static const char *cipher_family(enum crypto_cipher_alg alg)
{
    switch (alg) {
    case CRYPTO_AES_128:
    case CRYPTO_AES_192:
    case CRYPTO_AES_256:
        return "aes";
    case CRYPTO_CAST5_128:
        return "cast5";
    case CRYPTO_SERPENT_128:
    case CRYPTO_SERPENT_192:
    case CRYPTO_SERPENT_256:
        return "serpent";
    default:
        return "twofish";
    }
}

static int parse_strings(struct luks_header *h, struct verr *err)
{
    char mode[33];
    memcpy(mode, h->cipher_mode, sizeof(mode));
    char *ivgen = strchr(mode, '-');
    if (!ivgen)
        return verr_set(err, EINVAL, "Unexpected cipher mode string format %s", h->cipher_mode);
    *ivgen++ = 0;
    char *ivhash = strchr(ivgen, ':');
    h->spec.ivgen_hash = CRYPTO_HASH_SHA256;
    if (ivhash) {
        *ivhash++ = 0;
        if (crypto_hash_parse(ivhash, &h->spec.ivgen_hash) < 0)
            return verr_set(err, ENOTSUP, "Hash algorithm %s not supported", ivhash);
    }
    if (crypto_cipher_mode_parse(mode, &h->spec.mode) < 0)
        return verr_set(err, ENOTSUP, "Cipher mode %s not supported", mode);
    int r = cipher_lookup(h->cipher_name, h->spec.mode, h->key_bytes, &h->spec.alg, err);
    if (r < 0)
        return r;
    if (crypto_hash_parse(h->hash_spec, &h->hash) < 0)
        return verr_set(err, ENOTSUP, "Hash algorithm %s not supported", h->hash_spec);
    if (crypto_ivgen_parse(ivgen, &h->spec.ivgen) < 0)
        return verr_set(err, ENOTSUP, "IV generator %s not supported", ivgen);
    if (h->spec.ivgen == CRYPTO_IVGEN_ESSIV && !ivhash)
        return verr_set(err, EINVAL, "Missing IV generator hash specification");
    size_t kl;
    r = crypto_sector_spec_check(&h->spec, &kl, err);
    if (r < 0)
        return r;
    if (kl != h->key_bytes)
        return verr_set(err, EINVAL, "key length %u does not suit cipher %s-%s", h->key_bytes,
                        crypto_cipher_alg_name(h->spec.alg), crypto_cipher_mode_name(h->spec.mode));
    return 0;
}

int luks_header_decode(const uint8_t *buf, size_t len, uint64_t container_len,
                       struct luks_header *h, struct verr *err)
{
    memset(h, 0, sizeof(*h));
    if (len < LUKS_HEADER_SIZE || memcmp(buf, magic, 6) != 0)
        return verr_set(err, EINVAL, "Volume is not in LUKS format");
    h->version = (uint16_t)(buf[6] << 8 | buf[7]);
    if (h->version != 1)
        return verr_set(err, ENOTSUP, "LUKS version %u is not supported", h->version);
    field(h->cipher_name, buf + 8);
    field(h->cipher_mode, buf + 40);
    field(h->hash_spec, buf + 72);
    h->payload_offset = be32(buf + 104);
    h->key_bytes = be32(buf + 108);
    memcpy(h->mk_digest, buf + 112, LUKS_DIGEST_LEN);
    memcpy(h->mk_salt, buf + 132, LUKS_SALT_LEN);
    h->mk_iterations = be32(buf + 164);
    memcpy(h->uuid, buf + 168, 40);
    h->uuid[40] = 0;
    for (int i = 0; i < LUKS_SLOTS; i++) {
        const uint8_t *s = buf + 208 + 48 * i;
        h->slots[i].active = be32(s);
        h->slots[i].iterations = be32(s + 4);
        memcpy(h->slots[i].salt, s + 8, LUKS_SALT_LEN);
        h->slots[i].key_offset = be32(s + 40);
        h->slots[i].stripes = be32(s + 44);
    }
    if (h->key_bytes == 0 || h->key_bytes > CRYPTO_MAX_KEY)
        return verr_set(err, EINVAL, "LUKS key length %u is invalid", h->key_bytes);
    /* Slots: a known state, sane stripes, material below the payload,
     * inside the container, and not overlapping another slot. */
    for (int i = 0; i < LUKS_SLOTS; i++) {
        const struct luks_slot *s = &h->slots[i];
        if (s->stripes == 0)
            return verr_set(err, EINVAL, "Keyslot %d is corrupted (stripes == 0)", i);
        if (s->stripes > MAX_STRIPES)
            return verr_set(err, EINVAL, "Keyslot %d is corrupted (%u stripes)", i, s->stripes);
        if (s->active != LUKS_SLOT_ACTIVE && s->active != LUKS_SLOT_INACTIVE)
            return verr_set(err, EINVAL, "Keyslot %d state (active/disable) is corrupted", i);
        uint64_t start = (uint64_t)s->key_offset * SECTOR;
        uint64_t end = start + luks_slot_material_bytes(h, s->stripes);
        if (end > (uint64_t)h->payload_offset * SECTOR)
            return verr_set(err, EINVAL, "Keyslot %d is overlapping with the encrypted payload", i);
        if (start < LUKS_HEADER_SIZE)
            return verr_set(err, EINVAL, "Keyslot %d is overlapping with the header", i);
        if (s->active == LUKS_SLOT_ACTIVE &&
            (uint64_t)h->key_bytes * s->stripes > container_len - start && container_len >= start)
            return verr_set(err, EINVAL, "Keyslot %d key material lies past the end of the image",
                            i);
        if (s->active == LUKS_SLOT_ACTIVE && container_len < start)
            return verr_set(err, EINVAL, "Keyslot %d key material lies past the end of the image",
                            i);
        if (s->active == LUKS_SLOT_ACTIVE && s->iterations == 0)
            return verr_set(err, EINVAL, "Keyslot %d is corrupted (no PBKDF2 iterations)", i);
        for (int j = i + 1; j < LUKS_SLOTS; j++) {
            uint64_t s2 = (uint64_t)h->slots[j].key_offset * SECTOR;
            uint64_t e2 = s2 + luks_slot_material_bytes(h, h->slots[j].stripes);
            if (start < e2 && s2 < end)
                return verr_set(err, EINVAL, "Keyslots %d and %d are overlapping in the header", i,
                                j);
        }
    }
    if (h->mk_iterations == 0)
        return verr_set(err, EINVAL, "LUKS master key digest has no PBKDF2 iterations");
    return parse_strings(h, err);
}

void luks_header_encode(const struct luks_header *h, uint8_t *buf)
{
    memset(buf, 0, LUKS_HEADER_SIZE);
    memcpy(buf, magic, 6);
    buf[6] = (uint8_t)(h->version >> 8);
    buf[7] = (uint8_t)h->version;
    memcpy(buf + 8, h->cipher_name, strnlen(h->cipher_name, 32));
    memcpy(buf + 40, h->cipher_mode, strnlen(h->cipher_mode, 32));
    memcpy(buf + 72, h->hash_spec, strnlen(h->hash_spec, 32));
    put32(buf + 104, h->payload_offset);
    put32(buf + 108, h->key_bytes);
    memcpy(buf + 112, h->mk_digest, LUKS_DIGEST_LEN);
    memcpy(buf + 132, h->mk_salt, LUKS_SALT_LEN);
    put32(buf + 164, h->mk_iterations);
    memcpy(buf + 168, h->uuid, strnlen(h->uuid, 40));
    for (int i = 0; i < LUKS_SLOTS; i++) {
        uint8_t *s = buf + 208 + 48 * i;
        put32(s, h->slots[i].active);
        put32(s + 4, h->slots[i].iterations);
        memcpy(s + 8, h->slots[i].salt, LUKS_SALT_LEN);
        put32(s + 40, h->slots[i].key_offset);
        put32(s + 44, h->slots[i].stripes);
    }
}

bool luks_master_key_ok(const struct luks_header *h, const uint8_t *master)
{
    uint8_t digest[LUKS_DIGEST_LEN];
    crypto_pbkdf2(h->hash, master, h->key_bytes, h->mk_salt, LUKS_SALT_LEN, h->mk_iterations,
                  digest, sizeof(digest));
    bool ok = memcmp(digest, h->mk_digest, LUKS_DIGEST_LEN) == 0;
    memset(digest, 0, sizeof(digest));
    return ok;
}

static void wipe_free(void *p, size_t n)
{
    if (p) {
        memset(p, 0, n);
        free(p);
    }
}

int luks_try_slot(const struct luks_header *h, const struct luks_io *io, int slot, const char *pass,
                  size_t plen, uint8_t *master, struct verr *err)
{
    const struct luks_slot *s = &h->slots[slot];
    if (s->active != LUKS_SLOT_ACTIVE)
        return 0;
    size_t splitlen = (size_t)h->key_bytes * s->stripes;
    /* Whole sectors: the material is encrypted sector by sector. */
    size_t buflen = (splitlen + SECTOR - 1) / SECTOR * SECTOR;
    uint8_t *split = xcalloc(1, buflen);
    uint8_t slotkey[CRYPTO_MAX_KEY];
    struct crypto_sectors *cs = NULL;
    int r = io->read(io->opaque, split, splitlen, (uint64_t)s->key_offset * SECTOR, err);
    if (r == 0) {
        crypto_pbkdf2(h->hash, pass, plen, s->salt, LUKS_SALT_LEN, s->iterations, slotkey,
                      h->key_bytes);
        r = crypto_sectors_new(&h->spec, slotkey, h->key_bytes, &cs, err);
    }
    if (r == 0)
        r = crypto_sectors_decrypt(cs, 0, split, buflen, err);
    if (r == 0) {
        crypto_afsplit_decode(h->hash, h->key_bytes, s->stripes, split, master);
        r = luks_master_key_ok(h, master) ? 1 : 0;
        if (r == 0)
            memset(master, 0, h->key_bytes);
    }
    crypto_sectors_free(cs);
    memset(slotkey, 0, sizeof(slotkey));
    wipe_free(split, buflen);
    return r;
}

int luks_unlock(const struct luks_header *h, const struct luks_io *io, const char *pass,
                size_t plen, uint8_t *master, int *slot_out, struct verr *err)
{
    for (int i = 0; i < LUKS_SLOTS; i++) {
        int r = luks_try_slot(h, io, i, pass, plen, master, err);
        if (r < 0)
            return r;
        if (r == 1) {
            if (slot_out)
                *slot_out = i;
            return 0;
        }
    }
    return verr_set(err, EACCES, "Invalid password, cannot unlock any keyslot");
}

void luks_create_params_default(struct luks_create_params *p)
{
    memset(p, 0, sizeof(*p));
    p->spec.alg = CRYPTO_AES_256;
    p->spec.mode = CRYPTO_MODE_XTS;
    p->spec.ivgen = CRYPTO_IVGEN_PLAIN64;
    p->spec.ivgen_hash = CRYPTO_HASH_SHA256;
    p->hash = CRYPTO_HASH_SHA256;
    p->iter_time_ms = LUKS_DEFAULT_ITER_TIME;
}

/* Header fields from the parameters (no keys, no slots yet). */
static int header_init(struct luks_header *h, const struct luks_create_params *p, struct verr *err)
{
    memset(h, 0, sizeof(*h));
    size_t kl;
    int r = crypto_sector_spec_check(&p->spec, &kl, err);
    if (r < 0)
        return r;
    h->version = 1;
    h->spec = p->spec;
    h->hash = p->hash;
    h->key_bytes = (uint32_t)kl;
    snprintf(h->cipher_name, sizeof(h->cipher_name), "%s", cipher_family(p->spec.alg));
    bool with_hash = p->ivgen_hash_given || p->spec.ivgen == CRYPTO_IVGEN_ESSIV;
    snprintf(h->cipher_mode, sizeof(h->cipher_mode), "%s-%s%s%s",
             crypto_cipher_mode_name(p->spec.mode), crypto_ivgen_name(p->spec.ivgen),
             with_hash ? ":" : "", with_hash ? crypto_hash_name(p->spec.ivgen_hash) : "");
    snprintf(h->hash_spec, sizeof(h->hash_spec), "%s", crypto_hash_name(p->hash));
    uint64_t material = luks_slot_material_bytes(h, LUKS_STRIPES) / SECTOR;
    for (int i = 0; i < LUKS_SLOTS; i++) {
        h->slots[i].active = LUKS_SLOT_INACTIVE;
        h->slots[i].stripes = LUKS_STRIPES;
        h->slots[i].key_offset = (uint32_t)(HEADER_SECTORS + (uint64_t)i * material);
    }
    h->payload_offset = (uint32_t)(HEADER_SECTORS + LUKS_SLOTS * material);
    return 0;
}

int luks_format_size(const struct luks_create_params *p, uint64_t *size, struct verr *err)
{
    struct luks_header h;
    int r = header_init(&h, p, err);
    if (r == 0)
        *size = (uint64_t)h.payload_offset * SECTOR;
    return r;
}

/* iter_time ms worth of PBKDF2 at this machine's measured rate. */
static int scaled_iterations(enum crypto_hash hash, size_t outlen, uint64_t iter_time_ms,
                             uint64_t divisor, uint32_t *out, struct verr *err)
{
    uint64_t rate = crypto_pbkdf2_iters_per_second(hash, outlen);
    if (iter_time_ms && rate > UINT64_MAX / iter_time_ms)
        return verr_set(err, ERANGE, "PBKDF iterations %llu too large to scale",
                        (unsigned long long)rate);
    uint64_t iters = rate * iter_time_ms / 1000 / divisor;
    if (iters > UINT32_MAX)
        return verr_set(err, ERANGE, "PBKDF iterations %llu larger than %u",
                        (unsigned long long)iters, UINT32_MAX);
    *out = iters < LUKS_MIN_ITERS ? LUKS_MIN_ITERS : (uint32_t)iters;
    return 0;
}

static int write_header(const struct luks_header *h, const struct luks_io *io, struct verr *err)
{
    uint8_t buf[LUKS_HEADER_SIZE];
    luks_header_encode(h, buf);
    return io->write(io->opaque, buf, sizeof(buf), 0, err);
}

int luks_store_slot(struct luks_header *h, const struct luks_io *io, int slot, const char *pass,
                    size_t plen, const uint8_t *master, uint64_t iter_time_ms, struct verr *err)
{
    struct luks_slot *s = &h->slots[slot];
    struct luks_slot old = *s;
    if (!iter_time_ms)
        iter_time_ms = LUKS_DEFAULT_ITER_TIME;
    size_t splitlen = (size_t)h->key_bytes * s->stripes;
    size_t buflen = (splitlen + SECTOR - 1) / SECTOR * SECTOR;
    uint8_t *split = xcalloc(1, buflen);
    uint8_t slotkey[CRYPTO_MAX_KEY];
    struct crypto_sectors *cs = NULL;
    int r = crypto_random(s->salt, LUKS_SALT_LEN, err);
    if (r == 0)
        r = scaled_iterations(h->hash, h->key_bytes, iter_time_ms, 1, &s->iterations, err);
    if (r == 0) {
        crypto_pbkdf2(h->hash, pass, plen, s->salt, LUKS_SALT_LEN, s->iterations, slotkey,
                      h->key_bytes);
        r = crypto_sectors_new(&h->spec, slotkey, h->key_bytes, &cs, err);
    }
    if (r == 0)
        r = crypto_afsplit_encode(h->hash, h->key_bytes, s->stripes, master, split, err);
    if (r == 0)
        r = crypto_sectors_encrypt(cs, 0, split, buflen, err);
    /* The material first (whole sectors, as cryptsetup writes it): the slot
     * only becomes active once it is there. */
    if (r == 0)
        r = io->write(io->opaque, split, buflen, (uint64_t)s->key_offset * SECTOR, err);
    if (r == 0) {
        s->active = LUKS_SLOT_ACTIVE;
        r = write_header(h, io, err);
    }
    if (r < 0)
        *s = old;
    crypto_sectors_free(cs);
    memset(slotkey, 0, sizeof(slotkey));
    wipe_free(split, buflen);
    return r;
}

int luks_erase_slot(struct luks_header *h, const struct luks_io *io, int slot, struct verr *err)
{
    struct luks_slot *s = &h->slots[slot];
    struct luks_slot old = *s;
    memset(s->salt, 0, LUKS_SALT_LEN);
    s->iterations = 0;
    s->active = LUKS_SLOT_INACTIVE;
    int r = write_header(h, io, err);
    if (r < 0) {
        *s = old;
        return r;
    }
    size_t len = (size_t)h->key_bytes * s->stripes;
    uint8_t *garbage = xmalloc(len);
    for (int pass = 0; r == 0 && pass < ERASE_PASSES; pass++) {
        r = crypto_random(garbage, len, err);
        if (r == 0)
            r = io->write(io->opaque, garbage, len, (uint64_t)s->key_offset * SECTOR, err);
    }
    free(garbage);
    return r;
}

static void uuid_format(const uint8_t *b, char *out)
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

int luks_format(struct luks_header *h, const struct luks_io *io, const struct luks_create_params *p,
                const char *pass, size_t plen, uint8_t *master, struct verr *err)
{
    int r = header_init(h, p, err);
    if (r < 0)
        return r;
    if (io->length < (uint64_t)h->payload_offset * SECTOR)
        return verr_set(err, ENOSPC, "no room for the LUKS header (%llu bytes)",
                        (unsigned long long)h->payload_offset * SECTOR);
    uint8_t u[16];
    r = crypto_random(u, sizeof(u), err);
    if (r < 0)
        return r;
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4, random */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    uuid_format(u, h->uuid);
    r = crypto_random(h->mk_salt, LUKS_SALT_LEN, err);
    if (r == 0)
        r = crypto_random(master, h->key_bytes, err);
    /* The master key digest gets an eighth of the time (qemu-img's and
     * cryptsetup's choice). */
    if (r == 0)
        r = scaled_iterations(h->hash, LUKS_DIGEST_LEN, p->iter_time_ms, 8, &h->mk_iterations, err);
    if (r == 0) {
        crypto_pbkdf2(h->hash, master, h->key_bytes, h->mk_salt, LUKS_SALT_LEN, h->mk_iterations,
                      h->mk_digest, LUKS_DIGEST_LEN);
        r = luks_store_slot(h, io, 0, pass, plen, master, p->iter_time_ms, err);
    }
    return r;
}
