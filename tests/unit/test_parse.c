/*
 * test_parse.c - unit tests of frame_parse(): every protocol path, every
 * malformation it names, exact metadata, the flow hash, and that no prefix of
 * a valid frame makes it read past the end of the buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/parse.h"
#include "frames.h"
#include "lib/checksum.h"
#include "lib/ether.h"

#define MAC_A "02:00:00:00:00:0a"
#define MAC_B "02:00:00:00:00:0b"
#define IP4_A "172.16.10.11"
#define IP4_B "172.16.10.12"
#define IP6_A "2001:db8::a"
#define IP6_B "2001:db8::b"

#define ETH_TYPE_LLDP 0x88cc

static struct pkt_pool *pool;

static int group_setup(void **state)
{
    (void)state;
    pool = pkt_pool_create(8, PKT_DEFAULT_DATA_ROOM);
    return pool ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    /* Every test returned its buffers. */
    int leaked = pkt_pool_available(pool) != 8;
    pkt_pool_destroy(pool);
    return leaked ? -1 : 0;
}

/* ---- helpers --------------------------------------------------------------- */

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void set_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Parses len bytes of frame in a pool buffer; *meta gets the result (may be NULL). */
static enum drop_reason parse(const uint8_t *frame, size_t len, struct pkt_meta *meta)
{
    struct pkt *p = frame_to_pkt(pool, frame, len);
    p->meta.in_port = 7;
    p->meta.segment = 3;
    enum drop_reason r = frame_parse(p);
    /* Ingress port and segment are the caller's and are left alone. */
    assert_int_equal(p->meta.in_port, 7);
    assert_int_equal(p->meta.segment, 3);
    if (r == DROP_NONE) {
        assert_int_equal(p->meta.flow_hash, frame_flow_hash(p));
    }
    if (meta) {
        *meta = p->meta;
    }
    pkt_pool_put(pool, p);
    return r;
}

static void fix_ipv4_csum(uint8_t *ip)
{
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    ip[10] = ip[11] = 0;
    uint16_t sum = csum_fold(csum_partial(ip, ihl, 0));
    memcpy(ip + 10, &sum, 2);
}

/* Untagged IPv4/UDP frame with ihl_words (5..15) header words: options are
 * NOP (1) bytes ending with EOL. Returns the frame length. */
static size_t udp4_with_options(uint8_t *buf, unsigned ihl_words, size_t payload_len)
{
    size_t len = frame_udp4(buf, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, payload_len);
    size_t opt = (ihl_words - 5) * 4;
    uint8_t *ip = buf + ETH_HEADER_LEN;

    memmove(ip + 20 + opt, ip + 20, len - ETH_HEADER_LEN - 20);
    memset(ip + 20, 1, opt);
    if (opt) {
        ip[20 + opt - 1] = 0;
    }
    ip[0] = (uint8_t)(0x40 | ihl_words);
    set_be16(ip + 2, (uint16_t)(get_be16(ip + 2) + opt));
    fix_ipv4_csum(ip);
    return len + opt;
}

/* Sets the IPv4 flags/fragment-offset field of an untagged frame. */
static void set_frag(uint8_t *frame, uint16_t flags_offset)
{
    set_be16(frame + ETH_HEADER_LEN + 6, flags_offset);
    fix_ipv4_csum(frame + ETH_HEADER_LEN);
}

/* An IPv6 extension header of the chain built by ipv6_chain(). */
struct ext {
    uint8_t type; /* 0, 43, 44, 51, 60 */
    uint8_t len;  /* the header's length byte (ignored for the fragment header) */
};

static size_t ext_size(const struct ext *e)
{
    if (e->type == 44) {
        return 8;
    }
    if (e->type == 51) {
        return ((size_t)e->len + 2) * 4;
    }
    return ((size_t)e->len + 1) * 8;
}

/* IPv6 frame: header, n extension headers, then an upper layer of proto with
 * l4_len bytes (a UDP header with a consistent length when proto is 17).
 * Returns the frame length; *l4_ofs gets the upper layer's offset. */
static size_t ipv6_chain(uint8_t *buf, const struct ext *exts, size_t n, uint8_t proto,
                         size_t l4_len, size_t *l4_ofs)
{
    size_t ofs = frame_put_eth(buf, MAC_B, MAC_A, NULL, ETH_TYPE_IPV6);
    uint8_t *ip = buf + ofs;
    uint8_t *next = ip + 6;

    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[7] = 64;
    ip[8] = 0x20;
    ip[9] = 0x01;
    ip[23] = 0x0a;
    ip[24] = 0x20;
    ip[25] = 0x01;
    ip[39] = 0x0b;
    ofs += 40;
    for (size_t i = 0; i < n; i++) {
        uint8_t *h = buf + ofs;
        size_t sz = ext_size(&exts[i]);
        *next = exts[i].type;
        memset(h, 0, sz);
        /* Fragment header: its second byte is reserved, and the length is fixed. */
        h[1] = exts[i].type == 44 ? 0xff : exts[i].len;
        if (exts[i].type == 44) {
            set_be16(h + 2, 0x0001); /* offset 0, M: the first fragment */
        }
        next = h;
        ofs += sz;
    }
    *next = proto;
    *l4_ofs = ofs;
    memset(buf + ofs, 0, l4_len);
    for (size_t i = 0; i < l4_len; i++) {
        buf[ofs + i] = (uint8_t)i;
    }
    if (proto == 17 && l4_len >= 8) {
        set_be16(buf + ofs, 1000);
        set_be16(buf + ofs + 2, 2000);
        set_be16(buf + ofs + 4, (uint16_t)l4_len);
        set_be16(buf + ofs + 6, 0);
    }
    ofs += l4_len;
    set_be16(ip + 4, (uint16_t)(ofs - ETH_HEADER_LEN - 40));
    return ofs;
}

