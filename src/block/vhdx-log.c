/*
 * vhdx-log.c - replaying the log of a VHDX image that was not closed
 * cleanly (the current header names a log GUID), as the specification's
 * section 2.3 describes and as qemu does on a writable open.
 *
 * The log is a circular buffer of entries, each a 64-byte header ("loge",
 * checksum, length, tail, sequence number, descriptor count, the log GUID,
 * the flushed and last file offsets), 32-byte descriptors ("desc": 4 KiB of
 * data for a file offset; "zero": a range to zero) filling the first 4 KiB
 * sectors, then one "data" sector per data descriptor. The active sequence
 * is found from the valid entry with the highest sequence number (its head)
 * by following entries from the head's tail; every entry on the way must be
 * valid and numbered one after the other. Then each entry's descriptors are
 * applied in order, the file is extended to the head's last file offset, and
 * the log GUID is cleared.
 *
 * The log comes from a file that may be hostile: its size is bounded, every
 * entry is checked (signature, checksum, lengths, GUID, counts, sequence
 * numbers in descriptors and data sectors) before anything is written, and
 * writes may only land past the first MiB and outside the log itself.
 */
#include "util/bytes.h"
#include "block/vhdx.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX      (256 * VHDX_MiB)
#define DESC_SIZE    32u
#define ENTRY_HEADER 64u

struct entry {
    uint64_t pos, len, tail, seq, last_file_offset;
    uint32_t ndesc;
};

/* Copies n bytes at circular position pos of the log. */
static void copy_out(uint8_t *dst, const uint8_t *log, uint64_t len, uint64_t pos, size_t n)
{
    for (size_t done = 0; done < n;) {
        uint64_t p = (pos + done) % len;
        size_t k = len - p < n - done ? (size_t)(len - p) : n - done;
        memcpy(dst + done, log + p, k);
        done += k;
    }
}

static bool parse_entry(const struct vhdx *v, const uint8_t *log, uint64_t len, uint64_t pos,
                        struct entry *e)
{
    uint8_t h[ENTRY_HEADER];
    copy_out(h, log, len, pos, sizeof(h));
    if (memcmp(h, "loge", 4) != 0)
        return false;
    e->pos = pos;
    e->len = get_le32(h + 8);
    e->tail = get_le32(h + 12);
    e->seq = get_le64(h + 16);
    e->ndesc = get_le32(h + 24);
    e->last_file_offset = get_le64(h + 56);
    if (e->len < VHDX_LOG_SECTOR || e->len % VHDX_LOG_SECTOR || e->len > len)
        return false;
    if (e->tail >= len || e->tail % VHDX_LOG_SECTOR)
        return false;
    if (memcmp(h + 32, v->header + VH_LOG_GUID, 16) != 0)
        return false;
    uint64_t desc_sectors =
        (ENTRY_HEADER + (uint64_t)e->ndesc * DESC_SIZE + VHDX_LOG_SECTOR - 1) / VHDX_LOG_SECTOR;
    if (desc_sectors > e->len / VHDX_LOG_SECTOR)
        return false;
    uint8_t *buf = xmalloc(e->len);
    copy_out(buf, log, len, pos, e->len);
    bool ok = vhdx_checksum_ok(buf, e->len, 4);
    uint64_t data = 0;
    for (uint32_t i = 0; ok && i < e->ndesc; i++) {
        const uint8_t *d = buf + ENTRY_HEADER + (size_t)i * DESC_SIZE;
        if (memcmp(d, "desc", 4) == 0)
            data++;
        else if (memcmp(d, "zero", 4) != 0)
            ok = false;
        if (get_le64(d + 24) != e->seq)
            ok = false;
    }
    free(buf);
    return ok && desc_sectors + data == e->len / VHDX_LOG_SECTOR;
}

/* A target range inside the file's metadata or payload, never the headers,
 * the region tables or the log itself. */
static bool target_ok(const struct vhdx *v, uint64_t off, uint64_t n)
{
    if (off < VHDX_MiB || off + n < off || off % VHDX_LOG_SECTOR || n > VHDX_MAX_SIZE)
        return false;
    return off + n <= v->log_offset || off >= v->log_offset + v->log_length;
}

static int apply_entry(struct block_dev *bd, struct vhdx *v, const uint8_t *log, uint64_t len,
                       const struct entry *e, struct verr *err)
{
    uint8_t *buf = xmalloc(e->len);
    copy_out(buf, log, len, e->pos, e->len);
    uint64_t desc_sectors =
        (ENTRY_HEADER + (uint64_t)e->ndesc * DESC_SIZE + VHDX_LOG_SECTOR - 1) / VHDX_LOG_SECTOR;
    uint64_t data_index = 0;
    uint8_t sector[VHDX_LOG_SECTOR];
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < e->ndesc; i++) {
        const uint8_t *d = buf + ENTRY_HEADER + (size_t)i * DESC_SIZE;
        uint64_t off = get_le64(d + 16);
        if (memcmp(d, "zero", 4) == 0) {
            uint64_t n = get_le64(d + 8);
            if (n % VHDX_LOG_SECTOR || !target_ok(v, off, n)) {
                r = verr_set(err, EINVAL, "'%s': the VHDX log zeroes a range it may not touch",
                             bd->filename);
                break;
            }
            r = hostfile_zero(&bd->file, off, n, false, err);
            continue;
        }
        const uint8_t *ds = buf + (desc_sectors + data_index++) * VHDX_LOG_SECTOR;
        if (memcmp(ds, "data", 4) != 0 || get_le32(ds + 4) != (uint32_t)(e->seq >> 32) ||
            get_le32(ds + 4092) != (uint32_t)e->seq) {
            r = verr_set(err, EINVAL, "'%s': a VHDX log data sector does not match its entry",
                         bd->filename);
            break;
        }
        if (!target_ok(v, off, VHDX_LOG_SECTOR)) {
            r = verr_set(err, EINVAL, "'%s': the VHDX log writes where it may not", bd->filename);
            break;
        }
        memcpy(sector, d + 8, 8);         /* leading bytes */
        memcpy(sector + 8, ds + 8, 4084); /* the data */
        memcpy(sector + 4092, d + 4, 4);  /* trailing bytes */
        r = hostfile_pwrite(&bd->file, sector, sizeof(sector), off, err);
    }
    free(buf);
    return r;
}

