/*
 * frames.c - builders of crafted frames (see frames.h).
 *
 * Every builder writes a complete frame: lengths filled in, the IPv4 header
 * checksum and the L4 checksums computed (UDP/TCP/ICMPv6 over their
 * pseudo-headers, ICMP over the message), payload bytes 0, 1, 2, ... so a
 * test can tell a payload byte's position from its value.
 */
#include "frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/checksum.h"
#include "lib/ether.h"
#include "lib/ip_addr.h"

#define IP_PROTO_ICMP   1
#define IP_PROTO_TCP    6
#define IP_PROTO_UDP    17
#define IP_PROTO_ICMPV6 58
#define IPV6_HOP_BY_HOP 0

#define IPV4_LEN 20
#define IPV6_LEN 40
#define UDP_LEN  8
#define TCP_LEN  20
#define ICMP_LEN 8
#define ARP_LEN  28

static void frame_die(const char *what, const char *text)
{
    fprintf(stderr, "frames: %s: \"%s\"\n", what, text ? text : "(null)");
    abort();
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void parse_mac(const char *text, uint8_t *out)
{
    struct eth_addr mac;

    if (!text || eth_addr_parse(text, &mac) != 0) {
        frame_die("bad MAC address", text);
    }
    memcpy(out, mac.bytes, ETH_ADDR_LEN);
}

static void parse_ip4(const char *text, uint8_t *out)
{
    struct ip_addr ip;

    if (!text || ip_addr_parse(text, &ip) != 0 || !ip_addr_is_v4(&ip)) {
        frame_die("bad IPv4 address", text);
    }
    memcpy(out, ip.bytes + 12, 4);
}

static void parse_ip6(const char *text, uint8_t *out)
{
    struct ip_addr ip;

    if (!text || ip_addr_parse(text, &ip) != 0) {
        frame_die("bad IPv6 address", text);
    }
    memcpy(out, ip.bytes, 16);
}

static void check_room(size_t need)
{
    if (need > FRAME_MAX) {
        fprintf(stderr, "frames: frame of %zu bytes exceeds FRAME_MAX (%d)\n", need, FRAME_MAX);
        abort();
    }
}

static void put_payload(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)i;
    }
}

/* Stores a folded checksum (already in memory order) at p. */
static void put_csum(uint8_t *p, uint16_t sum)
{
    memcpy(p, &sum, sizeof sum);
}

size_t frame_put_eth(uint8_t *buf, const char *dst, const char *src, const struct frame_tag *tags,
                     uint16_t eth_type)
{
    size_t ofs = 2 * ETH_ADDR_LEN;

    parse_mac(dst, buf);
    parse_mac(src, buf + ETH_ADDR_LEN);
    for (unsigned i = 0; tags && tags[i].tpid; i++) {
        if (i >= 2 || tags[i].vid > VLAN_VID_MASK || tags[i].pcp > 7) {
            fprintf(stderr, "frames: bad tag list (tag %u)\n", i);
            abort();
        }
        put_be16(buf + ofs, tags[i].tpid);
        put_be16(buf + ofs + 2, (uint16_t)(tags[i].pcp << VLAN_PCP_SHIFT | tags[i].vid));
        ofs += VLAN_HEADER_LEN;
    }
    put_be16(buf + ofs, eth_type);
    return ofs + 2;
}

/* IPv4 header without options, DF set, TTL 64, checksum filled in. */
static void put_ipv4(uint8_t *ip, uint8_t proto, const char *src_ip, const char *dst_ip,
                     size_t l4_len)
{
    memset(ip, 0, IPV4_LEN);
    ip[0] = 0x45;
    put_be16(ip + 2, (uint16_t)(IPV4_LEN + l4_len));
    put_be16(ip + 4, 0x1234); /* identification */
    put_be16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    parse_ip4(src_ip, ip + 12);
    parse_ip4(dst_ip, ip + 16);
    put_csum(ip + 10, csum_fold(csum_partial(ip, IPV4_LEN, 0)));
}

