/*
 * The AHCI test (tests=ahci): the guest's own AHCI driver finds the
 * controller (8086:2922, class 01.06.01) on bus 0, maps ABAR (BAR 5), and
 * drives an ide-hd on port ahci_hd_port= (default 0) and, with
 * ahci_cd_label=, an ide-cd on port ahci_cd_port= (default 2) holding an ISO
 * 9660 image. Completion is polled (PxCI, PxIS), but for the MSI test.
 *
 * HBA: CAP (6 ports, 32 slots, 64-bit, NCQ), PI, GHC.AE; an empty port has
 * no link. Disk: its signature, IDENTIFY DEVICE by PIO (the PIO Setup FIS,
 * the model, the sector count against ahci_blocks=, the checksum word), WRITE
 * DMA EXT / READ DMA EXT and READ DMA of patterns read back with PRDBC, two
 * NCQ reads issued together (Set Device Bits FIS, PxSACT cleared), a read
 * past the end refused (TFES, ABRT) and the port recovered, FLUSH CACHE EXT,
 * then "ahci-crc32=X" of the whole disk for the host to compare; an MSI for a
 * read (the function's MSI capability, GHC.IE, PxIE). CD-ROM: the
 * ATAPI signature, IDENTIFY DEVICE aborted, IDENTIFY PACKET DEVICE, the
 * power-on unit attention as ATAPI reports it (ERR, sense key in the error
 * register) and REQUEST SENSE, INQUIRY, READ CAPACITY, READ(10) of the
 * primary volume descriptor and its label (ahci_cd_label=). With
 * ahci_cd_change=NEW the guest says "ahci-cd: ready" and polls TEST UNIT
 * READY until the medium goes and comes while the host changes the ISO
 * through QMP, then reads the new label.
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/cpu.h"
#include "lib/crc32.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "lib/pci.h"
#include "virtio.h"

#define ABAR_POOL 0xdf000000ull /* inside both VMMs' 32-bit windows, above virtio's BARs */

struct hba {
    uint64_t abar;
};

struct port {
    unsigned n;
    uint8_t *list; /* 32 command headers */
    uint8_t *fis;  /* received FIS area */
    uint8_t *tables;
};

static uint8_t cmd_list[1024] __attribute__((aligned(1024)));
static uint8_t rx_fis[256] __attribute__((aligned(256)));
static uint8_t cmd_tables[4][256] __attribute__((aligned(128)));
static uint8_t data[65536] __attribute__((aligned(4096)));
static uint8_t data2[65536] __attribute__((aligned(4096)));
static uint32_t crc_table[256];

static uint32_t rd(struct hba *h, unsigned off)
{
    return *(volatile uint32_t *)(uintptr_t)(h->abar + off);
}

static void wr(struct hba *h, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(h->abar + off) = v;
}

static unsigned preg(const struct port *p, unsigned r)
{
    return 0x100 + 0x80 * p->n + r;
}

#define PX_CLB  0x00
#define PX_CLBU 0x04
#define PX_FB   0x08
#define PX_FBU  0x0c
#define PX_IS   0x10
#define PX_IE   0x14
#define PX_CMD  0x18
#define PX_TFD  0x20
#define PX_SIG  0x24
#define PX_SSTS 0x28
#define PX_SERR 0x30
#define PX_SACT 0x34
#define PX_CI   0x38

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Stops the port's engine and points it at this driver's command list and FIS area. */
static void port_start(struct hba *h, struct port *p)
{
    uint32_t c = rd(h, preg(p, PX_CMD));
    wr(h, preg(p, PX_CMD), c & ~0x11u);
    for (int i = 0; i < 100000 && (rd(h, preg(p, PX_CMD)) & 0xc000); i++)
        cpu_pause();
    memset(cmd_list, 0, sizeof(cmd_list));
    memset(rx_fis, 0, sizeof(rx_fis));
    p->list = cmd_list;
    p->fis = rx_fis;
    wr(h, preg(p, PX_CLB), (uint32_t)(uintptr_t)cmd_list);
    wr(h, preg(p, PX_CLBU), 0);
    wr(h, preg(p, PX_FB), (uint32_t)(uintptr_t)rx_fis);
    wr(h, preg(p, PX_FBU), 0);
    wr(h, preg(p, PX_SERR), 0xffffffffu);
    wr(h, preg(p, PX_IS), 0xffffffffu);
    wr(h, preg(p, PX_CMD), (rd(h, preg(p, PX_CMD)) | 0x10)); /* FRE */
    wr(h, preg(p, PX_CMD), (rd(h, preg(p, PX_CMD)) | 0x01)); /* ST */
}

