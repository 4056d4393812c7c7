/*
 * cpu-features.h - the feature flags of -cpu MODEL,FLAG,... that vireo-vmm
 * applies on top of the CPU model: today the KVM paravirtual features of
 * CPUID leaf 0x40000001, by QEMU's names.
 *
 * A flag is "+name", "name" or "name=on" (keep it; the host's KVM must offer it) or
 * "-name" or "name=off" (hide it from the guest). The reason to hide one:
 * where KVM runs guest kernel code in its instruction emulator, a hypercall
 * (vmcall) from that code never completes, so a guest must not be told it may
 * send IPIs or yield through hypercalls (kvm-pv-ipi, kvm-pv-sched-yield);
 * see docs/linux-guest.md. The full QEMU -cpu syntax (every CPUID flag,
 * named models) is the CPU models issue's; anything else is refused by name.
 */
#ifndef VIREO_VMM_KVM_CPU_FEATURES_H
#define VIREO_VMM_KVM_CPU_FEATURES_H

#include "util/error.h"

#include <linux/kvm.h>
#include <stdint.h>

struct cpu_features {
    uint32_t kvm_on;  /* leaf 0x40000001 EAX bits asked for */
    uint32_t kvm_off; /* leaf 0x40000001 EAX bits hidden */
};

/* Parses one flag ("-kvm-pv-ipi", "kvm-pv-ipi=off", "+kvmclock", ...) into fs. */
int cpu_features_parse_flag(struct cpu_features *fs, const char *flag, struct verr *err);
/* Fails, naming the first one, when a flag asked for is not offered by KVM. */
int cpu_features_check(const struct cpu_features *fs, const struct kvm_cpuid2 *supported,
                       struct verr *err);
/* Hides the flags turned off in a vCPU's CPUID table. */
void cpu_features_apply(const struct cpu_features *fs, struct kvm_cpuid2 *cpuid);

#endif
