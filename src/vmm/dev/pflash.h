/*
 * pflash.h - the parallel NOR flash QEMU's pc and q35 machines put at the top
 * of the 4 GiB space for -drive if=pflash (QEMU's pflash_cfi01): a CFI flash
 * with the Intel command set, one byte wide, in 4 KiB sectors. pflash0 holds
 * the firmware code (OVMF_CODE, usually read-only), pflash1 the variable store
 * (OVMF_VARS), which the firmware writes through the flash commands.
 *
 * The file is the store, as in QEMU: its bytes are read whole at start, and
 * every program or erase the guest does is written back to the same range of
 * the file at once, so the variables survive the VM. Reads in read-array mode
 * come straight from a read-only KVM memory slot over the copy (no exit);
 * the first command write unmaps the slot (QEMU's "romd" off) so that reads
 * then exit to the device and see the status register, the CFI table or the
 * device id, and a return to read-array mode maps it again.
 *
 * Commands (QEMU 7.2's pflash_cfi01 with width=1 and no device-width, which
 * is how pc_sysfw.c builds it): 0xFF/0x00/0xF0 read array, 0x70 read status,
 * 0x50 clear status, 0x10/0x40 byte program, 0x20 + 0xD0 block erase, 0x60
 * block (un)lock (accepted, no locking), 0x90 read id (QEMU's pc gives ids 0),
 * 0x98 CFI query, 0xE8 write to buffer. On a read-only flash, program and
 * erase leave the bytes alone and set the status error bits (0x10, 0x20).
 */
#ifndef VIREO_VMM_DEV_PFLASH_H
#define VIREO_VMM_DEV_PFLASH_H

#include "util/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PFLASH_SECTOR_SIZE 4096u
#define PFLASH_MAX_TOTAL   (8u << 20) /* QEMU's x86 max-fw-size default */
#define PFLASH_CFI_LEN     0x52

struct kvm;
struct bus;

struct pflash {
    char name[8]; /* "pflash0", "pflash1" */
    char *path;
    int fd;
    bool read_only;
    uint8_t *storage; /* page-aligned copy of the file (the read-only slot maps it) */
    uint64_t size;
    /* Where it is mapped, once pflash_map has run. */
    struct kvm *kvm;
    int slot;
    uint64_t base;
    /* Command state (lock held). */
    pthread_mutex_t lock;
    uint8_t wcycle, cmd, status;
    uint32_t counter; /* write-to-buffer bytes still to come */
    bool romd;        /* read-array mode: the slot is mapped */
    uint8_t cfi[PFLASH_CFI_LEN];
};

/* Opens file (raw bytes) as flash unit `unit`; the size must be a non-zero multiple of
 * 4 KiB. read_only: the file is opened read-only and the flash refuses programs. */
int pflash_open(struct pflash *pf, unsigned unit, const char *file, bool read_only,
                struct verr *err);
/* Maps it at base: a read-only slot (from kvm_slot_alloc) and its MMIO range on mmio. */
int pflash_map(struct pflash *pf, struct kvm *kvm, struct bus *mmio, uint64_t base,
               struct verr *err);
/* System reset: back to read-array mode with a clear status. */
void pflash_reset(struct pflash *pf);
void pflash_close(struct pflash *pf);

/* The guest's accesses at offset (what the MMIO range's handlers call; also the unit test's
 * way in). size: 1, 2, 4 or 8 bytes. */
void pflash_read(struct pflash *pf, uint64_t offset, uint8_t *data, unsigned size);
void pflash_write(struct pflash *pf, uint64_t offset, const uint8_t *data, unsigned size);

#endif
