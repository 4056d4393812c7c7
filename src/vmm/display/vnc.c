/*
 * vnc.c - the VNC server: listeners, clients, the RFB handshake and
 * security, input, and framebuffer updates (see vnc.h for why it is written
 * here). Everything runs on the loop thread.
 *
 * Updates: each client keeps a map of 16x16 tiles that changed since it was
 * last sent them (the display reports changes to every client as a
 * listener), and at most one pending copy. A refresh timer (30 Hz while a
 * client is connected) asks the display to catch up with the guest; a client
 * that asked for an update and has little output queued gets one message
 * with its pseudo-encodings, the copy, and its changed tiles merged into
 * rectangles. A client that reads slowly thus gets fewer, larger updates;
 * its queue never grows past one update.
 */
#include "vmm/display/vnc.h"
#include "vmm/authz.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/sock.h"
#include "util/str.h"
#include "vmm/display/display.h"
#include "vmm/display/keymap.h"
#include "vmm/display/rfb.h"
#include "vmm/display/vnc-auth.h"
#include "tls/tls-server.h"
#include "vmm/display/vnc-enc.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define VNC_PORT_BASE     5900
#define MAX_LISTENERS     4
#define MAX_CLIENTS       16
#define OUT_HIGH          (1u << 20) /* no new update while more than this is queued */
#define OUT_MAX           (64u << 20)
#define REFRESH_NS        33000000ull
#define SEC_NONE          1
#define SEC_VNC_AUTH      2
#define SEC_VENCRYPT      19
#define VENCRYPT_X509NONE 260
#define VENCRYPT_X509VNC  261
#define SERVER_NAME_MAX   64

enum client_state {
    ST_VERSION,
    ST_SEC_TYPE,
    ST_VENCRYPT_VERSION, /* VeNCrypt: the client's version (0.2) */
    ST_VENCRYPT_SUBTYPE, /* the client's choice of the one subtype offered */
    ST_TLS_HANDSHAKE,    /* then TLS, and the subtype's own security inside it */
    ST_VNC_AUTH,
    ST_CLIENT_INIT,
    ST_NORMAL,
};

struct vnc_client {
    struct vnc_server *server;
    struct vnc_client *next;
    int fd;
    struct loop_watch *watch;
    enum client_state state;
    unsigned minor;          /* RFB 3.minor */
    bool closing;            /* close once the output is written */
    struct tls_session *tls; /* VeNCrypt: from the handshake on */
    bool tls_active;         /* the handshake is done: every byte goes through tls */
    struct buf in, out;
    uint8_t challenge[VNC_CHALLENGE_SIZE];
    char host[64], service[16], family[8];
    /* Protocol state. */
    struct vnc_pixfmt fmt;
    struct vnc_encoder enc;
    bool want_zrle, want_copyrect, want_desktop_size, want_ext_key, want_ptr_type;
    bool send_ext_key_ack, send_ptr_type, send_resize;
    bool ptr_absolute; /* what the client was last told */
    bool update_requested;
    unsigned req_x, req_y, req_w, req_h;
    unsigned width, height; /* the screen size the client knows */
    /* Changed tiles (display size), and a copy not yet sent. */
    uint8_t *dirty;
    unsigned tiles_w, tiles_h;
    bool copy_pending;
    unsigned copy_sx, copy_sy, copy_dx, copy_dy, copy_w, copy_h;
    struct display_listener listener;
    uint64_t bytes_sent;
};

struct vnc_server {
    struct loop *loop;
    struct display *display;
    struct vnc_config cfg;
    int lfd[MAX_LISTENERS];
    struct loop_watch *lwatch[MAX_LISTENERS];
    unsigned nr_listeners;
    char listen_host[64], listen_service[16], listen_family[8];
    struct vnc_client *clients;
    unsigned nr_clients;
    bool freeing; /* vnc_server_free: clients are freed at once, not after the round */
    struct loop_timer *refresh;
    struct tls_server *tls; /* tls-creds: VeNCrypt for every client */
    struct authz *authz;    /* tls-authz, or NULL */
    char password[VNC_PASSWORD_MAX + 1];
    bool password_set;
    time_t expires; /* 0: never */
};

/* --- configuration -------------------------------------------------------------------- */

void vnc_config_free(struct vnc_config *c)
{
    free(c->host);
    free(c->unix_path);
    free(c->tls_creds);
    free(c->tls_authz);
    memset(c, 0, sizeof(*c));
}

