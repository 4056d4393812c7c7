/*
 * vmm-internal.h - the VMM driver's own state, shared by its files only:
 * vmm-driver.c (watching a running VMM, its operations), vmm-start.c (the
 * start sequence) and vmm-recover.c (a daemon starting up). Nothing
 * outside the driver includes it.
 */
#ifndef VIREO_DAEMON_VMM_INTERNAL_H
#define VIREO_DAEMON_VMM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/vmm-driver.h"
#include "daemon/vmm-proc.h"

struct loop_watch;
struct loop_timer;
struct qmp_client;

#define VMM_QMP_TIMEOUT_MS   5000
#define VMM_DESTROY_GRACE_MS 3000
/* After the process exits, how long QMP may still deliver the event that
 * explains it (SHUTDOWN) before the exit is taken as it is. */
#define VMM_EXIT_GRACE_MS 500

/* A QMP command awaiting its reply. */
struct vmm_op {
    struct vmm_op *next;
    struct vd_vmm *vmm;
    const char *command;
    vd_vmm_done_fn done;
    void *opaque;
    vd_vmm_text_fn text_done;         /* instead of done: a monitor command's reply as text */
    bool raw;                         /* text_done gets the whole QMP reply, errors included */
    vd_vmm_block_stats_fn stats_done; /* instead of done: query-blockstats' counters */
    vd_vmm_json_fn json_done;         /* instead of done: a query's "return" (vd_vmm_query) */
};

struct vd_vmm {
    struct vd_daemon *d;
    char *name;
    char uuid[37];
    char *pidfile; /* its -pidfile: part of its identity */
    pid_t pid;
    uint64_t start_time;
    int pidfd;
    struct loop_watch *pid_watch;
    struct qmp_client *qmp;
    int console_fd;
    struct loop_watch *console_watch;
    int lock_fd; /* the domain lock, when this daemon started it; -1 after a reattach */
    const struct vd_vmm_events *ev;
    void *owner;
    struct vmm_op *ops;
    bool destroying;          /* vd_vmm_destroy: the exit is a destroy */
    bool quitting;            /* vd_vmm_quit: the exit is a shutdown */
    bool shutdown_seen;       /* QMP SHUTDOWN came before the exit */
    bool exited;              /* the pidfd fired */
    bool qmp_lost;            /* QMP ended while the process lived: reported unless it exits soon */
    struct loop_timer *timer; /* the kill escalation, or the wait for QMP's last words */
    int kill_stage;           /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
    vd_vmm_done_fn save_done; /* a save under way (vd_vmm_save) */
    void *save_opaque;
    int save_fd;              /* the caller's: passed with getfd */
    int save_state;           /* 1 capabilities, 2 getfd, 3 migrate sent: waiting for MIGRATION */
    char *save_uri;           /* vd_vmm_migrate_uri: the VMM connects there (no getfd) */
    vd_vmm_done_fn snap_done; /* a snapshot-save/-load/-delete job under way */
    void *snap_opaque;
    char snap_job_id[32];
    int snap_state; /* 1 sent, 2 concluded: reading its outcome */
    unsigned snap_serial;
    pid_t *vcpu_tids; /* query-cpus-fast's thread-id of each vCPU, by index */
    size_t nvcpu_tids;
    struct vd_iothread_tid *iothreads; /* query-iothreads (ids iothreadN), ascending */
    size_t niothreads;
    struct vd_vmm_dimm *dimms; /* query-memory-devices at start */
    size_t ndimms;
    vd_vmm_done_fn stop_done; /* the destroy or quit waiting for the exit */
    void *stop_opaque;
};

/* A handle for a process already known by pidfd (fds taken over). */
struct vd_vmm *vmm_new(struct vd_daemon *d, const char *name, const char *uuid, pid_t pid,
                       uint64_t start_time, int pidfd);
/* Starts watching: the pidfd, QMP events, the console. */
int vmm_attach(struct vd_vmm *vmm, const struct vd_vmm_events *ev, void *owner, struct verr *err);
void vmm_free(struct vd_vmm *vmm);
struct vd_vmm_ident vmm_ident(const struct vd_vmm *vmm);
/* Connects to the VMM's console socket (non-blocking fd in *fd). */
int vmm_console_connect(const char *path, int *fd, struct verr *err);
/* query-cpus-fast on a blocking client: each vCPU's host thread id, by cpu-index. */
int vmm_query_vcpu_tids(struct qmp_client *qmp, pid_t **tids, size_t *n, struct verr *err);
/* query-iothreads on a blocking client: libvirt's I/O threads (ids "iothreadN") and their
 * host thread ids, by ascending N. */
int vmm_query_iothreads(struct qmp_client *qmp, struct vd_iothread_tid **out, size_t *n,
                        struct verr *err);
/* query-status on a blocking client: 1 running, 0 stopped, < 0 error. */
int vmm_query_running(struct qmp_client *qmp, struct verr *err);

#endif
