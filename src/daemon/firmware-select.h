/*
 * firmware-select.h - <os firmware='efi'>: libvirt's firmware autoselection
 * from QEMU's firmware descriptors (docs/interop/firmware.json), for
 * vireo-vmm's machines.
 */
#ifndef VIREO_DAEMON_FIRMWARE_SELECT_H
#define VIREO_DAEMON_FIRMWARE_SELECT_H

#include "conf/domain_conf.h"
#include "util/buf.h"

struct verr;

/* The descriptor directories, highest precedence first: ROOT/etc/qemu/firmware when the daemon
 * has a --root (NULL otherwise), /etc/qemu/firmware, /usr/share/qemu/firmware. */
void vd_firmware_set_root(const char *root);

/* At define: libvirt's "UEFI requires ACPI on this architecture" for firmware='efi' without
 * <features><acpi/>. */
int vd_firmware_check(const struct domain_def *def, struct verr *err);

/* At start, on the live definition: firmware='efi' without a <loader> path becomes the first
 * descriptor (by file name) that vireo-vmm can run for the machine and the <os><firmware>
 * features asked for: <loader readonly='yes' type='pflash'>, <nvram template=> at the
 * default store (nvram_dir/NAME_VARS.fd), the firmware attribute and element dropped, as
 * libvirt's live XML shows them. None: libvirt's "Unable to find any firmware to satisfy
 * 'efi'". firmware='bios' is SeaBIOS, vireo-vmm's default: nothing to fill. */
int vd_firmware_fill(struct domain_def *def, const char *nvram_dir, struct verr *err);

/* domcapabilities: the firmware enum's values and the <loader> paths for machine. */
void vd_firmware_domcaps(struct buf *b, const char *machine);

#endif
