/*
 * storage_conf.c - libvirt storage pool and volume XML for directory and
 * file system pools.
 *
 * Output follows `virsh pool-dumpxml` / `vol-dumpxml`: sizes in bytes with
 * unit='bytes', the pool's (empty) <source> printed open/closed as libvirt
 * does, permissions with an octal mode. Volume key and path belong to the
 * pool, so the caller fills them; a volume's name must be a plain file name.
 */
#include "conf/storage_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

int storage_parse_size(const char *value, const char *unit, unsigned long long *bytes)
{
    if (!unit || strcmp(unit, "b") == 0 || strcmp(unit, "bytes") == 0) {
        uint64_t v;
        int r = str_to_u64(value, 10, &v);
        if (r < 0)
            return r;
        *bytes = v;
        return 0;
    }
    /* Same unit table as domain memory, which works in KiB: go through it exactly. */
    unsigned long long kib_of_unit;
    if (domain_parse_memory("1", unit, &kib_of_unit) < 0)
        return -EINVAL;
    uint64_t v;
    int r = str_to_u64(value, 10, &v);
    if (r < 0)
        return r;
    /* unit in bytes: decimal units are not KiB multiples, so recompute from the name */
    unsigned long long mult;
    const char *u = unit;
    size_t l = strlen(u);
    bool decimal = l == 2 && (u[1] == 'B' || u[1] == 'b');
    char c = (char)(u[0] | 0x20);
    int power = c == 'k'   ? 1
                : c == 'm' ? 2
                : c == 'g' ? 3
                : c == 't' ? 4
                : c == 'p' ? 5
                : c == 'e' ? 6
                           : 0;
    if (!power)
        return -EINVAL;
    mult = 1;
    for (int i = 0; i < power; i++)
        mult *= decimal ? 1000ULL : 1024ULL;
    if (__builtin_mul_overflow((unsigned long long)v, mult, bytes))
        return -ERANGE;
    return 0;
}

static void perms_clear(struct storage_perms *p)
{
    free(p->label);
}

void storage_pool_def_free(struct storage_pool_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->type);
    free(def->target_path);
    free(def->source_device);
    free(def->source_format);
    perms_clear(&def->perms);
    free(def);
}

void storage_vol_def_free(struct storage_vol_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->key);
    free(def->type);
    free(def->target_path);
    free(def->format);
    free(def->backing_path);
    free(def->backing_format);
    free(def->encryption_format);
    free(def->secret_uuid);
    free(def->secret_usage);
    perms_clear(&def->perms);
    free(def);
}

static int size_elem(const struct xnode *n, unsigned long long *out, struct verr *err)
{
    const char *t = xnode_text(n), *unit = xnode_attr(n, "unit");
    int r = storage_parse_size(t, unit, out);
    if (r == -EINVAL && unit && storage_parse_size("0", unit, out) < 0)
        return verr_set(err, EINVAL, "invalid value '%s' for attribute 'unit' of element '%s'",
                        unit, n->name);
    if (r < 0)
        return verr_set(err, -r, "invalid value '%s' in element '%s': expected a size", t, n->name);
    return 0;
}

static int parse_perms(const struct xnode *n, struct storage_perms *p, struct verr *err)
{
    p->mode = -1;
    p->owner = p->group = -1;
    if (!n)
        return 0;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        const char *t = xnode_text(k);
        if (strcmp(k->name, "mode") == 0) {
            uint64_t v;
            if (str_to_u64(t, 8, &v) < 0 || v > 07777)
                return verr_set(err, EINVAL,
                                "invalid value '%s' in element 'mode': expected octal 0-7777", t);
            p->mode = (int)v;
        } else if (strcmp(k->name, "owner") == 0 || strcmp(k->name, "group") == 0) {
            int64_t v;
            if (str_to_i64(t, 10, &v) < 0 || v < -1 || v > UINT32_MAX)
                return verr_set(err, EINVAL, "invalid value '%s' in element '%s'", t, k->name);
            if (k->name[0] == 'o')
                p->owner = v;
            else
                p->group = v;
        } else if (strcmp(k->name, "label") == 0) {
            free(p->label);
            p->label = xstrdup(t);
        }
    }
    return 0;
}

