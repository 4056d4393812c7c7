/* Local APIC, IOAPIC and 8259 helpers (see apic.h). */
#include "apic.h"
#include "io.h"

uint32_t lapic_read(uint64_t base, uint32_t reg)
{
    return mmio_read32(base + reg);
}

void lapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
    mmio_write32(base + reg, v);
}

uint32_t lapic_id(uint64_t base)
{
    return lapic_read(base, LAPIC_ID) >> 24;
}

void lapic_enable(uint64_t base, uint8_t spurious_vector)
{
    lapic_write(base, LAPIC_TPR, 0);
    lapic_write(base, LAPIC_SVR, 0x100u | spurious_vector);
}

void lapic_eoi(uint64_t base)
{
    lapic_write(base, LAPIC_EOI, 0);
}

bool lapic_send_ipi(uint64_t base, uint32_t dest_apic_id, uint32_t icr_lo)
{
    lapic_write(base, LAPIC_ICR_HI, dest_apic_id << 24);
    lapic_write(base, LAPIC_ICR_LO, icr_lo);
    for (unsigned i = 0; i < 10000; i++) {
        if (!(lapic_read(base, LAPIC_ICR_LO) & ICR_PENDING))
            return true;
        cpu_pause();
    }
    return false;
}

uint32_t ioapic_read(uint64_t base, uint32_t reg)
{
    mmio_write32(base, reg);
    return mmio_read32(base + 0x10);
}

void ioapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
    mmio_write32(base, reg);
    mmio_write32(base + 0x10, v);
}

unsigned ioapic_entries(uint64_t base)
{
    return ((ioapic_read(base, IOAPIC_REG_VER) >> 16) & 0xff) + 1;
}

void ioapic_set_redir(uint64_t base, unsigned index, uint64_t value)
{
    /* Mask first so a half-written entry never fires. */
    ioapic_write(base, IOAPIC_REG_REDIR + 2 * index, IOAPIC_REDIR_MASKED);
    ioapic_write(base, IOAPIC_REG_REDIR + 2 * index + 1, (uint32_t)(value >> 32));
    ioapic_write(base, IOAPIC_REG_REDIR + 2 * index, (uint32_t)value);
}

uint64_t ioapic_get_redir(uint64_t base, unsigned index)
{
    uint64_t lo = ioapic_read(base, IOAPIC_REG_REDIR + 2 * index);
    uint64_t hi = ioapic_read(base, IOAPIC_REG_REDIR + 2 * index + 1);
    return hi << 32 | lo;
}

void pic_mask_all(void)
{
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}
