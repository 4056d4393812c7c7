/*
 * vireod.h - the daemon as a whole: its paths and settings, and the few
 * services every part of it uses.
 *
 * vireod runs one event loop (util/loop) that owns all state. Its parts,
 * each a file set that reaches the others only through their headers:
 *   - the RPC server (server.h: server.c and the rpc-*.c procedure files)
 *     speaks the libvirt remote protocol to clients;
 *   - the domain layer (domain.h) keeps definitions and runs the lifecycle
 *     as jobs (job.h), one at a time per domain;
 *   - the VMM driver (vmm-driver.h) runs one vireo-vmm per running domain
 *     and reports back through one callback interface;
 *   - the store (store.c) writes files atomically; index.c finds domains.
 * The arrows go one way: server -> domain layer -> VMM driver. What flows
 * back (a domain's events, console output) goes through callbacks: the
 * driver's vd_vmm_events into the domain layer, and the sink below from
 * the domain layer to whoever serves clients.
 *
 * Nothing slow runs on the loop. A job's waits are asynchronous (QMP
 * replies and events, the VMM's pidfd, timers) or, for a start (spawning
 * vireo-vmm and waiting for its QMP greeting), in a short-lived worker
 * thread that touches no shared state and hands its result back with
 * loop_call_soon(). One more thread only fsyncs store directories.
 */
#ifndef VIREO_DAEMON_VIREOD_H
#define VIREO_DAEMON_VIREOD_H

#include "daemon/security-dac.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct loop_watch;
struct vd_index;
struct vd_syncer;
struct vd_domain;
struct vd_network;
struct vd_obj_callback;
struct vd_secret;
struct vd_client;
struct vd_cgroups;
struct vd_storage;
struct verr;
struct tls_server;
struct tls_server_config;
struct vd_sasl;

/* How clients prove who they are (remote_auth_type's numbers). */
enum vd_auth { VD_AUTH_NONE = 0, VD_AUTH_SASL = 1, VD_AUTH_POLKIT = 2 };
/* What a client came in on. */
enum vd_transport { VD_TRANSPORT_UNIX, VD_TRANSPORT_TCP, VD_TRANSPORT_TLS };

/* One TCP listening socket (listen.c). */
struct vd_tcp_listener {
    int fd;
    enum vd_transport transport; /* TCP or TLS */
    bool activated;              /* inherited from systemd */
    struct loop_watch *watch;
    struct vd_daemon *daemon;
};
#define VD_MAX_TCP_LISTENERS 8

/* Where the domain layer's news goes: the clients (server.c sets it). */
struct vd_sink {
    void (*lifecycle)(void *ctx, struct vd_domain *dom, int event, int detail);
    void (*reboot)(void *ctx, struct vd_domain *dom);
    /* A hot-unplugged device left the guest (VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED). */
    void (*device_removed)(void *ctx, struct vd_domain *dom, const char *alias);
    /* The guest agent connected (state 1) or went away (2); reason 1 the domain started, 2 the
     * channel changed (VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE). */
    void (*agent_lifecycle)(void *ctx, struct vd_domain *dom, int state, int reason);
    /* An outgoing migration's pass began (VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION). */
    void (*migration_iteration)(void *ctx, struct vd_domain *dom, int iteration);
    /* COM1 output for the console streams open on dom; len 0: their end. */
    void (*console)(void *ctx, struct vd_domain *dom, const void *data, size_t len);
    /* A QMP event of dom's vireo-vmm, as it came (libvirt's QEMU monitor events): its name,
     * timestamp and "data" as JSON (NULL without). */
    void (*monitor_event)(void *ctx, struct vd_domain *dom, const char *event, int64_t seconds,
                          uint32_t micros, const char *details);
    /* A block job's news (BLOCK_JOB and BLOCK_JOB_2): path is the disk's source, dst its
     * target ("vda"), type vir_domain_block_job_type, status ..._block_job_status. */
    void (*block_job)(void *ctx, struct vd_domain *dom, const char *path, const char *dst, int type,
                      int status);
    void *ctx;
};

