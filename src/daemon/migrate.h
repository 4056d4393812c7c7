/*
 * migrate.h - libvirt's migration protocol, version 3 with extensible
 * parameters, in vireod's domain layer: the source's Begin, Perform and
 * Confirm, the destination's Prepare and Finish, the migration tunables
 * (max downtime, max speed) and the domain job's statistics and abort.
 *
 * The RPC layer (rpc-migrate.c) turns each phase's call into a job on the
 * domain (job.h) carrying a struct vd_mig_args; the phase fills its
 * outputs (cookie, URI) before the job ends. Peer-to-peer migration is the
 * same phases with the source daemon as the client of the destination
 * (rpc-migrate.c).
 *
 * The stream: the destination daemon listens on a TCP port (49152-49215,
 * as libvirt's migration_port_min/max) and starts vireo-vmm with the
 * accepted connection as its incoming stream (getfd + migrate-incoming
 * "fd:"); the source daemon connects to it and hands the socket to its
 * vireo-vmm (getfd + migrate "fd:"). With storage (NON_SHARED_DISK/INC) the
 * destination's VMM starts at Prepare instead (-incoming defer, its NBD server
 * exporting the disks, migrate-incoming tcp: on the port), and the source
 * mirrors the disks into it before the memory (migrate.c). TODO(#13): once vireo-vmm takes
 * -incoming tcp: and migrate tcp:, start the destination VMM in Prepare
 * with -incoming on the port and let the VMMs connect themselves.
 */
#ifndef VIREO_DAEMON_MIGRATE_H
#define VIREO_DAEMON_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

struct vd_job;
struct vd_domain;
struct vd_daemon;
struct verr;

/* libvirt's VIR_MIGRATE_* flags. */
enum {
    VD_MIGRATE_LIVE = 1 << 0,
    VD_MIGRATE_PEER2PEER = 1 << 1,
    VD_MIGRATE_TUNNELLED = 1 << 2,
    VD_MIGRATE_PERSIST_DEST = 1 << 3,
    VD_MIGRATE_UNDEFINE_SOURCE = 1 << 4,
    VD_MIGRATE_PAUSED = 1 << 5,
    VD_MIGRATE_NON_SHARED_DISK = 1 << 6,
    VD_MIGRATE_NON_SHARED_INC = 1 << 7,
    VD_MIGRATE_CHANGE_PROTECTION = 1 << 8,
    VD_MIGRATE_UNSAFE = 1 << 9,
    VD_MIGRATE_OFFLINE = 1 << 10,
    VD_MIGRATE_COMPRESSED = 1 << 11,
    VD_MIGRATE_ABORT_ON_ERROR = 1 << 12,
    VD_MIGRATE_AUTO_CONVERGE = 1 << 13,
    VD_MIGRATE_RDMA_PIN_ALL = 1 << 14,
    VD_MIGRATE_POSTCOPY = 1 << 15,
    VD_MIGRATE_TLS = 1 << 16,
    VD_MIGRATE_PARALLEL = 1 << 17,
    VD_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES = 1 << 18,
    VD_MIGRATE_POSTCOPY_RESUME = 1 << 19,
};

/* libvirt's virDomainJobType and virDomainJobOperation values used here. */
enum {
    VD_JOB_NONE = 0,
    VD_JOB_UNBOUNDED = 2,
    VD_JOB_COMPLETED = 3,
    VD_JOB_FAILED = 4,
    VD_JOB_CANCELLED = 5,
    VD_JOB_OPERATION_MIGRATION_IN = 4,
    VD_JOB_OPERATION_MIGRATION_OUT = 5,
};

