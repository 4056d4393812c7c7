/*
 * test-cpu-features.c - -cpu's KVM paravirtual feature flags
 * (vmm/kvm/cpu-features.c): QEMU's spellings, refusals by name, the check
 * against what KVM offers and the masking of leaf 0x40000001.
 */
#include "../tap.h"
#include "vmm/kvm/cpu-features.h"

#include <stdlib.h>

#define PV_IPI         (1u << 11)
#define PV_SCHED_YIELD (1u << 13)
#define KVMCLOCK2      (1u << 3)

static struct kvm_cpuid2 *table(uint32_t kvm_eax)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 2 * sizeof(struct kvm_cpuid_entry2));
    c->nent = 2;
    c->entries[0].function = 1;
    c->entries[0].eax = 0xffffffff;
    c->entries[1].function = 0x40000001;
    c->entries[1].eax = kvm_eax;
    return c;
}

int main(void)
{
    struct verr err = {0};
    struct cpu_features fs = {0};
    ok(cpu_features_parse_flag(&fs, "-kvm-pv-ipi", &err) == 0 &&
           cpu_features_parse_flag(&fs, "kvm-pv-sched-yield=off", &err) == 0,
       "-kvm-pv-ipi and kvm-pv-sched-yield=off are taken");
    is_int(fs.kvm_off, PV_IPI | PV_SCHED_YIELD, "both are hidden");
    ok(cpu_features_parse_flag(&fs, "+kvmclock2", &err) == 0 &&
           cpu_features_parse_flag(&fs, "kvm-pv-ipi", &err) == 0,
       "+kvmclock2 and a bare kvm-pv-ipi (QEMU's name=on) are taken");
    is_int(fs.kvm_off, PV_SCHED_YIELD, "a later kvm-pv-ipi=on undoes -kvm-pv-ipi");
    is_int(fs.kvm_on, KVMCLOCK2 | PV_IPI, "the flags asked for are recorded");

    struct cpu_features bad = {0};
    ok(cpu_features_parse_flag(&bad, "-avx512f", &err) < 0 &&
           strstr(verr_msg(&err), "'avx512f' is not supported"),
       "an unknown flag is refused by name: %s", verr_msg(&err));
    ok(cpu_features_parse_flag(&bad, "kvm-pv-ipi=maybe", &err) < 0 &&
           strstr(verr_msg(&err), "must be on or off"),
       "a value other than on/off is refused: %s", verr_msg(&err));
    ok(cpu_features_parse_flag(&bad, "-kvm-pv-ipi=off", &err) < 0,
       "a sign and a value together are refused: %s", verr_msg(&err));

    struct kvm_cpuid2 *offered = table(KVMCLOCK2 | PV_SCHED_YIELD);
    ok(cpu_features_check(&fs, offered, &err) < 0 && strstr(verr_msg(&err), "'kvm-pv-ipi'"),
       "asking for a flag KVM does not offer fails at start: %s", verr_msg(&err));
    struct cpu_features off_only = {.kvm_off = PV_IPI | PV_SCHED_YIELD};
    ok(cpu_features_check(&off_only, offered, &err) == 0, "hiding flags always passes the check");

    struct kvm_cpuid2 *vcpu = table(KVMCLOCK2 | PV_IPI | PV_SCHED_YIELD);
    cpu_features_apply(&off_only, vcpu);
    is_int(vcpu->entries[1].eax, KVMCLOCK2, "leaf 0x40000001 loses exactly the hidden bits");
    is_int(vcpu->entries[0].eax, 0xffffffff, "other leaves are untouched");
    free(offered);
    free(vcpu);
    return tap_done();
}
