/*
 * vcpu.c - vCPU creation, initial state and the run loop. See vcpu.h.
 *
 * The initial state follows what each boot protocol promises the kernel:
 * 32-bit flat protected mode with paging off for PVH, or 64-bit long mode
 * with identity-mapped page tables for the Linux 64-bit entry (segments from
 * the GDT that loader.c writes at LAYOUT_GDT). MSRs are set as Linux expects
 * from firmware (fast strings on, MTRRs enabled with write-back default), and
 * each local APIC gets LINT0 = ExtINT (the 8259 path) and LINT1 = NMI.
 */
#include "vmm/kvm/vcpu.h"
#include "vmm/kvm/cpu-features.h"
#include "vmm/kvm/emulate.h"
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MSR_IA32_TSC            0x10
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MISC_ENABLE_FAST_STRING 1ull
#define APIC_LVT_LINT0          0x350
#define APIC_LVT_LINT1          0x360
#define APIC_MODE_NMI           0x4
#define APIC_MODE_EXTINT        0x7

static void kick_handler(int sig)
{
    (void)sig;
}

int vcpu_setup_kick_signal(struct verr *err)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
        return verr_errno(err, errno, "sigaction(SIGUSR1)");
    return 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index, struct verr *err)
{
    memset(vcpu, 0, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->index = index;
    vcpu->apic_id = cpu_topology_apic_id(&vm->topo, index);
    vcpu->unknown_io_rl = (struct ratelimit)RATELIMIT_INIT(1000, 10);
    vcpu->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long)vcpu->apic_id);
    if (vcpu->fd < 0)
        return verr_errno(err, errno, "KVM_CREATE_VCPU %u", index);
    vcpu->run = mmap(NULL, vm->kvm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
    if (vcpu->run == MAP_FAILED) {
        vcpu->run = NULL;
        return verr_errno(err, errno, "mmap of vCPU %u's kvm_run", index);
    }
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &vcpu->reset_sregs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_REGS, &vcpu->reset_regs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_LAPIC, &vcpu->reset_lapic) < 0)
        return verr_errno(err, errno, "vCPU %u: reading its power-on state", index);
    return 0;
}

static void set_lvt(uint8_t *regs, unsigned offset, unsigned mode)
{
    uint32_t v;
    memcpy(&v, regs + offset, 4);
    v = (v & ~0x700u) | (mode << 8);
    memcpy(regs + offset, &v, 4);
}

static int setup_lapic(struct vcpu *vcpu, struct verr *err)
{
    struct kvm_lapic_state lapic;
    if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
        return verr_errno(err, errno, "KVM_GET_LAPIC");
    set_lvt((uint8_t *)lapic.regs, APIC_LVT_LINT0, APIC_MODE_EXTINT);
    set_lvt((uint8_t *)lapic.regs, APIC_LVT_LINT1, APIC_MODE_NMI);
    if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
        return verr_errno(err, errno, "KVM_SET_LAPIC");
    return 0;
}

/* KVM's paravirtual MSRs, off at reset: a kvmclock or steal-time area left enabled would
 * keep being written into guest RAM by the host after the guest that set it up is gone. */
static void reset_pv_msrs(struct vcpu *vcpu)
{
    static const uint32_t pv[] = {0x11,       0x12,       0x4b564d00, 0x4b564d01,
                                  0x4b564d02, 0x4b564d03, 0x4b564d04};
    for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++) {
        /* struct kvm_msrs ends in a flexible array: one entry after it, suitably aligned */
        uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) / 8 + 1] = {0};
        struct kvm_msrs *m = (struct kvm_msrs *)buf;
        m->nmsrs = 1;
        m->entries[0].index = pv[i];
        (void)ioctl(vcpu->fd, KVM_SET_MSRS, m); /* absent from this CPUID: nothing to clear */
    }
}

