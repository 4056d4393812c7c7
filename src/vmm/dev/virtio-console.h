/*
 * virtio-console.h - the virtio console device (virtio 1.2 §5.3) as QEMU's
 * virtio-serial-pci presents it: up to 31 ports, each a virtconsole or a
 * virtserialport bound to a chardev, with the multiport control queues
 * (offered when max_ports > 1, as QEMU does), VIRTIO_CONSOLE_F_SIZE and
 * F_EMERG_WRITE.
 *
 * -device virtio-serial-pci[,max_ports=N] with -device virtconsole and
 * virtserialport (chardev=, name=, nr=, bus=ID.0) on its bus: three types,
 * in virtio-console.c; the VM's QMP VSERPORT_CHANGE events come from there.
 *
 * The control protocol is a small state machine kept apart from the
 * transport (vcon_ctrl_handle) so that it can be unit-tested and fuzzed with
 * arbitrary driver messages: it reads one driver->device message and says
 * which device->driver messages to send and which port changed.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_CONSOLE_H
#define VIREO_VMM_DEV_VIRTIO_CONSOLE_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_CONSOLE 3

#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Control events (§5.3.6.2). */
#define VIRTIO_CONSOLE_DEVICE_READY  0
#define VIRTIO_CONSOLE_DEVICE_ADD    1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY    3
#define VIRTIO_CONSOLE_CONSOLE_PORT  4
#define VIRTIO_CONSOLE_RESIZE        5
#define VIRTIO_CONSOLE_PORT_OPEN     6
#define VIRTIO_CONSOLE_PORT_NAME     7

#define VCON_MAX_PORTS 31
#define VCON_CTRL_LEN  8 /* le32 id, le16 event, le16 value */

struct vcon_msg {
    uint32_t id;
    uint16_t event, value;
};

struct vcon_port_state {
    bool exists;     /* a virtconsole/virtserialport has this number */
    bool console;    /* virtconsole */
    bool named;      /* has a name (PORT_NAME is sent) */
    bool host_open;  /* the chardev side is there (always for a console) */
    bool ready;      /* the driver sent PORT_READY 1 */
    bool guest_open; /* the driver sent PORT_OPEN 1 */
};

struct vcon_state {
    unsigned max_ports;
    bool driver_ready; /* DEVICE_READY 1 seen */
    struct vcon_port_state port[VCON_MAX_PORTS];
};

/* What one driver message did. */
struct vcon_effect {
    unsigned nr_out;
    struct vcon_msg out[2 * VCON_MAX_PORTS]; /* device->driver messages, in order */
    int opened_port;                         /* PORT_OPEN changed guest_open of this port, or -1 */
    const char *bad;                         /* a refused message: why (for a log line) */
};

/* Decodes a control header from len bytes (false when shorter than VCON_CTRL_LEN). */
bool vcon_ctrl_decode(const uint8_t *buf, size_t len, struct vcon_msg *m);
/* Encodes a control header into 8 bytes. */
void vcon_ctrl_encode(const struct vcon_msg *m, uint8_t out[VCON_CTRL_LEN]);
/* Handles one driver->device message (the bytes of one c_ovq buffer). */
void vcon_ctrl_handle(struct vcon_state *st, const uint8_t *buf, size_t len,
                      struct vcon_effect *fx);

#endif
