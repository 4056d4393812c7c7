/*
 * rpc-save.c - the save and restore procedures: virDomainSave(Flags),
 * virDomainRestore(Flags), managed save, and the save image's XML
 * (virDomainSaveImageGetXMLDesc/DefineXML, virDomainManagedSaveGetXMLDesc/
 * DefineXML).
 *
 * Saving and restoring are jobs on the domain (domain-save.c, and the
 * start job in lifecycle.c); reading or rewriting an image's XML is a
 * small read or write of its first pages, done at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/save-image.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/mem.h"

/* An error of the save image layer: a file that cannot be opened is the
 * system's error, anything in it the operation's (as libvirt reports). */
static int image_fail(struct vd_call *c, int r, const struct verr *e)
{
    return vd_call_fail(c,
                        r == -EINVAL || r == -ENOTSUP ? VIR_ERR_OPERATION_FAILED
                        : r == -EFBIG                 ? VIR_ERR_OPERATION_FAILED
                                                      : VIR_ERR_SYSTEM_ERROR,
                        "%s", verr_msg(e));
}

static int save(struct vd_call *c)
{
    const char *to, *dxml = NULL;
    unsigned flags = 0;
    if (c->h->proc == REMOTE_PROC_DOMAIN_SAVE_FLAGS) {
        const struct remote_domain_save_flags_args *a = c->args;
        to = a->to;
        dxml = a->dxml;
        flags = a->flags;
    } else {
        to = ((const struct remote_domain_save_args *)c->args)->to;
    }
    if (to[0] != '/')
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: save file path '%s' is not absolute", to);
    struct vd_job *job = vd_call_job(c, c->dom, "save", vd_domain_job_save, flags);
    job->path = xstrdup(to);
    job->xml = dxml ? xstrdup(dxml) : NULL;
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int managed_save(struct vd_call *c)
{
    const struct remote_domain_managed_save_args *a = c->args;
    vd_job_submit(vd_call_job(c, c->dom, "managedsave", vd_domain_job_save, a->flags));
    return RPC_HANDLER_DEFERRED;
}

static int restore(struct vd_call *c)
{
    const char *from, *dxml = NULL;
    unsigned flags = 0;
    if (c->h->proc == REMOTE_PROC_DOMAIN_RESTORE_FLAGS) {
        const struct remote_domain_restore_flags_args *a = c->args;
        from = a->from;
        dxml = a->dxml;
        flags = a->flags;
    } else {
        from = ((const struct remote_domain_restore_args *)c->args)->from;
    }
    unsigned known =
        VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (vd_call_check_flags(c, flags, known, "qemuDomainRestoreFlags") < 0)
        return -1;
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: Flags 'VIR_DOMAIN_SAVE_RUNNING' and "
                            "'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive");
    if (from[0] != '/')
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: save file path '%s' is not absolute", from);
    struct vd_save_header h;
    char *image_xml = NULL, *xml = NULL;
    struct verr e = {0};
    int r = vd_save_image_open(from, NULL, &h, &image_xml, &e);
    if (r < 0)
        return image_fail(c, r, &e);
    r = vd_domain_restore_xml(image_xml, dxml, &xml, &e);
    free(image_xml);
    if (r < 0)
        return vd_call_fail(c,
                            r == -EINVAL && dxml ? VIR_ERR_CONFIG_UNSUPPORTED : VIR_ERR_XML_ERROR,
                            "%s", verr_msg(&e));
    /* libvirt's words for a restore over a running domain of the image. */
    struct domain_def *def = NULL;
    if (domain_def_parse_string(xml, 0, &def, &e) == 0) {
        struct vd_domain *live = vd_domain_find_uuid(c->d, def->uuid);
        if (!live)
            live = vd_domain_find_name(c->d, def->name);
        domain_def_free(def);
        if (live && vd_domain_is_active(live)) {
            free(xml);
            return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                                "Requested operation is not valid: domain '%s' is already active",
                                live->def->name);
        }
    }
    struct vd_domain *dom;
    r = vd_domain_create_transient(c->d, xml, &dom, &e);
    free(xml);
    if (r < 0)
        return vd_call_fail(c, r == -EINVAL ? VIR_ERR_XML_ERROR : vd_errno_to_code(r), "%s",
                            verr_msg(&e));
    struct vd_job *job = vd_call_job(c, dom, "restore", vd_domain_job_start, flags);
    job->paused = flags & VIR_DOMAIN_SAVE_PAUSED;
    job->restore = true;
    job->path = xstrdup(from);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int has_managed_save(struct vd_call *c)
{
    const struct remote_domain_has_managed_save_image_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainHasManagedSaveImage") < 0)
        return -1;
    ((struct remote_domain_has_managed_save_image_ret *)c->ret)->result =
        vd_domain_has_managed_save(c->dom);
    return 0;
}

static void job_managed_save_remove(struct vd_job *job)
{
    struct verr e = {0};
    char *path = vd_domain_managed_save_path(job->dom->daemon, job->dom->def->name);
    bool has = vd_domain_has_managed_save(job->dom);
    int r = has ? vd_domain_managed_save_remove(job->dom, &e) : 0;
    if (!has) /* libvirt's unlink of a file that is not there */
        vd_job_fail(job, VIR_ERR_SYSTEM_ERROR,
                    "Failed to remove managed save file '%s': No such file or directory",
                    path ? path : "");
    else if (r < 0)
        vd_job_fail(job, VIR_ERR_SYSTEM_ERROR, "%s", verr_msg(&e));
    else
        vd_job_done(job);
    free(path);
}

