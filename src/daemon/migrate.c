/*
 * migrate.c - the phases of libvirt's migration protocol v3 (migrate.h) on
 * vireod's domains: what the source and the destination each do, their
 * states, reasons and events as libvirt's QEMU driver gives them, and the
 * domain job a migration is (domjobinfo, domjobabort, the tunables).
 *
 * A failure at any phase leaves the source running as it was and the
 * destination with nothing: the source's VMM runs again when its migrate
 * fails (vireo-vmm resumes a VM it stopped for a stream that failed, and
 * Perform resumes it too, so a client that vanishes before Confirm does
 * not leave it paused), and the destination's transient domain and its VMM
 * are ended by Finish with cancelled set (or when the start from the stream
 * fails).
 *
 * Storage (NON_SHARED_DISK, NON_SHARED_INC), as libvirt's QEMU driver with an
 * NBD server: Prepare creates the missing disks, starts the VMM with its NBD
 * exports and the stream's port, and sends the NBD port in its cookie;
 * Perform mirrors each disk into the export, sends the memory once every
 * mirror is READY and completes the copies with block-job-cancel; Finish
 * waits for the stream, stops the NBD server and resumes. A failure cancels
 * the mirrors; the destination's VMM and created disks go with a cancelled
 * Finish, the VMM's end, or the end of the client that prepared it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/kvm.h>

#include "block/block.h"
#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/job.h"
#include "daemon/migrate.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

/* libvirt's default migration port range (qemu.conf migration_port_min/max). */
#define PORT_MIN 49152
#define PORT_MAX 49215
/* How long a prepared destination waits for the source's stream to connect. */
#define INCOMING_WAIT_S 120
/* How long the source waits for the destination's port to answer. */
#define CONNECT_TIMEOUT_MS 10000

struct vd_migration {
    bool incoming;
    bool performing;  /* source: the stream is being sent */
    bool aborted;     /* domjobabort asked for it */
    bool was_running; /* source: the guest ran when Perform began (a failure resumes it) */
    unsigned flags;
    uint64_t started_ms;
    int listen_fd; /* destination: waiting for the source's connection, or -1 */
    struct loop_watch *watch;
    struct loop_timer *timer; /* destination: gives up on a source that never connects */
    int stream_fd;            /* source: the connection to the destination while sending */
    /* source: the VMM's figures while the stream runs (query-migrate, every POLL_MS) */
    struct loop_timer *poll;
    struct poll_ctx *query; /* a query-migrate whose answer has not come, or NULL */
    bool have_figures;
    uint64_t transferred, remaining, total;
    /* storage (NON_SHARED_DISK/INC) */
    bool storage;
    uint64_t disk_total, disk_processed; /* source: the mirrors' figures */
    char **created;                      /* destination: the disks Prepare created */
    size_t ncreated;
    const void *client; /* destination (storage): the connection that prepared it */
    bool abandoned;     /* ... which went away before Finish */
    /* source, --postcopy: the switch (the VMM's postcopy-active) ends Perform; the stream
     * goes on while the destination pulls the pages, and Confirm waits for its end */
    bool postcopy_switched, postcopy_done, postcopy_failed;
    bool postcopy_asked, postcopy_sent; /* virDomainMigrateStartPostCopy, before/after the VMM */
    uint64_t postcopy_requests;         /* the VMM's ram.postcopy-requests */
    struct perform *perform;            /* the stream's owner until its end, or NULL */
    struct confirm *confirm;            /* a Confirm waiting for the stream's end, or NULL */
    char *postcopy_error;               /* why the post-copy phase failed */
    /* POSTCOPY_RESUME: source, migrate resume=true sent (until Confirm); destination,
     * migrate-recover sent (until Finish) */
    bool resuming;
};

struct perform;
struct confirm;
static void postcopy_perform_gone(struct perform *p);
static char *qmp_error_desc(const char *text);
static void postcopy_confirm_fail(struct confirm *c, const char *why);

/* A query-migrate in flight: its answer finds the migration through here, or nothing when the
 * migration ended meanwhile (dom NULL). */
struct poll_ctx {
    struct vd_domain *dom;
};

/* How often domjobinfo's figures are refreshed while the stream runs. */
#define POLL_MS 200

/* Wall-clock milliseconds: what two hosts compare (libvirt's cookie <stopped>). */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The disks a destination created for a migration that did not happen go again. */
static void remove_created(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (unlink(paths[i]) < 0 && errno != ENOENT)
            log_warn("cannot remove %s after a failed migration: %s", paths[i], strerror(errno));
        else
            log_info("removed %s (created for a migration that failed)", paths[i]);
    }
    strv_free(paths, n);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void vd_mig_args_free(struct vd_mig_args *a)
{
    if (!a)
        return;
    free(a->uri);
    free(a->dname);
    free(a->dest_xml);
    free(a->persistent_xml);
    free(a->listen_address);
    free(a->dconnuri);
    free(a->cookie_in);
    free(a->xml);
    free(a->uri_out);
    free(a->cookie_out);
    strv_free(a->disks, a->ndisks);
    remove_created(a->created, a->ncreated);
    free(a->incoming_uri);
    free(a->nbd_addr);
    strv_free(a->nbd_drives, a->nnbd_drives);
    free(a);
}

void vd_migration_free(struct vd_domain *dom)
{
    struct vd_migration *m = dom->mig;
    if (!m)
        return;
    if (m->watch)
        loop_watch_remove(m->watch);
    loop_timer_free(m->timer);
    loop_timer_free(m->poll);
    if (m->query)
        m->query->dom = NULL; /* its answer is dropped when it comes */
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    if (m->stream_fd >= 0)
        close(m->stream_fd);
    /* Still here: no Finish took them (the destination's VMM ended, the domain went). */
    remove_created(m->created, m->ncreated);
    if (m->perform) /* its stream's end finds no domain */
        postcopy_perform_gone(m->perform);
    if (m->confirm) /* the domain went before the post-copy stream ended */
        postcopy_confirm_fail(m->confirm, "domain is not running");
    free(m->postcopy_error);
    free(m);
    dom->mig = NULL;
}

static struct vd_migration *migration_new(struct vd_domain *dom, bool incoming, unsigned flags)
{
    struct vd_migration *m = xcalloc(1, sizeof(*m));
    m->incoming = incoming;
    m->flags = flags;
    m->started_ms = now_ms();
    m->listen_fd = m->stream_fd = -1;
    dom->mig = m;
    return m;
}

bool vd_migrate_sending(const struct vd_domain *dom)
{
    return dom->mig && !dom->mig->incoming;
}

/* libvirt's migration cookie: who sends it, about which domain, and (extra, or NULL)
 * the elements of the phase that sends it. */
static char *cookie_with(struct vd_domain *dom, const char *extra)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    char uuid[37];
    domain_uuid_format(dom->def->uuid, uuid);
    return xasprintf("<qemu-migration>\n  <name>%s</name>\n  <uuid>%s</uuid>\n"
                     "  <hostname>%s</hostname>\n%s</qemu-migration>\n",
                     dom->def->name, uuid, host, extra ? extra : "");
}

static char *cookie(struct vd_domain *dom)
{
    return cookie_with(dom, NULL);
}

/* ---- storage (NON_SHARED_DISK, NON_SHARED_INC) ---- */

/* --parallel: the multifd-channels both VMMs get (libvirt's parallel.connections, else QEMU's
 * default, set explicitly so a count left by an earlier migration does not linger); 0 without
 * --parallel. */
static unsigned parallel_channels(const struct vd_mig_args *a)
{
    if (!(a->flags & VD_MIGRATE_PARALLEL))
        return 0;
    return a->parallel_connections ? (unsigned)a->parallel_connections : 2;
}

static bool with_storage(unsigned flags)
{
    return flags & (VD_MIGRATE_NON_SHARED_DISK | VD_MIGRATE_NON_SHARED_INC);
}

/* The destination's VMM starts at Prepare and listens on the stream's port itself: for the
 * storage copy's NBD server, and for --parallel, whose channels are several connections. */
static bool vmm_listens(unsigned flags)
{
    return with_storage(flags) || (flags & VD_MIGRATE_PARALLEL);
}

/* Whether a disk's storage is copied, as libvirt's qemuMigrationAnyCopyDisk: the targets
 * migrate_disks lists, or without it every disk with a source that is neither read-only nor
 * shareable. */
static bool copy_disk(const struct vd_mig_args *a, const struct domain_disk *disk)
{
    if (!with_storage(a->flags) || !disk->source_path || !disk->target_dev)
        return false;
    if (a->ndisks) {
        for (size_t i = 0; i < a->ndisks; i++)
            if (!strcmp(a->disks[i], disk->target_dev))
                return true;
        return false;
    }
    return !disk->readonly && !disk->shareable;
}

/* The image's virtual size (what the destination's copy must hold). */
static int image_size(const char *path, uint64_t *size, struct verr *err)
{
    struct block_open_opts o = {
        .read_only = true, .no_backing = true, .no_io = true, .locking = BLOCK_LOCKING_OFF};
    struct block_dev *bd;
    int r = block_open(path, &o, &bd, err);
    if (r < 0)
        return r;
    struct block_info info = {0};
    r = block_get_info(bd, &info, err);
    if (r == 0)
        *size = info.virtual_size;
    block_info_free(&info);
    block_close(bd);
    return r;
}

/* Begin's cookie element, as libvirt's: <nbd> with each copied disk's capacity, which the
 * destination creates a missing disk with. */
static int nbd_cookie_disks(const struct domain_def *def, const struct vd_mig_args *a, char **out,
                            struct verr *err)
{
    char *x = xasprintf("  <nbd>\n");
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *disk = &def->disks[i];
        if (!copy_disk(a, disk))
            continue;
        uint64_t size = 0;
        int r = image_size(disk->source_path, &size, err);
        if (r < 0) {
            free(x);
            return r;
        }
        char *n = xasprintf("%s    <disk target='%s' capacity='%llu'/>\n", x, disk->target_dev,
                            (unsigned long long)size);
        free(x);
        x = n;
    }
    char *n = xasprintf("%s  </nbd>\n", x);
    free(x);
    *out = n;
    return 0;
}

/* One attribute's number in the first element named tag of a cookie: 0 when absent. */
static uint64_t cookie_attr(const char *c, const char *tag, const char *attr, const char *target)
{
    char open_tag[64];
    snprintf(open_tag, sizeof(open_tag), "<%s ", tag);
    for (const char *p = c ? strstr(c, open_tag) : NULL; p; p = strstr(p + 1, open_tag)) {
        const char *end = strchr(p, '>');
        if (!end)
            return 0;
        char key[80];
        if (target) {
            snprintf(key, sizeof(key), "target='%s'", target);
            const char *t = strstr(p, key);
            if (!t || t > end)
                continue;
        }
        snprintf(key, sizeof(key), "%s='", attr);
        const char *v = strstr(p, key);
        if (!v || v > end)
            return 0;
        return strtoull(v + strlen(key), NULL, 10);
    }
    return 0;
}

static void set_state(struct vd_domain *dom, int state, int reason)
{
    dom->state = state;
    dom->reason = reason;
    vd_domain_save_status(dom->daemon, dom);
}

/* ---- Begin (source) ---- */

/* libvirt's qemuMigrationSrcIsSafe: a disk the destination opens while the
 * source may still have writes cached is corruption waiting to happen. */
static int check_safe(const struct domain_def *def, const struct vd_mig_args *a, struct verr *err)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *disk = &def->disks[i];
        if (!disk->source_path || disk->readonly || disk->shareable || copy_disk(a, disk))
            continue;
        const char *cache = disk->driver_cache;
        if (cache && (!strcmp(cache, "none") || !strcmp(cache, "directsync")))
            continue;
        return verr_set(err, EPERM,
                        "Unsafe migration: Migration may lead to data corruption if disks use "
                        "cache other than none or directsync");
    }
    return 0;
}

/* --tls: what this end's tls-creds-x509 needs in qemu.conf's migrate_tls_x509_cert_dir
 * (the source is the TLS client: ca-cert.pem, its certificate when there is one; the
 * destination the server; a storage copy's NBD uses the same object). libvirt lets QEMU find a
 * file missing at object-add: the words are what its user then reads. */
static int tls_check(const struct vd_daemon *d, bool server, int *code, struct verr *err)
{
    const char *names[] = {"ca-cert.pem", server ? "server-cert.pem" : NULL,
                           server ? "server-key.pem" : NULL};
    for (int i = 0; i < 3; i++) {
        if (!names[i])
            continue;
        char *path = xasprintf("%s/%s", d->migrate_tls_dir, names[i]);
        int r = access(path, R_OK) < 0 ? -errno : 0;
        if (r < 0) {
            *code = VIR_ERR_INTERNAL_ERROR;
            verr_set(err, -r,
                     "internal error: unable to execute QEMU command 'object-add': Unable to "
                     "access credentials %s: %s",
                     path, strerror(-r));
        }
        free(path);
        if (r < 0)
            return r;
    }
    return 0;
}

void vd_migrate_incoming_start_args(const struct vd_domain *dom, struct vd_vmm_start_args *sa)
{
    const struct vd_migration *m = dom->mig;
    if (!m || !m->incoming)
        return;
    sa->incoming_postcopy = (m->flags & VD_MIGRATE_POSTCOPY) != 0;
    if (!(m->flags & VD_MIGRATE_TLS))
        return;
    sa->incoming_tls_dir = dom->daemon->migrate_tls_dir;
    sa->incoming_tls_verify = dom->daemon->migrate_tls_verify != 0;
}

/* Whether the running domain's guest sees an invariant TSC, which vireo-vmm (as QEMU) refuses
 * to migrate: -cpu host/max with migratable=off where the host's KVM offers it. (A named model
 * with +invtsc is refused by vireo-vmm itself when the migration starts.) */
static bool shows_invtsc(const struct domain_def *def)
{
    const char *mode = def->cpu ? xnode_attr(def->cpu, "mode") : NULL;
    const char *migratable = def->cpu ? xnode_attr(def->cpu, "migratable") : NULL;
    if (!mode || !migratable || strcmp(migratable, "off") != 0 ||
        (strcmp(mode, "host-passthrough") != 0 && strcmp(mode, "maximum") != 0))
        return false;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    bool invtsc = false;
    for (unsigned n = 128; fd >= 0 && n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        c->nent = n;
        int r = ioctl(fd, KVM_GET_SUPPORTED_CPUID, c);
        int e = errno;
        for (uint32_t i = 0; r == 0 && i < c->nent; i++)
            if (c->entries[i].function == 0x80000007 && c->entries[i].index == 0)
                invtsc = c->entries[i].edx & (1u << 8);
        free(c);
        if (r == 0 || e != E2BIG)
            break;
    }
    if (fd >= 0)
        close(fd);
    return invtsc;
}

