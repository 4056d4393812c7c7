/*
 * fuzz-vmm-kernel.c - the kernel-file parsers of vireo-vmm's loader
 * (bzImage setup header, ELF program headers and notes) on arbitrary bytes:
 * they must refuse or accept without reading out of bounds; and the fw_cfg
 * items -kernel makes from them on pc/q35 (boot/fwkernel.c).
 */
#include "util/buf.h"
#include "vmm/boot/fwkernel.h"
#include "vmm/boot/loader.h"
#include "vmm/dev/fw-cfg.h"

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
    /* pc/q35: the items from a copy (the bzImage header is patched in place). */
    struct buf b = BUF_INIT;
    buf_append(&b, data, size);
    struct fw_cfg fc;
    struct fwkernel k;
    fw_cfg_init(&fc);
    if (fwkernel_items(&k, &fc, 64u << 20, "fuzz", &b, NULL, "console=ttyS0 vga=ext", &err) == 0)
        fwkernel_free(&k);
    fw_cfg_free(&fc);
    buf_free(&b);
    return 0;
}
