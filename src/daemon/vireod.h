/*
 * vireod.h - the daemon's shared state: paths, domains, clients.
 *
 * vireod runs one event loop (util/loop) that owns all of this state: the
 * RPC server (server.c), the domain store and lifecycle (domain.c). Nothing
 * slow runs on it. Mutating operations on a domain are jobs (job.c): one at
 * a time per domain, queued in arrival order, each replying to its client
 * when it ends; meanwhile the loop serves everyone else. A job's waits are
 * either asynchronous on the loop (QMP commands and events through the
 * loop-attached QMP client, the pidfd of the VMM, destroy's SIGTERM ->
 * SIGKILL timer) or, for start (spawning vireo-vmm and waiting for its QMP
 * greeting), a short-lived worker thread that touches no shared state and
 * hands its result back with loop_call_soon(). One more thread only
 * fsyncs store directories (store.c).
 */
#ifndef VIREO_DAEMON_VIREOD_H
#define VIREO_DAEMON_VIREOD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/domain_conf.h"
#include "rpc/dispatch.h"
#include "rpc/message.h"

struct loop;
struct vd_index;
struct vd_syncer;
struct loop_watch;
struct qmp_client;
struct verr;

/* libvirt's virDomainState and reasons (the ones vireod produces). */
enum {
    VD_STATE_RUNNING = 1,
    VD_STATE_PAUSED = 3,
    VD_STATE_SHUTDOWN = 4, /* the guest powered off, the VMM is kept (on_poweroff preserve) */
    VD_STATE_SHUTOFF = 5,
};
enum {
    VD_EVENT_DEFINED = 0,
    VD_EVENT_UNDEFINED = 1,
    VD_EVENT_STARTED = 2,
    VD_EVENT_SUSPENDED = 3,
    VD_EVENT_RESUMED = 4,
    VD_EVENT_STOPPED = 5,
    VD_EVENT_SHUTDOWN = 6,
};

struct vd_job;
struct vd_client;
typedef void (*vd_job_fn)(struct vd_job *job);

/* One mutating operation on one domain (job.c). */
struct vd_job {
    struct vd_job *next; /* the domain's queue */
    struct vd_daemon *d;
    struct vd_domain *dom;
    struct vd_client *client; /* who gets the reply; NULL for the daemon's own jobs */
    struct rpc_header call;   /* the call being answered */
    const char *what;         /* for logs: "destroy", "start", ... */
    vd_job_fn run;            /* begins the job on the loop thread */
    unsigned flags;
    unsigned long long value; /* the operation's number (KiB for setmem, ...) */
    bool paused;              /* start: leave it paused */
    bool restore_def;         /* start: on failure, put the domain's own definition back */
    bool wait_stop;           /* ends (successfully) when the VMM is gone */
    bool awaiting_qmp;        /* a QMP reply is due to this job */
};

struct vd_domain {
    struct vd_domain *next;
    struct vd_daemon *daemon;
    struct domain_def *def;    /* the running definition, or the only one */
    struct domain_def *newdef; /* next boot's definition of a running persistent domain */
    bool persistent;
    bool autostart;
    int state, reason;
    int id; /* -1 when shut off */
    pid_t pid;
    int pidfd;
    struct loop_watch *pid_watch;
    struct qmp_client *qmp;
    uint64_t start_time; /* CLOCK_REALTIME seconds */
    int console_fd;      /* connected to the VMM's COM1 socket, -1 when not */
    struct loop_watch *console_watch;
    int console_log_fd;            /* log/NAME.console.log: everything COM1 printed */
    bool destroying;               /* an exit now is a destroy */
    bool shutdown_seen;            /* QMP SHUTDOWN or a requested powerdown */
    bool exited;                   /* the pidfd fired; stopping once QMP has said all it had */
    bool starting;                 /* a start job is under way (the VMM may already exist) */
    bool vanished;                 /* transient and stopped: unlinked, freed when its jobs end */
    struct loop_timer *stop_timer; /* destroy's SIGKILL, or the wait for QMP's end */
    int kill_stage;                /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
    struct vd_job *job;            /* the running job */
    struct vd_job *jobq;           /* jobs waiting for it, in order */
};

struct vd_daemon {
    struct loop *loop;
    char *root;          /* --root, or NULL */
    char *domain_dir;    /* persistent definitions */
    char *autostart_dir; /* one empty file per autostarted domain */
    char *run_dir;       /* live state */
    char *log_dir;
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
    unsigned workers;         /* start threads under way (joined in spirit at exit: waited for) */
    struct vd_index *index;   /* domains by uuid and name (index.c) */
    struct vd_syncer *syncer; /* coalesced directory syncs (store.c) */
    bool store_nosync;        /* never sync (the fuzz target: throwaway files) */
};

