/*
 * cli-blockdev.c - vireo-vmm's -blockdev, in QEMU's two forms: a JSON
 * object (-blockdev '{"driver":"qcow2","node-name":"fmt0","file":"file0"}',
 * what libvirt writes for QEMU >= 4.2) or key=value pairs with dotted keys
 * for members of members (-blockdev driver=qcow2,node-name=disk0,
 * file.driver=file,file.filename=X; ",," is a comma in a value). Either way
 * it becomes the JSON object QMP blockdev-add takes, and goes through the
 * same code (backends_blockdev_add): the same drivers, members and words.
 * A node is a drive named by its node-name, for -device ...,drive=NODE.
 *
 * In the key=value form the values are strings, except the members QEMU's
 * schema makes booleans (on/off, true/false: read-only, auto-read-only,
 * cache.direct, cache.no-flush, and those under file.), and "backing=null"
 * is JSON's null (the image opens without a backing file). The NBD driver is for
 * QMP (a mirror's target) only.
 */
#include "vmm/cli-blockdev.h"
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/backends.h"
#include "vmm/cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static bool is_bool_key(const char *leaf)
{
    static const char *const keys[] = {"read-only", "auto-read-only", "direct",
                                       "no-flush",  "force-share",    NULL};
    for (const char *const *k = keys; *k; k++)
        if (str_eq(*k, leaf))
            return true;
    return false;
}

/* Sets path (dotted) to the string value in o, making the objects on the way. */
static int put(struct json_object *o, char *path, const char *value, struct verr *err)
{
    char *dot;
    while ((dot = strchr(path, '.'))) {
        *dot = '\0';
        struct json_object *sub = NULL;
        if (!*path)
            return verr_set(err, EINVAL, "Invalid parameter ''");
        if (!json_object_object_get_ex(o, path, &sub)) {
            sub = json_object_new_object();
            json_object_object_add(o, path, sub);
        } else if (!json_object_is_type(sub, json_type_object)) {
            return verr_set(err, EINVAL, "Parameter '%s' used inconsistently", path);
        }
        o = sub;
        path = dot + 1;
    }
    if (!*path)
        return verr_set(err, EINVAL, "Invalid parameter ''");
    if (json_object_object_get_ex(o, path, NULL))
        return verr_set(err, EINVAL, "Parameter '%s' given more than once", path);
    struct json_object *v;
    if (is_bool_key(path)) {
        if (str_eq(value, "on") || str_eq(value, "true"))
            v = json_object_new_boolean(true);
        else if (str_eq(value, "off") || str_eq(value, "false"))
            v = json_object_new_boolean(false);
        else
            return verr_set(err, EINVAL, "Parameter '%s' expects 'on' or 'off'", path);
    } else if (str_eq(path, "backing") && str_eq(value, "null")) {
        v = NULL;
    } else {
        v = json_object_new_string(value);
    }
    json_object_object_add(o, path, v);
    return 0;
}

/* key=value[,key=value]... into a JSON object. */
static int keyval(const char *arg, struct json_object **out, struct verr *err)
{
    struct json_object *o = json_object_new_object();
    size_t n = strlen(arg);
    char *key = xmalloc(n + 1), *val = xmalloc(n + 1);
    const char *p = arg;
    int r = 0;
    while (r == 0 && *p) {
        size_t k = 0, v = 0;
        while (*p && *p != '=' && *p != ',')
            key[k++] = *p++;
        key[k] = '\0';
        if (*p != '=') {
            r = verr_set(err, EINVAL, "Expected '=' after parameter '%s'", key);
            break;
        }
        p++;
        for (;;) {
            if (*p == ',' && p[1] == ',') {
                val[v++] = ',';
                p += 2;
            } else if (*p && *p != ',') {
                val[v++] = *p++;
            } else {
                break;
            }
        }
        val[v] = '\0';
        if (*p == ',')
            p++;
        r = put(o, key, val, err);
    }
    free(key);
    free(val);
    if (r < 0) {
        json_object_put(o);
        return r;
    }
    *out = o;
    return 0;
}

/* The NBD driver anywhere in the node (its "driver" or its file's). */
static bool wants_nbd(struct json_object *o)
{
    struct json_object *d = NULL, *f = NULL;
    if (json_object_object_get_ex(o, "driver", &d) && json_object_is_type(d, json_type_string) &&
        str_eq(json_object_get_string(d), "nbd"))
        return true;
    return json_object_object_get_ex(o, "file", &f) && json_object_is_type(f, json_type_object) &&
           wants_nbd(f);
}

int cli_blockdev(struct vmm_config *cfg, const char *arg, struct verr *err)
{
    struct json_object *o = NULL;
    int r;
    if (*arg == '{') {
        enum json_tokener_error je = json_tokener_success;
        o = json_tokener_parse_verbose(arg, &je);
        if (!o)
            return verr_set(err, EINVAL, "-blockdev %s: JSON parse error: %s", arg,
                            json_tokener_error_desc(je));
        if (!json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            return verr_set(err, EINVAL, "-blockdev %s: a JSON object is expected", arg);
        }
    } else {
        struct verr e = {0};
        if (keyval(arg, &o, &e) < 0)
            return verr_set(err, EINVAL, "-blockdev %s: %s", arg, verr_msg(&e));
    }
    struct json_object *drv = NULL;
    if (!json_object_object_get_ex(o, "driver", &drv)) {
        json_object_put(o);
        return verr_set(err, EINVAL, "-blockdev %s: Parameter 'driver' is missing", arg);
    }
    if (wants_nbd(o)) {
        json_object_put(o);
        return verr_set(err, ENOTSUP,
                        "-blockdev %s: driver nbd is taken by QMP blockdev-add only (a mirror's "
                        "target)",
                        arg);
    }
    struct qmp_error qe = {0};
    r = backends_blockdev_add(&cfg->backends, o, NULL, &qe);
    json_object_put(o);
    if (r < 0)
        return verr_set(err, EINVAL, "-blockdev %s: %s", arg, qe.desc);
    return 0;
}
