/*
 * domain_format.c - struct domain_def -> libvirt's canonical domain XML.
 *
 * Element order, attribute order, two-space indentation and single-quoted
 * attributes follow what `virsh dumpxml` prints, so outputs compare with
 * libvirt's line by line and validate against its RelaxNG schema. Kept
 * (unmodelled) parts are printed from their xnode trees at their canonical
 * position. INACTIVE drops live-only data (id, aliases, generated tap names,
 * autoport ports); without SECURE, graphics passwords are left out.
 */
#include "conf/domain_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

struct fctx {
    struct buf *b;
    unsigned flags;
};

static void ind(struct buf *b, int level)
{
    for (int i = 0; i < level; i++)
        buf_append_str(b, "  ");
}

static void text_elem(struct buf *b, int level, const char *name, const char *text)
{
    ind(b, level);
    buf_printf(b, "<%s>", name);
    xml_escape(b, text, false);
    buf_printf(b, "</%s>\n", name);
}

static void attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape(b, value, true);
    buf_append_byte(b, '\'');
}

/* Strips live-only children (alias) from a copy of a kept node when printing inactive XML. */
static void kept(struct fctx *f, const struct xnode *n, int level)
{
    if (!(f->flags & DOMAIN_FORMAT_INACTIVE) && (f->flags & DOMAIN_FORMAT_SECURE)) {
        xnode_format(n, f->b, level);
        return;
    }
    struct xnode *c = xnode_copy(n);
    if (f->flags & DOMAIN_FORMAT_INACTIVE) {
        for (size_t i = c->nkids; i-- > 0;) {
            const char *an;
            if (c->kids[i]->name && strcmp(c->kids[i]->name, "alias") == 0 &&
                (!(an = xnode_attr(c->kids[i], "name")) || strncmp(an, "ua-", 3) != 0))
                xnode_remove(c, i);
        }
        if (strcmp(c->name, "graphics") == 0) {
            const char *ap = xnode_attr(c, "autoport");
            if (ap && strcmp(ap, "yes") == 0 && xnode_attr(c, "port"))
                xnode_set_attr(c, "port", "-1");
        }
    }
    if (!(f->flags & DOMAIN_FORMAT_SECURE) && strcmp(c->name, "graphics") == 0)
        xnode_set_attr(c, "passwd", NULL);
    xnode_format(c, f->b, level);
    xnode_free(c);
}

static void format_address(struct buf *b, int level, const struct domain_address *a)
{
    switch (a->type) {
    case DOMAIN_ADDRESS_NONE:
        return;
    case DOMAIN_ADDRESS_PCI:
        ind(b, level);
        buf_printf(b,
                   "<address type='pci' domain='0x%04x' bus='0x%02x' slot='0x%02x' "
                   "function='0x%x'%s/>\n",
                   a->domain, a->bus, a->slot, a->function,
                   a->multifunction ? " multifunction='on'" : "");
        return;
    case DOMAIN_ADDRESS_DRIVE:
        ind(b, level);
        buf_printf(b, "<address type='drive' controller='%u' bus='%u' target='%u' unit='%u'/>\n",
                   a->controller, a->bus, a->target, a->unit);
        return;
    case DOMAIN_ADDRESS_VIRTIO_SERIAL:
        ind(b, level);
        buf_printf(b, "<address type='virtio-serial' controller='%u' bus='%u' port='%u'/>\n",
                   a->controller, a->bus, a->port);
        return;
    case DOMAIN_ADDRESS_OTHER:
        if (a->other)
            xnode_format(a->other, b, level);
        return;
    }
}

static void format_alias(struct fctx *f, int level, const char *alias)
{
    if (!alias)
        return;
    if ((f->flags & DOMAIN_FORMAT_INACTIVE) && strncmp(alias, "ua-", 3) != 0)
        return;
    ind(f->b, level);
    buf_append_str(f->b, "<alias");
    attr(f->b, "name", alias);
    buf_append_str(f->b, "/>\n");
}