/* domain.c */
struct vd_domain *vd_domain_find_name(struct vd_daemon *d, const char *name);
struct vd_domain *vd_domain_find_uuid(struct vd_daemon *d, const unsigned char *uuid);
struct vd_domain *vd_domain_find_id(struct vd_daemon *d, int id);
int vd_store_load(struct vd_daemon *d, struct verr *err);
int vd_domain_save_config(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
/* The definition the next boot uses (newdef or def). */
struct domain_def *vd_domain_config(struct vd_domain *dom);
int vd_domain_define(struct vd_daemon *d, const char *xml, unsigned flags, struct vd_domain **out,
                     struct verr *err);
int vd_domain_create_transient(struct vd_daemon *d, const char *xml, struct vd_domain **out,
                               bool *restore_def, struct verr *err);
int vd_domain_undefine(struct vd_daemon *d, struct vd_domain *dom, struct verr *err);
/* Job bodies (vd_job_fn), each ending with vd_job_done/vd_job_fail. */
void vd_domain_job_start(struct vd_job *job);
void vd_domain_job_destroy(struct vd_job *job);
/* job->what is the QMP command: stop, cont, system_reset, system_powerdown. */
void vd_domain_job_qmp(struct vd_job *job);
void vd_domain_job_undefine(struct vd_job *job);
/* setmem: job->value KiB, job->flags libvirt's; setvcpus likewise. */
void vd_domain_job_set_memory(struct vd_job *job);
void vd_domain_job_set_vcpus(struct vd_job *job);
/* Applies a changed copy of the next boot's definition: validates, stores, swaps. */
int vd_domain_commit_config(struct vd_daemon *d, struct vd_domain *dom, struct domain_def *def,
                            struct verr *err);
void vd_domain_reattach_all(struct vd_daemon *d);
void vd_domain_autostart_all(struct vd_daemon *d);
int vd_domain_set_autostart(struct vd_daemon *d, struct vd_domain *dom, bool on, struct verr *err);
/* Rewrites NAME.xml and NAME.state in the run dir after a state change. */
void vd_domain_save_status(struct vd_daemon *d, struct vd_domain *dom);
uint64_t vd_domain_cpu_time(struct vd_domain *dom);
void vd_domain_free(struct vd_domain *dom);
bool vd_any_running(struct vd_daemon *d);

/* job.c */
struct vd_job *vd_job_new(struct vd_domain *dom, struct vd_client *client,
                          const struct rpc_header *call, const char *what, vd_job_fn run);
/* Runs the job now if the domain has none, else queues it. */
void vd_job_submit(struct vd_job *job);
/* Ends the job: the reply (ret: the procedure's reply structure or NULL)
 * or the error goes to its client, and the domain's next job starts. */
void vd_job_done(struct vd_job *job, const void *ret);
void vd_job_fail(struct vd_job *job, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error from domain.c: the errno picks libvirt's code. */
void vd_job_fail_verr(struct vd_job *job, int r, const struct verr *e);
int vd_errno_to_code(int r);
/* Frees the jobs still queued on a domain without replying (daemon exit). */
void vd_job_free_all(struct vd_domain *dom);
/* index.c: every domain in d->domains is in the index (domain.c keeps it so). */
void vd_index_add(struct vd_daemon *d, struct vd_domain *dom);
void vd_index_remove(struct vd_daemon *d, struct vd_domain *dom);
void vd_index_free(struct vd_daemon *d);

/* store.c: atomic file replacement; `durable` definitions are fdatasync'd
 * before the rename and their directory is synced soon after (see store.c). */
void vd_store_init(struct vd_daemon *d);
void vd_store_fini(struct vd_daemon *d);
int vd_store_write(struct vd_daemon *d, const char *path, const void *data, size_t len,
                   bool durable, struct verr *err);
/* An entry of path's directory was created, renamed or removed. */
void vd_store_dir_changed(struct vd_daemon *d, const char *path);

/* spawn.c: runs argv with stdin /dev/null, stdout and stderr logfd, in a new session. */
int vd_spawn(char **argv, int logfd, pid_t *pid, struct verr *err);

/* logout.c: libvirtd.conf's log_outputs ("3:stderr 1:file:/var/log/x"). */
struct vd_log_outputs;
int vd_log_outputs_parse(const char *spec, struct vd_log_outputs **out, struct verr *err);
/* Sends every log line through the outputs (they must outlive the logging). */
void vd_log_outputs_install(struct vd_log_outputs *lo);
void vd_log_outputs_free(struct vd_log_outputs *lo);

/* listen.c: the two listening sockets (made, or passed by systemd). */
int vd_listen(struct vd_daemon *d, struct verr *err);
void vd_unlisten(struct vd_daemon *d);

/* server.c */
struct vd_daemon *vd_client_daemon(struct vd_client *c);
void vd_client_ref(struct vd_client *c);
void vd_client_unref(struct vd_client *c);
/* Sends bytes to a client; nothing when it has gone meanwhile. */
void vd_client_send(struct vd_client *c, struct buf *out);
/* The domain a call names, or NULL with libvirt's "Domain not found" in err. */
struct vd_domain *vd_server_resolve(struct vd_daemon *d, const struct remote_nonnull_domain *nd,
                                    struct rpc_error *err);
void vd_server_fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom);

int vd_server_start(struct vd_daemon *d, struct verr *err);
/* A client on a connected descriptor (on_accept's, or a fuzzer's); the
 * daemon owns cfd from here on. NULL on error (cfd closed). */
struct vd_client *vd_client_new(struct vd_daemon *d, int cfd, bool ro_socket, struct verr *err);
/* Disconnects c unless the daemon already dropped it; freed by the loop. */
void vd_client_close(struct vd_client *c);
/* Frames and dispatches a client's bytes (socket reads, or a fuzzer's);
 * -1 when the client was dropped. */
int vd_client_feed(struct vd_client *c, const uint8_t *data, size_t len);
void vd_server_stop(struct vd_daemon *d);
/* COM1 output for the console streams open on dom; the end of them. */
void vd_console_output(struct vd_daemon *d, struct vd_domain *dom, const void *data, size_t len);
void vd_console_end(struct vd_daemon *d, struct vd_domain *dom);
/* Sends a lifecycle event to every client that registered for one. */
void vd_emit_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int event, int detail);

#endif
