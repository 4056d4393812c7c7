/*
 * main.c - vsh's entry point: virsh's global options (-c/--connect, -r,
 * -q, -h, -v), then either the commands given on the command line (one
 * argument is parsed as a command string, so "a; b" runs two commands; several
 * arguments are one command's words, verbatim) or the interactive shell.
 * Exit status: 0 when the last command succeeded, 1 otherwise.
 */
#include "tools/vsh/vsh.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "\n"
                 "vsh [options]... [<command_string>]\n"
                 "vsh [options]... <command> [args...]\n"
                 "\n"
                 "  options:\n"
                 "    -c | --connect=URI      hypervisor connection URI\n"
                 "    -h | --help             this help\n"
                 "    -q | --quiet            quiet mode\n"
                 "    -r | --readonly         connect readonly\n"
                 "    -v | --version          program version\n"
                 "\n"
                 "  commands (non interactive mode):\n\n");
    for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
        if (!(d->flags & VSH_CMD_HIDDEN))
            fprintf(out, "    %-16s %s\n", d->name, d->summary);
    fprintf(out, "\n  (specify help <command> for details about the command)\n"
                 "\n  The default URI is $VIREO_DEFAULT_URI, else vireo:///system.\n\n");
}

int main(int argc, char **argv)
{
    struct vsh_ctl ctl = {0};
    ctl.out = stdout;
    ctl.err = stderr;
    const char *env = getenv("VIREO_DEFAULT_URI");
    if (env && *env)
        ctl.uri = env;

    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'}, {"readonly", no_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},       {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+c:rqhvV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctl.uri = optarg;
            break;
        case 'r':
            ctl.readonly = true;
            break;
        case 'q':
            ctl.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
        case 'V':
            printf("%s\n", VIREO_VERSION);
            return 0;
        default:
            if (optopt == 'c')
                fprintf(stderr, "error: option '-c' requires an argument. See --help.\n");
            else if (optopt)
                fprintf(stderr, "error: unsupported option '-%c'. See --help.\n", optopt);
            else
                fprintf(stderr, "error: unsupported option '%s'. See --help.\n", argv[optind - 1]);
            return 1;
        }
    }

    int status;
    if (optind >= argc) {
        status = vsh_interactive(&ctl);
    } else {
        char errbuf[1024];
        bool failed;
        struct vsh_cmd *cmd;
        if (argc - optind == 1)
            cmd = vsh_parse_string(argv[optind], errbuf, sizeof(errbuf), &failed);
        else
            cmd = vsh_parse_argv(argc - optind, argv + optind, errbuf, sizeof(errbuf), &failed);
        if (failed) {
            fprintf(stderr, "error: %s\n", errbuf);
            status = 1;
        } else {
            status = vsh_run_sequence(&ctl, cmd) ? 0 : 1;
        }
        vsh_cmd_free(cmd);
    }
    if (ctl.conn)
        vir_connect_close(ctl.conn);
    fflush(stdout);
    return status;
}
