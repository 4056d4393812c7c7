/*
 * vmm-proc.c - spawning vireo-vmm, and knowing, finding and ending it
 * again by its identity (see vmm-proc.h for why a pid alone is not enough).
 *
 * Spawning uses posix_spawn: vireod's start latency budget is a few
 * milliseconds, and fork() copies the daemon's page tables (and forks a
 * multi-threaded process, where only async-signal-safe calls are allowed
 * before exec). glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): no
 * copy, and the exec error comes back to the caller instead of a child that
 * must report it through the log.
 *
 * A VMM in a mount namespace of its own (vmm-namespace.h) needs code between fork and exec,
 * which posix_spawn cannot run: it is forked instead, and the child reports a failed step
 * or exec through a close-on-exec pipe (end of file: the exec happened).
 */
#include "daemon/vmm-proc.h"
#include "daemon/vmm-namespace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

extern char **environ;

/* from as to, open across the exec (dup2 onto itself would keep close-on-exec). */
static int dup_to(int from, int to)
{
    return from == to ? fcntl(to, F_SETFD, 0) : dup2(from, to);
}

/* The forked child of spawn_in_namespace: system calls only from here to the exec. */
static void ns_child(char **argv, int logfd, int keep_fd, const int *extra, size_t nextra,
                     struct vd_ns_plan *ns, const struct rlimit *memlock, int report)
{
    struct vd_ns_failure f = {0};
    /* The report pipe above every descriptor the VMM is handed. */
    int low = VD_VMM_LOCK_FD + 1;
    for (size_t i = 0; i < nextra; i++)
        if (extra[i] >= low)
            low = extra[i] + 1;
    if (report < low) {
        int moved = fcntl(report, F_DUPFD_CLOEXEC, low);
        if (moved >= 0)
            report = moved;
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and the reserved */
    setsid();
    int entered = ns ? vd_ns_enter(ns, &f) : 0;
    if (entered == 0 && memlock && setrlimit(RLIMIT_MEMLOCK, memlock) < 0) {
        /* Without CAP_SYS_RESOURCE (a container) the hard limit cannot rise: the VMM keeps
         * vireod's, raised to its hard limit, and locks under CAP_IPC_LOCK or fails with
         * its own line ("-overcommit mem-lock=on: locking memory failed"). */
        struct rlimit cur;
        static const char warn[] = "vireod: warning: cannot raise RLIMIT_MEMLOCK for <locked/> "
                                   "(no CAP_SYS_RESOURCE): the VMM keeps vireod's hard limit\n";
        if (errno == EPERM && getrlimit(RLIMIT_MEMLOCK, &cur) == 0 &&
            cur.rlim_max < memlock->rlim_max) {
            cur.rlim_cur = cur.rlim_max;
            setrlimit(RLIMIT_MEMLOCK, &cur);
            if (write(logfd, warn, sizeof(warn) - 1) < 0)
                f.err = 0; /* the log is best effort */
        } else {
            f.err = errno;
            memcpy(f.what, "raise RLIMIT_MEMLOCK", sizeof("raise RLIMIT_MEMLOCK"));
            entered = -1;
        }
    }
    if (entered == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup_to(null, 0) < 0 || dup_to(logfd, 1) < 0 || dup_to(logfd, 2) < 0 ||
            (keep_fd >= 0 && dup_to(keep_fd, VD_VMM_LOCK_FD) < 0)) {
            f.err = errno;
            memcpy(f.what, "set up its descriptors", sizeof("set up its descriptors"));
        } else {
            for (size_t i = 0; i < nextra; i++)
                if (extra[i] > VD_VMM_LOCK_FD)
                    fcntl(extra[i], F_SETFD, 0);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            execve(argv[0], argv, environ);
            f.err = errno;
            memcpy(f.what, "exec", sizeof("exec"));
        }
    }
    if (write(report, &f, sizeof(f)) < 0)
        _exit(126);
    _exit(127);
}

