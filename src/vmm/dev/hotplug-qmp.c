/*
 * hotplug-qmp.c - QMP device_add and device_del: the device model's
 * hot-plug entry points (dev_hotplug_add, dev_hotplug_del in device.c).
 * device_add takes QEMU's flat arguments (driver, id, bus and the type's
 * properties as JSON strings, numbers or booleans) through the same generic
 * property parser as -device; device_del answers at once and the device
 * leaves when the guest releases it, announced by DEVICE_DELETED.
 *
 * A CPU driver ("...-x86_64-cpu") goes to vcpu-hotplug.h.
 *
 * TODO: ACPI PCI hot-plug on the pc machine, chardev-add/chardev-remove.
 */
#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/device.h"
#include "vmm/vcpu-hotplug.h"
#include "vmm/vm.h"
#include "qmp/qmp-server.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* A JSON member as -device spells its value; NULL for a type -device has no spelling for. */
static char *value_text(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
        return xstrdup(json_object_get_string(v));
    case json_type_boolean:
        return xstrdup(json_object_get_boolean(v) ? "on" : "off");
    case json_type_int:
        if (json_object_get_int64(v) < 0)
            return xasprintf("%" PRId64, json_object_get_int64(v));
        return xasprintf("%" PRIu64, json_object_get_uint64(v));
    default:
        return NULL;
    }
}

static int qmp_device_add(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *driver = json_object_get_string(json_object_object_get(args, "driver"));
    if (vcpu_hotplug_is_cpu_driver(driver)) {
        struct verr e = {0};
        if (vcpu_hotplug_add(vm, args, &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        return 0;
    }
    struct json_object *idv = json_object_object_get(args, "id");
    if (idv && vcpu_hotplug_find_id(vm, json_object_get_string(idv)))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Duplicate device ID '%s'",
                             json_object_get_string(idv));
    const struct dev_type *t = dev_type_find(driver);
    if (!t || !t->user_creatable)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "'%s' is not a valid device model name",
                             driver);
    struct dev_config *c = dev_config_new(t, NULL);
    struct verr e = {0};
    int r = 0;
    json_object_object_foreach(args, key, val)
    {
        if (str_eq(key, "driver"))
            continue;
        char *text = value_text(val);
        if (!text) {
            r = verr_set(&e, EINVAL, "Parameter '%s' expects a string, number or boolean", key);
            break;
        }
        r = dev_config_set(c, key, text, &e);
        free(text);
        if (r < 0)
            break;
    }
    if (r == 0)
        r = dev_config_check(c, &e);
    if (r < 0) {
        dev_config_free(c);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    }
    if (dev_hotplug_add(vm, c, &e) < 0) /* takes c over */
        /* pc-dimm's memdev= naming no backend: QEMU's link property says DeviceNotFound */
        return qmp_error_set(err,
                             str_eq(driver, "pc-dimm") && e.code == ENOENT
                                 ? QMP_ERROR_DEVICE_NOT_FOUND
                                 : QMP_ERROR_GENERIC,
                             "%s", verr_msg(&e));
    return 0;
}

static int qmp_device_del(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    const char *name = id;
    static const char peripheral[] = "/machine/peripheral/";
    if (!strncmp(id, peripheral, sizeof(peripheral) - 1))
        name = id + sizeof(peripheral) - 1; /* QEMU takes a QOM path too */
    struct device *d = dev_find_id(vm, name);
    if (!d && vcpu_hotplug_find_id(vm, id)) {
        struct verr e = {0};
        if (vcpu_hotplug_del(vm, id, &e) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
        return 0;
    }
    if (!d)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", id);
    struct verr e = {0};
    if (dev_hotplug_del(vm, d, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

int dev_hotplug_qmp_register(struct qmp_server *server, struct vm *vm)
{
    /* "*": the type's own properties, checked by the property parser. */
    static const struct qmp_arg add_args[] = {{"driver", QMP_ARG_STRING, false},
                                              {"id", QMP_ARG_STRING, true},
                                              {"bus", QMP_ARG_STRING, true},
                                              {"*", QMP_ARG_ANY, true},
                                              {NULL}};
    static const struct qmp_arg del_args[] = {{"id", QMP_ARG_STRING, false}, {NULL}};
    int r = qmp_server_register(server, "device_add", add_args, qmp_device_add, vm);
    if (r == 0)
        r = qmp_server_register(server, "device_del", del_args, qmp_device_del, vm);
    return r;
}
