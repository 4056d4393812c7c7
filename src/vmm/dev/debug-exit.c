/*
 * debug-exit.c - QEMU's isa-debug-exit device and the port 0x80 sink.
 * A write of V to the debug-exit port ends vireo-vmm with exit status
 * (V << 1) | 1, so a test guest can report pass or fail through the
 * process status; any access size up to iosize is accepted.
 */
#include "util/mem.h"
#include "vmm/dev/platform.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

struct debug_exit {
    struct vm *vm;
};

static void de_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    memset(data, 0xff, size);
}

static void de_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct debug_exit *d = opaque;
    (void)offset;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    vm_request(d->vm, VM_REQUEST_EXIT, (int)((v << 1) | 1));
}

static const struct bus_ops de_ops = {de_read, de_write};

int debug_exit_create(struct vm *vm, uint16_t iobase, uint16_t iosize, struct debug_exit **out,
                      struct verr *err)
{
    struct debug_exit *d = xcalloc(1, sizeof(*d));
    d->vm = vm;
    int r = bus_register(&vm->pio, iobase, iosize, &de_ops, d, "isa-debug-exit", err);
    if (r < 0) {
        free(d);
        return r;
    }
    *out = d;
    return 0;
}

void debug_exit_free(struct debug_exit *d)
{
    free(d);
}

static void p80_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    memset(data, 0xff, size);
}

static void p80_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)data;
    (void)size;
}

static const struct bus_ops p80_ops = {p80_read, p80_write};

int port80_create(struct vm *vm, struct verr *err)
{
    return bus_register(&vm->pio, 0x80, 1, &p80_ops, NULL, "post", err);
}
