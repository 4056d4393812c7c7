/*
 * live-change.c - setmem, setvcpus and a CD-ROM's medium (change-media, which
 * virsh sends as virDomainUpdateDeviceFlags): a change to the running domain
 * (through its VMM), to its persistent definition, or both, as libvirt's
 * VIR_DOMAIN_AFFECT_LIVE / AFFECT_CONFIG flags say.
 *
 * setvcpus --live plugs and unplugs vCPUs through live-vcpus.c, and so does setvcpu
 * (one vCPU by id, the <vcpus> states of the live and persistent definitions).
 *
 * The live half never touches the persistent definition and the config
 * half never the running VM: a running domain's live definition is its own
 * copy (lifecycle.c), so `setmem --live` moves the balloon and the live
 * XML's currentMemory, and the next boot still has what the persistent
 * definition says. Checks and messages are libvirt's.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/domain.h"
#include "daemon/net-iface.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/bitmap.h"
#include "util/cpulist.h"
#include "util/error.h"
#include "util/mem.h"

bool vd_domain_affects_live(const struct vd_domain *dom, unsigned flags)
{
    return (flags & VIR_DOMAIN_AFFECT_LIVE) ||
           ((flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)) == 0 &&
            vd_domain_is_active(dom));
}

bool vd_domain_affects_config(const struct vd_domain *dom, unsigned flags)
{
    return (flags & VIR_DOMAIN_AFFECT_CONFIG) ||
           ((flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)) == 0 &&
            !vd_domain_is_active(dom));
}

/* The checks libvirt makes before any change, in its words. */
int vd_domain_check_targets(struct vd_job *job, bool live, bool config)
{
    struct vd_domain *dom = job->dom;
    if (live && (!vd_domain_is_active(dom) || !dom->vmm)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return -1;
    }
    if (config && !dom->persistent) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: transient domains do not have any "
                    "persistent config");
        return -1;
    }
    return 0;
}

static void commit(struct vd_job *job, struct domain_def *def)
{
    struct verr e = {0};
    int r = vd_domain_commit_config(job->dom->daemon, job->dom, def, &e);
    if (r < 0)
        vd_job_fail(job, r == -EINVAL ? VIR_ERR_INVALID_ARG : VIR_ERR_OPERATION_FAILED, "%s",
                    verr_msg(&e));
    else
        vd_job_done(job);
}

bool vd_domain_has_balloon(const struct domain_def *def)
{
    const struct domain_memballoon *b = def->memballoon;
    return b && b->model && strcmp(b->model, "virtio") == 0;
}

/* The config half of setmem (after the live half succeeded, if any). */
static void set_memory_config(struct vd_job *job)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    unsigned long long kib = job->value;
    if (job->flags & VIR_DOMAIN_MEM_MAXIMUM) {
        def->memory_kib = kib;
        if (def->current_memory_kib > kib)
            def->current_memory_kib = kib;
    } else {
        if (kib > def->memory_kib) {
            domain_def_free(def);
            vd_job_fail(job, VIR_ERR_INVALID_ARG,
                        "invalid argument: cannot set memory higher than max memory");
            return;
        }
        def->current_memory_kib = kib;
    }
    commit(job, def);
}

static void balloon_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", error);
        return;
    }
    /* libvirt shows the target at once; BALLOON_CHANGE brings the actual.
     * The live definition only. */
    dom->def->current_memory_kib = job->value;
    vd_domain_save_status(dom->daemon, dom);
    if (vd_domain_affects_config(dom, job->flags))
        set_memory_config(job);
    else
        vd_job_done(job);
}

