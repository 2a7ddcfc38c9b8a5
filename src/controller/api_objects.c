/*
 * api_objects.c - the REST API's objects: transport zones, VNI pools,
 * segments and logical ports under /config/ (docs/api.md), plus the views of
 * hosts, segment tables and status that the agent server keeps.
 *
 * Every write is read-validate-write: the handler reads what it checks,
 * builds one transaction that compares the mod_revision of each key it
 * validated (the object, the segment a port names, the zone, the index keys
 * that make VNIs, segment VLANs and bindings unique) and writes the object
 * with its index keys. If anything changed in between, the store refuses the
 * whole transaction (ECANCELED) and the request is validated again, a few
 * times, before it gives up with 409. Nothing is ever half-applied.
 *
 * Store layout: /config/<kind>/<name> holds the object exactly as GET shows
 * it, defaults filled in, minus "revision" (the key's mod_revision) and the
 * runtime fields; /config/index/vni/<vni>, /config/index/vlan/<vlan>,
 * /config/index/binding-mac/<vni>/<mac> and /config/index/binding-ip/<vni>/<ip>
 * point at the segment or port that holds them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "controller/agent_server.h"
#include "controller/api_internal.h"
#include "lib/log.h"
#include "weft_version.h"

#define API_TXN_RETRIES 5
#define API_VNI_MAX     16777215u

static const char zone_prefix[] = "/config/zones/";
static const char pool_prefix[] = "/config/pools/";
static const char segment_prefix[] = "/config/segments/";
static const char port_prefix[] = "/config/ports/";
static const char vni_index_prefix[] = "/config/index/vni/";
static const char vlan_index_prefix[] = "/config/index/vlan/";

/* ---- Transactions and loads ------------------------------------------------ */

static void api_grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *items = api_check_alloc(realloc(*items, *cap * size));
    }
}

static const char *api_txn_own(struct api_txn *t, char *s)
{
    api_grow((void **)&t->owned, &t->cap_owned, t->n_owned, sizeof *t->owned);
    t->owned[t->n_owned++] = s;
    return s;
}

void api_txn_compare(struct api_txn *t, const char *key, uint64_t mod_revision)
{
    api_grow((void **)&t->cmp, &t->cap_cmp, t->n_cmp, sizeof *t->cmp);
    t->cmp[t->n_cmp++] = (struct store_compare){
        .key = api_txn_own(t, api_strdup(key)),
        .mod_revision = mod_revision,
    };
}

void api_txn_put(struct api_txn *t, const char *key, const json_t *value)
{
    api_grow((void **)&t->ops, &t->cap_ops, t->n_ops, sizeof *t->ops);
    t->ops[t->n_ops++] = (struct store_op){
        .type = STORE_OP_PUT,
        .key = api_txn_own(t, api_strdup(key)),
        .value = api_txn_own(t, api_check_alloc(json_dumps(value, JSON_COMPACT))),
    };
}

void api_txn_delete(struct api_txn *t, const char *key)
{
    api_grow((void **)&t->ops, &t->cap_ops, t->n_ops, sizeof *t->ops);
    t->ops[t->n_ops++] = (struct store_op){
        .type = STORE_OP_DELETE,
        .key = api_txn_own(t, api_strdup(key)),
    };
}

void api_txn_clear(struct api_txn *t)
{
    for (size_t i = 0; i < t->n_owned; i++) {
        free(t->owned[i]);
    }
    free(t->owned);
    free(t->cmp);
    free(t->ops);
    memset(t, 0, sizeof *t);
}

int api_txn_run(struct api *api, struct api_txn *t, uint64_t *revision)
{
    struct store_txn txn = {
        .compares = t->cmp,
        .n_compares = t->n_cmp,
        .ops = t->ops,
        .n_ops = t->n_ops,
    };

    return store_txn(api->store, &txn, revision);
}

int api_load(struct api *api, const char *key, json_t **obj, uint64_t *mod_revision)
{
    struct store_kv kv;
    int e = store_get(api->store, key, &kv);

    if (e) {
        return e;
    }
    *obj = json_loads(kv.value, 0, NULL);
    if (mod_revision) {
        *mod_revision = kv.mod_revision;
    }
    store_kv_free(&kv);
    if (!json_is_object(*obj)) {
        json_decref(*obj);
        *obj = NULL;
        return EIO;
    }
    return 0;
}

/* Every object under a prefix, parsed, in key order. */
struct api_scan {
    json_t **objs;
    uint64_t *revs;
    size_t n;
};

static void api_scan_free(struct api_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        json_decref(s->objs[i]);
    }
    free(s->objs);
    free(s->revs);
    memset(s, 0, sizeof *s);
}

static int api_scan_load(struct api *api, const char *prefix, struct api_scan *s)
{
    struct store_kv_list list = {0};
    int e = store_range(api->store, prefix, &list, NULL);

    memset(s, 0, sizeof *s);
    if (e) {
        return e;
    }
    s->objs = api_check_alloc(calloc(list.n + 1, sizeof *s->objs));
    s->revs = api_check_alloc(calloc(list.n + 1, sizeof *s->revs));
    for (size_t i = 0; i < list.n; i++) {
        json_t *o = json_loads(list.items[i].value, 0, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            e = EIO;
            break;
        }
        s->objs[s->n] = o;
        s->revs[s->n++] = list.items[i].mod_revision;
    }
    store_kv_list_free(&list);
    if (e) {
        api_scan_free(s);
    }
    return e;
}

/* api_scan_load() for a handler: 0, or the store's failure in err (what:
 * "reading ports"). */
static int api_scan(struct api *api, const char *prefix, const char *what, struct api_scan *s,
                    struct api_error *err)
{
    int e = api_scan_load(api, prefix, s);

    return e ? api_fail_store(api, err, e, what) : 0;
}

/* Compares prefix+name at rev in txn: the request depends on that object. */
static void api_txn_compare_named(struct api_txn *t, const char *prefix, const char *name,
                                  uint64_t rev)
{
    char *key = api_printf("%s%s", prefix, name);

    api_txn_compare(t, key, rev);
    free(key);
}

static const char *api_str(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(obj, field));
}

static uint64_t api_uint(const json_t *obj, const char *field)
{
    return (uint64_t)json_integer_value(json_object_get(obj, field));
}

static bool api_str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A named object the request refers to: 0 and its revision compared in txn,
 * 422 when it does not exist (field names the reference). */
