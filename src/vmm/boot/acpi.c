/*
 * acpi.c - builds the ACPI tables in guest memory.
 *
 * The platform is a classic PC as far as ACPI is concerned (not hardware-
 * reduced): PM1a event and control blocks at PORT_ACPI_PM for the fixed power
 * button and S5, a reset register at 0xCF9, SCI on IRQ 9. The DSDT is AML
 * emitted by aml.c: \_S5, COM1 (PNP0501), the RTC (PNP0B00) and a
 * motherboard-resources device claiming the PM and reset ports. The MADT has
 * one enabled local APIC per vCPU and the IOAPIC with the ISA overrides.
 *
 * Everything is placed from LAYOUT_RSDP up: the RSDP sits on a 16-byte
 * boundary in 0xE0000-0xFFFFF so a guest that scans finds it, and its address
 * also goes into the zero page / hvm_start_info.
 */
#include "vmm/boot/acpi.h"
#include "vmm/boot/aml.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/pci.h"

#include <errno.h>
#include <string.h>

#define OEM_ID       "VIREO "
#define OEM_TABLE_ID "VIREOVMM"
#define CREATOR_ID   "VIRO"

struct table_cursor {
    const struct guest_mem *gm;
    uint64_t next; /* next free guest address */
    uint64_t end;
};

/* Reserves len bytes (aligned) and returns their host pointer, zeroed. */
static uint8_t *cursor_alloc(struct table_cursor *c, size_t len, size_t align, uint64_t *gpa)
{
    uint64_t at = (c->next + align - 1) & ~(uint64_t)(align - 1);
    if (at + len > c->end)
        return NULL;
    uint8_t *p = guest_mem_ptr(c->gm, at, len);
    if (!p)
        return NULL;
    memset(p, 0, len);
    *gpa = at;
    c->next = at + len;
    return p;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    put8(t + 8, rev);
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    put32(t + 24, 1);
    memcpy(t + 28, CREATOR_ID, 4);
    put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = bytes_checksum(t, len);
}

/* Generic Address Structure: system I/O space. */
static void gas_io(uint8_t *g, uint16_t port, uint8_t bits)
{
    put8(g, 1);                                      /* address space: system I/O */
    put8(g + 1, bits);                               /* register bit width */
    put8(g + 2, 0);                                  /* bit offset */
    put8(g + 3, bits <= 8 ? 1 : bits <= 16 ? 2 : 3); /* access size */
    put64(g + 4, port);
}

/* Word address space descriptor (ACPI 6.4 §6.4.3.5.3): type 1 I/O or 2 bus numbers, fixed
 * min/max, produced by the bridge. */
static void res_word(struct buf *r, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
    uint8_t d[16] = {0x88, 13, 0, type, 0x0c, type_flags};
    put16(d + 8, min);
    put16(d + 10, max);
    put16(d + 14, (uint16_t)(max - min + 1));
    buf_append(r, d, sizeof(d));
}

/* DWord memory range (§6.4.3.5.2): read-write, not cacheable, produced by the bridge. */
static void res_dword_mem(struct buf *r, uint32_t min, uint32_t len)
{
    uint8_t d[26] = {0x87, 23, 0, 0, 0x0c, 0x01};
    put32(d + 10, min);
    put32(d + 14, min + len - 1);
    put32(d + 22, len);
    buf_append(r, d, sizeof(d));
}

/* Memory32Fixed (§6.4.3.4), read-write. */
static void res_mem32_fixed(struct buf *r, uint32_t base, uint32_t len)
{
    uint8_t d[12] = {0x86, 9, 0, 1};
    put32(d + 4, base);
    put32(d + 8, len);
    buf_append(r, d, sizeof(d));
}

/* The PCI root bridge (virtio work, vmm/dev/pci.h): bus 0-255, all I/O ports but the
 * configuration ports, the 32-bit MMIO window, and _PRT with the INTx swizzle (pin P of
 * slot S -> GSI 16 + (S + P) % 4, level, active low by the PCI convention). ECAM is
 * claimed as a motherboard resource so OSes accept the MCFG window. */
