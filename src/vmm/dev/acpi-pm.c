/*
 * acpi-pm.c - the ACPI PM1/timer register block (acpi-pm.h), and microvm's
 * built-in "acpi-pm" device: that block at 0x600 and the reset register at
 * 0xCF9 (the PIIX "reset control" port), which the FADT describes.
 */
#include "vmm/dev/acpi-pm.h"
#include "util/mem.h"
#include "util/log.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/device.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#define PM1_PWRBTN    (1u << 8)
#define PM1_CNT_SCI   (1u << 0)
#define PM1_SLP_EN    (1u << 13)
#define PM1_SLP_SHIFT 10

static void update_sci_locked(struct acpi_pm_regs *pm)
{
    int level =
        ((pm->status & pm->enable) || (pm->gpe_sts & pm->gpe_en)) && (pm->control & PM1_CNT_SCI)
            ? 1
            : 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        vm_set_irq(pm->vm, IRQ_SCI, level);
    }
}

/* Byte `off` of a GPE0 block of `len` bytes (the first half status, the second enable; only
 * the low 16 bits of each are kept). Lock held. */
static uint8_t gpe_byte_read(struct acpi_pm_regs *pm, unsigned off, unsigned len)
{
    unsigned half = len / 2;
    if (off >= len || off % half >= 2)
        return 0;
    uint16_t v = off < half ? pm->gpe_sts : pm->gpe_en;
    return (uint8_t)(v >> (8 * (off % half)));
}

static void gpe_byte_write(struct acpi_pm_regs *pm, unsigned off, unsigned len, uint8_t b)
{
    unsigned half = len / 2, shift = 8 * (off % half);
    if (off >= len || off % half >= 2)
        return;
    if (off < half)
        pm->gpe_sts &= (uint16_t) ~((unsigned)b << shift); /* write 1 to clear */
    else
        pm->gpe_en = (uint16_t)((pm->gpe_en & ~(0xffu << shift)) | (unsigned)b << shift);
}

void acpi_pm_regs_init(struct acpi_pm_regs *pm, struct vm *vm)
{
    memset(pm, 0, sizeof(*pm));
    pm->vm = vm;
    pm->control = PM1_CNT_SCI;
    pm->timer_base_ns = monotonic_ns();
    pthread_mutex_init(&pm->lock, NULL);
}

void acpi_pm_regs_destroy(struct acpi_pm_regs *pm)
{
    pthread_mutex_destroy(&pm->lock);
}

void acpi_pm_regs_reset(struct acpi_pm_regs *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->status = pm->enable = 0;
    pm->gpe_sts = pm->gpe_en = 0;
    pm->control = PM1_CNT_SCI; /* no SMI_CMD: always in ACPI mode */
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_regs_power_button(void *opaque)
{
    struct acpi_pm_regs *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    pm->status |= PM1_PWRBTN;
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_regs_gpe_raise(void *opaque, unsigned bit)
{
    struct acpi_pm_regs *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    pm->gpe_sts |= (uint16_t)(1u << bit);
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

static uint32_t timer_value(const struct acpi_pm_regs *pm)
{
    uint64_t ns = monotonic_ns() - pm->timer_base_ns;
    return (uint32_t)((unsigned __int128)ns * ACPI_PM_TIMER_HZ / 1000000000u) & 0xffffff;
}

static uint16_t read_reg(struct acpi_pm_regs *pm, unsigned off)
{
    switch (off) {
    case 0:
        return pm->status;
    case 2:
        return pm->enable;
    case 4:
        return pm->control;
    default:
        return 0;
    }
}

static void pm_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct acpi_pm_regs *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    uint32_t tmr = timer_value(pm);
    for (unsigned i = 0; i < size; i++) {
        unsigned off = (unsigned)offset + i;
        if (off < 6)
            data[i] = (uint8_t)(read_reg(pm, off & ~1u) >> (8 * (off & 1)));
        else if (off >= ACPI_PM_TMR_OFF && off < ACPI_PM_TMR_OFF + 4)
            data[i] = (uint8_t)(tmr >> (8 * (off - ACPI_PM_TMR_OFF)));
        else if (off >= ACPI_PM_SMI_EN_OFF && off < ACPI_PM_SMI_EN_OFF + 4)
            data[i] = (uint8_t)(pm->smi_en >> (8 * (off - ACPI_PM_SMI_EN_OFF)));
        else if (pm->ich9_gpe0 && off >= ACPI_PM_ICH9_GPE0_OFF &&
                 off < ACPI_PM_ICH9_GPE0_OFF + ACPI_PM_ICH9_GPE0_LEN)
            data[i] = gpe_byte_read(pm, off - ACPI_PM_ICH9_GPE0_OFF, ACPI_PM_ICH9_GPE0_LEN);
        else
            data[i] = 0;
    }
    pthread_mutex_unlock(&pm->lock);
}

static void pm_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct acpi_pm_regs *pm = opaque;
    bool poweroff = false;
    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; pm->ich9_gpe0 && i < size; i++) {
        unsigned off = (unsigned)offset + i;
        if (off >= ACPI_PM_ICH9_GPE0_OFF && off < ACPI_PM_ICH9_GPE0_OFF + ACPI_PM_ICH9_GPE0_LEN)
            gpe_byte_write(pm, off - ACPI_PM_ICH9_GPE0_OFF, ACPI_PM_ICH9_GPE0_LEN, data[i]);
    }
    /* Assemble the 16-bit registers touched (byte, word or dword accesses). */
    for (unsigned reg = 0; reg < 6; reg += 2) {
        uint16_t val = read_reg(pm, reg), mask = 0;
        for (unsigned i = 0; i < size; i++) {
            unsigned off = (unsigned)offset + i;
            if ((off & ~1u) != reg)
                continue;
            unsigned shift = 8 * (off & 1);
            val = (uint16_t)((val & ~(0xffu << shift)) | ((unsigned)data[i] << shift));
            mask |= (uint16_t)(0xffu << shift);
        }
        if (!mask)
            continue;
        if (reg == 0) {
            pm->status &= (uint16_t) ~(val & mask); /* write 1 to clear */
        } else if (reg == 2) {
            pm->enable = val;
        } else {
            pm->control = (uint16_t)((val & ~PM1_SLP_EN) | PM1_CNT_SCI);
            unsigned typ = (val >> PM1_SLP_SHIFT) & 7;
            if ((val & PM1_SLP_EN) && typ == ACPI_S5_SLP_TYP)
                poweroff = true;
        }
    }
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
    if (poweroff)
        vm_request(pm->vm, VM_REQUEST_POWEROFF, 0);
}

