/*
 * offload.c - software checksum completion and segmentation (see offload.h).
 */
#include "offload.h"

#include "core/parse.h"
#include "lib/checksum.h"
#include "lib/compiler.h"
#include "lib/ether.h"

#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80
#define UDP_CSUM_OFS 6

static inline uint16_t read_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void write_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

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

/* Writes the checksum of the L4 datagram at l4 (l4_len bytes) into its field. */
static void l4_checksum(uint8_t *l3, uint8_t *l4, bool ipv6, uint8_t proto, uint32_t l4_len)
{
    uint32_t field = proto == IP_PROTO_TCP ? 16 : UDP_CSUM_OFS;
    l4[field] = 0;
    l4[field + 1] = 0;
    uint16_t sum = csum_fold(csum_partial(l4, l4_len, pseudo_header_sum(l3, ipv6, proto, l4_len)));
    if (sum == 0 && proto == IP_PROTO_UDP) {
        sum = 0xffff;
    }
    memcpy(l4 + field, &sum, sizeof sum);
}

uint32_t offload_segment(const uint8_t *frame, uint32_t len, const struct offload_info *info,
                         struct pkt_pool *pool, struct pkt **out, uint32_t max_out,
                         enum drop_reason *reason)
{
    /* Parse through a read-only view of the frame; parsing never writes. */
    struct pkt view = {.data = (uint8_t *)(uintptr_t)frame, .len = len};
    bool ipv6 = info->gso == OFFLOAD_GSO_TCP6 ||
                (info->gso == OFFLOAD_GSO_UDP_L4 && len > 14 && read_be16(frame + 12) == 0x86dd);
    uint8_t proto = info->gso == OFFLOAD_GSO_UDP_L4 ? IP_PROTO_UDP : IP_PROTO_TCP;
    uint32_t n = 0;

    if (info->gso == OFFLOAD_GSO_UFO) {
        *reason = DROP_OFFLOAD_UNSUPPORTED;
        return 0;
    }
    *reason = frame_parse(&view);
    if (*reason != DROP_NONE) {
        return 0;
    }
    const struct pkt_meta *m = &view.meta;
    if (info->gso_size == 0 || m->l4_ofs == 0 || m->ip_proto != proto || m->is_fragment ||
        (m->eth_type == ETH_TYPE_IPV6) != ipv6 ||
        (m->eth_type != ETH_TYPE_IPV4 && m->eth_type != ETH_TYPE_IPV6) ||
        (ipv6 && m->l4_ofs != m->l3_ofs + 40)) {
        /* IPv6 extension headers in a super-frame are not segmented: too rare to earn code. */
        *reason = DROP_OFFLOAD_BAD;
        return 0;
    }
    uint32_t l4_hdr = proto == IP_PROTO_TCP ? (uint32_t)(frame[m->l4_ofs + 12] >> 4) * 4 : 8;
    uint32_t hdr_len = m->l4_ofs + l4_hdr;
    /* The IP length says where the payload ends; anything after is padding. */
    uint32_t ip_end = ipv6 ? m->l3_ofs + 40 + read_be16(frame + m->l3_ofs + 4)
                           : m->l3_ofs + read_be16(frame + m->l3_ofs + 2);
    uint32_t payload = ip_end - hdr_len;
    uint32_t count = (payload + info->gso_size - 1) / info->gso_size;
    if (payload == 0 || count > max_out || hdr_len + info->gso_size > pkt_pool_data_room(pool)) {
        *reason = payload == 0 ? DROP_OFFLOAD_BAD : DROP_NO_BUFFER;
        return 0;
    }
    uint32_t seq = 0;
    uint16_t ip_id = 0;
    if (proto == IP_PROTO_TCP) {
        seq = (uint32_t)read_be16(frame + m->l4_ofs + 4) << 16 | read_be16(frame + m->l4_ofs + 6);
    }
    if (!ipv6) {
        ip_id = read_be16(frame + m->l3_ofs + 4);
    }
    for (uint32_t ofs = hdr_len; ofs < ip_end; ofs += info->gso_size, n++) {
        uint32_t chunk = ip_end - ofs < info->gso_size ? ip_end - ofs : info->gso_size;
        struct pkt *p = pkt_pool_get(pool);
        if (WEFT_UNLIKELY(!p)) {
            while (n) {
                pkt_pool_put(pool, out[--n]);
            }
            *reason = DROP_NO_BUFFER;
            return 0;
        }
        memcpy(p->data, frame, hdr_len);
        memcpy(p->data + hdr_len, frame + ofs, chunk);
        p->len = hdr_len + chunk;
        uint8_t *l3 = p->data + m->l3_ofs;
        uint8_t *l4 = p->data + m->l4_ofs;
        uint32_t l4_len = l4_hdr + chunk;
        if (ipv6) {
            write_be16(l3 + 4, (uint16_t)l4_len);
        } else {
            write_be16(l3 + 2, (uint16_t)(m->l4_ofs - m->l3_ofs + l4_len));
            write_be16(l3 + 4, (uint16_t)(ip_id + n));
            l3[10] = 0;
            l3[11] = 0;
            uint16_t sum = csum_fold(csum_partial(l3, m->l4_ofs - m->l3_ofs, 0));
            memcpy(l3 + 10, &sum, sizeof sum);
        }
        if (proto == IP_PROTO_TCP) {
            uint32_t s = seq + (ofs - hdr_len);
            write_be16(l4 + 4, (uint16_t)(s >> 16));
            write_be16(l4 + 6, (uint16_t)s);
            if (ofs + chunk < ip_end) {
                l4[13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
            }
            if (ofs != hdr_len) {
                l4[13] &= (uint8_t)~TCP_FLAG_CWR;
            }
        } else {
            write_be16(l4 + 4, (uint16_t)l4_len);
        }
        l4_checksum(l3, l4, ipv6, proto, l4_len);
        out[n] = p;
    }
    return n;
}
