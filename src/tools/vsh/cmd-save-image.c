/*
 * cmd-save-image.c - the XML inside save images: save-image-dumpxml,
 * -define, -edit, and managedsave-dumpxml, -define, -edit, with virsh's
 * options and words.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/file.h"
#include "util/mem.h"

/* --running / --paused: what a restore does with the image. */
static bool state_flags(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, unsigned *flags)
{
    *flags = 0;
    if (vsh_opt_bool(cmd, "running"))
        *flags |= VIR_DOMAIN_SAVE_RUNNING;
    if (vsh_opt_bool(cmd, "paused"))
        *flags |= VIR_DOMAIN_SAVE_PAUSED;
    if (*flags == (VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED)) {
        vsh_error(ctl, "%s", "Options --running and --paused are mutually exclusive");
        return false;
    }
    return true;
}

static unsigned xml_flags(const struct vsh_cmd *cmd)
{
    return vsh_opt_bool(cmd, "security-info") ? VIR_DOMAIN_SAVE_IMAGE_XML_SECURE : 0;
}

bool vsh_cmd_save_image_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_error err;
    char *xml = vir_domain_save_image_get_xml_desc(ctl->conn, vsh_opt_string(cmd, "file"),
                                                   xml_flags(cmd), &err);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_save_image_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags;
    if (!state_flags(ctl, cmd, &flags))
        return false;
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, vsh_opt_string(cmd, "xml"));
    if (!xml)
        return false;
    vir_error err;
    bool ok = vir_domain_save_image_define_xml(ctl->conn, file, xml, flags, &err) == 0;
    free(xml);
    if (!ok) {
        vsh_error(ctl, "Failed to update %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "State file %s updated.\n", file);
    return true;
}

bool vsh_cmd_managedsave_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    char *xml = vir_domain_managed_save_get_xml_desc(dom, xml_flags(cmd), &err);
    vir_domain_free(dom);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_managedsave_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags;
    if (!state_flags(ctl, cmd, &flags))
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    char *xml = vsh_read_xml_file(ctl, vsh_opt_string(cmd, "xml"));
    if (!xml) {
        vir_domain_free(dom);
        return false;
    }
    vir_error err;
    bool ok = vir_domain_managed_save_define_xml(dom, xml, flags, &err) == 0;
    free(xml);
    if (ok) {
        vsh_print_extra(ctl, "Managed save state file of domain '%s' updated.\n",
                        vir_domain_get_name(dom));
    } else {
        vsh_error(ctl, "Failed to update %s XML configuration", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    }
    vir_domain_free(dom);
    return ok;
}

/* The edit loop both -edit commands share: the image's XML (with secrets)
 * in a temporary file, the editor, and the define when it changed.
 * Returns 1 changed and defined, 0 unchanged, -1 failed.
 * TODO: virsh's "Try again? [y,n,f,?]" after a refused define. */
static int edit_xml(struct vsh_ctl *ctl, const char *orig, vir_connect *conn, const char *file,
                    vir_domain *dom, unsigned flags)
{
    char path[] = "/tmp/vshXXXXXX.xml";
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        vsh_error(ctl, "cannot create temporary file: %s", strerror(errno));
        return -1;
    }
    int r = fd_write_all(fd, orig, strlen(orig));
    close(fd);
    if (r < 0) {
        vsh_error(ctl, "cannot write temporary file '%s': %s", path, strerror(-r));
        unlink(path);
        return -1;
    }
    char *edited = NULL;
    r = vsh_run_editor(ctl, path) < 0 ? -1 : 0;
    if (r == 0)
        edited = vsh_read_xml_file(ctl, path);
    unlink(path);
    if (!edited)
        return -1;
    /* --running / --paused alone still change the image, as in virsh. */
    if (strcmp(edited, orig) == 0 && !flags) {
        free(edited);
        return 0;
    }
    vir_error err;
    r = dom ? vir_domain_managed_save_define_xml(dom, edited, flags, &err)
            : vir_domain_save_image_define_xml(conn, file, edited, flags, &err);
    free(edited);
    if (r < 0) {
        vsh_report(ctl, &err);
        return -1;
    }
    return 1;
}

bool vsh_cmd_save_image_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags;
    if (!state_flags(ctl, cmd, &flags))
        return false;
    const char *file = vsh_opt_string(cmd, "file");
    vir_error err;
    char *orig =
        vir_domain_save_image_get_xml_desc(ctl->conn, file, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, &err);
    if (!orig) {
        vsh_report(ctl, &err);
        return false;
    }
    int r = edit_xml(ctl, orig, ctl->conn, file, NULL, flags);
    free(orig);
    if (r == 0)
        vsh_print_extra(ctl, "Saved image %s XML configuration not changed.\n", file);
    else if (r > 0)
        vsh_print_extra(ctl, "State file %s edited.\n", file);
    return r >= 0;
}

bool vsh_cmd_managedsave_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags;
    if (!state_flags(ctl, cmd, &flags))
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    char *orig = vir_domain_managed_save_get_xml_desc(dom, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, &err);
    int r = -1;
    if (!orig)
        vsh_report(ctl, &err);
    else
        r = edit_xml(ctl, orig, ctl->conn, NULL, dom, flags);
    free(orig);
    if (r == 0)
        vsh_print_extra(ctl, "Managed save image of domain '%s' XML configuration not changed.\n",
                        vir_domain_get_name(dom));
    else if (r > 0)
        vsh_print_extra(ctl, "Managed save image of Domain '%s' XML configuration edited.\n",
                        vir_domain_get_name(dom));
    vir_domain_free(dom);
    return r >= 0;
}
