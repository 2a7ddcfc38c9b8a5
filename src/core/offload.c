/*
 * offload.c - software checksum completion and segmentation (see offload.h).
 */
#include "offload.h"

#include "core/parse.h"
#include "lib/checksum.h"
#include "lib/compiler.h"
#include "lib/ether.h"
#include "lib/be.h"

#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80
#define UDP_CSUM_OFS 6

enum drop_reason offload_csum_complete(uint8_t *frame, uint32_t len, uint16_t csum_start,
                                       uint16_t csum_offset)
{
    if ((uint32_t)csum_start + csum_offset + 2 > len) {
        return DROP_OFFLOAD_BAD;
    }
    uint16_t sum = csum_fold(csum_partial(frame + csum_start, len - csum_start, 0));
    if (sum == 0 && csum_offset == UDP_CSUM_OFS) {
        sum = 0xffff; /* a computed zero is sent as all ones in UDP (RFC 768) */
    }
    memcpy(frame + csum_start + csum_offset, &sum, sizeof sum);
    return DROP_NONE;
}

/* Sum of the L4 pseudo-header for l4_len bytes of protocol proto. */
static uint32_t pseudo_header_sum(const uint8_t *l3, bool ipv6, uint8_t proto, uint32_t l4_len)
{
    uint8_t tail[4] = {0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
    uint32_t sum = ipv6 ? csum_partial(l3 + 8, 32, 0) : csum_partial(l3 + 12, 8, 0);
    return csum_partial(tail, sizeof tail, sum);
}

enum drop_reason offload_from_vnet(const struct virtio_net_hdr *vh, struct offload_info *info)
{
    memset(info, 0, sizeof *info);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        info->needs_csum = true;
        info->csum_start = vh->csum_start;
        info->csum_offset = vh->csum_offset;
    }
    if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        return DROP_NONE;
    }
    info->ecn = (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0;
    info->gso_size = vh->gso_size;
    switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
        info->gso = OFFLOAD_GSO_TCP4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        info->gso = OFFLOAD_GSO_TCP6;
        break;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
        info->gso = OFFLOAD_GSO_UDP_L4;
        break;
    case VIRTIO_NET_HDR_GSO_UDP:
        info->gso = OFFLOAD_GSO_UFO;
        return DROP_OFFLOAD_UNSUPPORTED;
    default:
        return DROP_OFFLOAD_BAD;
    }
    return info->gso_size ? DROP_NONE : DROP_OFFLOAD_BAD;
}

void offload_to_vnet(const struct offload_info *info, const uint8_t *frame, uint32_t len,
                     struct virtio_net_hdr *vh)
{
    static const uint8_t types[] = {
        [OFFLOAD_GSO_NONE] = VIRTIO_NET_HDR_GSO_NONE,
        [OFFLOAD_GSO_TCP4] = VIRTIO_NET_HDR_GSO_TCPV4,
        [OFFLOAD_GSO_TCP6] = VIRTIO_NET_HDR_GSO_TCPV6,
        [OFFLOAD_GSO_UDP_L4] = VIRTIO_NET_HDR_GSO_UDP_L4,
        [OFFLOAD_GSO_UFO] = VIRTIO_NET_HDR_GSO_UDP,
    };
    memset(vh, 0, sizeof *vh);
    if (info->needs_csum) {
        vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh->csum_start = info->csum_start;
        vh->csum_offset = info->csum_offset;
    }
    if (info->gso != OFFLOAD_GSO_NONE && info->gso < sizeof types) {
        vh->gso_type = (uint8_t)(types[info->gso] | (info->ecn ? VIRTIO_NET_HDR_GSO_ECN : 0));
        vh->gso_size = info->gso_size;
        uint32_t l4 = info->csum_start, hdr_len = l4 + 8; /* UDP */
        if (info->gso != OFFLOAD_GSO_UDP_L4 && info->gso != OFFLOAD_GSO_UFO) {
            hdr_len = l4 + 12 < len ? l4 + (uint32_t)(frame[l4 + 12] >> 4) * 4 : l4 + 20;
        }
        vh->hdr_len = (uint16_t)(hdr_len < len ? hdr_len : len);
    }
}

