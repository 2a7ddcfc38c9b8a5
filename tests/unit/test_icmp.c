/*
 * test_icmp.c - unit tests of the switch's own ICMP errors (core/icmp.c):
 * the exact bytes of IPv4 fragmentation-needed and ICMPv6 packet-too-big
 * messages (addresses, MTU field, quoted data, lengths, checksums recomputed
 * here by a plain RFC 1071 loop), how much is quoted, tags that ride along,
 * when no error may be sent (no DF, later fragments, ICMP errors, non-IP,
 * multicast and unspecified addresses, packets that fit) and the token bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/icmp.h"
#include "core/parse.h"
#include "frames.h"
#include "lib/ether.h"

#define MAC_G   "02:00:00:00:00:01" /* the guest that sent the big frame */
#define MAC_P   "02:00:00:00:00:02" /* the destination MAC it used */
#define IP_G    "172.16.10.11"
#define IP_P    "172.16.10.21"
#define IP6_G   "2001:db8:10::11"
#define IP6_P   "2001:db8:10::21"
#define MTU     1450
#define PORTMTU 1500

#define POOL_SIZE 8

static struct pkt_pool *pool;
static uint8_t f[FRAME_MAX];

static int group_setup(void **state)
{
    (void)state;
    pool = pkt_pool_create(POOL_SIZE, PKT_DEFAULT_DATA_ROOM);
    return pool ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int leaked = pkt_pool_available(pool) != POOL_SIZE;
    pkt_pool_destroy(pool);
    return leaked ? -1 : 0;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* RFC 1071 the slow way, big-endian words: 0 over data that holds its own checksum. */
static uint16_t ref_sum(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint32_t sum = 0;
    const uint8_t *parts[2] = {a, b};
    size_t lens[2] = {alen, blen};

    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < lens[k]; i += 2) {
            sum += (uint32_t)parts[k][i] << 8 | (i + 1 < lens[k] ? parts[k][i + 1] : 0);
        }
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* A parsed buffer holding frame[0..len). */
static struct pkt *parsed(const uint8_t *frame, size_t len)
{
    struct pkt *p = frame_to_pkt(pool, frame, len);
    assert_int_equal(frame_parse(p), DROP_NONE);
    return p;
}

/* The 1500-byte IPv4 DF UDP packet of a full-size guest frame (1514 bytes). */
static size_t udp4_full(uint8_t *buf)
{
    size_t len = frame_udp4(buf, MAC_P, MAC_G, IP_G, IP_P, 40000, 5201, 1472);
    assert_int_equal(len, 1514);
    return len;
}

/* Rewrites the IPv4 flags/offset word (and the header checksum) of an untagged frame. */
static void set_frag4(uint8_t *frame, uint16_t word)
{
    uint8_t *ip = frame + ETH_HEADER_LEN;
    ip[6] = (uint8_t)(word >> 8);
    ip[7] = (uint8_t)word;
    ip[10] = ip[11] = 0;
    uint16_t sum = ref_sum(ip, 20, NULL, 0);
    ip[10] = (uint8_t)(sum >> 8);
    ip[11] = (uint8_t)sum;
}

static void expect_mac(const uint8_t *at, const char *text)
{
    struct eth_addr m;
    assert_int_equal(eth_addr_parse(text, &m), 0);
    assert_memory_equal(at, m.bytes, ETH_ADDR_LEN);
}

/* ---- IPv4 ------------------------------------------------------------------ */

static void test_frag_needed_bytes(void **state)
{
    (void)state;
    size_t len = udp4_full(f);
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));

    struct pkt *q = icmp_too_big_make(pool, p, MTU, PORTMTU);
    assert_non_null(q);
    /* 576 bytes of IP (RFC 1812): 20 + 8 + 548 quoted, in a 590-byte frame. */
    assert_int_equal(q->len, 14 + 576);
    const uint8_t *d = q->data;
    expect_mac(d, MAC_G);
    expect_mac(d + 6, MAC_P);
    assert_int_equal(be16(d + 12), ETH_TYPE_IPV4);
    const uint8_t *ip = d + 14;
    const uint8_t want_ip[12] = {0x45, 0xc0, 576 >> 8, 576 & 0xff, 0, 0, 0x40, 0, 64, 1};
    assert_memory_equal(ip, want_ip, 10);
    assert_memory_equal(ip + 12, f + 14 + 16, 4); /* from the address the guest sent to */
    assert_memory_equal(ip + 16, f + 14 + 12, 4); /* to the guest */
    assert_int_equal(ref_sum(ip, 20, NULL, 0), 0);
    const uint8_t *icmp = ip + 20;
    assert_int_equal(icmp[0], 3);
    assert_int_equal(icmp[1], 4);
    assert_int_equal(be16(icmp + 4), 0);   /* unused */
    assert_int_equal(be16(icmp + 6), MTU); /* next-hop MTU */
    assert_memory_equal(icmp + 8, f + 14, 548);
    assert_int_equal(ref_sum(icmp, 556, NULL, 0), 0);
    /* Metadata for the switch: same L2, new L3/L4, nothing left of the payload. */
    assert_int_equal(q->meta.eth_type, ETH_TYPE_IPV4);
    assert_int_equal(q->meta.l3_ofs, 14);
    assert_int_equal(q->meta.l4_ofs, 34);
    assert_int_equal(q->meta.ip_proto, 1);
    assert_int_equal(q->meta.n_tags, 0);
    assert_int_equal(q->meta.flow_hash, 0);
    /* The frame parses as what it is. */
    struct pkt *again = parsed(q->data, q->len);
    assert_int_equal(again->meta.ip_proto, 1);
    pkt_pool_put(pool, again);
    pkt_pool_put(pool, q);
    pkt_pool_put(pool, p);
}

