/*
 * ctl_object.c - the verbs of controller mode, run from a collection's
 * description (struct ctl_collection, ctl.h): add (POST), set (PATCH), list
 * (GET the collection, or a segment's table), show (GET one) and del
 * (DELETE). Options become JSON fields after the same local checks as the
 * local commands (cli_args.c); what needs the controller's state (does the
 * segment exist, is the VNI free) is the controller's to say. Also the
 * output of every answer: the API's JSON with -o json, otherwise tables for
 * lists and "key: value" fields for one object.
 */
#include "cli/ctl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compiler.h"
#include "lib/name.h"

/* Room for the common options, --if-match and every option of the largest
 * collection. */
#define CTL_MAX_LONG_OPTIONS 48

/* What getopt_long() returns for --if-match, and where the values of a
 * collection's options start. */
#define CTL_OPT_IF_MATCH 255
#define CTL_OPT_BASE     256

/* The API's limit on descriptions. */
#define CTL_TEXT_MAX 255

static const char *const ctl_verb_names[CTL_N_VERBS] = {"add", "set", "list", "show", "del"};

/* The collection the running command acts on. weft runs one command per
 * process, and cli_dispatch() hands a subcommand only (ctx, argc, argv). */
static const struct ctl_collection *ctl_current;

/* ---- Checks ---------------------------------------------------------------- */

int ctl_check_name(const char *prog, const char *what, const char *text, size_t max)
{
    /* "." and ".." would change the URL path they are put in. */
    if (!name_valid(text, max) || strcmp(text, ".") == 0 || strcmp(text, "..") == 0) {
        return cli_usage_error(prog,
                               "invalid %s '%s': use 1 to %zu letters, digits, '-', '_' or '.'",
                               what, text, max);
    }
    return 0;
}

int ctl_exclusive(const char *prog, json_t *body, const char *a, const char *opt_a, const char *b,
                  const char *opt_b)
{
    if (json_object_get(body, a) && json_object_get(body, b)) {
        return cli_usage_error(prog, "%s and %s exclude each other", opt_a, opt_b);
    }
    return CLI_CONTINUE;
}

/* "MAC[,IP]" -> {"mac": MAC, "ip": IP}; the API binds IPv4 addresses. */
static int ctl_parse_binding(const char *prog, const char *text, json_t *bindings)
{
    char *copy = strdup(text);
    char *comma = copy ? strchr(copy, ',') : NULL;
    struct in_addr addr;
    int status = CLI_EXIT_USAGE;

    if (!copy) {
        fputs("weft: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    if (comma) {
        *comma = '\0';
    }
    if (cli_check_mac(prog, copy) != 0) {
        goto out;
    }
    if (comma && inet_pton(AF_INET, comma + 1, &addr) != 1) {
        cli_usage_error(prog, "invalid IP address '%s' in --bind '%s': use an IPv4 address",
                        comma + 1, text);
        goto out;
    }
    json_t *binding = json_pack("{ss}", "mac", copy);
    if (comma) {
        json_object_set_new(binding, "ip", json_string(comma + 1));
    }
    json_array_append_new(bindings, binding);
    status = CLI_CONTINUE;
out:
    free(copy);
    return status;
}

/* Is 'text' one of "a|b|c"? */
static bool ctl_is_choice(const char *choices, const char *text)
{
    size_t len = strlen(text);

    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, text, n) == 0) {
            return true;
        }
        p += n + (bar != NULL);
    }
    return false;
}

