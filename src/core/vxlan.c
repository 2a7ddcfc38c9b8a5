/*
 * vxlan.c - VXLAN encapsulation from a precomputed header template, and
 * decapsulation of the VXLAN header. See vxlan.h for the wire choices.
 */
#include "vxlan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/checksum.h"
#include "lib/compiler.h"
#include "lib/be.h"

#define IP_PROTO_UDP 17
#define OUTER_TTL    64

int vxlan_template_init(struct vxlan_template *t, const struct ip_addr *local,
                        const struct ip_addr *remote, uint16_t dst_port, bool udp_checksum)
{
    bool v4 = ip_addr_is_v4(local);

    if (v4 != ip_addr_is_v4(remote) || ip_addr_is_zero(local) ||
        (v4 && local->bytes[12] == 0 && local->bytes[13] == 0 && local->bytes[14] == 0 &&
         local->bytes[15] == 0)) {
        return EINVAL;
    }
    memset(t, 0, sizeof *t);
    t->ipv6 = !v4;
    t->udp_checksum = !v4 || udp_checksum;
    uint8_t *udp;
    if (v4) {
        uint8_t *ip = t->header;
        t->len = VXLAN_OVERHEAD_V4;
        ip[0] = 0x45;
        ip[6] = 0x40; /* DF: the switch checks the underlay MTU itself */
        ip[8] = OUTER_TTL;
        ip[9] = IP_PROTO_UDP;
        memcpy(ip + 12, local->bytes + 12, 4);
        memcpy(ip + 16, remote->bytes + 12, 4);
        t->ip_sum = csum_partial(ip, IPV4_HEADER_LEN, 0);
        udp = ip + IPV4_HEADER_LEN;
        t->pseudo_sum = csum_partial(ip + 12, 8, 0);
    } else {
        uint8_t *ip = t->header;
        t->len = VXLAN_OVERHEAD_V6;
        ip[0] = 0x60;
        ip[6] = IP_PROTO_UDP;
        ip[7] = OUTER_TTL;
        memcpy(ip + 8, local->bytes, 16);
        memcpy(ip + 24, remote->bytes, 16);
        udp = ip + IPV6_HEADER_LEN;
        t->pseudo_sum = csum_partial(ip + 8, 32, 0);
    }
    /* The pseudo-header's protocol word: zero byte, then 17. */
    uint8_t proto_word[2] = {0, IP_PROTO_UDP};
    t->pseudo_sum = csum_partial(proto_word, 2, t->pseudo_sum);
    write_be16(udp + 2, dst_port);
    udp[UDP_HEADER_LEN] = VXLAN_FLAG_I;
    return 0;
}

enum drop_reason vxlan_encap_flags(struct pkt *p, const struct vxlan_template *t, uint32_t vni,
                                   uint32_t underlay_mtu, uint8_t flags)
{
    uint32_t ip_len = p->len + t->len;

    /* A super-frame leaves as several datagrams (vtep_io.h): the caller checked
     * their size, and the outer lengths written here are not used. */
    if (WEFT_UNLIKELY(ip_len > underlay_mtu) && !p->meta.ol.gso) {
        return DROP_UNDERLAY_MTU;
    }
    uint8_t *ip = pkt_push(p, t->len);
    if (WEFT_UNLIKELY(!ip)) {
        return DROP_NO_HEADROOM;
    }
    /* One branch on the family, then constant sizes: a few vector moves
     * instead of a `rep movs` (slow to start for 36 bytes) that a variable
     * length compiles to. The VXLAN header is written whole below. */
    uint8_t *udp;
    uint16_t udp_len;
    if (WEFT_LIKELY(!t->ipv6)) {
        memcpy(ip, t->header, IPV4_HEADER_LEN + UDP_HEADER_LEN);
        uint16_t total = htons((uint16_t)ip_len);
        memcpy(ip + 2, &total, sizeof total);
        uint16_t sum = csum_fold(t->ip_sum + total);
        memcpy(ip + 10, &sum, sizeof sum);
        udp = ip + IPV4_HEADER_LEN;
        udp_len = (uint16_t)(ip_len - IPV4_HEADER_LEN);
    } else {
        memcpy(ip, t->header, IPV6_HEADER_LEN + UDP_HEADER_LEN);
        udp = ip + IPV6_HEADER_LEN;
        udp_len = (uint16_t)(ip_len - IPV6_HEADER_LEN);
        uint32_t label = p->meta.flow_hash & 0xfffff;
        ip[1] = (uint8_t)(label >> 16);
        ip[2] = (uint8_t)(label >> 8);
        ip[3] = (uint8_t)label;
        write_be16(ip + 4, udp_len);
    }
    uint16_t sport = htons(vxlan_source_port(p->meta.flow_hash));
    uint16_t ulen = htons(udp_len);
    memcpy(udp, &sport, sizeof sport);
    memcpy(udp + 4, &ulen, sizeof ulen);
    /* Flags, 24 reserved bits, the VNI, 8 reserved bits: one store. */
    uint32_t vx[2] = {htonl((uint32_t)(VXLAN_FLAG_I | flags) << 24), htonl(vni << 8)};
    memcpy(udp + UDP_HEADER_LEN, vx, sizeof vx);
    if (t->udp_checksum && WEFT_LIKELY(!p->meta.ol.gso)) {
        /* Pseudo-header (addresses, protocol, length) plus the whole UDP datagram. */
        uint32_t sum = csum_partial(udp, udp_len, t->pseudo_sum + ulen);
        uint16_t folded = csum_fold(sum);
        if (folded == 0) {
            folded = 0xffff; /* zero means "no checksum" in UDP (RFC 768) */
        }
        memcpy(udp + 6, &folded, sizeof folded);
    }
    return DROP_NONE;
}
