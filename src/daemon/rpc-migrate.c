/*
 * rpc-migrate.c - the migration procedures: the five phases of libvirt's
 * protocol v3 with extensible parameters (Begin, Prepare, Perform, Finish,
 * Confirm), peer-to-peer migration (the source daemon as the destination's
 * client), the tunables (max downtime, max speed) and the domain job
 * (domjobinfo, domjobabort).
 *
 * Each phase's typed parameters become a struct vd_mig_args; a parameter
 * libvirt defines that Vireo cannot honour is refused with libvirt's words
 * ("parameter 'X' not supported"), never dropped. The phases that act on a
 * running domain are jobs (migrate.c); their replies carry the cookie, URI
 * or domain the job left in the arguments.
 *
 * Peer-to-peer: Perform with a dconnuri runs Begin here, Prepare on the
 * destination daemon, the stream, Finish there and Confirm here, as
 * libvirt's qemuMigrationSrcPerformPeer2Peer3 does. The calls to the
 * destination are made with the RPC client of src/rpc/ (what libvireo's
 * remote driver uses), blocking this daemon's loop while the destination
 * answers: Prepare is quick, and Finish comes after the stream, when the
 * destination's VMM has read it. The destination is any URI a client could
 * use (rpc/uri.h: qemu+unix, qemu+tls with this daemon's client certificate
 * under its --root or the URI's pkipath, qemu+ssh, qemu+tcp), and SASL is
 * answered from auth.conf only, as libvirtd does. TODO(#13): make the calls
 * on a thread (a TLS or ssh connection blocks the loop for its handshake).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/migrate.h"
#include "daemon/server.h"
#include "rpc/client-sasl.h"
#include "rpc/client.h"
#include "rpc/uri.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- parameters ---- */

/* libvirt's VIR_MIGRATE_PARAM_* names that Vireo has no way to honour yet. */
static const char *const refused_params[] = {
    "graphics_uri",
    "disks_uri",
    "migrate_disks_detect_zeroes",
    "compression",
    "compression.mt.level",
    "compression.mt.threads",
    "compression.mt.dthreads",
    "compression.xbzrle.cache",
    "compression.zlib.level",
    "compression.zstd.level",
    "auto_converge.initial",
    "auto_converge.increment",
    "tls.destination",
};

static int param_string(const struct remote_typed_param *p, char **out, struct verr *err)
{
    if (p->type != REMOTE_TYPED_PARAM_STRING)
        return verr_set(err, EINVAL, "invalid argument: invalid type for parameter '%s'", p->field);
    free(*out);
    *out = xstrdup(p->value.s ? p->value.s : "");
    return 0;
}