static int setup_msrs(struct vcpu *vcpu, bool firmware, struct verr *err)
{
    static const struct {
        uint32_t index;
        uint64_t value;
    } msrs[] = {
        {MSR_IA32_SYSENTER_CS, 0},
        {MSR_IA32_SYSENTER_ESP, 0},
        {MSR_IA32_SYSENTER_EIP, 0},
        {MSR_STAR, 0},
        {MSR_CSTAR, 0},
        {MSR_KERNEL_GS_BASE, 0},
        {MSR_SYSCALL_MASK, 0},
        {MSR_LSTAR, 0},
        {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
        {MSR_MTRR_DEF_TYPE, (1u << 11) | 6}, /* MTRRs enabled, default write-back */
    };
    size_t n = sizeof(msrs) / sizeof(msrs[0]);
    struct kvm_msrs *m = xcalloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
    m->nmsrs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        m->entries[i].index = msrs[i].index;
        m->entries[i].data = msrs[i].value;
        /* Firmware sets up the MTRRs itself; at power-on they are off. */
        if (firmware && msrs[i].index == MSR_MTRR_DEF_TYPE)
            m->entries[i].data = 0;
    }
    int r = ioctl(vcpu->fd, KVM_SET_MSRS, m);
    free(m);
    if (r < 0)
        return verr_errno(err, errno, "KVM_SET_MSRS");
    if ((size_t)r != n)
        log_debug("vCPU %u: KVM accepted %d of %zu MSRs (MSR 0x%x refused)", vcpu->index, r, n,
                  msrs[r].index);
    return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool long_code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = selector;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = long_code;
    s->db = !long_code;
}

static int setup_boot_registers(struct vcpu *vcpu, struct verr *err)
{
    const struct boot_state *bs = &vcpu->vm->boot;
    struct kvm_sregs sregs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
        return verr_errno(err, errno, "KVM_GET_SREGS");
    bool long_mode = bs->mode == BOOT_ENTRY_LONG64;
    if (long_mode)
        flat_segment(&sregs.cs, 0x10, 0xb, true); /* __BOOT_CS */
    else
        flat_segment(&sregs.cs, 0x08, 0xb, false);
    flat_segment(&sregs.ds, 0x18, 0x3, false); /* __BOOT_DS */
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    memset(&sregs.tr, 0, sizeof(sregs.tr));
    sregs.tr.selector = 0x20;
    sregs.tr.limit = 0x67;
    sregs.tr.type = 0xb; /* busy 32/64-bit TSS */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof(sregs.ldt));
    sregs.ldt.type = 0x2;
    sregs.ldt.present = 1;
    sregs.ldt.limit = 0xffff;
    sregs.gdt.base = LAYOUT_GDT;
    sregs.gdt.limit = 5 * 8 - 1;
    sregs.idt.base = LAYOUT_IDT;
    sregs.idt.limit = 0;
    if (long_mode) {
        sregs.cr3 = LAYOUT_PML4;
        sregs.cr4 = 1u << 5;                            /* PAE */
        sregs.cr0 = (1u << 0) | (1u << 4) | (1u << 31); /* PE, ET, PG */
        sregs.efer = (1u << 8) | (1u << 10);            /* LME, LMA */
    } else {
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.cr0 = (1u << 0) | (1u << 4); /* PE, ET */
        sregs.efer = 0;
    }
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
        return verr_errno(err, errno, "KVM_SET_SREGS");

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    regs.rip = bs->entry;
    regs.rsp = regs.rbp = 0x8ff0;
    if (long_mode)
        regs.rsi = bs->info_addr;
    else
        regs.rbx = bs->info_addr;
    if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
        return verr_errno(err, errno, "KVM_SET_REGS");
    return 0;
}

