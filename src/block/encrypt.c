/*
 * encrypt.c - a keyed LUKS volume for the formats that carry one (see
 * encrypt.h): option parsing, unlocking, info, and amend's key slot rules.
 *
 * The amend rules and their messages are qemu-img 7.2's: adding needs
 * new-secret and refuses to overwrite an active slot (unless forced);
 * erasing needs an explicit slot or the old passphrase, and refuses to
 * erase the last active slot, which would make the data unreadable for
 * good (unless forced).
 */
#include "block/encrypt.h"
#include "block/secret.h"
#include "util/str.h"

#include <errno.h>
#include <string.h>

int encrypt_passphrase(const struct secret_store *secrets, const char *id, const char *prefix,
                       const char **pass, size_t *plen, struct verr *err)
{
    if (!id)
        return verr_set(err, EINVAL, "Parameter '%skey-secret' is required for cipher", prefix);
    return secret_lookup_passphrase(secrets, id, pass, plen, err);
}

static int bad_value(const char *prefix, const char *param, const char *v, struct verr *err)
{
    return verr_set(err, EINVAL, "Parameter '%s%s' does not accept value '%s'", prefix, param, v);
}

int encrypt_create_params(const struct block_encrypt_opts *o, const char *prefix,
                          struct luks_create_params *p, struct verr *err)
{
    luks_create_params_default(p);
    if (o->cipher_alg && crypto_cipher_alg_parse(o->cipher_alg, &p->spec.alg) < 0) {
        if (strcmp(o->cipher_alg, "des") == 0 || strcmp(o->cipher_alg, "3des") == 0 ||
            strcmp(o->cipher_alg, "des-rfb") == 0)
            return verr_set(err, ENOTSUP, "Algorithm '%s' not supported", o->cipher_alg);
        return bad_value(prefix, "cipher-alg", o->cipher_alg, err);
    }
    if (o->cipher_mode && crypto_cipher_mode_parse(o->cipher_mode, &p->spec.mode) < 0)
        return bad_value(prefix, "cipher-mode", o->cipher_mode, err);
    if (o->ivgen_alg && crypto_ivgen_parse(o->ivgen_alg, &p->spec.ivgen) < 0)
        return bad_value(prefix, "ivgen-alg", o->ivgen_alg, err);
    if (o->ivgen_hash_alg && crypto_hash_parse(o->ivgen_hash_alg, &p->spec.ivgen_hash) < 0)
        return bad_value(prefix, "ivgen-hash-alg", o->ivgen_hash_alg, err);
    if (o->hash_alg && crypto_hash_parse(o->hash_alg, &p->hash) < 0)
        return bad_value(prefix, "hash-alg", o->hash_alg, err);
    p->ivgen_hash_given = o->ivgen_hash_alg != NULL;
    if (o->has_iter_time)
        p->iter_time_ms = o->iter_time;
    if (p->spec.mode == CRYPTO_MODE_XTS && crypto_cipher_block_len(p->spec.alg) != 16)
        return verr_set(err, ENOTSUP, "Unsupported cipher mode %s",
                        crypto_cipher_mode_name(p->spec.mode));
    return crypto_sector_spec_check(&p->spec, NULL, err);
}

static int keyed(struct encrypt_luks *v, struct verr *err)
{
    int r = crypto_sectors_new(&v->h.spec, v->master, v->h.key_bytes, &v->cs, err);
    if (r == 0)
        v->have_key = true;
    return r;
}

int encrypt_luks_open(struct encrypt_luks *v, const struct luks_io *io,
                      const struct block_keys *keys, bool no_io, const char *prefix,
                      struct verr *err)
{
    memset(v, 0, sizeof(*v));
    v->io = *io;
    v->secrets = keys ? keys->secrets : NULL;
    uint8_t buf[LUKS_HEADER_SIZE];
    if (io->length < LUKS_HEADER_SIZE)
        return verr_set(err, EINVAL, "Volume is not in LUKS format");
    int r = io->read(io->opaque, buf, sizeof(buf), 0, err);
    if (r == 0)
        r = luks_header_decode(buf, sizeof(buf), io->length, &v->h, err);
    if (r < 0 || no_io)
        return r;
    const char *pass;
    size_t plen;
    r = encrypt_passphrase(v->secrets, keys ? keys->key_secret : NULL, prefix, &pass, &plen, err);
    if (r == 0)
        r = luks_unlock(&v->h, io, pass, plen, v->master, NULL, err);
    if (r == 0)
        r = keyed(v, err);
    if (r < 0)
        encrypt_luks_close(v);
    return r;
}

