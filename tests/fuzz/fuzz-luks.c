/*
 * fuzz-luks.c - libFuzzer target for the LUKS1 header parser and the luks
 * format driver, fed untrusted image bytes.
 *
 * The input is a LUKS container's start (header and key material). It is
 * decoded as a header; when that succeeds, every slot is tried with the
 * passphrase "fuzz" (the seeds, made by qemu-img, open with it) after the
 * PBKDF2 iteration counts are capped, so a mutated count cannot stall the
 * run: key material reading, slot decryption, the anti-forensic merge and
 * the digest check all meet hostile bytes. Then the bytes become a memfd,
 * extended with zeroes to hold a payload, opened through the block layer
 * twice: metadata only (info), and with the key, reading and writing a few
 * sectors of the payload when it unlocks.
 */
#include "block/block.h"
#include "block/luks-header.h"
#include "block/secret.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_ITERS 8000u /* a few ms of PBKDF2: the seeds (qemu-img at iter-time=1) fit */

struct mem {
    const uint8_t *data;
    size_t size;
};

static int mem_read(void *o, void *buf, size_t len, uint64_t off, struct verr *err)
{
    const struct mem *m = o;
    if (off > m->size || len > m->size - off)
        return verr_set(err, EIO, "read past the end");
    memcpy(buf, m->data + off, len);
    return 0;
}

static int mem_write(void *o, const void *buf, size_t len, uint64_t off, struct verr *err)
{
    (void)o, (void)buf, (void)len, (void)off;
    return verr_set(err, EROFS, "read-only");
}

static void header_level(const uint8_t *data, size_t size)
{
    struct luks_header h;
    struct verr err;
    if (luks_header_decode(data, size, size, &h, &err) < 0)
        return;
    if (h.mk_iterations > MAX_ITERS)
        h.mk_iterations = MAX_ITERS;
    for (int i = 0; i < LUKS_SLOTS; i++)
        if (h.slots[i].iterations > MAX_ITERS)
            h.slots[i].iterations = MAX_ITERS;
    struct mem m = {data, size};
    struct luks_io io = {&m, mem_read, mem_write, size};
    uint8_t master[CRYPTO_MAX_KEY];
    luks_unlock(&h, &io, "fuzz", 4, master, NULL, &err);
    uint8_t enc[LUKS_HEADER_SIZE];
    luks_header_encode(&h, enc);
}

/* Only inputs whose counts are small go through the block layer, which
 * honours the header's counts as it must. */
static bool cheap(const uint8_t *data, size_t size, uint64_t *payload)
{
    struct luks_header h;
    if (luks_header_decode(data, size, size, &h, NULL) < 0 || h.mk_iterations > MAX_ITERS)
        return false;
    for (int i = 0; i < LUKS_SLOTS; i++)
        if (h.slots[i].active == LUKS_SLOT_ACTIVE && h.slots[i].iterations > MAX_ITERS)
            return false;
    *payload = (uint64_t)h.payload_offset * 512;
    return *payload <= (64u << 20);
}

static void block_level(const uint8_t *data, size_t size, uint64_t payload)
{
    int fd = memfd_create("fuzz-luks", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, data, size) != (ssize_t)size || ftruncate(fd, (off_t)(payload + 65536)) < 0) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct secret_store st = {0};
    secret_store_add(&st, "s", "fuzz", 4, NULL);
    struct block_keys keys = {&st, "s", NULL};
    struct verr err;
    struct block_dev *bd;
    struct block_open_opts info = {.read_only = true, .format = "luks", .no_io = true};
    if (block_open(path, &info, &bd, &err) == 0) {
        struct block_info bi;
        if (block_get_info(bd, &bi, &err) == 0)
            block_info_free(&bi);
        block_close(bd);
    }
    struct block_open_opts rw = {
        .format = "luks", .keys = &keys, .cache = BLOCK_CACHE_UNSAFE, .locking = BLOCK_LOCKING_OFF};
    if (block_open(path, &rw, &bd, &err) == 0) {
        uint8_t buf[1536];
        memset(buf, 0xa5, sizeof(buf));
        block_pwrite(bd, buf, 700, 300, &err);
        block_pread(bd, buf, sizeof(buf), 0, &err);
        block_write_zeroes(bd, 512, 4096, 0, &err);
        block_close(bd);
    }
    secret_store_clear(&st);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    header_level(data, size);
    uint64_t payload;
    if (cheap(data, size, &payload))
        block_level(data, size, payload);
    return 0;
}
