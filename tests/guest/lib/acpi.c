/*
 * ACPI and MP table parsing (see acpi.h). Offsets are from the ACPI 6.x
 * specification (RSDP 5.2.5, FADT 5.2.9, MADT 5.2.12) and the Intel MP
 * Specification 1.4 (chapter 4), written as numbers next to their names.
 */
#include "acpi.h"
#include "libc.h"

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint16_t rd16(uint64_t a)
{
    return *(const volatile uint16_t *)(uintptr_t)a;
}

static uint32_t rd32(uint64_t a)
{
    return *(const volatile uint32_t *)(uintptr_t)a;
}

static uint64_t rd64(uint64_t a)
{
    return *(const volatile uint64_t *)(uintptr_t)a;
}

static bool sig_is(uint64_t a, const char *sig, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (rd8(a + i) != (uint8_t)sig[i])
            return false;
    }
    return true;
}

/* Physical addresses above the identity map (4 GiB) cannot be read. */
static bool addr_ok(uint64_t a, uint64_t len)
{
    return a != 0 && a < (4ull << 30) && len <= (4ull << 30) - a;
}

uint8_t acpi_sum(uint64_t addr, uint64_t len)
{
    uint8_t s = 0;
    for (uint64_t i = 0; i < len; i++)
        s = (uint8_t)(s + rd8(addr + i));
    return s;
}

bool acpi_rsdp_valid(uint64_t rsdp)
{
    if (!addr_ok(rsdp, 36) || !sig_is(rsdp, "RSD PTR ", 8))
        return false;
    if (acpi_sum(rsdp, 20) != 0)
        return false;
    if (rd8(rsdp + 15) >= 2) {
        uint32_t len = rd32(rsdp + 20);
        if (len < 36 || len > 4096 || acpi_sum(rsdp, len) != 0)
            return false;
    }
    return true;
}

uint64_t acpi_scan_rsdp(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 20 <= start + len; a += 16) {
        if (acpi_rsdp_valid(a))
            return a;
    }
    return 0;
}

uint64_t acpi_ebda_base(void)
{
    uint64_t ebda = (uint64_t)rd16(0x40e) << 4;
    /* Only believe a pointer into the last 128 KiB of base memory. */
    if (ebda < 0x80000 || ebda >= 0xa0000)
        return 0;
    return ebda;
}

uint64_t acpi_find_rsdp_by_scan(void)
{
    uint64_t ebda = acpi_ebda_base();
    uint64_t r = ebda ? acpi_scan_rsdp(ebda, 1024) : 0;
    if (!r)
        r = acpi_scan_rsdp(0xe0000, 0x20000);
    return r;
}

static void table_ref(struct acpi_table_ref *r, uint64_t addr)
{
    r->addr = addr;
    memset(r->sig, 0, sizeof(r->sig));
    r->len = 0;
    r->checksum_ok = false;
    if (!addr_ok(addr, 36))
        return;
    for (int i = 0; i < 4; i++)
        r->sig[i] = (char)rd8(addr + i);
    r->len = rd32(addr + 4);
    if (r->len >= 36 && addr_ok(addr, r->len) && r->len <= (16u << 20))
        r->checksum_ok = acpi_sum(addr, r->len) == 0;
}

