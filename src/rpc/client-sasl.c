/*
 * client-sasl.c - the client side of libvirt's SASL authentication (Cyrus
 * SASL, service "libvirt"), as libvirt's remote driver does it:
 * AUTH_SASL_INIT gives the server's mechanisms; Cyrus picks one that meets
 * the security properties (on plain TCP a security layer of at least 56
 * bits; over TLS and UNIX sockets none is needed); START and STEP carry the
 * exchange until both sides are done. The user name and password come from
 * libvirt's auth.conf when it has them for the host ([auth-libvirt-HOST]
 * credentials=NAME, [credentials-NAME] authname=, password=), else from the
 * caller's callback. A layer, when negotiated, then wraps every byte.
 */
#include <errno.h>
#include <netdb.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rpc/client-sasl.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

struct rpc_sasl {
    sasl_conn_t *conn;
    /* What Cyrus may ask (answered through SASL_INTERACT): without these
     * it finds no mechanism that needs a name and a password worthy. */
    sasl_callback_t callbacks[3];
    char *answers[8]; /* the interaction results Cyrus points at until the exchange ends */
    int nanswers;
};

void rpc_sasl_free(struct rpc_sasl *s)
{
    if (!s)
        return;
    if (s->conn)
        sasl_dispose(&s->conn);
    for (int i = 0; i < s->nanswers; i++)
        free(s->answers[i]);
    free(s);
    sasl_client_done(); /* pairs this session's sasl_client_init (Cyrus counts them) */
}

static char *addr_text(int fd, bool local)
{
    struct sockaddr_storage sa;
    socklen_t l = sizeof(sa);
    int r = local ? getsockname(fd, (struct sockaddr *)&sa, &l)
                  : getpeername(fd, (struct sockaddr *)&sa, &l);
    if (r < 0 || (sa.ss_family != AF_INET && sa.ss_family != AF_INET6))
        return NULL;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo((struct sockaddr *)&sa, l, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return NULL;
    return xasprintf("%s;%s", host, serv);
}

/* libvirt's auth.conf: KEY of [credentials-X] where [auth-libvirt-HOST] says credentials=X. */
static char *auth_conf_value(const char *file, const char *host, const char *key)
{
    const char *path = file ? file : getenv("LIBVIRT_AUTH_FILE");
    char *own = NULL;
    if (!path || !*path) {
        const char *xc = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        own = xc && *xc ? xasprintf("%s/libvirt/auth.conf", xc)
                        : xasprintf("%s/.config/libvirt/auth.conf", home ? home : "/");
        path = own;
        FILE *f = fopen(path, "r");
        if (!f)
            path = "/etc/libvirt/auth.conf";
        else
            fclose(f);
    }
    FILE *f = fopen(path, "r");
    free(own);
    if (!f)
        return NULL;
    char line[1024], section[256] = "", cred[256] = "";
    char *want = xasprintf("auth-libvirt-%s", host);
    /* First the host's credentials set, then its key. */
    for (int pass = 0; pass < 2; pass++) {
        rewind(f);
        section[0] = 0;
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = 0;
            char *l = line + strspn(line, " \t");
            if (*l == '[') {
                snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 1, "]"), l + 1);
                continue;
            }
            char *eq = strchr(l, '=');
            if (!eq)
                continue;
            *eq = 0;
            char *k = l, *v = eq + 1;
            k[strcspn(k, " \t")] = 0;
            v += strspn(v, " \t");
            if (pass == 0 && strcmp(section, want) == 0 && strcmp(k, "credentials") == 0)
                snprintf(cred, sizeof(cred), "credentials-%s", v);
            if (pass == 1 && *cred && strcmp(section, cred) == 0 && strcmp(k, key) == 0) {
                fclose(f);
                free(want);
                return xstrdup(v);
            }
        }
        if (!*cred)
            break;
    }
    fclose(f);
    free(want);
    return NULL;
}

