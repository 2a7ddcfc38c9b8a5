/*
 * ctl_segment.c - "weft segment add|set|list|show|del" in controller mode:
 * the logical L2 segments of the whole network, each a VNI (given, or
 * allocated from a pool), with its transport zone, how BUM frames leave a
 * host (head-end, proxy or multicast replication) and ARP suppression.
 */
#include "cli/ctl.h"

#include <string.h>

#include "core/vxlan.h"
#include "lib/compiler.h"

static const struct ctl_option segment_options[] = {
    {.name = "vni",
     .arg = "N",
     .field = "vni",
     .kind = CTL_UINT,
     .verbs = CTL_ADD,
     .min = 1,
     .max = VXLAN_VNI_MAX,
     .what = "VNI",
     .help = "the segment's VNI (1-16777215)"},
    {.name = "pool",
     .arg = "POOL",
     .field = "pool",
     .kind = CTL_NAME,
     .verbs = CTL_ADD,
     .what = "pool name",
     .help = "allocate the lowest free VNI of VNI pool POOL"},
    {.name = "zone",
     .arg = "ZONE",
     .field = "zone",
     .kind = CTL_NAME,
     .verbs = CTL_ADD | CTL_SET,
     .what = "zone name",
     .help = "the transport zone whose hosts the segment may span\n"
             "(default: none, any host)"},
    {.name = "no-zone",
     .field = "zone",
     .kind = CTL_NULL,
     .verbs = CTL_SET,
     .help = "take the segment out of its zone: any host"},
    {.name = "bum",
     .arg = "MODE",
     .field = "replication",
     .kind = CTL_CHOICE,
     .verbs = CTL_ADD | CTL_SET,
     .choices = "head-end|proxy|multicast",
     .help = "BUM replication: how broadcast, unknown-unicast and\n"
             "multicast frames leave a host: 'head-end' (default;\n"
             "a copy to every other VTEP), 'proxy' (one copy to a\n"
             "proxy VTEP per remote subnet) or 'multicast' (one\n"
             "copy to --group)"},
    {.name = "group",
     .arg = "ADDR",
     .field = "multicast_group",
     .kind = CTL_MCAST4,
     .verbs = CTL_ADD | CTL_SET,
     .help = "the underlay IPv4 multicast group, with --bum multicast"},
    {.name = "arp-suppression",
     .field = "arp_suppression",
     .kind = CTL_TRUE,
     .verbs = CTL_ADD | CTL_SET,
     .help = "answer ARP requests for known addresses on the first host\n"
             "(default)"},
    {.name = "no-arp-suppression",
     .field = "arp_suppression",
     .kind = CTL_FALSE,
     .verbs = CTL_ADD | CTL_SET,
     .help = "flood every ARP request"},
    {.name = "vlan",
     .arg = "N",
     .field = "vlan",
     .kind = CTL_UINT,
     .verbs = CTL_ADD | CTL_SET,
     .min = 0,
     .max = 4094,
     .what = "VLAN",
     .help = "the VLAN (1-4094) that carries the segment on trunk\n"
             "ports; 0 (default) = none"},
    {.name = "allow-inner-vlan",
     .field = "allow_inner_vlan",
     .kind = CTL_TRUE,
     .verbs = CTL_ADD | CTL_SET,
     .help = "accept frames from the overlay that carry a VLAN tag\n"
             "(refused by default, RFC 7348 section 6)"},
    {.name = "no-allow-inner-vlan",
     .field = "allow_inner_vlan",
     .kind = CTL_FALSE,
     .verbs = CTL_SET,
     .help = "refuse them again"},
    {.name = "description",
     .arg = "TEXT",
     .field = "description",
     .kind = CTL_TEXT,
     .verbs = CTL_ADD | CTL_SET,
     .help = "what the segment is for (at most 255 bytes)"},
};

static int segment_finish(const char *prog, bool add, json_t *body)
{
    const char *bum = json_string_value(json_object_get(body, "replication"));
    bool multicast = bum && strcmp(bum, "multicast") == 0;
    int status = ctl_exclusive(prog, body, "vni", "--vni", "pool", "--pool");

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (add && !json_object_get(body, "vni") && !json_object_get(body, "pool")) {
        return cli_usage_error(prog, "missing --vni N, or --pool POOL to allocate a VNI from");
    }
    if (add && multicast && !json_object_get(body, "multicast_group")) {
        return cli_usage_error(prog, "--bum multicast needs --group, the underlay multicast "
                                     "group (e.g. 239.1.1.1)");
    }
    /* On set, --group alone changes the group of a multicast segment. */
    if (json_object_get(body, "multicast_group") && !multicast && (add || bum)) {
        return cli_usage_error(prog, "--group only applies with --bum multicast");
    }
    /* A segment that stops being multicast leaves its group, which the API
     * refuses next to another mode. */
    if (!add && bum && !multicast) {
        json_object_set_new(body, "multicast_group", json_null());
    }
    return CLI_CONTINUE;
}

static const struct ctl_column segment_columns[] = {
    {"NAME", "name", CTL_COL_TEXT},
    {"VNI", "vni", CTL_COL_NUMBER},
    {"POOL", "pool", CTL_COL_TEXT},
    {"ZONE", "zone", CTL_COL_TEXT},
    {"BUM", "replication", CTL_COL_TEXT},
    {"GROUP", "multicast_group", CTL_COL_TEXT},
    {"ARP-SUPPRESSION", "arp_suppression", CTL_COL_TEXT},
    {"VLAN", "vlan", CTL_COL_VLAN},
};

static const struct ctl_collection segment_collection = {
    .group = "segment",
    .path = "segments",
    .name_what = "segment name",
    .name_max = 63,
    .summary = "Manage the segments of weft-controller: logical L2 networks, each a VXLAN\n"
               "VNI, pushed to every host that has a port on them.",
    .verbs =
        {
            [CTL_VERB_ADD] = {"NAME (--vni N | --pool POOL) [OPTION]...",
                              "Add segment NAME (1-63 of letters, digits, '-', '_', '.') with VNI\n"
                              "N, or the lowest free VNI of pool POOL. A VNI another segment\n"
                              "uses is refused."},
            [CTL_VERB_SET] = {"NAME OPTION...",
                              "Change segment NAME; what is not given stays as it is. The VNI,\n"
                              "pool and name cannot change."},
            [CTL_VERB_LIST] = {"", "List the segments: VNI, pool, zone, BUM replication, ARP\n"
                                   "suppression, VLAN on trunks."},
            [CTL_VERB_SHOW] = {"NAME",
                               "Show segment NAME. Its tables: weft vtep|mac|arp list NAME."},
            [CTL_VERB_DEL] = {"NAME", "Delete segment NAME; refused while it has ports."},
        },
    .revisioned = true,
    .options = segment_options,
    .n_options = WEFT_ARRAY_SIZE(segment_options),
    .finish = segment_finish,
    .columns = segment_columns,
    .n_columns = WEFT_ARRAY_SIZE(segment_columns),
};

int ctl_cmd_segment(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &segment_collection);
}
