/*
 * cmd_port.c - "weft port add|set|del|list|show": the ports of this host's
 * switch. A port is a device weftd attaches (a TAP it creates for a guest, an
 * existing interface through AF_PACKET, or the host's own internal port) and
 * its switching settings: access to one segment or trunk of VLANs, MTU, MAC
 * learning and limit, promiscuity, port security with MAC/IP bindings.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compiler.h"

static const char port_help[] =
    "Usage: weft port COMMAND [ARG]...\n"
    "\n"
    "Manage the ports of this host's switch.\n"
    "\n"
    "Commands:\n"
    "  add NAME --backend B (--segment VNI | --trunk VLANS) [OPTION]...\n"
    "                       add a port (weft port add --help)\n"
    "  set NAME OPTION...   change a port's switch settings (weft port set --help)\n"
    "  del NAME             delete a port (a TAP device weftd made is removed)\n"
    "  list                 list the ports with their state and counters\n"
    "  show NAME            show one port, its counters and drops by reason\n"
    "\n"
    "Options (every command): -s SOCKET, -o table|json, -h/--help.\n";

/* The switch options add and set share. */
#define PORT_SWITCH_OPTIONS_HELP                                                        \
    "  --segment VNI        access port of segment VNI (untagged frames)\n"             \
    "  --trunk VLANS        trunk port carrying the segments of these VLANs, tagged:\n" \
    "                       numbers and ranges like 101,200-210\n"                      \
    "  --native-vlan N      trunk: untagged frames belong to VLAN N (one of VLANS)\n"   \
    "  --tpid TPID          trunk: the tag type, 0x8100 (802.1Q, default) or 0x88a8\n"  \
    "                       (802.1ad)\n"                                                \
    "  --mtu N              largest L3 payload, 68-65535 (default 1500)\n"              \
    "  --no-learning        do not learn source MACs (--learning: do)\n"                \
    "  --mac-limit N        learn at most N MACs on the port (0 = no limit)\n"          \
    "  --promiscuous        receive a copy of every frame of the port's segments\n"     \
    "                       (--no-promiscuous: do not)\n"                               \
    "  --port-security      only the bound MAC/IP pairs may send\n"                     \
    "                       (--no-port-security: anyone)\n"                             \
    "  --bind MAC[,IP]      an allowed source MAC, optionally with its IP (any IP\n"    \
    "                       without); repeat for several\n"                             \
    "  --down               administratively down: drop what it sends and receives\n"   \
    "                       (--up: forward again)\n"

static const char port_add_help[] =
    "Usage: weft port add NAME --backend B [--ifname IF] [--netns NS]\n"
    "                     (--segment VNI | --trunk VLANS [--native-vlan N] [--tpid TPID])\n"
    "                     [OPTION]...\n"
    "\n"
    "Add port NAME (1-31 of letters, digits, '-', '_', '.') to this host's switch.\n"
    "\n"
    "Options:\n"
    "  --backend B          the device: 'tap' (weftd creates a TAP device, e.g. for\n"
    "                       a guest), 'afpacket' (an existing interface such as a\n"
    "                       veth, TPACKET_V3), 'afxdp' (one through AF_XDP), 'auto'\n"
    "                       (AF_XDP where it binds, else TPACKET_V3), 'internal'\n"
    "                       (the host's own port)\n"
    "  --ifname IF          the interface's name, at most 15 characters (default:\n"
    "                       the port's name)\n"
    "  --netns NS           the network namespace of the device (a name under\n"
    "                       /run/netns, or a path); tap: created there\n" PORT_SWITCH_OPTIONS_HELP
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Examples:\n"
    "  weft port add vm1 --backend tap --ifname eth0 --netns vm1 --segment 5001\n"
    "  weft port add up0 --backend afpacket --ifname eth1 --trunk 101,200-210 \\\n"
    "      --native-vlan 101\n"
    "  weft port add vm2 --backend tap --segment 5001 --port-security \\\n"
    "      --bind 02:00:00:00:00:02,172.16.10.12\n";

