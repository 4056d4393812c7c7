/*
 * log.c - the logging sink. See log.h for why its settings are global.
 * Each message is formatted into one buffer and written with a single call so
 * that lines from several threads do not interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level current_level = LOG_WARN;
static FILE *current_stream;
static const char *program_name;
static log_sink_fn current_sink;
static void *current_sink_opaque;

void log_set_sink(log_sink_fn fn, void *opaque)
{
    current_sink = fn;
    current_sink_opaque = opaque;
}

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

void log_set_stream(FILE *stream)
{
    current_stream = stream;
}

void log_set_program(const char *name)
{
    program_name = name;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        {"error", LOG_ERROR}, {"warning", LOG_WARN}, {"warn", LOG_WARN},
        {"info", LOG_INFO},   {"debug", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0') {
        *out = (enum log_level)(s[0] - '0');
        return 0;
    }
    return -EINVAL;
}

static const char *level_word(enum log_level level)
{
    switch (level) {
    case LOG_ERROR:
        return "error";
    case LOG_WARN:
        return "warning";
    case LOG_INFO:
        return "info";
    case LOG_DEBUG:
        return "debug";
    }
    return "log";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[1024];
    int n = 0;
    if (program_name)
        n = snprintf(line, sizeof(line), "%s: ", program_name);
    n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", level_word(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    line[len] = '\0';
    if (current_sink) {
        current_sink(level, line, len, current_sink_opaque);
        return;
    }
    FILE *out = current_stream ? current_stream : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
}

uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ratelimit_allow(struct ratelimit *rl, uint64_t now_ns)
{
    if (now_ns - rl->window_start_ns >= rl->interval_ns || rl->window_start_ns == 0) {
        if (rl->suppressed)
            log_msg(LOG_WARN, "%u messages suppressed", rl->suppressed);
        rl->window_start_ns = now_ns ? now_ns : 1;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    if (rl->printed < rl->burst) {
        rl->printed++;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
