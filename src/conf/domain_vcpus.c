/*
 * domain_vcpus.c - the <vcpus> element: the state of each vCPU (enabled,
 * hotpluggable, the order it is plugged in), as libvirt 9.0 reads, checks
 * and writes it ("CPU allocation" in formatdomain).
 *
 * libvirt's rules, checked against its QEMU driver (define-time errors with
 * its words):
 *  - an id beyond the maximum is an XML error; ids not listed are disabled;
 *    an id listed twice takes its last entry (libvirt does not refuse it);
 *  - hotpluggable defaults to 'no' for an enabled vCPU and 'yes' for a
 *    disabled one; disabled and not hotpluggable is refused;
 *  - <vcpu current=> is the number of enabled vCPUs whatever it said;
 *  - for kvm domains (libvirt's qemuDomainDefVcpusPostParse): vCPU 0 enabled,
 *    not hotpluggable, order 0 or 1; every enabled vCPU with an order or
 *    none of them; the non-hotpluggable ones first and in ascending order.
 * Duplicate orders are refused at start (vmm-argv.c), as libvirt does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_priv.h"
#include "util/mem.h"
#include "util/str.h"

static int bad_value(const char *attr, const char *value, const char *expected, struct verr *err)
{
    return verr_set(err, EINVAL,
                    "XML error: Invalid value for attribute '%s' in element 'vcpu': '%s'.%s%s",
                    attr, value, expected ? " " : "", expected ? expected : "");
}

static int yes_no(const struct xnode *k, const char *attr, int *out, struct verr *err)
{
    const char *v = xnode_attr(k, attr);
    if (!v)
        return 0;
    if (strcmp(v, "yes") == 0)
        *out = 1;
    else if (strcmp(v, "no") == 0)
        *out = 0;
    else
        return bad_value(attr, v, NULL, err);
    return 1;
}

static int uint_attr(const struct xnode *k, const char *attr, unsigned *out, struct verr *err)
{
    const char *v = xnode_attr(k, attr);
    if (!v)
        return 0;
    if (str_to_uint(v, 10, out) < 0)
        return bad_value(attr, v, "Expected non-negative integer value", err);
    return 1;
}

int domain_vcpus_parse(const struct xnode *n, struct domain_def *def, bool validate,
                       struct verr *err)
{
    unsigned max = def->vcpus ? def->vcpus : 1;
    size_t listed = 0;
    for (size_t i = 0; i < n->nkids; i++)
        listed += n->kids[i]->name != NULL;
    if (listed == 0)
        return 0; /* libvirt: no individual states */
    struct domain_vcpu *v = xcalloc(max, sizeof(*v));
    for (unsigned i = 0; i < max; i++)
        v[i] = (struct domain_vcpu){false, -1, 0};
    int r = 0;
    for (size_t i = 0; i < n->nkids && r >= 0; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "vcpu") != 0) {
            if (validate)
                r = verr_set(err, EINVAL, "unsupported element '%s' in element 'vcpus'", k->name);
            continue;
        }
        unsigned id, order = 0;
        int enabled = 0, hp = -1;
        if ((r = uint_attr(k, "id", &id, err)) < 0)
            break;
        if (r == 0) {
            r = verr_set(err, EINVAL,
                         "XML error: Missing required attribute 'id' in element 'vcpu'");
            break;
        }
        if (id >= max) {
            r = verr_set(err, EINVAL,
                         "XML error: vcpu id '%u' is out of range of maximum vcpu count", id);
            break;
        }
        if ((r = yes_no(k, "enabled", &enabled, err)) < 0)
            break;
        if (r == 0) {
            r = verr_set(err, EINVAL,
                         "XML error: Missing required attribute 'enabled' in element 'vcpu'");
            break;
        }
        if ((r = yes_no(k, "hotpluggable", &hp, err)) < 0 ||
            (r = uint_attr(k, "order", &order, err)) < 0)
            break;
        for (size_t a = 0; validate && a < k->nattrs; a++) {
            const char *an = k->attrs[2 * a];
            if (strcmp(an, "id") && strcmp(an, "enabled") && strcmp(an, "hotpluggable") &&
                strcmp(an, "order")) {
                r = verr_set(err, EINVAL, "unsupported attribute '%s' in element 'vcpu'", an);
                break;
            }
        }
        v[id] = (struct domain_vcpu){enabled == 1, hp, order};
    }
    if (r < 0) {
        free(v);
        return r;
    }
    free(def->vcpu_states);
    def->vcpu_states = v;
    return 0;
}