/* The call's parameters into a (flags set by the caller). */
static int parse_params(const struct remote_typed_param *params, uint32_t n, struct vd_mig_args *a,
                        int *code, struct verr *err)
{
    *code = VIR_ERR_INVALID_ARG;
    for (uint32_t i = 0; i < n; i++) {
        const struct remote_typed_param *p = &params[i];
        const char *f = p->field;
        int r = 0;
        if (!strcmp(f, "migrate_uri"))
            r = param_string(p, &a->uri, err);
        else if (!strcmp(f, "destination_name"))
            r = param_string(p, &a->dname, err);
        else if (!strcmp(f, "destination_xml"))
            r = param_string(p, &a->dest_xml, err);
        else if (!strcmp(f, "persistent_xml"))
            r = param_string(p, &a->persistent_xml, err);
        else if (!strcmp(f, "listen_address"))
            r = param_string(p, &a->listen_address, err);
        else if (!strcmp(f, "bandwidth")) {
            if (p->type != REMOTE_TYPED_PARAM_ULLONG)
                return verr_set(err, EINVAL,
                                "invalid argument: invalid type for parameter 'bandwidth'");
            a->bandwidth = p->value.ul;
        } else if (!strcmp(f, "bandwidth.postcopy")) { /* max-postcopy-bandwidth, MiB/s */
            if (p->type != REMOTE_TYPED_PARAM_ULLONG)
                return verr_set(err, EINVAL,
                                "invalid argument: invalid type for parameter "
                                "'bandwidth.postcopy'");
            if (p->value.ul > VD_MIGRATE_SPEED_MAX)
                return verr_set(err, ERANGE,
                                "invalid argument: bandwidth.postcopy must be less than %llu",
                                VD_MIGRATE_SPEED_MAX + 1);
            a->postcopy_bandwidth = p->value.ul;
        } else if (!strcmp(f, "migrate_disks")) { /* given once per disk */
            if (p->type != REMOTE_TYPED_PARAM_STRING)
                return verr_set(err, EINVAL,
                                "invalid argument: invalid type for parameter 'migrate_disks'");
            a->disks = xrealloc(a->disks, (a->ndisks + 1) * sizeof(char *));
            a->disks[a->ndisks++] = xstrdup(p->value.s ? p->value.s : "");
        } else if (!strcmp(f, "disks_port")) {
            if (p->type != REMOTE_TYPED_PARAM_INT)
                return verr_set(err, EINVAL,
                                "invalid argument: invalid type for parameter 'disks_port'");
            if (p->value.i < 0 || p->value.i > 65535)
                return verr_set(err, EINVAL, "invalid argument: disks_port %d is not a port",
                                p->value.i);
            a->disks_port = p->value.i;
        } else if (!strcmp(f, "parallel.connections")) {
            if (p->type != REMOTE_TYPED_PARAM_INT)
                return verr_set(err, EINVAL,
                                "invalid argument: invalid type for parameter "
                                "'parallel.connections'");
            /* libvirt passes it to QEMU, which refuses it in these words. */
            if (p->value.i < 1 || p->value.i > 255) {
                *code = VIR_ERR_INTERNAL_ERROR;
                return verr_set(err, EINVAL,
                                "internal error: unable to execute QEMU command "
                                "'migrate-set-parameters': Parameter 'multifd-channels' expects "
                                "is invalid, it should be in the range of 1 to 255");
            }
            a->parallel_connections = p->value.i;
        } else {
            bool known = false;
            for (size_t k = 0; k < sizeof(refused_params) / sizeof(refused_params[0]); k++)
                known |= !strcmp(refused_params[k], f);
            *code = VIR_ERR_ARGUMENT_UNSUPPORTED;
            (void)known; /* libvirt words both the same way */
            return verr_set(err, EINVAL, "argument unsupported: parameter '%s' not supported", f);
        }
        if (r < 0)
            return r;
    }
    if (a->parallel_connections && !(a->flags & VD_MIGRATE_PARALLEL))
        return verr_set(err, EINVAL, "invalid argument: Turn parallel migration on to tune it");
    return 0;
}

static struct vd_mig_args *args_new(const struct remote_typed_param *params, uint32_t n,
                                    unsigned flags, struct vd_call *c)
{
    struct vd_mig_args *a = xcalloc(1, sizeof(*a));
    a->flags = flags;
    int code;
    struct verr e = {0};
    if (parse_params(params, n, a, &code, &e) < 0) {
        vd_mig_args_free(a);
        vd_call_fail(c, code, "%s", verr_msg(&e));
        return NULL;
    }
    return a;
}

static void set_cookie(uint8_t **out, uint32_t *len, const char *cookie)
{
    if (!cookie)
        return;
    *len = (uint32_t)strlen(cookie) + 1; /* libvirt's cookies carry their NUL */
    *out = xmalloc(*len);
    memcpy(*out, cookie, *len);
}

/* ---- replies of the phases that are jobs ---- */

