/*
 * e1000-core.c - the 82540EM's registers, PHY, EEPROM and descriptor rings
 * (facts from Intel's PCI/PCI-X Family of Gigabit Ethernet Controllers
 * Software Developer's Manual, 8254x; see e1000-core.h for the split).
 *
 * Receive: legacy descriptors, buffers of RCTL.BSIZE(/BSEX) bytes, a frame
 * spread over as many descriptors as it needs (EOP on the last); frames
 * shorter than 60 bytes are padded as the wire would; the 4-byte FCS is
 * counted and stored (as zeros: nobody checks it) unless RCTL.SECRC strips
 * it. Filtering: RAL/RAH exact matches, the 4096-bit MTA hash selected by
 * RCTL.MO, broadcast with RCTL.BAM, UPE/MPE promiscuous modes; for tagged
 * frames the VLAN filter table (RCTL.VFE), and CTRL.VME strips the tag into
 * the descriptor (status VP, special field). Receive
 * checksum offload (RXCSUM.IPOFL/TUOFL) reports IPCS/TCPCS for IPv4 TCP and
 * UDP frames whose sums were checked here.
 * Transmit: legacy descriptors (CSO/CSS checksum insertion), TCP/IP context
 * and data descriptors with IXSM (IPv4 header checksum) and TXSM (TCP/UDP
 * checksum) insertion, and TSE: TCP segmentation of up to 64 KiB into MSS
 * segments, each with its own IP length and id, TCP sequence number and
 * flags (FIN/PSH on the last only) and checksums; VLAN tag insertion (VLE
 * with CTRL.VME).
 * Interrupts: ICR/ICS/IMS/IMC as the datasheet; RXT0 after each received
 * frame, RXDMT0 when the free descriptors fall under RCTL.RDMTS, TXDW for
 * descriptors with RS, TXQE when the ring is drained, LSC on link changes,
 * MDAC after an MDIC access that asked for it (MDIC.I). The delay and
 * throttling registers (RDTR, RADV, TIDV, TADV, ITR) are stored and read
 * back but ignored: every interrupt is raised at once, as if they were 0.
 * Statistics: the good/total packet and octet, broadcast, multicast and
 * missed counters the driver reads; every statistics register clears on read.
 */
#include "vmm/dev/e1000-core.h"
#include "vmm/dev/device.h"
#include "vmm/kvm/memory.h"
#include "vmm/state/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets. */
enum {
    CTRL = 0x0000,
    STATUS = 0x0008,
    EECD = 0x0010,
    EERD = 0x0014,
    CTRL_EXT = 0x0018,
    MDIC = 0x0020,
    ICR = 0x00c0,
    ITR = 0x00c4,
    ICS = 0x00c8,
    IMS = 0x00d0,
    IMC = 0x00d8,
    RCTL = 0x0100,
    TCTL = 0x0400,
    RDBAL = 0x2800,
    RDBAH = 0x2804,
    RDLEN = 0x2808,
    RDH = 0x2810,
    RDT = 0x2818,
    TDBAL = 0x3800,
    TDBAH = 0x3804,
    TDLEN = 0x3808,
    TDH = 0x3810,
    TDT = 0x3818,
    STATS = 0x4000,
    STATS_END = 0x4100,
    MPC = 0x4010,
    GPRC = 0x4074,
    BPRC = 0x4078,
    MPRC = 0x407c,
    GPTC = 0x4080,
    GORCL = 0x4088,
    GORCH = 0x408c,
    GOTCL = 0x4090,
    GOTCH = 0x4094,
    RNBC = 0x40a0,
    TORL = 0x40c0,
    TORH = 0x40c4,
    TOTL = 0x40c8,
    TOTH = 0x40cc,
    TPR = 0x40d0,
    TPT = 0x40d4,
    MPTC = 0x40f0,
    BPTC = 0x40f4,
    TSCTC = 0x40f8,
    RXCSUM = 0x5000,
    MTA = 0x5200,
    VFTA = 0x5600,
    RA = 0x5400,
    VET = 0x0038,
};

#define CTRL_SLU     (1u << 6)
#define CTRL_RST     (1u << 26)
#define CTRL_VME     (1u << 30)
#define CTRL_PHY_RST (1u << 31)

#define STATUS_FD    0x1u
#define STATUS_LU    0x2u
#define STATUS_1000  0x80u
#define STATUS_ASDV  0x200u /* auto-speed detected: 1000 */
#define STATUS_FIXED (STATUS_FD | STATUS_1000 | STATUS_ASDV)

#define EECD_SK   0x1u
#define EECD_CS   0x2u
#define EECD_DI   0x4u
#define EECD_DO   0x8u
#define EECD_REQ  0x40u
#define EECD_GNT  0x80u
#define EECD_PRES 0x100u

#define EERD_START 0x1u
#define EERD_DONE  0x10u

#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ  (2u << 26)
#define MDIC_READY    (1u << 28)
#define MDIC_INT_EN   (1u << 29)
#define MDIC_ERROR    (1u << 30)

#define ICR_TXDW   0x1u
#define ICR_TXQE   0x2u
#define ICR_LSC    0x4u
#define ICR_RXDMT0 0x10u
#define ICR_RXO    0x40u
#define ICR_RXT0   0x80u
#define ICR_MDAC   0x200u

#define RCTL_EN    (1u << 1)
#define RCTL_UPE   (1u << 3)
#define RCTL_MPE   (1u << 4)
#define RCTL_BAM   (1u << 15)
#define RCTL_VFE   (1u << 18)
#define RCTL_BSEX  (1u << 25)
#define RCTL_SECRC (1u << 26)

#define TCTL_EN (1u << 1)

#define RXCSUM_IPOFL (1u << 8)
#define RXCSUM_TUOFL (1u << 9)

