/*
 * host-caps.c - see host-caps.h. Everything is read from sysfs, procfs and
 * /dev/kvm at each call but the TSC frequency, which needs a scratch VM and
 * is probed once.
 */
#include "daemon/host-caps.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/mem.h"

/* The first line of a small sysfs/procfs file, without its newline ("" when unreadable). */
static void read_line(const char *path, char *out, size_t size)
{
    out[0] = 0;
    FILE *f = fopen(path, "re");
    if (f && fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = 0;
    if (f)
        fclose(f);
}

void vd_caps_host_uuid(struct buf *x)
{
    char u[128];
    read_line("/sys/class/dmi/id/product_uuid", u, sizeof(u));
    if (strlen(u) == 36) {
        for (char *p = u; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
        buf_printf(x, "    <uuid>%s</uuid>\n", u);
        return;
    }
    read_line("/etc/machine-id", u, sizeof(u));
    if (strlen(u) == 32 && strspn(u, "0123456789abcdef") == 32)
        buf_printf(x, "    <uuid>%.8s-%.4s-%.4s-%.4s-%.12s</uuid>\n", u, u + 8, u + 12, u + 16,
                   u + 20);
}

/* KVM's TSC frequency in kHz (0 when it cannot be had) and its scaling. */
static long tsc_khz = -1;
static int tsc_scaling;

static void probe_tsc(void)
{
    tsc_khz = 0;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return;
    tsc_scaling = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0;
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    int vcpu = vm >= 0 ? ioctl(vm, KVM_CREATE_VCPU, 0) : -1;
    long khz = vcpu >= 0 ? ioctl(vcpu, KVM_GET_TSC_KHZ, 0) : -1;
    if (khz > 0)
        tsc_khz = khz;
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    close(kvm);
}

void vd_caps_tsc_counter(struct buf *x, const char *indent, int has_invtsc)
{
    if (!has_invtsc)
        return;
    if (tsc_khz < 0) /* the loop thread only: no lock */
        probe_tsc();
    if (tsc_khz > 0)
        buf_printf(x, "%s<counter name='tsc' frequency='%llu' scaling='%s'/>\n", indent,
                   (unsigned long long)tsc_khz * 1000, tsc_scaling ? "yes" : "no");
}

/* The huge page sizes (KiB) the kernel offers, ascending. */
static size_t huge_sizes(unsigned long long *sizes, size_t max)
{
    size_t n = 0;
    DIR *dir = opendir("/sys/kernel/mm/hugepages");
    struct dirent *e;
    unsigned long long kib;
    while (dir && (e = readdir(dir)) && n < max)
        if (sscanf(e->d_name, "hugepages-%llukB", &kib) == 1)
            sizes[n++] = kib;
    if (dir)
        closedir(dir);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
            unsigned long long t = sizes[j];
            sizes[j] = sizes[j - 1];
            sizes[j - 1] = t;
        }
    return n;
}

void vd_caps_pages(struct buf *x, const char *indent, int node, unsigned long long total_kib)
{
    unsigned long long sizes[16];
    size_t n = huge_sizes(sizes, 16);
    long base = sysconf(_SC_PAGESIZE) / 1024;
    if (node < 0) {
        buf_printf(x, "%s<pages unit='KiB' size='%ld'/>\n", indent, base);
        for (size_t i = 0; i < n; i++)
            buf_printf(x, "%s<pages unit='KiB' size='%llu'/>\n", indent, sizes[i]);
        return;
    }
    /* the base pages: the node's MemTotal in pages, as libvirt counts them */
    char path[160];
    buf_printf(x, "%s<pages unit='KiB' size='%ld'>%llu</pages>\n", indent, base,
               base > 0 ? total_kib / (unsigned long long)base : 0);
    for (size_t i = 0; i < n; i++) {
        char v[64];
        snprintf(path, sizeof(path),
                 "/sys/devices/system/node/node%d/hugepages/hugepages-%llukB/nr_hugepages", node,
                 sizes[i]);
        read_line(path, v, sizeof(v));
        if (!*v) {
            snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages",
                     sizes[i]);
            read_line(path, v, sizeof(v));
        }
        buf_printf(x, "%s<pages unit='KiB' size='%llu'>%s</pages>\n", indent, sizes[i],
                   *v ? v : "0");
    }
}

