/*
 * block-transaction.c - QMP's "transaction": several block actions done as
 * one, all or nothing (QEMU 7.2's actions, arguments, order and words), and
 * blockdev-snapshot-internal-sync, which is a transaction of one action.
 *
 * Actions: blockdev-snapshot-sync (a new qcow2 overlay on a drive),
 * blockdev-snapshot (a blockdev-add overlay put on a drive),
 * blockdev-snapshot-internal-sync (a qcow2 internal snapshot of a drive's
 * top image, without VM state), block-dirty-bitmap-add,
 * block-dirty-bitmap-clear (non-persistent bitmaps) and abort. The steps:
 *
 *   1. check: every action's data against its command's schema, its drive
 *      found, its names free; an abort action fails here ("Transaction
 *      aborted using Abort action"), as in QEMU, before anything changed;
 *   2. prepare, nothing stopped: every overlay file created (a second overlay
 *      of the same drive has the first as its backing file) and checked;
 *      the bitmaps added;
 *   3. commit: the I/O of every drive taking part stops at once (each
 *      device's quiesce, io_lock held for writing), then in order each
 *      internal snapshot is taken and each drive switches to its overlay; a
 *      failure undoes those done, newest first, so each drive is back on its
 *      image as it was; the bitmaps are cleared; the I/O restarts.
 *
 * On failure the bitmaps added are removed and the overlay files this
 * created are removed (QEMU leaves them behind; nothing names them). The
 * reply is the failing action's error. Differences from QEMU: "properties"
 * with completion-mode "grouped" is refused as QEMU refuses it for these
 * actions; clearing a persistent bitmap in a transaction is refused (its
 * old bits could not be put back).
 *
 * blockdev-snapshot (the action, and the command, a transaction of one): a
 * qcow2 node blockdev-add made (with "backing": null, or an image whose
 * header names no backing file) goes on top of a drive, with the drive's
 * image as its backing file whatever its header says (the header is not
 * rewritten, as QEMU does not); it switches in step 3 as an overlay of
 * blockdev-snapshot-sync does. Differences from QEMU, each refused with a
 * line: the node must be the top of a device's drive; the overlay must
 * have the drive's size and cache, discard and aio settings; one overlay per
 * drive in a transaction that has a blockdev-snapshot action for it.
 */
#include "vmm/dev/block-transaction.h"
#include "block/block.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/blockdev.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum tx_kind { TX_ABORT, TX_OVERLAY, TX_ATTACH, TX_INTERNAL, TX_BITMAP_ADD, TX_BITMAP_CLEAR };

static const struct qmp_arg internal_args[] = {
    {"device", QMP_ARG_STRING, false}, {"name", QMP_ARG_STRING, false}, {NULL}};
static const struct qmp_arg attach_args[] = {
    {"node", QMP_ARG_STRING, false}, {"overlay", QMP_ARG_STRING, false}, {NULL}};

/* The action types QEMU 7.2 knows; those vireo-vmm does not do are refused by name. */
static const struct {
    const char *type;
    int kind; /* enum tx_kind, or -1: known to QEMU, not done here */
} types[] = {
    {"abort", TX_ABORT},
    {"blockdev-snapshot-sync", TX_OVERLAY},
    {"blockdev-snapshot-internal-sync", TX_INTERNAL},
    {"block-dirty-bitmap-add", TX_BITMAP_ADD},
    {"block-dirty-bitmap-clear", TX_BITMAP_CLEAR},
    {"blockdev-snapshot", TX_ATTACH},
    {"block-dirty-bitmap-remove", -1},
    {"block-dirty-bitmap-enable", -1},
    {"block-dirty-bitmap-disable", -1},
    {"block-dirty-bitmap-merge", -1},
    {"blockdev-backup", -1},
    {"drive-backup", -1},
};

struct tx_action {
    enum tx_kind kind;
    const char *type;
    struct json_object *data;
    struct blockdev *b;
    const char *file, *node_name, *name;
    bool existing;
    bool created; /* step 2 made the file */
    bool added;   /* step 2 added the bitmap */
    bool done;    /* step 3 did it */
    int overlay;  /* blockdev-snapshot: the overlay node's index in the VM's drives */
    struct blockdev_overlay_undo undo;
};

