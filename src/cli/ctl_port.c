/*
 * ctl_port.c - "weft port add|set|list|show|del" in controller mode: the
 * logical ports, each bound to a host (whose weftd attaches the device of
 * the port's name), access to one segment or trunk of VLANs, with the
 * guest's MAC/IP bindings and the switch settings of the local "weft port".
 */
#include "cli/ctl.h"

#include <string.h>

#include "lib/compiler.h"

#define PORT_BOTH (CTL_ADD | CTL_SET)

static const struct ctl_option port_options[] = {
    {.name = "host",
     .arg = "HOST",
     .field = "host",
     .kind = CTL_NAME,
     .verbs = PORT_BOTH | CTL_LIST,
     .what = "host id",
     .help = "the host the port is bound to (its id); set: moves\n"
             "the port; list: only the ports of HOST"},
    {.name = "segment",
     .arg = "SEGMENT",
     .field = "segment",
     .kind = CTL_NAME,
     .verbs = PORT_BOTH | CTL_LIST,
     .what = "segment name",
     .also_field = "mode",
     .also_value = "access",
     .help = "access port of segment SEGMENT (untagged frames);\n"
             "list: only the ports of SEGMENT"},
    {.name = "trunk",
     .arg = "VLANS",
     .field = "vlans",
     .kind = CTL_VLANS,
     .verbs = PORT_BOTH,
     .also_field = "mode",
     .also_value = "trunk",
     .help = "trunk port carrying the segments of these VLANs, tagged:\n"
             "numbers and ranges like 101,200-210"},
    {.name = "native-vlan",
     .arg = "N",
     .field = "native_vlan",
     .kind = CTL_UINT,
     .verbs = PORT_BOTH,
     .min = 0,
     .max = 4094,
     .what = "native VLAN",
     .help = "trunk: untagged frames belong to VLAN N (one of VLANS)"},
    {.name = "tpid",
     .arg = "TPID",
     .field = "tpid",
     .kind = CTL_TPID,
     .verbs = PORT_BOTH,
     .help = "trunk: the tag type, 0x8100 (802.1Q, default) or 0x88a8\n(802.1ad)"},
    {.name = "bind",
     .arg = "MAC[,IP]",
     .field = "bindings",
     .kind = CTL_BINDING,
     .verbs = PORT_BOTH,
     .help = "the guest's MAC, optionally with its IPv4 address,\n"
             "put in the segment's MAC and ARP tables before any\n"
             "traffic; repeat for several (up to 8); set: replaces\n"
             "the whole list"},
    {.name = "no-bindings",
     .field = "bindings",
     .kind = CTL_EMPTY,
     .verbs = CTL_SET,
     .help = "remove every binding"},
    {.name = "port-security",
     .field = "port_security",
     .kind = CTL_TRUE,
     .verbs = PORT_BOTH,
     .help = "only the bindings may send (--no-port-security: anyone)"},
    {.name = "no-port-security",
     .field = "port_security",
     .kind = CTL_FALSE,
     .verbs = PORT_BOTH,
     .help = "anyone may send (default)"},
    {.name = "learning",
     .field = "learning",
     .kind = CTL_TRUE,
     .verbs = PORT_BOTH,
     .help = "learn source MACs (default)"},
    {.name = "no-learning",
     .field = "learning",
     .kind = CTL_FALSE,
     .verbs = PORT_BOTH,
     .help = "do not learn source MACs"},
    {.name = "mac-limit",
     .arg = "N",
     .field = "mac_limit",
     .kind = CTL_UINT,
     .verbs = PORT_BOTH,
     .min = 0,
     .max = UINT32_MAX,
     .what = "MAC limit",
     .help = "learn at most N MACs on the port (0 = no limit)"},
    {.name = "promiscuous",
     .field = "promiscuous",
     .kind = CTL_TRUE,
     .verbs = PORT_BOTH,
     .help = "receive a copy of every frame of the port's segments"},
    {.name = "no-promiscuous",
     .field = "promiscuous",
     .kind = CTL_FALSE,
     .verbs = PORT_BOTH,
     .help = "only the frames for the port (default)"},
    {.name = "mtu",
     .arg = "N",
     .field = "mtu",
     .kind = CTL_UINT,
     .verbs = PORT_BOTH,
     .min = 68,
     .max = 65535,
     .what = "MTU",
     .help = "largest L3 payload, 68-65535 (default 1500)"},
    {.name = "down",
     .field = "admin_up",
     .kind = CTL_FALSE,
     .verbs = PORT_BOTH,
     .help = "administratively down: drop what it sends and receives"},
    {.name = "up",
     .field = "admin_up",
     .kind = CTL_TRUE,
     .verbs = PORT_BOTH,
     .help = "administratively up (default)"},
    {.name = "description",
     .arg = "TEXT",
     .field = "description",
     .kind = CTL_TEXT,
     .verbs = PORT_BOTH,
     .help = "what the port is for (at most 255 bytes)"},
};

