/*
 * acpi.c - builds the ACPI tables (see acpi.h for the two ways they reach
 * the guest).
 *
 * The platform is a classic PC as far as ACPI is concerned (not hardware-
 * reduced): PM1a event and control blocks at the PM base for the fixed power
 * button and S5 (plus the PM timer on pc and q35), a reset register at 0xCF9,
 * SCI on IRQ 9. The DSDT is AML emitted by aml.c: \_S5, COM1 (PNP0501), the
 * RTC (PNP0B00), the PS/2 keyboard and mouse where there is an i8042, a
 * motherboard-resources device claiming the PM and reset ports, and the PCI
 * root with its _CRS windows and _PRT; with CPU hot-plug (maxcpus > cpus)
 * QEMU's CPU hot-plug objects (\_SB.CPUS, \_GPE._E02, see
 * build_cpu_hotplug). The MADT has one enabled local APIC
 * per vCPU and the IOAPIC with the ISA overrides.
 *
 * microvm's tables are placed from LAYOUT_RSDP up: the RSDP sits on a 16-byte
 * boundary in 0xE0000-0xFFFFF so a guest that scans finds it, and its address
 * also goes into the zero page / hvm_start_info.
 */
#include "vmm/boot/acpi.h"
#include "vmm/boot/acpi-hmat.h"
#include "vmm/boot/aml.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/pci.h"
#include "vmm/memory-hotplug.h"

#include <errno.h>
#include <string.h>

#define OEM_ID       "VIREO "
#define OEM_TABLE_ID "VIREOVMM"
#define CREATOR_ID   "VIRO"

/* Where a table goes in the tables blob, and the helpers that record its relocations. */
struct blob_builder {
    struct acpi_blob *b;
    const struct acpi_config *c;
    bool overflow;
};

/* Reserves len bytes (aligned) at the end of the tables blob; returns their offset. */
static uint32_t blob_alloc(struct blob_builder *bb, size_t len, size_t align)
{
    struct buf *t = &bb->b->tables;
    while (t->len % align)
        buf_append_byte(t, 0);
    uint32_t off = (uint32_t)t->len;
    buf_reserve(t, len);
    memset(t->data + t->len, 0, len);
    t->len += len;
    return off;
}

static void reloc(struct blob_builder *bb, bool in_rsdp, uint32_t offset, uint8_t size)
{
    struct acpi_blob *b = bb->b;
    if (b->nr_relocs == ACPI_MAX_RELOCS) {
        bb->overflow = true;
        return;
    }
    b->relocs[b->nr_relocs++] = (struct acpi_reloc){in_rsdp, offset, size};
}

static void sum(struct blob_builder *bb, bool in_rsdp, uint32_t offset, uint32_t start,
                uint32_t len)
{
    struct acpi_blob *b = bb->b;
    if (b->nr_sums == ACPI_MAX_SUMS) {
        bb->overflow = true;
        return;
    }
    b->sums[b->nr_sums++] = (struct acpi_sum){in_rsdp, offset, start, len};
}

static uint8_t *tab(struct blob_builder *bb, uint32_t off)
{
    return bb->b->tables.data + off;
}