static int spawn_in_namespace(char **argv, int logfd, int keep_fd, const int *extra, size_t nextra,
                              struct vd_ns_plan *ns, const struct rlimit *memlock, pid_t *pid,
                              struct verr *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "cannot run %s: pipe", argv[0]);
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return verr_errno(err, e, "cannot run %s: fork", argv[0]);
    }
    if (child == 0) {
        close(pfd[0]);
        ns_child(argv, logfd, keep_fd, extra, nextra, ns, memlock, pfd[1]);
    }
    close(pfd[1]);
    struct vd_ns_failure f = {0};
    ssize_t n;
    while ((n = read(pfd[0], &f, sizeof(f))) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    if (n == 0) {
        *pid = child;
        return 0;
    }
    /* The child is ending: reaped here, so the caller never waits for it. */
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(f)) {
        f.err = EIO;
        snprintf(f.what, sizeof(f.what), "no word from the child");
    }
    f.what[sizeof(f.what) - 1] = 0;
    int r = strcmp(f.what, "exec") == 0 ? verr_errno(err, f.err, "cannot run %s", argv[0])
            : strcmp(f.what, "raise RLIMIT_MEMLOCK") == 0
                ? verr_errno(err, f.err, "cannot limit locked memory for the VMM (<locked/>)")
                : verr_errno(err, f.err, "cannot set up the VMM's private /dev (namespaces): %s",
                             f.what);
    char line[VERR_MSG_MAX + 16];
    int len = snprintf(line, sizeof(line), "vireod: %s\n", verr_msg(err));
    if (len > 0)
        fd_write_all(logfd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
    return r;
}

int vd_spawn(char **argv, int logfd, int keep_fd, const int *extra, size_t nextra,
             struct vd_ns_plan *ns, const struct rlimit *memlock, pid_t *pid, struct verr *err)
{
    if (ns || memlock)
        return spawn_in_namespace(argv, logfd, keep_fd, extra, nextra, ns, memlock, pid, err);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logfd, 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    /* The daemon's copy is close-on-exec (so no other VMM spawned meanwhile
     * inherits it); the child's copy is made here and is not. dup2 onto
     * the same number clears close-on-exec too (POSIX, glibc >= 2.29). */
    if (keep_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, keep_fd, VD_VMM_LOCK_FD);
    for (size_t i = 0; i < nextra; i++)
        if (extra[i] > VD_VMM_LOCK_FD)
            posix_spawn_file_actions_adddup2(&fa, extra[i], extra[i]);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    int r = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
        char line[512];
        int n = snprintf(line, sizeof(line), "vireod: cannot run %s: %s\n", argv[0], strerror(r));
        if (n > 0)
            fd_write_all(logfd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        return verr_errno(err, r, "cannot run %s", argv[0]);
    }
    return 0;
}

/* /proc/PID/stat after the command name (which may hold spaces and ')'). */
static int read_stat(pid_t pid, char *out, size_t size, const char **fields)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = fd_read_all(fd, out, size - 1);
    close(fd);
    if (n <= 0)
        return n < 0 ? (int)n : -EIO;
    out[n] = 0;
    char *p = strrchr(out, ')');
    if (!p || p[1] != ' ')
        return -EIO;
    *fields = p + 2; /* field 3, the state */
    return 0;
}

uint64_t vd_proc_start_time(pid_t pid, struct verr *err)
{
    char buf[1024];
    const char *f;
    int r = read_stat(pid, buf, sizeof(buf), &f);
    if (r < 0) {
        verr_errno(err, -r, "cannot read /proc/%d/stat", (int)pid);
        return 0;
    }
    /* fields 3..21, then starttime (22) */
    unsigned long long start = 0;
    if (sscanf(f,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1 ||
        start == 0) {
        verr_set(err, EIO, "/proc/%d/stat: no start time", (int)pid);
        return 0;
    }
    return start;
}

uint64_t vd_proc_cpu_time(pid_t pid)
{
    char buf[1024];
    const char *f;
    if (pid <= 0 || read_stat(pid, buf, sizeof(buf), &f) < 0)
        return 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    unsigned long long ut = 0, st = 0;
    if (sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* The command line of pid as words (argv[argc] NULL), or NULL. */
static char **read_cmdline(pid_t pid, size_t *argc)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    struct buf b = BUF_INIT;
    struct verr e = {0};
    if (file_read_all(path, 1 << 20, &b, &e) < 0 || b.len == 0) {
        buf_free(&b); /* a zombie or kernel thread has none */
        return NULL;
    }
    if (((char *)b.data)[b.len - 1] != 0)
        buf_append(&b, "", 1);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++)
        n += ((char *)b.data)[i] == 0;
    char **argv = xcalloc(n + 2, sizeof(*argv));
    /* argv[0] points at the buffer itself; freed with argv[0]. */
    char *text = (char *)b.data;
    size_t k = 0;
    for (size_t i = 0; i < b.len && k < n; i += strlen(text + i) + 1)
        argv[k++] = text + i;
    *argc = k;
    return argv;
}

static void free_cmdline(char **argv)
{
    if (argv)
        free(argv[0]);
    free(argv);
}

static bool is_vmm_argv0(const char *a0)
{
    const char *base = strrchr(a0, '/');
    return strcmp(base ? base + 1 : a0, "vireo-vmm") == 0;
}

static bool alive_not_zombie(pid_t pid)
{
    char buf[1024];
    const char *f;
    return read_stat(pid, buf, sizeof(buf), &f) == 0 && *f != 'Z' && *f != 'X';
}

const char *vd_proc_arg(char **argv, size_t argc, const char *opt)
{
    for (size_t i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], opt) == 0)
            return argv[i + 1];
    return NULL;
}

