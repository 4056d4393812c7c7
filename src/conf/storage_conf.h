/*
 * storage_conf.h - libvirt storage pool and volume XML
 * (https://libvirt.org/formatstorage.html), for the directory pool (a pool
 * is a directory, a volume an image file in it) and the file system pool (a
 * block device mounted at the directory). Parse, validate, format.
 */
#ifndef VIREO_CONF_STORAGE_CONF_H
#define VIREO_CONF_STORAGE_CONF_H

#include <stddef.h>

#include "conf/xnode.h"
#include "util/error.h"

struct storage_perms {
    int mode;        /* -1 unset, else octal mode bits */
    long long owner; /* -1 unset */
    long long group; /* -1 unset */
    char *label;
};

struct storage_pool_def {
    char *name;
    unsigned char uuid[16];
    char *type;                                         /* "dir" or "fs" */
    unsigned long long capacity, allocation, available; /* bytes, live data */
    char *target_path;
    struct storage_perms perms;
    char *source_device; /* fs: <source><device path=> */
    char *source_format; /* fs: <source><format type=> ("auto" when not given) */
};

struct storage_vol_def {
    char *name;
    char *key;                               /* set by the pool (path of the file), may be NULL */
    char *type;                              /* "file" */
    unsigned long long capacity, allocation; /* bytes */
    int has_allocation;
    char *target_path; /* set by the pool, may be NULL */
    char *format;      /* raw, qcow2, ... (default raw) */
    struct storage_perms perms;
    char *backing_path, *backing_format; /* <backingStore> */
    /* <target><encryption format='luks'><secret type='passphrase' uuid|usage/>: the format
     * (NULL: not encrypted) and the secret's uuid or (volume) usage, one of them or neither */
    char *encryption_format, *secret_uuid, *secret_usage;
};

int storage_pool_def_parse_string(const char *xml, unsigned flags, struct storage_pool_def **out,
                                  struct verr *err);
char *storage_pool_def_format(const struct storage_pool_def *def);
void storage_pool_def_free(struct storage_pool_def *def);

int storage_vol_def_parse_string(const char *xml, unsigned flags, struct storage_vol_def **out,
                                 struct verr *err);
char *storage_vol_def_format(const struct storage_vol_def *def);
void storage_vol_def_free(struct storage_vol_def *def);

/* Sizes with libvirt's units; default unit bytes. Returns 0, -EINVAL or -ERANGE. */
int storage_parse_size(const char *value, const char *unit, unsigned long long *bytes);

#endif