static const char port_set_help[] =
    "Usage: weft port set NAME OPTION...\n"
    "\n"
    "Change the switch settings of port NAME; what is not given stays as it is.\n"
    "The backend, interface and namespace cannot change: delete the port and add\n"
    "it again. --segment makes the port an access port, --trunk a trunk port.\n"
    "\n"
    "Options:\n" PORT_SWITCH_OPTIONS_HELP
    "                       --bind replaces the whole list of bindings\n"
    "  --no-bindings        remove every binding\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Examples:\n"
    "  weft port set vm1 --mtu 9000\n"
    "  weft port set vm1 --down\n"
    "  weft port set vm1 --port-security --bind 02:00:00:00:00:01,172.16.10.11\n";

static const char port_del_help[] =
    "Usage: weft port del NAME\n"
    "\n"
    "Delete port NAME. A TAP device weftd created for it is removed; the MACs\n"
    "learned on it are forgotten.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -h, --help           print this help and exit\n";

static const char port_list_help[] =
    "Usage: weft port list [-o table|json]\n"
    "\n"
    "List the ports: name, backend, interface, mode, segment or VLANs, how the\n"
    "device runs (IO: tap, tpacket-v3, or down), MACs learned on it, and packets\n"
    "received, sent and dropped.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's array of ports)\n"
    "  -h, --help           print this help and exit\n";

static const char port_show_help[] =
    "Usage: weft port show NAME [-o table|json]\n"
    "\n"
    "Show port NAME: its settings, bindings, device state (and why it is down),\n"
    "counters, and drops by reason with what each means.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's port object)\n"
    "  -h, --help           print this help and exit\n";

enum {
    OPT_BACKEND = 256,
    OPT_IFNAME,
    OPT_NETNS,
    OPT_SEGMENT,
    OPT_TRUNK,
    OPT_NATIVE_VLAN,
    OPT_TPID,
    OPT_MTU,
    OPT_LEARNING,
    OPT_NO_LEARNING,
    OPT_MAC_LIMIT,
    OPT_PROMISCUOUS,
    OPT_NO_PROMISCUOUS,
    OPT_PORT_SECURITY,
    OPT_NO_PORT_SECURITY,
    OPT_BIND,
    OPT_NO_BINDINGS,
    OPT_UP,
    OPT_DOWN,
};

/* One option a line: */
/* clang-format off */
#define PORT_SWITCH_LONG_OPTIONS                                                                   \
    {"segment", required_argument, NULL, OPT_SEGMENT},                                             \
    {"trunk", required_argument, NULL, OPT_TRUNK},                                                 \
    {"native-vlan", required_argument, NULL, OPT_NATIVE_VLAN},                                     \
    {"tpid", required_argument, NULL, OPT_TPID},                                                   \
    {"mtu", required_argument, NULL, OPT_MTU},                                                     \
    {"learning", no_argument, NULL, OPT_LEARNING},                                                 \
    {"no-learning", no_argument, NULL, OPT_NO_LEARNING},                                           \
    {"mac-limit", required_argument, NULL, OPT_MAC_LIMIT},                                         \
    {"promiscuous", no_argument, NULL, OPT_PROMISCUOUS},                                           \
    {"no-promiscuous", no_argument, NULL, OPT_NO_PROMISCUOUS},                                     \
    {"port-security", no_argument, NULL, OPT_PORT_SECURITY},                                       \
    {"no-port-security", no_argument, NULL, OPT_NO_PORT_SECURITY},                                 \
    {"bind", required_argument, NULL, OPT_BIND},                                                   \
    {"up", no_argument, NULL, OPT_UP},                                                             \
    {"down", no_argument, NULL, OPT_DOWN}
/* clang-format on */

/* What "port add" and "port set" were told. */
struct port_opts {
    const char *backend, *ifname, *netns, *trunk;
    bool have_segment, have_native_vlan, have_tpid, no_bindings;
    uint32_t segment, native_vlan, tpid;
    json_t *fields;   /* the other port fields, ready to send */
    json_t *bindings; /* NULL unless --bind was given */
};

