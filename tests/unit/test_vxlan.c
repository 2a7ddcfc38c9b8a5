/*
 * test_vxlan.c - unit tests of VXLAN encapsulation and decapsulation: the
 * exact outer header bytes for IPv4 and IPv6 underlays, both checksums checked
 * by recomputing them here, the underlay MTU and headroom limits, and the
 * decapsulation checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/vxlan.h"
#include "frames.h"
#include "lib/checksum.h"

#define MAC_A   "02:00:00:00:00:0a"
#define MAC_B   "02:00:00:00:00:0b"
#define LOCAL4  "192.0.2.1"
#define REMOTE4 "198.51.100.7"
#define LOCAL6  "2001:db8:1::1"
#define REMOTE6 "2001:db8:2::7"

#define POOL_SIZE 8

static struct pkt_pool *pool;

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

/* ---- helpers --------------------------------------------------------------- */

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static struct ip_addr addr(const char *text)
{
    struct ip_addr a;
    assert_int_equal(ip_addr_parse(text, &a), 0);
    return a;
}

static void template4(struct vxlan_template *t, uint16_t port, bool csum)
{
    struct ip_addr l = addr(LOCAL4);
    struct ip_addr r = addr(REMOTE4);
    assert_int_equal(vxlan_template_init(t, &l, &r, port, csum), 0);
}

static void template6(struct vxlan_template *t, bool csum)
{
    struct ip_addr l = addr(LOCAL6);
    struct ip_addr r = addr(REMOTE6);
    assert_int_equal(vxlan_template_init(t, &l, &r, VXLAN_DEFAULT_PORT, csum), 0);
}

/* An inner IPv4/UDP frame of payload_len bytes of payload, in a pool buffer. */
static struct pkt *inner_pkt(uint8_t *frame, size_t *len, size_t payload_len, uint32_t hash)
{
    *len = frame_udp4(frame, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1234, 5678, payload_len);
    struct pkt *p = frame_to_pkt(pool, frame, *len);
    p->meta.flow_hash = hash;
    return p;
}

/* Whole-header IPv4 checksum check: recomputed over the header with the field zeroed. */
static void assert_ipv4_csum(const uint8_t *ip)
{
    uint8_t copy[20];
    memcpy(copy, ip, 20);
    copy[10] = copy[11] = 0;
    uint16_t want = csum_fold(csum_partial(copy, 20, 0));
    assert_memory_equal(ip + 10, &want, 2);
    /* And the header as sent verifies to zero. */
    assert_int_equal(csum_fold(csum_partial(ip, 20, 0)), 0);
}

/* The UDP checksum over the IPv4 pseudo-header, built here independently. */
static uint16_t udp4_verify(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    pseudo[10] = (uint8_t)(udp_len >> 8);
    pseudo[11] = (uint8_t)udp_len;
    return csum_fold(csum_partial(udp, udp_len, csum_partial(pseudo, sizeof pseudo, 0)));
}

/* The same over the IPv6 pseudo-header (32-bit length, 24 zero bits, next header). */
static uint16_t udp6_verify(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
    uint8_t pseudo[40];
    memcpy(pseudo, ip + 8, 32);
    pseudo[32] = (uint8_t)(udp_len >> 24);
    pseudo[33] = (uint8_t)(udp_len >> 16);
    pseudo[34] = (uint8_t)(udp_len >> 8);
    pseudo[35] = (uint8_t)udp_len;
    pseudo[36] = pseudo[37] = pseudo[38] = 0;
    pseudo[39] = 17;
    return csum_fold(csum_partial(udp, udp_len, csum_partial(pseudo, sizeof pseudo, 0)));
}

static void assert_vxlan_header(const uint8_t *vx, uint32_t vni)
{
    assert_int_equal(vx[0], VXLAN_FLAG_I);
    assert_int_equal(vx[1], 0);
    assert_int_equal(vx[2], 0);
    assert_int_equal(vx[3], 0);
    assert_int_equal(vx[4], (vni >> 16) & 0xff);
    assert_int_equal(vx[5], (vni >> 8) & 0xff);
    assert_int_equal(vx[6], vni & 0xff);
    assert_int_equal(vx[7], 0);
}

