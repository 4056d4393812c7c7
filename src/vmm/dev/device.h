/*
 * device.h - vireo-vmm's device model: the one interface every device
 * implements, and the three things built on it.
 *
 *   struct dev_type    what -device names: QEMU's driver name, the bus the
 *                      device plugs into, its properties (name, type, default,
 *                      help) and its operations. One per device kind,
 *                      defined in the device's own file under dev/.
 *   struct dev_config  one device as configured: a -device option (or one of
 *                      the machine's built-in devices) parsed generically
 *                      against its type's property table into the type's own
 *                      option struct. Pure data, no I/O: the command line
 *                      makes them, nothing in dev/ reads the command line.
 *   struct device      one instance in the VM's device list (id, type, PCI
 *                      address when on PCI), made from a config by create().
 *
 * The type table is generated at build time from the list of device files in
 * src/vmm/meson.build (see device-table.c.in). Why not constructors or a
 * linker section, as kvmtool does: vireo-vmm links its code from a static
 * library, and the linker drops an object file nothing references, so a
 * self-registering device would silently vanish from the binary; and a
 * registry filled at start-up is mutable global state. The generated list
 * names every device file explicitly, references (and so links) each one, and
 * is read-only. Adding a device is one new file plus one line in that list
 * (docs/vmm.md, "Adding a device").
 *
 * Backends are resolved by id, QEMU's model: a property of type drive, netdev
 * or chardev names a -drive, -netdev or -chardev (struct vm_backends), and
 * each backend serves one device.
 */
#ifndef VIREO_VMM_DEV_DEVICE_H
#define VIREO_VMM_DEV_DEVICE_H

#include "util/error.h"
#include "vmm/dev/pci.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct device;
struct dev_config;
struct vm_backends;
struct json_object;
struct qmp_error;
struct qmp_server;

/* What a device plugs into (-device help's "bus"). */
enum dev_bus {
    DEV_BUS_SYSTEM,        /* the machine's own: built-ins with no bus of their own */
    DEV_BUS_ISA,           /* I/O ports and ISA interrupts: "isa.0" */
    DEV_BUS_PCI,           /* the PCIe root bus "pcie.0" */
    DEV_BUS_VIRTIO_SERIAL, /* the ports of a virtio-serial-pci: "ID.0" */
    DEV_BUS_SCSI,          /* the logical units of a SCSI controller: "ID.0" */
    DEV_BUS_USB,           /* the root ports of a USB host controller: "ID.0" */
    DEV_BUS_IDE,           /* an AHCI controller's ports, one drive each: "ID.0" to "ID.5"
                            * ("ide.N" for a controller without id, as QEMU names them) */
};
/* QEMU's name of a bus kind ("PCI", "ISA", "virtio-serial-bus", "SCSI", "usb-bus", "System"). */
const char *dev_bus_name(enum dev_bus bus);

/* -device help's groups, in QEMU's order. */
enum dev_category {
    DEV_CAT_BRIDGE,
    DEV_CAT_USB,
    DEV_CAT_STORAGE,
    DEV_CAT_NETWORK,
    DEV_CAT_INPUT,
    DEV_CAT_DISPLAY,
    DEV_CAT_SOUND,
    DEV_CAT_MISC,
    DEV_CAT_CPU,
    DEV_CAT_WATCHDOG,
    DEV_CAT_UNCATEGORIZED,
    DEV_CAT_COUNT,
};

/* Property types and the C field each is stored in. */
enum dev_prop_type {
    DEV_PROP_STR,     /* char * (owned by the config; NULL = not given) */
    DEV_PROP_BOOL,    /* bool: on/off, true/false, yes/no */
    DEV_PROP_U8,      /* uint8_t */
    DEV_PROP_U16,     /* uint16_t */
    DEV_PROP_U32,     /* uint32_t */
    DEV_PROP_U64,     /* uint64_t */
    DEV_PROP_MAC,     /* struct dev_mac */
    DEV_PROP_DRIVE,   /* struct dev_ref: a -drive id */
    DEV_PROP_NETDEV,  /* struct dev_ref: a -netdev id */
    DEV_PROP_CHARDEV, /* struct dev_ref: a -chardev id */
};

struct dev_mac {
    uint8_t a[6];
    bool set; /* mac= given (else the type picks one) */
};

/* A backend named by id; index into the VM's drives/netdevs/chardevs once resolved. */
struct dev_ref {
    char *id; /* NULL: not given */
    int index;
};

