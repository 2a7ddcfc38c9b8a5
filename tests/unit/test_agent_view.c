/*
 * test_agent_view.c - unit tests of the agent server's index and views
 * (src/controller/agent_index.h): which segments, VTEPs, MACs and IPs a host
 * is given, who wins a MAC, the proxy picks per subnet, and the order of the
 * ops a view difference turns into; and that the incremental paths (tables
 * kept change by change, the changes of one host's view computed from what
 * changed, differences made in parts) agree with a from-scratch index and
 * whole differences over random sequences of changes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller/agent_index.h"

static void put(struct agent_index *idx, const char *key, const char *value, uint64_t rev)
{
    agent_index_apply(idx, key, value, rev);
}

static void host(struct agent_index *idx, const char *id, const char *vtep, int prefix)
{
    char key[64], value[256];
    snprintf(key, sizeof key, "/hosts/%s", id);
    snprintf(value, sizeof value, "{\"id\":\"%s\",\"vtep\":\"%s\",\"vtep_prefix_len\":%d}", id,
             vtep, prefix);
    put(idx, key, value, 1);
    agent_index_set_presence(idx, id, AGENT_PRESENCE_CONNECTED);
}

static void access_port(struct agent_index *idx, const char *name, const char *h,
                        const char *segment, const char *bindings, uint64_t rev)
{
    char key[64], value[512];
    snprintf(key, sizeof key, "/config/ports/%s", name);
    snprintf(value, sizeof value,
             "{\"name\":\"%s\",\"host\":\"%s\",\"mode\":\"access\",\"segment\":\"%s\","
             "\"bindings\":%s}",
             name, h, segment, bindings ? bindings : "[]");
    put(idx, key, value, rev);
}

static struct agent_index *two_hosts(const char *replication)
{
    struct agent_index *idx = agent_index_create();
    char value[256];
    assert_non_null(idx);
    snprintf(value, sizeof value,
             "{\"name\":\"web\",\"vni\":5001,\"vlan\":0,\"replication\":\"%s\","
             "\"arp_suppression\":true}",
             replication);
    put(idx, "/config/segments/web", value, 1);
    host(idx, "a", "10.1.1.2", 24);
    host(idx, "b", "10.1.2.2", 24);
    access_port(idx, "vm1", "a", "web", "[{\"mac\":\"02:00:00:00:10:01\",\"ip\":\"172.16.0.1\"}]",
                2);
    access_port(idx, "vm2", "b", "web", NULL, 3);
    assert_int_equal(agent_index_refresh(idx), 0);
    return idx;
}

static const json_t *segment(const json_t *view, const char *vni)
{
    return json_object_get(json_object_get(view, "segments"), vni);
}

static void test_view_of_a_host(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    json_t *a = agent_index_host_view(idx, "a");
    json_t *b = agent_index_host_view(idx, "b");

    /* b: a's VTEP and a's bound MAC and IP; a: b's VTEP, not its own MAC. */
    assert_non_null(json_object_get(json_object_get(segment(b, "5001"), "vteps"), "10.1.1.2"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(segment(b, "5001"), "macs"), "02:00:00:00:10:01")),
                        "10.1.1.2");
    assert_null(json_object_get(json_object_get(segment(a, "5001"), "macs"), "02:00:00:00:10:01"));
    assert_null(json_object_get(json_object_get(segment(a, "5001"), "vteps"), "10.1.1.2"));
    assert_non_null(json_object_get(json_object_get(a, "ports"), "vm1"));
    assert_null(json_object_get(json_object_get(a, "ports"), "vm2"));
    json_decref(a);
    json_decref(b);
    agent_index_destroy(idx);
}