static int on_off(const char *v, bool *out)
{
    if (!v || str_eq(v, "on") || str_eq(v, "yes") || str_eq(v, "true")) {
        *out = true;
        return 0;
    }
    if (str_eq(v, "off") || str_eq(v, "no") || str_eq(v, "false")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

int vnc_config_parse(struct vnc_config *c, const char *arg, struct verr *err)
{
    vnc_config_free(c);
    char *copy = xstrdup(arg), *save = NULL;
    int r = 0;
    char *item = strtok_r(copy, ",", &save);
    if (!item) {
        r = verr_set(err, EINVAL, "-vnc %s: missing display", arg);
        goto out;
    }
    if (str_starts_with(item, "vnc="))
        item += 4;
    if (str_eq(item, "none")) {
        c->enabled = false;
    } else if (str_starts_with(item, "unix:")) {
        if (!item[5]) {
            r = verr_set(err, EINVAL, "-vnc %s: missing socket path", arg);
            goto out;
        }
        c->unix_path = xstrdup(item + 5);
        c->enabled = true;
    } else {
        char *colon = strrchr(item, ':');
        unsigned n;
        if (!colon || str_to_uint(colon + 1, 10, &n) < 0 || n > 65535 - VNC_PORT_BASE) {
            r = verr_set(err, EINVAL, "-vnc %s: expected [HOST]:DISPLAY, unix:PATH or none", arg);
            goto out;
        }
        *colon = '\0';
        char *host = item;
        size_t hl = strlen(host);
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
            host[hl - 1] = '\0';
            host++;
        }
        c->host = xstrdup(host);
        c->number = n;
        c->enabled = true;
    }
    while ((item = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : NULL;
        if (eq)
            *eq = '\0';
        if (str_eq(item, "password")) {
            if (on_off(val, &c->password) < 0) {
                r = verr_set(err, EINVAL, "-vnc %s: password must be on or off", arg);
                goto out;
            }
        } else if (str_eq(item, "share") && val) {
            if (str_eq(val, "allow-exclusive"))
                c->share = VNC_SHARE_ALLOW_EXCLUSIVE;
            else if (str_eq(val, "force-shared"))
                c->share = VNC_SHARE_FORCE_SHARED;
            else if (str_eq(val, "ignore"))
                c->share = VNC_SHARE_IGNORE;
            else {
                r = verr_set(err, EINVAL, "-vnc %s: unknown share policy '%s'", arg, val);
                goto out;
            }
        } else if (str_eq(item, "tls-creds") && val && *val) {
            free(c->tls_creds);
            c->tls_creds = xstrdup(val);
        } else if (str_eq(item, "tls-authz") && val && *val) {
            free(c->tls_authz);
            c->tls_authz = xstrdup(val);
        } else {
            r = verr_set(err, ENOTSUP, "-vnc %s: option '%s' is not supported", arg, item);
            goto out;
        }
    }
out:
    free(copy);
    return r;
}

/* --- output --------------------------------------------------------------------------- */

static void client_close(struct vnc_client *c);

static void client_flush(struct vnc_client *c)
{
    while (c->out.len && c->tls_active) {
        struct verr err = {0};
        ssize_t n = tls_session_send(c->tls, c->out.data, c->out.len, &err);
        if (n == -EAGAIN)
            break;
        if (n < 0) {
            log_debug("vnc: client %s:%s: %s", c->host, c->service, verr_msg(&err));
            client_close(c);
            return;
        }
        c->bytes_sent += (uint64_t)n;
        buf_consume(&c->out, (size_t)n);
    }
    while (c->out.len && !c->tls_active) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            log_debug("vnc: client %s:%s: send: %s", c->host, c->service, strerror(errno));
            client_close(c);
            return;
        }
        c->bytes_sent += (uint64_t)n;
        buf_consume(&c->out, (size_t)n);
    }
    if (!c->out.len && c->closing) {
        client_close(c);
        return;
    }
    if (c->out.len > OUT_MAX) {
        log_warn("vnc: client %s:%s does not read its output, dropping it", c->host, c->service);
        client_close(c);
        return;
    }
    loop_watch_set_events(c->watch, LOOP_READ | (c->out.len ? LOOP_WRITE : 0));
}

static void put8(struct buf *b, uint8_t v)
{
    buf_append_byte(b, v);
}

/* Ends the handshake with a reason (RFB 3.8 sends it; older versions just close). */
static void fail_security(struct vnc_client *c, const char *reason)
{
    vnc_put32(&c->out, 1);
    if (c->minor >= 8) {
        vnc_put32(&c->out, (uint32_t)strlen(reason));
        buf_append_str(&c->out, reason);
    }
    c->closing = true;
}

/* --- dirty tiles and the display listener ------------------------------------------ */

static void mark_rect(struct vnc_client *c, unsigned x, unsigned y, unsigned w, unsigned h)
{
    if (!w || !h)
        return;
    unsigned tx0 = x / DISPLAY_TILE, ty0 = y / DISPLAY_TILE;
    unsigned tx1 = (x + w - 1) / DISPLAY_TILE, ty1 = (y + h - 1) / DISPLAY_TILE;
    if (tx1 >= c->tiles_w)
        tx1 = c->tiles_w - 1;
    if (ty1 >= c->tiles_h)
        ty1 = c->tiles_h - 1;
    for (unsigned ty = ty0; ty <= ty1 && ty < c->tiles_h; ty++)
        memset(c->dirty + (size_t)ty * c->tiles_w + tx0, 1, tx1 >= tx0 ? tx1 - tx0 + 1 : 0);
}

static void reset_tiles(struct vnc_client *c, unsigned w, unsigned h)
{
    free(c->dirty);
    c->tiles_w = (w + DISPLAY_TILE - 1) / DISPLAY_TILE;
    c->tiles_h = (h + DISPLAY_TILE - 1) / DISPLAY_TILE;
    c->dirty = xcalloc((size_t)c->tiles_w * c->tiles_h, 1);
    c->copy_pending = false;
    mark_rect(c, 0, 0, w, h);
}

