/*
 * fuzz-e1000.c - drives the e1000's register file and descriptor engine
 * (vmm/dev/e1000-core.c) with arbitrary register accesses over arbitrary
 * guest memory (the rings and the buffers they name are the guest's):
 * EEPROM through EERD and EECD's Microwire pins, MDIC, interrupt registers,
 * the receive and transmit rings with legacy, context and data descriptors
 * (checksum insertion, TSO, VLAN insertion), frames received from the wire,
 * and a save/load round trip of the state.
 *
 * Input: bytes 0-1 N; then N operations of 8 bytes (kind: 0 a register read, 1 a write,
 * 2 an I/O BAR access, 3 run the transmit ring, 4 receive a frame of value's low 11 bits
 * bytes taken from guest RAM at offset reg * 16, 5 a save and load, with the spare byte's
 * bit 0 value XORed into a word of the saved records (chosen by reg) first; reg: 16 bits,
 * the register offset / 4; value: 32 bits; one spare byte), then the first 64 KiB of guest
 * RAM.
 * Frames sent go nowhere; each must be at most the largest packet.
 */
#include "vmm/dev/device.h"
#include "vmm/dev/e1000-core.h"
#include "vmm/kvm/memory.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (64 * 1024)

static void sent(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    if (len > E1000_TX_MAX || len < 14)
        abort();
    volatile uint8_t x = frame[0] ^ frame[len - 1]; /* the whole frame is readable */
    (void)x;
}

static void irq(void *opaque, bool level)
{
    (void)opaque, (void)level;
}

/* A state stream in memory: the records one save wrote, read back by name. */
struct rec {
    char name[32];
    uint8_t *data;
    size_t len;
};
struct mem_stream {
    struct rec recs[16];
    unsigned n;
};

static int put(struct dev_state_writer *w, const char *name, const void *data, size_t len,
               struct verr *err)
{
    (void)err;
    struct mem_stream *s = w->opaque;
    if (s->n == 16)
        abort();
    struct rec *r = &s->recs[s->n++];
    strncpy(r->name, name, sizeof(r->name) - 1);
    r->data = malloc(len ? len : 1);
    memcpy(r->data, data, len);
    r->len = len;
    return 0;
}

static struct rec *find(struct mem_stream *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!strcmp(s->recs[i].name, name))
            return &s->recs[i];
    return NULL;
}

static int get(struct dev_state_reader *r, const char *name, void *data, size_t len,
               struct verr *err)
{
    struct rec *x = find(r->opaque, name);
    if (!x)
        return verr_set(err, EINVAL, "no record %s", name);
    if (x->len != len)
        return verr_set(err, EINVAL, "record %s length", name);
    memcpy(data, x->data, len);
    return 0;
}

static int get_var(struct dev_state_reader *r, const char *name, const uint8_t **data, size_t *len,
                   struct verr *err)
{
    struct rec *x = find(r->opaque, name);
    if (!x)
        return verr_set(err, EINVAL, "no record %s", name);
    *data = x->data;
    *len = x->len;
    return 0;
}

/* Saves and loads back. damage (0: none): XORed into one word of a record first (the
 * stream is untrusted): the load then either refuses it, leaving the device as it was, or
 * takes it, and the operations after must cope with whatever it holds. */
static void round_trip(struct e1000_core *c, uint32_t damage, uint32_t where)
{
    struct mem_stream s = {0};
    struct dev_state_writer w = {.put = put, .opaque = &s};
    struct verr err = {0};
    if (e1000_core_save(c, &w, &err) < 0)
        abort();
    struct dev_state_reader r = {.get = get, .get_var = get_var, .version = 1, .opaque = &s};
    uint32_t before[E1000_REG_WORDS];
    memcpy(before, c->r, sizeof(before));
    if (damage && s.n) {
        struct rec *x = &s.recs[where % s.n];
        if (x->len >= 4) {
            size_t at = (where / s.n) % (x->len / 4) * 4;
            for (unsigned k = 0; k < 4; k++)
                x->data[at + k] ^= (uint8_t)(damage >> (8 * k));
        }
    }
    int rc = e1000_core_load(c, &r, &err);
    if (!damage && (rc < 0 || memcmp(before, c->r, sizeof(before))))
        abort(); /* what a save wrote, a load takes back unchanged */
    if (damage && rc < 0 && memcmp(before, c->r, sizeof(before)))
        abort(); /* a refused load changes nothing */
    for (unsigned i = 0; i < s.n; i++)
        free(s.recs[i].data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t)(data[0] | data[1] << 8);
    const uint8_t *ops = data + 2;
    if (n > (size - 2) / 8)
        n = (size - 2) / 8;
    const uint8_t *mem = ops + 8 * n;
    size_t memlen = size - 2 - 8 * n;

    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, mem, memlen < RAM ? memlen : RAM);
    struct guest_mem gm;
    memset(&gm, 0, sizeof(gm));
    guest_mem_layout(&gm, ram, RAM);
    static const struct e1000_ops cb = {sent, irq, NULL};
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    struct e1000_core *c = malloc(sizeof(*c));
    e1000_core_init(c, &gm, mac, &cb, NULL);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *o = ops + 8 * i;
        uint32_t reg = (uint32_t)(o[1] | o[2] << 8) * 4u;
        uint32_t v =
            (uint32_t)o[3] | (uint32_t)o[4] << 8 | (uint32_t)o[5] << 16 | (uint32_t)o[6] << 24;
        switch (o[0] % 6) {
        case 0:
            (void)e1000_core_read(c, reg % E1000_MMIO_SIZE);
            break;
        case 1:
            e1000_core_write(c, reg % E1000_MMIO_SIZE, v);
            break;
        case 2:
            if (o[7] & 1)
                e1000_core_io_write(c, reg % E1000_IO_SIZE, v);
            else
                (void)e1000_core_io_read(c, reg % E1000_IO_SIZE);
            break;
        case 3:
            e1000_core_tx(c);
            break;
        case 4: {
            size_t off = (size_t)(o[1] | o[2] << 8) * 16 % RAM, len = v & 0x7ff;
            if (off + len > RAM)
                len = RAM - off;
            static uint8_t frame[2048]; /* the backend's buffer, not guest memory */
            memcpy(frame, ram + off, len);
            (void)e1000_core_can_receive(c);
            (void)e1000_core_receive(c, frame, len);
            break;
        }
        default:
            round_trip(c, (o[7] & 1) ? v : 0, (uint32_t)(o[1] | o[2] << 8));
            break;
        }
    }
    e1000_core_destroy(c);
    free(c);
    free(ram);
    return 0;
}
