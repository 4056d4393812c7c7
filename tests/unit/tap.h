/*
 * tap.h - a tiny TAP (Test Anything Protocol) harness for Vireo's C tests.
 *
 * meson runs each test binary with protocol 'tap' and counts the "ok" and
 * "not ok" lines. Header-only so every test binary stays one file. Usage:
 *
 *     int main(void) {
 *         is_int(add(1, 2), 3, "add adds");
 *         return tap_done();
 *     }
 *
 * tap_skip_all("no /dev/kvm") reports the whole binary as skipped with the
 * reason, and exits.
 */
#ifndef VIREO_TESTS_TAP_H
#define VIREO_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline void tap_vresult(int pass, const char *file, int line, const char *fmt, va_list ap)
{
    tap_count++;
    if (!pass)
        tap_failed++;
    printf("%sok %d - ", pass ? "" : "not ", tap_count);
    vprintf(fmt, ap);
    printf("\n");
    if (!pass)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
}

static inline int tap_ok_at(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int tap_ok_at(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vresult(pass, file, line, fmt, ap);
    va_end(ap);
    return pass;
}

#define ok(cond, ...) tap_ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                           \
        if (!tap_ok_at(tap_g_ == tap_w_, __FILE__, __LINE__, __VA_ARGS__))                         \
            printf("#   got %lld, want %lld\n", tap_g_, tap_w_);                                   \
    } while (0)

#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *tap_g_ = (got), *tap_w_ = (want);                                              \
        int tap_p_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0;                              \
        if (!tap_ok_at(tap_p_, __FILE__, __LINE__, __VA_ARGS__))                                   \
            printf("#   got '%s', want '%s'\n", tap_g_ ? tap_g_ : "(null)",                        \
                   tap_w_ ? tap_w_ : "(null)");                                                    \
    } while (0)

/* Prints a diagnostic line (ignored by the TAP parser). */
#define tap_diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"), fflush(stdout))

static inline void tap_skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    exit(0);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    if (tap_count == 0) {
        printf("# no test ran\n");
        return 1;
    }
    return tap_failed ? 1 : 0;
}

#endif
