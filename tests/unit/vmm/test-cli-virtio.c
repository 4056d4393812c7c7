/*
 * test-cli-virtio.c - the -drive and virtio -device spellings vireo-vmm
 * accepts (QEMU's) and the ones it refuses, through cli_parse() as main()
 * calls it: if=virtio shorthand, if=none + drive=, every cache mode,
 * readonly, discard, serial, num-queues, virtio-rng-pci; missing file=,
 * missing id=, duplicate ids, unknown properties, a drive used twice, an
 * unknown drive, bad num-queues; virtio-balloon-pci (one only, its own
 * property errors).
 */
#include "../tap.h"
#include "devcfg-test.h"
#include "vmm/cli.h"

#include <stdarg.h>
#include <string.h>

static int parse(struct vmm_config *cfg, struct verr *err, ...)
{
    char *argv[32] = {"vireo-vmm", "-kernel", "k"};
    int argc = 3;
    va_list ap;
    va_start(ap, err);
    char *a;
    while ((a = va_arg(ap, char *)) && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    memset(err, 0, sizeof(*err));
    return cli_parse(argc, argv, cfg, err);
}

/* -device and -drive if=virtio devices (the machine's built-ins left out). */
static unsigned user_devs(const struct vmm_config *cfg)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->nr_devices; i++)
        n += !cfg->devices[i]->builtin;
    return n;
}

static void refused(const char *what, const char *needle, int r, struct vmm_config *cfg,
                    struct verr *err)
{
    ok(r < 0 && strstr(verr_msg(err), needle), "refused: %s (%s)", what, verr_msg(err));
    cli_config_free(cfg);
}

