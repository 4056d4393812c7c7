/*
 * server.h - vireod's RPC server, shared by its files: server.c (sockets,
 * clients, dispatch) and the procedure files, one per kind of procedure:
 *   rpc-host.c       the connection and the host (open, version, node
 *                    info, capabilities, ...)
 *   rpc-domain.c     lookups, listings, define, and what reads a domain
 *   rpc-lifecycle.c  what changes a domain, as jobs (job.h)
 *   rpc-events.c     event registration, and the events themselves
 *   rpc-console.c    the console stream
 *   rpc-screenshot.c the screen as an image down a stream
 *   rpc-send-key.c   keys pressed on the guest's keyboard
 *   rpc-storage.c    storage pools and volumes (storage.h), with
 *   rpc-storage-job.c     the volume operations done in workers, and
 *   rpc-storage-stream.c  the upload and download streams
 *   rpc-tune.c       CPU placement: vcpuinfo, vcpupin, emulatorpin, schedinfo
 *   rpc-node-stats.c the host's memory and CPU figures: freecell, nodememstats, ...
 *
 * Each file lists its procedures in a table (struct vd_proc_table); server.c
 * looks a call's procedure up there. For every procedure whose arguments
 * begin with a domain (remote_proc.dom_arg, from the generator) the server
 * resolves that domain before the procedure runs, with libvirt's "Domain
 * not found" when there is none: no procedure does it itself.
 */
#ifndef VIREO_DAEMON_SERVER_H
#define VIREO_DAEMON_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/storage.h"
#include "daemon/vireod.h"
#include "rpc/dispatch.h"
#include "rpc/message.h"

#define VD_MAX_EVENT_CALLBACKS 64

struct vd_qemu_event_cb;

/* One registration of the callback form (virConnectDomainEventRegisterAny). */
struct vd_event_callback {
    int id;          /* 0: a free slot */
    int event_id;    /* vir_domain_event_id */
    bool one_domain; /* only events of the domain with this uuid */
    unsigned char uuid[16];
};

struct vd_sasl_conn;

struct vd_client {
    struct vd_client *next;
    struct vd_daemon *d;
    int fd;
    struct loop_watch *watch;
    struct rpc_reader reader;
    struct rpc_writer writer;
    enum vd_transport transport;
    struct tls_session *tls;   /* TLS clients */
    bool handshaking;          /* the TLS handshake is under way */
    bool anonymous;            /* counted in d->nanonymous */
    uint64_t since_ns;         /* when it connected (the authentication deadline's start) */
    bool auth_pending;         /* must authenticate (SASL) before any other call */
    bool opened;               /* CONNECT_OPEN done */
    bool read_paused;          /* too many replies queued or calls in progress */
    struct buf held;           /* bytes read but not yet dispatched while reading is paused */
    bool resume_queued;        /* a loop callback will dispatch them */
    enum vd_auth auth;         /* what this client's socket asks for */
    struct vd_sasl_conn *sasl; /* its SASL exchange and, once done, security layer */
    bool sasl_layer;           /* every byte goes through the SASL layer */
    bool sasl_layer_next;      /* from the message after the current reply */
    bool sasl_started;         /* AUTH_SASL_INIT done */
    char *peer;                /* "IP;PORT" of a TCP client, for the log and SASL */
    char *identity;            /* the certificate's DN or the SASL user, NULL */
    bool ro_socket;            /* came in on vireo-sock-ro */
    bool readonly;             /* asked for VIR_CONNECT_RO */
    unsigned old_events;       /* event ids registered in the old (callback-less) forms, as bits */
    struct vd_event_callback callbacks[VD_MAX_EVENT_CALLBACKS];
    int next_callback;
    struct vd_qemu_event_cb *qemu_events; /* QEMU monitor event registrations (rpc-qemu.c) */
    uint32_t console_serial;              /* the open console stream's call serial, 0 for none */
    unsigned char console_uuid[16];
    int refs; /* the connection's own, plus one per job that will reply to it */
};

/* One call, as a procedure sees it. */
struct vd_call {
    struct vd_client *client;
    struct vd_daemon *d;
    const struct rpc_header *h;
    const void *args;
    void *ret;
    struct rpc_error *err;
    struct vd_domain *dom; /* the domain the arguments name, when they begin with one */
};

