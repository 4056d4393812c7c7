/*
 * vmm-driver.h - vireod's VMM driver: typed operations on one running
 * vireo-vmm, and one interface through which it reports back.
 *
 * The driver owns everything about the process: the command line (through
 * vmm-argv.h), the spawn, its pidfd and the watch on it, the QMP
 * connection and every byte of JSON on it, the console socket, the
 * SIGTERM -> SIGKILL escalation of a destroy, and the run-dir record and
 * domain lock (vmm-record.h) that let a daemon killed at any moment find
 * the VMM again. The domain layer (lifecycle.c) holds one struct vd_vmm per
 * running domain and never sees QMP or a pid.
 *
 * Operations complete asynchronously on the loop: each takes a done
 * callback, called exactly once with 0 or an error line, unless the
 * operation returns < 0 at once (then it is never called). Nothing blocks
 * the loop but the few milliseconds of a start's record writes.
 *
 * What happens by itself (the guest powering off or rebooting, the balloon
 * moving, console output, the process ending) comes through struct
 * vd_vmm_events, given at start or reattach. After events->exited the
 * driver frees the struct vd_vmm: the owner forgets it there.
 *
 * Adding an operation (save, migrate, hot-plug, queries) is one more
 * function beside these: a QMP command through vmm_op_send() in
 * vmm-driver.c with a typed reply.
 */
#ifndef VIREO_DAEMON_VMM_DRIVER_H
#define VIREO_DAEMON_VMM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/vmm-record.h"

struct vd_daemon;
struct vd_vmm;
struct domain_def;
struct verr;

/* What the VMM reports by itself. */
enum vd_vmm_change {
    VD_VMM_GUEST_POWEROFF, /* the guest powered off; the VMM stays, stopped (-no-shutdown) */
    VD_VMM_ENDING,  /* the VMM is ending by itself (a reset under -no-reboot, a quit, a signal) */
    VD_VMM_RESET,   /* the guest was reset (by itself, or vd_vmm_reset) */
    VD_VMM_STOPPED, /* the vCPUs stopped */
    VD_VMM_RESUMED, /* the vCPUs run again */
    VD_VMM_BALLOON, /* the balloon moved: value is the guest's memory now, in bytes */
    VD_VMM_TRAY,    /* a drive's tray moved: id is its device, value 1 open, 0 closed */
};

struct vd_vmm_event {
    enum vd_vmm_change kind;
    bool guest;     /* the guest asked for it (else the host: a command or signal) */
    uint64_t value; /* VD_VMM_BALLOON, VD_VMM_TRAY */
    const char *id; /* VD_VMM_TRAY: the device's id (valid during the call) */
};

/* Why the process ended. */
enum vd_vmm_exit {
    VD_VMM_EXIT_DESTROYED, /* vd_vmm_destroy ended it */
    VD_VMM_EXIT_SHUTDOWN,  /* the guest powered off or reset it away, or vd_vmm_quit */
    VD_VMM_EXIT_CRASHED,   /* it died without saying why */
};

/* The one interface the driver reports through; owner is the caller's. */
struct vd_vmm_events {
    void (*changed)(void *owner, const struct vd_vmm_event *ev);
    void (*console)(void *owner, const void *data, size_t len);
    /* The process is gone; the vmm is freed when this returns. */
    void (*exited)(void *owner, enum vd_vmm_exit how);
    /* Something the owner should log: the driver lost its QMP connection, ... */
    void (*error)(void *owner, const char *what);
    /* Every QMP event as it came, before the driver acts on it (NULL: not wanted): its name,
     * timestamp, and "data" as compact JSON or NULL. */
    void (*qmp_event)(void *owner, const char *name, int64_t seconds, uint32_t micros,
                      const char *data);
};

/* An operation's end: r is 0 or -errno, error a line saying what failed. */
typedef void (*vd_vmm_done_fn)(void *opaque, int r, const char *error);
typedef void (*vd_vmm_started_fn)(void *opaque, struct vd_vmm *vmm, int r, const char *error);

/* The id of a --tls migration's tls-creds-x509 object in both VMMs (libvirt's). */
#define VD_MIGRATE_TLS_ID "objlibvirt_migrate_tls0"

