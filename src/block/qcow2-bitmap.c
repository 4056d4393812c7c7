/*
 * qcow2-bitmap.c - persistent dirty bitmaps (the qcow2 bitmaps extension).
 *
 * On disk: a header extension points at the bitmap directory; each entry
 * names a bitmap, its granularity and flags (in use, auto = enabled), and a
 * bitmap table whose entries point at clusters of bitmap data (0: a cluster
 * of zero bits). In memory: the directory, and for a bitmap that is being
 * used the whole bit array (one bit per granularity bytes: 2 MiB for 1 TiB
 * at 64 KiB), so marking a write is a few bit operations.
 *
 * Life cycle, as QEMU's: before the first change of data or of bitmaps in a
 * session the bitmaps are loaded and flagged in use on disk (one metadata
 * transaction, before any data is written); writes mark the enabled ones in
 * memory; qcow2_bitmaps_store writes every loaded bitmap to new clusters,
 * the directory without the in-use flags, and frees the old clusters, all
 * in one transaction. A writer killed in between leaves the bitmaps in use:
 * they are then inconsistent (listed with the in-use flag, kept as they are
 * on disk, usable only to be removed). Without the autoclear bit (written by
 * a program that did not know bitmaps) the extension is ignored and dropped
 * at the next header write, as QEMU does. The directory is untrusted input:
 * every field is checked at open and an image with a bad one is refused.
 */
#include "block/qcow2.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_FIXED 24

static uint64_t nbits_of(const struct qcow2 *q, unsigned gbits)
{
    return (q->size + (1ull << gbits) - 1) >> gbits;
}

static uint64_t nbytes_of(const struct qcow2 *q, unsigned gbits)
{
    return (nbits_of(q, gbits) + 7) / 8;
}

static uint32_t table_size_of(const struct qcow2 *q, unsigned gbits)
{
    return (uint32_t)((nbytes_of(q, gbits) + q->g.cluster_size - 1) >> q->g.cluster_bits);
}

void qcow2_bitmaps_free(struct qcow2 *q)
{
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        free(q->bms[i].name);
        free(q->bms[i].extra);
        free(q->bms[i].bits);
    }
    free(q->bms);
    q->bms = NULL;
    q->nb_bms = 0;
}

static int bad_dir(struct qcow2 *q, struct verr *err, const char *why, const char *name)
{
    return verr_set(err, EINVAL, "could not open '%s': invalid bitmap directory: %s%s%s%s",
                    q->bd->filename, why, name ? " (bitmap '" : "", name ? name : "",
                    name ? "')" : "");
}

