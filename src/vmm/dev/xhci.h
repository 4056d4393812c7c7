/*
 * xhci.h - the xHCI controller (xhci.c) apart from its device type: what the
 * fuzz target needs to drive it over a fake guest memory, on no PCI bus.
 * The VM uses it only through -device qemu-xhci and usb.h.
 */
#ifndef VIREO_VMM_DEV_XHCI_H
#define VIREO_VMM_DEV_XHCI_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct xhci;
struct usb_device;

/* A controller over vm->mem (p2 USB 2 and p3 USB 3 ports, at most 15 each), reset. */
struct xhci *xhci_new(struct vm *vm, bool nec, unsigned p2, unsigned p3);
void xhci_free(struct xhci *x);
/* A BAR 0 access (offset within the 16 KiB BAR), as a vCPU makes it. */
void xhci_mmio(struct xhci *x, uint64_t off, uint8_t *data, unsigned size, bool write);
/* Plugs ud into USB port `port` (1..p2; 0: the first free); bus names the bus in errors. */
int xhci_attach(struct xhci *x, struct usb_device *ud, unsigned port, const char *bus,
                struct verr *err);

#endif
