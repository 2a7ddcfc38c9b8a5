/*
 * parse.c - the frame parser: one pass, every read bounds-checked against
 * the frame length, no allocation. Validates only what a switch must trust
 * later (offsets it will read, lengths it will use); checksums are the
 * endpoints' business.
 */
#include "parse.h"

#include "lib/compiler.h"
#include "lib/ether.h"
#include "lib/hash.h"
#include "lib/be.h"

#define IP_PROTO_ICMP   1
#define IP_PROTO_TCP    6
#define IP_PROTO_UDP    17
#define IP_PROTO_ICMPV6 58
/* IPv6 extension headers we step over (RFC 8200 section 4). */
#define IPV6_EXT_HOP_BY_HOP 0
#define IPV6_EXT_ROUTING    43
#define IPV6_EXT_FRAGMENT   44
#define IPV6_EXT_AH         51
#define IPV6_EXT_DEST_OPTS  60

static inline uint32_t read_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Checks the L4 header that starts at ofs and must end by end. */
static inline enum drop_reason parse_l4(struct pkt *p, uint32_t ofs, uint32_t end, uint8_t proto)
{
    const uint8_t *d = p->data;
    uint32_t avail = end - ofs;

    switch (proto) {
    case IP_PROTO_TCP:
        if (avail < 20) {
            return DROP_L4_TRUNCATED;
        }
        if ((d[ofs + 12] >> 4) < 5 || (uint32_t)(d[ofs + 12] >> 4) * 4 > avail) {
            return DROP_TCP_BAD_OFFSET;
        }
        break;
    case IP_PROTO_UDP:
        if (avail < 8) {
            return DROP_L4_TRUNCATED;
        }
        if (read_be16(d + ofs + 4) < 8 || read_be16(d + ofs + 4) > avail) {
            return DROP_UDP_BAD_LENGTH;
        }
        break;
    case IP_PROTO_ICMP:
        if (avail < 8) {
            return DROP_L4_TRUNCATED;
        }
        break;
    case IP_PROTO_ICMPV6:
        if (avail < 4) {
            return DROP_L4_TRUNCATED;
        }
        break;
    default:
        break;
    }
    p->meta.l4_ofs = (uint16_t)ofs;
    return DROP_NONE;
}

static inline enum drop_reason parse_ipv4(struct pkt *p, uint32_t l3)
{
    const uint8_t *d = p->data + l3;
    uint32_t avail = p->len - l3;

    if (avail < 20) {
        return DROP_IPV4_TRUNCATED;
    }
    uint32_t ihl = (uint32_t)(d[0] & 0x0f) * 4;
    uint32_t total = read_be16(d + 2);
    if ((d[0] >> 4) != 4 || ihl < 20 || total < ihl) {
        return DROP_IPV4_BAD_HEADER;
    }
    /* Bytes past total are Ethernet padding; fewer than total is truncation. */
    if (total > avail) {
        return DROP_IPV4_TRUNCATED;
    }
    uint16_t frag = read_be16(d + 6);
    p->meta.ip_proto = d[9];
    if (frag & 0x3fff) {
        /* A fragment of either kind: ports are only in the first one, so none
         * are used, which keeps every fragment of a datagram on one flow. */
        p->meta.is_fragment = 1;
        return DROP_NONE;
    }
    return parse_l4(p, l3 + ihl, l3 + total, d[9]);
}

static enum drop_reason parse_ipv6(struct pkt *p, uint32_t l3)
{
    const uint8_t *d = p->data;
    uint32_t avail = p->len - l3;

    if (avail < 40) {
        return DROP_IPV6_TRUNCATED;
    }
    if ((d[l3] >> 4) != 6) {
        return DROP_IPV6_BAD_HEADER;
    }
    uint32_t end = l3 + 40 + read_be16(d + l3 + 4);
    if (end > p->len) {
        return DROP_IPV6_TRUNCATED;
    }
    uint8_t proto;
    uint32_t ofs;
    uint16_t frag;
    enum drop_reason r = parse_ipv6_chain(d + l3, end - l3, &proto, &ofs, &frag);
    if (r != DROP_NONE) {
        return r;
    }
    p->meta.ip_proto = proto;
    if (frag != PARSE_IPV6_NO_FRAGMENT) {
        p->meta.is_fragment = 1;
        return DROP_NONE;
    }
    return parse_l4(p, l3 + ofs, end, proto);
}