/* Fills command slot `slot`: FIS (20 bytes), optional ATAPI packet, one PRD of len bytes. */
static void prep(struct port *p, unsigned slot, const uint8_t *fis, const uint8_t *packet,
                 void *buf, uint32_t len, bool write)
{
    uint8_t *t = cmd_tables[slot];
    memset(t, 0, 256);
    memcpy(t, fis, 20);
    if (packet)
        memcpy(t + 0x40, packet, 12);
    if (len) {
        put32(t + 0x80, (uint32_t)(uintptr_t)buf);
        put32(t + 0x84, 0);
        put32(t + 0x8c, len - 1);
    }
    uint8_t *hd = p->list + 32 * slot;
    memset(hd, 0, 32);
    put32(hd, 5 | (packet ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | (len ? 1u << 16 : 0));
    put32(hd + 8, (uint32_t)(uintptr_t)t);
}

struct result {
    bool done;
    uint32_t is, tfd, prdbc;
};

/* Issues slots (a mask) and waits until they leave PxCI or a task file error comes. */
static struct result issue(struct hba *h, struct port *p, uint32_t slots, bool ncq)
{
    struct result r = {0};
    wr(h, preg(p, PX_IS), 0xffffffffu);
    if (ncq)
        wr(h, preg(p, PX_SACT), slots);
    wr(h, preg(p, PX_CI), slots);
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 20000000000ull) {
        /* NCQ commands leave PxCI when the drive takes them and PxSACT when they end. */
        uint32_t ci = rd(h, preg(p, PX_CI)), is = rd(h, preg(p, PX_IS));
        uint32_t busy = ci | (ncq ? rd(h, preg(p, PX_SACT)) : 0);
        if (!(busy & slots) || (is & (1u << 30))) {
            r.done = true;
            break;
        }
        cpu_pause();
    }
    r.is = rd(h, preg(p, PX_IS));
    r.tfd = rd(h, preg(p, PX_TFD));
    unsigned first = 0; /* no __builtin_ctz: tzcnt is not in KVM's emulator here */
    while (first < 31 && !(slots & (1u << first)))
        first++;
    r.prdbc = get32(p->list + 4 + 32 * first);
    return r;
}

/* After a task file error: the engine off and on again (AHCI 6.2.2.1). */
static void recover(struct hba *h, struct port *p)
{
    wr(h, preg(p, PX_CMD), rd(h, preg(p, PX_CMD)) & ~1u);
    for (int i = 0; i < 100000 && (rd(h, preg(p, PX_CMD)) & 0x8000); i++)
        cpu_pause();
    wr(h, preg(p, PX_SERR), 0xffffffffu);
    wr(h, preg(p, PX_IS), 0xffffffffu);
    wr(h, preg(p, PX_CMD), rd(h, preg(p, PX_CMD)) | 1u);
}

static bool good(struct result r)
{
    return r.done && !(r.is & (1u << 30)) && (r.tfd & 0x89) == 0 && (r.tfd & 0x40);
}

static void fis_simple(uint8_t *f, uint8_t cmd)
{
    memset(f, 0, 20);
    f[0] = 0x27;
    f[1] = 0x80;
    f[2] = cmd;
}

static void fis_rw(uint8_t *f, uint8_t cmd, uint64_t lba, uint32_t count)
{
    fis_simple(f, cmd);
    f[3] = 1;
    f[4] = (uint8_t)lba, f[5] = (uint8_t)(lba >> 8), f[6] = (uint8_t)(lba >> 16);
    f[7] = 0x40;
    f[8] = (uint8_t)(lba >> 24), f[9] = (uint8_t)(lba >> 32), f[10] = (uint8_t)(lba >> 40);
    f[12] = (uint8_t)count, f[13] = (uint8_t)(count >> 8);
}

static struct result rw_ext(struct hba *h, struct port *p, bool write, uint64_t lba, uint32_t count,
                            void *buf)
{
    uint8_t f[20];
    fis_rw(f, write ? 0x35 : 0x25, lba, count);
    prep(p, 0, f, 0, buf, count * 512, write);
    return issue(h, p, 1, false);
}

