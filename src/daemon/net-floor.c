/*
 * net-floor.c - a network's <bandwidth> and its interfaces' QoS floors on
 * the bridge (see net-floor.h), with libvirt's tc commands and numbers.
 *
 * The network's inbound (traffic the host sends into the network through
 * the bridge: the bridge's egress) is an htb root "1: default 2", class 1:1
 * at average (ceil peak) holding class 1:2 for unclassified traffic, sfq
 * under 1:2 and an fw filter, as libvirt's hierarchical set-up. Each
 * interface with a floor gets class 1:ID (ID the lowest free from 3, hex in
 * tc's ids) under 1:1 at rate=floor ceil=the network's peak (else average),
 * sfq ID: under it, and a u32 filter of prio 2, handle 800::(800+ID), on the
 * IPv4 frames to its MAC; class 1:2 is then changed to the network's peak
 * (else average) less the floors' sum. A plug whose floor would take the sum
 * above that is refused with libvirt's words, before anything is changed.
 * sfq and the fw filter are best effort, as sfq is for taps (a kernel
 * without sch_sfq keeps htb's leaves, the rates hold; see the fw filter).
 *
 * The plugs of a running network are kept in the run directory (NAME.floors:
 * "ID FLOOR VM-UUID MAC" lines, replaced atomically), so a restarted vireod
 * knows the classes it made and the sum.
 */
#include "daemon/net-floor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/network.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

const struct xnode *vd_net_floor_network_bandwidth(const struct network_def *def)
{
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "bandwidth") == 0)
            return def->extra[i];
    return NULL;
}

/* A number attribute: 0 when absent, -1 when not a positive 32-bit integer. */
static long long num(const struct xnode *x, const char *name)
{
    const char *s = x ? xnode_attr(x, name) : NULL;
    if (!s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || v <= 0 || v > 0xffffffffLL ? -1 : v;
}

/* Runs "tc" with the words of the formatted line. */
static int tc(struct verr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tc(struct verr *err, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *argv[48];
    int n = 0;
    argv[n++] = "tc";
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 47;
         t = strtok_r(NULL, " ", &save))
        argv[n++] = t;
    argv[n] = NULL;
    return vd_net_run_tool(argv, NULL, err);
}

/* htb's quantum as libvirt sizes it: the rate (KiB/s) over an r2q of one 1500-byte MTU. */
static unsigned long long quantum(long long average)
{
    unsigned long long q = (unsigned long long)(average > 0 ? average : 0) * 1024 / 8 / 1500;
    return q ? q : 1;
}

int vd_net_floor_check_network(const struct network_def *def, struct verr *err)
{
    const struct xnode *bw = vd_net_floor_network_bandwidth(def);
    if (!bw)
        return 0;
    if (def->forward == NETWORK_FORWARD_BRIDGE)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: Unsupported network-wide <bandwidth> element "
                        "in network %s with forward mode='bridge'",
                        def->name);
    for (size_t i = 0; i < bw->nkids; i++) {
        const struct xnode *x = bw->kids[i];
        if (!x->name)
            continue;
        if (strcmp(x->name, "inbound") && strcmp(x->name, "outbound"))
            return verr_set(err, EINVAL, "XML error: unknown <bandwidth><%s> in network '%s'",
                            x->name, def->name);
        if (xnode_attr(x, "floor"))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: floor attribute is not supported for "
                            "this config (network '%s')",
                            def->name);
        if (num(x, "average") <= 0 || num(x, "peak") < 0 || num(x, "burst") < 0)
            return verr_set(err, EINVAL,
                            "XML error: Missing mandatory average or floor attributes, or one "
                            "not a positive integer, in <bandwidth><%s> of network '%s'",
                            x->name, def->name);
    }
    return 0;
}

