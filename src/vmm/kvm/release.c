/*
 * release.c - closing the VM file descriptor without waiting for KVM's
 * teardown of the VM. See release.h.
 *
 * Why. The last close of a VM file runs kvm_destroy_vm() in the closing
 * thread, and that waits for SRCU grace periods. The in-kernel PIT's
 * destruction (kvm_free_pit) is the expensive part: it takes the PIT's ack and
 * mask notifiers off the IRQ routing with two back-to-back
 * synchronize_srcu(&kvm->irq_srcu) calls, and the second falls within SRCU's
 * 25 us expedite hold-off after the first, so it is not expedited: it waits
 * for a normal grace period, which advances on timer ticks (HZ=250 here, 4 ms
 * a tick); stopping the PIT's kernel worker thread adds a scheduling round
 * trip. Measured with strace -T on this machine (nested KVM, 2 CPUs, loaded),
 * 12 runs each: the close took 13.5-26.8 ms in vireo-vmm with the PIT and
 * 0.15-3.0 ms with -M microvm,pit=off; a bare KVM program (VM, irqchip,
 * memory, one vCPU run to its first exit) 0.1-4.9 ms, and 15-32 ms once it
 * also creates the PIT. So nothing else in vireo-vmm's set-up (CPUID, MSRs,
 * LAPIC, MP and FPU state, GSI routing, reading back the irqchip and PIT
 * state, the guest's own work, the vCPU thread) slows the teardown: the PIT
 * alone does. perf's sched_switch stacks put the time in kvm_free_pit ->
 * kvm_pit_set_reinject -> __synchronize_srcu, woken by a timer-driven
 * process_srcu. This is generic KVM and SRCU behaviour, not specific to
 * nested (PVM) hosts; a host with a higher HZ pays proportionally less.
 *
 * How. When the last reference to a file is dropped by a kernel thread, the
 * kernel defers its release to a worker (delayed fput) instead of running it
 * in the dropping task. An io_uring's registered-file table holds a reference
 * of its own, and the ring's teardown runs in a kernel worker: so the VM
 * descriptor is registered in a one-entry ring, closed, and the ring closed.
 * The VM is then destroyed in a worker a tick or so later, and this
 * process goes on (and exits) without waiting: its exit status, output and
 * the parent's wait are not held by the teardown.
 *
 * Rejected: turning PIT reinjection off (KVM_REINJECT_CONTROL) at creation
 * moves the same two grace periods to start-up and changes the lost-tick
 * policy from QEMU's default; a forked child holding the descriptor inherits
 * standard output and error until it closes them (a reader waiting for end of
 * file waits for it too) and stays a zombie where PID 1 does not reap (as on
 * this machine).
 *
 * What may still exist after the process has exited is only the kernel's VM
 * object (its memory, the PIT's kernel thread, references to irqfd and
 * ioeventfd eventfd contexts). KVM holds no reference to guest memory's
 * mappings (only to the mm_struct, not its address space), so the mappings and
 * any file behind them go when the process's address space does; disk images
 * and sockets are closed by the VM's devices before this is called. If
 * io_uring is unavailable (an old kernel, io_uring_disabled, a seccomp
 * filter), the descriptor is closed in place, as before.
 */
#include "vmm/kvm/release.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int kvm_release_fd(int fd)
{
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return -EBADF;
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_register)
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    int ring = (int)syscall(__NR_io_uring_setup, 1, &params); /* O_CLOEXEC by the kernel */
    if (ring >= 0) {
        long r = syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES, &fd, 1);
        /* With r == 0 the ring's table holds the last reference after this close... */
        close(fd);
        /* ...and closing the ring queues its teardown (which drops it) to a kernel worker. */
        close(ring);
        return r == 0 ? 1 : 0;
    }
#endif
    close(fd);
    return 0;
}
