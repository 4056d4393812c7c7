/*
 * test-virtio-console.c - the pieces of virtio-console that need no guest:
 * the -chardev / virtio-serial command-line spellings (QEMU's port
 * numbering, bus=, nr=, -serial chardev:ID), the multiport control state
 * machine (message order after DEVICE_READY and PORT_READY, refused
 * messages), and the chardev's flow control on a real unix socket with the
 * event loop: input held back while the receiver has no room, input sent
 * just before a hang-up still delivered, a full socket reported as -EAGAIN
 * and the writer called back once the peer reads.
 */
#include "../tap.h"
#include "devcfg-test.h"
#include "util/loop.h"
#include "vmm/cli.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/virtio-console.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int parse(struct vmm_config *cfg, struct verr *err, ...)
{
    char *argv[40] = {"vireo-vmm", "-kernel", "k"};
    int argc = 3;
    va_list ap;
    va_start(ap, err);
    char *a;
    while ((a = va_arg(ap, char *)) && argc < 39)
        argv[argc++] = a;
    va_end(ap);
    memset(err, 0, sizeof(*err));
    return cli_parse(argc, argv, cfg, err);
}

static void test_cli(void)
{
    struct vmm_config cfg;
    struct verr err;
    int r = parse(&cfg, &err, "-chardev", "socket,id=c0,path=/tmp/a,server=on,wait=off", "-chardev",
                  "socket,id=c1,path=/tmp/b,server,nowait", "-chardev", "socket,id=c2,path=/tmp/c",
                  "-chardev", "pty,id=c3", "-chardev", "file,id=c4,path=/tmp/f", "-chardev",
                  "null,id=c5", "-chardev", "stdio,id=c6", "-device", "virtio-rng-pci", "-device",
                  "virtio-serial-pci,id=vs0", "-device", "virtio-serial-pci,id=vs1,max_ports=4",
                  "-device", "virtserialport,chardev=c1,name=org.a", "-device",
                  "virtconsole,chardev=c0", "-device", "virtconsole,chardev=c2", "-device",
                  "virtserialport,chardev=c3,bus=vs1.0,nr=3", "-device",
                  "virtconsole,chardev=c4,bus=vs1.0", "-serial", "chardev:c5", NULL);
    const struct vm_backends *be = &cfg.backends;
    ok(r == 0, "a full -chardev / virtio-serial command line parses (%s)", verr_msg(&err));
    if (r == 0) {
        ok(be->nr_chardevs == 7 && be->chardevs[0].kind == CHARDEV_UNIX && be->chardevs[0].server &&
               !be->chardevs[0].wait && be->chardevs[1].server && !be->chardevs[1].wait &&
               !be->chardevs[2].server && be->chardevs[3].kind == CHARDEV_PTY &&
               be->chardevs[4].kind == CHARDEV_FILE && !strcmp(be->chardevs[4].path, "/tmp/f") &&
               be->chardevs[5].kind == CHARDEV_NONE && be->chardevs[6].kind == CHARDEV_STDIO,
           "chardev kinds and socket flags (server=on,wait=off; server,nowait; client)");
        const struct dev_config *vs0 = find_dev(&cfg, "virtio-serial-pci", 0),
                                *vs1 = find_dev(&cfg, "virtio-serial-pci", 1);
        ok(dev_is(vs0, "max_ports", "31") && dev_is(vs1, "max_ports", "4"),
           "virtio-serial-pci: max_ports defaults to 31");
        /* User devices keep command-line order (PCI slots are given in that order). */
        static const char *const order[] = {
            "virtio-rng-pci", "virtio-serial-pci", "virtio-serial-pci", "virtserialport",
            "virtconsole",    "virtconsole",       "virtserialport",    "virtconsole"};
        unsigned k = 0;
        bool in_order = true;
        for (unsigned i = 0; i < cfg.nr_devices; i++)
            if (!cfg.devices[i]->builtin)
                in_order &= k < 8 && !strcmp(cfg.devices[i]->type->name, order[k++]);
        ok(in_order && k == 8 && dev_is(vs1, "id", "vs1"),
           "virtio-serial-pci devices keep their command-line place among the devices");
        const struct dev_config *p0 = find_dev(&cfg, "virtserialport", 0),
                                *p1 = find_dev(&cfg, "virtconsole", 0),
                                *p2 = find_dev(&cfg, "virtconsole", 1),
                                *p3 = find_dev(&cfg, "virtserialport", 1),
                                *p4 = find_dev(&cfg, "virtconsole", 2);
        ok(p0->parent == vs0 && dev_is(p0, "nr", "1") && dev_is(p1, "nr", "0") &&
               dev_is(p2, "nr", "2") && p3->parent == vs1 && dev_is(p3, "nr", "3") &&
               p4->parent == vs1 && dev_is(p4, "nr", "0"),
           "port numbers: first virtconsole 0, others from 1, nr= kept, bus= honoured");
        ok(dev_is(p0, "chardev", "c1") && dev_is(p1, "chardev", "c0") && be->chardev_used[1] &&
               be->chardev_used[0] && be->chardev_used[5] && !be->chardev_used[6] &&
               cfg.serial.kind == CHARDEV_REF &&
               dev_is(find_dev(&cfg, "isa-serial", 0), "chardev", "c5") && cfg.serial_chardev == 5,
           "chardev= resolved; -serial chardev:c5 takes c5 for COM1");
    }
    cli_config_free(&cfg);

    r = parse(&cfg, &err, "-chardev", "socket,id=c0,path=/x,server=on", NULL);
    ok(r == 0 && cfg.backends.chardevs[0].wait, "socket,server=on waits by default, as QEMU");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-serial-pci,max_ports=2", "-device", "virtconsole",
              "-device", "virtserialport", "-device", "virtserialport", NULL);
    ok(r < 0 && strstr(verr_msg(&err), "no free port"), "no free port refused (%s)",
       verr_msg(&err));
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-serial-pci", "-device", "virtserialport,name=x",
              "-device", "virtserialport,name=x", NULL);
    ok(r < 0 && strstr(verr_msg(&err), "already has that name"), "duplicate port name refused");
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-serial-pci", "-device", "virtconsole,bus=vs9.0", NULL);
    ok(r < 0 && strstr(verr_msg(&err), "virtconsole,bus=vs9.0: Bus 'vs9.0' not found"),
       "unknown bus= (%s)", verr_msg(&err));
    cli_config_free(&cfg);
    r = parse(&cfg, &err, "-device", "virtio-serial-pci", "-device", "virtconsole,nr=1", "-device",
              "virtserialport,nr=1", NULL);
    ok(r < 0 && strstr(verr_msg(&err), "port 1 is in use"), "two ports on nr=1 refused");
    cli_config_free(&cfg);
}

