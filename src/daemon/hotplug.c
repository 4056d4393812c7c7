/*
 * hotplug.c - attach-device, detach-device and detach-device-alias: a disk or
 * an interface added to or removed from the running VM (PCIe native hot-plug
 * through a pcie-root-port of vireo-vmm), the persistent definition, or both,
 * as libvirt's VIR_DOMAIN_AFFECT_LIVE / AFFECT_CONFIG flags say.
 *
 * Live attach is libvirt's QMP sequence: blockdev-add of a file node and a
 * format node over it, or netdev_add, then device_add onto the bus of a
 * free root port (bus=pci.N,addr=0x0: the device's address in the live XML
 * is where the guest finds it); a refused device_add takes its backends back.
 * A bridge, network or ethernet interface gets its tap as at start
 * (net-iface.c: bridge, MTU, tc), passed with getfd and named by netdev_add
 * type=tap,fd=NAME; vireo-vmm then owns the only descriptor, so netdev_del
 * (at DEVICE_DELETED, or to undo a refused device_add) removes the tap and
 * its tc set-up with it, and closefd undoes a getfd whose netdev_add failed.
 * <link state='down'> is set_link after device_add.
 * Live detach is device_del, then a wait of up to libvirt's 5 seconds for
 * DEVICE_DELETED (the guest powers the slot off). As in libvirt, a guest that
 * has not answered by then does not fail the call: the device stays in the
 * live XML until the event comes, whenever it comes (vd_hotplug_device_deleted),
 * and only then are its backends deleted. The config half re-parses the
 * changed definition, so the new device gets its address as at define time.
 * A <memory model='dimm'> is object-add of its backend and device_add pc-dimm
 * (the guest gets an ACPI insert), device_del and object-del at DEVICE_DELETED.
 * Messages are libvirt's.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/net-iface.h"
#include "daemon/secret.h"
#include "daemon/security-dac.h"
#include "daemon/storage.h"
#include "daemon/tune.h"
#include "daemon/vireod.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "daemon/vmm-record.h"
#include "daemon/vmm-support.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

/* libvirt's qemuDomainRemoveDeviceWaitTime. */
#define HOTPLUG_UNPLUG_WAIT_NS (5000ull * 1000000ull)

/* A detach waiting for DEVICE_DELETED (dom->hotplug). */
struct hp_wait {
    struct vd_job *job;
    char *alias;
    struct domain_def *config; /* the config half to commit afterwards, or NULL */
    struct loop_timer *timer;
};

/* One attach in flight: its steps' state. */
#define HP_MAX_QUEUES 16 /* a tap's queues: vmm_support_check refuses more */

struct hp_attach {
    struct vd_job *job;
    struct domain_def *upd;    /* the parsed device, in a one-device domain */
    struct domain_def *config; /* the config half to commit afterwards, or NULL */
    bool disk;
    char *alias, *node, *storage; /* device id, format node / netdev id, file node */
    char **fdnames;               /* the tap's getfd names, one per queue, or NULL (no tap) */
    int tap_fds[HP_MAX_QUEUES];   /* vireod's descriptors of the tap until getfd took each */
    unsigned nfds, fds_sent;      /* the tap's queues; how many getfd took */
    struct domain_address addr;
    int step; /* the last step sent: disk 1-3 (file, format, device); NIC 1-4 (getfd, netdev,
               * device, set_link) */
    /* An encrypted disk's secret objects, added before step 1: masterKey0 (only when the VMM
     * has none yet: its file is then new) and ALIAS-luks-secret0, the passphrase under it. */
    char *secret_id;               /* ALIAS-luks-secret0 */
    char *secret_data, *secret_iv; /* base64, until sent */
    bool master_sent, secret_added;
};

static void ignore_reply(void *opaque, int r, const char *error)
{
    (void)opaque;
    if (r < 0)
        log_warn("hot-plug clean-up: %s", error);
}

/* vireo-vmm's refusal as libvirt words a QEMU one. */
static const char *qmp_desc(const char *error)
{
    const char *p = error ? strstr(error, ": ") : NULL;
    return p && strncmp(error, "vireo-vmm refused ", 18) == 0 ? p + 2 : error ? error : "?";
}

static void send_cmd(struct vd_vmm *vmm, const char *command, const char *key, const char *value)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, key, json_object_new_string(value));
    struct verr e = {0};
    if (vd_vmm_hotplug_command(vmm, command, a, -1, ignore_reply, NULL, &e) < 0)
        log_warn("hot-plug clean-up: %s", verr_msg(&e));
}

/* ---- shared: flags, targets, the device's XML ---- */

static int check_flags(struct vd_job *job, const char *func, bool *live, bool *config)
{
    struct vd_domain *dom = job->dom;
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG;
    if (job->flags & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function %s",
                    job->flags & ~known, func);
        return -1;
    }
    *live = vd_domain_affects_live(dom, job->flags);
    *config = vd_domain_affects_config(dom, job->flags);
    return vd_domain_check_targets(job, *live, *config);
}

/* The <disk> or <interface> of job->text, parsed in a one-device domain of type 'test' (which
 * assigns no PCI address: an address there is the caller's). */
static struct domain_def *parse_device(struct vd_job *job, const char *verb)
{
    const char *xml = job->text ? job->text : "";
    while (*xml == ' ' || *xml == '\n' || *xml == '\t' || *xml == '\r')
        xml++;
    char name[32] = "";
    sscanf(xml, "<%31[a-zA-Z]", name);
    if (strcmp(name, "disk") != 0 && strcmp(name, "interface") != 0) {
        /* TODO: controllers, rng, memballoon... once vireo-vmm hot-plugs them */
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: live %s of device '%s' is not supported", verb,
                    *name ? name : "?");
        return NULL;
    }
    char *doc = xasprintf("<domain type='test'><name>hotplug</name><memory>1024</memory>"
                          "<os><type>hvm</type></os><devices>%s</devices></domain>",
                          xml);
    struct domain_def *def = NULL;
    struct verr e = {0};
    int r = domain_def_parse_string(doc, 0, &def, &e);
    free(doc);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
        return NULL;
    }
    if (def->ndisks + def->nnets != 1) {
        domain_def_free(def);
        vd_job_fail(job, VIR_ERR_XML_ERROR,
                    "XML error: expected exactly one <disk> or <interface>");
        return NULL;
    }
    return def;
}

/* The disks vireo-vmm hot-plugs: virtio-blk behind a root port, SCSI units on a controller. */
static bool hotplug_bus(const struct domain_disk *d)
{
    return d->target_bus == DOMAIN_DISK_BUS_VIRTIO || d->target_bus == DOMAIN_DISK_BUS_SCSI;
}

static struct domain_disk *find_disk(struct domain_def *def, const char *target)
{
    for (size_t i = 0; target && i < def->ndisks; i++)
        if (def->disks[i].target_dev && strcmp(def->disks[i].target_dev, target) == 0)
            return &def->disks[i];
    return NULL;
}

static struct domain_net *find_net(struct domain_def *def, const char *mac)
{
    for (size_t i = 0; i < def->nnets; i++)
        if (strcasecmp(def->nets[i].mac, mac) == 0)
            return &def->nets[i];
    return NULL;
}

/* libvirt takes an alias from the user's XML only with its "ua-" prefix. */
static bool user_alias(const char *alias)
{
    return alias && strncmp(alias, "ua-", 3) == 0 && alias[3];
}

/* The device ids vireod gives (vmm-argv.c): virtio-diskN from the target, scsiC-B-T-U from a
 * SCSI disk's drive address, netN. */
static char *disk_alias(const struct domain_def *def, const struct domain_disk *d)
{
    if (d->alias)
        return xstrdup(d->alias);
    if (d->target_bus == DOMAIN_DISK_BUS_SCSI)
        return vmm_argv_disk_alias(d);
    int idx = domain_disk_name_to_index(d->target_dev, NULL);
    return xasprintf("virtio-disk%d", idx < 0 ? (int)(d - def->disks) : idx);
}

static char *net_alias(const struct domain_def *def, const struct domain_net *n)
{
    return n->alias ? xstrdup(n->alias) : xasprintf("net%zu", (size_t)(n - def->nets));
}

/* A definition parsed again from its XML: the new device's address as at define time. */
static struct domain_def *reparse(struct vd_job *job, struct domain_def *def)
{
    char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    domain_def_free(def);
    struct domain_def *out = NULL;
    struct verr e = {0};
    int r = domain_def_parse_string(xml, 0, &out, &e);
    free(xml);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED, "%s", verr_msg(&e));
        return NULL;
    }
    return out;
}

