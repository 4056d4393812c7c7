/* ISA interrupt routing through the IOAPIC (see irq.h). */
#include "irq.h"
#include "apic.h"

bool irq_route_isa(const struct madt_info *m, uint8_t irq, uint8_t vector, uint32_t dest_apic_id,
                   struct irq_route *r)
{
    uint16_t flags;
    r->gsi = acpi_isa_irq_to_gsi(m, irq, &flags);
    r->ioapic = 0;
    r->pin = 0;
    r->redir = r->readback = 0;
    for (unsigned i = 0; i < m->ioapics; i++) {
        uint64_t base = m->ioapic[i].addr;
        uint32_t first = m->ioapic[i].gsi_base;
        unsigned n = ioapic_entries(base);
        if (r->gsi < first || r->gsi >= first + n)
            continue;
        /* ISA defaults: edge, active high; MADT override flags: polarity in
         * bits 0-1 (3 = low), trigger in bits 2-3 (3 = level). */
        uint64_t redir = vector | (uint64_t)dest_apic_id << 56;
        if ((flags & 3) == 3)
            redir |= IOAPIC_REDIR_ACTIVELO;
        if (((flags >> 2) & 3) == 3)
            redir |= IOAPIC_REDIR_LEVEL;
        r->ioapic = base;
        r->pin = r->gsi - first;
        r->redir = redir;
        ioapic_set_redir(base, r->pin, redir);
        r->readback = ioapic_get_redir(base, r->pin);
        return true;
    }
    return false;
}

bool irq_route_readback_ok(const struct irq_route *r)
{
    /* Bits 0-16 but not the read-only delivery status (12) and remote IRR
     * (14); bits 56-63. */
    uint64_t mask = 0x1affful | 0xff00000000000000ull;
    return r->ioapic && (r->readback & mask) == (r->redir & mask);
}

void irq_mask(const struct irq_route *r)
{
    if (r->ioapic)
        ioapic_set_redir(r->ioapic, r->pin, r->redir | IOAPIC_REDIR_MASKED);
}
