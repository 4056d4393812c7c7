/*
 * test-sandbox.c - what each -sandbox group does to a call, in a child
 * process that installs the real filter: a call outside the allow-list and the
 * denied groups' calls kill with SIGSYS after one line naming the call
 * (elevateprivileges, spawn), resourcecontrol=deny's fail with EPERM, allowed
 * groups' calls run, threads can still be created under spawn=deny; the
 * kernel reports the filter (Seccomp: 2) and no_new_privs. Also the option's
 * parsing (QEMU 7.2's defaults and words).
 */
#include "../tap.h"
#include "vmm/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum probe {
    PROBE_UNLISTED,   /* getpgrp: in no group */
    PROBE_SETUID,     /* setuid(own uid) */
    PROBE_FORK,       /* fork() */
    PROBE_SETPRIO,    /* setpriority(own, same) */
    PROBE_THREAD,     /* pthread_create */
    PROBE_PROC_FIELD, /* reports Seccomp and NoNewPrivs through the exit status */
};

static void *thread_fn(void *arg)
{
    return arg;
}

static int proc_field(const char *name)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strstr(buf, name);
    return p ? atoi(p + strlen(name) + 1) : -1;
}

/* Runs probe in a child under the filter of arg; returns its wait status, the child's
 * stderr in err. */
static int run(const char *arg, enum probe probe, char *err, size_t errlen)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        struct sandbox_config c;
        struct verr e = {0};
        if (sandbox_parse(arg, &c, &e) < 0 || sandbox_install(&c, &e) < 0)
            _exit(100);
        int r = 0;
        pthread_t t;
        switch (probe) {
        case PROBE_UNLISTED:
            r = (int)syscall(SYS_getpgrp);
            break;
        case PROBE_SETUID:
            r = setuid(getuid());
            break;
        case PROBE_FORK: {
            pid_t c2 = fork();
            if (c2 == 0)
                _exit(0);
            r = c2 > 0 ? 0 : -1;
            break;
        }
        case PROBE_SETPRIO:
            r = setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0));
            _exit(r < 0 ? (errno == EPERM ? 42 : 43) : 0);
        case PROBE_THREAD:
            r = pthread_create(&t, NULL, thread_fn, NULL) == 0 ? pthread_join(t, NULL) : -1;
            break;
        case PROBE_PROC_FIELD:
            _exit(proc_field("Seccomp") * 10 + proc_field("NoNewPrivs"));
        }
        _exit(r < 0 ? 1 : 0);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < errlen && (n = read(pfd[0], err + got, errlen - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = 0;
    close(pfd[0]);
    if (got && err[got - 1] == '\n') /* kept out of the TAP line */
        err[got - 1] = 0;
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static bool killed_by_sigsys(int st)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

static bool exited(int st, int code)
{
    return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

int main(void)
{
    char err[512];
    int st;

    /* Parsing: QEMU's defaults (obsolete denied, the rest allowed) and words. */
    struct sandbox_config c;
    struct verr e = {0};
    ok(sandbox_parse("on", &c, &e) == 0 && c.enabled && !c.obsolete_allow &&
           c.elevate == SANDBOX_ELEVATE_ALLOW && !c.spawn_deny && !c.resourcecontrol_deny,
       "-sandbox on: QEMU's defaults");
    ok(sandbox_parse("on,obsolete=allow,elevateprivileges=children,spawn=deny,"
                     "resourcecontrol=deny",
                     &c, &e) == 0 &&
           c.obsolete_allow && c.elevate == SANDBOX_ELEVATE_CHILDREN && c.spawn_deny &&
           c.resourcecontrol_deny,
       "every group parsed");
    ok(sandbox_parse("enable=off,spawn=deny", &c, &e) == 0 && !c.enabled && c.spawn_deny,
       "enable=off: parsed, nothing enabled");
    ok(sandbox_parse("on,spawn=no", &c, &e) < 0 &&
           strcmp(verr_msg(&e), "-sandbox on,spawn=no: invalid argument for spawn") == 0,
       "a bad value: QEMU's words");

    st = run("on", PROBE_PROC_FIELD, err, sizeof(err));
    ok(exited(st, 21), "under the filter /proc says Seccomp: 2, NoNewPrivs: 1 (status %d)",
       WEXITSTATUS(st));
    st = run("off", PROBE_PROC_FIELD, err, sizeof(err));
    ok(exited(st, 0), "-sandbox off: Seccomp: 0, NoNewPrivs: 0 (status %d)", WEXITSTATUS(st));

    st = run("on", PROBE_UNLISTED, err, sizeof(err));
    ok(killed_by_sigsys(st), "a call outside the allow-list kills with SIGSYS");
    ok(strstr(err, "vireo-vmm: -sandbox: system call getpgrp (111) is not allowed; terminating") ==
           err,
       "... after one line naming it: %s", err);

    st = run("on", PROBE_SETUID, err, sizeof(err));
    ok(exited(st, 0), "elevateprivileges=allow (default): setuid runs");
    st = run("on,elevateprivileges=deny", PROBE_SETUID, err, sizeof(err));
    ok(killed_by_sigsys(st) && strstr(err, "system call setuid (105)"),
       "elevateprivileges=deny: setuid kills with SIGSYS, named: %s", err);
    st = run("on,elevateprivileges=children", PROBE_SETUID, err, sizeof(err));
    ok(killed_by_sigsys(st), "elevateprivileges=children: setuid kills with SIGSYS");

    st = run("on", PROBE_FORK, err, sizeof(err));
    ok(exited(st, 0), "spawn=allow (default): fork runs");
    st = run("on,spawn=deny", PROBE_FORK, err, sizeof(err));
    ok(killed_by_sigsys(st) && strstr(err, "system call clone (56)"),
       "spawn=deny: fork kills with SIGSYS, named: %s", err);
    st = run("on,spawn=deny", PROBE_THREAD, err, sizeof(err));
    ok(exited(st, 0), "spawn=deny: threads are still created (clone3 ENOSYS, then clone)");

    st = run("on", PROBE_SETPRIO, err, sizeof(err));
    ok(exited(st, 0), "resourcecontrol=allow (default): setpriority runs");
    st = run("on,resourcecontrol=deny", PROBE_SETPRIO, err, sizeof(err));
    ok(exited(st, 42), "resourcecontrol=deny: setpriority fails with EPERM (status %d)",
       WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    return tap_done();
}
