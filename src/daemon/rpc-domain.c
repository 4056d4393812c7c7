/*
 * rpc-domain.c - the procedures that find, list, define and read domains,
 * and set autostart. They answer at once: nothing here waits on a VMM.
 *
 * The domain a call names is resolved by server.c before a procedure runs
 * (server.h); the procedures that read one value of it come from one table,
 * DOMAIN_VALUES below, instead of a function each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/domain.h"
#include "conf/xnode.h"
#include "daemon/server.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/mem.h"

/* The procedures that answer one value of the domain they name:
 * X(procedure, its lower-case name, the reply's field, the value of dom). */
#define DOMAIN_VALUES(X)                                                                           \
    X(DOMAIN_GET_AUTOSTART, domain_get_autostart, autostart, dom->autostart)                       \
    X(DOMAIN_GET_MAX_MEMORY, domain_get_max_memory, memory, dom->def->memory_kib)                  \
    X(DOMAIN_GET_MAX_VCPUS, domain_get_max_vcpus, num, (int)dom->def->vcpus)                       \
    X(DOMAIN_GET_OS_TYPE, domain_get_os_type, type,                                                \
      xstrdup(dom->def->os_type ? dom->def->os_type : "hvm"))                                      \
    X(DOMAIN_IS_ACTIVE, domain_is_active, active, vd_domain_is_active(dom))                        \
    X(DOMAIN_IS_PERSISTENT, domain_is_persistent, persistent, dom->persistent)                     \
    X(DOMAIN_IS_UPDATED, domain_is_updated, updated, dom->updated)

#define VALUE_FN(PROC, name, field, value)                                                         \
    static int get_##name(struct vd_call *c)                                                       \
    {                                                                                              \
        const struct vd_domain *dom = c->dom;                                                      \
        (void)dom;                                                                                 \
        ((struct remote_##name##_ret *)c->ret)->field = (value);                                   \
        return 0;                                                                                  \
    }
DOMAIN_VALUES(VALUE_FN)

static int get_info(struct vd_call *c)
{
    struct remote_domain_get_info_ret *r = c->ret;
    const struct domain_def *def = c->dom->def;
    r->state = (uint8_t)c->dom->state;
    r->maxMem = def->memory_kib;
    r->memory = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
    r->nrVirtCpu = (uint16_t)(def->vcpus_current ? def->vcpus_current : def->vcpus);
    r->cpuTime = vd_domain_cpu_time(c->dom);
    return 0;
}

static int get_state(struct vd_call *c)
{
    struct remote_domain_get_state_ret *r = c->ret;
    r->state = c->dom->state;
    r->reason = c->dom->reason;
    return 0;
}

static int get_xml(struct vd_call *c)
{
    const struct remote_domain_get_xml_desc_args *a = c->args;
    struct vd_domain *dom = c->dom;
    bool inactive = (a->flags & VIR_DOMAIN_XML_INACTIVE) || !vd_domain_is_active(dom);
    const struct domain_def *def =
        (a->flags & VIR_DOMAIN_XML_INACTIVE) ? vd_domain_config(dom) : dom->def;
    unsigned f = inactive ? DOMAIN_FORMAT_INACTIVE : 0;
    if ((a->flags & VIR_DOMAIN_XML_SECURE) && !c->client->readonly && !c->client->ro_socket)
        f |= DOMAIN_FORMAT_SECURE;
    ((struct remote_domain_get_xml_desc_ret *)c->ret)->xml = domain_def_format(def, f);
    return 0;
}

static int get_vcpus_flags(struct vd_call *c)
{
    unsigned flags = ((const struct remote_domain_get_vcpus_flags_args *)c->args)->flags;
    const struct domain_def *def =
        (flags & VIR_DOMAIN_AFFECT_CONFIG) ? vd_domain_config(c->dom) : c->dom->def;
    ((struct remote_domain_get_vcpus_flags_ret *)c->ret)->num =
        (int)((flags & VIR_DOMAIN_VCPU_MAXIMUM)
                  ? def->vcpus
                  : (def->vcpus_current ? def->vcpus_current : def->vcpus));
    return 0;
}

static int set_autostart(struct vd_call *c)
{
    const struct remote_domain_set_autostart_args *a = c->args;
    struct verr e = {0};
    int r = vd_domain_set_autostart(c->d, c->dom, a->autostart != 0, &e);
    return r < 0 ? vd_call_fail_errno(c, r, &e) : 0;
}

static int define(struct vd_call *c)
{
    const char *xml;
    unsigned flags = 0;
    struct remote_nonnull_domain *out;
    if (c->h->proc == REMOTE_PROC_DOMAIN_DEFINE_XML) {
        xml = ((const struct remote_domain_define_xml_args *)c->args)->xml;
        out = &((struct remote_domain_define_xml_ret *)c->ret)->dom;
    } else {
        xml = ((const struct remote_domain_define_xml_flags_args *)c->args)->xml;
        flags = ((const struct remote_domain_define_xml_flags_args *)c->args)->flags;
        out = &((struct remote_domain_define_xml_flags_ret *)c->ret)->dom;
    }
    if (vd_call_check_flags(c, flags, VIR_DOMAIN_DEFINE_VALIDATE, "qemuDomainDefineXMLFlags") < 0)
        return -1;
    struct verr e = {0};
    struct vd_domain *dom;
    int r = vd_domain_define(
        c->d, xml, (flags & VIR_DOMAIN_DEFINE_VALIDATE) ? DOMAIN_PARSE_VALIDATE : 0, &dom, &e);
    if (r < 0)
        return vd_call_fail(c, r == -EINVAL ? VIR_ERR_XML_ERROR : VIR_ERR_OPERATION_FAILED, "%s",
                            verr_msg(&e));
    vd_server_fill_dom(out, dom);
    return 0;
}

/* ---- lookups ---- */

static int lookup_name(struct vd_call *c)
{
    const char *name = ((const struct remote_domain_lookup_by_name_args *)c->args)->name;
    struct vd_domain *dom = vd_domain_find_name(c->d, name);
    if (!dom)
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN,
                            "Domain not found: no domain with matching name '%s'", name);
    vd_server_fill_dom(&((struct remote_domain_lookup_by_name_ret *)c->ret)->dom, dom);
    return 0;
}

static int lookup_id(struct vd_call *c)
{
    int id = ((const struct remote_domain_lookup_by_id_args *)c->args)->id;
    struct vd_domain *dom = vd_domain_find_id(c->d, id);
    if (!dom)
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching id %d",
                            id);
    vd_server_fill_dom(&((struct remote_domain_lookup_by_id_ret *)c->ret)->dom, dom);
    return 0;
}

