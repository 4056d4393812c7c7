/*
 * cmd-agent.c - virsh's commands that go to the guest agent: qemu-agent-command (any command
 * as JSON, through virDomainQemuAgentCommand, the agent's whole reply printed compact, or
 * with --pretty indented as JSON), domfsfreeze, domfsthaw, domfsinfo, set-user-password and
 * guestinfo and guestvcpus; and qemu-monitor-command, its neighbour in libvirt-qemu (QMP as
 * JSON or an HMP line with --hmp, to the VMM's monitor). Options, checks and outputs are
 * virsh's.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "tools/vsh/commands.h"
#include "tools/vsh/vsh.h"
#include "util/buf.h"

bool vsh_cmd_qemu_agent_command(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool async = vsh_opt_bool(cmd, "async"), block = vsh_opt_bool(cmd, "block");
    const char *to = vsh_opt_string(cmd, "timeout");
    int timeout = VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT;
    if (to) {
        char *end;
        errno = 0;
        long v = strtol(to, &end, 10);
        if (!*to || *end || errno || v < -2147483647L - 1 || v > 2147483647L) {
            vsh_error(ctl, "Numeric value '%s' for <timeout> option is malformed or out of range",
                      to);
            return false;
        }
        if (v < 1) {
            vsh_error(ctl, "timeout must be positive");
            return false;
        }
        timeout = (int)v;
    }
    if ((to != NULL) + async + block > 1) { /* virsh's check, after the timeout's own */
        vsh_error(ctl, "timeout, async and block options are exclusive");
        return false;
    }
    if (async)
        timeout = VIR_DOMAIN_QEMU_AGENT_COMMAND_NOWAIT;
    if (block)
        timeout = VIR_DOMAIN_QEMU_AGENT_COMMAND_BLOCK;
    const char *words[256];
    int n = vsh_opt_argv(cmd, "cmd", words, 256);
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *text = calloc(1, len);
    if (!text)
        return false;
    for (int i = 0; i < n; i++) { /* virsh joins the words with spaces */
        if (i)
            strcat(text, " ");
        strcat(text, words[i]);
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom) {
        free(text);
        return false;
    }
    vir_error err;
    char *result = vir_domain_qemu_agent_command(dom, text, timeout, 0, &err);
    free(text);
    bool ok = result != NULL;
    if (!result) {
        vsh_report(ctl, &err);
    } else if (vsh_opt_bool(cmd, "pretty")) {
        struct json_object *o = json_tokener_parse(result);
        if (o) {
            /* libvirt's reformatted text ends in a newline, and virsh adds its own */
            vsh_print(ctl, "%s\n\n",
                      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_SPACED |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(o);
        } else {
            vsh_print(ctl, "%s\n", result);
        }
    } else {
        vsh_print(ctl, "%s\n", result);
    }
    free(result);
    vir_domain_free(dom);
    return ok;
}

/* The argv words joined with spaces, as virsh joins a command's. */
static char *join_words(const struct vsh_cmd *cmd, const char *opt)
{
    const char *words[256];
    int n = vsh_opt_argv(cmd, opt, words, 256);
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (i)
            buf_append_byte(&b, ' ');
        buf_append_str(&b, words[i]);
    }
    return buf_detach(&b, NULL);
}

/* text parsed as one JSON value with nothing but blanks after it, or NULL (*why: json-c's
 * reason, when given). */
static struct json_object *parse_whole(const char *text, const char **why)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    size_t len = strlen(text);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1); /* the NUL ends it */
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (o && used < len && text[used + strspn(text + used, " \t\r\n")]) {
        json_object_put(o); /* something after the value */
        o = NULL;
        e = json_tokener_error_parse_unexpected;
    }
    if (!o && why)
        *why =
            json_tokener_error_desc(e == json_tokener_success ? json_tokener_error_parse_eof : e);
    return o;
}

/* virsh 9.0's QMP command: the words as they are when they make a JSON object; otherwise the
 * first word is the command's name and the others, joined with commas inside braces, the
 * object of its arguments. NULL after virsh's error. */
