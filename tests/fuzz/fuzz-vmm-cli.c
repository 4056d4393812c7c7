/*
 * fuzz-vmm-cli.c - vireo-vmm's command line from arbitrary bytes: the input,
 * split at newlines, is argv (after "vireo-vmm"). cli_parse is pure (no
 * I/O), so everything behind it runs: the option table, QEMU's option-list
 * syntax, -M sub-options, the backends, and -device parsed against the
 * device model's property tables, addr= forms, buses, backend references and
 * the types' finish steps (port numbering, default MACs). A parse either
 * succeeds or fails with a message; then the configuration must free
 * cleanly (ASan/LeakSanitizer watch).
 */
#include "vmm/cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 1] = {"vireo-vmm"};
    int argc = 1;
    for (char *p = text, *line; argc < MAX_ARGS && (line = strsep(&p, "\n"));)
        argv[argc++] = line;
    argv[argc] = NULL;
    struct vmm_config cfg;
    struct verr err = {0};
    int r = cli_parse(argc, argv, &cfg, &err);
    if (r < 0 && !verr_msg(&err)[0])
        abort(); /* a refusal always says why */
    cli_config_free(&cfg);
    free(text);
    return 0;
}