static int api_load_ref(struct api *api, const char *prefix, const char *name, const char *noun,
                        const char *field, struct api_txn *txn, json_t **obj, struct api_error *err)
{
    char *key = api_printf("%s%s", prefix, name);
    uint64_t rev;
    int e = api_load(api, key, obj, &rev);

    if (e == 0) {
        api_txn_compare(txn, key, rev);
    }
    free(key);
    if (e == ENOENT) {
        return api_fail(err, 422, field, "no %s '%s'; create it first, or name another", noun,
                        name);
    }
    return e ? api_fail_store(api, err, e, "reading a referenced object") : 0;
}

/* ---- Transport zones -------------------------------------------------------- */

static bool zone_has_host(const json_t *zone, const char *host)
{
    size_t i;
    json_t *h;

    json_array_foreach(json_object_get(zone, "hosts"), i, h)
    {
        if (api_str_eq(json_string_value(h), host)) {
            return true;
        }
    }
    return false;
}

static int zone_plan_write(struct api *api, const json_t *old, json_t *obj, struct api_txn *txn,
                           struct api_error *err)
{
    const char *name = api_str(obj, "name");
    struct api_scan segs, ports;
    int status;

    if (!old) {
        return 0;
    }
    /* A host leaving the zone must not strand ports of the zone's segments. */
    if ((status = api_scan(api, segment_prefix, "reading segments", &segs, err)) != 0) {
        return status;
    }
    if ((status = api_scan(api, port_prefix, "reading ports", &ports, err)) != 0) {
        api_scan_free(&segs);
        return status;
    }
    for (size_t i = 0; i < segs.n && !status; i++) {
        const char *seg = api_str(segs.objs[i], "name");
        if (!api_str_eq(api_str(segs.objs[i], "zone"), name)) {
            continue;
        }
        for (size_t j = 0; j < ports.n && !status; j++) {
            const char *host = api_str(ports.objs[j], "host");
            if (!api_str_eq(api_str(ports.objs[j], "segment"), seg) || zone_has_host(obj, host)) {
                continue;
            }
            status = api_fail(err, 409, "hosts",
                              "host '%s' has port '%s' of segment '%s', which spans this zone; "
                              "delete or move the port before removing the host from the zone",
                              host, api_str(ports.objs[j], "name"), seg);
        }
        api_txn_compare_named(txn, segment_prefix, seg, segs.revs[i]);
    }
    for (size_t j = 0; j < ports.n && !status; j++) {
        api_txn_compare_named(txn, port_prefix, api_str(ports.objs[j], "name"), ports.revs[j]);
    }
    api_scan_free(&segs);
    api_scan_free(&ports);
    return status;
}

/* The first object under prefix whose field is value, into *user (NULL: none;
 * the caller decrefs it): 0 or the store's failure (what: "reading ports"). A
 * delete refuses while an object still refers to the one it deletes. */
static int api_first_user(struct api *api, const char *prefix, const char *what, const char *field,
                          const char *value, json_t **user, struct api_error *err)
{
    struct api_scan scan;
    int status = api_scan(api, prefix, what, &scan, err);

    *user = NULL;
    for (size_t i = 0; i < scan.n && !*user; i++) {
        if (api_str_eq(api_str(scan.objs[i], field), value)) {
            *user = json_incref(scan.objs[i]);
        }
    }
    api_scan_free(&scan);
    return status;
}

static int zone_plan_delete(struct api *api, const json_t *old, struct api_txn *txn,
                            struct api_error *err)
{
    json_t *user;
    int status = api_first_user(api, segment_prefix, "reading segments", "zone",
                                api_str(old, "name"), &user, err);

    (void)txn;
    if (user) {
        status = api_fail(err, 409, NULL,
                          "transport zone '%s' is used by segment '%s'; change the segment's "
                          "zone or delete it first",
                          api_str(old, "name"), api_str(user, "name"));
    }
    json_decref(user);
    return status;
}

static const struct api_field zone_fields[] = {
    {"name", API_FIELD_NAME, API_FIELD_REQUIRED | API_FIELD_IMMUTABLE, 1, 63, NULL, NULL},
    {"description", API_FIELD_STRING, 0, 0, 255, NULL, "\"\""},
    {"hosts", API_FIELD_NAME_SET, 0, 0, 0, NULL, "[]"},
};

const struct api_kind api_zone_kind = {
    .collection = "transport-zones",
    .prefix = zone_prefix,
    .noun = "transport zone",
    .fields = zone_fields,
    .n_fields = sizeof zone_fields / sizeof zone_fields[0],
    .plan_write = zone_plan_write,
    .plan_delete = zone_plan_delete,
};

/* ---- VNI pools ---------------------------------------------------------------- */

static int pool_plan_write(struct api *api, const json_t *old, json_t *obj, struct api_txn *txn,
                           struct api_error *err)
{
    const char *name = api_str(obj, "name");
    uint64_t start = api_uint(obj, "start"), end = api_uint(obj, "end");
    struct api_scan pools, segs;
    int status;

    if (start > end) {
        return api_fail(err, 422, "end",
                        "'end' (%" PRIu64 ") must not be below 'start' (%" PRIu64 ")", end, start);
    }
    if ((status = api_scan(api, pool_prefix, "reading pools", &pools, err)) != 0) {
        return status;
    }
    for (size_t i = 0; i < pools.n && !status; i++) {
        const json_t *p = pools.objs[i];
        if (api_str_eq(api_str(p, "name"), name)) {
            continue;
        }
        if (start <= api_uint(p, "end") && api_uint(p, "start") <= end) {
            status =
                api_fail(err, 409, "start",
                         "VNIs %" PRIu64 "-%" PRIu64 " overlap pool '%s' (%" PRIu64 "-%" PRIu64
                         "); choose a range outside every other pool",
                         start, end, api_str(p, "name"), api_uint(p, "start"), api_uint(p, "end"));
        }
        api_txn_compare_named(txn, pool_prefix, api_str(p, "name"), pools.revs[i]);
    }
    api_scan_free(&pools);
    if (status || !old) {
        return status;
    }
    /* A smaller pool must still hold every VNI allocated from it. */
    if ((status = api_scan(api, segment_prefix, "reading segments", &segs, err)) != 0) {
        return status;
    }
    for (size_t i = 0; i < segs.n && !status; i++) {
        uint64_t vni = api_uint(segs.objs[i], "vni");
        if (api_str_eq(api_str(segs.objs[i], "pool"), name) && (vni < start || vni > end)) {
            status = api_fail(err, 409, "start",
                              "segment '%s' holds VNI %" PRIu64 " from this pool, outside "
                              "%" PRIu64 "-%" PRIu64 "; keep the range around the VNIs in use",
                              api_str(segs.objs[i], "name"), vni, start, end);
        }
    }
    api_scan_free(&segs);
    return status;
}