/* Sum of the IPv4 pseudo-header (addresses, protocol, L4 length). */
static uint32_t pseudo4(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
    uint8_t tail[4] = {0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
    return csum_partial(tail, sizeof tail, csum_partial(ip + 12, 8, 0));
}

/* Sum of the IPv6 pseudo-header (addresses, upper-layer length, next header). */
static uint32_t pseudo6(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
    uint8_t tail[8] = {0};
    put_be32(tail, (uint32_t)l4_len);
    tail[7] = proto;
    return csum_partial(tail, sizeof tail, csum_partial(ip + 8, 32, 0));
}

/* Checksums an L4 segment whose checksum field is zero; UDP's zero becomes 0xffff. */
static uint16_t l4_csum(const uint8_t *l4, size_t len, uint32_t pseudo, int is_udp)
{
    uint16_t sum = csum_fold(csum_partial(l4, len, pseudo));
    if (is_udp && sum == 0) {
        sum = 0xffff;
    }
    return sum;
}

static void put_udp(uint8_t *udp, uint16_t sport, uint16_t dport, size_t payload_len)
{
    put_be16(udp, sport);
    put_be16(udp + 2, dport);
    put_be16(udp + 4, (uint16_t)(UDP_LEN + payload_len));
    put_be16(udp + 6, 0);
    put_payload(udp + UDP_LEN, payload_len);
}

size_t frame_udp4_tagged(uint8_t *buf, const char *dst_mac, const char *src_mac,
                         const struct frame_tag *tags, const char *src_ip, const char *dst_ip,
                         uint16_t sport, uint16_t dport, size_t payload_len)
{
    size_t l4_len = UDP_LEN + payload_len;
    check_room(ETH_HEADER_LEN + 2 * VLAN_HEADER_LEN + IPV4_LEN + l4_len);

    size_t ofs = frame_put_eth(buf, dst_mac, src_mac, tags, ETH_TYPE_IPV4);
    uint8_t *ip = buf + ofs;
    uint8_t *udp = ip + IPV4_LEN;

    put_ipv4(ip, IP_PROTO_UDP, src_ip, dst_ip, l4_len);
    put_udp(udp, sport, dport, payload_len);
    put_csum(udp + 6, l4_csum(udp, l4_len, pseudo4(ip, IP_PROTO_UDP, l4_len), 1));
    return ofs + IPV4_LEN + l4_len;
}

size_t frame_udp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len)
{
    return frame_udp4_tagged(buf, dst_mac, src_mac, NULL, src_ip, dst_ip, sport, dport,
                             payload_len);
}

size_t frame_tcp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len)
{
    size_t l4_len = TCP_LEN + payload_len;
    check_room(ETH_HEADER_LEN + IPV4_LEN + l4_len);

    size_t ofs = frame_put_eth(buf, dst_mac, src_mac, NULL, ETH_TYPE_IPV4);
    uint8_t *ip = buf + ofs;
    uint8_t *tcp = ip + IPV4_LEN;

    put_ipv4(ip, IP_PROTO_TCP, src_ip, dst_ip, l4_len);
    memset(tcp, 0, TCP_LEN);
    put_be16(tcp, sport);
    put_be16(tcp + 2, dport);
    put_be32(tcp + 4, 0x01020304); /* sequence number */
    tcp[12] = 5 << 4;              /* data offset: 5 words */
    tcp[13] = 0x02;                /* SYN */
    put_be16(tcp + 14, 65535);     /* window */
    put_payload(tcp + TCP_LEN, payload_len);
    put_csum(tcp + 16, l4_csum(tcp, l4_len, pseudo4(ip, IP_PROTO_TCP, l4_len), 0));
    return ofs + IPV4_LEN + l4_len;
}

size_t frame_icmp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                   const char *dst_ip, size_t payload_len)
{
    size_t l4_len = ICMP_LEN + payload_len;
    check_room(ETH_HEADER_LEN + IPV4_LEN + l4_len);

    size_t ofs = frame_put_eth(buf, dst_mac, src_mac, NULL, ETH_TYPE_IPV4);
    uint8_t *ip = buf + ofs;
    uint8_t *icmp = ip + IPV4_LEN;

    put_ipv4(ip, IP_PROTO_ICMP, src_ip, dst_ip, l4_len);
    memset(icmp, 0, ICMP_LEN);
    icmp[0] = 8;                /* echo request */
    put_be16(icmp + 4, 0x4242); /* identifier */
    put_be16(icmp + 6, 1);      /* sequence */
    put_payload(icmp + ICMP_LEN, payload_len);
    /* ICMP has no pseudo-header: the checksum covers the message only. */
    put_csum(icmp + 2, l4_csum(icmp, l4_len, 0, 0));
    return ofs + IPV4_LEN + l4_len;
}

/* IPv6 header then n_ext 8-byte hop-by-hop headers (PadN option) chained to proto.
 * Returns the length of the headers written. */
