/*
 * cgroup.c - the domain groups of cgroup.h: finding the hierarchies,
 * making and removing a domain's groups, and the few files libvirt's
 * tunables live in, on v1 and v2.
 *
 * The two hierarchies differ in three places only, each kept to one
 * function: where a controller's files are (vd_cg_path), how a thread
 * joins a group (join_thread: v1 "tasks" per controller, v2
 * "cgroup.threads" of a threaded group) and how the CPU bandwidth is
 * written (v1 two files, v2 cpu.max). cpu_shares is written as it is
 * given on both, as libvirt does (its documented range is 2-262144 on
 * v1, 1-10000 on v2, where the file is cpu.weight).
 */
#include "daemon/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

static const char *const ctrl_names[VD_CG_N] = {"cpu", "cpuacct", "cpuset", "memory", "blkio"};
/* v2 names of the same controllers (cpuacct is part of cpu, blkio is io). */
static const char *const ctrl_names_v2[VD_CG_N] = {"cpu", "cpu", "cpuset", "memory", "io"};

const char *vd_cg_ctrl_name(enum vd_cg_ctrl c)
{
    return ctrl_names[c];
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ',' || p[-1] == ' ') &&
            (p[n] == ',' || p[n] == ' ' || p[n] == '\0' || p[n] == '\n'))
            return true;
    return false;
}

static int read_text(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, size - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return 0;
}

static int write_text(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    return n < 0 ? -e : 0;
}

void vd_cgroups_detect(struct vd_cgroups *cg, const char *root)
{
    memset(cg, 0, sizeof(*cg));
    if (root) {
        uint32_t h = 2166136261u; /* FNV-1a: stable across restarts of the same root */
        for (const char *p = root; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        cg->partition = xasprintf("machine/vireod-%08x", h);
    } else {
        cg->partition = xstrdup("machine");
    }
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        char mnt[1024];
        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
            continue;
        const char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fstype[32], opts[1024];
        if (sscanf(dash + 3, "%31s %*s %1023s", fstype, opts) != 2)
            continue;
        if (strcmp(fstype, "cgroup") == 0) {
            for (int c = 0; c < VD_CG_N; c++)
                if (!cg->mount[c] && has_word(opts, ctrl_names[c]))
                    cg->mount[c] = xstrdup(mnt);
        } else if (strcmp(fstype, "cgroup2") == 0) {
            /* the one at /sys/fs/cgroup wins over others (systemd's unified dir) */
            if (!cg->unified || strcmp(mnt, "/sys/fs/cgroup") == 0) {
                free(cg->unified);
                cg->unified = xstrdup(mnt);
            }
        }
    }
    if (f)
        fclose(f);
    if (cg->mount[VD_CG_CPU] || cg->mount[VD_CG_CPUSET] || cg->mount[VD_CG_MEMORY]) {
        cg->version = 1;
        for (int c = 0; c < VD_CG_N; c++)
            cg->have[c] = cg->mount[c] != NULL;
    } else if (cg->unified) {
        cg->version = 2;
        char path[1100], text[512];
        snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->unified);
        if (read_text(path, text, sizeof(text)) == 0)
            for (int c = 0; c < VD_CG_N; c++)
                cg->have[c] = has_word(text, ctrl_names_v2[c]);
    }
}

void vd_cgroups_copy(struct vd_cgroups *dst, const struct vd_cgroups *src)
{
    *dst = *src;
    for (int c = 0; c < VD_CG_N; c++)
        dst->mount[c] = src->mount[c] ? xstrdup(src->mount[c]) : NULL;
    dst->unified = src->unified ? xstrdup(src->unified) : NULL;
    dst->partition = src->partition ? xstrdup(src->partition) : NULL;
}

void vd_cgroups_free(struct vd_cgroups *cg)
{
    for (int c = 0; c < VD_CG_N; c++)
        free(cg->mount[c]);
    free(cg->unified);
    free(cg->partition);
    memset(cg, 0, sizeof(*cg));
}

static const char *base_of(const struct vd_cgroups *cg, enum vd_cg_ctrl c)
{
    return cg->version == 1 ? cg->mount[c] : cg->version == 2 ? cg->unified : NULL;
}

char *vd_cg_path(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub)
{
    const char *base = base_of(cg, c);
    if (!base || !cg->have[c])
        return NULL;
    return sub ? xasprintf("%s/%s/%s.vireo/%s", base, cg->partition, name, sub)
               : xasprintf("%s/%s/%s.vireo", base, cg->partition, name);
}

