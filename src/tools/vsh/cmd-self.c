/*
 * cmd-self.c - the commands of virsh's "Virsh itself" group that act on the
 * shell rather than on a connection: echo (its words back, quoted for a
 * shell or escaped for XML, or split at commas, as virsh 9.0's echo does),
 * cd (interactive mode only, as in virsh: a one-shot vsh has no directory
 * to keep) and pwd. None of them connects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/buf.h"

const struct vsh_opt vsh_opts_echo[] = {
    {"shell", VSH_OT_BOOL, 0, "escape for shell use"},
    {"xml", VSH_OT_BOOL, 0, "escape for XML use"},
    {"split", VSH_OT_BOOL, 0, "split each argument on ','; ',,' is an escape sequence"},
    {"err", VSH_OT_BOOL, 0, "output to stderr"},
    {"string", VSH_OT_ARGV, 0, "arguments to echo"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_cd[] = {
    {"dir", VSH_OT_STRING, 0, "directory to switch to (default: home or else root)"},
    {NULL, 0, 0, NULL},
};

/* A word a shell reads back as it is: unquoted when it has none of the shell's special
 * characters, else in single quotes with each ' as '\'' (libvirt's virBufferEscapeShell). */
static void escape_shell(struct buf *b, const char *s)
{
    if (*s && !strpbrk(s, "\r\t\n !\"#$&'()*;<>?[\\]^`{|}~")) {
        buf_append_str(b, s);
        return;
    }
    buf_append_byte(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            buf_append_str(b, "'\\'");
        buf_append_byte(b, (uint8_t)*s);
    }
    buf_append_byte(b, '\'');
}

/* XML's five escapes; control characters other than tab, newline and CR dropped, as libvirt's
 * virBufferEscapeString does. */
static void escape_xml(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<')
            buf_append_str(b, "&lt;");
        else if (c == '>')
            buf_append_str(b, "&gt;");
        else if (c == '&')
            buf_append_str(b, "&amp;");
        else if (c == '"')
            buf_append_str(b, "&quot;");
        else if (c == '\'')
            buf_append_str(b, "&apos;");
        else if (c >= 0x20 || c == '\n' || c == '\t' || c == '\r')
            buf_append_byte(b, c);
    }
}

/* The word split at single commas, ",," standing for a comma; each piece on its own line
 * (virsh's vshStringToArray). A trailing single comma ends with an empty piece. */
static void split_commas(struct buf *b, const char *s)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        if (!comma) {
            buf_append_str(b, s);
            buf_append_byte(b, '\n');
            return;
        }
        buf_append(b, s, (size_t)(comma - s));
        if (comma[1] == ',') { /* an escaped comma: the piece goes on */
            buf_append_byte(b, ',');
            s = comma + 2;
            continue;
        }
        buf_append_byte(b, '\n');
        s = comma + 1;
    }
}

bool vsh_cmd_echo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool shell = vsh_opt_bool(cmd, "shell"), xml = vsh_opt_bool(cmd, "xml");
    bool split = vsh_opt_bool(cmd, "split");
    const char *pairs[][2] = {{"shell", "xml"}, {"shell", "split"}, {"xml", "split"}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (vsh_opt_bool(cmd, pairs[i][0]) && vsh_opt_bool(cmd, pairs[i][1])) {
            vsh_error(ctl, "Options --%s and --%s are mutually exclusive", pairs[i][0],
                      pairs[i][1]);
            return false;
        }
    }
    const char *words[VSH_MAX_OPTS];
    int n = vsh_opt_argv(cmd, "string", words, VSH_MAX_OPTS);
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (i)
            buf_append_byte(&b, ' ');
        if (xml)
            escape_xml(&b, words[i]);
        else if (shell)
            escape_shell(&b, words[i]);
        else if (split)
            split_commas(&b, words[i]);
        else
            buf_append_str(&b, words[i]);
    }
    if (vsh_opt_bool(cmd, "err"))
        vsh_error(ctl, "%s", buf_cstr(&b));
    else /* no newline: the one a command line's command ends with is the only one */
        vsh_print(ctl, "%s", buf_cstr(&b));
    buf_free(&b);
    return true;
}

bool vsh_cmd_cd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    if (!ctl->interactive) {
        vsh_error(ctl, "%s", "cd: command valid only in interactive mode");
        return false;
    }
    const char *dir = vsh_opt_string(cmd, "dir");
    if (!dir || !*dir) /* virsh: no directory, or an empty one, is the home directory */
        dir = getenv("HOME");
    if (!dir || !*dir)
        dir = "/";
    if (chdir(dir) < 0) {
        vsh_error(ctl, "cd: %s: %s", strerror(errno), dir);
        return false;
    }
    return true;
}

bool vsh_cmd_pwd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    char *cwd = getcwd(NULL, 0);
    if (!cwd) {
        vsh_error(ctl, "pwd: %s", strerror(errno));
        return false;
    }
    vsh_print(ctl, "%s\n", cwd);
    free(cwd);
    return true;
}
