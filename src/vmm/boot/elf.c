/*
 * elf.c - reads the parts of an ELF kernel a PVH or vmlinux loader needs:
 * the class, the entry, the PT_LOAD segments and the Xen PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner "Xen"). 32- and 64-bit ELF are
 * both accepted, as QEMU does for PVH. All offsets come from the file and are
 * checked against its size before use.
 */
#include "vmm/boot/bytes.h"
#include "vmm/boot/loader.h"

#include <errno.h>
#include <stdlib.h>

#define PT_LOAD                  1
#define PT_NOTE                  4
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define NOTE_MAX_BYTES           (64 * 1024)
#define PHDR_MAX                 128

bool elf_detect(const uint8_t *buf, size_t len)
{
    return len >= 4 && memcmp(buf,
                              "\x7f"
                              "ELF",
                              4) == 0;
}

static void scan_notes(const uint8_t *n, size_t len, struct elf_info *info)
{
    size_t off = 0;
    while (len - off >= 12) {
        uint32_t namesz = get32(n + off), descsz = get32(n + off + 4), type = get32(n + off + 8);
        off += 12;
        size_t name_pad = ((size_t)namesz + 3) & ~(size_t)3;
        size_t desc_pad = ((size_t)descsz + 3) & ~(size_t)3;
        if (name_pad > len - off || desc_pad > len - off - name_pad)
            return;
        const uint8_t *name = n + off, *desc = n + off + name_pad;
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
            descsz >= 4) {
            info->has_pvh = true;
            info->pvh_entry = get32(desc);
        }
        off += name_pad + desc_pad;
    }
}

int elf_parse(const struct boot_file *f, struct elf_info *info, struct verr *err)
{
    uint8_t eh[64];
    memset(info, 0, sizeof(*info));
    if (f->size < 52)
        return verr_set(err, EINVAL, "'%s': truncated ELF header", f->name);
    int r = boot_file_read(f, 0, eh, f->size < 64 ? 52 : 64, err);
    if (r < 0)
        return r;
    if (!elf_detect(eh, sizeof(eh)))
        return verr_set(err, EINVAL, "'%s': not an ELF file", f->name);
    if (eh[4] != 1 && eh[4] != 2)
        return verr_set(err, EINVAL, "'%s': unknown ELF class %u", f->name, eh[4]);
    info->is64 = eh[4] == 2;
    if (eh[5] != 1)
        return verr_set(err, ENOEXEC, "'%s': big-endian ELF is not an x86 kernel", f->name);
    if (info->is64 && f->size < 64)
        return verr_set(err, EINVAL, "'%s': truncated ELF header", f->name);
    uint16_t type = get16(eh + 16), machine = get16(eh + 18);
    if (type != 2)
        return verr_set(err, ENOEXEC, "'%s': ELF type %u is not an executable", f->name, type);
    if (machine != 62 && machine != 3)
        return verr_set(err, ENOEXEC, "'%s': ELF machine %u is not x86", f->name, machine);
    uint64_t phoff;
    unsigned phentsize, phnum;
    if (info->is64) {
        info->entry = get64(eh + 24);
        phoff = get64(eh + 32);
        phentsize = get16(eh + 54);
        phnum = get16(eh + 56);
    } else {
        info->entry = get32(eh + 24);
        phoff = get32(eh + 28);
        phentsize = get16(eh + 42);
        phnum = get16(eh + 44);
    }
    unsigned want = info->is64 ? 56 : 32;
    if (phentsize != want)
        return verr_set(err, EINVAL, "'%s': ELF program header size %u (expected %u)", f->name,
                        phentsize, want);
    if (phnum == 0 || phnum > PHDR_MAX)
        return verr_set(err, EINVAL, "'%s': ELF has %u program headers", f->name, phnum);
    if (phoff > f->size || (uint64_t)phnum * phentsize > f->size - phoff)
        return verr_set(err, EINVAL, "'%s': ELF program headers lie outside the file", f->name);

    for (unsigned i = 0; i < phnum; i++) {
        uint8_t ph[56];
        r = boot_file_read(f, phoff + (uint64_t)i * phentsize, ph, phentsize, err);
        if (r < 0)
            return r;
        uint32_t ptype = get32(ph);
        uint64_t offset, paddr, filesz, memsz;
        if (info->is64) {
            offset = get64(ph + 8);
            paddr = get64(ph + 24);
            filesz = get64(ph + 32);
            memsz = get64(ph + 40);
        } else {
            offset = get32(ph + 4);
            paddr = get32(ph + 12);
            filesz = get32(ph + 16);
            memsz = get32(ph + 20);
        }
        if (ptype != PT_LOAD && ptype != PT_NOTE)
            continue;
        if (offset > f->size || filesz > f->size - offset)
            return verr_set(err, EINVAL, "'%s': ELF segment %u lies outside the file", f->name, i);
        if (ptype == PT_NOTE) {
            if (filesz == 0 || filesz > NOTE_MAX_BYTES)
                continue;
            uint8_t *notes = malloc(filesz);
            if (!notes)
                return verr_set(err, ENOMEM, "'%s': out of memory reading notes", f->name);
            r = boot_file_read(f, offset, notes, filesz, err);
            if (r == 0)
                scan_notes(notes, filesz, info);
            free(notes);
            if (r < 0)
                return r;
            continue;
        }
        if (memsz == 0)
            continue;
        if (filesz > memsz)
            return verr_set(err, EINVAL,
                            "'%s': ELF segment %u is larger in the file than in memory", f->name,
                            i);
        if (paddr + memsz < paddr)
            return verr_set(err, EINVAL, "'%s': ELF segment %u wraps around", f->name, i);
        if (info->nr_segments == ELF_MAX_SEGMENTS)
            return verr_set(err, EINVAL, "'%s': more than %u loadable ELF segments", f->name,
                            ELF_MAX_SEGMENTS);
        info->segments[info->nr_segments++] = (struct elf_segment){offset, paddr, filesz, memsz};
    }
    if (info->nr_segments == 0)
        return verr_set(err, ENOEXEC, "'%s': ELF has no loadable segment", f->name);
    return 0;
}
