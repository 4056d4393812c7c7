/*
 * cmd-complete.c - `vsh complete -- WORD...`: the candidates for the last
 * word of a partial vsh command line, one per line, read from the command
 * table, as virsh's hidden `complete` command does for its bash completion
 * (data/bash-completion/vsh calls it). The last word may be empty.
 *
 * - the first word: command names with that prefix;
 * - a word starting with "-" (or empty): the command's options not given
 *   yet, as --name;
 * - the value of --domain, or an empty/plain word where the next positional
 *   option is the domain: domain names from the connection (-c, -r), only
 *   those in a state the command acts on (start: inactive, destroy: active,
 *   ...). A connection that fails adds nothing and prints nothing.
 * - help's argument: command names;
 * - other values (files, numbers): nothing, so the shell offers file names.
 */
#include "tools/vsh/commands.h"

#include <stdlib.h>
#include <string.h>

const struct vsh_opt vsh_opts_complete[] = {
    {"string", VSH_OT_ARGV, 0, "partial string to complete"},
    {NULL, 0, 0, NULL},
};

/* Which domains a command's --domain is completed with (default: all). */
static const struct {
    const char *command;
    unsigned flags;
} domain_filters[] = {
    {"start", VIR_CONNECT_LIST_DOMAINS_INACTIVE},
    {"resume", VIR_CONNECT_LIST_DOMAINS_PAUSED},
    {"suspend", VIR_CONNECT_LIST_DOMAINS_RUNNING},
    {"console", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"destroy", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"dommemstat", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"managedsave", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"managedsave-define", VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE},
    {"managedsave-dumpxml", VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE},
    {"managedsave-edit", VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE},
    {"reboot", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"reset", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"save", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
    {"shutdown", VIR_CONNECT_LIST_DOMAINS_ACTIVE},
};

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void complete_commands(struct vsh_ctl *ctl, const char *prefix)
{
    for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
        if (!(d->flags & VSH_CMD_HIDDEN) && has_prefix(d->name, prefix))
            vsh_print(ctl, "%s\n", d->name);
}

static void complete_domains(struct vsh_ctl *ctl, const struct vsh_cmd_def *def, const char *prefix)
{
    unsigned flags = 0;
    for (size_t i = 0; i < sizeof(domain_filters) / sizeof(domain_filters[0]); i++)
        if (strcmp(def->name, domain_filters[i].command) == 0)
            flags = domain_filters[i].flags;
    vir_error err;
    if (!ctl->conn && !ctl->connect_failed) {
        ctl->conn = vir_connect_open(ctl->uri, ctl->readonly ? VIR_CONNECT_RO : 0, &err);
        ctl->connect_failed = !ctl->conn;
    }
    if (!ctl->conn)
        return;
    vir_domain **doms = NULL;
    int n = vir_connect_list_all_domains(ctl->conn, &doms, flags, &err);
    for (int i = 0; i < n; i++) {
        const char *name = vir_domain_get_name(doms[i]);
        if (has_prefix(name, prefix))
            vsh_print(ctl, "%s\n", name);
        vir_domain_free(doms[i]);
    }
    free(doms);
}

/* The option a word names ("--name" or "--name=..."), or NULL. */
static const struct vsh_opt *option_named(const struct vsh_cmd_def *def, const char *word)
{
    if (!has_prefix(word, "--") || !word[2])
        return NULL;
    const char *name = word + 2;
    size_t len = strcspn(name, "=");
    for (const struct vsh_opt *o = def->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/*
 * What words[1..n) leave open: marks in given[] the options they name or
 * bind positionally (declaration order, as the parser binds plain words) and
 * returns the option the next plain word would bind to, or NULL.
 */
static const struct vsh_opt *next_positional(const struct vsh_cmd_def *def,
                                             const char *const *words, int n, bool *given)
{
    int plain = 0;
    for (int i = 1; i < n; i++) {
        const struct vsh_opt *o = option_named(def, words[i]);
        if (o) {
            if (o - def->opts < VSH_MAX_OPTS)
                given[o - def->opts] = true;
            if (o->type != VSH_OT_BOOL && !strchr(words[i], '='))
                i++; /* its value */
        } else {
            plain++;
        }
    }
    for (const struct vsh_opt *o = def->opts; o && o->name && o - def->opts < VSH_MAX_OPTS; o++) {
        if (o->type == VSH_OT_BOOL || (o->flags & VSH_OFLAG_REQ_OPT) || given[o - def->opts])
            continue;
        if (o->type == VSH_OT_ARGV || plain == 0)
            return o;
        given[o - def->opts] = true;
        plain--;
    }
    return NULL;
}

static void complete_in_command(struct vsh_ctl *ctl, const char *const *words, int n)
{
    const struct vsh_cmd_def *def = vsh_command_find(words[0]);
    if (!def || (def->flags & VSH_CMD_HIDDEN))
        return;
    const char *cur = words[n - 1];
    const struct vsh_opt *prev = n >= 3 ? option_named(def, words[n - 2]) : NULL;
    if (prev && prev->type != VSH_OT_BOOL && !strchr(words[n - 2], '=')) {
        /* The value of --prev. */
        if (strcmp(prev->name, "domain") == 0)
            complete_domains(ctl, def, cur);
        return;
    }
    bool given[VSH_MAX_OPTS] = {false};
    const struct vsh_opt *pos = next_positional(def, words, n - 1, given);
    if (cur[0] == '-' || !cur[0]) {
        const char *prefix = has_prefix(cur, "--") ? cur + 2 : cur[0] == '-' ? cur + 1 : "";
        for (const struct vsh_opt *o = def->opts; o && o->name && o - def->opts < VSH_MAX_OPTS; o++)
            if ((!given[o - def->opts] || o->type == VSH_OT_ARGV) && has_prefix(o->name, prefix))
                vsh_print(ctl, "--%s\n", o->name);
    }
    if (cur[0] != '-' && pos && strcmp(pos->name, "domain") == 0)
        complete_domains(ctl, def, cur);
    else if (cur[0] != '-' && pos && strcmp(def->name, "help") == 0)
        complete_commands(ctl, cur);
}

bool vsh_cmd_complete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *words[VSH_MAX_OPTS];
    int n = vsh_opt_argv(cmd, "string", words, VSH_MAX_OPTS);
    if (n <= 1)
        complete_commands(ctl, n == 1 ? words[0] : "");
    else
        complete_in_command(ctl, words, n);
    return true;
}
