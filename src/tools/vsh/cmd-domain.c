/*
 * cmd-domain.c - vsh's domain commands: listing and lookup, define/undefine,
 * the lifecycle (create, start, shutdown, destroy, reboot, reset, suspend,
 * resume, save, restore), dominfo/domstate/domid/domname/domuuid, dumpxml,
 * edit, autostart, domblklist and domiflist.
 *
 * Each prints what virsh prints on success and, on failure, virsh's
 * "error: Failed to <verb> domain '<name>'" line followed by the library's
 * message, so transcripts and scripts carry over unchanged.
 */
#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "tools/vsh/commands.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define XML_FILE_MAX (10u << 20)

enum { BY_ID = 1, BY_UUID = 2, BY_NAME = 4, BY_ANY = 7 };

/* virsh's vshLookupDomainBy: an id when it is a number, then a UUID (the 36-character form
 * only), then a name. */
static vir_domain *lookup_by(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, int how,
                             const char **name_out)
{
    const char *s = vsh_opt_string(cmd, "domain");
    if (name_out)
        *name_out = s;
    if (!s)
        return NULL;
    vir_domain *dom = NULL;
    unsigned id;
    if ((how & BY_ID) && str_to_uint(s, 10, &id) == 0 && id <= INT32_MAX)
        dom = vir_domain_lookup_by_id(ctl->conn, (int)id, NULL);
    if (!dom && (how & BY_UUID) && strlen(s) == VIR_UUID_STRING_BUFLEN - 1)
        dom = vir_domain_lookup_by_uuid_string(ctl->conn, s, NULL);
    if (!dom && (how & BY_NAME))
        dom = vir_domain_lookup_by_name(ctl->conn, s, NULL);
    if (!dom)
        vsh_error(ctl, "failed to get domain '%s'", s);
    return dom;
}

vir_domain *vsh_lookup_domain(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char **name)
{
    return lookup_by(ctl, cmd, BY_ANY, name);
}

vir_domain *vsh_lookup_domain_string(struct vsh_ctl *ctl, const char *s)
{
    vir_domain *dom = NULL;
    unsigned id;
    if (str_to_uint(s, 10, &id) == 0 && id <= INT32_MAX)
        dom = vir_domain_lookup_by_id(ctl->conn, (int)id, NULL);
    if (!dom && strlen(s) == VIR_UUID_STRING_BUFLEN - 1)
        dom = vir_domain_lookup_by_uuid_string(ctl->conn, s, NULL);
    if (!dom)
        dom = vir_domain_lookup_by_name(ctl->conn, s, NULL);
    if (!dom)
        vsh_error(ctl, "failed to get domain '%s'", s);
    return dom;
}

