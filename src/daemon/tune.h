/*
 * tune.h - a domain's CPU placement applied to its vireo-vmm: the
 * <cputune> and <vcpu cpuset> of the definition at start, and libvirt's
 * live changes (schedinfo, vcpupin, emulatorpin) afterwards.
 *
 * Placement is applied twice over, as libvirt does: each thread's
 * affinity (sched_setaffinity on the thread ids QMP query-cpus-fast gave)
 * and the cpuset of its group (cgroup.h); shares and CPU bandwidth live
 * in the groups only. A start applies everything after the VMM is built
 * and before its vCPUs first run, so the guest never runs unplaced.
 */
#ifndef VIREO_DAEMON_TUNE_H
#define VIREO_DAEMON_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/cgroup.h"
#include "daemon/vmm-driver.h"

struct domain_def;
struct xnode;
struct vd_daemon;
struct verr;

/* libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, in KiB. */
#define VD_MEMORY_UNLIMITED 9007199254740991ULL

/* <memtune>, in KiB; 0 when unset. */
struct vd_memtune {
    uint64_t hard, soft, swap;
};

/* Reads <memtune> (NULL: nothing set); refuses min_guarantee as libvirt's QEMU driver does
 * and a value it cannot read. */
int vd_memtune_from_def(const struct xnode *memtune, struct vd_memtune *out, struct verr *err);
/* Writes the limits (0: unchanged; VD_MEMORY_UNLIMITED: none) into the domain's memory
 * group, the swap limit after or before the hard one as the kernel needs. */
int vd_memtune_apply(const struct vd_cgroups *cg, const char *name, const struct vd_memtune *m,
                     struct verr *err);
/* The limits in force, in KiB (VD_MEMORY_UNLIMITED when none). */
int vd_memtune_read(const struct vd_cgroups *cg, const char *name, struct vd_memtune *m,
                    struct verr *err);

/* <blkiotune> (domain-blkiotune.c). Keys of the per-device settings: weight, read/write
 * IOPS, read/write bytes per second; their typed parameters are "device_<key>". */
#define VD_BLKIO_NKEYS 5
const char *vd_blkiotune_param_name(int key);
int vd_blkiotune_param_key(const char *param); /* -1: not a device parameter */
/* Refuses a weight out of [100, 1000] and a device path that is not a block device, with
 * libvirt's lines. */
int vd_blkiotune_check(const struct xnode *blk, struct verr *err);
/* Writes the weight (when weight) and the devices' settings (only_path's alone, or all)
 * into the domain's blkio group. */
int vd_blkiotune_apply(const struct vd_cgroups *cg, const char *name, const struct xnode *blk,
                       bool weight, const char *only_path, struct verr *err);
int vd_blkiotune_weight_read(const struct vd_cgroups *cg, const char *name, unsigned *weight,
                             struct verr *err);
/* "path,value,..." of the devices that set key (malloc'd; "" for none). */
char *vd_blkiotune_devices_string(const struct xnode *blk, int key);
/* Sets the weight (key -1) or merges a "path,value,..." list of key into *blk (made when
 * NULL); a value of 0 removes the setting. */
int vd_blkiotune_update(struct xnode **blk, int key, const char *list, unsigned weight,
                        struct verr *err);

/* A thread's scheduler from <vcpusched>, <iothreadsched> or <emulatorsched>
 * (domain-sched.c); policy -1: none asked for. */
struct vd_sched {
    int policy; /* SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE */
    int priority;
};