/* One phase's parameters (from the call) and results (for the reply). */
struct vd_mig_args {
    unsigned flags;
    char *uri;            /* migrate_uri */
    char *dname;          /* dname */
    char *dest_xml;       /* destination_xml */
    char *persistent_xml; /* persistent_xml */
    char *listen_address; /* listen_address */
    uint64_t bandwidth;   /* bandwidth, MiB/s (0: not given) */
    bool cancelled;       /* Finish, Confirm */
    const void *client;   /* Prepare: the connection that asked (compared, never used) */
    char *dconnuri;       /* Perform of a peer-to-peer migration */
    char *cookie_in;      /* Perform, Finish: the other side's cookie, NUL-terminated */
    char **disks;         /* migrate_disks: the targets whose storage is copied (NULL: all) */
    size_t ndisks;
    int disks_port;           /* disks_port: the destination's NBD port (0: libvirt's range) */
    int parallel_connections; /* parallel.connections: multifd-channels (0: not given) */
    /* bandwidth.postcopy: max-postcopy-bandwidth, MiB/s (0: not given) */
    uint64_t postcopy_bandwidth;
    /* Prepare with storage: the disks it created, removed when the arguments are freed
     * still holding them (a Prepare that failed); a Prepare that succeeds hands them to
     * the migration, whose cancelled Finish removes them. */
    char **created;
    size_t ncreated;
    /* Prepare with storage: where the destination's VMM listens (its start job) */
    char *incoming_uri; /* migrate-incoming tcp:ADDR:PORT */
    char *nbd_addr;     /* nbd-server-start's address */
    int nbd_port;
    char **nbd_drives; /* the -drive ids exported writable */
    size_t nnbd_drives;
    /* results */
    char *xml;        /* Begin: the domain XML the destination runs */
    char *uri_out;    /* Prepare: where the source sends the stream */
    char *cookie_out; /* every phase: libvirt's migration cookie (XML) */
};
void vd_mig_args_free(struct vd_mig_args *a);

/* A migration's figures, for domjobinfo (and --completed). */
struct vd_job_stats {
    int type;      /* VD_JOB_* */
    int operation; /* VD_JOB_OPERATION_* */
    uint64_t elapsed_ms, downtime_ms, setup_ms;
    uint64_t data_total, data_processed, data_remaining;
    uint64_t mem_total, mem_processed, mem_remaining, mem_bps;
    uint64_t disk_total, disk_processed, disk_remaining; /* the storage copy's mirrors */
    uint64_t stopped_wall_ms; /* destination: when the source stopped the vCPUs (cookie) */
    bool have_downtime, success;
    /* source, --postcopy: the pages the destination asked for (virsh's Postcopy requests) */
    uint64_t postcopy_requests;
    bool have_postcopy;
};

/* The state of a migration under way on one domain (dom->mig). */
struct vd_migration;

/* ---- the phases (job bodies; job->mig holds the arguments) ---- */
/* Source: the XML and cookie (job->mig->xml, cookie_out); refuses what cannot migrate. */
void vd_migrate_job_begin(struct vd_job *job);
/* Source: the stream to job->mig->uri; the domain stays paused (migration) until Confirm. */
void vd_migrate_job_perform(struct vd_job *job);
/* Source: the VMM ends (cancelled = 0) or the domain runs again (cancelled = 1). */
void vd_migrate_job_confirm(struct vd_job *job);
/* Destination: resume (or keep paused), make persistent; the domain for the reply. */
void vd_migrate_job_finish(struct vd_job *job);
/* Destination: a transient domain waiting for the stream on a port (uri_out); *out the
 * domain. Not a job: it makes the domain. Returns 0 or -errno with err (code in *code).
 * With storage (NON_SHARED_DISK/INC) the domain's VMM must run before the reply: *start
 * is then set, and the caller submits vd_migrate_job_prepare_start on the domain with a
 * as job->mig (its success fills uri_out and cookie_out). */
int vd_migrate_prepare(struct vd_daemon *d, struct vd_mig_args *a, struct vd_domain **out,
                       bool *start, int *code, struct verr *err);
/* Destination with storage: starts the VMM with -incoming defer, its NBD server exporting
 * the migrated disks and migrate-incoming on the stream's port. */