/* --- control protocol ------------------------------------------------------------------------ */

static void put(uint8_t *b, uint32_t id, uint16_t ev, uint16_t val)
{
    struct vcon_msg m = {id, ev, val};
    vcon_ctrl_encode(&m, b);
}

static bool msg_is(const struct vcon_effect *fx, unsigned i, uint32_t id, uint16_t ev, uint16_t val)
{
    return i < fx->nr_out && fx->out[i].id == id && fx->out[i].event == ev &&
           fx->out[i].value == val;
}

static void test_ctrl(void)
{
    struct vcon_state st;
    memset(&st, 0, sizeof(st));
    st.max_ports = 31;
    st.port[0] =
        (struct vcon_port_state){.exists = true, .console = true, .named = true, .host_open = true};
    st.port[2] = (struct vcon_port_state){.exists = true};
    struct vcon_effect fx;
    uint8_t b[8];

    put(b, 0, VIRTIO_CONSOLE_PORT_READY, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.nr_out == 0 && fx.bad && !st.port[0].ready, "PORT_READY before DEVICE_READY refused (%s)",
       fx.bad);

    put(b, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.nr_out == 2 && msg_is(&fx, 0, 0, VIRTIO_CONSOLE_DEVICE_ADD, 1) &&
           msg_is(&fx, 1, 2, VIRTIO_CONSOLE_DEVICE_ADD, 1),
       "DEVICE_READY: DEVICE_ADD for ports 0 and 2, in order");
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.nr_out == 0, "a second DEVICE_READY adds nothing");

    put(b, 0, VIRTIO_CONSOLE_PORT_READY, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.nr_out == 3 && msg_is(&fx, 0, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1) &&
           msg_is(&fx, 1, 0, VIRTIO_CONSOLE_PORT_NAME, 1) &&
           msg_is(&fx, 2, 0, VIRTIO_CONSOLE_PORT_OPEN, 1),
       "PORT_READY of the console: CONSOLE_PORT, PORT_NAME, PORT_OPEN (QEMU's order)");
    put(b, 2, VIRTIO_CONSOLE_PORT_READY, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.nr_out == 0 && st.port[2].ready,
       "PORT_READY of an unnamed serial port without a host: nothing to say");

    put(b, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.opened_port == 0 && st.port[0].guest_open, "PORT_OPEN 1 from the driver opens port 0");
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.opened_port == -1, "PORT_OPEN 1 again changes nothing");
    put(b, 0, VIRTIO_CONSOLE_PORT_OPEN, 0);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.opened_port == 0 && !st.port[0].guest_open, "PORT_OPEN 0 closes it");

    put(b, 1, VIRTIO_CONSOLE_PORT_READY, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.bad && !st.port[1].ready, "PORT_READY for a missing port refused (%s)", fx.bad);
    put(b, 31, VIRTIO_CONSOLE_PORT_OPEN, 1);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.bad != NULL, "a port number beyond max_ports refused");
    put(b, 0, VIRTIO_CONSOLE_RESIZE, 0);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.bad != NULL, "a device-only event from the driver refused");
    vcon_ctrl_handle(&st, b, 7, &fx);
    ok(fx.bad != NULL, "a 7-byte control message refused");
    put(b, 0, 0xffff, 0xffff);
    vcon_ctrl_handle(&st, b, 8, &fx);
    ok(fx.bad != NULL && fx.nr_out == 0, "an unknown event refused");
}

