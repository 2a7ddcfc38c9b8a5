/*
 * cmd_segment.c - "weft segment add|del|list|show": the logical L2 segments
 * (VXLAN VNIs) this host's weftd serves, their VLAN on trunks, how broadcast
 * and unknown frames leave the host, and their peer VTEPs.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "lib/compiler.h"
#include "lib/ip_addr.h"

static const char segment_help[] =
    "Usage: weft segment COMMAND [ARG]...\n"
    "\n"
    "Manage the segments of this host's weftd: logical L2 networks, each a VXLAN\n"
    "network identifier (VNI, 1-16777215) carried between hosts over the underlay.\n"
    "\n"
    "Commands:\n"
    "  add VNI [OPTION]...  add a segment (weft segment add --help)\n"
    "  del VNI              delete a segment no access port uses\n"
    "  list                 list the segments with their peers, ports and counters\n"
    "  show VNI             show one segment, its counters and drops by reason\n"
    "\n"
    "Options (every command): -s SOCKET, -o table|json, -h/--help.\n";

static const char segment_add_help[] =
    "Usage: weft segment add VNI [OPTION]...\n"
    "\n"
    "Add segment VNI (1-16777215) to this host's switch. Access ports join it with\n"
    "'weft port add NAME --segment VNI'; trunk ports carry it tagged with its VLAN.\n"
    "\n"
    "Options:\n"
    "  --vlan N             the local VLAN id (1-4094) trunk ports carry the segment\n"
    "                       on; 0 (default) = none\n"
    "  --bum MODE           how broadcast, unknown-unicast and multicast frames leave\n"
    "                       the host: 'head-end' (default; one copy per peer) or\n"
    "                       'multicast' (one copy to --group)\n"
    "  --group ADDR         the underlay multicast group, with --bum multicast\n"
    "  --allow-inner-vlan   accept frames from the overlay that carry a VLAN tag\n"
    "                       (refused by default, RFC 7348 section 6)\n"
    "  --peer IP            a remote VTEP of the segment; repeat for several\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Example: weft segment add 5001 --vlan 101 --peer 10.1.2.2 --peer 10.1.3.2\n";

static const char segment_del_help[] =
    "Usage: weft segment del VNI\n"
    "\n"
    "Delete segment VNI. weftd refuses while access ports use it: move or delete\n"
    "them first (weft segment show VNI lists them).\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n";

static const char segment_list_help[] =
    "Usage: weft segment list [-o table|json]\n"
    "\n"
    "List the segments: VNI, VLAN, BUM mode, peer VTEPs, member ports, and the\n"
    "packets received, sent and dropped in each.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's array of segments)\n"
    "  -h, --help           print this help and exit\n";

static const char segment_show_help[] =
    "Usage: weft segment show VNI [-o table|json]\n"
    "\n"
    "Show segment VNI: its settings, peers, member ports and counters, with its\n"
    "drops by reason and what each means.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's segment object)\n"
    "  -h, --help           print this help and exit\n";

/* "a,b,c" of an array of strings, "-" when empty. */
static void segment_join(char *buf, size_t size, json_t *array)
{
    json_t *item;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(array, i, item)
    {
        const char *s = json_string_value(item);
        strncat(buf, i ? "," : "", size - strlen(buf) - 1);
        strncat(buf, s ? s : "?", size - strlen(buf) - 1);
    }
    if (!buf[0]) {
        snprintf(buf, size, "-");
    }
}

static int segment_add(struct cli_ctx *ctx, int argc, char **argv)
{
    enum { OPT_VLAN = 256, OPT_BUM, OPT_GROUP, OPT_ALLOW_INNER_VLAN, OPT_PEER };
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"vlan", required_argument, NULL, OPT_VLAN},
        {"bum", required_argument, NULL, OPT_BUM},
        {"group", required_argument, NULL, OPT_GROUP},
        {"allow-inner-vlan", no_argument, NULL, OPT_ALLOW_INNER_VLAN},
        {"peer", required_argument, NULL, OPT_PEER},
        {NULL, 0, NULL, 0},
    };
    const char *prog = argv[0], *bum = NULL, *group = NULL;
    json_t *args = json_object(), *peers = json_array();
    uint32_t vni, vlan;
    int opt, status = CLI_CONTINUE;

    while (status == CLI_CONTINUE &&
           (opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        switch (opt) {
        case OPT_VLAN:
            if (!(status = cli_parse_uint(prog, "VLAN", optarg, 0, 4094, &vlan))) {
                json_object_set_new(args, "vlan", json_integer(vlan));
                status = CLI_CONTINUE;
            }
            break;
        case OPT_BUM:
            if (strcmp(optarg, "head-end") != 0 && strcmp(optarg, "multicast") != 0) {
                status =
                    cli_usage_error(prog, "invalid --bum '%s': use head-end or multicast", optarg);
            }
            bum = optarg;
            break;
        case OPT_GROUP: {
            struct ip_addr addr;
            if (ip_addr_parse(optarg, &addr) || !ip_addr_is_multicast(&addr)) {
                status = cli_usage_error(prog,
                                         "invalid --group '%s': use an IPv4 or IPv6 multicast "
                                         "address such as 239.1.1.1",
                                         optarg);
            }
            group = optarg;
            break;
        }
        case OPT_ALLOW_INNER_VLAN:
            json_object_set_new(args, "allow_inner_vlan", json_true());
            break;
        case OPT_PEER:
            if (!(status = cli_check_ip(prog, "peer address", optarg))) {
                json_array_append_new(peers, json_string(optarg));
                status = CLI_CONTINUE;
            }
            break;
        default:
            status = cli_common_option(ctx, opt, prog, segment_add_help);
            break;
        }
    }
    if (status == CLI_CONTINUE) {
        status = cli_operands(prog, argc, argv, 1, 1, "VNI (weft segment add VNI)");
    }
    if (status == CLI_CONTINUE) {
        status = cli_parse_vni(prog, argv[optind], &vni) ? CLI_EXIT_USAGE : CLI_CONTINUE;
    }
    if (status == CLI_CONTINUE && bum && strcmp(bum, "multicast") == 0 && !group) {
        status = cli_usage_error(prog, "--bum multicast needs --group, the underlay multicast "
                                       "group (e.g. 239.1.1.1)");
    }
    if (status == CLI_CONTINUE && group && !(bum && strcmp(bum, "multicast") == 0)) {
        status = cli_usage_error(prog, "--group only applies with --bum multicast");
    }
    if (status != CLI_CONTINUE) {
        json_decref(args);
        json_decref(peers);
        return status;
    }
    json_object_set_new(args, "vni", json_integer(vni));
    if (bum) {
        json_object_set_new(args, "bum", json_string(bum));
    }
    if (group) {
        json_object_set_new(args, "group", json_string(group));
    }
    if (json_array_size(peers)) {
        json_object_set(args, "peers", peers);
    }
    json_decref(peers);
    return cli_finish(prog, cli_call(ctx, "segment-add", args, NULL));
}

