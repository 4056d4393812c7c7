/*
 * cli-console.c - parsing of -chardev and the virtio-serial -device options
 * (see cli-console.h). Error lines name the option and the offending
 * property, as cli.c's do; the rules for port numbers follow QEMU's
 * virtio-serial bus: port 0 is kept for the first virtconsole, other ports
 * take the lowest free number from 1, nr= must be below max_ports.
 */
#include "vmm/cli-opts.h"
#include "vmm/cli-console.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_console_chardev(struct vmm_console_config *cc, const char *arg, struct verr *err)
{
    if (cc->nr_chardevs >= VMM_MAX_CHARDEVS)
        return verr_set(err, ENOSPC, "-chardev %s: at most %u chardevs", arg, VMM_MAX_CHARDEVS);
    struct chardev_spec spec;
    int r = chardev_parse_opts(arg, &spec, err);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < cc->nr_chardevs; i++) {
        if (str_eq(cc->chardevs[i].id, spec.id)) {
            r = verr_set(err, EEXIST, "-chardev %s: duplicate chardev id '%s'", arg, spec.id);
            chardev_spec_free(&spec);
            return r;
        }
    }
    cc->chardev_used[cc->nr_chardevs] = false;
    cc->chardevs[cc->nr_chardevs++] = spec;
    return 0;
}

static void replace(char **field, const char *v)
{
    free(*field);
    *field = xstrdup(v);
}

static int serial_bus(struct vmm_console_config *cc, struct vmm_virtio_config *vc, char *cur,
                      const char *arg, struct verr *err)
{
    if (cc->nr_buses >= VMM_MAX_SERIAL_BUSES)
        return verr_set(err, ENOSPC, "-device %s: at most %u virtio-serial devices", arg,
                        VMM_MAX_SERIAL_BUSES);
    if (vc->nr_devices >= VMM_MAX_VIRTIO_DEVICES)
        return verr_set(err, ENOSPC, "-device %s: at most %u virtio devices", arg,
                        VMM_MAX_VIRTIO_DEVICES);
    struct vmm_serial_bus b = {.max_ports = VMM_SERIAL_PORTS_MAX, .place = PCI_PLACE_ANY};
    const char *v;
    char *item;
    int r = 0;
    while (r == 0 && (item = cli_next_item(&cur))) {
        if (cli_prop(item, "id", &v)) {
            replace(&b.id, v);
        } else if (cli_prop(item, "max_ports", &v)) {
            uint64_t n;
            if (str_to_u64(v, 10, &n) < 0 || n < 1 || n > VMM_SERIAL_PORTS_MAX)
                r = verr_set(err, EINVAL, "-device %s: max_ports=%s (1 to %u)", arg, v,
                             VMM_SERIAL_PORTS_MAX);
            else
                b.max_ports = (unsigned)n;
        } else if ((r = cli_pci_prop("virtio-serial-pci", item, &b.place, err)) != 0) {
            r = r < 0 ? verr_prefix(err, "-device %s", arg) : 0;
        } else {
            r = verr_set(err, EINVAL, "-device %s: unknown virtio-serial-pci property '%s'", arg,
                         item);
        }
    }
    for (unsigned i = 0; r == 0 && b.id && i < cc->nr_buses; i++)
        if (cc->buses[i].id && str_eq(cc->buses[i].id, b.id))
            r = verr_set(err, EEXIST, "-device %s: duplicate id '%s'", arg, b.id);
    if (r < 0) {
        free(b.id);
        return r;
    }
    struct vmm_virtio_device *d = &vc->devices[vc->nr_devices++];
    memset(d, 0, sizeof(*d));
    d->kind = VMM_VIRTIO_CONSOLE;
    d->num_queues = 1;
    d->console = cc->nr_buses;
    d->place = b.place;
    d->what = xasprintf("-device %s", arg);
    d->id = b.id ? xstrdup(b.id) : NULL;
    cc->buses[cc->nr_buses++] = b;
    return 0;
}

static void port_free(struct vmm_serial_port *p)
{
    free(p->id);
    free(p->name);
    free(p->chardev);
    free(p->bus);
    memset(p, 0, sizeof(*p));
}