int main(void)
{
    struct vmm_config cfg;
    struct verr err;

    int r = parse(&cfg, &err, "-drive", "file=a.img,if=virtio", NULL);
    ok(r == 0 && cfg.backends.nr_drives == 1 && user_devs(&cfg) == 1 &&
           dev_is(find_dev(&cfg, "virtio-blk-pci", 0), "drive", "virtio0") &&
           !strcmp(cfg.backends.drives[0].id, "virtio0") &&
           !strcmp(cfg.backends.drives[0].file, "a.img") && !cfg.backends.drives[0].format,
       "-drive if=virtio makes a drive (QEMU's id virtio0) and a virtio-blk device on it");
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-drive", "file=a,,b.img,if=virtio", NULL);
    ok(r == 0 && cfg.backends.nr_drives == 1 && !strcmp(cfg.backends.drives[0].file, "a,b.img"),
       "-drive file=a,,b.img names the file 'a,b.img' (QEMU's ,, escape)");
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-drive",
              "file=b.qcow2,format=qcow2,if=none,id=d0,cache=none,readonly=on,discard=unmap,"
              "aio=threads",
              "-device", "virtio-blk-pci,drive=d0,serial=SN1,num-queues=4,id=blk0", "-device",
              "virtio-rng-pci", NULL);
    const struct vm_backends *vc = &cfg.backends;
    const struct dev_config *blk = find_dev(&cfg, "virtio-blk-pci", 0);
    ok(r == 0 && user_devs(&cfg) == 2 && !strcmp(vc->drives[0].format, "qcow2") &&
           vc->drives[0].cache == BLOCK_CACHE_NONE && vc->drives[0].read_only &&
           vc->drives[0].discard_unmap && dev_is(blk, "serial", "SN1") &&
           dev_is(blk, "num-queues", "4") && dev_is(blk, "id", "blk0") &&
           dev_is(blk, "drive", "d0") && vc->drive_used[0] &&
           cfg.devices[cfg.nr_devices - 1]->type == dev_type_find("virtio-rng-pci"),
       "if=none drive with every property, virtio-blk-pci with drive/serial/num-queues, rng (%s)",
       r ? verr_msg(&err) : "ok");
    cli_config_free(&cfg);

    const char *aio[] = {"threads", "native", "io_uring"};
    for (unsigned i = 0; i < 3; i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "file=x,if=virtio,aio=%s", aio[i]);
        r = parse(&cfg, &err, "-drive", arg, NULL);
        ok(r == 0 && cfg.backends.drives[0].aio_io_uring == (i == 2), "aio=%s", aio[i]);
        cli_config_free(&cfg);
    }
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio", NULL);
    ok(r == 0 && !cfg.backends.drives[0].aio_io_uring && !cfg.backends.drives[0].node_name,
       "aio=threads is the default, no node-name");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-drive", "file=x,if=none,id=a,node-name=n0", NULL);
    ok(r == 0 && !strcmp(cfg.backends.drives[0].node_name, "n0"), "node-name=");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-drive", "file=x,if=none,id=a,node-name=n0", "-drive",
              "file=y,if=none,id=b,node-name=n0", NULL);
    ok(r < 0 && strstr(verr_msg(&err), "duplicate node-name 'n0'"), "duplicate node-name (%s)",
       r < 0 ? verr_msg(&err) : "accepted");
    cli_config_free(&cfg);

    const char *modes[] = {"writeback", "none", "writethrough", "directsync", "unsafe"};
    enum block_cache want[] = {BLOCK_CACHE_WRITEBACK, BLOCK_CACHE_NONE, BLOCK_CACHE_WRITETHROUGH,
                               BLOCK_CACHE_DIRECTSYNC, BLOCK_CACHE_UNSAFE};
    for (unsigned i = 0; i < 5; i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "file=x,if=virtio,cache=%s", modes[i]);
        r = parse(&cfg, &err, "-drive", arg, NULL);
        ok(r == 0 && cfg.backends.drives[0].cache == want[i], "cache=%s", modes[i]);
        cli_config_free(&cfg);
    }

    r = parse(&cfg, &err, "-drive", "file=x,if=none,id=d0", NULL);
    ok(r == 0 && user_devs(&cfg) == 0 && !cfg.backends.drive_used[0],
       "an unused if=none drive is accepted (as QEMU)");
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-drive", "if=virtio", NULL);
    refused("no file=", "file= is required", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x", NULL);
    refused("if=none without id=", "needs an id=", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=ide", NULL);
    refused("if=ide on microvm", "microvm has no IDE controller", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,format=bochs", NULL);
    refused("format=bochs", "format 'bochs' not supported", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,cache=fast", NULL);
    refused("cache=fast", "bad cache mode 'fast'", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,readonly=maybe", NULL);
    refused("readonly=maybe", "readonly=maybe is not on/off", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,discard=sometimes", NULL);
    refused("discard=sometimes", "discard=sometimes", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,bogus=1", NULL);
    refused("unknown -drive property", "unknown property 'bogus=1'", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,id=d0", "-drive", "file=y,id=d0", NULL);
    refused("duplicate drive id", "duplicate drive id 'd0'", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-blk-pci", NULL);
    refused("virtio-blk-pci without drive=", "drive= is required", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-blk-pci,drive=nope", NULL);
    refused("unknown drive", "no -drive with id=nope", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,id=d0", "-device", "virtio-blk-pci,drive=d0", "-device",
              "virtio-blk-pci,drive=d0", NULL);
    refused("a drive used twice", "drive 'd0' is already in use", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,id=d0", "-device",
              "virtio-blk-pci,drive=d0,num-queues=0", NULL);
    refused("num-queues=0", "num-queues=0 (1 to 8)", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-rng-pci,rng=rng0", NULL);
    refused("unknown virtio-rng-pci property", "Property 'virtio-rng-pci.rng' not found", r, &cfg,
            &err);

    r = parse(&cfg, &err, "-device", "virtio-balloon-pci,id=balloon0", "-device", "virtio-rng-pci",
              NULL);
    ok(r == 0 && user_devs(&cfg) == 2 &&
           dev_is(find_dev(&cfg, "virtio-balloon-pci", 0), "id", "balloon0") &&
           cfg.devices[cfg.nr_devices - 1]->type == dev_type_find("virtio-rng-pci"),
       "-device virtio-balloon-pci,id= (%s)", r ? verr_msg(&err) : "ok");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-balloon", NULL);
    ok(r == 0 && user_devs(&cfg) == 1 && find_dev(&cfg, "virtio-balloon-pci", 0),
       "-device virtio-balloon (QEMU's alias)");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-balloon-pci", "-device", "virtio-balloon-pci", NULL);
    refused("two balloons", "only one virtio-balloon-pci device", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-balloon-pci,drive=d0", NULL);
    refused("unknown virtio-balloon-pci property", "Property 'virtio-balloon-pci.drive' not found",
            r, &cfg, &err);
    /* virtio-net and -netdev. */
    r = parse(&cfg, &err, "-netdev",
              "user,id=n0,hostfwd=tcp::5555-:22,hostfwd=udp:127.0.0.1:53-10.0.2.16:5353", "-device",
              "virtio-net-pci,netdev=n0", "-netdev",
              "tap,id=t0,ifname=tap7,script=no,downscript=no,vhost=off", "-device",
              "virtio-net-pci,netdev=t0,id=nic1", NULL);
    {
        const struct vm_backends *nvc = &cfg.backends;
        const struct net_options *u = &nvc->netdevs[0], *t = &nvc->netdevs[1];
        const struct dev_config *n0 = find_dev(&cfg, "virtio-net-pci", 0),
                                *n1 = find_dev(&cfg, "virtio-net-pci", 1);
        ok(r == 0 && nvc->nr_netdevs == 2 && user_devs(&cfg) == 2 && dev_is(n0, "netdev", "n0") &&
               dev_is(n1, "netdev", "t0") && nvc->netdev_used[0] && nvc->netdev_used[1],
           "two NICs on a user and a tap netdev (%s)", r ? verr_msg(&err) : "ok");
        ok(r == 0 && u->kind == NET_USER && u->nr_hostfwd == 2 && !u->hostfwd[0].udp &&
               u->hostfwd[0].host_port == 5555 && u->hostfwd[0].guest_port == 22 &&
               u->hostfwd[0].host_addr == 0 && u->hostfwd[1].udp &&
               u->hostfwd[1].host_addr == 0x7f000001 && u->hostfwd[1].guest_addr == 0x0a000210 &&
               u->hostfwd[1].guest_port == 5353,
           "hostfwd= tcp and udp forwards parsed");
        ok(r == 0 && t->kind == NET_TAP && !strcmp(t->ifname, "tap7") && t->fd == -1,
           "tap ifname= parsed");
        ok(r == 0 && dev_is(n0, "mac", "52:54:00:12:34:56") &&
               dev_is(n1, "mac", "52:54:00:12:34:57"),
           "default MACs 52:54:00:12:34:56 and :57");
    }
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-netdev", "tap,id=t0,fd=5", "-device",
              "virtio-net-pci,netdev=t0,mac=02:00:00:aa:bb:cc", NULL);
    ok(r == 0 && cfg.backends.netdevs[0].fd == 5 &&
           dev_is(find_dev(&cfg, "virtio-net-pci", 0), "mac", "02:00:00:aa:bb:cc"),
       "tap fd= and an explicit mac=");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-netdev",
              "user,id=n0,net=198.19.76.0/24,host=198.19.76.1,dhcpstart=198.19.76.100,"
              "dns=198.19.76.53",
              NULL);
    ok(r == 0 && cfg.backends.netdevs[0].net == 0xc6134c00 &&
           cfg.backends.netdevs[0].mask == 0xffffff00 &&
           cfg.backends.netdevs[0].host == 0xc6134c01 &&
           cfg.backends.netdevs[0].dhcp_start == 0xc6134c64 &&
           cfg.backends.netdevs[0].dns == 0xc6134c35,
       "user net=/host=/dhcpstart=/dns= (%s)", r ? verr_msg(&err) : "ok");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,net=198.18.0.0/255.254.0.0", NULL);
    ok(r == 0 && cfg.backends.netdevs[0].mask == 0xfffe0000, "user net= with a dotted mask");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-netdev", "user,id=n0", "-device",
              "virtio-net-pci,netdev=n0,host_mtu=9000", NULL);
    ok(r == 0 && dev_is(find_dev(&cfg, "virtio-net-pci", 0), "host_mtu", "9000"),
       "virtio-net-pci host_mtu=9000");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-netdev", "user,id=n0", "-device",
              "virtio-net-pci,netdev=n0,host_mtu=67", NULL);
    refused("host_mtu= below 68", "host_mtu=67 (68 to 65535)", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,net=198.18.2.0", NULL);
    refused("net= without a mask", "bad net=198.18.2.0", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,net=198.18.2.1/24", NULL);
    refused("net= with host bits", "bad net=198.18.2.1/24", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,net=198.18.0.0/255.0.255.0", NULL);
    refused("net= with a broken mask", "bad net=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,dns=198.18.2", NULL);
    refused("dns= not an address", "dns=198.18.2 is not an IPv4 address", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "socket,id=n0", NULL);
    refused("an unknown backend", "backend 'socket' is not supported", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=n0,restrict=on", NULL);
    refused("an unknown user option", "unknown user option 'restrict=on'", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user", NULL);
    refused("a netdev without id=", "id= is required", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a", "-netdev", "user,id=a", NULL);
    refused("a duplicate netdev id", "duplicate netdev id 'a'", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a,hostfwd=tcp::99999-:22", NULL);
    refused("a bad hostfwd port", "bad hostfwd=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a,hostfwd=sctp::1-:2", NULL);
    refused("a bad hostfwd protocol", "bad hostfwd=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,script=/etc/qemu-ifup,ifname=x", NULL);
    refused("tap script=", "only script=no", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,ifname=x,vhost=on", NULL);
    refused("tap vhost=on", "only vhost=off", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a", NULL);
    refused("tap without ifname= or fd=", "tap needs one of ifname=, fd= and fds=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,ifname=x,fd=3", NULL);
    refused("tap with ifname= and fd=", "are invalid with fd=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fd=3,queues=2", NULL);
    refused("tap with fd= and queues=", "queues=, fds=, and vhostfds= are invalid with fd=", r,
            &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fds=3:4,queues=2", NULL);
    refused("tap with fds= and queues=", "are invalid with fds=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fds=3:4,ifname=x", NULL);
    refused("tap with fds= and ifname=", "are invalid with fds=", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,ifname=x,queues=17", NULL);
    refused("tap with queues=17", "queues=17 (1 to 16 supported)", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,ifname=x,queues=0", NULL);
    refused("tap with queues=0", "queues=0 (1 to 16 supported)", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fds=3::4", NULL);
    refused("tap with fds=3::4", "is not a list of file descriptors", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fds=3:", NULL);
    refused("tap with fds=3:", "is not a list of file descriptors", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "tap,id=a,fds=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17",
              NULL);
    refused("tap with 17 fds", "at most 16 descriptors", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a,queues=2", NULL);
    refused("user with queues=", "Invalid parameter 'queues'", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a", "-device", "virtio-net-pci", NULL);
    refused("virtio-net-pci without netdev=", "netdev= is required", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-net-pci,netdev=zz", NULL);
    refused("an unknown netdev", "no -netdev with id=zz", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a", "-device", "virtio-net-pci,netdev=a", "-device",
              "virtio-net-pci,netdev=a", NULL);
    refused("a netdev used twice", "netdev 'a' is already in use", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a", "-device",
              "virtio-net-pci,netdev=a,mac=01:00:00:00:00:01", NULL);
    refused("a multicast mac=", "is not a unicast", r, &cfg, &err);
    r = parse(&cfg, &err, "-netdev", "user,id=a", "-device",
              "virtio-net-pci,netdev=a,mac=52:54:00:12:34", NULL);
    refused("a short mac=", "is not a unicast", r, &cfg, &err);
    return tap_done();
}
