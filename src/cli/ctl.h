/*
 * ctl.h - the weft CLI in controller mode ("weft --controller URL ...", or
 * WEFT_CONTROLLER=URL): the same verbs as against the local weftd, sent to
 * weft-controller's REST API (docs/api.md) instead.
 *
 * The objects of the API (transport zones, VNI pools, segments, ports, hosts)
 * have one shape: a collection under /api/v1/ whose members are named, listed,
 * shown, created, changed and deleted the same way. So each command group
 * (ctl_zone.c, ctl_pool.c, ...) is a description, struct ctl_collection: its
 * options and the JSON field each sets, its local checks, its table columns
 * and its help; ctl_object.c runs every verb from that description, and
 * ctl_client.c is the one HTTP client. Output follows the local rules: tables
 * and "key: value" fields for people, the API's JSON with "-o json", nothing
 * for changes.
 */
#ifndef WEFT_CLI_CTL_H
#define WEFT_CLI_CTL_H

#include "cli/cli.h"

/* ---- The HTTP client (ctl_client.c) ---------------------------------------- */

/* A change made only while the object is at one revision ("--if-match"):
 * the revision as given, and which object it is, for the message when it
 * changed since. */
struct ctl_condition {
    const char *revision; /* decimal, as 'show' prints it */
    const char *group;    /* the command group: "segment" */
    const char *name;
};

/* Sends 'method' to <controller>/api/v1/<path> with 'body' (NULL for none;
 * consumed) as JSON, with the bearer token of ctx->token_file if given, and
 * with If-Match if 'condition' is not NULL. On a 2xx answer returns
 * CLI_EXIT_OK and, if 'reply' is not NULL, stores the answer's JSON there (a
 * new reference; json null for 204). Otherwise prints "weft: <the API's
 * message>" (with what to do for 401; for 412, that the object changed and
 * how to re-read it) and returns CLI_EXIT_ERROR, CLI_EXIT_UNREACHABLE when
 * nobody answered at the URL, or CLI_EXIT_USAGE when ctx->controller is not
 * an http(s) URL (nothing was sent). */
int ctl_request(const struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
                const struct ctl_condition *condition, json_t **reply);

/* ---- Objects and their verbs (ctl_object.c) -------------------------------- */

/* How an option's argument becomes the value of its JSON field. */
enum ctl_kind {
    CTL_TEXT,    /* a string of at most 255 bytes */
    CTL_NAME,    /* an object name: 1-63 of [A-Za-z0-9_.-] */
    CTL_NAMES,   /* a name, repeatable: an array of them */
    CTL_UINT,    /* a number from min to max (decimal or 0x hex) */
    CTL_TPID,    /* 0x8100 or 0x88a8 */
    CTL_CHOICE,  /* one of 'choices', "a|b|c" */
    CTL_VLANS,   /* a VLAN list, "101,200-210" */
    CTL_MCAST4,  /* an IPv4 multicast address */
    CTL_BINDING, /* "MAC[,IP]", repeatable: an array of {"mac", "ip"} */
    CTL_TRUE,    /* no argument: the field is true */
    CTL_FALSE,   /* no argument: the field is false */
    CTL_NULL,    /* no argument: the field is null (e.g. no zone) */
    CTL_EMPTY,   /* no argument: the field is [] (e.g. no bindings) */
};

/* The verbs; an option says in which it may appear. */
enum ctl_verb {
    CTL_VERB_ADD,
    CTL_VERB_SET,
    CTL_VERB_LIST,
    CTL_VERB_SHOW,
    CTL_VERB_DEL,
    CTL_N_VERBS,
};
#define CTL_ON(verb) (1u << (verb))
#define CTL_ADD      CTL_ON(CTL_VERB_ADD)
#define CTL_SET      CTL_ON(CTL_VERB_SET)
#define CTL_LIST     CTL_ON(CTL_VERB_LIST) /* a filter: ?field=value */

