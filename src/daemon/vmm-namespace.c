/*
 * vmm-namespace.c - the VMM's private mount namespace and /dev (see vmm-namespace.h).
 *
 * Two halves. The plan (vd_ns_plan_make, and the entries for one path) is made in the
 * daemon with ordinary library calls: lstat, readlink, /proc/self/mountinfo. Carrying it
 * out (vd_ns_enter, and the child of vd_ns_add_path) happens in a forked child of a
 * threaded daemon, so it uses system calls only: no allocation, no stdio, no locale. Its
 * messages are put together by hand into a fixed buffer.
 *
 * The entries are made in plan order: directories before what they hold, a node before
 * the links to it. The mounts kept from the host's /dev (devpts, /dev/shm, /dev/mqueue,
 * huge pages) are cloned with open_tree(OPEN_TREE_CLONE) before the tmpfs covers /dev and
 * attached again with move_mount: no staging directory exists anywhere, so nothing can be
 * left behind on the host.
 */
#include "daemon/vmm-namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "util/error.h"
#include "util/mem.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/* What /dev holds besides the domain's own nodes (libvirt's default device list). */
static const char *const base_nodes[] = {"/dev/null",    "/dev/full", "/dev/zero", "/dev/random",
                                         "/dev/urandom", "/dev/ptmx", "/dev/kvm"};
/* Mounts under the host's /dev that the VMM sees too, as libvirt keeps them. */
static const char *const kept_mounts[] = {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/hugepages"};
/* The links every /dev has (systemd's and udev's), made as they are, not copied. */
static const char *const std_links[][2] = {{"/dev/fd", "/proc/self/fd"},
                                           {"/dev/stdin", "/proc/self/fd/0"},
                                           {"/dev/stdout", "/proc/self/fd/1"},
                                           {"/dev/stderr", "/proc/self/fd/2"}};

#define NS_DEV_TMPFS_OPTS "mode=755,size=65536"
#define NS_MAX_LINK_HOPS  16

enum ns_kind { NS_DIR, NS_NODE, NS_LINK, NS_BIND };

struct ns_entry {
    enum ns_kind kind;
    char *path;
    char *target; /* NS_LINK */
    mode_t mode;  /* type and permission bits */
    dev_t rdev;
    uid_t uid;
    gid_t gid;
    int tree_fd; /* NS_BIND: the clone, in the child only */
};

struct vd_ns_plan {
    struct ns_entry *e;
    size_t n;
};

bool vd_ns_path_is_dev(const char *path)
{
    return path && strncmp(path, "/dev/", 5) == 0 && path[5];
}

static struct ns_entry *plan_find(struct vd_ns_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].path, path) == 0)
            return &p->e[i];
    return NULL;
}

static struct ns_entry *plan_add(struct vd_ns_plan *p, enum ns_kind kind, const char *path,
                                 const struct stat *st)
{
    p->e = xreallocarray(p->e, p->n + 1, sizeof(*p->e));
    struct ns_entry *e = &p->e[p->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->path = xstrdup(path);
    e->tree_fd = -1;
    if (st) {
        e->mode = st->st_mode;
        e->rdev = st->st_rdev;
        e->uid = st->st_uid;
        e->gid = st->st_gid;
    } else {
        e->mode = S_IFDIR | 0755;
    }
    return e;
}

void vd_ns_plan_free(struct vd_ns_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->e[i].path);
        free(p->e[i].target);
    }
    free(p->e);
    free(p);
}

/* Whether path is the mount point of a mount (in /proc/self/mountinfo). */
static bool is_mount_point(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[4096], mnt[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && strcmp(mnt, path) == 0;
    fclose(f);
    return found;
}

/* Whether path lies on one of the mounts the plan keeps (a file in /dev/shm, ...). */
static bool under_bind(const struct vd_ns_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++) {
        size_t l = strlen(p->e[i].path);
        if (p->e[i].kind == NS_BIND && strncmp(path, p->e[i].path, l) == 0 &&
            (path[l] == '/' || path[l] == 0))
            return true;
    }
    return false;
}

