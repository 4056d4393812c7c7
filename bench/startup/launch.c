/*
 * launch.c - runs one command and prints "WALL_MS MAXRSS_KIB STATUS CPU_MS
 * SWITCHES": wall time from just before fork to wait4's return, and from
 * wait4's rusage the child's peak RSS, its CPU time (user + system, all its
 * threads) and its context switches (voluntary + involuntary). CPU time and
 * switches vary much less than wall time on a loaded machine: each switch is
 * a point where a busy CPU can keep the program waiting. A small C parent keeps the measurement
 * honest: a child forked from a large process (Python) would report the parent's resident pages as
 * its own peak RSS until it execs.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: startup-launch PROGRAM [ARGS...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
        perror("startup-launch");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("%.3f %ld %d %.3f %ld\n", ms, ru.ru_maxrss,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128, cpu_ms, ru.ru_nvcsw + ru.ru_nivcsw);
    return 0;
}