/* ---- post-copy recovery (POSTCOPY_RESUME), as libvirt's QEMU driver ----
 *
 * A post-copy migration whose stream broke after the switch leaves the source paused
 * (post-copy failed) with its VMM postcopy-paused (the save of vmm-driver.c still pending)
 * and the destination running (post-copy failed), its VMM postcopy-paused too. virsh migrate
 * --postcopy --postcopy-resume runs the phases again on those domains: Begin checks the
 * source is in post-copy failed; Prepare sends migrate-recover on a port of libvirt's range to
 * the destination's VMM (no new VMM); Perform sends migrate resume=true there to the source's
 * and answers once it is postcopy-active again (paused (post-copy)); Finish waits for the
 * destination's stream to complete (running (post-copy), then running (migrated)); Confirm
 * waits for the source's stream's end and ends its VMM (shut off (migrated)).
 * With --p2p the source daemon runs the same phases (rpc-migrate.c's job_p2p).
 * TODO(#13): --tls resumes; a second migrate-recover after a failed resume
 * (vireo-vmm refuses a second one, QEMU 7.2 listens again). */

/* libvirt's qemuMigrationAnyCanResume, in its words; incoming: the destination's domain. */
static int resume_check(const struct vd_domain *dom, bool incoming, unsigned f, int *code,
                        struct verr *err)
{
    const struct vd_migration *m = dom->mig;
    const char *name = dom->def->name;
    *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
    if (!(f & VD_MIGRATE_POSTCOPY))
        return verr_set(err, EINVAL,
                        "argument unsupported: resuming failed post-copy migration requires "
                        "post-copy to be enabled");
    *code = VIR_ERR_OPERATION_INVALID;
    if (incoming) {
        /* the destination's Finish has ended: its state says where the post-copy is */
        bool pc =
            dom->state == VIR_DOMAIN_RUNNING && (dom->reason == VIR_DOMAIN_RUNNING_POSTCOPY ||
                                                 dom->reason == VIR_DOMAIN_RUNNING_POSTCOPY_FAILED);
        if (m && m->incoming && m->resuming)
            return verr_set(err, EBUSY,
                            "Requested operation is not valid: resuming failed post-copy "
                            "migration of domain %s already in progress",
                            name);
        if (m || !pc || !dom->vmm)
            return verr_set(err, EINVAL,
                            "Requested operation is not valid: domain '%s' is not processing "
                            "incoming migration",
                            name);
        if (dom->reason != VIR_DOMAIN_RUNNING_POSTCOPY_FAILED)
            return verr_set(err, EINVAL,
                            "Requested operation is not valid: post-copy migration of domain %s "
                            "has not failed",
                            name);
        return 0;
    }
    if (!m || m->incoming || !dom->vmm)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: domain '%s' is not being migrated",
                        name);
    if (!m->postcopy_switched)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: migration of domain %s is not in "
                        "post-copy phase",
                        name);
    if (m->resuming)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: resuming failed post-copy migration "
                        "of domain %s already in progress",
                        name);
    if (!m->postcopy_failed)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: post-copy migration of domain %s has "
                        "not failed",
                        name);
    if (f & VD_MIGRATE_TLS) {
        *code = VIR_ERR_OPERATION_UNSUPPORTED;
        return verr_set(err, ENOTSUP,
                        "Operation not supported: vireod does not resume a post-copy migration "
                        "with --tls yet");
    }
    return 0;
}

static int begin_resume(struct vd_domain *dom, struct vd_mig_args *a, int *code, struct verr *err)
{
    int r = resume_check(dom, false, a->flags, code, err);
    if (r < 0)
        return r;
    char *live = domain_def_format(dom->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (!live) {
        *code = VIR_ERR_INTERNAL_ERROR;
        return verr_set(err, EIO, "internal error: cannot format domain '%s'", dom->def->name);
    }
    free(a->xml);
    a->xml = NULL;
    r = vd_domain_restore_xml(live, a->dest_xml, &a->xml, err);
    free(live);
    if (r < 0) {
        *code = VIR_ERR_CONFIG_UNSUPPORTED;
        return r;
    }
    free(a->cookie_out);
    a->cookie_out = cookie(dom);
    return 0;
}

int vd_migrate_begin(struct vd_domain *dom, struct vd_mig_args *a, int *code, struct verr *err)
{
    unsigned f = a->flags;
    const unsigned known = VD_MIGRATE_LIVE | VD_MIGRATE_PEER2PEER | VD_MIGRATE_PERSIST_DEST |
                           VD_MIGRATE_UNDEFINE_SOURCE | VD_MIGRATE_PAUSED |
                           VD_MIGRATE_NON_SHARED_DISK | VD_MIGRATE_NON_SHARED_INC |
                           VD_MIGRATE_UNSAFE | VD_MIGRATE_OFFLINE | VD_MIGRATE_ABORT_ON_ERROR |
                           VD_MIGRATE_AUTO_CONVERGE | VD_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES |
                           VD_MIGRATE_TLS | VD_MIGRATE_PARALLEL | VD_MIGRATE_POSTCOPY;
    *code = VIR_ERR_OPERATION_INVALID;
    if ((f & VD_MIGRATE_POSTCOPY_RESUME) && !(f & ~(known | VD_MIGRATE_POSTCOPY_RESUME)))
        return begin_resume(dom, a, code, err);
    if ((f & VD_MIGRATE_POSTCOPY) && (!(f & VD_MIGRATE_LIVE) || (f & VD_MIGRATE_PAUSED))) {
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, EINVAL,
                        "argument unsupported: post-copy migration is not supported with "
                        "non-live or paused migration");
    }
    if ((f & VD_MIGRATE_POSTCOPY) && (f & VD_MIGRATE_PARALLEL)) {
        /* vireo-vmm's (QEMU's) refusal of the two capabilities together */
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, EINVAL,
                        "argument unsupported: Postcopy is not yet compatible with multifd");
    }
    if ((f & VD_MIGRATE_POSTCOPY) && with_storage(f)) {
        /* TODO(#13): post-copy after the disks' mirrors (the destination's Finish waits for
         * the storage stream's postcopy-active, the NBD server stopped after the switch). */
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, ENOTSUP,
                        "argument unsupported: vireod does not combine post-copy with "
                        "--copy-storage-all or --copy-storage-inc yet");
    }
    if ((f & VD_MIGRATE_TLS) && tls_check(dom->daemon, false, code, err) < 0)
        return -EACCES;
    if (f & ~known) {
        *code = VIR_ERR_INVALID_ARG;
        return verr_set(err, EINVAL, "invalid argument: unsupported flags (0x%x) in function %s",
                        f & ~known, "qemuMigrationSrcBegin");
    }
    if ((f & VD_MIGRATE_NON_SHARED_DISK) && (f & VD_MIGRATE_NON_SHARED_INC)) {
        *code = VIR_ERR_INVALID_ARG;
        return verr_set(err, EINVAL,
                        "invalid argument: Flags 'VIR_MIGRATE_NON_SHARED_DISK' and "
                        "'VIR_MIGRATE_NON_SHARED_INC' are mutually exclusive");
    }
    if (a->ndisks && !with_storage(f)) {
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, EINVAL,
                        "argument unsupported: use of 'migrate_disks' requires use of "
                        "'VIR_MIGRATE_NON_SHARED_DISK' or 'VIR_MIGRATE_NON_SHARED_INC' flag");
    }
    if ((f & VD_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES) && !with_storage(f)) {
        *code = VIR_ERR_INVALID_ARG;
        return verr_set(err, EINVAL,
                        "invalid argument: VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES requires "
                        "VIR_MIGRATE_NON_SHARED_DISK or VIR_MIGRATE_NON_SHARED_INC");
    }
    if (with_storage(f) && (f & VD_MIGRATE_OFFLINE))
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: offline migration cannot handle "
                        "non-shared storage");
    if (f & VD_MIGRATE_ABORT_ON_ERROR) {
        /* TODO(#13): cancel when the guest stops on an I/O error during a live migration
         * (vireo-vmm reports no such stop to the daemon yet). */
        *code = VIR_ERR_OPERATION_UNSUPPORTED;
        return verr_set(err, ENOTSUP,
                        "Operation not supported: --abort-on-error: vireod cannot see a guest's "
                        "I/O errors during a migration yet");
    }
    if (f & VD_MIGRATE_OFFLINE) {
        if (!(f & VD_MIGRATE_PERSIST_DEST))
            return verr_set(err, EINVAL,
                            "Requested operation is not valid: offline migration must be "
                            "specified with the persistent flag set");
        if (!dom->persistent)
            return verr_set(err, EINVAL,
                            "Requested operation is not valid: cannot migrate a transient domain "
                            "offline");
    } else if (!dom->vmm || !vd_domain_is_active(dom)) {
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    } else if (shows_invtsc(dom->def)) { /* QEMU's blocker, as libvirt reports blockers */
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot migrate domain: State blocked "
                        "by non-migratable CPU device (invtsc flag)");
    }
    if (dom->mig)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: domain '%s' is already being migrated",
                        dom->def->name);
    const struct domain_def *def = (f & VD_MIGRATE_OFFLINE) ? vd_domain_config(dom) : dom->def;
    for (size_t i = 0; i < a->ndisks; i++) {
        bool found = false;
        for (size_t k = 0; k < def->ndisks; k++)
            found |= def->disks[k].target_dev && !strcmp(def->disks[k].target_dev, a->disks[i]);
        if (!found) {
            *code = VIR_ERR_INVALID_ARG;
            return verr_set(err, EINVAL, "invalid argument: disk target %s not found", a->disks[i]);
        }
    }
    if (!(f & (VD_MIGRATE_UNSAFE | VD_MIGRATE_OFFLINE)) && check_safe(def, a, err) < 0) {
        *code = VIR_ERR_MIGRATE_UNSAFE;
        return -EPERM;
    }
    char *live = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (!live) {
        *code = VIR_ERR_INTERNAL_ERROR;
        return verr_set(err, EIO, "internal error: cannot format domain '%s'", def->name);
    }
    free(a->xml);
    a->xml = NULL;
    int r = vd_domain_restore_xml(live, a->dest_xml, &a->xml, err);
    free(live);
    if (r < 0) {
        *code = VIR_ERR_CONFIG_UNSUPPORTED;
        return r;
    }
    char *nbd = NULL;
    if (with_storage(f) && nbd_cookie_disks(def, a, &nbd, err) < 0) {
        *code = VIR_ERR_OPERATION_FAILED;
        return -EIO;
    }
    free(a->cookie_out);
    a->cookie_out = cookie_with(dom, nbd);
    free(nbd);
    return 0;
}

void vd_migrate_job_begin(struct vd_job *job)
{
    int code;
    struct verr err = {0};
    if (vd_migrate_begin(job->dom, job->mig, &code, &err) < 0)
        vd_job_fail(job, code, "%s", verr_msg(&err));
    else
        vd_job_done(job);
}

/* ---- Prepare (destination) ---- */

/* "tcp:HOST:PORT", "tcp://HOST:PORT", "tcp:[V6]:PORT": host and port (host may be empty). */
static int parse_tcp_uri(const char *uri, char **host, int *port, struct verr *err)
{
    const char *p;
    if (!strncmp(uri, "tcp://", 6))
        p = uri + 6;
    else if (!strncmp(uri, "tcp:", 4))
        p = uri + 4;
    else
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported scheme in migration URI %s (only tcp: is "
                        "supported)",
                        uri);
    const char *colon;
    const char *h = p;
    size_t hl;
    if (*p == '[') {
        const char *close_br = strchr(p, ']');
        if (!close_br || close_br[1] != ':')
            return verr_set(err, EINVAL, "invalid argument: malformed migration URI %s", uri);
        h = p + 1;
        hl = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(p, ':');
        if (!colon)
            return verr_set(err, EINVAL, "invalid argument: migration URI %s has no port", uri);
        hl = (size_t)(colon - p);
    }
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end && *end != '/')
        return verr_set(err, EINVAL, "invalid argument: malformed port in migration URI %s", uri);
    if (v <= 0 || v > 65535)
        return verr_set(err, EINVAL, "invalid argument: port %ld of migration URI %s is not valid",
                        v, uri);
    *port = (int)v;
    *host = xstrndup(h, hl);
    return 0;
}

/* A migration URI as vireo-vmm's migrate takes it: tcp:HOST:PORT (tcp:[V6]:PORT); NULL when
 * it is not a tcp: URI. */
static char *vmm_tcp_uri(const char *uri)
{
    char *host = NULL;
    int port = 0;
    struct verr e = {0};
    if (parse_tcp_uri(uri, &host, &port, &e) < 0)
        return NULL;
    bool v6 = strchr(host, ':') != NULL;
    char *out = xasprintf(v6 ? "tcp:[%s]:%d" : "tcp:%s:%d", host, port);
    free(host);
    return out;
}

static bool wildcard(const char *addr)
{
    return !addr || !*addr || !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::") ||
           !strcmp(addr, "[::]");
}

/* A listening TCP socket on addr:port (port 0: the first free of libvirt's range). */
static int listen_on(const char *addr, int port, int *out_port, struct verr *err)
{
    char a[256];
    snprintf(a, sizeof(a), "%s", wildcard(addr) ? "0.0.0.0" : addr);
    size_t al = strlen(a);
    if (a[0] == '[' && al > 2 && a[al - 1] == ']') {
        memmove(a, a + 1, al - 2);
        a[al - 2] = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *ai;
    int gr = getaddrinfo(a, NULL, &hints, &ai);
    if (gr != 0)
        return verr_set(err, EINVAL, "invalid argument: listen address '%s' is not an address: %s",
                        addr, gai_strerror(gr));
    int lo = port ? port : PORT_MIN, hi = port ? port : PORT_MAX;
    int last = 0;
    for (int p = lo; p <= hi; p++) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            break;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)p);
        else
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)p);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
            freeaddrinfo(ai);
            *out_port = p;
            return fd;
        }
        last = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    if (port)
        return verr_errno(err, last, "operation failed: cannot listen for the migration on %s:%d",
                          a, port);
    return verr_set(err, EADDRINUSE,
                    "internal error: Unable to find an unused port in range 'migration' (%d-%d)",
                    PORT_MIN, PORT_MAX);
}

/* The source connected: the VMM starts with the connection as its stream. */
static void incoming_accept(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_domain *dom = opaque;
    struct vd_migration *m = dom->mig;
    int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) {
        if (errno != EAGAIN && errno != EINTR)
            log_warn("domain '%s': accept of the migration stream: %s", dom->def->name,
                     strerror(errno));
        return;
    }
    /* The stream is read with blocking reads by the VMM's worker. */
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    loop_watch_remove(m->watch);
    m->watch = NULL;
    close(m->listen_fd);
    m->listen_fd = -1;
    log_info("domain '%s': incoming migration stream connected", dom->def->name);
    struct vd_job *job = vd_job_new(dom, "migration in", vd_domain_job_start);
    job->migrate_in = true;
    job->fd = s;
    job->paused = true;
    vd_job_submit(job);
}

/* No stream came (the client or the source went away after Prepare): the transient domain and
 * its port go, as libvirt ends an incoming migration whose client has gone. */
static void incoming_timeout(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct vd_domain *dom = opaque;
    if (!dom->mig || dom->mig->listen_fd < 0)
        return;
    log_warn("domain '%s': no migration stream arrived in %d s; incoming migration abandoned",
             dom->def->name, INCOMING_WAIT_S);
    vd_migration_free(dom);
    if (!vd_domain_is_active(dom) && !dom->persistent && !dom->job)
        vd_domain_forget(dom->daemon, dom);
}

