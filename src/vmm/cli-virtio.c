/*
 * cli-virtio.c - parsing of -drive and the virtio -device options (see
 * cli-virtio.h). Error lines name the option and the offending property, as
 * cli.c's do.
 */
#include "vmm/cli-opts.h"
#include "vmm/cli-virtio.h"
#include "util/mem.h"
#include "util/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_device(struct vmm_virtio_config *vc, enum vmm_virtio_kind kind, const char *what,
                      const char *arg, struct verr *err)
{
    if (vc->nr_devices >= VMM_MAX_VIRTIO_DEVICES)
        return verr_set(err, ENOSPC, "%s: at most %u virtio devices", what, VMM_MAX_VIRTIO_DEVICES);
    struct vmm_virtio_device *d = &vc->devices[vc->nr_devices++];
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    d->num_queues = 1;
    d->place = PCI_PLACE_ANY;
    d->what = xasprintf("%s %s", what, arg);
    return 0;
}

int cli_pci_prop(const char *type, const char *item, struct pci_place *place, struct verr *err)
{
    const char *v;
    if (cli_prop(item, "bus", &v)) {
        if (strcmp(v, PCI_ROOT_BUS_NAME))
            return verr_set(err, EINVAL, "Bus '%s' not found", v);
        return 1;
    }
    if (cli_prop(item, "addr", &v)) {
        if (pci_parse_devfn(v, &place->devfn) < 0)
            return verr_set(err, EINVAL, "Property '%s.addr' doesn't take value '%s'", type, v);
        return 1;
    }
    if (cli_prop(item, "multifunction", &v)) {
        if (cli_parse_bool(v, &place->multifunction) < 0)
            return verr_set(err, EINVAL, "Parameter 'multifunction' expects 'on' or 'off'");
        return 1;
    }
    return 0;
}

static int parse_mac(const char *v, uint8_t mac[6])
{
    unsigned b[6];
    char end;
    if (strlen(v) != 17 ||
        sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return -EINVAL;
    for (unsigned i = 0; i < 17; i++)
        if (i % 3 == 2 ? v[i] != ':' : !strchr("0123456789abcdefABCDEF", v[i]))
            return -EINVAL;
    if (b[0] & 1) /* multicast */
        return -EINVAL;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

/* "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (QEMU's hostfwd= syntax). */
static int parse_hostfwd(const char *v, struct net_hostfwd *h)
{
    char buf[128];
    if (strlen(v) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, v);
    char *proto = buf, *c = strchr(buf, ':');
    if (!c)
        return -EINVAL;
    *c = '\0';
    if (!strcmp(proto, "udp"))
        h->udp = true;
    else if (strcmp(proto, "tcp") && *proto)
        return -EINVAL;
    char *haddr = c + 1, *hport = strchr(haddr, ':');
    if (!hport)
        return -EINVAL;
    *hport++ = '\0';
    char *dash = strchr(hport, '-');
    if (!dash)
        return -EINVAL;
    *dash = '\0';
    char *gaddr = dash + 1, *gport = strchr(gaddr, ':');
    if (!gport)
        return -EINVAL;
    *gport++ = '\0';
    struct in_addr a;
    if (*haddr) {
        if (inet_pton(AF_INET, haddr, &a) != 1)
            return -EINVAL;
        h->host_addr = ntohl(a.s_addr);
    }
    if (*gaddr) {
        if (inet_pton(AF_INET, gaddr, &a) != 1)
            return -EINVAL;
        h->guest_addr = ntohl(a.s_addr);
    }
    uint64_t hp, gp;
    if (str_to_u64(hport, 10, &hp) < 0 || hp > 65535 || str_to_u64(gport, 10, &gp) < 0 || gp == 0 ||
        gp > 65535)
        return -EINVAL;
    h->host_port = (uint16_t)hp;
    h->guest_port = (uint16_t)gp;
    return 0;
}

static int parse_ip4(const char *v, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, v, &a) != 1)
        return -EINVAL;
    *out = ntohl(a.s_addr);
    return 0;
}

/* net=ADDR/BITS or ADDR/MASK (QEMU's syntax; the mask is required here, see docs/virtio.md). */
static int parse_net(const char *v, uint32_t *net, uint32_t *mask)
{
    char buf[64];
    const char *slash = strchr(v, '/');
    if (!slash || (size_t)(slash - v) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, v, (size_t)(slash - v));
    buf[slash - v] = '\0';
    uint64_t bits;
    if (parse_ip4(buf, net) < 0)
        return -EINVAL;
    if (strchr(slash + 1, '.')) {
        if (parse_ip4(slash + 1, mask) < 0 || (~*mask & (~*mask + 1)) != 0)
            return -EINVAL; /* not contiguous ones */
    } else if (str_to_u64(slash + 1, 10, &bits) == 0 && bits >= 1 && bits <= 30) {
        *mask = ~0u << (32 - bits);
    } else {
        return -EINVAL;
    }
    return *mask == 0 || (*net & ~*mask) || ~*mask < 3 ? -EINVAL : 0;
}

