/*
 * fuzz-fw-cfg.c - drives fw_cfg's guest side (vmm/dev/fw-cfg.c) with what a
 * guest controls: selector writes, data port reads and DMA requests whose
 * descriptor and buffers lie anywhere, in a 64 KiB fake RAM. The store holds
 * what a pc machine's holds in kind: fixed keys, an architecture key, files
 * (one empty, one with a refresh callback that rewrites its bytes, as the
 * ACPI tables' does) and the directory. The input's first 64 bytes are 16
 * operations of 4 bytes (operation, then a 16-bit argument and a modifier);
 * the rest fills RAM. ASan catches a transfer outside RAM or an item.
 */
#include "vmm/dev/fw-cfg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (64 * 1024)
#define OPS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void refresh(void *opaque, struct fw_cfg_item *it)
{
    unsigned *calls = opaque;
    (*calls)++;
    for (uint32_t i = 0; i < it->len; i++)
        it->data[i] = (uint8_t)(it->data[i] + *calls);
}

static void build(struct fw_cfg *c, unsigned *calls)
{
    static const uint8_t table[300] = {1, 2, 3};
    fw_cfg_init(c);
    fw_cfg_set(c, FW_CFG_SIGNATURE, "QEMU", 4);
    fw_cfg_set_u32(c, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    fw_cfg_set_u64(c, FW_CFG_RAM_SIZE, RAM);
    fw_cfg_set_u16(c, FW_CFG_NB_CPUS, 2);
    fw_cfg_set(c, FW_CFG_E820_TABLE, table, 20);
    struct verr err = {0};
    (void)fw_cfg_add_file(c, "etc/acpi/tables", table, sizeof(table), &err);
    (void)fw_cfg_add_file(c, "bootorder", "/pci@i0cf8/scsi@3/disk@0,0\n", 27, &err);
    (void)fw_cfg_add_file(c, "etc/empty", NULL, 0, &err);
    (void)fw_cfg_add_file(c, "etc/boot-fail-wait", "\x05\x00\x00\x00", 4, &err);
    fw_cfg_set_refresh(c, "etc/acpi/tables", refresh, calls);
    fw_cfg_seal(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < OPS * 4)
        return 0;
    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, data + OPS * 4, size - OPS * 4 < RAM ? size - OPS * 4 : RAM);
    struct guest_mem gm = {0};
    guest_mem_layout(&gm, ram, RAM);
    struct fw_cfg c;
    unsigned calls = 0;
    build(&c, &calls);
    unsigned sum = 0;
    for (unsigned i = 0; i < OPS; i++) {
        const uint8_t *op = data + i * 4;
        uint16_t arg = (uint16_t)(op[1] | op[2] << 8);
        switch (op[0] % 3) {
        case 0: /* selector write */
            fw_cfg_select(&c, arg);
            break;
        case 1: /* data port reads, past the item's end too */
            for (unsigned n = 0; n < (unsigned)op[3] + 1; n++)
                sum += fw_cfg_read_byte(&c);
            break;
        default: { /* a DMA request: the descriptor mostly in RAM, sometimes anywhere */
            uint64_t desc = arg;
            if (op[3] & 1)
                desc |= (uint64_t)op[3] << 24;
            if (op[3] & 2)
                desc = UINT64_MAX - arg;
            (void)fw_cfg_dma(&c, &gm, desc);
            break;
        }
        }
    }
    fw_cfg_free(&c);
    free(ram);
    volatile unsigned sink = sum; /* the reads stay */
    (void)sink;
    return 0;
}