static void header(struct blob_builder *bb, uint32_t off, const char *sig, uint32_t len,
                   uint8_t rev)
{
    const struct acpi_config *c = bb->c;
    uint8_t *t = tab(bb, off);
    memcpy(t, sig, 4);
    put32(t + 4, len);
    put8(t + 8, rev);
    memset(t + 10, ' ', 6);
    memcpy(t + 10, c->oem_id[0] ? c->oem_id : OEM_ID, strlen(c->oem_id[0] ? c->oem_id : OEM_ID));
    memset(t + 16, ' ', 8);
    memcpy(t + 16, c->oem_table_id[0] ? c->oem_table_id : OEM_TABLE_ID,
           strlen(c->oem_table_id[0] ? c->oem_table_id : OEM_TABLE_ID));
    put32(t + 24, 1);
    memcpy(t + 28, CREATOR_ID, 4);
    put32(t + 32, 1);
    sum(bb, false, off + 9, off, len);
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

/* Shorthands for the CPU hot-plug methods: each builds one term into a scratch buffer. */
static void term_int(struct buf *b, uint64_t v)
{
    buf_reset(b);
    aml_integer(b, v);
}

static void term_name(struct buf *b, const char *name)
{
    buf_reset(b);
    aml_namestring(b, name);
}

static void term_local(struct buf *b, unsigned n)
{
    buf_reset(b);
    aml_local(b, n);
}

static void term_arg(struct buf *b, unsigned n)
{
    buf_reset(b);
    aml_arg(b, n);
}

/* "C000".. : the processor device of slot i (i < ACPI_MAX_CPUS, three hex digits). */
static void cpu_device_name(char name[5], unsigned i)
{
    static const char hex[] = "0123456789ABCDEF";
    name[0] = 'C';
    name[1] = hex[(i >> 8) & 0xf];
    name[2] = hex[(i >> 4) & 0xf];
    name[3] = hex[i & 0xf];
    name[4] = 0;
}

/* CPU hot-plug as QEMU's "modern" interface presents it to the OS (facts from QEMU's
 * docs/specs/acpi_cpu_hotplug.rst): the register block at PORT_ACPI_CPUHP as fields of
 * \_SB (CSEL selector, CPEN/CINS/CRMV flags, CEJ0 eject, CCMD command, CDAT data), and
 * Device(\_SB.CPUS) (ACPI0010, a processor container) holding one ACPI0007 device per
 * possible CPU (_UID the MADT's processor UID, _MAT its MADT entry, _STA through CSTA,
 * _EJ0 through CEJ0 but on the BSP, _OST through COST) and the methods: CSCN walks the slots with
 * an event (command 0) and Notifies each, 1 (bus check: inserted) or 3 (eject request), clearing
 * the event; \_GPE._E02, the handler of GPE0 bit 2, calls it. CPLK serialises the
 * selector between the methods. On pc the block starts in QEMU's legacy mode: CPUS._INI
 * writes 0 to CSEL, which switches it to this interface (as QEMU's DSDT does). */
static void build_cpu_hotplug(struct buf *dsdt, struct buf *sb, const struct acpi_config *c)
{
    const struct platform_desc *pd = c->cpus;
    struct buf body, cpus, t, a, b, blk, blk2;
    buf_init(&body);
    buf_init(&cpus);
    buf_init(&t);
    buf_init(&a);
    buf_init(&b);
    buf_init(&blk);
    buf_init(&blk2);
    unsigned slots = pd->max_cpus > pd->nr_cpus ? pd->max_cpus : pd->nr_cpus;

    aml_opregion_io(sb, "PRST", c->cpuhp_port ? c->cpuhp_port : PORT_ACPI_CPUHP, 12);
    aml_field_skip(&t, 32);
    aml_field_named(&t, "CPEN", 1); /* byte 4: flags */
    aml_field_named(&t, "CINS", 1);
    aml_field_named(&t, "CRMV", 1);
    aml_field_named(&t, "CEJ0", 1);
    aml_field_skip(&t, 4);
    aml_field_named(&t, "CCMD", 8); /* byte 5: command */
    aml_field(sb, "PRST", AML_FIELD_BYTE_ACC | AML_FIELD_WRITE_ZEROS, &t);
    buf_reset(&t);
    aml_field_named(&t, "CSEL", 32);
    aml_field_skip(&t, 32);
    aml_field_named(&t, "CDAT", 32);
    aml_field(sb, "PRST", AML_FIELD_DWORD_ACC | AML_FIELD_PRESERVE, &t);

    buf_reset(&t);
    aml_string(&t, "ACPI0010");
    aml_name(&cpus, "_HID", &t);
    buf_reset(&t);
    aml_eisaid(&t, "PNP0A05");
    aml_name(&cpus, "_CID", &t);
    aml_mutex(&cpus, "CPLK", 0);
    if (c->cpuhp_legacy) {
        term_int(&a, 0);
        term_name(&b, "\\_SB_CSEL");
        aml_store(&body, &a, &b);
        aml_method(&cpus, "_INI", 0, false, &body);
        buf_reset(&body);
    }

    /* CSTA(slot): 0xF when the slot holds a CPU, else 0. */
    aml_acquire(&body, "CPLK");
    term_arg(&a, 0);
    term_name(&b, "\\_SB_CSEL");
    aml_store(&body, &a, &b);
    term_int(&a, 0);
    term_local(&b, 0);
    aml_store(&body, &a, &b);
    term_int(&a, 0xf);
    buf_reset(&blk);
    aml_store(&blk, &a, &b);
    term_name(&a, "\\_SB_CPEN");
    term_int(&b, 1);
    buf_reset(&t);
    aml_lequal(&t, &a, &b);
    aml_if(&body, &t, &blk);
    aml_release(&body, "CPLK");
    term_local(&a, 0);
    aml_return(&body, &a);
    aml_method(&cpus, "CSTA", 1, false, &body);

    /* CEJ0(slot): the eject command for the slot (the OS has offlined the CPU). */
    buf_reset(&body);
    aml_acquire(&body, "CPLK");
    term_arg(&a, 0);
    term_name(&b, "\\_SB_CSEL");
    aml_store(&body, &a, &b);
    term_int(&a, 1);
    term_name(&b, "\\_SB_CEJ0");
    aml_store(&body, &a, &b);
    aml_release(&body, "CPLK");
    aml_method(&cpus, "CEJ0", 1, false, &body);

    /* CTFY(slot, event): Notify(Cxxx, event) for the slot's device. */
    buf_reset(&body);
    for (unsigned i = 0; i < slots; i++) {
        char dev[5];
        cpu_device_name(dev, i);
        term_arg(&a, 1);
        buf_reset(&blk);
        aml_notify(&blk, dev, &a);
        term_arg(&a, 0);
        term_int(&b, i);
        buf_reset(&t);
        aml_lequal(&t, &a, &b);
        aml_if(&body, &t, &blk);
    }
    aml_method(&cpus, "CTFY", 2, false, &body);

    /* CSCN(): while command 0 finds a slot with an event, notify and clear it. */
    buf_reset(&body);
    aml_acquire(&body, "CPLK");
    term_int(&a, 1);
    term_local(&b, 0);
    aml_store(&body, &a, &b);
    buf_reset(&blk); /* the loop's body */
    term_int(&a, 0);
    aml_store(&blk, &a, &b);
    term_name(&b, "\\_SB_CCMD");
    aml_store(&blk, &a, &b);
    for (unsigned ev = 0; ev < 2; ev++) {
        const char *flag = ev == 0 ? "\\_SB_CINS" : "\\_SB_CRMV";
        buf_reset(&blk2);
        buf_reset(&t);
        aml_namestring(&t, "\\_SB_CDAT");
        aml_integer(&t, ev == 0 ? 1 : 3);
        aml_call(&blk2, "CTFY", &t);
        term_int(&a, 1);
        term_name(&b, flag);
        aml_store(&blk2, &a, &b); /* writing 1 clears the event */
        term_local(&b, 0);
        aml_store(&blk2, &a, &b); /* and look again */
        buf_reset(&t);
        term_name(&a, flag);
        term_int(&b, 1);
        aml_lequal(&t, &a, &b);
        aml_if(&blk, &t, &blk2);
    }
    term_local(&a, 0);
    term_int(&b, 1);
    buf_reset(&t);
    aml_lequal(&t, &a, &b);
    aml_while(&body, &t, &blk);
    aml_release(&body, "CPLK");
    aml_method(&cpus, "CSCN", 0, false, &body);

    /* COST(slot, event, status, data): _OST's event and status through commands 1 and 2. */
    buf_reset(&body);
    aml_acquire(&body, "CPLK");
    term_arg(&a, 0);
    term_name(&b, "\\_SB_CSEL");
    aml_store(&body, &a, &b);
    for (unsigned k = 1; k <= 2; k++) {
        term_int(&a, k);
        term_name(&b, "\\_SB_CCMD");
        aml_store(&body, &a, &b);
        term_arg(&a, k);
        term_name(&b, "\\_SB_CDAT");
        aml_store(&body, &a, &b);
    }
    aml_release(&body, "CPLK");
    aml_method(&cpus, "COST", 4, false, &body);

    /* The processor devices. */
    for (unsigned i = 0; i < slots; i++) {
        char dev[5];
        cpu_device_name(dev, i);
        buf_reset(&body);
        buf_reset(&t);
        aml_string(&t, "ACPI0007");
        aml_name(&body, "_HID", &t);
        term_int(&t, i);
        aml_name(&body, "_UID", &t);
        const uint8_t mat[8] = {0, 8, (uint8_t)i, (uint8_t)pd->apic_ids[i], 1, 0, 0, 0};
        buf_reset(&t);
        aml_buffer(&t, mat, sizeof(mat));
        aml_name(&body, "_MAT", &t);
        buf_reset(&blk);
        buf_reset(&t);
        aml_integer(&t, i);
        buf_reset(&a);
        aml_call(&a, "CSTA", &t);
        aml_return(&blk, &a);
        aml_method(&body, "_STA", 0, false, &blk);
        if (i > 0) {
            buf_reset(&blk);
            aml_call(&blk, "CEJ0", &t);
            aml_method(&body, "_EJ0", 1, false, &blk);
        }
        buf_reset(&blk);
        buf_reset(&t);
        aml_integer(&t, i);
        aml_arg(&t, 0);
        aml_arg(&t, 1);
        aml_arg(&t, 2);
        aml_call(&blk, "COST", &t);
        aml_method(&body, "_OST", 3, false, &blk);
        aml_device(&cpus, dev, &body);
    }
    aml_device(sb, "CPUS", &cpus);

    /* \_GPE._E02: GPE0 bit 2, the CPU hot-plug event. */
    buf_reset(&blk);
    aml_call(&blk, "\\_SB_CPUSCSCN", NULL);
    buf_reset(&body);
    aml_method(&body, "_E02", 0, false, &blk);
    aml_scope(dsdt, "\\_GPE", &body);

    buf_free(&body);
    buf_free(&cpus);
    buf_free(&t);
    buf_free(&a);
    buf_free(&b);
    buf_free(&blk);
    buf_free(&blk2);
}

/* Raw AML for the memory hot-plug methods: a binary operator (Add, Subtract, Or, ShiftLeft)
 * with a target (a name, or none), LLess, Increment, and CreateQWordField. */
#define AML_OP_ADD        0x72
#define AML_OP_SUBTRACT   0x74
#define AML_OP_SHIFT_LEFT 0x79
#define AML_OP_OR         0x7d
static void aml_binop(struct buf *out, uint8_t op, const struct buf *a, const struct buf *b,
                      const char *target)
{
    buf_append_byte(out, op);
    buf_append(out, a->data, a->len);
    buf_append(out, b->data, b->len);
    if (target)
        aml_namestring(out, target);
    else
        buf_append_byte(out, 0x00); /* NullName: no target */
}

static void aml_lless(struct buf *out, const struct buf *a, const struct buf *b)
{
    buf_append_byte(out, 0x95);
    buf_append(out, a->data, a->len);
    buf_append(out, b->data, b->len);
}

static void aml_create_qword_field(struct buf *out, const char *buffer, unsigned index,
                                   const char *name)
{
    buf_append_byte(out, 0x8f);
    aml_namestring(out, buffer);
    aml_integer(out, index);
    aml_namestring(out, name);
}

/* "MP00".. : the memory device of slot i (i < 256). */
static void mem_device_name(char name[5], unsigned i)
{
    static const char hex[] = "0123456789ABCDEF";
    name[0] = 'M';
    name[1] = 'P';
    name[2] = hex[(i >> 4) & 0xf];
    name[3] = hex[i & 0xf];
    name[4] = '\0';
}

/* Acquire(MLCK); MSEL = Arg0 : how each per-slot method starts. */
static void mem_select(struct buf *body, struct buf *a, struct buf *b)
{
    aml_acquire(body, "MLCK");
    term_arg(a, 0);
    term_name(b, "MSEL");
    aml_store(body, a, b);
}

/*
 * QEMU's memory hot-plug interface (hw/acpi/memory_hotplug.c's AML, by its behaviour):
 * \_SB.PCI0.MHPD claims the register block (memory-hotplug.h) and holds its region HPMR;
 * \_SB.MHPC (PNP0A06, "DIMM devices") has the block's fields, MLCK, the methods each slot's
 * device MPxx (PNP0C80) calls with its _UID (MRST: _STA, MCRS: _CRS, MPXM: _PXM, MOST:
 * _OST, MEJ0: _EJ0), MTFY (Notify of a slot's device) and MSCN, which walks the slots for
 * insert and remove events; \_GPE._E03 (GPE0 bit 3) runs it. The DSDT is revision 2 (64-bit
 * integers), so MCRS builds the QWordMemory range directly (QEMU's, for revision-1 tables,
 * splits it in halves and returns a DWordMemory below 4 GiB: DIMMs here are all above).
 */
static void build_memory_hotplug(struct buf *gpe, struct buf *sb, const struct acpi_config *c)
{
    struct buf body, dev, mhpc, t, a, b, blk, blk2;
    buf_init(&body);
    buf_init(&dev);
    buf_init(&mhpc);
    buf_init(&t);
    buf_init(&a);
    buf_init(&b);
    buf_init(&blk);
    buf_init(&blk2);
    unsigned slots = c->memhp_slots;

    /* \_SB.PCI0.MHPD: the ports, and the region. */
    aml_string(&t, "PNP0A06");
    aml_name(&dev, "_HID", &t);
    buf_reset(&t);
    aml_string(&t, "Memory hotplug resources");
    aml_name(&dev, "_UID", &t);
    aml_res_io(&blk, MEMHP_PORT, MEMHP_LEN);
    buf_reset(&t);
    aml_resource_template(&t, &blk);
    aml_name(&dev, "_CRS", &t);
    aml_opregion_io(&dev, "HPMR", MEMHP_PORT, MEMHP_LEN);
    aml_device(sb, "PCI0MHPD", &dev);

    /* \_SB.MHPC */
    buf_reset(&t);
    aml_string(&t, "PNP0A06");
    aml_name(&mhpc, "_HID", &t);
    buf_reset(&t);
    aml_string(&t, "DIMM devices");
    aml_name(&mhpc, "_UID", &t);
    term_int(&t, slots);
    aml_name(&mhpc, "MDNR", &t);
    buf_reset(&t);
    aml_field_named(&t, "MRBL", 32);
    aml_field_named(&t, "MRBH", 32);
    aml_field_named(&t, "MRLL", 32);
    aml_field_named(&t, "MRLH", 32);
    aml_field_named(&t, "MPX_", 32);
    aml_field(&mhpc, "\\_SB_PCI0MHPDHPMR", AML_FIELD_DWORD_ACC | AML_FIELD_PRESERVE, &t);
    buf_reset(&t);
    aml_field_skip(&t, 8 * 0x14);
    aml_field_named(&t, "MES_", 1);
    aml_field_named(&t, "MINS", 1);
    aml_field_named(&t, "MRMV", 1);
    aml_field_named(&t, "MEJ_", 1);
    aml_field(&mhpc, "\\_SB_PCI0MHPDHPMR", AML_FIELD_BYTE_ACC | AML_FIELD_WRITE_ZEROS, &t);
    buf_reset(&t);
    aml_field_named(&t, "MSEL", 32);
    aml_field_named(&t, "MOEV", 32);
    aml_field_named(&t, "MOSC", 32);
    aml_field(&mhpc, "\\_SB_PCI0MHPDHPMR", AML_FIELD_DWORD_ACC | AML_FIELD_PRESERVE, &t);
    term_int(&a, 0x0b); /* present, enabled, functioning; not shown in the UI */
    aml_return(&body, &a);
    aml_method(&mhpc, "_STA", 0, false, &body);
    aml_mutex(&mhpc, "MLCK", 0);

    /* MSCN(): for each slot, Notify(device check) on an insert event, Notify(eject
     * request) on a remove event, each cleared by writing it back. */
    buf_reset(&body);
    term_int(&a, 0);
    term_local(&b, 0);
    aml_store(&body, &a, &b);
    aml_acquire(&body, "MLCK");
    buf_reset(&blk); /* the loop's body */
    term_local(&a, 0);
    term_name(&b, "MSEL");
    aml_store(&blk, &a, &b);
    for (unsigned ev = 0; ev < 2; ev++) {
        const char *flag = ev == 0 ? "MINS" : "MRMV";
        buf_reset(&blk2);
        buf_reset(&t);
        aml_local(&t, 0);
        aml_integer(&t, ev == 0 ? 1 : 3);
        aml_call(&blk2, "MTFY", &t);
        term_int(&a, 1);
        term_name(&b, flag);
        aml_store(&blk2, &a, &b);
        buf_reset(&t);
        term_name(&a, flag);
        term_int(&b, 1);
        aml_lequal(&t, &a, &b);
        if (ev == 0) {
            aml_if(&blk, &t, &blk2);
        } else {
            struct buf inner;
            buf_init(&inner);
            aml_if(&inner, &t, &blk2);
            aml_else(&blk, &inner);
            buf_free(&inner);
        }
    }
    buf_append_byte(&blk, 0x75); /* Increment(Local0) */
    aml_local(&blk, 0);
    buf_reset(&t);
    term_local(&a, 0);
    term_name(&b, "MDNR");
    aml_lless(&t, &a, &b);
    aml_while(&body, &t, &blk);
    aml_release(&body, "MLCK");
    term_int(&a, 1);
    aml_return(&body, &a);
    aml_method(&mhpc, "MSCN", 0, false, &body);

    /* MRST(slot): 0xF with a DIMM in the slot, else 0. */
    buf_reset(&body);
    term_int(&a, 0);
    term_local(&b, 0);
    aml_store(&body, &a, &b);
    mem_select(&body, &a, &b);
    term_int(&a, 0xf);
    term_local(&b, 0);
    buf_reset(&blk);
    aml_store(&blk, &a, &b);
    term_name(&a, "MES_");
    term_int(&b, 1);
    buf_reset(&t);
    aml_lequal(&t, &a, &b);
    aml_if(&body, &t, &blk);
    aml_release(&body, "MLCK");
    term_local(&a, 0);
    aml_return(&body, &a);
    aml_method(&mhpc, "MRST", 1, false, &body);

    /* MCRS(slot): the DIMM's range as a QWordMemory resource. */
    buf_reset(&body);
    mem_select(&body, &a, &b);
    uint8_t q[46] = {0x8a, 43, 0, 0, 0x0c, 0x03}; /* producer, min/max fixed, cacheable, RW */
    buf_reset(&blk);
    buf_append(&blk, q, sizeof(q));
    buf_reset(&t);
    aml_resource_template(&t, &blk);
    aml_name(&body, "MR64", &t);
    aml_create_qword_field(&body, "MR64", 14, "MINQ");
    aml_create_qword_field(&body, "MR64", 22, "MAXQ");
    aml_create_qword_field(&body, "MR64", 38, "LENQ");
    for (unsigned k = 0; k < 2; k++) {
        /* MINQ = MRBH << 32 | MRBL; LENQ = MRLH << 32 | MRLL */
        struct buf shl;
        buf_init(&shl);
        term_name(&a, k == 0 ? "MRBH" : "MRLH");
        term_int(&b, 32);
        aml_binop(&shl, AML_OP_SHIFT_LEFT, &a, &b, NULL);
        term_name(&b, k == 0 ? "MRBL" : "MRLL");
        aml_binop(&body, AML_OP_OR, &shl, &b, k == 0 ? "MINQ" : "LENQ");
        buf_free(&shl);
    }
    {
        /* MAXQ = MINQ + LENQ - 1 */
        struct buf sum;
        buf_init(&sum);
        term_name(&a, "MINQ");
        term_name(&b, "LENQ");
        aml_binop(&sum, AML_OP_ADD, &a, &b, NULL);
        term_int(&b, 1);
        aml_binop(&body, AML_OP_SUBTRACT, &sum, &b, "MAXQ");
        buf_free(&sum);
    }
    aml_release(&body, "MLCK");
    term_name(&a, "MR64");
    aml_return(&body, &a);
    aml_method(&mhpc, "MCRS", 1, true, &body);

    /* MPXM(slot): the DIMM's proximity domain. */
    buf_reset(&body);
    mem_select(&body, &a, &b);
    term_name(&a, "MPX_");
    term_local(&b, 0);
    aml_store(&body, &a, &b);
    aml_release(&body, "MLCK");
    term_local(&a, 0);
    aml_return(&body, &a);
    aml_method(&mhpc, "MPXM", 1, false, &body);

    /* MOST(slot, event, status, data): _OST's event and status. */
    buf_reset(&body);
    mem_select(&body, &a, &b);
    term_arg(&a, 1);
    term_name(&b, "MOEV");
    aml_store(&body, &a, &b);
    term_arg(&a, 2);
    term_name(&b, "MOSC");
    aml_store(&body, &a, &b);
    aml_release(&body, "MLCK");
    aml_method(&mhpc, "MOST", 4, false, &body);

    /* MEJ0(slot, arg): the eject bit. */
    buf_reset(&body);
    mem_select(&body, &a, &b);
    term_int(&a, 1);
    term_name(&b, "MEJ_");
    aml_store(&body, &a, &b);
    aml_release(&body, "MLCK");
    aml_method(&mhpc, "MEJ0", 2, false, &body);

    /* The slots' devices. */
    for (unsigned i = 0; i < slots; i++) {
        char name[5];
        mem_device_name(name, i);
        buf_reset(&dev);
        term_int(&t, i);
        aml_name(&dev, "_UID", &t);
        buf_reset(&t);
        aml_eisaid(&t, "PNP0C80");
        aml_name(&dev, "_HID", &t);
        static const struct {
            const char *method, *calls;
            unsigned nargs;
        } m[] = {{"_CRS", "MCRS", 0},
                 {"_STA", "MRST", 0},
                 {"_PXM", "MPXM", 0},
                 {"_OST", "MOST", 3},
                 {"_EJ0", "MEJ0", 1}};
        for (unsigned k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
            buf_reset(&t);
            aml_integer(&t, i);
            for (unsigned n = 0; n < m[k].nargs; n++)
                aml_arg(&t, n);
            buf_reset(&a);
            aml_call(&a, m[k].calls, &t);
            buf_reset(&blk);
            if (m[k].nargs)
                buf_append(&blk, a.data, a.len);
            else
                aml_return(&blk, &a);
            aml_method(&dev, m[k].method, m[k].nargs, false, &blk);
        }
        aml_device(&mhpc, name, &dev);
    }

    /* MTFY(slot, event): Notify(MPxx, event) for the slot's device. */
    buf_reset(&body);
    for (unsigned i = 0; i < slots; i++) {
        char name[5];
        mem_device_name(name, i);
        term_arg(&a, 1);
        buf_reset(&blk);
        aml_notify(&blk, name, &a);
        term_arg(&a, 0);
        term_int(&b, i);
        buf_reset(&t);
        aml_lequal(&t, &a, &b);
        aml_if(&body, &t, &blk);
    }
    aml_method(&mhpc, "MTFY", 2, false, &body);
    aml_device(sb, "MHPC", &mhpc);

    /* \_GPE._E03: GPE0 bit 3, the memory hot-plug event. */
    buf_reset(&blk);
    aml_call(&blk, "\\_SB_MHPCMSCN", NULL);
    buf_reset(&body);
    aml_method(&body, "_E03", 0, false, &blk);
    aml_scope(gpe, "\\_GPE", &body);

    buf_free(&body);
    buf_free(&dev);
    buf_free(&mhpc);
    buf_free(&t);
    buf_free(&a);
    buf_free(&b);
    buf_free(&blk);
    buf_free(&blk2);
}

/* The PCI root bridge: bus 0-255, all I/O ports but the configuration ports, the 32-bit
 * memory window (and the legacy VGA window on pc/q35), and _PRT with the INTx swizzle:
 * pin P (A = 0) of slot S -> GSI 16 + (S + P + k) % 4, level, active low by the PCI
 * convention, where k = 3 on pc (PIIX3's PIRQ (S + P - 1) mod 4, dev/pirq.h) and 0 on
 * microvm; q35 as QEMU's ICH9: GSI 20 + (S + P) % 4 for slots 0-24, 20 + P for slot 30,
 * 16 + P for slots 25-29 and 31. ECAM is claimed as a motherboard resource so OSes accept
 * the MCFG. */
static void build_pci_root(struct buf *sb, const struct acpi_config *c)
{
    struct buf dev, tmp, res, prt, entry;
    buf_init(&dev);
    buf_init(&tmp);
    buf_init(&res);
    buf_init(&prt);
    buf_init(&entry);
    if (c->chipset == ACPI_CHIPSET_PIIX) {
        aml_eisaid(&tmp, "PNP0A03");
        aml_name(&dev, "_HID", &tmp);
    } else {
        aml_eisaid(&tmp, "PNP0A08");
        aml_name(&dev, "_HID", &tmp);
        buf_reset(&tmp);
        aml_eisaid(&tmp, "PNP0A03");
        aml_name(&dev, "_CID", &tmp);
    }
    buf_reset(&tmp);
    aml_integer(&tmp, 0);
    aml_name(&dev, "_ADR", &tmp);
    aml_name(&dev, "_SEG", &tmp);
    aml_name(&dev, "_BBN", &tmp);
    aml_name(&dev, "_UID", &tmp);
    res_word(&res, 2, 0, 0, 255);
    aml_res_io(&res, 0xcf8, 8);
    res_word(&res, 1, 3, 0x0000, 0x0cf7);
    res_word(&res, 1, 3, 0x0d00, 0xffff);
    if (c->chipset != ACPI_CHIPSET_MICROVM)
        res_dword_mem(&res, 0xa0000, 0x20000);
    res_dword_mem(&res, (uint32_t)c->hole_base, (uint32_t)(c->hole_end - c->hole_base));
    buf_reset(&tmp);
    aml_resource_template(&tmp, &res);
    aml_name(&dev, "_CRS", &tmp);
    unsigned n = 0, k = c->chipset == ACPI_CHIPSET_PIIX ? 3 : 0;
    for (unsigned slot = 1; slot < PCI_NR_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            buf_reset(&entry);
            aml_integer(&entry, (uint64_t)slot << 16 | 0xffff);
            aml_integer(&entry, pin);
            aml_integer(&entry, 0);
            unsigned pirq = (slot + pin + k) % 4;
            if (c->chipset == ACPI_CHIPSET_ICH9) /* machine-pc.c's q35_intx_route */
                pirq = slot < 25 || slot == 30 ? 4 + (slot < 25 ? pirq : pin) : pin;
            aml_integer(&entry, 16 + pirq);
            aml_package(&prt, 4, &entry);
            n++;
        }
    }
    buf_reset(&tmp);
    aml_package(&tmp, n, &prt);
    aml_name(&dev, "_PRT", &tmp);
    aml_device(sb, "PCI0", &dev);

    if (c->ecam_base) {
        buf_reset(&dev);
        buf_reset(&res);
        buf_reset(&tmp);
        aml_eisaid(&tmp, "PNP0C02");
        aml_name(&dev, "_HID", &tmp);
        buf_reset(&tmp);
        aml_integer(&tmp, 1);
        aml_name(&dev, "_UID", &tmp);
        res_mem32_fixed(&res, (uint32_t)c->ecam_base, (uint32_t)PCI_ECAM_SIZE);
        buf_reset(&tmp);
        aml_resource_template(&tmp, &res);
        aml_name(&dev, "_CRS", &tmp);
        aml_device(sb, "MRES", &dev);
    }
    buf_free(&dev);
    buf_free(&tmp);
    buf_free(&res);
    buf_free(&prt);
    buf_free(&entry);
}

