/*
 * log.h - levelled logging for the daemons, to stderr and optionally syslog.
 *
 * Control-path only: the data path counts, it never logs per packet.
 */
#ifndef WEFT_LIB_LOG_H
#define WEFT_LIB_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* ident names the program in every line; messages above max_level are skipped. */
void log_init(const char *ident, enum log_level max_level, bool use_syslog);
/* Parses "error", "warn", "info" or "debug"; returns 0 or EINVAL. */
int log_level_parse(const char *text, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
