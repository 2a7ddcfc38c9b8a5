/*
 * store_sqlite.c - the embedded store backend (store.h): one SQLite file.
 *
 * Tables: kv (the current keys), log (one row per key changed per revision,
 * deletes included, so a watch can start from any revision not yet compacted)
 * and meta (schema version, epoch, revision, compacted revision). The file is
 * in WAL mode with synchronous=FULL: a transaction is on disk before
 * store_txn() returns, so every acknowledged write survives kill -9 and power
 * loss. The connection holds the file's lock for as long as it is open
 * (locking_mode=EXCLUSIVE), which keeps a second controller off the file and
 * lets the revision be cached in memory.
 *
 * Watches are not fed from memory: a watch records the revision it has been
 * given up to, and one libevent event, scheduled after each commit, reads each
 * watch's missing revisions back from the log and calls it. So a commit never
 * calls anyone, replay and live events are one code path, and memory holds at
 * most one chunk of events at a time (a few thousand, never splitting a
 * transaction). Compaction stops below the oldest revision a watch still
 * needs, so the log always has what a watch is owed.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "controller/store.h"
#include "lib/log.h"

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 2000
/* Events read from the log per watch callback, rounded up to a whole transaction. */
#define DELIVER_CHUNK 1024

/* Log row types. */
#define LOG_PUT    0
#define LOG_DELETE 1

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_META_GET,
    ST_META_SET,
    ST_GET,
    ST_RANGE,
    ST_MOD_REV,
    ST_PUT,
    ST_LOG_PUT,
    ST_DELETE,
    ST_LOG_DELETE,
    ST_LOG_DELETE_PREFIX,
    ST_DELETE_PREFIX,
    ST_LOG_COMPACT,
    ST_LOG_READ,
    N_STMTS,
};

/* A prefix is matched as the key range [prefix, upper): ?lo and ?hi, with a
 * NULL hi for no upper bound (prefix "" or all 0xff bytes). */
#define IN_PREFIX(lo, hi) "key >= " lo " AND (" hi " IS NULL OR key < " hi ")"

static const char *const stmt_sql[N_STMTS] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
    [ST_GET] = "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1",
    [ST_RANGE] = "SELECT key, value, create_rev, mod_rev FROM kv WHERE " IN_PREFIX(
        "?1", "?2") " ORDER BY key",
    [ST_MOD_REV] = "SELECT mod_rev FROM kv WHERE key = ?1",
    [ST_PUT] = "INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?3)"
               " ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev"
               " RETURNING create_rev",
    [ST_LOG_PUT] = "INSERT OR REPLACE INTO log(rev, key, type, value, create_rev)"
                   " VALUES (?1, ?2, 0, ?3, ?4)",
    [ST_DELETE] = "DELETE FROM kv WHERE key = ?1 RETURNING create_rev",
    [ST_LOG_DELETE] = "INSERT OR REPLACE INTO log(rev, key, type, value, create_rev)"
                      " VALUES (?1, ?2, 1, NULL, ?3)",
    [ST_LOG_DELETE_PREFIX] =
        "INSERT OR REPLACE INTO log(rev, key, type, value, create_rev)"
        " SELECT ?1, key, 1, NULL, create_rev FROM kv WHERE " IN_PREFIX("?2", "?3"),
    [ST_DELETE_PREFIX] = "DELETE FROM kv WHERE " IN_PREFIX("?1", "?2"),
    [ST_LOG_COMPACT] = "DELETE FROM log WHERE rev <= ?1",
    [ST_LOG_READ] = "SELECT rev, key, type, value, create_rev FROM log"
                    " WHERE rev > ?1 AND rev <= ?2 AND " IN_PREFIX("?3", "?4") " ORDER BY rev, key",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,"
    " create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log(rev INTEGER NOT NULL, key TEXT NOT NULL,"
    " type INTEGER NOT NULL, value TEXT, create_rev INTEGER NOT NULL,"
    " PRIMARY KEY(rev, key)) WITHOUT ROWID;";

