/*
 * migrate.c - libvireo's migration API: virDomainMigrate3 as libvirt's
 * client drives it (protocol v3 with extensible parameters: Begin on the
 * source, Prepare on the destination, Perform, Finish, Confirm, the cookies
 * passed from each phase to the next), virDomainMigrateToURI3 for
 * peer-to-peer, the tunables and the job statistics. The phases themselves
 * are driver calls (driver.h); this file only orders them and decides, as
 * libvirt does, which side keeps the domain when a phase fails.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/driver.h"
#include "util/mem.h"

/* A growable copy of the caller's parameters, so phases can set their own. */
struct params {
    vir_typed_parameter *v;
    int n;
};

static void params_copy(struct params *p, const vir_typed_parameter *in, int n)
{
    p->v = xcalloc((size_t)n + 4, sizeof(*p->v));
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->v[i] = in[i];
        if (in[i].type == VIR_TYPED_PARAM_STRING)
            p->v[i].value.s = xstrdup(in[i].value.s ? in[i].value.s : "");
    }
}

static const char *params_get_string(const struct params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].field, name) && p->v[i].type == VIR_TYPED_PARAM_STRING)
            return p->v[i].value.s;
    return NULL;
}

static void params_set_string(struct params *p, const char *name, const char *value)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].field, name) && p->v[i].type == VIR_TYPED_PARAM_STRING) {
            free(p->v[i].value.s);
            p->v[i].value.s = xstrdup(value);
            return;
        }
    p->v = xrealloc(p->v, ((size_t)p->n + 1) * sizeof(*p->v));
    memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
    strncpy(p->v[p->n].field, name, VIR_TYPED_PARAM_FIELD_LENGTH - 1);
    p->v[p->n].type = VIR_TYPED_PARAM_STRING;
    p->v[p->n].value.s = xstrdup(value);
    p->n++;
}

void vir_typed_params_free(vir_typed_parameter *params, int nparams)
{
    for (int i = 0; params && i < nparams; i++)
        if (params[i].type == VIR_TYPED_PARAM_STRING)
            free(params[i].value.s);
    free(params);
}

