/*
 * nvram.h - a domain's UEFI variable store (<os><nvram>) as vireod keeps it:
 * libvirt's default path moved into vireod's own nvram directory, and the
 * per-domain copy made from <nvram template=...> at start when the file is
 * missing.
 */
#ifndef VIREO_DAEMON_NVRAM_H
#define VIREO_DAEMON_NVRAM_H

#include "conf/domain_conf.h"

struct verr;

/* The domain layer's default <nvram> (libvirt's /var/lib/libvirt/qemu/nvram/NAME_VARS.fd,
 * which the parser fills in for a pflash <loader>) becomes DIR/NAME_VARS.fd when DIR (vireod's
 * nvram directory) is another one. A path the user wrote is kept. */
void vd_nvram_default_path(struct domain_def *def, const char *dir);

/* Before a start: when <nvram> names a file that does not exist, copies its template= there
 * (atomically, mode 0600, creating the directory). No template and no file: refused with one
 * line, as libvirt refuses it. Returns 0 or -errno. */
int vd_nvram_prepare(const struct domain_def *def, struct verr *err);

#endif