struct vd_vmm_start_args {
    const struct domain_def *def;  /* the live definition (read during the call only) */
    bool paused;                   /* leave the vCPUs stopped */
    uint64_t balloon_bytes;        /* the balloon target set before the guest runs, or 0 */
    unsigned balloon_stats_period; /* <memballoon><stats period=>: seconds, 0 none */
    const char *vnc_password;      /* set over QMP before the guest runs, or NULL */
    int64_t vnc_valid_to;          /* the password's expiry (seconds since the epoch), or 0 */
    /* >= 0: the VM's state is loaded from this descriptor, from its current
     * offset (-incoming defer, getfd, migrate-incoming), before anything
     * runs; the caller keeps it. -1 for none (0 is a descriptor). */
    int incoming_fd;
    /* Non-NULL (incoming_fd -1): an incoming migration with storage (migrate.c): the VMM
     * starts with -incoming defer, runs nbd-server-start on nbd_addr:nbd_port, exports
     * each of nbd_drives writable (nbd-server-add), then migrate-incoming incoming_uri;
     * the stream is then loaded by the VMM while the domain waits for Finish. */
    const char *incoming_uri;
    const char *nbd_addr; /* NULL: no storage to copy (a --parallel migration) */
    int nbd_port;
    char *const *nbd_drives;
    size_t nnbd_drives;
    /* Non-NULL (an incoming migration with --tls): the stream runs over TLS, the VMM the
     * server with x509 credentials from this directory (object-add tls-creds-x509,
     * migrate-set-parameters tls-creds before migrate-incoming); verify-peer as given. */
    const char *incoming_tls_dir;
    bool incoming_tls_verify;
    /* Not 0 (with incoming_uri, --parallel): the multifd capability and multifd-channels
     * set before migrate-incoming, as libvirt sets them on QEMU. */
    unsigned incoming_multifd;
    /* An incoming migration with VIR_MIGRATE_POSTCOPY (incoming_fd): postcopy-ram set before
     * migrate-incoming, and the start ends at postcopy-active (the pages still to come from
     * the source; the VM paused until Finish's cont) as well as at completed. */
    bool incoming_postcopy;
    /* One per interface of def (def->nnets): the tap's descriptor
     * (net-iface.h), or -1; the caller keeps them. NULL when none has one. */
    const int *net_fds;
};

/*
 * Starts a vireo-vmm for def: takes the domain lock, writes the record,
 * spawns it stopped (-S), waits for its QMP greeting (in a worker thread),
 * connects the console, sets the balloon, lets it run (unless paused), and
 * calls done on the loop with the new vmm, or an error after ending
 * whatever it started. Returns < 0 (err filled, done never called) when it
 * cannot begin: a definition vireo-vmm cannot run, the domain lock held by
 * a VMM that still lives, no thread.
 */
int vd_vmm_start(struct vd_daemon *d, const struct vd_vmm_start_args *a,
                 const struct vd_vmm_events *ev, void *owner, vd_vmm_started_fn done, void *opaque,
                 struct verr *err);

/* One drive's I/O counters (QMP query-blockstats), by its -drive id. */
struct json_object;

struct vd_vmm_block_stats {
    char id[64];
    int64_t rd_req, rd_bytes, wr_req, wr_bytes, flush_req;
    int64_t rd_ns, wr_ns, flush_ns;
};
typedef void (*vd_vmm_block_stats_fn)(void *opaque, int r, const struct vd_vmm_block_stats *s,
                                      size_t n, const char *error);
/* Every drive's counters (n of them), or r < 0 and an error. */
int vd_vmm_block_stats(struct vd_vmm *vmm, vd_vmm_block_stats_fn done, void *opaque,
                       struct verr *err);

/* A query's answer: ret is the reply's "return" member (borrowed: valid during the call)
 * when r == 0, else error says why (a QMP error reply included). */
typedef void (*vd_vmm_json_fn)(void *opaque, int r, struct json_object *ret, const char *error);
/* Sends a read-only QMP command (args taken over, may be NULL) and hands back its answer. */
int vd_vmm_query(struct vd_vmm *vmm, const char *command, struct json_object *args,
                 vd_vmm_json_fn done, void *opaque, struct verr *err);

/* A cold-plugged DIMM as query-memory-devices gave it at start (id dimmN). */
struct vd_vmm_dimm {
    char id[32];
    unsigned slot;
    unsigned long long addr;
};
/* The DIMMs read at start (n 0 when the domain has none, or after a reattach). */
const struct vd_vmm_dimm *vd_vmm_dimms(const struct vd_vmm *vmm, size_t *n);

/* QMP stop / cont / system_reset / system_powerdown / balloon. */
int vd_vmm_pause(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);
int vd_vmm_resume(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);
int vd_vmm_reset(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);
int vd_vmm_powerdown(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);
int vd_vmm_set_balloon(struct vd_vmm *vmm, uint64_t bytes, vd_vmm_done_fn done, void *opaque,
                       struct verr *err);
/* QMP send-key: the keys (qnums) pressed together, released after hold_ms (0: vireo-vmm's
 * default). */
int vd_vmm_send_key(struct vd_vmm *vmm, const unsigned *qnums, size_t n, unsigned hold_ms,
                    vd_vmm_done_fn done, void *opaque, struct verr *err);