static void test_learned_mac_last_reporter_wins_bindings_win(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    put(idx, "/learned/b/mac/5001/02:00:00:00:20:01", "{\"port\":\"vm2\"}", 10);
    put(idx, "/learned/a/mac/5001/02:00:00:00:20:01", "{\"port\":\"vm1\"}", 11);
    put(idx, "/learned/b/mac/5001/02:00:00:00:10:01", "{\"port\":\"vm2\"}", 12);
    assert_int_equal(agent_index_refresh(idx), 0);
    assert_true(agent_index_is_source(idx, "a", "mac", 5001, "02:00:00:00:20:01"));
    assert_false(agent_index_is_source(idx, "b", "mac", 5001, "02:00:00:00:20:01"));
    /* A binding beats a later report. */
    assert_false(agent_index_is_source(idx, "b", "mac", 5001, "02:00:00:00:10:01"));
    json_t *b = agent_index_host_view(idx, "b");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(segment(b, "5001"), "macs"), "02:00:00:00:20:01")),
                        "10.1.1.2");
    json_decref(b);
    agent_index_destroy(idx);
}

static void test_diff_order_and_segment_lifecycle(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    json_t *empty = agent_view_empty();
    json_t *b = agent_index_host_view(idx, "b");
    json_t *ops = agent_view_diff(empty, b);
    const char *want[] = {"segment_set", "vtep_add", "mac_set", "ip_set", "port_set"};

    assert_int_equal(json_array_size(ops), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(ops, i), "op")),
                            want[i]);
    }
    json_decref(ops);
    ops = agent_view_diff(b, b);
    assert_int_equal(json_array_size(ops), 0);
    json_decref(ops);

    /* b's last port goes: port_del, then segment_del. */
    put(idx, "/config/ports/vm2", NULL, 20);
    assert_int_equal(agent_index_refresh(idx), 0);
    json_t *b2 = agent_index_host_view(idx, "b");
    ops = agent_view_diff(b, b2);
    assert_int_equal(json_array_size(ops), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ops, 0), "op")),
                        "port_del");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ops, 1), "op")),
                        "segment_del");
    json_decref(ops);
    json_decref(b2);
    json_decref(b);
    json_decref(empty);
    agent_index_destroy(idx);
}

static void test_proxy_picks_and_repick(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("proxy");
    host(idx, "c", "10.1.1.3", 24);
    host(idx, "d", "10.1.2.1", 24);
    access_port(idx, "vm3", "c", "web", NULL, 4);
    access_port(idx, "vm4", "d", "web", NULL, 5);
    assert_int_equal(agent_index_refresh(idx), 0);

    json_t *a = agent_index_host_view(idx, "a");
    const json_t *op = json_object_get(segment(a, "5001"), "op");
    assert_string_equal(json_string_value(json_array_get(json_object_get(op, "replicas"), 0)),
                        "10.1.1.3");
    assert_int_equal(json_array_size(json_object_get(op, "proxies")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(op, "proxies"), 0)),
                        "10.1.2.1");
    json_decref(a);

    /* The proxy disconnects: the other VTEP of its subnet takes over. */
    agent_index_set_presence(idx, "d", AGENT_PRESENCE_STALE);
    assert_int_equal(agent_index_refresh(idx), 0);
    a = agent_index_host_view(idx, "a");
    op = json_object_get(segment(a, "5001"), "op");
    assert_string_equal(json_string_value(json_array_get(json_object_get(op, "proxies"), 0)),
                        "10.1.2.2");
    json_decref(a);
    agent_index_destroy(idx);
}

static void test_absent_host_is_withdrawn(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    put(idx, "/learned/b/mac/5001/02:00:00:00:20:01", "{\"port\":\"vm2\"}", 10);
    agent_index_set_presence(idx, "b", AGENT_PRESENCE_ABSENT);
    assert_int_equal(agent_index_refresh(idx), 0);
    json_t *a = agent_index_host_view(idx, "a");
    assert_int_equal(json_object_size(json_object_get(segment(a, "5001"), "vteps")), 0);
    assert_int_equal(json_object_size(json_object_get(segment(a, "5001"), "macs")), 0);
    json_decref(a);
    agent_index_destroy(idx);
}

