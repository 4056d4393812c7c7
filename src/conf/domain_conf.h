/*
 * domain_conf.h - libvirt domain XML: parse, validate, normalise, format.
 *
 * A struct domain_def is the one in-memory form of a domain definition. The
 * parts Vireo acts on (identity, memory, vCPUs and pinning, os/boot, lifecycle
 * actions, scheduler tunables, disks, interfaces, controllers) are typed
 * fields; everything else libvirt's format allows is kept as xnode trees in
 * its canonical position so that define -> dumpxml round-trips it. Parsing
 * normalises the way libvirt does (UUID/MAC generation, memory in KiB, disk
 * bus from target name, implied controllers, console paired with serial, PCI
 * addresses) and formatting prints libvirt's canonical element order, so the
 * output validates with `virt-xml-validate FILE domain`.
 *
 * These are pure functions of text (plus getrandom for fresh UUIDs/MACs).
 */
#ifndef VIREO_CONF_DOMAIN_CONF_H
#define VIREO_CONF_DOMAIN_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/xnode.h"
#include "util/error.h"

enum domain_type { DOMAIN_TYPE_KVM, DOMAIN_TYPE_QEMU, DOMAIN_TYPE_TEST, DOMAIN_TYPE_LAST };

enum domain_lifecycle_action {
    DOMAIN_ACTION_DESTROY,
    DOMAIN_ACTION_RESTART,
    DOMAIN_ACTION_PRESERVE,
    DOMAIN_ACTION_RENAME_RESTART,
    DOMAIN_ACTION_COREDUMP_DESTROY,
    DOMAIN_ACTION_COREDUMP_RESTART,
    DOMAIN_ACTION_LAST
};

enum domain_boot_dev {
    DOMAIN_BOOT_FD,
    DOMAIN_BOOT_CDROM,
    DOMAIN_BOOT_HD,
    DOMAIN_BOOT_NETWORK,
    DOMAIN_BOOT_LAST
};

enum domain_disk_device {
    DOMAIN_DISK_DEVICE_DISK,
    DOMAIN_DISK_DEVICE_CDROM,
    DOMAIN_DISK_DEVICE_FLOPPY,
    DOMAIN_DISK_DEVICE_LUN,
    DOMAIN_DISK_DEVICE_LAST
};

enum domain_disk_source {
    DOMAIN_DISK_SOURCE_FILE,
    DOMAIN_DISK_SOURCE_BLOCK,
    DOMAIN_DISK_SOURCE_DIR,
    DOMAIN_DISK_SOURCE_NETWORK,
    DOMAIN_DISK_SOURCE_VOLUME,
    DOMAIN_DISK_SOURCE_LAST
};

enum domain_disk_bus {
    DOMAIN_DISK_BUS_IDE,
    DOMAIN_DISK_BUS_FDC,
    DOMAIN_DISK_BUS_SCSI,
    DOMAIN_DISK_BUS_VIRTIO,
    DOMAIN_DISK_BUS_XEN,
    DOMAIN_DISK_BUS_USB,
    DOMAIN_DISK_BUS_UML,
    DOMAIN_DISK_BUS_SATA,
    DOMAIN_DISK_BUS_SD,
    DOMAIN_DISK_BUS_LAST
};

enum domain_address_type {
    DOMAIN_ADDRESS_NONE,
    DOMAIN_ADDRESS_PCI,
    DOMAIN_ADDRESS_DRIVE,
    DOMAIN_ADDRESS_VIRTIO_SERIAL,
    DOMAIN_ADDRESS_OTHER, /* usb, isa, ccid, ... kept verbatim in `other` */
};

/* A device's <address>. */
struct domain_address {
    enum domain_address_type type;
    unsigned domain, bus, slot, function; /* pci (bus also drive/virtio-serial) */
    bool multifunction;
    unsigned controller, target, unit; /* drive */
    unsigned port;                     /* virtio-serial */
    struct xnode *other;               /* DOMAIN_ADDRESS_OTHER: the element as written */
};