int encrypt_luks_create(struct encrypt_luks *v, const struct luks_io *io,
                        const struct block_encrypt_opts *o, const struct secret_store *secrets,
                        const char *prefix, struct verr *err)
{
    memset(v, 0, sizeof(*v));
    v->io = *io;
    v->secrets = secrets;
    struct luks_create_params p;
    const char *pass;
    size_t plen;
    int r = encrypt_create_params(o, prefix, &p, err);
    if (r == 0)
        r = encrypt_passphrase(secrets, o->key_secret, prefix, &pass, &plen, err);
    if (r == 0)
        r = luks_format(&v->h, io, &p, pass, plen, v->master, err);
    if (r == 0)
        r = keyed(v, err);
    if (r < 0)
        encrypt_luks_close(v);
    return r;
}

void encrypt_luks_close(struct encrypt_luks *v)
{
    crypto_sectors_free(v->cs);
    memset(v, 0, sizeof(*v));
}

void encrypt_luks_info(const struct encrypt_luks *v, struct block_crypt_info *ci)
{
    const struct luks_header *h = &v->h;
    memset(ci, 0, sizeof(*ci));
    str_copy(ci->format, sizeof(ci->format), "luks");
    str_copy(ci->cipher_alg, sizeof(ci->cipher_alg), crypto_cipher_alg_name(h->spec.alg));
    str_copy(ci->cipher_mode, sizeof(ci->cipher_mode), crypto_cipher_mode_name(h->spec.mode));
    str_copy(ci->ivgen_alg, sizeof(ci->ivgen_alg), crypto_ivgen_name(h->spec.ivgen));
    if (h->spec.ivgen == CRYPTO_IVGEN_ESSIV)
        str_copy(ci->ivgen_hash_alg, sizeof(ci->ivgen_hash_alg),
                 crypto_hash_name(h->spec.ivgen_hash));
    str_copy(ci->hash_alg, sizeof(ci->hash_alg), crypto_hash_name(h->hash));
    str_copy(ci->uuid, sizeof(ci->uuid), h->uuid);
    ci->payload_offset = (uint64_t)h->payload_offset * 512;
    ci->master_key_iters = h->mk_iterations;
    for (int i = 0; i < LUKS_SLOTS; i++) {
        const struct luks_slot *s = &h->slots[i];
        ci->slots[i].active = s->active == LUKS_SLOT_ACTIVE;
        ci->slots[i].key_offset = (uint64_t)s->key_offset * 512;
        if (ci->slots[i].active) {
            ci->slots[i].iters = s->iterations;
            ci->slots[i].stripes = s->stripes;
        }
    }
}

static int lookup(struct encrypt_luks *v, const char *id, const char **pass, size_t *plen,
                  struct verr *err)
{
    return secret_lookup_passphrase(v->secrets, id, pass, plen, err);
}

static int add_slot(struct encrypt_luks *v, const struct block_keyslot_change *c, struct verr *err)
{
    if (!c->new_secret)
        return verr_set(err, EINVAL, "'new-secret' is required to activate a keyslot");
    if (c->old_secret)
        return verr_set(err, EINVAL, "'old-secret' must not be given when activating keyslots");
    int slot = c->keyslot;
    if (slot >= 0 && slot >= LUKS_SLOTS)
        return verr_set(err, EINVAL, "Invalid keyslot %d specified, must be between 0 and %d", slot,
                        LUKS_SLOTS - 1);
    if (slot < 0) {
        for (int i = 0; i < LUKS_SLOTS && slot < 0; i++)
            if (v->h.slots[i].active != LUKS_SLOT_ACTIVE)
                slot = i;
        if (slot < 0)
            return verr_set(err, ENOSPC, "Can't add a keyslot - all keyslots are in use");
    }
    if (!c->force && v->h.slots[slot].active == LUKS_SLOT_ACTIVE)
        return verr_set(err, EEXIST,
                        "Refusing to overwrite active keyslot %d - please erase it first", slot);
    uint8_t master[CRYPTO_MAX_KEY];
    const char *pass;
    size_t plen;
    int r = 0;
    if (c->secret) {
        /* Unlock again with the given passphrase, as qemu-img does. */
        r = lookup(v, c->secret, &pass, &plen, err);
        if (r == 0)
            r = luks_unlock(&v->h, &v->io, pass, plen, master, NULL, err);
    } else if (v->have_key) {
        memcpy(master, v->master, v->h.key_bytes);
    } else {
        r = verr_set(err, EINVAL, "the image was opened without its key");
    }
    if (r == 0)
        r = lookup(v, c->new_secret, &pass, &plen, err);
    if (r == 0)
        r = luks_store_slot(&v->h, &v->io, slot, pass, plen, master,
                            c->has_iter_time ? c->iter_time : LUKS_DEFAULT_ITER_TIME, err);
    memset(master, 0, sizeof(master));
    return r;
}

