/*
 * domain-agent.c - a domain's virtio-serial channels and its guest agent: the socket paths
 * the daemon gives unix channels, the guest side's state from VSERPORT_CHANGE, and the
 * connection to the org.qemu.guest_agent.0 channel (agent.h) that the agent procedures
 * (rpc-agent.c, rpc-qemu.c, lifecycle.c's --mode agent) send their commands through.
 *
 * As libvirt with QEMU: vireo-vmm listens on each channel's socket (server=on,wait=off) and
 * the daemon connects to the agent's once the VMM runs; whether an agent answers there is
 * the guest's business, told by VSERPORT_CHANGE when the guest opens or closes its end. A
 * command is only sent while the guest's end is open; on a close the connection is renewed,
 * so a command waiting for a guest that went away ends instead of waiting forever.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/agent.h"
#include "daemon/domain.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define AGENT_NAME "org.qemu.guest_agent.0"

/* libvirt's VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_* */
enum { AGENT_CONNECTED = 1, AGENT_DISCONNECTED = 2 };
enum { AGENT_REASON_STARTED = 1, AGENT_REASON_CHANNEL = 2 };

static bool is_virtio_unix_channel(const struct xnode *n)
{
    const char *type = xnode_attr(n, "type");
    const char *tt = xnode_attr(xnode_child(n, "target"), "type");
    return strcmp(n->name, "channel") == 0 && type && strcmp(type, "unix") == 0 && tt &&
           strcmp(tt, "virtio") == 0;
}

/* The agent's channel in def, or NULL; *nth its index among the channels (channelN). */
static struct xnode *agent_channel(const struct domain_def *def, size_t *nth)
{
    size_t k = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "channel") != 0)
            continue;
        const char *name = xnode_attr(xnode_child(n, "target"), "name");
        if (is_virtio_unix_channel(n) && name && strcmp(name, AGENT_NAME) == 0) {
            if (nth)
                *nth = k;
            return n;
        }
        k++;
    }
    return NULL;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return -e;
        }
        *s = '/';
    }
    int r = mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
    free(p);
    return r;
}

static void set_state(struct xnode *ch, bool open)
{
    xnode_set_attr(xnode_ensure_child(ch, "target", false), "state",
                   open ? "connected" : "disconnected");
}

int vd_domain_channels_prepare(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        if (!is_virtio_unix_channel(n))
            continue;
        struct xnode *src = xnode_ensure_child(n, "source", false);
        if (!xnode_attr(src, "mode"))
            xnode_set_attr(src, "mode", "bind");
        const char *name = xnode_attr(xnode_child(n, "target"), "name");
        set_state(n, false); /* until the guest opens its end */
        if (xnode_attr(src, "path"))
            continue;
        if (!name) /* libvirt needs a name to make a path up */
            return verr_set(err, EINVAL,
                            "unsupported configuration: a virtio channel without a source path "
                            "needs a target name");
        /* the id the domain is about to get (start_done takes d->next_id) */
        char *dir =
            xasprintf("%s/channel/target/domain-%d-%s", d->run_dir, d->next_id, dom->def->name);
        int r = mkdir_p(dir, 0750);
        if (r < 0) {
            r = verr_errno(err, -r, "cannot create the channel directory '%s'", dir);
            free(dir);
            return r;
        }
        char *path = xasprintf("%s/%s", dir, name);
        free(dir);
        if (strlen(path) >= 108) {
            r = verr_set(err, ENAMETOOLONG,
                         "unsupported configuration: channel socket path '%s' is too long for a "
                         "unix socket",
                         path);
            free(path);
            return r;
        }
        xnode_set_attr(src, "path", path);
        xnode_order_attrs(src, (const char *const[]){"mode", "path", NULL});
        free(path);
    }
    return 0;
}

void vd_domain_agent_attach(struct vd_domain *dom)
{
    struct xnode *ch = agent_channel(dom->def, NULL);
    if (!ch || dom->agent)
        return;
    /* a start made it disconnected; a daemon that restarted finds what the guest last said */
    const char *state = xnode_attr(xnode_child(ch, "target"), "state");
    dom->agent_connected = state && strcmp(state, "connected") == 0;
    const char *path = xnode_attr(xnode_child(ch, "source"), "path");
    struct verr err = {0};
    if (!path || vd_agent_open(dom->daemon->loop, path, &dom->agent, &err) < 0)
        log_warn("domain '%s': no guest agent connection: %s", dom->def->name,
                 path ? verr_msg(&err) : "no path");
}

