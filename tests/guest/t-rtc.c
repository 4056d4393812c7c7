/*
 * The RTC test: the CMOS clock holds a sane date (the VMM seeds it from the
 * host's clock, so the year is at least 2024) and its seconds advance.
 */
#include "guest.h"
#include "lib/cmos.h"
#include "lib/io.h"

#define RTC_TIMEOUT (6 * TSC_SEC)

struct rtc_time {
    unsigned sec, min, hour, day, mon, year, century;
};

static unsigned from_bcd(uint8_t v, bool binary)
{
    return binary ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

static void read_raw(struct rtc_time *r)
{
    /* Wait out an update in progress (bounded: a missing RTC reads 0xff). */
    for (int i = 0; i < 2000 && (cmos_read(RTC_STATUS_A) & RTC_A_UIP); i++)
        ;
    r->sec = cmos_read(RTC_SECONDS);
    r->min = cmos_read(RTC_MINUTES);
    r->hour = cmos_read(RTC_HOURS);
    r->day = cmos_read(RTC_DAY);
    r->mon = cmos_read(RTC_MONTH);
    r->year = cmos_read(RTC_YEAR);
    r->century = cmos_read(RTC_CENTURY);
}

/* Reads until two consecutive reads agree, so no field tears. */
static void rtc_read(struct rtc_time *out)
{
    struct rtc_time a, b;
    read_raw(&a);
    for (int i = 0; i < 10; i++) {
        read_raw(&b);
        if (a.sec == b.sec && a.min == b.min && a.hour == b.hour && a.day == b.day &&
            a.mon == b.mon && a.year == b.year)
            break;
        a = b;
    }
    uint8_t sb = cmos_read(RTC_STATUS_B);
    bool bin = sb & RTC_B_BINARY;
    out->sec = from_bcd((uint8_t)a.sec, bin);
    out->min = from_bcd((uint8_t)a.min, bin);
    bool pm = !(sb & RTC_B_24H) && (a.hour & 0x80);
    out->hour = from_bcd((uint8_t)(a.hour & 0x7f), bin);
    if (!(sb & RTC_B_24H))
        out->hour = (out->hour % 12) + (pm ? 12 : 0);
    out->day = from_bcd((uint8_t)a.day, bin);
    out->mon = from_bcd((uint8_t)a.mon, bin);
    unsigned century = from_bcd((uint8_t)a.century, bin);
    if (century < 19 || century > 30)
        century = 20; /* no century register: assume 20xx */
    out->century = century;
    out->year = century * 100 + from_bcd((uint8_t)a.year, bin);
}

void test_rtc(struct guest *g)
{
    struct tap *t = &g->tap;
    struct rtc_time r;

    uint8_t d = cmos_read(RTC_STATUS_D);
    if (!tap_ok(t, (d & RTC_D_VRT) && d != 0xff, "rtc: status D reports valid RAM and time (0x%x)",
                d))
        return; /* no RTC at all: the rest would only time out */
    rtc_read(&r);
    tap_ok(t,
           r.year >= 2024 && r.year < 2200 && r.mon >= 1 && r.mon <= 12 && r.day >= 1 &&
               r.day <= 31 && r.hour < 24 && r.min < 60 && r.sec < 60,
           "rtc: sane date %04u-%02u-%02u %02u:%02u:%02u (year >= 2024)", r.year, r.mon, r.day,
           r.hour, r.min, r.sec);

    unsigned first = r.sec;
    uint64_t start = rdtsc();
    while (r.sec == first && rdtsc() - start < RTC_TIMEOUT)
        rtc_read(&r);
    tap_ok(t, r.sec != first, "rtc: seconds advance (%u -> %u)", first, r.sec);
}