static void build_pci_root(struct buf *sb)
{
    struct buf dev, tmp, res, prt, entry;
    buf_init(&dev);
    buf_init(&tmp);
    buf_init(&res);
    buf_init(&prt);
    buf_init(&entry);
    aml_eisaid(&tmp, "PNP0A08");
    aml_name(&dev, "_HID", &tmp);
    buf_reset(&tmp);
    aml_eisaid(&tmp, "PNP0A03");
    aml_name(&dev, "_CID", &tmp);
    buf_reset(&tmp);
    aml_integer(&tmp, 0);
    aml_name(&dev, "_SEG", &tmp);
    aml_name(&dev, "_BBN", &tmp);
    aml_name(&dev, "_UID", &tmp);
    res_word(&res, 2, 0, 0, 255);
    aml_res_io(&res, 0xcf8, 8);
    res_word(&res, 1, 3, 0x0000, 0x0cf7);
    res_word(&res, 1, 3, 0x0d00, 0xffff);
    res_dword_mem(&res, (uint32_t)PCI_MMIO_BASE, (uint32_t)PCI_MMIO_SIZE);
    buf_reset(&tmp);
    aml_resource_template(&tmp, &res);
    aml_name(&dev, "_CRS", &tmp);
    unsigned n = 0;
    for (unsigned slot = 1; slot < PCI_NR_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            buf_reset(&entry);
            aml_integer(&entry, (uint64_t)slot << 16 | 0xffff);
            aml_integer(&entry, pin);
            aml_integer(&entry, 0);
            aml_integer(&entry, PCI_INTX_GSI(slot + pin));
            aml_package(&prt, 4, &entry);
            n++;
        }
    }
    buf_reset(&tmp);
    aml_package(&tmp, n, &prt);
    aml_name(&dev, "_PRT", &tmp);
    aml_device(sb, "PCI0", &dev);

    buf_reset(&dev);
    buf_reset(&res);
    buf_reset(&tmp);
    aml_eisaid(&tmp, "PNP0C02");
    aml_name(&dev, "_HID", &tmp);
    buf_reset(&tmp);
    aml_integer(&tmp, 1);
    aml_name(&dev, "_UID", &tmp);
    res_mem32_fixed(&res, (uint32_t)PCI_ECAM_BASE, (uint32_t)PCI_ECAM_SIZE);
    buf_reset(&tmp);
    aml_resource_template(&tmp, &res);
    aml_name(&dev, "_CRS", &tmp);
    aml_device(sb, "MRES", &dev);
    buf_free(&dev);
    buf_free(&tmp);
    buf_free(&res);
    buf_free(&prt);
    buf_free(&entry);
}

static void build_dsdt_body(struct buf *dsdt)
{
    struct buf tmp, pkg, dev, res, sb;
    buf_init(&tmp);
    buf_init(&pkg);
    buf_init(&dev);
    buf_init(&res);
    buf_init(&sb);

    /* Name(_S5, Package(4) {5, 5, 0, 0}): SLP_TYPa, SLP_TYPb. */
    aml_integer(&tmp, ACPI_S5_SLP_TYP);
    aml_integer(&tmp, ACPI_S5_SLP_TYP);
    aml_integer(&tmp, 0);
    aml_integer(&tmp, 0);
    aml_package(&pkg, 4, &tmp);
    aml_name(dsdt, "\\_S5_", &pkg);

#define NAME_INT(b, n, v)                                                                          \
    do {                                                                                           \
        buf_reset(&tmp);                                                                           \
        aml_integer(&tmp, v);                                                                      \
        aml_name(b, n, &tmp);                                                                      \
    } while (0)
#define NAME_EISA(b, n, id)                                                                        \
    do {                                                                                           \
        buf_reset(&tmp);                                                                           \
        aml_eisaid(&tmp, id);                                                                      \
        aml_name(b, n, &tmp);                                                                      \
    } while (0)
#define NAME_RES(b)                                                                                \
    do {                                                                                           \
        buf_reset(&tmp);                                                                           \
        aml_resource_template(&tmp, &res);                                                         \
        aml_name(b, "_CRS", &tmp);                                                                 \
        buf_reset(&res);                                                                           \
    } while (0)

    /* COM1: 16550A at 0x3F8, IRQ 4. */
    NAME_EISA(&dev, "_HID", "PNP0501");
    NAME_INT(&dev, "_UID", 1);
    NAME_INT(&dev, "_STA", 0xf);
    aml_res_io(&res, PORT_COM1, 8);
    aml_res_irq(&res, IRQ_COM1);
    NAME_RES(&dev);
    aml_device(&sb, "COM1", &dev);
    buf_reset(&dev);

    /* The CMOS RTC at 0x70, IRQ 8. */
    NAME_EISA(&dev, "_HID", "PNP0B00");
    NAME_INT(&dev, "_STA", 0xf);
    aml_res_io(&res, 0x70, 2);
    aml_res_irq(&res, IRQ_RTC);
    NAME_RES(&dev);
    aml_device(&sb, "RTC_", &dev);
    buf_reset(&dev);

    /* The i8042's keyboard (ports 0x60/0x64, IRQ 1) and mouse (IRQ 12), so an OS that
     * enumerates PS/2 through ACPI (Linux's i8042 PNP probe) finds them. */
    NAME_EISA(&dev, "_HID", "PNP0303");
    NAME_INT(&dev, "_STA", 0xf);
    aml_res_io(&res, 0x60, 1);
    aml_res_io(&res, 0x64, 1);
    aml_res_irq(&res, IRQ_KEYBOARD);
    NAME_RES(&dev);
    aml_device(&sb, "KBD_", &dev);
    buf_reset(&dev);
    NAME_EISA(&dev, "_HID", "PNP0F13");
    NAME_INT(&dev, "_STA", 0xf);
    aml_res_irq(&res, 12);
    NAME_RES(&dev);
    aml_device(&sb, "MOU_", &dev);
    buf_reset(&dev);

    /* Motherboard resources: the ACPI PM block and the reset register. */
    NAME_EISA(&dev, "_HID", "PNP0C02");
    NAME_INT(&dev, "_UID", 0);
    aml_res_io(&res, PORT_ACPI_PM, 8);
    aml_res_io(&res, PORT_RESET, 1);
    NAME_RES(&dev);
    aml_device(&sb, "PMIO", &dev);
    build_pci_root(&sb);

    aml_scope(dsdt, "\\_SB_", &sb);
#undef NAME_INT
#undef NAME_EISA
#undef NAME_RES
    buf_free(&tmp);
    buf_free(&pkg);
    buf_free(&dev);
    buf_free(&res);
    buf_free(&sb);
}