static void assert_untagged(const struct pkt_meta *m)
{
    assert_int_equal(m->n_tags, 0);
    assert_int_equal(m->vlan, 0);
    assert_int_equal(m->pcp, 0);
    assert_int_equal(m->tag_tpid, 0);
}

/* ---- Ethernet and tags ----------------------------------------------------- */

static void test_runt(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1, 2, 10);

    assert_true(len > 14);
    for (size_t n = 0; n < ETH_HEADER_LEN; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_RUNT);
    }
}

static void test_ethernet_other_type(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_put_eth(f, "01:80:c2:00:00:0e", MAC_A, NULL, ETH_TYPE_LLDP);

    assert_int_equal(len, 14);
    /* A bare header with an unknown type is fine at L2. */
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_untagged(&m);
    assert_int_equal(m.eth_type, ETH_TYPE_LLDP);
    assert_int_equal(m.l3_ofs, 14);
    assert_int_equal(m.l4_ofs, 0);
    assert_int_equal(m.ip_proto, 0);
    assert_int_equal(m.is_fragment, 0);

    memset(f + len, 0xee, 46);
    assert_int_equal(parse(f, len + 46, &m), DROP_NONE);
    assert_int_equal(m.eth_type, ETH_TYPE_LLDP);
    assert_int_equal(m.l3_ofs, 14);
}

static void test_ethernet_ipv4_udp(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 100);

    assert_int_equal(len, 14 + 20 + 8 + 100);
    memset(&m, 0xaa, sizeof m);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_untagged(&m);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
    assert_int_equal(m.l3_ofs, 14);
    assert_int_equal(m.l4_ofs, 34);
    assert_int_equal(m.ip_proto, 17);
    assert_int_equal(m.is_fragment, 0);
}

static void test_vlan_8021q(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    const struct frame_tag tags[] = {{0x8100, 100, 5}, {0, 0, 0}};
    size_t len = frame_udp4_tagged(f, MAC_B, MAC_A, tags, IP4_A, IP4_B, 1000, 2000, 20);

    assert_int_equal(len, 18 + 20 + 8 + 20);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 1);
    assert_int_equal(m.tag_tpid, 0x8100);
    assert_int_equal(m.vlan, 100);
    assert_int_equal(m.pcp, 5);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
    assert_int_equal(m.l3_ofs, 18);
    assert_int_equal(m.l4_ofs, 38);
    assert_int_equal(m.ip_proto, 17);

    /* Extreme TCI values: VID 4095 with PCP 7, and a priority tag (VID 0). */
    const struct frame_tag hi[] = {{0x8100, 4095, 7}, {0, 0, 0}};
    len = frame_udp4_tagged(f, MAC_B, MAC_A, hi, IP4_A, IP4_B, 1000, 2000, 20);
    f[14] |= 0x10; /* DEI set: not part of VID or PCP */
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.vlan, 4095);
    assert_int_equal(m.pcp, 7);
    const struct frame_tag prio[] = {{0x8100, 0, 3}, {0, 0, 0}};
    len = frame_udp4_tagged(f, MAC_B, MAC_A, prio, IP4_A, IP4_B, 1000, 2000, 20);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 1);
    assert_int_equal(m.vlan, 0);
    assert_int_equal(m.pcp, 3);
    assert_int_equal(m.tag_tpid, 0x8100);
}

static void test_vlan_qinq(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    const struct frame_tag tags[] = {{0x88a8, 300, 3}, {0x8100, 200, 6}, {0, 0, 0}};
    size_t len = frame_udp4_tagged(f, MAC_B, MAC_A, tags, IP4_A, IP4_B, 1000, 2000, 20);

    assert_int_equal(len, 22 + 20 + 8 + 20);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 2);
    /* The outer tag is the one reported. */
    assert_int_equal(m.tag_tpid, 0x88a8);
    assert_int_equal(m.vlan, 300);
    assert_int_equal(m.pcp, 3);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
    assert_int_equal(m.l3_ofs, 22);
    assert_int_equal(m.l4_ofs, 42);
    assert_int_equal(m.ip_proto, 17);

    /* 802.1ad alone (S-tag only). */
    const struct frame_tag s_only[] = {{0x88a8, 42, 1}, {0, 0, 0}};
    len = frame_udp4_tagged(f, MAC_B, MAC_A, s_only, IP4_A, IP4_B, 1000, 2000, 20);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 1);
    assert_int_equal(m.tag_tpid, 0x88a8);
    assert_int_equal(m.vlan, 42);
    assert_int_equal(m.l3_ofs, 18);
    assert_int_equal(m.l4_ofs, 38);
}

