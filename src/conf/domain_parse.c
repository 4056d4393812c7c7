/*
 * domain_parse.c - domain XML text -> struct domain_def.
 *
 * The document is first turned into an xnode tree (xnode.c); this file walks
 * that tree, fills the typed fields, keeps the parts libvirt knows but Vireo
 * does not interpret as xnode trees, and reports what it does not know: a
 * warning by default, an error with DOMAIN_PARSE_VALIDATE (which also checks
 * the document against libvirt's RelaxNG schema when it is installed, as
 * `virsh define --validate` does). Defaults, implied devices and cross-field
 * validation happen afterwards in domain_postparse.c (and, for kvm/qemu,
 * domain_kvm_defaults.c and domain_addr.c).
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#define DOMAIN_RNG_PATH "/usr/share/libvirt/schemas/domain.rng"
#define DOMAIN_XML_MAX  (16u << 20)

struct pctx {
    unsigned flags;
    struct verr *err;
};

static int bad_attr(struct pctx *c, const char *elem, const char *attr, const char *value,
                    const char *why)
{
    if (why)
        return verr_set(c->err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s': %s",
                        value, attr, elem, why);
    return verr_set(c->err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'", value,
                    attr, elem);
}

static int missing_attr(struct pctx *c, const char *elem, const char *attr)
{
    return verr_set(c->err, EINVAL, "missing attribute '%s' of element '%s'", attr, elem);
}

/* Unknown element or attribute: an error with VALIDATE, else a warning. */
static int unknown(struct pctx *c, const char *what, const char *name, const char *where)
{
    if (c->flags & DOMAIN_PARSE_VALIDATE)
        return verr_set(c->err, EINVAL, "unsupported %s '%s' in element '%s'", what, name, where);
    log_warn("ignoring unknown %s '%s' in element '%s'", what, name, where);
    return 0;
}

static bool in_list(const char *name, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* Checks a node's attributes against a NULL-terminated list. */
static int check_attrs(struct pctx *c, const struct xnode *n, const char *const *known)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        const char *a = n->attrs[2 * i];
        if (strncmp(a, "xmlns", 5) == 0 || in_list(a, known))
            continue;
        int r = unknown(c, "attribute", a, n->name);
        if (r < 0)
            return r;
    }
    return 0;
}

static int get_uint(struct pctx *c, const struct xnode *n, const char *attr, unsigned *out,
                    bool *present)
{
    const char *v = xnode_attr(n, attr);
    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (str_to_uint(v, 0, out) < 0)
        return bad_attr(c, n->name, attr, v, "expected an unsigned integer");
    return 0;
}

static int get_enum(struct pctx *c, const struct xnode *n, const char *attr,
                    int (*from)(const char *), int dflt, int *out)
{
    const char *v = xnode_attr(n, attr);
    if (!v) {
        if (dflt < 0)
            return missing_attr(c, n->name, attr);
        *out = dflt;
        return 0;
    }
    int e = from(v);
    if (e < 0)
        return bad_attr(c, n->name, attr, v, NULL);
    *out = e;
    return 0;
}

static int yes_no(struct pctx *c, const struct xnode *n, const char *attr, int *out)
{
    const char *v = xnode_attr(n, attr);
    if (!v)
        return 0;
    if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
        *out = 1;
    else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
        *out = 0;
    else
        return bad_attr(c, n->name, attr, v, "expected 'yes' or 'no'");
    return 0;
}

static char *text_dup(const struct xnode *n)
{
    return xstrdup(xnode_text(n));
}

/* Replaces a string field (repeated elements must not leak the earlier value). */
static void set_str(char **dst, char *value)
{
    free(*dst);
    *dst = value;
}

static void push_node(struct xnode ***v, size_t *n, struct xnode *node)
{
    *v = xreallocarray(*v, *n + 1, sizeof(**v));
    (*v)[(*n)++] = node;
}

/* ---- memory ---- */

static int parse_memory_elem(struct pctx *c, const struct xnode *n, unsigned long long *kib)
{
    const char *unit = xnode_attr(n, "unit");
    const char *text = xnode_text(n);
    const char *t = text + strspn(text, " \t\r\n");
    char *trimmed = xstrdup(t);
    size_t l = strlen(trimmed);
    while (l && strchr(" \t\r\n", trimmed[l - 1]))
        trimmed[--l] = '\0';
    int r = domain_parse_memory(trimmed, unit, kib);
    if (r == -EINVAL && unit && domain_parse_memory("0", unit, kib) < 0)
        r = bad_attr(c, n->name, "unit", unit, "unknown unit");
    else if (r == -EINVAL)
        r = verr_set(c->err, EINVAL, "invalid value '%s' in element '%s': expected a size", trimmed,
                     n->name);
    else if (r == -ERANGE)
        r = verr_set(c->err, ERANGE, "invalid value '%s' in element '%s': size is too large",
                     trimmed, n->name);
    free(trimmed);
    return r;
}

/* ---- addresses ---- */

static const char *const other_address_types[] = {
    "ccw", "virtio-s390", "spapr-vio",   "ccid",       "usb",
    "isa", "dimm",        "virtio-mmio", "unassigned", NULL};

static int parse_address(struct pctx *c, const struct xnode *n, struct domain_address *a)
{
    const char *type = xnode_attr(n, "type");
    memset(a, 0, sizeof(*a));
    if (!type)
        return missing_attr(c, "address", "type");
    int r = 0;
    if (strcmp(type, "pci") == 0) {
        static const char *const known[] = {"type",     "domain",        "bus", "slot",
                                            "function", "multifunction", NULL};
        a->type = DOMAIN_ADDRESS_PCI;
        int mf = 0;
        if ((r = check_attrs(c, n, known)) < 0 ||
            (r = get_uint(c, n, "domain", &a->domain, NULL)) ||
            (r = get_uint(c, n, "bus", &a->bus, NULL)) ||
            (r = get_uint(c, n, "slot", &a->slot, NULL)) ||
            (r = get_uint(c, n, "function", &a->function, NULL)) ||
            (r = yes_no(c, n, "multifunction", &mf)))
            return r;
        a->multifunction = mf;
        char v[32];
        if (a->domain > 0xffff) {
            snprintf(v, sizeof(v), "%s", xnode_attr(n, "domain"));
            return bad_attr(c, "address", "domain", v, "PCI domain must be 0-0xffff");
        }
        if (a->bus > 0xff)
            return bad_attr(c, "address", "bus", xnode_attr(n, "bus"), "PCI bus must be 0-0xff");
        if (a->slot > 0x1f)
            return bad_attr(c, "address", "slot", xnode_attr(n, "slot"), "PCI slot must be 0-0x1f");
        if (a->function > 7)
            return bad_attr(c, "address", "function", xnode_attr(n, "function"),
                            "PCI function must be 0-7");
        return 0;
    }
    if (strcmp(type, "drive") == 0) {
        static const char *const known[] = {"type", "controller", "bus", "target", "unit", NULL};
        a->type = DOMAIN_ADDRESS_DRIVE;
        if ((r = check_attrs(c, n, known)) < 0 ||
            (r = get_uint(c, n, "controller", &a->controller, NULL)) ||
            (r = get_uint(c, n, "bus", &a->bus, NULL)) ||
            (r = get_uint(c, n, "target", &a->target, NULL)) ||
            (r = get_uint(c, n, "unit", &a->unit, NULL)))
            return r;
        return 0;
    }
    if (strcmp(type, "virtio-serial") == 0) {
        static const char *const known[] = {"type", "controller", "bus", "port", NULL};
        a->type = DOMAIN_ADDRESS_VIRTIO_SERIAL;
        if ((r = check_attrs(c, n, known)) < 0 ||
            (r = get_uint(c, n, "controller", &a->controller, NULL)) ||
            (r = get_uint(c, n, "bus", &a->bus, NULL)) ||
            (r = get_uint(c, n, "port", &a->port, NULL)))
            return r;
        return 0;
    }
    if (!in_list(type, other_address_types))
        return bad_attr(c, "address", "type", type, NULL);
    a->type = DOMAIN_ADDRESS_OTHER;
    a->other = xnode_copy(n);
    return 0;
}

