/*
 * cli_output.c - output helpers shared by the weft commands: output format
 * selection, JSON string escaping, usage errors and checked stdout.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

int cli_format_parse(const char *name, enum cli_format *format)
{
    if (strcmp(name, "table") == 0) {
        *format = CLI_FORMAT_TABLE;
    } else if (strcmp(name, "json") == 0) {
        *format = CLI_FORMAT_JSON;
    } else {
        return EINVAL;
    }
    return 0;
}

void cli_json_write_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20) {
                fprintf(out, "\\u%04x", *p);
            } else {
                fputc(*p, out);
            }
            break;
        }
    }
    fputc('"', out);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list args;

    fprintf(stderr, "%s: ", prog);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return CLI_EXIT_USAGE;
}

int cli_finish(const char *prog, int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing output failed: %s\n", prog, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return status;
}
