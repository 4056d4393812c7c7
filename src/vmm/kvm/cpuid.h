/*
 * cpuid.h - the CPUID table each vCPU sees: what KVM supports, trimmed to
 * the chosen model, with topology leaves that tell the guest the -smp
 * sockets/cores/threads and each vCPU's APIC id.
 */
#ifndef VIREO_VMM_KVM_CPUID_H
#define VIREO_VMM_KVM_CPUID_H

#include "util/error.h"

#include <linux/kvm.h>
#include <stdint.h>

struct cpu_topology {
    unsigned sockets, cores, threads; /* cores per socket, threads per core */
};

enum cpu_model {
    CPU_MODEL_QEMU64 = 0, /* QEMU's default baseline: x86-64 with SSE2, SSE3, CX16 */
    CPU_MODEL_HOST,       /* everything KVM supports ("-cpu host" and "-cpu max") */
};

/* APIC id of vCPU `index` (thread, core and socket packed as the CPUID leaves say). */
uint32_t cpu_topology_apic_id(const struct cpu_topology *t, unsigned index);

/* KVM_GET_SUPPORTED_CPUID into a newly allocated table (free() it). */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out, struct verr *err);

/*
 * Returns a new table (free() it) for vCPU `index`: `supported` filtered by
 * the model, with leaves 0x1, 0x4, 0xB, 0x1F and 0x40000000 rewritten.
 */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, enum cpu_model model,
                                  const struct cpu_topology *t, unsigned index);

#endif
