/*
 * cli-virtio.h - the -drive and virtio -device options of vireo-vmm, in
 * QEMU's syntax: -drive file=,format=,if=none|virtio,id=,cache=,readonly=,
 * discard=,aio= and -device virtio-blk-pci,drive=,serial=,num-queues= /
 * -device virtio-rng-pci / -device virtio-balloon-pci. Kept apart from cli.c so the virtio work
 * stays in its own files; cli.c calls in here. Pure parsing, no I/O.
 */
#ifndef VIREO_VMM_CLI_VIRTIO_H
#define VIREO_VMM_CLI_VIRTIO_H

#include "block/block.h"
#include "util/error.h"
#include "vmm/dev/pci.h"
#include "vmm/net/net.h"

#include <stdbool.h>

#define VMM_MAX_DRIVES         8
#define VMM_MAX_VIRTIO_DEVICES 16
#define VMM_MAX_NETDEVS        8

struct vmm_drive {
    char *id;
    char *node_name; /* node-name=, for QMP (block_resize); may be NULL */
    char *file;
    char *format; /* NULL: probe, as QEMU does (with its warning) */
    enum block_cache cache;
    bool read_only;
    bool discard_unmap;
    bool aio_io_uring; /* aio=io_uring (threads and native: the thread pool) */
    bool used;         /* a device took it */
};

enum vmm_virtio_kind {
    VMM_VIRTIO_BLK,
    VMM_VIRTIO_RNG,
    VMM_VIRTIO_BALLOON,
    VMM_VIRTIO_NET,
    VMM_VIRTIO_CONSOLE, /* virtio-serial-pci (cli-console.c) */
};

struct vmm_virtio_device {
    enum vmm_virtio_kind kind;
    char *id;
    unsigned drive; /* index into drives[] (blk) */
    char *serial;   /* blk, may be NULL */
    unsigned num_queues;
    unsigned netdev; /* index into netdevs[] (net) */
    uint8_t mac[6];  /* net */
    bool have_mac;
    unsigned console;       /* index into the console config's buses (virtio-serial) */
    unsigned host_mtu;      /* net: host_mtu= (VIRTIO_NET_F_MTU), 0 = not offered */
    struct pci_place place; /* bus=pcie.0, addr=, multifunction= (place.id is set at creation) */
    char *what;             /* "-device ARG" or "-drive ARG": how error lines name it */
};

struct vmm_virtio_config {
    unsigned nr_drives, nr_devices;
    struct vmm_drive drives[VMM_MAX_DRIVES];
    struct vmm_virtio_device devices[VMM_MAX_VIRTIO_DEVICES];
    char *pending_drive[VMM_MAX_VIRTIO_DEVICES]; /* -device drive= names, resolved at the end */
    /* -netdev: options (strings owned here) and whether a NIC took it. */
    unsigned nr_netdevs;
    struct net_options netdevs[VMM_MAX_NETDEVS];
    bool netdev_used[VMM_MAX_NETDEVS];
    char *pending_netdev[VMM_MAX_VIRTIO_DEVICES]; /* -device netdev= names */
};

/* -drive ARG. */
int cli_virtio_drive(struct vmm_virtio_config *vc, const char *arg, struct verr *err);
/* -device ARG when the driver is virtio-*; returns -ENOENT when it is not one of ours. */
int cli_virtio_device(struct vmm_virtio_config *vc, const char *arg, struct verr *err);
/* -netdev user,id=ID[,hostfwd=tcp::H-:G]... | tap,id=ID,ifname=NAME|fd=N[,script=no,...]. */
int cli_virtio_netdev(struct vmm_virtio_config *vc, const char *arg, struct verr *err);
/* bus=, addr= or multifunction= of a PCI device (type: QEMU's name, for messages): 1 when
 * item is one of those (and valid), 0 when it is not, -EINVAL with err filled. */
int cli_pci_prop(const char *type, const char *item, struct pci_place *place, struct verr *err);
/* After all options: resolves drive= references (a drive serves one device). */
int cli_virtio_finish(struct vmm_virtio_config *vc, struct verr *err);
void cli_virtio_free(struct vmm_virtio_config *vc);

#endif
