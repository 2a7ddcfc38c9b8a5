/*
 * cli_output.c - what the weft commands share besides the client: the common
 * options, usage errors, command groups, JSON and table output, and checked
 * stdout.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/drop.h"

/* ---- Options and usage errors -------------------------------------------- */

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

int cli_common_option(struct cli_ctx *ctx, int opt, const char *prog, const char *help)
{
    switch (opt) {
    case 'o':
        if (cli_format_parse(optarg, &ctx->format) != 0) {
            return cli_usage_error(prog, "unknown output format '%s' (use table or json)", optarg);
        }
        return CLI_CONTINUE;
    case 's':
        if (optarg[0] == '\0') {
            return cli_usage_error(prog, "the socket path given with -s is empty");
        }
        ctx->socket_path = optarg;
        return CLI_CONTINUE;
    case 'h':
        fputs(help, stdout);
        return cli_finish(prog, CLI_EXIT_OK);
    case 'C':
        /* main() saw no "--controller" spelled in full and chose the local
         * weftd; only an abbreviation can get here, too late to change that. */
        if (!ctx->controller) {
            return cli_usage_error(prog, "after the command, write --controller in full (or "
                                         "put it before the command)");
        }
        ctx->controller = optarg; /* checked where it is used (ctl_request()) */
        return CLI_CONTINUE;
    case 'T':
        if (optarg[0] == '\0') {
            return cli_usage_error(prog, "--token-file is empty");
        }
        ctx->token_file = optarg;
        return CLI_CONTINUE;
    default:
        /* getopt_long() has named the bad option on stderr. */
        fprintf(stderr, "Try '%s --help' for more information.\n", prog);
        return CLI_EXIT_USAGE;
    }
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

int cli_operands(const char *prog, int argc, char **argv, int min, int max, const char *what)
{
    int n = argc - optind;

    if (n < min) {
        return cli_usage_error(prog, "missing %s", what);
    }
    if (n > max) {
        return cli_usage_error(prog, "unexpected argument '%s'", argv[optind + max]);
    }
    return CLI_CONTINUE;
}

int cli_parse_common(struct cli_ctx *ctx, int argc, char **argv, const char *help, int min, int max,
                     const char *what)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int opt, status;

    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        if ((status = cli_common_option(ctx, opt, argv[0], help)) != CLI_CONTINUE) {
            return status;
        }
    }
    return cli_operands(argv[0], argc, argv, min, max, what);
}

int cli_dispatch(struct cli_ctx *ctx, int argc, char **argv, const struct cli_subcommand *subs,
                 size_t n_subs, const char *help)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    /* getopt_long() prefixes its messages with argv[0]: "weft <group> <command>".
     * On the stack: groups nest (controller mode: "weft" -> "weft zone"). */
    char prog[64];
    const char *group = argv[0];
    char names[256] = "";
    int opt;

    /* '+': stop at the subcommand; options may also come before it. */
    while ((opt = getopt_long(argc, argv, "+" CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) !=
           -1) {
        int status = cli_common_option(ctx, opt, group, help);
        if (status != CLI_CONTINUE) {
            return status;
        }
    }
    for (size_t i = 0; i < n_subs; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, subs[i].name, sizeof names - strlen(names) - 1);
    }
    if (optind >= argc) {
        return cli_usage_error(group, "missing command (one of: %s)", names);
    }
    for (size_t i = 0; i < n_subs; i++) {
        if (strcmp(argv[optind], subs[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;

            snprintf(prog, sizeof prog, "%s %s", group, subs[i].name);
            sub_argv[0] = prog;
            optind = 0; /* glibc: restart the scan on the subcommand's arguments */
            return subs[i].run(ctx, sub_argc, sub_argv);
        }
    }
    return cli_usage_error(group, "unknown command '%s' (one of: %s)", argv[optind], names);
}

/* ---- JSON -------------------------------------------------------------------- */

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

void cli_print_json(json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

long long cli_json_int(json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

const char *cli_json_str(json_t *obj, const char *key, const char *absent)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? s : absent;
}

static int cli_vni_key_compare(const void *a, const void *b, void *key)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    long long vx = cli_json_int(x, "vni"), vy = cli_json_int(y, "vni");

    if (vx != vy) {
        return vx < vy ? -1 : 1;
    }
    return strcmp(cli_json_str(x, key, ""), cli_json_str(y, key, ""));
}

json_t **cli_json_sort_by_vni(json_t *array, const char *key, size_t *n)
{
    json_t **entries;

    *n = json_array_size(array);
    entries = calloc(*n ? *n : 1, sizeof *entries);
    if (!entries) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    for (size_t i = 0; i < *n; i++) {
        entries[i] = json_array_get(array, i);
    }
    qsort_r(entries, *n, sizeof *entries, cli_vni_key_compare, (void *)key);
    return entries;
}

/* ---- Fields and counters ----------------------------------------------------- */

void cli_print_field(const char *key, const char *fmt, ...)
{
    va_list args;
    int len = (int)strlen(key) + 1;

    printf("%s:%*s", key, len < 16 ? 16 - len : 1, "");
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    fputc('\n', stdout);
}

long long cli_drops_sum(json_t *drops)
{
    const char *reason;
    json_t *count;
    long long sum = 0;

    json_object_foreach(drops, reason, count)
    {
        sum += (long long)json_integer_value(count);
    }
    return sum;
}

void cli_print_counters(json_t *counters)
{
    json_t *drops = json_object_get(counters, "drops");
    const char *reason;
    json_t *count;
    int width = 0, count_width = 0;

    cli_print_field("rx", "%lld packets, %lld bytes", cli_json_int(counters, "rx_packets"),
                    cli_json_int(counters, "rx_bytes"));
    cli_print_field("tx", "%lld packets, %lld bytes", cli_json_int(counters, "tx_packets"),
                    cli_json_int(counters, "tx_bytes"));
    cli_print_field("flooded", "%lld packets", cli_json_int(counters, "flood_packets"));
    cli_print_field("dropped", "%lld packets", cli_drops_sum(drops));
    json_object_foreach(drops, reason, count)
    {
        int len = (int)strlen(reason);
        int digits = snprintf(NULL, 0, "%lld", (long long)json_integer_value(count));
        width = len > width ? len : width;
        count_width = digits > count_width ? digits : count_width;
    }
    /* The drops by reason, indented under "dropped:". */
    json_object_foreach(drops, reason, count)
    {
        printf("  %-*s  %*lld  %s\n", width, reason, count_width,
               (long long)json_integer_value(count),
               drop_reason_help(drop_reason_from_name(reason)));
    }
}

/* ---- Tables ------------------------------------------------------------------ */

struct cli_table {
    const struct cli_column *columns;
    size_t n_columns;
    char **cells;
    size_t n_cells, cap;
};

static void *cli_xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    return p;
}