static int pool_plan_delete(struct api *api, const json_t *old, struct api_txn *txn,
                            struct api_error *err)
{
    json_t *user;
    int status = api_first_user(api, segment_prefix, "reading segments", "pool",
                                api_str(old, "name"), &user, err);

    (void)txn;
    if (user) {
        status = api_fail(err, 409, NULL,
                          "VNI pool '%s' has allocated VNI %" PRIu64 " to segment '%s'; delete "
                          "the segments allocated from it first",
                          api_str(old, "name"), api_uint(user, "vni"), api_str(user, "name"));
    }
    json_decref(user);
    return status;
}

static void pool_decorate(struct api *api, json_t *shown)
{
    struct api_scan segs;
    json_int_t n = 0;

    if (api_scan_load(api, segment_prefix, &segs) == 0) {
        for (size_t i = 0; i < segs.n; i++) {
            n += api_str_eq(api_str(segs.objs[i], "pool"), api_str(shown, "name"));
        }
        api_scan_free(&segs);
    }
    json_object_set_new(shown, "allocated", json_integer(n));
}

static const struct api_field pool_fields[] = {
    {"name", API_FIELD_NAME, API_FIELD_REQUIRED | API_FIELD_IMMUTABLE, 1, 63, NULL, NULL},
    {"start", API_FIELD_UINT, API_FIELD_REQUIRED, 1, API_VNI_MAX, NULL, NULL},
    {"end", API_FIELD_UINT, API_FIELD_REQUIRED, 1, API_VNI_MAX, NULL, NULL},
    {"description", API_FIELD_STRING, 0, 0, 255, NULL, "\"\""},
};

const struct api_kind api_pool_kind = {
    .collection = "vni-pools",
    .prefix = pool_prefix,
    .noun = "VNI pool",
    .fields = pool_fields,
    .n_fields = sizeof pool_fields / sizeof pool_fields[0],
    .plan_write = pool_plan_write,
    .plan_delete = pool_plan_delete,
    .decorate = pool_decorate,
};

/* ---- Segments ----------------------------------------------------------------- */

/* Picks the lowest VNI of the pool that no segment holds; the caller's
 * compare on its index key (must be absent) makes the pick safe. */
static int segment_allocate(struct api *api, const json_t *pool, uint64_t *vni,
                            struct api_error *err)
{
    uint64_t start = api_uint(pool, "start"), end = api_uint(pool, "end");
    struct store_kv_list used = {0};
    uint8_t *taken;
    int e, status = 0;

    if ((e = store_range(api->store, vni_index_prefix, &used, NULL)) != 0) {
        return api_fail_store(api, err, e, "reading the VNI index");
    }
    taken = api_check_alloc(calloc(end - start + 1, 1));
    for (size_t i = 0; i < used.n; i++) {
        uint64_t v = strtoull(used.items[i].key + sizeof vni_index_prefix - 1, NULL, 10);
        if (v >= start && v <= end) {
            taken[v - start] = 1;
        }
    }
    *vni = 0;
    for (uint64_t v = start; v <= end && !*vni; v++) {
        if (!taken[v - start]) {
            *vni = v;
        }
    }
    if (!*vni) {
        status = api_fail(err, 409, "pool",
                          "VNI pool '%s' is full: every VNI of %" PRIu64 "-%" PRIu64
                          " is in use; widen the pool or use another",
                          api_str(pool, "name"), start, end);
    }
    free(taken);
    store_kv_list_free(&used);
    return status;
}

/* Every port of the segment must be on a host of zone (NULL: any host). */
static int segment_check_ports_in_zone(struct api *api, const char *seg, const json_t *zone,
                                       struct api_txn *txn, struct api_error *err)
{
    struct api_scan ports;
    int status = api_scan(api, port_prefix, "reading ports", &ports, err);

    for (size_t i = 0; i < ports.n && !status; i++) {
        const json_t *p = ports.objs[i];
        if (!api_str_eq(api_str(p, "segment"), seg)) {
            continue;
        }
        if (zone && !zone_has_host(zone, api_str(p, "host"))) {
            status = api_fail(err, 409, "zone",
                              "port '%s' of this segment is on host '%s', which is not in "
                              "transport zone '%s'; add the host to the zone or move the port",
                              api_str(p, "name"), api_str(p, "host"), api_str(zone, "name"));
        }
        api_txn_compare_named(txn, port_prefix, api_str(p, "name"), ports.revs[i]);
    }
    api_scan_free(&ports);
    return status;
}

/* A segment field that no two segments may share, kept unique by an index
 * key per value, <prefix><value> -> {"segment": name}, written in the same
 * transaction as the segment. 0 is no value (a VLAN of 0: none) and holds no
 * key. */
struct segment_unique {
    const char *field;  /* "vni" */
    const char *noun;   /* "VNI", in messages */
    const char *prefix; /* vni_index_prefix */
    const char *hint;   /* what to do instead, ending a 409's message */
};

static const struct segment_unique segment_vni = {
    "vni",
    "VNI",
    vni_index_prefix,
    "choose another VNI or omit it to allocate one from a pool",
};

/* Every host's switch refuses a second segment on a VLAN (EEXIST), and a
 * trunk's VLAN names its segment store-wide: unique across all segments, not
 * per transport zone (docs/api.md says why). */
static const struct segment_unique segment_vlan = {
    "vlan",
    "VLAN",
    vlan_index_prefix,
    "a host carries one segment per VLAN, so choose another VLAN, or 0 for none",
};

/* The index key of value: *holder the segment it names (NULL: absent; the
 * caller frees it), *rev its mod_revision. 0 or the store's failure. */
static int segment_index_load(struct api *api, const struct segment_unique *u, uint64_t value,
                              char **key, char **holder, uint64_t *rev, struct api_error *err)
{
    json_t *obj = NULL;
    int e;

    *key = api_printf("%s%" PRIu64, u->prefix, value);
    *holder = NULL;
    *rev = 0;
    e = api_load(api, *key, &obj, rev);
    if (e == 0) {
        *holder = api_strdup(api_str(obj, "segment") ? api_str(obj, "segment") : "");
    }
    json_decref(obj);
    return e && e != ENOENT ? api_fail_store(api, err, e, "reading a segment index") : 0;
}