/* The layout of a super-frame, checked against its GSO type. */
struct gso_layout {
    bool ipv6;
    uint8_t proto;
    uint16_t l3_ofs, l4_ofs;
    uint32_t hdr_len; /* through the L4 header */
    uint32_t ip_end;  /* end of the IP datagram (padding after it is ignored) */
};

static enum drop_reason gso_layout(const uint8_t *frame, uint32_t len,
                                   const struct offload_info *info, const struct pkt_meta *m,
                                   struct gso_layout *g)
{
    if (info->gso == OFFLOAD_GSO_UFO) {
        return DROP_OFFLOAD_UNSUPPORTED;
    }
    g->ipv6 = m->eth_type == ETH_TYPE_IPV6;
    g->proto = info->gso == OFFLOAD_GSO_UDP_L4 ? IP_PROTO_UDP : IP_PROTO_TCP;
    if (info->gso == OFFLOAD_GSO_NONE || info->gso_size == 0 || m->l4_ofs == 0 ||
        m->ip_proto != g->proto || m->is_fragment ||
        (m->eth_type != ETH_TYPE_IPV4 && m->eth_type != ETH_TYPE_IPV6) ||
        (info->gso == OFFLOAD_GSO_TCP4 && g->ipv6) || (info->gso == OFFLOAD_GSO_TCP6 && !g->ipv6) ||
        (g->ipv6 && m->l4_ofs != m->l3_ofs + 40)) {
        /* IPv6 extension headers in a super-frame are not segmented: too rare to earn code. */
        return DROP_OFFLOAD_BAD;
    }
    g->l3_ofs = m->l3_ofs;
    g->l4_ofs = m->l4_ofs;
    if ((uint32_t)m->l4_ofs + (g->proto == IP_PROTO_TCP ? 20 : 8) > len) {
        return DROP_OFFLOAD_BAD;
    }
    uint32_t l4_hdr = g->proto == IP_PROTO_TCP ? (uint32_t)(frame[m->l4_ofs + 12] >> 4) * 4 : 8;
    g->hdr_len = m->l4_ofs + l4_hdr;
    g->ip_end = g->ipv6 ? m->l3_ofs + 40u + read_be16(frame + m->l3_ofs + 4)
                        : m->l3_ofs + (uint32_t)read_be16(frame + m->l3_ofs + 2);
    if (l4_hdr < (g->proto == IP_PROTO_TCP ? 20u : 8u) || g->ip_end > len ||
        g->ip_end <= g->hdr_len) {
        return DROP_OFFLOAD_BAD;
    }
    return DROP_NONE;
}

uint32_t offload_gso_hdr_len(const struct pkt *p)
{
    struct gso_layout g;
    return gso_layout(p->data, p->len, &p->meta.ol, &p->meta, &g) == DROP_NONE ? g.hdr_len : 0;
}

uint32_t offload_gso_seg_len(const struct pkt *p)
{
    struct gso_layout g;
    if (gso_layout(p->data, p->len, &p->meta.ol, &p->meta, &g) != DROP_NONE) {
        return 0;
    }
    uint32_t payload = g.ip_end - g.hdr_len;
    return g.hdr_len + (payload < p->meta.ol.gso_size ? payload : p->meta.ol.gso_size);
}

/* Writes the headers of segment n (payload frame[ofs, ofs + chunk)) to dst, with
 * its checksums: the L4 checksum is summed over the payload where it lies, so the
 * payload need not be copied (offload_segment_iov()) or is copied after. Returns
 * the headers' length. */
