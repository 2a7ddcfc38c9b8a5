/*
 * xsk_csum.c - partial L4 checksums in frames without offload metadata; the
 * rule is explained in xsk_csum.h.
 */
#include "io/xsk_csum.h"

#include <string.h>

#include "core/offload.h"
#include "lib/checksum.h"

#define ETH_HLEN_    14
#define VLAN_HLEN_   4
#define MAX_VLAN_TAG 2
#define PROTO_TCP    6
#define PROTO_UDP    17
#define TCP_CSUM_OFS 16
#define UDP_CSUM_OFS 6

static inline uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

enum xsk_csum_result xsk_csum_fixup(uint8_t *frame, uint32_t len)
{
    uint32_t l3 = ETH_HLEN_, l4, l4_len, sum;
    uint16_t type;
    uint8_t proto;

    if (len < ETH_HLEN_) {
        return XSK_CSUM_NONE;
    }
    type = be16_at(frame + 12);
    for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < MAX_VLAN_TAG; tags++) {
        if (len < l3 + VLAN_HLEN_) {
            return XSK_CSUM_NONE;
        }
        type = be16_at(frame + l3 + 2);
        l3 += VLAN_HLEN_;
    }
    const uint8_t *ip = frame + l3;
    if (type == 0x0800) {
        if (len < l3 + 20 || ip[0] >> 4 != 4) {
            return XSK_CSUM_NONE;
        }
        uint32_t ihl = (ip[0] & 0xfu) * 4u, total = be16_at(ip + 2);
        /* A fragment's checksum covers the whole datagram: nothing to check here. */
        if (ihl < 20 || total < ihl || len < l3 + total || (be16_at(ip + 6) & 0x3fff)) {
            return XSK_CSUM_NONE;
        }
        proto = ip[9];
        l4 = l3 + ihl;
        l4_len = total - ihl;
        sum = csum_partial(ip + 12, 8, 0);
    } else if (type == 0x86dd) {
        if (len < l3 + 40 || ip[0] >> 4 != 6) {
            return XSK_CSUM_NONE;
        }
        proto = ip[6]; /* extension headers are left alone: rare, and never offloaded */
        l4 = l3 + 40;
        l4_len = be16_at(ip + 4);
        if (len < l4 + l4_len) {
            return XSK_CSUM_NONE;
        }
        sum = csum_partial(ip + 8, 32, 0);
    } else {
        return XSK_CSUM_NONE;
    }
    uint32_t field = proto == PROTO_TCP ? TCP_CSUM_OFS : UDP_CSUM_OFS;
    if ((proto != PROTO_TCP && proto != PROTO_UDP) || l4_len < field + 2 ||
        (proto == PROTO_TCP && l4_len < 20) || l4_len > 0xffff) {
        return XSK_CSUM_NONE;
    }
    uint16_t stored;
    memcpy(&stored, frame + l4 + field, sizeof stored);
    if (proto == PROTO_UDP && stored == 0 && type == 0x0800) {
        return XSK_CSUM_NONE; /* IPv4 UDP may go without a checksum (RFC 768) */
    }
    uint8_t tail[4] = {0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
    sum = csum_partial(tail, sizeof tail, sum);
    if (csum_fold(csum_partial(frame + l4, l4_len, sum)) == 0) {
        return XSK_CSUM_VALID;
    }
    /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, folded, not complemented. */
    uint16_t partial = (uint16_t)~csum_fold(sum);
    if (stored != partial) {
        return XSK_CSUM_BAD;
    }
    offload_csum_complete(frame, l4 + l4_len, (uint16_t)l4, (uint16_t)field);
    return XSK_CSUM_COMPLETED;
}
