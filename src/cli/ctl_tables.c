/*
 * ctl_tables.c - "weft vtep|mac|arp list SEGMENT" in controller mode: the
 * controller's tables of one segment, as it pushes them to the hosts: the
 * VTEPs of the hosts with ports on it, where each MAC is (MAC -> VTEP), and
 * the IP -> MAC table ARP suppression answers from.
 */
#include "cli/ctl.h"

#include "lib/compiler.h"

static const struct ctl_column vtep_columns[] = {
    {"HOST", "host", CTL_COL_TEXT},           {"VTEP", "vtep", CTL_COL_TEXT},
    {"CONNECTED", "connected", CTL_COL_TEXT}, {"PORTS", "ports", CTL_COL_NUMBER},
    {"PROXY", "proxy", CTL_COL_TEXT},
};

static const struct ctl_column mac_columns[] = {
    {"MAC", "mac", CTL_COL_TEXT},       {"HOST", "host", CTL_COL_TEXT},
    {"VTEP", "vtep", CTL_COL_TEXT},     {"PORT", "port", CTL_COL_TEXT},
    {"SOURCE", "source", CTL_COL_TEXT},
};

static const struct ctl_column arp_columns[] = {
    {"IP", "ip", CTL_COL_TEXT},
    {"MAC", "mac", CTL_COL_TEXT},
    {"HOST", "host", CTL_COL_TEXT},
    {"SOURCE", "source", CTL_COL_TEXT},
};

static const struct ctl_collection vtep_table = {
    .group = "vtep",
    .name_what = "segment name",
    .name_max = 63,
    .table = "vteps",
    .summary = "The VTEPs of a segment as weft-controller sees them.",
    .verbs = {[CTL_VERB_LIST] = {"SEGMENT",
                                 "List the VTEPs of segment SEGMENT: one per host with a port on\n"
                                 "it (and, while its stale time runs, a host that went away).\n"
                                 "PROXY marks the VTEPs picked as their subnet's proxy (proxy\n"
                                 "replication)."}},
    .columns = vtep_columns,
    .n_columns = WEFT_ARRAY_SIZE(vtep_columns),
};

static const struct ctl_collection mac_table = {
    .group = "mac",
    .name_what = "segment name",
    .name_max = 63,
    .table = "macs",
    .summary = "The MAC table of a segment as weft-controller pushes it to the hosts.",
    .verbs = {[CTL_VERB_LIST] = {"SEGMENT",
                                 "List the MACs of segment SEGMENT and where each is: host, VTEP\n"
                                 "and port. SOURCE: 'binding' (a port's --bind) or 'learned'\n"
                                 "(reported by the host)."}},
    .columns = mac_columns,
    .n_columns = WEFT_ARRAY_SIZE(mac_columns),
};

static const struct ctl_collection arp_table = {
    .group = "arp",
    .name_what = "segment name",
    .name_max = 63,
    .table = "arp",
    .summary = "The IP -> MAC table of a segment, which ARP suppression answers from.",
    .verbs = {[CTL_VERB_LIST] =
                  {"SEGMENT", "List the IP -> MAC entries of segment SEGMENT. SOURCE: 'binding'\n"
                              "(a port's --bind MAC,IP) or 'learned' (seen by a host)."}},
    .columns = arp_columns,
    .n_columns = WEFT_ARRAY_SIZE(arp_columns),
};

int ctl_cmd_vtep(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &vtep_table);
}

int ctl_cmd_mac(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &mac_table);
}

int ctl_cmd_arp(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &arp_table);
}