struct ctl_option {
    const char *name;  /* the long option, without "--"; never a common one (cli.h) */
    const char *arg;   /* its argument in the help ("N", "NAME"); NULL for flags */
    const char *field; /* the JSON field it sets */
    enum ctl_kind kind;
    unsigned verbs; /* CTL_ADD | CTL_SET | CTL_LIST */
    unsigned long min, max;
    const char *what;    /* the argument in messages ("VNI", "host id") */
    const char *choices; /* CTL_CHOICE */
    /* Also sets 'also_field' to the string 'also_value' (--trunk: mode=trunk). */
    const char *also_field, *also_value;
    const char *help; /* one line, or several separated by '\n' */
};

/* A column of a list: the value at 'key' ("status.up" reaches into an object;
 * "segment|vlans" takes the first that is there). */
enum ctl_column_kind {
    CTL_COL_TEXT,   /* left-aligned */
    CTL_COL_NUMBER, /* right-aligned */
    CTL_COL_VLAN,   /* right-aligned, 0 shown as "-" */
};
struct ctl_column {
    const char *title;
    const char *key;
    enum ctl_column_kind kind;
};

/* What a verb's help says: the operands and options after "weft GROUP VERB",
 * and what it does. A collection has the verbs whose usage is not NULL. */
struct ctl_verb_doc {
    const char *usage;
    const char *text;
};

struct ctl_collection {
    const char *group;     /* "zone": weft zone ... */
    const char *path;      /* below /api/v1/: "transport-zones" */
    const char *name_what; /* the operand in messages: "zone name", "host id" */
    size_t name_max;       /* longest name: 63, ports 15 */
    /* Tables of segments ("weft vtep list SEGMENT"): list takes the segment
     * and asks for segments/<SEGMENT>/<table>. NULL for collections. */
    const char *table;
    const char *summary; /* one paragraph for "weft GROUP --help" */
    struct ctl_verb_doc verbs[CTL_N_VERBS];
    /* The API keeps its objects' revision and honours If-Match: set and del
     * take --if-match REVISION. */
    bool revisioned;
    const struct ctl_option *options;
    size_t n_options;
    /* add's second operand (pool: START-END), parsed into the body; NULL if none. */
    int (*add_operand)(const char *prog, const char *text, json_t *body);
    /* Checks what options alone cannot (one of two required, options that
     * need each other) on the body of add ('add') or set, and completes it
     * (a port set to trunk leaves its segment); CLI_CONTINUE or
     * CLI_EXIT_USAGE. NULL if there is nothing to do. */
    int (*finish)(const char *prog, bool add, json_t *body);
    const struct ctl_column *columns;
    size_t n_columns;
};

/* Runs "weft GROUP VERB ..." for collection 'c'. */
int ctl_collection_run(struct cli_ctx *ctx, int argc, char **argv, const struct ctl_collection *c);

/* GETs 'path' and prints it: JSON with -o json, else with 'print'. */
int ctl_query(const struct cli_ctx *ctx, const char *prog, const char *path,
              void (*print)(json_t *reply));

/* Prints an object as "key: value" fields, nested objects as "key sub: value". */
void ctl_print_fields(json_t *obj);

/* Checks an object name (1 to 'max' of [A-Za-z0-9_.-]); 0 or a usage error. */
int ctl_check_name(const char *prog, const char *what, const char *text, size_t max);

/* Reports a usage error when 'body' has both fields; CLI_CONTINUE otherwise. */
int ctl_exclusive(const char *prog, json_t *body, const char *a, const char *opt_a, const char *b,
                  const char *opt_b);

/* ---- Command groups ---------------------------------------------------------- */

int ctl_cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_zone(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_pool(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_segment(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_port(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_host(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_vtep(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_mac(struct cli_ctx *ctx, int argc, char **argv);
int ctl_cmd_arp(struct cli_ctx *ctx, int argc, char **argv);

#endif