int vd_net_floor_network_start(const struct network_def *def, struct verr *err)
{
    const struct xnode *bw = vd_net_floor_network_bandwidth(def);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    const struct xnode *out = bw ? xnode_child(bw, "outbound") : NULL;
    const char *br = def->bridge;
    int r = 0;
    if (in) {
        long long avg = num(in, "average"), peak = num(in, "peak"), burst = num(in, "burst");
        char bur[32] = "";
        if (burst)
            snprintf(bur, sizeof(bur), " burst %lldkb", burst);
        if ((r = tc(err, "qdisc add dev %s root handle 1: htb default 2", br)) < 0 ||
            (r = tc(err,
                    "class add dev %s parent 1: classid 1:1 htb rate %lldkbps ceil %lldkbps%s "
                    "quantum %llu",
                    br, avg, peak ? peak : avg, bur, quantum(avg))) < 0 ||
            (r = tc(err,
                    "class add dev %s parent 1:1 classid 1:2 htb rate %lldkbps ceil "
                    "%lldkbps%s quantum %llu",
                    br, avg, peak ? peak : avg, bur, quantum(avg))) < 0)
            return verr_prefix(err, "cannot set the bandwidth of network '%s'", def->name);
        struct verr e = {0};
        if (tc(&e, "qdisc add dev %s parent 1:2 handle 2: sfq perturb 10", br) < 0)
            log_warn("%s: no sfq under class 1:2: %s", br, verr_msg(&e));
        /* libvirt's fw filter sends fwmark 1 to class 1:1; no packet here carries that mark,
         * so a kernel without cls_fw loses nothing by its absence */
        if (tc(&e, "filter add dev %s parent 1:0 protocol all prio 1 handle 1 fw flowid 1", br) < 0)
            log_warn("%s: no fw filter: %s", br, verr_msg(&e));
    }
    if (out) {
        long long avg = num(out, "average"), burst = num(out, "burst");
        if ((r = tc(err, "qdisc add dev %s ingress", br)) < 0 ||
            (r = tc(err,
                    "filter add dev %s parent ffff: protocol all u32 match u32 0 0 police rate "
                    "%lldkbps burst %lldkb mtu 64kb drop flowid :1",
                    br, avg, burst ? burst : avg)) < 0)
            return verr_prefix(err, "cannot set the bandwidth of network '%s'", def->name);
    }
    return 0;
}

static int floors_save(struct vd_daemon *d, const struct vd_network *n, struct verr *err)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n->nplugs; i++)
        buf_printf(&b, "%u %llu %s %s\n", n->plugs[i].class_id, n->plugs[i].floor, n->plugs[i].vm,
                   n->plugs[i].mac);
    return vd_network_run_save(d, n, "floors", &b, err);
}

void vd_net_floor_load(struct vd_daemon *d, struct vd_network *n)
{
    char *text = vd_network_run_read(d, n, "floors");
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        struct vd_network_plug p = {0};
        if (sscanf(l, "%u %llu %36s %17s", &p.class_id, &p.floor, p.vm, p.mac) != 4 ||
            p.class_id < 3 || p.class_id > 0xffff)
            continue;
        n->plugs = xreallocarray(n->plugs, n->nplugs + 1, sizeof(*n->plugs));
        n->plugs[n->nplugs++] = p;
    }
    free(text);
}

void vd_net_floor_forget(struct vd_daemon *d, struct vd_network *n)
{
    free(n->plugs);
    n->plugs = NULL;
    n->nplugs = 0;
    vd_network_run_remove(d, n, "floors");
}

static unsigned long long floor_sum(const struct vd_network *n)
{
    unsigned long long s = 0;
    for (size_t i = 0; i < n->nplugs; i++)
        s += n->plugs[i].floor;
    return s;
}

/* Class 1:2 (unclassified traffic) gets the network's peak (else average) less the floors. */
static int update_unclassified(const struct vd_network *n, const struct xnode *in, struct verr *err)
{
    long long avg = num(in, "average"), peak = num(in, "peak");
    unsigned long long limit = (unsigned long long)(peak ? peak : avg), sum = floor_sum(n);
    return tc(err, "class change dev %s classid 1:2 htb rate %llukbps ceil %llukbps quantum %llu",
              n->def->bridge, limit > sum ? limit - sum : 0, limit, quantum(avg));
}

