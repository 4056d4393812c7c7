/*
 * device.c - the device model (see device.h): the type table, generic
 * property parsing into each type's option struct, the checks that need
 * every device (ids, buses, backends), -device help, and the VM's device
 * list. Error words are QEMU 7.2's where it has them (checked against
 * qemu-system-x86_64 -M microvm,pcie=on).
 */
#include "vmm/dev/device.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/backends.h"
#include "vmm/vm.h"

#include <ctype.h>
#include <json-c/json.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated from src/vmm/meson.build's device list (device-table.c.in). */
extern const struct dev_type *const *const dev_type_lists[];

const struct dev_type *dev_type_at(unsigned i)
{
    for (const struct dev_type *const *const *l = dev_type_lists; *l; l++)
        for (const struct dev_type *const *t = *l; *t; t++)
            if (i-- == 0)
                return *t;
    return NULL;
}

const struct dev_type *dev_type_find(const char *name)
{
    const struct dev_type *t;
    for (unsigned i = 0; (t = dev_type_at(i)); i++)
        if (str_eq(t->name, name) || (t->alias && str_eq(t->alias, name)))
            return t;
    return NULL;
}

const char *dev_bus_name(enum dev_bus bus)
{
    switch (bus) {
    case DEV_BUS_SYSTEM:
        return "System";
    case DEV_BUS_ISA:
        return "ISA";
    case DEV_BUS_PCI:
        return "PCI";
    case DEV_BUS_VIRTIO_SERIAL:
        return "virtio-serial-bus";
    case DEV_BUS_SCSI:
        return "SCSI";
    case DEV_BUS_USB:
        return "usb-bus";
    case DEV_BUS_IDE:
        return "IDE";
    }
    return "?";
}

/* --- properties --------------------------------------------------------------------------- */

/* The PCI properties every PCI device has (stored in the config, not the option struct). */
const struct dev_prop dev_pci_props[] = {
    {"addr", DEV_PROP_U32, 0, "-1", 0, 0, false,
     "Slot and optional function number, example: 06.0 or 06"},
    {"multifunction", DEV_PROP_BOOL, 0, "off", 0, 0, false, "on/off"},
    DEV_PROP_END,
};

const struct dev_prop dev_boot_props[] = {
    {"bootindex", DEV_PROP_U32, 0, "-1", 0, 0, false, NULL},
    DEV_PROP_END,
};

const char *dev_prop_type_name(const struct dev_prop *p)
{
    if (p == &dev_pci_props[0] || p == &dev_boot_props[0])
        return "int32";
    switch (p->type) {
    case DEV_PROP_STR:
    case DEV_PROP_MAC:
    case DEV_PROP_DRIVE:
    case DEV_PROP_NETDEV:
    case DEV_PROP_CHARDEV:
        return "str";
    case DEV_PROP_BOOL:
        return "bool";
    case DEV_PROP_U8:
        return "uint8";
    case DEV_PROP_U16:
        return "uint16";
    case DEV_PROP_U32:
        return "uint32";
    case DEV_PROP_U64:
        return "uint64";
    }
    return "?";
}

static uint64_t type_max(enum dev_prop_type t)
{
    return t == DEV_PROP_U8    ? UINT8_MAX
           : t == DEV_PROP_U16 ? UINT16_MAX
           : t == DEV_PROP_U32 ? UINT32_MAX
                               : UINT64_MAX;
}