static void test_vlan_three_tags(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    const struct frame_tag tags[] = {{0x88a8, 300, 0}, {0x8100, 200, 0}, {0, 0, 0}};
    size_t len = frame_put_eth(f, MAC_B, MAC_A, tags, 0x8100);

    /* A third tag is beyond what the parser walks: its TPID is the ethertype. */
    set_be16(f + len, 77);
    set_be16(f + len + 2, ETH_TYPE_IPV4);
    memset(f + len + 4, 0, 40);
    assert_int_equal(parse(f, len + 44, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 2);
    assert_int_equal(m.vlan, 300);
    assert_int_equal(m.eth_type, 0x8100);
    assert_int_equal(m.l3_ofs, 22);
    assert_int_equal(m.ip_proto, 0);
    assert_int_equal(m.l4_ofs, 0);
}

static void test_vlan_truncated(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    const struct frame_tag one[] = {{0x8100, 10, 0}, {0, 0, 0}};
    const struct frame_tag two[] = {{0x88a8, 10, 0}, {0x8100, 20, 0}, {0, 0, 0}};

    /* One tag: 14..17 bytes cut the tag or the ethertype after it. */
    size_t len = frame_put_eth(f, MAC_B, MAC_A, one, ETH_TYPE_LLDP);
    assert_int_equal(len, 18);
    for (size_t n = 14; n < 18; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_VLAN_TRUNCATED);
    }
    assert_int_equal(parse(f, 18, &m), DROP_NONE);
    assert_int_equal(m.eth_type, ETH_TYPE_LLDP);
    assert_int_equal(m.l3_ofs, 18);
    assert_int_equal(m.vlan, 10);

    /* Two tags: 18..21 bytes cut the inner tag. */
    len = frame_put_eth(f, MAC_B, MAC_A, two, ETH_TYPE_LLDP);
    assert_int_equal(len, 22);
    for (size_t n = 14; n < 22; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_VLAN_TRUNCATED);
    }
    assert_int_equal(parse(f, 22, &m), DROP_NONE);
    assert_int_equal(m.n_tags, 2);
    assert_int_equal(m.l3_ofs, 22);
    assert_int_equal(m.eth_type, ETH_TYPE_LLDP);
}

/* ---- ARP ----------------------------------------------------------------- */

static void test_arp_valid(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_arp(f, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);

    assert_int_equal(len, 42);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_untagged(&m);
    assert_int_equal(m.eth_type, ETH_TYPE_ARP);
    assert_int_equal(m.l3_ofs, 14);
    assert_int_equal(m.l4_ofs, 0);
    assert_int_equal(m.ip_proto, 0);

    /* Reply, padded to the Ethernet minimum. */
    len = frame_arp(f, 2, MAC_B, IP4_B, MAC_A, IP4_A);
    memset(f + len, 0, 60 - len);
    assert_int_equal(parse(f, 60, &m), DROP_NONE);
    assert_int_equal(m.eth_type, ETH_TYPE_ARP);

    /* Tagged ARP. */
    const struct frame_tag tags[] = {{0x8100, 5, 0}, {0, 0, 0}};
    size_t ofs = frame_put_eth(f, "ff:ff:ff:ff:ff:ff", MAC_A, tags, ETH_TYPE_ARP);
    uint8_t arp[64];
    frame_arp(arp, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);
    memcpy(f + ofs, arp + 14, 28);
    assert_int_equal(parse(f, ofs + 28, &m), DROP_NONE);
    assert_int_equal(m.eth_type, ETH_TYPE_ARP);
    assert_int_equal(m.l3_ofs, 18);
    assert_int_equal(m.vlan, 5);
    /* ... cut by one byte. */
    assert_int_equal(parse(f, ofs + 27, NULL), DROP_ARP_MALFORMED);
}

static void test_arp_malformed(void **state)
{
    (void)state;
    uint8_t good[64];
    uint8_t f[64];
    size_t len = frame_arp(good, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);

    memcpy(f, good, len);
    set_be16(f + 14, 6); /* htype IEEE 802 */
    assert_int_equal(parse(f, len, NULL), DROP_ARP_MALFORMED);
    memcpy(f, good, len);
    set_be16(f + 16, ETH_TYPE_IPV6); /* ptype */
    assert_int_equal(parse(f, len, NULL), DROP_ARP_MALFORMED);
    memcpy(f, good, len);
    f[18] = 8; /* hlen */
    assert_int_equal(parse(f, len, NULL), DROP_ARP_MALFORMED);
    memcpy(f, good, len);
    f[19] = 16; /* plen */
    assert_int_equal(parse(f, len, NULL), DROP_ARP_MALFORMED);
    /* Truncated anywhere in the 28 bytes. */
    for (size_t n = 14; n < len; n++) {
        assert_int_equal(parse(good, n, NULL), DROP_ARP_MALFORMED);
    }
    assert_int_equal(parse(good, len, NULL), DROP_NONE);
}

/* ---- IPv4 ---------------------------------------------------------------- */

static void test_ipv4_options(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;

    for (unsigned ihl = 5; ihl <= 15; ihl++) {
        size_t len = udp4_with_options(f, ihl, 30);
        assert_int_equal(len, 14 + ihl * 4 + 8 + 30);
        assert_int_equal(parse(f, len, &m), DROP_NONE);
        assert_int_equal(m.l3_ofs, 14);
        assert_int_equal(m.l4_ofs, 14 + ihl * 4);
        assert_int_equal(m.ip_proto, 17);
        assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
        /* The UDP length is checked against the payload after the options. */
        set_be16(f + 14 + ihl * 4 + 4, 8 + 31);
        assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    }
}