struct store_watch {
    struct store_watch *next;
    char *prefix;
    char *upper;        /* NULL: no upper bound */
    uint64_t delivered; /* every change up to this revision has been given to fn */
    store_watch_fn *fn;
    void *ctx;
    bool dead; /* unwatched during delivery; freed when delivery ends */
};

struct store_sqlite {
    struct store up;
    sqlite3 *db;
    sqlite3_stmt *st[N_STMTS];
    char *path;
    struct event *deliver_ev;
    struct store_watch *watches;
    bool delivering;
    uint64_t revision;
    uint64_t compacted;
    char epoch[40];
    char err[512];
};

static struct store_sqlite *sq(struct store *s)
{
    return (struct store_sqlite *)s;
}

static const struct store_sqlite *sq_const(const struct store *s)
{
    return (const struct store_sqlite *)s;
}

/* Records the connection's last error after what failed; returns EIO. */
static int fail(struct store_sqlite *s, const char *what)
{
    snprintf(s->err, sizeof(s->err), "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return EIO;
}

/* The exclusive upper bound of the keys starting with prefix: the prefix with
 * its last byte incremented (after dropping trailing 0xff bytes); NULL when
 * there is none. *upper is left NULL then, or set to a heap string. */
static int prefix_upper(const char *prefix, char **upper)
{
    size_t n = strlen(prefix);
    *upper = NULL;
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff) {
        n--;
    }
    if (n == 0) {
        return 0;
    }
    char *u = strndup(prefix, n);
    if (!u) {
        return ENOMEM;
    }
    u[n - 1] = (char)((unsigned char)u[n - 1] + 1);
    *upper = u;
    return 0;
}

static void bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text) {
        sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, idx);
    }
}

static void bind_rev(sqlite3_stmt *st, int idx, uint64_t rev)
{
    sqlite3_bind_int64(st, idx, (sqlite3_int64)rev);
}

static uint64_t column_rev(sqlite3_stmt *st, int idx)
{
    return (uint64_t)sqlite3_column_int64(st, idx);
}

/* Runs a statement that returns no rows (or whose rows are not needed). */
static int run(struct store_sqlite *s, enum stmt_id id, const char *what)
{
    sqlite3_stmt *st = s->st[id];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

static int meta_set(struct store_sqlite *s, const char *name, uint64_t value)
{
    sqlite3_stmt *st = s->st[ST_META_SET];
    bind_text(st, 1, name);
    bind_rev(st, 2, value);
    return run(s, ST_META_SET, "writing the store's revision");
}

/* Rolls back a failed transaction, if SQLite has not already. */
static void rollback(struct store_sqlite *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        run(s, ST_ROLLBACK, "rolling back");
    }
}

/* Compaction must leave every revision a watch has yet to be given. */
static uint64_t compact_floor(const struct store_sqlite *s, uint64_t wanted)
{
    uint64_t floor = wanted;
    for (const struct store_watch *w = s->watches; w; w = w->next) {
        if (!w->dead && w->delivered < floor) {
            floor = w->delivered;
        }
    }
    return floor;
}

/* Inside a transaction: drops log rows up to target and records it. */
static int compact_in_txn(struct store_sqlite *s, uint64_t target)
{
    sqlite3_stmt *st = s->st[ST_LOG_COMPACT];
    bind_rev(st, 1, target);
    int rc = run(s, ST_LOG_COMPACT, "compacting the change log");
    return rc ? rc : meta_set(s, "compacted", target);
}

/* ---- watch delivery ------------------------------------------------------- */

static void schedule_delivery(struct store_sqlite *s, int delay_s)
{
    /* A timer rather than event_active(): it runs on the loop's next pass, so
     * a callback that writes cannot keep the loop from its other events. */
    const struct timeval tv = {.tv_sec = delay_s};
    if (!evtimer_pending(s->deliver_ev, NULL)) {
        evtimer_add(s->deliver_ev, &tv);
    }
}

