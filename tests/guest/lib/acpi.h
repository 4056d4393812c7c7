/*
 * ACPI and MP-table discovery and parsing for the test guest: finding the
 * RSDP (from the boot info or by scanning the BIOS area and the EBDA),
 * validating table checksums, walking the XSDT/RSDT, and summarising the
 * MADT and the Intel MP configuration table. The parsers read guest
 * physical memory directly (everything below 4 GiB is identity mapped) and
 * bound every length they use by the table's own length.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_MAX_TABLES 32
#define ACPI_MAX_CPUS   64
#define ACPI_MAX_IOAPIC 4
#define ACPI_MAX_ISO    16

/* Sum of len bytes at addr, mod 256 (0 for a valid ACPI/MP structure). */
uint8_t acpi_sum(uint64_t addr, uint64_t len);

/* Looks for "RSD PTR " on 16-byte boundaries in [start, start+len) with a
 * valid checksum; returns its address or 0. */
uint64_t acpi_scan_rsdp(uint64_t start, uint64_t len);
/* EBDA segment from the BIOS data area (0x40e), or 0. */
uint64_t acpi_ebda_base(void);
/* Scans the first KiB of the EBDA, then 0xE0000-0xFFFFF. */
uint64_t acpi_find_rsdp_by_scan(void);
/* Checks the RSDP signature, 20-byte checksum and (revision >= 2) the
 * extended checksum. */
bool acpi_rsdp_valid(uint64_t rsdp);

struct acpi_table_ref {
    char sig[5];
    uint64_t addr;
    uint32_t len;
    bool checksum_ok;
};

struct acpi_tables {
    uint64_t rsdp;
    uint8_t revision;
    bool use_xsdt;
    uint64_t root; /* XSDT or RSDT */
    uint32_t root_len;
    bool root_checksum_ok;
    unsigned count;
    bool truncated; /* more than ACPI_MAX_TABLES entries */
    struct acpi_table_ref tables[ACPI_MAX_TABLES];
    uint64_t dsdt; /* from the FADT (X_DSDT preferred) */
    uint32_t dsdt_len;
    bool dsdt_checksum_ok;
};

/* Walks the root table of a valid RSDP; returns false (with what failed
 * in why) if the root table is missing or malformed. */
bool acpi_load(struct acpi_tables *t, uint64_t rsdp, const char **why);
const struct acpi_table_ref *acpi_find(const struct acpi_tables *t, const char *sig);

/* FADT fields the tests use. */
struct acpi_gas {
    uint8_t space; /* 0 = system memory, 1 = system I/O */
    uint8_t bit_width, bit_offset, access_size;
    uint64_t addr;
};
struct fadt_info {
    uint32_t flags;
    bool reset_supported;
    bool hw_reduced;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
};
void acpi_parse_fadt(const struct acpi_table_ref *fadt, struct fadt_info *out);

struct madt_info {
    uint64_t lapic_addr;
    unsigned lapic_entries; /* processor entries, enabled or not */
    unsigned cpus;          /* enabled processors */
    uint32_t apic_ids[ACPI_MAX_CPUS];
    unsigned ioapics;
    struct {
        uint8_t id;
        uint64_t addr;
        uint32_t gsi_base;
    } ioapic[ACPI_MAX_IOAPIC];
    unsigned overrides;
    struct {
        uint8_t bus, source;
        uint32_t gsi;
        uint16_t flags;
    } iso[ACPI_MAX_ISO];
    bool malformed; /* an entry ran past the table's end or had length < 2 */
};
void acpi_parse_madt(const struct acpi_table_ref *madt, struct madt_info *out);
/* GSI and polarity/trigger flags for an ISA IRQ, honouring overrides. */
uint32_t acpi_isa_irq_to_gsi(const struct madt_info *m, uint8_t irq, uint16_t *flags);

/* Intel MultiProcessor Specification 1.4 tables. */
struct mptable_info {
    uint64_t fps; /* floating pointer structure, 0 if not found */
    bool fps_checksum_ok;
    uint8_t spec_rev;
    uint64_t config; /* configuration table, 0 if none */
    bool config_sig_ok;
    bool config_checksum_ok;
    bool ext_checksum_ok;
    uint16_t base_len;
    unsigned entries;
    unsigned procs; /* processor entries, enabled or not */
    uint8_t proc_flags[ACPI_MAX_CPUS];
    uint8_t proc_ids[ACPI_MAX_CPUS];
    unsigned cpus;      /* enabled processor entries */
    unsigned bsp_count; /* entries flagged BP */
    uint32_t bsp_apic_id;
    uint32_t apic_ids[ACPI_MAX_CPUS];
    unsigned ioapics;
    uint64_t lapic_addr;
    bool malformed;
};
/* Scans the EBDA's first KiB, the last KiB of base memory and
 * 0xF0000-0xFFFFF, then parses what it found. */
void mptable_find(struct mptable_info *out);

#endif
