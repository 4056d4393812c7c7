/*
 * virtio-devices.c - the PCI bus and virtio devices of one VM, built from
 * cfg->virtio (see virtio-devices.h). Devices are kept in a list in command
 * line order (QMP's query-pci and query-block walk it); each plugs itself
 * into the first free PCI slot.
 */
#include "vmm/dev/virtio-devices.h"
#include "util/mem.h"
#include "vmm/cli.h"
#include "vmm/dev/pci.h"
#include "vmm/dev/virtio-balloon.h"
#include "vmm/dev/virtio-blk.h"
#include "vmm/dev/virtio-console.h"
#include "vmm/dev/virtio-net.h"
#include "qmp/qmp-server.h"
#include "vmm/vm.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vm_virtio {
    unsigned nr;
    struct {
        enum vmm_virtio_kind kind;
        struct virtio_blk *blk;
        struct virtio_rng *rng;
        struct virtio_balloon *balloon;
        struct virtio_net *net;
        struct virtio_console *console;
        const struct vmm_drive *drive;
        const char *id;
    } dev[VMM_MAX_VIRTIO_DEVICES];
    struct virtio_balloon *balloon; /* the one balloon, if any */
    pthread_mutex_t qmp_lock;       /* guards qmp against vm_virtio_qmp_unregister */
    struct qmp_server *qmp;         /* set once QMP is up (BALLOON_CHANGE events) */
};

static const char *type_name(enum vmm_virtio_kind k);

static struct virtio_pci *transport_of(struct vm_virtio *v, unsigned i)
{
    if (v->dev[i].blk)
        return virtio_blk_transport(v->dev[i].blk);
    if (v->dev[i].balloon)
        return virtio_balloon_transport(v->dev[i].balloon);
    if (v->dev[i].net)
        return virtio_net_transport(v->dev[i].net);
    if (v->dev[i].console)
        return virtio_console_transport(v->dev[i].console);
    return virtio_rng_transport(v->dev[i].rng);
}

int vm_virtio_create(struct vm *vm, struct verr *err)
{
    const struct vmm_virtio_config *vc = &vm->cfg->virtio;
    int r = pci_bus_create(vm, &vm->pci, err);
    if (r < 0)
        return r;
    vm->virtio = xcalloc(1, sizeof(*vm->virtio));
    pthread_mutex_init(&vm->virtio->qmp_lock, NULL);
    for (unsigned i = 0; i < vc->nr_devices; i++) {
        const struct vmm_virtio_device *d = &vc->devices[i];
        struct vm_virtio *v = vm->virtio;
        v->dev[v->nr].kind = d->kind;
        v->dev[v->nr].id = d->id;
        struct pci_place place = d->place;
        place.id = d->id;
        if (d->kind == VMM_VIRTIO_BLK) {
            const struct vmm_drive *dr = &vc->drives[d->drive];
            struct virtio_blk_options o = {
                .file = dr->file,
                .format = dr->format,
                .serial = d->serial,
                .cache = dr->cache,
                .read_only = dr->read_only,
                .discard_unmap = dr->discard_unmap,
                .io_uring = dr->aio_io_uring,
                .num_queues = d->num_queues,
            };
            v->dev[v->nr].drive = dr;
            r = virtio_blk_create(vm, &o, &place, &v->dev[v->nr].blk, err);
        } else if (d->kind == VMM_VIRTIO_BALLOON) {
            r = virtio_balloon_create(vm, &place, &v->dev[v->nr].balloon, err);
            v->balloon = v->dev[v->nr].balloon;
        } else if (d->kind == VMM_VIRTIO_NET) {
            r = virtio_net_create(vm, &vc->netdevs[d->netdev], d->mac, d->host_mtu, &place,
                                  &v->dev[v->nr].net, err);
        } else if (d->kind == VMM_VIRTIO_CONSOLE) {
            r = virtio_console_create(vm, &vm->cfg->console, d->console, vm->chardevs, &place,
                                      &v->dev[v->nr].console, err);
        } else {
            r = virtio_rng_create(vm, &place, &v->dev[v->nr].rng, err);
        }
        if (r < 0)
            return verr_prefix(err, "%s", d->what);
        v->nr++;
    }
    return 0;
}

