/*
 * rpc-snapshot.c - the snapshot procedures of the remote program:
 * virDomainSnapshotCreateXML, the lookups and listings of a domain's
 * snapshots and their tree, their XML, and virDomainRevertToSnapshot /
 * virDomainSnapshotDelete.
 *
 * Reading the metadata (snapshot-store.c) is done at once; creating,
 * reverting and deleting are jobs on the domain (snapshot-create.c,
 * snapshot-revert.c), answered when they end. A snapshot is named on the
 * wire by its name and its domain; the domain is looked up by uuid, as
 * libvirt does, and the snapshot by name, with libvirt's errors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define FILTERS_ALL                                                                                \
    (VIR_DOMAIN_SNAPSHOT_LIST_METADATA | VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA |                    \
     VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES |                        \
     VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |                         \
     VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL |                      \
     VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL)
#define LIST_FLAGS                                                                                 \
    (VIR_DOMAIN_SNAPSHOT_LIST_ROOTS | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL | FILTERS_ALL)

static int no_snapshot(struct vd_call *c, const char *name)
{
    return vd_call_fail(c, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                        "Domain snapshot not found: no domain snapshot with matching name '%s'",
                        name);
}

/* The snapshot a call names (its domain in *domp), or NULL with the error set. */
static struct vd_snapshot *
lookup(struct vd_call *c, const struct remote_nonnull_domain_snapshot *ns, struct vd_domain **domp)
{
    struct vd_domain *dom = vd_domain_find_uuid(c->d, ns->dom.uuid);
    if (!dom) {
        char uuid[37];
        domain_uuid_format(ns->dom.uuid, uuid);
        vd_call_fail(c, VIR_ERR_NO_DOMAIN,
                     "Domain not found: no domain with matching uuid '%s' (%s)", uuid,
                     ns->dom.name);
        return NULL;
    }
    struct vd_snapshot *s = vd_snapshot_find(dom, ns->name);
    if (!s) {
        no_snapshot(c, ns->name);
        return NULL;
    }
    *domp = dom;
    return s;
}

static void fill(struct remote_nonnull_domain_snapshot *out, struct vd_domain *dom,
                 const char *name)
{
    out->name = xstrdup(name);
    vd_server_fill_dom(&out->dom, dom);
}

/* Whether s is listed for a domain-wide listing with flags. */
static bool listed(struct vd_domain *dom, const struct vd_snapshot *s, unsigned flags)
{
    if ((flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS) && s->def->parent)
        return false;
    return vd_snapshot_matches(dom, s, flags);
}

/* Whether s is listed among from's children with flags. */
static bool listed_child(struct vd_domain *dom, const struct vd_snapshot *s,
                         const struct vd_snapshot *from, unsigned flags)
{
    bool rel = flags & VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS
                   ? vd_snapshot_is_descendant(dom, s, from)
                   : (s->def->parent && strcmp(s->def->parent, from->def->name) == 0);
    return rel && vd_snapshot_matches(dom, s, flags);
}

/* ---- create, revert, delete: jobs ---- */

static int create_xml(struct vd_call *c)
{
    const struct remote_domain_snapshot_create_xml_args *a = c->args;
    struct vd_job *job =
        vd_call_job(c, c->dom, "snapshot-create", vd_snapshot_job_create, a->flags);
    job->xml = xstrdup(a->xml_desc);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int revert(struct vd_call *c)
{
    const struct remote_domain_revert_to_snapshot_args *a = c->args;
    struct vd_domain *dom;
    if (!lookup(c, &a->snap, &dom))
        return -1;
    struct vd_job *job = vd_call_job(c, dom, "snapshot-revert", vd_snapshot_job_revert, a->flags);
    job->path = xstrdup(a->snap.name);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int delete (struct vd_call *c)
{
    const struct remote_domain_snapshot_delete_args *a = c->args;
    struct vd_domain *dom;
    if (!lookup(c, &a->snap, &dom))
        return -1;
    struct vd_job *job = vd_call_job(c, dom, "snapshot-delete", vd_snapshot_job_delete, a->flags);
    job->path = xstrdup(a->snap.name);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

/* ---- reading the metadata ---- */

static int get_xml_desc(struct vd_call *c)
{
    const struct remote_domain_snapshot_get_xml_desc_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, VIR_DOMAIN_SNAPSHOT_XML_SECURE,
                            "qemuDomainSnapshotGetXMLDesc") < 0)
        return -1;
    if ((a->flags & VIR_DOMAIN_SNAPSHOT_XML_SECURE) &&
        (c->client->readonly || c->client->ro_socket))
        return vd_call_fail(c, VIR_ERR_OPERATION_DENIED,
                            "operation forbidden: virDomainSnapshotGetXMLDesc with secure flag");
    struct vd_domain *dom;
    struct vd_snapshot *s = lookup(c, &a->snap, &dom);
    if (!s)
        return -1;
    /* The stored <domain> has everything; without the secure flag it is
     * printed again without the secrets (VNC passwords). */
    struct xnode *full = s->def->domain, *shown = NULL;
    if (full && !(a->flags & VIR_DOMAIN_SNAPSHOT_XML_SECURE)) {
        struct buf b = BUF_INIT;
        xnode_format(full, &b, 0);
        buf_append_byte(&b, '\0');
        struct domain_def *def = NULL;
        struct verr err = {0};
        if (domain_def_parse_string((const char *)b.data, 0, &def, &err) == 0) {
            char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
            if (xml && xnode_parse_xml(xml, strlen(xml), "domain XML", &shown, &err) < 0)
                shown = NULL;
            free(xml);
            domain_def_free(def);
        }
        buf_free(&b);
        if (!shown)
            return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                                "internal error: cannot format the domain of snapshot '%s'",
                                s->def->name);
        s->def->domain = shown;
    }
    ((struct remote_domain_snapshot_get_xml_desc_ret *)c->ret)->xml = snapshot_def_format(s->def);
    s->def->domain = full;
    xnode_free(shown);
    return 0;
}