struct dev_prop {
    const char *name;
    enum dev_prop_type type;
    size_t offset;    /* of its field in the type's option struct */
    const char *def;  /* default as a -device value would spell it; NULL: none */
    uint64_t min;     /* integers: accepted range; strings: length range */
    uint64_t max;     /* 0: no bound beyond the C type's */
    bool required;    /* "-device ...: drive= is required" */
    const char *help; /* QEMU's description; NULL: none */
};

/* Property table rows: DEV_PROP(name, type, struct, field, default, min, max, help). */
#define DEV_PROP(n, t, s, f, d, lo, hi, h)                                                         \
    {                                                                                              \
        n, t, offsetof(s, f), d, lo, hi, false, h                                                  \
    }
#define DEV_PROP_REQUIRED(n, t, s, f, h)                                                           \
    {                                                                                              \
        n, t, offsetof(s, f), NULL, 0, 0, true, h                                                  \
    }
#define DEV_PROP_END                                                                               \
    {                                                                                              \
        NULL, DEV_PROP_STR, 0, NULL, 0, 0, false, NULL                                             \
    }

/* A QOM property beyond the -device ones (qom-list/qom-get/qom-set), e.g. the balloon's
 * guest-stats. get/set run on the loop thread; set NULL means read-only. */
struct dev_qom_prop {
    const char *name;
    const char *type; /* qom-list's type string */
    int (*get)(struct device *dev, struct json_object **out, struct qmp_error *err);
    int (*set)(struct device *dev, struct json_object *value, struct qmp_error *err);
};

/*
 * Device state for save/restore and migration (src/vmm/state/, docs/state.md). A device's
 * section in the state stream holds named records (name, bytes), so a field added in a
 * later version is just one more record. A VM whose devices include a type without save is
 * refused by migrate and snapshot-save ("State blocked by non-migratable device").
 *
 * save() runs on the main thread with every vCPU parked. It must first quiesce the device's
 * own threads (I/O threads, requests in flight) so what it writes is complete, write every
 * field the guest can observe (registers, queue positions, pending interrupts) with put(),
 * and leave the device able to run again. load() runs on a device just created from the
 * same type and properties, before any vCPU runs; r->version is the state_version the
 * section was written with (the stream refuses one newer than the type's before calling
 * load). The stream is untrusted input: load checks every value it reads against what the
 * device can hold, and on error returns -EINVAL with words (the VM is then not started).
 */
struct dev_state_writer {
    int (*put)(struct dev_state_writer *w, const char *name, const void *data, size_t len,
               struct verr *err);
    void *opaque;
    /* A save whose records are thrown away (live migration's start, which needs only what
     * is in flight completed): save() may skip what only a kept state needs, such as
     * flushing an image. */
    bool drain_only;
};
struct dev_state_reader {
    /* Copies record `name` into data: -ENOENT when the section has none (an older version),
     * -EINVAL when its length is not len. */
    int (*get)(struct dev_state_reader *r, const char *name, void *data, size_t len,
               struct verr *err);
    unsigned version;
    void *opaque;
    /* A record of variable length (console buffers, a backend's own state): *data points
     * into the section (valid during load), *len is its length; -ENOENT when absent. */
    int (*get_var)(struct dev_state_reader *r, const char *name, const uint8_t **data, size_t *len,
                   struct verr *err);
};

/* Typed helpers over put/get for little fixed-size fields. */
static inline int dev_state_put_u64(struct dev_state_writer *w, const char *name, uint64_t v,
                                    struct verr *err)
{
    return w->put(w, name, &v, sizeof(v), err);
}
static inline int dev_state_get_u64(struct dev_state_reader *r, const char *name, uint64_t *v,
                                    struct verr *err)
{
    return r->get(r, name, v, sizeof(*v), err);
}
/* save/load of a device with nothing the guest could observe to restore (port 0x80,
 * isa-debug-exit): an empty section, still checked for presence and type. */
int dev_state_save_none(struct device *dev, struct dev_state_writer *w, struct verr *err);
int dev_state_load_none(struct device *dev, struct dev_state_reader *r, struct verr *err);

