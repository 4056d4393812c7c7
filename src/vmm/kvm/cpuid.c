/*
 * cpuid.c - see cpuid.h. Bit positions are from the Intel SDM, volume 2A,
 * CPUID; the leaf 0x4/0xB/0x1F topology encoding follows its "APIC ID"
 * and "cache parameters" descriptions. For a named model the leaves are
 * built as QEMU 7.2 builds them under KVM (its guest view is the reference:
 * tests/integration/vmm/test-cpu-model.py): the host's vendor, the model's
 * levels, signature and model-id, feature words filtered by what KVM
 * offers, no PMU leaf, and XSAVE state for the components the features use.
 */
#include "vmm/kvm/cpuid.h"
#include "util/mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

uint32_t cpu_topology_apic_id(const struct cpu_topology *t, unsigned index)
{
    unsigned smt = bits_for(t->threads), core = bits_for(t->cores);
    unsigned thread_id = index % t->threads;
    unsigned core_id = (index / t->threads) % t->cores;
    unsigned socket_id = index / (t->threads * t->cores);
    return (socket_id << (smt + core)) | (core_id << smt) | thread_id;
}

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out, struct verr *err)
{
    for (unsigned n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            *out = c;
            return 0;
        }
        int e = errno;
        free(c);
        if (e != E2BIG)
            return verr_errno(err, e, "KVM_GET_SUPPORTED_CPUID");
    }
    return verr_set(err, E2BIG, "KVM_GET_SUPPORTED_CPUID: table too large");
}

#define ECX_X2APIC       (1u << 21)
#define ECX_TSC_DEADLINE (1u << 24)
#define ECX_XSAVE        (1u << 26)
#define ECX_HYPERVISOR   (1u << 31)
#define EDX_HTT          (1u << 28)
#define ECX3_TOPOEXT     (1u << 22)

/* QEMU's KVM paravirtual features on by default for named models (kvm_default_props):
 * kvmclock (bits 0 and 3), kvm-nopiodelay, kvm-asyncpf, kvm-steal-time, kvm-pv-eoi,
 * kvmclock-stable-bit. */
/* CPUID 0x80000007 EDX: the invariant TSC, which QEMU counts unmigratable. */
#define EDX7_INVTSC (1u << 8)

#define KVM_DEFAULTS                                                                               \
    ((1u << 0) | (1u << 3) | (1u << 1) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 24))

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

void cpuid_model_words(const struct kvm_cpuid2 *supported, const struct cpu_model *m,
                       const struct cpu_features *fs, cpu_words out, cpu_words missing)
{
    for (unsigned w = 0; w < CPU_W_COUNT; w++) {
        uint32_t offered = cpu_word_get(supported, w);
        uint32_t want;
        if (m->passthrough) {
            want = offered | fs->on[w];
            if (w == CPU_W_8007_EDX && !m->unmigratable)
                want &= ~EDX7_INVTSC; /* QEMU's migratable=on drops it */
        } else {
            want = m->features[w] | fs->on[w];
            if (w == CPU_W_1_ECX) {
                want |= ECX_HYPERVISOR | ECX_X2APIC;
                /* The in-kernel LAPIC has the TSC-deadline timer, as QEMU adds to KVM's set. */
                offered |= ECX_TSC_DEADLINE;
            }
            if (w == CPU_W_KVM)
                want |= KVM_DEFAULTS;
            /* QEMU turns these off for named models under KVM (kvm_default_props). */
            if (w == CPU_W_1_EDX)
                want &= ~(1u << 22); /* acpi */
            if (w == CPU_W_1_ECX)
                want &= ~(1u << 3); /* monitor */
            if (w == CPU_W_8001_ECX)
                want &= ~(1u << 2); /* svm */
            want |= fs->on[w];
        }
        if (w == CPU_W_1_ECX)
            offered |= ECX_HYPERVISOR;
        if (w == CPU_W_8001_ECX && !m->passthrough)
            offered |= ECX3_TOPOEXT; /* as QEMU: the leaves are ours (named_table) */
        want &= ~fs->off[w];
        out[w] = want & offered;
        if (missing)
            missing[w] = want & ~offered;
    }
}

