/*
 * fuzz-vmm-kernel.c - the kernel-file parsers of vireo-vmm's loader
 * (bzImage setup header, ELF program headers and notes) on arbitrary bytes:
 * they must refuse or accept without reading out of bounds; and the fw_cfg
 * items -kernel makes from them on pc/q35 (boot/fwkernel.c), a Multiboot header's
 * included (boot/fwmultiboot.c), and the split of -initrd's Multiboot module list.
 */
#include "util/buf.h"
#include "vmm/boot/fwkernel.h"
#include "vmm/boot/fwmultiboot.h"
#include "vmm/boot/loader.h"
#include "vmm/dev/fw-cfg.h"

#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>

static int count_items(void *opaque, unsigned index, const char *item)
{
    (void)index;
    *(size_t *)opaque += strlen(item) + 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct verr err = {0};
    struct bzimage_header h;
    if (bzimage_detect(data, size))
        (void)bzimage_parse(data, size, &h, "fuzz", &err);
    struct boot_file f = {"fuzz", data, -1, size};
    struct elf_info info;
    if (elf_detect(data, size))
        (void)elf_parse(&f, &info, &err);
    /* pc/q35: the items from a copy (the bzImage header is patched in place). */
    struct buf b = BUF_INIT;
    buf_append(&b, data, size);
    struct fw_cfg fc;
    struct fwkernel k;
    fw_cfg_init(&fc);
    if (fwkernel_items(&k, &fc, 64u << 20, "fuzz", &b, NULL, "console=ttyS0 vga=ext", &err) == 0)
        fwkernel_free(&k);
    fw_cfg_free(&fc);
    /* Multiboot: a header anywhere in the first 8 KiB (the probe needs a valid checksum, so
     * the input's first 4 bytes are taken as flags and one is built at offset 64). */
    if (size >= 80) {
        buf_reset(&b);
        buf_append(&b, data, size);
        uint32_t flags = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                         (uint32_t)data[3] << 24;
        uint32_t words[3] = {0x1badb002u, flags, -(0x1badb002u + flags)};
        memcpy(b.data + 64, words, sizeof(words)); /* little-endian hosts only */
        fw_cfg_init(&fc);
        if (fwkernel_items(&k, &fc, 64u << 20, "fuzz", &b, NULL, "", &err) == 0)
            fwkernel_free(&k);
        fw_cfg_free(&fc);
    }
    /* -initrd's module list: ',' separates, ",," is a comma. */
    char *list = malloc(size + 1);
    if (list) {
        memcpy(list, data, size);
        list[size] = '\0';
        size_t total = 0;
        (void)fwmultiboot_split_modules(list, count_items, &total);
        free(list);
    }
    buf_free(&b);
    return 0;
}