/* QMP screendump of the display into path (a binary PPM). */
int vd_vmm_screendump(struct vd_vmm *vmm, const char *path, vd_vmm_done_fn done, void *opaque,
                      struct verr *err);
/* The medium of the removable drive of device id: blockdev-change-medium to file (format may
 * be NULL: probed), or eject (file NULL; force as QMP's). */
/* QMP set_link: the NIC alias (netN)'s link up or down. */
/* block_set_io_throttle with args (taken over): a disk's I/O limits (iotune.h). */
struct json_object;
int vd_vmm_block_set_io_throttle(struct vd_vmm *vmm, struct json_object *args, vd_vmm_done_fn done,
                                 void *opaque, struct verr *err);
int vd_vmm_set_link(struct vd_vmm *vmm, const char *alias, bool up, vd_vmm_done_fn done,
                    void *opaque, struct verr *err);
int vd_vmm_change_medium(struct vd_vmm *vmm, const char *id, const char *file, const char *format,
                         bool force, vd_vmm_done_fn done, void *opaque, struct verr *err);
/*
 * One step of a device hot-plug (hotplug.c): device_add, device_del, blockdev-add/-del,
 * netdev_add/-del or getfd (fd passed alongside unless -1), args taken over. The reply's
 * error comes as "vireo-vmm refused COMMAND: DESC". DEVICE_DELETED comes through
 * events->qmp_event.
 */
struct json_object;
int vd_vmm_hotplug_command(struct vd_vmm *vmm, const char *command, struct json_object *args,
                           int fd, vd_vmm_done_fn done, void *opaque, struct verr *err);
/*
 * Saves the VM's whole state into fd, from its current offset: the
 * vCPUs stop (if they ran), QMP getfd passes fd, migrate "fd:" writes the
 * stream, and done comes when the MIGRATION event says completed (0; the
 * vCPUs stay stopped, and the caller ends the VMM or lets it run again)
 * or failed (the VMM's reason). fd stays the caller's.
 */
int vd_vmm_save(struct vd_vmm *vmm, int fd, vd_vmm_done_fn done, void *opaque, struct verr *err);
/* The same to a URI the VMM connects to itself (tcp:HOST:PORT): a multifd migration, whose
 * channels are more connections than one descriptor. */
int vd_vmm_migrate_uri(struct vd_vmm *vmm, const char *uri, vd_vmm_done_fn done, void *opaque,
                       struct verr *err);
/* migrate resume=true to uri for a save (migration) in post-copy whose stream broke; the
 * save's own done still hears its end. */
int vd_vmm_migrate_resume(struct vd_vmm *vmm, const char *uri, vd_vmm_done_fn done, void *opaque,
                          struct verr *err);
/* One QMP transaction of n blockdev-snapshot-sync actions, mode existing:
 * each drive ids[i] switches to the qcow2 overlay files[i] (already created,
 * its backing file the drive's image), all of them or none. */
int vd_vmm_blockdev_snapshot(struct vd_vmm *vmm, const char *const *ids, const char *const *files,
                             size_t n, vd_vmm_done_fn done, void *opaque, struct verr *err);
/*
 * An internal snapshot job: command is "snapshot-save", "snapshot-load" or
 * "snapshot-delete", tag the snapshot's name, vmstate the drive that holds
 * (save) or has (load) the VM state (NULL for delete), devices the drives
 * (QMP drive ids or node names). done comes once the job has concluded
 * (query-jobs gives its error, job-dismiss removes it), or with the VMM's
 * refusal, or when the VMM ends meanwhile.
 */
int vd_vmm_snapshot_job(struct vd_vmm *vmm, const char *command, const char *tag,
                        const char *vmstate, const char *const *devices, size_t ndevices,
                        vd_vmm_done_fn done, void *opaque, struct verr *err);
/*
 * Ends the process: SIGTERM, SIGKILL after a grace period; done comes
 * after events->exited (VD_VMM_EXIT_DESTROYED), or with an error if even
 * SIGKILL did not end it.
 */
int vd_vmm_destroy(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);
/* The same for a guest that has powered off: the exit is VD_VMM_EXIT_SHUTDOWN. */
int vd_vmm_quit(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err);

/* A domain that is gone for good (undefined, or transient and stopped):
 * removes what the driver keeps for it (its lock file), unless a process
 * still holds it. */
void vd_vmm_forget(struct vd_daemon *d, const char *name);

/* A monitor command's end: text is its output (r == 0), or error says why. */
typedef void (*vd_vmm_text_fn)(void *opaque, int r, const char *text, const char *error);
/*
 * virDomainQemuMonitorCommand: cmd is a QMP command as JSON ({"execute": ..., "arguments":
 * ...}; text is then the VMM's whole reply as JSON, an "error" reply included, as libvirt
 * returns it), or with hmp a human monitor line (sent as human-monitor-command; text is its
 * output, and a QMP error is an error). A cmd that is not a JSON object with "execute" is
 * refused at once with libvirt's words.
 */
