/*
 * Local APIC (xAPIC, memory-mapped) and IOAPIC register access, and the
 * 8259 PIC only to mask it: with the LAPIC's LINT0 in ExtINT mode (KVM's
 * reset state for the BSP) an unmasked, unprogrammed PIC would deliver
 * device interrupts a second time with a garbage vector.
 */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_DEFAULT_BASE 0xfee00000u
#define LAPIC_ID           0x020
#define LAPIC_VERSION      0x030
#define LAPIC_TPR          0x080
#define LAPIC_EOI          0x0b0
#define LAPIC_SVR          0x0f0
#define LAPIC_ESR          0x280
#define LAPIC_ICR_LO       0x300
#define LAPIC_ICR_HI       0x310

#define ICR_INIT         0x00000500u
#define ICR_STARTUP      0x00000600u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_TRIGGER_LVL  0x00008000u
#define ICR_PENDING      0x00001000u

#define IOAPIC_REG_ID    0x00
#define IOAPIC_REG_VER   0x01
#define IOAPIC_REG_REDIR 0x10

#define IOAPIC_REDIR_MASKED   (1u << 16)
#define IOAPIC_REDIR_LEVEL    (1u << 15)
#define IOAPIC_REDIR_ACTIVELO (1u << 13)

uint32_t lapic_read(uint64_t base, uint32_t reg);
void lapic_write(uint64_t base, uint32_t reg, uint32_t v);
uint32_t lapic_id(uint64_t base);
/* Software-enables the LAPIC with the given spurious vector, TPR 0. */
void lapic_enable(uint64_t base, uint8_t spurious_vector);
void lapic_eoi(uint64_t base);
/* Sends an IPI and waits (bounded) for the delivery status to clear.
 * Returns false if it stayed pending. */
bool lapic_send_ipi(uint64_t base, uint32_t dest_apic_id, uint32_t icr_lo);

uint32_t ioapic_read(uint64_t base, uint32_t reg);
void ioapic_write(uint64_t base, uint32_t reg, uint32_t v);
/* Number of redirection entries (max redirection entry + 1). */
unsigned ioapic_entries(uint64_t base);
void ioapic_set_redir(uint64_t base, unsigned index, uint64_t value);
uint64_t ioapic_get_redir(uint64_t base, unsigned index);

void pic_mask_all(void);

#endif
