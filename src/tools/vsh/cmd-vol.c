/*
 * cmd-vol.c - virsh's storage volume commands (vol-list, vol-info,
 * vol-create-as, vol-create, vol-create-from, vol-clone, vol-delete,
 * vol-wipe, vol-resize, vol-upload, vol-download, vol-dumpxml, vol-path,
 * vol-key, vol-name, vol-pool) with virsh's options, outputs and error
 * lines. A volume is found as virsh finds it: by name in --pool, else by
 * key, else by path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"

#define VOL_OPTS                                                                                   \
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "vol name, key or path"},                                \
    {                                                                                              \
        "pool", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "pool name or uuid"                              \
    }

const struct vsh_opt vsh_opts_vol[] = {
    VOL_OPTS,
    {NULL, 0, 0, NULL},
};

/* The volume named by option `opt` (and --`pool_opt` when given), as virsh's
 * vshCommandOptVol; NULL after printing why. */
static vir_storage_vol *lookup_vol(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *opt,
                                   const char *pool_opt)
{
    const char *n = vsh_opt_string(cmd, opt), *pn = pool_opt ? vsh_opt_string(cmd, pool_opt) : NULL;
    vir_storage_pool *pool = NULL;
    if (pn && !(pool = vsh_lookup_pool_name(ctl, pn)))
        return NULL;
    vir_error err;
    vir_storage_vol *v = NULL;
    if (pool)
        v = vir_storage_vol_lookup_by_name(pool, n, &err);
    if (!v)
        v = vir_storage_vol_lookup_by_key(ctl->conn, n, &err);
    if (!v)
        v = vir_storage_vol_lookup_by_path(ctl->conn, n, &err);
    if (!v) {
        if (pool || !pool_opt)
            vsh_error(ctl, "failed to get vol '%s'", n);
        else
            vsh_error(ctl, "failed to get vol '%s', specifying --%s might help", n, pool_opt);
        vsh_report(ctl, &err);
    } else if (pool) {
        vir_storage_pool *vp = vir_storage_pool_lookup_by_volume(v, &err);
        if (vp && strcmp(vir_storage_pool_get_name(vp), vir_storage_pool_get_name(pool)) != 0) {
            vsh_error(ctl, "Requested volume '%s' is not in pool '%s'", n,
                      vir_storage_pool_get_name(pool));
            vir_storage_vol_free(v);
            v = NULL;
        }
        vir_storage_pool_free(vp);
    }
    vir_storage_pool_free(pool);
    return v;
}

/* ---- vol-list and vol-info ---- */

const struct vsh_opt vsh_opts_vol_list[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {"details", VSH_OT_BOOL, 0, "display extended details for volumes"},
    {NULL, 0, 0, NULL},
};

static const char *vol_type(int t)
{
    static const char *const types[] = {"file", "block", "dir", "network", "netdir", "ploop"};
    return t >= 0 && t <= 5 ? types[t] : "unknown";
}

static int cmp_vols(const void *a, const void *b)
{
    return strcmp(vir_storage_vol_get_name(*(vir_storage_vol *const *)a),
                  vir_storage_vol_get_name(*(vir_storage_vol *const *)b));
}

