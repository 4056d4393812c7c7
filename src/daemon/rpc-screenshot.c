/*
 * rpc-screenshot.c - virDomainScreenshot: the guest's screen as a PPM image
 * sent down a stream, as libvirt's QEMU driver does it.
 *
 * The call asks vireo-vmm for a QMP screendump into a file of the run
 * directory and is answered when the dump is written: the reply names the
 * MIME type, the image follows as STREAM data and an empty STREAM CONTINUE
 * marks its end; the client's finish (STREAM OK) gets a STREAM OK back
 * (vd_screenshot_stream). The file is removed once read. An error before
 * the reply is the call's error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/vmm-driver.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

#define SCREENSHOT_MAX   (64u << 20) /* a 16 MiB VGA at 32 bpp shown as RGB is less */
#define STREAM_CHUNK_MAX 65536u

struct shot {
    struct vd_client *client;
    struct rpc_header call;
    char *path;
};

static void shot_fail(struct shot *s, int code, const char *msg)
{
    struct buf out = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = s->call;
    h.type = RPC_REPLY;
    struct rpc_error re = {0};
    rpc_error_set(&re, code, VIR_FROM_QEMU, "%s", msg);
    rpc_msg_encode_error(&out, &h, &re, &err);
    rpc_error_free(&re);
    vd_client_send(s->client, &out);
    buf_free(&out);
}

static void shot_done(void *opaque, int r, const char *error)
{
    struct shot *s = opaque;
    struct buf img = BUF_INIT, out = BUF_INIT;
    struct verr err = {0};
    if (r == 0)
        r = file_read_all(s->path, SCREENSHOT_MAX, &img, &err);
    unlink(s->path);
    if (r < 0) {
        shot_fail(s, VIR_ERR_OPERATION_FAILED, error ? error : verr_msg(&err));
    } else {
        const struct remote_proc *p = remote_proc_lookup(REMOTE_PROC_DOMAIN_SCREENSHOT);
        struct remote_domain_screenshot_ret ret = {.mime = (char *)"image/x-portable-pixmap"};
        struct rpc_header h = s->call;
        h.type = RPC_REPLY;
        h.status = RPC_OK;
        r = rpc_msg_encode(&out, &h, p->ret, &ret, &err);
        for (size_t off = 0; r == 0 && off < img.len; off += STREAM_CHUNK_MAX) {
            size_t n = img.len - off < STREAM_CHUNK_MAX ? img.len - off : STREAM_CHUNK_MAX;
            r = rpc_stream_encode(&out, h.proc, h.serial, RPC_CONTINUE, img.data + off, n, &err);
        }
        if (r == 0) /* the end of the data: an empty CONTINUE */
            r = rpc_stream_encode(&out, h.proc, h.serial, RPC_CONTINUE, NULL, 0, &err);
        if (r < 0)
            log_warn("screenshot: %s", verr_msg(&err));
        else
            vd_client_send(s->client, &out);
    }
    buf_free(&out);
    buf_free(&img);
    vd_client_unref(s->client);
    free(s->path);
    free(s);
}

static int screenshot(struct vd_call *c)
{
    const struct remote_domain_screenshot_args *a = c->args;
    struct vd_domain *dom = c->dom;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainScreenshot") < 0)
        return -1;
    if (vd_call_need_running(c, dom, true) < 0)
        return -1;
    bool video = false;
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        const struct xnode *n = dom->def->devices[i].node;
        const char *t =
            strcmp(n->name, "video") == 0 ? xnode_attr(xnode_child(n, "model"), "type") : NULL;
        video |= t && strcmp(t, "none") != 0;
    }
    if (!video) /* libvirt's words */
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                            "operation failed: no screens to take screenshot from");
    if (a->screen != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: no screen with ID %u (the domain has one)",
                            a->screen);
    struct shot *s = xcalloc(1, sizeof(*s));
    s->client = c->client;
    s->call = *c->h;
    s->path = xasprintf("%s/%s.screen-%d-%u.ppm", c->d->run_dir, dom->def->name, c->client->fd,
                        c->h->serial);
    vd_client_ref(c->client);
    struct verr err = {0};
    if (vd_vmm_screendump(dom->vmm, s->path, shot_done, s, &err) < 0) {
        vd_client_unref(c->client);
        free(s->path);
        free(s);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

bool vd_screenshot_stream(void *ctx, const struct rpc_header *h, struct buf *out)
{
    (void)ctx;
    if (h->proc != REMOTE_PROC_DOMAIN_SCREENSHOT)
        return false;
    struct verr err = {0};
    if (h->status != RPC_CONTINUE) /* the client's finish or abort: confirmed */
        rpc_stream_encode(out, h->proc, h->serial, RPC_OK, NULL, 0, &err);
    return true;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_SCREENSHOT, screenshot},
};
VD_PROC_TABLE(vd_screenshot_procs, procs);