static void commit_or_done(struct vd_job *job, struct domain_def *config)
{
    if (!config) {
        vd_job_done(job);
        return;
    }
    struct verr e = {0};
    int r = vd_domain_commit_config(job->dom->daemon, job->dom, config, &e);
    if (r < 0)
        vd_job_fail(job, r == -EINVAL ? VIR_ERR_INVALID_ARG : VIR_ERR_OPERATION_FAILED, "%s",
                    verr_msg(&e));
    else
        vd_job_done(job);
}

/* ---- attach ---- */

/* The config half: the persistent definition with the device, or NULL (job failed). */
static struct domain_def *attach_config(struct vd_job *job, const struct domain_def *upd)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    if (upd->ndisks) {
        if (find_disk(def, upd->disks[0].target_dev)) {
            vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                        "Requested operation is not valid: target %s already exists",
                        upd->disks[0].target_dev);
            domain_def_free(def);
            return NULL;
        }
        domain_def_add_disk(def, &upd->disks[0]);
    } else {
        if (find_net(def, upd->nets[0].mac)) {
            vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                        "Requested operation is not valid: a device with MAC address %s already "
                        "exists",
                        upd->nets[0].mac);
            domain_def_free(def);
            return NULL;
        }
        domain_def_add_net(def, &upd->nets[0]);
    }
    return reparse(job, def);
}

static bool on_bus(const struct domain_address *a, unsigned bus)
{
    return a->type == DOMAIN_ADDRESS_PCI && a->bus == bus;
}

/* Whether any device of def has a PCI address on bus: disks, interfaces, controllers (the
 * USB controller vireod puts behind the first root port, as libvirt), the balloon, RNGs,
 * and the devices kept as XML (their <address type='pci' bus=>). */
static bool bus_in_use(const struct domain_def *def, unsigned bus)
{
    bool used = def->memballoon && on_bus(&def->memballoon->address, bus);
    for (size_t k = 0; k < def->ndisks; k++)
        used |= on_bus(&def->disks[k].address, bus);
    for (size_t k = 0; k < def->nnets; k++)
        used |= on_bus(&def->nets[k].address, bus);
    for (size_t k = 0; k < def->ncontrollers; k++)
        used |= on_bus(&def->controllers[k].address, bus);
    for (size_t k = 0; k < def->nrngs; k++)
        used |= on_bus(&def->rngs[k].address, bus);
    for (size_t k = 0; k < def->ndevices; k++) {
        const struct xnode *a = xnode_child(def->devices[k].node, "address");
        const char *type = a ? xnode_attr(a, "type") : NULL;
        const char *b = a ? xnode_attr(a, "bus") : NULL;
        used |= type && b && strcmp(type, "pci") == 0 && strtoul(b, NULL, 0) == bus;
    }
    return used;
}

/* The first pcie-root-port of the live definition with nothing behind it. */
static int free_root_port(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ncontrollers; i++) {
        const struct domain_controller *c = &def->controllers[i];
        if (!vmm_argv_is_root_port(c))
            continue;
        bool used = bus_in_use(def, c->index);
        bool off = false;
        for (size_t k = 0; k < c->nextra; k++) {
            const char *h = strcmp(c->extra[k]->name, "target") == 0
                                ? xnode_attr(c->extra[k], "hotplug")
                                : NULL;
            off |= h && strcmp(h, "off") == 0;
        }
        if (!used && !off)
            return (int)c->index;
    }
    return -1;
}

static void attach_free(struct hp_attach *a)
{
    for (unsigned q = 0; q < HP_MAX_QUEUES; q++)
        if (a->tap_fds[q] >= 0)
            close(a->tap_fds[q]); /* the tap goes with them */
    for (unsigned q = 0; a->fdnames && q < a->nfds; q++)
        free(a->fdnames[q]);
    free(a->fdnames);
    domain_def_free(a->upd);
    domain_def_free(a->config);
    free(a->alias);
    free(a->node);
    free(a->storage);
    free(a->secret_id);
    if (a->secret_data)
        explicit_bzero(a->secret_data, strlen(a->secret_data));
    free(a->secret_data);
    free(a->secret_iv);
    free(a);
}

static void attach_fail(struct hp_attach *a, const char *command, const char *error)
{
    struct vd_vmm *vmm = a->job->dom->vmm;
    if (vmm && a->disk && a->step >= 2)
        send_cmd(vmm, "blockdev-del", "node-name", a->node);
    if (vmm && a->disk && a->step >= 1)
        send_cmd(vmm, "blockdev-del", "node-name", a->storage);
    if (vmm && a->secret_added) /* masterKey0 stays, as libvirt keeps it for the VM's life */
        send_cmd(vmm, "object-del", "id", a->secret_id);
    if (vmm && !a->disk && a->step >= 2)
        send_cmd(vmm, "netdev_del", "id", a->node); /* with it the tap */
    else if (vmm && !a->disk && a->step >= 1 && a->fdnames)
        for (unsigned q = 0; q < a->fds_sent; q++)
            send_cmd(vmm, "closefd", "fdname", a->fdnames[q]);
    if (!a->disk && a->fdnames) /* the tap's Open vSwitch port, if it has one */
        vd_net_release_one(a->job->dom->daemon, a->job->dom->def, &a->upd->nets[0]);
    vd_job_fail(a->job, VIR_ERR_INTERNAL_ERROR,
                "internal error: unable to execute QEMU command '%s': %s", command,
                qmp_desc(error));
    attach_free(a);
}

static void attach_step(void *opaque, int r, const char *error);

/* getfd of the tap's next queue (a->fds_sent), under its name; step 1 until the last. */
static void attach_getfd(struct hp_attach *a)
{
    struct json_object *fdargs = json_object_new_object();
    json_object_object_add(fdargs, "fdname", json_object_new_string(a->fdnames[a->fds_sent]));
    a->step = 1;
    struct verr e = {0};
    if (vd_vmm_hotplug_command(a->job->dom->vmm, "getfd", fdargs, a->tap_fds[a->fds_sent],
                               attach_step, a, &e) < 0) {
        a->step = a->fds_sent ? 1 : 0; /* only the descriptors already taken are undone */
        attach_fail(a, "getfd", verr_msg(&e));
    }
}

