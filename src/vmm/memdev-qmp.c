/*
 * memdev-qmp.c - QMP query-memdev (see memdev-qmp.h). The fields are QEMU
 * 7.2's; "reserve" is false because vireo-vmm maps guest RAM MAP_NORESERVE
 * (kvm/memory.c), which is what QEMU's reserve=off means, and merge and dump
 * follow -M mem-merge and dump-guest-core unless the backend says otherwise.
 */
#include "vmm/memdev-qmp.h"
#include "qmp/qmp-server.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli.h"
#include "vmm/memory-hotplug.h"
#include "vmm/vm.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static int qmp_query_memdev(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct vm *vm = opaque;
    const struct numa_config *nc = &vm->cfg->numa;
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; i < nc->nr_memdevs; i++) {
        const struct memdev_spec *m = &nc->memdevs[i];
        struct json_object *o = json_object_new_object();
        struct json_object *nodes = json_object_new_array();
        for (unsigned n = 0; n < NUMA_HOST_NODES; n++)
            if (m->host_nodes >> n & 1)
                json_object_array_add(nodes, json_object_new_int((int)n));
        bool merge = m->merge < 0 ? vm->mem.merge : m->merge;
        bool dump = m->dump < 0 ? !vm->mem.no_dump : m->dump;
        json_object_object_add(o, "id", json_object_new_string(m->id));
        json_object_object_add(o, "size", json_object_new_uint64(m->size));
        json_object_object_add(o, "merge", json_object_new_boolean(merge));
        json_object_object_add(o, "dump", json_object_new_boolean(dump));
        json_object_object_add(o, "prealloc", json_object_new_boolean(m->prealloc));
        json_object_object_add(o, "share", json_object_new_boolean(m->share));
        json_object_object_add(o, "reserve", json_object_new_boolean(false));
        json_object_object_add(o, "host-nodes", nodes);
        json_object_object_add(o, "policy", json_object_new_string(memdev_policy_name(m->policy)));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

int memdev_qmp_register(struct qmp_server *server, struct vm *vm)
{
    return qmp_server_register(server, "query-memdev", NULL, qmp_query_memdev, vm);
}

bool memdev_qmp_is_type(const char *qom_type)
{
    return str_eq(qom_type, "memory-backend-ram") || str_eq(qom_type, "memory-backend-memfd") ||
           str_eq(qom_type, "memory-backend-file");
}

/* host-nodes' JSON list as -object spells it ("0-1"); NULL when not one range. */
static char *host_nodes_text(struct json_object *v)
{
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
        return NULL;
    size_t n = json_object_array_length(v);
    int64_t lo = json_object_get_int64(json_object_array_get_idx(v, 0));
    for (size_t i = 1; i < n; i++)
        if (json_object_get_int64(json_object_array_get_idx(v, i)) != lo + (int64_t)i)
            return NULL;
    return xasprintf("%" PRId64 "-%" PRId64, lo, lo + (int64_t)n - 1);
}

int memdev_qmp_object_add(struct vm *vm, struct json_object *args, struct qmp_error *err)
{
    /* The configuration the VM started from is the backends' list: a backend added here
     * is one more entry, as if -object had given it (the main thread alone reads it). */
    struct numa_config *nc = (struct numa_config *)&vm->cfg->numa;
    const char *type = json_object_get_string(json_object_object_get(args, "qom-type"));
    struct buf b = BUF_INIT;
    buf_append_str(&b, type);
    json_object_object_foreach(args, key, val)
    {
        if (str_eq(key, "qom-type"))
            continue;
        char *text = NULL;
        switch (json_object_get_type(val)) {
        case json_type_string:
            text = xstrdup(json_object_get_string(val));
            break;
        case json_type_boolean:
            text = xstrdup(json_object_get_boolean(val) ? "on" : "off");
            break;
        case json_type_int:
            text = xasprintf("%" PRIu64, json_object_get_uint64(val));
            break;
        case json_type_array:
            text = str_eq(key, "host-nodes") ? host_nodes_text(val) : NULL;
            break;
        default:
            break;
        }
        if (!text || strchr(text, ',')) {
            free(text);
            buf_free(&b);
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter type for '%s'", key);
        }
        buf_printf(&b, ",%s=%s", key, text);
        free(text);
    }
    buf_append(&b, "", 1);
    struct verr ve = {0};
    int r = numa_memdev_parse(nc, (const char *)b.data, &ve);
    buf_free(&b);
    if (r < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&ve));
    nc->memdevs[nc->nr_memdevs - 1].dimm = true; /* only a DIMM can take it now */
    return 0;
}

int memdev_qmp_object_del(struct vm *vm, const char *id, struct qmp_error *err)
{
    struct numa_config *nc = (struct numa_config *)&vm->cfg->numa;
    unsigned i = 0;
    while (i < nc->nr_memdevs && !str_eq(nc->memdevs[i].id, id))
        i++;
    if (i == nc->nr_memdevs)
        return 0;
    struct memdev_spec *m = &nc->memdevs[i];
    if (m->node >= 0 || (nc->have_ram_memdev && nc->ram_memdev == i) || memhp_uses(vm, id))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "object '%s' is in use, can not be deleted",
                             id);
    free(m->id);
    free(m->mem_path);
    memmove(m, m + 1, (nc->nr_memdevs - i - 1) * sizeof(*m));
    nc->nr_memdevs--;
    /* The nodes' and -M memory-backend='s indexes past it move down with it. */
    for (unsigned n = 0; n < NUMA_MAX_NODES; n++)
        if (nc->nodes[n].memdev > (int)i)
            nc->nodes[n].memdev--;
    if (nc->have_ram_memdev && nc->ram_memdev > i)
        nc->ram_memdev--;
    return 1;
}
