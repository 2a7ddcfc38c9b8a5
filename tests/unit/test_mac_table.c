/*
 * test_mac_table.c - unit tests of the per-segment MAC table (core/mac_table.c).
 *
 * Every expectation is an exact value: results of learn, destinations, time
 * stamps, counts, and how often the removal callback ran. The randomised
 * tests drive the table against a plain array model with a fixed PRNG seed,
 * so a failure is reproducible.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mac_table.h"

#define MAC_A 0x020000000001ull
#define MAC_B 0x020000000002ull
#define MAC_C 0x020000000003ull
#define MAC_D 0x020000000004ull

/* ---- Helpers ------------------------------------------------------------- */

struct removed_log {
    uint32_t calls;
    uint64_t keys[64];
    uint32_t dests[64];
    const struct mac_table *table; /* to check the entry is still there during the call */
    uint32_t still_present;
};

static void log_removed(const struct mac_entry *e, void *ctx)
{
    struct removed_log *log = ctx;

    if (log->calls < 64) {
        log->keys[log->calls] = e->key;
        log->dests[log->calls] = e->dest;
    }
    if (log->table) {
        const struct mac_entry *found =
            mac_table_lookup(log->table, mac_entry_segment(e), mac_entry_mac(e));
        if (found && found->key == e->key) {
            log->still_present++;
        }
    }
    log->calls++;
}

static bool log_has_key(const struct removed_log *log, uint64_t key)
{
    for (uint32_t i = 0; i < log->calls && i < 64; i++) {
        if (log->keys[i] == key) {
            return true;
        }
    }
    return false;
}

/* Deterministic xorshift64* so the randomised tests replay exactly. */
static uint64_t prng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ---- Creation ------------------------------------------------------------ */

static void test_create_bad_capacity(void **state)
{
    (void)state;
    assert_null(mac_table_create(0));
    assert_null(mac_table_create((1u << 28) + 1));
    assert_null(mac_table_create(UINT32_MAX));
    assert_null(mac_table_create(1u << 31));
}

static void test_create_count_capacity(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(1);
    assert_non_null(t);
    assert_int_equal(mac_table_capacity(t), 1);
    assert_int_equal(mac_table_count(t), 0);
    mac_table_destroy(t);

    t = mac_table_create(1000);
    assert_non_null(t);
    assert_int_equal(mac_table_capacity(t), 1000);
    assert_int_equal(mac_table_count(t), 0);
    assert_null(mac_table_lookup(t, 0, MAC_A));
    mac_table_destroy(t);
    mac_table_destroy(NULL);
}

/* ---- Learning ------------------------------------------------------------ */

static void test_learn_new_and_refreshed(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(16);
    uint32_t old = 0xdeadbeef;

    assert_int_equal(mac_table_learn(t, 3, MAC_A, MAC_DEST_PORT(7), 100, &old), MAC_LEARN_NEW);
    assert_int_equal(old, 0xdeadbeef); /* only written on MOVED */
    assert_int_equal(mac_table_count(t), 1);

    const struct mac_entry *e = mac_table_lookup(t, 3, MAC_A);
    assert_non_null(e);
    assert_int_equal(e->key, mac_table_key(3, MAC_A));
    assert_int_equal(mac_entry_segment(e), 3);
    assert_int_equal(mac_entry_mac(e), MAC_A);
    assert_int_equal(e->dest, MAC_DEST_PORT(7));
    assert_int_equal(e->last_seen, 100);
    assert_int_equal(e->is_static, 0);

    assert_int_equal(mac_table_learn(t, 3, MAC_A, MAC_DEST_PORT(7), 250, &old),
                     MAC_LEARN_REFRESHED);
    assert_int_equal(old, 0xdeadbeef);
    e = mac_table_lookup(t, 3, MAC_A);
    assert_non_null(e);
    assert_int_equal(e->last_seen, 250);
    assert_int_equal(e->dest, MAC_DEST_PORT(7));
    assert_int_equal(mac_table_count(t), 1);

    /* Same timestamp again: still REFRESHED. */
    assert_int_equal(mac_table_learn(t, 3, MAC_A, MAC_DEST_PORT(7), 250, &old),
                     MAC_LEARN_REFRESHED);
    /* Another segment or another MAC is not found. */
    assert_null(mac_table_lookup(t, 2, MAC_A));
    assert_null(mac_table_lookup(t, 3, MAC_B));
    mac_table_destroy(t);
}

