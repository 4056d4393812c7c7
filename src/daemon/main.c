/*
 * main.c - vireod's command line, configuration file and start-up.
 *
 * The options are libvirtd's (-d, -f, -p, -l, -t, -v, --version) plus
 * --root, which puts every path of one daemon under one directory so that
 * tests and several daemons on a host never meet. The configuration file
 * takes the libvirtd.conf keys that apply (unix_sock_dir, unix_sock_group,
 * unix_sock_rw_perms, unix_sock_ro_perms, max_clients, log_level,
 * log_outputs, and for remote access listen_tls, listen_tcp, listen_addr,
 * tls_port, tcp_port, key_file, cert_file, ca_file, crl_file,
 * tls_no_verify_certificate, tls_allowed_dn_list, tls_priority, auth_tcp,
 * auth_tls, auth_unix_rw, auth_unix_ro, sasl_allowed_username_list,
 * max_anonymous_clients, max_client_requests) and qemu.conf's that apply
 * (seccomp_sandbox, user, group, dynamic_ownership, namespaces, vnc_tls,
 * vnc_tls_x509_cert_dir, vnc_tls_x509_verify, default_tls_x509_cert_dir,
 * default_tls_x509_verify, migrate_tls_x509_cert_dir, migrate_tls_x509_verify,
 * memory_backing_dir); others are ignored
 * with a warning, as a libvirtd.conf written for libvirtd may carry many.
 *
 * TLS files follow libvirt's layout: /etc/pki/CA/cacert.pem,
 * /etc/pki/CA/cacrl.pem, /etc/pki/libvirt/servercert.pem and
 * /etc/pki/libvirt/private/serverkey.pem for the system daemon, the same
 * under DIR/etc/pki with --root, and ~/.pki/libvirt/ for a session daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/firmware-select.h"
#include "daemon/cgroup.h"
#include "daemon/domain.h"
#include "daemon/network.h"
#include "daemon/sasl.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/storage.h"
#include "tls/tls-server.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: vireod [OPTION]...\n"
               "The Vireo management daemon: keeps domain definitions, runs vireo-vmm\n"
               "processes and serves the libvirt remote protocol on UNIX sockets (and\n"
               "with -l on TLS and TCP, as libvirtd).\n\n"
               "  -d, --daemon           run in the background\n"
               "  -f, --config FILE      configuration file (libvirtd.conf keys)\n"
               "  -p, --pid-file FILE    write the daemon's pid to FILE\n"
               "  -l, --listen           listen for TCP connections (listen_tls, listen_tcp)\n"
               "  -t, --timeout SECS     exit after SECS idle (no clients, no running VM)\n"
               "      --root DIR         keep every path (config, store, state, logs,\n"
               "                         sockets DIR/vireo-sock and DIR/vireo-sock-ro) under DIR\n"
               "  -v, --verbose          verbose logging\n"
               "  -V, --version          print the version and exit\n"
               "  -h, --help             this help\n");
}

static int mkdir_p(const char *path, mode_t mode, struct verr *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            int r = verr_errno(err, errno, "cannot create directory %s", p);
            free(p);
            return r;
        }
        *s = '/';
    }
    int r = 0;
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        r = verr_errno(err, errno, "cannot create directory %s", p);
    free(p);
    return r;
}

static char *unquote(char *v)
{
    size_t l = strlen(v);
    if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0]) {
        v[l - 1] = 0;
        return v + 1;
    }
    return v;
}

/* A list value: ["a", "b"] (the caller has joined its lines). */
static int parse_list(char *v, char ***out, size_t *n, struct verr *err, const char *what)
{
    for (size_t i = 0; i < *n; i++)
        free((*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    v += strspn(v, " \t");
    if (*v != '[')
        return verr_set(err, EINVAL, "%s: expected a list [\"...\", ...]", what);
    v++;
    for (;;) {
        v += strspn(v, " \t\r\n,");
        if (*v == ']')
            return 0;
        char q = *v;
        if (q != '"' && q != '\'')
            return verr_set(err, EINVAL, "%s: expected a quoted string in the list", what);
        char *end = strchr(v + 1, q);
        if (!end)
            return verr_set(err, EINVAL, "%s: unterminated string in the list", what);
        *out = xrealloc(*out, (*n + 1) * sizeof(char *));
        (*out)[(*n)++] = xasprintf("%.*s", (int)(end - v - 1), v + 1);
        v = end + 1;
    }
}

static int parse_auth(const char *v, enum vd_auth *out)
{
    if (strcmp(v, "none") == 0)
        *out = VD_AUTH_NONE;
    else if (strcmp(v, "sasl") == 0)
        *out = VD_AUTH_SASL;
    else
        return -1;
    return 0;
}

/* libvirtd.conf's syntax for the keys used here: key = "string" | number | [list]. */
static int load_config(struct vd_daemon *d, const char *path, char **sock_dir, char **log_outputs,
                       struct verr *err)
{
    struct buf b = BUF_INIT;
    int r = file_read_all(path, 1 << 20, &b, err);
    if (r < 0)
        return r;
    buf_append(&b, "", 1);
    char *save = NULL;
    unsigned lineno = 0;
    bool group_given = false;
    for (char *line = strtok_r((char *)b.data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line += strspn(line, " \t");
        if (!*line || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            r = verr_set(err, EINVAL, "%s: line %u: expected 'key = value'", path, lineno);
            break;
        }
        *eq = 0;
        char *key = line, *val = eq + 1;
        for (char *e = eq - 1; e >= key && (*e == ' ' || *e == '\t'); e--)
            *e = 0;
        val += strspn(val, " \t");
        for (char *e = val + strlen(val);
             e > val && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r');)
            *--e = 0;
        /* A list may go on over several lines, up to its ']'. */
        char *joined = NULL;
        if (*val == '[' && !strchr(val, ']')) {
            joined = xstrdup(val);
            char *more;
            while (!strchr(joined, ']') && (more = strtok_r(NULL, "\n", &save))) {
                lineno++;
                char *j = xasprintf("%s %s", joined, more);
                free(joined);
                joined = j;
            }
            val = joined;
        }
        val = unquote(val);
        uint64_t n;
        const char *tls_keys[] = {"key_file", "cert_file", "ca_file", "crl_file", "tls_priority"};
        char **tls_slots[] = {&d->tls_cfg->key_file, &d->tls_cfg->cert_file, &d->tls_cfg->ca_file,
                              &d->tls_cfg->crl_file, &d->tls_cfg->priority};
        char **tls_slot = NULL; /* one of the file names or tls_priority */
        for (size_t i = 0; i < 5; i++)
            if (strcmp(key, tls_keys[i]) == 0)
                tls_slot = tls_slots[i];
        if (tls_slot) {
            free(*tls_slot);
            *tls_slot = xstrdup(val);
        } else if (strcmp(key, "libvirt_sockets") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n > 1) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not 0 or 1", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            d->libvirt_sockets = n;
        } else if (strcmp(key, "listen_tls") == 0 || strcmp(key, "listen_tcp") == 0 ||
                   strcmp(key, "tls_no_verify_certificate") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n > 1) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not 0 or 1", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            if (key[0] == 't')
                d->tls_cfg->no_verify = n;
            else if (key[8] == 'l')
                d->listen_tls = n;
            else
                d->listen_tcp = n;
        } else if (strcmp(key, "vnc_tls") == 0 || strcmp(key, "vnc_tls_x509_verify") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n > 1) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not 0 or 1", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            if (strcmp(key, "vnc_tls") == 0)
                d->vnc_tls = n;
            else
                d->vnc_tls_verify = n;
        } else if (strcmp(key, "default_tls_x509_verify") == 0 ||
                   strcmp(key, "migrate_tls_x509_verify") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n > 1) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not 0 or 1", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            if (key[0] == 'd')
                d->default_tls_verify = (int)n;
            else
                d->migrate_tls_verify = (int)n;
        } else if (strcmp(key, "default_tls_x509_cert_dir") == 0 ||
                   strcmp(key, "migrate_tls_x509_cert_dir") == 0) {
            char **dir = key[0] == 'd' ? &d->default_tls_dir : &d->migrate_tls_dir;
            free(*dir);
            *dir = *val ? xstrdup(val) : NULL;
        } else if (strcmp(key, "vnc_tls_x509_cert_dir") == 0) {
            free(d->vnc_tls_dir);
            d->vnc_tls_dir = *val ? xstrdup(val) : NULL;
        } else if (strcmp(key, "memory_backing_dir") == 0) {
            if (val[0] != '/') {
                r = verr_set(err, EINVAL,
                             "%s: line %u: memory_backing_dir: '%s' is not an "
                             "absolute path",
                             path, lineno, val);
                free(joined);
                break;
            }
            free(d->memory_dir);
            d->memory_dir = xstrdup(val);
        } else if (strcmp(key, "listen_addr") == 0) {
            free(d->listen_addr);
            d->listen_addr = *val ? xstrdup(val) : NULL;
        } else if (strcmp(key, "tls_port") == 0 || strcmp(key, "tcp_port") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n == 0 || n > 65535) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not a port", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            char **slot = key[1] == 'l' ? &d->tls_port : &d->tcp_port;
            free(*slot);
            *slot = xstrdup(val);
        } else if (strncmp(key, "auth_", 5) == 0 &&
                   (strcmp(key, "auth_tcp") == 0 || strcmp(key, "auth_tls") == 0 ||
                    strcmp(key, "auth_unix_rw") == 0 || strcmp(key, "auth_unix_ro") == 0)) {
            enum vd_auth *slot = strcmp(key, "auth_tcp") == 0       ? &d->auth_tcp
                                 : strcmp(key, "auth_tls") == 0     ? &d->auth_tls
                                 : strcmp(key, "auth_unix_rw") == 0 ? &d->auth_unix_rw
                                                                    : &d->auth_unix_ro;
            if (parse_auth(val, slot) < 0) {
                r = verr_set(err, EINVAL,
                             "%s: line %u: %s: '%s' is not supported (vireod has \"none\" and "
                             "\"sasl\"; not polkit)",
                             path, lineno, key, val);
                free(joined);
                break;
            }
        } else if (strcmp(key, "tls_allowed_dn_list") == 0 ||
                   strcmp(key, "sasl_allowed_username_list") == 0) {
            char *what = xasprintf("%s: line %u: %s", path, lineno, key);
            if (key[0] == 't')
                r = parse_list(val, &d->tls_cfg->allowed_dn, &d->tls_cfg->n_allowed_dn, err, what);
            else {
                r = parse_list(val, &d->sasl_allowed, &d->n_sasl_allowed, err, what);
                d->sasl_allowed_set = true;
            }
            free(what);
            if (r < 0) {
                free(joined);
                break;
            }
        } else if (strcmp(key, "max_anonymous_clients") == 0 ||
                   strcmp(key, "max_client_requests") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n == 0 || n > 100000) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not a count", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            if (key[4] == 'a')
                d->max_anonymous = (unsigned)n;
            else
                d->max_requests = (unsigned)n;
        } else if (strcmp(key, "unix_sock_dir") == 0) {
            free(*sock_dir);
            *sock_dir = xstrdup(val);
        } else if (strcmp(key, "unix_sock_rw_perms") == 0 ||
                   strcmp(key, "unix_sock_ro_perms") == 0) {
            if (str_to_u64(val, 8, &n) < 0 || n > 0777) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not an octal mode", path,
                             lineno, key, val);
                break;
            }
            if (key[11] == 'w') /* unix_sock_rw_perms */
                d->rw_perms = (unsigned)n;
            else
                d->ro_perms = (unsigned)n;
        } else if (strcmp(key, "max_clients") == 0) {
            if (str_to_u64(val, 10, &n) < 0 || n == 0 || n > 100000) {
                r = verr_set(err, EINVAL, "%s: line %u: max_clients: '%s' is not a count", path,
                             lineno, val);
                break;
            }
            d->max_clients = (unsigned)n;
        } else if (strcmp(key, "log_level") == 0) {
            /* libvirt: 1 debug, 2 info, 3 warning, 4 error */
            static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
            if (str_to_u64(val, 10, &n) < 0 || n < 1 || n > 4) {
                r = verr_set(err, EINVAL, "%s: line %u: log_level: '%s' is not 1-4", path, lineno,
                             val);
                break;
            }
            log_set_level(levels[n - 1]);
        } else if (strcmp(key, "unix_sock_group") == 0) {
            struct group gr, *res = NULL;
            char gbuf[4096];
            if (str_to_u64(val, 10, &n) == 0 && n < 0x7fffffff) {
                d->sock_gid = (long)n;
            } else if (getgrnam_r(val, &gr, gbuf, sizeof(gbuf), &res) == 0 && res) {
                d->sock_gid = (long)res->gr_gid;
            } else {
                r = verr_set(err, EINVAL, "%s: line %u: unix_sock_group: no group '%s'", path,
                             lineno, val);
                break;
            }
        } else if (strcmp(key, "seccomp_sandbox") == 0 || strcmp(key, "dynamic_ownership") == 0) {
            /* qemu.conf's: seccomp_sandbox also takes -1 (libvirt: "unset", which is on) */
            int64_t v;
            if (str_to_i64(val, 10, &v) < 0 || v < (key[0] == 's' ? -1 : 0) || v > 1) {
                r = verr_set(err, EINVAL, "%s: line %u: %s: '%s' is not 0 or 1", path, lineno, key,
                             val);
                free(joined);
                break;
            }
            if (key[0] == 's')
                d->seccomp_sandbox = v != 0;
            else
                d->dac.dynamic_ownership = v != 0;
        } else if (strcmp(key, "user") == 0 || strcmp(key, "group") == 0) {
            /* qemu.conf's user/group: the VMs' uid and gid; the user's primary group
             * unless group is given */
            struct verr e = {0};
            long gid = -1;
            if (key[0] == 'u' ? vd_dac_parse_user(val, &d->dac.uid, &gid, &e) < 0
                              : vd_dac_parse_group(val, &d->dac.gid, &e) < 0) {
                r = verr_set(err, e.code, "%s: line %u: %s", path, lineno, verr_msg(&e));
                free(joined);
                break;
            }
            if (key[0] == 'u' && !group_given)
                d->dac.gid = gid;
            if (key[0] == 'g')
                group_given = true;
        } else if (strcmp(key, "namespaces") == 0) {
            /* qemu.conf's namespaces: libvirt knows "mount" only (vmm-namespace.h) */
            char **names = NULL;
            size_t nnames = 0;
            char *what = xasprintf("%s: line %u: %s", path, lineno, key);
            r = parse_list(val, &names, &nnames, err, what);
            free(what);
            d->ns_mount = false;
            for (size_t i = 0; r == 0 && i < nnames; i++) {
                if (strcmp(names[i], "mount") != 0)
                    r = verr_set(err, EINVAL, "%s: line %u: Unknown namespace: %s", path, lineno,
                                 names[i]);
                else if (geteuid() != 0)
                    r = verr_set(err, ENOTSUP, "%s: line %u: cannot use namespaces in session mode",
                                 path, lineno);
                else if (access("/proc/self/ns/mnt", F_OK) < 0)
                    r = verr_set(err, ENOTSUP, "%s: line %u: %s namespace is not available", path,
                                 lineno, names[i]);
                else
                    d->ns_mount = true;
            }
            for (size_t i = 0; i < nnames; i++)
                free(names[i]);
            free(names);
            if (r < 0) {
                free(joined);
                break;
            }
        } else if (strcmp(key, "log_outputs") == 0) {
            free(*log_outputs);
            *log_outputs = xstrdup(val);
        } else {
            log_warn("%s: line %u: '%s' is not used by vireod", path, lineno, key);
        }
        free(joined);
    }
    buf_free(&b);
    if (r == 0 && d->dac.uid >= 0 && d->dac.gid < 0)
        r = verr_set(err, EINVAL, "%s: user: a numeric user needs group too", path);
    return r;
}

