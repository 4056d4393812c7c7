/*
 * control.h - vireo-vmm's side of QMP: the callbacks the QMP server
 * (src/qmp/) calls for query-status, stop, cont, system_reset and the
 * rest, and the sink through which the VM's run-state changes become QMP
 * events.
 */
#ifndef VIREO_VMM_CONTROL_H
#define VIREO_VMM_CONTROL_H

#include "util/error.h"

struct vm;
struct control;

/* Starts the QMP server (on the unix socket at path; NULL for none, when only the human
 * monitor uses it) and binds it to vm. */
int control_create(struct vm *vm, const char *path, struct control **out, struct verr *err);
/* Flushes pending replies and events (up to a second), then closes every connection. */
void control_free(struct control *c);

#endif