static void test_learn_moved(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(16);
    uint32_t old = 0;

    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 10, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(2), 20, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_PORT(1));
    const struct mac_entry *e = mac_table_lookup(t, 0, MAC_A);
    assert_int_equal(e->dest, MAC_DEST_PORT(2));
    assert_int_equal(e->last_seen, 20);

    /* Port to VTEP. */
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_REMOTE(5), 30, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_PORT(2));
    e = mac_table_lookup(t, 0, MAC_A);
    assert_int_equal(e->dest, MAC_DEST_REMOTE(5));
    assert_int_equal(e->dest, 0x80000005u);
    assert_int_equal(e->last_seen, 30);

    /* VTEP to VTEP. */
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_REMOTE(6), 31, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_REMOTE(5));

    /* VTEP back to a port. */
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(0), 40, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_REMOTE(6));
    e = mac_table_lookup(t, 0, MAC_A);
    assert_int_equal(e->dest, MAC_DEST_PORT(0));
    assert_int_equal(e->is_static, 0);
    assert_int_equal(mac_table_count(t), 1);
    mac_table_destroy(t);
}

static void test_same_mac_two_segments(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(16);
    uint32_t old = 0;

    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 10, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(2), 11, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 65534, MAC_A, MAC_DEST_REMOTE(3), 12, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_count(t), 3);

    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->dest, MAC_DEST_PORT(1));
    assert_int_equal(mac_table_lookup(t, 1, MAC_A)->dest, MAC_DEST_PORT(2));
    assert_int_equal(mac_table_lookup(t, 65534, MAC_A)->dest, MAC_DEST_REMOTE(3));
    assert_int_equal(mac_entry_segment(mac_table_lookup(t, 65534, MAC_A)), 65534);

    /* Learning in one segment does not move the other. */
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(1), 13, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_PORT(2));
    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->dest, MAC_DEST_PORT(1));
    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->last_seen, 10);

    /* Static in one segment, learned in the other. */
    assert_int_equal(mac_table_add_static(t, 0, MAC_A, MAC_DEST_PORT(9), 14, NULL), 0);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(4), 15, &old), MAC_LEARN_MOVED);
    assert_int_equal(mac_table_lookup(t, 1, MAC_A)->is_static, 0);
    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->is_static, 1);

    /* Deleting in one segment keeps the others. */
    assert_true(mac_table_delete(t, 0, MAC_A));
    assert_null(mac_table_lookup(t, 0, MAC_A));
    assert_non_null(mac_table_lookup(t, 1, MAC_A));
    assert_non_null(mac_table_lookup(t, 65534, MAC_A));
    assert_int_equal(mac_table_count(t), 2);
    mac_table_destroy(t);
}

/* ---- Static entries ------------------------------------------------------ */

static void test_static_entries(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(16);
    uint32_t old = 0, replaced = 0;

    /* A new static entry replaces nothing. */
    assert_int_equal(mac_table_add_static(t, 0, MAC_B, MAC_DEST_PORT(4), 50, &replaced), 0);
    assert_int_equal(replaced, UINT32_MAX);
    const struct mac_entry *e = mac_table_lookup(t, 0, MAC_B);
    assert_non_null(e);
    assert_int_equal(e->is_static, 1);
    assert_int_equal(e->dest, MAC_DEST_PORT(4));
    assert_int_equal(e->last_seen, 50);

    /* Static over learned: replaced gets the learned dest, count unchanged. */
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 10, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_count(t), 2);
    assert_int_equal(mac_table_add_static(t, 0, MAC_A, MAC_DEST_REMOTE(2), 60, &replaced), 0);
    assert_int_equal(replaced, MAC_DEST_PORT(1));
    assert_int_equal(mac_table_count(t), 2);
    e = mac_table_lookup(t, 0, MAC_A);
    assert_int_equal(e->is_static, 1);
    assert_int_equal(e->dest, MAC_DEST_REMOTE(2));
    assert_int_equal(e->last_seen, 60);

    /* Learned behind a VTEP, then static: replaced is the VTEP dest. */
    assert_int_equal(mac_table_learn(t, 0, MAC_C, MAC_DEST_REMOTE(8), 10, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_add_static(t, 0, MAC_C, MAC_DEST_PORT(3), 61, &replaced), 0);
    assert_int_equal(replaced, MAC_DEST_REMOTE(8));

    /* Learning never overrides a static entry, neither dest nor timestamp. */
    old = 0x1234;
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 70, &old), MAC_LEARN_STATIC);
    assert_int_equal(old, 0x1234);
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_REMOTE(2), 71, &old), MAC_LEARN_STATIC);
    e = mac_table_lookup(t, 0, MAC_A);
    assert_int_equal(e->dest, MAC_DEST_REMOTE(2));
    assert_int_equal(e->is_static, 1);
    assert_int_equal(e->last_seen, 60);

    /* Static over static: replaced says no learned entry was there. */
    replaced = 0;
    assert_int_equal(mac_table_add_static(t, 0, MAC_A, MAC_DEST_PORT(5), 80, &replaced), 0);
    assert_int_equal(replaced, UINT32_MAX);
    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->dest, MAC_DEST_PORT(5));
    assert_int_equal(mac_table_count(t), 3);

    /* replaced may be NULL. */
    assert_int_equal(mac_table_add_static(t, 0, MAC_D, MAC_DEST_PORT(5), 80, NULL), 0);
    assert_int_equal(mac_table_count(t), 4);

    /* Zero, broadcast and multicast MACs are refused and not stored. */
    assert_int_equal(mac_table_add_static(t, 0, 0, MAC_DEST_PORT(1), 1, &replaced), EINVAL);
    assert_int_equal(mac_table_add_static(t, 0, 0xffffffffffffull, MAC_DEST_PORT(1), 1, NULL),
                     EINVAL);
    assert_int_equal(mac_table_add_static(t, 0, 0x01005e000001ull, MAC_DEST_PORT(1), 1, NULL),
                     EINVAL);
    assert_int_equal(mac_table_add_static(t, 1, 0x333300000001ull, MAC_DEST_PORT(1), 1, NULL),
                     EINVAL);
    assert_null(mac_table_lookup(t, 0, 0x01005e000001ull));
    assert_int_equal(mac_table_count(t), 4);

    /* Deleting a static entry lets learning take the MAC again. */
    assert_true(mac_table_delete(t, 0, MAC_A));
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 90, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_lookup(t, 0, MAC_A)->is_static, 0);
    mac_table_destroy(t);
}

