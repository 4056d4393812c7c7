/*
 * backends-qmp.c - QMP blockdev-add/blockdev-del and netdev_add/netdev_del:
 * backends added to and removed from a running VM, for device_add to name
 * (drive=, netdev=) and device_del to leave behind.
 *
 * blockdev-add takes the three shapes libvirt and users send: a protocol
 * node {"driver": "file", "filename": F, "node-name": N}; a format node
 * over it by name {"driver": "qcow2", "file": N, "node-name": M} (libvirt's
 * "-storage"/"-format" pair); or both in one {"driver": "raw", "file":
 * {"driver": "file", "filename": F}, "node-name": M}. Each node becomes a
 * drive whose id is its node-name; a protocol node a format node sits on is
 * taken by it (it cannot also be a device's drive). A format node's "backing"
 * names the node of its backing image (another image than the header's is
 * opened in its place), or is null (no backing image: unallocated clusters
 * read as zeroes). "detect-zeroes" applies to the node a device uses. The
 * image is opened by the device that uses it; blockdev-add checks the file
 * can be opened as asked. Other drivers and members are refused by name. netdev_add builds
 * the -netdev text from its members and goes through the same parser; a
 * tap's fd= is a number or the name of a descriptor passed with getfd, which
 * the netdev then owns (closed at netdev_del: the kernel removes a
 * non-persistent tap with its last descriptor).
 */
#include "block/block.h"
#include "block/nbd-client.h"
#include "block/secret.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/backends.h"
#include "vmm/cli-backends.h"
#include "vmm/nbd/nbd-client-tls.h"
#include "vmm/state/migration.h"
#include "vmm/vm.h"
#include "qmp/qmp-server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

/* Members of a node other than those given: QEMU's "Parameter 'X' is unexpected". */
static int only_members(struct json_object *o, const char *const *known, struct qmp_error *err)
{
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = str_eq(*k, key);
        if (!ok)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter '%s' is unexpected", key);
    }
    return 0;
}

static int want_string(struct json_object *o, const char *key, bool required, const char **out,
                       struct qmp_error *err)
{
    struct json_object *v = member(o, key);
    *out = NULL;
    if (!v)
        return required ? qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter '%s' is missing", key)
                        : 0;
    if (!json_object_is_type(v, json_type_string))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for '%s', expected: string", key);
    *out = json_object_get_string(v);
    return 0;
}

static int want_bool(struct json_object *o, const char *key, bool *out, struct qmp_error *err)
{
    struct json_object *v = member(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for '%s', expected: boolean", key);
    *out = json_object_get_boolean(v);
    return 0;
}

/* The drive (index) whose node-name is name, or -1. */
static int find_node(const struct vm_backends *be, const char *name)
{
    for (unsigned i = 0; i < be->nr_drives; i++)
        if (be->drives[i].node_name && str_eq(be->drives[i].node_name, name))
            return (int)i;
    return -1;
}

/* cache: {"direct": bool, "no-flush": bool} (QEMU's BlockdevCacheOptions). */
static int parse_cache(struct json_object *c, enum block_cache *out, struct qmp_error *err)
{
    static const char *const known[] = {"direct", "no-flush", NULL};
    if (!c)
        return 0;
    if (!json_object_is_type(c, json_type_object))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'cache', expected: object");
    bool direct = false, no_flush = false;
    if (only_members(c, known, err) < 0 || want_bool(c, "direct", &direct, err) < 0 ||
        want_bool(c, "no-flush", &no_flush, err) < 0)
        return -1;
    if (no_flush && direct)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "cache.direct=on with cache.no-flush=on is not supported");
    *out = no_flush ? BLOCK_CACHE_UNSAFE : direct ? BLOCK_CACHE_NONE : BLOCK_CACHE_WRITEBACK;
    return 0;
}

/* A node's "detect-zeroes" (QEMU's words for a bad value, and for unmap without the node's
 * discard=unmap). */
static int parse_detect_zeroes(struct json_object *o, enum block_detect_zeroes *out,
                               struct qmp_error *err)
{
    const char *dz = NULL, *discard = NULL;
    *out = BLOCK_DETECT_ZEROES_OFF;
    if (want_string(o, "detect-zeroes", false, &dz, err) < 0 ||
        want_string(o, "discard", false, &discard, err) < 0)
        return -1;
    if (dz && block_detect_zeroes_parse(dz, out) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'detect-zeroes' does not accept value '%s'", dz);
    if (*out == BLOCK_DETECT_ZEROES_UNMAP && !(discard && str_eq(discard, "unmap")))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "setting detect-zeroes to unmap is not allowed without setting "
                             "discard operation to unmap");
    return 0;
}

