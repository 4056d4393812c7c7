/*
 * fw-cfg.h - QEMU's firmware configuration interface (fw_cfg), the channel
 * through which SeaBIOS and OVMF learn what the VMM built: the memory map,
 * the ACPI and SMBIOS tables, the boot order, the kernel for -kernel, and
 * user items from -fw_cfg (QEMU's docs/specs/fw_cfg.rst is the reference).
 *
 * Two halves. struct fw_cfg is the item store and the transfer engine, pure
 * functions over guest memory (fuzzed: the DMA descriptor and everything it
 * points at are the guest's). The device "fw_cfg_io" (fw-cfg.c) puts it on
 * the I/O ports QEMU uses on pc and q35: selector 0x510 (16-bit write), data
 * 0x511 (8-bit read) and the DMA address 0x514-0x51b (two 32-bit big-endian
 * writes; the low half starts the transfer).
 *
 * Items are added while the machine is built and then sealed: the file
 * directory is sorted by name and selectors are given in that order, as QEMU
 * does, so the directory a guest reads is the same every boot.
 */
#ifndef VIREO_VMM_DEV_FW_CFG_H
#define VIREO_VMM_DEV_FW_CFG_H

#include "util/error.h"
#include "vmm/kvm/memory.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed keys (QEMU's FW_CFG_*). */
enum fw_cfg_key {
    FW_CFG_SIGNATURE = 0x00,
    FW_CFG_ID = 0x01,
    FW_CFG_UUID = 0x02,
    FW_CFG_RAM_SIZE = 0x03,
    FW_CFG_NOGRAPHIC = 0x04,
    FW_CFG_NB_CPUS = 0x05,
    FW_CFG_MACHINE_ID = 0x06,
    FW_CFG_KERNEL_ADDR = 0x07,
    FW_CFG_KERNEL_SIZE = 0x08,
    FW_CFG_KERNEL_CMDLINE = 0x09,
    FW_CFG_INITRD_ADDR = 0x0a,
    FW_CFG_INITRD_SIZE = 0x0b,
    FW_CFG_BOOT_DEVICE = 0x0c,
    FW_CFG_NUMA = 0x0d,
    FW_CFG_BOOT_MENU = 0x0e,
    FW_CFG_MAX_CPUS = 0x0f,
    FW_CFG_KERNEL_ENTRY = 0x10,
    FW_CFG_KERNEL_DATA = 0x11,
    FW_CFG_INITRD_DATA = 0x12,
    FW_CFG_CMDLINE_ADDR = 0x13,
    FW_CFG_CMDLINE_SIZE = 0x14,
    FW_CFG_CMDLINE_DATA = 0x15,
    FW_CFG_SETUP_ADDR = 0x16,
    FW_CFG_SETUP_SIZE = 0x17,
    FW_CFG_SETUP_DATA = 0x18,
    FW_CFG_FILE_DIR = 0x19,
    FW_CFG_FILE_FIRST = 0x20,
    FW_CFG_ARCH_LOCAL = 0x8000,
    FW_CFG_ACPI_TABLES = 0x8000,
    FW_CFG_SMBIOS_ENTRIES = 0x8001,
    FW_CFG_IRQ0_OVERRIDE = 0x8002,
    FW_CFG_E820_TABLE = 0x8003,
    FW_CFG_HPET = 0x8004,
};

#define FW_CFG_MAX_FILES      256
#define FW_CFG_NAME_MAX       56 /* including the NUL */
#define FW_CFG_NR_FIXED       0x20
#define FW_CFG_NR_ARCH        0x10
#define FW_CFG_ID_TRADITIONAL 0x1
#define FW_CFG_ID_DMA         0x2
/* What a read of the DMA address register returns: "QEMU CFG". */
#define FW_CFG_DMA_SIGNATURE "QEMU CFG"

/* FWCfgDmaAccess.control bits. */
#define FW_CFG_DMA_ERROR  0x01u
#define FW_CFG_DMA_READ   0x02u
#define FW_CFG_DMA_SKIP   0x04u
#define FW_CFG_DMA_SELECT 0x08u
#define FW_CFG_DMA_WRITE  0x10u

struct fw_cfg_item {
    uint8_t *data; /* owned */
    uint32_t len;
};

struct fw_cfg_file {
    char name[FW_CFG_NAME_MAX];
    struct fw_cfg_item item;
    uint16_t select; /* given at seal time */
    /* Called when the guest selects the file, to bring its contents up to date (ACPI tables
     * that describe registers the firmware has programmed by then); it may rewrite the bytes
     * but not change their length, which the directory already told the guest. */
    void (*refresh)(void *opaque, struct fw_cfg_item *it);
    void *refresh_opaque;
};

struct fw_cfg {
    struct fw_cfg_item fixed[FW_CFG_NR_FIXED];
    struct fw_cfg_item arch[FW_CFG_NR_ARCH];
    struct fw_cfg_file *files; /* sorted by name once sealed */
    unsigned nr_files;
    struct fw_cfg_item dir; /* FW_CFG_FILE_DIR, built at seal time */
    bool sealed;
    /* Transfer state (the device's lock guards it). */
    uint16_t key;
    uint32_t offset;
};

void fw_cfg_init(struct fw_cfg *c);
void fw_cfg_free(struct fw_cfg *c);
/* A fixed or architecture key (copied). */
void fw_cfg_set(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len);
void fw_cfg_set_u16(struct fw_cfg *c, uint16_t key, uint16_t v); /* little-endian, as QEMU */
void fw_cfg_set_u32(struct fw_cfg *c, uint16_t key, uint32_t v);
void fw_cfg_set_u64(struct fw_cfg *c, uint16_t key, uint64_t v);
/* A named file (data copied, or taken over with fw_cfg_add_file_owned). Refuses a duplicate,
 * a name of FW_CFG_NAME_MAX bytes or more, and more than FW_CFG_MAX_FILES files. */
int fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len,
                    struct verr *err);
int fw_cfg_add_file_owned(struct fw_cfg *c, const char *name, void *data, uint32_t len,
                          struct verr *err);
/* Sets file name's refresh callback (fw_cfg_file.refresh). */
void fw_cfg_set_refresh(struct fw_cfg *c, const char *name,
                        void (*fn)(void *opaque, struct fw_cfg_item *it), void *opaque);
/* The file named name, or NULL. */
const struct fw_cfg_file *fw_cfg_find_file(const struct fw_cfg *c, const char *name);
/* Sorts the files, gives their selectors and builds the directory. */
void fw_cfg_seal(struct fw_cfg *c);

/* The guest's side (the caller holds the device's lock). */
void fw_cfg_select(struct fw_cfg *c, uint16_t key);
uint8_t fw_cfg_read_byte(struct fw_cfg *c);
/*
 * Runs the DMA request whose FWCfgDmaAccess (big-endian control, length, address) is at guest
 * address desc, and writes its status back there (control 0, or FW_CFG_DMA_ERROR). Everything
 * is bounds-checked against guest RAM; nothing outside it is read or written. Returns 0, or
 * -EFAULT when the descriptor itself is not in RAM (nothing written then).
 */
int fw_cfg_dma(struct fw_cfg *c, const struct guest_mem *gm, uint64_t desc);

/* The fw_cfg_io device's store, for the machine to fill (vm->devices holds the device). */
struct device;
struct fw_cfg *fw_cfg_of(struct device *dev);

#endif
