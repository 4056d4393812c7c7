/*
 * sandbox.c - the -sandbox option: parsing QEMU 7.2's syntax, and the seccomp
 * filter itself, built with libseccomp.
 *
 * QEMU's filter is a deny-list (everything is allowed but a few groups).
 * vireo-vmm's is an allow-list: after set-up the process needs a known, small
 * set of system calls (the vCPU loop's ioctls, the event loop, block I/O
 * including io_uring, sockets for QMP/VNC/NBD/migration/slirp, threads), and
 * anything else ends it. QEMU's option groups keep their meaning on top of
 * that: each group's calls are in the allow-list when the group is allowed,
 * and get QEMU's action for a denied group when it is denied (kill for
 * elevateprivileges and spawn, EPERM for resourcecontrol). The allow-list and
 * why each call is in it are in docs/vmm.md; keep the two in step.
 *
 * A denied call traps (SIGSYS) into a handler that writes one line naming the
 * call and re-issues it with SIGSYS blocked, which makes the kernel kill the
 * whole process with SIGSYS: the same end as QEMU's SCMP_ACT_KILL_PROCESS, with
 * a reason in the VM's log. A thread that blocks SIGSYS (posix_spawn blocks
 * every signal around its clone) is killed by the kernel at once, without it.
 */
#include "vmm/sandbox.h"
#include "vmm/cli-opts.h"
#include "util/str.h"

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

static int parse_choice(const char *opt, const char *key, const char *v, const char *const *words,
                        int n, struct verr *err)
{
    for (int i = 0; i < n; i++)
        if (str_eq(v, words[i]))
            return i;
    return verr_set(err, EINVAL, "-sandbox %s: invalid argument for %s", opt, key);
}

int sandbox_parse(const char *arg, struct sandbox_config *out, struct verr *err)
{
    static const char *const allow_deny[] = {"allow", "deny"};
    static const char *const elevate[] = {"allow", "deny", "children"};
    struct sandbox_config c = {0};
    char *copy = strdup(arg), *cur = copy, *item;
    if (!copy)
        return verr_set(err, ENOMEM, "-sandbox: out of memory");
    bool first = true;
    int r = 0;
    const char *v;
    while (r >= 0 && (item = cli_next_item(&cur))) {
        if ((first && !strchr(item, '=')) || cli_prop(item, "enable", &v)) {
            const char *b = strchr(item, '=') ? v : item;
            if (cli_parse_bool(b, &c.enabled) < 0)
                r = verr_set(err, EINVAL, "-sandbox %s: Parameter 'enable' expects 'on' or 'off'",
                             arg);
        } else if (cli_prop(item, "obsolete", &v)) {
            int k = parse_choice(arg, "obsolete", v, allow_deny, 2, err);
            c.obsolete_allow = k == 0;
            r = k;
        } else if (cli_prop(item, "elevateprivileges", &v)) {
            int k = parse_choice(arg, "elevateprivileges", v, elevate, 3, err);
            if (k >= 0)
                c.elevate = (enum sandbox_elevate)k;
            r = k;
        } else if (cli_prop(item, "spawn", &v)) {
            int k = parse_choice(arg, "spawn", v, allow_deny, 2, err);
            c.spawn_deny = k == 1;
            r = k;
        } else if (cli_prop(item, "resourcecontrol", &v)) {
            int k = parse_choice(arg, "resourcecontrol", v, allow_deny, 2, err);
            c.resourcecontrol_deny = k == 1;
            r = k;
        } else {
            r = verr_set(err, EINVAL, "-sandbox %s: Invalid parameter '%.*s'", arg,
                         (int)strcspn(item, "="), item);
        }
        first = false;
    }
    free(copy);
    if (r < 0)
        return r;
    *out = c;
    return 0;
}

/* The groups of the allow-list (docs/vmm.md, "-sandbox"). */
enum group {
    G_BASE,      /* always allowed */
    G_OBSOLETE,  /* QEMU's obsolete group: allowed with obsolete=allow */
    G_PRIV,      /* elevateprivileges: set*id */
    G_SPAWN,     /* spawn: processes, and what an exec'd child needs to start */
    G_RESOURCE,  /* resourcecontrol: scheduling priority and placement */
    G_SANITIZER, /* ASan/LSan/UBSan builds only: the runtime's own calls at exit */
};

