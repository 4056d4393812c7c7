/*
 * cli-backends.c - parsing of the backends devices name by id: -drive,
 * -netdev and -chardev (see cli-backends.h). Error lines name the option and
 * the offending property, as cli.c's do.
 */
#include "vmm/cli-backends.h"
#include "vmm/cli-ide.h"
#include "vmm/cli.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-device.h"
#include "vmm/cli-opts.h"
#include "vmm/dev/device.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* fds=a:b:c: the inherited descriptors of a multiqueue tap, one per queue. */
static int parse_fds(const char *v, struct net_options *o, const char *arg, struct verr *err)
{
    o->nr_fds = 0;
    for (const char *p = v;;) {
        char *end;
        errno = 0;
        unsigned long fd = strtoul(p, &end, 10);
        if (end == p || errno || fd > 65535 || (*end && *end != ':'))
            return verr_set(err, EINVAL, "-netdev %s: fds=%s is not a list of file descriptors",
                            arg, v);
        if (o->nr_fds == NET_MAX_QUEUES)
            return verr_set(err, EINVAL, "-netdev %s: fds=%s (at most %u descriptors)", arg, v,
                            NET_MAX_QUEUES);
        o->fds[o->nr_fds++] = (int)fd;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int cli_netdev(struct vm_backends *be, const char *arg, struct verr *err)
{
    /* A slot netdev_del emptied is free again (hot-plug rounds add and remove netdevs). */
    bool room = be->nr_netdevs < VMM_MAX_NETDEVS;
    for (unsigned i = 0; !room && i < be->nr_netdevs; i++)
        room = !be->netdevs[i].id;
    if (!room)
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
        } else if (o.kind == NET_TAP && cli_prop(item, "queues", &v)) {
            uint64_t q;
            if (str_to_u64(v, 10, &q) < 0 || q < 1 || q > NET_MAX_QUEUES)
                r = verr_set(err, EINVAL, "-netdev %s: queues=%s (1 to %u supported)", arg, v,
                             NET_MAX_QUEUES);
            else
                o.queues = (unsigned)q;
        } else if (o.kind == NET_TAP && cli_prop(item, "fds", &v)) {
            r = parse_fds(v, &o, arg, err);
        } else if (o.kind == NET_TAP &&
                   (cli_prop(item, "script", &v) || cli_prop(item, "downscript", &v))) {
            if (strcmp(v, "no"))
                r = verr_set(err, ENOTSUP, "-netdev %s: only %s is supported (scripts are not run)",
                             arg, item[0] == 's' ? "script=no" : "downscript=no");
        } else if (o.kind == NET_TAP && cli_prop(item, "vhost", &v)) {
            bool on;
            if (cli_parse_bool(v, &on) < 0 || on)
                r = verr_set(err, ENOTSUP, "-netdev %s: only vhost=off is supported", arg);
        } else if (o.kind == NET_USER &&
                   (cli_prop(item, "queues", &v) || cli_prop(item, "fds", &v))) {
            /* multiqueue is a tap's: QEMU's user networking has no such parameter */
            r = verr_set(err, EINVAL, "-netdev %s: Invalid parameter '%s'", arg,
                         item[0] == 'q' ? "queues" : "fds");
        } else {
            r = verr_set(err, EINVAL, "-netdev %s: unknown %s option '%s'", arg, type, item);
        }
    }
    if (r == 0 && !id)
        r = verr_set(err, EINVAL, "-netdev %s: id= is required", arg);
    /* QEMU's words for the combinations it refuses. */
    if (r == 0 && o.kind == NET_TAP && o.fd >= 0 && (ifname || o.queues || o.nr_fds))
        r = verr_set(err, EINVAL,
                     "-netdev %s: ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, "
                     "fds=, and vhostfds= are invalid with fd=",
                     arg);
    if (r == 0 && o.kind == NET_TAP && o.nr_fds && (ifname || o.queues))
        r = verr_set(err, EINVAL,
                     "-netdev %s: ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, "
                     "and vhostfd= are invalid with fds=",
                     arg);
    if (r == 0 && o.kind == NET_TAP && !ifname && o.fd < 0 && !o.nr_fds)
        r = verr_set(err, EINVAL, "-netdev %s: tap needs one of ifname=, fd= and fds=", arg);
    for (unsigned i = 0; r == 0 && i < be->nr_netdevs; i++)
        if (be->netdevs[i].id && !strcmp(be->netdevs[i].id, id)) /* netdev_del empties */
            r = verr_set(err, EEXIST, "-netdev %s: duplicate netdev id '%s'", arg, id);
    free(copy);
    if (r < 0) {
        free(id);
        free(ifname);
        return r;
    }
    o.id = id;
    o.ifname = ifname;
    be->netdevs[vm_backends_new_slot(be, BACKEND_NETDEV)] = o;
    return 0;
}

