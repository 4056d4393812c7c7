/*
 * iotune.h - a disk's <iotune> (libvirt's per-disk I/O limits) in the three
 * forms vireod speaks: the definition's element, blkdeviotune's typed
 * parameters (virDomainSet/GetBlockIoTune, libvirt's names and order), and
 * vireo-vmm's -drive throttling.* options and QMP block_set_io_throttle
 * arguments. The limits themselves are applied inside vireo-vmm's block path
 * (cgroup throttling does not see I/O through the page cache).
 */
#ifndef VIREO_DAEMON_IOTUNE_H
#define VIREO_DAEMON_IOTUNE_H

#include <stdbool.h>
#include <stdint.h>

struct domain_disk;
struct json_object;
struct verr;

/* libvirt's parameters, in the order its QEMU driver reports them. */
#define VD_IOTUNE_N     20
#define VD_IOTUNE_GROUP 13 /* group_name: a string, the others are unsigned long long */
extern const char *const vd_iotune_names[VD_IOTUNE_N];

struct vd_iotune {
    uint64_t v[VD_IOTUNE_N]; /* 0: unset (v[VD_IOTUNE_GROUP] unused) */
    char *group;             /* NULL: none */
};

/* The disk's <iotune> (all zero without one); an unknown child or a bad number is refused. */
int vd_iotune_from_disk(const struct domain_disk *d, struct vd_iotune *out, struct verr *err);
/* Replaces the disk's <iotune> (removed when nothing is set). */
void vd_iotune_to_disk(struct domain_disk *d, const struct vd_iotune *t);
bool vd_iotune_enabled(const struct vd_iotune *t);
void vd_iotune_free(struct vd_iotune *t);
/* libvirt's checks and words (total with read/write, a max below its rate, ...). */
int vd_iotune_check(const struct vd_iotune *t, struct verr *err);
/* ",throttling.bps-total=N,..." for -drive (malloc'd; "" when nothing is set). */
char *vd_iotune_drive_opts(const struct vd_iotune *t);
/* block_set_io_throttle's arguments for the drive (device=drive_id). */
struct json_object *vd_iotune_qmp_args(const struct vd_iotune *t, const char *drive_id);

#endif
