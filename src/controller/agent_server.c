/*
 * agent_server.c - the controller's side of the agent protocol
 * (docs/agent-protocol.md). First step: the listening socket and the views'
 * shapes, so that the program links; sessions, the index and the updates
 * follow in this file.
 */
#include "controller/agent_server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "controller/store.h"

struct agent_server {
    struct event_base *base;
    struct store *store;
    struct evconnlistener *listener;
};

void agent_server_config_default(struct agent_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = "0.0.0.0:7443";
    cfg->heartbeat_ms = 5000;
    cfg->dead_ms = 15000;
    cfg->stale_seconds = 120;
}

static void agent_server_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                                int salen, void *ctx)
{
    (void)l;
    (void)sa;
    (void)salen;
    (void)ctx;
    close(fd);
}

int agent_server_start(struct event_base *base, struct store *store,
                       const struct agent_server_config *cfg, struct agent_server **out, char *err,
                       size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    struct agent_server *srv;

    if (evutil_parse_sockaddr_port(cfg->listen, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "agent listen address '%s' is not ADDR:PORT", cfg->listen);
        return EINVAL;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    srv->base = base;
    srv->store = store;
    srv->listener =
        evconnlistener_new_bind(base, agent_server_accept, srv,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (struct sockaddr *)&ss, sslen);
    if (!srv->listener) {
        int e = errno ? errno : EADDRINUSE;
        snprintf(err, errlen, "cannot listen for agents on %s: %s", cfg->listen, strerror(e));
        free(srv);
        return e;
    }
    *out = srv;
    return 0;
}

void agent_server_stop(struct agent_server *srv)
{
    if (!srv) {
        return;
    }
    evconnlistener_free(srv->listener);
    free(srv);
}

static json_t *agent_server_empty_items(void)
{
    return json_pack("{s:[]}", "items");
}

json_t *agent_server_hosts_summary_json(const struct agent_server *srv)
{
    (void)srv;
    return json_pack("{s:i,s:i}", "registered", 0, "connected", 0);
}

json_t *agent_server_hosts_json(const struct agent_server *srv)
{
    (void)srv;
    return agent_server_empty_items();
}

json_t *agent_server_host_json(const struct agent_server *srv, const char *id)
{
    (void)srv;
    (void)id;
    return NULL;
}

json_t *agent_server_port_status_json(const struct agent_server *srv, const char *host,
                                      const char *port)
{
    (void)srv;
    (void)host;
    (void)port;
    return json_pack("{s:b,s:s}", "up", 0, "reason", "host not connected");
}

json_t *agent_server_segment_vteps_json(const struct agent_server *srv, uint32_t vni)
{
    (void)srv;
    (void)vni;
    return agent_server_empty_items();
}

json_t *agent_server_segment_macs_json(const struct agent_server *srv, uint32_t vni)
{
    (void)srv;
    (void)vni;
    return agent_server_empty_items();
}

json_t *agent_server_segment_arp_json(const struct agent_server *srv, uint32_t vni)
{
    (void)srv;
    (void)vni;
    return agent_server_empty_items();
}

int agent_server_host_forget(struct agent_server *srv, const char *id)
{
    (void)srv;
    (void)id;
    return ENOENT;
}