/* The destination's copies of the disks the source copies: an existing image is used as
 * it is (its size must hold the source's); a missing one is created with the source's
 * format and capacity (from Begin's cookie), as libvirt's QEMU driver pre-creates them, and
 * recorded in a->created. --copy-storage-inc needs the image and its backing chain here. */
static int precreate_disks(struct domain_def *def, struct vd_mig_args *a, struct verr *err)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *disk = &def->disks[i];
        if (!copy_disk(a, disk))
            continue;
        struct stat st;
        uint64_t want = cookie_attr(a->cookie_in, "disk", "capacity", disk->target_dev);
        if (stat(disk->source_path, &st) == 0) {
            uint64_t have = 0;
            struct verr e = {0};
            if (want && image_size(disk->source_path, &have, &e) == 0 && have < want)
                return verr_set(err, EINVAL,
                                "operation failed: disk '%s' (%s) is smaller on the "
                                "destination (%llu bytes) than on the source (%llu bytes)",
                                disk->target_dev, disk->source_path, (unsigned long long)have,
                                (unsigned long long)want);
            continue;
        }
        if (a->flags & VD_MIGRATE_NON_SHARED_INC)
            return verr_set(err, ENOENT,
                            "operation failed: disk '%s' (%s) does not exist on the destination: "
                            "--copy-storage-inc needs the image and its backing chain there",
                            disk->target_dev, disk->source_path);
        if (!want)
            return verr_set(err, EINVAL,
                            "operation failed: the source gave no capacity for disk '%s' to "
                            "create %s with",
                            disk->target_dev, disk->source_path);
        const char *fmt = disk->driver_type ? disk->driver_type : "raw";
        if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2"))
            return verr_set(err, ENOTSUP,
                            "Operation not supported: cannot precreate storage for disk '%s' of "
                            "format '%s' (raw and qcow2 only)",
                            disk->target_dev, fmt);
        struct block_create_opts co = {.size = want};
        int r = block_create(disk->source_path, fmt, &co, err);
        if (r < 0)
            return r;
        a->created = xrealloc(a->created, (a->ncreated + 1) * sizeof(char *));
        a->created[a->ncreated++] = xstrdup(disk->source_path);
        log_info("created %s (%s, %llu bytes) for an incoming migration", disk->source_path, fmt,
                 (unsigned long long)want);
    }
    return 0;
}

/* Prepare's storage part: the disks, and the two ports (the stream's, the NBD server's) the
 * destination's VMM will listen on, from libvirt's range unless given. */
static int prepare_storage(struct domain_def *def, struct vd_mig_args *a, int port, int *lport,
                           struct verr *err)
{
    bool storage = with_storage(a->flags); /* else --parallel only: the VMM's channels */
    int r = storage ? precreate_disks(def, a, err) : 0;
    if (r < 0)
        return r;
    int mfd = listen_on(a->listen_address, port, lport, err);
    if (mfd < 0)
        return mfd;
    int nfd = storage ? listen_on(a->listen_address, a->disks_port, &a->nbd_port, err) : -1;
    /* The VMM binds them itself: they were free a moment ago. */
    close(mfd);
    if (storage && nfd < 0)
        return nfd;
    if (nfd >= 0)
        close(nfd);
    const char *addr = wildcard(a->listen_address) ? "0.0.0.0" : a->listen_address;
    bool v6 = strchr(addr, ':') && addr[0] != '[';
    a->incoming_uri = xasprintf(v6 ? "tcp:[%s]:%d" : "tcp:%s:%d", addr, *lport);
    if (!storage)
        return 0;
    a->nbd_addr = xstrdup(addr);
    for (size_t i = 0; i < def->ndisks; i++) {
        if (!copy_disk(a, &def->disks[i]))
            continue;
        a->nbd_drives = xrealloc(a->nbd_drives, (a->nnbd_drives + 1) * sizeof(char *));
        a->nbd_drives[a->nnbd_drives++] = vmm_argv_drive_id(&def->disks[i], i);
    }
    return 0;
}

/* POSTCOPY_RESUME: the domain whose post-copy failed here, and the port its VMM will listen on
 * (migrate-recover, vd_migrate_job_prepare_resume). */
static int prepare_resume(struct vd_daemon *d, struct vd_mig_args *a, struct vd_domain **out,
                          bool *start, int *code, struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(a->dest_xml, 0, &def, err);
    if (r < 0) {
        *code = VIR_ERR_XML_ERROR;
        return r;
    }
    struct vd_domain *dom = vd_domain_find_name(d, a->dname && *a->dname ? a->dname : def->name);
    if (!dom) {
        *code = VIR_ERR_NO_DOMAIN;
        r = verr_set(err, ENOENT, "Domain not found: no domain with matching name '%s'",
                     a->dname && *a->dname ? a->dname : def->name);
        domain_def_free(def);
        return r;
    }
    domain_def_free(def);
    r = resume_check(dom, true, a->flags, code, err);
    if (r < 0)
        return r;
    char *host = NULL;
    int port = 0, lport = 0;
    *code = VIR_ERR_INVALID_ARG;
    if (a->uri && parse_tcp_uri(a->uri, &host, &port, err) < 0)
        return -EINVAL;
    free(host);
    *code = VIR_ERR_OPERATION_FAILED;
    int fd = listen_on(a->listen_address, port, &lport, err);
    if (fd < 0)
        return fd;
    close(fd); /* the VMM binds it itself: it was free a moment ago */
    const char *addr = wildcard(a->listen_address) ? "0.0.0.0" : a->listen_address;
    bool v6 = strchr(addr, ':') && addr[0] != '[';
    free(a->incoming_uri);
    a->incoming_uri = xasprintf(v6 ? "tcp:[%s]:%d" : "tcp:%s:%d", addr, lport);
    if (!a->uri) {
        char hn[256] = "localhost";
        if (wildcard(a->listen_address))
            gethostname(hn, sizeof(hn) - 1);
        const char *h = wildcard(a->listen_address) ? hn : a->listen_address;
        a->uri_out =
            xasprintf(strchr(h, ':') && h[0] != '[' ? "tcp:[%s]:%d" : "tcp:%s:%d", h, lport);
    }
    struct vd_migration *m = migration_new(dom, true, a->flags);
    m->resuming = true;
    a->cookie_out = cookie(dom);
    *out = dom;
    *start = true;
    log_info("domain '%s': post-copy recovery prepared on port %d", dom->def->name, lport);
    return 0;
}

static void recover_sent(void *opaque, int r, const char *text, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r == 0 && !(text && strstr(text, "\"error\""))) {
        vd_job_done(job);
        return;
    }
    char *why = r < 0 ? xstrdup(error ? error : "no answer") : qmp_error_desc(text);
    if (dom->mig && dom->mig->incoming && dom->mig->resuming)
        vd_migration_free(dom);
    vd_job_fail(job, VIR_ERR_INTERNAL_ERROR,
                "internal error: unable to execute QEMU command 'migrate-recover': %s", why);
    free(why);
}

void vd_migrate_job_prepare_resume(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct verr err = {0};
    if (!dom->vmm || !dom->mig || !dom->mig->resuming) {
        if (dom->mig && dom->mig->incoming && dom->mig->resuming)
            vd_migration_free(dom);
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return;
    }
    struct json_object *o = json_object_new_object(), *args = json_object_new_object();
    json_object_object_add(o, "execute", json_object_new_string("migrate-recover"));
    json_object_object_add(args, "uri", json_object_new_string(job->mig->incoming_uri));
    json_object_object_add(o, "arguments", args);
    char *cmd = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (vd_vmm_monitor_command(dom->vmm, cmd, false, recover_sent, job, &err) < 0)
        recover_sent(job, -EIO, NULL, verr_msg(&err));
    free(cmd);
}

int vd_migrate_prepare(struct vd_daemon *d, struct vd_mig_args *a, struct vd_domain **out,
                       bool *start, int *code, struct verr *err)
{
    *code = VIR_ERR_OPERATION_FAILED;
    *start = false;
    if (!a->dest_xml) {
        *code = VIR_ERR_INVALID_ARG;
        return verr_set(err, EINVAL, "invalid argument: no domain XML passed");
    }
    if ((a->flags & VD_MIGRATE_POSTCOPY) &&
        (!(a->flags & VD_MIGRATE_LIVE) || (a->flags & VD_MIGRATE_PAUSED))) {
        /* libvirt's destination checks it before a resume too (--offline, --suspend) */
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, EINVAL,
                        "argument unsupported: post-copy migration is not supported with "
                        "non-live or paused migration");
    }
    if (a->flags & VD_MIGRATE_POSTCOPY_RESUME)
        return prepare_resume(d, a, out, start, code, err);
    if ((a->flags & VD_MIGRATE_TLS) && tls_check(d, true, code, err) < 0)
        return -EACCES;
    struct domain_def *def;
    int r = domain_def_parse_string(a->dest_xml, 0, &def, err);
    if (r < 0) {
        *code = VIR_ERR_XML_ERROR;
        return r;
    }
    if (a->dname && *a->dname) {
        free(def->name);
        def->name = xstrdup(a->dname);
    }
    struct vd_domain *other = vd_domain_find_uuid(d, def->uuid);
    if (!other)
        other = vd_domain_find_name(d, def->name);
    if (other && (vd_domain_is_active(other) || other->mig || other->job)) {
        *code = VIR_ERR_OPERATION_INVALID;
        r = verr_set(err, EEXIST, "Requested operation is not valid: domain '%s' is already active",
                     other->def->name);
        domain_def_free(def);
        return r;
    }
    if (a->flags & VD_MIGRATE_OFFLINE) { /* the definition moves in Finish */
        domain_def_free(def);
        *out = NULL;
        a->cookie_out = xstrdup("<qemu-migration/>\n");
        /* libvirt's client wants a URI even here; nothing listens on it (no stream). */
        char hn[256] = "localhost";
        gethostname(hn, sizeof(hn) - 1);
        a->uri_out = xasprintf("tcp:%s:0", wildcard(a->listen_address) ? hn : a->listen_address);
        return 0;
    }
    char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    char *host = NULL;
    int port = 0;
    if (a->uri && parse_tcp_uri(a->uri, &host, &port, err) < 0) {
        free(xml);
        domain_def_free(def);
        *code = VIR_ERR_INVALID_ARG;
        return -EINVAL;
    }
    free(host);
    int lport = 0;
    int lfd = -1;
    if (vmm_listens(a->flags)) {
        r = prepare_storage(def, a, port, &lport, err);
        if (r < 0) {
            free(xml);
            domain_def_free(def);
            return r;
        }
    } else {
        lfd = listen_on(a->listen_address, port, &lport, err);
        if (lfd < 0) {
            free(xml);
            domain_def_free(def);
            return lfd;
        }
    }
    domain_def_free(def);
    struct vd_domain *dom;
    r = vd_domain_create_transient(d, xml, &dom, err);
    free(xml);
    if (r < 0) {
        if (lfd >= 0)
            close(lfd);
        *code = r == -EINVAL ? VIR_ERR_XML_ERROR : vd_errno_to_code(r);
        return r;
    }
    struct vd_migration *m = migration_new(dom, true, a->flags);
    if (lfd < 0) { /* storage: the VMM starts now and listens itself (the start job) */
        m->storage = true;
        m->client = a->client;
        *start = true;
    }
    m->listen_fd = lfd;
    m->watch =
        m->storage ? NULL : loop_watch_fd(d->loop, lfd, LOOP_READ, incoming_accept, dom, err);
    if (!m->storage && !m->watch) {
        vd_migration_free(dom);
        if (!vd_domain_is_active(dom) && !dom->persistent)
            vd_domain_forget(d, dom);
        return -EIO;
    }
    if (!m->storage) { /* storage: ended with its client (vd_migrate_client_gone) */
        m->timer = loop_timer_new(d->loop, incoming_timeout, dom);
        loop_timer_arm(m->timer, (uint64_t)INCOMING_WAIT_S * 1000000000ull, 0);
    }
    if (!a->uri) {
        /* Where the source connects: the listen address when it names one, else this
         * host's name (as libvirt: hosts in network namespaces pass --listen-address or
         * --migrateuri). */
        if (!wildcard(a->listen_address)) {
            bool v6 = strchr(a->listen_address, ':') && a->listen_address[0] != '[';
            a->uri_out = xasprintf(v6 ? "tcp:[%s]:%d" : "tcp:%s:%d", a->listen_address, lport);
        } else {
            char hn[256] = "localhost";
            gethostname(hn, sizeof(hn) - 1);
            a->uri_out = xasprintf("tcp:%s:%d", hn, lport);
        }
    }
    if (with_storage(a->flags)) { /* libvirt's <nbd port=> tells the source where its mirrors go */
        char *nbd = xasprintf("  <nbd port='%d'/>\n", a->nbd_port);
        a->cookie_out = cookie_with(dom, nbd);
        free(nbd);
    } else {
        a->cookie_out = cookie(dom);
    }
    log_info("domain '%s': incoming migration prepared on port %d", dom->def->name, lport);
    *out = dom;
    return 0;
}

void vd_migrate_job_prepare_start(struct vd_job *job)
{
    job->migrate_in = true; /* paused (incoming) until Finish, STARTED_MIGRATED */
    job->fd = -1;
    job->paused = true;
    vd_domain_job_start(job);
}

void vd_migrate_start_args(const struct vd_job *job, struct vd_vmm_start_args *sa)
{
    const struct vd_mig_args *a = job->mig;
    if (!a || !a->incoming_uri)
        return;
    sa->incoming_uri = a->incoming_uri;
    sa->nbd_addr = a->nbd_addr;
    sa->nbd_port = a->nbd_port;
    sa->nbd_drives = a->nbd_drives;
    sa->nnbd_drives = a->nnbd_drives;
    sa->incoming_multifd = parallel_channels(a);
}

static void abandon_destroyed(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    if (r < 0)
        log_warn("domain '%s': cannot end the VMM of an abandoned migration: %s",
                 job->dom->def->name, error);
    vd_job_done(job);
}

static void job_abandon(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (!dom->mig || !dom->mig->incoming || !dom->mig->abandoned) { /* Finish came first */
        vd_job_done(job);
        return;
    }
    log_warn("domain '%s': the client of the incoming migration went away; abandoned",
             dom->def->name);
    vd_migration_free(dom); /* the disks Prepare created go */
    struct verr err = {0};
    if (dom->vmm && vd_vmm_destroy(dom->vmm, abandon_destroyed, job, &err) == 0)
        return; /* the transient domain goes as its VMM ends */
    if (!dom->vmm && !dom->persistent && !vd_domain_is_active(dom))
        vd_domain_forget(dom->daemon, dom);
    vd_job_done(job);
}

void vd_migrate_client_gone(struct vd_daemon *d, const void *client)
{
    for (struct vd_domain *dom = d->domains; dom; dom = dom->next) {
        struct vd_migration *m = dom->mig;
        if (!m || !m->incoming || !m->storage || m->client != client || m->abandoned)
            continue;
        m->abandoned = true;
        m->client = NULL;
        vd_job_submit_internal(dom, "migration abandoned", job_abandon);
    }
}

void vd_migrate_prepared(struct vd_domain *dom, struct vd_mig_args *a)
{
    if (!dom->mig)
        return;
    dom->mig->created = a->created;
    dom->mig->ncreated = a->ncreated;
    a->created = NULL;
    a->ncreated = 0;
}

