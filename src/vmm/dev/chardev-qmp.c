/*
 * chardev-qmp.c - QMP's query-chardev, owned by the character devices: every
 * chardev of the VM with QEMU 7.2's members (label, filename in QEMU's
 * spellings, frontend-open).
 */
#include "qmp/qmp-server.h"
#include "vmm/dev/chardev.h"

#include <json-c/json.h>
#include <stdlib.h>

static struct json_object *chardev_json(struct chardev *c)
{
    struct json_object *o = json_object_new_object();
    char *fn = chardev_filename(c);
    json_object_object_add(o, "frontend-open", json_object_new_boolean(chardev_fe_open(c)));
    json_object_object_add(o, "filename", json_object_new_string(fn));
    json_object_object_add(o, "label", json_object_new_string(c->label));
    free(fn);
    return o;
}

static int qmp_query_chardev(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct chardev_set *set = opaque;
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; i < set->n; i++)
        json_object_array_add(list, chardev_json(&set->c[i]));
    *ret = list;
    return 0;
}

int chardev_qmp_register(struct qmp_server *server, const struct chardev_set *set)
{
    return qmp_server_register(server, "query-chardev", NULL, qmp_query_chardev, (void *)set);
}
