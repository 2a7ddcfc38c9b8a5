/*
 * test_store.c - unit tests of the controller's store (src/controller/store.h)
 * over its SQLite backend: real files in a fresh temporary directory per test,
 * a real libevent loop to deliver watches.
 *
 * Covered: reads and ranges, revisions, compare-and-swap, prefix deletes,
 * transactions that change nothing, watches (replay, live, prefix filter,
 * whole transactions per call, compaction, unwatch and writes from inside a
 * callback), reopening, epochs, the file lock, bad arguments, and durability
 * against kill -9 in the middle of a stream of acknowledged writes.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "controller/store.h"

/* ---- fixture: a temporary directory, a loop, an open store ----------------- */

struct fix {
    char dir[64];
    char path[128];
    char url[160];
    struct event_base *base;
    struct store *s;
};

static void open_store(struct fix *f)
{
    char err[256] = "";
    int rc = store_open(f->url, f->base, &f->s, err, sizeof(err));
    if (rc) {
        fail_msg("store_open(%s): %d %s", f->url, rc, err);
    }
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/weft-test-store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
    f->base = event_base_new();
    assert_non_null(f->base);
    open_store(f);
    *state = f;
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fix *f = *state;
    store_close(f->s);
    event_base_free(f->base);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* Runs the loop without blocking until nothing is left to deliver. */
static void pump(struct fix *f)
{
    for (int i = 0; i < 8; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    }
}

static void put(struct fix *f, const char *key, const char *value, uint64_t expect_rev)
{
    uint64_t rev = 0;
    assert_int_equal(store_put(f->s, key, value, &rev), 0);
    assert_int_equal(rev, expect_rev);
}

static void assert_value(struct fix *f, const char *key, const char *value)
{
    struct store_kv kv;
    assert_int_equal(store_get(f->s, key, &kv), 0);
    assert_string_equal(kv.key, key);
    assert_string_equal(kv.value, value);
    store_kv_free(&kv);
}

static void assert_absent(struct fix *f, const char *key)
{
    struct store_kv kv;
    assert_int_equal(store_get(f->s, key, &kv), ENOENT);
}

/* ---- a watch recorder -------------------------------------------------------- */

#define MAX_SEEN 10000

struct seen {
    struct fix *f;
    struct store_watch *w;
    size_t n;
    size_t calls;
    struct {
        enum store_event_type type;
        char key[64];
        char value[64];
        uint64_t create_rev, mod_rev;
        size_t call; /* which call delivered it */
    } ev[MAX_SEEN];
    uint64_t call_rev[64]; /* the revision argument of the first calls */
    /* Optional behaviour from inside the callback. */
    bool unwatch_self;
    struct seen *unwatch_other;
    bool answer; /* put /resp/X for each /req/X */
};

static void record(const struct store_event *events, size_t n, uint64_t revision, void *ctx)
{
    struct seen *sn = ctx;
    assert_true(n > 0);
    assert_int_equal(events[n - 1].kv.mod_revision, revision);
    if (sn->calls < 64) {
        sn->call_rev[sn->calls] = revision;
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(sn->n < MAX_SEEN);
        if (i > 0) {
            assert_true(events[i].kv.mod_revision >= events[i - 1].kv.mod_revision);
        }
        if (sn->n > 0) {
            assert_true(events[i].kv.mod_revision >= sn->ev[sn->n - 1].mod_rev);
        }
        sn->ev[sn->n].type = events[i].type;
        snprintf(sn->ev[sn->n].key, sizeof(sn->ev[0].key), "%s", events[i].kv.key);
        snprintf(sn->ev[sn->n].value, sizeof(sn->ev[0].value), "%s",
                 events[i].kv.value ? events[i].kv.value : "(null)");
        sn->ev[sn->n].create_rev = events[i].kv.create_revision;
        sn->ev[sn->n].mod_rev = events[i].kv.mod_revision;
        sn->ev[sn->n].call = sn->calls;
        sn->n++;
        if (sn->answer && !strncmp(events[i].kv.key, "/req/", 5)) {
            char key[64];
            snprintf(key, sizeof(key), "/resp/%s", events[i].kv.key + 5);
            assert_int_equal(store_put(sn->f->s, key, "\"done\"", NULL), 0);
        }
    }
    sn->calls++;
    if (sn->unwatch_self) {
        store_unwatch(sn->f->s, sn->w);
        sn->w = NULL;
    }
    if (sn->unwatch_other && sn->unwatch_other->w) {
        store_unwatch(sn->f->s, sn->unwatch_other->w);
        sn->unwatch_other->w = NULL;
    }
}

static struct seen *watch(struct fix *f, const char *prefix, uint64_t after)
{
    struct seen *sn = calloc(1, sizeof(*sn));
    assert_non_null(sn);
    sn->f = f;
    assert_int_equal(store_watch(f->s, prefix, after, record, sn, &sn->w), 0);
    return sn;
}

static void seen_free(struct fix *f, struct seen *sn)
{
    store_unwatch(f->s, sn->w);
    free(sn);
}

static void assert_event(const struct seen *sn, size_t i, enum store_event_type type,
                         const char *key, const char *value, uint64_t mod_rev)
{
    assert_true(i < sn->n);
    assert_int_equal(sn->ev[i].type, type);
    assert_string_equal(sn->ev[i].key, key);
    assert_string_equal(sn->ev[i].value, value ? value : "(null)");
    assert_int_equal(sn->ev[i].mod_rev, mod_rev);
}

/* ---- reads, writes, revisions ------------------------------------------------ */

static void test_put_get_range(void **state)
{
    struct fix *f = *state;
    assert_int_equal(store_revision(f->s), 0);
    put(f, "/a/1", "1", 1);
    put(f, "/a/2", "2", 2);
    put(f, "/b/1", "\"b\"", 3);
    put(f, "/a", "\"parent\"", 4);
    assert_value(f, "/a/1", "1");
    assert_absent(f, "/a/3");

    struct store_kv_list l;
    uint64_t rev = 0;
    assert_int_equal(store_range(f->s, "/a/", &l, &rev), 0);
    assert_int_equal(rev, 4);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].key, "/a/1");
    assert_string_equal(l.items[1].key, "/a/2");
    assert_string_equal(l.items[1].value, "2");
    store_kv_list_free(&l);
    assert_null(l.items);
    assert_int_equal(l.n, 0);

    assert_int_equal(store_range(f->s, "", &l, NULL), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.items[0].key, "/a");
    assert_string_equal(l.items[3].key, "/b/1");
    store_kv_list_free(&l);

    assert_int_equal(store_range(f->s, "/nothing/", &l, NULL), 0);
    assert_int_equal(l.n, 0);
    store_kv_list_free(&l);
    store_kv_list_free(NULL);
}

