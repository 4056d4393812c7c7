/*
 * uri.c - libvirt's remote URIs (uri.h): parsing, and the connection over
 * the transport each names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/client-tls.h"
#include "rpc/uri.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

struct ruri {
    char *transport; /* unix, tcp, tls, ssh */
    char *user, *host, *port;
    char *socket, *pkipath, *keyfile, *command, *netcat;
    bool no_verify;
};

static void ruri_free(struct ruri *u)
{
    free(u->transport);
    free(u->user);
    free(u->host);
    free(u->port);
    free(u->socket);
    free(u->pkipath);
    free(u->keyfile);
    free(u->command);
    free(u->netcat);
}

/* %XX decoding of a query value. */
static char *unescape(const char *s, size_t len)
{
    char *out = xmalloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < len && sscanf(s + i + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

static int parse(const char *uri, struct ruri *u, struct verr *err)
{
    const char *rest;
    if (strncmp(uri, "vireo", 5) == 0)
        rest = uri + 5;
    else if (strncmp(uri, "qemu", 4) == 0)
        rest = uri + 4;
    else
        return verr_set(err, EINVAL, "%s", uri);
    if (*rest == '+') {
        size_t l = strcspn(rest + 1, ":");
        u->transport = xasprintf("%.*s", (int)l, rest + 1);
        rest += 1 + l;
        if (strcmp(u->transport, "unix") && strcmp(u->transport, "tcp") &&
            strcmp(u->transport, "tls") && strcmp(u->transport, "ssh"))
            return verr_set(err, EINVAL, "%s (transport '%s': vireo has unix, tcp, tls and ssh)",
                            uri, u->transport);
    }
    if (strncmp(rest, "://", 3) != 0)
        return verr_set(err, EINVAL, "%s", uri);
    rest += 3;
    size_t alen = strcspn(rest, "/?");
    char *auth = xasprintf("%.*s", (int)alen, rest);
    rest += alen;
    char *hostpart = auth, *at = strrchr(auth, '@');
    if (at) {
        *at = 0;
        u->user = xstrdup(auth);
        hostpart = at + 1;
    }
    char *port = NULL;
    if (*hostpart == '[') { /* [IPv6]:port */
        char *close = strchr(hostpart, ']');
        if (close) {
            *close = 0;
            port = close[1] == ':' ? close + 2 : NULL;
            hostpart++;
        }
    } else if ((port = strchr(hostpart, ':'))) {
        *port++ = 0;
    }
    u->host = xstrdup(hostpart);
    u->port = port && *port ? xstrdup(port) : NULL;
    free(auth);
    size_t plen = strcspn(rest, "?");
    if (!((plen == 7 && strncmp(rest, "/system", 7) == 0) ||
          (plen == 8 && strncmp(rest, "/session", 8) == 0)))
        return verr_set(err, EINVAL, "%s (the path must be /system or /session)", uri);
    const char *q = rest[plen] == '?' ? rest + plen + 1 : NULL;
    while (q && *q) {
        size_t l = strcspn(q, "&");
        size_t k = strcspn(q, "=");
        if (k < l) {
            char *val = unescape(q + k + 1, l - k - 1);
            char **slot = NULL;
            if (k == 6 && strncmp(q, "socket", 6) == 0)
                slot = &u->socket;
            else if (k == 7 && strncmp(q, "pkipath", 7) == 0)
                slot = &u->pkipath;
            else if (k == 7 && strncmp(q, "keyfile", 7) == 0)
                slot = &u->keyfile;
            else if (k == 7 && strncmp(q, "command", 7) == 0)
                slot = &u->command;
            else if (k == 6 && strncmp(q, "netcat", 6) == 0)
                slot = &u->netcat;
            else if (k == 9 && strncmp(q, "no_verify", 9) == 0)
                u->no_verify = strcmp(val, "0") != 0;
            if (slot) {
                free(*slot);
                *slot = val;
            } else {
                free(val);
            }
        }
        q += l;
        if (*q == '&')
            q++;
    }
    if (!u->transport)
        u->transport = xstrdup(*u->host ? "tls" : "unix");
    if (strcmp(u->transport, "unix") == 0 && *u->host)
        return verr_set(err, EINVAL, "%s (a unix URI names no host)", uri);
    if (strcmp(u->transport, "unix") != 0 && !*u->host)
        return verr_set(err, EINVAL, "%s (the %s transport needs a host)", uri, u->transport);
    return 0;
}

static char *default_socket(bool ro, bool local)
{
    const char *suffix = ro ? "-ro" : "";
    const char *xr = getenv("XDG_RUNTIME_DIR");
    if (!local || geteuid() == 0)
        return xasprintf("/run/vireo/vireo-sock%s", suffix);
    if (xr && *xr)
        return xasprintf("%s/vireo/vireo-sock%s", xr, suffix);
    return xasprintf("/tmp/vireo-%d/vireo-sock%s", (int)getuid(), suffix);
}

static int open_tls(struct ruri *u, const struct rpc_uri_opts *o, struct rpc_client *c,
                    enum rpc_uri_fail *fail, struct verr *err)
{
    int r = rpc_client_connect_tcp(c, u->host, u->port ? u->port : "16514", err);
    if (r < 0) {
        *fail = RPC_URI_CONNECT;
        return -1;
    }
    char *ca, *cert, *key;
    const char *home = getenv("HOME");
    char *user_ca = home ? xasprintf("%s/.pki/libvirt/cacert.pem", home) : NULL;
    if (u->pkipath) {
        ca = xasprintf("%s/cacert.pem", u->pkipath);
        cert = xasprintf("%s/clientcert.pem", u->pkipath);
        key = xasprintf("%s/clientkey.pem", u->pkipath);
    } else if (o->user_pki && geteuid() != 0 && user_ca && access(user_ca, R_OK) == 0) {
        ca = xstrdup(user_ca);
        cert = xasprintf("%s/.pki/libvirt/clientcert.pem", home);
        key = xasprintf("%s/.pki/libvirt/clientkey.pem", home);
    } else {
        const char *root = o->pki_root ? o->pki_root : "";
        ca = xasprintf("%s/etc/pki/CA/cacert.pem", root);
        cert = xasprintf("%s/etc/pki/libvirt/clientcert.pem", root);
        key = xasprintf("%s/etc/pki/libvirt/private/clientkey.pem", root);
    }
    free(user_ca);
    struct rpc_client_tls_opts t = {ca, cert, key, u->host, u->no_verify, c->timeout_ms};
    r = rpc_client_start_tls(c, &t, err);
    free(ca);
    free(cert);
    free(key);
    if (r < 0) {
        rpc_client_close(c);
        *fail = RPC_URI_AUTH;
        return -1;
    }
    return 0;
}

/* A word for the remote shell: 'it', with single quotes escaped. */
static char *shell_quote(const char *s)
{
    struct buf b = BUF_INIT;
    buf_append(&b, "'", 1);
    for (; *s; s++)
        if (*s == '\'')
            buf_append(&b, "'\\''", 4);
        else
            buf_append(&b, s, 1);
    buf_append(&b, "'", 2); /* with the NUL */
    return (char *)b.data;
}

static int open_ssh(struct ruri *u, struct rpc_client *c, bool ro, struct verr *err)
{
    char *sock = u->socket ? xstrdup(u->socket) : default_socket(ro, false);
    char *qnc = shell_quote(u->netcat ? u->netcat : "nc");
    char *qsock = shell_quote(sock);
    char *remote = xasprintf("%s -U %s", qnc, qsock);
    free(qnc);
    free(qsock);
    char *argv[20];
    int n = 0;
    argv[n++] = u->command ? u->command : "ssh";
    if (u->port) {
        argv[n++] = "-p";
        argv[n++] = u->port;
    }
    if (u->user) {
        argv[n++] = "-l";
        argv[n++] = u->user;
    }
    if (u->keyfile) {
        argv[n++] = "-i";
        argv[n++] = u->keyfile;
    }
    argv[n++] = "-T";
    argv[n++] = "-e";
    argv[n++] = "none";
    if (u->no_verify) {
        argv[n++] = "-o";
        argv[n++] = "StrictHostKeyChecking=no";
    }
    argv[n++] = "--";
    argv[n++] = u->host;
    argv[n++] = "sh";
    argv[n++] = "-c";
    char *quoted = shell_quote(remote);
    argv[n++] = quoted;
    argv[n] = NULL;
    int r = rpc_client_connect_command(c, argv, err);
    free(quoted);
    free(remote);
    free(sock);
    return r < 0 ? -1 : 0;
}

char *rpc_uri_unix_socket(const char *uri, bool ro)
{
    struct ruri u = {0};
    char *sock = NULL;
    if (parse(uri, &u, NULL) == 0 && strcmp(u.transport, "unix") == 0)
        sock = u.socket ? xstrdup(u.socket) : default_socket(ro, true);
    ruri_free(&u);
    return sock;
}

int rpc_uri_connect(const char *uri, const struct rpc_uri_opts *o, struct rpc_client *c,
                    char **host, bool *secure, enum rpc_uri_fail *fail, struct verr *err)
{
    struct ruri u = {0};
    *host = NULL;
    *fail = RPC_URI_BAD;
    int r = parse(uri, &u, err);
    if (r < 0) {
        ruri_free(&u);
        return -1;
    }
    *fail = RPC_URI_CONNECT;
    *secure = true;
    if (strcmp(u.transport, "unix") == 0) {
        char *sock = u.socket ? xstrdup(u.socket) : default_socket(o->ro, true);
        r = rpc_client_connect_unix(c, sock, NULL);
        if (r < 0) /* libvirt's wording, so "no daemon" reads the same as with virsh */
            verr_set(err, -r, "Failed to connect socket to '%s': %s", sock, strerror(-r));
        free(sock);
    } else if (strcmp(u.transport, "tcp") == 0) {
        *secure = false;
        r = rpc_client_connect_tcp(c, u.host, u.port ? u.port : "16509", err);
    } else if (strcmp(u.transport, "tls") == 0) {
        r = open_tls(&u, o, c, fail, err);
    } else {
        r = open_ssh(&u, c, o->ro, err);
    }
    *host = xstrdup(strcmp(u.transport, "unix") == 0 ? "localhost" : u.host);
    ruri_free(&u);
    return r < 0 ? -1 : 0;
}
