/*
 * privileges.h - vireo-vmm's -runas USER (QEMU 7.2) and -run-with user=USER:
 * the process opens what it needs as root (/dev/kvm, images, taps, sockets),
 * then becomes USER: that user's uid and primary gid, no supplementary
 * groups, no capabilities (effective, permitted, inheritable and ambient
 * empty, bounding set dropped).
 */
#ifndef VIREO_VMM_PRIVILEGES_H
#define VIREO_VMM_PRIVILEGES_H

#include "util/error.h"

#include <sys/types.h>

struct privileges {
    uid_t uid;
    gid_t gid;
};

/* Looks USER up: a user name, or UID:GID in numbers (QEMU 7.2's spellings). */
int privileges_resolve(const char *user, struct privileges *out, struct verr *err);

/*
 * Before any thread exists (the bounding and inheritable sets are per thread and
 * inherited by the threads created later): drops the bounding set and empties the
 * inheritable set. The effective set stays, so set-up still runs as root.
 */
int privileges_prepare(struct verr *err);

/* After set-up: becomes the user in every thread; checks root cannot come back. */
int privileges_drop(const struct privileges *p, struct verr *err);

#endif
