/*
 * smbios.c - SMBIOS tables for pc and q35 (see smbios.h).
 */
#include "vmm/boot/smbios.h"
#include "util/file.h"
#include "util/mem.h"
#include "vmm/boot/bytes.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QEMU's handles: one range per type. */
enum {
    T0_BASE = 0x000,
    T1_BASE = 0x100,
    T2_BASE = 0x200,
    T3_BASE = 0x300,
    T4_BASE = 0x400,
    T11_BASE = 0xe00,
    T16_BASE = 0x1000,
    T17_BASE = 0x1100,
    T19_BASE = 0x1300,
    T32_BASE = 0x2000,
    T127_BASE = 0x7f00,
};

#define DIMM_MAX      (16ull << 30) /* one type 17 per 16 GiB, as QEMU */
#define CPU_SPEED_MHZ 2000

/* --- parsing -smbios ---------------------------------------------------------------------- */

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = xstrdup(v);
}

/* A "key=value" item: value in *v when the key matches. */
static bool prop(const char *item, const char *key, const char **v)
{
    size_t n = strlen(key);
    if (strncmp(item, key, n) || item[n] != '=')
        return false;
    *v = item + n + 1;
    return true;
}

static int parse_uuid(const char *s, uint8_t out[16])
{
    static const int dash[] = {8, 13, 18, 23};
    if (strlen(s) != 36)
        return -1;
    unsigned k = 0;
    for (unsigned i = 0; i < 36; i++) {
        bool want_dash = i == (unsigned)dash[0] || i == (unsigned)dash[1] ||
                         i == (unsigned)dash[2] || i == (unsigned)dash[3];
        if (want_dash) {
            if (s[i] != '-')
                return -1;
            continue;
        }
        char ch = s[i];
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0)
            return -1;
        if (k % 2 == 0)
            out[k / 2] = (uint8_t)(v << 4);
        else
            out[k / 2] = (uint8_t)(out[k / 2] | v);
        k++;
    }
    return 0;
}

static int parse_speed(const char *v, unsigned *out)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || n > 0xffff)
        return -1;
    *out = (unsigned)n;
    return 0;
}

static int parse_file(struct smbios_config *c, const char *path, const char *arg, struct verr *err)
{
    if (c->nr_files >= SMBIOS_MAX_FILES)
        return verr_set(err, ENOSPC, "-smbios %s: at most %u files", arg, SMBIOS_MAX_FILES);
    c->file_paths[c->nr_files++] = xstrdup(path);
    return 0;
}

int smbios_load_files(struct smbios_config *c, struct verr *err)
{
    for (unsigned i = 0; i < c->nr_files; i++) {
        struct buf *b = &c->files[i];
        buf_free(b);
        int r = file_read_all(c->file_paths[i], 1u << 20, b, err);
        uint64_t types;
        if (r == 0)
            r = smbios_check_structures((const uint8_t *)b->data, b->len, &types, err);
        if (r < 0) {
            buf_free(b);
            return verr_prefix(err, "-smbios file=%s", c->file_paths[i]);
        }
    }
    return 0;
}

