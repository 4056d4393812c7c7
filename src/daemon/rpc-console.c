/*
 * rpc-console.c - virDomainOpenConsole: the guest's console (COM1, or the
 * virtio console that replaces it) as a stream in both directions, one
 * client at a time per domain (--force takes it over).
 *
 * Output reaches the stream through the daemon's sink (vd_console_output);
 * the client's keystrokes come as STREAM messages (vd_console_stream) and
 * go to the guest through the domain layer.
 */
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/vmm-argv.h"
#include "util/buf.h"
#include "util/error.h"

static struct vd_client *console_holder(struct vd_daemon *d, const unsigned char *uuid)
{
    for (struct vd_client *c = d->clients; c; c = c->next)
        if (c->console_serial && memcmp(c->console_uuid, uuid, 16) == 0)
            return c;
    return NULL;
}

/* Ends c's console stream from the server side (domain stopped, or another
 * client took the console with --force). */
static void console_finish(struct vd_client *c)
{
    struct buf out = BUF_INIT;
    struct verr err = {0};
    rpc_stream_encode(&out, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, c->console_serial, RPC_OK, NULL, 0,
                      &err);
    c->console_serial = 0;
    vd_client_send(c, &out);
    buf_free(&out);
}

static int open_console(struct vd_call *c)
{
    const struct remote_domain_open_console_args *a = c->args;
    struct vd_domain *dom = c->dom;
    struct vd_client *cl = c->client;
    if (vd_call_need_running(c, dom, false) < 0)
        return -1;
    if (!vd_domain_has_console(dom))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: the console is not connected");
    /* libvirt's aliases: serial0 and its twin console0, or console0 alone when the console
     * is the virtio one (the guest then has no serial port) */
    bool virtio = vmm_argv_virtio_console(dom->def) != NULL;
    if (a->dev_name && *a->dev_name && (virtio || strcmp(a->dev_name, "serial0") != 0) &&
        strcmp(a->dev_name, "console0") != 0)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: cannot find character device %s", a->dev_name);
    struct vd_client *holder = console_holder(c->d, dom->def->uuid);
    if (holder && holder != cl) {
        if (!(a->flags & VIR_DOMAIN_CONSOLE_FORCE))
            return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                                "operation failed: Active console session exists for this domain");
        console_finish(holder);
    }
    if (cl->console_serial)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                            "operation failed: this connection already has a console open");
    cl->console_serial = c->h->serial;
    memcpy(cl->console_uuid, dom->def->uuid, 16);
    return 0;
}

void vd_console_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                       struct buf *out)
{
    struct vd_client *c = ctx;
    struct verr err = {0};
    if (vd_screenshot_stream(ctx, h, out) || vd_storage_stream(ctx, h, payload, len, out))
        return;
    if (h->proc != REMOTE_PROC_DOMAIN_OPEN_CONSOLE || h->serial != c->console_serial)
        return;
    if (h->type == RPC_STREAM && h->status == RPC_CONTINUE) {
        struct vd_domain *dom = vd_domain_find_uuid(c->d, c->console_uuid);
        if (dom && len)
            vd_domain_console_write(dom, payload, len);
    } else {
        rpc_stream_encode(out, h->proc, h->serial, RPC_OK, NULL, 0, &err);
        c->console_serial = 0;
    }
}

void vd_console_output(void *ctx, struct vd_domain *dom, const void *data, size_t len)
{
    struct vd_client *c = console_holder(ctx, dom->def->uuid);
    if (!c)
        return;
    if (!len) {
        console_finish(c);
        return;
    }
    struct buf out = BUF_INIT;
    struct verr err = {0};
    rpc_stream_encode(&out, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, c->console_serial, RPC_CONTINUE, data,
                      len, &err);
    vd_client_send(c, &out);
    buf_free(&out);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_OPEN_CONSOLE, open_console},
};
VD_PROC_TABLE(vd_console_procs, procs);
