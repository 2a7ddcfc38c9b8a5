/*
 * ctl_pool.c - "weft pool add|set|list|show|del" in controller mode: the VNI
 * pools segments without a VNI of their own are allocated from.
 */
#include "cli/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "core/vxlan.h"
#include "lib/compiler.h"

/* "START-END" (or one VNI) -> "start", "end". */
static int pool_range(const char *prog, const char *text, json_t *body)
{
    char *copy = strdup(text);
    char *dash = copy ? strchr(copy, '-') : NULL;
    uint32_t start, end;
    int status = CLI_EXIT_USAGE;

    if (!copy) {
        fputs("weft: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    if (dash) {
        *dash = '\0';
    }
    if (cli_parse_uint(prog, "pool start VNI", copy, 1, VXLAN_VNI_MAX, &start) ||
        cli_parse_uint(prog, "pool end VNI", dash ? dash + 1 : copy, 1, VXLAN_VNI_MAX, &end)) {
        goto out;
    }
    if (start > end) {
        cli_usage_error(
            prog, "the pool range '%s' runs backwards: give START-END with START <= END", text);
        goto out;
    }
    json_object_set_new(body, "start", json_integer(start));
    json_object_set_new(body, "end", json_integer(end));
    status = CLI_CONTINUE;
out:
    free(copy);
    return status;
}

static const struct ctl_option pool_options[] = {
    {.name = "start",
     .arg = "VNI",
     .field = "start",
     .kind = CTL_UINT,
     .verbs = CTL_SET,
     .min = 1,
     .max = VXLAN_VNI_MAX,
     .what = "pool start VNI",
     .help = "the pool's first VNI (1-16777215)"},
    {.name = "end",
     .arg = "VNI",
     .field = "end",
     .kind = CTL_UINT,
     .verbs = CTL_SET,
     .min = 1,
     .max = VXLAN_VNI_MAX,
     .what = "pool end VNI",
     .help = "the pool's last VNI (1-16777215)"},
    {.name = "description",
     .arg = "TEXT",
     .field = "description",
     .kind = CTL_TEXT,
     .verbs = CTL_ADD | CTL_SET,
     .help = "what the pool is for (at most 255 bytes)"},
};

/* set: a range given whole must not run backwards; one end alone is checked
 * against the other by the controller, which knows it. */
static int pool_finish(const char *prog, bool add, json_t *body)
{
    json_t *start = json_object_get(body, "start"), *end = json_object_get(body, "end");

    if (!add && start && end && json_integer_value(start) > json_integer_value(end)) {
        return cli_usage_error(
            prog, "the pool range %lld-%lld runs backwards: give --start <= --end",
            (long long)json_integer_value(start), (long long)json_integer_value(end));
    }
    return CLI_CONTINUE;
}

static const struct ctl_column pool_columns[] = {
    {"NAME", "name", CTL_COL_TEXT},
    {"START", "start", CTL_COL_NUMBER},
    {"END", "end", CTL_COL_NUMBER},
    {"ALLOCATED", "allocated", CTL_COL_NUMBER},
    {"DESCRIPTION", "description", CTL_COL_TEXT},
};

static const struct ctl_collection pool_collection = {
    .group = "pool",
    .path = "vni-pools",
    .name_what = "pool name",
    .name_max = 63,
    .summary = "Manage weft-controller's VNI pools: ranges of VNIs that segments created\n"
               "with --pool instead of --vni get the lowest free VNI of.",
    .verbs =
        {
            [CTL_VERB_ADD] = {"NAME START-END [--description TEXT]",
                              "Add VNI pool NAME with the VNIs START to END (1-16777215). A pool\n"
                              "that overlaps another is refused."},
            [CTL_VERB_SET] =
                {"NAME OPTION...",
                 "Change VNI pool NAME; what is not given stays as it is. --start and\n"
                 "--end move its ends: a range that overlaps another pool, or leaves\n"
                 "out a VNI a segment was allocated from it, is refused."},
            [CTL_VERB_LIST] = {"", "List the VNI pools and how many segments hold a VNI of each."},
            [CTL_VERB_SHOW] = {"NAME", "Show VNI pool NAME."},
            [CTL_VERB_DEL] = {"NAME",
                              "Delete VNI pool NAME; refused while segments hold a VNI from it."},
        },
    .revisioned = true,
    .options = pool_options,
    .n_options = WEFT_ARRAY_SIZE(pool_options),
    .add_operand = pool_range,
    .finish = pool_finish,
    .columns = pool_columns,
    .n_columns = WEFT_ARRAY_SIZE(pool_columns),
};

int ctl_cmd_pool(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &pool_collection);
}
