/*
 * rpc-host.c - the procedures about the connection and the host: open and
 * close, authentication types, features, type and versions, node info and
 * capabilities.
 *
 * The capabilities describe the host as libvirt does, NUMA topology
 * included (from /sys/devices/system/node, or one cell holding everything
 * when the kernel has no NUMA), so that tools which read it (virsh
 * freecell --all) go on to ask for what they need and get a straight
 * answer.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "daemon/cpu-host-model.h"
#include "daemon/domain.h"
#include "daemon/host-caps.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

/* libvirt's internal VIR_DRV_FEATURE_* numbers vireod supports. */
enum {
    DRV_FEATURE_MIGRATION_P2P = 4,
    DRV_FEATURE_MIGRATION_V3 = 6,
    DRV_FEATURE_TYPED_PARAM_STRING = 9,
    DRV_FEATURE_PROGRAM_KEEPALIVE = 10,
    DRV_FEATURE_MIGRATION_OFFLINE = 12,
    DRV_FEATURE_MIGRATION_PARAMS = 13,
    DRV_FEATURE_REMOTE_EVENT_CALLBACK = 14,
    DRV_FEATURE_REMOTE_CLOSE_CALLBACK = 15,
};

static int ok(struct vd_call *c)
{
    (void)c;
    return 0;
}

static int connect_open(struct vd_call *c)
{
    if (((const struct remote_connect_open_args *)c->args)->flags & VIR_CONNECT_RO)
        c->client->readonly = true;
    c->client->opened = true;
    return 0;
}

static int supports_feature(struct vd_call *c)
{
    int f = ((const struct remote_connect_supports_feature_args *)c->args)->feature;
    ((struct remote_connect_supports_feature_ret *)c->ret)->supported =
        f == DRV_FEATURE_TYPED_PARAM_STRING || f == DRV_FEATURE_PROGRAM_KEEPALIVE ||
        f == DRV_FEATURE_REMOTE_EVENT_CALLBACK || f == DRV_FEATURE_REMOTE_CLOSE_CALLBACK ||
        f == DRV_FEATURE_MIGRATION_P2P || f == DRV_FEATURE_MIGRATION_V3 ||
        f == DRV_FEATURE_MIGRATION_OFFLINE || f == DRV_FEATURE_MIGRATION_PARAMS;
    return 0;
}

static char *hostname(void)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    return xstrdup(host);
}

/* The procedures that answer one value about the connection:
 * X(procedure, its lower-case name, the reply's field, the value). */
#define CONNECT_VALUES(X)                                                                          \
    /* "QEMU": what management tools written for qemu:///system expect. */                         \
    X(CONNECT_GET_TYPE, connect_get_type, type, xstrdup("QEMU"))                                   \
    X(CONNECT_GET_VERSION, connect_get_version, hv_ver, 7002000) /* vireo-vmm follows 7.2 */       \
    X(CONNECT_GET_LIB_VERSION, connect_get_lib_version, lib_ver,                                   \
      VIREO_VERSION_MAJOR * 1000000 + VIREO_VERSION_MINOR * 1000 + VIREO_VERSION_MICRO)            \
    X(CONNECT_GET_URI, connect_get_uri, uri, xstrdup("vireo:///system"))                           \
    X(CONNECT_GET_HOSTNAME, connect_get_hostname, hostname, hostname())                            \
    X(CONNECT_IS_SECURE, connect_is_secure, secure, 1) /* a local UNIX socket */                   \
    X(CONNECT_GET_MAX_VCPUS, connect_get_max_vcpus, max_vcpus, 255)

#define VALUE_FN(PROC, name, field, value)                                                         \
    static int get_##name(struct vd_call *c)                                                       \
    {                                                                                              \
        ((struct remote_##name##_ret *)c->ret)->field = (value);                                   \
        return 0;                                                                                  \
    }
CONNECT_VALUES(VALUE_FN)

static unsigned long long host_mem_kib(void)
{
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        return 0;
    return (unsigned long long)si.totalram * si.mem_unit / 1024;
}

static int node_info(struct vd_call *c)
{
    struct remote_node_get_info_ret *r = c->ret;
    struct utsname u;
    uname(&u);
    snprintf(r->model, sizeof(r->model), "%.31s", u.machine);
    r->memory = host_mem_kib();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->cpus = (int)(n > 0 ? n : 1);
    r->mhz = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        double mhz;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) {
                r->mhz = (int)mhz;
                break;
            }
        fclose(f);
    }
    r->nodes = 1;
    r->sockets = 1;
    r->cores = r->cpus;
    r->threads = 1;
    return 0;
}

