/*
 * rpc-domstats.c - per-domain statistics records as libvirt's QEMU driver gives them:
 * virConnectGetAllDomainStats and virDomainListGetStats (CONNECT_GET_ALL_DOMAIN_STATS,
 * `virsh domstats`), and the balloon figures they share with virDomainMemoryStats
 * (DOMAIN_MEMORY_STATS, `virsh dommemstat`) and virDomainSetMemoryStatsPeriod
 * (`dommemstat --period`).
 *
 * A record is the groups asked for, in libvirt's order and under its typed-parameter names:
 * state, cpu-total, balloon, vcpu, interface, block. What the kernel knows (the VMM's and its
 * vCPU threads' CPU time, a tap's counters, a disk file's size) is read when the call
 * arrives; what only the VMM knows (query-blockstats, query-block, the balloon's guest-stats)
 * is asked of every running VMM at once, and the reply goes out when the last one answers.
 * A group with no source of data here (perf events, I/O threads, resctrl memory bandwidth,
 * dirty rate, QEMU's query-stats) is accepted and left out of the record, as libvirt leaves
 * out what a domain does not have: never zeros in place of figures.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf/domain_conf.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "conf/xnode.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

/* virDomainStatsTypes */
enum {
    STATS_STATE = 1 << 0,
    STATS_CPU_TOTAL = 1 << 1,
    STATS_BALLOON = 1 << 2,
    STATS_VCPU = 1 << 3,
    STATS_INTERFACE = 1 << 4,
    STATS_BLOCK = 1 << 5,
    STATS_PERF = 1 << 6,
    STATS_IOTHREAD = 1 << 7,
    STATS_MEMORY = 1 << 8,
    STATS_DIRTYRATE = 1 << 9,
    STATS_VM = 1 << 10,
    STATS_ALL = (1 << 11) - 1,
};

/* virConnectGetAllDomainStatsFlags */
enum {
    F_ACTIVE = 1 << 0,
    F_INACTIVE = 1 << 1,
    F_PERSISTENT = 1 << 2,
    F_TRANSIENT = 1 << 3,
    F_RUNNING = 1 << 4,
    F_PAUSED = 1 << 5,
    F_SHUTOFF = 1 << 6,
    F_OTHER = 1 << 7,
    F_NOWAIT = 1 << 29,
    F_BACKING = 1 << 30,
    F_ENFORCE = 1u << 31,
};

/* ---- a growing list of typed parameters (fields and strings owned) ---- */

#define VD_FIELD_MAX 80 /* VIR_TYPED_PARAM_FIELD_LENGTH */

struct plist {
    struct remote_typed_param *p;
    size_t n, cap;
};

static struct remote_typed_param *pl_new(struct plist *l, int type, const char *fmt, va_list ap)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->p = xrealloc(l->p, l->cap * sizeof(*l->p));
    }
    struct remote_typed_param *p = &l->p[l->n++];
    memset(p, 0, sizeof(*p));
    char field[VD_FIELD_MAX];
    vsnprintf(field, sizeof(field), fmt, ap);
    p->field = xstrdup(field);
    p->type = type;
    return p;
}

#define PL_ADDER(name, ctype, TYPE, member)                                                        \
    __attribute__((format(printf, 3, 4))) static void name(struct plist *l, ctype v,               \
                                                           const char *fmt, ...)                   \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        pl_new(l, REMOTE_TYPED_PARAM_##TYPE, fmt, ap)->value.member = v;                           \
        va_end(ap);                                                                                \
    }
PL_ADDER(pl_int, int32_t, INT, i)
PL_ADDER(pl_uint, uint32_t, UINT, ui)
PL_ADDER(pl_ull, uint64_t, ULLONG, ul)

__attribute__((format(printf, 3, 4))) static void pl_str(struct plist *l, const char *v,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pl_new(l, REMOTE_TYPED_PARAM_STRING, fmt, ap)->value.s = xstrdup(v);
    va_end(ap);
}

static void pl_free(struct plist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->p[i].field);
        if (l->p[i].type == REMOTE_TYPED_PARAM_STRING)
            free(l->p[i].value.s);
    }
    free(l->p);
    memset(l, 0, sizeof(*l));
}

