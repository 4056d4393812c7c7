/*
 * test-smbios.c - the SMBIOS tables of pc and q35 (vmm/boot/smbios.c): -smbios parsing and
 * its refusals; the default structures QEMU 7.2 makes (types, handles, lengths, the anchor's
 * counts); and the stock dmidecode reading a dump of them (entry point + table, as
 * dmidecode --dump-bin lays it out), so the strings, the UUID's byte order and the memory
 * sizes are checked by the tool a guest would use.
 */
#include "../tap.h"
#include "util/buf.h"
#include "vmm/boot/smbios.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t UUID[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

static const struct smbios_machine PC = {
    .product = "Standard PC (i440FX + PIIX, 1996)",
    .version = "pc-i440fx-7.2",
    .uuid = UUID,
    .ram_size = 128u << 20,
    .ram_below_4g = 128u << 20,
    .sockets = 2,
    .cores = 1,
    .threads = 1,
    .cpuid_version = 0x663,
    .cpuid_features = 0x0781abfd,
};

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* dmidecode's output for the dump of tables + anchor, malloc'd, its line ends made "|"
 * so that a failed check's name stays one TAP line. */
static char *dmidecode(const struct buf *tables, const struct buf *anchor, const char *args)
{
    char path[] = "/tmp/vireo-smbios-XXXXXX";
    int fd = mkstemp(path);
    uint8_t ep[32] = {0};
    memcpy(ep, anchor->data, 31);
    ep[24] = 32; /* table address: right after the entry point, as --dump-bin writes */
    ep[21] = (uint8_t)-sum(ep + 16, 15);
    ep[4] = (uint8_t)-sum(ep, 31);
    if (fd < 0 || write(fd, ep, 32) != 32 ||
        write(fd, tables->data, tables->len) != (ssize_t)tables->len)
        abort();
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "dmidecode --from-dump %s %s 2>&1", path, args);
    FILE *p = popen(cmd, "r");
    struct buf out = BUF_INIT;
    char chunk[4096];
    size_t n;
    while (p && (n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        buf_append(&out, chunk, n);
    if (p)
        pclose(p);
    unlink(path);
    buf_append(&out, "", 1);
    size_t len;
    char *text = buf_detach(&out, &len);
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = *c == '\n' ? '|' : ' ';
    return text;
}

/* The types of the structures in order, as "1 3 4 ..." */
static void types_of(const struct buf *t, char *out, size_t size)
{
    const uint8_t *p = (const uint8_t *)t->data;
    size_t off = 0, n = 0;
    out[0] = 0;
    while (off + 4 <= t->len) {
        n += (size_t)snprintf(out + n, size - n, "%s%u/%x", n ? " " : "", p[off],
                              p[off + 2] | p[off + 3] << 8);
        size_t s = off + p[off + 1];
        while (s + 1 < t->len && !(p[s] == 0 && p[s + 1] == 0))
            s++;
        off = s + 2;
    }
}

int main(void)
{
    struct smbios_config c = {0};
    struct verr err = {0};
    struct buf t = BUF_INIT, a = BUF_INIT;
    char types[512];

    /* Defaults: QEMU 7.2's set for a 2-socket pc with 128 MiB. */
    smbios_build(&c, &PC, &t, &a);
    types_of(&t, types, sizeof(types));
    is_str(types, "1/100 3/300 4/400 4/401 16/1000 17/1100 19/1300 32/2000 127/7f00",
           "default structures and handles");
    uint64_t present;
    is_int(smbios_check_structures((const uint8_t *)t.data, t.len, &present, &err), 0,
           "the table is well formed");
    const uint8_t *ep = (const uint8_t *)a.data;
    ok(a.len == 31 && !memcmp(ep, "_SM_", 4) && ep[5] == 31 && ep[6] == 2 && ep[7] == 8 &&
           !memcmp(ep + 16, "_DMI_", 5) && ep[30] == 0x28,
       "anchor: SMBIOS 2.8 32-bit entry point");
    is_int(ep[22] | ep[23] << 8, (long)t.len, "anchor: table length");
    is_int(ep[28] | ep[29] << 8, 9, "anchor: 9 structures");
    is_int(ep[4] | ep[21] | ep[24] | ep[25] | ep[26] | ep[27], 0,
           "anchor: checksums and address left to the firmware");
    const uint8_t *t1 = (const uint8_t *)t.data;
    ok(t1[1] == 27 && !memcmp(t1 + 8, "\x78\x56\x34\x12\xbc\x9a\xf0\xde\x11\x22", 10),
       "type 1: 27 bytes, UUID's first fields little-endian");

    char *out = dmidecode(&t, &a, "-t 1");
    ok(strstr(out, "Manufacturer: QEMU") &&
           strstr(out, "Product Name: Standard PC (i440FX + "
                       "PIIX, 1996)") &&
           strstr(out, "Version: pc-i440fx-7.2") &&
           strstr(out, "UUID: 12345678-9abc-def0-1122-334455667788") &&
           strstr(out, "Wake-up Type: Power Switch"),
       "dmidecode reads type 1 as QEMU's: %s", out);
    free(out);
    out = dmidecode(&t, &a, "-t 17 -t 16 -t 19 -t 4");
    ok(strstr(out, "Maximum Capacity: 128 MB") && strstr(out, "Size: 128 MB") &&
           strstr(out, "Locator: DIMM 0") && strstr(out, "Ending Address: 0x00007FFFFFF") &&
           strstr(out, "Socket Designation: CPU 0") && strstr(out, "Socket Designation: CPU 1") &&
           strstr(out, "Max Speed: 2000 MHz"),
       "dmidecode reads memory and processors: %s", out);
    free(out);
    buf_free(&t);
    buf_free(&a);

    /* -smbios fields. */
    is_int(smbios_parse_option(&c,
                               "type=0,vendor=Vireo,version=1.0,date=01/02/2026,"
                               "release=1.2,uefi=on",
                               &err),
           0, "type=0 with every field");
    is_int(smbios_parse_option(&c,
                               "type=1,manufacturer=Acme,product=Box,serial=S123,"
                               "uuid=00112233-4455-6677-8899-aabbccddeeff,sku=K,family=F",
                               &err),
           0, "type=1");
    is_int(smbios_parse_option(&c, "type=2,manufacturer=Board Co,location=Slot A", &err), 0,
           "type=2");
    is_int(smbios_parse_option(&c, "type=3,asset=A-1,,x", &err), 0, "type=3 (a doubled comma)");
    is_int(smbios_parse_option(&c, "type=4,sock_pfx=Sock,max-speed=3000", &err), 0, "type=4");
    is_int(smbios_parse_option(&c, "type=11,value=hello", &err), 0, "type=11");
    is_int(smbios_parse_option(&c, "type=11,value=world", &err), 0, "type=11 again");
    smbios_build(&c, &PC, &t, &a);
    types_of(&t, types, sizeof(types));
    is_str(types,
           "0/0 1/100 2/200 3/300 4/400 4/401 11/e00 16/1000 17/1100 19/1300 32/2000 127/7f00",
           "given types 0, 2 and 11 are built");
    out = dmidecode(&t, &a, "");
    ok(strstr(out, "Vendor: Vireo") && strstr(out, "BIOS Revision: 1.2") &&
           strstr(out, "UEFI is supported") && strstr(out, "Manufacturer: Acme") &&
           strstr(out, "Serial Number: S123") &&
           strstr(out, "UUID: 00112233-4455-6677-8899-aabbccddeeff") &&
           strstr(out, "SKU Number: K") && strstr(out, "Family: F") &&
           strstr(out, "Manufacturer: Board Co") && strstr(out, "Location In Chassis: Slot A") &&
           strstr(out, "Asset Tag: A-1,x") && strstr(out, "Socket Designation: Sock 1") &&
           strstr(out, "Max Speed: 3000 MHz") && strstr(out, "String 1: hello") &&
           strstr(out, "String 2: world") && !strstr(out, "Invalid") && !strstr(out, "Wrong"),
       "dmidecode reads every given field: %s", out);
    free(out);
    buf_free(&t);
    buf_free(&a);

    /* file=: a structure of its own replaces the built one of that type. */
    char path[] = "/tmp/vireo-smbios-file-XXXXXX";
    int fd = mkstemp(path);
    static const uint8_t t1file[] = {1, 27, 0x34, 0x12, 1, 0,   0,   0,   0,   0, 0,
                                     0, 0,  0,    0,    0, 0,   0,   0,   0,   0, 0,
                                     0, 0,  6,    0,    0, 'F', 'i', 'l', 'e', 0, 0};
    if (fd < 0 || write(fd, t1file, sizeof(t1file)) != (ssize_t)sizeof(t1file))
        abort();
    close(fd);
    char arg[64];
    snprintf(arg, sizeof(arg), "file=%s", path);
    is_int(smbios_parse_option(&c, arg, &err), 0, "file= with a type 1 structure");
    is_int(smbios_load_files(&c, &err), 0, "file= read and checked");
    smbios_build(&c, &PC, &t, &a);
    types_of(&t, types, sizeof(types));
    is_str(types,
           "1/1234 0/0 2/200 3/300 4/400 4/401 11/e00 16/1000 17/1100 19/1300 32/2000 127/7f00",
           "file='s type 1 comes first and replaces the built one");
    buf_free(&t);
    buf_free(&a);
    smbios_config_free(&c);

    /* Refusals. */
    static const struct {
        const char *arg, *want;
    } bad[] = {
        {"type=17,speed=1", "Don't know how to build fields for SMBIOS type 17"},
        {"type=1,colour=red", "Invalid parameter 'colour'"},
        {"type=1,uuid=1234", "Invalid UUID"},
        {"type=0,release=x", "Invalid release"},
        {"type=x", "type=x is not a number"},
        {"vendor=x", "needs type= or file="},
        {"type=4,max-speed=70000", "max-speed=70000"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct smbios_config b = {0};
        struct verr e = {0};
        int r = smbios_parse_option(&b, bad[i].arg, &e);
        ok(r < 0 && strstr(verr_msg(&e), bad[i].want), "-smbios %s: %s", bad[i].arg, verr_msg(&e));
        smbios_config_free(&b);
    }
    {
        struct smbios_config b = {0};
        struct verr e = {0};
        int r = smbios_parse_option(&b, "file=/nonexistent/smbios.bin", &e);
        if (r == 0)
            r = smbios_load_files(&b, &e);
        ok(r < 0 && strstr(verr_msg(&e), "-smbios file=/nonexistent/smbios.bin"),
           "a missing file= is refused when read: %s", verr_msg(&e));
        smbios_config_free(&b);
    }
    static const uint8_t broken[][8] = {
        {1, 2, 0, 0, 0, 0, 0, 0},         /* length below 4 */
        {1, 9, 0, 0, 0, 0, 0, 0},         /* length past the end */
        {1, 4, 0, 0, 'a', 'b', 'c', 'd'}, /* strings never end */
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        struct verr e = {0};
        ok(smbios_check_structures(broken[i], 8, &present, &e) == -EINVAL,
           "broken structure %zu refused: %s", i, verr_msg(&e));
    }
    unlink(path);
    return tap_done();
}
