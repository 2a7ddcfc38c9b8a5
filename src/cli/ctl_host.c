/*
 * ctl_host.c - "weft host list|show|del" in controller mode: the hosts whose
 * weftd registered with weft-controller, and whether they are connected.
 */
#include "cli/ctl.h"

#include "lib/compiler.h"

static const struct ctl_column host_columns[] = {
    {"ID", "id", CTL_COL_TEXT},
    {"VTEP", "vtep", CTL_COL_TEXT},
    {"CONNECTED", "connected", CTL_COL_TEXT},
    {"LAST-SEEN", "last_seen", CTL_COL_TEXT},
    {"PORTS", "ports", CTL_COL_NUMBER},
    {"SEGMENTS", "segments", CTL_COL_TEXT},
    {"SOFTWARE", "software", CTL_COL_TEXT},
};

static const struct ctl_collection host_collection = {
    .group = "host",
    .path = "hosts",
    .name_what = "host id",
    .name_max = 63,
    .summary = "The hosts of weft-controller: each weftd started with --controller and the\n"
               "join token registers itself with its id and VTEP address.",
    .verbs =
        {
            [CTL_VERB_LIST] = {"", "List the registered hosts: VTEP, connected or not, last seen,\n"
                                   "ports bound, segments (VNIs) and software version."},
            [CTL_VERB_SHOW] = {"ID", "Show host ID."},
            [CTL_VERB_DEL] = {"ID", "Forget host ID (refused while ports are bound to it): its\n"
                                    "learned entries are withdrawn; if it connects again it\n"
                                    "registers again."},
        },
    .columns = host_columns,
    .n_columns = WEFT_ARRAY_SIZE(host_columns),
};

int ctl_cmd_host(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &host_collection);
}
