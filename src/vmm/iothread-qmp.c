/*
 * iothread-qmp.c - QMP for I/O thread objects: query-iothreads (each one's
 * host thread id, which management pins), object-add and object-del of
 * qom-type "iothread" (and "secret": encrypted drives' passphrases), and qom-get/qom-set of their
 * poll properties under /objects/ID (what libvirt's iothreadset sends). object-add and object-del
 * of "tls-creds-x509", "authz-simple" and "authz-list" go to the migration's objects
 * (state/migration.h), which the TLS servers' tls-creds and tls-authz name; of
 * "memory-backend-ram|memfd|file" to memdev-qmp.h (DIMMs' backends).
 */
#include "vmm/iothread-qmp.h"
#include "vmm/authz.h"
#include "block/secret.h"
#include "vmm/backends.h"
#include "qmp/qmp-server.h"
#include "util/str.h"
#include "util/buf.h"
#include "vmm/iothread.h"
#include "vmm/memdev-qmp.h"
#include "vmm/state/migration.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static int qmp_query_iothreads(struct qmp_session *ss, struct json_object *args,
                               struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct json_object *list = json_object_new_array();
    for (unsigned i = vm->iothreads.n; i-- > 0;) { /* newest first, as QEMU lists them */
        struct iothread *it = vm->iothreads.v[i];
        struct iothread_spec p;
        iothread_get_params(it, &p);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(iothread_id(it)));
        json_object_object_add(o, "thread-id", json_object_new_int(iothread_thread_id(it)));
        json_object_object_add(o, "poll-max-ns", json_object_new_int64(p.poll_max_ns));
        json_object_object_add(o, "poll-grow", json_object_new_int64(p.poll_grow));
        json_object_object_add(o, "poll-shrink", json_object_new_int64(p.poll_shrink));
        json_object_object_add(o, "aio-max-batch", json_object_new_int64(0));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

static const char *const tls_props[] = {"dir", "endpoint", "verify-peer", "priority",
                                        "sanity-check"};
static const char *const poll_props[] = {"poll-max-ns", "poll-grow", "poll-shrink",
                                         "aio-max-batch"};
static const char *const mem_props[] = {
    "size",       "mem-path", "share",       "prealloc", "merge",        "dump",
    "host-nodes", "hugetlb",  "hugetlbsize", "seal",     "discard-data", "prealloc-threads"};
static const char *const authz_props[] = {"identity", "policy", "rules", "filename", "refresh"};

/* A property of the other type's list: QEMU's words for a property the type lacks. */
static int foreign_prop(struct json_object *args, const char *type, const char *const *props,
                        unsigned n, struct qmp_error *err)
{
    for (unsigned i = 0; i < n; i++)
        if (json_object_object_get(args, props[i]))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '%s.%s' not found", type,
                                 props[i]);
    return 0;
}

/* ",key=value" with QEMU's ",," for a comma in the value. */
static void append_prop(struct buf *b, const char *key, const char *value)
{
    buf_printf(b, ",%s=", key);
    for (const char *c = value; *c; c++)
        if (*c == ',')
            buf_append_str(b, ",,");
        else
            buf_append_byte(b, (uint8_t)*c);
}

/* A string member of a rule; one line naming it otherwise. */
static int rule_str(struct json_object *rule, unsigned i, const char *key, bool optional,
                    const char **out, struct qmp_error *err)
{
    struct json_object *v = json_object_object_get(rule, key);
    *out = NULL;
    if (!v && optional)
        return 0;
    if (!v)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'rules[%u].%s' is missing", i, key);
    if (!json_object_is_type(v, json_type_string))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'rules[%u].%s', expected: string", i, key);
    *out = json_object_get_string(v);
    return 0;
}

