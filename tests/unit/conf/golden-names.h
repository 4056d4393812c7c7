/*
 * golden-names.h - how a file name in tests/conf/domain/ chooses the parse
 * and format flags, shared by the conf golden test and the vmm-argv golden
 * test so that both read one folder the same way (see tests/conf/README.md).
 */
#ifndef VIREO_TESTS_GOLDEN_NAMES_H
#define VIREO_TESTS_GOLDEN_NAMES_H

#include <string.h>

#include "conf/domain_conf.h"

static inline int golden_has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Parse flags from the name prefix: validate-, strict-, live-, inactive-. */
static inline unsigned golden_parse_flags(const char *name)
{
    unsigned pf = 0;
    if (golden_has_prefix(name, "validate-"))
        pf |= DOMAIN_PARSE_VALIDATE;
    if (golden_has_prefix(name, "strict-"))
        pf |= DOMAIN_PARSE_STRICT_NAMES;
    if (golden_has_prefix(name, "live-") || golden_has_prefix(name, "inactive-"))
        pf |= DOMAIN_PARSE_LIVE;
    return pf;
}

/* Format flags from the name prefix: inactive-, secure-. */
static inline unsigned golden_format_flags(const char *name)
{
    unsigned ff = 0;
    if (golden_has_prefix(name, "inactive-"))
        ff |= DOMAIN_FORMAT_INACTIVE;
    if (golden_has_prefix(name, "secure-"))
        ff |= DOMAIN_FORMAT_SECURE;
    return ff;
}

#endif