static void test_frag_needed_quote_and_limits(void **state)
{
    (void)state;
    /* A packet shorter than 548 bytes is quoted whole: 700-byte frame, MTU 600. */
    size_t len = frame_tcp4(f, MAC_P, MAC_G, IP_G, IP_P, 40000, 80, 646);
    assert_int_equal(len, 700);
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, 600));
    struct pkt *q = icmp_too_big_make(pool, p, 600, PORTMTU);
    assert_non_null(q);
    assert_int_equal(q->len, 14 + 28 + 548);
    pkt_pool_put(pool, q);

    /* The egress port's MTU caps the error: 100 bytes of IP, 72 quoted. */
    q = icmp_too_big_make(pool, p, 600, 100);
    assert_non_null(q);
    assert_int_equal(q->len, 14 + 100);
    assert_int_equal(be16(q->data + 14 + 2), 100);
    assert_memory_equal(q->data + 14 + 28, f + 14, 72);
    assert_int_equal(ref_sum(q->data + 14 + 20, 80, NULL, 0), 0);
    pkt_pool_put(pool, q);

    /* Not even the header and 8 bytes fit: nothing. */
    assert_null(icmp_too_big_make(pool, p, 600, 55));
    /* The packet fits the MTU: nothing to say. */
    assert_false(icmp_too_big_wanted(p, 686));
    assert_true(icmp_too_big_wanted(p, 685));
    pkt_pool_put(pool, p);
    assert_int_equal(pkt_pool_available(pool), POOL_SIZE);
}

static void test_frag_needed_only_with_df(void **state)
{
    (void)state;
    size_t len = udp4_full(f);

    set_frag4(f, 0x0000); /* no DF: the switch drops it and says nothing */
    struct pkt *p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);

    set_frag4(f, 0x4000 | 0x00b9); /* DF on a later fragment: never */
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);

    set_frag4(f, 0x2000); /* MF without DF: a first fragment the sender may cut again */
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);

    set_frag4(f, 0x4000 | 0x2000); /* first fragment with DF: told */
    p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
}

static void test_no_error_about_icmp_errors(void **state)
{
    (void)state;
    size_t len = frame_icmp4(f, MAC_P, MAC_G, IP_G, IP_P, 1472);
    uint8_t *icmp = f + 14 + 20;
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU)); /* echo request: a query, so yes */
    pkt_pool_put(pool, p);

    const uint8_t errors[] = {3, 4, 5, 11, 12};
    for (size_t i = 0; i < sizeof errors; i++) {
        icmp[0] = errors[i]; /* checksum left wrong: the switch never reads it */
        p = parsed(f, len);
        assert_false(icmp_too_big_wanted(p, MTU));
        pkt_pool_put(pool, p);
    }
    icmp[0] = 0; /* echo reply: a query */
    p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
}

static void test_no_error_for_odd_addresses(void **state)
{
    (void)state;
    const char *bad_src[] = {"0.0.0.0", "127.0.0.1", "224.0.0.5", "255.255.255.255"};
    const char *bad_dst[] = {"0.0.0.0", "127.0.0.1", "239.1.1.1", "255.255.255.255", "240.0.0.1"};

    for (size_t i = 0; i < sizeof bad_src / sizeof *bad_src; i++) {
        size_t len = frame_udp4(f, MAC_P, MAC_G, bad_src[i], IP_P, 1, 2, 1472);
        struct pkt *p = parsed(f, len);
        assert_false(icmp_too_big_wanted(p, MTU));
        pkt_pool_put(pool, p);
    }
    for (size_t i = 0; i < sizeof bad_dst / sizeof *bad_dst; i++) {
        size_t len = frame_udp4(f, MAC_P, MAC_G, IP_G, bad_dst[i], 1, 2, 1472);
        struct pkt *p = parsed(f, len);
        assert_false(icmp_too_big_wanted(p, MTU));
        pkt_pool_put(pool, p);
    }
    /* A group destination MAC (a flood): never. */
    size_t len = frame_udp4(f, "01:00:5e:00:00:01", MAC_G, IP_G, IP_P, 1, 2, 1472);
    struct pkt *p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
}

