/*
 * The UART test: the scratch register, loopback mode (transmitted bytes
 * come back as received data; MCR outputs come back as MSR inputs), the
 * interrupt path (COM1's IRQ through the IOAPIC entry the MADT implies, to
 * the local APIC and an IDT vector) for both the transmit-empty and the
 * receive interrupt, and, with echo=WORD, a line the host types into the
 * serial input, received by interrupt and compared.
 *
 * While loopback is on, nothing may be printed (it would loop back into
 * the receiver), so results are collected first and reported after.
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/irq.h"
#include "lib/libc.h"

#define UART_LINE_MAX 128
#define IRQ_TIMEOUT   (5 * TSC_SEC)
#define ECHO_TIMEOUT  (30 * TSC_SEC)

struct uart_irq {
    const struct serial *s;
    uint64_t lapic;
    volatile unsigned irqs, thre, rx;
    volatile unsigned len;
    volatile char line[UART_LINE_MAX];
};

static void uart_isr(struct isr_frame *f, void *ctx)
{
    struct uart_irq *u = ctx;
    (void)f;
    u->irqs++;
    for (int guard = 0; guard < 32; guard++) {
        uint8_t iir = serial_read_reg(u->s, UART_IIR);
        if (iir & UART_IIR_NONE)
            break;
        switch (iir & UART_IIR_ID) {
        case UART_IIR_THRI:
            u->thre++;
            break;
        case UART_IIR_RDI:
        case 0x0c: /* character timeout (FIFO mode) */
            while (serial_read_reg(u->s, UART_LSR) & UART_LSR_DR) {
                char c = (char)serial_read_reg(u->s, UART_RBR);
                u->rx++;
                if (u->len < UART_LINE_MAX)
                    u->line[u->len++] = c;
            }
            break;
        case 0x06: /* line status */
            serial_read_reg(u->s, UART_LSR);
            break;
        default: /* modem status */
            serial_read_reg(u->s, UART_MSR);
            break;
        }
    }
    lapic_eoi(u->lapic);
}

static bool wait_for(volatile unsigned *counter, unsigned target, uint64_t timeout)
{
    uint64_t start = rdtsc();
    while (*counter < target && rdtsc() - start < timeout)
        __asm__ volatile("pause" ::: "memory");
    return *counter >= target;
}

static void drain_rx(const struct serial *s)
{
    for (int i = 0; i < 64 && (serial_read_reg(s, UART_LSR) & UART_LSR_DR); i++)
        serial_read_reg(s, UART_RBR);
}

/* Loopback checks; returns a bitmask of failures (reported by the caller). */
struct loop_result {
    bool data_ok, dr_clears, lines_ok;
    uint8_t bad_sent, bad_got, msr_seen[4];
};

