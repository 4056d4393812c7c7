/*
 * cli-virtio.c - parsing of -drive and the virtio -device options (see
 * cli-virtio.h). Error lines name the option and the offending property, as
 * cli.c's do.
 */
#include "vmm/cli-virtio.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Splits "a=b,c=d" in place; QEMU's ",," escape is not supported (TODO). */
static char *next_item(char **cur)
{
    if (!*cur)
        return NULL;
    char *s = *cur, *c = strchr(s, ',');
    if (c) {
        *c = '\0';
        *cur = c + 1;
    } else {
        *cur = NULL;
    }
    return s;
}

static bool prop(const char *item, const char *key, const char **val)
{
    size_t n = strlen(key);
    if (strncmp(item, key, n) == 0 && item[n] == '=') {
        *val = item + n + 1;
        return true;
    }
    return false;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

static int add_device(struct vmm_virtio_config *vc, enum vmm_virtio_kind kind, const char *what,
                      struct verr *err)
{
    if (vc->nr_devices >= VMM_MAX_VIRTIO_DEVICES)
        return verr_set(err, ENOSPC, "%s: at most %u virtio devices", what, VMM_MAX_VIRTIO_DEVICES);
    struct vmm_virtio_device *d = &vc->devices[vc->nr_devices++];
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    d->num_queues = 1;
    return 0;
}

int cli_virtio_drive(struct vmm_virtio_config *vc, const char *arg, struct verr *err)
{
    if (vc->nr_drives >= VMM_MAX_DRIVES)
        return verr_set(err, ENOSPC, "-drive %s: at most %u drives", arg, VMM_MAX_DRIVES);
    struct vmm_drive d = {0};
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *v;
    bool if_virtio = false;
    int r = 0;
    while ((item = next_item(&cur)) && r == 0) {
        if (prop(item, "file", &v)) {
            free(d.file);
            d.file = xstrdup(v);
        } else if (prop(item, "format", &v)) {
            if (strcmp(v, "raw") && strcmp(v, "qcow2"))
                r = verr_set(err, EINVAL, "-drive %s: format '%s' not supported (raw, qcow2)", arg,
                             v);
            free(d.format);
            d.format = xstrdup(v);
        } else if (prop(item, "if", &v)) {
            if (!strcmp(v, "virtio"))
                if_virtio = true;
            else if (strcmp(v, "none"))
                r = verr_set(err, ENOTSUP, "-drive %s: if=%s not supported (none, virtio)", arg, v);
        } else if (prop(item, "id", &v)) {
            free(d.id);
            d.id = xstrdup(v);
        } else if (prop(item, "cache", &v)) {
            if (block_cache_parse(v, &d.cache) < 0)
                r = verr_set(err, EINVAL,
                             "-drive %s: bad cache mode '%s' (none, writeback, writethrough, "
                             "directsync, unsafe)",
                             arg, v);
        } else if (prop(item, "readonly", &v)) {
            if (parse_bool(v, &d.read_only) < 0)
                r = verr_set(err, EINVAL, "-drive %s: readonly=%s is not on/off", arg, v);
        } else if (prop(item, "discard", &v)) {
            if (!strcmp(v, "unmap") || !strcmp(v, "on"))
                d.discard_unmap = true;
            else if (!strcmp(v, "ignore") || !strcmp(v, "off"))
                d.discard_unmap = false;
            else
                r = verr_set(err, EINVAL, "-drive %s: discard=%s (unmap or ignore)", arg, v);
        } else if (prop(item, "aio", &v)) {
            /* TODO: io_uring; requests run on the device's I/O thread with blocking calls. */
            if (strcmp(v, "threads") && strcmp(v, "io_uring") && strcmp(v, "native"))
                r = verr_set(err, EINVAL, "-drive %s: aio=%s (threads, io_uring, native)", arg, v);
        } else if (prop(item, "media", &v)) {
            if (strcmp(v, "disk"))
                r = verr_set(err, ENOTSUP, "-drive %s: media=%s not supported", arg, v);
        } else {
            r = verr_set(err, EINVAL, "-drive %s: unknown property '%s'", arg, item);
        }
    }
    free(copy);
    if (r == 0 && !d.file)
        r = verr_set(err, EINVAL, "-drive %s: file= is required", arg);
    if (r == 0 && !if_virtio && !d.id)
        r = verr_set(err, EINVAL, "-drive %s: if=none needs an id= for -device drive=", arg);
    for (unsigned i = 0; r == 0 && d.id && i < vc->nr_drives; i++)
        if (vc->drives[i].id && !strcmp(vc->drives[i].id, d.id))
            r = verr_set(err, EEXIST, "-drive %s: duplicate drive id '%s'", arg, d.id);
    if (r < 0) {
        free(d.id);
        free(d.file);
        free(d.format);
        return r;
    }
    unsigned idx = vc->nr_drives;
    vc->drives[vc->nr_drives++] = d;
    if (if_virtio) {
        if ((r = add_device(vc, VMM_VIRTIO_BLK, "-drive", err)) < 0)
            return r;
        vc->devices[vc->nr_devices - 1].drive = idx;
        vc->drives[idx].used = true;
    }
    return 0;
}

int cli_virtio_device(struct vmm_virtio_config *vc, const char *arg, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *driver = next_item(&cur), *v;
    if (!strncmp(driver, "driver=", 7))
        driver += 7;
    enum vmm_virtio_kind kind;
    if (!strcmp(driver, "virtio-blk-pci") || !strcmp(driver, "virtio-blk"))
        kind = VMM_VIRTIO_BLK;
    else if (!strcmp(driver, "virtio-rng-pci") || !strcmp(driver, "virtio-rng"))
        kind = VMM_VIRTIO_RNG;
    else if (!strcmp(driver, "virtio-balloon-pci") || !strcmp(driver, "virtio-balloon"))
        kind = VMM_VIRTIO_BALLOON;
    else {
        free(copy);
        return -ENOENT;
    }
    int r = 0;
    for (unsigned i = 0; kind == VMM_VIRTIO_BALLOON && i < vc->nr_devices; i++)
        if (vc->devices[i].kind == VMM_VIRTIO_BALLOON)
            r = verr_set(err, EEXIST, "-device %s: only one virtio-balloon device is supported",
                         arg);
    if (r == 0)
        r = add_device(vc, kind, "-device", err);
    if (r < 0) {
        free(copy);
        return r;
    }
    unsigned di = vc->nr_devices - 1;
    struct vmm_virtio_device *d = &vc->devices[di];
    bool have_drive = false;
    while ((item = next_item(&cur)) && r == 0) {
        if (prop(item, "id", &v)) {
            free(d->id);
            d->id = xstrdup(v);
        } else if (kind == VMM_VIRTIO_BLK && prop(item, "drive", &v)) {
            free(vc->pending_drive[di]);
            vc->pending_drive[di] = xstrdup(v);
            have_drive = true;
        } else if (kind == VMM_VIRTIO_BLK && prop(item, "serial", &v)) {
            free(d->serial);
            d->serial = xstrdup(v);
        } else if (kind == VMM_VIRTIO_BLK && prop(item, "num-queues", &v)) {
            uint64_t n;
            if (str_to_u64(v, 10, &n) < 0 || n < 1 || n > 8)
                r = verr_set(err, EINVAL, "-device %s: num-queues=%s (1 to 8)", arg, v);
            else
                d->num_queues = (unsigned)n;
        } else if (prop(item, "bus", &v) || prop(item, "addr", &v)) {
            /* TODO: explicit slot placement (addr=); devices take the first free slot. */
        } else {
            r = verr_set(err, EINVAL, "-device %s: unknown %s property '%s'", arg, driver, item);
        }
    }
    if (r == 0 && kind == VMM_VIRTIO_BLK && !have_drive)
        r = verr_set(err, EINVAL, "-device %s: drive= is required", arg);
    free(copy);
    return r;
}

int cli_virtio_finish(struct vmm_virtio_config *vc, struct verr *err)
{
    for (unsigned di = 0; di < vc->nr_devices; di++) {
        const char *name = vc->pending_drive[di];
        if (!name)
            continue;
        unsigned i;
        for (i = 0; i < vc->nr_drives; i++)
            if (vc->drives[i].id && !strcmp(vc->drives[i].id, name))
                break;
        if (i == vc->nr_drives)
            return verr_set(err, ENOENT, "-device virtio-blk-pci,drive=%s: no -drive with id=%s",
                            name, name);
        if (vc->drives[i].used)
            return verr_set(err, EBUSY, "-device virtio-blk-pci,drive=%s: drive already in use",
                            name);
        vc->drives[i].used = true;
        vc->devices[di].drive = i;
    }
    /* An unused if=none drive is allowed, as QEMU allows it (it is opened, never used). */
    return 0;
}

void cli_virtio_free(struct vmm_virtio_config *vc)
{
    for (unsigned i = 0; i < vc->nr_drives; i++) {
        free(vc->drives[i].id);
        free(vc->drives[i].file);
        free(vc->drives[i].format);
    }
    for (unsigned i = 0; i < vc->nr_devices; i++) {
        free(vc->devices[i].id);
        free(vc->devices[i].serial);
        free(vc->pending_drive[i]);
    }
    memset(vc, 0, sizeof(*vc));
}