bool vsh_cmd_vol_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = vsh_lookup_pool_name(ctl, vsh_opt_string(cmd, "pool"));
    if (!p)
        return false;
    bool details = vsh_opt_bool(cmd, "details");
    vir_error err;
    vir_storage_vol **vols = NULL;
    int n = vir_storage_pool_list_all_volumes(p, &vols, 0, &err);
    vir_storage_pool_free(p);
    if (n < 0) {
        vsh_error(ctl, "Failed to list active vols");
        vsh_report(ctl, &err);
        return false;
    }
    qsort(vols, (size_t)n, sizeof(*vols), cmp_vols);
    static const char *const head[] = {"Name", "Path"};
    static const char *const dhead[] = {"Name", "Path", "Type", "Capacity", "Allocation"};
    struct vsh_table *t = vsh_table_new(details ? 5 : 2, details ? dhead : head);
    for (int i = 0; i < n; i++) {
        char *path = vir_storage_vol_get_path(vols[i], &err);
        vir_storage_vol_info info;
        char c[32] = "unknown", a[32] = "unknown";
        const char *type = "unknown";
        if (details && vir_storage_vol_get_info(vols[i], &info, &err) == 0) {
            type = vol_type(info.type);
            vsh_pretty_capacity(info.capacity, c, sizeof(c));
            vsh_pretty_capacity(info.allocation, a, sizeof(a));
        }
        const char *row[] = {vir_storage_vol_get_name(vols[i]), path ? path : "unknown", type, c,
                             a};
        vsh_table_add(t, row);
        free(path);
        vir_storage_vol_free(vols[i]);
    }
    free(vols);
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_print(ctl, "%s", buf_cstr(&out));
    buf_free(&out);
    vsh_table_free(t);
    return true;
}

const struct vsh_opt vsh_opts_vol_info[] = {
    VOL_OPTS,
    {"bytes", VSH_OT_BOOL, 0, "sizes are represented in bytes rather than pretty units"},
    {"physical", VSH_OT_BOOL, 0, "return the physical size of the volume in allocation field"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vsh_print(ctl, "%-15s %s\n", "Name:", vir_storage_vol_get_name(v));
    vir_error err;
    vir_storage_vol_info info;
    /* --physical: a file volume's allocation is what it uses on the host already */
    bool ok = vir_storage_vol_get_info(v, &info, &err) == 0;
    if (ok) {
        vsh_print(ctl, "%-15s %s\n", "Type:", vol_type(info.type));
        unsigned long long vals[] = {info.capacity, info.allocation};
        static const char *const labels[] = {"Capacity:", "Allocation:"};
        for (int i = 0; i < 2; i++) {
            char s[40];
            if (vsh_opt_bool(cmd, "bytes"))
                snprintf(s, sizeof(s), "%llu bytes", vals[i]);
            else
                vsh_pretty_capacity(vals[i], s, sizeof(s));
            vsh_print(ctl, "%-15s %s\n",
                      i == 1 && vsh_opt_bool(cmd, "physical") ? "Physical:" : labels[i], s);
        }
    } else {
        vsh_report(ctl, &err);
    }
    vir_storage_vol_free(v);
    return ok;
}

/* ---- creation ---- */

const struct vsh_opt vsh_opts_vol_create_as[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name"},
    {"name", VSH_OT_STRING, VSH_OFLAG_REQ, "name of the volume"},
    {"capacity", VSH_OT_STRING, VSH_OFLAG_REQ,
     "size of the vol, as scaled integer (default bytes)"},
    {"allocation", VSH_OT_STRING, 0, "initial allocation size, as scaled integer (default bytes)"},
    {"format", VSH_OT_STRING, 0, "file format type raw,bochs,qcow,qcow2,qed,vmdk"},
    {"backing-vol", VSH_OT_STRING, 0, "the backing volume if taking a snapshot"},
    {"backing-vol-format", VSH_OT_STRING, 0, "format of backing volume if taking a snapshot"},
    {"prealloc-metadata", VSH_OT_BOOL, 0,
     "preallocate metadata (for qcow2 instead of full allocation)"},
    {"print-xml", VSH_OT_BOOL, 0, "print XML document, but don't define/create"},
    {NULL, 0, 0, NULL},
};

static void put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '<'    ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '&'  ? "&amp;"
                        : *s == '\'' ? "&apos;"
                                     : NULL;
        if (e)
            buf_append_str(b, e);
        else
            buf_append(b, s, 1);
    }
}

static bool size_opt(struct vsh_ctl *ctl, const char *what, const char *s, unsigned long long *out)
{
    if (vsh_parse_scaled(s, 1, ~0ULL, out) < 0) {
        vsh_error(ctl, "Malformed size %s", s);
        (void)what;
        return false;
    }
    return true;
}

