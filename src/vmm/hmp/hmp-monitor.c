/*
 * hmp-monitor.c - a human monitor's state and, on a character device, QEMU's readline mode
 * (see hmp-monitor.h). Output lines end in "\r\n" as QEMU's monitor writes them. Escape
 * sequences (arrow keys) are swallowed: there is no history or cursor movement.
 */
#include "vmm/hmp/hmp-monitor.h"
#include "util/buf.h"
#include "util/mem.h"
#include "vmm/dev/chardev.h"
#include "vmm/hmp/hmp.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024

struct hmp_monitor {
    struct hmp *h;
    int cpu;
    struct chardev *c; /* NULL when detached */
    char line[LINE_MAX_BYTES];
    size_t len;
    int esc;      /* 0, or how far into an escape sequence */
    bool last_cr; /* "\r\n" is one Enter */
    bool greeted; /* the client connected now has had the greeting */
};

struct hmp_monitor *hmp_monitor_new_detached(struct hmp *h)
{
    struct hmp_monitor *m = xcalloc(1, sizeof(*m));
    m->h = h;
    return m;
}

void hmp_monitor_free(struct hmp_monitor *mon)
{
    free(mon);
}

int hmp_monitor_cpu(const struct hmp_monitor *mon)
{
    return mon ? mon->cpu : 0;
}

void hmp_monitor_set_cpu(struct hmp_monitor *mon, int cpu)
{
    mon->cpu = cpu;
}

/* Writes text with each "\n" as "\r\n". */
static void put(struct hmp_monitor *m, const char *s, size_t len)
{
    struct buf b;
    buf_init(&b);
    hmp_crlf(&b, s, len);
    if (b.len)
        chardev_write(m->c, b.data, b.len);
    buf_free(&b);
}

static void put_str(struct hmp_monitor *m, const char *s)
{
    put(m, s, strlen(s));
}

static void greet(struct hmp_monitor *m)
{
    if (m->greeted)
        return;
    m->greeted = true;
    put_str(m, "QEMU 7.2.0 monitor - type 'help' for more information\n(qemu) ");
}

static void enter(struct hmp_monitor *m)
{
    put_str(m, "\n");
    m->line[m->len] = '\0';
    struct buf out;
    buf_init(&out);
    hmp_run_line(m->h, m, m->line, &out);
    put(m, (const char *)out.data, out.len);
    buf_free(&out);
    m->len = 0;
    put_str(m, "(qemu) ");
}

static void byte_in(struct hmp_monitor *m, uint8_t b)
{
    bool cr = m->last_cr;
    m->last_cr = false;
    if (m->esc) { /* ESC [ ... final byte (0x40-0x7e) */
        if (m->esc == 1 && b != '[' && b != 'O')
            m->esc = 0;
        else if (m->esc > 1 && b >= 0x40 && b <= 0x7e)
            m->esc = 0;
        else
            m->esc++;
        return;
    }
    switch (b) {
    case '\r':
        m->last_cr = true;
        enter(m);
        return;
    case '\n':
        if (!cr)
            enter(m);
        return;
    case 0x1b:
        m->esc = 1;
        return;
    case 0x7f:
    case '\b':
        if (m->len) {
            m->len--;
            put_str(m, "\b \b");
        }
        return;
    default:
        if (b < 0x20 || m->len == LINE_MAX_BYTES - 1)
            return;
        m->line[m->len++] = (char)b;
        chardev_write(m->c, &b, 1);
    }
}

static size_t rx_room(void *opaque)
{
    (void)opaque;
    return 4096;
}

static void rx_receive(void *opaque, const uint8_t *data, size_t len)
{
    struct hmp_monitor *m = opaque;
    for (size_t i = 0; i < len; i++)
        byte_in(m, data[i]);
}

static void rx_event(void *opaque, bool connected)
{
    struct hmp_monitor *m = opaque;
    m->len = 0;
    m->esc = 0;
    m->greeted = false;
    if (connected)
        greet(m);
}

struct hmp_monitor *hmp_monitor_new_chardev(struct hmp *h, struct chardev *c)
{
    struct hmp_monitor *m = hmp_monitor_new_detached(h);
    m->c = c;
    struct chardev_receiver rx = {rx_room, rx_receive, m, rx_event};
    chardev_set_receiver(c, &rx);
    if (chardev_connected(c))
        greet(m);
    return m;
}