/* A small file of sysfs as text, trimmed; "" when unreadable. */
static void sysfs_text(const char *path, char *out, size_t size)
{
    struct buf b = BUF_INIT;
    struct verr e = {0};
    out[0] = 0;
    if (file_read_all(path, 4096, &b, &e) == 0) {
        snprintf(out, size, "%.*s", (int)b.len, (const char *)b.data);
        out[strcspn(out, "\n")] = 0;
    }
    buf_free(&b);
}

/* "0-3,8" -> bits of the CPUs it lists (up to 1024). */
static size_t cpulist_parse(const char *s, unsigned char *bits, size_t max)
{
    size_t count = 0;
    while (*s) {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b = a;
        if (end == s)
            break;
        if (*end == '-')
            b = strtoul(end + 1, &end, 10);
        for (unsigned long i = a; i <= b && i < max; i++)
            if (!(bits[i / 8] & (1u << (i % 8)))) {
                bits[i / 8] |= (unsigned char)(1u << (i % 8));
                count++;
            }
        s = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    return count;
}

static void topology_cpus(struct buf *x, const unsigned char *bits, size_t count)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "          <cpus num='%zu'>\n", count);
    buf_append(x, line, (size_t)n);
    for (size_t i = 0; i < 1024; i++) {
        if (!(bits[i / 8] & (1u << (i % 8))))
            continue;
        char path[128], sock[32], die[32], core[32], sib[64];
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/physical_package_id",
                 i);
        sysfs_text(path, sock, sizeof(sock));
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/die_id", i);
        sysfs_text(path, die, sizeof(die));
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/core_id", i);
        sysfs_text(path, core, sizeof(core));
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/thread_siblings_list",
                 i);
        sysfs_text(path, sib, sizeof(sib));
        n = snprintf(line, sizeof(line),
                     "            <cpu id='%zu' socket_id='%s' die_id='%s' core_id='%s' "
                     "siblings='%s'/>\n",
                     i, *sock ? sock : "0", *die ? die : "0", *core ? core : "0", *sib ? sib : "0");
        buf_append(x, line, (size_t)n);
    }
    buf_append(x, "          </cpus>\n", 18);
}

/* <topology> from /sys/devices/system/node, or one cell with everything. */
static void topology_xml(struct buf *x)
{
    char line[256];
    int ids[1024];
    size_t nids = 0;
    DIR *dir = opendir("/sys/devices/system/node");
    struct dirent *e;
    while (dir && (e = readdir(dir)) && nids < 1024) {
        char *end;
        if (strncmp(e->d_name, "node", 4) != 0)
            continue;
        long id = strtol(e->d_name + 4, &end, 10);
        if (!*end && end != e->d_name + 4 && id >= 0)
            ids[nids++] = (int)id;
    }
    if (dir)
        closedir(dir);
    for (size_t i = 1; i < nids; i++) /* in order of id */
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    int n =
        snprintf(line, sizeof(line), "    <topology>\n      <cells num='%zu'>\n", nids ? nids : 1);
    buf_append(x, line, (size_t)n);
    for (size_t i = 0; i < (nids ? nids : 1); i++) {
        unsigned char bits[128] = {0};
        size_t count;
        unsigned long long kib = 0;
        char path[128], text[4096];
        if (nids) {
            snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", ids[i]);
            sysfs_text(path, text, sizeof(text));
            count = cpulist_parse(text, bits, 1024);
            snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", ids[i]);
            FILE *f = fopen(path, "r");
            char l[256];
            while (f && fgets(l, sizeof(l), f))
                if (sscanf(l, "Node %*d MemTotal: %llu kB", &kib) == 1)
                    break;
            if (f)
                fclose(f);
        } else {
            sysfs_text("/sys/devices/system/cpu/online", text, sizeof(text));
            count = cpulist_parse(*text ? text : "0", bits, 1024);
            kib = host_mem_kib();
        }
        n = snprintf(line, sizeof(line),
                     "        <cell id='%d'>\n          <memory unit='KiB'>%llu</memory>\n",
                     nids ? ids[i] : 0, kib);
        buf_append(x, line, (size_t)n);
        vd_caps_pages(x, "          ", nids ? ids[i] : 0, kib);
        vd_caps_distances(x, "          ", nids ? ids[i] : 0);
        topology_cpus(x, bits, count);
        buf_append(x, "        </cell>\n", 16);
    }
    buf_append(x, "      </cells>\n    </topology>\n", 31);
}