const struct bus_ops acpi_pm_regs_ops = {pm_read, pm_write};

/* --- microvm's acpi-pm device ------------------------------------------------------------ */

static void reset_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    memset(data, 0, size);
}

static void reset_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct acpi_pm_regs *pm = opaque;
    (void)offset;
    (void)size;
    if (data[0] & 0x04) /* RST_CPU */
        vm_request(pm->vm, VM_REQUEST_RESET, 0);
}

static const struct bus_ops reset_ops = {reset_read, reset_write};

/* GPE0 at 0xafe0 (microvm's, pc's): +0 status (16 bits, write 1 to clear), +2 enable. */
static void gpe_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct acpi_pm_regs *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = gpe_byte_read(pm, (unsigned)offset + i, 4);
    pthread_mutex_unlock(&pm->lock);
}

static void gpe_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct acpi_pm_regs *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < size; i++)
        gpe_byte_write(pm, (unsigned)offset + i, 4, data[i]);
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

const struct bus_ops acpi_pm_gpe_ops = {gpe_read, gpe_write};

static void acpi_pm_reset(struct device *dev)
{
    acpi_pm_regs_reset(dev->priv);
}

static int acpi_pm_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct acpi_pm_regs *pm = xcalloc(1, sizeof(*pm));
    acpi_pm_regs_init(pm, vm);
    int r = bus_register(&vm->pio, PORT_ACPI_PM, 6, &acpi_pm_regs_ops, pm, "acpi-pm", err);
    if (r == 0)
        r = bus_register(&vm->pio, PORT_RESET, 1, &reset_ops, pm, "reset", err);
    if (r == 0 && vm->cfg->max_cpus > vm->cfg->cpus) /* CPU hot-plug's event (vcpu-hotplug.h) */
        r = bus_register(&vm->pio, PORT_ACPI_GPE0, 4, &acpi_pm_gpe_ops, pm, "acpi-gpe0", err);
    if (r < 0) {
        bus_unregister(&vm->pio, PORT_RESET);
        bus_unregister(&vm->pio, PORT_ACPI_PM);
        acpi_pm_regs_destroy(pm);
        free(pm);
        return r;
    }
    vm->power_button = acpi_pm_regs_power_button;
    vm->power_button_opaque = pm;
    vm->acpi_gpe = acpi_pm_regs_gpe_raise;
    vm->acpi_gpe_opaque = pm;
    dev->priv = pm;
    return 0;
}

static void acpi_pm_free(struct device *dev)
{
    struct acpi_pm_regs *pm = dev->priv;
    if (dev->vm->power_button_opaque == pm)
        dev->vm->power_button = NULL;
    if (dev->vm->acpi_gpe_opaque == pm)
        dev->vm->acpi_gpe = NULL;
    acpi_pm_regs_destroy(pm);
    free(pm);
}

