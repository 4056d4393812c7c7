/*
 * platform.h - the small legacy devices of the PC platform: ACPI PM1 block
 * and reset register, CMOS RTC, i8042 (reset and Ctrl-Alt-Del), the
 * isa-debug-exit port, and the POST port 0x80. Each registers itself on
 * vm->pio and keeps its state private.
 */
#ifndef VIREO_VMM_DEV_PLATFORM_H
#define VIREO_VMM_DEV_PLATFORM_H

#include "util/error.h"

#include <stdint.h>
#include <time.h>

struct vm;
struct acpi_pm;
struct rtc;
struct i8042;
struct debug_exit;

/* PM1a event/control at PORT_ACPI_PM, reset register at PORT_RESET (0xCF9). */
int acpi_pm_create(struct vm *vm, struct acpi_pm **out, struct verr *err);
/* Presses the fixed-feature power button (PWRBTN_STS) and raises the SCI if enabled. */
void acpi_pm_press_power_button(struct acpi_pm *pm);
void acpi_pm_reset(struct acpi_pm *pm);
void acpi_pm_free(struct acpi_pm *pm);

/* CMOS RTC at 0x70/0x71 showing the host's time. */
int rtc_create(struct vm *vm, struct rtc **out, struct verr *err);
void rtc_free(struct rtc *rtc);
/* The value of CMOS register reg for wall time t under the current register B (for tests). */
uint8_t rtc_register_value(struct rtc *rtc, unsigned reg, time_t t);

/* i8042 at 0x60/0x64: enough for reset (0xFE) and Ctrl-Alt-Del scan codes. */
int i8042_create(struct vm *vm, struct i8042 **out, struct verr *err);
/* TODO: nothing calls this yet; QMP send-key (a later issue) is the natural caller. */
void i8042_inject_ctrl_alt_del(struct i8042 *kbd);
void i8042_free(struct i8042 *kbd);

/* QEMU's isa-debug-exit: a write of V ends the process with status (V << 1) | 1. */
int debug_exit_create(struct vm *vm, uint16_t iobase, uint16_t iosize, struct debug_exit **out,
                      struct verr *err);
void debug_exit_free(struct debug_exit *d);

/* Port 0x80 (POST codes, also used by Linux as an I/O delay): accepted and ignored. */
int port80_create(struct vm *vm, struct verr *err);

#endif