/* A procedure: 0, -1 with c->err filled, or RPC_HANDLER_DEFERRED. */
typedef int (*vd_proc_fn)(struct vd_call *c);

struct vd_proc {
    int proc; /* REMOTE_PROC_* */
    vd_proc_fn fn;
};

struct vd_proc_table {
    const struct vd_proc *procs;
    size_t n;
};

#define VD_PROC_TABLE(name, array)                                                                 \
    const struct vd_proc_table name = {array, sizeof(array) / sizeof(array[0])}

extern const struct vd_proc_table vd_host_procs, vd_domain_procs, vd_lifecycle_procs,
    vd_event_procs, vd_console_procs, vd_screenshot_procs, vd_send_key_procs, vd_save_procs,
    vd_snapshot_procs, vd_stats_procs, vd_domstats_procs, vd_cpu_stats_procs, vd_agent_procs,
    vd_migrate_procs, vd_storage_procs, vd_storage_event_procs, vd_auth_procs, vd_network_procs,
    vd_tune_procs, vd_node_stats_procs, vd_iftune_procs, vd_hotplug_procs, vd_iotune_procs,
    vd_iothread_procs, vd_blockjob_procs, vd_domcaps_procs, vd_cpu_compare_procs,
    vd_network_event_procs, vd_secret_procs, vd_secret_event_procs;
extern const struct vd_proc_table vd_misc_procs;     /* rpc-misc.c */
extern const struct vd_proc_table vd_metadata_procs; /* rpc-metadata.c */
extern const struct vd_proc_table vd_pages_procs;    /* rpc-pages.c */

/* rpc-tune.c: resolves libvirt's impact flags (AFFECT_LIVE/CONFIG, neither: the
 * current state) against c->dom's state into *live and *config, or -1 with
 * libvirt's error (not running, transient). */
int vd_call_impact(struct vd_call *c, unsigned flags, bool *live, bool *config);
/* The same for a query, which reads one definition: both flags are refused. */
int vd_call_impact_query(struct vd_call *c, unsigned flags, bool *live, bool *config);

/* rpc-lifecycle.c: a job on dom that answers call c when it ends (not yet
 * submitted: the caller fills in what else the job needs). */
/* The same, for a procedure whose reply carries more than the domain: fill sets the members
 * of ret (zeroed, of the procedure's reply type) when the job succeeds. */
typedef void (*vd_job_fill_fn)(struct vd_job *job, int proc, void *ret);
struct vd_job *vd_call_job_fill(struct vd_call *c, struct vd_domain *dom, const char *what,
                                vd_job_fn run, unsigned flags, vd_job_fill_fn fill);
struct vd_job *vd_call_job(struct vd_call *c, struct vd_domain *dom, const char *what,
                           vd_job_fn run, unsigned flags);

/* A call answered later (RPC_HANDLER_DEFERRED): its client (referenced) and header. */
struct vd_deferred {
    struct vd_client *client;
    struct rpc_header call;
};
struct vd_deferred *vd_defer(struct vd_call *c);
/* Sends the deferred call's reply and frees df: the error (libvirt's code, from, message)
 * when message is not NULL, else ret encoded as type (NULL: an empty reply). */
void vd_deferred_reply(struct vd_deferred *df, const struct remote_type *type, const void *ret,
                       int code, int from, const char *message);
/* The call was not deferred after all (it failed at once): drops df. */
void vd_deferred_cancel(struct vd_deferred *df);

/* rpc-agent.c: a guest agent command for call c on dom, answered when the agent answers.
 * libvirt's refusals (not running, no agent channel, agent not connected) fail c at once;
 * a failing agent's error, a timeout or its going away are replied with libvirt's words;
 * otherwise answer replies (ret the reply's "return", or NULL for a command without an answer).
 * Returns RPC_HANDLER_DEFERRED or -1 (c failed). */
struct json_object;
typedef void (*vd_agent_answer_fn)(struct vd_deferred *df, const struct remote_type *ret_type,
                                   struct json_object *reply, struct json_object *ret);
int vd_agent_call(struct vd_call *c, struct vd_domain *dom, const char *cmd, int seconds,
                  bool no_reply, const struct remote_type *ret_type, vd_agent_answer_fn answer);