static void pl_move(struct plist *to, struct plist *from)
{
    for (size_t i = 0; i < from->n; i++) {
        if (to->n == to->cap) {
            to->cap = to->cap ? to->cap * 2 : 16;
            to->p = xrealloc(to->p, to->cap * sizeof(*to->p));
        }
        to->p[to->n++] = from->p[i];
    }
    free(from->p);
    memset(from, 0, sizeof(*from));
}

/* ---- what the kernel says ---- */

static int read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return 0;
}

/* utime and stime (ns) of /proc/PID[/task/TID]/stat. */
static int proc_times(pid_t pid, pid_t tid, uint64_t *user, uint64_t *sys)
{
    char path[96], buf[1024];
    if (tid)
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return -1;
    const char *f = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!f ||
        sscanf(f + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
    *user = ut * tick;
    *sys = st * tick;
    return 0;
}

/* A vCPU thread's wait (schedstats' wait_sum, 0 when the kernel keeps none) and delay
 * (schedstat's run delay), in ns. */
static void vcpu_sched(pid_t pid, pid_t tid, uint64_t *wait, uint64_t *delay)
{
    char path[96], buf[4096];
    *wait = *delay = 0;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
    unsigned long long run, d;
    if (read_small(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%llu %llu", &run, &d) == 2)
        *delay = d;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/sched", (int)pid, (int)tid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return;
    const char *w = strstr(buf, "wait_sum");
    if (!w || !(w = strchr(w, ':')))
        return;
    unsigned long long ms = 0, frac = 0;
    int n1 = 0, n2 = 0;
    if (sscanf(w + 1, " %llu%n.%llu%n", &ms, &n1, &frac, &n2) >= 1) {
        /* milliseconds with six decimals */
        *wait = ms * 1000000ull + (n2 > n1 ? frac : 0);
    }
}

/* The process's resident set in KiB. */
static uint64_t proc_rss_kib(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    unsigned long long size, res;
    if (read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%llu %llu", &size, &res) != 2)
        return 0;
    return res * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024);
}

static bool read_counter(const char *ifname, const char *name, uint64_t *out)
{
    char path[160], buf[64];
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return false;
    *out = strtoull(buf, NULL, 10);
    return true;
}

int vd_net_iface_counters(const char *ifname, bool swapped, struct vd_iface_counters *c)
{
    /* A tap's host side sees the guest's traffic backwards: what it sends, the guest gets. */
    const char *rx = swapped ? "tx" : "rx", *tx = swapped ? "rx" : "tx";
    char n[32];
#define COUNTER(field, dir, what)                                                                  \
    snprintf(n, sizeof(n), "%s_%s", dir, what);                                                    \
    if (!read_counter(ifname, n, &c->field))                                                       \
        return -ENOENT;
    COUNTER(rx_bytes, rx, "bytes")
    COUNTER(rx_packets, rx, "packets")
    COUNTER(rx_errs, rx, "errors")
    COUNTER(rx_drop, rx, "dropped")
    COUNTER(tx_bytes, tx, "bytes")
    COUNTER(tx_packets, tx, "packets")
    COUNTER(tx_errs, tx, "errors")
    COUNTER(tx_drop, tx, "dropped")
#undef COUNTER
    return 0;
}

bool vd_net_is_tap(const struct domain_net *n)
{
    return n->type == DOMAIN_NET_NETWORK || n->type == DOMAIN_NET_BRIDGE ||
           n->type == DOMAIN_NET_ETHERNET;
}

/* A disk file's sizes when the VMM cannot say: capacity (a qcow2's virtual size, else the
 * file's), allocation (blocks in use) and physical (the file's size), as libvirt's fallback. */
bool vd_disk_file_sizes(const char *path, uint64_t *capacity, uint64_t *allocation,
                        uint64_t *physical)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return false;
    *physical = (uint64_t)st.st_size;
    *allocation = (uint64_t)st.st_blocks * 512;
    *capacity = (uint64_t)st.st_size;
    FILE *f = fopen(path, "rbe");
    unsigned char h[32];
    if (f && fread(h, 1, sizeof(h), f) == sizeof(h) && !memcmp(h, "QFI\xfb", 4)) {
        uint64_t v = 0;
        for (int i = 24; i < 32; i++)
            v = v << 8 | h[i];
        *capacity = v;
    }
    if (f)
        fclose(f);
    return true;
}

/* ---- the balloon's guest statistics (shared with virDomainMemoryStats) ---- */

/* libvirt's tags, and its order, for QEMU's guest-stats members (bytes become KiB). */
static const struct {
    const char *qemu;
    int tag;
    const char *field; /* its name in domstats' balloon group */
    bool kib;
} guest_stats[] = {
    {"stat-swap-in", 0, "swap_in", true},
    {"stat-swap-out", 1, "swap_out", true},
    {"stat-major-faults", 2, "major_fault", false},
    {"stat-minor-faults", 3, "minor_fault", false},
    {"stat-free-memory", 4, "unused", true},
    {"stat-total-memory", 5, "available", true},
    {"stat-available-memory", 8, "usable", true},
    {"last-update", 9, "last-update", false},
    {"stat-disk-caches", 10, "disk_caches", true},
    {"stat-htlb-pgalloc", 11, "hugetlb_pgalloc", false},
    {"stat-htlb-pgfail", 12, "hugetlb_pgfail", false},
};
#define NGUEST_STATS (sizeof(guest_stats) / sizeof(guest_stats[0]))

/* The figures the guest gave in a guest-stats reply: out[i] for guest_stats[i], have[i]
 * false where it gave none (-1) or never reported at all. */
static void guest_stats_read(struct json_object *ret, uint64_t *out, bool *have)
{
    struct json_object *stats = NULL, *v;
    memset(have, 0, NGUEST_STATS * sizeof(*have));
    /* A device the guest never reported to answers last-update 0 and every figure -1:
     * libvirt shows that 0 (the time of the last report) and none of the figures. */
    if (!ret || !json_object_object_get_ex(ret, "stats", &stats) ||
        !json_object_object_get_ex(ret, "last-update", &v))
        return;
    for (size_t i = 0; i < NGUEST_STATS; i++) {
        struct json_object *o = strcmp(guest_stats[i].qemu, "last-update") ? stats : ret;
        if (!json_object_object_get_ex(o, guest_stats[i].qemu, &v))
            continue;
        uint64_t x = json_object_get_uint64(v);
        if (x == UINT64_MAX)
            continue;
        out[i] = guest_stats[i].kib ? x / 1024 : x;
        have[i] = true;
    }
}

static struct json_object *balloon_qom_args(const char *prop)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "path", json_object_new_string("/machine/peripheral/balloon0"));
    json_object_object_add(a, "property", json_object_new_string(prop));
    return a;
}