static void format_perms(struct buf *b, const struct storage_perms *p, int level)
{
    if (p->mode < 0 && p->owner < 0 && p->group < 0 && !p->label)
        return;
    char pad[16];
    snprintf(pad, sizeof(pad), "%*s", level * 2, "");
    buf_printf(b, "%s<permissions>\n", pad);
    if (p->mode >= 0)
        buf_printf(b, "%s  <mode>0%o</mode>\n", pad, (unsigned)p->mode);
    if (p->owner >= 0)
        buf_printf(b, "%s  <owner>%lld</owner>\n", pad, p->owner);
    if (p->group >= 0)
        buf_printf(b, "%s  <group>%lld</group>\n", pad, p->group);
    if (p->label) {
        buf_printf(b, "%s  <label>", pad);
        xml_escape(b, p->label, false);
        buf_append_str(b, "</label>\n");
    }
    buf_printf(b, "%s</permissions>\n", pad);
}

/* libvirt's file system types for fs pools */
static const char *const fs_formats[] = {"auto",    "ext2", "ext3",  "ext4", "ufs",
                                         "iso9660", "udf",  "gfs",   "gfs2", "vfat",
                                         "hfs+",    "xfs",  "ocfs2", "vmfs", NULL};

static int parse_fs_source(const struct xnode *src, struct storage_pool_def *def, struct verr *err)
{
    for (size_t i = 0; i < src->nkids; i++) {
        const struct xnode *k = src->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "device") == 0) {
            const char *p = xnode_attr(k, "path");
            if (!p || !*p)
                return verr_set(err, EINVAL, "missing attribute 'path' of element 'device'");
            if (def->source_device)
                return verr_set(err, EINVAL,
                                "unsupported configuration: an fs pool has one source device");
            def->source_device = xstrdup(p);
        } else if (strcmp(k->name, "format") == 0) {
            const char *t = xnode_attr(k, "type");
            bool known = false;
            for (size_t j = 0; t && fs_formats[j]; j++)
                known |= strcmp(fs_formats[j], t) == 0;
            if (!known)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'type' of element 'format': "
                                "unknown pool format type",
                                t ? t : "");
            free(def->source_format);
            def->source_format = xstrdup(t);
        } else {
            return verr_set(err, EINVAL,
                            "unsupported configuration: element '%s' in the source of an fs pool",
                            k->name);
        }
    }
    return 0;
}

static int parse_pool(const struct xnode *root, struct storage_pool_def *def, struct verr *err)
{
    if (strcmp(root->name, "pool") != 0)
        return verr_set(err, EINVAL, "unexpected root element '%s', expecting 'pool'", root->name);
    const char *type = xnode_attr(root, "type");
    if (!type)
        return verr_set(err, EINVAL, "missing attribute 'type' of element 'pool'");
    bool fs = strcmp(type, "fs") == 0;
    if (strcmp(type, "dir") != 0 && !fs)
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'type' of element 'pool': Vireo "
                        "supports 'dir' and 'fs' pools",
                        type);
    def->type = xstrdup(type);
    bool have_uuid = false;
    def->perms.mode = -1;
    def->perms.owner = def->perms.group = -1;
    for (size_t i = 0; i < root->nkids; i++) {
        const struct xnode *k = root->kids[i];
        if (!k->name)
            continue;
        const char *t = xnode_text(k);
        int r = 0;
        if (strcmp(k->name, "name") == 0 && !def->name) {
            def->name = xstrdup(t);
        } else if (strcmp(k->name, "uuid") == 0 && !have_uuid) {
            if (domain_uuid_parse(t, def->uuid) < 0)
                return verr_set(err, EINVAL, "invalid value '%s' in element 'uuid'", t);
            have_uuid = true;
        } else if (strcmp(k->name, "capacity") == 0) {
            r = size_elem(k, &def->capacity, err);
        } else if (strcmp(k->name, "allocation") == 0) {
            r = size_elem(k, &def->allocation, err);
        } else if (strcmp(k->name, "available") == 0) {
            r = size_elem(k, &def->available, err);
        } else if (strcmp(k->name, "source") == 0) {
            if (!fs)
                continue; /* a dir pool has no source */
            r = parse_fs_source(k, def, err);
        } else if (strcmp(k->name, "target") == 0) {
            const struct xnode *p = xnode_child(k, "path");
            if (p) {
                free(def->target_path);
                def->target_path = xstrdup(xnode_text(p));
            }
            perms_clear(&def->perms);
            memset(&def->perms, 0, sizeof(def->perms));
            r = parse_perms(xnode_child(k, "permissions"), &def->perms, err);
        } else {
            log_warn("ignoring unknown element '%s' in element 'pool'", k->name);
        }
        if (r < 0)
            return r;
    }
    if (!def->name || !*def->name)
        return verr_set(err, EINVAL, "missing element 'name' in 'pool'");
    if (strchr(def->name, '/'))
        return verr_set(err, EINVAL, "invalid pool name '%s' in element 'name': contains '/'",
                        def->name);
    if (!def->target_path || def->target_path[0] != '/')
        return verr_set(err, EINVAL,
                        "invalid value '%s' in element 'target/path' of pool '%s': a %s pool "
                        "needs an absolute path",
                        def->target_path ? def->target_path : "", def->name, def->type);
    if (fs && !def->source_device)
        return verr_set(err, EINVAL, "missing storage pool source device path");
    if (fs && def->source_device[0] != '/')
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'path' of element 'device': the source "
                        "device needs an absolute path",
                        def->source_device);
    if (fs && !def->source_format)
        def->source_format = xstrdup("auto");
    /* libvirt strips trailing slashes from the target path */
    size_t l = strlen(def->target_path);
    while (l > 1 && def->target_path[l - 1] == '/')
        def->target_path[--l] = '\0';
    if (!have_uuid) {
        int r = domain_uuid_generate(def->uuid);
        if (r < 0)
            return verr_errno(err, -r, "cannot generate a UUID for pool '%s'", def->name);
    }
    return 0;
}