int vhdx_log_replay(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    static const uint8_t zero_guid[16];
    if (memcmp(v->header + VH_LOG_GUID, zero_guid, 16) == 0)
        return 0;
    if (bd->read_only)
        return verr_set(err, EPERM,
                        "could not open '%s': VHDX image file '%s' opened read-only, but "
                        "contains a log that needs to be replayed (to replay the log, run: "
                        "vireo-img check -r all '%s')",
                        bd->filename, bd->filename, bd->filename);
    uint64_t len = v->log_length;
    if (len > LOG_MAX)
        return block_open_error(err, bd->filename, "the VHDX log (%llu bytes) is too large",
                                (unsigned long long)len);
    uint8_t *log = xmalloc(len);
    int r = hostfile_pread(&bd->file, log, len, v->log_offset, err);
    if (r < 0) {
        free(log);
        return r;
    }
    /* Every valid entry, and the head: the one numbered highest. */
    size_t nvalid = 0;
    struct entry head = {0};
    for (uint64_t pos = 0; pos < len; pos += VHDX_LOG_SECTOR) {
        struct entry e;
        if (!parse_entry(v, log, len, pos, &e))
            continue;
        if (nvalid++ == 0 || e.seq > head.seq)
            head = e;
    }
    if (nvalid == 0) {
        free(log);
        return block_open_error(err, bd->filename,
                                "the VHDX header names a log, but the log holds no valid entry");
    }
    /* The active sequence: from the head's tail to the head. */
    struct entry *seq = xcalloc(nvalid, sizeof(*seq));
    size_t n = 0;
    uint64_t pos = head.tail;
    for (;;) {
        struct entry e;
        if (n >= nvalid || !parse_entry(v, log, len, pos, &e) ||
            (n > 0 && e.seq != seq[n - 1].seq + 1) || e.seq > head.seq) {
            free(seq);
            free(log);
            return block_open_error(err, bd->filename,
                                    "the VHDX log is corrupt: no valid sequence of entries from "
                                    "its tail to its head");
        }
        seq[n++] = e;
        if (e.pos == head.pos)
            break;
        pos = (pos + e.len) % len;
    }
    for (size_t i = 0; r == 0 && i < n; i++)
        r = apply_entry(bd, v, log, len, &seq[i], err);
    free(seq);
    free(log);
    if (r == 0) {
        uint64_t flen;
        r = hostfile_length(&bd->file, &flen, err);
        if (r == 0 && flen < head.last_file_offset && head.last_file_offset <= VHDX_MAX_SIZE * 2)
            r = hostfile_truncate(&bd->file, head.last_file_offset, err);
    }
    if (r == 0)
        r = hostfile_flush(&bd->file, err);
    if (r < 0)
        return r;
    memset(v->header + VH_LOG_GUID, 0, 16);
    r = vhdx_update_headers(bd, v, err);
    if (r == 0)
        v->log_replayed = true;
    return r;
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as the
 * specification uses it; the table is the polynomial's byte remainders. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u,
    0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u,
    0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu, 0xd7c45070u,
    0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
    0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u,
    0x33ed7d2au, 0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u,
    0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
    0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au, 0x7da08661u, 0x8fcb0562u, 0x9c9bf696u,
    0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u,
    0x67dafa54u, 0x95b17957u, 0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu,
    0xfe53516fu, 0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu,
    0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u, 0x61c69362u, 0x93ad1061u,
    0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu,
    0x197448aeu, 0x0a24bb5au, 0xf84f3859u, 0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
    0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u,
    0xa55230e6u, 0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u,
    0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
    0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu, 0x92a8fc17u, 0x60c37f14u, 0x73938ce0u,
    0x81f80fe3u, 0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu,
    0xf94ad42fu, 0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u,
    0x502036a5u, 0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u,
    0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du, 0x758fe5d6u, 0x87e466d5u,
    0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u,
    0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
    0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu,
    0x5a048dffu, 0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u, 0x590ab964u,
    0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
    0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u,
    0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u,
    0x4f48173du, 0xbd23943eu, 0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au,
    0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t vhdx_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len--)
        crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

bool vhdx_checksum_ok(const uint8_t *buf, size_t len, size_t crc_off)
{
    static const uint8_t zero[4];
    uint32_t crc = vhdx_crc32c(0xffffffffu, buf, crc_off);
    crc = vhdx_crc32c(crc, zero, 4);
    crc = vhdx_crc32c(crc, buf + crc_off + 4, len - crc_off - 4);
    return ~crc == get_le32(buf + crc_off);
}

void vhdx_checksum_set(uint8_t *buf, size_t len, size_t crc_off)
{
    put_le32(buf + crc_off, 0);
    put_le32(buf + crc_off, ~vhdx_crc32c(0xffffffffu, buf, len));
}
