/*
 * virtio-pci.c - the modern virtio PCI transport (see virtio-pci.h): the
 * BAR's register areas, feature negotiation, device status and reset,
 * queue setup, ioeventfd notifications, the per-device I/O thread, and
 * interrupts (MSI-X vector, or ISR + INTx when MSI-X is off); plus the
 * legacy registers of a transitional device (I/O BAR 0).
 */
#include "vmm/dev/virtio-pci.h"
#include "vmm/iothread.h"
#include "util/log.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define BAR_INDEX   4
#define BAR_SIZE    0x8000
#define OFF_COMMON  0x0000
#define OFF_ISR     0x1000
#define OFF_DEVICE  0x2000
#define OFF_NOTIFY  0x3000
#define OFF_MSIX    0x4000
#define OFF_PBA     0x5000
#define COMMON_LEN  0x40
#define NOTIFY_MULT 4

#define CAP_COMMON  1
#define CAP_NOTIFY  2
#define CAP_ISR     3
#define CAP_DEVICE  4
#define CAP_PCI_CFG 5

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t status_get(struct virtio_pci *vp)
{
    return __atomic_load_n(&vp->status, __ATOMIC_ACQUIRE);
}

bool virtio_pci_has_feature(struct virtio_pci *vp, unsigned bit)
{
    return (vp->guest_features >> bit) & 1;
}

/* --- interrupts ------------------------------------------------------------------------ */

static void raise_irq(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
    __atomic_fetch_or(&vp->isr, isr_bit, __ATOMIC_ACQ_REL);
    if (pci_msix_enabled(&vp->pci)) {
        if (vector != VIRTIO_MSI_NO_VECTOR)
            pci_msix_notify(&vp->pci, vector);
    } else {
        pci_intx_set(&vp->pci, true);
    }
}

void virtio_pci_queue_done(struct virtio_pci *vp, unsigned q)
{
    struct virtio_queue *vq = &vp->queues[q];
    if (vq_should_notify(&vq->vq))
        raise_irq(vp, __atomic_load_n(&vq->msix_vector, __ATOMIC_RELAXED), 1);
}

void virtio_pci_queue_broken(struct virtio_pci *vp, unsigned q, const struct verr *err)
{
    log_warn("%s: queue %u broken, device needs reset: %s", vp->pci.name, q, verr_msg(err));
    vp->queues[q].vq.broken = true;
    __atomic_fetch_or(&vp->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);
    raise_irq(vp, __atomic_load_n(&vp->config_vector, __ATOMIC_RELAXED), 2);
}

/* Device configuration changed (any thread): new generation, configuration interrupt once the
 * driver is running. */
void virtio_pci_config_changed(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->lock);
    vp->config_generation++;
    bool live = __atomic_load_n(&vp->status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_DRIVER_OK;
    pthread_mutex_unlock(&vp->lock);
    if (live)
        raise_irq(vp, __atomic_load_n(&vp->config_vector, __ATOMIC_RELAXED), 2);
}

/* --- ioeventfd ----------------------------------------------------------------------------- */

static void ioeventfd_unregister(struct virtio_pci *vp, struct virtio_queue *q)
{
    if (!q->ioeventfd_in_kvm)
        return;
    struct kvm_ioeventfd io = {
        .addr = q->ioeventfd_addr,
        .len = 2,
        .fd = q->ioeventfd,
        .flags = KVM_IOEVENTFD_FLAG_DEASSIGN,
    };
    if (ioctl(vp->vm->kvm.vm_fd, KVM_IOEVENTFD, &io) < 0)
        log_warn("%s: KVM_IOEVENTFD deassign: %s", vp->pci.name, strerror(errno));
    q->ioeventfd_in_kvm = false;
}

/* At DRIVER_OK: the notify addresses are final (drivers do not move a live device's BAR). */
static void ioeventfd_register(struct virtio_pci *vp, unsigned qi)
{
    struct virtio_queue *q = &vp->queues[qi];
    struct pci_bar *bar = &vp->pci.bars[BAR_INDEX];
    if (q->ioeventfd_in_kvm || !bar->mapped)
        return;
    q->ioeventfd_addr = bar->mapped_addr + OFF_NOTIFY + NOTIFY_MULT * qi;
    struct kvm_ioeventfd io = {.addr = q->ioeventfd_addr, .len = 2, .fd = q->ioeventfd};
    if (ioctl(vp->vm->kvm.vm_fd, KVM_IOEVENTFD, &io) < 0) {
        /* Still works: the MMIO exit path signals the same eventfd. */
        log_debug("%s: KVM_IOEVENTFD at 0x%llx: %s", vp->pci.name,
                  (unsigned long long)q->ioeventfd_addr, strerror(errno));
        return;
    }
    q->ioeventfd_in_kvm = true;
}

/* --- reset ------------------------------------------------------------------------------ */

