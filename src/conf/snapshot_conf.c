/*
 * snapshot_conf.c - libvirt domain snapshot XML: parse, validate, format.
 *
 * Output follows libvirt's virDomainSnapshotDefFormat (what `virsh
 * snapshot-dumpxml` prints): name, description, state, parent,
 * creationTime, memory, disks, domain, cookie, active. Disk entries are
 * modelled (the daemon acts on each); the domain inside is kept as a tree
 * the daemon fills from its own formatter, and is printed back as given.
 * Everything else in a document is refused, naming the element: a setting
 * that would be accepted and ignored is not accepted.
 */
#include "conf/snapshot_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"

static const char *const location_names[] = {"default", "no", "internal", "external", "manual"};
static const char *const state_names[] = {
    "",         "nostate", "running", "blocked",     "paused",
    "shutdown", "shutoff", "crashed", "pmsuspended", "disk-snapshot",
};

const char *snapshot_location_to_string(enum snapshot_location l)
{
    return (unsigned)l < SNAPSHOT_LOCATION_LAST ? location_names[l] : NULL;
}

const char *snapshot_state_to_string(enum snapshot_state s)
{
    return (unsigned)s < SNAPSHOT_STATE_LAST && s != SNAPSHOT_STATE_NONE ? state_names[s] : NULL;
}

void snapshot_def_free(struct snapshot_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->description);
    free(def->parent);
    free(def->memory_file);
    for (size_t i = 0; i < def->ndisks; i++) {
        free(def->disks[i].name);
        free(def->disks[i].driver_type);
        free(def->disks[i].source_file);
    }
    free(def->disks);
    xnode_free(def->domain);
    xnode_free(def->cookie);
    free(def);
}

static int parse_location(const struct xnode *n, const char *elem, enum snapshot_location *out,
                          struct verr *err)
{
    const char *v = xnode_attr(n, "snapshot");
    *out = SNAPSHOT_LOCATION_DEFAULT;
    if (!v)
        return 0;
    for (int i = SNAPSHOT_LOCATION_NO; i < SNAPSHOT_LOCATION_LAST; i++)
        if (strcmp(v, location_names[i]) == 0) {
            *out = (enum snapshot_location)i;
            return 0;
        }
    return verr_set(err, EINVAL, "unknown snapshot location type '%s' in element '%s'", v, elem);
}

/* Only the given attributes may be on n. */
static int only_attrs(const struct xnode *n, const char *const *names, struct verr *err)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        bool known = false;
        for (const char *const *k = names; *k; k++)
            known |= strcmp(n->attrs[2 * i], *k) == 0;
        if (!known)
            return verr_set(err, EINVAL, "unsupported attribute '%s' of element '%s'",
                            n->attrs[2 * i], n->name);
    }
    return 0;
}

static int parse_disk(const struct xnode *n, struct snapshot_disk *d, struct verr *err)
{
    static const char *const attrs[] = {"name", "snapshot", "type", NULL};
    int r = only_attrs(n, attrs, err);
    if (r < 0)
        return r;
    const char *name = xnode_attr(n, "name");
    if (!name || !*name)
        return verr_set(err, EINVAL, "missing name from disk snapshot element");
    d->name = xstrdup(name);
    r = parse_location(n, "disk", &d->snapshot, err);
    if (r < 0)
        return r;
    const char *type = xnode_attr(n, "type");
    if (type && strcmp(type, "file") != 0)
        return verr_set(err, EINVAL,
                        "unsupported disk snapshot type '%s' for disk '%s': Vireo supports 'file'",
                        type, name);
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "source") == 0) {
            const char *f = xnode_attr(k, "file");
            if (!f || f[0] != '/')
                return verr_set(err, EINVAL,
                                "disk snapshot source of disk '%s' must be an absolute file", name);
            free(d->source_file);
            d->source_file = xstrdup(f);
        } else if (strcmp(k->name, "driver") == 0) {
            const char *t = xnode_attr(k, "type");
            if (!t || (strcmp(t, "qcow2") != 0 && strcmp(t, "raw") != 0))
                return verr_set(err, EINVAL,
                                "unsupported disk snapshot driver type '%s' for disk '%s': "
                                "Vireo supports 'qcow2' and 'raw'",
                                t ? t : "", name);
            free(d->driver_type);
            d->driver_type = xstrdup(t);
        } else {
            return verr_set(err, EINVAL, "unsupported element '%s' in disk snapshot '%s'", k->name,
                            name);
        }
    }
    if ((d->source_file || d->driver_type) && d->snapshot == SNAPSHOT_LOCATION_DEFAULT)
        d->snapshot = SNAPSHOT_LOCATION_EXTERNAL; /* as libvirt: a source means external */
    if ((d->source_file || d->driver_type) && d->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
        return verr_set(err, EINVAL, "file for disk '%s' requires use of external snapshot mode",
                        name);
    return 0;
}