/* -drive if=pflash: unit 0 or 1 (the next free one when not given), raw bytes, named
 * pflashN as QEMU names it. */
static int pflash_drive_check(struct vmm_config *cfg, struct vmm_drive *d, int *unit,
                              const char *arg, struct verr *err)
{
    if (*unit < 0)
        *unit = cfg->pflash_drive[0] < 0 ? 0 : 1;
    if (*unit > 1)
        return verr_set(err, EINVAL,
                        "-drive %s: machine type does not support if=pflash,bus=0,unit=%d", arg,
                        *unit);
    if (cfg->pflash_drive[*unit] >= 0)
        return verr_set(err, EEXIST, "-drive %s: drive with bus=0, unit=%d exists", arg, *unit);
    if (!d->file)
        return verr_set(err, EINVAL, "-drive %s: if=pflash needs a file=", arg);
    if (d->format && strcmp(d->format, "raw"))
        return verr_set(err, ENOTSUP,
                        "-drive %s: format=%s: vireo-vmm's pflash takes raw images only", arg,
                        d->format);
    if (d->snapshot)
        return verr_set(err, ENOTSUP, "-drive %s: snapshot=on is not supported with if=pflash",
                        arg);
    if (!d->id)
        d->id = xasprintf("pflash%d", *unit);
    return 0;
}

