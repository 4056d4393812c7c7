/*
 * pam.c - see pam.h. Segment 0 is 0xF0000-0xFFFFF (PAM0 bits 5:4); segments
 * 1-12 are the 16 KiB pieces of 0xC0000-0xEFFFF, two per register PAM1-PAM6
 * (low nibble first).
 */
#include "vmm/dev/pam.h"
#include "util/log.h"
#include "vmm/boot/layout.h"
#include "vmm/vm.h"
#include "vmm/kvm/slots.h"

#include <errno.h>
#include <string.h>

#define PAM_BASE  LAYOUT_OPTION_ROM_START
#define PAM_END   LAYOUT_BIOS_END
#define ISA_START (PAM_END - PAM_ISA_BIOS)

static uint64_t seg_base(unsigned i)
{
    return i == 0 ? 0xf0000 : PAM_BASE + (uint64_t)(i - 1) * 0x4000;
}

static uint64_t seg_size(unsigned i)
{
    return i == 0 ? 0x10000 : 0x4000;
}

static int seg_of(uint64_t addr)
{
    if (addr >= 0xf0000 && addr < PAM_END)
        return 0;
    if (addr >= PAM_BASE && addr < 0xf0000)
        return 1 + (int)((addr - PAM_BASE) / 0x4000);
    return -1;
}

/* Lock held: maps segment i for its mode. */
static void apply(struct pam *p, unsigned i)
{
    struct verr err = {0};
    uint64_t base = seg_base(i), size = seg_size(i);
    uint8_t *ram = p->vm->mem.host + base;
    int r;
    switch (p->mode[i]) {
    case 3: /* RAM, read and write */
        r = kvm_map_slot(&p->vm->kvm, p->slot[i], base, size, ram, false, &err);
        break;
    case 1: /* RAM, read only: writes trap and are dropped */
        r = kvm_map_slot(&p->vm->kvm, p->slot[i], base, size, ram, true, &err);
        break;
    default: /* ROM behind it (its writes trap), or nothing (everything traps) */
        if (p->isa_bios && base >= ISA_START)
            r = kvm_map_slot(&p->vm->kvm, p->slot[i], base, size,
                             (void *)(p->isa_bios + (base - ISA_START)), true, &err);
        else
            r = kvm_unmap_slot(&p->vm->kvm, p->slot[i], &err);
        break;
    }
    if (r < 0)
        log_error("PAM segment 0x%llx: %s", (unsigned long long)base, verr_msg(&err));
}

static void trap_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct pam *p = opaque;
    uint64_t addr = PAM_BASE + offset;
    pthread_mutex_lock(&p->lock);
    for (unsigned k = 0; k < size; k++, addr++) {
        int i = seg_of(addr);
        if (i >= 0 && (p->mode[i] & 1))
            data[k] = p->vm->mem.host[addr];
        else if (p->isa_bios && addr >= ISA_START)
            data[k] = p->isa_bios[addr - ISA_START];
        else
            data[k] = 0xff;
    }
    pthread_mutex_unlock(&p->lock);
}

static void trap_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct pam *p = opaque;
    uint64_t addr = PAM_BASE + offset;
    pthread_mutex_lock(&p->lock);
    for (unsigned k = 0; k < size; k++, addr++) {
        int i = seg_of(addr);
        if (i >= 0 && (p->mode[i] & 2))
            p->vm->mem.host[addr] = data[k];
    }
    pthread_mutex_unlock(&p->lock);
}

static const struct bus_ops trap_ops = {trap_read, trap_write};

int pam_init(struct pam *p, struct vm *vm, const uint8_t *isa_bios, struct verr *err)
{
    memset(p, 0, sizeof(*p));
    p->vm = vm;
    p->isa_bios = isa_bios;
    pthread_mutex_init(&p->lock, NULL);
    if (guest_mem_low_end(&vm->mem) < PAM_END)
        return verr_set(err, EINVAL, "guest memory of %llu KiB is too small for a PC",
                        (unsigned long long)(vm->mem.size >> 10));
    for (unsigned i = 0; i < PAM_NR_SEGMENTS; i++)
        if ((p->slot[i] = kvm_slot_alloc(&vm->kvm)) < 0)
            return verr_set(err, ENOSPC, "no free KVM memory slot for the PAM segments");
    int r = bus_register(&vm->mmio, PAM_BASE, PAM_END - PAM_BASE, &trap_ops, p, "pam", err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < PAM_NR_SEGMENTS; i++)
        apply(p, i);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void pam_update(struct pam *p, const uint8_t regs[PAM_NR_REGS])
{
    uint8_t want[PAM_NR_SEGMENTS];
    want[0] = (regs[0] >> 4) & 3;
    for (unsigned k = 1; k < PAM_NR_REGS; k++) {
        want[2 * k - 1] = regs[k] & 3;
        want[2 * k] = (regs[k] >> 4) & 3;
    }
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < PAM_NR_SEGMENTS; i++) {
        if (want[i] == p->mode[i])
            continue;
        bool remap = (want[i] & 1) != (p->mode[i] & 1) || want[i] == 3 || p->mode[i] == 3;
        p->mode[i] = want[i];
        if (remap)
            apply(p, i);
    }
    pthread_mutex_unlock(&p->lock);
}

void pam_destroy(struct pam *p)
{
    if (!p->vm)
        return;
    bus_unregister(&p->vm->mmio, PAM_BASE);
    pthread_mutex_destroy(&p->lock);
    p->vm = NULL;
}