static int managed_save_remove(struct vd_call *c)
{
    const struct remote_domain_managed_save_remove_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainManagedSaveRemove") < 0)
        return -1;
    vd_job_submit(vd_call_job(c, c->dom, "managedsave-remove", job_managed_save_remove, 0));
    return RPC_HANDLER_DEFERRED;
}

/* An image's XML as virsh shows it: parsed and formatted (secret values
 * only with VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, from a read-write client). */
static int image_xml(struct vd_call *c, const char *path, unsigned flags, const char *fn,
                     char **out)
{
    if (vd_call_check_flags(c, flags, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, fn) < 0)
        return -1;
    if ((flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE) && (c->client->readonly || c->client->ro_socket))
        return vd_call_fail(c, VIR_ERR_OPERATION_DENIED,
                            "operation forbidden: virDomainSaveImageGetXMLDesc with secure flag");
    struct vd_save_header h;
    char *xml = NULL;
    struct verr e = {0};
    int r = vd_save_image_open(path, NULL, &h, &xml, &e);
    if (r < 0)
        return image_fail(c, r, &e);
    struct domain_def *def;
    r = domain_def_parse_string(xml, 0, &def, &e);
    free(xml);
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
    unsigned f = DOMAIN_FORMAT_INACTIVE;
    if (flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
        f |= DOMAIN_FORMAT_SECURE;
    *out = domain_def_format(def, f);
    domain_def_free(def);
    return 0;
}

static int image_define(struct vd_call *c, const char *path, const char *dxml, unsigned flags,
                        const char *fn)
{
    unsigned known = VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (vd_call_check_flags(c, flags, known, fn) < 0)
        return -1;
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: Flags 'VIR_DOMAIN_SAVE_RUNNING' and "
                            "'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive");
    struct vd_save_header h;
    char *old = NULL, *xml = NULL;
    struct verr e = {0};
    int r = vd_save_image_open(path, NULL, &h, &old, &e);
    if (r < 0)
        return image_fail(c, r, &e);
    /* No XML: only the running/paused flag changes (managedsave-edit's
     * --running / --paused without an edit). */
    r = vd_domain_restore_xml(old, dxml, &xml, &e);
    free(old);
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED, "%s", verr_msg(&e));
    int running = flags & VIR_DOMAIN_SAVE_RUNNING ? 1 : flags & VIR_DOMAIN_SAVE_PAUSED ? 0 : -1;
    r = vd_save_image_update(path, xml, running, &e);
    free(xml);
    if (r < 0)
        return image_fail(c, r, &e);
    return 0;
}

static int save_image_get_xml(struct vd_call *c)
{
    const struct remote_domain_save_image_get_xml_desc_args *a = c->args;
    return image_xml(c, a->file, a->flags, "qemuDomainSaveImageGetXMLDesc",
                     &((struct remote_domain_save_image_get_xml_desc_ret *)c->ret)->xml);
}

static int save_image_define(struct vd_call *c)
{
    const struct remote_domain_save_image_define_xml_args *a = c->args;
    return image_define(c, a->file, a->dxml, a->flags, "qemuDomainSaveImageDefineXML");
}

/* The managed save image's path, or an error when the domain has none. */
static char *managed_path(struct vd_call *c)
{
    if (!vd_domain_has_managed_save(c->dom)) {
        vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                     "Requested operation is not valid: domain does not have managed save image");
        return NULL;
    }
    return vd_domain_managed_save_path(c->d, c->dom->def->name);
}

static int managed_save_get_xml(struct vd_call *c)
{
    const struct remote_domain_managed_save_get_xml_desc_args *a = c->args;
    char *path = managed_path(c);
    if (!path)
        return -1;
    int r = image_xml(c, path, a->flags, "qemuDomainManagedSaveGetXMLDesc",
                      &((struct remote_domain_managed_save_get_xml_desc_ret *)c->ret)->xml);
    free(path);
    return r;
}

static int managed_save_define(struct vd_call *c)
{
    const struct remote_domain_managed_save_define_xml_args *a = c->args;
    char *path = managed_path(c);
    if (!path)
        return -1;
    int r = image_define(c, path, a->dxml, a->flags, "qemuDomainManagedSaveDefineXML");
    free(path);
    return r;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_SAVE, save},
    {REMOTE_PROC_DOMAIN_SAVE_FLAGS, save},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE, managed_save},
    {REMOTE_PROC_DOMAIN_RESTORE, restore},
    {REMOTE_PROC_DOMAIN_RESTORE_FLAGS, restore},
    {REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, has_managed_save},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE, managed_save_remove},
    {REMOTE_PROC_DOMAIN_SAVE_IMAGE_GET_XML_DESC, save_image_get_xml},
    {REMOTE_PROC_DOMAIN_SAVE_IMAGE_DEFINE_XML, save_image_define},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE_GET_XML_DESC, managed_save_get_xml},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE_DEFINE_XML, managed_save_define},
};
VD_PROC_TABLE(vd_save_procs, procs);