/* "authz-simple" and "authz-list": their -object syntax (the rules as rules.N.*). */
static int authz_add(struct vm *vm, const char *type, struct json_object *args,
                     struct qmp_error *err)
{
    /* The properties of the other authz types. */
    static const char *const not_simple[] = {"policy", "rules", "filename", "refresh"};
    static const char *const not_list[] = {"identity", "filename", "refresh"};
    static const char *const not_listfile[] = {"identity", "policy", "rules"};
    bool simple = str_eq(type, "authz-simple"), list = str_eq(type, "authz-list");
    if (foreign_prop(args, type, poll_props, 4, err) < 0 ||
        foreign_prop(args, type, tls_props, 5, err) < 0 ||
        foreign_prop(args, type,
                     simple ? not_simple
                     : list ? not_list
                            : not_listfile,
                     simple ? 4 : 3, err) < 0)
        return -1;
    struct buf b = BUF_INIT;
    buf_append_str(&b, type);
    append_prop(&b, "id", json_object_get_string(json_object_object_get(args, "id")));
    struct json_object *v = json_object_object_get(args, "identity");
    if (v)
        append_prop(&b, "identity", json_object_get_string(v));
    if ((v = json_object_object_get(args, "policy")))
        append_prop(&b, "policy", json_object_get_string(v));
    if ((v = json_object_object_get(args, "filename")))
        append_prop(&b, "filename", json_object_get_string(v));
    if ((v = json_object_object_get(args, "refresh")))
        append_prop(&b, "refresh", json_object_get_boolean(v) ? "on" : "off");
    struct json_object *rules = json_object_object_get(args, "rules");
    size_t n = rules ? json_object_array_length(rules) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *rule = json_object_array_get_idx(rules, i);
        const char *match, *policy, *format;
        char key[48];
        if (!json_object_is_type(rule, json_type_object)) {
            buf_free(&b);
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'rules[%zu]', expected: object", i);
        }
        if (rule_str(rule, (unsigned)i, "match", false, &match, err) < 0 ||
            rule_str(rule, (unsigned)i, "policy", false, &policy, err) < 0 ||
            rule_str(rule, (unsigned)i, "format", true, &format, err) < 0) {
            buf_free(&b);
            return -1;
        }
        json_object_object_foreach(rule, k, val)
        {
            (void)val;
            if (!str_eq(k, "match") && !str_eq(k, "policy") && !str_eq(k, "format")) {
                buf_free(&b);
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'rules[%zu].%s' is unexpected", i, k);
            }
        }
        snprintf(key, sizeof(key), "rules.%zu.match", i);
        append_prop(&b, key, match);
        snprintf(key, sizeof(key), "rules.%zu.policy", i);
        append_prop(&b, key, policy);
        if (format) {
            snprintf(key, sizeof(key), "rules.%zu.format", i);
            append_prop(&b, key, format);
        }
    }
    struct authz *a;
    struct verr ve = {0};
    int r = authz_parse(buf_cstr(&b), &a, &ve);
    buf_free(&b);
    if (r == 0 && migration_authz_find(vm->migration, authz_id(a)) == NULL &&
        (r = authz_load(a, &ve)) < 0)
        authz_unref(a);
    if (r == 0)
        r = migration_authz_add(vm->migration, a, &ve);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    return 0;
}

/* "tls-creds-x509": its -object syntax (commas doubled in values) for the migration's
 * credentials. */
static int tls_creds_add(struct vm *vm, struct json_object *args, struct qmp_error *err)
{
    if (foreign_prop(args, "tls-creds-x509", poll_props, 4, err) < 0 ||
        foreign_prop(args, "tls-creds-x509", authz_props, 5, err) < 0)
        return -1;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "tls-creds-x509");
    static const char *const keys[] = {"id", "dir", "endpoint", "priority"};
    for (unsigned i = 0; i < 4; i++) {
        struct json_object *v = json_object_object_get(args, keys[i]);
        if (v)
            append_prop(&b, keys[i], json_object_get_string(v));
    }
    static const char *const bools[] = {"verify-peer", "sanity-check"};
    for (unsigned i = 0; i < 2; i++) {
        struct json_object *v = json_object_object_get(args, bools[i]);
        if (v)
            buf_printf(&b, ",%s=%s", bools[i], json_object_get_boolean(v) ? "on" : "off");
    }
    struct verr ve = {0};
    int r = migration_tls_creds_add(vm->migration, buf_cstr(&b), &ve);
    buf_free(&b);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    return 0;
}

