/*
 * fuzz-xhci.c - drives the xHCI controller (vmm/dev/xhci.c) with arbitrary
 * register writes over arbitrary guest memory: the TRBs, rings, device
 * contexts and event ring segment tables the controller reads are the
 * guest's, so every one of them is the fuzzer's here.
 *
 * Input: p2, p3 (port counts), then N as two bytes, then N operations of 7
 * bytes (offset in the BAR, 16 bits; value, 32 bits; flags: bit 0 a 64-bit
 * write of value:value, bit 1 a read, bit 2 the device wakes its endpoint
 * 1 after the access), then the first 64 KiB of guest RAM. A small USB
 * device on USB port 1 answers control transfers with bytes of the input and
 * IN transfers with data or a NAK, so transfers run their whole path.
 */
#include "vmm/dev/usb.h"
#include "vmm/dev/xhci.h"
#include "vmm/kvm/memory.h"
#include "vmm/vm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dev {
    struct usb_device ud;
    unsigned calls;
};

static int fd_control(struct usb_device *ud, const struct usb_setup *s, uint8_t *data)
{
    struct fuzz_dev *f = (struct fuzz_dev *)ud;
    f->calls++;
    if (s->request == USB_REQ_SET_ADDRESS)
        return 0; /* no data stage: data may be NULL */
    if (f->calls % 7 == 0)
        return USB_RET_STALL;
    unsigned n = s->length > 18 ? 18u : s->length;
    if (s->type & USB_DIR_IN)
        for (unsigned i = 0; i < n; i++)
            data[i] = (uint8_t)(i * 37 + f->calls);
    return (int)n;
}

static int fd_data_in(struct usb_device *ud, unsigned ep, uint8_t *data, unsigned len)
{
    struct fuzz_dev *f = (struct fuzz_dev *)ud;
    (void)ep;
    if (++f->calls % 3 == 0)
        return USB_RET_NAK;
    unsigned n = len < 6 ? len : 6;
    memset(data, 0x5a, n);
    return (int)n;
}

static void fd_reset(struct usb_device *ud)
{
    (void)ud;
}

static const struct usb_device_ops fd_ops = {fd_control, fd_data_in, fd_reset};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned p2 = data[0] % 16, p3 = data[1] % 16;
    size_t n = (size_t)(data[2] | data[3] << 8);
    const uint8_t *ops = data + 4;
    if (n > (size - 4) / 7)
        n = (size - 4) / 7;
    const uint8_t *mem = ops + 7 * n;
    size_t memlen = size - 4 - 7 * n;

    struct vm *vm = calloc(1, sizeof(*vm));
    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, mem, memlen < RAM ? memlen : RAM);
    guest_mem_layout(&vm->mem, ram, RAM);
    struct xhci *x = xhci_new(vm, data[0] & 0x80, p2 ? p2 : 1, p3);
    struct fuzz_dev dev = {.ud = {.ops = &fd_ops, .speed = USB_SPEED_HIGH, .name = "fuzz"}};
    struct verr err = {0};
    bool attached = xhci_attach(x, &dev.ud, 1, "usb", &err) == 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *o = ops + 7 * i;
        uint64_t off = (uint64_t)(o[0] | o[1] << 8) % 0x4000;
        uint8_t v[8];
        memcpy(v, o + 2, 4);
        memcpy(v + 4, o + 2, 4);
        if (o[6] & 2)
            xhci_mmio(x, off, v, (o[6] & 1) ? 8 : 4, false);
        else
            xhci_mmio(x, off & ~3ull, v, (o[6] & 1) ? 8 : 4, true);
        if ((o[6] & 4) && attached) {
            pthread_mutex_lock(dev.ud.lock);
            usb_device_wakeup(&dev.ud, 1);
            pthread_mutex_unlock(dev.ud.lock);
        }
    }
    if (attached)
        usb_bus_detach(&dev.ud);
    xhci_free(x);
    free(ram);
    free(vm);
    return 0;
}