struct tx {
    struct vm *vm;
    struct qmp_session *ss;
    struct tx_action *a;
    size_t n;
    bool single; /* a command that is a transaction of one action: errors name its members */
};

/* Action i's data against its command's schema; in a transaction the member an error names
 * is QEMU's path to it ("actions[0].data.overlay"). */
static int validate(const struct tx *t, size_t i, const char *command, struct qmp_error *err)
{
    if (qmp_server_validate(qmp_session_server(t->ss), command, t->a[i].data, err) == 0)
        return 0;
    static const char *const heads[] = {"Parameter '", "Invalid parameter type for '"};
    for (size_t h = 0; h < 2 && !t->single; h++) {
        size_t n = strlen(heads[h]);
        if (strncmp(err->desc, heads[h], n))
            continue;
        char *rest = xstrdup(err->desc + n);
        snprintf(err->desc, sizeof(err->desc), "%sactions[%zu].data.%s", heads[h], i, rest);
        free(rest);
        break;
    }
    return -1;
}

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* Drive by QMP device= or node-name= (blockdev-snapshot-sync's lookup). */
static struct blockdev *by_device_or_node(struct vm *vm, const char *device, const char *node)
{
    for (unsigned i = 0; device && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && str_eq(vm->blockdevs[i]->drive->id, device))
            return vm->blockdevs[i];
    for (unsigned i = 0; node && i < VMM_MAX_DRIVES; i++)
        if (vm->blockdevs[i] && blockdev_node_name(vm->blockdevs[i]) &&
            str_eq(blockdev_node_name(vm->blockdevs[i]), node))
            return vm->blockdevs[i];
    return NULL;
}

/* A node name taken by a drive or by an earlier action of this transaction. */
static bool node_taken(const struct tx *t, size_t upto, const char *name)
{
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct blockdev *b = t->vm->blockdevs[i];
        if (b && ((blockdev_node_name(b) && str_eq(blockdev_node_name(b), name)) ||
                  (b->drive->node_name && str_eq(b->drive->node_name, name))))
            return true;
    }
    for (size_t i = 0; i < upto; i++)
        if (t->a[i].kind == TX_OVERLAY && t->a[i].node_name && str_eq(t->a[i].node_name, name))
            return true;
    return false;
}

/* The bitmap called name on b: 0 none, 1 in memory, 2 persistent. */
static int bitmap_kind(struct blockdev *b, const char *name)
{
    struct json_object *list = blockdev_bitmaps_json(b);
    int kind = 0;
    for (size_t i = 0; i < json_object_array_length(list) && !kind; i++) {
        struct json_object *o = json_object_array_get_idx(list, i), *p = NULL;
        if (str_eq(str_of(o, "name"), name))
            kind = json_object_object_get_ex(o, "persistent", &p) && json_object_get_boolean(p) ? 2
                                                                                                : 1;
    }
    json_object_put(list);
    return kind;
}

static bool has_internal(struct blockdev *b, const char *name)
{
    struct block_snapshot *list;
    size_t n;
    if (block_snapshot_list(b->bd, &list, &n, NULL) < 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = list[i].name && str_eq(list[i].name, name);
    block_snapshot_list_free(list, n);
    return found;
}

/* Whether an action before i puts a blockdev-add overlay on b. */
static bool attached_before(const struct tx *t, size_t i, const struct blockdev *b)
{
    for (size_t j = 0; j < i; j++)
        if (t->a[j].kind == TX_ATTACH && t->a[j].b == b)
            return true;
    return false;
}

static int refuse_second(struct qmp_error *err)
{
    /* TODO(#12): stack a second overlay on a drive a blockdev-snapshot action of the same
     * transaction overlays (QEMU appends each in its prepare step). */
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "vireo-vmm puts one overlay on a drive in a transaction that has a "
                         "blockdev-snapshot action for it");
}

