/*
 * fuzz-vcon-ctrl.c - drives the virtio-console control protocol
 * (vmm/dev/virtio-console-ctrl.c) with arbitrary driver messages. The
 * input's first 8 bytes set up the device (which of the 31 ports exist, are
 * consoles, have names, have their host side open, and max_ports); the rest
 * is a sequence of messages, each a length byte (0 to 16) and that many
 * bytes, fed to vcon_ctrl_handle() one by one. After each, the effects are
 * checked: messages only for ports that exist, only device->driver events,
 * DEVICE_ADD only once per port, PORT_OPEN changes only on ready ports.
 */
#include "vmm/dev/virtio-console.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    struct vcon_state st;
    memset(&st, 0, sizeof(st));
    uint32_t exists = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                      (uint32_t)data[3] << 24;
    st.max_ports = 1 + data[7] % VCON_MAX_PORTS;
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        st.port[i].exists = i < st.max_ports && (exists >> i) & 1;
        st.port[i].console = (data[4] >> (i % 8)) & 1;
        st.port[i].named = (data[5] >> (i % 8)) & 1;
        st.port[i].host_open = (data[6] >> (i % 8)) & 1;
    }
    unsigned added[VCON_MAX_PORTS] = {0};
    size_t off = 8;
    while (off < size) {
        size_t len = data[off++] % 17;
        if (len > size - off)
            len = size - off;
        struct vcon_port_state before[VCON_MAX_PORTS];
        memcpy(before, st.port, sizeof(before));
        struct vcon_effect fx;
        vcon_ctrl_handle(&st, data + off, len, &fx);
        off += len;
        if (fx.nr_out > sizeof(fx.out) / sizeof(fx.out[0]))
            abort();
        for (unsigned i = 0; i < fx.nr_out; i++) {
            const struct vcon_msg *m = &fx.out[i];
            if (m->id >= st.max_ports || !st.port[m->id].exists)
                abort();
            if (m->event == VIRTIO_CONSOLE_DEVICE_ADD) {
                if (++added[m->id] > 1)
                    abort();
            } else if (m->event != VIRTIO_CONSOLE_CONSOLE_PORT &&
                       m->event != VIRTIO_CONSOLE_PORT_NAME &&
                       m->event != VIRTIO_CONSOLE_PORT_OPEN) {
                abort();
            }
        }
        if (fx.opened_port >= 0) {
            unsigned p = (unsigned)fx.opened_port;
            if (p >= st.max_ports || !st.port[p].ready ||
                st.port[p].guest_open == before[p].guest_open)
                abort();
        }
        for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
            if (!st.port[i].exists && (st.port[i].ready || st.port[i].guest_open))
                abort();
    }
    return 0;
}