/* A secret object (an encrypted drive's passphrase, as -object secret gives it): id, data or
 * file, format, keyid and iv, into the store the drives' keys come from. Data under keyid= is
 * decrypted as it is added, so hot-plugged disks are keyed as the ones given at start are. */
static int secret_add(struct vm *vm, struct json_object *args, struct qmp_error *err)
{
    static const char *const props[] = {"qom-type", "id", "data", "file", "format", "keyid", "iv"};
    struct buf b = BUF_INIT;
    buf_append_str(&b, "secret");
    json_object_object_foreach(args, key, val)
    {
        size_t k = 0;
        while (k < sizeof(props) / sizeof(props[0]) && !str_eq(props[k], key))
            k++;
        if (k == sizeof(props) / sizeof(props[0])) {
            buf_free(&b);
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'secret.%s' not found", key);
        }
        if (k > 0)
            append_prop(&b, key, json_object_get_string(val));
    }
    struct verr ve = {0};
    int r = secret_store_add_object(&vm->backends->secrets, (const char *)b.data, &ve);
    explicit_bzero(b.data, b.len);
    buf_free(&b);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    return 0;
}

static int qmp_object_add(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *type = json_object_get_string(json_object_object_get(args, "qom-type"));
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    if (str_eq(type, "secret"))
        return secret_add(vm, args, err);
    if (memdev_qmp_is_type(type))
        return memdev_qmp_object_add(vm, args, err);
    if (foreign_prop(args, type, mem_props, sizeof(mem_props) / sizeof(mem_props[0]), err) < 0)
        return -1;
    if (str_eq(type, "tls-creds-x509"))
        return tls_creds_add(vm, args, err);
    if (str_eq(type, "authz-simple") || str_eq(type, "authz-list") ||
        str_eq(type, "authz-listfile"))
        return authz_add(vm, type, args, err);
    if (!str_eq(type, "iothread"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Object type '%s' is not supported here (only 'iothread', 'secret', "
                             "'tls-creds-x509', 'authz-simple', 'authz-list', 'authz-listfile' "
                             "and 'memory-backend-ram|memfd|file')",
                             type);
    if (foreign_prop(args, "iothread", tls_props, 5, err) < 0 ||
        foreign_prop(args, "iothread", authz_props, 5, err) < 0)
        return -1;
    struct iothread_spec spec = {.id = (char *)id, .poll_max_ns = IOTHREAD_POLL_MAX_NS_DEFAULT};
    struct verr ve = {0};
    static const char *const props[] = {"poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch"};
    for (unsigned i = 0; i < 4; i++) {
        struct json_object *v = json_object_object_get(args, props[i]);
        if (v && iothread_spec_set(&spec, props[i], json_object_get_int64(v), &ve) < 0)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    }
    if (iothread_set_add(&vm->iothreads, &spec, &ve) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    return 0;
}

static int qmp_object_del(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct vm *vm = opaque;
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    struct verr ve = {0};
    if (secret_store_del(&vm->backends->secrets, id) == 0)
        return 0;
    int m = memdev_qmp_object_del(vm, id, err);
    if (m != 0)
        return m < 0 ? -1 : 0;
    if (migration_tls_creds_del(vm->migration, id, &ve) > 0)
        return 0;
    int r = migration_authz_del(vm->migration, id, &ve);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    if (r > 0)
        return 0;
    if (iothread_set_del(&vm->iothreads, id, &ve) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    return 0;
}

/* "/objects/ID" -> the I/O thread, or NULL (*handled false: not an /objects path). */
static struct iothread *object_at(struct vm *vm, const char *path, bool *handled)
{
    *handled = str_starts_with(path, "/objects/");
    return *handled ? iothread_set_find(&vm->iothreads, path + strlen("/objects/")) : NULL;
}

static bool is_poll_prop(const char *prop)
{
    return str_eq(prop, "poll-max-ns") || str_eq(prop, "poll-grow") ||
           str_eq(prop, "poll-shrink") || str_eq(prop, "aio-max-batch");
}

int iothread_qmp_qom_get(struct vm *vm, const char *path, const char *prop,
                         struct json_object **ret, struct qmp_error *err)
{
    bool handled;
    struct iothread *it = object_at(vm, path, &handled);
    if (!handled)
        return 1;
    if (!it)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    struct iothread_spec p;
    iothread_get_params(it, &p);
    if (str_eq(prop, "type"))
        *ret = json_object_new_string("iothread");
    else if (str_eq(prop, "poll-max-ns"))
        *ret = json_object_new_int64(p.poll_max_ns);
    else if (str_eq(prop, "poll-grow"))
        *ret = json_object_new_int64(p.poll_grow);
    else if (str_eq(prop, "poll-shrink"))
        *ret = json_object_new_int64(p.poll_shrink);
    else if (str_eq(prop, "aio-max-batch"))
        *ret = json_object_new_int64(0);
    else
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'iothread.%s' not found", prop);
    return 0;
}

int iothread_qmp_qom_set(struct vm *vm, const char *path, const char *prop,
                         struct json_object *value, struct qmp_error *err)
{
    bool handled;
    struct iothread *it = object_at(vm, path, &handled);
    if (!handled)
        return 1;
    if (!it)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    if (!is_poll_prop(prop))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Property 'iothread.%s' not found", prop);
    if (!json_object_is_type(value, json_type_int))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for '%s', expected: integer", prop);
    errno = 0;
    int64_t v = json_object_get_int64(value);
    struct verr ve = {0};
    if (errno == ERANGE || iothread_set_param(it, prop, v, &ve) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s",
                             errno == ERANGE ? "value out of range" : verr_msg(&ve));
    return 0;
}

int iothread_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg add_args[] = {{"qom-type", QMP_ARG_STRING, false},
                                              {"id", QMP_ARG_STRING, false},
                                              {"poll-max-ns", QMP_ARG_INT, true},
                                              {"poll-grow", QMP_ARG_INT, true},
                                              {"poll-shrink", QMP_ARG_INT, true},
                                              {"aio-max-batch", QMP_ARG_INT, true},
                                              {"dir", QMP_ARG_STRING, true},
                                              {"endpoint", QMP_ARG_STRING, true},
                                              {"verify-peer", QMP_ARG_BOOL, true},
                                              {"priority", QMP_ARG_STRING, true},
                                              {"sanity-check", QMP_ARG_BOOL, true},
                                              {"identity", QMP_ARG_STRING, true},
                                              {"policy", QMP_ARG_STRING, true},
                                              {"rules", QMP_ARG_ARRAY, true},
                                              {"filename", QMP_ARG_STRING, true},
                                              {"refresh", QMP_ARG_BOOL, true},
                                              {"data", QMP_ARG_STRING, true},
                                              {"file", QMP_ARG_STRING, true},
                                              {"format", QMP_ARG_STRING, true},
                                              {"keyid", QMP_ARG_STRING, true},
                                              {"iv", QMP_ARG_STRING, true},
                                              {"size", QMP_ARG_INT, true},
                                              {"mem-path", QMP_ARG_STRING, true},
                                              {"share", QMP_ARG_BOOL, true},
                                              {"prealloc", QMP_ARG_BOOL, true},
                                              {"merge", QMP_ARG_BOOL, true},
                                              {"dump", QMP_ARG_BOOL, true},
                                              {"host-nodes", QMP_ARG_ARRAY, true},
                                              {"hugetlb", QMP_ARG_BOOL, true},
                                              {"hugetlbsize", QMP_ARG_INT, true},
                                              {"seal", QMP_ARG_BOOL, true},
                                              {"discard-data", QMP_ARG_BOOL, true},
                                              {"prealloc-threads", QMP_ARG_INT, true},
                                              {NULL}};
    static const struct qmp_arg del_args[] = {{"id", QMP_ARG_STRING, false}, {NULL}};
    int r = qmp_server_register(server, "query-iothreads", NULL, qmp_query_iothreads, vm);
    if (r == 0)
        r = qmp_server_register(server, "object-add", add_args, qmp_object_add, vm);
    if (r == 0)
        r = qmp_server_register(server, "object-del", del_args, qmp_object_del, vm);
    return r;
}