/* ---- Perform (source) ---- */

struct perform {
    struct vd_domain *dom;
    struct vd_mig_args *a;
    vd_migrate_done_fn done;
    void *opaque;
    int step;
    int code;
    char *message; /* the failure being reported */
    /* storage: one mirror (drive-mirror job "migrate-DRIVE") per copied disk */
    char **jobs;
    char **targets; /* the disks' targets (vda), for messages */
    size_t *disk_idx;
    size_t nnames;         /* the lists' lengths */
    size_t njobs, replies; /* the mirrors started (to cancel on a failure), answered */
    char *nbd_host;        /* the destination's NBD server */
    char *tls_host;        /* --tls: the name the destination's certificate must carry */
    int nbd_port;
    struct loop_timer *timer; /* polls query-block-jobs */
    bool polling;             /* a query-block-jobs is on its way */
    bool mirrors_ready;       /* every mirror is READY: the memory stream may go */
    bool target_added;        /* --tls: the next mirror's nbd node is there */
    bool completing;          /* the stream went: block-job-cancel sent, the jobs end */
    /* --postcopy: Perform has answered at the switch; the stream's end (perform_sent) is
     * the post-copy phase's, and dom is NULL once the migration went (vd_migration_free) */
    bool handed;
};

static void postcopy_perform_gone(struct perform *p)
{
    if (p->handed)
        p->dom = NULL;
}

static void ignore_reply(void *opaque, int r, const char *text, const char *error);

/* --tls: the nbd node a copied disk's mirror writes into (libvirt's name for it). */
static char *mirror_node_name(const char *drive)
{
    return xasprintf("migration-%s-storage", drive);
}

static void mirror_node_del(struct vd_domain *dom, const char *node)
{
    char *cmd = xasprintf("{\"execute\": \"blockdev-del\", \"arguments\": "
                          "{\"node-name\": \"%s\"}}",
                          node);
    struct verr e = {0};
    vd_vmm_monitor_command(dom->vmm, cmd, false, ignore_reply, NULL, &e);
    free(cmd);
}

static void mirror_nodes_del(struct vd_domain *dom, const struct vd_mig_args *a)
{
    for (size_t i = 0; i < dom->def->ndisks; i++) {
        if (!copy_disk(a, &dom->def->disks[i]))
            continue;
        char *drive = vmm_argv_drive_id(&dom->def->disks[i], i);
        char *node = mirror_node_name(drive);
        mirror_node_del(dom, node);
        free(node);
        free(drive);
    }
}

static void perform_end(struct perform *p, int r, int code, const char *message)
{
    vd_migrate_done_fn done = p->done;
    void *opaque = p->opaque;
    if (p->dom->mig && p->dom->mig->perform == p)
        p->dom->mig->perform = NULL;
    if ((p->a->flags & VD_MIGRATE_TLS) && p->dom->vmm) {
        /* libvirt's reset after a TLS migration: a later save or clear migration of a source
         * that runs on goes without TLS, and the object goes (with the mirrors' nbd nodes,
         * once their jobs are gone; a node left by a job still ending goes before the next
         * migration's blockdev-add). */
        struct verr e = {0};
        mirror_nodes_del(p->dom, p->a);
        vd_vmm_monitor_command(p->dom->vmm,
                               "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
                               "{\"tls-creds\": \"\", \"tls-hostname\": \"\"}}",
                               false, ignore_reply, NULL, &e);
        vd_vmm_monitor_command(p->dom->vmm,
                               "{\"execute\": \"object-del\", \"arguments\": {\"id\": "
                               "\"" VD_MIGRATE_TLS_ID "\"}}",
                               false, ignore_reply, NULL, &e);
    }
    free(p->message);
    strv_free(p->jobs, p->nnames);
    strv_free(p->targets, p->nnames);
    free(p->disk_idx);
    free(p->nbd_host);
    free(p->tls_host);
    loop_timer_free(p->timer);
    free(p);
    done(opaque, r, code, message);
}

/* The failure's end: the source runs again (if it ran), then the caller hears it. */
static void perform_resumed(void *opaque, int r, const char *error)
{
    struct perform *p = opaque;
    struct vd_domain *dom = p->dom;
    if (r == 0 && dom->vmm) {
        set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
    } else if (r < 0) {
        log_warn("domain '%s': cannot resume after a failed migration: %s", dom->def->name, error);
    }
    char *msg = p->message;
    p->message = NULL;
    perform_end(p, -EIO, p->code, msg);
    free(msg);
}

static void ignore_reply(void *opaque, int r, const char *text, const char *error)
{
    (void)opaque, (void)r, (void)text, (void)error;
}

/* A failed storage migration: every mirror goes (force: no completion, no pivot). */
static void mirrors_cancel(struct perform *p)
{
    struct vd_domain *dom = p->dom;
    if (p->timer)
        loop_timer_disarm(p->timer);
    for (size_t i = 0; dom->vmm && i < p->njobs; i++) {
        char *cmd = xasprintf("{\"execute\": \"block-job-cancel\", \"arguments\": "
                              "{\"device\": \"%s\", \"force\": true}}",
                              p->jobs[i]);
        struct verr err = {0};
        if (vd_vmm_monitor_command(dom->vmm, cmd, false, ignore_reply, NULL, &err) < 0)
            log_warn("domain '%s': block-job-cancel %s: %s", dom->def->name, p->jobs[i],
                     verr_msg(&err));
        free(cmd);
    }
    strv_free(p->jobs, p->nnames);
    strv_free(p->targets, p->nnames);
    p->jobs = p->targets = NULL;
    p->njobs = p->nnames = 0;
}

static void perform_failed(struct perform *p, int code, const char *message)
{
    struct vd_domain *dom = p->dom;
    log_warn("domain '%s': migration failed: %s", dom->def->name, message);
    mirrors_cancel(p);
    p->code = code;
    p->message = xstrdup(message);
    /* As libvirt's: the guest runs again if it ran before, also when a suspend during the
     * migration (virsh migrate --timeout-suspend) paused it. */
    bool was_running = dom->state == VIR_DOMAIN_RUNNING ||
                       (dom->mig && dom->mig->was_running && dom->state == VIR_DOMAIN_PAUSED &&
                        dom->reason == VIR_DOMAIN_PAUSED_MIGRATION);
    if (dom->mig) {
        if (dom->mig->stream_fd >= 0)
            close(dom->mig->stream_fd);
        dom->mig->stream_fd = -1;
        dom->mig->performing = false;
        struct vd_job_stats *st = xcalloc(1, sizeof(*st));
        st->type = dom->mig->aborted ? VD_JOB_CANCELLED : VD_JOB_FAILED;
        st->operation = VD_JOB_OPERATION_MIGRATION_OUT;
        st->elapsed_ms = now_ms() - dom->mig->started_ms;
        free(dom->job_completed);
        dom->job_completed = st;
        vd_migration_free(dom);
    }
    struct verr err = {0};
    if (was_running && dom->vmm && vd_vmm_resume(dom->vmm, perform_resumed, p, &err) == 0)
        return;
    perform_resumed(p, was_running ? -EIO : 1, verr_msg(&err));
}

/* After completion: the VMM's figures for domjobinfo --completed. */
static void perform_stats(void *opaque, int r, const char *text, const char *error)
{
    (void)error;
    struct perform *p = opaque;
    struct vd_domain *dom = p->dom;
    struct vd_job_stats *st = xcalloc(1, sizeof(*st));
    st->type = VD_JOB_COMPLETED;
    st->operation = VD_JOB_OPERATION_MIGRATION_OUT;
    st->success = true;
    st->elapsed_ms = dom->mig ? now_ms() - dom->mig->started_ms : 0;
    st->mem_total = dom->def->memory_kib * 1024;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret, *v, *ram;
    if (o && json_object_object_get_ex(o, "return", &ret)) {
        if (json_object_object_get_ex(ret, "downtime", &v)) {
            st->downtime_ms = (uint64_t)json_object_get_int64(v);
            st->have_downtime = true;
        }
        if (json_object_object_get_ex(ret, "setup-time", &v))
            st->setup_ms = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(ret, "ram", &ram)) {
            if (json_object_object_get_ex(ram, "transferred", &v))
                st->mem_processed = (uint64_t)json_object_get_int64(v);
            if (json_object_object_get_ex(ram, "total", &v))
                st->mem_total = (uint64_t)json_object_get_int64(v);
            if (json_object_object_get_ex(ram, "mbps", &v))
                st->mem_bps = (uint64_t)(json_object_get_double(v) * 1e6 / 8);
        }
    }
    json_object_put(o);
    if (dom->mig && dom->mig->storage) {
        st->disk_total = st->disk_processed = dom->mig->disk_total;
    }
    st->data_total = st->mem_total + st->disk_total;
    st->data_processed = st->mem_processed + st->disk_processed;
    free(dom->job_completed);
    dom->job_completed = st;
    /* The source stays paused (migration) until Confirm says the destination runs; a
     * suspend during the migration (--timeout-suspend) already paused it and said so. */
    bool was_paused = dom->state == VIR_DOMAIN_PAUSED;
    set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION);
    if (!was_paused)
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED);
    /* As libvirt's: the source's figures travel to the destination in the cookie, so its
     * domjobinfo --completed has them too. */
    char *base = cookie(dom);
    char *end = strstr(base, "</qemu-migration>");
    if (end)
        *end = 0;
    free(p->a->cookie_out);
    uint64_t stopped = wall_ms() - st->downtime_ms; /* when the vCPUs stopped */
    p->a->cookie_out =
        xasprintf("%s  <statistics>\n    <time_elapsed>%llu</time_elapsed>\n"
                  "    <stopped>%llu</stopped>\n"
                  "    <downtime>%llu</downtime>\n"
                  "    <memory_processed>%llu</memory_processed>\n"
                  "    <memory_total>%llu</memory_total>\n"
                  "  </statistics>\n</qemu-migration>\n",
                  base, (unsigned long long)st->elapsed_ms, (unsigned long long)stopped,
                  (unsigned long long)st->downtime_ms, (unsigned long long)st->mem_processed,
                  (unsigned long long)st->mem_total);
    free(base);
    log_info("domain '%s': migration stream sent", dom->def->name);
    perform_end(p, 0, 0, NULL);
}

static void perform_query_stats(struct perform *p)
{
    struct vd_domain *dom = p->dom;
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"query-migrate\"}", false,
                                            perform_stats, p, &err) < 0)
        perform_stats(p, -EIO, NULL, NULL);
}

static void mirrors_complete(struct perform *p);

static void postcopy_stream_end(struct perform *p, int r, const char *error);

static void perform_sent(void *opaque, int r, const char *error)
{
    struct perform *p = opaque;
    if (p->handed) {
        postcopy_stream_end(p, r, error);
        return;
    }
    struct vd_domain *dom = p->dom;
    if (dom->mig) {
        dom->mig->performing = false;
        if (dom->mig->poll)
            loop_timer_disarm(dom->mig->poll);
        if (dom->mig->stream_fd >= 0)
            close(dom->mig->stream_fd);
        dom->mig->stream_fd = -1;
    }
    if (r < 0) {
        if (dom->mig && dom->mig->aborted)
            perform_failed(p, VIR_ERR_OPERATION_ABORTED,
                           "operation aborted: job 'migration out' canceled by client");
        else {
            if (error && !strncmp(error, "operation failed: ", 18))
                error += 18;
            char *m = xasprintf("operation failed: job 'migration out' failed: %s", error);
            perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
            free(m);
        }
        return;
    }
    if (p->njobs) {
        mirrors_complete(p);
        return;
    }
    perform_query_stats(p);
}

/* ---- post-copy (source) ----
 *
 * As libvirt's QEMU driver: postcopy-ram on both VMMs; virDomainMigrateStartPostCopy sends
 * migrate-start-postcopy, and once the source's VMM reports postcopy-active (its vCPUs
 * stopped, the destination about to run the guest) Perform answers, the source paused
 * (post-copy). The destination's Finish resumes the guest there; the source's VMM serves
 * the pages the destination lacks until its stream completes, and Confirm waits for that
 * before the source's VMM ends. After the switch the source's memory is no longer the
 * guest's: a failure (postcopy-paused, a Finish that failed) leaves it paused (post-copy
 * failed), never resumed. */

static void postcopy_switch(struct vd_domain *dom);
static void postcopy_fail(struct vd_domain *dom, const char *why);
static void postcopy_send(struct vd_domain *dom, struct vd_job *job);

static void poll_answer(void *opaque, int r, const char *text, const char *error)
{
    (void)error;
    struct poll_ctx *q = opaque;
    struct vd_domain *dom = q->dom;
    free(q);
    if (!dom || !dom->mig)
        return;
    struct vd_migration *m = dom->mig;
    m->query = NULL;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret = NULL, *ram, *v;
    if (o && json_object_object_get_ex(o, "return", &ret) &&
        json_object_object_get_ex(ret, "ram", &ram)) {
        if (json_object_object_get_ex(ram, "transferred", &v))
            m->transferred = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(ram, "remaining", &v))
            m->remaining = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(ram, "total", &v))
            m->total = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(ram, "postcopy-requests", &v))
            m->postcopy_requests = (uint64_t)json_object_get_int64(v);
        m->have_figures = true;
    }
    const char *st =
        ret && json_object_object_get_ex(ret, "status", &v) ? json_object_get_string(v) : "";
    bool active = !strcmp(st, "active") || !strcmp(st, "setup");
    bool pc_active = !strcmp(st, "postcopy-active");
    bool pc_paused = !strcmp(st, "postcopy-paused");
    char *why = xstrdup(ret && json_object_object_get_ex(ret, "error-desc", &v)
                            ? json_object_get_string(v)
                            : "the connection to the destination was lost");
    json_object_put(o);
    if (m->flags & VD_MIGRATE_POSTCOPY) {
        if (active && m->postcopy_asked && !m->postcopy_sent)
            postcopy_send(dom, NULL);
        if ((pc_active || pc_paused) && !m->postcopy_switched)
            postcopy_switch(dom);
        if (pc_paused && dom->mig && !dom->mig->postcopy_failed)
            postcopy_fail(dom, why);
    }
    free(why);
}

static void poll_tick(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct vd_domain *dom = opaque;
    struct vd_migration *m = dom->mig;
    if (!m || !m->performing || m->query || !dom->vmm)
        return;
    struct poll_ctx *q = xcalloc(1, sizeof(*q));
    q->dom = dom;
    struct verr err = {0};
    if (vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"query-migrate\"}", false, poll_answer, q,
                               &err) < 0) {
        free(q);
        return;
    }
    m->query = q;
}

/* ---- post-copy (source): the switch, the stream's end, the failure ---- */

static char *qmp_error_desc(const char *text);
static void confirm_run(struct confirm *c);
static void confirm_end(struct confirm *c, int r, int code, const char *message);

static void postcopy_confirm_fail(struct confirm *c, const char *why)
{
    log_warn("migration confirm: post-copy failed: %s", why);
    confirm_end(c, -EIO, VIR_ERR_OPERATION_FAILED,
                "operation failed: job 'migration out' failed in post-copy phase");
}