/* A protocol node {"driver": "file", "filename": F, ...}: its file name. */
static int file_node(struct json_object *o, const char **filename, struct qmp_error *err)
{
    static const char *const known[] = {"driver",        "filename", "node-name", "read-only",
                                        "cache",         "discard",  "aio",       "auto-read-only",
                                        "detect-zeroes", NULL};
    if (only_members(o, known, err) < 0 || want_string(o, "filename", true, filename, err) < 0)
        return -1;
    return 0;
}

/* A protocol node {"driver": "nbd", "server": SocketAddress, "export": NAME, ...}: its address
 * as an NBD URI (block/nbd-client.h), checked by connecting to it as QEMU does at open. Only
 * a mirror's target can use it (blockdev-mirror); a device opening it is refused. */
static int nbd_node(struct json_object *o, struct migration *mig, char **uri,
                    struct nbd_client **conn, struct qmp_error *err)
{
    static const char *const known[] = {"driver",    "server",       "export",
                                        "node-name", "read-only",    "auto-read-only",
                                        "tls-creds", "tls-hostname", NULL};
    const char *type, *export = "", *path = NULL, *host = NULL, *port = "10809";
    const char *tls_creds = NULL, *tls_hostname = NULL;
    struct json_object *srv = member(o, "server");
    if (only_members(o, known, err) < 0 || want_string(o, "export", false, &export, err) < 0 ||
        want_string(o, "tls-creds", false, &tls_creds, err) < 0 ||
        want_string(o, "tls-hostname", false, &tls_hostname, err) < 0)
        return -1;
    if (tls_hostname && !tls_creds)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "tls-hostname is set but tls-creds is not");
    if (!export)
        export = "";
    if (!srv)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'server' is missing");
    if (!json_object_is_type(srv, json_type_object) ||
        want_string(srv, "type", true, &type, err) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'server', expected: object");
    if (strchr(export, '?') || strchr(export, '/'))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "blockdev-add: NBD export name '%s' with '?' or '/' is not "
                             "supported by vireo-vmm",
                             export);
    if (str_eq(type, "unix")) {
        if (want_string(srv, "path", true, &path, err) < 0)
            return -1;
        *uri = xasprintf("nbd+unix:///%s?socket=%s", export, path);
    } else if (str_eq(type, "inet")) {
        if (want_string(srv, "host", true, &host, err) < 0 ||
            want_string(srv, "port", false, &port, err) < 0)
            return -1;
        if (!port)
            port = "10809";
        *uri = xasprintf(strchr(host, ':') ? "nbd://[%s]:%s/%s" : "nbd://%s:%s/%s", host, port,
                         export);
    } else {
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "blockdev-add: NBD server type '%s' is not supported by vireo-vmm "
                             "(unix and inet are)",
                             type);
    }
    struct nbd_addr a = {0};
    struct nbd_client *c = NULL;
    struct nbd_client_tls tls;
    struct verr e = {0};
    int r = nbd_uri_parse(*uri, &a, &e);
    /* TLS: the server's certificate names tls-hostname, else the host connected to. */
    if (r == 0 && tls_creds && !mig)
        r = verr_set(&e, ENOTSUP, "tls-creds: no tls-creds-x509 objects here");
    else if (r == 0 && tls_creds)
        r = nbd_client_tls_new(mig, tls_creds, tls_hostname ? tls_hostname : host, &tls, &e);
    if (r == 0)
        r = nbd_client_connect(&a, tls_creds ? &tls : NULL, &c, &e);
    nbd_addr_free(&a);
    if (r < 0) {
        free(*uri);
        *uri = NULL;
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    }
    *conn = c;
    return 0;
}

/* Whether the image file (of format) names backing_file (the backing node's) as its backing
 * file in its header: the same file once both are resolved. *none: it names none. */