static const struct {
    const char *name;
    enum group group;
} allow_list[] = {
    /* memory: the allocator, guest RAM (memfd, madvise for the balloon and
     * dump-guest-core/mem-merge), NUMA placement */
    {"brk", G_BASE},
    {"mmap", G_BASE},
    {"munmap", G_BASE},
    {"mprotect", G_BASE},
    {"mremap", G_BASE},
    {"madvise", G_BASE},
    {"mincore", G_BASE},
    {"msync", G_BASE},
    {"mlock", G_BASE},
    {"mlock2", G_BASE},
    {"munlock", G_BASE},
    {"membarrier", G_BASE},
    {"memfd_create", G_BASE},
    {"mbind", G_BASE},
    {"get_mempolicy", G_BASE},
    {"set_mempolicy", G_BASE},
    /* threads (clone is below: its flags decide), locks, signals to our own threads
     * (the vCPU kick), the signalfd the event loop reads */
    {"futex", G_BASE},
    {"set_robust_list", G_BASE},
    {"get_robust_list", G_BASE},
    {"rseq", G_BASE},
    {"set_tid_address", G_BASE},
    {"sched_yield", G_BASE},
    {"sched_getaffinity", G_BASE},
    {"sched_getparam", G_BASE},
    {"sched_getscheduler", G_BASE},
    {"getpriority", G_BASE},
    {"gettid", G_BASE},
    {"getpid", G_BASE},
    {"getppid", G_BASE},
    {"tgkill", G_BASE},
    {"rt_sigaction", G_BASE},
    {"rt_sigprocmask", G_BASE},
    {"rt_sigreturn", G_BASE},
    {"rt_sigtimedwait", G_BASE},
    {"sigaltstack", G_BASE},
    {"restart_syscall", G_BASE},
    {"exit", G_BASE},
    {"exit_group", G_BASE},
    /* time: timers, sleeps, the RTC and the migration throttle */
    {"clock_gettime", G_BASE},
    {"clock_getres", G_BASE},
    {"clock_nanosleep", G_BASE},
    {"nanosleep", G_BASE},
    {"gettimeofday", G_BASE},
    {"time", G_BASE},
    {"timerfd_create", G_BASE},
    {"timerfd_settime", G_BASE},
    {"timerfd_gettime", G_BASE},
    /* identity and limits, read only */
    {"getuid", G_BASE},
    {"geteuid", G_BASE},
    {"getgid", G_BASE},
    {"getegid", G_BASE},
    {"getresuid", G_BASE},
    {"getresgid", G_BASE},
    {"getgroups", G_BASE},
    {"capget", G_BASE},
    {"uname", G_BASE},
    {"sysinfo", G_BASE},
    {"getrlimit", G_BASE},
    {"getrandom", G_BASE},
    {"getcwd", G_BASE},
    {"umask", G_BASE},
    /* files: images (open at blockdev-add, snapshots, -snapshot overlays, bitmaps),
     * screendumps, state files, pidfile and socket paths, chdir of -daemonize */
    {"read", G_BASE},
    {"write", G_BASE},
    {"readv", G_BASE},
    {"writev", G_BASE},
    {"pread64", G_BASE},
    {"pwrite64", G_BASE},
    {"preadv", G_BASE},
    {"pwritev", G_BASE},
    {"preadv2", G_BASE},
    {"pwritev2", G_BASE},
    {"open", G_BASE},
    {"openat", G_BASE},
    {"close", G_BASE},
    {"close_range", G_BASE},
    {"lseek", G_BASE},
    {"fstat", G_BASE},
    {"newfstatat", G_BASE},
    {"stat", G_BASE},
    {"lstat", G_BASE},
    {"statx", G_BASE},
    {"fstatfs", G_BASE},
    {"statfs", G_BASE},
    {"fcntl", G_BASE},
    {"flock", G_BASE},
    {"dup", G_BASE},
    {"dup2", G_BASE},
    {"dup3", G_BASE},
    {"ftruncate", G_BASE},
    {"fallocate", G_BASE},
    {"fsync", G_BASE},
    {"fdatasync", G_BASE},
    {"sync_file_range", G_BASE},
    {"fadvise64", G_BASE},
    {"readahead", G_BASE},
    {"copy_file_range", G_BASE},
    {"sendfile", G_BASE},
    {"splice", G_BASE},
    {"getdents64", G_BASE},
    {"readlink", G_BASE},
    {"readlinkat", G_BASE},
    {"access", G_BASE},
    {"faccessat", G_BASE},
    {"faccessat2", G_BASE},
    {"unlink", G_BASE},
    {"unlinkat", G_BASE},
    {"rename", G_BASE},
    {"renameat", G_BASE},
    {"renameat2", G_BASE},
    {"chmod", G_BASE},
    {"fchmod", G_BASE},
    {"fchmodat", G_BASE},
    {"chdir", G_BASE},
    /* waiting: the event loop, worker wake-ups, pipes */
    {"poll", G_BASE},
    {"ppoll", G_BASE},
    {"select", G_BASE},
    {"pselect6", G_BASE},
    {"epoll_create", G_BASE},
    {"epoll_create1", G_BASE},
    {"epoll_ctl", G_BASE},
    {"epoll_wait", G_BASE},
    {"epoll_pwait", G_BASE},
    {"epoll_pwait2", G_BASE},
    {"eventfd", G_BASE},
    {"eventfd2", G_BASE},
    {"signalfd", G_BASE},
    {"signalfd4", G_BASE},
    {"pipe", G_BASE},
    {"pipe2", G_BASE},
    /* a post-copy destination's userfaultfd (when /dev/userfaultfd is not there) */
    {"userfaultfd", G_BASE},
    /* authz-listfile refresh=on watches its file (object-add after set-up) */
    {"inotify_init1", G_BASE},
    {"inotify_add_watch", G_BASE},
    /* -drive aio=io_uring and its release at exit */
    {"io_uring_setup", G_BASE},
    {"io_uring_enter", G_BASE},
    {"io_uring_register", G_BASE},
    /* sockets: QMP (with SCM_RIGHTS for getfd/add-fd), chardevs, VNC, the NBD server,
     * migration over tcp:/unix:, slirp's host side */
    {"socket", G_BASE},
    {"socketpair", G_BASE},
    {"bind", G_BASE},
    {"listen", G_BASE},
    {"accept", G_BASE},
    {"accept4", G_BASE},
    {"connect", G_BASE},
    {"getsockname", G_BASE},
    {"getpeername", G_BASE},
    {"setsockopt", G_BASE},
    {"getsockopt", G_BASE},
    {"sendto", G_BASE},
    {"recvfrom", G_BASE},
    {"sendmsg", G_BASE},
    {"recvmsg", G_BASE},
    {"sendmmsg", G_BASE},
    {"recvmmsg", G_BASE},
    {"shutdown", G_BASE},
    /* KVM (every vCPU and VM ioctl), tap (TUNSETIFF at hot-plug), terminals (pty
     * chardevs), block device sizes */
    {"ioctl", G_BASE},
    /* QEMU's obsolete group (most do not exist on x86-64) */
    {"_sysctl", G_OBSOLETE},
    {"sysfs", G_OBSOLETE},
    {"uselib", G_OBSOLETE},
    {"ustat", G_OBSOLETE},
    {"create_module", G_OBSOLETE},
    {"get_kernel_syms", G_OBSOLETE},
    {"query_module", G_OBSOLETE},
    /* QEMU's elevateprivileges group */
    {"setuid", G_PRIV},
    {"setgid", G_PRIV},
    {"setpgid", G_PRIV},
    {"setsid", G_PRIV},
    {"setreuid", G_PRIV},
    {"setregid", G_PRIV},
    {"setresuid", G_PRIV},
    {"setresgid", G_PRIV},
    {"setfsuid", G_PRIV},
    {"setfsgid", G_PRIV},
    {"setgroups", G_PRIV},
    /* QEMU's spawn group (migration's exec:CMD), and what the child needs between its
     * execve and its own work (the filter stays on across execve) */
    {"fork", G_SPAWN},
    {"vfork", G_SPAWN},
    {"execve", G_SPAWN},
    {"execveat", G_SPAWN},
    {"wait4", G_SPAWN},
    {"waitid", G_SPAWN},
    {"kill", G_SPAWN},
    {"arch_prctl", G_SPAWN},
    {"prlimit64", G_SPAWN},
    /* QEMU's resourcecontrol group */
    {"setpriority", G_RESOURCE},
    {"sched_setparam", G_RESOURCE},
    {"sched_setscheduler", G_RESOURCE},
    {"sched_setaffinity", G_RESOURCE},
    /* the sanitizer runtimes (test builds): LeakSanitizer stops the threads with
     * ptrace from a helper task at exit, and reads /proc (a denied call there would kill
     * only the helper, which is its own thread group, and leave the exit waiting) */
    {"ptrace", G_SANITIZER},
    {"wait4", G_SANITIZER},
    {"waitid", G_SANITIZER},
    {"prctl", G_SANITIZER},
    {"process_vm_readv", G_SANITIZER},
    {"getdents", G_SANITIZER}, /* its thread lister reads /proc/self/task so */
    {"prlimit64", G_SANITIZER},
    {"kill", G_SANITIZER},
};

