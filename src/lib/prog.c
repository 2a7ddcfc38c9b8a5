/*
 * prog.c - the daemons' shared command-line helpers (prog.h).
 */
#include "lib/prog.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *prog_name = "weft";
static int prog_usage_status = 2;

void prog_init(const char *name, int usage_status)
{
    prog_name = name;
    prog_usage_status = usage_status;
}

void prog_usage_error(const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", prog_name);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
    exit(prog_usage_status);
}

unsigned long prog_option_number(const char *text, unsigned long min, unsigned long max,
                                 const char *option)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || end == text || *end || *text == '-' || v < min || v > max) {
        prog_usage_error("%s takes a number from %lu to %lu, not '%s'", option, min, max, text);
    }
    return v;
}

void prog_no_operands(int argc, char **argv)
{
    if (optind < argc) {
        prog_usage_error("unexpected argument '%s'", argv[optind]);
    }
}

void prog_print_exit(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