/* ---- disks ---- */

static int parse_disk(struct pctx *c, const struct xnode *n, struct domain_disk *d)
{
    static const char *const attrs[] = {"type", "device", "snapshot", "rawio",
                                        "sgio", "model",  NULL};
    static const char *const kept[] = {"geometry", "blockio",         "iotune",  "encryption",
                                       "wwn",      "vendor",          "product", "auth",
                                       "mirror",   "throttlefilters", NULL};
    int r, e = 0;
    memset(d, 0, sizeof(*d));
    d->bus_written = -1;
    if ((r = check_attrs(c, n, attrs)) < 0)
        return r;
    if ((r = get_enum(c, n, "type", domain_disk_source_from_string, DOMAIN_DISK_SOURCE_FILE, &e)))
        return r;
    d->source_type = e;
    if ((r = get_enum(c, n, "device", domain_disk_device_from_string, DOMAIN_DISK_DEVICE_DISK, &e)))
        return r;
    d->device = e;
    bool have_target = false;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "driver") == 0) {
            unsigned iot = 0;
            if ((r = get_uint(c, k, "iothread", &iot, NULL)))
                return r;
            d->driver_iothread = iot;
            const char *v;
            if ((v = xnode_attr(k, "name")))
                set_str(&d->driver_name, xstrdup(v));
            if ((v = xnode_attr(k, "type")))
                set_str(&d->driver_type, xstrdup(v));
            if ((v = xnode_attr(k, "cache"))) {
                static const char *const caches[] = {
                    "default", "none", "writethrough", "writeback", "directsync", "unsafe", NULL};
                if (!in_list(v, caches))
                    return bad_attr(c, "driver", "cache", v, NULL);
                set_str(&d->driver_cache, xstrdup(v));
            }
            if ((v = xnode_attr(k, "io"))) {
                static const char *const ios[] = {"native", "threads", "io_uring", "default", NULL};
                if (!in_list(v, ios))
                    return bad_attr(c, "driver", "io", v, NULL);
                set_str(&d->driver_io, xstrdup(v));
            }
            if ((v = xnode_attr(k, "discard"))) {
                if (strcmp(v, "unmap") != 0 && strcmp(v, "ignore") != 0)
                    return bad_attr(c, "driver", "discard", v, NULL);
                set_str(&d->driver_discard, xstrdup(v));
            }
            if ((v = xnode_attr(k, "detect_zeroes"))) {
                static const char *const modes[] = {"off", "on", "unmap", NULL};
                if (!in_list(v, modes))
                    return bad_attr(c, "driver", "detect_zeroes", v, NULL);
                set_str(&d->driver_detect_zeroes, xstrdup(v));
            }
            if (d->driver_type) {
                static const char *const fmts[] = {"raw",   "qcow2",     "qcow", "qed",  "vmdk",
                                                   "vpc",   "vhdx",      "vdi",  "dmg",  "cloop",
                                                   "bochs", "parallels", "iso",  "luks", "fat",
                                                   "dir",   "aio",       "none", NULL};
                if (!in_list(d->driver_type, fmts))
                    return bad_attr(c, "driver", "type", d->driver_type, "unknown image format");
            }
            xnode_free(d->driver_node);
            d->driver_node = xnode_copy(k);
        } else if (strcmp(k->name, "source") == 0) {
            const char *path_attr = d->source_type == DOMAIN_DISK_SOURCE_FILE    ? "file"
                                    : d->source_type == DOMAIN_DISK_SOURCE_BLOCK ? "dev"
                                    : d->source_type == DOMAIN_DISK_SOURCE_DIR   ? "dir"
                                                                                 : NULL;
            const char *v;
            if (path_attr && (v = xnode_attr(k, path_attr)))
                set_str(&d->source_path, xstrdup(v));
            if (d->source_type == DOMAIN_DISK_SOURCE_NETWORK) {
                if (!(v = xnode_attr(k, "protocol")))
                    return verr_set(c->err, EINVAL,
                                    "missing attribute 'protocol' of element 'source' in a "
                                    "network disk");
                static const char *const protos[] = {
                    "nbd", "rbd",  "sheepdog", "gluster", "iscsi", "http", "https",
                    "ftp", "ftps", "tftp",     "ssh",     "vxhs",  "nfs",  NULL};
                if (!in_list(v, protos))
                    return bad_attr(c, "source", "protocol", v, NULL);
                set_str(&d->source_protocol, xstrdup(v));
                if ((v = xnode_attr(k, "name")))
                    set_str(&d->source_name, xstrdup(v));
            } else if (d->source_type == DOMAIN_DISK_SOURCE_VOLUME) {
                const char *pool = xnode_attr(k, "pool"), *vol = xnode_attr(k, "volume");
                if (pool && vol)
                    set_str(&d->source_name, xasprintf("%s/%s", pool, vol));
            }
            xnode_free(d->source);
            d->source = xnode_copy(k);
        } else if (strcmp(k->name, "target") == 0) {
            const char *dev = xnode_attr(k, "dev");
            if (!dev)
                return verr_set(c->err, EINVAL,
                                "missing attribute 'dev' of element 'target' in a disk");
            if (!*dev)
                return bad_attr(c, "target", "dev", dev, "empty disk target");
            set_str(&d->target_dev, xstrdup(dev));
            if ((r = get_enum(c, k, "bus", domain_disk_bus_from_string, -2, &e)) < 0 &&
                xnode_attr(k, "bus"))
                return r;
            d->bus_written = xnode_attr(k, "bus") ? e : -1;
            d->target_bus = d->bus_written >= 0 ? (enum domain_disk_bus)e : DOMAIN_DISK_BUS_LAST;
            verr_clear(c->err);
            xnode_free(d->target_node);
            d->target_node = xnode_copy(k);
            have_target = true;
        } else if (strcmp(k->name, "boot") == 0) {
            bool p;
            if ((r = get_uint(c, k, "order", &d->boot_order, &p)))
                return r;
            if (!p)
                return missing_attr(c, "boot", "order");
            if (d->boot_order == 0)
                return bad_attr(c, "boot", "order", xnode_attr(k, "order"),
                                "boot order must be 1 or more");
        } else if (strcmp(k->name, "readonly") == 0) {
            d->readonly = true;
        } else if (strcmp(k->name, "shareable") == 0) {
            d->shareable = true;
        } else if (strcmp(k->name, "transient") == 0) {
            d->transient = true;
        } else if (strcmp(k->name, "serial") == 0) {
            free(d->serial);
            d->serial = text_dup(k);
        } else if (strcmp(k->name, "address") == 0) {
            if ((r = parse_address(c, k, &d->address)))
                return r;
        } else if (strcmp(k->name, "alias") == 0) {
            const char *v = xnode_attr(k, "name");
            if (v) {
                set_str(&d->alias, xstrdup(v));
            }
        } else if (strcmp(k->name, "backingStore") == 0) {
            xnode_free(d->backing);
            d->backing = xnode_copy(k);
        } else if (in_list(k->name, kept)) {
            push_node(&d->extra, &d->nextra, xnode_copy(k));
        } else if ((r = unknown(c, "element", k->name, "disk")) < 0) {
            return r;
        }
    }
    if (!have_target)
        return verr_set(c->err, EINVAL, "missing element 'target' in a disk");
    if (!d->source_path && d->source_type != DOMAIN_DISK_SOURCE_NETWORK &&
        d->source_type != DOMAIN_DISK_SOURCE_VOLUME && d->device != DOMAIN_DISK_DEVICE_CDROM &&
        d->device != DOMAIN_DISK_DEVICE_FLOPPY)
        return verr_set(c->err, EINVAL, "missing source for disk '%s' (type '%s')", d->target_dev,
                        domain_disk_source_to_string(d->source_type));
    return 0;
}