/* The reply of a phase that ran as a job: its cookie, and Finish's domain. */
static void fill_reply(struct vd_job *job, int proc, void *ret)
{
    struct vd_mig_args *a = job->mig;
    switch (proc) {
    case REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS: {
        /* Peer-to-peer: the client passed no cookie and takes none back. */
        struct remote_domain_migrate_perform3_params_ret *r = ret;
        if (!a->dconnuri)
            set_cookie(&r->cookie_out, &r->cookie_out_len, a->cookie_out);
        break;
    }
    case REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS: {
        struct remote_domain_migrate_prepare3_params_ret *r = ret;
        vd_migrate_prepared(job->dom, job->mig);
        r->uri_out = a->uri_out ? xstrdup(a->uri_out) : NULL;
        set_cookie(&r->cookie_out, &r->cookie_out_len, a->cookie_out);
        break;
    }
    case REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS: {
        struct remote_domain_migrate_finish3_params_ret *r = ret;
        vd_server_fill_dom(&r->dom, job->dom);
        set_cookie(&r->cookie_out, &r->cookie_out_len, a->cookie_out);
        break;
    }
    default:
        break;
    }
}

static int submit(struct vd_call *c, struct vd_domain *dom, const char *what, vd_job_fn run,
                  struct vd_mig_args *a)
{
    struct vd_job *job = vd_call_job_fill(c, dom, what, run, a->flags, fill_reply);
    job->mig = a;
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

/* ---- the phases ---- */

static int begin(struct vd_call *c)
{
    const struct remote_domain_migrate_begin3_params_args *in = c->args;
    struct vd_mig_args *a = args_new(in->params, in->params_len, in->flags, c);
    if (!a)
        return -1;
    int code;
    struct verr e = {0};
    if (vd_migrate_begin(c->dom, a, &code, &e) < 0) {
        vd_mig_args_free(a);
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    }
    struct remote_domain_migrate_begin3_params_ret *r = c->ret;
    r->xml = a->xml;
    a->xml = NULL;
    set_cookie(&r->cookie_out, &r->cookie_out_len, a->cookie_out);
    vd_mig_args_free(a);
    return 0;
}

static int prepare(struct vd_call *c)
{
    const struct remote_domain_migrate_prepare3_params_args *in = c->args;
    struct vd_mig_args *a = args_new(in->params, in->params_len, in->flags, c);
    if (!a)
        return -1;
    int code;
    struct verr e = {0};
    struct vd_domain *dom;
    bool start = false;
    if (in->cookie_in_len)
        a->cookie_in = xstrndup((const char *)in->cookie_in, in->cookie_in_len);
    a->client = c->client;
    if (vd_migrate_prepare(c->d, a, &dom, &start, &code, &e) < 0) {
        vd_mig_args_free(a);
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    }
    if (start) /* storage: the reply once the VMM and its NBD server run; post-copy recovery:
                * once the paused VMM listens again */
        return submit(c, dom, "migration prepare",
                      (a->flags & VD_MIGRATE_POSTCOPY_RESUME) ? vd_migrate_job_prepare_resume
                                                              : vd_migrate_job_prepare_start,
                      a);
    struct remote_domain_migrate_prepare3_params_ret *r = c->ret;
    r->uri_out = a->uri_out;
    a->uri_out = NULL;
    set_cookie(&r->cookie_out, &r->cookie_out_len, a->cookie_out);
    vd_mig_args_free(a);
    return 0;
}

static int finish(struct vd_call *c)
{
    const struct remote_domain_migrate_finish3_params_args *in = c->args;
    struct vd_mig_args *a = args_new(in->params, in->params_len, in->flags, c);
    if (!a)
        return -1;
    a->cancelled = in->cancelled != 0;
    if (in->cookie_in_len)
        a->cookie_in = xstrndup((const char *)in->cookie_in, in->cookie_in_len);
    if (!a->dname || !*a->dname) {
        vd_mig_args_free(a);
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: missing domain name");
    }
    if (a->flags & VD_MIGRATE_OFFLINE) { /* the definition alone moves */
        if (a->cancelled) {
            vd_mig_args_free(a);
            return vd_call_fail(c, VIR_ERR_MIGRATE_FINISH_OK, "migration successfully aborted");
        }
        const char *xml = a->persistent_xml ? a->persistent_xml : a->dest_xml;
        struct domain_def *def = NULL;
        struct verr e = {0};
        char *named = NULL;
        int r = xml ? domain_def_parse_string(xml, 0, &def, &e)
                    : verr_set(&e, EINVAL, "invalid argument: no domain XML passed");
        if (r == 0) {
            free(def->name);
            def->name = xstrdup(a->dname);
            named = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
            domain_def_free(def);
        }
        struct vd_domain *dom = NULL;
        if (r == 0)
            r = vd_domain_define(c->d, named, 0, &dom, &e);
        free(named);
        if (r < 0) {
            vd_mig_args_free(a);
            return vd_call_fail(c, VIR_ERR_MIGRATE_PERSIST_FAILED, "%s", verr_msg(&e));
        }
        struct remote_domain_migrate_finish3_params_ret *ret = c->ret;
        vd_server_fill_dom(&ret->dom, dom);
        set_cookie(&ret->cookie_out, &ret->cookie_out_len, "<qemu-migration/>\n");
        vd_mig_args_free(a);
        return 0;
    }
    struct vd_domain *dom = vd_domain_find_name(c->d, a->dname);
    if (!dom && a->cancelled) { /* the incoming start failed and took the domain with it */
        vd_mig_args_free(a);
        return vd_call_fail(c, VIR_ERR_MIGRATE_FINISH_OK, "migration successfully aborted");
    }
    if (!dom) {
        int r = vd_call_fail(c, VIR_ERR_NO_DOMAIN,
                             "Domain not found: no domain with matching name '%s'", a->dname);
        vd_mig_args_free(a);
        return r;
    }
    return submit(c, dom, "migration finish", vd_migrate_job_finish, a);
}

static int confirm(struct vd_call *c)
{
    const struct remote_domain_migrate_confirm3_params_args *in = c->args;
    struct vd_mig_args *a = args_new(in->params, in->params_len, in->flags, c);
    if (!a)
        return -1;
    a->cancelled = in->cancelled != 0;
    return submit(c, c->dom, "migration confirm", vd_migrate_job_confirm, a);
}

/* ---- peer-to-peer ---- */

struct p2p {
    struct vd_job *job;
    struct rpc_client client;
    struct rpc_sasl *sasl; /* the SASL session (and security layer) with the destination */
    bool connected;
    int code;
    char *message; /* the first failure */
};

static void p2p_end(struct p2p *p)
{
    if (p->connected) {
        struct rpc_error re = {0};
        struct verr e = {0};
        rpc_client_call(&p->client, REMOTE_PROC_CONNECT_CLOSE, NULL, NULL, &re, &e);
        rpc_error_free(&re);
        rpc_client_close(&p->client);
    }
    rpc_sasl_free(p->sasl);
    struct vd_job *job = p->job;
    if (p->message)
        vd_job_fail(job, p->code, "%s", p->message);
    else
        vd_job_done(job);
    free(p->message);
    free(p);
}

static void p2p_fail(struct p2p *p, int code, const char *message)
{
    if (!p->message) {
        p->code = code;
        p->message = xstrdup(message);
    }
}

/* One call to the destination; a failure is kept as the p2p's error. */
static int p2p_call(struct p2p *p, int proc, const void *args, void *ret)
{
    struct rpc_error re = {0};
    struct verr e = {0};
    int r = rpc_client_call(&p->client, proc, args, ret, &re, &e);
    if (r == -EREMOTEIO)
        p2p_fail(p, re.code ? re.code : VIR_ERR_OPERATION_FAILED,
                 re.message ? re.message : "unknown error");
    else if (r < 0) {
        char *m = xasprintf("operation failed: the destination daemon: %s", verr_msg(&e));
        p2p_fail(p, VIR_ERR_OPERATION_FAILED, m);
        free(m);
    }
    rpc_error_free(&re);
    return r;
}

/* The parameters the destination gets: what this call was given, and the XML. */
static struct remote_typed_param *dest_params(const struct vd_mig_args *a, const char *dname,
                                              uint32_t *n)
{
    struct remote_typed_param *v = xcalloc(9 + a->ndisks, sizeof(*v));
    uint32_t k = 0;
#define STR(name, val)                                                                             \
    if (val) {                                                                                     \
        v[k].field = xstrdup(name);                                                                \
        v[k].type = REMOTE_TYPED_PARAM_STRING;                                                     \
        v[k++].value.s = xstrdup(val);                                                             \
    }
    STR("destination_xml", a->xml);
    STR("destination_name", dname);
    STR("migrate_uri", a->uri);
    STR("persistent_xml", a->persistent_xml);
    STR("listen_address", a->listen_address);
    for (size_t i = 0; i < a->ndisks; i++)
        STR("migrate_disks", a->disks[i]);
#undef STR
    if (a->disks_port) {
        v[k].field = xstrdup("disks_port");
        v[k].type = REMOTE_TYPED_PARAM_INT;
        v[k++].value.i = a->disks_port;
    }
    if (a->parallel_connections) {
        v[k].field = xstrdup("parallel.connections");
        v[k].type = REMOTE_TYPED_PARAM_INT;
        v[k++].value.i = a->parallel_connections;
    }
    if (a->bandwidth) {
        v[k].field = xstrdup("bandwidth");
        v[k].type = REMOTE_TYPED_PARAM_ULLONG;
        v[k++].value.ul = a->bandwidth;
    }
    *n = k;
    return v;
}

static void free_params(struct remote_typed_param *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        remote_typed_param_free(&v[i]);
    free(v);
}

static void p2p_confirmed(void *opaque, int r, int code, const char *message)
{
    struct p2p *p = opaque;
    if (r < 0)
        p2p_fail(p, code, message);
    p2p_end(p);
}

static void p2p_performed(void *opaque, int r, int code, const char *message)
{
    struct p2p *p = opaque;
    struct vd_job *job = p->job;
    struct vd_mig_args *a = job->mig;
    if (r < 0)
        p2p_fail(p, code, message);
    const char *dname = a->dname && *a->dname ? a->dname : job->dom->def->name;
    struct remote_domain_migrate_finish3_params_args fa = {0};
    fa.params = dest_params(a, dname, &fa.params_len);
    fa.flags = a->flags & ~(unsigned)(VD_MIGRATE_ABORT_ON_ERROR | VD_MIGRATE_AUTO_CONVERGE);
    fa.cancelled = r < 0;
    set_cookie(&fa.cookie_in, &fa.cookie_in_len, a->cookie_out);
    struct remote_domain_migrate_finish3_params_ret fr = {0};
    int fr_r = p2p_call(p, REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS, &fa, &fr);
    free_params(fa.params, fa.params_len);
    free(fa.cookie_in);
    if (fr_r == 0)
        remote_domain_migrate_finish3_params_ret_free(&fr);
    /* Finish's answer decides: the destination runs it, or nobody there does. */
    a->cancelled = r < 0 || fr_r < 0;
    vd_migrate_confirm(job->dom, a, p2p_confirmed, p);
}

static void job_p2p(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_mig_args *a = job->mig;
    struct p2p *p = xcalloc(1, sizeof(*p));
    p->job = job;
    int code;
    struct verr e = {0};
    if (vd_migrate_begin(dom, a, &code, &e) < 0) {
        p2p_fail(p, code, verr_msg(&e));
        p2p_end(p);
        return;
    }
    char *sock = rpc_uri_unix_socket(a->dconnuri, false);
    bool same = sock && dom->daemon->sock_path && !strcmp(sock, dom->daemon->sock_path);
    free(sock);
    if (same) {
        p2p_fail(p, VIR_ERR_INVALID_ARG,
                 "invalid argument: Attempt to migrate guest to the same host");
        p2p_end(p);
        return;
    }
    /* Any URI a client could use, as libvirtd dials it; its own TLS files under --root. */
    struct rpc_uri_opts uo = {.pki_root = dom->daemon->root, .user_pki = !dom->daemon->root};
    enum rpc_uri_fail fail;
    char *host = NULL;
    bool secure;
    int r = rpc_uri_connect(a->dconnuri, &uo, &p->client, &host, &secure, &fail, &e);
    if (r < 0) {
        free(host);
        char *m = xasprintf("operation failed: Failed to connect to remote libvirt URI %s: %s",
                            a->dconnuri, verr_msg(&e));
        p2p_fail(p, fail == RPC_URI_AUTH ? VIR_ERR_AUTH_FAILED : VIR_ERR_OPERATION_FAILED, m);
        free(m);
        p2p_end(p);
        return;
    }
    p->connected = true;
    struct remote_connect_open_args oa = {.name = NULL, .flags = 0};
    struct remote_auth_list_ret auth = {0};
    if (p2p_call(p, REMOTE_PROC_AUTH_LIST, NULL, &auth) < 0) {
        remote_auth_list_ret_free(&auth);
        free(host);
        p2p_end(p);
        return;
    }
    if (auth.types_len && auth.types[0] == 1 /* REMOTE_AUTH_SASL */) {
        /* As libvirtd: the credentials only from auth.conf (LIBVIRT_AUTH_FILE, else
         * /etc/libvirt/auth.conf, under --root for a daemon run with one). */
        const char *env = getenv("LIBVIRT_AUTH_FILE");
        char *file = env && *env         ? xstrdup(env)
                     : dom->daemon->root ? xasprintf("%s/etc/libvirt/auth.conf", dom->daemon->root)
                                         : NULL;
        struct rpc_sasl_opts so = {.auth_file = file};
        int scode;
        r = rpc_client_sasl_auth(&p->client, host, secure, &so, &p->sasl, &scode, &e);
        free(file);
        if (r < 0) {
            char *m = xasprintf("operation failed: Failed to connect to remote libvirt URI %s: %s",
                                a->dconnuri, verr_msg(&e));
            p2p_fail(p, scode > 0 ? scode : VIR_ERR_AUTH_FAILED, m);
            free(m);
        }
    } else if (auth.types_len && auth.types[0] != 0 /* REMOTE_AUTH_NONE */) {
        p2p_fail(p, VIR_ERR_AUTH_FAILED,
                 "authentication failed: the destination asks for polkit, which vireod does "
                 "not do");
    }
    remote_auth_list_ret_free(&auth);
    free(host);
    if (p->message || p2p_call(p, REMOTE_PROC_CONNECT_OPEN, &oa, NULL) < 0) {
        p2p_end(p);
        return;
    }
    struct remote_domain_migrate_prepare3_params_args pa = {0};
    pa.params = dest_params(a, a->dname, &pa.params_len);
    pa.flags = a->flags & ~(unsigned)(VD_MIGRATE_ABORT_ON_ERROR | VD_MIGRATE_AUTO_CONVERGE);
    set_cookie(&pa.cookie_in, &pa.cookie_in_len, a->cookie_out);
    struct remote_domain_migrate_prepare3_params_ret pr = {0};
    r = p2p_call(p, REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS, &pa, &pr);
    free_params(pa.params, pa.params_len);
    free(pa.cookie_in);
    if (r < 0) { /* nothing changed here: the source runs on */
        p2p_end(p);
        return;
    }
    if (pr.uri_out && !a->uri)
        a->uri = xstrdup(pr.uri_out);
    if (pr.cookie_out_len) { /* the NBD port of a migration with storage */
        free(a->cookie_in);
        a->cookie_in = xstrndup((const char *)pr.cookie_out, pr.cookie_out_len);
    }
    remote_domain_migrate_prepare3_params_ret_free(&pr);
    vd_migrate_perform(dom, a, p2p_performed, p);
}

static int perform(struct vd_call *c)
{
    const struct remote_domain_migrate_perform3_params_args *in = c->args;
    struct vd_mig_args *a = args_new(in->params, in->params_len, in->flags, c);
    if (!a)
        return -1;
    if (in->dconnuri) {
        if (!(in->flags & VD_MIGRATE_PEER2PEER)) {
            vd_mig_args_free(a);
            return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                                "internal error: dconnuri given without the peer2peer flag");
        }
        a->dconnuri = xstrdup(in->dconnuri);
        return submit(c, c->dom, "migration (peer-to-peer)", job_p2p, a);
    }
    if (in->cookie_in_len) /* Prepare's: the NBD port of a migration with storage */
        a->cookie_in = xstrndup((const char *)in->cookie_in, in->cookie_in_len);
    return submit(c, c->dom, "migration perform", vd_migrate_job_perform, a);
}