static int attach_send(struct hp_attach *a, const char *command, struct json_object *args)
{
    struct verr e = {0};
    int r = vd_vmm_hotplug_command(a->job->dom->vmm, command, args, -1, attach_step, a, &e);
    if (r < 0) {
        a->step--; /* not sent: only what came before it is undone */
        attach_fail(a, command, verr_msg(&e));
    }
    return r;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static void attach_device_add(struct hp_attach *a)
{
    struct json_object *args = json_object_new_object();
    char bus[32], addr[16];
    snprintf(bus, sizeof(bus), a->addr.bus ? "pci.%u" : "pcie.0", a->addr.bus);
    snprintf(addr, sizeof(addr), "0x%x", a->addr.slot);
    if (a->disk && a->upd->disks[0].target_bus == DOMAIN_DISK_BUS_SCSI) {
        /* A unit on the controller's bus: no PCI slot, no guest handshake. */
        const struct domain_disk *d = &a->upd->disks[0];
        const struct domain_address *ad = &d->address;
        char sbus[32];
        snprintf(sbus, sizeof(sbus), "scsi%u.0", ad->controller);
        add_str(args, "driver", d->device == DOMAIN_DISK_DEVICE_CDROM ? "scsi-cd" : "scsi-hd");
        add_str(args, "bus", sbus);
        json_object_object_add(args, "channel", json_object_new_int((int)ad->bus));
        json_object_object_add(args, "scsi-id", json_object_new_int((int)ad->target));
        json_object_object_add(args, "lun", json_object_new_int((int)ad->unit));
        add_str(args, "drive", a->node);
        if (d->serial)
            add_str(args, "serial", d->serial);
        add_str(args, "id", a->alias);
        a->step = 3;
        attach_send(a, "device_add", args);
        return;
    }
    if (a->disk) {
        const struct domain_disk *d = &a->upd->disks[0];
        add_str(args, "driver", "virtio-blk-pci");
        add_str(args, "drive", a->node);
        if (d->serial)
            add_str(args, "serial", d->serial);
        if (d->shareable)
            json_object_object_add(args, "share-rw", json_object_new_boolean(true));
    } else {
        const struct domain_net *n = &a->upd->nets[0];
        bool e1000 = n->model && strcmp(n->model, "e1000") == 0;
        add_str(args, "driver", e1000 ? "e1000" : "virtio-net-pci");
        add_str(args, "netdev", a->node);
        add_str(args, "mac", n->mac);
        if (a->nfds > 1) { /* as at start: every queue pair and vectors for each, as libvirt */
            json_object_object_add(args, "mq", json_object_new_boolean(true));
            json_object_object_add(args, "vectors", json_object_new_int((int)(2 * a->nfds + 2)));
        }
        for (size_t k = 0; k < n->nextra; k++) { /* <mtu size>: the guest is told, as at start */
            const char *mtu =
                strcmp(n->extra[k]->name, "mtu") == 0 ? xnode_attr(n->extra[k], "size") : NULL;
            if (mtu)
                json_object_object_add(args, "host_mtu", json_object_new_int(atoi(mtu)));
        }
    }
    add_str(args, "id", a->alias);
    add_str(args, "bus", bus);
    add_str(args, "addr", addr);
    a->step = 3;
    attach_send(a, "device_add", args);
}

static void attach_netdev_add(struct hp_attach *a)
{
    struct json_object *args = json_object_new_object();
    add_str(args, "type", a->fdnames ? "tap" : "user");
    add_str(args, "id", a->node);
    if (a->fdnames && a->nfds == 1) {
        add_str(args, "fd", a->fdnames[0]);
    } else if (a->fdnames) { /* a multiqueue tap: fds=NAME0:NAME1:..., as libvirt passes it */
        struct buf b = BUF_INIT;
        for (unsigned q = 0; q < a->nfds; q++)
            buf_printf(&b, "%s%s", q ? ":" : "", a->fdnames[q]);
        char *fds = buf_detach(&b, NULL);
        add_str(args, "fds", fds);
        free(fds);
    }
    a->step = 2;
    attach_send(a, "netdev_add", args);
}

/* The device is in the guest: the live definition shows it. */
static void attach_done(struct hp_attach *a, struct vd_domain *dom)
{
    struct vd_job *job = a->job;
    if (a->disk) {
        struct domain_disk d = a->upd->disks[0];
        if (d.target_bus != DOMAIN_DISK_BUS_SCSI)
            d.address = a->addr;
        d.alias = a->alias;
        domain_def_add_disk(dom->def, &d);
    } else {
        struct domain_net n = a->upd->nets[0];
        n.address = a->addr;
        n.alias = a->alias;
        domain_def_add_net(dom->def, &n);
    }
    vd_domain_save_status(dom->daemon, dom);
    struct domain_def *config = a->config;
    a->config = NULL;
    attach_free(a);
    if (job)
        commit_or_done(job, config);
}

static void attach_step(void *opaque, int r, const char *error)
{
    struct hp_attach *a = opaque;
    static const char *const disk_names[] = {"", "blockdev-add", "blockdev-add", "device_add"};
    static const char *const net_names[] = {"", "getfd", "netdev_add", "device_add", "set_link"};
    if (r < 0 && !a->disk && a->step == 4) {
        /* The NIC is in the guest with its link up: the live XML says so. */
        vd_net_set_link(&a->upd->nets[0], true);
        log_warn("domain '%s': %s: set_link: %s", a->job->dom->def->name, a->alias, error);
        struct vd_job *job = a->job;
        domain_def_free(a->config); /* the call failed: the definition stays as it was */
        a->config = NULL;
        a->job = NULL;
        attach_done(a, job->dom);
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "operation failed: setting of link state failed: Device was left with link "
                    "up");
        return;
    }
    if (r < 0) {
        int done = a->step;
        a->step--; /* what was added before the refused step */
        if (!a->disk && done == 1 && a->fds_sent)
            a->step = 1; /* a later queue's getfd: the earlier ones are closed */
        attach_fail(a, a->disk ? disk_names[done] : net_names[done], error);
        return;
    }
    if (!a->disk && a->step == 1) {
        unsigned q = a->fds_sent++;
        close(a->tap_fds[q]); /* vireo-vmm has it now: the tap lives as long as its netdev */
        a->tap_fds[q] = -1;
        if (a->fds_sent < a->nfds)
            attach_getfd(a); /* the next queue's */
        else
            attach_netdev_add(a);
        return;
    }
    if (!a->disk && a->step == 3 && vd_net_link_down(&a->upd->nets[0])) {
        struct verr e = {0};
        a->step = 4;
        if (vd_vmm_set_link(a->job->dom->vmm, a->alias, false, attach_step, a, &e) < 0)
            attach_step(a, -1, verr_msg(&e));
        return;
    }
    if (a->step >= 3) {
        attach_done(a, a->job->dom);
        return;
    }
    if (!a->disk || a->step == 2) {
        attach_device_add(a);
        return;
    }
    /* The format node over the file node. */
    const struct domain_disk *d = &a->upd->disks[0];
    struct json_object *args = json_object_new_object();
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    bool qcow2 = strcmp(fmt, "qcow2") == 0;
    /* an encrypted raw disk is the luks driver, qcow2 gets encrypt (as at start) */
    add_str(args, "driver", a->secret_id && !qcow2 ? "luks" : fmt);
    add_str(args, "file", a->storage);
    add_str(args, "node-name", a->node);
    if (a->secret_id && !qcow2) {
        add_str(args, "key-secret", a->secret_id);
    } else if (a->secret_id) {
        struct json_object *enc = json_object_new_object();
        add_str(enc, "format", "luks");
        add_str(enc, "key-secret", a->secret_id);
        json_object_object_add(args, "encrypt", enc);
    }
    if (d->readonly)
        json_object_object_add(args, "read-only", json_object_new_boolean(true));
    /* libvirt's format node carries discard and detect-zeroes (unmap needs discard there) */
    if (vmm_argv_detect_zeroes(d)) {
        if (d->driver_discard && strcmp(d->driver_discard, "unmap") == 0)
            add_str(args, "discard", "unmap");
        add_str(args, "detect-zeroes", vmm_argv_detect_zeroes(d));
    }
    a->step = 2;
    attach_send(a, "blockdev-add", args);
}

static int attach_disk_live(struct hp_attach *a)
{
    struct vd_job *job = a->job;
    struct vd_domain *dom = job->dom;
    struct domain_disk *d = &a->upd->disks[0];
    if (find_disk(dom->def, d->target_dev)) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: target %s already exists",
                    d->target_dev);
        return -1;
    }
    bool scsi = d->target_bus == DOMAIN_DISK_BUS_SCSI;
    if (!hotplug_bus(d) || (d->device != DOMAIN_DISK_DEVICE_DISK &&
                            !(scsi && d->device == DOMAIN_DISK_DEVICE_CDROM))) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: disk bus '%s' cannot be hotplugged.",
                    domain_disk_bus_to_string(d->target_bus));
        return -1;
    }
    if (!d->source_path && d->source_type != DOMAIN_DISK_SOURCE_VOLUME) {
        /* TODO: an empty CD-ROM drive (scsi-cd without a medium) */
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: live attach of a disk without a source is not "
                    "supported yet");
        return -1;
    }
    if (scsi) {
        /* Its controller (a virtio-scsi the live domain has) and a free unit there. */
        if (d->address.type != DOMAIN_ADDRESS_DRIVE) {
            vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "internal error: disk %s has no address",
                        d->target_dev);
            return -1;
        }
        bool ctrl = false;
        for (size_t i = 0; i < dom->def->ncontrollers; i++)
            ctrl |= dom->def->controllers[i].type == DOMAIN_CONTROLLER_SCSI &&
                    dom->def->controllers[i].index == d->address.controller;
        if (!ctrl) {
            /* TODO: libvirt adds the controller first (controller hot-plug) */
            vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                        "Operation not supported: the domain has no SCSI controller with index %u "
                        "to plug the disk into",
                        d->address.controller);
            return -1;
        }
        for (size_t i = 0; i < dom->def->ndisks; i++) {
            const struct domain_disk *o = &dom->def->disks[i];
            if (o->target_bus == DOMAIN_DISK_BUS_SCSI && o->address.type == DOMAIN_ADDRESS_DRIVE &&
                o->address.controller == d->address.controller &&
                o->address.bus == d->address.bus && o->address.target == d->address.target &&
                o->address.unit == d->address.unit) {
                vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                            "operation failed: Domain already contains a disk with that address");
                return -1;
            }
        }
    }
    if (d->driver_cache && strcmp(d->driver_cache, "writeback") != 0 &&
        strcmp(d->driver_cache, "none") != 0 && strcmp(d->driver_cache, "unsafe") != 0) {
        /* TODO: writethrough/directsync need the device's write-cache=off */
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: cache mode '%s' cannot be hot-plugged yet (use "
                    "writeback, none or unsafe)",
                    d->driver_cache);
        return -1;
    }
    if (d->source_type == DOMAIN_DISK_SOURCE_VOLUME) {
        struct domain_def *resolved = NULL;
        struct verr e = {0};
        if (vd_storage_resolve_disks(dom->daemon->storage, a->upd, &resolved, &e) < 0) {
            vd_job_fail_errno(job, -e.code, verr_msg(&e));
            return -1;
        }
        if (resolved) {
            free(d->source_path);
            d->source_path = xstrdup(resolved->disks[0].source_path);
            domain_def_free(resolved);
        }
    }
    /* the VMM opens the image after it dropped root: it must be the VM user's */
    struct verr le = {0};
    if (d->source_path && vd_dac_label_file(&dom->daemon->dac, dom->daemon->run_dir, dom->def,
                                            d->source_path, &le) < 0) {
        vd_job_fail_errno(job, -le.code, verr_msg(&le));
        return -1;
    }
    /* a block device the VMM opens must be in its private /dev (qemu.conf's namespaces) */
    if (d->source_path && d->source_type != DOMAIN_DISK_SOURCE_NETWORK &&
        vd_vmm_prepare_path(dom->vmm, d->source_path, &le) < 0) {
        vd_job_fail_errno(job, -le.code, verr_msg(&le));
        return -1;
    }
    int idx = domain_disk_name_to_index(d->target_dev, NULL);
    /* A user alias (ua-...) is the device's id, as libvirt makes it. */
    a->alias = user_alias(d->alias) ? xstrdup(d->alias)
               : scsi               ? vmm_argv_disk_alias(d)
                      : xasprintf("virtio-disk%d", idx < 0 ? (int)dom->def->ndisks : idx);
    a->node = xasprintf("drive-%s", a->alias);
    a->storage = xasprintf("drive-%s-storage", a->alias);
    return 0;
}