/* ---- virConnectGetAllDomainStats ---- */

struct ds_disk {
    char *name, *path, *drive;
    unsigned backing_index; /* libvirt's storage source id of the top image, 0: not known */
};

struct ds_record {
    char *name;
    unsigned char uuid[16];
    int id;
    struct plist groups[6]; /* state, cpu-total, balloon, vcpu, interface, block */
    bool active;
    /* for the groups composed when the VMM answers */
    size_t ndisks;
    struct ds_disk *disks;
    uint64_t balloon_cur, balloon_max, rss;
    struct json_object *blockstats, *blockinfo, *guest;
};

struct ds_call {
    struct vd_deferred *df;
    unsigned stats;
    size_t nrec;
    struct ds_record *rec;
    int pending;
};

struct ds_wait {
    struct ds_call *call;
    struct ds_record *rec;
    struct json_object **slot;
};

enum { G_STATE, G_CPU, G_BALLOON, G_VCPU, G_NET, G_BLOCK };

static void record_free(struct ds_record *r)
{
    free(r->name);
    for (size_t g = 0; g < 6; g++)
        pl_free(&r->groups[g]);
    for (size_t i = 0; i < r->ndisks; i++) {
        free(r->disks[i].name);
        free(r->disks[i].path);
        free(r->disks[i].drive);
    }
    free(r->disks);
    json_object_put(r->blockstats);
    json_object_put(r->blockinfo);
    json_object_put(r->guest);
}