/* vp->lock held. Stops every queue (waiting for the I/O thread to leave it) and clears state. */
static void device_reset(struct virtio_pci *vp)
{
    for (unsigned i = 0; i < vp->nr_queues; i++) {
        struct virtio_queue *q = &vp->queues[i];
        pthread_mutex_lock(&q->lock);
        ioeventfd_unregister(vp, q);
        memset(&q->vq, 0, sizeof(q->vq));
        q->epoch++;
        q->vq.mem = &vp->vm->mem;
        q->vq.size = q->size_max;
        q->msix_vector = VIRTIO_MSI_NO_VECTOR;
        q->enabled = false;
        pthread_mutex_unlock(&q->lock);
    }
    vp->guest_features = 0;
    vp->device_feature_select = vp->driver_feature_select = 0;
    vp->config_vector = VIRTIO_MSI_NO_VECTOR;
    vp->queue_select = 0;
    __atomic_store_n(&vp->status, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&vp->isr, 0, __ATOMIC_RELEASE);
    pci_intx_set(&vp->pci, false);
    if (vp->ops->reset)
        vp->ops->reset(vp->opaque);
}

void virtio_pci_system_reset(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->lock);
    device_reset(vp);
    pthread_mutex_unlock(&vp->lock);
    pci_dev_reset(&vp->pci);
}

/* --- common configuration ------------------------------------------------------------------ */

static void common_image(struct virtio_pci *vp, uint8_t *r)
{
    memset(r, 0, COMMON_LEN);
    put_le(r + 0, vp->device_feature_select, 4);
    if (vp->device_feature_select < 2)
        put_le(r + 4, (uint32_t)(vp->host_features >> (32 * vp->device_feature_select)), 4);
    put_le(r + 8, vp->driver_feature_select, 4);
    if (vp->driver_feature_select < 2)
        put_le(r + 12, (uint32_t)(vp->guest_features >> (32 * vp->driver_feature_select)), 4);
    put_le(r + 16, vp->config_vector, 2);
    put_le(r + 18, vp->nr_queues, 2);
    r[20] = status_get(vp);
    r[21] = vp->config_generation;
    put_le(r + 22, vp->queue_select, 2);
    if (vp->queue_select < vp->nr_queues) {
        struct virtio_queue *q = &vp->queues[vp->queue_select];
        put_le(r + 24, q->vq.size, 2);
        put_le(r + 26, q->msix_vector, 2);
        put_le(r + 28, q->enabled, 2);
        put_le(r + 30, vp->queue_select, 2); /* queue_notify_off */
        put_le(r + 32, q->vq.desc_gpa, 8);
        put_le(r + 40, q->vq.avail_gpa, 8);
        put_le(r + 48, q->vq.used_gpa, 8);
        put_le(r + 56, vp->queue_select, 2); /* queue_notify_data */
    }
}