static bool same_backing(const char *file, const char *format, const char *backing_file, bool *none)
{
    *none = false;
    struct block_open_opts peek = {.read_only = true,
                                   .format = format,
                                   .no_backing = true,
                                   .no_io = true,
                                   .locking = BLOCK_LOCKING_OFF};
    struct block_dev *pb;
    struct block_info info;
    if (block_open(file, &peek, &pb, NULL) < 0)
        return true; /* the device's open says why */
    bool same = false;
    if (block_get_info(pb, &info, NULL) == 0) {
        *none = !info.full_backing_path;
        char *a = info.full_backing_path ? realpath(info.full_backing_path, NULL) : NULL;
        char *b = realpath(backing_file, NULL);
        same = a && b && !strcmp(a, b);
        free(a);
        free(b);
        block_info_free(&info);
    }
    block_close(pb);
    return same;
}

/* detect-zeroes on a protocol node a format node sits on would see the format's writes (its
 * metadata too); vireo-vmm applies it to the node a device uses. */
static int under_format_node(const char *node, struct qmp_error *err)
{
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "blockdev-add: detect-zeroes on protocol node '%s' under a format node "
                         "is not supported by vireo-vmm (set it on the format node)",
                         node);
}

/* An encrypted format node's key: "key-secret" on a luks node, "encrypt": {"format": "luks",
 * "key-secret": ID} on a qcow2 one (QEMU's spelling), naming a secret object already added
 * (the image itself is unlocked when a device opens it). */