/* ---- interfaces ---- */

static int parse_mac(struct pctx *c, const char *s, char out[18])
{
    unsigned b[6];
    char tail;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                                  &b[5], &tail) != 6)
        return bad_attr(c, "mac", "address", s, "expected six hex octets like 52:54:00:12:34:56");
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
            return bad_attr(c, "mac", "address", s,
                            "expected six hex octets like 52:54:00:12:34:56");
    }
    if (b[0] & 1)
        return bad_attr(c, "mac", "address", s, "multicast addresses are not allowed");
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned char)b[0], (unsigned char)b[1],
             (unsigned char)b[2], (unsigned char)b[3], (unsigned char)b[4], (unsigned char)b[5]);
    return 0;
}

static int parse_net(struct pctx *c, const struct xnode *n, struct domain_net *net)
{
    static const char *const attrs[] = {"type", "trustGuestRxFilters", "managed", NULL};
    static const char *const kept[] = {
        "virtualport", "vlan",   "bandwidth",  "link",          "mtu",  "filterref", "ip",
        "route",       "script", "downscript", "backenddomain", "tune", "teaming",   "coalesce",
        "rom",         "port",   "guest",      "backend",       "acpi", NULL};
    int r, e = 0;
    memset(net, 0, sizeof(*net));
    if ((r = check_attrs(c, n, attrs)) < 0)
        return r;
    if ((r = get_enum(c, n, "type", domain_net_type_from_string, -1, &e)))
        return r;
    net->type = e;
    net->managed = net->trust_guest_rx_filters = -1;
    if ((r = yes_no(c, n, "managed", &net->managed)) ||
        (r = yes_no(c, n, "trustGuestRxFilters", &net->trust_guest_rx_filters)))
        return r;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "mac") == 0) {
            const char *v = xnode_attr(k, "address");
            if (!v)
                return missing_attr(c, "mac", "address");
            if ((r = parse_mac(c, v, net->mac)))
                return r;
        } else if (strcmp(k->name, "source") == 0) {
            const char *v;
            if ((v = xnode_attr(k, "network")))
                set_str(&net->source_network, xstrdup(v));
            if ((v = xnode_attr(k, "bridge")))
                set_str(&net->source_bridge, xstrdup(v));
            if ((v = xnode_attr(k, "dev")))
                set_str(&net->source_dev, xstrdup(v));
            if ((v = xnode_attr(k, "mode")))
                set_str(&net->source_mode, xstrdup(v));
            xnode_free(net->source);
            net->source = xnode_copy(k);
        } else if (strcmp(k->name, "model") == 0) {
            const char *v = xnode_attr(k, "type");
            if (!v)
                return missing_attr(c, "model", "type");
            if (!*v ||
                strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                    strlen(v))
                return bad_attr(c, "model", "type", v, "not a device model name");
            set_str(&net->model, xstrdup(v));
        } else if (strcmp(k->name, "target") == 0) {
            const char *v = xnode_attr(k, "dev");
            /* Names the host generates (vnetN, macvtapN) are live data: libvirt drops them. */
            static const char *const generated[] = {"vnet", "macvtap", "macvlan", "vif", NULL};
            bool gen = false;
            for (size_t g = 0; v && generated[g]; g++)
                gen |= strncmp(v, generated[g], strlen(generated[g])) == 0;
            if (v && (!gen || (c->flags & DOMAIN_PARSE_LIVE)))
                set_str(&net->target_dev, xstrdup(v));
            xnode_free(net->target_node);
            net->target_node = xnode_copy(k);
            xnode_set_attr(net->target_node, "dev", NULL);
        } else if (strcmp(k->name, "driver") == 0) {
            const char *v = xnode_attr(k, "name");
            if (v)
                set_str(&net->driver_name, xstrdup(v));
            if ((r = get_uint(c, k, "queues", &net->driver_queues, NULL)))
                return r;
            xnode_free(net->driver_node);
            net->driver_node = xnode_copy(k);
        } else if (strcmp(k->name, "boot") == 0) {
            bool p;
            if ((r = get_uint(c, k, "order", &net->boot_order, &p)))
                return r;
            if (!p)
                return missing_attr(c, "boot", "order");
            if (net->boot_order == 0)
                return bad_attr(c, "boot", "order", xnode_attr(k, "order"),
                                "boot order must be 1 or more");
        } else if (strcmp(k->name, "address") == 0) {
            if ((r = parse_address(c, k, &net->address)))
                return r;
        } else if (strcmp(k->name, "alias") == 0) {
            const char *v = xnode_attr(k, "name");
            if (v) {
                set_str(&net->alias, xstrdup(v));
            }
        } else if (in_list(k->name, kept)) {
            push_node(&net->extra, &net->nextra, xnode_copy(k));
        } else if ((r = unknown(c, "element", k->name, "interface")) < 0) {
            return r;
        }
    }
    switch (net->type) {
    case DOMAIN_NET_NETWORK:
        if (!net->source_network)
            return verr_set(c->err, EINVAL,
                            "missing attribute 'network' of element 'source' in interface of "
                            "type 'network'");
        break;
    case DOMAIN_NET_BRIDGE:
        if (!net->source_bridge)
            return verr_set(c->err, EINVAL,
                            "missing attribute 'bridge' of element 'source' in interface of "
                            "type 'bridge'");
        break;
    case DOMAIN_NET_DIRECT:
        if (!net->source_dev)
            return verr_set(c->err, EINVAL,
                            "missing attribute 'dev' of element 'source' in interface of type "
                            "'direct'");
        if (net->source_mode) {
            static const char *const modes[] = {"vepa", "private", "bridge", "passthrough", NULL};
            if (!in_list(net->source_mode, modes))
                return bad_attr(c, "source", "mode", net->source_mode, NULL);
        }
        break;
    case DOMAIN_NET_HOSTDEV:
    case DOMAIN_NET_VHOSTUSER:
        if (!net->source)
            return verr_set(c->err, EINVAL, "missing element 'source' in interface of type '%s'",
                            domain_net_type_to_string(net->type));
        break;
    default:
        break;
    }
    return 0;
}