/* ---- tunables and the job ---- */

static int set_max_downtime(struct vd_call *c)
{
    const struct remote_domain_migrate_set_max_downtime_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainMigrateSetMaxDowntime") < 0)
        return -1;
    struct verr e = {0};
    if (vd_migrate_set_downtime(c->dom, a->downtime, &e) < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID, "%s", verr_msg(&e));
    return 0;
}

static int get_max_downtime(struct vd_call *c)
{
    const struct remote_domain_migrate_get_max_downtime_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainMigrateGetMaxDowntime") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    ((struct remote_domain_migrate_get_max_downtime_ret *)c->ret)->downtime =
        c->dom->mig_downtime_ms ? c->dom->mig_downtime_ms : VD_MIGRATE_DOWNTIME_DEFAULT;
    return 0;
}

static int set_max_speed(struct vd_call *c)
{
    const struct remote_domain_migrate_set_max_speed_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainMigrateSetMaxSpeed") < 0)
        return -1;
    struct verr e = {0};
    if (vd_migrate_set_speed(c->dom, a->bandwidth, &e) < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "%s", verr_msg(&e));
    return 0;
}

static int get_max_speed(struct vd_call *c)
{
    const struct remote_domain_migrate_get_max_speed_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainMigrateGetMaxSpeed") < 0)
        return -1;
    ((struct remote_domain_migrate_get_max_speed_ret *)c->ret)->bandwidth =
        c->dom->mig_speed_mibs ? c->dom->mig_speed_mibs : VD_MIGRATE_SPEED_MAX;
    return 0;
}