/* The controllers whose groups this layout makes (v2: one tree). */
static bool is_tree(const struct vd_cgroups *cg, enum vd_cg_ctrl c)
{
    if (!base_of(cg, c))
        return false;
    if (cg->version == 2)
        return c == VD_CG_CPU; /* any one: the tree is the same for all */
    /* v1: co-mounted controllers (cpu,cpuacct) share a tree: make it once */
    for (int o = 0; o < (int)c; o++)
        if (cg->mount[o] && strcmp(cg->mount[o], cg->mount[c]) == 0)
            return false;
    return true;
}

/* v1 cpuset: a new group has no CPUs and no nodes until given its parent's. */
static int cpuset_inherit(const char *dir, struct verr *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (int i = 0; i < 2; i++) {
        char text[4096];
        char *path = xasprintf("%s/%s", dir, files[i]);
        char *parent = xasprintf("%s/../%s", dir, files[i]);
        int r = 0;
        if (read_text(path, text, sizeof(text)) < 0 || !text[0]) {
            r = read_text(parent, text, sizeof(text));
            if (r == 0)
                r = write_text(path, text);
            if (r < 0)
                verr_errno(err, -r, "cannot set up cgroup %s", path);
        }
        free(path);
        free(parent);
        if (r < 0)
            return r;
    }
    return 0;
}

/* mkdir -p of base/rel, each new level made usable (v1 cpuset, v2 controllers). */
static int make_dirs(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *rel,
                     struct verr *err)
{
    const char *base = base_of(cg, c);
    char path[1200];
    size_t n = (size_t)snprintf(path, sizeof(path), "%s", base);
    const char *p = rel;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (cg->version == 2) {
            /* the controllers flow down to the new level: enabled in its parent; below the
             * domain group (a threaded subtree) only the threaded ones, cpu and cpuset */
            char sc[1300];
            snprintf(sc, sizeof(sc), "%s/cgroup.subtree_control", path);
            size_t plen = strlen(path);
            bool threaded = plen > 6 && strcmp(path + plen - 6, ".vireo") == 0;
            for (int k = 0; k < VD_CG_N; k++)
                if (cg->have[k] && k != VD_CG_CPUACCT &&
                    (!threaded || k == VD_CG_CPU || k == VD_CG_CPUSET)) {
                    char plus[16];
                    snprintf(plus, sizeof(plus), "+%s", ctrl_names_v2[k]);
                    write_text(sc, plus); /* best effort: have[] says what is usable */
                }
        }
        n += (size_t)snprintf(path + n, sizeof(path) - n, "/%.*s", (int)len, p);
        if (n >= sizeof(path))
            return verr_set(err, ENAMETOOLONG, "cgroup path too long: %s", rel);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return verr_errno(err, errno, "Unable to create cgroup path %s", path);
        if (cg->version == 1 && c == VD_CG_CPUSET) {
            int r = cpuset_inherit(path, err);
            if (r < 0)
                return r;
        }
        p = slash ? slash + 1 : p + len;
    }
    return 0;
}

static int make_sub(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name,
                    const char *sub, struct verr *err)
{
    char *rel = xasprintf("%s/%s.vireo/%s", cg->partition, name, sub);
    int r = make_dirs(cg, c, rel, err);
    free(rel);
    if (r == 0 && cg->version == 2) {
        char *type =
            xasprintf("%s/%s/%s.vireo/%s/cgroup.type", cg->unified, cg->partition, name, sub);
        r = write_text(type, "threaded");
        if (r < 0)
            verr_errno(err, -r, "cannot make %s threaded", type);
        free(type);
    }
    return r;
}

static int join_thread(const struct vd_cgroups *cg, const char *name, const char *sub, pid_t tid,
                       struct verr *err)
{
    char value[24];
    snprintf(value, sizeof(value), "%d", (int)tid);
    for (int c = 0; c < VD_CG_N; c++) {
        /* v1: the per-thread controllers (memory and blkio account per process: the
         * domain group has the whole process); v2: the one tree, once */
        if (!is_tree(cg, (enum vd_cg_ctrl)c) ||
            (cg->version == 1 && (c == VD_CG_MEMORY || c == VD_CG_BLKIO)))
            continue;
        char *file =
            xasprintf("%s/%s/%s.vireo/%s/%s", base_of(cg, (enum vd_cg_ctrl)c), cg->partition, name,
                      sub, cg->version == 2 ? "cgroup.threads" : "tasks");
        int r = write_text(file, value);
        if (r < 0 && r != -ESRCH) /* a thread that ended meanwhile is no error */
            verr_errno(err, -r, "cannot add thread %d to %s", (int)tid, file);
        free(file);
        if (r < 0 && r != -ESRCH)
            return r;
    }
    return 0;
}

/* The sub-group a thread belongs in. */
static void sub_of(pid_t tid, const pid_t *vcpu_tids, size_t nvcpus, char *out, size_t size)
{
    for (size_t i = 0; i < nvcpus; i++)
        if (vcpu_tids[i] == tid) {
            snprintf(out, size, "vcpu%zu", i);
            return;
        }
    snprintf(out, size, "emulator");
}