/* The blockdev-add node called name (an index in the VM's drives), or -1. */
static int backend_node(const struct vm *vm, const char *name)
{
    const struct vm_backends *be = vm->backends;
    for (unsigned i = 0; i < be->nr_drives; i++)
        if (be->drives[i].node_name && str_eq(be->drives[i].node_name, name))
            return (int)i;
    return -1;
}

/* Whether format is one QEMU 7.2 gives backing files (qcow2 is the one vireo-vmm opens as an
 * overlay). */
static bool format_has_backing(const char *format)
{
    static const char *const with[] = {"qcow2", "qcow", "qed", "vmdk", NULL};
    for (const char *const *f = with; *f; f++)
        if (str_eq(*f, format))
            return true;
    return false;
}

/* Step 1 for a blockdev-snapshot action {node, overlay}: the node is a drive's top (by the
 * drive's id or the top's node name), the overlay a blockdev-add qcow2 node of the drive's
 * size that no device uses, without a backing image. QEMU 7.2's checks in its order. */
static int check_attach(struct tx *t, size_t i, struct qmp_error *err)
{
    struct tx_action *a = &t->a[i];
    struct vm *vm = t->vm;
    if (validate(t, i, "blockdev-snapshot", err) < 0)
        return -1;
    const char *node = str_of(a->data, "node"), *overlay = str_of(a->data, "overlay");
    a->b = by_device_or_node(vm, node, node);
    if (!a->b) {
        /* A node under a drive's top: QEMU's "busy" (it names the node right above; vireo-vmm
         * knows the top's name, which is that node while one overlay is on it). */
        for (unsigned k = 0; k < VMM_MAX_DRIVES; k++) {
            struct blockdev *b = vm->blockdevs[k];
            if (b && b->top_node && b->drive->node_name && str_eq(b->drive->node_name, node))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Node '%s' is busy: node is used as backing hd of '%s'", node,
                                     b->top_node);
        }
        int k = backend_node(vm, node);
        if (k >= 0 && vm->backends->drives[k].overlay_of_drive)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Node '%s' is busy: node is used as backing hd of another node",
                                 node);
        if (k >= 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "vireo-vmm puts overlays on the top node of a device's drive "
                                 "only ('%s' is not one)",
                                 node);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             node, node);
    }
    if (!blockdev_inserted(a->b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' has no medium", node);
    for (size_t j = 0; j < i; j++)
        if (t->a[j].kind == TX_ATTACH && t->a[j].b == a->b && !str_eq(node, a->b->drive->id))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Node '%s' is busy: node is used as backing hd of '%s'", node,
                                 str_of(t->a[j].data, "overlay"));
    if (attached_before(t, i, a->b))
        return refuse_second(err);
    struct verr e = {0};
    if (blockdev_check_job(a->b, &e) < 0 || blockdev_check_stackable(a->b, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    a->overlay = backend_node(vm, overlay);
    if (a->overlay < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             overlay, overlay);
    const struct vmm_drive *d = &vm->backends->drives[a->overlay];
    bool in_tx = false;
    for (size_t j = 0; j < i; j++)
        in_tx |= t->a[j].kind == TX_ATTACH && t->a[j].overlay == a->overlay;
    /* A device's drive, the top of one already, or a node taken by a format node. */
    if (vm->backends->drive_used[a->overlay] || d->overlay_of_drive || in_tx ||
        (d->format_node && format_has_backing(d->format)))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "The overlay is already in use");
    if (format_has_backing(d->format) && !d->backing_null) {
        /* Without "backing": null the node has its header's backing file, if it names one. */
        struct block_open_opts peek = {.read_only = true,
                                       .format = d->format,
                                       .no_backing = true,
                                       .no_io = true,
                                       .locking = BLOCK_LOCKING_OFF};
        struct block_dev *pb;
        struct block_info info;
        bool backed = d->backing_node != NULL;
        if (!backed && block_open(d->file, &peek, &pb, NULL) == 0) {
            if (block_get_info(pb, &info, NULL) == 0) {
                backed = info.backing_file != NULL;
                block_info_free(&info);
            }
            block_close(pb);
        }
        if (backed)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "The overlay already has a backing image");
    }
    if (!format_has_backing(d->format))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "The overlay does not support backing images");
    if (!str_eq(d->format, "qcow2"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Format '%s' is not supported for overlays by vireo-vmm (qcow2 is)",
                             d->format);
    if (d->read_only)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Block node is read-only");
    if (blockdev_read_only(a->b))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' is read only", a->b->drive->id);
    /* Written differences from QEMU: the guest's disk keeps its size (QEMU takes the
     * overlay's), and the overlay opens with the drive's cache, discard and aio settings. */
    const struct vmm_drive *dd = a->b->drive;
    if (d->cache != dd->cache || d->discard_unmap != dd->discard_unmap ||
        d->aio_io_uring != dd->aio_io_uring)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "vireo-vmm opens an overlay with its drive's cache, discard and aio "
                             "settings: those of '%s' differ from '%s''s",
                             overlay, node);
    struct block_open_opts peek = {.read_only = true,
                                   .format = "qcow2",
                                   .no_backing = true,
                                   .no_io = true,
                                   .locking = BLOCK_LOCKING_OFF};
    struct block_dev *pb;
    if (block_open(d->file, &peek, &pb, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    uint64_t size = block_size(pb);
    block_close(pb);
    if (size != blockdev_size(a->b))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "vireo-vmm keeps a disk's size under its guest: the overlay '%s' has "
                             "%llu bytes, '%s' %llu",
                             overlay, (unsigned long long)size, node,
                             (unsigned long long)blockdev_size(a->b));
    a->file = d->file;
    a->node_name = d->node_name;
    return 0;
}