/* Takes value's index key for segment name: compared in txn (absent, or
 * already ours) and written when absent; 409 naming the segment that holds
 * it. A concurrent request taking it too fails the compare and is retried. */
static int segment_take(struct api *api, const struct segment_unique *u, const char *name,
                        uint64_t value, struct api_txn *txn, struct api_error *err)
{
    char *key, *holder;
    uint64_t rev;
    int status = segment_index_load(api, u, value, &key, &holder, &rev, err);

    if (!status && holder && strcmp(holder, name) != 0) {
        status = api_fail(err, 409, u->field, "%s %" PRIu64 " is used by segment '%s'; %s", u->noun,
                          value, holder, u->hint);
    } else if (!status) {
        api_txn_compare(txn, key, rev);
        if (!holder) {
            json_t *mine = api_check_alloc(json_pack("{ss}", "segment", name));
            api_txn_put(txn, key, mine);
            json_decref(mine);
        }
    }
    free(holder);
    free(key);
    return status;
}

/* Frees value's index key when segment name holds it (a key another segment
 * holds stays theirs). */
static int segment_release(struct api *api, const struct segment_unique *u, const char *name,
                           uint64_t value, struct api_txn *txn, struct api_error *err)
{
    char *key, *holder;
    uint64_t rev;
    int status;

    if (!value) {
        return 0;
    }
    status = segment_index_load(api, u, value, &key, &holder, &rev, err);
    if (!status && holder && strcmp(holder, name) == 0) {
        api_txn_compare(txn, key, rev);
        api_txn_delete(txn, key);
    }
    free(holder);
    free(key);
    return status;
}

/* A write of segment obj (old: as stored, NULL on create) takes the index
 * key of its value and frees the one of the value it had. */
static int segment_plan_unique(struct api *api, const struct segment_unique *u, const json_t *old,
                               const json_t *obj, struct api_txn *txn, struct api_error *err)
{
    const char *name = api_str(obj, "name");
    uint64_t value = api_uint(obj, u->field);
    uint64_t old_value = old ? api_uint(old, u->field) : 0;
    int status = value ? segment_take(api, u, name, value, txn, err) : 0;

    if (!status && old_value != value) {
        status = segment_release(api, u, name, old_value, txn, err);
    }
    return status;
}

int api_index_backfill(struct api *api, char *errbuf, size_t errlen)
{
    static const struct segment_unique *const uniques[] = {&segment_vni, &segment_vlan};
    struct api_txn txn = {0};
    struct api_scan segs;
    int e = api_scan_load(api, segment_prefix, &segs);

    for (size_t i = 0; i < segs.n && !e; i++) {
        const char *name = api_str(segs.objs[i], "name");
        for (size_t j = 0; j < sizeof uniques / sizeof uniques[0] && !e; j++) {
            uint64_t value = api_uint(segs.objs[i], uniques[j]->field);
            struct api_error err;
            int status;

            if (!value) {
                continue;
            }
            api_txn_clear(&txn);
            status = segment_take(api, uniques[j], name, value, &txn, &err);
            if (status == 409) {
                log_warn("segment '%s' was stored before this was refused: %s", name, err.message);
            } else if (status) {
                e = EIO;
            } else if (txn.n_ops) {
                e = api_txn_run(api, &txn, NULL);
                /* ECANCELED: another controller wrote the key first. */
                e = e == ECANCELED ? 0 : e;
            }
        }
    }
    if (e) {
        snprintf(errbuf, errlen, "cannot complete the store's segment index keys: %s (%s)",
                 strerror(e), store_errmsg(api->store));
    }
    api_txn_clear(&txn);
    api_scan_free(&segs);
    return e;
}

static int segment_plan_write(struct api *api, const json_t *old, json_t *obj, struct api_txn *txn,
                              struct api_error *err)
{
    const char *name = api_str(obj, "name");
    bool multicast = api_str_eq(api_str(obj, "replication"), "multicast");
    const char *group = api_str(obj, "multicast_group");
    const char *pool_name = api_str(obj, "pool");
    const char *zone_name = api_str(obj, "zone");
    json_t *zone = NULL, *pool = NULL;
    uint64_t vni = json_object_get(obj, "vni") ? api_uint(obj, "vni") : 0;
    int status = 0;

    if (multicast && !group) {
        return api_fail(err, 422, "multicast_group",
                        "replication \"multicast\" needs 'multicast_group', an IPv4 multicast "
                        "address the segment's hosts join");
    }
    if (!multicast && group) {
        return api_fail(err, 422, "multicast_group",
                        "'multicast_group' is only for replication \"multicast\"; drop it or "
                        "set it to null");
    }
    if (!vni && !pool_name) {
        return api_fail(err, 422, "vni",
                        "a segment needs 'vni' (1-16777215) or 'pool' (a VNI pool to allocate "
                        "from)");
    }
    if (zone_name) {
        status =
            api_load_ref(api, zone_prefix, zone_name, "transport zone", "zone", txn, &zone, err);
        if (status) {
            goto out;
        }
    }
    if (old && !json_equal(json_object_get(old, "zone"), json_object_get(obj, "zone"))) {
        status = segment_check_ports_in_zone(api, name, zone, txn, err);
        if (status) {
            goto out;
        }
    }
    if (pool_name) {
        status = api_load_ref(api, pool_prefix, pool_name, "VNI pool", "pool", txn, &pool, err);
        if (status) {
            goto out;
        }
        if (!vni) {
            if ((status = segment_allocate(api, pool, &vni, err)) != 0) {
                goto out;
            }
            json_object_set_new(obj, "vni", json_integer((json_int_t)vni));
        } else if (vni < api_uint(pool, "start") || vni > api_uint(pool, "end")) {
            status = api_fail(err, 422, "vni",
                              "VNI %" PRIu64 " is outside pool '%s' (%" PRIu64 "-%" PRIu64
                              "); omit 'vni' to allocate one from the pool",
                              vni, pool_name, api_uint(pool, "start"), api_uint(pool, "end"));
            goto out;
        }
    }
    if ((status = segment_plan_unique(api, &segment_vni, old, obj, txn, err)) == 0) {
        status = segment_plan_unique(api, &segment_vlan, old, obj, txn, err);
    }
out:
    json_decref(zone);
    json_decref(pool);
    return status;
}

