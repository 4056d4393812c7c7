/*
 * cpu-features.c - see cpu-features.h. Bit positions are the Intel SDM's and
 * AMD APM's (CPUID), KVM's for leaf 0x40000001 (Documentation/virt/kvm/x86/
 * cpuid.rst); the names and aliases are the ones QEMU 7.2's -cpu accepts (bits
 * QEMU 7.2 has no name for are left unnamed, so they cannot be asked for).
 */
#include "vmm/kvm/cpu-features.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cpu_word_info words[CPU_W_COUNT] = {
    [CPU_W_1_EDX] = {1, 0, 3, "CPUID.01H:EDX"},
    [CPU_W_1_ECX] = {1, 0, 2, "CPUID.01H:ECX"},
    [CPU_W_7_0_EBX] = {7, 0, 1, "CPUID.07H:EBX"},
    [CPU_W_7_0_ECX] = {7, 0, 2, "CPUID.07H:ECX"},
    [CPU_W_7_0_EDX] = {7, 0, 3, "CPUID.07H:EDX"},
    [CPU_W_7_1_EAX] = {7, 1, 0, "CPUID.07H:EAX"},
    [CPU_W_8001_EDX] = {0x80000001, 0, 3, "CPUID.80000001H:EDX"},
    [CPU_W_8001_ECX] = {0x80000001, 0, 2, "CPUID.80000001H:ECX"},
    [CPU_W_8007_EDX] = {0x80000007, 0, 3, "CPUID.80000007H:EDX"},
    [CPU_W_8008_EBX] = {0x80000008, 0, 1, "CPUID.80000008H:EBX"},
    [CPU_W_D_1_EAX] = {0xd, 1, 0, "CPUID.0DH:EAX"},
    [CPU_W_6_EAX] = {6, 0, 0, "CPUID.06H:EAX"},
    [CPU_W_KVM] = {0x40000001, 0, 0, "CPUID.40000001H:EAX"},
};

/* Names per word, bit 0 first (NULL: no name). */
static const char *const names[CPU_W_COUNT][32] = {
    [CPU_W_1_EDX] = {"fpu",  "vme",   "de",   "pse",     "tsc",  "msr", "pae",  "mce",
                     "cx8",  "apic",  NULL,   "sep",     "mtrr", "pge", "mca",  "cmov",
                     "pat",  "pse36", "pn",   "clflush", NULL,   "ds",  "acpi", "mmx",
                     "fxsr", "sse",   "sse2", "ss",      "ht",   "tm",  "ia64", "pbe"},
    [CPU_W_1_ECX] = {"pni",    "pclmulqdq", "dtes64", "monitor",      "ds-cpl", "vmx",    "smx",
                     "est",    "tm2",       "ssse3",  "cid",          NULL,     "fma",    "cx16",
                     "xtpr",   "pdcm",      NULL,     "pcid",         "dca",    "sse4.1", "sse4.2",
                     "x2apic", "movbe",     "popcnt", "tsc-deadline", "aes",    "xsave",  NULL,
                     "avx",    "f16c",      "rdrand", "hypervisor"},
    [CPU_W_7_0_EBX] = {"fsgsbase", "tsc-adjust", "sgx",      "bmi1",       "hle",      "avx2",
                       NULL,       "smep",       "bmi2",     "erms",       "invpcid",  "rtm",
                       NULL,       NULL,         "mpx",      NULL,         "avx512f",  "avx512dq",
                       "rdseed",   "adx",        "smap",     "avx512ifma", "pcommit",  "clflushopt",
                       "clwb",     "intel-pt",   "avx512pf", "avx512er",   "avx512cd", "sha-ni",
                       "avx512bw", "avx512vl"},
    [CPU_W_7_0_ECX] = {NULL,         "avx512vbmi",  "umip",         "pku",       NULL,
                       "waitpkg",    "avx512vbmi2", NULL,           "gfni",      "vaes",
                       "vpclmulqdq", "avx512vnni",  "avx512bitalg", NULL,        "avx512-vpopcntdq",
                       NULL,         "la57",        NULL,           NULL,        NULL,
                       NULL,         NULL,          "rdpid",        NULL,        "bus-lock-detect",
                       "cldemote",   NULL,          "movdiri",      "movdir64b", NULL,
                       "sgxlc",      "pks"},
    [CPU_W_7_0_EDX] = {NULL,
                       NULL,
                       "avx512-4vnniw",
                       "avx512-4fmaps",
                       "fsrm",
                       NULL,
                       NULL,
                       NULL,
                       "avx512-vp2intersect",
                       NULL,
                       "md-clear",
                       NULL,
                       NULL,
                       NULL,
                       "serialize",
                       NULL,
                       "tsx-ldtrk",
                       NULL,
                       NULL,
                       "arch-lbr",
                       NULL,
                       NULL,
                       "amx-bf16",
                       "avx512-fp16",
                       "amx-tile",
                       "amx-int8",
                       "spec-ctrl",
                       "stibp",
                       NULL,
                       "arch-capabilities",
                       "core-capability",
                       "ssbd"},
    [CPU_W_7_1_EAX] = {NULL, NULL, NULL, NULL, "avx-vnni", "avx512-bf16", NULL, NULL,
                       NULL, NULL, NULL, NULL, NULL,       NULL,          NULL, NULL,
                       NULL, NULL, NULL, NULL, NULL,       NULL,          NULL, NULL,
                       NULL, NULL, NULL, NULL, NULL,       NULL,          NULL, NULL},
    [CPU_W_8001_EDX] = {NULL, NULL,       NULL,      NULL,      NULL, NULL, NULL,       NULL,
                        NULL, NULL,       NULL,      "syscall", NULL, NULL, NULL,       NULL,
                        NULL, NULL,       NULL,      NULL,      "nx", NULL, "mmxext",   NULL,
                        NULL, "fxsr-opt", "pdpe1gb", "rdtscp",  NULL, "lm", "3dnowext", "3dnow"},
    [CPU_W_8001_ECX] = {"lahf-lm",   "cmp-legacy",  "svm",
                        "extapic",   "cr8legacy",   "abm",
                        "sse4a",     "misalignsse", "3dnowprefetch",
                        "osvw",      "ibs",         "xop",
                        "skinit",    "wdt",         NULL,
                        "lwp",       "fma4",        "tce",
                        NULL,        "nodeid-msr",  NULL,
                        "tbm",       "topoext",     "perfctr-core",
                        "perfctr-nb"},
    [CPU_W_8007_EDX] = {[8] = "invtsc"},
    [CPU_W_8008_EBX] = {[0] = "clzero",
                        [2] = "xsaveerptr",
                        [9] = "wbnoinvd",
                        [12] = "ibpb",
                        [14] = "ibrs",
                        [15] = "amd-stibp",
                        [24] = "amd-ssbd",
                        [25] = "virt-ssbd",
                        [26] = "amd-no-ssb"},
    [CPU_W_D_1_EAX] = {"xsaveopt", "xsavec", "xgetbv1", "xsaves", "xfd"},
    [CPU_W_6_EAX] = {[2] = "arat"},
    [CPU_W_KVM] = {"kvmclock", "kvm-nopiodelay", "kvm-mmu", "kvmclock", "kvm-asyncpf",
                   "kvm-steal-time", "kvm-pv-eoi", "kvm-pv-unhalt", NULL, "kvm-pv-tlb-flush", NULL,
                   "kvm-pv-ipi", "kvm-poll-control", "kvm-pv-sched-yield", "kvm-asyncpf-int",
                   "kvm-msi-ext-dest-id", [24] = "kvmclock-stable-bit"},
};

