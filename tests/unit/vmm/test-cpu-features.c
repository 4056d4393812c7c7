/*
 * test-cpu-features.c - -cpu's feature flags and models (vmm/kvm/cpu-features.c,
 * cpu-models.c, cpuid.c): QEMU's spellings and aliases, refusals by name, the
 * model table, the words a model asks for against what KVM offers, and the
 * CPUID table a named model builds (identity, features, hidden bits).
 */
#include "../tap.h"
#include "vmm/kvm/cpu-features.h"
#include "vmm/kvm/cpu-models.h"
#include "vmm/kvm/cpuid.h"

#include <stdlib.h>
#include <string.h>

#define PV_IPI         (1u << 11)
#define PV_SCHED_YIELD (1u << 13)
#define KVMCLOCK       ((1u << 0) | (1u << 3))
#define POPCNT         (1u << 23)
#define PNI            (1u << 0)
#define CX16           (1u << 13)

/* A host's KVM_GET_SUPPORTED_CPUID: "GenuineIntel", every leaf 1/7 feature but pni. */
static struct kvm_cpuid2 *supported(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(struct kvm_cpuid_entry2));
    struct kvm_cpuid_entry2 *e = c->entries;
    e[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x20};
    memcpy(&e[0].ebx, "Genu", 4);
    memcpy(&e[0].edx, "ineI", 4);
    memcpy(&e[0].ecx, "ntel", 4);
    e[1] = (struct kvm_cpuid_entry2){.function = 1, .eax = 0xc06f2, .ecx = ~PNI, .edx = ~0u};
    e[2] = (struct kvm_cpuid_entry2){.function = 7, .ebx = ~0u, .ecx = ~0u, .edx = ~0u};
    e[3] = (struct kvm_cpuid_entry2){.function = 0x40000001,
                                     .eax = KVMCLOCK | PV_IPI | PV_SCHED_YIELD};
    e[4] = (struct kvm_cpuid_entry2){.function = 0x80000001, .ecx = ~0u, .edx = ~0u};
    e[5] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x392e};
    e[6] = (struct kvm_cpuid_entry2){.function = 0x40000000, .eax = 0x40000001};
    c->nent = 7;
    return c;
}

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

