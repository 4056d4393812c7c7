/*
 * main.c - vireo-img's entry point: picks the subcommand and hands it the
 * rest of the command line, the way qemu-img does ("vireo-img info -f qcow2
 * disk.qcow2"). The table is the list of subcommands; --help and --version
 * are answered here, and the hidden `complete` (complete.c) reads the table.
 */
#include "img.h"

#include "util/log.h"

#include <stdio.h>
#include <string.h>

static const struct img_command commands[] = {
    {"amend", img_cmd_amend, "amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename"},
    {"bitmap", img_cmd_bitmap,
     "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b "
     "source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap"},
    {"create", img_cmd_create,
     "create [-f fmt] [-o options] [-b backing_file [-F backing_fmt]] [-u] filename [size]"},
    {"info", img_cmd_info, "info [-f fmt] [--output=human|json] [--backing-chain] [-U] filename"},
    {"check", img_cmd_check,
     "check [-f fmt] [--output=human|json] [-r leaks|all] [-T src_cache] [-U] filename"},
    {"convert", img_cmd_convert,
     "convert [-f fmt] [-O output_fmt] [-c] [-C] [-p] [-o options] [-S sparse_size] [-n] [-W]\n"
     "          [-m num_coroutines] [-l snapshot_param] [--bitmaps [--skip-broken-bitmaps]]\n"
     "          [--target-is-zero] [-B backing_file [-F backing_fmt]] [-t cache] [-T src_cache]\n"
     "          filename [filename2 [...]] output_filename"},
    {"resize", img_cmd_resize,
     "resize [-f fmt] [--preallocation=off|metadata|falloc|full] [--shrink] filename [+|-]size"},
    {"snapshot", img_cmd_snapshot,
     "snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename"},
    {"commit", img_cmd_commit,
     "commit [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename"},
    {"rebase", img_cmd_rebase,
     "rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-b backing_file [-F backing_fmt]] "
     "filename"},
    {"map", img_cmd_map,
     "map [-f fmt] [--output=human|json] [--start-offset=OFFSET] [--max-length=LEN] [-U] "
     "filename"},
    {"compare", img_cmd_compare, "compare [-f fmt] [-F fmt] [-p] [-s] [-U] filename1 filename2"},
    {"measure", img_cmd_measure,
     "measure [--output=human|json] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]"},
    {"dd", img_cmd_dd,
     "dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input "
     "of=output"},
    {"bench", img_cmd_bench,
     "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n]\n"
     "          [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] "
     "[-S step_size]\n          [-t cache] [-w] [-U] filename"},
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

int main(int argc, char **argv)
{
    log_set_program(IMG_PROG);
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
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    img_usage_error("Command not found: %s", name);
    return 1;
}