static bool argv_matches(char **argv, size_t argc, const struct vd_vmm_ident *id)
{
    const char *uuid = vd_proc_arg(argv, argc, "-uuid");
    const char *pidfile = vd_proc_arg(argv, argc, "-pidfile");
    return argc && is_vmm_argv0(argv[0]) && (!id->uuid || (uuid && strcmp(uuid, id->uuid) == 0)) &&
           pidfile && strcmp(pidfile, id->pidfile) == 0;
}

bool vd_proc_is_vmm(pid_t pid, const struct vd_vmm_ident *id)
{
    size_t argc = 0;
    char **argv = read_cmdline(pid, &argc);
    bool ok = argv && argv_matches(argv, argc, id) && alive_not_zombie(pid);
    free_cmdline(argv);
    return ok;
}

int vd_proc_open(pid_t pid, uint64_t start_time, const struct vd_vmm_ident *id)
{
    if (pid <= 1) {
        errno = ESRCH;
        return -1;
    }
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -1;
    /* The pidfd holds whatever had the pid at the moment it was opened;
     * checked after the open, the identity below is that process's. */
    struct verr e = {0};
    if ((start_time && vd_proc_start_time(pid, &e) != start_time) || !vd_proc_is_vmm(pid, id)) {
        close(fd);
        errno = ESRCH;
        return -1;
    }
    return fd;
}

int vd_proc_signal(int pidfd, int signo)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0) < 0)
        return -errno;
    return 0;
}

bool vd_proc_wait_exit(int pidfd, int timeout_ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0;
    }
}

void vd_proc_scan(vd_proc_visit_fn visit, void *ctx)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        size_t argc = 0;
        char **argv = read_cmdline((pid_t)pid, &argc);
        if (argv && argc && is_vmm_argv0(argv[0]) && alive_not_zombie((pid_t)pid))
            visit(ctx, (pid_t)pid, argv, argc);
        free_cmdline(argv);
    }
    closedir(dir);
}

struct find_ctx {
    const struct vd_vmm_ident *id;
    pid_t *pids;
    size_t max, n;
};

static void find_visit(void *opaque, pid_t pid, char **argv, size_t argc)
{
    struct find_ctx *c = opaque;
    if (!argv_matches(argv, argc, c->id))
        return;
    if (c->n < c->max)
        c->pids[c->n] = pid;
    c->n++;
}

size_t vd_proc_find(const struct vd_vmm_ident *id, pid_t *pids, size_t max)
{
    struct find_ctx c = {id, pids, max, 0};
    vd_proc_scan(find_visit, &c);
    return c.n;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int vd_proc_kill_all(const struct vd_vmm_ident *id, int timeout_ms)
{
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    int ended = 0;
    /* Again until none is found: one may have been exec'ing during a scan. */
    for (int round = 0; round < 16; round++) {
        pid_t pids[16];
        size_t n = vd_proc_find(id, pids, 16);
        if (n == 0)
            return ended;
        for (size_t i = 0; i < n && i < 16; i++) {
            int fd = vd_proc_open(pids[i], 0, id);
            if (fd < 0 && errno == ESRCH)
                continue; /* gone meanwhile */
            bool gone;
            if (fd >= 0) {
                vd_proc_signal(fd, SIGKILL);
                uint64_t now = now_ms();
                gone = vd_proc_wait_exit(fd, now < until ? (int)(until - now) : 0);
                close(fd);
            } else {
                /* No pidfd (descriptors exhausted, a kernel without
                 * pidfd_open): by pid, its identity checked just before. */
                if (vd_proc_is_vmm(pids[i], id))
                    kill(pids[i], SIGKILL);
                while (!(gone = !vd_proc_is_vmm(pids[i], id)) && now_ms() < until) {
                    struct timespec ts = {0, 10 * 1000000L};
                    nanosleep(&ts, NULL);
                }
            }
            if (!gone)
                return -ETIMEDOUT;
            ended++;
        }
    }
    return -ETIMEDOUT;
}
