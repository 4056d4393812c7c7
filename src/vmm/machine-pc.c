/*
 * machine-pc.c - QEMU's pc (i440FX + PIIX) and q35 (Q35 + ICH9) machines as
 * vireo-vmm builds them: the guest starts at the reset vector in firmware
 * (SeaBIOS's bios-256k.bin unless -bios or pflash says otherwise), which finds
 * the machine through the chipset (PCI host bridge and south bridge functions
 * with QEMU's ids) and fw_cfg, and boots what the boot order names.
 *
 * What is built, in order: the BIOS image mapped read-only below 4 GiB; the
 * PCI root bus with its MMIO hole from the end of low RAM to the IOAPIC (ECAM
 * where the q35 MCH's PCIEXBAR puts it); the devices (chipset functions,
 * RTC, i8042, port 0x92, port 0x80, COM1, fw_cfg, then -device's); then what
 * the firmware reads: fw_cfg's items and files (memory map, CPU counts, ACPI
 * tables with their loader script, boot order, user files) and the CMOS bytes
 * QEMU stores for firmware (memory sizes, CPU count, boot devices).
 *
 * What is left out, and how it shows: no HPET, no SMM, no default VGA, NIC,
 * CD-ROM or floppy (as with QEMU's -nodefaults; VGA comes from its own
 * device; q35 has its built-in AHCI controller at 1f.2, as QEMU's, unless
 * sata=off; pc has no IDE), no memory hot-plug in the ACPI tables. CPU
 * hot-plug (-smp maxcpus > cpus, vcpu-hotplug.h): QEMU's register block (pc:
 * 0xaf00 from legacy mode, q35: 0x0cd8), the GPE0 block in the FADT (pc:
 * 0xafe0, 4 bytes; q35: PMBASE + 0x20, 16 bytes) and the DSDT's CPU objects.
 *
 * With -drive if=pflash, the flash devices (dev/pflash.c) take the BIOS's place at the top
 * of the 4 GiB space.
 *
 * TODO(#15): OVMF (Debian's OVMF_CODE_4M.fd in pflash0, a copy of OVMF_VARS_4M.fd in pflash1,
 * q35) does not get past SEC on this project's machines: its first steps after entering
 * 32-bit mode initialise the FPU (fninit, which vireo-vmm completes, then fldcw, then the SSE
 * control register), and the host's nested KVM (PVM) emulator stops on fldcw: "emulation
 * failure at RIP 0xfffced48, code: d9 2d 74 ed fc ff" (fldcw [0xfffced74]); QEMU 7.2 stops one
 * instruction earlier, on the fwait at 0xfffced45. Nothing reaches the debug console (0x402)
 * or the variable store before that. Completing x87/SSE instructions in the VMM would not
 * get far: OVMF uses SSE throughout. On a host with hardware virtualization the same command
 * line is what libvirt gives QEMU.
 *
 * SMBIOS: QEMU 7.2's tables (boot/smbios.c) in etc/smbios/smbios-tables and -anchor.
 *
 * -kernel/-initrd/-append: boot/fwkernel.c's fw_cfg items and option ROM (genroms/), with
 * the ROM first in the boot order. SMBIOS for the older
 * machine versions is 7.2's (QEMU's legacy-mode tables of pc-*-2.0 and older are not made).
 */
#include "vmm/machine-pc.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/boot/acpi.h"
#include "vmm/boot/bootorder.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/firmware.h"
#include "vmm/boot/fwkernel.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/smbios.h"
#include "vmm/cli.h"
#include "vmm/dev/acpi-pm.h"
#include "vmm/dev/device.h"
#include "vmm/dev/fw-cfg.h"
#include "vmm/dev/pci.h"
#include "vmm/dev/pam.h"
#include "vmm/dev/pflash.h"
#include "vmm/dev/rtc.h"
#include "vmm/kvm/slots.h"
#include "vmm/vcpu-hotplug.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/machine.h"
#include "vmm/memory-hotplug.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct machine_state {
    struct fw_image bios; /* -bios's image; with pflash, a copy of pflash0 for 0xE0000 */
    int bios_slot;
    struct pflash flash[2];
    unsigned nr_flash;
    struct platform_desc cpus;
    struct acpi_config acpi;
    struct acpi_blob acpi_blob; /* the last build, for the refresh */
    struct fwkernel kernel;     /* -kernel's items and what goes back into RAM at reset */
};