static void test_bad_store_values_are_ignored(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    put(idx, "/config/segments/web", "not json", 30);
    put(idx, "/learned/b/mac/0/zz", "{\"port\":\"vm2\"}", 31);
    put(idx, "/learned/b/ip/5001/1.2.3.4", "{\"mac\":\"nope\"}", 32);
    assert_int_equal(agent_index_refresh(idx), 0);
    json_t *a = agent_index_host_view(idx, "a");
    assert_int_equal(json_object_size(json_object_get(a, "segments")), 0);
    assert_null(agent_index_learned(idx, "b"));
    json_decref(a);
    agent_index_destroy(idx);
}

static void test_change_touches_only_its_segment(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    put(idx, "/config/segments/db", "{\"name\":\"db\",\"vni\":6001,\"replication\":\"head-end\"}",
        4);
    host(idx, "c", "10.1.3.2", 24);
    access_port(idx, "vm3", "c", "db", NULL, 5);
    assert_int_equal(agent_index_refresh(idx), 0);
    json_t *a = agent_index_host_view(idx, "a");
    agent_index_clear_changes(idx);

    put(idx, "/learned/b/mac/5001/02:00:00:00:20:01", "{\"port\":\"vm2\"}", 10);
    assert_int_equal(agent_index_refresh(idx), 0);
    const json_t *touched = agent_index_touched(idx);
    assert_int_equal(json_object_size(touched), 2);
    assert_non_null(json_object_get(touched, "a"));
    assert_non_null(json_object_get(touched, "b"));
    assert_null(json_object_get(touched, "c"));
    json_t *ops = agent_index_host_changes(idx, "a", a, SIZE_MAX);
    assert_int_equal(json_array_size(ops), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ops, 0), "op")),
                        "mac_set");
    assert_int_equal(agent_view_apply(a, ops), 0);
    json_t *whole = agent_index_host_view(idx, "a");
    assert_true(json_equal(a, whole));
    json_decref(whole);
    json_decref(ops);
    /* b reported it: nothing new for b itself. */
    json_t *b = agent_index_host_view(idx, "b");
    ops = agent_index_host_changes(idx, "b", b, SIZE_MAX);
    assert_int_equal(json_array_size(ops), 0);
    json_decref(ops);
    json_decref(b);
    agent_index_clear_changes(idx);

    /* A report that changes no winner touches nobody. */
    put(idx, "/learned/b/mac/5001/02:00:00:00:10:01", "{\"port\":\"vm2\"}", 11);
    assert_int_equal(agent_index_refresh(idx), 0);
    assert_int_equal(json_object_size(agent_index_touched(idx)), 0);
    json_decref(a);
    agent_index_destroy(idx);
}

/* ---- Random sequences against a from-scratch index ------------------------- */

#define R_HOSTS 6
#define R_KEYS  256

struct rstore {
    char *keys[R_KEYS], *values[R_KEYS];
    uint64_t revs[R_KEYS];
    size_t n;
    uint64_t rev;
    enum agent_presence presence[R_HOSTS];
    uint32_t rng;
};

static unsigned rnd(struct rstore *st, unsigned n)
{
    st->rng = st->rng * 1103515245u + 12345u;
    return (st->rng >> 8) % n;
}

/* Puts (value) or deletes (NULL) key in the model store and the index. */
static void rput(struct rstore *st, struct agent_index *idx, const char *key, const char *value)
{
    size_t i = 0;
    while (i < st->n && strcmp(st->keys[i], key) != 0) {
        i++;
    }
    st->rev++;
    if (value) {
        if (i == st->n) {
            assert_true(st->n < R_KEYS);
            st->keys[st->n++] = strdup(key);
        } else {
            free(st->values[i]);
        }
        st->values[i] = strdup(value);
        st->revs[i] = st->rev;
    } else if (i < st->n) {
        free(st->keys[i]);
        free(st->values[i]);
        st->n--;
        st->keys[i] = st->keys[st->n];
        st->values[i] = st->values[st->n];
        st->revs[i] = st->revs[st->n];
    }
    agent_index_apply(idx, key, value, st->rev);
}

static const char *const r_macs[] = {"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03",
                                     "02:00:00:00:00:04", "02:00:00:00:00:05"};
