/*
 * luks-header.h - the LUKS1 header: decode and check it, unlock the master
 * key with a passphrase, write a new header, add and erase key slots.
 *
 * Two image formats carry a LUKS header: the `luks` format (header at the
 * start of the file, payload after it) and qcow2 with encrypt.format=luks
 * (header in clusters the full-disk-encryption extension points at, payload
 * in the qcow2 data clusters). Both reach the header through a struct
 * luks_io whose offsets are relative to the header's first byte, which is
 * also what the key slots' key material offsets count from.
 *
 * Layout facts are from the LUKS1 on-disk format specification (cryptsetup's
 * docs/on-disk-format.pdf, version 1.2.x) and, where QEMU chooses (key slot
 * placement, iteration counts, the PBKDF2 calibration), from what qemu-img
 * 7.2 writes, so images made here are laid out as qemu-img lays them out.
 * The header is hostile input: every field is checked before use, and the
 * key material of a slot must lie inside the container and below the
 * payload.
 */
#ifndef VIREO_BLOCK_LUKS_HEADER_H
#define VIREO_BLOCK_LUKS_HEADER_H

#include "block/crypto.h"

#include <stdbool.h>
#include <stdint.h>

#define LUKS_HEADER_SIZE       592
#define LUKS_SLOTS             8
#define LUKS_STRIPES           4000
#define LUKS_SALT_LEN          32
#define LUKS_DIGEST_LEN        20
#define LUKS_SLOT_ACTIVE       0x00ac71f3u
#define LUKS_SLOT_INACTIVE     0x0000deadu
#define LUKS_KEY_SLOT_OFFSET   4096 /* bytes: the first key material */
#define LUKS_MIN_ITERS         1000
#define LUKS_DEFAULT_ITER_TIME 2000 /* ms, qemu-img's default */

struct luks_slot {
    uint32_t active;
    uint32_t iterations;
    uint8_t salt[LUKS_SALT_LEN];
    uint32_t key_offset; /* sectors from the header start */
    uint32_t stripes;
};

struct luks_header {
    uint16_t version;
    char cipher_name[33];
    char cipher_mode[33]; /* "xts-plain64", "cbc-essiv:sha256" */
    char hash_spec[33];
    uint32_t payload_offset; /* sectors from the header start */
    uint32_t key_bytes;
    uint8_t mk_digest[LUKS_DIGEST_LEN];
    uint8_t mk_salt[LUKS_SALT_LEN];
    uint32_t mk_iterations;
    char uuid[41];
    struct luks_slot slots[LUKS_SLOTS];
    /* Parsed from the strings above. */
    struct crypto_sector_spec spec;
    enum crypto_hash hash;
};

/* Reads/writes len bytes at off from the header start. */
struct luks_io {
    void *opaque;
    int (*read)(void *opaque, void *buf, size_t len, uint64_t off, struct verr *err);
    int (*write)(void *opaque, const void *buf, size_t len, uint64_t off, struct verr *err);
    /* Bytes the container has from the header start (key material must
     * lie inside). */
    uint64_t length;
};

/* True when buf starts with the LUKS magic and version 1 (probing). */
bool luks_header_probe(const uint8_t *buf, size_t len);
/* Decodes and checks the first LUKS_HEADER_SIZE bytes of buf. container_len
 * bounds the key material. Messages are QEMU's where it has them. */
int luks_header_decode(const uint8_t *buf, size_t len, uint64_t container_len,
                       struct luks_header *h, struct verr *err);
void luks_header_encode(const struct luks_header *h, uint8_t *buf);

/* Bytes of key material a slot occupies (rounded as qemu-img rounds it). */
uint64_t luks_slot_material_bytes(const struct luks_header *h, uint32_t stripes);
/* Number of active slots. */
unsigned luks_active_slots(const struct luks_header *h);

/* Tries the passphrase on one slot: 1 and the master key (h->key_bytes
 * bytes) when it opens, 0 when it does not or is inactive, <0 on I/O
 * errors. */
int luks_try_slot(const struct luks_header *h, const struct luks_io *io, int slot, const char *pass,
                  size_t plen, uint8_t *master, struct verr *err);
/* Tries every active slot; -EACCES "Invalid password, cannot unlock any
 * keyslot" when none opens. *slot_out (may be NULL) gets the slot. */
int luks_unlock(const struct luks_header *h, const struct luks_io *io, const char *pass,
                size_t plen, uint8_t *master, int *slot_out, struct verr *err);
/* Checks that master is the volume's key (the master key digest). */
bool luks_master_key_ok(const struct luks_header *h, const uint8_t *master);

/* What a new volume uses; zeroes give qemu-img's defaults except the spec,
 * which the caller fills (luks_create_params_default does it all). */
struct luks_create_params {
    struct crypto_sector_spec spec;
    bool ivgen_hash_given; /* write ":HASH" after the IV generator */
    enum crypto_hash hash;
    uint64_t iter_time_ms;
};
void luks_create_params_default(struct luks_create_params *p);

/* A new header with a random master key (returned in master, h->key_bytes
 * bytes) and key slot 0 holding it under pass. payload_offset is placed
 * after the eight key slots' material, as qemu-img places it. Writes the
 * slot's material and then the header through io. */
int luks_format(struct luks_header *h, const struct luks_io *io, const struct luks_create_params *p,
                const char *pass, size_t plen, uint8_t *master, struct verr *err);
/* Bytes a new header with these parameters reserves (its payload offset). */
int luks_format_size(const struct luks_create_params *p, uint64_t *size, struct verr *err);

/* Stores master in slot under pass (new salt, iterations from iter_time_ms;
 * 0 = the default) and writes the header. */
int luks_store_slot(struct luks_header *h, const struct luks_io *io, int slot, const char *pass,
                    size_t plen, const uint8_t *master, uint64_t iter_time_ms, struct verr *err);
/* Marks the slot inactive (header first) and overwrites its key material
 * with random bytes. */
int luks_erase_slot(struct luks_header *h, const struct luks_io *io, int slot, struct verr *err);

#endif
