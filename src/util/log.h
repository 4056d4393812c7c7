/*
 * log.h - leveled logging to stderr (or a chosen stream).
 *
 * The sink and threshold are process-wide by nature (one stderr), so they are
 * the one piece of global state in util; main() sets them once with
 * log_set_level()/log_set_stream() before starting threads. Libraries print
 * only through here, never with printf.
 */
#ifndef VIREO_UTIL_LOG_H
#define VIREO_UTIL_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_stream(FILE *stream);
/* Hands every line that passes the threshold (one whole line, newline
 * included) to fn instead of the stream; NULL restores the stream. For a
 * program with several outputs of its own (vireod's log_outputs). */
typedef void (*log_sink_fn)(enum log_level level, const char *line, size_t len, void *opaque);
void log_set_sink(log_sink_fn fn, void *opaque);
/* Sets the prefix put before every line ("vireo-vmm" gives "vireo-vmm: warning: ..."). */
void log_set_program(const char *name);
/* Parses "error", "warning"/"warn", "info", "debug" or "0"-"3". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/*
 * A rate limiter for messages a guest or a client can provoke at will: at most
 * `burst` messages per `interval_ns`; the rest are counted and reported as
 * "N messages suppressed" when the window reopens. Not thread-safe: keep one
 * per thread or guard it.
 */
struct ratelimit {
    uint64_t interval_ns;
    unsigned burst;
    uint64_t window_start_ns;
    unsigned printed;
    unsigned suppressed;
};

#define RATELIMIT_INIT(interval_ms, burst_count)                                                   \
    {                                                                                              \
        .interval_ns = (uint64_t)(interval_ms)*1000000ull, .burst = (burst_count)                  \
    }

/* True when a message may be printed now; now_ns is a monotonic time. */
int ratelimit_allow(struct ratelimit *rl, uint64_t now_ns);
/* Monotonic clock in nanoseconds. */
uint64_t monotonic_ns(void);

#endif