static int attach_net_live(struct hp_attach *a)
{
    struct vd_job *job = a->job;
    struct vd_domain *dom = job->dom;
    struct domain_net *n = &a->upd->nets[0];
    if (find_net(dom->def, n->mac)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: a device with MAC address %s already "
                    "exists",
                    n->mac);
        return -1;
    }
    if (n->type != DOMAIN_NET_USER && n->type != DOMAIN_NET_BRIDGE &&
        n->type != DOMAIN_NET_NETWORK && n->type != DOMAIN_NET_ETHERNET) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: live attach of interface type '%s' is not "
                    "supported",
                    domain_net_type_to_string(n->type));
        return -1;
    }
    /* <mtu>, <bandwidth>, <link> and the rest: vmm_support_check, as at start. */
    /* A user alias, or netN with the smallest N no interface of the live domain uses. */
    if (user_alias(n->alias))
        a->alias = xstrdup(n->alias);
    for (unsigned k = 0; !a->alias; k++) {
        char *cand = xasprintf("net%u", k);
        bool used = false;
        for (size_t i = 0; i < dom->def->nnets; i++) {
            char *al = net_alias(dom->def, &dom->def->nets[i]);
            used |= strcmp(al, cand) == 0;
            free(al);
        }
        if (!used) {
            a->alias = cand;
            break;
        }
        free(cand);
    }
    a->node = xasprintf("host%s", a->alias);
    return 0;
}

static void attach_file_node(struct hp_attach *a);
static void attach_net(struct hp_attach *a);

static int send_secret(struct hp_attach *a, const char *id, const char *data, const char *file,
                       const char *keyid, const char *iv, const char *format);

/* The replies to the secret objects' object-add: masterKey0's (when sent), then the disk's. */
static void secret_step(void *opaque, int r, const char *error)
{
    struct hp_attach *a = opaque;
    if (r < 0) {
        if (a->master_sent && a->secret_data) { /* masterKey0 refused: its new file goes */
            struct vd_domain *dom = a->job->dom;
            char *path = vd_record_path(dom->daemon->run_dir, dom->def->name, ".masterkey");
            unlink(path);
            free(path);
        }
        attach_fail(a, "object-add", error);
        return;
    }
    if (a->secret_data) { /* masterKey0 is there: now the disk's secret under it */
        char *data = a->secret_data;
        a->secret_data = NULL;
        send_secret(a, a->secret_id, data, NULL, "masterKey0", a->secret_iv, "base64");
        explicit_bzero(data, strlen(data));
        free(data);
        return;
    }
    a->secret_added = true;
    attach_file_node(a);
}

/* object-add of one secret object; on a failure to send, the attach fails (and returns -1). */
static int send_secret(struct hp_attach *a, const char *id, const char *data, const char *file,
                       const char *keyid, const char *iv, const char *format)
{
    struct json_object *args = json_object_new_object();
    add_str(args, "qom-type", "secret");
    add_str(args, "id", id);
    if (data)
        add_str(args, "data", data);
    if (file)
        add_str(args, "file", file);
    if (keyid) {
        add_str(args, "keyid", keyid);
        add_str(args, "iv", iv);
    }
    add_str(args, "format", format);
    struct verr e = {0};
    if (vd_vmm_hotplug_command(a->job->dom->vmm, "object-add", args, -1, secret_step, a, &e) < 0) {
        attach_fail(a, "object-add", verr_msg(&e));
        return -1;
    }
    return 0;
}

/*
 * An encrypted disk's keys, as at start: its secret's value AES-encrypted under the VM's
 * master key (masterKey0) with a fresh IV, added as ALIAS-luks-secret0 before the disk's
 * nodes. A VM started without encrypted disks has no master key yet: one is made (a 0600 file
 * beside the VM's records, removed with them, as at start) and added as masterKey0 from that
 * file. The passphrase is on no command line and in no file outside the run directory.
 */
static void attach_secrets(struct hp_attach *a)
{
    struct vd_job *job = a->job;
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = dom->daemon;
    char *path = vd_record_path(d->run_dir, dom->def->name, ".masterkey");
    uint8_t master[32];
    struct verr e = {0};
    bool fresh = access(path, F_OK) != 0;
    int r = 0;
    if (fresh) {
        if (gnutls_rnd(GNUTLS_RND_KEY, master, sizeof(master)) < 0)
            r = verr_set(&e, EIO, "internal error: cannot generate a master key");
        if (r == 0)
            r = file_replace_atomic(path, master, sizeof(master), 0600, &e);
        if (r == 0) /* the VMM reads it after it dropped root */
            r = vd_dac_label_file(&d->dac, d->run_dir, dom->def, path, &e);
    } else {
        struct buf b = BUF_INIT;
        r = file_read_all(path, sizeof(master), &b, &e);
        if (r == 0 && b.len != sizeof(master))
            r = verr_set(&e, EINVAL, "internal error: the master key '%s' is damaged", path);
        if (r == 0)
            memcpy(master, b.data, sizeof(master));
        if (b.data)
            explicit_bzero(b.data, b.len);
        buf_free(&b);
    }
    if (r == 0)
        r = vd_secret_disk_key(d, &a->upd->disks[0], master, &a->secret_data, &a->secret_iv, &e);
    explicit_bzero(master, sizeof(master));
    if (r < 0) {
        if (fresh)
            unlink(path);
        free(path);
        vd_job_fail(job, -e.code == ENOENT ? VIR_ERR_NO_SECRET : VIR_ERR_INTERNAL_ERROR, "%s",
                    verr_msg(&e));
        attach_free(a);
        return;
    }
    a->secret_id = xasprintf("%s-luks-secret0", a->alias);
    if (fresh) {
        a->master_sent = true;
        send_secret(a, "masterKey0", NULL, path, NULL, NULL, "raw");
    } else {
        secret_step(a, 0, NULL);
    }
    free(path);
}

static void attach_live(struct hp_attach *a)
{
    struct vd_job *job = a->job;
    struct vd_domain *dom = job->dom;
    a->disk = a->upd->ndisks == 1;
    /* What a kvm domain's definition gets by default (the device was parsed in a 'test'
     * domain, which leaves its address alone): the live XML says what the VMM was given. */
    if (a->disk && !a->upd->disks[0].driver_name)
        a->upd->disks[0].driver_name = xstrdup("qemu");
    if (a->disk && !a->upd->disks[0].driver_type)
        a->upd->disks[0].driver_type = xstrdup("raw");
    if (!a->disk && !a->upd->nets[0].model)
        a->upd->nets[0].model = xstrdup("virtio");
    if ((a->disk ? attach_disk_live(a) : attach_net_live(a)) < 0) {
        attach_free(a);
        return;
    }
    const struct domain_address *given =
        a->disk ? &a->upd->disks[0].address : &a->upd->nets[0].address;
    bool scsi = a->disk && a->upd->disks[0].target_bus == DOMAIN_DISK_BUS_SCSI;
    if (scsi) {
        a->addr = *given; /* its drive address on the controller */
    } else if (given->type == DOMAIN_ADDRESS_PCI) {
        a->addr = *given; /* vireo-vmm refuses what cannot take it (pcie.0, a busy port) */
    } else {
        int port = free_root_port(dom->def);
        if (port < 0) {
            vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "internal error: No more available PCI slots");
            attach_free(a);
            return;
        }
        a->addr = (struct domain_address){.type = DOMAIN_ADDRESS_PCI, .bus = (unsigned)port};
    }
    /* What vireo-vmm honours, checked on the definition the VM would then have. */
    struct domain_def *cand = domain_def_copy(dom->def);
    if (a->disk) {
        domain_def_add_disk(cand, &a->upd->disks[0]);
        if (!scsi)
            cand->disks[cand->ndisks - 1].address = a->addr;
    } else {
        domain_def_add_net(cand, &a->upd->nets[0]);
        cand->nets[cand->nnets - 1].address = a->addr;
    }
    struct verr e = {0};
    int r = vmm_support_check(cand, &e);
    domain_def_free(cand);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED, "%s", verr_msg(&e));
        attach_free(a);
        return;
    }
    if (a->disk && vmm_argv_disk_encryption(&a->upd->disks[0])) {
        attach_secrets(a);
        return;
    }
    if (a->disk) {
        attach_file_node(a);
        return;
    }
    attach_net(a);
}

