/*
 * weft-controller - Weft's management and control plane.
 *
 * The controller is to hold the desired state (segments, ports, routers,
 * rules), validate it behind a REST API, keep the tables hosts learn, and push
 * each weftd the slices it needs over revisioned agent sessions. This release
 * carries the forwarding core only; the controller parses its command line,
 * answers --help and --version, and says plainly that it cannot serve yet.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft_version.h"

#define CONTROLLER_EXIT_USAGE 2

static const char controller_help[] =
    "Usage: weft-controller [OPTION]...\n"
    "\n"
    "weft-controller is Weft's management and control plane. It holds the desired\n"
    "state (segments, ports, routers, firewall rules) behind a JSON REST API under\n"
    "/api/v1/, keeps the tables hosts learn (VTEPs, MACs, ARP), and pushes every\n"
    "weftd the slices it needs over one long-lived agent session per host: a\n"
    "snapshot with a revision, then revisioned deltas. Its store is embedded\n"
    "SQLite by default, or an etcd cluster so that several controllers share one\n"
    "state.\n"
    "\n"
    "Status: this release contains the forwarding core that weftd will run, not\n"
    "the controller. The REST API, the agent protocol and the stores arrive with\n"
    "the controller issue, together with the options that configure them (listen\n"
    "addresses, store). Until then weft-controller only answers the options below.\n"
    "\n"
    "Options:\n"
    "  -h, --help     print this help and exit\n"
    "  -V, --version  print the version and exit\n"
    "\n"
    "Exit status: 0 on success, 1 when weft-controller cannot run, 2 on a usage\n"
    "error.\n";

static void controller_usage_error(void)
{
    fputs("Try 'weft-controller --help' for more information.\n", stderr);
    exit(CONTROLLER_EXIT_USAGE);
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static char prog_name[] = "weft-controller";
    int opt;

    /* getopt_long() prefixes its messages with argv[0]: show the name, not the path. */
    argv[0] = prog_name;
    while ((opt = getopt_long(argc, argv, "hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(controller_help, stdout);
            return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        case 'V':
            printf("weft-controller %s\n", WEFT_VERSION);
            return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        default:
            /* getopt_long() has named the bad option on stderr. */
            controller_usage_error();
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weft-controller: unexpected argument '%s'\n", argv[optind]);
        controller_usage_error();
    }

    fputs("weft-controller: this release cannot serve yet: the REST API, agent sessions "
          "and stores arrive with the controller issue (see 'weft-controller --help')\n",
          stderr);
    return EXIT_FAILURE;
}