static void pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 8)) ^ seed);
}

static uint32_t crc32_fast(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* The ATA string at words [w, w + n/2) of IDENTIFY data, spaces cut. */
static void ata_string(const uint8_t *id, unsigned w, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i += 2) {
        out[i] = (char)id[2 * w + i + 1];
        out[i + 1] = (char)id[2 * w + i];
    }
    out[n] = 0;
    while (n && out[n - 1] == ' ')
        out[--n] = 0;
}

static bool id_checksum_ok(const uint8_t *id)
{
    uint8_t sum = 0;
    for (unsigned i = 0; i < 512; i++)
        sum = (uint8_t)(sum + id[i]);
    /* Word 255 is optional (QEMU leaves it 0); when its signature is there the sum is 0. */
    return (id[510] == 0 && id[511] == 0) || (id[510] == 0xa5 && sum == 0);
}

static void test_disk(struct guest *g, struct hba *h, struct port *p)
{
    struct tap *t = &g->tap;
    port_start(h, p);
    uint32_t sig = rd(h, preg(p, PX_SIG)), ssts = rd(h, preg(p, PX_SSTS));
    tap_ok(t, sig == 0x101 && (ssts & 0xf) == 3,
           "ahci disk: port %u: link up, ATA signature once FIS receive is on (sig %08x ssts "
           "%03x)",
           p->n, sig, ssts);
    uint8_t f[20];
    fis_simple(f, 0xec);
    memset(data, 0, 512);
    prep(p, 0, f, 0, data, 512, false);
    struct result r = issue(h, p, 1, false);
    char model[41];
    ata_string(data, 27, 40, model);
    uint64_t sectors = get32(data + 200) | (uint64_t)get32(data + 204) << 32;
    uint64_t want = 0;
    param_u64(g, "ahci_blocks", false, false, &want);
    tap_ok(t, good(r) && (r.is & 2) && p->fis[0x20] == 0x5f && r.prdbc == 512,
           "ahci disk: IDENTIFY DEVICE by PIO: PIO Setup FIS, 512 bytes (is %08x tfd %x prdbc %u)",
           r.is, r.tfd, r.prdbc);
    tap_ok(t,
           !strcmp(model, "QEMU HARDDISK") && sectors == want && id_checksum_ok(data) &&
               (data[167] & (1 << 2)) && (data[153] & 1),
           "ahci disk: IDENTIFY: '%s', %lu sectors (want %lu), LBA48, NCQ, checksum (words 76 "
           "%02x%02x, 83 %02x%02x, 255 %02x%02x)",
           model, sectors, want, data[153], data[152], data[167], data[166], data[511], data[510]);

    pattern(data, 16384, 3);
    r = rw_ext(h, p, true, 8, 32, data);
    struct result r2 = rw_ext(h, p, false, 8, 32, data2);
    tap_ok(t,
           good(r) && good(r2) && r2.prdbc == 16384 && !memcmp(data, data2, 16384) && (r2.is & 1) &&
               p->fis[0x40] == 0x34,
           "ahci disk: WRITE DMA EXT of 16 KiB at LBA 8 reads back with READ DMA EXT (D2H FIS)");
    fis_rw(f, 0xc8, 12, 8);
    f[8] = f[9] = f[10] = 0;
    memset(data2, 0, 4096);
    prep(p, 0, f, 0, data2, 4096, false);
    r = issue(h, p, 1, false);
    tap_ok(t, good(r) && !memcmp(data + 2048, data2, 4096),
           "ahci disk: READ DMA (28-bit) sees the same data");

    /* NCQ: two READ FPDMA QUEUED in slots 1 and 2 at once. */
    uint8_t q1[20], q2[20];
    fis_simple(q1, 0x60);
    q1[3] = 8; /* count in the features field */
    q1[4] = 8;
    q1[7] = 0x40;
    q1[12] = 1 << 3; /* tag 1 */
    memcpy(q2, q1, 20);
    q2[4] = 16;
    q2[12] = 2 << 3;
    memset(data2, 0, 8192);
    prep(p, 1, q1, 0, data2, 4096, false);
    prep(p, 2, q2, 0, data2 + 4096, 4096, false);
    r = issue(h, p, 6, true);
    tap_ok(t,
           r.done && !(r.is & (1u << 30)) && (r.is & 8) && p->fis[0x58] == 0xa1 &&
               rd(h, preg(p, PX_SACT)) == 0 && !memcmp(data, data2, 8192),
           "ahci disk: two NCQ reads (tags 1, 2): Set Device Bits FIS, PxSACT clear, data "
           "(is %08x)",
           r.is);

    r = rw_ext(h, p, false, want - 1, 2, data2);
    tap_ok(t, r.done && (r.is & (1u << 30)) && (r.tfd & 1) && ((r.tfd >> 8) & 0x04),
           "ahci disk: a read past the end: task file error, aborted (is %08x tfd %04x)", r.is,
           r.tfd);
    recover(h, p);
    fis_simple(f, 0xea);
    prep(p, 0, f, 0, 0, 0, false);
    r = issue(h, p, 1, false);
    tap_ok(t, good(r), "ahci disk: after recovery, FLUSH CACHE EXT (tfd %x)", r.tfd);
    fis_simple(f, 0xa1);
    prep(p, 0, f, 0, data2, 512, false);
    r = issue(h, p, 1, false);
    tap_ok(t, r.done && (r.is & (1u << 30)) && ((r.tfd >> 8) & 4),
           "ahci disk: IDENTIFY PACKET DEVICE aborted (tfd %04x)", r.tfd);
    recover(h, p);

    for (uint32_t i = 0; i < 256; i++) {
        uint8_t b = (uint8_t)i;
        crc_table[i] = crc32_update(0xffffffffu, &b, 1) ^ 0xffffffffu;
    }
    uint32_t crc = 0;
    bool ok = true;
    for (uint64_t lba = 0; lba < want && ok; lba += 128) {
        uint32_t n = want - lba < 128 ? (uint32_t)(want - lba) : 128;
        ok = good(rw_ext(h, p, false, lba, n, data2));
        crc = crc32_fast(crc, data2, n * 512u);
    }
    tap_ok(t, ok, "ahci disk: read the whole disk");
    tap_diag(t, "ahci-crc32=%08x", crc);
}