void vd_domain_job_set_memory(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool live = vd_domain_affects_live(dom, job->flags);
    bool config = vd_domain_affects_config(dom, job->flags);
    if (vd_domain_check_targets(job, live, config) < 0)
        return;
    if (live && (job->flags & VIR_DOMAIN_MEM_MAXIMUM)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: cannot resize the maximum memory on an "
                    "active domain");
        return;
    }
    if (!live) {
        set_memory_config(job);
        return;
    }
    if (job->value > dom->def->memory_kib) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: cannot set memory higher than max memory");
        return;
    }
    if (!vd_domain_has_balloon(dom->def)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: Unable to change memory of active domain "
                    "without the balloon device");
        return;
    }
    struct verr err = {0};
    if (vd_vmm_set_balloon(dom->vmm, job->value * 1024, balloon_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

/* The config half of setvcpus (after the live half succeeded, if any). */
static void set_vcpus_config(struct vd_job *job)
{
    unsigned n = (unsigned)job->value;
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    unsigned old_max = def->vcpus;
    if (job->flags & VIR_DOMAIN_VCPU_MAXIMUM) {
        def->vcpus = n;
        if (def->vcpus_current > n)
            def->vcpus_current = n;
    } else {
        if (n > def->vcpus) {
            domain_def_free(def);
            vd_job_fail(job, VIR_ERR_INVALID_ARG,
                        "invalid argument: requested vcpus is greater than max allowable vcpus "
                        "for the persistent domain: %u > %u",
                        n, def->vcpus);
            return;
        }
        def->vcpus_current = n;
    }
    domain_vcpus_resize(def, old_max);
    commit(job, def);
}

static void set_vcpus_live_done(struct vd_job *job)
{
    if (vd_domain_affects_config(job->dom, job->flags))
        set_vcpus_config(job);
    else
        vd_job_done(job);
}

void vd_domain_job_set_vcpus(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned n = (unsigned)job->value;
    bool live = vd_domain_affects_live(dom, job->flags);
    bool config = vd_domain_affects_config(dom, job->flags);
    bool maximum = job->flags & VIR_DOMAIN_VCPU_MAXIMUM;
    if (vd_domain_check_targets(job, live, config) < 0)
        return;
    if (n == 0) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: argument unsupported: zero vCPUs");
        return;
    }
    if (!live) {
        set_vcpus_config(job);
        return;
    }
    const struct domain_def *cur = dom->def;
    unsigned now = cur->vcpus_current ? cur->vcpus_current : cur->vcpus;
    if (maximum) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: cannot change the maximum vCPU count of an active "
                    "domain");
        return;
    }
    if (n > cur->vcpus) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: requested vcpus is greater than max allowable vcpus "
                    "for the live domain: %u > %u",
                    n, cur->vcpus);
        return;
    }
    if (n < now) {
        vd_domain_live_del_vcpus(job, now, n, set_vcpus_live_done); /* live-vcpus.c */
        return;
    }
    if (n > now) {
        vd_domain_live_add_vcpus(job, now, n, set_vcpus_live_done); /* live-vcpus.c */
        return;
    }
    set_vcpus_live_done(job);
}

/* ---- setvcpu: one vCPU by id (virDomainSetVcpu) ------------------------------------ */

/* libvirt's QEMU_GUEST_VCPU_MAX_ID, the bitmap's size. */
#define SETVCPU_MAX_ID 4096

/* The vCPU ids of the call; NULL (and the job failed) when there are none. */
static struct bitmap *setvcpu_map(struct vd_job *job, long *last)
{
    struct bitmap *map = NULL;
    struct verr e = {0};
    if (cpulist_parse(job->text, SETVCPU_MAX_ID, &map, &e) < 0) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: Failed to parse bitmap '%s'",
                    job->text);
        return NULL;
    }
    *last = -1;
    for (long k = bitmap_next_set(map, 0); k >= 0; k = bitmap_next_set(map, (size_t)k + 1))
        *last = k;
    if (*last < 0) {
        bitmap_free(map);
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: no vcpus selected for modification");
        return NULL;
    }
    return map;
}

/* A definition without <vcpus> given its states: the first vcpus_current enabled (and not
 * hotpluggable), the others disabled, no order (libvirt's defaults). */