/* Reads an XML file as virsh does before define/create. */
char *vsh_read_xml_file(struct vsh_ctl *ctl, const char *path)
{
    struct buf b = BUF_INIT;
    struct verr verr = {0};
    int r = file_read_all(path, XML_FILE_MAX, &b, &verr);
    if (r < 0) {
        buf_free(&b);
        if (r == -EFBIG)
            vsh_error(ctl, "%s", verr_msg(&verr));
        else
            vsh_error(ctl, "Failed to open file '%s': %s", path, strerror(-r));
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* ---- list ---- */

/*
 * The state of every listed domain, as virsh's one virDomainGetState per
 * domain would give it, in at most two more calls: an inactive domain (id
 * -1) is shut off by definition; the running and the paused ones come from
 * the same listing filtered by state; only an active domain in neither (or
 * one that changed state between the calls) is asked for individually.
 * With 1,000 domains this is 3 round trips instead of 2,000.
 */
static void list_states(struct vsh_ctl *ctl, vir_domain **doms, int n, unsigned flags, int *states)
{
    const unsigned state_filters =
        VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
        VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER;
    int active = 0;
    for (int i = 0; i < n; i++) {
        bool on = vir_domain_get_id_cached(doms[i]) >= 0;
        states[i] = on ? -1 : VIR_DOMAIN_SHUTOFF;
        active += on;
    }
    if (active > 0) {
        static const struct {
            unsigned filter;
            int state;
        } by[] = {{VIR_CONNECT_LIST_DOMAINS_RUNNING, VIR_DOMAIN_RUNNING},
                  {VIR_CONNECT_LIST_DOMAINS_PAUSED, VIR_DOMAIN_PAUSED}};
        for (size_t k = 0; k < sizeof(by) / sizeof(by[0]); k++) {
            unsigned f = (flags & ~(state_filters | VIR_CONNECT_LIST_DOMAINS_INACTIVE)) |
                         VIR_CONNECT_LIST_DOMAINS_ACTIVE | by[k].filter;
            vir_domain **sub = NULL;
            vir_error err;
            int m = vir_connect_list_all_domains(ctl->conn, &sub, f, &err);
            for (int j = 0; j < m; j++) {
                unsigned char u[VIR_UUID_BUFLEN], v[VIR_UUID_BUFLEN];
                vir_domain_get_uuid(sub[j], u);
                for (int i = 0; i < n; i++) {
                    vir_domain_get_uuid(doms[i], v);
                    if (states[i] < 0 && memcmp(u, v, sizeof(u)) == 0 &&
                        vir_domain_get_id_cached(doms[i]) == vir_domain_get_id_cached(sub[j])) {
                        states[i] = by[k].state;
                        break;
                    }
                }
                vir_domain_free(sub[j]);
            }
            if (m >= 0)
                free(sub);
        }
    }
    for (int i = 0; i < n; i++) {
        if (states[i] >= 0)
            continue;
        int reason;
        states[i] = VIR_DOMAIN_NOSTATE;
        vir_domain_get_state(doms[i], &states[i], &reason, 0, NULL);
    }
}

bool vsh_cmd_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE;
    if (vsh_opt_bool(cmd, "inactive"))
        flags = VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    if (vsh_opt_bool(cmd, "all"))
        flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    static const struct {
        const char *opt;
        unsigned flag;
    } filters[] = {
        {"persistent", VIR_CONNECT_LIST_DOMAINS_PERSISTENT},
        {"transient", VIR_CONNECT_LIST_DOMAINS_TRANSIENT},
        {"with-managed-save", VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE},
        {"without-managed-save", VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE},
        {"autostart", VIR_CONNECT_LIST_DOMAINS_AUTOSTART},
        {"no-autostart", VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART},
        {"with-snapshot", VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT},
        {"without-snapshot", VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT},
        {"state-running", VIR_CONNECT_LIST_DOMAINS_RUNNING},
        {"state-paused", VIR_CONNECT_LIST_DOMAINS_PAUSED},
        {"state-shutoff", VIR_CONNECT_LIST_DOMAINS_SHUTOFF},
        {"state-other", VIR_CONNECT_LIST_DOMAINS_OTHER},
    };
    bool filtered = false;
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (vsh_opt_bool(cmd, filters[i].opt)) {
            flags |= filters[i].flag;
            filtered = true;
        }
    }
    /* A state or property filter looks at every domain unless --inactive narrowed it. */
    if (filtered && !vsh_opt_bool(cmd, "inactive"))
        flags |= VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    if (filtered && !vsh_opt_bool(cmd, "all") && !vsh_opt_bool(cmd, "inactive") &&
        !(flags & (VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
                   VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER)))
        flags &= ~(unsigned)VIR_CONNECT_LIST_DOMAINS_INACTIVE;
    bool opt_name = vsh_opt_bool(cmd, "name"), opt_uuid = vsh_opt_bool(cmd, "uuid");
    bool opt_id = vsh_opt_bool(cmd, "id"), opt_table = vsh_opt_bool(cmd, "table");
    if (opt_table && (opt_name || opt_uuid || opt_id)) {
        vsh_error(ctl, "Options --table and --%s are mutually exclusive",
                  opt_name   ? "name"
                  : opt_uuid ? "uuid"
                             : "id");
        return false;
    }
    vir_error err;
    vir_domain **doms;
    int n = vir_connect_list_all_domains(ctl->conn, &doms, flags, &err);
    if (n < 0) {
        vsh_error(ctl, "%s", "Failed to list domains");
        vsh_report(ctl, &err);
        return false;
    }
    bool managed = vsh_opt_bool(cmd, "managed-save");
    if (opt_name || opt_uuid || opt_id) {
        for (int i = 0; i < n; i++) {
            char uuid[VIR_UUID_STRING_BUFLEN];
            vir_domain_get_uuid_string(doms[i], uuid);
            int id = vir_domain_get_id_cached(doms[i]);
            if (opt_id && id < 0)
                continue;
            struct buf line = BUF_INIT;
            /* virsh's order: uuid, id, name */
            if (opt_uuid)
                buf_printf(&line, "%s", uuid);
            if (opt_id)
                buf_printf(&line, "%s%d", line.len ? " " : "", id);
            if (opt_name)
                buf_printf(&line, "%s%s", line.len ? " " : "", vir_domain_get_name(doms[i]));
            vsh_print(ctl, "%s\n", buf_cstr(&line));
            buf_free(&line);
        }
    } else {
        const char *header[] = {"Id", "Name", "State"};
        struct vsh_table *t = vsh_table_new(3, header);
        int *states = xcalloc((size_t)n + 1, sizeof(*states));
        list_states(ctl, doms, n, flags, states);
        for (int i = 0; i < n; i++) {
            int state = states[i];
            int id = vir_domain_get_id_cached(doms[i]);
            char idbuf[16];
            if (id >= 0)
                snprintf(idbuf, sizeof(idbuf), "%d", id);
            else
                snprintf(idbuf, sizeof(idbuf), "-");
            const char *st = vir_domain_state_to_string(state);
            if (managed && state == VIR_DOMAIN_SHUTOFF &&
                vir_domain_has_managed_save_image(doms[i], 0, NULL) > 0)
                st = "saved";
            const char *row[] = {idbuf, vir_domain_get_name(doms[i]), st};
            vsh_table_add(t, row);
        }
        free(states);
        struct buf out = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &out);
        vsh_print(ctl, "%s", buf_cstr(&out));
        buf_free(&out);
        vsh_table_free(t);
    }
    for (int i = 0; i < n; i++)
        vir_domain_free(doms[i]);
    free(doms);
    return true;
}