struct domain_disk {
    enum domain_disk_device device;
    enum domain_disk_source source_type;
    char *source_path;     /* file/dev/dir; NULL for an empty cdrom */
    char *source_protocol; /* network: nbd, iscsi, rbd, http, ... */
    char *source_name;     /* network: export/volume name; volume: pool/volume "pool/vol" */
    char *driver_name, *driver_type, *driver_cache, *driver_io, *driver_discard;
    char *driver_detect_zeroes; /* off, on, unmap (libvirt's detect_zeroes) */
    unsigned driver_iothread;   /* 0 = none */
    char *target_dev;
    enum domain_disk_bus target_bus;
    bool readonly, shareable, transient;
    char *serial;
    unsigned boot_order; /* 0 = none */
    struct domain_address address;
    char *alias;     /* live only */
    int bus_written; /* bus as written (-1 none): libvirt orders disks by it */
    /* The <driver>/<target> elements as written: unmodelled attributes print from here. */
    struct xnode *driver_node, *target_node;
    struct xnode *source;  /* the full <source> element (hosts, auth, seclabels ...) */
    struct xnode *backing; /* <backingStore>, verbatim */
    struct xnode **extra;  /* other children (iotune, encryption, ...) kept verbatim */
    size_t nextra;
};

enum domain_net_type {
    DOMAIN_NET_NETWORK,
    DOMAIN_NET_BRIDGE,
    DOMAIN_NET_USER,
    DOMAIN_NET_ETHERNET,
    DOMAIN_NET_DIRECT,
    DOMAIN_NET_HOSTDEV,
    DOMAIN_NET_VHOSTUSER,
    DOMAIN_NET_LAST
};

struct domain_net {
    enum domain_net_type type;
    int managed;                /* hostdev interfaces: -1 unset, 0 no, 1 yes */
    int trust_guest_rx_filters; /* -1 unset, 0 no, 1 yes */
    char mac[18];               /* "52:54:00:xx:xx:xx", always set after parsing */
    char *source_network, *source_bridge, *source_dev, *source_mode;
    char *model;
    char *target_dev;
    char *driver_name;
    unsigned driver_queues;
    unsigned boot_order;
    struct domain_address address;
    char *alias;          /* live only */
    struct xnode *source; /* the full <source> element as written (hostdev/vhostuser details) */
    struct xnode *driver_node,
        *target_node;     /* as written; unmodelled attributes printed from here */
    struct xnode **extra; /* virtualport, vlan, bandwidth, link, mtu, ... verbatim */
    size_t nextra;
};

enum domain_controller_type {
    DOMAIN_CONTROLLER_IDE,
    DOMAIN_CONTROLLER_FDC,
    DOMAIN_CONTROLLER_SCSI,
    DOMAIN_CONTROLLER_SATA,
    DOMAIN_CONTROLLER_VIRTIO_SERIAL,
    DOMAIN_CONTROLLER_CCID,
    DOMAIN_CONTROLLER_USB,
    DOMAIN_CONTROLLER_PCI,
    DOMAIN_CONTROLLER_XENBUS,
    DOMAIN_CONTROLLER_ISA,
    DOMAIN_CONTROLLER_LAST
};

struct domain_controller {
    enum domain_controller_type type;
    unsigned index;
    char *model;             /* NULL = default */
    unsigned ports, vectors; /* 0 = unset */
    struct domain_address address;
    struct xnode **extra; /* <model name=>, <target .../>, <driver .../> verbatim */
    size_t nextra;
};

/* Any other device (serial, console, channel, input, graphics, video, ...): the element,
 * normalised. */
struct domain_device {
    struct xnode *node;
};

/*
 * <memballoon> and <rng>, typed. Filled by parsing from the device elements
 * (def->devices), which stay what is printed: they are a read-only view for
 * the rest of Vireo, refreshed whenever a definition is parsed again.
 */
struct domain_memballoon {
    char *model;             /* virtio, virtio-transitional, virtio-non-transitional, xen, none */
    int autodeflate;         /* -1 unset, 0 off, 1 on */
    int free_page_reporting; /* -1 unset, 0 off, 1 on */
    unsigned stats_period;   /* <stats period=> seconds, 0 unset */
    struct domain_address address;
    char *alias; /* live only */
};

struct domain_rng {
    char *model;         /* virtio, virtio-transitional, virtio-non-transitional */
    char *backend_model; /* random, egd, builtin */
    char *backend_path;  /* random: the host device; NULL when not given */
    unsigned long long rate_bytes, rate_period; /* <rate bytes= period=>, 0 unset */
    struct domain_address address;
    char *alias; /* live only */
};

struct domain_vcpupin {
    unsigned vcpu;
    char *cpuset;
};

/* One entry of <vcpus> (libvirt's per-vCPU state). */
struct domain_vcpu {
    bool enabled;
    int hotpluggable; /* -1 unset (before post-parse), 0 no, 1 yes */
    unsigned order;   /* 0 = unset */
};

struct domain_iothreadpin {
    unsigned iothread;
    char *cpuset;
};