static int port_finish(const char *prog, bool add, json_t *body)
{
    const char *mode = json_string_value(json_object_get(body, "mode"));
    bool trunk_only = json_object_get(body, "native_vlan") || json_object_get(body, "tpid");

    if (add && !json_object_get(body, "host")) {
        return cli_usage_error(prog, "missing --host HOST, the host the port is bound to");
    }
    if (add && !mode) {
        return cli_usage_error(prog, "missing --segment SEGMENT (an access port) or --trunk "
                                     "VLANS (a trunk port)");
    }
    if (trunk_only && mode && strcmp(mode, "trunk") != 0) {
        return cli_usage_error(prog, "--native-vlan and --tpid are for trunk ports, not with "
                                     "--segment");
    }
    /* A port that changes mode leaves the other mode's fields, which the
     * API refuses next to it. */
    if (!add && mode && strcmp(mode, "trunk") == 0) {
        json_object_set_new(body, "segment", json_null());
    } else if (!add && mode) {
        json_object_set_new(body, "vlans", json_null());
        json_object_set_new(body, "native_vlan", json_integer(0));
        json_object_set_new(body, "tpid", json_integer(0x8100));
    }
    return CLI_CONTINUE;
}

static const struct ctl_column port_columns[] = {
    {"NAME", "name", CTL_COL_TEXT},    {"HOST", "host", CTL_COL_TEXT},
    {"MODE", "mode", CTL_COL_TEXT},    {"SEGMENT/VLANS", "segment|vlans", CTL_COL_TEXT},
    {"MTU", "mtu", CTL_COL_NUMBER},    {"ADMIN-UP", "admin_up", CTL_COL_TEXT},
    {"UP", "status.up", CTL_COL_TEXT}, {"REASON", "status.reason", CTL_COL_TEXT},
};

static const struct ctl_collection port_collection = {
    .group = "port",
    .path = "ports",
    .name_what = "port name",
    .name_max = 15,
    .summary = "Manage the logical ports of weft-controller. A port is bound to a host, whose\n"
               "weftd attaches the device of the port's name (a TAP, or the host end of a\n"
               "veth), and to a segment (access) or to VLANs (trunk).",
    .verbs =
        {
            [CTL_VERB_ADD] = {"NAME --host HOST (--segment SEGMENT | --trunk VLANS\n"
                              "                     [--native-vlan N] [--tpid TPID]) [OPTION]...",
                              "Add port NAME (1-15 of letters, digits, '-', '_', '.': the name of\n"
                              "its device on the host). A MAC bound on another port of the\n"
                              "segment, or a host outside the segment's zone, is refused."},
            [CTL_VERB_SET] = {"NAME OPTION...",
                              "Change port NAME; what is not given stays as it is. --host moves\n"
                              "the port, --segment makes it an access port, --trunk a trunk port."},
            [CTL_VERB_LIST] = {"[--host HOST] [--segment SEGMENT]",
                               "List the ports (of HOST, of SEGMENT): host, mode, segment or\n"
                               "VLANs, MTU, and whether the host reports them up (and why not)."},
            [CTL_VERB_SHOW] = {"NAME", "Show port NAME: its settings, bindings and status."},
            [CTL_VERB_DEL] = {"NAME", "Delete port NAME; its host detaches the device."},
        },
    .revisioned = true,
    .options = port_options,
    .n_options = WEFT_ARRAY_SIZE(port_options),
    .finish = port_finish,
    .columns = port_columns,
    .n_columns = WEFT_ARRAY_SIZE(port_columns),
};

int ctl_cmd_port(struct cli_ctx *ctx, int argc, char **argv)
{
    return ctl_collection_run(ctx, argc, argv, &port_collection);
}