static void vcpus_ensure(struct domain_def *def)
{
    if (def->vcpu_states)
        return;
    def->vcpu_states = xcalloc(def->vcpus, sizeof(*def->vcpu_states));
    unsigned cur = def->vcpus_current ? def->vcpus_current : def->vcpus;
    for (unsigned i = 0; i < def->vcpus; i++)
        def->vcpu_states[i] = (struct domain_vcpu){i < cur, i < cur ? 0 : 1, 0};
}

/* The config half: the vCPUs given enabled or disabled, and hotpluggable from now on; every
 * order cleared (libvirt's qemuDomainSetVcpuConfig). */
static void set_vcpu_config(struct vd_job *job)
{
    long last;
    struct bitmap *map = setvcpu_map(job, &last);
    if (!map)
        return;
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    vcpus_ensure(def);
    for (unsigned i = 0; i < def->vcpus; i++)
        def->vcpu_states[i].order = 0;
    unsigned n = 0;
    for (unsigned i = 0; i < def->vcpus; i++) {
        if (bitmap_test(map, i))
            def->vcpu_states[i] = (struct domain_vcpu){job->value == 1, 1, 0};
        n += def->vcpu_states[i].enabled;
    }
    def->vcpus_current = n;
    bitmap_free(map);
    commit(job, def);
}

static void set_vcpu_live_done(struct vd_job *job)
{
    if (vd_domain_affects_config(job->dom, job->flags))
        set_vcpu_config(job);
    else
        vd_job_done(job);
}

/* Whether vireo-vmm's vCPU i was plugged (device_add), from query-hotpluggable-cpus. */
static bool vcpu_plugged(struct json_object *slots, unsigned i)
{
    size_t len = json_object_array_length(slots);
    struct json_object *slot = i < len ? json_object_array_get_idx(slots, len - 1 - i) : NULL;
    struct json_object *qp;
    char want[64];
    snprintf(want, sizeof(want), "/machine/peripheral/vcpu%u", i);
    return slot && json_object_object_get_ex(slot, "qom-path", &qp) &&
           strcmp(json_object_get_string(qp), want) == 0;
}

/* The live half, once query-hotpluggable-cpus says which vCPUs were plugged: libvirt's
 * checks (qemuDomainFilterHotplugVcpuEntities), then one device_add or device_del. */
static void set_vcpu_slots(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct vd_job *job = opaque;
    struct domain_def *def = job->dom->def;
    if (r < 0 || !json_object_is_type(ret, json_type_array)) {
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "internal error: %s",
                    error ? error : "no answer to query-hotpluggable-cpus");
        return;
    }
    long last;
    struct bitmap *map = setvcpu_map(job, &last);
    if (!map)
        return;
    bool state = job->value == 1;
    unsigned cur = def->vcpus_current ? def->vcpus_current : def->vcpus;
    unsigned k = 0, n = 0;
    for (long b = bitmap_next_set(map, 0); b >= 0; b = bitmap_next_set(map, (size_t)b + 1)) {
        unsigned i = (unsigned)b;
        bool enabled = i < cur; /* Vireo's enabled vCPUs are 0..cur-1 */
        bool hp = def->vcpu_states ? def->vcpu_states[i].hotpluggable == 1
                                   : !enabled || vcpu_plugged(ret, i);
        if (enabled == state) {
            bitmap_free(map);
            vd_job_fail(job, VIR_ERR_INVALID_ARG,
                        "invalid argument: vcpu '%u' is already in requested state", i);
            return;
        }
        if (enabled && !hp) {
            bitmap_free(map);
            vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                        "Operation not supported: vcpu '%u' can't be unplugged", i);
            return;
        }
        k = i;
        n++;
    }
    bitmap_free(map);
    if (n > 1) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: only one hotpluggable entity can be selected");
        return;
    }
    /* TODO: any order, as libvirt: the daemon's vCPU threads, vcpuinfo and cgroups follow
     * the vCPU index, so the enabled vCPUs stay 0..current-1 for now. */
    if (k != (state ? cur : cur - 1)) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: vcpu '%u' can't be %s: Vireo enables and disables "
                    "vCPUs in id order (vcpu '%u' next)",
                    k, state ? "enabled" : "disabled", state ? cur : cur - 1);
        return;
    }
    if (!def->vcpu_states) { /* the live XML gets <vcpus> from now on, as libvirt's */
        vcpus_ensure(def);
        for (unsigned i = 0; i < cur; i++)
            def->vcpu_states[i] = (struct domain_vcpu){true, vcpu_plugged(ret, i) ? 1 : 0, i + 1};
    }
    if (state)
        vd_domain_live_add_vcpus(job, cur, cur + 1, set_vcpu_live_done); /* live-vcpus.c */
    else
        vd_domain_live_del_vcpus(job, cur, cur - 1, set_vcpu_live_done);
}

