/*
 * virtio-pci.h - the modern virtio PCI transport (virtio 1.2 §4.1) shared by
 * every virtio device of vireo-vmm.
 *
 * One 64-bit memory BAR (BAR 4, 32 KiB, as QEMU places it) holds the common
 * configuration (0x0000), the ISR (0x1000), the device configuration
 * (0x2000), the notification area (0x3000, 4 bytes per queue) and the MSI-X
 * table (0x4000) and PBA (0x5000); the VIRTIO_PCI_CAP_PCI_CFG capability
 * gives access to the same BAR through configuration space. Only
 * VIRTIO_F_VERSION_1 drivers are accepted there: FEATURES_OK is refused
 * without it. A device plugged behind a conventional PCI bridge is
 * transitional, as QEMU's disable-legacy=auto makes it: the transitional
 * device id (0x1000 + n), revision 0, and the legacy registers (virtio 1.2
 * §4.1.4.8: 32 feature bits, queue page frame with the legacy ring layout,
 * notify, status, ISR, the MSI-X vectors while MSI-X is on, then the device
 * configuration) in I/O BAR 0, for drivers without VERSION_1.
 *
 * Threads: registers are accessed on vCPU threads (under vp->lock); each
 * device has one I/O thread that waits on the queues' ioeventfds (KVM
 * signals them on a guest write to the notify area, so a notification does
 * not even leave the kernel) and calls the device's process_queue with that
 * queue's lock held. A queue the device finds broken marks the device
 * DEVICE_NEEDS_RESET and raises a configuration interrupt; the queue stays
 * stopped until the driver resets the device. A device given an I/O thread
 * object (iothread=, vmm/iothread.h) has its queues served there instead of
 * on a thread of its own. A device without process_queue (virtio-net) gets no
 * I/O thread: its own thread polls the ioeventfds.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_PCI_H
#define VIREO_VMM_DEV_VIRTIO_PCI_H

#include "util/error.h"
#include "vmm/dev/pci.h"
#include "vmm/dev/virtqueue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTIO_MSI_NO_VECTOR   0xffff
#define VIRTIO_PCI_MAX_QUEUES  64 /* virtio-serial: 31 ports + control, 2 queues each */
#define VIRTIO_PCI_MAX_VECTORS 17 /* MSI-X vectors: devices with more queues share them */

struct vm;
struct virtio_pci;
struct iothread;

struct virtio_dev_ops {
    /* Device configuration space (offset inside it). */
    void (*read_config)(void *opaque, uint64_t off, uint8_t *data, unsigned size);
    void (*write_config)(void *opaque, uint64_t off, const uint8_t *data, unsigned size);
    /* I/O thread, queue lock held: handle everything available on queue q. A device that
     * leaves it NULL gets no I/O thread: it polls each queue's ioeventfd (a notification,
     * and the transport's "look at the queue" signals) on a thread of its own, reads it, and
     * takes the queue lock itself. One thread less between the guest's kick and the device
     * (virtio-net: its network thread already waits on the backend). */
    void (*process_queue)(void *opaque, unsigned q);
    /* The driver reset the device (queues already stopped). */
    void (*reset)(void *opaque);
    /* I/O thread, no queue lock held: the timer virtio_pci_arm_timer set expired. */
    void (*timer)(void *opaque);
};

struct virtio_queue {
    pthread_mutex_t lock;
    struct virtqueue vq;
    uint16_t size_max;
    uint16_t msix_vector;
    bool enabled;
    int ioeventfd;         /* eventfd the guest's notification signals */
    bool ioeventfd_in_kvm; /* registered with KVM_IOEVENTFD */
    uint64_t ioeventfd_addr;
    /* Bumped (under lock) by every device reset: a device completing requests off the
     * I/O thread compares it with the value at pop time and drops stale completions. */
    uint32_t epoch;
    struct virtio_pci *owner; /* for an I/O thread's handler */
    unsigned index;
};