struct domain_def {
    enum domain_type type;
    int id; /* -1 when inactive */
    char *name;
    unsigned char uuid[16];
    char *genid; /* "" = generate (written as <genid/>), NULL = none */
    char *title, *description;
    struct xnode *metadata;

    unsigned long long memory_kib, current_memory_kib, max_memory_kib;
    unsigned max_memory_slots;

    unsigned vcpus;         /* maximum */
    unsigned vcpus_current; /* == vcpus when not given */
    char *vcpu_placement;   /* "static" / "auto" / NULL */
    char *cpuset;
    /* <vcpus>: def->vcpus entries, or NULL when the definition has none (libvirt's
     * individualvcpus unset); vcpus_current is then the number enabled */
    struct domain_vcpu *vcpu_states;
    unsigned iothreads;

    /* <cputune> */
    unsigned long long cpu_shares; /* 0 = unset */
    long long period, quota;       /* 0 = unset */
    struct domain_vcpupin *vcpupins;
    size_t nvcpupins;
    char *emulatorpin;
    struct domain_iothreadpin *iothreadpins;
    size_t niothreadpins;
    struct xnode **cputune_extra;
    size_t ncputune_extra;

    /* <os> */
    char *os_type, *os_arch, *os_machine;
    char *os_loader;              /* path */
    struct xnode *os_loader_node; /* attributes of <loader> (readonly, type, secure) */
    char *os_nvram;
    struct xnode *os_nvram_node;
    char *os_kernel, *os_initrd, *os_cmdline, *os_dtb;
    enum domain_boot_dev boot_devs[DOMAIN_BOOT_LAST];
    size_t nboot_devs;
    int bootmenu;         /* -1 unset, 0 no, 1 yes */
    int bootmenu_timeout; /* -1 unset */
    char *smbios_mode;
    char *bios_useserial;    /* NULL unset */
    int bios_reboot_timeout; /* -2 unset (-1 is a value: never reboot) */
    char *os_firmware;       /* <os firmware='efi'> */
    struct xnode **os_extra;
    size_t nos_extra;

    /* <cpu>: kept, with the numbers validation needs extracted */
    struct xnode *cpu;
    /* 0 = no topology; read-only copies of cpu/topology (edit the node to change them) */
    unsigned cpu_sockets, cpu_dies, cpu_cores, cpu_threads;

    enum domain_lifecycle_action on_poweroff, on_reboot, on_crash;

    /* Kept verbatim in canonical position (NULL when absent). */
    struct xnode *blkiotune, *memtune, *memory_backing, *numatune, *resource, *sysinfo, *bootloader,
        *bootloader_args, *idmap, *features, *clock, *pm, *perf, *keywrap, *launch_security;
    struct xnode **seclabels;
    size_t nseclabels;
    struct xnode *
        *kept; /* other top-level elements libvirt knows (vcpus, iothreadids, ...), verbatim */
    size_t nkept;

    char *emulator;
    struct domain_disk *disks;
    size_t ndisks;
    struct domain_controller *controllers;
    size_t ncontrollers;
    struct domain_net *nets;
    size_t nnets;
    struct domain_device *devices; /* other devices, in canonical order */
    size_t ndevices;
    struct domain_memballoon *memballoon; /* NULL when the definition has none */
    struct domain_rng *rngs;
    size_t nrngs;

    bool generic; /* parsed with DOMAIN_PARSE_GENERIC: no hypervisor defaults */
};

/* Flags for domain_def_parse_*. */
enum {
    DOMAIN_PARSE_VALIDATE = 1 << 0, /* unknown elements/attributes are errors (define --validate) */
    DOMAIN_PARSE_STRICT_NAMES = 1 << 1, /* name must match [A-Za-z0-9_:-]{1,64} */
    DOMAIN_PARSE_LIVE = 1 << 2,         /* keep id= and live-only parts (status XML) */
    /*
     * Only libvirt's generic normalisation, whatever the domain type: what its
     * test driver stores for a type='kvm' domain (no machine, controllers,
     * inputs, balloon or PCI addresses from the QEMU driver; any PCI bus kept).
     * Also right for re-reading XML a driver printed.
     */
    DOMAIN_PARSE_GENERIC = 1 << 3,
};

/* Flags for domain_def_format. */
enum {
    DOMAIN_FORMAT_INACTIVE = 1 << 0, /* omit id= and live-only data */
    DOMAIN_FORMAT_SECURE = 1 << 1,   /* include passwords */
};

/*
 * Parses, validates and normalises a domain definition. Returns 0 and a new
 * definition in *out, or -EINVAL (bad XML or values; err names the element,
 * attribute and value) / other -errno.
 */