static struct kvm_cpuid_entry2 *add_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx,
                                          uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
    memset(e, 0, sizeof(*e));
    e->function = fn;
    e->index = idx;
    /* Only leaves with subleaves look at ECX: the others must answer whatever ECX holds (Linux's
     * head_64.S runs CPUID 0x80000001 with ECX = MSR_EFER's number to find NX). */
    if (fn == 4 || fn == 7 || fn == 0xb || fn == 0xd || fn == 0x1f || fn == 0x8000001d)
        e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    e->eax = eax;
    e->ebx = ebx;
    e->ecx = ecx;
    e->edx = edx;
    return e;
}

static uint32_t signature(const struct cpu_model *m)
{
    uint32_t v = (m->stepping & 0xf) | ((m->model & 0xf) << 4) | (((m->model >> 4) & 0xf) << 16);
    if (m->family > 0xf)
        v |= (0xfu << 8) | ((m->family - 0xf) << 20);
    else
        v |= m->family << 8;
    return v;
}

/* Leaf 0x4 (Intel cache parameters) with its sharing fields from the topology. */
static void fix_leaf4(struct kvm_cpuid_entry2 *e, unsigned smt, unsigned core)
{
    if ((e->eax & 0x1f) == 0)
        return;
    unsigned level = (e->eax >> 5) & 7;
    uint32_t sharing = level <= 2 ? (1u << smt) - 1 : (1u << (smt + core)) - 1;
    e->eax &= ~(0xfc000000u | 0x03ffc000u);
    e->eax |= (((1u << core) - 1) << 26) | (sharing << 14);
}

static void set_word(struct kvm_cpuid2 *c, enum cpu_word w, uint32_t v)
{
    const struct cpu_word_info *wi = cpu_word_info(w);
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function != wi->leaf || e->index != wi->sub)
            continue;
        uint32_t *r[4] = {&e->eax, &e->ebx, &e->ecx, &e->edx};
        *r[wi->reg] = v;
    }
}

/* The XSAVE components (XCR0 bits) the features use. */
static uint64_t xsave_components(const cpu_words w)
{
    uint64_t x = 0x3; /* x87, SSE */
    if (w[CPU_W_1_ECX] & (1u << 28))
        x |= 1u << 2; /* AVX */
    if (w[CPU_W_7_0_EBX] & (1u << 14))
        x |= (1u << 3) | (1u << 4); /* MPX */
    if (w[CPU_W_7_0_EBX] & (1u << 16))
        x |= (1u << 5) | (1u << 6) | (1u << 7); /* AVX-512 */
    if (w[CPU_W_7_0_ECX] & (1u << 3))
        x |= 1u << 9; /* PKRU */
    if (w[CPU_W_7_0_EDX] & (1u << 24))
        x |= (1ull << 17) | (1ull << 18); /* AMX */
    return x;
}

uint64_t cpuid_missing_xsave_components(const struct kvm_cpuid2 *supported, const cpu_words want)
{
    if (!(want[CPU_W_1_ECX] & ECX_XSAVE))
        return 0;
    const struct kvm_cpuid_entry2 *s0 = find(supported, 0xd, 0);
    uint64_t host = s0 ? s0->eax | ((uint64_t)s0->edx << 32) : 0;
    return xsave_components(want) & ~host;
}

static void add_xsave_leaf(struct kvm_cpuid2 *c, const struct kvm_cpuid2 *supported,
                           const cpu_words w)
{
    const struct kvm_cpuid_entry2 *s0 = find(supported, 0xd, 0);
    if (!s0 || !(w[CPU_W_1_ECX] & ECX_XSAVE))
        return;
    uint64_t comp = xsave_components(w) & (s0->eax | ((uint64_t)s0->edx << 32));
    uint32_t size = 512 + 64; /* legacy area and header */
    for (unsigned i = 2; i < 64; i++) {
        const struct kvm_cpuid_entry2 *s = find(supported, 0xd, i);
        if (!(comp & (1ull << i)) || !s)
            continue;
        if (s->ebx + s->eax > size)
            size = s->ebx + s->eax;
        add_entry(c, 0xd, i, s->eax, s->ebx, s->ecx, s->edx);
    }
    /* EBX (the size for XCR0's components) is KVM's to keep current. */
    add_entry(c, 0xd, 0, (uint32_t)comp, 576, size, (uint32_t)(comp >> 32));
    add_entry(c, 0xd, 1, w[CPU_W_D_1_EAX], 0, 0, 0);
}

