/*
 * vmlinux-boot: the smallest loader that enters an ELF kernel at its 64-bit
 * e_entry the way Firecracker enters a Linux vmlinux (long mode, identity
 * page tables for the first GiB, %rsi = a Linux zero page with e820 map,
 * command line and initrd). It exists so the test guest's 64-bit entry is
 * tested here, independently of vireo-vmm (QEMU cannot boot an ELF without
 * a PVH note). It takes the QEMU-style options run-guest passes (-m,
 * -kernel, -append, -initrd; -smp and the device/display options are
 * accepted and ignored), emulates only a transmit-only COM1 and the
 * isa-debug-exit port, and exits with (value << 1) | 1 like QEMU does.
 * Not a VMM: no interrupts, one vCPU, no ACPI.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZERO_PAGE   0x7000
#define PML4        0x9000
#define PDPT        0xa000
#define PD          0xb000
#define GDT         0x500
#define CMDLINE     0x20000
#define CMDLINE_MAX 4096
#define BOOT_STACK  0x8ff0

static void die(const char *what)
{
    fprintf(stderr, "vmlinux-boot: %s: %s\n", what, strerror(errno));
    exit(4);
}

static void fail(const char *msg)
{
    fprintf(stderr, "vmlinux-boot: %s\n", msg);
    exit(4);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        die(path);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        fail("out of memory");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            die(path);
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Loads the PT_LOAD segments at their physical addresses; returns e_entry. */
static uint64_t load_elf(uint8_t *ram, uint64_t ram_size, const uint8_t *elf, size_t len)
{
    if (len < 64 || memcmp(elf, "\177ELF", 4) != 0 || elf[4] != 2)
        fail("kernel is not a 64-bit ELF file");
    uint64_t entry, phoff;
    uint16_t phentsize, phnum;
    memcpy(&entry, elf + 24, 8);
    memcpy(&phoff, elf + 32, 8);
    memcpy(&phentsize, elf + 54, 2);
    memcpy(&phnum, elf + 56, 2);
    for (unsigned i = 0; i < phnum; i++) {
        if (phoff + (uint64_t)(i + 1) * phentsize > len || phentsize < 56)
            fail("ELF program headers run past the file");
        const uint8_t *ph = elf + phoff + (uint64_t)i * phentsize;
        uint32_t type;
        uint64_t off, paddr, filesz, memsz;
        memcpy(&type, ph, 4);
        memcpy(&off, ph + 8, 8);
        memcpy(&paddr, ph + 24, 8);
        memcpy(&filesz, ph + 32, 8);
        memcpy(&memsz, ph + 40, 8);
        if (type != 1)
            continue;
        if (filesz > memsz || off > len || filesz > len - off || paddr > ram_size ||
            memsz > ram_size - paddr)
            fail("ELF segment does not fit the file or guest memory");
        memcpy(ram + paddr, elf + off, filesz);
        memset(ram + paddr + filesz, 0, memsz - filesz);
    }
    return entry;
}

static void add_e820(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
    uint8_t n = zp[0x1e8];
    uint8_t *e = zp + 0x2d0 + 20 * n;
    put64(e, addr);
    put64(e + 8, size);
    put32(e + 16, type);
    zp[0x1e8] = (uint8_t)(n + 1);
}

