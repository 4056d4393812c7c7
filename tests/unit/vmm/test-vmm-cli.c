/* Unit tests for vireo-vmm's command line (src/vmm/cli.c): QEMU spellings accepted with
 * their meaning, bad ones refused with one line naming the option, --help, -device help and
 * -device DRIVER,help as golden files; -M sub-options honoured or refused; -device parsed
 * through the device model (addr= forms, the machine's built-in devices). */
#include "../tap.h"
#include "devcfg-test.h"
#include "util/buf.h"
#include "util/file.h"
#include "vmm/boot/acpi-hmat.h"
#include "vmm/boot/bytes.h"
#include "vmm/cli.h"

#include <errno.h>

#define ARGV(...)            ((char *[]){"vireo-vmm", __VA_ARGS__, NULL})
#define ARGC(...)            ((int)(sizeof((char *[]){"vireo-vmm", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, err)

static void refused(const char *want, int r, const struct verr *err, const char *what)
{
    ok(r < 0 && strstr(verr_msg(err), want) != NULL, "%s is refused: %s", what, verr_msg(err));
}

/* text equals the golden file dir/name. */
static void golden(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct buf g;
    struct verr err = {0};
    buf_init(&g);
    if (file_read_all(path, 1 << 16, &g, &err) == 0)
        is_str(text, buf_cstr(&g), "output matches golden/%s", name);
    else
        ok(0, "read golden/%s: %s", name, verr_msg(&err));
    buf_free(&g);
}

/* -M microvm sub-options: each honoured or refused with words. */
static void test_machine(void)
{
    struct vmm_config c;
    struct verr err = {0};
    int r = PARSE(&c, &err, "-M", "microvm,acpi=on,pcie=on", "-kernel", "k");
    ok(r == 0 && !c.machine.no_pit && !c.machine.no_dump && !c.machine.mem_merge,
       "-M microvm,acpi=on,pcie=on (vireod's) is accepted, defaults kept");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-M",
              "microvm,acpi=auto,pic=on,rtc=on,pcie=auto,isa-serial=on,ioapic2=off,usb=off,"
              "graphics=off,x-option-roms=off,auto-kernel-cmdline=off",
              "-kernel", "k");
    ok(r == 0, "every sub-option with the value that describes vireo-vmm is accepted (%s)",
       r ? verr_msg(&err) : "ok");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-M", "microvm,dump-guest-core=off,mem-merge=on", "-kernel", "k");
    ok(r == 0 && c.machine.no_dump && c.machine.mem_merge,
       "dump-guest-core=off and mem-merge=on are kept for guest RAM");
    cli_config_free(&c);
    static const char *const refusals[][2] = {
        {"microvm,usb=on", "usb=on: vireo-vmm's microvm has no built-in USB controller (add "
                           "-device qemu-xhci)"},
        {"microvm,graphics=on", "graphics=on: vireo-vmm has no display"},
        {"microvm,pcie=off", "pcie=off: "},
        {"microvm,acpi=off", "acpi=off: "},
        {"microvm,pic=off", "pic=off: "},
        {"microvm,rtc=off", "rtc=off: "},
        {"microvm,isa-serial=off", "isa-serial=off: "},
        {"microvm,ioapic2=on", "ioapic2=on: "},
        {"microvm,x-option-roms=on", "x-option-roms=on: "},
        {"microvm,usb=auto", "usb must be on or off"},
        {"microvm,acpi=maybe", "acpi must be on, off or auto"},
        {"microvm,mem-merge=auto", "mem-merge must be on or off"},
    };
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        r = PARSE(&c, &err, "-M", (char *)refusals[i][0], "-kernel", "k");
        refused(refusals[i][1], r, &err, refusals[i][0]);
        cli_config_free(&c);
    }
}