bool acpi_load(struct acpi_tables *t, uint64_t rsdp, const char **why)
{
    memset(t, 0, sizeof(*t));
    t->rsdp = rsdp;
    if (!acpi_rsdp_valid(rsdp)) {
        *why = "RSDP signature or checksum bad";
        return false;
    }
    t->revision = rd8(rsdp + 15);
    uint64_t xsdt = t->revision >= 2 ? rd64(rsdp + 24) : 0;
    t->use_xsdt = xsdt != 0;
    t->root = t->use_xsdt ? xsdt : rd32(rsdp + 16);
    if (!addr_ok(t->root, 36)) {
        *why = "RSDP points to no root table";
        return false;
    }
    if (!sig_is(t->root, t->use_xsdt ? "XSDT" : "RSDT", 4)) {
        *why = t->use_xsdt ? "XSDT signature bad" : "RSDT signature bad";
        return false;
    }
    t->root_len = rd32(t->root + 4);
    if (t->root_len < 36 || t->root_len > 65536 || !addr_ok(t->root, t->root_len)) {
        *why = "root table length out of range";
        return false;
    }
    t->root_checksum_ok = acpi_sum(t->root, t->root_len) == 0;
    unsigned esize = t->use_xsdt ? 8 : 4;
    unsigned n = (t->root_len - 36) / esize;
    for (unsigned i = 0; i < n; i++) {
        if (t->count == ACPI_MAX_TABLES) {
            t->truncated = true;
            break;
        }
        uint64_t a = t->use_xsdt ? rd64(t->root + 36 + 8 * i) : rd32(t->root + 36 + 4 * i);
        table_ref(&t->tables[t->count++], a);
    }
    const struct acpi_table_ref *fadt = acpi_find(t, "FACP");
    if (fadt && fadt->len >= 44) {
        uint64_t dsdt = rd32(fadt->addr + 40);
        if (fadt->len >= 148 && rd64(fadt->addr + 140))
            dsdt = rd64(fadt->addr + 140);
        struct acpi_table_ref r;
        table_ref(&r, dsdt);
        if (memcmp(r.sig, "DSDT", 4) == 0) {
            t->dsdt = dsdt;
            t->dsdt_len = r.len;
            t->dsdt_checksum_ok = r.checksum_ok;
        }
    }
    return true;
}

const struct acpi_table_ref *acpi_find(const struct acpi_tables *t, const char *sig)
{
    for (unsigned i = 0; i < t->count; i++) {
        if (memcmp(t->tables[i].sig, sig, 4) == 0)
            return &t->tables[i];
    }
    return 0;
}

void acpi_parse_fadt(const struct acpi_table_ref *fadt, struct fadt_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!fadt || fadt->len < 116)
        return;
    out->flags = rd32(fadt->addr + 112);
    out->hw_reduced = (out->flags >> 20) & 1;
    out->reset_supported = (out->flags >> 10) & 1;
    if (fadt->len >= 129) {
        out->reset_reg.space = rd8(fadt->addr + 116);
        out->reset_reg.bit_width = rd8(fadt->addr + 117);
        out->reset_reg.bit_offset = rd8(fadt->addr + 118);
        out->reset_reg.access_size = rd8(fadt->addr + 119);
        out->reset_reg.addr = rd64(fadt->addr + 120);
        out->reset_value = rd8(fadt->addr + 128);
    }
}

void acpi_parse_madt(const struct acpi_table_ref *madt, struct madt_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!madt || madt->len < 44) {
        out->malformed = true;
        return;
    }
    out->lapic_addr = rd32(madt->addr + 36);
    uint64_t p = madt->addr + 44, end = madt->addr + madt->len;
    while (p + 2 <= end) {
        uint8_t type = rd8(p), len = rd8(p + 1);
        if (len < 2 || p + len > end) {
            out->malformed = true;
            break;
        }
        if (type == 0 && len >= 8) { /* processor local APIC */
            uint32_t flags = rd32(p + 4);
            out->lapic_entries++;
            if ((flags & 1) && out->cpus < ACPI_MAX_CPUS)
                out->apic_ids[out->cpus++] = rd8(p + 3);
        } else if (type == 9 && len >= 16) { /* processor local x2APIC */
            uint32_t flags = rd32(p + 8);
            out->lapic_entries++;
            if ((flags & 1) && out->cpus < ACPI_MAX_CPUS)
                out->apic_ids[out->cpus++] = rd32(p + 4);
        } else if (type == 1 && len >= 12 && out->ioapics < ACPI_MAX_IOAPIC) {
            out->ioapic[out->ioapics].id = rd8(p + 2);
            out->ioapic[out->ioapics].addr = rd32(p + 4);
            out->ioapic[out->ioapics].gsi_base = rd32(p + 8);
            out->ioapics++;
        } else if (type == 2 && len >= 10 && out->overrides < ACPI_MAX_ISO) {
            out->iso[out->overrides].bus = rd8(p + 2);
            out->iso[out->overrides].source = rd8(p + 3);
            out->iso[out->overrides].gsi = rd32(p + 4);
            out->iso[out->overrides].flags = rd16(p + 8);
            out->overrides++;
        } else if (type == 5 && len >= 12) { /* local APIC address override */
            out->lapic_addr = rd64(p + 4);
        }
        p += len;
    }
}