/* ---- Deletion ------------------------------------------------------------ */

static void test_delete(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(16);
    uint32_t old = 0;

    assert_false(mac_table_delete(t, 0, MAC_A));
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 1, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_PORT(2), 1, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_add_static(t, 0, MAC_C, MAC_DEST_PORT(3), 1, NULL), 0);
    assert_int_equal(mac_table_count(t), 3);

    assert_false(mac_table_delete(t, 1, MAC_A)); /* wrong segment */
    assert_true(mac_table_delete(t, 0, MAC_A));
    assert_null(mac_table_lookup(t, 0, MAC_A));
    assert_false(mac_table_delete(t, 0, MAC_A));
    assert_int_equal(mac_table_count(t), 2);
    assert_int_equal(mac_table_lookup(t, 0, MAC_B)->dest, MAC_DEST_PORT(2));

    assert_true(mac_table_delete(t, 0, MAC_C)); /* static too */
    assert_null(mac_table_lookup(t, 0, MAC_C));
    assert_int_equal(mac_table_count(t), 1);
    assert_true(mac_table_delete(t, 0, MAC_B));
    assert_int_equal(mac_table_count(t), 0);
    mac_table_destroy(t);
}

/* ---- Aging --------------------------------------------------------------- */

static void test_age_boundary(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(64);
    struct removed_log log = {0};
    uint32_t old = 0;

    log.table = t;
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 100, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_REMOTE(2), 200, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_add_static(t, 0, MAC_C, MAC_DEST_PORT(3), 0, NULL), 0);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(4), 101, &old), MAC_LEARN_NEW);

    /* now 399: A is 299 s old, nothing goes. */
    assert_int_equal(mac_table_age(t, 399, 300, log_removed, &log), 0);
    assert_int_equal(log.calls, 0);
    assert_int_equal(mac_table_count(t), 4);

    /* now 400: A (seen at 100) is exactly 300 s old: removed; A in segment 1 is 299. */
    assert_int_equal(mac_table_age(t, 400, 300, log_removed, &log), 1);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.keys[0], mac_table_key(0, MAC_A));
    assert_int_equal(log.dests[0], MAC_DEST_PORT(1));
    assert_int_equal(log.still_present, 1); /* called before the entry goes */
    assert_null(mac_table_lookup(t, 0, MAC_A));
    assert_non_null(mac_table_lookup(t, 1, MAC_A));
    assert_non_null(mac_table_lookup(t, 0, MAC_B));
    assert_non_null(mac_table_lookup(t, 0, MAC_C));
    assert_int_equal(mac_table_count(t), 3);

    /* Refreshing resets the age. */
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_REMOTE(2), 450, &old),
                     MAC_LEARN_REFRESHED);
    memset(&log, 0, sizeof log);
    assert_int_equal(mac_table_age(t, 749, 300, log_removed, &log), 1); /* segment 1's A */
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.keys[0], mac_table_key(1, MAC_A));
    assert_non_null(mac_table_lookup(t, 0, MAC_B));

    /* A callback is optional; static C (seen at 0) survives any age. */
    assert_int_equal(mac_table_age(t, 750, 300, NULL, NULL), 1);
    assert_null(mac_table_lookup(t, 0, MAC_B));
    assert_int_equal(mac_table_age(t, 4000000000u, 1, NULL, NULL), 0);
    assert_non_null(mac_table_lookup(t, 0, MAC_C));
    assert_int_equal(mac_table_count(t), 1);
    mac_table_destroy(t);
}

