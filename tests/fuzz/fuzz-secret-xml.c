/*
 * fuzz-secret-xml.c - libFuzzer target for vireod's <secret> parser (src/daemon/secret.c),
 * which reads what any client sends to secret-define and the files of the secret directory.
 * A definition that parses must have a usage type in range with a usage id exactly when the
 * type is not none, and must parse again, unchanged, from its own formatting; a refusal must
 * come with a message. Anything else aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct vd_secret_def *def = NULL;
    struct verr e = {0};
    if (vd_secret_def_parse(text, &def, &e) < 0) {
        if (!verr_msg(&e)[0])
            abort();
        free(text);
        return 0;
    }
    if (def->usage_type < VD_SECRET_USAGE_NONE || def->usage_type > VD_SECRET_USAGE_VTPM ||
        (def->usage_type == VD_SECRET_USAGE_NONE) != (def->usage_id == NULL))
        abort();
    char *out = vd_secret_def_format(def);
    struct vd_secret_def *again = NULL;
    if (vd_secret_def_parse(out, &again, &e) < 0) {
        fprintf(stderr, "fuzz-secret-xml: its own formatting does not parse: %s\n%s\n",
                verr_msg(&e), out);
        abort();
    }
    char *out2 = vd_secret_def_format(again);
    if (strcmp(out, out2) != 0) {
        fprintf(stderr, "fuzz-secret-xml: not a fixed point:\n%s---\n%s", out, out2);
        abort();
    }
    free(out2);
    free(out);
    vd_secret_def_free(again);
    vd_secret_def_free(def);
    free(text);
    return 0;
}
