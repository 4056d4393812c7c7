/*
 * display-qmp.c - the display's QMP commands: screendump (PPM or PNG of the
 * screen) and send-key (keys pressed in order, released in reverse order
 * after hold-time milliseconds, as QEMU does), with QEMU 7.2's arguments and
 * error wording.
 */
#include "vmm/display/display-qmp.h"
#include "qmp/qmp-server.h"
#include "util/error.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/device.h"
#include "vmm/display/display.h"
#include "vmm/display/keymap.h"
#include "vmm/display/screendump.h"
#include "vmm/display/vnc.h"
#include "vmm/vm.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define SEND_KEY_MAX DISPLAY_KEYS_MAX

static int qmp_screendump(struct qmp_session *session, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)session;
    (void)ret;
    struct vm *vm = opaque;
    struct json_object *v;
    const char *filename = json_object_get_string(json_object_object_get(args, "filename"));
    enum screendump_format fmt = SCREENDUMP_PPM;
    if (json_object_object_get_ex(args, "format", &v)) {
        const char *f = json_object_get_string(v);
        if (str_eq(f, "png"))
            fmt = SCREENDUMP_PNG;
        else if (!str_eq(f, "ppm"))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'format' does not accept value '%s'", f);
    }
    /* The one console is the display adapter's (head 0), as QEMU 7.2 words each miss. */
    struct json_object *dv = NULL;
    bool has_head = json_object_object_get_ex(args, "head", &v);
    int64_t head = has_head ? json_object_get_int64(v) : 0;
    if (json_object_object_get_ex(args, "device", &dv)) {
        const char *id = json_object_get_string(dv);
        struct device *dev = dev_find_id(vm, id);
        if (!dev)
            return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", id);
        if (dev->type->category != DEV_CAT_DISPLAY || head != 0 || !vm->display ||
            !display_has_source(vm->display))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Device %s (head %lld) is not bound to a QemuConsole", id,
                                 (long long)head);
    } else if (has_head) {
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "'head' must be specified together with 'device'");
    }
    if (!vm->display || !display_has_source(vm->display))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "There is no console to take a screendump from");
    struct verr e = {0};
    if (screendump_write(vm->display, fmt, filename, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

static int qmp_send_key(struct qmp_session *session, struct json_object *args,
                        struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)session;
    (void)ret;
    struct vm *vm = opaque;
    struct json_object *keys = json_object_object_get(args, "keys"), *v;
    size_t n = json_object_array_length(keys);
    if (n > SEND_KEY_MAX)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "too many keys");
    int64_t hold = 100;
    if (json_object_object_get_ex(args, "hold-time", &v))
        hold = json_object_get_int64(v);
    if (hold < 0)
        hold = 0;
    unsigned qnums[SEND_KEY_MAX], nq = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *k = json_object_array_get_idx(keys, i), *type, *data;
        if (!json_object_is_type(k, json_type_object) ||
            !json_object_object_get_ex(k, "type", &type) ||
            !json_object_object_get_ex(k, "data", &data)) {
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'keys[%zu]' is missing 'type' or 'data'", i);
        }
        const char *t = json_object_get_string(type);
        unsigned qnum = 0;
        if (str_eq(t, "qcode") && json_object_is_type(data, json_type_string)) {
            qnum = keymap_qcode_to_qnum(json_object_get_string(data));
            if (!qnum) {
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'keys[%zu].data' does not accept value '%s'", i,
                                     json_object_get_string(data));
            }
        } else if (str_eq(t, "number") && json_object_is_type(data, json_type_int)) {
            int64_t num = json_object_get_int64(data);
            if (num <= 0 || num > 0xff)
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid key number %lld",
                                     (long long)num);
            qnum = (unsigned)num;
        } else {
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'keys[%zu].data', expected: %s", i,
                                 str_eq(t, "number") ? "integer" : "string");
        }
        qnums[nq++] = qnum;
    }
    if (vm->display)
        display_keys_hold(vm->display, vm->loop, qnums, nq, (uint64_t)hold * 1000000ull);
    return 0;
}

static int qmp_query_vnc(struct qmp_session *session, struct json_object *args,
                         struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)session;
    (void)args;
    (void)err;
    struct vm *vm = opaque;
    *ret = vnc_query(vm->vnc);
    return 0;
}

/* protocol: "vnc" goes on; "spice" is answered as QEMU without SPICE answers it. */
static int check_protocol(struct json_object *args, struct qmp_error *err)
{
    const char *p = json_object_get_string(json_object_object_get(args, "protocol"));
    if (str_eq(p, "vnc"))
        return 0;
    if (str_eq(p, "spice"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "SPICE is not in use");
    return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'protocol' does not accept value '%s'",
                         p);
}

static int qmp_set_password(struct qmp_session *session, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)session;
    (void)ret;
    struct vm *vm = opaque;
    struct json_object *v;
    if (check_protocol(args, err) < 0)
        return -1;
    if (json_object_object_get_ex(args, "connected", &v) &&
        !str_eq(json_object_get_string(v), "keep"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter 'connected'");
    struct verr e = {0};
    if (vnc_set_password(vm->vnc, json_object_get_string(json_object_object_get(args, "password")),
                         &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

static int qmp_expire_password(struct qmp_session *session, struct json_object *args,
                               struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)session;
    (void)ret;
    struct vm *vm = opaque;
    if (check_protocol(args, err) < 0)
        return -1;
    struct verr e = {0};
    if (vnc_expire_password(vm->vnc, json_object_get_string(json_object_object_get(args, "time")),
                            &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    return 0;
}

int display_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg set_password_args[] = {
        {"protocol", QMP_ARG_STRING, false},
        {"password", QMP_ARG_STRING, false},
        {"connected", QMP_ARG_STRING, true},
        {"display", QMP_ARG_STRING, true},
        {NULL},
    };
    static const struct qmp_arg expire_password_args[] = {
        {"protocol", QMP_ARG_STRING, false},
        {"time", QMP_ARG_STRING, false},
        {"display", QMP_ARG_STRING, true},
        {NULL},
    };
    static const struct qmp_arg screendump_args[] = {
        {"filename", QMP_ARG_STRING, false},
        {"device", QMP_ARG_STRING, true},
        {"head", QMP_ARG_INT, true},
        {"format", QMP_ARG_STRING, true},
        {NULL},
    };
    static const struct qmp_arg send_key_args[] = {
        {"keys", QMP_ARG_ARRAY, false},
        {"hold-time", QMP_ARG_INT, true},
        {NULL},
    };
    int r = qmp_server_register(server, "screendump", screendump_args, qmp_screendump, vm);
    if (r == 0)
        r = qmp_server_register(server, "send-key", send_key_args, qmp_send_key, vm);
    if (r == 0)
        r = qmp_server_register(server, "query-vnc", NULL, qmp_query_vnc, vm);
    if (r == 0)
        r = qmp_server_register(server, "set_password", set_password_args, qmp_set_password, vm);
    if (r == 0)
        r = qmp_server_register(server, "expire_password", expire_password_args,
                                qmp_expire_password, vm);
    return r;
}
