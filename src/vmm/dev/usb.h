/*
 * usb.h - what a USB host controller (xhci.c) and the USB devices plugged
 * into its ports (usb-hid.c) say to each other.
 *
 * A device answers transfers the controller has taken off the guest's rings:
 * control transfers on endpoint 0 (an 8-byte setup packet plus its data
 * stage) and data transfers on its other endpoints. A device with nothing to
 * send answers USB_RET_NAK; when it has something later (a key was pressed)
 * it calls usb_device_wakeup() and the controller retries the transfer the
 * guest left pending. Handshakes are return values, not callbacks, because
 * every device here answers at once (no asynchronous completion).
 *
 * Locking: every call into a device's ops is made with the controller's lock
 * held (ud->lock); a device's own input path (the display's key and pointer
 * events, on the loop thread) takes that same lock before touching the state
 * the ops read, and calls usb_device_wakeup() with it held. One lock per bus
 * keeps the order simple: controller registers, rings and device state
 * change together.
 */
#ifndef VIREO_VMM_DEV_USB_H
#define VIREO_VMM_DEV_USB_H

#include "util/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct device;

/* Handshakes a transfer can end with (non-negative: bytes transferred). */
#define USB_RET_STALL (-1)
#define USB_RET_NAK   (-2)

/* Speeds as the xHCI port speed IDs number them (PORTSC bits 10-13, the slot context). */
enum usb_speed {
    USB_SPEED_FULL = 1,
    USB_SPEED_LOW = 2,
    USB_SPEED_HIGH = 3,
    USB_SPEED_SUPER = 4,
};

/* The setup packet of a control transfer (USB 2.0, 9.3). */
struct usb_setup {
    uint8_t type; /* bmRequestType: bit 7 direction (1: device to host) */
    uint8_t request;
    uint16_t value, index, length;
};
#define USB_DIR_IN 0x80

/* Standard requests (USB 2.0, table 9-4). */
#define USB_REQ_GET_STATUS        0x00
#define USB_REQ_CLEAR_FEATURE     0x01
#define USB_REQ_SET_FEATURE       0x03
#define USB_REQ_SET_ADDRESS       0x05
#define USB_REQ_GET_DESCRIPTOR    0x06
#define USB_REQ_GET_CONFIGURATION 0x08
#define USB_REQ_SET_CONFIGURATION 0x09
#define USB_REQ_GET_INTERFACE     0x0a
#define USB_REQ_SET_INTERFACE     0x0b

struct usb_device;

struct usb_device_ops {
    /* A control transfer: data holds s->length bytes (OUT: what the host sent; IN: filled
     * by the device). Returns the bytes of the data stage transferred, or USB_RET_STALL. */
    int (*control)(struct usb_device *ud, const struct usb_setup *s, uint8_t *data);
    /* An IN transfer of up to len bytes on endpoint ep (1-15): bytes, USB_RET_NAK (nothing
     * yet: the controller waits for usb_device_wakeup) or USB_RET_STALL. */
    int (*data_in)(struct usb_device *ud, unsigned ep, uint8_t *data, unsigned len);
    /* A bus reset of the port: back to the default state (address 0, not configured). */
    void (*reset)(struct usb_device *ud);
};

struct usb_device {
    const struct usb_device_ops *ops;
    enum usb_speed speed;
    const char *name; /* QEMU's type name, for messages: "usb-tablet" */
    /* Set by usb_bus_attach: the controller's lock, and how to tell it an IN endpoint has
     * something to send. */
    pthread_mutex_t *lock;
    void (*wakeup)(void *hc, struct usb_device *ud, unsigned ep);
    void *hc;
};

/* Plugs ud into a free root port of the USB controller hc (a device whose type's child_bus
 * is DEV_BUS_USB): port 1-N (QEMU's port= property) or 0 for the first free one. Refuses a
 * port that does not exist or is taken, with QEMU's wording. */
int usb_bus_attach(struct device *hc, struct usb_device *ud, unsigned port, struct verr *err);
/* Unplugs ud (device free, before the controller goes). */
void usb_bus_detach(struct usb_device *ud);

/* The device has data for IN endpoint ep: retry what the guest queued there. Caller holds
 * ud->lock. */
static inline void usb_device_wakeup(struct usb_device *ud, unsigned ep)
{
    if (ud->wakeup)
        ud->wakeup(ud->hc, ud, ep);
}

#endif
