/*
 * virtqueue.c - split virtqueue parsing and completion (see virtqueue.h for
 * the rules enforced on driver-written data). Ring fields are read with
 * relaxed atomic loads and the index updates are ordered with fences, as
 * the spec's memory model asks of a device running beside the driver.
 */
#include "vmm/dev/virtqueue.h"

#include <errno.h>
#include <string.h>

static uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    __atomic_load((const uint16_t *)(const void *)p, &v, __ATOMIC_RELAXED);
    return v;
}

static void st16(uint8_t *p, uint16_t v)
{
    __atomic_store((uint16_t *)(void *)p, &v, __ATOMIC_RELAXED);
}

static void st32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

int vq_start(struct virtqueue *vq, struct verr *err)
{
    vq->broken = false;
    vq->last_avail = vq->used_idx = 0;
    vq->signalled_valid = false;
    if (vq->size == 0 || vq->size > VQ_MAX_SIZE || (vq->size & (vq->size - 1)))
        return verr_set(err, EINVAL, "queue size %u is not a power of two up to %u", vq->size,
                        VQ_MAX_SIZE);
    if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4)
        return verr_set(err, EINVAL, "misaligned ring (desc 0x%llx, avail 0x%llx, used 0x%llx)",
                        (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
                        (unsigned long long)vq->used_gpa);
    vq->desc = guest_mem_ptr(vq->mem, vq->desc_gpa, 16ull * vq->size);
    vq->avail = guest_mem_ptr(vq->mem, vq->avail_gpa, 6ull + 2ull * vq->size);
    vq->used = guest_mem_ptr(vq->mem, vq->used_gpa, 6ull + 8ull * vq->size);
    if (!vq->desc || !vq->avail || !vq->used) {
        vq->broken = true;
        return verr_set(err, EFAULT,
                        "ring outside guest RAM (desc 0x%llx, avail 0x%llx, used 0x%llx, size %u)",
                        (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
                        (unsigned long long)vq->used_gpa, vq->size);
    }
    return 0;
}

static int broken(struct virtqueue *vq, struct verr *err, int e, const char *fmt, unsigned a,
                  unsigned b)
{
    vq->broken = true;
    return verr_set(err, e, fmt, a, b);
}

bool vq_has_avail(struct virtqueue *vq)
{
    if (vq->broken || !vq->avail)
        return false;
    return ld16(vq->avail + 2) != vq->last_avail;
}

struct raw_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static void read_desc(const uint8_t *table, unsigned i, struct raw_desc *d)
{
    memcpy(d, table + 16ull * i, 16);
}

/* Adds one buffer; checks RAM, ordering and the segment bound. */
static int add_seg(struct virtqueue *vq, struct vq_chain *c, const struct raw_desc *d,
                   struct verr *err)
{
    bool write = d->flags & VRING_DESC_F_WRITE;
    if (!write && c->in_len)
        return broken(vq, err, EINVAL,
                      "chain at head %u: device-readable buffer after a writable one (%u)", c->head,
                      c->nr);
    if (d->len == 0)
        return 0;
    if (c->nr >= VQ_MAX_SEGS)
        return broken(vq, err, E2BIG, "chain at head %u: more than %u buffers", c->head,
                      VQ_MAX_SEGS);
    uint8_t *p = guest_mem_ptr(vq->mem, d->addr, d->len);
    if (!p) {
        vq->broken = true;
        return verr_set(err, EFAULT, "chain at head %u: buffer 0x%llx+%u is not guest RAM", c->head,
                        (unsigned long long)d->addr, d->len);
    }
    c->seg[c->nr++] = (struct vq_seg){p, d->len, write};
    if (write) {
        /* The device fills it later: a live migration resends such pages once the devices
         * are quiesced (state/precopy.c). */
        guest_mem_mark_dirty(vq->mem, p, d->len);
        c->in_len += d->len;
    } else
        c->out_len += d->len;
    return 0;
}

static int walk_indirect(struct virtqueue *vq, struct vq_chain *c, const struct raw_desc *ind,
                         struct verr *err)
{
    if (!vq->indirect)
        return broken(vq, err, EINVAL, "chain at head %u: indirect descriptor not negotiated%.0u",
                      c->head, 0);
    if (ind->flags & VRING_DESC_F_NEXT)
        return broken(vq, err, EINVAL, "chain at head %u: indirect descriptor with NEXT%.0u",
                      c->head, 0);
    if (ind->len == 0 || ind->len % 16 || ind->len / 16 > VQ_MAX_SEGS)
        return broken(vq, err, EINVAL, "chain at head %u: bad indirect table length %u", c->head,
                      ind->len);
    const uint8_t *table = guest_mem_ptr(vq->mem, ind->addr, ind->len);
    if (!table) {
        vq->broken = true;
        return verr_set(err, EFAULT, "chain at head %u: indirect table 0x%llx+%u is not guest RAM",
                        c->head, (unsigned long long)ind->addr, ind->len);
    }
    unsigned n = ind->len / 16, i = 0;
    for (unsigned steps = 0;; steps++) {
        if (steps >= n)
            return broken(vq, err, ELOOP, "chain at head %u: indirect table loops (%u entries)",
                          c->head, n);
        struct raw_desc d;
        read_desc(table, i, &d);
        if (d.flags & ~(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE))
            return broken(vq, err, EINVAL,
                          d.flags & VRING_DESC_F_INDIRECT
                              ? "chain at head %u: nested indirect table (flags 0x%x)"
                              : "chain at head %u: unknown descriptor flags 0x%x",
                          c->head, d.flags);
        int r = add_seg(vq, c, &d, err);
        if (r < 0)
            return r;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        if (d.next >= n)
            return broken(vq, err, EINVAL, "chain at head %u: indirect next %u out of range",
                          c->head, d.next);
        i = d.next;
    }
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c, struct verr *err)
{
    if (vq->broken)
        return verr_set(err, EIO, "queue is broken%.0u", 0);
    /* With event idx the avail_event written by the last pop must be visible before the
     * index is read again: otherwise a driver that adds an entry right after our read
     * can see an old avail_event, skip its notification, and the entry waits forever. */
    if (vq->event_idx)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t avail_idx = ld16(vq->avail + 2);
    if (avail_idx == vq->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
        return broken(vq, err, EINVAL, "available index %u is more than a queue ahead of %u",
                      avail_idx, vq->last_avail);
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* ring entries after the index */
    uint16_t head = ld16(vq->avail + 4 + 2u * (vq->last_avail % vq->size));
    if (head >= vq->size)
        return broken(vq, err, EINVAL, "available head %u out of range (queue size %u)", head,
                      vq->size);
    c->head = head;
    c->nr = 0;
    c->in_len = c->out_len = 0;
    unsigned i = head;
    for (unsigned steps = 0;; steps++) {
        if (steps >= vq->size)
            return broken(vq, err, ELOOP, "chain at head %u loops (more than %u descriptors)", head,
                          vq->size);
        struct raw_desc d;
        read_desc(vq->desc, i, &d);
        if (d.flags & ~(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT))
            return broken(vq, err, EINVAL, "chain at head %u: unknown descriptor flags 0x%x", head,
                          d.flags);
        int r;
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (steps != 0)
                return broken(vq, err, EINVAL,
                              "chain at head %u: indirect descriptor not at the head (%u)", head,
                              steps);
            r = walk_indirect(vq, c, &d, err);
            if (r < 0)
                return r;
            break;
        }
        if ((r = add_seg(vq, c, &d, err)) < 0)
            return r;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        if (d.next >= vq->size)
            return broken(vq, err, EINVAL, "chain at head %u: next %u out of range", head, d.next);
        i = d.next;
    }
    vq->last_avail++;
    if (vq->event_idx) { /* avail_event: interrupt... notify us when the driver passes this */
        st16(vq->used + 4 + 8u * vq->size, vq->last_avail);
        guest_mem_mark_dirty(vq->mem, vq->used + 4 + 8u * vq->size, 2);
    }
    return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
    if (vq->broken)
        return;
    uint8_t *e = vq->used + 4 + 8u * (vq->used_idx % vq->size);
    st32(e, head);
    st32(e + 4, len);
    vq->used_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the entry before the index */
    st16(vq->used + 2, vq->used_idx);
    guest_mem_mark_dirty(vq->mem, vq->used, 4 + 8u * vq->size);
}

void vq_push_n(struct virtqueue *vq, const uint16_t *heads, const uint32_t *lens, unsigned n)
{
    if (vq->broken || n == 0)
        return;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = vq->used + 4 + 8u * ((uint16_t)(vq->used_idx + i) % vq->size);
        st32(e, heads[i]);
        st32(e + 4, lens[i]);
    }
    vq->used_idx = (uint16_t)(vq->used_idx + n);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the entries before the index */
    st16(vq->used + 2, vq->used_idx);
    guest_mem_mark_dirty(vq->mem, vq->used, 4 + 8u * vq->size);
}

