/*
 * domain.h - vireod's domains: what a domain is to the daemon, and the
 * domain layer's operations on it.
 *
 * The domain layer is libvirt's domain object and its QEMU driver's
 * lifecycle, in files of one idea each:
 *   domain-store.c     definitions: load, define, undefine, transient
 *                      domains, autostart, lookups
 *   domain-status.c    the live state a restarted daemon reads (run dir)
 *   domain-events.c    what clients hear (through the daemon's sink)
 *   lifecycle.c        the lifecycle jobs (start, destroy, shutdown,
 *                      reboot, reset, suspend, resume, undefine) and what
 *                      the VMM driver reports (on_poweroff, on_reboot,
 *                      on_crash)
 *   live-change.c      setmem and setvcpus, live and in the definition
 *   domain-reattach.c  a daemon starting up: reattach, end, autostart
 * It reaches a running vireo-vmm only through the VMM driver
 * (vmm-driver.h) and its clients only through the sink (vireod.h).
 *
 * States, reasons, events and error numbers are libvirt's, by their names
 * in include/vireo/vireo.h.
 */
#ifndef VIREO_DAEMON_DOMAIN_H
#define VIREO_DAEMON_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/domain_conf.h"
#include "daemon/job.h"
#include "daemon/vireod.h"
#include "vireo/vireo.h"

struct vd_vmm;
struct vd_snapshot;
struct vd_console_pty;
struct vd_migration;
struct vd_job_stats;
struct verr;

struct vd_domain {
    struct vd_domain *next;
    struct vd_daemon *daemon;
    /* The live definition while the domain runs (a copy made at start),
     * else the only one. */
    struct domain_def *def;
    /* While it runs: the persistent definition, which the next boot uses
     * (NULL for a transient domain). */
    struct domain_def *newdef;
    bool persistent;
    bool autostart;
    bool updated;         /* the persistent definition changed since the start */
    int state;            /* vir_domain_state */
    int reason;           /* its reason (vir_domain_running_reason, ...) */
    int id;               /* -1 when shut off */
    uint64_t start_time;  /* CLOCK_REALTIME seconds */
    struct vd_vmm *vmm;   /* the running vireo-vmm, NULL when there is none */
    bool tainted_monitor; /* its monitor was used directly (qemu-monitor-command) */
    bool starting;        /* a start job is under way (the VMM may already exist) */
    bool fake_reboot;     /* a reboot asked through ACPI: the guest's power-off restarts it */
    bool vanished;        /* gone from every lookup: freed when its jobs end */
    bool saved;           /* the VMM is being ended after a save: shut off (saved) */
    bool from_snapshot;   /* ... after a snapshot (--halt, a revert): shut off (from snapshot) */
    bool migrated;        /* the VMM is being ended after a migration: shut off (migrated) */
    struct vd_migration *mig;           /* a migration under way (migrate.c), or NULL */
    struct vd_job_stats *job_completed; /* the last migration's figures (domjobinfo --completed) */
    uint64_t mig_downtime_ms;           /* migrate-setmaxdowntime, 0: the VMM's default */
    uint64_t mig_speed_mibs;            /* migrate-setspeed, 0: unlimited */
    int console_log_fd;                 /* log/NAME.console.log: everything COM1 printed */
    struct vd_console_pty *pty;         /* the pty a <console type='pty'> shows, while it runs */
    struct vd_job *job;                 /* the running job */
    struct vd_job *jobq;                /* jobs waiting for it, in order */
    struct vd_snapshot *snapshots;      /* its snapshots' metadata (snapshot.h), creation order */
    char *current_snapshot;             /* the current snapshot's name, or NULL */
    struct vd_blockjob *blockjobs;      /* block jobs running (blockjob.c) */
    void *hotplug;                      /* a detach waiting for DEVICE_DELETED (hotplug.c) */
    void *vcpu_unplug;                  /* setvcpus --live downwards (live-vcpus.c) */
    struct vd_agent *agent;             /* the guest agent's socket while it runs (agent.h) */
    bool agent_connected;               /* the guest opened the agent's port (VSERPORT_CHANGE) */
    bool tainted_agent;                 /* qemu-agent-command was used (custom-ga-command) */
};

