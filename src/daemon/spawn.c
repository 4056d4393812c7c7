/*
 * spawn.c - starting a vireo-vmm process with posix_spawn.
 *
 * vireod's start latency budget is a few milliseconds, and fork() copies
 * the daemon's page tables (and, once dlife's worker threads exist, forks
 * a multi-threaded process, where only async-signal-safe calls are allowed
 * before exec). glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK):
 * no copy, and the exec error comes back to the caller instead of a child
 * that must report it through the log. The child gets /dev/null as stdin,
 * the domain's log as stdout and stderr, an empty signal mask, default
 * signal dispositions and its own session (vireo-vmm then daemonizes).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "util/error.h"
#include "util/file.h"

extern char **environ;

int vd_spawn(char **argv, int logfd, pid_t *pid, struct verr *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logfd, 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
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
