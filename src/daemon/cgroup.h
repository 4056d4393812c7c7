/*
 * cgroup.h - one control group per running domain, as libvirt lays them
 * out, on either hierarchy the host has.
 *
 * cgroup v1 (a hierarchy per controller: cpu, cpuacct, cpuset, memory,
 * blkio): CTRL/PARTITION/NAME.vireo/{emulator,vcpuN}. The process is in
 * the domain group for memory and blkio (they account per process) and
 * its threads in emulator or vcpuN for cpu, cpuacct and cpuset.
 * cgroup v2 (one hierarchy): PARTITION/NAME.vireo is the domain group
 * (memory, io, cpu.weight) and the root of a threaded subtree whose
 * threaded children emulator and vcpuN hold the threads (cpu.max,
 * cpuset.cpus).
 *
 * NAME.vireo rather than libvirt's NAME.libvirt-qemu: the group is not
 * libvirt's, and a libvirtd on the same host must not take it for one of
 * its own (nor the other way round). PARTITION is "machine" for the
 * system daemon; a daemon with --root uses machine/vireod-HASH (HASH from
 * the root's path) so that daemons under different roots never share a
 * group, and a restarted daemon finds its groups again.
 *
 * Every function here is a few file writes: callable from a start's
 * worker thread (it touches nothing but its arguments) and from the loop.
 */
#ifndef VIREO_DAEMON_CGROUP_H
#define VIREO_DAEMON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct verr;

enum vd_cg_ctrl { VD_CG_CPU, VD_CG_CPUACCT, VD_CG_CPUSET, VD_CG_MEMORY, VD_CG_BLKIO, VD_CG_N };

/* The host's layout, read from /proc/self/mountinfo. */
struct vd_cgroups {
    int version;          /* 1, 2, or 0 when neither is mounted */
    char *mount[VD_CG_N]; /* v1: each controller's mount point, NULL when not mounted */
    char *unified;        /* v2: the cgroup2 mount point */
    bool have[VD_CG_N];   /* the controller can be used (v2: listed in cgroup.controllers) */
    char *partition;      /* relative to each mount: "machine" or "machine/vireod-HASH" */
};

/* Reads the layout; root is the daemon's --root or NULL. Never fails:
 * version 0 means no cgroups (a domain that needs them is refused). */
void vd_cgroups_detect(struct vd_cgroups *cg, const char *root);
void vd_cgroups_copy(struct vd_cgroups *dst, const struct vd_cgroups *src);
void vd_cgroups_free(struct vd_cgroups *cg);
const char *vd_cg_ctrl_name(enum vd_cg_ctrl c);

/* The group of domain name for controller c (sub NULL: the domain group,
 * else "emulator", "vcpu0", ...); malloc'd, NULL when c is unusable. */
char *vd_cg_path(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub);

/*
 * Makes the domain group with emulator and vcpu0..nvcpus-1 and moves the
 * process's threads in: those in vcpu_tids to their vcpuN, the others to
 * emulator. Returns 0 or -errno with a line naming the file.
 */
int vd_cg_domain_create(const struct vd_cgroups *cg, const char *name, pid_t pid,
                        const pid_t *vcpu_tids, size_t nvcpus, struct verr *err);
/* Makes sub-group sub ("iothread1") of the domain's group where missing and moves thread tid
 * into it (an I/O thread, at start or when iothreadadd made it). */
int vd_cg_thread_group(const struct vd_cgroups *cg, const char *name, const char *sub, pid_t tid,
                       struct verr *err);
/* Removes the domain's groups (waiting briefly for the dead process's
 * threads to leave them); nothing when there are none. */
void vd_cg_domain_remove(const struct vd_cgroups *cg, const char *name);
bool vd_cg_domain_exists(const struct vd_cgroups *cg, const char *name);

/* Tunables, by libvirt's meaning; the writer translates for v2. sub as
 * vd_cg_path. A value the kernel refuses is libvirt's line "Invalid value
 * 'V' for 'FILE': REASON". */
int vd_cg_set_shares(const struct vd_cgroups *cg, const char *name, uint64_t shares,
                     struct verr *err);
int vd_cg_get_shares(const struct vd_cgroups *cg, const char *name, uint64_t *shares,
                     struct verr *err);
/* period 0 or quota 0: that one unchanged; quota -1 is "no limit". */
int vd_cg_set_bandwidth(const struct vd_cgroups *cg, const char *name, const char *sub,
                        uint64_t period, int64_t quota, struct verr *err);
int vd_cg_get_bandwidth(const struct vd_cgroups *cg, const char *name, const char *sub,
                        uint64_t *period, int64_t *quota, struct verr *err);
int vd_cg_set_cpus(const struct vd_cgroups *cg, const char *name, const char *sub,
                   const char *cpulist, struct verr *err);

/* The file of controller c for sub, read or written as text. */
int vd_cg_write(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub,
                const char *file, const char *value, struct verr *err);
int vd_cg_read(const struct vd_cgroups *cg, enum vd_cg_ctrl c, const char *name, const char *sub,
               const char *file, char *out, size_t size, struct verr *err);

#endif