static void set_status(struct virtio_pci *vp, uint8_t v)
{
    uint8_t old = status_get(vp);
    if (v == 0) {
        device_reset(vp);
        return;
    }
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        bool ok = (vp->guest_features & ~vp->host_features) == 0 &&
                  virtio_pci_has_feature(vp, VIRTIO_F_VERSION_1);
        if (!ok) {
            log_debug("%s: refusing features 0x%llx (offered 0x%llx)", vp->pci.name,
                      (unsigned long long)vp->guest_features,
                      (unsigned long long)vp->host_features);
            v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    /* NEEDS_RESET is the device's bit: keep it, never let the driver set it. */
    v = (uint8_t)((v & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
    __atomic_store_n(&vp->status, v, __ATOMIC_RELEASE);
    if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        for (unsigned i = 0; i < vp->nr_queues; i++) {
            if (vp->queues[i].enabled) {
                ioeventfd_register(vp, i);
                uint64_t one = 1; /* look at the queue once: the driver may have queued already */
                if (write(vp->queues[i].ioeventfd, &one, sizeof(one)) < 0)
                    log_debug("%s: eventfd write: %s", vp->pci.name, strerror(errno));
            }
        }
    }
}

static void queue_enable(struct virtio_pci *vp, struct virtio_queue *q, unsigned qi)
{
    pthread_mutex_lock(&q->lock);
    q->vq.mem = &vp->vm->mem;
    q->vq.indirect = virtio_pci_has_feature(vp, VIRTIO_F_RING_INDIRECT_DESC);
    q->vq.event_idx = virtio_pci_has_feature(vp, VIRTIO_F_RING_EVENT_IDX);
    struct verr err = {0};
    int r = vq_start(&q->vq, &err);
    q->enabled = true;
    pthread_mutex_unlock(&q->lock);
    if (r < 0)
        virtio_pci_queue_broken(vp, qi, &err);
}

static void common_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, unsigned size)
{
    uint64_t v = get_le(data, size);
    struct virtio_queue *q =
        vp->queue_select < vp->nr_queues ? &vp->queues[vp->queue_select] : NULL;
    bool q_live = q && q->enabled;
    switch (off) {
    case 0:
        vp->device_feature_select = (uint32_t)v;
        break;
    case 8:
        vp->driver_feature_select = (uint32_t)v;
        break;
    case 12:
        if (vp->driver_feature_select < 2 && !(status_get(vp) & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned sh = 32 * vp->driver_feature_select;
            vp->guest_features = (vp->guest_features & ~(0xffffffffull << sh)) | (v << sh);
        }
        break;
    case 16:
        vp->config_vector = (uint16_t)v;
        break;
    case 20:
        set_status(vp, (uint8_t)v);
        break;
    case 22:
        vp->queue_select = (uint16_t)v;
        break;
    case 24:
        if (q && !q_live && v && v <= q->size_max && !(v & (v - 1)))
            q->vq.size = (uint16_t)v;
        break;
    case 26:
        if (q)
            __atomic_store_n(&q->msix_vector,
                             v < vp->pci.msix_nr ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR,
                             __ATOMIC_RELAXED);
        break;
    case 28:
        if (q && !q_live && v == 1)
            queue_enable(vp, q, vp->queue_select);
        break;
    case 32:
    case 36:
    case 40:
    case 44:
    case 48:
    case 52: {
        if (!q || q_live)
            break;
        uint64_t *field = off < 40   ? &q->vq.desc_gpa
                          : off < 48 ? &q->vq.avail_gpa
                                     : &q->vq.used_gpa;
        unsigned part = (unsigned)(off % 8) / 4;
        if (size == 8)
            *field = v;
        else if (part == 0)
            *field = (*field & ~0xffffffffull) | (uint32_t)v;
        else
            *field = (*field & 0xffffffffull) | (v << 32);
        break;
    }
    default:
        break;
    }
    /* Reads of the queue_msix_vector return NO_VECTOR if it could not be assigned. */
}

/* --- the BAR ------------------------------------------------------------------------------ */

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    memset(data, 0, size);
    if (off >= OFF_MSIX && off < OFF_PBA) {
        pci_msix_table_read(&vp->pci, off - OFF_MSIX, data, size);
        return;
    }
    if (off >= OFF_PBA && off < OFF_PBA + 8) {
        pci_msix_pba_read(&vp->pci, off - OFF_PBA, data, size);
        return;
    }
    pthread_mutex_lock(&vp->lock);
    if (off + size <= OFF_COMMON + COMMON_LEN) {
        uint8_t img[COMMON_LEN];
        common_image(vp, img);
        memcpy(data, img + off, size);
    } else if (off == OFF_ISR) {
        data[0] = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_ACQ_REL);
        pci_intx_set(&vp->pci, false);
    } else if (off >= OFF_DEVICE && off + size <= OFF_DEVICE + vp->config_len) {
        if (vp->ops->read_config)
            vp->ops->read_config(vp->opaque, off - OFF_DEVICE, data, size);
    }
    pthread_mutex_unlock(&vp->lock);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    if (off >= OFF_MSIX && off < OFF_PBA) {
        pci_msix_table_write(&vp->pci, off - OFF_MSIX, data, size);
        return;
    }
    if (off >= OFF_NOTIFY && off < OFF_NOTIFY + NOTIFY_MULT * vp->nr_queues) {
        /* Only reached when the ioeventfd is not (yet) in KVM. */
        unsigned qi = (unsigned)(off - OFF_NOTIFY) / NOTIFY_MULT;
        uint64_t one = 1;
        if (write(vp->queues[qi].ioeventfd, &one, sizeof(one)) < 0)
            log_debug("%s: eventfd write: %s", vp->pci.name, strerror(errno));
        return;
    }
    pthread_mutex_lock(&vp->lock);
    if (off + size <= OFF_COMMON + COMMON_LEN && off % size == 0)
        common_write(vp, off - OFF_COMMON, data, size);
    else if (off >= OFF_DEVICE && off + size <= OFF_DEVICE + vp->config_len &&
             vp->ops->write_config)
        vp->ops->write_config(vp->opaque, off - OFF_DEVICE, data, size);
    pthread_mutex_unlock(&vp->lock);
}

static const struct bus_ops bar_ops = {bar_read, bar_write};

/* --- the legacy interface (transitional devices) ------------------------------------------- */

/* Virtio 1.2 §4.1.4.8: the registers at the start of I/O BAR 0; the two MSI-X vector registers
 * are there only while MSI-X is enabled, and the device configuration follows them. */
#define LEG_HOST_FEATURES  0
#define LEG_GUEST_FEATURES 4
#define LEG_QUEUE_PFN      8
#define LEG_QUEUE_SIZE     12
#define LEG_QUEUE_SEL      14
#define LEG_QUEUE_NOTIFY   16
#define LEG_STATUS         18
#define LEG_ISR            19
#define LEG_CONFIG_VECTOR  20
#define LEG_QUEUE_VECTOR   22
#define LEG_ALIGN          4096 /* the legacy ring layout's used ring alignment */

static unsigned legacy_config_off(struct virtio_pci *vp)
{
    return pci_msix_enabled(&vp->pci) ? 24 : 20;
}