bool vsh_cmd_vol_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *name = vsh_opt_string(cmd, "name"), *fmt = vsh_opt_string(cmd, "format"),
               *backing = vsh_opt_string(cmd, "backing-vol"),
               *bfmt = vsh_opt_string(cmd, "backing-vol-format"),
               *alloc_s = vsh_opt_string(cmd, "allocation");
    unsigned long long capacity, allocation = 0;
    if (!size_opt(ctl, "capacity", vsh_opt_string(cmd, "capacity"), &capacity) ||
        (alloc_s && !size_opt(ctl, "allocation", alloc_s, &allocation)))
        return false;
    vir_storage_pool *p = vsh_lookup_pool_name(ctl, vsh_opt_string(cmd, "pool"));
    if (!p)
        return false;
    struct buf x = BUF_INIT;
    bool ok = false;
    char *bpath = NULL;
    vir_error err;
    buf_append_str(&x, "<volume>\n  <name>");
    put_escaped(&x, name);
    buf_printf(&x, "</name>\n  <capacity>%llu</capacity>\n", capacity);
    if (alloc_s)
        buf_printf(&x, "  <allocation>%llu</allocation>\n", allocation);
    if (fmt) {
        buf_append_str(&x, "  <target>\n    <format type='");
        put_escaped(&x, fmt);
        buf_append_str(&x, "'/>\n  </target>\n");
    }
    if (backing) {
        /* by name in this pool, then by key, then by path, as virsh */
        vir_storage_vol *bv = vir_storage_vol_lookup_by_name(p, backing, &err);
        if (!bv)
            bv = vir_storage_vol_lookup_by_key(ctl->conn, backing, &err);
        if (!bv)
            bv = vir_storage_vol_lookup_by_path(ctl->conn, backing, &err);
        if (!bv) {
            vsh_error(ctl, "failed to get vol '%s'", backing);
            vsh_report(ctl, &err);
            goto out;
        }
        bpath = vir_storage_vol_get_path(bv, &err);
        vir_storage_vol_free(bv);
        if (!bpath) {
            vsh_error(ctl, "failed to get vol '%s'", backing);
            goto out;
        }
        buf_append_str(&x, "  <backingStore>\n    <path>");
        put_escaped(&x, bpath);
        buf_append_str(&x, "</path>\n");
        if (bfmt) {
            buf_append_str(&x, "    <format type='");
            put_escaped(&x, bfmt);
            buf_append_str(&x, "'/>\n");
        }
        buf_append_str(&x, "  </backingStore>\n");
    }
    buf_append_str(&x, "</volume>\n");
    if (vsh_opt_bool(cmd, "print-xml")) {
        vsh_print(ctl, "%s", buf_cstr(&x));
        ok = true;
        goto out;
    }
    unsigned flags =
        vsh_opt_bool(cmd, "prealloc-metadata") ? VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA : 0;
    vir_storage_vol *v = vir_storage_vol_create_xml(p, buf_cstr(&x), flags, &err);
    if (!v) {
        vsh_error(ctl, "Failed to create vol %s", name);
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Vol %s created\n", vir_storage_vol_get_name(v));
    vir_storage_vol_free(v);
    ok = true;
out:
    free(bpath);
    buf_free(&x);
    vir_storage_pool_free(p);
    return ok;
}

