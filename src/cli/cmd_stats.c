/*
 * cmd_stats.c - "weft stats" (the switch's counters, MAC table statistics and
 * the device-level drops of each port and VTEP) and "weft drops" (only what was
 * dropped, where and why, with what each reason means).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "core/drop.h"
#include "lib/compiler.h"

static const char stats_help[] =
    "Usage: weft stats [-s SOCKET] [-o table|json]\n"
    "\n"
    "Show the counters of the whole switch (frames received, sent, flooded and\n"
    "dropped, with the drops by reason), the MAC table's statistics (learned,\n"
    "moved, aged out, refused because the table was full), and for each port\n"
    "device and VTEP socket the frames dropped before the switch saw them and the\n"
    "frames the kernel refused to send (tx errors).\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket (default: $WEFT_SOCKET, else\n"
    "                       " CLI_DEFAULT_SOCKET ")\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (weftd's stats object:\n"
    "                       {total, mac_learned, mac_moves, mac_aged, mac_table_full,\n"
    "                       arp_suppressed, arp_learned, arp_changed, arp_aged,\n"
    "                       arp_table_full, events_lost, proxy_replicated,\n"
    "                       proxy_mark_ignored, pmtu_icmp_sent, pmtu_icmp_ratelimited,\n"
    "                       io: {vtep4, vtep6, ports: {<name>: {rx_drops, tx_errors}}}})\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "See also: weft drops, weft drop-reasons.\n";

static const char drops_help[] =
    "Usage: weft drops [-s SOCKET] [-o table|json]\n"
    "\n"
    "Show only the drop counters that are not zero: where the frames were dropped\n"
    "(the switch as a whole, a port's device, a VTEP socket), why (the reason's\n"
    "name), how many, and what the reason means and what to check. Frames the\n"
    "kernel refused to send are listed as reason 'tx_errors'. Nothing dropped:\n"
    "only the header is printed.\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH    weftd's control socket (default: $WEFT_SOCKET, else\n"
    "                       " CLI_DEFAULT_SOCKET ")\n"
    "  -o, --output FORMAT  'table' (default) or 'json' (an array of\n"
    "                       {\"where\", \"reason\", \"count\", \"help\"} objects)\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Per-port and per-segment drops: weft port show NAME, weft segment show VNI.\n";

static const char stats_tx_errors_help[] =
    "the kernel refused to send (device down, no route or neighbour, frame larger "
    "than the link MTU); check the device, the underlay and weftd's log";

/* Runs the common option loop of a command without operands. */
/* The device-level counters of a stats reply as a list of {where, counters}:
 * io.vtep4 / io.vtep6 are the VTEP's sockets, io.ports.<name> the ports. */
static json_t *stats_io_entries(json_t *stats)
{
    json_t *io = json_object_get(stats, "io");
    json_t *list = json_array();
    const char *key;
    json_t *value;
    char where[64];

    for (const char *const *vtep = (const char *const[]){"vtep4", "vtep6", NULL}; *vtep; vtep++) {
        if ((value = json_object_get(io, *vtep))) {
            json_array_append_new(list, json_pack("{ss sO}", "where", *vtep, "io", value));
        }
    }
    json_object_foreach(json_object_get(io, "ports"), key, value)
    {
        snprintf(where, sizeof where, "port %s io", key);
        json_array_append_new(list, json_pack("{ss sO}", "where", where, "io", value));
    }
    return list;
}