static int blockdev_keys(struct vm_backends *be, struct json_object *args, const char *driver,
                         const char **key_secret, const char **encrypt_format,
                         struct qmp_error *err)
{
    struct json_object *ks = member(args, "key-secret"), *enc = member(args, "encrypt");
    if (ks && !str_eq(driver, "luks"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'key-secret' is unexpected");
    if (enc && !str_eq(driver, "qcow2"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'encrypt' is unexpected");
    if (enc) {
        if (!json_object_is_type(enc, json_type_object))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'encrypt', expected: object");
        json_object_object_foreach(enc, key, val)
        {
            (void)val;
            if (!str_eq(key, "format") && !str_eq(key, "key-secret"))
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'encrypt.%s' is unexpected",
                                     key);
        }
        if (want_string(enc, "format", true, encrypt_format, err) < 0)
            return -1;
        if (!str_eq(*encrypt_format, "luks"))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "blockdev-add: encrypt.format '%s' is not supported by "
                                 "vireo-vmm (luks)",
                                 *encrypt_format);
        ks = json_object_object_get(enc, "key-secret");
    }
    if (!ks)
        return 0;
    if (!json_object_is_type(ks, json_type_string))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'key-secret', expected: string");
    *key_secret = json_object_get_string(ks);
    const uint8_t *data;
    size_t len;
    struct verr e = {0};
    if (secret_lookup(&be->secrets, *key_secret, &data, &len, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

int backends_blockdev_add(struct vm_backends *be, struct json_object *args, struct migration *mig,
                          struct qmp_error *err)
{
    static const char *const known[] = {
        "driver",   "node-name",      "file",    "read-only",     "cache",      "discard", "aio",
        "filename", "auto-read-only", "backing", "detect-zeroes", "key-secret", "encrypt", NULL};
    const char *driver, *node, *discard = NULL, *aio = NULL, *filename = NULL, *over = NULL;
    bool read_only = false;
    enum block_cache cache = BLOCK_CACHE_WRITEBACK;
    if (want_string(args, "driver", true, &driver, err) < 0 ||
        want_string(args, "node-name", false, &node, err) < 0 ||
        want_string(args, "discard", false, &discard, err) < 0 ||
        want_string(args, "aio", false, &aio, err) < 0 ||
        want_bool(args, "read-only", &read_only, err) < 0 ||
        parse_cache(member(args, "cache"), &cache, err) < 0)
        return -1;
    bool auto_ro = false;
    enum block_detect_zeroes dz;
    if (want_bool(args, "auto-read-only", &auto_ro, err) < 0 ||
        parse_detect_zeroes(args, &dz, err) < 0)
        return -1;
    if (!node)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "'node-name' must be specified for the root node");
    if (find_node(be, node) >= 0 || vm_backends_find(be, BACKEND_DRIVE, node) >= 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Duplicate nodes with node-name='%s'", node);
    if (discard && !str_eq(discard, "unmap") && !str_eq(discard, "ignore"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter '%s'", discard);
    if (aio && !str_eq(aio, "threads") && !str_eq(aio, "io_uring") && !str_eq(aio, "native"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter '%s'", aio);
    const char *format = NULL, *backing = NULL;
    const char *key_secret = NULL, *encrypt_format = NULL; /* luks's, or qcow2's encrypt */
    bool backing_null = false;
    int backing_index = -1;
    bool override = false;
    char *nbd_uri = NULL;          /* freed at the end */
    struct nbd_client *nbd = NULL; /* the node keeps it */
    int file_index = -1;
    if (str_eq(driver, "nbd")) {
        if (nbd_node(args, mig, &nbd_uri, &nbd, err) < 0)
            return -1;
        filename = nbd_uri;
        format = "nbd";
    } else if (str_eq(driver, "file")) {
        if (file_node(args, &filename, err) < 0)
            return -1;
        format = "raw"; /* a device on a protocol node sees the file's bytes */
    } else if (block_format_supported(driver)) {
        if (only_members(args, known, err) < 0)
            return -1;
        if (member(args, "filename"))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'filename' is unexpected");
        struct json_object *f = member(args, "file");
        if (!f)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'file' is missing");
        if (json_object_is_type(f, json_type_string)) {
            over = json_object_get_string(f);
            file_index = find_node(be, over);
            if (file_index < 0)
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Cannot find device='' nor node-name='%s'", over);
            if (be->drive_used[file_index] || be->drives[file_index].format_node)
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Node '%s' is already in use", over);
            if (be->drives[file_index].detect_zeroes != BLOCK_DETECT_ZEROES_OFF)
                return under_format_node(over, err);
            filename = be->drives[file_index].file;
        } else if (json_object_is_type(f, json_type_object)) {
            const char *fd_driver;
            if (want_string(f, "driver", true, &fd_driver, err) < 0)
                return -1;
            if (str_eq(fd_driver, "nbd") && str_eq(driver, "raw")) {
                if (nbd_node(f, mig, &nbd_uri, &nbd, err) < 0)
                    return -1;
                filename = nbd_uri;
            } else if (!str_eq(fd_driver, "file")) {
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "blockdev-add: protocol driver '%s' not supported (file; nbd "
                                     "under raw)",
                                     fd_driver);
            } else if (file_node(f, &filename, err) < 0) {
                return -1;
            }
            enum block_detect_zeroes fdz;
            if (parse_detect_zeroes(f, &fdz, err) < 0)
                return -1;
            if (fdz != BLOCK_DETECT_ZEROES_OFF)
                return under_format_node("file", err);
        } else {
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'file', expected: object or string");
        }
        format = driver;
        if (blockdev_keys(be, args, driver, &key_secret, &encrypt_format, err) < 0)
            return -1;
        struct json_object *bk = NULL;
        bool has_backing = json_object_object_get_ex(args, "backing", &bk);
        if (has_backing && bk && !json_object_is_type(bk, json_type_string))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'backing', expected: string or null");
        if (bk) {
            backing = json_object_get_string(bk);
            backing_index = find_node(be, backing);
            if (backing_index < 0)
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Cannot find device='' nor node-name='%s'", backing);
            if (be->drive_used[backing_index] || be->drives[backing_index].format_node ||
                backing_index == file_index)
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Node '%s' is already in use",
                                     backing);
        }
        /* "backing": null opens the image alone (blockdev-snapshot can put one under the
         * node); a node other than the header's backing file is opened in its place (one
         * level: that node's own chain is its header's). */
        backing_null = has_backing && !bk;
        bool none = false;
        if (bk && !same_backing(filename, driver, be->drives[backing_index].file, &none)) {
            const struct vmm_drive *bn = &be->drives[backing_index];
            if (none)
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "blockdev-add: backing node '%s' for '%s', whose header "
                                     "names no backing file, is not supported by vireo-vmm",
                                     backing, filename);
            if (bn->nbd || bn->backing_null || bn->backing_file || !bn->file)
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "blockdev-add: backing node '%s' is not supported by "
                                     "vireo-vmm as an overriding backing node (an NBD node, or "
                                     "one with its own backing override)",
                                     backing);
            override = true;
        }
    } else {
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "blockdev-add: driver '%s' not supported (file, or an image format: "
                             "raw, qcow2, ...)",
                             driver);
    }
    if (!nbd_uri_is_nbd(filename)) {
        int fd = open(filename, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Could not open '%s': %s", filename,
                                 strerror(errno));
        close(fd);
    }
    int i = vm_backends_new_slot(be, BACKEND_DRIVE);
    if (i < 0) {
        free(nbd_uri);
        nbd_client_close(nbd);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "blockdev-add: at most %u block nodes",
                             VMM_MAX_DRIVES);
    }
    struct vmm_drive *d = &be->drives[i];
    memset(d, 0, sizeof(*d));
    d->id = xstrdup(node);
    d->node_name = xstrdup(node);
    d->file = xstrdup(filename);
    d->format = xstrdup(format);
    d->cache = cache;
    d->read_only = read_only;
    d->discard_unmap = discard && str_eq(discard, "unmap");
    d->detect_zeroes = dz;
    d->aio_io_uring = aio && str_eq(aio, "io_uring");
    d->nbd = nbd;
    d->backing_null = backing_null;
    d->key_secret = key_secret ? xstrdup(key_secret) : NULL;
    d->encrypt_format = encrypt_format ? xstrdup(encrypt_format) : NULL;
    be->drive_used[i] = false;
    if (file_index >= 0) {
        d->file_node = xstrdup(over);
        be->drives[file_index].format_node = true; /* taken by this format node */
    }
    if (backing_index >= 0) {
        d->backing_node = xstrdup(backing);
        be->drives[backing_index].format_node = true; /* taken as this node's backing */
    }
    if (override) {
        d->backing_file = xstrdup(be->drives[backing_index].file);
        d->backing_format = xstrdup(be->drives[backing_index].format);
    }
    free(nbd_uri);
    return 0;
}

static int qmp_blockdev_add(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    return backends_blockdev_add(vm->backends, args, vm->migration, err);
}

static int qmp_blockdev_del(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    struct vm_backends *be = vm->backends;
    const char *node = json_object_get_string(member(args, "node-name"));
    int i = find_node(be, node);
    if (i < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Failed to find node with node-name='%s'",
                             node);
    if (be->drive_used[i])
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Node '%s' is busy: node is used as guest "
                             "device",
                             node);
    if (be->drives[i].overlay_of_drive) /* blockdev-snapshot put it on a drive */
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Node %s is in use", node);
    if (be->drives[i].format_node)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Node '%s' is busy: node is used as the file of another node", node);
    if (be->drives[i].nbd_busy)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Node '%s' is busy: block device is in use by block job: mirror",
                             node);
    const char *taken[] = {be->drives[i].file_node, be->drives[i].backing_node};
    for (size_t k = 0; k < 2; k++) {
        int f = taken[k] ? find_node(be, taken[k]) : -1;
        if (f >= 0)
            be->drives[f].format_node = false;
    }
    vm_backends_drop(be, BACKEND_DRIVE, i);
    return 0;
}

/* Appends ",KEY=VALUE" with QEMU's ",," escape for commas in the value. */
static void add_opt(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, ",%s=", key);
    for (const char *p = value; *p; p++)
        buf_append_str(b, *p == ',' ? ",," : (char[]){*p, 0});
}