static int segment_plan_delete(struct api *api, const json_t *old, struct api_txn *txn,
                               struct api_error *err)
{
    const char *name = api_str(old, "name");
    json_t *port;
    int status = api_first_user(api, port_prefix, "reading ports", "segment", name, &port, err);

    if (port) {
        status = api_fail(err, 409, NULL,
                          "segment '%s' still has port '%s'; delete its ports or move them to "
                          "another segment first",
                          name, api_str(port, "name"));
        json_decref(port);
    }
    if (!status) {
        status = segment_release(api, &segment_vni, name, api_uint(old, "vni"), txn, err);
    }
    if (!status) {
        status = segment_release(api, &segment_vlan, name, api_uint(old, "vlan"), txn, err);
    }
    return status;
}

static const char *const replication_choices[] = {"head-end", "proxy", "multicast", NULL};

static const struct api_field segment_fields[] = {
    {"name", API_FIELD_NAME, API_FIELD_REQUIRED | API_FIELD_IMMUTABLE, 1, 63, NULL, NULL},
    {"vni", API_FIELD_UINT, API_FIELD_OPTIONAL | API_FIELD_IMMUTABLE, 1, API_VNI_MAX, NULL, NULL},
    {"pool", API_FIELD_NAME, API_FIELD_NULLABLE | API_FIELD_IMMUTABLE, 1, 63, NULL, "null"},
    {"zone", API_FIELD_NAME, API_FIELD_NULLABLE, 1, 63, NULL, "null"},
    {"replication", API_FIELD_ENUM, 0, 0, 0, replication_choices, "\"head-end\""},
    {"multicast_group", API_FIELD_IPV4_MCAST, API_FIELD_NULLABLE, 0, 0, NULL, "null"},
    {"arp_suppression", API_FIELD_BOOL, 0, 0, 0, NULL, "true"},
    {"vlan", API_FIELD_UINT, 0, 0, 4094, NULL, "0"},
    {"allow_inner_vlan", API_FIELD_BOOL, 0, 0, 0, NULL, "false"},
    {"description", API_FIELD_STRING, 0, 0, 255, NULL, "\"\""},
};

const struct api_kind api_segment_kind = {
    .collection = "segments",
    .prefix = segment_prefix,
    .noun = "segment",
    .fields = segment_fields,
    .n_fields = sizeof segment_fields / sizeof segment_fields[0],
    .plan_write = segment_plan_write,
    .plan_delete = segment_plan_delete,
};

/* ---- Logical ports -------------------------------------------------------------- */

#define PORT_TPID_8021Q  33024
#define PORT_TPID_8021AD 34984

/* The index keys a port's bindings hold on VNI vni, into keys (a JSON array
 * of strings). */
static void port_binding_keys(const json_t *port, uint64_t vni, json_t *keys)
{
    size_t i;
    json_t *b;

    json_array_foreach(json_object_get(port, "bindings"), i, b)
    {
        char *k = api_printf("/config/index/binding-mac/%" PRIu64 "/%s", vni, api_str(b, "mac"));
        json_array_append_new(keys, json_string(k));
        free(k);
        if (api_str(b, "ip")) {
            k = api_printf("/config/index/binding-ip/%" PRIu64 "/%s", vni, api_str(b, "ip"));
            json_array_append_new(keys, json_string(k));
            free(k);
        }
    }
}

static bool port_keys_have(const json_t *keys, const char *key)
{
    size_t i;
    json_t *k;

    json_array_foreach(keys, i, k)
    {
        if (api_str_eq(json_string_value(k), key)) {
            return true;
        }
    }
    return false;
}

/* The VNI of the segment an (access) port is on, or 0. */
static int port_vni(struct api *api, const json_t *port, uint64_t *vni, struct api_error *err)
{
    const char *seg = api_str(port, "segment");
    char *key;
    json_t *obj = NULL;
    int e;

    *vni = 0;
    if (!seg) {
        return 0;
    }
    key = api_printf("%s%s", segment_prefix, seg);
    e = api_load(api, key, &obj, NULL);
    free(key);
    if (e == 0) {
        *vni = api_uint(obj, "vni");
    }
    json_decref(obj);
    return e && e != ENOENT ? api_fail_store(api, err, e, "reading the port's segment") : 0;
}

/* Moves the port's index keys from old_keys to new_keys: takes the new ones
 * (409 if another port holds one), drops the ones it no longer needs. */
static int port_plan_index(struct api *api, const char *name, const json_t *old_keys,
                           const json_t *new_keys, struct api_txn *txn, struct api_error *err)
{
    json_t *mine = api_check_alloc(json_pack("{ss}", "port", name));
    size_t i;
    json_t *k;
    int status = 0;

    json_array_foreach(new_keys, i, k)
    {
        const char *key = json_string_value(k);
        json_t *holder = NULL;
        uint64_t rev = 0;
        int e = api_load(api, key, &holder, &rev);

        if (e && e != ENOENT) {
            status = api_fail_store(api, err, e, "reading the binding index");
        } else if (holder && !api_str_eq(api_str(holder, "port"), name)) {
            const char *what = strstr(key, "/binding-mac/") ? "MAC" : "IP";
            status = api_fail(err, 409, "bindings",
                              "%s %s is already bound to port '%s' on this segment's VNI; "
                              "remove it there first or bind another address",
                              what, strrchr(key, '/') + 1, api_str(holder, "port"));
        } else {
            api_txn_compare(txn, key, rev);
            if (!holder) {
                api_txn_put(txn, key, mine);
            }
        }
        json_decref(holder);
        if (status) {
            break;
        }
    }
    json_array_foreach(old_keys, i, k)
    {
        if (status || port_keys_have(new_keys, json_string_value(k))) {
            continue;
        }
        api_txn_delete(txn, json_string_value(k));
    }
    json_decref(mine);
    return status;
}

/* Mode rules: an access port names one segment; a trunk carries segments by
 * their VLAN and has no bindings (which segment would they belong to?). */
