/*
 * test_lib.c - unit tests of the lib helpers: MAC and IP address text forms,
 * the Internet checksum and the u64 hash map.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/checksum.h"
#include "lib/ether.h"
#include "lib/ip_addr.h"
#include "lib/u64_map.h"

/* ---- helpers --------------------------------------------------------------- */

/* A heap copy of text sized exactly to it, so that ASan reports any read past the NUL. */
static char *exact_copy(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    return copy;
}

static int parse_mac_exact(const char *text, struct eth_addr *out)
{
    char *copy = exact_copy(text);
    int rc = eth_addr_parse(copy, out);
    free(copy);
    return rc;
}

static int parse_ip_exact(const char *text, struct ip_addr *out)
{
    char *copy = exact_copy(text);
    int rc = ip_addr_parse(copy, out);
    free(copy);
    return rc;
}

/* Deterministic PRNG (xorshift64*), so a failure reproduces. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Reference RFC 1071 sum: big-endian 16-bit words, end-around carry after each add,
 * an odd last byte padded with zero. Returns the (uncomplemented) 16-bit sum. */
static uint16_t ref_sum(const uint8_t *data, size_t len, uint16_t start)
{
    uint32_t sum = start;
    for (size_t i = 0; i < len; i += 2) {
        uint32_t w = (uint32_t)data[i] << 8 | (i + 1 < len ? data[i + 1] : 0);
        sum += w;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

/* The checksum as it would appear on the wire (first byte in the high bits). */
static uint16_t wire_value(uint16_t folded)
{
    const uint8_t *b = (const uint8_t *)&folded;
    return (uint16_t)(b[0] << 8 | b[1]);
}

/* ---- eth_addr ------------------------------------------------------------- */

static void test_eth_parse_valid(void **state)
{
    (void)state;
    struct eth_addr mac;
    static const uint8_t want[6] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd};

    memset(&mac, 0x77, sizeof mac);
    assert_int_equal(parse_mac_exact("02:00:5e:10:ab:cd", &mac), 0);
    assert_memory_equal(mac.bytes, want, 6);

    assert_int_equal(parse_mac_exact("00:00:00:00:00:00", &mac), 0);
    assert_true(eth_addr_is_zero(mac.bytes));

    static const uint8_t ones[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(parse_mac_exact("ff:ff:ff:ff:ff:ff", &mac), 0);
    assert_memory_equal(mac.bytes, ones, 6);
}

static void test_eth_parse_uppercase_and_dash(void **state)
{
    (void)state;
    struct eth_addr mac;
    static const uint8_t want[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

    assert_int_equal(parse_mac_exact("AA:BB:CC:DD:EE:FF", &mac), 0);
    assert_memory_equal(mac.bytes, want, 6);
    memset(&mac, 0, sizeof mac);
    assert_int_equal(parse_mac_exact("aA:Bb:cC:dD:eE:Ff", &mac), 0);
    assert_memory_equal(mac.bytes, want, 6);
    memset(&mac, 0, sizeof mac);
    assert_int_equal(parse_mac_exact("aa-bb-cc-dd-ee-ff", &mac), 0);
    assert_memory_equal(mac.bytes, want, 6);
    memset(&mac, 0, sizeof mac);
    assert_int_equal(parse_mac_exact("AA-BB-CC-DD-EE-FF", &mac), 0);
    assert_memory_equal(mac.bytes, want, 6);
}

static void test_eth_parse_mixed_separators(void **state)
{
    (void)state;
    struct eth_addr mac;

    assert_int_equal(parse_mac_exact("aa:bb-cc:dd:ee:ff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aa-bb:cc-dd-ee-ff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aa:bb:cc:dd:ee-ff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aa-bb-cc-dd-ee:ff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aa.bb.cc.dd.ee.ff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aabb.ccdd.eeff", &mac), EINVAL);
    assert_int_equal(parse_mac_exact("aa bb cc dd ee ff", &mac), EINVAL);
}

static void test_eth_parse_bad_length(void **state)
{
    (void)state;
    struct eth_addr mac;
    static const char *const bad[] = {
        "",
        "a",
        "aa",
        "aa:",
        "aa:b",
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:",
        "aa:bb:cc:dd:ee:f",
        "a:b:c:d:e:f",
        "aa:bb:cc:dd:e:ff",
        "aa:bb:cc:dd:ee:ff:",
        "aa:bb:cc:dd:ee:ff:00",
        "aa:bb:cc:dd:ee:fff",
        "aabbccddeeff",
        "aaa:bb:cc:dd:ee:ff",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_mac_exact(bad[i], &mac) != EINVAL) {
            fail_msg("eth_addr_parse accepted \"%s\"", bad[i]);
        }
    }
}

static void test_eth_parse_non_hex_and_junk(void **state)
{
    (void)state;
    struct eth_addr mac;
    static const char *const bad[] = {
        "gg:bb:cc:dd:ee:ff",  "aa:bb:cc:dd:ee:fg",   "aa:bb:cc:dd:ee:g0",  "0x:bb:cc:dd:ee:ff",
        "aa:bb:cc:dd:ee:ff ", "aa:bb:cc:dd:ee:ff\n", " aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ffx",
        "aa:bb:cc:dd:ee:ff,", "+a:bb:cc:dd:ee:ff",   "aa:bb:cc: d:ee:ff",  "aa::bb:cc:dd:ee:ff",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_mac_exact(bad[i], &mac) != EINVAL) {
            fail_msg("eth_addr_parse accepted \"%s\"", bad[i]);
        }
    }
}

static void test_eth_format(void **state)
{
    (void)state;
    static const uint8_t mac[6] = {0xfa, 0x0A, 0xbc, 0x00, 0x09, 0xDe};
    char buf[ETH_ADDR_STRLEN + 4];

    memset(buf, 'X', sizeof buf);
    assert_ptr_equal(eth_addr_format(mac, buf), buf);
    assert_string_equal(buf, "fa:0a:bc:00:09:de");
    assert_int_equal(strlen(buf), ETH_ADDR_STRLEN - 1);
    /* Nothing written past ETH_ADDR_STRLEN bytes. */
    assert_int_equal(buf[ETH_ADDR_STRLEN], 'X');

    /* Format then parse gives the same bytes, for a spread of addresses. */
    uint64_t seed = 0x1234567;
    for (int i = 0; i < 1000; i++) {
        uint8_t in[6];
        struct eth_addr out;
        eth_addr_from_u64(rng_next(&seed) & 0xffffffffffffull, in);
        eth_addr_format(in, buf);
        assert_int_equal(eth_addr_parse(buf, &out), 0);
        assert_memory_equal(out.bytes, in, 6);
    }
}

static void test_eth_u64_and_predicates(void **state)
{
    (void)state;
    static const uint8_t mac[6] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    uint8_t back[6];

    assert_true(eth_addr_to_u64(mac) == 0x0123456789abull);
    eth_addr_from_u64(0x0123456789abull, back);
    assert_memory_equal(back, mac, 6);
    /* Bits above 48 are ignored. */
    eth_addr_from_u64(0xffff0123456789abull, back);
    assert_memory_equal(back, mac, 6);

    assert_true(eth_addr_is_multicast(mac));
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t unicast[6] = {0x02, 0, 0, 0, 0, 1};
    static const uint8_t zero[6] = {0};
    static const uint8_t last_bit[6] = {0, 0, 0, 0, 0, 1};
    assert_true(eth_addr_is_multicast(bcast));
    assert_false(eth_addr_is_multicast(unicast));
    assert_true(eth_addr_is_zero(zero));
    assert_false(eth_addr_is_zero(unicast));
    assert_false(eth_addr_is_zero(last_bit));
}

/* ---- ip_addr -------------------------------------------------------------- */

static void test_ip_parse_v4(void **state)
{
    (void)state;
    struct ip_addr a;
    char buf[IP_ADDR_STRLEN];
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 16, 10, 11};

    assert_int_equal(parse_ip_exact("172.16.10.11", &a), 0);
    assert_memory_equal(a.bytes, want, 16);
    assert_true(ip_addr_is_v4(&a));
    assert_false(ip_addr_is_zero(&a));
    assert_string_equal(ip_addr_format(&a, buf), "172.16.10.11");

    assert_int_equal(parse_ip_exact("255.255.255.255", &a), 0);
    assert_true(ip_addr_is_v4(&a));
    assert_string_equal(ip_addr_format(&a, buf), "255.255.255.255");

    /* An IPv4-mapped IPv6 literal is the same address as the dotted quad. */
    struct ip_addr b;
    assert_int_equal(parse_ip_exact("::ffff:172.16.10.11", &b), 0);
    assert_int_equal(parse_ip_exact("172.16.10.11", &a), 0);
    assert_true(ip_addr_equal(&a, &b));
    assert_true(ip_addr_is_v4(&b));
    assert_string_equal(ip_addr_format(&b, buf), "172.16.10.11");

    uint8_t v4[4] = {10, 0, 0, 1};
    ip_addr_set_v4(&b, v4);
    assert_int_equal(parse_ip_exact("10.0.0.1", &a), 0);
    assert_true(ip_addr_equal(&a, &b));
}

