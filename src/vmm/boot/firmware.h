/*
 * firmware.h - firmware images for the machines that boot through firmware
 * (pc, q35): the BIOS (-bios, default SeaBIOS's bios-256k.bin) mapped
 * read-only just below 4 GiB with its last 128 KiB also at 0xE0000, and the
 * option ROMs and boot ROMs QEMU ships (linuxboot_dma.bin, pvh.bin...),
 * found by name in the directories Debian's QEMU looks in.
 *
 * A file that is missing, not a multiple of 64 KiB, larger than the 16 MiB
 * window below 4 GiB, or blank at the reset vector is refused with one line
 * naming it and saying which.
 */
#ifndef VIREO_VMM_BOOT_FIRMWARE_H
#define VIREO_VMM_BOOT_FIRMWARE_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

#define FIRMWARE_DEFAULT_BIOS "bios-256k.bin"
#define FIRMWARE_MAX_SIZE     (16u << 20)

struct fw_image {
    char *path;    /* where it was found */
    uint8_t *data; /* page-aligned private copy (guest ROM pages map it read-only) */
    uint64_t size;
};

/* The path of firmware file name: name itself when it holds a '/', else the first match in
 * the data directories (VIREO_FIRMWARE_DIR if set, /usr/share/seabios, /usr/share/qemu).
 * malloc'd, or NULL when not found. */
char *firmware_find(const char *name);
/* Loads a BIOS image (name as -bios takes it; NULL: the default). */
int firmware_load_bios(const char *name, struct fw_image *img, struct verr *err);
/* Loads any firmware file whole (option ROMs), up to max bytes. */
int firmware_load_file(const char *name, uint64_t max, struct fw_image *img, struct verr *err);
void fw_image_free(struct fw_image *img);
/* The firmware descriptor (QEMU's firmware.json files in /usr/share/qemu/firmware and
 * /etc/qemu/firmware) that maps the image at path and lists "requires-smm" (malloc'd), or
 * NULL: such a build (OVMF with Secure Boot) needs SMM, which vireo-vmm's machines lack. */
char *firmware_requires_smm(const char *path);

#endif
