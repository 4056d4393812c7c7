/*
 * machine-pc.h - the firmware machines pc and q35 (machine-pc.c), called
 * through machine.h's dispatch only.
 */
#ifndef VIREO_VMM_MACHINE_PC_H
#define VIREO_VMM_MACHINE_PC_H

#include "util/error.h"

struct vm;
struct dev_config;
struct machine_config;

/* machine.c's helper: a built-in device config of the named type appended to *list. */
struct dev_config *machine_builtin(const char *type, const char *what, struct dev_config ***list,
                                   unsigned *n);

void machine_pc_builtin_devices(const struct machine_config *mc, const char *serial_chardev,
                                const char *serial_what, struct dev_config ***list, unsigned *n);
int machine_pc_create(struct vm *vm, struct verr *err);
int machine_pc_load_boot(struct vm *vm, struct verr *err);
void machine_pc_destroy(struct vm *vm);

#endif
