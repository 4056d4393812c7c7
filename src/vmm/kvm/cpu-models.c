/*
 * cpu-models.c - see cpu-models.h. The rows are facts read from QEMU 7.2's
 * x86 model definitions (target/i386/cpu.c): each model's CPUID level and
 * xlevel, family/model/stepping, model-id and feature bits, written here as
 * QEMU's feature names, one row per version with its alias (Haswell-noTSX
 * is Haswell-v2); the rows were read off QEMU 7.2's own description of each
 * version (QMP query-cpu-model-expansion, full, under KVM) and its -cpu
 * help. Checked against QEMU's guest view by
 * tests/integration/vmm/test-cpu-model.py. The vendor is not in the table:
 * under KVM QEMU shows every named model with the host's vendor, and so
 * does vireo-vmm (cpuid.c).
 */
#include "vmm/kvm/cpu-models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct model_row {
    const char *name;  /* versioned */
    const char *alias; /* the name QEMU also gives it (Haswell-noTSX), or NULL */
    const char *note;  /* what -cpu help adds after the model-id ("[no TSX]"), or NULL */
    uint32_t level, xlevel;
    unsigned family, model, stepping;
    const char *model_id;
    const char *features; /* QEMU's names */
};

/* The feature lists leave out what cpuid.c adds for every model under KVM (hypervisor and
 * QEMU's default KVM paravirtual features); acpi, monitor and svm, which QEMU turns off
 * under KVM, are already left out. */