/* ---- domain-store.c ---- */
struct vd_domain *vd_domain_new(struct vd_daemon *d, struct domain_def *def);
void vd_domain_free(struct vd_domain *dom);
/* Takes dom out of every lookup; freed at once, or when its jobs end. */
void vd_domain_forget(struct vd_daemon *d, struct vd_domain *dom);
struct vd_domain *vd_domain_find_name(struct vd_daemon *d, const char *name);
struct vd_domain *vd_domain_find_uuid(struct vd_daemon *d, const unsigned char *uuid);
struct vd_domain *vd_domain_find_id(struct vd_daemon *d, int id);
/* The definition the next boot uses (newdef or def). */
struct domain_def *vd_domain_config(struct vd_domain *dom);
bool vd_domain_is_active(const struct vd_domain *dom);
bool vd_any_running(struct vd_daemon *d);
int vd_store_load(struct vd_daemon *d, struct verr *err);
int vd_domain_save_config(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
int vd_domain_define(struct vd_daemon *d, const char *xml, unsigned flags, struct vd_domain **out,
                     struct verr *err);
/* A transient domain from XML, for the caller's start job: a new domain, or
 * a defined inactive one of the same name and uuid that runs this
 * definition once (its own waits in newdef, back in place when the run or
 * the start ends). */
int vd_domain_create_transient(struct vd_daemon *d, const char *xml, struct vd_domain **out,
                               struct verr *err);
int vd_domain_undefine(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
int vd_domain_set_autostart(struct vd_daemon *d, struct vd_domain *dom, bool on, struct verr *err);
/* virDomainRename of an inactive persistent domain (domain-store.c). */
int vd_domain_rename(struct vd_daemon *d, struct vd_domain *dom, const char *new_name,
                     struct verr *err);
/* Applies a changed copy of the next boot's definition: validates, stores, swaps. */
int vd_domain_commit_config(struct vd_daemon *d, struct vd_domain *dom, struct domain_def *def,
                            struct verr *err);

/* ---- domain-status.c: RUN/NAME.xml and RUN/NAME.state ---- */
void vd_domain_save_status(struct vd_daemon *d, struct vd_domain *dom);
void vd_domain_remove_status(struct vd_daemon *d, const char *name);
/* The live definition and state of a domain that was running; -errno if
 * either cannot be read. */
struct vd_domain_status {
    struct domain_def *live;
    int id, state, reason;
    bool persistent;
    uint64_t start_time;
};
int vd_domain_read_status(struct vd_daemon *d, const char *name, struct vd_domain_status *st,
                          struct verr *err);

/* ---- domain-events.c ---- */
void vd_emit_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int event, int detail);
void vd_emit_reboot(struct vd_daemon *d, struct vd_domain *dom);
void vd_emit_device_removed(struct vd_daemon *d, struct vd_domain *dom, const char *alias);
void vd_emit_agent_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int state, int reason);
void vd_emit_migration_iteration(struct vd_daemon *d, struct vd_domain *dom, int iteration);
void vd_emit_monitor_event(struct vd_daemon *d, struct vd_domain *dom, const char *event,
                           int64_t seconds, uint32_t micros, const char *details);
/* COM1 output: into the console log and to the console streams open on it;
 * len 0 ends them. */
void vd_domain_console(struct vd_domain *dom, const void *data, size_t len);
void vd_domain_console_open_log(struct vd_domain *dom);
void vd_domain_console_close_log(struct vd_domain *dom);
/* console-pty.c: for a <serial>/<console type='pty'>, a pty relayed to COM1 while the
 * domain runs, its path in the live definition (tty=, <source path=>) as libvirt shows it. */
void vd_console_pty_open(struct vd_domain *dom);
void vd_console_pty_close(struct vd_domain *dom);
void vd_console_pty_output(struct vd_domain *dom, const void *data, size_t len);
bool vd_domain_has_console(const struct vd_domain *dom);
/* Sends a client's keystrokes to the guest; false when it has no console. */
bool vd_domain_console_write(struct vd_domain *dom, const void *data, size_t len);

