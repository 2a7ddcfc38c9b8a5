/*
 * cmd_status.c - "weft status": who answers on the control socket (weftd's
 * name and version), its VTEP addresses, underlay MTU and uptime.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <time.h>

static const char status_help[] =
    "Usage: weft status [-s SOCKET] [-o table|json]\n"
    "\n"
    "Show the weftd of this host: its name, version, VTEP addresses, VXLAN UDP\n"
    "port, underlay MTU, MAC ageing time, uptime, data directory and number of\n"
    "ports. A quick way to check that weftd runs and answers. In controller mode\n"
    "(weftd --controller) also its session with weft-controller: the address,\n"
    "the state (waiting, connecting, hello, syncing, connected), the revision\n"
    "and epoch of the state it applied, since when, and the last error.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket (default: $WEFT_SOCKET, else\n"
    "                       " CLI_DEFAULT_SOCKET ")\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's status object)\n"
    "  -h, --help           print this help and exit\n";

static void status_print_uptime(long long seconds)
{
    long long days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60;

    if (days) {
        cli_print_field("uptime", "%lldd %lldh %lldm %llds", days, hours, minutes, seconds % 60);
    } else if (hours) {
        cli_print_field("uptime", "%lldh %lldm %llds", hours, minutes, seconds % 60);
    } else if (minutes) {
        cli_print_field("uptime", "%lldm %llds", minutes, seconds % 60);
    } else {
        cli_print_field("uptime", "%llds", seconds);
    }
}

static void status_print_table(json_t *data)
{
    json_t *vteps = json_object_get(data, "vtep");
    json_t *vtep;
    size_t i;

    cli_print_field("name", "%s", cli_json_str(data, "name", "-"));
    cli_print_field("version", "%s", cli_json_str(data, "version", "-"));
    if (json_array_size(vteps) == 0) {
        cli_print_field("vtep", "-");
    }
    json_array_foreach(vteps, i, vtep)
    {
        cli_print_field("vtep", "%s", json_string_value(vtep) ? json_string_value(vtep) : "?");
    }
    cli_print_field("vxlan port", "%lld", cli_json_int(data, "vxlan_port"));
    cli_print_field("underlay mtu", "%lld", cli_json_int(data, "underlay_mtu"));
    cli_print_field("mac age", "%llds", cli_json_int(data, "mac_age"));
    status_print_uptime(cli_json_int(data, "uptime"));
    cli_print_field("datadir", "%s", cli_json_str(data, "datadir", "-"));
    cli_print_field("ports", "%lld", cli_json_int(data, "ports"));
    cli_print_field("workers", "%lld", cli_json_int(data, "workers"));
    json_t *ctl = json_object_get(data, "controller");
    if (ctl) {
        time_t since = (time_t)cli_json_int(ctl, "since");
        struct tm tm;
        char when[32] = "-";
        if (localtime_r(&since, &tm)) {
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }
        cli_print_field("controller", "%s", cli_json_str(ctl, "address", "-"));
        cli_print_field("session", "%s since %s", cli_json_str(ctl, "state", "-"), when);
        cli_print_field("revision", "%lld (epoch %s)", cli_json_int(ctl, "revision"),
                        cli_json_str(ctl, "epoch", "")[0] ? cli_json_str(ctl, "epoch", "") : "-");
        const char *error = cli_json_str(ctl, "last_error", "");
        cli_print_field("last error", "%s", error[0] ? error : "-");
    }
}

int cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, status_help, 0, 0, "");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_query(ctx, argv[0], "status", NULL, status_print_table);
}
