/*
 * blockdev-bitmap.c - a drive's dirty bitmaps for QMP (QEMU 7.2's block-dirty-bitmap-add,
 * -remove, -clear, -enable, -disable, -merge and query-block's "dirty-bitmaps"): which
 * granularity-sized ranges the guest wrote since a bitmap was added or cleared, the base of
 * incremental backups.
 *
 * Two kinds, as QEMU has them: a persistent bitmap lives in the qcow2 image (the block
 * layer's bitmaps extension: it marks them on every write through it, and stores them when
 * the image closes); a non-persistent one (QEMU's default) lives here, in memory, on any
 * format, marked by blockdev_bitmap_mark when a write or discard of the drive's device ends,
 * and gone when vireo-vmm exits. Changes to persistent ones are made with the device's I/O
 * quiesced. A merge takes its sources from bitmaps of the same kind on the same drive.
 */
#include "vmm/dev/blockdev.h"
#include "block/block.h"
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct blockdev_bitmap {
    struct blockdev_bitmap *next;
    char *name;
    uint32_t granularity;
    bool recording;
    uint64_t nbits;
    uint64_t *words; /* bit i covers [i * granularity, (i + 1) * granularity) */
};

static void grow(struct blockdev_bitmap *m, uint64_t nbits)
{
    uint64_t old = (m->nbits + 63) / 64, want = (nbits + 63) / 64;
    if (want > old) {
        m->words = xrealloc(m->words, want * sizeof(uint64_t));
        memset(m->words + old, 0, (want - old) * sizeof(uint64_t));
    }
    if (nbits > m->nbits)
        m->nbits = nbits;
}

void blockdev_bitmap_mark(struct blockdev *b, uint64_t offset, uint64_t len)
{
    if (!len || (!__atomic_load_n(&b->bitmaps, __ATOMIC_ACQUIRE) &&
                 !__atomic_load_n(&b->job_mark, __ATOMIC_ACQUIRE)))
        return;
    pthread_mutex_lock(&b->bitmap_lock);
    if (b->job_mark)
        b->job_mark(b->job_opaque, offset, len);
    for (struct blockdev_bitmap *m = b->bitmaps; m; m = m->next) {
        if (!m->recording)
            continue;
        uint64_t first = offset / m->granularity, last = (offset + len - 1) / m->granularity;
        grow(m, last + 1);
        for (uint64_t i = first; i <= last; i++)
            m->words[i / 64] |= 1ull << (i % 64);
    }
    pthread_mutex_unlock(&b->bitmap_lock);
}

static uint64_t dirty_bytes(const struct blockdev_bitmap *m)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < (m->nbits + 63) / 64; w++)
        n += (uint64_t)__builtin_popcountll(m->words[w]);
    return n * m->granularity;
}

static void bitmap_free(struct blockdev_bitmap *m)
{
    free(m->name);
    free(m->words);
    free(m);
}

void blockdev_bitmaps_free(struct blockdev *b)
{
    while (b->bitmaps) {
        struct blockdev_bitmap *m = b->bitmaps;
        b->bitmaps = m->next;
        bitmap_free(m);
    }
}

