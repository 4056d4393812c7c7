/*
 * pflash.c - the CFI flash behind -drive if=pflash (see pflash.h).
 *
 * TODO(#15): the file is opened directly, not through the block layer, so it takes none of
 * the image locks QEMU takes (two VMs on one VARS file are not stopped), and only raw images
 * are taken; the command state (wcycle, cmd, status) is not in the save/migration stream
 * (the bytes are in the file; a VM saved in the middle of a flash command resumes in
 * read-array mode).
 */
#include "vmm/dev/pflash.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/bus.h"
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/slots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    STATUS_READY = 0x80,
    STATUS_ERASE_ERROR = 0x20,
    STATUS_PROGRAM_ERROR = 0x10,
    WRITE_BUFFER_BITS = 8, /* CFI 0x2A: 256-byte write buffer (QEMU's value for width 1) */
};

/* pread/pwrite of all len bytes (short transfers continued); bytes done, or -errno. */
static ssize_t pread_all(int fd, uint8_t *p, uint64_t len, uint64_t off)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (uint64_t)n;
    }
    return (ssize_t)done;
}

static ssize_t pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (uint64_t)n;
    }
    return (ssize_t)done;
}

static void fill_cfi(struct pflash *pf)
{
    uint8_t *t = pf->cfi;
    uint64_t blocks = pf->size / PFLASH_SECTOR_SIZE;
    memset(t, 0, PFLASH_CFI_LEN);
    memcpy(t + 0x10, "QRY", 3);
    t[0x13] = 0x01; /* Intel command set */
    t[0x15] = 0x31; /* primary extended table at 0x31 */
    t[0x1b] = 0x45; /* Vcc min, max */
    t[0x1c] = 0x55;
    t[0x1f] = 0x07; /* typical timeouts: word program, buffer write, block erase */
    t[0x20] = 0x07;
    t[0x21] = 0x0a;
    t[0x23] = 0x04; /* maximum timeouts */
    t[0x24] = 0x04;
    t[0x25] = 0x04;
    t[0x27] = (uint8_t)__builtin_ctzll(pf->size); /* device size as QEMU encodes it */
    t[0x28] = 0x02;                               /* x8/x16 interface */
    t[0x2a] = WRITE_BUFFER_BITS;
    t[0x2c] = 0x01; /* one uniform erase region */
    t[0x2d] = (uint8_t)(blocks - 1);
    t[0x2e] = (uint8_t)((blocks - 1) >> 8);
    t[0x2f] = (uint8_t)(PFLASH_SECTOR_SIZE >> 8);
    t[0x30] = (uint8_t)(PFLASH_SECTOR_SIZE >> 16);
    memcpy(t + 0x31, "PRI10", 5);
    t[0x3f] = 0x01; /* one protection field */
}

int pflash_open(struct pflash *pf, unsigned unit, const char *file, bool read_only,
                struct verr *err)
{
    memset(pf, 0, sizeof(*pf));
    pf->fd = -1;
    pf->slot = -1;
    snprintf(pf->name, sizeof(pf->name), "pflash%u", unit);
    pthread_mutex_init(&pf->lock, NULL);
    pf->read_only = read_only;
    pf->path = xstrdup(file);
    pf->fd = open(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (pf->fd < 0)
        return verr_errno(err, errno, "Could not open '%s'", file);
    struct stat st;
    if (fstat(pf->fd, &st) < 0)
        return verr_errno(err, errno, "Could not stat '%s'", file);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return verr_set(err, EINVAL, "system firmware block device %s: '%s' is not a file",
                        pf->name, file);
    uint64_t size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(pf->fd, 0, SEEK_END);
        size = end > 0 ? (uint64_t)end : 0;
    }
    /* QEMU's wording (pc_sysfw.c). */
    if (size == 0 || size % PFLASH_SECTOR_SIZE)
        return verr_set(err, EINVAL,
                        "system firmware block device %s has invalid size %llu (its size must "
                        "be a non-zero multiple of 0x%x)",
                        pf->name, (unsigned long long)size, PFLASH_SECTOR_SIZE);
    if (size > PFLASH_MAX_TOTAL)
        return verr_set(err, EFBIG, "combined size of system firmware exceeds %u bytes",
                        PFLASH_MAX_TOTAL);
    pf->size = size;
    pf->storage = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pf->storage == MAP_FAILED) {
        pf->storage = NULL;
        return verr_errno(err, errno, "%s: cannot allocate %llu bytes", pf->name,
                          (unsigned long long)size);
    }
    ssize_t n = pread_all(pf->fd, pf->storage, size, 0);
    if (n < 0)
        return verr_errno(err, (int)-n, "failed to read the initial flash content from '%s'", file);
    if ((uint64_t)n != size)
        return verr_set(err, EIO, "'%s' shrank while being read", file);
    fill_cfi(pf);
    pf->status = STATUS_READY;
    pf->romd = true;
    return 0;
}

