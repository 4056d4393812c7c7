/*
 * fuzz-qmp.c - feeds arbitrary bytes to a QMP session (JSON stream parser,
 * dispatcher, argument validation, the VM commands of a pretend VM) without
 * a socket. The first input byte picks how the rest is split into chunks so
 * messages cut at every position are covered. Every line the server writes
 * must itself parse back as a JSON object: a malformed reply aborts.
 */
#include "../unit/vmm/qmp-test-vm.h"
#include "util/buf.h"
#include "qmp/qmp-json.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

static void check_line(void *opaque, const char *data, size_t len)
{
    (void)opaque;
    if (len < 2 || data[len - 2] != '\r' || data[len - 1] != '\n')
        abort();
    char err[256];
    struct json_object *v = qmp_json_parse(data, len - 2, err, sizeof(err));
    if (err[0] || !json_object_is_type(v, json_type_object))
        abort();
    json_object_put(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qmp_server *server;
    struct qmp_server_config cfg = {.max_message = 4096};
    if (qmp_server_new(NULL, &cfg, &server, NULL) < 0)
        abort();
    struct test_vm vm;
    test_vm_attach(&vm, server);
    struct qmp_session *ss = qmp_session_new(server, check_line, NULL);
    size_t chunk = size ? (size_t)data[0] % 17 + 1 : 1;
    for (size_t off = size ? 1 : 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (qmp_session_feed(ss, data + off, n) < 0)
            break;
    }
    qmp_session_free(ss);
    qmp_server_free(server);
    return 0;
}