static void on_update(void *opaque, unsigned x, unsigned y, unsigned w, unsigned h)
{
    mark_rect(opaque, x, y, w, h);
}

static bool any_dirty(const struct vnc_client *c, unsigned x, unsigned y, unsigned w, unsigned h)
{
    unsigned tx0 = x / DISPLAY_TILE, ty0 = y / DISPLAY_TILE;
    unsigned tx1 = (x + w - 1) / DISPLAY_TILE, ty1 = (y + h - 1) / DISPLAY_TILE;
    for (unsigned ty = ty0; ty <= ty1 && ty < c->tiles_h; ty++)
        for (unsigned tx = tx0; tx <= tx1 && tx < c->tiles_w; tx++)
            if (c->dirty[(size_t)ty * c->tiles_w + tx])
                return true;
    return false;
}

static void on_copy(void *opaque, unsigned sx, unsigned sy, unsigned dx, unsigned dy, unsigned w,
                    unsigned h)
{
    struct vnc_client *c = opaque;
    /* A copy is only right when the client's source pixels are current. */
    if (!c->want_copyrect || c->copy_pending || c->send_resize || any_dirty(c, sx, sy, w, h)) {
        mark_rect(c, dx, dy, w, h);
        return;
    }
    c->copy_pending = true;
    c->copy_sx = sx;
    c->copy_sy = sy;
    c->copy_dx = dx;
    c->copy_dy = dy;
    c->copy_w = w;
    c->copy_h = h;
}

static void on_resize(void *opaque, unsigned w, unsigned h)
{
    struct vnc_client *c = opaque;
    reset_tiles(c, w, h);
    if (c->want_desktop_size)
        c->send_resize = true;
}

/* --- updates ---------------------------------------------------------------------------- */

struct rect {
    unsigned x, y, w, h;
};

/* Dirty tiles inside the client's request and screen, merged: runs along each tile row,
 * joined with a rectangle of the row above that spans the same columns. Clears them. */
static unsigned collect_rects(struct vnc_client *c, struct rect **out)
{
    unsigned sw = display_width(c->server->display), sh = display_height(c->server->display);
    unsigned w = c->width < sw ? c->width : sw, h = c->height < sh ? c->height : sh;
    unsigned rx1 = c->req_x + c->req_w < w ? c->req_x + c->req_w : w;
    unsigned ry1 = c->req_y + c->req_h < h ? c->req_y + c->req_h : h;
    *out = NULL;
    if (c->req_x >= rx1 || c->req_y >= ry1)
        return 0;
    unsigned tx0 = c->req_x / DISPLAY_TILE, tx1 = (rx1 - 1) / DISPLAY_TILE;
    unsigned ty0 = c->req_y / DISPLAY_TILE, ty1 = (ry1 - 1) / DISPLAY_TILE;
    struct rect *r = NULL;
    unsigned n = 0, cap = 0;
    /* Indices of the rectangles that end at the previous tile row, and at this one. */
    unsigned *prev = xcalloc(c->tiles_w + 1, sizeof(*prev)), nprev = 0;
    unsigned *cur = xcalloc(c->tiles_w + 1, sizeof(*cur)), ncur;
    for (unsigned ty = ty0; ty <= ty1 && ty < c->tiles_h; ty++) {
        ncur = 0;
        uint8_t *row = c->dirty + (size_t)ty * c->tiles_w;
        for (unsigned tx = tx0; tx <= tx1 && tx < c->tiles_w;) {
            if (!row[tx]) {
                tx++;
                continue;
            }
            unsigned start = tx;
            while (tx <= tx1 && tx < c->tiles_w && row[tx])
                row[tx++] = 0;
            unsigned x0 = start * DISPLAY_TILE, x1 = tx * DISPLAY_TILE;
            unsigned y0 = ty * DISPLAY_TILE, y1 = (ty + 1) * DISPLAY_TILE;
            x0 = x0 < c->req_x ? c->req_x : x0;
            y0 = y0 < c->req_y ? c->req_y : y0;
            x1 = x1 > rx1 ? rx1 : x1;
            y1 = y1 > ry1 ? ry1 : y1;
            unsigned k;
            for (k = 0; k < nprev; k++) {
                struct rect *p = &r[prev[k]];
                if (p->x == x0 && p->w == x1 - x0 && p->y + p->h == y0)
                    break;
            }
            if (k < nprev) {
                r[prev[k]].h += y1 - y0;
                cur[ncur++] = prev[k];
            } else {
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    r = xreallocarray(r, cap, sizeof(*r));
                }
                r[n] = (struct rect){x0, y0, x1 - x0, y1 - y0};
                cur[ncur++] = n++;
            }
        }
        unsigned *t = prev;
        prev = cur;
        cur = t;
        nprev = ncur;
    }
    free(prev);
    free(cur);
    *out = r;
    return n;
}

