/*
 * extract-vmlinux.c - writes the uncompressed vmlinux ELF held in a bzImage's
 * payload (setup header fields payload_offset/payload_length), so the tests
 * can boot a stock kernel through vireo-vmm's ELF path too.
 *
 * Formats: LZ4 legacy frames (Debian's kernels; decoded here, the block
 * format is small), gzip (zlib) and zstd (libzstd). Others are refused by
 * name. Usage: extract-vmlinux BZIMAGE OUT
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct out {
    uint8_t *data;
    size_t len, cap;
};

static int grow(struct out *o, size_t extra)
{
    if (o->len + extra <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 1 << 20;
    while (cap < o->len + extra)
        cap *= 2;
    uint8_t *d = realloc(o->data, cap);
    if (!d)
        return -1;
    o->data = d;
    o->cap = cap;
    return 0;
}

/* One LZ4 block (sequences of literals + back-references). */
static int lz4_block(const uint8_t *in, size_t len, struct out *o)
{
    size_t i = 0;
    while (i < len) {
        uint8_t token = in[i++];
        size_t lit = token >> 4;
        if (lit == 15) {
            uint8_t b;
            do {
                if (i >= len)
                    return -1;
                b = in[i++];
                lit += b;
            } while (b == 255);
        }
        if (lit > len - i || grow(o, lit) < 0)
            return -1;
        memcpy(o->data + o->len, in + i, lit);
        o->len += lit;
        i += lit;
        if (i == len)
            return 0; /* the last sequence has literals only */
        if (len - i < 2)
            return -1;
        size_t off = (size_t)in[i] | (size_t)in[i + 1] << 8;
        i += 2;
        size_t mlen = (token & 15u);
        if (mlen == 15) {
            uint8_t b;
            do {
                if (i >= len)
                    return -1;
                b = in[i++];
                mlen += b;
            } while (b == 255);
        }
        mlen += 4;
        if (off == 0 || off > o->len || grow(o, mlen) < 0)
            return -1;
        uint8_t *dst = o->data + o->len;
        const uint8_t *src = dst - off;
        for (size_t k = 0; k < mlen; k++)
            dst[k] = src[k]; /* overlapping copies repeat a pattern */
        o->len += mlen;
    }
    return 0;
}

static int lz4_legacy(const uint8_t *in, size_t len, struct out *o)
{
    size_t i = 4; /* magic */
    while (len - i >= 4) {
        uint32_t n = le32(in + i);
        if (n == 0x184c2102u) { /* a concatenated frame */
            i += 4;
            continue;
        }
        i += 4;
        if (n > len - i)
            break; /* the trailing 4-byte size the kernel build appends */
        if (lz4_block(in + i, n, o) < 0)
            return -1;
        i += n;
    }
    return 0;
}

static int gunzip(const uint8_t *in, size_t len, struct out *o)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    z.next_in = (uint8_t *)in;
    z.avail_in = (uInt)len;
    int r;
    do {
        if (grow(o, 1 << 20) < 0)
            break;
        z.next_out = o->data + o->len;
        z.avail_out = (uInt)(o->cap - o->len);
        r = inflate(&z, Z_NO_FLUSH);
        o->len = o->cap - z.avail_out;
    } while (r == Z_OK);
    inflateEnd(&z);
    return r == Z_STREAM_END ? 0 : -1;
}

static int unzstd(const uint8_t *in, size_t len, struct out *o)
{
    ZSTD_DStream *s = ZSTD_createDStream();
    ZSTD_inBuffer ib = {in, len, 0};
    size_t r = 1;
    while (ib.pos < ib.size && r != 0) {
        if (grow(o, 1 << 20) < 0)
            break;
        ZSTD_outBuffer ob = {o->data + o->len, o->cap - o->len, 0};
        r = ZSTD_decompressStream(s, &ob, &ib);
        o->len += ob.pos;
        if (ZSTD_isError(r))
            break;
    }
    ZSTD_freeDStream(s);
    return r == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: extract-vmlinux BZIMAGE OUT\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "extract-vmlinux: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)size);
    if (!d || fread(d, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "extract-vmlinux: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    if (size < 0x268 || memcmp(d + 0x202, "HdrS", 4) != 0 || (d[0x206] | d[0x207] << 8) < 0x208) {
        fprintf(stderr, "extract-vmlinux: %s: not a bzImage with boot protocol >= 2.08\n", argv[1]);
        return 1;
    }
    size_t setup = ((size_t)(d[0x1f1] ? d[0x1f1] : 4) + 1) * 512;
    size_t off = setup + le32(d + 0x248), plen = le32(d + 0x24c);
    if (off > (size_t)size || plen > (size_t)size - off || plen < 8) {
        fprintf(stderr, "extract-vmlinux: %s: payload outside the file\n", argv[1]);
        return 1;
    }
    const uint8_t *p = d + off;
    struct out o = {0};
    int r;
    const char *fmt;
    if (le32(p) == 0x184c2102u) {
        fmt = "lz4";
        r = lz4_legacy(p, plen, &o);
    } else if (p[0] == 0x1f && p[1] == 0x8b) {
        fmt = "gzip";
        r = gunzip(p, plen, &o);
    } else if (le32(p) == 0xfd2fb528u) {
        fmt = "zstd";
        r = unzstd(p, plen, &o);
    } else {
        fprintf(stderr,
                "extract-vmlinux: %s: unsupported payload compression (magic %02x%02x%02x%02x)\n",
                argv[1], p[0], p[1], p[2], p[3]);
        return 1;
    }
    if (r < 0 || o.len < 4 ||
        memcmp(o.data,
               "\x7f"
               "ELF",
               4) != 0) {
        fprintf(stderr, "extract-vmlinux: %s: %s payload did not decode to an ELF\n", argv[1], fmt);
        return 1;
    }
    FILE *w = fopen(argv[2], "wb");
    if (!w || fwrite(o.data, 1, o.len, w) != o.len || fclose(w) != 0) {
        fprintf(stderr, "extract-vmlinux: cannot write %s\n", argv[2]);
        return 1;
    }
    free(o.data);
    free(d);
    return 0;
}