/* The file node (step 1) of a disk. */
static void attach_file_node(struct hp_attach *a)
{
    struct json_object *args = json_object_new_object();
    {
        const struct domain_disk *d = &a->upd->disks[0];
        add_str(args, "driver", "file");
        add_str(args, "filename", d->source_path);
        add_str(args, "node-name", a->storage);
        if (d->readonly)
            json_object_object_add(args, "read-only", json_object_new_boolean(true));
        if (d->driver_cache && strcmp(d->driver_cache, "writeback") != 0) {
            struct json_object *c = json_object_new_object();
            json_object_object_add(c, "direct",
                                   json_object_new_boolean(strcmp(d->driver_cache, "none") == 0));
            json_object_object_add(c, "no-flush",
                                   json_object_new_boolean(strcmp(d->driver_cache, "unsafe") == 0));
            json_object_object_add(args, "cache", c);
        }
        if (d->driver_io)
            add_str(args, "aio", d->driver_io);
        if (d->driver_discard && strcmp(d->driver_discard, "unmap") == 0)
            add_str(args, "discard", "unmap");
        a->step = 1;
        attach_send(a, "blockdev-add", args);
    }
}

/* A NIC's backend: the tap (or user networking), then netdev_add. */
static void attach_net(struct hp_attach *a)
{
    struct vd_job *job = a->job;
    struct vd_domain *dom = job->dom;
    struct verr e = {0};
    /* The tap, as at start (its name, bridge, MTU and tc set-up); nothing is left when it
     * fails. */
    struct domain_net *n = &a->upd->nets[0];
    if (vd_net_prepare_one(dom->daemon, dom->def, n, a->tap_fds, &e) < 0) {
        vd_job_fail_errno(job, -e.code, verr_msg(&e));
        attach_free(a);
        return;
    }
    if (a->tap_fds[0] < 0) { /* user networking */
        attach_netdev_add(a);
        return;
    }
    /* One getfd per queue (fd-ALIAS, or fd-ALIAS-qN for a multiqueue tap), then netdev_add. */
    a->nfds = vmm_argv_net_queues(n);
    a->fdnames = xcalloc(a->nfds, sizeof(*a->fdnames));
    for (unsigned q = 0; q < a->nfds; q++)
        a->fdnames[q] =
            a->nfds == 1 ? xasprintf("fd-%s", a->alias) : xasprintf("fd-%s-q%u", a->alias, q);
    attach_getfd(a);
}

/* ---- <memory model='dimm'>: ACPI memory hot-plug on pc and q35 ---- */

static void detach_live(struct vd_job *job, const char *alias, struct domain_def *config,
                        bool wait);
static bool busy(struct vd_job *job);

/* The <memory> element of job->text, checked and normalised as a definition's (its size in
 * KiB, its address) in a scratch domain with room for it; NULL: the job failed. */
static struct xnode *parse_memory(struct vd_job *job)
{
    const char *xml = job->text ? job->text : "";
    char *doc = xasprintf("<domain type='test'><name>hotplug</name>"
                          "<maxMemory slots='256' unit='TiB'>16</maxMemory>"
                          "<memory unit='TiB'>16</memory><os><type>hvm</type></os>"
                          "<devices>%s</devices></domain>",
                          xml + strspn(xml, " \t\r\n"));
    struct domain_def *def = NULL;
    struct verr e = {0};
    int r = domain_def_parse_string(doc, 0, &def, &e);
    free(doc);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
        return NULL;
    }
    struct xnode *n = NULL;
    for (size_t i = 0; i < def->ndevices && !n; i++)
        if (!strcmp(def->devices[i].node->name, "memory"))
            n = xnode_copy(def->devices[i].node);
    domain_def_free(def);
    const char *model = n ? xnode_attr(n, "model") : NULL;
    if (!n || !model || strcmp(model, "dimm")) {
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: hot-plug of memory model '%s' is not supported",
                    model ? model : "?");
        xnode_free(n);
        return NULL;
    }
    return n;
}

static unsigned long long memory_kib(const struct xnode *n)
{
    const char *v = xnode_text(xnode_child(xnode_child(n, "target"), "size"));
    return v ? strtoull(v, NULL, 10) : 0;
}

/* The device's guest node (-1: none given). */
static long memory_node(const struct xnode *n)
{
    const char *v = xnode_text(xnode_child(xnode_child(n, "target"), "node"));
    return v ? strtol(v, NULL, 10) : -1;
}

static size_t numa_cells(const struct domain_def *def)
{
    const struct xnode *numa = def->cpu ? xnode_child(def->cpu, "numa") : NULL;
    size_t n = 0;
    for (size_t i = 0; numa && i < numa->nkids; i++)
        n += numa->kids[i]->name && !strcmp(numa->kids[i]->name, "cell");
    return n;
}

/* The definition's <memory> devices' slots in use (its addresses'). */
static void memory_slots_used(const struct domain_def *def, unsigned char used[256])
{
    memset(used, 0, 256);
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *m = def->devices[i].node;
        const char *st =
            strcmp(m->name, "memory") ? NULL : xnode_attr(xnode_child(m, "address"), "slot");
        if (st && strtoul(st, NULL, 10) < 256)
            used[strtoul(st, NULL, 10)] = 1;
    }
}

/* What libvirt checks before it plugs a memory device into def (qemuDomainDefValidateMemory-
 * Hotplug, the backend's node): 0, or the job failed. *slot: the address's, else the lowest
 * free one. */
static int memory_check(struct vd_job *job, const struct domain_def *def, const struct xnode *n,
                        unsigned *slot)
{
    unsigned long long kib = memory_kib(n);
    if (!def->max_memory_kib) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: cannot use/hotplug a memory device when domain "
                    "'maxMemory' is not defined");
        return -1;
    }
    size_t count = 1;
    for (size_t i = 0; i < def->ndevices; i++)
        count += !strcmp(def->devices[i].node->name, "memory");
    if (count > def->max_memory_slots) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: memory device count '%zu' exceeds slots count "
                    "'%u'",
                    count, def->max_memory_slots);
        return -1;
    }
    if (def->memory_kib + kib > def->max_memory_kib) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: Attaching memory device with size '%llu' would "
                    "exceed domain's maxMemory config size '%llu'",
                    kib, def->max_memory_kib);
        return -1;
    }
    size_t ncells = numa_cells(def);
    long node = memory_node(n);
    if (ncells && node < 0) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: target NUMA node needs to be specified for "
                    "memory device");
        return -1;
    }
    if (node >= 0 && (size_t)node >= ncells) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: can't add memory backend for guest node '%ld' as "
                    "the guest has only '%zu' NUMA nodes configured",
                    node, ncells);
        return -1;
    }
    if (kib % 2048) { /* as vmm-support refuses it at start */
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: <memory model='dimm'> of %llu KiB: vireo-vmm's "
                    "DIMM sizes are multiples of 2 MiB",
                    kib);
        return -1;
    }
    unsigned char used[256];
    memory_slots_used(def, used);
    const char *st = xnode_attr(xnode_child(n, "address"), "slot");
    if (st) {
        *slot = (unsigned)strtoul(st, NULL, 10);
        if (*slot >= def->max_memory_slots || used[*slot]) {
            vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                        *slot >= def->max_memory_slots
                            ? "unsupported configuration: memory device slot '%u' exceeds slots "
                              "count '%u'"
                            : "unsupported configuration: memory device slot '%u' is already "
                              "being used by another memory device",
                        *slot, def->max_memory_slots);
            return -1;
        }
        return 0;
    }
    for (*slot = 0; *slot < def->max_memory_slots && *slot < 256 && used[*slot]; (*slot)++)
        ;
    if (*slot >= def->max_memory_slots || *slot >= 256) {
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR,
                    "internal error: no free memory device slot available");
        return -1;
    }
    return 0;
}