void machine_pc_builtin_devices(const struct machine_config *mc, const char *serial_chardev,
                                const char *serial_what, struct dev_config ***list, unsigned *n)
{
    if (mc->kind == MACHINE_PC) {
        machine_builtin("i440FX", NULL, list, n);
        machine_builtin("PIIX3", NULL, list, n);
        machine_builtin("piix3-ide", NULL, list, n); /* 01.1: buses ide.0 and ide.1 */
        machine_builtin("PIIX4_PM", NULL, list, n);
    } else {
        machine_builtin("mch", NULL, list, n);
        machine_builtin("ICH9-LPC", NULL, list, n);
        if (!mc->no_sata) { /* QEMU's q35: its ich9-ahci at 1f.2, buses ide.0 to ide.5 */
            struct verr e = {0};
            struct dev_config *sata = machine_builtin("ich9-ahci", NULL, list, n);
            dev_config_set(sata, "addr", "1f.2", &e); /* a valid address: cannot fail */
        }
        if (!mc->no_smbus)
            machine_builtin("ICH9-SMB", NULL, list, n);
    }
    machine_builtin("mc146818rtc", NULL, list, n);
    if (!mc->no_i8042)
        machine_builtin("i8042", NULL, list, n);
    machine_builtin("port92", NULL, list, n);
    machine_builtin("ioport80", NULL, list, n);
    if (serial_chardev) {
        struct verr e = {0};
        struct dev_config *com1 = machine_builtin("isa-serial", serial_what, list, n);
        dev_config_set(com1, "chardev", serial_chardev, &e); /* a string: cannot fail */
    }
    machine_builtin("fw_cfg_io", NULL, list, n);
}

static struct device *find(struct vm *vm, const char *type)
{
    const struct dev_type *t = dev_type_find(type);
    return t ? dev_find_type(vm, t, 0) : NULL;
}

/* --- the memory map -------------------------------------------------------------------- */

static uint64_t low_ram(const struct vm *vm)
{
    return guest_mem_low_end(&vm->mem);
}

static uint64_t high_ram(const struct vm *vm)
{
    return vm->mem.nr_regions > 1 ? vm->mem.regions[1].size : 0;
}

/* etc/e820: what QEMU gives: RAM below and above 4 GiB, and KVM's TSS and identity map. */
static void e820_file(const struct vm *vm, struct buf *out)
{
    uint64_t ents[3][3] = {
        {0, low_ram(vm), E820_RAM},
        {LAYOUT_HIGH_START, high_ram(vm), E820_RAM},
        {LAYOUT_IDENTITY_MAP, 0x4000, E820_RESERVED},
    };
    for (unsigned i = 0; i < 3; i++) {
        if (!ents[i][1])
            continue;
        uint8_t e[20];
        put64(e, ents[i][0]);
        put64(e + 8, ents[i][1]);
        put32(e + 16, (uint32_t)ents[i][2]);
        buf_append(out, e, sizeof(e));
    }
}

/* --- ACPI ------------------------------------------------------------------------------- */

static uint16_t pm_base_now(struct vm *vm)
{
    /* Where the firmware put the PM block (PMBASE); QEMU builds its tables from it too. */
    struct device *pm = find(vm, vm->cfg->machine.kind == MACHINE_PC ? "PIIX4_PM" : "ICH9-LPC");
    if (!pm || !pm->pci)
        return PORT_ACPI_PM;
    pthread_mutex_lock(&pm->pci->lock);
    uint16_t base = (uint16_t)((pm->pci->cfg[0x40] | pm->pci->cfg[0x41] << 8) & 0xff80);
    if (vm->cfg->machine.kind == MACHINE_PC)
        base = (uint16_t)((pm->pci->cfg[0x40] | pm->pci->cfg[0x41] << 8) & 0xffc0);
    pthread_mutex_unlock(&pm->pci->lock);
    return base ? base : PORT_ACPI_PM;
}