/* ---- define, undefine, create ---- */

bool vsh_cmd_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    vir_error err;
    unsigned flags = vsh_opt_bool(cmd, "validate") ? VIR_DOMAIN_DEFINE_VALIDATE : 0;
    vir_domain *dom = vir_domain_define_xml(ctl->conn, xml, flags, &err);
    free(xml);
    if (!dom) {
        vsh_error(ctl, "Failed to define domain from %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Domain '%s' defined from %s\n", vir_domain_get_name(dom), file);
    vir_domain_free(dom);
    return true;
}

/* A disk's volume for --storage/--remove-all-storage: looked up by the disk's path (or its
 * pool and volume), deleted after the domain is undefined, as virsh does. */
struct doomed_vol {
    vir_storage_vol *vol;
    char *target, *source;
};

/* The volumes --storage/--remove-all-storage name; a disk no pool manages is reported. */
static size_t collect_storage(struct vsh_ctl *ctl, vir_domain *dom, const char *which,
                              struct doomed_vol **out)
{
    *out = NULL;
    char *xml = vir_domain_get_xml_desc(dom, 0, NULL);
    struct domain_def *def = NULL;
    if (!xml ||
        domain_def_parse_string(xml, DOMAIN_PARSE_LIVE | DOMAIN_PARSE_GENERIC, &def, NULL) < 0) {
        free(xml);
        return 0;
    }
    free(xml);
    size_t n = 0;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        bool by_pool = d->source_type == DOMAIN_DISK_SOURCE_VOLUME && d->source_name;
        if ((!d->source_path && !by_pool) || d->device == DOMAIN_DISK_DEVICE_CDROM ||
            d->device == DOMAIN_DISK_DEVICE_FLOPPY)
            continue;
        /* virsh names a type='volume' disk by its volume */
        const char *source = d->source_path                ? d->source_path
                             : strchr(d->source_name, '/') ? strchr(d->source_name, '/') + 1
                                                           : d->source_name;
        if (which) {
            /* a comma-separated list of targets or source paths */
            bool listed = false;
            char *copy = xstrdup(which), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (strcmp(tok, d->target_dev ? d->target_dev : "") == 0 ||
                    strcmp(tok, source) == 0)
                    listed = true;
            free(copy);
            if (!listed)
                continue;
        }
        vir_storage_vol *vol = NULL;
        if (by_pool) {
            char *pool_name = xstrdup(d->source_name), *slash = strchr(pool_name, '/');
            *slash = '\0';
            vir_storage_pool *p = vir_storage_pool_lookup_by_name(ctl->conn, pool_name, NULL);
            vol = p ? vir_storage_vol_lookup_by_name(p, slash + 1, NULL) : NULL;
            vir_storage_pool_free(p);
            free(pool_name);
        } else {
            vol = vir_storage_vol_lookup_by_path(ctl->conn, source, NULL);
        }
        if (!vol) {
            vsh_error(ctl, "Storage volume '%s'(%s) is not managed by vireo. Remove it manually.",
                      d->target_dev ? d->target_dev : "", source);
            continue;
        }
        *out = xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n].vol = vol;
        (*out)[n].target = xstrdup(d->target_dev ? d->target_dev : "");
        (*out)[n].source = xstrdup(source);
        n++;
    }
    domain_def_free(def);
    return n;
}

/* Deletes them (after the undefine); false when one could not be. */
static bool remove_storage(struct vsh_ctl *ctl, struct doomed_vol *v, size_t n, bool really)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        vir_error err;
        if (really && vir_storage_vol_delete(v[i].vol, 0, &err) == 0) {
            vsh_print_extra(ctl, "Volume '%s'(%s) removed.\n", v[i].target, v[i].source);
        } else if (really) {
            vsh_error(ctl, "Failed to remove storage volume '%s'(%s)", v[i].target, v[i].source);
            vsh_report(ctl, &err);
            ok = false;
        }
        vir_storage_vol_free(v[i].vol);
        free(v[i].target);
        free(v[i].source);
    }
    free(v);
    return ok;
}

