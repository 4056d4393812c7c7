/*
 * fuzz-smbios.c - -smbios file= structures (vmm/boot/smbios.c): arbitrary bytes go through
 * smbios_check_structures, and what it accepts is built into the tables with the defaults.
 * The result must be well formed again (every structure within the table, its strings
 * ending in two NULs), and the anchor must count what the table holds.
 */
#include "vmm/boot/smbios.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t types;
    struct verr err = {0};
    if (smbios_check_structures(data, size, &types, &err) < 0)
        return 0;
    struct smbios_config c = {0};
    buf_append(&c.files[0], data, size);
    c.nr_files = 1;
    static const uint8_t uuid[16] = {1, 2, 3};
    struct smbios_machine m = {
        .product = "Standard PC (Q35 + ICH9, 2009)",
        .version = "pc-q35-7.2",
        .uuid = uuid,
        .ram_size = 5ull << 30,
        .ram_below_4g = 2ull << 30,
        .ram_above_4g = 3ull << 30,
        .sockets = 2,
        .cores = 2,
        .threads = 2,
    };
    struct buf t = BUF_INIT, a = BUF_INIT;
    smbios_build(&c, &m, &t, &a);
    uint64_t out_types;
    if (smbios_check_structures((const uint8_t *)t.data, t.len, &out_types, &err) < 0)
        abort();
    const uint8_t *ep = (const uint8_t *)a.data;
    if (a.len != 31 || (size_t)(ep[22] | ep[23] << 8) != (t.len & 0xffff) ||
        !(out_types & (1ull << 1)))
        abort();
    buf_free(&t);
    buf_free(&a);
    smbios_config_free(&c);
    return 0;
}
