/*
 * cmd_mac.c - "weft mac list|add|del": the switch's MAC table, learned and
 * static entries, each on a local port or behind a peer VTEP.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compiler.h"

static const char mac_help[] =
    "Usage: weft mac COMMAND [ARG]...\n"
    "\n"
    "Show and change the MAC table of this host's switch: where each MAC address\n"
    "of each segment lives (a local port or a peer VTEP).\n"
    "\n"
    "Commands:\n"
    "  list [VNI]                          list the MAC table, or one segment's\n"
    "  add VNI MAC (--port NAME | --vtep IP)  add a static entry\n"
    "  del VNI MAC                         delete an entry (static or learned)\n"
    "\n"
    "Options (every command): -s SOCKET, -o table|json, -h/--help.\n";

static const char mac_list_help[] =
    "Usage: weft mac list [VNI] [-o table|json]\n"
    "\n"
    "List the MAC table (of segment VNI only, if given): the segment, the MAC\n"
    "address, where it lives (port NAME or vtep IP), whether it is static or\n"
    "learned, and the seconds since a learned MAC was last seen.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's array of\n"
    "                       {vni, mac, port or vtep, static, age})\n"
    "  -h, --help           print this help and exit\n";

static const char mac_add_help[] =
    "Usage: weft mac add VNI MAC (--port NAME | --vtep IP)\n"
    "\n"
    "Add a static MAC table entry: MAC in segment VNI lives on local port NAME,\n"
    "or behind the peer VTEP at IP (a peer of the segment: weft peer add). Static\n"
    "entries do not age and are kept across restarts.\n"
    "\n"
    "Options:\n"
    "  --port NAME          the local port the MAC is on\n"
    "  --vtep IP            the peer VTEP the MAC is behind\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Example: weft mac add 5001 02:00:00:00:00:42 --vtep 10.1.2.2\n";

static const char mac_del_help[] =
    "Usage: weft mac del VNI MAC\n"
    "\n"
    "Delete the MAC table entry of MAC in segment VNI, static or learned.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n";

static void mac_list_print_table(json_t *data)
{
    static const struct cli_column columns[] = {
        {"VNI", true}, {"MAC", false}, {"WHERE", false}, {"TYPE", false}, {"AGE", true},
    };
    size_t n;
    /* By VNI, then MAC. */
    json_t **entries = cli_json_sort_by_vni(data, "mac", &n);
    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));

    for (size_t i = 0; i < n; i++) {
        json_t *e = entries[i];

        cli_table_cell(t, "%lld", cli_json_int(e, "vni"));
        cli_table_cell(t, "%s", cli_json_str(e, "mac", "?"));
        if (json_object_get(e, "port")) {
            cli_table_cell(t, "port %s", cli_json_str(e, "port", "?"));
        } else {
            cli_table_cell(t, "vtep %s", cli_json_str(e, "vtep", "?"));
        }
        cli_table_type_age(t, e);
    }
    cli_table_print(t);
    free(entries);
}

static int mac_list(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, mac_list_help, 0, 1, "");
    uint32_t vni = 0;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (optind < argc && cli_parse_vni(argv[0], argv[optind], &vni)) {
        return CLI_EXIT_USAGE;
    }
    return cli_query(ctx, argv[0], "mac-list",
                     vni ? json_pack("{sI}", "vni", (json_int_t)vni) : NULL, mac_list_print_table);
}

static int mac_add(struct cli_ctx *ctx, int argc, char **argv)
{
    enum { OPT_PORT = 256, OPT_VTEP };
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"port", required_argument, NULL, OPT_PORT},
        {"vtep", required_argument, NULL, OPT_VTEP},
        {NULL, 0, NULL, 0},
    };
    const char *prog = argv[0], *port = NULL, *vtep = NULL;
    int opt, status = CLI_CONTINUE;
    uint32_t vni;

    while (status == CLI_CONTINUE &&
           (opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        switch (opt) {
        case OPT_PORT:
            port = optarg;
            status = cli_check_port_name(prog, optarg) ? CLI_EXIT_USAGE : CLI_CONTINUE;
            break;
        case OPT_VTEP:
            vtep = optarg;
            status = cli_check_ip(prog, "VTEP address", optarg) ? CLI_EXIT_USAGE : CLI_CONTINUE;
            break;
        default:
            status = cli_common_option(ctx, opt, prog, mac_add_help);
            break;
        }
    }
    if (status == CLI_CONTINUE) {
        status = cli_operands(prog, argc, argv, 2, 2, "VNI and MAC");
    }
    if (status != CLI_CONTINUE) {
        return status;
    }
    if (cli_parse_vni(prog, argv[optind], &vni) || cli_check_mac(prog, argv[optind + 1])) {
        return CLI_EXIT_USAGE;
    }
    if (!port == !vtep) {
        return cli_usage_error(prog, "give exactly one of --port NAME (a local port) or --vtep "
                                     "IP (a peer VTEP)");
    }
    json_t *args = json_pack("{sI ss ss}", "vni", (json_int_t)vni, "mac", argv[optind + 1],
                             port ? "port" : "vtep", port ? port : vtep);
    return cli_finish(prog, cli_call(ctx, "mac-add", args, NULL));
}

static int mac_del(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, mac_del_help, 2, 2, "VNI and MAC");
    uint32_t vni;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if (cli_parse_vni(argv[0], argv[optind], &vni) || cli_check_mac(argv[0], argv[optind + 1])) {
        return CLI_EXIT_USAGE;
    }
    json_t *args = json_pack("{sI ss}", "vni", (json_int_t)vni, "mac", argv[optind + 1]);
    return cli_finish(argv[0], cli_call(ctx, "mac-del", args, NULL));
}

int cli_cmd_mac(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"list", mac_list},
        {"add", mac_add},
        {"del", mac_del},
    };

    return cli_dispatch(ctx, argc, argv, subs, WEFT_ARRAY_SIZE(subs), mac_help);
}
