/*
 * t-ps2.c - the i8042 PS/2 controller with its keyboard and mouse, driven as
 * an OS driver drives them (tests=ps2, not in `all`: the keys come from the
 * host through the VMM's display, tests/integration/vmm/test-vnc.py):
 *
 *   controller self test (0x55), command byte read back, keyboard reset
 *   (FA AA), scan code set 2 selected and read back, identify (FA AB 83),
 *   mouse reset (FA AA 00), the IntelliMouse sample-rate knock (200, 100, 80)
 *   and its id 3, mouse status; then, with the interrupts off and the guest
 *   polling, three rounds the host feeds through VNC:
 *     "# ps2: keys ready (set 2)"    the guest prints every byte up to the
 *                                    break of Return (F0 5A)
 *     "# ps2: keys ready (set 1)"    translation on: up to 9C
 *     "# ps2: mouse ready"           packets (4 bytes with the wheel) until
 *                                    one with the left button; prints the
 *                                    summed movement and the buttons
 * Each round ends with a "# ps2: ..." line the host checks.
 */
#include "guest.h"
#include "lib/io.h"
#include "lib/format.h"
#include "lib/libc.h"

#define DATA   0x60
#define STATUS 0x64
#define CMD    0x64

static uint64_t tsc_per_ms(void)
{
    return 3000000; /* only bounds waits: a few GHz either way is fine */
}

/* The next byte from the controller within ms, or -1; *aux says whether the mouse sent it. */
static int read_byte(unsigned ms, bool *aux)
{
    uint64_t end = rdtsc() + ms * tsc_per_ms();
    while (rdtsc() < end) {
        uint8_t st = inb(STATUS);
        if (st & 1) {
            if (aux)
                *aux = st & 0x20;
            return inb(DATA);
        }
        cpu_pause();
    }
    return -1;
}

static void wait_input_empty(void)
{
    for (unsigned i = 0; i < 100000 && (inb(STATUS) & 2); i++)
        cpu_pause();
}

static void ctrl_cmd(uint8_t c)
{
    wait_input_empty();
    outb(CMD, c);
}

static void data_write(uint8_t v)
{
    wait_input_empty();
    outb(DATA, v);
}

static void flush(void)
{
    while (read_byte(20, 0) >= 0)
        ;
}

/* Sends v to the keyboard (aux: the mouse) and checks the n reply bytes. */
static bool dev_cmd(bool aux, uint8_t v, const uint8_t *want, unsigned n)
{
    if (aux)
        ctrl_cmd(0xd4);
    data_write(v);
    for (unsigned i = 0; i < n; i++)
        if (read_byte(500, 0) != want[i])
            return false;
    return true;
}

static void keys_round(struct guest *g, const char *set, uint8_t last_a, uint8_t last_b)
{
    tap_diag(&g->tap, "ps2: keys ready (%s)", set);
    char line[256];
    unsigned len = 0;
    int prev = -1;
    for (;;) {
        int b = read_byte(60000, 0);
        if (b < 0)
            break;
        if (len + 4 < sizeof(line))
            len += (unsigned)format_buf(line + len, sizeof(line) - len, "%s%02x", len ? " " : "",
                                        (unsigned)b);
        bool end = last_a ? (prev == last_a && b == last_b) : b == last_b;
        prev = b;
        if (end)
            break;
    }
    line[len] = '\0';
    tap_diag(&g->tap, "ps2: %s bytes: %s", set, line);
}

void test_ps2(struct guest *g)
{
    ctrl_cmd(0xad); /* both ports off while the controller is set up */
    ctrl_cmd(0xa7);
    flush();
    ctrl_cmd(0xaa);
    tap_ok(&g->tap, read_byte(500, 0) == 0x55, "ps2: controller self test");
    ctrl_cmd(0x60);
    data_write(0x00); /* no interrupts (the guest polls), no translation */
    ctrl_cmd(0x20);
    tap_ok(&g->tap, read_byte(500, 0) == 0x00, "ps2: command byte reads back");
    ctrl_cmd(0xae);
    ctrl_cmd(0xa8);
    static const uint8_t ack_aa[] = {0xfa, 0xaa}, ack[] = {0xfa}, ack_2[] = {0xfa, 0x02};
    static const uint8_t ident[] = {0xfa, 0xab, 0x83}, mreset[] = {0xfa, 0xaa, 0x00};
    static const uint8_t mid3[] = {0xfa, 0x03};
    tap_ok(&g->tap, dev_cmd(false, 0xff, ack_aa, 2), "ps2: keyboard reset (FA AA)");
    bool set2 = dev_cmd(false, 0xf0, ack, 1) && dev_cmd(false, 0x02, ack, 1) &&
                dev_cmd(false, 0xf0, ack, 1) && dev_cmd(false, 0x00, ack_2, 2);
    tap_ok(&g->tap, set2, "ps2: scan code set 2 selected and read back");
    tap_ok(&g->tap, dev_cmd(false, 0xf2, ident, 3), "ps2: keyboard identifies as AB 83");
    tap_ok(&g->tap, dev_cmd(false, 0xf4, ack, 1), "ps2: keyboard scanning");
    tap_ok(&g->tap, dev_cmd(true, 0xff, mreset, 3), "ps2: mouse reset (FA AA 00)");
    bool knock = dev_cmd(true, 0xf3, ack, 1) && dev_cmd(true, 200, ack, 1) &&
                 dev_cmd(true, 0xf3, ack, 1) && dev_cmd(true, 100, ack, 1) &&
                 dev_cmd(true, 0xf3, ack, 1) && dev_cmd(true, 80, ack, 1);
    tap_ok(&g->tap, knock && dev_cmd(true, 0xf2, mid3, 2), "ps2: IntelliMouse id 3");
    tap_ok(&g->tap, dev_cmd(true, 0xf4, ack, 1), "ps2: mouse reporting");

    keys_round(g, "set 2", 0xf0, 0x5a);
    ctrl_cmd(0x60);
    data_write(0x40); /* translation on */
    keys_round(g, "set 1", 0, 0x9c);

    tap_diag(&g->tap, "ps2: mouse ready");
    int sx = 0, sy = 0, sz = 0, packets = 0, buttons = -1;
    for (;;) {
        int b[4];
        bool aux = false;
        b[0] = read_byte(60000, &aux);
        if (b[0] < 0)
            break;
        if (!aux || !(b[0] & 0x08))
            continue; /* not a packet start */
        for (int i = 1; i < 4; i++)
            b[i] = read_byte(500, 0);
        int dx = b[1] - ((b[0] & 0x10) ? 256 : 0), dy = b[2] - ((b[0] & 0x20) ? 256 : 0);
        int dz = (b[3] & 0x08) ? (b[3] & 0x0f) - 16 : (b[3] & 0x0f);
        sx += dx;
        sy += dy;
        sz += dz;
        packets++;
        if (b[0] & 1) {
            buttons = b[0] & 7;
            break;
        }
    }
    tap_diag(&g->tap, "ps2: mouse packets=%d dx=%d dy=%d dz=%d buttons=%d", packets, sx, sy, sz,
             buttons);
    tap_ok(&g->tap, buttons == 1, "ps2: mouse packets until the left button");
}