static int segment_del(struct cli_ctx *ctx, int argc, char **argv)
{
    int status =
        cli_parse_common(ctx, argc, argv, segment_del_help, 1, 1, "VNI (weft segment del VNI)");
    uint32_t vni;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (cli_parse_vni(argv[0], argv[optind], &vni)) {
        return CLI_EXIT_USAGE;
    }
    return cli_finish(
        argv[0], cli_call(ctx, "segment-del", json_pack("{sI}", "vni", (json_int_t)vni), NULL));
}

static void segment_bum(json_t *segment, char *buf, size_t size)
{
    const char *bum = cli_json_str(segment, "bum", "-");

    if (strcmp(bum, "multicast") == 0) {
        snprintf(buf, size, "multicast %s", cli_json_str(segment, "group", "?"));
    } else {
        snprintf(buf, size, "%s", bum);
    }
}

static void segment_list_print_table(json_t *data)
{
    static const struct cli_column columns[] = {
        {"VNI", true},    {"VLAN", true}, {"BUM", false}, {"PEERS", false},
        {"PORTS", false}, {"RX", true},   {"TX", true},   {"DROPS", true},
    };
    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));
    json_t *segment;
    size_t i;

    json_array_foreach(data, i, segment)
    {
        json_t *counters = json_object_get(segment, "counters");
        char text[1024];

        cli_table_cell(t, "%lld", cli_json_int(segment, "vni"));
        if (cli_json_int(segment, "vlan")) {
            cli_table_cell(t, "%lld", cli_json_int(segment, "vlan"));
        } else {
            cli_table_cell(t, "-");
        }
        segment_bum(segment, text, sizeof text);
        cli_table_cell(t, "%s", text);
        segment_join(text, sizeof text, json_object_get(segment, "peers"));
        cli_table_cell(t, "%s", text);
        segment_join(text, sizeof text, json_object_get(segment, "ports"));
        cli_table_cell(t, "%s", text);
        cli_table_cell(t, "%lld", cli_json_int(counters, "rx_packets"));
        cli_table_cell(t, "%lld", cli_json_int(counters, "tx_packets"));
        cli_table_cell(t, "%lld", cli_drops_sum(json_object_get(counters, "drops")));
    }
    cli_table_print(t);
}

static int segment_list(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, segment_list_help, 0, 0, "");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_query(ctx, argv[0], "segment-list", NULL, segment_list_print_table);
}

static void segment_show_print_table(json_t *segment)
{
    char text[4096];

    cli_print_field("vni", "%lld", cli_json_int(segment, "vni"));
    if (cli_json_int(segment, "vlan")) {
        cli_print_field("vlan", "%lld", cli_json_int(segment, "vlan"));
    } else {
        cli_print_field("vlan", "- (not on trunks)");
    }
    segment_bum(segment, text, sizeof text);
    cli_print_field("bum", "%s", text);
    cli_print_field("inner vlan", "%s",
                    json_is_true(json_object_get(segment, "allow_inner_vlan")) ? "allowed"
                                                                               : "refused");
    segment_join(text, sizeof text, json_object_get(segment, "peers"));
    cli_print_field("peers", "%s", text);
    segment_join(text, sizeof text, json_object_get(segment, "ports"));
    cli_print_field("ports", "%s", text);
    cli_print_counters(json_object_get(segment, "counters"));
}

static int segment_show(struct cli_ctx *ctx, int argc, char **argv)
{
    int status =
        cli_parse_common(ctx, argc, argv, segment_show_help, 1, 1, "VNI (weft segment show VNI)");
    uint32_t vni;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (cli_parse_vni(argv[0], argv[optind], &vni)) {
        return CLI_EXIT_USAGE;
    }
    return cli_query(ctx, argv[0], "segment-show", json_pack("{sI}", "vni", (json_int_t)vni),
                     segment_show_print_table);
}

int cli_cmd_segment(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"add", segment_add},
        {"del", segment_del},
        {"list", segment_list},
        {"show", segment_show},
    };

    return cli_dispatch(ctx, argc, argv, subs, WEFT_ARRAY_SIZE(subs), segment_help);
}