static int serial_port(struct vmm_console_config *cc, bool console, const char *driver, char *cur,
                       const char *arg, struct verr *err)
{
    if (cc->nr_ports >= VMM_MAX_SERIAL_PORTS)
        return verr_set(err, ENOSPC, "-device %s: at most %u virtio-serial ports", arg,
                        VMM_MAX_SERIAL_PORTS);
    struct vmm_serial_port p = {.console = console, .nr = -1, .cd = -1};
    const char *v;
    char *item;
    int r = 0;
    while (r == 0 && (item = cli_next_item(&cur))) {
        if (cli_prop(item, "id", &v)) {
            replace(&p.id, v);
        } else if (cli_prop(item, "chardev", &v)) {
            replace(&p.chardev, v);
        } else if (cli_prop(item, "name", &v)) {
            if (!*v || strlen(v) > 255)
                r = verr_set(err, EINVAL, "-device %s: name= must have 1 to 255 characters", arg);
            replace(&p.name, v);
        } else if (cli_prop(item, "bus", &v)) {
            replace(&p.bus, v);
        } else if (cli_prop(item, "nr", &v)) {
            uint64_t n;
            if (str_to_u64(v, 10, &n) < 0 || n >= VMM_SERIAL_PORTS_MAX)
                r = verr_set(err, EINVAL, "-device %s: nr=%s (0 to %u)", arg, v,
                             VMM_SERIAL_PORTS_MAX - 1);
            else if (n == 0 && !console)
                r = verr_set(err, EINVAL,
                             "-device %s: port number 0 is reserved for virtconsole devices", arg);
            p.nr = (int)n;
        } else {
            r = verr_set(err, EINVAL, "-device %s: unknown %s property '%s'", arg, driver, item);
        }
    }
    if (r < 0) {
        port_free(&p);
        return r;
    }
    cc->ports[cc->nr_ports++] = p;
    return 0;
}

int cli_console_device(struct vmm_console_config *cc, struct vmm_virtio_config *vc, const char *arg,
                       struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy;
    const char *driver = cli_next_item(&cur);
    if (!strncmp(driver, "driver=", 7))
        driver += 7;
    int r;
    if (str_eq(driver, "virtio-serial-pci") || str_eq(driver, "virtio-serial"))
        r = serial_bus(cc, vc, cur, arg, err);
    else if (str_eq(driver, "virtconsole"))
        r = serial_port(cc, true, driver, cur, arg, err);
    else if (str_eq(driver, "virtserialport"))
        r = serial_port(cc, false, driver, cur, arg, err);
    else
        r = -ENOENT;
    free(copy);
    return r;
}

static int find_chardev(struct vmm_console_config *cc, const char *id)
{
    for (unsigned i = 0; i < cc->nr_chardevs; i++)
        if (str_eq(cc->chardevs[i].id, id))
            return (int)i;
    return -1;
}

/* Takes chardev id for a frontend (what names the frontend in the error). */
static int use_chardev(struct vmm_console_config *cc, const char *id, const char *what, int *out,
                       struct verr *err)
{
    int i = find_chardev(cc, id);
    if (i < 0)
        return verr_set(err, ENOENT, "%s: no -chardev with id=%s", what, id);
    if (cc->chardev_used[i])
        return verr_set(err, EBUSY, "%s: chardev '%s' is already in use", what, id);
    cc->chardev_used[i] = true;
    *out = i;
    return 0;
}

static bool nr_taken(const struct vmm_console_config *cc, const bool *done, unsigned bus, int nr)
{
    for (unsigned i = 0; i < cc->nr_ports; i++)
        if (done[i] && cc->ports[i].vser == bus && cc->ports[i].nr == nr)
            return true;
    return false;
}

static int resolve_bus(struct vmm_console_config *cc, struct vmm_serial_port *p, const char *what,
                       struct verr *err)
{
    if (cc->nr_buses == 0)
        return verr_set(err, ENOENT, "%s: no virtio-serial bus (add -device virtio-serial-pci)",
                        what);
    p->vser = 0; /* the first bus, as QEMU picks */
    if (!p->bus)
        return 0;
    size_t n = strlen(p->bus);
    if (n > 2 && !strcmp(p->bus + n - 2, ".0"))
        n -= 2;
    for (unsigned b = 0; b < cc->nr_buses; b++) {
        if (cc->buses[b].id && strlen(cc->buses[b].id) == n &&
            !strncmp(cc->buses[b].id, p->bus, n)) {
            p->vser = b;
            return 0;
        }
    }
    return verr_set(err, ENOENT, "%s,bus=%s: no virtio-serial bus named %.*s", what, p->bus, (int)n,
                    p->bus);
}