static struct kvm_cpuid2 *named_table(const struct kvm_cpuid2 *supported, const struct cpu_model *m,
                                      const cpu_words w, const struct cpu_topology *t,
                                      uint32_t apic, unsigned phys_bits)
{
    size_t n = supported->nent + 32;
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    unsigned smt = bits_for(t->threads), core = bits_for(t->cores);
    unsigned per_pkg = t->threads * t->cores;
    const struct kvm_cpuid_entry2 *s0 = find(supported, 0, 0);
    uint32_t vendor[3] = {s0 ? s0->ebx : 0, s0 ? s0->ecx : 0, s0 ? s0->edx : 0};
    uint32_t level = m->level;

    add_entry(c, 0, 0, level, vendor[0], vendor[1], vendor[2]);
    add_entry(c, 1, 0, signature(m),
              (apic << 24) | ((per_pkg > 1 ? (per_pkg > 255 ? 255 : per_pkg) : 0) << 16) |
                  (8u << 8),
              w[CPU_W_1_ECX], w[CPU_W_1_EDX] | (per_pkg > 1 ? EDX_HTT : 0));
    /* TODO: leaf 2 and 0x80000005/6 are the host's cache descriptors where QEMU
     * gives its own legacy values. */
    for (uint32_t i = 0; i < supported->nent; i++) {
        struct kvm_cpuid_entry2 e = supported->entries[i];
        if ((e.function == 2 && level >= 2) || (e.function == 4 && level >= 4)) {
            if (e.function == 4)
                fix_leaf4(&e, smt, core);
            c->entries[c->nent++] = e;
        } else if (e.function >= 0x40000000 && e.function < 0x40000100) {
            if (e.function == 0x40000000) {
                memcpy(&e.ebx, "KVMK", 4);
                memcpy(&e.ecx, "VMKV", 4);
                memcpy(&e.edx, "M\0\0\0", 4);
            } else if (e.function == 0x40000001) {
                e.eax = w[CPU_W_KVM];
                e.edx = 0; /* no KVM hints, as QEMU */
            }
            c->entries[c->nent++] = e;
        } else if ((e.function == 0x80000005 || e.function == 0x80000006 ||
                    (e.function == 0x8000001d && (w[CPU_W_8001_ECX] & ECX3_TOPOEXT))) &&
                   m->xlevel >= e.function) {
            /* TODO: 0x8000001D is the host's cache list (QEMU gives the model's caches). */
            c->entries[c->nent++] = e;
        }
    }
    if (level >= 6)
        add_entry(c, 6, 0, w[CPU_W_6_EAX], 0, 0, 0);
    if (level >= 7) {
        add_entry(c, 7, 0, w[CPU_W_7_1_EAX] ? 1 : 0, w[CPU_W_7_0_EBX], w[CPU_W_7_0_ECX],
                  w[CPU_W_7_0_EDX]);
        if (w[CPU_W_7_1_EAX])
            add_entry(c, 7, 1, w[CPU_W_7_1_EAX], 0, 0, 0);
    }
    if (level >= 0xb) {
        add_entry(c, 0xb, 0, smt, t->threads, 0 | (1u << 8), apic);
        add_entry(c, 0xb, 1, smt + core, per_pkg, 1 | (2u << 8), apic);
        add_entry(c, 0xb, 2, 0, 0, 2, apic);
    }
    if (level >= 0xd)
        add_xsave_leaf(c, supported, w);

    add_entry(c, 0x80000000, 0, m->xlevel, vendor[0], vendor[1], vendor[2]);
    add_entry(c, 0x80000001, 0, signature(m), 0, w[CPU_W_8001_ECX], w[CPU_W_8001_EDX]);
    char id[48] = {0};
    strncpy(id, m->model_id ? m->model_id : "", sizeof(id));
    for (uint32_t i = 0; i < 3 && m->xlevel >= 0x80000002 + i; i++) {
        uint32_t r[4];
        memcpy(r, id + 16 * i, 16);
        add_entry(c, 0x80000002 + i, 0, r[0], r[1], r[2], r[3]);
    }
    if (m->xlevel >= 0x80000007)
        add_entry(c, 0x80000007, 0, 0, 0, 0, w[CPU_W_8007_EDX]);
    if (m->xlevel >= 0x80000008) {
        const struct kvm_cpuid_entry2 *s8 = find(supported, 0x80000008, 0);
        uint32_t phys = phys_bits ? phys_bits : s8 ? s8->eax & 0xff : 40;
        uint32_t virt = (w[CPU_W_7_0_ECX] & (1u << 16)) ? 57 : 48; /* la57 */
        /* ECX: the APIC id bits and the count of logical CPUs per package, as QEMU fills
         * them for every vendor. */
        uint32_t ecx = per_pkg > 1 ? ((smt + core) << 12) | (per_pkg - 1) : 0;
        add_entry(c, 0x80000008, 0, phys | (virt << 8), w[CPU_W_8008_EBX], ecx, 0);
    }
    if ((w[CPU_W_8001_ECX] & ECX3_TOPOEXT) && m->xlevel >= 0x8000001e) {
        /* AMD's extended APIC id and core id (one node per package), as QEMU encodes them. */
        unsigned core_id = (apic >> smt) & ((1u << core) - 1);
        add_entry(c, 0x8000001e, 0, apic, ((t->threads - 1) << 8) | core_id, 0, 0);
    }
    return c;
}