void vd_caps_distances(struct buf *x, const char *indent, int node)
{
    char path[128], text[1024];
    snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/distance", node);
    read_line(path, text, sizeof(text));
    if (!*text)
        return;
    buf_printf(x, "%s<distances>\n", indent);
    int id = 0;
    for (char *save = NULL, *t = strtok_r(text, " ", &save); t; t = strtok_r(NULL, " ", &save))
        buf_printf(x, "%s  <sibling id='%d' value='%s'/>\n", indent, id++, t);
    buf_printf(x, "%s</distances>\n", indent);
}

void vd_caps_features(struct buf *x)
{
    /* no host suspend (nodesuspend) is offered: libvirt's empty element for that */
    buf_printf(x, "    <power_management/>\n");
    DIR *dir = opendir("/sys/kernel/iommu_groups");
    struct dirent *e;
    int groups = 0;
    while (dir && (e = readdir(dir)))
        groups += e->d_name[0] != '.';
    if (dir)
        closedir(dir);
    buf_printf(x, "    <iommu support='%s'/>\n", groups ? "yes" : "no");
    /* libvirt's QEMU driver lists tcp and rdma; vireo-vmm's migration has no RDMA */
    buf_printf(x, "    <migration_features>\n      <live/>\n      <uri_transports>\n"
                  "        <uri_transport>tcp</uri_transport>\n      </uri_transports>\n"
                  "    </migration_features>\n");
}

struct bank {
    unsigned level, id;
    char type[8];
    unsigned long long bytes;
    char cpus[256];
};

/* A size as libvirt prints it: in the largest unit that divides it exactly. */
static void put_size(struct buf *x, unsigned long long bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (u < 4 && bytes && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    buf_printf(x, "size='%llu' unit='%s'", bytes, units[u]);
}

void vd_caps_cache(struct buf *x)
{
    struct bank banks[64];
    size_t n = 0;
    char online[256];
    read_line("/sys/devices/system/cpu/online", online, sizeof(online));
    /* each online CPU's caches: a bank is (level, id, type), shared by its CPUs */
    for (char *save = NULL, *t = strtok_r(online, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned a = 0, b = 0;
        if (sscanf(t, "%u-%u", &a, &b) != 2)
            b = a = (unsigned)strtoul(t, NULL, 10);
        for (unsigned cpu = a; cpu <= b && cpu < 4096; cpu++)
            for (int idx = 0; idx < 16 && n < 64; idx++) {
                char path[160], v[256];
                struct bank k = {0};
#define CACHE_FILE(name)                                                                           \
    (snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cache/index%d/" name, cpu, idx),  \
     read_line(path, v, sizeof(v)), v)
                if (!*CACHE_FILE("level"))
                    break;
                k.level = (unsigned)strtoul(v, NULL, 10);
                if (k.level < 3)
                    continue;
                k.id = (unsigned)strtoul(CACHE_FILE("id"), NULL, 10);
                CACHE_FILE("type");
                snprintf(k.type, sizeof(k.type), "%s",
                         !strcmp(v, "Data")          ? "data"
                         : !strcmp(v, "Instruction") ? "code"
                                                     : "both");
                char *end;
                k.bytes = strtoull(CACHE_FILE("size"), &end, 10);
                k.bytes <<= *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
                snprintf(k.cpus, sizeof(k.cpus), "%s", CACHE_FILE("shared_cpu_list"));
#undef CACHE_FILE
                bool seen = false;
                for (size_t i = 0; i < n && !seen; i++)
                    seen = banks[i].level == k.level && banks[i].id == k.id &&
                           !strcmp(banks[i].type, k.type);
                if (!seen)
                    banks[n++] = k;
            }
    }
    if (!n)
        return;
    for (size_t i = 1; i < n; i++) /* by level, then id */
        for (size_t j = i;
             j > 0 && (banks[j - 1].level > banks[j].level ||
                       (banks[j - 1].level == banks[j].level && banks[j - 1].id > banks[j].id));
             j--) {
            struct bank t = banks[j];
            banks[j] = banks[j - 1];
            banks[j - 1] = t;
        }
    buf_printf(x, "    <cache>\n");
    for (size_t i = 0; i < n; i++) {
        buf_printf(x, "      <bank id='%u' level='%u' type='%s' ", banks[i].id, banks[i].level,
                   banks[i].type);
        put_size(x, banks[i].bytes);
        buf_printf(x, " cpus='%s'/>\n", banks[i].cpus);
    }
    buf_printf(x, "    </cache>\n");
}
