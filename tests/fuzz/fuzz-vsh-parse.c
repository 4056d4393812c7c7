/*
 * fuzz-vsh-parse.c - vsh's command-line grammar on arbitrary bytes: the
 * splitter, option binding and the scaled-size parser must never crash, leak
 * or read out of bounds, and a parse either fails with a message or yields
 * commands whose options are all declared by their command.
 */
#include "tools/vsh/vsh.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    char err[256];
    bool failed;
    struct vsh_cmd *cmd = vsh_parse_string(line, err, sizeof(err), &failed);
    if (failed && (cmd || !err[0]))
        abort();
    for (struct vsh_cmd *c = cmd; c; c = c->next)
        for (int i = 0; i < c->nopts; i++) {
            const struct vsh_opt *o = c->opts[i].opt;
            if ((o->type == VSH_OT_BOOL) != (c->opts[i].value == NULL))
                abort();
        }
    vsh_cmd_free(cmd);
    unsigned long long bytes;
    (void)vsh_parse_scaled(line, 1024, ~0ull, &bytes);
    free(line);
    return 0;
}