static void build_dsdt_body(struct buf *dsdt, const struct acpi_config *c)
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
    if (c->com1) {
        NAME_EISA(&dev, "_HID", "PNP0501");
        NAME_INT(&dev, "_UID", 1);
        NAME_INT(&dev, "_STA", 0xf);
        aml_res_io(&res, PORT_COM1, 8);
        aml_res_irq(&res, IRQ_COM1);
        NAME_RES(&dev);
        aml_device(&sb, "COM1", &dev);
        buf_reset(&dev);
    }

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
    if (c->i8042) {
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
    }

    /* Motherboard resources: the ACPI PM block and the reset register. */
    NAME_EISA(&dev, "_HID", "PNP0C02");
    NAME_INT(&dev, "_UID", 0);
    aml_res_io(&res, c->pm_base, c->chipset == ACPI_CHIPSET_MICROVM ? 8 : 64);
    aml_res_io(&res, PORT_RESET, 1);
    NAME_RES(&dev);
    aml_device(&sb, "PMIO", &dev);
    build_pci_root(&sb, c);
    struct buf gpe;
    buf_init(&gpe);
    if (c->gpe0_base && c->cpus && c->cpuhp)
        build_cpu_hotplug(&gpe, &sb, c);
    if (c->gpe0_base && c->memhp_slots)
        build_memory_hotplug(&gpe, &sb, c);

    aml_scope(dsdt, "\\_SB_", &sb);
    buf_append(dsdt, gpe.data, gpe.len); /* \_GPE after \_SB: _E02 calls into it */
    buf_free(&gpe);