/* Read-array mode on or off: the read-only slot over the bytes is mapped only when on. */
static void set_romd(struct pflash *pf, bool on)
{
    if (pf->romd == on)
        return;
    pf->romd = on;
    if (!pf->kvm)
        return;
    struct verr err = {0};
    int r =
        on ? kvm_map_slot(pf->kvm, (unsigned)pf->slot, pf->base, pf->size, pf->storage, true, &err)
           : kvm_unmap_slot(pf->kvm, (unsigned)pf->slot, &err);
    if (r < 0)
        log_error("%s: %s", pf->name, verr_msg(&err));
}

static void read_array(struct pflash *pf)
{
    set_romd(pf, true);
    pf->wcycle = 0;
    pf->cmd = 0;
}

/* The guest changed [offset, offset + len): the file gets the same bytes now. */
static void update_file(struct pflash *pf, uint64_t offset, uint64_t len)
{
    if (offset >= pf->size)
        return;
    if (len > pf->size - offset)
        len = pf->size - offset;
    ssize_t n = pwrite_all(pf->fd, pf->storage + offset, len, offset);
    if (n < 0 || (uint64_t)n != len)
        log_error("%s: writing %llu bytes at %llu of '%s' failed: %s", pf->name,
                  (unsigned long long)len, (unsigned long long)offset, pf->path,
                  strerror(n < 0 ? (int)-n : EIO));
}

static void data_write(struct pflash *pf, uint64_t offset, const uint8_t *data, unsigned size)
{
    if (offset >= pf->size)
        return;
    if (size > pf->size - offset)
        size = (unsigned)(pf->size - offset);
    memcpy(pf->storage + offset, data, size);
}

void pflash_read(struct pflash *pf, uint64_t offset, uint8_t *data, unsigned size)
{
    uint32_t v = 0;
    memset(data, 0, size);
    pthread_mutex_lock(&pf->lock);
    switch (pf->cmd) {
    case 0x10:
    case 0x20:
    case 0x28:
    case 0x40:
    case 0x50:
    case 0x60:
    case 0x70:
    case 0xe8:
        /* The status register; QEMU repeats it in the upper half of wider reads. */
        v = pf->status;
        if (size > 2)
            v |= (uint32_t)pf->status << 16;
        break;
    case 0x90:
        v = 0; /* pc's flash has manufacturer and device ids 0 */
        break;
    case 0x98: {
        uint64_t boff = offset & 0xff;
        v = boff < PFLASH_CFI_LEN ? pf->cfi[boff] : 0;
        break;
    }
    default: /* read array (a read that exits because of a race with the remap) */
        pf->cmd = 0;
        pf->wcycle = 0;
        if (offset < pf->size) {
            unsigned n = size;
            if (n > pf->size - offset)
                n = (unsigned)(pf->size - offset);
            memcpy(data, pf->storage + offset, n);
        }
        pthread_mutex_unlock(&pf->lock);
        return;
    }
    pthread_mutex_unlock(&pf->lock);
    for (unsigned i = 0; i < size && i < 4; i++)
        data[i] = (uint8_t)(v >> (8 * i));
}

