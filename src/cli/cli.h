/*
 * cli.h - what the commands of the 'weft' CLI share.
 *
 * Each command group lives in its own file (cmd_<group>.c). A command is a
 * function that receives the global options (struct cli_ctx) and the
 * arguments after its name, argv[0] being "weft <command>" (or "weft <group>
 * <command>"), and returns the process exit status. Output follows one rule
 * for every command: a table for people by default, JSON for scripts with
 * "-o json". Commands that talk to weftd go through one client (client.c).
 */
#ifndef WEFT_CLI_CLI_H
#define WEFT_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every weft command. */
#define CLI_EXIT_OK          0
#define CLI_EXIT_ERROR       1 /* the command ran and failed (weftd refused it) */
#define CLI_EXIT_USAGE       2 /* bad option or argument; nothing was done */
#define CLI_EXIT_UNREACHABLE 3 /* weftd did not answer on its control socket */

/* Returned by helpers that let the caller carry on (never an exit status). */
#define CLI_CONTINUE (-1)

/* Where weftd listens unless -s or WEFT_SOCKET says otherwise. */
#define CLI_DEFAULT_SOCKET "/run/weft/weftd.sock"

enum cli_format {
    CLI_FORMAT_TABLE,
    CLI_FORMAT_JSON,
};

/* The global options, which commands may also take after their name. */
struct cli_ctx {
    const char *socket_path;
    enum cli_format format;
    /* Controller mode (ctl.h): weft-controller's URL, NULL for the local
     * weftd; the file with its API token, NULL for none. */
    const char *controller;
    const char *token_file;
};

typedef int cli_run_fn(struct cli_ctx *ctx, int argc, char **argv);

/* ---- Options (cli_output.c) ------------------------------------------------ */

/* The options every command accepts, before or after its name: -o/--output,
 * -s/--socket, -h/--help, and the global --controller and --token-file. No
 * command has an option of its own with one of these names. */
#define CLI_COMMON_SHORT_OPTIONS "o:s:h"
/* One option a line: */
/* clang-format off */
#define CLI_COMMON_LONG_OPTIONS                                                                    \
    {"output", required_argument, NULL, 'o'},                                                      \
    {"socket", required_argument, NULL, 's'},                                                      \
    {"help", no_argument, NULL, 'h'},                                                              \
    {"controller", required_argument, NULL, 'C'},                                                  \
    {"token-file", required_argument, NULL, 'T'}
/* clang-format on */

/* Parses an "-o" argument ("table" or "json"). Returns 0 or EINVAL. */
int cli_format_parse(const char *name, enum cli_format *format);

/* Handles what getopt_long() returned for a common option ('o', 's', 'h',
 * 'C', 'T') or an error ('?', ':'): prints the help, records the option, or
 * reports the usage error. Returns CLI_CONTINUE to go on parsing, or the exit
 * status. A command's --controller only changes the URL of controller mode:
 * main() has chosen the mode before the command ran (cli_find_controller()
 * in main.c). */
int cli_common_option(struct cli_ctx *ctx, int opt, const char *prog, const char *help);

/* Prints "<prog>: <message>" and the pointer to --help on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks that exactly 'min' to 'max' operands follow the options; reports a
 * usage error naming what is missing ('what') or extra otherwise. Returns
 * CLI_CONTINUE or CLI_EXIT_USAGE. */
int cli_operands(const char *prog, int argc, char **argv, int min, int max, const char *what);

/* For a command with only the common options: the option loop
 * (cli_common_option(), with 'help'), then cli_operands(). Returns
 * CLI_CONTINUE or the exit status. */
int cli_parse_common(struct cli_ctx *ctx, int argc, char **argv, const char *help, int min, int max,
                     const char *what);

/* A command group ("weft port ..."): runs the subcommand named by argv[1]
 * with argv[0] set to "weft <group> <subcommand>". */
struct cli_subcommand {
    const char *name;
    cli_run_fn *run;
};
int cli_dispatch(struct cli_ctx *ctx, int argc, char **argv, const struct cli_subcommand *subs,
                 size_t n_subs, const char *help);

