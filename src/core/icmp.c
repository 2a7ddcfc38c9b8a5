/*
 * icmp.c - "fragmentation needed" and "packet too big" errors built by the
 * switch for its guests, and the token bucket that limits them (see icmp.h).
 *
 * Works on frames frame_parse() accepted: the IP header lengths and the IPv6
 * extension chain have been checked against the frame already, and every
 * read here is still bounded by the IP packet's own end.
 */
#include "icmp.h"

#include <string.h>

#include "core/arp.h"
#include "core/parse.h"
#include "lib/checksum.h"
#include "lib/ether.h"
#include "lib/be.h"

#define IP_PROTO_ICMP      1
#define IP_PROTO_ICMPV6    58
#define IPV4_LEN           20
#define IPV6_LEN           40
#define IPV4_DF            0x4000
#define IPV4_FRAG_OFFSET   0x1fff
#define ICMP_DEST_UNREACH  3
#define ICMP_FRAG_NEEDED   4
#define ICMPV6_PKT_TOO_BIG 2
#define ICMPV6_INFO_MIN    128 /* ICMPv6 types below are errors (RFC 4443 section 2.1) */
#define ERROR_TTL          64
#define ERROR_TOS          0xc0 /* precedence 6, internetwork control (RFC 1812 4.3.2.5) */

/* ICMP types that are errors (RFC 792, RFC 1812 section 4.3.2.7): no error
 * is ever sent about one of them, or two hosts could bounce errors forever. */