#undef NAME_INT
#undef NAME_EISA
#undef NAME_RES
    buf_free(&tmp);
    buf_free(&pkg);
    buf_free(&dev);
    buf_free(&res);
    buf_free(&sb);
}

/* SRAT (ACPI 6.4 §5.2.16): a processor local APIC affinity entry per vCPU, then memory
 * affinity entries for each node's RAM ranges (numa_node_ranges: node 0's first, cut around
 * the 640 KiB hole and the PCI hole as the e820 is). SLIT (§5.2.17): the distance matrix,
 * only when -numa dist gave distances (as QEMU). */
static void build_numa(struct blob_builder *bb, const struct platform_desc *pd, uint32_t *srat,
                       uint32_t *slit)
{
    const struct numa_config *nc = pd->numa;
    bool nodes = nc && nc->nr_nodes;
    if (!nodes && !pd->memhp_size)
        return;
    /* Without -numa, DIMM slots make QEMU's one implicit node: all RAM and CPUs on node 0. */
    unsigned nr_nodes = nodes ? nc->nr_nodes : 1;
    uint64_t base[NUMA_MAX_NODES][3], len[NUMA_MAX_NODES][3];
    unsigned nr[NUMA_MAX_NODES], nr_mem = 0;
    for (unsigned n = 0; n < nr_nodes; n++) {
        if (nodes) {
            nr[n] = numa_node_ranges(nc, n, pd->ram_low_end, base[n], len[n]);
        } else {
            uint64_t low = pd->ram_low_end;
            nr[n] = 0;
            base[n][nr[n]] = 0;
            len[n][nr[n]++] = low < 0xa0000 ? low : 0xa0000;
            if (low > 0x100000) {
                base[n][nr[n]] = 0x100000;
                len[n][nr[n]++] = low - 0x100000;
            }
            if (pd->ram_size > low) {
                base[n][nr[n]] = 1ull << 32;
                len[n][nr[n]++] = pd->ram_size - low;
            }
        }
        nr_mem += nr[n];
    }
    if (pd->memhp_size)
        nr_mem++;
    unsigned slots = pd->max_cpus > pd->nr_cpus ? pd->max_cpus : pd->nr_cpus;
    uint32_t srat_len = 48 + 16 * slots + 40 * nr_mem;
    *srat = blob_alloc(bb, srat_len, 16);
    header(bb, *srat, "SRAT", srat_len, 1);
    uint8_t *t = tab(bb, *srat);
    put32(t + 36, 1); /* reserved, 1 for compatibility */
    uint8_t *e = t + 48;
    for (unsigned i = 0; i < slots; i++, e += 16) {
        put8(e, 0); /* processor local APIC/SAPIC affinity (every slot, as QEMU) */
        put8(e + 1, 16);
        put8(e + 2, nodes ? nc->cpu_node[i] : 0); /* proximity domain [7:0] */
        put8(e + 3, (uint8_t)pd->apic_ids[i]);
        put32(e + 4, 1); /* enabled */
    }
    for (unsigned n = 0; n < nr_nodes; n++) {
        for (unsigned k = 0; k < nr[n]; k++, e += 40) {
            put8(e, 1); /* memory affinity */
            put8(e + 1, 40);
            put32(e + 2, n);
            put64(e + 8, base[n][k]);
            put64(e + 16, len[n][k]);
            put32(e + 28, 1); /* enabled */
        }
    }
    if (pd->memhp_size) {
        /* The device-memory region: enabled and hot-pluggable, on the last node (QEMU's). */
        put8(e, 1);
        put8(e + 1, 40);
        put32(e + 2, nr_nodes - 1);
        put64(e + 8, pd->memhp_base);
        put64(e + 16, pd->memhp_size);
        put32(e + 28, 3);
    }
    if (!nodes)
        return;
    if (!nc->have_distance)
        return;
    uint32_t slit_len = 44 + nc->nr_nodes * nc->nr_nodes;
    *slit = blob_alloc(bb, slit_len, 16);
    header(bb, *slit, "SLIT", slit_len, 1);
    t = tab(bb, *slit);
    put64(t + 36, nc->nr_nodes);
    for (unsigned s = 0; s < nc->nr_nodes; s++)
        for (unsigned d = 0; d < nc->nr_nodes; d++)
            put8(t + 44 + s * nc->nr_nodes + d, nc->distance[s][d]);
}