static void test_create_mod_revision(void **state)
{
    struct fix *f = *state;
    put(f, "/k", "1", 1);
    put(f, "/other", "1", 2);
    put(f, "/k", "2", 3);
    struct store_kv kv;
    assert_int_equal(store_get(f->s, "/k", &kv), 0);
    assert_int_equal(kv.create_revision, 1);
    assert_int_equal(kv.mod_revision, 3);
    assert_string_equal(kv.value, "2");
    store_kv_free(&kv);

    /* Deleted and written again, the key is new. */
    uint64_t rev;
    assert_int_equal(store_delete(f->s, "/k", &rev), 0);
    assert_int_equal(rev, 4);
    put(f, "/k", "3", 5);
    assert_int_equal(store_get(f->s, "/k", &kv), 0);
    assert_int_equal(kv.create_revision, 5);
    assert_int_equal(kv.mod_revision, 5);
    store_kv_free(&kv);
}

static void test_cas(void **state)
{
    struct fix *f = *state;
    uint64_t rev = 0;
    assert_int_equal(store_put_if(f->s, "/lock", "\"a\"", 0, &rev), 0);
    assert_int_equal(rev, 1);
    /* Absent expected, present found: refused, nothing written, revision given. */
    rev = 0;
    assert_int_equal(store_put_if(f->s, "/lock", "\"b\"", 0, &rev), ECANCELED);
    assert_int_equal(rev, 1);
    assert_value(f, "/lock", "\"a\"");
    assert_int_equal(store_put_if(f->s, "/lock", "\"b\"", 7, NULL), ECANCELED);
    assert_int_equal(store_put_if(f->s, "/lock", "\"b\"", 1, &rev), 0);
    assert_int_equal(rev, 2);
    assert_value(f, "/lock", "\"b\"");

    /* A multi-op transaction with one failing compare writes nothing. */
    const struct store_compare cmp[] = {{"/lock", 2}, {"/absent", 1}};
    const struct store_op ops[] = {
        {STORE_OP_PUT, "/x", "1"},
        {STORE_OP_DELETE, "/lock", NULL},
    };
    const struct store_txn txn = {cmp, 2, ops, 2};
    assert_int_equal(store_txn(f->s, &txn, &rev), ECANCELED);
    assert_int_equal(rev, 2);
    assert_int_equal(store_revision(f->s), 2);
    assert_absent(f, "/x");
    assert_value(f, "/lock", "\"b\"");

    /* With both compares holding ("/absent" must not exist), all of it happens. */
    const struct store_compare ok[] = {{"/lock", 2}, {"/absent", 0}};
    const struct store_txn txn2 = {ok, 2, ops, 2};
    assert_int_equal(store_txn(f->s, &txn2, &rev), 0);
    assert_int_equal(rev, 3);
    assert_value(f, "/x", "1");
    assert_absent(f, "/lock");
}

