/*
 * rtc.c - the MC146818 CMOS clock (QEMU's mc146818rtc, a built-in device of
 * the machine) at 0x70 (index, bit 7 = NMI mask) and
 * 0x71 (data). Time registers show the host's current UTC time at each read,
 * in BCD or binary and 12/24-hour form as register B asks; registers A, C, D
 * read as a clock that is never mid-update and always has valid RAM. The rest
 * of the 128 bytes are plain CMOS RAM. Periodic/alarm interrupts are not
 * modelled (TODO: IRQ 8 when a guest needs them; Linux uses other clocks).
 */
#include "util/mem.h"
#include "vmm/dev/rtc.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#define REG_B_24H    0x02
#define REG_B_BINARY 0x04

struct rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t cmos[128];
};

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* The value of CMOS register reg for wall time t under the current register B. */
static uint8_t rtc_register_value(struct rtc *rtc, unsigned reg, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    uint8_t b = rtc->cmos[0x0b];
    unsigned v;
    switch (reg) {
    case 0x00:
        v = (unsigned)tm.tm_sec;
        break;
    case 0x02:
        v = (unsigned)tm.tm_min;
        break;
    case 0x04: {
        unsigned h = (unsigned)tm.tm_hour;
        if (!(b & REG_B_24H)) {
            bool pm = h >= 12;
            h = h % 12 == 0 ? 12 : h % 12;
            uint8_t out = (b & REG_B_BINARY) ? (uint8_t)h : to_bcd(h);
            return pm ? (uint8_t)(out | 0x80) : out;
        }
        v = h;
        break;
    }
    case 0x06:
        v = (unsigned)tm.tm_wday + 1;
        break;
    case 0x07:
        v = (unsigned)tm.tm_mday;
        break;
    case 0x08:
        v = (unsigned)tm.tm_mon + 1;
        break;
    case 0x09:
        v = (unsigned)(tm.tm_year % 100);
        break;
    case 0x32:
        v = (unsigned)(1900 + tm.tm_year) / 100;
        break;
    case 0x0a:
        return rtc->cmos[0x0a] & 0x7f; /* UIP never set */
    case 0x0c:
        return 0;
    case 0x0d:
        return 0x80; /* valid RAM and time */
    default:
        return rtc->cmos[reg & 0x7f];
    }
    return (b & REG_B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct rtc *rtc = opaque;
    memset(data, 0xff, size);
    pthread_mutex_lock(&rtc->lock);
    if (offset == 1)
        data[0] = rtc_register_value(rtc, rtc->index, time(NULL));
    else
        data[0] = rtc->index;
    pthread_mutex_unlock(&rtc->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct rtc *rtc = opaque;
    (void)size;
    pthread_mutex_lock(&rtc->lock);
    if (offset == 0) {
        rtc->index = data[0] & 0x7f;
    } else {
        switch (rtc->index) {
        case 0x0c:
        case 0x0d:
            break; /* read-only */
        case 0x00:
        case 0x02:
        case 0x04:
        case 0x06:
        case 0x07:
        case 0x08:
        case 0x09:
        case 0x32:
            break; /* TODO: keep a guest-set offset from host time; ignored for now */
        default:
            rtc->cmos[rtc->index] = data[0];
        }
    }
    pthread_mutex_unlock(&rtc->lock);
}

static const struct bus_ops rtc_ops = {rtc_read, rtc_write};

void rtc_cmos_set(struct device *dev, unsigned reg, uint8_t value)
{
    struct rtc *rtc = dev->priv;
    if (reg < 0x0e || reg > 0x7f)
        return;
    pthread_mutex_lock(&rtc->lock);
    rtc->cmos[reg] = value;
    pthread_mutex_unlock(&rtc->lock);
}

static int rtc_create(struct device *dev, struct verr *err)
{
    struct rtc *rtc = xcalloc(1, sizeof(*rtc));
    pthread_mutex_init(&rtc->lock, NULL);
    rtc->cmos[0x0a] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
    rtc->cmos[0x0b] = REG_B_24H;
    int r = bus_register(&dev->vm->pio, 0x70, 2, &rtc_ops, rtc, "rtc", err);
    if (r < 0) {
        pthread_mutex_destroy(&rtc->lock);
        free(rtc);
        return r;
    }
    dev->priv = rtc;
    return 0;
}

static void rtc_free(struct device *dev)
{
    struct rtc *rtc = dev->priv;
    pthread_mutex_destroy(&rtc->lock);
    free(rtc);
}

/* No reset: CMOS RAM and the clock keep their state across a system reset, as on a PC. */
/* CMOS bytes and the index register. The clock itself is the host's UTC time (as QEMU's
 * default -rtc base=utc), so after a restore it reads the time of the restore. */
static int rtc_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct rtc *rtc = dev->priv;
    uint8_t s[129];
    pthread_mutex_lock(&rtc->lock);
    memcpy(s, rtc->cmos, 128);
    s[128] = rtc->index;
    pthread_mutex_unlock(&rtc->lock);
    return w->put(w, "cmos", s, sizeof(s), err);
}

static int rtc_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct rtc *rtc = dev->priv;
    uint8_t s[129];
    int rc = r->get(r, "cmos", s, sizeof(s), err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rtc->lock);
    memcpy(rtc->cmos, s, 128);
    rtc->index = s[128] & 0x7f;
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}

static const struct dev_type rtc_type = {
    .name = "mc146818rtc",
    .desc = "CMOS real-time clock at 0x70 (host time)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_ISA,
    .create = rtc_create,
    .free = rtc_free,
    .state_version = 1,
    .save = rtc_save,
    .load = rtc_load,
};

const struct dev_type *const dev_types_rtc[] = {&rtc_type, NULL};
