/*
 * cpu-features.h - the CPUID feature flags of -cpu MODEL,FLAG,..., by QEMU's
 * names (and its aliases): which CPUID word and bit each one is, and the
 * flags a command line turns on or off on top of the model.
 *
 * A flag is "+name", "name" or "name=on" (the guest gets it; with check or
 * enforce the host's KVM must offer it) or "-name" or "name=off" (hidden
 * from the guest). The KVM paravirtual features of leaf 0x40000001 are flags
 * like the others: where KVM runs guest kernel code in its instruction
 * emulator, a hypercall (vmcall) from that code never completes, so a guest
 * must not be told it may send IPIs or yield through hypercalls
 * (-kvm-pv-ipi, -kvm-pv-sched-yield); see docs/linux-guest.md.
 */
#ifndef VIREO_VMM_KVM_CPU_FEATURES_H
#define VIREO_VMM_KVM_CPU_FEATURES_H

#include "util/error.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* The CPUID registers that hold feature bits (QEMU's feature words, in its order). */
enum cpu_word {
    CPU_W_1_EDX,
    CPU_W_1_ECX,
    CPU_W_7_0_EBX,
    CPU_W_7_0_ECX,
    CPU_W_7_0_EDX,
    CPU_W_7_1_EAX,
    CPU_W_8001_EDX, /* 0x80000001 */
    CPU_W_8001_ECX,
    CPU_W_8007_EDX,
    CPU_W_8008_EBX,
    CPU_W_KVM,     /* 0x40000001 EAX */
    CPU_W_D_1_EAX, /* XSAVE extensions: 0xD subleaf 1 */
    CPU_W_6_EAX,
    CPU_W_COUNT,
};

/* One CPUID word of features, per word. */
typedef uint32_t cpu_words[CPU_W_COUNT];

struct cpu_word_info {
    uint32_t leaf, sub;
    unsigned reg;     /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
    const char *desc; /* QEMU's wording: "CPUID.01H:ECX" */
};

struct cpu_features {
    cpu_words on;  /* asked for on the command line */
    cpu_words off; /* hidden on the command line */
    /* A named model's physical address bits (CPUID 0x80000008 EAX[7:0]); 0: the host's.
     * QEMU 7.2 gives named models 40 on pc and q35, the host's on microvm. */
    unsigned phys_bits;
};

const struct cpu_word_info *cpu_word_info(enum cpu_word w);

/* QEMU's name of a bit, or NULL when it has none. */
const char *cpu_feature_name(enum cpu_word w, unsigned bit);

/* Finds a feature by QEMU's name or one of its aliases ('_' read as '-');
 * false when there is none. */
bool cpu_feature_lookup(const char *name, enum cpu_word *w, uint32_t *mask);

/* Parses one flag ("-kvm-pv-ipi", "avx2=off", "+pcid", "x2apic") into fs. */
int cpu_features_parse_flag(struct cpu_features *fs, const char *flag, struct verr *err);

/* Sets words from a space-separated list of names (a model's table row);
 * fails naming an unknown one. */
int cpu_words_from_names(cpu_words out, const char *names, struct verr *err);

/* The value of word w in a CPUID table (0 when the leaf is absent). */
uint32_t cpu_word_get(const struct kvm_cpuid2 *c, enum cpu_word w);

/* Every name, sorted, for -cpu help (calls fn once per name). */
void cpu_feature_names_each(void (*fn)(const char *name, void *opaque), void *opaque);

#endif
