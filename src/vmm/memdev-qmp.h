/*
 * memdev-qmp.h - QMP query-memdev: the memory backends, as QEMU lists them.
 */
#ifndef VIREO_VMM_MEMDEV_QMP_H
#define VIREO_VMM_MEMDEV_QMP_H

struct qmp_server;
struct vm;

int memdev_qmp_register(struct qmp_server *server, struct vm *vm);

#endif