int vd_cg_domain_create(const struct vd_cgroups *cg, const char *name, pid_t pid,
                        const pid_t *vcpu_tids, size_t nvcpus, struct verr *err)
{
    if (cg->version == 0)
        return verr_set(err, ENOTSUP, "no cgroup hierarchy is mounted");
    vd_cg_domain_remove(cg, name); /* a group a crash left (empty: its process is gone) */
    int r = 0;
    char *rel = xasprintf("%s/%s.vireo", cg->partition, name);
    for (int c = 0; c < VD_CG_N && r == 0; c++) {
        if (!is_tree(cg, (enum vd_cg_ctrl)c))
            continue;
        r = make_dirs(cg, (enum vd_cg_ctrl)c, rel, err);
        if (r == 0)
            r = make_sub(cg, (enum vd_cg_ctrl)c, name, "emulator", err);
        for (size_t i = 0; i < nvcpus && r == 0; i++) {
            char sub[32];
            snprintf(sub, sizeof(sub), "vcpu%zu", i);
            r = make_sub(cg, (enum vd_cg_ctrl)c, name, sub, err);
        }
    }
    free(rel);
    /* the process: into the domain group (v1 memory and blkio, v2 the threaded root) */
    char value[24];
    snprintf(value, sizeof(value), "%d", (int)pid);
    for (int c = 0; c < VD_CG_N && r == 0; c++) {
        if (!is_tree(cg, (enum vd_cg_ctrl)c) && !(cg->version == 1 && base_of(cg, c)))
            continue;
        if (cg->version == 1 && c != VD_CG_MEMORY && c != VD_CG_BLKIO)
            continue;
        char *file = xasprintf("%s/%s/%s.vireo/cgroup.procs", base_of(cg, (enum vd_cg_ctrl)c),
                               cg->partition, name);
        r = write_text(file, value);
        if (r < 0)
            verr_errno(err, -r, "cannot move process %d into %s", (int)pid, file);
        free(file);
    }
    /* its threads: each into vcpuN or emulator */
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = r == 0 ? opendir(dir) : NULL;
    if (r == 0 && !d)
        r = verr_errno(err, errno, "cannot list the threads of process %d", (int)pid);
    struct dirent *e;
    while (d && r == 0 && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        char sub[32];
        sub_of(tid, vcpu_tids, nvcpus, sub, sizeof(sub));
        r = join_thread(cg, name, sub, tid, err);
    }
    if (d)
        closedir(d);
    return r;
}

int vd_cg_thread_group(const struct vd_cgroups *cg, const char *name, const char *sub, pid_t tid,
                       struct verr *err)
{
    if (cg->version == 0)
        return verr_set(err, ENOTSUP, "no cgroup hierarchy is mounted");
    int r = 0;
    for (int c = 0; c < VD_CG_N && r == 0; c++)
        if (is_tree(cg, (enum vd_cg_ctrl)c))
            r = make_sub(cg, (enum vd_cg_ctrl)c, name, sub, err);
    return r < 0 ? r : join_thread(cg, name, sub, tid, err);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        char *sub = xasprintf("%s/%s", dir, e->d_name);
        remove_tree(sub);
        free(sub);
    }
    closedir(d);
    /* A process that just died leaves its threads in the group for a moment. */
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void vd_cg_domain_remove(const struct vd_cgroups *cg, const char *name)
{
    for (int c = 0; c < VD_CG_N; c++) {
        if (!is_tree(cg, (enum vd_cg_ctrl)c))
            continue;
        char *dir =
            xasprintf("%s/%s/%s.vireo", base_of(cg, (enum vd_cg_ctrl)c), cg->partition, name);
        remove_tree(dir);
        free(dir);
        if (strcmp(cg->partition, "machine") != 0) { /* a --root daemon's own partition */
            char *part = xasprintf("%s/%s", base_of(cg, (enum vd_cg_ctrl)c), cg->partition);
            rmdir(part); /* fails while other domains have groups there */
            free(part);
        }
    }
}

bool vd_cg_domain_exists(const struct vd_cgroups *cg, const char *name)
{
    for (int c = 0; c < VD_CG_N; c++) {
        if (!is_tree(cg, (enum vd_cg_ctrl)c))
            continue;
        char *dir =
            xasprintf("%s/%s/%s.vireo", base_of(cg, (enum vd_cg_ctrl)c), cg->partition, name);
        struct stat st;
        bool there = stat(dir, &st) == 0;
        free(dir);
        if (there)
            return true;
    }
    return false;
}

static const char *file_base(const char *file)
{
    const char *s = strrchr(file, '/');
    return s ? s + 1 : file;
}