static int num(struct vd_call *c)
{
    const struct remote_domain_snapshot_num_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, LIST_FLAGS, "qemuDomainSnapshotNum") < 0)
        return -1;
    int n = 0;
    for (struct vd_snapshot *s = c->dom->snapshots; s; s = s->next)
        n += listed(c->dom, s, a->flags);
    ((struct remote_domain_snapshot_num_ret *)c->ret)->num = n;
    return 0;
}

static int list_names(struct vd_call *c)
{
    const struct remote_domain_snapshot_list_names_args *a = c->args;
    struct remote_domain_snapshot_list_names_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, LIST_FLAGS, "qemuDomainSnapshotListNames") < 0)
        return -1;
    if (a->maxnames < 0 || a->maxnames > REMOTE_DOMAIN_SNAPSHOT_LIST_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "too many remote domain snapshot names: %d > %d",
                            a->maxnames, REMOTE_DOMAIN_SNAPSHOT_LIST_MAX);
    r->names = xcalloc((size_t)a->maxnames + 1, sizeof(*r->names));
    for (struct vd_snapshot *s = c->dom->snapshots; s && (int)r->names_len < a->maxnames;
         s = s->next)
        if (listed(c->dom, s, a->flags))
            r->names[r->names_len++] = xstrdup(s->def->name);
    return 0;
}

static int list_all(struct vd_call *c)
{
    const struct remote_domain_list_all_snapshots_args *a = c->args;
    struct remote_domain_list_all_snapshots_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, LIST_FLAGS, "qemuDomainListAllSnapshots") < 0)
        return -1;
    size_t n = 0;
    for (struct vd_snapshot *s = c->dom->snapshots; s; s = s->next)
        n += listed(c->dom, s, a->flags);
    r->ret = (int)n;
    if (a->need_results && n) {
        r->snapshots = xcalloc(n, sizeof(*r->snapshots));
        for (struct vd_snapshot *s = c->dom->snapshots; s; s = s->next)
            if (listed(c->dom, s, a->flags))
                fill(&r->snapshots[r->snapshots_len++], c->dom, s->def->name);
    }
    return 0;
}

static int num_children(struct vd_call *c)
{
    const struct remote_domain_snapshot_num_children_args *a = c->args;
    unsigned known =
        VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL | FILTERS_ALL;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainSnapshotNumChildren") < 0)
        return -1;
    struct vd_domain *dom;
    struct vd_snapshot *from = lookup(c, &a->snap, &dom);
    if (!from)
        return -1;
    int n = 0;
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
        n += listed_child(dom, s, from, a->flags);
    ((struct remote_domain_snapshot_num_children_ret *)c->ret)->num = n;
    return 0;
}

static int list_children_names(struct vd_call *c)
{
    const struct remote_domain_snapshot_list_children_names_args *a = c->args;
    struct remote_domain_snapshot_list_children_names_ret *r = c->ret;
    unsigned known =
        VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL | FILTERS_ALL;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainSnapshotListChildrenNames") < 0)
        return -1;
    if (a->maxnames < 0 || a->maxnames > REMOTE_DOMAIN_SNAPSHOT_LIST_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "too many remote domain snapshot names: %d > %d",
                            a->maxnames, REMOTE_DOMAIN_SNAPSHOT_LIST_MAX);
    struct vd_domain *dom;
    struct vd_snapshot *from = lookup(c, &a->snap, &dom);
    if (!from)
        return -1;
    r->names = xcalloc((size_t)a->maxnames + 1, sizeof(*r->names));
    for (struct vd_snapshot *s = dom->snapshots; s && (int)r->names_len < a->maxnames; s = s->next)
        if (listed_child(dom, s, from, a->flags))
            r->names[r->names_len++] = xstrdup(s->def->name);
    return 0;
}

