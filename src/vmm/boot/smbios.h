/*
 * smbios.h - the SMBIOS tables pc and q35 hand their firmware through fw_cfg
 * (etc/smbios/smbios-tables and etc/smbios/smbios-anchor), built as QEMU 7.2
 * builds them (hw/smbios/smbios.c, for facts): type 0 only when -smbios type=0
 * gives a field (SeaBIOS and OVMF add their own otherwise), type 1 (system,
 * with the -uuid in SMBIOS's wire order), type 2 only when given, type 3
 * (chassis), type 4 per socket, type 11 when values are given, type 16, one
 * type 17 per 16 GiB of RAM, one type 19 per RAM range of the e820 map, type
 * 32 and the end-of-table type 127; handles as QEMU numbers them. The anchor
 * is the SMBIOS 2.8 32-bit entry point with its checksums and table address
 * left 0: the firmware places the tables and fills them in.
 *
 * -smbios parsing (smbios_parse_option) and the builder are pure functions of
 * their inputs (unit-tested, and fuzzed through -smbios file= structures); the
 * machine reads file= structures when it fills fw_cfg (smbios_load_files).
 */
#ifndef VIREO_VMM_BOOT_SMBIOS_H
#define VIREO_VMM_BOOT_SMBIOS_H

#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

#define SMBIOS_MAX_TYPE11 16
#define SMBIOS_MAX_FILES  8

/* What -smbios gave (strings owned, NULL when not given). */
struct smbios_config {
    struct {
        char *vendor, *version, *date;
        int major, minor; /* release=MAJOR.MINOR; -1: not given */
        bool uefi;
        bool given;
    } type0;
    struct {
        char *manufacturer, *product, *version, *serial, *sku, *family;
        bool have_uuid;
        uint8_t uuid[16]; /* RFC 4122 byte order, as -uuid */
    } type1;
    struct {
        char *manufacturer, *product, *version, *serial, *asset, *location;
        bool given;
    } type2;
    struct {
        char *manufacturer, *version, *serial, *asset, *sku;
    } type3;
    struct {
        char *sock_pfx, *manufacturer, *version, *serial, *asset, *part;
        unsigned max_speed, current_speed; /* MHz; 0: QEMU's 2000 */
    } type4;
    char *type11[SMBIOS_MAX_TYPE11];
    unsigned nr_type11;
    /* file=: whole structures, appended as they are; a type given by file is not built. The
     * paths are kept when parsing; smbios_load_files reads the bytes into files[]. */
    char *file_paths[SMBIOS_MAX_FILES];
    struct buf files[SMBIOS_MAX_FILES];
    unsigned nr_files;
};

/* The machine the tables describe. */
struct smbios_machine {
    const char *product; /* QEMU's machine description ("Standard PC (i440FX + PIIX, 1996)") */
    const char *version; /* the machine's full name ("pc-i440fx-7.2") */
    const uint8_t *uuid; /* 16 bytes (RFC 4122 order), or NULL for none */
    uint64_t ram_size;
    uint64_t ram_below_4g, ram_above_4g;
    unsigned sockets, cores, threads;
    uint32_t cpuid_version, cpuid_features; /* CPUID.1 EAX and EDX */
};

/* One -smbios ARG: type=N,key=value... or file=PATH (no I/O: the file is read by
 * smbios_load_files, which checks its structures). */
int smbios_parse_option(struct smbios_config *c, const char *arg, struct verr *err);
int smbios_load_files(struct smbios_config *c, struct verr *err);
void smbios_config_free(struct smbios_config *c);
/* Checks a blob of SMBIOS structures (header, formatted area, string set ending in two NULs,
 * repeated); fills *types (bit n: a structure of type n < 64 is there). */
int smbios_check_structures(const uint8_t *p, size_t len, uint64_t *types, struct verr *err);
/* Builds the structure table and the 31-byte 2.1/2.8 entry point. */
void smbios_build(const struct smbios_config *c, const struct smbios_machine *m, struct buf *tables,
                  struct buf *anchor);

#endif