/* The sockets and directories the daemon made for channels (under RUN/channel/target/), as
 * libvirt removes its own when the domain stops. */
void vd_domain_channels_cleanup(struct vd_domain *dom)
{
    char *prefix = xasprintf("%s/channel/target/", dom->daemon->run_dir);
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        const char *path =
            is_virtio_unix_channel(n) ? xnode_attr(xnode_child(n, "source"), "path") : NULL;
        if (!path || strncmp(path, prefix, strlen(prefix)) != 0)
            continue;
        unlink(path);
        char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash > dir + strlen(prefix)) {
            *slash = '\0';
            rmdir(dir); /* fails while another channel's socket is still there: fine */
        }
        free(dir);
    }
    free(prefix);
}

void vd_domain_agent_detach(struct vd_domain *dom)
{
    struct vd_agent *a = dom->agent;
    dom->agent = NULL;
    bool was = dom->agent_connected;
    dom->agent_connected = false;
    vd_agent_close(a);
    if (was)
        vd_emit_agent_lifecycle(dom->daemon, dom, AGENT_DISCONNECTED, AGENT_REASON_CHANNEL);
}

void vd_domain_channel_event(struct vd_domain *dom, const char *data)
{
    struct json_object *o = data ? json_tokener_parse(data) : NULL, *id = NULL, *open = NULL;
    if (!o || !json_object_object_get_ex(o, "id", &id) ||
        !json_object_object_get_ex(o, "open", &open)) {
        json_object_put(o);
        return;
    }
    const char *alias = json_object_get_string(id);
    bool is_open = json_object_get_boolean(open);
    size_t k = 0, agent_nth = (size_t)-1;
    agent_channel(dom->def, &agent_nth);
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        if (strcmp(n->name, "channel") != 0)
            continue;
        char mine[32];
        snprintf(mine, sizeof(mine), "channel%zu", k);
        if (strcmp(mine, alias) == 0) {
            set_state(n, is_open);
            if (k == agent_nth && is_open != dom->agent_connected) {
                dom->agent_connected = is_open;
                if (!is_open && dom->agent) {
                    /* the guest went away: pending commands end, and a fresh connection
                     * waits for it (its old bytes die with the old one) */
                    struct vd_agent *a = dom->agent;
                    dom->agent = NULL;
                    vd_agent_close(a);
                    struct xnode *ch = agent_channel(dom->def, NULL);
                    struct verr err = {0};
                    if (vd_agent_open(dom->daemon->loop,
                                      xnode_attr(xnode_child(ch, "source"), "path"), &dom->agent,
                                      &err) < 0)
                        log_warn("domain '%s': guest agent: %s", dom->def->name, verr_msg(&err));
                }
                vd_emit_agent_lifecycle(dom->daemon, dom,
                                        is_open ? AGENT_CONNECTED : AGENT_DISCONNECTED,
                                        AGENT_REASON_CHANNEL);
            }
            vd_domain_save_status(dom->daemon, dom);
            break;
        }
        k++;
    }
    json_object_put(o);
}

int vd_domain_agent_available(struct vd_domain *dom, int *code, struct verr *err)
{
    if (!vd_domain_is_active(dom) || dom->state != VIR_DOMAIN_RUNNING) {
        *code = VIR_ERR_OPERATION_INVALID;
        return verr_set(err, EINVAL, "Requested operation is not valid: domain is not running");
    }
    if (!agent_channel(dom->def, NULL)) {
        *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
        return verr_set(err, ENOTSUP, "argument unsupported: QEMU guest agent is not configured");
    }
    if (!dom->agent || !vd_agent_alive(dom->agent) || !dom->agent_connected) {
        *code = VIR_ERR_AGENT_UNRESPONSIVE;
        return verr_set(err, EAGAIN,
                        "Guest agent is not responding: QEMU guest agent is not connected");
    }
    return 0;
}
