/*
 * qcow2-crypt.c - encrypted qcow2 images: the header's crypt method 2
 * (LUKS) and, for reading only, 1 (the old AES-CBC).
 *
 * LUKS (docs/interop/qcow2.txt, "Full disk encryption header pointer" and
 * "Data encryption"): the full-disk-encryption header extension gives the
 * offset and length of clusters holding a LUKS1 header and its key slots;
 * the key slots' material offsets count from there. Data clusters are
 * encrypted with the volume's cipher, each 512-byte sector with the number
 * of the *host* sector it occupies (its physical offset / 512) as the IV
 * input. Metadata (header, tables, refcounts) is never encrypted.
 *
 * AES (method 1): AES-128-CBC under the first 16 bytes of the passphrase
 * (zero-padded), the IV from the *guest* sector number (plain64). QEMU
 * keeps it only so data can be liberated; the design is broken (no key
 * derivation, predictable IVs), so Vireo reads such images to convert
 * them and refuses to open them for writing or to create them.
 *
 * The driver (qcow2-cluster.c) does its data I/O through qcow2_data_read/
 * write, which pass through to the data file (the image itself, or an
 * external data file, where host offsets are guest offsets) for plain
 * images and otherwise widen requests to whole sectors (read-modify-write
 * of partial sectors, under the image lock the driver already holds) and
 * run the cipher. Compressed clusters are refused with encryption, as
 * QEMU does; a metadata transaction never moves data clusters, so the
 * host-sector IVs stay valid across qcow2's crash-atomic updates.
 */
#include "block/encrypt.h"
#include "block/qcow2.h"
#include "block/secret.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR          512u
#define QCOW2_EXT_CRYPT 0x0537be77u
#define CRYPT_PFX       "encrypt."
#define MAX_HDR_BYTES   (64u << 20) /* a LUKS1 header with 8 slots is ~2 MiB */

struct qcow2_crypt {
    uint32_t method;
    uint64_t hdr_off, hdr_len;  /* LUKS header clusters (method 2) */
    struct encrypt_luks luks;   /* method 2 */
    struct crypto_sectors *aes; /* method 1; NULL when opened without the key */
    struct hostfile *f;
};

static int io_read(void *opaque, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow2_crypt *c = opaque;
    return hostfile_pread(c->f, buf, len, c->hdr_off + off, err);
}

static int io_write(void *opaque, const void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow2_crypt *c = opaque;
    return hostfile_pwrite(c->f, buf, len, c->hdr_off + off, err);
}

static struct qcow2_ext *find_ext(struct qcow2 *q)
{
    for (size_t i = 0; i < q->nb_exts; i++)
        if (q->exts[i].type == QCOW2_EXT_CRYPT)
            return &q->exts[i];
    return NULL;
}

static const char *method_name(uint32_t m)
{
    return m == 1 ? "aes" : "luks";
}

static int aes_key(struct qcow2_crypt *c, const struct block_keys *keys, struct verr *err)
{
    const char *pass;
    size_t plen;
    int r = encrypt_passphrase(keys ? keys->secrets : NULL, keys ? keys->key_secret : NULL,
                               CRYPT_PFX, &pass, &plen, err);
    if (r < 0)
        return r;
    uint8_t key[16] = {0};
    memcpy(key, pass, plen < 16 ? plen : 16);
    struct crypto_sector_spec spec = {CRYPTO_AES_128, CRYPTO_MODE_CBC, CRYPTO_IVGEN_PLAIN64,
                                      CRYPTO_HASH_SHA256};
    r = crypto_sectors_new(&spec, key, sizeof(key), &c->aes, err);
    memset(key, 0, sizeof(key));
    return r;
}

