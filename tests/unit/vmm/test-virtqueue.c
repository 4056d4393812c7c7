/*
 * test-virtqueue.c - the split virtqueue parser (vmm/dev/virtqueue.c) against
 * a fake guest RAM: a good direct and indirect chain, completion and
 * notification suppression, and one case per refusal (ring placement, index
 * jumps, heads and links out of range, loops, unknown flags, buffers outside
 * RAM, ordering, every indirect rule). Each refusal must mark the queue
 * broken and keep it so.
 */
#include "../tap.h"
#include "vmm/dev/virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAM   (64 * 1024)
#define QSZ   8
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000

static uint8_t *ram;
static struct guest_mem gm;
static struct vq_chain chain;

static void w16(uint64_t gpa, uint16_t v)
{
    memcpy(ram + gpa, &v, 2);
}

static uint16_t r16(uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, ram + gpa, 2);
    return v;
}

static uint32_t r32(uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, ram + gpa, 4);
    return v;
}

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = ram + table + 16 * i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Fresh RAM and queue; one avail entry with head 0 unless avail_n says otherwise. */
static void fresh(struct virtqueue *vq, bool indirect, bool event_idx)
{
    memset(ram, 0, RAM);
    memset(vq, 0, sizeof(*vq));
    vq->mem = &gm;
    vq->size = QSZ;
    vq->desc_gpa = DESC;
    vq->avail_gpa = AVAIL;
    vq->used_gpa = USED;
    vq->indirect = indirect;
    vq->event_idx = event_idx;
    struct verr err = {0};
    if (vq_start(vq, &err) < 0)
        tap_diag("vq_start: %s", verr_msg(&err));
    w16(AVAIL + 4, 0); /* ring[0] = head 0 */
    w16(AVAIL + 2, 1); /* idx = 1 */
}

/* Pops once and expects a refusal with errno e and a message containing word. */
static void refused(struct virtqueue *vq, int e, const char *word, const char *what)
{
    struct verr err = {0};
    int r = vq_pop(vq, &chain, &err);
    ok(r == -e && vq->broken && strstr(verr_msg(&err), word), "refused: %s (%d: %s)", what, r,
       verr_msg(&err));
}