int acpi_build(const struct guest_mem *gm, const struct platform_desc *pd, uint64_t *rsdp_out,
               struct verr *err)
{
    struct table_cursor c = {gm, LAYOUT_RSDP, LAYOUT_ACPI_END};
    uint64_t rsdp_gpa, facs_gpa, dsdt_gpa, fadt_gpa, madt_gpa, xsdt_gpa, rsdt_gpa;
    if (pd->nr_cpus == 0 || pd->nr_cpus > ACPI_MAX_CPUS)
        return verr_set(err, EINVAL, "ACPI tables: unsupported vCPU count %u", pd->nr_cpus);

    uint8_t *rsdp = cursor_alloc(&c, 36, 16, &rsdp_gpa);
    uint8_t *facs = cursor_alloc(&c, 64, 64, &facs_gpa);
    if (!rsdp || !facs)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");

    /* FACS: no firmware waking vector, global lock unused. */
    memcpy(facs, "FACS", 4);
    put32(facs + 4, 64);
    put8(facs + 32, 2); /* version */

    /* DSDT */
    struct buf aml;
    buf_init(&aml);
    build_dsdt_body(&aml);
    uint32_t dsdt_len = (uint32_t)(36 + aml.len);
    uint8_t *dsdt = cursor_alloc(&c, dsdt_len, 16, &dsdt_gpa);
    if (!dsdt) {
        buf_free(&aml);
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    }
    header(dsdt, "DSDT", dsdt_len, 2);
    memcpy(dsdt + 36, aml.data, aml.len);
    finish(dsdt, dsdt_len);
    buf_free(&aml);

