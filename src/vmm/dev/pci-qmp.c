/*
 * pci-qmp.c - QMP's query-pci, owned by the PCI bus: every function on bus 0
 * at its real slot and function, with QEMU 7.2's members (ids, class, the
 * interrupt pin and line, memory BARs, the -device id as qdev_id).
 */
#include "qmp/qmp-server.h"
#include "vmm/dev/pci.h"

#include <json-c/json.h>

static struct json_object *function_json(struct pci_dev *d)
{
    struct json_object *o = json_object_new_object();
    uint32_t class_code = (uint32_t)d->cfg[0x0b] << 8 | d->cfg[0x0a];
    json_object_object_add(o, "bus", json_object_new_int(0));
    json_object_object_add(o, "slot", json_object_new_int((int)d->slot));
    json_object_object_add(o, "function", json_object_new_int((int)d->fn));
    struct json_object *ci = json_object_new_object();
    /* QEMU's descriptions of the classes vireo-vmm's devices have (others: none, and HMP
     * prints "Class NNNN" as QEMU does). */
    const char *desc = class_code == 0x0600   ? "Host bridge"
                       : class_code == 0x0604 ? "PCI bridge"
                       : class_code == 0x0100 ? "SCSI controller"
                       : class_code == 0x0200 ? "Ethernet controller"
                                              : NULL;
    if (desc)
        json_object_object_add(ci, "desc", json_object_new_string(desc));
    json_object_object_add(ci, "class", json_object_new_int((int)class_code));
    json_object_object_add(o, "class_info", ci);
    struct json_object *id = json_object_new_object();
    json_object_object_add(id, "device", json_object_new_int(d->cfg[2] | d->cfg[3] << 8));
    json_object_object_add(id, "vendor", json_object_new_int(d->cfg[0] | d->cfg[1] << 8));
    json_object_object_add(id, "subsystem", json_object_new_int(d->cfg[0x2e] | d->cfg[0x2f] << 8));
    json_object_object_add(id, "subsystem-vendor",
                           json_object_new_int(d->cfg[0x2c] | d->cfg[0x2d] << 8));
    json_object_object_add(o, "id", id);
    if (d->cfg[0x3d]) {
        json_object_object_add(o, "irq", json_object_new_int((int)d->intx_gsi));
        json_object_object_add(o, "irq_pin", json_object_new_int(d->cfg[0x3d]));
    } else {
        json_object_object_add(o, "irq_pin", json_object_new_int(0));
    }
    json_object_object_add(o, "qdev_id", json_object_new_string(d->id ? d->id : ""));
    struct json_object *regions = json_object_new_array();
    for (unsigned i = 0; i < PCI_NR_BARS; i++) {
        if (!d->bars[i].size)
            continue;
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "bar", json_object_new_int((int)i));
        json_object_object_add(r, "type", json_object_new_string("memory"));
        json_object_object_add(
            r, "address", json_object_new_int64(d->bars[i].addr ? (int64_t)d->bars[i].addr : -1));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)d->bars[i].size));
        json_object_object_add(r, "prefetch", json_object_new_boolean(d->cfg[0x10 + 4 * i] & 0x8));
        json_object_object_add(r, "mem_type_64", json_object_new_boolean(d->bars[i].is64));
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    return o;
}

static int qmp_query_pci(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct pci_bus *bus = opaque;
    struct json_object *devs = json_object_new_array();
    for (unsigned f = 0; f < PCI_NR_DEVFNS; f++) {
        struct pci_dev *d = pci_bus_function(bus, f);
        if (d)
            json_object_array_add(devs, function_json(d));
    }
    struct json_object *b = json_object_new_object();
    json_object_object_add(b, "bus", json_object_new_int(0));
    json_object_object_add(b, "devices", devs);
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, b);
    *ret = list;
    return 0;
}

int pci_qmp_register(struct qmp_server *server, struct pci_bus *bus)
{
    return qmp_server_register(server, "query-pci", NULL, qmp_query_pci, bus);
}