/* ---- controllers ---- */

static int parse_controller(struct pctx *c, const struct xnode *n, struct domain_controller *ctl,
                            bool *index_given)
{
    static const char *const attrs[] = {
        "type", "index", "model", "ports", "vectors", "maxGrantFrames", "maxEventChannels", NULL};
    int r, e = 0;
    memset(ctl, 0, sizeof(*ctl));
    if ((r = check_attrs(c, n, attrs)) < 0)
        return r;
    if ((r = get_enum(c, n, "type", domain_controller_type_from_string, -1, &e)))
        return r;
    ctl->type = e;
    if ((r = get_uint(c, n, "index", &ctl->index, index_given)) ||
        (r = get_uint(c, n, "ports", &ctl->ports, NULL)) ||
        (r = get_uint(c, n, "vectors", &ctl->vectors, NULL)))
        return r;
    const char *m = xnode_attr(n, "model");
    if (m) {
        static const char *const models[][12] = {
            [DOMAIN_CONTROLLER_SCSI] = {"auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi",
                                        "ibmvscsi", "virtio-scsi", "lsisas1078",
                                        "virtio-transitional", "virtio-non-transitional",
                                        "ncr53c90", NULL},
            [DOMAIN_CONTROLLER_VIRTIO_SERIAL] = {"virtio", "virtio-transitional",
                                                 "virtio-non-transitional", NULL},
            [DOMAIN_CONTROLLER_PCI] = {"pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge",
                                       "pcie-root-port", "pcie-switch-upstream-port",
                                       "pcie-switch-downstream-port", "pci-expander-bus",
                                       "pcie-expander-bus", "pcie-to-pci-bridge", NULL},
            [DOMAIN_CONTROLLER_IDE] = {"piix3", "piix4", "ich6", NULL},
        };
        static const char *const usb_models[] = {
            "piix3-uhci", "piix4-uhci", "ehci",           "ich9-ehci1", "ich9-uhci1",
            "ich9-uhci2", "ich9-uhci3", "vt82c686b-uhci", "pci-ohci",   "nec-xhci",
            "qusb1",      "qusb2",      "qemu-xhci",      "none",       NULL};
        const char *const *list =
            ctl->type == DOMAIN_CONTROLLER_USB ? usb_models
            : ctl->type < (int)(sizeof(models) / sizeof(models[0])) && models[ctl->type][0]
                ? models[ctl->type]
                : NULL;
        if (!list || !in_list(m, list))
            return bad_attr(c, "controller", "model", m, NULL);
        ctl->model = xstrdup(m);
    }
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "address") == 0) {
            if ((r = parse_address(c, k, &ctl->address)))
                return r;
        } else if (strcmp(k->name, "model") == 0 || strcmp(k->name, "target") == 0 ||
                   strcmp(k->name, "driver") == 0 || strcmp(k->name, "master") == 0 ||
                   strcmp(k->name, "pcihole64") == 0) {
            push_node(&ctl->extra, &ctl->nextra, xnode_copy(k));
        } else if (strcmp(k->name, "alias") == 0) {
            continue;
        } else if ((r = unknown(c, "element", k->name, "controller")) < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- first levels of kept elements: what libvirt's schema allows ---- */

/*
 * Kept trees are printed back verbatim, so a typo inside one would make the
 * output invalid. Their first levels are checked against these lists (from
 * libvirt's domain schema): unknown attributes and children are warned about
 * and dropped, or refused with DOMAIN_PARSE_VALIDATE. Deeper levels, and
 * elements not listed, are left to the RelaxNG check of --validate.
 */
struct known_shape {
    const char *path;  /* element path below <domain>/<devices>, e.g. "graphics/listen" */
    const char *attrs; /* space-separated */
    const char *kids;  /* space-separated; NULL = do not check children */
};

#define CHR_ATTRS "type tty"
#define CHR_KIDS  "source target protocol log address alias"

static const struct known_shape known_shapes[] = {
    {"graphics",
     "type port autoport websocket tlsPort listen passwd passwdValidTo connected keymap "
     "sharePolicy defaultMode display xauth fullscreen multiUser replaceUser socket powerControl "
     "address p2p",
     "listen channel image streaming clipboard mouse filetransfer gl audio"},
    {"graphics/listen", "type address network socket fromConfig autoGenerated", ""},
    {"video", "", "model driver address alias"},
    {"video/model", "type ram vram vram64 vgamem heads primary blob", "acceleration resolution"},
    {"input", "type bus model", "address alias source driver"},
    {"serial", CHR_ATTRS, CHR_KIDS},
    {"console", CHR_ATTRS, CHR_KIDS},
    {"parallel", CHR_ATTRS, CHR_KIDS},
    {"channel", CHR_ATTRS, CHR_KIDS},
    {"memballoon", "model autodeflate freePageReporting", "address alias stats driver"},
    {"rng", "model", "rate backend address alias driver"},
    {"sound", "model multichannel streams", "codec address alias audio driver"},
    {"watchdog", "model action", "address alias"},
    {"hostdev", "mode type managed sgio rawio model display ramfb",
     "source driver address alias boot rom readonly shareable origstates teaming acpi"},
    {"smartcard", "mode type", "certificate database source protocol address alias"},
    {"clock", "offset adjustment basis timezone", "timer"},
    {"clock/timer", "name present tickpolicy track frequency mode", "catchup"},
    {"pm", "", "suspend-to-mem suspend-to-disk"},
    {"cpu", "mode match check migratable deprecated_features",
     "model vendor topology cache maxphysaddr feature numa"},
    {"cpu/topology", "sockets dies clusters cores threads", ""},
    {"cpu/feature", "policy name", ""},
    {"features", "",
     "acpi apic pae hap viridian privnet hyperv kvm xen pvspinlock capabilities pmu vmport gic "
     "smm ioapic hpt vmcoreinfo htm nested-hv msrs ccf-assist cfpc sbbc ibs tcg async-teardown ps2 "
     "ras"},
    {"memtune", "", "hard_limit soft_limit swap_hard_limit min_guarantee"},
    {"memoryBacking", "", "hugepages nosharepages locked source access allocation discard"},
    {"numatune", "", "memory memnode"},
};

static bool word_in(const char *word, const char *list)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && strncmp(p, word, l) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static const struct known_shape *shape_of(const char *path)
{
    for (size_t i = 0; i < sizeof(known_shapes) / sizeof(known_shapes[0]); i++)
        if (strcmp(known_shapes[i].path, path) == 0)
            return &known_shapes[i];
    return NULL;
}

/* Checks (and in default mode prunes) a kept tree's first levels. */
static int prune_kept(struct pctx *c, struct xnode *n, const char *path)
{
    const struct known_shape *ks = shape_of(path);
    if (!ks)
        return 0;
    int r;
    for (size_t i = n->nattrs; i-- > 0;) {
        const char *a = n->attrs[2 * i];
        if (strchr(a, ':') || strncmp(a, "xmlns", 5) == 0 || word_in(a, ks->attrs))
            continue;
        if ((r = unknown(c, "attribute", a, n->name)) < 0)
            return r;
        char *name = xstrdup(a);
        xnode_set_attr(n, name, NULL);
        free(name);
    }
    if (!ks->kids)
        return 0;
    for (size_t i = n->nkids; i-- > 0;) {
        struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (!word_in(k->name, ks->kids)) {
            if ((r = unknown(c, "element", k->name, n->name)) < 0)
                return r;
            xnode_remove(n, i);
            continue;
        }
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/%s", path, k->name);
        if ((r = prune_kept(c, k, sub)) < 0)
            return r;
    }
    return 0;
}

/* ---- devices ---- */

static const char *const kept_devices[] = {
    "lease",    "filesystem",  "smartcard", "serial",   "parallel",   "console", "channel",
    "input",    "tpm",         "graphics",  "sound",    "audio",      "video",   "hostdev",
    "redirdev", "redirfilter", "hub",       "watchdog", "memballoon", "rng",     "panic",
    "shmem",    "memory",      "iommu",     "vsock",    "crypto",     "pstore",  NULL};

static int parse_devices(struct pctx *c, const struct xnode *n, struct domain_def *def,
                         bool *ctl_index_given)
{
    int r;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "emulator") == 0) {
            free(def->emulator);
            def->emulator = text_dup(k);
        } else if (strcmp(k->name, "disk") == 0) {
            struct domain_disk d;
            r = parse_disk(c, k, &d);
            if (r < 0) {
                domain_disk_clear(&d);
                return r;
            }
            def->disks = xreallocarray(def->disks, def->ndisks + 1, sizeof(*def->disks));
            def->disks[def->ndisks++] = d;
        } else if (strcmp(k->name, "interface") == 0) {
            struct domain_net d;
            r = parse_net(c, k, &d);
            if (r < 0) {
                domain_net_clear(&d);
                return r;
            }
            def->nets = xreallocarray(def->nets, def->nnets + 1, sizeof(*def->nets));
            def->nets[def->nnets++] = d;
        } else if (strcmp(k->name, "controller") == 0) {
            struct domain_controller d;
            bool given = false;
            r = parse_controller(c, k, &d, &given);
            if (r < 0) {
                domain_controller_clear(&d);
                return r;
            }
            if (def->ncontrollers >= 256) {
                domain_controller_clear(&d);
                return verr_set(c->err, EINVAL, "too many controllers (at most 256)");
            }
            ctl_index_given[def->ncontrollers] = given;
            def->controllers =
                xreallocarray(def->controllers, def->ncontrollers + 1, sizeof(*def->controllers));
            def->controllers[def->ncontrollers++] = d;
        } else if (in_list(k->name, kept_devices)) {
            struct xnode *copy = xnode_copy(k);
            if ((r = prune_kept(c, copy, k->name)) < 0) {
                xnode_free(copy);
                return r;
            }
            domain_device_append(def, copy);
        } else if ((r = unknown(c, "element", k->name, "devices")) < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- os ---- */

static int parse_os(struct pctx *c, const struct xnode *n, struct domain_def *def)
{
    static const char *const kept[] = {"init",      "initarg", "initenv",  "initdir", "inituser",
                                       "initgroup", "acpi",    "firmware", NULL};
    int r;
    const char *fw = xnode_attr(n, "firmware");
    if (fw) {
        if (strcmp(fw, "bios") != 0 && strcmp(fw, "efi") != 0)
            return bad_attr(c, "os", "firmware", fw, "expected 'bios' or 'efi'");
        set_str(&def->os_firmware, xstrdup(fw));
    }
    static const char *const os_attrs[] = {"firmware", NULL};
    if ((r = check_attrs(c, n, os_attrs)) < 0)
        return r;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        const char *v;
        if (strcmp(k->name, "type") == 0) {
            free(def->os_type);
            def->os_type = text_dup(k);
            if ((v = xnode_attr(k, "arch"))) {
                set_str(&def->os_arch, xstrdup(v));
            }
            if ((v = xnode_attr(k, "machine"))) {
                set_str(&def->os_machine, xstrdup(v));
            }
        } else if (strcmp(k->name, "loader") == 0) {
            free(def->os_loader);
            def->os_loader = *xnode_text(k) ? text_dup(k) : NULL;
            xnode_free(def->os_loader_node);
            def->os_loader_node = xnode_copy(k);
            xnode_set_text(def->os_loader_node, NULL);
        } else if (strcmp(k->name, "nvram") == 0) {
            free(def->os_nvram);
            def->os_nvram = *xnode_text(k) ? text_dup(k) : NULL;
            xnode_free(def->os_nvram_node);
            def->os_nvram_node = xnode_copy(k);
            xnode_set_text(def->os_nvram_node, NULL);
        } else if (strcmp(k->name, "kernel") == 0) {
            free(def->os_kernel);
            def->os_kernel = text_dup(k);
        } else if (strcmp(k->name, "initrd") == 0) {
            free(def->os_initrd);
            def->os_initrd = text_dup(k);
        } else if (strcmp(k->name, "cmdline") == 0) {
            free(def->os_cmdline);
            def->os_cmdline = text_dup(k);
        } else if (strcmp(k->name, "dtb") == 0) {
            free(def->os_dtb);
            def->os_dtb = text_dup(k);
        } else if (strcmp(k->name, "boot") == 0) {
            v = xnode_attr(k, "dev");
            if (!v)
                return missing_attr(c, "boot", "dev");
            int d = domain_boot_dev_from_string(v);
            if (d < 0)
                return bad_attr(c, "boot", "dev", v, "expected fd, cdrom, hd or network");
            if (def->nboot_devs >= DOMAIN_BOOT_LAST)
                return verr_set(c->err, EINVAL, "too many 'boot' elements in 'os' (at most %d)",
                                DOMAIN_BOOT_LAST);
            def->boot_devs[def->nboot_devs++] = d;
        } else if (strcmp(k->name, "bootmenu") == 0) {
            int en = -1;
            if ((r = yes_no(c, k, "enable", &en)))
                return r;
            def->bootmenu = en;
            if ((v = xnode_attr(k, "timeout"))) {
                unsigned t;
                if (str_to_uint(v, 10, &t) < 0 || t > 65535)
                    return bad_attr(c, "bootmenu", "timeout", v, "expected 0-65535 milliseconds");
                def->bootmenu_timeout = (int)t;
            }
        } else if (strcmp(k->name, "smbios") == 0) {
            v = xnode_attr(k, "mode");
            if (!v)
                return missing_attr(c, "smbios", "mode");
            if (strcmp(v, "emulate") && strcmp(v, "host") && strcmp(v, "sysinfo"))
                return bad_attr(c, "smbios", "mode", v, NULL);
            set_str(&def->smbios_mode, xstrdup(v));
        } else if (strcmp(k->name, "bios") == 0) {
            int us = -1;
            if ((r = yes_no(c, k, "useserial", &us)))
                return r;
            if (us >= 0) {
                set_str(&def->bios_useserial, xstrdup(us ? "yes" : "no"));
            }
            if ((v = xnode_attr(k, "rebootTimeout"))) {
                int64_t t;
                if (str_to_i64(v, 10, &t) < 0 || t < -1 || t > 65535)
                    return bad_attr(c, "bios", "rebootTimeout", v, "expected -1 to 65535");
                def->bios_reboot_timeout = (int)t;
            }
        } else if (in_list(k->name, kept)) {
            push_node(&def->os_extra, &def->nos_extra, xnode_copy(k));
        } else if ((r = unknown(c, "element", k->name, "os")) < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- cputune ---- */

static int parse_cputune(struct pctx *c, const struct xnode *n, struct domain_def *def)
{
    static const char *const kept[] = {"global_period",  "global_quota",    "emulator_period",
                                       "emulator_quota", "iothread_period", "iothread_quota",
                                       "vcpusched",      "iothreadsched",   "emulatorsched",
                                       "cachetune",      "memorytune",      NULL};
    int r;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        const char *t = xnode_text(k);
        if (strcmp(k->name, "shares") == 0) {
            uint64_t v;
            if (str_to_u64(t, 10, &v) < 0)
                return verr_set(c->err, EINVAL, "invalid value '%s' in element 'shares'", t);
            def->cpu_shares = v;
        } else if (strcmp(k->name, "period") == 0) {
            uint64_t v;
            if (str_to_u64(t, 10, &v) < 0 || v < 1000 || v > 1000000)
                return verr_set(c->err, EINVAL,
                                "invalid value '%s' in element 'period': must be 1000-1000000", t);
            def->period = (long long)v;
        } else if (strcmp(k->name, "quota") == 0) {
            int64_t v;
            if (str_to_i64(t, 10, &v) < 0 || (v >= 0 && v < 1000) || v < -1 || v > 17592186044415LL)
                return verr_set(c->err, EINVAL,
                                "invalid value '%s' in element 'quota': must be -1 or "
                                "1000-17592186044415",
                                t);
            def->quota = v;
        } else if (strcmp(k->name, "vcpupin") == 0) {
            bool p;
            unsigned vcpu;
            if ((r = get_uint(c, k, "vcpu", &vcpu, &p)))
                return r;
            if (!p)
                return missing_attr(c, "vcpupin", "vcpu");
            const char *set = xnode_attr(k, "cpuset");
            if (!set)
                return missing_attr(c, "vcpupin", "cpuset");
            def->vcpupins =
                xreallocarray(def->vcpupins, def->nvcpupins + 1, sizeof(*def->vcpupins));
            def->vcpupins[def->nvcpupins].vcpu = vcpu;
            def->vcpupins[def->nvcpupins++].cpuset = xstrdup(set);
        } else if (strcmp(k->name, "emulatorpin") == 0) {
            const char *set = xnode_attr(k, "cpuset");
            if (!set)
                return missing_attr(c, "emulatorpin", "cpuset");
            set_str(&def->emulatorpin, xstrdup(set));
        } else if (strcmp(k->name, "iothreadpin") == 0) {
            bool p;
            unsigned id;
            if ((r = get_uint(c, k, "iothread", &id, &p)))
                return r;
            if (!p)
                return missing_attr(c, "iothreadpin", "iothread");
            const char *set = xnode_attr(k, "cpuset");
            if (!set)
                return missing_attr(c, "iothreadpin", "cpuset");
            def->iothreadpins = xreallocarray(def->iothreadpins, def->niothreadpins + 1,
                                              sizeof(*def->iothreadpins));
            def->iothreadpins[def->niothreadpins].iothread = id;
            def->iothreadpins[def->niothreadpins++].cpuset = xstrdup(set);
        } else if (in_list(k->name, kept)) {
            push_node(&def->cputune_extra, &def->ncputune_extra, xnode_copy(k));
        } else if ((r = unknown(c, "element", k->name, "cputune")) < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- cpu: kept, topology extracted ---- */

static int parse_cpu(struct pctx *c, const struct xnode *n, struct domain_def *def)
{
    int r;
    const char *mode = xnode_attr(n, "mode");
    if (mode && strcmp(mode, "custom") && strcmp(mode, "host-model") &&
        strcmp(mode, "host-passthrough") && strcmp(mode, "maximum"))
        return bad_attr(c, "cpu", "mode", mode, NULL);
    const char *match = xnode_attr(n, "match");
    if (match && strcmp(match, "minimum") && strcmp(match, "exact") && strcmp(match, "strict"))
        return bad_attr(c, "cpu", "match", match, NULL);
    const char *check = xnode_attr(n, "check");
    if (check && strcmp(check, "none") && strcmp(check, "partial") && strcmp(check, "full"))
        return bad_attr(c, "cpu", "check", check, NULL);
    const struct xnode *topo = xnode_child(n, "topology");
    if (topo) {
        bool ps, pc, pt, pd;
        if ((r = get_uint(c, topo, "sockets", &def->cpu_sockets, &ps)) ||
            (r = get_uint(c, topo, "cores", &def->cpu_cores, &pc)) ||
            (r = get_uint(c, topo, "threads", &def->cpu_threads, &pt)) ||
            (r = get_uint(c, topo, "dies", &def->cpu_dies, &pd)))
            return r;
        if (!ps)
            return missing_attr(c, "topology", "sockets");
        if (!pc)
            return missing_attr(c, "topology", "cores");
        if (!pt)
            return missing_attr(c, "topology", "threads");
        if (!pd)
            def->cpu_dies = 1;
        if (!def->cpu_sockets || !def->cpu_cores || !def->cpu_threads || !def->cpu_dies)
            return verr_set(c->err, EINVAL,
                            "invalid CPU topology in element 'topology': every count must be "
                            "at least 1");
    }
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "feature") == 0) {
            const char *p = xnode_attr(k, "policy");
            if (!xnode_attr(k, "name"))
                return missing_attr(c, "feature", "name");
            if (p && strcmp(p, "force") && strcmp(p, "require") && strcmp(p, "optional") &&
                strcmp(p, "disable") && strcmp(p, "forbid"))
                return bad_attr(c, "feature", "policy", p, NULL);
        }
    }
    xnode_free(def->cpu);
    def->cpu = xnode_copy(n);
    if ((r = prune_kept(c, def->cpu, "cpu")) < 0)
        return r;
    return 0;
}

/* ---- the domain ---- */

static const char *const kept_top[] = {"iothreadids",    "defaultiothread",  "throttlegroups",
                                       "on_lockfailure", "qemu:commandline", "qemu:capabilities",
                                       "qemu:override",  "qemu:deprecation", NULL};

static int parse_vcpu(struct pctx *c, const struct xnode *k, struct domain_def *def)
{
    int r;
    const char *t = xnode_text(k);
    unsigned v;
    if (str_to_uint(t, 10, &v) < 0)
        return verr_set(c->err, EINVAL, "invalid value '%s' in element 'vcpu': expected a count",
                        t);
    if (v == 0)
        return verr_set(c->err, EINVAL, "invalid value '0' in element 'vcpu': need at least 1");
    def->vcpus = v;
    bool p;
    if ((r = get_uint(c, k, "current", &def->vcpus_current, &p)))
        return r;
    if (!p)
        def->vcpus_current = v;
    else if (def->vcpus_current == 0)
        return bad_attr(c, "vcpu", "current", "0", "need at least 1");
    const char *pl = xnode_attr(k, "placement");
    if (pl) {
        if (strcmp(pl, "static") && strcmp(pl, "auto"))
            return bad_attr(c, "vcpu", "placement", pl, "expected 'static' or 'auto'");
        set_str(&def->vcpu_placement, xstrdup(pl));
    }
    const char *cs = xnode_attr(k, "cpuset");
    if (cs)
        set_str(&def->cpuset, xstrdup(cs));
    static const char *const attrs[] = {"placement", "cpuset", "current", NULL};
    return check_attrs(c, k, attrs);
}

static struct xnode **top_slot(struct domain_def *def, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } slots[] = {
        {"blkiotune", offsetof(struct domain_def, blkiotune)},
        {"memtune", offsetof(struct domain_def, memtune)},
        {"memoryBacking", offsetof(struct domain_def, memory_backing)},
        {"numatune", offsetof(struct domain_def, numatune)},
        {"resource", offsetof(struct domain_def, resource)},
        {"sysinfo", offsetof(struct domain_def, sysinfo)},
        {"bootloader", offsetof(struct domain_def, bootloader)},
        {"bootloader_args", offsetof(struct domain_def, bootloader_args)},
        {"idmap", offsetof(struct domain_def, idmap)},
        {"features", offsetof(struct domain_def, features)},
        {"clock", offsetof(struct domain_def, clock)},
        {"pm", offsetof(struct domain_def, pm)},
        {"perf", offsetof(struct domain_def, perf)},
        {"keywrap", offsetof(struct domain_def, keywrap)},
        {"launchSecurity", offsetof(struct domain_def, launch_security)},
    };
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        if (strcmp(slots[i].name, name) == 0)
            return (struct xnode **)((char *)def + slots[i].off);
    return NULL;
}

static int parse_domain(struct pctx *c, const struct xnode *root, struct domain_def *def)
{
    int r;
    const struct xnode *vcpus_node = NULL;
    if (strcmp(root->name, "domain") != 0)
        return verr_set(c->err, EINVAL, "unexpected root element '%s', expecting 'domain'",
                        root->name);
    static const char *const attrs[] = {"type", "id", NULL};
    if ((r = check_attrs(c, root, attrs)) < 0)
        return r;
    const char *type = xnode_attr(root, "type");
    if (!type)
        return missing_attr(c, "domain", "type");
    int t = domain_type_from_string(type);
    if (t < 0)
        return bad_attr(c, "domain", "type", type, "Vireo supports 'kvm', 'qemu' and 'test'");
    def->type = t;
    def->id = -1;
    const char *id = xnode_attr(root, "id");
    if (id && (c->flags & DOMAIN_PARSE_LIVE)) {
        int64_t v;
        if (str_to_i64(id, 10, &v) < 0 || v < -1 || v > INT32_MAX)
            return bad_attr(c, "domain", "id", id, NULL);
        def->id = (int)v;
    }
    def->bootmenu = -1;
    def->bootmenu_timeout = -1;
    def->bios_reboot_timeout = -2;
    def->on_poweroff = DOMAIN_ACTION_DESTROY;
    def->on_reboot = DOMAIN_ACTION_RESTART;
    def->on_crash = DOMAIN_ACTION_DESTROY;

    bool have_name = false, have_uuid = false, have_memory = false, have_os = false;
    bool ctl_index_given[257] = {false};
    for (size_t i = 0; i < root->nkids; i++) {
        const struct xnode *k = root->kids[i];
        if (!k->name)
            continue;
        const char *txt = xnode_text(k);
        if (strcmp(k->name, "name") == 0) {
            if (have_name)
                continue;
            have_name = true;
            def->name = xstrdup(txt);
        } else if (strcmp(k->name, "uuid") == 0) {
            if (have_uuid)
                continue;
            have_uuid = true;
            if (domain_uuid_parse(txt, def->uuid) < 0)
                return verr_set(c->err, EINVAL, "invalid value '%s' in element 'uuid'", txt);
        } else if (strcmp(k->name, "genid") == 0) {
            free(def->genid);
            def->genid = NULL;
            unsigned char g[16];
            if (*txt && domain_uuid_parse(txt, g) < 0)
                return verr_set(c->err, EINVAL, "invalid value '%s' in element 'genid'", txt);
            if (*txt) {
                def->genid = xmalloc(37);
                domain_uuid_format(g, def->genid);
            } else {
                set_str(&def->genid, xstrdup(""));
            }
        } else if (strcmp(k->name, "title") == 0) {
            if (strchr(txt, '\n'))
                return verr_set(c->err, EINVAL,
                                "invalid value in element 'title': "
                                "the title must be a single line");
            set_str(&def->title, xstrdup(txt));
        } else if (strcmp(k->name, "description") == 0) {
            set_str(&def->description, xstrdup(txt));
        } else if (strcmp(k->name, "metadata") == 0) {
            xnode_free(def->metadata);
            def->metadata = xnode_copy(k);
        } else if (strcmp(k->name, "memory") == 0 || strcmp(k->name, "currentMemory") == 0 ||
                   strcmp(k->name, "maxMemory") == 0) {
            unsigned long long kib;
            if ((r = parse_memory_elem(c, k, &kib)))
                return r;
            if (k->name[0] == 'm' && k->name[1] == 'e') {
                def->memory_kib = kib;
                have_memory = true;
            } else if (k->name[0] == 'c') {
                def->current_memory_kib = kib;
            } else {
                def->max_memory_kib = kib;
                bool p;
                if ((r = get_uint(c, k, "slots", &def->max_memory_slots, &p)))
                    return r;
                if (!p)
                    return missing_attr(c, "maxMemory", "slots");
            }
        } else if (strcmp(k->name, "vcpu") == 0) {
            if ((r = parse_vcpu(c, k, def)))
                return r;
        } else if (strcmp(k->name, "vcpus") == 0) {
            vcpus_node = k; /* needs <vcpu>'s maximum, which may come later */
        } else if (strcmp(k->name, "iothreads") == 0) {
            if (str_to_uint(txt, 10, &def->iothreads) < 0)
                return verr_set(c->err, EINVAL, "invalid value '%s' in element 'iothreads'", txt);
        } else if (strcmp(k->name, "cputune") == 0) {
            if ((r = parse_cputune(c, k, def)))
                return r;
        } else if (strcmp(k->name, "os") == 0) {
            have_os = true;
            if ((r = parse_os(c, k, def)))
                return r;
        } else if (strcmp(k->name, "cpu") == 0) {
            if ((r = parse_cpu(c, k, def)))
                return r;
        } else if (strcmp(k->name, "on_poweroff") == 0 || strcmp(k->name, "on_reboot") == 0 ||
                   strcmp(k->name, "on_crash") == 0) {
            int a = domain_lifecycle_action_from_string(txt);
            if (a < 0 || (a >= DOMAIN_ACTION_COREDUMP_DESTROY && k->name[3] != 'c'))
                return verr_set(c->err, EINVAL, "invalid value '%s' in element '%s'", txt, k->name);
            if (k->name[3] == 'p')
                def->on_poweroff = a;
            else if (k->name[3] == 'r')
                def->on_reboot = a;
            else
                def->on_crash = a;
        } else if (strcmp(k->name, "seclabel") == 0) {
            push_node(&def->seclabels, &def->nseclabels, xnode_copy(k));
        } else if (strcmp(k->name, "devices") == 0) {
            if ((r = parse_devices(c, k, def, ctl_index_given)))
                return r;
        } else if (top_slot(def, k->name)) {
            struct xnode **slot = top_slot(def, k->name);
            xnode_free(*slot);
            *slot = xnode_copy(k);
            if ((r = prune_kept(c, *slot, k->name)) < 0)
                return r;
        } else if (in_list(k->name, kept_top)) {
            push_node(&def->kept, &def->nkept, xnode_copy(k));
        } else if ((r = unknown(c, "element", k->name, "domain")) < 0) {
            return r;
        }
    }
    if (vcpus_node &&
        (r = domain_vcpus_parse(vcpus_node, def, c->flags & DOMAIN_PARSE_VALIDATE, c->err)) < 0)
        return r;
    if (!have_name)
        return verr_set(c->err, EINVAL, "missing element 'name' in 'domain'");
    if ((r = domain_name_check(def->name, c->flags, c->err)))
        return r;
    if (!have_uuid && (r = domain_uuid_generate(def->uuid)) < 0)
        return verr_errno(c->err, -r, "cannot generate a UUID for domain '%s'", def->name);
    if (!have_memory)
        return verr_set(c->err, EINVAL, "missing element 'memory' in domain '%s'", def->name);
    if (!have_os || !def->os_type)
        return verr_set(c->err, EINVAL, "missing element 'os/type' in domain '%s'", def->name);
    /* Controllers without an index get the next free one of their type, as in libvirt. */
    for (size_t i = 0; i < def->ncontrollers; i++) {
        if (ctl_index_given[i])
            continue;
        const struct domain_controller *ci = &def->controllers[i];
        /* Index 0 of type pci is the root bus (added later when not written). */
        unsigned next = ci->type == DOMAIN_CONTROLLER_PCI && ci->model &&
                                strcmp(ci->model, "pci-root") != 0 &&
                                strcmp(ci->model, "pcie-root") != 0
                            ? 1
                            : 0;
        for (size_t j = 0; j < def->ncontrollers; j++)
            if (j != i && def->controllers[j].type == def->controllers[i].type &&
                (ctl_index_given[j] || j < i) && def->controllers[j].index >= next)
                next = def->controllers[j].index + 1;
        /* A USB companion (<master startport>) shares its EHCI's index: the USB controller
         * before it (virt-install writes an ich9 set so, without indexes). */
        bool companion = false;
        for (size_t k = 0; ci->type == DOMAIN_CONTROLLER_USB && k < ci->nextra; k++)
            companion |= strcmp(ci->extra[k]->name, "master") == 0;
        for (size_t j = i; companion && j-- > 0;)
            if (def->controllers[j].type == DOMAIN_CONTROLLER_USB) {
                next = def->controllers[j].index;
                break;
            }
        def->controllers[i].index = next;
    }
    return 0;
}

int domain_def_parse_string(const char *xml, unsigned flags, struct domain_def **out,
                            struct verr *err)
{
    struct pctx c = {.flags = flags, .err = err};
    *out = NULL;
    if (!xml)
        return verr_set(err, EINVAL, "no domain XML given");
    size_t len = strlen(xml);
    if (len > DOMAIN_XML_MAX)
        return verr_set(err, EFBIG, "domain XML is too large (%zu bytes, at most %u)", len,
                        DOMAIN_XML_MAX);
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, len, "domain XML", &root, err);
    if (r < 0)
        return r;
    struct domain_def *def = xcalloc(1, sizeof(*def));
    r = parse_domain(&c, root, def);
    xnode_free(root);
    if (r == 0 && (flags & DOMAIN_PARSE_VALIDATE)) {
        /* Vireo's own checks name the problem best; the schema catches the rest. */
        struct verr verr;
        verr_clear(&verr);
        int v = xnode_validate_rng(xml, len, DOMAIN_RNG_PATH, &verr);
        if (v == -EINVAL)
            r = verr_set(err, EINVAL, "%s", verr.msg);
        /* -ENOENT: schema not installed; Vireo's own checks have run. */
    }
    if (r == 0)
        r = domain_def_post_parse(def, flags, err);
    if (r < 0) {
        domain_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

int domain_def_parse_file(const char *path, unsigned flags, struct domain_def **out,
                          struct verr *err)
{
    struct buf b = BUF_INIT;
    *out = NULL;
    int r = file_read_all(path, DOMAIN_XML_MAX, &b, err);
    if (r < 0) {
        buf_free(&b);
        return r;
    }
    if (memchr(buf_cstr(&b), '\0', b.len)) {
        buf_free(&b);
        return verr_set(err, EINVAL, "cannot parse '%s': file contains a NUL byte", path);
    }
    r = domain_def_parse_string(buf_cstr(&b), flags, out, err);
    buf_free(&b);
    if (r < 0)
        verr_prefix(err, "%s", path);
    return r;
}
