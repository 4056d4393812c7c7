/*
 * sasl.c - vireod's SASL (see sasl.h), on Cyrus SASL.
 *
 * The library is initialised once per process for the application name
 * "vireod", so Cyrus reads its settings (mech_list, sasldb_path, ...) from
 * vireod.conf in the configured directory rather than the system-wide
 * places. Each client gets its own sasl_conn_t; a START after a failed
 * exchange starts over on a fresh one.
 */
#include "daemon/sasl.h"

#include <errno.h>
#include <sasl/sasl.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"

struct vd_sasl {
    char *conf_dir;
    sasl_callback_t callbacks[2];
};

struct vd_sasl_conn {
    sasl_conn_t *conn;
    char *local, *remote;
    unsigned min_ssf;
    bool used;
};

static int get_conf_path(void *ctx, const char **path)
{
    *path = ctx;
    return SASL_OK;
}

int vd_sasl_new(const char *conf_dir, struct vd_sasl **out, struct verr *err)
{
    struct vd_sasl *s = xcalloc(1, sizeof(*s));
    s->conf_dir = xstrdup(conf_dir);
    s->callbacks[0].id = SASL_CB_GETCONFPATH;
    s->callbacks[0].proc = (int (*)(void))(void (*)(void))get_conf_path; /* Cyrus's generic type */
    s->callbacks[0].context = s->conf_dir;
    s->callbacks[1].id = SASL_CB_LIST_END;
    int r = sasl_server_init(s->callbacks, "vireod");
    if (r != SASL_OK) {
        free(s->conf_dir);
        free(s);
        return verr_set(err, EIO, "failed to initialize SASL library: %s (config %s/vireod.conf)",
                        sasl_errstring(r, NULL, NULL), conf_dir);
    }
    *out = s;
    return 0;
}

void vd_sasl_free(struct vd_sasl *s)
{
    if (!s)
        return;
    sasl_server_done();
    free(s->conf_dir);
    free(s);
}

static int conn_open(struct vd_sasl_conn *c, struct verr *err)
{
    if (c->conn)
        sasl_dispose(&c->conn);
    c->used = false;
    int r = sasl_server_new("libvirt", NULL, NULL, c->local, c->remote, NULL, 0, &c->conn);
    if (r != SASL_OK) {
        c->conn = NULL;
        return verr_set(err, EIO, "cannot start a SASL session: %s", sasl_errstring(r, NULL, NULL));
    }
    sasl_security_properties_t props = {
        .min_ssf = c->min_ssf,
        .max_ssf = 100000,
        .maxbufsize = 65536,
        .security_flags = SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT,
    };
    r = sasl_setprop(c->conn, SASL_SEC_PROPS, &props);
    if (r != SASL_OK)
        return verr_set(err, EIO, "cannot set SASL security properties: %s",
                        sasl_errdetail(c->conn));
    return 0;
}

struct vd_sasl_conn *vd_sasl_conn_new(struct vd_sasl *s, const char *local, const char *remote,
                                      unsigned min_ssf, struct verr *err)
{
    if (!s) {
        verr_set(err, EINVAL, "SASL is not initialised");
        return NULL;
    }
    struct vd_sasl_conn *c = xcalloc(1, sizeof(*c));
    c->local = local ? xstrdup(local) : NULL;
    c->remote = remote ? xstrdup(remote) : NULL;
    c->min_ssf = min_ssf;
    if (conn_open(c, err) < 0) {
        vd_sasl_conn_free(c);
        return NULL;
    }
    return c;
}

void vd_sasl_conn_free(struct vd_sasl_conn *c)
{
    if (!c)
        return;
    if (c->conn)
        sasl_dispose(&c->conn);
    free(c->local);
    free(c->remote);
    free(c);
}

int vd_sasl_mechlist(struct vd_sasl_conn *c, char **out, struct verr *err)
{
    if (c->used && conn_open(c, err) < 0)
        return -EIO;
    const char *list = NULL;
    int r = sasl_listmech(c->conn, NULL, "", ",", "", &list, NULL, NULL);
    if (r != SASL_OK)
        return verr_set(err, EIO, "cannot list SASL mechanisms: %s", sasl_errdetail(c->conn));
    *out = xstrdup(list);
    return 0;
}

int vd_sasl_step(struct vd_sasl_conn *c, const char *mech, const char *in, size_t in_len,
                 const char **out, size_t *out_len, struct verr *err)
{
    if (mech && c->used && conn_open(c, err) < 0)
        return -EIO;
    if (!mech && !c->used)
        return verr_set(err, EPROTO, "SASL step before SASL start");
    if (in_len > 65536)
        return verr_set(err, EMSGSIZE, "SASL data too long");
    const char *o = NULL;
    unsigned olen = 0;
    int r;
    if (mech) {
        c->used = true;
        r = sasl_server_start(c->conn, mech, in, (unsigned)in_len, &o, &olen);
    } else {
        r = sasl_server_step(c->conn, in, (unsigned)in_len, &o, &olen);
    }
    if (r != SASL_OK && r != SASL_CONTINUE)
        return verr_set(err, EACCES, "%s", sasl_errdetail(c->conn));
    *out = o;
    *out_len = olen;
    return r == SASL_OK ? 1 : 0;
}

const char *vd_sasl_username(struct vd_sasl_conn *c)
{
    const void *v = NULL;
    if (sasl_getprop(c->conn, SASL_USERNAME, &v) != SASL_OK)
        return NULL;
    return v;
}

const char *vd_sasl_mech(struct vd_sasl_conn *c)
{
    const void *v = NULL;
    if (sasl_getprop(c->conn, SASL_MECHNAME, &v) != SASL_OK || !v)
        return "?";
    return v;
}

unsigned vd_sasl_ssf(struct vd_sasl_conn *c)
{
    const void *v = NULL;
    if (sasl_getprop(c->conn, SASL_SSF, &v) != SASL_OK || !v)
        return 0;
    return *(const unsigned *)v;
}

static unsigned max_out(struct vd_sasl_conn *c)
{
    const void *v = NULL;
    if (sasl_getprop(c->conn, SASL_MAXOUTBUF, &v) != SASL_OK || !v || !*(const unsigned *)v)
        return 4096;
    return *(const unsigned *)v;
}

int vd_sasl_encode(struct vd_sasl_conn *c, const void *data, size_t len, struct buf *out,
                   struct verr *err)
{
    unsigned chunk = max_out(c);
    const char *p = data;
    while (len) {
        unsigned n = len > chunk ? chunk : (unsigned)len;
        const char *o = NULL;
        unsigned olen = 0;
        int r = sasl_encode(c->conn, p, n, &o, &olen);
        if (r != SASL_OK)
            return verr_set(err, EIO, "SASL encode failed: %s", sasl_errdetail(c->conn));
        buf_append(out, o, olen);
        p += n;
        len -= n;
    }
    return 0;
}

int vd_sasl_decode(struct vd_sasl_conn *c, const void *data, size_t len, struct buf *out,
                   struct verr *err)
{
    const char *p = data;
    while (len) {
        unsigned n = len > 65536 ? 65536 : (unsigned)len;
        const char *o = NULL;
        unsigned olen = 0;
        int r = sasl_decode(c->conn, p, n, &o, &olen);
        if (r != SASL_OK)
            return verr_set(err, EPROTO, "SASL decode failed: %s", sasl_errdetail(c->conn));
        if (olen)
            buf_append(out, o, olen);
        p += n;
        len -= n;
    }
    return 0;
}
