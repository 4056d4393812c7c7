/*
 * device-qmp.c - the QMP commands that work on any device, over the VM's
 * device list and the type table: qom-list, qom-get and qom-set (a device's
 * -device properties plus its type's extra QOM properties), and
 * device-list-properties and qom-list-types; and the registration of each
 * type's own commands (dev_qmp_register).
 *
 * QOM paths as QEMU lays them out: /machine/peripheral/ID for a -device with
 * id=, /machine/peripheral-anon/device[N] for one without, and
 * /machine/unattached/device[N] for the machine's built-in devices; a bare ID
 * is QEMU's partial path. Replies and error words follow QEMU 7.2 (checked
 * against it for qom-get/qom-set on the balloon, and DeviceNotFound).
 */
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/iothread-qmp.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERIPHERAL      "/machine/peripheral"
#define PERIPHERAL_ANON "/machine/peripheral-anon"
#define UNATTACHED      "/machine/unattached"

static struct json_object *prop_json(const struct dev_config *c, const struct dev_prop *p)
{
    const void *f = dev_prop_field(c, p);
    switch (p->type) {
    case DEV_PROP_STR: {
        const char *s = *(char *const *)f;
        return json_object_new_string(s ? s : "");
    }
    case DEV_PROP_BOOL:
        return json_object_new_boolean(*(const bool *)f);
    case DEV_PROP_U8:
        return json_object_new_int64(*(const uint8_t *)f);
    case DEV_PROP_U16:
        return json_object_new_int64(*(const uint16_t *)f);
    case DEV_PROP_U32:
        return json_object_new_int64(*(const uint32_t *)f);
    case DEV_PROP_U64:
        return json_object_new_uint64(*(const uint64_t *)f);
    case DEV_PROP_MAC: {
        const uint8_t *a = ((const struct dev_mac *)f)->a;
        char text[18];
        snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4],
                 a[5]);
        return json_object_new_string(text);
    }
    case DEV_PROP_DRIVE:
    case DEV_PROP_NETDEV:
    case DEV_PROP_CHARDEV: {
        const char *id = ((const struct dev_ref *)f)->id;
        return json_object_new_string(id ? id : "");
    }
    }
    return NULL;
}

/* --- paths ---------------------------------------------------------------------------------- */

enum node_kind { NODE_NONE, NODE_CONTAINER, NODE_DEVICE };

/* What path names: a container (its name in *container) or a device. */
static enum node_kind resolve(struct vm *vm, const char *path, const char **container,
                              struct device **dev)
{
    static const char *const containers[] = {"/machine", PERIPHERAL, PERIPHERAL_ANON, UNATTACHED};
    for (unsigned i = 0; i < 4; i++)
        if (str_eq(path, containers[i])) {
            *container = containers[i];
            return NODE_CONTAINER;
        }
    unsigned anon = 0, builtin = 0;
    const char *rest = str_starts_with(path, PERIPHERAL "/") ? path + strlen(PERIPHERAL "/") : path;
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        struct device *d = vm->devices[i];
        const struct dev_config *c = d->cfg;
        char name[80];
        if (c->builtin)
            snprintf(name, sizeof(name), UNATTACHED "/device[%u]", builtin++);
        else if (!c->id)
            snprintf(name, sizeof(name), PERIPHERAL_ANON "/device[%u]", anon++);
        if (c->builtin || !c->id ? str_eq(path, name) : str_eq(rest, c->id)) {
            *dev = d;
            return NODE_DEVICE;
        }
    }
    return NODE_NONE;
}

char *dev_config_qom_path(struct vm *vm, const struct dev_config *cfg)
{
    unsigned anon = 0, builtin = 0;
    for (unsigned i = 0; i < vm->nr_dev_configs; i++) {
        const struct dev_config *c = vm->dev_configs[i];
        if (c == cfg)
            return c->builtin ? xasprintf(UNATTACHED "/device[%u]", builtin)
                   : c->id    ? xasprintf(PERIPHERAL "/%s", c->id)
                              : xasprintf(PERIPHERAL_ANON "/device[%u]", anon);
        if (c->builtin)
            builtin++;
        else if (!c->id)
            anon++;
    }
    return xstrdup("");
}

static int not_found(struct qmp_error *err, const char *path)
{
    return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
}

/* --- qom-list ------------------------------------------------------------------------------- */

static void add_entry(struct json_object *list, const char *name, const char *type)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_array_add(list, o);
}

