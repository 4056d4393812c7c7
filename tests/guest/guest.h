/*
 * The test guest's context, passed to every test: the UART and TAP writer,
 * what the loader handed over, the parsed command line, and what earlier
 * tests discovered (ACPI tables, APIC addresses) for later ones to use.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "bootinfo.h"
#include "lib/acpi.h"
#include "lib/serial.h"
#include "lib/tap.h"

#define GUEST_MAX_PARAMS 64

struct param {
    const char *key, *val;
    uint32_t klen, vlen;
};

struct guest {
    struct serial uart;
    struct tap tap;
    struct boot_info boot;
    unsigned nparams;
    struct param params[GUEST_MAX_PARAMS];
    /* Discovered by guest_discover() before the tests run. */
    bool have_acpi;
    struct acpi_tables acpi;
    struct madt_info madt;
    uint64_t lapic_base;
    uint32_t bsp_apic_id;
};

/* Command-line parameters ("key=value" words). param_str returns false if
 * key is absent; param_u64 also fails (and reports a TAP failure) when the
 * value does not parse. */
bool param_str(const struct guest *g, const char *key, const char **val, uint32_t *len);
bool param_is(const struct guest *g, const char *key, const char *value);
bool param_u64(struct guest *g, const char *key, bool size_suffix, bool hex, uint64_t *out);

/* Tests, in the order they run (see README for what each checks). */
void test_boot(struct guest *g);
void test_mem(struct guest *g);
void test_cmdline(struct guest *g);
void test_initrd(struct guest *g);
void test_acpi(struct guest *g);
void test_mptable(struct guest *g);
void test_smp(struct guest *g);
void test_pci(struct guest *g);
void test_timer(struct guest *g);
/* Enters ACPI S5; only returns (after reporting failure) if still alive. */
void test_poweroff(struct guest *g);
void test_uart(struct guest *g);
void test_rtc(struct guest *g);
/* pc/q35 only (not in tests=all): fw_cfg (t-fwcfg.c). */
void test_fwcfg(struct guest *g);
/* Starts one application processor by INIT, SIPI, SIPI (t-smp.c); true when it checked in,
 * with the APIC id its LAPIC and CPUID leaf 1 report. */
bool smp_start_one(struct guest *g, uint32_t apic_id, uint32_t *lapic_id, uint32_t *cpuid_id);
/* vCPU hot-plug through QEMU's ACPI CPU hot-plug registers (tests=cpuhp, t-cpuhp.c). */
void test_cpuhp(struct guest *g);
/* pc/q35 with -drive if=pflash (tests=pflash, t-pflash.c): the CFI flash commands. */
void test_pflash(struct guest *g);
void test_cpuid(struct guest *g);
/* Guest NUMA (t-numa.c): tests=numa, the SRAT and SLIT; not part of `all`. */
void test_numa(struct guest *g);
/* virtio (t-virtio.c): selected with tests=blk / tests=rng, not part of `all`. */
void test_virtio_blk(struct guest *g);
void test_virtio_scsi(struct guest *g);
/* AHCI (t-ahci.c): tests=ahci, an ide-hd and an ide-cd on the guest's own AHCI driver. */
void test_ahci(struct guest *g);
void test_virtio_rng(struct guest *g);
void test_virtio_balloon(struct guest *g);
void test_virtio_net(struct guest *g);
void test_virtio_console(struct guest *g);
void test_agent(struct guest *g);
/* tests=hotplug (t-hotplug.c): a device hot-plugged behind a pcie-root-port, used, released. */
void test_hotplug(struct guest *g);
/* t-net.c for t-hotplug.c: an e1000 hot-plugged behind the root port (its bus numbered,
 * pci_last_bus past it) started and run through the net test's exchange (net_mac=, net_ip=,
 * net_peer=, net_ping=, net_dhcp=), then reset. False when it did not start. */
struct pci_access;
bool hotplug_e1000(struct guest *g, const struct pci_access *pa);
/* Command line starting with the word blk-crc32: prints crc32=<hex> of the first disk, exits. */
__attribute__((noreturn)) void blk_crc32_main(struct guest *g);
__attribute__((noreturn)) void scsi_bench_main(struct guest *g);
/* First word blk-bench: one block workload for bench/virtio-blk (see t-virtio.c). */
__attribute__((noreturn)) void blk_bench_main(struct guest *g);
/* VGA (t-vga.c): tests=vga; first word vga-bench: endless full-screen flips. */
void test_vga(struct guest *g);
__attribute__((noreturn)) void vga_bench_main(struct guest *g);
/* PS/2 keyboard and mouse (t-ps2.c): tests=ps2, fed by the host over VNC. */
void test_ps2(struct guest *g);
/* xHCI with a USB tablet and keyboard (t-xhci.c): tests=xhci, fed by the host over VNC. */
void test_xhci(struct guest *g);
/* tests=state: the continuity workload for save/restore and migration (t-state.c). */
__attribute__((noreturn)) void test_state(struct guest *g);
/* Triggers a reset; only returns (after reporting failure) if none came. */
void test_reset(struct guest *g);
/* Called on the boot after a reset the guest itself requested; reports the
 * reset test's result and continues the numbering of the first boot. */
bool test_reset_resume(struct guest *g);

#endif