static void postcopy_fail(struct vd_domain *dom, const char *why)
{
    struct vd_migration *m = dom->mig;
    if (!m || m->postcopy_failed)
        return;
    m->postcopy_failed = true;
    free(m->postcopy_error);
    m->postcopy_error = xstrdup(why ? why : "unknown error");
    m->performing = false;
    if (m->poll)
        loop_timer_disarm(m->poll);
    log_warn("domain '%s': post-copy migration failed; the domain stays paused (its memory is "
             "no longer the guest's): %s",
             dom->def->name, m->postcopy_error);
    struct vd_job_stats *st = xcalloc(1, sizeof(*st));
    st->type = VD_JOB_FAILED;
    st->operation = VD_JOB_OPERATION_MIGRATION_OUT;
    st->elapsed_ms = now_ms() - m->started_ms;
    free(dom->job_completed);
    dom->job_completed = st;
    if (dom->vmm) {
        set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED);
    }
    if (m->confirm) {
        struct confirm *c = m->confirm;
        m->confirm = NULL;
        postcopy_confirm_fail(c, m->postcopy_error);
    }
}

/* The VMM reports postcopy-active: the destination takes the guest over, Perform answers. */
static void postcopy_switch(struct vd_domain *dom)
{
    struct vd_migration *m = dom->mig;
    struct perform *p = m->perform;
    m->postcopy_switched = true;
    set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                      VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY);
    log_info("domain '%s': post-copy: the destination runs it, this VMM serves its pages",
             dom->def->name);
    if (!p || p->handed || !p->done)
        return;
    vd_migrate_done_fn done = p->done;
    void *opaque = p->opaque;
    free(p->a->cookie_out);
    p->a->cookie_out = cookie(dom);
    p->handed = true; /* the stream's end comes to postcopy_stream_end */
    p->done = NULL;
    p->a = NULL; /* the Perform job's, which ends now */
    done(opaque, 0, 0, NULL);
}

/* The source VMM's stream ended after the switch: every page is on the destination (r 0),
 * or the post-copy phase failed. */
static void postcopy_stream_end(struct perform *p, int r, const char *error)
{
    struct vd_domain *dom = p->dom;
    free(p->message);
    strv_free(p->jobs, p->nnames);
    strv_free(p->targets, p->nnames);
    free(p->disk_idx);
    free(p->nbd_host);
    free(p->tls_host);
    loop_timer_free(p->timer);
    free(p);
    if (!dom || !dom->mig)
        return;
    struct vd_migration *m = dom->mig;
    m->perform = NULL;
    if (r == 0 && !m->postcopy_failed) {
        m->postcopy_done = true;
        m->performing = false;
        if (m->poll)
            loop_timer_disarm(m->poll);
        struct vd_job_stats *st = xcalloc(1, sizeof(*st));
        st->type = VD_JOB_COMPLETED;
        st->operation = VD_JOB_OPERATION_MIGRATION_OUT;
        st->success = true;
        st->elapsed_ms = now_ms() - m->started_ms;
        st->mem_total = m->total ? m->total : dom->def->memory_kib * 1024;
        st->mem_processed = m->transferred;
        st->data_total = st->mem_total;
        st->data_processed = st->mem_processed;
        st->postcopy_requests = m->postcopy_requests;
        st->have_postcopy = true;
        free(dom->job_completed);
        dom->job_completed = st;
        log_info("domain '%s': post-copy complete: the destination has every page", dom->def->name);
        if (m->confirm) {
            struct confirm *c = m->confirm;
            m->confirm = NULL;
            confirm_run(c);
        }
        return;
    }
    postcopy_fail(dom, error);
    if (!dom->vmm) /* the VMM ended: nothing of the migration is left to wait for */
        vd_migration_free(dom);
}

static void postcopy_sent(void *opaque, int r, const char *text, const char *error)
{
    struct vd_job *job = opaque;
    if (r == 0 && !(text && strstr(text, "\"error\""))) {
        if (job)
            vd_job_done(job);
        return;
    }
    char *why = r < 0 ? xstrdup(error ? error : "no answer") : qmp_error_desc(text);
    if (job)
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR,
                    "internal error: unable to execute QEMU command 'migrate-start-postcopy': %s",
                    why);
    else
        log_warn("migrate-start-postcopy: %s", why);
    free(why);
}

/* migrate-start-postcopy to the source's VMM; job (or NULL) hears its answer. */
static void postcopy_send(struct vd_domain *dom, struct vd_job *job)
{
    struct verr err = {0};
    dom->mig->postcopy_sent = true;
    if (!dom->vmm || vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"migrate-start-postcopy\"}",
                                            false, postcopy_sent, job, &err) < 0)
        postcopy_sent(job, -EIO, NULL, dom->vmm ? verr_msg(&err) : "domain is not running");
}

void vd_migrate_pass_event(struct vd_domain *dom, const char *data)
{
    if (!dom->mig || dom->mig->incoming || !data)
        return;
    struct json_object *o = json_tokener_parse(data), *v;
    if (o && json_object_object_get_ex(o, "pass", &v))
        vd_emit_migration_iteration(dom->daemon, dom, json_object_get_int(v));
    json_object_put(o);
}

int vd_migrate_start_postcopy_check(const struct vd_domain *dom, int *code, struct verr *err)
{
    *code = VIR_ERR_OPERATION_INVALID;
    if (!dom->vmm || !vd_domain_is_active(dom))
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    if (!dom->mig || dom->mig->incoming)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: post-copy can only be started while "
                        "outgoing migration is in progress");
    if (!(dom->mig->flags & VD_MIGRATE_POSTCOPY))
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: switching to post-copy requires "
                        "migration to be started with VIR_MIGRATE_POSTCOPY flag");
    return 0;
}

void vd_migrate_job_start_postcopy(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    int code;
    struct verr err = {0};
    if (vd_migrate_start_postcopy_check(dom, &code, &err) < 0) {
        vd_job_fail(job, code, "%s", verr_msg(&err));
        return;
    }
    struct vd_migration *m = dom->mig;
    m->postcopy_asked = true;
    if (m->postcopy_switched || m->postcopy_sent) {
        vd_job_done(job);
        return;
    }
    /* Before the VMM's stream has begun (Perform's first steps) the switch waits for it: the
     * next query-migrate that sees it running sends migrate-start-postcopy (poll_answer). */
    if (!m->performing || !m->have_figures) {
        vd_job_done(job);
        return;
    }
    postcopy_send(dom, job);
}

/* ---- Perform's storage copy (source) ----
 *
 * As libvirt's QEMU driver with an NBD server on the destination: one drive-mirror per
 * copied disk into the destination VMM's export (nbd:HOST:PORT:exportname=DRIVE, the host of
 * the migration URI and the port of Prepare's <nbd port=>), sync=full (-all) or top (-inc);
 * the memory stream goes once every mirror is READY, the mirrors keep copying the guest's
 * writes meanwhile; after the stream (the vCPUs stopped) block-job-cancel completes each
 * copy. Any failure cancels the mirrors (force) and the source runs on. With --tls, as
 * libvirt's: blockdev-add of an nbd node with the migration's tls-creds and tls-hostname
 * (migration-DRIVE-storage) per disk, and blockdev-mirror into it; the destination's NBD
 * server requires TLS (nbd-server-start tls-creds). */

static void perform_step(void *opaque, int r, const char *text, const char *error);
static void mirrors_poll(struct loop *loop, struct loop_timer *timer, void *opaque);

static char *qmp_error_desc(const char *text)
{
    struct json_object *o = json_tokener_parse(text), *e, *desc;
    char *m = xstrdup(o && json_object_object_get_ex(o, "error", &e) &&
                              json_object_object_get_ex(e, "desc", &desc)
                          ? json_object_get_string(desc)
                          : text);
    json_object_put(o);
    return m;
}

static bool perform_aborted(struct perform *p)
{
    if (!p->dom->mig || !p->dom->mig->aborted)
        return false;
    perform_failed(p, VIR_ERR_OPERATION_ABORTED,
                   "operation aborted: job 'migration out' canceled by client");
    return true;
}

static void mirror_next(struct perform *p);

/* --tls: the destination's export as an nbd node with the migration's credentials, as
 * libvirt adds it (tls-creds, tls-hostname: the host of the migration URI); then the
 * disk's blockdev-mirror into it. */
static void mirror_target_added(void *opaque, int r, const char *text, const char *error)
{
    struct perform *p = opaque;
    size_t i = p->replies;
    if (r < 0 || (text && strstr(text, "\"error\""))) {
        char *why = r < 0 ? xstrdup(error) : qmp_error_desc(text);
        char *m =
            xasprintf("operation failed: migration of disk %s failed: %s", p->targets[i], why);
        free(why);
        p->njobs = i;
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    p->target_added = true;
    mirror_next(p);
}

static int mirror_target_add(struct perform *p, const char *drive, struct verr *err)
{
    struct vd_domain *dom = p->dom;
    char *node = mirror_node_name(drive);
    mirror_node_del(dom, node); /* one a failed migration left */
    char port[16];
    snprintf(port, sizeof(port), "%d", p->nbd_port);
    struct json_object *srv = json_object_new_object(), *args = json_object_new_object();
    json_object_object_add(srv, "type", json_object_new_string("inet"));
    json_object_object_add(srv, "host", json_object_new_string(p->nbd_host));
    json_object_object_add(srv, "port", json_object_new_string(port));
    json_object_object_add(args, "driver", json_object_new_string("nbd"));
    json_object_object_add(args, "node-name", json_object_new_string(node));
    json_object_object_add(args, "server", srv);
    json_object_object_add(args, "export", json_object_new_string(drive));
    json_object_object_add(args, "tls-creds", json_object_new_string(VD_MIGRATE_TLS_ID));
    json_object_object_add(args, "tls-hostname", json_object_new_string(p->tls_host));
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute", json_object_new_string("blockdev-add"));
    json_object_object_add(cmd, "arguments", args);
    log_info("domain '%s': copying disk %s to nbd://%s:%d/%s over TLS", dom->def->name,
             p->targets[p->replies], p->nbd_host, p->nbd_port, drive);
    int r = vd_vmm_monitor_command(dom->vmm, json_object_to_json_string(cmd), false,
                                   mirror_target_added, p, err);
    json_object_put(cmd);
    free(node);
    return r;
}

static void mirror_started(void *opaque, int r, const char *text, const char *error)
{
    struct perform *p = opaque;
    size_t i = p->replies++;
    if (r < 0 || (text && strstr(text, "\"error\""))) {
        char *why = r < 0 ? xstrdup(error) : qmp_error_desc(text);
        char *m =
            xasprintf("operation failed: migration of disk %s failed: %s", p->targets[i], why);
        free(why);
        p->njobs = i; /* the ones before it are cancelled */
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    mirror_next(p);
}

/* The next disk's drive-mirror (one at a time: a refusal cancels those before it), then
 * the polling for READY. */
static void mirror_next(struct perform *p)
{
    struct vd_domain *dom = p->dom;
    if (perform_aborted(p))
        return;
    if (p->replies == p->njobs) {
        p->timer = loop_timer_new(dom->daemon->loop, mirrors_poll, p);
        loop_timer_arm(p->timer, POLL_MS * 1000000ull, POLL_MS * 1000000ull);
        return;
    }
    size_t k = p->replies;
    const struct domain_disk *disk = &dom->def->disks[p->disk_idx[k]];
    char *drive = vmm_argv_drive_id(disk, p->disk_idx[k]);
    bool tls = p->a->flags & VD_MIGRATE_TLS;
    struct verr err = {0};
    if (tls && !p->target_added) {
        int r = dom->vmm ? mirror_target_add(p, drive, &err)
                         : verr_set(&err, ESRCH, "domain is not running");
        free(drive);
        if (r < 0) {
            p->njobs = k;
            char *m = xasprintf("operation failed: %s", verr_msg(&err));
            perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
            free(m);
        }
        return;
    }
    p->target_added = false;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(drive));
    json_object_object_add(args, "job-id", json_object_new_string(p->jobs[k]));
    char *target = tls ? mirror_node_name(drive)
                       : xasprintf(strchr(p->nbd_host, ':') ? "nbd:[%s]:%d:exportname=%s"
                                                            : "nbd:%s:%d:exportname=%s",
                                   p->nbd_host, p->nbd_port, drive);
    json_object_object_add(args, "target", json_object_new_string(target));
    if (!tls) { /* drive-mirror's; a blockdev-mirror target is the node as it is */
        json_object_object_add(args, "format", json_object_new_string("raw"));
        json_object_object_add(args, "mode", json_object_new_string("existing"));
    }
    json_object_object_add(
        args, "sync",
        json_object_new_string((p->a->flags & VD_MIGRATE_NON_SHARED_INC) ? "top" : "full"));
    /* --copy-storage-synchronous-writes: guest writes reach the destination before they end,
     * so the copy converges whatever the guest writes (libvirt's copy-mode). */
    if (p->a->flags & VD_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES)
        json_object_object_add(args, "copy-mode", json_object_new_string("write-blocking"));
    /* As libvirt's: the migration's bandwidth limits the mirrors too. */
    uint64_t mibs = p->a->bandwidth ? p->a->bandwidth : dom->mig_speed_mibs;
    if (mibs && mibs < VD_MIGRATE_SPEED_MAX)
        json_object_object_add(args, "speed", json_object_new_int64((int64_t)(mibs << 20)));
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute",
                           json_object_new_string(tls ? "blockdev-mirror" : "drive-mirror"));
    json_object_object_add(cmd, "arguments", args);
    if (!tls)
        log_info("domain '%s': copying disk %s to %s", dom->def->name, disk->target_dev, target);
    int r = dom->vmm ? vd_vmm_monitor_command(dom->vmm, json_object_to_json_string(cmd), false,
                                              mirror_started, p, &err)
                     : verr_set(&err, ESRCH, "domain is not running");
    json_object_put(cmd);
    free(target);
    free(drive);
    if (r < 0) {
        p->njobs = k;
        char *m = xasprintf("operation failed: %s", verr_msg(&err));
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
    }
}

/* Sends every copied disk's drive-mirror, one after the other. */
static void mirrors_start(struct perform *p)
{
    struct vd_domain *dom = p->dom;
    struct vd_mig_args *a = p->a;
    int port = (int)cookie_attr(a->cookie_in, "nbd", "port", NULL);
    int mport = 0;
    struct verr err = {0};
    if (port <= 0 || port > 65535) {
        perform_failed(p, VIR_ERR_INTERNAL_ERROR,
                       "internal error: the destination gave no NBD port for the disks "
                       "(<nbd port=> in its migration cookie)");
        return;
    }
    if (parse_tcp_uri(a->uri, &p->nbd_host, &mport, &err) < 0) {
        perform_failed(p, VIR_ERR_INVALID_ARG, verr_msg(&err));
        return;
    }
    p->nbd_port = port;
    for (size_t i = 0; i < dom->def->ndisks; i++) {
        const struct domain_disk *disk = &dom->def->disks[i];
        if (!copy_disk(a, disk))
            continue;
        p->jobs = xrealloc(p->jobs, (p->njobs + 1) * sizeof(char *));
        p->targets = xrealloc(p->targets, (p->njobs + 1) * sizeof(char *));
        p->disk_idx = xrealloc(p->disk_idx, (p->njobs + 1) * sizeof(size_t));
        char *drive = vmm_argv_drive_id(disk, i);
        p->targets[p->njobs] = xstrdup(disk->target_dev);
        p->disk_idx[p->njobs] = i;
        p->jobs[p->njobs++] = xasprintf("migrate-%s", drive);
        p->nnames = p->njobs;
        free(drive);
    }
    if (!p->njobs) { /* nothing to copy (every disk shared or read-only) */
        p->mirrors_ready = true;
        perform_step(p, 0, NULL, NULL);
        return;
    }
    if (dom->mig)
        dom->mig->storage = true;
    mirror_next(p);
}

