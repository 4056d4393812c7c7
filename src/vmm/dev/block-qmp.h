/*
 * block-qmp.h - QMP's block commands over the VM's drives (query-block,
 * block_resize, eject, blockdev-open-tray, blockdev-close-tray,
 * blockdev-change-medium; see block-qmp.c).
 */
#ifndef VIREO_VMM_DEV_BLOCK_QMP_H
#define VIREO_VMM_DEV_BLOCK_QMP_H

struct qmp_server;
struct vm;

int block_qmp_register(struct qmp_server *server, struct vm *vm);

#endif
