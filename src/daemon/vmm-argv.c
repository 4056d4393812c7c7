/*
 * vmm-argv.c - a domain definition to vireo-vmm's QEMU-style command line.
 *
 * What vireo-vmm understands is narrow (QEMU's microvm machine with a flat
 * PCIe root bus and direct kernel boot, or pc and q35 booted through SeaBIOS
 * with -boot and bootindex=; memory, vCPUs, one serial port, QMP, an
 * i8042, virtio-blk/net/balloon/rng PCI devices, virtio-scsi controllers with
 * scsi-hd/scsi-cd units, AHCI (sata) controllers with ide-hd/ide-cd on their ports, an xHCI
 * with a USB tablet and keyboard, with QEMU's -drive/-netdev/-device syntax), so every part of
 * the definition that would need more is refused with an error naming it: starting a VM
 * without the disk or NIC the user defined would be worse than not starting it.
 *
 * Devices map as libvirt's QEMU driver maps them: libvirt's aliases are the
 * device ids (virtio-disk0, net0, balloon0, rng0, scsi0, scsi0-0-0-0), and every PCI device gets
 * the address the definition holds (bus=pcie.0,addr=0xNN), so what dumpxml
 * shows is where the guest finds it. Devices are passed in slot order, which
 * also places them right on a vireo-vmm that takes the first free slot.
 * Values go through QEMU's ',,' escape, so paths may contain commas.
 */
#include "daemon/vmm-argv.h"
#include "daemon/iotune.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
#include "daemon/tune.h"
#include "daemon/vmm-firmware.h"
#include "daemon/vmm-support.h"
#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/error.h"
#include "util/mem.h"

struct argv_b {
    char **v;
    size_t n;
    const char *root;       /* the PCI root bus's name: pci.0 on pc, pcie.0 on q35 and microvm */
    bool firmware;          /* pc or q35: SeaBIOS boots the guest, so boot orders apply */
    bool q35;               /* sata controller 0 is the machine's built-in AHCI */
    bool vnc_tls;           /* vnc-tls-creds0 is on the command line (every display shares it) */
    const char *memory_dir; /* <source type='file'/>: the domain's memory_backing_dir/ID-NAME */
};