static bool match(const struct vd_domain *x, unsigned f)
{
    bool active = vd_domain_is_active(x);
    if ((f & (F_ACTIVE | F_INACTIVE)) && !((f & F_ACTIVE && active) || (f & F_INACTIVE && !active)))
        return false;
    if ((f & (F_PERSISTENT | F_TRANSIENT)) &&
        !((f & F_PERSISTENT && x->persistent) || (f & F_TRANSIENT && !x->persistent)))
        return false;
    if (f & (F_RUNNING | F_PAUSED | F_SHUTOFF | F_OTHER)) {
        bool known = x->state == VIR_DOMAIN_RUNNING || x->state == VIR_DOMAIN_PAUSED ||
                     x->state == VIR_DOMAIN_SHUTOFF;
        if (!((f & F_RUNNING && x->state == VIR_DOMAIN_RUNNING) ||
              (f & F_PAUSED && x->state == VIR_DOMAIN_PAUSED) ||
              (f & F_SHUTOFF && x->state == VIR_DOMAIN_SHUTOFF) || (f & F_OTHER && !known)))
            return false;
    }
    return true;
}

static struct json_object *find_device(struct json_object *list, const char *id)
{
    struct json_object *dev;
    size_t n =
        list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(list, i);
        if (json_object_object_get_ex(e, "device", &dev) &&
            !strcmp(json_object_get_string(dev), id))
            return e;
    }
    return NULL;
}

static uint64_t member_u64(struct json_object *o, const char *key, bool *have)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) {
        if (have)
            *have = false;
        return 0;
    }
    if (have)
        *have = true;
    return json_object_get_uint64(v);
}

/* The block group: libvirt's names and order for each disk. */
static void compose_block(struct ds_record *r)
{
    struct plist *l = &r->groups[G_BLOCK];
    pl_uint(l, (uint32_t)r->ndisks, "block.count");
    for (size_t i = 0; i < r->ndisks; i++) {
        const struct ds_disk *d = &r->disks[i];
        pl_str(l, d->name ? d->name : "", "block.%zu.name", i);
        if (d->path)
            pl_str(l, d->path, "block.%zu.path", i);
        if (r->active && d->backing_index)
            pl_uint(l, d->backing_index, "block.%zu.backingIndex", i);
        struct json_object *e = r->active && d->drive ? find_device(r->blockstats, d->drive) : NULL;
        struct json_object *st = NULL, *ins = NULL, *img = NULL;
        if (e)
            json_object_object_get_ex(e, "stats", &st);
        if (st) {
            static const struct {
                const char *qemu, *field;
            } counters[] = {
                {"rd_operations", "rd.reqs"},     {"rd_bytes", "rd.bytes"},
                {"rd_total_time_ns", "rd.times"}, {"wr_operations", "wr.reqs"},
                {"wr_bytes", "wr.bytes"},         {"wr_total_time_ns", "wr.times"},
                {"flush_operations", "fl.reqs"},  {"flush_total_time_ns", "fl.times"},
            };
            for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++)
                pl_ull(l, member_u64(st, counters[k].qemu, NULL), "block.%zu.%s", i,
                       counters[k].field);
            struct json_object *q = d->drive ? find_device(r->blockinfo, d->drive) : NULL;
            if (q && json_object_object_get_ex(q, "inserted", &ins))
                json_object_object_get_ex(ins, "image", &img);
            bool have;
            uint64_t alloc = member_u64(st, "wr_highest_offset", &have);
            if (have)
                pl_ull(l, alloc, "block.%zu.allocation", i);
            uint64_t cap = member_u64(img, "virtual-size", NULL);
            uint64_t c2, a2, physical = 0;
            struct stat sb;
            if (d->path && stat(d->path, &sb) == 0)
                physical = (uint64_t)sb.st_size; /* the file node's size, as libvirt shows it */
            if (!cap && vd_disk_file_sizes(d->path, &c2, &a2, &physical))
                cap = c2;
            if (cap)
                pl_ull(l, cap, "block.%zu.capacity", i);
            if (physical)
                pl_ull(l, physical, "block.%zu.physical", i);
        } else {
            uint64_t cap, alloc, physical;
            if (d->path && vd_disk_file_sizes(d->path, &cap, &alloc, &physical)) {
                /* libvirt's fallback shows the sizes it found, the zero ones left out */
                if (alloc)
                    pl_ull(l, alloc, "block.%zu.allocation", i);
                if (cap)
                    pl_ull(l, cap, "block.%zu.capacity", i);
                if (physical)
                    pl_ull(l, physical, "block.%zu.physical", i);
            }
        }
    }
}

