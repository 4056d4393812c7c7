/*
 * logout.c - libvirtd.conf's log_outputs for vireod: "LEVEL:stderr",
 * "LEVEL:file:PATH", "LEVEL:syslog:IDENT" and "LEVEL:journald", separated
 * by spaces, LEVEL being libvirt's 1 (debug) to 4 (error).
 *
 * A line goes to an output when it passes both the global log_level and
 * the output's own level, as in libvirt. journald is served through
 * stderr, which systemd connects to the journal for a service (vireod does
 * not speak the journal's native protocol). File lines get a timestamp, as
 * libvirtd's do; syslog gets the message with the matching priority.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_OUTPUTS 8

/* syslog-out.c */
void vd_syslog_open(const char *ident);
void vd_syslog_line(int level, const char *line, size_t len);

enum { OUT_STDERR, OUT_FILE, OUT_SYSLOG };

struct vd_log_outputs {
    size_t n;
    struct {
        int kind;
        enum log_level level; /* lines up to this verbosity */
        int fd;
        char *ident;
    } o[MAX_OUTPUTS];
};

static void sink(enum log_level level, const char *line, size_t len, void *opaque)
{
    struct vd_log_outputs *lo = opaque;
    for (size_t i = 0; i < lo->n; i++) {
        if (level > lo->o[i].level)
            continue;
        switch (lo->o[i].kind) {
        case OUT_STDERR:
            fd_write_all(2, line, len);
            break;
        case OUT_FILE: {
            struct timeval tv;
            gettimeofday(&tv, NULL);
            struct tm tm;
            gmtime_r(&tv.tv_sec, &tm);
            char stamp[64];
            size_t sl = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
            snprintf(stamp + sl, sizeof(stamp) - sl, ".%03d+0000: %d: ", (int)(tv.tv_usec / 1000),
                     (int)getpid());
            char buf[1200];
            int n = snprintf(buf, sizeof(buf), "%s%.*s", stamp, (int)len, line);
            if (n > 0)
                fd_write_all(lo->o[i].fd, buf,
                             (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
            break;
        }
        case OUT_SYSLOG:
            vd_syslog_line((int)level, line, len);
            break;
        }
    }
}

int vd_log_outputs_parse(const char *spec, struct vd_log_outputs **out, struct verr *err)
{
    struct vd_log_outputs *lo = xcalloc(1, sizeof(*lo));
    char *copy = xstrdup(spec);
    char *save = NULL;
    int r = 0;
    for (char *item = strtok_r(copy, " \t", &save); item; item = strtok_r(NULL, " \t", &save)) {
        if (lo->n == MAX_OUTPUTS) {
            r = verr_set(err, EINVAL, "log_outputs: more than %d outputs", MAX_OUTPUTS);
            break;
        }
        char *c1 = strchr(item, ':');
        char *dest = c1 ? c1 + 1 : NULL;
        char *c2 = dest ? strchr(dest, ':') : NULL;
        if (c2)
            *c2 = 0;
        const char *arg = c2 ? c2 + 1 : NULL;
        if (!c1 || c1 != item + 1 || item[0] < '1' || item[0] > '4') {
            r = verr_set(err, EINVAL,
                         "log_outputs: '%s' is not LEVEL:DESTINATION (LEVEL 1-4: debug, info, "
                         "warning, error)",
                         item);
            break;
        }
        lo->o[lo->n].level = (enum log_level)(4 - (item[0] - '0'));
        lo->o[lo->n].fd = -1;
        if (strcmp(dest, "stderr") == 0 || strcmp(dest, "journald") == 0) {
            lo->o[lo->n].kind = OUT_STDERR;
        } else if (strcmp(dest, "file") == 0) {
            if (!arg || arg[0] != '/') {
                r = verr_set(err, EINVAL, "log_outputs: a file output needs an absolute path: '%s'",
                             item);
                break;
            }
            int fd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd < 0) {
                r = verr_errno(err, errno, "log_outputs: cannot open log file %s", arg);
                break;
            }
            lo->o[lo->n].kind = OUT_FILE;
            lo->o[lo->n].fd = fd;
        } else if (strcmp(dest, "syslog") == 0) {
            lo->o[lo->n].kind = OUT_SYSLOG;
            lo->o[lo->n].ident = xstrdup(arg && *arg ? arg : "vireod");
        } else {
            r = verr_set(err, EINVAL,
                         "log_outputs: unknown destination '%s' (stderr, file:PATH, syslog:NAME "
                         "or journald)",
                         dest);
            break;
        }
        lo->n++;
    }
    free(copy);
    if (r == 0 && lo->n == 0)
        r = verr_set(err, EINVAL, "log_outputs: no output in '%s'", spec);
    if (r < 0) {
        vd_log_outputs_free(lo);
        return r;
    }
    *out = lo;
    return 0;
}

void vd_log_outputs_install(struct vd_log_outputs *lo)
{
    for (size_t i = 0; i < lo->n; i++)
        if (lo->o[i].kind == OUT_SYSLOG) {
            vd_syslog_open(lo->o[i].ident);
            break;
        }
    log_set_sink(sink, lo);
}

void vd_log_outputs_free(struct vd_log_outputs *lo)
{
    if (!lo)
        return;
    for (size_t i = 0; i < lo->n; i++) {
        if (lo->o[i].fd >= 0)
            close(lo->o[i].fd);
        free(lo->o[i].ident);
    }
    free(lo);
}