/* The JSON value of option 'o' with argument 'arg'; NULL after a usage error. */
static json_t *ctl_option_value(const char *prog, const struct ctl_option *o, const char *arg,
                                json_t *previous)
{
    struct in_addr addr;
    uint32_t n;

    switch (o->kind) {
    case CTL_TEXT:
        if (strlen(arg) > CTL_TEXT_MAX) {
            cli_usage_error(prog, "--%s is longer than %d bytes", o->name, CTL_TEXT_MAX);
            return NULL;
        }
        return json_string(arg);
    case CTL_NAME:
        return ctl_check_name(prog, o->what, arg, 63) ? NULL : json_string(arg);
    case CTL_NAMES:
        if (ctl_check_name(prog, o->what, arg, 63)) {
            return NULL;
        }
        previous = json_is_array(previous) ? json_copy(previous) : json_array();
        json_array_append_new(previous, json_string(arg));
        return previous;
    case CTL_UINT:
        return cli_parse_uint(prog, o->what, arg, o->min, o->max, &n) ? NULL : json_integer(n);
    case CTL_TPID:
        if (cli_parse_uint(prog, "TPID", arg, 0, 0xffff, &n)) {
            return NULL;
        }
        if (n != 0x8100 && n != 0x88a8) {
            cli_usage_error(prog, "invalid TPID '%s': use 0x8100 (802.1Q) or 0x88a8 (802.1ad)",
                            arg);
            return NULL;
        }
        return json_integer(n);
    case CTL_CHOICE:
        if (!ctl_is_choice(o->choices, arg)) {
            cli_usage_error(prog, "invalid --%s '%s': use %s", o->name, arg, o->choices);
            return NULL;
        }
        return json_string(arg);
    case CTL_VLANS:
        return cli_check_vlan_list(prog, arg) ? NULL : json_string(arg);
    case CTL_MCAST4:
        if (inet_pton(AF_INET, arg, &addr) != 1 || (ntohl(addr.s_addr) >> 28) != 0xe) {
            cli_usage_error(prog,
                            "invalid --%s '%s': use an IPv4 multicast address such as 239.1.1.1",
                            o->name, arg);
            return NULL;
        }
        return json_string(arg);
    case CTL_BINDING:
        previous = json_is_array(previous) ? json_copy(previous) : json_array();
        if (ctl_parse_binding(prog, arg, previous) != CLI_CONTINUE) {
            json_decref(previous);
            return NULL;
        }
        return previous;
    case CTL_TRUE:
        return json_true();
    case CTL_FALSE:
        return json_false();
    case CTL_NULL:
        return json_null();
    case CTL_EMPTY:
        return json_array();
    }
    return NULL;
}

/* Records option 'o' in 'body'. Two different options for one field (--bind
 * and --no-bindings, --segment and --trunk for the mode) exclude each other;
 * 'setters' remembers which option set each field. */
static int ctl_apply_option(const char *prog, const struct ctl_option *o, const char *arg,
                            enum ctl_verb verb, json_t *body, json_t *setters)
{
    /* A list filter is the field alone (--segment: not the mode). */
    const char *also = verb == CTL_VERB_LIST ? NULL : o->also_field;
    const char *fields[2] = {o->field, also};
    json_t *value;

    for (size_t i = 0; i < WEFT_ARRAY_SIZE(fields); i++) {
        const char *by = fields[i] ? json_string_value(json_object_get(setters, fields[i])) : NULL;
        if (by && strcmp(by, o->name) != 0) {
            return cli_usage_error(prog, "--%s and --%s exclude each other", by, o->name);
        }
    }
    if (!(value = ctl_option_value(prog, o, arg, json_object_get(body, o->field)))) {
        return CLI_EXIT_USAGE;
    }
    json_object_set_new(body, o->field, value);
    json_object_set_new(setters, o->field, json_string(o->name));
    if (also) {
        json_object_set_new(body, also, json_string(o->also_value));
        json_object_set_new(setters, also, json_string(o->name));
    }
    return CLI_CONTINUE;
}

/* ---- Help -------------------------------------------------------------------- */

/* Can 'verb' of 'c' be made conditional on the object's revision? */
static bool ctl_takes_if_match(const struct ctl_collection *c, enum ctl_verb verb)
{
    return c->revisioned && (verb == CTL_VERB_SET || verb == CTL_VERB_DEL);
}

/* One option line: the option padded to a column, then its help. */
static void ctl_help_line(FILE *out, const char *option, const char *help)
{
    int len = (int)strlen(option);

    fprintf(out, "  %s%*s", option, len < 21 ? 21 - len : 1, "");
    for (const char *p = help; *p; p++) {
        fputc(*p, out);
        if (*p == '\n') {
            fprintf(out, "%23s", "");
        }
    }
    fputc('\n', out);
}