int cli_drive(struct vmm_config *cfg, const char *arg, struct verr *err)
{
    struct vm_backends *be = &cfg->backends;
    if (be->nr_drives >= VMM_MAX_DRIVES)
        return verr_set(err, ENOSPC, "-drive %s: at most %u drives", arg, VMM_MAX_DRIVES);
    struct vmm_drive d = {0};
    throttle_config_init(&d.throttle);
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *v;
    bool if_virtio = false, if_ide = false, if_pflash = false;
    int index = -1, unit = -1;
    const char *key_opt = NULL;
    int r = 0;
    while ((item = cli_next_item(&cur)) && r == 0) {
        if (cli_prop(item, "file", &v)) {
            free(d.file);
            d.file = xstrdup(v);
        } else if (cli_prop(item, "format", &v)) {
            if (!block_format_supported(v))
                r = verr_set(err, EINVAL, "-drive %s: format '%s' not supported%s", arg, v,
                             block_format_known(v) ? "" : " (unknown format)");
            free(d.format);
            d.format = xstrdup(v);
        } else if (cli_prop(item, "if", &v)) {
            if_virtio = !strcmp(v, "virtio");
            if_ide = !strcmp(v, "ide");
            if_pflash = !strcmp(v, "pflash");
            if (!if_virtio && !if_ide && !if_pflash && strcmp(v, "none"))
                r = verr_set(err, ENOTSUP,
                             "-drive %s: if=%s not supported (none, virtio, ide, pflash)", arg, v);
        } else if (cli_prop(item, "unit", &v)) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 0 || n > 255)
                r = verr_set(err, EINVAL, "-drive %s: unit=%s is not a number from 0 to 255", arg,
                             v);
            unit = (int)n;
        } else if (cli_prop(item, "index", &v)) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 0 || n > 255)
                r = verr_set(err, EINVAL, "-drive %s: index=%s is not a number from 0 to 255", arg,
                             v);
            index = (int)n;
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
        } else if (cli_prop(item, "detect-zeroes", &v)) {
            /* unmap without discard=unmap is taken, and unmaps (QEMU 7.2's -drive does) */
            if (block_detect_zeroes_parse(v, &d.detect_zeroes) < 0)
                r = verr_set(err, EINVAL, "-drive %s: invalid parameter value: %s", arg, v);
        } else if (cli_prop(item, "aio", &v)) {
            /* native (Linux AIO) is accepted and runs as threads (TODO: not implemented). */
            if (strcmp(v, "threads") && strcmp(v, "io_uring") && strcmp(v, "native"))
                r = verr_set(err, EINVAL, "-drive %s: aio=%s (threads, io_uring, native)", arg, v);
            d.aio_io_uring = !strcmp(v, "io_uring");
        } else if (cli_prop(item, "snapshot", &v)) {
            if (cli_parse_bool(v, &d.snapshot) < 0)
                r = verr_set(err, EINVAL, "-drive %s: snapshot=%s is not on/off", arg, v);
            d.snapshot_given = true;
        } else if (cli_prop(item, "key-secret", &v) || cli_prop(item, "encrypt.key-secret", &v)) {
            key_opt = item[0] == 'k' ? "key-secret" : "encrypt.key-secret";
            free(d.key_secret);
            d.key_secret = xstrdup(v);
        } else if (cli_prop(item, "encrypt.format", &v)) {
            if (strcmp(v, "luks") && strcmp(v, "aes"))
                r = verr_set(err, EINVAL,
                             "-drive %s: Parameter 'encrypt.format' does not accept value '%s'",
                             arg, v);
            free(d.encrypt_format);
            d.encrypt_format = xstrdup(v);
        } else if (cli_prop(item, "file.locking", &v)) {
            if (block_locking_parse(v, &d.locking) < 0)
                r = verr_set(err, EINVAL,
                             "-drive %s: Parameter 'locking' does not accept value '%s'", arg, v);
        } else if (cli_prop(item, "throttling.group", &v)) {
            free(d.throttle_group);
            d.throttle_group = xstrdup(v);
        } else if (strncmp(item, "throttling.", 11) == 0 && strchr(item, '=')) {
            char *eq = strchr(item, '='), *end;
            *eq = '\0';
            errno = 0;
            long long n = strtoll(eq + 1, &end, 10);
            if (!eq[1] || *end || errno == EINVAL)
                r = verr_set(err, EINVAL, "-drive %s: Parameter '%s' expects a number", arg, item);
            else if (n < 0 || errno == ERANGE)
                r = verr_set(err, EINVAL, "-drive %s: bps/iops/max values must be within [0, %llu]",
                             arg, (unsigned long long)THROTTLE_VALUE_MAX);
            else if (throttle_config_set_option(&d.throttle, item + 11, (uint64_t)n) < 0)
                r = verr_set(err, EINVAL,
                             "-drive %s: Block format '%s' does not support the option '%s'", arg,
                             d.format ? d.format : "raw", item);
        } else if (cli_prop(item, "media", &v)) {
            if (!strcmp(v, "cdrom"))
                d.cdrom = true;
            else if (strcmp(v, "disk"))
                r = verr_set(err, EINVAL, "-drive %s: '%s' invalid media", arg, v);
        } else {
            r = verr_set(err, EINVAL, "-drive %s: unknown property '%s'", arg, item);
        }
    }
    free(copy);
    /* key-secret belongs to luks, encrypt.* to qcow2 (QEMU's spelling). */
    if (r == 0 && d.format && key_opt &&
        strcmp(d.format, strcmp(key_opt, "key-secret") == 0 ? "luks" : "qcow2"))
        r = verr_set(err, EINVAL, "-drive %s: Block format '%s' does not support the option '%s'",
                     arg, d.format, key_opt);
    if (r == 0 && d.format && d.encrypt_format && strcmp(d.format, "qcow2"))
        r = verr_set(err, EINVAL,
                     "-drive %s: Block format '%s' does not support the option 'encrypt.format'",
                     arg, d.format);
    struct verr terr = {0};
    if (r == 0 && throttle_config_check(&d.throttle, &terr) < 0)
        r = verr_set(err, EINVAL, "-drive %s: %s", arg, verr_msg(&terr));
    if (d.cdrom) /* QEMU: a CD-ROM drive is read-only */
        d.read_only = true;
    if (r == 0 && !d.file && !d.cdrom)
        r = verr_set(err, EINVAL, "-drive %s: file= is required (only media=cdrom may be empty)",
                     arg);
    if (r == 0 && !d.file && if_virtio)
        r = verr_set(err, EINVAL, "-drive %s: Device needs media, but drive is empty", arg);
    if (r == 0 && index >= 0 && !if_ide)
        r = verr_set(err, EINVAL, "-drive %s: index= is for if=ide drives", arg);
    if (r == 0 && unit >= 0 && !if_pflash)
        r = verr_set(err, EINVAL, "-drive %s: unit= is for if=pflash drives", arg);
    if (r == 0 && if_pflash)
        r = pflash_drive_check(cfg, &d, &unit, arg, err);
    if (r == 0 && !if_virtio && !if_ide && !d.id)
        r = verr_set(err, EINVAL, "-drive %s: if=none needs an id= for -device drive=", arg);
    if (r == 0 && !d.id && if_virtio) /* QEMU names an if=virtio drive without id= virtioN */
        d.id = xasprintf("virtio%u", cfg->nr_virtio_drives);
    for (unsigned i = 0; r == 0 && i < be->nr_drives; i++)
        if (be->drives[i].id && !strcmp(be->drives[i].id, d.id))
            r = verr_set(err, EEXIST, "-drive %s: duplicate drive id '%s'", arg, d.id);
    for (unsigned i = 0; r == 0 && d.node_name && i < be->nr_drives; i++)
        if (be->drives[i].node_name && !strcmp(be->drives[i].node_name, d.node_name))
            r = verr_set(err, EEXIST, "-drive %s: duplicate node-name '%s'", arg, d.node_name);
    if (r < 0) {
        free(d.id);
        free(d.node_name);
        free(d.file);
        free(d.format);
        free(d.key_secret);
        free(d.encrypt_format);
        free(d.throttle_group);
        return r;
    }
    be->drives[be->nr_drives++] = d;
    if (if_pflash) /* the machine maps it (machine-pc.c) */
        cfg->pflash_drive[unit] = (int)be->nr_drives - 1;
    if (if_ide) /* an if=ide drive's id and device wait for the machine (cli-ide.c) */
        cli_ide_add(cfg, be->nr_drives - 1, index, d.cdrom, arg);
    if (!if_virtio)
        return 0;
    /* -drive if=virtio is QEMU's shorthand for a virtio-blk-pci device on the drive. */
    cfg->nr_virtio_drives++;
    char *what = xasprintf("-drive %s", arg);
    struct dev_config *c = dev_config_new(dev_type_find("virtio-blk-pci"), what);
    free(what);
    if ((r = dev_config_set(c, "drive", d.id, err)) < 0) {
        dev_config_free(c);
        return r;
    }
    return cli_add_device(cfg, c, err);
}

