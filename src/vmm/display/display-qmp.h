/*
 * display-qmp.h - QMP screendump and send-key (display-qmp.c).
 */
#ifndef VIREO_VMM_DISPLAY_DISPLAY_QMP_H
#define VIREO_VMM_DISPLAY_DISPLAY_QMP_H

struct qmp_server;
struct vm;

int display_qmp_register(struct qmp_server *server, struct vm *vm);

#endif