static int qmp_netdev_add(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *type = json_object_get_string(member(args, "type"));
    const char *id = json_object_get_string(member(args, "id"));
    if (vm_backends_find(vm->backends, BACKEND_NETDEV, id) >= 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Duplicate ID '%s' for netdev", id);
    if (strchr(type, ','))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter 'type'");
    /* fd=NAME: the descriptor a getfd kept under that name, which the netdev takes over (a
     * later closefd NAME finds nothing, as in QEMU); fd=N is a descriptor vireo-vmm inherited.
     * fds=A:B:... (a multiqueue tap) takes names or numbers the same way, one per queue. */
    const char *fdname = json_object_get_string(member(args, "fd"));
    int named_fd = -1;
    if (str_eq(type, "tap") && fdname && *fdname && !(*fdname >= '0' && *fdname <= '9')) {
        named_fd = migration_take_fd(vm->migration, fdname);
        if (named_fd < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "File descriptor named '%s' has not been found", fdname);
    }
    const char *fdsnames = json_object_get_string(member(args, "fds"));
    int named_fds[NET_MAX_QUEUES];
    unsigned nnamed = 0;
    char *fds_text = NULL;
    if (str_eq(type, "tap") && fdsnames && named_fd < 0) {
        struct buf fb = BUF_INIT;
        char *list = xstrdup(fdsnames), *save = NULL;
        for (char *tok = strtok_r(list, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
            if (*tok >= '0' && *tok <= '9') { /* an inherited descriptor: as -netdev takes it */
                buf_printf(&fb, "%s%s", fb.len ? ":" : "", tok);
                continue;
            }
            int fd = nnamed < NET_MAX_QUEUES ? migration_take_fd(vm->migration, tok) : -1;
            if (fd < 0) {
                int r =
                    nnamed < NET_MAX_QUEUES
                        ? qmp_error_set(err, QMP_ERROR_GENERIC,
                                        "File descriptor named '%s' has not been found", tok)
                        : qmp_error_set(err, QMP_ERROR_GENERIC, "fds=%s: at most %u descriptors",
                                        fdsnames, NET_MAX_QUEUES);
                while (nnamed)
                    close(named_fds[--nnamed]); /* refused: taken ones are not kept */
                free(list);
                buf_free(&fb);
                return r;
            }
            named_fds[nnamed++] = fd;
            buf_printf(&fb, "%s%d", fb.len ? ":" : "", fd);
        }
        free(list);
        fds_text = buf_detach(&fb, NULL);
    }
    struct buf b = BUF_INIT;
    buf_append_str(&b, type);
    add_opt(&b, "id", id);
    int r = 0;
    json_object_object_foreach(args, key, val)
    {
        if (str_eq(key, "type") || str_eq(key, "id"))
            continue;
        char *text = NULL;
        if (named_fd >= 0 && str_eq(key, "fd"))
            text = xasprintf("%d", named_fd);
        else if (fds_text && str_eq(key, "fds"))
            text = xstrdup(fds_text);
        else if (json_object_is_type(val, json_type_string))
            text = xstrdup(json_object_get_string(val));
        else if (json_object_is_type(val, json_type_boolean))
            text = xstrdup(json_object_get_boolean(val) ? "on" : "off");
        else if (json_object_is_type(val, json_type_int))
            text = xasprintf("%" PRId64, json_object_get_int64(val));
        if (!text) {
            r = qmp_error_set(err, QMP_ERROR_GENERIC,
                              "Parameter '%s' expects a string, number or boolean", key);
            break;
        }
        add_opt(&b, key, text);
        free(text);
    }
    char *text = buf_detach(&b, NULL);
    struct verr e = {0};
    if (r == 0 && cli_netdev(vm->backends, text, &e) < 0)
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    free(text);
    free(fds_text);
    if (named_fd >= 0 || nnamed) {
        int i = r == 0 ? vm_backends_find(vm->backends, BACKEND_NETDEV, id) : -1;
        if (i >= 0) {
            vm->backends->netdevs[i].fd_owned = true;
        } else { /* refused: the descriptors are not kept (QEMU closes them too) */
            if (named_fd >= 0)
                close(named_fd);
            while (nnamed)
                close(named_fds[--nnamed]);
        }
    }
    return r;
}

static int qmp_netdev_del(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *id = json_object_get_string(member(args, "id"));
    int i = vm_backends_find(vm->backends, BACKEND_NETDEV, id);
    if (i < 0)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", id);
    if (vm->backends->netdev_used[i])
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Netdev '%s' is in use by a device (device_del it first)", id);
    /* A tap's descriptor goes with its netdev, whether inherited (fd=N) or passed with getfd,
     * as in QEMU: the kernel then removes a tap nobody else holds. */
    struct net_options *n = &vm->backends->netdevs[i];
    if (n->kind == NET_TAP && (n->fd >= 0 || n->nr_fds))
        n->fd_owned = true;
    vm_backends_drop(vm->backends, BACKEND_NETDEV, i);
    return 0;
}

int backends_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg add_args[] = {
        {"driver", QMP_ARG_STRING, false}, {"*", QMP_ARG_ANY, true}, {NULL}};
    static const struct qmp_arg del_args[] = {{"node-name", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg netdev_args[] = {{"type", QMP_ARG_STRING, false},
                                                 {"id", QMP_ARG_STRING, false},
                                                 {"*", QMP_ARG_ANY, true},
                                                 {NULL}};
    static const struct qmp_arg id_args[] = {{"id", QMP_ARG_STRING, false}, {NULL}};
    int r = qmp_server_register(server, "blockdev-add", add_args, qmp_blockdev_add, vm);
    if (r == 0)
        r = qmp_server_register(server, "blockdev-del", del_args, qmp_blockdev_del, vm);
    if (r == 0)
        r = qmp_server_register(server, "netdev_add", netdev_args, qmp_netdev_add, vm);
    if (r == 0)
        r = qmp_server_register(server, "netdev_del", id_args, qmp_netdev_del, vm);
    return r;
}