static void send_update(struct vnc_client *c)
{
    if (c->state != ST_NORMAL || !c->update_requested || c->out.len > OUT_HIGH || c->closing)
        return;
    struct display *d = c->server->display;
    bool copy = c->copy_pending && !c->send_resize;
    struct rect *rects = NULL;
    unsigned nr = c->send_resize ? 0 : collect_rects(c, &rects);
    unsigned total = nr + (copy ? 1 : 0) + (c->send_resize ? 1 : 0) +
                     (c->send_ext_key_ack ? 1 : 0) + (c->send_ptr_type ? 1 : 0);
    if (!total)
        return;
    put8(&c->out, 0); /* FramebufferUpdate */
    put8(&c->out, 0);
    vnc_put16(&c->out, (uint16_t)(total > 0xffff ? 0xffff : total));
    if (c->send_ext_key_ack)
        vnc_rect_header(&c->out, 0, 0, 0, 0, RFB_ENC_EXT_KEY_EVENT);
    if (c->send_ptr_type)
        vnc_rect_header(&c->out, c->ptr_absolute ? 1 : 0, 0, 0, 0, RFB_ENC_POINTER_TYPE_CHANGE);
    c->send_ext_key_ack = c->send_ptr_type = false;
    if (c->send_resize) {
        c->width = display_width(d);
        c->height = display_height(d);
        vnc_rect_header(&c->out, 0, 0, c->width, c->height, RFB_ENC_DESKTOP_SIZE);
        c->send_resize = false;
        /* The whole new screen follows in the next update (the client asks again). */
        c->req_x = c->req_y = 0;
        c->req_w = c->width;
        c->req_h = c->height;
    }
    if (copy) {
        vnc_rect_header(&c->out, c->copy_dx, c->copy_dy, c->copy_w, c->copy_h, RFB_ENC_COPYRECT);
        vnc_put16(&c->out, (uint16_t)c->copy_sx);
        vnc_put16(&c->out, (uint16_t)c->copy_sy);
        c->copy_pending = false;
    }
    for (unsigned i = 0; i < nr; i++) {
        if (vnc_encode_rect(&c->enc, &c->fmt, d, rects[i].x, rects[i].y, rects[i].w, rects[i].h,
                            c->want_zrle, &c->out) < 0) {
            log_warn("vnc: client %s:%s: encoder failed, dropping it", c->host, c->service);
            free(rects);
            client_close(c);
            return;
        }
    }
    free(rects);
    c->update_requested = false;
    client_flush(c);
}

static void refresh_tick(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop;
    (void)timer;
    struct vnc_server *s = opaque;
    display_refresh(s->display);
    bool abs = display_pointer_absolute(s->display);
    for (struct vnc_client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->state != ST_NORMAL)
            continue;
        if (c->want_ptr_type && abs != c->ptr_absolute) {
            c->ptr_absolute = abs;
            c->send_ptr_type = true;
        }
        send_update(c);
    }
}

/* --- the handshake ------------------------------------------------------------------- */

static bool password_usable(const struct vnc_server *s)
{
    return s->password_set && (s->expires == 0 || time(NULL) < s->expires);
}

static unsigned security_type(const struct vnc_server *s)
{
    return s->tls ? SEC_VENCRYPT : s->cfg.password ? SEC_VNC_AUTH : SEC_NONE;
}

static unsigned vencrypt_subtype(const struct vnc_server *s)
{
    return s->cfg.password ? VENCRYPT_X509VNC : VENCRYPT_X509NONE;
}

static void start_auth(struct vnc_client *c, unsigned type)
{
    if (type == SEC_VENCRYPT) {
        put8(&c->out, 0); /* VeNCrypt 0.2 */
        put8(&c->out, 2);
        c->state = ST_VENCRYPT_VERSION;
    } else if (type == SEC_VNC_AUTH) {
        if (getrandom(c->challenge, sizeof(c->challenge), 0) != sizeof(c->challenge)) {
            c->closing = true;
            return;
        }
        buf_append(&c->out, c->challenge, sizeof(c->challenge));
        c->state = ST_VNC_AUTH;
    } else {
        if (c->minor >= 8)
            vnc_put32(&c->out, 0); /* SecurityResult OK */
        c->state = ST_CLIENT_INIT;
    }
}

static void send_server_init(struct vnc_client *c)
{
    struct display *d = c->server->display;
    display_refresh(d);
    c->width = display_width(d);
    c->height = display_height(d);
    reset_tiles(c, c->width, c->height);
    vnc_put16(&c->out, (uint16_t)c->width);
    vnc_put16(&c->out, (uint16_t)c->height);
    struct rfb_pixel_format pf;
    vnc_pixfmt_server(&pf);
    vnc_pixfmt_init(&c->fmt, &pf);
    uint8_t pfb[16];
    rfb_pixel_format_encode(&pf, pfb);
    buf_append(&c->out, pfb, 16);
    const char *name = "vireo-vmm";
    vnc_put32(&c->out, (uint32_t)strlen(name));
    buf_append_str(&c->out, name);
    c->listener = (struct display_listener){on_update, on_copy, on_resize, c, NULL};
    display_add_listener(d, &c->listener);
    c->state = ST_NORMAL;
    if (!c->server->refresh) {
        c->server->refresh = loop_timer_new(c->server->loop, refresh_tick, c->server);
        loop_timer_arm(c->server->refresh, REFRESH_NS, REFRESH_NS);
    }
}

