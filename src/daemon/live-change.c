/*
 * live-change.c - setmem and setvcpus: a change to the running domain
 * (through its VMM), to its persistent definition, or both, as libvirt's
 * VIR_DOMAIN_AFFECT_LIVE / AFFECT_CONFIG flags say.
 *
 * The live half never touches the persistent definition and the config
 * half never the running VM: a running domain's live definition is its own
 * copy (lifecycle.c), so `setmem --live` moves the balloon and the live
 * XML's currentMemory, and the next boot still has what the persistent
 * definition says. Checks and messages are libvirt's.
 */
#include <errno.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"

static bool affects_live(const struct vd_domain *dom, unsigned flags)
{
    return (flags & VIR_DOMAIN_AFFECT_LIVE) ||
           ((flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)) == 0 &&
            vd_domain_is_active(dom));
}

static bool affects_config(const struct vd_domain *dom, unsigned flags)
{
    return (flags & VIR_DOMAIN_AFFECT_CONFIG) ||
           ((flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)) == 0 &&
            !vd_domain_is_active(dom));
}

/* The checks libvirt makes before any change, in its words. */
static int check_targets(struct vd_job *job, bool live, bool config)
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
    if (affects_config(dom, job->flags))
        set_memory_config(job);
    else
        vd_job_done(job);
}

void vd_domain_job_set_memory(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    bool live = affects_live(dom, job->flags);
    bool config = affects_config(dom, job->flags);
    if (check_targets(job, live, config) < 0)
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

void vd_domain_job_set_vcpus(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned n = (unsigned)job->value;
    bool live = affects_live(dom, job->flags);
    bool config = affects_config(dom, job->flags);
    bool maximum = job->flags & VIR_DOMAIN_VCPU_MAXIMUM;
    if (check_targets(job, live, config) < 0)
        return;
    if (n == 0) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: argument unsupported: zero vCPUs");
        return;
    }
    if (live) {
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
        if (n != now) {
            /* vireo-vmm has no CPU hot-plug: libvirt's words when QEMU
             * offers no hotpluggable vCPU entity for the change. */
            vd_job_fail(job, VIR_ERR_INVALID_ARG,
                        "invalid argument: failed to find appropriate hotpluggable vcpus to "
                        "reach the desired target vcpu count");
            return;
        }
        if (!config) {
            vd_job_done(job);
            return;
        }
    }
    struct domain_def *def = domain_def_copy(vd_domain_config(dom));
    if (maximum) {
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
    commit(job, def);
}