/* ---- lifecycle.c: job bodies (vd_job_fn), each ending with vd_job_done/fail ---- */
/* job->paused: VIR_DOMAIN_START_PAUSED; job->flags VIR_DOMAIN_START_FORCE_BOOT; a
 * managed save image is resumed unless forced; job->restore: from job->path. */
void vd_domain_job_start(struct vd_job *job);
void vd_domain_job_destroy(struct vd_job *job);
void vd_domain_job_shutdown(struct vd_job *job); /* job->flags: vir_domain_shutdown_flags */
void vd_domain_job_reboot(struct vd_job *job);   /* job->flags: vir_domain_reboot_flags */
void vd_domain_job_reset(struct vd_job *job);
void vd_domain_job_suspend(struct vd_job *job);
void vd_domain_job_resume(struct vd_job *job);
void vd_domain_job_undefine(struct vd_job *job);
/* What the VMM driver reports to a domain (the owner is the domain). */
extern const struct vd_vmm_events vd_domain_vmm_events;
/* The domain is shut off now: state, event, files, definitions. */
void vd_domain_stopped(struct vd_domain *dom, int reason, int detail);
uint64_t vd_domain_cpu_time(const struct vd_domain *dom);

/* ---- domain-save.c: save, managed save ---- */
/* ROOT/lib/save/NAME.save (malloc'd). */
char *vd_domain_managed_save_path(struct vd_daemon *d, const char *name);
bool vd_domain_has_managed_save(struct vd_domain *dom);
/* job->path the file (NULL: managed save), job->xml the XML to store or
 * NULL, job->flags vir_domain_save_restore_flags. */
void vd_domain_job_save(struct vd_job *job);
int vd_domain_managed_save_remove(struct vd_domain *dom, struct verr *err);
/* The XML a restore runs: the image's, or xml when given (which must
 * describe the same machine). Returns 0 with *out, or -errno. */
int vd_domain_restore_xml(const char *image_xml, const char *xml, char **out, struct verr *err);

/* ---- live-change.c: job->value KiB or vCPUs, job->flags libvirt's ---- */
/* Whether def has the virtio balloon live memory changes go through. */
bool vd_domain_has_balloon(const struct domain_def *def);

/* ---- rpc-domstats.c: an interface's counters as the guest sees them ---- */
struct vd_iface_counters {
    uint64_t rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop;
};
/* From /sys/class/net/IFNAME/statistics; swapped for a tap (its host side sees the guest's
 * traffic backwards). -ENOENT when the interface is gone. */
int vd_net_iface_counters(const char *ifname, bool swapped, struct vd_iface_counters *c);
/* A disk file's sizes as libvirt reads them without the VMM: capacity (a qcow2's virtual
 * size, else the file's size), allocation (its blocks in use) and physical (its size). */
bool vd_disk_file_sizes(const char *path, uint64_t *capacity, uint64_t *allocation,
                        uint64_t *physical);
/* rpc-cpu-stats.c: the domain's CPU time in ns from its control group (total, user,
 * system), as libvirt reads it; -ENOENT when it has no group with CPU accounting. */
int vd_domain_cpu_totals(struct vd_daemon *d, const char *name, uint64_t *total, uint64_t *user,
                         uint64_t *sys);
/* The interface types whose host side is a tap vireod made. */
bool vd_net_is_tap(const struct domain_net *n);
void vd_domain_job_set_memory(struct vd_job *job);
/* virDomainUpdateDeviceFlags: a CD-ROM's medium (live-change.c). */
void vd_domain_job_update_device(struct vd_job *job);
void vd_domain_job_set_vcpus(struct vd_job *job);
/* virDomainSetVcpu: job->text the cpulist, job->value the state (1 enable, 0 disable). */
void vd_domain_job_set_vcpu(struct vd_job *job);
/* setvcpus --live upwards (live-vcpus.c): plugs vCPUs from..to-1 into the running VMM, then
 * calls then(job), or fails the job. */
void vd_domain_live_add_vcpus(struct vd_job *job, unsigned from, unsigned to,
                              void (*then)(struct vd_job *job));
/* setvcpus --live downwards (live-vcpus.c): device_del of vCPUs from-1 down to `to` (only
 * ones plugged live), each waiting for its DEVICE_DELETED; then(job), or the job fails. */