static int erase_slots(struct encrypt_luks *v, const struct block_keyslot_change *c,
                       struct verr *err)
{
    if (c->new_secret)
        return verr_set(err, EINVAL, "'new-secret' must not be given when erasing keyslots");
    if (c->has_iter_time)
        return verr_set(err, EINVAL, "'iter-time' must not be given when erasing keyslots");
    if (c->secret)
        return verr_set(err, EINVAL, "'secret' must not be given when erasing keyslots");
    const char *pass = NULL;
    size_t plen = 0;
    uint8_t tmp[CRYPTO_MAX_KEY];
    int r = 0;
    if (c->old_secret) {
        r = lookup(v, c->old_secret, &pass, &plen, err);
        if (r < 0)
            return r;
    }
    bool erase[LUKS_SLOTS] = {false};
    unsigned count = 0;
    if (c->keyslot >= 0) {
        int slot = c->keyslot;
        if (slot >= LUKS_SLOTS)
            return verr_set(err, EINVAL, "Invalid keyslot %d specified, must be between 0 and %d",
                            slot, LUKS_SLOTS - 1);
        if (pass) {
            r = luks_try_slot(&v->h, &v->io, slot, pass, plen, tmp, err);
            memset(tmp, 0, sizeof(tmp));
            if (r < 0)
                return r;
            if (r == 0)
                return verr_set(err, EACCES,
                                "Given keyslot %d doesn't contain the given old password for "
                                "erase operation",
                                slot);
        }
        if (!c->force && v->h.slots[slot].active != LUKS_SLOT_ACTIVE)
            return verr_set(err, EINVAL, "Given keyslot %d is already erased (inactive) ", slot);
        if (!c->force && luks_active_slots(&v->h) == 1)
            return verr_set(err, EPERM,
                            "Attempt to erase the only active keyslot %d which will erase all "
                            "the data in the image irreversibly - refusing operation",
                            slot);
        erase[slot] = true;
        count = 1;
    } else if (pass) {
        for (int i = 0; i < LUKS_SLOTS; i++) {
            r = luks_try_slot(&v->h, &v->io, i, pass, plen, tmp, err);
            memset(tmp, 0, sizeof(tmp));
            if (r < 0)
                return r;
            if (r == 1) {
                erase[i] = true;
                count++;
            }
        }
        if (count == 0)
            return verr_set(err, EACCES,
                            "No keyslots match given (old) password for erase operation");
        if (!c->force && count == luks_active_slots(&v->h))
            return verr_set(err, EPERM,
                            "All the active keyslots match the (old) password that was given "
                            "and erasing them will erase all the data in the image "
                            "irreversibly - refusing operation");
    } else {
        return verr_set(err, EINVAL,
                        "To erase keyslot(s), either explicit keyslot index or the password "
                        "currently contained in them must be given");
    }
    for (int i = 0; i < LUKS_SLOTS && r >= 0; i++)
        if (erase[i])
            r = luks_erase_slot(&v->h, &v->io, i, err);
    return r < 0 ? r : 0;
}

int encrypt_luks_amend(struct encrypt_luks *v, const struct block_keyslot_change *c,
                       struct verr *err)
{
    return c->activate ? add_slot(v, c, err) : erase_slots(v, c, err);
}

int encrypt_luks_encrypt(struct encrypt_luks *v, uint64_t sector, void *buf, size_t len,
                         struct verr *err)
{
    if (!v->cs)
        return verr_set(err, ENOKEY, "the image was opened without its key");
    return crypto_sectors_encrypt(v->cs, sector, buf, len, err);
}

int encrypt_luks_decrypt(struct encrypt_luks *v, uint64_t sector, void *buf, size_t len,
                         struct verr *err)
{
    if (!v->cs)
        return verr_set(err, ENOKEY, "the image was opened without its key");
    return crypto_sectors_decrypt(v->cs, sector, buf, len, err);
}