struct vd_daemon {
    struct loop *loop;
    char *root;          /* --root, or NULL */
    char *domain_dir;    /* persistent definitions */
    char *autostart_dir; /* one empty file per autostarted domain */
    char *run_dir;       /* live state, VMM records and locks */
    char *log_dir;
    char *save_dir;     /* managed save images (lib/save) */
    char *snapshot_dir; /* snapshot metadata: DIR/DOMAIN/NAME.xml (lib/snapshot) */
    char *nvram_dir;    /* per-domain UEFI variable stores NAME_VARS.fd (lib/nvram, nvram.h) */
    char *memory_dir;   /* qemu.conf's memory_backing_dir: file-backed guest RAM (memory-dir.c) */
    char *sock_path, *sock_ro_path;
    char *pid_file;
    char *vmm_path;
    unsigned rw_perms, ro_perms;
    unsigned max_clients;
    int timeout_s; /* exit when idle this long, 0 = never */
    uint64_t idle_since_ns;
    int lfd, lfd_ro;
    bool rw_activated, ro_activated;       /* inherited from systemd (listen.c) */
    long sock_gid;                         /* unix_sock_group, -1 for none */
    struct loop_watch *lwatch, *lwatch_ro; /* the listening sockets' watches */
    /* libvirt_sockets = 1: libvirt's own sockets too (/run/libvirt/libvirt-sock, -ro), so the
     * stock virsh reaches vireod with plain qemu:///system (listen.c); -1 when not open. */
    bool libvirt_sockets;
    int lfd_lv, lfd_lv_ro;
    struct loop_watch *lwatch_lv, *lwatch_lv_ro;
    bool accept_paused; /* max_clients reached */
    struct vd_domain *domains;
    struct vd_network *networks; /* network.h */
    /* network event registrations (rpc-network-events.c) */
    struct vd_obj_callback *net_callbacks;
    char *network_dir, *network_autostart_dir, *network_run_dir;
    int next_id;
    struct vd_client *clients;
    unsigned nclients;
    unsigned workers;         /* start threads under way (waited for at exit) */
    struct vd_index *index;   /* domains by uuid and name (index.c) */
    struct vd_syncer *syncer; /* coalesced directory syncs (store.c) */
    bool store_nosync;        /* never sync (the fuzz target: throwaway files) */
    struct vd_sink sink;
    struct vd_cgroups *cgroups; /* the host's cgroup layout, read at first use (tune.h) */
    struct vd_storage *storage; /* pools and volumes (storage.h); NULL: none */
    struct vd_secret *secrets;  /* secret.h */
    struct vd_obj_callback *secret_callbacks; /* rpc-secret-events.c */
    char *secret_dir;                         /* persistent secrets: UUID.xml, UUID.base64 (0600) */

    /* Remote access (main.c reads the libvirtd.conf keys; listen.c, tls.c). */
    bool listen_tcp_opt;               /* -l/--listen */
    bool listen_tls, listen_tcp;       /* listen_tls (default on), listen_tcp (default off) */
    char *listen_addr;                 /* NULL: every address */
    char *tls_port, *tcp_port;         /* "16514", "16509" */
    struct tls_server_config *tls_cfg; /* files and checks (tls.h) */
    struct tls_server *tls;            /* loaded credentials, when a TLS socket is open */
    enum vd_auth auth_unix_rw, auth_unix_ro, auth_tcp, auth_tls;
    char **sasl_allowed; /* sasl_allowed_username_list (fnmatch globs) */
    size_t n_sasl_allowed;
    bool sasl_allowed_set;         /* the list was given (an empty list refuses everybody) */
    char *sasl_conf_dir;           /* where vireod.conf (Cyrus SASL's) is read */
    struct vd_sasl *sasl;          /* Cyrus SASL, when a socket uses it (sasl.c) */
    unsigned max_anonymous;        /* max_anonymous_clients: not yet authenticated */
    unsigned nanonymous;           /* clients in the TLS handshake or before their SASL auth */
    unsigned max_requests;         /* max_client_requests: a client's calls in progress */
    size_t max_client_output;      /* a client's queued reply bytes before reading stops */
    bool accept_backoff;           /* accept() ran out of descriptors: waiting (server.c) */
    struct loop_timer *backoff;    /* ends accept_backoff */
    struct loop_timer *anon_timer; /* drops clients not authenticated in time (server.c) */
    struct vd_tcp_listener tcp[VD_MAX_TCP_LISTENERS];
    unsigned ntcp;
    int lock_fd; /* the root's lock (lock.c), -1 */