static void test_no_error_for_non_ip(void **state)
{
    (void)state;
    size_t len = frame_arp(f, 1, MAC_G, IP_G, "00:00:00:00:00:00", IP_P);
    struct pkt *p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, 10));
    pkt_pool_put(pool, p);

    /* A large frame of another ethertype (here 0x88b5, local experimental). */
    len = frame_put_eth(f, MAC_P, MAC_G, NULL, 0x88b5);
    memset(f + len, 0x45, 1500);
    p = parsed(f, len + 1500);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
}

/* A tag the switch does not terminate rides along: the error keeps it, and
 * the IP header starts after it. */
static void test_frag_needed_keeps_riding_tag(void **state)
{
    (void)state;
    const struct frame_tag tags[2] = {{.tpid = ETH_TYPE_VLAN, .vid = 7, .pcp = 3}, {0}};
    size_t len = frame_udp4_tagged(f, MAC_P, MAC_G, tags, IP_G, IP_P, 1, 2, 1472);
    assert_int_equal(len, 1518);
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, 1446));
    struct pkt *q = icmp_too_big_make(pool, p, 1446, PORTMTU);
    assert_non_null(q);
    assert_int_equal(q->len, 18 + 576);
    expect_mac(q->data, MAC_G);
    expect_mac(q->data + 6, MAC_P);
    assert_memory_equal(q->data + 12, f + 12, 6); /* the tag and the ethertype */
    assert_int_equal(q->meta.n_tags, 1);
    assert_int_equal(q->meta.l3_ofs, 18);
    assert_int_equal(q->meta.l4_ofs, 38);
    assert_int_equal(be16(q->data + 18 + 20 + 6), 1446);
    assert_memory_equal(q->data + 18 + 28, f + 18, 548);
    pkt_pool_put(pool, q);
    pkt_pool_put(pool, p);
}

/* ---- IPv6 ------------------------------------------------------------------ */

static void test_packet_too_big_bytes(void **state)
{
    (void)state;
    size_t len = frame_udp6(f, MAC_P, MAC_G, IP6_G, IP6_P, 40000, 5201, 1452, 0);
    assert_int_equal(len, 1514);
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));
    struct pkt *q = icmp_too_big_make(pool, p, MTU, PORTMTU);
    assert_non_null(q);
    /* 1280 bytes of IPv6 (RFC 4443): 40 + 8 + 1232 quoted. */
    assert_int_equal(q->len, 14 + 1280);
    const uint8_t *d = q->data;
    expect_mac(d, MAC_G);
    expect_mac(d + 6, MAC_P);
    assert_int_equal(be16(d + 12), ETH_TYPE_IPV6);
    const uint8_t *ip = d + 14;
    const uint8_t want_ip[8] = {0x60, 0, 0, 0, 1240 >> 8, 1240 & 0xff, 58, 64};
    assert_memory_equal(ip, want_ip, 8);
    assert_memory_equal(ip + 8, f + 14 + 24, 16);
    assert_memory_equal(ip + 24, f + 14 + 8, 16);
    const uint8_t *icmp = ip + 40;
    assert_int_equal(icmp[0], 2);
    assert_int_equal(icmp[1], 0);
    assert_int_equal(be32(icmp + 4), MTU);
    assert_memory_equal(icmp + 8, f + 14, 1232);
    /* Checksum over the pseudo-header (addresses, length, next header) and the message. */
    uint8_t pseudo[40] = {0};
    memcpy(pseudo, ip + 8, 32);
    pseudo[34] = 1240 >> 8;
    pseudo[35] = 1240 & 0xff;
    pseudo[39] = 58;
    assert_int_equal(ref_sum(pseudo, 40, icmp, 1240), 0);
    assert_int_equal(q->meta.l4_ofs, 54);
    assert_int_equal(q->meta.ip_proto, 58);
    pkt_pool_put(pool, q);

    /* The egress port's MTU caps it too. */
    q = icmp_too_big_make(pool, p, MTU, 1000);
    assert_non_null(q);
    assert_int_equal(q->len, 14 + 1000);
    assert_int_equal(be16(q->data + 14 + 4), 960);
    pkt_pool_put(pool, q);
    pkt_pool_put(pool, p);
}