static void test_ip_parse_v6(void **state)
{
    (void)state;
    struct ip_addr a;
    char buf[IP_ADDR_STRLEN];
    static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    assert_int_equal(parse_ip_exact("2001:db8::1", &a), 0);
    assert_memory_equal(a.bytes, want, 16);
    assert_false(ip_addr_is_v4(&a));
    assert_string_equal(ip_addr_format(&a, buf), "2001:db8::1");

    assert_int_equal(parse_ip_exact("2001:DB8:0:0:0:0:0:1", &a), 0);
    assert_memory_equal(a.bytes, want, 16);

    /* The longest printed form fits IP_ADDR_STRLEN. */
    assert_int_equal(parse_ip_exact("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &a), 0);
    assert_string_equal(ip_addr_format(&a, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

    assert_int_equal(parse_ip_exact("::", &a), 0);
    assert_true(ip_addr_is_zero(&a));
    assert_false(ip_addr_is_v4(&a));
    assert_string_equal(ip_addr_format(&a, buf), "::");

    struct ip_addr b;
    ip_addr_set_v6(&b, want);
    assert_int_equal(parse_ip_exact("2001:db8::1", &a), 0);
    assert_true(ip_addr_equal(&a, &b));
    assert_int_equal(parse_ip_exact("2001:db8::2", &a), 0);
    assert_false(ip_addr_equal(&a, &b));
}

static void test_ip_parse_invalid(void **state)
{
    (void)state;
    struct ip_addr a;
    static const char *const bad[] = {
        "",         "1.2.3",      "1.2.3.4.5",    "256.1.1.1",      "1.2.3.4 ",  " 1.2.3.4",
        "1.2.3.-4", "abc",        "2001:db8:::1", "2001:db8::1::2", "2001:db8:", "12345::1",
        "::g",      "1.2.3.4/24", "fe80::1%eth0", "2001:db8::1 ",   "localhost", "1..2.3",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_ip_exact(bad[i], &a) != EINVAL) {
            fail_msg("ip_addr_parse accepted \"%s\"", bad[i]);
        }
    }
}

static void test_ip_multicast(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool mcast;
    } cases[] = {
        {"224.0.0.1", true},
        {"239.255.255.255", true},
        {"233.1.2.3", true},
        {"223.255.255.255", false},
        {"240.0.0.1", false},
        {"10.0.0.1", false},
        {"255.255.255.255", false},
        {"ff02::1", true},
        {"ff0e::1:2", true},
        {"fe80::1", false},
        {"2001:db8::1", false},
        {"::ffff:224.0.0.5", true},
        {"::", false},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ip_addr a;
        assert_int_equal(ip_addr_parse(cases[i].text, &a), 0);
        if (ip_addr_is_multicast(&a) != cases[i].mcast) {
            fail_msg("ip_addr_is_multicast(%s) != %d", cases[i].text, cases[i].mcast);
        }
    }
}

/* ---- checksum ------------------------------------------------------------- */

static void test_csum_rfc1071_example(void **state)
{
    (void)state;
    /* RFC 1071 section 3: these bytes sum to ddf2, so the checksum is 220d. */
    static const uint8_t data[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

    uint16_t folded = csum_fold(csum_partial(data, sizeof data, 0));
    uint8_t wire[2];
    memcpy(wire, &folded, 2);
    assert_int_equal(wire[0], 0x22);
    assert_int_equal(wire[1], 0x0d);
    assert_int_equal(ref_sum(data, sizeof data, 0), 0xddf2);

    /* The same sum in two halves (even split). */
    uint32_t sum = csum_partial(data, 4, 0);
    sum = csum_partial(data + 4, 4, sum);
    assert_int_equal(wire_value(csum_fold(sum)), 0x220d);
}

static void test_csum_ipv4_header(void **state)
{
    (void)state;
    /* A classic example header whose checksum is b861. */
    uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

    uint16_t sum = csum_fold(csum_partial(ip, sizeof ip, 0));
    assert_int_equal(wire_value(sum), 0xb861);
    memcpy(ip + 10, &sum, 2);
    assert_int_equal(ip[10], 0xb8);
    assert_int_equal(ip[11], 0x61);
    /* A header with its checksum in place verifies to zero. */
    assert_int_equal(csum_fold(csum_partial(ip, sizeof ip, 0)), 0);
    /* Damage one bit: no longer verifies. */
    ip[8] ^= 1;
    assert_int_not_equal(csum_fold(csum_partial(ip, sizeof ip, 0)), 0);
}

static void test_csum_odd_lengths(void **state)
{
    (void)state;
    static const uint8_t one[1] = {0x01};
    static const uint8_t three[3] = {0x12, 0x34, 0x56};

    /* An odd last byte is the high byte of a zero-padded word. */
    assert_int_equal(wire_value(csum_fold(csum_partial(one, 1, 0))), 0xfeff);
    assert_int_equal(wire_value(csum_fold(csum_partial(three, 3, 0))), 0x97cb);
    /* Empty: the sum is zero, the checksum ffff. */
    assert_int_equal(csum_fold(csum_partial(one, 0, 0)), 0xffff);

    /* Every length 0..300 at every alignment 0..7 against the reference. */
    static uint8_t buf[320];
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)rng_next(&seed);
    }
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 300; len++) {
            uint16_t got = wire_value(csum_fold(csum_partial(buf + align, len, 0)));
            uint16_t want = (uint16_t)~ref_sum(buf + align, len, 0);
            if (got != want) {
                fail_msg("align %zu len %zu: got %04x want %04x", align, len, got, want);
            }
        }
    }
}