const struct vsh_opt vsh_opts_vol_create[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name"},
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML vol description"},
    {"prealloc-metadata", VSH_OT_BOOL, 0,
     "preallocate metadata (for qcow2 instead of full allocation)"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};

const struct vsh_opt vsh_opts_vol_create_from[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name"},
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML vol description"},
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "input vol name or key"},
    {"inputpool", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "pool name or uuid of the input volume's pool"},
    {"prealloc-metadata", VSH_OT_BOOL, 0,
     "preallocate metadata (for qcow2 instead of full allocation)"},
    {"reflink", VSH_OT_BOOL, 0, "use btrfs COW lightweight copy"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};

static bool vol_from_file(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool from)
{
    const char *file = vsh_opt_string(cmd, "file");
    vir_storage_pool *p = vsh_lookup_pool_name(ctl, vsh_opt_string(cmd, "pool"));
    if (!p)
        return false;
    vir_storage_vol *in = NULL;
    char *xml = NULL;
    bool ok = false;
    if (from && !(in = lookup_vol(ctl, cmd, "vol", "inputpool")))
        goto out;
    if (!(xml = vsh_read_xml_file(ctl, file)))
        goto out;
    unsigned flags =
        vsh_opt_bool(cmd, "prealloc-metadata") ? VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA : 0;
    if (vsh_opt_bool(cmd, "validate"))
        flags |= 1u << 2; /* VIR_STORAGE_VOL_CREATE_VALIDATE: the daemon always validates */
    if (from && vsh_opt_bool(cmd, "reflink"))
        flags |= 1u << 1; /* VIR_STORAGE_VOL_CREATE_REFLINK: the daemon refuses it in one line */
    vir_error err;
    vir_storage_vol *v = from ? vir_storage_vol_create_xml_from(p, xml, in, flags, &err)
                              : vir_storage_vol_create_xml(p, xml, flags, &err);
    if (!v) {
        vsh_error(ctl, "Failed to create vol from %s", file);
        vsh_report(ctl, &err);
        goto out;
    }
    if (from)
        vsh_print_extra(ctl, "Vol %s created from input vol %s\n", vir_storage_vol_get_name(v),
                        vir_storage_vol_get_name(in));
    else
        vsh_print_extra(ctl, "Vol %s created from %s\n", vir_storage_vol_get_name(v), file);
    vir_storage_vol_free(v);
    ok = true;
out:
    free(xml);
    vir_storage_vol_free(in);
    vir_storage_pool_free(p);
    return ok;
}

bool vsh_cmd_vol_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return vol_from_file(ctl, cmd, false);
}

bool vsh_cmd_vol_create_from(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return vol_from_file(ctl, cmd, true);
}

