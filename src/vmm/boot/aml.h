/*
 * aml.h - a tiny AML (ACPI Machine Language) emitter: just the terms the
 * DSDT needs (names, integers, packages, scopes, devices, resource
 * templates, and the few operators and control flow the CPU hot-plug
 * methods use). Each builder appends to a struct buf; containers take their
 * already-built contents and wrap them with an opcode and a PkgLength, which
 * is how AML nests. Operands are passed as already-encoded terms (a struct
 * buf), so expressions are built inside out.
 */
#ifndef VIREO_VMM_BOOT_AML_H
#define VIREO_VMM_BOOT_AML_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends an AML PkgLength for `content_len` bytes that follow it. */
void aml_pkglength(struct buf *out, size_t content_len);
/* Appends a NameString: "\\_SB_", "COM1", "_HID" (4-character segments). */
void aml_namestring(struct buf *out, const char *name);
/* Appends an integer with the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWordConst). */
void aml_integer(struct buf *out, uint64_t v);
/* Appends the DWordConst for EisaId("PNP0501"). */
void aml_eisaid(struct buf *out, const char *id);
/* Name(name, <object already in value>). */
void aml_name(struct buf *out, const char *name, const struct buf *value);
/* Package(n) { elements... } where `elements` holds n encoded data objects. */
void aml_package(struct buf *out, unsigned n, const struct buf *elements);
/* Scope(name) { body } and Device(name) { body }. */
void aml_scope(struct buf *out, const char *name, const struct buf *body);
void aml_device(struct buf *out, const char *name, const struct buf *body);
/* Buffer holding a resource template: the descriptors plus the end tag. */
void aml_resource_template(struct buf *out, const struct buf *descriptors);
/* Resource descriptors: IO(Decode16, base, base, 1, len) and IRQNoFlags(){irq}. */
void aml_res_io(struct buf *out, uint16_t base, uint8_t len);
void aml_res_irq(struct buf *out, unsigned irq);

/* A string constant: "ACPI0007". */
void aml_string(struct buf *out, const char *s);
/* Buffer(n) { bytes }. */
void aml_buffer(struct buf *out, const uint8_t *bytes, size_t n);
/* LocalN (0-7) and ArgN (0-6) as operands or targets. */
void aml_local(struct buf *out, unsigned n);
void aml_arg(struct buf *out, unsigned n);

/* Method(name, nargs, Serialized or not) { body }. */
void aml_method(struct buf *out, const char *name, unsigned nargs, bool serialized,
                const struct buf *body);
/* OperationRegion(name, SystemIO, base, len). */
void aml_opregion_io(struct buf *out, const char *name, uint16_t base, uint16_t len);
/* A Field list entry: a named field of `bits` bits, or Offset(byte) as a reserved gap of
 * `bits` bits (the caller counts where it is). */
void aml_field_named(struct buf *out, const char *name4, unsigned bits);
void aml_field_skip(struct buf *out, unsigned bits);
/* Field(region, flags) { entries }: flags = access type | lock << 4 | update << 5. */
#define AML_FIELD_BYTE_ACC    0x01
#define AML_FIELD_DWORD_ACC   0x03
#define AML_FIELD_PRESERVE    0x00
#define AML_FIELD_WRITE_ZEROS 0x40
void aml_field(struct buf *out, const char *region, uint8_t flags, const struct buf *entries);
/* Mutex(name, sync level). Acquire(name, 0xFFFF) and Release(name). */
void aml_mutex(struct buf *out, const char *name, uint8_t sync);
void aml_acquire(struct buf *out, const char *name);
void aml_release(struct buf *out, const char *name);

/* Store(src, dst): both already encoded (dst a name, LocalN or ArgN). */
void aml_store(struct buf *out, const struct buf *src, const struct buf *dst);
/* LEqual(a, b), as a predicate term. */
void aml_lequal(struct buf *out, const struct buf *a, const struct buf *b);
/* If (pred) { body }, Else { body }, While (pred) { body }. */
void aml_if(struct buf *out, const struct buf *pred, const struct buf *body);
void aml_else(struct buf *out, const struct buf *body);
void aml_while(struct buf *out, const struct buf *pred, const struct buf *body);
/* Notify(object name, value). Return(value). */
void aml_notify(struct buf *out, const char *object, const struct buf *value);
void aml_return(struct buf *out, const struct buf *value);
/* A method call: name followed by its already-encoded arguments. */
void aml_call(struct buf *out, const char *name, const struct buf *args);

#endif