int main(void)
{
    ram = calloc(1, RAM);
    guest_mem_layout(&gm, ram, RAM);
    struct virtqueue vq;
    struct verr err = {0};

    /* A good chain: 16-byte header (readable), 512 writable, 1 writable status byte. */
    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(DESC, 1, 0x5000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    put_desc(DESC, 2, 0x6000, 1, VRING_DESC_F_WRITE, 0);
    int r = vq_pop(&vq, &chain, &err);
    ok(r == 1 && chain.head == 0 && chain.nr == 3 && chain.out_len == 16 && chain.in_len == 513,
       "good chain parsed (r %d, %u segments, out %llu, in %llu)", r, chain.nr,
       (unsigned long long)chain.out_len, (unsigned long long)chain.in_len);
    ok(chain.seg[1].host == ram + 0x5000 && chain.seg[1].write, "segments point into RAM");
    ok(vq_pop(&vq, &chain, &err) == 0, "empty after one");
    uint8_t st = 7;
    ok(vq_chain_write(&chain, 512, &st, 1) == 1 && ram[0x6000] == 7,
       "chain write reaches the last writable byte");
    vq_push(&vq, chain.head, 513);
    ok(r16(USED + 2) == 1 && r32(USED + 4) == 0 && r32(USED + 8) == 513, "used entry and index");
    ok(vq_should_notify(&vq), "interrupt wanted without NO_INTERRUPT");
    w16(AVAIL, 1);
    ok(!vq_should_notify(&vq), "VRING_AVAIL_F_NO_INTERRUPT respected");

    /* Event index: avail_event written on pop; used_event decides interrupts. */
    fresh(&vq, false, true);
    put_desc(DESC, 0, 0x4000, 16, 0, 0);
    ok(vq_pop(&vq, &chain, &err) == 1 && r16(USED + 4 + 8 * QSZ) == 1,
       "event idx: avail_event follows the consumer");
    w16(AVAIL + 4 + 2 * QSZ, 0); /* used_event = 0: interrupt after entry 0 */
    vq_push(&vq, 0, 0);
    ok(vq_should_notify(&vq), "event idx: interrupt when used passes used_event");
    w16(AVAIL + 4 + 2, 0);
    w16(AVAIL + 2, 2);
    ok(vq_pop(&vq, &chain, &err) == 1, "second chain");
    w16(AVAIL + 4 + 2 * QSZ, 5); /* driver wants one only after entry 5 */
    vq_push(&vq, 0, 0);
    ok(!vq_should_notify(&vq), "event idx: no interrupt before used_event");

    /* Good indirect chain. */
    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 48, VRING_DESC_F_INDIRECT, 0);
    put_desc(0x7000, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(0x7000, 1, 0x5000, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    put_desc(0x7000, 2, 0x6000, 1, VRING_DESC_F_WRITE, 0);
    r = vq_pop(&vq, &chain, &err);
    ok(r == 1 && chain.nr == 3 && chain.in_len == 4097, "indirect chain parsed (r %d)", r);

    /* Refusals. */
    memset(&vq, 0, sizeof(vq));
    vq.mem = &gm;
    vq.size = 6;
    vq.desc_gpa = DESC, vq.avail_gpa = AVAIL, vq.used_gpa = USED;
    ok(vq_start(&vq, &err) == -EINVAL, "queue size not a power of two refused");
    vq.size = QSZ;
    vq.desc_gpa = DESC + 8;
    ok(vq_start(&vq, &err) == -EINVAL, "misaligned descriptor table refused");
    vq.desc_gpa = RAM - 64;
    ok(vq_start(&vq, &err) == -EFAULT && vq.broken, "descriptor table past the end of RAM refused");
    vq.desc_gpa = 0xfffffffffffffff0ull;
    ok(vq_start(&vq, &err) == -EFAULT, "descriptor table at a wrapping address refused");

    fresh(&vq, false, false);
    w16(AVAIL + 2, QSZ + 1);
    refused(&vq, EINVAL, "ahead", "available index more than a queue ahead");
    ok(vq_pop(&vq, &chain, &err) < 0 && !vq_has_avail(&vq), "a broken queue stays stopped");

    fresh(&vq, false, false);
    w16(AVAIL + 4, QSZ);
    refused(&vq, EINVAL, "head", "head index out of range");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(DESC, 1, 0x4000, 16, VRING_DESC_F_NEXT, 0);
    refused(&vq, ELOOP, "loops", "descriptor loop");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT, 0);
    refused(&vq, ELOOP, "loops", "descriptor linking to itself");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT, QSZ);
    refused(&vq, EINVAL, "next", "next out of range");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, 0x8, 0);
    refused(&vq, EINVAL, "flags", "unknown descriptor flag");

    fresh(&vq, false, false);
    put_desc(DESC, 0, RAM - 8, 16, 0, 0);
    refused(&vq, EFAULT, "not guest RAM", "buffer crossing the end of RAM");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0xffffffffffffff00ull, 0x200, 0, 0);
    refused(&vq, EFAULT, "not guest RAM", "buffer at a wrapping address");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    put_desc(DESC, 1, 0x5000, 16, 0, 0);
    refused(&vq, EINVAL, "readable buffer after", "readable buffer after a writable one");

    fresh(&vq, false, false);
    put_desc(DESC, 0, 0x7000, 48, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "not negotiated", "indirect descriptor without the feature");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    refused(&vq, EINVAL, "with NEXT", "indirect descriptor with NEXT");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(DESC, 1, 0x7000, 48, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "not at the head", "indirect descriptor after a direct one");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 40, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "indirect table length", "indirect table length not a multiple of 16");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 0, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "indirect table length", "empty indirect table");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 16 * (VQ_MAX_SEGS + 1), VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "indirect table length", "indirect table larger than the bound");

    fresh(&vq, true, false);
    put_desc(DESC, 0, RAM - 16, 48, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EFAULT, "not guest RAM", "indirect table outside RAM");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 32, VRING_DESC_F_INDIRECT, 0);
    put_desc(0x7000, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(0x7000, 1, 0x8000, 32, VRING_DESC_F_INDIRECT, 0);
    refused(&vq, EINVAL, "nested", "nested indirect table");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 32, VRING_DESC_F_INDIRECT, 0);
    put_desc(0x7000, 0, 0x4000, 16, VRING_DESC_F_NEXT, 1);
    put_desc(0x7000, 1, 0x4000, 16, VRING_DESC_F_NEXT, 0);
    refused(&vq, ELOOP, "loops", "loop inside an indirect table");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 32, VRING_DESC_F_INDIRECT, 0);
    put_desc(0x7000, 0, 0x4000, 16, VRING_DESC_F_NEXT, 2);
    refused(&vq, EINVAL, "indirect next", "indirect next out of range");

    fresh(&vq, true, false);
    put_desc(DESC, 0, 0x7000, 32, VRING_DESC_F_INDIRECT, 0);
    put_desc(0x7000, 0, 0x4000, 16, 0x10, 0);
    refused(&vq, EINVAL, "flags", "unknown flag inside an indirect table");

    free(ram);
    return tap_done();
}