int qcow2_bitmaps_load(struct qcow2 *q, uint64_t file_len, struct verr *err)
{
    qcow2_bitmaps_free(q);
    if (!q->bm_ext)
        return 0;
    if (!(q->autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
        /* Written by a program without bitmap support: inconsistent, dropped. */
        log_warn("'%s': a program lacking bitmap support modified this file, so all bitmaps "
                 "are now considered inconsistent",
                 q->bd->filename);
        q->bm_ext = false;
        return 0;
    }
    uint64_t cs = q->g.cluster_size;
    if (q->bm_dir_size > file_len || q->bm_dir_off > file_len - q->bm_dir_size)
        return bad_dir(q, err, "it lies outside the file", NULL);
    uint8_t *d = xmalloc(q->bm_dir_size ? q->bm_dir_size : 1);
    int r = hostfile_pread(q->f, d, q->bm_dir_size, q->bm_dir_off, err);
    if (r < 0) {
        free(d);
        return r;
    }
    q->bms = xcalloc(q->bm_ext_nb, sizeof(*q->bms));
    uint64_t p = 0;
    for (uint32_t i = 0; i < q->bm_ext_nb; i++) {
        if (q->bm_dir_size - p < ENTRY_FIXED) {
            r = bad_dir(q, err, "it is shorter than its entries", NULL);
            break;
        }
        const uint8_t *e = d + p;
        struct qcow2_bitmap *b = &q->bms[i];
        b->table_off = get_be64(e);
        b->table_size = get_be32(e + 8);
        b->flags = get_be32(e + 12);
        b->type = e[16];
        b->gbits = e[17];
        uint32_t name_len = get_be16(e + 18), extra = get_be32(e + 20);
        uint64_t len = ENTRY_FIXED + (uint64_t)extra + name_len;
        if (len > q->bm_dir_size - p) {
            r = bad_dir(q, err, "an entry runs past its end", NULL);
            break;
        }
        b->name = xstrndup((const char *)e + ENTRY_FIXED + extra, name_len);
        q->nb_bms = i + 1;
        if (extra) {
            b->extra = xmalloc(extra);
            memcpy(b->extra, e + ENTRY_FIXED, extra);
            b->extra_len = extra;
        }
        b->inconsistent = (b->flags & QCOW2_BM_IN_USE) != 0;
        const char *why = NULL;
        if (name_len == 0 || name_len > 1023 || strlen(b->name) != name_len)
            why = "bad name";
        else if (b->flags & ~7u)
            why = "reserved flags are set";
        else if (b->type != 1)
            why = "unknown type";
        else if (b->gbits < 9 || b->gbits > 31)
            why = "unsupported granularity";
        else if (extra && !(b->flags & QCOW2_BM_EXTRA_COMPAT))
            why = "unknown extra data";
        else if (b->table_off % cs || b->table_off < cs || (uint64_t)b->table_size * 8 > file_len ||
                 b->table_off > file_len - (uint64_t)b->table_size * 8)
            why = "bad table location";
        else if (!b->inconsistent && b->table_size != table_size_of(q, b->gbits))
            why = "table size does not match the disk size";
        for (uint32_t j = 0; !why && j < i; j++)
            if (strcmp(q->bms[j].name, b->name) == 0)
                why = "duplicate name";
        if (why) {
            r = bad_dir(q, err, why, b->name);
            break;
        }
        p += (len + 7) & ~7ull;
    }
    free(d);
    if (r == 0 && p != q->bm_dir_size)
        r = bad_dir(q, err, "its size does not match its entries", NULL);
    if (r < 0)
        qcow2_bitmaps_free(q);
    return r;
}

/* Reads a bitmap's table (table_size entries) after checking each entry. */
static int read_table(struct qcow2 *q, const struct qcow2_bitmap *b, uint64_t **out,
                      struct verr *err)
{
    uint64_t *t = xcalloc(b->table_size ? b->table_size : 1, 8);
    uint8_t *raw = xmalloc((size_t)b->table_size * 8 + 1);
    int r = hostfile_pread(q->f, raw, (size_t)b->table_size * 8, b->table_off, err);
    for (uint32_t i = 0; r == 0 && i < b->table_size; i++) {
        uint64_t e = get_be64(raw + (size_t)i * 8), off = e & QCOW2_OFFSET_MASK;
        if ((e & ~QCOW2_OFFSET_MASK & ~1ull) || (off && (e & 1)) ||
            (off && (off % q->g.cluster_size || off < q->g.cluster_size ||
                     !qcow2_in_file(q, off, q->g.cluster_size))))
            r = qcow2_corrupt(q, err, "bitmap '%s' has an invalid table entry %u", b->name, i);
        t[i] = e;
    }
    free(raw);
    if (r < 0) {
        free(t);
        return r;
    }
    *out = t;
    return 0;
}

static int load_bits(struct qcow2 *q, struct qcow2_bitmap *b, struct verr *err)
{
    if (b->bits)
        return 0;
    uint64_t n = nbytes_of(q, b->gbits), cs = q->g.cluster_size;
    uint8_t *bits = xcalloc(1, n ? n : 1);
    uint64_t *t;
    int r = read_table(q, b, &t, err);
    for (uint32_t i = 0; r == 0 && i < b->table_size && (uint64_t)i * cs < n; i++) {
        uint64_t len = n - (uint64_t)i * cs < cs ? n - (uint64_t)i * cs : cs;
        if (t[i] & QCOW2_OFFSET_MASK)
            r = hostfile_pread(q->f, bits + (uint64_t)i * cs, len, t[i] & QCOW2_OFFSET_MASK, err);
        else if (t[i] & 1)
            memset(bits + (uint64_t)i * cs, 0xff, len);
    }
    if (r == 0 && (nbits_of(q, b->gbits) & 7) && n)
        bits[n - 1] &= (uint8_t)((1u << (nbits_of(q, b->gbits) & 7)) - 1); /* tail bits unused */
    if (r == 0)
        free(t);
    if (r < 0) {
        free(bits);
        return r;
    }
    b->bits = bits;
    return 0;
}

static size_t dir_entry_len(const struct qcow2_bitmap *b)
{
    return (ENTRY_FIXED + b->extra_len + strlen(b->name) + 7) & ~(size_t)7;
}

/* Writes a new directory (inside a transaction) and frees the old one. */
static int write_dir(struct qcow2 *q, struct verr *err)
{
    uint64_t cs = q->g.cluster_size, len = 0, off = 0;
    for (uint32_t i = 0; i < q->nb_bms; i++)
        len += dir_entry_len(&q->bms[i]);
    int r = 0;
    if (len) {
        uint8_t *d = xcalloc(1, len);
        size_t p = 0;
        for (uint32_t i = 0; i < q->nb_bms; i++) {
            const struct qcow2_bitmap *b = &q->bms[i];
            uint8_t *e = d + p;
            size_t nl = strlen(b->name);
            put_be64(e, b->table_off);
            put_be32(e + 8, b->table_size);
            put_be32(e + 12, b->flags);
            e[16] = b->type;
            e[17] = b->gbits;
            put_be16(e + 18, (uint16_t)nl);
            put_be32(e + 20, b->extra_len);
            if (b->extra_len)
                memcpy(e + ENTRY_FIXED, b->extra, b->extra_len);
            memcpy(e + ENTRY_FIXED + b->extra_len, b->name, nl);
            p += dir_entry_len(b);
        }
        r = qcow2_alloc_clusters(q, (len + cs - 1) / cs, &off, err);
        if (r == 0)
            r = hostfile_pwrite(q->f, d, len, off, err);
        free(d);
    }
    if (r < 0)
        return r;
    if (q->bm_ext && q->bm_dir_size)
        qcow2_free_later(q, q->bm_dir_off, q->bm_dir_size);
    q->bm_dir_off = off;
    q->bm_dir_size = len;
    q->bm_ext = q->nb_bms > 0;
    q->bm_ext_nb = q->nb_bms;
    if (q->bm_ext)
        q->autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
    else
        q->autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
    return 0;
}

size_t qcow2_bitmaps_ext(const struct qcow2 *q, uint8_t *out)
{
    if (!q->bm_ext || !q->nb_bms)
        return 0;
    memset(out, 0, 24);
    put_be32(out, q->nb_bms);
    put_be64(out + 8, q->bm_dir_size);
    put_be64(out + 16, q->bm_dir_off);
    return 24;
}

int qcow2_bitmaps_claim(struct qcow2 *q, struct verr *err)
{
    if (q->bm_claimed || q->bm_storing || !q->nb_bms || q->bd->read_only)
        return 0;
    bool any = false;
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        struct qcow2_bitmap *b = &q->bms[i];
        if (b->inconsistent)
            continue;
        int r = load_bits(q, b, err);
        if (r < 0)
            return r;
        any = true;
    }
    if (!any)
        return 0;
    /* The flags go to disk in their own transaction, before any data. */
    q->bm_storing = true;
    int r = qcow2_txn_begin(q, err);
    if (r == 0) {
        for (uint32_t i = 0; i < q->nb_bms; i++)
            if (!q->bms[i].inconsistent)
                q->bms[i].flags |= QCOW2_BM_IN_USE;
        r = qcow2_txn_end(q, write_dir(q, err), err);
    }
    q->bm_storing = false;
    if (r == 0)
        q->bm_claimed = true;
    return r;
}