static void free_events(struct store_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ev[i].kv.key);
        free(ev[i].kv.value);
    }
    free(ev);
}

/* Reads the next chunk of w's changes in (w->delivered, upto] and gives it to
 * w->fn. The chunk is copied out of SQLite first, so the callback may run
 * transactions on this connection. */
static int deliver_chunk(struct store_sqlite *s, struct store_watch *w, uint64_t upto)
{
    sqlite3_stmt *st = s->st[ST_LOG_READ];
    struct store_event *ev = NULL;
    size_t n = 0, cap = 0;
    uint64_t last_rev = 0;
    int rc, err = 0;

    bind_rev(st, 1, w->delivered);
    bind_rev(st, 2, upto);
    bind_text(st, 3, w->prefix);
    bind_text(st, 4, w->upper);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t rev = column_rev(st, 0);
        if (n >= DELIVER_CHUNK && rev != last_rev) {
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct store_event *grown = realloc(ev, ncap * sizeof(*ev));
            if (!grown) {
                err = ENOMEM;
                goto out;
            }
            ev = grown;
            cap = ncap;
        }
        const char *key = (const char *)sqlite3_column_text(st, 1);
        const char *value = (const char *)sqlite3_column_text(st, 3);
        bool put = sqlite3_column_int(st, 2) == LOG_PUT;
        struct store_event *e = &ev[n];
        *e = (struct store_event){
            .type = put ? STORE_EVENT_PUT : STORE_EVENT_DELETE,
            .kv = {.key = strdup(key ? key : ""),
                   .value = put && value ? strdup(value) : NULL,
                   .create_revision = column_rev(st, 4),
                   .mod_revision = rev},
        };
        n++;
        if (!e->kv.key || (put && !e->kv.value)) {
            err = ENOMEM;
            goto out;
        }
        last_rev = rev;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        err = fail(s, "reading the change log for a watch");
    }
out:
    sqlite3_reset(st);
    if (!err) {
        /* Set before the call: fn may compact, and w is owed nothing up to here. */
        w->delivered = rc == SQLITE_DONE ? upto : last_rev;
        if (n > 0) {
            w->fn(ev, n, last_rev, w->ctx);
        }
    }
    free_events(ev, n);
    return err;
}

static void watch_free(struct store_watch *w)
{
    free(w->prefix);
    free(w->upper);
    free(w);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct store_sqlite *s = arg;
    uint64_t upto = s->revision;
    int err = 0;

    s->delivering = true;
    /* Watches added by a callback are appended, and so visited in this pass. */
    for (struct store_watch *w = s->watches; w && !err; w = w->next) {
        while (!err && !w->dead && w->delivered < upto) {
            err = deliver_chunk(s, w, upto);
        }
    }
    s->delivering = false;

    for (struct store_watch **pw = &s->watches; *pw;) {
        struct store_watch *w = *pw;
        if (w->dead) {
            *pw = w->next;
            watch_free(w);
        } else {
            pw = &w->next;
        }
    }
    if (err) {
        log_error("store: watch delivery failed, retrying in 1 s: %s",
                  err == ENOMEM ? "out of memory" : s->err);
        schedule_delivery(s, 1);
    } else if (s->revision > upto) {
        schedule_delivery(s, 0);
    }
}

/* ---- open and close --------------------------------------------------------- */