/* ---- template --------------------------------------------------------------- */

static void test_template_init(void **state)
{
    (void)state;
    struct vxlan_template t;
    struct ip_addr l4 = addr(LOCAL4), r4 = addr(REMOTE4);
    struct ip_addr l6 = addr(LOCAL6), r6 = addr(REMOTE6);
    struct ip_addr zero;
    struct ip_addr any4 = addr("0.0.0.0");
    memset(&zero, 0, sizeof zero);

    memset(&t, 0xa5, sizeof t);
    assert_int_equal(vxlan_template_init(&t, &l4, &r4, VXLAN_DEFAULT_PORT, false), 0);
    assert_int_equal(t.len, VXLAN_OVERHEAD_V4);
    assert_int_equal(t.len, 36);
    assert_false(t.ipv6);
    assert_false(t.udp_checksum);
    assert_int_equal(vxlan_template_init(&t, &l4, &r4, VXLAN_DEFAULT_PORT, true), 0);
    assert_true(t.udp_checksum);

    memset(&t, 0xa5, sizeof t);
    assert_int_equal(vxlan_template_init(&t, &l6, &r6, VXLAN_DEFAULT_PORT, false), 0);
    assert_int_equal(t.len, VXLAN_OVERHEAD_V6);
    assert_int_equal(t.len, 56);
    assert_true(t.ipv6);
    /* IPv6 always computes the UDP checksum. */
    assert_true(t.udp_checksum);

    /* Mixed families. */
    assert_int_equal(vxlan_template_init(&t, &l4, &r6, VXLAN_DEFAULT_PORT, false), EINVAL);
    assert_int_equal(vxlan_template_init(&t, &l6, &r4, VXLAN_DEFAULT_PORT, false), EINVAL);
    /* Local unset: all-zero, or the IPv4 any address. */
    assert_int_equal(vxlan_template_init(&t, &zero, &r6, VXLAN_DEFAULT_PORT, false), EINVAL);
    assert_int_equal(vxlan_template_init(&t, &zero, &r4, VXLAN_DEFAULT_PORT, false), EINVAL);
    assert_int_equal(vxlan_template_init(&t, &any4, &r4, VXLAN_DEFAULT_PORT, false), EINVAL);
}

static void test_source_port(void **state)
{
    (void)state;
    assert_int_equal(vxlan_source_port(0), 49152);
    assert_int_equal(vxlan_source_port(0x3fff), 65535);
    assert_int_equal(vxlan_source_port(0x4000), 49152);
    assert_int_equal(vxlan_source_port(0xffffffff), 65535);
    assert_int_equal(vxlan_source_port(0x12345678), 49152 + 0x1678);
    uint32_t h = 1;
    for (int i = 0; i < 10000; i++) {
        h = h * 1103515245u + 12345u;
        uint16_t port = vxlan_source_port(h);
        assert_true(port >= VXLAN_SPORT_MIN);
        assert_int_equal(port - VXLAN_SPORT_MIN, h & 0x3fff);
    }
}

/* ---- encap over IPv4 ------------------------------------------------------ */