/* -object memory-backend-*, -numa: what each spelling sets, and the guest ranges. */
static void test_numa(void)
{
    struct vmm_config c;
    struct verr err = {0};
    int r = PARSE(&c, &err, "-m", "256M", "-smp", "4", "-kernel", "k", "-object",
                  "memory-backend-ram,id=a,size=128M,policy=bind,host-nodes=0-1,prealloc=on",
                  "-object", "memory-backend-file,id=b,size=128M,mem-path=/dev/shm,share=on",
                  "-numa", "node,memdev=a,cpus=0,cpus=2", "-numa", "node,nodeid=1,memdev=b",
                  "-numa", "cpu,node-id=1,core-id=3", "-numa", "dist,src=1,dst=0,val=30");
    const struct numa_config *n = &c.numa;
    ok(r == 0 && n->nr_nodes == 2 && n->nr_memdevs == 2, "two backends and two nodes (%s)",
       r ? verr_msg(&err) : "ok");
    if (r == 0) {
        const struct memdev_spec *a = &n->memdevs[0], *b = &n->memdevs[1];
        ok(a->policy == MEMDEV_POLICY_BIND && a->host_nodes == 3 && a->prealloc && !a->file,
           "backend a: bind to host nodes 0-1, prealloc");
        ok(b->file && b->share && !strcmp(b->mem_path, "/dev/shm") && b->node == 1,
           "backend b: a shared file in /dev/shm, node 1's");
        ok(n->cpu_node[0] == 0 && n->cpu_node[1] == 0 && n->cpu_node[2] == 0 && n->cpu_node[3] == 1,
           "vCPUs 0 and 2 by cpus=, 3 by -numa cpu, 1 on node 0 by default");
        ok(n->distance[0][1] == 30 && n->distance[1][0] == 30 && n->distance[0][0] == 10,
           "a distance given one way is both ways; 10 to self");
    }
    cli_config_free(&c);

    /* 4 GiB in two nodes on microvm's layout (RAM below 4 GiB stops at 3 GiB): node 1
     * straddles the hole */
    struct numa_config nc = {.nr_nodes = 2, .node_mem = {2ull << 30, 2ull << 30}};
    uint64_t base[3], len[3];
    unsigned k = numa_node_ranges(&nc, 0, 3ull << 30, base, len);
    ok(k == 2 && base[0] == 0 && len[0] == 0xa0000 && base[1] == 0x100000 &&
           len[1] == (2ull << 30) - 0x100000,
       "node 0: below 640 KiB and from 1 MiB to 2 GiB");
    k = numa_node_ranges(&nc, 1, 3ull << 30, base, len);
    ok(k == 2 && base[0] == 2ull << 30 && len[0] == 1ull << 30 && base[1] == 4ull << 30 &&
           len[1] == 1ull << 30,
       "node 1: 2-3 GiB and 4-5 GiB, around the PCI hole");

    static const char *const bad[][3] = {
        {"-numa", "node,mem=64M", "Parameter -numa node,mem is not supported"},
        {"-object", "memory-backend-ram,id=x,size=128M,policy=bind",
         "host-nodes must be set for policy bind"},
        {"-object", "memory-backend-ram,id=x,size=128M,host-nodes=0",
         "host-nodes must be empty for policy default"},
        {"-object", "memory-backend-ram,id=x,size=128M,reserve=off", "Property"},
        {"-object", "memory-backend-file,id=x,size=128M", "mem-path property not set"},
        {"-object", "memory-backend-ram,id=x,size=128M", "is not used"},
        {"-numa", "dist,src=0,dst=0,val=10", "Source/Destination NUMA node is missing"},
        {"-numa", "node,cpus=0-7", "CPU index (1) should be smaller than maxcpus (1)"},
        {"-numa", "cpu,node-id=0", "Invalid node-id=0, NUMA node must be created first"},
        {"-numa", "hmat-lb,initiator=0", "enable it with -machine hmat=on"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = PARSE(&c, &err, "-kernel", "k", (char *)bad[i][0], (char *)bad[i][1]);
        refused(bad[i][2], r, &err, bad[i][1]);
        cli_config_free(&c);
    }
    r = PARSE(&c, &err, "-kernel", "k", "-object", "memory-backend-ram,id=x,size=64M", "-numa",
              "node,memdev=x");
    refused("total memory for NUMA nodes (0x4000000) should equal RAM size (0x8000000)", r, &err,
            "nodes short of -m");
    cli_config_free(&c);
}

/* -M hmat=on with libvirt's example: the HMAT's bytes (ACPI 6.3 5.2.27, QEMU 7.2's layout and
 * base units). */
static void test_hmat(void)
{
    struct vmm_config c;
    struct verr err = {0};
    int r = PARSE(&c, &err, "-M", "pc,hmat=on", "-smp", "2", "-kernel", "k", "-object",
                  "memory-backend-ram,id=a,size=64M", "-object", "memory-backend-ram,id=b,size=64M",
                  "-numa", "node,cpus=0,initiator=0,memdev=a", "-numa", "node,initiator=0,memdev=b",
                  "-numa",
                  "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,"
                  "latency=5",
                  "-numa",
                  "hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-latency,"
                  "latency=10",
                  "-numa",
                  "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-bandwidth,"
                  "bandwidth=204800K",
                  "-numa",
                  "hmat-lb,initiator=0,target=0,hierarchy=first-level,"
                  "data-type=access-bandwidth,bandwidth=102400K",
                  "-numa",
                  "hmat-cache,node-id=0,size=10K,level=1,associativity=direct,"
                  "policy=write-back,line=8");
    uint32_t len = r == 0 ? acpi_hmat_len(&c.numa) : 0;
    ok(r == 0 && len == 40 + 2 * 40 + 3 * 48 + 32, "HMAT: 2 MPDAs, 3 matrices 1x2, a cache (%s)",
       r ? verr_msg(&err) : "ok");
    if (len == 296) {
        uint8_t t[296] = {0};
        acpi_hmat_fill(&c.numa, t);
        ok(get_le16(t + 40) == 0 && get_le32(t + 44) == 40 && get_le16(t + 48) == 1 &&
               get_le32(t + 52) == 0 && get_le32(t + 56) == 0 && get_le16(t + 88) == 1 &&
               get_le32(t + 92) == 0 && get_le32(t + 96) == 1,
           "MPDAs: node 0 and node 1, both with initiator 0");
        ok(get_le16(t + 120) == 1 && get_le32(t + 124) == 48 && t[128] == 0 && t[129] == 0 &&
               get_le32(t + 132) == 1 && get_le32(t + 136) == 2 && get_le64(t + 144) == 1000 &&
               get_le32(t + 152) == 0 && get_le32(t + 156) == 0 && get_le32(t + 160) == 1 &&
               get_le16(t + 164) == 5 && get_le16(t + 166) == 10,
           "memory access latency: base 1000 ps, entries 5 and 10");
        ok(t[176] == 0 && t[177] == 3 && get_le64(t + 192) == 8 && get_le16(t + 212) == 25 &&
               get_le16(t + 214) == 0,
           "memory access bandwidth: base 8 MB/s (200 MiB's lowest bit), entry 25");
        ok(t[224] == 1 && t[225] == 3 && get_le64(t + 240) == 4 && get_le16(t + 260) == 25,
           "first-level access bandwidth: base 4 MB/s, entry 25");
        ok(get_le16(t + 264) == 2 && get_le32(t + 268) == 32 && get_le32(t + 272) == 0 &&
               get_le64(t + 280) == 10240 &&
               get_le32(t + 288) == (1u | 1u << 4 | 1u << 8 | 1u << 12 | 8u << 16),
           "cache: node 0, 10 KiB, 1 level of 1, direct, write-back, 8-byte lines");
    }
    cli_config_free(&c);
    r = PARSE(&c, &err, "-M", "pc,hmat=on", "-smp", "2", "-kernel", "k", "-object",
              "memory-backend-ram,id=a,size=128M", "-numa", "node,cpus=0-1,memdev=a");
    ok(r == 0 && c.numa.nodes[0].initiator == 0,
       "hmat=on: a node with vCPUs is its own initiator without initiator=");
    cli_config_free(&c);
}

/* memory-backend-memfd, -M memory-backend=, prealloc-threads, discard-data, -overcommit. */
static void test_memback(void)
{
    struct vmm_config c;
    struct verr err = {0};
    int r = PARSE(&c, &err, "-m", "128M", "-kernel", "k", "-M", "microvm,memory-backend=r",
                  "-object", "memory-backend-memfd,id=r,size=128M,prealloc=on,prealloc-threads=3",
                  "-overcommit", "mem-lock=on,cpu-pm=off");
    const struct memdev_spec *m = &c.numa.memdevs[0];
    ok(r == 0 && c.numa.have_ram_memdev && c.numa.ram_memdev == 0 && c.numa.nr_nodes == 0 &&
           m->memfd && m->share && m->seal && !m->hugetlb && m->prealloc_threads == 3 && c.mem_lock,
       "memfd backend as all of RAM: shared and sealed by default, 3 threads, mem-lock (%s)",
       r ? verr_msg(&err) : "ok");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-m", "64M", "-kernel", "k", "-object",
              "qom-type=memory-backend-memfd,id=r,size=64M,share=off,seal=off,hugetlb=on,"
              "hugetlbsize=2M",
              "-object", "memory-backend-file,id=f,size=64M,mem-path=/dev/shm,discard-data=on",
              "-numa", "node,memdev=r", "-numa", "node,memdev=f", "-m", "128M");
    ok(r == 0 && !c.numa.memdevs[0].share && !c.numa.memdevs[0].seal && c.numa.memdevs[0].hugetlb &&
           c.numa.memdevs[0].hugetlbsize == 2u << 20 && c.numa.memdevs[1].discard_data &&
           !c.mem_lock,
       "share=off, seal=off, hugetlb=on,hugetlbsize=2M; discard-data=on on a file (%s)",
       r ? verr_msg(&err) : "ok");
    cli_config_free(&c);
    static const char *const bad[][3] = {
        {"-overcommit", "mem-lock=maybe", "Parameter 'mem-lock' expects 'on' or 'off'"},
        {"-overcommit", "cpu-pm=on", "cpu-pm=on is not supported by vireo-vmm"},
        {"-overcommit", "x=on", "Invalid parameter 'x'"},
        {"-object", "memory-backend-ram,id=x,size=128M,seal=on", "Invalid parameter 'seal'"},
        {"-object", "memory-backend-ram,id=x,size=128M,discard-data=on",
         "Invalid parameter 'discard-data'"},
        {"-object", "memory-backend-memfd,id=x,size=128M,hugetlbsize=2M",
         "hugetlbsize= needs hugetlb=on"},
        {"-object", "memory-backend-memfd,id=x,size=128M,hugetlb=on,hugetlbsize=3M",
         "expects a power of two"},
        {"-object", "memory-backend-ram,id=x,size=128M,prealloc-threads=0", "expects 1 to 256"},
        {"-M", "microvm,memory-backend=nope", "no memory backend with that id"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = PARSE(&c, &err, "-kernel", "k", (char *)bad[i][0], (char *)bad[i][1]);
        refused(bad[i][2], r, &err, bad[i][1]);
        cli_config_free(&c);
    }
    r = PARSE(&c, &err, "-kernel", "k", "-object", "memory-backend-ram,id=x,size=64M", "-M",
              "microvm,memory-backend=x");
    refused("Machine memory size does not match the size of the memory backend", r, &err,
            "memory-backend= short of -m");
    cli_config_free(&c);
}

/* The type table: unique names, each found by name and alias, every default taken. */
static void test_type_table(void)
{
    const struct dev_type *t;
    unsigned n = 0, bad = 0;
    for (unsigned i = 0; (t = dev_type_at(i)); i++, n++) {
        if (dev_type_find(t->name) != t || (t->alias && dev_type_find(t->alias) != t) || !t->desc ||
            !t->create)
            bad++;
        struct dev_config *c = dev_config_new(t, NULL);
        for (const struct dev_prop *p = t->props; p && p->name; p++) {
            char *v = dev_config_get(c, p->name);
            if (p->def && (!v || strcmp(v, p->def)))
                bad++, tap_diag("%s.%s: default '%s' reads '%s'", t->name, p->name, p->def, v);
            free(v);
        }
        dev_config_free(c);
    }
    ok(n == 39 && bad == 0,
       "the type table: %u types, each found by name and alias, with a "
       "description and create(), every default taken as given",
       n);
}

/* -device through the device model. */
static void test_devices(const char *dir)
{
    struct vmm_config c;
    struct verr err = {0};
    int r = PARSE(&c, &err, "-kernel", "k");
    ok(r == 0 && count_devs(&c, "acpi-pm") == 1 && count_devs(&c, "mc146818rtc") == 1 &&
           count_devs(&c, "i8042") == 1 && count_devs(&c, "ioport80") == 1 &&
           count_devs(&c, "isa-serial") == 0 && c.devices[0]->builtin && c.serial_chardev < 0,
       "the machine's built-in devices, and no COM1 without a serial back-end");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-serial", "stdio", "-device", "virtio-rng-pci", "-kernel", "k");
    ok(r == 0 && dev_is(find_dev(&c, "isa-serial", 0), "chardev", "serial0") &&
           dev_is(find_dev(&c, "isa-serial", 0), "iobase", "1016") && c.serial_chardev >= 0 &&
           !strcmp(c.backends.chardevs[c.serial_chardev].id, "serial0") &&
           c.devices[0]->type == dev_type_find("isa-serial") &&
           !c.devices[c.nr_devices - 1]->builtin,
       "-serial stdio: COM1 (isa-serial at 0x3f8) on chardev serial0, built-ins first");
    cli_config_free(&c);
    static const char *const addrs[][2] = {
        {"0x3", "3.0"}, {"03.0", "3.0"}, {"3", "3.0"}, {"1f.7", "1f.7"}, {"10", "10.0"},
    };
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "virtio-rng-pci,bus=pcie.0,addr=%s,multifunction=on",
                 addrs[i][0]);
        r = PARSE(&c, &err, "-device", arg, "-kernel", "k");
        ok(r == 0 && dev_is(find_dev(&c, "virtio-rng-pci", 0), "addr", addrs[i][1]) &&
               dev_is(find_dev(&c, "virtio-rng-pci", 0), "multifunction", "on"),
           "addr=%s is slot.function %s (hex, as QEMU)", addrs[i][0], addrs[i][1]);
        cli_config_free(&c);
    }
    static const char *const bad[][2] = {
        {"virtio-rng-pci,addr=0x20", "Property 'virtio-rng-pci.addr' doesn't take value '0x20'"},
        {"virtio-rng-pci,addr=3.8", "Property 'virtio-rng-pci.addr' doesn't take value '3.8'"},
        {"virtio-rng-pci,addr=", "Property 'virtio-rng-pci.addr' doesn't take value ''"},
        {"virtio-rng-pci,addr=-1", "Property 'virtio-rng-pci.addr' doesn't take value '-1'"},
        {"virtio-rng-pci,bus=pcie.1", "Bus 'pcie.1' not found"},
        {"virtio-rng-pci,bus=isa.0", "Device 'virtio-rng-pci' can't go on ISA bus"},
        {"virtio-rng-pci,multifunction=maybe", "Parameter 'multifunction' expects 'on' or 'off'"},
        {"virtio-blk-pci,foo=1,drive=x", "Property 'virtio-blk-pci.foo' not found"},
        {"isa-debug-exit,addr=3", "Property 'isa-debug-exit.addr' not found"},
        {"i8042", "'i8042' is built into the machine, not a -device"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = PARSE(&c, &err, "-device", (char *)bad[i][0], "-kernel", "k");
        refused(bad[i][1], r, &err, bad[i][0]);
        cli_config_free(&c);
    }
    r = PARSE(&c, &err, "-device", "isa-debug-exit", "-device", "isa-debug-exit,iobase=0xf4",
              "-kernel", "k");
    ok(r == 0 && count_devs(&c, "isa-debug-exit") == 2,
       "two isa-debug-exit devices at different ports (no artificial limit)");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-device", "help");
    ok(r == 0 && c.action == CLI_DEVICE_HELP, "-device help asks for the device list");
    if (c.help_text)
        golden(dir, "device-help.txt", c.help_text);
    cli_config_free(&c);
    static const char *const types[] = {"virtio-blk-pci", "virtio-net-pci", "virtio-serial-pci",
                                        "virtserialport", "isa-debug-exit", "virtio-rng-pci",
                                        "isa-debugcon"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char arg[64], name[96];
        snprintf(arg, sizeof(arg), "%s,help", types[i]);
        r = PARSE(&c, &err, "-device", arg);
        ok(r == 0 && c.action == CLI_DEVICE_HELP, "-device %s asks for its properties", arg);
        snprintf(name, sizeof(name), "device-help-%s.txt", types[i]);
        if (c.help_text)
            golden(dir, name, c.help_text);
        cli_config_free(&c);
    }
}