bool vsh_cmd_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    if (vsh_opt_bool(cmd, "nvram") && vsh_opt_bool(cmd, "keep-nvram")) {
        vsh_error(ctl, "%s", "Options --nvram and --keep-nvram are mutually exclusive");
        return false;
    }
    if (vsh_opt_bool(cmd, "tpm") && vsh_opt_bool(cmd, "keep-tpm")) {
        vsh_error(ctl, "%s", "Options --tpm and --keep-tpm are mutually exclusive");
        return false;
    }
    if (vsh_opt_bool(cmd, "delete-storage-volume-snapshots") &&
        !vsh_opt_bool(cmd, "remove-all-storage")) {
        vsh_error(ctl, "%s",
                  "Option --delete-storage-volume-snapshots requires --remove-all-storage");
        return false;
    }
    if (vsh_opt_bool(cmd, "remove-all-storage") && vsh_opt_string(cmd, "storage")) {
        vsh_error(ctl, "%s", "Options --remove-all-storage and --storage are mutually exclusive");
        return false;
    }
    const char *name;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, &name);
    if (!dom)
        return false;
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "managed-save"))
        flags |= VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
    if (vsh_opt_bool(cmd, "snapshots-metadata"))
        flags |= VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    if (vsh_opt_bool(cmd, "checkpoints-metadata"))
        flags |= VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;
    if (vsh_opt_bool(cmd, "nvram"))
        flags |= VIR_DOMAIN_UNDEFINE_NVRAM;
    if (vsh_opt_bool(cmd, "keep-nvram"))
        flags |= VIR_DOMAIN_UNDEFINE_KEEP_NVRAM;
    if (vsh_opt_bool(cmd, "tpm"))
        flags |= VIR_DOMAIN_UNDEFINE_TPM;
    if (vsh_opt_bool(cmd, "keep-tpm"))
        flags |= VIR_DOMAIN_UNDEFINE_KEEP_TPM;
    vir_error err;
    /* virsh checks this itself, before touching storage */
    if (!(flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) &&
        vir_domain_has_managed_save_image(dom, 0, NULL) > 0) {
        vsh_error(ctl, "%s", "Refusing to undefine while domain managed save image exists");
        vir_domain_free(dom);
        return false;
    }
    struct doomed_vol *doomed = NULL;
    size_t ndoomed = 0;
    if (vsh_opt_bool(cmd, "remove-all-storage") || vsh_opt_string(cmd, "storage"))
        ndoomed = collect_storage(ctl, dom, vsh_opt_string(cmd, "storage"), &doomed);
    bool undefined = vir_domain_undefine(dom, flags, &err) == 0;
    if (undefined) {
        vsh_print_extra(ctl, "Domain '%s' has been undefined\n", vir_domain_get_name(dom));
    } else {
        vsh_error(ctl, "Failed to undefine domain '%s'", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    }
    bool ok = remove_storage(ctl, doomed, ndoomed, undefined) && undefined;
    vir_domain_free(dom);
    return ok;
}

/* --console: attach as `console` does (the test driver has no console). */
static bool console_unsupported(struct vsh_ctl *ctl, vir_domain *dom)
{
    return vsh_console_attach(ctl, dom, NULL, 0);
}

bool vsh_cmd_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "paused"))
        flags |= VIR_DOMAIN_START_PAUSED;
    if (vsh_opt_bool(cmd, "autodestroy"))
        flags |= VIR_DOMAIN_START_AUTODESTROY;
    if (vsh_opt_bool(cmd, "validate"))
        flags |= VIR_DOMAIN_START_VALIDATE;
    vir_error err;
    vir_domain *dom = vir_domain_create_xml(ctl->conn, xml, flags, &err);
    free(xml);
    if (!dom) {
        vsh_error(ctl, "Failed to create domain from %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Domain '%s' created from %s\n", vir_domain_get_name(dom), file);
    bool ok = true;
    if (vsh_opt_bool(cmd, "console"))
        ok = console_unsupported(ctl, dom);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = lookup_by(ctl, cmd, BY_NAME | BY_UUID, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    if (vir_domain_get_id(dom) >= 0) {
        vsh_error(ctl, "%s", "Domain is already active");
        goto out;
    }
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "paused"))
        flags |= VIR_DOMAIN_START_PAUSED;
    if (vsh_opt_bool(cmd, "autodestroy"))
        flags |= VIR_DOMAIN_START_AUTODESTROY;
    if (vsh_opt_bool(cmd, "bypass-cache"))
        flags |= VIR_DOMAIN_START_BYPASS_CACHE;
    if (vsh_opt_bool(cmd, "force-boot"))
        flags |= VIR_DOMAIN_START_FORCE_BOOT;
    if (vir_domain_create(dom, flags, &err) < 0) {
        vsh_error(ctl, "Failed to start domain '%s'", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Domain '%s' started\n", vir_domain_get_name(dom));
    ok = true;
    if (vsh_opt_bool(cmd, "console"))
        ok = console_unsupported(ctl, dom);
out:
    vir_domain_free(dom);
    return ok;
}

/* The simple lifecycle verbs share one shape. */
enum verb { V_SHUTDOWN, V_DESTROY, V_REBOOT, V_RESET, V_SUSPEND, V_RESUME };

static bool lifecycle(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, enum verb v)
{
    static const char *const verbs[] = {"shutdown", "destroy", "reboot",
                                        "reset",    "suspend", "resume"};
    static const char *const done[] = {"is being shutdown", "destroyed", "is being rebooted",
                                       "was reset",         "suspended", "resumed"};
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int r = -1;
    const char *mode = vsh_opt_string(cmd, "mode");
    unsigned mode_flags = 0;
    if (mode) {
        /* libvirt's virDomainShutdownFlagValues / virDomainRebootFlagValues */
        static const char *const modes[] = {"acpi", "agent", "initctl", "signal", "paravirt"};
        char *copy = xstrdup(mode), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            size_t m;
            for (m = 0; m < 5 && strcmp(tok, modes[m]) != 0; m++)
                ;
            if (m == 5) {
                vsh_error(ctl,
                          "Unknown mode %s value, expecting "
                          "'acpi', 'agent', 'initctl', 'signal', or 'paravirt'",
                          tok);
                free(copy);
                vir_domain_free(dom);
                return false;
            }
            mode_flags |= 1u << m;
        }
        free(copy);
    }
    switch (v) {
    case V_SHUTDOWN:
        r = vir_domain_shutdown(dom, mode_flags, &err);
        break;
    case V_DESTROY:
        r = vir_domain_destroy(dom, vsh_opt_bool(cmd, "graceful") ? 1 : 0, &err);
        break;
    case V_REBOOT:
        r = vir_domain_reboot(dom, mode_flags, &err);
        break;
    case V_RESET:
        r = vir_domain_reset(dom, 0, &err);
        break;
    case V_SUSPEND:
        r = vir_domain_suspend(dom, &err);
        break;
    case V_RESUME:
        r = vir_domain_resume(dom, &err);
        break;
    }
    if (r < 0) {
        vsh_error(ctl, "Failed to %s domain '%s'", verbs[v], vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Domain '%s' %s\n", vir_domain_get_name(dom), done[v]);
    }
    vir_domain_free(dom);
    return r == 0;
}

bool vsh_cmd_shutdown(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_SHUTDOWN);
}