static const char *const r_ips[] = {"172.16.0.1", "172.16.0.2", "172.16.0.3"};
static const char *const r_repl[] = {"head-end", "proxy", "multicast"};
static const int r_vnis[] = {100, 200, 300};

/* One random change of the store or of a host's presence. */
static void random_change(struct rstore *st, struct agent_index *idx)
{
    char key[128], value[512];
    unsigned what = rnd(st, 10), h = rnd(st, R_HOSTS);

    switch (what) {
    case 0: { /* a segment: its VNI and VLAN may move, or it goes */
        unsigned s = rnd(st, 3);
        snprintf(key, sizeof key, "/config/segments/s%u", s);
        snprintf(value, sizeof value,
                 "{\"name\":\"s%u\",\"vni\":%d,\"vlan\":%u,\"replication\":\"%s\","
                 "\"multicast_group\":\"239.1.1.%u\",\"arp_suppression\":true}",
                 s, r_vnis[rnd(st, 3)], 10 * rnd(st, 3), r_repl[rnd(st, 3)], s + 1);
        rput(st, idx, key, rnd(st, 5) ? value : NULL);
        break;
    }
    case 1:
    case 2: { /* a port: access with bindings, or trunk */
        unsigned p = rnd(st, 8);
        snprintf(key, sizeof key, "/config/ports/p%u", p);
        if (rnd(st, 4) == 0) {
            snprintf(value, sizeof value,
                     "{\"name\":\"p%u\",\"host\":\"h%u\",\"mode\":\"trunk\",\"vlans\":\"%s\"}", p,
                     h, rnd(st, 2) ? "10,20" : "20-30");
        } else {
            snprintf(value, sizeof value,
                     "{\"name\":\"p%u\",\"host\":\"h%u\",\"mode\":\"access\",\"segment\":\"s%u\","
                     "\"bindings\":[{\"mac\":\"%s\",\"ip\":\"%s\"}]}",
                     p, h, rnd(st, 3), r_macs[rnd(st, 5)], r_ips[rnd(st, 3)]);
        }
        rput(st, idx, key, rnd(st, 5) ? value : NULL);
        break;
    }
    case 3: /* a host's record: its VTEP may move */
        snprintf(key, sizeof key, "/hosts/h%u", h);
        snprintf(value, sizeof value,
                 "{\"id\":\"h%u\",\"vtep\":\"10.0.%u.%u\",\"vtep_prefix_len\":24}", h, rnd(st, 2),
                 1 + rnd(st, 4));
        rput(st, idx, key, rnd(st, 8) ? value : NULL);
        break;
    case 4:
        st->presence[h] = (enum agent_presence)rnd(st, 3);
        snprintf(key, sizeof key, "h%u", h);
        agent_index_set_presence(idx, key, st->presence[h]);
        break;
    default: { /* what a host learned */
        bool mac = rnd(st, 3) != 0;
        int vni = r_vnis[rnd(st, 3)];
        if (mac) {
            snprintf(key, sizeof key, "/learned/h%u/mac/%d/%s", h, vni, r_macs[rnd(st, 5)]);
            snprintf(value, sizeof value, "{\"port\":\"p%u\"}", rnd(st, 8));
        } else {
            snprintf(key, sizeof key, "/learned/h%u/ip/%d/%s", h, vni, r_ips[rnd(st, 3)]);
            snprintf(value, sizeof value, "{\"mac\":\"%s\"}", r_macs[rnd(st, 5)]);
        }
        rput(st, idx, key, rnd(st, 3) ? value : NULL);
        break;
    }
    }
}

/* A new index built from the model store in one go. */
static struct agent_index *from_scratch(const struct rstore *st)
{
    struct agent_index *idx = agent_index_create();
    assert_non_null(idx);
    for (size_t i = 0; i < st->n; i++) {
        agent_index_apply(idx, st->keys[i], st->values[i], st->revs[i]);
    }
    for (unsigned h = 0; h < R_HOSTS; h++) {
        char id[8];
        snprintf(id, sizeof id, "h%u", h);
        agent_index_set_presence(idx, id, st->presence[h]);
    }
    assert_int_equal(agent_index_refresh(idx), 0);
    return idx;
}