/* "MAC[,IP]" -> {"mac": ..., "ip": ...}. */
static int port_parse_binding(const char *prog, const char *text, json_t *bindings)
{
    char *copy = strdup(text);
    char *comma = copy ? strchr(copy, ',') : NULL;
    int status;

    if (!copy) {
        fputs("weft: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    if (comma) {
        *comma = '\0';
    }
    if ((status = cli_check_mac(prog, copy)) == 0 &&
        (!comma || (status = cli_check_ip(prog, "binding IP address", comma + 1)) == 0)) {
        json_t *binding = json_pack("{ss}", "mac", copy);
        if (comma) {
            json_object_set_new(binding, "ip", json_string(comma + 1));
        }
        json_array_append_new(bindings, binding);
    }
    free(copy);
    return status;
}

/* One option of add or set; returns CLI_CONTINUE or an exit status. */
static int port_option(struct cli_ctx *ctx, int opt, const char *prog, const char *help,
                       struct port_opts *o)
{
    uint32_t n;

    switch (opt) {
    case OPT_BACKEND:
        if (strcmp(optarg, "tap") != 0 && strcmp(optarg, "afpacket") != 0 &&
            strcmp(optarg, "afxdp") != 0 && strcmp(optarg, "auto") != 0 &&
            strcmp(optarg, "internal") != 0) {
            return cli_usage_error(
                prog, "unknown backend '%s': use tap, afpacket, afxdp, auto or internal", optarg);
        }
        o->backend = optarg;
        return CLI_CONTINUE;
    case OPT_IFNAME:
        if (cli_check_ifname(prog, optarg)) {
            return CLI_EXIT_USAGE;
        }
        o->ifname = optarg;
        return CLI_CONTINUE;
    case OPT_NETNS:
        if (optarg[0] == '\0') {
            return cli_usage_error(prog, "empty --netns: give a namespace name or path");
        }
        o->netns = optarg;
        return CLI_CONTINUE;
    case OPT_SEGMENT:
        if (cli_parse_vni(prog, optarg, &o->segment)) {
            return CLI_EXIT_USAGE;
        }
        o->have_segment = true;
        return CLI_CONTINUE;
    case OPT_TRUNK:
        if (cli_check_vlan_list(prog, optarg)) {
            return CLI_EXIT_USAGE;
        }
        o->trunk = optarg;
        return CLI_CONTINUE;
    case OPT_NATIVE_VLAN:
        if (cli_parse_uint(prog, "native VLAN", optarg, 0, 4094, &o->native_vlan)) {
            return CLI_EXIT_USAGE;
        }
        o->have_native_vlan = true;
        return CLI_CONTINUE;
    case OPT_TPID:
        if (cli_parse_uint(prog, "TPID", optarg, 0, 0xffff, &o->tpid)) {
            return CLI_EXIT_USAGE;
        }
        if (o->tpid != 0x8100 && o->tpid != 0x88a8) {
            return cli_usage_error(prog,
                                   "invalid TPID '%s': use 0x8100 (802.1Q) or 0x88a8 "
                                   "(802.1ad)",
                                   optarg);
        }
        o->have_tpid = true;
        return CLI_CONTINUE;
    case OPT_MTU:
        if (cli_parse_uint(prog, "MTU", optarg, 68, 65535, &n)) {
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(o->fields, "mtu", json_integer(n));
        return CLI_CONTINUE;
    case OPT_MAC_LIMIT:
        if (cli_parse_uint(prog, "MAC limit", optarg, 0, UINT32_MAX, &n)) {
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(o->fields, "mac_limit", json_integer(n));
        return CLI_CONTINUE;
    case OPT_LEARNING:
    case OPT_NO_LEARNING:
        json_object_set_new(o->fields, "learning", json_boolean(opt == OPT_LEARNING));
        return CLI_CONTINUE;
    case OPT_PROMISCUOUS:
    case OPT_NO_PROMISCUOUS:
        json_object_set_new(o->fields, "promiscuous", json_boolean(opt == OPT_PROMISCUOUS));
        return CLI_CONTINUE;
    case OPT_PORT_SECURITY:
    case OPT_NO_PORT_SECURITY:
        json_object_set_new(o->fields, "port_security", json_boolean(opt == OPT_PORT_SECURITY));
        return CLI_CONTINUE;
    case OPT_UP:
    case OPT_DOWN:
        json_object_set_new(o->fields, "admin_up", json_boolean(opt == OPT_UP));
        return CLI_CONTINUE;
    case OPT_BIND:
        if (!o->bindings) {
            o->bindings = json_array();
        }
        return port_parse_binding(prog, optarg, o->bindings) ? CLI_EXIT_USAGE : CLI_CONTINUE;
    case OPT_NO_BINDINGS:
        o->no_bindings = true;
        return CLI_CONTINUE;
    default:
        return cli_common_option(ctx, opt, prog, help);
    }
}

/* Checks what add and set share and builds the request's fields after 'name'
 * (and the device fields of add): mode first, since a port-set that switches
 * mode drops the other mode's fields before applying the rest. */
static int port_build(const char *prog, struct port_opts *o, json_t *args)
{
    if (o->have_segment && o->trunk) {
        return cli_usage_error(prog, "--segment (an access port) and --trunk (a trunk port) "
                                     "exclude each other");
    }
    if (o->have_segment && (o->have_native_vlan || o->have_tpid)) {
        return cli_usage_error(prog, "--native-vlan and --tpid are for trunk ports, not with "
                                     "--segment");
    }
    if (o->bindings && o->no_bindings) {
        return cli_usage_error(prog, "--bind and --no-bindings exclude each other");
    }
    if (o->have_segment) {
        json_object_set_new(args, "mode", json_string("access"));
        json_object_set_new(args, "segment", json_integer(o->segment));
    } else if (o->trunk) {
        json_object_set_new(args, "mode", json_string("trunk"));
        json_object_set_new(args, "vlans", json_string(o->trunk));
    }
    if (o->have_native_vlan) {
        json_object_set_new(args, "native_vlan", json_integer(o->native_vlan));
    }
    if (o->have_tpid) {
        json_object_set_new(args, "tpid", json_integer(o->tpid));
    }
    json_object_update(args, o->fields);
    if (o->bindings) {
        json_object_set(args, "bindings", o->bindings);
    } else if (o->no_bindings) {
        json_object_set_new(args, "bindings", json_array());
    }
    return CLI_CONTINUE;
}

static void port_opts_free(struct port_opts *o)
{
    json_decref(o->fields);
    json_decref(o->bindings);
}

static int port_add(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"ifname", required_argument, NULL, OPT_IFNAME},
        {"netns", required_argument, NULL, OPT_NETNS},
        PORT_SWITCH_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *prog = argv[0];
    struct port_opts o = {.fields = json_object()};
    json_t *args = json_object();
    int opt, status = CLI_CONTINUE;

    while (status == CLI_CONTINUE &&
           (opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        status = port_option(ctx, opt, prog, port_add_help, &o);
    }
    if (status == CLI_CONTINUE) {
        status = cli_operands(prog, argc, argv, 1, 1, "port NAME (weft port add NAME ...)");
    }
    if (status == CLI_CONTINUE && cli_check_port_name(prog, argv[optind])) {
        status = CLI_EXIT_USAGE;
    }
    if (status == CLI_CONTINUE && !o.backend) {
        status = cli_usage_error(prog, "missing --backend (tap, afpacket or internal)");
    }
    if (status == CLI_CONTINUE && !o.have_segment && !o.trunk) {
        status = cli_usage_error(prog, "missing --segment VNI (an access port) or --trunk VLANS "
                                       "(a trunk port)");
    }
    if (status == CLI_CONTINUE && !o.trunk && (o.have_native_vlan || o.have_tpid)) {
        status = cli_usage_error(prog, "--native-vlan and --tpid need --trunk");
    }
    if (status == CLI_CONTINUE) {
        json_object_set_new(args, "name", json_string(argv[optind]));
        json_object_set_new(args, "backend", json_string(o.backend));
        if (o.ifname) {
            json_object_set_new(args, "ifname", json_string(o.ifname));
        }
        if (o.netns) {
            json_object_set_new(args, "netns", json_string(o.netns));
        }
        status = port_build(prog, &o, args);
    }
    port_opts_free(&o);
    if (status != CLI_CONTINUE) {
        json_decref(args);
        return status;
    }
    return cli_finish(prog, cli_call(ctx, "port-add", args, NULL));
}

static int port_set(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        PORT_SWITCH_LONG_OPTIONS,
        {"no-bindings", no_argument, NULL, OPT_NO_BINDINGS},
        {NULL, 0, NULL, 0},
    };
    const char *prog = argv[0];
    struct port_opts o = {.fields = json_object()};
    json_t *args = json_object();
    int opt, status = CLI_CONTINUE;

    while (status == CLI_CONTINUE &&
           (opt = getopt_long(argc, argv, CLI_COMMON_SHORT_OPTIONS, long_options, NULL)) != -1) {
        status = port_option(ctx, opt, prog, port_set_help, &o);
    }
    if (status == CLI_CONTINUE) {
        status = cli_operands(prog, argc, argv, 1, 1, "port NAME (weft port set NAME OPTION...)");
    }
    if (status == CLI_CONTINUE && cli_check_port_name(prog, argv[optind])) {
        status = CLI_EXIT_USAGE;
    }
    if (status == CLI_CONTINUE) {
        json_object_set_new(args, "name", json_string(argv[optind]));
        status = port_build(prog, &o, args);
    }
    if (status == CLI_CONTINUE && json_object_size(args) == 1) {
        status = cli_usage_error(prog, "nothing to change: give at least one option");
    }
    port_opts_free(&o);
    if (status != CLI_CONTINUE) {
        json_decref(args);
        return status;
    }
    return cli_finish(prog, cli_call(ctx, "port-set", args, NULL));
}

/* The common option loop and the NAME operand of del and show. */
static int port_parse_name(struct cli_ctx *ctx, int argc, char **argv, const char *help,
                           const char *what)
{
    int n = what ? 1 : 0;
    int status = cli_parse_common(ctx, argc, argv, help, n, n, what ? what : "");

    if (status != CLI_CONTINUE || !what) {
        return status;
    }
    return cli_check_port_name(argv[0], argv[optind]) ? CLI_EXIT_USAGE : CLI_CONTINUE;
}

static int port_del(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = port_parse_name(ctx, argc, argv, port_del_help, "port NAME (weft port del NAME)");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_finish(argv[0],
                      cli_call(ctx, "port-del", json_pack("{ss}", "name", argv[optind]), NULL));
}

/* "5001" for an access port, "101,200-210 (native 101)" for a trunk. */
static void port_where(json_t *port, char *buf, size_t size)
{
    if (strcmp(cli_json_str(port, "mode", ""), "trunk") == 0) {
        int n = snprintf(buf, size, "%s", cli_json_str(port, "vlans", "-"));
        if (cli_json_int(port, "native_vlan") && n >= 0 && (size_t)n < size) {
            snprintf(buf + n, size - (size_t)n, " (native %lld)",
                     cli_json_int(port, "native_vlan"));
        }
    } else {
        snprintf(buf, size, "%lld", cli_json_int(port, "segment"));
    }
}

static bool port_admin_up(json_t *port)
{
    return !json_is_false(json_object_get(port, "admin_up"));
}

static void port_list_print_table(json_t *data)
{
    static const struct cli_column columns[] = {
        {"NAME", false},
        {"BACKEND", false},
        {"IFNAME", false},
        {"MODE", false},
        {"SEGMENT/VLANS", false},
        {"IO", false},
        {"MACS", true},
        {"RX", true},
        {"TX", true},
        {"DROPS", true},
    };
    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));
    json_t *port;
    size_t i;

    json_array_foreach(data, i, port)
    {
        json_t *counters = json_object_get(port, "counters");
        char where[4096];

        port_where(port, where, sizeof where);
        cli_table_cell(t, "%s", cli_json_str(port, "name", "?"));
        cli_table_cell(t, "%s", cli_json_str(port, "backend", "-"));
        if (json_object_get(port, "netns")) {
            cli_table_cell(t, "%s@%s", cli_json_str(port, "ifname", "-"),
                           cli_json_str(port, "netns", "-"));
        } else {
            cli_table_cell(t, "%s", cli_json_str(port, "ifname", "-"));
        }
        cli_table_cell(t, "%s", cli_json_str(port, "mode", "-"));
        cli_table_cell(t, "%s", where);
        cli_table_cell(t, "%s%s", cli_json_str(port, "io", "-"),
                       port_admin_up(port) ? "" : ",admin-down");
        cli_table_cell(t, "%lld", cli_json_int(port, "macs"));
        cli_table_cell(t, "%lld", cli_json_int(counters, "rx_packets"));
        cli_table_cell(t, "%lld", cli_json_int(counters, "tx_packets"));
        cli_table_cell(t, "%lld", cli_drops_sum(json_object_get(counters, "drops")));
    }
    cli_table_print(t);
}

