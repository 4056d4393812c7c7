/*
 * aml.c - see aml.h. Encodings are from the ACPI specification, section 20
 * (AML grammar) and 6.4 (resource descriptors).
 */
#include "vmm/boot/aml.h"

#include <assert.h>
#include <string.h>

void aml_pkglength(struct buf *out, size_t content_len)
{
    /* The length counts its own bytes; 1 byte holds up to 63, else 2-4 bytes. */
    size_t total;
    if (content_len + 1 <= 0x3f) {
        buf_append_byte(out, (uint8_t)(content_len + 1));
        return;
    }
    unsigned extra;
    for (extra = 1; extra <= 3; extra++) {
        total = content_len + 1 + extra;
        if (total < ((size_t)1 << (4 + 8 * extra)))
            break;
    }
    assert(extra <= 3);
    total = content_len + 1 + extra;
    buf_append_byte(out, (uint8_t)((extra << 6) | (total & 0xf)));
    for (unsigned i = 0; i < extra; i++)
        buf_append_byte(out, (uint8_t)(total >> (4 + 8 * i)));
}

void aml_namestring(struct buf *out, const char *name)
{
    if (name[0] == '\\') {
        buf_append_byte(out, '\\');
        name++;
    }
    size_t len = strlen(name);
    assert(len % 4 == 0 && len > 0);
    if (len == 8)
        buf_append_byte(out, 0x2e); /* DualNamePrefix */
    else if (len > 8) {
        buf_append_byte(out, 0x2f); /* MultiNamePrefix */
        buf_append_byte(out, (uint8_t)(len / 4));
    }
    buf_append(out, name, len);
}

void aml_integer(struct buf *out, uint64_t v)
{
    if (v == 0) {
        buf_append_byte(out, 0x00);
    } else if (v == 1) {
        buf_append_byte(out, 0x01);
    } else if (v <= 0xff) {
        buf_append_byte(out, 0x0a);
        buf_append_byte(out, (uint8_t)v);
    } else if (v <= 0xffff) {
        buf_append_byte(out, 0x0b);
        for (int i = 0; i < 2; i++)
            buf_append_byte(out, (uint8_t)(v >> (8 * i)));
    } else if (v <= 0xffffffffu) {
        buf_append_byte(out, 0x0c);
        for (int i = 0; i < 4; i++)
            buf_append_byte(out, (uint8_t)(v >> (8 * i)));
    } else {
        buf_append_byte(out, 0x0e);
        for (int i = 0; i < 8; i++)
            buf_append_byte(out, (uint8_t)(v >> (8 * i)));
    }
}

