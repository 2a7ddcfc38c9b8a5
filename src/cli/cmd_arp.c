/*
 * cmd_arp.c - "weft arp list [VNI]": the ARP table of this host's switch, the
 * IP -> MAC entries it answers ARP requests from on segments with ARP
 * suppression (static ones from the controller, learned ones from ARP traffic).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compiler.h"

static const char arp_help[] =
    "Usage: weft arp list [VNI] [-o table|json]\n"
    "\n"
    "List the ARP table of this host's switch (of segment VNI only, if given):\n"
    "the segment, the IPv4 address, its MAC, whether the entry is static (given\n"
    "by weft-controller; never ages) or learned from ARP traffic, and the seconds\n"
    "since a learned entry was last seen. On a segment with ARP suppression the\n"
    "switch answers a guest's ARP request for a listed address itself.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's array of\n"
    "                       {vni, ip, mac, static, age})\n"
    "  -h, --help           print this help and exit\n";

static void arp_print_table(json_t *data)
{
    static const struct cli_column columns[] = {
        {"VNI", true}, {"IP", false}, {"MAC", false}, {"TYPE", false}, {"AGE", true},
    };
    size_t n;
    /* By VNI, then IP as text. */
    json_t **entries = cli_json_sort_by_vni(data, "ip", &n);
    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));

    for (size_t i = 0; i < n; i++) {
        json_t *e = entries[i];

        cli_table_cell(t, "%lld", cli_json_int(e, "vni"));
        cli_table_cell(t, "%s", cli_json_str(e, "ip", "?"));
        cli_table_cell(t, "%s", cli_json_str(e, "mac", "?"));
        cli_table_type_age(t, e);
    }
    cli_table_print(t);
    free(entries);
}

static int arp_list(struct cli_ctx *ctx, int argc, char **argv)
{
    int status;
    uint32_t vni = 0;

    if ((status = cli_parse_common(ctx, argc, argv, arp_help, 0, 1, "")) != CLI_CONTINUE) {
        return status;
    }
    if (optind < argc && cli_parse_vni(argv[0], argv[optind], &vni)) {
        return CLI_EXIT_USAGE;
    }
    return cli_query(ctx, argv[0], "arp-list",
                     vni ? json_pack("{sI}", "vni", (json_int_t)vni) : NULL, arp_print_table);
}

int cli_cmd_arp(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"list", arp_list},
    };

    return cli_dispatch(ctx, argc, argv, subs, WEFT_ARRAY_SIZE(subs), arp_help);
}