void vd_domain_job_set_vcpu(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool live = vd_domain_affects_live(dom, job->flags);
    bool config = vd_domain_affects_config(dom, job->flags);
    if (vd_domain_check_targets(job, live, config) < 0)
        return;
    long last;
    struct bitmap *map = setvcpu_map(job, &last);
    if (!map)
        return;
    if (live && (unsigned long)last >= dom->def->vcpus) {
        bitmap_free(map);
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: vcpu %ld is not present in live config", last);
        return;
    }
    if (config) { /* libvirt's qemuDomainVcpuValidateConfig */
        const struct domain_def *cfg = vd_domain_config(dom);
        if ((unsigned long)last >= cfg->vcpus) {
            bitmap_free(map);
            vd_job_fail(job, VIR_ERR_INVALID_ARG,
                        "invalid argument: vcpu %ld is not present in persistent config", last);
            return;
        }
        if (bitmap_test(map, 0)) {
            bitmap_free(map);
            vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: vCPU '0' can't be modified");
            return;
        }
        long first = bitmap_next_set(map, 0);
        unsigned cur = cfg->vcpus_current ? cfg->vcpus_current : cfg->vcpus;
        for (unsigned i = (unsigned)first + 1; i < cfg->vcpus; i++) {
            bool on = cfg->vcpu_states ? cfg->vcpu_states[i].enabled : i < cur;
            bool hp = cfg->vcpu_states ? cfg->vcpu_states[i].hotpluggable == 1 : !on;
            if (!bitmap_test(map, i) && on && !hp) {
                bitmap_free(map);
                vd_job_fail(job, VIR_ERR_INVALID_ARG,
                            "invalid argument: vcpu '%ld' can't be modified as it is followed "
                            "by non-hotpluggable online vcpus",
                            first);
                return;
            }
        }
    }
    bitmap_free(map);
    if (!live) {
        set_vcpu_config(job);
        return;
    }
    struct verr err = {0};
    if (vd_vmm_query(dom->vmm, "query-hotpluggable-cpus", NULL, set_vcpu_slots, job, &err) < 0)
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
}

/* ---- a CD-ROM's medium --------------------------------------------------------------- */

/* The <disk> element of update-device, parsed by the domain parser inside a minimal domain
 * (the same rules as a definition's disks). NULL and the job failed when it is not one. */
static struct domain_def *parse_disk(struct vd_job *job)
{
    const char *xml = job->text ? job->text : "";
    while (*xml == ' ' || *xml == '\n' || *xml == '\t' || *xml == '\r')
        xml++;
    if (strncmp(xml, "<disk", 5) != 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: only a <disk> (a CD-ROM's medium) or an "
                    "<interface>'s link state can be updated");
        return NULL;
    }
    /* In the domain's own machine: which buses a disk may use depends on it (IDE: pc). */
    const char *machine = job->dom->def->os_machine;
    char *doc =
        xasprintf("<domain type='kvm'><name>update-device</name><memory>1024</memory>"
                  "<os><type%s%s%s>hvm</type></os><devices>%s</devices></domain>",
                  machine ? " machine='" : "", machine ? machine : "", machine ? "'" : "", xml);
    struct domain_def *def = NULL;
    struct verr e = {0};
    int r = domain_def_parse_string(doc, 0, &def, &e);
    free(doc);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
        return NULL;
    }
    if (def->ndisks != 1) {
        domain_def_free(def);
        vd_job_fail(job, VIR_ERR_XML_ERROR, "XML error: expected exactly one <disk>");
        return NULL;
    }
    if (def->disks[0].source_type == DOMAIN_DISK_SOURCE_VOLUME) {
        /* TODO: keep <source pool= volume=> in the definitions and give the VMM its file */
        domain_def_free(def);
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: a medium from a storage volume (<disk "
                    "type='volume'>) cannot be changed yet: give the volume's file");
        return NULL;
    }
    return def;
}