static void set_colour_map(struct vnc_client *c)
{
    put8(&c->out, 1); /* SetColourMapEntries: BGR233 */
    put8(&c->out, 0);
    vnc_put16(&c->out, 0);
    vnc_put16(&c->out, 256);
    for (unsigned i = 0; i < 256; i++) {
        vnc_put16(&c->out, (uint16_t)((i & 7) * 65535 / 7));
        vnc_put16(&c->out, (uint16_t)(((i >> 3) & 7) * 65535 / 7));
        vnc_put16(&c->out, (uint16_t)(((i >> 6) & 3) * 65535 / 3));
    }
}

static void handle_message(struct vnc_client *c, const struct rfb_msg *m)
{
    struct vnc_server *s = c->server;
    switch (m->type) {
    case RFB_SET_PIXEL_FORMAT:
        vnc_pixfmt_init(&c->fmt, &m->u.pf);
        if (!m->u.pf.true_colour)
            set_colour_map(c);
        mark_rect(c, 0, 0, display_width(s->display), display_height(s->display));
        break;
    case RFB_SET_ENCODINGS: {
        c->want_zrle = c->want_copyrect = c->want_desktop_size = false;
        c->want_ext_key = c->want_ptr_type = false;
        bool chosen = false;
        for (unsigned i = 0; i < m->u.encodings.count; i++) {
            int32_t e = rfb_encoding_at(m, i);
            if (!chosen && (e == RFB_ENC_ZRLE || e == RFB_ENC_RAW)) {
                c->want_zrle = e == RFB_ENC_ZRLE; /* the first of ours the client lists */
                chosen = true;
            } else if (e == RFB_ENC_COPYRECT) {
                c->want_copyrect = true;
            } else if (e == RFB_ENC_DESKTOP_SIZE) {
                c->want_desktop_size = true;
            } else if (e == RFB_ENC_EXT_KEY_EVENT) {
                c->want_ext_key = true;
                c->send_ext_key_ack = true;
            } else if (e == RFB_ENC_POINTER_TYPE_CHANGE) {
                c->want_ptr_type = true;
                c->ptr_absolute = display_pointer_absolute(s->display);
                c->send_ptr_type = true;
            }
        }
        break;
    }
    case RFB_FB_UPDATE_REQUEST: {
        const typeof(m->u.update) *u = &m->u.update;
        /* Clipped to the screen later; a request outside it asks for nothing. */
        c->req_x = u->x;
        c->req_y = u->y;
        c->req_w = u->w;
        c->req_h = u->h;
        if (!u->incremental)
            mark_rect(c, u->x, u->y, u->w, u->h);
        c->update_requested = true;
        display_refresh(s->display);
        send_update(c);
        break;
    }
    case RFB_KEY_EVENT: {
        unsigned qnum = m->u.key.qnum ? m->u.key.qnum : keymap_keysym_to_qnum(m->u.key.keysym);
        if (qnum)
            display_key(s->display, qnum, m->u.key.down);
        else
            log_debug("vnc: keysym 0x%x has no key on a US keyboard", m->u.key.keysym);
        break;
    }
    case RFB_POINTER_EVENT:
        display_pointer(s->display, m->u.pointer.x, m->u.pointer.y, m->u.pointer.buttons);
        break;
    case RFB_CLIENT_CUT_TEXT:
    case RFB_QEMU:
        break; /* no clipboard */
    }
}

/* VeNCrypt: the TLS handshake, then the chosen subtype's own security through TLS. */
static void advance_tls(struct vnc_client *c)
{
    bool want_write = false;
    struct verr err = {0};
    int r = tls_session_handshake(c->tls, &want_write, &err);
    if (r < 0) {
        log_info("vnc: client %s:%s refused: %s", c->host, c->service, verr_msg(&err));
        client_close(c);
        return;
    }
    if (r == 0) {
        loop_watch_set_events(c->watch, want_write ? LOOP_WRITE : LOOP_READ);
        return;
    }
    c->tls_active = true;
    const char *dn = tls_session_dname(c->tls);
    if (c->server->authz && !authz_is_allowed(c->server->authz, dn)) {
        log_warn("vnc: client %s:%s refused: TLS x509 authz check for %s is denied", c->host,
                 c->service, dn);
        client_close(c);
        return;
    }
    if (vencrypt_subtype(c->server) == VENCRYPT_X509VNC) {
        start_auth(c, SEC_VNC_AUTH);
    } else {
        vnc_put32(&c->out, 0); /* SecurityResult OK, whatever the RFB version, as QEMU */
        c->state = ST_CLIENT_INIT;
    }
    client_flush(c);
}

static void start_tls(struct vnc_client *c)
{
    struct verr err = {0};
    if (c->out.len || c->in.len) {
        /* bytes still to send, or sent by the client before it saw the accepting byte */
        if (c->in.len) {
            log_debug("vnc: client %s:%s sent data before TLS, dropping it", c->host, c->service);
            client_close(c);
        }
        return; /* the rest of the output first: on_client comes back */
    }
    c->tls = tls_session_new(c->server->tls, c->fd, &err);
    if (!c->tls) {
        log_warn("vnc: client %s:%s: %s", c->host, c->service, verr_msg(&err));
        client_close(c);
        return;
    }
    advance_tls(c);
}

