/*
 * cli-opts.c - QEMU's option-list syntax, shared by the option parsers (see
 * cli-opts.h). Parsing happens in place on copies the callers own.
 */
#include "vmm/cli-opts.h"

#include <errno.h>
#include <string.h>

char *cli_next_item(char **cursor)
{
    char *s = *cursor;
    if (!s)
        return NULL;
    char *out = s, *in = s;
    while (*in) {
        if (*in == ',') {
            if (in[1] == ',') {
                *out++ = ',';
                in += 2;
                continue;
            }
            break;
        }
        *out++ = *in++;
    }
    *cursor = *in == ',' ? in + 1 : NULL;
    *out = '\0';
    return s;
}

bool cli_prop(const char *item, const char *key, const char **val)
{
    size_t n = strlen(key);
    if (strncmp(item, key, n) == 0 && item[n] == '=') {
        *val = item + n + 1;
        return true;
    }
    return false;
}

int cli_parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}