static int parse_bool(const char *v, bool *out)
{
    if (!v || str_eq(v, "on") || str_eq(v, "true") || str_eq(v, "yes")) {
        *out = true;
        return 0;
    }
    if (str_eq(v, "off") || str_eq(v, "false") || str_eq(v, "no")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

static int parse_mac(const char *v, uint8_t mac[6])
{
    unsigned b[6];
    char end;
    if (strlen(v) != 17 ||
        sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return -EINVAL;
    for (unsigned i = 0; i < 17; i++)
        if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char)v[i]))
            return -EINVAL;
    if (b[0] & 1) /* multicast */
        return -EINVAL;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

/* Parses v into field (the prop's storage). Errors name the property. A default may lie
 * outside the range a user may give (nr's "not set", host_mtu's "off"). */
static int prop_parse(const struct dev_prop *p, void *field, const char *v, bool is_default,
                      struct verr *err)
{
    switch (p->type) {
    case DEV_PROP_STR: {
        size_t len = strlen(v);
        if (!is_default && ((p->min && len < p->min) || (p->max && len > p->max)))
            return verr_set(err, EINVAL, "%s= must have %" PRIu64 " to %" PRIu64 " characters",
                            p->name, p->min, p->max);
        char **s = field;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case DEV_PROP_BOOL:
        if (parse_bool(v, field) < 0)
            return verr_set(err, EINVAL, "Parameter '%s' expects 'on' or 'off'", p->name);
        return 0;
    case DEV_PROP_U8:
    case DEV_PROP_U16:
    case DEV_PROP_U32:
    case DEV_PROP_U64: {
        uint64_t n, max = p->max ? p->max : type_max(p->type);
        if (!v || str_to_u64(v, 0, &n) < 0 || n > type_max(p->type) ||
            (!is_default && (n < p->min || n > max)))
            return verr_set(err, EINVAL, "%s=%s (%" PRIu64 " to %" PRIu64 ")", p->name, v ? v : "",
                            p->min, max);
        if (p->type == DEV_PROP_U8)
            *(uint8_t *)field = (uint8_t)n;
        else if (p->type == DEV_PROP_U16)
            *(uint16_t *)field = (uint16_t)n;
        else if (p->type == DEV_PROP_U32)
            *(uint32_t *)field = (uint32_t)n;
        else
            *(uint64_t *)field = n;
        return 0;
    }
    case DEV_PROP_MAC: {
        struct dev_mac *m = field;
        if (!v || parse_mac(v, m->a) < 0)
            return verr_set(err, EINVAL, "%s=%s is not a unicast xx:xx:xx:xx:xx:xx", p->name,
                            v ? v : "");
        m->set = true;
        return 0;
    }
    case DEV_PROP_DRIVE:
    case DEV_PROP_NETDEV:
    case DEV_PROP_CHARDEV: {
        struct dev_ref *r = field;
        free(r->id);
        r->id = xstrdup(v ? v : "");
        r->index = -1;
        return 0;
    }
    }
    return -EINVAL;
}

void *dev_prop_field(const struct dev_config *c, const struct dev_prop *p)
{
    return (char *)c->opts + p->offset;
}

static const struct dev_prop *find_prop(const struct dev_type *t, const char *name)
{
    for (const struct dev_prop *p = t->props; p && p->name; p++)
        if (str_eq(p->name, name))
            return p;
    return NULL;
}

struct dev_config *dev_config_new(const struct dev_type *t, const char *what)
{
    struct dev_config *c = xcalloc(1, sizeof(*c));
    c->type = t;
    c->what = what ? xstrdup(what) : NULL;
    c->pci = PCI_PLACE_ANY;
    c->bootindex = -1;
    c->opts = xcalloc(1, t->opts_size ? t->opts_size : 1);
    for (const struct dev_prop *p = t->props; p && p->name; p++) {
        if (p->type >= DEV_PROP_DRIVE)
            ((struct dev_ref *)dev_prop_field(c, p))->index = -1;
        struct verr e = {0};
        if (p->def && prop_parse(p, dev_prop_field(c, p), p->def, true, &e) < 0)
            log_error("%s: bad default: %s", t->name, verr_msg(&e)); /* a table bug */
    }
    return c;
}

void dev_config_free(struct dev_config *c)
{
    if (!c)
        return;
    for (const struct dev_prop *p = c->type->props; p && p->name; p++) {
        if (p->type == DEV_PROP_STR)
            free(*(char **)dev_prop_field(c, p));
        else if (p->type >= DEV_PROP_DRIVE)
            free(((struct dev_ref *)dev_prop_field(c, p))->id);
    }
    free(c->opts);
    free(c->id);
    free(c->bus);
    free(c->what);
    free(c);
}

/* QEMU's identifiers: letters, digits, '-', '.', '_', starting with a letter. */
static bool is_identifier(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
            return false;
    return true;
}

int dev_config_set(struct dev_config *c, const char *key, const char *value, struct verr *err)
{
    const struct dev_type *t = c->type;
    if (str_eq(key, "id")) {
        if (!value || !is_identifier(value))
            return verr_set(err, EINVAL, "Parameter 'id' expects an identifier");
        free(c->id);
        c->id = xstrdup(value);
        c->pci.id = c->id;
        return 0;
    }
    if (str_eq(key, "bus")) {
        free(c->bus);
        c->bus = xstrdup(value ? value : "");
        return 0;
    }
    if (t->bus == DEV_BUS_PCI && str_eq(key, "addr")) {
        if (!value || pci_parse_devfn(value, &c->pci.devfn) < 0)
            return verr_set(err, EINVAL, "Property '%s.addr' doesn't take value '%s'", t->name,
                            value ? value : "");
        return 0;
    }
    if (t->bus == DEV_BUS_PCI && str_eq(key, "multifunction"))
        return prop_parse(&dev_pci_props[1], &c->pci.multifunction, value, false, err);
    if (t->fw_name && str_eq(key, "bootindex")) {
        int64_t v;
        if (!value || str_to_i64(value, 10, &v) < 0 || v < INT32_MIN || v > INT32_MAX)
            return verr_set(err, EINVAL, "Parameter 'bootindex' expects int32_t");
        c->bootindex = (int32_t)v;
        return 0;
    }
    const struct dev_prop *p = find_prop(t, key);
    if (!p)
        return verr_set(err, EINVAL, "Property '%s.%s' not found", t->name, key);
    return prop_parse(p, dev_prop_field(c, p), value ? value : "on", false, err);
}

char *dev_config_get(const struct dev_config *c, const char *key)
{
    const struct dev_type *t = c->type;
    if (str_eq(key, "id"))
        return c->id ? xstrdup(c->id) : NULL;
    if (str_eq(key, "bus"))
        return c->bus ? xstrdup(c->bus) : NULL;
    if (t->bus == DEV_BUS_PCI && str_eq(key, "addr"))
        return c->pci.devfn < 0 ? xstrdup("-1")
                                : xasprintf("%x.%x", (unsigned)c->pci.devfn / PCI_NR_FUNCS,
                                            (unsigned)c->pci.devfn % PCI_NR_FUNCS);
    if (t->bus == DEV_BUS_PCI && str_eq(key, "multifunction"))
        return xstrdup(c->pci.multifunction ? "on" : "off");
    if (t->fw_name && str_eq(key, "bootindex"))
        return xasprintf("%d", (int)c->bootindex);
    const struct dev_prop *p = find_prop(t, key);
    if (!p)
        return NULL;
    const void *f = dev_prop_field(c, p);
    switch (p->type) {
    case DEV_PROP_STR:
        return *(char *const *)f ? xstrdup(*(char *const *)f) : NULL;
    case DEV_PROP_BOOL:
        return xstrdup(*(const bool *)f ? "on" : "off");
    case DEV_PROP_U8:
        return xasprintf("%u", (unsigned)*(const uint8_t *)f);
    case DEV_PROP_U16:
        return xasprintf("%u", (unsigned)*(const uint16_t *)f);
    case DEV_PROP_U32:
        return xasprintf("%" PRIu32, *(const uint32_t *)f);
    case DEV_PROP_U64:
        return xasprintf("%" PRIu64, *(const uint64_t *)f);
    case DEV_PROP_MAC: {
        const uint8_t *a = ((const struct dev_mac *)f)->a;
        return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    case DEV_PROP_DRIVE:
    case DEV_PROP_NETDEV:
    case DEV_PROP_CHARDEV:
        return ((const struct dev_ref *)f)->id ? xstrdup(((const struct dev_ref *)f)->id) : NULL;
    }
    return NULL;
}

int dev_config_check(struct dev_config *c, struct verr *err)
{
    for (const struct dev_prop *p = c->type->props; p && p->name; p++) {
        if (!p->required)
            continue;
        bool given = p->type >= DEV_PROP_DRIVE
                         ? ((struct dev_ref *)dev_prop_field(c, p))->id != NULL
                     : p->type == DEV_PROP_STR ? *(char **)dev_prop_field(c, p) != NULL
                                               : true;
        if (!given)
            return verr_set(err, EINVAL, "%s= is required", p->name);
    }
    return c->type->check ? c->type->check(c, err) : 0;
}

/* --- the checks that need every device ---------------------------------------------------- */

static int fail(struct dev_config *c, struct verr *err, int r)
{
    return c->what ? verr_prefix(err, "%s", c->what) : r;
}

/* IDE buses: a controller's ports are its buses ID.0 to ID.5 (AHCI_PORTS), and one without
 * an id names them ide.N (QEMU's name from the bus type). */
#define IDE_BUSES 6

/* Whether name is "PREFIX.N" with N < IDE_BUSES; *index gets N. */
static bool ide_bus_name(const char *name, const char *prefix, unsigned *index)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) || name[pl] != '.' || name[pl + 1] < '0' ||
        name[pl + 1] >= '0' + IDE_BUSES || name[pl + 2])
        return false;
    *index = (unsigned)(name[pl + 1] - '0');
    return true;
}

