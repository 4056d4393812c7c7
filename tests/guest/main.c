/*
 * The test guest's C entry: set up the UART, IDT and context, read the
 * command line, run the selected tests in a fixed order, print the TAP
 * plan and leave through the debug-exit port. start.S calls guest_main()
 * from both entry points with the boot protocol used and its info pointer.
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/cpu.h"
#include "lib/libc.h"

void guest_main(int kind, uint64_t info);
void guest_early_exit(int kind, uint64_t info);

/* Called from start.S before .bss is zeroed, so it touches no static
 * data: reads the command line straight from the boot structure and
 * leaves through the debug-exit port if the last tests= word is
 * tests=none. Everything else the guest does costs emulated instructions
 * the start-up benchmark should not pay for. */
void guest_early_exit(int kind, uint64_t info)
{
    if (!info)
        return;
    const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)info;
    uint64_t cmdline;
    if (kind == BOOT_PVH) {
        if (*(const volatile uint32_t *)p != PVH_START_MAGIC)
            return;
        cmdline = *(const volatile uint64_t *)(p + 24);
    } else if (kind == BOOT_MULTIBOOT) {
        if (!(*(const volatile uint32_t *)p & (1u << 2)))
            return;
        cmdline = *(const volatile uint32_t *)(p + 16);
    } else {
        cmdline = *(const volatile uint32_t *)(p + 0x228);
    }
    if (!cmdline || cmdline >= (4ull << 30))
        return;
    const volatile char *c = (const volatile char *)(uintptr_t)cmdline;
    bool none = false;
    for (unsigned i = 0; i < BOOTINFO_MAX_CMDLINE && c[i]; i++) {
        if ((i == 0 || c[i - 1] == ' ') && c[i] == 't' && c[i + 1] == 'e' && c[i + 2] == 's' &&
            c[i + 3] == 't' && c[i + 4] == 's' && c[i + 5] == '=') {
            const volatile char *v = c + i + 6;
            none = v[0] == 'n' && v[1] == 'o' && v[2] == 'n' && v[3] == 'e' &&
                   (v[4] == ' ' || v[4] == '\0');
        }
    }
    if (none)
        guest_exit(0);
}

/* 0 when s starts with word followed by a space or the end. */
static int strncmp_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    return !(memcmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\0'));
}

static bool word_eq(const char *s, uint32_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static void parse_params(struct guest *g)
{
    const char *p = g->boot.cmdline;
    g->nparams = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if (g->nparams == GUEST_MAX_PARAMS)
            continue;
        struct param *pa = &g->params[g->nparams++];
        pa->key = w;
        pa->klen = (uint32_t)(p - w);
        pa->val = "";
        pa->vlen = 0;
        for (const char *q = w; q < p; q++) {
            if (*q == '=') {
                pa->klen = (uint32_t)(q - w);
                pa->val = q + 1;
                pa->vlen = (uint32_t)(p - q - 1);
                break;
            }
        }
    }
}

bool param_str(const struct guest *g, const char *key, const char **val, uint32_t *len)
{
    /* The last occurrence wins, as with Linux's command line. */
    bool found = false;
    for (unsigned i = 0; i < g->nparams; i++) {
        if (word_eq(g->params[i].key, g->params[i].klen, key)) {
            *val = g->params[i].val;
            *len = g->params[i].vlen;
            found = true;
        }
    }
    return found;
}

bool param_is(const struct guest *g, const char *key, const char *value)
{
    const char *v;
    uint32_t n;
    return param_str(g, key, &v, &n) && word_eq(v, n, value);
}

bool param_u64(struct guest *g, const char *key, bool size_suffix, bool hex, uint64_t *out)
{
    const char *v;
    uint32_t n;
    if (!param_str(g, key, &v, &n))
        return false;
    if (!parse_u64(v, n, hex, size_suffix, out)) {
        tap_ok(&g->tap, false, "cmdline: value of %s= does not parse", key);
        return false;
    }
    return true;
}