/* QEMU's other spellings of the same features (after '_' -> '-'). */
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"sse3", "pni"},
    {"pclmuldq", "pclmulqdq"},
    {"sse4-1", "sse4.1"},
    {"sse4-2", "sse4.2"},
    {"xd", "nx"},
    {"i64", "lm"},
    {"ffxsr", "fxsr-opt"},
    {"kvm-steal-tm", "kvm-steal-time"},
    {"psn", "pn"},
    {"clfsh", "clflush"},
    {"dts", "ds"},
    {"htt", "ht"},
    {"sha", "sha-ni"},
    {"avx512vpopcntdq", "avx512-vpopcntdq"},
    {"avx5124vnniw", "avx512-4vnniw"},
    {"avx5124fmaps", "avx512-4fmaps"},
    {"avx512bf16", "avx512-bf16"},
    {"avx512vp2intersect", "avx512-vp2intersect"},
};

const struct cpu_word_info *cpu_word_info(enum cpu_word w)
{
    return &words[w];
}

const char *cpu_feature_name(enum cpu_word w, unsigned bit)
{
    return bit < 32 ? names[w][bit] : NULL;
}

bool cpu_feature_lookup(const char *name, enum cpu_word *w, uint32_t *mask)
{
    char n[64];
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof(n))
        return false;
    for (size_t i = 0; i <= len; i++)
        n[i] = name[i] == '_' ? '-' : name[i];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(n, aliases[i].alias) == 0)
            snprintf(n, sizeof(n), "%s", aliases[i].name);
    bool found = false;
    for (unsigned ww = 0; ww < CPU_W_COUNT; ww++) {
        for (unsigned b = 0; b < 32; b++) {
            if (!names[ww][b] || strcmp(names[ww][b], n) != 0)
                continue;
            if (!found) {
                *w = ww;
                *mask = 0;
                found = true;
            }
            if (*w == ww) /* kvmclock names two bits of one word */
                *mask |= 1u << b;
        }
    }
    return found;
}

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
    enum cpu_word w;
    uint32_t mask;
    if (!cpu_feature_lookup(name, &w, &mask))
        return verr_set(err, ENOTSUP, "CPU feature '%s' not found (see -cpu help)", name);
    fs->on[w] = on ? fs->on[w] | mask : fs->on[w] & ~mask;
    fs->off[w] = on ? fs->off[w] & ~mask : fs->off[w] | mask;
    return 0;
}

int cpu_words_from_names(cpu_words out, const char *list, struct verr *err)
{
    memset(out, 0, sizeof(cpu_words));
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        enum cpu_word w;
        uint32_t mask;
        if (!cpu_feature_lookup(name, &w, &mask))
            return verr_set(err, EINVAL, "CPU model table: unknown feature '%s'", name);
        out[w] |= mask;
        p += n;
    }
    return 0;
}

uint32_t cpu_word_get(const struct kvm_cpuid2 *c, enum cpu_word w)
{
    const struct cpu_word_info *wi = &words[w];
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function != wi->leaf || e->index != wi->sub)
            continue;
        const uint32_t r[4] = {e->eax, e->ebx, e->ecx, e->edx};
        return r[wi->reg];
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void cpu_feature_names_each(void (*fn)(const char *name, void *opaque), void *opaque)
{
    const char *all[CPU_W_COUNT * 32];
    size_t n = 0;
    for (unsigned w = 0; w < CPU_W_COUNT; w++)
        for (unsigned b = 0; b < 32; b++)
            if (names[w][b] && !(w == CPU_W_KVM && b == 3)) /* kvmclock once */
                all[n++] = names[w][b];
    qsort(all, n, sizeof(all[0]), cmp_str);
    for (size_t i = 0; i < n; i++)
        fn(all[i], opaque);
}