static void compose_balloon(struct ds_record *r)
{
    struct plist *l = &r->groups[G_BALLOON];
    pl_ull(l, r->balloon_cur, "balloon.current");
    pl_ull(l, r->balloon_max, "balloon.maximum");
    if (!r->active)
        return;
    uint64_t v[NGUEST_STATS];
    bool have[NGUEST_STATS];
    guest_stats_read(r->guest, v, have);
    for (size_t i = 0; i < NGUEST_STATS; i++)
        if (have[i])
            pl_ull(l, v[i], "balloon.%s", guest_stats[i].field);
    if (r->rss)
        pl_ull(l, r->rss, "balloon.rss");
}

static void ds_finish(struct ds_call *c)
{
    const struct remote_proc *p = remote_proc_lookup(c->df->call.proc);
    struct remote_connect_get_all_domain_stats_ret ret = {0};
    struct remote_domain_stats_record *out = xcalloc(c->nrec ? c->nrec : 1, sizeof(*out));
    for (size_t i = 0; i < c->nrec; i++) {
        struct ds_record *r = &c->rec[i];
        if (c->stats & STATS_BALLOON)
            compose_balloon(r);
        if (c->stats & STATS_BLOCK)
            compose_block(r);
        struct plist all = {0};
        for (size_t g = 0; g < 6; g++)
            pl_move(&all, &r->groups[g]);
        r->groups[0] = all; /* owned there until freed below */
        out[i].dom.name = r->name;
        memcpy(out[i].dom.uuid, r->uuid, 16);
        out[i].dom.id = r->id;
        out[i].params = all.p;
        out[i].params_len = (uint32_t)all.n;
    }
    ret.retStats = out;
    ret.retStats_len = (uint32_t)c->nrec;
    vd_deferred_reply(c->df, p->ret, &ret, 0, 0, NULL);
    free(out);
    for (size_t i = 0; i < c->nrec; i++)
        record_free(&c->rec[i]);
    free(c->rec);
    free(c);
}

static void ds_answer(void *opaque, int r, struct json_object *ret, const char *error)
{
    (void)error; /* a VMM that cannot answer leaves those figures out, as libvirt does */
    struct ds_wait *w = opaque;
    if (r == 0 && ret)
        *w->slot = json_object_get(ret);
    struct ds_call *c = w->call;
    free(w);
    if (--c->pending == 0)
        ds_finish(c);
}

static void ask(struct ds_call *c, struct ds_record *r, struct vd_vmm *vmm, const char *command,
                struct json_object *args, struct json_object **slot)
{
    struct ds_wait *w = xcalloc(1, sizeof(*w));
    w->call = c;
    w->rec = r;
    w->slot = slot;
    struct verr err = {0};
    c->pending++;
    if (vd_vmm_query(vmm, command, args, ds_answer, w, &err) < 0) {
        c->pending--;
        free(w);
    }
}