/* query-block-jobs: the mirrors' figures (domjobinfo's "File" lines), and whether they are
 * all READY (before the stream) or all gone (after block-job-cancel). */
static void mirrors_polled(void *opaque, int r, const char *text, const char *error)
{
    struct perform *p = opaque;
    struct vd_domain *dom = p->dom;
    p->polling = false;
    if (!p->completing && perform_aborted(p))
        return;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret = NULL;
    if (!o || !json_object_object_get_ex(o, "return", &ret) ||
        !json_object_is_type(ret, json_type_array)) {
        json_object_put(o);
        char *m = xasprintf("operation failed: query-block-jobs: %s", r < 0  ? error
                                                                      : text ? text
                                                                             : "no answer");
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    uint64_t total = 0, done = 0;
    size_t ready = 0, present = 0;
    const char *gone = NULL;
    for (size_t i = 0; i < p->njobs; i++) {
        bool found = false;
        for (size_t k = 0; k < json_object_array_length(ret); k++) {
            struct json_object *e = json_object_array_get_idx(ret, k), *v;
            if (!json_object_object_get_ex(e, "device", &v) ||
                strcmp(json_object_get_string(v), p->jobs[i]) != 0)
                continue;
            found = true;
            if (json_object_object_get_ex(e, "len", &v))
                total += (uint64_t)json_object_get_int64(v);
            if (json_object_object_get_ex(e, "offset", &v))
                done += (uint64_t)json_object_get_int64(v);
            if (json_object_object_get_ex(e, "ready", &v) && json_object_get_boolean(v))
                ready++;
        }
        if (found)
            present++;
        else if (!gone)
            gone = p->targets[i];
    }
    json_object_put(o);
    if (dom->mig && !p->completing) {
        dom->mig->disk_total = total;
        dom->mig->disk_processed = done;
    }
    if (p->completing) {
        if (present)
            return; /* the timer asks again */
        log_info("domain '%s': the disks' copies are complete", dom->def->name);
        strv_free(p->jobs, p->nnames);
        strv_free(p->targets, p->nnames);
        p->jobs = p->targets = NULL;
        p->njobs = p->nnames = 0;
        loop_timer_disarm(p->timer);
        perform_query_stats(p);
        return;
    }
    if (gone) {
        char *m = xasprintf("operation failed: migration of disk %s failed: its mirror ended "
                            "before the copy was complete",
                            gone);
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    if (ready < p->njobs || p->mirrors_ready)
        return;
    p->mirrors_ready = true;
    loop_timer_disarm(p->timer);
    log_info("domain '%s': the disks' mirrors are ready; migrating the memory", dom->def->name);
    perform_step(p, 0, NULL, NULL);
}

static void mirrors_poll(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct perform *p = opaque;
    struct vd_domain *dom = p->dom;
    if (p->polling)
        return;
    struct verr err = {0};
    if (!dom->vmm) {
        perform_failed(p, VIR_ERR_OPERATION_FAILED, "operation failed: domain is not running");
        return;
    }
    p->polling = true;
    if (vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"query-block-jobs\"}", false,
                               mirrors_polled, p, &err) < 0) {
        p->polling = false;
        char *m = xasprintf("operation failed: %s", verr_msg(&err));
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
    }
}

static void mirror_cancelled(void *opaque, int r, const char *text, const char *error)
{
    struct perform *p = opaque;
    if (r < 0 || (text && strstr(text, "\"error\"")))
        log_warn("domain '%s': block-job-cancel after the stream: %s", p->dom->def->name,
                 r < 0 ? error : text);
}

/* The stream went and the vCPUs are stopped: block-job-cancel on a READY mirror copies what
 * is left and ends it without a pivot; the stats follow once every job is gone. */
static void mirrors_complete(struct perform *p)
{
    struct vd_domain *dom = p->dom;
    p->completing = true;
    for (size_t i = 0; dom->vmm && i < p->njobs; i++) {
        char *cmd = xasprintf("{\"execute\": \"block-job-cancel\", \"arguments\": "
                              "{\"device\": \"%s\"}}",
                              p->jobs[i]);
        struct verr err = {0};
        if (vd_vmm_monitor_command(dom->vmm, cmd, false, mirror_cancelled, p, &err) < 0)
            log_warn("domain '%s': block-job-cancel %s: %s", dom->def->name, p->jobs[i],
                     verr_msg(&err));
        free(cmd);
    }
    loop_timer_arm(p->timer, POLL_MS * 1000000ull / 4, POLL_MS * 1000000ull / 4);
}

/* The steps before the stream: the tunables into the VMM, the disks' mirrors, then
 * migrate. */
static void perform_step(void *opaque, int r, const char *text, const char *error)
{
    struct perform *p = opaque;
    struct vd_domain *dom = p->dom;
    if (r == 0 && text && strstr(text, "\"error\"")) {
        struct json_object *o = json_tokener_parse(text), *e, *desc;
        char *m =
            xasprintf("operation failed: %s", o && json_object_object_get_ex(o, "error", &e) &&
                                                      json_object_object_get_ex(e, "desc", &desc)
                                                  ? json_object_get_string(desc)
                                                  : text);
        json_object_put(o);
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    if (r < 0) {
        char *m = xasprintf("operation failed: %s", error);
        perform_failed(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    if (!dom->vmm || !dom->mig) {
        perform_failed(p, VIR_ERR_OPERATION_FAILED, "operation failed: domain is not running");
        return;
    }
    struct verr err = {0};
    char *cmd = NULL;
    int step = p->step++;
    if (step == 0 && (p->a->flags & VD_MIGRATE_TLS)) {
        /* libvirt's object-add of the client credentials; one left by a migration that
         * failed before goes first (its answer does not matter). */
        vd_vmm_monitor_command(dom->vmm,
                               "{\"execute\": \"object-del\", \"arguments\": {\"id\": "
                               "\"" VD_MIGRATE_TLS_ID "\"}}",
                               false, ignore_reply, NULL, &err);
        struct json_object *o = json_object_new_object(), *args = json_object_new_object();
        json_object_object_add(o, "execute", json_object_new_string("object-add"));
        json_object_object_add(args, "qom-type", json_object_new_string("tls-creds-x509"));
        json_object_object_add(args, "id", json_object_new_string(VD_MIGRATE_TLS_ID));
        json_object_object_add(args, "dir", json_object_new_string(dom->daemon->migrate_tls_dir));
        json_object_object_add(args, "endpoint", json_object_new_string("client"));
        json_object_object_add(args, "verify-peer",
                               json_object_new_boolean(dom->daemon->migrate_tls_verify != 0));
        json_object_object_add(o, "arguments", args);
        cmd = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else if (step <= 1) {
        p->step = 2;
        uint64_t mibs = p->a->bandwidth ? p->a->bandwidth : dom->mig_speed_mibs;
        uint64_t bw = mibs && mibs < VD_MIGRATE_SPEED_MAX ? mibs << 20 : 0;
        uint64_t downtime =
            dom->mig_downtime_ms ? dom->mig_downtime_ms : VD_MIGRATE_DOWNTIME_DEFAULT;
        /* tls-creds and tls-hostname always: a migration without --tls after one with it
         * goes in clear, as asked. */
        struct json_object *o = json_object_new_object(), *args = json_object_new_object();
        json_object_object_add(o, "execute", json_object_new_string("migrate-set-parameters"));
        json_object_object_add(args, "downtime-limit", json_object_new_int64((int64_t)downtime));
        if (bw)
            json_object_object_add(args, "max-bandwidth", json_object_new_int64((int64_t)bw));
        bool tls = p->a->flags & VD_MIGRATE_TLS;
        json_object_object_add(args, "tls-creds",
                               json_object_new_string(tls ? VD_MIGRATE_TLS_ID : ""));
        json_object_object_add(args, "tls-hostname",
                               json_object_new_string(tls && p->tls_host ? p->tls_host : ""));
        json_object_object_add(o, "arguments", args);
        cmd = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else if (step == 2 && (p->a->flags & VD_MIGRATE_AUTO_CONVERGE)) {
        cmd = xstrdup("{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
                      "{\"capabilities\": [{\"capability\": \"auto-converge\", \"state\": "
                      "true}]}}");
    } else if (step <= 3) {
        /* multifd always: one left on by an earlier --parallel would refuse the fd: stream. */
        p->step = 4;
        cmd = xasprintf("{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
                        "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": "
                        "%s}]}}",
                        parallel_channels(p->a) ? "true" : "false");
    } else if (step == 4 && parallel_channels(p->a)) {
        cmd = xasprintf("{\"execute\": \"migrate-set-parameters\", \"arguments\": "
                        "{\"multifd-channels\": %u}}",
                        parallel_channels(p->a));
    } else if (step <= 5) {
        /* postcopy-ram always: one left on by an earlier --postcopy would advise post-copy
         * to a destination that did not ask for it. */
        p->step = 6;
        cmd = xasprintf("{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
                        "{\"capabilities\": [{\"capability\": \"postcopy-ram\", \"state\": "
                        "%s}]}}",
                        (p->a->flags & VD_MIGRATE_POSTCOPY) ? "true" : "false");
    } else if (step == 6 && (p->a->flags & VD_MIGRATE_POSTCOPY) && p->a->postcopy_bandwidth) {
        /* bandwidth.postcopy (MiB/s), as libvirt sets it only when given */
        cmd = xasprintf("{\"execute\": \"migrate-set-parameters\", \"arguments\": "
                        "{\"max-postcopy-bandwidth\": %llu}}",
                        (unsigned long long)(p->a->postcopy_bandwidth << 20));
    }
    if (cmd) {
        int rr = vd_vmm_monitor_command(dom->vmm, cmd, false, perform_step, p, &err);
        free(cmd);
        if (rr < 0) {
            perform_failed(p, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        }
        return;
    }
    if (perform_aborted(p))
        return;
    if (with_storage(p->a->flags) && !p->mirrors_ready) {
        mirrors_start(p);
        return;
    }
    dom->mig->performing = true;
    int sr;
    if (dom->mig->stream_fd < 0) { /* --parallel: the VMM connects its channels itself */
        char *uri = vmm_tcp_uri(p->a->uri);
        sr =
            uri ? vd_vmm_migrate_uri(dom->vmm, uri, perform_sent, p, &err)
                : verr_set(&err, EINVAL, "invalid argument: malformed migration URI %s", p->a->uri);
        free(uri);
    } else {
        sr = vd_vmm_save(dom->vmm, dom->mig->stream_fd, perform_sent, p, &err);
    }
    if (sr < 0) {
        dom->mig->performing = false;
        perform_failed(p, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    dom->mig->poll = loop_timer_new(dom->daemon->loop, poll_tick, dom);
    loop_timer_arm(dom->mig->poll, POLL_MS * 1000000ull, POLL_MS * 1000000ull);
}

/* A TCP connection to host:port within CONNECT_TIMEOUT_MS. */
static int connect_tcp(const char *host, int port, struct verr *err)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int gr = getaddrinfo(host, ps, &hints, &ai);
    if (gr != 0)
        return verr_set(err, EHOSTUNREACH, "operation failed: cannot resolve '%s': %s", host,
                        gai_strerror(gr));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int r = fd < 0 ? -errno : 0;
    if (r == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        r = -errno;
        if (r == -EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int n = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (n == 0)
                r = -ETIMEDOUT;
            else if (n < 0)
                r = -errno;
            else
                r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ? -errno : -soerr;
        }
    }
    freeaddrinfo(ai);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return verr_errno(err, -r,
                          "operation failed: Failed to connect to remote migration port %s:%d",
                          host, port);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* ---- Perform of a post-copy recovery (source) ---- */

/* How long the source's VMM may stay postcopy-paused after migrate resume=true before the
 * recovery counts as failed (its connection to the destination did not come). */
#define RESUME_CONNECT_MS 30000

struct resume {
    struct vd_domain *dom;
    struct vd_mig_args *a;
    vd_migrate_done_fn done;
    void *opaque;
    struct loop_timer *timer;
    uint64_t deadline;
    bool recovering; /* the VMM said postcopy-recover */
};

static void resume_end(struct resume *rs, const char *failure)
{
    struct vd_domain *dom = rs->dom;
    struct vd_migration *m = dom->mig;
    vd_migrate_done_fn done = rs->done;
    void *opaque = rs->opaque;
    struct vd_mig_args *a = rs->a;
    loop_timer_free(rs->timer);
    free(rs);
    if (!failure && m && dom->vmm) {
        /* the source's VMM serves the pages again: paused (post-copy), as libvirt's */
        m->performing = !m->postcopy_done; /* (the stream may have completed already) */
        if (m->poll && m->performing)
            loop_timer_arm(m->poll, POLL_MS * 1000000ull, POLL_MS * 1000000ull);
        set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY);
        log_info("domain '%s': post-copy recovered: the destination's pages come again",
                 dom->def->name);
        free(a->cookie_out);
        a->cookie_out = cookie(dom);
        done(opaque, 0, 0, NULL);
        return;
    }
    if (!failure)
        failure = "domain is not running";
    log_warn("domain '%s': post-copy recovery failed: %s", dom->def->name, failure);
    if (m) { /* still post-copy failed: a later resume may try again */
        m->resuming = false;
        if (!m->postcopy_failed) {
            m->postcopy_failed = true;
            free(m->postcopy_error);
            m->postcopy_error = xstrdup(failure);
        }
    }
    char *msg = xasprintf("operation failed: job 'migration out' failed: %s", failure);
    done(opaque, -EIO, VIR_ERR_OPERATION_FAILED, msg);
    free(msg);
}

static void resume_poll(struct loop *loop, struct loop_timer *timer, void *opaque);

static void resume_status(void *opaque, int r, const char *text, const char *error)
{
    struct resume *rs = opaque;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret = NULL, *v;
    bool have = o && json_object_object_get_ex(o, "return", &ret);
    char *st = xstrdup(
        have && json_object_object_get_ex(ret, "status", &v) ? json_object_get_string(v) : "");
    char *desc =
        xstrdup(have && json_object_object_get_ex(ret, "error-desc", &v) ? json_object_get_string(v)
                : r < 0 ? (error ? error : "no answer")
                        : st);
    json_object_put(o);
    if (!strcmp(st, "postcopy-active") || !strcmp(st, "completed")) {
        resume_end(rs, NULL);
    } else if (!strcmp(st, "postcopy-recover") ||
               (!strcmp(st, "postcopy-paused") && !rs->recovering && now_ms() < rs->deadline)) {
        rs->recovering |= !strcmp(st, "postcopy-recover");
        loop_timer_arm(rs->timer, POLL_MS * 1000000ull / 4, 0);
    } else if (!strcmp(st, "postcopy-paused")) {
        resume_end(rs, rs->recovering ? "the recovered stream broke again"
                                      : "the connection to the destination did not come");
    } else {
        resume_end(rs, *desc ? desc : "no status");
    }
    free(st);
    free(desc);
}

static void resume_poll(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct resume *rs = opaque;
    struct verr err = {0};
    if (!rs->dom->vmm || !rs->dom->mig)
        resume_end(rs, "domain is not running");
    else if (vd_vmm_monitor_command(rs->dom->vmm, "{\"execute\": \"query-migrate\"}", false,
                                    resume_status, rs, &err) < 0)
        resume_end(rs, verr_msg(&err));
}

static void resume_sent(void *opaque, int r, const char *error)
{
    struct resume *rs = opaque;
    if (r < 0) {
        struct vd_domain *dom = rs->dom;
        vd_migrate_done_fn done = rs->done;
        void *ctx = rs->opaque;
        if (dom->mig) {
            dom->mig->resuming = false;
            dom->mig->postcopy_failed = true;
        }
        loop_timer_free(rs->timer);
        free(rs);
        char *msg = xasprintf("internal error: unable to execute QEMU command 'migrate': %s",
                              error ? error : "no answer");
        done(ctx, -EIO, VIR_ERR_INTERNAL_ERROR, msg);
        free(msg);
        return;
    }
    rs->deadline = now_ms() + RESUME_CONNECT_MS;
    resume_poll(rs->dom->daemon->loop, rs->timer, rs);
}

/* migrate resume=true to the destination's migrate-recover port; the pending save of the first
 * stream (its perform, handed at the switch) hears the stream's end, as before the failure. */
static void perform_resume(struct vd_domain *dom, struct vd_mig_args *a, vd_migrate_done_fn done,
                           void *opaque)
{
    int code;
    struct verr err = {0};
    if (resume_check(dom, false, a->flags, &code, &err) < 0) {
        done(opaque, -EINVAL, code, verr_msg(&err));
        return;
    }
    char *uri = a->uri ? vmm_tcp_uri(a->uri) : NULL;
    if (!uri) {
        char *msg = a->uri ? xasprintf("invalid argument: malformed migration URI %s", a->uri)
                           : xstrdup("invalid argument: no migration URI (migrate_uri) given");
        done(opaque, -EINVAL, VIR_ERR_INVALID_ARG, msg);
        free(msg);
        return;
    }
    struct vd_migration *m = dom->mig;
    if (a->postcopy_bandwidth) { /* bandwidth.postcopy, as the first stream took it */
        char *cmd = xasprintf("{\"execute\": \"migrate-set-parameters\", \"arguments\": "
                              "{\"max-postcopy-bandwidth\": %llu}}",
                              (unsigned long long)(a->postcopy_bandwidth << 20));
        vd_vmm_monitor_command(dom->vmm, cmd, false, ignore_reply, NULL, &err);
        free(cmd);
    }
    struct resume *rs = xcalloc(1, sizeof(*rs));
    rs->dom = dom;
    rs->a = a;
    rs->done = done;
    rs->opaque = opaque;
    rs->timer = loop_timer_new(dom->daemon->loop, resume_poll, rs);
    /* Not failed from here: the stream's end (completed) may come before the answer. */
    m->resuming = true;
    m->postcopy_failed = false;
    log_info("domain '%s': resuming the post-copy migration to %s", dom->def->name, uri);
    int r = vd_vmm_migrate_resume(dom->vmm, uri, resume_sent, rs, &err);
    free(uri);
    if (r < 0)
        resume_sent(rs, r, verr_msg(&err));
}

void vd_migrate_perform(struct vd_domain *dom, struct vd_mig_args *a, vd_migrate_done_fn done,
                        void *opaque)
{
    struct verr err = {0};
    if (a->flags & VD_MIGRATE_POSTCOPY_RESUME) {
        perform_resume(dom, a, done, opaque);
        return;
    }
    if (a->flags & VD_MIGRATE_OFFLINE) { /* nothing runs: Finish moves the definition */
        a->cookie_out = cookie(dom);
        done(opaque, 0, 0, NULL);
        return;
    }
    if (!dom->vmm || !vd_domain_is_active(dom)) {
        done(opaque, -EINVAL, VIR_ERR_OPERATION_INVALID,
             "Requested operation is not valid: domain is not running");
        return;
    }
    if (dom->mig) {
        done(opaque, -EBUSY, VIR_ERR_OPERATION_INVALID,
             "Requested operation is not valid: domain is already being migrated");
        return;
    }
    if (!a->uri) {
        done(opaque, -EINVAL, VIR_ERR_INVALID_ARG,
             "invalid argument: no migration URI (migrate_uri) given");
        return;
    }
    char *host = NULL;
    int port = 0;
    if (parse_tcp_uri(a->uri, &host, &port, &err) < 0) {
        done(opaque, -EINVAL, VIR_ERR_INVALID_ARG, verr_msg(&err));
        return;
    }
    /* --parallel: vireo-vmm connects (its main stream and channels); else this daemon, and
     * the VMM gets the socket. */
    int fd = (a->flags & VD_MIGRATE_PARALLEL) ? -1 : connect_tcp(host, port, &err);
    if (fd < 0 && !(a->flags & VD_MIGRATE_PARALLEL)) {
        free(host);
        done(opaque, fd, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    struct vd_migration *m = migration_new(dom, false, a->flags);
    m->stream_fd = fd;
    m->was_running = dom->state == VIR_DOMAIN_RUNNING;
    struct perform *p = xcalloc(1, sizeof(*p));
    p->dom = dom;
    p->a = a;
    p->done = done;
    p->opaque = opaque;
    p->tls_host = host; /* libvirt's tls-hostname: the host of the migration URI */
    m->perform = p;
    log_info("domain '%s': migrating to %s", dom->def->name, a->uri);
    perform_step(p, 0, NULL, NULL);
}

static void job_finished(void *opaque, int r, int code, const char *message)
{
    struct vd_job *job = opaque;
    if (r < 0)
        vd_job_fail(job, code, "%s", message);
    else
        vd_job_done(job);
}

void vd_migrate_job_perform(struct vd_job *job)
{
    vd_migrate_perform(job->dom, job->mig, job_finished, job);
}

/* ---- Confirm (source) ---- */

struct confirm {
    struct vd_domain *dom;
    struct vd_mig_args *a;
    vd_migrate_done_fn done;
    void *opaque;
};

static void confirm_end(struct confirm *c, int r, int code, const char *message)
{
    vd_migrate_done_fn done = c->done;
    void *opaque = c->opaque;
    free(c);
    done(opaque, r, code, message);
}

static void confirm_undefine(struct confirm *c)
{
    struct vd_domain *dom = c->dom;
    struct verr err = {0};
    if ((c->a->flags & VD_MIGRATE_UNDEFINE_SOURCE) && dom->persistent && !dom->vanished &&
        vd_domain_undefine(dom->daemon, dom, &err) < 0) {
        confirm_end(c, -EIO, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    confirm_end(c, 0, 0, NULL);
}

static void confirm_stopped(void *opaque, int r, const char *error)
{
    struct confirm *c = opaque;
    if (r < 0) {
        char *m = xasprintf("operation failed: %s", error);
        confirm_end(c, r, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    confirm_undefine(c);
}

static void confirm_resumed(void *opaque, int r, const char *error)
{
    struct confirm *c = opaque;
    struct vd_domain *dom = c->dom;
    if (r < 0) {
        char *m =
            xasprintf("operation failed: cannot resume domain '%s': %s", dom->def->name, error);
        confirm_end(c, r, VIR_ERR_OPERATION_FAILED, m);
        free(m);
        return;
    }
    set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                      VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
    confirm_end(c, 0, 0, NULL);
}

void vd_migrate_confirm(struct vd_domain *dom, struct vd_mig_args *a, vd_migrate_done_fn done,
                        void *opaque)
{
    struct confirm *c = xcalloc(1, sizeof(*c));
    c->dom = dom;
    c->a = a;
    c->done = done;
    c->opaque = opaque;
    struct vd_migration *m = dom->mig;
    if (m && !m->incoming && m->postcopy_switched && (a->cancelled || m->postcopy_failed)) {
        /* After the switch the guest ran on the destination: this memory is stale, the
         * source is never resumed (libvirt's post-copy failure). */
        m->resuming = false;
        if (!m->postcopy_failed)
            postcopy_fail(dom, "the destination did not finish the migration");
        if (a->cancelled)
            confirm_end(c, 0, 0, NULL);
        else
            postcopy_confirm_fail(c, m->postcopy_error);
        return;
    }
    if (m && !m->incoming && m->postcopy_switched && !m->postcopy_done) {
        log_info("domain '%s': confirm waits for the post-copy stream's end", dom->def->name);
        m->confirm = c; /* postcopy_stream_end goes on */
        return;
    }
    confirm_run(c);
}

/* The rest of Confirm, once nothing of the stream is left. */
static void confirm_run(struct confirm *c)
{
    struct vd_domain *dom = c->dom;
    struct vd_mig_args *a = c->a;
    vd_migration_free(dom);
    struct verr err = {0};
    if (a->cancelled) {
        /* The destination has nothing: the source runs again if the migration stopped it. */
        if (dom->vmm && dom->state == VIR_DOMAIN_PAUSED &&
            dom->reason == VIR_DOMAIN_PAUSED_MIGRATION) {
            if (vd_vmm_resume(dom->vmm, confirm_resumed, c, &err) < 0)
                confirm_resumed(c, -EIO, verr_msg(&err));
            return;
        }
        confirm_end(c, 0, 0, NULL);
        return;
    }
    if (a->flags & VD_MIGRATE_OFFLINE) {
        confirm_undefine(c);
        return;
    }
    if (!dom->vmm) { /* it ended meanwhile: nothing to stop */
        confirm_undefine(c);
        return;
    }
    dom->migrated = true; /* vmm_exited: shut off (migrated) */
    if (vd_vmm_destroy(dom->vmm, confirm_stopped, c, &err) < 0) {
        dom->migrated = false;
        confirm_end(c, -EIO, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
    }
}

void vd_migrate_job_confirm(struct vd_job *job)
{
    vd_migrate_confirm(job->dom, job->mig, job_finished, job);
}

/* ---- Finish (destination) ---- */

/* libvirt's answer to a cancelled Finish: nothing here, and no better reason to report than
 * the source's (the client keeps Perform's error when Finish says MIGRATE_FINISH_OK). */
static void finish_cancelled(void *opaque, int r, const char *error)
{
    (void)r, (void)error;
    struct vd_job *job = opaque;
    vd_job_fail(job, VIR_ERR_MIGRATE_FINISH_OK, "migration successfully aborted");
}

/* The persistent definition the destination keeps (--persistent). */
static int make_persistent(struct vd_domain *dom, struct vd_mig_args *a, struct verr *err)
{
    char *xml = a->persistent_xml
                    ? xstrdup(a->persistent_xml)
                    : domain_def_format(dom->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    struct domain_def *def;
    int r = domain_def_parse_string(xml, 0, &def, err);
    free(xml);
    if (r < 0)
        return r;
    free(def->name);
    def->name = xstrdup(dom->def->name);
    memcpy(def->uuid, dom->def->uuid, 16);
    def->id = -1;
    struct domain_def *old = dom->newdef;
    bool was = dom->persistent;
    dom->newdef = def;
    dom->persistent = true;
    r = vd_domain_save_config(dom->daemon, dom, err);
    if (r < 0) {
        dom->newdef = old;
        dom->persistent = was;
        domain_def_free(def);
        return r;
    }
    domain_def_free(old);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_ADDED);
    return 0;
}

static void finish_resumed(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: resume failed: %s", error);
        return;
    }
    /* As libvirt's destination: the downtime the guest saw is from the moment the source
     * stopped its vCPUs (the cookie's <stopped>) to now, when they run here. */
    struct vd_job_stats *st = dom->job_completed;
    uint64_t now = wall_ms();
    if (st && st->stopped_wall_ms && now >= st->stopped_wall_ms) {
        st->downtime_ms = now - st->stopped_wall_ms;
        st->have_downtime = true;
    }
    set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                      VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
    log_info("domain '%s': incoming migration finished", dom->def->name);
    vd_job_done(job);
}

/* ---- Finish in post-copy (destination) ----
 *
 * The start ended at the VMM's postcopy-active (or completed: the migration converged before
 * the switch). After cont the guest runs here while its last pages come from the source:
 * running (post-copy), event resumed/post-copy; when the VMM's stream completes, running
 * (migrated) and resumed/migrated, as libvirt's destination says at the very end. A failure
 * meanwhile (postcopy-paused, the VMM gone) is running (post-copy failed) and Finish fails. */
struct postcopy_wait {
    struct vd_job *job;
    struct loop_timer *timer;
    bool in_postcopy;
    /* POSTCOPY_RESUME: the VMM may still be postcopy-paused or -recover until this */
    bool resume;
    uint64_t deadline;
};

static void postcopy_wait_end(struct postcopy_wait *w, const char *failure)
{
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    bool in_postcopy = w->in_postcopy;
    bool resume = w->resume;
    loop_timer_free(w->timer);
    free(w);
    if (!failure && !in_postcopy && resume && dom->vmm) {
        /* a recovered stream that completed between two polls went through postcopy-active
         * all the same: its event, as libvirt's destination gives it */
        set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_POSTCOPY);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_POSTCOPY);
        in_postcopy = true;
    }
    if (!failure && !in_postcopy) { /* pre-copy converged first: a plain migration's end */
        finish_resumed(job, 0, NULL);
        return;
    }
    if (!failure) {
        set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
        log_info("domain '%s': incoming post-copy migration finished", dom->def->name);
        vd_job_done(job);
        return;
    }
    log_warn("domain '%s': incoming post-copy migration failed: %s", dom->def->name, failure);
    if (dom->vmm) {
        set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_POSTCOPY_FAILED);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED);
    }
    vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                "operation failed: job 'migration in' failed in post-copy phase");
}

static void postcopy_wait_poll(struct loop *loop, struct loop_timer *timer, void *opaque);

static void postcopy_wait_status(void *opaque, int r, const char *text, const char *error)
{
    struct postcopy_wait *w = opaque;
    struct vd_domain *dom = w->job->dom;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret, *v;
    char *st = xstrdup(o && json_object_object_get_ex(o, "return", &ret) &&
                               json_object_object_get_ex(ret, "status", &v)
                           ? json_object_get_string(v)
                           : "");
    char *desc = xstrdup(o && json_object_object_get_ex(o, "return", &ret) &&
                                 json_object_object_get_ex(ret, "error-desc", &v)
                             ? json_object_get_string(v)
                             : st);
    json_object_put(o);
    if (!strcmp(st, "postcopy-active") && dom->vmm) {
        if (!w->in_postcopy) {
            w->in_postcopy = true;
            set_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_POSTCOPY);
            vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                              VIR_DOMAIN_EVENT_RESUMED_POSTCOPY);
        }
        loop_timer_arm(w->timer, POLL_MS * 1000000ull, 0);
    } else if (!strcmp(st, "completed") && dom->vmm) {
        postcopy_wait_end(w, NULL);
    } else if (w->resume && !w->in_postcopy && r == 0 && dom->vmm && now_ms() < w->deadline &&
               (!strcmp(st, "postcopy-paused") || !strcmp(st, "postcopy-recover") ||
                !strcmp(st, "setup"))) {
        /* the recovery's connection and handshake are under way */
        loop_timer_arm(w->timer, POLL_MS * 1000000ull, 0);
    } else if (r < 0 && dom->vmm) {
        /* No answer in time: the VMM's main thread may itself wait on a page the source has
         * not sent yet. Only the VMM's end or its status says the phase failed. */
        loop_timer_arm(w->timer, POLL_MS * 1000000ull, 0);
    } else {
        postcopy_wait_end(w, r < 0       ? (error ? error : "no answer")
                             : !dom->vmm ? "the VMM ended"
                             : *desc     ? desc
                                         : "no status");
    }
    free(st);
    free(desc);
}

static void postcopy_wait_poll(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct postcopy_wait *w = opaque;
    struct vd_domain *dom = w->job->dom;
    struct verr err = {0};
    if (!dom->vmm)
        postcopy_wait_end(w, "the VMM ended");
    else if (vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"query-migrate\"}", false,
                                    postcopy_wait_status, w, &err) < 0)
        postcopy_wait_end(w, verr_msg(&err));
}

static void finish_postcopy_resumed(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    if (r < 0) {
        finish_resumed(job, r, error);
        return;
    }
    struct postcopy_wait *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->timer = loop_timer_new(job->dom->daemon->loop, postcopy_wait_poll, w);
    postcopy_wait_poll(job->dom->daemon->loop, w->timer, w);
}

/* One number of the source cookie's <statistics>, if it is there. */
static bool cookie_number(const char *stats, const char *name, uint64_t *out)
{
    char open_tag[48];
    snprintf(open_tag, sizeof(open_tag), "<%s>", name);
    const char *p = strstr(stats, open_tag);
    if (!p)
        return false;
    p += strlen(open_tag);
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || strncmp(end, "</", 2) != 0)
        return false;
    *out = v;
    return true;
}

/* The source's figures (libvirt's cookie <statistics>) into the destination's job stats. */
static void cookie_statistics(const char *cookie_in, struct vd_job_stats *st)
{
    const char *stats = cookie_in ? strstr(cookie_in, "<statistics>") : NULL;
    if (!stats)
        return;
    uint64_t v;
    if (cookie_number(stats, "time_elapsed", &v))
        st->elapsed_ms = v;
    if (cookie_number(stats, "downtime", &v)) {
        st->downtime_ms = v;
        st->have_downtime = true;
    }
    if (cookie_number(stats, "memory_processed", &v))
        st->mem_processed = st->data_processed = v;
    if (cookie_number(stats, "stopped", &v))
        st->stopped_wall_ms = v;
}

/* Nothing runs here after all: the VMM ends, a transient domain goes; the disks Prepare
 * created go with the job's arguments (a->created). */
static void finish_abandon(struct vd_job *job, bool waiting)
{
    struct vd_domain *dom = job->dom;
    struct vd_mig_args *a = job->mig;
    struct verr err = {0};
    if (dom->vmm && vd_vmm_destroy(dom->vmm, finish_cancelled, job, &err) == 0)
        return;
    if (!dom->vmm && !dom->persistent && !vd_domain_is_active(dom))
        vd_domain_forget(dom->daemon, dom);
    if (a->cancelled)
        finish_cancelled(job, 0, NULL);
    else
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "operation failed: job 'migration in' failed: %s",
                    waiting ? "no stream arrived from the source" : "the VMM did not start");
}

/* The stream is in: the domain runs here (or stays paused). */
static void finish_complete(struct vd_job *job, uint64_t started)
{
    struct vd_domain *dom = job->dom;
    struct vd_mig_args *a = job->mig;
    struct verr err = {0};
    strv_free(a->created, a->ncreated); /* they are the domain's disks now */
    a->created = NULL;
    a->ncreated = 0;
    struct vd_job_stats *st = xcalloc(1, sizeof(*st));
    st->type = VD_JOB_COMPLETED;
    st->operation = VD_JOB_OPERATION_MIGRATION_IN;
    st->success = true;
    st->elapsed_ms = now_ms() - started;
    st->mem_total = st->data_total = dom->def->memory_kib * 1024;
    free(dom->job_completed);
    dom->job_completed = st;
    cookie_statistics(a->cookie_in, st);
    if ((a->flags & VD_MIGRATE_PERSIST_DEST) && make_persistent(dom, a, &err) < 0) {
        /* libvirt: the domain runs on, and the error says the definition did not move */
        vd_job_fail(job, VIR_ERR_MIGRATE_PERSIST_FAILED, "%s", verr_msg(&err));
        return;
    }
    free(a->cookie_out);
    a->cookie_out = cookie(dom);
    if (a->flags & VD_MIGRATE_PAUSED) {
        set_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        vd_job_done(job);
        return;
    }
    vd_vmm_done_fn resumed =
        (a->flags & VD_MIGRATE_POSTCOPY) ? finish_postcopy_resumed : finish_resumed;
    if (vd_vmm_resume(dom->vmm, resumed, job, &err) < 0)
        resumed(job, -EIO, verr_msg(&err));
}

/* A storage or --parallel migration's Finish: the VMM loads the stream itself
 * (migrate-incoming tcp:); its end is awaited, then, with storage, the NBD server stops
 * (as libvirt's destination does before it resumes the vCPUs). */
struct finish_wait {
    struct vd_job *job;
    uint64_t started;
    uint64_t deadline;
    struct loop_timer *timer;
};

static void finish_wait_end(struct finish_wait *w, bool ok)
{
    struct vd_job *job = w->job;
    uint64_t started = w->started;
    loop_timer_free(w->timer);
    free(w);
    if (ok) {
        finish_complete(job, started);
    } else {
        job->mig->cancelled = true;
        finish_abandon(job, false);
    }
}

static void nbd_stopped(void *opaque, int r, const char *text, const char *error)
{
    struct finish_wait *w = opaque;
    if (r < 0 || (text && strstr(text, "\"error\"")))
        log_warn("domain '%s': nbd-server-stop: %s", w->job->dom->def->name, r < 0 ? error : text);
    finish_wait_end(w, r == 0);
}

static void incoming_status(void *opaque, int r, const char *text, const char *error)
{
    struct finish_wait *w = opaque;
    struct vd_domain *dom = w->job->dom;
    struct json_object *o = r == 0 ? json_tokener_parse(text) : NULL, *ret, *v;
    const char *st = o && json_object_object_get_ex(o, "return", &ret) &&
                             json_object_object_get_ex(ret, "status", &v)
                         ? json_object_get_string(v)
                         : NULL;
    bool done = st && !strcmp(st, "completed");
    bool failed = r < 0 || !st || !strcmp(st, "failed") || !strcmp(st, "cancelled");
    json_object_put(o);
    struct verr err = {0};
    if (done && (w->job->mig->flags & VD_MIGRATE_TLS) && dom->vmm) {
        /* libvirt's reset after a TLS migration, as vmm-start.c's for a stream alone: later
         * saves and migrations of this VM go in clear unless asked again. */
        vd_vmm_monitor_command(dom->vmm,
                               "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
                               "{\"tls-creds\": \"\"}}",
                               false, ignore_reply, NULL, &err);
        vd_vmm_monitor_command(dom->vmm,
                               "{\"execute\": \"object-del\", \"arguments\": {\"id\": "
                               "\"" VD_MIGRATE_TLS_ID "\"}}",
                               false, ignore_reply, NULL, &err);
    }
    if (done && !with_storage(w->job->mig->flags)) { /* --parallel alone: no NBD server */
        finish_wait_end(w, dom->vmm != NULL);
        return;
    }
    if (done) {
        if (!dom->vmm || vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"nbd-server-stop\"}",
                                                false, nbd_stopped, w, &err) < 0)
            finish_wait_end(w, false);
        return;
    }
    if (failed || now_ms() > w->deadline) {
        log_warn("domain '%s': the incoming stream did not complete: %s", dom->def->name,
                 r < 0 ? error
                 : st  ? st
                       : "no status");
        finish_wait_end(w, false);
        return;
    }
    loop_timer_arm(w->timer, POLL_MS * 1000000ull / 4, 0);
}

static void incoming_poll(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop, (void)timer;
    struct finish_wait *w = opaque;
    struct vd_domain *dom = w->job->dom;
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"query-migrate\"}", false,
                                            incoming_status, w, &err) < 0)
        finish_wait_end(w, false);
}

/* POSTCOPY_RESUME: the destination's VMM completes the recovered stream; the guest runs
 * here all along. A cancelled one (Perform failed) leaves it in post-copy failed. */
static void finish_resume(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_mig_args *a = job->mig;
    bool prepared = dom->mig && dom->mig->incoming && dom->mig->resuming;
    if (prepared)
        vd_migration_free(dom);
    if (prepared && a->cancelled) { /* the client keeps Perform's error */
        vd_job_fail(job, VIR_ERR_MIGRATE_FINISH_OK, "migration successfully aborted");
        return;
    }
    if (!prepared || !dom->vmm) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "operation failed: job 'migration in' failed in post-copy phase");
        return;
    }
    free(a->cookie_out);
    a->cookie_out = cookie(dom);
    struct postcopy_wait *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->resume = true;
    w->deadline = now_ms() + (uint64_t)INCOMING_WAIT_S * 1000;
    w->timer = loop_timer_new(dom->daemon->loop, postcopy_wait_poll, w);
    postcopy_wait_poll(dom->daemon->loop, w->timer, w);
}

