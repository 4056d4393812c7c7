/*
 * Tests of kvm_release_fd (src/vmm/kvm/release.c) on real files and a real
 * KVM VM: the descriptor is gone from the process at once, the file behind it
 * is released afterwards by a kernel worker (a pipe's reader sees EOF; a VM
 * with the in-kernel PIT is destroyed, so its "kvm-pit/PID" kernel thread
 * goes away), and with io_uring refused by a seccomp filter the descriptor is
 * closed in place, its file released before the call returns.
 */
#include "../tap.h"
#include "vmm/kvm/release.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SECONDS 20

/* Whether this kernel gives this process an io_uring at all. */
static int io_uring_works(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int ring = (int)syscall(__NR_io_uring_setup, 1, &p);
    if (ring < 0)
        return 0;
    close(ring);
    return 1;
}

/* Whether a kernel thread named "kvm-pit/PID" (the PIT worker of a VM made by PID) exists. */
static int pit_thread_exists(pid_t pid)
{
    char want[32];
    snprintf(want, sizeof(want), "kvm-pit/%d", (int)pid);
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        found = !strcmp(comm, want);
    }
    closedir(d);
    return found;
}

/* Polls until cond(arg) is false, up to WAIT_SECONDS; returns whether it became false. */
static int eventually_gone(int (*cond)(pid_t), pid_t arg)
{
    for (int i = 0; i < WAIT_SECONDS * 100; i++) {
        if (cond(arg) == 0)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_bad_fd(void)
{
    is_int(kvm_release_fd(-1), -EBADF, "a negative descriptor: -EBADF");
    int p[2];
    if (pipe(p) < 0)
        return;
    close(p[0]);
    close(p[1]);
    is_int(kvm_release_fd(p[1]), -EBADF, "a closed descriptor: -EBADF");
}

static void test_pipe(int expect_deferred)
{
    int p[2];
    if (!ok(pipe2(p, O_CLOEXEC) == 0, "pipe"))
        return;
    int r = kvm_release_fd(p[1]);
    is_int(r, expect_deferred, "the write end is released %s",
           expect_deferred ? "by a kernel worker (io_uring available)" : "in place");
    ok(fcntl(p[1], F_GETFD) < 0 && errno == EBADF, "the descriptor is closed in this process");
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int n = poll(&pfd, 1, WAIT_SECONDS * 1000);
    char c;
    ok(n == 1 && read(p[0], &c, 1) == 0,
       "the reader then sees end of file (the file was released)");
    close(p[0]);
}

static void test_vm_with_pit(int expect_deferred)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = kvm >= 0 ? ioctl(kvm, KVM_CREATE_VM, 0) : -1;
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (!ok(vm >= 0 && ioctl(vm, KVM_CREATE_IRQCHIP, 0) == 0 &&
                ioctl(vm, KVM_CREATE_PIT2, &pit) == 0,
            "a VM with an irqchip and the in-kernel PIT")) {
        if (vm >= 0)
            close(vm);
        if (kvm >= 0)
            close(kvm);
        return;
    }
    pid_t self = getpid();
    is_int(pit_thread_exists(self), 1, "its kvm-pit/%d kernel thread runs", (int)self);
    is_int(kvm_release_fd(vm), expect_deferred, "the VM descriptor is released %s",
           expect_deferred ? "by a kernel worker" : "in place");
    ok(fcntl(vm, F_GETFD) < 0 && errno == EBADF, "the VM descriptor is closed in this process");
    ok(eventually_gone(pit_thread_exists, self),
       "KVM then destroys the VM: the PIT's kernel thread is gone");
    close(kvm);
}

/* In a child with io_uring_setup refused (ENOSYS) by seccomp: returns what to report. */
static int fallback_child(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        return 10;
    if (io_uring_works())
        return 11;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return 12;
    if (kvm_release_fd(p[1]) != 0)
        return 13;
    /* Closed in place: the write end's last reference went before the call returned. */
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char c;
    if (poll(&pfd, 1, 0) != 1 || read(p[0], &c, 1) != 0)
        return 14;
    return 0;
}

static void test_fallback(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fallback_child());
    int status = 0;
    ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "with io_uring refused, the descriptor is closed in place and released at once");
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        printf("#   child's step %d failed\n", WEXITSTATUS(status));
}

int main(void)
{
    int deferred = io_uring_works();
    if (!deferred)
        printf("# io_uring is not available here: releases are expected in place\n");
    test_bad_fd();
    test_pipe(deferred);
    if (access("/dev/kvm", R_OK | W_OK) == 0)
        test_vm_with_pit(deferred);
    else
        ok(0, "/dev/kvm is needed for the VM test");
    test_fallback();
    return tap_done();
}
