/*
 * cli-blockdev.h - vireo-vmm's -blockdev (JSON or key=value), through QMP blockdev-add's
 * code; see cli-blockdev.c.
 */
#ifndef VIREO_VMM_CLI_BLOCKDEV_H
#define VIREO_VMM_CLI_BLOCKDEV_H

#include "util/error.h"

struct vmm_config;

int cli_blockdev(struct vmm_config *cfg, const char *arg, struct verr *err);

#endif