int acpi_pm_regs_save(struct acpi_pm_regs *pm, struct dev_state_writer *w, struct verr *err)
{
    uint8_t pm1[6], tmr[8], smi[4];
    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < 2; i++) {
        pm1[i] = (uint8_t)(pm->status >> (8 * i));
        pm1[2 + i] = (uint8_t)(pm->enable >> (8 * i));
        pm1[4 + i] = (uint8_t)(pm->control >> (8 * i));
    }
    uint64_t ns = monotonic_ns() - pm->timer_base_ns;
    for (unsigned i = 0; i < 8; i++)
        tmr[i] = (uint8_t)(ns >> (8 * i));
    for (unsigned i = 0; i < 4; i++)
        smi[i] = (uint8_t)(pm->smi_en >> (8 * i));
    pthread_mutex_unlock(&pm->lock);
    int r = w->put(w, "pm1", pm1, sizeof(pm1), err);
    if (r == 0)
        r = w->put(w, "pm.timer_ns", tmr, sizeof(tmr), err);
    if (r == 0)
        r = w->put(w, "pm.smi_en", smi, sizeof(smi), err);
    return r;
}

int acpi_pm_regs_load(struct acpi_pm_regs *pm, struct dev_state_reader *r, struct verr *err)
{
    uint8_t pm1[6], tmr[8], smi[4];
    int rc = r->get(r, "pm1", pm1, sizeof(pm1), err);
    if (rc == 0)
        rc = r->get(r, "pm.timer_ns", tmr, sizeof(tmr), err);
    if (rc == 0)
        rc = r->get(r, "pm.smi_en", smi, sizeof(smi), err);
    if (rc < 0)
        return rc;
    uint64_t ns = 0;
    for (unsigned i = 0; i < 8; i++)
        ns |= (uint64_t)tmr[i] << (8 * i);
    uint64_t now = monotonic_ns();
    pthread_mutex_lock(&pm->lock);
    pm->status = (uint16_t)(pm1[0] | pm1[1] << 8);
    pm->enable = (uint16_t)(pm1[2] | pm1[3] << 8);
    pm->control = (uint16_t)(pm1[4] | pm1[5] << 8);
    pm->timer_base_ns = now - ns; /* wraps like the counter itself: only differences matter */
    pm->smi_en =
        (uint32_t)smi[0] | (uint32_t)smi[1] << 8 | (uint32_t)smi[2] << 16 | (uint32_t)smi[3] << 24;
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
    return 0;
}

int acpi_pm_gpe_save(struct acpi_pm_regs *pm, struct dev_state_writer *w, struct verr *err)
{
    uint8_t g[4];
    pthread_mutex_lock(&pm->lock);
    g[0] = (uint8_t)pm->gpe_sts;
    g[1] = (uint8_t)(pm->gpe_sts >> 8);
    g[2] = (uint8_t)pm->gpe_en;
    g[3] = (uint8_t)(pm->gpe_en >> 8);
    pthread_mutex_unlock(&pm->lock);
    return w->put(w, "gpe0", g, sizeof(g), err);
}

int acpi_pm_gpe_load(struct acpi_pm_regs *pm, struct dev_state_reader *r, struct verr *err)
{
    uint8_t g[4];
    int rc = r->get(r, "gpe0", g, sizeof(g), err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pm->lock);
    pm->gpe_sts = (uint16_t)(g[0] | g[1] << 8);
    pm->gpe_en = (uint16_t)(g[2] | g[3] << 8);
    pthread_mutex_unlock(&pm->lock);
    return 0;
}

static int acpi_pm_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct acpi_pm_regs *pm = dev->priv;
    uint16_t s[3];
    pthread_mutex_lock(&pm->lock);
    s[0] = pm->status;
    s[1] = pm->enable;
    s[2] = pm->control;
    uint16_t gpe[2] = {pm->gpe_sts, pm->gpe_en};
    pthread_mutex_unlock(&pm->lock);
    int r = w->put(w, "pm1", s, sizeof(s), err);
    if (r == 0) /* version 2: microvm's GPE0 block (CPU hot-plug's event) */
        r = w->put(w, "gpe0", gpe, sizeof(gpe), err);
    return r;
}

static int acpi_pm_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct acpi_pm_regs *pm = dev->priv;
    uint16_t s[3];
    uint16_t gpe[2] = {0, 0};
    int rc = r->get(r, "pm1", s, sizeof(s), err);
    if (rc == 0 && r->version >= 2)
        rc = r->get(r, "gpe0", gpe, sizeof(gpe), err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pm->lock);
    pm->status = s[0];
    pm->enable = s[1];
    pm->control = s[2];
    pm->gpe_sts = gpe[0];
    pm->gpe_en = gpe[1];
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
    return 0;
}

static const struct dev_type acpi_pm_type = {
    .name = "acpi-pm",
    .desc = "ACPI PM1 block (power button, S5) and reset register 0xCF9",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_SYSTEM,
    .singleton = true,
    .create = acpi_pm_create,
    .reset = acpi_pm_reset,
    .free = acpi_pm_free,
    .state_version = 2, /* 2: GPE0 status and enable */
    .save = acpi_pm_save,
    .load = acpi_pm_load,
};

const struct dev_type *const dev_types_acpi_pm[] = {&acpi_pm_type, NULL};