static uint32_t segment_headers(uint8_t *dst, const uint8_t *frame, const struct gso_layout *g,
                                uint32_t ofs, uint32_t chunk, uint32_t n)
{
    memcpy(dst, frame, g->hdr_len);
    uint8_t *l3 = dst + g->l3_ofs;
    uint8_t *l4 = dst + g->l4_ofs;
    uint32_t l4_hdr = g->hdr_len - g->l4_ofs;
    uint32_t l4_len = l4_hdr + chunk;
    if (g->ipv6) {
        write_be16(l3 + 4, (uint16_t)l4_len);
    } else {
        write_be16(l3 + 2, (uint16_t)(g->l4_ofs - g->l3_ofs + l4_len));
        write_be16(l3 + 4, (uint16_t)(read_be16(frame + g->l3_ofs + 4) + n));
        l3[10] = 0;
        l3[11] = 0;
        uint16_t sum = csum_fold(csum_partial(l3, g->l4_ofs - g->l3_ofs, 0));
        memcpy(l3 + 10, &sum, sizeof sum);
    }
    uint32_t field = g->proto == IP_PROTO_TCP ? 16 : UDP_CSUM_OFS;
    if (g->proto == IP_PROTO_TCP) {
        uint32_t seq =
            (uint32_t)read_be16(frame + g->l4_ofs + 4) << 16 | read_be16(frame + g->l4_ofs + 6);
        uint32_t s = seq + (ofs - g->hdr_len);
        write_be16(l4 + 4, (uint16_t)(s >> 16));
        write_be16(l4 + 6, (uint16_t)s);
        if (ofs + chunk < g->ip_end) {
            l4[13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
        }
        if (ofs != g->hdr_len) {
            l4[13] &= (uint8_t)~TCP_FLAG_CWR;
        }
    } else {
        write_be16(l4 + 4, (uint16_t)l4_len);
    }
    l4[field] = 0;
    l4[field + 1] = 0;
    /* The L4 header's length is even (TCP: a multiple of 4, UDP: 8): the two
     * sums join without a byte swap. */
    uint32_t sum = csum_partial(l4, l4_hdr, pseudo_header_sum(l3, g->ipv6, g->proto, l4_len));
    uint16_t folded = csum_fold(csum_partial(frame + ofs, chunk, sum));
    if (folded == 0 && g->proto == IP_PROTO_UDP) {
        folded = 0xffff;
    }
    memcpy(l4 + field, &folded, sizeof folded);
    return g->hdr_len;
}

/* Parses a super-frame through a read-only view (parsing never writes). */
static enum drop_reason gso_parse(const uint8_t *frame, uint32_t len,
                                  const struct offload_info *info, struct gso_layout *g)
{
    struct pkt view = {.data = (uint8_t *)(uintptr_t)frame, .len = len};
    enum drop_reason reason = frame_parse_headers(&view);
    return reason != DROP_NONE ? reason : gso_layout(frame, len, info, &view.meta, g);
}

uint32_t offload_segment(const uint8_t *frame, uint32_t len, const struct offload_info *info,
                         struct pkt_pool *pool, struct pkt **out, uint32_t max_out,
                         enum drop_reason *reason)
{
    struct gso_layout g;
    uint32_t n = 0;

    *reason = gso_parse(frame, len, info, &g);
    if (*reason != DROP_NONE) {
        return 0;
    }
    uint32_t payload = g.ip_end - g.hdr_len;
    uint32_t count = (payload + info->gso_size - 1) / info->gso_size;
    if (count > max_out || g.hdr_len + info->gso_size > pkt_pool_data_room(pool)) {
        *reason = DROP_NO_BUFFER;
        return 0;
    }
    for (uint32_t ofs = g.hdr_len; ofs < g.ip_end; ofs += info->gso_size, n++) {
        uint32_t chunk = g.ip_end - ofs < info->gso_size ? g.ip_end - ofs : info->gso_size;
        struct pkt *p = pkt_pool_get(pool);
        if (WEFT_UNLIKELY(!p)) {
            while (n) {
                pkt_pool_put(pool, out[--n]);
            }
            *reason = DROP_NO_BUFFER;
            return 0;
        }
        uint32_t hdr = segment_headers(p->data, frame, &g, ofs, chunk, n);
        memcpy(p->data + hdr, frame + ofs, chunk);
        p->len = hdr + chunk;
        out[n] = p;
    }
    return n;
}

uint32_t offload_segment_iov(const uint8_t *frame, uint32_t len, const struct offload_info *info,
                             const uint8_t *prefix, uint32_t prefix_len, uint8_t *hdrs,
                             uint32_t hdrs_size, struct iovec *iov, uint32_t max_iov,
                             uint32_t *seg_size, enum drop_reason *reason)
{
    struct gso_layout g;
    uint32_t used = 0, n = 0;

    *reason = gso_parse(frame, len, info, &g);
    if (*reason != DROP_NONE) {
        return 0;
    }
    *seg_size = prefix_len + g.hdr_len + info->gso_size;
    for (uint32_t ofs = g.hdr_len; ofs < g.ip_end; ofs += info->gso_size, n++) {
        uint32_t chunk = g.ip_end - ofs < info->gso_size ? g.ip_end - ofs : info->gso_size;
        if (used + prefix_len + g.hdr_len > hdrs_size || 2 * n + 2 > max_iov) {
            *reason = DROP_NO_BUFFER;
            return 0;
        }
        uint8_t *h = hdrs + used;
        memcpy(h, prefix, prefix_len);
        used += prefix_len + segment_headers(h + prefix_len, frame, &g, ofs, chunk, n);
        iov[2 * n] = (struct iovec){h, prefix_len + g.hdr_len};
        iov[2 * n + 1] = (struct iovec){(void *)(uintptr_t)(frame + ofs), chunk};
    }
    return n;
}

/* ---- Software GRO --------------------------------------------------------- */

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_URG 0x20
/* Flags that end a run or keep a segment out of one. */
#define TCP_FLAGS_NO_MERGE \
    (TCP_FLAG_FIN | TCP_FLAG_SYN | TCP_FLAG_RST | TCP_FLAG_URG | TCP_FLAG_CWR)
/* Bytes of a merged frame the IPv4 header and TCP header must agree on are
 * compared separately; this is the largest header a candidate may have. */
#define GRO_MAX_HDR 128

/* Most VLAN tags in front of a segment GRO merges: a trunk's, or 802.1ad over 802.1Q. */
#define GRO_MAX_TAGS 2

/* A TCP segment that GRO may merge: untagged or with up to GRO_MAX_TAGS tags
 * (they are part of the header gro_same_flow() compares, and the merged frame
 * keeps them: its csum_start counts them, as for a tagged super-frame from a
 * guest), IPv4 without options or fragments, or IPv6 without extension headers. */
struct gro_seg {
    bool ipv6;
    uint16_t l3_ofs, l4_ofs, hdr_len;
    uint32_t payload; /* TCP payload bytes */
    uint32_t seq;
    uint32_t hdr_sum; /* checksum sum of the pseudo-header and the TCP header */
};

static bool gro_candidate(const struct pkt *p, struct gro_seg *s)
{
    const uint8_t *d = p->data;
    uint32_t l3 = ETH_HEADER_LEN;

    if (p->meta.ol.gso != OFFLOAD_GSO_NONE || p->meta.ol.needs_csum || p->len < l3 + 40) {
        return false;
    }
    uint16_t type = read_be16(d + 12);
    for (int tags = 0; tags < GRO_MAX_TAGS && (type == ETH_TYPE_VLAN || type == ETH_TYPE_QINQ);
         tags++) {
        l3 += VLAN_HEADER_LEN;
        if (p->len < l3 + 40) {
            return false;
        }
        type = read_be16(d + l3 - 2);
    }
    uint32_t ip_end;
    if (type == ETH_TYPE_IPV4) {
        const uint8_t *ip = d + l3;
        if (ip[0] != 0x45 || ip[9] != IP_PROTO_TCP || (read_be16(ip + 6) & 0x3fff)) {
            return false;
        }
        s->ipv6 = false;
        s->l4_ofs = (uint16_t)(l3 + 20);
        ip_end = l3 + read_be16(ip + 2);
    } else if (type == ETH_TYPE_IPV6) {
        const uint8_t *ip = d + l3;
        if ((ip[0] >> 4) != 6 || ip[6] != IP_PROTO_TCP) {
            return false;
        }
        s->ipv6 = true;
        s->l4_ofs = (uint16_t)(l3 + 40);
        ip_end = l3 + 40 + read_be16(ip + 4);
    } else {
        return false;
    }
    if ((uint32_t)s->l4_ofs + 20 > p->len || ip_end > p->len) {
        return false;
    }
    const uint8_t *tcp = d + s->l4_ofs;
    s->l3_ofs = (uint16_t)l3;
    s->hdr_len = (uint16_t)(s->l4_ofs + (tcp[12] >> 4) * 4);
    if ((tcp[12] >> 4) < 5 || s->hdr_len >= ip_end || s->hdr_len > GRO_MAX_HDR ||
        (tcp[13] & TCP_FLAGS_NO_MERGE)) {
        return false;
    }
    s->payload = ip_end - s->hdr_len;
    s->seq = (uint32_t)read_be16(tcp + 4) << 16 | read_be16(tcp + 6);
    /* The payload's part of the checksum is summed while gro_build() copies it. */
    uint32_t l4_len = ip_end - s->l4_ofs;
    s->hdr_sum = csum_partial(tcp, s->hdr_len - s->l4_ofs,
                              pseudo_header_sum(d + l3, s->ipv6, IP_PROTO_TCP, l4_len));
    return true;
}

/* True when b continues a's flow: the same headers apart from the IP lengths,
 * IDs and checksums and the TCP sequence number, checksum and PSH flag. */
static bool gro_same_flow(const struct pkt *a, const struct gro_seg *sa, const struct pkt *b,
                          const struct gro_seg *sb)
{
    const uint8_t *x = a->data, *y = b->data;

    if (sa->ipv6 != sb->ipv6 || sa->hdr_len != sb->hdr_len || sa->l4_ofs != sb->l4_ofs ||
        memcmp(x, y, sa->l3_ofs) != 0) {
        return false;
    }
    const uint8_t *ia = x + sa->l3_ofs, *ib = y + sb->l3_ofs;
    if (sa->ipv6) {
        if (memcmp(ia, ib, 4) != 0 || memcmp(ia + 6, ib + 6, 34) != 0) {
            return false;
        }
    } else if (ia[1] != ib[1] || memcmp(ia + 6, ib + 6, 4) != 0 || memcmp(ia + 12, ib + 12, 8)) {
        return false; /* TOS, flags, TTL, protocol, addresses */
    }
    const uint8_t *ta = x + sa->l4_ofs, *tb = y + sb->l4_ofs;
    return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 5) == 0 &&
           ((ta[13] ^ tb[13]) & (uint8_t)~TCP_FLAG_PSH) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
           memcmp(ta + 18, tb + 18, (size_t)sa->hdr_len - sa->l4_ofs - 18) == 0;
}

