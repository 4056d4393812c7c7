/*
 * vmm-firmware.h - the firmware part of a domain's vireo-vmm command line:
 * <os><loader> and <nvram> (pflash drives or -bios) and <sysinfo
 * type='smbios'> with <os><smbios mode='sysinfo'> (-smbios), as libvirt's
 * QEMU driver writes them. A pure function of the definition (vmm-argv.c
 * calls it); unit-tested with golden argv in tests/unit/daemon.
 */
#ifndef VIREO_DAEMON_VMM_FIRMWARE_H
#define VIREO_DAEMON_VMM_FIRMWARE_H

#include "conf/domain_conf.h"

#include <stddef.h>

struct verr;

/* Appends the options (each a malloc'd string) to the NULL-terminated vector *argv of *n
 * entries. Refuses with one line what cannot be honoured (<smbios mode='host'>, a loader
 * type other than rom and pflash, <nvram> without a pflash loader). Returns 0 or -errno. */
int vmm_firmware_argv(const struct domain_def *def, char ***argv, size_t *n, struct verr *err);

#endif