uint32_t acpi_isa_irq_to_gsi(const struct madt_info *m, uint8_t irq, uint16_t *flags)
{
    *flags = 0;
    for (unsigned i = 0; i < m->overrides; i++) {
        if (m->iso[i].bus == 0 && m->iso[i].source == irq) {
            *flags = m->iso[i].flags;
            return m->iso[i].gsi;
        }
    }
    return irq;
}

static uint64_t mp_scan(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 16 <= start + len; a += 16) {
        if (sig_is(a, "_MP_", 4))
            return a;
    }
    return 0;
}

static void mp_parse_config(struct mptable_info *m)
{
    uint64_t c = m->config;
    m->config_sig_ok = sig_is(c, "PCMP", 4);
    if (!m->config_sig_ok)
        return;
    m->base_len = rd16(c + 4);
    if (m->base_len < 44 || !addr_ok(c, m->base_len)) {
        m->malformed = true;
        return;
    }
    m->config_checksum_ok = acpi_sum(c, m->base_len) == 0;
    uint16_t ext_len = rd16(c + 40);
    uint8_t ext_sum = rd8(c + 42);
    m->ext_checksum_ok = (uint8_t)(acpi_sum(c + m->base_len, ext_len) + ext_sum) == 0;
    m->lapic_addr = rd32(c + 36);
    uint16_t count = rd16(c + 34);
    uint64_t p = c + 44, end = c + m->base_len;
    for (unsigned i = 0; i < count; i++) {
        if (p >= end) {
            m->malformed = true;
            return;
        }
        uint8_t type = rd8(p);
        unsigned len = type == 0 ? 20 : 8;
        if (type > 4 || p + len > end) {
            m->malformed = true;
            return;
        }
        if (type == 0) {
            uint8_t flags = rd8(p + 3);
            if (m->procs < ACPI_MAX_CPUS) {
                m->proc_ids[m->procs] = rd8(p + 1);
                m->proc_flags[m->procs++] = flags;
            }
            if ((flags & 1) && m->cpus < ACPI_MAX_CPUS)
                m->apic_ids[m->cpus++] = rd8(p + 1);
            if (flags & 2) {
                m->bsp_count++;
                m->bsp_apic_id = rd8(p + 1);
            }
        } else if (type == 2 && (rd8(p + 3) & 1)) {
            m->ioapics++;
        }
        m->entries++;
        p += len;
    }
}

void mptable_find(struct mptable_info *m)
{
    memset(m, 0, sizeof(*m));
    uint64_t ebda = acpi_ebda_base();
    uint64_t base_kib = rd16(0x413);
    uint64_t fps = ebda ? mp_scan(ebda, 1024) : 0;
    if (!fps && base_kib >= 512 && base_kib <= 640)
        fps = mp_scan(base_kib * 1024 - 1024, 1024);
    if (!fps)
        fps = mp_scan(0xf0000, 0x10000);
    if (!fps)
        return;
    m->fps = fps;
    unsigned len = rd8(fps + 8) * 16u;
    m->fps_checksum_ok = len >= 16 && acpi_sum(fps, len) == 0;
    m->spec_rev = rd8(fps + 9);
    m->config = rd32(fps + 4);
    if (m->config && addr_ok(m->config, 44))
        mp_parse_config(m);
}