/* Builds the super-frame of in[0 .. count) in a large buffer, checking each
 * segment's checksum while its payload is copied: only segments that arrived
 * intact are merged, since the merged frame's checksum is left to the receiver
 * as verified. The run ends before the first bad one; *built says how many
 * were merged. NULL when fewer than two were (*built 0 or 1), or when there is
 * no large buffer (*built 0). */
static struct pkt *gro_build(struct pkt *const *in, const struct gro_seg *segs, uint32_t count,
                             struct pkt_pool *pool, uint32_t *built)
{
    const struct gro_seg *h = &segs[0];
    struct pkt *m = pkt_pool_get_large(pool);
    uint32_t k = 0;

    *built = 0;
    if (!m) {
        return NULL;
    }
    memcpy(m->data, in[0]->data, h->hdr_len);
    uint32_t len = h->hdr_len;
    /* TCP headers are a multiple of 4 bytes: the payload's sum adds to the header's as is. */
    for (; k < count; k++) {
        uint32_t sum = csum_partial_copy(m->data + len, in[k]->data + segs[k].hdr_len,
                                         segs[k].payload, segs[k].hdr_sum);
        if (csum_fold(sum) != 0) {
            break;
        }
        len += segs[k].payload;
    }
    *built = k;
    if (k < 2) {
        pkt_pool_put(pool, m);
        return NULL;
    }
    m->len = len;
    uint8_t *l3 = m->data + h->l3_ofs;
    uint8_t *l4 = m->data + h->l4_ofs;
    uint32_t l4_len = len - h->l4_ofs;
    if (h->ipv6) {
        write_be16(l3 + 4, (uint16_t)l4_len);
    } else {
        write_be16(l3 + 2, (uint16_t)(len - h->l3_ofs));
        l3[10] = 0;
        l3[11] = 0;
        uint16_t sum = csum_fold(csum_partial(l3, 20, 0));
        memcpy(l3 + 10, &sum, sizeof sum);
    }
    l4[13] |= in[k - 1]->data[segs[k - 1].l4_ofs + 13] & TCP_FLAG_PSH;
    /* CHECKSUM_PARTIAL as Linux leaves it: the field holds the pseudo-header sum. */
    uint16_t seed = (uint16_t)~csum_fold(pseudo_header_sum(l3, h->ipv6, IP_PROTO_TCP, l4_len));
    memcpy(l4 + 16, &seed, sizeof seed);
    m->meta.ol = (struct offload_info){
        .gso = h->ipv6 ? OFFLOAD_GSO_TCP6 : OFFLOAD_GSO_TCP4,
        .needs_csum = true,
        .gso_size = (uint16_t)h->payload,
        .csum_start = h->l4_ofs,
        .csum_offset = 16,
    };
    return m;
}

