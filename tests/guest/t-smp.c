/*
 * The SMP test: start every application processor the MADT lists through
 * its local APIC (INIT, SIPI, SIPI, as the MP specification's universal
 * start-up algorithm does) with a real-mode trampoline copied below 1 MiB,
 * and have each one report its APIC id. APs are started one at a time, so
 * a VMM that fails to start one is named precisely.
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/io.h"
#include "lib/libc.h"

#define TRAMP_BASE    0x8000
#define AP_STACK_SIZE 1024
#define AP_TIMEOUT    (10 * TSC_SEC)

extern char ap_tramp_start[], ap_tramp_end[], ap_tramp_cr3[], ap_tramp_stack[], ap_tramp_entry[],
    ap_tramp_arg[];

static uint8_t ap_stacks[ACPI_MAX_CPUS][AP_STACK_SIZE]
    __attribute__((section(".stacks"), aligned(16)));

struct smp_ctx {
    uint64_t lapic_base;
    volatile uint32_t next_slot;  /* slots taken in ids[] */
    volatile uint32_t checked_in; /* slots filled */
    volatile uint32_t ids[ACPI_MAX_CPUS];
    volatile uint32_t cpuid_ids[ACPI_MAX_CPUS]; /* CPUID.1:EBX[31:24] */
    volatile uint32_t x2_ids[ACPI_MAX_CPUS];    /* CPUID.0BH:EDX, or ~0 */
};

/* The APIC ids a CPU reports through CPUID: the VMM must patch them per
 * vCPU (KVM_GET_SUPPORTED_CPUID carries the host's), or an OS mismatches
 * its CPUs. Leaf 0xB only when the maximum basic leaf reaches it. */
static void cpuid_apic_ids(uint32_t *initial, uint32_t *x2)
{
    uint32_t r[4];
    cpuid(0, 0, r);
    uint32_t max = r[0];
    cpuid(1, 0, r);
    *initial = r[1] >> 24;
    *x2 = ~0u;
    if (max >= 0xb) {
        cpuid(0xb, 0, r);
        if (r[1] != 0) /* EBX == 0: leaf not implemented */
            *x2 = r[3];
    }
}

/* Runs on each AP, in long mode, on its own stack; never returns. */
static void ap_main(struct smp_ctx *ctx)
{
    uint32_t id = lapic_id(ctx->lapic_base);
    /* Take a slot, fill it, and only then count in: the BSP reads the slot
     * as soon as it sees the count move. */
    uint32_t slot = __atomic_fetch_add(&ctx->next_slot, 1, __ATOMIC_SEQ_CST);
    uint32_t initial, x2;
    cpuid_apic_ids(&initial, &x2);
    if (slot < ACPI_MAX_CPUS) {
        ctx->cpuid_ids[slot] = initial;
        ctx->x2_ids[slot] = x2;
        ctx->ids[slot] = id;
    }
    __atomic_fetch_add(&ctx->checked_in, 1, __ATOMIC_SEQ_CST);
    cpu_halt_forever();
}

static void tramp_set(const char *field, uint64_t v)
{
    uint64_t off = (uint64_t)(uintptr_t)(field - ap_tramp_start);
    *(volatile uint64_t *)(uintptr_t)(TRAMP_BASE + off) = v;
}