/* The config half of a memory attach (libvirt's virDomainMemoryInsert: <memory> grows by
 * the device's size; the re-parse checks slots and hotplug space), or NULL (job failed). */
static struct domain_def *attach_memory_config(struct vd_job *job, const struct xnode *n)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    unsigned long long kib = memory_kib(n);
    if (def->max_memory_kib && def->memory_kib + kib > def->max_memory_kib) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: Attaching memory device with size '%llu' would "
                    "exceed domain's maxMemory config size '%llu'",
                    kib, def->max_memory_kib);
        domain_def_free(def);
        return NULL;
    }
    def->memory_kib += kib; /* without NUMA cells; with them the cells and devices add up */
    domain_def_add_device(def, xnode_copy(n));
    return reparse(job, def);
}

/* One live DIMM attach: object-add of its backend, device_add pc-dimm, then
 * query-memory-devices for the slot and base vireo-vmm gave it. */
struct hp_dimm {
    struct vd_job *job;
    struct xnode *dev;         /* the device as the live XML will show it */
    struct domain_def *config; /* the config half to commit afterwards, or NULL */
    char alias[32], backend[40];
    unsigned slot;
};

static void dimm_free(struct hp_dimm *m)
{
    xnode_free(m->dev);
    domain_def_free(m->config);
    free(m);
}

static void dimm_fail(struct hp_dimm *m, const char *command, const char *error)
{
    vd_job_fail(m->job, VIR_ERR_INTERNAL_ERROR,
                "internal error: unable to execute QEMU command '%s': %s", command,
                qmp_desc(error));
    dimm_free(m);
}

/* <memory> and the balloon's current size after a DIMM of kib came (grow) or went: the current
 * size follows when it was the whole of <memory> (libvirt's fix_balloon), and never exceeds it. */
static void memory_total_changed(struct domain_def *def, unsigned long long kib, bool grow)
{
    bool whole = def->current_memory_kib == def->memory_kib;
    def->memory_kib = grow ? def->memory_kib + kib : def->memory_kib - kib;
    if (whole || def->current_memory_kib > def->memory_kib)
        def->current_memory_kib = def->memory_kib;
}

static void dimm_queried(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct hp_dimm *m = opaque;
    struct vd_domain *dom = m->job->dom;
    bool found = false;
    for (size_t i = 0; r == 0 && json_object_is_type(ret, json_type_array) &&
                       i < json_object_array_length(ret) && !found;
         i++) {
        struct json_object *data, *v;
        if (!json_object_object_get_ex(json_object_array_get_idx(ret, i), "data", &data) ||
            !json_object_object_get_ex(data, "id", &v) ||
            strcmp(json_object_get_string(v), m->alias))
            continue;
        found = true;
        struct xnode *a = xnode_ensure_child(m->dev, "address", false);
        xnode_set_attr(a, "type", "dimm");
        if (json_object_object_get_ex(data, "slot", &v))
            xnode_set_uint_attr(a, "slot", (unsigned)json_object_get_int(v));
        if (json_object_object_get_ex(data, "addr", &v)) {
            char base[32];
            snprintf(base, sizeof(base), "0x%llx", (unsigned long long)json_object_get_uint64(v));
            xnode_set_attr(a, "base", base);
        }
    }
    if (!found) /* plugged all the same: the live XML has it, without the base */
        log_warn("domain '%s': query-memory-devices did not show %s: %s", dom->def->name, m->alias,
                 r < 0 && error ? error : "not listed");
    xnode_set_attr(xnode_ensure_child(m->dev, "alias", false), "name", m->alias);
    xnode_child_to_end(m->dev, "address");
    memory_total_changed(dom->def, memory_kib(m->dev), true);
    domain_def_add_device(dom->def, m->dev);
    m->dev = NULL;
    vd_domain_save_status(dom->daemon, dom);
    log_info("domain '%s': %s plugged", dom->def->name, m->alias);
    struct domain_def *config = m->config;
    m->config = NULL;
    struct vd_job *job = m->job;
    dimm_free(m);
    commit_or_done(job, config);
}

static void dimm_plugged(void *opaque, int r, const char *error)
{
    struct hp_dimm *m = opaque;
    struct vd_vmm *vmm = m->job->dom->vmm;
    if (r < 0) {
        if (vmm) /* the backend goes again, as libvirt undoes it */
            send_cmd(vmm, "object-del", "id", m->backend);
        dimm_fail(m, "device_add", error);
        return;
    }
    struct verr e = {0};
    if (!vmm || vd_vmm_query(vmm, "query-memory-devices", NULL, dimm_queried, m, &e) < 0)
        dimm_queried(m, -EIO, NULL, verr_msg(&e));
}

static void dimm_backend_added(void *opaque, int r, const char *error)
{
    struct hp_dimm *m = opaque;
    struct vd_vmm *vmm = m->job->dom->vmm;
    if (r < 0 || !vmm) {
        dimm_fail(m, "object-add", error);
        return;
    }
    struct json_object *args = json_object_new_object();
    add_str(args, "driver", "pc-dimm");
    add_str(args, "id", m->alias);
    add_str(args, "memdev", m->backend);
    long node = memory_node(m->dev);
    json_object_object_add(args, "node", json_object_new_int((int)(node < 0 ? 0 : node)));
    json_object_object_add(args, "slot", json_object_new_int((int)m->slot));
    const char *base = xnode_attr(xnode_child(m->dev, "address"), "base");
    if (base)
        json_object_object_add(args, "addr", json_object_new_uint64(strtoull(base, NULL, 16)));
    struct verr e = {0};
    if (vd_vmm_hotplug_command(vmm, "device_add", args, -1, dimm_plugged, m, &e) < 0)
        dimm_plugged(m, -EIO, verr_msg(&e));
}

/* object-add's arguments from a backend's -object text (vmm-argv.c writes both, so they
 * cannot differ): QEMU's types for each property, ",," an escaped comma. */
static struct json_object *backend_args(const char *text)
{
    struct json_object *o = json_object_new_object();
    struct buf b = BUF_INIT;
    bool first = true;
    for (const char *p = text;; p++) {
        if (*p == ',' && p[1] == ',') {
            buf_append(&b, ",", 1);
            p++;
            continue;
        }
        if (*p && *p != ',') {
            buf_append(&b, p, 1);
            continue;
        }
        buf_append(&b, "", 1);
        char *kv = (char *)b.data, *val = strchr(kv, '=');
        if (first) {
            add_str(o, "qom-type", kv);
        } else if (val) {
            *val++ = '\0';
            if (!strcmp(kv, "size") || !strcmp(kv, "prealloc-threads")) {
                json_object_object_add(o, kv, json_object_new_uint64(strtoull(val, NULL, 10)));
            } else if (!strcmp(kv, "share") || !strcmp(kv, "prealloc") ||
                       !strcmp(kv, "discard-data")) {
                json_object_object_add(o, kv, json_object_new_boolean(!strcmp(val, "on")));
            } else if (!strcmp(kv, "host-nodes")) { /* N or N-M, the key repeated per range */
                struct json_object *l = NULL;
                if (!json_object_object_get_ex(o, kv, &l)) {
                    l = json_object_new_array();
                    json_object_object_add(o, kv, l);
                }
                char *dash = strchr(val, '-');
                unsigned long lo = strtoul(val, NULL, 10);
                unsigned long hi = dash ? strtoul(dash + 1, NULL, 10) : lo;
                for (unsigned long k = lo; k <= hi && k < 1024; k++)
                    json_object_array_add(l, json_object_new_int((int)k));
            } else {
                add_str(o, kv, val);
            }
        }
        first = false;
        buf_reset(&b);
        if (!*p)
            break;
    }
    buf_free(&b);
    return o;
}

/* The next dimmN: one past the highest of the live DIMMs' aliases (libvirt's). */
static unsigned next_dimm(const struct domain_def *def)
{
    unsigned next = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *m = def->devices[i].node;
        const char *al =
            strcmp(m->name, "memory") ? NULL : xnode_attr(xnode_child(m, "alias"), "name");
        unsigned k;
        if (al && sscanf(al, "dimm%u", &k) == 1 && k + 1 > next)
            next = k + 1;
    }
    return next;
}