static void test_delete_prefix(void **state)
{
    struct fix *f = *state;
    put(f, "/x/1", "1", 1);
    put(f, "/x/2", "2", 2);
    put(f, "/xy", "3", 3);
    put(f, "/y", "4", 4);
    const struct store_op op = {STORE_OP_DELETE_PREFIX, "/x/", NULL};
    const struct store_txn txn = {NULL, 0, &op, 1};
    uint64_t rev = 0;
    assert_int_equal(store_txn(f->s, &txn, &rev), 0);
    assert_int_equal(rev, 5);
    assert_absent(f, "/x/1");
    assert_absent(f, "/x/2");
    assert_value(f, "/xy", "3");
    assert_value(f, "/y", "4");
    /* Again: nothing to delete, no new revision. */
    assert_int_equal(store_txn(f->s, &txn, &rev), 0);
    assert_int_equal(rev, 5);
}

static void test_noop_txn_keeps_revision(void **state)
{
    struct fix *f = *state;
    put(f, "/a", "1", 1);
    uint64_t rev = 0;
    assert_int_equal(store_delete(f->s, "/absent", &rev), 0);
    assert_int_equal(rev, 1);
    const struct store_txn empty = {0};
    assert_int_equal(store_txn(f->s, &empty, &rev), 0);
    assert_int_equal(rev, 1);
    const struct store_compare cmp = {"/a", 1};
    const struct store_op ops[] = {{STORE_OP_DELETE, "/b", NULL},
                                   {STORE_OP_DELETE_PREFIX, "/c/", NULL}};
    const struct store_txn txn = {&cmp, 1, ops, 2};
    assert_int_equal(store_txn(f->s, &txn, &rev), 0);
    assert_int_equal(rev, 1);
    assert_int_equal(store_revision(f->s), 1);

    /* And a watcher hears nothing of it. */
    struct seen *sn = watch(f, "", 1);
    assert_int_equal(store_txn(f->s, &txn, NULL), 0);
    pump(f);
    assert_int_equal(sn->n, 0);
    seen_free(f, sn);
}

/* ---- watches ------------------------------------------------------------------ */