static uint8_t hexval(char c)
{
    return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

void aml_eisaid(struct buf *out, const char *id)
{
    /* Three letters in 5 bits each, big-endian, then four hex digits. */
    assert(strlen(id) == 7);
    uint16_t vendor = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
    buf_append_byte(out, 0x0c);
    buf_append_byte(out, (uint8_t)(vendor >> 8));
    buf_append_byte(out, (uint8_t)vendor);
    buf_append_byte(out, (uint8_t)(hexval(id[3]) << 4 | hexval(id[4])));
    buf_append_byte(out, (uint8_t)(hexval(id[5]) << 4 | hexval(id[6])));
}

void aml_name(struct buf *out, const char *name, const struct buf *value)
{
    buf_append_byte(out, 0x08); /* NameOp */
    aml_namestring(out, name);
    buf_append(out, value->data, value->len);
}

void aml_package(struct buf *out, unsigned n, const struct buf *elements)
{
    assert(n <= 255);
    buf_append_byte(out, 0x12); /* PackageOp */
    aml_pkglength(out, elements->len + 1);
    buf_append_byte(out, (uint8_t)n);
    buf_append(out, elements->data, elements->len);
}

static void wrap_named(struct buf *out, const uint8_t *op, size_t oplen, const char *name,
                       const struct buf *body)
{
    struct buf ns;
    buf_init(&ns);
    aml_namestring(&ns, name);
    buf_append(out, op, oplen);
    aml_pkglength(out, ns.len + body->len);
    buf_append(out, ns.data, ns.len);
    buf_append(out, body->data, body->len);
    buf_free(&ns);
}

void aml_scope(struct buf *out, const char *name, const struct buf *body)
{
    static const uint8_t op[] = {0x10}; /* ScopeOp */
    wrap_named(out, op, sizeof(op), name, body);
}

void aml_device(struct buf *out, const char *name, const struct buf *body)
{
    static const uint8_t op[] = {0x5b, 0x82}; /* ExtOpPrefix DeviceOp */
    wrap_named(out, op, sizeof(op), name, body);
}

void aml_resource_template(struct buf *out, const struct buf *descriptors)
{
    struct buf size;
    buf_init(&size);
    size_t total = descriptors->len + 2; /* + End Tag */
    aml_integer(&size, total);
    buf_append_byte(out, 0x11); /* BufferOp */
    aml_pkglength(out, size.len + total);
    buf_append(out, size.data, size.len);
    buf_append(out, descriptors->data, descriptors->len);
    buf_append_byte(out, 0x79); /* End Tag, checksum 0 = "treat as correct" */
    buf_append_byte(out, 0x00);
    buf_free(&size);
}

void aml_res_io(struct buf *out, uint16_t base, uint8_t len)
{
    const uint8_t d[] = {
        0x47, 0x01, (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)base, (uint8_t)(base >> 8),
        0x01, len};
    buf_append(out, d, sizeof(d));
}

void aml_res_irq(struct buf *out, unsigned irq)
{
    uint16_t mask = (uint16_t)(1u << irq);
    const uint8_t d[] = {0x22, (uint8_t)mask, (uint8_t)(mask >> 8)};
    buf_append(out, d, sizeof(d));
}

void aml_string(struct buf *out, const char *s)
{
    buf_append_byte(out, 0x0d); /* StringPrefix */
    buf_append(out, s, strlen(s) + 1);
}

void aml_buffer(struct buf *out, const uint8_t *bytes, size_t n)
{
    struct buf size;
    buf_init(&size);
    aml_integer(&size, n);
    buf_append_byte(out, 0x11); /* BufferOp */
    aml_pkglength(out, size.len + n);
    buf_append(out, size.data, size.len);
    buf_append(out, bytes, n);
    buf_free(&size);
}

void aml_local(struct buf *out, unsigned n)
{
    assert(n <= 7);
    buf_append_byte(out, (uint8_t)(0x60 + n)); /* Local0Op.. */
}

void aml_arg(struct buf *out, unsigned n)
{
    assert(n <= 6);
    buf_append_byte(out, (uint8_t)(0x68 + n)); /* Arg0Op.. */
}

void aml_method(struct buf *out, const char *name, unsigned nargs, bool serialized,
                const struct buf *body)
{
    assert(nargs <= 7);
    struct buf b;
    buf_init(&b);
    buf_append_byte(&b, (uint8_t)(nargs | (serialized ? 0x08 : 0))); /* MethodFlags */
    buf_append(&b, body->data, body->len);
    static const uint8_t op[] = {0x14}; /* MethodOp */
    wrap_named(out, op, sizeof(op), name, &b);
    buf_free(&b);
}

void aml_opregion_io(struct buf *out, const char *name, uint16_t base, uint16_t len)
{
    buf_append_byte(out, 0x5b);
    buf_append_byte(out, 0x80); /* OpRegionOp */
    aml_namestring(out, name);
    buf_append_byte(out, 0x01); /* RegionSpace: SystemIO */
    aml_integer(out, base);
    aml_integer(out, len);
}

/* A field element's PkgLength is its bit count (not a byte count that includes itself). */
static void field_bits(struct buf *out, unsigned bits)
{
    assert(bits > 0 && bits < 4096);
    if (bits <= 0x3f) {
        buf_append_byte(out, (uint8_t)bits);
        return;
    }
    buf_append_byte(out, (uint8_t)(0x40 | (bits & 0xf)));
    buf_append_byte(out, (uint8_t)(bits >> 4));
}

void aml_field_named(struct buf *out, const char *name4, unsigned bits)
{
    assert(strlen(name4) == 4);
    buf_append(out, name4, 4);
    field_bits(out, bits);
}

void aml_field_skip(struct buf *out, unsigned bits)
{
    buf_append_byte(out, 0x00); /* ReservedField */
    field_bits(out, bits);
}

void aml_field(struct buf *out, const char *region, uint8_t flags, const struct buf *entries)
{
    struct buf ns;
    buf_init(&ns);
    aml_namestring(&ns, region);
    buf_append_byte(out, 0x5b);
    buf_append_byte(out, 0x81); /* FieldOp */
    aml_pkglength(out, ns.len + 1 + entries->len);
    buf_append(out, ns.data, ns.len);
    buf_append_byte(out, flags);
    buf_append(out, entries->data, entries->len);
    buf_free(&ns);
}

void aml_mutex(struct buf *out, const char *name, uint8_t sync)
{
    buf_append_byte(out, 0x5b);
    buf_append_byte(out, 0x01); /* MutexOp */
    aml_namestring(out, name);
    buf_append_byte(out, sync);
}

void aml_acquire(struct buf *out, const char *name)
{
    buf_append_byte(out, 0x5b);
    buf_append_byte(out, 0x23); /* AcquireOp */
    aml_namestring(out, name);
    buf_append_byte(out, 0xff); /* Timeout 0xFFFF: wait for ever */
    buf_append_byte(out, 0xff);
}

void aml_release(struct buf *out, const char *name)
{
    buf_append_byte(out, 0x5b);
    buf_append_byte(out, 0x27); /* ReleaseOp */
    aml_namestring(out, name);
}

void aml_store(struct buf *out, const struct buf *src, const struct buf *dst)
{
    buf_append_byte(out, 0x70); /* StoreOp */
    buf_append(out, src->data, src->len);
    buf_append(out, dst->data, dst->len);
}

void aml_lequal(struct buf *out, const struct buf *a, const struct buf *b)
{
    buf_append_byte(out, 0x93); /* LEqualOp */
    buf_append(out, a->data, a->len);
    buf_append(out, b->data, b->len);
}

static void wrap_pred(struct buf *out, uint8_t op, const struct buf *pred, const struct buf *body)
{
    buf_append_byte(out, op);
    aml_pkglength(out, (pred ? pred->len : 0) + body->len);
    if (pred)
        buf_append(out, pred->data, pred->len);
    buf_append(out, body->data, body->len);
}

void aml_if(struct buf *out, const struct buf *pred, const struct buf *body)
{
    wrap_pred(out, 0xa0, pred, body); /* IfOp */
}

void aml_else(struct buf *out, const struct buf *body)
{
    wrap_pred(out, 0xa1, NULL, body); /* ElseOp */
}

void aml_while(struct buf *out, const struct buf *pred, const struct buf *body)
{
    wrap_pred(out, 0xa2, pred, body); /* WhileOp */
}

void aml_notify(struct buf *out, const char *object, const struct buf *value)
{
    buf_append_byte(out, 0x86); /* NotifyOp */
    aml_namestring(out, object);
    buf_append(out, value->data, value->len);
}

void aml_return(struct buf *out, const struct buf *value)
{
    buf_append_byte(out, 0xa4); /* ReturnOp */
    buf_append(out, value->data, value->len);
}

void aml_call(struct buf *out, const char *name, const struct buf *args)
{
    aml_namestring(out, name);
    if (args)
        buf_append(out, args->data, args->len);
}