static void attach_memory(struct vd_job *job, bool live, bool config)
{
    struct xnode *n = parse_memory(job);
    if (!n)
        return;
    struct vd_domain *dom = job->dom;
    unsigned slot = 0;
    if (live && memory_check(job, dom->def, n, &slot) < 0) {
        xnode_free(n);
        return;
    }
    struct domain_def *newconf = NULL;
    if (config && !(newconf = attach_memory_config(job, n))) {
        xnode_free(n);
        return;
    }
    if (!live) {
        xnode_free(n);
        commit_or_done(job, newconf);
        return;
    }
    struct hp_dimm *m = xcalloc(1, sizeof(*m));
    m->job = job;
    m->dev = n;
    m->config = newconf;
    m->slot = slot;
    unsigned nth = next_dimm(dom->def);
    snprintf(m->alias, sizeof(m->alias), "dimm%u", nth);
    snprintf(m->backend, sizeof(m->backend), "mem%s", m->alias);
    const char *node = xnode_text(xnode_child(xnode_child(n, "target"), "node"));
    char *dir = vd_memory_dir_wanted(dom->def)
                    ? vd_memory_dir_path(dom->daemon->memory_dir, dom->id, dom->def->name)
                    : NULL;
    struct verr e = {0};
    char *text = vmm_argv_dimm_backend(dom->def, dir, nth, node, memory_kib(n), &e);
    free(dir);
    if (!text) {
        vd_job_fail_errno(job, -e.code, verr_msg(&e));
        dimm_free(m);
        return;
    }
    struct json_object *args = backend_args(text);
    free(text);
    if (vd_vmm_hotplug_command(dom->vmm, "object-add", args, -1, dimm_backend_added, m, &e) < 0)
        dimm_fail(m, "object-add", verr_msg(&e));
}

/* libvirt's virDomainMemoryFindByDef: the model, target size and node, and the address
 * and alias when the XML gives them. Index into def->devices, or -1. */
static long find_memory(const struct domain_def *def, const struct xnode *n)
{
    const struct xnode *a = xnode_child(n, "address");
    const char *slot = a ? xnode_attr(a, "slot") : NULL, *base = a ? xnode_attr(a, "base") : NULL;
    const char *alias = xnode_attr(xnode_child(n, "alias"), "name");
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *m = def->devices[i].node;
        if (strcmp(m->name, "memory") || memory_kib(m) != memory_kib(n) ||
            memory_node(m) != memory_node(n))
            continue;
        const struct xnode *ma = xnode_child(m, "address");
        const char *ms = ma ? xnode_attr(ma, "slot") : NULL,
                   *mb = ma ? xnode_attr(ma, "base") : NULL;
        const char *mal = xnode_attr(xnode_child(m, "alias"), "name");
        if ((slot && (!ms || strtoul(ms, NULL, 10) != strtoul(slot, NULL, 10))) ||
            (base && (!mb || strtoull(mb, NULL, 16) != strtoull(base, NULL, 16))) ||
            (alias && (!mal || strcmp(mal, alias))))
            continue;
        return (long)i;
    }
    return -1;
}

static void remove_device(struct domain_def *def, size_t i)
{
    xnode_free(def->devices[i].node);
    memmove(&def->devices[i], &def->devices[i + 1],
            (def->ndevices - i - 1) * sizeof(*def->devices));
    def->ndevices--;
}

static void detach_memory(struct vd_job *job, bool live, bool config)
{
    struct xnode *n = parse_memory(job);
    if (!n)
        return;
    struct domain_def *newconf = NULL;
    if (config) {
        newconf = domain_def_copy(vd_domain_config(job->dom));
        long i = find_memory(newconf, n);
        if (i < 0) {
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING,
                        "device not found: matching memory device was not found");
            domain_def_free(newconf);
            xnode_free(n);
            return;
        }
        newconf->memory_kib -= memory_kib(newconf->devices[i].node);
        remove_device(newconf, (size_t)i);
        if (!(newconf = reparse(job, newconf))) {
            xnode_free(n);
            return;
        }
    }
    if (!live) {
        xnode_free(n);
        commit_or_done(job, newconf);
        return;
    }
    long i = find_memory(job->dom->def, n);
    xnode_free(n);
    const char *alias =
        i < 0 ? NULL : xnode_attr(xnode_child(job->dom->def->devices[i].node, "alias"), "name");
    if (!alias) {
        vd_job_fail(job, VIR_ERR_DEVICE_MISSING,
                    "device not found: matching memory device was not found");
        domain_def_free(newconf);
        return;
    }
    if (busy(job)) {
        domain_def_free(newconf);
        return;
    }
    char *id = xstrdup(alias);
    detach_live(job, id, newconf, true);
    free(id);
}

/* DEVICE_DELETED of a DIMM: its backend goes, <memory> shrinks. Whether it was one.
 * TODO(#16): a guest refusing the eject (ACPI_DEVICE_OST, eject failure) should fail the
 * waiting detach with libvirt's "unplug of device was rejected by the guest". */
static bool memory_deleted(struct vd_domain *dom, const char *id)
{
    struct domain_def *def = dom->def;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *m = def->devices[i].node;
        const char *al =
            strcmp(m->name, "memory") ? NULL : xnode_attr(xnode_child(m, "alias"), "name");
        if (!al || strcmp(al, id))
            continue;
        char *backend = xasprintf("mem%s", id);
        send_cmd(dom->vmm, "object-del", "id", backend);
        free(backend);
        memory_total_changed(def, memory_kib(m), false);
        remove_device(def, i);
        return true;
    }
    return false;
}

void vd_domain_job_attach_device(struct vd_job *job)
{
    bool live, config;
    if (check_flags(job, "qemuDomainAttachDeviceFlags", &live, &config) < 0)
        return;
    const char *x = job->text ? job->text : "";
    x += strspn(x, " \t\r\n");
    if (strncmp(x, "<memory", 7) == 0 && strchr(" \t\r\n>/", x[7])) {
        attach_memory(job, live, config);
        return;
    }
    struct domain_def *upd = parse_device(job, live ? "attach" : "persistent attach");
    if (!upd)
        return;
    struct domain_def *newconf = NULL;
    if (config && !(newconf = attach_config(job, upd))) {
        domain_def_free(upd);
        return;
    }
    if (!live) {
        domain_def_free(upd);
        commit_or_done(job, newconf);
        return;
    }
    struct hp_attach *a = xcalloc(1, sizeof(*a));
    for (unsigned q = 0; q < HP_MAX_QUEUES; q++)
        a->tap_fds[q] = -1;
    a->job = job;
    a->upd = upd;
    a->config = newconf;
    attach_live(a);
}

/* ---- detach ---- */

void vd_hotplug_free(struct vd_domain *dom);

static void wait_end(struct vd_domain *dom, bool removed)
{
    struct hp_wait *w = dom->hotplug;
    dom->hotplug = NULL;
    loop_timer_free(w->timer);
    log_info("domain '%s': %s %s", dom->def->name, w->alias,
             removed ? "removed" : "not removed yet (the guest has not released it)");
    struct vd_job *job = w->job;
    struct domain_def *config = w->config;
    free(w->alias);
    free(w);
    commit_or_done(job, config);
}

static void wait_timeout(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    wait_end(opaque, false);
}

static void del_sent(void *opaque, int r, const char *error)
{
    struct vd_domain *dom = opaque;
    struct hp_wait *w = dom->hotplug;
    if (!w)
        return;
    if (r < 0 && !w->job) {
        log_warn("domain '%s': device_del %s: %s", dom->def->name, w->alias, error);
        vd_hotplug_free(dom);
        return;
    }
    if (r < 0) {
        dom->hotplug = NULL;
        loop_timer_free(w->timer);
        vd_job_fail(w->job, VIR_ERR_INTERNAL_ERROR,
                    "internal error: unable to execute QEMU command 'device_del': %s",
                    qmp_desc(error));
        domain_def_free(w->config);
        free(w->alias);
        free(w);
        return;
    }
    if (!w->job) { /* detach-device-alias: asynchronous, as libvirt's */
        vd_hotplug_free(dom);
        return;
    }
    if (w->timer) /* DEVICE_DELETED has not come already */
        loop_timer_arm(w->timer, HOTPLUG_UNPLUG_WAIT_NS, 0);
}

/* device_del of alias; job ends on DEVICE_DELETED or after the wait (NULL: at once). */
static void detach_live(struct vd_job *job, const char *alias, struct domain_def *config, bool wait)
{
    struct vd_domain *dom = job->dom;
    struct hp_wait *w = xcalloc(1, sizeof(*w));
    w->job = wait ? job : NULL;
    w->alias = xstrdup(alias);
    w->config = wait ? config : NULL;
    struct verr e = {0};
    w->timer = loop_timer_new(dom->daemon->loop, wait_timeout, dom);
    dom->hotplug = w;
    struct json_object *args = json_object_new_object();
    add_str(args, "id", alias);
    if (vd_vmm_hotplug_command(dom->vmm, "device_del", args, -1, del_sent, dom, &e) < 0) {
        w->config = NULL;
        vd_hotplug_free(dom);
        domain_def_free(config);
        vd_job_fail_errno(job, -e.code, verr_msg(&e));
        return;
    }
    if (!wait)
        commit_or_done(job, config);
}

