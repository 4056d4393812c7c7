/*
 * The pflash test (pc and q35 with -drive if=pflash; tests=pflash): drives
 * the CFI flash (QEMU's pflash_cfi01, Intel command set, byte wide) the way
 * OVMF's flash driver does, on the variable store pflash1 at pflash_base=HEX
 * (pflash_size=HEX bytes), and on the read-only code flash at
 * pflash0_base=HEX. The host fills pflash1's file with byte i = (i * 7 + 3)
 * & 0xff before the run and checks the file after it: bytes 0x1000-0x1007
 * programmed one by one (0x40) and 0x1010-0x1013 (0x10), sector 0x2000
 * erased (0x20 + 0xD0), bytes 0x3000-0x3003 through the write buffer (0xE8),
 * and everything else unchanged. Each step prints a "# pflash:" line with
 * the values read, which the host compares between vireo-vmm and QEMU.
 */
#include "guest.h"
#include "lib/io.h"
#include "lib/libc.h"

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 7 + 3);
}

static void cmd(uint64_t base, uint64_t off, uint8_t c)
{
    mmio_write8(base + off, c);
}

static uint8_t status(uint64_t base)
{
    cmd(base, 0, 0x70);
    return mmio_read8(base);
}

void test_pflash(struct guest *g)
{
    struct tap *t = &g->tap;
    uint64_t base = 0, size = 0, base0 = 0;
    if (!param_u64(g, "pflash_base", false, true, &base) ||
        !param_u64(g, "pflash_size", false, true, &size) ||
        !param_u64(g, "pflash0_base", false, true, &base0) || size < 0x4000) {
        tap_ok(t, false,
               "pflash: needs pflash_base=, pflash_size= (16 KiB at least) and "
               "pflash0_base=");
        return;
    }

    /* Read-array mode: the file's bytes, straight from memory. */
    bool same = true;
    for (uint64_t i = 0; i < 256; i++)
        same &= mmio_read8(base + i) == pattern(i);
    uint32_t word = mmio_read32(base + 0x100);
    tap_diag(t, "pflash: array word at 0x100: %08x", word);
    tap_ok(t, same, "pflash: read array shows the file's first 256 bytes");

    /* CFI query (0x98 at 0x55 as a CFI driver writes it), then back to read array. */
    cmd(base, 0x55, 0x98);
    char qry[4] = {(char)mmio_read8(base + 0x10), (char)mmio_read8(base + 0x11),
                   (char)mmio_read8(base + 0x12), 0};
    tap_printf(t, "# pflash: cfi");
    for (unsigned i = 0x10; i < 0x40; i++)
        tap_printf(t, " %02x", mmio_read8(base + i));
    tap_printf(t, "\n");
    uint32_t erase_blocks = (uint32_t)mmio_read8(base + 0x2d) | mmio_read8(base + 0x2e) << 8;
    uint32_t erase_size = ((uint32_t)mmio_read8(base + 0x2f) | mmio_read8(base + 0x30) << 8) << 8;
    tap_diag(t, "pflash: cfi beyond the table: %02x, wide read %08x", mmio_read8(base + 0x60),
             mmio_read32(base + 0x10));
    cmd(base, 0, 0xff);
    tap_ok(t, memcmp(qry, "QRY", 3) == 0 && (erase_blocks + 1) * erase_size == size,
           "pflash: CFI query: '%s', %u blocks of %u bytes (want %lu bytes)", qry, erase_blocks + 1,
           erase_size, size);
    tap_ok(t, mmio_read8(base) == pattern(0), "pflash: 0xFF returns to read array");

    /* Read identifier, status register, clear status. */
    cmd(base, 0, 0x90);
    tap_diag(t, "pflash: id %02x %02x %02x, wide %08x", mmio_read8(base), mmio_read8(base + 1),
             mmio_read8(base + 2), mmio_read32(base));
    uint8_t st0 = status(base);
    tap_diag(t, "pflash: status after reset %02x, wide %08x", st0, mmio_read32(base));
    cmd(base, 0, 0x50);
    tap_diag(t, "pflash: after clear status, reads %02x (array)", mmio_read8(base));
    tap_diag(t, "pflash: status after clear %02x", status(base));
    cmd(base, 0, 0xff);

    /* Byte program, 0x40 and 0x10, status read between. */
    for (unsigned i = 0; i < 8; i++) {
        cmd(base, 0x1000 + i, 0x40);
        mmio_write8(base + 0x1000 + i, (uint8_t)(0xa0 + i));
    }
    uint8_t st = mmio_read8(base + 0x1000); /* still the status: program leaves it there */
    cmd(base, 0, 0x10);
    mmio_write32(base + 0x1010, 0x44332211u);
    cmd(base, 0, 0xff);
    bool programmed = true;
    for (unsigned i = 0; i < 8; i++)
        programmed &= mmio_read8(base + 0x1000 + i) == 0xa0 + i;
    uint32_t w = mmio_read32(base + 0x1010);
    tap_diag(t, "pflash: after program: status %02x, bytes %02x %02x, word %08x", st,
             mmio_read8(base + 0x1000), mmio_read8(base + 0x1007), w);
    tap_ok(t, programmed && w == 0x44332211u && (st & 0x80) && !(st & 0x30),
           "pflash: byte program (0x40, 0x10) reads back, status %02x ready without errors", st);

    /* Block erase of the sector holding 0x2010. */
    cmd(base, 0x2010, 0x20);
    cmd(base, 0x2010, 0xd0);
    st = status(base);
    cmd(base, 0, 0xff);
    bool erased = true;
    for (unsigned i = 0; i < 4096; i++)
        erased &= mmio_read8(base + 0x2000 + i) == 0xff;
    bool neighbours = mmio_read8(base + 0x1fff) == pattern(0x1fff) &&
                      mmio_read8(base + 0x3fff) == pattern(0x3fff);
    tap_diag(t, "pflash: after erase: status %02x", st);
    tap_ok(t, erased && neighbours && (st & 0x80),
           "pflash: block erase (0x20, 0xD0) blanks one 4 KiB sector and only it");

    /* Write to buffer: 0xE8, count - 1, the bytes, confirm. */
    cmd(base, 0x3000, 0xe8);
    uint8_t xsr = mmio_read8(base + 0x3000);
    cmd(base, 0x3000, 3);
    for (unsigned i = 0; i < 4; i++)
        mmio_write8(base + 0x3000 + i, (uint8_t)(0x5a ^ i));
    cmd(base, 0x3000, 0xd0);
    cmd(base, 0, 0xff);
    w = mmio_read32(base + 0x3000);
    tap_diag(t, "pflash: after buffer write: xsr %02x word %08x", xsr, w);
    tap_ok(t, w == 0x59585b5au, "pflash: write to buffer (0xE8) stores 4 bytes");

    /* The read-only code flash refuses program and erase with the error bits. */
    uint8_t before = mmio_read8(base0 + 0x100);
    cmd(base0, 0, 0x50);
    cmd(base0, 0x100, 0x40);
    mmio_write8(base0 + 0x100, (uint8_t)~before);
    uint8_t pst = status(base0);
    cmd(base0, 0, 0x50);
    cmd(base0, 0, 0x20);
    cmd(base0, 0, 0xd0);
    uint8_t est = status(base0);
    cmd(base0, 0, 0x50);
    cmd(base0, 0, 0xff);
    uint8_t after = mmio_read8(base0 + 0x100);
    tap_diag(t, "pflash: read-only flash: program status %02x, erase status %02x", pst, est);
    tap_ok(t, after == before && (pst & 0x10) && (est & 0x20),
           "pflash: pflash0 (readonly=on) keeps its bytes and reports the errors");
}
