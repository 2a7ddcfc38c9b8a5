/*
 * cmd_peer.c - "weft peer add|del|list": the remote VTEPs of each segment,
 * where head-end replication sends broadcast and unknown frames and from which
 * VXLAN traffic of the segment is accepted.
 */
#include "cli/cli.h"

#include <stdio.h>

#include "lib/compiler.h"

static const char peer_help[] =
    "Usage: weft peer COMMAND [ARG]...\n"
    "\n"
    "Manage the peers of segments: the remote VTEPs (other hosts' underlay\n"
    "addresses) a segment exchanges VXLAN traffic with.\n"
    "\n"
    "Commands:\n"
    "  add VNI IP           add VTEP IP to segment VNI\n"
    "  del VNI IP           remove it (the MACs learned behind it are forgotten)\n"
    "  list [VNI]           list the peers of every segment, or of segment VNI\n"
    "\n"
    "Options (every command): -s SOCKET, -o table|json, -h/--help.\n";

static const char peer_add_help[] =
    "Usage: weft peer add VNI IP\n"
    "\n"
    "Add the VTEP at IP (IPv4 or IPv6, unicast) as a peer of segment VNI: broadcast\n"
    "and unknown frames of the segment are replicated to it, and VXLAN datagrams\n"
    "from it are accepted.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Example: weft peer add 5001 10.1.2.2\n";

static const char peer_del_help[] =
    "Usage: weft peer del VNI IP\n"
    "\n"
    "Remove the VTEP at IP from the peers of segment VNI. MACs learned behind it\n"
    "in the segment are forgotten.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n";

static const char peer_list_help[] =
    "Usage: weft peer list [VNI] [-o table|json]\n"
    "\n"
    "List the peer VTEPs of every segment, or of segment VNI.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (an array of {\"vni\", \"ip\"}\n"
    "                       objects)\n"
    "  -h, --help           print this help and exit\n";

static int peer_change(struct cli_ctx *ctx, int argc, char **argv, const char *help,
                       const char *cmd)
{
    int status = cli_parse_common(ctx, argc, argv, help, 2, 2, "VNI and IP");
    uint32_t vni;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (cli_parse_vni(argv[0], argv[optind], &vni) ||
        cli_check_ip(argv[0], "peer address", argv[optind + 1])) {
        return CLI_EXIT_USAGE;
    }
    json_t *args = json_pack("{sI ss}", "vni", (json_int_t)vni, "ip", argv[optind + 1]);
    return cli_finish(argv[0], cli_call(ctx, cmd, args, NULL));
}

static int peer_add(struct cli_ctx *ctx, int argc, char **argv)
{
    return peer_change(ctx, argc, argv, peer_add_help, "peer-add");
}

static int peer_del(struct cli_ctx *ctx, int argc, char **argv)
{
    return peer_change(ctx, argc, argv, peer_del_help, "peer-del");
}

/* Appends {vni, ip} for each peer of 'segment'. */
static void peer_collect(json_t *list, json_t *segment)
{
    json_t *peer;
    size_t i;

    json_array_foreach(json_object_get(segment, "peers"), i, peer)
    {
        json_array_append_new(list, json_pack("{sI sO}", "vni",
                                              json_integer_value(json_object_get(segment, "vni")),
                                              "ip", peer));
    }
}

static int peer_list(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_column columns[] = {
        {"VNI", true},
        {"PEER", false},
    };
    int status = cli_parse_common(ctx, argc, argv, peer_list_help, 0, 1, "");
    json_t *data = NULL, *list, *item;
    uint32_t vni = 0;
    size_t i;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (optind < argc && cli_parse_vni(argv[0], argv[optind], &vni)) {
        return CLI_EXIT_USAGE;
    }
    status = vni ? cli_call(ctx, "segment-show", json_pack("{sI}", "vni", (json_int_t)vni), &data)
                 : cli_call(ctx, "segment-list", NULL, &data);
    if (status != CLI_EXIT_OK) {
        return status;
    }
    list = json_array();
    if (vni) {
        peer_collect(list, data);
    } else {
        json_array_foreach(data, i, item)
        {
            peer_collect(list, item);
        }
    }
    json_decref(data);
    if (ctx->format == CLI_FORMAT_JSON) {
        cli_print_json(list);
    } else {
        struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));
        json_array_foreach(list, i, item)
        {
            cli_table_cell(t, "%lld", cli_json_int(item, "vni"));
            cli_table_cell(t, "%s", cli_json_str(item, "ip", "?"));
        }
        cli_table_print(t);
    }
    json_decref(list);
    return cli_finish(argv[0], CLI_EXIT_OK);
}

int cli_cmd_peer(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"add", peer_add},
        {"del", peer_del},
        {"list", peer_list},
    };

    return cli_dispatch(ctx, argc, argv, subs, WEFT_ARRAY_SIZE(subs), peer_help);
}