static void sqlite_close(struct store *up)
{
    struct store_sqlite *s = sq(up);
    if (!s) {
        return;
    }
    while (s->watches) {
        struct store_watch *w = s->watches;
        s->watches = w->next;
        watch_free(w);
    }
    if (s->deliver_ev) {
        event_free(s->deliver_ev);
    }
    for (int i = 0; i < N_STMTS; i++) {
        sqlite3_finalize(s->st[i]);
    }
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* Creates the file with mode 0600 when absent (SQLite would use 0644), and
 * makes the new directory entry durable. */
static int create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            return 0;
        }
        int e = errno;
        snprintf(err, errlen, "cannot create store file %s: %s%s", path, strerror(e),
                 e == ENOENT ? " (create its directory first)" : "");
        return e;
    }
    close(fd);
    char *copy = strdup(path);
    if (!copy) {
        return ENOMEM;
    }
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* One text value of a pragma, checked against what it must be. */
static int pragma_expect(struct store_sqlite *s, const char *sql, const char *expect)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = sqlite3_extended_errcode(s->db);
        snprintf(s->err, sizeof(s->err), "%s: %s: %s", s->path, sql, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return (rc & 0xff) == SQLITE_BUSY ? EBUSY : EIO;
    }
    const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (expect && (!got || strcasecmp(got, expect))) {
        snprintf(s->err, sizeof(s->err), "%s: %s gave '%s', not '%s'", s->path, sql, got ? got : "",
                 expect);
        sqlite3_finalize(st);
        return EIO;
    }
    sqlite3_finalize(st);
    return 0;
}

/* Reads one meta value: 0, or ENOENT when absent. */
static int meta_get(struct store_sqlite *s, const char *name, uint64_t *num, char *text,
                    size_t textlen)
{
    sqlite3_stmt *st = s->st[ST_META_GET];
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (num) {
            *num = column_rev(st, 0);
        }
        if (text) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            snprintf(text, textlen, "%s", t ? t : "");
        }
    } else if (rc == SQLITE_DONE) {
        ret = ENOENT;
    } else {
        ret = fail(s, "reading the store's metadata");
    }
    sqlite3_reset(st);
    return ret;
}

static int new_epoch(struct store_sqlite *s)
{
    unsigned char r[8];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        snprintf(s->err, sizeof(s->err), "%s: getrandom for the epoch: %s", s->path,
                 strerror(errno));
        return EIO;
    }
    int len = snprintf(s->epoch, sizeof(s->epoch), "sqlite:");
    for (size_t i = 0; i < sizeof(r); i++) {
        len += snprintf(s->epoch + len, sizeof(s->epoch) - (size_t)len, "%02x", r[i]);
    }
    return 0;
}

/* Creates the tables of a new file and reads back the state of any file. */
static int load_schema(struct store_sqlite *s)
{
    uint64_t version = 0;
    int rc = run(s, ST_BEGIN, "starting the schema transaction");
    if (rc) {
        return rc;
    }
    rc = meta_get(s, "schema", &version, NULL, 0);
    if (rc == ENOENT) {
        sqlite3_stmt *st = s->st[ST_META_SET];
        rc = new_epoch(s);
        if (!rc) {
            bind_text(st, 1, "epoch");
            bind_text(st, 2, s->epoch);
            rc = run(s, ST_META_SET, "writing the epoch");
        }
        rc = rc ? rc : meta_set(s, "schema", SCHEMA_VERSION);
        rc = rc ? rc : meta_set(s, "revision", 0);
        rc = rc ? rc : meta_set(s, "compacted", 0);
        version = SCHEMA_VERSION;
    }
    if (!rc && version != SCHEMA_VERSION) {
        snprintf(s->err, sizeof(s->err),
                 "%s: store schema version %llu, this program knows version %d", s->path,
                 (unsigned long long)version, SCHEMA_VERSION);
        rc = EIO;
    }
    rc = rc ? rc : meta_get(s, "epoch", NULL, s->epoch, sizeof(s->epoch));
    rc = rc ? rc : meta_get(s, "revision", &s->revision, NULL, 0);
    rc = rc ? rc : meta_get(s, "compacted", &s->compacted, NULL, 0);
    if (rc == ENOENT) {
        snprintf(s->err, sizeof(s->err), "%s: the store's metadata is incomplete", s->path);
        rc = EIO;
    }
    rc = rc ? rc : run(s, ST_COMMIT, "committing the schema");
    if (rc) {
        rollback(s);
    }
    return rc;
}