static void test_watch_replay_then_live(void **state)
{
    struct fix *f = *state;
    put(f, "/w/1", "1", 1);
    put(f, "/z/1", "1", 2);
    put(f, "/w/2", "2", 3);
    assert_int_equal(store_delete(f->s, "/w/1", NULL), 0); /* 4 */

    struct seen *all = watch(f, "/w/", 0);
    struct seen *late = watch(f, "/w/", 3);
    /* Nothing before the loop runs. */
    assert_int_equal(all->n, 0);
    pump(f);
    assert_int_equal(all->n, 3);
    assert_event(all, 0, STORE_EVENT_PUT, "/w/1", "1", 1);
    assert_event(all, 1, STORE_EVENT_PUT, "/w/2", "2", 3);
    assert_event(all, 2, STORE_EVENT_DELETE, "/w/1", NULL, 4);
    assert_int_equal(all->ev[2].create_rev, 1);
    assert_int_equal(late->n, 1);
    assert_event(late, 0, STORE_EVENT_DELETE, "/w/1", NULL, 4);

    /* Live: a transaction of three keys (two under /w/), then another. */
    const struct store_op ops[] = {
        {STORE_OP_PUT, "/w/b", "\"b\""},
        {STORE_OP_PUT, "/z/2", "2"},
        {STORE_OP_PUT, "/w/a", "\"a\""},
    };
    const struct store_txn txn = {NULL, 0, ops, 3};
    assert_int_equal(store_txn(f->s, &txn, NULL), 0); /* 5 */
    put(f, "/w/2", "22", 6);
    assert_int_equal(all->n, 3); /* never inside store_txn() */
    pump(f);
    assert_int_equal(all->n, 6);
    assert_event(all, 3, STORE_EVENT_PUT, "/w/a", "\"a\"", 5);
    assert_event(all, 4, STORE_EVENT_PUT, "/w/b", "\"b\"", 5);
    assert_event(all, 5, STORE_EVENT_PUT, "/w/2", "22", 6);
    assert_int_equal(all->ev[5].create_rev, 3);
    assert_int_equal(all->ev[3].call, all->ev[4].call);
    assert_int_equal(late->n, 4);

    /* Nothing more arrives when nothing changes. */
    pump(f);
    assert_int_equal(all->n, 6);
    seen_free(f, all);
    seen_free(f, late);
}

static void test_watch_big_transactions_whole(void **state)
{
    struct fix *f = *state;
    char key[32];
    /* 3000 keys in one transaction, then 3000 one-key transactions. */
    struct store_op *ops = calloc(3000, sizeof(*ops));
    char(*keys)[24] = calloc(3000, 24);
    assert_non_null(ops);
    assert_non_null(keys);
    for (int i = 0; i < 3000; i++) {
        snprintf(keys[i], 24, "/big/%05d", i);
        ops[i] = (struct store_op){STORE_OP_PUT, keys[i], "1"};
    }
    const struct store_txn txn = {NULL, 0, ops, 3000};
    struct seen *sn = watch(f, "/", 0);
    assert_int_equal(store_txn(f->s, &txn, NULL), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "/small/%05d", i);
        put(f, key, "2", (uint64_t)i + 2);
    }
    pump(f);
    assert_int_equal(sn->n, 6000);
    /* The big transaction came in one call; every call ends at a whole
     * transaction, so the revision changes exactly where calls change. */
    for (size_t i = 1; i < 3000; i++) {
        assert_int_equal(sn->ev[i].call, sn->ev[0].call);
    }
    assert_true(sn->calls > 2);
    for (size_t i = 1; i < sn->n; i++) {
        if (sn->ev[i].call != sn->ev[i - 1].call) {
            assert_true(sn->ev[i].mod_rev > sn->ev[i - 1].mod_rev);
        }
    }
    /* A prefix delete of all of them is one transaction's events, together. */
    const struct store_op del = {STORE_OP_DELETE_PREFIX, "/big/", NULL};
    const struct store_txn deltxn = {NULL, 0, &del, 1};
    size_t before = sn->n, calls = sn->calls;
    assert_int_equal(store_txn(f->s, &deltxn, NULL), 0);
    pump(f);
    assert_int_equal(sn->n, before + 3000);
    assert_int_equal(sn->calls, calls + 1);
    assert_event(sn, before, STORE_EVENT_DELETE, "/big/00000", NULL, 3002);
    seen_free(f, sn);
    free(ops);
    free(keys);
}

