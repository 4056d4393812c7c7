/*
 * vcpu.h - one thread per virtual CPU.
 *
 * A vCPU thread loops on KVM_RUN and handles the exits that come back to
 * user space (port I/O and MMIO through the buses; shutdown, internal errors
 * and system events through vm_request()). To stop it from another thread,
 * vcpu_kick() sets kvm_run.immediate_exit and sends SIGUSR1 (whose handler
 * does nothing): KVM_RUN returns EINTR whether the thread was in the guest or
 * just about to enter it, so a kick is never lost.
 */
#ifndef VIREO_VMM_KVM_VCPU_H
#define VIREO_VMM_KVM_VCPU_H

#include "util/error.h"
#include "util/log.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct vm;

#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu {
    struct vm *vm;
    unsigned index;
    uint32_t apic_id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool cpuid_set;
    pid_t tid;      /* host thread id, for query-cpus-fast */
    char *qom_path; /* a hot-plugged vCPU's ("/machine/peripheral/ID"); NULL otherwise */
    /* Power-on state as KVM created it, for machines that start in firmware at the reset
     * vector (and come back there on reset). */
    struct kvm_sregs reset_sregs;
    struct kvm_regs reset_regs;
    struct kvm_lapic_state reset_lapic;
    struct ratelimit unknown_io_rl;
    /* Set (with a kick) by live migration's auto-converge: sleep this long before entering
     * the guest again (state/precopy.c). */
    uint64_t throttle_ns;
    /* Set under vm->lock by a CPU unplug (vcpu-hotplug.c): the thread returns at its next
     * checkpoint, parked or not, and is joined. */
    bool leaving;
};

/* Installs the no-op SIGUSR1 handler; call once before starting vCPUs. */
int vcpu_setup_kick_signal(struct verr *err);
int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index, struct verr *err);
/* Sets CPUID, MSRs, FPU, LAPIC; registers and segments for the boot vCPU; APs wait for SIPI. */
int vcpu_reset(struct vcpu *vcpu, struct verr *err);
int vcpu_start(struct vcpu *vcpu, struct verr *err);
void vcpu_kick(struct vcpu *vcpu);
/* The vCPU thread's host thread id, waiting for a just-started thread to publish it. */
pid_t vcpu_wait_tid(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

#endif