static int open_db(struct store_sqlite *s, struct event_base *base)
{
    int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(s->err, sizeof(s->err), "%s: %s", s->path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return EIO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    int err = pragma_expect(s, "PRAGMA locking_mode=EXCLUSIVE", "exclusive");
    err = err ? err : pragma_expect(s, "PRAGMA journal_mode=WAL", "wal");
    err = err ? err : pragma_expect(s, "PRAGMA synchronous=FULL", NULL);
    err = err ? err : pragma_expect(s, "PRAGMA foreign_keys=OFF", NULL);
    if (err) {
        return err;
    }
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        return fail(s, "creating the tables");
    }
    for (int i = 0; i < N_STMTS; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            return fail(s, "preparing a statement");
        }
    }
    err = load_schema(s);
    if (err) {
        return err;
    }
    s->deliver_ev = evtimer_new(base, deliver_cb, s);
    if (!s->deliver_ev) {
        snprintf(s->err, sizeof(s->err), "%s: cannot make the watch event", s->path);
        return ENOMEM;
    }
    return 0;
}

static int sqlite_open(const char *location, struct event_base *base, struct store **out, char *err,
                       size_t errlen)
{
    if (location[0] == '\0') {
        snprintf(err, errlen,
                 "store URL 'sqlite:' names no file (e.g. sqlite:/var/lib/weft/store.db)");
        return EINVAL;
    }
    int rc = create_file(location, err, errlen);
    if (rc) {
        return rc;
    }
    struct store_sqlite *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(location))) {
        free(s);
        snprintf(err, errlen, "store %s: out of memory", location);
        return ENOMEM;
    }
    s->up.backend = &store_sqlite_backend;
    rc = open_db(s, base);
    if (rc) {
        if (rc == EBUSY || strstr(s->err, "locked")) {
            snprintf(err, errlen,
                     "store file %s is in use by another process (is another weft-controller "
                     "running on it?)",
                     location);
            rc = EBUSY;
        } else {
            snprintf(err, errlen, "%s", s->err);
        }
        sqlite_close(&s->up);
        return rc;
    }
    *out = &s->up;
    return 0;
}

/* ---- reads ------------------------------------------------------------------ */

static int sqlite_get(struct store *up, const char *key, struct store_kv *out)
{
    struct store_sqlite *s = sq(up);
    sqlite3_stmt *st = s->st[ST_GET];
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        out->key = strdup(key);
        out->value = strdup((const char *)sqlite3_column_text(st, 0));
        out->create_revision = column_rev(st, 1);
        out->mod_revision = column_rev(st, 2);
        if (!out->key || !out->value) {
            store_kv_free(out);
            ret = ENOMEM;
        }
    } else if (rc == SQLITE_DONE) {
        ret = ENOENT;
    } else {
        ret = fail(s, "reading a key");
    }
    sqlite3_reset(st);
    return ret;
}

static int sqlite_range(struct store *up, const char *prefix, struct store_kv_list *out,
                        uint64_t *revision)
{
    struct store_sqlite *s = sq(up);
    sqlite3_stmt *st = s->st[ST_RANGE];
    char *upper;
    size_t cap = 0;
    int rc, ret = prefix_upper(prefix, &upper);
    if (ret) {
        return ret;
    }
    bind_text(st, 1, prefix);
    bind_text(st, 2, upper);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct store_kv *grown = realloc(out->items, ncap * sizeof(*grown));
            if (!grown) {
                ret = ENOMEM;
                goto out;
            }
            out->items = grown;
            cap = ncap;
        }
        struct store_kv *kv = &out->items[out->n++];
        kv->key = strdup((const char *)sqlite3_column_text(st, 0));
        kv->value = strdup((const char *)sqlite3_column_text(st, 1));
        kv->create_revision = column_rev(st, 2);
        kv->mod_revision = column_rev(st, 3);
        if (!kv->key || !kv->value) {
            ret = ENOMEM;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        ret = fail(s, "reading a range of keys");
    }
