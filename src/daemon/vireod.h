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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct loop_watch;
struct vd_index;
struct vd_syncer;
struct vd_domain;
struct vd_client;
struct vd_cgroups;
struct verr;

/* Where the domain layer's news goes: the clients (server.c sets it). */
struct vd_sink {
    void (*lifecycle)(void *ctx, struct vd_domain *dom, int event, int detail);
    void (*reboot)(void *ctx, struct vd_domain *dom);
    /* COM1 output for the console streams open on dom; len 0: their end. */
    void (*console)(void *ctx, struct vd_domain *dom, const void *data, size_t len);
    /* A QMP event of dom's vireo-vmm, as it came (libvirt's QEMU monitor events): its name,
     * timestamp and "data" as JSON (NULL without). */
    void (*monitor_event)(void *ctx, struct vd_domain *dom, const char *event, int64_t seconds,
                          uint32_t micros, const char *details);
    void *ctx;
};

struct vd_daemon {
    struct loop *loop;
    char *root;          /* --root, or NULL */
    char *domain_dir;    /* persistent definitions */
    char *autostart_dir; /* one empty file per autostarted domain */
    char *run_dir;       /* live state, VMM records and locks */
    char *log_dir;
    char *save_dir; /* managed save images (lib/save) */
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
    bool accept_paused;                    /* max_clients reached */
    struct vd_domain *domains;
    int next_id;
    struct vd_client *clients;
    unsigned nclients;
    unsigned workers;         /* start threads under way (waited for at exit) */
    struct vd_index *index;   /* domains by uuid and name (index.c) */
    struct vd_syncer *syncer; /* coalesced directory syncs (store.c) */
    bool store_nosync;        /* never sync (the fuzz target: throwaway files) */
    struct vd_sink sink;
    struct vd_cgroups *cgroups; /* the host's cgroup layout, read at first use (tune.h) */
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
