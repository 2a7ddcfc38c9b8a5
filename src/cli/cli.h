/*
 * cli.h - what the commands of the 'weft' CLI share.
 *
 * Each command is one function in its own file (cmd_<name>.c) that receives
 * the arguments after the command name, argv[0] being "weft <command>", and
 * returns the process exit status. Output follows one rule for every command:
 * a table for people by default, JSON for scripts with "-o json".
 */
#ifndef WEFT_CLI_CLI_H
#define WEFT_CLI_CLI_H

#include <stdio.h>

/* Exit statuses of every weft command. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_ERROR 1 /* the command ran and failed */
#define CLI_EXIT_USAGE 2 /* bad option or argument; nothing was done */

enum cli_format {
    CLI_FORMAT_TABLE,
    CLI_FORMAT_JSON,
};

/* Parses an "-o" argument ("table" or "json"). Returns 0 or EINVAL. */
int cli_format_parse(const char *name, enum cli_format *format);

/* Writes 's' as a JSON string, quotes included, escaping what JSON requires. */
void cli_json_write_string(FILE *out, const char *s);

/* Prints "<prog>: <message>" and the pointer to --help on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Flushes stdout and turns a failed write (full disk, closed pipe) into an
 * error message and CLI_EXIT_ERROR; returns 'status' otherwise. */
int cli_finish(const char *prog, int status);

/* Commands. */
int cli_cmd_drop_reasons(int argc, char **argv);

#endif