void vq_unpop(struct virtqueue *vq, unsigned n)
{
    if (vq->broken || n == 0)
        return;
    vq->last_avail = (uint16_t)(vq->last_avail - n);
    if (vq->event_idx) {
        st16(vq->used + 4 + 8u * vq->size, vq->last_avail);
        guest_mem_mark_dirty(vq->mem, vq->used + 4 + 8u * vq->size, 2);
    }
}

bool vq_should_notify(struct virtqueue *vq)
{
    if (vq->broken)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* used idx visible before reading flags/event */
    if (!vq->event_idx)
        return !(ld16(vq->avail) & 1);                    /* VRING_AVAIL_F_NO_INTERRUPT */
    uint16_t event = ld16(vq->avail + 4 + 2u * vq->size); /* used_event */
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;
    /* vring_need_event: notify when event lies in [old, now). */
    return !valid || (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

uint64_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, uint64_t len)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < c->nr && done < len; i++) {
        const struct vq_seg *s = &c->seg[i];
        if (s->write)
            break;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len - done ? s->len - off : len - done;
        memcpy((uint8_t *)dst + done, s->host + off, n);
        done += n;
        off = 0;
    }
    return done;
}

uint64_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, uint64_t len)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < c->nr && done < len; i++) {
        const struct vq_seg *s = &c->seg[i];
        if (!s->write)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len - done ? s->len - off : len - done;
        memcpy(s->host + off, (const uint8_t *)src + done, n);
        done += n;
        off = 0;
    }
    return done;
}