bool vsh_cmd_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_DESTROY);
}

bool vsh_cmd_reboot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_REBOOT);
}

bool vsh_cmd_reset(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_RESET);
}

bool vsh_cmd_suspend(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_SUSPEND);
}

bool vsh_cmd_resume(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return lifecycle(ctl, cmd, V_RESUME);
}

static unsigned save_flags(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool *ok)
{
    *ok = true;
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "bypass-cache"))
        flags |= VIR_DOMAIN_SAVE_BYPASS_CACHE;
    if (vsh_opt_bool(cmd, "running"))
        flags |= VIR_DOMAIN_SAVE_RUNNING;
    if (vsh_opt_bool(cmd, "paused"))
        flags |= VIR_DOMAIN_SAVE_PAUSED;
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED)) {
        vsh_error(ctl, "%s", "Options --running and --paused are mutually exclusive");
        *ok = false;
    }
    return flags;
}

bool vsh_cmd_save(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool ok;
    unsigned flags = save_flags(ctl, cmd, &ok);
    if (!ok)
        return false;
    const char *file = vsh_opt_string(cmd, "file");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    const char *xml_file = vsh_opt_string(cmd, "xml");
    char *xml = xml_file ? vsh_read_xml_file(ctl, xml_file) : NULL;
    if (xml_file && !xml) {
        vir_domain_free(dom);
        return false;
    }
    ok = vir_domain_save_flags(dom, file, xml, flags, &err) == 0;
    free(xml);
    if (ok) {
        vsh_print_extra(ctl, "\nDomain '%s' saved to %s\n", vir_domain_get_name(dom), file);
    } else {
        vsh_error(ctl, "Failed to save domain '%s' to %s", vir_domain_get_name(dom), file);
        vsh_report(ctl, &err);
    }
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_restore(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool ok;
    unsigned flags = save_flags(ctl, cmd, &ok);
    if (!ok)
        return false;
    const char *file = vsh_opt_string(cmd, "file");
    vir_error err;
    const char *xml_file = vsh_opt_string(cmd, "xml");
    char *xml = xml_file ? vsh_read_xml_file(ctl, xml_file) : NULL;
    if (xml_file && !xml)
        return false;
    int r = vir_domain_restore_flags(ctl->conn, file, xml, flags, &err);
    free(xml);
    if (r < 0) {
        vsh_error(ctl, "Failed to restore domain from %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Domain restored from %s\n", file);
    return true;
}

bool vsh_cmd_managedsave(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool ok;
    unsigned flags = save_flags(ctl, cmd, &ok);
    if (!ok)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    ok = vir_domain_managed_save(dom, flags, &err) == 0;
    if (ok) {
        vsh_print_extra(ctl, "\nDomain '%s' state saved by vireo\n", vir_domain_get_name(dom));
    } else {
        vsh_error(ctl, "Failed to save domain '%s' state", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    }
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_managedsave_remove(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    int has = vir_domain_has_managed_save_image(dom, 0, &err);
    if (has < 0) {
        vsh_error(ctl, "%s", "Failed to check for domain managed save image");
        vsh_report(ctl, &err);
    } else if (has == 0) {
        /* virsh ends these two lines with the command separator, not a newline of their own */
        vsh_print_extra(ctl, "Domain '%s' has no manage save image; removal skipped",
                        vir_domain_get_name(dom));
        ok = true;
    } else if (vir_domain_managed_save_remove(dom, 0, &err) < 0) {
        vsh_error(ctl, "Failed to remove managed save image for domain '%s'",
                  vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Removed managedsave image for domain '%s'", vir_domain_get_name(dom));
        ok = true;
    }
    vir_domain_free(dom);
    return ok;
}

/* ---- information ---- */

bool vsh_cmd_dominfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int id = vir_domain_get_id(dom);
    if (id >= 0)
        vsh_print(ctl, "%-15s %d\n", "Id:", id);
    else
        vsh_print(ctl, "%-15s %s\n", "Id:", "-");
    vsh_print(ctl, "%-15s %s\n", "Name:", vir_domain_get_name(dom));
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_domain_get_uuid_string(dom, uuid);
    vsh_print(ctl, "%-15s %s\n", "UUID:", uuid);
    char *os = vir_domain_get_os_type(dom, &err);
    if (os) {
        vsh_print(ctl, "%-15s %s\n", "OS Type:", os);
        free(os);
    }
    vir_domain_info info;
    if (vir_domain_get_info(dom, &info, &err) == 0) {
        vsh_print(ctl, "%-15s %s\n", "State:", vir_domain_state_to_string(info.state));
        vsh_print(ctl, "%-15s %d\n", "CPU(s):", info.nr_virt_cpu);
        if (info.cpu_time != 0)
            vsh_print(ctl, "%-15s %.1lfs\n", "CPU time:", (double)info.cpu_time / 1e9);
        if (info.max_mem != 0)
            vsh_print(ctl, "%-15s %lu KiB\n", "Max memory:", info.max_mem);
        else
            vsh_print(ctl, "%-15s %s\n", "Max memory:", "no limit");
        vsh_print(ctl, "%-15s %lu KiB\n", "Used memory:", info.memory);
    } else {
        vsh_print(ctl, "%-15s %s\n", "State:", "no state");
    }
    int persistent = vir_domain_is_persistent(dom, NULL);
    vsh_print(ctl, "%-15s %s\n", "Persistent:",
              persistent < 0 ? "unknown"
              : persistent   ? "yes"
                             : "no");
    int autostart;
    if (vir_domain_get_autostart(dom, &autostart, NULL) == 0)
        vsh_print(ctl, "%-15s %s\n", "Autostart:", autostart ? "enable" : "disable");
    int ms = vir_domain_has_managed_save_image(dom, 0, NULL);
    if (ms >= 0)
        vsh_print(ctl, "%-15s %s\n", "Managed save:", ms ? "yes" : "no");
    vir_security_model model;
    if (vir_node_get_security_model(ctl->conn, &model, NULL) == 0 && model.model[0]) {
        vsh_print(ctl, "%-15s %s\n", "Security model:", model.model);
        vsh_print(ctl, "%-15s %s\n", "Security DOI:", model.doi);
        vir_security_label label;
        if (vir_domain_get_security_label(dom, &label, NULL) == 0 && label.label[0])
            vsh_print(ctl, "%-15s %s (%s)\n", "Security label:", label.label,
                      label.enforcing ? "enforcing" : "permissive");
    }
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_domstate(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int state, reason;
    bool ok = vir_domain_get_state(dom, &state, &reason, 0, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    else if (vsh_opt_bool(cmd, "reason"))
        vsh_print(ctl, "%s (%s)\n", vir_domain_state_to_string(state),
                  vir_domain_state_reason_to_string(state, reason));
    else
        vsh_print(ctl, "%s\n", vir_domain_state_to_string(state));
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_domid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = lookup_by(ctl, cmd, BY_NAME | BY_UUID, NULL);
    if (!dom)
        return false;
    int id = vir_domain_get_id(dom);
    if (id < 0)
        vsh_print(ctl, "%s\n", "-");
    else
        vsh_print(ctl, "%d\n", id);
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_domname(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = lookup_by(ctl, cmd, BY_ID | BY_UUID, NULL);
    if (!dom)
        return false;
    vsh_print(ctl, "%s\n", vir_domain_get_name(dom));
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_domuuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = lookup_by(ctl, cmd, BY_ID | BY_NAME, NULL);
    if (!dom)
        return false;
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_domain_get_uuid_string(dom, uuid);
    vsh_print(ctl, "%s\n", uuid);
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "inactive"))
        flags |= VIR_DOMAIN_XML_INACTIVE;
    if (vsh_opt_bool(cmd, "security-info"))
        flags |= VIR_DOMAIN_XML_SECURE;
    if (vsh_opt_bool(cmd, "migratable"))
        flags |= VIR_DOMAIN_XML_MIGRATABLE;
    vir_error err;
    char *xml = vir_domain_get_xml_desc(dom, flags, &err);
    vir_domain_free(dom);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool disable = vsh_opt_bool(cmd, "disable");
    vir_error err;
    bool ok = vir_domain_set_autostart(dom, !disable, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "Failed to %smark domain '%s' as autostarted", disable ? "un" : "",
                  vir_domain_get_name(dom));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Domain '%s' %s as autostarted\n", vir_domain_get_name(dom),
                        disable ? "unmarked" : "marked");
    }
    vir_domain_free(dom);
    return ok;
}

/* ---- devices ---- */

/* The domain's definition, parsed from its XML (live unless --inactive). */
static struct domain_def *get_def(struct vsh_ctl *ctl, vir_domain *dom, bool inactive)
{
    return vsh_domain_def(ctl, dom, inactive);
}

struct domain_def *vsh_domain_def(struct vsh_ctl *ctl, vir_domain *dom, bool inactive)
{
    vir_error err;
    char *xml = vir_domain_get_xml_desc(dom, inactive ? VIR_DOMAIN_XML_INACTIVE : 0, &err);
    if (!xml) {
        vsh_report(ctl, &err);
        return NULL;
    }
    struct domain_def *def = NULL;
    struct verr verr = {0};
    if (domain_def_parse_string(xml, DOMAIN_PARSE_LIVE | DOMAIN_PARSE_GENERIC, &def, &verr) < 0)
        vsh_error(ctl, "%s", verr_msg(&verr));
    free(xml);
    return def;
}

static const char *disk_source(const struct domain_disk *d, char *buf, size_t len)
{
    if (d->source_path)
        return d->source_path;
    if (d->source_type == DOMAIN_DISK_SOURCE_NETWORK && d->source_name) {
        snprintf(buf, len, "%s", d->source_name);
        return buf;
    }
    if (d->source_type == DOMAIN_DISK_SOURCE_VOLUME && d->source_name) {
        snprintf(buf, len, "%s", d->source_name);
        return buf;
    }
    return "-";
}

bool vsh_cmd_domblklist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    struct domain_def *def = get_def(ctl, dom, vsh_opt_bool(cmd, "inactive"));
    vir_domain_free(dom);
    if (!def)
        return false;
    bool details = vsh_opt_bool(cmd, "details");
    const char *h4[] = {"Type", "Device", "Target", "Source"};
    const char *h2[] = {"Target", "Source"};
    struct vsh_table *t = details ? vsh_table_new(4, h4) : vsh_table_new(2, h2);
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        char buf[512];
        const char *src = disk_source(d, buf, sizeof(buf));
        const char *target = d->target_dev ? d->target_dev : "-";
        if (details) {
            const char *row[] = {domain_disk_source_to_string(d->source_type),
                                 domain_disk_device_to_string(d->device), target, src};
            vsh_table_add(t, row);
        } else {
            const char *row[] = {target, src};
            vsh_table_add(t, row);
        }
    }
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_print(ctl, "%s", buf_cstr(&out));
    buf_free(&out);
    vsh_table_free(t);
    domain_def_free(def);
    return true;
}

bool vsh_cmd_domiflist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    struct domain_def *def = get_def(ctl, dom, vsh_opt_bool(cmd, "inactive"));
    vir_domain_free(dom);
    if (!def)
        return false;
    const char *header[] = {"Interface", "Type", "Source", "Model", "MAC"};
    struct vsh_table *t = vsh_table_new(5, header);
    for (size_t i = 0; i < def->nnets; i++) {
        const struct domain_net *n = &def->nets[i];
        const char *src = n->source_network  ? n->source_network
                          : n->source_bridge ? n->source_bridge
                          : n->source_dev    ? n->source_dev
                                             : "-";
        const char *row[] = {n->target_dev ? n->target_dev : "-",
                             domain_net_type_to_string(n->type), src, n->model ? n->model : "-",
                             n->mac};
        vsh_table_add(t, row);
    }
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_print(ctl, "%s", buf_cstr(&out));
    buf_free(&out);
    vsh_table_free(t);
    domain_def_free(def);
    return true;
}

