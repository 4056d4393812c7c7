/*
 * complete.c - `vireo-img complete -- WORD...` (hidden, as vsh's and virsh's
 * `complete`): the candidates for the last word of a partial vireo-img
 * command line, one per line, for data/bash-completion/vireo-img. They come
 * from the command table in main.c: the first word completes to a command
 * name, a word starting with "-" to the options that command's synopsis
 * shows (`--output=human|json` becomes `--output=human` and
 * `--output=json`); the value after -f, -F or -O completes to the known
 * formats, after -t or -T to the cache modes, after -r to check's repair
 * modes. Anything else (file names, sizes) prints nothing, so the shell
 * offers file names.
 */
#include "img.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Prints each word of a blank-separated LIST that starts with PREFIX. */
static void print_words(const char *list, const char *prefix)
{
    while (*list) {
        size_t len = strcspn(list, " ");
        if (len >= strlen(prefix) && strncmp(list, prefix, strlen(prefix)) == 0)
            printf("%.*s\n", (int)len, list);
        list += len;
        list += strspn(list, " ");
    }
}

/*
 * Prints the options a synopsis shows that start with PREFIX: every "-x" or
 * "--name" that follows "[", "|" or a blank; "--name=a|b" gives one
 * candidate per value.
 */
static void print_synopsis_options(const char *synopsis, const char *prefix)
{
    for (const char *p = synopsis; *p; p++) {
        if (*p != '-' || (p > synopsis && !strchr("[| \n", p[-1])))
            continue;
        const char *name = p + (p[1] == '-' ? 2 : 1);
        if (!isalnum((unsigned char)*name))
            continue;
        size_t len = (size_t)(name - p) + strcspn(name, " ]|=\n");
        if (p[len] == '=') {
            const char *v = p + len + 1;
            for (;;) {
                size_t vlen = strcspn(v, " ]|\n");
                char cand[128];
                snprintf(cand, sizeof(cand), "%.*s=%.*s", (int)len, p, (int)vlen, v);
                if (has_prefix(cand, prefix))
                    printf("%s\n", cand);
                if (v[vlen] != '|')
                    break;
                v += vlen + 1;
            }
        } else if (len >= strlen(prefix) && strncmp(p, prefix, strlen(prefix)) == 0) {
            printf("%.*s\n", (int)len, p);
        }
        p += len - 1;
    }
}

int img_cmd_complete(const struct img_command *commands, size_t count, int argc, char **argv)
{
    int i = 0;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    char **words = argv + i;
    int n = argc - i;
    const char *cur = n > 0 ? words[n - 1] : "";
    if (n <= 1) {
        for (size_t c = 0; c < count; c++)
            if (has_prefix(commands[c].name, cur))
                printf("%s\n", commands[c].name);
        return 0;
    }
    const struct img_command *cmd = NULL;
    for (size_t c = 0; c < count; c++)
        if (strcmp(commands[c].name, words[0]) == 0)
            cmd = &commands[c];
    if (!cmd)
        return 0;
    const char *prev = words[n - 2];
    if (!strcmp(prev, "-f") || !strcmp(prev, "-F") || !strcmp(prev, "-O"))
        print_words(IMG_FORMATS, cur);
    else if (!strcmp(prev, "-t") || !strcmp(prev, "-T"))
        print_words("none writeback writethrough directsync unsafe", cur);
    else if (!strcmp(prev, "-r") && !strcmp(cmd->name, "check"))
        print_words("leaks all", cur);
    else if (cur[0] == '-')
        print_synopsis_options(cmd->synopsis, cur);
    return 0;
}
