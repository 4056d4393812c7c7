/*
 * error.c - formatting of struct verr messages. Messages are truncated, never
 * overflowed; a truncated message ends in "..." so the cut is visible.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void mark_truncation(char *msg, int wanted)
{
    if (wanted >= VERR_MSG_MAX)
        memcpy(msg + VERR_MSG_MAX - 4, "...", 4);
}

void verr_clear(struct verr *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

static int verr_vset(struct verr *err, int code, int with_strerror, const char *fmt, va_list ap)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (!err)
        return -code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0) {
        snprintf(err->msg, sizeof(err->msg), "(unformattable error message)");
        n = 0;
    }
    if (with_strerror && n < VERR_MSG_MAX) {
        int m = snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(code));
        n += m > 0 ? m : 0;
    }
    mark_truncation(err->msg, n);
    return -code;
}

int verr_set(struct verr *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = verr_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return r;
}

int verr_errno(struct verr *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = verr_vset(err, code, 1, fmt, ap);
    va_end(ap);
    return r;
}

int verr_prefix(struct verr *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    if (err->code == 0)
        err->code = EIO;
    char old[VERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    int total = n;
    if (n < VERR_MSG_MAX) {
        int m = snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", old);
        total += m > 0 ? m : 0;
    }
    mark_truncation(err->msg, total);
    return -err->code;
}

const char *verr_msg(const struct verr *err)
{
    if (!err || err->msg[0] == '\0')
        return "unknown error";
    return err->msg;
}
