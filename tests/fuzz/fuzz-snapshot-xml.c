/*
 * fuzz-snapshot-xml.c - libFuzzer target for the domain snapshot XML parser
 * (snapshot-create's input, and the daemon's stored snapshot files).
 *
 * Parses the input both as stored metadata and as a client's create
 * request; when it parses, the formatted output must parse again and format
 * to the same text (a fixed point). A difference aborts, so the fuzzer
 * reports it like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/snapshot_conf.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *xml = malloc(size + 1);
    memcpy(xml, data, size);
    xml[size] = '\0';
    for (unsigned flags = 0; flags <= SNAPSHOT_PARSE_CREATE; flags++) {
        struct snapshot_def *def = NULL;
        struct verr err = {0};
        if (snapshot_def_parse_string(xml, flags, &def, &err) < 0)
            continue;
        char *once = snapshot_def_format(def);
        snapshot_def_free(def);
        def = NULL;
        if (snapshot_def_parse_string(once, 0, &def, &err) < 0) {
            fprintf(stderr, "fuzz-snapshot-xml: output does not parse: %s\n%s\n", verr_msg(&err),
                    once);
            abort();
        }
        char *twice = snapshot_def_format(def);
        snapshot_def_free(def);
        if (strcmp(once, twice) != 0) {
            fprintf(stderr, "fuzz-snapshot-xml: not a fixed point\n%s\n---\n%s\n", once, twice);
            abort();
        }
        free(once);
        free(twice);
    }
    free(xml);
    return 0;
}
