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
    ok(r == 0 && cfg.virtio.nr_drives == 1 && cfg.virtio.nr_devices == 1 &&
           cfg.virtio.devices[0].kind == VMM_VIRTIO_BLK && cfg.virtio.devices[0].drive == 0 &&
           !strcmp(cfg.virtio.drives[0].file, "a.img") && !cfg.virtio.drives[0].format,
       "-drive if=virtio makes a drive and a virtio-blk device");
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-drive",
              "file=b.qcow2,format=qcow2,if=none,id=d0,cache=none,readonly=on,discard=unmap,"
              "aio=threads",
              "-device", "virtio-blk-pci,drive=d0,serial=SN1,num-queues=4,id=blk0", "-device",
              "virtio-rng-pci", NULL);
    const struct vmm_virtio_config *vc = &cfg.virtio;
    ok(r == 0 && vc->nr_devices == 2 && !strcmp(vc->drives[0].format, "qcow2") &&
           vc->drives[0].cache == BLOCK_CACHE_NONE && vc->drives[0].read_only &&
           vc->drives[0].discard_unmap && !strcmp(vc->devices[0].serial, "SN1") &&
           vc->devices[0].num_queues == 4 && !strcmp(vc->devices[0].id, "blk0") &&
           vc->devices[1].kind == VMM_VIRTIO_RNG,
       "if=none drive with every property, virtio-blk-pci with drive/serial/num-queues, rng (%s)",
       r ? verr_msg(&err) : "ok");
    cli_config_free(&cfg);

    const char *modes[] = {"writeback", "none", "writethrough", "directsync", "unsafe"};
    enum block_cache want[] = {BLOCK_CACHE_WRITEBACK, BLOCK_CACHE_NONE, BLOCK_CACHE_WRITETHROUGH,
                               BLOCK_CACHE_DIRECTSYNC, BLOCK_CACHE_UNSAFE};
    for (unsigned i = 0; i < 5; i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "file=x,if=virtio,cache=%s", modes[i]);
        r = parse(&cfg, &err, "-drive", arg, NULL);
        ok(r == 0 && cfg.virtio.drives[0].cache == want[i], "cache=%s", modes[i]);
        cli_config_free(&cfg);
    }

    r = parse(&cfg, &err, "-drive", "file=x,if=none,id=d0", NULL);
    ok(r == 0 && cfg.virtio.nr_devices == 0, "an unused if=none drive is accepted (as QEMU)");
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-drive", "if=virtio", NULL);
    refused("no file=", "file= is required", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x", NULL);
    refused("if=none without id=", "needs an id=", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=ide", NULL);
    refused("if=ide", "if=ide not supported", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,if=virtio,format=vmdk", NULL);
    refused("format=vmdk", "format 'vmdk' not supported", r, &cfg, &err);
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
    refused("a drive used twice", "already in use", r, &cfg, &err);
    r = parse(&cfg, &err, "-drive", "file=x,id=d0", "-device",
              "virtio-blk-pci,drive=d0,num-queues=0", NULL);
    refused("num-queues=0", "num-queues=0 (1 to 8)", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-rng-pci,rng=rng0", NULL);
    refused("unknown virtio-rng-pci property", "unknown virtio-rng-pci property 'rng=rng0'", r,
            &cfg, &err);

    r = parse(&cfg, &err, "-device", "virtio-balloon-pci,id=balloon0", "-device", "virtio-rng-pci",
              NULL);
    ok(r == 0 && cfg.virtio.nr_devices == 2 && cfg.virtio.devices[0].kind == VMM_VIRTIO_BALLOON &&
           !strcmp(cfg.virtio.devices[0].id, "balloon0") &&
           cfg.virtio.devices[1].kind == VMM_VIRTIO_RNG,
       "-device virtio-balloon-pci,id= (%s)", r ? verr_msg(&err) : "ok");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-balloon", NULL);
    ok(r == 0 && cfg.virtio.nr_devices == 1 && cfg.virtio.devices[0].kind == VMM_VIRTIO_BALLOON,
       "-device virtio-balloon (QEMU's alias)");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-balloon-pci", "-device", "virtio-balloon-pci", NULL);
    refused("two balloons", "only one virtio-balloon device", r, &cfg, &err);
    r = parse(&cfg, &err, "-device", "virtio-balloon-pci,drive=d0", NULL);
    refused("unknown virtio-balloon-pci property", "unknown virtio-balloon-pci property 'drive=d0'",
            r, &cfg, &err);
    return tap_done();
}