static void setup_long_mode(int vcpu, uint8_t *ram, uint64_t entry)
{
    /* Identity map of the first GiB with 2 MiB pages, as Firecracker does. */
    put64(ram + PML4, PDPT | 3);
    put64(ram + PDPT, PD | 3);
    for (uint64_t i = 0; i < 512; i++)
        put64(ram + PD + 8 * i, (i << 21) | 0x83);
    put64(ram + GDT, 0);
    put64(ram + GDT + 8, 0x00af9b000000ffffull);
    put64(ram + GDT + 16, 0x00cf93000000ffffull);

    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
        die("KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0,
                               .limit = 0xffffffff,
                               .selector = 0x08,
                               .type = 11,
                               .present = 1,
                               .dpl = 0,
                               .db = 0,
                               .s = 1,
                               .l = 1,
                               .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x10;
    data.type = 3;
    data.l = 0;
    data.db = 1;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.gdt.base = GDT;
    s.gdt.limit = 23;
    s.cr3 = PML4;
    s.cr4 = 1u << 5;                    /* PAE */
    s.cr0 = 0x80000000u | 0x10u | 0x1u; /* PG, ET, PE */
    s.efer = (1u << 8) | (1u << 10);    /* LME, LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rip = entry;
    r.rsi = ZERO_PAGE;
    r.rsp = BOOT_STACK;
    r.rflags = 2;
    if (ioctl(vcpu, KVM_SET_REGS, &r) < 0)
        die("KVM_SET_REGS");
}

static void set_cpuid(int kvm, int vcpu)
{
    size_t n = 128;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        fail("out of memory");
    c->nent = (uint32_t)n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0)
        die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, c) < 0)
        die("KVM_SET_CPUID2");
    free(c);
}

int main(int argc, char **argv)
{
    const char *kernel = NULL, *append = "", *initrd = NULL;
    uint64_t mem = 128ull << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-kernel") && v)
            kernel = argv[++i];
        else if (!strcmp(a, "-append") && v)
            append = argv[++i];
        else if (!strcmp(a, "-initrd") && v)
            initrd = argv[++i];
        else if (!strcmp(a, "-m") && v) {
            char *end;
            mem = strtoull(argv[++i], &end, 10) << 20;
            if (*end == 'G')
                mem <<= 10;
        } else if ((!strcmp(a, "-smp") || !strcmp(a, "-serial") || !strcmp(a, "-device")) && v)
            i++;
        else if (strcmp(a, "-nodefaults") && strcmp(a, "-nographic")) {
            fprintf(stderr, "vmlinux-boot: unsupported option '%s'\n", a);
            return 4;
        }
    }
    if (!kernel)
        fail("no -kernel given");
    if (mem < (16ull << 20) || mem > (1ull << 30))
        fail("-m must be between 16M and 1G");
    if (strlen(append) >= CMDLINE_MAX)
        fail("-append is longer than 4095 bytes");

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        die("KVM_SET_TSS_ADDR");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");
    uint8_t *ram = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap guest memory");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = mem, .userspace_addr = (uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");

    size_t klen;
    uint8_t *elf = read_file(kernel, &klen);
    uint64_t entry = load_elf(ram, mem, elf, klen);
    free(elf);

    uint8_t *zp = ram + ZERO_PAGE;
    memset(zp, 0, 4096);
    put16(zp + 0x1fe, 0xaa55);
    memcpy(zp + 0x202, "HdrS", 4);
    put16(zp + 0x206, 0x020f);
    zp[0x210] = 0xff; /* type_of_loader: undefined */
    strcpy((char *)ram + CMDLINE, append);
    put32(zp + 0x228, CMDLINE);
    put32(zp + 0x238, CMDLINE_MAX - 1);
    add_e820(zp, 0, 0x9fc00, 1);
    add_e820(zp, 0x9fc00, 0x400, 2);
    add_e820(zp, 0xf0000, 0x10000, 2);
    add_e820(zp, 0x100000, mem - 0x100000, 1);
    if (initrd) {
        size_t ilen;
        uint8_t *data = read_file(initrd, &ilen);
        if (ilen > mem / 2)
            fail("initrd larger than half the guest memory");
        uint64_t at = (mem - ilen) & ~0xfffull;
        memcpy(ram + at, data, ilen);
        free(data);
        put32(zp + 0x218, (uint32_t)at);
        put32(zp + 0x21c, (uint32_t)ilen);
    }

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < 0)
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    set_cpuid(kvm, vcpu);
    setup_long_mode(vcpu, ram, entry);

    uint8_t lcr = 0; /* the UART's line control: DLAB hides THR */
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            die("KVM_RUN");
        }
        if (run->exit_reason == KVM_EXIT_IO) {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            uint16_t port = run->io.port;
            for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
                if (run->io.direction == KVM_EXIT_IO_OUT) {
                    if (port == 0x3fb)
                        lcr = *data;
                    if (port == 0x3f8 && !(lcr & 0x80) && fwrite(data, 1, 1, stdout) != 1)
                        die("stdout");
                    if (port == 0xf4) {
                        uint32_t v = 0;
                        memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
                        fflush(stdout);
                        return (int)((v << 1) | 1) & 0xff;
                    }
                } else {
                    /* LSR: transmitter empty; everything else floats high. */
                    memset(data, port == 0x3fd ? 0x60 : 0xff, run->io.size);
                }
            }
        } else if (run->exit_reason == KVM_EXIT_MMIO) {
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        } else if (run->exit_reason == KVM_EXIT_HLT) {
            fflush(stdout);
            fail("guest halted without writing to the debug-exit port");
        } else {
            fflush(stdout);
            struct kvm_regs r;
            ioctl(vcpu, KVM_GET_REGS, &r);
            fprintf(stderr, "vmlinux-boot: unexpected exit reason %u at rip 0x%llx\n",
                    run->exit_reason, (unsigned long long)r.rip);
            return 4;
        }
    }
}