static void loopback(const struct serial *s, struct loop_result *r)
{
    static const uint8_t bytes[] = {0x00, 0x55, 0xaa, 0xff, 'V'};
    static const struct {
        uint8_t mcr, msr;
    } lines[4] = {
        {0, 0},
        {UART_MCR_DTR, UART_MSR_DSR},
        {UART_MCR_RTS | UART_MCR_OUT1, UART_MSR_CTS | UART_MSR_RI},
        {UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT1 | UART_MCR_OUT2,
         UART_MSR_DSR | UART_MSR_CTS | UART_MSR_RI | UART_MSR_DCD},
    };
    uint8_t saved_mcr = serial_read_reg(s, UART_MCR);

    /* Let the last TAP line leave the transmitter first. */
    for (int i = 0; i < 100000 && !(serial_read_reg(s, UART_LSR) & UART_LSR_TEMT); i++)
        ;
    serial_write_reg(s, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    drain_rx(s);
    r->data_ok = r->dr_clears = r->lines_ok = true;
    for (unsigned i = 0; i < sizeof(bytes); i++) {
        serial_putc(s, (char)bytes[i]);
        int c = serial_getc_timeout(s, IRQ_TIMEOUT);
        if (c != bytes[i] && r->data_ok) {
            r->data_ok = false;
            r->bad_sent = bytes[i];
            r->bad_got = (uint8_t)c;
        }
        if (serial_read_reg(s, UART_LSR) & UART_LSR_DR)
            r->dr_clears = false;
    }
    for (unsigned i = 0; i < 4; i++) {
        serial_write_reg(s, UART_MCR, UART_MCR_LOOP | lines[i].mcr);
        r->msr_seen[i] = serial_read_reg(s, UART_MSR) & 0xf0;
        if (r->msr_seen[i] != lines[i].msr)
            r->lines_ok = false;
    }
    serial_write_reg(s, UART_MCR, saved_mcr);
    drain_rx(s);
}

/* Routes COM1's ISA IRQ to VEC_UART on the boot CPU. */
static bool route_irq(struct guest *g, struct uart_irq *u, struct irq_route *r)
{
    struct tap *t = &g->tap;
    if (!irq_route_isa(&g->madt, COM1_IRQ, VEC_UART, g->bsp_apic_id, r)) {
        tap_ok(t, false, "uart: no IOAPIC covers GSI %u (COM1 IRQ %u)", r->gsi, COM1_IRQ);
        return false;
    }
    tap_ok(t, irq_route_readback_ok(r),
           "uart: IOAPIC 0x%lx entry %u (ISA IRQ %u -> GSI %u) programmed: 0x%lx", r->ioapic,
           r->pin, COM1_IRQ, r->gsi, r->readback);
    u->lapic = g->lapic_base;
    return true;
}

static void echo_test(struct guest *g, struct uart_irq *u, const char *want, uint32_t want_len)
{
    struct tap *t = &g->tap;
    const struct serial *s = &g->uart;

    u->len = 0;
    unsigned rx_before = u->rx, irqs_before = u->irqs;
    drain_rx(s);
    /* run-guest writes the line when it sees this prompt. */
    tap_diag(t, "uart: waiting for serial input");
    serial_write_reg(s, UART_IER, UART_IER_RDI);
    irq_enable();
    uint64_t start = rdtsc();
    bool done = false;
    while (!done && rdtsc() - start < ECHO_TIMEOUT) {
        for (unsigned i = 0; i < u->len; i++) {
            if (u->line[i] == '\n' || u->line[i] == '\r')
                done = true;
        }
        __asm__ volatile("pause" ::: "memory");
    }
    irq_disable();
    serial_write_reg(s, UART_IER, 0);
    char got[UART_LINE_MAX + 1];
    unsigned n = 0;
    while (n < u->len && u->line[n] != '\n' && u->line[n] != '\r') {
        got[n] = u->line[n];
        n++;
    }
    got[n] = '\0';
    tap_ok(t, done && n == want_len && memcmp(got, want, n) == 0 && u->irqs > irqs_before,
           "uart: echo line '%s' received by interrupt (%u bytes, %u interrupts)", got,
           u->rx - rx_before, u->irqs - irqs_before);
}

void test_uart(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct serial *s = &g->uart;
    static struct uart_irq u;

    serial_write_reg(s, UART_SCR, 0x5a);
    uint8_t scr = serial_read_reg(s, UART_SCR);
    tap_ok(t, scr == 0x5a, "uart: scratch register holds 0x5a (read 0x%x)", scr);

    struct loop_result lr = {0};
    loopback(s, &lr);
    if (lr.data_ok)
        tap_ok(t, true, "uart: loopback returns every byte sent");
    else
        tap_ok(t, false, "uart: loopback returned 0x%x for 0x%x", lr.bad_got, lr.bad_sent);
    tap_ok(t, lr.dr_clears, "uart: LSR data-ready clears once the byte is read");
    tap_ok(t, lr.lines_ok,
           "uart: loopback maps DTR/RTS/OUT1/OUT2 to DSR/CTS/RI/DCD (MSR 0x%x 0x%x 0x%x 0x%x)",
           lr.msr_seen[0], lr.msr_seen[1], lr.msr_seen[2], lr.msr_seen[3]);

    memset((void *)&u, 0, sizeof(u));
    u.s = s;
    struct irq_route route;
    if (!g->have_acpi || !route_irq(g, &u, &route))
        return;
    pic_mask_all();
    lapic_enable(g->lapic_base, VEC_SPURIOUS);
    cpu_set_handler(VEC_UART, uart_isr, &u);

    /* Transmitter-empty interrupt: enabling it with THR empty raises it. */
    serial_write_reg(s, UART_IER, UART_IER_THRI);
    irq_enable();
    bool thre = wait_for(&u.thre, 1, IRQ_TIMEOUT);
    irq_disable();
    serial_write_reg(s, UART_IER, 0);
    tap_ok(t, thre, "uart: transmitter-empty interrupt delivered on vector %u (%u interrupts)",
           VEC_UART, u.irqs);

    /* Receive interrupt, fed through loopback. */
    for (int i = 0; i < 100000 && !(serial_read_reg(s, UART_LSR) & UART_LSR_TEMT); i++)
        ;
    uint8_t mcr = serial_read_reg(s, UART_MCR);
    serial_write_reg(s, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    drain_rx(s);
    u.len = 0;
    serial_write_reg(s, UART_IER, UART_IER_RDI);
    irq_enable();
    serial_putc(s, 'Q');
    bool rx = wait_for(&u.rx, 1, IRQ_TIMEOUT);
    irq_disable();
    serial_write_reg(s, UART_IER, 0);
    serial_write_reg(s, UART_MCR, mcr);
    tap_ok(t, rx && u.len >= 1 && u.line[0] == 'Q',
           "uart: receive interrupt delivered a looped-back byte ('%c')", u.len ? u.line[0] : '?');

    const char *want;
    uint32_t want_len;
    if (param_str(g, "echo", &want, &want_len))
        echo_test(g, &u, want, want_len);
    else
        tap_skip(t, "uart: no echo= line to wait for");
    irq_mask(&route);
    cpu_set_handler(VEC_UART, 0, 0);
}