const struct vsh_opt vsh_opts_vol_clone[] = {
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "orig vol name or key"},
    {"newname", VSH_OT_STRING, VSH_OFLAG_REQ, "clone name"},
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "pool name or uuid"},
    {"prealloc-metadata", VSH_OT_BOOL, 0,
     "preallocate metadata (for qcow2 instead of full allocation)"},
    {"reflink", VSH_OT_BOOL, 0, "use btrfs COW lightweight copy"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_clone(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    const char *newname = vsh_opt_string(cmd, "newname");
    vir_error err;
    bool ok = false;
    vir_storage_pool *p = vir_storage_pool_lookup_by_volume(v, &err);
    char *xml = p ? vir_storage_vol_get_xml_desc(v, 0, &err) : NULL;
    struct buf x = BUF_INIT;
    if (!xml) {
        vsh_error(ctl, "failed to get pool of volume '%s'", vir_storage_vol_get_name(v));
        vsh_report(ctl, &err);
        goto out;
    }
    /* the original's description with the new name (its path and key are the pool's) */
    const char *a = strstr(xml, "<name>"), *b = a ? strstr(a, "</name>") : NULL;
    if (!b) {
        vsh_error(ctl, "Failed to clone vol from %s", vir_storage_vol_get_name(v));
        goto out;
    }
    buf_append(&x, xml, (size_t)(a - xml) + 6);
    put_escaped(&x, newname);
    buf_append_str(&x, b);
    unsigned flags =
        vsh_opt_bool(cmd, "prealloc-metadata") ? VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA : 0;
    if (vsh_opt_bool(cmd, "reflink"))
        flags |= 1u << 1;
    vir_storage_vol *nv = vir_storage_vol_create_xml_from(p, buf_cstr(&x), v, flags, &err);
    if (!nv) {
        vsh_error(ctl, "Failed to clone vol from %s", vir_storage_vol_get_name(v));
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Vol %s cloned from %s\n", vir_storage_vol_get_name(nv),
                    vir_storage_vol_get_name(v));
    vir_storage_vol_free(nv);
    ok = true;
out:
    buf_free(&x);
    free(xml);
    vir_storage_pool_free(p);
    vir_storage_vol_free(v);
    return ok;
}

/* ---- delete, wipe, resize ---- */

const struct vsh_opt vsh_opts_vol_delete[] = {
    VOL_OPTS,
    {"delete-snapshots", VSH_OT_BOOL, 0, "delete snapshots associated with volume"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vir_error err;
    /* --delete-snapshots: VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS (a file has none elsewhere) */
    bool ok = vir_storage_vol_delete(v, vsh_opt_bool(cmd, "delete-snapshots") ? 2 : 0, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "Failed to delete vol %s", vir_storage_vol_get_name(v));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Vol %s deleted\n", vir_storage_vol_get_name(v));
    }
    vir_storage_vol_free(v);
    return ok;
}

const struct vsh_opt vsh_opts_vol_wipe[] = {
    VOL_OPTS,
    {"algorithm", VSH_OT_STRING, 0, "perform selected wiping algorithm"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_wipe(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const char *const algs[] = {"zero",     "nnsa",      "dod",        "bsi",    "gutmann",
                                       "schneier", "pfitzner7", "pfitzner33", "random", "trim"};
    const char *alg = vsh_opt_string(cmd, "algorithm");
    unsigned a = 0;
    if (alg) {
        while (a < 10 && strcmp(algs[a], alg) != 0)
            a++;
        if (a == 10) {
            vsh_error(ctl, "Unsupported algorithm '%s'", alg);
            return false;
        }
    }
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vir_error err;
    bool ok = vir_storage_vol_wipe_pattern(v, a, 0, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "Failed to wipe vol %s", vir_storage_vol_get_name(v));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Vol %s wiped\n", vir_storage_vol_get_name(v));
    }
    vir_storage_vol_free(v);
    return ok;
}

const struct vsh_opt vsh_opts_vol_resize[] = {
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "vol name, key or path"},
    {"capacity", VSH_OT_STRING, VSH_OFLAG_REQ,
     "new capacity for the vol, as scaled integer (default bytes)"},
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "pool name or uuid"},
    {"allocate", VSH_OT_BOOL, 0, "allocate the new capacity, rather than leaving it sparse"},
    {"delta", VSH_OT_BOOL, 0, "use capacity as a delta to current size, rather than the new size"},
    {"shrink", VSH_OT_BOOL, 0, "allow the resize to shrink the volume"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_resize(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *cap = vsh_opt_string(cmd, "capacity");
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "allocate"))
        flags |= VIR_STORAGE_VOL_RESIZE_ALLOCATE;
    if (vsh_opt_bool(cmd, "delta"))
        flags |= VIR_STORAGE_VOL_RESIZE_DELTA;
    if (vsh_opt_bool(cmd, "shrink"))
        flags |= VIR_STORAGE_VOL_RESIZE_SHRINK;
    const char *s = cap;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '-') { /* a negative size is a shrinking delta */
        if (!(flags & VIR_STORAGE_VOL_RESIZE_SHRINK)) {
            vsh_error(ctl, "negative size requires --shrink");
            return false;
        }
        flags |= VIR_STORAGE_VOL_RESIZE_DELTA;
        s++;
    }
    unsigned long long bytes;
    if (vsh_parse_scaled(s, 1, ~0ULL, &bytes) < 0) {
        vsh_error(ctl, "Malformed size %s", cap);
        return false;
    }
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vir_error err;
    bool ok = vir_storage_vol_resize(v, bytes, flags, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "Failed to change size of volume '%s' %s %s", vir_storage_vol_get_name(v),
                  flags & VIR_STORAGE_VOL_RESIZE_DELTA ? "by" : "to", cap);
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Size of volume '%s' successfully changed %s %s\n",
                        vir_storage_vol_get_name(v),
                        flags & VIR_STORAGE_VOL_RESIZE_DELTA ? "by" : "to", cap);
    }
    vir_storage_vol_free(v);
    return ok;
}

/* ---- upload and download ---- */