int storage_pool_def_parse_string(const char *xml, unsigned flags, struct storage_pool_def **out,
                                  struct verr *err)
{
    (void)flags;
    *out = NULL;
    if (!xml)
        return verr_set(err, EINVAL, "no pool XML given");
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "pool XML", &root, err);
    if (r < 0)
        return r;
    struct storage_pool_def *def = xcalloc(1, sizeof(*def));
    r = parse_pool(root, def, err);
    xnode_free(root);
    if (r < 0) {
        storage_pool_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

char *storage_pool_def_format(const struct storage_pool_def *def)
{
    struct buf b = BUF_INIT;
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    buf_printf(&b, "<pool type='%s'>\n  <name>", def->type);
    xml_escape(&b, def->name, false);
    buf_printf(&b, "</name>\n  <uuid>%s</uuid>\n", uuid);
    buf_printf(&b, "  <capacity unit='bytes'>%llu</capacity>\n", def->capacity);
    buf_printf(&b, "  <allocation unit='bytes'>%llu</allocation>\n", def->allocation);
    buf_printf(&b, "  <available unit='bytes'>%llu</available>\n", def->available);
    buf_append_str(&b, "  <source>\n");
    if (def->source_device) {
        buf_append_str(&b, "    <device path='");
        xml_escape(&b, def->source_device, true);
        buf_append_str(&b, "'/>\n");
    }
    if (def->source_format)
        buf_printf(&b, "    <format type='%s'/>\n", def->source_format);
    buf_append_str(&b, "  </source>\n  <target>\n    <path>");
    xml_escape(&b, def->target_path, false);
    buf_append_str(&b, "</path>\n");
    format_perms(&b, &def->perms, 2);
    buf_append_str(&b, "  </target>\n</pool>\n");
    return buf_detach(&b, NULL);
}

/* <encryption format='luks'> with at most one <secret type='passphrase' uuid='...'|usage='...'/>
 * (libvirt's volume encryption); the other formats libvirt knows are refused by name. */
static int parse_encryption(const struct xnode *enc, struct storage_vol_def *def, struct verr *err)
{
    const char *fmt = xnode_attr(enc, "format");
    if (!fmt)
        return verr_set(err, EINVAL, "XML error: missing encryption format");
    if (strcmp(fmt, "luks") != 0) {
        if (strcmp(fmt, "default") == 0 || strcmp(fmt, "qcow") == 0 || strcmp(fmt, "luks2") == 0 ||
            strcmp(fmt, "luks-any") == 0)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: volume encryption format '%s' is not "
                            "supported (luks is)",
                            fmt);
        return verr_set(err, EINVAL, "XML error: unknown volume encryption format type %s", fmt);
    }
    const struct xnode *secret = NULL;
    for (size_t i = 0; i < enc->nkids; i++) {
        const struct xnode *k = enc->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "secret") != 0)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: element '%s' in a volume's "
                            "<encryption> (only <secret> is supported)",
                            k->name);
        if (secret)
            return verr_set(err, EINVAL, "XML error: too many secrets for luks encryption");
        secret = k;
    }
    if (secret) {
        const char *type = xnode_attr(secret, "type");
        if (!type)
            return verr_set(err, EINVAL, "XML error: unknown volume encryption secret type");
        if (strcmp(type, "passphrase") != 0)
            return verr_set(err, EINVAL, "XML error: unknown volume encryption secret type %s",
                            type);
        const char *uuid = xnode_attr(secret, "uuid"), *usage = xnode_attr(secret, "usage");
        if (uuid && usage)
            return verr_set(err, EINVAL, "XML error: either secret uuid or usage expected");
        if (!uuid && !usage)
            return verr_set(err, EINVAL, "XML error: missing secret uuid or usage attribute");
        unsigned char raw[16];
        if (uuid && domain_uuid_parse(uuid, raw) < 0)
            return verr_set(err, EINVAL, "XML error: malformed secret uuid '%s'", uuid);
        def->secret_uuid = uuid ? xstrdup(uuid) : NULL;
        def->secret_usage = usage ? xstrdup(usage) : NULL;
    }
    def->encryption_format = xstrdup(fmt);
    return 0;
}