static int list_all_children(struct vd_call *c)
{
    const struct remote_domain_snapshot_list_all_children_args *a = c->args;
    struct remote_domain_snapshot_list_all_children_ret *r = c->ret;
    unsigned known =
        VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL | FILTERS_ALL;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainSnapshotListAllChildren") < 0)
        return -1;
    struct vd_domain *dom;
    struct vd_snapshot *from = lookup(c, &a->snapshot, &dom);
    if (!from)
        return -1;
    size_t n = 0;
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
        n += listed_child(dom, s, from, a->flags);
    r->ret = (int)n;
    if (a->need_results && n) {
        r->snapshots = xcalloc(n, sizeof(*r->snapshots));
        for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
            if (listed_child(dom, s, from, a->flags))
                fill(&r->snapshots[r->snapshots_len++], dom, s->def->name);
    }
    return 0;
}

static int lookup_by_name(struct vd_call *c)
{
    const struct remote_domain_snapshot_lookup_by_name_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSnapshotLookupByName") < 0)
        return -1;
    if (!vd_snapshot_find(c->dom, a->name))
        return no_snapshot(c, a->name);
    fill(&((struct remote_domain_snapshot_lookup_by_name_ret *)c->ret)->snap, c->dom, a->name);
    return 0;
}

static int has_current(struct vd_call *c)
{
    const struct remote_domain_has_current_snapshot_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainHasCurrentSnapshot") < 0)
        return -1;
    ((struct remote_domain_has_current_snapshot_ret *)c->ret)->result =
        vd_snapshot_current(c->dom) != NULL;
    return 0;
}

static int current(struct vd_call *c)
{
    const struct remote_domain_snapshot_current_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSnapshotCurrent") < 0)
        return -1;
    struct vd_snapshot *s = vd_snapshot_current(c->dom);
    if (!s)
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                            "Domain snapshot not found: the domain does not have a current "
                            "snapshot");
    fill(&((struct remote_domain_snapshot_current_ret *)c->ret)->snap, c->dom, s->def->name);
    return 0;
}

static int get_parent(struct vd_call *c)
{
    const struct remote_domain_snapshot_get_parent_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSnapshotGetParent") < 0)
        return -1;
    struct vd_domain *dom;
    struct vd_snapshot *s = lookup(c, &a->snap, &dom);
    if (!s)
        return -1;
    if (!s->def->parent)
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                            "Domain snapshot not found: snapshot '%s' does not have a parent",
                            s->def->name);
    fill(&((struct remote_domain_snapshot_get_parent_ret *)c->ret)->snap, dom, s->def->parent);
    return 0;
}

static int is_current(struct vd_call *c)
{
    const struct remote_domain_snapshot_is_current_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSnapshotIsCurrent") < 0)
        return -1;
    struct vd_domain *dom;
    struct vd_snapshot *s = lookup(c, &a->snap, &dom);
    if (!s)
        return -1;
    ((struct remote_domain_snapshot_is_current_ret *)c->ret)->current =
        vd_snapshot_current(dom) == s;
    return 0;
}

static int has_metadata(struct vd_call *c)
{
    const struct remote_domain_snapshot_has_metadata_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSnapshotHasMetadata") < 0)
        return -1;
    struct vd_domain *dom;
    if (!lookup(c, &a->snap, &dom))
        return -1;
    /* A snapshot found by name is one whose metadata vireod keeps. */
    ((struct remote_domain_snapshot_has_metadata_ret *)c->ret)->metadata = 1;
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML, create_xml},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_GET_XML_DESC, get_xml_desc},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_NUM, num},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_NAMES, list_names},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, lookup_by_name},
    {REMOTE_PROC_DOMAIN_HAS_CURRENT_SNAPSHOT, has_current},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_CURRENT, current},
    {REMOTE_PROC_DOMAIN_REVERT_TO_SNAPSHOT, revert},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_DELETE, delete},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_GET_PARENT, get_parent},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_NUM_CHILDREN, num_children},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES, list_children_names},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_IS_CURRENT, is_current},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_HAS_METADATA, has_metadata},
    {REMOTE_PROC_DOMAIN_LIST_ALL_SNAPSHOTS, list_all},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN, list_all_children},
};
VD_PROC_TABLE(vd_snapshot_procs, procs);
