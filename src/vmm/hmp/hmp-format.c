/*
 * hmp-format.c - the human monitor's "info" outputs from QMP replies, in QEMU 7.2's layout
 * (see hmp-format.h). Fields a reply lacks are left out as QEMU leaves them out.
 */
#include "vmm/hmp/hmp-format.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return (o && json_object_object_get_ex(o, key, &v)) ? v : NULL;
}

static int64_t get_int(struct json_object *o, const char *key)
{
    struct json_object *v = get(o, key);
    return v ? json_object_get_int64(v) : 0;
}

static bool get_bool(struct json_object *o, const char *key)
{
    struct json_object *v = get(o, key);
    return v && json_object_get_boolean(v);
}

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v = get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static size_t array_len(struct json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void fmt_status(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    bool running = get_bool(r, "running");
    const char *status = get_str(r, "status");
    buf_printf(out, "VM status: %s%s", running ? "running" : "paused",
               get_bool(r, "singlestep") ? " (single step mode)" : "");
    if (!running && status && strcmp(status, "paused"))
        buf_printf(out, " (%s)", status);
    buf_append_str(out, "\n");
}

static void fmt_name(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    const char *name = get_str(r, "name");
    if (name)
        buf_printf(out, "%s\n", name);
}

static void fmt_uuid(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    const char *uuid = get_str(r, "UUID");
    buf_printf(out, "%s\n", uuid ? uuid : "");
}

static void fmt_version(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    struct json_object *q = get(r, "qemu");
    const char *pkg = get_str(r, "package");
    buf_printf(out, "%" PRId64 ".%" PRId64 ".%" PRId64 "%s\n", get_int(q, "major"),
               get_int(q, "minor"), get_int(q, "micro"), pkg ? pkg : "");
}

static void fmt_kvm(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    buf_append_str(out, "kvm support: ");
    if (get_bool(r, "present"))
        buf_printf(out, "%s\n", get_bool(r, "enabled") ? "enabled" : "disabled");
    else
        buf_append_str(out, "not compiled\n");
}

static void fmt_cpus(struct json_object *r, int cpu, struct buf *out)
{
    for (size_t i = 0; i < array_len(r); i++) {
        struct json_object *c = json_object_array_get_idx(r, i);
        int64_t index = get_int(c, "cpu-index");
        buf_printf(out, "%c CPU #%" PRId64 ":", index == cpu ? '*' : ' ', index);
        buf_printf(out, " thread_id=%" PRId64 "\n", get_int(c, "thread-id"));
    }
}

static void fmt_chardev(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    for (size_t i = 0; i < array_len(r); i++) {
        struct json_object *c = json_object_array_get_idx(r, i);
        const char *label = get_str(c, "label"), *file = get_str(c, "filename");
        buf_printf(out, "%s: filename=%s\n", label ? label : "", file ? file : "");
    }
}

static void fmt_balloon(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    buf_printf(out, "balloon: actual=%" PRId64 "\n", get_int(r, "actual") >> 20);
}

static void fmt_blockstats(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    for (size_t i = 0; i < json_object_array_length(r); i++) {
        struct json_object *d = json_object_array_get_idx(r, i), *s = get(d, "stats");
        if (!get_str(d, "device"))
            continue; /* a node without a device: QEMU lists devices only */
        buf_printf(out,
                   "%s: rd_bytes=%" PRId64 " wr_bytes=%" PRId64 " rd_operations=%" PRId64
                   " wr_operations=%" PRId64 " flush_operations=%" PRId64
                   " wr_total_time_ns=%" PRId64 " rd_total_time_ns=%" PRId64
                   " flush_total_time_ns=%" PRId64 " rd_merged=%" PRId64 " wr_merged=%" PRId64
                   " idle_time_ns=%" PRId64 "\n",
                   get_str(d, "device"), get_int(s, "rd_bytes"), get_int(s, "wr_bytes"),
                   get_int(s, "rd_operations"), get_int(s, "wr_operations"),
                   get_int(s, "flush_operations"), get_int(s, "wr_total_time_ns"),
                   get_int(s, "rd_total_time_ns"), get_int(s, "flush_total_time_ns"),
                   get_int(s, "rd_merged"), get_int(s, "wr_merged"), get_int(s, "idle_time_ns"));
    }
}

/* From query-vnc (QEMU's own monitor reads query-vnc-servers; the lines are the same for
 * vireo-vmm's one server, without VeNCrypt, x509 or SASL). */
static void fmt_vnc(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    struct json_object *en = get(r, "enabled"), *clients = get(r, "clients");
    if (!en || !json_object_get_boolean(en)) {
        buf_printf(out, "None\n");
        return;
    }
    buf_printf(out, "default:\n  Server: %s:%s (%s)\n    Auth: %s (Sub: none)\n",
               get_str(r, "host"), get_str(r, "service"), get_str(r, "family"), get_str(r, "auth"));
    for (size_t i = 0; clients && i < json_object_array_length(clients); i++) {
        struct json_object *c = json_object_array_get_idx(clients, i), *ws = get(c, "websocket");
        buf_printf(out, "  Client: %s:%s (%s%s)\n    x509_dname: none\n    sasl_username: none\n",
                   get_str(c, "host"), get_str(c, "service"), get_str(c, "family"),
                   ws && json_object_get_boolean(ws) ? ", websocket" : "");
    }
}

static void fmt_block_one(struct json_object *d, struct buf *out)
{
    struct json_object *ins = get(d, "inserted");
    const char *node = get_str(ins, "node-name");
    buf_printf(out, "%s", get_str(d, "device") ? get_str(d, "device") : "");
    if (node)
        buf_printf(out, " (%s)", node);
    if (ins)
        buf_printf(out, ": %s (%s%s%s)\n", get_str(ins, "file") ? get_str(ins, "file") : "",
                   get_str(ins, "drv") ? get_str(ins, "drv") : "",
                   get_bool(ins, "ro") ? ", read-only" : "",
                   get_bool(ins, "encrypted") ? ", encrypted" : "");
    else
        buf_append_str(out, ": [not inserted]\n");
    if (get_str(d, "qdev"))
        buf_printf(out, "    Attached to:      %s\n", get_str(d, "qdev"));
    const char *io = get_str(d, "io-status");
    if (io && strcmp(io, "ok"))
        buf_printf(out, "    I/O status:       %s\n", io);
    if (get_bool(d, "removable"))
        buf_printf(out, "    Removable device: %slocked, tray %s\n",
                   get_bool(d, "locked") ? "" : "not ",
                   get_bool(d, "tray_open") ? "open" : "closed");
    if (!ins)
        return;
    struct json_object *cache = get(ins, "cache");
    buf_printf(out, "    Cache mode:       %s%s%s\n",
               get_bool(cache, "writeback") ? "writeback" : "writethrough",
               get_bool(cache, "direct") ? ", direct" : "",
               get_bool(cache, "no-flush") ? ", ignore flushes" : "");
    const char *backing = get_str(ins, "backing_file");
    if (backing)
        buf_printf(out, "    Backing file:     %s (chain depth: %" PRId64 ")\n", backing,
                   get_int(ins, "backing_file_depth"));
    const char *dz = get_str(ins, "detect_zeroes");
    if (dz && strcmp(dz, "off"))
        buf_printf(out, "    Detect zeroes:    %s\n", dz);
}

static void fmt_block(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    for (size_t i = 0; i < array_len(r); i++) {
        if (i)
            buf_append_str(out, "\n");
        fmt_block_one(json_object_array_get_idx(r, i), out);
    }
}

static void fmt_pci_device(struct json_object *d, struct buf *out)
{
    struct json_object *ci = get(d, "class_info"), *id = get(d, "id");
    buf_printf(out, "  Bus %2" PRId64 ", device %3" PRId64 ", function %" PRId64 ":\n",
               get_int(d, "bus"), get_int(d, "slot"), get_int(d, "function"));
    const char *desc = get_str(ci, "desc");
    if (desc)
        buf_printf(out, "    %s", desc);
    else
        buf_printf(out, "    Class %04" PRId64, get_int(ci, "class"));
    buf_printf(out, ": PCI device %04" PRIx64 ":%04" PRIx64 "\n", get_int(id, "vendor"),
               get_int(id, "device"));
    if (get(id, "subsystem-vendor") && get(id, "subsystem"))
        buf_printf(out, "      PCI subsystem %04" PRIx64 ":%04" PRIx64 "\n",
                   get_int(id, "subsystem-vendor"), get_int(id, "subsystem"));
    int64_t pin = get_int(d, "irq_pin");
    if (pin)
        buf_printf(out, "      IRQ %" PRId64 ", pin %c\n", get_int(d, "irq"),
                   (char)('A' + pin - 1));
    struct json_object *bridge = get(d, "pci_bridge");
    struct json_object *bus = get(bridge, "bus");
    if (bridge) {
        buf_printf(out, "      BUS %" PRId64 ".\n", get_int(bus, "number"));
        buf_printf(out, "      secondary bus %" PRId64 ".\n", get_int(bus, "secondary"));
        buf_printf(out, "      subordinate bus %" PRId64 ".\n", get_int(bus, "subordinate"));
        struct json_object *io = get(bus, "io_range"), *mem = get(bus, "memory_range"),
                           *pf = get(bus, "prefetchable_range");
        buf_printf(out, "      IO range [0x%04" PRIx64 ", 0x%04" PRIx64 "]\n", get_int(io, "base"),
                   get_int(io, "limit"));
        buf_printf(out, "      memory range [0x%08" PRIx64 ", 0x%08" PRIx64 "]\n",
                   get_int(mem, "base"), get_int(mem, "limit"));
        buf_printf(out, "      prefetchable memory range [0x%08" PRIx64 ", 0x%08" PRIx64 "]\n",
                   get_int(pf, "base"), get_int(pf, "limit"));
    }
    struct json_object *regions = get(d, "regions");
    for (size_t i = 0; i < array_len(regions); i++) {
        struct json_object *g = json_object_array_get_idx(regions, i);
        uint64_t addr = (uint64_t)get_int(g, "address"), size = (uint64_t)get_int(g, "size");
        const char *type = get_str(g, "type");
        buf_printf(out, "      BAR%" PRId64 ": ", get_int(g, "bar"));
        if (type && !strcmp(type, "io"))
            buf_printf(out, "I/O at 0x%04" PRIx64 " [0x%04" PRIx64 "].\n", addr, addr + size - 1);
        else
            buf_printf(out, "%d bit%s memory at 0x%08" PRIx64 " [0x%08" PRIx64 "].\n",
                       get_bool(g, "mem_type_64") ? 64 : 32,
                       get_bool(g, "prefetch") ? " prefetchable" : "", addr, addr + size - 1);
    }
    const char *qdev = get_str(d, "qdev_id");
    buf_printf(out, "      id \"%s\"\n", qdev ? qdev : "");
    struct json_object *children = get(bridge, "devices");
    for (size_t i = 0; i < array_len(children); i++)
        fmt_pci_device(json_object_array_get_idx(children, i), out);
}

static void fmt_pci(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    for (size_t b = 0; b < array_len(r); b++) {
        struct json_object *devs = get(json_object_array_get_idx(r, b), "devices");
        for (size_t i = 0; i < array_len(devs); i++)
            fmt_pci_device(json_object_array_get_idx(devs, i), out);
    }
}

/* info memory-devices: QEMU's list of DIMMs (hmp_info_memory_devices' fields, in its order;
 * a DIMM without an id shows ""). */
static void fmt_memory_devices(struct json_object *r, int cpu, struct buf *out)
{
    (void)cpu;
    for (size_t i = 0; i < array_len(r); i++) {
        struct json_object *m = json_object_array_get_idx(r, i), *d = get(m, "data");
        const char *type = get_str(m, "type"), *id = get_str(d, "id"),
                   *memdev = get_str(d, "memdev");
        buf_printf(out, "Memory device [%s]: \"%s\"\n", type ? type : "", id ? id : "");
        buf_printf(out, "  addr: 0x%" PRIx64 "\n", (uint64_t)get_int(d, "addr"));
        buf_printf(out, "  slot: %" PRId64 "\n", get_int(d, "slot"));
        buf_printf(out, "  node: %" PRId64 "\n", get_int(d, "node"));
        buf_printf(out, "  size: %" PRIu64 "\n", (uint64_t)get_int(d, "size"));
        buf_printf(out, "  memdev: %s\n", memdev ? memdev : "");
        buf_printf(out, "  hotplugged: %s\n", get_bool(d, "hotplugged") ? "true" : "false");
        buf_printf(out, "  hotpluggable: %s\n", get_bool(d, "hotpluggable") ? "true" : "false");
    }
}

const struct hmp_info hmp_infos[] = {
    {"balloon", "query-balloon", fmt_balloon, "show balloon information"},
    {"block", "query-block", fmt_block, "show info of one block device or all block devices"},
    {"blockstats", "query-blockstats", fmt_blockstats, "show block device statistics"},
    {"chardev", "query-chardev", fmt_chardev, "show the character devices"},
    {"cpus", "query-cpus-fast", fmt_cpus, "show infos for each CPU"},
    {"kvm", "query-kvm", fmt_kvm, "show KVM information"},
    {"memory-devices", "query-memory-devices", fmt_memory_devices, "show memory devices"},
    {"name", "query-name", fmt_name, "show the current VM name"},
    {"pci", "query-pci", fmt_pci, "show PCI info"},
    {"snapshots", NULL, NULL, "show the currently saved VM snapshots"},
    {"status", "query-status", fmt_status, "show the current VM status (running|paused)"},
    {"usb", NULL, NULL, "show guest USB devices"},
    {"uuid", "query-uuid", fmt_uuid, "show the current VM UUID"},
    {"version", "query-version", fmt_version, "show the version of QEMU"},
    {"vnc", "query-vnc", fmt_vnc, "show the vnc server status"},
    {NULL, NULL, NULL, NULL},
};
