/*
 * cli-backends.h - the backend options of vireo-vmm's command line, in
 * QEMU's syntax: -drive file=,format=,if=none|virtio,id=,node-name=,cache=,
 * readonly=,discard=,aio=; -netdev user,id=,... | tap,id=,ifname=|fd=,...;
 * -chardev BACKEND,id=ID,... (parsed by chardev_parse_opts). They fill the
 * configuration's struct vm_backends (vmm/backends.h), which devices name by
 * id. Pure parsing, no I/O.
 */
#ifndef VIREO_VMM_CLI_BACKENDS_H
#define VIREO_VMM_CLI_BACKENDS_H

#include "util/error.h"
#include "vmm/backends.h"

#include <stdbool.h>

struct vmm_config;

/* -drive ARG; if=virtio also adds a virtio-blk-pci device on it, as QEMU does. */
int cli_drive(struct vmm_config *cfg, const char *arg, struct verr *err);
/* -netdev user,id=ID[,hostfwd=tcp::H-:G]... | tap,id=ID,ifname=NAME|fd=N[,script=no,...]. */
int cli_netdev(struct vm_backends *be, const char *arg, struct verr *err);
/* -chardev ARG. */
int cli_chardev(struct vm_backends *be, const char *arg, struct verr *err);
/* Once -serial's default is known: stdio serves one chardev, and none with -daemonize. */
int cli_chardev_check(const struct vm_backends *be, const struct chardev_spec *serial,
                      bool daemonize, struct verr *err);

#endif