static int port_list(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = port_parse_name(ctx, argc, argv, port_list_help, NULL);

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_query(ctx, argv[0], "port-list", NULL, port_list_print_table);
}

static const char *port_on_off(json_t *port, const char *key)
{
    return json_is_true(json_object_get(port, key)) ? "on" : "off";
}

static void port_show_print_table(json_t *port)
{
    json_t *bindings = json_object_get(port, "bindings");
    json_t *binding;
    char where[4096];
    size_t i;

    cli_print_field("name", "%s", cli_json_str(port, "name", "?"));
    cli_print_field("id", "%lld", cli_json_int(port, "id"));
    cli_print_field("backend", "%s", cli_json_str(port, "backend", "-"));
    cli_print_field("ifname", "%s", cli_json_str(port, "ifname", "-"));
    cli_print_field("netns", "%s", cli_json_str(port, "netns", "- (weftd's own)"));
    cli_print_field("admin", "%s", port_admin_up(port) ? "up" : "down");
    if (json_object_get(port, "io_error")) {
        cli_print_field("io", "%s: %s", cli_json_str(port, "io", "down"),
                        cli_json_str(port, "io_error", "?"));
    } else {
        cli_print_field("io", "%s", cli_json_str(port, "io", "-"));
        cli_print_field("queues", "%lld", cli_json_int(port, "queues"));
    }
    cli_print_field("mode", "%s", cli_json_str(port, "mode", "-"));
    if (strcmp(cli_json_str(port, "mode", ""), "trunk") == 0) {
        cli_print_field("vlans", "%s", cli_json_str(port, "vlans", "-"));
        if (cli_json_int(port, "native_vlan")) {
            cli_print_field("native vlan", "%lld", cli_json_int(port, "native_vlan"));
        } else {
            cli_print_field("native vlan", "- (untagged frames dropped)");
        }
        cli_print_field("tpid", "0x%04llx", cli_json_int(port, "tpid"));
    } else {
        port_where(port, where, sizeof where);
        cli_print_field("segment", "%s", where);
    }
    cli_print_field("mtu", "%lld", cli_json_int(port, "mtu"));
    cli_print_field("learning", "%s", port_on_off(port, "learning"));
    if (cli_json_int(port, "mac_limit")) {
        cli_print_field("mac limit", "%lld", cli_json_int(port, "mac_limit"));
    } else {
        cli_print_field("mac limit", "none");
    }
    cli_print_field("promiscuous", "%s", port_on_off(port, "promiscuous"));
    cli_print_field("port security", "%s", port_on_off(port, "port_security"));
    if (json_array_size(bindings) == 0) {
        cli_print_field("bindings", "none");
    }
    json_array_foreach(bindings, i, binding)
    {
        cli_print_field("binding", "%s %s", cli_json_str(binding, "mac", "?"),
                        cli_json_str(binding, "ip", "(any IP)"));
    }
    cli_print_field("macs", "%lld", cli_json_int(port, "macs"));
    cli_print_counters(json_object_get(port, "counters"));
}

static int port_show(struct cli_ctx *ctx, int argc, char **argv)
{
    int status =
        port_parse_name(ctx, argc, argv, port_show_help, "port NAME (weft port show NAME)");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_query(ctx, argv[0], "port-show", json_pack("{ss}", "name", argv[optind]),
                     port_show_print_table);
}

int cli_cmd_port(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"add", port_add},   {"set", port_set},   {"del", port_del},
        {"list", port_list}, {"show", port_show},
    };

    return cli_dispatch(ctx, argc, argv, subs, WEFT_ARRAY_SIZE(subs), port_help);
}