/* A bus= name other than the device's own kind: which kind it names, or -1 (no such bus). */
static int bus_kind_of(struct dev_config *const *all, unsigned n, const char *name,
                       struct dev_config **provider, unsigned *index)
{
    /* pci.0 is QEMU's name for pc's root bus (libvirt writes bus=pci.0 there); vireo-vmm
     * gives every machine's root bus the one name pcie.0 and takes both. */
    if (str_eq(name, PCI_ROOT_BUS_NAME) || str_eq(name, "pci.0"))
        return DEV_BUS_PCI;
    if (str_eq(name, "isa.0"))
        return DEV_BUS_ISA;
    size_t len = strlen(name);
    for (unsigned i = 0; i < n; i++) {
        struct dev_config *p = all[i];
        if (p->type->child_bus == DEV_BUS_PCI && p->id && str_eq(name, p->id)) {
            *provider = p; /* a PCI bridge's bus is named by its id, as QEMU's */
            return DEV_BUS_PCI;
        }
        if (p->type->child_bus == DEV_BUS_IDE) {
            if (!ide_bus_name(name, p->id ? p->id : "ide", index))
                continue;
            *provider = p;
            return DEV_BUS_IDE;
        }
        if (p->type->child_bus == DEV_BUS_SYSTEM || !p->id || len != strlen(p->id) + 2 ||
            strncmp(name, p->id, len - 2) || strcmp(name + len - 2, ".0"))
            continue;
        *provider = p;
        return (int)p->type->child_bus;
    }
    return -1;
}

