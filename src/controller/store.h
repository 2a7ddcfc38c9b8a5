/*
 * store.h - the controller's store: revisioned keys, etcd's model.
 *
 * Every piece of state the controller keeps lives here as a key (a path such
 * as "/config/segments/web") whose value is a JSON text. The store has one
 * revision counter: every committed transaction that changes something makes
 * it one higher, and stamps each key it wrote with that revision
 * (mod_revision; create_revision when the key was new). Deletions are kept in
 * a change log until compacted, so a watcher can ask for "every change after
 * revision R" and get exactly those, in order.
 *
 * Backends sit behind one ops table (struct store_backend): SQLite, one file,
 * WAL, fsync on commit, is the embedded default (store_sqlite.c); etcd v3 is
 * the HA backend of a later issue. The controller is stateless over its
 * store: it may keep caches, but everything it needs to restart is here.
 *
 * Threading and callbacks: a store belongs to one libevent loop. Calls are
 * synchronous (they return when the transaction is durable). Watch callbacks
 * never run inside store_txn(): the backend schedules them on the loop, so a
 * callback may itself call store_txn(). Events are delivered in revision
 * order, each transaction's events together in one call.
 *
 * The change log keeps every revision until compacted. The SQLite backend also
 * compacts by itself, so that the log cannot grow without bound: it keeps the
 * last STORE_SQLITE_KEEP_REVISIONS revisions (100000: at one revision per learned
 * MAC or host report that is hours of churn, enough for any controller restart
 * or agent reconnect to resume by revision instead of a full snapshot), and
 * compacts in steps of 1000 revisions so the cost is spread out. Compaction,
 * automatic or asked for, never removes revisions that a watch has yet to be
 * given: it stops below the oldest undelivered one (watches catch up on the
 * next loop iteration, so this holds compaction back only briefly).
 *
 * Errors: 0 or a positive errno value. ECANCELED: a transaction's compares
 * failed (nothing written). ENOENT: no such key. ESTALE: a watch asked for
 * revisions already compacted away. EINVAL: a bad argument (empty key, value
 * that is not NUL-terminated text). EIO: the backend failed; store_errmsg()
 * says how.
 */
#ifndef WEFT_CONTROLLER_STORE_H
#define WEFT_CONTROLLER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store_backend;
struct store_watch;

/* A store as store.c sees it: each backend's own state begins with this
 * (struct store_sqlite { struct store up; ... }), so the API below reaches
 * the right ops table. Callers treat it as opaque. */
struct store {
    const struct store_backend *backend;
};

/* One key and its value. In results the strings belong to the result. */
struct store_kv {
    char *key;
    char *value; /* JSON text, NUL-terminated; NULL in a delete event */
    uint64_t create_revision;
    uint64_t mod_revision; /* delete event: the revision of the delete */
};

/* A list of keys, sorted by key (store_range) or by revision (events). */
struct store_kv_list {
    struct store_kv *items;
    size_t n;
};
void store_kv_list_free(struct store_kv_list *list); /* accepts NULL; zeroes it */

/* A transaction: when every compare holds, the ops run in order, atomically;
 * otherwise nothing is written and store_txn() returns ECANCELED. A
 * transaction whose ops change nothing (deleting absent keys) does not move
 * the revision. */
struct store_compare {
    const char *key;
    /* The key's mod_revision must equal this; 0 means "the key must not exist". */
    uint64_t mod_revision;
};

enum store_op_type {
    STORE_OP_PUT,           /* key = value */
    STORE_OP_DELETE,        /* key, if present */
    STORE_OP_DELETE_PREFIX, /* every key that starts with key */
};

struct store_op {
    enum store_op_type type;
    const char *key;
    const char *value; /* STORE_OP_PUT only */
};

struct store_txn {
    const struct store_compare *compares;
    size_t n_compares;
    const struct store_op *ops;
    size_t n_ops;
};

enum store_event_type {
    STORE_EVENT_PUT,
    STORE_EVENT_DELETE,
};

struct store_event {
    enum store_event_type type;
    struct store_kv kv; /* delete: value NULL, mod_revision = the delete's revision */
};

/* Events of one or more whole transactions, in revision order (within one
 * transaction, by key; a key changed twice in one transaction shows once, as it
 * ended); revision is the last one's. The events and their strings are valid
 * during the call only. A delete event's create_revision is the deleted key's. */