/* descriptor bits */
#define TXD_EOP    0x01u
#define TXD_IC     0x04u /* legacy: insert checksum */
#define TXD_TSE    0x04u /* data: TCP segmentation */
#define TXD_RS     0x08u
#define TXD_DEXT   0x20u
#define TXD_VLE    0x40u
#define TXD_DD     0x01u
#define POPTS_IXSM 0x01u
#define POPTS_TXSM 0x02u
#define TUCMD_TCP  0x01u
#define TUCMD_IP   0x02u /* IPv4 (else IPv6) */

#define RXD_DD    0x01u
#define RXD_EOP   0x02u
#define RXD_IXSM  0x04u
#define RXD_VP    0x08u
#define RXD_TCPCS 0x20u
#define RXD_IPCS  0x40u

/* PHY registers */
#define PHY_CTRL       0
#define PHY_STATUS     1
#define PHY_CTRL_RESET 0x8000u
#define PHY_CTRL_ANRST 0x0200u
#define PHY_ST_LINK    0x0004u
#define PHY_ST_ANDONE  0x0020u
#define PHY_SSTATUS    17
#define PHY_SS_LINK    0x0400u

static uint32_t *reg(struct e1000_core *c, uint32_t off)
{
    return &c->r[off / 4];
}

static void update_irq(struct e1000_core *c)
{
    c->ops->irq(c->opaque, (c->r[ICR / 4] & c->r[IMS / 4]) != 0);
}

static void raise(struct e1000_core *c, uint32_t bits)
{
    c->r[ICR / 4] |= bits;
    update_irq(c);
}

static void stat_add(struct e1000_core *c, uint32_t off, uint32_t v)
{
    uint32_t *p = reg(c, off);
    *p = *p + v < *p ? 0xffffffffu : *p + v; /* the counters stick at their maximum */
}

static void stat_add64(struct e1000_core *c, uint32_t lo, uint64_t v)
{
    uint64_t cur = (uint64_t)c->r[lo / 4 + 1] << 32 | c->r[lo / 4];
    cur = cur + v < cur ? ~0ull : cur + v;
    c->r[lo / 4] = (uint32_t)cur;
    c->r[lo / 4 + 1] = (uint32_t)(cur >> 32);
}

/* --- PHY and EEPROM ----------------------------------------------------------------------- */

static void phy_reset(struct e1000_core *c)
{
    memset(c->phy, 0, sizeof(c->phy));
    /* An 88E1011 after autonegotiating 1000 Mb/s full duplex with its partner. */
    c->phy[PHY_CTRL] = 0x1140;   /* autoneg on, full duplex, 1000 Mb/s */
    c->phy[PHY_STATUS] = 0x796d; /* capabilities, autoneg done, link up */
    c->phy[2] = 0x0141;          /* PHY identifier: Marvell */
    c->phy[3] = 0x0c20;          /* 88E1011 */
    c->phy[4] = 0x0de1;          /* advertised: 10/100 half/full, pause */
    c->phy[5] = 0x45e1;          /* link partner's abilities, acknowledged */
    c->phy[6] = 0x000d;          /* autoneg expansion: partner autoneg-able, page received */
    c->phy[9] = 0x0e00;          /* 1000BASE-T control: advertise 1000 full/half */
    c->phy[10] = 0x3c00;         /* 1000BASE-T status: local and remote receivers OK */
    c->phy[15] = 0x3000;         /* extended status: 1000BASE-T full/half */
    c->phy[16] = 0x0068;         /* PHY specific control */
    c->phy[17] = 0xac00;         /* specific status: 1000, full duplex, resolved, link */
    c->phy[20] = 0x0c60;         /* extended specific control */
    if (c->link_down) {
        c->phy[PHY_STATUS] &= (uint16_t)~PHY_ST_LINK;
        c->phy[PHY_SSTATUS] &= (uint16_t)~PHY_SS_LINK;
    }
}

static void eeprom_build(struct e1000_core *c)
{
    memset(c->eeprom, 0, sizeof(c->eeprom));
    for (unsigned i = 0; i < 3; i++)
        c->eeprom[i] = (uint16_t)(c->mac[2 * i] | c->mac[2 * i + 1] << 8);
    c->eeprom[4] = 0xffff;    /* LED settings: the driver's defaults */
    c->eeprom[0x0a] = 0x6401; /* initialization control 1: signature 01b, load subsystem ids */
    c->eeprom[0x0b] = 0x1100; /* subsystem id (QEMU's) */
    c->eeprom[0x0c] = 0x1af4; /* subsystem vendor */
    c->eeprom[0x0d] = 0x100e; /* device id */
    c->eeprom[0x0e] = 0x8086; /* vendor */
    c->eeprom[0x0f] = 0x0000; /* initialization control 2: no pause */
    uint16_t sum = 0;
    for (unsigned i = 0; i < 63; i++)
        sum = (uint16_t)(sum + c->eeprom[i]);
    c->eeprom[63] = (uint16_t)(0xbaba - sum);
}

/* EECD write: Microwire, 6 address bits. The driver raises CS, clocks in a start bit, the
 * READ opcode (10b) and the address on DI with rising SK edges, then clocks out 16 bits per
 * word on DO, the address advancing while CS stays up. */