const struct vsh_opt vsh_opts_vol_transfer[] = {
    VOL_OPTS,
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file"},
    {"offset", VSH_OT_INT, 0, "volume offset to upload to"},
    {"length", VSH_OT_INT, 0, "amount of data to upload"},
    {"sparse", VSH_OT_BOOL, 0, "preserve sparseness of volume"},
    {NULL, 0, 0, NULL},
};

/* Ends st and reports a failure the server sent during the transfer. */
static bool finish(vir_stream *st, vir_error *err)
{
    char none;
    if (vir_stream_finish(st, err) < 0)
        return false;
    return vir_stream_recv(st, &none, 0, err) != -1;
}

bool vsh_cmd_vol_upload(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned long long offset = 0, length = 0;
    if (vsh_opt_ulong(ctl, cmd, "offset", &offset) < 0 ||
        vsh_opt_ulong(ctl, cmd, "length", &length) < 0)
        return false;
    bool sparse = vsh_opt_bool(cmd, "sparse");
    const char *file = vsh_opt_string(cmd, "file");
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vsh_error(ctl, "cannot read %s", file);
        return false;
    }
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    vir_stream *st = NULL;
    vir_error err;
    bool ok = false;
    if (!v)
        goto out;
    if (!(st = vir_storage_vol_upload(v, offset, length,
                                      sparse ? VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM : 0, &err)))
        goto fail;
    char *buf = xmalloc(65536);
    unsigned long long sent = 0;
    off_t pos = 0;
    for (;;) {
        size_t want = 65536;
        if (length && length - sent < want)
            want = (size_t)(length - sent);
        if (!want)
            break;
        if (sparse) { /* the file's holes go as holes (SEEK_DATA/SEEK_HOLE) */
            off_t data = lseek(fd, pos, SEEK_DATA);
            if (data < 0 && errno == ENXIO) /* a hole to the end */
                data = lseek(fd, 0, SEEK_END);
            if (data > pos) {
                unsigned long long hole = (unsigned long long)(data - pos);
                if (length && hole > length - sent)
                    hole = length - sent;
                if (vir_stream_send_hole(st, (long long)hole, 0, &err) < 0) {
                    free(buf);
                    goto fail;
                }
                sent += hole;
                pos += (off_t)hole;
                continue;
            }
            off_t hend = lseek(fd, pos, SEEK_HOLE);
            if (hend > pos && (unsigned long long)(hend - pos) < want)
                want = (size_t)(hend - pos);
        }
        ssize_t n = pread(fd, buf, want, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            vsh_error(ctl, "cannot upload to volume %s", vir_storage_vol_get_name(v));
            vsh_error(ctl, "cannot read %s: %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (vir_stream_send(st, buf, (size_t)n, &err) < 0) {
            free(buf);
            goto fail;
        }
        sent += (unsigned long long)n;
        pos += n;
    }
    free(buf);
    if (!finish(st, &err))
        goto fail;
    ok = true;
    goto out;
fail:
    vsh_error(ctl, "cannot upload to volume %s", v ? vir_storage_vol_get_name(v) : "");
    vsh_report(ctl, &err);
out:
    vir_stream_free(st);
    vir_storage_vol_free(v);
    close(fd);
    return ok;
}

/* Writes n bytes at the file's position, leaving a hole where a 4 KiB block is all zeroes
 * (vol-download --sparse); the caller sets the final size. */
static int write_sparse(int fd, const char *data, size_t n, bool sparse)
{
    static const char zero[4096];
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof(zero) ? n - off : sizeof(zero);
        if (sparse && memcmp(data + off, zero, k) == 0) {
            if (lseek(fd, (off_t)k, SEEK_CUR) < 0)
                return -1;
        } else if (fd_write_all(fd, data + off, k) < 0) {
            return -1;
        }
        off += k;
    }
    return 0;
}