enum {
    T_BOOT = 1 << 0,
    T_MEM = 1 << 1,
    T_CMDLINE = 1 << 2,
    T_INITRD = 1 << 3,
    T_ACPI = 1 << 4,
    T_MPTABLE = 1 << 5,
    T_SMP = 1 << 6,
    T_UART = 1 << 7,
    T_RTC = 1 << 8,
    T_RESET = 1 << 9,
    T_PCI = 1 << 10,
    T_TIMER = 1 << 11,
    T_ALL = (1 << 12) - 1,
    T_POWEROFF = 1 << 12, /* not part of all: it ends the run */
    T_BLK = 1 << 13,      /* virtio tests: not in `all`, they need devices on the command line */
    T_RNG = 1 << 14,
    T_NET = 1 << 15,
    T_BALLOON = 1 << 16,
    T_CONSOLE = 1 << 17,
    T_STATE = 1 << 18, /* the continuity workload (t-state.c): runs alone and ends the run */
    T_VGA = 1 << 19,
    T_PS2 = 1 << 20,
    T_SCSI = 1 << 21,
    T_HOTPLUG = 1 << 22, /* PCIe hot-plug through a root port: needs the host's QMP */
    T_FWCFG = 1 << 23,   /* fw_cfg: pc and q35 only, not in `all` */
    T_XHCI = 1 << 24,    /* xHCI and USB HID: input from the host over VNC */
    T_CPUID = 1 << 25,   /* the CPUID leaves of the CPU model, printed for the host */
    T_AHCI = 1 << 26,    /* AHCI with ide-hd/ide-cd (t-ahci.c), not in `all` */
    T_AGENT = 1 << 27,   /* a guest agent on virtio-serial (t-agent.c); ends in a power-off */
    T_NUMA = 1 << 28,    /* the ACPI SRAT and SLIT (t-numa.c), not in `all` */
    T_PFLASH = 1 << 29,  /* CFI flash of -drive if=pflash (t-pflash.c), not in `all` */
    T_CPUHP = 1 << 30,   /* vCPU hot-plug (t-cpuhp.c): needs the host's QMP, not in `all` */
};

static const struct {
    const char *name;
    unsigned bit;
} test_names[] = {
    {"boot", T_BOOT},       {"mem", T_MEM},         {"cmdline", T_CMDLINE},
    {"initrd", T_INITRD},   {"acpi", T_ACPI},       {"mptable", T_MPTABLE},
    {"smp", T_SMP},         {"uart", T_UART},       {"rtc", T_RTC},
    {"pci", T_PCI},         {"timer", T_TIMER},     {"poweroff", T_POWEROFF},
    {"reset", T_RESET},     {"all", T_ALL},         {"none", 0},
    {"blk", T_BLK},         {"rng", T_RNG},         {"balloon", T_BALLOON},
    {"net", T_NET},         {"console", T_CONSOLE}, {"state", T_STATE},
    {"vga", T_VGA},         {"ps2", T_PS2},         {"scsi", T_SCSI},
    {"hotplug", T_HOTPLUG}, {"fwcfg", T_FWCFG},     {"xhci", T_XHCI},
    {"cpuid", T_CPUID},     {"ahci", T_AHCI},       {"agent", T_AGENT},
    {"numa", T_NUMA},       {"pflash", T_PFLASH},   {"cpuhp", T_CPUHP},
};

/* Returns the selected tests; unknown names are reported as failures. */
static unsigned select_tests(struct guest *g)
{
    const char *v;
    uint32_t n;
    if (!param_str(g, "tests", &v, &n))
        return T_ALL;
    unsigned mask = 0;
    uint32_t i = 0;
    while (i <= n) {
        uint32_t j = i;
        while (j < n && v[j] != ',')
            j++;
        if (j > i) {
            bool known = false;
            for (unsigned k = 0; k < sizeof(test_names) / sizeof(test_names[0]); k++) {
                if (word_eq(v + i, j - i, test_names[k].name)) {
                    mask |= test_names[k].bit;
                    known = true;
                }
            }
            if (!known) {
                char name[32];
                uint32_t len = j - i < sizeof(name) - 1 ? j - i : sizeof(name) - 1;
                memcpy(name, v + i, len);
                name[len] = '\0';
                tap_ok(&g->tap, false, "tests: unknown test name '%s'", name);
            }
        }
        i = j + 1;
    }
    return mask;
}

/* Finds ACPI and the APICs for the tests that need them. A missing RSDP is
 * not fatal here: the acpi test reports it, and the LAPIC falls back to its
 * architectural address. */