struct dev_type {
    const char *name;  /* QEMU's -device driver name: "virtio-blk-pci" */
    const char *alias; /* QEMU's alias ("virtio-blk"), or NULL */
    const char *desc;  /* one line for -device help */
    enum dev_category category;
    enum dev_bus bus;       /* what it plugs into */
    enum dev_bus child_bus; /* the bus it offers its children (DEV_BUS_SYSTEM: none) */
    bool user_creatable;    /* -device may name it (else only the machine creates it) */
    /* Bootable devices (they take bootindex=): the node firmware finds them by, as QEMU names
     * it in its OpenFirmware paths (/pci@i0cf8/FW_NAME@SLOT/FW_CHILD): "scsi" and "disk@0,0"
     * for virtio-blk. NULL: not bootable. */
    const char *fw_name, *fw_child;
    bool singleton;               /* at most one in a VM */
    const struct dev_prop *props; /* ends with DEV_PROP_END; NULL: none */
    size_t opts_size;             /* the option struct the props fill */

    /* Parse time, pure (no I/O). check: one config is complete (after its last property).
     * finish: every config is known and backends and buses are resolved; may look at the
     * others (a bus numbering its ports, a NIC picking its default MAC), and its errors name
     * the config they are about themselves (its `what`). Both optional. */
    int (*check)(struct dev_config *cfg, struct verr *err);
    int (*finish)(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                  struct verr *err);
    /* Run time, main thread. create: builds the device from dev->cfg into dev->priv (and
     * dev->pci when on PCI); on failure it frees what it made. reset: back to power-on
     * state (system reset; NULL: nothing to do). free: after the vCPUs are joined. */
    int (*create)(struct device *dev, struct verr *err);
    void (*reset)(struct device *dev);
    void (*free)(struct device *dev);

    /* QMP commands this type owns (block_resize, balloon, ...), registered once per type
     * whether or not the VM has one (they answer DeviceNotActive then). NULL: none. */
    int (*qmp_register)(struct qmp_server *server, struct vm *vm);
    const struct dev_qom_prop *qom_props; /* ends with {NULL}; NULL: none */

    /* State (see struct dev_state_writer); save NULL: the device blocks migration. Resume:
     * called after a save the VM outlives (snapshot-save, a failed or cancelled migrate) to
     * let the device's quiesced threads go again; NULL: nothing to do. */
    unsigned state_version;
    int (*save)(struct device *dev, struct dev_state_writer *w, struct verr *err);
    int (*load)(struct device *dev, struct dev_state_reader *r, struct verr *err);
    void (*resume)(struct device *dev);
    /* Hot-plug, for a type whose bus takes devices while the guest runs (pcie-root-port's
     * slot). hotplug_check: may device_add put a device on owner's bus now (refusals in
     * QEMU's words). plugged: child was just created on owner's bus: at start-up (hot false:
     * present and powered, no event) or by device_add (hot: tell the guest, as the slot's
     * presence-detect and link events do). unplug: device_del of child: ask the guest to
     * release it; the owner calls dev_hotplug_remove once the guest has (on the main
     * thread). A type with a child bus and no unplug cannot hot-unplug. */
    int (*hotplug_check)(struct device *owner, struct verr *err);
    void (*plugged)(struct device *owner, struct device *child, bool hot);
    int (*unplug)(struct device *owner, struct device *child, struct verr *err);
};

/* One configured device. */
struct dev_config {
    const struct dev_type *type;
    char *id;                  /* id=, or NULL */
    char *bus;                 /* bus= as given, or NULL */
    struct pci_place pci;      /* PCI devices: addr=, multifunction= (pci.id is id) */
    int32_t bootindex;         /* bootable types: bootindex= (-1: not in the boot order) */
    void *opts;                /* type->opts_size bytes: the property values */
    char *what;                /* how error lines name it: "-device ARG"; NULL for built-ins */
    bool builtin;              /* made by the machine, not by -device (QOM: /machine/unattached) */
    bool hotplugged;           /* made by QMP device_add: the device owns (and frees) it */
    struct dev_config *parent; /* the device whose bus it is on (virtio-serial ports) */
    unsigned bus_index;        /* which of parent's buses (N of "ID.N"; IDE ports) */
    bool bus_index_given;      /* bus= named it (else the device picks a free one) */
};

/* One device of the VM. */
struct device {
    const struct dev_type *type;
    const struct dev_config *cfg;
    struct vm *vm;
    void *priv;          /* the type's own state */
    struct pci_dev *pci; /* its function when on PCI (create sets it) */
};

/* --- the type table --- */

/* The type named name (QEMU driver name or alias), or NULL. */
const struct dev_type *dev_type_find(const char *name);
/* Every type, for i = 0, 1, ... until NULL. */
const struct dev_type *dev_type_at(unsigned i);

/* --- configs (parse time) --- */

