/*
 * live-vcpus.c - setvcpus --live upwards: vCPUs plugged into the running
 * vireo-vmm as libvirt 9.0 plugs them into QEMU. query-hotpluggable-cpus
 * gives each slot's qom type and topology properties (listed last slot
 * first); each new vCPU N is device_add {driver: type, id: "vcpuN", props},
 * one at a time, the live definition's current count following each one that
 * succeeds (a failure part-way leaves the ones already plugged, as libvirt).
 * Then query-cpus-fast gives the new threads, and the domain's placement
 * (<vcpupin>, <vcpu cpuset>, the vcpuN cgroups) is applied again over every
 * vCPU thread so the new ones are placed like the others.
 *
 * setvcpus --live downwards: as libvirt 9.0 unplugs from QEMU. Only vCPUs
 * plugged live (query-hotpluggable-cpus shows them at /machine/peripheral/ID)
 * can go, last first; libvirt's "failed to find appropriate hotpluggable
 * vcpus" otherwise, before anything is sent. Each is a device_del, then a
 * wait for DEVICE_DELETED of at most libvirt's 5 s (the guest must stop the
 * CPU and eject it): none in time fails the job with libvirt's "vcpu unplug
 * request timed out" and leaves the count as it is. Whenever a vCPU's
 * DEVICE_DELETED comes (in time or later), the live count follows, the
 * vCPU's thread leaves the daemon's list and its vcpuN cgroup is removed.
 *
 * setvcpu (live-change.c) plugs or unplugs one vCPU through the same two paths; a
 * definition with <vcpus> has the vCPU's state follow (enabled, hotpluggable, the next
 * order). setvcpus --guest goes through the guest agent (rpc-agent.c).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/tune.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "daemon/cgroup.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

struct live_vcpus {
    struct vd_job *job;
    unsigned next, to;
    struct json_object *slots; /* query-hotpluggable-cpus, held */
    void (*then)(struct vd_job *job);
};

static void finish(struct live_vcpus *lv, bool ok)
{
    struct vd_job *job = lv->job;
    void (*then)(struct vd_job *) = lv->then;
    if (lv->slots)
        json_object_put(lv->slots);
    free(lv);
    if (ok)
        then(job);
}

static void fail(struct live_vcpus *lv, int code, const char *fmt, const char *detail)
{
    vd_job_fail(lv->job, code, fmt, detail);
    finish(lv, false);
}

/* The domain's placement again, over every vCPU thread (the new ones included). */
static void place(struct vd_domain *dom)
{
    struct verr err = {0};
    struct vd_tune_plan *plan = NULL;
    const pid_t *tids;
    size_t n = vd_vmm_vcpu_tids(dom->vmm, &tids);
    size_t nits;
    const struct vd_iothread_tid *its;
    nits = vd_vmm_iothreads(dom->vmm, &its);
    if (vd_tune_plan_make(dom->def, vd_daemon_cgroups(dom->daemon), &plan, &err) < 0 ||
        vd_tune_apply(plan, vd_vmm_pid(dom->vmm), tids, n, its, nits, &err) < 0)
        log_warn("domain '%s': placing the new vCPUs: %s", dom->def->name, verr_msg(&err));
    vd_tune_plan_free(plan);
}

static void tids_done(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct live_vcpus *lv = opaque;
    struct vd_domain *dom = lv->job->dom;
    pid_t *tids;
    size_t n;
    if (r < 0 || vd_vmm_parse_vcpu_tids(ret, &tids, &n) < 0) {
        fail(lv, VIR_ERR_INTERNAL_ERROR, "%s", error ? error : "no answer to query-cpus-fast");
        return;
    }
    vd_vmm_set_vcpu_tids(dom->vmm, tids, n);
    place(dom);
    finish(lv, true);
}

static void plug_next(struct live_vcpus *lv);

static void plug_done(void *opaque, int r, const char *error)
{
    struct live_vcpus *lv = opaque;
    struct vd_domain *dom = lv->job->dom;
    if (r < 0) {
        fail(lv, VIR_ERR_INTERNAL_ERROR, "%s", error ? error : "device_add failed");
        return;
    }
    /* the live definition only; its <vcpus> too when it has one */
    domain_vcpus_set(dom->def, lv->next, true, true, domain_vcpus_next_order(dom->def));
    lv->next++;
    dom->def->vcpus_current = lv->next;
    vd_domain_save_status(dom->daemon, dom);
    plug_next(lv);
}