int smbios_parse_option(struct smbios_config *c, const char *arg, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy;
    int type = -1;
    int r = 0;
    /* type= may come anywhere: find it first. */
    for (char *it; (it = cli_next_item(&cur));) {
        const char *v;
        if (prop(it, "type", &v)) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 0 || n > 255) {
                r = verr_set(err, EINVAL, "-smbios %s: type=%s is not a number", arg, v);
                free(copy);
                return r;
            }
            type = (int)n;
        } else if (prop(it, "file", &v)) {
            r = parse_file(c, v, arg, err);
            free(copy);
            return r;
        }
    }
    free(copy);
    if (type < 0)
        return verr_set(err, EINVAL, "-smbios %s: needs type= or file=", arg);
    if (type != 0 && type != 1 && type != 2 && type != 3 && type != 4 && type != 11)
        return verr_set(err, ENOTSUP,
                        "-smbios %s: Don't know how to build fields for SMBIOS type %d "
                        "(vireo-vmm builds types 0, 1, 2, 3, 4 and 11)",
                        arg, type);
    /* A type 0 or type 2 option asks for that structure even without fields (QEMU). */
    if (type == 0)
        c->type0.given = true;
    if (type == 2)
        c->type2.given = true;
    copy = xstrdup(arg);
    cur = copy;
    for (char *it; r == 0 && (it = cli_next_item(&cur));) {
        const char *v;
        bool known = true;
        if (prop(it, "type", &v))
            continue;
        switch (type) {
        case 0:
            if (prop(it, "vendor", &v))
                set_str(&c->type0.vendor, v);
            else if (prop(it, "version", &v))
                set_str(&c->type0.version, v);
            else if (prop(it, "date", &v))
                set_str(&c->type0.date, v);
            else if (prop(it, "release", &v)) {
                unsigned maj, min;
                char tail;
                if (sscanf(v, "%u.%u%c", &maj, &min, &tail) != 2 || maj > 255 || min > 255)
                    r = verr_set(err, EINVAL,
                                 "-smbios %s: Invalid release (expected MAJOR.MINOR, each 0 to "
                                 "255)",
                                 arg);
                c->type0.major = (int)maj;
                c->type0.minor = (int)min;
            } else if (prop(it, "uefi", &v)) {
                if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
                    c->type0.uefi = true;
                else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
                    c->type0.uefi = false;
                else
                    r = verr_set(err, EINVAL, "-smbios %s: uefi=%s is not on/off", arg, v);
            } else
                known = false;
            break;
        case 1:
            if (prop(it, "manufacturer", &v))
                set_str(&c->type1.manufacturer, v);
            else if (prop(it, "product", &v))
                set_str(&c->type1.product, v);
            else if (prop(it, "version", &v))
                set_str(&c->type1.version, v);
            else if (prop(it, "serial", &v))
                set_str(&c->type1.serial, v);
            else if (prop(it, "sku", &v))
                set_str(&c->type1.sku, v);
            else if (prop(it, "family", &v))
                set_str(&c->type1.family, v);
            else if (prop(it, "uuid", &v)) {
                if (parse_uuid(v, c->type1.uuid) < 0)
                    r = verr_set(err, EINVAL, "-smbios %s: Invalid UUID", arg);
                c->type1.have_uuid = true;
            } else
                known = false;
            break;
        case 2:
            if (prop(it, "manufacturer", &v))
                set_str(&c->type2.manufacturer, v);
            else if (prop(it, "product", &v))
                set_str(&c->type2.product, v);
            else if (prop(it, "version", &v))
                set_str(&c->type2.version, v);
            else if (prop(it, "serial", &v))
                set_str(&c->type2.serial, v);
            else if (prop(it, "asset", &v))
                set_str(&c->type2.asset, v);
            else if (prop(it, "location", &v))
                set_str(&c->type2.location, v);
            else
                known = false;
            break;
        case 3:
            if (prop(it, "manufacturer", &v))
                set_str(&c->type3.manufacturer, v);
            else if (prop(it, "version", &v))
                set_str(&c->type3.version, v);
            else if (prop(it, "serial", &v))
                set_str(&c->type3.serial, v);
            else if (prop(it, "asset", &v))
                set_str(&c->type3.asset, v);
            else if (prop(it, "sku", &v))
                set_str(&c->type3.sku, v);
            else
                known = false;
            break;
        case 4:
            if (prop(it, "sock_pfx", &v))
                set_str(&c->type4.sock_pfx, v);
            else if (prop(it, "manufacturer", &v))
                set_str(&c->type4.manufacturer, v);
            else if (prop(it, "version", &v))
                set_str(&c->type4.version, v);
            else if (prop(it, "serial", &v))
                set_str(&c->type4.serial, v);
            else if (prop(it, "asset", &v))
                set_str(&c->type4.asset, v);
            else if (prop(it, "part", &v))
                set_str(&c->type4.part, v);
            else if (prop(it, "max-speed", &v)) {
                if (parse_speed(v, &c->type4.max_speed) < 0)
                    r = verr_set(err, EINVAL, "-smbios %s: max-speed=%s: 0 to 65535 MHz", arg, v);
            } else if (prop(it, "current-speed", &v)) {
                if (parse_speed(v, &c->type4.current_speed) < 0)
                    r = verr_set(err, EINVAL, "-smbios %s: current-speed=%s: 0 to 65535 MHz", arg,
                                 v);
            } else
                known = false;
            break;
        case 11:
            if (prop(it, "value", &v)) {
                if (c->nr_type11 >= SMBIOS_MAX_TYPE11)
                    r = verr_set(err, ENOSPC, "-smbios %s: at most %u type 11 strings", arg,
                                 SMBIOS_MAX_TYPE11);
                else
                    c->type11[c->nr_type11++] = xstrdup(v);
            } else
                known = false;
            break;
        }
        if (r == 0 && !known)
            r = verr_set(err, EINVAL, "-smbios %s: Invalid parameter '%.*s'", arg,
                         (int)strcspn(it, "="), it);
    }
    free(copy);
    return r;
}

