/*
 * fuzz-hmp.c - the human monitor's command lines from arbitrary bytes, each line of the
 * input sent as QMP's human-monitor-command (with a cpu-index on every other line): word
 * splitting, command and info lookup, argument parsing (integers, sizes, xp's /fmt), help,
 * and the formatters over the replies of a few stand-in QMP commands. The VM is a stand-in
 * with 64 KiB of "guest RAM" for xp; the actions (stop, quit, ...) find no such QMP command
 * here and print QEMU's error. Whatever the line, the output is text and nothing leaks.
 */
#include "qmp/qmp-server.h"
#include "vmm/hmp/hmp.h"
#include "vmm/vm.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int q_status(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                    struct qmp_error *err, void *opaque)
{
    (void)ss;
    (void)args;
    (void)err;
    (void)opaque;
    *ret = json_object_new_object();
    json_object_object_add(*ret, "status", json_object_new_string("prelaunch"));
    json_object_object_add(*ret, "running", json_object_new_boolean(0));
    return 0;
}

static int q_block(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                   struct qmp_error *err, void *opaque)
{
    (void)ss;
    (void)args;
    (void)err;
    (void)opaque;
    *ret = json_tokener_parse(
        "[{\"device\":\"d0\",\"qdev\":\"blk0\",\"inserted\":{\"file\":\"/x.raw\",\"drv\":\"raw\","
        "\"ro\":true,\"cache\":{\"writeback\":true},\"backing_file\":\"b\",\"detect_zeroes\":"
        "\"on\"}},{\"device\":\"d1\",\"removable\":true}]");
    return 0;
}

static int q_fail(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                  struct qmp_error *err, void *opaque)
{
    (void)ss;
    (void)args;
    (void)ret;
    (void)opaque;
    return qmp_error_set(err, QMP_ERROR_GENERIC, "No balloon device has been activated");
}

static void discard(void *opaque, const char *data, size_t len)
{
    (void)opaque;
    (void)data;
    (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct qmp_arg balloon_args[] = {{"value", QMP_ARG_INT, false}, {NULL}};
    static const struct qmp_arg resize_args[] = {
        {"device", QMP_ARG_STRING, false}, {"size", QMP_ARG_INT, false}, {NULL}};
    if (size > 4096)
        return 0;
    struct qmp_server *server;
    struct verr err = {0};
    if (qmp_server_new(NULL, &(struct qmp_server_config){0}, &server, &err) < 0)
        abort();
    struct vm *vm = calloc(1, sizeof(*vm));
    uint8_t *ram = calloc(1, 65536);
    for (unsigned i = 0; i < 65536; i++)
        ram[i] = (uint8_t)(i * 13);
    guest_mem_layout(&vm->mem, ram, 65536);
    vm->nr_vcpus = 2;
    struct hmp *h;
    if (hmp_create(vm, server, &h, &err) < 0)
        abort();
    qmp_server_register(server, "query-status", NULL, q_status, NULL);
    qmp_server_register(server, "query-block", NULL, q_block, NULL);
    qmp_server_register(server, "balloon", balloon_args, q_fail, NULL);
    qmp_server_register(server, "block_resize", resize_args, q_fail, NULL);
    struct qmp_session *ss = qmp_session_new(server, discard, NULL);

    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    unsigned n = 0;
    for (char *p = text, *line; (line = strsep(&p, "\n")); n++) {
        struct json_object *args = json_object_new_object(), *ret = NULL;
        json_object_object_add(args, "command-line", json_object_new_string(line));
        if (n % 2)
            json_object_object_add(args, "cpu-index", json_object_new_int((int)(n % 4) - 1));
        struct qmp_error qerr = {0};
        if (qmp_server_execute(ss, "human-monitor-command", args, &ret, &qerr) == 0 &&
            !json_object_is_type(ret, json_type_string))
            abort(); /* the output is always a string */
        json_object_put(ret);
        json_object_put(args);
    }
    free(text);
    qmp_session_free(ss);
    hmp_free(h);
    qmp_server_free(server);
    free(ram);
    free(vm);
    return 0;
}