static void stats_print_table(json_t *data)
{
    static const struct cli_column columns[] = {
        {"WHERE", false},
        {"RX_DROPS", true},
        {"TX_ERRORS", true},
    };

    cli_print_counters(json_object_get(data, "total"));
    cli_print_field("macs learned", "%lld", cli_json_int(data, "mac_learned"));
    cli_print_field("mac moves", "%lld", cli_json_int(data, "mac_moves"));
    cli_print_field("macs aged out", "%lld", cli_json_int(data, "mac_aged"));
    cli_print_field("mac table full", "%lld", cli_json_int(data, "mac_table_full"));
    cli_print_field("arp answered here", "%lld", cli_json_int(data, "arp_suppressed"));
    cli_print_field("arp learned", "%lld", cli_json_int(data, "arp_learned"));
    cli_print_field("arp changed", "%lld", cli_json_int(data, "arp_changed"));
    cli_print_field("arp aged out", "%lld", cli_json_int(data, "arp_aged"));
    cli_print_field("arp table full", "%lld", cli_json_int(data, "arp_table_full"));
    cli_print_field("proxy replicated", "%lld", cli_json_int(data, "proxy_replicated"));
    cli_print_field("proxy mark ignored", "%lld", cli_json_int(data, "proxy_mark_ignored"));
    cli_print_field("learn events lost", "%lld", cli_json_int(data, "events_lost"));
    cli_print_field("pmtu icmp sent", "%lld", cli_json_int(data, "pmtu_icmp_sent"));
    cli_print_field("pmtu icmp rate-limited", "%lld", cli_json_int(data, "pmtu_icmp_ratelimited"));
    json_t *workers = json_object_get(data, "workers");
    size_t k;
    json_t *w;
    json_array_foreach(workers, k, w)
    {
        char name[48];
        snprintf(name, sizeof name, "worker %zu rx/tx", k);
        cli_print_field(name, "%lld / %lld", cli_json_int(w, "rx_packets"),
                        cli_json_int(w, "tx_packets"));
    }
    fputc('\n', stdout);

    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));
    json_t *entries = stats_io_entries(data);
    json_t *entry;
    size_t i;
    json_array_foreach(entries, i, entry)
    {
        json_t *value = json_object_get(entry, "io");
        cli_table_cell(t, "%s", cli_json_str(entry, "where", "-"));
        cli_table_cell(t, "%lld", cli_drops_sum(json_object_get(value, "rx_drops")));
        cli_table_cell(t, "%lld", cli_json_int(value, "tx_errors"));
    }
    cli_table_print(t);
    /* The device-level drops by reason, when there are any. */
    json_array_foreach(entries, i, entry)
    {
        const char *reason;
        json_t *count;

        json_object_foreach(json_object_get(json_object_get(entry, "io"), "rx_drops"), reason,
                            count)
        {
            printf("  %s: %s %lld  %s\n", cli_json_str(entry, "where", "-"), reason,
                   (long long)json_integer_value(count),
                   drop_reason_help(drop_reason_from_name(reason)));
        }
    }
    json_decref(entries);
}

int cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, stats_help, 0, 0, "");

    if (status != CLI_CONTINUE) {
        return status;
    }
    return cli_query(ctx, argv[0], "stats", NULL, stats_print_table);
}

/* Appends {where, reason, count, help} for each non-zero count of 'drops'. */
static void drops_collect(json_t *list, const char *where, json_t *drops)
{
    const char *reason;
    json_t *count;

    json_object_foreach(drops, reason, count)
    {
        if (json_integer_value(count) != 0) {
            json_array_append_new(list, json_pack("{ss ss sI ss}", "where", where, "reason", reason,
                                                  "count", json_integer_value(count), "help",
                                                  drop_reason_help(drop_reason_from_name(reason))));
        }
    }
}

static json_t *drops_from_stats(json_t *stats)
{
    json_t *list = json_array();
    json_t *entries = stats_io_entries(stats);
    json_t *entry;
    size_t i;

    drops_collect(list, "switch", json_object_get(json_object_get(stats, "total"), "drops"));
    json_array_foreach(entries, i, entry)
    {
        const char *where = cli_json_str(entry, "where", "-");
        json_t *value = json_object_get(entry, "io");
        json_int_t tx_errors = json_integer_value(json_object_get(value, "tx_errors"));

        drops_collect(list, where, json_object_get(value, "rx_drops"));
        if (tx_errors) {
            json_array_append_new(list,
                                  json_pack("{ss ss sI ss}", "where", where, "reason", "tx_errors",
                                            "count", tx_errors, "help", stats_tx_errors_help));
        }
    }
    json_decref(entries);
    return list;
}

static void drops_print_table(json_t *list)
{
    static const struct cli_column columns[] = {
        {"WHERE", false},
        {"REASON", false},
        {"COUNT", true},
        {"DESCRIPTION", false},
    };
    struct cli_table *t = cli_table_new(columns, WEFT_ARRAY_SIZE(columns));
    json_t *item;
    size_t i;

    json_array_foreach(list, i, item)
    {
        cli_table_cell(t, "%s", cli_json_str(item, "where", "-"));
        cli_table_cell(t, "%s", cli_json_str(item, "reason", "-"));
        cli_table_cell(t, "%lld", cli_json_int(item, "count"));
        cli_table_cell(t, "%s", cli_json_str(item, "help", ""));
    }
    cli_table_print(t);
}

int cli_cmd_drops(struct cli_ctx *ctx, int argc, char **argv)
{
    int status = cli_parse_common(ctx, argc, argv, drops_help, 0, 0, "");
    json_t *stats = NULL;

    if (status != CLI_CONTINUE) {
        return status;
    }
    if ((status = cli_call(ctx, "stats", NULL, &stats)) != CLI_EXIT_OK) {
        return status;
    }
    json_t *list = drops_from_stats(stats);
    json_decref(stats);
    if (ctx->format == CLI_FORMAT_JSON) {
        cli_print_json(list);
    } else {
        drops_print_table(list);
    }
    json_decref(list);
    return cli_finish(argv[0], CLI_EXIT_OK);
}