static int parse_snapshot(const struct xnode *root, unsigned flags, struct snapshot_def *def,
                          struct verr *err)
{
    if (!root->name || strcmp(root->name, "domainsnapshot") != 0)
        return verr_set(err, EINVAL, "unexpected root element <%s>, expecting <domainsnapshot>",
                        root->name ? root->name : "");
    def->creation_time = -1;
    def->active = -1;
    bool create = flags & SNAPSHOT_PARSE_CREATE;
    for (size_t i = 0; i < root->nkids; i++) {
        const struct xnode *k = root->kids[i];
        if (!k->name)
            continue;
        const char *text = xnode_text(k);
        if (strcmp(k->name, "name") == 0) {
            if (!*text || strchr(text, '/'))
                return verr_set(err, EINVAL, "invalid snapshot name '%s'", text);
            free(def->name);
            def->name = xstrdup(text);
        } else if (strcmp(k->name, "description") == 0) {
            free(def->description);
            def->description = xstrdup(text);
        } else if (strcmp(k->name, "memory") == 0) {
            static const char *const attrs[] = {"snapshot", "file", NULL};
            int r = only_attrs(k, attrs, err);
            if (r == 0)
                r = parse_location(k, "memory", &def->memory, err);
            if (r < 0)
                return r;
            const char *f = xnode_attr(k, "file");
            if (f) {
                if (f[0] != '/')
                    return verr_set(err, EINVAL, "memory snapshot file path (%s) must be absolute",
                                    f);
                if (def->memory == SNAPSHOT_LOCATION_DEFAULT)
                    def->memory = SNAPSHOT_LOCATION_EXTERNAL;
                if (def->memory != SNAPSHOT_LOCATION_EXTERNAL)
                    return verr_set(err, EINVAL, "memory filename '%s' requires external snapshot",
                                    f);
                free(def->memory_file);
                def->memory_file = xstrdup(f);
            } else if (def->memory == SNAPSHOT_LOCATION_EXTERNAL) {
                return verr_set(err, EINVAL, "external memory snapshots require a filename");
            }
        } else if (strcmp(k->name, "disks") == 0) {
            for (size_t j = 0; j < k->nkids; j++) {
                const struct xnode *dn = k->kids[j];
                if (!dn->name)
                    continue;
                if (strcmp(dn->name, "disk") != 0)
                    return verr_set(err, EINVAL, "unsupported element '%s' in <disks>", dn->name);
                def->disks = xreallocarray(def->disks, def->ndisks + 1, sizeof(*def->disks));
                struct snapshot_disk *d = &def->disks[def->ndisks++];
                memset(d, 0, sizeof(*d));
                int r = parse_disk(dn, d, err);
                if (r < 0)
                    return r;
                for (size_t m = 0; m + 1 < def->ndisks; m++)
                    if (strcmp(def->disks[m].name, d->name) == 0)
                        return verr_set(err, EINVAL, "disk '%s' specified twice", d->name);
            }
        } else if (strcmp(k->name, "domain") == 0) {
            xnode_free(def->domain);
            def->domain = xnode_copy(k);
        } else if (create) {
            /* What the hypervisor records is not a client's to give. */
            return verr_set(err, EINVAL,
                            "unsupported element '%s' in domain snapshot XML: it is set by the "
                            "hypervisor",
                            k->name);
        } else if (strcmp(k->name, "state") == 0) {
            def->state = SNAPSHOT_STATE_NONE;
            for (int s = SNAPSHOT_STATE_NOSTATE; s < SNAPSHOT_STATE_LAST; s++)
                if (strcmp(text, state_names[s]) == 0)
                    def->state = (enum snapshot_state)s;
            if (def->state == SNAPSHOT_STATE_NONE)
                return verr_set(err, EINVAL, "Invalid state '%s' in domain snapshot XML", text);
        } else if (strcmp(k->name, "parent") == 0) {
            const struct xnode *pn = xnode_child(k, "name");
            if (!pn || !*xnode_text(pn))
                return verr_set(err, EINVAL, "missing name of the parent snapshot");
            free(def->parent);
            def->parent = xstrdup(xnode_text(pn));
        } else if (strcmp(k->name, "creationTime") == 0) {
            int64_t v;
            if (str_to_i64(text, 10, &v) < 0 || v < 0)
                return verr_set(err, EINVAL, "invalid creationTime '%s'", text);
            def->creation_time = v;
        } else if (strcmp(k->name, "cookie") == 0) {
            xnode_free(def->cookie);
            def->cookie = xnode_copy(k);
        } else if (strcmp(k->name, "active") == 0) {
            if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
                return verr_set(err, EINVAL, "Could not parse 'active' element");
            def->active = text[0] == '1';
        } else {
            return verr_set(err, EINVAL, "unsupported element '%s' in domain snapshot XML",
                            k->name);
        }
    }
    return 0;
}

