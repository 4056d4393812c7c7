/*
 * encrypt.h - what the encrypted formats share: a LUKS volume inside a
 * container (the luks format's file, or the clusters a qcow2 image's
 * full-disk-encryption extension points at), keyed from the secret store.
 *
 * luks.c and qcow2-crypt.c differ only in where the header and the payload
 * live and which sector number a payload sector is encrypted with; the
 * option names, the messages ("Parameter 'encrypt.key-secret' is required
 * for cipher"), qemu-img info's details and amend's key slot rules are the
 * same, so they are here.
 */
#ifndef VIREO_BLOCK_ENCRYPT_H
#define VIREO_BLOCK_ENCRYPT_H

#include "block/block.h"
#include "block/luks-header.h"

struct encrypt_luks {
    struct luks_header h;
    struct luks_io io;
    const struct secret_store *secrets; /* from the open: amend looks new secrets up here */
    uint8_t master[CRYPTO_MAX_KEY];
    bool have_key;
    struct crypto_sectors *cs; /* NULL when opened without the key (no_io) */
};

/* The passphrase of secret `id` for an image whose options carry `prefix`
 * ("" for luks, "encrypt." for qcow2): "Parameter 'PREFIXkey-secret' is
 * required for cipher" when id is NULL. */
int encrypt_passphrase(const struct secret_store *secrets, const char *id, const char *prefix,
                       const char **pass, size_t *plen, struct verr *err);

/* Parses the create options, with qemu-img's messages naming
 * PREFIXcipher-alg and so on. */
int encrypt_create_params(const struct block_encrypt_opts *o, const char *prefix,
                          struct luks_create_params *p, struct verr *err);

/* Opens the volume whose header io reaches: decodes the header and, unless
 * no_io, unlocks it with the key secret and sets up the sector cipher. */
int encrypt_luks_open(struct encrypt_luks *v, const struct luks_io *io,
                      const struct block_keys *keys, bool no_io, const char *prefix,
                      struct verr *err);
/* Writes a new header (and key slot 0) through io and keys v with it. */
int encrypt_luks_create(struct encrypt_luks *v, const struct luks_io *io,
                        const struct block_encrypt_opts *o, const struct secret_store *secrets,
                        const char *prefix, struct verr *err);
void encrypt_luks_close(struct encrypt_luks *v);

/* qemu-img info's details of the volume. */
void encrypt_luks_info(const struct encrypt_luks *v, struct block_crypt_info *ci);
/* qemu-img amend's key slot changes, with its rules and messages. */
int encrypt_luks_amend(struct encrypt_luks *v, const struct block_keyslot_change *c,
                       struct verr *err);

/* Encrypts/decrypts whole sectors; "no key" when opened with no_io. */
int encrypt_luks_encrypt(struct encrypt_luks *v, uint64_t sector, void *buf, size_t len,
                         struct verr *err);
int encrypt_luks_decrypt(struct encrypt_luks *v, uint64_t sector, void *buf, size_t len,
                         struct verr *err);

#endif
