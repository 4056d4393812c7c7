/*
 * domain-reattach.c - a daemon starting up: the domains that were running
 * when the last one stopped (or was killed), then autostart.
 *
 * For every VMM record in the run dir the VMM driver either reattaches to
 * the VMM (its start had finished and the domain's live state is readable:
 * the domain is running or paused again, as QMP says) or ends whatever
 * process of the domain exists; the domain is then shut off, with the
 * reason of what happened: crashed (the VMM died while no daemon watched),
 * failed (a start the daemon did not finish), destroyed (a destroy it did
 * not finish). A sweep then ends any vireo-vmm of this run dir that no
 * domain owns. After this every domain has at most one VMM, and the state
 * each reports says whether it has one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/snapshot.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* The domain a live state describes: the defined one (its persistent
 * definition kept for the next boot) or a transient one. */
static struct vd_domain *domain_for(struct vd_daemon *d, const char *name,
                                    struct vd_domain_status *st)
{
    struct vd_domain *dom = vd_domain_find_name(d, name);
    if (dom && memcmp(dom->def->uuid, st->live->uuid, 16) != 0) {
        log_error("domain '%s': the live state is of another domain (uuid differs); ending it",
                  name);
        return NULL;
    }
    if (dom) {
        vd_index_remove(d, dom); /* the live definition is indexed in its place */
        dom->newdef = dom->def;
        dom->def = st->live;
        vd_index_add(d, dom);
    } else {
        dom = vd_domain_new(d, st->live);
        vd_snapshot_load(dom); /* a transient domain's snapshots live as long as it runs */
    }
    st->live = NULL;
    dom->persistent = dom->persistent || st->persistent;
    return dom;
}

static void reattach_one(struct vd_daemon *d, const char *name)
{
    struct verr err = {0};
    struct vd_domain_status st;
    struct vd_domain *dom = NULL;
    int sr = vd_domain_read_status(d, name, &st, &err);
    if (sr == 0) {
        dom = domain_for(d, name, &st);
        domain_def_free(st.live);
    } else if (sr != -ENOENT) {
        log_warn("domain '%s': no live state: %s", name, verr_msg(&err));
    }
    vd_domain_remove_status(d, name); /* written again below if it runs */

    struct vd_domain *known = dom ? dom : vd_domain_find_name(d, name);
    char uuid[37] = "";
    if (known)
        domain_uuid_format(known->def->uuid, uuid);
    struct vd_vmm *vmm = NULL;
    struct vd_vmm_recovery rc;
    verr_clear(&err);
    int r = vd_vmm_recover(d, name, known ? uuid : NULL, dom != NULL, &vd_domain_vmm_events, dom,
                           &vmm, &rc, &err);
    if (r < 0)
        log_error("%s", verr_msg(&err));
    if (vmm) {
        dom->vmm = vmm;
        dom->id = st.id;
        dom->def->id = st.id;
        dom->start_time = st.start_time;
        if (st.id >= d->next_id)
            d->next_id = st.id + 1;
        /* running or paused as the VMM says, the reason kept when it agrees */
        if (rc.running && st.state != VIR_DOMAIN_RUNNING) {
            dom->state = VIR_DOMAIN_RUNNING;
            dom->reason = VIR_DOMAIN_RUNNING_UNPAUSED;
        } else if (!rc.running && st.state == VIR_DOMAIN_RUNNING) {
            dom->state = VIR_DOMAIN_PAUSED;
            dom->reason = VIR_DOMAIN_PAUSED_UNKNOWN;
        } else {
            dom->state = st.state;
            dom->reason = st.reason;
        }
        vd_domain_console_open_log(dom);
        vd_domain_agent_attach(dom);
        vd_domain_save_status(d, dom);
        /* A daemon that ended between writing a managed save image and
         * ending the VMM (or between a restore from it and its removal)
         * leaves both. The VM that lives is the newer state: an image
         * resumed later would put the guest back behind its own disks. */
        if (vd_domain_has_managed_save(dom)) {
            struct verr e = {0};
            log_warn("domain '%s' runs: its managed save image is stale; removed", name);
            if (vd_domain_managed_save_remove(dom, &e) < 0)
                log_error("domain '%s': %s", name, verr_msg(&e));
        }
        return;
    }
    if (!known)
        return; /* a start of a domain nobody knows any more: ended, nothing to show */
    int reason = VIR_DOMAIN_SHUTOFF_CRASHED, detail = VIR_DOMAIN_EVENT_STOPPED_CRASHED;
    if (rc.had_record && rc.phase == VD_VMM_STOPPING) {
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
    } else if (rc.had_record && rc.phase != VD_VMM_READY) {
        reason = VIR_DOMAIN_SHUTOFF_FAILED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
    }
    if (!dom) {
        /* A defined domain whose start was cut short: it never ran. */
        if (rc.had_record)
            known->reason = reason;
        return;
    }
    log_warn("domain '%s': its vireo-vmm is gone; shut off (%s)", name,
             reason == VIR_DOMAIN_SHUTOFF_CRASHED  ? "crashed"
             : reason == VIR_DOMAIN_SHUTOFF_FAILED ? "failed"
                                                   : "destroyed");
    dom->state = VIR_DOMAIN_RUNNING; /* it was, until now */
    vd_domain_stopped(dom, reason, detail);
    if (!dom->persistent)
        vd_domain_forget(d, dom);
}

/* Names of RUN/NAME.SUFFIX files, each once. */
static size_t run_names(struct vd_daemon *d, char ***out)
{
    DIR *dir = opendir(d->run_dir);
    *out = NULL;
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        const char *suffix = NULL;
        if (l > 4 && strcmp(e->d_name + l - 4, ".vmm") == 0)
            suffix = ".vmm";
        else if (l > 6 && strcmp(e->d_name + l - 6, ".state") == 0)
            suffix = ".state";
        if (!suffix || e->d_name[0] == '.')
            continue;
        char *name = xasprintf("%.*s", (int)(l - strlen(suffix)), e->d_name);
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp((*out)[i], name) == 0;
        if (seen) {
            free(name);
            continue;
        }
        *out = xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = name;
    }
    closedir(dir);
    return n;
}

static bool keep_attached(void *ctx, const char *name, pid_t pid)
{
    struct vd_domain *dom = vd_domain_find_name(ctx, name);
    return dom && dom->vmm && vd_vmm_pid(dom->vmm) == pid;
}

void vd_domain_reattach_all(struct vd_daemon *d)
{
    char **names;
    size_t n = run_names(d, &names);
    for (size_t i = 0; i < n; i++) {
        reattach_one(d, names[i]);
        free(names[i]);
    }
    free(names);
    int ended = vd_vmm_sweep(d, keep_attached, d);
    if (ended)
        log_warn("ended %d vireo-vmm process%s that no domain owned", ended, ended > 1 ? "es" : "");
}

void vd_domain_autostart_all(struct vd_daemon *d)
{
    for (struct vd_domain *x = d->domains; x; x = x->next) {
        if (!x->autostart || vd_domain_is_active(x))
            continue;
        vd_job_submit_internal(x, "autostart", vd_domain_job_start);
    }
}
