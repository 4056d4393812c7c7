/*
 * domain_priv.h - internals shared by the files of src/conf that build a
 * domain definition (not for users of src/conf).
 *
 * The layers, each calling only the ones below it, as libvirt splits them:
 *
 *   domain_validate.c      re-checks a changed definition through its text form
 *   domain_parse.c         XML -> struct, then domain_def_post_parse
 *   domain_format.c        struct -> canonical XML
 *   domain_postparse.c     libvirt's generic post-parse (every domain type)
 *   domain_kvm_defaults.c  what libvirt's QEMU driver adds for kvm/qemu domains
 *   domain_addr.c          device addresses: drive, virtio-serial, PCI, USB
 *   domain_typed.c         typed views of kept devices (memballoon, rng)
 *   domain_devices.c       the device lists (order, lookups, controllers)
 *   domain_util.c          enums, UUIDs, MACs, freeing
 */
#ifndef VIREO_CONF_DOMAIN_PRIV_H
#define VIREO_CONF_DOMAIN_PRIV_H

#include "conf/domain_conf.h"

/* ---- domain_vcpus.c ---- */

int domain_vcpus_parse(const struct xnode *n, struct domain_def *def, bool validate,
                       struct verr *err);
int domain_vcpus_post_parse(struct domain_def *def, bool kvm, struct verr *err);
void domain_vcpus_format(struct buf *b, const struct domain_def *def);

/* ---- domain_numa.c ---- */

/* Checks <cpu><numa>'s cell caches and interconnects (the HMAT) and rewrites them to
 * libvirt's canonical form. */
int domain_numa_hmat_post_parse(struct xnode *numa, struct verr *err);

/* ---- domain_util.c ---- */

void domain_disk_clear(struct domain_disk *d);
void domain_net_clear(struct domain_net *n);
void domain_controller_clear(struct domain_controller *c);

/* ---- domain_devices.c ---- */

/* Rank of a device element in libvirt's canonical <devices> order. */
int domain_device_rank(const char *element);
/* Appends a device (taking the node) keeping canonical order. */
void domain_device_append(struct domain_def *def, struct xnode *node);
size_t domain_device_count(const struct domain_def *def, const char *name);
/* The nth device element called name, or NULL. */
struct xnode *domain_device_nth(const struct domain_def *def, const char *name, size_t nth);
struct domain_controller *domain_controller_find(struct domain_def *def,
                                                 enum domain_controller_type type, unsigned index);
/* Inserts keeping controllers of one type together and by index (libvirt's order). */
struct domain_controller *domain_controller_add(struct domain_def *def,
                                                enum domain_controller_type type, unsigned index,
                                                const char *model);
void domain_controller_ensure(struct domain_def *def, enum domain_controller_type type,
                              unsigned index, const char *model);
/* ICH9 USB companion controllers (they share one slot and may share an index). */
bool domain_usb_companion(const char *model);
/* Whether attribute attr of n is one of the NULL-terminated list. */
bool domain_attr_is(const struct xnode *n, const char *attr, const char *const *list);
/* Puts the attributes of a video <model> in libvirt's order. */
void domain_video_model_order(struct xnode *model);

/* ---- domain_postparse.c ---- */

/* Fills defaults, implied devices and addresses (libvirt's post-parse), then validates. */
int domain_def_post_parse(struct domain_def *def, unsigned flags, struct verr *err);

/* ---- domain_kvm_defaults.c ---- */

/* The machine families the KVM defaults know. */
enum domain_machine {
    DOMAIN_MACHINE_PC,      /* pc, pc-i440fx-*: PIIX3 */
    DOMAIN_MACHINE_Q35,     /* q35, pc-q35-*: ICH9, PCIe */
    DOMAIN_MACHINE_MICROVM, /* microvm: vireo-vmm's machine (flat PCIe bus, no PIIX/ICH9) */
    DOMAIN_MACHINE_OTHER,
};
/* Whether libvirt's QEMU driver defaults and checks apply (kvm/qemu, not DOMAIN_PARSE_GENERIC). */
bool domain_kvm_applies(const struct domain_def *def);
enum domain_machine domain_machine_of(const struct domain_def *def);
bool domain_machine_is_q35(const struct domain_def *def);
/* Model of the PCI controller with index 0 on this machine ("pci-root" or "pcie-root"). */
const char *domain_machine_pci_root_model(const struct domain_def *def);
/* Before the device passes: the machine type and the nvram path. */
void domain_kvm_domain_defaults(struct domain_def *def);
/* After the generic device passes: what the machine brings and the driver's device defaults. */
int domain_kvm_device_defaults(struct domain_def *def, struct verr *err);
/* After the generic implied controllers: their models, and the root model check. */
int domain_kvm_controller_defaults(struct domain_def *def, struct verr *err);

/* ---- domain_addr.c ---- */

/* Drive addresses from the target names (generic: libvirt's test driver does it too). */
void domain_addr_assign_drives(struct domain_def *def);
/* Ports 1, 2, ... of virtio-serial controller 0 for virtio channels (QEMU driver). */
void domain_addr_assign_virtio_serial(struct domain_def *def);
/* Refuses duplicate PCI addresses (every type); for kvm/qemu also checks buses and assigns the
 * missing addresses in libvirt's QEMU driver's order. */
int domain_addr_assign_pci(struct domain_def *def, struct verr *err);
/* USB ports 1..n on controller 0 for USB devices (QEMU driver). */
void domain_addr_assign_usb(struct domain_def *def);
/* The <address> child of a device element (type NONE when absent, OTHER when not PCI). */
int domain_addr_of_node(const struct xnode *n, struct domain_address *a, struct verr *err);

/* ---- domain_typed.c ---- */

/* Fills def->memballoon and def->rngs from their device elements. */
int domain_typed_devices_fill(struct domain_def *def, struct verr *err);
void domain_memballoon_free(struct domain_memballoon *b);
void domain_rng_clear(struct domain_rng *r);
struct domain_memballoon *domain_memballoon_copy(const struct domain_memballoon *b);
void domain_rng_copy(struct domain_rng *dst, const struct domain_rng *src);

#endif