static void add(struct argv_b *a, const char *s)
{
    a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void addf2(struct argv_b *a, const char *opt, char *val)
{
    add(a, opt);
    add(a, val);
    free(val);
}

/* QEMU's option-value escape: a ',' inside a value is written ",,". */
static void put_escaped(struct buf *b, const char *v)
{
    for (; *v; v++) {
        buf_append(b, v, 1);
        if (*v == ',')
            buf_append(b, ",", 1);
    }
}

void vmm_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* The PCI placement every -device ends with. */
static void put_pci(const struct argv_b *ab, struct buf *b, const struct domain_address *a)
{
    char tail[64];
    if (a->bus != 0) /* behind pcie-root-port index N (pci.N) as device 0, or a PCI bridge's */
        snprintf(tail, sizeof(tail), ",bus=pci.%u,addr=0x%x", a->bus, a->slot);
    else if (a->function)
        snprintf(tail, sizeof(tail), ",bus=%s,addr=0x%x.%x", ab->root, a->slot, a->function);
    else
        snprintf(tail, sizeof(tail), ",bus=%s,addr=0x%x", ab->root, a->slot);
    buf_append(b, tail, strlen(tail));
    if (a->multifunction)
        buf_append_str(b, ",multifunction=on");
}

/* <boot order='N'> on a device: bootindex=N (firmware machines only: with direct kernel
 * boot the order means nothing, as QEMU's -kernel ignores it). */
static void put_bootindex(const struct argv_b *ab, struct buf *b, unsigned order)
{
    if (order && ab->firmware)
        buf_printf(b, ",bootindex=%u", order);
}

const char *vmm_argv_detect_zeroes(const struct domain_disk *d)
{
    const char *dz = d->driver_detect_zeroes;
    bool unmap = d->driver_discard && strcmp(d->driver_discard, "unmap") == 0;
    return dz && strcmp(dz, "unmap") == 0 && !unmap ? "on" : dz;
}

/* ",detect-zeroes=WORD" when the disk has one, else "". */
static char *detect_zeroes_opt(const struct domain_disk *d)
{
    const char *dz = vmm_argv_detect_zeroes(d);
    return dz ? xasprintf(",detect-zeroes=%s", dz) : xstrdup("");
}

const struct xnode *vmm_argv_disk_encryption(const struct domain_disk *d)
{
    for (size_t i = 0; i < d->nextra; i++)
        if (strcmp(d->extra[i]->name, "encryption") == 0)
            return d->extra[i];
    return NULL;
}

/* The -drive format: an encrypted raw (or luks) disk is QEMU's luks driver, as libvirt has it. */
static const char *drive_format(const struct domain_disk *d)
{
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    if (vmm_argv_disk_encryption(d) && strcmp(fmt, "qcow2") != 0)
        return "luks";
    return fmt;
}

/* The secret object an encrypted disk is keyed with (named from the disk's alias). */
static void put_key_secret(struct buf *b, const struct domain_disk *d, const char *alias)
{
    if (!vmm_argv_disk_encryption(d))
        return;
    if (strcmp(drive_format(d), "qcow2") == 0)
        buf_printf(b, ",encrypt.format=luks,encrypt.key-secret=%s-luks-secret0", alias);
    else
        buf_printf(b, ",key-secret=%s-luks-secret0", alias);
}

/* libvirt's names for the Nth virtio disk: the alias virtio-diskN with N the target's index
 * (vdb -> 1), and the -drive id drive-virtio-diskN of its -drive era. */
static void add_disk(struct argv_b *a, const struct domain_disk *d, size_t i)
{
    int idx = domain_disk_name_to_index(d->target_dev, NULL);
    if (idx < 0)
        idx = (int)i; /* a target name libvirt would not number */
    const char *fmt = drive_format(d);
    struct buf b = BUF_INIT;
    buf_append(&b, "file=", 5);
    put_escaped(&b, d->source_path);
    /* Like libvirt, no cache= when the definition has none (vireo-vmm's
     * default is QEMU's, writeback). */
    char *dz = detect_zeroes_opt(d);
    char *rest = xasprintf(
        ",format=%s,if=none,id=drive-virtio-disk%d%s%s%s%s%s%s%s", fmt, idx,
        d->driver_cache ? ",cache=" : "", d->driver_cache ? d->driver_cache : "",
        d->driver_io ? ",aio=" : "", d->driver_io ? d->driver_io : "",
        d->readonly ? ",readonly=on" : "",
        d->driver_discard && strcmp(d->driver_discard, "unmap") == 0 ? ",discard=unmap" : "", dz);
    buf_append(&b, rest, strlen(rest));
    free(rest);
    free(dz);
    char alias[32];
    snprintf(alias, sizeof(alias), "virtio-disk%d", idx);
    put_key_secret(&b, d, alias);
    struct vd_iotune tune;
    if (vd_iotune_from_disk(d, &tune, NULL) == 0) { /* vmm-support refused a bad one */
        char *opts = vd_iotune_drive_opts(&tune);
        buf_append_str(&b, opts);
        free(opts);
        vd_iotune_free(&tune);
    }
    addf2(a, "-drive", buf_detach(&b, NULL));
    char iothread[32] = "";
    if (d->driver_iothread) /* libvirt's ids for <iothreads>: iothread1..N */
        snprintf(iothread, sizeof(iothread), ",iothread=iothread%u", d->driver_iothread);
    char *dev = xasprintf("virtio-blk-pci,drive=drive-virtio-disk%d,id=virtio-disk%d%s%s", idx, idx,
                          iothread, d->shareable ? ",share-rw=on" : "");
    buf_append(&b, dev, strlen(dev));
    free(dev);
    if (d->serial) {
        buf_append(&b, ",serial=", 8);
        put_escaped(&b, d->serial);
    }
    put_bootindex(a, &b, d->boot_order);
    put_pci(a, &b, &d->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

char *vmm_argv_disk_alias(const struct domain_disk *d)
{
    const struct domain_address *ad = &d->address;
    if (d->target_bus == DOMAIN_DISK_BUS_SATA)
        return xasprintf("sata%u-%u-%u", ad->controller, ad->bus, ad->unit);
    if (d->target_bus == DOMAIN_DISK_BUS_SCSI)
        return xasprintf("scsi%u-%u-%u-%u", ad->controller, ad->bus, ad->target, ad->unit);
    if (d->target_bus == DOMAIN_DISK_BUS_IDE)
        return xasprintf("ide%u-%u-%u", ad->controller, ad->bus, ad->unit);
    return NULL;
}

/* A disk on a virtio-scsi, an AHCI or pc's IDE controller, as libvirt's -drive era names
 * it: alias scsiC-B-T-U, sataC-B-U or ideC-B-U from its drive address, -drive id drive-ALIAS; a
 * cdrom is scsi-cd or ide-cd (media=cdrom, no file when empty), a disk scsi-hd or ide-hd. */
static void add_scsi_disk(struct argv_b *a, const struct domain_disk *d)
{
    const struct domain_address *ad = &d->address;
    char *alias = vmm_argv_disk_alias(d);
    bool cd = d->device == DOMAIN_DISK_DEVICE_CDROM;
    bool sata = d->target_bus == DOMAIN_DISK_BUS_SATA;
    bool ide = d->target_bus == DOMAIN_DISK_BUS_IDE;
    struct buf b = BUF_INIT;
    if (d->source_path) {
        buf_append(&b, "file=", 5);
        put_escaped(&b, d->source_path);
        char *fmt = xasprintf(",format=%s,", drive_format(d));
        buf_append(&b, fmt, strlen(fmt));
        free(fmt);
    }
    char *dz = detect_zeroes_opt(d);
    char *rest = xasprintf(
        "if=none,id=drive-%s%s%s%s%s%s%s%s%s", alias, cd ? ",media=cdrom" : "",
        d->driver_cache ? ",cache=" : "", d->driver_cache ? d->driver_cache : "",
        d->driver_io ? ",aio=" : "", d->driver_io ? d->driver_io : "",
        d->readonly || cd ? ",readonly=on" : "",
        d->driver_discard && strcmp(d->driver_discard, "unmap") == 0 ? ",discard=unmap" : "", dz);
    buf_append(&b, rest, strlen(rest));
    free(rest);
    free(dz);
    put_key_secret(&b, d, alias);
    addf2(a, "-drive", buf_detach(&b, NULL));
    /* q35's sata controller 0 is the machine's own AHCI, whose ports QEMU names ide.0-5. */
    char port[32];
    if (sata && ad->controller == 0 && a->q35)
        snprintf(port, sizeof(port), "ide.%u", ad->unit);
    else
        snprintf(port, sizeof(port), "sata%u.%u", ad->controller, ad->unit);
    char *dev = ide ? xasprintf("%s,bus=ide.%u,unit=%u,drive=drive-%s,id=%s",
                                cd ? "ide-cd" : "ide-hd", ad->bus, ad->unit, alias, alias)
                : sata
                    ? xasprintf("%s,bus=%s,drive=drive-%s,id=%s", cd ? "ide-cd" : "ide-hd", port,
                                alias, alias)
                    : xasprintf("%s,bus=scsi%u.0,channel=%u,scsi-id=%u,lun=%u,drive=drive-%s,id=%s",
                                cd ? "scsi-cd" : "scsi-hd", ad->controller, ad->bus, ad->target,
                                ad->unit, alias, alias);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    if (d->serial) {
        buf_append(&b, ",serial=", 8);
        put_escaped(&b, d->serial);
    }
    put_bootindex(a, &b, d->boot_order);
    addf2(a, "-device", buf_detach(&b, NULL));
    free(alias);
}

unsigned vmm_argv_net_queues(const struct domain_net *n)
{
    return n->type != DOMAIN_NET_USER && n->driver_queues > 1 ? n->driver_queues : 1;
}

size_t vmm_argv_net_fd_index(const struct domain_def *def, size_t i)
{
    size_t k = 0;
    for (size_t j = 0; j < i && j < def->nnets; j++)
        k += vmm_argv_net_queues(&def->nets[j]);
    return k;
}

size_t vmm_argv_net_nfds(const struct domain_def *def)
{
    return vmm_argv_net_fd_index(def, def->nnets);
}

/* libvirt's names: -netdev id=hostnetN and the alias netN, N the interface's index. */
/* A tap interface's descriptors come from the daemon (net-iface.h): fd= for one queue;
 * fds=a:b:... and mq=on,vectors=2N+2 for <driver queues='N'/>, as libvirt passes them. */
static void add_net(struct argv_b *a, const struct domain_net *n, size_t i, const int *fds)
{
    unsigned queues = vmm_argv_net_queues(n);
    if (n->type == DOMAIN_NET_USER) {
        addf2(a, "-netdev", xasprintf("user,id=hostnet%zu", i));
    } else if (queues == 1) {
        addf2(a, "-netdev", xasprintf("tap,fd=%d,id=hostnet%zu", fds[0], i));
    } else {
        struct buf l = BUF_INIT;
        for (unsigned q = 0; q < queues; q++)
            buf_printf(&l, "%s%d", q ? ":" : "", fds[q]);
        char *list = buf_detach(&l, NULL);
        addf2(a, "-netdev", xasprintf("tap,fds=%s,id=hostnet%zu", list, i));
        free(list);
    }
    struct buf b = BUF_INIT;
    /* <model type='e1000'>: QEMU's e1000; otherwise (virtio, or none) virtio-net-pci */
    bool e1000 = n->model && strcmp(n->model, "e1000") == 0;
    char *dev = queues > 1
                    ? xasprintf("virtio-net-pci,mq=on,vectors=%u,netdev=hostnet%zu,id=net%zu,"
                                "mac=%s",
                                2 * queues + 2, i, i, n->mac)
                    : xasprintf("%s,netdev=hostnet%zu,id=net%zu,mac=%s",
                                e1000 ? "e1000" : "virtio-net-pci", i, i, n->mac);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    for (size_t k = 0; k < n->nextra; k++) { /* <mtu size>: the guest is told (F_MTU) */
        const char *mtu =
            strcmp(n->extra[k]->name, "mtu") == 0 ? xnode_attr(n->extra[k], "size") : NULL;
        if (mtu) {
            char *h = xasprintf(",host_mtu=%s", mtu);
            buf_append(&b, h, strlen(h));
            free(h);
        }
    }
    put_bootindex(a, &b, n->boot_order);
    put_pci(a, &b, &n->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* <controller type='pci' model='pcie-root-port'>: libvirt's -device line (id pci.N, port and
 * chassis from <target>), hotplug=off when the target says so. */
static void add_root_port(struct argv_b *a, const struct domain_controller *c)
{
    const char *port = NULL, *chassis = NULL, *hotplug = NULL;
    for (size_t k = 0; k < c->nextra; k++)
        if (strcmp(c->extra[k]->name, "target") == 0) {
            port = xnode_attr(c->extra[k], "port");
            chassis = xnode_attr(c->extra[k], "chassis");
            hotplug = xnode_attr(c->extra[k], "hotplug");
        }
    struct buf b = BUF_INIT;
    buf_printf(&b, "pcie-root-port,port=%s,chassis=%s,id=pci.%u", port ? port : "0x0",
               chassis ? chassis : "0", c->index);
    put_pci(a, &b, &c->address);
    if (hotplug && strcmp(hotplug, "off") == 0)
        buf_append_str(&b, ",hotplug=off");
    addf2(a, "-device", buf_detach(&b, NULL));
}

bool vmm_argv_is_root_port(const struct domain_controller *c)
{
    return c->type == DOMAIN_CONTROLLER_PCI && c->index != 0 && c->model &&
           strcmp(c->model, "pcie-root-port") == 0;
}

/* <controller type='pci' model='pcie-to-pci-bridge'> or model='pci-bridge': libvirt's
 * -device line (pci-bridge's chassis_nr from <target chassisNr>, else the index). */
static bool is_pci_bridge(const struct domain_controller *c)
{
    return c->type == DOMAIN_CONTROLLER_PCI && c->index != 0 && c->model &&
           (strcmp(c->model, "pcie-to-pci-bridge") == 0 || strcmp(c->model, "pci-bridge") == 0);
}

static void add_pci_bridge(struct argv_b *a, const struct domain_controller *c)
{
    struct buf b = BUF_INIT;
    if (strcmp(c->model, "pci-bridge") == 0) {
        const char *chassis = NULL;
        for (size_t k = 0; k < c->nextra; k++)
            if (strcmp(c->extra[k]->name, "target") == 0)
                chassis = xnode_attr(c->extra[k], "chassisNr");
        if (chassis)
            buf_printf(&b, "pci-bridge,chassis_nr=%s,id=pci.%u", chassis, c->index);
        else
            buf_printf(&b, "pci-bridge,chassis_nr=%u,id=pci.%u", c->index, c->index);
    } else {
        buf_printf(&b, "pcie-pci-bridge,id=pci.%u", c->index);
    }
    put_pci(a, &b, &c->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

static void add_simple(struct argv_b *a, const char *driver, const char *id,
                       const struct domain_address *addr)
{
    struct buf b = BUF_INIT;
    char *dev = xasprintf("%s,id=%s", driver, id);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    put_pci(a, &b, addr);
    addf2(a, "-device", buf_detach(&b, NULL));
}

const struct xnode *vmm_argv_virtio_console(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const char *tt = xnode_attr(xnode_child(n, "target"), "type");
        if (strcmp(n->name, "console") == 0 && tt && strcmp(tt, "virtio") == 0)
            return n;
    }
    return NULL;
}

/* <controller type='virtio-serial'>: libvirt's alias virtio-serialN is the id, so its
 * ports' bus is virtio-serialN.0. */
static void add_virtio_serial(struct argv_b *a, const struct domain_controller *c)
{
    char id[32];
    snprintf(id, sizeof(id), "virtio-serial%u", c->index);
    add_simple(a, "virtio-serial-pci", id, &c->address);
}

/* A <channel type='unix'> with a virtio target: the socket vireo-vmm listens on and the
 * virtserialport the guest finds by name (libvirt's ids: charchannelN, channelN). The path
 * was filled in before the start when the definition had none (vmm_argv_channel_path). */
static int add_channel(struct argv_b *a, const struct xnode *n, size_t nth, struct verr *err)
{
    const char *path = xnode_attr(xnode_child(n, "source"), "path");
    const char *name = xnode_attr(xnode_child(n, "target"), "name");
    const struct xnode *ad = xnode_child(n, "address");
    const char *ctl = xnode_attr(ad, "controller"), *port = xnode_attr(ad, "port");
    if (!path)
        return verr_set(err, EINVAL, "internal error: channel%zu has no socket path", nth);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "socket,path=");
    put_escaped(&b, path);
    buf_printf(&b, ",server=on,wait=off,id=charchannel%zu", nth);
    addf2(a, "-chardev", buf_detach(&b, NULL));
    buf_printf(&b,
               "virtserialport,bus=virtio-serial%s.0,nr=%s,chardev=charchannel%zu,id=channel%zu",
               ctl ? ctl : "0", port ? port : "1", nth, nth);
    if (name) {
        buf_append_str(&b, ",name=");
        put_escaped(&b, name);
    }
    addf2(a, "-device", buf_detach(&b, NULL));
    return 0;
}

/* USB controllers: one xHCI per index. libvirt's EHCI and UHCI models map to a qemu-xhci
 * (docs/domain-support.md), and an ich9 set (an EHCI and its UHCI companions under one
 * index) becomes the one xHCI, at the set's first function. Its id is libvirt's alias
 * (usb, usbN), so the devices' bus is usb.0 as libvirt writes it. */
static bool usb_first_of_index(const struct domain_def *def, size_t i)
{
    const struct domain_controller *c = &def->controllers[i];
    for (size_t k = 0; k < def->ncontrollers; k++) {
        const struct domain_controller *o = &def->controllers[k];
        if (k == i || o->type != DOMAIN_CONTROLLER_USB || o->index != c->index)
            continue;
        unsigned a = c->address.slot * 8 + c->address.function;
        unsigned b = o->address.slot * 8 + o->address.function;
        if (b < a || (b == a && k < i))
            return false;
    }
    return true;
}

static void add_usb(struct argv_b *a, const struct domain_controller *c)
{
    bool xhci = c->model && strstr(c->model, "xhci");
    bool nec = c->model && strcmp(c->model, "nec-xhci") == 0;
    struct buf b = BUF_INIT;
    buf_append_str(&b, nec ? "nec-usb-xhci" : "qemu-xhci");
    if (xhci && c->ports) {
        char *p = xasprintf(",p2=%u,p3=%u", c->ports, c->ports);
        buf_append_str(&b, p);
        free(p);
    }
    char *id = c->index ? xasprintf(",id=usb%u", c->index) : xstrdup(",id=usb");
    buf_append_str(&b, id);
    free(id);
    put_pci(a, &b, &c->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* <input bus='usb'> with its <address type='usb' bus='B' port='P'>: usb-tablet or usb-kbd
 * as libvirt passes them (id inputN, N counting every <input>). */
static void add_usb_input(struct argv_b *a, const struct xnode *n, size_t nth)
{
    const char *type = xnode_attr(n, "type");
    const struct xnode *ad = xnode_child(n, "address");
    const char *bus = xnode_attr(ad, "bus"), *port = xnode_attr(ad, "port");
    unsigned busno = bus ? (unsigned)strtoul(bus, NULL, 10) : 0;
    struct buf b = BUF_INIT;
    char *dev = xasprintf("%s,id=input%zu",
                          type && strcmp(type, "keyboard") == 0 ? "usb-kbd" : "usb-tablet", nth);
    buf_append_str(&b, dev);
    free(dev);
    char *where = busno ? xasprintf(",bus=usb%u.0", busno) : xstrdup(",bus=usb.0");
    buf_append_str(&b, where);
    free(where);
    if (port) {
        buf_append_str(&b, ",port=");
        put_escaped(&b, port);
    }
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* Slot and function of a kept device's <address type='pci'> (-1 when it has none). */
static int kept_devfn(const struct xnode *n)
{
    const struct xnode *x = xnode_child(n, "address");
    const char *t = xnode_attr(x, "type"), *s = xnode_attr(x, "slot"),
               *f = xnode_attr(x, "function");
    if (!t || strcmp(t, "pci") != 0 || !s)
        return -1;
    return (int)(strtoul(s, NULL, 0) * 8 + (f ? strtoul(f, NULL, 0) : 0));
}

/* <video><model type='vga'>: QEMU's standard VGA, as libvirt passes it. */
static void add_video(struct argv_b *a, const struct xnode *v, size_t i)
{
    const struct xnode *m = xnode_child(v, "model");
    const char *vram = xnode_attr(m, "vram");
    int devfn = kept_devfn(v);
    struct buf b = BUF_INIT;
    buf_printf(&b, "VGA,id=video%zu,vgamem_mb=%llu", i,
               vram ? strtoull(vram, NULL, 10) / 1024 : 16ull);
    if (devfn >= 0) {
        struct domain_address addr = {.type = DOMAIN_ADDRESS_PCI,
                                      .slot = (unsigned)devfn / 8,
                                      .function = (unsigned)devfn % 8};
        put_pci(a, &b, &addr);
    }
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* <graphics type='vnc'>: -vnc with its listen, display number and password, -k keymap.
 * The daemon has put the autoport port (and a socket path) into the node by now. */
static void add_vnc(struct argv_b *a, const struct xnode *g, const struct vmm_argv_paths *paths)
{
    const struct xnode *l = xnode_child(g, "listen");
    const char *lt = l ? xnode_attr(l, "type") : NULL;
    const char *port = xnode_attr(g, "port");
    struct buf b = BUF_INIT;
    if (lt && strcmp(lt, "none") == 0) {
        buf_append_str(&b, "none");
    } else if (lt && strcmp(lt, "socket") == 0) {
        const char *path = xnode_attr(l, "socket");
        buf_append_str(&b, "unix:");
        put_escaped(&b, path ? path : paths->vnc_socket ? paths->vnc_socket : "vnc.sock");
    } else {
        const char *addr = l ? xnode_attr(l, "address") : NULL;
        long p = port ? strtol(port, NULL, 10) : -1;
        addr = addr && *addr ? addr : "127.0.0.1"; /* libvirt's vnc_listen default */
        if (strchr(addr, ':'))
            buf_printf(&b, "[%s]:%ld", addr, p >= 5900 ? p - 5900 : 0);
        else
            buf_printf(&b, "%s:%ld", addr, p >= 5900 ? p - 5900 : 0);
    }
    if (paths->vnc_tls_dir) { /* qemu.conf's vnc_tls = 1, as libvirt writes it */
        if (!a->vnc_tls) {
            struct buf o = BUF_INIT;
            buf_append_str(&o, "tls-creds-x509,id=vnc-tls-creds0,dir=");
            put_escaped(&o, paths->vnc_tls_dir);
            buf_printf(&o, ",endpoint=server,verify-peer=%s", paths->vnc_tls_verify ? "yes" : "no");
            addf2(a, "-object", buf_detach(&o, NULL));
            a->vnc_tls = true;
        }
        buf_append_str(&b, ",tls-creds=vnc-tls-creds0");
    }
    if (xnode_attr(g, "passwd"))
        buf_append_str(&b, ",password=on");
    const char *share = xnode_attr(g, "sharePolicy");
    if (share)
        buf_printf(&b, ",share=%s", share);
    addf2(a, "-vnc", buf_detach(&b, NULL));
    const char *keymap = xnode_attr(g, "keymap");
    if (keymap)
        addf2(a, "-k", xstrdup(keymap));
}

int vmm_argv_check_lifecycle(const struct domain_def *def, struct verr *err)
{
    return vmm_support_check_lifecycle(def, err);
}

/* The -cpu value a <cpu> element asks for (vmm-support.c checked its mode, policies and
 * check): the model (host for host-passthrough, max for maximum, qemu64 for custom without
 * a model), then each <feature> as +name or -name by its policy (libvirt's names reach
 * vireo-vmm as written: it reads '_' as '-' and refuses a name it does not know), then
 * enforce for check='full'. NULL when the definition leaves the CPU to the default. */
static char *cpu_arg(const struct domain_def *def)
{
    if (!def->cpu)
        return NULL;
    const char *mode = xnode_attr(def->cpu, "mode");
    struct xnode *model = xnode_child(def->cpu, "model");
    const char *check = xnode_attr(def->cpu, "check");
    const char *name = "qemu64";
    if (mode && strcmp(mode, "host-passthrough") == 0)
        name = "host";
    else if (mode && strcmp(mode, "maximum") == 0)
        name = "max";
    else if (model && *xnode_text(model))
        name = xnode_text(model);
    const char *migratable = xnode_attr(def->cpu, "migratable");
    bool passthrough = strcmp(name, "host") == 0 || strcmp(name, "max") == 0;
    char *out = migratable && passthrough /* right after the model, as libvirt places it */
                    ? xasprintf("%s,migratable=%s", name, migratable)
                    : xstrdup(name);
    bool any = model || (mode && strcmp(mode, "custom") != 0);
    for (size_t i = 0; i < def->cpu->nkids; i++) {
        const struct xnode *k = def->cpu->kids[i];
        if (!k->name || strcmp(k->name, "feature") != 0)
            continue;
        const char *policy = xnode_attr(k, "policy");
        bool off = policy && (strcmp(policy, "disable") == 0 || strcmp(policy, "forbid") == 0);
        char *next = xasprintf("%s,%c%s", out, off ? '-' : '+', xnode_attr(k, "name"));
        free(out);
        out = next;
        any = true;
    }
    if (check && strcmp(check, "full") == 0) {
        char *next = xasprintf("%s,enforce", out);
        free(out);
        out = next;
        any = true;
    }
    if (!any) {
        free(out);
        return NULL;
    }
    return out;
}

/* <clock><timer name='pit' present='no'/> */
static bool pit_off(const struct domain_def *def)
{
    for (size_t i = 0; def->clock && i < def->clock->nkids; i++) {
        const struct xnode *t = def->clock->kids[i];
        const char *name = t->name ? xnode_attr(t, "name") : NULL;
        const char *present = t->name ? xnode_attr(t, "present") : NULL;
        if (name && strcmp(name, "pit") == 0 && present && strcmp(present, "no") == 0)
            return true;
    }
    return false;
}

/* ",KEY=A[-B]" for each run of a libvirt list ("0-2,^1"), as QEMU's repeated keys. */
static int put_list(struct buf *b, const char *key, const char *list, struct verr *err)
{
    struct bitmap *map = NULL;
    if (cpulist_parse(list, 4096, &map, err) < 0)
        return -EINVAL;
    for (size_t i = 0; i < map->nbits; i++) {
        if (!bitmap_test(map, i))
            continue;
        size_t j = i;
        while (j + 1 < map->nbits && bitmap_test(map, j + 1))
            j++;
        if (j > i)
            buf_printf(b, ",%s=%zu-%zu", key, i, j);
        else
            buf_printf(b, ",%s=%zu", key, i);
        i = j;
    }
    bitmap_free(map);
    return 0;
}

/* The host policy a <numatune> mode asks of a memory backend: strict binds (libvirt's
 * QEMU driver does the same besides cpuset.mems), restrictive is cpuset.mems alone. */
static int put_policy(struct buf *b, const char *mode, const char *nodeset, struct verr *err)
{
    if (!nodeset || !strcmp(mode, "restrictive"))
        return 0;
    buf_printf(b, ",policy=%s", !strcmp(mode, "strict") ? "bind" : mode);
    return put_list(b, "host-nodes", nodeset, err);
}

/* The <memnode> of a cell, else the domain-wide <numatune><memory>: mode and nodeset. */
static void cell_tune(const struct domain_def *def, const char *cellid, const char **mode,
                      const char **nodeset)
{
    const struct xnode *m = def->numatune ? xnode_child(def->numatune, "memory") : NULL;
    *mode = m && xnode_attr(m, "mode") ? xnode_attr(m, "mode") : "strict";
    *nodeset = m ? xnode_attr(m, "nodeset") : NULL;
    for (size_t i = 0; cellid && def->numatune && i < def->numatune->nkids; i++) {
        const struct xnode *k = def->numatune->kids[i];
        const char *id = xnode_attr(k, "cellid");
        if (k->name && !strcmp(k->name, "memnode") && id && !strcmp(id, cellid)) {
            *mode = xnode_attr(k, "mode") ? xnode_attr(k, "mode") : "strict";
            *nodeset = xnode_attr(k, "nodeset");
        }
    }
}

/* <memoryBacking> as libvirt 9.0 writes it on QEMU 7.2's memory backends: the type (memfd,
 * file in the domain's memory_backing_dir directory, a file per backend named as libvirt names
 * it, or ram; <hugepages/> makes ram a file on the mount at start, vmm-start.c), share= from
 * <access> (a cell's memAccess wins), prealloc from <allocation mode='immediate'> with its threads,
 * discard-data from <discard/> or the cell's discard (file backends only: hugepages). */
static const struct xnode *backing(const struct domain_def *def, const char *name)
{
    return def->memory_backing ? xnode_child(def->memory_backing, name) : NULL;
}

static const char *backing_attr(const struct domain_def *def, const char *name, const char *attr)
{
    const struct xnode *n = backing(def, name);
    return n ? xnode_attr(n, attr) : NULL;
}

static bool is_memfd(const struct domain_def *def)
{
    const char *type = backing_attr(def, "source", "type");
    return type && !strcmp(type, "memfd");
}

static const char *backend_type(const struct domain_def *def)
{
    return is_memfd(def) ? "memfd" : vd_memory_dir_wanted(def) ? "file" : "ram";
}

/* All of guest RAM as -m gives it (MiB, rounded up as libvirt aligns <memory>). */
static unsigned long long ram_bytes(const struct domain_def *def)
{
    return (def->memory_kib - domain_def_memory_devices_kib(def) + 1023) / 1024 * 1024 * 1024;
}

/* A backend is needed without NUMA cells (-M memory-backend=pc.ram, as libvirt). memfd
 * with <hugepages/> gets hugetlb=on with the host's page size at start (vmm-start.c). */
static bool backend_needed(const struct domain_def *def)
{
    const char *alloc = backing_attr(def, "allocation", "mode");
    return is_memfd(def) || vd_memory_dir_wanted(def) || backing(def, "access") ||
           backing(def, "discard") || (alloc && !strcmp(alloc, "immediate"));
}

/* file: the backend's file in the domain's memory directory (libvirt's names: pc.ram,
 * ram-nodeN, dimmN). */
static void put_backend(struct buf *b, const struct argv_b *a, const struct domain_def *def,
                        const char *id, const char *file, unsigned long long bytes,
                        const char *access, const char *discard)
{
    buf_printf(b, "memory-backend-%s,id=%s,size=%llu", backend_type(def), id, bytes);
    if (vd_memory_dir_wanted(def)) {
        buf_printf(b, ",mem-path=");
        for (const char *p = a->memory_dir; *p; p++) /* QEMU's escape: ',' is written ",," */
            buf_append(b, *p == ',' ? ",," : p, *p == ',' ? 2 : 1);
        buf_printf(b, "/%s", file);
    }
    if (!access)
        access = backing_attr(def, "access", "mode");
    if (access)
        buf_printf(b, ",share=%s", !strcmp(access, "shared") ? "on" : "off");
    const char *alloc = backing_attr(def, "allocation", "mode");
    const char *threads = backing_attr(def, "allocation", "threads");
    if (alloc && !strcmp(alloc, "immediate")) {
        buf_printf(b, ",prealloc=on");
        if (threads)
            buf_printf(b, ",prealloc-threads=%s", threads);
    }
    if (discard ? !strcmp(discard, "yes") : backing(def, "discard") != NULL)
        buf_printf(b, ",discard-data=on");
}

/* What of <memoryBacking> cannot be applied, refused with libvirt's words where it has
 * them (at start, as libvirt). */
static int backing_check(const struct domain_def *def, struct verr *err)
{
    const struct xnode *numa = def->cpu ? xnode_child(def->cpu, "numa") : NULL;
    bool discard = backing(def, "discard") != NULL;
    for (size_t i = 0; numa && i < numa->nkids; i++) {
        const char *d = numa->kids[i]->name ? xnode_attr(numa->kids[i], "discard") : NULL;
        discard |= d && !strcmp(d, "yes");
    }
    if (discard && !vd_memory_dir_wanted(def) && (!backing(def, "hugepages") || is_memfd(def)))
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: <discard/> applies to file-backed guest "
                        "memory only (<hugepages/> or <source type='file'/>): anonymous and "
                        "memfd memory have no file to discard");
    return 0;
}

/* libvirt turns the ACPI HMAT on when a cell has a <cache> or <interconnects> has an entry
 * (conf/domain_numa.c dropped everything else from it). */
static bool numa_has_hmat(const struct xnode *numa)
{
    const struct xnode *ic = xnode_child(numa, "interconnects");
    if (ic && ic->nkids)
        return true;
    for (size_t i = 0; i < numa->nkids; i++)
        if (numa->kids[i]->name && !strcmp(numa->kids[i]->name, "cell") &&
            xnode_child(numa->kids[i], "cache"))
            return true;
    return false;
}

static bool cell_has_cpus(const struct xnode *cell)
{
    const char *cpus = xnode_attr(cell, "cpus");
    return cpus && *cpus;
}

/* A cell's HMAT initiator, as libvirt picks it: itself when it has vCPUs; else the initiator
 * of its lowest <latency>, else of its highest <bandwidth>; else (seen from libvirtd 9.0's
 * domxml-to-native, not from its distances) the first cell with vCPUs. */
static const char *cell_initiator(const struct xnode *numa, const struct xnode *cell)
{
    if (cell_has_cpus(cell))
        return xnode_attr(cell, "id");
    const struct xnode *ic = xnode_child(numa, "interconnects");
    const char *by_latency = NULL, *by_bandwidth = NULL;
    unsigned long long min_latency = UINT32_MAX, max_bandwidth = 0;
    for (size_t i = 0; ic && i < ic->nkids; i++) {
        const struct xnode *l = ic->kids[i];
        unsigned long long v = strtoull(xnode_attr(l, "value"), NULL, 10);
        if (strcmp(xnode_attr(l, "target"), xnode_attr(cell, "id")))
            continue;
        if (!strcmp(l->name, "latency") && v < min_latency)
            min_latency = v, by_latency = xnode_attr(l, "initiator");
        else if (!strcmp(l->name, "bandwidth") && v > max_bandwidth)
            max_bandwidth = v, by_bandwidth = xnode_attr(l, "initiator");
    }
    if (by_latency || by_bandwidth)
        return by_latency ? by_latency : by_bandwidth;
    for (size_t i = 0; i < numa->nkids; i++)
        if (numa->kids[i]->name && !strcmp(numa->kids[i]->name, "cell") &&
            cell_has_cpus(numa->kids[i]))
            return xnode_attr(numa->kids[i], "id");
    return NULL;
}

/* -numa hmat-lb per <latency>/<bandwidth> in their order, then -numa hmat-cache per cell
 * <cache>, in QEMU's words for libvirt's (full is QEMU's complex). */
static void hmat_args(struct argv_b *a, const struct xnode *numa)
{
    static const char *const hierarchy[] = {"memory", "first-level", "second-level", "third-level"};
    const struct xnode *ic = xnode_child(numa, "interconnects");
    for (size_t i = 0; ic && i < ic->nkids; i++) {
        const struct xnode *l = ic->kids[i];
        const char *cache = xnode_attr(l, "cache");
        bool bw = !strcmp(l->name, "bandwidth");
        addf2(a, "-numa",
              xasprintf("hmat-lb,initiator=%s,target=%s,hierarchy=%s,data-type=%s-%s,%s=%s%s",
                        xnode_attr(l, "initiator"), xnode_attr(l, "target"),
                        hierarchy[cache ? strtoul(cache, NULL, 10) % 4 : 0], /* 1..3: conf */
                        xnode_attr(l, "type"), bw ? "bandwidth" : "latency",
                        bw ? "bandwidth" : "latency", xnode_attr(l, "value"), bw ? "K" : ""));
    }
    for (size_t i = 0; i < numa->nkids; i++) {
        const struct xnode *cell = numa->kids[i];
        for (size_t j = 0; cell->name && !strcmp(cell->name, "cell") && j < cell->nkids; j++) {
            const struct xnode *c = cell->kids[j];
            if (!c->name || strcmp(c->name, "cache"))
                continue;
            const char *assoc = xnode_attr(c, "associativity"), *policy = xnode_attr(c, "policy");
            const struct xnode *line = xnode_child(c, "line");
            addf2(a, "-numa",
                  xasprintf("hmat-cache,node-id=%s,size=%sK,level=%s,associativity=%s,policy=%s,"
                            "line=%s",
                            xnode_attr(cell, "id"), xnode_attr(xnode_child(c, "size"), "value"),
                            xnode_attr(c, "level"),
                            !assoc                   ? "none"
                            : !strcmp(assoc, "full") ? "complex"
                                                     : assoc,
                            !policy || !strcmp(policy, "none") ? "none"
                            : !strcmp(policy, "writeback")     ? "write-back"
                                                               : "write-through",
                            line ? xnode_attr(line, "value") : "0"));
        }
    }
}

/* Guest NUMA: a memory backend and a -numa node per <cell> (ids in order, as libvirt
 * requires), the distances; without cells, a <numatune> preferred or interleave policy
 * needs a backend for all of RAM, which makes one node (the guest sees one SRAT node). */
static int numa_args(struct argv_b *a, const struct domain_def *def, struct verr *err)
{
    const struct xnode *numa = def->cpu ? xnode_child(def->cpu, "numa") : NULL;
    const char *mode, *nodeset;
    struct buf b = BUF_INIT;
    int r = 0;
    if (!numa) {
        cell_tune(def, NULL, &mode, &nodeset);
        if (!nodeset || (strcmp(mode, "preferred") && strcmp(mode, "interleave"))) {
            if (!backend_needed(def))
                return 0;
            put_backend(&b, a, def, "pc.ram", "pc.ram", ram_bytes(def), NULL, NULL);
            buf_append(&b, "", 1);
            addf2(a, "-object", xstrdup((char *)b.data));
            buf_free(&b);
            return 0;
        }
        put_backend(&b, a, def, "ram-node0", "ram-node0", ram_bytes(def), NULL, NULL);
        if ((r = put_policy(&b, mode, nodeset, err)) == 0) {
            buf_append(&b, "", 1);
            addf2(a, "-object", xstrdup((char *)b.data));
            addf2(a, "-numa", xstrdup("node,nodeid=0,memdev=ram-node0"));
        }
        buf_free(&b);
        return r;
    }
    bool hmat = numa_has_hmat(numa);
    for (size_t i = 0; r == 0 && i < numa->nkids; i++) {
        const struct xnode *cell = numa->kids[i];
        if (!cell->name || strcmp(cell->name, "cell"))
            continue;
        const char *id = xnode_attr(cell, "id"), *cpus = xnode_attr(cell, "cpus");
        const char *access = xnode_attr(cell, "memAccess");
        buf_reset(&b);
        char *bid = xasprintf("ram-node%s", id ? id : "?");
        put_backend(&b, a, def, bid, bid, strtoull(xnode_attr(cell, "memory"), NULL, 10) * 1024,
                    access, xnode_attr(cell, "discard")); /* KiB: postparse */
        free(bid);
        cell_tune(def, id, &mode, &nodeset);
        r = put_policy(&b, mode, nodeset, err);
        buf_append(&b, "", 1);
        if (r == 0)
            addf2(a, "-object", xstrdup((char *)b.data));
        buf_reset(&b);
        buf_printf(&b, "node,nodeid=%s", id ? id : "?");
        if (r == 0 && cpus && *cpus)
            r = put_list(&b, "cpus", cpus, err);
        const char *initiator = hmat ? cell_initiator(numa, cell) : NULL;
        if (initiator)
            buf_printf(&b, ",initiator=%s", initiator);
        buf_printf(&b, ",memdev=ram-node%s", id ? id : "?");
        buf_append(&b, "", 1);
        if (r == 0)
            addf2(a, "-numa", xstrdup((char *)b.data));
    }
    for (size_t i = 0; r == 0 && i < numa->nkids; i++) {
        const struct xnode *cell = numa->kids[i];
        const struct xnode *d = cell->name ? xnode_child(cell, "distances") : NULL;
        for (size_t j = 0; d && j < d->nkids; j++) {
            const struct xnode *sib = d->kids[j];
            if (sib->name && !strcmp(sib->name, "sibling"))
                addf2(a, "-numa",
                      xasprintf("dist,src=%s,dst=%s,val=%s", xnode_attr(cell, "id"),
                                xnode_attr(sib, "id"), xnode_attr(sib, "value")));
        }
    }
    if (r == 0 && hmat)
        hmat_args(a, numa);
    buf_free(&b);
    return r;
}

/* The backend memdimmN of the nth DIMM (kib on guest node, may be NULL): its guest node's
 * memAccess, discard and <memnode> policy (else the domain's <numatune><memory>), as libvirt
 * builds it; the size rounded up to 1 MiB as libvirt aligns it. */
static int dimm_backend(struct buf *b, const struct argv_b *a, const struct domain_def *def,
                        size_t nth, const char *node, unsigned long long kib, struct verr *err)
{
    const struct xnode *numa = def->cpu ? xnode_child(def->cpu, "numa") : NULL;
    const struct xnode *cell = NULL;
    for (size_t j = 0; node && numa && j < numa->nkids; j++) {
        const char *cid = numa->kids[j]->name ? xnode_attr(numa->kids[j], "id") : NULL;
        if (cid && !strcmp(cid, node))
            cell = numa->kids[j];
    }
    char *id = xasprintf("memdimm%zu", nth);
    char *file = xasprintf("dimm%zu", nth); /* libvirt names it after the device */
    put_backend(b, a, def, id, file, (kib + 1023) / 1024 * 1024 * 1024,
                cell ? xnode_attr(cell, "memAccess") : NULL,
                cell ? xnode_attr(cell, "discard") : NULL);
    free(file);
    free(id);
    const char *mode, *nodeset;
    cell_tune(def, node, &mode, &nodeset);
    return put_policy(b, mode, nodeset, err);
}

char *vmm_argv_dimm_backend(const struct domain_def *def, const char *memory_dir, size_t nth,
                            const char *node, unsigned long long kib, struct verr *err)
{
    struct argv_b a = {.memory_dir = memory_dir};
    struct buf b = BUF_INIT;
    if (dimm_backend(&b, &a, def, nth, node, kib, err) < 0) {
        buf_free(&b);
        return NULL;
    }
    buf_append(&b, "", 1);
    return buf_detach(&b, NULL);
}

/* <memory model='dimm'> devices, in their order as libvirt: a backend memdimmN and a pc-dimm
 * dimmN in the slot its address gives, else the lowest free one; its base when given. Sizes
 * are rounded up to 1 MiB as libvirt aligns them (vmm-support refused what vireo-vmm cannot
 * place). The backend takes its guest node's memAccess, discard and <memnode> policy (else
 * the domain's <numatune><memory>), as libvirt builds it. */
static int dimm_args(struct argv_b *a, const struct domain_def *def, struct verr *err)
{
    unsigned char used[256] = {0}; /* <maxMemory slots>: libvirt and vireo-vmm allow 256 */
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const char *st =
            strcmp(n->name, "memory") ? NULL : xnode_attr(xnode_child(n, "address"), "slot");
        if (st && strtoul(st, NULL, 10) < sizeof(used))
            used[strtoul(st, NULL, 10)] = 1;
    }
    size_t nth = 0;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "memory"))
            continue;
        const struct xnode *t = xnode_child(n, "target"), *ad = xnode_child(n, "address");
        const char *node = xnode_text(xnode_child(t, "node"));
        const char *st = xnode_attr(ad, "slot"), *base = xnode_attr(ad, "base");
        unsigned long long kib = strtoull(xnode_text(xnode_child(t, "size")), NULL, 10);
        unsigned slot = 0;
        if (st) {
            slot = (unsigned)strtoul(st, NULL, 10);
        } else {
            while (slot < sizeof(used) - 1 && used[slot])
                slot++;
            used[slot] = 1;
        }
        char *id = xasprintf("memdimm%zu", nth);
        buf_reset(&b);
        int r = dimm_backend(&b, a, def, nth, node, kib, err);
        if (r < 0) {
            free(id);
            buf_free(&b);
            return r;
        }
        buf_append(&b, "", 1);
        addf2(a, "-object", xstrdup((char *)b.data));
        buf_reset(&b);
        buf_printf(&b, "pc-dimm,node=%s,memdev=%s,id=dimm%zu,slot=%u", node ? node : "0", id, nth,
                   slot);
        if (base)
            buf_printf(&b, ",addr=%s", base);
        buf_append(&b, "", 1);
        addf2(a, "-device", xstrdup((char *)b.data));
        free(id);
        nth++;
    }
    buf_free(&b);
    return 0;
}

/* pc and q35: SeaBIOS's boot settings as libvirt passes them. <boot dev> in its order
 * (hd c, cdrom d, network n; vmm-support refused fd), <bootmenu enable timeout> as menu= and
 * splash-time=, <bios rebootTimeout> as reboot-timeout=, and strict=on. */
static char *boot_arg(const struct domain_def *def)
{
    struct buf b = BUF_INIT;
    char order[DOMAIN_BOOT_LAST + 1] = "";
    size_t n = 0;
    for (size_t i = 0; i < def->nboot_devs && n < DOMAIN_BOOT_LAST; i++) {
        switch (def->boot_devs[i]) {
        case DOMAIN_BOOT_HD:
            order[n++] = 'c';
            break;
        case DOMAIN_BOOT_CDROM:
            order[n++] = 'd';
            break;
        case DOMAIN_BOOT_NETWORK:
            order[n++] = 'n';
            break;
        default:
            break;
        }
    }
    order[n] = 0;
    if (n)
        buf_printf(&b, "order=%s", order);
    if (def->bootmenu >= 0) {
        buf_printf(&b, "%smenu=%s", b.len ? "," : "", def->bootmenu ? "on" : "off");
        if (def->bootmenu && def->bootmenu_timeout >= 0)
            buf_printf(&b, ",splash-time=%d", def->bootmenu_timeout);
    }
    if (def->bios_reboot_timeout != -2)
        buf_printf(&b, "%sreboot-timeout=%d", b.len ? "," : "", def->bios_reboot_timeout);
    /* As libvirt always asks: with boot orders, only the devices that have one boot. */
    buf_printf(&b, "%sstrict=on", b.len ? "," : "");
    return buf_detach(&b, NULL);
}

/* The master key, then each encrypted disk's secret under it (libvirt's masterKey0 and
 * ALIAS-luks-secret0 objects): the passphrase never appears on the command line. */
static int add_disk_secrets(struct argv_b *a, const struct domain_def *def,
                            const struct vmm_argv_paths *paths, struct verr *err)
{
    bool first = true;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if (!vmm_argv_disk_encryption(d))
            continue;
        if (!paths->master_key || !paths->disk_secret_data || !paths->disk_secret_data[i])
            return verr_set(err, EINVAL, "internal error: no secret for the encrypted disk '%s'",
                            d->target_dev ? d->target_dev : "?");
        if (first) {
            struct buf b = BUF_INIT;
            buf_append_str(&b, "secret,id=masterKey0,format=raw,file=");
            put_escaped(&b, paths->master_key);
            addf2(a, "-object", buf_detach(&b, NULL));
            first = false;
        }
        char *alias = vmm_argv_disk_alias(d);
        if (!alias) {
            int idx = domain_disk_name_to_index(d->target_dev, NULL);
            alias = xasprintf("virtio-disk%d", idx < 0 ? (int)i : idx);
        }
        addf2(a, "-object",
              xasprintf("secret,id=%s-luks-secret0,data=%s,keyid=masterKey0,iv=%s,format=base64",
                        alias, paths->disk_secret_data[i], paths->disk_secret_iv[i]));
        free(alias);
    }
    return 0;
}

unsigned vmm_argv_boot_vcpus(const struct domain_def *def)
{
    if (!def->vcpu_states)
        return def->vcpus_current ? def->vcpus_current : def->vcpus;
    unsigned n = 0;
    for (unsigned i = 0; i < def->vcpus; i++)
        n += def->vcpu_states[i].enabled && def->vcpu_states[i].hotpluggable == 0;
    return n;
}

size_t vmm_argv_plug_vcpus(const struct domain_def *def, unsigned **ids)
{
    *ids = NULL;
    size_t n = 0;
    for (unsigned i = 0; def->vcpu_states && i < def->vcpus; i++)
        n += def->vcpu_states[i].enabled && def->vcpu_states[i].hotpluggable == 1;
    if (!n)
        return 0;
    unsigned *v = xcalloc(n, sizeof(*v));
    size_t k = 0;
    for (unsigned i = 0; i < def->vcpus; i++)
        if (def->vcpu_states[i].enabled && def->vcpu_states[i].hotpluggable == 1)
            v[k++] = i;
    /* by order (libvirt's qemuProcessVcpusSortOrder), then id; few entries: insertion */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && def->vcpu_states[v[j - 1]].order > def->vcpu_states[v[j]].order;
             j--) {
            unsigned t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *ids = v;
    return n;
}

int vmm_argv_build(const struct domain_def *def, const struct vmm_argv_paths *paths, char ***out,
                   struct verr *err)
{
    *out = NULL;
    int r = vmm_support_check(def, err);
    if (r < 0)
        return r;
    /* vireod rewrites host-model into the custom CPU it is (cpu-host-model.c) at start */
    const char *cpu_mode = def->cpu ? xnode_attr(def->cpu, "mode") : NULL;
    if (cpu_mode && strcmp(cpu_mode, "host-model") == 0)
        return verr_set(err, EINVAL,
                        "internal error: <cpu mode='host-model'> must be expanded to the host "
                        "model before the command line is built");
    if ((r = backing_check(def, err)) < 0)
        return r;
    for (size_t i = 0; i < def->nnets; i++)
        if (def->nets[i].type != DOMAIN_NET_USER &&
            (!paths->net_fds || paths->net_fds[vmm_argv_net_fd_index(def, i)] < 0))
            return verr_set(err, EINVAL, "internal error: interface %s has no tap device",
                            def->nets[i].mac);

    const char *family = vmm_support_machine_family(def->os_machine);
    struct argv_b a = {.root = strcmp(family, "pc") == 0 ? "pci.0" : "pcie.0",
                       .firmware = strcmp(family, "microvm") != 0,
                       .q35 = strcmp(family, "q35") == 0,
                       .memory_dir = paths->memory_dir};
    if (vd_memory_dir_wanted(def) && !paths->memory_dir)
        return verr_set(err, EINVAL,
                        "internal error: no memory_backing_dir for <source "
                        "type='file'/>");
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    add(&a, paths->vmm);
    addf2(&a, "-name", xasprintf("%s", def->name));
    addf2(&a, "-uuid", xasprintf("%s", uuid));
    /* <nosharepages/>: mem-merge=off; a backend for all of RAM without cells: pc.ram */
    const char *tmode, *tnodes;
    cell_tune(def, NULL, &tmode, &tnodes);
    bool node0 = tnodes && (!strcmp(tmode, "preferred") || !strcmp(tmode, "interleave"));
    bool pc_ram = !(def->cpu && xnode_child(def->cpu, "numa")) && !node0 && backend_needed(def);
    const char *mflags = backing(def, "nosharepages") ? ",mem-merge=off" : "";
    const char *mbe = pc_ram ? ",memory-backend=pc.ram" : "";
    const struct xnode *numa = def->cpu ? xnode_child(def->cpu, "numa") : NULL;
    const char *hmat = numa && numa_has_hmat(numa) ? ",hmat=on" : ""; /* after libvirt's others */
    if (a.firmware) /* pc or q35 under the name libvirt wrote (pc-i440fx-7.2...) */
        addf2(&a, "-M",
              xasprintf("%s%s%s%s%s", def->os_machine, pit_off(def) ? ",pit=off" : "", mflags, mbe,
                        hmat));
    else /* QEMU's microvm with ACPI and a PCIe root bus: what the definition's pcie-root is. */
        addf2(&a, "-M",
              xasprintf("microvm,acpi=on,pcie=on%s%s%s%s", pit_off(def) ? ",pit=off" : "", mflags,
                        mbe, hmat));
    char *cpu = cpu_arg(def);
    if (cpu)
        addf2(&a, "-cpu", cpu);
    /* Guest RAM is <memory> (currentMemory is the balloon's target, set by
     * the daemon before the guest runs). vireo-vmm takes MiB like QEMU's
     * plain -m; round up the KiB definition. */
    if (def->max_memory_kib) /* <maxMemory slots='N'>: DIMM slots, as libvirt's -m; the
                              * DIMMs are counted in <memory>, not in the initial memory */
        addf2(&a, "-m",
              xasprintf("%llu,slots=%u,maxmem=%lluk",
                        (def->memory_kib - domain_def_memory_devices_kib(def) + 1023) / 1024,
                        def->max_memory_slots, def->max_memory_kib));
    else
        addf2(&a, "-m", xasprintf("%llu", (def->memory_kib + 1023) / 1024));
    if (backing(def, "locked")) /* libvirt raises RLIMIT_MEMLOCK for it (vmm-start.c) */
        addf2(&a, "-overcommit", xstrdup("mem-lock=on"));
    unsigned cur = vmm_argv_boot_vcpus(def);
    if (def->cpu_sockets)
        addf2(&a, "-smp",
              xasprintf("%u,sockets=%u,cores=%u,threads=%u,maxcpus=%u", cur, def->cpu_sockets,
                        def->cpu_cores ? def->cpu_cores : 1,
                        def->cpu_threads ? def->cpu_threads : 1, def->vcpus));
    else
        addf2(&a, "-smp", xasprintf("%u,maxcpus=%u", cur, def->vcpus));
    if ((r = numa_args(&a, def, err)) < 0) {
        vmm_argv_free(a.v);
        return r;
    }
    if ((r = dimm_args(&a, def, err)) < 0) {
        vmm_argv_free(a.v);
        return r;
    }
    if ((r = vmm_firmware_argv(def, &a.v, &a.n, err)) < 0) { /* <loader>, <nvram>, <sysinfo> */
        vmm_argv_free(a.v);
        return r;
    }
    if (def->os_kernel) { /* microvm: direct boot; pc/q35: through SeaBIOS (an option ROM) */
        addf2(&a, "-kernel", xstrdup(def->os_kernel));
        if (def->os_initrd)
            addf2(&a, "-initrd", xstrdup(def->os_initrd));
        if (def->os_cmdline)
            addf2(&a, "-append", xstrdup(def->os_cmdline));
    }
    char *boot = a.firmware ? boot_arg(def) : NULL;
    if (boot)
        addf2(&a, "-boot", boot);
    add(&a, "-nodefaults");
    bool graphics = false;
    for (size_t i = 0; i < def->ndevices; i++)
        graphics |= strcmp(def->devices[i].node->name, "graphics") == 0;
    if (!graphics)
        add(&a, "-nographic");
    /* The daemon's console socket is COM1, or the virtio console when that is the domain's
     * console (libvirt's console0; the guest then has no serial port, as under libvirt). */
    const struct xnode *vcon = vmm_argv_virtio_console(def);
    if (vcon) {
        add(&a, "-serial");
        add(&a, "none");
    } else {
        addf2(&a, "-serial", xasprintf("unix:%s,server,nowait", paths->console));
    }
    addf2(&a, "-qmp", xasprintf("unix:%s,server,nowait", paths->qmp));
    addf2(&a, "-pidfile", xstrdup(paths->pidfile));
    r = add_disk_secrets(&a, def, paths, err);
    if (r < 0) {
        vmm_argv_free(a.v);
        return r;
    }
    add(&a, "-daemonize");
    /* As libvirt with QEMU: the VMM always stays after a guest power-off
     * (-no-shutdown) so the daemon can apply on_poweroff; a guest reset ends
     * it (-no-reboot) unless on_reboot is restart. */
    add(&a, "-no-shutdown");
    if (def->on_reboot != DOMAIN_ACTION_RESTART)
        add(&a, "-no-reboot");
    /* <iothreads>: libvirt names them iothread1..N (<iothreadids> within the count names the
     * same set: vmm-support refused others). */
    for (unsigned i = 1; i <= def->iothreads; i++)
        addf2(&a, "-object", xasprintf("iothread,id=iothread%u", i));
    /* PCI devices in bus, slot.function order (unique: conf checked it): bus 0 with the root
     * ports first, then what sits behind each port (vireo-vmm creates devices in order). */
    for (unsigned bus = 0; bus < 256; bus++) {
        bool port_bus = false;
        for (size_t i = 0; bus && i < def->ncontrollers; i++)
            port_bus |= (vmm_argv_is_root_port(&def->controllers[i]) ||
                         is_pci_bridge(&def->controllers[i])) &&
                        def->controllers[i].index == bus;
        if (bus && !port_bus)
            continue;
        for (unsigned sf = bus ? 0 : 1 * 8; sf < 32 * 8; sf++) {
            unsigned slot = sf / 8, fn = sf % 8;
#define AT(addr) ((addr).bus == bus && (addr).slot == slot && (addr).function == fn)
            for (size_t i = 0; i < def->ncontrollers; i++) {
                const struct domain_controller *c = &def->controllers[i];
                if (vmm_argv_is_root_port(c) && c->address.type == DOMAIN_ADDRESS_PCI &&
                    AT(c->address))
                    add_root_port(&a, c);
                if (is_pci_bridge(c) && c->address.type == DOMAIN_ADDRESS_PCI && AT(c->address))
                    add_pci_bridge(&a, c);
                bool sata = c->type == DOMAIN_CONTROLLER_SATA;
                if ((c->type != DOMAIN_CONTROLLER_SCSI && !sata) ||
                    c->address.type != DOMAIN_ADDRESS_PCI || !AT(c->address))
                    continue;
                if (sata && c->index == 0 && a.q35)
                    continue; /* q35's own AHCI at 00:1f.2 */
                char id[32];
                snprintf(id, sizeof(id), "%s%u", sata ? "sata" : "scsi", c->index);
                add_simple(&a, sata ? "ich9-ahci" : "virtio-scsi-pci", id, &c->address);
            }
            for (size_t i = 0; i < def->ncontrollers; i++) {
                const struct domain_controller *c = &def->controllers[i];
                if (c->type == DOMAIN_CONTROLLER_VIRTIO_SERIAL &&
                    c->address.type == DOMAIN_ADDRESS_PCI && AT(c->address))
                    add_virtio_serial(&a, c);
                if (c->type == DOMAIN_CONTROLLER_USB && c->address.type == DOMAIN_ADDRESS_PCI &&
                    AT(c->address) && !(c->model && strcmp(c->model, "none") == 0) &&
                    usb_first_of_index(def, i))
                    add_usb(&a, c);
            }
            for (size_t i = 0; i < def->ndisks; i++)
                if (def->disks[i].address.type == DOMAIN_ADDRESS_PCI && AT(def->disks[i].address))
                    add_disk(&a, &def->disks[i], i);
            for (size_t i = 0; i < def->nnets; i++)
                if (AT(def->nets[i].address))
                    add_net(&a, &def->nets[i], i,
                            paths->net_fds ? paths->net_fds + vmm_argv_net_fd_index(def, i)
                                           : (const int[]){-1});
            const struct domain_memballoon *b = def->memballoon;
            if (b && strcmp(b->model, "none") != 0 && AT(b->address))
                add_simple(&a, "virtio-balloon-pci", "balloon0", &b->address);
            for (size_t i = 0; i < def->nrngs; i++) {
                if (!AT(def->rngs[i].address))
                    continue;
                char id[32];
                snprintf(id, sizeof(id), "rng%zu", i);
                add_simple(&a, "virtio-rng-pci", id, &def->rngs[i].address);
            }
            size_t nvideo = 0;
            for (size_t i = 0; i < def->ndevices; i++) {
                const struct xnode *n = def->devices[i].node;
                if (strcmp(n->name, "video") != 0)
                    continue;
                const char *t = xnode_attr(xnode_child(n, "model"), "type");
                if (t && strcmp(t, "vga") == 0 && bus == 0 && kept_devfn(n) == (int)sf)
                    add_video(&a, n, nvideo);
                nvideo++;
            }
#undef AT
        }
    }
    /* The virtio console and channels after their virtio-serial controllers. */
    if (vcon) {
        struct buf b = BUF_INIT;
        buf_append_str(&b, "socket,path=");
        put_escaped(&b, paths->console);
        buf_append_str(&b, ",server=on,wait=off,id=charconsole0");
        addf2(&a, "-chardev", buf_detach(&b, NULL));
        const char *port = xnode_attr(xnode_child(vcon, "target"), "port");
        const char *ctl = xnode_attr(xnode_child(vcon, "address"), "controller");
        addf2(&a, "-device",
              xasprintf("virtconsole,bus=virtio-serial%s.0,nr=%s,chardev=charconsole0,id=console0",
                        ctl ? ctl : "0", port ? port : "0"));
    }
    size_t nchan = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "channel") != 0)
            continue;
        r = add_channel(&a, n, nchan++, err);
        if (r < 0) {
            vmm_argv_free(a.v);
            return r;
        }
    }
    /* SCSI and SATA disks after their controllers (vireo-vmm creates devices in order). */
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].target_bus == DOMAIN_DISK_BUS_SCSI ||
            def->disks[i].target_bus == DOMAIN_DISK_BUS_SATA ||
            def->disks[i].target_bus == DOMAIN_DISK_BUS_IDE)
            add_scsi_disk(&a, &def->disks[i]);
    /* USB input after the controllers. */
    size_t ninput = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "input") != 0)
            continue;
        const char *bus = xnode_attr(n, "bus");
        if (bus && strcmp(bus, "usb") == 0)
            add_usb_input(&a, n, ninput);
        ninput++;
    }
    for (size_t i = 0; i < def->ndevices; i++)
        if (strcmp(def->devices[i].node->name, "graphics") == 0)
            add_vnc(&a, def->devices[i].node, paths);
    *out = a.v;
    return 0;
}

char *vmm_argv_drive_id(const struct domain_disk *d, size_t i)
{
    char *alias = vmm_argv_disk_alias(d);
    if (alias) {
        char *id = xasprintf("drive-%s", alias);
        free(alias);
        return id;
    }
    int idx = domain_disk_name_to_index(d->target_dev, NULL);
    return xasprintf("drive-virtio-disk%d", idx < 0 ? (int)i : idx);
}
