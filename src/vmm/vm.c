/*
 * vm.c - building, running, pausing, resetting and tearing down one VM.
 * See vm.h for the threading rules this file enforces. The devices are the
 * machine's business (machine.c) and the device model's (dev/device.h):
 * nothing here names one.
 */
#include "vmm/vm.h"
#include "vmm/memdev.h"
#include "vmm/display/display.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/machine.h"
#include "vmm/state/migration.h"
#include "vmm/vcpu-hotplug.h"
#include "vmm/memory-hotplug.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *vm_status_name(enum vm_status s)
{
    switch (s) {
    case VM_STATUS_PRELAUNCH:
        return "prelaunch";
    case VM_STATUS_RUNNING:
        return "running";
    case VM_STATUS_PAUSED:
        return "paused";
    case VM_STATUS_SHUTDOWN:
        return "shutdown";
    case VM_STATUS_INTERNAL_ERROR:
        return "internal-error";
    case VM_STATUS_INMIGRATE:
        return "inmigrate";
    case VM_STATUS_FINISH_MIGRATE:
        return "finish-migrate";
    case VM_STATUS_POSTMIGRATE:
        return "postmigrate";
    case VM_STATUS_SAVE_VM:
        return "save-vm";
    case VM_STATUS_RESTORE_VM:
        return "restore-vm";
    }
    return "unknown";
}

static void emit(struct vm *vm, const char *name, bool guest, const char *reason)
{
    if (vm->events.emit)
        vm->events.emit(vm->events.opaque, name, guest, reason);
}

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
    int r = kvm_irq_line(&vm->kvm, gsi, level);
    if (r < 0)
        log_warn("KVM_IRQ_LINE %u: %s", gsi, strerror(-r));
}