void vm_virtio_reset(struct vm *vm)
{
    struct vm_virtio *v = vm->virtio;
    for (unsigned i = 0; v && i < v->nr; i++)
        virtio_pci_system_reset(transport_of(v, i));
}

void vm_virtio_free(struct vm *vm)
{
    struct vm_virtio *v = vm->virtio;
    for (unsigned i = 0; v && i < v->nr; i++) {
        virtio_blk_free(v->dev[i].blk);
        virtio_rng_free(v->dev[i].rng);
        virtio_balloon_free(v->dev[i].balloon);
        virtio_net_free(v->dev[i].net);
        virtio_console_free(v->dev[i].console);
    }
    if (v)
        pthread_mutex_destroy(&v->qmp_lock);
    free(v);
    vm->virtio = NULL;
    pci_bus_free(vm->pci);
    vm->pci = NULL;
}

/* --- QMP ------------------------------------------------------------------------------- */

static struct json_object *pci_device_json(struct pci_dev *d, const char *qdev_id)
{
    struct json_object *o = json_object_new_object();
    uint32_t class_code = (uint32_t)d->cfg[0x0b] << 8 | d->cfg[0x0a];
    json_object_object_add(o, "bus", json_object_new_int(0));
    json_object_object_add(o, "slot", json_object_new_int((int)d->slot));
    json_object_object_add(o, "function", json_object_new_int((int)d->fn));
    struct json_object *ci = json_object_new_object();
    const char *desc = class_code == 0x0600   ? "Host bridge"
                       : class_code == 0x0180 ? "SCSI controller"
                       : class_code == 0x0200 ? "Ethernet controller"
                                              : NULL;
    if (desc)
        json_object_object_add(ci, "desc", json_object_new_string(desc));
    json_object_object_add(ci, "class", json_object_new_int((int)class_code));
    json_object_object_add(o, "class_info", ci);
    struct json_object *id = json_object_new_object();
    json_object_object_add(id, "device", json_object_new_int(d->cfg[2] | d->cfg[3] << 8));
    json_object_object_add(id, "vendor", json_object_new_int(d->cfg[0] | d->cfg[1] << 8));
    json_object_object_add(id, "subsystem", json_object_new_int(d->cfg[0x2e] | d->cfg[0x2f] << 8));
    json_object_object_add(id, "subsystem-vendor",
                           json_object_new_int(d->cfg[0x2c] | d->cfg[0x2d] << 8));
    json_object_object_add(o, "id", id);
    if (d->cfg[0x3d]) {
        json_object_object_add(o, "irq", json_object_new_int((int)d->intx_gsi));
        json_object_object_add(o, "irq_pin", json_object_new_int(d->cfg[0x3d]));
    } else {
        json_object_object_add(o, "irq_pin", json_object_new_int(0));
    }
    json_object_object_add(o, "qdev_id", json_object_new_string(qdev_id ? qdev_id : ""));
    struct json_object *regions = json_object_new_array();
    for (unsigned i = 0; i < PCI_NR_BARS; i++) {
        if (!d->bars[i].size)
            continue;
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "bar", json_object_new_int((int)i));
        json_object_object_add(r, "type", json_object_new_string("memory"));
        json_object_object_add(
            r, "address", json_object_new_int64(d->bars[i].addr ? (int64_t)d->bars[i].addr : -1));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)d->bars[i].size));
        json_object_object_add(r, "prefetch", json_object_new_boolean(0));
        json_object_object_add(r, "mem_type_64", json_object_new_boolean(d->bars[i].is64));
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    return o;
}

static int qmp_query_pci(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct json_object *devs = json_object_new_array();
    for (unsigned f = 0; f < PCI_NR_DEVFNS; f++) {
        struct pci_dev *d = pci_bus_function(vm->pci, f);
        if (d)
            json_object_array_add(devs, pci_device_json(d, d->id));
    }
    struct json_object *bus = json_object_new_object();
    json_object_object_add(bus, "bus", json_object_new_int(0));
    json_object_object_add(bus, "devices", devs);
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, bus);
    *ret = list;
    return 0;
}

