/*
 * test_agent_view.c - unit tests of the agent server's index and views
 * (src/controller/agent_index.h): which segments, VTEPs, MACs and IPs a host
 * is given, who wins a MAC, the proxy picks per subnet, and the order of the
 * ops a view difference turns into.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_of_a_host),
        cmocka_unit_test(test_learned_mac_last_reporter_wins_bindings_win),
        cmocka_unit_test(test_diff_order_and_segment_lifecycle),
        cmocka_unit_test(test_proxy_picks_and_repick),
        cmocka_unit_test(test_absent_host_is_withdrawn),
        cmocka_unit_test(test_bad_store_values_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
