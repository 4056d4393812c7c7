/*
 * The poweroff test (last, and not together with reset): enter ACPI S5 the
 * way an OS does. The sleep type comes from the DSDT's \_S5 package; the
 * write goes to PM1a control (SLP_TYP in bits 10-12, SLP_EN bit 13) or,
 * on a hardware-reduced platform, to the FADT's sleep control register
 * (SLP_TYP in bits 2-4, SLP_EN bit 5). The VMM must then end with status
 * 0 right after the guest's "# poweroff:" line (run-guest --poweroff); if
 * the guest is still running seconds later the test fails.
 */
#include "guest.h"
#include "lib/io.h"
#include "lib/libc.h"

#define POWEROFF_WAIT (4 * TSC_SEC)

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)(uintptr_t)a;
}

/* Finds Name(_S5_, Package() { typ, ... }) in the DSDT's AML and returns
 * the first element (SLP_TYPa), or -1. A byte-pattern parse, as early OS
 * code does: NameOp (0x08), optional root prefix, "_S5_", PackageOp
 * (0x12), a PkgLength of 1-4 bytes, NumElements, then a ZeroOp, OneOp or
 * BytePrefix (0x0A) constant. */
static int find_s5(uint64_t dsdt, uint32_t len)
{
    for (uint32_t i = 36 + 1; i + 4 + 5 < len; i++) {
        uint64_t p = dsdt + i;
        if (rd8(p) != '_' || rd8(p + 1) != 'S' || rd8(p + 2) != '5' || rd8(p + 3) != '_')
            continue;
        uint8_t before = rd8(p - 1);
        if (before != 0x08 && !(before == '\\' && rd8(p - 2) == 0x08))
            continue;
        uint64_t q = p + 4;
        if (rd8(q) != 0x12)
            continue;
        q += 1 + (rd8(q + 1) >> 6) + 1; /* PackageOp, PkgLength */
        q++;                            /* NumElements */
        if (q >= dsdt + len)
            return -1;
        switch (rd8(q)) {
        case 0x00:
            return 0;
        case 0x01:
            return 1;
        case 0x0a:
            return rd8(q + 1);
        default:
            return -1;
        }
    }
    return -1;
}

void test_poweroff(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct acpi_table_ref *fadt = g->have_acpi ? acpi_find(&g->acpi, "FACP") : 0;
    if (!tap_ok(t, fadt && g->acpi.dsdt, "poweroff: FADT and DSDT present"))
        return;
    int typ = find_s5(g->acpi.dsdt, g->acpi.dsdt_len);
    if (!tap_ok(t, typ >= 0 && typ < 8, "poweroff: DSDT defines \\_S5 (SLP_TYP %d)", typ))
        return;

    struct fadt_info f;
    acpi_parse_fadt(fadt, &f);
    const volatile uint8_t *fa = (const volatile uint8_t *)(uintptr_t)fadt->addr;
    uint32_t pm1a_cnt = fadt->len >= 68 ? *(const volatile uint32_t *)(fa + 64) : 0;
    uint8_t sleep_space = 0;
    uint64_t sleep_addr = 0;
    if (fadt->len >= 256) {
        sleep_space = fa[244];
        sleep_addr = *(const volatile uint64_t *)(fa + 248);
    }
    if (f.hw_reduced || !pm1a_cnt) {
        if (!tap_ok(t, sleep_addr && (sleep_space == 0 || sleep_space == 1),
                    "poweroff: sleep control register at %s 0x%lx",
                    sleep_space ? "port" : "address", sleep_addr))
            return;
        tap_diag(t, "poweroff: writing SLP_TYP %d | SLP_EN to the sleep control register", typ);
        for (int i = 0; i < 100000 && !(serial_read_reg(&g->uart, UART_LSR) & UART_LSR_TEMT); i++)
            ;
        uint8_t v = (uint8_t)((typ << 2) | (1 << 5));
        if (sleep_space == 1)
            outb((uint16_t)sleep_addr, v);
        else
            mmio_write8(sleep_addr, v);
    } else {
        tap_diag(t, "poweroff: writing SLP_TYP %d | SLP_EN to PM1a control at port 0x%x", typ,
                 pm1a_cnt);
        for (int i = 0; i < 100000 && !(serial_read_reg(&g->uart, UART_LSR) & UART_LSR_TEMT); i++)
            ;
        outw((uint16_t)pm1a_cnt, (uint16_t)((typ << 10) | (1 << 13)));
    }
    tsc_delay(POWEROFF_WAIT);
    tap_ok(t, false, "poweroff: the guest is still running after entering S5");
}