static void eecd_write(struct e1000_core *c, uint32_t v)
{
    uint32_t old = c->r[EECD / 4];
    uint32_t keep = v & (EECD_SK | EECD_CS | EECD_DI | EECD_REQ);
    uint32_t gnt = (v & EECD_REQ) ? EECD_GNT : 0;
    c->r[EECD / 4] = (old & EECD_DO) | keep | gnt | EECD_PRES;
    if (!(v & EECD_CS)) {
        c->ee_in = c->ee_bits_in = c->ee_out_bit = 0;
        c->ee_reading = false;
        return;
    }
    if (!(old & EECD_CS)) { /* CS rising: a new command */
        c->ee_in = c->ee_bits_in = c->ee_out_bit = 0;
        c->ee_reading = false;
    }
    if (!((v & EECD_SK) && !(old & EECD_SK)))
        return; /* only rising clock edges move bits */
    if (c->ee_reading) {
        c->ee_out_bit = (c->ee_out_bit + 1) % (64 * 16);
    } else {
        c->ee_in = c->ee_in << 1 | ((v & EECD_DI) ? 1 : 0);
        c->ee_bits_in++;
        if (c->ee_bits_in == 9) {
            if ((c->ee_in >> 6) == 6) { /* start 1, opcode 10: READ */
                /* one bit before the word: the next rising edge shows its MSB */
                c->ee_reading = true;
                c->ee_out_bit = ((c->ee_in & 0x3f) * 16 + 64 * 16 - 1) % (64 * 16);
            }
            c->ee_in = c->ee_bits_in = 0;
        }
    }
    uint32_t bit = 0;
    if (c->ee_reading) {
        uint16_t w = c->eeprom[c->ee_out_bit / 16];
        bit = (w >> (15 - c->ee_out_bit % 16)) & 1;
    }
    c->r[EECD / 4] = (c->r[EECD / 4] & ~EECD_DO) | (bit ? EECD_DO : 0);
}

static void mdic_write(struct e1000_core *c, uint32_t v)
{
    unsigned phy = (v >> 21) & 0x1f, regno = (v >> 16) & 0x1f;
    uint32_t op = v & (3u << 26);
    uint32_t out = (v & ~(MDIC_READY | MDIC_ERROR)) | MDIC_READY;
    if (phy != 1 || (op != MDIC_OP_READ && op != MDIC_OP_WRITE)) {
        out |= MDIC_ERROR;
    } else if (op == MDIC_OP_READ) {
        out = (out & ~0xffffu) | c->phy[regno];
    } else {
        uint16_t d = (uint16_t)v;
        switch (regno) {
        case PHY_CTRL:
            if (d & PHY_CTRL_RESET) {
                phy_reset(c);
                break;
            }
            c->phy[PHY_CTRL] = d & (uint16_t) ~(PHY_CTRL_ANRST);
            if ((d & PHY_CTRL_ANRST) && !c->link_down) {
                /* Autonegotiation completes at once (the partner is always there). */
                c->phy[PHY_STATUS] |= PHY_ST_ANDONE | PHY_ST_LINK;
                c->r[ICR / 4] |= ICR_LSC;
            }
            break;
        case 4:
        case 9:
        case 16:
        case 20:
        case 22:
        case 26:
        case 29:
        case 30:
            c->phy[regno] = d;
            break;
        default:
            break; /* read-only */
        }
    }
    c->r[MDIC / 4] = out;
    if (v & MDIC_INT_EN) /* MDIC.I: an interrupt at the end of the cycle */
        raise(c, ICR_MDAC);
    else
        update_irq(c); /* an autonegotiation restart may have set LSC */
}

/* --- reset and link ---------------------------------------------------------------------- */

void e1000_core_reset(struct e1000_core *c)
{
    memset(c->r, 0, sizeof(c->r));
    c->r[CTRL / 4] = CTRL_SLU | 0x1u /* FD */ | (2u << 8) /* 1000 */;
    c->r[STATUS / 4] = STATUS_FIXED | (c->link_down ? 0 : STATUS_LU);
    c->r[EECD / 4] = EECD_PRES;
    c->r[MDIC / 4] = MDIC_READY;
    c->r[VET / 4] = 0x8100;
    c->r[0x1000 / 4] = 0x00100030; /* PBA: 48 KiB receive, 16 KiB transmit */
    c->r[0x0e00 / 4] = 0x07068302; /* LEDCTL */
    c->r[RXCSUM / 4] = RXCSUM_IPOFL;
    /* RAL0/RAH0 from the EEPROM, address valid */
    c->r[RA / 4] = (uint32_t)c->mac[0] | (uint32_t)c->mac[1] << 8 | (uint32_t)c->mac[2] << 16 |
                   (uint32_t)c->mac[3] << 24;
    c->r[RA / 4 + 1] = (uint32_t)c->mac[4] | (uint32_t)c->mac[5] << 8 | 1u << 31;
    phy_reset(c);
    c->ee_in = c->ee_bits_in = c->ee_out_bit = 0;
    c->ee_reading = false;
    c->ioaddr = 0;
    memset(&c->ctx, 0, sizeof(c->ctx));
    c->popts = 0;
    c->tse = c->vle = false;
    c->vlan = 0;
    c->txlen = 0;
    update_irq(c);
}

void e1000_core_set_link(struct e1000_core *c, bool up)
{
    c->link_down = !up;
    uint32_t *st = reg(c, STATUS);
    *st = up ? *st | STATUS_LU : *st & ~STATUS_LU;
    if (up) {
        c->phy[PHY_STATUS] |= PHY_ST_LINK | PHY_ST_ANDONE;
        c->phy[PHY_SSTATUS] |= PHY_SS_LINK;
    } else {
        c->phy[PHY_STATUS] &= (uint16_t)~PHY_ST_LINK;
        c->phy[PHY_SSTATUS] &= (uint16_t)~PHY_SS_LINK;
    }
    raise(c, ICR_LSC);
}

void e1000_core_init(struct e1000_core *c, const struct guest_mem *mem, const uint8_t mac[6],
                     const struct e1000_ops *ops, void *opaque)
{
    memset(c, 0, sizeof(*c));
    c->mem = mem;
    c->ops = ops;
    c->opaque = opaque;
    memcpy(c->mac, mac, 6);
    c->tx = calloc(1, E1000_TX_MAX);
    c->seg = calloc(1, E1000_TX_MAX);
    if (!c->tx || !c->seg)
        abort();
    eeprom_build(c);
    e1000_core_reset(c);
}