static int parse_vol(const struct xnode *root, struct storage_vol_def *def, struct verr *err)
{
    if (strcmp(root->name, "volume") != 0)
        return verr_set(err, EINVAL, "unexpected root element '%s', expecting 'volume'",
                        root->name);
    const char *type = xnode_attr(root, "type");
    if (type && strcmp(type, "file") != 0)
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'type' of element 'volume': a dir pool "
                        "holds 'file' volumes",
                        type);
    def->type = xstrdup("file");
    def->perms.mode = -1;
    def->perms.owner = def->perms.group = -1;
    bool have_capacity = false;
    for (size_t i = 0; i < root->nkids; i++) {
        const struct xnode *k = root->kids[i];
        if (!k->name)
            continue;
        const char *t = xnode_text(k);
        int r = 0;
        if (strcmp(k->name, "name") == 0 && !def->name) {
            def->name = xstrdup(t);
        } else if (strcmp(k->name, "key") == 0) {
            free(def->key);
            def->key = xstrdup(t);
        } else if (strcmp(k->name, "capacity") == 0) {
            r = size_elem(k, &def->capacity, err);
            have_capacity = true;
        } else if (strcmp(k->name, "allocation") == 0) {
            r = size_elem(k, &def->allocation, err);
            def->has_allocation = 1;
        } else if (strcmp(k->name, "source") == 0 || strcmp(k->name, "physical") == 0) {
            continue;
        } else if (strcmp(k->name, "target") == 0) {
            const struct xnode *p = xnode_child(k, "path");
            if (p) {
                free(def->target_path);
                def->target_path = xstrdup(xnode_text(p));
            }
            const struct xnode *f = xnode_child(k, "format");
            if (f) {
                const char *ft = xnode_attr(f, "type");
                static const char *const fmts[] = {"raw",   "qcow2", "qcow", "qed", "vmdk",
                                                   "vpc",   "vhdx",  "vdi",  "iso", "dmg",
                                                   "bochs", "cloop", NULL};
                bool known = false;
                for (size_t j = 0; ft && fmts[j]; j++)
                    known |= strcmp(fmts[j], ft) == 0;
                if (!ft)
                    return verr_set(err, EINVAL, "missing attribute 'type' of element 'format'");
                if (!known)
                    return verr_set(err, EINVAL,
                                    "invalid value '%s' for attribute 'type' of element 'format'",
                                    ft);
                free(def->format);
                def->format = xstrdup(ft);
            }
            perms_clear(&def->perms);
            memset(&def->perms, 0, sizeof(def->perms));
            r = parse_perms(xnode_child(k, "permissions"), &def->perms, err);
            if (r == 0 && xnode_child(k, "encryption"))
                r = parse_encryption(xnode_child(k, "encryption"), def, err);
        } else if (strcmp(k->name, "backingStore") == 0) {
            const struct xnode *p = xnode_child(k, "path"), *f = xnode_child(k, "format");
            if (!p)
                return verr_set(err, EINVAL, "missing element 'path' in 'backingStore'");
            free(def->backing_path);
            def->backing_path = xstrdup(xnode_text(p));
            free(def->backing_format);
            def->backing_format =
                f && xnode_attr(f, "type") ? xstrdup(xnode_attr(f, "type")) : NULL;
        } else if (strcmp(k->name, "encryption") == 0) {
            /* libvirt reads a volume's encryption from its <target> only */
            return verr_set(err, EINVAL,
                            "unsupported configuration: a volume's <encryption> belongs in its "
                            "<target>");
        } else {
            log_warn("ignoring unknown element '%s' in element 'volume'", k->name);
        }
        if (r < 0)
            return r;
    }
    if (!def->name || !*def->name)
        return verr_set(err, EINVAL, "missing element 'name' in 'volume'");
    if (strchr(def->name, '/') || strcmp(def->name, ".") == 0 || strcmp(def->name, "..") == 0)
        return verr_set(err, EINVAL,
                        "invalid volume name '%s' in element 'name': must be a plain file name",
                        def->name);
    if (!have_capacity)
        return verr_set(err, EINVAL, "missing element 'capacity' in volume '%s'", def->name);
    if (def->has_allocation && def->allocation > def->capacity)
        return verr_set(err, EINVAL,
                        "invalid value '%llu' in element 'allocation' of volume '%s': more than "
                        "its capacity %llu",
                        def->allocation, def->name, def->capacity);
    if (!def->format)
        def->format = xstrdup("raw");
    return 0;
}