#define NEED(conn, op, api, ret)                                                                   \
    do {                                                                                           \
        if (!(conn)->driver->op) {                                                                 \
            vir_report(err, VIR_ERR_NO_SUPPORT, "%s", api);                                        \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK(dom, ret)                                                                            \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(dom) || !(dom)->conn) {                                                              \
            vir_report(err, VIR_ERR_INVALID_DOMAIN, "%s", __func__);                               \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

vir_domain *vir_domain_migrate3(vir_domain *dom, vir_connect *dconn,
                                const vir_typed_parameter *params, int nparams, unsigned int flags,
                                vir_error *err)
{
    CHECK(dom, NULL);
    if (!dconn) {
        vir_report(err, VIR_ERR_INVALID_CONN, "%s", "vir_domain_migrate3");
        return NULL;
    }
    if (flags & VIR_MIGRATE_PEER2PEER) {
        vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                   "use vir_domain_migrate_to_uri3 for a peer-to-peer migration");
        return NULL;
    }
    if (flags & VIR_MIGRATE_CHANGE_PROTECTION) { /* libvirt's client, for a driver without it */
        vir_report(err, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s", "cannot enforce change protection");
        return NULL;
    }
    const struct vir_driver *sd = dom->conn->driver, *dd = dconn->driver;
    if (!sd->migrate_begin3 || !sd->migrate_perform3 || !sd->migrate_confirm3 ||
        !dd->migrate_prepare3 || !dd->migrate_finish3) {
        vir_report(err, VIR_ERR_NO_SUPPORT, "%s", "virDomainMigrate3");
        return NULL;
    }
    struct params p;
    params_copy(&p, params, nparams);
    uint8_t *cookie = NULL;
    uint32_t cookie_len = 0;
    vir_domain *ddom = NULL;
    char *xml = sd->migrate_begin3(dom, p.v, p.n, &cookie, &cookie_len, flags, err);
    if (!xml)
        goto out;
    /* A paused source stays paused on the destination, as libvirt's client arranges (not for
     * a post-copy recovery: the source is paused (post-copy failed), the guest runs there). */
    if (!(flags & (VIR_MIGRATE_OFFLINE | VIR_MIGRATE_POSTCOPY_RESUME)) && sd->get_state) {
        int state = 0, reason = 0;
        vir_error e2;
        if (sd->get_state(dom, &state, &reason, 0, &e2) == 0 && state == VIR_DOMAIN_PAUSED)
            flags |= VIR_MIGRATE_PAUSED;
    }
    unsigned destflags =
        flags & ~(unsigned)(VIR_MIGRATE_ABORT_ON_ERROR | VIR_MIGRATE_AUTO_CONVERGE);
    params_set_string(&p, VIR_MIGRATE_PARAM_DEST_XML, xml);
    free(xml);
    uint8_t *cookie2 = NULL;
    uint32_t cookie2_len = 0;
    char *uri_out = NULL;
    int r = dd->migrate_prepare3(dconn, p.v, p.n, cookie, cookie_len, &cookie2, &cookie2_len,
                                 &uri_out, destflags, err);
    free(cookie);
    cookie = NULL;
    cookie_len = 0; /* a Perform that fails gives no cookie: Finish must not send Begin's */
    if (r < 0)
        goto out; /* nothing changed anywhere: the source runs on */
    if (uri_out)
        params_set_string(&p, VIR_MIGRATE_PARAM_URI, uri_out);
    free(uri_out);
    int cancelled = 0;
    vir_error perform_err;
    vir_error_reset(&perform_err);
    if (!params_get_string(&p, VIR_MIGRATE_PARAM_URI)) {
        vir_report(&perform_err, VIR_ERR_INTERNAL_ERROR, "%s",
                   "domainMigratePrepare3 did not set uri");
        cancelled = 1;
    } else if (!(flags & VIR_MIGRATE_OFFLINE)) {
        cancelled = sd->migrate_perform3(dom, NULL, p.v, p.n, cookie2, cookie2_len, &cookie,
                                         &cookie_len, flags, &perform_err) < 0;
    }
    free(cookie2);
    if (!params_get_string(&p, VIR_MIGRATE_PARAM_DEST_NAME))
        params_set_string(&p, VIR_MIGRATE_PARAM_DEST_NAME, dom->name);
    uint8_t *cookie3 = NULL;
    uint32_t cookie3_len = 0;
    vir_error finish_err;
    vir_error_reset(&finish_err);
    ddom = dd->migrate_finish3(dconn, p.v, p.n, cookie, cookie_len, &cookie3, &cookie3_len,
                               destflags, cancelled, &finish_err);
    free(cookie);
    cookie = NULL;
    if (cancelled) {
        /* libvirt: Finish's error replaces "migration failed" when it says more. */
        bool better = !ddom && perform_err.code == VIR_ERR_OPERATION_FAILED && finish_err.code &&
                      finish_err.code != VIR_ERR_MIGRATE_FINISH_OK;
        *err = better ? finish_err : perform_err;
    } else if (!ddom) {
        *err = finish_err;
    }
    vir_error confirm_err;
    int conf = sd->migrate_confirm3(dom, p.v, p.n, cookie3, cookie3_len, flags, ddom == NULL,
                                    &confirm_err);
    free(cookie3);
    if (conf < 0 && ddom && !err->code)
        *err = confirm_err; /* the guest runs on the destination; the source kept its copy */
out:
    free(cookie);
    vir_typed_params_free(p.v, p.n);
    return ddom;
}

int vir_domain_migrate_to_uri3(vir_domain *dom, const char *dconnuri,
                               const vir_typed_parameter *params, int nparams, unsigned int flags,
                               vir_error *err)
{
    CHECK(dom, -1);
    if (!(flags & VIR_MIGRATE_PEER2PEER))
        return vir_report(err, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                          "direct migration is not supported by the connection driver");
    if (!dconnuri)
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "dconnuri in virDomainMigrateToURI3 must not be NULL");
    NEED(dom->conn, migrate_perform3, "virDomainMigrateToURI3", -1);
    return dom->conn->driver->migrate_perform3(dom, dconnuri, params, nparams, NULL, 0, NULL, NULL,
                                               flags, err);
}

int vir_domain_migrate_set_max_downtime(vir_domain *dom, unsigned long long ms, unsigned int flags,
                                        vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, migrate_set_max_downtime, "virDomainMigrateSetMaxDowntime", -1);
    return dom->conn->driver->migrate_set_max_downtime(dom, ms, flags, err);
}

int vir_domain_migrate_get_max_downtime(vir_domain *dom, unsigned long long *ms, unsigned int flags,
                                        vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, migrate_get_max_downtime, "virDomainMigrateGetMaxDowntime", -1);
    return dom->conn->driver->migrate_get_max_downtime(dom, ms, flags, err);
}

int vir_domain_migrate_set_max_speed(vir_domain *dom, unsigned long bandwidth, unsigned int flags,
                                     vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, migrate_set_max_speed, "virDomainMigrateSetMaxSpeed", -1);
    return dom->conn->driver->migrate_set_max_speed(dom, bandwidth, flags, err);
}

int vir_domain_migrate_get_max_speed(vir_domain *dom, unsigned long *bandwidth, unsigned int flags,
                                     vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, migrate_get_max_speed, "virDomainMigrateGetMaxSpeed", -1);
    return dom->conn->driver->migrate_get_max_speed(dom, bandwidth, flags, err);
}

int vir_domain_get_job_stats(vir_domain *dom, int *type, vir_typed_parameter **params, int *nparams,
                             unsigned int flags, vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, get_job_stats, "virDomainGetJobStats", -1);
    return dom->conn->driver->get_job_stats(dom, type, params, nparams, flags, err);
}

int vir_domain_abort_job(vir_domain *dom, vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, abort_job, "virDomainAbortJob", -1);
    return dom->conn->driver->abort_job(dom, err);
}

int vir_domain_migrate_start_post_copy(vir_domain *dom, unsigned int flags, vir_error *err)
{
    CHECK(dom, -1);
    NEED(dom->conn, migrate_start_post_copy, "virDomainMigrateStartPostCopy", -1);
    return dom->conn->driver->migrate_start_post_copy(dom, flags, err);
}