void e1000_core_destroy(struct e1000_core *c)
{
    free(c->tx);
    free(c->seg);
    c->tx = c->seg = NULL;
}

/* --- register access --------------------------------------------------------------------- */

uint32_t e1000_core_read(struct e1000_core *c, uint32_t off)
{
    off &= ~3u;
    if (off >= sizeof(c->r))
        return 0;
    uint32_t v = c->r[off / 4];
    switch (off) {
    case ICR:
        /* reading clears every cause and lowers the line */
        c->r[ICR / 4] = 0;
        update_irq(c);
        return v;
    case IMC:
    case ICS:
        return 0; /* write-only */
    default:
        break;
    }
    if (off >= STATS && off < STATS_END)
        c->r[off / 4] = 0; /* statistics clear on read */
    return v;
}

static uint32_t ring_count(const struct e1000_core *c, uint32_t len_reg)
{
    return c->r[len_reg / 4] / 16;
}

void e1000_core_write(struct e1000_core *c, uint32_t off, uint32_t val)
{
    off &= ~3u;
    if (off >= sizeof(c->r))
        return;
    switch (off) {
    case CTRL:
        if (val & CTRL_RST) {
            e1000_core_reset(c);
            return;
        }
        if ((val & CTRL_SLU) && !(c->r[CTRL / 4] & CTRL_SLU) && !c->link_down)
            c->r[ICR / 4] |= ICR_LSC; /* the link comes up as the driver sets it up */
        c->r[CTRL / 4] = val & ~(CTRL_RST | CTRL_PHY_RST);
        if (val & CTRL_PHY_RST)
            phy_reset(c);
        update_irq(c);
        return;
    case STATUS:
        return; /* read-only */
    case EECD:
        eecd_write(c, val);
        return;
    case EERD:
        if (val & EERD_START) {
            unsigned a = (val >> 8) & 0xff;
            uint32_t data = a < 64 ? c->eeprom[a] : 0;
            c->r[EERD / 4] = (uint32_t)a << 8 | EERD_DONE | data << 16;
        }
        return;
    case MDIC:
        mdic_write(c, val);
        return;
    case ICR:
        c->r[ICR / 4] &= ~val; /* write 1 to clear */
        update_irq(c);
        return;
    case ICS:
        raise(c, val);
        return;
    case IMS:
        c->r[IMS / 4] |= val;
        update_irq(c);
        return;
    case IMC:
        c->r[IMS / 4] &= ~val;
        update_irq(c);
        return;
    case RDLEN:
    case TDLEN:
        c->r[off / 4] = val & 0xfff80u; /* multiples of 128 bytes, up to 1 MiB */
        return;
    case RDBAL:
    case TDBAL:
        c->r[off / 4] = val & ~0xfu;
        return;
    case RDH:
    case RDT:
    case TDH:
    case TDT:
        c->r[off / 4] = val & 0xffff;
        if (off == TDT && c->ops->kick)
            c->ops->kick(c->opaque, true);
        if (off == RDT && c->ops->kick)
            c->ops->kick(c->opaque, false);
        return;
    case RCTL:
        c->r[RCTL / 4] = val;
        if ((val & RCTL_EN) && c->ops->kick)
            c->ops->kick(c->opaque, false);
        return;
    case TCTL:
        c->r[TCTL / 4] = val;
        if ((val & TCTL_EN) && c->ops->kick)
            c->ops->kick(c->opaque, true);
        return;
    default:
        break;
    }
    if (off >= STATS && off < STATS_END)
        return; /* read-only counters */
    c->r[off / 4] = val;
}

uint32_t e1000_core_io_read(struct e1000_core *c, uint32_t off)
{
    if (off == 0)
        return c->ioaddr;
    if (off == 4)
        return c->ioaddr < E1000_MMIO_SIZE ? e1000_core_read(c, c->ioaddr) : 0;
    return 0;
}

void e1000_core_io_write(struct e1000_core *c, uint32_t off, uint32_t val)
{
    if (off == 0)
        c->ioaddr = val & 0x1fffc;
    else if (off == 4)
        e1000_core_write(c, c->ioaddr, val);
}

/* --- checksums ---------------------------------------------------------------------------- */

static uint32_t sum_add(const uint8_t *p, size_t n, uint32_t sum)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (i < n)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static uint16_t sum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Puts the one's complement sum of bytes [css, cse] (cse 0: to the end) at cso, the 16-bit
 * field there holding the guest's seed (a pseudo-header sum, or 0). */
static void insert_csum(uint8_t *p, size_t len, unsigned css, unsigned cso, unsigned cse)
{
    if (css >= len || cso + 2 > len)
        return;
    size_t end = cse && cse < len ? (size_t)cse + 1 : len;
    if (end <= css)
        return;
    uint16_t s = (uint16_t)~sum_fold(sum_add(p + css, end - css, 0));
    put_be16(p + cso, s);
}

/* --- transmit ---------------------------------------------------------------------------- */

static void *gpa(struct e1000_core *c, uint64_t addr, uint64_t len)
{
    return guest_mem_ptr(c->mem, addr, len);
}