/* A config of type t with its defaults; what (copied, may be NULL) names it in errors. */
struct dev_config *dev_config_new(const struct dev_type *t, const char *what);
void dev_config_free(struct dev_config *c);
/* Sets one property from text, as -device KEY=VALUE: id, bus, addr and multifunction (PCI)
 * or one of the type's. Errors are QEMU's words without a prefix ("Property
 * 'virtio-blk-pci.foo' not found"). */
int dev_config_set(struct dev_config *c, const char *key, const char *value, struct verr *err);
/* After the last property: required ones given, then the type's check. */
int dev_config_check(struct dev_config *c, struct verr *err);
/* After every device is configured: unique ids, one of each singleton type, bus= resolved
 * (devices on a device's bus get their parent), backend references resolved against be
 * (each backend serves one device: marked used there), then each type's finish. */
int dev_configs_finish(struct dev_config *const *all, unsigned n, struct vm_backends *be,
                       struct verr *err);
/* A property's value as text, spelled as -device takes it ("244", "on", "d0",
 * "52:54:00:12:34:56"; addr as "SLOT.FN" or "-1"); id and bus too. NULL when c's type has no
 * such property or it is not set. malloc'd. */
char *dev_config_get(const struct dev_config *c, const char *key);
/* The option struct, typed by the caller. */
#define DEV_OPTS(cfg, type) ((const type *)(cfg)->opts)
/* The property table of every PCI device (addr, multifunction), for listings. */
extern const struct dev_prop dev_pci_props[];
/* bootindex=, which bootable types (fw_name set) take. */
extern const struct dev_prop dev_boot_props[];
/* The OpenFirmware path of a created bootable device on the root PCI bus
 * ("/pci@i0cf8/scsi@4/disk@0,0"), or "" when it has none. */
void dev_fw_path(const struct device *dev, char *out, size_t size);
/* A property's type as QEMU names it in help and QOM ("uint32", "str", "int32"...). */
const char *dev_prop_type_name(const struct dev_prop *p);
/* Where a property of c's type is stored. */
void *dev_prop_field(const struct dev_config *c, const struct dev_prop *p);

/* -device help, and -device TYPE,help (malloc'd text, QEMU's layout). */
char *dev_help_types(void);
char *dev_help_props(const struct dev_type *t);
/* "isa-debug-exit, virtio-blk-pci, ..." (malloc'd): what -device takes. */
char *dev_type_names(void);

/* --- devices (run time, main thread) --- */

/* Creates the VM's devices from n configs, in order, into vm->devices. On failure the error
 * names the config ("-device ARG: ..."); devices made so far stay for dev_free_all. */
int dev_create_all(struct vm *vm, struct dev_config *const *cfgs, unsigned n, struct verr *err);
/* System reset of every device, in creation order. */
void dev_reset_all(struct vm *vm);
/* Frees every device, last created first. */
void dev_free_all(struct vm *vm);
/* The n-th device of type t (0 = the first), or NULL. */
struct device *dev_find_type(struct vm *vm, const struct dev_type *t, unsigned n);
/* The device with id=, or NULL. */
struct device *dev_find_id(struct vm *vm, const char *id);
/* QEMU's QOM path of the device made from cfg ("/machine/peripheral/ID",
 * "/machine/peripheral-anon/device[N]", "/machine/unattached/device[N]"); malloc'd. */
char *dev_config_qom_path(struct vm *vm, const struct dev_config *cfg);

/* Hot-plug (main thread, the VM built). dev_hotplug_add: QMP device_add of a config whose
 * properties are set and checked: refused unless bus= names a bus that takes hot-plug;
 * resolves backends against vm->backends, creates the device with the vCPUs parked and
 * tells the bus (takes cfg over, also on failure). dev_hotplug_del: QMP device_del: asks the
 * bus owner to have the guest release the device. dev_hotplug_remove: the guest released
 * it: off the bus, freed, backends free again, event DEVICE_DELETED. */
int dev_hotplug_add(struct vm *vm, struct dev_config *cfg, struct verr *err);
int dev_hotplug_del(struct vm *vm, struct device *dev, struct verr *err);
void dev_hotplug_remove(struct device *dev);
/* The device whose config is cfg, or NULL. */
struct device *dev_find_config(struct vm *vm, const struct dev_config *cfg);

/* QMP: every type's commands, and the generic ones over the device list: qom-list,
 * qom-get, qom-set, device-list-properties, qom-list-types. */
int dev_qmp_register(struct qmp_server *server, struct vm *vm);
/* QMP device_add and device_del (hotplug-qmp.c). */
int dev_hotplug_qmp_register(struct qmp_server *server, struct vm *vm);

#endif