static void test_encap_ipv4_exact(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;
    const uint32_t hash = 0x12345678;
    const uint32_t vni = 0x123456;

    template4(&t, VXLAN_DEFAULT_PORT, false);
    struct pkt *p = inner_pkt(frame, &len, 100, hash);
    uint8_t *inner_start = p->data;
    uint32_t headroom = pkt_headroom(p);

    assert_int_equal(vxlan_encap(p, &t, vni, 1500), DROP_NONE);
    assert_int_equal(p->len, len + 36);
    assert_ptr_equal(p->data, inner_start - 36);
    assert_int_equal(pkt_headroom(p), headroom - 36);

    const uint8_t *ip = p->data;
    const uint8_t *udp = ip + 20;
    const uint8_t *vx = udp + 8;
    static const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 7};
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(ip[1], 0);
    assert_int_equal(get_be16(ip + 2), len + 36);
    assert_int_equal(get_be16(ip + 4), 0);      /* ID 0 (RFC 6864) */
    assert_int_equal(get_be16(ip + 6), 0x4000); /* DF, offset 0 */
    assert_int_equal(ip[8], 64);
    assert_int_equal(ip[9], 17);
    assert_ipv4_csum(ip);
    assert_memory_equal(ip + 12, src, 4);
    assert_memory_equal(ip + 16, dst, 4);

    assert_int_equal(get_be16(udp), vxlan_source_port(hash));
    assert_int_equal(get_be16(udp), 49152 + 0x1678);
    assert_int_equal(get_be16(udp + 2), 4789);
    assert_int_equal(get_be16(udp + 4), len + 16);
    assert_int_equal(get_be16(udp + 6), 0); /* no UDP checksum asked */
    assert_vxlan_header(vx, vni);
    /* The inner frame is untouched. */
    assert_memory_equal(vx + 8, frame, len);
    pkt_pool_put(pool, p);
}

static void test_encap_ipv4_port_and_lengths(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;
    struct vxlan_template saved;

    template4(&t, 8472, false);
    saved = t;
    /* One template, many frames: per-packet fields right each time. */
    static const size_t payloads[] = {0, 1, 17, 100, 1000, 1472, 8000};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        uint32_t hash = (uint32_t)(i * 0x9e3779b9u);
        uint32_t vni = (uint32_t)(i * 0x10101 + 1) & VXLAN_VNI_MAX;
        struct pkt *p = inner_pkt(frame, &len, payloads[i], hash);
        assert_int_equal(vxlan_encap(p, &t, vni, 9000), DROP_NONE);
        const uint8_t *ip = p->data;
        assert_int_equal(p->len, len + 36);
        assert_int_equal(get_be16(ip + 2), len + 36);
        assert_ipv4_csum(ip);
        assert_int_equal(get_be16(ip + 20), vxlan_source_port(hash));
        assert_int_equal(get_be16(ip + 22), 8472);
        assert_int_equal(get_be16(ip + 24), len + 16);
        assert_int_equal(get_be16(ip + 26), 0);
        assert_vxlan_header(ip + 28, vni);
        assert_memory_equal(ip + 36, frame, len);
        pkt_pool_put(pool, p);
    }
    /* The template is read only. */
    assert_memory_equal(&t, &saved, sizeof t);

    /* The largest VNI. */
    struct pkt *p = inner_pkt(frame, &len, 10, 0);
    assert_int_equal(vxlan_encap(p, &t, VXLAN_VNI_MAX, 1500), DROP_NONE);
    assert_vxlan_header(p->data + 28, VXLAN_VNI_MAX);
    assert_int_equal(get_be16(p->data + 20), 49152);
    pkt_pool_put(pool, p);
}

static void test_encap_ipv4_udp_checksum(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;

    template4(&t, VXLAN_DEFAULT_PORT, true);
    static const size_t payloads[] = {0, 1, 2, 3, 99, 1472};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        struct pkt *p = inner_pkt(frame, &len, payloads[i], 0xabcdef01u + (uint32_t)i);
        if (payloads[i] & 1) {
            /* An odd-length inner frame: the UDP datagram has an odd length. */
            p->len -= 1;
            len -= 1;
        }
        assert_int_equal(vxlan_encap(p, &t, 5001, 9000), DROP_NONE);
        const uint8_t *ip = p->data;
        const uint8_t *udp = ip + 20;
        size_t udp_len = get_be16(udp + 4);
        assert_int_equal(udp_len, len + 16);
        assert_ipv4_csum(ip);
        assert_int_not_equal(get_be16(udp + 6), 0);
        /* Valid: the sum over pseudo-header and datagram, checksum included, is zero. */
        assert_int_equal(udp4_verify(ip, udp, udp_len), 0);
        /* And equal to the checksum computed here with the field zeroed. */
        uint8_t copy[FRAME_MAX];
        memcpy(copy, p->data, p->len);
        copy[26] = copy[27] = 0;
        uint16_t want = udp4_verify(copy, copy + 20, udp_len);
        if (want == 0) {
            want = 0xffff;
        }
        assert_memory_equal(udp + 6, &want, 2);
        pkt_pool_put(pool, p);
    }
}