int main(int argc, char **argv)
{
    struct vmm_config c;
    struct verr err = {0};
    int r0;

    test_numa();
    test_hmat();
    test_memback();
    is_int(PARSE(&c, &err, "-kernel", "k"), 0, "-kernel alone parses");
    is_int(c.mem_size, 128 << 20, "default memory is QEMU's 128 MiB");
    is_int(c.cpus, 1, "default one vCPU");
    is_str(c.cpu_model.name, "qemu64-v1", "default CPU model is qemu64, as QEMU");
    is_int(c.serial.kind, CHARDEV_NONE, "no -nographic: no serial back-end");
    is_str(c.append, "", "no -append: empty command line");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-m", "1G", "-kernel", "k"), 0, "-m 1G");
    is_int(c.mem_size, 1ull << 30, "-m 1G is 1 GiB");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-m", "512", "-kernel", "k"), 0, "-m 512");
    is_int(c.mem_size, 512ull << 20, "-m without a suffix is MiB");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-m", "size=256M", "-kernel", "k"), 0, "-m size=256M");
    is_int(c.mem_size, 256ull << 20, "size= form");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-smp", "4", "-kernel", "k"), 0, "-smp 4");
    ok(c.cpus == 4 && c.sockets == 1 && c.cores == 4 && c.threads == 1,
       "-smp 4 is 1 socket of 4 cores (QEMU 7.2 prefers cores)");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "8,sockets=2,cores=2,threads=2", "-kernel", "k"), 0, "topology");
    ok(c.cpus == 8 && c.sockets == 2 && c.cores == 2 && c.threads == 2, "full topology kept");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "sockets=1,cores=4", "-kernel", "k"), 0, "cpus computed");
    ok(c.cpus == 4 && c.cores == 4, "-smp sockets=1,cores=4 gives 4 vCPUs");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "4,sockets=2", "-kernel", "k"), 0, "cores computed");
    ok(c.cores == 2, "-smp 4,sockets=2 gives 2 cores per socket");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "8,sockets=2,cores=2", "-kernel", "k"), 0, "threads computed");
    ok(c.threads == 2, "-smp 8,sockets=2,cores=2 gives 2 threads per core");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "4,cores=2", "-kernel", "k"), 0, "sockets computed");
    ok(c.sockets == 2 && c.cores == 2, "-smp 4,cores=2 gives 2 sockets");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-nographic", "-kernel", "k"), 0, "-nographic");
    is_int(c.serial.kind, CHARDEV_STDIO, "-nographic puts COM1 on stdio");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-nographic", "-nodefaults", "-kernel", "k"), 0, "-nodefaults");
    is_int(c.serial.kind, CHARDEV_NONE, "-nodefaults removes the default serial");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-serial", "unix:/tmp/s.sock,server,nowait", "-kernel", "k"), 0,
           "-serial unix");
    ok(c.serial.kind == CHARDEV_UNIX && c.serial.server && !c.serial.wait &&
           strcmp(c.serial.path, "/tmp/s.sock") == 0,
       "unix:PATH,server,nowait");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-serial", "file:/tmp/out.txt", "-kernel", "k"), 0, "-serial file:");
    ok(c.serial.kind == CHARDEV_FILE && strcmp(c.serial.path, "/tmp/out.txt") == 0, "file path");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-qmp", "unix:/run/q.sock,server=on,wait=off", "-kernel", "k"), 0,
           "-qmp with server=on,wait=off");
    is_str(c.qmp_path, "/run/q.sock", "QMP path");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-M", "microvm,acpi=on,x-option-roms=off", "-enable-kvm", "-accel",
                 "kvm", "-cpu", "host", "-name", "guest=vm1,debug-threads=on", "-uuid",
                 "6A5ED6A4-4A5B-4E3B-9D50-9D0C5B1F2A11", "-S", "-no-reboot", "-no-shutdown",
                 "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                 "k", "-initrd", "i", "-append", "console=ttyS0", "-mem-prealloc", "-pidfile", "p"),
           0, "a full QEMU-style command line parses");
    ok(c.cpu_model.passthrough && c.start_paused && c.no_reboot && c.no_shutdown &&
           c.display_none && c.mem_prealloc,
       "flags set");
    is_str(c.name, "vm1", "-name guest=");
    is_str(c.uuid, "6a5ed6a4-4a5b-4e3b-9d50-9d0c5b1f2a11", "-uuid is kept in lower case");
    ok(dev_is(find_dev(&c, "isa-debug-exit", 0), "iobase", "244") &&
           dev_is(find_dev(&c, "isa-debug-exit", 0), "iosize", "4"),
       "isa-debug-exit iobase/iosize");
    is_str(c.initrd, "i", "-initrd");
    is_str(c.append, "console=ttyS0", "-append");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-M", "pc", "-fw_cfg", "opt/a,string=hi,,there", "-fw_cfg",
                 "name=opt/b,file=/x"),
           0, "-fw_cfg, with the implied name and with name=");
    ok(c.nr_fw_cfg_items == 2 && !c.fw_cfg_items[0].file && !c.fw_cfg_items[1].string,
       "-fw_cfg: two items, one string and one file");
    if (c.nr_fw_cfg_items == 2) {
        is_str(c.fw_cfg_items[0].name, "opt/a", "-fw_cfg: first name");
        is_str(c.fw_cfg_items[0].string, "hi,there", "-fw_cfg: string= with ',,' for a comma");
        is_str(c.fw_cfg_items[1].name, "opt/b", "-fw_cfg: name=");
        is_str(c.fw_cfg_items[1].file, "/x", "-fw_cfg: file=");
    }
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-M", "pc", "-fw_cfg", "opt/a,string=,file=/f"), 0,
           "-fw_cfg with an empty string= and a file=");
    ok(c.nr_fw_cfg_items == 1 && !c.fw_cfg_items[0].string && c.fw_cfg_items[0].file,
       "-fw_cfg: an empty string= counts as not given (the file is used)");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-M", "microvm,pit=off", "-kernel", "k"), 0, "-M microvm,pit=off");
    ok(c.machine.no_pit, "pit=off leaves out the PIT");
    cli_config_free(&c);
    r0 = PARSE(&c, &err, "-M", "microvm,pit=maybe", "-kernel", "k");
    ok(r0 < 0 && strstr(verr_msg(&err), "pit must be on, off or auto"), "pit=maybe is refused");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "--m", "64", "--kernel", "k"), 0, "--option works like -option");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "--help"), 0, "--help");
    is_int(c.action, CLI_HELP, "--help asks for help");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-version"), 0, "-version");
    is_int(c.action, CLI_VERSION, "-version asks for the version");
    cli_config_free(&c);

    int r;
    r = PARSE(&c, &err, "-m", "2M", "-kernel", "k");
    refused("guest memory must be at least 8 MiB", r, &err, "-m 2M");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-m", "12345x", "-kernel", "k");
    refused("-m 12345x: invalid memory size", r, &err, "-m 12345x");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-smp", "2,sockets=3", "-kernel", "k");
    refused("invalid CPU topology", r, &err, "-smp 2,sockets=3");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-smp", "256", "-kernel", "k");
    refused("at most 255 vCPUs", r, &err, "-smp 256");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-uuid", "6a5ed6a4-4a5b-4e3b-9d50-9d0c5b1f2a1", "-kernel", "k");
    refused("not a UUID", r, &err, "a short UUID");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-serial", "stdio", "-serial", "pty", "-kernel", "k");
    refused("only one serial port", r, &err, "a second -serial");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-serial", "unix:/tmp/x", "-kernel", "k");
    ok(r == 0 && c.serial.kind == CHARDEV_UNIX && !c.serial.server &&
           !strcmp(c.serial.path, "/tmp/x"),
       "a client -serial unix socket is accepted");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-qmp", "unix:/tmp/q,server", "-kernel", "k");
    refused("only server,nowait", r, &err, "-qmp that waits");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-netdev", "socket,id=n0", "-kernel", "k");
    refused("backend 'socket' is not supported (user, tap)", r, &err, "-netdev socket");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-device", "rtl8139", "-kernel", "k");
    refused("device 'rtl8139' is not supported yet", r, &err, "-device rtl8139");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-kernel");
    refused("-kernel: requires an argument", r, &err, "-kernel without its argument");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-daemonize", "-serial", "stdio", "-kernel", "k");
    refused("-daemonize: cannot be used with the serial port on stdio", r, &err,
            "-daemonize with stdio");
    cli_config_free(&c);

    test_machine();
    test_type_table();
    /* The help texts are golden files next to this test (argv[1]: their folder). */
    if (argc > 1) {
        golden(argv[1], "vireo-vmm-help.txt", cli_help_text());
        test_devices(argv[1]);
    }
    return tap_done();
}