/* ---- edit ---- */

static const char *editor(void)
{
    const char *e = getenv("VISUAL");
    if (!e || !*e)
        e = getenv("EDITOR");
    if (!e || !*e)
        e = "vi";
    return e;
}

/* Runs the editor on path through the shell, as virsh does ("$EDITOR path"). */
int vsh_run_editor(struct vsh_ctl *ctl, const char *path)
{
    const char *ed = editor();
    char *command = xasprintf("%s %s", ed, path);
    fflush(ctl->out);
    int status = system(command);
    free(command);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        vsh_error(ctl, "%s: command exited with non-zero status", ed);
        return -1;
    }
    return 0;
}

/* Asks "Try again? [y,n,i,f,?]:"; returns 'y' (edit again), 'n' (give up), 'i' or 'f'
 * (define again without validation). */
int vsh_ask_again(struct vsh_ctl *ctl, FILE *in)
{
    for (;;) {
        vsh_print(ctl, "%s", "Failed. Try again? [y,n,i,f,?]:");
        fflush(ctl->out);
        char line[64];
        if (!fgets(line, sizeof(line), in)) {
            vsh_print(ctl, "\n");
            return 'n';
        }
        switch (line[0]) {
        case 'y':
        case 'n':
        case 'i':
        case 'f':
            return line[0];
        default:
            vsh_print(ctl, "%s",
                      "y - yes, start editing again\n"
                      "n - no, throw away my changes\n"
                      "i - turn off validation and try to redefine again\n"
                      "f - force, try to redefine again\n"
                      "? - print this help\n");
        }
    }
}

