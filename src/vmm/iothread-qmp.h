/*
 * iothread-qmp.h - QMP for I/O thread objects (query-iothreads, object-add,
 * object-del; qom-get/qom-set under /objects/ID). See iothread-qmp.c.
 */
#ifndef VIREO_VMM_IOTHREAD_QMP_H
#define VIREO_VMM_IOTHREAD_QMP_H

struct qmp_server;
struct qmp_error;
struct json_object;
struct vm;

int iothread_qmp_register(struct qmp_server *server, struct vm *vm);
/* qom-get/qom-set of an /objects/ID path: 0 or -1 (err filled) when path is one, 1 when it
 * is not (the caller resolves it as a device). */
int iothread_qmp_qom_get(struct vm *vm, const char *path, const char *prop,
                         struct json_object **ret, struct qmp_error *err);
int iothread_qmp_qom_set(struct vm *vm, const char *path, const char *prop,
                         struct json_object *value, struct qmp_error *err);

#endif
