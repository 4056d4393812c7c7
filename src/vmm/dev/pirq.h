/*
 * pirq.h - PCI interrupt routing of the PIIX3 and ICH9 south bridges.
 *
 * PCI INTx lines reach the chipset as PIRQ A-D (PIIX3) or A-H (ICH9). Each
 * PIRQ drives two things, as on the real chipsets: IOAPIC input 16 + n, and
 * the ISA interrupt its routing register names (register 0x60 + n, bit 7
 * off), which goes to the 8259 and to the IOAPIC pin of that number. The
 * DSDT's _PRT names the IOAPIC inputs 16+; SeaBIOS's MP and $PIR tables name
 * the ISA interrupts it routed (10 and 11), so a guest following either finds
 * its interrupt. Lines are shared: a PIRQ is high while any device on it is,
 * an ISA interrupt while any PIRQ routed to it is.
 */
#ifndef VIREO_VMM_DEV_PIRQ_H
#define VIREO_VMM_DEV_PIRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PIRQ_MAX      8
#define PIRQ_GSI_BASE 16

struct vm;

struct pirq_router {
    struct vm *vm;
    pthread_mutex_t lock;
    unsigned nr;              /* 4 (PIIX3) or 8 (ICH9) */
    unsigned users[PIRQ_MAX]; /* devices holding each PIRQ high */
    uint8_t route[PIRQ_MAX];  /* routing register values */
    unsigned isa_users[16];   /* PIRQs high and routed to each ISA interrupt */
};

void pirq_init(struct pirq_router *r, struct vm *vm, unsigned nr);
void pirq_destroy(struct pirq_router *r);
/* One device's line on PIRQ n went up or down (the PCI bus's INTx hook). */
void pirq_set(struct pirq_router *r, unsigned n, bool level);
/* Routing register n now holds v (config write; a line that is high moves with it). */
void pirq_set_route(struct pirq_router *r, unsigned n, uint8_t v);
/* Everything low, every route off (0x80), as at power-on. */
void pirq_reset(struct pirq_router *r);

#endif
