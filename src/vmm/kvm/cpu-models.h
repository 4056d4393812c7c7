/*
 * cpu-models.h - QEMU's named x86 CPU models (qemu64, kvm64, Nehalem ...
 * EPYC-Milan, with their versions and aliases such as Haswell-noTSX), as a
 * table: the CPUID identity (level, xlevel, family/model/stepping, model-id)
 * and feature bits each one gives a guest. "host" and "max" are the model
 * that passes through everything the host's KVM offers.
 */
#ifndef VIREO_VMM_KVM_CPU_MODELS_H
#define VIREO_VMM_KVM_CPU_MODELS_H

#include "util/error.h"
#include "vmm/kvm/cpu-features.h"

#include <stdbool.h>
#include <stdint.h>

struct cpu_model {
    const char *name; /* the versioned name: "Haswell-v2"; "host", "max" */
    bool passthrough; /* host, max */
    /* host and max with migratable=off: the host's unmigratable features too (invtsc), as
     * QEMU's; with migratable=on (the default) they are left out */
    bool unmigratable;
    uint32_t level, xlevel;
    unsigned family, model, stepping;
    const char *model_id; /* CPUID 0x80000002-4 */
    cpu_words features;   /* before filtering by what KVM offers */
};

/* Resolves a -cpu name: versioned, an alias such as "Haswell-noTSX", or the
 * unversioned "Haswell", which QEMU 7.2 resolves per machine type: v1 on pc
 * and q35 (7.2), the newest version on microvm (`latest`). Fills *out;
 * false when there is no such model. */
bool cpu_model_find(const char *name, bool latest, struct cpu_model *out);

/* For -cpu help and query-cpu-definitions: each listed name with what it
 * is an alias of (NULL for a concrete model) and its description. */
void cpu_models_each(void (*fn)(const char *name, const char *alias_of, const char *desc,
                                void *opaque),
                     void *opaque);

/* Checks the table itself (every feature name known, every parent present). */
int cpu_models_validate(struct verr *err);

/* -cpu help in QEMU's layout (models, then the CPUID flag names); free() it. */
char *cpu_models_help(void);

#endif
