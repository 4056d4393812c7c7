/*
 * devcfg-test.h - reading a parsed command line's devices in the vireo-vmm
 * unit tests: the n-th device of a type, and a property's value as -device
 * spells it (dev_config_get). Header-only: each test is one binary.
 */
#ifndef VIREO_TESTS_DEVCFG_TEST_H
#define VIREO_TESTS_DEVCFG_TEST_H

#include "vmm/cli.h"
#include "vmm/dev/device.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The n-th device of type `type` (built-ins included), or NULL. */
static inline const struct dev_config *find_dev(const struct vmm_config *cfg, const char *type,
                                                unsigned n)
{
    for (unsigned i = 0; i < cfg->nr_devices; i++)
        if (!strcmp(cfg->devices[i]->type->name, type) && n-- == 0)
            return cfg->devices[i];
    return NULL;
}

/* Whether c's property key reads want (NULL: not set). */
static inline bool dev_is(const struct dev_config *c, const char *key, const char *want)
{
    if (!c)
        return false;
    char *v = dev_config_get(c, key);
    bool same = (!v && !want) || (v && want && !strcmp(v, want));
    free(v);
    return same;
}

/* How many devices of type `type`. */
static inline unsigned count_devs(const struct vmm_config *cfg, const char *type)
{
    unsigned n = 0;
    while (find_dev(cfg, type, n))
        n++;
    return n;
}

#endif