/* The disk of def with new's target, checked to be a CD-ROM whose medium may change. */
static struct domain_disk *find_cdrom(struct vd_job *job, struct domain_def *def,
                                      const struct domain_disk *new)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        if (!d->target_dev || !new->target_dev || strcmp(d->target_dev, new->target_dev) != 0)
            continue;
        if (d->device != DOMAIN_DISK_DEVICE_CDROM || new->device != DOMAIN_DISK_DEVICE_CDROM) {
            vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                        "Operation not supported: disk source can be changed only in removable "
                        "media");
            return NULL;
        }
        return d;
    }
    vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: target %s doesn't exist.",
                new->target_dev ? new->target_dev : "?");
    return NULL;
}

static void set_source(struct domain_disk *d, const struct domain_disk *new)
{
    free(d->source_path);
    d->source_path = new->source_path ? xstrdup(new->source_path) : NULL;
    if (new->source_path) {
        free(d->driver_type);
        d->driver_type = xstrdup(new->driver_type ? new->driver_type : "raw");
    }
}

/* The config half (after the live half, if any). */
static void update_config(struct vd_job *job, const struct domain_disk *new)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    struct domain_disk *d = find_cdrom(job, def, new);
    if (!d) {
        domain_def_free(def);
        return;
    }
    set_source(d, new);
    commit(job, def);
}

static void medium_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "internal error: unable to execute QEMU "
                    "command: %s",
                    error);
        return;
    }
    struct domain_def *upd = parse_disk(job);
    if (!upd)
        return;
    struct domain_disk *d = find_cdrom(job, dom->def, &upd->disks[0]);
    if (d) {
        set_source(d, &upd->disks[0]);
        vd_domain_save_status(dom->daemon, dom);
        if (vd_domain_affects_config(dom, job->flags))
            update_config(job, &upd->disks[0]);
        else
            vd_job_done(job);
    }
    domain_def_free(upd);
}

/* ---- an interface's link state (virsh domif-setlink) ----------------------------------- */

/* The <interface> of update-device, parsed inside a minimal domain. */
static struct domain_def *parse_iface(struct vd_job *job)
{
    char *doc = xasprintf("<domain type='kvm'><name>update-device</name><memory>1024</memory>"
                          "<os><type>hvm</type></os><devices>%s</devices></domain>",
                          job->text);
    struct domain_def *def = NULL;
    struct verr e = {0};
    int r = domain_def_parse_string(doc, 0, &def, &e);
    free(doc);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
        return NULL;
    }
    if (def->nnets != 1) {
        domain_def_free(def);
        vd_job_fail(job, VIR_ERR_XML_ERROR, "XML error: expected exactly one <interface>");
        return NULL;
    }
    return def;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The interface of def with new's MAC; only its link state may differ (libvirt changes
 * nothing else of a running interface without a device of its own to do it). */
