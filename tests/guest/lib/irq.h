/*
 * Routing an ISA interrupt to a vector: the MADT's interrupt source
 * overrides give the GSI and its polarity/trigger, the MADT's IOAPIC list
 * gives the IOAPIC and pin, and one redirection entry sends it to a CPU.
 * Shared by the UART and timer tests and by future device drivers.
 */
#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "acpi.h"

struct irq_route {
    uint32_t gsi;
    uint64_t ioapic;   /* base address */
    unsigned pin;      /* redirection entry index */
    uint64_t redir;    /* the entry written */
    uint64_t readback; /* the entry read back */
};

/* Programs the redirection entry for ISA IRQ irq: vector, fixed delivery,
 * physical destination dest_apic_id. Returns false if no IOAPIC covers the
 * GSI. *r is filled either way (r->ioapic == 0 when none). */
bool irq_route_isa(const struct madt_info *m, uint8_t irq, uint8_t vector, uint32_t dest_apic_id,
                   struct irq_route *r);
/* Whether the read-back entry holds what was written (vector, delivery,
 * polarity, trigger, mask, destination). */
bool irq_route_readback_ok(const struct irq_route *r);
void irq_mask(const struct irq_route *r);

#endif