static int qmp_query_block(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct vm_virtio *v = vm->virtio;
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; v && i < v->nr; i++) {
        if (!v->dev[i].blk)
            continue;
        const struct vmm_drive *dr = v->dev[i].drive;
        struct block_dev *bd = virtio_blk_block(v->dev[i].blk);
        char name[32];
        snprintf(name, sizeof(name), "virtio%u", i);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "device", json_object_new_string(dr->id ? dr->id : name));
        if (v->dev[i].id)
            json_object_object_add(o, "qdev", json_object_new_string(v->dev[i].id));
        json_object_object_add(o, "locked", json_object_new_boolean(0));
        json_object_object_add(o, "removable", json_object_new_boolean(0));
        struct json_object *ins = json_object_new_object();
        json_object_object_add(ins, "file", json_object_new_string(dr->file));
        if (dr->node_name)
            json_object_object_add(ins, "node-name", json_object_new_string(dr->node_name));
        json_object_object_add(ins, "ro", json_object_new_boolean(dr->read_only));
        json_object_object_add(ins, "drv", json_object_new_string(block_format(bd)));
        struct block_dev *backing = block_backing(bd);
        if (backing)
            json_object_object_add(ins, "backing_file",
                                   json_object_new_string(block_filename(backing)));
        int depth = 0;
        for (struct block_dev *b = backing; b; b = block_backing(b))
            depth++;
        json_object_object_add(ins, "backing_file_depth", json_object_new_int(depth));
        json_object_object_add(ins, "encrypted", json_object_new_boolean(0));
        json_object_object_add(ins, "detect_zeroes", json_object_new_string("off"));
        struct json_object *cache = json_object_new_object();
        json_object_object_add(cache, "writeback",
                               json_object_new_boolean(dr->cache != BLOCK_CACHE_WRITETHROUGH &&
                                                       dr->cache != BLOCK_CACHE_DIRECTSYNC));
        json_object_object_add(cache, "direct",
                               json_object_new_boolean(dr->cache == BLOCK_CACHE_NONE ||
                                                       dr->cache == BLOCK_CACHE_DIRECTSYNC));
        json_object_object_add(cache, "no-flush",
                               json_object_new_boolean(dr->cache == BLOCK_CACHE_UNSAFE));
        json_object_object_add(ins, "cache", cache);
        struct json_object *img = json_object_new_object();
        json_object_object_add(img, "filename", json_object_new_string(block_filename(bd)));
        json_object_object_add(img, "format", json_object_new_string(block_format(bd)));
        json_object_object_add(img, "virtual-size", json_object_new_int64((int64_t)block_size(bd)));
        json_object_object_add(ins, "image", img);
        json_object_object_add(o, "inserted", ins);
        json_object_object_add(o, "type", json_object_new_string("unknown"));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

/* block_resize {"device": ID} or {"node-name": NAME}, "size": BYTES, with QEMU 7.2's error
 * wording (checked against it: device wins when both are given; a missing one reads as
 * ''). Differences: qcow2 cannot shrink here (QEMU 7.2 shrinks it), and raw sizes need not
 * be multiples of 512 in either (the guest sees whole sectors). */
