/*
 * cmd-secret.c - virsh's Secret commands: secret-define, secret-undefine,
 * secret-list, secret-dumpxml, secret-set-value, secret-get-value, with
 * virsh 9.0's options, outputs and error lines (checked against the stock
 * virsh in tests/integration/daemon/test-secret-vsh.py).
 *
 * secret-set-value turns its input into bytes on the client as virsh does:
 * --base64 (or --file's contents) decoded the lenient way GLib's
 * g_base64_decode does it, --plain (and --interactive) taken as they are.
 * Copies of a value are wiped before they are freed.
 *
 * secret-dumpxml's --xpath/--wrap are xpath.c's; secret-event waits with
 * the other event commands in cmd-console.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"

/* virsh reads at most this much from secret-set-value --file */
#define SECRET_FILE_MAX 1024

const struct vsh_opt vsh_opts_secret[] = {
    {"secret", VSH_OT_STRING, VSH_OFLAG_REQ, "secret UUID"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_dumpxml[] = {
    {"secret", VSH_OT_STRING, VSH_OFLAG_REQ, "secret UUID"},
    {"xpath", VSH_OT_STRING, 0, "xpath expression to filter the XML document"},
    {"wrap", VSH_OT_BOOL, 0, "wrap xpath results in an common root element"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_event[] = {
    {"secret", VSH_OT_STRING, 0, "filter by secret name or uuid"},
    {"event", VSH_OT_STRING, 0, "which event type to wait for"},
    {"loop", VSH_OT_BOOL, 0, "loop until timeout or interrupt, rather than one-shot"},
    {"timeout", VSH_OT_INT, 0, "timeout seconds"},
    {"list", VSH_OT_BOOL, 0, "list valid event types"},
    {"timestamp", VSH_OT_BOOL, 0, "show timestamp for each printed event"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_define[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing secret attributes in XML"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_list[] = {
    {"ephemeral", VSH_OT_BOOL, 0, "list ephemeral secrets"},
    {"no-ephemeral", VSH_OT_BOOL, 0, "list non-ephemeral secrets"},
    {"private", VSH_OT_BOOL, 0, "list private secrets"},
    {"no-private", VSH_OT_BOOL, 0, "list non-private secrets"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_set_value[] = {
    {"secret", VSH_OT_STRING, VSH_OFLAG_REQ, "secret UUID"},
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "read secret from file"},
    {"plain", VSH_OT_BOOL, 0, "read the secret from file without converting from base64"},
    {"interactive", VSH_OT_BOOL, 0, "read the secret from the terminal"},
    {"base64", VSH_OT_STRING, 0, "base64-encoded secret value"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_secret_get_value[] = {
    {"secret", VSH_OT_STRING, VSH_OFLAG_REQ, "secret UUID"},
    {"plain", VSH_OT_BOOL, 0, "get value without converting to base64"},
    {NULL, 0, 0, NULL},
};

/* virsh's vshCommandOptStringReq: an option given empty is refused. */
static bool opt_nonempty(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name)
{
    const char *s = vsh_opt_string(cmd, name);
    if (s && !*s) {
        vsh_error(ctl, "Failed to get option '%s': Option argument is empty", name);
        return false;
    }
    return true;
}

/* virsh's virshCommandOptSecret: by UUID only. */
vir_secret *vsh_lookup_secret(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char **uuid)
{
    if (!opt_nonempty(ctl, cmd, "secret"))
        return NULL;
    const char *s = vsh_opt_string(cmd, "secret");
    if (uuid)
        *uuid = s;
    vir_error err;
    vir_secret *sec = vir_secret_lookup_by_uuid_string(ctl->conn, s, &err);
    if (!sec) {
        vsh_error(ctl, "failed to get secret '%s'", s);
        vsh_report(ctl, &err);
    }
    return sec;
}

bool vsh_cmd_secret_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    vir_error err;
    unsigned flags = vsh_opt_bool(cmd, "validate") ? VIR_SECRET_DEFINE_VALIDATE : 0;
    vir_secret *sec = vir_secret_define_xml(ctl->conn, xml, flags, &err);
    free(xml);
    if (!sec) {
        vsh_error(ctl, "Failed to set attributes from %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_secret_get_uuid_string(sec, uuid);
    vsh_print_extra(ctl, "Secret %s created\n", uuid);
    vir_secret_free(sec);
    return true;
}

bool vsh_cmd_secret_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *uuid;
    vir_secret *sec = vsh_lookup_secret(ctl, cmd, &uuid);
    if (!sec)
        return false;
    vir_error err;
    int r = vir_secret_undefine(sec, &err);
    vir_secret_free(sec);
    if (r < 0) {
        vsh_error(ctl, "Failed to delete secret %s", uuid);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Secret %s deleted\n", uuid);
    return true;
}

bool vsh_cmd_secret_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    /* virsh 9.0 fails an empty --xpath without a word (and reports a leaked reference): the
     * empty-option line instead */
    if (!opt_nonempty(ctl, cmd, "xpath"))
        return false;
    vir_secret *sec = vsh_lookup_secret(ctl, cmd, NULL);
    if (!sec)
        return false;
    vir_error err;
    char *xml = vir_secret_get_xml_desc(sec, 0, &err);
    vir_secret_free(sec);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = vsh_dump_xml(ctl, xml, "secret.xml", vsh_opt_string(cmd, "xpath"),
                           vsh_opt_bool(cmd, "wrap"));
    free(xml);
    return ok;
}

bool vsh_cmd_secret_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "ephemeral"))
        flags |= VIR_CONNECT_LIST_SECRETS_EPHEMERAL;
    if (vsh_opt_bool(cmd, "no-ephemeral"))
        flags |= VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL;
    if (vsh_opt_bool(cmd, "private"))
        flags |= VIR_CONNECT_LIST_SECRETS_PRIVATE;
    if (vsh_opt_bool(cmd, "no-private"))
        flags |= VIR_CONNECT_LIST_SECRETS_NO_PRIVATE;
    vir_error err;
    vir_secret **secs = NULL;
    int n = vir_connect_list_all_secrets(ctl->conn, &secs, flags, &err);
    if (n < 0) {
        vsh_error(ctl, "%s", "Failed to list secrets");
        vsh_report(ctl, &err);
        return false;
    }
    const char *h[] = {"UUID", "Usage"};
    struct vsh_table *t = vsh_table_new(2, h);
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        vir_secret_get_uuid_string(secs[i], uuid);
        int type = vir_secret_get_usage_type(secs[i]);
        char *usage = NULL;
        if (type != VIR_SECRET_USAGE_TYPE_NONE) {
            const char *name = vir_secret_usage_type_to_string(type);
            usage = xasprintf("%s %s", name ? name : "(null)", vir_secret_get_usage_id(secs[i]));
        }
        const char *row[] = {uuid, usage ? usage : "Unused"};
        vsh_table_add(t, row);
        free(usage);
        vir_secret_free(secs[i]);
    }
    free(secs);
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_table_free(t);
    if (out.len)
        vsh_print(ctl, "%.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    return true;
}

/* ---- values ---- */

static int b64_rank(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '=')
        return 0;
    return -1;
}

/*
 * GLib's g_base64_decode, which virsh uses: characters outside the alphabet
 * are skipped, each group of four gives three bytes less one for each '='
 * among its last two, and an incomplete last group gives nothing. Never fails.
 */
static unsigned char *b64_decode_lenient(const char *in, size_t len, size_t *outlen)
{
    unsigned char *out = xmalloc(len / 4 * 3 + 3);
    size_t o = 0;
    unsigned v = 0;
    int i = 0;
    char last[2] = {0, 0};
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)in[k];
        int r = b64_rank(c);
        if (r < 0)
            continue;
        last[1] = last[0];
        last[0] = (char)c;
        v = (v << 6) | (unsigned)r;
        if (++i == 4) {
            out[o++] = (unsigned char)(v >> 16);
            if (last[1] != '=')
                out[o++] = (unsigned char)(v >> 8);
            if (last[0] != '=')
                out[o++] = (unsigned char)v;
            i = 0;
            v = 0;
        }
    }
    *outlen = o;
    return out;
}

static char *b64_encode(const unsigned char *in, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *p = 0;
    return out;
}

static void wipe_free(void *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    free(p);
}

/* One line from stdin without echo when it is a terminal (libvirt's virGetPassword). */
static char *read_password(void)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char line[1024];
    bool got = fgets(line, sizeof(line), stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    char *r = NULL;
    if (got) {
        line[strcspn(line, "\r\n")] = 0;
        r = xstrdup(line);
    }
    explicit_bzero(line, sizeof(line));
    return r;
}

bool vsh_cmd_secret_set_value(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *base64 = vsh_opt_string(cmd, "base64");
    const char *file = vsh_opt_string(cmd, "file");
    bool plain = vsh_opt_bool(cmd, "plain"), interactive = vsh_opt_bool(cmd, "interactive");
    static const char *const exclusive[][2] = {{"file", "base64"},
                                               {"plain", "base64"},
                                               {"interactive", "file"},
                                               {"interactive", "base64"}};
    for (size_t i = 0; i < sizeof(exclusive) / sizeof(exclusive[0]); i++) {
        bool a = vsh_opt_bool(cmd, exclusive[i][0]) || vsh_opt_string(cmd, exclusive[i][0]);
        bool b = vsh_opt_bool(cmd, exclusive[i][1]) || vsh_opt_string(cmd, exclusive[i][1]);
        if (a && b) {
            vsh_error(ctl, "Options --%s and --%s are mutually exclusive", exclusive[i][0],
                      exclusive[i][1]);
            return false;
        }
    }
    vir_secret *sec = vsh_lookup_secret(ctl, cmd, NULL);
    if (!sec)
        return false;
    if (!opt_nonempty(ctl, cmd, "base64") || !opt_nonempty(ctl, cmd, "file")) {
        vir_secret_free(sec);
        return false;
    }
    if (!base64 && !file && !interactive) {
        vsh_error(ctl, "%s", "Input secret value is missing");
        vir_secret_free(sec);
        return false;
    }
    if (base64) /* as virsh warns, and goes on */
        vsh_error(ctl, "%s", "Passing secret value as command-line argument is insecure!");

    char *input = NULL; /* --file's contents or the typed line */
    size_t input_len = 0;
    if (file) {
        struct buf b = BUF_INIT;
        struct verr verr = {0};
        int r = file_read_all(file, SECRET_FILE_MAX, &b, &verr);
        if (r < 0) {
            wipe_free(b.data, b.cap);
            b.data = NULL;
            /* libvirt's virFileReadAll words (EOVERFLOW for a file over the limit) */
            vsh_error(ctl, "%s '%s': %s",
                      r == -EFBIG ? "Failed to read file" : "Failed to open file", file,
                      strerror(r == -EFBIG ? EOVERFLOW : -r));
            vir_secret_free(sec);
            return false;
        }
        input_len = b.len;
        input = b.data ? (char *)b.data : xstrdup(""); /* data[len] is 0 */
        base64 = input;
    }
    if (interactive) {
        vsh_print(ctl, "%s", "Enter new value for secret:");
        fflush(ctl->out);
        input = read_password();
        if (!input) {
            vsh_error(ctl, "%s", "Failed to read secret");
            vir_secret_free(sec);
            return false;
        }
        input_len = strlen(input);
        plain = true; /* virsh: interactive implies plain */
    }
    unsigned char *value;
    size_t value_len;
    if (plain) {
        value = (unsigned char *)input;
        value_len = input_len;
        input = NULL;
    } else {
        value = b64_decode_lenient(base64, strlen(base64), &value_len);
    }
    wipe_free(input, input_len);
    vir_error err;
    int r = vir_secret_set_value(sec, value, value_len, 0, &err);
    wipe_free(value, value_len);
    vir_secret_free(sec);
    if (r < 0) {
        vsh_error(ctl, "%s", "Failed to set secret value");
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "%s", "Secret value set\n");
    return true;
}

bool vsh_cmd_secret_get_value(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_secret *sec = vsh_lookup_secret(ctl, cmd, NULL);
    if (!sec)
        return false;
    vir_error err;
    size_t len = 0;
    unsigned char *value = vir_secret_get_value(sec, &len, 0, &err);
    vir_secret_free(sec);
    if (!value) {
        vsh_report(ctl, &err);
        return false;
    }
    if (len == 0) {
        /* libvirt's remote driver returns an empty value as NULL without an error, and virsh
         * says so this way; vsh says the same */
        free(value);
        vsh_error(ctl, "%s", "An error occurred, but the cause is unknown");
        return false;
    }
    bool ok = true;
    if (vsh_opt_bool(cmd, "plain")) {
        if (fwrite(value, 1, len, ctl->out) != len) {
            vsh_error(ctl, "%s", "failed to write secret");
            ok = false;
        }
    } else {
        char *text = b64_encode(value, len);
        vsh_print(ctl, "%s", text);
        wipe_free(text, strlen(text));
    }
    wipe_free(value, len);
    return ok;
}
