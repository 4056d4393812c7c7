/*
 * Platform table tests: ACPI (acpi) and the Intel MP table (mptable). The
 * RSDP must be reachable both ways an OS looks for it (the boot protocol's
 * pointer and the legacy BIOS-area scan), every table's checksum must
 * hold, and the MADT must describe the VM the command line says it is
 * (cpus=). QEMU's microvm has no MP table, so that test skips unless the
 * command line demands one (mptable=1, as vireo-vmm's tests do).
 */
#include "guest.h"
#include "lib/libc.h"

static bool in_usable_ram(const struct boot_info *bi, uint64_t addr, uint64_t len)
{
    for (uint32_t i = 0; i < bi->map_stored; i++) {
        const struct memmap_entry *e = &bi->map[i];
        if (e->type == E820_RAM && addr < e->addr + e->size && e->addr < addr + len)
            return true;
    }
    return false;
}

static bool same_id_set(const uint32_t *a, unsigned na, const uint32_t *b, unsigned nb)
{
    if (na != nb)
        return false;
    for (unsigned i = 0; i < na; i++) {
        bool found = false;
        for (unsigned j = 0; j < nb; j++) {
            if (a[i] == b[j])
                found = true;
        }
        if (!found)
            return false;
    }
    return true;
}

void test_acpi(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;
    uint64_t cpus = 0;
    bool have_cpus = param_u64(g, "cpus", false, false, &cpus);

    uint64_t by_info = bi->rsdp_addr;
    if (by_info)
        tap_ok(t, acpi_rsdp_valid(by_info), "acpi: RSDP from the boot info at 0x%lx is valid",
               by_info);
    else
        tap_ok(t, false, "acpi: boot info carries no RSDP address");
    uint64_t by_scan = acpi_find_rsdp_by_scan();
    tap_ok(t, by_scan != 0, "acpi: RSDP found by scanning the EBDA and 0xE0000-0xFFFFF (0x%lx)",
           by_scan);
    if (by_info && by_scan)
        tap_ok(t, by_info == by_scan, "acpi: both ways find the same RSDP");

    uint64_t rsdp = by_info && acpi_rsdp_valid(by_info) ? by_info : by_scan;
    if (!rsdp)
        return;
    struct acpi_tables *a = &g->acpi;
    const char *why = "";
    if (!acpi_load(a, rsdp, &why)) {
        tap_ok(t, false, "acpi: root table does not load: %s", why);
        return;
    }
    g->have_acpi = true;
    tap_ok(t, a->root_checksum_ok, "acpi: %s at 0x%lx, %u bytes, checksum ok, revision %u",
           a->use_xsdt ? "XSDT" : "RSDT", a->root, a->root_len, a->revision);
    tap_ok(t, !in_usable_ram(bi, a->root, a->root_len),
           "acpi: root table is not in usable RAM (the OS would overwrite it)");
    for (unsigned i = 0; i < a->count; i++) {
        const struct acpi_table_ref *r = &a->tables[i];
        tap_ok(t, r->checksum_ok && !in_usable_ram(bi, r->addr, r->len),
               "acpi: %s at 0x%lx, %u bytes, checksum ok, outside usable RAM", r->sig, r->addr,
               r->len);
    }
    tap_ok(t, !a->truncated, "acpi: at most %u tables listed", ACPI_MAX_TABLES);

    const struct acpi_table_ref *fadt = acpi_find(a, "FACP");
    if (tap_ok(t, fadt != 0, "acpi: FADT (FACP) present")) {
        tap_ok(t, a->dsdt && a->dsdt_checksum_ok, "acpi: DSDT at 0x%lx, %u bytes, checksum ok",
               a->dsdt, a->dsdt_len);
        struct fadt_info f;
        acpi_parse_fadt(fadt, &f);
        tap_diag(t, "acpi: FADT flags 0x%x%s, reset register %s space %u addr 0x%lx value 0x%x",
                 f.flags, f.hw_reduced ? " (hardware-reduced)" : "",
                 f.reset_supported ? "supported" : "not supported", f.reset_reg.space,
                 f.reset_reg.addr, f.reset_value);
    }

    const struct acpi_table_ref *madt_ref = acpi_find(a, "APIC");
    if (!tap_ok(t, madt_ref != 0, "acpi: MADT (APIC) present"))
        return;
    struct madt_info *m = &g->madt;
    acpi_parse_madt(madt_ref, m);
    tap_ok(t, !m->malformed, "acpi: MADT entries well formed");
    tap_printf(t, "# acpi: MADT local APIC 0x%lx, enabled APIC ids:", m->lapic_addr);
    for (unsigned i = 0; i < m->cpus; i++)
        tap_printf(t, " %u", m->apic_ids[i]);
    tap_printf(t, "\n");
    if (have_cpus)
        tap_ok(t, m->cpus == cpus, "acpi: MADT lists %u enabled local APICs (cpus=%lu)", m->cpus,
               cpus);
    else
        tap_diag(t, "acpi: MADT lists %u enabled local APICs (no cpus= to compare)", m->cpus);
    bool bsp_listed = false;
    for (unsigned i = 0; i < m->cpus; i++) {
        if (m->apic_ids[i] == g->bsp_apic_id)
            bsp_listed = true;
    }
    tap_ok(t, bsp_listed, "acpi: MADT lists the boot CPU's APIC id %u", g->bsp_apic_id);
    tap_ok(t, m->ioapics >= 1, "acpi: MADT lists %u IOAPIC(s), first at 0x%lx, GSI base %u",
           m->ioapics, m->ioapics ? m->ioapic[0].addr : 0, m->ioapics ? m->ioapic[0].gsi_base : 0);
    for (unsigned i = 0; i < m->overrides; i++)
        tap_diag(t, "acpi: interrupt override ISA IRQ %u -> GSI %u flags 0x%x", m->iso[i].source,
                 m->iso[i].gsi, m->iso[i].flags);
}

