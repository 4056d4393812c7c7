/*
 * tls-creds.c - -object tls-creds-x509 (see tls-creds.h).
 */
#include "vmm/tls-creds.h"
#include "tls/tls-server.h"
#include "util/error.h"
#include "util/mem.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QOM_TYPE "tls-creds-x509"

bool tls_creds_spec_is(const char *optstr)
{
    size_t n = strcspn(optstr, ",");
    size_t len = strlen(QOM_TYPE);
    if (n == len && strncmp(optstr, QOM_TYPE, len) == 0)
        return true;
    return strncmp(optstr, "qom-type=" QOM_TYPE, 9 + len) == 0 &&
           (optstr[9 + len] == ',' || optstr[9 + len] == '\0');
}

void tls_creds_spec_free(struct tls_creds_spec *spec)
{
    free(spec->id);
    free(spec->dir);
    free(spec->priority);
    memset(spec, 0, sizeof(*spec));
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = xstrdup(v);
}

int tls_creds_spec_parse(const char *optstr, struct tls_creds_spec *spec, struct verr *err)
{
    *spec = (struct tls_creds_spec){.verify_peer = true};
    char *copy = xstrdup(optstr), *cursor = copy, *item;
    int r = 0;
    bool first = true;
    while (r == 0 && (item = cli_next_item(&cursor))) {
        const char *v;
        if (first && !strchr(item, '=')) {
            first = false;
            continue; /* "tls-creds-x509" */
        }
        first = false;
        if (cli_prop(item, "qom-type", &v)) {
            if (strcmp(v, QOM_TYPE) != 0)
                r = verr_set(err, EINVAL, "Parameter 'qom-type' does not accept value '%s'", v);
        } else if (cli_prop(item, "id", &v)) {
            set_str(&spec->id, v);
        } else if (cli_prop(item, "dir", &v)) {
            set_str(&spec->dir, v);
        } else if (cli_prop(item, "priority", &v)) {
            set_str(&spec->priority, v);
        } else if (cli_prop(item, "endpoint", &v)) {
            if (strcmp(v, "client") == 0 || strcmp(v, "server") == 0)
                spec->client = strcmp(v, "client") == 0;
            else
                r = verr_set(err, EINVAL, "Parameter 'endpoint' does not accept value '%s'", v);
        } else if (cli_prop(item, "verify-peer", &v)) {
            if (cli_parse_bool(v, &spec->verify_peer) < 0)
                r = verr_set(err, EINVAL, "Parameter 'verify-peer' expects 'on' or 'off'");
        } else if (cli_prop(item, "sanity-check", &v)) {
            bool on;
            if (cli_parse_bool(v, &on) < 0)
                r = verr_set(err, EINVAL, "Parameter 'sanity-check' expects 'on' or 'off'");
            /* the certificates are always checked as they load */
        } else {
            char *eq = strchr(item, '=');
            if (eq)
                *eq = '\0';
            r = verr_set(err, ENOTSUP, "Property '%s.%s' not found (or not supported by vireo-vmm)",
                         QOM_TYPE, item);
        }
    }
    if (r == 0 && !spec->id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    if (r == 0 && !spec->dir)
        r = verr_set(err, EINVAL, "tls-creds-x509 '%s': no directory (dir=) for the credentials",
                     spec->id);
    free(copy);
    if (r < 0)
        tls_creds_spec_free(spec);
    return r;
}

int tls_creds_load(const struct tls_creds_spec *spec, struct tls_server **out, struct verr *err)
{
    struct tls_server_config cfg = {
        .ca_file = xasprintf("%s/ca-cert.pem", spec->dir),
        .cert_file = xasprintf("%s/server-cert.pem", spec->dir),
        .key_file = xasprintf("%s/server-key.pem", spec->dir),
        .crl_file = xasprintf("%s/ca-crl.pem", spec->dir),
        .priority = spec->priority,
        .no_verify = !spec->verify_peer,
    };
    int r = tls_server_new(&cfg, out, err);
    if (r < 0)
        verr_prefix(err, "tls-creds-x509 '%s'", spec->id);
    free(cfg.ca_file);
    free(cfg.cert_file);
    free(cfg.key_file);
    free(cfg.crl_file);
    return r;
}
