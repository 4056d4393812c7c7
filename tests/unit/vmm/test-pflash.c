/*
 * test-pflash.c - the CFI flash of -drive if=pflash (vmm/dev/pflash.c) through its access
 * functions, without a VM: a program, an erase and a buffer write reach the file at once and
 * touch nothing else; a read-only flash keeps its bytes and sets the status error bits; bad
 * sizes are refused with QEMU's line; accesses past the end are harmless. (The guest-driven
 * test with QEMU as the reference is tests/integration/vmm/test-pflash.py.)
 */
#include "../tap.h"
#include "vmm/dev/pflash.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZE (16u * PFLASH_SECTOR_SIZE)

static void wr(struct pflash *pf, uint64_t off, uint8_t v)
{
    pflash_write(pf, off, &v, 1);
}

static uint8_t rd(struct pflash *pf, uint64_t off)
{
    uint8_t v;
    pflash_read(pf, off, &v, 1);
    return v;
}

static char *make_file(size_t size, uint8_t *want)
{
    char *path = strdup("/tmp/vireo-pflash-XXXXXX");
    int fd = mkstemp(path);
    for (size_t i = 0; i < size; i++)
        want[i] = (uint8_t)(i * 13 + 1);
    if (fd < 0 || write(fd, want, size) != (ssize_t)size)
        abort();
    close(fd);
    return path;
}

static int file_equals(const char *path, const uint8_t *want, size_t size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *got = malloc(size + 1);
    size_t n = f ? fread(got, 1, size + 1, f) : 0;
    int same = n == size && memcmp(got, want, size) == 0;
    if (f)
        fclose(f);
    free(got);
    return same;
}

int main(void)
{
    static uint8_t want[SIZE];
    char *path = make_file(SIZE, want);
    struct pflash pf;
    struct verr err = {0};
    is_int(pflash_open(&pf, 1, path, false, &err), 0, "opens a 64 KiB file as pflash1");
    ok(!strcmp(pf.name, "pflash1") && pf.size == SIZE, "named pflash1, 64 KiB");

    /* Read array through the device (as when the read-only slot is unmapped). */
    ok(rd(&pf, 5) == want[5], "read array returns the file's bytes");

    /* CFI: QRY, block count and size, and 0 past the table. */
    wr(&pf, 0x55, 0x98);
    ok(rd(&pf, 0x10) == 'Q' && rd(&pf, 0x11) == 'R' && rd(&pf, 0x12) == 'Y', "CFI QRY");
    is_int(rd(&pf, 0x2d) | rd(&pf, 0x2e) << 8, 15, "CFI: 16 erase blocks (count - 1)");
    is_int((rd(&pf, 0x2f) | rd(&pf, 0x30) << 8) << 8, 4096, "CFI: 4 KiB blocks");
    is_int(rd(&pf, 0x27), 16, "CFI: device size 2^16");
    is_int(rd(&pf, 0x60), 0, "CFI: 0 past the table");
    wr(&pf, 0, 0xff);

    /* Program, erase, buffer write: in the file at once. */
    wr(&pf, 0x100, 0x40);
    wr(&pf, 0x100, 0xab);
    want[0x100] = 0xab;
    is_int(rd(&pf, 0), 0x80, "after a program, reads return the status (ready)");
    wr(&pf, 0, 0xff);
    ok(file_equals(path, want, SIZE), "byte program reached the file, nothing else changed");
    wr(&pf, 0x1234, 0x20);
    wr(&pf, 0x1234, 0xd0);
    memset(want + 0x1000, 0xff, 0x1000);
    wr(&pf, 0, 0xff);
    ok(file_equals(path, want, SIZE), "block erase blanked sector 1 in the file, only it");
    wr(&pf, 0x2000, 0xe8);
    wr(&pf, 0x2000, 1);
    wr(&pf, 0x2000, 0x11);
    wr(&pf, 0x2001, 0x22);
    wr(&pf, 0x2000, 0xd0);
    wr(&pf, 0, 0xff);
    want[0x2000] = 0x11;
    want[0x2001] = 0x22;
    ok(file_equals(path, want, SIZE), "write to buffer stored its two bytes");

    /* Status: clear, and an unknown command goes back to read array. */
    wr(&pf, 0, 0x50);
    wr(&pf, 0, 0x70);
    is_int(rd(&pf, 0), 0, "clear status: status 0");
    wr(&pf, 0, 0x33);
    ok(rd(&pf, 7) == want[7], "an unknown command returns to read array");

    /* Out-of-range accesses: nothing written, nothing read beyond. */
    wr(&pf, SIZE + 10, 0x40);
    wr(&pf, SIZE + 10, 0x00);
    uint8_t big[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    wr(&pf, SIZE - 2, 0x40);
    pflash_write(&pf, SIZE - 2, big, 8);
    want[SIZE - 2] = 1;
    want[SIZE - 1] = 2;
    wr(&pf, 0, 0xff);
    ok(file_equals(path, want, SIZE), "a program across the end stops at the end");
    pflash_reset(&pf);
    pflash_close(&pf);

    /* Read-only: errors in the status, bytes kept. */
    is_int(pflash_open(&pf, 0, path, true, &err), 0, "opens read-only as pflash0");
    wr(&pf, 0x10, 0x40);
    wr(&pf, 0x10, 0x00);
    uint8_t st = rd(&pf, 0);
    wr(&pf, 0, 0x50);
    wr(&pf, 0, 0x20);
    wr(&pf, 0, 0xd0);
    wr(&pf, 0, 0x70);
    uint8_t est = rd(&pf, 0);
    wr(&pf, 0, 0xff);
    ok((st & 0x90) == 0x90 && (est & 0xa0) == 0xa0, "read-only: program 0x%02x, erase 0x%02x", st,
       est);
    ok(file_equals(path, want, SIZE), "read-only: the file is unchanged");
    pflash_close(&pf);

    /* Bad sizes. */
    if (truncate(path, 5000) < 0)
        abort();
    int r = pflash_open(&pf, 0, path, true, &err);
    ok(r == -EINVAL && strstr(verr_msg(&err), "has invalid size 5000"), "5000 bytes: %s",
       verr_msg(&err));
    pflash_close(&pf);
    if (truncate(path, 0) < 0)
        abort();
    r = pflash_open(&pf, 0, path, true, &err);
    ok(r == -EINVAL, "an empty file is refused: %s", verr_msg(&err));
    pflash_close(&pf);
    unlink(path);
    r = pflash_open(&pf, 0, path, true, &err);
    ok(r == -ENOENT, "a missing file is refused: %s", verr_msg(&err));
    pflash_close(&pf);
    free(path);
    return tap_done();
}
