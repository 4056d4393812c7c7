/*
 * domain_typed.c - typed views of devices the model keeps as elements:
 * <memballoon> and <rng>. The elements stay the printed form (so every
 * attribute libvirt knows round-trips); these structs are what the rest of
 * Vireo reads (the argv builder, the start-time checks), so nothing outside
 * src/conf parses raw attributes. Filled at the end of post-parse, after the
 * defaults and addresses are in the elements.
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/str.h"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* on/off attribute: -1 absent, 0 off, 1 on; -EINVAL for another value. */
static int on_off(const struct xnode *n, const char *attr, int *out, struct verr *err)
{
    const char *v = xnode_attr(n, attr);
    *out = -1;
    if (!v)
        return 0;
    if (strcmp(v, "on") == 0)
        *out = 1;
    else if (strcmp(v, "off") == 0)
        *out = 0;
    else
        return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'", v,
                        attr, n->name);
    return 0;
}

static int positive(const struct xnode *n, const char *attr, unsigned long long *out,
                    struct verr *err)
{
    const char *v = xnode_attr(n, attr);
    uint64_t x = 0;
    *out = 0;
    if (!v)
        return 0;
    if (str_to_u64(v, 10, &x) < 0)
        return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'", v,
                        attr, n->name);
    *out = x;
    return 0;
}

static char *alias_of(const struct xnode *n)
{
    return dup_or_null(xnode_attr(xnode_child(n, "alias"), "name"));
}

static int fill_balloon(struct domain_memballoon *b, const struct xnode *n, struct verr *err)
{
    int r;
    b->model = xstrdup(xnode_attr(n, "model")); /* required: checked by post-parse */
    if ((r = on_off(n, "autodeflate", &b->autodeflate, err)) ||
        (r = on_off(n, "freePageReporting", &b->free_page_reporting, err)))
        return r;
    const struct xnode *stats = xnode_child(n, "stats");
    if (stats) {
        unsigned long long p;
        if ((r = positive(stats, "period", &p, err)))
            return r;
        if (p > 0x7fffffff)
            return verr_set(err, EINVAL,
                            "invalid value '%llu' for attribute 'period' of element 'stats'", p);
        b->stats_period = (unsigned)p;
    }
    b->alias = alias_of(n);
    return domain_addr_of_node(n, &b->address, err);
}

static int fill_rng(struct domain_rng *g, const struct xnode *n, struct verr *err)
{
    int r;
    const struct xnode *be = xnode_child(n, "backend"); /* required: checked by post-parse */
    g->model = xstrdup(xnode_attr(n, "model"));
    g->backend_model = xstrdup(xnode_attr(be, "model"));
    if (strcmp(g->backend_model, "random") == 0 && *xnode_text(be))
        g->backend_path = xstrdup(xnode_text(be));
    const struct xnode *rate = xnode_child(n, "rate");
    if (rate && ((r = positive(rate, "bytes", &g->rate_bytes, err)) ||
                 (r = positive(rate, "period", &g->rate_period, err))))
        return r;
    g->alias = alias_of(n);
    return domain_addr_of_node(n, &g->address, err);
}

int domain_typed_devices_fill(struct domain_def *def, struct verr *err)
{
    domain_memballoon_free(def->memballoon);
    def->memballoon = NULL;
    for (size_t i = 0; i < def->nrngs; i++)
        domain_rng_clear(&def->rngs[i]);
    free(def->rngs);
    def->rngs = NULL;
    def->nrngs = 0;
    size_t nrng = domain_device_count(def, "rng");
    if (nrng)
        def->rngs = xcalloc(nrng, sizeof(*def->rngs));
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        int r = 0;
        if (strcmp(n->name, "memballoon") == 0) {
            if (def->memballoon)
                return verr_set(err, EINVAL, "only one element 'memballoon' is allowed");
            def->memballoon = xcalloc(1, sizeof(*def->memballoon));
            r = fill_balloon(def->memballoon, n, err);
        } else if (strcmp(n->name, "rng") == 0) {
            r = fill_rng(&def->rngs[def->nrngs++], n, err);
        }
        if (r)
            return r;
    }
    return 0;
}

void domain_memballoon_free(struct domain_memballoon *b)
{
    if (!b)
        return;
    free(b->model);
    free(b->alias);
    free(b);
}

void domain_rng_clear(struct domain_rng *g)
{
    free(g->model);
    free(g->backend_model);
    free(g->backend_path);
    free(g->alias);
    memset(g, 0, sizeof(*g));
}

struct domain_memballoon *domain_memballoon_copy(const struct domain_memballoon *b)
{
    if (!b)
        return NULL;
    struct domain_memballoon *c = xmalloc(sizeof(*c));
    *c = *b;
    c->model = dup_or_null(b->model);
    c->alias = dup_or_null(b->alias);
    return c;
}

void domain_rng_copy(struct domain_rng *dst, const struct domain_rng *src)
{
    *dst = *src;
    dst->model = dup_or_null(src->model);
    dst->backend_model = dup_or_null(src->backend_model);
    dst->backend_path = dup_or_null(src->backend_path);
    dst->alias = dup_or_null(src->alias);
}
