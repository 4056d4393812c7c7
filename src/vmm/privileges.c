/*
 * privileges.c - becoming an unprivileged user after set-up (-runas). See
 * privileges.h. The C library applies setgroups/setresgid/setresuid to every
 * thread; the kernel empties the effective, permitted and ambient capability
 * sets when the real, effective and saved uids all leave 0. The bounding and
 * inheritable sets it leaves alone, so privileges_prepare() empties them while
 * the process has one thread.
 */
#include "vmm/privileges.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int privileges_resolve(const char *user, struct privileges *out, struct verr *err)
{
    unsigned long uid, gid;
    char tail;
    if (sscanf(user, "%lu:%lu%c", &uid, &gid, &tail) == 2) {
        if (uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
            return verr_set(err, EINVAL, "-runas %s: uid or gid out of range", user);
        out->uid = (uid_t)uid;
        out->gid = (gid_t)gid;
        return 0;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return verr_set(err, errno ? errno : ENOENT,
                        "-runas %s: User \"%s\" doesn't exist (and is not <uid>:<gid>)", user,
                        user);
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    return 0;
}

static int last_cap(void)
{
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n >= 0 && n < 64 ? n : CAP_LAST_CAP;
}

static int cap_sets(struct __user_cap_data_struct data[2], bool write)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(write ? SYS_capset : SYS_capget, &h, data);
}

int privileges_prepare(struct verr *err)
{
    int last = last_cap();
    for (int c = 0; c <= last; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return verr_errno(err, errno, "-runas: cannot drop capability %d from the bounding set",
                              c);
    struct __user_cap_data_struct data[2];
    if (cap_sets(data, false) < 0)
        return verr_errno(err, errno, "-runas: capget");
    data[0].inheritable = data[1].inheritable = 0;
    if (cap_sets(data, true) < 0)
        return verr_errno(err, errno, "-runas: cannot empty the inheritable capabilities");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return verr_errno(err, errno, "-runas: cannot clear the ambient capabilities");
    return 0;
}

int privileges_drop(const struct privileges *p, struct verr *err)
{
    if (setgroups(0, NULL) < 0)
        return verr_errno(err, errno, "-runas: cannot drop the supplementary groups");
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return verr_errno(err, errno, "-runas: cannot set gid %u", (unsigned)p->gid);
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return verr_errno(err, errno, "-runas: cannot set uid %u", (unsigned)p->uid);
    /* uid 0 keeps its capabilities through setresuid: empty them explicitly too */
    struct __user_cap_data_struct data[2] = {{0}};
    if (cap_sets(data, true) < 0)
        return verr_errno(err, errno, "-runas: cannot clear the capabilities");
    if (p->uid != 0 && setuid(0) == 0)
        return verr_set(err, EPERM, "-runas: the process could become root again");
    return 0;
}
