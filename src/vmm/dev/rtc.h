/*
 * rtc.h - what the CMOS clock offers beyond its device type (rtc.c): the
 * machine writing its CMOS RAM before the guest runs (memory sizes, CPU
 * count, boot order, as QEMU's pc machines store them for firmware).
 */
#ifndef VIREO_VMM_DEV_RTC_H
#define VIREO_VMM_DEV_RTC_H

#include <stdint.h>

struct device;

/* Sets CMOS byte reg (0x0e-0x7f; the clock registers are not RAM). */
void rtc_cmos_set(struct device *rtc, unsigned reg, uint8_t value);

#endif