void qcow2_bitmaps_resized(struct qcow2 *q, uint64_t old_size)
{
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        struct qcow2_bitmap *b = &q->bms[i];
        if (!b->bits)
            continue;
        uint64_t on = (((old_size + (1ull << b->gbits) - 1) >> b->gbits) + 7) / 8;
        uint64_t nn = nbytes_of(q, b->gbits);
        b->bits = xrealloc(b->bits, nn ? nn : 1);
        if (nn > on)
            memset(b->bits + on, 0, nn - on);
        uint64_t nbits = nbits_of(q, b->gbits);
        if ((nbits & 7) && nn)
            b->bits[nn - 1] &= (uint8_t)((1u << (nbits & 7)) - 1);
    }
}

static void set_range(uint8_t *bits, uint64_t first, uint64_t last)
{
    for (uint64_t i = first; i <= last;) {
        if ((i & 7) == 0 && last - i >= 7) {
            uint64_t whole = (last + 1 - i) / 8;
            memset(bits + i / 8, 0xff, whole);
            i += whole * 8;
            continue;
        }
        bits[i / 8] |= (uint8_t)(1u << (i & 7));
        i++;
    }
}

int qcow2_bitmaps_mark(struct qcow2 *q, uint64_t off, uint64_t len, struct verr *err)
{
    if (!q->nb_bms || len == 0)
        return 0;
    bool enabled = false;
    for (uint32_t i = 0; i < q->nb_bms; i++)
        enabled |= !q->bms[i].inconsistent && (q->bms[i].flags & QCOW2_BM_AUTO);
    if (!enabled)
        return 0;
    int r = qcow2_bitmaps_claim(q, err);
    if (r < 0)
        return r;
    if (off >= q->size)
        return 0;
    if (len > q->size - off)
        len = q->size - off;
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        struct qcow2_bitmap *b = &q->bms[i];
        if (b->inconsistent || !(b->flags & QCOW2_BM_AUTO) || !b->bits)
            continue;
        set_range(b->bits, off >> b->gbits, (off + len - 1) >> b->gbits);
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Inside a transaction: frees a bitmap's table and data clusters. */
static int free_bitmap_clusters(struct qcow2 *q, const struct qcow2_bitmap *b, struct verr *err)
{
    if (!b->table_off || !b->table_size)
        return 0;
    uint64_t *t;
    int r = read_table(q, b, &t, err);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < b->table_size; i++)
        if (t[i] & QCOW2_OFFSET_MASK)
            qcow2_free_later(q, t[i] & QCOW2_OFFSET_MASK, q->g.cluster_size);
    free(t);
    qcow2_free_later(q, b->table_off, (uint64_t)b->table_size * 8);
    return 0;
}

