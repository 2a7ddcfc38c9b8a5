/*
 * ctl_zone.c - "weft zone add|set|list|show|del" in controller mode: the
 * transport zones, which hosts a segment may span.
 */
#include "cli/ctl.h"

#include "lib/compiler.h"

static const struct ctl_option zone_options[] = {
    {.name = "host",
     .arg = "HOST",
     .field = "hosts",
     .kind = CTL_NAMES,
     .verbs = CTL_ADD | CTL_SET,
     .what = "host id",
     .help = "a host of the zone (its id); repeat for several;\n"
             "set: replaces the whole list. Hosts need not have\n"
             "registered yet"},
    {.name = "no-hosts",
     .field = "hosts",
     .kind = CTL_EMPTY,
     .verbs = CTL_SET,
     .help = "remove every host from the zone"},
    {.name = "description",
     .arg = "TEXT",
     .field = "description",
     .kind = CTL_TEXT,
     .verbs = CTL_ADD | CTL_SET,
     .help = "what the zone is for (at most 255 bytes)"},
};

static const struct ctl_column zone_columns[] = {
    {"NAME", "name", CTL_COL_TEXT},
    {"HOSTS", "hosts", CTL_COL_TEXT},
    {"DESCRIPTION", "description", CTL_COL_TEXT},
};

static const struct ctl_collection zone_collection = {
    .group = "zone",
    .path = "transport-zones",
    .name_what = "zone name",
    .name_max = 63,
    .summary = "Manage weft-controller's transport zones: which hosts a segment may span. A\n"
               "port may be bound to a host only when the host is in its segment's zone (a\n"
               "segment without a zone may span every host).",
    .verbs =
        {
            [CTL_VERB_ADD] = {"NAME [--host HOST]... [--description TEXT]",
                              "Add transport zone NAME (1-63 of letters, digits, '-', '_', '.')."},
            [CTL_VERB_SET] = {"NAME OPTION...",
                              "Change zone NAME; what is not given stays as it is. Removing a\n"
                              "host that still has ports of the zone's segments is refused."},
            [CTL_VERB_LIST] = {"", "List the transport zones with their hosts."},
            [CTL_VERB_SHOW] = {"NAME", "Show transport zone NAME."},
            [CTL_VERB_DEL] = {"NAME", "Delete transport zone NAME; refused while segments use it."},
        },
    .revisioned = true,
    .options = zone_options,
    .n_options = WEFT_ARRAY_SIZE(zone_options),
    .columns = zone_columns,
    .n_columns = WEFT_ARRAY_SIZE(zone_columns),
};

int ctl_cmd_zone(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &zone_collection);
}
