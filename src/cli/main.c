/*
 * weft - the command line of Weft, for people and scripts.
 *
 * "weft [OPTION]... COMMAND [ARG]...": global options, then one command named
 * after what it shows or changes. Each command (or command group: segment,
 * port, peer, mac) lives in its own cmd_*.c and parses its own options. Tables
 * for people by default, "-o json" for scripts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/compiler.h"
#include "weft_version.h"

struct cli_command {
    const char *name;
    /* getopt_long() prefixes its messages with argv[0], so each command runs
     * with argv[0] set to this "weft <command>" string. */
    char *prog;
    const char *summary;
    cli_run_fn *run;
};

static char status_prog[] = "weft status";
static char segment_prog[] = "weft segment";
static char port_prog[] = "weft port";
static char peer_prog[] = "weft peer";
static char mac_prog[] = "weft mac";
static char arp_prog[] = "weft arp";
static char stats_prog[] = "weft stats";
static char drops_prog[] = "weft drops";
static char drop_reasons_prog[] = "weft drop-reasons";

static const struct cli_command cli_commands[] = {
    {"status", status_prog, "show weftd: its name, VTEP addresses, underlay MTU, uptime",
     cli_cmd_status},
    {"segment", segment_prog, "add, delete, list and show segments (VXLAN VNIs)", cli_cmd_segment},
    {"port", port_prog, "add, change, delete, list and show switch ports", cli_cmd_port},
    {"peer", peer_prog, "add, delete and list the remote VTEPs of segments", cli_cmd_peer},
    {"mac", mac_prog, "list the MAC table; add and delete static entries", cli_cmd_mac},
    {"arp", arp_prog, "list the ARP table (IP -> MAC, for ARP suppression)", cli_cmd_arp},
    {"stats", stats_prog, "show the switch's counters, MAC table and device statistics",
     cli_cmd_stats},
    {"drops", drops_prog, "show what was dropped, where and why (non-zero counters only)",
     cli_cmd_drops},
    {"drop-reasons", drop_reasons_prog, "list the reasons the forwarding core drops frames",
     cli_cmd_drop_reasons},
};

static void cli_print_help(void)
{
    fputs("Usage: weft [OPTION]... COMMAND [ARG]...\n"
          "\n"
          "weft is the command line of Weft, a network virtualization platform for Linux\n"
          "hosts: a distributed virtual switch whose forwarding happens on every host\n"
          "(weftd), carrying logical L2 segments between hosts on different L3 subnets\n"
          "over VXLAN, with a central control plane (weft-controller). Output is a\n"
          "table for people by default and JSON for scripts with '-o json'.\n"
          "\n"
          "Commands (they drive the weftd of this host over its control socket):\n",
          stdout);
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(cli_commands); i++) {
        printf("  %-14s %s\n", cli_commands[i].name, cli_commands[i].summary);
    }
    fputs("\n"
          "Controller mode (--controller URL, or WEFT_CONTROLLER=URL): the commands\n"
          "manage the whole network through weft-controller's REST API instead: status,\n"
          "zone, pool, segment, port, host, vtep, mac, arp ('weft --controller URL\n"
          "--help' lists them).\n"
          "\n"
          "Options (all but -V also accepted after the command, anywhere among its\n"
          "arguments; after it, write --controller in full):\n"
          "  -s, --socket PATH    weftd's control socket (default: $WEFT_SOCKET, else\n"
          "                       " CLI_DEFAULT_SOCKET ")\n"
          "  --controller URL     controller mode: weft-controller's API, e.g.\n"
          "                       http://127.0.0.1:7080 (default: $WEFT_CONTROLLER)\n"
          "  --token-file FILE    controller mode: the API's bearer token (default:\n"
          "                       $WEFT_API_TOKEN_FILE)\n"
          "  -o, --output FORMAT  'table' (default) or 'json' (the data weftd returns)\n"
          "  -h, --help           print this help and exit\n"
          "  -V, --version        print the version and exit\n"
          "\n"
          "'weft COMMAND --help' describes a command's own options.\n"
          "Exit status: 0 on success, 1 when weftd refuses or a command fails, 2 on a\n"
          "usage error (nothing was sent), 3 when weftd cannot be reached.\n",
          stdout);
}

