/*
 * memdev-qmp.c - QMP query-memdev (see memdev-qmp.h). The fields are QEMU
 * 7.2's; "reserve" is false because vireo-vmm maps guest RAM MAP_NORESERVE
 * (kvm/memory.c), which is what QEMU's reserve=off means, and merge and dump
 * follow -M mem-merge and dump-guest-core unless the backend says otherwise.
 */
#include "vmm/memdev-qmp.h"
#include "qmp/qmp-server.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

#include <json-c/json.h>

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
