/*
 * cli-legacy.c - -nic and -net, rewritten as -netdev + -device (see cli-legacy.h). The
 * NIC model is virtio-net-pci ("virtio" is QEMU's alias for it, and the default here) or
 * e1000 (alias e1000-82540em); any other model is refused by name.
 */
#include "vmm/cli-legacy.h"
#include "util/buf.h"
#include "util/mem.h"
#include "vmm/cli-backends.h"
#include "vmm/cli-device.h"
#include "vmm/cli-opts.h"
#include "vmm/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends ",item" with QEMU's ",," escape for commas inside it. */
static void add_item(struct buf *b, const char *item)
{
    buf_append_byte(b, ',');
    for (const char *p = item; *p; p++) {
        if (*p == ',')
            buf_append_byte(b, ',');
        buf_append_byte(b, (uint8_t)*p);
    }
}

/* The -device type of a model= (*device), or the refusal. */
static int check_model(const char *opt, const char *arg, const char *model, const char **device,
                       struct verr *err)
{
    if (!model || !strcmp(model, "virtio") || !strcmp(model, "virtio-net-pci")) {
        *device = "virtio-net-pci";
        return 0;
    }
    if (!strcmp(model, "e1000") || !strcmp(model, "e1000-82540em")) {
        *device = "e1000";
        return 0;
    }
    return verr_set(err, ENOTSUP,
                    "%s %s: NIC model '%s' is not supported by vireo-vmm (virtio-net-pci, e1000)",
                    opt, arg, model);
}

/* The -netdev (TYPE,id=ID,rest) and -device (DEVICE,netdev=ID[,mac=]) of one NIC. */
static int add_pair(struct vmm_config *cfg, const char *backend, const char *device,
                    const char *mac, const char *id, struct verr *err)
{
    struct buf nd, dev;
    buf_init(&nd);
    buf_init(&dev);
    /* backend is "TYPE[,opts]" with its escapes kept */
    size_t tlen = strcspn(backend, ",");
    buf_append(&nd, backend, tlen);
    buf_printf(&nd, ",id=%s", id);
    buf_append_str(&nd, backend + tlen);
    buf_append_byte(&nd, 0);
    buf_printf(&dev, "%s,netdev=%s", device, id);
    if (mac) {
        char *item = xasprintf("mac=%s", mac);
        add_item(&dev, item);
        free(item);
    }
    buf_append_byte(&dev, 0);
    int r = cli_netdev(&cfg->backends, (const char *)nd.data, err);
    if (r == 0)
        r = cli_device(cfg, (const char *)dev.data, err);
    buf_free(&nd);
    buf_free(&dev);
    return r;
}

/* Splits arg into the back-end part (type and its options, re-escaped) and the NIC's own
 * model= and mac= (macaddr= for -net nic). */
static int split(const char *opt, const char *arg, const char *mac_key, struct buf *backend,
                 char **model, char **mac, char **netdev_id, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *v;
    int r = 0;
    buf_init(backend);
    const char *type = cli_next_item(&cur);
    buf_append_str(backend, type ? type : "");
    while (!r && (item = cli_next_item(&cur))) {
        if (cli_prop(item, "model", &v)) {
            free(*model);
            *model = xstrdup(v);
        } else if (cli_prop(item, mac_key, &v)) {
            free(*mac);
            *mac = xstrdup(v);
        } else if (netdev_id && cli_prop(item, "netdev", &v)) {
            free(*netdev_id);
            *netdev_id = xstrdup(v);
        } else if (cli_prop(item, "id", &v) || cli_prop(item, "name", &v)) {
            continue; /* the hub port's name: there is no hub */
        } else if (cli_prop(item, "vlan", &v)) {
            r = verr_set(err, ENOTSUP, "%s %s: vlan= (hub numbers) is not supported by vireo-vmm",
                         opt, arg);
        } else {
            add_item(backend, item);
        }
    }
    buf_append_byte(backend, 0);
    free(copy);
    return r;
}

int cli_nic(struct vmm_config *cfg, const char *arg, struct verr *err)
{
    struct buf backend;
    char *model = NULL, *mac = NULL;
    const char *device = NULL;
    int r = split("-nic", arg, "mac", &backend, &model, &mac, NULL, err);
    if (!r)
        r = check_model("-nic", arg, model, &device, err);
    if (!r && !strcmp((const char *)backend.data, "none"))
        goto out; /* -nic none: no NIC */
    if (!r) {
        char id[32];
        snprintf(id, sizeof(id), "__nic%u", cfg->nr_legacy_nics++);
        r = add_pair(cfg, (const char *)backend.data, device, mac, id, err);
    }
out:
    buf_free(&backend);
    free(model);
    free(mac);
    return r;
}

int cli_net(struct vmm_config *cfg, const char *arg, struct verr *err)
{
    cfg->net_args = xreallocarray(cfg->net_args, cfg->nr_net_args + 1, sizeof(*cfg->net_args));
    cfg->net_args[cfg->nr_net_args++] = xstrdup(arg);
    (void)err;
    return 0;
}

int cli_net_finish(struct vmm_config *cfg, struct verr *err)
{
    const char *nic = NULL, *back = NULL;
    for (unsigned i = 0; i < cfg->nr_net_args; i++) {
        const char *a = cfg->net_args[i];
        size_t tlen = strcspn(a, ",");
        if (tlen == 4 && !strncmp(a, "none", 4))
            continue;
        const char **slot = (tlen == 3 && !strncmp(a, "nic", 3)) ? &nic : &back;
        if (*slot)
            return verr_set(err, ENOTSUP,
                            "-net %s: only one -net nic and one -net back-end are supported "
                            "(vireo-vmm has no network hub; use -netdev and -device)",
                            a);
        *slot = a;
    }
    if (!nic && !back)
        return 0;
    if (!nic)
        return verr_set(err, EINVAL, "-net %s: no -net nic to connect it to", back);
    if (!back)
        return verr_set(err, EINVAL,
                        "-net %s: no -net user or -net tap for it (vireo-vmm has no network hub)",
                        nic);
    struct buf nb, bb;
    char *model = NULL, *mac = NULL, *netdev = NULL, *model2 = NULL, *mac2 = NULL;
    const char *device = NULL;
    int r = split("-net", nic, "macaddr", &nb, &model, &mac, &netdev, err);
    if (!r)
        r = check_model("-net", nic, model, &device, err);
    if (!r && netdev)
        r = verr_set(err, ENOTSUP, "-net %s: netdev= with a -net back-end as well", nic);
    if (!r && strcmp((const char *)nb.data, "nic"))
        r = verr_set(err, EINVAL, "-net %s: unexpected option '%s'", nic,
                     (const char *)nb.data + 4);
    buf_free(&nb);
    if (!r)
        r = split("-net", back, "macaddr", &bb, &model2, &mac2, NULL, err);
    else
        buf_init(&bb);
    if (!r && (model2 || mac2))
        r = verr_set(err, EINVAL, "-net %s: model= and macaddr= belong to -net nic", back);
    if (!r)
        r = add_pair(cfg, (const char *)bb.data, device, mac, "__net0", err);
    buf_free(&bb);
    free(model);
    free(mac);
    free(netdev);
    free(model2);
    free(mac2);
    return r;
}
