/*
 * domain_validate.c - re-checks a definition a caller changed (setvcpus,
 * setmem, ...) by sending it through its text form and the whole parse
 * pipeline again. It sits above both the parser and the formatter, so
 * neither depends on the other.
 */
#include "conf/domain_priv.h"

#include <stdlib.h>

int domain_def_validate(const struct domain_def *def, unsigned flags, struct verr *err)
{
    char *xml =
        domain_def_format(def, DOMAIN_FORMAT_SECURE | (def->id >= 0 ? 0 : DOMAIN_FORMAT_INACTIVE));
    struct domain_def *tmp = NULL;
    flags |= def->id >= 0 ? DOMAIN_PARSE_LIVE : 0;
    flags |= def->generic ? DOMAIN_PARSE_GENERIC : 0;
    int r = domain_def_parse_string(xml, flags, &tmp, err);
    free(xml);
    domain_def_free(tmp);
    return r;
}