static bool start_ap(struct smp_ctx *ctx, uint32_t apic_id)
{
    uint64_t base = ctx->lapic_base;
    uint32_t before = ctx->checked_in;
    bool sent = lapic_send_ipi(base, apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
    tsc_delay(10 * TSC_MS);
    for (int i = 0; i < 2 && ctx->checked_in == before; i++) {
        sent = lapic_send_ipi(base, apic_id, ICR_STARTUP | (TRAMP_BASE >> 12)) && sent;
        tsc_delay(TSC_MS / 5);
    }
    uint64_t start = rdtsc();
    while (ctx->checked_in == before && rdtsc() - start < AP_TIMEOUT)
        cpu_pause();
    return sent && ctx->checked_in != before;
}

/* The trampoline below 1 MiB pointed at ctx, the BSP checked in, its LAPIC enabled. */
static void smp_prepare(struct guest *g, struct smp_ctx *ctx)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    memcpy((void *)(uintptr_t)TRAMP_BASE, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
    tramp_set(ap_tramp_cr3, cr3);
    tramp_set(ap_tramp_entry, (uint64_t)(uintptr_t)ap_main);
    tramp_set(ap_tramp_arg, (uint64_t)(uintptr_t)ctx);

    memset((void *)ctx, 0, sizeof(*ctx));
    ctx->lapic_base = g->lapic_base;
    ctx->checked_in = ctx->next_slot = 1; /* the BSP */
    ctx->ids[0] = g->bsp_apic_id;
    uint32_t initial, x2;
    cpuid_apic_ids(&initial, &x2);
    ctx->cpuid_ids[0] = initial;
    ctx->x2_ids[0] = x2;
    lapic_enable(g->lapic_base, 0xff);
    lapic_write(g->lapic_base, LAPIC_ESR, 0);
}

bool smp_start_one(struct guest *g, uint32_t apic_id, uint32_t *lapic_id, uint32_t *cpuid_id)
{
    static struct smp_ctx ctx;
    smp_prepare(g, &ctx);
    /* The last stack: APs an earlier smp test started halt on the first ones. */
    tramp_set(ap_tramp_stack, (uint64_t)(uintptr_t)&ap_stacks[ACPI_MAX_CPUS - 1][AP_STACK_SIZE]);
    bool ok = start_ap(&ctx, apic_id) && ctx.checked_in == 2;
    *lapic_id = ok ? ctx.ids[1] : ~0u;
    *cpuid_id = ok ? ctx.cpuid_ids[1] : ~0u;
    return ok;
}

void test_smp(struct guest *g)
{
    struct tap *t = &g->tap;
    static struct smp_ctx ctx;
    uint64_t cpus = 0;
    bool have_cpus = param_u64(g, "cpus", false, false, &cpus);

    if (!tap_ok(t, g->have_acpi && g->madt.cpus > 0, "smp: MADT lists the CPUs to start"))
        return;
    bool low_ok = false;
    for (uint32_t i = 0; i < g->boot.map_stored; i++) {
        const struct memmap_entry *e = &g->boot.map[i];
        if (e->type == E820_RAM && e->addr <= TRAMP_BASE && e->addr + e->size >= TRAMP_BASE + 4096)
            low_ok = true;
    }
    if (!tap_ok(t, low_ok, "smp: trampoline page 0x%x is usable RAM", TRAMP_BASE))
        return;

    smp_prepare(g, &ctx);

    unsigned started = 0, failed = 0;
    uint64_t t0 = rdtsc();
    for (unsigned i = 0; i < g->madt.cpus; i++) {
        uint32_t id = g->madt.apic_ids[i];
        if (id == g->bsp_apic_id)
            continue;
        if (id > 0xfe) {
            tap_ok(t, false, "smp: APIC id %u needs x2APIC, not supported by this test", id);
            failed++;
            continue;
        }
        tramp_set(ap_tramp_stack, (uint64_t)(uintptr_t)&ap_stacks[started + failed][AP_STACK_SIZE]);
        bool ok = start_ap(&ctx, id);
        uint32_t got = ok ? ctx.ids[ctx.checked_in - 1] : 0;
        if (tap_ok(t, ok && got == id, "smp: AP with APIC id %u started and checked in (as %u)", id,
                   got))
            started++;
        else
            failed++;
    }
    uint64_t cycles = rdtsc() - t0;
    bool cpuid_match = true;
    unsigned n = ctx.checked_in < ACPI_MAX_CPUS ? ctx.checked_in : ACPI_MAX_CPUS;
    tap_printf(t, "# smp: APIC id / CPUID.1 initial id / CPUID.0BH x2APIC id:");
    for (unsigned i = 0; i < n; i++) {
        tap_printf(t, " %u/%u/%d", ctx.ids[i], ctx.cpuid_ids[i], (int)ctx.x2_ids[i]);
        if (ctx.cpuid_ids[i] != ctx.ids[i] || (ctx.x2_ids[i] != ~0u && ctx.x2_ids[i] != ctx.ids[i]))
            cpuid_match = false;
    }
    tap_printf(t, "\n");
    tap_ok(t, cpuid_match, "smp: every CPU's CPUID APIC ids (leaf 1, leaf 0xB) match its LAPIC id");
    tap_diag(t, "smp: %u APs started in %lu M TSC cycles", started, cycles / 1000000);
    if (have_cpus)
        tap_ok(t, ctx.checked_in == cpus, "smp: %u CPUs running (cpus=%lu)", ctx.checked_in, cpus);
    else
        tap_ok(t, ctx.checked_in == g->madt.cpus, "smp: %u CPUs running, as the MADT lists",
               ctx.checked_in);
}
