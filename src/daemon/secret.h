/*
 * secret.h - vireod's secret driver (libvirt's virSecret*): secrets defined by XML (uuid,
 * description, usage, ephemeral, private) with a value of up to 64 KiB. Persistent ones live
 * as libvirt keeps them, DIR/UUID.xml and DIR/UUID.base64 (0600); ephemeral ones only in
 * memory. The RPC mapping is rpc-secret.c's.
 */
#ifndef VIREO_DAEMON_SECRET_H
#define VIREO_DAEMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct vd_daemon;

/* virSecretUsageType */
enum vd_secret_usage {
    VD_SECRET_USAGE_NONE = 0,
    VD_SECRET_USAGE_VOLUME = 1,
    VD_SECRET_USAGE_CEPH = 2,
    VD_SECRET_USAGE_ISCSI = 3,
    VD_SECRET_USAGE_TLS = 4,
    VD_SECRET_USAGE_VTPM = 5,
};

struct vd_secret_def {
    unsigned char uuid[16];
    bool ephemeral, private_;
    char *description;
    int usage_type; /* enum vd_secret_usage */
    char *usage_id; /* the volume path, ceph/tls/vtpm name or iscsi target; NULL for none */
};

struct vd_secret {
    struct vd_secret *next;
    struct vd_secret_def *def;
    uint8_t *value; /* NULL: no value set */
    size_t value_len;
};

/* Parses a <secret> document; 0 or -EINVAL with err in libvirt's words. */
int vd_secret_def_parse(const char *xml, struct vd_secret_def **out, struct verr *err);
/* libvirt's virSecretDefFormat; malloc'd. */
char *vd_secret_def_format(const struct vd_secret_def *def);
void vd_secret_def_free(struct vd_secret_def *def);

struct vd_secret *vd_secret_find_uuid(struct vd_daemon *d, const unsigned char uuid[16]);
/* The secret with that usage; usage_id is ignored for type none, as libvirt does. */
struct vd_secret *vd_secret_find_usage(struct vd_daemon *d, int type, const char *usage_id);
/* Defines or redefines (same uuid) a secret; 0 with *out set, or -errno with err. */
int vd_secret_define(struct vd_daemon *d, const char *xml, struct vd_secret **out,
                     struct verr *err);
int vd_secret_undefine(struct vd_daemon *d, struct vd_secret *s, struct verr *err);
int vd_secret_set_value(struct vd_daemon *d, struct vd_secret *s, const uint8_t *value, size_t len,
                        struct verr *err);
struct domain_def;
/* The secret an <encryption><secret> names by uuid (else by volume usage) when it has a value;
 * else NULL with libvirt's "Secret not found: ..." line. */
struct vd_secret *vd_secret_with_value(struct vd_daemon *d, const char *uuid, const char *usage,
                                       struct verr *err);
/*
 * The keys of def's <encryption> disks for vireo-vmm, as libvirt gives them to QEMU: a fresh
 * 32-byte master key (for the caller to write to a 0600 file), and per disk (def->ndisks entries,
 * NULL for a disk without encryption) its secret's value AES-256-CBC-encrypted under that key
 * (PKCS#7 padding) and the random IV, both base64. *data and *iv are NULL when no disk is
 * encrypted (then master_key is untouched). A missing secret or one without a value fails in
 * libvirt's words.
 */
int vd_secret_disk_keys(struct vd_daemon *d, const struct domain_def *def, uint8_t master_key[32],
                        char ***data, char ***iv, struct verr *err);
void vd_secret_disk_keys_free(char **data, char **iv, size_t n);
/* The same for one disk (a hot-plugged one) under an existing master key; *data and *iv NULL
 * for a disk without encryption. */
struct domain_disk;
int vd_secret_disk_key(struct vd_daemon *d, const struct domain_disk *disk,
                       const uint8_t master_key[32], char **data, char **iv, struct verr *err);
/* rpc-secret-events.c: virSecretEventID and the lifecycle events */
enum {
    VD_SECRET_EVENT_ID_LIFECYCLE = 0,
    VD_SECRET_EVENT_ID_VALUE_CHANGED = 1,
    VD_SECRET_EVENT_DEFINED = 0,
    VD_SECRET_EVENT_UNDEFINED = 1,
};
struct vd_client;
/* Sends the event (event is the lifecycle's kind; ignored for value-changed) to every client
 * registered for it. */
void vd_secret_event(struct vd_daemon *d, const struct vd_secret_def *def, int event_id, int event);
void vd_secret_events_client_gone(struct vd_daemon *d, struct vd_client *c);
void vd_secret_events_end(struct vd_daemon *d);

/* Loads the persistent secrets from d->secret_dir (creating it); 0 or -errno. */
int vd_secrets_load(struct vd_daemon *d, struct verr *err);
void vd_secrets_free(struct vd_daemon *d);

#endif
