/*
 * backends.c - looking up and releasing the backends devices name by id
 * (see backends.h).
 */
#include "vmm/backends.h"
#include "block/nbd-client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *backend_kind_name(enum backend_kind kind)
{
    switch (kind) {
    case BACKEND_DRIVE:
        return "drive";
    case BACKEND_NETDEV:
        return "netdev";
    case BACKEND_CHARDEV:
        return "chardev";
    }
    return "backend";
}

int vm_backends_find(const struct vm_backends *be, enum backend_kind kind, const char *id)
{
    switch (kind) {
    case BACKEND_DRIVE:
        for (unsigned i = 0; i < be->nr_drives; i++)
            if (be->drives[i].id && !strcmp(be->drives[i].id, id))
                return (int)i;
        break;
    case BACKEND_NETDEV:
        for (unsigned i = 0; i < be->nr_netdevs; i++)
            if (be->netdevs[i].id && !strcmp(be->netdevs[i].id, id))
                return (int)i;
        break;
    case BACKEND_CHARDEV:
        for (unsigned i = 0; i < be->nr_chardevs; i++)
            if (!strcmp(be->chardevs[i].id, id))
                return (int)i;
        break;
    }
    return -1;
}

bool vm_backends_take(struct vm_backends *be, enum backend_kind kind, int index)
{
    bool *used = kind == BACKEND_DRIVE    ? &be->drive_used[index]
                 : kind == BACKEND_NETDEV ? &be->netdev_used[index]
                                          : &be->chardev_used[index];
    /* A blockdev-add node blockdev-snapshot put on a drive is that drive's already. */
    bool was = *used || (kind == BACKEND_DRIVE && be->drives[index].overlay_of_drive);
    if (!was)
        *used = true;
    return was;
}

void vm_backends_put(struct vm_backends *be, enum backend_kind kind, int index)
{
    if (kind == BACKEND_DRIVE)
        be->drive_used[index] = false;
    else if (kind == BACKEND_NETDEV)
        be->netdev_used[index] = false;
    else
        be->chardev_used[index] = false;
}

int vm_backends_new_slot(struct vm_backends *be, enum backend_kind kind)
{
    if (kind == BACKEND_DRIVE) {
        for (unsigned i = 0; i < be->nr_drives; i++)
            if (!be->drives[i].id)
                return (int)i;
        return be->nr_drives < VMM_MAX_DRIVES ? (int)be->nr_drives++ : -1;
    }
    if (kind == BACKEND_NETDEV) {
        for (unsigned i = 0; i < be->nr_netdevs; i++)
            if (!be->netdevs[i].id)
                return (int)i;
        return be->nr_netdevs < VMM_MAX_NETDEVS ? (int)be->nr_netdevs++ : -1;
    }
    return -1;
}

void vm_backends_drop(struct vm_backends *be, enum backend_kind kind, int index)
{
    if (kind == BACKEND_DRIVE) {
        struct vmm_drive *d = &be->drives[index];
        free(d->id);
        free(d->node_name);
        free(d->file);
        free(d->format);
        free(d->file_node);
        free(d->backing_node);
        free(d->backing_file);
        free(d->backing_format);
        free(d->key_secret);
        free(d->encrypt_format);
        free(d->throttle_group);
        nbd_client_close(d->nbd);
        memset(d, 0, sizeof(*d));
        be->drive_used[index] = false;
    } else if (kind == BACKEND_NETDEV) {
        struct net_options *n = &be->netdevs[index];
        if (n->fd_owned && n->fd >= 0)
            close(n->fd);
        for (unsigned i = 0; n->fd_owned && i < n->nr_fds; i++)
            close(n->fds[i]);
        free((char *)n->id);
        free((char *)n->ifname);
        memset(n, 0, sizeof(*n));
        be->netdev_used[index] = false;
    }
}

void vm_backends_free(struct vm_backends *be)
{
    for (unsigned i = 0; i < be->nr_drives; i++) {
        free(be->drives[i].id);
        free(be->drives[i].node_name);
        free(be->drives[i].file);
        free(be->drives[i].format);
        free(be->drives[i].file_node);
        free(be->drives[i].backing_node);
        free(be->drives[i].backing_file);
        free(be->drives[i].backing_format);
        free(be->drives[i].key_secret);
        free(be->drives[i].encrypt_format);
        free(be->drives[i].throttle_group);
        nbd_client_close(be->drives[i].nbd);
    }
    secret_store_clear(&be->secrets);
    for (unsigned i = 0; i < be->nr_iothreads; i++)
        iothread_spec_free(&be->iothreads[i]);
    be->nr_iothreads = 0;
    for (unsigned i = 0; i < be->nr_netdevs; i++) {
        if (be->netdevs[i].fd_owned && be->netdevs[i].fd >= 0)
            close(be->netdevs[i].fd);
        free((char *)be->netdevs[i].id);
        free((char *)be->netdevs[i].ifname);
    }
    for (unsigned i = 0; i < be->nr_chardevs; i++)
        chardev_spec_free(&be->chardevs[i]);
    memset(be, 0, sizeof(*be));
}
