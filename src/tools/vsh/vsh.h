/*
 * vsh.h - the pieces of vsh, Vireo's virsh: the command table, the parsed
 * command line, the shell's context, and the table printer.
 *
 * A command is declared once (name, options, handler, help) and the parser,
 * `help` and the handlers all read that one declaration, as virsh does. The
 * option model is virsh's: booleans (--flag), values (--name VALUE,
 * --name=VALUE), and positional arguments that bind, in declaration order, to
 * non-boolean options not yet given (unless an option is marked named-only),
 * so `vcpupin test 0 2-3` and `vcpupin --domain test --vcpu 0 --cpulist 2-3`
 * mean the same.
 */
#ifndef VIREO_VSH_H
#define VIREO_VSH_H

#include <stdbool.h>
#include <stdio.h>

#include "util/buf.h"
#include "vireo/vireo.h"

enum vsh_opt_type {
    VSH_OT_BOOL,   /* --flag */
    VSH_OT_STRING, /* --name VALUE */
    VSH_OT_INT,    /* --name NUMBER (checked by the handler's getter) */
    VSH_OT_ARGV,   /* every remaining positional value (and --name VALUE, repeatable) */
};

enum {
    VSH_OFLAG_REQ = 1 << 0,     /* must be given (by name or position) */
    VSH_OFLAG_REQ_OPT = 1 << 1, /* only by name, never positionally */
};

struct vsh_opt {
    const char *name;
    enum vsh_opt_type type;
    unsigned flags;
    const char *help;
};

struct vsh_ctl;
struct vsh_cmd;

enum {
    VSH_CMD_NOCONNECT = 1 << 0, /* runs without a connection (help, quit, ...) */
    VSH_CMD_HIDDEN = 1 << 1,    /* left out of help and --help (complete, as in virsh) */
};

struct vsh_cmd_def {
    const char *name;
    bool (*handler)(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
    const struct vsh_opt *opts; /* terminated by a NULL name */
    const char *summary;
    const char *description;
    const char *group; /* "Domain Management", ... */
    unsigned flags;
};

#define VSH_MAX_OPTS 32

/* One command with its options bound. Values point into the command's own storage. */
struct vsh_cmd {
    const struct vsh_cmd_def *def;
    struct {
        const struct vsh_opt *opt;
        char *value; /* NULL for booleans */
    } opts[VSH_MAX_OPTS];
    int nopts;
    struct vsh_cmd *next; /* the next command of a ';' sequence */
};

/* The shell's state: passed to every handler (no globals). */
struct vsh_ctl {
    const char *uri; /* -c, $VIREO_DEFAULT_URI, or NULL for the library's default */
    bool readonly;   /* -r */
    bool quiet;      /* -q */
    bool interactive;
    bool quit;           /* set by quit/exit */
    vir_connect *conn;   /* opened on first need */
    bool connect_failed; /* do not retry within one invocation */
    FILE *out, *err;
};

/* The command table (commands.c), terminated by a NULL name. */
extern const struct vsh_cmd_def vsh_commands[];
const struct vsh_cmd_def *vsh_command_find(const char *name);

/*
 * Parses a command string (the shell's line, or the single argument given on
 * the command line): words split at blanks, '...' literal, "..." with
 * backslash escapes, \x escapes, '#' comment to end of line, ';' or newline
 * between commands. Returns the first command of the sequence, NULL for an
 * empty string; on error returns NULL and puts virsh's message (without
 * "error: ") in errbuf, and *failed is set.
 */
struct vsh_cmd *vsh_parse_string(const char *line, char *errbuf, size_t errlen, bool *failed);
/* The same for already-split words (vsh's argv after the options): no quoting, no ';'. */
struct vsh_cmd *vsh_parse_argv(int argc, char *const *argv, char *errbuf, size_t errlen,
                               bool *failed);
void vsh_cmd_free(struct vsh_cmd *cmd);

/* Option getters. */
bool vsh_opt_bool(const struct vsh_cmd *cmd, const char *name);
const char *vsh_opt_string(const struct vsh_cmd *cmd, const char *name);
/* All values of an ARGV option, in order; returns count (up to max). */
int vsh_opt_argv(const struct vsh_cmd *cmd, const char *name, const char **out, int max);
/*
 * Integer getters: 0 when absent (value untouched), 1 when present and valid,
 * -1 after printing virsh's "Numeric value ... is malformed" error.
 */
int vsh_opt_uint(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name, unsigned *value);
int vsh_opt_ulong(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name,
                  unsigned long long *value);
/* A size with virsh's scaled suffixes (default unit `scale` bytes), returned in bytes. */
int vsh_opt_scaled(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name,
                   unsigned long long scale, unsigned long long max, unsigned long long *bytes);
/* Parses "1024", "1G", "512MiB", "2KB" as virsh's vshCommandOptScaledInt does. */
int vsh_parse_scaled(const char *s, unsigned long long scale, unsigned long long max,
                     unsigned long long *bytes);

/* Prints "error: ..." to ctl->err. */
void vsh_error(struct vsh_ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the library error (its message) as "error: MESSAGE". */
void vsh_report(struct vsh_ctl *ctl, const vir_error *err);
void vsh_print(struct vsh_ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like vsh_print but silent with -q (virsh's vshPrintExtra). */
void vsh_print_extra(struct vsh_ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The connection, opened on first use; NULL after printing why not. */
vir_connect *vsh_conn(struct vsh_ctl *ctl);
/* Runs one command (connecting first if it needs to). */
bool vsh_run(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* Runs a ';' sequence; returns the last command's result. */
bool vsh_run_sequence(struct vsh_ctl *ctl, const struct vsh_cmd *first);
/* The interactive shell; returns the exit status. */
int vsh_interactive(struct vsh_ctl *ctl);

/* A table as virsh prints one: header, dashes, rows; columns left-aligned. */
struct vsh_table {
    int ncols;
    int nrows; /* including the header row */
    char **cells;
};
struct vsh_table *vsh_table_new(int ncols, const char *const *header);
void vsh_table_add(struct vsh_table *t, const char *const *row);
/* Appends the table as text; with no_header only the rows (virsh -q). */
void vsh_table_format(const struct vsh_table *t, bool no_header, struct buf *out);
void vsh_table_free(struct vsh_table *t);

/* Domain lookup by name, id or UUID as virsh's --domain does (prints the failure). */
vir_domain *vsh_lookup_domain(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char **name);
struct domain_def;
/* The domain's definition parsed (its live one unless inactive); NULL after printing why. */
struct domain_def *vsh_domain_def(struct vsh_ctl *ctl, vir_domain *dom, bool inactive);
/* The same for one word (domstats' list of domains). */
vir_domain *vsh_lookup_domain_string(struct vsh_ctl *ctl, const char *s);

#endif
