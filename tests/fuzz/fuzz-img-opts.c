/*
 * fuzz-img-opts.c - libFuzzer target for vireo-img's command-line parsers:
 * the -o "key=value,key2=value2" list (with ",," escapes, help, repeated
 * keys), its mapping onto block_create_opts for raw and qcow2, size
 * arguments with suffixes, the JSON string writer, --image-opts option
 * strings (and their json: names, driver=nbd's address) and --object secret and
 * tls-creds-x509 definitions. The input is one
 * option string; every parser must reject bad input with a message, never
 * crash or read out of bounds. The parsers' error lines go to stderr; run
 * libFuzzer with -close_fd_mask=2 to keep them off the terminal.
 */
#include "tools/vireo-img/img.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w"))) /* JSON output goes nowhere */
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    struct img_optlist list = {0};
    img_optlist_add(&list, s);
    (void)img_optlist_get(&list, "size");
    struct block_create_opts q = {0}, r = {0}, l = {0};
    (void)img_create_opts_from_list("qcow2", "fuzz.qcow2", &list, &q);
    (void)img_create_opts_from_list("raw", "fuzz.raw", &list, &r);
    (void)img_create_opts_from_list("luks", "fuzz.luks", &list, &l);
    img_optlist_free(&list);

    struct img_spec sp;
    if (img_spec_parse(&sp, s) == 0)
        img_spec_free(&sp);
    free(img_spec_json_name(s));
    struct img_session sess = {0};
    if (strncmp(s, "secret,", 7) == 0 || strncmp(s, "qom-type=", 9) == 0 ||
        strncmp(s, "tls-creds-x509,", 15) == 0)
        (void)img_session_object(&sess, s);
    img_session_free(&sess);

    uint64_t n;
    (void)img_parse_size(s, &n);
    (void)img_parse_output(s);
    img_json_write_string(sink, s);
    free(s);
    return 0;
}