static struct blockdev_bitmap *find_mem(struct blockdev *b, const char *name)
{
    for (struct blockdev_bitmap *m = b->bitmaps; m; m = m->next)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

/* The persistent bitmap called name in the drive's image: 1 (with its info), 0, or < 0. */
static int find_persistent(struct blockdev *b, const char *name, struct block_bitmap_info *out)
{
    if (!b->bd || !block_bitmaps_supported(b->bd))
        return 0;
    struct block_bitmap_info *list;
    size_t n;
    if (block_bitmap_list(b->bd, &list, &n, NULL) < 0)
        return 0;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (!strcmp(list[i].name, name)) {
            found = 1;
            if (out)
                *out = (struct block_bitmap_info){NULL, list[i].granularity, list[i].enabled,
                                                  list[i].in_use, list[i].count};
        }
    block_bitmap_list_free(list, n);
    return found;
}

struct json_object *blockdev_bitmaps_json(struct blockdev *b)
{
    struct json_object *list = json_object_new_array();
    pthread_mutex_lock(&b->bitmap_lock);
    for (struct blockdev_bitmap *m = b->bitmaps; m; m = m->next) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(m->name));
        json_object_object_add(o, "recording", json_object_new_boolean(m->recording));
        json_object_object_add(o, "persistent", json_object_new_boolean(false));
        json_object_object_add(o, "busy", json_object_new_boolean(false));
        json_object_object_add(o, "granularity", json_object_new_int64(m->granularity));
        json_object_object_add(o, "count", json_object_new_int64((int64_t)dirty_bytes(m)));
        json_object_array_add(list, o);
    }
    pthread_mutex_unlock(&b->bitmap_lock);
    struct block_bitmap_info *pl;
    size_t n;
    if (b->bd && block_bitmaps_supported(b->bd) && block_bitmap_list(b->bd, &pl, &n, NULL) == 0) {
        for (size_t i = n; i-- > 0;) { /* newest first, as QEMU lists them */
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(pl[i].name));
            json_object_object_add(o, "recording",
                                   json_object_new_boolean(pl[i].enabled && !pl[i].in_use));
            json_object_object_add(o, "persistent", json_object_new_boolean(true));
            json_object_object_add(o, "busy", json_object_new_boolean(false));
            if (pl[i].in_use)
                json_object_object_add(o, "inconsistent", json_object_new_boolean(true));
            json_object_object_add(o, "granularity", json_object_new_int64(pl[i].granularity));
            json_object_object_add(o, "count", json_object_new_int64((int64_t)pl[i].count));
            json_object_array_add(list, o);
        }
        block_bitmap_list_free(pl, n);
    }
    return list;
}

/* ---- QMP ---- */

static const char *str_arg(struct json_object *args, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static struct blockdev *drive_arg(struct vm *vm, struct json_object *args, struct qmp_error *err)
{
    const char *node = str_arg(args, "node");
    struct blockdev *b = blockdev_find(vm, node);
    if (!b || !b->bd) {
        qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'", node,
                      node);
        return NULL;
    }
    return b;
}