static void test_ipv4_padding(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 4);

    assert_int_equal(len, 46);
    /* Ethernet pads short frames to 60 bytes: the bytes after total length are ignored. */
    memset(f + len, 0, 60 - len);
    assert_int_equal(parse(f, 60, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 34);
    assert_int_equal(m.ip_proto, 17);
    /* The UDP length is bounded by the IP total length, not by the padded frame. */
    set_be16(f + 34 + 4, 8 + 5);
    assert_int_equal(parse(f, 60, NULL), DROP_UDP_BAD_LENGTH);
}

static void test_ipv4_fragments(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 64);

    /* DF only: not a fragment. */
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 0);
    assert_int_equal(m.l4_ofs, 34);

    /* First fragment: MF, offset 0. */
    set_frag(f, 0x2000);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.l4_ofs, 0);
    assert_int_equal(m.ip_proto, 17);
    assert_int_equal(m.l3_ofs, 14);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);

    /* Middle fragment: MF, offset 185 (1480 bytes). */
    set_frag(f, 0x2000 | 185);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.l4_ofs, 0);

    /* Last fragment: offset only. Its first bytes are data, not a UDP header:
     * a bogus "UDP length" there must not matter. */
    set_frag(f, 185);
    set_be16(f + 34 + 4, 3);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.l4_ofs, 0);
    assert_int_equal(m.ip_proto, 17);

    /* A later fragment shorter than any L4 header. */
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 0);
    set_be16(f + 14 + 2, 20 + 3);
    set_frag(f, 0x4000 | 100); /* DF with an offset: still a fragment */
    assert_int_equal(parse(f, 14 + 23, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.l4_ofs, 0);
}

static void test_ipv4_bad_header(void **state)
{
    (void)state;
    uint8_t good[FRAME_MAX];
    uint8_t f[FRAME_MAX];
    size_t len = frame_udp4(good, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 40);
    uint8_t *ip = f + 14;

    memcpy(f, good, len);
    ip[0] = 0x65; /* version 6 in an IPv4 ethertype */
    assert_int_equal(parse(f, len, NULL), DROP_IPV4_BAD_HEADER);
    memcpy(f, good, len);
    ip[0] = 0x05; /* version 0 */
    assert_int_equal(parse(f, len, NULL), DROP_IPV4_BAD_HEADER);
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        memcpy(f, good, len);
        ip[0] = (uint8_t)(0x40 | ihl);
        assert_int_equal(parse(f, len, NULL), DROP_IPV4_BAD_HEADER);
    }
    /* Total length below the header length. */
    memcpy(f, good, len);
    set_be16(ip + 2, 19);
    assert_int_equal(parse(f, len, NULL), DROP_IPV4_BAD_HEADER);
    memcpy(f, good, len);
    set_be16(ip + 2, 0);
    assert_int_equal(parse(f, len, NULL), DROP_IPV4_BAD_HEADER);
    size_t olen = udp4_with_options(f, 6, 40);
    set_be16(ip + 2, 23);
    assert_int_equal(parse(f, olen, NULL), DROP_IPV4_BAD_HEADER);
    set_be16(ip + 2, 24); /* == header length: no room for UDP */
    assert_int_equal(parse(f, olen, NULL), DROP_L4_TRUNCATED);
}

static void test_ipv4_truncated(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 40);

    /* Header cut. */
    for (size_t n = 14; n < 34; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_IPV4_TRUNCATED);
    }
    /* Datagram shorter than its total length. */
    for (size_t n = 34; n < len; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_IPV4_TRUNCATED);
    }
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    /* Total length one past the frame. */
    set_be16(f + 16, (uint16_t)(len - 14 + 1));
    assert_int_equal(parse(f, len, NULL), DROP_IPV4_TRUNCATED);
    /* Options longer than the frame. */
    len = udp4_with_options(f, 15, 0);
    assert_int_equal(parse(f, 14 + 40, NULL), DROP_IPV4_TRUNCATED);
    assert_int_equal(parse(f, len, NULL), DROP_NONE);
}

static void test_ipv4_other_protocol(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 4);

    f[14 + 9] = 47; /* GRE: carried, not looked into */
    fix_ipv4_csum(f + 14);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.ip_proto, 47);
    assert_int_equal(m.is_fragment, 0);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
}

/* ---- IPv6 ---------------------------------------------------------------- */

static void test_ipv6_plain(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 50, 0);

    assert_int_equal(len, 14 + 40 + 8 + 50);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_untagged(&m);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV6);
    assert_int_equal(m.l3_ofs, 14);
    assert_int_equal(m.l4_ofs, 54);
    assert_int_equal(m.ip_proto, 17);
    assert_int_equal(m.is_fragment, 0);

    /* Tagged. */
    const struct frame_tag tags[] = {{0x8100, 9, 2}, {0, 0, 0}};
    uint8_t t[FRAME_MAX];
    size_t ofs = frame_put_eth(t, MAC_B, MAC_A, tags, ETH_TYPE_IPV6);
    memcpy(t + ofs, f + 14, len - 14);
    assert_int_equal(parse(t, ofs + len - 14, &m), DROP_NONE);
    assert_int_equal(m.l3_ofs, 18);
    assert_int_equal(m.l4_ofs, 58);
    assert_int_equal(m.vlan, 9);

    /* Padding after the payload is ignored. */
    memset(f + len, 0, 10);
    assert_int_equal(parse(f, len + 10, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54);

    /* No next header (59) with an empty payload. */
    len = ipv6_chain(f, NULL, 0, 59, 0, &ofs);
    assert_int_equal(len, 54);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.ip_proto, 59);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV6);
}

