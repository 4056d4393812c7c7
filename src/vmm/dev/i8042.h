/*
 * i8042.h - what the PS/2 controller offers beyond its device type (i8042.c):
 * injecting Ctrl-Alt-Del.
 */
#ifndef VIREO_VMM_DEV_I8042_H
#define VIREO_VMM_DEV_I8042_H

struct i8042;

/* Queues Ctrl-Alt-Del as set-1 scan codes and raises IRQ 1.
 * TODO: nothing calls this yet; QMP send-key (a later issue) is the natural caller. */
void i8042_inject_ctrl_alt_del(struct i8042 *kbd);

#endif