/* Consumes what it can of c->in. */
static void process_input(struct vnc_client *c)
{
    struct vnc_server *s = c->server;
    size_t off = 0;
    while (!c->closing) {
        const uint8_t *p = c->in.data + off;
        size_t avail = c->in.len - off;
        if (c->state == ST_VERSION) {
            if (avail < 12)
                break;
            unsigned major, minor;
            char v[13];
            memcpy(v, p, 12);
            v[12] = '\0';
            if (sscanf(v, "RFB %3u.%3u\n", &major, &minor) != 2 || major != 3) {
                log_debug("vnc: client %s:%s: not an RFB client, dropping it", c->host, c->service);
                client_close(c);
                return;
            }
            c->minor = minor >= 8 ? 8 : minor == 7 ? 7 : 3;
            off += 12;
            unsigned type = security_type(s);
            if (c->minor == 3 && type == SEC_VENCRYPT) {
                /* RFB 3.3 lets the server choose, and VeNCrypt needs 3.7: no type (0), why */
                vnc_put32(&c->out, 0);
                const char *why = "VeNCrypt (TLS) needs RFB 3.7 or later";
                vnc_put32(&c->out, (uint32_t)strlen(why));
                buf_append_str(&c->out, why);
                c->closing = true;
            } else if (c->minor == 3) {
                vnc_put32(&c->out, type);
                start_auth(c, type);
            } else {
                put8(&c->out, 1);
                put8(&c->out, (uint8_t)type);
                c->state = ST_SEC_TYPE;
            }
        } else if (c->state == ST_SEC_TYPE) {
            if (avail < 1)
                break;
            off += 1;
            if (p[0] != security_type(s)) {
                fail_security(c, "Unsupported security type");
                break;
            }
            start_auth(c, p[0]);
        } else if (c->state == ST_VENCRYPT_VERSION) {
            if (avail < 2)
                break;
            off += 2;
            if (p[0] != 0 || p[1] != 2) {
                log_debug("vnc: client %s:%s: VeNCrypt version %u.%u refused", c->host, c->service,
                          p[0], p[1]);
                put8(&c->out, 1); /* not accepted */
                c->closing = true;
                break;
            }
            put8(&c->out, 0); /* accepted */
            put8(&c->out, 1); /* one subtype */
            vnc_put32(&c->out, vencrypt_subtype(s));
            c->state = ST_VENCRYPT_SUBTYPE;
        } else if (c->state == ST_VENCRYPT_SUBTYPE) {
            if (avail < 4)
                break;
            off += 4;
            uint32_t chosen =
                (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            if (chosen != vencrypt_subtype(s)) {
                log_debug("vnc: client %s:%s: VeNCrypt subtype %u refused", c->host, c->service,
                          chosen);
                put8(&c->out, 0); /* refused */
                c->closing = true;
                break;
            }
            put8(&c->out, 1); /* accepted: TLS starts once this byte is out */
            c->state = ST_TLS_HANDSHAKE;
            break;
        } else if (c->state == ST_TLS_HANDSHAKE) {
            break; /* on_client drives it */
        } else if (c->state == ST_VNC_AUTH) {
            if (avail < VNC_CHALLENGE_SIZE)
                break;
            off += VNC_CHALLENGE_SIZE;
            if (!password_usable(s) || !vnc_auth_check(s->password, c->challenge, p)) {
                log_info("vnc: client %s:%s failed VNC authentication", c->host, c->service);
                fail_security(c, "Authentication failed");
                break;
            }
            vnc_put32(&c->out, 0);
            c->state = ST_CLIENT_INIT;
        } else if (c->state == ST_CLIENT_INIT) {
            if (avail < 1)
                break;
            off += 1;
            bool shared = p[0] != 0;
            if (!shared && s->cfg.share == VNC_SHARE_ALLOW_EXCLUSIVE) {
                for (struct vnc_client *o = s->clients, *next; o; o = next) {
                    next = o->next;
                    if (o != c && o->state == ST_NORMAL)
                        client_close(o);
                }
            }
            send_server_init(c);
        } else {
            struct rfb_msg m;
            struct verr err = {0};
            ssize_t n = rfb_parse_client_msg(p, avail, &m, &err);
            if (n == 0)
                break;
            if (n < 0) {
                log_warn("vnc: client %s:%s: %s; dropping it", c->host, c->service, verr_msg(&err));
                client_close(c);
                return;
            }
            off += (size_t)n;
            handle_message(c, &m);
            if (c->fd < 0)
                return;
        }
    }
    buf_consume(&c->in, off);
    client_flush(c);
    if (c->fd >= 0 && c->state == ST_TLS_HANDSHAKE && !c->tls)
        start_tls(c);
}

/* n bytes that came from c: queued and parsed; false when c was dropped for sending more
 * than one message can hold, or went away while they were handled. */
static bool take_input(struct vnc_client *c, const uint8_t *p, size_t n)
{
    if (c->in.len + n > RFB_MAX_MESSAGE + 64) {
        log_warn("vnc: client %s:%s sent more than one message can hold, dropping it", c->host,
                 c->service);
        client_close(c);
        return false;
    }
    buf_append(&c->in, p, n);
    process_input(c);
    return c->fd >= 0;
}

/* Everything GnuTLS has for c (it may hold decrypted bytes the socket will not signal). */
static void read_tls(struct vnc_client *c)
{
    uint8_t tmp[16384];
    do {
        struct verr err = {0};
        ssize_t n = tls_session_recv(c->tls, tmp, sizeof(tmp), &err);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            if (n < 0)
                log_debug("vnc: client %s:%s: %s", c->host, c->service, verr_msg(&err));
            client_close(c);
            return;
        }
        if (!take_input(c, tmp, (size_t)n))
            return;
    } while (tls_session_pending(c->tls));
}

