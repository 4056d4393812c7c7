/*
 * storage.h - vireod's storage driver (libvirt's role): storage pools and
 * the volumes in them, shared by its files:
 *   storage-pool.c    pool objects: define, start, stop, undefine, autostart,
 *                     the state that survives a daemon restart, and the
 *                     `default` pool at the images directory;
 *   storage-vol.c     volumes of a dir pool on the block layer: list, look
 *                     up, create (raw, qcow2 with backing, preallocation),
 *                     clone, resize, wipe, delete, describe;
 *   rpc-storage.c     the remote procedures, with libvirt's words;
 *   rpc-storage-stream.c  vol-upload / vol-download as protocol streams.
 *
 * Pool types: `dir`, and `fs` (storage-fs.c: a block device mounted at the
 * pool's directory); the conf refuses the others with one line (logical,
 * disk and netfs are planned, docs/storage.md).
 * Everything runs on the daemon's loop: volume operations are file
 * operations bounded by the volume's size.
 */
#ifndef VIREO_DAEMON_STORAGE_H
#define VIREO_DAEMON_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/domain_conf.h"
#include "conf/storage_conf.h"
#include "daemon/vireod.h"
#include "util/error.h"

/* libvirt's constants (include/libvirt/libvirt-storage.h) */
enum {
    VD_POOL_INACTIVE = 0,
    VD_POOL_RUNNING = 2,
};
enum {
    VD_POOL_LIST_INACTIVE = 1 << 0,
    VD_POOL_LIST_ACTIVE = 1 << 1,
    VD_POOL_LIST_PERSISTENT = 1 << 2,
    VD_POOL_LIST_TRANSIENT = 1 << 3,
    VD_POOL_LIST_AUTOSTART = 1 << 4,
    VD_POOL_LIST_NO_AUTOSTART = 1 << 5,
    VD_POOL_LIST_DIR = 1 << 6,
    VD_POOL_LIST_FS = 1 << 7,
    VD_POOL_LIST_TYPES = 0xfffc0, /* every type bit, dir to iscsi-direct */
};
enum {
    VD_POOL_BUILD_NO_OVERWRITE = 1 << 2,
    VD_POOL_BUILD_OVERWRITE = 1 << 3,
    VD_POOL_CREATE_WITH_BUILD = 1 << 0,
    VD_POOL_CREATE_WITH_BUILD_OVERWRITE = 1 << 1,
    VD_POOL_CREATE_WITH_BUILD_NO_OVERWRITE = 1 << 2,
};
enum {
    VD_VOL_CREATE_PREALLOC_METADATA = 1 << 0,
    VD_VOL_CREATE_REFLINK = 1 << 1,
    VD_VOL_CREATE_VALIDATE = 1 << 2,
    VD_VOL_RESIZE_ALLOCATE = 1 << 0,
    VD_VOL_RESIZE_DELTA = 1 << 1,
    VD_VOL_RESIZE_SHRINK = 1 << 2,
    VD_VOL_DELETE_ZEROED = 1 << 0,
    VD_VOL_DELETE_WITH_SNAPSHOTS = 1 << 1,
    VD_VOL_STREAM_SPARSE = 1 << 0, /* upload's and download's SPARSE_STREAM */
};
/* virStorageVolWipeAlgorithm */
enum {
    VD_WIPE_ZERO = 0,
    VD_WIPE_NNSA,
    VD_WIPE_DOD,
    VD_WIPE_BSI,
    VD_WIPE_GUTMANN,
    VD_WIPE_SCHNEIER,
    VD_WIPE_PFITZNER7,
    VD_WIPE_PFITZNER33,
    VD_WIPE_RANDOM,
    VD_WIPE_TRIM,
};

struct vd_pool {
    struct vd_pool *next;
    struct storage_pool_def *def;
    struct storage_pool_def *newdef; /* a definition made while active: the next one */
    bool active, persistent, autostart;
    unsigned jobs; /* volume jobs running in workers (rpc-storage-job.c) */
};

enum vd_vol_job_kind { VD_VOL_JOB_CREATE, VD_VOL_JOB_DELETE, VD_VOL_JOB_WIPE, VD_VOL_JOB_RESIZE };
struct vd_vol_job;
struct vd_obj_callback;

/* virStoragePoolEventID and virStoragePoolEventLifecycleType (refreshed: the refresh event) */
enum { VD_POOL_EVENT_ID_LIFECYCLE = 0, VD_POOL_EVENT_ID_REFRESH = 1 };
enum {
    VD_POOL_EVENT_DEFINED = 0,
    VD_POOL_EVENT_UNDEFINED,
    VD_POOL_EVENT_STARTED,
    VD_POOL_EVENT_STOPPED,
    VD_POOL_EVENT_CREATED,
    VD_POOL_EVENT_DELETED,
    VD_POOL_EVENT_REFRESHED = 100,
};

struct vd_transfer;

struct vd_storage {
    char *config_dir;    /* persistent pool definitions: NAME.xml */
    char *autostart_dir; /* one empty file per autostarted pool */
    char *state_dir;     /* NAME.xml of each active pool */
    char *images_dir;    /* the `default` pool's directory */
    struct vd_pool *pools;
    struct vd_transfer *transfers;     /* open upload/download streams (rpc-storage-stream.c) */
    struct vd_vol_job *jobs;           /* volume jobs under way (rpc-storage-job.c) */
    struct vd_obj_callback *callbacks; /* event registrations (rpc-storage-events.c) */
};