/* Names for the SIGSYS handler, resolved before the filter is on: the handler
 * cannot allocate, and a signal handler has no context argument. Set once. */
static char *trap_names[512];

static void on_sigsys(int signo, siginfo_t *info, void *uctx)
{
    (void)signo;
    (void)uctx;
    int nr = info->si_syscall;
    const char *name =
        nr >= 0 && nr < (int)(sizeof(trap_names) / sizeof(trap_names[0])) && trap_names[nr]
            ? trap_names[nr]
            : "?";
    char line[160];
    int n = snprintf(line, sizeof(line),
                     "vireo-vmm: -sandbox: system call %s (%d) is not allowed; terminating\n", name,
                     nr);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
    /* SIGSYS is blocked while this handler runs: the kernel answers a second trap by
     * restoring the default action (core dump) and delivering it. */
    syscall(nr, 0, 0, 0, 0, 0, 0);
    _exit(159); /* not reached */
}

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned nargs,
               const struct scmp_arg_cmp *args, struct verr *err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || nr < 0)
        return 0; /* not a call on this architecture */
    int r = seccomp_rule_add_array(ctx, action, nr, nargs, args);
    if (r < 0)
        return verr_set(err, -r, "-sandbox: cannot add the rule for %s: %s", name, strerror(-r));
    return 0;
}

