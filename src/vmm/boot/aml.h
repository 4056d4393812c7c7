/*
 * aml.h - a tiny AML (ACPI Machine Language) emitter: just the terms the
 * DSDT needs (names, integers, packages, scopes, devices, resource
 * templates). Each builder appends to a struct buf; containers take their
 * already-built contents and wrap them with an opcode and a PkgLength, which
 * is how AML nests.
 */
#ifndef VIREO_VMM_BOOT_AML_H
#define VIREO_VMM_BOOT_AML_H

#include "util/buf.h"

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

#endif