static int lookup_uuid(struct vd_call *c)
{
    const uint8_t *uuid = ((const struct remote_domain_lookup_by_uuid_args *)c->args)->uuid;
    struct vd_domain *dom = vd_domain_find_uuid(c->d, uuid);
    if (!dom) {
        char s[37];
        domain_uuid_format(uuid, s);
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN,
                            "Domain not found: no domain with matching uuid '%s'", s);
    }
    vd_server_fill_dom(&((struct remote_domain_lookup_by_uuid_ret *)c->ret)->dom, dom);
    return 0;
}

/* ---- listings ---- */

/* libvirt's VIR_CONNECT_LIST_DOMAINS_* filters: within each group of flags a
 * domain must match one of those given; an empty group matches all. */
static bool list_match(const struct vd_domain *x, unsigned f)
{
    bool active = vd_domain_is_active(x);
    if ((f & (VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE)) &&
        !((f & VIR_CONNECT_LIST_DOMAINS_ACTIVE && active) ||
          (f & VIR_CONNECT_LIST_DOMAINS_INACTIVE && !active)))
        return false;
    if ((f & (VIR_CONNECT_LIST_DOMAINS_PERSISTENT | VIR_CONNECT_LIST_DOMAINS_TRANSIENT)) &&
        !((f & VIR_CONNECT_LIST_DOMAINS_PERSISTENT && x->persistent) ||
          (f & VIR_CONNECT_LIST_DOMAINS_TRANSIENT && !x->persistent)))
        return false;
    unsigned states = VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
                      VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER;
    if ((f & states) &&
        !((f & VIR_CONNECT_LIST_DOMAINS_RUNNING && x->state == VIR_DOMAIN_RUNNING) ||
          (f & VIR_CONNECT_LIST_DOMAINS_PAUSED && x->state == VIR_DOMAIN_PAUSED) ||
          (f & VIR_CONNECT_LIST_DOMAINS_SHUTOFF && x->state == VIR_DOMAIN_SHUTOFF)))
        return false;
    if (f & (VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE | VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE)) {
        bool ms = !active && vd_domain_has_managed_save((struct vd_domain *)x);
        if (!((f & VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE && ms) ||
              (f & VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE && !ms)))
            return false;
    }
    if ((f & (VIR_CONNECT_LIST_DOMAINS_AUTOSTART | VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART)) &&
        !((f & VIR_CONNECT_LIST_DOMAINS_AUTOSTART && x->autostart) ||
          (f & VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART && !x->autostart)))
        return false;
    if (f & (VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT | VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT)) {
        bool has = x->snapshots != NULL;
        if (!((f & VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT && has) ||
              (f & VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT && !has)))
            return false;
    }
    return true;
}

static int list_all(struct vd_call *c)
{
    const struct remote_connect_list_all_domains_args *a = c->args;
    struct remote_connect_list_all_domains_ret *r = c->ret;
    size_t n = 0;
    for (struct vd_domain *x = c->d->domains; x; x = x->next)
        n += list_match(x, a->flags);
    r->ret = (int)n;
    if (a->need_results && n) {
        r->domains = xcalloc(n, sizeof(*r->domains));
        for (struct vd_domain *x = c->d->domains; x; x = x->next)
            if (list_match(x, a->flags))
                vd_server_fill_dom(&r->domains[r->domains_len++], x);
    }
    return 0;
}