bool vsh_cmd_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    vir_error err;
    char *orig =
        vir_domain_get_xml_desc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE, &err);
    char path[] = "/tmp/vshXXXXXX.xml";
    char *edited = NULL;
    int fd = -1;
    if (!orig) {
        vsh_report(ctl, &err);
        goto out;
    }
    fd = mkstemps(path, 4);
    if (fd < 0) {
        vsh_error(ctl, "cannot create temporary file: %s", strerror(errno));
        goto out;
    }
    if (fd_write_all(fd, orig, strlen(orig)) < 0) {
        vsh_error(ctl, "cannot write temporary file '%s': %s", path, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    unsigned flags = vsh_opt_bool(cmd, "skip-validate") ? 0 : VIR_DOMAIN_DEFINE_VALIDATE;
    /* Unlike virsh, the answer is read even when stdin is not a terminal (end of input means
     * no), so scripts and tests can drive the re-edit loop. */
    FILE *tty = stdin;
    for (;;) {
        if (vsh_run_editor(ctl, path) < 0)
            goto out;
        free(edited);
        edited = vsh_read_xml_file(ctl, path);
        if (!edited)
            goto out;
        if (strcmp(edited, orig) == 0) {
            vsh_print_extra(ctl, "Domain '%s' XML configuration not changed.\n",
                            vir_domain_get_name(dom));
            ok = true;
            goto out;
        }
    redefine:;
        vir_domain *nd = vir_domain_define_xml(ctl->conn, edited, flags, &err);
        if (nd) {
            vsh_print_extra(ctl, "Domain '%s' XML configuration edited.\n",
                            vir_domain_get_name(nd));
            vir_domain_free(nd);
            ok = true;
            goto out;
        }
        vsh_report(ctl, &err);
        int answer = tty ? vsh_ask_again(ctl, tty) : 'n';
        if (answer == 'n')
            goto out;
        if (answer == 'i' || answer == 'f') {
            flags &= ~(unsigned)VIR_DOMAIN_DEFINE_VALIDATE;
            goto redefine;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (orig)
        unlink(path);
    free(orig);
    free(edited);
    vir_domain_free(dom);
    return ok;
}

/* change-media DOMAIN PATH [SOURCE] [--eject|--insert|--update] [--live|--config|--current]
 * [--force]: virsh's, through virDomainUpdateDeviceFlags with the CD-ROM's <disk> element
 * (its target and device from the domain's XML, the new <source> or none). */
bool vsh_cmd_change_media(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool eject = vsh_opt_bool(cmd, "eject"), insert = vsh_opt_bool(cmd, "insert");
    bool update = vsh_opt_bool(cmd, "update");
    const char *path = vsh_opt_string(cmd, "path"), *source = vsh_opt_string(cmd, "source");
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    bool current = vsh_opt_bool(cmd, "current");
    if ((eject && insert) || (eject && update) || (insert && update)) {
        vsh_error(ctl, "Options --%s and --%s are mutually exclusive", eject ? "eject" : "insert",
                  update ? "update" : "insert");
        return false;
    }
    if (current && (live || config)) {
        vsh_error(ctl, "Options --current and --%s are mutually exclusive",
                  live ? "live" : "config");
        return false;
    }
    if (!eject && !insert)
        update = true;
    if (eject && source) {
        vsh_error(ctl, "%s", "Options --eject and --source are mutually exclusive");
        return false;
    }
    if ((insert || update) && !source) {
        vsh_error(ctl, "No source is specified for %s media", insert ? "inserting" : "updating");
        return false;
    }
    unsigned flags = (live ? VIR_DOMAIN_AFFECT_LIVE : 0) | (config ? VIR_DOMAIN_AFFECT_CONFIG : 0) |
                     (vsh_opt_bool(cmd, "force") ? VIR_DOMAIN_DEVICE_MODIFY_FORCE : 0);
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    struct domain_def *def = get_def(ctl, dom, config && !live);
    const struct domain_disk *disk = NULL;
    for (size_t i = 0; def && !disk && i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if ((d->device == DOMAIN_DISK_DEVICE_CDROM || d->device == DOMAIN_DISK_DEVICE_FLOPPY) &&
            ((d->target_dev && strcmp(d->target_dev, path) == 0) ||
             (d->source_path && strcmp(d->source_path, path) == 0)))
            disk = d;
    }
    if (def && !disk)
        vsh_error(ctl, "No disk found whose source path or target is %s", path);
    else if (disk && insert && disk->source_path)
        vsh_error(ctl, "The disk device '%s' already has media", path);
    else if (disk && eject && !disk->source_path)
        vsh_error(ctl, "The disk device '%s' doesn't have media", path);
    if (!disk || (insert && disk->source_path) || (eject && !disk->source_path))
        goto out;
    struct buf x = BUF_INIT;
    buf_printf(&x, "<disk type='file' device='%s'>\n", domain_disk_device_to_string(disk->device));
    if (source) {
        buf_printf(&x, "  <driver name='qemu' type='raw'/>\n  <source file='");
        xml_escape(&x, source, true);
        buf_printf(&x, "'/>\n");
    }
    buf_printf(&x, "  <target dev='");
    xml_escape(&x, disk->target_dev, true);
    buf_printf(&x, "' bus='%s'/>\n  <readonly/>\n</disk>\n",
               domain_disk_bus_to_string(disk->target_bus));
    vir_error err;
    if (vir_domain_update_device_flags(dom, buf_cstr(&x), flags, &err) < 0) {
        vsh_report(ctl, &err);
    } else {
        vsh_print(ctl, "Successfully %s media.\n",
                  eject    ? "ejected"
                  : insert ? "inserted"
                           : "updated");
        ok = true;
    }
    buf_free(&x);
out:
    domain_def_free(def);
    vir_domain_free(dom);
    return ok;
}