static void on_client(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    struct vnc_client *c = opaque;
    if (c->state == ST_TLS_HANDSHAKE) {
        if (!c->tls) {
            client_flush(c);
            if (c->fd >= 0)
                start_tls(c);
        } else {
            advance_tls(c);
        }
        return;
    }
    if (events & LOOP_WRITE) {
        client_flush(c);
        if (c->fd < 0)
            return;
        send_update(c);
        if (c->fd < 0)
            return;
    }
    if (!(events & (LOOP_READ | LOOP_HUP)))
        return;
    if (c->tls_active) {
        read_tls(c);
        return;
    }
    uint8_t tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    take_input(c, tmp, (size_t)n);
}

static void client_close(struct vnc_client *c)
{
    struct vnc_server *s = c->server;
    if (c->fd < 0)
        return;
    if (c->state == ST_NORMAL)
        display_remove_listener(s->display, &c->listener);
    loop_watch_remove(c->watch);
    tls_session_free(c->tls);
    c->tls = NULL;
    c->tls_active = false;
    close(c->fd);
    c->fd = -1;
    for (struct vnc_client **p = &s->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    s->nr_clients--;
    log_info("vnc: client %s:%s disconnected", c->host, c->service);
    buf_free(&c->in);
    buf_free(&c->out);
    vnc_encoder_free(&c->enc);
    free(c->dirty);
    /* Callers up the stack may still look at c->fd: free it after this dispatch round. */
    if (s->freeing)
        free(c);
    else
        loop_call_soon(s->loop, free, c);
    if (!s->clients && s->refresh) {
        loop_timer_free(s->refresh);
        s->refresh = NULL;
    }
}

static void describe_peer(int fd, char *host, size_t hl, char *serv, size_t sl, char *fam,
                          size_t fl)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    snprintf(host, hl, "?");
    snprintf(serv, sl, "?");
    snprintf(fam, fl, "unix");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        snprintf(host, hl, "%s", "");
        snprintf(serv, sl, "%s", "");
        return;
    }
    snprintf(fam, fl, ss.ss_family == AF_INET6 ? "ipv6" : "ipv4");
    getnameinfo((struct sockaddr *)&ss, len, host, (socklen_t)hl, serv, (socklen_t)sl,
                NI_NUMERICHOST | NI_NUMERICSERV);
}

static void on_listen(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)events;
    struct vnc_server *s = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return;
    if (s->nr_clients >= MAX_CLIENTS) {
        log_warn("vnc: %u clients already connected, refusing another", s->nr_clients);
        close(cfd);
        return;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix */
    struct vnc_client *c = xcalloc(1, sizeof(*c));
    c->server = s;
    c->fd = cfd;
    describe_peer(cfd, c->host, sizeof(c->host), c->service, sizeof(c->service), c->family,
                  sizeof(c->family));
    struct verr err = {0};
    c->watch = loop_watch_fd(loop, cfd, LOOP_READ, on_client, c, &err);
    if (!c->watch) {
        close(cfd);
        free(c);
        return;
    }
    c->next = s->clients;
    s->clients = c;
    s->nr_clients++;
    log_info("vnc: client %s:%s connected", c->host, c->service);
    buf_append_str(&c->out, "RFB 003.008\n");
    client_flush(c);
}

/* --- the server ------------------------------------------------------------------------- */

static int add_listener(struct vnc_server *s, int fd, struct verr *err)
{
    s->lwatch[s->nr_listeners] = loop_watch_fd(s->loop, fd, LOOP_READ, on_listen, s, err);
    if (!s->lwatch[s->nr_listeners]) {
        close(fd);
        return -EINVAL;
    }
    s->lfd[s->nr_listeners++] = fd;
    return 0;
}

static int listen_tcp(struct vnc_server *s, struct verr *err)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", VNC_PORT_BASE + s->cfg.number);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    const char *host = s->cfg.host && *s->cfg.host ? s->cfg.host : NULL;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0)
        return verr_set(err, EINVAL, "-vnc: address '%s': %s", host ? host : "", gai_strerror(gr));
    int r = 0, last_errno = 0;
    for (struct addrinfo *ai = res; ai && s->nr_listeners < MAX_LISTENERS; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        if (!s->listen_host[0]) {
            getnameinfo(ai->ai_addr, ai->ai_addrlen, s->listen_host, sizeof(s->listen_host),
                        s->listen_service, sizeof(s->listen_service),
                        NI_NUMERICHOST | NI_NUMERICSERV);
            snprintf(s->listen_family, sizeof(s->listen_family), "%s",
                     ai->ai_family == AF_INET6 ? "ipv6" : "ipv4");
        }
        if ((r = add_listener(s, fd, err)) < 0)
            break;
    }
    freeaddrinfo(res);
    if (r == 0 && !s->nr_listeners)
        r = verr_errno(err, last_errno ? last_errno : EADDRNOTAVAIL, "-vnc: cannot listen on %s:%s",
                       host ? host : "*", port);
    return r;
}

