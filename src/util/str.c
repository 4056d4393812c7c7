/* str.c - see str.h. Number parsing wraps strtoull with the checks it lacks. */
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int str_copy(char *dst, size_t size, const char *src)
{
    if (size == 0)
        return -ENAMETOOLONG;
    size_t n = strlen(src);
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int str_printf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return 0;
}

bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int str_to_u64(const char *s, int base, uint64_t *out)
{
    if (!s || !isxdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno == ERANGE)
        return -ERANGE;
    *out = v;
    return 0;
}

int str_to_i64(const char *s, int base, int64_t *out)
{
    if (!s)
        return -EINVAL;
    bool neg = s[0] == '-';
    uint64_t v;
    int r = str_to_u64(s + neg, base, &v);
    if (r < 0)
        return r;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int str_to_uint(const char *s, int base, unsigned *out)
{
    uint64_t v;
    int r = str_to_u64(s, base, &v);
    if (r < 0)
        return r;
    if (v > 0xffffffffull)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

static int suffix_shift(char c)
{
    switch (c) {
    case 'b':
    case 'B':
        return 0;
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    case 't':
    case 'T':
        return 40;
    case 'p':
    case 'P':
        return 50;
    case 'e':
    case 'E':
        return 60;
    }
    return -1;
}

int str_parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    size_t i = 0;
    while (isdigit((unsigned char)s[i]))
        i++;
    size_t int_end = i;
    bool has_fraction = false;
    if (s[i] == '.') {
        has_fraction = true;
        i++;
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    uint64_t unit = default_unit;
    if (s[i] != '\0') {
        int shift = suffix_shift(s[i]);
        if (shift < 0 || s[i + 1] != '\0')
            return -EINVAL;
        unit = 1ull << shift;
    } else if (has_fraction) {
        return -EINVAL; /* "1.5" alone is ambiguous; QEMU refuses it too */
    }
    char intpart[32];
    if (int_end >= sizeof(intpart))
        return -ERANGE;
    memcpy(intpart, s, int_end);
    intpart[int_end] = '\0';
    uint64_t whole;
    int r = str_to_u64(intpart, 10, &whole);
    if (r < 0)
        return r;
    if (unit && whole > UINT64_MAX / unit)
        return -ERANGE;
    uint64_t value = whole * unit;
    if (has_fraction) {
        double frac = strtod(s + int_end, NULL); /* ".5" */
        double extra = frac * (double)unit;
        if (extra >= 18446744073709551615.0 - (double)value)
            return -ERANGE;
        value += (uint64_t)llround(extra);
    }
    *out = value;
    return 0;
}

void str_format_size(uint64_t bytes, char *dst, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    double v = (double)bytes;
    /* Like qemu-img, move to the next unit at 1000 so that 1000 KiB reads "0.977 MiB". */
    while (v >= 1000.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    /* Three significant digits, trailing zeros dropped, as qemu-img prints. */
    snprintf(dst, size, "%.3g %s", v, units[u]);
}

int str_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *str_shown(const char *s, char *dst, size_t size)
{
    size_t n = 0, len = strlen(s);
    bool cut = len >= size;
    size_t keep = cut ? size - 4 : len;
    for (; n < keep; n++) {
        unsigned char c = (unsigned char)s[n];
        dst[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (cut) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
    return dst;
}
