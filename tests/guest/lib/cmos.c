/* CMOS register access (see cmos.h). */
#include "cmos.h"
#include "io.h"

uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, (uint8_t)(0x80 | reg));
    return inb(CMOS_DATA);
}

void cmos_write(uint8_t reg, uint8_t v)
{
    outb(CMOS_INDEX, (uint8_t)(0x80 | reg));
    outb(CMOS_DATA, v);
}