/* Prints `base` (may be NULL) as element `name` with `set` attributes first, in order. */
static void node_with(struct buf *b, int level, const char *name, const struct xnode *base,
                      const char *const *set_names, const char *const *set_values, size_t nset,
                      const char *const *order)
{
    struct xnode *n = base ? xnode_copy(base) : xnode_new(name);
    for (size_t i = 0; i < nset; i++)
        xnode_set_attr(n, set_names[i], set_values[i]);
    /* canonical attribute order */
    struct xnode *o = xnode_new(name);
    for (const char *const *p = order; p && *p; p++)
        if (xnode_attr(n, *p))
            xnode_set_attr(o, *p, xnode_attr(n, *p));
    for (size_t i = 0; i < n->nattrs; i++)
        if (!xnode_attr(o, n->attrs[2 * i]))
            xnode_set_attr(o, n->attrs[2 * i], n->attrs[2 * i + 1]);
    o->kids = n->kids;
    o->nkids = n->nkids;
    n->kids = NULL;
    n->nkids = 0;
    xnode_free(n);
    xnode_format(o, b, level);
    xnode_free(o);
}

static bool in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static void format_disk(struct fctx *f, const struct domain_disk *d)
{
    struct buf *b = f->b;
    ind(b, 2);
    buf_append_str(b, "<disk");
    attr(b, "type", domain_disk_source_to_string(d->source_type));
    attr(b, "device", domain_disk_device_to_string(d->device));
    buf_append_str(b, ">\n");

    if (d->driver_name || d->driver_type || d->driver_cache || d->driver_io || d->driver_discard ||
        d->driver_iothread || d->driver_detect_zeroes || d->driver_node) {
        const char *names[7], *values[7];
        char iot[16];
        size_t n = 0;
        struct xnode *base = d->driver_node ? xnode_copy(d->driver_node) : NULL;
        static const char *const modelled[] = {"name",    "type",     "cache",         "io",
                                               "discard", "iothread", "detect_zeroes", NULL};
        for (size_t i = 0; base && modelled[i]; i++)
            xnode_set_attr(base, modelled[i], NULL);
#define SETA(nm, val)                                                                              \
    do {                                                                                           \
        if (val) {                                                                                 \
            names[n] = (nm);                                                                       \
            values[n++] = (val);                                                                   \
        }                                                                                          \
    } while (0)
        SETA("name", d->driver_name);
        SETA("type", d->driver_type);
        SETA("cache", d->driver_cache);
        SETA("io", d->driver_io);
        SETA("discard", d->driver_discard);
        SETA("detect_zeroes", d->driver_detect_zeroes);
        if (d->driver_iothread) {
            snprintf(iot, sizeof(iot), "%u", d->driver_iothread);
            names[n] = "iothread";
            values[n++] = iot;
        }
#undef SETA
        static const char *const order[] = {
            "name",     "type",          "cache",     "error_policy", "rerror_policy",
            "io",       "ioeventfd",     "event_idx", "copy_on_read", "discard",
            "iothread", "detect_zeroes", "queues",    "queue_size",   NULL};
        node_with(b, 3, "driver", base, names, values, n, order);
        xnode_free(base);
    }
    static const char *const before_target[] = {"auth", "geometry", "blockio", "mirror", NULL};
    for (size_t i = 0; i < d->nextra; i++)
        if (in(d->extra[i]->name, (const char *const[]){"auth", NULL}))
            kept(f, d->extra[i], 3);
    const char *path_attr = d->source_type == DOMAIN_DISK_SOURCE_FILE    ? "file"
                            : d->source_type == DOMAIN_DISK_SOURCE_BLOCK ? "dev"
                            : d->source_type == DOMAIN_DISK_SOURCE_DIR   ? "dir"
                                                                         : NULL;
    if (d->source || d->source_path) {
        struct xnode *s = d->source ? xnode_copy(d->source) : xnode_new("source");
        if (path_attr)
            xnode_set_attr(s, path_attr, d->source_path);
        static const char *const order[] = {"file",          "dev",   "dir",    "protocol",
                                            "name",          "pool",  "volume", "mode",
                                            "startupPolicy", "index", NULL};
        node_with(b, 3, "source", s, NULL, NULL, 0, order);
        xnode_free(s);
    }
    if (d->backing)
        kept(f, d->backing, 3);
    for (size_t i = 0; i < d->nextra; i++)
        if (in(d->extra[i]->name, before_target) && strcmp(d->extra[i]->name, "auth") != 0)
            kept(f, d->extra[i], 3);
    {
        struct xnode *t = d->target_node ? xnode_copy(d->target_node) : xnode_new("target");
        xnode_set_attr(t, "dev", d->target_dev);
        xnode_set_attr(t, "bus", domain_disk_bus_to_string(d->target_bus));
        static const char *const order[] = {"dev",       "bus",           "tray",
                                            "removable", "rotation_rate", NULL};
        node_with(b, 3, "target", t, NULL, NULL, 0, order);
        xnode_free(t);
    }
    for (size_t i = 0; i < d->nextra; i++)
        if (strcmp(d->extra[i]->name, "iotune") == 0 ||
            strcmp(d->extra[i]->name, "throttlefilters") == 0)
            kept(f, d->extra[i], 3);
    if (d->readonly) {
        ind(b, 3);
        buf_append_str(b, "<readonly/>\n");
    }
    if (d->shareable) {
        ind(b, 3);
        buf_append_str(b, "<shareable/>\n");
    }
    if (d->transient) {
        ind(b, 3);
        buf_append_str(b, "<transient/>\n");
    }
    if (d->serial)
        text_elem(b, 3, "serial", d->serial);
    static const char *const after_serial[] = {"wwn", "vendor", "product", "encryption", NULL};
    for (size_t i = 0; i < d->nextra; i++)
        if (in(d->extra[i]->name, after_serial))
            kept(f, d->extra[i], 3);
    if (d->boot_order) {
        ind(b, 3);
        buf_printf(b, "<boot order='%u'/>\n", d->boot_order);
    }
    format_alias(f, 3, d->alias);
    format_address(b, 3, &d->address);
    ind(b, 2);
    buf_append_str(b, "</disk>\n");
}

