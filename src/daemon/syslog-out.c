/*
 * syslog-out.c - the syslog output of log_outputs, apart from logout.c
 * because <syslog.h> defines LOG_INFO and LOG_DEBUG as macros that collide
 * with util/log.h's level names. Levels here are util/log.h's numbers
 * (0 error, 1 warning, 2 info, 3 debug).
 */
#include <stddef.h>
#include <syslog.h>

void vd_syslog_open(const char *ident);
void vd_syslog_line(int level, const char *line, size_t len);

void vd_syslog_open(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
}

void vd_syslog_line(int level, const char *line, size_t len)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (len && line[len - 1] == '\n')
        len--;
    syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%.*s", (int)len, line);
}