void vd_migrate_job_finish(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_mig_args *a = job->mig;
    if (a->flags & VD_MIGRATE_POSTCOPY_RESUME) {
        finish_resume(job);
        return;
    }
    bool waiting = dom->mig && dom->mig->listen_fd >= 0;
    bool storage = dom->mig && dom->mig->storage;
    uint64_t started = dom->mig ? dom->mig->started_ms : now_ms();
    if (dom->mig) { /* the created disks go with the arguments if nothing runs here */
        a->created = dom->mig->created;
        a->ncreated = dom->mig->ncreated;
        dom->mig->created = NULL;
        dom->mig->ncreated = 0;
    }
    vd_migration_free(dom);
    if (a->cancelled || waiting || !dom->vmm) {
        finish_abandon(job, waiting);
        return;
    }
    if (!storage) {
        finish_complete(job, started);
        return;
    }
    struct finish_wait *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->started = started;
    w->deadline = now_ms() + (uint64_t)INCOMING_WAIT_S * 1000;
    w->timer = loop_timer_new(dom->daemon->loop, incoming_poll, w);
    incoming_poll(dom->daemon->loop, w->timer, w);
}

/* ---- the domain job ---- */

void vd_migrate_job_stats(struct vd_domain *dom, bool completed, struct vd_job_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (completed) {
        if (dom->job_completed)
            *st = *dom->job_completed;
        return;
    }
    struct vd_migration *m = dom->mig;
    if (!m)
        return;
    st->type = VD_JOB_UNBOUNDED;
    st->operation = m->incoming ? VD_JOB_OPERATION_MIGRATION_IN : VD_JOB_OPERATION_MIGRATION_OUT;
    st->elapsed_ms = now_ms() - m->started_ms;
    st->mem_total = st->data_total = dom->def->memory_kib * 1024;
    st->mem_remaining = st->data_remaining = st->mem_total;
    if (m->have_figures) { /* the VMM's, as of its last query-migrate */
        if (m->total)
            st->mem_total = st->data_total = m->total;
        st->mem_processed = st->data_processed = m->transferred;
        /* A stop-and-copy stream reports nothing remaining while it runs: what is left is
         * then the RAM not yet gone through (zero pages included, which are not sent). */
        uint64_t left = m->remaining                     ? m->remaining
                        : st->mem_total > m->transferred ? st->mem_total - m->transferred
                                                         : 0;
        st->mem_remaining = st->data_remaining = left;
    }
    if ((m->flags & VD_MIGRATE_POSTCOPY) && !m->incoming) { /* virsh's "Postcopy requests" */
        st->postcopy_requests = m->postcopy_requests;
        st->have_postcopy = true;
    }
    if (m->storage && !m->incoming) { /* the mirrors' copy, as libvirt adds it to data_* */
        st->disk_total = m->disk_total;
        st->disk_processed = m->disk_processed;
        st->disk_remaining =
            m->disk_total > m->disk_processed ? m->disk_total - m->disk_processed : 0;
        st->data_total += st->disk_total;
        st->data_processed += st->disk_processed;
        st->data_remaining += st->disk_remaining;
    }
}