static void test_age_many_callback_once_each(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(256);
    struct removed_log log = {0};
    uint32_t old = 0;

    /* 200 entries; even ones seen at 10, odd ones at 20, every tenth static. */
    for (uint32_t i = 0; i < 200; i++) {
        uint64_t mac = 0x0a0000000000ull | i;
        if (i % 10 == 0) {
            assert_int_equal(mac_table_add_static(t, i % 3, mac, MAC_DEST_PORT(i), 0, NULL), 0);
        } else {
            assert_int_equal(
                mac_table_learn(t, i % 3, mac, MAC_DEST_PORT(i), 10 + 10 * (i & 1), &old),
                MAC_LEARN_NEW);
        }
    }
    assert_int_equal(mac_table_count(t), 200);
    /* now 40, max 30: even learned ones (age 30) go: 100 even - 20 static = 80. */
    assert_int_equal(mac_table_age(t, 40, 30, log_removed, &log), 80);
    assert_int_equal(log.calls, 80);
    assert_int_equal(mac_table_count(t), 120);
    for (uint32_t i = 0; i < 200; i++) {
        uint64_t mac = 0x0a0000000000ull | i;
        const struct mac_entry *e = mac_table_lookup(t, i % 3, mac);
        if (i % 10 != 0 && i % 2 == 0) {
            assert_null(e);
        } else {
            assert_non_null(e);
            assert_int_equal(e->dest, MAC_DEST_PORT(i));
        }
    }
    /* No key reported twice. */
    for (uint32_t i = 0; i < 64; i++) {
        for (uint32_t j = i + 1; j < 64; j++) {
            assert_true(log.keys[i] != log.keys[j]);
        }
    }
    mac_table_destroy(t);
}

/* ---- Flush and foreach --------------------------------------------------- */

static bool match_dest(const struct mac_entry *e, void *ctx)
{
    return e->dest == *(const uint32_t *)ctx;
}

static bool match_segment(const struct mac_entry *e, void *ctx)
{
    return mac_entry_segment(e) == *(const uint32_t *)ctx;
}

static void test_flush_predicate(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(64);
    struct removed_log log = {0};
    uint32_t old = 0;

    log.table = t;
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(2), 1, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_PORT(3), 1, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(2), 1, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_add_static(t, 1, MAC_C, MAC_DEST_PORT(2), 1, NULL), 0);
    assert_int_equal(mac_table_learn(t, 1, MAC_D, MAC_DEST_REMOTE(2), 1, &old), MAC_LEARN_NEW);

    uint32_t dest = MAC_DEST_PORT(2);
    assert_int_equal(mac_table_flush(t, match_dest, &dest, log_removed, &log), 3);
    assert_int_equal(log.calls, 3);
    assert_int_equal(log.still_present, 3);
    assert_true(log_has_key(&log, mac_table_key(0, MAC_A)));
    assert_true(log_has_key(&log, mac_table_key(1, MAC_A)));
    assert_true(log_has_key(&log, mac_table_key(1, MAC_C))); /* static entries too */
    assert_int_equal(mac_table_count(t), 2);
    assert_non_null(mac_table_lookup(t, 0, MAC_B));
    assert_non_null(mac_table_lookup(t, 1, MAC_D)); /* VTEP 2 is not port 2 */

    /* Nothing matches: nothing removed, no callback. */
    memset(&log, 0, sizeof log);
    assert_int_equal(mac_table_flush(t, match_dest, &dest, log_removed, &log), 0);
    assert_int_equal(log.calls, 0);

    uint32_t seg = 1;
    assert_int_equal(mac_table_flush(t, match_segment, &seg, NULL, NULL), 1);
    assert_null(mac_table_lookup(t, 1, MAC_D));
    assert_int_equal(mac_table_count(t), 1);
    mac_table_destroy(t);
}

