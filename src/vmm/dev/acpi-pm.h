/*
 * acpi-pm.h - the ACPI fixed-hardware register block every machine's power
 * management has: PM1a event (status, enable), PM1a control (SCI_EN, SLP_TYP,
 * SLP_EN) and the PM timer, laid out as PIIX4 and ICH9 lay them out from
 * their PMBASE: +0 PM1_STS, +2 PM1_EN, +4 PM1_CNT, +8 PM_TMR (24 bits at
 * 3.579545 MHz). microvm's acpi-pm device puts the first 6 bytes at 0x600;
 * PIIX4_PM and ICH9-LPC decode it where the firmware puts PMBASE.
 *
 * The platform has no SMI_CMD, so SCI_EN always reads set: the OS finds the
 * machine already in ACPI mode. S5 (SLP_TYP = \_S5's value with SLP_EN)
 * powers off; the power button sets PWRBTN_STS and raises the SCI (level,
 * IRQ 9) while enabled and unacknowledged.
 */
#ifndef VIREO_VMM_DEV_ACPI_PM_H
#define VIREO_VMM_DEV_ACPI_PM_H

#include "vmm/dev/bus.h"

#include <pthread.h>
#include <stdint.h>

#define ACPI_PM_TIMER_HZ  3579545u
#define ACPI_PM_TMR_OFF   8
#define ACPI_PM_BLOCK_LEN 12

struct vm;

struct acpi_pm_regs {
    struct vm *vm;
    pthread_mutex_t lock;
    uint16_t status, enable, control;
    /* The GPE0 block: status (write 1 to clear) and enable, bit 2 being QEMU's CPU hot-plug
     * event; at 0xafe0 (acpi_pm_gpe_ops: microvm's acpi-pm, pc's PIIX4_PM) or, with ich9_gpe0,
     * in this block at +0x20 (ICH9's GPE0_STS, 8 bytes, then GPE0_EN). Saved by the
     * devices (acpi_pm_regs_save does not carry it). */
    uint16_t gpe_sts, gpe_en;
    bool ich9_gpe0;
    int sci_level;
    uint64_t timer_base_ns; /* the timer counts from here */
    /* ICH9's SMI_EN at +0x30 (0 elsewhere): vireo-vmm has no SMM, so APMC_EN reads set, which
     * tells firmware SMM set-up is done (QEMU does the same when its SMM is off). */
    uint32_t smi_en;
};
#define ACPI_PM_SMI_EN_OFF    0x30
#define ACPI_PM_ICH9_GPE0_OFF 0x20
#define ACPI_PM_ICH9_GPE0_LEN 16

void acpi_pm_regs_init(struct acpi_pm_regs *pm, struct vm *vm);
void acpi_pm_regs_destroy(struct acpi_pm_regs *pm);
/* Power-on state (system reset). */
void acpi_pm_regs_reset(struct acpi_pm_regs *pm);
/* Sets GPE0 status bit `bit` and raises the SCI when it is enabled (opaque = pm). */
void acpi_pm_regs_gpe_raise(void *opaque, unsigned bit);
/* Sets PWRBTN_STS and raises the SCI when enabled (the VM's power button; opaque = pm). */
void acpi_pm_regs_power_button(void *opaque);
struct dev_state_writer;
struct dev_state_reader;
struct verr;
/* The block's state for a chipset function's section: "pm1" (PM1 status, enable, control as
 * le16), "pm.timer_ns" (le64: how far the PM timer has counted, so it goes on from there),
 * "pm.smi_en" (le32). Load re-evaluates the SCI. */
int acpi_pm_regs_save(struct acpi_pm_regs *pm, struct dev_state_writer *w, struct verr *err);
int acpi_pm_regs_load(struct acpi_pm_regs *pm, struct dev_state_reader *r, struct verr *err);
/* The GPE0 block's state: "gpe0" (status, enable as le16). Load sets it without
 * re-evaluating the SCI (acpi_pm_regs_load, called after, does). */
int acpi_pm_gpe_save(struct acpi_pm_regs *pm, struct dev_state_writer *w, struct verr *err);
int acpi_pm_gpe_load(struct acpi_pm_regs *pm, struct dev_state_reader *r, struct verr *err);
/* Handlers for the block (offsets from its base; opaque = pm). */
extern const struct bus_ops acpi_pm_regs_ops;
/* Handlers for a 4-byte GPE0 block (status, enable: PIIX4's at 0xafe0; opaque = pm). */
extern const struct bus_ops acpi_pm_gpe_ops;
#define ACPI_PM_GPE0_LEN 4

#endif