static void discover(struct guest *g)
{
    uint64_t rsdp = g->boot.rsdp_addr;
    if (!rsdp || !acpi_rsdp_valid(rsdp))
        rsdp = acpi_find_rsdp_by_scan();
    const char *why;
    g->have_acpi = rsdp && acpi_load(&g->acpi, rsdp, &why);
    if (g->have_acpi)
        acpi_parse_madt(acpi_find(&g->acpi, "APIC"), &g->madt);
    g->lapic_base = g->madt.lapic_addr ? g->madt.lapic_addr : LAPIC_DEFAULT_BASE;
    g->bsp_apic_id = lapic_id(g->lapic_base);
}

void guest_main(int kind, uint64_t info)
{
    /* The context is main()'s own state; static only because it is too big
     * for the 16 KiB boot stack. */
    static struct guest g;

    bootinfo_parse(&g.boot, kind, info);
    parse_params(&g);
    if (param_is(&g, "tests", "none"))
        guest_exit(0); /* normally caught by guest_early_exit() already */

    serial_init(&g.uart, COM1_PORT);
    tap_init(&g.tap, &g.uart, 0, 0);
    cpu_idt_init(&g.tap);
    pic_mask_all();

    if (test_reset_resume(&g))
        tap_finish(&g.tap);

    tap_diag(&g.tap, "vireo-testguest");
    tap_diag(&g.tap, "entry: %s, boot info at 0x%lx",
             kind == BOOT_PVH         ? "pvh (32-bit PVH entry, hvm_start_info)"
             : kind == BOOT_MULTIBOOT ? "multiboot (32-bit multiboot entry, multiboot info)"
                                      : "linux64 (64-bit e_entry, Linux zero page)",
             info);
    unsigned run = select_tests(&g);
    discover(&g);
    /* blk-crc32 as the first word: print the first virtio disk's CRC-32 and exit. */
    if (!strncmp_word(g.boot.cmdline, "blk-crc32"))
        blk_crc32_main(&g);
    if (!strncmp_word(g.boot.cmdline, "blk-bench"))
        blk_bench_main(&g);
    if (!strncmp_word(g.boot.cmdline, "vga-bench"))
        vga_bench_main(&g);
    if (!strncmp_word(g.boot.cmdline, "scsi-bench"))
        scsi_bench_main(&g);

    if (run & T_STATE)
        test_state(&g);
    if (run & T_BOOT)
        test_boot(&g);
    if (run & T_CPUID)
        test_cpuid(&g);
    if (run & T_MEM)
        test_mem(&g);
    if (run & T_CMDLINE)
        test_cmdline(&g);
    if (run & T_INITRD)
        test_initrd(&g);
    if (run & T_ACPI)
        test_acpi(&g);
    if (run & T_MPTABLE)
        test_mptable(&g);
    if (run & T_NUMA)
        test_numa(&g);
    if (run & T_SMP)
        test_smp(&g);
    if (run & T_PCI)
        test_pci(&g);
    if (run & T_TIMER)
        test_timer(&g);
    if (run & T_UART)
        test_uart(&g);
    if (run & T_RTC)
        test_rtc(&g);
    if (run & T_FWCFG)
        test_fwcfg(&g);
    if (run & T_PFLASH)
        test_pflash(&g);
    if (run & T_CPUHP)
        test_cpuhp(&g);
    if (run & T_BLK)
        test_virtio_blk(&g);
    if (run & T_RNG)
        test_virtio_rng(&g);
    if (run & T_NET)
        test_virtio_net(&g);
    if (run & T_BALLOON)
        test_virtio_balloon(&g);
    if (run & T_SCSI)
        test_virtio_scsi(&g);
    if (run & T_AHCI)
        test_ahci(&g);
    if (run & T_CONSOLE)
        test_virtio_console(&g);
    if (run & T_AGENT)
        test_agent(&g);
    if (run & T_VGA)
        test_vga(&g);
    if (run & T_PS2)
        test_ps2(&g);
    if (run & T_XHCI)
        test_xhci(&g);
    if (run & T_HOTPLUG)
        test_hotplug(&g);
    if (run & T_RESET)
        test_reset(&g);
    if (run & T_POWEROFF)
        test_poweroff(&g);
    tap_finish(&g.tap);
}