static void test_csum_incremental(void **state)
{
    (void)state;
    static uint8_t buf[1500];
    uint64_t seed = 7;

    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)rng_next(&seed);
    }
    uint16_t whole = csum_fold(csum_partial(buf, sizeof buf, 0));
    /* Any even split, in any number of chunks, gives the same checksum. */
    for (size_t k = 0; k <= sizeof buf; k += 2) {
        uint32_t sum = csum_partial(buf, k, 0);
        sum = csum_partial(buf + k, sizeof buf - k, sum);
        assert_int_equal(csum_fold(sum), whole);
    }
    uint32_t sum = 0;
    for (size_t k = 0; k < sizeof buf; k += 6) {
        sum = csum_partial(buf + k, 6, sum);
    }
    assert_int_equal(csum_fold(sum), whole);

    /* A carried-in sum (e.g. a pseudo-header) adds like any other word. */
    static const uint8_t pseudo[4] = {0x12, 0x34, 0xab, 0xcd};
    uint32_t with = csum_partial(buf, 101, csum_partial(pseudo, 4, 0));
    uint16_t want = (uint16_t)~ref_sum(buf, 101, ref_sum(pseudo, 4, 0));
    assert_int_equal(wire_value(csum_fold(with)), want);

    /* A large carried-in accumulator still folds correctly. */
    uint32_t acc = 0xfffffff0u;
    uint32_t big = csum_partial(buf, 64, acc);
    /* The accumulator holds memory-order words: its own bytes sum the same. */
    uint16_t start = ref_sum((const uint8_t *)&acc, sizeof acc, 0);
    assert_int_equal(wire_value(csum_fold(big)), (uint16_t)~ref_sum(buf, 64, start));
}

