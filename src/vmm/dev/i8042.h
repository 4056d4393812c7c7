/*
 * i8042.h - what the PS/2 controller offers beyond its device type (i8042.c):
 * injecting Ctrl-Alt-Del.
 */
#ifndef VIREO_VMM_DEV_I8042_H
#define VIREO_VMM_DEV_I8042_H

struct i8042;

/* Presses and releases Ctrl, Alt and Delete on the PS/2 keyboard (in the scan code set the
 * guest selected). QMP send-key reaches the keyboard through the display's routing, which
 * is how vireod sends it; this is for callers that hold the controller itself. */
void i8042_inject_ctrl_alt_del(struct i8042 *kbd);

#endif