static int port_check_mode(const json_t *obj, struct api_error *err)
{
    bool trunk = api_str_eq(api_str(obj, "mode"), "trunk");
    uint64_t tpid = api_uint(obj, "tpid");
    uint64_t native = api_uint(obj, "native_vlan");

    if (tpid != PORT_TPID_8021Q && tpid != PORT_TPID_8021AD) {
        return api_fail(err, 422, "tpid", "'tpid' must be 33024 (0x8100) or 34984 (0x88a8)");
    }
    if (!trunk) {
        if (!api_str(obj, "segment")) {
            return api_fail(err, 422, "segment", "an access port needs 'segment'");
        }
        if (!json_is_null(json_object_get(obj, "vlans")) || native || tpid != PORT_TPID_8021Q) {
            return api_fail(err, 422,
                            !json_is_null(json_object_get(obj, "vlans")) ? "vlans"
                            : native                                     ? "native_vlan"
                                                                         : "tpid",
                            "'vlans', 'native_vlan' and 'tpid' are for trunk ports; set "
                            "\"mode\": \"trunk\" or drop them");
        }
        return 0;
    }
    if (api_str(obj, "segment")) {
        return api_fail(err, 422, "segment",
                        "a trunk port carries segments by their VLAN: give 'vlans', and set "
                        "'segment' to null");
    }
    if (!api_str(obj, "vlans")) {
        return api_fail(err, 422, "vlans", "a trunk port needs 'vlans', such as \"101,200-210\"");
    }
    if (native) {
        uint8_t map[512];
        api_vlan_list_parse(api_str(obj, "vlans"), map);
        if (!(map[native / 8] & (1u << (native % 8)))) {
            return api_fail(err, 422, "native_vlan",
                            "'native_vlan' %" PRIu64 " is not in 'vlans'; add it there or use 0",
                            native);
        }
    }
    if (json_array_size(json_object_get(obj, "bindings"))) {
        return api_fail(err, 422, "bindings",
                        "bindings belong to one segment: give them on access ports, not trunks");
    }
    return 0;
}

/* The host must be in the zone of seg (a segment object), when it has one. */
static int port_check_zone(struct api *api, const json_t *seg, const char *host,
                           struct api_txn *txn, struct api_error *err)
{
    const char *zone_name = api_str(seg, "zone");
    char *key;
    json_t *zone = NULL;
    uint64_t rev;
    int e, status = 0;

    if (!zone_name) {
        return 0;
    }
    key = api_printf("%s%s", zone_prefix, zone_name);
    e = api_load(api, key, &zone, &rev);
    if (e) {
        status = api_fail_store(api, err, e == ENOENT ? EIO : e, "reading the segment's zone");
    } else if (!zone_has_host(zone, host)) {
        status = api_fail(err, 409, "host",
                          "host '%s' is not in transport zone '%s' of segment '%s'; add it to "
                          "the zone or bind the port to one of the zone's hosts",
                          host, zone_name, api_str(seg, "name"));
    } else {
        api_txn_compare(txn, key, rev);
    }
    json_decref(zone);
    free(key);
    return status;
}

static int port_plan_write(struct api *api, const json_t *old, json_t *obj, struct api_txn *txn,
                           struct api_error *err)
{
    const char *name = api_str(obj, "name");
    const char *host = api_str(obj, "host");
    json_t *seg = NULL;
    json_t *old_keys = api_check_alloc(json_array());
    json_t *new_keys = api_check_alloc(json_array());
    uint64_t old_vni = 0;
    int status;

    if ((status = port_check_mode(obj, err)) != 0) {
        goto out;
    }
    if (api_str(obj, "segment")) {
        status = api_load_ref(api, segment_prefix, api_str(obj, "segment"), "segment", "segment",
                              txn, &seg, err);
        if (status || (status = port_check_zone(api, seg, host, txn, err)) != 0) {
            goto out;
        }
        port_binding_keys(obj, api_uint(seg, "vni"), new_keys);
    } else {
        /* A trunk: every segment it carries by VLAN must allow the host. */
        struct api_scan segs;
        uint8_t map[512];
        if ((status = api_scan(api, segment_prefix, "reading segments", &segs, err)) != 0) {
            goto out;
        }
        api_vlan_list_parse(api_str(obj, "vlans"), map);
        for (size_t i = 0; i < segs.n && !status; i++) {
            uint64_t vlan = api_uint(segs.objs[i], "vlan");
            if (!vlan || !(map[vlan / 8] & (1u << (vlan % 8)))) {
                continue;
            }
            status = port_check_zone(api, segs.objs[i], host, txn, err);
            api_txn_compare_named(txn, segment_prefix, api_str(segs.objs[i], "name"), segs.revs[i]);
        }
        api_scan_free(&segs);
        if (status) {
            goto out;
        }
    }
    if (old) {
        if ((status = port_vni(api, old, &old_vni, err)) != 0) {
            goto out;
        }
        if (old_vni) {
            port_binding_keys(old, old_vni, old_keys);
        }
    }
    status = port_plan_index(api, name, old_keys, new_keys, txn, err);
out:
    json_decref(seg);
    json_decref(old_keys);
    json_decref(new_keys);
    return status;
}

static int port_plan_delete(struct api *api, const json_t *old, struct api_txn *txn,
                            struct api_error *err)
{
    json_t *keys = api_check_alloc(json_array());
    json_t *none = api_check_alloc(json_array());
    uint64_t vni;
    int status = port_vni(api, old, &vni, err);

    if (!status && vni) {
        port_binding_keys(old, vni, keys);
        status = port_plan_index(api, api_str(old, "name"), keys, none, txn, err);
    }
    json_decref(keys);
    json_decref(none);
    return status;
}

static void port_decorate(struct api *api, json_t *shown)
{
    json_t *status =
        agent_server_port_status_json(api->agents, api_str(shown, "host"), api_str(shown, "name"));

    json_object_set_new(shown, "status",
                        status ? status
                               : json_pack("{sbss}", "up", 0, "reason", "host not connected"));
}

static const char *const port_mode_choices[] = {"access", "trunk", NULL};

static const struct api_field port_fields[] = {
    {"name", API_FIELD_NAME, API_FIELD_REQUIRED | API_FIELD_IMMUTABLE, 1, 15, NULL, NULL},
    {"host", API_FIELD_NAME, API_FIELD_REQUIRED, 1, 63, NULL, NULL},
    {"mode", API_FIELD_ENUM, 0, 0, 0, port_mode_choices, "\"access\""},
    {"segment", API_FIELD_NAME, API_FIELD_NULLABLE, 1, 63, NULL, "null"},
    {"vlans", API_FIELD_VLAN_LIST, API_FIELD_NULLABLE, 0, 0, NULL, "null"},
    {"native_vlan", API_FIELD_UINT, 0, 0, 4094, NULL, "0"},
    {"tpid", API_FIELD_UINT, 0, 0, 65535, NULL, "33024"},
    {"bindings", API_FIELD_BINDINGS, 0, 0, 8, NULL, "[]"},
    {"port_security", API_FIELD_BOOL, 0, 0, 0, NULL, "false"},
    {"learning", API_FIELD_BOOL, 0, 0, 0, NULL, "true"},
    {"mac_limit", API_FIELD_UINT, 0, 0, 4294967295u, NULL, "0"},
    {"promiscuous", API_FIELD_BOOL, 0, 0, 0, NULL, "false"},
    {"admin_up", API_FIELD_BOOL, 0, 0, 0, NULL, "true"},
    {"mtu", API_FIELD_UINT, 0, 68, 65535, NULL, "1500"},
    {"description", API_FIELD_STRING, 0, 0, 255, NULL, "\"\""},
};

