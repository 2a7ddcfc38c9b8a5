/*
 * agent_index.h - the agent server's in-memory index of the store, and the
 * per-host views computed from it (pure: no I/O, no clock).
 *
 * The index holds what the agent sessions need from the store: segments and
 * ports (/config/...), hosts (/hosts/...) and what each host learned
 * (/learned/<host>/...), plus which hosts are present (connected, or gone
 * but within their stale time). From that it keeps each segment's tables:
 * its member hosts (those with ports on it), MAC -> VTEP (bindings win;
 * otherwise the host that reported the MAC last, by mod_revision) and
 * IP -> MAC (the binding or report with the highest revision; a report wins
 * a tie). They are maintained change by change: every MAC and IP keeps its
 * candidates (the bindings and reports of it), and a change re-elects only
 * the entries it touches, so one learned MAC costs what that MAC touches,
 * not what the index holds.
 *
 * A host's *view* is everything the controller gives that host, as JSON:
 *
 *   {"segments": {"<vni>": {"op": <segment_set op>, "vteps": {IP: true},
 *                           "macs": {MAC: VTEP}, "ips": {IP: MAC}}},
 *    "ports": {NAME: <port_set op>}}
 *
 * with ops in the wire form of docs/agent-protocol.md. The server keeps, per
 * session, the view it has sent; agent_view_diff() turns the difference
 * between that and the current view into the ops of an update (or, from the
 * empty view, of a snapshot), ordered so that every op names only segments
 * and VTEPs the host has at that point.
 *
 * Between two refreshes the index records what changed (segments, and the
 * VTEPs, MACs and IPs in them; hosts whose whole view changed).
 * agent_index_host_changes() turns that into the ops for one host that holds
 * its view of the previous refresh, looking only at what changed;
 * agent_index_touched() names the hosts that may have any.
 */
#ifndef WEFT_CONTROLLER_AGENT_INDEX_H
#define WEFT_CONTROLLER_AGENT_INDEX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_index;

enum agent_presence {
    AGENT_PRESENCE_ABSENT,    /* never connected, or withdrawn after its stale time */
    AGENT_PRESENCE_STALE,     /* gone, its entries kept until the stale time ends */
    AGENT_PRESENCE_CONNECTED, /* has a session */
};

struct agent_index *agent_index_create(void);
void agent_index_destroy(struct agent_index *idx); /* accepts NULL */

/* Applies one key of the store (value NULL: deleted). Keys outside
 * /config/segments/, /config/ports/, /hosts/ and /learned/ are ignored, as
 * are values that do not parse (logged): the index then holds the key as
 * absent. */
void agent_index_apply(struct agent_index *idx, const char *key, const char *value,
                       uint64_t mod_revision);
void agent_index_set_presence(struct agent_index *idx, const char *host, enum agent_presence p);
enum agent_presence agent_index_presence(const struct agent_index *idx, const char *host);

/* Brings the segments' tables up to date with the applies and presence
 * changes since the last refresh; views and tables read what the last
 * refresh computed. 0 or ENOMEM (the index then marks every host changed, so
 * that the next refresh's changes are complete). */
int agent_index_refresh(struct agent_index *idx);
/* The hosts whose view may have changed in the refreshes since the last
 * agent_index_clear_changes(): an object host -> true (borrowed). */
const json_t *agent_index_touched(const struct agent_index *idx);
/* The ops (a new array) that take host from its view as of the last
 * agent_index_clear_changes() (sent, which the caller holds) to its view
 * now, in agent_view_diff()'s order; they read only what changed. At most
 * max of them are made (the first max): a caller that can send max - 1 at
 * once resyncs when there are more. NULL on ENOMEM. */
json_t *agent_index_host_changes(const struct agent_index *idx, const char *host,
                                 const json_t *sent, size_t max);
/* Forgets what changed: the views callers hold are now those of this refresh. */
void agent_index_clear_changes(struct agent_index *idx);

/* Everything the index gives host (new reference; an empty view for a host
 * without ports or VTEP); NULL on ENOMEM. */
json_t *agent_index_host_view(const struct agent_index *idx, const char *host);
/* {"segments": {}, "ports": {}} */
json_t *agent_view_empty(void);
/* The ops (a new array) that turn a host holding old into one holding new;
 * [] when they are equal; NULL on ENOMEM. */
json_t *agent_view_diff(const json_t *old_view, const json_t *new_view);
/* Ops skip .. skip + max - 1 of agent_view_diff()'s (a new array, shorter
 * at the end), without making the others: a snapshot in parts in the memory
 * of one part. NULL on ENOMEM. */
json_t *agent_view_diff_part(const json_t *old_view, const json_t *new_view, size_t skip,
                             size_t max);
/* Applies ops (agent_view_diff()'s, or a snapshot's from the empty view) to
 * view in place. 0, EINVAL for an op it does not know, or ENOMEM. */
int agent_view_apply(json_t *view, const json_t *ops);
/* Whether the view holds the segment. */
bool agent_view_has_segment(const json_t *view, uint32_t vni);

/* The /hosts/<id> value the index holds (borrowed), or NULL. */
const json_t *agent_index_host(const struct agent_index *idx, const char *id);
/* The hosts' records, an object id -> value (borrowed). */
const json_t *agent_index_hosts(const struct agent_index *idx);
/* What the host learned (borrowed): {"mac/<vni>/<mac>": [port, revision, ...],
 * "ip/<vni>/<ip>": [mac, revision, ...]} (arrays: one per MAC, smaller than
 * objects); NULL when nothing. */
const json_t *agent_index_learned(const struct agent_index *idx, const char *host);
/* Whether host is the source of the segment table entry ("mac"/"ip" kind) now. */
bool agent_index_is_source(const struct agent_index *idx, const char *host, const char *kind,
                           uint32_t vni, const char *addr);
/* The host's ports and the VNIs of its segments, as of the last refresh: counts. */
unsigned agent_index_host_ports(const struct agent_index *idx, const char *host);
/* A new array of the VNIs the host has ports on, ascending. */
json_t *agent_index_host_segments(const struct agent_index *idx, const char *host);

/* The REST API's views of a segment's tables (docs/api.md; new references). */
json_t *agent_index_segment_vteps_json(const struct agent_index *idx, uint32_t vni);
json_t *agent_index_segment_macs_json(const struct agent_index *idx, uint32_t vni);
json_t *agent_index_segment_arp_json(const struct agent_index *idx, uint32_t vni);

/* Canonical text of a MAC or IP (lower case, colons; IPv6 compressed) into buf
 * (ETH_ADDR_STRLEN / IP_ADDR_STRLEN bytes); false when text is not one. */
bool agent_index_norm_mac(const char *text, char *buf);
bool agent_index_norm_ip(const char *text, char *buf);

#endif
