/*
 * vmm-argv.h - turns a domain definition into vireo-vmm's command line.
 *
 * Kept apart from the daemon so that it is a pure function (definition and
 * paths in, argument vector out) with golden tests, like libvirt's
 * qemuxml2argv: tests/unit/daemon/ holds XML files and the argv expected.
 */
#ifndef VIREO_DAEMON_VMM_ARGV_H
#define VIREO_DAEMON_VMM_ARGV_H

#include "conf/domain_conf.h"

struct verr;

struct vmm_argv_paths {
    const char *vmm;     /* argv[0]: the vireo-vmm binary */
    const char *qmp;     /* QMP socket */
    const char *console; /* the serial port's unix socket */
    const char *pidfile;
    const char *vnc_socket; /* a VNC <listen type='socket'> without a socket= (may be NULL) */
    /* The tap descriptors of the interfaces, vmm_argv_net_nfds(def) of them: interface i's
     * vmm_argv_net_queues from vmm_argv_net_fd_index(def, i) on (one, -1 for a user-mode
     * one; N for <driver queues='N'/>, the queues of one multiqueue tap); NULL when there are
     * none (then a tap interface is refused). */
    const int *net_fds;
    /* qemu.conf's vnc_tls: the x509 directory every VNC display's credentials come from, and
     * whether clients must present a certificate; NULL: no TLS. */
    const char *vnc_tls_dir;
    bool vnc_tls_verify;
    /* <encryption format='luks'> disks: the 32-byte master key's file (0600, the domain's run
     * directory) and, per disk of the definition, its passphrase AES-256-CBC-encrypted under
     * that key and the IV, both base64 (NULL for a disk without encryption). libvirt's way:
     * no passphrase on the command line. NULL when no disk is encrypted. */
    const char *master_key;
    char *const *disk_secret_data, *const *disk_secret_iv;
    /* <memoryBacking><source type='file'/>: the domain's directory in memory_backing_dir
     * (memory-dir.c), where each memory backend's file goes; NULL refuses file memory. */
    const char *memory_dir;
};

/* The disk's <encryption> element, or NULL. */
const struct xnode *vmm_argv_disk_encryption(const struct domain_disk *d);

/* The tap descriptors interface n takes: <driver queues='N'/> with N > 1 on a tap, else 1. */
unsigned vmm_argv_net_queues(const struct domain_net *n);
/* The <console> with target type 'virtio', or NULL: when there is one it is the domain's
 * console, on the daemon's console socket, and the guest has no COM1. */
const struct xnode *vmm_argv_virtio_console(const struct domain_def *def);
/* Where interface i's descriptors start in net_fds, and how many there are in all. */
size_t vmm_argv_net_fd_index(const struct domain_def *def, size_t i);
size_t vmm_argv_net_nfds(const struct domain_def *def);

/* -smp's count: the enabled non-hotpluggable vCPUs of <vcpus>, else <vcpu current>. */
unsigned vmm_argv_boot_vcpus(const struct domain_def *def);
/* The enabled hotpluggable vCPUs of <vcpus> in the order they are plugged at start
 * (device_add before the guest runs, vmm-start.c): *ids (free it), their count. */
size_t vmm_argv_plug_vcpus(const struct domain_def *def, unsigned **ids);

/*
 * Builds the NULL-terminated argument vector in *out (free with
 * vmm_argv_free). Refuses, with one error line naming the element, what
 * vireo-vmm cannot do yet (disks, interfaces, graphics, ...) instead of
 * dropping it. Returns 0 or -errno.
 */
int vmm_argv_build(const struct domain_def *def, const struct vmm_argv_paths *paths, char ***out,
                   struct verr *err);
void vmm_argv_free(char **argv);
/* The -drive id the command line gives the i-th disk of a definition (libvirt's
 * drive-virtio-diskN, drive-scsiC-B-T-U): how the VMM's block queries name it. */
struct domain_disk;
char *vmm_argv_drive_id(const struct domain_disk *d, size_t i);
/* The -object text of the backend memdimmN of a DIMM of kib KiB on guest node (may be NULL), as
 * the command line gives it (memory_dir: the domain's memory directory, for file memory);
 * hotplug.c sends it as object-add. malloc'd, or NULL with err set. */
char *vmm_argv_dimm_backend(const struct domain_def *def, const char *memory_dir, size_t nth,
                            const char *node, unsigned long long kib, struct verr *err);
/* A <controller type='pci' model='pcie-root-port'> (its bus pci.N takes hot-plugged devices). */
bool vmm_argv_is_root_port(const struct domain_controller *c);
/* The device id of a disk on a controller (libvirt's alias: scsiC-B-T-U, sataC-B-U), or NULL
 * for a disk that is a PCI device of its own. malloc'd. */
char *vmm_argv_disk_alias(const struct domain_disk *d);
/* The detect-zeroes word for a disk's <driver detect_zeroes>, or NULL when it has none: as
 * libvirt 9.0, unmap without discard='unmap' becomes on (QEMU refuses unmap without it). */
const char *vmm_argv_detect_zeroes(const struct domain_disk *d);
/* Refuses lifecycle actions the daemon cannot carry out (core dumps,
 * rename-restart), naming the element. Returns 0 or -ENOTSUP. */
int vmm_argv_check_lifecycle(const struct domain_def *def, struct verr *err);

#endif
