/*
 * rpc-secret.c - the secret procedures (virsh's secret-* commands): list, look up by UUID or
 * usage, define, dump, set and get the value, undefine. The work is secret.c's; this file maps
 * the calls and libvirt's errors ("Secret not found: ...", "Invalid secret: secret is
 * private"), and raises the secret events (rpc-secret-events.c) after each change.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/error.h"
#include "util/mem.h"

/* libvirt's VIR_CONNECT_LIST_SECRETS_* flags */
enum {
    LIST_EPHEMERAL = 1 << 0,
    LIST_NO_EPHEMERAL = 1 << 1,
    LIST_PRIVATE = 1 << 2,
    LIST_NO_PRIVATE = 1 << 3,
};

/* vd_call_fail with libvirt's error domain of the secret driver (clients print "Secrets
 * Driver error"). */
static int secret_fail(struct vd_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int secret_fail(struct vd_call *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    vd_call_fail(c, code, "%s", m ? m : "internal error");
    free(m);
    c->err->domain = VIR_FROM_SECRET;
    return -1;
}

static void fill_secret(struct remote_nonnull_secret *out, const struct vd_secret *s)
{
    memcpy(out->uuid, s->def->uuid, 16);
    out->usageType = s->def->usage_type;
    out->usageID = xstrdup(s->def->usage_id ? s->def->usage_id : "");
}

static struct vd_secret *by_uuid(struct vd_call *c, const unsigned char uuid[16])
{
    struct vd_secret *s = vd_secret_find_uuid(c->d, uuid);
    if (!s) {
        char u[37];
        domain_uuid_format(uuid, u);
        secret_fail(c, VIR_ERR_NO_SECRET, "Secret not found: no secret with matching uuid '%s'", u);
    }
    return s;
}

/* The secret a call names (its first argument), or NULL with the error set. */
static struct vd_secret *named(struct vd_call *c)
{
    return by_uuid(c, ((const struct remote_nonnull_secret *)c->args)->uuid);
}

static int fail(struct vd_call *c, int r, const struct verr *e)
{
    const char *m = verr_msg(e);
    int code = VIR_ERR_OPERATION_FAILED;
    if (strncmp(m, "internal error", 14) == 0)
        code = VIR_ERR_INTERNAL_ERROR;
    else if (strncmp(m, "unsupported configuration", 25) == 0)
        code = VIR_ERR_CONFIG_UNSUPPORTED;
    else if (strncmp(m, "XML error", 9) == 0 || r == -EINVAL)
        code = VIR_ERR_XML_ERROR;
    return secret_fail(c, code, "%s", m);
}

static bool list_match(const struct vd_secret *s, unsigned f)
{
    if ((f & (LIST_EPHEMERAL | LIST_NO_EPHEMERAL)) &&
        !((f & LIST_EPHEMERAL && s->def->ephemeral) ||
          (f & LIST_NO_EPHEMERAL && !s->def->ephemeral)))
        return false;
    if ((f & (LIST_PRIVATE | LIST_NO_PRIVATE)) &&
        !((f & LIST_PRIVATE && s->def->private_) || (f & LIST_NO_PRIVATE && !s->def->private_)))
        return false;
    return true;
}

static int list_all(struct vd_call *c)
{
    const struct remote_connect_list_all_secrets_args *a = c->args;
    struct remote_connect_list_all_secrets_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0xf, "secretConnectListAllSecrets") < 0)
        return -1;
    size_t n = 0;
    for (struct vd_secret *s = c->d->secrets; s; s = s->next)
        n += list_match(s, a->flags);
    r->ret = (unsigned)n;
    if (a->need_results && n) {
        r->secrets = xcalloc(n, sizeof(*r->secrets));
        for (struct vd_secret *s = c->d->secrets; s; s = s->next)
            if (list_match(s, a->flags))
                fill_secret(&r->secrets[r->secrets_len++], s);
    }
    return 0;
}

static int num_secrets(struct vd_call *c)
{
    int n = 0;
    for (struct vd_secret *s = c->d->secrets; s; s = s->next)
        n++;
    ((struct remote_connect_num_of_secrets_ret *)c->ret)->num = n;
    return 0;
}

static int list_uuids(struct vd_call *c)
{
    int max = ((const struct remote_connect_list_secrets_args *)c->args)->maxuuids;
    struct remote_connect_list_secrets_ret *r = c->ret;
    for (struct vd_secret *s = c->d->secrets; s && (int)r->uuids_len < max; s = s->next) {
        r->uuids = xreallocarray(r->uuids, r->uuids_len + 1, sizeof(*r->uuids));
        r->uuids[r->uuids_len] = xmalloc(37);
        domain_uuid_format(s->def->uuid, r->uuids[r->uuids_len++]);
    }
    return 0;
}