/* vp->lock held. */
static void legacy_image(struct virtio_pci *vp, uint8_t *r)
{
    memset(r, 0, 24);
    struct virtio_queue *q =
        vp->queue_select < vp->nr_queues ? &vp->queues[vp->queue_select] : NULL;
    put_le(r + LEG_HOST_FEATURES, (uint32_t)vp->host_features, 4);
    put_le(r + LEG_GUEST_FEATURES, (uint32_t)vp->guest_features, 4);
    if (q) {
        put_le(r + LEG_QUEUE_PFN, q->enabled ? q->vq.desc_gpa / LEG_ALIGN : 0, 4);
        put_le(r + LEG_QUEUE_SIZE, q->vq.size, 2);
        put_le(r + LEG_QUEUE_VECTOR, q->msix_vector, 2);
    }
    put_le(r + LEG_QUEUE_SEL, vp->queue_select, 2);
    r[LEG_STATUS] = status_get(vp);
    put_le(r + LEG_CONFIG_VECTOR, vp->config_vector, 2);
}

static void legacy_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    memset(data, 0, size);
    pthread_mutex_lock(&vp->lock);
    unsigned cfg = legacy_config_off(vp);
    if (off == LEG_ISR) {
        data[0] = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_ACQ_REL);
        pci_intx_set(&vp->pci, false);
    } else if (off + size <= cfg) {
        uint8_t img[24];
        legacy_image(vp, img);
        memcpy(data, img + off, size);
    } else if (off >= cfg && off + size <= cfg + vp->config_len && vp->ops->read_config) {
        vp->ops->read_config(vp->opaque, off - cfg, data, size);
    }
    pthread_mutex_unlock(&vp->lock);
}

/* vp->lock held: the legacy driver gave queue q's ring by page frame (0: a device reset, as
 * QEMU does it); the driver, device and used areas follow in the legacy layout. */
static void legacy_set_pfn(struct virtio_pci *vp, uint32_t pfn)
{
    struct virtio_queue *q =
        vp->queue_select < vp->nr_queues ? &vp->queues[vp->queue_select] : NULL;
    if (pfn == 0) {
        device_reset(vp);
        return;
    }
    if (!q || q->enabled)
        return;
    uint64_t size = q->vq.size;
    q->vq.desc_gpa = (uint64_t)pfn * LEG_ALIGN;
    q->vq.avail_gpa = q->vq.desc_gpa + 16 * size;
    q->vq.used_gpa = (q->vq.avail_gpa + 6 + 2 * size + LEG_ALIGN - 1) & ~(uint64_t)(LEG_ALIGN - 1);
    queue_enable(vp, q, vp->queue_select);
}

static void legacy_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    uint64_t v = get_le(data, size);
    if (off == LEG_QUEUE_NOTIFY && size == 2) {
        uint64_t one = 1;
        if (v < vp->nr_queues && write(vp->queues[v].ioeventfd, &one, sizeof(one)) < 0)
            log_debug("%s: eventfd write: %s", vp->pci.name, strerror(errno));
        return;
    }
    pthread_mutex_lock(&vp->lock);
    unsigned cfg = legacy_config_off(vp);
    struct virtio_queue *q =
        vp->queue_select < vp->nr_queues ? &vp->queues[vp->queue_select] : NULL;
    if (off >= cfg) {
        if (off + size <= cfg + vp->config_len && vp->ops->write_config)
            vp->ops->write_config(vp->opaque, off - cfg, data, size);
    } else if (off == LEG_GUEST_FEATURES && size == 4) {
        /* The low 32 bits only, what the device offers of them (QEMU drops the rest too). */
        if (!(status_get(vp) & VIRTIO_STATUS_DRIVER_OK))
            vp->guest_features = v & (uint32_t)vp->host_features;
    } else if (off == LEG_QUEUE_PFN && size == 4) {
        legacy_set_pfn(vp, (uint32_t)v);
    } else if (off == LEG_QUEUE_SEL && size == 2) {
        vp->queue_select = (uint16_t)v;
    } else if (off == LEG_STATUS && size == 1) {
        set_status(vp, (uint8_t)v);
    } else if (off == LEG_CONFIG_VECTOR && size == 2) {
        vp->config_vector = v < vp->pci.msix_nr ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
    } else if (off == LEG_QUEUE_VECTOR && size == 2 && q) {
        __atomic_store_n(&q->msix_vector, v < vp->pci.msix_nr ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR,
                         __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&vp->lock);
}

static const struct bus_ops legacy_ops = {legacy_read, legacy_write};

/* The transitional device ids (virtio 1.2 §4.1.2.3) by virtio device type; 0: none. */
static uint16_t transitional_id(unsigned device_id)
{
    static const uint16_t ids[] = {[1] = 0x1000, [2] = 0x1001, [3] = 0x1003, [4] = 0x1005,
                                   [5] = 0x1002, [8] = 0x1004, [9] = 0x1009};
    return device_id < sizeof(ids) / sizeof(ids[0]) ? ids[device_id] : 0;
}

/* Makes the function transitional, as QEMU's disable-legacy=auto does on a conventional PCI
 * bus: the transitional device id, revision 0, subsystem id the virtio device type, and the
 * legacy registers in I/O BAR 0 (24 bytes plus the device configuration, to a power of two). */
