/*
 * luks.c - the `luks` format: a LUKS1 volume in a file, as qemu-img's
 * `-f luks` makes and opens it.
 *
 * The file starts with the LUKS header and its eight key slots' material;
 * the payload starts at the header's payload offset and runs to the end of
 * the file, so the virtual size is the file's length minus that offset
 * (rounded up to a sector, as QEMU reports it). Payload sector n (counted
 * from the payload's start) is encrypted with IV n. Partial-sector writes
 * read, decrypt, patch, encrypt and write the sectors they touch, under a
 * lock so two of them on one sector cannot undo each other; whole-sector I/O
 * runs concurrently (the cipher contexts are per call).
 *
 * A fresh payload holds no ciphertext, so it reads as noise, not zeroes
 * (block_has_zero_init is false and a copy writes its zeroes); discard
 * punches holes, which also read as noise, exactly as under QEMU.
 */
#include "block/block-int.h"
#include "block/encrypt.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECTOR   512u
#define CHUNK    (1u << 20) /* bounce buffers for writes */
#define LUKS_PFX ""

struct luks {
    struct encrypt_luks v;
    uint64_t payload; /* bytes */
    pthread_mutex_t rmw;
};

static struct luks *L(struct block_dev *bd)
{
    return bd->priv;
}

static int io_read(void *opaque, void *buf, size_t len, uint64_t off, struct verr *err)
{
    return hostfile_pread(opaque, buf, len, off, err);
}

static int io_write(void *opaque, const void *buf, size_t len, uint64_t off, struct verr *err)
{
    return hostfile_pwrite(opaque, buf, len, off, err);
}

static int luks_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    uint64_t flen;
    int r = hostfile_length(&bd->file, &flen, err);
    if (r < 0)
        return r;
    struct luks *l = xcalloc(1, sizeof(*l));
    struct luks_io io = {&bd->file, io_read, io_write, flen};
    r = encrypt_luks_open(&l->v, &io, opts->keys, opts->no_io, LUKS_PFX, err);
    if (r == 0) {
        l->payload = (uint64_t)l->v.h.payload_offset * SECTOR;
        if (flen < l->payload) {
            encrypt_luks_close(&l->v);
            r = verr_set(err, EINVAL, "LUKS payload offset %llu lies past the end of the file",
                         (unsigned long long)l->payload);
        }
    }
    if (r < 0) {
        free(l);
        return verr_prefix(err, "could not open '%s'", bd->filename);
    }
    pthread_mutex_init(&l->rmw, NULL);
    bd->priv = l;
    bd->size = (flen - l->payload + SECTOR - 1) / SECTOR * SECTOR;
    return 0;
}

static void luks_close(struct block_dev *bd)
{
    struct luks *l = L(bd);
    if (!l)
        return;
    encrypt_luks_close(&l->v);
    pthread_mutex_destroy(&l->rmw);
    free(l);
    bd->priv = NULL;
}

/* Whole sectors [off, off+len) of the payload, decrypted into buf. */
static int read_sectors(struct block_dev *bd, uint8_t *buf, size_t len, uint64_t off,
                        struct verr *err)
{
    struct luks *l = L(bd);
    int r = hostfile_pread(&bd->file, buf, len, l->payload + off, err);
    if (r == 0)
        r = encrypt_luks_decrypt(&l->v, off / SECTOR, buf, len, err);
    return r;
}

static int luks_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    uint64_t start = off & ~(uint64_t)(SECTOR - 1);
    uint64_t end = (off + len + SECTOR - 1) & ~(uint64_t)(SECTOR - 1);
    if (start == off && end == off + len)
        return read_sectors(bd, buf, len, off, err);
    uint8_t *b = xmalloc(end - start);
    int r = read_sectors(bd, b, end - start, start, err);
    if (r == 0)
        memcpy(buf, b + (off - start), len);
    free(b);
    return r;
}