struct virtio_pci {
    struct pci_dev pci;
    struct vm *vm;
    const struct virtio_dev_ops *ops;
    void *opaque;
    unsigned device_id;
    uint64_t host_features;
    uint64_t guest_features;
    uint32_t device_feature_select, driver_feature_select;
    uint16_t config_vector;
    uint8_t status; /* atomic: the I/O thread sets NEEDS_RESET */
    uint8_t config_generation;
    uint16_t queue_select;
    uint8_t isr; /* atomic */
    unsigned config_len;
    unsigned msix_vectors; /* set before virtio_pci_init to size the MSI-X table; 0: default */
    bool legacy;           /* transitional: the legacy registers in I/O BAR 0 too */
    pthread_mutex_t lock;
    unsigned nr_queues;
    struct virtio_queue queues[VIRTIO_PCI_MAX_QUEUES];
    /* I/O thread: the device's own, or (iothread set before plugging: -device ...,iothread=)
     * a shared -object iothread the queues' ioeventfds are watched on. */
    pthread_t thread;
    bool thread_started;
    int stop_fd;
    struct iothread *iothread;
    int timer_fd; /* virtio_pci_arm_timer's, watched by the I/O thread */
};

/* Sets up the PCI function, capabilities and queues (not yet on the bus). */
int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const char *name, unsigned device_id,
                    uint32_t class_code, uint64_t features, unsigned nr_queues, uint16_t queue_size,
                    unsigned config_len, const struct virtio_dev_ops *ops, void *opaque,
                    struct verr *err);
/* Before plugging: the queues are served on I/O thread it (-device ...,iothread=), which
 * the transport holds a reference on until virtio_pci_destroy. */
void virtio_pci_set_iothread(struct virtio_pci *vp, struct iothread *it);
/* Plugs into the VM's PCI bus where place says and starts the I/O thread. */
int virtio_pci_plug(struct virtio_pci *vp, const struct pci_place *place, struct verr *err);
/* Stops the I/O thread (idempotent): no new requests start; completions from a device's
 * own threads can still interrupt the guest until virtio_pci_destroy. */
void virtio_pci_stop_io(struct virtio_pci *vp);
/* Starts the I/O thread again after virtio_pci_stop_io (a save that quiesced the device). */
int virtio_pci_start_io(struct virtio_pci *vp, struct verr *err);

struct dev_state_writer;
struct dev_state_reader;
/* The transport's state (features, status, config generation and vector, ISR, each queue's
 * addresses, size, enable, MSI-X vector and indices) plus the PCI function's, as records
 * "virtio.common", "virtio.queues" and pci_dev_save's. Save: the I/O thread is stopped and
 * the device has nothing in flight. Load: on a device just created, after guest RAM is
 * loaded (the rings are checked there); live queues are kicked once so what the driver
 * queued before the save is served. */
int virtio_pci_save(struct virtio_pci *vp, struct dev_state_writer *w, struct verr *err);
int virtio_pci_load(struct virtio_pci *vp, struct dev_state_reader *r, struct verr *err);

/* Stops the I/O thread and frees the transport's resources. */
void virtio_pci_destroy(struct virtio_pci *vp);
/* System reset: device reset plus PCI function reset. */
void virtio_pci_system_reset(struct virtio_pci *vp);

/* I/O thread: after pushing used entries on q, interrupts the driver if it wants one. */
void virtio_pci_queue_done(struct virtio_pci *vp, unsigned q);
/* I/O thread: the device found queue q broken (err says why): NEEDS_RESET + config irq. */
void virtio_pci_queue_broken(struct virtio_pci *vp, unsigned q, const struct verr *err);
/* Any thread: the device configuration changed (bumps the generation, config interrupt). */
void virtio_pci_config_changed(struct virtio_pci *vp);
/* I/O thread (or with it stopped): ops->timer runs on the I/O thread in ns nanoseconds
 * (replacing an earlier arming). */
void virtio_pci_arm_timer(struct virtio_pci *vp, uint64_t ns);
/* True when the driver negotiated feature bit. */
bool virtio_pci_has_feature(struct virtio_pci *vp, unsigned bit);

#endif