/* Inside a transaction: writes a loaded bitmap's data and table to new
 * clusters, freeing the old ones. */
static int write_bitmap(struct qcow2 *q, struct qcow2_bitmap *b, struct verr *err)
{
    uint64_t cs = q->g.cluster_size, n = nbytes_of(q, b->gbits);
    uint32_t ts = table_size_of(q, b->gbits);
    int r = free_bitmap_clusters(q, b, err);
    if (r < 0)
        return r;
    uint8_t *tbl = xcalloc(ts ? ts : 1, 8);
    uint8_t *chunk = xcalloc(1, cs);
    for (uint32_t i = 0; r == 0 && i < ts; i++) {
        uint64_t len = n - (uint64_t)i * cs < cs ? n - (uint64_t)i * cs : cs;
        if (all_zero(b->bits + (uint64_t)i * cs, len))
            continue;
        uint64_t off;
        r = qcow2_alloc_clusters(q, 1, &off, err);
        if (r == 0) {
            memset(chunk, 0, cs);
            memcpy(chunk, b->bits + (uint64_t)i * cs, len);
            r = hostfile_pwrite(q->f, chunk, cs, off, err);
        }
        put_be64(tbl + (size_t)i * 8, off);
    }
    uint64_t toff = 0;
    if (r == 0 && ts) {
        r = qcow2_alloc_clusters(q, ((uint64_t)ts * 8 + cs - 1) / cs, &toff, err);
        if (r == 0)
            r = hostfile_pwrite(q->f, tbl, (size_t)ts * 8, toff, err);
    }
    free(chunk);
    free(tbl);
    if (r < 0)
        return r;
    b->table_off = toff;
    b->table_size = ts;
    return 0;
}

int qcow2_bitmaps_store(struct qcow2 *q, struct verr *err)
{
    if (!q->bm_claimed || q->bd->read_only)
        return 0;
    q->bm_storing = true;
    int r = qcow2_txn_begin(q, err);
    for (uint32_t i = 0; r == 0 && i < q->nb_bms; i++) {
        struct qcow2_bitmap *b = &q->bms[i];
        if (b->inconsistent || !b->bits)
            continue;
        r = write_bitmap(q, b, err);
        b->flags &= ~QCOW2_BM_IN_USE;
    }
    if (r == 0)
        r = write_dir(q, err);
    r = qcow2_txn_end(q, r, err);
    q->bm_storing = false;
    if (r == 0)
        q->bm_claimed = false;
    return r;
}