/* libvirt's refusal when the floors' sum would pass the network's peak (else its average). */
static int overcommit(const struct vd_network *n, const struct xnode *in, const char *mac,
                      unsigned long long sum, struct verr *err)
{
    long long avg = num(in, "average"), peak = num(in, "peak");
    if (peak && sum > (unsigned long long)peak)
        return verr_set(err, EPERM,
                        "Requested operation is not valid: Cannot plug '%s' interface into '%s' "
                        "because new combined inbound floor=%llu would overcommit peak=%lld on "
                        "network '%s'",
                        mac, n->def->bridge, sum, peak, n->def->name);
    if (!peak && sum > (unsigned long long)avg)
        return verr_set(err, EPERM,
                        "Requested operation is not valid: Cannot plug '%s' interface into '%s' "
                        "because new combined inbound floor=%llu would overcommit average=%lld "
                        "on network '%s'",
                        mac, n->def->bridge, sum, avg, n->def->name);
    return 0;
}

int vd_net_floor_plug(struct vd_daemon *d, struct vd_network *n, const char *vm_uuid,
                      const char *mac, unsigned long long floor, unsigned long long average,
                      struct verr *err)
{
    const struct xnode *bw = vd_net_floor_network_bandwidth(n->def);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    if (!in)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: Invalid use of 'floor' on interface with MAC "
                        "address %s - network '%s' has no inbound QoS set",
                        mac, n->def->name);
    unsigned m[6];
    if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        return verr_set(err, EINVAL, "invalid MAC address '%s'", mac);
    long long avg = num(in, "average"), peak = num(in, "peak");
    int r = overcommit(n, in, mac, floor_sum(n) + floor, err);
    if (r < 0)
        return r;
    unsigned id = 3;
    for (bool taken = true; taken; id += taken) {
        taken = false;
        for (size_t i = 0; i < n->nplugs; i++)
            taken |= n->plugs[i].class_id == id;
    }
    const char *br = n->def->bridge;
    r = tc(err,
           "class add dev %s parent 1:1 classid 1:%x htb rate %llukbps ceil %lldkbps quantum %llu",
           br, id, floor, peak ? peak : avg, quantum((long long)average));
    if (r < 0)
        return verr_prefix(err, "cannot set the floor of interface %s", mac);
    struct verr e = {0};
    if (tc(&e, "qdisc add dev %s parent 1:%x handle %x: sfq perturb 10", br, id, id) < 0)
        log_debug("%s: no sfq under class 1:%x: %s", br, id, verr_msg(&e));
    r = tc(err,
           "filter add dev %s protocol ip prio 2 handle 800::%u u32 match u16 0x0800 0xffff at -2 "
           "match u32 0x%02x%02x%02x%02x 0xffffffff at -12 match u16 0x%02x%02x 0xffff at -14 "
           "flowid 1:%x",
           br, 800 + id, m[2], m[3], m[4], m[5], m[0], m[1], id);
    struct vd_network_plug p = {.class_id = id, .floor = floor};
    snprintf(p.vm, sizeof(p.vm), "%s", vm_uuid);
    snprintf(p.mac, sizeof(p.mac), "%s", mac);
    n->plugs = xreallocarray(n->plugs, n->nplugs + 1, sizeof(*n->plugs));
    n->plugs[n->nplugs++] = p;
    if (r == 0)
        r = update_unclassified(n, in, err);
    if (r == 0)
        r = floors_save(d, n, err);
    if (r < 0) {
        struct verr keep = *err;
        vd_net_floor_unplug(d, n->def->name, vm_uuid, mac);
        *err = keep;
        return verr_prefix(err, "cannot set the floor of interface %s", mac);
    }
    return 0;
}