static void test_watch_compacted_is_estale(void **state)
{
    struct fix *f = *state;
    char key[16];
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof(key), "/c/%d", i);
        put(f, key, "1", (uint64_t)i);
    }
    assert_int_equal(store_compact(f->s, 3), 0);
    assert_int_equal(store_compacted(f->s), 3);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->s, "/c/", 2, record, NULL, &w), ESTALE);
    assert_null(w);
    struct seen *sn = watch(f, "/c/", 3);
    pump(f);
    assert_int_equal(sn->n, 2);
    assert_event(sn, 0, STORE_EVENT_PUT, "/c/4", "1", 4);
    assert_event(sn, 1, STORE_EVENT_PUT, "/c/5", "1", 5);
    /* Beyond the revision: refused; backwards: nothing to do. */
    assert_int_equal(store_compact(f->s, 6), EINVAL);
    assert_int_equal(store_compact(f->s, 2), 0);
    assert_int_equal(store_compacted(f->s), 3);

    /* A watch not yet given revision 6 holds compaction back below it. */
    put(f, "/c/6", "1", 6);
    assert_int_equal(store_compact(f->s, 6), 0);
    assert_int_equal(store_compacted(f->s), 5);
    pump(f);
    assert_int_equal(sn->n, 3);
    assert_int_equal(store_compact(f->s, 6), 0);
    assert_int_equal(store_compacted(f->s), 6);
    seen_free(f, sn);
}

static void test_unwatch_in_callback(void **state)
{
    struct fix *f = *state;
    struct seen *self = watch(f, "/u/", 0);
    struct seen *killer = watch(f, "/u/", 0);
    struct seen *victim = watch(f, "/u/", 0);
    self->unwatch_self = true;
    killer->unwatch_other = victim;
    const struct store_op ops[] = {{STORE_OP_PUT, "/u/1", "1"}, {STORE_OP_PUT, "/u/2", "2"}};
    const struct store_txn txn = {NULL, 0, ops, 2};
    assert_int_equal(store_txn(f->s, &txn, NULL), 0);
    pump(f);
    assert_int_equal(self->calls, 1);
    assert_int_equal(self->n, 2);
    assert_null(self->w);
    assert_int_equal(killer->calls, 1);
    assert_int_equal(victim->calls, 0); /* unwatched before its turn */
    put(f, "/u/3", "3", 2);
    pump(f);
    assert_int_equal(self->calls, 1);
    assert_int_equal(killer->calls, 2);
    assert_int_equal(victim->calls, 0);
    seen_free(f, self);
    seen_free(f, killer);
    seen_free(f, victim);
}

static void test_callback_writes(void **state)
{
    struct fix *f = *state;
    struct seen *server = watch(f, "/req/", 0);
    struct seen *client = watch(f, "/resp/", 0);
    server->answer = true;
    put(f, "/req/1", "1", 1);
    put(f, "/req/2", "2", 2);
    pump(f);
    assert_value(f, "/resp/1", "\"done\"");
    assert_value(f, "/resp/2", "\"done\"");
    assert_int_equal(server->n, 2);
    assert_int_equal(client->n, 2);
    assert_event(client, 0, STORE_EVENT_PUT, "/resp/1", "\"done\"", 3);
    assert_event(client, 1, STORE_EVENT_PUT, "/resp/2", "\"done\"", 4);
    seen_free(f, server);
    seen_free(f, client);
}

/* A watch made inside a callback gets its replay too. */
static struct seen *nested_watch;

static void make_watch(const struct store_event *events, size_t n, uint64_t revision, void *ctx)
{
    (void)events;
    (void)n;
    (void)revision;
    struct fix *f = ctx;
    if (!nested_watch) {
        nested_watch = watch(f, "/n/", 0);
    }
}

static void test_watch_from_callback(void **state)
{
    struct fix *f = *state;
    struct store_watch *w;
    nested_watch = NULL;
    assert_int_equal(store_watch(f->s, "/trigger", 0, make_watch, f, &w), 0);
    put(f, "/n/1", "1", 1);
    put(f, "/trigger", "1", 2);
    pump(f);
    assert_non_null(nested_watch);
    assert_int_equal(nested_watch->n, 1);
    assert_event(nested_watch, 0, STORE_EVENT_PUT, "/n/1", "1", 1);
    store_unwatch(f->s, w);
    seen_free(f, nested_watch);
}

/* ---- the file ------------------------------------------------------------------ */