static void ctl_verb_help(FILE *out, const struct ctl_collection *c, enum ctl_verb verb)
{
    const struct ctl_verb_doc *doc = &c->verbs[verb];

    fprintf(out, "Usage: weft %s %s%s%s\n\n%s\n", c->group, ctl_verb_names[verb],
            doc->usage[0] ? " " : "", doc->usage, doc->text);
    if (c->revisioned && verb == CTL_VERB_SHOW) {
        fputs("Its 'revision' is what 'set' and 'del' take with --if-match.\n", out);
    }
    fputs("\nOptions:\n", out);
    for (size_t i = 0; i < c->n_options; i++) {
        const struct ctl_option *o = &c->options[i];
        char option[64];

        if (o->verbs & CTL_ON(verb)) {
            snprintf(option, sizeof option, "--%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
            ctl_help_line(out, option, o->help);
        }
    }
    if (ctl_takes_if_match(c, verb)) {
        char help[160];

        snprintf(help, sizeof help,
                 "only if the object is still at REVISION (the 'revision'\n"
                 "that 'weft %s show' prints); if it changed since,\n"
                 "nothing is done (exit 1)",
                 c->group);
        ctl_help_line(out, "--if-match REVISION", help);
    }
    if (verb == CTL_VERB_LIST || verb == CTL_VERB_SHOW) {
        ctl_help_line(out, "-o, --output FORMAT", "'table' (default) or 'json' (the API's JSON)");
    }
    ctl_help_line(out, "-h, --help", "print this help and exit");
    fputs("\nAlso, before or after the command: --controller URL (or WEFT_CONTROLLER),\n"
          "--token-file FILE (or WEFT_API_TOKEN_FILE).\n",
          out);
}

/* ---- Output ------------------------------------------------------------------ */

static void ctl_format_to(FILE *out, json_t *value);

static void ctl_format_object(FILE *out, json_t *obj)
{
    const char *key;
    json_t *value;
    bool first = true;

    json_object_foreach(obj, key, value)
    {
        fprintf(out, "%s%s=", first ? "" : " ", key);
        ctl_format_to(out, value);
        first = false;
    }
}

/* A value for people: "-" for nothing, yes/no, lists joined with ','. */
static void ctl_format_to(FILE *out, json_t *value)
{
    json_t *item;
    size_t i;

    if (!value) {
        fputc('-', out);
        return;
    }
    switch (json_typeof(value)) {
    case JSON_STRING:
        fputs(json_string_length(value) ? json_string_value(value) : "-", out);
        break;
    case JSON_INTEGER:
        fprintf(out, "%lld", (long long)json_integer_value(value));
        break;
    case JSON_REAL:
        fprintf(out, "%g", json_real_value(value));
        break;
    case JSON_TRUE:
        fputs("yes", out);
        break;
    case JSON_FALSE:
        fputs("no", out);
        break;
    case JSON_ARRAY:
        if (json_array_size(value) == 0) {
            fputc('-', out);
        }
        json_array_foreach(value, i, item)
        {
            fputs(i ? "," : "", out);
            ctl_format_to(out, item);
        }
        break;
    case JSON_OBJECT:
        ctl_format_object(out, value);
        break;
    case JSON_NULL:
    default:
        fputc('-', out);
        break;
    }
}

/* ctl_format_to() into a string the caller frees. */
static char *ctl_format(json_t *value)
{
    char *text = NULL;
    size_t len;
    FILE *out = open_memstream(&text, &len);

    if (!out) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    ctl_format_to(out, value);
    fclose(out);
    return text;
}

/* Walks 'obj' as "label: value" lines: measures the widest label into
 * '*width' when 'print' is false, prints padded to it when true. */
static void ctl_fields_walk(json_t *obj, const char *prefix, bool print, int *width)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value)
    {
        char label[128];
        json_t *item;
        size_t i;

        snprintf(label, sizeof label, "%s%s", prefix, key);
        for (char *p = label; *p; p++) {
            *p = *p == '_' ? ' ' : *p;
        }
        if (json_is_object(value)) {
            strncat(label, " ", sizeof label - strlen(label) - 1);
            ctl_fields_walk(value, label, print, width);
            continue;
        }
        if (!print) {
            *width = (int)strlen(label) > *width ? (int)strlen(label) : *width;
            continue;
        }
        /* A list of objects (bindings): one line each. */
        bool per_item = json_is_array(value) && json_is_object(json_array_get(value, 0));
        json_array_foreach(per_item ? value : NULL, i, item)
        {
            char *text = ctl_format(item);
            printf("%s:%*s  %s\n", label, *width - (int)strlen(label), "", text);
            free(text);
        }
        if (!per_item) {
            char *text = ctl_format(value);
            printf("%s:%*s  %s\n", label, *width - (int)strlen(label), "", text);
            free(text);
        }
    }
}

