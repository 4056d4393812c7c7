/*
 * main.c - vireo-img's entry point: picks the subcommand and hands it the
 * rest of the command line, the way qemu-img does ("vireo-img info -f qcow2
 * disk.qcow2"). The table is the list of subcommands; --help and --version
 * are answered here, and the hidden `complete` (complete.c) reads the table.
 */
#include "img.h"

#include "util/log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct img_command commands[] = {
    {"amend", img_cmd_amend, "amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"bitmap", img_cmd_bitmap,
     "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b "
     "source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"create", img_cmd_create,
     "create [-f fmt] [-o options] [-b backing_file [-F backing_fmt]] [-u] filename [size]",
     IMG_CMD_OBJECT},
    {"info", img_cmd_info, "info [-f fmt] [--output=human|json] [--backing-chain] [-U] filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"check", img_cmd_check,
     "check [-f fmt] [--output=human|json] [-r leaks|all] [-T src_cache] [-U] filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"convert", img_cmd_convert,
     "convert [-f fmt] [-O output_fmt] [-c] [-C] [-p] [-o options] [-S sparse_size] [-n] [-W]\n"
     "          [-m num_coroutines] [-l snapshot_param] [--bitmaps [--skip-broken-bitmaps]]\n"
     "          [--target-is-zero] [-B backing_file [-F backing_fmt]] [-t cache] [-T src_cache]\n"
     "          filename [filename2 [...]] output_filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS | IMG_CMD_TARGET_IMAGE_OPTS},
    {"resize", img_cmd_resize,
     "resize [-f fmt] [--preallocation=off|metadata|falloc|full] [--shrink] filename [+|-]size",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"snapshot", img_cmd_snapshot,
     "snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"commit", img_cmd_commit,
     "commit [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"rebase", img_cmd_rebase,
     "rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-b backing_file [-F backing_fmt]] "
     "filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"map", img_cmd_map,
     "map [-f fmt] [--output=human|json] [--start-offset=OFFSET] [--max-length=LEN] [-U] "
     "filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"compare", img_cmd_compare, "compare [-f fmt] [-F fmt] [-p] [-s] [-U] filename1 filename2",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"measure", img_cmd_measure,
     "measure [--output=human|json] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"dd", img_cmd_dd,
     "dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input "
     "of=output",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
    {"bench", img_cmd_bench,
     "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n]\n"
     "          [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] "
     "[-S step_size]\n          [-t cache] [-w] [-U] filename",
     IMG_CMD_OBJECT | IMG_CMD_IMAGE_OPTS},
};

static void print_help(void)
{
    printf("%s version 0.1.0: a disk image tool with qemu-img's commands\n"
           "usage: %s [standard options] command [command options]\n\n"
           "Command syntax:\n",
           IMG_PROG, IMG_PROG);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %s\n", commands[i].synopsis);
    printf("\nFormats: " IMG_FORMATS ". Sizes take k, M, G, T, P or E suffixes.\n"
           "See vireo-img(1) for the options of each command.\n");
}

/* Takes --object, --image-opts and --target-image-opts off the command's
 * arguments (before "--") into the session, refusing those the command
 * does not take as getopt would. Returns 0, 1 (done: help printed) or -1. */
static int take_session_options(const struct img_command *c, int *argc, char **argv,
                                struct img_session *s)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        const char *obj = NULL;
        if (strcmp(a, "--object") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "%s: option '--object' requires an argument\n", IMG_PROG);
                img_bad_option();
                return -1;
            }
            obj = argv[++i];
        } else if (strncmp(a, "--object=", 9) == 0) {
            obj = a + 9;
        }
        unsigned need = obj                                     ? IMG_CMD_OBJECT
                        : strcmp(a, "--image-opts") == 0        ? IMG_CMD_IMAGE_OPTS
                        : strcmp(a, "--target-image-opts") == 0 ? IMG_CMD_TARGET_IMAGE_OPTS
                                                                : 0;
        if (!need) {
            argv[out++] = argv[i];
            continue;
        }
        if (!(c->flags & need)) {
            fprintf(stderr, "%s: unrecognized option '%s'\n", IMG_PROG, obj ? "--object" : a);
            img_bad_option();
            return -1;
        }
        if (obj) {
            int r = img_session_object(s, obj);
            if (r != 0)
                return r;
        } else if (need == IMG_CMD_IMAGE_OPTS) {
            s->image_opts = true;
        } else {
            s->target_image_opts = true;
        }
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

int main(int argc, char **argv)
{
    log_set_program(IMG_PROG);
    /* As qemu-img: a peer that goes away (an NBD server, a pipe) is an error of the call
     * that wrote to it, reported in one line, not a signal that kills the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        img_usage_error("Not enough arguments");
        return 1;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help();
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("%s version 0.1.0\n", IMG_PROG);
        return 0;
    }
    if (strcmp(name, "complete") == 0) /* hidden: for the shell's completion */
        return img_cmd_complete(commands, sizeof(commands) / sizeof(commands[0]), argc - 2,
                                argv + 2);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        struct img_session s = {0};
        int cargc = argc - 1;
        int r = take_session_options(&commands[i], &cargc, argv + 1, &s);
        if (r == 0)
            r = commands[i].run(cargc, argv + 1, &s);
        else
            r = r > 0 ? 0 : 1;
        img_session_free(&s);
        return r;
    }
    img_usage_error("Command not found: %s", name);
    return 1;
}