/* path made canonical without following links: "//", "." and ".." folded. */
static char *path_fold(const char *path)
{
    size_t len = strlen(path);
    char *out = xcalloc(len + 2, 1);
    size_t o = 0;
    for (const char *s = path; *s;) {
        while (*s == '/')
            s++;
        const char *end = strchr(s, '/');
        size_t l = end ? (size_t)(end - s) : strlen(s);
        if (l == 0)
            break;
        if (l == 1 && s[0] == '.') {
            /* nothing */
        } else if (l == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, s, l);
            o += l;
        }
        s += l;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = 0;
    return out;
}

/* The directories between /dev and path, each once, as the host has them. */
static void plan_parents(struct vd_ns_plan *p, const char *path)
{
    char *dir = xstrdup(path);
    for (char *s = dir + 5; (s = strchr(s, '/')); s++) {
        *s = 0;
        if (!plan_find(p, dir)) {
            struct stat st;
            bool have = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
            plan_add(p, NS_DIR, dir, have ? &st : NULL);
        }
        *s = '/';
    }
    free(dir);
}

/*
 * The entries for one path under /dev: its directories, and the links up to the device node
 * they lead to. optional: a path the host lacks is left out (else an error).
 */
static int plan_path(struct vd_ns_plan *p, const char *path, bool optional, struct verr *err)
{
    char *cur = path_fold(path);
    int r = 0;
    for (int hop = 0;; hop++) {
        if (!vd_ns_path_is_dev(cur) || under_bind(p, cur) || plan_find(p, cur))
            break; /* shared with the host, or already made */
        if (hop == NS_MAX_LINK_HOPS) {
            r = verr_set(err, ELOOP, "cannot make '%s' in the VM's /dev: too many links", path);
            break;
        }
        struct stat st;
        if (lstat(cur, &st) < 0) {
            if (errno == ENOENT && optional)
                break;
            r = verr_errno(err, errno, "cannot make '%s' in the VM's /dev: cannot read '%s'", path,
                           cur);
            break;
        }
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            plan_parents(p, cur);
            plan_add(p, NS_NODE, cur, &st);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            plan_parents(p, cur);
            plan_add(p, NS_DIR, cur, &st);
            break;
        }
        if (!S_ISLNK(st.st_mode)) {
            r = verr_set(err, EINVAL,
                         "cannot make '%s' in the VM's /dev: '%s' is not a device node", path, cur);
            break;
        }
        char target[4096];
        ssize_t n = readlink(cur, target, sizeof(target) - 1);
        if (n < 0) {
            r = verr_errno(err, errno, "cannot make '%s' in the VM's /dev: cannot read link '%s'",
                           path, cur);
            break;
        }
        target[n] = 0;
        plan_parents(p, cur);
        plan_add(p, NS_LINK, cur, &st)->target = xstrdup(target);
        /* The link is made before its target: the target's entries follow it, which is
         * harmless (a dangling link for an instant, in a namespace nobody runs in yet). */
        char *next;
        if (target[0] == '/') {
            next = path_fold(target);
        } else {
            char *slash = strrchr(cur, '/');
            char *joined = xasprintf("%.*s/%s", (int)(slash - cur), cur, target);
            next = path_fold(joined);
            free(joined);
        }
        free(cur);
        cur = next;
    }
    free(cur);
    return r;
}

static bool has_tap(const struct domain_def *def)
{
    for (size_t i = 0; i < def->nnets; i++)
        if (def->nets[i].type == DOMAIN_NET_NETWORK || def->nets[i].type == DOMAIN_NET_BRIDGE ||
            def->nets[i].type == DOMAIN_NET_ETHERNET)
            return true;
    return false;
}