static void wire_out(struct e1000_core *c, uint8_t *p, size_t len)
{
    if (len < 14 || c->link_down)
        return; /* consumed, and lost on a link that is down */
    uint8_t *out = p;
    if (c->vle && (c->r[CTRL / 4] & CTRL_VME) && len + 4 <= E1000_TX_MAX) {
        /* 802.1Q tag after the addresses: the frame moves up 4 bytes in place */
        memmove(p + 16, p + 12, len - 12);
        put_be16(p + 12, (uint16_t)c->r[VET / 4]);
        put_be16(p + 14, c->vlan);
        len += 4;
    }
    c->ops->send(c->opaque, out, len);
    stat_add(c, GPTC, 1);
    stat_add(c, TPT, 1);
    stat_add64(c, GOTCL, len + 4);
    stat_add64(c, TOTL, len + 4);
    if (out[0] == 0xff && out[1] == 0xff && out[2] == 0xff && out[3] == 0xff && out[4] == 0xff &&
        out[5] == 0xff)
        stat_add(c, BPTC, 1);
    else if (out[0] & 1)
        stat_add(c, MPTC, 1);
}

/* Splits the gathered TSO packet: headers hdrlen bytes, then MSS-byte pieces of payload. */
static void tso_send(struct e1000_core *c)
{
    const struct e1000_txctx *x = &c->ctx;
    unsigned hl = x->hdrlen;
    bool ipv4 = x->tucmd & TUCMD_IP, tcp = x->tucmd & TUCMD_TCP;
    if (hl > c->txlen || x->mss == 0 || x->tucss + (tcp ? 20u : 8u) > hl ||
        x->ipcss + (ipv4 ? 20u : 40u) > hl)
        return; /* a context the packet cannot be cut by: dropped */
    uint32_t payload = c->txlen - hl, done = 0;
    uint16_t ip_id = ipv4 ? get_be16(c->tx + x->ipcss + 4) : 0;
    uint32_t seq = 0;
    if (tcp)
        seq = (uint32_t)c->tx[x->tucss + 4] << 24 | (uint32_t)c->tx[x->tucss + 5] << 16 |
              (uint32_t)c->tx[x->tucss + 6] << 8 | c->tx[x->tucss + 7];
    uint8_t flags = tcp ? c->tx[x->tucss + 13] : 0;
    /* the driver seeded the TCP/UDP checksum with the pseudo-header sum without length */
    uint16_t seed = get_be16(c->tx + x->tucso);
    do {
        uint32_t n = payload - done < x->mss ? payload - done : x->mss;
        bool last = done + n >= payload;
        uint8_t *s = c->seg;
        memcpy(s, c->tx, hl);
        memcpy(s + hl, c->tx + hl + done, n);
        uint32_t len = hl + n;
        if (ipv4) {
            put_be16(s + x->ipcss + 2, (uint16_t)(len - x->ipcss));
            put_be16(s + x->ipcss + 4, ip_id++);
        } else {
            put_be16(s + x->ipcss + 4, (uint16_t)(len - x->ipcss - 40));
        }
        uint32_t l4len = len - x->tucss;
        if (tcp) {
            uint32_t sq = seq + done;
            s[x->tucss + 4] = (uint8_t)(sq >> 24);
            s[x->tucss + 5] = (uint8_t)(sq >> 16);
            s[x->tucss + 6] = (uint8_t)(sq >> 8);
            s[x->tucss + 7] = (uint8_t)sq;
            s[x->tucss + 13] = last ? flags : (uint8_t)(flags & ~0x09); /* FIN, PSH */
        } else {
            put_be16(s + x->tucss + 4, (uint16_t)l4len);
        }
        if (c->popts & POPTS_IXSM && ipv4) {
            put_be16(s + x->ipcso, 0);
            insert_csum(s, len, x->ipcss, x->ipcso, x->ipcse);
        }
        if (c->popts & POPTS_TXSM) {
            /* the segment's length joins the seeded pseudo-header sum */
            put_be16(s + x->tucso, sum_fold((uint32_t)seed + l4len));
            insert_csum(s, len, x->tucss, x->tucso, 0);
        }
        wire_out(c, s, len);
        stat_add(c, TSCTC, 1);
        done += n;
    } while (done < payload);
}

static void packet_done(struct e1000_core *c)
{
    if (c->tse) {
        tso_send(c);
    } else {
        const struct e1000_txctx *x = &c->ctx;
        if (c->popts & POPTS_IXSM)
            insert_csum(c->tx, c->txlen, x->ipcss, x->ipcso, x->ipcse);
        if (c->popts & POPTS_TXSM)
            insert_csum(c->tx, c->txlen, x->tucss, x->tucso, x->tucse);
        wire_out(c, c->tx, c->txlen);
    }
    c->txlen = 0;
    c->popts = 0;
    c->tse = c->vle = false;
}

static void gather(struct e1000_core *c, uint64_t addr, uint32_t len)
{
    if (len == 0)
        return;
    const uint8_t *src = gpa(c, addr, len);
    uint32_t room = E1000_TX_MAX - 4 - c->txlen; /* 4: a VLAN tag may go in */
    if (!src)
        return; /* outside guest memory: the descriptor moves nothing */
    uint32_t n = len < room ? len : room;
    memcpy(c->tx + c->txlen, src, n);
    c->txlen += n;
}