out:
    sqlite3_reset(st);
    free(upper);
    if (ret) {
        store_kv_list_free(out);
    } else if (revision) {
        *revision = s->revision;
    }
    return ret;
}

/* ---- transactions ----------------------------------------------------------- */

static int check_compare(struct store_sqlite *s, const struct store_compare *c)
{
    sqlite3_stmt *st = s->st[ST_MOD_REV];
    bind_text(st, 1, c->key);
    int rc = sqlite3_step(st);
    uint64_t mod = rc == SQLITE_ROW ? column_rev(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return fail(s, "checking a compare");
    }
    return mod == c->mod_revision ? 0 : ECANCELED;
}

static int op_put(struct store_sqlite *s, const struct store_op *op, uint64_t rev)
{
    sqlite3_stmt *st = s->st[ST_PUT];
    bind_text(st, 1, op->key);
    bind_text(st, 2, op->value);
    bind_rev(st, 3, rev);
    int rc = sqlite3_step(st);
    uint64_t create = rc == SQLITE_ROW ? column_rev(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        return fail(s, "writing a key");
    }
    st = s->st[ST_LOG_PUT];
    bind_rev(st, 1, rev);
    bind_text(st, 2, op->key);
    bind_text(st, 3, op->value);
    bind_rev(st, 4, create);
    return run(s, ST_LOG_PUT, "logging a write");
}

static int op_delete(struct store_sqlite *s, const struct store_op *op, uint64_t rev, bool *changed)
{
    sqlite3_stmt *st = s->st[ST_DELETE];
    bind_text(st, 1, op->key);
    int rc = sqlite3_step(st);
    uint64_t create = rc == SQLITE_ROW ? column_rev(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        return 0;
    }
    if (rc != SQLITE_ROW) {
        return fail(s, "deleting a key");
    }
    *changed = true;
    st = s->st[ST_LOG_DELETE];
    bind_rev(st, 1, rev);
    bind_text(st, 2, op->key);
    bind_rev(st, 3, create);
    return run(s, ST_LOG_DELETE, "logging a delete");
}

static int op_delete_prefix(struct store_sqlite *s, const struct store_op *op, uint64_t rev,
                            bool *changed)
{
    char *upper;
    int rc = prefix_upper(op->key, &upper);
    if (rc) {
        return rc;
    }
    sqlite3_stmt *st = s->st[ST_LOG_DELETE_PREFIX];
    bind_rev(st, 1, rev);
    bind_text(st, 2, op->key);
    bind_text(st, 3, upper);
    rc = run(s, ST_LOG_DELETE_PREFIX, "logging a prefix delete");
    if (!rc) {
        st = s->st[ST_DELETE_PREFIX];
        bind_text(st, 1, op->key);
        bind_text(st, 2, upper);
        rc = run(s, ST_DELETE_PREFIX, "deleting a prefix");
        if (!rc && sqlite3_changes(s->db) > 0) {
            *changed = true;
        }
    }
    free(upper);
    return rc;
}

static int sqlite_txn(struct store *up, const struct store_txn *txn, uint64_t *revision)
{
    struct store_sqlite *s = sq(up);
    uint64_t rev = s->revision + 1;
    uint64_t compact_to = s->compacted;
    bool changed = false;
    int rc = run(s, ST_BEGIN, "starting a transaction");
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < txn->n_compares && !rc; i++) {
        rc = check_compare(s, &txn->compares[i]);
    }
    for (size_t i = 0; i < txn->n_ops && !rc; i++) {
        const struct store_op *op = &txn->ops[i];
        switch (op->type) {
        case STORE_OP_PUT:
            rc = op_put(s, op, rev);
            changed = true;
            break;
        case STORE_OP_DELETE:
            rc = op_delete(s, op, rev, &changed);
            break;
        case STORE_OP_DELETE_PREFIX:
            rc = op_delete_prefix(s, op, rev, &changed);
            break;
        }
    }
    if (rc || !changed) {
        goto rollback;
    }
    rc = meta_set(s, "revision", rev);
    if (!rc && rev - s->compacted >= STORE_SQLITE_KEEP_REVISIONS + STORE_SQLITE_COMPACT_STEP) {
        uint64_t target = compact_floor(s, rev - STORE_SQLITE_KEEP_REVISIONS);
        if (target > s->compacted) {
            rc = compact_in_txn(s, target);
            compact_to = target;
        }
    }
    rc = rc ? rc : run(s, ST_COMMIT, "committing a transaction");
    if (rc) {
        goto rollback;
    }
    s->revision = rev;
    s->compacted = compact_to;
    if (s->watches) {
        schedule_delivery(s, 0);
    }
    if (revision) {
        *revision = rev;
    }
    return 0;
