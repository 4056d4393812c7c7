/*
 * The reset test (always last). With reset=kbd|cf9|acpi the guest leaves a
 * marker in CMOS RAM (battery-backed on a PC, so it survives a reset),
 * then resets the machine: kbd writes 0xFE to the i8042 command port, cf9
 * writes the PCI reset control register, acpi writes the FADT's reset
 * value to its reset register. What must happen next is the harness's to
 * check (run-guest): without -no-reboot the VMM restarts the guest, which
 * finds the marker and reports the reset as passed, continuing the first
 * boot's TAP numbering; with -no-reboot the VMM exits with status 0 after
 * the "resetting" line. If nothing happens the test fails here.
 */
#include "guest.h"
#include "lib/cmos.h"
#include "lib/io.h"
#include "lib/libc.h"

/* CMOS bytes 0x78..0x7e: "VR", method, tests so far (2 bytes), failures. */
#define MARK_REG   0x78
#define MARK_V     'V'
#define MARK_R     'R'
#define RESET_WAIT (4 * TSC_SEC)

enum { RESET_KBD = 1, RESET_CF9 = 2, RESET_ACPI = 3 };

static const char *method_name(unsigned m)
{
    switch (m) {
    case RESET_KBD:
        return "kbd (i8042 0xFE)";
    case RESET_CF9:
        return "cf9 (port 0xCF9)";
    case RESET_ACPI:
        return "acpi (FADT reset register)";
    default:
        return "?";
    }
}

static void clear_marker(void)
{
    for (uint8_t i = 0; i < 6; i++)
        cmos_write((uint8_t)(MARK_REG + i), 0);
}

bool test_reset_resume(struct guest *g)
{
    if (cmos_read(MARK_REG) != MARK_V || cmos_read(MARK_REG + 1) != MARK_R)
        return false;
    unsigned method = cmos_read(MARK_REG + 2);
    unsigned count = cmos_read(MARK_REG + 3) | (unsigned)cmos_read(MARK_REG + 4) << 8;
    unsigned failed = cmos_read(MARK_REG + 5);
    clear_marker();
    tap_init(&g->tap, &g->uart, count, failed);
    tap_diag(&g->tap, "vireo-testguest restarted after a reset (entry: %s)",
             g->boot.kind == BOOT_PVH ? "pvh" : "linux64");
    tap_ok(&g->tap, method >= RESET_KBD && method <= RESET_ACPI,
           "reset: the VMM restarted the guest after a reset through %s", method_name(method));
    return true;
}

static void kbd_reset(void)
{
    /* Wait (bounded) for the controller's input buffer to drain. */
    for (int i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
        ;
    outb(0x64, 0xfe);
}

void test_reset(struct guest *g)
{
    struct tap *t = &g->tap;
    unsigned method = 0;
    if (param_is(g, "reset", "kbd"))
        method = RESET_KBD;
    else if (param_is(g, "reset", "cf9"))
        method = RESET_CF9;
    else if (param_is(g, "reset", "acpi"))
        method = RESET_ACPI;
    const char *v;
    uint32_t n;
    if (!method) {
        if (param_str(g, "reset", &v, &n))
            tap_ok(t, false, "reset: unknown method (use reset=kbd, cf9 or acpi)");
        else
            tap_skip(t, "reset: no reset= method given");
        return;
    }

    struct fadt_info f;
    memset(&f, 0, sizeof(f));
    if (method == RESET_ACPI) {
        acpi_parse_fadt(g->have_acpi ? acpi_find(&g->acpi, "FACP") : 0, &f);
        if (!tap_ok(t, f.reset_supported && (f.reset_reg.space == 0 || f.reset_reg.space == 1),
                    "reset: FADT reset register usable (flags 0x%x, space %u)", f.flags,
                    f.reset_reg.space))
            return;
    }

    unsigned count = t->count;
    cmos_write(MARK_REG + 2, (uint8_t)method);
    cmos_write(MARK_REG + 3, (uint8_t)count);
    cmos_write(MARK_REG + 4, (uint8_t)(count >> 8));
    cmos_write(MARK_REG + 5, (uint8_t)(t->failed > 255 ? 255 : t->failed));
    cmos_write(MARK_REG, MARK_V);
    cmos_write(MARK_REG + 1, MARK_R);
    bool stored = cmos_read(MARK_REG) == MARK_V && cmos_read(MARK_REG + 1) == MARK_R &&
                  cmos_read(MARK_REG + 3) == (uint8_t)count;
    if (!tap_ok(t, stored, "reset: marker stored in CMOS RAM"))
        return;
    count = t->count;
    cmos_write(MARK_REG + 3, (uint8_t)count);
    cmos_write(MARK_REG + 4, (uint8_t)(count >> 8));

    tap_diag(t, "reset: resetting through %s", method_name(method));
    for (int i = 0; i < 100000 && !(serial_read_reg(&g->uart, UART_LSR) & UART_LSR_TEMT); i++)
        ;
    switch (method) {
    case RESET_KBD:
        kbd_reset();
        break;
    case RESET_CF9:
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06);
        break;
    case RESET_ACPI:
        if (f.reset_reg.space == 1)
            outb((uint16_t)f.reset_reg.addr, f.reset_value);
        else
            mmio_write8(f.reset_reg.addr, f.reset_value);
        break;
    }
    tsc_delay(RESET_WAIT);
    clear_marker();
    tap_ok(t, false, "reset: nothing happened after a reset through %s", method_name(method));
}
