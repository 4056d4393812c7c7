/*
 * virtio-console-ctrl.c - the virtio-console multiport control protocol as a
 * pure state machine (see virtio-console.h): no transport, no threads, so
 * that the unit test and the fuzz target drive exactly the code the device
 * runs on every message a driver puts on its control queue.
 */
#include "vmm/dev/virtio-console.h"

#include <string.h>

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool vcon_ctrl_decode(const uint8_t *buf, size_t len, struct vcon_msg *m)
{
    if (len < VCON_CTRL_LEN)
        return false;
    m->id = get_le32(buf);
    m->event = (uint16_t)(buf[4] | buf[5] << 8);
    m->value = (uint16_t)(buf[6] | buf[7] << 8);
    return true;
}

void vcon_ctrl_encode(const struct vcon_msg *m, uint8_t out[VCON_CTRL_LEN])
{
    for (unsigned i = 0; i < 4; i++)
        out[i] = (uint8_t)(m->id >> (8 * i));
    out[4] = (uint8_t)m->event;
    out[5] = (uint8_t)(m->event >> 8);
    out[6] = (uint8_t)m->value;
    out[7] = (uint8_t)(m->value >> 8);
}

static void emit(struct vcon_effect *fx, uint32_t id, uint16_t event, uint16_t value)
{
    if (fx->nr_out < sizeof(fx->out) / sizeof(fx->out[0]))
        fx->out[fx->nr_out++] = (struct vcon_msg){id, event, value};
}

void vcon_ctrl_handle(struct vcon_state *st, const uint8_t *buf, size_t len, struct vcon_effect *fx)
{
    memset(fx, 0, sizeof(*fx));
    fx->opened_port = -1;
    struct vcon_msg m;
    if (!vcon_ctrl_decode(buf, len, &m)) {
        fx->bad = "control message shorter than 8 bytes";
        return;
    }
    switch (m.event) {
    case VIRTIO_CONSOLE_DEVICE_READY:
        if (m.value != 1) {
            fx->bad = "the driver failed to initialise (DEVICE_READY 0)";
            return;
        }
        if (st->driver_ready)
            return; /* said twice: the ports were announced already */
        st->driver_ready = true;
        for (unsigned i = 0; i < st->max_ports && i < VCON_MAX_PORTS; i++)
            if (st->port[i].exists)
                emit(fx, i, VIRTIO_CONSOLE_DEVICE_ADD, 1);
        return;
    case VIRTIO_CONSOLE_PORT_READY:
    case VIRTIO_CONSOLE_PORT_OPEN: {
        if (m.id >= st->max_ports || m.id >= VCON_MAX_PORTS || !st->port[m.id].exists) {
            fx->bad = "control message for a port that does not exist";
            return;
        }
        struct vcon_port_state *p = &st->port[m.id];
        if (m.event == VIRTIO_CONSOLE_PORT_OPEN) {
            if (!p->ready) {
                fx->bad = "PORT_OPEN for a port the driver has not made ready";
                return;
            }
            bool open = m.value != 0;
            if (open != p->guest_open) {
                p->guest_open = open;
                fx->opened_port = (int)m.id;
            }
            return;
        }
        if (!st->driver_ready) {
            fx->bad = "PORT_READY before DEVICE_READY (the port was never announced)";
            return;
        }
        if (m.value != 1) {
            fx->bad = "the driver failed to add a port (PORT_READY 0)";
            return;
        }
        if (p->ready)
            return;
        p->ready = true;
        if (p->console)
            emit(fx, m.id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
        if (p->named)
            emit(fx, m.id, VIRTIO_CONSOLE_PORT_NAME, 1);
        if (p->host_open)
            emit(fx, m.id, VIRTIO_CONSOLE_PORT_OPEN, 1);
        return;
    }
    default:
        fx->bad = "control message the driver does not send";
        return;
    }
}