static int resolve_bus(struct dev_config *c, struct dev_config *const *all, unsigned n,
                       struct verr *err)
{
    const struct dev_type *t = c->type;
    struct dev_config *provider = NULL;
    if (!c->bus) {
        if (t->bus != DEV_BUS_VIRTIO_SERIAL && t->bus != DEV_BUS_SCSI && t->bus != DEV_BUS_USB &&
            t->bus != DEV_BUS_IDE)
            return 0;
        for (unsigned i = 0; i < n && !provider; i++)
            if (all[i]->type->child_bus == t->bus)
                provider = all[i];
        if (!provider)
            return verr_set(err, ENOENT, "No '%s' bus found for device '%s'", dev_bus_name(t->bus),
                            t->name);
        c->parent = provider;
        return 0;
    }
    unsigned index = 0;
    int kind = bus_kind_of(all, n, c->bus, &provider, &index);
    if (kind < 0 || (t->bus == DEV_BUS_SYSTEM))
        return verr_set(err, ENOENT, "Bus '%s' not found", c->bus);
    if (kind != (int)t->bus)
        return verr_set(err, EINVAL, "Device '%s' can't go on %s bus", t->name,
                        kind == DEV_BUS_PCI ? "PCIE" : dev_bus_name((enum dev_bus)kind));
    c->parent = provider;
    c->bus_index = index;
    c->bus_index_given = kind == DEV_BUS_IDE;
    return 0;
}

static int resolve_refs(struct dev_config *c, struct vm_backends *be, struct verr *err)
{
    for (const struct dev_prop *p = c->type->props; p && p->name; p++) {
        if (p->type < DEV_PROP_DRIVE)
            continue;
        struct dev_ref *r = dev_prop_field(c, p);
        if (!r->id)
            continue;
        enum backend_kind k = p->type == DEV_PROP_DRIVE    ? BACKEND_DRIVE
                              : p->type == DEV_PROP_NETDEV ? BACKEND_NETDEV
                                                           : BACKEND_CHARDEV;
        r->index = vm_backends_find(be, k, r->id);
        if (r->index < 0)
            return verr_set(err, ENOENT, "no -%s with id=%s", backend_kind_name(k), r->id);
        if (vm_backends_take(be, k, r->index))
            return verr_set(err, EBUSY, "%s '%s' is already in use", backend_kind_name(k), r->id);
    }
    return 0;
}

int dev_configs_finish(struct dev_config *const *all, unsigned n, struct vm_backends *be,
                       struct verr *err)
{
    int r;
    for (unsigned i = 0; i < n; i++) {
        struct dev_config *c = all[i];
        for (unsigned k = 0; k < i; k++) {
            if (c->id && all[k]->id && str_eq(c->id, all[k]->id))
                return fail(c, err, verr_set(err, EEXIST, "Duplicate ID '%s' for device", c->id));
            if (c->type->singleton && all[k]->type == c->type)
                return fail(
                    c, err,
                    verr_set(err, EEXIST, "only one %s device is supported", c->type->name));
        }
        if ((r = resolve_bus(c, all, n, err)) < 0 || (r = resolve_refs(c, be, err)) < 0)
            return fail(c, err, r);
        for (unsigned k = 0; c->bootindex >= 0 && k < i; k++)
            if (all[k]->bootindex == c->bootindex)
                return fail(c, err,
                            verr_set(err, EEXIST, "The bootindex %d has already been used",
                                     (int)c->bootindex));
    }
    /* A type's finish names what it refuses itself (a bus numbering its ports names the port). */
    for (unsigned i = 0; i < n; i++)
        if (all[i]->type->finish && (r = all[i]->type->finish(all[i], all, n, err)) < 0)
            return r;
    return 0;
}

