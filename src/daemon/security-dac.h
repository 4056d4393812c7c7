/*
 * security-dac.h - libvirt's DAC security driver for vireod's VMs: with
 * `user`/`group` set in the configuration (qemu.conf's keys) to someone other
 * than root, the VM's vireo-vmm becomes that user after set-up (-runas), and
 * the daemon gives the user exactly the VM's writable images for the run
 * (dynamic_ownership) and gives them back at stop. The owner before the
 * start is remembered in the image's extended attributes
 * (trusted.vireo.security.dac, with a reference count in
 * trusted.vireo.security.ref_dac: libvirt's remember_owner), so two VMs on
 * one shareable image and a daemon restart in between restore the right
 * owner. The files labelled for a domain are listed in RUN_DIR/NAME.dac so
 * the restore needs no definition.
 *
 * The VM's sockets (QMP, console, VNC) are not relabelled: vireo-vmm creates
 * them as root before it drops to the user and keeps their descriptors.
 * TODO: a CD-ROM medium changed while the VM runs (change-media, QMP
 * blockdev-change-medium) is opened by the VMM as the user without being
 * labelled (a world-readable ISO works; a root-only one is refused), and
 * DOMAIN_GET_SECURITY_LABEL_LIST is not answered yet.
 */
#ifndef VIREO_DAEMON_SECURITY_DAC_H
#define VIREO_DAEMON_SECURITY_DAC_H

#include "conf/domain_conf.h"

#include <stdbool.h>
#include <sys/types.h>

struct verr;

struct vd_dac {
    long uid, gid;          /* -1: root (no -runas, no relabelling) */
    bool dynamic_ownership; /* qemu.conf's dynamic_ownership (default 1) */
};

/* Resolves qemu.conf's user/group spelling: a name, or +N for a number. */
int vd_dac_parse_user(const char *v, long *uid, long *primary_gid, struct verr *err);
int vd_dac_parse_group(const char *v, long *gid, struct verr *err);

/*
 * The identity def's VMM runs under: dac (qemu.conf's user and group), or the user:group of
 * a <seclabel type='static' model='dac'><label>USER:GROUP</label> (names or +N) of its own,
 * whose images are given to it only with relabel='yes' (libvirt's default for static labels
 * is no). Returns 0, or -EINVAL with libvirt's line for a label it cannot parse.
 */
struct domain_def;
int vd_dac_for_domain(const struct vd_dac *dac, const struct domain_def *def, struct vd_dac *out,
                      struct verr *err);

/* Whether VMs run confined to a user (and the -runas argument, "UID:GID"). */
bool vd_dac_active(const struct vd_dac *dac);

/*
 * Chowns each writable disk image of def (the definition with volumes
 * resolved) to the user, remembering its owner, and lists it in
 * RUN_DIR/NAME.dac. Read-only disks and backing files keep their owner (the
 * VMM opens them before it drops root). On failure, what was changed is given
 * back. Returns 0 or -errno with one line in err.
 */
int vd_dac_label(const struct vd_dac *dac, const char *run_dir, const struct domain_def *def,
                 struct verr *err);

/*
 * The live definition's DAC label, as libvirt's DAC driver reports it:
 * <seclabel type='dynamic' model='dac' relabel='yes'> with <label> and
 * <imagelabel> +UID:+GID (the user the VMM runs as, +0:+0 for root), added
 * when the definition has no label and (re)set on a dynamic DAC one.
 */
void vd_dac_live_label(const struct vd_dac *dac, struct domain_def *def);

/* One more file for a running domain, which the VMM opens next, after it dropped root (an
 * external snapshot's overlay, a hot-plugged disk, a changed CD-ROM medium, read-only or
 * not): labelled for def's identity (vd_dac_for_domain) as vd_dac_label does, and added to
 * the domain's list, given back when the domain stops.
 * TODO(#17): given back at detach or eject rather than at the stop. */
int vd_dac_label_file(const struct vd_dac *dac, const char *run_dir, const struct domain_def *def,
                      const char *path, struct verr *err);

/* Gives back what vd_dac_label took for the domain; no-op when nothing was. */
void vd_dac_restore(const char *run_dir, const char *name);

#endif