int vd_ns_plan_make(const struct domain_def *def, const char *mem_path, struct vd_ns_plan **out,
                    struct verr *err)
{
    struct vd_ns_plan *p = xcalloc(1, sizeof(*p));
    int r = 0;
    /* The mounts first: a path on one of them needs no entry of its own. */
    for (size_t i = 0; i < sizeof(kept_mounts) / sizeof(kept_mounts[0]); i++) {
        struct stat st;
        if (stat(kept_mounts[i], &st) == 0 && S_ISDIR(st.st_mode) && is_mount_point(kept_mounts[i]))
            plan_add(p, NS_BIND, kept_mounts[i], &st);
    }
    /* The huge pages the memory comes from, when they are mounted elsewhere under /dev. */
    if (mem_path && vd_ns_path_is_dev(mem_path) && !under_bind(p, mem_path)) {
        struct stat st;
        if (stat(mem_path, &st) == 0 && S_ISDIR(st.st_mode) && is_mount_point(mem_path)) {
            plan_parents(p, mem_path);
            plan_add(p, NS_BIND, mem_path, &st);
        }
    }
    for (size_t i = 0; r == 0 && i < sizeof(base_nodes) / sizeof(base_nodes[0]); i++)
        r = plan_path(p, base_nodes[i], true, err);
    if (r == 0 && has_tap(def)) {
        r = plan_path(p, "/dev/net/tun", true, err);
        if (r == 0)
            r = plan_path(p, "/dev/vhost-net", true, err);
    }
    for (size_t i = 0; r == 0 && i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if (d->source_type != DOMAIN_DISK_SOURCE_NETWORK && vd_ns_path_is_dev(d->source_path))
            r = plan_path(p, d->source_path, false, err);
    }
    for (size_t i = 0; r == 0 && i < sizeof(std_links) / sizeof(std_links[0]); i++) {
        if (plan_find(p, std_links[i][0]))
            continue;
        struct stat st = {.st_mode = S_IFLNK | 0777};
        plan_add(p, NS_LINK, std_links[i][0], &st)->target = xstrdup(std_links[i][1]);
    }
    if (r < 0) {
        vd_ns_plan_free(p);
        return r;
    }
    *out = p;
    return 0;
}

/* ---- the child's side: system calls only ---- */

/* f->what = a b c (each may be NULL), with errno saved. */
static int fail(struct vd_ns_failure *f, const char *a, const char *b, const char *c)
{
    f->err = errno ? errno : EIO;
    size_t o = 0;
    const char *parts[] = {a, b, c};
    for (size_t i = 0; i < 3; i++)
        for (const char *s = parts[i]; s && *s && o + 1 < sizeof(f->what); s++)
            f->what[o++] = *s;
    f->what[o] = 0;
    return -1;
}