int snapshot_def_parse_string(const char *xml, unsigned flags, struct snapshot_def **out,
                              struct verr *err)
{
    *out = NULL;
    if (!xml)
        return verr_set(err, EINVAL, "no domain snapshot XML given");
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "domain snapshot XML", &root, err);
    if (r < 0)
        return r;
    struct snapshot_def *def = xcalloc(1, sizeof(*def));
    r = parse_snapshot(root, flags, def, err);
    xnode_free(root);
    if (r < 0) {
        snapshot_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

static void element(struct buf *b, int indent, const char *name, const char *text)
{
    buf_printf(b, "%*s<%s>", indent * 2, "", name);
    xml_escape(b, text, false);
    buf_printf(b, "</%s>\n", name);
}

static void attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape(b, value, true);
    buf_append_byte(b, '\'');
}

char *snapshot_def_format(const struct snapshot_def *def)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "<domainsnapshot>\n");
    if (def->name)
        element(&b, 1, "name", def->name);
    if (def->description)
        element(&b, 1, "description", def->description);
    if (snapshot_state_to_string(def->state))
        element(&b, 1, "state", snapshot_state_to_string(def->state));
    if (def->parent) {
        buf_append_str(&b, "  <parent>\n");
        element(&b, 2, "name", def->parent);
        buf_append_str(&b, "  </parent>\n");
    }
    if (def->creation_time >= 0)
        buf_printf(&b, "  <creationTime>%" PRId64 "</creationTime>\n", def->creation_time);
    if (def->memory != SNAPSHOT_LOCATION_DEFAULT) {
        buf_append_str(&b, "  <memory");
        attr(&b, "snapshot", snapshot_location_to_string(def->memory));
        if (def->memory_file)
            attr(&b, "file", def->memory_file);
        buf_append_str(&b, "/>\n");
    }
    if (def->ndisks) {
        buf_append_str(&b, "  <disks>\n");
        for (size_t i = 0; i < def->ndisks; i++) {
            const struct snapshot_disk *d = &def->disks[i];
            buf_append_str(&b, "    <disk");
            attr(&b, "name", d->name);
            if (d->snapshot != SNAPSHOT_LOCATION_DEFAULT)
                attr(&b, "snapshot", snapshot_location_to_string(d->snapshot));
            if (d->snapshot == SNAPSHOT_LOCATION_EXTERNAL)
                attr(&b, "type", "file");
            if (!d->driver_type && !d->source_file) {
                buf_append_str(&b, "/>\n");
                continue;
            }
            buf_append_str(&b, ">\n");
            if (d->driver_type) {
                buf_append_str(&b, "      <driver");
                attr(&b, "type", d->driver_type);
                buf_append_str(&b, "/>\n");
            }
            if (d->source_file) {
                buf_append_str(&b, "      <source");
                attr(&b, "file", d->source_file);
                buf_append_str(&b, "/>\n");
            }
            buf_append_str(&b, "    </disk>\n");
        }
        buf_append_str(&b, "  </disks>\n");
    }
    if (def->domain)
        xnode_format(def->domain, &b, 1);
    if (def->cookie)
        xnode_format(def->cookie, &b, 1);
    if (def->active >= 0)
        buf_printf(&b, "  <active>%d</active>\n", def->active);
    buf_append_str(&b, "</domainsnapshot>\n");
    return buf_detach(&b, NULL);
}