    /* FADT (ACPI 6.x layout, 276 bytes). */
    const uint32_t fadt_len = 276;
    uint8_t *fadt = cursor_alloc(&c, fadt_len, 16, &fadt_gpa);
    if (!fadt)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    header(fadt, "FACP", fadt_len, 6);
    put32(fadt + 36, 0); /* FIRMWARE_CTRL: zero because X_FIRMWARE_CTRL is set (ACPI 6) */
    put32(fadt + 40, (uint32_t)dsdt_gpa);
    put16(fadt + 46, IRQ_SCI);
    put32(fadt + 48, 0); /* no SMI_CMD: the platform is always in ACPI mode */
    put32(fadt + 56, PORT_ACPI_PM);
    put32(fadt + 64, PORT_ACPI_PM1_CNT);
    put8(fadt + 88, 4);        /* PM1_EVT_LEN */
    put8(fadt + 89, 2);        /* PM1_CNT_LEN */
    put8(fadt + 108, 0x32);    /* CMOS century register */
    put16(fadt + 109, 0x0003); /* IAPC_BOOT_ARCH: legacy devices, an 8042 (the i8042) */
    /* Flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button), RESET_REG_SUP. */
    put32(fadt + 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
    gas_io(fadt + 116, PORT_RESET, 8);
    put8(fadt + 128, 0x06); /* RESET_VALUE: CPU reset + system reset */
    put8(fadt + 131, 3);    /* FADT minor version (6.3) */
    put64(fadt + 132, facs_gpa);
    put64(fadt + 140, dsdt_gpa);
    gas_io(fadt + 148, PORT_ACPI_PM, 32);
    gas_io(fadt + 172, PORT_ACPI_PM1_CNT, 16);
    memcpy(fadt + 268, "VIREOVMM", 8); /* hypervisor vendor identity */
    finish(fadt, fadt_len);

    /* MADT: local APIC per CPU, IOAPIC, overrides IRQ0->GSI2 and the SCI, LINT1 NMI. */
    uint32_t madt_len = 44 + 8 * pd->nr_cpus + 12 + 10 + 10 + 6;
    uint8_t *madt = cursor_alloc(&c, madt_len, 16, &madt_gpa);
    if (!madt)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    header(madt, "APIC", madt_len, 4);
    put32(madt + 36, (uint32_t)LAYOUT_LAPIC);
    put32(madt + 40, 1); /* PCAT_COMPAT: dual 8259s present */
    uint8_t *e = madt + 44;
    for (unsigned i = 0; i < pd->nr_cpus; i++, e += 8) {
        put8(e, 0);
        put8(e + 1, 8);
        put8(e + 2, (uint8_t)i); /* ACPI processor UID */
        put8(e + 3, (uint8_t)pd->apic_ids[i]);
        put32(e + 4, 1); /* enabled */
    }
    put8(e, 1);
    put8(e + 1, 12);
    put8(e + 2, 0); /* IOAPIC id: KVM's in-kernel IOAPIC resets to 0 */
    put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
    put32(e + 8, 0); /* GSI base */
    e += 12;
    put8(e, 2); /* ISA IRQ0 (PIT) -> GSI 2, bus defaults */
    put8(e + 1, 10);
    put8(e + 2, 0);
    put8(e + 3, 0);
    put32(e + 4, 2);
    put16(e + 8, 0);
    e += 10;
    put8(e, 2); /* SCI: IRQ 9 -> GSI 9, active high, level triggered */
    put8(e + 1, 10);
    put8(e + 2, 0);
    put8(e + 3, IRQ_SCI);
    put32(e + 4, IRQ_SCI);
    put16(e + 8, 0x000d);
    e += 10;
    put8(e, 4); /* local APIC NMI: all processors, LINT1 */
    put8(e + 1, 6);
    put8(e + 2, 0xff);
    put16(e + 3, 0);
    put8(e + 5, 1);
    finish(madt, madt_len);

    /* MCFG (virtio work): one ECAM allocation, segment 0, buses 0-255 (vmm/dev/pci.h). */
    uint64_t mcfg_gpa;
    uint8_t *mcfg = cursor_alloc(&c, 60, 16, &mcfg_gpa);
    if (!mcfg)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    header(mcfg, "MCFG", 60, 1);
    put64(mcfg + 44, PCI_ECAM_BASE);
    put16(mcfg + 52, 0);
    put8(mcfg + 54, 0);
    put8(mcfg + 55, (uint8_t)(PCI_ECAM_SIZE / (1u << 20) - 1));
    finish(mcfg, 60);

    /* XSDT and RSDT list FADT, MADT and MCFG (the DSDT is reached through the FADT). */
    uint8_t *xsdt = cursor_alloc(&c, 36 + 24, 16, &xsdt_gpa);
    uint8_t *rsdt = cursor_alloc(&c, 36 + 12, 16, &rsdt_gpa);
    if (!xsdt || !rsdt)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    header(xsdt, "XSDT", 60, 1);
    put64(xsdt + 36, fadt_gpa);
    put64(xsdt + 44, madt_gpa);
    put64(xsdt + 52, mcfg_gpa);
    finish(xsdt, 60);
    header(rsdt, "RSDT", 48, 1);
    put32(rsdt + 36, (uint32_t)fadt_gpa);
    put32(rsdt + 40, (uint32_t)madt_gpa);
    put32(rsdt + 44, (uint32_t)mcfg_gpa);
    finish(rsdt, 48);

    /* RSDP revision 2: checksum over the first 20 bytes, extended over all 36. */
    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, OEM_ID, 6);
    put8(rsdp + 15, 2);
    put32(rsdp + 16, (uint32_t)rsdt_gpa);
    put32(rsdp + 20, 36);
    put64(rsdp + 24, xsdt_gpa);
    rsdp[8] = bytes_checksum(rsdp, 20);
    rsdp[32] = bytes_checksum(rsdp, 36);
    *rsdp_out = rsdp_gpa;
    return 0;
}