static int get_job_info(struct vd_call *c)
{
    struct vd_job_stats st;
    vd_migrate_job_stats(c->dom, false, &st);
    struct remote_domain_get_job_info_ret *r = c->ret;
    r->type = st.type;
    r->timeElapsed = st.elapsed_ms;
    r->dataTotal = st.data_total;
    r->dataProcessed = st.data_processed;
    r->dataRemaining = st.data_remaining;
    r->memTotal = st.mem_total;
    r->memProcessed = st.mem_processed;
    r->memRemaining = st.mem_remaining;
    r->fileTotal = st.disk_total;
    r->fileProcessed = st.disk_processed;
    r->fileRemaining = st.disk_remaining;
    return 0;
}

/* libvirt's VIR_DOMAIN_JOB_STATS_COMPLETED and _KEEP_COMPLETED. */
#define JOB_STATS_COMPLETED      1u
#define JOB_STATS_KEEP_COMPLETED 2u

static void add_ullong(struct remote_typed_param *v, uint32_t *n, const char *f, uint64_t x)
{
    v[*n].field = xstrdup(f);
    v[*n].type = REMOTE_TYPED_PARAM_ULLONG;
    v[(*n)++].value.ul = x;
}

static int get_job_stats(struct vd_call *c)
{
    const struct remote_domain_get_job_stats_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, JOB_STATS_COMPLETED | JOB_STATS_KEEP_COMPLETED,
                            "qemuDomainGetJobStats") < 0)
        return -1;
    struct vd_job_stats st;
    bool completed = a->flags & JOB_STATS_COMPLETED;
    vd_migrate_job_stats(c->dom, completed, &st);
    if (completed && !(a->flags & JOB_STATS_KEEP_COMPLETED) && c->dom->job_completed) {
        free(c->dom->job_completed); /* as libvirt: read once unless kept */
        c->dom->job_completed = NULL;
    }
    struct remote_domain_get_job_stats_ret *r = c->ret;
    r->type = st.type;
    if (st.type == VD_JOB_NONE)
        return 0;
    struct remote_typed_param *v = xcalloc(20, sizeof(*v));
    uint32_t n = 0;
    v[n].field = xstrdup("operation");
    v[n].type = REMOTE_TYPED_PARAM_INT;
    v[n++].value.i = st.operation;
    add_ullong(v, &n, "time_elapsed", st.elapsed_ms);
    if (st.have_downtime)
        add_ullong(v, &n, "downtime", st.downtime_ms);
    if (st.setup_ms)
        add_ullong(v, &n, "setup_time", st.setup_ms);
    add_ullong(v, &n, "data_total", st.data_total);
    add_ullong(v, &n, "data_processed", st.data_processed);
    add_ullong(v, &n, "data_remaining", st.data_remaining);
    add_ullong(v, &n, "memory_total", st.mem_total);
    add_ullong(v, &n, "memory_processed", st.mem_processed);
    add_ullong(v, &n, "memory_remaining", st.mem_remaining);
    if (st.mem_bps)
        add_ullong(v, &n, "memory_bps", st.mem_bps);
    if (st.disk_total) { /* the storage copy's mirrors (virsh's "File" lines) */
        add_ullong(v, &n, "disk_total", st.disk_total);
        add_ullong(v, &n, "disk_processed", st.disk_processed);
        add_ullong(v, &n, "disk_remaining", st.disk_remaining);
    }
    if (st.have_postcopy) /* virsh's "Postcopy requests" */
        add_ullong(v, &n, "memory_postcopy_requests", st.postcopy_requests);
    if (completed) {
        v[n].field = xstrdup("success");
        v[n].type = REMOTE_TYPED_PARAM_BOOLEAN;
        v[n++].value.b = st.success;
    }
    r->params = v;
    r->params_len = n;
    return 0;
}