/* A change to the image's persistent bitmaps, with the device's I/O quiesced. */
static int apply_persistent(struct blockdev *b, struct block_bitmap_op *op, struct qmp_error *err)
{
    if (b->ops->quiesce)
        b->ops->quiesce(b->opaque);
    pthread_rwlock_wrlock(&b->io_lock);
    struct verr e = {0};
    int r = b->bd ? block_bitmap_apply(b->bd, op, &e) : -ENOMEDIUM;
    pthread_rwlock_unlock(&b->io_lock);
    if (b->ops->unquiesce)
        b->ops->unquiesce(b->opaque);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

static uint32_t default_granularity(struct blockdev *b)
{
    struct block_info info;
    uint32_t g = 65536;
    if (b->bd && block_get_info(b->bd, &info, NULL) == 0) {
        if (info.cluster_size)
            g = info.cluster_size < 4096    ? 4096
                : info.cluster_size > 65536 ? 65536
                                            : info.cluster_size;
        block_info_free(&info);
    }
    return g;
}

static int qmp_bitmap_add(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct blockdev *b = drive_arg(opaque, args, err);
    if (!b)
        return -1;
    const char *name = str_arg(args, "name");
    struct json_object *v;
    bool persistent =
        json_object_object_get_ex(args, "persistent", &v) && json_object_get_boolean(v);
    bool disabled = json_object_object_get_ex(args, "disabled", &v) && json_object_get_boolean(v);
    int64_t gran = 0;
    if (json_object_object_get_ex(args, "granularity", &v)) {
        gran = json_object_get_int64(v);
        if (gran < 512 || gran > (1ll << 31) || (gran & (gran - 1)))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Granularity must be power of 2 and at least 512");
    }
    if (!*name)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Bitmap name cannot be empty");
    if (strlen(name) > 1023)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Bitmap name is too long");
    pthread_mutex_lock(&b->bitmap_lock);
    bool exists = find_mem(b, name) != NULL;
    pthread_mutex_unlock(&b->bitmap_lock);
    if (exists || find_persistent(b, name, NULL) > 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Bitmap already exists: %s", name);
    if (persistent) {
        if (!block_bitmaps_supported(b->bd))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Can't store persistent bitmaps to %s: Operation not supported",
                                 str_arg(args, "node"));
        struct block_bitmap_op op = {.action = BLOCK_BITMAP_ADD,
                                     .name = name,
                                     .granularity = (uint32_t)gran,
                                     .disabled = disabled};
        return apply_persistent(b, &op, err);
    }
    struct blockdev_bitmap *m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(name);
    m->granularity = gran ? (uint32_t)gran : default_granularity(b);
    m->recording = !disabled;
    grow(m, (blockdev_size(b) + m->granularity - 1) / m->granularity);
    pthread_mutex_lock(&b->bitmap_lock);
    m->next = b->bitmaps;
    __atomic_store_n(&b->bitmaps, m, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->bitmap_lock);
    return 0;
}

enum simple_op { OP_REMOVE, OP_CLEAR, OP_ENABLE, OP_DISABLE };

static int simple(struct vm *vm, struct json_object *args, enum simple_op what,
                  struct qmp_error *err)
{
    struct blockdev *b = drive_arg(vm, args, err);
    if (!b)
        return -1;
    const char *name = str_arg(args, "name");
    pthread_mutex_lock(&b->bitmap_lock);
    for (struct blockdev_bitmap **p = &b->bitmaps; *p; p = &(*p)->next) {
        struct blockdev_bitmap *m = *p;
        if (strcmp(m->name, name))
            continue;
        if (what == OP_REMOVE) {
            *p = m->next;
            bitmap_free(m);
        } else if (what == OP_CLEAR) {
            memset(m->words, 0, (m->nbits + 63) / 64 * sizeof(uint64_t));
        } else {
            m->recording = what == OP_ENABLE;
        }
        pthread_mutex_unlock(&b->bitmap_lock);
        return 0;
    }
    pthread_mutex_unlock(&b->bitmap_lock);
    if (find_persistent(b, name, NULL) <= 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Dirty bitmap '%s' not found", name);
    static const enum block_bitmap_action actions[] = {BLOCK_BITMAP_REMOVE, BLOCK_BITMAP_CLEAR,
                                                       BLOCK_BITMAP_ENABLE, BLOCK_BITMAP_DISABLE};
    struct block_bitmap_op op = {.action = actions[what], .name = name};
    return apply_persistent(b, &op, err);
}

#define SIMPLE(fn, what)                                                                           \
    static int fn(struct qmp_session *ss, struct json_object *args, struct json_object **ret,      \
                  struct qmp_error *err, void *opaque)                                             \
    {                                                                                              \
        (void)ss, (void)ret;                                                                       \
        return simple(opaque, args, what, err);                                                    \
    }
SIMPLE(qmp_bitmap_remove, OP_REMOVE)
SIMPLE(qmp_bitmap_clear, OP_CLEAR)
SIMPLE(qmp_bitmap_enable, OP_ENABLE)
SIMPLE(qmp_bitmap_disable, OP_DISABLE)

/* block-dirty-bitmap-merge {node, target, bitmaps: [NAME | {node, name}]}: target |= each. */
static int qmp_bitmap_merge(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct blockdev *b = drive_arg(opaque, args, err);
    if (!b)
        return -1;
    const char *target = str_arg(args, "target");
    struct json_object *srcs = json_object_object_get(args, "bitmaps");
    size_t n = json_object_array_length(srcs);
    pthread_mutex_lock(&b->bitmap_lock);
    struct blockdev_bitmap *t = find_mem(b, target);
    pthread_mutex_unlock(&b->bitmap_lock);
    bool t_persistent = !t && find_persistent(b, target, NULL) > 0;
    if (!t && !t_persistent)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Dirty bitmap '%s' not found", target);
    for (size_t i = 0; i < n; i++) {
        struct json_object *s = json_object_array_get_idx(srcs, i);
        const char *name = json_object_is_type(s, json_type_string) ? json_object_get_string(s)
                                                                    : str_arg(s, "name");
        const char *node = json_object_is_type(s, json_type_object) ? str_arg(s, "node") : NULL;
        if (!name)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'bitmaps[%zu]'", i);
        if (node && blockdev_find(opaque, node) != b)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "merging bitmaps of another drive is not supported by vireo-vmm");
        if (t_persistent) {
            if (find_persistent(b, name, NULL) <= 0)
                return qmp_error_set(err, QMP_ERROR_GENERIC, "%s",
                                     find_mem(b, name)
                                         ? "merging a non-persistent bitmap into a persistent one "
                                           "is not supported by vireo-vmm"
                                         : "Dirty bitmap not found");
            struct block_bitmap_op op = {
                .action = BLOCK_BITMAP_MERGE, .name = target, .src_name = name};
            if (apply_persistent(b, &op, err) < 0)
                return -1;
            continue;
        }
        pthread_mutex_lock(&b->bitmap_lock);
        struct blockdev_bitmap *src = find_mem(b, name);
        if (src && src->granularity == t->granularity) {
            grow(t, src->nbits);
            for (uint64_t w = 0; w < (src->nbits + 63) / 64; w++)
                t->words[w] |= src->words[w];
        }
        pthread_mutex_unlock(&b->bitmap_lock);
        if (!src)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s",
                                 find_persistent(b, name, NULL) > 0
                                     ? "merging a persistent bitmap into a non-persistent one is "
                                       "not supported by vireo-vmm"
                                     : "Dirty bitmap not found");
        if (src->granularity != t->granularity)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "merging bitmaps of different granularities is not supported "
                                 "by vireo-vmm");
    }
    return 0;
}