/* MSI: the handler counts, clears the port's PxIS and the HBA's IS, then EOI. */
struct msi_ctx {
    volatile unsigned n;
    volatile uint32_t is;
    struct hba *h;
    struct port *p;
    uint64_t lapic;
};

static void ahci_isr(struct isr_frame *f, void *ctx)
{
    struct msi_ctx *c = ctx;
    (void)f;
    uint32_t is = rd(c->h, preg(c->p, PX_IS));
    c->is |= is;
    wr(c->h, preg(c->p, PX_IS), is);
    wr(c->h, 0x08, rd(c->h, 0x08));
    c->n++;
    lapic_eoi(c->lapic);
}

/* The function's MSI capability pointed at this CPU, GHC.IE and PxIE on: a READ DMA EXT
 * raises one interrupt with PxIS.DHRS, which the handler clears. */
static void test_msi(struct guest *g, struct hba *h, struct port *p, const struct pci_access *pa,
                     unsigned dev, unsigned fn)
{
    struct tap *t = &g->tap;
    unsigned cap = pci_find_cap(pa, 0, dev, fn, 0x05, 0);
    if (!cap) {
        tap_ok(t, false, "ahci: no MSI capability");
        return;
    }
    static struct msi_ctx c;
    c = (struct msi_ctx){0, 0, h, p, g->lapic_base};
    lapic_enable(g->lapic_base, VEC_SPURIOUS);
    cpu_set_handler(VEC_VIRTIO, ahci_isr, &c);
    pci_write32(pa, 0, dev, fn, cap + 4, 0xfee00000u | g->bsp_apic_id << 12);
    pci_write32(pa, 0, dev, fn, cap + 8, 0);
    pci_write32(pa, 0, dev, fn, cap + 12, VEC_VIRTIO);
    uint32_t ctrl = pci_read32(pa, 0, dev, fn, cap);
    pci_write32(pa, 0, dev, fn, cap, ctrl | (1u << 16)); /* MSI enable */
    wr(h, preg(p, PX_IE), 0x7d00000fu);
    wr(h, 0x04, rd(h, 0x04) | 2); /* GHC.IE */
    irq_enable();
    struct result r = rw_ext(h, p, false, 0, 8, data2);
    uint64_t t0 = rdtsc();
    while (c.n == 0 && rdtsc() - t0 < 20000000000ull)
        cpu_pause();
    irq_disable();
    tap_ok(t, good(r) && c.n >= 1 && (c.is & 1) && rd(h, preg(p, PX_IS)) == 0,
           "ahci: MSI: a READ DMA EXT raises an interrupt with PxIS.DHRS (%u, is %08x)", c.n, c.is);
    wr(h, 0x04, rd(h, 0x04) & ~2u);
    wr(h, preg(p, PX_IE), 0);
    pci_write32(pa, 0, dev, fn, cap, ctrl & ~(1u << 16));
    cpu_set_handler(VEC_VIRTIO, 0, 0);
}