static void list_children(struct vm *vm, const char *container, struct json_object *list)
{
    if (str_eq(container, "/machine")) {
        add_entry(list, "peripheral", "child<container>");
        add_entry(list, "peripheral-anon", "child<container>");
        add_entry(list, "unattached", "child<container>");
        return;
    }
    unsigned anon = 0, builtin = 0;
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        const struct dev_config *c = vm->devices[i]->cfg;
        char name[64], type[96];
        snprintf(type, sizeof(type), "child<%s>", c->type->name);
        if (c->builtin)
            snprintf(name, sizeof(name), "device[%u]", builtin++);
        else if (!c->id)
            snprintf(name, sizeof(name), "device[%u]", anon++);
        else
            snprintf(name, sizeof(name), "%s", c->id);
        bool here = c->builtin ? str_eq(container, UNATTACHED)
                               : str_eq(container, c->id ? PERIPHERAL : PERIPHERAL_ANON);
        if (here)
            add_entry(list, name, type);
    }
}

static int qmp_qom_list(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                        struct qmp_error *err, void *opaque)
{
    (void)ss;
    struct vm *vm = opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *container = NULL;
    struct device *d = NULL;
    enum node_kind k = resolve(vm, path, &container, &d);
    if (k == NODE_NONE)
        return not_found(err, path);
    struct json_object *list = json_object_new_array();
    add_entry(list, "type", "string");
    if (k == NODE_CONTAINER) {
        list_children(vm, container, list);
    } else {
        const struct dev_type *t = d->type;
        if (t->bus == DEV_BUS_PCI)
            for (const struct dev_prop *p = dev_pci_props; p->name; p++)
                add_entry(list, p->name, dev_prop_type_name(p));
        if (t->fw_name)
            add_entry(list, "bootindex", "int32");
        for (const struct dev_prop *p = t->props; p && p->name; p++)
            add_entry(list, p->name, dev_prop_type_name(p));
        for (const struct dev_qom_prop *q = t->qom_props; q && q->name; q++)
            add_entry(list, q->name, q->type);
    }
    *ret = list;
    return 0;
}

/* --- qom-get / qom-set ---------------------------------------------------------------------- */

static const struct dev_prop *find_prop(const struct dev_type *t, const char *name)
{
    for (const struct dev_prop *p = t->props; p && p->name; p++)
        if (str_eq(p->name, name))
            return p;
    return NULL;
}

static const struct dev_qom_prop *find_qom(const struct dev_type *t, const char *name)
{
    for (const struct dev_qom_prop *q = t->qom_props; q && q->name; q++)
        if (str_eq(q->name, name))
            return q;
    return NULL;
}

static int qmp_qom_get(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss;
    struct vm *vm = opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    int io = iothread_qmp_qom_get(vm, path, prop, ret, err);
    if (io <= 0)
        return io;
    const char *container = NULL;
    struct device *d = NULL;
    enum node_kind k = resolve(vm, path, &container, &d);
    if (k == NODE_NONE)
        return not_found(err, path);
    if (k == NODE_CONTAINER) {
        if (!str_eq(prop, "type"))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'container.%s' not found", prop);
        *ret = json_object_new_string("container");
        return 0;
    }
    const struct dev_type *t = d->type;
    if (str_eq(prop, "type")) {
        *ret = json_object_new_string(t->name);
        return 0;
    }
    if (t->bus == DEV_BUS_PCI && d->pci && str_eq(prop, "addr")) {
        *ret = json_object_new_int((int)PCI_DEVFN(d->pci->slot, d->pci->fn));
        return 0;
    }
    if (t->bus == DEV_BUS_PCI && d->pci && str_eq(prop, "multifunction")) {
        *ret = json_object_new_boolean(d->pci->multifunction);
        return 0;
    }
    const struct dev_prop *p = find_prop(t, prop);
    if (p) {
        *ret = prop_json(d->cfg, p);
        return 0;
    }
    const struct dev_qom_prop *q = find_qom(t, prop);
    if (q)
        return q->get(d, ret, err);
    return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' not found", t->name, prop);
}

static int qmp_qom_set(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                       struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *path = json_object_get_string(json_object_object_get(args, "path"));
    const char *prop = json_object_get_string(json_object_object_get(args, "property"));
    struct json_object *value = json_object_object_get(args, "value");
    int io = iothread_qmp_qom_set(vm, path, prop, value, err);
    if (io <= 0)
        return io;
    const char *container = NULL;
    struct device *d = NULL;
    enum node_kind k = resolve(vm, path, &container, &d);
    if (k == NODE_NONE)
        return not_found(err, path);
    if (k == NODE_CONTAINER)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'container.%s' not found", prop);
    const struct dev_type *t = d->type;
    const struct dev_qom_prop *q = find_qom(t, prop);
    if (q) {
        if (!q->set)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' is not writable",
                                 t->name, prop);
        return q->set(d, value, err);
    }
    bool fixed = find_prop(t, prop) || str_eq(prop, "type") ||
                 (t->bus == DEV_BUS_PCI && (str_eq(prop, "addr") || str_eq(prop, "multifunction")));
    if (!fixed)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' not found", t->name, prop);
    /* -device properties are fixed once the device exists, as in QEMU. */
    if (d->cfg->id)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Attempt to set property '%s' on device '%s' (type '%s') after it "
                             "was realized",
                             prop, d->cfg->id, t->name);
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "Attempt to set property '%s' on anonymous device (type '%s') after it "
                         "was realized",
                         prop, t->name);
}