int qcow2_crypt_open(struct qcow2 *q, const struct block_open_opts *opts, uint64_t file_len,
                     struct verr *err)
{
    const char *path = q->bd->filename;
    struct qcow2_ext *ext = find_ext(q);
    const struct block_keys *keys = opts->keys;
    if (q->crypt_method == 0) {
        if (ext)
            return verr_set(err, EINVAL,
                            "could not open '%s': an encryption header extension in an image "
                            "that is not encrypted",
                            path);
        return 0;
    }
    if (q->crypt_method > 2)
        return verr_set(err, ENOTSUP, "could not open '%s': Unsupported encryption method: %u",
                        path, q->crypt_method);
    if (keys && keys->encrypt_format &&
        strcmp(keys->encrypt_format, method_name(q->crypt_method)) != 0)
        return verr_set(err, EINVAL,
                        "could not open '%s': Header reported '%s' encryption format but options "
                        "specify '%s'",
                        path, method_name(q->crypt_method), keys->encrypt_format);
    struct qcow2_crypt *c = xcalloc(1, sizeof(*c));
    c->method = q->crypt_method;
    c->f = q->f;
    q->crypt = c;
    int r = 0;
    if (c->method == 1) {
        if (ext)
            r = verr_set(err, EINVAL,
                         "could not open '%s': an AES encrypted image has an encryption header",
                         path);
        else if (!opts->read_only)
            r = verr_set(err, EROFS,
                         "could not open '%s' read-write: AES-CBC encrypted qcow2 images can "
                         "only be read, to convert them (the format is insecure; use "
                         "encrypt.format=luks)",
                         path);
        else if (!opts->no_io && (r = aes_key(c, keys, err)) < 0)
            verr_prefix(err, "could not open '%s'", path);
        return r;
    }
    if (!ext || ext->len != 16)
        return verr_set(err, EINVAL,
                        "could not open '%s': LUKS encryption without a valid encryption header "
                        "extension",
                        path);
    c->hdr_off = get_be64(ext->data);
    c->hdr_len = get_be64(ext->data + 8);
    uint64_t cs = q->g.cluster_size;
    if (c->hdr_off % cs || c->hdr_off < cs || c->hdr_len < LUKS_HEADER_SIZE ||
        c->hdr_len > MAX_HDR_BYTES || c->hdr_off > file_len || c->hdr_len > file_len - c->hdr_off)
        return verr_set(err, EINVAL,
                        "could not open '%s': the encryption header (offset %llu, length %llu) "
                        "lies outside the file or is not cluster aligned",
                        path, (unsigned long long)c->hdr_off, (unsigned long long)c->hdr_len);
    struct luks_io io = {c, io_read, io_write, c->hdr_len};
    r = encrypt_luks_open(&c->luks, &io, keys, opts->no_io, CRYPT_PFX, err);
    if (r < 0)
        return verr_prefix(err, "could not open '%s'", path);
    return 0;
}

void qcow2_crypt_close(struct qcow2 *q)
{
    struct qcow2_crypt *c = q->crypt;
    if (!c)
        return;
    encrypt_luks_close(&c->luks);
    crypto_sectors_free(c->aes);
    free(c);
    q->crypt = NULL;
}

void qcow2_crypt_header_span(const struct qcow2 *q, uint64_t *off, uint64_t *len)
{
    *off = q->crypt ? q->crypt->hdr_off : 0;
    *len = q->crypt ? q->crypt->hdr_len : 0;
}

/* The IV sector of the data at host offset `host` (guest offset `guest`). */
static uint64_t iv_sector(const struct qcow2_crypt *c, uint64_t host, uint64_t guest)
{
    return (c->method == 1 ? guest : host) / SECTOR;
}

static int cipher(struct qcow2 *q, bool enc, uint64_t sector, void *buf, size_t len,
                  struct verr *err)
{
    struct qcow2_crypt *c = q->crypt;
    if (c->method == 1) {
        if (!c->aes)
            return verr_set(err, ENOKEY, "'%s' was opened without its key", q->bd->filename);
        return enc ? crypto_sectors_encrypt(c->aes, sector, buf, len, err)
                   : crypto_sectors_decrypt(c->aes, sector, buf, len, err);
    }
    return enc ? encrypt_luks_encrypt(&c->luks, sector, buf, len, err)
               : encrypt_luks_decrypt(&c->luks, sector, buf, len, err);
}

int qcow2_data_read(struct qcow2 *q, void *buf, size_t n, uint64_t host, uint64_t guest,
                    struct verr *err)
{
    if (!q->crypt)
        return hostfile_pread(q->df, buf, n, host, err);
    uint64_t head = host % SECTOR;
    uint64_t start = host - head, end = (host + n + SECTOR - 1) / SECTOR * SECTOR;
    uint64_t sector = iv_sector(q->crypt, start, guest - head);
    if (head == 0 && end == host + n) {
        int r = hostfile_pread(q->df, buf, n, host, err);
        return r < 0 ? r : cipher(q, false, sector, buf, n, err);
    }
    uint8_t *b = xmalloc(end - start);
    int r = hostfile_pread(q->df, b, end - start, start, err);
    if (r == 0)
        r = cipher(q, false, sector, b, end - start, err);
    if (r == 0)
        memcpy(buf, b + head, n);
    free(b);
    return r;
}

int qcow2_data_write(struct qcow2 *q, const void *buf, size_t n, uint64_t host, uint64_t guest,
                     struct verr *err)
{
    if (!q->crypt)
        return hostfile_pwrite(q->df, buf, n, host, err);
    if (q->crypt->method == 1)
        return verr_set(err, EROFS, "'%s': AES-CBC encrypted qcow2 images are read-only",
                        q->bd->filename);
    uint64_t head = host % SECTOR;
    uint64_t start = host - head, end = (host + n + SECTOR - 1) / SECTOR * SECTOR;
    uint64_t sector = iv_sector(q->crypt, start, guest - head);
    uint8_t *b = xmalloc(end - start);
    int r = 0;
    /* Partial sectors at either end keep their other bytes: decrypt them
     * first (the caller holds the image lock, so nothing changes them). */
    if (head)
        r = qcow2_data_read(q, b, SECTOR, start, guest - head, err);
    if (r == 0 && (host + n) % SECTOR && (end - SECTOR >= start + SECTOR || !head))
        r = qcow2_data_read(q, b + (end - SECTOR - start), SECTOR, end - SECTOR,
                            guest - head + (end - SECTOR - start), err);
    if (r == 0) {
        memcpy(b + head, buf, n);
        r = cipher(q, true, sector, b, end - start, err);
    }
    if (r == 0)
        r = hostfile_pwrite(q->df, b, end - start, start, err);
    free(b);
    return r;
}