static int qmp_block_resize(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    struct vm_virtio *v = vm->virtio;
    struct json_object *jd = json_object_object_get(args, "device");
    struct json_object *jn = json_object_object_get(args, "node-name");
    const char *dev = jd ? json_object_get_string(jd) : "";
    const char *node = jn ? json_object_get_string(jn) : "";
    int64_t size = json_object_get_int64(json_object_object_get(args, "size"));
    struct virtio_blk *blk = NULL;
    for (unsigned i = 0; v && i < v->nr && !blk; i++)
        if (v->dev[i].blk && jd && v->dev[i].drive->id && !strcmp(v->dev[i].drive->id, dev))
            blk = v->dev[i].blk;
    for (unsigned i = 0; v && i < v->nr && !blk; i++)
        if (v->dev[i].blk && jn && v->dev[i].drive->node_name &&
            !strcmp(v->dev[i].drive->node_name, node))
            blk = v->dev[i].blk;
    if (!blk)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             dev, node);
    if (size < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'size' expects a >0 size");
    struct block_dev *bd = virtio_blk_block(blk);
    if (block_is_read_only(bd))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Image is read-only");
    if (strcmp(block_format(bd), "raw") && size % 512)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "The new size must be a multiple of 512");
    struct verr e = {0};
    if (virtio_blk_resize(blk, (uint64_t)size, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Could not resize: %s", verr_msg(&e));
    return 0;
}

/* Balloon: sizes on the wire are bytes of memory the guest keeps (QEMU's meaning). */

static int64_t balloon_actual_bytes(struct vm *vm, uint32_t pages)
{
    uint64_t out = (uint64_t)pages << VIRTIO_BALLOON_PAGE_SHIFT;
    uint64_t ram = vm->cfg->mem_size;
    return (int64_t)(out < ram ? ram - out : 0);
}

/* vCPU thread: the driver wrote a new `actual`. */
static void balloon_changed(void *opaque, uint32_t pages)
{
    struct vm *vm = opaque;
    struct vm_virtio *v = vm->virtio;
    pthread_mutex_lock(&v->qmp_lock);
    if (v->qmp) {
        struct json_object *data = json_object_new_object();
        json_object_object_add(data, "actual",
                               json_object_new_int64(balloon_actual_bytes(vm, pages)));
        qmp_server_emit_event_threadsafe(v->qmp, "BALLOON_CHANGE", data);
    }
    pthread_mutex_unlock(&v->qmp_lock);
}

static int qmp_balloon(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    struct virtio_balloon *b = vm->virtio ? vm->virtio->balloon : NULL;
    if (!b)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_ACTIVE,
                             "No balloon device has been activated");
    int64_t value = json_object_get_int64(json_object_object_get(args, "value"));
    if (value <= 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'value' expects a size (positive byte count)");
    uint64_t ram = vm->cfg->mem_size;
    uint64_t target = (uint64_t)value < ram ? (uint64_t)value : ram;
    virtio_balloon_set_target(b, (uint32_t)((ram - target) >> VIRTIO_BALLOON_PAGE_SHIFT));
    return 0;
}

static int qmp_query_balloon(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args;
    struct vm *vm = opaque;
    struct virtio_balloon *b = vm->virtio ? vm->virtio->balloon : NULL;
    if (!b)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_ACTIVE,
                             "No balloon device has been activated");
    struct json_object *o = json_object_new_object();
    json_object_object_add(
        o, "actual", json_object_new_int64(balloon_actual_bytes(vm, virtio_balloon_actual(b))));
    *ret = o;
    return 0;
}

/* qom-get / qom-set on virtio devices: /machine/peripheral/ID (or the bare ID, QEMU's
 * partial path); only the balloon has properties here: guest-stats (read-only) and
 * guest-stats-polling-interval (seconds). Wording checked against QEMU 7.2. */
static const char *const stat_names[VIRTIO_BALLOON_NR_STATS] = {
    "stat-swap-in",      "stat-swap-out",     "stat-major-faults",     "stat-minor-faults",
    "stat-free-memory",  "stat-total-memory", "stat-available-memory", "stat-disk-caches",
    "stat-htlb-pgalloc", "stat-htlb-pgfail",
};

static const char *type_name(enum vmm_virtio_kind k)
{
    switch (k) {
    case VMM_VIRTIO_BLK:
        return "virtio-blk-pci";
    case VMM_VIRTIO_RNG:
        return "virtio-rng-pci";
    case VMM_VIRTIO_BALLOON:
        return "virtio-balloon-pci";
    case VMM_VIRTIO_NET:
        return "virtio-net-pci";
    case VMM_VIRTIO_CONSOLE:
        return "virtio-serial-pci";
    }
    return "device";
}

/* The device at path, or -1 with err filled. */
static int qom_find(struct vm *vm, const char *path, const char *prop, struct qmp_error *err)
{
    struct vm_virtio *v = vm->virtio;
    const char *pfx = "/machine/peripheral/";
    const char *id = !strncmp(path, pfx, strlen(pfx)) ? path + strlen(pfx) : path;
    for (unsigned i = 0; v && i < v->nr; i++)
        if (v->dev[i].id && !strcmp(v->dev[i].id, id))
            return (int)i;
    if (!strcmp(path, "/machine/peripheral") || !strcmp(path, "/machine/peripheral-anon"))
        qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'container.%s' not found", prop);
    else
        qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    return -1;
}