/* The synchronous groups of one domain, and its VMM queries. */
static void ds_collect(struct ds_call *c, struct ds_record *r, struct vd_domain *x)
{
    const struct domain_def *def = x->def;
    unsigned s = c->stats;
    bool active = vd_domain_is_active(x) && x->vmm;
    pid_t pid = active ? vd_vmm_pid(x->vmm) : 0;
    r->active = active;
    r->name = xstrdup(def->name);
    memcpy(r->uuid, def->uuid, 16);
    r->id = x->id;
    if (s & STATS_STATE) {
        pl_int(&r->groups[G_STATE], x->state, "state.state");
        pl_int(&r->groups[G_STATE], x->reason, "state.reason");
    }
    uint64_t user, sys, total;
    /* the domain's group, as libvirt reads it (ns, not the process's clock ticks); a domain
     * running without one: its process's times */
    bool have_cpu = (s & STATS_CPU_TOTAL) && active &&
                    vd_domain_cpu_totals(x->daemon, def->name, &total, &user, &sys) == 0;
    if (!have_cpu && (s & STATS_CPU_TOTAL) && active && proc_times(pid, 0, &user, &sys) == 0) {
        total = user + sys;
        have_cpu = true;
    }
    if (have_cpu) {
        pl_ull(&r->groups[G_CPU], total, "cpu.time");
        pl_ull(&r->groups[G_CPU], user, "cpu.user");
        pl_ull(&r->groups[G_CPU], sys, "cpu.system");
        /* no <cachetune> monitors (resctrl) exist here: libvirt counts them, 0 */
        pl_uint(&r->groups[G_CPU], 0, "cpu.cache.monitor.count");
    }
    if (s & STATS_BALLOON) {
        r->balloon_cur = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
        r->balloon_max = def->memory_kib;
        if (active) {
            r->rss = proc_rss_kib(pid);
            if (vd_domain_has_balloon(def))
                ask(c, r, x->vmm, "qom-get", balloon_qom_args("guest-stats"), &r->guest);
        }
    }
    if (s & STATS_VCPU) {
        struct plist *l = &r->groups[G_VCPU];
        pl_uint(l, def->vcpus_current, "vcpu.current");
        pl_uint(l, def->vcpus, "vcpu.maximum");
        const pid_t *tids = NULL;
        size_t n = active ? vd_vmm_vcpu_tids(x->vmm, &tids) : 0;
        for (size_t i = 0; i < n && i < def->vcpus_current; i++) {
            uint64_t wait, delay;
            if (proc_times(pid, tids[i], &user, &sys) < 0)
                user = sys = 0;
            vcpu_sched(pid, tids[i], &wait, &delay);
            pl_int(l, 1 /* VIR_VCPU_RUNNING */, "vcpu.%zu.state", i);
            pl_ull(l, user + sys, "vcpu.%zu.time", i);
            pl_ull(l, wait, "vcpu.%zu.wait", i);
            pl_ull(l, delay, "vcpu.%zu.delay", i);
        }
    }
    if ((s & STATS_INTERFACE) && active) { /* libvirt reports interfaces of running domains */
        struct plist *l = &r->groups[G_NET];
        pl_uint(l, (uint32_t)def->nnets, "net.count");
        for (size_t i = 0; i < def->nnets; i++) {
            const struct domain_net *n = &def->nets[i];
            if (!n->target_dev) /* user-mode networking has no host interface */
                continue;
            pl_str(l, n->target_dev, "net.%zu.name", i);
            struct vd_iface_counters k;
            if (vd_net_iface_counters(n->target_dev, vd_net_is_tap(n), &k) < 0)
                continue;
            pl_ull(l, k.rx_bytes, "net.%zu.rx.bytes", i);
            pl_ull(l, k.rx_packets, "net.%zu.rx.pkts", i);
            pl_ull(l, k.rx_errs, "net.%zu.rx.errs", i);
            pl_ull(l, k.rx_drop, "net.%zu.rx.drop", i);
            pl_ull(l, k.tx_bytes, "net.%zu.tx.bytes", i);
            pl_ull(l, k.tx_packets, "net.%zu.tx.pkts", i);
            pl_ull(l, k.tx_errs, "net.%zu.tx.errs", i);
            pl_ull(l, k.tx_drop, "net.%zu.tx.drop", i);
        }
    }
    if (s & STATS_BLOCK) {
        r->ndisks = def->ndisks;
        r->disks = xcalloc(def->ndisks ? def->ndisks : 1, sizeof(*r->disks));
        /* libvirt numbers every image of the running domain from 1, disk by disk, each
         * backing chain's layers after its top; with no chain anywhere a disk with a source is
         * simply the next number. TODO: count the layers of <backingStore> chains. */
        bool chains = false;
        for (size_t i = 0; i < def->ndisks; i++)
            chains |= def->disks[i].backing != NULL;
        unsigned next_id = 1;
        for (size_t i = 0; i < def->ndisks; i++) {
            if (!chains && def->disks[i].source_path)
                r->disks[i].backing_index = next_id++;
            const struct domain_disk *d = &def->disks[i];
            r->disks[i].name = d->target_dev ? xstrdup(d->target_dev) : NULL;
            r->disks[i].path = d->source_path ? xstrdup(d->source_path) : NULL;
            r->disks[i].drive = vmm_argv_drive_id(d, i);
        }
        if (active && def->ndisks) {
            ask(c, r, x->vmm, "query-blockstats", NULL, &r->blockstats);
            ask(c, r, x->vmm, "query-block", NULL, &r->blockinfo);
        }
    }
}

