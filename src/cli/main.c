/*
 * weft - the command line of Weft, for people and scripts.
 *
 * "weft [OPTION]... COMMAND [ARG]...": global options, then one command named
 * after what it shows or changes. Each command lives in its own cmd_*.c and
 * parses its own options. Tables for people by default, "-o json" for scripts.
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
    int (*run)(int argc, char **argv);
};

static char drop_reasons_prog[] = "weft drop-reasons";

static const struct cli_command cli_commands[] = {
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
          "Commands:\n",
          stdout);
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(cli_commands); i++) {
        printf("  %-14s %s\n", cli_commands[i].name, cli_commands[i].summary);
    }
    fputs("\n"
          "Status: the commands that drive a host's weftd over its control socket, and\n"
          "those that manage segments, ports, routers and rules through\n"
          "weft-controller, arrive with the next issues.\n"
          "\n"
          "Options:\n"
          "  -h, --help     print this help and exit\n"
          "  -V, --version  print the version and exit\n"
          "\n"
          "'weft COMMAND --help' describes a command's own options.\n"
          "Exit status: 0 on success, 1 when a command fails, 2 on a usage error.\n",
          stdout);
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static char prog_name[] = "weft";
    int opt;

    argv[0] = prog_name;
    /* '+': stop at the command name; what follows belongs to the command. */
    while ((opt = getopt_long(argc, argv, "+hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            cli_print_help();
            return cli_finish("weft", CLI_EXIT_OK);
        case 'V':
            printf("weft %s\n", WEFT_VERSION);
            return cli_finish("weft", CLI_EXIT_OK);
        default:
            /* getopt_long() has named the bad option on stderr. */
            fputs("Try 'weft --help' for more information.\n", stderr);
            return CLI_EXIT_USAGE;
        }
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
            return cmd->run(cmd_argc, cmd_argv);
        }
    }
    return cli_usage_error("weft", "unknown command '%s'", argv[optind]);
}