static const struct model_row rows[] = {
    {"qemu64-v1", NULL, NULL, 0xd, 0x8000000a, 15, 107, 1, "QEMU Virtual CPU version 2.5+",
     "apic clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx msr mtrr nx pae "
     "pat pge pni pse pse36 sep sse sse2 syscall tsc x2apic"},
    {"kvm64-v1", NULL, NULL, 0xd, 0x80000008, 15, 6, 1, "Common KVM processor",
     "apic clflush cmov cx16 cx8 de fpu fxsr lm mca mce mmx msr mtrr nx pae pat pge "
     "pni pse pse36 sep sse sse2 syscall tsc vme x2apic"},
    {"Nehalem-v1", NULL, NULL, 0xb, 0x80000008, 6, 26, 3,
     "Intel Core i7 9xx (Nehalem Class Core i7)",
     "apic clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx msr mtrr nx pae "
     "pat pge pni popcnt pse pse36 sep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc vme "
     "x2apic"},
    {"Nehalem-v2", "Nehalem-IBRS", NULL, 0xb, 0x80000008, 6, 26, 3,
     "Intel Core i7 9xx (Nehalem Core i7, IBRS update)",
     "apic clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx msr mtrr nx pae "
     "pat pge pni popcnt pse pse36 sep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 "
     "syscall tsc vme x2apic"},
    {"Westmere-v1", NULL, NULL, 0xb, 0x80000008, 6, 44, 1, "Westmere E56xx/L56xx/X56xx (Nehalem-C)",
     "aes apic arat clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx msr "
     "mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 sep sse sse2 sse4.1 sse4.2 "
     "ssse3 syscall tsc vme x2apic"},
    {"Westmere-v2", "Westmere-IBRS", NULL, 0xb, 0x80000008, 6, 44, 1,
     "Westmere E56xx/L56xx/X56xx (IBRS update)",
     "aes apic arat clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx msr "
     "mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 sep spec-ctrl sse sse2 "
     "sse4.1 sse4.2 ssse3 syscall tsc vme x2apic"},
    {"SandyBridge-v1", NULL, NULL, 0xd, 0x80000008, 6, 42, 1, "Intel Xeon E312xx (Sandy Bridge)",
     "aes apic arat avx clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx "
     "msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 rdtscp sep sse sse2 "
     "sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xsave xsaveopt"},
    {"SandyBridge-v2", "SandyBridge-IBRS", NULL, 0xd, 0x80000008, 6, 42, 1,
     "Intel Xeon E312xx (Sandy Bridge, IBRS update)",
     "aes apic arat avx clflush cmov cx16 cx8 de fpu fxsr lahf-lm lm mca mce mmx "
     "msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 rdtscp sep spec-ctrl "
     "sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xsave "
     "xsaveopt"},
    {"IvyBridge-v1", NULL, NULL, 0xd, 0x80000008, 6, 58, 9, "Intel Xeon E3-12xx v2 (Ivy Bridge)",
     "aes apic arat avx clflush cmov cx16 cx8 de erms f16c fpu fsgsbase fxsr "
     "lahf-lm lm mca mce mmx msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 "
     "rdrand rdtscp sep smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "vme x2apic xsave xsaveopt"},
    {"IvyBridge-v2", "IvyBridge-IBRS", NULL, 0xd, 0x80000008, 6, 58, 9,
     "Intel Xeon E3-12xx v2 (Ivy Bridge, IBRS)",
     "aes apic arat avx clflush cmov cx16 cx8 de erms f16c fpu fsgsbase fxsr "
     "lahf-lm lm mca mce mmx msr mtrr nx pae pat pclmulqdq pge pni popcnt pse pse36 "
     "rdrand rdtscp sep smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xsave xsaveopt"},
    {"Haswell-v1", NULL, NULL, 0xd, 0x80000008, 6, 60, 4, "Intel Core Processor (Haswell)",
     "abm aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma "
     "fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae "
     "pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp rtm sep smep sse "
     "sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xsave xsaveopt"},
    {"Haswell-v2", "Haswell-noTSX", NULL, 0xd, 0x80000008, 6, 60, 1,
     "Intel Core Processor (Haswell, no TSX)",
     "abm aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma "
     "fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat "
     "pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp sep smep sse sse2 "
     "sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xsave xsaveopt"},
    {"Haswell-v3", "Haswell-IBRS", NULL, 0xd, 0x80000008, 6, 60, 4,
     "Intel Core Processor (Haswell, IBRS)",
     "abm aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma "
     "fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae "
     "pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp rtm sep smep "
     "spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic "
     "xsave xsaveopt"},
    {"Haswell-v4", "Haswell-noTSX-IBRS", NULL, 0xd, 0x80000008, 6, 60, 1,
     "Intel Core Processor (Haswell, no TSX, IBRS)",
     "abm aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 de erms f16c fma "
     "fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat "
     "pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdtscp sep smep spec-ctrl sse "
     "sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xsave xsaveopt"},
    {"Broadwell-v1", NULL, NULL, 0xd, 0x80000008, 6, 61, 2, "Intel Core Processor (Broadwell)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe "
     "msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed "
     "rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xsave xsaveopt"},
    {"Broadwell-v2", "Broadwell-noTSX", NULL, 0xd, 0x80000008, 6, 61, 2,
     "Intel Core Processor (Broadwell, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr "
     "mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp "
     "sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme "
     "x2apic xsave xsaveopt"},
    {"Broadwell-v3", "Broadwell-IBRS", NULL, 0xd, 0x80000008, 6, 61, 2,
     "Intel Core Processor (Broadwell, IBRS)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe "
     "msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed "
     "rdtscp rtm sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xsave xsaveopt"},
    {"Broadwell-v4", "Broadwell-noTSX-IBRS", NULL, 0xd, 0x80000008, 6, 61, 2,
     "Intel Core Processor (Broadwell, no TSX, IBRS)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr "
     "mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp "
     "sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "vme x2apic xsave xsaveopt"},
    {"Skylake-Client-v1", NULL, NULL, 0xd, 0x80000008, 6, 94, 3, "Intel Core Processor (Skylake)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe "
     "msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed "
     "rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Client-v2", "Skylake-Client-IBRS", NULL, 0xd, 0x80000008, 6, 94, 3,
     "Intel Core Processor (Skylake, IBRS)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe "
     "msr mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed "
     "rdtscp rtm sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Client-v3", "Skylake-Client-noTSX-IBRS", NULL, 0xd, 0x80000008, 6, 94, 3,
     "Intel Core Processor (Skylake, IBRS, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr "
     "mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp "
     "sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Client-v4", NULL, "[IBRS, XSAVES, no TSX]", 0xd, 0x80000008, 6, 94, 3,
     "Intel Core Processor (Skylake, IBRS, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr "
     "mtrr nx pae pat pcid pclmulqdq pge pni popcnt pse pse36 rdrand rdseed rdtscp "
     "sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "vme x2apic xgetbv1 xsave xsavec xsaveopt xsaves"},
    {"Skylake-Server-v1", NULL, NULL, 0xd, 0x80000008, 6, 85, 4, "Intel Xeon Processor (Skylake)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c "
     "fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx "
     "pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed "
     "rdtscp rtm sep smap smep sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Server-v2", "Skylake-Server-IBRS", NULL, 0xd, 0x80000008, 6, 85, 4,
     "Intel Xeon Processor (Skylake, IBRS)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl bmi1 bmi2 clflush clwb cmov cx16 cx8 de erms f16c fma fpu "
     "fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat "
     "pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp rtm "
     "sep smap smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Server-v3", "Skylake-Server-noTSX-IBRS", NULL, 0xd, 0x80000008, 6, 85, 4,
     "Intel Xeon Processor (Skylake, IBRS, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl bmi1 bmi2 clflush clwb cmov cx16 cx8 de erms f16c fma fpu "
     "fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid "
     "pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp sep smap "
     "smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme "
     "x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Server-v4", NULL, "[IBRS, EPT switching, no TSX]", 0xd, 0x80000008, 6, 85, 4,
     "Intel Xeon Processor (Skylake, IBRS, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl bmi1 bmi2 clflush clwb cmov cx16 cx8 de erms f16c fma fpu "
     "fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid "
     "pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp sep smap "
     "smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme "
     "x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Skylake-Server-v5", NULL, "[IBRS, XSAVES, EPT switching, no TSX]", 0xd, 0x80000008, 6, 85, 4,
     "Intel Xeon Processor (Skylake, IBRS, no TSX)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl bmi1 bmi2 clflush clwb cmov cx16 cx8 de erms f16c fma fpu "
     "fsgsbase fxsr invpcid lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid "
     "pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp sep smap "
     "smep spec-ctrl sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme "
     "x2apic xgetbv1 xsave xsavec xsaveopt xsaves"},
    {"Cascadelake-Server-v1", NULL, NULL, 0xd, 0x80000008, 6, 85, 6,
     "Intel Xeon Processor (Cascadelake)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq "
     "avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 "
     "de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm mca mce mmx movbe "
     "msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 "
     "rdrand rdseed rdtscp rtm sep smap smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 "
     "ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Cascadelake-Server-v2", NULL, "[ARCH_CAPABILITIES]", 0xd, 0x80000008, 6, 85, 6,
     "Intel Xeon Processor (Cascadelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 avx512bw "
     "avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt "
     "clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr hle invpcid lahf-lm lm "
     "mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni "
     "popcnt pse pse36 rdrand rdseed rdtscp rtm sep smap smep spec-ctrl ssbd sse "
     "sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave "
     "xsavec xsaveopt"},
    {"Cascadelake-Server-v3", "Cascadelake-Server-noTSX", "[ARCH_CAPABILITIES, no TSX]", 0xd,
     0x80000008, 6, 85, 6, "Intel Xeon Processor (Cascadelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 avx512bw "
     "avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt "
     "clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca "
     "mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt "
     "pse pse36 rdrand rdseed rdtscp sep smap smep spec-ctrl ssbd sse sse2 sse4.1 "
     "sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave xsavec "
     "xsaveopt"},
    {"Cascadelake-Server-v4", NULL, "[ARCH_CAPABILITIES, EPT switching, no TSX]", 0xd, 0x80000008,
     6, 85, 6, "Intel Xeon Processor (Cascadelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 avx512bw "
     "avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt "
     "clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca "
     "mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt "
     "pse pse36 rdrand rdseed rdtscp sep smap smep spec-ctrl ssbd sse sse2 sse4.1 "
     "sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave xsavec "
     "xsaveopt"},
    {"Cascadelake-Server-v5", NULL, "[ARCH_CAPABILITIES, EPT switching, XSAVES, no TSX]", 0xd,
     0x80000008, 6, 85, 6, "Intel Xeon Processor (Cascadelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 avx512bw "
     "avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 bmi2 clflush clflushopt "
     "clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr invpcid lahf-lm lm mca "
     "mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt "
     "pse pse36 rdrand rdseed rdtscp sep smap smep spec-ctrl ssbd sse sse2 sse4.1 "
     "sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave xsavec "
     "xsaveopt xsaves"},
    {"Icelake-Server-v1", NULL, NULL, 0xd, 0x80000008, 6, 134, 0, "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512-vpopcntdq avx512bitalg "
     "avx512bw avx512cd avx512dq avx512f avx512vbmi avx512vbmi2 avx512vl avx512vnni "
     "bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase "
     "fxsr gfni hle invpcid la57 lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat "
     "pcid pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp rtm "
     "sep smap smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc "
     "tsc-deadline umip vaes vme vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec "
     "xsaveopt"},
    {"Icelake-Server-v2", "Icelake-Server-noTSX", "[no TSX]", 0xd, 0x80000008, 6, 134, 0,
     "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat avx avx2 avx512-vpopcntdq avx512bitalg "
     "avx512bw avx512cd avx512dq avx512f avx512vbmi avx512vbmi2 avx512vl avx512vnni "
     "bmi1 bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase "
     "fxsr gfni invpcid la57 lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid "
     "pclmulqdq pdpe1gb pge pku pni popcnt pse pse36 rdrand rdseed rdtscp sep smap "
     "smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline "
     "umip vaes vme vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Icelake-Server-v3", NULL, NULL, 0xd, 0x80000008, 6, 134, 0, "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 "
     "avx512-vpopcntdq avx512bitalg avx512bw avx512cd avx512dq avx512f avx512vbmi "
     "avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb cmov cx16 "
     "cx8 de erms f16c fma fpu fsgsbase fxsr gfni invpcid la57 lahf-lm lm mca mce "
     "mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge pku pni popcnt pse "
     "pse36 rdrand rdseed rdtscp sep smap smep spec-ctrl ssbd sse sse2 sse4.1 "
     "sse4.2 ssse3 syscall tsc tsc-deadline umip vaes vme vpclmulqdq wbnoinvd "
     "x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Icelake-Server-v4", NULL, NULL, 0xd, 0x80000008, 6, 106, 0, "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 "
     "avx512-vpopcntdq avx512bitalg avx512bw avx512cd avx512dq avx512f avx512ifma "
     "avx512vbmi avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb "
     "cmov cx16 cx8 de erms f16c fma fpu fsgsbase fsrm fxsr gfni invpcid la57 "
     "lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge "
     "pku pni popcnt pse pse36 rdpid rdrand rdseed rdtscp sep sha-ni smap smep "
     "spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline umip "
     "vaes vme vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec xsaveopt"},
    {"Icelake-Server-v5", NULL, "[XSAVES]", 0xd, 0x80000008, 6, 106, 0,
     "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 "
     "avx512-vpopcntdq avx512bitalg avx512bw avx512cd avx512dq avx512f avx512ifma "
     "avx512vbmi avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb "
     "cmov cx16 cx8 de erms f16c fma fpu fsgsbase fsrm fxsr gfni invpcid la57 "
     "lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge "
     "pku pni popcnt pse pse36 rdpid rdrand rdseed rdtscp sep sha-ni smap smep "
     "spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline umip "
     "vaes vme vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec xsaveopt xsaves"},
    {"Icelake-Server-v6", NULL, "[5-level EPT]", 0xd, 0x80000008, 6, 106, 0,
     "Intel Xeon Processor (Icelake)",
     "3dnowprefetch abm adx aes apic arat arch-capabilities avx avx2 "
     "avx512-vpopcntdq avx512bitalg avx512bw avx512cd avx512dq avx512f avx512ifma "
     "avx512vbmi avx512vbmi2 avx512vl avx512vnni bmi1 bmi2 clflush clflushopt clwb "
     "cmov cx16 cx8 de erms f16c fma fpu fsgsbase fsrm fxsr gfni invpcid la57 "
     "lahf-lm lm mca mce mmx movbe msr mtrr nx pae pat pcid pclmulqdq pdpe1gb pge "
     "pku pni popcnt pse pse36 rdpid rdrand rdseed rdtscp sep sha-ni smap smep "
     "spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline umip "
     "vaes vme vpclmulqdq wbnoinvd x2apic xgetbv1 xsave xsavec xsaveopt xsaves"},
    {"EPYC-v1", NULL, NULL, 0xd, 0x8000001e, 23, 1, 2, "AMD EPYC Processor",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush clflushopt "
     "cmov cr8legacy cx16 cx8 de f16c fma fpu fsgsbase fxsr fxsr-opt lahf-lm lm mca "
     "mce misalignsse mmx mmxext movbe msr mtrr nx osvw pae pat pclmulqdq pdpe1gb "
     "pge pni popcnt pse pse36 rdrand rdseed rdtscp sep sha-ni smap smep sse sse2 "
     "sse4.1 sse4.2 sse4a ssse3 syscall topoext tsc vme x2apic xgetbv1 xsave xsavec "
     "xsaveopt"},
    {"EPYC-v2", "EPYC-IBPB", NULL, 0xd, 0x8000001e, 23, 1, 2, "AMD EPYC Processor (with IBPB)",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush clflushopt "
     "cmov cr8legacy cx16 cx8 de f16c fma fpu fsgsbase fxsr fxsr-opt ibpb lahf-lm "
     "lm mca mce misalignsse mmx mmxext movbe msr mtrr nx osvw pae pat pclmulqdq "
     "pdpe1gb pge pni popcnt pse pse36 rdrand rdseed rdtscp sep sha-ni smap smep "
     "sse sse2 sse4.1 sse4.2 sse4a ssse3 syscall topoext tsc vme x2apic xgetbv1 "
     "xsave xsavec xsaveopt"},
    {"EPYC-v3", NULL, NULL, 0xd, 0x8000001e, 23, 1, 2, "AMD EPYC Processor",
     "3dnowprefetch abm adx aes apic arat avx avx2 bmi1 bmi2 clflush clflushopt "
     "clzero cmov cr8legacy cx16 cx8 de f16c fma fpu fsgsbase fxsr fxsr-opt ibpb "
     "lahf-lm lm mca mce misalignsse mmx mmxext movbe msr mtrr nx osvw pae pat "
     "pclmulqdq pdpe1gb perfctr-core pge pni popcnt pse pse36 rdrand rdseed rdtscp "
     "sep sha-ni smap smep sse sse2 sse4.1 sse4.2 sse4a ssse3 syscall topoext tsc "
     "vme x2apic xgetbv1 xsave xsavec xsaveerptr xsaveopt xsaves"},
    {"EPYC-Rome-v1", NULL, NULL, 0xd, 0x8000001e, 23, 49, 0, "AMD EPYC-Rome Processor",
     "3dnowprefetch abm adx aes amd-stibp apic arat avx avx2 bmi1 bmi2 clflush "
     "clflushopt clwb clzero cmov cr8legacy cx16 cx8 de f16c fma fpu fsgsbase fxsr "
     "fxsr-opt ibpb lahf-lm lm mca mce misalignsse mmx mmxext movbe msr mtrr nx "
     "osvw pae pat pclmulqdq pdpe1gb perfctr-core pge pni popcnt pse pse36 rdpid "
     "rdrand rdseed rdtscp sep sha-ni smap smep sse sse2 sse4.1 sse4.2 sse4a ssse3 "
     "syscall topoext tsc umip vme wbnoinvd x2apic xgetbv1 xsave xsavec xsaveerptr "
     "xsaveopt xsaves"},
    {"EPYC-Rome-v2", NULL, NULL, 0xd, 0x8000001e, 23, 49, 0, "AMD EPYC-Rome Processor",
     "3dnowprefetch abm adx aes amd-ssbd amd-stibp apic arat avx avx2 bmi1 bmi2 "
     "clflush clflushopt clwb clzero cmov cr8legacy cx16 cx8 de f16c fma fpu "
     "fsgsbase fxsr fxsr-opt ibpb ibrs lahf-lm lm mca mce misalignsse mmx mmxext "
     "movbe msr mtrr nx osvw pae pat pclmulqdq pdpe1gb perfctr-core pge pni popcnt "
     "pse pse36 rdpid rdrand rdseed rdtscp sep sha-ni smap smep sse sse2 sse4.1 "
     "sse4.2 sse4a ssse3 syscall topoext tsc umip vme wbnoinvd x2apic xgetbv1 xsave "
     "xsavec xsaveerptr xsaveopt xsaves"},
    {"EPYC-Milan-v1", NULL, NULL, 0xd, 0x8000001e, 25, 1, 1, "AMD EPYC-Milan Processor",
     "3dnowprefetch abm adx aes amd-ssbd amd-stibp apic arat avx avx2 bmi1 bmi2 "
     "clflush clflushopt clwb clzero cmov cr8legacy cx16 cx8 de erms f16c fma fpu "
     "fsgsbase fsrm fxsr fxsr-opt ibpb ibrs invpcid lahf-lm lm mca mce misalignsse "
     "mmx mmxext movbe msr mtrr nx osvw pae pat pcid pclmulqdq pdpe1gb perfctr-core "
     "pge pku pni popcnt pse pse36 rdpid rdrand rdseed rdtscp sep sha-ni smap smep "
     "sse sse2 sse4.1 sse4.2 sse4a ssse3 syscall topoext tsc umip vme wbnoinvd "
     "x2apic xgetbv1 xsave xsavec xsaveerptr xsaveopt xsaves"},
};
#define NR_ROWS (sizeof(rows) / sizeof(rows[0]))

static const struct model_row *row_by_name(const char *name)
{
    for (size_t i = 0; i < NR_ROWS; i++)
        if (strcmp(rows[i].name, name) == 0 || (rows[i].alias && strcmp(rows[i].alias, name) == 0))
            return &rows[i];
    return NULL;
}

static void apply_row(const struct model_row *r, struct cpu_model *m)
{
    m->name = r->name;
    m->level = r->level;
    m->xlevel = r->xlevel;
    m->family = r->family;
    m->model = r->model;
    m->stepping = r->stepping;
    m->model_id = r->model_id;
    struct verr err = {0};
    /* The table's names are checked by cpu_models_validate (unit test). */
    if (cpu_words_from_names(m->features, r->features, &err) < 0)
        memset(m->features, 0, sizeof(m->features));
}

int cpu_models_validate(struct verr *err)
{
    cpu_words w;
    for (size_t i = 0; i < NR_ROWS; i++)
        if (cpu_words_from_names(w, rows[i].features, err) < 0)
            return verr_prefix(err, "CPU model %s", rows[i].name);
    return 0;
}

bool cpu_model_find(const char *name, bool latest, struct cpu_model *out)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(name, "host") == 0 || strcmp(name, "max") == 0) {
        out->name = strcmp(name, "host") == 0 ? "host" : "max";
        out->passthrough = true;
        return true;
    }
    const struct model_row *r = row_by_name(name);
    if (!r) {
        /* The unversioned name: v1, or the newest version where the machine says so. */
        size_t n = strlen(name);
        unsigned best = 0;
        for (size_t i = 0; i < NR_ROWS; i++) {
            const char *v = rows[i].name + n;
            if (strncmp(rows[i].name, name, n) != 0 || strncmp(v, "-v", 2) != 0)
                continue;
            unsigned ver = (unsigned)strtoul(v + 2, NULL, 10);
            if (ver && (latest ? ver > best : ver == 1)) {
                best = ver;
                r = &rows[i];
            }
        }
    }
    if (!r)
        return false;
    apply_row(r, out);
    return true;
}

void cpu_models_each(void (*fn)(const char *name, const char *alias_of, const char *desc,
                                void *opaque),
                     void *opaque)
{
    for (size_t i = 0; i < NR_ROWS; i++) {
        char desc[128];
        size_t n = strlen(rows[i].name);
        if (n > 3 && strcmp(rows[i].name + n - 3, "-v1") == 0) {
            char base[64];
            snprintf(base, sizeof(base), "%.*s", (int)(n - 3), rows[i].name);
            fn(base, rows[i].name, NULL, opaque);
        }
        if (rows[i].alias)
            fn(rows[i].alias, rows[i].name, NULL, opaque);
        snprintf(desc, sizeof(desc), "%s%s%s", rows[i].model_id, rows[i].note ? " " : "",
                 rows[i].note ? rows[i].note : "");
        fn(rows[i].name, NULL, desc, opaque);
    }
    fn("host", NULL, "processor with all supported host features", opaque);
    fn("max", NULL, "Enables all features supported by the accelerator in the current host",
       opaque);
}

/* ---- -cpu help, in QEMU's layout ---- */

struct help_item {
    char name[64];
    char desc[128];
};

struct help_list {
    struct help_item items[160];
    size_t n;
};

static void help_add(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    struct help_list *l = opaque;
    if (l->n == sizeof(l->items) / sizeof(l->items[0]))
        return;
    struct help_item *it = &l->items[l->n++];
    snprintf(it->name, sizeof(it->name), "%s", name);
    if (alias_of && strncmp(alias_of, name, strlen(name)) == 0 &&
        strcmp(alias_of + strlen(name), "-v1") == 0)
        snprintf(it->desc, sizeof(it->desc), "(alias configured by machine type)");
    else if (alias_of)
        snprintf(it->desc, sizeof(it->desc), "(alias of %s)", alias_of);
    else if (strcmp(name, "host") == 0)
        snprintf(it->desc, sizeof(it->desc), "%s ", desc); /* QEMU's trailing space */
    else
        snprintf(it->desc, sizeof(it->desc), "%s", desc ? desc : "");
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct help_item *)a)->name, ((const struct help_item *)b)->name);
}