/* vireo-vmm: $VIREO_VMM, next to vireod in the build tree, or the bindir. */
static char *find_vmm(void)
{
    const char *env = getenv("VIREO_VMM");
    if (env && *env)
        return xstrdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *dir = dirname(self);
        char *cand = xasprintf("%s/../vmm/vireo-vmm", dir);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
        cand = xasprintf("%s/vireo-vmm", dir);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
    }
    return xstrdup(VIREO_BINDIR "/vireo-vmm");
}

static void on_quit_signal(struct loop *loop, int signo, void *opaque)
{
    (void)opaque;
    log_info("signal %d: exiting (running VMs keep running)", signo);
    loop_quit(loop);
}

static void on_idle_check(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)t;
    struct vd_daemon *d = opaque;
    if (d->nclients || vd_any_running(d)) {
        d->idle_since_ns = monotonic_ns();
        return;
    }
    if (monotonic_ns() - d->idle_since_ns >= (uint64_t)d->timeout_s * 1000000000ull) {
        log_info("idle for %d s: exiting", d->timeout_s);
        loop_quit(loop);
    }
}

static void paths_free(struct vd_daemon *d)
{
    free(d->root);
    if (d->cgroups)
        vd_cgroups_free(d->cgroups);
    free(d->cgroups);
    free(d->domain_dir);
    free(d->save_dir);
    free(d->snapshot_dir);
    free(d->nvram_dir);
    free(d->memory_dir);
    free(d->autostart_dir);
    free(d->run_dir);
    free(d->log_dir);
    free(d->sock_path);
    free(d->sock_ro_path);
    free(d->pid_file);
    free(d->vmm_path);
    free(d->network_dir);
    free(d->secret_dir);
    free(d->network_autostart_dir);
    free(d->network_run_dir);
    free(d->listen_addr);
    free(d->vnc_tls_dir);
    free(d->default_tls_dir);
    free(d->migrate_tls_dir);
    free(d->tls_port);
    free(d->tcp_port);
    free(d->sasl_conf_dir);
    for (size_t i = 0; i < d->n_sasl_allowed; i++)
        free(d->sasl_allowed[i]);
    free(d->sasl_allowed);
    struct tls_server_config *t = d->tls_cfg;
    if (t) {
        free(t->ca_file);
        free(t->cert_file);
        free(t->key_file);
        free(t->crl_file);
        free(t->priority);
        for (size_t i = 0; i < t->n_allowed_dn; i++)
            free(t->allowed_dn[i]);
        free(t->allowed_dn);
        free(t);
    }
    tls_server_free(d->tls);
    vd_sasl_free(d->sasl);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
}

