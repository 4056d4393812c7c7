/*
 * bzimage.c - reads the Linux x86 boot protocol's setup header
 * (Documentation/arch/x86/boot.rst). Only what a 64-bit-entry loader needs is
 * kept; everything read is bounds-checked against the bytes given.
 */
#include "vmm/boot/bytes.h"
#include "vmm/boot/loader.h"

#include <errno.h>

#define XLF_KERNEL_64 (1u << 0)
#define LOADED_HIGH   (1u << 0)

bool bzimage_detect(const uint8_t *buf, size_t len)
{
    return len >= 0x208 && get16(buf + 0x1fe) == 0xaa55 && memcmp(buf + 0x202, "HdrS", 4) == 0;
}

int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_header *h, const char *name,
                  struct verr *err)
{
    memset(h, 0, sizeof(*h));
    if (!bzimage_detect(buf, len))
        return verr_set(err, EINVAL, "'%s': not a bzImage (no boot flag or HdrS signature)", name);
    h->version = get16(buf + 0x206);
    if (h->version < 0x020c)
        return verr_set(err, ENOEXEC,
                        "'%s': Linux boot protocol %u.%02u is too old (2.12 or later is needed "
                        "for the 64-bit entry)",
                        name, h->version >> 8, h->version & 0xff);
    if (len < 0x268)
        return verr_set(err, EINVAL, "'%s': truncated setup header", name);
    h->header_end = 0x202 + (size_t)buf[0x201];
    if (h->header_end > len || h->header_end < 0x268)
        return verr_set(err, EINVAL, "'%s': setup header length 0x%zx is invalid", name,
                        h->header_end);
    h->setup_sects = buf[0x1f1] ? buf[0x1f1] : 4;
    h->setup_bytes = (uint64_t)(h->setup_sects + 1) * 512;
    h->loadflags = buf[0x211];
    h->xloadflags = get16(buf + 0x236);
    h->initrd_addr_max = get32(buf + 0x22c);
    h->kernel_alignment = get32(buf + 0x230);
    h->cmdline_size = get32(buf + 0x238);
    h->payload_offset = get32(buf + 0x248);
    h->payload_length = get32(buf + 0x24c);
    h->pref_address = get64(buf + 0x258);
    h->init_size = get32(buf + 0x260);
    if (!(h->xloadflags & XLF_KERNEL_64))
        return verr_set(err, ENOEXEC,
                        "'%s': this bzImage has no 64-bit entry point (32-bit kernel?)", name);
    if (!(h->loadflags & LOADED_HIGH))
        return verr_set(err, ENOEXEC, "'%s': zImage kernels (loaded low) are not supported", name);
    if (h->cmdline_size == 0)
        h->cmdline_size = 255;
    return 0;
}