void vd_net_floor_unplug(struct vd_daemon *d, const char *network, const char *vm_uuid,
                         const char *mac)
{
    struct vd_network *n = vd_network_find_name(d, network);
    if (!n || !n->active)
        return;
    size_t i = 0;
    while (i < n->nplugs && (strcmp(n->plugs[i].vm, vm_uuid) || strcasecmp(n->plugs[i].mac, mac)))
        i++;
    if (i == n->nplugs)
        return;
    unsigned id = n->plugs[i].class_id;
    memmove(n->plugs + i, n->plugs + i + 1, (n->nplugs - i - 1) * sizeof(*n->plugs));
    n->nplugs--;
    const char *br = n->def->bridge;
    struct verr e = {0};
    tc(&e, "qdisc del dev %s handle %x:", br, id); /* none without sfq: no error */
    if (tc(&e, "filter del dev %s prio 2 handle 800::%u u32", br, 800 + id) < 0 ||
        tc(&e, "class del dev %s classid 1:%x", br, id) < 0)
        log_warn("network '%s': removing the class of interface %s: %s", network, mac,
                 verr_msg(&e));
    const struct xnode *bw = vd_net_floor_network_bandwidth(n->def);
    if (bw && xnode_child(bw, "inbound") &&
        update_unclassified(n, xnode_child(bw, "inbound"), &e) < 0)
        log_warn("network '%s': %s", network, verr_msg(&e));
    if (floors_save(d, n, &e) < 0)
        log_warn("network '%s': %s", network, verr_msg(&e));
}

int vd_net_floor_update(struct vd_daemon *d, struct vd_network *n, const char *vm_uuid,
                        const char *mac, unsigned long long floor, unsigned long long average,
                        struct verr *err)
{
    size_t i = 0;
    while (i < n->nplugs && (strcmp(n->plugs[i].vm, vm_uuid) || strcasecmp(n->plugs[i].mac, mac)))
        i++;
    if (i == n->nplugs)
        return floor ? vd_net_floor_plug(d, n, vm_uuid, mac, floor, average, err) : 0;
    if (!floor) {
        vd_net_floor_unplug(d, n->def->name, vm_uuid, mac);
        return 0;
    }
    /* in place, as libvirt's networkUpdatePortBandwidth: the class keeps its id */
    const struct xnode *bw = vd_net_floor_network_bandwidth(n->def);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    if (!in) /* a plug exists only on a network with an inbound */
        return verr_set(err, EPROTO, "internal error: network '%s' has no inbound QoS set",
                        n->def->name);
    unsigned long long old = n->plugs[i].floor;
    int r = overcommit(n, in, mac, floor_sum(n) - old + floor, err);
    if (r < 0)
        return r;
    long long avg = num(in, "average"), peak = num(in, "peak");
    unsigned id = n->plugs[i].class_id;
    r = tc(err,
           "class change dev %s parent 1:1 classid 1:%x htb rate %llukbps ceil %lldkbps quantum "
           "%llu",
           n->def->bridge, id, floor, peak ? peak : avg, quantum((long long)average));
    if (r == 0) {
        n->plugs[i].floor = floor;
        if ((r = update_unclassified(n, in, err)) == 0)
            r = floors_save(d, n, err);
        if (r < 0) { /* back to the old rate; what fails here failed above too: logged */
            n->plugs[i].floor = old;
            struct verr e = {0};
            if (tc(&e,
                   "class change dev %s parent 1:1 classid 1:%x htb rate %llukbps ceil "
                   "%lldkbps quantum %llu",
                   n->def->bridge, id, old, peak ? peak : avg, quantum((long long)average)) < 0 ||
                update_unclassified(n, in, &e) < 0)
                log_warn("network '%s': %s", n->def->name, verr_msg(&e));
        }
    }
    return r < 0 ? verr_prefix(err, "cannot change the floor of interface %s", mac) : 0;
}