int cli_console_finish(struct vmm_console_config *cc, const struct chardev_spec *serial,
                       struct verr *err)
{
    int r, dummy;
    if (serial->kind == CHARDEV_REF) {
        char what[300];
        snprintf(what, sizeof(what), "-serial chardev:%s", serial->id);
        if ((r = use_chardev(cc, serial->id, what, &dummy, err)) < 0)
            return r;
    }
    bool done[VMM_MAX_SERIAL_PORTS] = {false};
    char what[300];
    /* Explicit nr= first, then the others in command-line order. */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < cc->nr_ports; i++) {
            struct vmm_serial_port *p = &cc->ports[i];
            if ((pass == 0) != (p->nr >= 0))
                continue;
            snprintf(what, sizeof(what), "-device %s",
                     p->console ? "virtconsole" : "virtserialport");
            if ((r = resolve_bus(cc, p, what, err)) < 0)
                return r;
            unsigned max = cc->buses[p->vser].max_ports;
            if (p->nr >= 0) {
                if ((unsigned)p->nr >= max)
                    return verr_set(err, EINVAL, "%s,nr=%d: the bus has max_ports=%u", what, p->nr,
                                    max);
                if (nr_taken(cc, done, p->vser, p->nr))
                    return verr_set(err, EEXIST, "%s,nr=%d: port %d is in use", what, p->nr, p->nr);
            } else {
                /* Port 0 is kept for the first virtconsole; others from 1 up. */
                if (p->console && !nr_taken(cc, done, p->vser, 0))
                    p->nr = 0;
                for (unsigned k = 1; p->nr < 0 && k < max; k++)
                    if (!nr_taken(cc, done, p->vser, (int)k))
                        p->nr = (int)k;
                if (p->nr < 0)
                    return verr_set(err, ENOSPC,
                                    "%s: no free port on the virtio-serial bus (max_ports=%u)",
                                    what, max);
            }
            done[i] = true;
        }
    }
    for (unsigned i = 0; i < cc->nr_ports; i++) {
        struct vmm_serial_port *p = &cc->ports[i];
        const char *drv = p->console ? "virtconsole" : "virtserialport";
        for (unsigned k = 0; p->name && k < i; k++)
            if (cc->ports[k].name && cc->ports[k].vser == p->vser &&
                str_eq(cc->ports[k].name, p->name))
                return verr_set(err, EEXIST, "-device %s,name=%s: a port already has that name",
                                drv, p->name);
        if (p->chardev) {
            snprintf(what, sizeof(what), "-device %s,chardev=%s", drv, p->chardev);
            if ((r = use_chardev(cc, p->chardev, what, &p->cd, err)) < 0)
                return r;
        }
    }
    return 0;
}

int cli_console_check(const struct vmm_console_config *cc, const struct chardev_spec *serial,
                      bool daemonize, struct verr *err)
{
    unsigned users = serial->kind == CHARDEV_STDIO;
    for (unsigned i = 0; i < cc->nr_chardevs; i++) {
        if (cc->chardevs[i].kind != CHARDEV_STDIO)
            continue;
        if (daemonize)
            return verr_set(err, EINVAL, "-chardev stdio,id=%s: cannot be used with -daemonize",
                            cc->chardevs[i].id);
        if (++users > 1)
            return verr_set(err, EBUSY,
                            "-chardev stdio,id=%s: cannot use stdio by multiple character devices",
                            cc->chardevs[i].id);
    }
    return 0;
}

void cli_console_free(struct vmm_console_config *cc)
{
    for (unsigned i = 0; i < cc->nr_chardevs; i++)
        chardev_spec_free(&cc->chardevs[i]);
    for (unsigned i = 0; i < cc->nr_buses; i++)
        free(cc->buses[i].id);
    for (unsigned i = 0; i < cc->nr_ports; i++)
        port_free(&cc->ports[i]);
    memset(cc, 0, sizeof(*cc));
}
