/*
 * pam.h - the Programmable Attribute Map of Intel host bridges (i440FX's
 * registers 0x59-0x5F, the Q35 MCH's 0x90-0x96): what the guest sees at
 * 0xC0000-0xFFFFF, segment by segment. Each segment reads from RAM or from
 * the ROM behind it (the last 128 KiB of the BIOS image at 0xE0000, nothing
 * below), and writes to RAM or nowhere, as the register nibble says:
 * bit 0 read enable, bit 1 write enable. SeaBIOS turns on both to copy
 * itself into RAM, then takes write enable away to make that copy its ROM.
 *
 * Under KVM every state is a memory slot or an MMIO trap: RAM read/write is
 * a plain RAM slot; RAM read-only is a read-only slot whose writes exit and
 * are dropped; ROM reads are a read-only slot of the image (writes exit and
 * go to RAM when write enable is on); no ROM, no read enable is a trap.
 */
#ifndef VIREO_VMM_DEV_PAM_H
#define VIREO_VMM_DEV_PAM_H

#include "util/error.h"

#include <pthread.h>
#include <stdint.h>

#define PAM_NR_REGS     7
#define PAM_NR_SEGMENTS 13
#define PAM_ISA_BIOS    0x20000u /* the BIOS image's last 128 KiB appear at 0xE0000 */

struct vm;

struct pam {
    struct vm *vm;
    const uint8_t *isa_bios; /* PAM_ISA_BIOS bytes of ROM for 0xE0000-0xFFFFF, or NULL */
    pthread_mutex_t lock;
    uint8_t mode[PAM_NR_SEGMENTS]; /* bit 0 read RAM, bit 1 write RAM */
    int slot[PAM_NR_SEGMENTS];
};

/* Takes the slots, claims 0xC0000-0xFFFFF for the traps and maps the power-on state (every
 * segment reads ROM, writes nowhere). */
int pam_init(struct pam *p, struct vm *vm, const uint8_t *isa_bios, struct verr *err);
/* Applies PAM0..PAM6 (the seven register bytes). Logs what KVM refuses. */
void pam_update(struct pam *p, const uint8_t regs[PAM_NR_REGS]);
void pam_destroy(struct pam *p);

#endif
