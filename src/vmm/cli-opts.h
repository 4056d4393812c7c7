/*
 * cli-opts.h - the pieces of QEMU's "key=value,key=value" option syntax that
 * every vireo-vmm option parser (cli.c, cli-virtio.c, cli-console.c) uses.
 */
#ifndef VIREO_VMM_CLI_OPTS_H
#define VIREO_VMM_CLI_OPTS_H

#include <stdbool.h>

/* Splits "a,b=c,d" in place, one item per call (NULL at the end); QEMU's ",,"
 * escape for a literal comma is honoured. *cursor starts at a writable copy. */
char *cli_next_item(char **cursor);
/* Is item "key=..."? Then *val points after the '='. */
bool cli_prop(const char *item, const char *key, const char **val);
/* on/off, true/false, yes/no as QEMU takes them; 0 or -EINVAL. */
int cli_parse_bool(const char *v, bool *out);

#endif