/* --- help --------------------------------------------------------------------------------- */

static const char *const category_names[DEV_CAT_COUNT] = {
    "Controller/Bridge/Hub",
    "USB",
    "Storage",
    "Network",
    "Input",
    "Display",
    "Sound",
    "Misc",
    "CPU",
    "Watchdog",
    "Uncategorized",
};

char *dev_help_types(void)
{
    struct buf b = BUF_INIT;
    for (int cat = 0; cat < DEV_CAT_COUNT; cat++) {
        buf_printf(&b, "%s devices:\n", category_names[cat]);
        const struct dev_type *t;
        for (unsigned i = 0; (t = dev_type_at(i)); i++) {
            if (!t->user_creatable || (int)t->category != cat)
                continue;
            buf_printf(&b, "name \"%s\"", t->name);
            if (t->bus != DEV_BUS_SYSTEM) /* as QEMU: a device without a bus names none */
                buf_printf(&b, ", bus %s", dev_bus_name(t->bus));
            if (t->alias)
                buf_printf(&b, ", alias \"%s\"", t->alias);
            if (t->desc)
                buf_printf(&b, ", desc \"%s\"", t->desc);
            buf_append_str(&b, "\n");
        }
        buf_append_str(&b, "\n");
    }
    return buf_detach(&b, NULL);
}

/* QEMU's default-value text: JSON (numbers bare, booleans true/false, strings quoted). */
static void default_text(struct buf *b, const struct dev_prop *p)
{
    if (p->type == DEV_PROP_BOOL) {
        bool v = false;
        parse_bool(p->def, &v);
        buf_append_str(b, v ? "true" : "false");
    } else if (p->type == DEV_PROP_STR || p->type == DEV_PROP_MAC) {
        buf_printf(b, "\"%s\"", p->def);
    } else {
        buf_append_str(b, p->def);
    }
}

static int cmp_prop(const void *a, const void *b)
{
    return strcmp((*(const struct dev_prop *const *)a)->name,
                  (*(const struct dev_prop *const *)b)->name);
}

char *dev_help_props(const struct dev_type *t)
{
    const struct dev_prop *list[64];
    unsigned n = 0;
    if (t->bus == DEV_BUS_PCI)
        for (const struct dev_prop *p = dev_pci_props; p->name; p++)
            list[n++] = p;
    if (t->fw_name)
        list[n++] = &dev_boot_props[0];
    for (const struct dev_prop *p = t->props; p && p->name && n < 64; p++)
        list[n++] = p;
    qsort(list, n, sizeof(list[0]), cmp_prop);
    struct buf b = BUF_INIT;
    if (n == 0) {
        buf_printf(&b, "There are no options for %s.\n", t->name);
        return buf_detach(&b, NULL);
    }
    buf_printf(&b, "%s options:\n", t->name);
    for (unsigned i = 0; i < n; i++) {
        const struct dev_prop *p = list[i];
        size_t start = b.len;
        buf_printf(&b, "  %s=<%s>", p->name, dev_prop_type_name(p));
        if (p->help || p->def) {
            /* QEMU's layout: the name padded to 24 columns, then " - ". */
            size_t len = b.len - start;
            if (len < 24)
                buf_printf(&b, "%*s", (int)(24 - len), "");
            buf_append_str(&b, " - ");
            if (p->help)
                buf_append_str(&b, p->help);
            if (p->def) {
                buf_append_str(&b, " (default: ");
                default_text(&b, p);
                buf_append_str(&b, ")");
            }
        }
        buf_append_str(&b, "\n");
    }
    return buf_detach(&b, NULL);
}

char *dev_type_names(void)
{
    struct buf b = BUF_INIT;
    const struct dev_type *t;
    for (unsigned i = 0; (t = dev_type_at(i)); i++)
        if (t->user_creatable)
            buf_printf(&b, "%s%s", b.len ? ", " : "", t->name);
    return buf_detach(&b, NULL);
}