static void format_controller(struct fctx *f, const struct domain_controller *c)
{
    struct buf *b = f->b;
    ind(b, 2);
    buf_append_str(b, "<controller");
    attr(b, "type", domain_controller_type_to_string(c->type));
    buf_printf(b, " index='%u'", c->index);
    if (c->model)
        attr(b, "model", c->model);
    if (c->ports)
        buf_printf(b, " ports='%u'", c->ports);
    if (c->vectors)
        buf_printf(b, " vectors='%u'", c->vectors);
    if (!c->nextra && c->address.type == DOMAIN_ADDRESS_NONE) {
        buf_append_str(b, "/>\n");
        return;
    }
    buf_append_str(b, ">\n");
    static const char *const order[] = {"model", "driver", "target", "pcihole64", "master", NULL};
    for (const char *const *o = order; *o; o++)
        for (size_t i = 0; i < c->nextra; i++)
            if (strcmp(c->extra[i]->name, *o) == 0)
                kept(f, c->extra[i], 3);
    format_address(b, 3, &c->address);
    ind(b, 2);
    buf_append_str(b, "</controller>\n");
}

static bool generated_tap(const char *dev)
{
    static const char *const prefixes[] = {"vnet", "macvtap", "macvlan", "vif", NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(dev, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static void format_net(struct fctx *f, const struct domain_net *n)
{
    struct buf *b = f->b;
    ind(b, 2);
    buf_append_str(b, "<interface");
    attr(b, "type", domain_net_type_to_string(n->type));
    if (n->managed >= 0)
        attr(b, "managed", n->managed ? "yes" : "no");
    if (n->trust_guest_rx_filters >= 0)
        attr(b, "trustGuestRxFilters", n->trust_guest_rx_filters ? "yes" : "no");
    buf_append_str(b, ">\n");
    ind(b, 3);
    buf_printf(b, "<mac address='%s'/>\n", n->mac);
    if (n->source || n->source_network || n->source_bridge || n->source_dev) {
        struct xnode *s = n->source ? xnode_copy(n->source) : xnode_new("source");
        xnode_set_attr(s, "network", n->source_network);
        xnode_set_attr(s, "bridge", n->source_bridge);
        xnode_set_attr(s, "dev", n->source_dev);
        xnode_set_attr(s, "mode", n->source_mode);
        static const char *const order[] = {"network", "portgroup", "portid", "bridge", "dev",
                                            "type",    "path",      "mode",   NULL};
        node_with(b, 3, "source", s, NULL, NULL, 0, order);
        xnode_free(s);
    }
    static const char *const before_target[] = {
        "vlan",  "virtualport", "bandwidth",  "port",          "ip",
        "route", "script",      "downscript", "backenddomain", NULL};
    for (const char *const *o = before_target; *o; o++)
        for (size_t i = 0; i < n->nextra; i++)
            if (strcmp(n->extra[i]->name, *o) == 0)
                kept(f, n->extra[i], 3);
    bool show_target =
        n->target_dev && !((f->flags & DOMAIN_FORMAT_INACTIVE) && generated_tap(n->target_dev));
    if (show_target || (n->target_node && n->target_node->nattrs)) {
        struct xnode *t = n->target_node ? xnode_copy(n->target_node) : xnode_new("target");
        xnode_set_attr(t, "dev", show_target ? n->target_dev : NULL);
        if (t->nattrs || t->nkids)
            node_with(b, 3, "target", t, NULL, NULL, 0, (const char *const[]){"dev", NULL});
        xnode_free(t);
    }
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "guest") == 0)
            kept(f, n->extra[i], 3);
    if (n->model) {
        ind(b, 3);
        buf_append_str(b, "<model");
        attr(b, "type", n->model);
        buf_append_str(b, "/>\n");
    }
    if (n->driver_name || n->driver_queues || n->driver_node) {
        struct xnode *d = n->driver_node ? xnode_copy(n->driver_node) : xnode_new("driver");
        char q[16];
        snprintf(q, sizeof(q), "%u", n->driver_queues);
        xnode_set_attr(d, "name", n->driver_name);
        xnode_set_attr(d, "queues", n->driver_queues ? q : NULL);
        static const char *const order[] = {"name",   "txmode",        "ioeventfd",     "event_idx",
                                            "queues", "rx_queue_size", "tx_queue_size", NULL};
        node_with(b, 3, "driver", d, NULL, NULL, 0, order);
        xnode_free(d);
    }
    static const char *const after_model[] = {"backend",  "tune",      "teaming", "link", "mtu",
                                              "coalesce", "filterref", "rom",     "acpi", NULL};
    for (const char *const *o = after_model; *o; o++)
        for (size_t i = 0; i < n->nextra; i++)
            if (strcmp(n->extra[i]->name, *o) == 0)
                kept(f, n->extra[i], 3);
    if (n->boot_order) {
        ind(b, 3);
        buf_printf(b, "<boot order='%u'/>\n", n->boot_order);
    }
    format_alias(f, 3, n->alias);
    format_address(b, 3, &n->address);
    ind(b, 2);
    buf_append_str(b, "</interface>\n");
}

static void format_os(struct fctx *f, const struct domain_def *def)
{
    struct buf *b = f->b;
    ind(b, 1);
    buf_append_str(b, "<os");
    if (def->os_firmware)
        attr(b, "firmware", def->os_firmware);
    buf_append_str(b, ">\n");
    ind(b, 2);
    buf_append_str(b, "<type");
    if (def->os_arch)
        attr(b, "arch", def->os_arch);
    if (def->os_machine)
        attr(b, "machine", def->os_machine);
    buf_append_byte(b, '>');
    xml_escape(b, def->os_type, false);
    buf_append_str(b, "</type>\n");
    for (size_t i = 0; i < def->nos_extra; i++)
        if (strcmp(def->os_extra[i]->name, "firmware") == 0)
            kept(f, def->os_extra[i], 2);
    if (def->os_loader || def->os_loader_node) {
        struct xnode *l =
            def->os_loader_node ? xnode_copy(def->os_loader_node) : xnode_new("loader");
        xnode_set_text(l, def->os_loader);
        static const char *const order[] = {"readonly", "secure",    "type",
                                            "format",   "stateless", NULL};
        node_with(b, 2, "loader", l, NULL, NULL, 0, order);
        xnode_free(l);
    }
    if (def->os_nvram || def->os_nvram_node) {
        struct xnode *l = def->os_nvram_node ? xnode_copy(def->os_nvram_node) : xnode_new("nvram");
        xnode_set_text(l, def->os_nvram);
        node_with(b, 2, "nvram", l, NULL, NULL, 0, (const char *const[]){"template", NULL});
        xnode_free(l);
    }
    for (size_t i = 0; i < def->nos_extra; i++)
        if (strncmp(def->os_extra[i]->name, "init", 4) == 0)
            kept(f, def->os_extra[i], 2);
    if (def->os_kernel)
        text_elem(b, 2, "kernel", def->os_kernel);
    if (def->os_initrd)
        text_elem(b, 2, "initrd", def->os_initrd);
    if (def->os_cmdline)
        text_elem(b, 2, "cmdline", def->os_cmdline);
    if (def->os_dtb)
        text_elem(b, 2, "dtb", def->os_dtb);
    for (size_t i = 0; i < def->nos_extra; i++)
        if (strcmp(def->os_extra[i]->name, "acpi") == 0)
            kept(f, def->os_extra[i], 2);
    for (size_t i = 0; i < def->nboot_devs; i++) {
        ind(b, 2);
        buf_printf(b, "<boot dev='%s'/>\n", domain_boot_dev_to_string(def->boot_devs[i]));
    }
    if (def->bootmenu >= 0) {
        ind(b, 2);
        buf_printf(b, "<bootmenu enable='%s'", def->bootmenu ? "yes" : "no");
        if (def->bootmenu_timeout >= 0)
            buf_printf(b, " timeout='%d'", def->bootmenu_timeout);
        buf_append_str(b, "/>\n");
    }
    if (def->bios_useserial || def->bios_reboot_timeout != -2) {
        ind(b, 2);
        buf_append_str(b, "<bios");
        if (def->bios_useserial)
            attr(b, "useserial", def->bios_useserial);
        if (def->bios_reboot_timeout != -2)
            buf_printf(b, " rebootTimeout='%d'", def->bios_reboot_timeout);
        buf_append_str(b, "/>\n");
    }
    if (def->smbios_mode) {
        ind(b, 2);
        buf_printf(b, "<smbios mode='%s'/>\n", def->smbios_mode);
    }
    ind(b, 1);
    buf_append_str(b, "</os>\n");
}

static void format_cputune(struct fctx *f, const struct domain_def *def)
{
    struct buf *b = f->b;
    if (!def->cpu_shares && !def->period && !def->quota && !def->nvcpupins && !def->emulatorpin &&
        !def->niothreadpins && !def->ncputune_extra)
        return;
    ind(b, 1);
    buf_append_str(b, "<cputune>\n");
    if (def->cpu_shares) {
        ind(b, 2);
        buf_printf(b, "<shares>%llu</shares>\n", def->cpu_shares);
    }
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (strncmp(def->cputune_extra[i]->name, "global_", 7) == 0)
            kept(f, def->cputune_extra[i], 2);
    if (def->period) {
        ind(b, 2);
        buf_printf(b, "<period>%lld</period>\n", def->period);
    }
    if (def->quota) {
        ind(b, 2);
        buf_printf(b, "<quota>%lld</quota>\n", def->quota);
    }
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (strstr(def->cputune_extra[i]->name, "_period") ||
            strstr(def->cputune_extra[i]->name, "_quota"))
            if (strncmp(def->cputune_extra[i]->name, "global_", 7) != 0)
                kept(f, def->cputune_extra[i], 2);
    for (size_t i = 0; i < def->nvcpupins; i++) {
        ind(b, 2);
        buf_printf(b, "<vcpupin vcpu='%u'", def->vcpupins[i].vcpu);
        attr(b, "cpuset", def->vcpupins[i].cpuset);
        buf_append_str(b, "/>\n");
    }
    if (def->emulatorpin) {
        ind(b, 2);
        buf_append_str(b, "<emulatorpin");
        attr(b, "cpuset", def->emulatorpin);
        buf_append_str(b, "/>\n");
    }
    for (size_t i = 0; i < def->niothreadpins; i++) {
        ind(b, 2);
        buf_printf(b, "<iothreadpin iothread='%u'", def->iothreadpins[i].iothread);
        attr(b, "cpuset", def->iothreadpins[i].cpuset);
        buf_append_str(b, "/>\n");
    }
    /* libvirt's order: the schedulers (emulator, vCPUs, IOThreads), then the rest */
    static const char *const sched[] = {"emulatorsched", "vcpusched", "iothreadsched"};
    for (size_t s = 0; s < 3; s++)
        for (size_t i = 0; i < def->ncputune_extra; i++)
            if (strcmp(def->cputune_extra[i]->name, sched[s]) == 0)
                kept(f, def->cputune_extra[i], 2);
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (!strstr(def->cputune_extra[i]->name, "_period") &&
            !strstr(def->cputune_extra[i]->name, "_quota") &&
            !strstr(def->cputune_extra[i]->name, "sched"))
            kept(f, def->cputune_extra[i], 2);
    ind(b, 1);
    buf_append_str(b, "</cputune>\n");
}

static void kept_named(struct fctx *f, const struct domain_def *def, const char *name)
{
    for (size_t i = 0; i < def->nkept; i++)
        if (strcmp(def->kept[i]->name, name) == 0)
            kept(f, def->kept[i], 1);
}

char *domain_def_format(const struct domain_def *def, unsigned flags)
{
    struct buf out = BUF_INIT;
    struct fctx fc = {.b = &out, .flags = flags};
    struct fctx *f = &fc;
    struct buf *b = &out;
    char uuid[37];

    buf_append_str(b, "<domain");
    attr(b, "type", domain_type_to_string(def->type));
    if (def->id >= 0 && !(flags & DOMAIN_FORMAT_INACTIVE))
        buf_printf(b, " id='%d'", def->id);
    for (size_t i = 0; i < def->nkept; i++)
        if (strncmp(def->kept[i]->name, "qemu:", 5) == 0) {
            attr(b, "xmlns:qemu", "http://libvirt.org/schemas/domain/qemu/1.0");
            break;
        }
    buf_append_str(b, ">\n");
    text_elem(b, 1, "name", def->name);
    domain_uuid_format(def->uuid, uuid);
    text_elem(b, 1, "uuid", uuid);
    if (def->genid)
        text_elem(b, 1, "genid", def->genid);
    if (def->title)
        text_elem(b, 1, "title", def->title);
    if (def->description)
        text_elem(b, 1, "description", def->description);
    if (def->metadata) {
        bool has_elem = false;
        for (size_t i = 0; i < def->metadata->nkids; i++)
            has_elem |= def->metadata->kids[i]->name != NULL;
        if (!has_elem) {
            ind(b, 1);
            buf_append_str(b, "<metadata/>\n");
        } else {
            ind(b, 1);
            buf_append_str(b, "<metadata>\n");
            for (size_t i = 0; i < def->metadata->nkids; i++)
                if (def->metadata->kids[i]->name)
                    xnode_format_dq(def->metadata->kids[i], b, 2);
            ind(b, 1);
            buf_append_str(b, "</metadata>\n");
        }
    }
    if (def->max_memory_kib) {
        ind(b, 1);
        buf_printf(b, "<maxMemory slots='%u' unit='KiB'>%llu</maxMemory>\n", def->max_memory_slots,
                   def->max_memory_kib);
    }
    ind(b, 1);
    buf_printf(b, "<memory unit='KiB'>%llu</memory>\n", def->memory_kib);
    ind(b, 1);
    buf_printf(b, "<currentMemory unit='KiB'>%llu</currentMemory>\n", def->current_memory_kib);
    if (def->blkiotune)
        kept(f, def->blkiotune, 1);
    if (def->memtune)
        kept(f, def->memtune, 1);
    if (def->memory_backing)
        kept(f, def->memory_backing, 1);
    ind(b, 1);
    buf_append_str(b, "<vcpu");
    if (def->vcpu_placement)
        attr(b, "placement", def->vcpu_placement);
    if (def->cpuset)
        attr(b, "cpuset", def->cpuset);
    if (def->vcpus_current != def->vcpus)
        buf_printf(b, " current='%u'", def->vcpus_current);
    buf_printf(b, ">%u</vcpu>\n", def->vcpus);
    domain_vcpus_format(b, def);
    if (def->iothreads) {
        ind(b, 1);
        buf_printf(b, "<iothreads>%u</iothreads>\n", def->iothreads);
    }
    kept_named(f, def, "iothreadids");
    kept_named(f, def, "defaultiothread");
    format_cputune(f, def);
    struct xnode *const mid[] = {def->numatune, def->resource, def->sysinfo, def->bootloader,
                                 def->bootloader_args};
    for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
        if (mid[i])
            kept(f, mid[i], 1);
    format_os(f, def);
    struct xnode *const mid2[] = {def->idmap, def->features, def->cpu, def->clock};
    for (size_t i = 0; i < sizeof(mid2) / sizeof(mid2[0]); i++)
        if (mid2[i])
            kept(f, mid2[i], 1);
    text_elem(b, 1, "on_poweroff", domain_lifecycle_action_to_string(def->on_poweroff));
    text_elem(b, 1, "on_reboot", domain_lifecycle_action_to_string(def->on_reboot));
    text_elem(b, 1, "on_crash", domain_lifecycle_action_to_string(def->on_crash));
    kept_named(f, def, "on_lockfailure");
    if (def->pm)
        kept(f, def->pm, 1);
    if (def->perf)
        kept(f, def->perf, 1);

    ind(b, 1);
    buf_append_str(b, "<devices>\n");
    if (def->emulator)
        text_elem(b, 2, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++)
        format_disk(f, &def->disks[i]);
    for (size_t i = 0; i < def->ncontrollers; i++)
        format_controller(f, &def->controllers[i]);
    int net_rank = domain_device_rank("interface");
    size_t i = 0;
    for (; i < def->ndevices && domain_device_rank(def->devices[i].node->name) < net_rank; i++)
        kept(f, def->devices[i].node, 2);
    for (size_t j = 0; j < def->nnets; j++)
        format_net(f, &def->nets[j]);
    for (; i < def->ndevices; i++)
        kept(f, def->devices[i].node, 2);
    ind(b, 1);
    buf_append_str(b, "</devices>\n");
    for (size_t j = 0; j < def->nseclabels; j++)
        kept(f, def->seclabels[j], 1);
    if (def->keywrap)
        kept(f, def->keywrap, 1);
    if (def->launch_security)
        kept(f, def->launch_security, 1);
    for (size_t j = 0; j < def->nkept; j++)
        if (strncmp(def->kept[j]->name, "qemu:", 5) == 0)
            kept(f, def->kept[j], 1);
    buf_append_str(b, "</domain>\n");
    return buf_detach(b, NULL);
}