/* Encrypts a copy of buf (whole sectors) and writes it, CHUNK at a time. */
static int write_sectors(struct block_dev *bd, const uint8_t *buf, size_t len, uint64_t off,
                         struct verr *err)
{
    struct luks *l = L(bd);
    uint8_t *b = xmalloc(len < CHUNK ? len : CHUNK);
    int r = 0;
    for (size_t done = 0; r == 0 && done < len;) {
        size_t n = len - done < CHUNK ? len - done : CHUNK;
        memcpy(b, buf + done, n);
        r = encrypt_luks_encrypt(&l->v, (off + done) / SECTOR, b, n, err);
        if (r == 0)
            r = hostfile_pwrite(&bd->file, b, n, l->payload + off + done, err);
        done += n;
    }
    free(b);
    return r;
}

/* A write that starts or ends inside a sector: the whole sectors in the
 * middle go straight through; each partial edge sector is read, patched
 * and rewritten under the lock. */
static int patch_sector(struct block_dev *bd, uint64_t sector_off, const uint8_t *data, size_t in,
                        size_t n, struct verr *err)
{
    uint8_t s[SECTOR];
    int r = read_sectors(bd, s, SECTOR, sector_off, err);
    if (r == 0) {
        memcpy(s + in, data, n);
        r = write_sectors(bd, s, SECTOR, sector_off, err);
    }
    return r;
}

static int luks_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                       struct verr *err)
{
    struct luks *l = L(bd);
    const uint8_t *p = buf;
    if (!l->v.cs)
        return verr_set(err, ENOKEY, "'%s' was opened without its key", bd->filename);
    if (off % SECTOR == 0 && len % SECTOR == 0)
        return write_sectors(bd, p, len, off, err);
    int r = 0;
    pthread_mutex_lock(&l->rmw);
    if (off % SECTOR) {
        size_t in = off % SECTOR, n = SECTOR - in < len ? SECTOR - in : len;
        r = patch_sector(bd, off - in, p, in, n, err);
        p += n;
        off += n;
        len -= n;
    }
    size_t whole = len / SECTOR * SECTOR;
    if (r == 0 && whole)
        r = write_sectors(bd, p, whole, off, err);
    if (r == 0 && len > whole)
        r = patch_sector(bd, off + whole, p + whole, 0, len - whole, err);
    pthread_mutex_unlock(&l->rmw);
    return r;
}

static int luks_flush(struct block_dev *bd, struct verr *err)
{
    return hostfile_flush(&bd->file, err);
}

static int luks_discard(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    uint64_t start = (off + SECTOR - 1) & ~(uint64_t)(SECTOR - 1);
    uint64_t end = (off + len) & ~(uint64_t)(SECTOR - 1);
    if (end <= start || bd->file.blockdev)
        return 0;
    int r = hostfile_punch(&bd->file, L(bd)->payload + start, end - start, err);
    return r == -ENOTSUP ? 0 : r;
}

/* Zeroes are data here: the ciphertext of zero sectors. */
static int luks_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                             struct verr *err)
{
    (void)flags;
    size_t chunk = len < CHUNK ? (size_t)len : CHUNK;
    uint8_t *z = xcalloc(1, chunk);
    int r = 0;
    while (r == 0 && len > 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        r = luks_pwrite(bd, z, n, off, err);
        off += n;
        len -= n;
    }
    free(z);
    return r;
}

static int luks_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                       struct verr *err)
{
    (void)bd, (void)off, (void)err;
    ext->length = len; /* all data, at no offset a reader could use */
    ext->present = true;
    ext->data = true;
    ext->host_file = bd->filename;
    return 0;
}

static int luks_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    info->encrypted = true;
    info->crypt = xcalloc(1, sizeof(*info->crypt));
    encrypt_luks_info(&L(bd)->v, info->crypt);
    return 0;
}

static int luks_resize(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err)
{
    if (size < bd->size && !allow_shrink)
        return verr_set(err, EINVAL, "shrinking '%s' would discard data; use --shrink to confirm",
                        bd->filename);
    int r = hostfile_truncate(&bd->file, L(bd)->payload + size, err);
    if (r == 0)
        bd->size = (size + SECTOR - 1) / SECTOR * SECTOR;
    return r;
}