static void make_transitional(struct virtio_pci *vp)
{
    uint16_t id = transitional_id(vp->device_id);
    if (!id)
        return;
    vp->legacy = true;
    put_le(vp->pci.cfg + 0x02, id, 2);
    vp->pci.cfg[0x08] = 0;
    put_le(vp->pci.cfg + 0x2e, vp->device_id, 2);
    uint32_t size = 32;
    while (size < 24 + vp->config_len)
        size <<= 1;
    pci_dev_set_io_bar(&vp->pci, 0, size, &legacy_ops, vp);
}

/* --- I/O thread ------------------------------------------------------------------------------ */

/* Reads the queue's notification and processes it if the device is live. */
static void serve_queue(struct virtio_queue *q)
{
    struct virtio_pci *vp = q->owner;
    uint64_t n;
    if (read(q->ioeventfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_debug("%s: eventfd read: %s", vp->pci.name, strerror(errno));
    pthread_mutex_lock(&q->lock);
    if (q->enabled && !q->vq.broken && (status_get(vp) & VIRTIO_STATUS_DRIVER_OK) &&
        !(status_get(vp) & VIRTIO_STATUS_NEEDS_RESET))
        vp->ops->process_queue(vp->opaque, q->index);
    pthread_mutex_unlock(&q->lock);
}

/* The timer fired: the device's timer op. */
static void serve_timer(void *opaque)
{
    struct virtio_pci *vp = opaque;
    uint64_t n;
    if (read(vp->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_debug("%s: timerfd read: %s", vp->pci.name, strerror(errno));
    if (vp->ops->timer)
        vp->ops->timer(vp->opaque);
}

void virtio_pci_arm_timer(struct virtio_pci *vp, uint64_t ns)
{
    struct itimerspec its = {
        .it_value = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)}};
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
        its.it_value.tv_nsec = 1; /* 0 would disarm it */
    if (timerfd_settime(vp->timer_fd, 0, &its, NULL) < 0)
        log_warn("%s: timerfd_settime: %s", vp->pci.name, strerror(errno));
}

static void *io_thread(void *opaque)
{
    struct virtio_pci *vp = opaque;
    struct pollfd pfd[VIRTIO_PCI_MAX_QUEUES + 2];
    for (unsigned i = 0; i < vp->nr_queues; i++)
        pfd[i] = (struct pollfd){.fd = vp->queues[i].ioeventfd, .events = POLLIN};
    pfd[vp->nr_queues] = (struct pollfd){.fd = vp->stop_fd, .events = POLLIN};
    pfd[vp->nr_queues + 1] = (struct pollfd){.fd = vp->timer_fd, .events = POLLIN};
    for (;;) {
        if (poll(pfd, vp->nr_queues + 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: poll: %s", vp->pci.name, strerror(errno));
            return NULL;
        }
        if (pfd[vp->nr_queues].revents)
            return NULL;
        for (unsigned i = 0; i < vp->nr_queues; i++)
            if (pfd[i].revents)
                serve_queue(&vp->queues[i]);
        if (pfd[vp->nr_queues + 1].revents)
            serve_timer(vp);
    }
}

/* The I/O thread object's handler for a queue's ioeventfd. */
static void iothread_handler(void *opaque)
{
    serve_queue(opaque);
}

static int io_start(struct virtio_pci *vp, struct verr *err)
{
    if (!vp->ops->process_queue)
        return 0; /* the device watches the queues' ioeventfds on its own thread */
    if (vp->iothread) {
        int r = iothread_add_fd(vp->iothread, vp->timer_fd, serve_timer, vp, err);
        for (unsigned i = 0; i < vp->nr_queues && r == 0; i++) {
            r = iothread_add_fd(vp->iothread, vp->queues[i].ioeventfd, iothread_handler,
                                &vp->queues[i], err);
            if (r < 0) {
                while (i--)
                    iothread_remove_fd(vp->iothread, vp->queues[i].ioeventfd);
                iothread_remove_fd(vp->iothread, vp->timer_fd);
            }
        }
        if (r < 0)
            return verr_prefix(err, "%s", vp->pci.name);
        vp->thread_started = true;
        return 0;
    }
    int r = pthread_create(&vp->thread, NULL, io_thread, vp);
    if (r != 0)
        return verr_errno(err, r, "%s: starting the I/O thread", vp->pci.name);
    vp->thread_started = true;
    return 0;
}

/* --- set-up ----------------------------------------------------------------------------- */

/* VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2 §4.1.4.9): the driver writes bar, offset and length
 * into the capability, then reads or writes its pci_cfg_data, and the device performs that
 * access on the BAR. cfg_hook_off points at pci_cfg_data (capability + 16). Only BAR 4
 * exists; other BARs, lengths other than 1/2/4 and accesses past the BAR do nothing. */
static void pci_cfg_window(struct pci_dev *pd, unsigned off, unsigned size, bool write)
{
    struct virtio_pci *vp = (struct virtio_pci *)((char *)pd - offsetof(struct virtio_pci, pci));
    unsigned cap = pd->cfg_hook_off - 16;
    uint8_t data[4];
    (void)off, (void)size;
    pthread_mutex_lock(&pd->lock);
    uint8_t bar = pd->cfg[cap + 4];
    uint32_t boff = (uint32_t)get_le(pd->cfg + cap + 8, 4);
    uint32_t len = (uint32_t)get_le(pd->cfg + cap + 12, 4);
    memcpy(data, pd->cfg + cap + 16, 4);
    pthread_mutex_unlock(&pd->lock);
    if (bar != BAR_INDEX || (len != 1 && len != 2 && len != 4) || boff > BAR_SIZE - len)
        return;
    if (write) {
        bar_write(vp, boff, data, len);
        return;
    }
    bar_read(vp, boff, data, len);
    pthread_mutex_lock(&pd->lock);
    memcpy(pd->cfg + cap + 16, data, len);
    pthread_mutex_unlock(&pd->lock);
}

static void add_pci_cfg_cap(struct virtio_pci *vp)
{
    uint8_t body[18] = {0};
    body[0] = 20; /* cap_len */
    body[1] = CAP_PCI_CFG;
    uint8_t cap = pci_dev_add_cap(&vp->pci, 0x09, body, 20);
    vp->pci.wmask[cap + 4] = 0xff;             /* bar */
    memset(vp->pci.wmask + cap + 8, 0xff, 12); /* offset, length, pci_cfg_data */
    vp->pci.cfg_hook = pci_cfg_window;
    vp->pci.cfg_hook_off = cap + 16u;
    vp->pci.cfg_hook_len = 4;
}

static void add_virtio_cap(struct pci_dev *pd, uint8_t type, uint32_t off, uint32_t len,
                           bool notify)
{
    uint8_t body[18] = {0};
    body[0] = notify ? 20 : 16; /* cap_len */
    body[1] = type;
    body[2] = BAR_INDEX;
    put_le(body + 6, off, 4);
    put_le(body + 10, len, 4);
    if (notify)
        put_le(body + 14, NOTIFY_MULT, 4);
    pci_dev_add_cap(pd, 0x09, body, notify ? 20 : 16);
}

int virtio_pci_init(struct virtio_pci *vp, struct vm *vm, const char *name, unsigned device_id,
                    uint32_t class_code, uint64_t features, unsigned nr_queues, uint16_t queue_size,
                    unsigned config_len, const struct virtio_dev_ops *ops, void *opaque,
                    struct verr *err)
{
    if (nr_queues == 0 || nr_queues > VIRTIO_PCI_MAX_QUEUES)
        return verr_set(err, EINVAL, "%s: %u queues (1 to %u supported)", name, nr_queues,
                        VIRTIO_PCI_MAX_QUEUES);
    vp->vm = vm;
    vp->ops = ops;
    vp->opaque = opaque;
    vp->device_id = device_id;
    vp->host_features = features | 1ull << VIRTIO_F_VERSION_1 |
                        1ull << VIRTIO_F_RING_INDIRECT_DESC | 1ull << VIRTIO_F_RING_EVENT_IDX;
    vp->nr_queues = nr_queues;
    vp->config_len = config_len;
    vp->stop_fd = vp->timer_fd = -1;
    pthread_mutex_init(&vp->lock, NULL);
    for (unsigned i = 0; i < nr_queues; i++) {
        struct virtio_queue *q = &vp->queues[i];
        pthread_mutex_init(&q->lock, NULL);
        q->owner = vp;
        q->index = i;
        q->size_max = queue_size;
        q->ioeventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->ioeventfd < 0)
            return verr_errno(err, errno, "%s: eventfd", name);
    }
    vp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vp->stop_fd < 0)
        return verr_errno(err, errno, "%s: eventfd", name);
    vp->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (vp->timer_fd < 0)
        return verr_errno(err, errno, "%s: timerfd", name);

    pci_dev_init(&vp->pci, name, 0x1af4, (uint16_t)(0x1040 + device_id), class_code, 1, 0x1af4,
                 (uint16_t)(0x1040 + device_id));
    pci_dev_set_bar(&vp->pci, BAR_INDEX, BAR_SIZE, true, &bar_ops, vp);
    add_virtio_cap(&vp->pci, CAP_COMMON, OFF_COMMON, COMMON_LEN, false);
    add_virtio_cap(&vp->pci, CAP_ISR, OFF_ISR, 1, false);
    add_virtio_cap(&vp->pci, CAP_DEVICE, OFF_DEVICE, config_len ? config_len : 4, false);
    add_virtio_cap(&vp->pci, CAP_NOTIFY, OFF_NOTIFY, NOTIFY_MULT * nr_queues, true);
    add_pci_cfg_cap(vp);
    unsigned vectors = nr_queues < VIRTIO_PCI_MAX_VECTORS ? nr_queues + 1 : VIRTIO_PCI_MAX_VECTORS;
    pci_dev_init_msix(&vp->pci, vp->msix_vectors ? vp->msix_vectors : vectors, BAR_INDEX, OFF_MSIX,
                      OFF_PBA);
    device_reset(vp);
    return 0;
}

void virtio_pci_set_iothread(struct virtio_pci *vp, struct iothread *it)
{
    iothread_ref(it);
    vp->iothread = it;
}

int virtio_pci_plug(struct virtio_pci *vp, const struct pci_place *place, struct verr *err)
{
    vp->pci.id = place->id;
    vp->pci.multifunction = place->multifunction;
    /* QEMU's disable-legacy=auto: legacy off behind a PCIe port (one slot), on where the bus
     * is conventional. TODO: the root buses (pc's pci.0, q35's pcie.0), where QEMU's devices
     * are transitional too, stay modern-only here. */
    if (place->behind && place->behind->sec_slots > 1)
        make_transitional(vp);
    int r = pci_dev_plug(vp->vm->pci, &vp->pci, place, err);
    if (r < 0)
        return r;
    return io_start(vp, err);
}

void virtio_pci_stop_io(struct virtio_pci *vp)
{
    if (vp->thread_started && vp->iothread) {
        for (unsigned i = 0; i < vp->nr_queues; i++)
            iothread_remove_fd(vp->iothread, vp->queues[i].ioeventfd);
        iothread_remove_fd(vp->iothread, vp->timer_fd);
        vp->thread_started = false;
    } else if (vp->thread_started) {
        uint64_t one = 1;
        if (write(vp->stop_fd, &one, sizeof(one)) < 0)
            log_warn("%s: stopping the I/O thread: %s", vp->pci.name, strerror(errno));
        pthread_join(vp->thread, NULL);
        vp->thread_started = false;
    }
}

int virtio_pci_start_io(struct virtio_pci *vp, struct verr *err)
{
    if (vp->thread_started)
        return 0;
    uint64_t n;
    if (read(vp->stop_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) /* the last stop's signal */
        return verr_errno(err, errno, "%s: stop eventfd", vp->pci.name);
    return io_start(vp, err);
}

/* --- save/restore ------------------------------------------------------------------------ */

#define COMMON_REC 26
#define QUEUE_REC  40

int virtio_pci_save(struct virtio_pci *vp, struct dev_state_writer *w, struct verr *err)
{
    uint8_t c[COMMON_REC];
    pthread_mutex_lock(&vp->lock);
    put_le(c + 0, vp->guest_features, 8);
    put_le(c + 8, vp->device_feature_select, 4);
    put_le(c + 12, vp->driver_feature_select, 4);
    put_le(c + 16, vp->config_vector, 2);
    c[18] = status_get(vp);
    c[19] = vp->config_generation;
    put_le(c + 20, vp->queue_select, 2);
    c[22] = __atomic_load_n(&vp->isr, __ATOMIC_ACQUIRE);
    c[23] = 0;
    put_le(c + 24, vp->nr_queues, 2);
    uint8_t *q = calloc(vp->nr_queues, QUEUE_REC);
    if (!q) {
        pthread_mutex_unlock(&vp->lock);
        return verr_set(err, ENOMEM, "%s: out of memory", vp->pci.name);
    }
    for (unsigned i = 0; i < vp->nr_queues; i++) {
        struct virtio_queue *vq = &vp->queues[i];
        uint8_t *e = q + i * QUEUE_REC;
        pthread_mutex_lock(&vq->lock);
        put_le(e + 0, vq->vq.desc_gpa, 8);
        put_le(e + 8, vq->vq.avail_gpa, 8);
        put_le(e + 16, vq->vq.used_gpa, 8);
        put_le(e + 24, vq->vq.size, 2);
        put_le(e + 26, vq->msix_vector, 2);
        put_le(e + 28, vq->vq.last_avail, 2);
        put_le(e + 30, vq->vq.used_idx, 2);
        put_le(e + 32, vq->vq.signalled_used, 2);
        e[34] = vq->enabled;
        e[35] = vq->vq.signalled_valid;
        e[36] = vq->vq.broken;
        pthread_mutex_unlock(&vq->lock);
    }
    pthread_mutex_unlock(&vp->lock);
    int r = w->put(w, "virtio.common", c, sizeof(c), err);
    if (r == 0)
        r = w->put(w, "virtio.queues", q, vp->nr_queues * QUEUE_REC, err);
    free(q);
    if (r == 0)
        r = pci_dev_save(&vp->pci, w, err);
    return r;
}

int virtio_pci_load(struct virtio_pci *vp, struct dev_state_reader *r, struct verr *err)
{
    uint8_t c[COMMON_REC];
    int rc = r->get(r, "virtio.common", c, sizeof(c), err);
    if (rc < 0)
        return rc;
    unsigned nq = (unsigned)get_le(c + 24, 2);
    if (nq != vp->nr_queues)
        return verr_set(err, EINVAL, "field 'virtio.common': %u queues, this device has %u", nq,
                        vp->nr_queues);
    uint64_t features = get_le(c, 8);
    if (features & ~vp->host_features)
        return verr_set(err, EINVAL,
                        "field 'virtio.common': features 0x%llx include bits this device does not "
                        "offer (0x%llx)",
                        (unsigned long long)features, (unsigned long long)vp->host_features);
    uint8_t status = c[18];
    uint16_t config_vector = (uint16_t)get_le(c + 16, 2);
    if (config_vector != VIRTIO_MSI_NO_VECTOR && config_vector >= vp->pci.msix_nr)
        return verr_set(err, EINVAL, "field 'virtio.common': config vector %u out of range",
                        config_vector);
    uint8_t *q = malloc(nq * QUEUE_REC);
    if (!q)
        return verr_set(err, ENOMEM, "out of memory");
    if ((rc = r->get(r, "virtio.queues", q, nq * QUEUE_REC, err)) < 0) {
        free(q);
        return rc;
    }
    if ((rc = pci_dev_load(&vp->pci, r, err)) < 0) {
        free(q);
        return rc;
    }
    virtio_pci_stop_io(vp);
    pthread_mutex_lock(&vp->lock);
    vp->guest_features = features;
    vp->device_feature_select = (uint32_t)get_le(c + 8, 4);
    vp->driver_feature_select = (uint32_t)get_le(c + 12, 4);
    vp->config_vector = config_vector;
    vp->config_generation = c[19];
    vp->queue_select = (uint16_t)get_le(c + 20, 2);
    __atomic_store_n(&vp->isr, c[22] & 3, __ATOMIC_RELEASE);
    __atomic_store_n(&vp->status, status, __ATOMIC_RELEASE);
    for (unsigned i = 0; rc == 0 && i < nq; i++) {
        struct virtio_queue *vq = &vp->queues[i];
        const uint8_t *e = q + i * QUEUE_REC;
        uint16_t size = (uint16_t)get_le(e + 24, 2), vec = (uint16_t)get_le(e + 26, 2);
        if (!size || size > vq->size_max || (size & (size - 1))) {
            rc = verr_set(err, EINVAL,
                          "field 'virtio.queues': queue %u size %u (at most %u, a "
                          "power of two)",
                          i, size, vq->size_max);
            break;
        }
        if (vec != VIRTIO_MSI_NO_VECTOR && vec >= vp->pci.msix_nr) {
            rc = verr_set(err, EINVAL, "field 'virtio.queues': queue %u vector %u out of range", i,
                          vec);
            break;
        }
        pthread_mutex_lock(&vq->lock);
        memset(&vq->vq, 0, sizeof(vq->vq));
        vq->vq.mem = &vp->vm->mem;
        vq->vq.size = size;
        vq->vq.desc_gpa = get_le(e + 0, 8);
        vq->vq.avail_gpa = get_le(e + 8, 8);
        vq->vq.used_gpa = get_le(e + 16, 8);
        vq->msix_vector = vec;
        vq->enabled = e[34] != 0;
        if (vq->enabled) {
            vq->vq.indirect = virtio_pci_has_feature(vp, VIRTIO_F_RING_INDIRECT_DESC);
            vq->vq.event_idx = virtio_pci_has_feature(vp, VIRTIO_F_RING_EVENT_IDX);
            struct verr qe = {0};
            if (vq_start(&vq->vq, &qe) < 0)
                rc = verr_set(err, EINVAL, "field 'virtio.queues': queue %u: %s", i, verr_msg(&qe));
            vq->vq.last_avail = (uint16_t)get_le(e + 28, 2);
            vq->vq.used_idx = (uint16_t)get_le(e + 30, 2);
            vq->vq.signalled_used = (uint16_t)get_le(e + 32, 2);
            vq->vq.signalled_valid = e[35] != 0;
            vq->vq.broken = e[36] != 0;
        }
        pthread_mutex_unlock(&vq->lock);
    }
    if (rc == 0 && (status & VIRTIO_STATUS_DRIVER_OK)) {
        for (unsigned i = 0; i < nq; i++) {
            if (!vp->queues[i].enabled)
                continue;
            ioeventfd_register(vp, i);
            uint64_t one = 1;
            if (write(vp->queues[i].ioeventfd, &one, sizeof(one)) < 0)
                log_debug("%s: eventfd write: %s", vp->pci.name, strerror(errno));
        }
    }
    pthread_mutex_unlock(&vp->lock);
    free(q);
    int r2 = virtio_pci_start_io(vp, rc == 0 ? err : NULL);
    return rc < 0 ? rc : r2;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
    virtio_pci_stop_io(vp);
    if (vp->iothread)
        iothread_unref(vp->iothread);
    vp->iothread = NULL;
    for (unsigned i = 0; i < vp->nr_queues; i++) {
        ioeventfd_unregister(vp, &vp->queues[i]);
        if (vp->queues[i].ioeventfd >= 0)
            close(vp->queues[i].ioeventfd);
    }
    if (vp->stop_fd >= 0)
        close(vp->stop_fd);
    if (vp->timer_fd >= 0)
        close(vp->timer_fd);
    vp->timer_fd = -1;
    if (vp->pci.bus)
        pci_dev_release(&vp->pci);
    else
        free(vp->pci.msix);
    vp->pci.msix = NULL;
}