static int lookup_uuid(struct vd_call *c)
{
    struct vd_secret *s =
        by_uuid(c, ((const struct remote_secret_lookup_by_uuid_args *)c->args)->uuid);
    if (!s)
        return -1;
    fill_secret(&((struct remote_secret_lookup_by_uuid_ret *)c->ret)->secret, s);
    return 0;
}

static int lookup_usage(struct vd_call *c)
{
    const struct remote_secret_lookup_by_usage_args *a = c->args;
    struct vd_secret *s = vd_secret_find_usage(c->d, a->usageType, a->usageID);
    if (!s)
        return secret_fail(c, VIR_ERR_NO_SECRET,
                           "Secret not found: no secret with matching usage '%s'", a->usageID);
    fill_secret(&((struct remote_secret_lookup_by_usage_ret *)c->ret)->secret, s);
    return 0;
}

static int define(struct vd_call *c)
{
    const struct remote_secret_define_xml_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "secretDefineXML") < 0)
        return -1;
    struct verr e = {0};
    struct vd_secret *s;
    int r = vd_secret_define(c->d, a->xml, &s, &e);
    if (r < 0)
        return fail(c, r, &e);
    fill_secret(&((struct remote_secret_define_xml_ret *)c->ret)->secret, s);
    vd_secret_event(c->d, s->def, VD_SECRET_EVENT_ID_LIFECYCLE, VD_SECRET_EVENT_DEFINED);
    return 0;
}

static int get_xml(struct vd_call *c)
{
    struct vd_secret *s = named(c);
    if (!s)
        return -1;
    const struct remote_secret_get_xml_desc_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "secretGetXMLDesc") < 0)
        return -1;
    ((struct remote_secret_get_xml_desc_ret *)c->ret)->xml = vd_secret_def_format(s->def);
    return 0;
}

static int set_value(struct vd_call *c)
{
    struct vd_secret *s = named(c);
    if (!s)
        return -1;
    const struct remote_secret_set_value_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "secretSetValue") < 0)
        return -1;
    struct verr e = {0};
    int r = vd_secret_set_value(c->d, s, a->value, a->value_len, &e);
    if (r < 0)
        return fail(c, r, &e);
    vd_secret_event(c->d, s->def, VD_SECRET_EVENT_ID_VALUE_CHANGED, 0);
    return 0;
}

static int get_value(struct vd_call *c)
{
    struct vd_secret *s = named(c);
    if (!s)
        return -1;
    const struct remote_secret_get_value_args *a = c->args;
    /* libvirt's public API takes no flags here; its internal-call flag never comes over RPC */
    if (vd_call_check_flags(c, a->flags, 0, "secretGetValue") < 0)
        return -1;
    if (s->def->private_)
        return secret_fail(c, VIR_ERR_INVALID_SECRET, "Invalid secret: secret is private");
    if (!s->value) {
        char u[37];
        domain_uuid_format(s->def->uuid, u);
        return secret_fail(c, VIR_ERR_NO_SECRET,
                           "Secret not found: secret '%s' does not have a value", u);
    }
    struct remote_secret_get_value_ret *r = c->ret;
    r->value = xmalloc(s->value_len ? s->value_len : 1);
    memcpy(r->value, s->value, s->value_len);
    r->value_len = (uint32_t)s->value_len;
    return 0;
}

static int undefine(struct vd_call *c)
{
    struct vd_secret *s = named(c);
    if (!s)
        return -1;
    /* the event names the secret, which undefine frees: a copy of what it needs */
    struct vd_secret_def gone = *s->def;
    gone.usage_id = s->def->usage_id ? xstrdup(s->def->usage_id) : NULL;
    gone.description = NULL;
    struct verr e = {0};
    int r = vd_secret_undefine(c->d, s, &e);
    if (r == 0)
        vd_secret_event(c->d, &gone, VD_SECRET_EVENT_ID_LIFECYCLE, VD_SECRET_EVENT_UNDEFINED);
    free(gone.usage_id);
    return r < 0 ? fail(c, r, &e) : 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_NUM_OF_SECRETS, num_secrets},
    {REMOTE_PROC_CONNECT_LIST_SECRETS, list_uuids},
    {REMOTE_PROC_CONNECT_LIST_ALL_SECRETS, list_all},
    {REMOTE_PROC_SECRET_LOOKUP_BY_UUID, lookup_uuid},
    {REMOTE_PROC_SECRET_LOOKUP_BY_USAGE, lookup_usage},
    {REMOTE_PROC_SECRET_DEFINE_XML, define},
    {REMOTE_PROC_SECRET_GET_XML_DESC, get_xml},
    {REMOTE_PROC_SECRET_SET_VALUE, set_value},
    {REMOTE_PROC_SECRET_GET_VALUE, get_value},
    {REMOTE_PROC_SECRET_UNDEFINE, undefine},
};
VD_PROC_TABLE(vd_secret_procs, procs);