void pflash_write(struct pflash *pf, uint64_t offset, const uint8_t *data, unsigned size)
{
    uint8_t cmd = data[0];
    pthread_mutex_lock(&pf->lock);
    if (!pf->wcycle)
        set_romd(pf, false);
    switch (pf->wcycle) {
    case 0:
        switch (cmd) {
        case 0x00:
        case 0xf0: /* AMD's reset */
        case 0xff:
            read_array(pf);
            goto out;
        case 0x10:
        case 0x40: /* byte program: the next write is the data */
            break;
        case 0x20: { /* block erase (QEMU erases here; 0xD0 confirms) */
            uint64_t start = offset & ~(uint64_t)(PFLASH_SECTOR_SIZE - 1);
            if (pf->read_only) {
                pf->status |= STATUS_ERASE_ERROR;
            } else if (start < pf->size) {
                memset(pf->storage + start, 0xff, PFLASH_SECTOR_SIZE);
                update_file(pf, start, PFLASH_SECTOR_SIZE);
            }
            pf->status |= STATUS_READY;
            break;
        }
        case 0x50:
            pf->status = 0;
            read_array(pf);
            goto out;
        case 0x60: /* block lock/unlock: no locks are kept */
            break;
        case 0x70:
        case 0x90:
            pf->cmd = cmd; /* a read mode: no second cycle */
            goto out;
        case 0x98:
            break;
        case 0xe8:
            pf->status |= STATUS_READY;
            break;
        default:
            log_debug("%s: unknown flash command 0x%02x at 0x%llx", pf->name, cmd,
                      (unsigned long long)offset);
            read_array(pf);
            goto out;
        }
        pf->wcycle = 1;
        pf->cmd = cmd;
        break;
    case 1:
        switch (pf->cmd) {
        case 0x10:
        case 0x40:
            if (pf->read_only) {
                pf->status |= STATUS_PROGRAM_ERROR;
            } else {
                data_write(pf, offset, data, size);
                update_file(pf, offset, size);
            }
            pf->status |= STATUS_READY;
            pf->wcycle = 0;
            break;
        case 0x20:
        case 0x28:
            if (cmd == 0xd0) {
                pf->wcycle = 0;
                pf->status |= STATUS_READY;
            } else {
                read_array(pf);
            }
            break;
        case 0x60:
            if (cmd == 0xd0 || cmd == 0x01) {
                pf->wcycle = 0;
                pf->status |= STATUS_READY;
            } else {
                read_array(pf);
            }
            break;
        case 0x98:
            if (cmd == 0xff)
                read_array(pf);
            break;
        case 0xe8:
            pf->counter = cmd; /* bytes to come, minus one (width 1: one byte of count) */
            pf->wcycle = 2;
            break;
        default:
            read_array(pf);
            break;
        }
        break;
    case 2: /* write to buffer: the data */
        if (pf->read_only) {
            pf->status |= STATUS_PROGRAM_ERROR;
        } else {
            data_write(pf, offset, data, size);
            update_file(pf, offset, size);
        }
        pf->status |= STATUS_READY;
        if (pf->counter == 0)
            pf->wcycle = 3;
        else
            pf->counter--;
        break;
    case 3: /* write to buffer: the confirm */
        if (cmd == 0xd0) {
            pf->wcycle = 0;
            pf->status |= STATUS_READY;
        } else {
            read_array(pf);
        }
        break;
    default:
        read_array(pf);
        break;
    }
out:
    pthread_mutex_unlock(&pf->lock);
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    pflash_read(opaque, offset, data, size);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    pflash_write(opaque, offset, data, size);
}

static const struct bus_ops pflash_ops = {mmio_read, mmio_write};

int pflash_map(struct pflash *pf, struct kvm *kvm, struct bus *mmio, uint64_t base,
               struct verr *err)
{
    int slot = kvm_slot_alloc(kvm);
    if (slot < 0)
        return verr_set(err, ENOSPC, "no free KVM memory slot for %s", pf->name);
    int r = kvm_map_slot(kvm, (unsigned)slot, base, pf->size, pf->storage, true, err);
    if (r < 0)
        return verr_prefix(err, "mapping %s '%s'", pf->name, pf->path);
    r = bus_register(mmio, base, pf->size, &pflash_ops, pf, pf->name, err);
    if (r < 0)
        return r;
    pf->kvm = kvm;
    pf->slot = slot;
    pf->base = base;
    pf->romd = true;
    log_debug("%s '%s' (%llu KiB%s) at 0x%llx", pf->name, pf->path,
              (unsigned long long)(pf->size >> 10), pf->read_only ? ", read-only" : "",
              (unsigned long long)base);
    return 0;
}

void pflash_reset(struct pflash *pf)
{
    pthread_mutex_lock(&pf->lock);
    read_array(pf);
    pf->status = STATUS_READY;
    pthread_mutex_unlock(&pf->lock);
}

void pflash_close(struct pflash *pf)
{
    if (pf->fd >= 0) {
        if (!pf->read_only && fdatasync(pf->fd) < 0)
            log_warn("%s: fdatasync '%s': %s", pf->name, pf->path, strerror(errno));
        close(pf->fd);
    }
    if (pf->storage)
        munmap(pf->storage, pf->size);
    free(pf->path);
    pthread_mutex_destroy(&pf->lock);
    memset(pf, 0, sizeof(*pf));
    pf->fd = -1;
    pf->slot = -1;
}