/* virsh migrate-postcopy: beside the migration's job, as libvirt's migration-op job. */
static int start_post_copy(struct vd_call *c)
{
    const struct remote_domain_migrate_start_post_copy_args *in = c->args;
    if (vd_call_check_flags(c, in->flags, 0, "qemuDomainMigrateStartPostCopy") < 0)
        return -1;
    int code;
    struct verr e = {0};
    if (vd_migrate_start_postcopy_check(c->dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    struct vd_job *job =
        vd_call_job(c, c->dom, "migration post-copy", vd_migrate_job_start_postcopy, 0);
    if (c->dom->job)
        vd_job_run_beside(job);
    else
        vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int abort_job(struct vd_call *c)
{
    int code;
    struct verr e = {0};
    if (vd_migrate_abort(c->dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_MIGRATE_BEGIN3_PARAMS, begin},
    {REMOTE_PROC_DOMAIN_MIGRATE_PREPARE3_PARAMS, prepare},
    {REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, perform},
    {REMOTE_PROC_DOMAIN_MIGRATE_FINISH3_PARAMS, finish},
    {REMOTE_PROC_DOMAIN_MIGRATE_CONFIRM3_PARAMS, confirm},
    {REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_DOWNTIME, set_max_downtime},
    {REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_DOWNTIME, get_max_downtime},
    {REMOTE_PROC_DOMAIN_MIGRATE_SET_MAX_SPEED, set_max_speed},
    {REMOTE_PROC_DOMAIN_MIGRATE_GET_MAX_SPEED, get_max_speed},
    {REMOTE_PROC_DOMAIN_GET_JOB_INFO, get_job_info},
    {REMOTE_PROC_DOMAIN_GET_JOB_STATS, get_job_stats},
    {REMOTE_PROC_DOMAIN_ABORT_JOB, abort_job},
    {REMOTE_PROC_DOMAIN_MIGRATE_START_POST_COPY, start_post_copy},
};
VD_PROC_TABLE(vd_migrate_procs, procs);