struct cli_table *cli_table_new(const struct cli_column *columns, size_t n_columns)
{
    struct cli_table *t = cli_xrealloc(NULL, sizeof *t);

    *t = (struct cli_table){.columns = columns, .n_columns = n_columns};
    return t;
}

void cli_table_cell(struct cli_table *t, const char *fmt, ...)
{
    va_list args;
    char *cell;

    va_start(args, fmt);
    if (vasprintf(&cell, fmt, args) < 0) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    va_end(args);
    if (t->n_cells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = cli_xrealloc(t->cells, t->cap * sizeof *t->cells);
    }
    t->cells[t->n_cells++] = cell;
}

static void cli_table_print_row(const struct cli_table *t, const int *widths, const char **row)
{
    for (size_t c = 0; c < t->n_columns; c++) {
        bool last = c + 1 == t->n_columns;
        const char *sep = last ? "\n" : "  ";

        if (t->columns[c].right) {
            printf("%*s%s", widths[c], row[c], sep);
        } else if (last) {
            printf("%s%s", row[c], sep);
        } else {
            printf("%-*s%s", widths[c], row[c], sep);
        }
    }
}

void cli_table_print(struct cli_table *t)
{
    int *widths = cli_xrealloc(NULL, t->n_columns * sizeof *widths);
    const char **row = cli_xrealloc(NULL, t->n_columns * sizeof *row);

    for (size_t c = 0; c < t->n_columns; c++) {
        widths[c] = (int)strlen(t->columns[c].title);
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        int len = (int)strlen(t->cells[i]);
        size_t c = i % t->n_columns;
        widths[c] = len > widths[c] ? len : widths[c];
    }
    for (size_t c = 0; c < t->n_columns; c++) {
        row[c] = t->columns[c].title;
    }
    cli_table_print_row(t, widths, row);
    for (size_t i = 0; i + t->n_columns <= t->n_cells; i += t->n_columns) {
        for (size_t c = 0; c < t->n_columns; c++) {
            row[c] = t->cells[i + c];
        }
        cli_table_print_row(t, widths, row);
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(row);
    free(widths);
    free(t);
}

int cli_finish(const char *prog, int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing output failed: %s\n", prog, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return status;
}

void cli_table_type_age(struct cli_table *t, json_t *entry)
{
    bool is_static = json_is_true(json_object_get(entry, "static"));

    cli_table_cell(t, "%s", is_static ? "static" : "learned");
    if (is_static) {
        cli_table_cell(t, "-");
    } else {
        cli_table_cell(t, "%llds", cli_json_int(entry, "age"));
    }
}