int cli_chardev(struct vm_backends *be, const char *arg, struct verr *err)
{
    if (be->nr_chardevs >= VMM_MAX_CHARDEVS)
        return verr_set(err, ENOSPC, "-chardev %s: at most %u chardevs", arg, VMM_MAX_CHARDEVS);
    struct chardev_spec spec;
    int r = chardev_parse_opts(arg, &spec, err);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < be->nr_chardevs; i++) {
        if (str_eq(be->chardevs[i].id, spec.id)) {
            r = verr_set(err, EEXIST, "-chardev %s: duplicate chardev id '%s'", arg, spec.id);
            chardev_spec_free(&spec);
            return r;
        }
    }
    be->chardevs[be->nr_chardevs++] = spec;
    return 0;
}

int cli_chardev_check(const struct vm_backends *be, const struct chardev_spec *serial,
                      bool daemonize, struct verr *err)
{
    unsigned users = serial->kind == CHARDEV_STDIO;
    for (unsigned i = 0; i < be->nr_chardevs; i++) {
        if (be->chardevs[i].kind != CHARDEV_STDIO)
            continue;
        if (daemonize)
            return verr_set(err, EINVAL, "-chardev stdio,id=%s: cannot be used with -daemonize",
                            be->chardevs[i].id);
        if (++users > 1)
            return verr_set(err, EBUSY,
                            "-chardev stdio,id=%s: cannot use stdio by multiple character devices",
                            be->chardevs[i].id);
    }
    return 0;
}