const struct api_kind api_port_kind = {
    .collection = "ports",
    .prefix = port_prefix,
    .noun = "port",
    .fields = port_fields,
    .n_fields = sizeof port_fields / sizeof port_fields[0],
    .plan_write = port_plan_write,
    .plan_delete = port_plan_delete,
    .decorate = port_decorate,
};

/* ---- Generic handlers ------------------------------------------------------------ */

static json_t *api_shown(struct api *api, const struct api_kind *kind, const json_t *obj,
                         uint64_t rev)
{
    json_t *shown = api_check_alloc(json_deep_copy(obj));

    json_object_set_new(shown, "revision", json_integer((json_int_t)rev));
    if (kind->decorate) {
        kind->decorate(api, shown);
    }
    return shown;
}

/* The object with its fields in the kind's order (a VNI allocated from a pool
 * is added last by plan_write), so that every stored object reads alike. */
static void api_reorder(const struct api_kind *kind, json_t *obj)
{
    json_t *copy = api_check_alloc(json_copy(obj));

    json_object_clear(obj);
    for (size_t i = 0; i < kind->n_fields; i++) {
        json_t *v = json_object_get(copy, kind->fields[i].name);
        if (v) {
            json_object_set(obj, kind->fields[i].name, v);
        }
    }
    json_decref(copy);
}

static int api_not_found(struct api_error *err, const struct api_kind *kind, const char *name)
{
    return api_fail(err, 404, NULL, "no %s '%s'; GET /api/v1/%s lists them", kind->noun, name,
                    kind->collection);
}

/* If-Match: a revision number, bare or quoted like an ETag. */
static int api_check_if_match(const char *if_match, uint64_t rev, struct api_error *err)
{
    char *end;
    const char *p = if_match;
    uint64_t want;
    size_t len;

    if (!if_match) {
        return 0;
    }
    len = strlen(p);
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    errno = 0;
    want = strtoull(p, &end, 10);
    if (len == 0 || *p < '0' || *p > '9' || errno || (size_t)(end - p) != len) {
        return api_fail(err, 400, NULL, "If-Match must be an object's revision, not '%s'",
                        if_match);
    }
    if (want != rev) {
        return api_fail(err, 412, NULL,
                        "the object changed: its revision is %" PRIu64 ", not %" PRIu64
                        "; GET it again and retry",
                        rev, want);
    }
    return 0;
}

/* The stored object of kind named name: 0, or 404 / the store's failure. */
static int api_load_named(struct api *api, const struct api_kind *kind, const char *name,
                          json_t **obj, uint64_t *rev, struct api_error *err)
{
    char *key = api_printf("%s%s", kind->prefix, name);
    int e = api_load(api, key, obj, rev);

    free(key);
    if (e == ENOENT) {
        return api_not_found(err, kind, name);
    }
    return e ? api_fail_store(api, err, e, "reading") : 0;
}

/* The object a PATCH or DELETE changes, checked against If-Match: 0, or the
 * status it fails with. */
static int api_load_current(struct api *api, const struct api_kind *kind, const char *name,
                            const char *if_match, json_t **obj, uint64_t *rev,
                            struct api_error *err)
{
    int status = api_load_named(api, kind, name, obj, rev, err);

    return status ? status : api_check_if_match(if_match, *rev, err);
}

static int api_retries_exhausted(struct api_error *err)
{
    return api_fail(err, 409, NULL,
                    "what this request depends on kept changing under it; retry the request");
}

int api_object_list(struct api *api, const struct api_kind *kind, const char *host_filter,
                    const char *segment_filter, struct api_reply *reply, struct api_error *err)
{
    struct api_scan scan;
    json_t *items;
    int status = api_scan(api, kind->prefix, "listing", &scan, err);

    if (status) {
        return status;
    }
    items = api_check_alloc(json_array());
    for (size_t i = 0; i < scan.n; i++) {
        const json_t *o = scan.objs[i];
        if ((host_filter && !api_str_eq(api_str(o, "host"), host_filter)) ||
            (segment_filter && !api_str_eq(api_str(o, "segment"), segment_filter))) {
            continue;
        }
        json_array_append_new(items, api_shown(api, kind, o, scan.revs[i]));
    }
    api_scan_free(&scan);
    reply->body = api_check_alloc(json_pack("{so}", "items", items));
    return 200;
}

int api_object_get(struct api *api, const struct api_kind *kind, const char *name,
                   struct api_reply *reply, struct api_error *err)
{
    json_t *obj = NULL;
    uint64_t rev = 0; /* set by api_load_named() on success; -O3 cannot tell */
    int status = api_load_named(api, kind, name, &obj, &rev, err);

    if (status) {
        return status;
    }
    reply->body = api_shown(api, kind, obj, rev);
    json_decref(obj);
    return 200;
}

int api_object_create(struct api *api, const struct api_kind *kind, const json_t *body,
                      struct api_reply *reply, struct api_error *err)
{
    json_t *obj = api_schema_normalize(kind, body, NULL, err);
    struct api_txn txn = {0};
    char *key;
    int status = 0;

