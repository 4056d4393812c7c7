/*
 * block-qmp.c - QMP's block commands over the VM's drives (vm->blockdevs,
 * vmm/dev/blockdev.h), whatever device each is attached to (virtio-blk-pci,
 * scsi-hd, scsi-cd): query-block, block_resize, eject, blockdev-open-tray,
 * blockdev-close-tray, blockdev-change-medium and blockdev-snapshot-sync (and, through
 * block-transaction.c, transaction). Arguments, replies, error
 * classes and words are QEMU 7.2's (checked against it; the differences are
 * listed at each command). Registered by control.c, like query-pci.
 */
#include "vmm/dev/blk-throttle.h"
#include "vmm/dev/block-qmp.h"
#include "vmm/dev/block-transaction.h"
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *str_arg(struct json_object *args, const char *key)
{
    struct json_object *v = json_object_object_get(args, key);
    return v ? json_object_get_string(v) : NULL;
}

static bool bool_arg(struct json_object *args, const char *key)
{
    struct json_object *v = json_object_object_get(args, key);
    return v && json_object_get_boolean(v);
}

/* QEMU's qmp_get_blk: exactly one of device= (the drive's id) and id= (the device's id or
 * QOM path). */
static struct blockdev *find(struct vm *vm, struct json_object *args, const char **name,
                             struct qmp_error *err)
{
    const char *device = str_arg(args, "device"), *id = str_arg(args, "id");
    if (!device == !id) {
        qmp_error_set(err, QMP_ERROR_GENERIC, "Need exactly one of 'device' and 'id'");
        return NULL;
    }
    *name = device ? device : id;
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct blockdev *b = vm->blockdevs[i];
        if (!b)
            continue;
        if (device && str_eq(b->drive->id, device))
            return b;
        if (id && (str_eq(b->qdev, id) || (str_starts_with(id, "/machine/peripheral/") &&
                                           str_eq(b->qdev, id + strlen("/machine/peripheral/")))))
            return b;
    }
    if (id && dev_find_id(vm, id))
        qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' does not have a block device backend",
                      id);
    else
        qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", *name);
    return NULL;
}

static int failed(struct qmp_error *err, const struct verr *e)
{
    return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(e));
}

static int qmp_query_block(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i])
            json_object_array_add(list, blockdev_query(vm->blockdevs[i]));
    *ret = list;
    return 0;
}

/* query-blockstats [{"query-nodes": true}]: each drive's accounting (blockdev.h) under its
 * device name, QOM path and node name; with query-nodes, each drive's top node alone, as
 * QEMU lists its nodes (vireo-vmm has no separate protocol node under a format node, so
 * there is no "parent"). */
static int qmp_query_blockstats(struct qmp_session *ss, struct json_object *args,
                                struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)err;
    struct vm *vm = opaque;
    struct json_object *qn = NULL;
    bool nodes =
        args && json_object_object_get_ex(args, "query-nodes", &qn) && json_object_get_boolean(qn);
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct blockdev *b = vm->blockdevs[i];
        if (!b)
            continue;
        const char *node = blockdev_node_name(b);
        if (nodes && !node)
            continue;
        struct json_object *o = json_object_new_object();
        if (!nodes) {
            json_object_object_add(o, "device", json_object_new_string(b->drive->id));
            json_object_object_add(o, "qdev", json_object_new_string(b->qdev));
        }
        if (node)
            json_object_object_add(o, "node-name", json_object_new_string(node));
        json_object_object_add(o, "stats", blockdev_stats_json(b));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

/* block_resize {"device": ID} or {"node-name": NAME}, "size": BYTES, with QEMU 7.2's error
 * wording (checked against it: device wins when both are given; a missing one reads as
 * ''). Difference: raw sizes need not be multiples of 512 (the guest sees whole sectors). */
