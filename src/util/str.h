/*
 * str.h - string helpers that never overflow and that parse numbers strictly
 * (the whole string, no silent wrap-around, clear failure).
 */
#ifndef VIREO_UTIL_STR_H
#define VIREO_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies src into dst (size bytes). Returns 0, or -ENAMETOOLONG if it had to truncate. */
int str_copy(char *dst, size_t size, const char *src);
/* snprintf that reports truncation: 0, or -ENAMETOOLONG. */
int str_printf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

bool str_eq(const char *a, const char *b);
bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);

/*
 * Parses an unsigned integer: decimal, 0x hex, or 0 octal when base is 0.
 * The whole string must be the number (no sign, no spaces, no trailing junk).
 * Returns 0, -EINVAL (not a number) or -ERANGE (too large).
 */
int str_to_u64(const char *s, int base, uint64_t *out);
/* Signed variant with an optional leading '-'. */
int str_to_i64(const char *s, int base, int64_t *out);
/* Like str_to_u64, also checking the value fits in an unsigned int. */
int str_to_uint(const char *s, int base, unsigned *out);

/*
 * Parses a size with QEMU's binary suffixes: a number followed by nothing, or
 * one of b/B (bytes), k/K, M, G, T, P, E (powers of 1024). A number without a
 * suffix is multiplied by default_unit (1 for qemu-img sizes, 1 MiB for -m).
 * Fractions are allowed with a suffix ("1.5G"). Returns 0, -EINVAL or -ERANGE.
 */
int str_parse_size(const char *s, uint64_t default_unit, uint64_t *out);

/* Formats a byte count the way qemu-img does: "4 GiB", "1.5 MiB", "512 B". */
void str_format_size(uint64_t bytes, char *dst, size_t size);

/* The value of one hexadecimal digit (either case), or -1 for any other character. */
int str_hex_digit(int c);

/* s as it can be shown inside a one-line message: each control character (a newline among
 * them) as '?', and cut to fit dst (size > 4) with "..." at the end when it is longer.
 * Returns dst. */
const char *str_shown(const char *s, char *dst, size_t size);

#endif
