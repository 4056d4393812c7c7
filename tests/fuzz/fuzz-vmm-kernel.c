/*
 * fuzz-vmm-kernel.c - the kernel-file parsers of vireo-vmm's loader
 * (bzImage setup header, ELF program headers and notes) on arbitrary bytes:
 * they must refuse or accept without reading out of bounds.
 */
#include "vmm/boot/loader.h"

#include <stddef.h>
#include <stdint.h>

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
    return 0;
}