/* libvirt's qemuDomainDefVcpusPostParse. */
static int kvm_checks(const struct domain_def *def, struct verr *err)
{
    const struct domain_vcpu *v = def->vcpu_states;
    if (!v[0].enabled)
        return verr_set(err, EINVAL, "unsupported configuration: vcpu 0 can't be offline");
    if (v[0].hotpluggable == 1)
        return verr_set(err, EINVAL, "unsupported configuration: vcpu0 can't be hotpluggable");
    if (v[0].order > 1)
        return verr_set(err, EINVAL, "unsupported configuration: vcpu0 must be enabled first");
    bool has_order = v[0].order != 0;
    for (unsigned i = 1; i < def->vcpus; i++) {
        if (v[i].enabled && (v[i].order != 0) != has_order)
            return verr_set(err, EINVAL,
                            "unsupported configuration: all vcpus must have either set or unset "
                            "order");
        if (v[i].hotpluggable == 0) {
            if (v[i - 1].hotpluggable == 1)
                return verr_set(err, EINVAL,
                                "unsupported configuration: online non-hotpluggable vcpus need to "
                                "be ordered prior to hotplugable vcpus");
            if (v[i - 1].order > v[i].order)
                return verr_set(err, EINVAL,
                                "unsupported configuration: online non-hotpluggable vcpus must be "
                                "ordered in ascending order");
        }
    }
    return 0;
}

int domain_vcpus_post_parse(struct domain_def *def, bool kvm, struct verr *err)
{
    struct domain_vcpu *v = def->vcpu_states;
    if (!v)
        return 0;
    unsigned enabled = 0;
    for (unsigned i = 0; i < def->vcpus; i++) {
        if (v[i].hotpluggable < 0)
            v[i].hotpluggable = v[i].enabled ? 0 : 1;
        else if (v[i].hotpluggable == 0 && !v[i].enabled)
            return verr_set(err, EINVAL,
                            "unsupported configuration: vcpu '%u' is both offline and not "
                            "hotpluggable",
                            i);
        enabled += v[i].enabled;
    }
    if (kvm) {
        int r = kvm_checks(def, err);
        if (r < 0)
            return r;
    }
    def->vcpus_current = enabled ? enabled : 1;
    return 0;
}

void domain_vcpus_format(struct buf *b, const struct domain_def *def)
{
    const struct domain_vcpu *v = def->vcpu_states;
    if (!v)
        return;
    buf_append_str(b, "  <vcpus>\n");
    for (unsigned i = 0; i < def->vcpus; i++) {
        buf_printf(b, "    <vcpu id='%u' enabled='%s'", i, v[i].enabled ? "yes" : "no");
        if (v[i].hotpluggable >= 0)
            buf_printf(b, " hotpluggable='%s'", v[i].hotpluggable ? "yes" : "no");
        if (v[i].order)
            buf_printf(b, " order='%u'", v[i].order);
        buf_append_str(b, "/>\n");
    }
    buf_append_str(b, "  </vcpus>\n");
}

void domain_vcpus_resize(struct domain_def *def, unsigned old_max)
{
    struct domain_vcpu *v = def->vcpu_states;
    if (!v)
        return;
    v = xreallocarray(v, def->vcpus, sizeof(*v));
    for (unsigned i = old_max; i < def->vcpus; i++)
        v[i] = (struct domain_vcpu){false, -1, 0}; /* libvirt writes no hotpluggable= */
    def->vcpu_states = v;
    /* libvirt's qemuDomainSetVcpusConfig: the orders go; upwards the first disabled vCPUs
     * are enabled, downwards the last enabled ones disabled (and hotpluggable) */
    unsigned cur = 0, want = def->vcpus_current;
    for (unsigned i = 0; i < def->vcpus; i++) {
        v[i].order = 0;
        cur += v[i].enabled;
    }
    for (unsigned i = 0; cur < want && i < def->vcpus; i++)
        if (!v[i].enabled) {
            v[i].enabled = true;
            cur++;
        }
    for (unsigned i = def->vcpus; cur > want && i-- > 0;)
        if (v[i].enabled) {
            v[i].enabled = false;
            v[i].hotpluggable = 1;
            cur--;
        }
}

void domain_vcpus_set(struct domain_def *def, unsigned id, bool enabled, bool hotpluggable,
                      unsigned order)
{
    if (!def->vcpu_states || id >= def->vcpus)
        return;
    def->vcpu_states[id] = (struct domain_vcpu){enabled, hotpluggable ? 1 : 0, order};
    unsigned n = 0;
    for (unsigned i = 0; i < def->vcpus; i++)
        n += def->vcpu_states[i].enabled;
    def->vcpus_current = n;
}

unsigned domain_vcpus_next_order(struct domain_def *def)
{
    struct domain_vcpu *v = def->vcpu_states;
    unsigned max = 0;
    for (unsigned i = 0; v && i < def->vcpus; i++)
        if (v[i].order > max)
            max = v[i].order;
    if (v && max == 0) /* every enabled vCPU has an order or none: number them by id first */
        for (unsigned i = 0; i < def->vcpus; i++)
            if (v[i].enabled)
                v[i].order = ++max;
    return max + 1;
}