/* virDomainInterfaceAddresses with the agent source (guest-network-get-interfaces). */
int vd_agent_domifaddr(struct vd_call *c);
/* guest-network-get-interfaces' "return" as libvirt's interface list (qemuAgentGetInterfaces:
 * ipv4 0, ipv6 1). 0, or -EINVAL with err in libvirt's words for a malformed answer (an
 * interface without a name, an address without its type, address or prefix, another type). */
int vd_agent_interfaces(struct json_object *ret, struct remote_domain_interface_addresses_ret *out,
                        struct verr *err);
/* The "ip-addresses" of one agent interface (name) checked as libvirt checks them. 0, or
 * -EINVAL with err in libvirt's words. */
int vd_agent_check_addrs(struct json_object *ips, const char *name, struct verr *err);
/* guest-get-fsinfo's "return" as virDomainGetFSInfo's list (qemuAgentGetFSInfo): mount order,
 * each file system's disks named by the def's disk at the agent's PCI or drive address (def may
 * be NULL: no names). 0, or -1 with err set for a malformed answer. */
struct domain_def;
int vd_agent_fsinfo(struct json_object *ret, const struct domain_def *def,
                    struct remote_domain_get_fsinfo_ret *out, struct verr *err);
/* The domain disk (its target name) at the address a guest agent reports for a disk
 * (guest-get-fsinfo's and guest-get-disks' pci-controller, bus, target, unit), or NULL. */
const char *vd_agent_disk_target(const struct domain_def *def, struct json_object *disk);

/* guest-get-vcpus' "return" (qemuAgentGetVCPUs: logical-id and online required, can-offline
 * false when absent). *out is malloc'd. 0, or -EINVAL with err in libvirt's words. */
struct vd_agent_vcpu {
    unsigned id;
    bool online, offlinable, modified;
};
int vd_agent_vcpus(struct json_object *ret, struct vd_agent_vcpu **out, size_t *n,
                   struct verr *err);
/* virDomainGetGuestVcpus' parameters: vcpus, online, offlinable as cpulists. */
int vd_agent_vcpus_params(const struct vd_agent_vcpu *v, size_t n,
                          struct remote_domain_get_guest_vcpus_ret *out, struct verr *err);
/* setvcpus --guest N's plan (qemuAgentUpdateCPUInfo): marks the vCPUs to change. 0, or
 * -EINVAL ("Cannot offline enough CPUs") / -EPROTO (the agent's data) with err. */
int vd_agent_vcpus_plan_count(struct vd_agent_vcpu *v, size_t n, unsigned nvcpus, struct verr *err);
/* virDomainSetVcpusFlags with VIR_DOMAIN_VCPU_GUEST (rpc-lifecycle.c hands it over). */
int vd_agent_set_vcpus_count(struct vd_call *c, unsigned nvcpus, unsigned flags);

/* agent-guestinfo.c: libvirt's VIR_DOMAIN_GUEST_INFO_* categories. */
enum {
    VD_GUEST_INFO_USERS = 1,
    VD_GUEST_INFO_OS = 2,
    VD_GUEST_INFO_TIMEZONE = 4,
    VD_GUEST_INFO_HOSTNAME = 8,
    VD_GUEST_INFO_FILESYSTEM = 16,
    VD_GUEST_INFO_DISKS = 32,
    VD_GUEST_INFO_INTERFACES = 64,
};
/* Appends one category's parameters, from its agent command's "return" (guest-get-users,
 * -osinfo, -timezone, -host-name, -fsinfo, -disks, guest-network-get-interfaces), to out, as
 * virDomainGetGuestInfo has them; disks are named from def (may be NULL). 0, or -EINVAL with
 * err in libvirt's words for a malformed answer (out then unchanged). */
int vd_agent_guestinfo_fill(unsigned type, struct json_object *ret, const struct domain_def *def,
                            struct remote_domain_get_guest_info_ret *out, struct verr *err);

/* server.c */
void vd_client_ref(struct vd_client *c);
void vd_client_unref(struct vd_client *c);
/* Sends bytes to a client now (queued if the socket is full); nothing when
 * it has gone meanwhile. */
