/*
 * fuzz-piix-ide.c - drives pc's PIIX3 IDE controller (vmm/dev/piix-ide.c)
 * with arbitrary accesses to its legacy ports and its bus-master registers,
 * over arbitrary guest memory (the PRD tables and the buffers they name are
 * the guest's): the task file, PIO data in and out, ATAPI packets and their
 * byte count limits, SRST, and DMA, with drives answering through ata.c on
 * real 64 KiB image files.
 *
 * Input: byte 0 chooses the drives (bits 0-1: primary master none / disk /
 * CD-ROM / empty CD drive; bits 2-3: the secondary master; bits 4-5: the
 * primary slave); bytes 1-2 N; then N operations of 4 bytes (where: 0-7 the
 * primary command block, 8 its device control, 9-16 and 17 the secondary's,
 * 18-33 BAR 4; value, 16 bits; flags: bit 0 a write, bit 1 a 16-bit access,
 * bit 2 a 32-bit access of value:value); then the first 64 KiB of guest RAM.
 * After the run each disk image keeps its size.
 */
#include "vmm/backends.h"
#include "vmm/dev/ata.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/piix-ide.h"
#include "vmm/kvm/memory.h"
#include "vmm/vm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM   (64 * 1024)
#define IMAGE 65536

struct drive {
    struct ata_drive ata;
    struct vmm_drive dr; /* the block device keeps a pointer to it: it lives as long */
    struct blockdev *b;
    char path[4096];
    bool on;
};

static void media(void *opaque, bool load)
{
    struct ata_drive *d = opaque;
    scsi_lun_media_changed(&d->lun, load);
}

/* kind: 1 a disk, 2 a CD-ROM with a medium, 3 an empty CD drive. */
static void drive_open(struct drive *d, unsigned kind, unsigned index)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(d->path, sizeof(d->path), "%s/fuzz-piix-ide-XXXXXX", dir);
    int fd = mkstemp(d->path);
    if (fd < 0 || ftruncate(fd, IMAGE) < 0)
        abort();
    close(fd);
    bool cd = kind >= 2;
    d->dr = (struct vmm_drive){
        .id = "d", .file = kind == 3 ? NULL : d->path, .format = "raw", .read_only = cd};
    static const struct blockdev_dev_ops fixed = {0};
    static const struct blockdev_dev_ops removable = {
        .removable = true, .has_tray = true, .change_media = media};
    struct verr err = {0};
    if (blockdev_open(NULL, &d->dr, "dev", cd ? &removable : &fixed, &d->ata, &d->b, &err) < 0)
        abort();
    struct ata_drive_config ac = {.cd = cd, .index = index, .write_cache = true};
    ata_drive_init(&d->ata, &ac, d->b, "d");
    d->on = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t n = (size_t)(data[1] | data[2] << 8);
    const uint8_t *ops = data + 3;
    if (n > (size - 3) / 4)
        n = (size - 3) / 4;
    const uint8_t *mem = ops + 4 * n;
    size_t memlen = size - 3 - 4 * n;

    struct vm *vm = calloc(1, sizeof(*vm));
    vm->kvm.vm_fd = -1; /* the IRQ lines go nowhere */
    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, mem, memlen < RAM ? memlen : RAM);
    guest_mem_layout(&vm->mem, ram, RAM);
    struct piix_ide *c = piix_ide_new(vm);
    struct drive drives[3] = {0};
    static const unsigned place[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    struct verr err = {0};
    for (unsigned i = 0; i < 3; i++) {
        unsigned kind = (data[0] >> (2 * i)) & 3;
        if (!kind)
            continue;
        drive_open(&drives[i], kind, i);
        if (piix_ide_attach(c, place[i][0], place[i][1], &drives[i].ata, &err) < 0)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *o = ops + 4 * i;
        unsigned where = o[0] % 34;
        uint8_t v[4] = {o[1], o[2], o[1], o[2]};
        unsigned len = (o[3] & 4) ? 4 : (o[3] & 2) ? 2 : 1;
        bool write = o[3] & 1;
        if (where < 18) {
            static const uint16_t base[2] = {0x1f0, 0x170}, ctl[2] = {0x3f6, 0x376};
            unsigned ch = where / 9, reg = where % 9;
            uint16_t port = reg == 8 ? ctl[ch] : (uint16_t)(base[ch] + reg);
            piix_ide_port(c, port, v, reg == 0 ? len : 1, write);
        } else {
            unsigned off = (where - 18) % 16;
            piix_ide_bm(c, off, v, len > 16 - off ? 1 : len, write);
        }
    }
    for (unsigned i = 0; i < 3; i++) {
        if (!drives[i].on)
            continue;
        piix_ide_detach(c, place[i][0], place[i][1]);
        if (blockdev_inserted(drives[i].b) && blockdev_size(drives[i].b) != IMAGE)
            abort();
        ata_drive_destroy(&drives[i].ata);
        blockdev_close(drives[i].b);
        unlink(drives[i].path);
    }
    piix_ide_delete(c);
    free(ram);
    free(vm);
    return 0;
}
