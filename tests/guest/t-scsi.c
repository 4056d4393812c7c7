/*
 * The virtio-scsi test (tests=scsi): the guest's own virtio-scsi driver
 * (control, event and one request queue) drives a scsi-hd at target 0 and,
 * with scsi_cd_label=, a scsi-cd at target 1 holding an ISO 9660 image.
 *
 * Disk: the power-on unit attention, INQUIRY (standard and VPD 0x00), READ
 * CAPACITY(10/16) against scsi_blocks=, WRITE/READ(6/10/16) patterns read
 * back, a read past the end refused with ILLEGAL REQUEST, SYNCHRONIZE CACHE,
 * MODE SENSE's caching page, REPORT LUNS, an unknown opcode and an absent
 * target; then "scsi-crc32=X" of the whole disk for the host to compare.
 * CD-ROM: type 5 and removable, 2048-byte blocks, the primary volume
 * descriptor's label (scsi_cd_label=), writes refused as write protected.
 * With scsi_cd_change=NEW the guest says "scsi-cd: ready", polls TEST UNIT
 * READY until it sees the medium go and come (unit attentions 3A and 28)
 * while the host changes the ISO through QMP, and reads the new label.
 * With scsi_pause=1, last, a save/restore checkpoint (test_pause).
 * With scsi_hotplug=1 (F_HOTPLUG negotiated), last: the host hot-plugs a unit
 * (test_scsi_hotplug: the TRANSPORT_RESET rescan event, its data's CRC-32, then
 * the removed event and the unit gone).
 * Device: 1af4:1048 on bus 0.
 */
#include "guest.h"
#include "lib/crc32.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define QSIZE 16

static uint8_t qmem[3][VIRTQ_MEM(QSIZE)] __attribute__((aligned(4096)));
static struct vqueue vq_ctrl, vq_event, vq_req;
static struct {
    uint8_t lun[8];
    uint64_t id;
    uint8_t attr, prio, crn;
    uint8_t cdb[32];
} __attribute__((packed)) req_hdr;
static struct {
    uint32_t sense_len, resid;
    uint16_t qual;
    uint8_t status, response;
    uint8_t sense[96];
} __attribute__((packed)) resp;
static uint8_t data[16384] __attribute__((aligned(4096)));
static uint8_t data2[16384] __attribute__((aligned(4096)));

struct sres {
    int response; /* -1: no completion */
    uint8_t status, key, asc, ascq;
    uint32_t resid;
};

/* One command to target/lun; data_in: buf is device-writable. */
static struct sres scsi_cmd(struct vdev *d, unsigned target, unsigned lun, const uint8_t *cdb,
                            unsigned cdb_len, void *buf, uint32_t len, bool data_in)
{
    struct sres r = {.response = -1};
    memset(&req_hdr, 0, sizeof(req_hdr));
    req_hdr.lun[0] = 1;
    req_hdr.lun[1] = (uint8_t)target;
    req_hdr.lun[2] = (uint8_t)(lun >> 8);
    req_hdr.lun[3] = (uint8_t)lun;
    req_hdr.id = 0x1234;
    memcpy(req_hdr.cdb, cdb, cdb_len);
    memset(&resp, 0xee, sizeof(resp));
    struct vq_desc *ds = vq_req.desc;
    unsigned n = 0;
    ds[n] = (struct vq_desc){(uint64_t)(uintptr_t)&req_hdr, sizeof(req_hdr), VQ_F_NEXT, 1};
    n++;
    if (len && !data_in) {
        ds[n] = (struct vq_desc){(uint64_t)(uintptr_t)buf, len, VQ_F_NEXT, (uint16_t)(n + 1)};
        n++;
    }
    ds[n] = (struct vq_desc){(uint64_t)(uintptr_t)&resp, sizeof(resp),
                             (uint16_t)(VQ_F_WRITE | (len && data_in ? VQ_F_NEXT : 0)),
                             (uint16_t)(n + 1)};
    n++;
    if (len && data_in)
        ds[n] = (struct vq_desc){(uint64_t)(uintptr_t)buf, len, VQ_F_WRITE, 0};
    virtio_vq_add(&vq_req, 0);
    virtio_vq_kick(d, &vq_req);
    uint64_t t0 = rdtsc();
    uint32_t id, used;
    while (!virtio_vq_get_used(&vq_req, &id, &used)) {
        if (rdtsc() - t0 > 20000000000ull)
            return r;
        cpu_pause();
    }
    r.response = resp.response;
    r.status = resp.status;
    r.resid = resp.resid;
    if (resp.sense_len >= 14 && resp.sense_len <= 96) {
        r.key = resp.sense[2] & 0xf;
        r.asc = resp.sense[12];
        r.ascq = resp.sense[13];
    }
    return r;
}