int qcow2_bitmaps_refs(struct qcow2 *q, qcow2_ref_fn fn, void *opaque, uint64_t *errors,
                       block_check_report_fn report, void *report_opaque, struct verr *err)
{
    (void)err;
    if (!q->bm_ext)
        return 0;
    if (q->bm_dir_size)
        fn(opaque, q->bm_dir_off, q->bm_dir_size);
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        const struct qcow2_bitmap *b = &q->bms[i];
        if (!b->table_size)
            continue;
        fn(opaque, b->table_off, (uint64_t)b->table_size * 8);
        uint64_t *t;
        struct verr e2;
        verr_clear(&e2);
        if (read_table(q, b, &t, &e2) < 0) {
            (*errors)++;
            if (report) {
                char line[300];
                snprintf(line, sizeof(line), "ERROR bitmap '%s': %s", b->name, verr_msg(&e2));
                report(report_opaque, line);
            }
            continue;
        }
        for (uint32_t j = 0; j < b->table_size; j++)
            if (t[j] & QCOW2_OFFSET_MASK)
                fn(opaque, t[j] & QCOW2_OFFSET_MASK, q->g.cluster_size);
        free(t);
    }
    return 0;
}

/* ---- block.h's operations -------------------------------------------- */

static struct qcow2_bitmap *find(struct qcow2 *q, const char *name)
{
    for (uint32_t i = 0; i < q->nb_bms; i++)
        if (strcmp(q->bms[i].name, name) == 0)
            return &q->bms[i];
    return NULL;
}

static uint64_t count_bits(const struct qcow2 *q, const struct qcow2_bitmap *b)
{
    uint64_t n = 0, bytes = nbytes_of(q, b->gbits);
    for (uint64_t i = 0; i < bytes; i++)
        n += (uint64_t)__builtin_popcount(b->bits[i]);
    return n;
}

int qcow2_bitmap_list(struct block_dev *bd, struct block_bitmap_info **out, size_t *n,
                      struct verr *err)
{
    struct qcow2 *q = bd->priv;
    (void)err;
    *out = q->nb_bms ? xcalloc(q->nb_bms, sizeof(**out)) : NULL;
    *n = q->nb_bms;
    for (uint32_t i = 0; i < q->nb_bms; i++) {
        struct qcow2_bitmap *b = &q->bms[i];
        struct block_bitmap_info *o = &(*out)[i];
        o->name = xstrdup(b->name);
        o->granularity = 1u << b->gbits;
        o->enabled = (b->flags & QCOW2_BM_AUTO) != 0;
        /* Ours are in use only while we hold them; what the file says is
         * what a reader of the file would see otherwise. */
        o->in_use = b->inconsistent;
        if (b->bits)
            o->count = count_bits(q, b) << b->gbits;
    }
    return 0;
}

int qcow2_bitmap_get(struct block_dev *bd, const char *name, uint8_t **bits, uint64_t *nbits,
                     uint32_t *granularity, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    struct qcow2_bitmap *b = find(q, name);
    if (!b)
        return verr_set(err, ENOENT, "Dirty bitmap '%s' not found", name);
    if (b->inconsistent)
        return verr_set(err, EINVAL, "Bitmap '%s' is inconsistent and cannot be used", name);
    int r = load_bits(q, b, err);
    if (r < 0)
        return r;
    uint64_t n = nbytes_of(q, b->gbits);
    *bits = xmalloc(n ? n : 1);
    memcpy(*bits, b->bits, n);
    *nbits = nbits_of(q, b->gbits);
    *granularity = 1u << b->gbits;
    return 0;
}

static const char *const op_names[] = {"add", "remove", "clear", "enable", "disable", "merge"};

/* "Operation clear on bitmap b0 failed: WHY", qemu-img's framing. */
static int op_fail(struct verr *err, int e, const struct block_bitmap_op *op, const char *fmt,
                   const char *arg)
{
    char why[512];
    snprintf(why, sizeof(why), fmt, arg);
    return verr_set(err, e, "Operation %s on bitmap %s failed: %s", op_names[op->action], op->name,
                    why);
}