static void test_packet_too_big_when(void **state)
{
    (void)state;
    /* Extension headers before UDP: still told. */
    size_t len = frame_udp6(f, MAC_P, MAC_G, IP6_G, IP6_P, 1, 2, 1436, 2);
    assert_int_equal(len, 1514);
    struct pkt *p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));
    assert_false(icmp_too_big_wanted(p, 1500));
    pkt_pool_put(pool, p);

    /* ICMPv6 echo request: a query, told; an error (type 1..127): never. */
    len = frame_icmp6(f, MAC_P, MAC_G, IP6_G, IP6_P, 1452);
    p = parsed(f, len);
    assert_true(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
    f[14 + 40] = 1;
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
    f[14 + 40] = 127;
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);

    /* Multicast or unspecified addresses: never. */
    const char *pairs[][2] = {
        {"::", IP6_P}, {"ff02::1", IP6_P}, {IP6_G, "ff02::1"}, {IP6_G, "::"}, {IP6_G, "::1"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        len = frame_udp6(f, MAC_P, MAC_G, pairs[i][0], pairs[i][1], 1, 2, 1452, 0);
        p = parsed(f, len);
        assert_false(icmp_too_big_wanted(p, MTU));
        pkt_pool_put(pool, p);
    }
}

/* IPv6 fragments: the first is told, the others never. */
static void test_packet_too_big_fragments(void **state)
{
    (void)state;
    /* One hop-by-hop header turned into a fragment header (both 8 bytes). */
    size_t len = frame_udp6(f, MAC_P, MAC_G, IP6_G, IP6_P, 1, 2, 1444, 1);
    assert_int_equal(len, 1514);
    uint8_t *ip = f + 14;
    uint8_t *frag = ip + 40;
    ip[6] = 44;
    frag[0] = 17;
    frag[1] = 0;
    frag[2] = 0;
    frag[3] = 1; /* offset 0, M flag */
    memset(frag + 4, 0xab, 4);
    struct pkt *p = parsed(f, len);
    assert_true(p->meta.is_fragment);
    assert_true(icmp_too_big_wanted(p, MTU));
    struct pkt *q = icmp_too_big_make(pool, p, MTU, PORTMTU);
    assert_non_null(q);
    assert_memory_equal(q->data + 14 + 48, f + 14, 1232);
    pkt_pool_put(pool, q);
    pkt_pool_put(pool, p);

    frag[2] = 0x05; /* offset 0x5 << 3 = 1280 bytes */
    frag[3] = 0x00;
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);

    /* A first fragment of an ICMPv6 error: never. */
    frag[0] = 58;
    frag[2] = 0;
    frag[3] = 1;
    frag[8] = 3; /* time exceeded */
    p = parsed(f, len);
    assert_false(icmp_too_big_wanted(p, MTU));
    pkt_pool_put(pool, p);
}

/* ---- Rate limit -------------------------------------------------------------- */

static void test_rate_bucket(void **state)
{
    (void)state;
    struct icmp_rate r = {0};

    /* A burst of 100 in the first second, then nothing. */
    for (int i = 0; i < 100; i++) {
        assert_true(icmp_rate_take(&r, 50, 100));
    }
    assert_false(icmp_rate_take(&r, 50, 100));
    assert_false(icmp_rate_take(&r, 50, 100));
    /* The next second refills it, to 100 at most however long it rested. */
    for (int i = 0; i < 100; i++) {
        assert_true(icmp_rate_take(&r, 51, 100));
    }
    assert_false(icmp_rate_take(&r, 51, 100));
    for (int i = 0; i < 100; i++) {
        assert_true(icmp_rate_take(&r, 5000, 100));
    }
    assert_false(icmp_rate_take(&r, 5000, 100));
    /* A clock that went back refills once, never wraps to a huge bucket. */
    for (int i = 0; i < 3; i++) {
        assert_true(icmp_rate_take(&r, 10, 3));
    }
    assert_false(icmp_rate_take(&r, 10, 3));
    /* A bucket first used at time 0 starts full too. */
    struct icmp_rate z = {0};
    assert_true(icmp_rate_take(&z, 0, 1));
    assert_false(icmp_rate_take(&z, 0, 1));
    assert_true(icmp_rate_take(&z, 1, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frag_needed_bytes),
        cmocka_unit_test(test_frag_needed_quote_and_limits),
        cmocka_unit_test(test_frag_needed_only_with_df),
        cmocka_unit_test(test_no_error_about_icmp_errors),
        cmocka_unit_test(test_no_error_for_odd_addresses),
        cmocka_unit_test(test_no_error_for_non_ip),
        cmocka_unit_test(test_frag_needed_keeps_riding_tag),
        cmocka_unit_test(test_packet_too_big_bytes),
        cmocka_unit_test(test_packet_too_big_when),
        cmocka_unit_test(test_packet_too_big_fragments),
        cmocka_unit_test(test_rate_bucket),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