int domain_def_parse_string(const char *xml, unsigned flags, struct domain_def **out,
                            struct verr *err);
int domain_def_parse_file(const char *path, unsigned flags, struct domain_def **out,
                          struct verr *err);
/* Canonical XML (malloc'd, ends with a newline). */
char *domain_def_format(const struct domain_def *def, unsigned flags);
struct domain_def *domain_def_copy(const struct domain_def *def);
void domain_def_free(struct domain_def *def);

/* Device hot-plug (vireod's attach/detach): appends a copy of a disk or interface, or removes
 * the i-th one (the others keep their order). */
void domain_def_add_disk(struct domain_def *def, const struct domain_disk *src);
void domain_def_add_net(struct domain_def *def, const struct domain_net *src);
/* Adds another device element (taking the node) in libvirt's device order; re-parse the
 * definition's text to check and normalise it. */
void domain_def_add_device(struct domain_def *def, struct xnode *node);
void domain_def_remove_disk(struct domain_def *def, size_t i);
void domain_def_remove_net(struct domain_def *def, size_t i);

/* <vcpus> (domain_vcpus.c). After def->vcpus or vcpus_current changed (setvcpus --config):
 * the states resized from old_max, then vCPUs enabled (the first disabled ones) or disabled
 * (the last enabled ones) until vcpus_current are, as libvirt. */
void domain_vcpus_resize(struct domain_def *def, unsigned old_max);
/* One vCPU's state (no-op without <vcpus>); vcpus_current follows. */
void domain_vcpus_set(struct domain_def *def, unsigned id, bool enabled, bool hotpluggable,
                      unsigned order);
/* The order a vCPU plugged now gets: one past the highest (the enabled vCPUs numbered by
 * id first when none has one, as libvirt's live XML shows them after a plug). */
unsigned domain_vcpus_next_order(struct domain_def *def);

/* Validation and normalisation again after a caller changed fields (setvcpus, setmem, ...). */
int domain_def_validate(const struct domain_def *def, unsigned flags, struct verr *err);

/* The sum of the <memory> devices' target sizes (KiB): the part of <memory> that is not
 * the initial memory (-m). */
unsigned long long domain_def_memory_devices_kib(const struct domain_def *def);

/* Name rules: libvirt's (non-empty, not all digits, no '/'), plus the strict ones with
 * DOMAIN_PARSE_STRICT_NAMES. */
int domain_name_check(const char *name, unsigned flags, struct verr *err);

void domain_uuid_format(const unsigned char uuid[16], char out[37]);
/* Accepts 32 hex digits with or without dashes (libvirt's forms). Returns 0 or -EINVAL. */
int domain_uuid_parse(const char *s, unsigned char out[16]);
/* RFC 4122 version 4 from getrandom(). Returns 0 or -errno. */
int domain_uuid_generate(unsigned char out[16]);
/* "52:54:00:xx:xx:xx". Returns 0 or -errno. */
int domain_mac_generate(char out[18]);

/* Enum <-> string (NULL / -1 when unknown). */
const char *domain_type_to_string(enum domain_type t);
int domain_type_from_string(const char *s);
const char *domain_lifecycle_action_to_string(enum domain_lifecycle_action a);
int domain_lifecycle_action_from_string(const char *s);
const char *domain_boot_dev_to_string(enum domain_boot_dev d);
int domain_boot_dev_from_string(const char *s);
const char *domain_disk_device_to_string(enum domain_disk_device d);
int domain_disk_device_from_string(const char *s);
const char *domain_disk_source_to_string(enum domain_disk_source s);
int domain_disk_source_from_string(const char *s);
const char *domain_disk_bus_to_string(enum domain_disk_bus b);
int domain_disk_bus_from_string(const char *s);
const char *domain_net_type_to_string(enum domain_net_type t);
int domain_net_type_from_string(const char *s);
const char *domain_controller_type_to_string(enum domain_controller_type t);
int domain_controller_type_from_string(const char *s);

/* A disk target's index: "sda" -> 0, "hdc" -> 2, "vdaa" -> 26 (libvirt's alias numbers);
 * -1 when the name has no known prefix. prefix_end, when not NULL, gets the prefix. */
int domain_disk_name_to_index(const char *name, const char **prefix_end);

/*
 * Memory with libvirt's units: b/bytes, KB/k? ... Returns KiB (rounded up) in *kib.
 * unit NULL means KiB. Returns 0, -EINVAL (unknown unit/not a number) or -ERANGE.
 */
int domain_parse_memory(const char *value, const char *unit, unsigned long long *kib);

#endif