/* A datagram whose checksum computes to 0 must carry ffff (0 means "none"). */
static void test_encap_udp_checksum_zero_becomes_ffff(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;

    template4(&t, VXLAN_DEFAULT_PORT, true);
    struct pkt *p = inner_pkt(frame, &len, 50, 7);
    assert_int_equal(vxlan_encap(p, &t, 0, 1500), DROP_NONE);
    uint16_t c = get_be16(p->data + 26);
    pkt_pool_put(pool, p);
    assert_int_not_equal(c, 0);
    assert_int_not_equal(c, 0xffff);

    /* The VNI's top two bytes form one 16-bit word of the datagram: make that
     * word c, and the sum becomes ffff, whose complement is 0. */
    uint32_t vni = (uint32_t)c << 8;
    p = inner_pkt(frame, &len, 50, 7);
    assert_int_equal(vxlan_encap(p, &t, vni, 1500), DROP_NONE);
    assert_int_equal(get_be16(p->data + 26), 0xffff);
    assert_int_equal(udp4_verify(p->data, p->data + 20, len + 16), 0);
    assert_vxlan_header(p->data + 28, vni);
    pkt_pool_put(pool, p);
}

/* ---- encap over IPv6 ------------------------------------------------------ */

static void test_encap_ipv6(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;
    const uint32_t hash = 0xabcde123;
    struct ip_addr l6 = addr(LOCAL6), r6 = addr(REMOTE6);

    template6(&t, false);
    struct pkt *p = inner_pkt(frame, &len, 200, hash);
    uint8_t *inner_start = p->data;
    assert_int_equal(vxlan_encap(p, &t, 0x00beef, 1500), DROP_NONE);
    assert_int_equal(p->len, len + 56);
    assert_ptr_equal(p->data, inner_start - 56);

    const uint8_t *ip = p->data;
    const uint8_t *udp = ip + 40;
    assert_int_equal(ip[0], 0x60);
    /* Traffic class 0, flow label = low 20 bits of the hash (de123). */
    assert_int_equal(ip[1], 0x0d);
    assert_int_equal(ip[2], 0xe1);
    assert_int_equal(ip[3], 0x23);
    assert_int_equal(get_be16(ip + 4), len + 16); /* payload length: UDP + VXLAN + inner */
    assert_int_equal(ip[6], 17);
    assert_int_equal(ip[7], 64);
    assert_memory_equal(ip + 8, l6.bytes, 16);
    assert_memory_equal(ip + 24, r6.bytes, 16);

    assert_int_equal(get_be16(udp), vxlan_source_port(hash));
    assert_int_equal(get_be16(udp + 2), 4789);
    assert_int_equal(get_be16(udp + 4), len + 16);
    assert_int_not_equal(get_be16(udp + 6), 0);
    assert_int_equal(udp6_verify(ip, udp, len + 16), 0);
    assert_vxlan_header(udp + 8, 0x00beef);
    assert_memory_equal(udp + 16, frame, len);
    pkt_pool_put(pool, p);

    /* Another flow: another label, checksum still valid. */
    p = inner_pkt(frame, &len, 33, 0xfff00001u);
    assert_int_equal(vxlan_encap(p, &t, 1, 1500), DROP_NONE);
    assert_int_equal(p->data[1], 0x00);
    assert_int_equal(p->data[2], 0x00);
    assert_int_equal(p->data[3], 0x01);
    assert_int_equal(get_be16(p->data + 40), 49152 + 1);
    assert_int_equal(udp6_verify(p->data, p->data + 40, len + 16), 0);
    pkt_pool_put(pool, p);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_encap_underlay_mtu(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    static uint8_t before[PKT_HEADROOM + PKT_DEFAULT_DATA_ROOM + 64];
    size_t len;
    struct vxlan_template t4, t6;

    template4(&t4, VXLAN_DEFAULT_PORT, false);
    template6(&t6, false);

    /* 1500 bytes of L3 in a 1514-byte frame: 1550 bytes of outer IPv4 datagram. */
    struct pkt *p = inner_pkt(frame, &len, 1472, 1);
    assert_int_equal(len, 1514);
    assert_int_equal(vxlan_encap(p, &t4, 10, 1550), DROP_NONE);
    assert_int_equal(p->len, 1550);
    pkt_pool_put(pool, p);

    p = inner_pkt(frame, &len, 1472, 1);
    uint8_t *data = p->data;
    assert_true(p->size <= sizeof before);
    memcpy(before, p->head, p->size);
    assert_int_equal(vxlan_encap(p, &t4, 10, 1549), DROP_UNDERLAY_MTU);
    /* Unchanged: same start, length and bytes (headroom included). */
    assert_ptr_equal(p->data, data);
    assert_int_equal(p->len, 1514);
    assert_memory_equal(p->head, before, p->size);
    pkt_pool_put(pool, p);

    /* IPv6: 20 bytes more. */
    p = inner_pkt(frame, &len, 1472, 1);
    assert_int_equal(vxlan_encap(p, &t6, 10, 1570), DROP_NONE);
    assert_int_equal(p->len, 1570);
    pkt_pool_put(pool, p);
    p = inner_pkt(frame, &len, 1472, 1);
    memcpy(before, p->head, p->size);
    assert_int_equal(vxlan_encap(p, &t6, 10, 1569), DROP_UNDERLAY_MTU);
    assert_int_equal(p->len, 1514);
    assert_memory_equal(p->head, before, p->size);
    pkt_pool_put(pool, p);
}

static void test_encap_no_headroom(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    uint8_t before[FRAME_MAX];
    size_t len = frame_udp4(frame, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1, 2, 64);
    struct vxlan_template t4, t6;

    template4(&t4, VXLAN_DEFAULT_PORT, true);
    template6(&t6, false);

    /* The frame at the very start of the buffer. */
    struct pkt *p = pkt_pool_get(pool);
    assert_non_null(p);
    p->data = p->head;
    memcpy(p->data, frame, len);
    p->len = (uint32_t)len;
    memcpy(before, p->head, len);
    assert_int_equal(vxlan_encap(p, &t4, 10, 9000), DROP_NO_HEADROOM);
    assert_ptr_equal(p->data, p->head);
    assert_int_equal(p->len, len);
    assert_memory_equal(p->head, before, len);
    assert_int_equal(vxlan_encap(p, &t6, 10, 9000), DROP_NO_HEADROOM);
    assert_ptr_equal(p->data, p->head);

    /* One byte short of the 36 bytes IPv4 needs, then exactly enough. */
    p->data = p->head + 35;
    memcpy(p->data, frame, len);
    assert_int_equal(vxlan_encap(p, &t4, 10, 9000), DROP_NO_HEADROOM);
    assert_ptr_equal(p->data, p->head + 35);
    assert_int_equal(p->len, len);
    p->data = p->head + 36;
    memcpy(p->data, frame, len);
    assert_int_equal(vxlan_encap(p, &t4, 10, 9000), DROP_NONE);
    assert_ptr_equal(p->data, p->head);
    assert_int_equal(p->len, len + 36);
    assert_int_equal(udp4_verify(p->data, p->data + 20, len + 16), 0);

    /* IPv6 needs 56. */
    pkt_reset(p);
    p->data = p->head + 55;
    memcpy(p->data, frame, len);
    p->len = (uint32_t)len;
    assert_int_equal(vxlan_encap(p, &t6, 10, 9000), DROP_NO_HEADROOM);
    p->data = p->head + 56;
    memcpy(p->data, frame, len);
    assert_int_equal(vxlan_encap(p, &t6, 10, 9000), DROP_NONE);
    assert_ptr_equal(p->data, p->head);
    pkt_pool_put(pool, p);
}

/* ---- decap ------------------------------------------------------------------- */

static void test_decap_valid(void **state)
{
    (void)state;
    uint8_t inner[FRAME_MAX];
    uint8_t dgram[FRAME_MAX];
    size_t ilen = frame_udp4(inner, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1, 2, 46);
    size_t len = frame_vxlan(dgram, VXLAN_FLAG_I, 0xabcdef, inner, ilen);
    uint32_t vni = 0;

    assert_int_equal(len, ilen + 8);
    struct pkt *p = frame_to_pkt(pool, dgram, len);
    uint8_t *start = p->data;
    assert_int_equal(vxlan_decap(p, &vni), DROP_NONE);
    assert_int_equal(vni, 0xabcdef);
    assert_ptr_equal(p->data, start + 8);
    assert_int_equal(p->len, ilen);
    assert_memory_equal(p->data, inner, ilen);
    pkt_pool_put(pool, p);

    /* VNI 0 and the largest. */
    len = frame_vxlan(dgram, VXLAN_FLAG_I, 0, inner, ilen);
    p = frame_to_pkt(pool, dgram, len);
    vni = 77;
    assert_int_equal(vxlan_decap(p, &vni), DROP_NONE);
    assert_int_equal(vni, 0);
    pkt_pool_put(pool, p);
    len = frame_vxlan(dgram, VXLAN_FLAG_I, VXLAN_VNI_MAX, inner, ilen);
    p = frame_to_pkt(pool, dgram, len);
    assert_int_equal(vxlan_decap(p, &vni), DROP_NONE);
    assert_int_equal(vni, VXLAN_VNI_MAX);
    pkt_pool_put(pool, p);
}

static void test_decap_bad_flags(void **state)
{
    (void)state;
    uint8_t inner[FRAME_MAX];
    uint8_t dgram[FRAME_MAX];
    size_t ilen = frame_udp4(inner, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1, 2, 46);
    /* 0x01: the replication marker without I is no valid header either. */
    static const uint8_t bad[] = {0x00, 0xf7, 0x80, 0x04, 0x01};

    for (size_t i = 0; i < sizeof bad; i++) {
        size_t len = frame_vxlan(dgram, bad[i], 5001, inner, ilen);
        struct pkt *p = frame_to_pkt(pool, dgram, len);
        uint8_t *start = p->data;
        uint32_t vni = 0x5a5a5a;
        uint8_t flags = 0x5a;
        assert_int_equal(vxlan_decap(p, &vni), DROP_VXLAN_BAD_FLAGS);
        assert_int_equal(vxlan_decap_flags(p, &vni, &flags), DROP_VXLAN_BAD_FLAGS);
        assert_int_equal(flags, 0x5a); /* untouched on a drop */
        assert_ptr_equal(p->data, start);
        assert_int_equal(p->len, len);
        pkt_pool_put(pool, p);
    }
}

/* Reserved bits do not make a datagram invalid; vxlan_decap_flags() hands the
 * whole flags byte over (the replication marker, 0x09, among the cases). */
static void test_decap_reserved_ignored(void **state)
{
    (void)state;
    uint8_t inner[FRAME_MAX];
    uint8_t dgram[FRAME_MAX];
    size_t ilen = frame_udp4(inner, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1, 2, 46);
    static const uint8_t flags_in[] = {0xff, 0x08, 0x09, 0x88};

    for (size_t i = 0; i < sizeof flags_in; i++) {
        size_t len = frame_vxlan(dgram, flags_in[i], 0x010203, inner, ilen);
        uint32_t vni = 0;
        uint8_t flags = 0;
        /* Every reserved bit set: the three bytes after the flags and the last byte. */
        dgram[1] = dgram[2] = dgram[3] = 0xff;
        dgram[7] = 0xff;
        struct pkt *p = frame_to_pkt(pool, dgram, len);
        assert_int_equal(vxlan_decap_flags(p, &vni, &flags), DROP_NONE);
        assert_int_equal(flags, flags_in[i]);
        assert_int_equal(vni, 0x010203);
        assert_int_equal(p->len, ilen);
        assert_memory_equal(p->data, inner, ilen);
        pkt_pool_put(pool, p);
    }
}

static void test_decap_truncated(void **state)
{
    (void)state;
    uint8_t inner[FRAME_MAX];
    uint8_t dgram[FRAME_MAX];
    size_t ilen = frame_udp4(inner, MAC_B, MAC_A, "10.0.0.1", "10.0.0.2", 1, 2, 46);
    size_t len = frame_vxlan(dgram, VXLAN_FLAG_I, 42, inner, ilen);

    /* Below header + inner Ethernet header (22 bytes), from heap blocks of exactly
     * that size so any read past the end is caught. */
    for (size_t n = 0; n <= 22; n++) {
        uint8_t *block = malloc(n ? n : 1);
        assert_non_null(block);
        memcpy(block, dgram, n);
        struct pkt p;
        memset(&p, 0, sizeof p);
        p.head = block;
        p.data = block;
        p.len = (uint32_t)n;
        p.size = (uint32_t)(n ? n : 1);
        uint32_t vni = 0x777777;
        enum drop_reason r = vxlan_decap(&p, &vni);
        if (n < 22) {
            assert_int_equal(r, DROP_VXLAN_TRUNCATED);
            assert_ptr_equal(p.data, block);
            assert_int_equal(p.len, n);
        } else {
            assert_int_equal(r, DROP_NONE);
            assert_int_equal(vni, 42);
            assert_int_equal(p.len, 14);
        }
        free(block);
    }
    /* A truncated datagram with the I flag clear still reports truncation. */
    dgram[0] = 0;
    struct pkt *p = frame_to_pkt(pool, dgram, 21);
    uint32_t vni;
    assert_int_equal(vxlan_decap(p, &vni), DROP_VXLAN_TRUNCATED);
    pkt_pool_put(pool, p);
    (void)len;
}

/* ---- the proxy replication marker ------------------------------------------------ */

/* vxlan_encap_flags() sets the marker beside I, and nothing else changes: the
 * same bytes as vxlan_encap() but the flags byte, and the UDP checksum (which
 * covers the VXLAN header) still verifies. */
static void test_encap_replicate_flag(void **state)
{
    (void)state;
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct vxlan_template t;

    assert_int_equal(VXLAN_FLAG_REPLICATE, 0x01);
    assert_int_equal(VXLAN_FLAG_REPLICATE & VXLAN_FLAG_I, 0);
    template4(&t, VXLAN_DEFAULT_PORT, true);
    struct pkt *plain = inner_pkt(frame, &len, 100, 0x4242);
    struct pkt *marked = inner_pkt(frame, &len, 100, 0x4242);
    assert_int_equal(vxlan_encap(plain, &t, 5001, 1500), DROP_NONE);
    assert_int_equal(vxlan_encap_flags(marked, &t, 5001, 1500, VXLAN_FLAG_REPLICATE), DROP_NONE);
    assert_int_equal(marked->len, plain->len);
    assert_int_equal(plain->data[28], 0x08);
    assert_int_equal(marked->data[28], 0x09);
    assert_memory_equal(marked->data, plain->data, 26); /* IP + UDP up to the checksum */
    assert_memory_equal(marked->data + 29, plain->data + 29, plain->len - 29);
    assert_int_equal(udp4_verify(marked->data, marked->data + 20, marked->len - 20), 0);
    assert_int_equal(udp4_verify(plain->data, plain->data + 20, plain->len - 20), 0);
    assert_int_not_equal(get_be16(marked->data + 26), get_be16(plain->data + 26));

    /* The template is not changed by a marked encap: the next plain one is plain. */
    pkt_pool_put(pool, plain);
    plain = inner_pkt(frame, &len, 100, 0x4242);
    assert_int_equal(vxlan_encap(plain, &t, 5001, 1500), DROP_NONE);
    assert_vxlan_header(plain->data + 28, 5001);

    /* Over IPv6 too, and the marker comes back out of decap. */
    pkt_pool_put(pool, plain);
    pkt_pool_put(pool, marked);
    template6(&t, false);
    marked = inner_pkt(frame, &len, 10, 7);
    assert_int_equal(vxlan_encap_flags(marked, &t, 77, 1500, VXLAN_FLAG_REPLICATE), DROP_NONE);
    assert_int_equal(marked->data[48], 0x09);
    assert_int_equal(udp6_verify(marked->data, marked->data + 40, marked->len - 40), 0);
    pkt_pull(marked, 48);
    uint32_t vni = 0;
    uint8_t flags = 0;
    assert_int_equal(vxlan_decap_flags(marked, &vni, &flags), DROP_NONE);
    assert_int_equal(vni, 77);
    assert_int_equal(flags, VXLAN_FLAG_I | VXLAN_FLAG_REPLICATE);
    assert_int_equal(marked->len, len);
    assert_memory_equal(marked->data, frame, len);
    pkt_pool_put(pool, marked);
}

/* ---- round trip ---------------------------------------------------------------- */

static void round_trip(struct vxlan_template *t, size_t payload, uint32_t vni)
{
    uint8_t frame[FRAME_MAX];
    size_t len;
    struct pkt *p = inner_pkt(frame, &len, payload, (uint32_t)payload * 2654435761u);
    uint32_t got = 0;

    assert_int_equal(vxlan_encap(p, t, vni, 9000), DROP_NONE);
    /* What the receiving host's UDP socket hands over: strip outer IP and UDP. */
    uint32_t ip_len = t->ipv6 ? 40 : 20;
    assert_int_equal(p->len, len + ip_len + 16);
    pkt_pull(p, ip_len + 8);
    assert_int_equal(vxlan_decap(p, &got), DROP_NONE);
    assert_int_equal(got, vni);
    assert_int_equal(p->len, len);
    assert_memory_equal(p->data, frame, len);
    assert_int_equal(pkt_headroom(p), PKT_HEADROOM);
    pkt_pool_put(pool, p);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct vxlan_template t;
    static const size_t payloads[] = {0, 18, 1472, 8900};

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        template4(&t, VXLAN_DEFAULT_PORT, false);
        round_trip(&t, payloads[i], 5001);
        template4(&t, 8472, true);
        round_trip(&t, payloads[i], VXLAN_VNI_MAX);
        template6(&t, false);
        round_trip(&t, payloads[i], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_init),
        cmocka_unit_test(test_source_port),
        cmocka_unit_test(test_encap_ipv4_exact),
        cmocka_unit_test(test_encap_ipv4_port_and_lengths),
        cmocka_unit_test(test_encap_ipv4_udp_checksum),
        cmocka_unit_test(test_encap_udp_checksum_zero_becomes_ffff),
        cmocka_unit_test(test_encap_ipv6),
        cmocka_unit_test(test_encap_underlay_mtu),
        cmocka_unit_test(test_encap_no_headroom),
        cmocka_unit_test(test_decap_valid),
        cmocka_unit_test(test_decap_bad_flags),
        cmocka_unit_test(test_decap_reserved_ignored),
        cmocka_unit_test(test_decap_truncated),
        cmocka_unit_test(test_encap_replicate_flag),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