static void assert_same_json(json_t *a, json_t *b, const char *what)
{
    if (!json_equal(a, b)) {
        char *x = json_dumps(a, JSON_SORT_KEYS), *y = json_dumps(b, JSON_SORT_KEYS);
        print_error("%s differs:\n  incremental %s\n  scratch     %s\n", what, x, y);
        free(x);
        free(y);
        fail();
    }
    json_decref(a);
    json_decref(b);
}

/* agent_view_diff_part() in parts of random sizes, joined, is agent_view_diff(). */
static void assert_diff_in_parts(struct rstore *st, const json_t *old, const json_t *new)
{
    json_t *whole = agent_view_diff(old, new), *joined = json_array();
    size_t skip = 0;
    assert_non_null(whole);
    for (;;) {
        size_t max = 1 + rnd(st, 5);
        json_t *part = agent_view_diff_part(old, new, skip, max);
        assert_non_null(part);
        assert_true(json_array_size(part) <= max);
        json_array_extend(joined, part);
        skip += json_array_size(part);
        bool last = json_array_size(part) < max;
        json_decref(part);
        if (last) {
            break;
        }
    }
    assert_same_json(joined, whole, "diff in parts");
}

static void test_incremental_equals_from_scratch(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 40; seed++) {
        struct rstore st = {.rng = seed};
        struct agent_index *idx = agent_index_create();
        json_t *sent[R_HOSTS];
        assert_non_null(idx);
        for (unsigned h = 0; h < R_HOSTS; h++) {
            sent[h] = agent_view_empty();
        }
        for (int step = 0; step < 150; step++) {
            unsigned batch = 1 + rnd(&st, 4);
            for (unsigned i = 0; i < batch; i++) {
                random_change(&st, idx);
            }
            assert_int_equal(agent_index_refresh(idx), 0);
            struct agent_index *ref = from_scratch(&st);
            const json_t *touched = agent_index_touched(idx);
            for (unsigned h = 0; h < R_HOSTS; h++) {
                char id[8];
                snprintf(id, sizeof id, "h%u", h);
                json_t *whole = agent_index_host_view(idx, id);
                /* A host the change did not touch keeps its view. */
                if (!json_object_get(touched, id)) {
                    assert_true(json_equal(whole, sent[h]));
                }
                json_t *ops = agent_index_host_changes(idx, id, sent[h], SIZE_MAX);
                assert_non_null(ops);
                /* With a limit: the first ops only. */
                json_t *few = agent_index_host_changes(idx, id, sent[h], 2);
                json_t *first = json_array();
                for (size_t i = 0; i < 2 && i < json_array_size(ops); i++) {
                    json_array_append(first, json_array_get(ops, i));
                }
                assert_same_json(few, first, "limited changes");
                json_t *empty = agent_view_empty();
                assert_diff_in_parts(&st, sent[h], whole);
                assert_diff_in_parts(&st, empty, whole); /* a snapshot */
                json_decref(empty);
                assert_int_equal(agent_view_apply(sent[h], ops), 0);
                json_decref(ops);
                assert_same_json(json_incref(sent[h]), json_incref(whole), "patched view");
                assert_same_json(whole, agent_index_host_view(ref, id), "view");
            }
            for (unsigned v = 0; v < 3; v++) {
                assert_same_json(agent_index_segment_macs_json(idx, (uint32_t)r_vnis[v]),
                                 agent_index_segment_macs_json(ref, (uint32_t)r_vnis[v]),
                                 "MAC table");
                assert_same_json(agent_index_segment_arp_json(idx, (uint32_t)r_vnis[v]),
                                 agent_index_segment_arp_json(ref, (uint32_t)r_vnis[v]),
                                 "ARP table");
                assert_same_json(agent_index_segment_vteps_json(idx, (uint32_t)r_vnis[v]),
                                 agent_index_segment_vteps_json(ref, (uint32_t)r_vnis[v]),
                                 "VTEP table");
            }
            agent_index_destroy(ref);
            agent_index_clear_changes(idx);
        }
        for (unsigned h = 0; h < R_HOSTS; h++) {
            json_decref(sent[h]);
        }
        for (size_t i = 0; i < st.n; i++) {
            free(st.keys[i]);
            free(st.values[i]);
        }
        agent_index_destroy(idx);
    }
}