static int count(struct vd_call *c, bool active)
{
    int n = 0;
    for (struct vd_domain *x = c->d->domains; x; x = x->next)
        n += vd_domain_is_active(x) == active;
    return n;
}

static int num_domains(struct vd_call *c)
{
    ((struct remote_connect_num_of_domains_ret *)c->ret)->num = count(c, true);
    return 0;
}

static int num_defined(struct vd_call *c)
{
    ((struct remote_connect_num_of_defined_domains_ret *)c->ret)->num = count(c, false);
    return 0;
}

static int list_domains(struct vd_call *c)
{
    int max = ((const struct remote_connect_list_domains_args *)c->args)->maxids;
    struct remote_connect_list_domains_ret *r = c->ret;
    for (struct vd_domain *x = c->d->domains; x; x = x->next) {
        if (!vd_domain_is_active(x) || (int)r->ids_len >= max)
            continue;
        r->ids = xrealloc(r->ids, (r->ids_len + 1) * sizeof(*r->ids));
        r->ids[r->ids_len++] = x->id;
    }
    return 0;
}

static int list_defined(struct vd_call *c)
{
    int max = ((const struct remote_connect_list_defined_domains_args *)c->args)->maxnames;
    struct remote_connect_list_defined_domains_ret *r = c->ret;
    for (struct vd_domain *x = c->d->domains; x; x = x->next) {
        if (vd_domain_is_active(x) || (int)r->names_len >= max)
            continue;
        r->names = xrealloc(r->names, (r->names_len + 1) * sizeof(*r->names));
        r->names[r->names_len++] = xstrdup(x->def->name);
    }
    return 0;
}

/* The primary model is "none" (rpc-host.c): its label is empty, running or not, as
 * libvirtd reports it (the string with its NUL). */
static int get_security_label(struct vd_call *c)
{
    struct remote_domain_get_security_label_ret *r = c->ret;
    r->label = xstrdup("");
    r->label_len = 1;
    r->enforcing = 0;
    return 0;
}

/* One label per security driver, as libvirt's stacked drivers give them: "none" first
 * (empty), then DAC's: the domain's own DAC <label> (static, or the live one vireod
 * wrote), else the owner of the VMM process. An inactive domain has none (0). */
static int get_security_label_list(struct vd_call *c)
{
    struct remote_domain_get_security_label_list_ret *r = c->ret;
    r->ret = 0;
    if (!vd_domain_is_active(c->dom))
        return 0;
    char *dac = NULL;
    for (size_t i = 0; i < c->dom->def->nseclabels && !dac; i++) {
        const struct xnode *sl = c->dom->def->seclabels[i];
        const char *model = xnode_attr(sl, "model");
        const struct xnode *lab = xnode_child(sl, "label");
        const char *label = lab ? xnode_text(lab) : "";
        if (model && strcmp(model, "dac") == 0 && label[0])
            dac = xstrdup(label);
    }
    struct stat st;
    char proc[32];
    snprintf(proc, sizeof(proc), "/proc/%ld", c->dom->vmm ? (long)vd_vmm_pid(c->dom->vmm) : 0L);
    if (!dac && c->dom->vmm && stat(proc, &st) == 0)
        dac = xasprintf("+%ld:+%ld", (long)st.st_uid, (long)st.st_gid);
    if (!dac)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: security label for domain %s not found",
                            c->dom->def->name);
    const char *labels[2] = {"", dac};
    r->labels = xcalloc(2, sizeof(*r->labels));
    for (size_t i = 0; i < 2; i++) { /* each with its NUL, as libvirtd sends them */
        r->labels[i].label = xstrdup(labels[i]);
        r->labels[i].label_len = (uint32_t)strlen(labels[i]) + 1;
    }
    r->labels_len = 2;
    r->ret = 2;
    free(dac);
    return 0;
}

#define VALUE_ENTRY(PROC, name, field, value) {REMOTE_PROC_##PROC, get_##name},
static const struct vd_proc procs[] = {
    DOMAIN_VALUES(VALUE_ENTRY) /* the one-value procedures, then the others */
    {REMOTE_PROC_DOMAIN_GET_INFO, get_info},
    {REMOTE_PROC_DOMAIN_GET_STATE, get_state},
    {REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, get_security_label},
    {REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST, get_security_label_list},
    {REMOTE_PROC_DOMAIN_GET_XML_DESC, get_xml},
    {REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, get_vcpus_flags},
    {REMOTE_PROC_DOMAIN_SET_AUTOSTART, set_autostart},
    {REMOTE_PROC_DOMAIN_DEFINE_XML, define},
    {REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, define},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, lookup_name},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, lookup_id},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, lookup_uuid},
    {REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, list_all},
    {REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, num_domains},
    {REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, num_defined},
    {REMOTE_PROC_CONNECT_LIST_DOMAINS, list_domains},
    {REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, list_defined},
};
VD_PROC_TABLE(vd_domain_procs, procs);