/* Answers Cyrus's questions (user name, password). */
static int interact(const struct rpc_sasl_opts *o, struct rpc_sasl *s, const char *host,
                    sasl_interact_t *in, struct verr *err)
{
    for (; in->id != SASL_CB_LIST_END; in++) {
        bool password;
        const char *key, *prompt;
        if (in->id == SASL_CB_AUTHNAME) {
            password = false;
            key = "authname";
            prompt = "Please enter your authentication name";
        } else if (in->id == SASL_CB_PASS) {
            password = true;
            key = "password";
            prompt = "Please enter your password";
        } else {
            return verr_set(err, EACCES,
                            "authentication failed: SASL asked for credential %lu, which "
                            "vireo cannot supply",
                            in->id);
        }
        char *answer = auth_conf_value(o->auth_file, host, key);
        if (!answer && o->ask) {
            answer = o->ask(o->opaque, password, prompt);
            if (!answer)
                return verr_set(err, EACCES,
                                "authentication failed: Failed to collect auth credentials");
        }
        if (!answer)
            return verr_set(
                err, EACCES, "authentication failed: no credentials for %s (%snothing in %s)", host,
                o->ask ? "" : "no callback and ", o->auth_file ? o->auth_file : "auth.conf");
        if (s->nanswers == (int)(sizeof(s->answers) / sizeof(s->answers[0]))) {
            free(answer);
            return verr_set(err, EACCES, "authentication failed: too many questions");
        }
        s->answers[s->nanswers++] = answer;
        in->result = answer;
        in->len = (unsigned)strlen(answer);
    }
    return 0;
}

static int layer_encode(void *ctx, const void *data, size_t len, struct buf *out, struct verr *err)
{
    struct rpc_sasl *s = ctx;
    const void *v = NULL;
    unsigned chunk = 4096;
    if (sasl_getprop(s->conn, SASL_MAXOUTBUF, &v) == SASL_OK && v && *(const unsigned *)v)
        chunk = *(const unsigned *)v;
    const char *p = data;
    while (len) {
        unsigned n = len > chunk ? chunk : (unsigned)len;
        const char *o;
        unsigned olen;
        if (sasl_encode(s->conn, p, n, &o, &olen) != SASL_OK)
            return verr_set(err, EIO, "SASL encode failed: %s", sasl_errdetail(s->conn));
        buf_append(out, o, olen);
        p += n;
        len -= n;
    }
    return 0;
}

static int layer_decode(void *ctx, const void *data, size_t len, struct buf *out, struct verr *err)
{
    struct rpc_sasl *s = ctx;
    const char *o;
    unsigned olen;
    if (sasl_decode(s->conn, data, (unsigned)len, &o, &olen) != SASL_OK)
        return verr_set(err, EPROTO, "SASL decode failed: %s", sasl_errdetail(s->conn));
    buf_append(out, o, olen);
    return 0;
}

static int rcall(struct rpc_client *c, int proc, const void *args, void *ret, int *code,
                 struct verr *err)
{
    struct rpc_error remote = {0};
    int r = rpc_client_call(c, proc, args, ret, &remote, err);
    if (r == -EREMOTEIO) {
        *code = remote.code;
        verr_set(err, EACCES, "%s", remote.message ? remote.message : "unknown error");
        rpc_error_free(&remote);
        return -1;
    }
    if (r < 0) {
        *code = RPC_SASL_TRANSPORT;
        return -1;
    }
    return 0;
}

int rpc_client_sasl_auth(struct rpc_client *c, const char *host, bool secure,
                         const struct rpc_sasl_opts *o, struct rpc_sasl **out, int *code,
                         struct verr *err)
{
    *code = 0;
    int r = sasl_client_init(NULL);
    if (r != SASL_OK)
        return verr_set(err, EACCES, "failed to initialize SASL library: %s",
                        sasl_errstring(r, NULL, NULL));
    struct rpc_sasl *s = xcalloc(1, sizeof(*s));
    char *local = addr_text(c->fd, true), *remote = addr_text(c->fd, false);
    s->callbacks[0].id = SASL_CB_AUTHNAME; /* no SASL_CB_USER: the authname is the user */
    s->callbacks[1].id = SASL_CB_PASS;
    s->callbacks[2].id = SASL_CB_LIST_END;
    r = sasl_client_new("libvirt", host, local, remote, s->callbacks, 0, &s->conn);
    free(local);
    free(remote);
    if (r != SASL_OK) {
        s->conn = NULL;
        rpc_sasl_free(s);
        return verr_set(err, EACCES, "Failed to create SASL client context: %s",
                        sasl_errstring(r, NULL, NULL));
    }
    sasl_security_properties_t props = {
        .min_ssf = secure ? 0 : 56,
        .max_ssf = 100000,
        .maxbufsize = 65536,
        .security_flags = SASL_SEC_NOANONYMOUS,
    };
    sasl_setprop(s->conn, SASL_SEC_PROPS, &props);