/* virNodeGetCPUMap: the CPUs present (their count), and which are online. */
static int node_cpu_map(struct vd_call *c)
{
    const struct remote_node_get_cpu_map_args *a = c->args;
    struct remote_node_get_cpu_map_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "virHostCPUGetMap") < 0)
        return -1;
    char text[4096];
    unsigned char present[128] = {0}, online[128] = {0};
    sysfs_text("/sys/devices/system/cpu/present", text, sizeof(text));
    cpulist_parse(*text ? text : "0", present, 1024);
    sysfs_text("/sys/devices/system/cpu/online", text, sizeof(text));
    size_t nonline = cpulist_parse(*text ? text : "0", online, 1024);
    int n = 0;
    for (int i = 0; i < 1024; i++)
        if (present[i / 8] & (1u << (i % 8)))
            n = i + 1;
    r->ret = n;
    if (a->need_online)
        r->online = (uint32_t)nonline;
    if (a->need_map) {
        r->cpumap_len = (uint32_t)(n + 7) / 8;
        r->cpumap = xcalloc(r->cpumap_len ? r->cpumap_len : 1, 1);
        memcpy(r->cpumap, online, r->cpumap_len);
    }
    return 0;
}

/* The host CPU's identity as libvirt's capabilities show it, from /proc/cpuinfo (the first
 * CPU): vendor, microcode, signature, topology (sockets, cores per socket, threads per core)
 * and the physical address bits; the closest named model and the features beyond it
 * (cpu-host-model.c: vireo-vmm's models, CPUID features only), the TSC counter and the page
 * sizes (host-caps.c). TODO: the MSR features (arch-capabilities bits) are not listed. */
static void host_cpu_xml(struct buf *x, const char *arch)
{
    char vendor[64] = "", line[512];
    unsigned family = 0, model = 0, stepping = 0, cores = 0, siblings = 0, phys = 0;
    unsigned long microcode = 0;
    unsigned char sockets[128] = {0};
    unsigned nsockets = 0;
    bool first = true;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned v;
        if (sscanf(line, "physical id : %u", &v) == 1 && v < 1024 &&
            !(sockets[v / 8] & (1u << (v % 8)))) {
            sockets[v / 8] |= (unsigned char)(1u << (v % 8));
            nsockets++;
        }
        if (line[0] == '\n')
            first = false; /* the rest describes the other CPUs */
        if (!first)
            continue;
        if (!vendor[0])
            sscanf(line, "vendor_id : %63s", vendor);
        sscanf(line, "cpu family : %u", &family);
        sscanf(line, "model : %u", &model);
        sscanf(line, "stepping : %u", &stepping);
        sscanf(line, "microcode : %lx", &microcode);
        sscanf(line, "cpu cores : %u", &cores);
        sscanf(line, "siblings : %u", &siblings);
        sscanf(line, "address sizes : %u bits physical", &phys);
    }
    if (f)
        fclose(f);
    const char *v = strcmp(vendor, "GenuineIntel") == 0   ? "Intel"
                    : strcmp(vendor, "AuthenticAMD") == 0 ? "AMD"
                    : strcmp(vendor, "HygonGenuine") == 0 ? "Hygon"
                                                          : vendor;
    char *s = xasprintf("    <cpu>\n"
                        "      <arch>%s</arch>\n",
                        arch);
    buf_append(x, s, strlen(s));
    free(s);
    struct buf features = BUF_INIT;
    vd_cpu_host_cpu_xml(x, &features, "      ");
    if (*v) {
        s = xasprintf("      <vendor>%s</vendor>\n"
                      "      <microcode version='%lu'/>\n"
                      "      <signature family='%u' model='%u' stepping='%u'/>\n",
                      v, microcode, family, model, stepping);
        buf_append(x, s, strlen(s));
        free(s);
    }
    vd_caps_tsc_counter(x, "      ",
                        features.len && memmem(features.data, features.len, "'invtsc'", 8));
    if (cores) {
        s = xasprintf("      <topology sockets='%u' dies='1' cores='%u' threads='%u'/>\n",
                      nsockets ? nsockets : 1, cores,
                      siblings >= cores && cores ? siblings / cores : 1);
        buf_append(x, s, strlen(s));
        free(s);
    }
    if (phys) {
        s = xasprintf("      <maxphysaddr mode='emulate' bits='%u'/>\n", phys);
        buf_append(x, s, strlen(s));
        free(s);
    }
    if (features.len)
        buf_append(x, features.data, features.len);
    buf_free(&features);
    vd_caps_pages(x, "      ", -1, 0);
    buf_append(x, "    </cpu>\n", 11);
}