void ctl_print_fields(json_t *obj)
{
    int width = 0;

    ctl_fields_walk(obj, "", false, &width);
    ctl_fields_walk(obj, "", true, &width);
}

/* The value of a column: "a.b" reaches into an object, "a|b" takes the
 * first of a and b that is there and not empty. */
static json_t *ctl_lookup(json_t *obj, const char *key)
{
    char path[128];
    char *alt, *save_alt = NULL;

    snprintf(path, sizeof path, "%s", key);
    for (alt = strtok_r(path, "|", &save_alt); alt; alt = strtok_r(NULL, "|", &save_alt)) {
        json_t *value = obj;
        char *part, *save_part = NULL;

        for (part = strtok_r(alt, ".", &save_part); part && value;
             part = strtok_r(NULL, ".", &save_part)) {
            value = json_object_get(value, part);
        }
        if (value && !json_is_null(value) &&
            !(json_is_string(value) && json_string_length(value) == 0)) {
            return value;
        }
    }
    return NULL;
}

/* The table of a list's "items", with the columns of the running collection. */
static void ctl_print_items(json_t *reply)
{
    const struct ctl_collection *c = ctl_current;
    struct cli_column *columns = calloc(c->n_columns, sizeof *columns);
    json_t *item;
    size_t i;

    if (!columns) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_EXIT_ERROR);
    }
    for (size_t k = 0; k < c->n_columns; k++) {
        columns[k] = (struct cli_column){c->columns[k].title, c->columns[k].kind != CTL_COL_TEXT};
    }
    struct cli_table *t = cli_table_new(columns, c->n_columns);
    json_array_foreach(json_object_get(reply, "items"), i, item)
    {
        for (size_t k = 0; k < c->n_columns; k++) {
            json_t *value = ctl_lookup(item, c->columns[k].key);
            char *text;

            if (c->columns[k].kind == CTL_COL_VLAN && json_integer_value(value) == 0) {
                value = NULL;
            }
            text = ctl_format(value);
            cli_table_cell(t, "%s", text);
            free(text);
        }
    }
    cli_table_print(t);
    free(columns);
}

int ctl_query(const struct cli_ctx *ctx, const char *prog, const char *path,
              void (*print)(json_t *reply))
{
    json_t *reply = NULL;
    int status = ctl_request(ctx, "GET", path, NULL, NULL, &reply);

    if (status != CLI_EXIT_OK) {
        return status;
    }
    if (ctx->format == CLI_FORMAT_JSON) {
        cli_print_json(reply);
    } else {
        print(reply);
    }
    json_decref(reply);
    return cli_finish(prog, CLI_EXIT_OK);
}

/* ---- The verbs --------------------------------------------------------------- */

/* The argument of --if-match: a store revision (a positive decimal number,
 * as 'show' prints it). CLI_CONTINUE or a usage error. */
static int ctl_check_revision(const char *prog, const char *text)
{
    char *end;

    errno = 0;
    if (!isdigit((unsigned char)text[0]) || strtoull(text, &end, 10) == 0 || errno ||
        *end != '\0') {
        return cli_usage_error(prog,
                               "invalid revision '%s' for --if-match: give the number 'show' "
                               "prints as the object's revision",
                               text);
    }
    return CLI_CONTINUE;
}

/* Parses the options of 'verb' into 'body' and checks the number of operands
 * ('min' to 'max'). For set and del, '*revision' is the argument of
 * --if-match, NULL without; 'revision' is NULL for the other verbs. Returns
 * CLI_CONTINUE, or the exit status (help, error). */