/* Most segments merged into one frame: 64 KB of IP datagram. */
#define GRO_MAX_SEGS 64

uint32_t offload_gro(struct pkt *const *in, uint32_t n, struct pkt_pool *pool, struct pkt **out,
                     bool *merged)
{
    struct gro_seg segs[GRO_MAX_SEGS];
    uint32_t n_out = 0, i = 0;

    while (i < n) {
        uint32_t count = 1;
        if (gro_candidate(in[i], &segs[0]) && !(in[i]->data[segs[0].l4_ofs + 13] & TCP_FLAG_PSH)) {
            uint32_t total = segs[0].hdr_len - segs[0].l3_ofs + segs[0].payload;
            while (i + count < n && count < GRO_MAX_SEGS) {
                const struct gro_seg *prev = &segs[count - 1];
                struct gro_seg *s = &segs[count];
                if (!gro_candidate(in[i + count], s) ||
                    !gro_same_flow(in[i], &segs[0], in[i + count], s) ||
                    s->seq != prev->seq + prev->payload || s->payload > segs[0].payload ||
                    total + s->payload > 65535 || total + s->payload > pkt_pool_large_room(pool)) {
                    break;
                }
                total += s->payload;
                count++;
                /* A short segment or PSH ends the run after it. */
                if (s->payload < segs[0].payload ||
                    (in[i + count - 1]->data[s->l4_ofs + 13] & TCP_FLAG_PSH)) {
                    break;
                }
            }
        }
        uint32_t built = 0;
        struct pkt *m = count > 1 ? gro_build(in + i, segs, count, pool, &built) : NULL;
        if (m) {
            out[n_out] = m;
            merged[n_out++] = true;
            i += built;
        } else {
            /* Alone, bad, or no large buffer: the frame goes as it came, the next
             * may start a run. */
            out[n_out] = in[i++];
            merged[n_out++] = false;
        }
    }
    return n_out;
}