static void secmodel_xml(struct buf *x, const struct vd_daemon *d)
{
    long uid = vd_dac_active(&d->dac) ? d->dac.uid : 0;
    long gid = vd_dac_active(&d->dac) ? d->dac.gid : 0;
    buf_printf(x,
               "    <secmodel>\n"
               "      <model>none</model>\n"
               "      <doi>0</doi>\n"
               "    </secmodel>\n"
               "    <secmodel>\n"
               "      <model>dac</model>\n"
               "      <doi>0</doi>\n"
               "      <baselabel type='kvm'>+%ld:+%ld</baselabel>\n"
               "      <baselabel type='qemu'>+%ld:+%ld</baselabel>\n"
               "    </secmodel>\n",
               uid, gid, uid, gid);
}

static int capabilities(struct vd_call *c)
{
    struct utsname u;
    uname(&u);
    struct buf x = BUF_INIT;
    buf_append(&x, "<capabilities>\n  <host>\n", 24);
    vd_caps_host_uuid(&x);
    host_cpu_xml(&x, u.machine);
    vd_caps_features(&x);
    topology_xml(&x);
    vd_caps_cache(&x);
    secmodel_xml(&x, c->d);
    char *tail = xasprintf("  </host>\n"
                           "  <guest>\n"
                           "    <os_type>hvm</os_type>\n"
                           "    <arch name='%s'>\n"
                           "      <wordsize>64</wordsize>\n"
                           "      <emulator>vireo-vmm</emulator>\n"
                           /* vireo-vmm's machines in libvirt's order and words: the first is
                            * what clients (virt-install) take without a --machine. */
                           "      <machine maxCpus='255'>pc-i440fx-7.2</machine>\n"
                           "      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>\n"
                           "      <machine maxCpus='255'>pc-q35-7.2</machine>\n"
                           "      <machine canonical='pc-q35-7.2' maxCpus='255'>q35</machine>\n"
                           "      <machine maxCpus='255'>microvm</machine>\n"
                           "      <domain type='kvm'/>\n"
                           "    </arch>\n"
                           "  </guest>\n"
                           "</capabilities>\n",
                           u.machine);
    buf_append(&x, tail, strlen(tail) + 1);
    free(tail);
    ((struct remote_connect_get_capabilities_ret *)c->ret)->capabilities = (char *)x.data;
    return 0;
}

/* The security models, as libvirt's QEMU driver reports them with no SELinux or AppArmor
 * driver: the primary model "none", with DAC stacked under it (security-dac.h). The
 * strings go with their NUL, as libvirtd sends them (the clients strcpy them). */
static int node_security_model(struct vd_call *c)
{
    struct remote_node_get_security_model_ret *r = c->ret;
    r->model = xstrdup("none");
    r->model_len = 5;
    r->doi = xstrdup("0");
    r->doi_len = 2;
    return 0;
}

#define VALUE_ENTRY(PROC, name, field, value) {REMOTE_PROC_##PROC, get_##name},
static const struct vd_proc procs[] = {
    CONNECT_VALUES(VALUE_ENTRY) /* the one-value procedures, then the others */
    {REMOTE_PROC_CONNECT_OPEN, connect_open},
    {REMOTE_PROC_CONNECT_CLOSE, ok},
    {REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK, ok},
    {REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK, ok},
    {REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, supports_feature},
    {REMOTE_PROC_NODE_GET_INFO, node_info},
    {REMOTE_PROC_CONNECT_GET_CAPABILITIES, capabilities},
    {REMOTE_PROC_NODE_GET_CPU_MAP, node_cpu_map},
    {REMOTE_PROC_NODE_GET_SECURITY_MODEL, node_security_model},
};
VD_PROC_TABLE(vd_host_procs, procs);