struct atapi {
    struct result r;
    uint8_t error;
};

static struct atapi packet(struct hba *h, struct port *p, const uint8_t *cdb, void *buf,
                           uint32_t len)
{
    uint8_t f[20];
    fis_simple(f, 0xa0);
    f[3] = 1; /* DMA */
    f[5] = (uint8_t)len, f[6] = (uint8_t)(len >> 8);
    prep(p, 0, f, cdb, buf, len, false);
    struct atapi a = {issue(h, p, 1, false), 0};
    a.error = (uint8_t)(a.r.tfd >> 8);
    if (a.r.is & (1u << 30))
        recover(h, p);
    return a;
}

static struct atapi tur(struct hba *h, struct port *p)
{
    static const uint8_t c[12] = {0};
    return packet(h, p, c, 0, 0);
}

static bool read_label(struct hba *h, struct port *p, char *label)
{
    uint8_t c[12] = {0x28, 0, 0, 0, 0, 16, 0, 0, 1};
    memset(data2, 0, 2048);
    struct atapi a = packet(h, p, c, data2, 2048);
    if (!good(a.r) || data2[0] != 1 || memcmp(data2 + 1, "CD001", 5))
        return false;
    unsigned n = 32;
    memcpy(label, data2 + 40, 32);
    while (n && label[n - 1] == ' ')
        n--;
    label[n] = '\0';
    return true;
}

static bool label_is(struct guest *g, const char *key, const char *label)
{
    const char *v;
    uint32_t n;
    return param_str(g, key, &v, &n) && strlen(label) == n && !memcmp(v, label, n);
}