struct visit {
    uint32_t calls;
    uint64_t key_xor;
    uint64_t dest_sum;
};

static void visit_entry(const struct mac_entry *e, void *ctx)
{
    struct visit *v = ctx;
    v->calls++;
    v->key_xor ^= e->key;
    v->dest_sum += e->dest;
}

static void test_foreach_visits_all(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(300);
    struct visit v = {0};
    uint64_t key_xor = 0, dest_sum = 0;
    uint32_t old = 0;

    mac_table_foreach(t, visit_entry, &v);
    assert_int_equal(v.calls, 0);
    for (uint32_t i = 0; i < 300; i++) {
        uint64_t mac = 0x020000100000ull + i * 7919u;
        uint32_t seg = i % 5;
        if (i % 4 == 0) {
            assert_int_equal(mac_table_add_static(t, seg, mac, MAC_DEST_REMOTE(i), 0, NULL), 0);
        } else {
            assert_int_equal(mac_table_learn(t, seg, mac, MAC_DEST_PORT(i), 0, &old),
                             MAC_LEARN_NEW);
        }
        key_xor ^= mac_table_key(seg, mac);
        dest_sum += i % 4 == 0 ? MAC_DEST_REMOTE(i) : MAC_DEST_PORT(i);
    }
    mac_table_foreach(t, visit_entry, &v);
    assert_int_equal(v.calls, 300);
    assert_int_equal(v.key_xor, key_xor);
    assert_int_equal(v.dest_sum, dest_sum);
    mac_table_destroy(t);
}

/* ---- Capacity ------------------------------------------------------------ */

static void test_full_table(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(10);
    uint32_t old = 0, replaced = 0;

    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(mac_table_learn(t, 0, MAC_A + i, MAC_DEST_PORT(1), 5, &old),
                         MAC_LEARN_NEW);
    }
    assert_int_equal(mac_table_count(t), 10);
    assert_int_equal(mac_table_learn(t, 0, MAC_A + 10, MAC_DEST_PORT(1), 6, &old), MAC_LEARN_FULL);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(1), 6, &old), MAC_LEARN_FULL);
    assert_null(mac_table_lookup(t, 0, MAC_A + 10));
    assert_int_equal(mac_table_count(t), 10);

    /* Known entries still refresh and move when full. */
    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(1), 7, &old), MAC_LEARN_REFRESHED);
    assert_int_equal(mac_table_learn(t, 0, MAC_A + 1, MAC_DEST_PORT(2), 7, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_PORT(1));

    /* A new static entry does not fit; turning a learned one static does. */
    assert_int_equal(mac_table_add_static(t, 0, MAC_A + 10, MAC_DEST_PORT(1), 8, &replaced),
                     ENOSPC);
    assert_null(mac_table_lookup(t, 0, MAC_A + 10));
    assert_int_equal(mac_table_add_static(t, 0, MAC_A + 2, MAC_DEST_PORT(3), 8, &replaced), 0);
    assert_int_equal(replaced, MAC_DEST_PORT(1));
    assert_int_equal(mac_table_count(t), 10);

    /* One delete makes room for exactly one. */
    assert_true(mac_table_delete(t, 0, MAC_A + 5));
    assert_int_equal(mac_table_learn(t, 0, MAC_A + 10, MAC_DEST_PORT(1), 9, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_A + 11, MAC_DEST_PORT(1), 9, &old), MAC_LEARN_FULL);
    assert_int_equal(mac_table_count(t), 10);

    /* Aging frees room too. */
    /* Learned and last seen at 5: A+3, A+4, A+6 .. A+9 (A and A+1 were seen at 7). */
    assert_int_equal(mac_table_age(t, 5 + 300, 300, NULL, NULL), 6);
    assert_int_equal(mac_table_count(t), 4);
    assert_non_null(mac_table_lookup(t, 0, MAC_A));
    assert_non_null(mac_table_lookup(t, 0, MAC_A + 1));
    assert_null(mac_table_lookup(t, 0, MAC_A + 3));
    assert_int_equal(mac_table_learn(t, 0, MAC_A + 11, MAC_DEST_PORT(1), 305, &old), MAC_LEARN_NEW);
    mac_table_destroy(t);
}

