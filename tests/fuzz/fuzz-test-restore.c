/*
 * fuzz-test-restore.c - the test driver's save-file reader on arbitrary
 * bytes: a file given to `vsh restore` is untrusted input (magic, a length
 * field, then domain XML). Restoring must fail with a message or bring up a
 * domain, never crash, leak or read past the data.
 */
#include "vireo/vireo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-test-restore-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    vir_error err;
    vir_connect *conn = vir_connect_open("test:///default", 0, &err);
    if (conn) {
        /* the built-in domain must be off for a restore of it to be accepted */
        vir_domain *test = vir_domain_lookup_by_name(conn, "test", &err);
        if (test) {
            vir_domain_destroy(test, 0, &err);
            vir_domain_free(test);
        }
        if (vir_domain_restore(conn, path, 0, &err) < 0 && err.message[0] == '\0')
            abort();
        vir_connect_close(conn);
    }
    unlink(path);
    return 0;
}