static struct kvm_cpuid2 *host_table(const struct kvm_cpuid2 *supported, const cpu_words w,
                                     const struct cpu_topology *t, uint32_t apic)
{
    size_t n = supported->nent + 8;
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    unsigned smt = bits_for(t->threads), core = bits_for(t->cores);
    unsigned per_pkg = t->threads * t->cores;
    uint32_t max_basic = 0;
    bool has_1f = false;
    for (uint32_t i = 0; i < supported->nent; i++) {
        if (supported->entries[i].function == 0)
            max_basic = supported->entries[i].eax;
        if (supported->entries[i].function == 0x1f)
            has_1f = true;
    }
    for (uint32_t i = 0; i < supported->nent; i++) {
        struct kvm_cpuid_entry2 e = supported->entries[i];
        switch (e.function) {
        case 0x1:
            e.ebx = (e.ebx & 0x0000ffffu) | (apic << 24) |
                    ((per_pkg > 1 ? (per_pkg > 255 ? 255 : per_pkg) : 0) << 16);
            if (per_pkg > 1)
                e.edx |= EDX_HTT;
            else
                e.edx &= ~EDX_HTT;
            break;
        case 0x4:
            fix_leaf4(&e, smt, core);
            break;
        case 0xb:
        case 0x1f:
            continue; /* rebuilt below */
        case 0x40000000:
            memcpy(&e.ebx, "KVMK", 4);
            memcpy(&e.ecx, "VMKV", 4);
            memcpy(&e.edx, "M\0\0\0", 4);
            break;
        default:
            break;
        }
        c->entries[c->nent++] = e;
    }
    /* Extended topology: level 1 = SMT, level 2 = core; then an invalid level. */
    for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x14) {
        if (max_basic < leaf || (leaf == 0x1f && !has_1f))
            continue;
        add_entry(c, leaf, 0, smt, t->threads, 0 | (1u << 8), apic);
        add_entry(c, leaf, 1, smt + core, per_pkg, 1 | (2u << 8), apic);
        add_entry(c, leaf, 2, 0, 0, 2, apic);
    }
    for (unsigned i = 0; i < CPU_W_COUNT; i++)
        set_word(c, i, w[i]);
    return c;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const struct cpu_model *m,
                                  const struct cpu_features *fs, const struct cpu_topology *t,
                                  unsigned index)
{
    cpu_words w;
    cpuid_model_words(supported, m, fs, w, NULL);
    uint32_t apic = cpu_topology_apic_id(t, index);
    return m->passthrough ? host_table(supported, w, t, apic)
                          : named_table(supported, m, w, t, apic, fs->phys_bits);
}