void vd_migrate_job_prepare_start(struct vd_job *job);
/* Destination, POSTCOPY_RESUME (*start set by vd_migrate_prepare, the domain the one whose
 * post-copy failed): migrate-recover on a port of libvirt's range to its paused VMM. */
void vd_migrate_job_prepare_resume(struct vd_job *job);
/* The storage part of a start's arguments (vmm-driver.h), from job->mig, or nothing. */
struct vd_vmm_start_args;
void vd_migrate_start_args(const struct vd_job *job, struct vd_vmm_start_args *sa);
/* An incoming VMM's part of the migration's flags: --tls, its server credentials (qemu.conf's
 * migrate_tls_x509_cert_dir); --postcopy, postcopy-ram. */
void vd_migrate_incoming_start_args(const struct vd_domain *dom, struct vd_vmm_start_args *sa);
/* A client connection ended: the incoming storage migrations it prepared and did not finish
 * are abandoned (their VMM and created disks go), as libvirt's destination cleans up after
 * a client that vanished. */
void vd_migrate_client_gone(struct vd_daemon *d, const void *client);
/* Prepare with storage succeeded: the created disks now belong to the migration. */
void vd_migrate_prepared(struct vd_domain *dom, struct vd_mig_args *a);
/* The result of a job's end in peer-to-peer: called by rpc-migrate.c. */

/* The Begin part of a peer-to-peer Perform, at once (the XML into a->xml). */
int vd_migrate_begin(struct vd_domain *dom, struct vd_mig_args *a, int *code, struct verr *err);
/* Perform's stream only (no reply): done(opaque, 0 or -errno, code, message). */
typedef void (*vd_migrate_done_fn)(void *opaque, int r, int code, const char *message);
void vd_migrate_perform(struct vd_domain *dom, struct vd_mig_args *a, vd_migrate_done_fn done,
                        void *opaque);
void vd_migrate_confirm(struct vd_domain *dom, struct vd_mig_args *a, vd_migrate_done_fn done,
                        void *opaque);

/* The source VMM's MIGRATION_PASS (data: its JSON): libvirt's migration-iteration event. */
void vd_migrate_pass_event(struct vd_domain *dom, const char *data);

/* ---- the domain job ---- */
/* True from the source's Perform to its Confirm (or the failure): libvirt lets a suspend
 * run then, beside the migration's job (virsh migrate --timeout-suspend), and calls the
 * pause "migration" (VIR_DOMAIN_PAUSED_MIGRATION, event suspended/migrated). */
bool vd_migrate_sending(const struct vd_domain *dom);
/* Fills st with the job now (completed: the last finished migration). */
void vd_migrate_job_stats(struct vd_domain *dom, bool completed, struct vd_job_stats *st);
/* domjobabort: 0, or -errno with err (code in *code). */
int vd_migrate_abort(struct vd_domain *dom, int *code, struct verr *err);
/* migrate-setmaxdowntime / setspeed: kept and given to the VMM. */
int vd_migrate_set_downtime(struct vd_domain *dom, uint64_t ms, struct verr *err);
int vd_migrate_set_speed(struct vd_domain *dom, uint64_t mibs, struct verr *err);
/* virDomainMigrateStartPostCopy: 0 when dom's outgoing migration can switch to post-copy,
 * else -errno with libvirt's words in err (code in *code). */
int vd_migrate_start_postcopy_check(const struct vd_domain *dom, int *code, struct verr *err);
/* ... the switch (a job run beside the migration's): migrate-start-postcopy, sent once the
 * VMM's stream runs. */
void vd_migrate_job_start_postcopy(struct vd_job *job);
/* Frees dom->mig and what it holds (the domain is going). */
void vd_migration_free(struct vd_domain *dom);

/* libvirt's default maximum speed (MiB/s), "unlimited". */
#define VD_MIGRATE_SPEED_MAX 8796093022207ULL
/* vireo-vmm's (and QEMU's) default downtime-limit, ms. */
#define VD_MIGRATE_DOWNTIME_DEFAULT 300ULL

#endif
