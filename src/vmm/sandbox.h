/*
 * sandbox.h - vireo-vmm's -sandbox: a seccomp system-call allow-list built
 * with libseccomp, installed once set-up is over and before guest code first
 * runs, with QEMU 7.2's option syntax (-sandbox on[,obsolete=allow|deny]
 * [,elevateprivileges=allow|deny|children][,spawn=allow|deny]
 * [,resourcecontrol=allow|deny]). docs/vmm.md lists the groups and why each
 * call is there.
 */
#ifndef VIREO_VMM_SANDBOX_H
#define VIREO_VMM_SANDBOX_H

#include "util/error.h"

#include <stdbool.h>

enum sandbox_elevate {
    SANDBOX_ELEVATE_ALLOW,    /* QEMU's default */
    SANDBOX_ELEVATE_DENY,     /* set*uid/set*gid kill the process */
    SANDBOX_ELEVATE_CHILDREN, /* as deny (no_new_privs is set either way) */
};

struct sandbox_config {
    bool enabled;        /* -sandbox on */
    bool obsolete_allow; /* obsolete=allow (QEMU's default is deny) */
    enum sandbox_elevate elevate;
    bool spawn_deny;           /* spawn=deny: fork/vfork/execve and non-thread clone kill */
    bool resourcecontrol_deny; /* resourcecontrol=deny: scheduling calls fail with EPERM */
};

/* Parses a -sandbox argument (QEMU's syntax and error words); the last -sandbox wins. */
int sandbox_parse(const char *arg, struct sandbox_config *out, struct verr *err);

/*
 * Sets no_new_privs and loads the filter into every thread of the process
 * (TSYNC). A call outside the allow-list (or in a denied group) prints one line
 * naming it on stderr (when the thread can take SIGSYS) and kills the process
 * with SIGSYS, as QEMU's
 * SCMP_ACT_KILL_PROCESS does; resourcecontrol=deny's calls fail with EPERM
 * instead, as in QEMU. Call it at most once.
 */
int sandbox_install(const struct sandbox_config *cfg, struct verr *err);

#endif
