/*
 * backends.h - the backends of vireo-vmm's devices, as QEMU has them: -drive
 * (an image file), -netdev (user networking or a tap) and -chardev (a
 * socket, pty, file...). The command line fills a struct vm_backends; a
 * device names a backend by id through a property of type drive, netdev or
 * chardev (vmm/dev/device.h), and each backend serves one device. Pure data:
 * the VM opens chardevs and the devices open their drives and netdevs.
 */
#ifndef VIREO_VMM_BACKENDS_H
#define VIREO_VMM_BACKENDS_H

#include "block/block.h"
#include "block/secret.h"
#include "vmm/dev/blk-throttle.h"
#include "vmm/dev/chardev.h"
#include "vmm/iothread.h"
#include "vmm/net/net.h"

#include <stdbool.h>

#define VMM_MAX_DRIVES   8
#define VMM_MAX_NETDEVS  8
#define VMM_MAX_CHARDEVS 16 /* -chardev options; -serial's own "serial0" comes on top */

struct nbd_client;

struct vmm_drive {
    char *id;        /* id=, or QEMU's "virtioN" for an if=virtio drive without one */
    char *node_name; /* node-name=, for QMP (block_resize); may be NULL */
    char *file;      /* NULL: an empty drive (media=cdrom without file=) */
    char *format;    /* NULL: probe, as QEMU does (with its warning) */
    enum block_cache cache;
    bool read_only;
    bool discard_unmap;
    /* detect-zeroes= (-blockdev takes unmap only with discard=unmap; -drive takes it without
     * and unmaps all the same, as QEMU 7.2 does). */
    enum block_detect_zeroes detect_zeroes;
    bool aio_io_uring;          /* aio=io_uring (threads and native: the thread pool) */
    char *key_secret;           /* key-secret= (luks) or encrypt.key-secret= (qcow2) */
    char *encrypt_format;       /* encrypt.format=, checked against the image */
    enum block_locking locking; /* file.locking= */
    bool cdrom;                 /* media=cdrom: read-only, file= optional */
    /* snapshot=on, or -snapshot for a drive that does not say: writes go to a temporary
     * overlay (drive-snapshot.h). snapshot_given: snapshot= was on the -drive. */
    bool snapshot, snapshot_given;
    /* blockdev-add: a format node over a protocol node names it (file_node, owned); the
     * protocol node is then taken by it (format_node). */
    char *file_node;
    bool format_node;
    /* blockdev-add "backing": the node (owned) holding the image's backing file (the one its
     * header names, which the drive opens); the node is then taken, as by file_node. */
    char *backing_node;
    /* blockdev-add "backing": null: the image opens without a backing file, whatever its
     * header names (blockdev-snapshot then puts one under it). */
    bool backing_null;
    /* The node is the top of a drive's chain since blockdev-snapshot put it there. */
    bool overlay_of_drive;
    /* A backing node whose image is not the one the header names: that image (backing_file,
     * backing_format; owned) is opened in its place. */
    char *backing_file, *backing_format;
    /* throttling.*: the drive's I/O limits, in the group throttling.group (NULL: one of its
     * own, named after the drive); QMP block_set_io_throttle changes them. */
    struct throttle_config throttle;
    char *throttle_group;
    /* blockdev-add driver nbd (or raw over nbd): the node's connection, as QEMU's node keeps
     * it (owned; file is its address); a mirror job borrows it meanwhile (nbd_busy). */
    struct nbd_client *nbd;
    bool nbd_busy;
};

enum backend_kind {
    BACKEND_DRIVE,
    BACKEND_NETDEV,
    BACKEND_CHARDEV,
};

struct vm_backends {
    unsigned nr_drives, nr_netdevs, nr_chardevs;
    struct secret_store secrets; /* -object secret,... (encrypted drives' passphrases) */
    struct iothread_spec iothreads[VMM_MAX_IOTHREADS]; /* -object iothread,... */
    unsigned nr_iothreads;
    struct vmm_drive drives[VMM_MAX_DRIVES];
    struct net_options netdevs[VMM_MAX_NETDEVS];        /* strings owned here */
    struct chardev_spec chardevs[VMM_MAX_CHARDEVS + 2]; /* + serial0, compat_monitor0 */
    /* Which device took each one (a backend serves one device). */
    bool drive_used[VMM_MAX_DRIVES];
    bool netdev_used[VMM_MAX_NETDEVS];
    bool chardev_used[VMM_MAX_CHARDEVS + 2];
};

/* "drive", "netdev", "chardev". */
const char *backend_kind_name(enum backend_kind kind);
/* The index of backend id of a kind, or -1. */
int vm_backends_find(const struct vm_backends *be, enum backend_kind kind, const char *id);
/* Whether backend index of a kind is taken; marks it taken. */
bool vm_backends_take(struct vm_backends *be, enum backend_kind kind, int index);
/* A device that took backend index of a kind is gone (device_del): free to take again. */
void vm_backends_put(struct vm_backends *be, enum backend_kind kind, int index);
/* A free slot for a new drive or netdev (blockdev-add, netdev_add), or -1 when all are used;
 * vm_backends_drop empties one again (its strings freed, its id forgotten). */
int vm_backends_new_slot(struct vm_backends *be, enum backend_kind kind);
void vm_backends_drop(struct vm_backends *be, enum backend_kind kind, int index);
void vm_backends_free(struct vm_backends *be);

struct qmp_server;
struct vm;
/* QMP blockdev-add, blockdev-del, netdev_add, netdev_del (backends-qmp.c). */
int backends_qmp_register(struct qmp_server *server, struct vm *vm);
struct json_object;
struct qmp_error;
struct migration;
/* blockdev-add's node, from its JSON object: QMP blockdev-add and -blockdev (cli.c) share it.
 * Adds a drive named after its node-name to be; 0, or -1 with err (QEMU's words). mig: where
 * an nbd node's tls-creds object is found (NULL from the command line, which takes no nbd). */
int backends_blockdev_add(struct vm_backends *be, struct json_object *args, struct migration *mig,
                          struct qmp_error *err);

#endif