/* What a start applies, copied out of the definition (a worker thread uses it). */
struct vd_tune_plan {
    char *name;
    size_t nvcpus;
    uint64_t shares;
    uint64_t period, emulator_period, global_period; /* 0: unset */
    int64_t quota, emulator_quota, global_quota;     /* 0: unset */
    char **vcpu_cpus;                                /* nvcpus lists, NULL: every CPU */
    char *emulator_cpus;
    size_t niothreads;        /* <iothreads> */
    char **iothread_cpus;     /* by id - 1: <iothreadpin>, or <vcpu cpuset>, or NULL */
    uint64_t iothread_period; /* 0: unset */
    int64_t iothread_quota;   /* 0: unset */
    struct vd_memtune mem;
    char *mems;              /* <numatune><memory nodeset>: the groups' cpuset.mems, or NULL */
    struct xnode *blkiotune; /* a copy of <blkiotune>, or NULL */
    /* the schedulers (domain-sched.c): vCPUs by index, I/O threads by id - 1 */
    struct vd_sched *vcpu_sched;
    struct vd_sched *iothread_sched;
    struct vd_sched emulator_sched;
    bool any_sched;
    struct vd_cgroups cg;
};

/* The daemon's cgroup layout, read once. */
const struct vd_cgroups *vd_daemon_cgroups(struct vd_daemon *d);

/* A plan for def; refuses what cannot be applied on this host (a CPU it
 * lacks, a tunable whose controller is missing) with libvirt's line. */
int vd_tune_plan_make(const struct domain_def *def, const struct vd_cgroups *cg,
                      struct vd_tune_plan **out, struct verr *err);
void vd_tune_plan_free(struct vd_tune_plan *p);
/* Makes the groups, moves the threads, writes the tunables and affinities. */
int vd_tune_apply(const struct vd_tune_plan *p, pid_t pid, const pid_t *vcpu_tids, size_t n,
                  const struct vd_iothread_tid *iothreads, size_t niothreads, struct verr *err);

/* Fills the plan's schedulers from the definition; refuses a priority out of the host's
 * range with libvirt's line. */
int vd_sched_plan(const struct domain_def *def, struct vd_tune_plan *p, struct verr *err);
/* Sets the schedulers on the threads (the emulator's on every thread of pid that is neither
 * a vCPU nor an I/O thread); a thread without its own goes back to SCHED_OTHER when it had
 * inherited another. A refusal names the thread and why. */
int vd_sched_apply(const struct vd_tune_plan *p, pid_t pid, const pid_t *vcpu_tids, size_t n,
                   const struct vd_iothread_tid *iothreads, size_t niothreads, struct verr *err);
/* One I/O thread's scheduler (iothreadadd). */
int vd_sched_apply_iothread(const struct vd_tune_plan *p, unsigned id, pid_t tid, struct verr *err);

/* <memoryBacking><hugepages/>: the hugetlbfs mount to back guest RAM from (malloc'd in
 * *mem_path, NULL when the definition asks for none); refuses a missing mount or a
 * shortfall of free pages with one line. */
int vd_hugepages_prepare(const struct domain_def *def, char **mem_path, struct verr *err);

/* <memoryBacking><source type='file'/> (memory-dir.c): whether guest RAM goes in files of
 * qemu.conf's memory_backing_dir (not with <hugepages/>, which win, as libvirt); the
 * domain's directory there, MEMORY_DIR/ID-NAME as libvirt names it (malloc'd); making it
 * (and MEMORY_DIR), given to uid/gid when uid >= 0; removing every ID-NAME of a domain
 * with its files (the VM ended, or its start failed, or a daemon restart found it dead). */
bool vd_memory_dir_wanted(const struct domain_def *def);
char *vd_memory_dir_path(const char *memory_dir, int id, const char *name);
int vd_memory_dir_make(const char *memory_dir, const char *path, long uid, long gid,
                       struct verr *err);
void vd_memory_dir_remove(const char *memory_dir, const char *name);

/* The host's online CPUs as a cpulist ("0-1") and their count bound. */
int vd_host_cpus(char *out, size_t size);
/* A thread's affinity as a bitmap of maplen bytes (libvirt's cpumap). */
int vd_thread_affinity(pid_t tid, unsigned char *map, int maplen);
/* Sets a thread's affinity to cpulist; libvirt's line on failure. */
int vd_thread_pin(pid_t tid, const char *cpulist, struct verr *err);
/* Checks cpulist against the host's online CPUs: libvirt's cpuset line. */
int vd_check_host_cpus(const char *cpulist, struct verr *err);

#endif
