/*
 * domain_devices.c - the device lists of a domain definition: libvirt's
 * canonical <devices> order, lookups by element name, and controllers kept
 * grouped by type and sorted by index. Shared by the generic post-parse, the
 * KVM driver's defaults and address assignment, so none of them reaches into
 * another.
 */
#include "conf/domain_priv.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* ---- device ordering ---- */

static const char *const device_order[] = {
    "emulator", "disk",       "controller", "lease",   "filesystem", "interface",   "smartcard",
    "serial",   "parallel",   "console",    "channel", "input",      "tpm",         "graphics",
    "sound",    "audio",      "video",      "hostdev", "redirdev",   "redirfilter", "hub",
    "watchdog", "memballoon", "rng",        "panic",   "shmem",      "memory",      "iommu",
    "vsock",    "crypto",     "pstore",     NULL};

int domain_device_rank(const char *element)
{
    for (int i = 0; device_order[i]; i++)
        if (strcmp(device_order[i], element) == 0)
            return i;
    return 1000;
}

void domain_device_append(struct domain_def *def, struct xnode *node)
{
    int rank = domain_device_rank(node->name);
    size_t at = def->ndevices;
    while (at > 0 && domain_device_rank(def->devices[at - 1].node->name) > rank)
        at--;
    def->devices = xreallocarray(def->devices, def->ndevices + 1, sizeof(*def->devices));
    memmove(&def->devices[at + 1], &def->devices[at], (def->ndevices - at) * sizeof(*def->devices));
    def->devices[at].node = node;
    def->ndevices++;
}

size_t domain_device_count(const struct domain_def *def, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < def->ndevices; i++)
        n += strcmp(def->devices[i].node->name, name) == 0;
    return n;
}

struct xnode *domain_device_nth(const struct domain_def *def, const char *name, size_t nth)
{
    for (size_t i = 0; i < def->ndevices; i++)
        if (strcmp(def->devices[i].node->name, name) == 0 && nth-- == 0)
            return def->devices[i].node;
    return NULL;
}

/* ---- controllers ---- */

struct domain_controller *domain_controller_find(struct domain_def *def,
                                                 enum domain_controller_type type, unsigned index)
{
    for (size_t i = 0; i < def->ncontrollers; i++)
        if (def->controllers[i].type == type && def->controllers[i].index == index)
            return &def->controllers[i];
    return NULL;
}

/* Inserts keeping controllers of one type together and by index (libvirt's order). */
struct domain_controller *domain_controller_add(struct domain_def *def,
                                                enum domain_controller_type type, unsigned index,
                                                const char *model)
{
    size_t at = def->ncontrollers;
    long last_same = -1;
    for (size_t i = 0; i < def->ncontrollers; i++) {
        if (def->controllers[i].type != type)
            continue;
        if (def->controllers[i].index > index) {
            at = i;
            last_same = -2;
            break;
        }
        last_same = (long)i;
    }
    if (last_same >= 0)
        at = (size_t)last_same + 1;
    def->controllers =
        xreallocarray(def->controllers, def->ncontrollers + 1, sizeof(*def->controllers));
    memmove(&def->controllers[at + 1], &def->controllers[at],
            (def->ncontrollers - at) * sizeof(*def->controllers));
    struct domain_controller *c = &def->controllers[at];
    memset(c, 0, sizeof(*c));
    c->type = type;
    c->index = index;
    c->model = model ? xstrdup(model) : NULL;
    def->ncontrollers++;
    return c;
}

void domain_controller_ensure(struct domain_def *def, enum domain_controller_type type,
                              unsigned index, const char *model)
{
    if (!domain_controller_find(def, type, index))
        domain_controller_add(def, type, index, model);
}

bool domain_usb_companion(const char *model)
{
    return model && (strcmp(model, "ich9-ehci1") == 0 || strncmp(model, "ich9-uhci", 9) == 0);
}

bool domain_attr_is(const struct xnode *n, const char *attr, const char *const *list)
{
    const char *m = xnode_attr(n, attr);
    for (; m && *list; list++)
        if (strcmp(m, *list) == 0)
            return true;
    return false;
}

void domain_video_model_order(struct xnode *model)
{
    static const char *const order[] = {"type",   "ram",   "vram",    "vram64",
                                        "vgamem", "heads", "primary", NULL};
    xnode_order_attrs(model, order);
}

unsigned long long domain_def_memory_devices_kib(const struct domain_def *def)
{
    unsigned long long kib = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const struct xnode *t = strcmp(n->name, "memory") ? NULL : xnode_child(n, "target");
        const struct xnode *size = t ? xnode_child(t, "size") : NULL;
        const char *v = size ? xnode_text(size) : NULL;
        if (v) /* KiB: post-parse normalised it */
            kib += strtoull(v, NULL, 10);
    }
    return kib;
}

void domain_def_add_device(struct domain_def *def, struct xnode *node)
{
    domain_device_append(def, node);
}
