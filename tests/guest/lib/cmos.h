/*
 * CMOS/RTC register access through ports 0x70/0x71. Bit 7 of the index
 * port masks NMIs on PCs; it is kept set while the guest talks to the
 * chip, as firmware does.
 */
#ifndef GUEST_CMOS_H
#define GUEST_CMOS_H

#include <stdint.h>

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71

#define RTC_SECONDS  0x00
#define RTC_MINUTES  0x02
#define RTC_HOURS    0x04
#define RTC_DAY      0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_STATUS_D 0x0d
#define RTC_CENTURY  0x32

#define RTC_A_UIP    0x80
#define RTC_B_24H    0x02
#define RTC_B_BINARY 0x04
#define RTC_D_VRT    0x80

uint8_t cmos_read(uint8_t reg);
void cmos_write(uint8_t reg, uint8_t v);

#endif