rollback:
    rollback(s);
    if ((!rc || rc == ECANCELED) && revision) {
        *revision = s->revision;
    }
    return rc;
}

/* ---- watches and compaction ------------------------------------------------ */

static int sqlite_watch(struct store *up, const char *prefix, uint64_t after_revision,
                        store_watch_fn *fn, void *ctx, struct store_watch **out)
{
    struct store_sqlite *s = sq(up);
    if (after_revision < s->compacted) {
        snprintf(s->err, sizeof(s->err),
                 "%s: a watch from revision %llu: the log is compacted up to %llu", s->path,
                 (unsigned long long)after_revision, (unsigned long long)s->compacted);
        return ESTALE;
    }
    struct store_watch *w = calloc(1, sizeof(*w));
    if (!w || !(w->prefix = strdup(prefix)) || prefix_upper(prefix, &w->upper)) {
        if (w) {
            free(w->prefix);
        }
        free(w);
        return ENOMEM;
    }
    w->delivered = after_revision;
    w->fn = fn;
    w->ctx = ctx;
    struct store_watch **tail = &s->watches;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = w;
    if (after_revision < s->revision) {
        schedule_delivery(s, 0);
    }
    *out = w;
    return 0;
}

static void sqlite_unwatch(struct store *up, struct store_watch *w)
{
    struct store_sqlite *s = sq(up);
    if (s->delivering) {
        w->dead = true;
        return;
    }
    for (struct store_watch **pw = &s->watches; *pw; pw = &(*pw)->next) {
        if (*pw == w) {
            *pw = w->next;
            watch_free(w);
            return;
        }
    }
}

static int sqlite_compact(struct store *up, uint64_t revision)
{
    struct store_sqlite *s = sq(up);
    if (revision > s->revision) {
        snprintf(s->err, sizeof(s->err), "%s: cannot compact to %llu, beyond revision %llu",
                 s->path, (unsigned long long)revision, (unsigned long long)s->revision);
        return EINVAL;
    }
    uint64_t target = compact_floor(s, revision);
    if (target <= s->compacted) {
        return 0;
    }
    int rc = run(s, ST_BEGIN, "starting a compaction");
    if (rc) {
        return rc;
    }
    rc = compact_in_txn(s, target);
    rc = rc ? rc : run(s, ST_COMMIT, "committing a compaction");
    if (rc) {
        rollback(s);
        return rc;
    }
    s->compacted = target;
    return 0;
}

static uint64_t sqlite_revision(const struct store *s)
{
    return sq_const(s)->revision;
}

static uint64_t sqlite_compacted(const struct store *s)
{
    return sq_const(s)->compacted;
}

static const char *sqlite_epoch(const struct store *s)
{
    return sq_const(s)->epoch;
}

static const char *sqlite_errmsg(const struct store *s)
{
    return sq_const(s)->err;
}

const struct store_backend store_sqlite_backend = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .get = sqlite_get,
    .range = sqlite_range,
    .txn = sqlite_txn,
    .watch = sqlite_watch,
    .unwatch = sqlite_unwatch,
    .compact = sqlite_compact,
    .revision = sqlite_revision,
    .compacted = sqlite_compacted,
    .epoch = sqlite_epoch,
    .errmsg = sqlite_errmsg,
};