static int luks_amend_keyslots(struct block_dev *bd, const struct block_keyslot_change *c,
                               struct verr *err)
{
    int r = encrypt_luks_amend(&L(bd)->v, c, err);
    if (r == 0)
        r = hostfile_flush(&bd->file, err);
    return r;
}

static int luks_create(const char *path, const struct block_create_opts *opts, struct verr *err)
{
    if (opts->backing_file)
        return verr_set(err, EINVAL, "could not create '%s': luks images have no backing file",
                        path);
    if (opts->encrypt.format)
        return verr_set(err, EINVAL, "%s: Invalid parameter 'encrypt.format'", path);
    if (opts->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, EINVAL, "%s: Invalid parameter 'metadata'", path);
    struct luks_create_params p;
    const char *pass;
    size_t plen;
    uint64_t payload;
    /* Everything that can be refused is refused before the file exists. */
    int r = encrypt_create_params(&opts->encrypt, LUKS_PFX, &p, err);
    if (r == 0)
        r = encrypt_passphrase(opts->secrets, opts->encrypt.key_secret, LUKS_PFX, &pass, &plen,
                               err);
    if (r == 0)
        r = luks_format_size(&p, &payload, err);
    if (r < 0)
        return r;
    struct hostfile hf;
    r = hostfile_create(&hf, path, err);
    if (r < 0)
        return r; /* the file may be someone else's: leave it */
    if (ftruncate(hf.fd, (off_t)(payload + opts->size)) < 0)
        r = verr_errno(err, errno, "could not resize '%s'", path);
    struct encrypt_luks v;
    struct luks_io io = {&hf, io_read, io_write, payload + opts->size};
    if (r == 0)
        r = encrypt_luks_create(&v, &io, &opts->encrypt, opts->secrets, LUKS_PFX, err);
    if (r == 0) {
        encrypt_luks_close(&v);
        if (opts->prealloc == BLOCK_PREALLOC_FALLOC)
            r = hostfile_allocate(&hf, payload, opts->size, err);
        else if (opts->prealloc == BLOCK_PREALLOC_FULL)
            r = hostfile_zero(&hf, payload, opts->size, false, err);
    }
    if (r == 0 && fsync(hf.fd) < 0)
        r = verr_errno(err, errno, "could not write '%s'", path);
    int cr = hostfile_close_checked(&hf, r == 0 ? err : NULL);
    if (r == 0)
        r = cr;
    if (r < 0)
        unlink(path);
    return r;
}

static int luks_measure(const struct block_create_opts *opts, struct block_dev *src,
                        struct block_measure *out, struct verr *err)
{
    struct luks_create_params p;
    uint64_t payload;
    const char *pass;
    size_t plen;
    int r = encrypt_create_params(&opts->encrypt, LUKS_PFX, &p, err);
    if (r == 0) /* as qemu-img, which asks for the passphrase here too */
        r = encrypt_passphrase(opts->secrets, opts->encrypt.key_secret, LUKS_PFX, &pass, &plen,
                               err);
    if (r == 0)
        r = luks_format_size(&p, &payload, err);
    if (r < 0)
        return r;
    uint64_t size = src ? block_size(src) : opts->size;
    /* Every payload byte is written (zeroes are ciphertext too). */
    out->required = out->fully_allocated = payload + size;
    return 0;
}

const struct block_driver block_driver_luks = {
    .name = "luks",
    .needs_lock = false,
    .passthrough_perms = true,
    .no_zero_init = true,
    .open = luks_open,
    .close = luks_close,
    .pread = luks_pread,
    .pwrite = luks_pwrite,
    .flush = luks_flush,
    .discard = luks_discard,
    .write_zeroes = luks_write_zeroes,
    .status = luks_status,
    .get_info = luks_get_info,
    .resize = luks_resize,
    .create = luks_create,
    .measure = luks_measure,
    .amend_keyslots = luks_amend_keyslots,
};