struct flag_line {
    FILE *f;
    size_t len;
};

static void flag_out(const char *name, void *opaque)
{
    struct flag_line *fl = opaque;
    if (fl->len + strlen(name) + 1 >= 75) {
        fputc('\n', fl->f);
        fl->len = 0;
    }
    fprintf(fl->f, "%s%s", fl->len == 0 ? "  " : " ", name);
    fl->len += strlen(name) + 1;
}

char *cpu_models_help(void)
{
    struct help_list *l = calloc(1, sizeof(*l));
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    if (!l || !f)
        abort();
    cpu_models_each(help_add, l);
    qsort(l->items, l->n, sizeof(l->items[0]), cmp_item);
    fputs("Available CPUs:\n", f);
    for (size_t i = 0; i < l->n; i++) {
        /* host and max come last in QEMU's list, after the sorted models */
        if (strcmp(l->items[i].name, "host") != 0 && strcmp(l->items[i].name, "max") != 0)
            fprintf(f, "x86 %-20s  %s\n", l->items[i].name, l->items[i].desc);
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, "host") == 0 || strcmp(l->items[i].name, "max") == 0)
            fprintf(f, "x86 %-20s  %s\n", l->items[i].name, l->items[i].desc);
    fputs("\nRecognized CPUID flags:\n", f);
    struct flag_line fl = {f, 0};
    cpu_feature_names_each(flag_out, &fl);
    fputc('\n', f);
    fclose(f);
    free(l);
    return out;
}