void test_mptable(struct guest *g)
{
    struct tap *t = &g->tap;
    bool required = param_is(g, "mptable", "1");
    uint64_t cpus = 0;
    bool have_cpus = param_u64(g, "cpus", false, false, &cpus);
    struct mptable_info mp;

    mptable_find(&mp);
    if (!mp.fps) {
        if (required)
            tap_ok(t, false, "mptable: no MP floating pointer found (mptable=1)");
        else
            tap_skip(t, "mptable: no MP floating pointer (QEMU microvm has none)");
        return;
    }
    tap_ok(t, mp.fps_checksum_ok, "mptable: floating pointer at 0x%lx, checksum ok, spec 1.%u",
           mp.fps, mp.spec_rev);
    if (!tap_ok(t, mp.config && mp.config_sig_ok, "mptable: configuration table at 0x%lx",
                mp.config))
        return;
    tap_ok(t, mp.config_checksum_ok && !mp.malformed,
           "mptable: base table %u bytes, %u entries, checksum ok", mp.base_len, mp.entries);
    tap_ok(t, mp.ext_checksum_ok, "mptable: extended table checksum ok");
    tap_printf(t, "# mptable: processor entries (APIC id/flags):");
    for (unsigned i = 0; i < mp.procs; i++)
        tap_printf(t, " %u/0x%x", mp.proc_ids[i], mp.proc_flags[i]);
    tap_printf(t, "\n");
    if (have_cpus)
        tap_ok(t, mp.cpus == cpus, "mptable: %u enabled processor entries (cpus=%lu)", mp.cpus,
               cpus);
    tap_ok(t, mp.bsp_count == 1 && mp.bsp_apic_id == g->bsp_apic_id,
           "mptable: one boot processor entry, APIC id %u (running on %u)", mp.bsp_apic_id,
           g->bsp_apic_id);
    tap_ok(t, mp.ioapics >= 1, "mptable: %u enabled IOAPIC entries", mp.ioapics);
    if (g->have_acpi)
        tap_ok(t, same_id_set(mp.apic_ids, mp.cpus, g->madt.apic_ids, g->madt.cpus),
               "mptable: processor APIC ids match the MADT's");
}