static void kick_all_locked(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

static unsigned started_vcpus(const struct vm *vm)
{
    unsigned n = 0;
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        n += vm->vcpus[i].thread_started;
    return n;
}

/* Parked vCPUs, with those a post-copy destination knows wait for a page that will not come
 * (vm->fault_blocked). */
static unsigned parked_locked(struct vm *vm)
{
    return vm->nr_parked + (vm->fault_blocked ? vm->fault_blocked(vm->fault_blocked_opaque) : 0);
}

/* Main thread: sets want_pause and waits until every vCPU thread is parked. */
static void park_all(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->want_pause = true;
    kick_all_locked(vm);
    unsigned n = started_vcpus(vm);
    while (parked_locked(vm) < n)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
}

static void unpark_all(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->want_pause = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

bool vm_vcpu_checkpoint(struct vm *vm, const struct vcpu *vcpu)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->requests & VM_REQUEST_EXIT) {
        /* Final: the thread returns now (counted as parked for park_all()) instead of
         * parking until vm_destroy() wakes it, so the exit does not wait for that. */
        vm->nr_parked++;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    if (vm->want_pause && !vm->threads_exit && !vcpu->leaving) {
        vm->nr_parked++;
        pthread_cond_broadcast(&vm->cond);
        while (vm->want_pause && !vm->threads_exit && !vcpu->leaving)
            pthread_cond_wait(&vm->cond, &vm->lock);
        vm->nr_parked--;
    }
    /* An unplugged vCPU (vcpu-hotplug.c) leaves; it is no longer counted in nr_vcpus. */
    bool run = !vm->threads_exit && !vcpu->leaving;
    pthread_mutex_unlock(&vm->lock);
    return run;
}

/* Reloads the boot image and puts every device and vCPU back to power-on state. */
static int reset_machine(struct vm *vm, struct verr *err)
{
    int r = kvm_reset_irqchip(&vm->kvm, err);
    if (r < 0)
        return r;
    dev_reset_all(vm);
    r = machine_load_boot(vm, err);
    if (r < 0)
        return verr_prefix(err, "reset");
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        r = vcpu_reset(&vm->vcpus[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static void finish(struct vm *vm, int status)
{
    vm->final_status = status;
    loop_quit(vm->loop);
}

static void process_requests(void *opaque)
{
    struct vm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    unsigned req = vm->requests;
    int exit_status = vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    if (req & VM_REQUEST_EXIT) {
        /* No need to wait for the vCPUs to park: vm_destroy() stops and joins them, and
         * the guest's debug-exit or a fatal error should end the process promptly. */
        finish(vm, exit_status);
        return;
    }
    park_all(vm);
    pthread_mutex_lock(&vm->lock);
    req = vm->requests;
    vm->requests = 0;
    vm->request_queued = false;
    exit_status = vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    if (req & VM_REQUEST_EXIT) { /* asked for while the vCPUs were being parked */
        finish(vm, exit_status);
        return;
    }

    if (req & VM_REQUEST_POWEROFF) {
        emit(vm, "SHUTDOWN", true, "guest-shutdown");
        if (vm->cfg->no_shutdown) {
            vm->status = VM_STATUS_SHUTDOWN;
            emit(vm, "STOP", false, NULL);
            return; /* stays parked */
        }
        finish(vm, 0);
        return;
    }
    if (req & VM_REQUEST_RESET) {
        if (vm->cfg->no_reboot) {
            emit(vm, "SHUTDOWN", true, "guest-reset");
            finish(vm, 0);
            return;
        }
        struct verr err = {0};
        if (reset_machine(vm, &err) < 0) {
            log_error("%s", verr_msg(&err));
            finish(vm, 1);
            return;
        }
        emit(vm, "RESET", true, "guest-reset");
    }
    if (vm->status == VM_STATUS_RUNNING)
        unpark_all(vm);
}

void vm_request(struct vm *vm, enum vm_request_kind kind, int exit_status)
{
    pthread_mutex_lock(&vm->lock);
    if ((kind & VM_REQUEST_EXIT) && !(vm->requests & VM_REQUEST_EXIT))
        vm->exit_status = exit_status;
    vm->requests |= kind;
    vm->want_pause = true;
    kick_all_locked(vm);
    if (!vm->request_queued) {
        vm->request_queued = true;
        loop_call_soon(vm->loop, process_requests, vm);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vm_pause(struct vm *vm)
{
    if (vm->status != VM_STATUS_RUNNING)
        return;
    park_all(vm);
    vm->status = VM_STATUS_PAUSED;
    emit(vm, "STOP", false, NULL);
}

void vm_park(struct vm *vm, enum vm_status status)
{
    park_all(vm);
    vm->status_before_park = vm->status;
    vm->status = status;
}

void vm_unpark(struct vm *vm, enum vm_status status)
{
    vm->status = status;
    if (status == VM_STATUS_RUNNING) {
        unpark_all(vm);
        emit(vm, "RESUME", false, NULL);
    }
}

void vm_resume(struct vm *vm)
{
    if (vm->status != VM_STATUS_PAUSED && vm->status != VM_STATUS_PRELAUNCH &&
        vm->status != VM_STATUS_POSTMIGRATE)
        return;
    vm->status = VM_STATUS_RUNNING;
    unpark_all(vm);
    emit(vm, "RESUME", false, NULL);
}

int vm_reset(struct vm *vm, struct verr *err)
{
    if (vm->cfg->no_reboot) {
        park_all(vm);
        emit(vm, "SHUTDOWN", false, "host-qmp-system-reset");
        finish(vm, 0);
        return 0;
    }
    park_all(vm);
    int r = reset_machine(vm, err);
    if (r < 0)
        return r;
    emit(vm, "RESET", false, "host-qmp-system-reset");
    if (vm->status == VM_STATUS_SHUTDOWN) {
        /* After a guest poweroff under -no-shutdown, reset makes the VM runnable again
         * but leaves it paused until "cont", as QEMU does. */
        vm->status = VM_STATUS_PAUSED;
    }
    if (vm->status == VM_STATUS_RUNNING)
        unpark_all(vm);
    return 0;
}

void vm_powerdown(struct vm *vm)
{
    if (vm->power_button)
        vm->power_button(vm->power_button_opaque);
    emit(vm, "POWERDOWN", false, NULL);
}

void vm_qmp_event(struct vm *vm, const char *name, struct json_object *data)
{
    pthread_mutex_lock(&vm->device_events.lock);
    if (vm->device_events.emit)
        vm->device_events.emit(vm->device_events.opaque, name, data);
    else
        json_object_put(data);
    pthread_mutex_unlock(&vm->device_events.lock);
}

void vm_qmp_event_main(struct vm *vm, const char *name, struct json_object *data)
{
    if (vm->events.emit_data)
        vm->events.emit_data(vm->events.opaque, name, data);
    else
        json_object_put(data);
}

void vm_set_device_events(struct vm *vm, void (*fn)(void *, const char *, struct json_object *),
                          void *opaque)
{
    pthread_mutex_lock(&vm->device_events.lock);
    vm->device_events.emit = fn;
    vm->device_events.opaque = opaque;
    pthread_mutex_unlock(&vm->device_events.lock);
}

void vm_quit(struct vm *vm, int status)
{
    emit(vm, "SHUTDOWN", false, "host-qmp-quit");
    migration_quit(vm->migration);
    park_all(vm);
    finish(vm, status);
}

void vm_quit_on_signal(struct vm *vm)
{
    emit(vm, "SHUTDOWN", false, "host-signal");
    migration_quit(vm->migration);
    park_all(vm);
    finish(vm, 0);
}

enum vm_status vm_get_status(struct vm *vm)
{
    return vm->status;
}

void vm_quiesce(struct vm *vm)
{
    park_all(vm);
}

void vm_unquiesce(struct vm *vm)
{
    if (vm->status == VM_STATUS_RUNNING)
        unpark_all(vm);
}

static void serial_quit(void *opaque)
{
    struct vm *vm = opaque;
    log_info("terminated by Ctrl-a x");
    emit(vm, "SHUTDOWN", false, "host-signal");
    migration_quit(vm->migration);
    park_all(vm);
    finish(vm, 0);
}

/* The backends the devices use, then the machine with its devices. */
static int create_devices(struct vm *vm, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    vm->dev_configs = cfg->devices;
    vm->nr_dev_configs = cfg->nr_devices;
    int r = chardev_open_all(&vm->chardevs, cfg->backends.chardevs, cfg->backends.nr_chardevs,
                             vm->loop, err);
    if (r < 0)
        return r;
    if ((r = display_new(&vm->display)) < 0) /* before the devices: a VGA draws on it */
        return verr_set(err, -r, "cannot create the display");
    if (cfg->serial_chardev >= 0) { /* Ctrl-a x on the serial console's stdio quits */
        struct chardev *console = &vm->chardevs.c[cfg->serial_chardev];
        console->quit = serial_quit;
        console->quit_opaque = vm;
    }
    return machine_create(vm, err);
}

/* -cpu's check and enforce (QEMU's wording): a feature the model or a flag asks for and the
 * host's KVM does not offer is left out, with a warning each when asked (check, enforce);
 * enforce refuses to start. */
static int check_cpu_model(struct vm *vm, struct verr *err)
{
    cpu_words got, missing;
    cpuid_model_words(vm->supported_cpuid, &vm->cpu_model, &vm->cfg->cpu_features, got, missing);
    bool any = false;
    for (unsigned w = 0; w < CPU_W_COUNT; w++) {
        for (unsigned b = 0; b < 32; b++) {
            if (!(missing[w] & (1u << b)))
                continue;
            any = true;
            if (!vm->cfg->cpu_check && !vm->cfg->cpu_enforce)
                continue;
            const char *name = cpu_feature_name(w, b);
            log_warn("host doesn't support requested feature: %s%s%s [bit %u]",
                     cpu_word_info(w)->desc, name ? "." : "", name ? name : "", b);
        }
    }
    if (any && vm->cfg->cpu_enforce)
        return verr_set(err, ENOTSUP, "Host doesn't support requested features");
    return 0;
}

int vm_create(struct vm *vm, struct vmm_config *cfg, struct loop *loop, struct verr *err)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->incoming = cfg->incoming != NULL;
    vm->backends = &cfg->backends;
    vm->loop = loop;
    vm->kvm.fd = vm->kvm.vm_fd = -1;
    vm->mem.fd = -1;
    vm->topo = (struct cpu_topology){cfg->sockets, cfg->cores, cfg->threads};
    vm->cpu_model = cfg->cpu_model;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    pthread_mutex_init(&vm->device_events.lock, NULL);
    bus_init(&vm->pio, "port I/O");
    bus_init(&vm->mmio, "MMIO");

    uint64_t t0 = monotonic_ns(), t;
#define PHASE(name)                                                                                \
    do {                                                                                           \
        t = monotonic_ns();                                                                        \
        log_debug("start-up: %s took %.2f ms", name, (double)(t - t0) / 1e6);                      \
        t0 = t;                                                                                    \
    } while (0)
    int r = kvm_open(&vm->kvm, "/dev/kvm", err);
    if (r < 0)
        return r;
    PHASE("opening /dev/kvm");
    if (cfg->max_cpus > vm->kvm.max_vcpus)
        return verr_set(err, EINVAL, "-smp %u: KVM on this host supports at most %u vCPUs",
                        cfg->max_cpus, vm->kvm.max_vcpus);
    /* -overcommit mem-lock=on: as QEMU, everything mapped from now on (guest RAM included)
     * is locked and populated; RLIMIT_MEMLOCK is the caller's to raise. */
    if (cfg->mem_lock && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
        return verr_errno(err, errno, "-overcommit mem-lock=on: locking memory failed");
    if (cfg->mem_lock)
        PHASE("locking memory");
    struct guest_mem_options mo = {cfg->mem_size, cfg->mem_path, cfg->mem_prealloc,
                                   cfg->machine.no_dump, cfg->machine.mem_merge};
    machine_mem_layout(&cfg->machine, &mo.low_max, &mo.low_split, &mo.bios_hole);
    bool memdevs = cfg->numa.nr_nodes || cfg->numa.have_ram_memdev;
    if (memdevs)
        mo.prealloc = false; /* memdev_apply takes the pages, under each node's policy */
    if ((r = guest_mem_create(&vm->mem, &mo, err)) < 0)
        return r;
    if (memdevs && (r = memdev_apply(&vm->mem, &cfg->numa, cfg->mem_prealloc, err)) < 0)
        return r;
    log_debug("guest RAM: host %p-%p", (void *)vm->mem.host, (void *)(vm->mem.host + vm->mem.size));
    PHASE("mapping guest memory");
    if ((r = kvm_create_vm(&vm->kvm, &vm->mem, !cfg->machine.no_pit, err)) < 0)
        return r;
    PHASE("creating the VM with its memory, irqchip and PIT");
    if ((r = memhp_init(vm, err)) < 0) /* before the devices: pc-dimm plugs into it */
        return r;
    if ((r = cpuid_get_supported(vm->kvm.fd, &vm->supported_cpuid, err)) < 0)
        return r;
    if ((r = check_cpu_model(vm, err)) < 0)
        return r;
    for (unsigned i = 0; i < cfg->backends.nr_iothreads; i++)
        if ((r = iothread_set_add(&vm->iothreads, &cfg->backends.iothreads[i], err)) < 0)
            return verr_prefix(err, "-object iothread,id=%s", cfg->backends.iothreads[i].id);
    if ((r = create_devices(vm, err)) < 0)
        return r;
    PHASE("CPUID query and devices");

    /* Every slot up front (-smp maxcpus): a hot-plugged vCPU fills the next one, and the
     * running threads' struct vcpu never moves. */
    vm->vcpus = xcalloc(cfg->max_cpus, sizeof(*vm->vcpus));
    for (unsigned i = 0; i < cfg->max_cpus; i++)
        vm->vcpus[i].fd = -1;
    for (unsigned i = 0; i < cfg->cpus; i++) {
        r = vcpu_create(&vm->vcpus[i], vm, i, err);
        vm->nr_vcpus = i + 1;
        if (r < 0)
            return r;
    }
    if ((r = vcpu_hotplug_init(vm, err)) < 0)
        return r;
    PHASE("creating vCPUs");
    vm->boot_cfg.kernel_path = cfg->kernel;
    vm->boot_cfg.initrd_path = cfg->initrd;
    vm->boot_cfg.cmdline = cfg->append;
    vm->boot_cfg.platform.nr_cpus = cfg->cpus;
    vm->boot_cfg.platform.max_cpus = cfg->max_cpus;
    vm->boot_cfg.platform.gpe0 = (cfg->max_cpus > cfg->cpus || vm->memhp) && vm->acpi_gpe;
    vm->boot_cfg.platform.numa = &cfg->numa;
    vm->boot_cfg.platform.ram_low_end = guest_mem_low_end(&vm->mem);
    vm->boot_cfg.platform.ram_size = cfg->mem_size;
    if (vm->memhp)
        memhp_region(vm, &vm->boot_cfg.platform.memhp_base, &vm->boot_cfg.platform.memhp_size);
    /* PS/2 is described to the guest when there is a display to carry its input. */
    vm->boot_cfg.platform.ps2 = cfg->vnc.enabled || display_has_source(vm->display);
    for (unsigned i = 0; i < cfg->max_cpus; i++)
        vm->boot_cfg.platform.apic_ids[i] = cpu_topology_apic_id(&vm->topo, i);
    /* An incoming VM's RAM comes from the state stream, and must stay all zeros until then
     * (the loader leaves pages the stream does not list alone): the kernel is loaded at the
     * first reset instead. A firmware machine's boot writes no RAM: it fills the fw_cfg
     * items (which the saved VM's firmware may be reading) and the CMOS (the stream's RTC
     * section replaces it), so it is done for an incoming VM too. */
    if ((!cfg->incoming || machine_has_firmware(&cfg->machine)) &&
        (r = machine_load_boot(vm, err)) < 0)
        return r;
    if (cfg->kernel && vm->boot.mode != BOOT_ENTRY_RESET_VECTOR)
        log_debug("kernel '%s' loaded as %s, entry 0x%llx", cfg->kernel,
                  kernel_format_name(vm->boot.format), (unsigned long long)vm->boot.entry);
    PHASE("loading the kernel and tables (or the firmware's items)");
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        if ((r = vcpu_reset(&vm->vcpus[i], err)) < 0)
            return r;
    PHASE("setting vCPU state");
#undef PHASE
    return 0;
}

int vm_start(struct vm *vm, struct verr *err)
{
    vm->status = vm->cfg->start_paused ? VM_STATUS_PRELAUNCH : VM_STATUS_RUNNING;
    vm->want_pause = vm->cfg->start_paused;
    if (vm->cfg->incoming) { /* the state stream decides what the vCPUs run */
        vm->status = VM_STATUS_INMIGRATE;
        vm->want_pause = true;
        vm->autostart = !vm->cfg->start_paused;
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        int r = vcpu_start(&vm->vcpus[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

void vm_destroy(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->threads_exit = true;
    kick_all_locked(vm);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    free(vm->vcpus);
    vm->vcpus = NULL;
    vm->nr_vcpus = 0;
    vcpu_hotplug_destroy(vm);
    memhp_destroy(vm);
    machine_destroy(vm);
    iothread_set_destroy(&vm->iothreads); /* after the devices that ran on them */
    throttle_groups_free(&vm->throttle_groups);
    display_free(vm->display); /* after the devices that draw on it or take its input */
    vm->display = NULL;
    chardev_close_all(&vm->chardevs); /* after their frontends */
    free(vm->supported_cpuid);
    if (vm->cfg)
        memdev_discard(&vm->mem, &vm->cfg->numa);
    guest_mem_destroy(&vm->mem);
    kvm_close(&vm->kvm);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->device_events.lock);
}