static size_t put_ipv6(uint8_t *ip, uint8_t proto, const char *src_ip, const char *dst_ip,
                       unsigned n_ext, size_t l4_len)
{
    memset(ip, 0, IPV6_LEN);
    ip[0] = 0x60;
    put_be16(ip + 4, (uint16_t)(n_ext * 8 + l4_len));
    ip[6] = n_ext ? IPV6_HOP_BY_HOP : proto;
    ip[7] = 64;
    parse_ip6(src_ip, ip + 8);
    parse_ip6(dst_ip, ip + 24);
    for (unsigned i = 0; i < n_ext; i++) {
        uint8_t *ext = ip + IPV6_LEN + 8 * i;
        ext[0] = i + 1 < n_ext ? IPV6_HOP_BY_HOP : proto;
        ext[1] = 0; /* (0 + 1) * 8 bytes */
        ext[2] = 1; /* PadN */
        ext[3] = 4;
        memset(ext + 4, 0, 4);
    }
    return IPV6_LEN + 8 * (size_t)n_ext;
}

size_t frame_udp6(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len,
                  unsigned ext_headers)
{
    size_t l4_len = UDP_LEN + payload_len;
    check_room(ETH_HEADER_LEN + IPV6_LEN + 8 * (size_t)ext_headers + l4_len);

    size_t ofs = frame_put_eth(buf, dst_mac, src_mac, NULL, ETH_TYPE_IPV6);
    uint8_t *ip = buf + ofs;
    size_t hdrs = put_ipv6(ip, IP_PROTO_UDP, src_ip, dst_ip, ext_headers, l4_len);
    uint8_t *udp = ip + hdrs;

    put_udp(udp, sport, dport, payload_len);
    put_csum(udp + 6, l4_csum(udp, l4_len, pseudo6(ip, IP_PROTO_UDP, l4_len), 1));
    return ofs + hdrs + l4_len;
}

size_t frame_icmp6(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                   const char *dst_ip, size_t payload_len)
{
    size_t l4_len = ICMP_LEN + payload_len;
    check_room(ETH_HEADER_LEN + IPV6_LEN + l4_len);

    size_t ofs = frame_put_eth(buf, dst_mac, src_mac, NULL, ETH_TYPE_IPV6);
    uint8_t *ip = buf + ofs;
    size_t hdrs = put_ipv6(ip, IP_PROTO_ICMPV6, src_ip, dst_ip, 0, l4_len);
    uint8_t *icmp = ip + hdrs;

    memset(icmp, 0, ICMP_LEN);
    icmp[0] = 128; /* echo request */
    put_be16(icmp + 4, 0x4242);
    put_be16(icmp + 6, 1);
    put_payload(icmp + ICMP_LEN, payload_len);
    put_csum(icmp + 2, l4_csum(icmp, l4_len, pseudo6(ip, IP_PROTO_ICMPV6, l4_len), 0));
    return ofs + hdrs + l4_len;
}

size_t frame_arp(uint8_t *buf, uint16_t op, const char *sender_mac, const char *sender_ip,
                 const char *target_mac, const char *target_ip)
{
    const char *dst = op == 1 ? "ff:ff:ff:ff:ff:ff" : target_mac;
    size_t ofs = frame_put_eth(buf, dst, sender_mac, NULL, ETH_TYPE_ARP);
    uint8_t *arp = buf + ofs;

    put_be16(arp, 1); /* htype: Ethernet */
    put_be16(arp + 2, ETH_TYPE_IPV4);
    arp[4] = ETH_ADDR_LEN;
    arp[5] = 4;
    put_be16(arp + 6, op);
    parse_mac(sender_mac, arp + 8);
    parse_ip4(sender_ip, arp + 14);
    parse_mac(target_mac, arp + 18);
    parse_ip4(target_ip, arp + 24);
    return ofs + ARP_LEN;
}

size_t frame_vxlan(uint8_t *buf, uint8_t flags, uint32_t vni, const uint8_t *inner,
                   size_t inner_len)
{
    check_room(8 + inner_len);
    memset(buf, 0, 8);
    buf[0] = flags;
    buf[4] = (uint8_t)(vni >> 16);
    buf[5] = (uint8_t)(vni >> 8);
    buf[6] = (uint8_t)vni;
    if (inner_len) {
        memmove(buf + 8, inner, inner_len);
    }
    return 8 + inner_len;
}

struct pkt *frame_to_pkt(struct pkt_pool *pool, const uint8_t *frame, size_t len)
{
    if (len > UINT32_MAX) {
        frame_die("frame too long", NULL);
    }
    struct pkt *p = pkt_pool_copy_in(pool, frame, (uint32_t)len);
    if (!p) {
        fprintf(stderr, "frames: no buffer for a %zu-byte frame (pool empty or too small)\n", len);
        abort();
    }
    return p;
}