static int qmp_qom_get(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss;
    struct vm *vm = opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    int i = qom_find(vm, path, prop, err);
    if (i < 0)
        return -1;
    struct virtio_balloon *b = vm->virtio->dev[i].balloon;
    if (b && !strcmp(prop, "guest-stats")) {
        uint64_t st[VIRTIO_BALLOON_NR_STATS];
        int64_t last;
        virtio_balloon_get_stats(b, st, &last);
        struct json_object *stats = json_object_new_object();
        for (unsigned k = 0; k < VIRTIO_BALLOON_NR_STATS; k++)
            json_object_object_add(stats, stat_names[k], json_object_new_uint64(st[k]));
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "stats", stats);
        json_object_object_add(o, "last-update", json_object_new_int64(last));
        *ret = o;
        return 0;
    }
    if (b && !strcmp(prop, "guest-stats-polling-interval")) {
        *ret = json_object_new_int64(virtio_balloon_poll_interval(b));
        return 0;
    }
    return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' not found",
                         type_name(vm->virtio->dev[i].kind), prop);
}

static int qmp_qom_set(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    struct json_object *val = json_object_object_get(args, "value");
    int i = qom_find(vm, path, prop, err);
    if (i < 0)
        return -1;
    struct virtio_balloon *b = vm->virtio->dev[i].balloon;
    if (b && !strcmp(prop, "guest-stats"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Property 'virtio-balloon-device.guest-stats' is not writable");
    if (b && !strcmp(prop, "guest-stats-polling-interval")) {
        if (!json_object_is_type(val, json_type_int))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'guest-stats-polling-interval', "
                                 "expected: integer");
        int64_t s = json_object_get_int64(val);
        if (s < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "timer value must be greater than zero");
        if (s > UINT32_MAX)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "timer value is too big");
        virtio_balloon_set_poll_interval(b, (uint32_t)s);
        return 0;
    }
    return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' not found",
                         type_name(vm->virtio->dev[i].kind), prop);
}

int vm_virtio_qmp_register(struct vm *vm, struct qmp_server *server)
{
    static const struct qmp_arg balloon_args[] = {{"value", QMP_ARG_INT, false}, {NULL}};
    static const struct qmp_arg qom_get_args[] = {
        {"path", QMP_ARG_STRING, false}, {"property", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg qom_set_args[] = {{"path", QMP_ARG_STRING, false},
                                                  {"property", QMP_ARG_STRING, false},
                                                  {"value", QMP_ARG_ANY, false},
                                                  {NULL}};
    static const struct qmp_arg resize_args[] = {{"device", QMP_ARG_STRING, true},
                                                 {"node-name", QMP_ARG_STRING, true},
                                                 {"size", QMP_ARG_INT, false},
                                                 {NULL}};
    int r = qmp_server_register(server, "query-pci", NULL, qmp_query_pci, vm);
    if (r == 0)
        r = qmp_server_register(server, "query-block", NULL, qmp_query_block, vm);
    if (r == 0)
        r = qmp_server_register(server, "balloon", balloon_args, qmp_balloon, vm);
    if (r == 0)
        r = qmp_server_register(server, "query-balloon", NULL, qmp_query_balloon, vm);
    if (r == 0)
        r = virtio_console_qmp_register(vm, server);
    for (unsigned i = 0; r == 0 && vm->virtio && i < vm->virtio->nr; i++)
        if (vm->virtio->dev[i].console)
            virtio_console_set_qmp(vm->virtio->dev[i].console, server);
    if (r == 0)
        r = qmp_server_register(server, "block_resize", resize_args, qmp_block_resize, vm);
    if (r == 0)
        r = qmp_server_register(server, "qom-get", qom_get_args, qmp_qom_get, vm);
    if (r == 0)
        r = qmp_server_register(server, "qom-set", qom_set_args, qmp_qom_set, vm);
    if (r == 0 && vm->virtio && vm->virtio->balloon) {
        pthread_mutex_lock(&vm->virtio->qmp_lock);
        vm->virtio->qmp = server;
        pthread_mutex_unlock(&vm->virtio->qmp_lock);
        virtio_balloon_set_notify(vm->virtio->balloon, balloon_changed, vm);
    }
    return r;
}

void vm_virtio_qmp_unregister(struct vm *vm)
{
    if (!vm->virtio)
        return;
    for (unsigned i = 0; i < vm->virtio->nr; i++)
        if (vm->virtio->dev[i].console)
            virtio_console_set_qmp(vm->virtio->dev[i].console, NULL);
    pthread_mutex_lock(&vm->virtio->qmp_lock);
    vm->virtio->qmp = NULL;
    pthread_mutex_unlock(&vm->virtio->qmp_lock);
}