static int get_all_domain_stats(struct vd_call *call)
{
    const struct remote_connect_get_all_domain_stats_args *a = call->args;
    unsigned flags = a->flags;
    unsigned known = F_ACTIVE | F_INACTIVE | F_PERSISTENT | F_TRANSIENT | F_RUNNING | F_PAUSED |
                     F_SHUTOFF | F_OTHER | F_NOWAIT | F_ENFORCE;
    /* TODO: --backing (each layer of a backing chain as its own block entry). */
    if (vd_call_check_flags(call, flags, known, "qemuConnectGetAllDomainStats") < 0)
        return -1;
    unsigned stats = a->stats;
    if ((flags & F_ENFORCE) && (stats & ~(unsigned)STATS_ALL))
        return vd_call_fail(call, VIR_ERR_ARGUMENT_UNSUPPORTED,
                            "argument unsupported: Stats types bits 0x%x are not supported by "
                            "this daemon",
                            stats & ~(unsigned)STATS_ALL);
    stats &= STATS_ALL;
    if (!stats)
        stats = STATS_ALL;
    /* Only a listed domain's filter applies when the caller names them (libvirt). */
    struct vd_domain **doms = NULL;
    size_t ndoms = 0;
    if (a->doms_len) {
        doms = xcalloc(a->doms_len, sizeof(*doms));
        for (uint32_t i = 0; i < a->doms_len; i++) {
            struct vd_domain *x = vd_domain_find_uuid(call->d, a->doms[i].uuid);
            if (!x) {
                free(doms);
                return vd_call_fail(call, VIR_ERR_NO_DOMAIN,
                                    "Domain not found: no domain with matching uuid");
            }
            if (match(x, flags))
                doms[ndoms++] = x;
        }
    } else {
        size_t n = 0;
        for (struct vd_domain *x = call->d->domains; x; x = x->next)
            n++;
        doms = xcalloc(n ? n : 1, sizeof(*doms));
        for (struct vd_domain *x = call->d->domains; x; x = x->next)
            if (match(x, flags))
                doms[ndoms++] = x;
    }
    struct ds_call *c = xcalloc(1, sizeof(*c));
    c->stats = stats;
    c->nrec = ndoms;
    c->rec = xcalloc(ndoms ? ndoms : 1, sizeof(*c->rec));
    c->df = vd_defer(call);
    c->pending = 1; /* this function's own hold, dropped below */
    for (size_t i = 0; i < ndoms; i++)
        ds_collect(c, &c->rec[i], doms[i]);
    free(doms);
    if (--c->pending == 0)
        ds_finish(c);
    return RPC_HANDLER_DEFERRED;
}

/* ---- virDomainMemoryStats ---- */

struct mem_call {
    struct vd_deferred *df;
    struct vd_vmm *vmm;
    unsigned max;
    pid_t pid;
    uint64_t actual_kib;
};

static void mem_reply(struct mem_call *m, struct json_object *guest)
{
    const struct remote_proc *p = remote_proc_lookup(m->df->call.proc);
    struct remote_domain_memory_stat st[NGUEST_STATS + 2];
    size_t n = 0;
    st[n].tag = 6; /* VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON */
    st[n++].val = m->actual_kib;
    uint64_t v[NGUEST_STATS];
    bool have[NGUEST_STATS];
    guest_stats_read(guest, v, have);
    for (size_t i = 0; i < NGUEST_STATS; i++)
        if (have[i]) {
            st[n].tag = guest_stats[i].tag;
            st[n++].val = v[i];
        }
    st[n].tag = 7; /* VIR_DOMAIN_MEMORY_STAT_RSS */
    st[n++].val = proc_rss_kib(m->pid);
    struct remote_domain_memory_stats_ret ret = {0};
    ret.stats = st;
    ret.stats_len = (uint32_t)(n < m->max ? n : m->max);
    vd_deferred_reply(m->df, p->ret, &ret, 0, 0, NULL);
    free(m);
}

static void mem_guest(void *opaque, int r, struct json_object *ret, const char *error)
{
    (void)error; /* no statistics from the guest yet: the host's figures alone */
    mem_reply(opaque, r == 0 ? ret : NULL);
}

static void mem_actual(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct mem_call *m = opaque;
    if (r < 0) {
        vd_deferred_reply(m->df, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, error);
        free(m);
        return;
    }
    m->actual_kib = member_u64(ret, "actual", NULL) / 1024;
    struct verr err = {0};
    if (vd_vmm_query(m->vmm, "qom-get", balloon_qom_args("guest-stats"), mem_guest, m, &err) < 0)
        mem_reply(m, NULL);
}