void acpi_blob_free(struct acpi_blob *b)
{
    buf_free(&b->rsdp);
    buf_free(&b->tables);
    memset(b, 0, sizeof(*b));
}

int acpi_build_blob(const struct acpi_config *c, struct acpi_blob *b, struct verr *err)
{
    const struct platform_desc *pd = c->cpus;
    memset(b, 0, sizeof(*b));
    buf_init(&b->rsdp);
    buf_init(&b->tables);
    unsigned slots = pd->max_cpus > pd->nr_cpus ? pd->max_cpus : pd->nr_cpus;
    if (pd->nr_cpus == 0 || slots > ACPI_MAX_CPUS)
        return verr_set(err, EINVAL, "ACPI tables: unsupported vCPU count %u", slots);
    struct blob_builder bb = {b, c, false};
    bool firmware = c->chipset != ACPI_CHIPSET_MICROVM;

    /* FACS (64-byte aligned, first): no firmware waking vector, global lock unused. */
    uint32_t facs = blob_alloc(&bb, 64, 64);
    memcpy(tab(&bb, facs), "FACS", 4);
    put32(tab(&bb, facs) + 4, 64);
    put8(tab(&bb, facs) + 32, 2); /* version */

    /* DSDT */
    struct buf aml;
    buf_init(&aml);
    build_dsdt_body(&aml, c);
    uint32_t dsdt_len = (uint32_t)(36 + aml.len);
    uint32_t dsdt = blob_alloc(&bb, dsdt_len, 16);
    memcpy(tab(&bb, dsdt) + 36, aml.data, aml.len);
    buf_free(&aml);
    header(&bb, dsdt, "DSDT", dsdt_len, 2);

    /* FADT (ACPI 6.x layout, 276 bytes). */
    const uint32_t fadt_len = 276;
    uint32_t fadt = blob_alloc(&bb, fadt_len, 16);
    header(&bb, fadt, "FACP", fadt_len, 6);
    uint8_t *f = tab(&bb, fadt);
    put32(f + 36, 0); /* FIRMWARE_CTRL: zero because X_FIRMWARE_CTRL is set (ACPI 6) */
    put32(f + 40, dsdt);
    reloc(&bb, false, fadt + 40, 4);
    put16(f + 46, IRQ_SCI);
    put32(f + 48, 0); /* no SMI_CMD: the platform is always in ACPI mode */
    put32(f + 56, c->pm_base);
    put32(f + 64, c->pm_base + 4u);
    if (firmware)
        put32(f + 76, c->pm_base + 8u); /* PM_TMR_BLK */
    if (c->gpe0_base)
        put32(f + 80, c->gpe0_base); /* GPE0_BLK */
    put8(f + 88, 4);                 /* PM1_EVT_LEN */
    put8(f + 89, 2);                 /* PM1_CNT_LEN */
    put8(f + 91, firmware ? 4 : 0);  /* PM_TMR_LEN */
    uint8_t gpe0_len = c->gpe0_len ? c->gpe0_len : 4;
    if (c->gpe0_base)
        put8(f + 92, gpe0_len); /* GPE0_BLK_LEN: half status bytes, half enable bytes */
    put8(f + 108, 0x32);        /* CMOS century register */
    /* IAPC_BOOT_ARCH: legacy devices, and an 8042 when there is one. */
    put16(f + 109, (uint16_t)(0x0001 | (c->i8042 ? 0x0002 : 0)));
    /* Flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button), RESET_REG_SUP. */
    put32(f + 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
    gas_io(f + 116, PORT_RESET, 8);
    put8(f + 128, 0x06); /* RESET_VALUE: CPU reset + system reset */
    put8(f + 131, 3);    /* FADT minor version (6.3) */
    put64(f + 132, facs);
    reloc(&bb, false, fadt + 132, 8);
    put64(f + 140, dsdt);
    reloc(&bb, false, fadt + 140, 8);
    gas_io(f + 148, c->pm_base, 32);
    gas_io(f + 172, (uint16_t)(c->pm_base + 4), 16);
    if (firmware)
        gas_io(f + 208, (uint16_t)(c->pm_base + 8), 32); /* X_PM_TMR_BLK */
    if (c->gpe0_base) {
        gas_io(f + 220, c->gpe0_base, (uint8_t)(8 * gpe0_len)); /* X_GPE0_BLK */
        put8(f + 223, 1); /* read and written a byte at a time */
    }
    memcpy(f + 268, "VIREOVMM", 8); /* hypervisor vendor identity */

    /* MADT: local APIC per CPU slot (the absent ones not enabled: hot-pluggable), IOAPIC,
     * overrides IRQ0->GSI2 and the SCI, LINT1 NMI. */
    uint32_t madt_len = 44 + 8 * slots + 12 + 10 + 10 + 6;
    uint32_t madt = blob_alloc(&bb, madt_len, 16);
    header(&bb, madt, "APIC", madt_len, 4);
    uint8_t *m = tab(&bb, madt);
    put32(m + 36, (uint32_t)LAYOUT_LAPIC);
    put32(m + 40, 1); /* PCAT_COMPAT: dual 8259s present */
    uint8_t *e = m + 44;
    for (unsigned i = 0; i < slots; i++, e += 8) {
        put8(e, 0);
        put8(e + 1, 8);
        put8(e + 2, (uint8_t)i); /* ACPI processor UID */
        put8(e + 3, (uint8_t)pd->apic_ids[i]);
        put32(e + 4, i < pd->nr_cpus); /* enabled */
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

    /* MCFG: one ECAM allocation, segment 0, buses 0-255 (vmm/dev/pci.h). */
    uint32_t mcfg = 0;
    if (c->ecam_base) {
        mcfg = blob_alloc(&bb, 60, 16);
        header(&bb, mcfg, "MCFG", 60, 1);
        put64(tab(&bb, mcfg) + 44, c->ecam_base);
        put16(tab(&bb, mcfg) + 52, 0);
        put8(tab(&bb, mcfg) + 54, 0);
        put8(tab(&bb, mcfg) + 55, (uint8_t)(PCI_ECAM_SIZE / (1u << 20) - 1));
    }

    uint32_t srat = 0, slit = 0;
    build_numa(&bb, pd, &srat, &slit);
    uint32_t hmat = 0, hmat_len = srat ? acpi_hmat_len(pd->numa) : 0;
    if (hmat_len) {
        hmat = blob_alloc(&bb, hmat_len, 16);
        header(&bb, hmat, "HMAT", hmat_len, ACPI_HMAT_REVISION);
        acpi_hmat_fill(pd->numa, tab(&bb, hmat));
    }

    /* XSDT and RSDT list FADT, MADT, MCFG, SRAT, SLIT and HMAT (the DSDT is reached through the
     * FADT). */
    uint32_t entries[6] = {fadt, madt};
    unsigned ne = 2;
    if (mcfg)
        entries[ne++] = mcfg;
    if (srat)
        entries[ne++] = srat;
    if (slit)
        entries[ne++] = slit;
    if (hmat)
        entries[ne++] = hmat;
    uint32_t xsdt = blob_alloc(&bb, 36 + 8 * ne, 16);
    header(&bb, xsdt, "XSDT", 36 + 8 * ne, 1);
    for (unsigned i = 0; i < ne; i++) {
        put64(tab(&bb, xsdt) + 36 + 8 * i, entries[i]);
        reloc(&bb, false, xsdt + 36 + 8 * i, 8);
    }
    uint32_t rsdt = blob_alloc(&bb, 36 + 4 * ne, 16);
    header(&bb, rsdt, "RSDT", 36 + 4 * ne, 1);
    for (unsigned i = 0; i < ne; i++) {
        put32(tab(&bb, rsdt) + 36 + 4 * i, entries[i]);
        reloc(&bb, false, rsdt + 36 + 4 * i, 4);
    }

    /* RSDP revision 2: checksum over the first 20 bytes, extended over all 36. */
    uint8_t rsdp[36] = {0};
    memcpy(rsdp, "RSD PTR ", 8);
    const char *oem = c->oem_id[0] ? c->oem_id : OEM_ID;
    memset(rsdp + 9, ' ', 6);
    memcpy(rsdp + 9, oem, strlen(oem));
    put8(rsdp + 15, 2);
    put32(rsdp + 16, rsdt);
    put32(rsdp + 20, 36);
    put64(rsdp + 24, xsdt);
    buf_append(&b->rsdp, rsdp, sizeof(rsdp));
    reloc(&bb, true, 16, 4);
    reloc(&bb, true, 24, 8);
    sum(&bb, true, 8, 0, 20);
    sum(&bb, true, 32, 0, 36);
    if (bb.overflow)
        return verr_set(err, E2BIG, "ACPI tables: too many pointers or checksums (a bug)");
    return 0;
}

static uint8_t *blob_bytes(const struct acpi_blob *b, bool in_rsdp, uint8_t *rsdp, uint8_t *tables)
{
    (void)b;
    return in_rsdp ? rsdp : tables;
}

int acpi_blob_place(const struct guest_mem *gm, const struct acpi_blob *b, uint64_t rsdp_gpa,
                    uint64_t tables_gpa, struct verr *err)
{
    uint8_t *r = guest_mem_ptr(gm, rsdp_gpa, b->rsdp.len);
    uint8_t *t = guest_mem_ptr(gm, tables_gpa, b->tables.len);
    if (!r || !t)
        return verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    memcpy(r, b->rsdp.data, b->rsdp.len);
    memcpy(t, b->tables.data, b->tables.len);
    for (unsigned i = 0; i < b->nr_relocs; i++) {
        const struct acpi_reloc *x = &b->relocs[i];
        uint8_t *p = blob_bytes(b, x->in_rsdp, r, t) + x->offset;
        if (x->size == 4)
            put32(p, (uint32_t)(get32(p) + tables_gpa));
        else
            put64(p, get64(p) + tables_gpa);
    }
    for (unsigned i = 0; i < b->nr_sums; i++) {
        const struct acpi_sum *x = &b->sums[i];
        uint8_t *base = blob_bytes(b, x->in_rsdp, r, t);
        base[x->offset] = 0;
        base[x->offset] = bytes_checksum(base + x->start, x->len);
    }
    return 0;
}

/* table-loader commands (QEMU's hw/acpi/bios-linker-loader.c format, 128 bytes each). */
#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH    1
#define LOADER_ZONE_FSEG    2
#define LOADER_NAME         56

static uint8_t *loader_cmd(struct buf *s, uint32_t command)
{
    uint8_t cmd[128] = {0};
    put32(cmd, command);
    buf_append(s, cmd, sizeof(cmd));
    return s->data + s->len - sizeof(cmd);
}

void acpi_blob_loader(const struct acpi_blob *b, struct buf *s)
{
    uint8_t *c = loader_cmd(s, LOADER_ALLOCATE);
    strcpy((char *)c + 4, ACPI_FILE_RSDP);
    put32(c + 4 + LOADER_NAME, 16);
    put8(c + 8 + LOADER_NAME, LOADER_ZONE_FSEG);
    c = loader_cmd(s, LOADER_ALLOCATE);
    strcpy((char *)c + 4, ACPI_FILE_TABLES);
    put32(c + 4 + LOADER_NAME, 64);
    put8(c + 8 + LOADER_NAME, LOADER_ZONE_HIGH);
    for (unsigned i = 0; i < b->nr_relocs; i++) {
        const struct acpi_reloc *x = &b->relocs[i];
        c = loader_cmd(s, LOADER_ADD_POINTER);
        strcpy((char *)c + 4, x->in_rsdp ? ACPI_FILE_RSDP : ACPI_FILE_TABLES);
        strcpy((char *)c + 4 + LOADER_NAME, ACPI_FILE_TABLES);
        put32(c + 4 + 2 * LOADER_NAME, x->offset);
        put8(c + 8 + 2 * LOADER_NAME, x->size);
    }
    for (unsigned i = 0; i < b->nr_sums; i++) {
        const struct acpi_sum *x = &b->sums[i];
        c = loader_cmd(s, LOADER_ADD_CHECKSUM);
        strcpy((char *)c + 4, x->in_rsdp ? ACPI_FILE_RSDP : ACPI_FILE_TABLES);
        put32(c + 4 + LOADER_NAME, x->offset);
        put32(c + 8 + LOADER_NAME, x->start);
        put32(c + 12 + LOADER_NAME, x->len);
    }
}

int acpi_build(const struct guest_mem *gm, const struct platform_desc *pd, uint64_t *rsdp_out,
               struct verr *err)
{
    struct acpi_config c = {
        .chipset = ACPI_CHIPSET_MICROVM,
        .cpus = pd,
        .pm_base = PORT_ACPI_PM,
        .com1 = true,
        .i8042 = pd->ps2, /* always there; described with a display (platform_desc) */
        .hole_base = PCI_MMIO_BASE,
        .hole_end = PCI_MMIO_BASE + PCI_MMIO_SIZE,
        .ecam_base = PCI_ECAM_BASE,
        .gpe0_base = pd->gpe0 ? PORT_ACPI_GPE0 : 0,
        .cpuhp = pd->gpe0,
    };
    struct acpi_blob b;
    int r = acpi_build_blob(&c, &b, err);
    /* The RSDP at the start of the BIOS area, the tables after it, 64-byte aligned. */
    if (r == 0)
        r = acpi_blob_place(gm, &b, LAYOUT_RSDP, LAYOUT_RSDP + 64, err);
    if (r == 0 && LAYOUT_RSDP + 64 + b.tables.len > LAYOUT_ACPI_END)
        r = verr_set(err, ENOSPC, "ACPI tables do not fit in guest memory");
    acpi_blob_free(&b);
    if (r == 0)
        *rsdp_out = LAYOUT_RSDP;
    return r;
}