static void test_view_apply_rebuilds_a_snapshot(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("proxy");
    json_t *b = agent_index_host_view(idx, "b");
    json_t *got = agent_view_empty();
    json_t *ops = agent_view_diff(got, b);
    assert_int_equal(agent_view_apply(got, ops), 0);
    assert_true(json_equal(got, b));
    json_t *bad = json_pack("[{s:s}]", "op", "frobnicate");
    assert_int_equal(agent_view_apply(got, bad), EINVAL);
    json_decref(bad);
    json_decref(ops);
    json_decref(got);
    json_decref(b);
    agent_index_destroy(idx);
}

/* Views share the strings of the index's entries instead of copying them
 * (most of the controller's memory at 100k MACs is views): two hosts' views
 * hold one string for a MAC's VTEP, and so does a view that got the MAC as an
 * update (agent_index_host_changes() + agent_view_apply()). */
static void test_views_share_entry_strings(void **state)
{
    (void)state;
    struct agent_index *idx = two_hosts("head-end");
    host(idx, "c", "10.1.3.2", 24);
    access_port(idx, "vm3", "c", "web", NULL, 4);
    assert_int_equal(agent_index_refresh(idx), 0);
    agent_index_clear_changes(idx);
    json_t *b = agent_index_host_view(idx, "b");
    json_t *c = agent_index_host_view(idx, "c");
    const char *mac = "02:00:00:00:10:01";
    json_t *vb = json_object_get(json_object_get(segment(b, "5001"), "macs"), mac);
    assert_non_null(vb);
    assert_ptr_equal(vb, json_object_get(json_object_get(segment(c, "5001"), "macs"), mac));

    put(idx, "/learned/a/mac/5001/02:00:00:00:20:01", "{\"port\":\"vm1\"}", 10);
    assert_int_equal(agent_index_refresh(idx), 0);
    json_t *ops_b = agent_index_host_changes(idx, "b", b, SIZE_MAX);
    json_t *ops_c = agent_index_host_changes(idx, "c", c, SIZE_MAX);
    assert_int_equal(json_array_size(ops_b), 1);
    assert_int_equal(agent_view_apply(b, ops_b), 0);
    assert_int_equal(agent_view_apply(c, ops_c), 0);
    agent_index_clear_changes(idx);
    vb = json_object_get(json_object_get(segment(b, "5001"), "macs"), "02:00:00:00:20:01");
    assert_string_equal(json_string_value(vb), "10.1.1.2");
    assert_ptr_equal(
        vb, json_object_get(json_object_get(segment(c, "5001"), "macs"), "02:00:00:00:20:01"));
    json_t *fresh = agent_index_host_view(idx, "b");
    assert_true(json_equal(fresh, b));
    json_decref(fresh);
    json_decref(ops_b);
    json_decref(ops_c);
    json_decref(b);
    json_decref(c);
    agent_index_destroy(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_of_a_host),
        cmocka_unit_test(test_learned_mac_last_reporter_wins_bindings_win),
        cmocka_unit_test(test_diff_order_and_segment_lifecycle),
        cmocka_unit_test(test_proxy_picks_and_repick),
        cmocka_unit_test(test_absent_host_is_withdrawn),
        cmocka_unit_test(test_bad_store_values_are_ignored),
        cmocka_unit_test(test_change_touches_only_its_segment),
        cmocka_unit_test(test_incremental_equals_from_scratch),
        cmocka_unit_test(test_view_apply_rebuilds_a_snapshot),
        cmocka_unit_test(test_views_share_entry_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