/* Step 1 for action i. */
static int check_action(struct tx *t, size_t i, struct qmp_error *err)
{
    struct tx_action *a = &t->a[i];
    switch (a->kind) {
    case TX_ABORT: {
        json_object_object_foreach(a->data, key, val)
        {
            (void)val;
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter '%s' is unexpected", key);
        }
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Transaction aborted using Abort action");
    }
    case TX_OVERLAY: {
        if (validate(t, i, "blockdev-snapshot-sync", err) < 0)
            return -1;
        const char *device = str_of(a->data, "device"), *node = str_of(a->data, "node-name");
        const char *format = str_of(a->data, "format") ? str_of(a->data, "format") : "qcow2";
        const char *mode = str_of(a->data, "mode") ? str_of(a->data, "mode") : "absolute-paths";
        a->b = by_device_or_node(t->vm, device, node);
        a->file = str_of(a->data, "snapshot-file");
        a->node_name = str_of(a->data, "snapshot-node-name");
        if (!a->b || !blockdev_inserted(a->b))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Cannot find device='%s' nor node-name='%s'", device ? device : "",
                                 node ? node : "");
        if (!str_eq(mode, "absolute-paths") && !str_eq(mode, "existing"))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'mode' does not accept value '%s'", mode);
        a->existing = str_eq(mode, "existing");
        if (!str_eq(format, "qcow2"))
            return qmp_error_set(
                err, QMP_ERROR_GENERIC,
                "Format '%s' is not supported for overlays by vireo-vmm (qcow2 is)", format);
        if (blockdev_read_only(a->b))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' is read only",
                                 a->b->drive->id);
        if (a->node_name && node_taken(t, i, a->node_name))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "New overlay node-name already in use");
        if (attached_before(t, i, a->b))
            return refuse_second(err);
        struct verr e = {0};
        if (blockdev_check_job(a->b, &e) < 0 || blockdev_check_stackable(a->b, &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        return 0;
    }
    case TX_ATTACH:
        return check_attach(t, i, err);
    case TX_INTERNAL: {
        if (validate(t, i, "blockdev-snapshot-internal-sync", err) < 0)
            return -1;
        const char *device = str_of(a->data, "device");
        a->name = str_of(a->data, "name");
        a->b = by_device_or_node(t->vm, device, device);
        if (!a->b)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Cannot find device='%s' nor node-name='%s'", device, device);
        if (!blockdev_inserted(a->b))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' has no medium", device);
        /* An earlier overlay of the same drive in this transaction is a new, empty qcow2
         * image: the snapshots that count are those taken on it by earlier actions. */
        bool overlaid = false;
        size_t from = 0;
        for (size_t j = 0; j < i; j++)
            if (t->a[j].kind == TX_OVERLAY && t->a[j].b == a->b) {
                overlaid = true;
                from = j + 1;
            }
        const char *fmt = block_format(blockdev_bd(a->b));
        if (!overlaid && !str_eq(fmt, "qcow2"))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Block format '%s' used by device '%s' does not support internal "
                                 "snapshots",
                                 fmt, device);
        if (!*a->name)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Name is empty");
        if (blockdev_read_only(a->b))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Device '%s' is read only", device);
        bool dup = !overlaid && has_internal(a->b, a->name);
        for (size_t j = from; j < i; j++)
            dup |=
                t->a[j].kind == TX_INTERNAL && t->a[j].b == a->b && str_eq(t->a[j].name, a->name);
        if (dup)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Snapshot with name '%s' already exists on device '%s'", a->name,
                                 device);
        struct verr e = {0};
        if (blockdev_check_job(a->b, &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        return 0;
    }
    case TX_BITMAP_ADD:
        return validate(t, i, "block-dirty-bitmap-add", err);
    case TX_BITMAP_CLEAR: {
        if (validate(t, i, "block-dirty-bitmap-clear", err) < 0)
            return -1;
        const char *node = str_of(a->data, "node");
        a->name = str_of(a->data, "name");
        a->b = blockdev_find(t->vm, node);
        if (!a->b || !blockdev_inserted(a->b))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Cannot find device='%s' nor node-name='%s'", node, node);
        return 0; /* whether the bitmap is there is known once earlier adds are done */
    }
    }
    return 0;
}