/* --- the VM's devices --------------------------------------------------------------------- */

struct device *dev_find_config(struct vm *vm, const struct dev_config *cfg)
{
    for (unsigned i = 0; i < vm->nr_devices; i++)
        if (vm->devices[i]->cfg == cfg)
            return vm->devices[i];
    return NULL;
}

/* The device whose PCI bus c goes on (a root port), or NULL for pcie.0 and other buses. */
static struct device *pci_owner(struct vm *vm, const struct dev_config *c)
{
    if (!c->parent || c->parent->type->child_bus != DEV_BUS_PCI)
        return NULL;
    return dev_find_config(vm, c->parent);
}

/* Makes one device from c, behind its bus owner when it has one; NULL on failure. */
static struct device *create_one(struct vm *vm, struct dev_config *c, struct device *owner,
                                 struct verr *err)
{
    if (owner)
        c->pci.behind = owner->pci;
    struct device *d = xcalloc(1, sizeof(*d));
    d->type = c->type;
    d->cfg = c;
    d->vm = vm;
    if (d->type->create(d, err) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

int dev_create_all(struct vm *vm, struct dev_config *const *cfgs, unsigned n, struct verr *err)
{
    vm->devices_cap = n ? n : 1;
    vm->devices = xcalloc(vm->devices_cap, sizeof(*vm->devices));
    for (unsigned i = 0; i < n; i++) {
        struct device *owner = pci_owner(vm, cfgs[i]);
        if (cfgs[i]->parent && cfgs[i]->parent->type->child_bus == DEV_BUS_PCI && !owner)
            return verr_set(err, EINVAL, "%s: its bus '%s' is created after it",
                            cfgs[i]->what ? cfgs[i]->what : cfgs[i]->type->name, cfgs[i]->bus);
        struct device *d = create_one(vm, cfgs[i], owner, err);
        if (!d)
            return cfgs[i]->what ? verr_prefix(err, "%s", cfgs[i]->what) : -EINVAL;
        vm->devices[vm->nr_devices++] = d;
        if (owner && owner->type->plugged)
            owner->type->plugged(owner, d, false);
    }
    return 0;
}

/* --- hot-plug ----------------------------------------------------------------------------- */

static void put_refs(struct vm *vm, const struct dev_config *c)
{
    for (const struct dev_prop *p = c->type->props; p && p->name; p++) {
        if (p->type < DEV_PROP_DRIVE)
            continue;
        const struct dev_ref *r = dev_prop_field(c, p);
        if (r->id && r->index >= 0)
            vm_backends_put(vm->backends,
                            p->type == DEV_PROP_DRIVE    ? BACKEND_DRIVE
                            : p->type == DEV_PROP_NETDEV ? BACKEND_NETDEV
                                                         : BACKEND_CHARDEV,
                            r->index);
    }
}

/* Marks every backend reference unresolved (so a failed add releases nothing it did not take). */
static void clear_refs(struct dev_config *c)
{
    for (const struct dev_prop *p = c->type->props; p && p->name; p++)
        if (p->type >= DEV_PROP_DRIVE)
            ((struct dev_ref *)dev_prop_field(c, p))->index = -1;
}

int dev_hotplug_add(struct vm *vm, struct dev_config *c, struct verr *err)
{
    c->hotplugged = true;
    clear_refs(c);
    const struct dev_type *t = c->type;
    /* Every config the VM has, then this one: what resolve_bus and a type's finish look at. */
    unsigned n = vm->nr_devices;
    struct dev_config **all = xcalloc(n + 1, sizeof(*all));
    for (unsigned i = 0; i < n; i++)
        all[i] = (struct dev_config *)vm->devices[i]->cfg;
    all[n] = c;
    int r = 0;
    struct device *owner = NULL, *d = NULL;
    for (unsigned i = 0; i < n && r == 0; i++)
        if (c->id && all[i]->id && str_eq(c->id, all[i]->id))
            r = verr_set(err, EEXIST, "Duplicate device ID '%s'", c->id);
    bool scsi = t->bus == DEV_BUS_SCSI; /* scsi-hd/scsi-cd onto a controller's bus */
    /* A system-bus type with its own hot-plug (pc-dimm into the machine's memory slots): it
     * plugs itself in create (c->hotplugged) and is its own owner for device_del. */
    bool self = t->bus == DEV_BUS_SYSTEM && t->hotplug_check && t->unplug;
    if (r == 0 && self && (r = t->hotplug_check(NULL, err)) == 0)
        r = t->finish ? t->finish(c, all, n + 1, err) : 0;
    if (self) {
        free(all);
        if (r == 0) {
            vm_quiesce(vm);
            d = create_one(vm, c, NULL, err);
            if (d) {
                if (vm->nr_devices == vm->devices_cap) {
                    vm->devices_cap *= 2;
                    vm->devices = xrealloc(vm->devices, vm->devices_cap * sizeof(*vm->devices));
                }
                vm->devices[vm->nr_devices++] = d;
            }
            vm_unquiesce(vm);
            r = d ? 0 : -EINVAL;
        }
        if (r < 0) {
            dev_config_free(c);
            return r;
        }
        log_info("hot-plugged %s%s%s", t->name, c->id ? " id=" : "", c->id ? c->id : "");
        return 0;
    }
    if (r == 0 && t->bus != DEV_BUS_PCI && !scsi)
        r = verr_set(err, EINVAL, "Device '%s' can not be hotplugged on this machine", t->name);
    if (r == 0 && t->child_bus != DEV_BUS_SYSTEM)
        r = verr_set(err, EINVAL, "Device '%s' does not support hotplugging", t->name);
    if (r == 0 && !scsi && (!c->bus || str_eq(c->bus, PCI_ROOT_BUS_NAME)))
        r = verr_set(err, EINVAL, "Bus '%s' does not support hotplugging", PCI_ROOT_BUS_NAME);
    if (r == 0)
        r = resolve_bus(c, all, n + 1, err);
    if (r == 0 && scsi && !c->parent)
        r = verr_set(err, EINVAL, "No 'SCSI' bus found for device '%s'", t->name);
    if (r == 0) {
        owner = scsi ? dev_find_config(vm, c->parent) : pci_owner(vm, c);
        if (!owner || !owner->type->plugged || !owner->type->hotplug_check)
            r = verr_set(err, EINVAL, "Bus '%s' does not support hotplugging",
                         c->bus ? c->bus : dev_bus_name(t->bus));
        else
            r = owner->type->hotplug_check(owner, err);
    }
    if (r == 0)
        r = resolve_refs(c, vm->backends, err);
    if (r == 0 && t->finish)
        r = t->finish(c, all, n + 1, err);
    free(all);
    if (r == 0) {
        vm_quiesce(vm);
        d = create_one(vm, c, scsi ? NULL : owner, err);
        if (d) {
            if (vm->nr_devices == vm->devices_cap) {
                vm->devices_cap *= 2;
                vm->devices = xrealloc(vm->devices, vm->devices_cap * sizeof(*vm->devices));
            }
            vm->devices[vm->nr_devices++] = d;
            owner->type->plugged(owner, d, true);
        }
        vm_unquiesce(vm);
        r = d ? 0 : -EINVAL;
    }
    if (r < 0) {
        put_refs(vm, c);
        dev_config_free(c);
        return r;
    }
    log_info("hot-plugged %s%s%s behind %s", t->name, c->id ? " id=" : "", c->id ? c->id : "",
             c->bus ? c->bus : dev_bus_name(t->bus));
    return 0;
}

int dev_hotplug_del(struct vm *vm, struct device *dev, struct verr *err)
{
    if (dev->type->bus == DEV_BUS_SYSTEM && dev->type->hotplug_check && dev->type->unplug)
        return dev->type->unplug(dev, dev, err); /* its own owner (dev_hotplug_add) */
    struct device *owner = dev->type->bus == DEV_BUS_SCSI && dev->cfg->parent
                               ? dev_find_config(vm, dev->cfg->parent)
                               : pci_owner(vm, dev->cfg);
    if (!owner || !owner->type->unplug)
        return verr_set(err, EINVAL, "Bus '%s' does not support hotplugging",
                        dev->cfg->bus ? dev->cfg->bus : dev_bus_name(dev->type->bus));
    return owner->type->unplug(owner, dev, err);
}

void dev_hotplug_remove(struct device *dev)
{
    struct vm *vm = dev->vm;
    unsigned i;
    for (i = 0; i < vm->nr_devices && vm->devices[i] != dev; i++)
        ;
    if (i == vm->nr_devices)
        return; /* already gone */
    vm_quiesce(vm);
    if (dev->pci)
        pci_dev_unplug(dev->pci);
    memmove(&vm->devices[i], &vm->devices[i + 1], (vm->nr_devices - i - 1) * sizeof(dev));
    vm->nr_devices--;
    if (dev->type->free)
        dev->type->free(dev);
    vm_unquiesce(vm);
    struct dev_config *c = (struct dev_config *)dev->cfg;
    put_refs(vm, c);
    struct json_object *data = json_object_new_object();
    if (c->id) {
        char path[256];
        snprintf(path, sizeof(path), "/machine/peripheral/%s", c->id);
        json_object_object_add(data, "device", json_object_new_string(c->id));
        json_object_object_add(data, "path", json_object_new_string(path));
    } else {
        json_object_object_add(data, "path", json_object_new_string("/machine/peripheral-anon"));
    }
    log_info("hot-unplugged %s%s%s", c->type->name, c->id ? " id=" : "", c->id ? c->id : "");
    if (c->id && !strncmp(c->type->name, "virtio-", 7)) {
        /* QEMU first reports the virtio device's backend child (a path, no device). */
        struct json_object *backend = json_object_new_object();
        char path[256];
        snprintf(path, sizeof(path), "/machine/peripheral/%s/virtio-backend", c->id);
        json_object_object_add(backend, "path", json_object_new_string(path));
        vm_qmp_event_main(vm, "DEVICE_DELETED", backend);
    }
    vm_qmp_event_main(vm, "DEVICE_DELETED", data);
    if (c->hotplugged)
        dev_config_free(c);
    free(dev);
}

void dev_reset_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nr_devices; i++)
        if (vm->devices[i]->type->reset)
            vm->devices[i]->type->reset(vm->devices[i]);
}

