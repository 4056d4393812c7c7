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
 * TODO: vCPU unplug (device_del, which vireo-vmm does not have for CPUs yet),
 * setvcpu (one vCPU by id) and --guest.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/tune.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
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
    if (r < 0 || !json_object_is_type(ret, json_type_array)) {
        fail(lv, VIR_ERR_INTERNAL_ERROR, "%s", error ? error : "no answer to query-cpus-fast");
        return;
    }
    size_t len = json_object_array_length(ret), n = 0;
    pid_t *tids = xcalloc(len ? len : 1, sizeof(*tids));
    for (size_t i = 0; i < len; i++) {
        struct json_object *cpu = json_object_array_get_idx(ret, i), *idx, *tid;
        if (!json_object_object_get_ex(cpu, "cpu-index", &idx) ||
            !json_object_object_get_ex(cpu, "thread-id", &tid))
            continue;
        int64_t k = json_object_get_int64(idx);
        if (k >= 0 && (size_t)k < len) {
            tids[k] = (pid_t)json_object_get_int64(tid);
            if ((size_t)k + 1 > n)
                n = (size_t)k + 1;
        }
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
    lv->next++;
    dom->def->vcpus_current = lv->next; /* the live definition only */
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
