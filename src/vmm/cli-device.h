/*
 * cli-device.h - -device on vireo-vmm's command line: QEMU's
 * DRIVER[,PROP=VALUE...] parsed generically against the device type's
 * property table (vmm/dev/device.h) into a struct dev_config, -device help
 * and -device DRIVER,help, and the step after every option that adds the
 * machine's built-in devices and resolves buses and backends.
 */
#ifndef VIREO_VMM_CLI_DEVICE_H
#define VIREO_VMM_CLI_DEVICE_H

#include "util/error.h"

struct vmm_config;
struct dev_config;

#define VMM_MAX_DEVICES 64 /* -device and -drive if=virtio devices in one VM */

/* -device ARG (or help). */
int cli_device(struct vmm_config *cfg, const char *arg, struct verr *err);
/* Appends c (taken over, freed on error) to the configuration's devices. */
int cli_add_device(struct vmm_config *cfg, struct dev_config *c, struct verr *err);
/* After every option: COM1's back-end, the machine's built-in devices (first in the list),
 * then buses, backends and each type's checks (dev_configs_finish). */
int cli_devices_finish(struct vmm_config *cfg, struct verr *err);

#endif