typedef void store_watch_fn(const struct store_event *events, size_t n, uint64_t revision,
                            void *ctx);

/* ---- The backend ops table ------------------------------------------------ */

/* Lifecycle: open (from the part of the URL after "scheme:") -> calls -> close.
 * Each backend is one file exporting one const struct store_backend. */
struct store_backend {
    const char *scheme; /* "sqlite", "etcd" */
    int (*open)(const char *location, struct event_base *base, struct store **out, char *err,
                size_t errlen);
    void (*close)(struct store *s);
    int (*get)(struct store *s, const char *key, struct store_kv *out);
    int (*range)(struct store *s, const char *prefix, struct store_kv_list *out,
                 uint64_t *revision);
    int (*txn)(struct store *s, const struct store_txn *txn, uint64_t *revision);
    int (*watch)(struct store *s, const char *prefix, uint64_t after_revision, store_watch_fn *fn,
                 void *ctx, struct store_watch **out);
    void (*unwatch)(struct store *s, struct store_watch *w);
    int (*compact)(struct store *s, uint64_t revision);
    uint64_t (*revision)(const struct store *s);
    uint64_t (*compacted)(const struct store *s);
    const char *(*epoch)(const struct store *s);
    const char *(*errmsg)(const struct store *s);
};

extern const struct store_backend store_sqlite_backend;
/* The SQLite backend's automatic compaction (see the top of this file). */
#define STORE_SQLITE_KEEP_REVISIONS 100000u
#define STORE_SQLITE_COMPACT_STEP   1000u

/* ---- The API the controller calls ---------------------------------------- */

/* Opens a store by URL: "sqlite:PATH" (the file is created when absent, mode
 * 0600, in a directory that must exist; -wal and -shm files beside it get the
 * same mode). base is the loop that watch callbacks run on (required). The
 * SQLite backend locks the file for as long as it is open: a second process
 * opening it fails with EBUSY. err gets a sentence on failure. */
int store_open(const char *url, struct event_base *base, struct store **out, char *err,
               size_t errlen);
/* Accepts NULL; cancels its watches. Not from inside a watch callback. */
void store_close(struct store *s);

/* One key: 0 with *out filled (free with store_kv_free), or ENOENT. */
int store_get(struct store *s, const char *key, struct store_kv *out);
void store_kv_free(struct store_kv *kv);

/* Every key starting with prefix ("" = all), sorted by key; *revision (may be
 * NULL) gets the revision the result shows. */
int store_range(struct store *s, const char *prefix, struct store_kv_list *out, uint64_t *revision);

/* Runs a transaction; *revision (may be NULL) gets the store's revision after
 * it (the new one when it wrote, the current one otherwise). */
int store_txn(struct store *s, const struct store_txn *txn, uint64_t *revision);

/* Shorthands for one-op transactions. put_if: only when the key's mod_revision
 * is expected (0 = absent). */
int store_put(struct store *s, const char *key, const char *value, uint64_t *revision);
int store_put_if(struct store *s, const char *key, const char *value, uint64_t expected,
                 uint64_t *revision);
int store_delete(struct store *s, const char *key, uint64_t *revision);

/* Calls fn, from the loop, with every change to keys under prefix after
 * after_revision: first those already in the log (ESTALE when after_revision
 * is below store_compacted()), then each new transaction as it commits.
 * Nothing is called before store_watch() returns. *out identifies the watch
 * for store_unwatch(), which fn may call (on this watch or another); after
 * store_unwatch() its fn is never called again. */
int store_watch(struct store *s, const char *prefix, uint64_t after_revision, store_watch_fn *fn,
                void *ctx, struct store_watch **out);
void store_unwatch(struct store *s, struct store_watch *w); /* accepts NULL */

/* Forgets the change log up to revision (watches from before it get ESTALE);
 * EINVAL beyond store_revision(). Held back below what a watch has yet to be
 * given (see above): store_compacted() says how far it went. */
int store_compact(struct store *s, uint64_t revision);

uint64_t store_revision(const struct store *s);
/* The highest revision compacted away (0 = none). */
uint64_t store_compacted(const struct store *s);
/* The identity of this store's history: "sqlite:" and a random id made when the
 * file was created. Two stores, or a file recreated, never share an epoch. */
const char *store_epoch(const struct store *s);
/* The last backend error, for logs. */
const char *store_errmsg(const struct store *s);

#endif