/* Step 2 for action i: the overlay file, the bitmap. */
static int prepare_action(struct tx *t, size_t i, struct qmp_error *err)
{
    struct tx_action *a = &t->a[i];
    struct verr e = {0};
    if (a->kind == TX_OVERLAY) {
        /* The backing file: the overlay of an earlier action on the same drive, if any. */
        const char *backing = NULL;
        for (size_t j = 0; j < i; j++)
            if (t->a[j].kind == TX_OVERLAY && t->a[j].b == a->b)
                backing = t->a[j].file;
        if (blockdev_overlay_create(a->b, a->file, a->existing, backing, "qcow2", &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        a->created = !a->existing;
    } else if (a->kind == TX_BITMAP_ADD) {
        struct json_object *ret = NULL;
        if (qmp_server_execute(t->ss, "block-dirty-bitmap-add", a->data, &ret, err) < 0)
            return -1;
        json_object_put(ret);
        a->added = true;
    } else if (a->kind == TX_BITMAP_CLEAR) {
        int kind = bitmap_kind(a->b, a->name);
        if (!kind)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Dirty bitmap '%s' not found", a->name);
        if (kind == 2)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "block-dirty-bitmap-clear of a persistent bitmap in a "
                                 "transaction is not supported by vireo-vmm");
    }
    return 0;
}

/* Step 3 for action i (the drives quiesced). */
static int commit_action(struct tx_action *a, struct qmp_error *err)
{
    struct verr e = {0};
    int r = 0;
    if (a->kind == TX_OVERLAY || a->kind == TX_ATTACH)
        r = blockdev_overlay_switch_locked(a->b, a->file, a->node_name, a->kind == TX_ATTACH,
                                           &a->undo, &e);
    else if (a->kind == TX_INTERNAL)
        r = block_snapshot_create(blockdev_bd(a->b), a->name, &e);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    a->done = true;
    return 0;
}

static void undo_action(struct tx_action *a)
{
    if (!a->done)
        return;
    if (a->kind == TX_OVERLAY || a->kind == TX_ATTACH) {
        blockdev_overlay_undo_locked(a->b, &a->undo);
    } else if (a->kind == TX_INTERNAL) {
        struct verr e = {0};
        if (blockdev_bd(a->b) && block_snapshot_delete(blockdev_bd(a->b), a->name, &e) < 0)
            log_error("transaction: snapshot '%s' could not be deleted again: %s", a->name,
                      verr_msg(&e));
    }
    a->done = false;
}

/* Steps 2 and 3 after step 1 passed. */
static int run(struct tx *t, struct qmp_error *err)
{
    int r = 0;
    for (size_t i = 0; i < t->n && r == 0; i++)
        r = prepare_action(t, i, err);
    /* The drives taking part, each once. */
    struct blockdev **drives = xcalloc(t->n + 1, sizeof(*drives));
    size_t nd = 0;
    for (size_t i = 0; i < t->n && r == 0; i++) {
        struct blockdev *b =
            t->a[i].kind == TX_OVERLAY || t->a[i].kind == TX_ATTACH || t->a[i].kind == TX_INTERNAL
                ? t->a[i].b
                : NULL;
        bool seen = !b;
        for (size_t j = 0; j < nd && !seen; j++)
            seen = drives[j] == b;
        if (!seen)
            drives[nd++] = b;
    }
    if (r == 0) {
        for (size_t j = 0; j < nd; j++)
            blockdev_quiesce(drives[j]);
        for (size_t i = 0; i < t->n && r == 0; i++)
            r = commit_action(&t->a[i], err);
        if (r < 0)
            for (size_t i = t->n; i-- > 0;)
                undo_action(&t->a[i]);
        for (size_t i = 0; i < t->n && r == 0; i++) {
            if (t->a[i].kind != TX_BITMAP_CLEAR)
                continue;
            struct json_object *ret = NULL;
            struct qmp_error e2 = {0};
            /* in memory and found in step 2: cannot fail */
            qmp_server_execute(t->ss, "block-dirty-bitmap-clear", t->a[i].data, &ret, &e2);
            json_object_put(ret);
        }
        for (size_t j = nd; j-- > 0;)
            blockdev_unquiesce(drives[j]);
    }
    free(drives);
    for (size_t i = 0; i < t->n; i++) {
        struct tx_action *a = &t->a[i];
        if (r < 0 && a->created)
            unlink(a->file);
        if (r < 0 && a->added) {
            struct json_object *rm = json_object_new_object(), *ret = NULL;
            struct qmp_error e2 = {0};
            json_object_object_add(rm, "node",
                                   json_object_get(json_object_object_get(a->data, "node")));
            json_object_object_add(rm, "name",
                                   json_object_get(json_object_object_get(a->data, "name")));
            qmp_server_execute(t->ss, "block-dirty-bitmap-remove", rm, &ret, &e2);
            json_object_put(ret);
            json_object_put(rm);
        }
        blockdev_overlay_undo_free(&a->undo);
        /* The node is now the drive's top: no device may take it, blockdev-del keeps it. */
        if (r == 0 && a->kind == TX_ATTACH)
            t->vm->backends->drives[a->overlay].overlay_of_drive = true;
    }
    return r;
}

static int transaction(struct qmp_session *ss, struct vm *vm, struct json_object *actions,
                       bool single, struct qmp_error *err)
{
    size_t n = json_object_array_length(actions);
    struct tx t = {.vm = vm,
                   .ss = ss,
                   .a = xcalloc(n + 1, sizeof(struct tx_action)),
                   .n = n,
                   .single = single};
    int r = 0;
    /* The shape of every action first, as QEMU's input visitor checks the whole command. */
    for (size_t i = 0; i < n && r == 0; i++) {
        struct json_object *o = json_object_array_get_idx(actions, i), *v = NULL;
        if (!json_object_is_type(o, json_type_object)) {
            r = qmp_error_set(err, QMP_ERROR_GENERIC,
                              "Invalid parameter type for 'actions[%zu]', expected: object", i);
            break;
        }
        if (!json_object_object_get_ex(o, "type", &v)) {
            r = qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'actions[%zu].type' is missing",
                              i);
            break;
        }
        const char *type = json_object_get_string(v);
        int kind = -2;
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]) && kind == -2; k++)
            if (json_object_is_type(v, json_type_string) && str_eq(types[k].type, type))
                kind = types[k].kind;
        if (kind == -2) {
            r = qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'type' does not accept value '%s'",
                              type);
            break;
        }
        if (!json_object_object_get_ex(o, "data", &t.a[i].data)) {
            r = qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'actions[%zu].data' is missing",
                              i);
            break;
        }
        json_object_object_foreach(o, key, val)
        {
            (void)val;
            if (r == 0 && !str_eq(key, "type") && !str_eq(key, "data"))
                r = qmp_error_set(err, QMP_ERROR_GENERIC,
                                  "Parameter 'actions[%zu].%s' is unexpected", i, key);
        }
        if (r == 0 && !json_object_is_type(t.a[i].data, json_type_object))
            r = qmp_error_set(err, QMP_ERROR_GENERIC,
                              "Invalid parameter type for 'actions[%zu].data', expected: object",
                              i);
        if (r == 0 && kind < 0)
            r = qmp_error_set(err, QMP_ERROR_GENERIC,
                              "Action '%s' in a transaction is not supported by vireo-vmm", type);
        t.a[i].kind = (enum tx_kind)kind;
        t.a[i].type = type;
    }
    for (size_t i = 0; i < n && r == 0; i++)
        r = check_action(&t, i, err);
    if (r == 0)
        r = run(&t, err);
    free(t.a);
    return r < 0 ? -1 : 0;
}

