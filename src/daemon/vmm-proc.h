/*
 * vmm-proc.h - a vireo-vmm process on the host: spawning it, knowing it
 * again later, finding it, ending it.
 *
 * A pid alone names nothing once the process is gone: the kernel hands it
 * to the next process that asks. So vireod never signals a VMM by a pid it
 * read from a file. It names one by its identity: the pid, the process's
 * start time (field 22 of /proc/PID/stat, fixed for the life of a process
 * and different for any later holder of the pid) and its command line
 * (vireo-vmm, with the domain's -uuid and this daemon's -pidfile). It holds
 * it through a pidfd (pidfd_open, then the identity is checked against the
 * process the pidfd refers to), and signals it with pidfd_send_signal, so a
 * pid reused in between can never be hit.
 */
#ifndef VIREO_DAEMON_VMM_PROC_H
#define VIREO_DAEMON_VMM_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct verr;

/* Who a VMM is: what its command line must carry. */
struct vd_vmm_ident {
    const char *uuid;    /* "-uuid UUID" (NULL: any) */
    const char *pidfile; /* "-pidfile PATH": this daemon's run dir, this domain */
};

/*
 * Runs argv with stdin /dev/null, stdout and stderr logfd, an empty signal
 * mask and default dispositions, in a new session (vireo-vmm then
 * daemonizes). keep_fd (when >= 0) is handed to the child as its
 * descriptor VD_VMM_LOCK_FD, whatever its number here: the domain lock
 * (vmm-record.h), held by the VMM for as long as it lives. The nextra
 * descriptors in extra (tap devices) are handed over under their own
 * numbers, which must be above VD_VMM_LOCK_FD.
 * With ns (qemu.conf's namespaces = [ "mount" ], vmm-namespace.h) the child enters a mount
 * namespace of its own with a private /dev before the exec; a failure there fails the spawn
 * with its step in err (and in the log), and nothing of it is left.
 */
#define VD_VMM_LOCK_FD 3
struct vd_ns_plan;
/* memlock: the VMM's RLIMIT_MEMLOCK (<memoryBacking><locked/>), or NULL to inherit vireod's;
 * set between fork and exec, so the VMM is spawned as in a namespace. */
int vd_spawn(char **argv, int logfd, int keep_fd, const int *extra, size_t nextra,
             struct vd_ns_plan *ns, const struct rlimit *memlock, pid_t *pid, struct verr *err);

/* The start time of pid (clock ticks since boot), or 0 with err set. */
uint64_t vd_proc_start_time(pid_t pid, struct verr *err);
/* Whether pid is a live (not zombie) vireo-vmm whose command line carries id. */
bool vd_proc_is_vmm(pid_t pid, const struct vd_vmm_ident *id);

/*
 * A pidfd for pid if it is the VMM id that started at start_time (any
 * start time when start_time is 0); -1 with errno ESRCH when the pid is
 * gone or now names another process, another errno when no pidfd could be
 * had (EMFILE, ...).
 */
int vd_proc_open(pid_t pid, uint64_t start_time, const struct vd_vmm_ident *id);

/* pidfd_send_signal: 0 or -errno (-ESRCH: it has already exited). */
int vd_proc_signal(int pidfd, int signo);
/* Waits up to timeout_ms for the process behind pidfd to exit; true if it did. */
bool vd_proc_wait_exit(int pidfd, int timeout_ms);

/*
 * Calls visit for every live vireo-vmm process on the host, with its
 * command line (argc words; argv[argc] is NULL).
 */
typedef void (*vd_proc_visit_fn)(void *ctx, pid_t pid, char **argv, size_t argc);
void vd_proc_scan(vd_proc_visit_fn visit, void *ctx);
/* The value after option opt ("-uuid") in argv, or NULL. */
const char *vd_proc_arg(char **argv, size_t argc, const char *opt);

/*
 * Every live VMM process whose command line carries id: up to max pids in
 * pids; returns how many were found (may exceed max).
 */
size_t vd_proc_find(const struct vd_vmm_ident *id, pid_t *pids, size_t max);

/*
 * Ends every VMM process carrying id (SIGKILL through a pidfd; by pid when
 * no pidfd can be had) and waits for each to exit, up to timeout_ms in
 * all. Returns how many it ended, or -ETIMEDOUT if one outlived the wait.
 */
int vd_proc_kill_all(const struct vd_vmm_ident *id, int timeout_ms);

/* CPU time (user + system) of pid in ns; 0 when unknown. */
uint64_t vd_proc_cpu_time(pid_t pid);

#endif
