/*
 * domain_util.c - the small pieces of the domain model that stand alone:
 * enum names as libvirt spells them, UUIDs and MACs, memory units, name
 * rules, and deep copy/free of a definition.
 */
#include "conf/domain_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/mem.h"
#include "util/str.h"

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return i;
    return -1;
}

#define ENUM_IMPL(prefix, type, count, ...)                                                        \
    static const char *const prefix##_names[] = {__VA_ARGS__};                                     \
    _Static_assert(sizeof(prefix##_names) / sizeof(prefix##_names[0]) == (count),                  \
                   #prefix " names");                                                              \
    const char *prefix##_to_string(type v)                                                         \
    {                                                                                              \
        return (unsigned)v < (count) ? prefix##_names[v] : NULL;                                   \
    }                                                                                              \
    int prefix##_from_string(const char *s)                                                        \
    {                                                                                              \
        return lookup(prefix##_names, (count), s);                                                 \
    }

ENUM_IMPL(domain_type, enum domain_type, DOMAIN_TYPE_LAST, "kvm", "qemu", "test")
ENUM_IMPL(domain_lifecycle_action, enum domain_lifecycle_action, DOMAIN_ACTION_LAST, "destroy",
          "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart")
ENUM_IMPL(domain_boot_dev, enum domain_boot_dev, DOMAIN_BOOT_LAST, "fd", "cdrom", "hd", "network")
ENUM_IMPL(domain_disk_device, enum domain_disk_device, DOMAIN_DISK_DEVICE_LAST, "disk", "cdrom",
          "floppy", "lun")
ENUM_IMPL(domain_disk_source, enum domain_disk_source, DOMAIN_DISK_SOURCE_LAST, "file", "block",
          "dir", "network", "volume")
ENUM_IMPL(domain_disk_bus, enum domain_disk_bus, DOMAIN_DISK_BUS_LAST, "ide", "fdc", "scsi",
          "virtio", "xen", "usb", "uml", "sata", "sd")
ENUM_IMPL(domain_net_type, enum domain_net_type, DOMAIN_NET_LAST, "network", "bridge", "user",
          "ethernet", "direct", "hostdev", "vhostuser")
ENUM_IMPL(domain_controller_type, enum domain_controller_type, DOMAIN_CONTROLLER_LAST, "ide", "fdc",
          "scsi", "sata", "virtio-serial", "ccid", "usb", "pci", "xenbus", "isa")

void domain_uuid_format(const unsigned char uuid[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 15];
    }
    out[o] = '\0';
}

int domain_uuid_parse(const char *s, unsigned char out[16])
{
    /* libvirt's rule: 32 hex digits in pairs, with '-' or ' ' allowed between
     * pairs (never inside one), and trailing white space. */
    unsigned char u[16];
    size_t n = 0;
    if (!s)
        return -EINVAL;
    while (n < 16) {
        if (*s == '-' || *s == ' ') {
            s++;
            continue;
        }
        int hi = str_hex_digit((unsigned char)s[0]);
        int lo = hi < 0 ? -1 : str_hex_digit((unsigned char)s[1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        u[n++] = (unsigned char)(hi << 4 | lo);
        s += 2;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (*s)
        return -EINVAL;
    memcpy(out, u, 16);
    return 0;
}

static int random_bytes(void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = getrandom((char *)buf + done, len - done, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

int domain_uuid_generate(unsigned char out[16])
{
    int r = random_bytes(out, 16);
    if (r < 0)
        return r;
    out[6] = (unsigned char)((out[6] & 0x0f) | 0x40); /* version 4 */
    out[8] = (unsigned char)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return 0;
}

int domain_mac_generate(char out[18])
{
    unsigned char b[3];
    int r = random_bytes(b, 3);
    if (r < 0)
        return r;
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
    return 0;
}

int domain_parse_memory(const char *value, const char *unit, unsigned long long *kib)
{
    static const struct {
        const char *name;
        unsigned long long bytes;
    } units[] = {
        {"b", 1ULL},
        {"byte", 1ULL},
        {"bytes", 1ULL},
        {"KB", 1000ULL},
        {"k", 1024ULL},
        {"KiB", 1024ULL},
        {"MB", 1000000ULL},
        {"M", 1048576ULL},
        {"MiB", 1048576ULL},
        {"GB", 1000000000ULL},
        {"G", 1073741824ULL},
        {"GiB", 1073741824ULL},
        {"TB", 1000000000000ULL},
        {"T", 1099511627776ULL},
        {"TiB", 1099511627776ULL},
        {"PB", 1000000000000000ULL},
        {"P", 1125899906842624ULL},
        {"PiB", 1125899906842624ULL},
        {"EB", 1000000000000000000ULL},
        {"E", 1152921504606846976ULL},
        {"EiB", 1152921504606846976ULL},
    };
    unsigned long long mult = 1024;
    if (unit) {
        size_t i;
        /* libvirt matches the unit names case-insensitively except for b/bytes. */
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcasecmp(units[i].name, unit) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return -EINVAL;
        mult = units[i].bytes;
    }
    uint64_t v;
    int r = str_to_u64(value, 10, &v);
    if (r < 0)
        return r;
    unsigned long long bytes;
    if (__builtin_mul_overflow((unsigned long long)v, mult, &bytes))
        return -ERANGE;
    unsigned long long k = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    /* libvirt caps memory at what fits in an unsigned long long of bytes (per KiB: LLONG_MAX/1024).
     */
    if (k > 9007199254740991ULL)
        return -ERANGE;
    *kib = k;
    return 0;
}

int domain_name_check(const char *name, unsigned flags, struct verr *err)
{
    if (!name || !*name)
        return verr_set(err, EINVAL, "missing domain name: element 'name' is empty");
    if (strchr(name, '/'))
        return verr_set(err, EINVAL, "invalid domain name '%s' in element 'name': contains '/'",
                        name);
    size_t digits = strspn(name, "0123456789");
    if (name[digits] == '\0')
        return verr_set(err, EINVAL,
                        "invalid domain name '%s' in element 'name': cannot be only digits", name);
    if (flags & DOMAIN_PARSE_STRICT_NAMES) {
        size_t len = strlen(name);
        if (len > 64)
            return verr_set(err, EINVAL,
                            "invalid domain name '%s' in element 'name': longer than 64 characters",
                            name);
        for (const char *p = name; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != ':' && *p != '-')
                return verr_set(err, EINVAL,
                                "invalid domain name '%s' in element 'name': character '%c' is "
                                "not in [A-Za-z0-9_:-]",
                                name, *p);
    }
    return 0;
}

/* ---- deep copy and free ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void address_copy(struct domain_address *dst, const struct domain_address *src)
{
    *dst = *src;
    dst->other = xnode_copy(src->other);
}

static struct xnode **nodes_copy(struct xnode *const *v, size_t n)
{
    if (!n)
        return NULL;
    struct xnode **c = xcalloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = xnode_copy(v[i]);
    return c;
}

static void nodes_free(struct xnode **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xnode_free(v[i]);
    free(v);
}

int domain_disk_name_to_index(const char *name, const char **prefix_end)
{
    static const char *const prefixes[] = {"fd", "hd", "vd", "sd", "xvd", "ubd", NULL};
    for (int i = 0; prefixes[i]; i++) {
        size_t l = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], l) != 0)
            continue;
        const char *p = name + l;
        if (!*p)
            return -1;
        long idx = 0;
        for (; *p >= 'a' && *p <= 'z'; p++) {
            idx = idx * 26 + (*p - 'a' + 1);
            if (idx > 1000000)
                return -1;
        }
        if (*p)
            return -1; /* partitions ("vda1") are not disk targets */
        if (prefix_end)
            *prefix_end = prefixes[i];
        return (int)(idx - 1);
    }
    return -1;
}

void domain_disk_clear(struct domain_disk *d)
{
    free(d->source_path);
    free(d->source_protocol);
    free(d->source_name);
    free(d->driver_name);
    free(d->driver_type);
    free(d->driver_cache);
    free(d->driver_io);
    free(d->driver_discard);
    free(d->driver_detect_zeroes);
    free(d->target_dev);
    free(d->serial);
    free(d->alias);
    xnode_free(d->address.other);
    xnode_free(d->source);
    xnode_free(d->backing);
    xnode_free(d->driver_node);
    xnode_free(d->target_node);
    nodes_free(d->extra, d->nextra);
    memset(d, 0, sizeof(*d));
}

void domain_net_clear(struct domain_net *n)
{
    free(n->source_network);
    free(n->source_bridge);
    free(n->source_dev);
    free(n->source_mode);
    free(n->model);
    free(n->target_dev);
    free(n->driver_name);
    free(n->alias);
    xnode_free(n->address.other);
    xnode_free(n->source);
    xnode_free(n->driver_node);
    xnode_free(n->target_node);
    nodes_free(n->extra, n->nextra);
    memset(n, 0, sizeof(*n));
}

void domain_controller_clear(struct domain_controller *c)
{
    free(c->model);
    xnode_free(c->address.other);
    nodes_free(c->extra, c->nextra);
    memset(c, 0, sizeof(*c));
}

static void disk_copy(struct domain_disk *d, const struct domain_disk *s)
{
    *d = *s;
    d->source_path = dup_or_null(s->source_path);
    d->source_protocol = dup_or_null(s->source_protocol);
    d->source_name = dup_or_null(s->source_name);
    d->driver_name = dup_or_null(s->driver_name);
    d->driver_type = dup_or_null(s->driver_type);
    d->driver_cache = dup_or_null(s->driver_cache);
    d->driver_io = dup_or_null(s->driver_io);
    d->driver_discard = dup_or_null(s->driver_discard);
    d->driver_detect_zeroes = dup_or_null(s->driver_detect_zeroes);
    d->target_dev = dup_or_null(s->target_dev);
    d->serial = dup_or_null(s->serial);
    d->alias = dup_or_null(s->alias);
    address_copy(&d->address, &s->address);
    d->source = xnode_copy(s->source);
    d->backing = xnode_copy(s->backing);
    d->driver_node = xnode_copy(s->driver_node);
    d->target_node = xnode_copy(s->target_node);
    d->extra = nodes_copy(s->extra, s->nextra);
}

static void net_copy(struct domain_net *d, const struct domain_net *s)
{
    *d = *s;
    d->source_network = dup_or_null(s->source_network);
    d->source_bridge = dup_or_null(s->source_bridge);
    d->source_dev = dup_or_null(s->source_dev);
    d->source_mode = dup_or_null(s->source_mode);
    d->model = dup_or_null(s->model);
    d->target_dev = dup_or_null(s->target_dev);
    d->driver_name = dup_or_null(s->driver_name);
    d->alias = dup_or_null(s->alias);
    address_copy(&d->address, &s->address);
    d->source = xnode_copy(s->source);
    d->driver_node = xnode_copy(s->driver_node);
    d->target_node = xnode_copy(s->target_node);
    d->extra = nodes_copy(s->extra, s->nextra);
}

static void controller_copy(struct domain_controller *d, const struct domain_controller *s)
{
    *d = *s;
    d->model = dup_or_null(s->model);
    address_copy(&d->address, &s->address);
    d->extra = nodes_copy(s->extra, s->nextra);
}

void domain_def_add_disk(struct domain_def *def, const struct domain_disk *src)
{
    def->disks = xreallocarray(def->disks, def->ndisks + 1, sizeof(*def->disks));
    disk_copy(&def->disks[def->ndisks++], src);
}

void domain_def_add_net(struct domain_def *def, const struct domain_net *src)
{
    def->nets = xreallocarray(def->nets, def->nnets + 1, sizeof(*def->nets));
    net_copy(&def->nets[def->nnets++], src);
}

void domain_def_remove_disk(struct domain_def *def, size_t i)
{
    if (i >= def->ndisks)
        return;
    domain_disk_clear(&def->disks[i]);
    memmove(&def->disks[i], &def->disks[i + 1], (def->ndisks - i - 1) * sizeof(*def->disks));
    def->ndisks--;
}

void domain_def_remove_net(struct domain_def *def, size_t i)
{
    if (i >= def->nnets)
        return;
    domain_net_clear(&def->nets[i]);
    memmove(&def->nets[i], &def->nets[i + 1], (def->nnets - i - 1) * sizeof(*def->nets));
    def->nnets--;
}

struct domain_def *domain_def_copy(const struct domain_def *s)
{
    if (!s)
        return NULL;
    struct domain_def *d = xmalloc(sizeof(*d));
    *d = *s;
    d->name = dup_or_null(s->name);
    d->genid = dup_or_null(s->genid);
    d->title = dup_or_null(s->title);
    d->description = dup_or_null(s->description);
    d->metadata = xnode_copy(s->metadata);
    d->vcpu_placement = dup_or_null(s->vcpu_placement);
    d->cpuset = dup_or_null(s->cpuset);
    d->vcpu_states = NULL;
    if (s->vcpu_states) {
        d->vcpu_states = xcalloc(s->vcpus, sizeof(*d->vcpu_states));
        memcpy(d->vcpu_states, s->vcpu_states, s->vcpus * sizeof(*d->vcpu_states));
    }
    d->vcpupins = s->nvcpupins ? xcalloc(s->nvcpupins, sizeof(*d->vcpupins)) : NULL;
    for (size_t i = 0; i < s->nvcpupins; i++) {
        d->vcpupins[i].vcpu = s->vcpupins[i].vcpu;
        d->vcpupins[i].cpuset = xstrdup(s->vcpupins[i].cpuset);
    }
    d->emulatorpin = dup_or_null(s->emulatorpin);
    d->iothreadpins = s->niothreadpins ? xcalloc(s->niothreadpins, sizeof(*d->iothreadpins)) : NULL;
    for (size_t i = 0; i < s->niothreadpins; i++) {
        d->iothreadpins[i].iothread = s->iothreadpins[i].iothread;
        d->iothreadpins[i].cpuset = xstrdup(s->iothreadpins[i].cpuset);
    }
    d->cputune_extra = nodes_copy(s->cputune_extra, s->ncputune_extra);
    d->os_type = dup_or_null(s->os_type);
    d->os_arch = dup_or_null(s->os_arch);
    d->os_machine = dup_or_null(s->os_machine);
    d->os_loader = dup_or_null(s->os_loader);
    d->os_loader_node = xnode_copy(s->os_loader_node);
    d->os_nvram = dup_or_null(s->os_nvram);
    d->os_nvram_node = xnode_copy(s->os_nvram_node);
    d->os_kernel = dup_or_null(s->os_kernel);
    d->os_initrd = dup_or_null(s->os_initrd);
    d->os_cmdline = dup_or_null(s->os_cmdline);
    d->os_dtb = dup_or_null(s->os_dtb);
    d->smbios_mode = dup_or_null(s->smbios_mode);
    d->bios_useserial = dup_or_null(s->bios_useserial);
    d->os_firmware = dup_or_null(s->os_firmware);
    d->os_extra = nodes_copy(s->os_extra, s->nos_extra);
    d->cpu = xnode_copy(s->cpu);
    d->blkiotune = xnode_copy(s->blkiotune);
    d->memtune = xnode_copy(s->memtune);
    d->memory_backing = xnode_copy(s->memory_backing);
    d->numatune = xnode_copy(s->numatune);
    d->resource = xnode_copy(s->resource);
    d->sysinfo = xnode_copy(s->sysinfo);
    d->bootloader = xnode_copy(s->bootloader);
    d->bootloader_args = xnode_copy(s->bootloader_args);
    d->idmap = xnode_copy(s->idmap);
    d->features = xnode_copy(s->features);
    d->clock = xnode_copy(s->clock);
    d->pm = xnode_copy(s->pm);
    d->perf = xnode_copy(s->perf);
    d->keywrap = xnode_copy(s->keywrap);
    d->launch_security = xnode_copy(s->launch_security);
    d->seclabels = nodes_copy(s->seclabels, s->nseclabels);
    d->kept = nodes_copy(s->kept, s->nkept);
    d->emulator = dup_or_null(s->emulator);
    d->disks = s->ndisks ? xcalloc(s->ndisks, sizeof(*d->disks)) : NULL;
    for (size_t i = 0; i < s->ndisks; i++)
        disk_copy(&d->disks[i], &s->disks[i]);
    d->controllers = s->ncontrollers ? xcalloc(s->ncontrollers, sizeof(*d->controllers)) : NULL;
    for (size_t i = 0; i < s->ncontrollers; i++)
        controller_copy(&d->controllers[i], &s->controllers[i]);
    d->nets = s->nnets ? xcalloc(s->nnets, sizeof(*d->nets)) : NULL;
    for (size_t i = 0; i < s->nnets; i++)
        net_copy(&d->nets[i], &s->nets[i]);
    d->devices = s->ndevices ? xcalloc(s->ndevices, sizeof(*d->devices)) : NULL;
    for (size_t i = 0; i < s->ndevices; i++)
        d->devices[i].node = xnode_copy(s->devices[i].node);
    d->memballoon = domain_memballoon_copy(s->memballoon);
    d->rngs = s->nrngs ? xcalloc(s->nrngs, sizeof(*d->rngs)) : NULL;
    for (size_t i = 0; i < s->nrngs; i++)
        domain_rng_copy(&d->rngs[i], &s->rngs[i]);
    return d;
}

void domain_def_free(struct domain_def *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->genid);
    free(d->title);
    free(d->description);
    xnode_free(d->metadata);
    free(d->vcpu_placement);
    free(d->cpuset);
    free(d->vcpu_states);
    for (size_t i = 0; i < d->nvcpupins; i++)
        free(d->vcpupins[i].cpuset);
    free(d->vcpupins);
    free(d->emulatorpin);
    for (size_t i = 0; i < d->niothreadpins; i++)
        free(d->iothreadpins[i].cpuset);
    free(d->iothreadpins);
    nodes_free(d->cputune_extra, d->ncputune_extra);
    free(d->os_type);
    free(d->os_arch);
    free(d->os_machine);
    free(d->os_loader);
    xnode_free(d->os_loader_node);
    free(d->os_nvram);
    xnode_free(d->os_nvram_node);
    free(d->os_kernel);
    free(d->os_initrd);
    free(d->os_cmdline);
    free(d->os_dtb);
    free(d->smbios_mode);
    free(d->bios_useserial);
    free(d->os_firmware);
    nodes_free(d->os_extra, d->nos_extra);
    xnode_free(d->cpu);
    struct xnode *kept[] = {d->blkiotune, d->memtune,  d->memory_backing, d->numatune,
                            d->resource,  d->sysinfo,  d->bootloader,     d->bootloader_args,
                            d->idmap,     d->features, d->clock,          d->pm,
                            d->perf,      d->keywrap,  d->launch_security};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        xnode_free(kept[i]);
    nodes_free(d->seclabels, d->nseclabels);
    nodes_free(d->kept, d->nkept);
    free(d->emulator);
    for (size_t i = 0; i < d->ndisks; i++)
        domain_disk_clear(&d->disks[i]);
    free(d->disks);
    for (size_t i = 0; i < d->ncontrollers; i++)
        domain_controller_clear(&d->controllers[i]);
    free(d->controllers);
    for (size_t i = 0; i < d->nnets; i++)
        domain_net_clear(&d->nets[i]);
    free(d->nets);
    for (size_t i = 0; i < d->ndevices; i++)
        xnode_free(d->devices[i].node);
    domain_memballoon_free(d->memballoon);
    for (size_t i = 0; i < d->nrngs; i++)
        domain_rng_clear(&d->rngs[i]);
    free(d->rngs);
    free(d->devices);
    free(d);
}