/* One entry in the current namespace's /dev. replace: what is there already goes. */
static int make_entry(struct ns_entry *e, bool replace, struct vd_ns_failure *f)
{
    switch (e->kind) {
    case NS_DIR:
    case NS_BIND:
        if (mkdir(e->path, e->mode & 07777) < 0 && errno != EEXIST)
            return fail(f, "mkdir ", e->path, NULL);
        if (e->kind == NS_BIND) {
            if (syscall(SYS_move_mount, e->tree_fd, "", AT_FDCWD, e->path,
                        MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return fail(f, "mount the host's ", e->path, NULL);
            close(e->tree_fd);
            e->tree_fd = -1;
            return 0;
        }
        break;
    case NS_NODE:
        if (mknod(e->path, e->mode, e->rdev) < 0) {
            if (errno != EEXIST || !replace)
                return fail(f, "mknod ", e->path, NULL);
            if (unlink(e->path) < 0 || mknod(e->path, e->mode, e->rdev) < 0)
                return fail(f, "mknod ", e->path, NULL);
        }
        break;
    case NS_LINK:
        if (symlink(e->target, e->path) < 0) {
            if (errno != EEXIST || !replace)
                return fail(f, "symlink ", e->path, NULL);
            if (unlink(e->path) < 0 || symlink(e->target, e->path) < 0)
                return fail(f, "symlink ", e->path, NULL);
        }
        return 0; /* a link's owner and mode do not matter */
    }
    if (lchown(e->path, e->uid, e->gid) < 0)
        return fail(f, "chown ", e->path, NULL);
    if (chmod(e->path, e->mode & 07777) < 0)
        return fail(f, "chmod ", e->path, NULL);
    return 0;
}

int vd_ns_enter(struct vd_ns_plan *p, struct vd_ns_failure *f)
{
    errno = 0;
    if (unshare(CLONE_NEWNS) < 0)
        return fail(f, "unshare(CLONE_NEWNS)", NULL, NULL);
    /* Slaves: the host's later mounts still show here; nothing done here shows there. */
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return fail(f, "make the mounts slaves of the host's", NULL, NULL);
    for (size_t i = 0; i < p->n; i++) {
        struct ns_entry *e = &p->e[i];
        if (e->kind != NS_BIND)
            continue;
        e->tree_fd = (int)syscall(SYS_open_tree, AT_FDCWD, e->path,
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (e->tree_fd < 0)
            return fail(f, "clone the mount ", e->path, NULL);
    }
    if (mount("devfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, NS_DEV_TMPFS_OPTS) < 0)
        return fail(f, "mount a tmpfs on /dev", NULL, NULL);
    for (size_t i = 0; i < p->n; i++)
        if (make_entry(&p->e[i], false, f) < 0)
            return -1;
    return 0;
}

/* ---- the daemon's side ---- */

bool vd_ns_is_private(int pidfd, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
    struct stat self, other;
    if (stat("/proc/self/ns/mnt", &self) < 0 || stat(path, &other) < 0)
        return false;
    /* The pid was the pidfd's process when the stat ran only if that process still lives. */
    if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
        return false;
    return self.st_dev != other.st_dev || self.st_ino != other.st_ino;
}

/* Carries out p (making its entries, or removing its nodes and links) in the namespace of
 * the process behind pidfd, in a forked child; p is freed. */
static int in_namespace(int pidfd, struct vd_ns_plan *p, bool remove, const char *path,
                        struct verr *err)
{
    int r;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        vd_ns_plan_free(p);
        return verr_errno(err, errno, "cannot change '%s' in the VM's /dev: pipe", path);
    }
    pid_t child = fork();
    if (child < 0) {
        r = verr_errno(err, errno, "cannot change '%s' in the VM's /dev: fork", path);
        close(pfd[0]);
        close(pfd[1]);
        vd_ns_plan_free(p);
        return r;
    }
    if (child == 0) {
        struct vd_ns_failure f = {0};
        errno = 0;
        int ok =
            setns(pidfd, CLONE_NEWNS) == 0 ? 0 : fail(&f, "enter the VMM's namespace", NULL, NULL);
        /* Removal: the last entries (the node) first; a missing one is no error. */
        for (size_t i = p->n; remove && ok == 0 && i-- > 0;)
            if ((p->e[i].kind == NS_NODE || p->e[i].kind == NS_LINK) && unlink(p->e[i].path) < 0 &&
                errno != ENOENT)
                ok = fail(&f, "unlink ", p->e[i].path, NULL);
        for (size_t i = 0; !remove && ok == 0 && i < p->n; i++)
            ok = make_entry(&p->e[i], true, &f);
        if (ok < 0 && write(pfd[1], &f, sizeof(f)) < 0)
            _exit(126);
        _exit(ok < 0 ? 1 : 0);
    }
    close(pfd[1]);
    struct vd_ns_failure f = {0};
    ssize_t n;
    while ((n = read(pfd[0], &f, sizeof(f))) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    vd_ns_plan_free(p);
    if (n == (ssize_t)sizeof(f)) {
        f.what[sizeof(f.what) - 1] = 0;
        return verr_errno(err, f.err, "cannot %s '%s' in the VM's /dev: %s",
                          remove ? "remove" : "make", path, f.what);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return verr_set(err, EIO, "cannot %s '%s' in the VM's /dev: its helper failed",
                        remove ? "remove" : "make", path);
    return 0;
}

int vd_ns_add_path(int pidfd, const char *path, struct verr *err)
{
    if (!vd_ns_path_is_dev(path))
        return 0;
    struct vd_ns_plan *p = xcalloc(1, sizeof(*p));
    int r = plan_path(p, path, false, err);
    if (r < 0 || p->n == 0) {
        vd_ns_plan_free(p);
        return r;
    }
    return in_namespace(pidfd, p, false, path, err);
}

int vd_ns_remove_path(int pidfd, const char *path, struct verr *err)
{
    if (!vd_ns_path_is_dev(path))
        return 0;
    struct vd_ns_plan *p = xcalloc(1, sizeof(*p));
    struct verr ignored = {0};
    /* The host's links say what leads to the node; a node the host lost is removed alone. */
    if (plan_path(p, path, false, &ignored) < 0 || p->n == 0) {
        vd_ns_plan_free(p);
        p = xcalloc(1, sizeof(*p));
        char *folded = path_fold(path);
        struct stat st = {.st_mode = S_IFCHR};
        plan_add(p, NS_NODE, folded, &st);
        free(folded);
    }
    return in_namespace(pidfd, p, true, path, err);
}