bool vsh_cmd_vol_download(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned long long offset = 0, length = 0;
    if (vsh_opt_ulong(ctl, cmd, "offset", &offset) < 0 ||
        vsh_opt_ulong(ctl, cmd, "length", &length) < 0)
        return false;
    bool sparse = vsh_opt_bool(cmd, "sparse");
    const char *file = vsh_opt_string(cmd, "file");
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    bool created = access(file, F_OK) != 0, ok = false;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    vir_stream *st = NULL;
    vir_error err;
    if (fd < 0) {
        vsh_error(ctl, "cannot create %s", file);
        vir_storage_vol_free(v);
        return false;
    }
    /* --sparse: the holes are made here from the zeroes received */
    if (!(st = vir_storage_vol_download(v, offset, length, 0, &err)))
        goto fail;
    char *buf = xmalloc(65536);
    off_t total = 0;
    for (;;) {
        int n = vir_stream_recv(st, buf, 65536, &err);
        if (n == 0)
            break;
        if (n == -1) {
            free(buf);
            goto fail;
        }
        if (n > 0) {
            if (write_sparse(fd, buf, (size_t)n, sparse) < 0) {
                free(buf);
                vsh_error(ctl, "cannot download from volume %s", vir_storage_vol_get_name(v));
                vsh_error(ctl, "cannot write %s: %s", file, strerror(errno));
                goto out;
            }
            total += n;
            continue;
        }
        int r = vir_connect_process_events(ctl->conn, 30000, &err);
        if (r <= 0) {
            if (r == 0)
                snprintf(err.message, sizeof(err.message), "no data for 30 seconds");
            free(buf);
            goto fail;
        }
    }
    free(buf);
    if (ftruncate(fd, total) < 0) {
        vsh_error(ctl, "cannot write %s: %s", file, strerror(errno));
        goto out;
    }
    if (!finish(st, &err))
        goto fail;
    ok = true;
    goto out;
fail:
    vsh_error(ctl, "cannot download from volume %s", vir_storage_vol_get_name(v));
    vsh_report(ctl, &err);
out:
    vir_stream_free(st);
    close(fd);
    if (!ok && created)
        unlink(file);
    vir_storage_vol_free(v);
    return ok;
}

/* ---- XML and names ---- */

bool vsh_cmd_vol_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vir_error err;
    char *xml = vir_storage_vol_get_xml_desc(v, 0, &err);
    vir_storage_vol_free(v);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_vol_path(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vir_error err;
    char *path = vir_storage_vol_get_path(v, &err);
    vir_storage_vol_free(v);
    if (!path) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s\n", path);
    free(path);
    return true;
}

bool vsh_cmd_vol_key(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", "pool");
    if (!v)
        return false;
    vsh_print(ctl, "%s\n", vir_storage_vol_get_key(v));
    vir_storage_vol_free(v);
    return true;
}

const struct vsh_opt vsh_opts_vol_name[] = {
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "volume key or path"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", NULL);
    if (!v)
        return false;
    vsh_print(ctl, "%s\n", vir_storage_vol_get_name(v));
    vir_storage_vol_free(v);
    return true;
}

const struct vsh_opt vsh_opts_vol_pool[] = {
    {"vol", VSH_OT_STRING, VSH_OFLAG_REQ, "volume key or path"},
    {"uuid", VSH_OT_BOOL, 0, "return the pool uuid rather than pool name"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_vol_pool(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_vol *v = lookup_vol(ctl, cmd, "vol", NULL);
    if (!v)
        return false;
    vir_error err;
    vir_storage_pool *p = vir_storage_pool_lookup_by_volume(v, &err);
    if (!p) {
        vsh_error(ctl, "failed to get parent pool");
        vsh_report(ctl, &err);
        vir_storage_vol_free(v);
        return false;
    }
    if (vsh_opt_bool(cmd, "uuid")) {
        char u[VIR_UUID_STRING_BUFLEN];
        vir_storage_pool_get_uuid_string(p, u);
        vsh_print(ctl, "%s\n", u);
    } else {
        vsh_print(ctl, "%s\n", vir_storage_pool_get_name(p));
    }
    vir_storage_pool_free(p);
    vir_storage_vol_free(v);
    return true;
}
