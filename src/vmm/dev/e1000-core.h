/*
 * e1000-core.h - the register file and descriptor engine of the Intel 82540EM
 * (e1000), apart from any thread, PCI function or network backend so that the
 * device (e1000.c) and its fuzz target drive the same code.
 *
 * The core owns the MAC's registers (a flat array over 0x0000-0x5fff, as the
 * datasheet lays them out), the PHY's (MDIC, PHY address 1, a Marvell
 * 88E1011 as the Linux driver expects on an 82540), the EEPROM (read through
 * EERD or bit-banged through EECD's Microwire pins) and the transmit state (the
 * last TCP/IP context descriptor and a packet being gathered). Guest memory is
 * reached through the guest_mem given at init; every descriptor and buffer
 * address is checked there, and a bad one ends that descriptor's work, never
 * the VMM. The caller serialises every call (one lock in e1000.c).
 */
#ifndef VIREO_VMM_DEV_E1000_CORE_H
#define VIREO_VMM_DEV_E1000_CORE_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

#define E1000_MMIO_SIZE 0x20000 /* BAR 0 */
#define E1000_IO_SIZE   0x40    /* BAR 1: IOADDR at 0, IODATA at 4 */
#define E1000_REG_WORDS (0x6000 / 4)
#define E1000_TX_MAX    (65536 + 256) /* a TSO packet: 64 KiB of payload and its headers */

struct e1000_ops {
    /* One frame to the wire (len bytes, no FCS). */
    void (*send)(void *opaque, const uint8_t *frame, size_t len);
    /* The interrupt line: (ICR & IMS) != 0. */
    void (*irq)(void *opaque, bool level);
    /* The guest moved TDT (frames to send) or RDT (room for frames): the owner runs
     * e1000_core_tx / delivers waiting frames on its own thread. NULL: nothing to do. */
    void (*kick)(void *opaque, bool tx);
};

/* The TCP/IP context a context descriptor sets (8254x SDM 3.3.6). */
struct e1000_txctx {
    uint8_t ipcss, ipcso, tucss, tucso, hdrlen, tucmd;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
};

struct e1000_core {
    uint32_t r[E1000_REG_WORDS];
    uint16_t phy[32];
    uint16_t eeprom[64];
    /* Microwire EEPROM interface (EECD bit-banging) */
    uint32_t ee_in, ee_bits_in, ee_out_bit;
    bool ee_reading;
    uint32_t ioaddr; /* BAR 1's IOADDR */
    bool link_down;  /* the host took the link down */
    /* transmit */
    struct e1000_txctx ctx;
    uint8_t popts;  /* the packet's data descriptor options (IXSM 1, TXSM 2) */
    bool tse;       /* the packet uses TCP segmentation */
    bool vle;       /* insert a VLAN tag (special field) */
    uint16_t vlan;  /* its tag */
    uint32_t txlen; /* bytes gathered of the packet in progress */
    uint8_t *tx;    /* E1000_TX_MAX bytes */
    uint8_t *seg;   /* a segment being built (E1000_TX_MAX bytes) */
    const struct guest_mem *mem;
    const struct e1000_ops *ops;
    void *opaque;
    uint8_t mac[6]; /* the NIC's address as configured (EEPROM words 0-2) */
};

void e1000_core_init(struct e1000_core *c, const struct guest_mem *mem, const uint8_t mac[6],
                     const struct e1000_ops *ops, void *opaque);
void e1000_core_destroy(struct e1000_core *c);
/* Power-on / software reset (CTRL.RST): registers, PHY and transmit state to defaults. */
void e1000_core_reset(struct e1000_core *c);
/* BAR 0 accesses (off < E1000_MMIO_SIZE; 32-bit registers, smaller accesses are merged). */
uint32_t e1000_core_read(struct e1000_core *c, uint32_t off);
void e1000_core_write(struct e1000_core *c, uint32_t off, uint32_t val);
/* BAR 1 (I/O): IOADDR/IODATA. */
uint32_t e1000_core_io_read(struct e1000_core *c, uint32_t off);
void e1000_core_io_write(struct e1000_core *c, uint32_t off, uint32_t val);
/* Transmits what the guest queued (TDH up to TDT), if TCTL.EN. */
void e1000_core_tx(struct e1000_core *c);
/* Whether a frame could be stored now (receiver on, link up, a free descriptor). */
bool e1000_core_can_receive(const struct e1000_core *c);
/* One frame from the wire: true when it is done with (stored, or filtered out / dropped),
 * false when the ring is full (the caller keeps it and retries after a kick). */
bool e1000_core_receive(struct e1000_core *c, const uint8_t *frame, size_t len);
/* The host's link state (QMP set_link): STATUS.LU, the PHY's link bits and an LSC interrupt. */
void e1000_core_set_link(struct e1000_core *c, bool up);

/* State: the registers, the PHY, the EEPROM interface and the transmit context and packet in
 * progress, as fixed records (see e1000.c's save). */
struct dev_state_writer;
struct dev_state_reader;
int e1000_core_save(struct e1000_core *c, struct dev_state_writer *w, struct verr *err);
int e1000_core_load(struct e1000_core *c, struct dev_state_reader *r, struct verr *err);

#endif