/* DEVICE_DELETED: the device left the guest. Its backends go, the live XML loses it. */
void vd_hotplug_device_deleted(struct vd_domain *dom, const char *data)
{
    struct json_object *o = data ? json_tokener_parse(data) : NULL, *v = NULL;
    const char *id =
        o && json_object_object_get_ex(o, "device", &v) ? json_object_get_string(v) : NULL;
    struct domain_def *def = dom->def;
    bool removed = false;
    for (size_t i = 0; id && dom->vmm && i < def->ndisks; i++) {
        char *al = disk_alias(def, &def->disks[i]);
        if (hotplug_bus(&def->disks[i]) && strcmp(al, id) == 0) {
            char *node = xasprintf("drive-%s", al), *storage = xasprintf("drive-%s-storage", al);
            send_cmd(dom->vmm, "blockdev-del", "node-name", node);
            send_cmd(dom->vmm, "blockdev-del", "node-name", storage);
            if (vmm_argv_disk_encryption(&def->disks[i])) { /* its key goes with it */
                char *secret = xasprintf("%s-luks-secret0", al);
                send_cmd(dom->vmm, "object-del", "id", secret);
                free(secret);
            }
            free(node);
            free(storage);
            char *path = def->disks[i].source_path ? xstrdup(def->disks[i].source_path) : NULL;
            domain_def_remove_disk(def, i);
            /* its node leaves the VM's private /dev, unless another disk still uses it */
            bool used = false;
            for (size_t k = 0; path && k < def->ndisks; k++)
                used |= def->disks[k].source_path && !strcmp(def->disks[k].source_path, path);
            if (path && !used)
                vd_vmm_release_path(dom->vmm, path);
            free(path);
            removed = true;
        }
        free(al);
        if (removed)
            break;
    }
    for (size_t i = 0; id && dom->vmm && !removed && i < def->nnets; i++) {
        /* The others keep the ids they have in the VMM. */
        for (size_t k = 0; k < def->nnets; k++)
            if (!def->nets[k].alias)
                def->nets[k].alias = xasprintf("net%zu", k);
        if (strcmp(def->nets[i].alias, id) == 0) {
            char *netdev = xasprintf("host%s", id);
            send_cmd(dom->vmm, "netdev_del", "id", netdev);
            free(netdev);
            vd_net_release_one(dom->daemon, def, &def->nets[i]); /* its OVS port, floor */
            domain_def_remove_net(def, i);
            removed = true;
        }
    }
    if (id && dom->vmm && !removed)
        removed = memory_deleted(dom, id);
    if (removed) {
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_device_removed(dom->daemon, dom, id);
    }
    struct hp_wait *w = dom->hotplug;
    if (w && id && strcmp(w->alias, id) == 0) {
        if (w->job) {
            wait_end(dom, true);
        } else {
            loop_timer_free(w->timer); /* del_sent will see no timer */
            w->timer = NULL;
        }
    }
    json_object_put(o);
}

/* The config half of a detach: the persistent definition without the device, or NULL. */
static struct domain_def *detach_config(struct vd_job *job, const struct domain_def *upd)
{
    struct domain_def *def = domain_def_copy(vd_domain_config(job->dom));
    if (upd->ndisks) {
        struct domain_disk *d = find_disk(def, upd->disks[0].target_dev);
        if (!d) {
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING, "device not found: no target device %s",
                        upd->disks[0].target_dev);
            domain_def_free(def);
            return NULL;
        }
        domain_def_remove_disk(def, (size_t)(d - def->disks));
    } else {
        struct domain_net *n = find_net(def, upd->nets[0].mac);
        if (!n) {
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING,
                        "device not found: no device matching MAC address %s found",
                        upd->nets[0].mac);
            domain_def_free(def);
            return NULL;
        }
        domain_def_remove_net(def, (size_t)(n - def->nets));
    }
    return def;
}

static bool busy(struct vd_job *job)
{
    if (!job->dom->hotplug)
        return false;
    vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                "operation failed: unplug of device was rejected by the guest: another removal "
                "(%s) is still pending",
                ((struct hp_wait *)job->dom->hotplug)->alias);
    return true;
}

void vd_domain_job_detach_device(struct vd_job *job)
{
    bool live, config;
    if (check_flags(job, "qemuDomainDetachDeviceFlags", &live, &config) < 0)
        return;
    const char *x = job->text ? job->text : "";
    x += strspn(x, " \t\r\n");
    if (strncmp(x, "<memory", 7) == 0 && strchr(" \t\r\n>/", x[7])) {
        detach_memory(job, live, config);
        return;
    }
    struct domain_def *upd = parse_device(job, live ? "detach" : "persistent detach");
    if (!upd)
        return;
    struct domain_def *newconf = NULL;
    if (config && !(newconf = detach_config(job, upd))) {
        domain_def_free(upd);
        return;
    }
    if (!live) {
        domain_def_free(upd);
        commit_or_done(job, newconf);
        return;
    }
    struct domain_def *def = job->dom->def;
    char *alias = NULL;
    if (upd->ndisks) {
        struct domain_disk *d = find_disk(def, upd->disks[0].target_dev);
        if (!d)
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING, "device not found: disk %s not found",
                        upd->disks[0].target_dev);
        else if (!hotplug_bus(d))
            vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                        "Operation not supported: This type of disk cannot be hot unplugged");
        else
            alias = disk_alias(def, d);
    } else {
        struct domain_net *n = find_net(def, upd->nets[0].mac);
        if (!n)
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING,
                        "device not found: no device matching MAC address %s found",
                        upd->nets[0].mac);
        else
            alias = net_alias(def, n);
    }
    domain_def_free(upd);
    if (!alias || busy(job)) {
        domain_def_free(newconf);
        free(alias);
        return;
    }
    detach_live(job, alias, newconf, true);
    free(alias);
}

/* virDomainDetachDeviceAlias: the live device of that id (device_del, not waited for), and
 * in the persistent definition the device with that user alias (ua-...). */
void vd_domain_job_detach_alias(struct vd_job *job)
{
    bool live, config;
    if (check_flags(job, "qemuDomainDetachDeviceAlias", &live, &config) < 0)
        return;
    const char *alias = job->text ? job->text : "";
    struct domain_def *newconf = NULL;
    if (config) {
        newconf = domain_def_copy(vd_domain_config(job->dom));
        bool found = false;
        for (size_t i = 0; !found && i < newconf->ndisks; i++)
            if (newconf->disks[i].alias && strcmp(newconf->disks[i].alias, alias) == 0) {
                domain_def_remove_disk(newconf, i);
                found = true;
            }
        for (size_t i = 0; !found && i < newconf->nnets; i++)
            if (newconf->nets[i].alias && strcmp(newconf->nets[i].alias, alias) == 0) {
                domain_def_remove_net(newconf, i);
                found = true;
            }
        if (!found) {
            domain_def_free(newconf);
            vd_job_fail(job, VIR_ERR_DEVICE_MISSING,
                        "device not found: no device found with alias %s", alias);
            return;
        }
    }
    if (!live) {
        commit_or_done(job, newconf);
        return;
    }
    struct domain_def *def = job->dom->def;
    bool found = false;
    for (size_t i = 0; !found && i < def->ndisks; i++) {
        char *al = disk_alias(def, &def->disks[i]);
        found = hotplug_bus(&def->disks[i]) && strcmp(al, alias) == 0;
        free(al);
    }
    for (size_t i = 0; !found && i < def->nnets; i++) {
        char *al = net_alias(def, &def->nets[i]);
        found = strcmp(al, alias) == 0;
        free(al);
    }
    if (!found) {
        domain_def_free(newconf);
        vd_job_fail(job, VIR_ERR_DEVICE_MISSING, "device not found: no device found with alias %s",
                    alias);
        return;
    }
    if (busy(job)) {
        domain_def_free(newconf);
        return;
    }
    detach_live(job, alias, newconf, false);
}

void vd_hotplug_free(struct vd_domain *dom)
{
    struct hp_wait *w = dom->hotplug;
    if (!w)
        return;
    dom->hotplug = NULL;
    loop_timer_free(w->timer);
    domain_def_free(w->config);
    free(w->alias);
    free(w);
}
