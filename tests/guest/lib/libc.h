/*
 * The few C library functions a freestanding guest needs (the compiler may
 * emit calls to memcpy/memset/memcmp/memmove itself), plus number parsing
 * for the command-line language. No allocation: the guest uses static and
 * stack storage only.
 */
#ifndef GUEST_LIBC_H
#define GUEST_LIBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);

/* Parses n characters of s as an unsigned number: decimal, or hexadecimal
 * with a 0x prefix (hex_default: hexadecimal without prefix too). With
 * size_suffix, K/M/G/T multiply by powers of 1024 (QEMU's -m convention).
 * Returns false on an empty string, a bad digit, or overflow. */
bool parse_u64(const char *s, size_t n, bool hex_default, bool size_suffix, uint64_t *out);

#endif
