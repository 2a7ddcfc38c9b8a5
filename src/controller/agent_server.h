/*
 * agent_server.h - the controller's side of the agent protocol
 * (docs/agent-protocol.md): one session per host over TCP, a snapshot of the
 * host's slice and revisioned updates as the store changes, reports merged
 * into the learned tables, stale entries withdrawn.
 *
 * It reads the desired state the REST API writes (/config/... keys) through a
 * store watch and keeps an in-memory index of it, of the hosts (/hosts/...) and
 * of what hosts learned (/learned/...), which it writes itself. The REST API
 * reads the controller's view of hosts and of each segment's tables through
 * the *_json() functions below, so both show the same thing.
 */
#ifndef WEFT_CONTROLLER_AGENT_SERVER_H
#define WEFT_CONTROLLER_AGENT_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct store;
struct agent_server;

struct agent_server_config {
    const char *listen;     /* "ADDR:PORT" or "[V6]:PORT"; default "0.0.0.0:7443" */
    const char *join_token; /* the cluster's join token (16-256 visible ASCII) */
    uint32_t heartbeat_ms;  /* default 5000 */
    uint32_t dead_ms;       /* default 15000 */
    uint32_t stale_seconds; /* a gone host's entries are withdrawn after this; default 120 */
};

void agent_server_config_default(struct agent_server_config *cfg);

/* Listens, loads the index from the store and starts watching it. err gets a
 * sentence on failure (address in use, store unreadable). */
int agent_server_start(struct event_base *base, struct store *store,
                       const struct agent_server_config *cfg, struct agent_server **out, char *err,
                       size_t errlen);
/* Sends every session "error shutdown" and closes them; accepts NULL. */
void agent_server_stop(struct agent_server *srv);

/* ---- Views for the REST API (docs/api.md shapes; new references) ---------- */

/* {"registered": N, "connected": N} */
json_t *agent_server_hosts_summary_json(const struct agent_server *srv);
/* {"items": [host, ...]} sorted by id, and one host; NULL when unknown. */
json_t *agent_server_hosts_json(const struct agent_server *srv);
json_t *agent_server_host_json(const struct agent_server *srv, const char *id);
/* A port's status as its host last reported it: {"up": bool, "reason": "..."}. */
json_t *agent_server_port_status_json(const struct agent_server *srv, const char *host,
                                      const char *port);
/* A segment's tables, by VNI: {"items": [...]} as docs/api.md shows. */
json_t *agent_server_segment_vteps_json(const struct agent_server *srv, uint32_t vni);
json_t *agent_server_segment_macs_json(const struct agent_server *srv, uint32_t vni);
json_t *agent_server_segment_arp_json(const struct agent_server *srv, uint32_t vni);

/* Forgets a host (DELETE /hosts/ID): closes its session, withdraws its
 * learned entries, deletes /hosts/ID. ENOENT if unknown. The REST API has
 * checked that no port is bound to it. */
int agent_server_host_forget(struct agent_server *srv, const char *id);

#endif