    if (!obj) {
        return err->status;
    }
    key = api_printf("%s%s", kind->prefix, api_str(obj, "name"));
    for (int attempt = 0; attempt < API_TXN_RETRIES; attempt++) {
        json_t *work = api_check_alloc(json_deep_copy(obj));
        struct store_kv kv;
        uint64_t rev;
        int e = store_get(api->store, key, &kv);

        api_txn_clear(&txn);
        if (e == 0) {
            store_kv_free(&kv);
            status = api_fail(err, 409, "name",
                              "%s '%s' already exists; PATCH it, or choose another name",
                              kind->noun, api_str(obj, "name"));
        } else if (e != ENOENT) {
            status = api_fail_store(api, err, e, "reading");
        } else {
            api_txn_compare(&txn, key, 0);
            status = kind->plan_write(api, NULL, work, &txn, err);
        }
        if (status) {
            json_decref(work);
            goto out;
        }
        api_reorder(kind, work);
        api_txn_put(&txn, key, work);
        e = api_txn_run(api, &txn, &rev);
        if (e == 0) {
            reply->body = api_shown(api, kind, work, rev);
            reply->location = api_printf("/api/v1/%s/%s", kind->collection, api_str(work, "name"));
            json_decref(work);
            status = 201;
            goto out;
        }
        json_decref(work);
        if (e != ECANCELED) {
            status = api_fail_store(api, err, e, "writing");
            goto out;
        }
    }
    status = api_retries_exhausted(err);
out:
    api_txn_clear(&txn);
    free(key);
    json_decref(obj);
    return status;
}

int api_object_patch(struct api *api, const struct api_kind *kind, const char *name,
                     const json_t *body, const char *if_match, struct api_reply *reply,
                     struct api_error *err)
{
    char *key = api_printf("%s%s", kind->prefix, name);
    struct api_txn txn = {0};
    int status = 0;

    for (int attempt = 0; attempt < API_TXN_RETRIES; attempt++) {
        json_t *old = NULL, *obj = NULL;
        uint64_t rev = 0,
                 new_rev = 0; /* set by api_load_current() on success; gcc -O3 cannot tell */
        int e;

        api_txn_clear(&txn);
        if ((status = api_load_current(api, kind, name, if_match, &old, &rev, err)) == 0) {
            obj = api_schema_normalize(kind, body, old, err);
            status = obj ? 0 : err->status;
        }
        if (!status && json_equal(obj, old)) {
            /* Nothing changes: no write, the revision stays. */
            reply->body = api_shown(api, kind, old, rev);
            status = 200;
        } else if (!status) {
            api_txn_compare(&txn, key, rev);
            status = kind->plan_write(api, old, obj, &txn, err);
        }
        if (status) {
            json_decref(old);
            json_decref(obj);
            goto out;
        }
        api_txn_put(&txn, key, obj);
        e = api_txn_run(api, &txn, &new_rev);
        if (e == 0) {
            reply->body = api_shown(api, kind, obj, new_rev);
            status = 200;
        } else if (e != ECANCELED) {
            status = api_fail_store(api, err, e, "writing");
        }
        json_decref(old);
        json_decref(obj);
        if (status) {
            goto out;
        }
    }
    status = api_retries_exhausted(err);
out:
    api_txn_clear(&txn);
    free(key);
    return status;
}

int api_object_delete(struct api *api, const struct api_kind *kind, const char *name,
                      const char *if_match, struct api_error *err)
{
    char *key = api_printf("%s%s", kind->prefix, name);
    struct api_txn txn = {0};
    int status = 0;

    for (int attempt = 0; attempt < API_TXN_RETRIES; attempt++) {
        json_t *old = NULL;
        uint64_t rev = 0; /* set by api_load_current() on success */
        int e;

        api_txn_clear(&txn);
        if ((status = api_load_current(api, kind, name, if_match, &old, &rev, err)) == 0) {
            api_txn_compare(&txn, key, rev);
            status = kind->plan_delete(api, old, &txn, err);
        }
        json_decref(old);
        if (status) {
            goto out;
        }
        api_txn_delete(&txn, key);
        e = api_txn_run(api, &txn, NULL);
        if (e == 0) {
            status = 204;
            goto out;
        }
        if (e != ECANCELED) {
            status = api_fail_store(api, err, e, "writing");
            goto out;
        }
    }
    status = api_retries_exhausted(err);
out:
    api_txn_clear(&txn);
    free(key);
    return status;
}

/* ---- Views of the agent server ----------------------------------------------------- */

int api_segment_table(struct api *api, const char *name, const char *table, struct api_reply *reply,
                      struct api_error *err)
{
    json_t *seg = NULL;
    uint32_t vni;
    int status = api_load_named(api, &api_segment_kind, name, &seg, NULL, err);

    if (status) {
        return status;
    }
    vni = (uint32_t)api_uint(seg, "vni");
    json_decref(seg);
    if (strcmp(table, "vteps") == 0) {
        reply->body = agent_server_segment_vteps_json(api->agents, vni);
    } else if (strcmp(table, "macs") == 0) {
        reply->body = agent_server_segment_macs_json(api->agents, vni);
    } else {
        reply->body = agent_server_segment_arp_json(api->agents, vni);
    }
    api_check_alloc(reply->body);
    return 200;
}

int api_status(struct api *api, struct api_reply *reply, struct api_error *err)
{
    struct timespec now;

    (void)err;
    clock_gettime(CLOCK_MONOTONIC, &now);
    reply->body = api_check_alloc(json_pack(
        "{ss ss ss sI so sI}", "version", WEFT_VERSION, "store", api->store_scheme, "epoch",
        store_epoch(api->store), "revision", (json_int_t)store_revision(api->store), "hosts",
        api_check_alloc(agent_server_hosts_summary_json(api->agents)), "uptime_s",
        (json_int_t)(now.tv_sec - api->started.tv_sec)));
    return 200;
}

int api_hosts_list(struct api *api, struct api_reply *reply, struct api_error *err)
{
    (void)err;
    reply->body = api_check_alloc(agent_server_hosts_json(api->agents));
    return 200;
}

int api_host_get(struct api *api, const char *id, struct api_reply *reply, struct api_error *err)
{
    reply->body = agent_server_host_json(api->agents, id);
    if (!reply->body) {
        return api_fail(err, 404, NULL,
                        "no host '%s' has registered; a host appears when its weftd says hello "
                        "with the join token",
                        id);
    }
    return 200;
}

int api_host_delete(struct api *api, const char *id, struct api_error *err)
{
    json_t *port;
    int e, status = api_first_user(api, port_prefix, "reading ports", "host", id, &port, err);

    if (port) {
        status = api_fail(err, 409, NULL,
                          "host '%s' still has port '%s' bound; delete the port or move it "
                          "(PATCH its host) first",
                          id, api_str(port, "name"));
        json_decref(port);
    }
    if (status) {
        return status;
    }
    e = agent_server_host_forget(api->agents, id);
    if (e == ENOENT) {
        return api_fail(err, 404, NULL, "no host '%s' has registered", id);
    }
    if (e) {
        return api_fail_store(api, err, e, "forgetting the host");
    }
    return 204;
}
