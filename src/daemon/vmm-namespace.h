/*
 * vmm-namespace.h - qemu.conf's namespaces = [ "mount" ]: each vireo-vmm runs in a mount
 * namespace of its own whose /dev is a small tmpfs holding only the nodes its domain needs
 * (libvirt's private /dev for QEMU, the Firecracker jailer's idea).
 *
 * The plan is made by the daemon before the spawn, from the domain (its disks under /dev,
 * whether it has tap NICs) and the host (which of the nodes and mounts exist, their owners
 * and modes, taken after the images were labelled for the VM's user). The spawned child
 * carries it out between fork and exec with system calls only (the daemon has threads):
 * a new mount namespace whose mounts are slaves of the host's (host mounts still reach it,
 * nothing of its own leaks out), clones of /dev/pts, /dev/shm, /dev/mqueue and
 * /dev/hugepages taken while the host's /dev is still visible, a tmpfs on /dev, the nodes
 * made again with their numbers, owners and modes, the symbolic links that lead to them,
 * and the clones put back. Any failure ends the child before exec: the namespace dies with
 * it, and the host is never touched.
 *
 * A device node the VMM is given later (a hot-plugged block device, a CD-ROM medium that
 * is a device) is made in the running VMM's namespace by a forked child that enters it
 * through the VMM's pidfd (setns), as libvirt's helper does.
 *
 * TODO(#17): the node of an ejected or replaced CD-ROM medium stays in the VM's /dev until
 * the VM ends (a detached disk's goes); PID and network namespaces are not offered.
 */
#ifndef VIREO_DAEMON_VMM_NAMESPACE_H
#define VIREO_DAEMON_VMM_NAMESPACE_H

#include <stdbool.h>
#include <sys/types.h>

struct domain_def;
struct verr;
struct vd_ns_plan;

/*
 * The private /dev for def's VMM (def with volumes resolved). mem_path is the huge-page
 * mount the VMM maps its memory from, or NULL. Returns 0, or -errno with one line in err
 * (a disk's node that cannot be read, a /dev path that is not a device).
 */
int vd_ns_plan_make(const struct domain_def *def, const char *mem_path, struct vd_ns_plan **out,
                    struct verr *err);
void vd_ns_plan_free(struct vd_ns_plan *plan);

/* What went wrong in a child, written to the daemon through a pipe: errno and the step. */
struct vd_ns_failure {
    int err;
    char what[300];
};

/*
 * In the spawned child, between fork and exec (async-signal-safe calls only): the process
 * enters a mount namespace of its own with the private /dev of plan. Returns 0, or -1 with
 * f filled.
 */
int vd_ns_enter(struct vd_ns_plan *plan, struct vd_ns_failure *f);

/*
 * Whether the process behind pidfd (pid) runs in a mount namespace other than the
 * daemon's. False when it cannot be told (the process is gone).
 */
bool vd_ns_is_private(int pidfd, pid_t pid);

/*
 * Makes path (a /dev path: the node, the links that lead to it, their directories) in the
 * mount namespace of the process behind pidfd, as it is on the host. A path outside /dev
 * is left alone (the namespace shares the host's files). Returns 0 or -errno with err.
 */
int vd_ns_add_path(int pidfd, const char *path, struct verr *err);

/*
 * The opposite, once the VMM no longer uses path (a detached disk): the node and the links
 * leading to it go from the namespace of the process behind pidfd (its directories stay).
 */
int vd_ns_remove_path(int pidfd, const char *path, struct verr *err);

/* Whether path is one the private /dev must hold for the VMM (it is under /dev/). */
bool vd_ns_path_is_dev(const char *path);

#endif