void vd_domain_live_del_vcpus(struct vd_job *job, unsigned from, unsigned to,
                              void (*then)(struct vd_job *job));
/* QMP DEVICE_DELETED: a vCPU's ("vcpuN") brings the live count down (live-vcpus.c). */
void vd_domain_vcpu_deleted(struct vd_domain *dom, const char *data);
/* Forgets an unplug still waiting (the domain is being freed). */
void vd_domain_live_vcpus_free(struct vd_domain *dom);
/* libvirt's --live/--config/--current: whether the change goes to the running VM, to the
 * persistent definition; the checks before either (job failed, -1, when one fails). */
bool vd_domain_affects_live(const struct vd_domain *dom, unsigned flags);
bool vd_domain_affects_config(const struct vd_domain *dom, unsigned flags);
int vd_domain_check_targets(struct vd_job *job, bool live, bool config);

/* ---- hotplug.c: job->text the device's XML (or the alias), job->flags libvirt's ---- */
void vd_domain_job_attach_device(struct vd_job *job);
void vd_domain_job_detach_device(struct vd_job *job);
void vd_domain_job_detach_alias(struct vd_job *job);
/* QMP DEVICE_DELETED of dom's VMM (data its JSON). */
void vd_hotplug_device_deleted(struct vd_domain *dom, const char *data);
/* Forgets a detach still waiting (the domain is being freed; its job is freed with it). */
void vd_hotplug_free(struct vd_domain *dom);

/* ---- domain-graphics.c ---- */
/* Before a start, in the live definition: the port of each autoport VNC
 * graphics (first free from 5900) and the path of a socket listen without one. */
int vd_domain_graphics_prepare(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
/* The port of the definition's autoport TCP VNC graphics (what a start may move), or 0. */
unsigned vd_domain_graphics_autoport(const struct domain_def *def);
/* A start whose VNC port was taken between the probe and the VMM's bind: the next free port
 * above after (as prepare picks one) put into the starting domain's graphics; the port, or
 * -EADDRINUSE with libvirt's words when none is left. */
int vd_domain_graphics_next_port(struct vd_daemon *d, struct vd_domain *dom, unsigned after,
                                 struct verr *err);
/* The VNC password of def (set over QMP at start, never on the command line), or NULL. */
const char *vd_domain_vnc_password(const struct domain_def *def);
/* Its passwdValidTo as seconds since the epoch, or 0 (the start check refused other forms). */
int64_t vd_domain_vnc_valid_to(const struct domain_def *def);

/* ---- domain-agent.c: channels and the guest agent ---- */
/* Before a start, in the live definition: the socket path of each unix channel without one
 * (RUN/channel/target/domain-ID-NAME/TARGETNAME, as libvirt's), its directory made. */
int vd_domain_channels_prepare(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
/* The domain stopped: the sockets and directories channels_prepare made are removed. */
void vd_domain_channels_cleanup(struct vd_domain *dom);
/* Once the VMM runs: connects to the agent channel's socket (org.qemu.guest_agent.0). */
void vd_domain_agent_attach(struct vd_domain *dom);
/* The VMM is gone or going: the agent's socket closed, pending commands failed. */
void vd_domain_agent_detach(struct vd_domain *dom);
/* QMP VSERPORT_CHANGE (data its JSON): the channel's state in the live definition, and the
 * agent's lifecycle event. */
void vd_domain_channel_event(struct vd_domain *dom, const char *data);
/* libvirt's checks before an agent command (qemuDomainAgentAvailable): running, an agent
 * channel, the guest's end open. 0, or -1 with *code and err set to libvirt's refusal. */
int vd_domain_agent_available(struct vd_domain *dom, int *code, struct verr *err);

/* ---- domain-reattach.c ---- */
void vd_domain_reattach_all(struct vd_daemon *d);
void vd_domain_autostart_all(struct vd_daemon *d);

/* index.c: every domain in d->domains is in the index (domain-store.c keeps it so). */
void vd_index_add(struct vd_daemon *d, struct vd_domain *dom);
void vd_index_remove(struct vd_daemon *d, struct vd_domain *dom);
void vd_index_free(struct vd_daemon *d);

#endif
