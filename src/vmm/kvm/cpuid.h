/*
 * cpuid.h - the CPUID table each vCPU sees: the CPU model (cpu-models.h)
 * with the -cpu flags applied and what the host's KVM cannot provide
 * filtered out, with topology leaves that tell the guest the -smp
 * sockets/cores/threads and each vCPU's APIC id. "host"/"max" pass KVM's
 * own table through (less any -flag).
 */
#ifndef VIREO_VMM_KVM_CPUID_H
#define VIREO_VMM_KVM_CPUID_H

#include "util/error.h"
#include "vmm/kvm/cpu-features.h"
#include "vmm/kvm/cpu-models.h"

#include <linux/kvm.h>
#include <stdint.h>

struct cpu_topology {
    unsigned sockets, cores, threads; /* cores per socket, threads per core */
};

/* APIC id of vCPU `index` (thread, core and socket packed as the CPUID leaves say). */
uint32_t cpu_topology_apic_id(const struct cpu_topology *t, unsigned index);

/* KVM_GET_SUPPORTED_CPUID into a newly allocated table (free() it). */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out, struct verr *err);

/*
 * The feature words the guest gets: the model's (plus, for a named model,
 * what QEMU adds under KVM: hypervisor, x2apic and its default KVM
 * paravirtual features) with the flags applied; `missing` (may be NULL)
 * receives what was asked for and the host's KVM does not offer, which is
 * left out of `out`.
 */
void cpuid_model_words(const struct kvm_cpuid2 *supported, const struct cpu_model *m,
                       const struct cpu_features *fs, cpu_words out, cpu_words missing);

/* The XSAVE components (XCR0 bits) the features in want use and the host's KVM does not
 * offer (CPUID 0xD.0 EAX/EDX); 0 when want has no XSAVE. QEMU lists each under its feature's
 * name in a model's unavailable-features, after the CPUID words. */
uint64_t cpuid_missing_xsave_components(const struct kvm_cpuid2 *supported, const cpu_words want);

/* Returns a new table (free() it) for vCPU `index`. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const struct cpu_model *m,
                                  const struct cpu_features *fs, const struct cpu_topology *t,
                                  unsigned index);

#endif