static void test_cd(struct guest *g, struct hba *h, struct port *p)
{
    struct tap *t = &g->tap;
    port_start(h, p);
    uint32_t sig = rd(h, preg(p, PX_SIG));
    tap_ok(t, sig == 0xeb140101u, "ahci cd: port %u: ATAPI signature (%08x)", p->n, sig);
    uint8_t f[20];
    fis_simple(f, 0xec);
    prep(p, 0, f, 0, data, 512, false);
    struct result r = issue(h, p, 1, false);
    tap_ok(t,
           r.done && (r.is & (1u << 30)) && ((r.tfd >> 8) & 4) && p->fis[0x40 + 5] == 0x14 &&
               p->fis[0x40 + 6] == 0xeb,
           "ahci cd: IDENTIFY DEVICE aborted with the ATAPI signature in the D2H FIS");
    recover(h, p);
    fis_simple(f, 0xa1);
    memset(data, 0, 512);
    prep(p, 0, f, 0, data, 512, false);
    r = issue(h, p, 1, false);
    char model[41];
    ata_string(data, 27, 40, model);
    tap_ok(t, good(r) && data[0] == 0xc0 && data[1] == 0x85 && !strcmp(model, "QEMU DVD-ROM"),
           "ahci cd: IDENTIFY PACKET DEVICE: ATAPI CD-ROM, removable, '%s' (word 0 %02x%02x)",
           model, data[1], data[0]);
    struct atapi a = tur(h, p);
    tap_ok(t, good(a.r), "ahci cd: TEST UNIT READY: ready, no unit attention (tfd %04x)", a.r.tfd);
    uint8_t past[12] = {0x28, 0, 0, 0x10, 0, 0, 0, 0, 1};
    a = packet(h, p, past, data, 2048);
    tap_ok(t, a.r.done && (a.r.tfd & 1) && (a.error >> 4) == 5,
           "ahci cd: READ(10) past the end: ERR, sense key ILLEGAL REQUEST in the error "
           "register (tfd %04x)",
           a.r.tfd);
    uint8_t rs[12] = {0x03, 0, 0, 0, 18};
    memset(data, 0, 18);
    a = packet(h, p, rs, data, 18);
    tap_ok(t, good(a.r) && (data[2] & 0xf) == 5 && data[12] == 0x21,
           "ahci cd: REQUEST SENSE: ILLEGAL REQUEST, LBA out of range (%x/%02x)", data[2] & 0xf,
           data[12]);
    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    memset(data, 0, 64);
    a = packet(h, p, inq, data, 36);
    tap_ok(t,
           good(a.r) && (data[0] & 0x1f) == 5 && (data[1] & 0x80) &&
               !memcmp(data + 16, "QEMU DVD-ROM", 12) && a.r.prdbc == 36,
           "ahci cd: INQUIRY: type 5, removable, QEMU DVD-ROM (%u bytes)", a.r.prdbc);
    uint8_t rc[12] = {0x25};
    memset(data, 0, 8);
    a = packet(h, p, rc, data, 8);
    tap_ok(t, good(a.r) && get_be32(data + 4) == 2048 && get_be32(data) > 16,
           "ahci cd: READ CAPACITY: %u blocks of %u bytes", get_be32(data) + 1, get_be32(data + 4));
    char label[33];
    bool got = read_label(h, p, label);
    tap_ok(t, got && label_is(g, "ahci_cd_label", label),
           "ahci cd: READ(10) of the primary volume descriptor, label '%s'", got ? label : "?");
    const char *v;
    uint32_t n;
    if (!param_str(g, "ahci_cd_change", &v, &n))
        return;
    tap_diag(t, "ahci-cd: ready");
    bool gone = false, came = false;
    uint64_t t0 = rdtsc();
    while (!came && rdtsc() - t0 < 400000000000ull) {
        a = tur(h, p);
        if (a.r.tfd & 1) { /* NOT READY or UNIT ATTENTION: QEMU and SCSI differ here */
            memset(data, 0, 18);
            packet(h, p, rs, data, 18);
            if (data[12] == 0x3a)
                gone = true;
            else if (data[12] == 0x28)
                came = true;
        }
        for (int i = 0; i < 100000; i++)
            cpu_pause();
    }
    tap_ok(t, gone && came,
           "ahci cd: unit attentions through REQUEST SENSE: medium not present, then medium "
           "changed (%d, %d)",
           gone, came);
    got = read_label(h, p, label);
    tap_ok(t, got && label_is(g, "ahci_cd_change", label), "ahci cd: the new ISO's label '%s'",
           got ? label : "?");
}

static bool crc_blocks(struct hba *h, struct port *p, uint32_t lba, uint32_t *crc)
{
    *crc = 0;
    if (!good(rw_ext(h, p, false, lba, 32, data2)))
        return false;
    *crc = crc32_fast(0, data2, 32 * 512u);
    return true;
}

/* ahci_pause=1, last: 32 blocks written at LBA 64 and read back, then "ahci: paused" and a
 * wait for a 'c' on COM1 while the host saves and restores the VM. After, without setting
 * the ports up again (their registers must have travelled): the blocks read back, 32 more
 * are written at LBA 128 and read back, and the CD answers TEST UNIT READY at once (no unit
 * attention: the drive's state travelled) with the medium it had. */
