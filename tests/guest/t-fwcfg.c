/*
 * The fw_cfg test (pc and q35 only: QEMU's firmware configuration device on
 * I/O ports 0x510/0x511, DMA address at 0x514): the "QEMU" signature, the
 * DMA feature bit, the file directory, and one file the command line names
 * (fwcfg_file=NAME fwcfg_size=N fwcfg_crc32=HEX, as the host computed them
 * for its -fw_cfg name=NAME,file=...), read once through the data port and
 * once by a DMA request, whose status must come back 0. A name the VMM does
 * not list, a wrong size or a wrong CRC fails.
 */
#include "guest.h"
#include "lib/crc32.h"
#include "lib/io.h"
#include "lib/libc.h"

#define FW_CFG_PORT_SEL  0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA  0x514
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_FILE_DIR  0x19
#define FW_CFG_ID_DMA    0x2
#define DMA_READ         0x02u
#define DMA_SELECT       0x08u
#define FILE_MAX         (64 * 1024)

static uint8_t buf[FILE_MAX];

/* FWCfgDmaAccess: every field big-endian. */
static struct {
    uint32_t control, length;
    uint64_t address;
} __attribute__((aligned(16))) dma;

static uint32_t be32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static void read_data(void *out, uint32_t n)
{
    uint8_t *p = out;
    for (uint32_t i = 0; i < n; i++)
        p[i] = inb(FW_CFG_PORT_DATA);
}

/* Looks name up in the directory: its size and selector; false when it is not there. */
static bool find_file(const char *name, uint32_t nlen, uint32_t *size, uint16_t *select)
{
    uint32_t count;
    outw(FW_CFG_PORT_SEL, FW_CFG_FILE_DIR);
    read_data(&count, 4);
    count = be32(count);
    for (uint32_t i = 0; i < count && i < 4096; i++) {
        struct {
            uint32_t size;
            uint16_t select, reserved;
            char name[56];
        } e;
        read_data(&e, sizeof(e));
        if (nlen < sizeof(e.name) && memcmp(e.name, name, nlen) == 0 && e.name[nlen] == '\0') {
            *size = be32(e.size);
            *select = __builtin_bswap16(e.select);
            return true;
        }
    }
    return false;
}

void test_fwcfg(struct guest *g)
{
    struct tap *t = &g->tap;
    char sig[5] = {0};
    outw(FW_CFG_PORT_SEL, FW_CFG_SIGNATURE);
    read_data(sig, 4);
    tap_ok(t, memcmp(sig, "QEMU", 4) == 0, "fwcfg: signature '%s' (want QEMU)", sig);
    uint32_t id;
    outw(FW_CFG_PORT_SEL, FW_CFG_ID);
    read_data(&id, 4);
    tap_ok(t, id & FW_CFG_ID_DMA, "fwcfg: feature bits 0x%x include DMA", id);

    const char *name;
    uint32_t nlen;
    uint64_t want_size = 0, want_crc = 0;
    if (!param_str(g, "fwcfg_file", &name, &nlen) ||
        !param_u64(g, "fwcfg_size", false, false, &want_size) ||
        !param_u64(g, "fwcfg_crc32", false, true, &want_crc)) {
        tap_ok(t, false, "fwcfg: needs fwcfg_file=, fwcfg_size= and fwcfg_crc32=");
        return;
    }
    uint32_t size = 0;
    uint16_t select = 0;
    bool found = find_file(name, nlen, &size, &select);
    tap_ok(t, found && size == want_size, "fwcfg: directory lists the file, %u bytes (want %lu)",
           size, want_size);
    if (!found || size > FILE_MAX)
        return;

    outw(FW_CFG_PORT_SEL, select);
    read_data(buf, size);
    uint32_t crc = crc32_update(0, buf, size);
    tap_ok(t, crc == want_crc, "fwcfg: data port read, crc32 %08x (want %08lx)", crc, want_crc);

    for (uint32_t i = 0; i < size; i++)
        buf[i] = 0;
    dma.control = be32((uint32_t)select << 16 | DMA_SELECT | DMA_READ);
    dma.length = be32(size);
    dma.address = __builtin_bswap64((uint64_t)(uintptr_t)buf);
    uint64_t at = (uint64_t)(uintptr_t)&dma;
    outl(FW_CFG_PORT_DMA, be32((uint32_t)(at >> 32)));
    outl(FW_CFG_PORT_DMA + 4, be32((uint32_t)at)); /* the low half starts the transfer */
    uint32_t status = be32(*(volatile uint32_t *)&dma.control);
    crc = crc32_update(0, buf, size);
    tap_ok(t, status == 0 && crc == want_crc, "fwcfg: DMA read, status 0x%x, crc32 %08x", status,
           crc);
}