int cli_virtio_netdev(struct vmm_virtio_config *vc, const char *arg, struct verr *err)
{
    if (vc->nr_netdevs >= VMM_MAX_NETDEVS)
        return verr_set(err, ENOSPC, "-netdev %s: at most %u netdevs", arg, VMM_MAX_NETDEVS);
    struct net_options o = {.fd = -1};
    char *copy = xstrdup(arg), *cur = copy, *item, *id = NULL, *ifname = NULL;
    const char *type = cli_next_item(&cur), *v;
    int r = 0;
    if (!strcmp(type, "user"))
        o.kind = NET_USER;
    else if (!strcmp(type, "tap"))
        o.kind = NET_TAP;
    else
        r = verr_set(err, ENOTSUP, "-netdev %s: backend '%s' is not supported (user, tap)", arg,
                     type);
    while (r == 0 && (item = cli_next_item(&cur))) {
        if (cli_prop(item, "id", &v)) {
            free(id);
            id = xstrdup(v);
        } else if (o.kind == NET_USER && cli_prop(item, "hostfwd", &v)) {
            if (o.nr_hostfwd == NET_MAX_HOSTFWD)
                r = verr_set(err, ENOSPC, "-netdev %s: at most %u hostfwd=", arg, NET_MAX_HOSTFWD);
            else if (parse_hostfwd(v, &o.hostfwd[o.nr_hostfwd++]) < 0)
                r = verr_set(err, EINVAL,
                             "-netdev %s: bad hostfwd=%s (want [tcp|udp]:[ADDR]:PORT-[ADDR]:PORT)",
                             arg, v);
        } else if (o.kind == NET_USER && cli_prop(item, "net", &v)) {
            if (parse_net(v, &o.net, &o.mask) < 0)
                r = verr_set(err, EINVAL,
                             "-netdev %s: bad net=%s (want ADDR/BITS or ADDR/MASK, 1-30 bits, "
                             "no host bits in ADDR)",
                             arg, v);
        } else if (o.kind == NET_USER &&
                   (cli_prop(item, "host", &v) || cli_prop(item, "dhcpstart", &v) ||
                    cli_prop(item, "dns", &v))) {
            uint32_t *field = item[0] == 'h' ? &o.host : item[1] == 'h' ? &o.dhcp_start : &o.dns;
            if (parse_ip4(v, field) < 0)
                r = verr_set(err, EINVAL, "-netdev %s: %s is not an IPv4 address", arg, item);
        } else if (o.kind == NET_TAP && cli_prop(item, "ifname", &v)) {
            if (!*v || strlen(v) >= 16)
                r = verr_set(err, EINVAL, "-netdev %s: ifname=%s (1 to 15 characters)", arg, v);
            free(ifname);
            ifname = xstrdup(v);
        } else if (o.kind == NET_TAP && cli_prop(item, "fd", &v)) {
            uint64_t fd;
            if (str_to_u64(v, 10, &fd) < 0 || fd > 65535)
                r = verr_set(err, EINVAL, "-netdev %s: fd=%s is not a file descriptor", arg, v);
            else
                o.fd = (int)fd;
        } else if (o.kind == NET_TAP &&
                   (cli_prop(item, "script", &v) || cli_prop(item, "downscript", &v))) {
            if (strcmp(v, "no"))
                r = verr_set(err, ENOTSUP, "-netdev %s: only %s is supported (scripts are not run)",
                             arg, item[0] == 's' ? "script=no" : "downscript=no");
        } else if (o.kind == NET_TAP && cli_prop(item, "vhost", &v)) {
            bool on;
            if (cli_parse_bool(v, &on) < 0 || on)
                r = verr_set(err, ENOTSUP, "-netdev %s: only vhost=off is supported", arg);
        } else {
            r = verr_set(err, EINVAL, "-netdev %s: unknown %s option '%s'", arg, type, item);
        }
    }
    if (r == 0 && !id)
        r = verr_set(err, EINVAL, "-netdev %s: id= is required", arg);
    if (r == 0 && o.kind == NET_TAP && (ifname != NULL) == (o.fd >= 0))
        r = verr_set(err, EINVAL, "-netdev %s: tap needs exactly one of ifname= and fd=", arg);
    for (unsigned i = 0; r == 0 && i < vc->nr_netdevs; i++)
        if (!strcmp(vc->netdevs[i].id, id))
            r = verr_set(err, EEXIST, "-netdev %s: duplicate netdev id '%s'", arg, id);
    free(copy);
    if (r < 0) {
        free(id);
        free(ifname);
        return r;
    }
    o.id = id;
    o.ifname = ifname;
    vc->netdev_used[vc->nr_netdevs] = false;
    vc->netdevs[vc->nr_netdevs++] = o;
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
    while ((item = cli_next_item(&cur)) && r == 0) {
        if (cli_prop(item, "file", &v)) {
            free(d.file);
            d.file = xstrdup(v);
        } else if (cli_prop(item, "format", &v)) {
            if (strcmp(v, "raw") && strcmp(v, "qcow2"))
                r = verr_set(err, EINVAL, "-drive %s: format '%s' not supported (raw, qcow2)", arg,
                             v);
            free(d.format);
            d.format = xstrdup(v);
        } else if (cli_prop(item, "if", &v)) {
            if (!strcmp(v, "virtio"))
                if_virtio = true;
            else if (strcmp(v, "none"))
                r = verr_set(err, ENOTSUP, "-drive %s: if=%s not supported (none, virtio)", arg, v);
        } else if (cli_prop(item, "id", &v)) {
            free(d.id);
            d.id = xstrdup(v);
        } else if (cli_prop(item, "node-name", &v)) {
            free(d.node_name);
            d.node_name = xstrdup(v);
        } else if (cli_prop(item, "cache", &v)) {
            if (block_cache_parse(v, &d.cache) < 0)
                r = verr_set(err, EINVAL,
                             "-drive %s: bad cache mode '%s' (none, writeback, writethrough, "
                             "directsync, unsafe)",
                             arg, v);
        } else if (cli_prop(item, "readonly", &v)) {
            if (cli_parse_bool(v, &d.read_only) < 0)
                r = verr_set(err, EINVAL, "-drive %s: readonly=%s is not on/off", arg, v);
        } else if (cli_prop(item, "discard", &v)) {
            if (!strcmp(v, "unmap") || !strcmp(v, "on"))
                d.discard_unmap = true;
            else if (!strcmp(v, "ignore") || !strcmp(v, "off"))
                d.discard_unmap = false;
            else
                r = verr_set(err, EINVAL, "-drive %s: discard=%s (unmap or ignore)", arg, v);
        } else if (cli_prop(item, "aio", &v)) {
            /* native (Linux AIO) is accepted and runs as threads (TODO: not implemented). */
            if (strcmp(v, "threads") && strcmp(v, "io_uring") && strcmp(v, "native"))
                r = verr_set(err, EINVAL, "-drive %s: aio=%s (threads, io_uring, native)", arg, v);
            d.aio_io_uring = !strcmp(v, "io_uring");
        } else if (cli_prop(item, "media", &v)) {
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
    for (unsigned i = 0; r == 0 && d.node_name && i < vc->nr_drives; i++)
        if (vc->drives[i].node_name && !strcmp(vc->drives[i].node_name, d.node_name))
            r = verr_set(err, EEXIST, "-drive %s: duplicate node-name '%s'", arg, d.node_name);
    if (r < 0) {
        free(d.id);
        free(d.node_name);
        free(d.file);
        free(d.format);
        return r;
    }
    unsigned idx = vc->nr_drives;
    vc->drives[vc->nr_drives++] = d;
    if (if_virtio) {
        if ((r = add_device(vc, VMM_VIRTIO_BLK, "-drive", arg, err)) < 0)
            return r;
        vc->devices[vc->nr_devices - 1].drive = idx;
        vc->drives[idx].used = true;
    }
    return 0;
}

int cli_virtio_device(struct vmm_virtio_config *vc, const char *arg, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *driver = cli_next_item(&cur), *v;
    if (!strncmp(driver, "driver=", 7))
        driver += 7;
    enum vmm_virtio_kind kind;
    if (!strcmp(driver, "virtio-blk-pci") || !strcmp(driver, "virtio-blk"))
        kind = VMM_VIRTIO_BLK;
    else if (!strcmp(driver, "virtio-rng-pci") || !strcmp(driver, "virtio-rng"))
        kind = VMM_VIRTIO_RNG;
    else if (!strcmp(driver, "virtio-balloon-pci") || !strcmp(driver, "virtio-balloon"))
        kind = VMM_VIRTIO_BALLOON;
    else if (!strcmp(driver, "virtio-net-pci") || !strcmp(driver, "virtio-net"))
        kind = VMM_VIRTIO_NET;
    else {
        free(copy);
        return -ENOENT;
    }
    static const char *const type_names[] = {
        [VMM_VIRTIO_BLK] = "virtio-blk-pci",
        [VMM_VIRTIO_RNG] = "virtio-rng-pci",
        [VMM_VIRTIO_BALLOON] = "virtio-balloon-pci",
        [VMM_VIRTIO_NET] = "virtio-net-pci",
    };
    const char *type_name = type_names[kind];
    int r = 0;
    for (unsigned i = 0; kind == VMM_VIRTIO_BALLOON && i < vc->nr_devices; i++)
        if (vc->devices[i].kind == VMM_VIRTIO_BALLOON)
            r = verr_set(err, EEXIST, "-device %s: only one virtio-balloon device is supported",
                         arg);
    if (r == 0)
        r = add_device(vc, kind, "-device", arg, err);
    if (r < 0) {
        free(copy);
        return r;
    }
    unsigned di = vc->nr_devices - 1;
    struct vmm_virtio_device *d = &vc->devices[di];
    bool have_drive = false;
    while ((item = cli_next_item(&cur)) && r == 0) {
        if (cli_prop(item, "id", &v)) {
            free(d->id);
            d->id = xstrdup(v);
        } else if (kind == VMM_VIRTIO_BLK && cli_prop(item, "drive", &v)) {
            free(vc->pending_drive[di]);
            vc->pending_drive[di] = xstrdup(v);
            have_drive = true;
        } else if (kind == VMM_VIRTIO_BLK && cli_prop(item, "serial", &v)) {
            free(d->serial);
            d->serial = xstrdup(v);
        } else if (kind == VMM_VIRTIO_BLK && cli_prop(item, "num-queues", &v)) {
            uint64_t n;
            if (str_to_u64(v, 10, &n) < 0 || n < 1 || n > 8)
                r = verr_set(err, EINVAL, "-device %s: num-queues=%s (1 to 8)", arg, v);
            else
                d->num_queues = (unsigned)n;
        } else if (kind == VMM_VIRTIO_NET && cli_prop(item, "netdev", &v)) {
            free(vc->pending_netdev[di]);
            vc->pending_netdev[di] = xstrdup(v);
        } else if (kind == VMM_VIRTIO_NET && cli_prop(item, "mac", &v)) {
            if (parse_mac(v, d->mac) < 0)
                r = verr_set(err, EINVAL, "-device %s: mac=%s is not a unicast xx:xx:xx:xx:xx:xx",
                             arg, v);
            d->have_mac = true;
        } else if (kind == VMM_VIRTIO_NET && cli_prop(item, "host_mtu", &v)) {
            uint64_t mtu;
            if (str_to_u64(v, 10, &mtu) < 0 || mtu < 68 || mtu > 65535)
                r = verr_set(err, EINVAL, "-device %s: host_mtu=%s (68 to 65535)", arg, v);
            else
                d->host_mtu = (unsigned)mtu;
        } else if ((r = cli_pci_prop(type_name, item, &d->place, err)) != 0) {
            r = r < 0 ? verr_prefix(err, "-device %s", arg) : 0;
        } else {
            r = verr_set(err, EINVAL, "-device %s: unknown %s property '%s'", arg, driver, item);
        }
    }
    if (r == 0 && kind == VMM_VIRTIO_NET && !vc->pending_netdev[di])
        r = verr_set(err, EINVAL, "-device %s: netdev= is required", arg);
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
    unsigned nics = 0;
    for (unsigned di = 0; di < vc->nr_devices; di++) {
        const char *name = vc->pending_netdev[di];
        if (!name)
            continue;
        unsigned i;
        for (i = 0; i < vc->nr_netdevs; i++)
            if (!strcmp(vc->netdevs[i].id, name))
                break;
        if (i == vc->nr_netdevs)
            return verr_set(err, ENOENT, "-device virtio-net-pci,netdev=%s: no -netdev with id=%s",
                            name, name);
        if (vc->netdev_used[i])
            return verr_set(err, EBUSY, "-device virtio-net-pci,netdev=%s: netdev already in use",
                            name);
        vc->netdev_used[i] = true;
        struct vmm_virtio_device *d = &vc->devices[di];
        d->netdev = i;
        if (!d->have_mac) { /* QEMU's default 52:54:00:12:34:56, +1 per further NIC */
            static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
            memcpy(d->mac, base, 6);
            d->mac[5] = (uint8_t)(base[5] + nics);
        }
        nics++;
    }
    /* An unused if=none drive is allowed, as QEMU allows it (it is opened, never used). */
    return 0;
}

void cli_virtio_free(struct vmm_virtio_config *vc)
{
    for (unsigned i = 0; i < vc->nr_drives; i++) {
        free(vc->drives[i].id);
        free(vc->drives[i].node_name);
        free(vc->drives[i].file);
        free(vc->drives[i].format);
    }
    for (unsigned i = 0; i < vc->nr_devices; i++) {
        free(vc->devices[i].id);
        free(vc->devices[i].serial);
        free(vc->devices[i].what);
        free(vc->pending_drive[i]);
        free(vc->pending_netdev[i]);
    }
    for (unsigned i = 0; i < vc->nr_netdevs; i++) {
        free((char *)vc->netdevs[i].id);
        free((char *)vc->netdevs[i].ifname);
    }
    memset(vc, 0, sizeof(*vc));
}