static char *qmp_wrap(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, char *joined)
{
    struct json_object *whole = parse_whole(joined, NULL);
    bool object = whole && json_object_is_type(whole, json_type_object);
    json_object_put(whole);
    if (object)
        return joined;
    const char *words[256];
    int n = vsh_opt_argv(cmd, "cmd", words, 256);
    struct json_object *wrapped = json_object_new_object();
    json_object_object_add(wrapped, "execute", json_object_new_string(n ? words[0] : ""));
    char *out = NULL;
    if (n > 1) {
        struct buf braces = BUF_INIT, spaced = BUF_INIT;
        buf_append_byte(&braces, '{');
        for (int i = 1; i < n; i++) {
            buf_printf(&braces, "%s%s", i > 1 ? "," : "", words[i]);
            buf_printf(&spaced, "%s%s", i > 1 ? " " : "", words[i]);
        }
        buf_append_byte(&braces, '}');
        const char *why = NULL;
        struct json_object *args = parse_whole(buf_cstr(&braces), &why);
        if (args) {
            json_object_object_add(wrapped, "arguments", args);
        } else {
            vsh_error(ctl, "failed to wrap arguments '%s' into a QMP command wrapper",
                      buf_cstr(&spaced));
            vsh_error(ctl, "internal error: cannot parse json %s: %s", buf_cstr(&braces), why);
        }
        bool failed = !args;
        buf_free(&braces);
        buf_free(&spaced);
        if (failed)
            goto out;
    }
    out = strdup(json_object_to_json_string_ext(wrapped, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
out:
    json_object_put(wrapped);
    free(joined);
    return out;
}

bool vsh_cmd_qemu_monitor_command(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool hmp = vsh_opt_bool(cmd, "hmp"), pretty = vsh_opt_bool(cmd, "pretty");
    bool return_value = vsh_opt_bool(cmd, "return-value");
    if (hmp && (pretty || return_value)) {
        vsh_error(ctl, "Options --hmp and --%s are mutually exclusive",
                  pretty ? "pretty" : "return-value");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    char *text = join_words(cmd, "cmd"), *result = NULL;
    if (!hmp && !(text = qmp_wrap(ctl, cmd, text))) {
        vir_domain_free(dom);
        return false;
    }
    vir_error err;
    int r = vir_domain_qemu_monitor_command(dom, text, &result,
                                            hmp ? VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP : 0, &err);
    free(text);
    vir_domain_free(dom);
    if (r < 0) {
        vsh_report(ctl, &err);
        return false;
    }
    struct json_object *o = pretty || return_value ? json_tokener_parse(result) : NULL;
    struct json_object *shown = o;
    bool ok = true;
    if (return_value && !o) {
        vsh_error(ctl, "%s", "failed to parse JSON returned by qemu");
        ok = false;
    } else if (!o) { /* as it came */
        vsh_print(ctl, "%s\n", result);
    } else if (return_value && !json_object_object_get_ex(o, "return", &shown)) {
        vsh_error(ctl, "%s", "'return' member missing");
        ok = false;
    } else { /* libvirt's JSON, its trailing blanks trimmed */
        int flags =
            JSON_C_TO_STRING_NOSLASHESCAPE |
            (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
        vsh_print(ctl, "%s", json_object_to_json_string_ext(shown, flags));
    }
    json_object_put(o);
    free(result);
    return ok;
}

static bool fs_freeze_thaw(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool freeze)
{
    const char *mps[256];
    int n = vsh_opt_argv(cmd, "mountpoint", mps, 256);
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int r = freeze ? vir_domain_fs_freeze(dom, n ? mps : NULL, (unsigned)n, 0, &err)
                   : vir_domain_fs_thaw(dom, n ? mps : NULL, (unsigned)n, 0, &err);
    if (r < 0) {
        vsh_error(ctl, freeze ? "Unable to freeze filesystems" : "Unable to thaw filesystems");
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, freeze ? "Froze %d filesystem(s)\n" : "Thawed %d filesystem(s)\n", r);
    }
    vir_domain_free(dom);
    return r >= 0;
}

bool vsh_cmd_domfsfreeze(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return fs_freeze_thaw(ctl, cmd, true);
}

bool vsh_cmd_domfsthaw(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return fs_freeze_thaw(ctl, cmd, false);
}

/* virsh's table: mountpoint, device name, type and the domain's disks, comma-separated */
bool vsh_cmd_domfsinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_domain_fs_info **info = NULL;
    int n = vir_domain_get_fs_info(dom, &info, 0, &err);
    vir_domain_free(dom);
    if (n < 0) {
        vsh_error(ctl, "Unable to get filesystem information");
        vsh_report(ctl, &err);
        return false;
    }
    if (n == 0) { /* virsh: a success, said on stdout */
        free(info);
        /* no newline, as virsh: the blank line after each command ends it */
        vsh_print_extra(ctl, "No filesystems are mounted in the domain");
        return true;
    }
    static const char *const header[] = {"Mountpoint", "Name", "Type", "Target"};
    struct vsh_table *t = vsh_table_new(4, header);
    for (int i = 0; i < n; i++) {
        struct buf targets = BUF_INIT;
        for (unsigned j = 0; j < info[i]->ndev_alias; j++)
            buf_printf(&targets, "%s%s", j ? "," : "", info[i]->dev_alias[j]);
        const char *row[] = {info[i]->mountpoint, info[i]->name, info[i]->fstype,
                             targets.data ? (const char *)targets.data : ""};
        vsh_table_add(t, row);
        buf_free(&targets);
        vir_domain_fs_info_free(info[i]);
    }
    free(info);
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_table_free(t);
    vsh_print(ctl, "%.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    return true;
}

bool vsh_cmd_set_user_password(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *user = vsh_opt_string(cmd, "user"), *password = vsh_opt_string(cmd, "password");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    unsigned flags = vsh_opt_bool(cmd, "encrypted") ? VIR_DOMAIN_PASSWORD_ENCRYPTED : 0;
    bool ok = vir_domain_set_user_password(dom, user, password, flags, &err) == 0;
    if (!ok) /* no newline after the message, as virsh: the blank line after each command */
        vsh_report(ctl, &err);
    else
        vsh_print_extra(ctl, "Password set successfully for %s in %s", user,
                        vir_domain_get_name(dom));
    vir_domain_free(dom);
    return ok;
}

/* virsh's "key : value" lines, the value as vshGetTypedParamValue words it. */
bool vsh_cmd_guestinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const struct {
        const char *opt;
        unsigned type;
    } cats[] = {
        {"user", VIR_DOMAIN_GUEST_INFO_USERS},
        {"os", VIR_DOMAIN_GUEST_INFO_OS},
        {"timezone", VIR_DOMAIN_GUEST_INFO_TIMEZONE},
        {"hostname", VIR_DOMAIN_GUEST_INFO_HOSTNAME},
        {"filesystem", VIR_DOMAIN_GUEST_INFO_FILESYSTEM},
        {"disk", VIR_DOMAIN_GUEST_INFO_DISKS},
        {"interface", VIR_DOMAIN_GUEST_INFO_INTERFACES},
    };
    unsigned types = 0;
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
        if (vsh_opt_bool(cmd, cats[i].opt))
            types |= cats[i].type;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_typed_parameter *params = NULL;
    int n = 0;
    int r = vir_domain_get_guest_info(dom, types, &params, &n, 0, &err);
    vir_domain_free(dom);
    if (r < 0) {
        vsh_report(ctl, &err);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const vir_typed_parameter *p = &params[i];
        switch (p->type) {
        case VIR_TYPED_PARAM_INT:
            vsh_print(ctl, "%-20s: %d\n", p->field, p->value.i);
            break;
        case VIR_TYPED_PARAM_UINT:
            vsh_print(ctl, "%-20s: %u\n", p->field, p->value.ui);
            break;
        case VIR_TYPED_PARAM_LLONG:
            vsh_print(ctl, "%-20s: %lld\n", p->field, p->value.l);
            break;
        case VIR_TYPED_PARAM_ULLONG:
            vsh_print(ctl, "%-20s: %llu\n", p->field, p->value.ul);
            break;
        case VIR_TYPED_PARAM_DOUBLE:
            vsh_print(ctl, "%-20s: %f\n", p->field, p->value.d);
            break;
        case VIR_TYPED_PARAM_BOOLEAN:
            vsh_print(ctl, "%-20s: %s\n", p->field, p->value.b ? "yes" : "no");
            break;
        case VIR_TYPED_PARAM_STRING:
            vsh_print(ctl, "%-20s: %s\n", p->field, p->value.s ? p->value.s : "");
            break;
        default:
            vsh_print(ctl, "%-20s: unimplemented parameter type %d\n", p->field, p->type);
            break;
        }
    }
    vir_typed_params_free(params, n);
    return true;
}

/* Without --cpulist the guest's vcpus/online/offlinable lists; with it, those vCPUs enabled or
 * disabled. */
bool vsh_cmd_guestvcpus(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *cpulist = vsh_opt_string(cmd, "cpulist");
    bool enable = vsh_opt_bool(cmd, "enable"), disable = vsh_opt_bool(cmd, "disable");
    if (enable && disable) {
        vsh_error(ctl, "Options --enable and --disable are mutually exclusive");
        return false;
    }
    if ((enable || disable) && !cpulist) {
        vsh_error(ctl, "Option --%s is required by option --cpulist",
                  enable ? "enable" : "disable");
        return false;
    }
    if (cpulist && !enable && !disable) {
        vsh_error(ctl, "One of options --enable or --disable is required by option --cpulist");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok;
    if (cpulist) {
        ok = vir_domain_set_guest_vcpus(dom, cpulist, enable ? 1 : 0, 0, &err) == 0;
        if (!ok)
            vsh_report(ctl, &err);
    } else {
        vir_typed_parameter *params = NULL;
        int n = 0;
        ok = vir_domain_get_guest_vcpus(dom, &params, &n, 0, &err) == 0;
        if (!ok)
            vsh_report(ctl, &err);
        for (int i = 0; ok && i < n; i++)
            vsh_print(ctl, "%-15s: %s\n", params[i].field,
                      params[i].type == VIR_TYPED_PARAM_STRING && params[i].value.s
                          ? params[i].value.s
                          : "");
        if (ok)
            vir_typed_params_free(params, n);
    }
    vir_domain_free(dom);
    return ok;
}