static struct domain_net *find_iface(struct vd_job *job, struct domain_def *def,
                                     const struct domain_net *new)
{
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (strcasecmp(n->mac, new->mac) != 0)
            continue;
        if (n->type != new->type || !same_str(n->source_network, new->source_network) ||
            /* a network's bridge is the live definition's (bridge=), not the user's */
            ((n->type != DOMAIN_NET_NETWORK || new->source_bridge) &&
             !same_str(n->source_bridge, new->source_bridge)) ||
            (new->model && !same_str(n->model, new->model))) {
            vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                        "Operation not supported: only the link state of interface %s can be "
                        "changed",
                        n->mac);
            return NULL;
        }
        return n;
    }
    vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                "operation failed: cannot find existing network device to modify");
    return NULL;
}

static void iface_config(struct vd_job *job, const struct domain_net *new)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    struct domain_net *n = find_iface(job, def, new);
    if (!n) {
        domain_def_free(def);
        return;
    }
    vd_net_set_link(n, !vd_net_link_down(new));
    commit(job, def);
}

static void link_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "internal error: unable to execute QEMU command 'set_link': %s", error);
        return;
    }
    struct domain_def *upd = parse_iface(job);
    if (!upd)
        return;
    struct domain_net *n = find_iface(job, dom->def, &upd->nets[0]);
    if (n) {
        vd_net_set_link(n, !vd_net_link_down(&upd->nets[0]));
        vd_domain_save_status(dom->daemon, dom);
        if (vd_domain_affects_config(dom, job->flags))
            iface_config(job, &upd->nets[0]);
        else
            vd_job_done(job);
    }
    domain_def_free(upd);
}

static void update_iface(struct vd_job *job, bool live)
{
    struct vd_domain *dom = job->dom;
    struct domain_def *upd = parse_iface(job);
    if (!upd)
        return;
    const struct domain_net *new = &upd->nets[0];
    if (!live) {
        iface_config(job, new);
        domain_def_free(upd);
        return;
    }
    struct domain_net *n = find_iface(job, dom->def, new);
    if (!n) {
        domain_def_free(upd);
        return;
    }
    char *alias = n->alias ? xstrdup(n->alias) : xasprintf("net%zu", (size_t)(n - dom->def->nets));
    struct verr err = {0};
    int r = vd_vmm_set_link(dom->vmm, alias, !vd_net_link_down(new), link_done, job, &err);
    free(alias);
    domain_def_free(upd);
    if (r < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

void vd_domain_job_update_device(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool live = vd_domain_affects_live(dom, job->flags);
    bool config = vd_domain_affects_config(dom, job->flags);
    unsigned known =
        VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_DEVICE_MODIFY_FORCE;
    if (job->flags & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function "
                    "qemuDomainUpdateDeviceFlags",
                    job->flags & ~known);
        return;
    }
    if (vd_domain_check_targets(job, live, config) < 0)
        return;
    const char *text = job->text ? job->text : "";
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')
        text++;
    if (strncmp(text, "<interface", 10) == 0) {
        update_iface(job, live);
        return;
    }
    struct domain_def *upd = parse_disk(job);
    if (!upd)
        return;
    const struct domain_disk *new = &upd->disks[0];
    if (!live) {
        update_config(job, new);
        domain_def_free(upd);
        return;
    }
    struct domain_disk *d = find_cdrom(job, dom->def, new);
    if (!d) {
        domain_def_free(upd);
        return;
    }
    char *id = vmm_argv_disk_alias(d);
    struct verr err = {0};
    /* the VMM opens the medium after it dropped root: it must be the VM user's to read */
    int r = new->source_path ? vd_dac_label_file(&dom->daemon->dac, dom->daemon->run_dir, dom->def,
                                                 new->source_path, &err)
                             : 0;
    if (r == 0 && new->source_path) /* a medium that is a device: in the VMM's private /dev */
        r = vd_vmm_prepare_path(dom->vmm, new->source_path, &err);
    if (r == 0)
        r = vd_vmm_change_medium(
            dom->vmm, id, new->source_path,
            new->source_path ? (new->driver_type ? new->driver_type : "raw") : NULL,
            job->flags & VIR_DOMAIN_DEVICE_MODIFY_FORCE, medium_done, job, &err);
    free(id);
    domain_def_free(upd);
    if (r < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}