static void test_pause(struct guest *g, struct hba *h, struct port *hd, struct port *cd)
{
    struct tap *t = &g->tap;
    pattern(data, 32 * 512u, 0x5ca1ab1e);
    uint32_t want = crc32_fast(0, data, 32 * 512u), got = 0;
    /* The disk's command list again (the CD's port has its own registers but shares the
     * driver's buffers: point them back at the disk's). */
    port_start(h, hd);
    bool ok = good(rw_ext(h, hd, true, 64, 32, data)) && crc_blocks(h, hd, 64, &got);
    tap_ok(t, ok && got == want, "ahci-pause: 32 blocks written at LBA 64 read back (crc %08x)",
           got);
    tap_diag(t, "ahci: paused");
    for (;;) {
        if ((serial_read_reg(&g->uart, 5) & 1) && serial_read_reg(&g->uart, 0) == 'c')
            break;
        cpu_pause();
    }
    uint32_t cmd = rd(h, preg(hd, PX_CMD)), clb = rd(h, preg(hd, PX_CLB));
    tap_ok(t, (cmd & 0xc011) == 0xc011 && clb == (uint32_t)(uintptr_t)cmd_list,
           "ahci-pause: the port is still started, its command list where it was (cmd %08x)", cmd);
    ok = crc_blocks(h, hd, 64, &got);
    tap_ok(t, ok && got == want, "ahci-pause: the blocks at LBA 64 read back after the pause");
    pattern(data, 32 * 512u, 0xfeedf00d);
    want = crc32_fast(0, data, 32 * 512u);
    ok = good(rw_ext(h, hd, true, 128, 32, data)) && crc_blocks(h, hd, 128, &got);
    tap_ok(t, ok && got == want, "ahci-pause: 32 blocks written at LBA 128 read back (crc %08x)",
           got);
    if (!cd)
        return;
    port_start(h, cd);
    struct atapi a = tur(h, cd);
    char label[33];
    bool got_label = read_label(h, cd, label);
    const char *v;
    uint32_t n;
    const char *key = param_str(g, "ahci_cd_change", &v, &n) ? "ahci_cd_change" : "ahci_cd_label";
    tap_ok(t, good(a.r) && got_label && label_is(g, key, label),
           "ahci-pause: the CD is ready at once with the same medium, label '%s'",
           got_label ? label : "?");
}

void test_ahci(struct guest *g)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    unsigned dev = 0, fn = 0;
    bool found = false;
    for (dev = 0; dev < 32 && !found; dev++)
        for (fn = 0; fn < 8 && !found; fn++)
            found = pci_read32(&pa, 0, dev, fn, 0) == 0x29228086u;
    if (!found) {
        tap_ok(t, false, "ahci: no AHCI controller (8086:2922) on bus 0");
        return;
    }
    dev--, fn--;
    uint32_t class = pci_read32(&pa, 0, dev, fn, PCI_CLASS_REV) >> 8;
    uint32_t bar = pci_read32(&pa, 0, dev, fn, PCI_BAR0 + 20) & ~0xfu;
    if (!bar) {
        bar = (uint32_t)ABAR_POOL;
        pci_write32(&pa, 0, dev, fn, PCI_BAR0 + 20, bar);
    }
    uint32_t cmd = pci_read32(&pa, 0, dev, fn, PCI_COMMAND) & 0xffff;
    pci_write32(&pa, 0, dev, fn, PCI_COMMAND, cmd | 0x6);
    struct hba h = {bar};
    uint32_t cap = rd(&h, 0x00), pi = rd(&h, 0x0c), ghc = rd(&h, 0x04);
    tap_ok(t,
           class == 0x010601 && (cap & 0x1f) == 5 && ((cap >> 8) & 0x1f) == 31 &&
               (cap & (1u << 31)) && (cap & (1u << 30)) && pi == 0x3f && (ghc & (1u << 31)),
           "ahci: %02x.%x class %06x: 6 ports, 32 slots, 64-bit, NCQ, AHCI enabled (cap %08x pi "
           "%x ghc %08x)",
           dev, fn, class, cap, pi, ghc);
    uint64_t hd = 0, cd = 2, empty = 5;
    param_u64(g, "ahci_hd_port", false, false, &hd);
    param_u64(g, "ahci_cd_port", false, false, &cd);
    param_u64(g, "ahci_empty_port", false, false, &empty);
    struct port pe = {(unsigned)empty, 0, 0, 0};
    tap_ok(t, (rd(&h, preg(&pe, PX_SSTS)) & 0xf) == 0,
           "ahci: port %u without a drive has no link (ssts %x)", pe.n, rd(&h, preg(&pe, PX_SSTS)));
    struct port ph = {(unsigned)hd, 0, 0, 0};
    test_disk(g, &h, &ph);
    test_msi(g, &h, &ph, &pa, dev, fn);
    const char *v;
    uint32_t n;
    struct port pc = {(unsigned)cd, 0, 0, 0};
    bool have_cd = param_str(g, "ahci_cd_label", &v, &n);
    if (have_cd)
        test_cd(g, &h, &pc);
    if (param_is(g, "ahci_pause", "1"))
        test_pause(g, &h, &ph, have_cd ? &pc : 0);
}
