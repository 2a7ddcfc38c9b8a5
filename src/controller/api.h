/*
 * api.h - weft-controller's REST API (docs/api.md, docs/openapi.yaml): an
 * evhttp server on the controller's loop that validates the desired state and
 * writes it to the store under /config/, one compare-and-swap transaction per
 * request, and shows the agent server's view of hosts and segment tables.
 */
#ifndef WEFT_CONTROLLER_API_H
#define WEFT_CONTROLLER_API_H

#include <stddef.h>

struct event_base;
struct store;
struct agent_server;
struct api;

struct api_config {
    const char *listen;       /* "ADDR:PORT" or "[V6]:PORT" */
    const char *token;        /* bearer token every request must carry; NULL = none */
    const char *store_scheme; /* shown by GET /status: "sqlite" */
};

/* Listens and serves until api_stop(). err gets a sentence on failure
 * (address in use, bad address). */
int api_start(struct event_base *base, struct store *store, struct agent_server *agents,
              const struct api_config *cfg, struct api **out, char *err, size_t errlen);
/* Closes the listener and every connection; accepts NULL. */
void api_stop(struct api *api);

#endif
