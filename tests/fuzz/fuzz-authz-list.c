/*
 * fuzz-authz-list.c - authz-listfile's file (authz_list_parse_json in vmm/authz.c) from
 * arbitrary bytes: QEMU's JSON list of rules. A parse either gives a list or fails with one
 * line; a list then answers for an identity (glob rules go through fnmatch) and frees cleanly
 * (ASan/LeakSanitizer watch).
 */
#include "util/error.h"
#include "vmm/authz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (size)
        memcpy(text, data, size);
    struct authz_list *l = NULL;
    struct verr err = {0};
    int r = authz_list_parse_json(text, size, &l, &err);
    if ((r < 0) != (l == NULL) || (r < 0 && (!*verr_msg(&err) || strchr(verr_msg(&err), '\n'))))
        abort();
    if (l) {
        (void)authz_list_allows(l, "C=GB,O=Vireo,CN=src.vireo.test");
        (void)authz_list_allows(l, "");
        authz_list_free(l);
    }
    free(text);
    return 0;
}