static void abort_sent(void *opaque, int r, const char *text, const char *error)
{
    (void)text;
    char *name = opaque;
    if (r < 0)
        log_warn("domain '%s': migrate_cancel: %s", name, error);
    free(name);
}

int vd_migrate_abort(struct vd_domain *dom, int *code, struct verr *err)
{
    *code = VIR_ERR_OPERATION_INVALID;
    struct vd_migration *m = dom->mig;
    if (!m)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: no job is active on the domain");
    if (m->incoming)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot abort incoming migration; use "
                        "virDomainDestroy instead");
    if (m->postcopy_switched)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot abort migration in post-copy "
                        "mode");
    m->aborted = true;
    if (!m->performing || !dom->vmm) /* before the stream: Perform stops at its next step */
        return 0;
    char *name = xstrdup(dom->def->name);
    int r = vd_vmm_monitor_command(dom->vmm, "{\"execute\": \"migrate_cancel\"}", false, abort_sent,
                                   name, err);
    if (r < 0) {
        free(name);
        *code = VIR_ERR_OPERATION_FAILED;
    }
    return r;
}

static void param_sent(void *opaque, int r, const char *text, const char *error)
{
    char *name = opaque;
    if (r < 0 || (text && strstr(text, "\"error\"")))
        log_warn("domain '%s': migrate-set-parameters: %s", name, r < 0 ? error : text);
    free(name);
}

static int send_param(struct vd_domain *dom, const char *name, uint64_t value, struct verr *err)
{
    if (!dom->vmm)
        return 0;
    char *cmd =
        xasprintf("{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"%s\": %llu}}", name,
                  (unsigned long long)value);
    char *n = xstrdup(dom->def->name);
    int r = vd_vmm_monitor_command(dom->vmm, cmd, false, param_sent, n, err);
    free(cmd);
    if (r < 0)
        free(n);
    return r;
}

int vd_migrate_set_downtime(struct vd_domain *dom, uint64_t ms, struct verr *err)
{
    if (!dom->vmm || !vd_domain_is_active(dom))
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    int r = send_param(dom, "downtime-limit", ms, err);
    if (r == 0)
        dom->mig_downtime_ms = ms;
    return r;
}

int vd_migrate_set_speed(struct vd_domain *dom, uint64_t mibs, struct verr *err)
{
    if (mibs > VD_MIGRATE_SPEED_MAX)
        return verr_set(err, ERANGE, "invalid argument: bandwidth must be less than %llu",
                        VD_MIGRATE_SPEED_MAX + 1);
    int r = 0;
    if (dom->vmm && vd_domain_is_active(dom) && mibs < VD_MIGRATE_SPEED_MAX)
        r = send_param(dom, "max-bandwidth", mibs << 20, err);
    if (r == 0)
        dom->mig_speed_mibs = mibs;
    return r;
}