int main(void)
{
    struct verr err = {0};
    struct cpu_features fs = {0};
    ok(cpu_features_parse_flag(&fs, "-kvm-pv-ipi", &err) == 0 &&
           cpu_features_parse_flag(&fs, "kvm-pv-sched-yield=off", &err) == 0,
       "-kvm-pv-ipi and kvm-pv-sched-yield=off are taken");
    is_int(fs.off[CPU_W_KVM], PV_IPI | PV_SCHED_YIELD, "both are hidden");
    ok(cpu_features_parse_flag(&fs, "+kvmclock", &err) == 0 &&
           cpu_features_parse_flag(&fs, "kvm-pv-ipi", &err) == 0,
       "+kvmclock and a bare kvm-pv-ipi (QEMU's name=on) are taken");
    is_int(fs.off[CPU_W_KVM], PV_SCHED_YIELD, "a later kvm-pv-ipi=on undoes -kvm-pv-ipi");
    is_int(fs.on[CPU_W_KVM], KVMCLOCK | PV_IPI, "kvmclock names both of its bits, as QEMU's");

    struct cpu_features f2 = {0};
    ok(cpu_features_parse_flag(&f2, "-popcnt", &err) == 0 &&
           cpu_features_parse_flag(&f2, "sse4_2=off", &err) == 0 &&
           cpu_features_parse_flag(&f2, "+sse3", &err) == 0,
       "CPUID flags by name, '_' spelling and the sse3 alias: %s", verr_msg(&err));
    is_int(f2.off[CPU_W_1_ECX], POPCNT | (1u << 20), "popcnt and sse4.2 hidden");
    is_int(f2.on[CPU_W_1_ECX], PNI, "sse3 is pni");

    struct cpu_features bad = {0};
    ok(cpu_features_parse_flag(&bad, "-avx9000", &err) < 0 &&
           strstr(verr_msg(&err), "'avx9000' not found"),
       "an unknown flag is refused by name: %s", verr_msg(&err));
    ok(cpu_features_parse_flag(&bad, "kvm-pv-ipi=maybe", &err) < 0 &&
           strstr(verr_msg(&err), "must be on or off"),
       "a value other than on/off is refused: %s", verr_msg(&err));
    ok(cpu_features_parse_flag(&bad, "-kvm-pv-ipi=off", &err) < 0,
       "a sign and a value together are refused: %s", verr_msg(&err));

    ok(cpu_models_validate(&err) == 0, "the model table names only known features: %s",
       verr_msg(&err));
    struct cpu_model m;
    ok(cpu_model_find("qemu64", false, &m) && strcmp(m.name, "qemu64-v1") == 0 && m.family == 15 &&
           m.model == 107 && m.stepping == 1,
       "qemu64 is qemu64-v1, family 15 model 107 stepping 1");
    ok(!cpu_model_find("Pentium9", false, &m), "an unknown model is not found");
    ok(cpu_model_find("Nehalem", false, &m) && strcmp(m.name, "Nehalem-v1") == 0 &&
           cpu_model_find("Nehalem", true, &m) && strcmp(m.name, "Nehalem-v2") == 0,
       "unversioned Nehalem: v1 (pc, q35) or the newest version (microvm)");
    ok(cpu_model_find("Nehalem-IBRS", false, &m) && strcmp(m.name, "Nehalem-v2") == 0 &&
           (m.features[CPU_W_7_0_EDX] & (1u << 26)) && (m.features[CPU_W_1_ECX] & POPCNT),
       "an alias resolves to its version, with the parent's features and its own");

    struct kvm_cpuid2 *sup = supported();
    cpu_words got, missing;
    cpu_model_find("qemu64", false, &m);
    cpuid_model_words(sup, &m, &f2, got, missing);
    is_int(missing[CPU_W_1_ECX], PNI, "qemu64's pni is missing where KVM lacks it");
    is_int(got[CPU_W_1_ECX], CX16 | (1u << 21) | (1u << 31), "qemu64: cx16, x2apic, hypervisor");
    is_int(got[CPU_W_KVM], KVMCLOCK, "KVM PV: QEMU's defaults that KVM offers (no pv-ipi)");

    struct cpu_features none = {0};
    struct cpu_topology topo = {1, 2, 1};
    struct kvm_cpuid2 *t = cpuid_for_vcpu(sup, &m, &none, &topo, 1);
    const struct kvm_cpuid_entry2 *l0 = leaf(t, 0, 0), *l1 = leaf(t, 1, 0);
    ok(l0 && l0->eax == 0xd && memcmp(&l0->ebx, "Genu", 4) == 0, "leaf 0: level 0xd, host vendor");
    ok(l1 && l1->eax == 0x60fb1, "leaf 1: signature 0x60fb1 (0x%x)", l1 ? l1->eax : 0);
    ok(l1 && (l1->ebx >> 24) == 1 && ((l1->ebx >> 16) & 0xff) == 2 && (l1->edx & (1u << 28)),
       "leaf 1: APIC id 1, 2 logical CPUs, HTT");
    ok(l1 && !(l1->ecx & POPCNT), "leaf 1: no popcnt under qemu64 though KVM offers it");
    const struct kvm_cpuid_entry2 *l7 = leaf(t, 7, 0);
    ok(l7 && !l7->eax && !l7->ebx && !l7->ecx && !l7->edx,
       "leaf 7 all zero for qemu64 though KVM offers every bit");
    const struct kvm_cpuid_entry2 *id = leaf(t, 0x80000002, 0);
    ok(id && memcmp(&id->eax, "QEMU Virtual CPU", 16) == 0, "model-id in 0x80000002");
    const struct kvm_cpuid_entry2 *e8 = leaf(t, 0x80000008, 0);
    ok(e8 && e8->eax == 0x302e, "0x80000008: host's 46 physical bits, 48 virtual (0x%x)",
       e8 ? e8->eax : 0);
    free(t);

    cpu_model_find("host", false, &m);
    t = cpuid_for_vcpu(sup, &m, &f2, &topo, 0);
    l1 = leaf(t, 1, 0);
    ok(l1 && l1->eax == 0xc06f2 && !(l1->ecx & POPCNT) && (l1->ecx & (1u << 31)),
       "host: the host's signature, -popcnt hides popcnt, hypervisor set");
    free(t);
    free(sup);

    char *help = cpu_models_help();
    ok(strstr(help,
              "Available CPUs:\nx86 Broadwell             (alias configured by machine type)\n") &&
           strstr(help, "x86 Nehalem-IBRS          (alias of Nehalem-v2)\n") &&
           strstr(help, "\nRecognized CPUID flags:\n  3dnow 3dnowext 3dnowprefetch"),
       "-cpu help in QEMU's layout");
    free(help);
    return tap_done();
}