    struct remote_auth_sasl_init_ret init = {0};
    if (rcall(c, REMOTE_PROC_AUTH_SASL_INIT, NULL, &init, code, err) < 0)
        goto fail;
    const char *cout = NULL, *mech = NULL;
    unsigned coutlen = 0;
    sasl_interact_t *ia = NULL;
    for (;;) {
        r = sasl_client_start(s->conn, init.mechlist, &ia, &cout, &coutlen, &mech);
        if (r != SASL_INTERACT)
            break;
        if (interact(o, s, host, ia, err) < 0) {
            free(ia); /* the plugin frees its prompts only in the next call, which never comes */
            remote_auth_sasl_init_ret_free(&init);
            goto fail;
        }
    }
    remote_auth_sasl_init_ret_free(&init);
    if (r != SASL_OK && r != SASL_CONTINUE) {
        verr_set(err, EACCES, "authentication failed: Failed to start SASL negotiation: %d (%s)", r,
                 sasl_errdetail(s->conn));
        goto fail;
    }
    struct remote_auth_sasl_start_args sa = {(char *)mech, cout == NULL, coutlen, (char *)cout};
    struct remote_auth_sasl_start_ret sr = {0};
    if (rcall(c, REMOTE_PROC_AUTH_SASL_START, &sa, &sr, code, err) < 0)
        goto fail;
    int complete = sr.complete;
    char *sin = NULL;
    unsigned sinlen = sr.data_len;
    if (!sr.nil) {
        sin = sr.data;
        sr.data = NULL;
    }
    remote_auth_sasl_start_ret_free(&sr);
    /* Until both sides are done: the server's data to Cyrus, Cyrus's to the server. */
    while (!complete || sin) {
        for (;;) {
            r = sasl_client_step(s->conn, sin, sinlen, &ia, &cout, &coutlen);
            if (r != SASL_INTERACT)
                break;
            if (interact(o, s, host, ia, err) < 0) {
                free(ia);
                free(sin);
                goto fail;
            }
        }
        free(sin);
        sin = NULL;
        if (r != SASL_OK && r != SASL_CONTINUE) {
            verr_set(err, EACCES, "authentication failed: Failed to step SASL negotiation: %d (%s)",
                     r, sasl_errdetail(s->conn));
            goto fail;
        }
        if (complete)
            break; /* the server's last data checked (SCRAM's signature) */
        struct remote_auth_sasl_step_args ta = {cout == NULL, coutlen, (char *)cout};
        struct remote_auth_sasl_step_ret tr = {0};
        if (rcall(c, REMOTE_PROC_AUTH_SASL_STEP, &ta, &tr, code, err) < 0)
            goto fail;
        complete = tr.complete;
        sinlen = tr.data_len;
        if (!tr.nil) {
            sin = tr.data;
            tr.data = NULL;
        }
        remote_auth_sasl_step_ret_free(&tr);
    }
    const void *v = NULL;
    unsigned ssf = sasl_getprop(s->conn, SASL_SSF, &v) == SASL_OK && v ? *(const unsigned *)v : 0;
    if (!secure && ssf < 56) {
        verr_set(err, EACCES, "authentication failed: negotiation SSF %u was not strong enough",
                 ssf);
        goto fail;
    }
    if (!secure && ssf)
        rpc_client_set_layer(c, layer_encode, layer_decode, s);
    *out = s;
    return 0;
fail:
    rpc_sasl_free(s);
    return -1;
}