static bool good(struct sres r)
{
    return r.response == 0 && r.status == 0;
}

static bool sense_is(struct sres r, uint8_t key, uint8_t asc)
{
    return r.response == 0 && r.status == 2 && r.key == key && r.asc == asc;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct sres rw10(struct vdev *d, unsigned target, bool write, uint32_t lba, uint16_t blocks,
                        void *buf, uint32_t len)
{
    uint8_t c[10] = {write ? 0x2a : 0x28};
    be32(c + 2, lba);
    c[7] = (uint8_t)(blocks >> 8), c[8] = (uint8_t)blocks;
    return scsi_cmd(d, target, 0, c, 10, buf, len, !write);
}

static struct sres tur(struct vdev *d, unsigned target)
{
    static const uint8_t c[6] = {0x00};
    return scsi_cmd(d, target, 0, c, 6, 0, 0, false);
}

static void pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 8)) ^ seed);
}

static uint32_t crc_table[256];

static uint32_t crc32_fast(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void test_disk(struct guest *g, struct vdev *d)
{
    struct tap *t = &g->tap;
    struct sres r = tur(d, 0);
    tap_ok(t, sense_is(r, 6, 0x29),
           "scsi-hd: first command gets the power-on unit attention "
           "(response %d status %u sense %x/%02x/%02x)",
           r.response, r.status, r.key, r.asc, r.ascq);
    r = tur(d, 0);
    tap_ok(t, good(r), "scsi-hd: TEST UNIT READY then GOOD (status %u)", r.status);

    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    memset(data, 0, 64);
    r = scsi_cmd(d, 0, 0, inq, 6, data, 36, true);
    tap_ok(t,
           good(r) && (data[0] & 0x1f) == 0 && !memcmp(data + 8, "QEMU    ", 8) &&
               !memcmp(data + 16, "QEMU HARDDISK", 13),
           "scsi-hd: INQUIRY: type 0, QEMU HARDDISK (status %u type %u)", r.status, data[0]);
    uint8_t vpd[6] = {0x12, 1, 0x00, 0, 64, 0};
    memset(data, 0, 64);
    r = scsi_cmd(d, 0, 0, vpd, 6, data, 64, true);
    bool has83 = false, hasb0 = false;
    for (unsigned i = 0; i < data[3] && i < 60; i++)
        has83 |= data[4 + i] == 0x83, hasb0 |= data[4 + i] == 0xb0;
    tap_ok(t, good(r) && has83 && hasb0, "scsi-hd: VPD 0x00 lists 0x83 and 0xb0 (%u pages)",
           data[3]);

    uint64_t want = 0;
    param_u64(g, "scsi_blocks", false, false, &want);
    uint8_t rc10[10] = {0x25};
    memset(data, 0, 32);
    r = scsi_cmd(d, 0, 0, rc10, 10, data, 8, true);
    uint64_t blocks = (uint64_t)get_be32(data) + 1;
    tap_ok(t, good(r) && blocks == want && get_be32(data + 4) == 512,
           "scsi-hd: READ CAPACITY(10): %lu blocks of %u (expected %lu)", blocks,
           get_be32(data + 4), want);
    uint8_t rc16[16] = {0x9e, 0x10};
    be32(rc16 + 10, 32);
    memset(data, 0, 32);
    r = scsi_cmd(d, 0, 0, rc16, 16, data, 32, true);
    uint64_t b16 = ((uint64_t)get_be32(data) << 32 | get_be32(data + 4)) + 1;
    tap_ok(t, good(r) && b16 == want && get_be32(data + 8) == 512,
           "scsi-hd: READ CAPACITY(16): %lu blocks", b16);

    pattern(data, 16384, 3);
    r = rw10(d, 0, true, 8, 32, data, 16384);
    struct sres r2 = rw10(d, 0, false, 8, 32, data2, 16384);
    pattern(data, 16384, 3);
    tap_ok(t, good(r) && good(r2) && r2.resid == 0 && !memcmp(data, data2, 16384),
           "scsi-hd: WRITE(10) of 16 KiB at LBA 8 reads back with READ(10) (status %u, %u)",
           r.status, r2.status);
    uint8_t r6[6] = {0x08, 0, 0, 8, 8, 0};
    memset(data2, 0, 4096);
    r = scsi_cmd(d, 0, 0, r6, 6, data2, 4096, true);
    tap_ok(t, good(r) && !memcmp(data, data2, 4096), "scsi-hd: READ(6) sees the same data");
    uint8_t w16[16] = {0x8a};
    be32(w16 + 6, 100);
    be32(w16 + 10, 8);
    pattern(data, 4096, 5);
    r = scsi_cmd(d, 0, 0, w16, 16, data, 4096, false);
    uint8_t rd16[16] = {0x88};
    be32(rd16 + 6, 100);
    be32(rd16 + 10, 8);
    memset(data2, 0, 4096);
    r2 = scsi_cmd(d, 0, 0, rd16, 16, data2, 4096, true);
    tap_ok(t, good(r) && good(r2) && !memcmp(data, data2, 4096),
           "scsi-hd: WRITE(16) and READ(16) at LBA 100");

    r = rw10(d, 0, false, (uint32_t)want - 1, 2, data2, 1024);
    tap_ok(t, sense_is(r, 5, 0x21),
           "scsi-hd: read past the end: ILLEGAL REQUEST, LBA out of "
           "range (status %u sense %x/%02x)",
           r.status, r.key, r.asc);
    uint8_t sync[10] = {0x35};
    r = scsi_cmd(d, 0, 0, sync, 10, 0, 0, false);
    tap_ok(t, good(r), "scsi-hd: SYNCHRONIZE CACHE(10) (status %u)", r.status);
    uint8_t ms[6] = {0x1a, 0, 0x08, 0, 64, 0};
    memset(data2, 0, 64);
    r = scsi_cmd(d, 0, 0, ms, 6, data2, 64, true);
    unsigned bd = data2[3];
    tap_ok(t, good(r) && (data2[4 + bd] & 0x3f) == 0x08 && data2[5 + bd] == 0x12,
           "scsi-hd: MODE SENSE(6) returns the caching page (status %u)", r.status);
    uint8_t rl[12] = {0xa0};
    be32(rl + 6, 256);
    memset(data2, 0xff, 256);
    r = scsi_cmd(d, 0, 0, rl, 12, data2, 256, true);
    tap_ok(t, good(r) && get_be32(data2) == 8 && data2[8] == 0 && data2[9] == 0,
           "scsi-hd: REPORT LUNS lists LUN 0 (list length %u)", get_be32(data2));
    uint8_t bogus[6] = {0xc5};
    r = scsi_cmd(d, 0, 0, bogus, 6, 0, 0, false);
    tap_ok(t, sense_is(r, 5, 0x20),
           "scsi-hd: unknown opcode: INVALID COMMAND OPERATION CODE "
           "(sense %x/%02x)",
           r.key, r.asc);
    r = tur(d, 7);
    tap_ok(t, r.response == 3, "scsi: a target nobody has: VIRTIO_SCSI_S_BAD_TARGET (response %d)",
           r.response);

    for (uint32_t i = 0; i < 256; i++) {
        uint8_t b = (uint8_t)i;
        crc_table[i] = crc32_update(0xffffffffu, &b, 1) ^ 0xffffffffu;
    }
    uint32_t crc = 0;
    bool ok = true;
    for (uint64_t lba = 0; lba < want && ok; lba += 32) {
        uint16_t n = want - lba < 32 ? (uint16_t)(want - lba) : 32;
        ok = good(rw10(d, 0, false, (uint32_t)lba, n, data2, n * 512u));
        crc = crc32_fast(crc, data2, n * 512u);
    }
    tap_ok(t, ok, "scsi-hd: read the whole disk");
    tap_diag(t, "scsi-crc32=%08x", crc);
}

/* The volume label of the primary volume descriptor (LBA 16) into label (trailing spaces
 * cut); false when the read fails or it is no ISO 9660 descriptor. */
static bool read_label(struct vdev *d, char *label)
{
    memset(data2, 0, 2048);
    struct sres r = rw10(d, 1, false, 16, 1, data2, 2048);
    if (!good(r) || data2[0] != 1 || memcmp(data2 + 1, "CD001", 5))
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

static void test_cd(struct guest *g, struct vdev *d)
{
    struct tap *t = &g->tap;
    struct sres r = tur(d, 1);
    tap_ok(t, sense_is(r, 6, 0x29), "scsi-cd: power-on unit attention (sense %x/%02x)", r.key,
           r.asc);
    uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    memset(data, 0, 64);
    r = scsi_cmd(d, 1, 0, inq, 6, data, 36, true);
    tap_ok(t,
           good(r) && (data[0] & 0x1f) == 5 && (data[1] & 0x80) &&
               !memcmp(data + 16, "QEMU CD-ROM", 11),
           "scsi-cd: INQUIRY: type 5, removable, QEMU CD-ROM");
    uint8_t rc10[10] = {0x25};
    r = scsi_cmd(d, 1, 0, rc10, 10, data, 8, true);
    tap_ok(t, good(r) && get_be32(data + 4) == 2048,
           "scsi-cd: READ CAPACITY: %u blocks of %u bytes", get_be32(data) + 1, get_be32(data + 4));
    char label[33];
    bool got = read_label(d, label);
    tap_ok(t, got && label_is(g, "scsi_cd_label", label),
           "scsi-cd: the ISO's primary volume descriptor, label '%s'", got ? label : "?");
    r = rw10(d, 1, true, 20, 1, data, 2048);
    tap_ok(t, sense_is(r, 7, 0x27),
           "scsi-cd: a write is refused: DATA PROTECT, write protected "
           "(sense %x/%02x)",
           r.key, r.asc);
    const char *v;
    uint32_t n;
    if (!param_str(g, "scsi_cd_change", &v, &n))
        return;
    tap_diag(t, "scsi-cd: ready");
    bool gone = false, came = false;
    uint64_t t0 = rdtsc();
    while (!came && rdtsc() - t0 < 400000000000ull) {
        r = tur(d, 1);
        if (r.status == 2 && r.key == 6 && r.asc == 0x3a)
            gone = true;
        else if (r.status == 2 && r.key == 6 && r.asc == 0x28)
            came = true;
        for (int i = 0; i < 100000; i++)
            cpu_pause();
    }
    tap_ok(t, gone && came,
           "scsi-cd: unit attentions: medium not present, then medium changed "
           "(%d, %d)",
           gone, came);
    got = read_label(d, label);
    tap_ok(t, got && label_is(g, "scsi_cd_change", label), "scsi-cd: the new ISO's label '%s'",
           got ? label : "?");
}

/* CRC-32 of blocks [lba, lba + 32) of the disk, read with READ(10); false when a read fails. */
static bool crc_blocks(struct vdev *d, uint32_t lba, uint32_t *crc)
{
    *crc = 0;
    if (!good(rw10(d, 0, false, lba, 32, data2, 32 * 512u)))
        return false;
    *crc = crc32_fast(0, data2, 32 * 512u);
    return true;
}

/* scsi_pause=1: 32 blocks written at LBA 64 and read back (their CRC-32 printed), then
 * "scsi: paused" and a wait for a 'c' on COM1 while the host saves and restores the VM.
 * After: TEST UNIT READY is GOOD at once (a unit whose state was lost would report its
 * power-on attention again), the blocks read back with the same CRC, 32 more are written at
 * LBA 128 and read back, and the CD (with scsi_cd_label=) still holds the medium it had:
 * scsi_cd_change='s label when the host changed it before the save. */
static void test_pause(struct guest *g, struct vdev *d)
{
    struct tap *t = &g->tap;
    pattern(data, 32 * 512u, 0x5ca1ab1e);
    uint32_t want = crc32_fast(0, data, 32 * 512u), got = 0;
    bool ok = good(rw10(d, 0, true, 64, 32, data, 32 * 512u)) && crc_blocks(d, 64, &got);
    tap_ok(t, ok && got == want, "scsi-pause: 32 blocks written at LBA 64 read back (crc %08x)",
           got);
    tap_diag(t, "scsi: paused");
    for (;;) {
        if ((serial_read_reg(&g->uart, 5) & 1) && serial_read_reg(&g->uart, 0) == 'c')
            break;
        cpu_pause();
    }
    struct sres r = tur(d, 0);
    tap_ok(t, good(r), "scsi-pause: TEST UNIT READY is GOOD after the pause (sense %x/%02x)", r.key,
           r.asc);
    ok = crc_blocks(d, 64, &got);
    tap_ok(t, ok && got == want,
           "scsi-pause: the blocks at LBA 64 read back after the pause "
           "(crc %08x, want %08x)",
           got, want);
    pattern(data, 32 * 512u, 0xfeedf00d);
    want = crc32_fast(0, data, 32 * 512u);
    ok = good(rw10(d, 0, true, 128, 32, data, 32 * 512u)) && crc_blocks(d, 128, &got);
    tap_ok(t, ok && got == want, "scsi-pause: 32 blocks written at LBA 128 read back (crc %08x)",
           got);
    const char *v;
    uint32_t n;
    if (!param_str(g, "scsi_cd_label", &v, &n))
        return;
    char label[33];
    r = tur(d, 1);
    bool got_label = read_label(d, label);
    const char *key = param_str(g, "scsi_cd_change", &v, &n) ? "scsi_cd_change" : "scsi_cd_label";
    tap_ok(t, good(r) && got_label && label_is(g, key, label),
           "scsi-pause: the CD holds the same medium after the pause, label '%s'",
           got_label ? label : "?");
}

/* The next event from the event queue (its buffer given back), or false after ~2 min. */
static uint8_t ev_buf[2][16] __attribute__((aligned(16)));

static void ev_post(struct vdev *d, unsigned slot)
{
    vq_event.desc[slot] = (struct vq_desc){(uint64_t)(uintptr_t)ev_buf[slot], 16, VQ_F_WRITE, 0};
    virtio_vq_add(&vq_event, (uint16_t)slot);
    virtio_vq_kick(d, &vq_event);
}

static bool ev_wait(struct vdev *d, uint32_t *event, unsigned *target, unsigned *lun,
                    uint32_t *reason)
{
    uint64_t t0 = rdtsc();
    uint32_t id, len;
    while (!virtio_vq_get_used(&vq_event, &id, &len)) {
        if (rdtsc() - t0 > 400000000000ull)
            return false;
        cpu_pause();
    }
    const uint8_t *e = ev_buf[id & 1];
    *event = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    *target = e[5];
    *lun = (unsigned)(e[6] & 0x3f) << 8 | e[7];
    *reason =
        (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
    ev_post(d, id & 1);
    return true;
}

/* scsi_hotplug=1: "scsi-hotplug: ready", then the host device_adds a scsi-hd: the rescan
 * event names its target and LUN, the guest clears its power-on unit attention and prints
 * "scsi-hotplug: target T lun L crc32=X" of its first scsi_hotplug_blocks (default 64, at
 * most 32 read) blocks, says "scsi-hotplug: used", and after device_del sees the removed
 * event and the unit gone ("scsi-hotplug: removed"), then waits for a 'c' on COM1. */
static void test_scsi_hotplug(struct guest *g, struct vdev *d)
{
    struct tap *t = &g->tap;
    uint64_t blocks = 64;
    param_u64(g, "scsi_hotplug_blocks", false, false, &blocks);
    if (blocks > sizeof(data2) / 512)
        blocks = sizeof(data2) / 512;
    tap_ok(t, d->features & (1ull << 1), "scsi-hotplug: VIRTIO_SCSI_F_HOTPLUG negotiated");
    ev_post(d, 0);
    ev_post(d, 1);
    tap_diag(t, "scsi-hotplug: ready");
    uint32_t event = 0, reason = 0;
    unsigned target = 0, lun = 0;
    bool got = ev_wait(d, &event, &target, &lun, &reason);
    tap_ok(t, got && event == 1 && reason == 1,
           "scsi-hotplug: TRANSPORT_RESET event, reason RESCAN, for target %u LUN %u (event %u, "
           "reason %u)",
           target, lun, event, reason);
    static const uint8_t tur_cdb[6] = {0x00};
    struct sres r = scsi_cmd(d, target, lun, tur_cdb, 6, 0, 0, false);
    for (int i = 0; i < 4 && r.status == 2 && r.key == 6; i++) /* power-on unit attention */
        r = scsi_cmd(d, target, lun, tur_cdb, 6, 0, 0, false);
    tap_ok(t, good(r), "scsi-hotplug: the new unit is ready (sense %x/%02x)", r.key, r.asc);
    uint8_t c[10] = {0x28};
    c[7] = (uint8_t)(blocks >> 8), c[8] = (uint8_t)blocks;
    r = scsi_cmd(d, target, lun, c, 10, data2, (uint32_t)blocks * 512u, true);
    uint32_t crc = crc32_fast(0, data2, (uint32_t)blocks * 512u);
    tap_ok(t, good(r), "scsi-hotplug: READ(10) of %u blocks from target %u LUN %u",
           (unsigned)blocks, target, lun);
    tap_diag(t, "scsi-hotplug: target %u lun %u crc32=%08x", target, lun, crc);
    tap_diag(t, "scsi-hotplug: used");
    unsigned target2 = 0, lun2 = 0;
    got = ev_wait(d, &event, &target2, &lun2, &reason);
    tap_ok(t, got && event == 1 && reason == 2 && target2 == target && lun2 == lun,
           "scsi-hotplug: TRANSPORT_RESET event, reason REMOVED, for target %u LUN %u (event %u, "
           "reason %u)",
           target2, lun2, event, reason);
    r = scsi_cmd(d, target, lun, tur_cdb, 6, 0, 0, false);
    /* A target that still has units answers for the gone LUN with ILLEGAL REQUEST, LOGICAL
     * UNIT NOT SUPPORTED; an empty one is BAD_TARGET. */
    tap_ok(t, r.response == 3 || (r.response == 0 && sense_is(r, 5, 0x25)),
           "scsi-hotplug: target %u LUN %u is gone (response %d, sense %x/%02x)", target, lun,
           r.response, r.key, r.asc);
    tap_diag(t, "scsi-hotplug: removed");
    /* The host checks its side (DEVICE_DELETED, the nodes free) before the VM ends: a 'c' on
     * COM1 says it has. */
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 400000000000ull &&
           !((serial_read_reg(&g->uart, 5) & 1) && serial_read_reg(&g->uart, 0) == 'c'))
        cpu_pause();
}

void test_virtio_scsi(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    if (!virtio_find(&d, &pa, 0x1048, 0)) {
        tap_ok(t, false, "virtio-scsi: no virtio-scsi-pci device (1af4:1048) on bus 0");
        return;
    }
    d.msix_vector = 0xffff;
    bool hotplug = param_is(g, "scsi_hotplug", "1");
    const char *why = virtio_begin(&d, hotplug ? 1ull << 1 : 0); /* VIRTIO_SCSI_F_HOTPLUG */
    if (!why)
        why = virtio_queue_setup(&d, &vq_ctrl, 0, qmem[0], QSIZE, 0xffff);
    if (!why)
        why = virtio_queue_setup(&d, &vq_event, 1, qmem[1], QSIZE, 0xffff);
    if (!why)
        why = virtio_queue_setup(&d, &vq_req, 2, qmem[2], QSIZE, 0xffff);
    if (why) {
        tap_ok(t, false, "virtio-scsi: set-up at 00:%02x.0 failed: %s", d.dev, why);
        return;
    }
    virtio_driver_ok(&d);
    tap_ok(t,
           virtio_num_queues(&d) >= 3 && virtio_cfg32(&d, 20) == 96 && virtio_cfg32(&d, 24) == 32,
           "virtio-scsi: 00:%02x.0 up, %u queues, sense_size %u, cdb_size %u, max_target %u", d.dev,
           virtio_num_queues(&d), virtio_cfg32(&d, 20), virtio_cfg32(&d, 24),
           virtio_cfg32(&d, 28) >> 16);
    test_disk(g, &d);
    if (param_str(g, "scsi_cd_label", &why, &(uint32_t){0}))
        test_cd(g, &d);
    if (param_is(g, "scsi_pause", "1"))
        test_pause(g, &d);
    if (hotplug)
        test_scsi_hotplug(g, &d);
}

/* scsi-bench (first word): blk-bench's workloads (t-virtio.c) on the scsi-hd at target 0
 * through virtio-scsi, for bench/virtio-scsi: op=seqread|seqwrite (1 MiB READ/WRITE(10))
 * or randread|randwrite (4 KiB at random 4 KiB-aligned LBAs), count=N, qd=1..32 kept in
 * flight, op=none for the start-up baseline. Each slot has its own request header,
 * response, three descriptors and data buffer (from 32 MiB up; -m 256M or more). Prints
 * "bench op=... qd=Q requests=N bytes=B failed=F". */
#define SB_BUF   0x2000000ull
#define SB_QD    32
#define SB_QSIZE 128

static uint8_t sb_qmem[3][VIRTQ_MEM(SB_QSIZE)] __attribute__((aligned(4096)));
static struct {
    uint8_t lun[8];
    uint64_t id;
    uint8_t attr, prio, crn;
    uint8_t cdb[32];
} __attribute__((packed)) sb_hdr[SB_QD];
static struct {
    uint32_t sense_len, resid;
    uint16_t qual;
    uint8_t status, response;
    uint8_t sense[96];
} __attribute__((packed)) sb_resp[SB_QD];

void scsi_bench_main(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    struct vqueue *qr = &vq_req;
    const char *op;
    uint32_t oplen;
    uint64_t count = 0, qd = 1;
    if (!param_str(g, "op", &op, &oplen))
        op = "none", oplen = 4;
    param_u64(g, "count", false, false, &count);
    param_u64(g, "qd", false, false, &qd);
    if (qd < 1 || qd > SB_QD)
        tap_bail(t, "scsi-bench: qd=%lu (1 to %u)", qd, SB_QD);
    if (oplen == 4 && !memcmp(op, "none", 4)) {
        tap_printf(t, "bench op=none qd=%lu requests=0 bytes=0 failed=0\n", qd);
        guest_exit(0);
    }
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    if (!virtio_find(&d, &pa, 0x1048, 0))
        tap_bail(t, "scsi-bench: no virtio-scsi-pci device");
    const char *why = virtio_begin(&d, VIRTIO_F_EVENT_IDX);
    if (!why)
        why = virtio_queue_setup(&d, &vq_ctrl, 0, sb_qmem[0], 16, 0xffff);
    if (!why)
        why = virtio_queue_setup(&d, &vq_event, 1, sb_qmem[1], 16, 0xffff);
    if (!why)
        why = virtio_queue_setup(&d, qr, 2, sb_qmem[2], SB_QSIZE, 0xffff);
    if (!why && qr->size < 3 * qd)
        why = "queue too small for the queue depth";
    if (why)
        tap_bail(t, "scsi-bench: set-up failed: %s", why);
    virtio_driver_ok(&d);
    bool seq = oplen >= 3 && !memcmp(op, "seq", 3);
    bool write = oplen >= 5 && !memcmp(op + oplen - 5, "write", 5);
    uint32_t len = seq ? (1u << 20) : 4096;
    /* The power-on unit attention first, then the capacity. */
    tur(&d, 0);
    uint8_t rc10[10] = {0x25};
    struct sres r = scsi_cmd(&d, 0, 0, rc10, 10, data, 8, true);
    if (!good(r))
        tap_bail(t, "scsi-bench: READ CAPACITY failed (status %u)", r.status);
    uint64_t sectors = (uint64_t)get_be32(data) + 1, blocks = sectors * 512 / len,
             rnd = 88172645463325252ull;
    if (!blocks)
        tap_bail(t, "scsi-bench: disk smaller than one request");
    /* scsi_cmd above used descriptor 0 of the same queue and is done with it. */
    uint64_t failed = 0, posted = 0, done = 0;
    static bool busy[SB_QD];
    for (;;) {
        for (unsigned s = 0; s < qd && posted < count; s++) {
            if (busy[s])
                continue;
            uint64_t blk;
            if (seq) {
                blk = posted % blocks;
            } else {
                rnd ^= rnd << 13;
                rnd ^= rnd >> 7;
                rnd ^= rnd << 17;
                blk = rnd % blocks;
            }
            memset(&sb_hdr[s], 0, sizeof(sb_hdr[s]));
            sb_hdr[s].lun[0] = 1;
            sb_hdr[s].id = s;
            uint8_t *c = sb_hdr[s].cdb;
            c[0] = write ? 0x2a : 0x28;
            be32(c + 2, (uint32_t)(blk * (len / 512)));
            c[7] = (uint8_t)((len / 512) >> 8), c[8] = (uint8_t)(len / 512);
            sb_resp[s].status = 0xee;
            struct vq_desc *dd = qr->desc + 3 * s;
            uint64_t buf = SB_BUF + (uint64_t)s * len;
            dd[0] = (struct vq_desc){(uint64_t)(uintptr_t)&sb_hdr[s], sizeof(sb_hdr[s]), VQ_F_NEXT,
                                     (uint16_t)(3 * s + 1)};
            if (write) {
                dd[1] = (struct vq_desc){buf, len, VQ_F_NEXT, (uint16_t)(3 * s + 2)};
                dd[2] = (struct vq_desc){(uint64_t)(uintptr_t)&sb_resp[s], sizeof(sb_resp[s]),
                                         VQ_F_WRITE, 0};
            } else {
                dd[1] = (struct vq_desc){(uint64_t)(uintptr_t)&sb_resp[s], sizeof(sb_resp[s]),
                                         VQ_F_WRITE | VQ_F_NEXT, (uint16_t)(3 * s + 2)};
                dd[2] = (struct vq_desc){buf, len, VQ_F_WRITE, 0};
            }
            busy[s] = true;
            virtio_vq_add(qr, (uint16_t)(3 * s));
            posted++;
        }
        virtio_vq_kick(&d, qr);
        if (done == count)
            break;
        uint32_t id, used_len;
        uint64_t t0 = rdtsc();
        while (!virtio_vq_get_used(qr, &id, &used_len)) {
            if (rdtsc() - t0 > 20000000000ull)
                tap_bail(t, "scsi-bench: no completion after %lu of %lu requests", done, count);
            cpu_pause();
        }
        do {
            unsigned s = id / 3;
            if (id % 3 || s >= qd || !busy[s])
                tap_bail(t, "scsi-bench: used id %u is not an outstanding request", id);
            failed += sb_resp[s].response != 0 || sb_resp[s].status != 0;
            busy[s] = false;
            done++;
        } while (virtio_vq_get_used(qr, &id, &used_len));
    }
    tap_printf(t, "bench op=%s qd=%lu requests=%lu bytes=%lu failed=%lu\n",
               seq ? (write ? "seqwrite" : "seqread") : (write ? "randwrite" : "randread"), qd,
               count, count * len, failed);
    guest_exit(failed ? 1 : 0);
}