static void test_csum_large_all_ones(void **state)
{
    (void)state;
    size_t len = 65536;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);

    /* 32768 words of ffff: the accumulator carries many times; the sum is ffff. */
    memset(buf, 0xff, len);
    assert_int_equal(csum_fold(csum_partial(buf, len, 0)), 0x0000);
    assert_int_equal(ref_sum(buf, len, 0), 0xffff);
    /* Odd length: the last ff becomes ff00. */
    assert_int_equal(wire_value(csum_fold(csum_partial(buf, len - 1, 0))),
                     (uint16_t)~ref_sum(buf, len - 1, 0));

    uint64_t seed = 99;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(0xf0 | (rng_next(&seed) & 0x0f));
    }
    assert_int_equal(wire_value(csum_fold(csum_partial(buf, len, 0))),
                     (uint16_t)~ref_sum(buf, len, 0));
    free(buf);
}

/* ---- u64_map -------------------------------------------------------------- */

static void test_map_basic(void **state)
{
    (void)state;
    struct u64_map *m = u64_map_create(4);
    uint32_t v = 0;

    assert_non_null(m);
    assert_int_equal(u64_map_count(m), 0);
    assert_false(u64_map_get(m, 1, &v));

    assert_int_equal(u64_map_put(m, 1, 100), 0);
    assert_int_equal(u64_map_put(m, 0xffffffffffffffffull, 200), 0);
    assert_int_equal(u64_map_put(m, 0x8000000000000000ull, 300), 0);
    assert_int_equal(u64_map_count(m), 3);
    assert_true(u64_map_get(m, 1, &v));
    assert_int_equal(v, 100);
    assert_true(u64_map_get(m, 0xffffffffffffffffull, &v));
    assert_int_equal(v, 200);
    assert_true(u64_map_get(m, 0x8000000000000000ull, &v));
    assert_int_equal(v, 300);
    assert_false(u64_map_get(m, 2, &v));

    /* Replace: same count, new value. */
    assert_int_equal(u64_map_put(m, 1, 101), 0);
    assert_int_equal(u64_map_count(m), 3);
    assert_true(u64_map_get(m, 1, &v));
    assert_int_equal(v, 101);
    assert_int_equal(u64_map_put(m, 1, UINT32_MAX), 0);
    assert_true(u64_map_get(m, 1, &v));
    assert_int_equal(v, UINT32_MAX);

    /* Delete. */
    assert_true(u64_map_del(m, 1));
    assert_false(u64_map_del(m, 1));
    assert_false(u64_map_get(m, 1, &v));
    assert_int_equal(u64_map_count(m), 2);
    assert_false(u64_map_del(m, 12345));
    assert_int_equal(u64_map_count(m), 2);
    assert_true(u64_map_get(m, 0xffffffffffffffffull, &v));
    assert_int_equal(v, 200);

    /* Re-insert after delete. */
    assert_int_equal(u64_map_put(m, 1, 7), 0);
    assert_true(u64_map_get(m, 1, &v));
    assert_int_equal(v, 7);
    assert_int_equal(u64_map_count(m), 3);

    u64_map_destroy(m);
    u64_map_destroy(NULL);
}

