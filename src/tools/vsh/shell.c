/*
 * shell.c - running commands: output helpers, the lazily opened connection,
 * the per-command rules virsh follows (a blank line after each command's
 * output unless -q), and the interactive loop (libedit when the input is a
 * terminal; otherwise lines are read and echoed after the prompt, so a
 * script piped into `vsh` produces the same transcript as `virsh`).
 */
#include "tools/vsh/vsh.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

void vsh_error(struct vsh_ctl *ctl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(ctl->out);
    fputs("error: ", ctl->err);
    vfprintf(ctl->err, fmt, ap);
    fputc('\n', ctl->err);
    fflush(ctl->err);
    va_end(ap);
}

void vsh_report(struct vsh_ctl *ctl, const vir_error *err)
{
    vsh_error(ctl, "%s", err && err->message[0] ? err->message : "unknown error");
}

void vsh_print(struct vsh_ctl *ctl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ctl->out, fmt, ap);
    va_end(ap);
}

void vsh_print_extra(struct vsh_ctl *ctl, const char *fmt, ...)
{
    if (ctl->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ctl->out, fmt, ap);
    va_end(ap);
}

/* As libvirt's default authentication callback, which virsh uses: each
 * prompt on stdout, the answer from stdin, a password without echo when
 * stdin is a terminal. */
static int ask_credentials(vir_connect_credential *creds, unsigned int n, void *opaque)
{
    (void)opaque;
    for (unsigned i = 0; i < n; i++) {
        bool secret = creds[i].type == VIR_CRED_PASSPHRASE;
        struct termios old, quiet;
        bool tty = secret && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
        printf("%s: ", creds[i].prompt);
        fflush(stdout);
        if (tty) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        char line[1024];
        bool got = fgets(line, sizeof(line), stdin) != NULL;
        if (tty) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
            putchar('\n');
        }
        if (!got)
            return -1;
        line[strcspn(line, "\r\n")] = 0;
        creds[i].result = xstrdup(line);
    }
    return 0;
}

vir_connect *vsh_conn(struct vsh_ctl *ctl)
{
    if (ctl->conn)
        return ctl->conn;
    vir_error err;
    ctl->conn = vir_connect_open_auth(ctl->uri, ask_credentials, ctl,
                                      ctl->readonly ? VIR_CONNECT_RO : 0, &err);
    if (!ctl->conn) {
        ctl->connect_failed = true;
        vsh_error(ctl, "%s", "failed to connect to the hypervisor");
        vsh_report(ctl, &err);
    }
    return ctl->conn;
}

bool vsh_run(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    if (!(cmd->def->flags & VSH_CMD_NOCONNECT) && !vsh_conn(ctl)) {
        /* As virsh, which connects before running anything: nothing more runs. */
        ctl->quit = true;
        return false;
    }
    bool ok = cmd->def->handler(ctl, cmd);
    /* virsh separates each command's output with a blank line; -q drops it. quit/exit print
     * nothing on a command line and end the interactive transcript with a newline. */
    if (ctl->quit ? ctl->interactive : !ctl->quiet)
        fputc('\n', ctl->out);
    fflush(ctl->out);
    return ok;
}

bool vsh_run_sequence(struct vsh_ctl *ctl, const struct vsh_cmd *first)
{
    bool ok = true;
    for (const struct vsh_cmd *c = first; c && !ctl->quit; c = c->next)
        ok = vsh_run(ctl, c);
    return ok;
}

static void run_line(struct vsh_ctl *ctl, const char *line)
{
    char errbuf[1024];
    bool failed;
    struct vsh_cmd *cmd = vsh_parse_string(line, errbuf, sizeof(errbuf), &failed);
    if (failed)
        vsh_error(ctl, "%s", errbuf);
    else
        vsh_run_sequence(ctl, cmd);
    vsh_cmd_free(cmd);
}

/*
 * Tab completion of command names at the start of the line. The whole match
 * list is built here (readline's format: element 0 is the text to insert, the
 * longest common prefix, then each match, then NULL), which avoids the
 * generator protocol's hidden static cursor.
 */
static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* no file-name fallback */
    if (start != 0)
        return NULL;
    size_t len = strlen(text), n = 0;
    for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
        if (strncmp(d->name, text, len) == 0)
            n++;
    if (n == 0)
        return NULL;
    char **matches = xcalloc(n + 2, sizeof(*matches));
    if (n == 1) {
        for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
            if (strncmp(d->name, text, len) == 0)
                matches[0] = xstrdup(d->name);
        return matches;
    }
    size_t i = 1;
    for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
        if (strncmp(d->name, text, len) == 0)
            matches[i++] = xstrdup(d->name);
    size_t common = strlen(matches[1]);
    for (size_t k = 2; k <= n; k++) {
        size_t c = 0;
        while (c < common && matches[k][c] == matches[1][c])
            c++;
        common = c;
    }
    matches[0] = xstrndup(matches[1], common);
    return matches;
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    return xasprintf("%s/.vsh_history", home);
}

int vsh_interactive(struct vsh_ctl *ctl)
{
    const char *prompt = ctl->readonly ? "vsh > " : "vsh # ";
    ctl->interactive = true;
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (!ctl->quiet) {
        vsh_print(ctl, "Welcome to vsh, the Vireo virtualization interactive terminal.\n\n");
        vsh_print(ctl, "Type:  'help' for help with commands\n       'quit' to quit\n\n");
    }
    char *hist = NULL;
    if (tty) {
        rl_readline_name = "vsh";
        rl_attempted_completion_function = complete;
        using_history();
        stifle_history(500);
        hist = history_path();
        if (hist)
            read_history(hist);
    }
    while (!ctl->quit) {
        char *line = NULL;
        if (tty) {
            line = readline(prompt);
        } else {
            size_t cap = 0;
            fputs(prompt, ctl->out);
            fflush(ctl->out);
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) {
                free(line);
                line = NULL;
            } else {
                /* Echo the command after the prompt, as readline does without a terminal. */
                if (n > 0 && line[n - 1] == '\n')
                    line[n - 1] = '\0';
                fprintf(ctl->out, "%s\n", line);
            }
        }
        if (!line) {
            fputc('\n', ctl->out);
            break;
        }
        if (tty && line[strspn(line, " \t")])
            add_history(line);
        run_line(ctl, line);
        free(line);
    }
    if (tty && hist) {
        write_history(hist);
        free(hist);
    }
    fflush(ctl->out);
    return 0;
}