int blockdev_bitmap_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg add_args[] = {
        {"node", QMP_ARG_STRING, false},    {"name", QMP_ARG_STRING, false},
        {"granularity", QMP_ARG_INT, true}, {"persistent", QMP_ARG_BOOL, true},
        {"disabled", QMP_ARG_BOOL, true},   {NULL}};
    static const struct qmp_arg name_args[] = {
        {"node", QMP_ARG_STRING, false}, {"name", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg merge_args[] = {{"node", QMP_ARG_STRING, false},
                                                {"target", QMP_ARG_STRING, false},
                                                {"bitmaps", QMP_ARG_ARRAY, false},
                                                {NULL}};
    int r;
    if ((r = qmp_server_register(server, "block-dirty-bitmap-add", add_args, qmp_bitmap_add, vm)) <
            0 ||
        (r = qmp_server_register(server, "block-dirty-bitmap-remove", name_args, qmp_bitmap_remove,
                                 vm)) < 0 ||
        (r = qmp_server_register(server, "block-dirty-bitmap-clear", name_args, qmp_bitmap_clear,
                                 vm)) < 0 ||
        (r = qmp_server_register(server, "block-dirty-bitmap-enable", name_args, qmp_bitmap_enable,
                                 vm)) < 0 ||
        (r = qmp_server_register(server, "block-dirty-bitmap-disable", name_args,
                                 qmp_bitmap_disable, vm)) < 0 ||
        (r = qmp_server_register(server, "block-dirty-bitmap-merge", merge_args, qmp_bitmap_merge,
                                 vm)) < 0)
        return r;
    return 0;
}