    /* qemu.conf's confinement keys (main.c reads them; vmm-start.c, security-dac.c). */
    bool seccomp_sandbox; /* seccomp_sandbox (default 1): -sandbox on for every VMM */
    struct vd_dac dac;    /* user, group, dynamic_ownership */
    /* namespaces = [ "mount" ] (the default for a root daemon, as libvirt's): every VMM in a
     * mount namespace of its own with a private /dev (vmm-namespace.h); [] turns it off. */
    bool ns_mount;
    /* qemu.conf's vnc_tls, vnc_tls_x509_cert_dir (default /etc/pki/libvirt-vnc, under --root
     * with one) and vnc_tls_x509_verify: every VNC display gets x509 credentials (vmm-argv.c). */
    bool vnc_tls, vnc_tls_verify;
    char *vnc_tls_dir;
    /* qemu.conf's migrate_tls_x509_cert_dir and migrate_tls_x509_verify, defaulting to
     * default_tls_x509_cert_dir (/etc/pki/qemu, under --root with one) and
     * default_tls_x509_verify (1): the credentials of virsh migrate --tls (migrate.c). */
    char *default_tls_dir, *migrate_tls_dir;
    int default_tls_verify, migrate_tls_verify; /* -1 until set */
};

/* store.c: atomic file replacement; `durable` definitions are fdatasync'd
 * before the rename and their directory is synced soon after (see store.c).
 * d may be NULL for a file that is not durable (run-dir state). */
void vd_store_init(struct vd_daemon *d);
void vd_store_fini(struct vd_daemon *d);
int vd_store_write(struct vd_daemon *d, const char *path, const void *data, size_t len,
                   bool durable, struct verr *err);
/* An entry of path's directory was created, renamed or removed. */
void vd_store_dir_changed(struct vd_daemon *d, const char *path);

/* logout.c: libvirtd.conf's log_outputs ("3:stderr 1:file:/var/log/x"). */
struct vd_log_outputs;
int vd_log_outputs_parse(const char *spec, struct vd_log_outputs **out, struct verr *err);
/* Sends every log line through the outputs (they must outlive the logging). */
void vd_log_outputs_install(struct vd_log_outputs *lo);
void vd_log_outputs_free(struct vd_log_outputs *lo);

/* listen.c: the two listening sockets (made, or passed by systemd). */
int vd_listen(struct vd_daemon *d, struct verr *err);
void vd_unlisten(struct vd_daemon *d);

/* listen.c: the TCP sockets (listen_tls, listen_tcp), made or from systemd. */
int vd_listen_tcp(struct vd_daemon *d, struct verr *err);
/* libvirt's default sockets (libvirt_sockets = 1), refused when a daemon answers there. */
#define VD_LIBVIRT_SOCK_DIR "/run/libvirt"
#define VD_LIBVIRT_SOCK     VD_LIBVIRT_SOCK_DIR "/libvirt-sock"
#define VD_LIBVIRT_SOCK_RO  VD_LIBVIRT_SOCK_DIR "/libvirt-sock-ro"
int vd_listen_libvirt(struct vd_daemon *d, struct verr *err);

/* lock.c: one daemon per root. Takes an OFD lock on lock_path (keeping
 * it for the process's life); -EBUSY with err naming the holder's pid. */
int vd_root_lock(struct vd_daemon *d, const char *lock_path, struct verr *err);

/* server.c: the RPC server (the rest of its interface is server.h). */
/* Points the sink at the clients; done by vd_server_start. */
void vd_server_attach_sink(struct vd_daemon *d);
int vd_server_start(struct vd_daemon *d, struct verr *err);
void vd_server_stop(struct vd_daemon *d);
/* A client on a connected descriptor (on_accept's, or a fuzzer's); the
 * daemon owns cfd from here on. NULL on error (cfd closed). */
struct vd_client *vd_client_new(struct vd_daemon *d, int cfd, bool ro_socket, struct verr *err);
/* Disconnects c unless the daemon already dropped it; freed by the loop. */
void vd_client_close(struct vd_client *c);
/* Frames and dispatches a client's bytes (socket reads, or a fuzzer's);
 * -1 when the client was dropped. */
int vd_client_feed(struct vd_client *c, const uint8_t *data, size_t len);

#endif