int storage_vol_def_parse_string(const char *xml, unsigned flags, struct storage_vol_def **out,
                                 struct verr *err)
{
    (void)flags;
    *out = NULL;
    if (!xml)
        return verr_set(err, EINVAL, "no volume XML given");
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "volume XML", &root, err);
    if (r < 0)
        return r;
    struct storage_vol_def *def = xcalloc(1, sizeof(*def));
    r = parse_vol(root, def, err);
    xnode_free(root);
    if (r < 0) {
        storage_vol_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

char *storage_vol_def_format(const struct storage_vol_def *def)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<volume type='%s'>\n  <name>", def->type);
    xml_escape(&b, def->name, false);
    buf_append_str(&b, "</name>\n");
    if (def->key) {
        buf_append_str(&b, "  <key>");
        xml_escape(&b, def->key, false);
        buf_append_str(&b, "</key>\n");
    }
    buf_printf(&b, "  <capacity unit='bytes'>%llu</capacity>\n", def->capacity);
    buf_printf(&b, "  <allocation unit='bytes'>%llu</allocation>\n",
               def->has_allocation ? def->allocation : def->capacity);
    buf_append_str(&b, "  <target>\n");
    if (def->target_path) {
        buf_append_str(&b, "    <path>");
        xml_escape(&b, def->target_path, false);
        buf_append_str(&b, "</path>\n");
    }
    buf_printf(&b, "    <format type='%s'/>\n", def->format);
    format_perms(&b, &def->perms, 2);
    if (def->encryption_format) {
        buf_append_str(&b, "    <encryption format='");
        xml_escape(&b, def->encryption_format, true);
        if (def->secret_uuid || def->secret_usage) {
            buf_printf(&b, "'>\n      <secret type='passphrase' %s='",
                       def->secret_uuid ? "uuid" : "usage");
            xml_escape(&b, def->secret_uuid ? def->secret_uuid : def->secret_usage, true);
            buf_append_str(&b, "'/>\n    </encryption>\n");
        } else {
            buf_append_str(&b, "'/>\n");
        }
    }
    buf_append_str(&b, "  </target>\n");
    if (def->backing_path) {
        buf_append_str(&b, "  <backingStore>\n    <path>");
        xml_escape(&b, def->backing_path, false);
        buf_append_str(&b, "</path>\n");
        if (def->backing_format) {
            buf_append_str(&b, "    <format type='");
            xml_escape(&b, def->backing_format, true);
            buf_append_str(&b, "'/>\n");
        }
        buf_append_str(&b, "  </backingStore>\n");
    }
    buf_append_str(&b, "</volume>\n");
    return buf_detach(&b, NULL);
}