void qcow2_crypt_info(const struct qcow2 *q, struct block_info *info)
{
    const struct qcow2_crypt *c = q->crypt;
    if (!c)
        return;
    info->encrypted = true;
    info->crypt = xcalloc(1, sizeof(*info->crypt));
    if (c->method == 1)
        strcpy(info->crypt->format, "aes");
    else
        encrypt_luks_info(&c->luks, info->crypt);
}

int qcow2_crypt_amend(struct qcow2 *q, const struct block_keyslot_change *ch, struct verr *err)
{
    if (!q->crypt || q->crypt->method != 2)
        return verr_set(err, ENOTSUP, "'%s' is not a LUKS-encrypted image", q->bd->filename);
    int r = encrypt_luks_amend(&q->crypt->luks, ch, err);
    if (r == 0)
        r = hostfile_flush(q->f, err);
    return r;
}

int qcow2_crypt_check_create(const struct block_create_opts *o, bool need_key, uint64_t *hdr_bytes,
                             struct verr *err)
{
    *hdr_bytes = 0;
    if (!o->encrypt.format) {
        if (o->encrypt.key_secret || o->encrypt.cipher_alg || o->encrypt.cipher_mode ||
            o->encrypt.ivgen_alg || o->encrypt.ivgen_hash_alg || o->encrypt.hash_alg ||
            o->encrypt.has_iter_time)
            return verr_set(err, EINVAL, "encryption options need encrypt.format=luks");
        return 0;
    }
    if (strcmp(o->encrypt.format, "aes") == 0)
        return verr_set(err, ENOTSUP,
                        "AES-CBC encrypted qcow2 images are no longer created (the format is "
                        "insecure); use encrypt.format=luks");
    if (strcmp(o->encrypt.format, "luks") != 0)
        return verr_set(err, EINVAL, "Parameter 'encrypt.format' does not accept value '%s'",
                        o->encrypt.format);
    struct luks_create_params p;
    const char *pass;
    size_t plen;
    int r = encrypt_create_params(&o->encrypt, CRYPT_PFX, &p, err);
    if (r == 0 && need_key)
        r = encrypt_passphrase(o->secrets, o->encrypt.key_secret, CRYPT_PFX, &pass, &plen, err);
    if (r == 0)
        r = luks_format_size(&p, hdr_bytes, err);
    return r;
}

int qcow2_crypt_create(struct qcow2 *q, const struct block_create_opts *o, struct verr *err)
{
    uint64_t bytes, off, cs = q->g.cluster_size;
    int r = qcow2_crypt_check_create(o, true, &bytes, err);
    if (r < 0 || !bytes)
        return r;
    /* Clusters for the header and key material, zeroed (unused bytes of
     * the allocation must be zero, as the format asks). */
    uint64_t n = (bytes + cs - 1) / cs, flen;
    r = qcow2_alloc_clusters(q, n, &off, err);
    if (r == 0)
        r = hostfile_length(q->f, &flen, err);
    if (r == 0 && flen < off + n * cs)
        r = hostfile_truncate(q->f, off + n * cs, err);
    else if (r == 0)
        r = hostfile_zero(q->f, off, n * cs, false, err);
    if (r < 0)
        return r;
    struct qcow2_crypt *c = xcalloc(1, sizeof(*c));
    c->method = 2;
    c->f = q->f;
    c->hdr_off = off;
    c->hdr_len = bytes;
    struct luks_io io = {c, io_read, io_write, bytes};
    r = encrypt_luks_create(&c->luks, &io, &o->encrypt, o->secrets, CRYPT_PFX, err);
    if (r < 0) {
        free(c);
        return r;
    }
    /* The extension and the crypt method reach the disk with the header
     * after the refcounts of the clusters (qcow2_flush_metadata first). */
    uint8_t d[16];
    put_be64(d, off);
    put_be64(d + 8, bytes);
    q->exts = xrealloc(q->exts, (q->nb_exts + 1) * sizeof(*q->exts));
    uint8_t *ed = xmalloc(16);
    memcpy(ed, d, 16);
    q->exts[q->nb_exts++] = (struct qcow2_ext){QCOW2_EXT_CRYPT, 16, ed};
    q->crypt_method = 2;
    q->crypt = c;
    r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0)
        r = qcow2_write_header(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    return r;
}

int qcow2_crypt_measure(const struct block_create_opts *o, uint64_t cluster_size, uint64_t *bytes,
                        struct verr *err)
{
    /* qemu-img asks for the passphrase here too, so does this. */
    int r = qcow2_crypt_check_create(o, true, bytes, err);
    *bytes = (*bytes + cluster_size - 1) / cluster_size * cluster_size;
    return r;
}
