/*
 * port92.c - "System Control Port A" at 0x92 (QEMU's port92, a built-in of
 * pc and q35): bit 1 is the fast A20 gate, which firmware toggles and reads
 * back (KVM has no A20 masking, as under QEMU with KVM, so the bit is only
 * remembered), and writing bit 0 resets the machine.
 */
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct port92 {
    struct vm *vm;
    uint8_t value;
};

static void p92_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct port92 *p = opaque;
    (void)offset;
    memset(data, 0xff, size);
    data[0] = __atomic_load_n(&p->value, __ATOMIC_RELAXED);
}

static void p92_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct port92 *p = opaque;
    (void)offset;
    (void)size;
    __atomic_store_n(&p->value, (uint8_t)(data[0] & ~1u), __ATOMIC_RELAXED);
    if (data[0] & 1)
        vm_request(p->vm, VM_REQUEST_RESET, 0);
}

static const struct bus_ops p92_ops = {p92_read, p92_write};

static int port92_create(struct device *dev, struct verr *err)
{
    struct port92 *p = xcalloc(1, sizeof(*p));
    p->vm = dev->vm;
    int r = bus_register(&dev->vm->pio, 0x92, 1, &p92_ops, p, "port92", err);
    if (r < 0) {
        free(p);
        return r;
    }
    dev->priv = p;
    return 0;
}

static void port92_reset(struct device *dev)
{
    struct port92 *p = dev->priv;
    __atomic_store_n(&p->value, 0, __ATOMIC_RELAXED);
}

static void port92_free(struct device *dev)
{
    free(dev->priv);
}

/* State: "port92" (the A20 bit as written). */
static int port92_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct port92 *p = dev->priv;
    uint8_t v = __atomic_load_n(&p->value, __ATOMIC_RELAXED);
    return w->put(w, "port92", &v, 1, err);
}

static int port92_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct port92 *p = dev->priv;
    uint8_t v;
    int rc = r->get(r, "port92", &v, 1, err);
    if (rc == 0 && (v & 1))
        rc = verr_set(err, EINVAL, "field 'port92' is 0x%x (bit 0 is never kept)", v);
    if (rc == 0)
        __atomic_store_n(&p->value, v, __ATOMIC_RELAXED);
    return rc;
}

static const struct dev_type port92_type = {
    .name = "port92",
    .desc = "system control port A at 0x92 (A20 gate, fast reset)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_ISA,
    .singleton = true,
    .create = port92_create,
    .reset = port92_reset,
    .free = port92_free,
    .state_version = 1,
    .save = port92_save,
    .load = port92_load,
};

const struct dev_type *const dev_types_port92[] = {&port92_type, NULL};