int vd_cg_write(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub,
                const char *file, const char *value, struct verr *err)
{
    char *dir = vd_cg_path(cg, c, name, sub);
    if (!dir)
        return verr_set(err, ENOTSUP, "cgroup %s controller is not mounted", ctrl_names[c]);
    char *path = xasprintf("%s/%s", dir, file);
    int r = write_text(path, value);
    if (r < 0)
        verr_set(err, -r, "Invalid value '%s' for '%s': %s", value, file_base(file), strerror(-r));
    free(dir);
    free(path);
    return r;
}

int vd_cg_read(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub,
               const char *file, char *out, size_t size, struct verr *err)
{
    char *dir = vd_cg_path(cg, c, name, sub);
    if (!dir)
        return verr_set(err, ENOTSUP, "cgroup %s controller is not mounted", ctrl_names[c]);
    char *path = xasprintf("%s/%s", dir, file);
    int r = read_text(path, out, size);
    if (r < 0)
        verr_errno(err, -r, "Unable to read from '%s'", path);
    free(dir);
    free(path);
    return r;
}

int vd_cg_set_shares(const struct vd_cgroups *cg, const char *name, uint64_t shares,
                     struct verr *err)
{
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)shares);
    return vd_cg_write(cg, VD_CG_CPU, name, NULL, cg->version == 2 ? "cpu.weight" : "cpu.shares", v,
                       err);
}

int vd_cg_get_shares(const struct vd_cgroups *cg, const char *name, uint64_t *shares,
                     struct verr *err)
{
    char text[64];
    int r = vd_cg_read(cg, VD_CG_CPU, name, NULL, cg->version == 2 ? "cpu.weight" : "cpu.shares",
                       text, sizeof(text), err);
    if (r == 0)
        *shares = strtoull(text, NULL, 10);
    return r;
}

int vd_cg_set_bandwidth(const struct vd_cgroups *cg, const char *name, const char *sub,
                        uint64_t period, int64_t quota, struct verr *err)
{
    char v[64];
    if (cg->version == 1) {
        int r = 0;
        if (period) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)period);
            r = vd_cg_write(cg, VD_CG_CPU, name, sub, "cpu.cfs_period_us", v, err);
        }
        if (r == 0 && quota) {
            snprintf(v, sizeof(v), "%lld", (long long)quota);
            r = vd_cg_write(cg, VD_CG_CPU, name, sub, "cpu.cfs_quota_us", v, err);
        }
        return r;
    }
    uint64_t p;
    int64_t q;
    int r = vd_cg_get_bandwidth(cg, name, sub, &p, &q, err);
    if (r < 0)
        return r;
    if (period)
        p = period;
    if (quota)
        q = quota;
    if (q < 0)
        snprintf(v, sizeof(v), "max %llu", (unsigned long long)p);
    else
        snprintf(v, sizeof(v), "%lld %llu", (long long)q, (unsigned long long)p);
    return vd_cg_write(cg, VD_CG_CPU, name, sub, "cpu.max", v, err);
}

int vd_cg_get_bandwidth(const struct vd_cgroups *cg, const char *name, const char *sub,
                        uint64_t *period, int64_t *quota, struct verr *err)
{
    char text[64];
    if (cg->version == 1) {
        int r = vd_cg_read(cg, VD_CG_CPU, name, sub, "cpu.cfs_period_us", text, sizeof(text), err);
        if (r < 0)
            return r;
        *period = strtoull(text, NULL, 10);
        r = vd_cg_read(cg, VD_CG_CPU, name, sub, "cpu.cfs_quota_us", text, sizeof(text), err);
        if (r == 0)
            *quota = strtoll(text, NULL, 10);
        return r;
    }
    int r = vd_cg_read(cg, VD_CG_CPU, name, sub, "cpu.max", text, sizeof(text), err);
    if (r < 0)
        return r;
    char *sp = strchr(text, ' ');
    *period = sp ? strtoull(sp + 1, NULL, 10) : 100000;
    *quota = strncmp(text, "max", 3) == 0 ? -1 : strtoll(text, NULL, 10);
    return 0;
}

int vd_cg_set_cpus(const struct vd_cgroups *cg, const char *name, const char *sub,
                   const char *cpulist, struct verr *err)
{
    char *dir = vd_cg_path(cg, VD_CG_CPUSET, name, sub);
    char *file = dir ? xasprintf("%s/cpuset.cpus", dir) : NULL;
    bool there = file && access(file, F_OK) == 0;
    free(dir);
    free(file);
    if (!there) /* v2 without cpuset delegated this far: the threads' affinity alone places them */
        return 0;
    return vd_cg_write(cg, VD_CG_CPUSET, name, sub, "cpuset.cpus", cpulist, err);
}
