/*
 * cpu-features.c - see cpu-features.h. Bit positions of leaf 0x40000001 are
 * KVM's (Documentation/virt/kvm/x86/cpuid.rst); the names are QEMU's.
 */
#include "vmm/kvm/cpu-features.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#define KVM_CPUID_FEATURES_LEAF 0x40000001u

static const struct {
    const char *name;
    unsigned bit;
} kvm_flags[] = {
    {"kvmclock", 0},
    {"kvm-nopiodelay", 1},
    {"kvm-mmu", 2},
    {"kvmclock2", 3},
    {"kvm-asyncpf", 4},
    {"kvm-steal-time", 5},
    {"kvm-pv-eoi", 6},
    {"kvm-pv-unhalt", 7},
    {"kvm-pv-tlb-flush", 9},
    {"kvm-asyncpf-vmexit", 10},
    {"kvm-pv-ipi", 11},
    {"kvm-poll-control", 12},
    {"kvm-pv-sched-yield", 13},
    {"kvm-asyncpf-int", 14},
    {"kvm-msi-ext-dest-id", 15},
};
#define NR_KVM_FLAGS (sizeof(kvm_flags) / sizeof(kvm_flags[0]))

int cpu_features_parse_flag(struct cpu_features *fs, const char *flag, struct verr *err)
{
    char name[64];
    bool on;
    const char *eq = strchr(flag, '=');
    if (flag[0] == '+' || flag[0] == '-') {
        if (eq)
            return verr_set(err, EINVAL, "CPU feature '%s': use +name, -name or name=on|off", flag);
        on = flag[0] == '+';
        snprintf(name, sizeof(name), "%s", flag + 1);
    } else if (eq) {
        if (strcmp(eq + 1, "on") == 0 || strcmp(eq + 1, "true") == 0)
            on = true;
        else if (strcmp(eq + 1, "off") == 0 || strcmp(eq + 1, "false") == 0)
            on = false;
        else
            return verr_set(err, EINVAL, "CPU feature '%s': the value must be on or off", flag);
        snprintf(name, sizeof(name), "%.*s", (int)(eq - flag), flag);
    } else {
        on = true; /* QEMU reads a bare name as name=on */
        snprintf(name, sizeof(name), "%s", flag);
    }
    for (size_t i = 0; i < NR_KVM_FLAGS; i++) {
        if (strcmp(kvm_flags[i].name, name) != 0)
            continue;
        uint32_t bit = 1u << kvm_flags[i].bit;
        fs->kvm_on = on ? fs->kvm_on | bit : fs->kvm_on & ~bit;
        fs->kvm_off = on ? fs->kvm_off & ~bit : fs->kvm_off | bit;
        return 0;
    }
    return verr_set(err, ENOTSUP,
                    "CPU feature '%s' is not supported (vireo-vmm takes the KVM paravirtual "
                    "features: kvmclock, kvm-pv-ipi, kvm-pv-sched-yield, ...)",
                    name);
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, uint32_t fn)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn)
            return &c->entries[i];
    return NULL;
}

int cpu_features_check(const struct cpu_features *fs, const struct kvm_cpuid2 *supported,
                       struct verr *err)
{
    const struct kvm_cpuid_entry2 *e = find_leaf(supported, KVM_CPUID_FEATURES_LEAF);
    uint32_t offered = e ? e->eax : 0;
    for (size_t i = 0; i < NR_KVM_FLAGS; i++)
        if ((fs->kvm_on & ~offered) & (1u << kvm_flags[i].bit))
            return verr_set(err, ENOTSUP, "-cpu: this host's KVM does not offer feature '%s'",
                            kvm_flags[i].name);
    return 0;
}

void cpu_features_apply(const struct cpu_features *fs, struct kvm_cpuid2 *cpuid)
{
    for (uint32_t i = 0; i < cpuid->nent; i++)
        if (cpuid->entries[i].function == KVM_CPUID_FEATURES_LEAF)
            cpuid->entries[i].eax &= ~fs->kvm_off;
}
