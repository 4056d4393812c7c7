/*
 * loader.h - puts a kernel into guest memory and says how the boot vCPU
 * must start.
 *
 * The kernel's format is detected from its bytes, never from its name:
 *  - a bzImage (Linux x86 boot protocol >= 2.12 with a 64-bit entry) is
 *    loaded at 1 MiB and entered at startup_64 in long mode with rsi = zero
 *    page, as Firecracker and cloud-hypervisor do (no real-mode setup code
 *    runs, which matters where real mode is emulated);
 *  - an ELF with a PVH note (XEN_ELFNOTE_PHYS32_ENTRY) is entered in 32-bit
 *    protected mode, paging off, with ebx = hvm_start_info;
 *  - an ELF vmlinux without that note is entered at e_entry in long mode with
 *    a zero page, as Firecracker loads it.
 * The loader also writes the platform tables (ACPI, MP) and the memory map,
 * so that reset can simply call it again.
 */
#ifndef VIREO_VMM_BOOT_LOADER_H
#define VIREO_VMM_BOOT_LOADER_H

#include "util/error.h"
#include "vmm/boot/acpi.h"
#include "vmm/kvm/memory.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kernel_format {
    KERNEL_FORMAT_UNKNOWN = 0,
    KERNEL_FORMAT_BZIMAGE,
    KERNEL_FORMAT_ELF_PVH,
    KERNEL_FORMAT_ELF_VMLINUX,
    KERNEL_FORMAT_MULTIBOOT, /* pc/q35 -kernel only, through multiboot_dma.bin */
};

enum boot_entry_mode {
    BOOT_ENTRY_PROTECTED32,  /* PVH: CR0.PE, paging off, ebx = start info */
    BOOT_ENTRY_LONG64,       /* Linux 64-bit boot protocol: rsi = zero page */
    BOOT_ENTRY_RESET_VECTOR, /* firmware machines: every vCPU at power-on state */
};

struct boot_config {
    const char *kernel_path;
    const char *initrd_path; /* or NULL */
    const char *cmdline;     /* never NULL */
    struct platform_desc platform;
};

struct boot_state {
    enum kernel_format format;
    enum boot_entry_mode mode;
    uint64_t entry;     /* rip */
    uint64_t info_addr; /* zero page (rsi) or hvm_start_info (ebx) */
    uint64_t rsdp;
    uint64_t kernel_end; /* first byte after the loaded kernel image */
    uint64_t initrd_addr, initrd_size;
};

const char *kernel_format_name(enum kernel_format f);

/* Loads everything. Errors are one line naming the file and the reason. */
int boot_load(const struct guest_mem *gm, const struct boot_config *cfg, struct boot_state *st,
              struct verr *err);

/* ---- parsers, exposed for unit tests and fuzzing (they read only) ---- */

/* A file being parsed: either bytes in memory or an open descriptor. */
struct boot_file {
    const char *name;
    const uint8_t *data; /* when not NULL, the whole file */
    int fd;
    uint64_t size;
};
int boot_file_read(const struct boot_file *f, uint64_t off, void *dst, size_t len,
                   struct verr *err);

#define BZIMAGE_HEADER_BYTES 0x1000 /* enough to hold any setup header */

struct bzimage_header {
    unsigned setup_sects;
    uint64_t setup_bytes; /* boot sector + setup code: where the protected-mode kernel starts */
    uint16_t version;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;
    uint32_t kernel_alignment;
    uint32_t init_size;
    uint64_t pref_address;
    uint32_t payload_offset, payload_length;
    size_t header_end; /* offset one past the setup header (0x202 + jump byte) */
};

/* True when the first bytes look like a bzImage (boot flag and "HdrS"). */
bool bzimage_detect(const uint8_t *buf, size_t len);
/* Parses and checks what vireo-vmm needs from the setup header. */
int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_header *h, const char *name,
                  struct verr *err);

#define ELF_MAX_SEGMENTS 32

struct elf_segment {
    uint64_t offset, paddr, filesz, memsz;
};

struct elf_info {
    bool is64;
    uint64_t entry; /* e_entry */
    bool has_pvh;
    uint32_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
    unsigned nr_segments;
    struct elf_segment segments[ELF_MAX_SEGMENTS]; /* PT_LOAD only */
};

bool elf_detect(const uint8_t *buf, size_t len);
int elf_parse(const struct boot_file *f, struct elf_info *info, struct verr *err);

#endif
