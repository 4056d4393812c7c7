/*
 * cpuid.c - see cpuid.h. Bit positions are from the Intel SDM, volume 2A,
 * CPUID; the leaf 0x4/0xB/0x1F topology encoding follows its "APIC ID"
 * and "cache parameters" descriptions.
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

/* qemu64's feature set (QEMU's default model), plus what KVM adds by default. */
#define QEMU64_1_EDX                                                                               \
    ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) |           \
     (1u << 8) | (1u << 9) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 15) |      \
     (1u << 16) | (1u << 17) | (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26))
#define QEMU64_1_ECX        ((1u << 0) | (1u << 13) | (1u << 21) | (1u << 24) | (1u << 31))
#define QEMU64_80000001_EDX ((1u << 11) | (1u << 20) | (1u << 29))
#define QEMU64_80000001_ECX (1u << 0)

static void add_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t eax, uint32_t ebx,
                      uint32_t ecx, uint32_t edx)
{
    struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
    memset(e, 0, sizeof(*e));
    e->function = fn;
    e->index = idx;
    e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    e->eax = eax;
    e->ebx = ebx;
    e->ecx = ecx;
    e->edx = edx;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, enum cpu_model model,
                                  const struct cpu_topology *t, unsigned index)
{
    /* Room for every supported entry plus the rebuilt topology subleaves. */
    size_t n = supported->nent + 8;
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    unsigned smt = bits_for(t->threads), core = bits_for(t->cores);
    uint32_t apic = cpu_topology_apic_id(t, index);
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
                    ((uint32_t)(1u << (smt + core) > 255 ? 255 : 1u << (smt + core)) << 16);
            if (smt + core > 0)
                e.edx |= 1u << 28; /* HTT: more than one logical processor per package */
            else
                e.edx &= ~(1u << 28);
            e.ecx |= 1u << 31; /* running under a hypervisor */
            if (model == CPU_MODEL_QEMU64) {
                e.edx &= QEMU64_1_EDX | (1u << 28);
                e.ecx &= QEMU64_1_ECX;
            }
            break;
        case 0x4:
            if ((e.eax & 0x1f) != 0) {
                unsigned level = (e.eax >> 5) & 7;
                uint32_t sharing = level <= 2 ? (1u << smt) - 1 : (1u << (smt + core)) - 1;
                e.eax &= ~(0xfc000000u | 0x03ffc000u);
                e.eax |= (((1u << core) - 1) << 26) | (sharing << 14);
            }
            break;
        case 0x7:
            if (model == CPU_MODEL_QEMU64 && e.index == 0)
                e.ebx = e.ecx = e.edx = 0;
            break;
        case 0xb:
        case 0x1f:
            continue; /* rebuilt below */
        case 0x40000000:
            memcpy(&e.ebx, "KVMK", 4);
            memcpy(&e.ecx, "VMKV", 4);
            memcpy(&e.edx, "M\0\0\0", 4);
            break;
        case 0x80000001:
            if (model == CPU_MODEL_QEMU64) {
                e.edx &= QEMU64_80000001_EDX;
                e.ecx &= QEMU64_80000001_ECX;
            }
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
        add_entry(c, leaf, 1, smt + core, t->threads * t->cores, 1 | (2u << 8), apic);
        add_entry(c, leaf, 2, 0, 0, 2, apic);
    }
    return c;
}