int vcpu_reset(struct vcpu *vcpu, struct verr *err)
{
    struct vm *vm = vcpu->vm;
    int r;
    /* CPUID is set once: KVM refuses to change it after the vCPU has run, and a reset
     * does not change the CPU model. */
    if (!vcpu->cpuid_set) {
        struct kvm_cpuid2 *c = cpuid_for_vcpu(vm->supported_cpuid, &vm->cpu_model,
                                              &vm->cfg->cpu_features, &vm->topo, vcpu->index);
        r = ioctl(vcpu->fd, KVM_SET_CPUID2, c);
        free(c);
        if (r < 0)
            return verr_errno(err, errno, "KVM_SET_CPUID2 on vCPU %u", vcpu->index);
        vcpu->cpuid_set = true;
    }
    bool firmware = vm->boot.mode == BOOT_ENTRY_RESET_VECTOR;
    struct kvm_mp_state mp = {vcpu->index == 0 ? KVM_MP_STATE_RUNNABLE
                                               : KVM_MP_STATE_UNINITIALIZED};
    if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
        return verr_errno(err, errno, "KVM_SET_MP_STATE on vCPU %u", vcpu->index);
    reset_pv_msrs(vcpu);
    if ((r = setup_msrs(vcpu, firmware, err)) < 0)
        return verr_prefix(err, "vCPU %u", vcpu->index);
    if (firmware) {
        /* The power-on state: real mode at F000:FFF0 (the BSP), LAPIC as KVM made it. */
        if (ioctl(vcpu->fd, KVM_SET_LAPIC, &vcpu->reset_lapic) < 0)
            return verr_errno(err, errno, "KVM_SET_LAPIC on vCPU %u", vcpu->index);
        if (ioctl(vcpu->fd, KVM_SET_SREGS, &vcpu->reset_sregs) < 0 ||
            ioctl(vcpu->fd, KVM_SET_REGS, &vcpu->reset_regs) < 0)
            return verr_errno(err, errno, "vCPU %u: restoring its power-on registers", vcpu->index);
    } else if ((r = setup_lapic(vcpu, err)) < 0) {
        return verr_prefix(err, "vCPU %u", vcpu->index);
    }
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
        return verr_errno(err, errno, "KVM_SET_FPU on vCPU %u", vcpu->index);
    if (vcpu->index == 0 && !firmware)
        return setup_boot_registers(vcpu, err);
    return 0;
}

/* The byte at guest physical address gpa: RAM, or a ROM/flash slot (firmware runs from
 * there); false when nothing is mapped. */
static bool guest_byte(struct vm *vm, uint64_t gpa, uint8_t *out)
{
    const uint8_t *b = guest_mem_ptr(&vm->mem, gpa, 1);
    if (b) {
        *out = *b;
        return true;
    }
    bool found = false;
    pthread_mutex_lock(&vm->kvm.slot_lock);
    for (unsigned s = 0; s < 64 && !found; s++) {
        const struct kvm_slot_rec *r = &vm->kvm.slot_rec[s];
        if (r->host && r->size && gpa >= r->gpa && gpa - r->gpa < r->size) {
            *out = r->host[gpa - r->gpa];
            found = true;
        }
    }
    pthread_mutex_unlock(&vm->kvm.slot_lock);
    return found;
}

/* Prints the exit reason, RIP and the instruction bytes there: one line. */
static void report_guest_failure(struct vcpu *vcpu, const char *what)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    char code[16 * 3 + 1] = "";
    if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
        log_error("guest stopped: %s on vCPU %u (registers unavailable)", what, vcpu->index);
        return;
    }
    struct kvm_translation tr = {.linear_address = sregs.cs.base + regs.rip};
    if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
        size_t len = 0;
        for (unsigned i = 0; i < 15; i++) {
            uint8_t b;
            if (!guest_byte(vcpu->vm, tr.physical_address + i, &b))
                break;
            len += (size_t)snprintf(code + len, sizeof(code) - len, "%s%02x", i ? " " : "", b);
        }
    }
    log_error("guest stopped: %s on vCPU %u at RIP 0x%llx (CS 0x%x, CR0 0x%llx), code: %s", what,
              vcpu->index, (unsigned long long)regs.rip, sregs.cs.selector,
              (unsigned long long)sregs.cr0, code[0] ? code : "unreadable");
}

static void handle_io(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        bool claimed;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            claimed = bus_write(&vcpu->vm->pio, run->io.port, data, run->io.size);
        } else {
            claimed = bus_read(&vcpu->vm->pio, run->io.port, data, run->io.size);
            if (!claimed)
                memset(data, 0xff, run->io.size);
        }
        if (!claimed && log_get_level() >= LOG_DEBUG &&
            ratelimit_allow(&vcpu->unknown_io_rl, monotonic_ns()))
            log_debug("vCPU %u: %s of %u bytes at unclaimed port 0x%x", vcpu->index,
                      run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read", run->io.size,
                      run->io.port);
    }
}

static void handle_mmio(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;
    bool claimed;
    if (run->mmio.is_write) {
        claimed = bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
    } else {
        claimed = bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
        if (!claimed)
            memset(run->mmio.data, 0xff, len);
    }
    if (!claimed && log_get_level() >= LOG_DEBUG &&
        ratelimit_allow(&vcpu->unknown_io_rl, monotonic_ns()))
        log_debug("vCPU %u: MMIO %s of %u bytes at unclaimed 0x%llx", vcpu->index,
                  run->mmio.is_write ? "write" : "read", len,
                  (unsigned long long)run->mmio.phys_addr);
}