static int qmp_block_resize(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *devname = str_arg(args, "device"), *node = str_arg(args, "node-name");
    int64_t size = json_object_get_int64(json_object_object_get(args, "size"));
    struct blockdev *b = NULL;
    for (unsigned i = 0; devname && !b && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && str_eq(vm->blockdevs[i]->drive->id, devname))
            b = vm->blockdevs[i];
    for (unsigned i = 0; node && !b && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && blockdev_node_name(vm->blockdevs[i]) &&
            str_eq(blockdev_node_name(vm->blockdevs[i]), node))
            b = vm->blockdevs[i];
    if (!b || !blockdev_inserted(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             devname ? devname : "", node ? node : "");
    if (size < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'size' expects a >0 size");
    if (blockdev_read_only(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Image is read-only");
    if (!b->raw && size % 512)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "The new size must be a multiple of 512");
    struct verr e = {0};
    if (blockdev_resize(b, (uint64_t)size, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Could not resize: %s", verr_msg(&e));
    return 0;
}

/* eject: open the tray (an eject request to a guest that locked it, which is an error
 * unless force), then take the medium out. */
static int qmp_eject(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                     struct qmp_error *err, void *opaque)
{
    (void)ret;
    const char *name;
    struct blockdev *b = find(opaque, args, &name, err);
    if (!b)
        return -1;
    struct verr e = {0};
    b->qmp = qmp_session_server(ss);
    int r = blockdev_open_tray(b, bool_arg(args, "force"), name, &e);
    if (r == 0)
        r = blockdev_remove_medium(b, name, &e);
    b->qmp = NULL;
    return r < 0 ? failed(err, &e) : 0;
}

/* blockdev-open-tray: as eject without removing the medium; a locked tray without force is
 * not an error (the guest got its eject request and opens the tray itself). */
static int qmp_open_tray(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    const char *name;
    struct blockdev *b = find(opaque, args, &name, err);
    if (!b)
        return -1;
    struct verr e = {0};
    b->qmp = qmp_session_server(ss);
    int r = blockdev_open_tray(b, bool_arg(args, "force"), name, &e);
    b->qmp = NULL;
    return r < 0 && r != -EINPROGRESS ? failed(err, &e) : 0;
}

static int qmp_close_tray(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    const char *name;
    struct blockdev *b = find(opaque, args, &name, err);
    if (!b)
        return -1;
    struct verr e = {0};
    b->qmp = qmp_session_server(ss);
    int r = blockdev_close_tray(b, name, &e);
    b->qmp = NULL;
    return r < 0 ? failed(err, &e) : 0;
}

/* blockdev-change-medium {device|id, filename, format?, force?, read-only-mode?}. */
static int qmp_change_medium(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    const char *name;
    struct blockdev *b = find(opaque, args, &name, err);
    if (!b)
        return -1;
    const char *mode_s = str_arg(args, "read-only-mode");
    enum blockdev_ro_mode mode = BLOCKDEV_RO_RETAIN;
    if (mode_s && str_eq(mode_s, "read-only"))
        mode = BLOCKDEV_RO_READ_ONLY;
    else if (mode_s && str_eq(mode_s, "read-write"))
        mode = BLOCKDEV_RO_READ_WRITE;
    else if (mode_s && !str_eq(mode_s, "retain"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'read-only-mode' does not accept value '%s'", mode_s);
    struct verr e = {0};
    b->qmp = qmp_session_server(ss);
    int r = blockdev_change_medium(b, str_arg(args, "filename"), str_arg(args, "format"),
                                   bool_arg(args, "force"), mode, name, &e);
    b->qmp = NULL;
    return r < 0 ? failed(err, &e) : 0;
}

/* blockdev-snapshot-sync {"device" | "node-name", "snapshot-file", "snapshot-node-name",
 * "format" (qcow2), "mode" (absolute-paths, existing)}: a new overlay on top of the drive's
 * image (blockdev_snapshot_sync), for any device (virtio-blk-pci, scsi-hd). Difference:
 * overlays are qcow2 only. */
static int qmp_blockdev_snapshot_sync(struct qmp_session *ss, struct json_object *args,
                                      struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *devname = str_arg(args, "device"), *node = str_arg(args, "node-name");
    struct blockdev *b = NULL;
    for (unsigned i = 0; devname && !b && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && str_eq(vm->blockdevs[i]->drive->id, devname))
            b = vm->blockdevs[i];
    for (unsigned i = 0; node && !b && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && blockdev_node_name(vm->blockdevs[i]) &&
            str_eq(blockdev_node_name(vm->blockdevs[i]), node))
            b = vm->blockdevs[i];
    if (!b || !blockdev_inserted(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             devname ? devname : "", node ? node : "");
    const char *file = str_arg(args, "snapshot-file");
    const char *format = str_arg(args, "format") ? str_arg(args, "format") : "qcow2";
    const char *mode = str_arg(args, "mode") ? str_arg(args, "mode") : "absolute-paths";
    const char *new_node = str_arg(args, "snapshot-node-name");
    if (!str_eq(mode, "absolute-paths") && !str_eq(mode, "existing"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'mode' does not accept value '%s'",
                             mode);
    if (!str_eq(format, "qcow2"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Format '%s' is not supported for overlays by vireo-vmm (qcow2 is)",
                             format);
    if (blockdev_read_only(b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' is read only", b->drive->id);
    for (unsigned i = 0; new_node && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && blockdev_node_name(vm->blockdevs[i]) &&
            str_eq(blockdev_node_name(vm->blockdevs[i]), new_node))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Duplicate nodes with node-name='%s'",
                                 new_node);
    struct verr e = {0};
    if (blockdev_snapshot_sync(b, file, str_eq(mode, "existing"), new_node, &e) < 0)
        return failed(err, &e);
    return 0;
}

/* block_set_io_throttle: the drive's limits (all six averages given; 0 everywhere lifts
 * them), in its group or the one named; a group's limits are its members'. */
static int qmp_block_set_io_throttle(struct qmp_session *ss, struct json_object *args,
                                     struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    const char *name;
    struct blockdev *b = find(opaque, args, &name, err);
    if (!b)
        return -1;
    struct throttle_config cfg;
    throttle_config_init(&cfg);
    for (int i = 0; i < THROTTLE_NR; i++) {
        char key[32];
        const char *base = blockdev_throttle_qmp_names[i];
        struct json_object *v = json_object_object_get(args, base);
        int64_t x = v ? json_object_get_int64(v) : 0;
        snprintf(key, sizeof(key), "%s_max", base);
        struct json_object *mx = json_object_object_get(args, key);
        snprintf(key, sizeof(key), "%s_max_length", base);
        struct json_object *ml = json_object_object_get(args, key);
        int64_t m = mx ? json_object_get_int64(mx) : 0, l = ml ? json_object_get_int64(ml) : 1;
        if (x < 0 || m < 0 || l < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "bps/iops/max values must be within [0, %llu]",
                                 (unsigned long long)THROTTLE_VALUE_MAX);
        cfg.b[i].avg = (uint64_t)x;
        cfg.b[i].max = (uint64_t)m;
        cfg.b[i].burst_length = (uint64_t)l;
    }
    struct json_object *sz = json_object_object_get(args, "iops_size");
    if (sz && json_object_get_int64(sz) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "bps/iops/max values must be within [0, %llu]",
                             (unsigned long long)THROTTLE_VALUE_MAX);
    cfg.op_size = sz ? (uint64_t)json_object_get_int64(sz) : 0;
    struct verr e = {0};
    if (throttle_config_check(&cfg, &e) < 0 ||
        blockdev_set_throttle(b, &cfg, str_arg(args, "group"), &e) < 0)
        return failed(err, &e);
    return 0;
}

int block_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg resize_args[] = {{"device", QMP_ARG_STRING, true},
                                                 {"node-name", QMP_ARG_STRING, true},
                                                 {"size", QMP_ARG_INT, false},
                                                 {NULL}};
    static const struct qmp_arg tray_args[] = {{"device", QMP_ARG_STRING, true},
                                               {"id", QMP_ARG_STRING, true},
                                               {"force", QMP_ARG_BOOL, true},
                                               {NULL}};
    static const struct qmp_arg close_args[] = {
        {"device", QMP_ARG_STRING, true}, {"id", QMP_ARG_STRING, true}, {NULL}};
    static const struct qmp_arg change_args[] = {{"device", QMP_ARG_STRING, true},
                                                 {"id", QMP_ARG_STRING, true},
                                                 {"filename", QMP_ARG_STRING, false},
                                                 {"format", QMP_ARG_STRING, true},
                                                 {"force", QMP_ARG_BOOL, true},
                                                 {"read-only-mode", QMP_ARG_STRING, true},
                                                 {NULL}};
    static const struct qmp_arg overlay_args[] = {{"device", QMP_ARG_STRING, true},
                                                  {"node-name", QMP_ARG_STRING, true},
                                                  {"snapshot-file", QMP_ARG_STRING, false},
                                                  {"snapshot-node-name", QMP_ARG_STRING, true},
                                                  {"format", QMP_ARG_STRING, true},
                                                  {"mode", QMP_ARG_STRING, true},
                                                  {NULL}};
    static const struct qmp_arg throttle_args[] = {{"device", QMP_ARG_STRING, true},
                                                   {"id", QMP_ARG_STRING, true},
                                                   {"bps", QMP_ARG_INT, false},
                                                   {"bps_rd", QMP_ARG_INT, false},
                                                   {"bps_wr", QMP_ARG_INT, false},
                                                   {"iops", QMP_ARG_INT, false},
                                                   {"iops_rd", QMP_ARG_INT, false},
                                                   {"iops_wr", QMP_ARG_INT, false},
                                                   {"bps_max", QMP_ARG_INT, true},
                                                   {"bps_rd_max", QMP_ARG_INT, true},
                                                   {"bps_wr_max", QMP_ARG_INT, true},
                                                   {"iops_max", QMP_ARG_INT, true},
                                                   {"iops_rd_max", QMP_ARG_INT, true},
                                                   {"iops_wr_max", QMP_ARG_INT, true},
                                                   {"bps_max_length", QMP_ARG_INT, true},
                                                   {"bps_rd_max_length", QMP_ARG_INT, true},
                                                   {"bps_wr_max_length", QMP_ARG_INT, true},
                                                   {"iops_max_length", QMP_ARG_INT, true},
                                                   {"iops_rd_max_length", QMP_ARG_INT, true},
                                                   {"iops_wr_max_length", QMP_ARG_INT, true},
                                                   {"iops_size", QMP_ARG_INT, true},
                                                   {"group", QMP_ARG_STRING, true},
                                                   {NULL}};
    int r;
    static const struct qmp_arg blockstats_args[] = {{"query-nodes", QMP_ARG_BOOL, true}, {NULL}};
    if ((r = qmp_server_register(server, "query-block", NULL, qmp_query_block, vm)) < 0 ||
        (r = qmp_server_register(server, "query-blockstats", blockstats_args, qmp_query_blockstats,
                                 vm)) < 0 ||
        (r = blockdev_bitmap_qmp_register(server, vm)) < 0 ||
        (r = qmp_server_register(server, "block_resize", resize_args, qmp_block_resize, vm)) < 0 ||
        (r = qmp_server_register(server, "eject", tray_args, qmp_eject, vm)) < 0 ||
        (r = qmp_server_register(server, "blockdev-open-tray", tray_args, qmp_open_tray, vm)) < 0 ||
        (r = qmp_server_register(server, "blockdev-close-tray", close_args, qmp_close_tray, vm)) <
            0 ||
        (r = qmp_server_register(server, "blockdev-change-medium", change_args, qmp_change_medium,
                                 vm)) < 0 ||
        (r = qmp_server_register(server, "blockdev-snapshot-sync", overlay_args,
                                 qmp_blockdev_snapshot_sync, vm)) < 0 ||
        (r = qmp_server_register(server, "block_set_io_throttle", throttle_args,
                                 qmp_block_set_io_throttle, vm)) < 0 ||
        (r = block_transaction_register(server, vm)) < 0)
        return r;
    return 0;
}