/* libvirt's places for the TLS files and the SASL config, where the
 * configuration file did not name them. */
static void remote_defaults(struct vd_daemon *d)
{
    struct tls_server_config *t = d->tls_cfg;
    char *ca_dir, *lv_dir, *key_dir;
    if (d->root || geteuid() == 0) {
        const char *r = d->root ? d->root : "";
        ca_dir = xasprintf("%s/etc/pki/CA", r);
        lv_dir = xasprintf("%s/etc/pki/libvirt", r);
        key_dir = xasprintf("%s/etc/pki/libvirt/private", r);
        if (!d->sasl_conf_dir)
            d->sasl_conf_dir = xasprintf("%s/etc/sasl2", r);
    } else {
        const char *home = getenv("HOME") ? getenv("HOME") : "/";
        ca_dir = xasprintf("%s/.pki/libvirt", home);
        lv_dir = xstrdup(ca_dir);
        key_dir = xstrdup(ca_dir);
        if (!d->sasl_conf_dir)
            d->sasl_conf_dir = xstrdup("/etc/sasl2");
    }
    if (!d->vnc_tls_dir) /* qemu.conf's default, under --root as the other pki paths */
        d->vnc_tls_dir = xasprintf("%s/etc/pki/libvirt-vnc", d->root ? d->root : "");
    if (!d->default_tls_dir)
        d->default_tls_dir = xasprintf("%s/etc/pki/qemu", d->root ? d->root : "");
    if (!d->migrate_tls_dir)
        d->migrate_tls_dir = xstrdup(d->default_tls_dir);
    if (d->default_tls_verify < 0)
        d->default_tls_verify = 1;
    if (d->migrate_tls_verify < 0)
        d->migrate_tls_verify = d->default_tls_verify;
    if (!t->ca_file)
        t->ca_file = xasprintf("%s/cacert.pem", ca_dir);
    if (!t->crl_file)
        t->crl_file = xasprintf("%s/cacrl.pem", ca_dir);
    if (!t->cert_file)
        t->cert_file = xasprintf("%s/servercert.pem", lv_dir);
    if (!t->key_file)
        t->key_file = xasprintf("%s/serverkey.pem", key_dir);
    if (!d->tls_port)
        d->tls_port = xstrdup("16514");
    if (!d->tcp_port)
        d->tcp_port = xstrdup("16509");
    free(ca_dir);
    free(lv_dir);
    free(key_dir);
}