void vd_client_send(struct vd_client *c, struct buf *out);
/* Fills c->err with libvirt's code and message; returns -1. */
int vd_call_fail(struct vd_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error from the domain layer: the errno picks libvirt's code. */
int vd_call_fail_errno(struct vd_call *c, int r, const struct verr *e);
/* libvirt's virCheckFlags: 0 when flags lie within allowed, else -1 with c->err saying
 * "invalid argument: unsupported flags (0x..) in function FN", naming the flags outside. */
int vd_call_check_flags(struct vd_call *c, unsigned flags, unsigned allowed, const char *fn);
/* 0 when dom is running (and, with need_vmm, its vireo-vmm attached), else -1 with c->err
 * saying libvirt's "Requested operation is not valid: domain is not running". */
int vd_call_need_running(struct vd_call *c, const struct vd_domain *dom, bool need_vmm);
void vd_server_fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom);

/* rpc-qemu.c: calls of libvirt's QEMU program (an rpc_handler_fn; ctx is the client) */
int vd_qemu_call(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                 struct rpc_error *err);
/* rpc-qemu.c: the sink's QEMU monitor events, and a client's registrations freed */
void vd_qemu_monitor_event(void *ctx, struct vd_domain *dom, const char *event, int64_t seconds,
                           uint32_t micros, const char *details);
void vd_qemu_client_free(struct vd_client *c);
/* rpc-events.c: the sink's lifecycle and reboot */
void vd_events_lifecycle(void *ctx, struct vd_domain *dom, int event, int detail);
void vd_events_reboot(void *ctx, struct vd_domain *dom);
void vd_events_block_job(void *ctx, struct vd_domain *dom, const char *path, const char *dst,
                         int type, int status);
void vd_events_device_removed(void *ctx, struct vd_domain *dom, const char *alias);
void vd_events_agent_lifecycle(void *ctx, struct vd_domain *dom, int state, int reason);
void vd_events_migration_iteration(void *ctx, struct vd_domain *dom, int iteration);
/* rpc-screenshot.c: a client's stream message for a screenshot (true when it was one) */
bool vd_screenshot_stream(void *ctx, const struct rpc_header *h, struct buf *out);
/* rpc-storage.c: libvirt's error code for a storage error (by its words and errno) */
int vd_storage_error_code(int r, const char *msg);
/* rpc-storage-job.c: a volume operation done in a worker, answered when it ends
 * (RPC_HANDLER_DEFERRED), or -1 with c->err filled. */
struct vd_vol_job_args {
    enum vd_vol_job_kind kind;
    struct vd_pool *pool;
    const struct vd_vol *vol;  /* delete, wipe, resize */
    const struct vd_vol *from; /* create: the clone's source, or NULL */
    const char *xml;           /* create */
    unsigned flags, algorithm;
    uint64_t capacity;
};
int vd_storage_job(struct vd_call *c, const struct vd_vol_job_args *a);
/* A volume a job is writing or reading (a clone's source), or a transfer has open. */
bool vd_storage_job_busy(const struct vd_storage *s, const char *path);
bool vd_storage_transfer_busy(const struct vd_storage *s, const char *path);
/* rpc-storage-events.c: a pool's event to the clients registered for it (VD_POOL_EVENT_*),
 * and a client's registrations ended */
void vd_storage_pool_event(struct vd_storage *s, const char *name, const unsigned char *uuid,
                           int event);
void vd_storage_events_client_gone(struct vd_storage *s, struct vd_client *c);
void vd_storage_events_end(struct vd_storage *s);
/* rpc-storage-stream.c: volume upload/download (procedures), a client's
 * stream message for one (true when it was one), a client gone */
int vd_storage_upload(struct vd_call *c);
int vd_storage_download(struct vd_call *c);
bool vd_storage_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                       struct buf *out);
void vd_storage_client_gone(struct vd_client *c);
/* Ends every open transfer (the daemon stopping). */
struct vd_storage;
void vd_storage_streams_end(struct vd_storage *s);
/* rpc-console.c: the sink's console, and a client's stream messages */
void vd_console_output(void *ctx, struct vd_domain *dom, const void *data, size_t len);
void vd_console_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                       struct buf *out);

#endif