int vd_vmm_monitor_command(struct vd_vmm *vmm, const char *cmd, bool hmp, vd_vmm_text_fn done,
                           void *opaque, struct verr *err);

/* Sends bytes to the guest's console; false when it has none connected. */
bool vd_vmm_console_write(struct vd_vmm *vmm, const void *data, size_t len);
bool vd_vmm_has_console(const struct vd_vmm *vmm);
/* CPU time the VMM process has used, in ns. */
uint64_t vd_vmm_cpu_time(const struct vd_vmm *vmm);
/* Leaves the process running and frees the handle (the daemon is exiting). */
void vd_vmm_detach(struct vd_vmm *vmm);

/* ---- a daemon starting up (vmm-recover.c) ---- */

struct vd_vmm_recovery {
    bool had_record;         /* a record was there */
    enum vd_vmm_phase phase; /* ... and how far it said the VMM got */
    bool ended;              /* a VMM was found and ended (its start never finished, or it
                                could not be managed) */
    bool running;            /* attached: the vCPUs run (else stopped) */
};

/*
 * Finds the VMM that domain name's record describes. A ready VMM, when
 * may_attach (the domain's live state was read), is attached: *out is set,
 * events go to owner. Any other process of the domain is ended, and the
 * call returns once the domain lock is free. Returns 0, or < 0 when a
 * process of the domain could not be ended (err says which).
 */
int vd_vmm_recover(struct vd_daemon *d, const char *name, const char *uuid, bool may_attach,
                   const struct vd_vmm_events *ev, void *owner, struct vd_vmm **out,
                   struct vd_vmm_recovery *rec, struct verr *err);

/*
 * Ends every vireo-vmm started from this daemon's run dir that is not
 * attached: keep(ctx, name, pid) says which are. For VMMs whose record was
 * lost, or that no known domain owns. Returns how many it ended.
 */
int vd_vmm_sweep(struct vd_daemon *d, bool (*keep)(void *ctx, const char *name, pid_t pid),
                 void *ctx);
pid_t vd_vmm_pid(const struct vd_vmm *vmm);
/* Whether the VMM runs in a mount namespace of its own with a private /dev
 * (qemu.conf's namespaces = [ "mount" ] when it was started; vmm-namespace.h). */
bool vd_vmm_private_dev(const struct vd_vmm *vmm);
/*
 * A file the VMM is about to open (a hot-plugged disk, a new CD-ROM medium, a snapshot's
 * overlay): when it is a /dev path and the VMM has a private /dev, the node (and the links
 * leading to it) is made there first, as the host has it. 0 otherwise, or -errno with err.
 */
int vd_vmm_prepare_path(struct vd_vmm *vmm, const char *path, struct verr *err);
/* The VMM no longer uses path (a detached disk): its node leaves the private /dev, if any
 * (a failure is logged: the node only stays until the VM ends). */
void vd_vmm_release_path(struct vd_vmm *vmm, const char *path);
/* The host thread id of each vCPU, by index (from query-cpus-fast at start or reattach). */
size_t vd_vmm_vcpu_tids(const struct vd_vmm *vmm, const pid_t **tids);
/* After a live vCPU hot-plug: the list from query-cpus-fast (taken over). */
void vd_vmm_set_vcpu_tids(struct vd_vmm *vmm, pid_t *tids, size_t n);

/* An I/O thread of a running VMM: libvirt's number N (QMP id "iothreadN") and its host
 * thread id (query-iothreads). */
struct vd_iothread_tid {
    unsigned id;
    pid_t tid;
};
/* The VMM's I/O threads by ascending id (query-iothreads at start, reattach and after a
 * live iothreadadd/iothreaddel). */
size_t vd_vmm_iothreads(const struct vd_vmm *vmm, const struct vd_iothread_tid **out);
/* After a live iothreadadd/iothreaddel: the list from query-iothreads (taken over). */
void vd_vmm_set_iothreads(struct vd_vmm *vmm, struct vd_iothread_tid *its, size_t n);
/* query-iothreads' return value as the daemon's list (by ascending id). */
struct json_object;
int vd_vmm_parse_iothreads(struct json_object *ret, struct vd_iothread_tid **out, size_t *n);
/* query-cpus-fast's return value as thread ids by vCPU index (a vCPU it does not list
 * gets 0); *n is one past the highest index. -EIO when ret is no array. */
int vd_vmm_parse_vcpu_tids(struct json_object *ret, pid_t **tids, size_t *n);

#endif