/* --- chardev flow control ----------------------------------------------------------------------
 */

struct rx_state {
    size_t room;
    char got[256];
    size_t len;
    int connects, disconnects;
    int writable;
};

static size_t rx_room(void *o)
{
    return ((struct rx_state *)o)->room;
}

static void rx_receive(void *o, const uint8_t *d, size_t n)
{
    struct rx_state *s = o;
    if (n > s->room)
        n = 0; /* more than room(): the test below fails */
    memcpy(s->got + s->len, d, n);
    s->len += n;
    s->room -= n;
}

static void rx_event(void *o, bool on)
{
    struct rx_state *s = o;
    if (on)
        s->connects++;
    else
        s->disconnects++;
}

static void on_writable(void *o)
{
    ((struct rx_state *)o)->writable++;
}

static void spin(struct loop *loop, int rounds)
{
    for (int i = 0; i < rounds; i++)
        loop_run_once(loop, 20);
}

static void test_chardev(void)
{
    struct loop *loop;
    struct verr err = {0};
    if (loop_new(&loop, &err) < 0) {
        ok(false, "loop: %s", verr_msg(&err));
        return;
    }
    char path[108];
    snprintf(path, sizeof(path), "/tmp/vireo-test-vcon-%d.sock", (int)getpid());
    struct chardev_spec spec = {.kind = CHARDEV_UNIX, .path = path, .server = true, .id = "t0"};
    struct chardev c;
    struct rx_state s = {0};
    int r = chardev_open(&c, &spec, "t0", loop, &err);
    ok(r == 0 && !chardev_connected(&c), "server chardev listens, not connected (%s)",
       verr_msg(&err));
    if (r < 0) {
        loop_free(loop);
        return;
    }
    struct chardev_receiver rx = {rx_room, rx_receive, &s, rx_event};
    chardev_set_receiver(&c, &rx);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    ok(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "client connects");
    spin(loop, 3);
    ok(s.connects == 1 && chardev_connected(&c), "connect event, connected");
    char *fn = chardev_filename(&c);
    char want[160];
    snprintf(want, sizeof(want), "unix:%s,server=on", path);
    is_str(fn, want, "filename as QEMU spells it");
    free(fn);

    ok(write(fd, "abcdef", 6) == 6, "client sends 6 bytes");
    spin(loop, 3);
    ok(s.len == 0, "no room: nothing delivered, nothing lost yet");
    s.room = 4;
    chardev_input_ready(&c);
    spin(loop, 3);
    ok(s.len == 4 && !memcmp(s.got, "abcd", 4), "room 4: the first 4 bytes delivered");
    s.room = 100;
    chardev_input_ready(&c);
    spin(loop, 3);
    ok(s.len == 6 && !memcmp(s.got, "abcdef", 6), "room again: the rest delivered");

    /* Output: fill the socket until it refuses, then let the peer drain it. */
    static uint8_t big[65536];
    ssize_t n;
    size_t total = 0;
    while ((n = chardev_write_nb(&c, big, sizeof(big))) > 0 && total < (64u << 20))
        total += (size_t)n;
    ok(n == -EAGAIN, "a full socket: chardev_write_nb says -EAGAIN after %zu bytes", total);
    chardev_notify_writable(&c, on_writable, &s);
    spin(loop, 3);
    ok(s.writable == 0, "not writable while the peer does not read");
    static uint8_t sink[1 << 16];
    size_t drained = 0;
    while (drained < total) {
        ssize_t m = read(fd, sink, sizeof(sink));
        if (m <= 0)
            break;
        drained += (size_t)m;
    }
    spin(loop, 3);
    ok(s.writable == 1, "the writer is called back once the peer read (%zu bytes)", drained);

    /* Input sent right before a hang-up, while the receiver is full, still arrives. */
    s.room = 0;
    ok(write(fd, "xyz", 3) == 3, "client sends 3 more bytes");
    close(fd);
    spin(loop, 3);
    ok(s.len == 6 && s.disconnects == 0, "receiver full: nothing read, not yet disconnected");
    s.room = 100;
    chardev_input_ready(&c);
    spin(loop, 4);
    ok(s.len == 9 && !memcmp(s.got + 6, "xyz", 3) && s.disconnects == 1 && !chardev_connected(&c),
       "room again: the 3 bytes arrive, then the disconnect");
    ok(chardev_write_nb(&c, big, 10) == 10, "output with nobody connected is dropped, not blocked");
    chardev_close(&c);
    loop_free(loop);
}

int main(void)
{
    test_cli();
    test_ctrl();
    test_chardev();
    return tap_done();
}