static void test_reopen_keeps_everything(void **state)
{
    struct fix *f = *state;
    put(f, "/p/1", "1", 1);
    put(f, "/p/2", "2", 2);
    assert_int_equal(store_delete(f->s, "/p/1", NULL), 0);
    assert_int_equal(store_compact(f->s, 1), 0);
    char epoch[64];
    snprintf(epoch, sizeof(epoch), "%s", store_epoch(f->s));
    assert_int_equal(strlen(epoch), strlen("sqlite:") + 16);
    assert_int_equal(strncmp(epoch, "sqlite:", 7), 0);
    assert_int_equal(strspn(epoch + 7, "0123456789abcdef"), 16);

    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    store_close(f->s);
    open_store(f);
    assert_int_equal(store_revision(f->s), 3);
    assert_int_equal(store_compacted(f->s), 1);
    assert_string_equal(store_epoch(f->s), epoch);
    assert_absent(f, "/p/1");
    assert_value(f, "/p/2", "2");
    /* The log survived too: a watch from 1 replays 2 and 3. */
    struct seen *sn = watch(f, "/p/", 1);
    pump(f);
    assert_int_equal(sn->n, 2);
    assert_event(sn, 1, STORE_EVENT_DELETE, "/p/1", NULL, 3);
    seen_free(f, sn);
    put(f, "/p/3", "3", 4);

    /* A new file is a new history. */
    char url[160], err[256];
    struct store *other;
    snprintf(url, sizeof(url), "sqlite:%s/other.db", f->dir);
    assert_int_equal(store_open(url, f->base, &other, err, sizeof(err)), 0);
    assert_string_not_equal(store_epoch(other), epoch);
    assert_int_equal(store_revision(other), 0);
    store_close(other);
}

static void test_second_open_is_busy(void **state)
{
    struct fix *f = *state;
    put(f, "/a", "1", 1);
    struct store *again = NULL;
    char err[256] = "";
    assert_int_equal(store_open(f->url, f->base, &again, err, sizeof(err)), EBUSY);
    assert_null(again);
    assert_non_null(strstr(err, "in use"));
    /* The first one is unharmed. */
    put(f, "/b", "1", 2);
}

static void test_bad_arguments(void **state)
{
    struct fix *f = *state;
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open("no-scheme", f->base, &s, err, sizeof(err)), EINVAL);
    assert_non_null(strstr(err, "SCHEME:LOCATION"));
    assert_int_equal(store_open("etcd2:x", f->base, &s, err, sizeof(err)), EINVAL);
    assert_non_null(strstr(err, "unknown scheme"));
    assert_int_equal(store_open("sqlite:", f->base, &s, err, sizeof(err)), EINVAL);
    assert_int_equal(store_open(f->url, NULL, &s, err, sizeof(err)), EINVAL);
    assert_int_equal(
        store_open("sqlite:/nonexistent-dir/x/store.db", f->base, &s, err, sizeof(err)), ENOENT);
    assert_non_null(strstr(err, "directory"));
    assert_null(s);

    /* A file that is not a database. */
    char path[160], url[170];
    snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, just text long enough to be a header......\n", fp);
    fclose(fp);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    assert_int_equal(store_open(url, f->base, &s, err, sizeof(err)), EIO);
    assert_non_null(strstr(err, path));

    struct store_kv kv;
    assert_int_equal(store_put(f->s, "", "1", NULL), EINVAL);
    assert_int_equal(store_put(f->s, NULL, "1", NULL), EINVAL);
    assert_int_equal(store_put(f->s, "/k", NULL, NULL), EINVAL);
    assert_int_equal(store_get(f->s, "", &kv), EINVAL);
    assert_int_equal(store_delete(f->s, "", NULL), EINVAL);
    const struct store_op all = {STORE_OP_DELETE_PREFIX, "", NULL};
    const struct store_txn txn = {NULL, 0, &all, 1};
    assert_int_equal(store_txn(f->s, &txn, NULL), EINVAL);
    const struct store_op bad_type = {(enum store_op_type)42, "/k", "1"};
    const struct store_txn txn2 = {NULL, 0, &bad_type, 1};
    assert_int_equal(store_txn(f->s, &txn2, NULL), EINVAL);
    const struct store_txn txn3 = {NULL, 1, NULL, 0};
    assert_int_equal(store_txn(f->s, &txn3, NULL), EINVAL);
    const struct store_compare nokey = {"", 0};
    const struct store_txn txn4 = {&nokey, 1, NULL, 0};
    assert_int_equal(store_txn(f->s, &txn4, NULL), EINVAL);
    struct store_watch *w;
    assert_int_equal(store_watch(f->s, "/", 0, NULL, NULL, &w), EINVAL);
    assert_int_equal(store_watch(f->s, NULL, 0, record, NULL, &w), EINVAL);
    assert_int_equal(store_revision(f->s), 0);
    store_close(NULL);
    store_unwatch(f->s, NULL);
    store_kv_free(NULL);
}