static int build_acpi(struct vm *vm, struct verr *err)
{
    struct machine_state *ms = vm->machine;
    ms->acpi.pm_base = pm_base_now(vm);
    /* A plugged vCPU is enabled in the MADT a reset rebuilds, as QEMU's. */
    pthread_mutex_lock(&vm->lock);
    ms->cpus.nr_cpus = vm->nr_vcpus ? vm->nr_vcpus : vm->cfg->cpus;
    pthread_mutex_unlock(&vm->lock);
    if (vm->cfg->max_cpus > vm->cfg->cpus && vcpu_hotplug_supported(vm)) {
        bool pc = vm->cfg->machine.kind == MACHINE_PC;
        ms->acpi.gpe0_base =
            pc ? PORT_ACPI_GPE0 : (uint16_t)(ms->acpi.pm_base + ACPI_PM_ICH9_GPE0_OFF);
        ms->acpi.gpe0_len = pc ? ACPI_PM_GPE0_LEN : ACPI_PM_ICH9_GPE0_LEN;
        ms->acpi.cpuhp_port = vcpu_hotplug_port(vm);
        ms->acpi.cpuhp_legacy = pc;
        ms->acpi.cpuhp = true;
    }
    if (vm->memhp) {
        bool pc = vm->cfg->machine.kind == MACHINE_PC;
        ms->acpi.gpe0_base =
            pc ? PORT_ACPI_GPE0 : (uint16_t)(ms->acpi.pm_base + ACPI_PM_ICH9_GPE0_OFF);
        ms->acpi.gpe0_len = pc ? ACPI_PM_GPE0_LEN : ACPI_PM_ICH9_GPE0_LEN;
        ms->acpi.memhp_slots = vm->cfg->mem_slots;
    }
    if (vm->cfg->machine.kind == MACHINE_Q35) {
        uint64_t ecam = pci_bus_ecam(vm->pci);
        ms->acpi.ecam_base = ecam ? ecam : 0xb0000000ull; /* SeaBIOS's, until it is set */
    }
    acpi_blob_free(&ms->acpi_blob);
    return acpi_build_blob(&ms->acpi, &ms->acpi_blob, err);
}

/* fw_cfg refresh of etc/acpi/rsdp and etc/acpi/tables: the tables as the registers now are
 * (same length: only addresses inside change). */
static void refresh_acpi(void *opaque, struct fw_cfg_item *it)
{
    struct vm *vm = opaque;
    struct machine_state *ms = vm->machine;
    struct verr err = {0};
    bool rsdp = it->len == ms->acpi_blob.rsdp.len && it->len == 36;
    if (build_acpi(vm, &err) < 0) {
        log_error("ACPI tables: %s", verr_msg(&err));
        return;
    }
    const struct buf *b = rsdp ? &ms->acpi_blob.rsdp : &ms->acpi_blob.tables;
    if (b->len == it->len)
        memcpy(it->data, b->data, b->len);
    else
        log_error("ACPI tables changed length on refresh (%zu, was %u)", b->len, it->len);
}

/* --- fw_cfg ----------------------------------------------------------------------------- */

