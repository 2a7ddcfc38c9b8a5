/*
 * api_internal.h - what the REST API's files share: the server's state, the
 * error a handler fails with, the transaction a write request builds, the
 * field tables that describe each object (one description drives validation,
 * defaults and the stored shape) and the handlers api.c routes to.
 *
 * Not a public header: only api*.c include it.
 */
#ifndef WEFT_CONTROLLER_API_INTERNAL_H
#define WEFT_CONTROLLER_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "controller/store.h"

struct agent_server;
struct evhttp;

struct api {
    struct event_base *base;
    struct store *store;
    struct agent_server *agents;
    struct evhttp *http;
    char *token; /* NULL: no token required */
    size_t token_len;
    const char *store_scheme;
    struct timespec started; /* CLOCK_MONOTONIC */
};

/* ---- Errors ---------------------------------------------------------------- */

/* What a request failed with: an HTTP status, the field at fault ("" = none)
 * and a sentence that says what to fix. */
struct api_error {
    int status;
    char field[64];
    char message[512];
};

/* Fills err and returns status, so handlers can write `return api_fail(...)`. */
int api_fail(struct api_error *err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The store failed: 500 with its message (logged). */
int api_fail_store(struct api *api, struct api_error *err, int e, const char *what);

/* Allocation failures in the control path are not recoverable in a useful
 * way (every allocation here is small); die loudly rather than half-answer. */
void *api_check_alloc(void *p);
char *api_strdup(const char *s);
char *api_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Transactions ------------------------------------------------------------ */

/* One request's store transaction: compares on everything it validated, then
 * its writes. Owns copies of every key and value. */
struct api_txn {
    struct store_compare *cmp;
    size_t n_cmp, cap_cmp;
    struct store_op *ops;
    size_t n_ops, cap_ops;
    char **owned;
    size_t n_owned, cap_owned;
};

void api_txn_compare(struct api_txn *t, const char *key, uint64_t mod_revision);
void api_txn_put(struct api_txn *t, const char *key, const json_t *value);
void api_txn_delete(struct api_txn *t, const char *key);
void api_txn_clear(struct api_txn *t); /* frees everything, ready for reuse */
/* Runs it: 0, ECANCELED (a compare failed) or another store error. */
int api_txn_run(struct api *api, struct api_txn *t, uint64_t *revision);

/* Reads one stored object: 0, ENOENT, or a store error (EIO; also for a value
 * that is not a JSON object). */
int api_load(struct api *api, const char *key, json_t **obj, uint64_t *mod_revision);

/* Writes the index keys that the store's segments lack, such as the VLAN keys
 * of a store from before segment VLANs were unique; segments that share a
 * value from those days are logged (the key stays with its holder, or goes
 * to the first by name when none had it). Run at start, before any request.
 * 0, or an errno value with errbuf's sentence. */
int api_index_backfill(struct api *api, char *errbuf, size_t errlen);

/* ---- Field tables ------------------------------------------------------------ */

enum api_field_type {
    API_FIELD_NAME,   /* [A-Za-z0-9_.-], min..max characters */
    API_FIELD_STRING, /* UTF-8 text of at most max bytes */
    API_FIELD_UINT,   /* integer min..max */
    API_FIELD_BOOL,
    API_FIELD_ENUM,       /* one of choices */
    API_FIELD_NAME_SET,   /* array of distinct names (host ids) */
    API_FIELD_IPV4_MCAST, /* IPv4 multicast address */
    API_FIELD_VLAN_LIST,  /* "101,200-210": VLANs 1-4094 */
    API_FIELD_BINDINGS,   /* up to max of {"mac": MAC, "ip": IPv4} */
};

enum {
    API_FIELD_REQUIRED = 1 << 0,  /* no default: must be given */
    API_FIELD_NULLABLE = 1 << 1,  /* null is a value */
    API_FIELD_IMMUTABLE = 1 << 2, /* PATCH may not change it */
    API_FIELD_OPTIONAL = 1 << 3,  /* no default, may stay absent (segment vni) */
};

struct api_field {
    const char *name;
    enum api_field_type type;
    unsigned flags;
    uint64_t min, max;
    const char *const *choices; /* API_FIELD_ENUM: NULL-terminated */
    const char *def;            /* default as JSON text; NULL with REQUIRED/OPTIONAL */
};

/* One kind of object under /config/. */
struct api_kind {
    const char *collection; /* in the URL: "transport-zones" */
    const char *prefix;     /* in the store: "/config/zones/" */
    const char *noun;       /* in messages: "transport zone" */
    const struct api_field *fields;
    size_t n_fields;
    /* Checks obj (normalized; old is the stored object on PATCH, NULL on
     * create) against the rest of the state, may complete it (a VNI from a
     * pool), and adds the compares and the index writes to txn; the generic
     * code adds the object's own compare and put. 0 or an error status. */
    int (*plan_write)(struct api *api, const json_t *old, json_t *obj, struct api_txn *txn,
                      struct api_error *err);
    /* The same for DELETE: refuse what is still used, delete index keys. */
    int (*plan_delete)(struct api *api, const json_t *old, struct api_txn *txn,
                       struct api_error *err);
    /* Adds runtime fields (a pool's "allocated", a port's "status") to a copy
     * being shown; NULL when there are none. */
    void (*decorate)(struct api *api, json_t *shown);
};

extern const struct api_kind api_zone_kind;
extern const struct api_kind api_pool_kind;
extern const struct api_kind api_segment_kind;
extern const struct api_kind api_port_kind;

/* Validates body against kind's fields and returns the normalized object in
 * the kind's field order, defaults filled in (from base's values first when
 * base is given: PATCH). NULL with err filled when something is wrong. */
json_t *api_schema_normalize(const struct api_kind *kind, const json_t *body, const json_t *base,
                             struct api_error *err);

/* Parses "101,200-210" into a 4095-bit map (bit v = VLAN v); false when it is
 * not such a list. */
bool api_vlan_list_parse(const char *text, uint8_t map[512]);

/* ---- Handlers (api_objects.c) ---------------------------------------------- */

/* Each returns the HTTP status; on success *out is the body to send (NULL for
 * 204) and *location, when set, the Location of a created object. */
struct api_reply {
    json_t *body;
    char *location;
};

int api_object_list(struct api *api, const struct api_kind *kind, const char *host_filter,
                    const char *segment_filter, struct api_reply *reply, struct api_error *err);
int api_object_get(struct api *api, const struct api_kind *kind, const char *name,
                   struct api_reply *reply, struct api_error *err);
int api_object_create(struct api *api, const struct api_kind *kind, const json_t *body,
                      struct api_reply *reply, struct api_error *err);
int api_object_patch(struct api *api, const struct api_kind *kind, const char *name,
                     const json_t *body, const char *if_match, struct api_reply *reply,
                     struct api_error *err);
int api_object_delete(struct api *api, const struct api_kind *kind, const char *name,
                      const char *if_match, struct api_error *err);
int api_segment_table(struct api *api, const char *name, const char *table, struct api_reply *reply,
                      struct api_error *err);
int api_status(struct api *api, struct api_reply *reply, struct api_error *err);
int api_hosts_list(struct api *api, struct api_reply *reply, struct api_error *err);
int api_host_get(struct api *api, const char *id, struct api_reply *reply, struct api_error *err);
int api_host_delete(struct api *api, const char *id, struct api_error *err);

#endif
