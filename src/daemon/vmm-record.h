/*
 * vmm-record.h - what vireod writes down about a VMM so that a daemon
 * killed at any moment finds it again: the record (RUN/NAME.vmm) and the
 * domain lock (RUN/NAME.lock).
 *
 * The record says how far a start got and who the VMM is. It is created
 * atomically (temporary file and rename) and then overwritten in place
 * with one write of its fixed size (vmm-record.c), so a kill never leaves
 * half of one; at each step of a start, each one written before the step
 * it announces:
 *
 *   phase=starting              before the VMM is spawned (no pid yet)
 *   phase=spawned pid= start=   once its pid is known, before it runs any
 *                               guest code (it is started with -S)
 *   phase=ready                 the start is complete; the domain layer
 *                               writes its own live state next
 *   phase=stopping              a destroy (or the end after a power-off)
 *                               is under way
 *
 * A restarted daemon reattaches to a ready VMM whose domain state it can
 * read, and ends every other one (vmm-recover.c). The record alone cannot
 * cover the instant between spawn and "spawned": the lock does. It is an
 * flock() on RUN/NAME.lock, taken before the record is first written and
 * handed to the VMM process (which holds it until it exits), so "the lock
 * is free" means "no process of this domain is alive", whatever any file
 * says, and a second VMM cannot be started while the first lives.
 */
#ifndef VIREO_DAEMON_VMM_RECORD_H
#define VIREO_DAEMON_VMM_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct verr;

enum vd_vmm_phase {
    VD_VMM_STARTING,
    VD_VMM_SPAWNED,
    VD_VMM_READY,
    VD_VMM_STOPPING,
};

struct vd_vmm_record {
    enum vd_vmm_phase phase;
    pid_t pid;           /* 0 while starting */
    uint64_t start_time; /* the pid's start time (vmm-proc.h) */
    char uuid[37];
};

/* RUN/NAME.vmm (malloc'd) and the other per-domain paths the driver owns. */
char *vd_record_path(const char *run_dir, const char *name, const char *suffix);

int vd_record_write(const char *run_dir, const char *name, const struct vd_vmm_record *rec,
                    struct verr *err);
/* -ENOENT when there is none; -EINVAL (err says why) when it does not parse. */
int vd_record_read(const char *run_dir, const char *name, struct vd_vmm_record *rec,
                   struct verr *err);
/* Removes the record and the VMM's own files (pid file, QMP and console sockets). */
void vd_record_remove(const char *run_dir, const char *name);
const char *vd_record_phase_name(enum vd_vmm_phase phase);

/*
 * Takes the domain lock without waiting: the open descriptor (close-on-
 * exec) holding it, -EWOULDBLOCK when a process (a VMM of this domain)
 * holds it, or another -errno.
 */
int vd_lock_take(const char *run_dir, const char *name, struct verr *err);
/* Whether some process holds the lock now (false when there is no lock file). */
bool vd_lock_held(const char *run_dir, const char *name);
/* Waits up to timeout_ms for the lock to be free; true if it is. */
bool vd_lock_wait_free(const char *run_dir, const char *name, int timeout_ms);
/* Removes the lock file of a domain that is gone (undefined, or transient
 * and stopped), if no process holds it. */
void vd_lock_remove(const char *run_dir, const char *name);

#endif
