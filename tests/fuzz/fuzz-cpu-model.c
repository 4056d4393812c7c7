/*
 * fuzz-cpu-model.c - -cpu MODEL,FLAG,... from arbitrary bytes: the input is
 * the option's value. Everything -cpu reaches runs: the model lookup
 * (versions, aliases, per-machine resolution), the feature flag parser
 * (signs, =on/off, aliases, '_' spellings), check/enforce, and the CPUID
 * table the model builds over a fixed KVM table, for a topology read from
 * the first byte. A refusal must say why; a table must stay within its
 * entries (ASan watches).
 */
#include "vmm/cli.h"
#include "vmm/kvm/cpuid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct kvm_cpuid2 *supported(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 16 * sizeof(struct kvm_cpuid_entry2));
    const uint32_t leaves[][2] = {
        {0, 0},          {1, 0},          {4, 0},          {4, 1},          {7, 0},
        {7, 1},          {0xd, 0},        {0xd, 1},        {0xd, 2},        {0x40000000, 0},
        {0x40000001, 0}, {0x80000000, 0}, {0x80000001, 0}, {0x80000008, 0}, {0x8000001d, 0}};
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
        e->function = leaves[i][0];
        e->index = leaves[i][1];
        e->eax = e->ebx = e->ecx = e->edx = 0xffffffffu;
    }
    c->entries[0].eax = 0x1f;
    c->entries[11].eax = 0x8000001f;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1024)
        return 0;
    char *arg = malloc(size);
    if (!arg)
        return 0;
    memcpy(arg, data + 1, size - 1);
    arg[size - 1] = '\0';
    char *argv[] = {"vireo-vmm", "-M", data[0] & 0x80 ? "pc" : "microvm", "-cpu", arg, "-kernel",
                    "k",         NULL};
    struct vmm_config cfg;
    struct verr err = {0};
    int r = cli_parse(7, argv, &cfg, &err);
    if (r < 0 && !verr_msg(&err)[0])
        abort(); /* a refusal always says why */
    if (r == 0 && cfg.action == CLI_RUN) {
        struct kvm_cpuid2 *sup = supported();
        struct cpu_topology t = {1 + (data[0] & 1), 1 + ((data[0] >> 1) & 3),
                                 1 + ((data[0] >> 3) & 1)};
        cpu_words got, missing;
        cpuid_model_words(sup, &cfg.cpu_model, &cfg.cpu_features, got, missing);
        struct kvm_cpuid2 *c =
            cpuid_for_vcpu(sup, &cfg.cpu_model, &cfg.cpu_features, &t, data[0] & 7);
        free(c);
        free(sup);
    }
    cli_config_free(&cfg);
    free(arg);
    return 0;
}