/* --- types ---------------------------------------------------------------------------------- */

static struct json_object *prop_info(const struct dev_prop *p, const struct dev_config *defaults)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(p->name));
    json_object_object_add(o, "type", json_object_new_string(dev_prop_type_name(p)));
    if (p->help)
        json_object_object_add(o, "description", json_object_new_string(p->help));
    if (p->def) {
        struct json_object *v;
        if (p == &dev_pci_props[0] || p == &dev_boot_props[0])
            v = json_object_new_int(-1);
        else if (p == &dev_pci_props[1])
            v = json_object_new_boolean(0);
        else
            v = prop_json(defaults, p);
        json_object_object_add(o, "default-value", v);
    }
    return o;
}

static int qmp_device_list_properties(struct qmp_session *ss, struct json_object *args,
                                      struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)opaque;
    const char *name = json_object_get_string(json_object_object_get(args, "typename"));
    const struct dev_type *t = dev_type_find(name);
    if (!t || !t->user_creatable)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    struct dev_config *defaults = dev_config_new(t, NULL);
    struct json_object *list = json_object_new_array();
    if (t->bus == DEV_BUS_PCI)
        for (const struct dev_prop *p = dev_pci_props; p->name; p++)
            json_object_array_add(list, prop_info(p, defaults));
    if (t->fw_name)
        json_object_array_add(list, prop_info(&dev_boot_props[0], defaults));
    for (const struct dev_prop *p = t->props; p && p->name; p++)
        json_object_array_add(list, prop_info(p, defaults));
    dev_config_free(defaults);
    *ret = list;
    return 0;
}

/* QOM's parent of a type: what vireo-vmm's types have in common (QEMU's abstract bases). */
static const char *parent_name(const struct dev_type *t)
{
    switch (t->bus) {
    case DEV_BUS_PCI:
        return "pci-device";
    case DEV_BUS_ISA:
        return "isa-device";
    case DEV_BUS_VIRTIO_SERIAL:
        return "virtio-serial-port";
    case DEV_BUS_SCSI:
        return "scsi-device";
    case DEV_BUS_USB:
        return "usb-device";
    case DEV_BUS_IDE:
        return "ide-device";
    case DEV_BUS_SYSTEM:
        break;
    }
    return "device";
}

static int qmp_qom_list_types(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)err, (void)opaque;
    struct json_object *ji = json_object_object_get(args, "implements");
    const char *implements = ji ? json_object_get_string(ji) : NULL;
    /* abstract=true also lists abstract types: vireo-vmm's types are all concrete. */
    struct json_object *list = json_object_new_array();
    const struct dev_type *t;
    for (unsigned i = 0; (t = dev_type_at(i)); i++) {
        const char *parent = parent_name(t);
        if (implements && !str_eq(implements, "device") && !str_eq(implements, t->name) &&
            !str_eq(implements, parent))
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(t->name));
        json_object_object_add(o, "parent", json_object_new_string(parent));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

int dev_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg path_args[] = {{"path", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg get_args[] = {
        {"path", QMP_ARG_STRING, false}, {"property", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg set_args[] = {{"path", QMP_ARG_STRING, false},
                                              {"property", QMP_ARG_STRING, false},
                                              {"value", QMP_ARG_ANY, false},
                                              {NULL}};
    static const struct qmp_arg type_args[] = {{"typename", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg list_types_args[] = {
        {"implements", QMP_ARG_STRING, true}, {"abstract", QMP_ARG_BOOL, true}, {NULL}};
    int r = qmp_server_register(server, "qom-list", path_args, qmp_qom_list, vm);
    if (r == 0)
        r = qmp_server_register(server, "qom-get", get_args, qmp_qom_get, vm);
    if (r == 0)
        r = qmp_server_register(server, "qom-set", set_args, qmp_qom_set, vm);
    if (r == 0)
        r = qmp_server_register(server, "device-list-properties", type_args,
                                qmp_device_list_properties, vm);
    if (r == 0)
        r = qmp_server_register(server, "qom-list-types", list_types_args, qmp_qom_list_types, vm);
    if (r == 0)
        r = dev_hotplug_qmp_register(server, vm);
    const struct dev_type *t;
    for (unsigned i = 0; r == 0 && (t = dev_type_at(i)); i++)
        if (t->qmp_register)
            r = t->qmp_register(server, vm);
    return r;
}
