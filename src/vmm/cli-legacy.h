/*
 * cli-legacy.h - QEMU's older networking options, as people still paste them, turned into
 * the -netdev/-device pair they stand for: -nic TYPE[,model=][,mac=][,backend options] and
 * the -net nic / -net user|tap pair (QEMU joins those through a hub; vireo-vmm has none, so
 * exactly one NIC and one back-end are joined directly, and other combinations are refused).
 */
#ifndef VIREO_VMM_CLI_LEGACY_H
#define VIREO_VMM_CLI_LEGACY_H

#include "util/error.h"

struct vmm_config;

int cli_nic(struct vmm_config *cfg, const char *arg, struct verr *err);
/* -net ARG: remembered until cli_net_finish. */
int cli_net(struct vmm_config *cfg, const char *arg, struct verr *err);
/* After the whole command line: the -net options become their -netdev and -device. */
int cli_net_finish(struct vmm_config *cfg, struct verr *err);

#endif