/* RFC 4122 text to the 16 bytes QEMU puts in FW_CFG_UUID (network order). */
static void uuid_bytes(const char *text, uint8_t out[16])
{
    memset(out, 0, 16);
    for (unsigned i = 0, k = 0; text[i] && k < 32; i++) {
        char c = text[i];
        if (c == '-')
            continue;
        unsigned v = (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        out[k / 2] = (uint8_t)(out[k / 2] | (k % 2 ? v : v << 4));
        k++;
    }
}

static int add_file(struct fw_cfg *fc, const char *name, struct buf *b, struct verr *err)
{
    size_t len;
    char *data = buf_detach(b, &len);
    return fw_cfg_add_file_owned(fc, name, data, (uint32_t)len, err);
}

/* etc/smbios/smbios-tables and -anchor: QEMU 7.2's default tables with -smbios's fields. */
static int add_smbios(struct vm *vm, struct fw_cfg *fc, const uint8_t uuid[16], bool have_uuid,
                      struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    const struct machine_config *mc = &cfg->machine;
    bool pc = mc->kind == MACHINE_PC;
    const char *version = mc->type;
    if (!strcmp(mc->type, "pc"))
        version = "pc-i440fx-7.2";
    else if (!strcmp(mc->type, "q35"))
        version = "pc-q35-7.2";
    struct smbios_machine m = {
        .product = pc ? "Standard PC (i440FX + PIIX, 1996)" : "Standard PC (Q35 + ICH9, 2009)",
        .version = version,
        .uuid = have_uuid ? uuid : NULL,
        .ram_size = vm->mem.size,
        .ram_below_4g = low_ram(vm),
        .ram_above_4g = high_ram(vm),
        .sockets = vm->topo.sockets ? vm->topo.sockets : 1,
        .cores = vm->topo.cores ? vm->topo.cores : 1,
        .threads = vm->topo.threads ? vm->topo.threads : 1,
    };
    struct kvm_cpuid2 *c =
        cpuid_for_vcpu(vm->supported_cpuid, &vm->cpu_model, &cfg->cpu_features, &vm->topo, 0);
    for (unsigned i = 0; c && i < c->nent; i++) {
        if (c->entries[i].function == 1) {
            m.cpuid_version = c->entries[i].eax;
            m.cpuid_features = c->entries[i].edx;
        }
    }
    free(c);
    /* -smbios file='s bytes are read now (the command line does no I/O), into a copy of the
     * configuration that shares its strings and owns only the bytes read. */
    struct smbios_config sc = cfg->smbios;
    for (unsigned i = 0; i < sc.nr_files; i++)
        buf_init(&sc.files[i]);
    int r = smbios_load_files(&sc, err);
    struct buf tables = BUF_INIT, anchor = BUF_INIT;
    if (r == 0)
        smbios_build(&sc, &m, &tables, &anchor);
    for (unsigned i = 0; i < sc.nr_files; i++)
        buf_free(&sc.files[i]);
    if (r < 0)
        return r;
    r = add_file(fc, "etc/smbios/smbios-tables", &tables, err);
    if (r == 0)
        r = add_file(fc, "etc/smbios/smbios-anchor", &anchor, err);
    buf_free(&tables);
    buf_free(&anchor);
    return r;
}

static int fill_fw_cfg(struct vm *vm, struct fw_cfg *fc, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    struct machine_state *ms = vm->machine;
    uint32_t max_apic = 0; /* over every -smp maxcpus slot */
    for (unsigned i = 0; i < cfg->max_cpus; i++)
        if (cpu_topology_apic_id(&vm->topo, i) > max_apic)
            max_apic = cpu_topology_apic_id(&vm->topo, i);
    uint8_t uuid[16];
    uuid_bytes(cfg->uuid, uuid);
    bool have_uuid = cfg->uuid[0] != '\0';
    if (cfg->smbios.type1.have_uuid) { /* QEMU: -smbios type=1,uuid= is the VM's UUID */
        memcpy(uuid, cfg->smbios.type1.uuid, 16);
        have_uuid = true;
    }
    fw_cfg_set(fc, FW_CFG_UUID, uuid, 16);
    fw_cfg_set_u64(fc, FW_CFG_RAM_SIZE, vm->mem.size);
    fw_cfg_set_u16(fc, FW_CFG_NOGRAPHIC, cfg->nographic || cfg->machine.no_graphics);
    fw_cfg_set_u16(fc, FW_CFG_NB_CPUS, (uint16_t)vm->nr_vcpus);
    fw_cfg_set_u16(fc, FW_CFG_MAX_CPUS, (uint16_t)(max_apic + 1));
    fw_cfg_set_u16(fc, FW_CFG_BOOT_DEVICE, (uint16_t)cfg->boot.order[0]);
    fw_cfg_set_u16(fc, FW_CFG_BOOT_MENU, cfg->boot.menu);
    fw_cfg_set_u32(fc, FW_CFG_IRQ0_OVERRIDE, 1);
    fw_cfg_set_u16(fc, FW_CFG_ACPI_TABLES, 0);    /* legacy tables: none */
    fw_cfg_set_u16(fc, FW_CFG_SMBIOS_ENTRIES, 0); /* legacy entries: none (files instead) */
    fw_cfg_set_u32(fc, FW_CFG_E820_TABLE, 0);     /* legacy reservations: etc/e820 has them */
    /* NUMA (QEMU's layout): the node count, each possible APIC id's node, each node's
     * memory size. */
    const struct numa_config *nc = &cfg->numa;
    uint32_t numa_len = (1 + max_apic + 1 + nc->nr_nodes) * 8;
    uint8_t *numa = xcalloc(1, numa_len);
    put64(numa, nc->nr_nodes);
    for (unsigned i = 0; nc->nr_nodes && i < cfg->max_cpus; i++)
        put64(numa + 8 + 8 * cpu_topology_apic_id(&vm->topo, i), nc->cpu_node[i]);
    for (unsigned n = 0; n < nc->nr_nodes; n++)
        put64(numa + 8 * (1 + max_apic + 1 + n), nc->node_mem[n]);
    fw_cfg_set(fc, FW_CFG_NUMA, numa, numa_len);
    free(numa);

    struct buf b = BUF_INIT;
    int r = 0;
    e820_file(vm, &b);
    r = add_file(fc, "etc/e820", &b, err);
    if (r == 0) {
        uint8_t v[4];
        put32(v, (uint32_t)(int32_t)cfg->boot.reboot_timeout);
        r = fw_cfg_add_file(fc, "etc/boot-fail-wait", v, 4, err);
    }
    if (r == 0 && cfg->boot.splash_time >= 0) {
        uint8_t v[2];
        put16(v, (uint16_t)cfg->boot.splash_time);
        r = fw_cfg_add_file(fc, "etc/boot-menu-wait", v, 2, err);
    }
    if (r == 0 && vm->memhp) {
        /* etc/reserved-memory-end: where the DIMMs' region ends (QEMU's, rounded up to 1 GiB),
         * so the firmware puts no 64-bit BAR in it. */
        uint64_t base, size;
        uint8_t v[8];
        memhp_region(vm, &base, &size);
        put64(v, (base + size + (1ull << 30) - 1) & ~((1ull << 30) - 1));
        r = fw_cfg_add_file(fc, "etc/reserved-memory-end", v, 8, err);
    }
    if (r == 0) {
        /* S3 and S4 are off (bit 7 clear): vireo-vmm cannot suspend a guest. */
        static const uint8_t states[6] = {0, 0, 0, 0, 0, 0};
        r = fw_cfg_add_file(fc, "etc/system-states", states, sizeof(states), err);
    }
    if (r == 0 && cfg->kernel)
        r = fwkernel_setup(&ms->kernel, fc, low_ram(vm), cfg->kernel, cfg->kernel_arg, cfg->initrd,
                           cfg->append, err);
    if (r == 0) {
        /* bootorder: every device with bootindex=, by its OpenFirmware path; with -kernel,
         * first the option ROM that boots it (boot index 0, as QEMU gives it). */
        struct boot_entry *ents = xcalloc(vm->nr_devices + 2, sizeof(*ents));
        unsigned ne = 0;
        if (cfg->kernel) {
            snprintf(ents[0].path, sizeof(ents[0].path), "/rom@genroms/%s", ms->kernel.rom);
            ents[ne++].index = 0;
        }
        for (unsigned i = 0; i < vm->nr_devices; i++) {
            const struct device *d = vm->devices[i];
            if (d->cfg->bootindex < 0)
                continue;
            if (cfg->kernel && d->cfg->bootindex == 0) {
                free(ents);
                buf_free(&b);
                return verr_set(err, EINVAL, "Two devices with same boot index 0");
            }
            dev_fw_path(d, ents[ne].path, sizeof(ents[ne].path));
            ents[ne].index = d->cfg->bootindex;
            if (ents[ne].path[0])
                ne++;
        }
        bootorder_file(ents, ne, cfg->boot.strict, &b);
        free(ents);
        if (b.len)
            r = add_file(fc, "bootorder", &b, err);
    }
    /* -fw_cfg's items, as QEMU loads them (a file's bytes as they are, a string without its
     * NUL); a name clashing with the machine's own files is refused by fw_cfg_add_file. */
    for (unsigned i = 0; r == 0 && i < cfg->nr_fw_cfg_items; i++) {
        const struct cli_fw_cfg_item *it = &cfg->fw_cfg_items[i];
        if (strncmp(it->name, "opt/", 4) != 0)
            log_warn("-fw_cfg %s: externally provided fw_cfg item names should be prefixed "
                     "with \"opt/\"",
                     it->name);
        if (it->string) {
            r = fw_cfg_add_file(fc, it->name, it->string, (uint32_t)strlen(it->string), err);
        } else {
            struct buf f = BUF_INIT;
            r = file_read_all(it->file, UINT32_MAX, &f, err);
            if (r == 0)
                r = add_file(fc, it->name, &f, err);
            buf_free(&f);
        }
        if (r < 0)
            r = verr_prefix(err, "-fw_cfg name=%s", it->name);
    }
    if (r == 0)
        r = add_smbios(vm, fc, uuid, have_uuid, err);
    if (r == 0)
        r = build_acpi(vm, err);
    if (r == 0) {
        r = fw_cfg_add_file(fc, ACPI_FILE_RSDP, ms->acpi_blob.rsdp.data,
                            (uint32_t)ms->acpi_blob.rsdp.len, err);
        if (r == 0)
            r = fw_cfg_add_file(fc, ACPI_FILE_TABLES, ms->acpi_blob.tables.data,
                                (uint32_t)ms->acpi_blob.tables.len, err);
        if (r == 0) {
            acpi_blob_loader(&ms->acpi_blob, &b);
            r = add_file(fc, ACPI_FILE_LOADER, &b, err);
        }
    }
    buf_free(&b);
    if (r < 0)
        return r;
    fw_cfg_seal(fc);
    fw_cfg_set_refresh(fc, ACPI_FILE_RSDP, refresh_acpi, vm);
    fw_cfg_set_refresh(fc, ACPI_FILE_TABLES, refresh_acpi, vm);
    return 0;
}

/* --- CMOS ------------------------------------------------------------------------------- */

static void fill_cmos(struct vm *vm, struct device *rtc)
{
    const struct vmm_config *cfg = vm->cfg;
    uint64_t low = low_ram(vm), high = high_ram(vm);
    uint64_t ext = low > (1u << 20) ? (low - (1u << 20)) >> 10 : 0; /* KiB above 1 MiB */
    uint64_t above16 = low > (16u << 20) ? (low - (16u << 20)) >> 16 : 0;
    uint64_t above4g = high >> 16;
    if (ext > 0xffff)
        ext = 0xffff;
    if (above16 > 0xffff)
        above16 = 0xffff;
    rtc_cmos_set(rtc, 0x14, 0x06); /* equipment: FPU, PS/2 mouse */
    rtc_cmos_set(rtc, 0x15, 0x80); /* base memory: 640 KiB */
    rtc_cmos_set(rtc, 0x16, 0x02);
    rtc_cmos_set(rtc, 0x17, (uint8_t)ext);
    rtc_cmos_set(rtc, 0x18, (uint8_t)(ext >> 8));
    rtc_cmos_set(rtc, 0x30, (uint8_t)ext);
    rtc_cmos_set(rtc, 0x31, (uint8_t)(ext >> 8));
    rtc_cmos_set(rtc, 0x34, (uint8_t)above16);
    rtc_cmos_set(rtc, 0x35, (uint8_t)(above16 >> 8));
    rtc_cmos_set(rtc, 0x5b, (uint8_t)above4g);
    rtc_cmos_set(rtc, 0x5c, (uint8_t)(above4g >> 8));
    rtc_cmos_set(rtc, 0x5d, (uint8_t)(above4g >> 16));
    rtc_cmos_set(rtc, 0x5f, (uint8_t)(vm->nr_vcpus - 1));
    uint8_t r3d, r38;
    bootorder_cmos(cfg->boot.once[0] ? cfg->boot.once : cfg->boot.order, &r3d, &r38);
    rtc_cmos_set(rtc, 0x3d, r3d);
    rtc_cmos_set(rtc, 0x38, r38);
}

/* --- the machine ---------------------------------------------------------------------- */

/* ICH9's INTx wiring as QEMU 7.2 sets it up (ich9-lpc.c): slots 0-24 rotate over PIRQ E-H
 * (GSI 20-23), slot 30 (the DMI-to-PCI bridge) takes PIRQ E + pin, and slots 25-29 and 31
 * follow their D<slot>IR registers' default, PIRQ A + pin (GSI 16-19). */
static unsigned q35_intx_route(unsigned slot, unsigned pin)
{
    if (slot < 25)
        return 4 + (slot + pin) % 4;
    return slot == 30 ? 4 + pin % 4 : pin % 4;
}

static int map_bios(struct vm *vm, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    struct machine_state *ms = vm->machine;
    const char *bios = cfg->bios ? cfg->bios : cfg->machine.firmware;
    int r = firmware_load_bios(bios, &ms->bios, err);
    if (r < 0)
        return r;
    vm->bios = &ms->bios;
    ms->bios_slot = kvm_slot_alloc(&vm->kvm);
    if (ms->bios_slot < 0)
        return verr_set(err, ENOSPC, "no free KVM memory slot for the BIOS");
    r = kvm_map_slot(&vm->kvm, ms->bios_slot, LAYOUT_HIGH_START - ms->bios.size, ms->bios.size,
                     ms->bios.data, true, err);
    if (r < 0)
        return verr_prefix(err, "mapping the BIOS '%s'", ms->bios.path);
    log_debug("BIOS '%s' (%llu KiB) at 0x%llx", ms->bios.path,
              (unsigned long long)(ms->bios.size >> 10),
              (unsigned long long)(LAYOUT_HIGH_START - ms->bios.size));
    return 0;
}

/* -drive if=pflash: pflash0 ends at 4 GiB, pflash1 right below it (QEMU's pc_sysfw.c). The
 * last 128 KiB of pflash0 also appear at 0xE0000 as a ROM copy taken now, as QEMU's
 * "isa-bios" is (the chipset's PAM registers shadow it from there). */
static int map_flash(struct vm *vm, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    struct machine_state *ms = vm->machine;
    uint64_t total = 0;
    for (unsigned u = 0; u < 2 && cfg->pflash_drive[u] >= 0; u++) {
        int index = cfg->pflash_drive[u];
        const struct vmm_drive *d = &cfg->backends.drives[index];
        if (d->snapshot)
            return verr_set(err, ENOTSUP,
                            "-drive if=pflash,unit=%u: -snapshot is not supported "
                            "with if=pflash (give the drive snapshot=off)",
                            u);
        if (vm_backends_take(vm->backends, BACKEND_DRIVE, index))
            return verr_set(err, EBUSY, "drive '%s' is already in use", d->id);
        int r = pflash_open(&ms->flash[u], u, d->file, d->read_only, err);
        ms->nr_flash = u + 1;
        if (r < 0)
            return r;
        char *smm = u == 0 ? firmware_requires_smm(d->file) : NULL;
        if (smm) {
            r = verr_set(err, ENOTSUP,
                         "pflash0 '%s' needs SMM (%s lists requires-smm), which vireo-vmm's "
                         "machines do not have: use a build without it (OVMF_CODE_4M.fd)",
                         d->file, smm);
            free(smm);
            return r;
        }
        total += ms->flash[u].size;
        if (total > PFLASH_MAX_TOTAL)
            return verr_set(err, EFBIG, "combined size of system firmware exceeds %u bytes",
                            PFLASH_MAX_TOTAL);
        r = pflash_map(&ms->flash[u], &vm->kvm, &vm->mmio, LAYOUT_HIGH_START - total, err);
        if (r < 0)
            return r;
    }
    const struct pflash *f0 = &ms->flash[0];
    uint64_t isa = f0->size < PAM_ISA_BIOS ? PAM_ISA_BIOS : f0->size;
    ms->bios.size = isa;
    ms->bios.path = xstrdup(f0->path);
    ms->bios.data = mmap(NULL, isa, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ms->bios.data == MAP_FAILED) {
        ms->bios.data = NULL;
        return verr_errno(err, errno, "pflash0: cannot allocate %llu bytes",
                          (unsigned long long)isa);
    }
    /* A flash smaller than 128 KiB fills the top of the window; below it reads as nothing. */
    memset(ms->bios.data, 0xff, isa - f0->size);
    memcpy(ms->bios.data + isa - f0->size, f0->storage, f0->size);
    vm->bios = &ms->bios;
    return 0;
}

int machine_pc_create(struct vm *vm, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    const struct machine_config *mc = &cfg->machine;
    struct machine_state *ms = xcalloc(1, sizeof(*ms));
    vm->machine = ms;
    int r = cfg->pflash_drive[0] >= 0 ? map_flash(vm, err) : map_bios(vm, err);
    if (r < 0)
        return r;

    struct pci_bus_config pc = {
        .hole_base = low_ram(vm),
        .hole_end = PCI_HOLE_END,
        .intx_offset = mc->kind == MACHINE_PC ? 3 : 0,
        .intx_route = mc->kind == MACHINE_Q35 ? q35_intx_route : NULL,
    };
    if ((r = pci_bus_create(vm, &pc, &vm->pci, err)) < 0)
        return r;
    if ((r = dev_create_all(vm, vm->dev_configs, vm->nr_dev_configs, err)) < 0)
        return r;

    ms->cpus.nr_cpus = cfg->cpus;
    ms->cpus.max_cpus = cfg->max_cpus;
    ms->cpus.numa = &cfg->numa;
    ms->cpus.ram_low_end = guest_mem_low_end(&vm->mem);
    ms->cpus.ram_size = cfg->mem_size;
    if (vm->memhp)
        memhp_region(vm, &ms->cpus.memhp_base, &ms->cpus.memhp_size);
    ms->acpi = (struct acpi_config){
        .chipset = mc->kind == MACHINE_PC ? ACPI_CHIPSET_PIIX : ACPI_CHIPSET_ICH9,
        .cpus = &ms->cpus,
        .pm_base = PORT_ACPI_PM,
        .com1 = cfg->serial_chardev >= 0,
        .i8042 = !mc->no_i8042,
        .hole_base = pc.hole_base,
        .hole_end = pc.hole_end,
    };
    memcpy(ms->acpi.oem_id, mc->oem_id, sizeof(mc->oem_id));
    memcpy(ms->acpi.oem_table_id, mc->oem_table_id, sizeof(mc->oem_table_id));
    return 0;
}

int machine_pc_load_boot(struct vm *vm, struct verr *err)
{
    struct machine_state *ms = vm->machine;
    vm->boot.mode = BOOT_ENTRY_RESET_VECTOR;
    if (ms->cpus.nr_cpus && !find(vm, "fw_cfg_io"))
        return verr_set(err, ENODEV, "the machine has no fw_cfg (a bug)");
    struct device *fwd = find(vm, "fw_cfg_io");
    struct fw_cfg *fc = fw_cfg_of(fwd);
    if (fc->sealed) {
        /* a reset: the items stand, only the CMOS, chipset and flash were reset, and a PVH
         * kernel goes back into RAM (the guest may have written over it) */
        for (unsigned u = 0; u < ms->nr_flash; u++)
            pflash_reset(&ms->flash[u]);
        /* The vCPU count the firmware boots with follows CPU hot-plug, as QEMU's fw_cfg
         * NB_CPUS and CMOS 0x5f do: SeaBIOS waits for that many CPUs to check in, and an AP
         * it does not wait for is left running in code it then write-protects. */
        fw_cfg_set_u16(fc, FW_CFG_NB_CPUS, (uint16_t)vm->nr_vcpus);
        struct device *rtc = find(vm, "mc146818rtc");
        if (rtc)
            rtc_cmos_set(rtc, 0x5f, (uint8_t)(vm->nr_vcpus - 1));
        return fwkernel_load(&ms->kernel, &vm->mem, err);
    }
    for (unsigned i = 0; i < vm->cfg->max_cpus; i++)
        ms->cpus.apic_ids[i] = cpu_topology_apic_id(&vm->topo, i);
    int r = fill_fw_cfg(vm, fc, err);
    if (r < 0)
        return r;
    fill_cmos(vm, find(vm, "mc146818rtc"));
    /* An incoming VM's RAM comes from the state stream (see vm.c): nothing is written. */
    return vm->cfg->incoming ? 0 : fwkernel_load(&ms->kernel, &vm->mem, err);
}

void machine_pc_destroy(struct vm *vm)
{
    struct machine_state *ms = vm->machine;
    if (!ms)
        return;
    acpi_blob_free(&ms->acpi_blob);
    fwkernel_free(&ms->kernel);
    for (unsigned u = 0; u < ms->nr_flash; u++)
        pflash_close(&ms->flash[u]);
    fw_image_free(&ms->bios);
    free(ms);
    vm->machine = NULL;
    vm->bios = NULL;
}
