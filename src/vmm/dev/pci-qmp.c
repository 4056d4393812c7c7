/*
 * pci-qmp.c - QMP's query-pci, owned by the PCI bus: every function on bus 0
 * at its real slot and function, with QEMU 7.2's members (ids, class, the
 * interrupt pin and line, memory BARs, the -device id as qdev_id), and for a
 * bridge (pcie-root-port, pci-bridge, pcie-pci-bridge) its pci_bridge member with the functions
 * behind.
 */
#include "qmp/qmp-server.h"
#include "vmm/dev/pci.h"

#include <json-c/json.h>

static struct json_object *range(uint64_t base, uint64_t limit)
{
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "base", json_object_new_int64((int64_t)base));
    json_object_object_add(r, "limit", json_object_new_int64((int64_t)limit));
    return r;
}

static struct json_object *function_json(struct pci_dev *d, unsigned busno);

/* QEMU's pci_bridge member: the bus numbers and windows as the guest programmed them (the
 * limits as QEMU computes them: inclusive, to the window's granularity), and the functions
 * behind. A root port has no I/O or prefetchable window: those registers read 0. */
static struct json_object *bridge_json(struct pci_dev *d)
{
    const uint8_t *c = d->cfg;
    struct json_object *bus = json_object_new_object();
    json_object_object_add(bus, "number", json_object_new_int(c[0x19]));
    json_object_object_add(bus, "secondary", json_object_new_int(c[0x19]));
    json_object_object_add(bus, "subordinate", json_object_new_int(c[0x1a]));
    uint64_t io_base = (uint64_t)(c[0x1c] & 0xf0) << 8, io_limit = (uint64_t)(c[0x1d] & 0xf0) << 8;
    json_object_object_add(bus, "io_range", range(io_base, io_limit | 0xfff));
    uint64_t mb = (uint64_t)((c[0x20] | c[0x21] << 8) & 0xfff0) << 16;
    uint64_t ml = (uint64_t)((c[0x22] | c[0x23] << 8) & 0xfff0) << 16;
    json_object_object_add(bus, "memory_range", range(mb, ml | 0xfffff));
    uint64_t pb = (uint64_t)((c[0x24] | c[0x25] << 8) & 0xfff0) << 16;
    uint64_t pl = (uint64_t)((c[0x26] | c[0x27] << 8) & 0xfff0) << 16;
    if ((c[0x24] & 0xf) == 1) { /* 64-bit: the upper halves */
        pb |= (uint64_t)((uint32_t)c[0x28] | (uint32_t)c[0x29] << 8 | (uint32_t)c[0x2a] << 16 |
                         (uint32_t)c[0x2b] << 24)
              << 32;
        pl |= (uint64_t)((uint32_t)c[0x2c] | (uint32_t)c[0x2d] << 8 | (uint32_t)c[0x2e] << 16 |
                         (uint32_t)c[0x2f] << 24)
              << 32;
    }
    json_object_object_add(bus, "prefetchable_range", range(pb, pl | 0xfffff));
    struct json_object *b = json_object_new_object();
    json_object_object_add(b, "bus", bus);
    if (!c[0x19])
        return b; /* as QEMU: no secondary bus number yet, no devices member */
    struct json_object *devs = json_object_new_array();
    for (unsigned f = 0; f < PCI_NR_DEVFNS; f++)
        if (d->sec[f])
            json_object_array_add(devs, function_json(d->sec[f], c[0x19]));
    json_object_object_add(b, "devices", devs);
    return b;
}

static struct json_object *function_json(struct pci_dev *d, unsigned busno)
{
    struct json_object *o = json_object_new_object();
    uint32_t class_code = (uint32_t)d->cfg[0x0b] << 8 | d->cfg[0x0a];
    json_object_object_add(o, "bus", json_object_new_int((int)busno));
    json_object_object_add(o, "slot", json_object_new_int((int)d->slot));
    json_object_object_add(o, "function", json_object_new_int((int)d->fn));
    struct json_object *ci = json_object_new_object();
    /* QEMU's descriptions of the classes vireo-vmm's devices have (others: none, and HMP
     * prints "Class NNNN" as QEMU does). */
    const char *desc = class_code == 0x0600   ? "Host bridge"
                       : class_code == 0x0604 ? "PCI bridge"
                       : class_code == 0x0100 ? "SCSI controller"
                       : class_code == 0x0200 ? "Ethernet controller"
                       : class_code == 0x0604 ? "PCI bridge"
                                              : NULL;
    if (desc)
        json_object_object_add(ci, "desc", json_object_new_string(desc));
    json_object_object_add(ci, "class", json_object_new_int((int)class_code));
    json_object_object_add(o, "class_info", ci);
    struct json_object *id = json_object_new_object();
    json_object_object_add(id, "device", json_object_new_int(d->cfg[2] | d->cfg[3] << 8));
    json_object_object_add(id, "vendor", json_object_new_int(d->cfg[0] | d->cfg[1] << 8));
    if (!d->bridge) { /* a type 1 header has no subsystem ids there, and QEMU shows none */
        json_object_object_add(id, "subsystem",
                               json_object_new_int(d->cfg[0x2e] | d->cfg[0x2f] << 8));
        json_object_object_add(id, "subsystem-vendor",
                               json_object_new_int(d->cfg[0x2c] | d->cfg[0x2d] << 8));
    }
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
        bool io = d->bars[i].io;
        json_object_object_add(r, "type", json_object_new_string(io ? "io" : "memory"));
        json_object_object_add(
            r, "address", json_object_new_int64(d->bars[i].addr ? (int64_t)d->bars[i].addr : -1));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)d->bars[i].size));
        if (!io) { /* QEMU gives these for memory BARs only */
            json_object_object_add(r, "prefetch",
                                   json_object_new_boolean(d->cfg[0x10 + 4 * i] & 0x8));
            json_object_object_add(r, "mem_type_64", json_object_new_boolean(d->bars[i].is64));
        }
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    if (d->bridge)
        json_object_object_add(o, "pci_bridge", bridge_json(d));
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
            json_object_array_add(devs, function_json(d, 0));
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
