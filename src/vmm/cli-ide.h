/*
 * cli-ide.h - QEMU's IDE drive options: -drive if=ide[,index=N], -hda/-hdb/-hdc/-hdd FILE
 * and -cdrom FILE. On q35 they become ide-hd and ide-cd devices on the built-in AHCI
 * controller's ports (QEMU's q35 puts index N on bus ide.N); the machine type is known only
 * after the whole command line, so the drives are remembered until cli_ide_finish.
 */
#ifndef VIREO_VMM_CLI_IDE_H
#define VIREO_VMM_CLI_IDE_H

#include "util/error.h"

#include <stdbool.h>

struct vmm_config;

/* A -drive if=ide: drive is its index in the backends, index its index= (-1: not given). */
struct cli_ide_drive {
    unsigned drive;
    int index;
    bool cdrom;
    char *what; /* "-drive ARG", for errors */
};

/* Remembers drive `drive` (already in cfg->backends) as an IDE drive. */
void cli_ide_add(struct vmm_config *cfg, unsigned drive, int index, bool cdrom, const char *arg);
/* -hda/-hdb/-hdc/-hdd (index 0-3) and -cdrom (index 2): the -drive they stand for. */
int cli_ide_legacy(struct vmm_config *cfg, const char *opt, const char *file, struct verr *err);
/* After the whole command line: the IDE drives become their devices, or are refused. */
int cli_ide_finish(struct vmm_config *cfg, struct verr *err);
void cli_ide_free(struct vmm_config *cfg);

#endif