int qcow2_bitmap_op(struct block_dev *bd, const struct block_bitmap_op *op, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    struct qcow2_bitmap *b = find(q, op->name);
    if (op->action == BLOCK_BITMAP_ADD) {
        uint32_t g = op->granularity;
        if (!g) {
            g = (uint32_t)q->g.cluster_size;
            g = g < 4096 ? 4096 : g > 65536 ? 65536 : g;
        }
        if (!*op->name)
            return op_fail(err, EINVAL, op, "Bitmap name cannot be empty", NULL);
        if (b)
            return op_fail(err, EEXIST, op, "Bitmap already exists: %s", op->name);
        if (g < 512 || (g & (g - 1)))
            return op_fail(err, EINVAL, op, "Granularity must be power of 2 and at least 512",
                           NULL);
        if (strlen(op->name) > 1023)
            return op_fail(err, EINVAL, op,
                           "Can't make bitmap '%s' persistent: Name length "
                           "exceeds maximum (1023 characters)",
                           op->name);
        if (q->version < 3)
            return op_fail(err, ENOTSUP, op,
                           "Can't make bitmap '%s' persistent: Cannot store dirty bitmaps in "
                           "qcow2 v2 files",
                           op->name);
        if (q->nb_bms >= QCOW2_MAX_BITMAPS)
            return op_fail(err, ENOSPC, op, "Too many persistent bitmaps", NULL);
    } else if (!b) {
        return op_fail(err, ENOENT, op, "Dirty bitmap '%s' not found", op->name);
    } else if (b->inconsistent && op->action != BLOCK_BITMAP_REMOVE) {
        return verr_set(err, EINVAL,
                        "Operation %s on bitmap %s failed: Bitmap '%s' is inconsistent and "
                        "cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap "
                        "from disk",
                        op_names[op->action], op->name, op->name);
    }
    if (op->action == BLOCK_BITMAP_MERGE && !op->src_bits)
        return op_fail(err, EINVAL, op, "no source bitmap", NULL);
    /* Every change goes through a claim and a store: in memory, then on
     * disk in one transaction with the in-use flags cleared again. */
    int r = qcow2_bitmaps_claim(q, err);
    if (r < 0)
        return r;
    b = find(q, op->name);
    switch (op->action) {
    case BLOCK_BITMAP_ADD: {
        uint32_t g = op->granularity;
        if (!g) {
            g = (uint32_t)q->g.cluster_size;
            g = g < 4096 ? 4096 : g > 65536 ? 65536 : g;
        }
        q->bms = xrealloc(q->bms, (q->nb_bms + 1) * sizeof(*q->bms));
        b = &q->bms[q->nb_bms++];
        memset(b, 0, sizeof(*b));
        b->name = xstrdup(op->name);
        b->type = 1;
        b->gbits = (uint8_t)__builtin_ctz(g);
        b->flags = (op->disabled ? 0 : QCOW2_BM_AUTO) | (q->bm_claimed ? QCOW2_BM_IN_USE : 0);
        uint64_t nb = nbytes_of(q, b->gbits);
        b->bits = xcalloc(1, nb ? nb : 1);
        q->bm_claimed = true; /* a store writes it */
        break;
    }
    case BLOCK_BITMAP_REMOVE: {
        /* Its clusters go in the store's transaction. */
        q->bm_storing = true;
        r = qcow2_txn_begin(q, err);
        q->bm_storing = false;
        if (r == 0)
            r = free_bitmap_clusters(q, b, err);
        if (r == 0) {
            free(b->name);
            free(b->extra);
            free(b->bits);
            memmove(b, b + 1, (size_t)(q->bms + q->nb_bms - (b + 1)) * sizeof(*b));
            q->nb_bms--;
            r = write_dir(q, err);
        }
        r = qcow2_txn_end(q, r, err);
        if (r < 0)
            return r;
        q->bm_claimed = q->bm_claimed && q->nb_bms;
        break;
    }
    case BLOCK_BITMAP_CLEAR:
        memset(b->bits, 0, nbytes_of(q, b->gbits));
        break;
    case BLOCK_BITMAP_ENABLE:
        b->flags |= QCOW2_BM_AUTO;
        break;
    case BLOCK_BITMAP_DISABLE:
        b->flags &= ~QCOW2_BM_AUTO;
        break;
    case BLOCK_BITMAP_MERGE: {
        /* Each source bit's range, at the destination's granularity. */
        uint64_t g = op->src_granularity;
        for (uint64_t i = 0; i < op->src_nbits; i++) {
            if (!((op->src_bits[i / 8] >> (i & 7)) & 1))
                continue;
            uint64_t off = i * g, len = g;
            if (off >= q->size)
                break;
            if (len > q->size - off)
                len = q->size - off;
            set_range(b->bits, off >> b->gbits, (off + len - 1) >> b->gbits);
        }
        break;
    }
    }
    return qcow2_bitmaps_store(q, err);
}