static int build(scmp_filter_ctx ctx, const struct sandbox_config *cfg, struct verr *err)
{
    bool allowed[G_SANITIZER + 1] = {
        [G_BASE] = true,
        [G_OBSOLETE] = cfg->obsolete_allow,
        [G_PRIV] = cfg->elevate == SANDBOX_ELEVATE_ALLOW,
        [G_SPAWN] = !cfg->spawn_deny,
        [G_RESOURCE] = !cfg->resourcecontrol_deny,
        [G_SANITIZER] = SANDBOX_SANITIZER,
    };
    int r;
    for (size_t i = 0; i < sizeof(allow_list) / sizeof(allow_list[0]); i++) {
        enum group g = allow_list[i].group;
        if (allowed[g]) {
            /* a call in two allowed groups gets one rule */
            bool seen = false;
            for (size_t k = 0; k < i; k++)
                seen |=
                    str_eq(allow_list[k].name, allow_list[i].name) && allowed[allow_list[k].group];
            if (!seen && (r = add(ctx, SCMP_ACT_ALLOW, allow_list[i].name, 0, NULL, err)) < 0)
                return r;
        } else if (g == G_RESOURCE) {
            /* QEMU: EPERM, and SCHED_IDLE stays possible (it only lowers a priority) */
            if (str_eq(allow_list[i].name, "sched_setscheduler")) {
                struct scmp_arg_cmp idle = SCMP_A1(SCMP_CMP_EQ, SCHED_IDLE);
                struct scmp_arg_cmp other = SCMP_A1(SCMP_CMP_NE, SCHED_IDLE);
                if ((r = add(ctx, SCMP_ACT_ALLOW, "sched_setscheduler", 1, &idle, err)) < 0 ||
                    (r = add(ctx, SCMP_ACT_ERRNO(EPERM), "sched_setscheduler", 1, &other, err)) < 0)
                    return r;
            } else if ((r = add(ctx, SCMP_ACT_ERRNO(EPERM), allow_list[i].name, 0, NULL, err)) <
                       0) {
                return r;
            }
        }
        /* other denied groups: the default action (trap, then SIGSYS) */
    }
    /* prctl: naming threads only (the sanitizer builds allow all of it above) */
    if (!SANDBOX_SANITIZER) {
        struct scmp_arg_cmp set_name = SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME);
        struct scmp_arg_cmp get_name = SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME);
        if ((r = add(ctx, SCMP_ACT_ALLOW, "prctl", 1, &set_name, err)) < 0 ||
            (r = add(ctx, SCMP_ACT_ALLOW, "prctl", 1, &get_name, err)) < 0)
            return r;
    }
    /* getrlimit through prlimit64 on ourselves, without spawn=allow */
    if (!allowed[G_SPAWN] && !SANDBOX_SANITIZER) {
        struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, 0);
        struct scmp_arg_cmp get = SCMP_A2(SCMP_CMP_EQ, 0);
        struct scmp_arg_cmp both[2] = {self, get};
        if ((r = add(ctx, SCMP_ACT_ALLOW, "prlimit64", 2, both, err)) < 0)
            return r;
    }
    /* clone: threads always; new processes only with spawn=allow. clone3 hides its
     * flags in memory a filter cannot read, so under spawn=deny it answers ENOSYS and
     * the C library falls back to clone, whose flags are checked. */
    if (allowed[G_SPAWN]) {
        if ((r = add(ctx, SCMP_ACT_ALLOW, "clone", 0, NULL, err)) < 0 ||
            (r = add(ctx, SCMP_ACT_ALLOW, "clone3", 0, NULL, err)) < 0)
            return r;
    } else {
        struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
        if ((r = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread, err)) < 0 ||
            (r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err)) < 0)
            return r;
        if (SANDBOX_SANITIZER) { /* LeakSanitizer's tracer task (CLONE_UNTRACED) */
            struct scmp_arg_cmp tracer =
                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_UNTRACED | CLONE_THREAD, CLONE_UNTRACED);
            if ((r = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &tracer, err)) < 0)
                return r;
        }
    }
    return 0;
}

int sandbox_install(const struct sandbox_config *cfg, struct verr *err)
{
    if (!cfg->enabled)
        return 0;
    /* QEMU sets no_new_privs itself for elevateprivileges=children; libseccomp sets it
     * for every filter (SCMP_FLTATR_CTL_NNP), so it is on in every case. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return verr_errno(err, errno, "-sandbox: failed to set no_new_privs");
    for (int nr = 0; nr < (int)(sizeof(trap_names) / sizeof(trap_names[0])); nr++)
        if (!trap_names[nr])
            trap_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return verr_errno(err, errno, "-sandbox: cannot install the SIGSYS handler");
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return verr_set(err, ENOMEM, "-sandbox: failed to initialize seccomp context");
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r < 0) {
        verr_set(err, -r, "-sandbox: failed to set seccomp thread synchronization: %s",
                 strerror(-r));
        goto out;
    }
    if ((r = build(ctx, cfg, err)) < 0)
        goto out;
    r = seccomp_load(ctx);
    if (r < 0)
        verr_set(err, -r, "-sandbox: failed to install seccomp syscall filter in the kernel: %s",
                 strerror(-r));
out:
    seccomp_release(ctx);
    return r < 0 ? r : 0;
}