/* A volume as the pool sees it now (storage-vol.c). */
struct vd_vol {
    struct vd_pool *pool;
    char *name, *path; /* path is also its key */
};

/* storage-pool.c */
/* Paths from the daemon's (see storage-pool.c), the pools on disk loaded,
 * the default pool defined on the first start, autostart and survivors
 * started. Never fails the daemon: a pool that cannot load is logged. */
void vd_storage_init(struct vd_daemon *d, struct vd_storage *s);
void vd_storage_fini(struct vd_storage *s);
struct vd_pool *vd_pool_find_name(struct vd_storage *s, const char *name);
struct vd_pool *vd_pool_find_uuid(struct vd_storage *s, const unsigned char *uuid);
/* Define (persistent) or create (transient, started) from XML. */
int vd_pool_define(struct vd_daemon *d, struct vd_storage *s, const char *xml, struct vd_pool **out,
                   struct verr *err);
int vd_pool_create_xml(struct vd_daemon *d, struct vd_storage *s, const char *xml, unsigned flags,
                       struct vd_pool **out, struct verr *err);
int vd_pool_start(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p, unsigned flags,
                  struct verr *err);
int vd_pool_build(struct vd_pool *p, unsigned flags, struct verr *err);
/* Stops p; a transient pool is forgotten (p freed). */
int vd_pool_destroy(struct vd_storage *s, struct vd_pool *p, struct verr *err);
int vd_pool_delete(struct vd_pool *p, unsigned flags, struct verr *err);
/* Undefines p; an inactive pool is forgotten (p freed). */
int vd_pool_undefine(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p,
                     struct verr *err);
int vd_pool_set_autostart(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p, bool on,
                          struct verr *err);
/* capacity, allocation and available from the file system (0 when inactive). */
void vd_pool_sizes(const struct vd_pool *p, uint64_t *capacity, uint64_t *allocation,
                   uint64_t *available);
char *vd_pool_xml(const struct vd_pool *p, bool inactive);

/* storage-vol.c. Every function needs an active pool (the caller checks). */
/* Names of the volumes, sorted; returns how many. */
size_t vd_vol_list(struct vd_pool *p, char ***names);
void vd_vol_names_free(char **names, size_t n);
/* 0, -ENOENT (no such volume) or -EINVAL (a name that is no volume name). */
int vd_vol_lookup(struct vd_pool *p, const char *name, struct vd_vol *out);
/* By path (the key is the path): the pool whose directory holds it. */
int vd_vol_lookup_path(struct vd_storage *s, const char *path, struct vd_vol *out);
void vd_vol_clear(struct vd_vol *v);
int vd_vol_info(const struct vd_vol *v, uint64_t *capacity, uint64_t *allocation, struct verr *err);
/* secret_uuid: the secret an encrypted volume's <encryption> names (NULL: none known). */
char *vd_vol_xml(const struct vd_vol *v, const char *secret_uuid, struct verr *err);
/* Whether the volume's image is LUKS-encrypted (a luks image, or qcow2 with LUKS). */
bool vd_vol_encrypted(const char *path);
/* Creation in two steps: the check (on the loop: flags, the XML, the name free, the format
 * creatable) gives the parsed definition; the data step (in a worker: block_create, the copy
 * from `from` when cloning) makes DIR/NAME, or removes it again when it fails. */
int vd_vol_create_check(const char *dir, const char *xml, unsigned flags,
                        struct storage_vol_def **out, struct verr *err);
/* An encrypted definition is made with the passphrase key (key_len bytes; NULL otherwise). */
int vd_vol_create_data(const char *dir, const struct storage_vol_def *def, unsigned flags,
                       const char *from, const uint8_t *key, size_t key_len, struct verr *err);
int vd_vol_delete(struct vd_vol *v, unsigned flags, struct verr *err);
int vd_vol_wipe(struct vd_vol *v, unsigned algorithm, unsigned flags, struct verr *err);
/* The algorithm and flags vd_vol_wipe takes (0), or its refusal. */
int vd_vol_wipe_check(unsigned algorithm, unsigned flags, struct verr *err);
int vd_vol_resize(struct vd_vol *v, uint64_t capacity, unsigned flags, struct verr *err);
/* The volume's format ("raw", "qcow2", ...) probed from its content, into fmt. */
int vd_vol_format(const char *path, char *fmt, size_t size);

/* storage-fs.c: an fs pool's device made a file system (overwrite: without checking that it
 * holds none), mounted at its directory, unmounted (nothing when not mounted). */
bool vd_fs_mounted(const char *target);
int vd_fs_make(const struct vd_pool *p, bool overwrite, struct verr *err);
int vd_fs_mount(const struct vd_pool *p, struct verr *err);
int vd_fs_unmount(const struct vd_pool *p, struct verr *err);

/* storage-disk.c: def with its type='volume' disks made file disks at the
 * volumes' paths, in *out (NULL when it has none); 0 or an error naming the
 * disk's pool or volume. */
struct domain_def;
int vd_storage_resolve_disks(struct vd_storage *s, const struct domain_def *def,
                             struct domain_def **out, struct verr *err);

/* A name libvirt accepts for a pool or volume: non-empty, no '/', not . or .. */
bool vd_storage_name_ok(const char *name);

#endif