static void test_ipv6_ext_headers(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t l4;
    size_t len;

    /* Each kind alone. */
    static const struct ext single[] = {
        {0, 0}, {0, 3}, {43, 0}, {43, 2}, {60, 0}, {60, 5}, {51, 1}, {51, 4},
    };
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        len = ipv6_chain(f, &single[i], 1, 17, 20, &l4);
        assert_int_equal(l4, 54 + ext_size(&single[i]));
        assert_int_equal(parse(f, len, &m), DROP_NONE);
        assert_int_equal(m.l4_ofs, l4);
        assert_int_equal(m.ip_proto, 17);
        assert_int_equal(m.is_fragment, 0);
        assert_int_equal(m.l3_ofs, 14);
    }

    /* A realistic chain: hop-by-hop, routing, destination options, AH, then UDP. */
    static const struct ext chain[] = {{0, 0}, {43, 2}, {60, 1}, {51, 4}};
    len = ipv6_chain(f, chain, 4, 17, 30, &l4);
    assert_int_equal(l4, 54 + 8 + 24 + 16 + 24);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 126);
    assert_int_equal(m.ip_proto, 17);
    /* The UDP header found there is checked: a bad length shows it was reached. */
    set_be16(f + l4 + 4, 7);
    assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);

    /* frame_udp6's hop-by-hop headers. */
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 10, 3);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54 + 24);
    assert_int_equal(m.ip_proto, 17);
}

static void test_ipv6_fragment_header(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t l4;

    /* A fragment header (the first fragment): a fragment, no L4 header used. */
    static const struct ext frag[] = {{44, 0}};
    size_t len = ipv6_chain(f, frag, 1, 17, 20, &l4);
    assert_int_equal(l4, 62);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.ip_proto, 17);
    assert_int_equal(m.l4_ofs, 0);
    /* ... so a bogus UDP length in it does not matter. */
    set_be16(f + l4 + 4, 3);
    assert_int_equal(parse(f, len, NULL), DROP_NONE);

    /* Fragment header after other headers; the chain after it is still followed. */
    static const struct ext mixed[] = {{0, 0}, {60, 0}, {44, 0}, {51, 1}};
    len = ipv6_chain(f, mixed, 4, 6, 40, &l4);
    assert_int_equal(l4, 54 + 8 + 8 + 8 + 12);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.is_fragment, 1);
    assert_int_equal(m.ip_proto, 6);
    assert_int_equal(m.l4_ofs, 0);
}

static void test_ipv6_ext_chain_limit(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    struct ext exts[PARSE_IPV6_MAX_EXT + 1];
    size_t l4;

    for (size_t i = 0; i <= PARSE_IPV6_MAX_EXT; i++) {
        exts[i].type = (i % 2) ? 60 : 43;
        exts[i].len = 0;
    }
    /* Eight extension headers: accepted. */
    size_t len = ipv6_chain(f, exts, PARSE_IPV6_MAX_EXT, 17, 8, &l4);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54 + 8 * PARSE_IPV6_MAX_EXT);
    assert_int_equal(m.ip_proto, 17);
    /* Nine: the chain is too long. */
    len = ipv6_chain(f, exts, PARSE_IPV6_MAX_EXT + 1, 17, 8, &l4);
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
    /* The same with frame_udp6's hop-by-hop headers. */
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 10, 8);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54 + 64);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 10, 9);
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
}

static void test_ipv6_ext_past_payload(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t l4;

    /* A hop-by-hop header claiming 88 bytes in a 36-byte payload. */
    static const struct ext hbh[] = {{0, 0}};
    size_t len = ipv6_chain(f, hbh, 1, 17, 28, &l4);
    f[54 + 1] = 10;
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
    /* One byte too long: 40 bytes claimed in 36. */
    f[54 + 1] = 4;
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
    /* Exactly the payload: the header fits, no room for UDP. */
    len = ipv6_chain(f, hbh, 1, 17, 0, &l4);
    assert_int_equal(parse(f, len, NULL), DROP_L4_TRUNCATED);
    /* The payload ends before a whole extension header (4 of 8 bytes). */
    len = ipv6_chain(f, NULL, 0, 0, 4, &l4);
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
    /* The extension header runs past the payload length into padding: still past. */
    len = ipv6_chain(f, hbh, 1, 17, 8, &l4);
    f[54 + 1] = 2;          /* 24 bytes, payload is 16 */
    memset(f + len, 0, 40); /* padding that would make it "fit" */
    assert_int_equal(parse(f, len + 40, NULL), DROP_IPV6_EXT_CHAIN);
    /* AH with a length beyond the payload. */
    static const struct ext ah[] = {{51, 1}};
    len = ipv6_chain(f, ah, 1, 17, 8, &l4);
    f[54 + 1] = 4; /* 24 bytes claimed, 20 available */
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_EXT_CHAIN);
}