static void test_capacity_one(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(1);
    uint32_t old = 0;

    assert_int_equal(mac_table_learn(t, 0, MAC_A, MAC_DEST_PORT(0), 0, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_PORT(0), 0, &old), MAC_LEARN_FULL);
    assert_true(mac_table_delete(t, 0, MAC_A));
    assert_int_equal(mac_table_learn(t, 0, MAC_B, MAC_DEST_PORT(0), 0, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_count(t), 1);
    mac_table_destroy(t);
}

/* ---- Randomised, against a model ----------------------------------------- */

#define MODEL_KEYS 1500

struct model_entry {
    bool present;
    bool is_static;
    uint32_t dest;
    uint32_t last_seen;
};

static uint64_t model_mac(uint32_t k)
{
    /* Neighbouring MACs and a few segments: keys that are close together. */
    return 0x020000000000ull | (k / 3);
}

static uint32_t model_seg(uint32_t k)
{
    return k % 3;
}

static void model_check(const struct mac_table *t, const struct model_entry *model, uint32_t n)
{
    uint32_t count = 0;

    for (uint32_t k = 0; k < n; k++) {
        const struct mac_entry *e = mac_table_lookup(t, model_seg(k), model_mac(k));
        if (!model[k].present) {
            assert_null(e);
            continue;
        }
        count++;
        assert_non_null(e);
        assert_int_equal(e->key, mac_table_key(model_seg(k), model_mac(k)));
        assert_int_equal(e->dest, model[k].dest);
        assert_int_equal(e->is_static, model[k].is_static);
        assert_int_equal(e->last_seen, model[k].last_seen);
    }
    assert_int_equal(mac_table_count(t), count);
}

static void test_random_ops_against_model(void **state)
{
    (void)state;
    const uint32_t capacity = 512;
    struct mac_table *t = mac_table_create(capacity);
    struct model_entry *model = calloc(MODEL_KEYS, sizeof *model);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint32_t count = 0;

    assert_non_null(model);
    for (uint32_t step = 0; step < 200000; step++) {
        uint32_t k = (uint32_t)(prng_next(&rng) % MODEL_KEYS);
        uint32_t op = (uint32_t)(prng_next(&rng) % 100);
        uint32_t dest = (uint32_t)(prng_next(&rng) % 4);
        uint32_t now = step / 100;
        struct model_entry *m = &model[k];
        uint32_t old = UINT32_MAX - 1;

        if (op < 55) {
            enum mac_learn_result r =
                mac_table_learn(t, model_seg(k), model_mac(k), MAC_DEST_PORT(dest), now, &old);
            if (m->present && m->is_static) {
                assert_int_equal(r, MAC_LEARN_STATIC);
            } else if (m->present && m->dest == dest) {
                assert_int_equal(r, MAC_LEARN_REFRESHED);
                m->last_seen = now;
            } else if (m->present) {
                assert_int_equal(r, MAC_LEARN_MOVED);
                assert_int_equal(old, m->dest);
                m->dest = dest;
                m->last_seen = now;
            } else if (count >= capacity) {
                assert_int_equal(r, MAC_LEARN_FULL);
            } else {
                assert_int_equal(r, MAC_LEARN_NEW);
                *m = (struct model_entry){true, false, dest, now};
                count++;
            }
        } else if (op < 95) {
            bool was = mac_table_delete(t, model_seg(k), model_mac(k));
            assert_int_equal(was, m->present);
            if (m->present) {
                count--;
            }
            m->present = false;
        } else {
            uint32_t replaced = 0;
            int err = mac_table_add_static(t, model_seg(k), model_mac(k), MAC_DEST_REMOTE(dest),
                                           now, &replaced);
            if (!m->present && count >= capacity) {
                assert_int_equal(err, ENOSPC);
            } else {
                assert_int_equal(err, 0);
                assert_int_equal(replaced, m->present && !m->is_static ? m->dest : UINT32_MAX);
                if (!m->present) {
                    count++;
                }
                *m = (struct model_entry){true, true, MAC_DEST_REMOTE(dest), now};
            }
        }
        if (step % 5000 == 0) {
            model_check(t, model, MODEL_KEYS);
        }
    }
    model_check(t, model, MODEL_KEYS);
    mac_table_destroy(t);
    free(model);
}

struct model_flush_ctx {
    struct model_entry *model;
    uint32_t removed;
};

static bool match_mac_mod3(const struct mac_entry *e, void *ctx)
{
    (void)ctx;
    return (mac_entry_mac(e) & 0xffff) % 3 == 0;
}

static void model_on_removed(const struct mac_entry *e, void *ctx)
{
    struct model_flush_ctx *c = ctx;
    uint32_t k = (uint32_t)((mac_entry_mac(e) & 0xffffff) * 3 + mac_entry_segment(e));

    assert_true(k < MODEL_KEYS);
    assert_true(c->model[k].present); /* removed once, and only if present */
    c->model[k].present = false;
    c->removed++;
}

/* Bulk removal (age, flush) over a nearly full table with long clusters: every
 * selected entry goes exactly once, every other one stays findable. */
static void test_bulk_removal_against_model(void **state)
{
    (void)state;
    const uint32_t capacity = 1024;
    struct mac_table *t = mac_table_create(capacity);
    struct model_entry *model = calloc(MODEL_KEYS, sizeof *model);
    uint64_t rng = 12345;

    assert_non_null(model);
    for (uint32_t round = 0; round < 20; round++) {
        /* Fill to capacity with random ages. */
        for (uint32_t k = 0; k < MODEL_KEYS && mac_table_count(t) < capacity; k++) {
            if (model[k].present) {
                continue;
            }
            uint32_t seen = (uint32_t)(prng_next(&rng) % 100);
            uint32_t old = 0;
            if (prng_next(&rng) % 8 == 0) {
                assert_int_equal(mac_table_add_static(t, model_seg(k), model_mac(k),
                                                      MAC_DEST_PORT(k), seen, NULL),
                                 0);
                model[k] = (struct model_entry){true, true, MAC_DEST_PORT(k), seen};
            } else {
                assert_int_equal(
                    mac_table_learn(t, model_seg(k), model_mac(k), MAC_DEST_PORT(k), seen, &old),
                    MAC_LEARN_NEW);
                model[k] = (struct model_entry){true, false, MAC_DEST_PORT(k), seen};
            }
        }
        assert_int_equal(mac_table_count(t), capacity);
        model_check(t, model, MODEL_KEYS);

        struct model_flush_ctx c = {.model = model};
        uint32_t expect = 0;
        if (round % 2 == 0) {
            /* Age: now 100, max 30 -> learned entries seen at <= 70 go. */
            for (uint32_t k = 0; k < MODEL_KEYS; k++) {
                expect += model[k].present && !model[k].is_static && model[k].last_seen <= 70;
            }
            assert_int_equal(mac_table_age(t, 100, 30, model_on_removed, &c), expect);
        } else {
            for (uint32_t k = 0; k < MODEL_KEYS; k++) {
                expect += model[k].present && (model_mac(k) & 0xffff) % 3 == 0;
            }
            assert_int_equal(mac_table_flush(t, match_mac_mod3, NULL, model_on_removed, &c),
                             expect);
        }
        assert_int_equal(c.removed, expect);
        model_check(t, model, MODEL_KEYS);
        /* Remove the statics now and then so that the table keeps changing. */
        if (round % 5 == 4) {
            for (uint32_t k = 0; k < MODEL_KEYS; k++) {
                if (model[k].present && model[k].is_static) {
                    assert_true(mac_table_delete(t, model_seg(k), model_mac(k)));
                    model[k].present = false;
                }
            }
            model_check(t, model, MODEL_KEYS);
        }
    }
    mac_table_destroy(t);
    free(model);
}

/* ---- Raw keys and 64-bit values (the ARP table's use) ---------------------- */

/* An IPv4 address in segment 2 -> a MAC: every value bit is kept and compared,
 * the same MAC under two keys is two entries, and one key's value changing is
 * a move that reports the old value. */
static void test_key_value_entries(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(4);
    const uint64_t k1 = mac_table_key(2, 0xac100a01), k2 = mac_table_key(2, 0xac100a02);
    const uint64_t m1 = 0xfedcba987654ull, m2 = 0xfedcba987655ull;
    uint64_t old = 7;

    assert_null(mac_table_lookup_key(t, k1));
    assert_null(mac_table_lookup_key(t, 0));
    assert_int_equal(mac_table_learn_key(t, k1, m1, 10, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn_key(t, k2, m1, 10, &old), MAC_LEARN_NEW);
    assert_int_equal(old, 7);
    const struct mac_entry *e = mac_table_lookup_key(t, k1);
    assert_non_null(e);
    assert_int_equal(e->key, k1);
    assert_int_equal(e->value, m1);
    assert_int_equal(mac_entry_segment(e), 2);
    assert_int_equal(e->last_seen, 10);
    assert_int_equal(mac_table_learn_key(t, k1, m1, 20, &old), MAC_LEARN_REFRESHED);
    assert_int_equal(mac_table_lookup_key(t, k1)->last_seen, 20);
    /* Values that differ in the low bit only, and above 32 bits only. */
    assert_int_equal(mac_table_learn_key(t, k1, m2, 30, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, m1);
    assert_int_equal(mac_table_learn_key(t, k1, m2 ^ (1ull << 44), 31, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, m2);
    assert_int_equal(mac_table_lookup_key(t, k1)->value, m2 ^ (1ull << 44));
    assert_int_equal(mac_table_lookup_key(t, k2)->value, m1);

    /* Static: replaces the learned value, learning leaves it, aging keeps it. */
    assert_int_equal(mac_table_add_static_key(t, k2, m2, 40), 0);
    e = mac_table_lookup_key(t, k2);
    assert_int_equal(e->value, m2);
    assert_int_equal(e->is_static, 1);
    assert_int_equal(mac_table_learn_key(t, k2, m1, 50, &old), MAC_LEARN_STATIC);
    assert_int_equal(mac_table_lookup_key(t, k2)->value, m2);
    assert_int_equal(mac_table_add_static_key(t, 0, m1, 50), EINVAL);
    assert_int_equal(mac_table_age(t, 1000, 100, NULL, NULL), 1); /* k1 */
    assert_null(mac_table_lookup_key(t, k1));
    assert_non_null(mac_table_lookup_key(t, k2));

    /* Capacity bounds both kinds of entry. */
    assert_int_equal(mac_table_learn_key(t, mac_table_key(3, 1), 1, 60, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_learn_key(t, mac_table_key(3, 2), 2, 60, &old), MAC_LEARN_NEW);
    assert_int_equal(mac_table_add_static_key(t, mac_table_key(3, 3), 3, 60), 0);
    assert_int_equal(mac_table_count(t), 4);
    assert_int_equal(mac_table_learn_key(t, mac_table_key(3, 4), 4, 60, &old), MAC_LEARN_FULL);
    assert_int_equal(mac_table_add_static_key(t, mac_table_key(3, 4), 4, 60), ENOSPC);

    assert_false(mac_table_delete_key(t, 0));
    assert_false(mac_table_delete_key(t, k1));
    assert_true(mac_table_delete_key(t, k2));
    assert_null(mac_table_lookup_key(t, k2));
    assert_int_equal(mac_table_count(t), 3);
    mac_table_destroy(t);
}

/* The MAC API over the shared 64-bit value: dest reads back whatever was
 * written before in the slot, and the key API sees the same entry. */
static void test_dest_in_value(void **state)
{
    (void)state;
    struct mac_table *t = mac_table_create(4);
    const uint64_t key = mac_table_key(1, MAC_A);
    uint64_t old64 = 0;
    uint32_t old = 0, replaced = 0;

    /* A slot that held a wide value, emptied, then taken by a MAC entry. */
    assert_int_equal(mac_table_learn_key(t, key, 0xffffffffffffull, 1, &old64), MAC_LEARN_NEW);
    assert_true(mac_table_delete(t, 1, MAC_A));
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_REMOTE(3), 2, &old), MAC_LEARN_NEW);
    const struct mac_entry *e = mac_table_lookup(t, 1, MAC_A);
    assert_int_equal(e->dest, MAC_DEST_REMOTE(3));
    assert_ptr_equal(mac_table_lookup_key(t, key), e);
    /* Same dest: refreshed, not moved (no stale upper bits in the value). */
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_REMOTE(3), 3, &old),
                     MAC_LEARN_REFRESHED);
    assert_int_equal(mac_table_learn(t, 1, MAC_A, MAC_DEST_PORT(9), 4, &old), MAC_LEARN_MOVED);
    assert_int_equal(old, MAC_DEST_REMOTE(3));
    assert_int_equal(mac_table_add_static(t, 1, MAC_A, MAC_DEST_PORT(1), 5, &replaced), 0);
    assert_int_equal(replaced, MAC_DEST_PORT(9));
    assert_int_equal(mac_table_lookup(t, 1, MAC_A)->dest, MAC_DEST_PORT(1));
    assert_true(mac_table_delete_key(t, key));
    assert_int_equal(mac_table_count(t), 0);
    mac_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_bad_capacity),
        cmocka_unit_test(test_create_count_capacity),
        cmocka_unit_test(test_learn_new_and_refreshed),
        cmocka_unit_test(test_learn_moved),
        cmocka_unit_test(test_same_mac_two_segments),
        cmocka_unit_test(test_static_entries),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_age_boundary),
        cmocka_unit_test(test_age_many_callback_once_each),
        cmocka_unit_test(test_flush_predicate),
        cmocka_unit_test(test_foreach_visits_all),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_capacity_one),
        cmocka_unit_test(test_random_ops_against_model),
        cmocka_unit_test(test_bulk_removal_against_model),
        cmocka_unit_test(test_key_value_entries),
        cmocka_unit_test(test_dest_in_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
