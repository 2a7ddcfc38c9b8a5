/*
 * log.c - one line per message: time, program, level, text.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "weft";
static enum log_level log_max = LOG_LEVEL_INFO;
static bool log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(const char *ident, enum log_level max_level, bool use_syslog)
{
    log_ident = ident;
    log_max = max_level;
    log_syslog = use_syslog;
    if (use_syslog) {
        openlog(ident, LOG_PID, LOG_DAEMON);
    }
}

int log_level_parse(const char *text, enum log_level *out)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char text[1024];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level > log_max) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
            level_names[level], text);
    if (log_syslog) {
        syslog(syslog_priorities[level], "%s", text);
    }
}