static void test_ipv6_truncated_and_bad(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 20, 0);

    for (size_t n = 14; n < 54; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_IPV6_TRUNCATED);
    }
    for (size_t n = 54; n < len; n++) {
        assert_int_equal(parse(f, n, NULL), DROP_IPV6_TRUNCATED);
    }
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    /* Payload length one past the frame. */
    set_be16(f + 18, (uint16_t)(len - 54 + 1));
    assert_int_equal(parse(f, len, NULL), DROP_IPV6_TRUNCATED);
    set_be16(f + 18, (uint16_t)(len - 54));

    /* Versions other than 6. */
    static const uint8_t versions[] = {0x40, 0x00, 0x70, 0xf0};
    for (size_t i = 0; i < sizeof versions; i++) {
        uint8_t saved = f[14];
        f[14] = versions[i];
        assert_int_equal(parse(f, len, NULL), DROP_IPV6_BAD_HEADER);
        f[14] = saved;
    }
    /* Traffic class and flow label bits do not matter. */
    f[14] = 0x6f;
    f[15] = 0xff;
    assert_int_equal(parse(f, len, NULL), DROP_NONE);
}

/* ---- L4 ------------------------------------------------------------------ */

static void test_tcp(void **state)
{
    (void)state;
    uint8_t good[FRAME_MAX];
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_tcp4(good, MAC_B, MAC_A, IP4_A, IP4_B, 40000, 80, 40);
    uint8_t *tcp = f + 34;

    assert_int_equal(parse(good, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 34);
    assert_int_equal(m.ip_proto, 6);
    assert_int_equal(m.is_fragment, 0);

    /* Data offset below 5 words. */
    for (uint8_t off = 0; off < 5; off++) {
        memcpy(f, good, len);
        tcp[12] = (uint8_t)(off << 4);
        assert_int_equal(parse(f, len, NULL), DROP_TCP_BAD_OFFSET);
    }
    /* Data offset 15 (60 bytes): fits in 60 bytes of segment, not in 59. */
    memcpy(f, good, len);
    tcp[12] = 0xf0;
    assert_int_equal(parse(f, len, NULL), DROP_NONE);
    size_t short_len = frame_tcp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 40000, 80, 39);
    tcp[12] = 0xf0;
    assert_int_equal(parse(f, short_len, NULL), DROP_TCP_BAD_OFFSET);
    /* Offset within the frame's padding but past the IP total length. */
    memset(f + short_len, 0, 10);
    assert_int_equal(parse(f, short_len + 10, NULL), DROP_TCP_BAD_OFFSET);

    /* Segment shorter than the fixed header. */
    len = frame_tcp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 40000, 80, 0);
    set_be16(f + 16, 20 + 19);
    fix_ipv4_csum(f + 14);
    assert_int_equal(parse(f, 14 + 39, NULL), DROP_L4_TRUNCATED);
    assert_int_equal(parse(f, len, NULL), DROP_L4_TRUNCATED); /* one byte of padding */

    /* TCP over IPv6. */
    size_t l4;
    len = ipv6_chain(f, NULL, 0, 6, 20, &l4);
    f[l4 + 12] = 0x50;
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54);
    assert_int_equal(m.ip_proto, 6);
    f[l4 + 12] = 0x60;
    assert_int_equal(parse(f, len, NULL), DROP_TCP_BAD_OFFSET);
}

static void test_udp(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 20);
    uint8_t *udp = f + 34;

    for (uint16_t ul = 0; ul < 8; ul++) {
        set_be16(udp + 4, ul);
        assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    }
    set_be16(udp + 4, 8 + 21); /* one past the IP payload */
    assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    set_be16(udp + 4, 0xffff);
    assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    set_be16(udp + 4, 8 + 20);
    assert_int_equal(parse(f, len, NULL), DROP_NONE);
    set_be16(udp + 4, 8); /* shorter than the IP payload: allowed */
    assert_int_equal(parse(f, len, NULL), DROP_NONE);

    /* IP payload shorter than a UDP header. */
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 0);
    for (uint16_t pl = 0; pl < 8; pl++) {
        set_be16(f + 16, (uint16_t)(20 + pl));
        fix_ipv4_csum(f + 14);
        assert_int_equal(parse(f, 34 + pl, NULL), DROP_L4_TRUNCATED);
    }

    /* IPv6: the same checks against the IPv6 payload. */
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 20, 1);
    udp = f + 62;
    set_be16(udp + 4, 29);
    assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    set_be16(udp + 4, 7);
    assert_int_equal(parse(f, len, NULL), DROP_UDP_BAD_LENGTH);
    set_be16(udp + 4, 28);
    assert_int_equal(parse(f, len, NULL), DROP_NONE);
    size_t l4;
    len = ipv6_chain(f, NULL, 0, 17, 7, &l4);
    assert_int_equal(parse(f, len, NULL), DROP_L4_TRUNCATED);
}

static void test_icmp(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct pkt_meta m;
    size_t len = frame_icmp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 56);

    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.ip_proto, 1);
    assert_int_equal(m.l4_ofs, 34);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV4);
    /* ICMP needs its 8-byte header. */
    len = frame_icmp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 0);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 34);
    for (uint16_t pl = 0; pl < 8; pl++) {
        set_be16(f + 16, (uint16_t)(20 + pl));
        fix_ipv4_csum(f + 14);
        assert_int_equal(parse(f, 34 + pl, NULL), DROP_L4_TRUNCATED);
    }

    len = frame_icmp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 56);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.ip_proto, 58);
    assert_int_equal(m.l4_ofs, 54);
    assert_int_equal(m.eth_type, ETH_TYPE_IPV6);
    /* ICMPv6: type, code, checksum (4 bytes) are the minimum. */
    size_t l4;
    for (size_t pl = 0; pl < 4; pl++) {
        len = ipv6_chain(f, NULL, 0, 58, pl, &l4);
        assert_int_equal(parse(f, len, NULL), DROP_L4_TRUNCATED);
    }
    len = ipv6_chain(f, NULL, 0, 58, 4, &l4);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 54);
    /* ICMPv6 behind an extension header. */
    static const struct ext dst[] = {{60, 0}};
    len = ipv6_chain(f, dst, 1, 58, 3, &l4);
    assert_int_equal(parse(f, len, NULL), DROP_L4_TRUNCATED);
    len = ipv6_chain(f, dst, 1, 58, 8, &l4);
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    assert_int_equal(m.l4_ofs, 62);
}