void dev_free_all(struct vm *vm)
{
    for (unsigned i = vm->nr_devices; i-- > 0;) {
        struct device *d = vm->devices[i];
        if (d->type->free)
            d->type->free(d);
        if (d->cfg->hotplugged)
            dev_config_free((struct dev_config *)d->cfg);
        free(d);
    }
    free(vm->devices);
    vm->devices = NULL;
    vm->nr_devices = 0;
}

struct device *dev_find_type(struct vm *vm, const struct dev_type *t, unsigned n)
{
    for (unsigned i = 0; i < vm->nr_devices; i++)
        if (vm->devices[i]->type == t && n-- == 0)
            return vm->devices[i];
    return NULL;
}

struct device *dev_find_id(struct vm *vm, const char *id)
{
    for (unsigned i = 0; i < vm->nr_devices; i++)
        if (vm->devices[i]->cfg->id && str_eq(vm->devices[i]->cfg->id, id))
            return vm->devices[i];
    return NULL;
}

void dev_fw_path(const struct device *dev, char *out, size_t size)
{
    out[0] = '\0';
    if (dev->type->fw_name && dev->type->bus == DEV_BUS_IDE && dev->cfg->parent) {
        /* A drive on an AHCI port: the controller's node is named for its PCI class (mass
         * storage, SATA), the port is the drive@ unit, as QEMU writes them. */
        const struct device *ctrl = dev_find_config(dev->vm, dev->cfg->parent);
        if (!ctrl || !ctrl->pci)
            return;
        char fn[16] = "";
        if (ctrl->pci->fn)
            snprintf(fn, sizeof(fn), ",%x", ctrl->pci->fn);
        if (ctrl->type->child_bus == DEV_BUS_IDE && str_eq(ctrl->type->name, "piix3-ide")) {
            /* A PIIX IDE drive: ide@1,1/drive@BUS/disk@UNIT, as QEMU writes it. */
            char *unit = dev_config_get(dev->cfg, "unit");
            unsigned u = unit && strcmp(unit, "1") == 0 ? 1 : 0;
            free(unit);
            snprintf(out, size, "/pci@i0cf8/ide@%x%s/%s@%x/disk@%x", ctrl->pci->slot, fn,
                     dev->type->fw_name, dev->cfg->bus_index, u);
            return;
        }
        snprintf(out, size, "/pci@i0cf8/sata@%x%s/%s@%x/%s", ctrl->pci->slot, fn,
                 dev->type->fw_name, dev->cfg->bus_index, dev->type->fw_child);
        return;
    }
    if (!dev->type->fw_name || !dev->pci)
        return;
    if (dev->pci->fn)
        snprintf(out, size, "/pci@i0cf8/%s@%x,%x/%s", dev->type->fw_name, dev->pci->slot,
                 dev->pci->fn, dev->type->fw_child);
    else
        snprintf(out, size, "/pci@i0cf8/%s@%x/%s", dev->type->fw_name, dev->pci->slot,
                 dev->type->fw_child);
}

int dev_state_save_none(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    (void)dev, (void)w, (void)err;
    return 0;
}

int dev_state_load_none(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    (void)dev, (void)r, (void)err;
    return 0;
}