static int memory_stats(struct vd_call *c)
{
    const struct remote_domain_memory_stats_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainMemoryStats") < 0)
        return -1;
    if (a->maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "RPC error: maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX");
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    struct mem_call *m = xcalloc(1, sizeof(*m));
    m->vmm = c->dom->vmm;
    m->max = a->maxStats;
    m->pid = vd_vmm_pid(c->dom->vmm);
    m->df = vd_defer(c);
    if (!vd_domain_has_balloon(c->dom->def)) { /* the process's resident set alone */
        m->actual_kib = 0;
        const struct remote_proc *p = remote_proc_lookup(m->df->call.proc);
        struct remote_domain_memory_stat st = {7, proc_rss_kib(m->pid)};
        struct remote_domain_memory_stats_ret ret = {.stats = &st,
                                                     .stats_len = a->maxStats ? 1 : 0};
        vd_deferred_reply(m->df, p->ret, &ret, 0, 0, NULL);
        free(m);
        return RPC_HANDLER_DEFERRED;
    }
    struct verr err = {0};
    if (vd_vmm_query(m->vmm, "query-balloon", NULL, mem_actual, m, &err) < 0) {
        vd_deferred_cancel(m->df);
        free(m);
        return vd_call_fail_errno(c, -ESRCH, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

/* ---- virDomainSetMemoryStatsPeriod ---- */

struct period_call {
    struct vd_deferred *df;
};

static void period_done(void *opaque, int r, struct json_object *ret, const char *error)
{
    (void)ret;
    struct period_call *pc = opaque;
    const struct remote_proc *p = remote_proc_lookup(pc->df->call.proc);
    if (r < 0)
        vd_deferred_reply(pc->df, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, error);
    else
        vd_deferred_reply(pc->df, p->ret, NULL, 0, 0, NULL);
    free(pc);
}

static int set_memory_stats_period(struct vd_call *c)
{
    const struct remote_domain_set_memory_stats_period_args *a = c->args;
    unsigned live = 1, config = 2;
    if (vd_call_check_flags(c, a->flags, live | config, "qemuDomainSetMemoryStatsPeriod") < 0)
        return -1;
    bool active = vd_domain_is_active(c->dom) && c->dom->vmm;
    /* --current: the running domain if it runs, else its definition */
    bool want_live = (a->flags & live) || (!(a->flags & (live | config)) && active);
    bool want_config = (a->flags & config) || (!(a->flags & (live | config)) && !active);
    if (want_live && vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    if (want_config && !c->dom->persistent)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: cannot change persistent config "
                            "of a transient domain");
    if (a->period < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: range of period must be >= 0");
    if ((want_live && !vd_domain_has_balloon(c->dom->def)) ||
        (want_config && !vd_domain_has_balloon(vd_domain_config(c->dom))))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: No memory balloon device "
                            "configured, can not set the collection period");
    if (want_config) { /* <memballoon><stats period=> for the next start */
        struct domain_def *copy = domain_def_copy(vd_domain_config(c->dom));
        for (size_t i = 0; i < copy->ndevices; i++) {
            struct xnode *n = copy->devices[i].node;
            if (!n->name || strcmp(n->name, "memballoon") != 0)
                continue;
            xnode_set_uint_attr(xnode_ensure_child(n, "stats", false), "period",
                                (unsigned)a->period);
        }
        copy->memballoon->stats_period = (unsigned)a->period;
        struct verr e = {0};
        int r = vd_domain_commit_config(c->d, c->dom, copy, &e);
        if (r < 0)
            return vd_call_fail_errno(c, r, &e);
        if (!want_live)
            return 0;
    }
    struct json_object *args = balloon_qom_args("guest-stats-polling-interval");
    json_object_object_add(args, "value", json_object_new_int(a->period));
    struct period_call *pc = xcalloc(1, sizeof(*pc));
    pc->df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_query(c->dom->vmm, "qom-set", args, period_done, pc, &err) < 0) {
        vd_deferred_cancel(pc->df);
        free(pc);
        return vd_call_fail_errno(c, -ESRCH, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS, get_all_domain_stats},
    {REMOTE_PROC_DOMAIN_MEMORY_STATS, memory_stats},
    {REMOTE_PROC_DOMAIN_SET_MEMORY_STATS_PERIOD, set_memory_stats_period},
};
VD_PROC_TABLE(vd_domstats_procs, procs);
