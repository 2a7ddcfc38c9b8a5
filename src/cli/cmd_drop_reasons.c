/*
 * cmd_drop_reasons.c - "weft drop-reasons": every reason the forwarding core
 * drops a frame, with what to check, as a table or as JSON.
 *
 * The list comes from the core itself (core/drop_reasons.def), so it is the
 * exact set of names that drop counters are reported under.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/drop.h"

static const char drop_reasons_help[] =
    "Usage: weft drop-reasons [-o table|json]\n"
    "\n"
    "List every reason Weft's forwarding core drops a frame: the name its drop\n"
    "counters are reported under, and what happened and what to check.\n"
    "\n"
    "Options:\n"
    "  -o, --output FORMAT  'table' (default, aligned columns) or 'json' (an array\n"
    "                       of {\"name\", \"help\"} objects)\n"
    "  -h, --help           print this help and exit\n";

static void drop_reasons_print_table(void)
{
    static const char name_title[] = "NAME";
    int width = (int)strlen(name_title);

    for (unsigned i = DROP_NONE + 1; i < DROP_REASON_COUNT; i++) {
        int len = (int)strlen(drop_reason_name((enum drop_reason)i));
        if (len > width) {
            width = len;
        }
    }
    printf("%-*s  %s\n", width, name_title, "DESCRIPTION");
    for (unsigned i = DROP_NONE + 1; i < DROP_REASON_COUNT; i++) {
        enum drop_reason reason = (enum drop_reason)i;
        printf("%-*s  %s\n", width, drop_reason_name(reason), drop_reason_help(reason));
    }
}

static void drop_reasons_print_json(void)
{
    fputs("[\n", stdout);
    for (unsigned i = DROP_NONE + 1; i < DROP_REASON_COUNT; i++) {
        enum drop_reason reason = (enum drop_reason)i;
        fputs("  {\"name\": ", stdout);
        cli_json_write_string(stdout, drop_reason_name(reason));
        fputs(", \"help\": ", stdout);
        cli_json_write_string(stdout, drop_reason_help(reason));
        fputs(i + 1 < DROP_REASON_COUNT ? "},\n" : "}\n", stdout);
    }
    fputs("]\n", stdout);
}

int cli_cmd_drop_reasons(struct cli_ctx *ctx, int argc, char **argv)
{
    /* Needs no weftd: -s is accepted (as everywhere) and ignored. */
    int status = cli_parse_common(ctx, argc, argv, drop_reasons_help, 0, 0, "");

    if (status != CLI_CONTINUE) {
        return status;
    }

    if (ctx->format == CLI_FORMAT_JSON) {
        drop_reasons_print_json();
    } else {
        drop_reasons_print_table();
    }
    return cli_finish(argv[0], CLI_EXIT_OK);
}
