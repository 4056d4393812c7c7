/*
 * The CPU the guest is shown (tests=cpuid, not in `all`): prints the CPUID
 * leaves a CPU model defines, one `# cpuid LEAF.SUB: EAX EBX ECX EDX` line
 * each, plus the vendor and model-id strings, so the host can compare them
 * with the model's table and with QEMU's guest under the same -cpu
 * (tests/integration/vmm/test-cpu-model.py). The guest itself checks only
 * that the leaves it reads are within the maximum leaves advertised.
 */
#include "guest.h"
#include "lib/io.h"
#include "lib/libc.h"

static void dump(struct tap *t, uint32_t leaf, uint32_t sub)
{
    uint32_t r[4];
    cpuid(leaf, sub, r);
    tap_diag(t, "cpuid %08x.%u: %08x %08x %08x %08x", leaf, sub, r[0], r[1], r[2], r[3]);
}

void test_cpuid(struct guest *g)
{
    struct tap *t = &g->tap;
    uint32_t r[4];
    char vendor[13], model_id[49];

    cpuid(0, 0, r);
    uint32_t max_basic = r[0];
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = '\0';
    cpuid(0x80000000, 0, r);
    uint32_t max_ext = r[0];
    tap_ok(t, max_basic >= 1 && max_basic < 0x100 && max_ext >= 0x80000004 && max_ext < 0x80000100,
           "cpuid: basic leaves up to 0x%x, extended up to 0x%x", max_basic, max_ext);

    dump(t, 0, 0);
    dump(t, 1, 0);
    if (max_basic >= 7) {
        dump(t, 7, 0);
        dump(t, 7, 1);
    }
    if (max_basic >= 0xd) {
        dump(t, 0xd, 0);
        dump(t, 0xd, 1);
    }
    dump(t, 0x40000000, 0);
    dump(t, 0x40000001, 0);
    dump(t, 0x80000000, 0);
    for (uint32_t leaf = 0x80000001; leaf <= max_ext && leaf <= 0x80000008; leaf++)
        if (leaf != 0x80000005 && leaf != 0x80000006)
            dump(t, leaf, 0);
    for (uint32_t i = 0; i < 3; i++) {
        cpuid(0x80000002 + i, 0, r);
        memcpy(model_id + 16 * i, r, 16);
    }
    model_id[48] = '\0';
    for (int i = 0; i < 48 && model_id[i]; i++)
        if (model_id[i] < 0x20 || model_id[i] > 0x7e)
            model_id[i] = '.';
    /* Leaves without subleaves answer whatever ECX holds (Linux's head_64.S reads 0x80000001
     * with ECX = 0xc0000080, MSR_EFER's number, to decide on NX). */
    bool same = true;
    const uint32_t plain[] = {0, 1, 0x80000000, 0x80000001, 0x80000008};
    for (unsigned i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        uint32_t a[4], b[4];
        cpuid(plain[i], 0, a);
        cpuid(plain[i], 0xc0000080, b);
        if (memcmp(a, b, sizeof(a)) != 0) {
            tap_diag(t,
                     "cpuid %08x: ECX 0 gives %08x %08x %08x %08x, ECX 0xc0000080 %08x %08x "
                     "%08x %08x",
                     plain[i], a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);
            same = false;
        }
    }
    tap_ok(t, same, "cpuid: leaves 0, 1, 0x80000000, 0x80000001, 0x80000008 ignore ECX");
    tap_diag(t, "cpuid vendor: %s", vendor);
    tap_diag(t, "cpuid model-id: %s", model_id);
}