static const char *internal_suberror(uint32_t s)
{
    switch (s) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        return "event delivery failure";
    default:
        return "unknown";
    }
}

/* Handles one exit; returns false when the vCPU must stop running the guest. */
static bool handle_exit(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    struct vm *vm = vcpu->vm;
    char what[160];
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(vcpu);
        return true;
    case KVM_EXIT_MMIO:
        handle_mmio(vcpu);
        return true;
    case KVM_EXIT_HLT:
        /* With the in-kernel LAPIC, HLT is handled by KVM; tolerate it anyway. */
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        report_guest_failure(vcpu, "KVM_EXIT_SHUTDOWN (triple fault)");
        vm_request(vm, VM_REQUEST_EXIT, 1);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        if (emulate_complete(vcpu)) /* int3/fwait KVM's emulator lacks (emulate.h) */
            return true;
        snprintf(what, sizeof(what), "KVM_EXIT_INTERNAL_ERROR, suberror %u (%s)",
                 run->internal.suberror, internal_suberror(run->internal.suberror));
        report_guest_failure(vcpu, what);
        vm_request(vm, VM_REQUEST_EXIT, 1);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(what, sizeof(what), "KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        report_guest_failure(vcpu, what);
        vm_request(vm, VM_REQUEST_EXIT, 1);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            vm_request(vm, VM_REQUEST_POWEROFF, 0);
            return false;
        case KVM_SYSTEM_EVENT_RESET:
            vm_request(vm, VM_REQUEST_RESET, 0);
            return false;
        default:
            snprintf(what, sizeof(what), "KVM_EXIT_SYSTEM_EVENT type %u", run->system_event.type);
            report_guest_failure(vcpu, what);
            vm_request(vm, VM_REQUEST_EXIT, 1);
            return false;
        }
    default:
        snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
        report_guest_failure(vcpu, what);
        vm_request(vm, VM_REQUEST_EXIT, 1);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    struct vm *vm = vcpu->vm;
    /* Published under the lock: query-cpus-fast waits for it (vcpu_wait_tid). */
    pthread_mutex_lock(&vm->lock);
    vcpu->tid = (pid_t)syscall(SYS_gettid);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) {
        /* Clear before checking: a kick after the check sets it again (see vm.c). */
        vcpu->run->immediate_exit = 0;
        uint64_t throttle = __atomic_exchange_n(&vcpu->throttle_ns, 0, __ATOMIC_ACQ_REL);
        if (throttle) {
            struct timespec ts = {(time_t)(throttle / 1000000000u), (long)(throttle % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        if (!vm_vcpu_checkpoint(vm, vcpu))
            break;
        int r = ioctl(vcpu->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            log_error("vCPU %u: KVM_RUN: %s", vcpu->index, strerror(errno));
            vm_request(vm, VM_REQUEST_EXIT, 1);
            continue;
        }
        handle_exit(vcpu);
    }
    return NULL;
}

int vcpu_start(struct vcpu *vcpu, struct verr *err)
{
    int r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
    if (r != 0)
        return verr_errno(err, r, "cannot start the thread of vCPU %u", vcpu->index);
    vcpu->thread_started = true;
    char name[16];
    snprintf(name, sizeof(name), "CPU %u/KVM", vcpu->index);
    pthread_setname_np(vcpu->thread, name);
    return 0;
}

pid_t vcpu_wait_tid(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    pthread_mutex_lock(&vm->lock);
    while (vcpu->thread_started && vcpu->tid == 0)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pid_t tid = vcpu->tid;
    pthread_mutex_unlock(&vm->lock);
    return tid;
}

void vcpu_kick(struct vcpu *vcpu)
{
    if (vcpu->run)
        __atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (vcpu->thread_started)
        pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *vcpu)
{
    if (vcpu->thread_started)
        pthread_join(vcpu->thread, NULL);
    vcpu->thread_started = false;
    if (vcpu->run)
        munmap(vcpu->run, vcpu->vm->kvm.run_size);
    if (vcpu->fd > 0)
        close(vcpu->fd);
    vcpu->run = NULL;
    vcpu->fd = -1;
    free(vcpu->qom_path);
    vcpu->qom_path = NULL;
}
