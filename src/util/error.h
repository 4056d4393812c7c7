/*
 * error.h - errors as values with words.
 *
 * Library functions return 0 or a negative errno and, when the caller passes a
 * struct verr, fill it with one line a person can act on: what failed, on
 * which object, and why. Context is added on the way up with verr_prefix(),
 * so the top-level message reads "failed to open 'a.qcow2': unsupported qcow2
 * version 4" without any layer knowing the whole story.
 */
#ifndef VIREO_UTIL_ERROR_H
#define VIREO_UTIL_ERROR_H

#include <stddef.h>

#define VERR_MSG_MAX 512

struct verr {
    int code;               /* positive errno value, 0 when no error */
    char msg[VERR_MSG_MAX]; /* one line, no trailing newline */
};

/* Clears an error so it can be reused. */
void verr_clear(struct verr *err);

/*
 * Records an error with a formatted message. Returns -code so callers can
 * write `return verr_set(err, EINVAL, "bad size '%s'", s);`. err may be NULL.
 */
int verr_set(struct verr *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Like verr_set, with ": strerror(code)" appended. For failed system calls:
 * `return verr_errno(err, errno, "cannot open '%s'", path);`
 */
int verr_errno(struct verr *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Puts context in front of an existing message: "PREFIX: old message".
 * Returns -err->code (or -EIO if err is NULL or holds no code).
 */
int verr_prefix(struct verr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message, or "unknown error" when none was recorded. */
const char *verr_msg(const struct verr *err);

#endif