static bool icmp4_is_error(uint8_t type)
{
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* A unicast address a host can have: not ::, not ::1, not multicast. */
static bool ip6_is_host(const uint8_t *a)
{
    static const uint8_t zero[15];

    return a[0] != 0xff && !(memcmp(a, zero, 15) == 0 && a[15] <= 1);
}

/* The IPv4 packet of p: whether it may be told about mtu. */
static bool ipv4_wanted(const uint8_t *ip, uint32_t total, uint32_t mtu)
{
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    uint16_t frag = read_be16(ip + 6);

    if (total <= mtu || !(frag & IPV4_DF) || (frag & IPV4_FRAG_OFFSET) ||
        !arp_ip_is_host(read_be32(ip + 12)) || !arp_ip_is_host(read_be32(ip + 16))) {
        return false;
    }
    if (ip[9] == IP_PROTO_ICMP) {
        /* The type is in the packet: a first fragment holds at least 8 bytes of payload. */
        return ihl < total && !icmp4_is_error(ip[ihl]);
    }
    return true;
}

/* The IPv6 packet of p (end: bytes from ip to its end): whether it may be
 * told about mtu: not a later fragment, not an ICMPv6 error. */
static bool ipv6_wanted(const uint8_t *ip, uint32_t end, uint32_t mtu)
{
    uint8_t proto;
    uint32_t l4;
    uint16_t frag;

    if (end <= mtu || !ip6_is_host(ip + 8) || !ip6_is_host(ip + 24) ||
        parse_ipv6_chain(ip, end, &proto, &l4, &frag) != DROP_NONE ||
        (frag != PARSE_IPV6_NO_FRAGMENT && frag != 0)) {
        return false;
    }
    return proto != IP_PROTO_ICMPV6 || (l4 < end && ip[l4] >= ICMPV6_INFO_MIN);
}

bool icmp_too_big_wanted(const struct pkt *p, uint32_t mtu)
{
    const struct pkt_meta *m = &p->meta;
    const uint8_t *ip = p->data + m->l3_ofs;
    uint32_t avail = p->len > m->l3_ofs ? p->len - m->l3_ofs : 0;

    if (p->len < ETH_HEADER_LEN || eth_addr_is_multicast(p->data)) {
        return false;
    }
    if (m->eth_type == ETH_TYPE_IPV4 && avail >= IPV4_LEN) {
        uint32_t total = read_be16(ip + 2);
        return total <= avail && ipv4_wanted(ip, total, mtu);
    }
    if (m->eth_type == ETH_TYPE_IPV6 && avail >= IPV6_LEN) {
        uint32_t end = IPV6_LEN + read_be16(ip + 4);
        return end <= avail && ipv6_wanted(ip, end, mtu);
    }
    return false;
}

/* Copies p's Ethernet header (and the tags that ride along) into q with the
 * addresses swapped: back to the sender, from the address it sent to. */
static uint8_t *put_l2(struct pkt *q, const struct pkt *p)
{
    uint32_t l2 = p->meta.l3_ofs;

    memcpy(q->data, p->data + ETH_ADDR_LEN, ETH_ADDR_LEN);
    memcpy(q->data + ETH_ADDR_LEN, p->data, ETH_ADDR_LEN);
    memcpy(q->data + 2 * ETH_ADDR_LEN, p->data + 2 * ETH_ADDR_LEN, l2 - 2 * ETH_ADDR_LEN);
    return q->data + l2;
}

/* IPv4 + ICMP type 3 code 4 (RFC 1191 section 4) quoting quote bytes of orig. */
static void put_frag_needed(uint8_t *ip, const uint8_t *orig, uint32_t quote, uint32_t mtu)
{
    uint8_t *icmp = ip + IPV4_LEN;
    uint32_t icmp_len = ICMP4_HEADER_LEN + quote;

    memset(ip, 0, IPV4_LEN + ICMP4_HEADER_LEN);
    ip[0] = 0x45;
    ip[1] = ERROR_TOS;
    write_be16(ip + 2, (uint16_t)(IPV4_LEN + icmp_len));
    write_be16(ip + 6, IPV4_DF); /* atomic: never fragmented, so ID 0 (RFC 6864) */
    ip[8] = ERROR_TTL;
    ip[9] = IP_PROTO_ICMP;
    memcpy(ip + 12, orig + 16, 4); /* from the address the guest sent to */
    memcpy(ip + 16, orig + 12, 4);
    uint16_t sum = csum_fold(csum_partial(ip, IPV4_LEN, 0));
    memcpy(ip + 10, &sum, sizeof sum);
    icmp[0] = ICMP_DEST_UNREACH;
    icmp[1] = ICMP_FRAG_NEEDED;
    write_be16(icmp + 6, (uint16_t)mtu); /* next-hop MTU; bytes 4-5 stay unused */
    memcpy(icmp + ICMP4_HEADER_LEN, orig, quote);
    sum = csum_fold(csum_partial(icmp, icmp_len, 0));
    memcpy(icmp + 2, &sum, sizeof sum);
}

/* IPv6 + ICMPv6 packet too big (RFC 4443 section 3.2) quoting quote bytes of orig. */
static void put_too_big(uint8_t *ip, const uint8_t *orig, uint32_t quote, uint32_t mtu)
{
    uint8_t *icmp = ip + IPV6_LEN;
    uint32_t icmp_len = ICMP6_HEADER_LEN + quote;
    uint8_t pseudo[8] = {0};

    memset(ip, 0, IPV6_LEN + ICMP6_HEADER_LEN);
    ip[0] = 0x60;
    write_be16(ip + 4, (uint16_t)icmp_len);
    ip[6] = IP_PROTO_ICMPV6;
    ip[7] = ERROR_TTL;
    memcpy(ip + 8, orig + 24, 16);
    memcpy(ip + 24, orig + 8, 16);
    icmp[0] = ICMPV6_PKT_TOO_BIG;
    write_be32(icmp + 4, mtu);
    memcpy(icmp + ICMP6_HEADER_LEN, orig, quote);
    /* Pseudo-header: addresses, upper-layer length, zeros, next header. */
    write_be32(pseudo, icmp_len);
    pseudo[7] = IP_PROTO_ICMPV6;
    uint32_t acc = csum_partial(ip + 8, 32, csum_partial(pseudo, sizeof pseudo, 0));
    uint16_t sum = csum_fold(csum_partial(icmp, icmp_len, acc));
    memcpy(icmp + 2, &sum, sizeof sum);
}

struct pkt *icmp_too_big_make(struct pkt_pool *pool, const struct pkt *p, uint32_t mtu,
                              uint32_t max_len)
{
    const uint8_t *orig = p->data + p->meta.l3_ofs;
    bool v4 = p->meta.eth_type == ETH_TYPE_IPV4;
    uint32_t hdr = v4 ? IPV4_LEN + ICMP4_HEADER_LEN : IPV6_LEN + ICMP6_HEADER_LEN;
    uint32_t limit = v4 ? ICMP4_ERROR_MAX_LEN : ICMP6_ERROR_MAX_LEN;
    uint32_t orig_len = v4 ? read_be16(orig + 2) : IPV6_LEN + (uint32_t)read_be16(orig + 4);
    uint32_t orig_hdr = v4 ? (uint32_t)(orig[0] & 0x0f) * 4 : IPV6_LEN;

    if (max_len < limit) {
        limit = max_len;
    }
    /* RFC 792: at least the IP header and the first 8 bytes of its payload. */
    if (limit < hdr + orig_hdr + 8) {
        return NULL;
    }
    uint32_t quote = orig_len < limit - hdr ? orig_len : limit - hdr;
    struct pkt *q = pkt_pool_get(pool);
    if (!q) {
        return NULL;
    }
    uint32_t len = p->meta.l3_ofs + hdr + quote;
    if (pkt_tailroom(q) < len) {
        pkt_pool_put(pool, q);
        return NULL;
    }
    uint8_t *ip = put_l2(q, p);
    if (v4) {
        put_frag_needed(ip, orig, quote, mtu);
    } else {
        put_too_big(ip, orig, quote, mtu);
    }
    q->len = len;
    /* Field by field onto the reset metadata: whatever else p carries (offload
     * work, flow hash) belongs to p's payload, not to this new packet. */
    const struct pkt_meta *m = &p->meta;
    q->meta.vlan = m->vlan;
    q->meta.tag_tpid = m->tag_tpid;
    q->meta.eth_type = m->eth_type;
    q->meta.l3_ofs = m->l3_ofs;
    q->meta.l4_ofs = (uint16_t)(m->l3_ofs + (v4 ? IPV4_LEN : IPV6_LEN));
    q->meta.pcp = m->pcp;
    q->meta.n_tags = m->n_tags;
    q->meta.ip_proto = v4 ? IP_PROTO_ICMP : IP_PROTO_ICMPV6;
    q->meta.in_port = m->in_port;
    q->meta.segment = m->segment;
    return q;
}

bool icmp_rate_take(struct icmp_rate *r, uint32_t now, uint32_t per_second)
{
    if (!r->primed || now != r->last) {
        /* per_second for each second since the last refill (a clock that went
         * back counts as one); the bucket never holds more than per_second. */
        uint64_t add =
            r->primed && now > r->last ? (uint64_t)(now - r->last) * per_second : per_second;
        uint64_t tokens = r->tokens + add;
        r->tokens = (uint32_t)(tokens < per_second ? tokens : per_second);
        r->last = now;
        r->primed = true;
    }
    if (r->tokens == 0) {
        return false;
    }
    r->tokens--;
    return true;
}
