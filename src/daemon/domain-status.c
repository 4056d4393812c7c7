/*
 * domain-status.c - a running domain's live state in the run dir, for the
 * next daemon: RUN/NAME.xml (the live definition, with its id) and
 * RUN/NAME.state (id, state, reason, persistent, start time).
 *
 * Both are replaced atomically after each change of state and never
 * synced (see store.c). The VMM behind the domain has its own record,
 * written by the VMM driver (vmm-record.h); a daemon starting up reattaches
 * to a VMM only when it can read both, so a kill between the two leaves a
 * VMM that is ended, never one running under a state nobody knows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

static char *status_path(struct vd_daemon *d, const char *name, const char *suffix)
{
    return xasprintf("%s/%s%s", d->run_dir, name, suffix);
}

void vd_domain_save_status(struct vd_daemon *d, struct vd_domain *dom)
{
    struct verr err = {0};
    char *xml = domain_def_format(dom->def, DOMAIN_FORMAT_SECURE);
    char *path = status_path(d, dom->def->name, ".xml");
    if (vd_store_write(d, path, xml, strlen(xml), false, &err) < 0)
        log_warn("%s", verr_msg(&err));
    free(path);
    free(xml);
    char *st =
        xasprintf("id=%d\nstate=%d\nreason=%d\npersistent=%d\nstart=%llu\n", dom->id, dom->state,
                  dom->reason, dom->persistent, (unsigned long long)dom->start_time);
    path = status_path(d, dom->def->name, ".state");
    if (vd_store_write(d, path, st, strlen(st), false, &err) < 0)
        log_warn("%s", verr_msg(&err));
    free(path);
    free(st);
}

void vd_domain_remove_status(struct vd_daemon *d, const char *name)
{
    static const char *const suffixes[] = {".state", ".xml"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char *p = status_path(d, name, suffixes[i]);
        unlink(p);
        free(p);
    }
}

/* key=value lines of NAME.state; -1 when absent. */
static long long state_get(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return strtoll(p + kl + 1, NULL, 10);
    }
    return -1;
}

int vd_domain_read_status(struct vd_daemon *d, const char *name, struct vd_domain_status *st,
                          struct verr *err)
{
    memset(st, 0, sizeof(*st));
    char *spath = status_path(d, name, ".state");
    char *xpath = status_path(d, name, ".xml");
    struct buf b = BUF_INIT;
    int r = file_read_all(spath, 4096, &b, err);
    if (r == 0)
        r = domain_def_parse_file(xpath, DOMAIN_PARSE_LIVE, &st->live, err);
    if (r == 0) {
        buf_append(&b, "", 1);
        const char *text = (const char *)b.data;
        st->id = (int)state_get(text, "id");
        st->state = (int)state_get(text, "state");
        st->reason = (int)state_get(text, "reason");
        st->persistent = state_get(text, "persistent") == 1;
        long long start = state_get(text, "start");
        st->start_time = start > 0 ? (uint64_t)start : 0;
        if (st->id < 1 || st->state < VIR_DOMAIN_RUNNING || st->state > VIR_DOMAIN_PMSUSPENDED ||
            st->state == VIR_DOMAIN_SHUTOFF || st->reason < 0)
            r = verr_set(err, EINVAL, "%s: not the state of a running domain", spath);
        else if (strcmp(st->live->name, name) != 0)
            r = verr_set(err, EINVAL, "%s: the live definition is of domain '%s'", xpath,
                         st->live->name);
    }
    if (r < 0) {
        domain_def_free(st->live);
        st->live = NULL;
    }
    buf_free(&b);
    free(spath);
    free(xpath);
    return r;
}