int vnc_server_new(struct loop *loop, struct display *d, const struct vnc_config *c,
                   struct tls_server *tls, struct vnc_server **out, struct verr *err)
{
    struct vnc_server *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->display = d;
    s->tls = tls;
    s->cfg = *c;
    s->cfg.host = c->host ? xstrdup(c->host) : NULL;
    s->cfg.unix_path = c->unix_path ? xstrdup(c->unix_path) : NULL;
    s->cfg.tls_creds = c->tls_creds ? xstrdup(c->tls_creds) : NULL;
    s->cfg.tls_authz = c->tls_authz ? xstrdup(c->tls_authz) : NULL;
    int r = 0;
    if (c->unix_path) {
        int fd = sock_unix_listen(c->unix_path, SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 16);
        if (fd < 0)
            r = verr_errno(err, -fd, "-vnc unix:%s: cannot listen", c->unix_path);
        else
            r = add_listener(s, fd, err);
        snprintf(s->listen_host, sizeof(s->listen_host), "%s", c->unix_path);
        snprintf(s->listen_family, sizeof(s->listen_family), "unix");
    } else if (c->enabled) {
        r = listen_tcp(s, err);
    }
    if (r < 0) {
        vnc_server_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void vnc_server_free(struct vnc_server *s)
{
    if (!s)
        return;
    s->freeing = true;
    while (s->clients)
        client_close(s->clients);
    for (unsigned i = 0; i < s->nr_listeners; i++) {
        loop_watch_remove(s->lwatch[i]);
        close(s->lfd[i]);
    }
    if (s->cfg.unix_path)
        unlink(s->cfg.unix_path);
    loop_timer_free(s->refresh);
    tls_server_free(s->tls);
    if (s->authz) {
        authz_unuse(s->authz);
        authz_unref(s->authz);
    }
    vnc_config_free(&s->cfg);
    memset(s->password, 0, sizeof(s->password));
    free(s);
}

void vnc_server_set_authz(struct vnc_server *s, struct authz *a)
{
    s->authz = authz_ref(a);
    authz_use(a);
}

int vnc_set_password(struct vnc_server *s, const char *password, struct verr *err)
{
    if (!s || !s->cfg.password)
        return verr_set(err, EINVAL, "Could not set password");
    snprintf(s->password, sizeof(s->password), "%s", password); /* DES: 8 characters count */
    s->password_set = true;
    return 0;
}

int vnc_expire_password(struct vnc_server *s, const char *when, struct verr *err)
{
    time_t t;
    if (str_eq(when, "now")) {
        t = time(NULL);
    } else if (str_eq(when, "never")) {
        t = 0;
    } else {
        bool rel = when[0] == '+';
        char *end;
        errno = 0;
        long long v = strtoll(when + (rel ? 1 : 0), &end, 10);
        if (errno || *end || end == when + (rel ? 1 : 0) || v < 0)
            return verr_set(err, EINVAL, "Invalid parameter 'time'");
        t = rel ? time(NULL) + (time_t)v : (time_t)v;
    }
    if (!s || !s->cfg.password)
        return verr_set(err, EINVAL, "Could not set password expire time.");
    s->expires = t;
    return 0;
}

struct json_object *vnc_query(struct vnc_server *s)
{
    struct json_object *o = json_object_new_object();
    bool on = s && s->nr_listeners;
    json_object_object_add(o, "enabled", json_object_new_boolean(on));
    if (!on)
        return o;
    json_object_object_add(o, "host", json_object_new_string(s->listen_host));
    json_object_object_add(o, "family", json_object_new_string(s->listen_family));
    json_object_object_add(o, "service", json_object_new_string(s->listen_service));
    /* QEMU's names: vnc, none, or vencrypt+x509+ the subtype's own */
    const char *auth = s->tls ? (s->cfg.password ? "vencrypt+x509+vnc" : "vencrypt+x509+none")
                       : s->cfg.password ? "vnc"
                                         : "none";
    json_object_object_add(o, "auth", json_object_new_string(auth));
    struct json_object *clients = json_object_new_array();
    for (struct vnc_client *c = s->clients; c; c = c->next) {
        struct json_object *ci = json_object_new_object();
        json_object_object_add(ci, "host", json_object_new_string(c->host));
        json_object_object_add(ci, "service", json_object_new_string(c->service));
        json_object_object_add(ci, "family", json_object_new_string(c->family));
        json_object_object_add(ci, "websocket", json_object_new_boolean(false));
        json_object_array_add(clients, ci);
    }
    json_object_object_add(o, "clients", clients);
    return o;
}