/* ---- flow hash ------------------------------------------------------------ */

static uint32_t hash_of(const uint8_t *f, size_t len)
{
    struct pkt_meta m;
    assert_int_equal(parse(f, len, &m), DROP_NONE);
    return m.flow_hash;
}

static void test_flow_hash_same_flow(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t len;

    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 10);
    uint32_t h = hash_of(f, len);
    /* Same 5-tuple, other payload size, other MACs, a VLAN tag: same flow. */
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 500);
    assert_int_equal(hash_of(f, len), h);
    len = frame_udp4(f, "02:00:00:00:00:99", "02:00:00:00:00:98", IP4_A, IP4_B, 1000, 2000, 10);
    assert_int_equal(hash_of(f, len), h);
    const struct frame_tag tags[] = {{0x8100, 33, 0}, {0, 0, 0}};
    len = frame_udp4_tagged(f, MAC_B, MAC_A, tags, IP4_A, IP4_B, 1000, 2000, 10);
    assert_int_equal(hash_of(f, len), h);

    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 10, 0);
    uint32_t h6 = hash_of(f, len);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 300, 2);
    assert_int_equal(hash_of(f, len), h6);

    /* Non-IP: the same frame twice hashes the same. */
    len = frame_arp(f, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);
    uint32_t ha = hash_of(f, len);
    assert_int_equal(hash_of(f, len), ha);
}

static void test_flow_hash_different_flows(void **state)
{
    (void)state;
    enum { N = 64 };
    uint8_t f[FRAME_MAX];
    uint32_t h[N];
    size_t len;
    int distinct;

    /* Source ports 1000..1063: nearly every one a different hash. */
    for (int i = 0; i < N; i++) {
        len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, (uint16_t)(1000 + i), 2000, 10);
        h[i] = hash_of(f, len);
    }
    distinct = 0;
    for (int i = 0; i < N; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) {
            dup |= h[j] == h[i];
        }
        distinct += !dup;
    }
    assert_true(distinct >= N - 2);
    /* The low 14 bits (the VXLAN source port) vary too. */
    distinct = 0;
    for (int i = 0; i < N; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) {
            dup |= (h[j] & 0x3fff) == (h[i] & 0x3fff);
        }
        distinct += !dup;
    }
    assert_true(distinct >= N - 4);

    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 10);
    uint32_t base = hash_of(f, len);
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2001, 10);
    assert_int_not_equal(hash_of(f, len), base);
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, "172.16.10.13", 1000, 2000, 10);
    assert_int_not_equal(hash_of(f, len), base);
    len = frame_udp4(f, MAC_B, MAC_A, "172.16.10.14", IP4_B, 1000, 2000, 10);
    assert_int_not_equal(hash_of(f, len), base);
    len = frame_tcp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 10);
    assert_int_not_equal(hash_of(f, len), base);

    /* IPv6 ports and addresses. */
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 10, 0);
    uint32_t b6 = hash_of(f, len);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1001, 2000, 10, 0);
    assert_int_not_equal(hash_of(f, len), b6);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, "2001:db8::c", 1000, 2000, 10, 0);
    assert_int_not_equal(hash_of(f, len), b6);

    /* Non-IP frames from different sources. */
    len = frame_arp(f, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);
    uint32_t ha = hash_of(f, len);
    len = frame_arp(f, 1, "02:00:00:00:00:0c", IP4_A, "00:00:00:00:00:00", IP4_B);
    assert_int_not_equal(hash_of(f, len), ha);
}

static void test_flow_hash_fragments(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t len;

    /* First fragment: UDP header and data; later one: data only, other length. */
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 1472);
    set_frag(f, 0x2000);
    uint32_t first = hash_of(f, len);
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 0xabcd, 0x1234, 200);
    set_frag(f, 185);
    assert_int_equal(hash_of(f, len), first);
    set_frag(f, 0x2000 | 370);
    assert_int_equal(hash_of(f, len), first);
    /* Another datagram between other hosts: another hash. */
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, "172.16.10.99", 1000, 2000, 1472);
    set_frag(f, 0x2000);
    assert_int_not_equal(hash_of(f, len), first);

    /* IPv6 fragments. */
    static const struct ext frag[] = {{44, 0}};
    size_t l4;
    len = ipv6_chain(f, frag, 1, 17, 100, &l4);
    uint32_t f6 = hash_of(f, len);
    len = ipv6_chain(f, frag, 1, 17, 40, &l4);
    set_be16(f + 54 + 2, 0x0100); /* later fragment, different bytes where ports would be */
    set_be16(f + l4, 0x7777);
    assert_int_equal(hash_of(f, len), f6);
}