static int ctl_parse(struct cli_ctx *ctx, int argc, char **argv, enum ctl_verb verb, json_t *body,
                     const char **revision, int min, int max, const char *what)
{
    static const struct option common[] = {CLI_COMMON_LONG_OPTIONS};
    const struct ctl_collection *c = ctl_current;
    struct option long_options[CTL_MAX_LONG_OPTIONS];
    json_t *setters = json_object();
    const char *prog = argv[0];
    size_t n = 0;
    int opt, status = CLI_CONTINUE;

    for (size_t i = 0; i < WEFT_ARRAY_SIZE(common); i++) {
        long_options[n++] = common[i];
    }
    if (revision) {
        *revision = NULL;
    }
    if (ctl_takes_if_match(c, verb)) {
        long_options[n++] = (struct option){"if-match", required_argument, NULL, CTL_OPT_IF_MATCH};
    }
    for (size_t i = 0; i < c->n_options && n + 1 < CTL_MAX_LONG_OPTIONS; i++) {
        const struct ctl_option *o = &c->options[i];
        if (o->verbs & CTL_ON(verb)) {
            long_options[n++] = (struct option){o->name, o->arg ? required_argument : no_argument,
                                                NULL, CTL_OPT_BASE + (int)i};
        }
    }
    long_options[n] = (struct option){NULL, 0, NULL, 0};

    while (status == CLI_CONTINUE &&
           (opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        if (opt == 'h') {
            ctl_verb_help(stdout, c, verb);
            status = cli_finish(prog, CLI_EXIT_OK);
        } else if (opt == CTL_OPT_IF_MATCH) {
            status = ctl_check_revision(prog, optarg);
            *revision = optarg;
        } else if (opt >= CTL_OPT_BASE) {
            status = ctl_apply_option(prog, &c->options[opt - CTL_OPT_BASE], optarg, verb, body,
                                      setters);
        } else {
            status = cli_common_option(ctx, opt, prog, "");
        }
    }
    json_decref(setters);
    if (status == CLI_CONTINUE) {
        status = cli_operands(prog, argc, argv, min, max, what);
    }
    return status;
}

/* "<path>/<name>" of the member named by the operand, after checking it. */
static int ctl_member_path(const char *prog, const char *name, char *path, size_t size)
{
    const struct ctl_collection *c = ctl_current;

    if (ctl_check_name(prog, c->name_what, name, c->name_max)) {
        return CLI_EXIT_USAGE;
    }
    snprintf(path, size, "%s/%s", c->path, name);
    return CLI_CONTINUE;
}

/* "missing zone name (weft zone show NAME)" */
static void ctl_what(char *buf, size_t size, enum ctl_verb verb)
{
    const struct ctl_collection *c = ctl_current;

    snprintf(buf, size, "%s (weft %s %s %s)", c->table ? "segment name" : c->name_what, c->group,
             ctl_verb_names[verb], c->verbs[verb].usage);
}

static int ctl_add(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct ctl_collection *c = ctl_current;
    int n = c->add_operand ? 2 : 1;
    json_t *body = json_object();
    char what[256];
    int status;

    ctl_what(what, sizeof what, CTL_VERB_ADD);
    status = ctl_parse(ctx, argc, argv, CTL_VERB_ADD, body, NULL, n, n, what);
    if (status == CLI_CONTINUE &&
        ctl_check_name(argv[0], c->name_what, argv[optind], c->name_max)) {
        status = CLI_EXIT_USAGE;
    }
    if (status == CLI_CONTINUE) {
        json_object_set_new(body, "name", json_string(argv[optind]));
        if (c->add_operand) {
            status = c->add_operand(argv[0], argv[optind + 1], body);
        }
    }
    if (status == CLI_CONTINUE && c->finish) {
        status = c->finish(argv[0], true, body);
    }
    if (status != CLI_CONTINUE) {
        json_decref(body);
        return status;
    }
    return cli_finish(argv[0], ctl_request(ctx, "POST", c->path, body, NULL, NULL));
}

/* Sends a change of member 'name' at 'path' ('body' consumed), only while
 * it is at 'revision' (--if-match) if that is not NULL. */
static int ctl_change(const struct cli_ctx *ctx, const char *prog, const char *method,
                      const char *path, const char *name, json_t *body, const char *revision)
{
    const struct ctl_condition condition = {revision, ctl_current->group, name};

    return cli_finish(prog,
                      ctl_request(ctx, method, path, body, revision ? &condition : NULL, NULL));
}

static int ctl_set(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct ctl_collection *c = ctl_current;
    json_t *body = json_object();
    char what[256], path[256];
    const char *revision;
    int status;

    ctl_what(what, sizeof what, CTL_VERB_SET);
    status = ctl_parse(ctx, argc, argv, CTL_VERB_SET, body, &revision, 1, 1, what);
    if (status == CLI_CONTINUE) {
        status = ctl_member_path(argv[0], argv[optind], path, sizeof path);
    }
    if (status == CLI_CONTINUE && json_object_size(body) == 0) {
        status = cli_usage_error(argv[0], "nothing to change: give at least one option");
    }
    if (status == CLI_CONTINUE && c->finish) {
        status = c->finish(argv[0], false, body);
    }
    if (status != CLI_CONTINUE) {
        json_decref(body);
        return status;
    }
    return ctl_change(ctx, argv[0], "PATCH", path, argv[optind], body, revision);
}

/* The options and NAME operand of a verb that takes no body (del, show),
 * into the member's path and, for del, the argument of --if-match (as
 * ctl_parse()). Returns CLI_CONTINUE or the exit status. */
static int ctl_parse_member(struct cli_ctx *ctx, int argc, char **argv, enum ctl_verb verb,
                            char *path, size_t size, const char **revision)
{
    json_t *body = json_object();
    char what[256];
    int status;

    ctl_what(what, sizeof what, verb);
    status = ctl_parse(ctx, argc, argv, verb, body, revision, 1, 1, what);
    json_decref(body);
    if (status == CLI_CONTINUE) {
        status = ctl_member_path(argv[0], argv[optind], path, size);
    }
    return status;
}

static int ctl_del(struct cli_ctx *ctx, int argc, char **argv)
{
    char path[256];
    const char *revision;
    int status = ctl_parse_member(ctx, argc, argv, CTL_VERB_DEL, path, sizeof path, &revision);

    if (status != CLI_CONTINUE) {
        return status;
    }
    return ctl_change(ctx, argv[0], "DELETE", path, argv[optind], NULL, revision);
}

static int ctl_show(struct cli_ctx *ctx, int argc, char **argv)
{
    char path[256];
    int status = ctl_parse_member(ctx, argc, argv, CTL_VERB_SHOW, path, sizeof path, NULL);

    if (status != CLI_CONTINUE) {
        return status;
    }
    return ctl_query(ctx, argv[0], path, ctl_print_fields);
}

/* "?host=a&segment=b": the filters are names, which need no escaping. */
static void ctl_append_query(char *path, size_t size, json_t *filters)
{
    const char *key;
    json_t *value;
    bool first = true;

    json_object_foreach(filters, key, value)
    {
        size_t len = strlen(path);
        snprintf(path + len, size - len, "%s%s=%s", first ? "?" : "&", key,
                 json_string_value(value));
        first = false;
    }
}

static int ctl_list(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct ctl_collection *c = ctl_current;
    int n = c->table ? 1 : 0;
    json_t *filters = json_object();
    char what[256], path[512];
    int status;

    ctl_what(what, sizeof what, CTL_VERB_LIST);
    status = ctl_parse(ctx, argc, argv, CTL_VERB_LIST, filters, NULL, n, n, what);
    if (status == CLI_CONTINUE && c->table) {
        /* The segment's table: segments/<SEGMENT>/<table>. */
        if (ctl_check_name(argv[0], "segment name", argv[optind], 63)) {
            status = CLI_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "segments/%s/%s", argv[optind], c->table);
    } else {
        snprintf(path, sizeof path, "%s", c->path);
    }
    if (status == CLI_CONTINUE) {
        ctl_append_query(path, sizeof path, filters);
    }
    json_decref(filters);
    if (status != CLI_CONTINUE) {
        return status;
    }
    return ctl_query(ctx, argv[0], path, ctl_print_items);
}

int ctl_collection_run(struct cli_ctx *ctx, int argc, char **argv, const struct ctl_collection *c)
{
    static cli_run_fn *const runs[CTL_N_VERBS] = {ctl_add, ctl_set, ctl_list, ctl_show, ctl_del};
    struct cli_subcommand subs[CTL_N_VERBS];
    size_t n_subs = 0;
    char *help = NULL;
    size_t help_len;
    FILE *out;
    int status;

    ctl_current = c;
    if (!(out = open_memstream(&help, &help_len))) {
        fputs("weft: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    fprintf(out, "Usage: weft %s COMMAND [ARG]...\n\n%s\n\nCommands:\n", c->group, c->summary);
    for (int v = 0; v < CTL_N_VERBS; v++) {
        if (c->verbs[v].usage) {
            subs[n_subs++] = (struct cli_subcommand){ctl_verb_names[v], runs[v]};
            fprintf(out, "  weft %s %s%s%s\n", c->group, ctl_verb_names[v],
                    c->verbs[v].usage[0] ? " " : "", c->verbs[v].usage);
        }
    }
    fprintf(out, "\n'weft %s COMMAND --help' describes each command and its options.\n", c->group);
    fclose(out);
    status = cli_dispatch(ctx, argc, argv, subs, n_subs, help);
    free(help);
    return status;
}