void smbios_config_free(struct smbios_config *c)
{
    char **strs[] = {
        &c->type0.vendor,   &c->type0.version,      &c->type0.date,     &c->type1.manufacturer,
        &c->type1.product,  &c->type1.version,      &c->type1.serial,   &c->type1.sku,
        &c->type1.family,   &c->type2.manufacturer, &c->type2.product,  &c->type2.version,
        &c->type2.serial,   &c->type2.asset,        &c->type2.location, &c->type3.manufacturer,
        &c->type3.version,  &c->type3.serial,       &c->type3.asset,    &c->type3.sku,
        &c->type4.sock_pfx, &c->type4.manufacturer, &c->type4.version,  &c->type4.serial,
        &c->type4.asset,    &c->type4.part,
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (unsigned i = 0; i < c->nr_type11; i++)
        free(c->type11[i]);
    for (unsigned i = 0; i < c->nr_files; i++) {
        buf_free(&c->files[i]);
        free(c->file_paths[i]);
    }
    memset(c, 0, sizeof(*c));
}

int smbios_check_structures(const uint8_t *p, size_t len, uint64_t *types, struct verr *err)
{
    *types = 0;
    size_t off = 0;
    if (len == 0)
        return verr_set(err, EINVAL, "no SMBIOS structure in it");
    while (off < len) {
        if (len - off < 4)
            return verr_set(err, EINVAL, "a structure header is cut short at byte %zu", off);
        uint8_t type = p[off], hlen = p[off + 1];
        if (hlen < 4 || hlen > len - off)
            return verr_set(err, EINVAL, "structure at byte %zu (type %u) has a bad length %u", off,
                            type, hlen);
        size_t s = off + hlen;
        /* The string set ends with two NULs (just two when there are no strings). */
        while (s + 1 < len && !(p[s] == 0 && p[s + 1] == 0))
            s++;
        if (s + 1 >= len)
            return verr_set(err, EINVAL,
                            "structure at byte %zu (type %u): its strings do not end with two "
                            "NULs",
                            off, type);
        if (type < 64)
            *types |= 1ull << type;
        off = s + 2;
    }
    return 0;
}

/* --- building the tables ----------------------------------------------------------------- */

struct builder {
    struct buf *out;
    size_t start;    /* where the structure being built begins */
    unsigned nstr;   /* strings so far in it */
    unsigned count;  /* structures */
    size_t max_size; /* the largest structure */
    uint64_t skip;   /* types given by file= */
};

/* Starts a structure of the formatted length len (zero-filled); its offset in out. */
static size_t begin(struct builder *b, uint8_t type, uint8_t len, uint16_t handle)
{
    b->start = b->out->len;
    b->nstr = 0;
    uint8_t zero[256] = {0};
    buf_append(b->out, zero, len);
    uint8_t *p = (uint8_t *)b->out->data + b->start;
    p[0] = type;
    p[1] = len;
    put16(p + 2, handle);
    return b->start;
}

static uint8_t *at(struct builder *b, size_t field)
{
    return (uint8_t *)b->out->data + b->start + field;
}

/* A string field: its number, or 0 for none (an absent or empty value, as QEMU). */
static void str(struct builder *b, size_t field, const char *v)
{
    if (!v || !*v) {
        *at(b, field) = 0;
        return;
    }
    buf_append(b->out, v, strlen(v) + 1);
    *at(b, field) = (uint8_t)++b->nstr;
}

static void end(struct builder *b)
{
    static const uint8_t zeros[2] = {0, 0};
    buf_append(b->out, zeros, b->nstr ? 1 : 2);
    size_t size = b->out->len - b->start;
    if (size > b->max_size)
        b->max_size = size;
    b->count++;
}

static const char * or (const char *v, const char *dflt)
{
    return v ? v : dflt;
}

static void type0(struct builder *b, const struct smbios_config *c)
{
    if (!c->type0.given || (b->skip & 1))
        return;
    begin(b, 0, 24, T0_BASE);
    str(b, 4, c->type0.vendor);
    str(b, 5, c->type0.version);
    put16(at(b, 6), 0xe800); /* BIOS starting segment, SeaBIOS's */
    str(b, 8, c->type0.date);
    *at(b, 9) = 0;                                             /* ROM size: SeaBIOS's 0 */
    put64(at(b, 10), 0x08);                                    /* characteristics not supported */
    *at(b, 18) = 0;                                            /* extension byte 1 */
    *at(b, 19) = (uint8_t)(0x14 | (c->type0.uefi ? 0x08 : 0)); /* TCD/SVVP, VM, UEFI */
    *at(b, 20) = (uint8_t)(c->type0.major >= 0 ? c->type0.major : 0);
    *at(b, 21) = (uint8_t)(c->type0.minor >= 0 ? c->type0.minor : 0);
    *at(b, 22) = 0xff; /* no embedded controller */
    *at(b, 23) = 0xff;
    end(b);
}

/* SMBIOS 2.6+ stores the first three UUID fields little-endian. */
static void uuid_wire(const uint8_t in[16], uint8_t out[16])
{
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (unsigned i = 0; i < 16; i++)
        out[i] = in[order[i]];
}

static void type1(struct builder *b, const struct smbios_config *c, const struct smbios_machine *m)
{
    if (b->skip & (1u << 1))
        return;
    begin(b, 1, 27, T1_BASE);
    str(b, 4, or (c->type1.manufacturer, "QEMU"));
    str(b, 5, or (c->type1.product, m->product));
    str(b, 6, or (c->type1.version, m->version));
    str(b, 7, c->type1.serial);
    const uint8_t *u = c->type1.have_uuid ? c->type1.uuid : m->uuid;
    if (u)
        uuid_wire(u, at(b, 8));
    *at(b, 24) = 0x06; /* woken by the power switch */
    str(b, 25, c->type1.sku);
    str(b, 26, c->type1.family);
    end(b);
}

static void type2(struct builder *b, const struct smbios_config *c, const struct smbios_machine *m)
{
    if (!c->type2.given || (b->skip & (1u << 2)))
        return;
    begin(b, 2, 15, T2_BASE);
    str(b, 4, or (c->type2.manufacturer, "QEMU"));
    str(b, 5, or (c->type2.product, m->product));
    str(b, 6, or (c->type2.version, m->version));
    str(b, 7, c->type2.serial);
    str(b, 8, c->type2.asset);
    *at(b, 9) = 0x01; /* board features: a hosting board */
    str(b, 10, c->type2.location);
    put16(at(b, 11), T3_BASE); /* chassis handle: type 3 */
    *at(b, 13) = 0x0a;         /* motherboard */
    *at(b, 14) = 0;            /* no contained objects */
    end(b);
}

static void type3(struct builder *b, const struct smbios_config *c, const struct smbios_machine *m)
{
    if (b->skip & (1u << 3))
        return;
    begin(b, 3, 22, T3_BASE);
    str(b, 4, or (c->type3.manufacturer, "QEMU"));
    *at(b, 5) = 0x01; /* chassis type: other */
    str(b, 6, or (c->type3.version, m->version));
    str(b, 7, c->type3.serial);
    str(b, 8, c->type3.asset);
    *at(b, 9) = 0x03; /* boot-up, power supply, thermal states: safe */
    *at(b, 10) = 0x03;
    *at(b, 11) = 0x03;
    *at(b, 12) = 0x02; /* security: unknown */
    str(b, 21, c->type3.sku);
    end(b);
}

static void type4(struct builder *b, const struct smbios_config *c, const struct smbios_machine *m,
                  unsigned socket)
{
    char sock[64];
    snprintf(sock, sizeof(sock), "%s%2x", or (c->type4.sock_pfx, "CPU"), socket);
    begin(b, 4, 42, (uint16_t)(T4_BASE + socket));
    str(b, 4, sock);
    *at(b, 5) = 0x03; /* central processor */
    *at(b, 6) = 0x01; /* family: other */
    str(b, 7, or (c->type4.manufacturer, "QEMU"));
    put32(at(b, 8), m->cpuid_version);
    put32(at(b, 12), m->cpuid_features);
    str(b, 16, or (c->type4.version, m->version));
    put16(at(b, 20), c->type4.max_speed ? (uint16_t)c->type4.max_speed : CPU_SPEED_MHZ);
    put16(at(b, 22), c->type4.current_speed ? (uint16_t)c->type4.current_speed : CPU_SPEED_MHZ);
    *at(b, 24) = 0x41;        /* socket populated, CPU enabled */
    *at(b, 25) = 0x01;        /* upgrade: other */
    put16(at(b, 26), 0xffff); /* no cache handles */
    put16(at(b, 28), 0xffff);
    put16(at(b, 30), 0xffff);
    str(b, 32, c->type4.serial);
    str(b, 33, c->type4.asset);
    str(b, 34, c->type4.part);
    *at(b, 35) = (uint8_t)(m->cores > 255 ? 255 : m->cores);
    *at(b, 36) = *at(b, 35);
    *at(b, 37) = (uint8_t)(m->threads > 255 ? 255 : m->threads);
    put16(at(b, 38), 0x02); /* characteristics: unknown */
    put16(at(b, 40), 0x01); /* family 2: other */
    end(b);
}

static void type11(struct builder *b, const struct smbios_config *c)
{
    if (!c->nr_type11 || (b->skip & (1u << 11)))
        return;
    begin(b, 11, 5, T11_BASE);
    *at(b, 4) = (uint8_t)c->nr_type11;
    for (unsigned i = 0; i < c->nr_type11; i++) {
        const char *v = c->type11[i];
        buf_append(b->out, v, strlen(v) + 1);
        b->nstr++;
    }
    end(b);
}

static void memory_tables(struct builder *b, const struct smbios_machine *m)
{
    uint64_t kib = (m->ram_size + 1023) / 1024;
    unsigned dimms = (unsigned)((m->ram_size + DIMM_MAX - 1) / DIMM_MAX);
    if (!(b->skip & (1ull << 16))) {
        begin(b, 16, 23, T16_BASE);
        *at(b, 4) = 0x01; /* location: other */
        *at(b, 5) = 0x03; /* system memory */
        *at(b, 6) = 0x06; /* multi-bit ECC, as SeaBIOS says */
        if (kib < 0x80000000u) {
            put32(at(b, 7), (uint32_t)kib);
        } else {
            put32(at(b, 7), 0x80000000u);
            put64(at(b, 15), m->ram_size);
        }
        put16(at(b, 11), 0xfffe); /* no error information */
        put16(at(b, 13), (uint16_t)dimms);
        end(b);
    }
    for (unsigned i = 0; i < dimms && !(b->skip & (1ull << 17)); i++) {
        uint64_t size = m->ram_size - (uint64_t)i * DIMM_MAX;
        if (size > DIMM_MAX)
            size = DIMM_MAX;
        uint64_t mib = (size + (1u << 20) - 1) >> 20;
        char loc[32];
        snprintf(loc, sizeof(loc), "DIMM %u", i);
        begin(b, 17, 40, (uint16_t)(T17_BASE + i));
        put16(at(b, 4), T16_BASE);
        put16(at(b, 6), 0xfffe);
        put16(at(b, 8), 0xffff); /* widths unknown */
        put16(at(b, 10), 0xffff);
        if (mib < 0x7fff) {
            put16(at(b, 12), (uint16_t)mib);
        } else {
            put16(at(b, 12), 0x7fff);
            put32(at(b, 28), (uint32_t)mib);
        }
        *at(b, 14) = 0x09; /* DIMM */
        str(b, 16, loc);
        *at(b, 18) = 0x07;      /* RAM */
        put16(at(b, 19), 0x02); /* detail: other */
        str(b, 23, "QEMU");
        end(b);
    }
    struct {
        uint64_t start, size;
    } ranges[2] = {{0, m->ram_below_4g}, {1ull << 32, m->ram_above_4g}};
    unsigned n = 0;
    for (unsigned i = 0; i < 2 && !(b->skip & (1ull << 19)); i++) {
        if (!ranges[i].size)
            continue;
        uint64_t start_kib = ranges[i].start / 1024;
        uint64_t end_kib = (ranges[i].start + ranges[i].size - 1) / 1024;
        begin(b, 19, 31, (uint16_t)(T19_BASE + n++));
        if (start_kib < UINT32_MAX && end_kib < UINT32_MAX) {
            put32(at(b, 4), (uint32_t)start_kib);
            put32(at(b, 8), (uint32_t)end_kib);
        } else {
            put32(at(b, 4), UINT32_MAX);
            put32(at(b, 8), UINT32_MAX);
            put64(at(b, 15), ranges[i].start);
            put64(at(b, 23), ranges[i].start + ranges[i].size - 1);
        }
        put16(at(b, 12), T16_BASE);
        *at(b, 14) = 1; /* one device per row */
        end(b);
    }
}

void smbios_build(const struct smbios_config *c, const struct smbios_machine *m, struct buf *tables,
                  struct buf *anchor)
{
    struct builder b = {.out = tables};
    for (unsigned i = 0; i < c->nr_files; i++) {
        uint64_t types = 0;
        struct verr e = {0};
        smbios_check_structures((const uint8_t *)c->files[i].data, c->files[i].len, &types, &e);
        b.skip |= types;
    }
    /* QEMU puts file= structures first, then builds what they do not give. */
    for (unsigned i = 0; i < c->nr_files; i++) {
        const uint8_t *p = (const uint8_t *)c->files[i].data;
        size_t off = 0, len = c->files[i].len;
        while (off < len) { /* checked when parsed: each ends in two NULs */
            size_t s = off + p[off + 1];
            while (!(p[s] == 0 && p[s + 1] == 0))
                s++;
            size_t size = s + 2 - off;
            buf_append(tables, p + off, size);
            if (size > b.max_size)
                b.max_size = size;
            b.count++;
            off = s + 2;
        }
    }
    type0(&b, c);
    type1(&b, c, m);
    type2(&b, c, m);
    type3(&b, c, m);
    for (unsigned s = 0; s < m->sockets && !(b.skip & (1u << 4)); s++)
        type4(&b, c, m, s);
    type11(&b, c);
    memory_tables(&b, m);
    if (!(b.skip & (1ull << 32))) {
        begin(&b, 32, 11, T32_BASE); /* boot status: no errors */
        end(&b);
    }
    begin(&b, 127, 4, T127_BASE);
    end(&b);

    uint8_t ep[31] = {0};
    memcpy(ep, "_SM_", 4);
    ep[5] = 31;
    ep[6] = 2; /* SMBIOS 2.8 */
    ep[7] = 8;
    put16(ep + 8, (uint16_t)b.max_size);
    memcpy(ep + 16, "_DMI_", 5);
    put16(ep + 22, (uint16_t)tables->len);
    put16(ep + 28, (uint16_t)b.count);
    ep[30] = 0x28;
    buf_append(anchor, ep, sizeof(ep));
}
