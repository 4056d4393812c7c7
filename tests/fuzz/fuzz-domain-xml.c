/*
 * fuzz-domain-xml.c - libFuzzer target for the domain XML parser.
 *
 * Parses the input; when it parses, the formatted output must parse again,
 * and from the second round on format to the same text (a fixed point; the
 * first round may reorder disks, see below), and a copy must
 * format identically. Any difference aborts, so the fuzzer reports it like a
 * crash. Network and storage parsers get the same input too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/network_conf.h"
#include "conf/storage_conf.h"
#include "util/log.h"

static void check(int cond, const char *what, const char *a, const char *b)
{
    if (cond)
        return;
    fprintf(stderr, "fuzz-domain-xml: %s\n--- first:\n%s\n--- second:\n%s\n", what, a ? a : "",
            b ? b : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_level(LOG_ERROR);
        quiet = 1;
    }
    if (size > 65536)
        return 0;
    char *xml = malloc(size + 1);
    memcpy(xml, data, size);
    xml[size] = '\0';
    struct verr err;
    struct domain_def *def = NULL;
    unsigned flags = (size && (data[0] & 1)) ? DOMAIN_PARSE_LIVE : 0;
    if (domain_def_parse_string(xml, flags, &def, &err) == 0) {
        char *out = domain_def_format(def, 0);
        struct domain_def *copy = domain_def_copy(def);
        char *out_copy = domain_def_format(copy, 0);
        check(strcmp(out, out_copy) == 0, "copy formats differently", out, out_copy);
        struct domain_def *again = NULL;
        int r = domain_def_parse_string(out, DOMAIN_PARSE_LIVE, &again, &err);
        if (r != 0)
            fprintf(stderr, "re-parse error: %s\n", err.msg);
        check(r == 0, "formatted XML does not parse again", out, err.msg);
        char *out2 = domain_def_format(again, 0);
        /*
         * Like libvirt, disks are ordered by the bus *as written*, so the
         * first round trip may reorder disks whose bus was implied; from
         * then on the text must be stable.
         */
        struct domain_def *third = NULL;
        r = domain_def_parse_string(out2, DOMAIN_PARSE_LIVE, &third, &err);
        check(r == 0, "formatted XML does not parse a second time", out2, err.msg);
        char *out3 = domain_def_format(third, 0);
        check(strcmp(out2, out3) == 0, "formatting is not a fixed point", out2, out3);
        free(out3);
        domain_def_free(third);
        char *inactive = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        free(inactive);
        free(out);
        free(out2);
        free(out_copy);
        domain_def_free(again);
        domain_def_free(copy);
        domain_def_free(def);
    }
    struct network_def *net = NULL;
    if (network_def_parse_string(xml, 0, &net, &err) == 0) {
        char *out = network_def_format(net, 0);
        struct network_def *n2 = NULL;
        check(network_def_parse_string(out, 0, &n2, &err) == 0, "network output does not parse",
              out, err.msg);
        char *out2 = network_def_format(n2, 0);
        check(strcmp(out, out2) == 0, "network formatting is not a fixed point", out, out2);
        free(out);
        free(out2);
        network_def_free(n2);
        network_def_free(net);
    }
    struct storage_pool_def *pool = NULL;
    if (storage_pool_def_parse_string(xml, 0, &pool, &err) == 0) {
        free(storage_pool_def_format(pool));
        storage_pool_def_free(pool);
    }
    struct storage_vol_def *vol = NULL;
    if (storage_vol_def_parse_string(xml, 0, &vol, &err) == 0) {
        free(storage_vol_def_format(vol));
        storage_vol_def_free(vol);
    }
    free(xml);
    return 0;
}
