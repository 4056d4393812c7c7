/*
 * secret.h - passphrases for encrypted images, given as QEMU gives them.
 *
 * qemu-img and QEMU take secrets as objects, `--object secret,id=sec0,
 * data=...|file=...[,format=raw|base64][,keyid=ID,iv=B64]`, and an image
 * names the one it is keyed with (`key-secret=sec0`, `encrypt.key-secret=`).
 * A secret store holds those objects for one process; the block layer looks
 * passphrases up in it when it opens, creates or amends an encrypted image,
 * so vireo-img and vireo-vmm parse the same syntax the same way.
 *
 * Secrets whose data is itself encrypted (keyid=, iv=: AES-256-CBC under
 * another secret, as libvirt passes them to QEMU) are decrypted when added.
 */
#ifndef VIREO_BLOCK_SECRET_H
#define VIREO_BLOCK_SECRET_H

#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

struct secret {
    char *id;
    uint8_t *data; /* NUL-terminated copy of the bytes */
    size_t len;
};

struct secret_store {
    struct secret *items;
    size_t count;
};

/* Adds one object from its option string ("secret,id=a,data=b"; the part
 * after --object or -object). Only the secret type exists here; other QEMU
 * object types are refused by name. Messages are QEMU's. */
int secret_store_add_object(struct secret_store *store, const char *optstr, struct verr *err);
/* Adds a secret directly (id must be new). */
int secret_store_add(struct secret_store *store, const char *id, const void *data, size_t len,
                     struct verr *err);
/* Wipes and removes the secret id (QMP's object-del): 0, or -ENOENT when there is none. */
int secret_store_del(struct secret_store *store, const char *id);
/* Wipes and frees every secret. */
void secret_store_clear(struct secret_store *store);

/* The secret's bytes (owned by the store), or -ENOENT with "No secret with
 * id 'ID'". store may be NULL (then every lookup fails). */
int secret_lookup(const struct secret_store *store, const char *id, const uint8_t **data,
                  size_t *len, struct verr *err);
/* The secret as a passphrase: valid UTF-8, up to its first NUL byte (QEMU
 * passes it to PBKDF2 as a C string). */
int secret_lookup_passphrase(const struct secret_store *store, const char *id, const char **pass,
                             size_t *len, struct verr *err);

#endif