static void test_map_key_zero(void **state)
{
    (void)state;
    struct u64_map *m = u64_map_create(0);
    uint32_t v = 12345;

    assert_non_null(m);
    assert_int_equal(u64_map_put(m, 0, 1), EINVAL);
    assert_int_equal(u64_map_count(m), 0);
    assert_false(u64_map_get(m, 0, &v));
    assert_int_equal(v, 12345);
    assert_false(u64_map_del(m, 0));
    /* An empty slot must not look like key 0 once other keys are in. */
    assert_int_equal(u64_map_put(m, 5, 1), 0);
    assert_false(u64_map_get(m, 0, &v));
    assert_int_equal(u64_map_put(m, 0, 2), EINVAL);
    assert_int_equal(u64_map_count(m), 1);
    u64_map_destroy(m);
}

static uint64_t map_key(uint32_t i)
{
    /* Mix of dense small keys and sparse large ones. */
    return (i & 1) ? (uint64_t)i + 1 : ((uint64_t)i << 40 | 0x5a5a);
}

static void test_map_many_with_deletes(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct u64_map *m = u64_map_create(8);
    uint32_t v;

    assert_non_null(m);
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(u64_map_put(m, map_key(i), i * 3), 0);
    }
    assert_int_equal(u64_map_count(m), N);
    /* Delete every third, and a second pass of every seventh among the rest. */
    uint32_t count = N;
    for (uint32_t i = 0; i < N; i += 3) {
        assert_true(u64_map_del(m, map_key(i)));
        count--;
    }
    for (uint32_t i = 0; i < N; i += 7) {
        if (i % 3) {
            assert_true(u64_map_del(m, map_key(i)));
            count--;
        }
    }
    assert_int_equal(u64_map_count(m), count);
    for (uint32_t i = 0; i < N; i++) {
        bool gone = i % 3 == 0 || i % 7 == 0;
        bool found = u64_map_get(m, map_key(i), &v);
        if (found == gone) {
            fail_msg("key %u: found %d, deleted %d", i, found, gone);
        }
        if (found) {
            assert_int_equal(v, i * 3);
        }
    }
    /* Put the deleted ones back with new values. */
    for (uint32_t i = 0; i < N; i++) {
        if (i % 3 == 0 || i % 7 == 0) {
            assert_int_equal(u64_map_put(m, map_key(i), i + 1), 0);
        }
    }
    assert_int_equal(u64_map_count(m), N);
    for (uint32_t i = 0; i < N; i++) {
        assert_true(u64_map_get(m, map_key(i), &v));
        assert_int_equal(v, (i % 3 == 0 || i % 7 == 0) ? i + 1 : i * 3);
    }
    /* Delete all: empty again. */
    for (uint32_t i = 0; i < N; i++) {
        assert_true(u64_map_del(m, map_key(i)));
    }
    assert_int_equal(u64_map_count(m), 0);
    for (uint32_t i = 0; i < N; i++) {
        assert_false(u64_map_get(m, map_key(i), &v));
    }
    u64_map_destroy(m);
}