/* ---- never past the end ---------------------------------------------------- */

/* Parses every prefix of frame from a heap block of exactly that size, so that
 * ASan catches any read past the end. Every strict prefix must be dropped (the
 * frames have no padding, so their length fields cover every byte). */
static void check_prefixes(const char *name, const uint8_t *frame, size_t len)
{
    for (size_t n = 0; n <= len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        uint8_t *data = n ? copy : copy + 1; /* zero bytes readable */
        memcpy(data, frame, n);
        struct pkt p;
        memset(&p, 0, sizeof p);
        p.head = data;
        p.data = data;
        p.len = (uint32_t)n;
        p.size = (uint32_t)n;
        enum drop_reason r = frame_parse(&p);
        free(copy);
        if (r >= DROP_REASON_COUNT) {
            fail_msg("%s: prefix %zu: reason %d out of range", name, n, (int)r);
        }
        if (n < ETH_HEADER_LEN && r != DROP_RUNT) {
            fail_msg("%s: prefix %zu: %s, expected runt", name, n, drop_reason_name(r));
        }
        if (n < len && r == DROP_NONE) {
            fail_msg("%s: prefix %zu of %zu accepted", name, n, len);
        }
        if (n == len && r != DROP_NONE) {
            fail_msg("%s: whole frame dropped: %s", name, drop_reason_name(r));
        }
    }
}

static void test_never_reads_past_end(void **state)
{
    (void)state;
    static uint8_t f[FRAME_MAX];
    size_t len;
    size_t l4;
    const struct frame_tag one[] = {{0x8100, 100, 1}, {0, 0, 0}};
    const struct frame_tag two[] = {{0x88a8, 100, 1}, {0x8100, 200, 2}, {0, 0, 0}};

    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 30);
    check_prefixes("udp4", f, len);
    len = frame_udp4_tagged(f, MAC_B, MAC_A, one, IP4_A, IP4_B, 1000, 2000, 30);
    check_prefixes("udp4 802.1Q", f, len);
    len = frame_udp4_tagged(f, MAC_B, MAC_A, two, IP4_A, IP4_B, 1000, 2000, 30);
    check_prefixes("udp4 QinQ", f, len);
    len = udp4_with_options(f, 15, 12);
    check_prefixes("udp4 options", f, len);
    len = frame_tcp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 17);
    check_prefixes("tcp4", f, len);
    len = frame_tcp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 40);
    f[34 + 12] = 0xf0;
    check_prefixes("tcp4 options", f, len);
    len = frame_icmp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 9);
    check_prefixes("icmp4", f, len);
    len = frame_udp4(f, MAC_B, MAC_A, IP4_A, IP4_B, 1000, 2000, 30);
    set_frag(f, 0x2000);
    check_prefixes("udp4 fragment", f, len);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 11, 0);
    check_prefixes("udp6", f, len);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 2000, 11, 3);
    check_prefixes("udp6 hop-by-hop", f, len);
    static const struct ext chain[] = {{0, 1}, {43, 2}, {44, 0}, {51, 4}, {60, 0}};
    len = ipv6_chain(f, chain, 5, 17, 16, &l4);
    check_prefixes("ipv6 chain", f, len);
    static const struct ext chain2[] = {{60, 0}, {51, 1}};
    len = ipv6_chain(f, chain2, 2, 6, 20, &l4);
    f[l4 + 12] = 0x50;
    check_prefixes("tcp6 chain", f, len);
    len = frame_icmp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 5);
    check_prefixes("icmp6", f, len);
    len = frame_arp(f, 1, MAC_A, IP4_A, "00:00:00:00:00:00", IP4_B);
    check_prefixes("arp", f, len);
    size_t ofs = frame_put_eth(f, MAC_B, MAC_A, two, ETH_TYPE_ARP);
    uint8_t arp[64];
    frame_arp(arp, 2, MAC_A, IP4_A, MAC_B, IP4_B);
    memcpy(f + ofs, arp + 14, 28);
    check_prefixes("arp QinQ", f, ofs + 28);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runt),
        cmocka_unit_test(test_ethernet_other_type),
        cmocka_unit_test(test_ethernet_ipv4_udp),
        cmocka_unit_test(test_vlan_8021q),
        cmocka_unit_test(test_vlan_qinq),
        cmocka_unit_test(test_vlan_three_tags),
        cmocka_unit_test(test_vlan_truncated),
        cmocka_unit_test(test_arp_valid),
        cmocka_unit_test(test_arp_malformed),
        cmocka_unit_test(test_ipv4_options),
        cmocka_unit_test(test_ipv4_padding),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv4_bad_header),
        cmocka_unit_test(test_ipv4_truncated),
        cmocka_unit_test(test_ipv4_other_protocol),
        cmocka_unit_test(test_ipv6_plain),
        cmocka_unit_test(test_ipv6_ext_headers),
        cmocka_unit_test(test_ipv6_fragment_header),
        cmocka_unit_test(test_ipv6_ext_chain_limit),
        cmocka_unit_test(test_ipv6_ext_past_payload),
        cmocka_unit_test(test_ipv6_truncated_and_bad),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_icmp),
        cmocka_unit_test(test_flow_hash_same_flow),
        cmocka_unit_test(test_flow_hash_different_flows),
        cmocka_unit_test(test_flow_hash_fragments),
        cmocka_unit_test(test_never_reads_past_end),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
