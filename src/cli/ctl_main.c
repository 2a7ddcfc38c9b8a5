/*
 * ctl_main.c - the commands of controller mode ("weft --controller URL
 * COMMAND ..."), and "weft status" there: the controller's version, store,
 * revision, hosts registered and connected, uptime.
 */
#include "cli/ctl.h"

#include "lib/compiler.h"

static const char ctl_help[] =
    "Usage: weft --controller URL [--token-file FILE] [-o FORMAT] COMMAND [ARG]...\n"
    "\n"
    "Controller mode: the commands manage the whole network through weft-controller's\n"
    "REST API at URL (or $WEFT_CONTROLLER) instead of this host's weftd.\n"
    "\n"
    "Commands:\n"
    "  status         show weft-controller: version, store, revision, hosts, uptime\n"
    "  zone           add, change, delete, list and show transport zones\n"
    "  pool           add, change, delete, list and show VNI pools\n"
    "  segment        add, change, delete, list and show segments\n"
    "  port           add, change, delete, list and show logical ports\n"
    "  host           list, show and forget the hosts that registered\n"
    "  vtep           list the VTEPs of a segment\n"
    "  mac            list the MAC table of a segment\n"
    "  arp            list the IP -> MAC table of a segment\n"
    "  drop-reasons   list the reasons the forwarding core drops frames\n"
    "\n"
    "Options (before or after the command; after it, write --controller in full):\n"
    "  --controller URL     weft-controller's API, e.g. http://127.0.0.1:7080\n"
    "                       (default: $WEFT_CONTROLLER; without either, weft drives\n"
    "                       the local weftd)\n"
    "  --token-file FILE    send the bearer token in FILE (default:\n"
    "                       $WEFT_API_TOKEN_FILE)\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (the API's JSON)\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "'weft COMMAND --help' describes a command's own options. 'set' and 'del' take\n"
    "--if-match REVISION: change the object only if it is still at the revision\n"
    "'show' printed (exit 1 and nothing done if it changed since).\n"
    "Exit status: 0 on success, 1 when the controller refuses or a command fails, 2\n"
    "on a usage error (nothing was sent), 3 when the controller cannot be reached.\n";

static const char status_help[] =
    "Usage: weft --controller URL status [-o table|json]\n"
    "\n"
    "Show weft-controller: its version, store and its epoch and revision, the hosts\n"
    "registered and connected, and its uptime. A quick way to check that the\n"
    "controller runs and answers (exit 3 if not).\n"
    "\n"
    "Options:\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (the API's status object)\n"
    "  -h, --help           print this help and exit\n";

int ctl_cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, status_help, 0, 0, "");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return ctl_query(ctx, argv[0], "status", ctl_print_fields);
}

void cli_ctl_print_help(void)
{
    fputs(ctl_help, stdout);
}

int cli_ctl_main(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct cli_subcommand commands[] = {
        {"status", ctl_cmd_status}, {"zone", ctl_cmd_zone},
        {"pool", ctl_cmd_pool},     {"segment", ctl_cmd_segment},
        {"port", ctl_cmd_port},     {"host", ctl_cmd_host},
        {"vtep", ctl_cmd_vtep},     {"mac", ctl_cmd_mac},
        {"arp", ctl_cmd_arp},       {"drop-reasons", cli_cmd_drop_reasons},
    };
    char **cmd_argv = argv + optind - 1;

    /* The commands follow main()'s options: dispatch from the slot before
     * the command, named "weft" (the option there stays in 'ctx'). The URL
     * is checked by ctl_request(): a --controller after the command may
     * still change it. */
    cmd_argv[0] = argv[0];
    optind = 0; /* glibc: restart the scan */
    return cli_dispatch(ctx, argc - (int)(cmd_argv - argv), cmd_argv, commands,
                        WEFT_ARRAY_SIZE(commands), ctl_help);
}