/* ---- durability: kill -9 in the middle of acknowledged writes ----------------- */

#define DUR_GROUP 5 /* every fifth transaction writes three keys */

static void durability_child(const char *url, int ack_fd)
{
    struct event_base *base = event_base_new();
    struct store *s;
    char err[256];
    if (!base || store_open(url, base, &s, err, sizeof(err))) {
        _exit(2);
    }
    for (uint32_t i = 0;; i++) {
        char a[32], b[32], c[32];
        snprintf(a, sizeof(a), "/d/%06u/a", i);
        snprintf(b, sizeof(b), "/d/%06u/b", i);
        snprintf(c, sizeof(c), "/d/%06u/c", i);
        const struct store_op ops[] = {
            {STORE_OP_PUT, a, "1"}, {STORE_OP_PUT, b, "2"}, {STORE_OP_PUT, c, "3"}};
        const struct store_txn txn = {NULL, 0, ops, i % DUR_GROUP == DUR_GROUP - 1 ? 3 : 1};
        if (store_txn(s, &txn, NULL)) {
            _exit(3);
        }
        if (write(ack_fd, &i, sizeof(i)) != (ssize_t)sizeof(i)) {
            _exit(4);
        }
    }
}

static void test_durability_kill9(void **state)
{
    struct fix *f = *state;
    store_close(f->s); /* the child takes the file's lock */
    f->s = NULL;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        durability_child(f->url, p[1]);
    }
    close(p[1]);
    uint32_t ack, last = 0, count = 0;
    while (read(p[0], &ack, sizeof(ack)) == (ssize_t)sizeof(ack)) {
        assert_int_equal(ack, count);
        last = ack;
        if (++count == 300) {
            kill(pid, SIGKILL); /* lands wherever the child is: often mid-commit */
        }
    }
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(count >= 300);

    open_store(f);
    /* Every acknowledged transaction is there, whole; at most one more. */
    uint64_t rev = store_revision(f->s);
    assert_true(rev == (uint64_t)last + 1 || rev == (uint64_t)last + 2);
    struct store_kv_list l;
    assert_int_equal(store_range(f->s, "/d/", &l, NULL), 0);
    size_t expect = 0;
    for (uint64_t i = 0; i < rev; i++) {
        expect += i % DUR_GROUP == DUR_GROUP - 1 ? 3 : 1;
    }
    assert_int_equal(l.n, expect);
    for (size_t i = 0; i < l.n; i++) {
        unsigned txn_no;
        char which;
        assert_int_equal(sscanf(l.items[i].key, "/d/%6u/%c", &txn_no, &which), 2);
        assert_true(txn_no < rev);
        assert_int_equal(l.items[i].mod_revision, txn_no + 1);
    }
    store_kv_list_free(&l);
    /* And the store goes on from there. */
    put(f, "/after", "1", rev + 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_get_range),
        T(test_create_mod_revision),
        T(test_cas),
        T(test_delete_prefix),
        T(test_noop_txn_keeps_revision),
        T(test_watch_replay_then_live),
        T(test_watch_big_transactions_whole),
        T(test_watch_compacted_is_estale),
        T(test_unwatch_in_callback),
        T(test_callback_writes),
        T(test_watch_from_callback),
        T(test_reopen_keeps_everything),
        T(test_second_open_is_busy),
        T(test_bad_arguments),
        T(test_durability_kill9),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