/* transaction {"actions": [{"type": T, "data": {...}}...], "properties"?}. */
static int qmp_transaction(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ret;
    struct json_object *props = json_object_object_get(args, "properties");
    const char *mode = props ? str_of(props, "completion-mode") : NULL;
    if (props) {
        json_object_object_foreach(props, key, val)
        {
            (void)val;
            if (!str_eq(key, "completion-mode"))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'properties.%s' is unexpected", key);
        }
    }
    if (mode && !str_eq(mode, "individual") && !str_eq(mode, "grouped"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'completion-mode' does not accept value '%s'", mode);
    struct json_object *actions = json_object_object_get(args, "actions");
    if (mode && str_eq(mode, "grouped")) {
        /* QEMU: none of these actions has a job to group; it names the first. */
        for (size_t i = 0; i < json_object_array_length(actions); i++) {
            const char *type = str_of(json_object_array_get_idx(actions, i), "type");
            if (type && !str_eq(type, "abort"))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Action '%s' does not support Transaction property "
                                     "completion-mode = grouped",
                                     type);
        }
    }
    return transaction(ss, opaque, actions, false, err);
}

/* A command that is a transaction of its one action of the same name and data. */
static int one_action(struct qmp_session *ss, const char *type, struct json_object *args,
                      struct qmp_error *err, void *opaque)
{
    struct json_object *actions = json_object_new_array(), *a = json_object_new_object();
    json_object_object_add(a, "type", json_object_new_string(type));
    json_object_object_add(a, "data", json_object_get(args));
    json_object_array_add(actions, a);
    int r = transaction(ss, opaque, actions, true, err);
    json_object_put(actions);
    return r;
}

/* blockdev-snapshot-internal-sync {device, name}. */
static int qmp_internal_sync(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ret;
    return one_action(ss, "blockdev-snapshot-internal-sync", args, err, opaque);
}

/* blockdev-snapshot {node, overlay}. */
static int qmp_blockdev_snapshot(struct qmp_session *ss, struct json_object *args,
                                 struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ret;
    return one_action(ss, "blockdev-snapshot", args, err, opaque);
}

int block_transaction_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg tx_args[] = {
        {"actions", QMP_ARG_ARRAY, false}, {"properties", QMP_ARG_OBJECT, true}, {NULL}};
    int r;
    if ((r = qmp_server_register(server, "transaction", tx_args, qmp_transaction, vm)) < 0 ||
        (r = qmp_server_register(server, "blockdev-snapshot-internal-sync", internal_args,
                                 qmp_internal_sync, vm)) < 0 ||
        (r = qmp_server_register(server, "blockdev-snapshot", attach_args, qmp_blockdev_snapshot,
                                 vm)) < 0)
        return r;
    return 0;
}
