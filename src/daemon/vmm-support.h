/*
 * vmm-support.h - can vireo-vmm run this definition? One table says, for
 * every element, attribute and value of libvirt's domain XML that a
 * definition can hold, whether vireod honours it when it starts the VM,
 * refuses it, or refuses it until the issue that plans it lands. The start
 * path (vmm_argv_build) checks a definition against it before building a
 * command line, so nothing accepted at define time is dropped in silence at
 * start: it runs as written, or `start` fails with one line in libvirt's
 * words (`unsupported configuration: <element ...>: why`).
 *
 * docs/domain-support.md is generated from the same table (a unit test
 * compares them).
 */
#ifndef VIREO_DAEMON_VMM_SUPPORT_H
#define VIREO_DAEMON_VMM_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "conf/domain_conf.h"

struct verr;

enum vmm_support_status {
    VMM_SUPPORT_HONOURED, /* vireo-vmm does what the element says */
    VMM_SUPPORT_REFUSED,  /* start fails: no plan to support it */
    VMM_SUPPORT_PLANNED,  /* start fails until the issue in `issue` lands */
};

struct vmm_support_rule {
    const char *what;  /* element path, '@' before an attribute: "cpu@mode", "disk/driver@cache" */
    const char *value; /* the value it is about; "*" = any other value; NULL = present at all */
    enum vmm_support_status status;
    unsigned issue;   /* PLANNED: the issue number that plans it */
    const char *note; /* HONOURED: how; otherwise the reason printed after the element */
};

/* The table, in the order docs/domain-support.md lists it. */
const struct vmm_support_rule *vmm_support_rules(size_t *n);

/* The rule for what=value (value NULL: presence), falling back to what's "*" rule; NULL when
 * the table has no rule for `what` at all. */
const struct vmm_support_rule *vmm_support_lookup(const char *what, const char *value);

/*
 * Checks every element of def against the table. Returns 0, or -ENOTSUP with
 * one line in err naming the first element vireo-vmm cannot honour.
 */
int vmm_support_check(const struct domain_def *def, struct verr *err);

/* Only the lifecycle actions (on_poweroff, on_reboot, on_crash), for define-time checks. */
/* The machine family of a <type machine=> value: "pc" (pc, pc-i440fx-*, pc-*), "q35" (q35,
 * pc-q35-*), otherwise the value itself ("microvm"; "" for none). */
const char *vmm_support_machine_family(const char *machine);

int vmm_support_check_lifecycle(const struct domain_def *def, struct verr *err);

/* The table as the Markdown of docs/domain-support.md (malloc'd). */
char *vmm_support_markdown(void);

/* <graphics passwdValidTo='YYYY-MM-DDTHH:MM:SS'> (UTC, as libvirt reads it) as seconds since
 * the epoch: 0, or -EINVAL when it is not in that form. out may be NULL. */
int vmm_support_parse_valid_to(const char *s, int64_t *out);

#endif