enum drop_reason parse_ipv6_chain(const uint8_t *ip, uint32_t end, uint8_t *proto, uint32_t *l4,
                                  uint16_t *frag)
{
    uint8_t next = ip[6];
    uint32_t ofs = 40;

    *frag = PARSE_IPV6_NO_FRAGMENT;
    for (unsigned count = 0;; count++) {
        uint32_t hdr_len;

        switch (next) {
        case IPV6_EXT_HOP_BY_HOP:
        case IPV6_EXT_ROUTING:
        case IPV6_EXT_DEST_OPTS:
        case IPV6_EXT_FRAGMENT:
        case IPV6_EXT_AH:
            break;
        default:
            *proto = next;
            *l4 = ofs;
            return DROP_NONE;
        }
        if (count >= PARSE_IPV6_MAX_EXT || end - ofs < 8) {
            return DROP_IPV6_EXT_CHAIN;
        }
        if (next == IPV6_EXT_FRAGMENT) {
            hdr_len = 8;
            *frag = read_be16(ip + ofs + 2) & 0xfff8; /* offset in 8-byte units, << 3 */
        } else if (next == IPV6_EXT_AH) {
            hdr_len = ((uint32_t)ip[ofs + 1] + 2) * 4;
        } else {
            hdr_len = ((uint32_t)ip[ofs + 1] + 1) * 8;
        }
        if (hdr_len > end - ofs) {
            return DROP_IPV6_EXT_CHAIN;
        }
        next = ip[ofs];
        ofs += hdr_len;
    }
}

uint32_t frame_flow_hash(const struct pkt *p)
{
    const uint8_t *d = p->data;
    const struct pkt_meta *m = &p->meta;
    uint64_t ports = 0;
    uint64_t h;

    if (m->l4_ofs && (m->ip_proto == IP_PROTO_TCP || m->ip_proto == IP_PROTO_UDP)) {
        ports = read_u32(d + m->l4_ofs);
    }
    if (m->eth_type == ETH_TYPE_IPV4 && m->ip_proto) {
        const uint8_t *ip = d + m->l3_ofs;
        /* One mix: the odd multiplier makes (ports, protocol) -> 64 bits a
         * bijection, so two flows that differ only there never collide. */
        h = hash_u64(((uint64_t)read_u32(ip + 12) << 32 | read_u32(ip + 16)) ^
                     (ports << 8 | m->ip_proto) * 0x9e3779b97f4a7c15ull);
    } else if (m->eth_type == ETH_TYPE_IPV6 && m->ip_proto) {
        h = hash_words(d + m->l3_ofs + 8, 32, ports << 8 | m->ip_proto);
    } else {
        h = hash_u64(eth_addr_to_u64(d) ^ hash_u64(eth_addr_to_u64(d + 6) << 16 | m->eth_type));
    }
    return (uint32_t)(h >> 32);
}

enum drop_reason frame_parse_headers(struct pkt *p)
{
    const uint8_t *d = p->data;
    struct pkt_meta *m = &p->meta;

    memset(m, 0, PKT_META_PARSED_LEN);
    m->flow_hash = 0;
    if (WEFT_UNLIKELY(p->len < ETH_HEADER_LEN)) {
        return DROP_RUNT;
    }
    uint32_t ofs = 12; /* the ethertype, or the TPID of a tag */
    uint16_t type = read_be16(d + ofs);
    while (WEFT_UNLIKELY(type == ETH_TYPE_VLAN || type == ETH_TYPE_QINQ) &&
           m->n_tags < PARSE_MAX_TAGS) {
        if (p->len < ofs + VLAN_HEADER_LEN + 2) {
            return DROP_VLAN_TRUNCATED;
        }
        if (m->n_tags == 0) {
            uint16_t tci = read_be16(d + ofs + 2);
            m->tag_tpid = type;
            m->vlan = tci & VLAN_VID_MASK;
            m->pcp = (uint8_t)(tci >> VLAN_PCP_SHIFT);
        }
        m->n_tags++;
        ofs += VLAN_HEADER_LEN;
        type = read_be16(d + ofs);
    }
    m->eth_type = type;
    m->l3_ofs = (uint16_t)(ofs + 2);
    /* IPv4 first: the switch's common case, one compare away. */
    if (WEFT_LIKELY(type == ETH_TYPE_IPV4)) {
        return parse_ipv4(p, ofs + 2);
    }
    switch (type) {
    case ETH_TYPE_IPV6:
        return parse_ipv6(p, ofs + 2);
    case ETH_TYPE_ARP: {
        const uint8_t *arp = d + ofs + 2;
        /* Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4. */
        if (p->len < ofs + 2 + 28 || read_be16(arp) != 1 || read_be16(arp + 2) != ETH_TYPE_IPV4 ||
            arp[4] != 6 || arp[5] != 4) {
            return DROP_ARP_MALFORMED;
        }
        return DROP_NONE;
    }
    default:
        return DROP_NONE;
    }
}

enum drop_reason frame_parse(struct pkt *p)
{
    enum drop_reason reason = frame_parse_headers(p);

    if (WEFT_LIKELY(reason == DROP_NONE)) {
        p->meta.flow_hash = frame_flow_hash(p);
    }
    return reason;
}