int main(int argc, char **argv)
{
    log_set_program("vireod");
    static const struct option opts[] = {
        {"daemon", no_argument, NULL, 'd'},         {"config", required_argument, NULL, 'f'},
        {"pid-file", required_argument, NULL, 'p'}, {"listen", no_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},  {"root", required_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct vd_daemon d = {.rw_perms = 0600,
                          .ro_perms = 0666,
                          .max_clients = 5000,
                          .lfd = -1,
                          .sock_gid = -1,
                          .lfd_ro = -1,
                          .lfd_lv = -1,
                          .lfd_lv_ro = -1,
                          .next_id = 1,
                          .listen_tls = true,
                          .auth_tcp = VD_AUTH_SASL,
                          .max_anonymous = 20,
                          .max_requests = 5,
                          .max_client_output = 4u << 20,
                          .lock_fd = -1,
                          .seccomp_sandbox = true,
                          .default_tls_verify = -1,
                          .migrate_tls_verify = -1,
                          /* libvirt's default for the system daemon: namespaces = [ "mount" ] */
                          .ns_mount = geteuid() == 0 && access("/proc/self/ns/mnt", F_OK) == 0,
                          .dac = {.uid = -1, .gid = -1, .dynamic_ownership = true}};
    bool daemonize = false;
    const char *config = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "df:p:lt:vVh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            daemonize = true;
            break;
        case 'f':
            config = optarg;
            break;
        case 'p':
            d.pid_file = xstrdup(optarg);
            break;
        case 'l':
            d.listen_tcp_opt = true;
            break;
        case 't': {
            uint64_t n;
            if (str_to_u64(optarg, 10, &n) < 0 || n > 86400 * 365) {
                fprintf(stderr, "vireod: --timeout: '%s' is not a number of seconds\n", optarg);
                return 2;
            }
            d.timeout_s = (int)n;
            break;
        }
        case 'R':
            d.root = xstrdup(optarg);
            break;
        case 'v':
            log_set_level(LOG_DEBUG);
            break;
        case 'V':
            printf("vireod (Vireo) %s\n", VIREO_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vireod: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* (after the options: --help, --version and the refusals above return at once) */
    d.tls_cfg = xcalloc(1, sizeof(*d.tls_cfg));

    char *sock_dir = NULL;
    struct verr err = {0};
    if (d.root) {
        if (d.root[0] != '/') {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd))) {
                perror("vireod: getcwd");
                return 1;
            }
            char *abs = xasprintf("%s/%s", cwd, d.root);
            free(d.root);
            d.root = abs;
        }
        d.domain_dir = xasprintf("%s/etc/domains", d.root);
        d.autostart_dir = xasprintf("%s/etc/autostart", d.root);
        d.run_dir = xasprintf("%s/run", d.root);
        d.log_dir = xasprintf("%s/log", d.root);
        d.save_dir = xasprintf("%s/lib/save", d.root);
        d.network_dir = xasprintf("%s/etc/networks", d.root);
        d.secret_dir = xasprintf("%s/etc/secrets", d.root);
        d.network_run_dir = xasprintf("%s/run-networks", d.root);
        d.snapshot_dir = xasprintf("%s/lib/snapshot", d.root);
        d.nvram_dir = xasprintf("%s/lib/nvram", d.root);
        d.memory_dir = xasprintf("%s/lib/ram", d.root);
        sock_dir = xstrdup(d.root);
    } else if (geteuid() == 0) {
        d.domain_dir = xstrdup("/etc/vireo/domains");
        d.autostart_dir = xstrdup("/etc/vireo/autostart");
        d.run_dir = xstrdup("/run/vireo/domains");
        d.log_dir = xstrdup("/var/log/vireo");
        d.save_dir = xstrdup("/var/lib/vireo/save");
        d.network_dir = xstrdup("/etc/vireo/networks");
        d.secret_dir = xstrdup("/etc/vireo/secrets");
        d.network_run_dir = xstrdup("/run/vireo/networks");
        d.snapshot_dir = xstrdup("/var/lib/vireo/snapshot");
        d.nvram_dir = xstrdup("/var/lib/libvirt/qemu/nvram"); /* libvirt's, as the XML says */
        d.memory_dir = xstrdup("/var/lib/vireo/ram");
        sock_dir = xstrdup("/run/vireo");
    } else {
        const char *home = getenv("HOME") ? getenv("HOME") : "/";
        const char *xc = getenv("XDG_CONFIG_HOME");
        const char *xr = getenv("XDG_RUNTIME_DIR");
        const char *xs = getenv("XDG_STATE_HOME");
        char *cfg = xc && *xc ? xstrdup(xc) : xasprintf("%s/.config", home);
        char *state = xs && *xs ? xstrdup(xs) : xasprintf("%s/.local/state", home);
        d.domain_dir = xasprintf("%s/vireo/domains", cfg);
        d.autostart_dir = xasprintf("%s/vireo/autostart", cfg);
        sock_dir = xr && *xr ? xasprintf("%s/vireo", xr) : xasprintf("/tmp/vireo-%d", getuid());
        d.run_dir = xasprintf("%s/domains", sock_dir);
        d.network_dir = xasprintf("%s/vireo/networks", cfg);
        d.secret_dir = xasprintf("%s/vireo/secrets", cfg);
        d.network_run_dir = xasprintf("%s/networks", sock_dir);
        d.log_dir = xasprintf("%s/vireo/log", state);
        d.save_dir = xasprintf("%s/vireo/save", state);
        d.snapshot_dir = xasprintf("%s/vireo/snapshot", state);
        d.nvram_dir = xasprintf("%s/vireo/nvram", state);
        d.memory_dir = xasprintf("%s/vireo/ram", state);
        free(cfg);
        free(state);
    }
    vd_firmware_set_root(d.root); /* firmware descriptors under DIR/etc/qemu/firmware first */
    char *log_spec = NULL;
    struct vd_log_outputs *log_outputs = NULL;
    if (config && load_config(&d, config, &sock_dir, &log_spec, &err) < 0) {
        fprintf(stderr, "vireod: %s\n", verr_msg(&err));
        goto config_failed;
    }
    if (log_spec) {
        int lr = vd_log_outputs_parse(log_spec, &log_outputs, &err);
        free(log_spec);
        log_spec = NULL;
        if (lr < 0) {
            fprintf(stderr, "vireod: %s: %s\n", config, verr_msg(&err));
            goto config_failed;
        }
        vd_log_outputs_install(log_outputs);
    }
    d.network_autostart_dir = xasprintf("%s/autostart", d.network_dir);
    remote_defaults(&d);
    d.sock_path = xasprintf("%s/vireo-sock", sock_dir);
    d.sock_ro_path = xasprintf("%s/vireo-sock-ro", sock_dir);
    if (d.root && !d.pid_file)
        d.pid_file = xasprintf("%s/vireod.pid", d.root);
    const char *dirs[] = {sock_dir,  d.domain_dir, d.autostart_dir, d.run_dir,
                          d.log_dir, d.save_dir,   d.snapshot_dir,  d.secret_dir};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdir_p(dirs[i], 0700, &err) < 0) {
            fprintf(stderr, "vireod: %s\n", verr_msg(&err));
            goto config_failed;
        }
    {
        /* Before any socket: a second daemon must not touch the first's. */
        char *lock_path = xasprintf("%s/vireod.lock", d.root ? d.root : sock_dir);
        int lr = vd_root_lock(&d, lock_path, &err);
        free(lock_path);
        if (lr < 0) {
            fprintf(stderr, "vireod: %s\n", verr_msg(&err));
            goto config_failed;
        }
    }
    free(sock_dir);
    sock_dir = NULL;
    d.vmm_path = find_vmm();
    signal(SIGPIPE, SIG_IGN);

    if (loop_new(&d.loop, &err) < 0) {
        fprintf(stderr, "vireod: %s\n", verr_msg(&err));
        goto config_failed;
    }
    if (vd_server_start(&d, &err) < 0) {
        fprintf(stderr, "vireod: %s\n", verr_msg(&err));
        vd_unlisten(&d);
        loop_free(d.loop);
        goto config_failed;
    }
    if (daemonize) {
        char *logpath = xasprintf("%s/vireod.log", d.log_dir);
        int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        free(logpath);
        if (lfd < 0 || daemon(0, 1) < 0) {
            perror("vireod: daemon");
            return 1;
        }
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        close(nul);
        close(lfd);
        vd_root_lock(&d, NULL, &err); /* the lock file names the daemon's new pid */
    }
    if (d.pid_file) {
        char pid[32];
        int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (file_replace_atomic(d.pid_file, pid, (size_t)n, 0644, &err) < 0)
            log_warn("%s", verr_msg(&err));
    }
    vd_store_init(&d);
    if (vd_store_load(&d, &err) < 0)
        log_error("%s", verr_msg(&err));
    if (vd_secrets_load(&d, &err) < 0) /* before any domain start that may need one */
        log_error("%s", verr_msg(&err));
    if (vd_networks_load(&d, &err) < 0)
        log_error("%s", verr_msg(&err));
    vd_networks_autostart(&d); /* before the domains that may use them */
    struct vd_storage storage = {0};
    vd_storage_init(&d, &storage);
    d.storage = &storage;
    vd_domain_reattach_all(&d);
    vd_domain_autostart_all(&d);
    loop_watch_signal(d.loop, SIGTERM, on_quit_signal, &d, &err);
    loop_watch_signal(d.loop, SIGINT, on_quit_signal, &d, &err);
    loop_watch_signal(d.loop, SIGHUP, on_quit_signal, &d, &err);
    struct loop_timer *idle = NULL;
    if (d.timeout_s) {
        idle = loop_timer_new(d.loop, on_idle_check, &d);
        loop_timer_arm(idle, 1000000000ull, 1000000000ull);
    }
    log_info("listening on %s and %s", d.sock_path, d.sock_ro_path);
    loop_run(d.loop);

    /* Running VMs are left running: the next daemon reattaches to them. A
     * start still under way is let finish (bounded by its QMP timeout), so
     * its VMM is recorded in the run dir and found by the next daemon. */
    while (d.workers)
        loop_run_once(d.loop, 100);
    loop_timer_free(idle);
    while (d.domains) {
        struct vd_domain *x = d.domains;
        d.domains = x->next;
        vd_domain_free(x);
    }
    vd_network_events_end(&d);
    vd_networks_free(&d); /* running networks stay up for the next daemon */
    vd_secret_events_end(&d);
    vd_secrets_free(&d);
    vd_storage_streams_end(&storage);
    vd_server_stop(&d);
    d.storage = NULL;
    vd_storage_fini(&storage);
    vd_index_free(&d);
    vd_store_fini(&d);
    loop_free(d.loop);
    if (d.pid_file)
        unlink(d.pid_file);
    paths_free(&d);
    if (log_outputs) {
        log_set_sink(NULL, NULL);
        vd_log_outputs_free(log_outputs);
    }
    return 0;

config_failed: /* before anything but paths, the log outputs (and a stopped loop) exist */
    free(sock_dir);
    free(log_spec);
    paths_free(&d);
    if (log_outputs) {
        log_set_sink(NULL, NULL);
        vd_log_outputs_free(log_outputs);
    }
    return 1;
}