/* ---- Checking arguments (cli_args.c) ---------------------------------------
 * Each returns 0 when 'text' is fine, or reports a usage error naming the
 * argument and returns CLI_EXIT_USAGE. */

int cli_parse_vni(const char *prog, const char *text, uint32_t *vni);
int cli_parse_uint(const char *prog, const char *what, const char *text, unsigned long min,
                   unsigned long max, uint32_t *out);
int cli_check_mac(const char *prog, const char *text);
int cli_check_ip(const char *prog, const char *what, const char *text);
int cli_check_port_name(const char *prog, const char *text);
int cli_check_ifname(const char *prog, const char *text);
/* "101,200-210": numbers and ranges within 1-4094. */
int cli_check_vlan_list(const char *prog, const char *text);

/* ---- Talking to weftd (client.c) ------------------------------------------- */

/* Sends {"cmd": cmd, "args": args} to weftd and waits for the reply. 'args' may
 * be NULL and is consumed. On success returns CLI_EXIT_OK and, if 'data' is not
 * NULL, stores the reply's data there (a new reference; json null when none).
 * Otherwise prints "weft: <why>" on stderr and returns CLI_EXIT_ERROR (weftd
 * refused the request or answered nonsense) or CLI_EXIT_UNREACHABLE. */
int cli_call(const struct cli_ctx *ctx, const char *cmd, json_t *args, json_t **data);

/* cli_call() for a query: prints the data as JSON or, with the table format,
 * with 'print_table', then returns the exit status (output checked). */
int cli_query(const struct cli_ctx *ctx, const char *prog, const char *cmd, json_t *args,
              void (*print_table)(json_t *data));

/* ---- Output (cli_output.c) ------------------------------------------------- */

/* Writes 's' as a JSON string, quotes included, escaping what JSON requires. */
void cli_json_write_string(FILE *out, const char *s);

/* Prints a JSON value on stdout, indented, with a final newline. */
void cli_print_json(json_t *value);

/* Fields of a reply, with what to show when absent. */
long long cli_json_int(json_t *obj, const char *key);
const char *cli_json_str(json_t *obj, const char *key, const char *absent);

/* The entries of a JSON array ordered by "vni", then by the string field key
 * (weftd lists its tables in hash order): a new array of borrowed references
 * (free() it), n entries. Exits on allocation failure. */
json_t **cli_json_sort_by_vni(json_t *array, const char *key, size_t *n);

/* Prints "key:" padded to a column, then the formatted value. */
void cli_print_field(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the counters of a reply ({rx_packets, ..., drops}) as fields, with the
 * drops by reason and what each means. */
void cli_print_counters(json_t *counters);

/* The sum of a {"<reason>": n} object. */
long long cli_drops_sum(json_t *drops);

/* An aligned table for people: columns sized to their widest cell. */
struct cli_column {
    const char *title;
    bool right; /* right-aligned (numbers) */
};
struct cli_table;
struct cli_table *cli_table_new(const struct cli_column *columns, size_t n_columns);
/* Appends one cell; rows fill from left to right. */
void cli_table_cell(struct cli_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the header and rows on stdout and frees the table. */
void cli_table_print(struct cli_table *t);

/* The TYPE and AGE cells of an entry of weftd's MAC or ARP table: "static"
 * and "-" (given, never ages), or "learned" and the seconds since it was seen. */
void cli_table_type_age(struct cli_table *t, json_t *entry);

/* Flushes stdout and turns a failed write (full disk, closed pipe) into an
 * error message and CLI_EXIT_ERROR; returns 'status' otherwise. */
int cli_finish(const char *prog, int status);

/* ---- Commands -------------------------------------------------------------- */

int cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_segment(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_port(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_peer(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_mac(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_arp(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_drops(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_drop_reasons(struct cli_ctx *ctx, int argc, char **argv);

/* Controller mode (ctl_main.c): runs the command at argv[optind] against
 * ctx->controller, after main() parsed the global options. */
int cli_ctl_main(struct cli_ctx *ctx, int argc, char **argv);
/* The help of controller mode ("weft --controller URL --help"). */
void cli_ctl_print_help(void);

#endif