/* The mode (the local weftd, or controller mode) is chosen before the command
 * parses its options, so main() looks for a --controller after the command
 * name itself: spelled in full, with its URL as the next argument or after
 * '=', up to a "--" (after which getopt_long() sees operands only). The last
 * one wins, as with getopt_long(); in controller mode the command's own
 * parser then reads each again, exactly. Returns CLI_CONTINUE or a usage
 * error. */
static int cli_find_controller(struct cli_ctx *ctx, int argc, char **argv, int first)
{
    static const char option[] = "--controller";
    const size_t len = sizeof option - 1;

    for (int i = first; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strncmp(argv[i], option, len) != 0) {
            continue;
        }
        if (argv[i][len] == '=') {
            ctx->controller = argv[i] + len + 1;
        } else if (argv[i][len] == '\0' && i + 1 < argc) {
            ctx->controller = argv[++i];
        } else if (argv[i][len] == '\0') {
            return cli_usage_error("weft", "option '--controller' requires an argument");
        }
    }
    return CLI_CONTINUE;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static char prog_name[] = "weft";
    const char *env_socket = getenv("WEFT_SOCKET");
    const char *env_controller = getenv("WEFT_CONTROLLER");
    const char *env_token = getenv("WEFT_API_TOKEN_FILE");
    struct cli_ctx ctx = {
        .socket_path = env_socket && *env_socket ? env_socket : CLI_DEFAULT_SOCKET,
        .format = CLI_FORMAT_TABLE,
        .controller = env_controller && *env_controller ? env_controller : NULL,
        .token_file = env_token && *env_token ? env_token : NULL,
    };
    bool help = false;
    int opt, status;

    argv[0] = prog_name;
    /* '+': stop at the command name; what follows belongs to the command.
     * After --help nothing counts but a --controller, which chooses the help. */
    while (!help && (opt = getopt_long(argc, argv, "+s:o:hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            help = true;
            break;
        case 'V':
            printf("weft %s\n", WEFT_VERSION);
            return cli_finish("weft", CLI_EXIT_OK);
        case 'C':
            /* Chooses controller mode; the URL is checked where it is used. */
            ctx.controller = optarg;
            break;
        default:
            /* -s, -o, --token-file, and getopt_long()'s errors (it has named
             * the bad option). */
            if ((status = cli_common_option(&ctx, opt, "weft", "")) != CLI_CONTINUE) {
                return status;
            }
            break;
        }
    }
    if (!ctx.controller &&
        (status = cli_find_controller(&ctx, argc, argv, optind)) != CLI_CONTINUE) {
        return status;
    }
    if (help) {
        if (ctx.controller) {
            cli_ctl_print_help();
        } else {
            cli_print_help();
        }
        return cli_finish("weft", CLI_EXIT_OK);
    }
    if (ctx.controller) {
        return cli_ctl_main(&ctx, argc, argv);
    }
    if (optind >= argc) {
        return cli_usage_error("weft", "no command given");
    }

    for (size_t i = 0; i < WEFT_ARRAY_SIZE(cli_commands); i++) {
        const struct cli_command *cmd = &cli_commands[i];
        if (strcmp(argv[optind], cmd->name) == 0) {
            int cmd_argc = argc - optind;
            char **cmd_argv = argv + optind;

            cmd_argv[0] = cmd->prog;
            optind = 0; /* glibc: restart the scan on the command's arguments */
            return cmd->run(&ctx, cmd_argc, cmd_argv);
        }
    }
    return cli_usage_error("weft", "unknown command '%s'", argv[optind]);
}
