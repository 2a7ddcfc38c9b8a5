/*
 * store.c - the store's API (store.h): picks the backend by the URL's scheme,
 * checks every argument once here so that backends can trust them, and
 * builds the one-op shorthands on store_txn().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"

static const struct store_backend *const backends[] = {
    &store_sqlite_backend,
};

int store_open(const char *url, struct event_base *base, struct store **out, char *err,
               size_t errlen)
{
    if (!url || !base || !out || (!err && errlen)) {
        if (err && errlen) {
            snprintf(err, errlen, "store_open: missing URL, event base or result pointer");
        }
        return EINVAL;
    }
    *out = NULL;
    const char *colon = strchr(url, ':');
    if (!colon || colon == url || colon[1] == '\0') {
        snprintf(err, errlen,
                 "store URL '%s' is not SCHEME:LOCATION (e.g. sqlite:/var/lib/weft/store.db)", url);
        return EINVAL;
    }
    size_t scheme_len = (size_t)(colon - url);
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        const struct store_backend *b = backends[i];
        if (strlen(b->scheme) == scheme_len && !memcmp(b->scheme, url, scheme_len)) {
            return b->open(colon + 1, base, out, err, errlen);
        }
    }
    snprintf(err, errlen, "store URL '%s': unknown scheme '%.*s' (known: sqlite)", url,
             (int)scheme_len, url);
    return EINVAL;
}

void store_close(struct store *s)
{
    if (s) {
        s->backend->close(s);
    }
}

void store_kv_free(struct store_kv *kv)
{
    if (kv) {
        free(kv->key);
        free(kv->value);
        memset(kv, 0, sizeof(*kv));
    }
}

void store_kv_list_free(struct store_kv_list *list)
{
    if (!list) {
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        store_kv_free(&list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static bool key_ok(const char *key)
{
    return key && key[0] != '\0';
}

int store_get(struct store *s, const char *key, struct store_kv *out)
{
    if (!s || !key_ok(key) || !out) {
        return EINVAL;
    }
    memset(out, 0, sizeof(*out));
    return s->backend->get(s, key, out);
}

int store_range(struct store *s, const char *prefix, struct store_kv_list *out, uint64_t *revision)
{
    if (!s || !prefix || !out) {
        return EINVAL;
    }
    out->items = NULL;
    out->n = 0;
    return s->backend->range(s, prefix, out, revision);
}

/* Every key named, every value of a put present, every op known; deleting a
 * prefix of "" (everything) is refused as almost certainly a bug. */
static bool txn_ok(const struct store_txn *txn)
{
    if ((txn->n_compares && !txn->compares) || (txn->n_ops && !txn->ops)) {
        return false;
    }
    for (size_t i = 0; i < txn->n_compares; i++) {
        if (!key_ok(txn->compares[i].key)) {
            return false;
        }
    }
    for (size_t i = 0; i < txn->n_ops; i++) {
        const struct store_op *op = &txn->ops[i];
        if (!key_ok(op->key)) {
            return false;
        }
        switch (op->type) {
        case STORE_OP_PUT:
            if (!op->value) {
                return false;
            }
            break;
        case STORE_OP_DELETE:
        case STORE_OP_DELETE_PREFIX:
            break;
        default:
            return false;
        }
    }
    return true;
}

int store_txn(struct store *s, const struct store_txn *txn, uint64_t *revision)
{
    if (!s || !txn || !txn_ok(txn)) {
        return EINVAL;
    }
    return s->backend->txn(s, txn, revision);
}

int store_put(struct store *s, const char *key, const char *value, uint64_t *revision)
{
    struct store_op op = {.type = STORE_OP_PUT, .key = key, .value = value};
    struct store_txn txn = {.ops = &op, .n_ops = 1};
    return store_txn(s, &txn, revision);
}

int store_put_if(struct store *s, const char *key, const char *value, uint64_t expected,
                 uint64_t *revision)
{
    struct store_compare cmp = {.key = key, .mod_revision = expected};
    struct store_op op = {.type = STORE_OP_PUT, .key = key, .value = value};
    struct store_txn txn = {.compares = &cmp, .n_compares = 1, .ops = &op, .n_ops = 1};
    return store_txn(s, &txn, revision);
}

int store_delete(struct store *s, const char *key, uint64_t *revision)
{
    struct store_op op = {.type = STORE_OP_DELETE, .key = key};
    struct store_txn txn = {.ops = &op, .n_ops = 1};
    return store_txn(s, &txn, revision);
}

int store_watch(struct store *s, const char *prefix, uint64_t after_revision, store_watch_fn *fn,
                void *ctx, struct store_watch **out)
{
    if (!s || !prefix || !fn || !out) {
        return EINVAL;
    }
    *out = NULL;
    return s->backend->watch(s, prefix, after_revision, fn, ctx, out);
}

void store_unwatch(struct store *s, struct store_watch *w)
{
    if (s && w) {
        s->backend->unwatch(s, w);
    }
}

int store_compact(struct store *s, uint64_t revision)
{
    if (!s) {
        return EINVAL;
    }
    return s->backend->compact(s, revision);
}

uint64_t store_revision(const struct store *s)
{
    return s->backend->revision(s);
}

uint64_t store_compacted(const struct store *s)
{
    return s->backend->compacted(s);
}

const char *store_epoch(const struct store *s)
{
    return s->backend->epoch(s);
}

const char *store_errmsg(const struct store *s)
{
    return s->backend->errmsg(s);
}