/* Processes one descriptor; returns the ICR bits it asks for. */
static uint32_t tx_desc(struct e1000_core *c, uint8_t *d)
{
    uint64_t addr;
    memcpy(&addr, d, 8);
    uint32_t lower =
        (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
    uint8_t cmd = d[11];
    if (cmd & TXD_DEXT) {
        unsigned dtyp = (lower >> 20) & 0xf;
        if (dtyp == 0) { /* context */
            struct e1000_txctx *x = &c->ctx;
            x->ipcss = d[0];
            x->ipcso = d[1];
            x->ipcse = (uint16_t)(d[2] | d[3] << 8);
            x->tucss = d[4];
            x->tucso = d[5];
            x->tucse = (uint16_t)(d[6] | d[7] << 8);
            x->paylen = lower & 0xfffff;
            x->tucmd = cmd;
            x->hdrlen = d[13];
            x->mss = (uint16_t)(d[14] | d[15] << 8);
        } else if (dtyp == 1) { /* data */
            if (c->txlen == 0) {
                c->popts = d[13];
                c->tse = cmd & TXD_TSE;
                c->vle = cmd & TXD_VLE;
                c->vlan = (uint16_t)(d[14] | d[15] << 8);
            }
            gather(c, addr, lower & 0xfffff);
            if (cmd & TXD_EOP)
                packet_done(c);
        }
        /* other types are reserved: skipped */
    } else { /* legacy */
        if (c->txlen == 0) {
            c->popts = 0;
            c->tse = false;
            c->vle = cmd & TXD_VLE;
            c->vlan = (uint16_t)(d[14] | d[15] << 8);
        }
        unsigned cso = d[10], css = d[13];
        gather(c, addr, lower & 0xffff);
        if (cmd & TXD_EOP) {
            if ((cmd & TXD_IC) && cso > css)
                insert_csum(c->tx, c->txlen, css, cso, 0);
            wire_out(c, c->tx, c->txlen);
            c->txlen = 0;
            c->vle = false;
        }
    }
    if (cmd & TXD_RS) {
        d[12] |= TXD_DD;
        return ICR_TXDW;
    }
    return 0;
}

void e1000_core_tx(struct e1000_core *c)
{
    if (!(c->r[TCTL / 4] & TCTL_EN))
        return;
    uint32_t n = ring_count(c, TDLEN);
    if (n == 0)
        return;
    uint64_t base = (uint64_t)c->r[TDBAH / 4] << 32 | c->r[TDBAL / 4];
    uint32_t cause = 0;
    unsigned guard = 0;
    while (c->r[TDH / 4] != c->r[TDT / 4] && guard++ < n) {
        uint32_t h = c->r[TDH / 4];
        if (h >= n) { /* a head off the ring: the datasheet leaves it undefined; stop */
            break;
        }
        uint8_t *d = gpa(c, base + (uint64_t)h * 16, 16);
        if (!d)
            break;
        uint8_t copy[16];
        memcpy(copy, d, 16);
        cause |= tx_desc(c, copy);
        if (copy[12] != d[12]) {
            d[12] = copy[12];
            guest_mem_mark_dirty(c->mem, d + 12, 1);
        }
        c->r[TDH / 4] = (h + 1) % n;
    }
    if (c->r[TDH / 4] == c->r[TDT / 4])
        cause |= ICR_TXQE;
    raise(c, cause);
}

/* --- receive ------------------------------------------------------------------------------ */

static uint32_t rx_buf_size(const struct e1000_core *c)
{
    uint32_t rctl = c->r[RCTL / 4];
    unsigned bs = (rctl >> 16) & 3;
    if (rctl & RCTL_BSEX)
        return bs == 1 ? 16384 : bs == 2 ? 8192 : bs == 3 ? 4096 : 2048;
    return bs == 0 ? 2048 : bs == 1 ? 1024 : bs == 2 ? 512 : 256;
}

static uint32_t rx_free(const struct e1000_core *c)
{
    uint32_t n = ring_count(c, RDLEN), h = c->r[RDH / 4], t = c->r[RDT / 4];
    if (n == 0 || h >= n || t >= n)
        return 0;
    return t >= h ? t - h : n - h + t; /* RDH == RDT: empty */
}

bool e1000_core_can_receive(const struct e1000_core *c)
{
    return (c->r[RCTL / 4] & RCTL_EN) && !c->link_down && rx_free(c) > 0;
}

static bool rx_filter(struct e1000_core *c, const uint8_t *f)
{
    uint32_t rctl = c->r[RCTL / 4];
    bool bcast = !memcmp(f, "\xff\xff\xff\xff\xff\xff", 6);
    if (bcast)
        return (rctl & RCTL_BAM) || (rctl & RCTL_MPE) || (rctl & RCTL_UPE);
    if (f[0] & 1) {
        if (rctl & (RCTL_MPE | RCTL_UPE))
            return true;
        static const unsigned shift[4] = {4, 3, 2, 0};
        unsigned mo = (rctl >> 12) & 3;
        uint32_t h = ((uint32_t)f[4] >> shift[mo] | (uint32_t)f[5] << (8 - shift[mo])) & 0xfff;
        return (c->r[MTA / 4 + (h >> 5)] >> (h & 31)) & 1;
    }
    if (rctl & RCTL_UPE)
        return true;
    for (unsigned i = 0; i < 16; i++) {
        uint32_t lo = c->r[RA / 4 + 2 * i], hi = c->r[RA / 4 + 2 * i + 1];
        if (!(hi >> 31))
            continue;
        uint8_t a[6] = {(uint8_t)lo,         (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
                        (uint8_t)(lo >> 24), (uint8_t)hi,        (uint8_t)(hi >> 8)};
        if (!memcmp(a, f, 6))
            return true;
    }
    return false;
}

/* Receive checksum offload for an untagged IPv4 frame: status bits to report. */
static uint8_t rx_csum(const struct e1000_core *c, const uint8_t *f, size_t len, uint8_t *errors)
{
    uint32_t rx = c->r[RXCSUM / 4];
    if (!(rx & (RXCSUM_IPOFL | RXCSUM_TUOFL)) || len < 34 || f[12] != 0x08 || f[13] != 0)
        return RXD_IXSM;
    unsigned ihl = (f[14] & 0xf) * 4u;
    if ((f[14] >> 4) != 4 || ihl < 20 || 14 + ihl > len)
        return RXD_IXSM;
    uint8_t st = 0;
    if (rx & RXCSUM_IPOFL) {
        st |= RXD_IPCS;
        if (sum_fold(sum_add(f + 14, ihl, 0)) != 0xffff)
            *errors |= 0x40; /* IPE */
    }
    unsigned tot = get_be16(f + 16), proto = f[23];
    bool frag = (get_be16(f + 20) & 0x3fff) != 0;
    if ((rx & RXCSUM_TUOFL) && !frag && (proto == 6 || proto == 17) && tot >= ihl &&
        14u + tot <= len) {
        const uint8_t *l4 = f + 14 + ihl;
        unsigned l4len = tot - ihl;
        if (l4len >= (proto == 6 ? 20u : 8u) && !(proto == 17 && get_be16(l4 + 6) == 0)) {
            uint32_t s = sum_add(f + 26, 8, 0) + proto + l4len;
            st |= RXD_TCPCS;
            if (sum_fold(sum_add(l4, l4len, s)) != 0xffff)
                *errors |= 0x20; /* TCPE */
        }
    }
    return st;
}

bool e1000_core_receive(struct e1000_core *c, const uint8_t *frame, size_t len)
{
    if (!(c->r[RCTL / 4] & RCTL_EN) || c->link_down || len < 14 || len > 16384)
        return true; /* nowhere to go: the wire drops it */
    if (!rx_filter(c, frame))
        return true;
    /* An 802.1Q frame (type VET): with RCTL.VFE its VLAN must be on in the VFTA; with
     * CTRL.VME the tag is stripped into the descriptor's special field (status VP). */
    uint8_t untagged[16384];
    uint16_t vlan_tag = 0;
    bool vp = false;
    if (len >= 18 && get_be16(frame + 12) == (uint16_t)c->r[VET / 4]) {
        uint16_t tci = get_be16(frame + 14), vid = tci & 0xfff;
        if ((c->r[RCTL / 4] & RCTL_VFE) && !((c->r[VFTA / 4 + (vid >> 5)] >> (vid & 31)) & 1))
            return true;
        if (c->r[CTRL / 4] & CTRL_VME) {
            memcpy(untagged, frame, 12);
            memcpy(untagged + 12, frame + 16, len - 16);
            frame = untagged;
            len -= 4;
            vlan_tag = tci;
            vp = true;
        }
    }
    uint8_t pad[60];
    if (len < 60) { /* the wire's minimum frame */
        memcpy(pad, frame, len);
        memset(pad + len, 0, 60 - len);
        frame = pad;
        len = 60;
    }
    uint32_t fcs = (c->r[RCTL / 4] & RCTL_SECRC) ? 0 : 4;
    size_t total = len + fcs;
    uint32_t bsize = rx_buf_size(c), n = ring_count(c, RDLEN);
    uint32_t need = (uint32_t)((total + bsize - 1) / bsize);
    if (rx_free(c) < need) {
        if (n == 0 || rx_free(c) == 0 || need > n - 1) {
            /* no descriptor at all (or never enough): counted as missed, retried later */
            stat_add(c, RNBC, 1);
            raise(c, ICR_RXO);
        }
        if (need > n - 1 && n > 0) {
            stat_add(c, MPC, 1);
            return true; /* can never fit */
        }
        return false;
    }
    uint64_t base = (uint64_t)c->r[RDBAH / 4] << 32 | c->r[RDBAL / 4];
    uint8_t errors = 0;
    uint8_t csum_st = rx_csum(c, frame, len, &errors);
    size_t done = 0;
    while (done < total) {
        uint32_t h = c->r[RDH / 4];
        uint8_t *d = gpa(c, base + (uint64_t)h * 16, 16);
        uint32_t piece = total - done < bsize ? (uint32_t)(total - done) : bsize;
        if (d) {
            uint64_t addr;
            memcpy(&addr, d, 8);
            uint8_t *buf = addr ? gpa(c, addr, piece) : NULL;
            if (buf) {
                size_t from_frame = done < len ? (len - done < piece ? len - done : piece) : 0;
                if (from_frame)
                    memcpy(buf, frame + done, from_frame);
                memset(buf + from_frame, 0, piece - from_frame); /* the FCS: zeros */
                guest_mem_mark_dirty(c->mem, buf, piece);
            }
            bool eop = done + piece >= total;
            d[8] = (uint8_t)piece;
            d[9] = (uint8_t)(piece >> 8);
            d[10] = d[11] = 0;
            d[12] = (uint8_t)(RXD_DD | (eop ? RXD_EOP | csum_st | (vp ? RXD_VP : 0) : 0));
            d[13] = eop ? errors : 0;
            d[14] = eop ? (uint8_t)vlan_tag : 0;
            d[15] = eop ? (uint8_t)(vlan_tag >> 8) : 0;
            guest_mem_mark_dirty(c->mem, d, 16);
        }
        done += piece;
        c->r[RDH / 4] = (h + 1) % n;
    }
    stat_add(c, GPRC, 1);
    stat_add(c, TPR, 1);
    stat_add64(c, GORCL, total);
    stat_add64(c, TORL, total);
    if (!memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6))
        stat_add(c, BPRC, 1);
    else if (frame[0] & 1)
        stat_add(c, MPRC, 1);
    uint32_t cause = ICR_RXT0;
    static const unsigned rdmts_shift[4] = {1, 2, 3, 3};
    if (rx_free(c) <= n >> rdmts_shift[(c->r[RCTL / 4] >> 8) & 3])
        cause |= ICR_RXDMT0;
    raise(c, cause);
    return true;
}

/* --- state -------------------------------------------------------------------------------- */

/* Records: "e1000.regs" (the register file, le32 words over 0x0000-0x5fff), "e1000.phy" (32
 * le16), "e1000.misc" (le32: IOADDR, EEPROM input bits, input count, output bit, flags:
 * reading 1, link down 2, tse 4, vle 8; then the context: ipcss, ipcso, ipcse, tucss, tucso,
 * tucse, paylen, tucmd, hdrlen, mss, popts, vlan), "e1000.tx" (the packet being gathered,
 * variable length). */
#define MISC_WORDS 17

int e1000_core_save(struct e1000_core *c, struct dev_state_writer *w, struct verr *err)
{
    uint8_t *regs = malloc(sizeof(c->r));
    if (!regs)
        return verr_set(err, ENOMEM, "e1000: out of memory");
    for (unsigned i = 0; i < E1000_REG_WORDS; i++)
        state_put_le(regs + 4 * i, c->r[i], 4);
    uint8_t phy[64], misc[MISC_WORDS * 4];
    for (unsigned i = 0; i < 32; i++)
        state_put_le(phy + 2 * i, c->phy[i], 2);
    const struct e1000_txctx *x = &c->ctx;
    uint32_t m[MISC_WORDS] = {c->ioaddr,
                              c->ee_in,
                              c->ee_bits_in,
                              c->ee_out_bit,
                              (c->ee_reading ? 1u : 0) | (c->link_down ? 2u : 0) |
                                  (c->tse ? 4u : 0) | (c->vle ? 8u : 0),
                              x->ipcss,
                              x->ipcso,
                              x->ipcse,
                              x->tucss,
                              x->tucso,
                              x->tucse,
                              x->paylen,
                              x->tucmd,
                              x->hdrlen,
                              x->mss,
                              c->popts,
                              c->vlan};
    for (unsigned i = 0; i < MISC_WORDS; i++)
        state_put_le(misc + 4 * i, m[i], 4);
    int r = w->put(w, "e1000.regs", regs, sizeof(c->r), err);
    free(regs);
    if (r == 0)
        r = w->put(w, "e1000.phy", phy, sizeof(phy), err);
    if (r == 0)
        r = w->put(w, "e1000.misc", misc, sizeof(misc), err);
    if (r == 0)
        r = w->put(w, "e1000.tx", c->tx, c->txlen, err);
    return r;
}

int e1000_core_load(struct e1000_core *c, struct dev_state_reader *r, struct verr *err)
{
    uint8_t *regs = malloc(sizeof(c->r));
    if (!regs)
        return verr_set(err, ENOMEM, "e1000: out of memory");
    uint8_t phy[64], misc[MISC_WORDS * 4];
    const uint8_t *tx;
    size_t txlen;
    int rc = r->get(r, "e1000.regs", regs, sizeof(c->r), err);
    if (rc == 0)
        rc = r->get(r, "e1000.phy", phy, sizeof(phy), err);
    if (rc == 0)
        rc = r->get(r, "e1000.misc", misc, sizeof(misc), err);
    if (rc == 0)
        rc = r->get_var(r, "e1000.tx", &tx, &txlen, err);
    if (rc < 0) {
        free(regs);
        return rc;
    }
    uint32_t m[MISC_WORDS], rg[8];
    for (unsigned i = 0; i < MISC_WORDS; i++)
        m[i] = (uint32_t)state_get_le(misc + 4 * i, 4);
    static const uint32_t checked[8] = {RDLEN, RDH, RDT, TDLEN, TDH, TDT, RDBAL, TDBAL};
    for (unsigned i = 0; i < 8; i++)
        rg[i] = (uint32_t)state_get_le(regs + checked[i], 4);
    const char *bad = NULL;
    if ((rg[0] & ~0xfff80u) || (rg[3] & ~0xfff80u))
        bad = "e1000.regs: a ring length is not a multiple of 128 bytes up to 1 MiB";
    else if ((rg[1] | rg[2] | rg[4] | rg[5]) > 0xffff)
        bad = "e1000.regs: a ring head or tail is wider than 16 bits";
    else if ((rg[6] | rg[7]) & 0xf)
        bad = "e1000.regs: a ring base is not 16-byte aligned";
    else if (m[0] >= E1000_MMIO_SIZE || (m[0] & 3) || m[2] >= 9 || m[3] >= 64 * 16 ||
             (m[4] & ~0xfu) || m[5] > 0xff || m[6] > 0xff || m[7] > 0xffff || m[8] > 0xff ||
             m[9] > 0xff || m[10] > 0xffff || m[11] > 0xfffff || m[12] > 0xff || m[13] > 0xff ||
             m[14] > 0xffff || m[15] > 0xff || m[16] > 0xffff)
        bad = "e1000.misc: a value out of its register's range";
    else if (txlen > E1000_TX_MAX - 4)
        bad = "e1000.tx: longer than the largest packet";
    if (bad) {
        free(regs);
        return verr_set(err, EINVAL, "field '%s'", bad);
    }
    for (unsigned i = 0; i < E1000_REG_WORDS; i++)
        c->r[i] = (uint32_t)state_get_le(regs + 4 * i, 4);
    free(regs);
    for (unsigned i = 0; i < 32; i++)
        c->phy[i] = (uint16_t)state_get_le(phy + 2 * i, 2);
    c->ioaddr = m[0];
    c->ee_in = m[1];
    c->ee_bits_in = m[2];
    c->ee_out_bit = m[3];
    c->ee_reading = m[4] & 1;
    c->link_down = m[4] & 2;
    c->tse = m[4] & 4;
    c->vle = m[4] & 8;
    c->ctx = (struct e1000_txctx){.ipcss = (uint8_t)m[5],
                                  .ipcso = (uint8_t)m[6],
                                  .ipcse = (uint16_t)m[7],
                                  .tucss = (uint8_t)m[8],
                                  .tucso = (uint8_t)m[9],
                                  .tucse = (uint16_t)m[10],
                                  .paylen = m[11],
                                  .tucmd = (uint8_t)m[12],
                                  .hdrlen = (uint8_t)m[13],
                                  .mss = (uint16_t)m[14]};
    c->popts = (uint8_t)m[15];
    c->vlan = (uint16_t)m[16];
    if (txlen)
        memcpy(c->tx, tx, txlen);
    c->txlen = (uint32_t)txlen;
    update_irq(c);
    return 0;
}