/* Random inserts, replaces and deletes over a small key space, checked against
 * a plain array after every operation batch: clusters form, wrap around the
 * end of the table, and get cut by deletes, which is where backward-shift
 * deletion goes wrong if it does. */
static void test_map_random_churn(void **state)
{
    (void)state;
    enum { KEYS = 300, OPS = 200000 };
    static uint32_t ref[KEYS + 1];
    static bool present[KEYS + 1];
    struct u64_map *m = u64_map_create(1);
    uint64_t seed = 0xdeadbeef;
    uint32_t count = 0;
    uint32_t v;

    assert_non_null(m);
    memset(present, 0, sizeof present);
    for (uint32_t op = 0; op < OPS; op++) {
        uint64_t r = rng_next(&seed);
        uint32_t k = 1 + (uint32_t)(r % KEYS);
        if ((r >> 32) % 5 < 3) {
            uint32_t val = (uint32_t)(r >> 40);
            assert_int_equal(u64_map_put(m, k, val), 0);
            count += !present[k];
            present[k] = true;
            ref[k] = val;
        } else {
            bool was = u64_map_del(m, k);
            if (was != present[k]) {
                fail_msg("op %u: del(%u) returned %d, expected %d", op, k, was, present[k]);
            }
            count -= present[k];
            present[k] = false;
        }
        if (op % 500 == 0 || op == OPS - 1) {
            assert_int_equal(u64_map_count(m), count);
            for (uint32_t j = 1; j <= KEYS; j++) {
                bool found = u64_map_get(m, j, &v);
                if (found != present[j]) {
                    fail_msg("op %u: key %u found %d, expected %d", op, j, found, present[j]);
                }
                if (found) {
                    assert_int_equal(v, ref[j]);
                }
            }
        }
    }
    u64_map_destroy(m);
}

static void test_map_growth(void **state)
{
    (void)state;
    enum { N = 200000 };
    struct u64_map *m = u64_map_create(1);
    uint32_t v;

    assert_non_null(m);
    for (uint32_t i = 1; i <= N; i++) {
        assert_int_equal(u64_map_put(m, (uint64_t)i * 0x9e3779b97f4a7c15ull, i), 0);
        /* The earliest keys survive every growth step. */
        if ((i & (i - 1)) == 0) {
            for (uint32_t j = 1; j <= i; j += 1 + j / 8) {
                assert_true(u64_map_get(m, (uint64_t)j * 0x9e3779b97f4a7c15ull, &v));
                assert_int_equal(v, j);
            }
        }
    }
    assert_int_equal(u64_map_count(m), N);
    for (uint32_t i = 1; i <= N; i++) {
        assert_true(u64_map_get(m, (uint64_t)i * 0x9e3779b97f4a7c15ull, &v));
        assert_int_equal(v, i);
    }
    assert_false(u64_map_get(m, (uint64_t)(N + 1) * 0x9e3779b97f4a7c15ull, &v));
    u64_map_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eth_parse_valid),
        cmocka_unit_test(test_eth_parse_uppercase_and_dash),
        cmocka_unit_test(test_eth_parse_mixed_separators),
        cmocka_unit_test(test_eth_parse_bad_length),
        cmocka_unit_test(test_eth_parse_non_hex_and_junk),
        cmocka_unit_test(test_eth_format),
        cmocka_unit_test(test_eth_u64_and_predicates),
        cmocka_unit_test(test_ip_parse_v4),
        cmocka_unit_test(test_ip_parse_v6),
        cmocka_unit_test(test_ip_parse_invalid),
        cmocka_unit_test(test_ip_multicast),
        cmocka_unit_test(test_csum_rfc1071_example),
        cmocka_unit_test(test_csum_ipv4_header),
        cmocka_unit_test(test_csum_odd_lengths),
        cmocka_unit_test(test_csum_incremental),
        cmocka_unit_test(test_csum_large_all_ones),
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_key_zero),
        cmocka_unit_test(test_map_many_with_deletes),
        cmocka_unit_test(test_map_random_churn),
        cmocka_unit_test(test_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
