/*
 * floor.c - the least a KVM program must do to run a guest to its first
 * exit: open /dev/kvm, create the VM and its in-kernel irqchip, map guest
 * memory of the requested size, create one vCPU, and run it until the
 * guest's first instruction (an OUT to the debug-exit port) exits to user
 * space. The start-up benchmark compares vireo-vmm and QEMU with this floor.
 * Usage: startup-floor MEM_MIB [pit]. Exits with status 1, as the test guest
 * does through isa-debug-exit, so the runs look alike to the harness.
 *
 * With "pit" it also creates the in-kernel PIT (KVM_CREATE_PIT2), as
 * vireo-vmm and QEMU do by default: the benchmark prints that row to show
 * what the PIT alone costs a bare KVM program, most of it in the final close
 * of the VM (see src/vmm/kvm/release.c). The floor itself stays the plain
 * program: its order (irqchip before memory) and its exit (an ordinary close)
 * are what a minimal KVM program does.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t mem = (argc > 1 ? strtoull(argv[1], NULL, 0) : 128) << 20;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("irqchip");
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (argc > 2 && !strcmp(argv[2], "pit") && ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
        die("KVM_CREATE_PIT2");
    uint8_t *ram =
        mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap");
    struct kvm_userspace_memory_region r = {0, 0, 0, mem, (uint64_t)(uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    /* out %al, $0xf4 at 0x1000, entered in real mode */
    ram[0x1000] = 0xe6;
    ram[0x1001] = 0xf4;
    int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (cpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(cpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(cpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = 0x1000;
    regs.rflags = 2;
    if (ioctl(cpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");
    if (ioctl(cpu, KVM_RUN, 0) < 0)
        die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0xf4) {
        fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
        return 2;
    }
    return 1;
}
