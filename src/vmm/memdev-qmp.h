/*
 * memdev-qmp.h - QMP query-memdev: the memory backends, as QEMU lists them;
 * object-add and object-del of memory-backend-ram|memfd|file (a DIMM's backend
 * for device_add pc-dimm, memory-hotplug.h).
 */
#ifndef VIREO_VMM_MEMDEV_QMP_H
#define VIREO_VMM_MEMDEV_QMP_H

#include <stdbool.h>

struct json_object;
struct qmp_error;
struct qmp_server;
struct vm;

int memdev_qmp_register(struct qmp_server *server, struct vm *vm);

/* Is qom-type a memory backend's ("memory-backend-ram", "-memfd", "-file")? */
bool memdev_qmp_is_type(const char *qom_type);
/* object-add of a memory backend: its arguments as -object's properties (QEMU's errors). */
int memdev_qmp_object_add(struct vm *vm, struct json_object *args, struct qmp_error *err);
/* object-del: 1 when id was a memory backend and is gone, 0 when it is no backend, -1 (err
 * set) when it is one still in use (guest RAM's or a DIMM's). */
int memdev_qmp_object_del(struct vm *vm, const char *id, struct qmp_error *err);

#endif