static void plug_next(struct live_vcpus *lv)
{
    struct vd_domain *dom = lv->job->dom;
    struct verr err = {0};
    if (lv->next == lv->to) {
        if (vd_vmm_query(dom->vmm, "query-cpus-fast", NULL, tids_done, lv, &err) < 0)
            fail(lv, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
        return;
    }
    size_t len = json_object_array_length(lv->slots);
    if (lv->next >= len) {
        fail(lv, VIR_ERR_INVALID_ARG, "%s",
             "invalid argument: failed to find appropriate hotpluggable vcpus to reach the "
             "desired target vcpu count");
        return;
    }
    /* Listed last slot first: slot k is entry len - 1 - k. */
    struct json_object *slot = json_object_array_get_idx(lv->slots, len - 1 - lv->next);
    struct json_object *type, *props;
    if (!json_object_object_get_ex(slot, "type", &type) ||
        !json_object_object_get_ex(slot, "props", &props) ||
        json_object_object_get_ex(slot, "qom-path", NULL)) {
        fail(lv, VIR_ERR_INVALID_ARG, "%s",
             "invalid argument: failed to find appropriate hotpluggable vcpus to reach the "
             "desired target vcpu count");
        return;
    }
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "driver", json_object_get(type));
    char id[32];
    snprintf(id, sizeof(id), "vcpu%u", lv->next);
    json_object_object_add(args, "id", json_object_new_string(id));
    json_object_object_foreach(props, key, val)
    {
        json_object_object_add(args, key, json_object_get(val));
    }
    if (vd_vmm_hotplug_command(dom->vmm, "device_add", args, -1, plug_done, lv, &err) < 0)
        fail(lv, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
}

static void slots_done(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct live_vcpus *lv = opaque;
    if (r < 0 || !json_object_is_type(ret, json_type_array)) {
        fail(lv, VIR_ERR_INTERNAL_ERROR, "%s",
             error ? error : "no answer to query-hotpluggable-cpus");
        return;
    }
    lv->slots = json_object_get(ret);
    plug_next(lv);
}

void vd_domain_live_add_vcpus(struct vd_job *job, unsigned from, unsigned to,
                              void (*then)(struct vd_job *job))
{
    struct live_vcpus *lv = xcalloc(1, sizeof(*lv));
    *lv = (struct live_vcpus){job, from, to, NULL, then};
    struct verr err = {0};
    if (vd_vmm_query(job->dom->vmm, "query-hotpluggable-cpus", NULL, slots_done, lv, &err) < 0)
        fail(lv, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
}

/* ---- unplug ---- */

/* libvirt's qemuDomainRemoveDeviceWaitTime. */
#define VCPU_UNPLUG_WAIT_NS (5000ull * 1000000ull)

/* A setvcpus --live downwards in flight (dom->vcpu_unplug). */
struct vcpu_unplug {
    struct vd_job *job;
    unsigned next, to; /* vCPU next - 1 goes next; done at to */
    struct loop_timer *timer;
    void (*then)(struct vd_job *job);
};

static void unplug_free(struct vd_domain *dom)
{
    struct vcpu_unplug *u = dom->vcpu_unplug;
    if (!u)
        return;
    dom->vcpu_unplug = NULL;
    loop_timer_free(u->timer);
    free(u);
}

void vd_domain_live_vcpus_free(struct vd_domain *dom)
{
    unplug_free(dom);
}

static void unplug_fail(struct vd_domain *dom, int code, const char *fmt, const char *detail)
{
    struct vcpu_unplug *u = dom->vcpu_unplug;
    struct vd_job *job = u->job;
    unplug_free(dom);
    vd_job_fail(job, code, fmt, detail);
}

static void unplug_next(struct vd_domain *dom);

static void unplug_timeout(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    unplug_fail(opaque, VIR_ERR_OPERATION_TIMEOUT, "%s",
                "Timed out during operation: vcpu unplug request timed out. Unplug result must "
                "be manually inspected in the domain");
}

static void unplug_sent(void *opaque, int r, const char *error)
{
    struct vd_domain *dom = opaque;
    struct vcpu_unplug *u = dom->vcpu_unplug;
    if (!u)
        return;
    if (r < 0) {
        const char *p = error ? strstr(error, ": ") : NULL;
        const char *desc = p && !strncmp(error, "vireo-vmm refused ", 18) ? p + 2
                           : error                                        ? error
                                                                          : "?";
        unplug_fail(dom, VIR_ERR_INTERNAL_ERROR,
                    "internal error: unable to execute QEMU command 'device_del': %s", desc);
        return;
    }
    if (u->timer) /* DEVICE_DELETED has not come already */
        loop_timer_arm(u->timer, VCPU_UNPLUG_WAIT_NS, 0);
}

static void unplug_next(struct vd_domain *dom)
{
    struct vcpu_unplug *u = dom->vcpu_unplug;
    if (u->next == u->to) {
        struct vd_job *job = u->job;
        void (*then)(struct vd_job *) = u->then;
        unplug_free(dom);
        then(job);
        return;
    }
    char id[32];
    snprintf(id, sizeof(id), "vcpu%u", u->next - 1);
    loop_timer_free(u->timer);
    u->timer = loop_timer_new(dom->daemon->loop, unplug_timeout, dom);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(id));
    struct verr err = {0};
    if (vd_vmm_hotplug_command(dom->vmm, "device_del", args, -1, unplug_sent, dom, &err) < 0)
        unplug_fail(dom, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
}

/* Every vCPU from `to` to `from - 1` must be one plugged live, with the id vcpuN. */
static void unplug_slots_done(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct vd_domain *dom = opaque;
    struct vcpu_unplug *u = dom->vcpu_unplug;
    if (!u)
        return;
    if (r < 0 || !json_object_is_type(ret, json_type_array)) {
        unplug_fail(dom, VIR_ERR_INTERNAL_ERROR, "%s",
                    error ? error : "no answer to query-hotpluggable-cpus");
        return;
    }
    size_t len = json_object_array_length(ret);
    for (unsigned k = u->to; k < u->next; k++) {
        struct json_object *slot = k < len ? json_object_array_get_idx(ret, len - 1 - k) : NULL;
        struct json_object *qp;
        char want[64];
        snprintf(want, sizeof(want), "/machine/peripheral/vcpu%u", k);
        if (!slot || !json_object_object_get_ex(slot, "qom-path", &qp) ||
            strcmp(json_object_get_string(qp), want) != 0) {
            unplug_fail(dom, VIR_ERR_INVALID_ARG, "%s",
                        "invalid argument: failed to find appropriate hotpluggable vcpus to "
                        "reach the desired target vcpu count");
            return;
        }
    }
    unplug_next(dom);
}

void vd_domain_live_del_vcpus(struct vd_job *job, unsigned from, unsigned to,
                              void (*then)(struct vd_job *job))
{
    struct vd_domain *dom = job->dom;
    if (dom->vcpu_unplug) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "%s",
                    "operation failed: another vCPU unplug is still pending");
        return;
    }
    struct vcpu_unplug *u = xcalloc(1, sizeof(*u));
    *u = (struct vcpu_unplug){job, from, to, NULL, then};
    dom->vcpu_unplug = u;
    struct verr err = {0};
    if (vd_vmm_query(dom->vmm, "query-hotpluggable-cpus", NULL, unplug_slots_done, dom, &err) < 0)
        unplug_fail(dom, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
}

void vd_domain_vcpu_deleted(struct vd_domain *dom, const char *data)
{
    struct json_object *o = data ? json_tokener_parse(data) : NULL, *v = NULL;
    const char *id =
        o && json_object_object_get_ex(o, "device", &v) ? json_object_get_string(v) : NULL;
    unsigned k;
    char tail;
    struct domain_def *def = dom->def;
    unsigned now = def->vcpus_current ? def->vcpus_current : def->vcpus;
    if (!id || sscanf(id, "vcpu%u%c", &k, &tail) != 1 || k == 0 || k + 1 != now) {
        json_object_put(o);
        return;
    }
    json_object_put(o);
    domain_vcpus_set(def, k, false, true, 0);
    def->vcpus_current = k; /* the live definition only */
    vd_domain_save_status(dom->daemon, dom);
    const pid_t *tids;
    size_t n = dom->vmm ? vd_vmm_vcpu_tids(dom->vmm, &tids) : 0;
    if (n > k) {
        pid_t *keep = xcalloc(k, sizeof(*keep));
        memcpy(keep, tids, k * sizeof(*keep));
        vd_vmm_set_vcpu_tids(dom->vmm, keep, k);
    }
    /* Its group is empty now (the VMM joined the thread before the event). */
    const struct vd_cgroups *cg = vd_daemon_cgroups(dom->daemon);
    char sub[32];
    snprintf(sub, sizeof(sub), "vcpu%u", k);
    for (int c = 0; cg && c < VD_CG_N; c++) {
        char *path = vd_cg_path(cg, (enum vd_cg_ctrl)c, def->name, sub);
        if (path && rmdir(path) < 0 && errno != ENOENT)
            log_warn("domain '%s': removing %s: %s", def->name, path, strerror(errno));
        free(path);
    }
    log_info("domain '%s': vCPU %u unplugged", def->name, k);
    struct vcpu_unplug *u = dom->vcpu_unplug;
    if (u && u->next == k + 1) {
        loop_timer_free(u->timer); /* unplug_sent will see no timer */
        u->timer = NULL;
        u->next--;
        unplug_next(dom);
    }
}
