/*
 * vxlan.h - VXLAN encapsulation and decapsulation (RFC 7348).
 *
 * Encapsulated frames start at the outer IP header: the I/O layer hands them
 * to the kernel (raw socket) which routes and resolves the underlay, or adds
 * the outer Ethernet header itself on a raw-frame path. The outer headers for
 * each remote VTEP are precomputed once (struct vxlan_template) and copied in
 * front of the frame in one go; only lengths, the source port, the VNI and the
 * checksums are written per packet.
 *
 * Wire choices: IPv4 outer with DF set, TTL 64, ID 0 (RFC 6864), UDP checksum
 * zero unless asked (RFC 7348 section 5); IPv6 outer with a flow label from the
 * inner flow (RFC 6438), hop limit 64 and the UDP checksum always computed
 * (RFC 6935 allows zero only where both ends are configured for it, and the
 * Linux vxlan device refuses it by default). UDP source port: 49152 + 14 bits
 * of the inner flow hash, the range RFC 7348 recommends, for ECMP entropy.
 */
#ifndef WEFT_CORE_VXLAN_H
#define WEFT_CORE_VXLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "core/pkt.h"
#include "lib/compiler.h"
#include "lib/ip_addr.h"

#define VXLAN_HEADER_LEN   8
#define VXLAN_DEFAULT_PORT 4789
#define VXLAN_FLAG_I       0x08
/* Weft's proxy replication marker (BUM_PROXY, see vswitch.h): a reserved bit of
 * the flags byte, set on the flooded copies a host sends to a proxy VTEP to
 * say "replicate this to the VTEPs of your subnet". Only Weft VTEPs are ever
 * sent it: RFC 7348 says receivers ignore reserved bits, but Linux's vxlan
 * driver drops datagrams that carry unknown ones. (The low bit is VXLAN-GPE's
 * O bit; GPE is another protocol on another port, 4790.) */
#define VXLAN_FLAG_REPLICATE 0x01
#define VXLAN_VNI_MAX        0xffffffu
#define VXLAN_SPORT_MIN      49152
#define IPV4_HEADER_LEN      20
#define IPV6_HEADER_LEN      40
#define UDP_HEADER_LEN       8
/* Bytes VXLAN adds in front of an inner frame, without outer Ethernet. */
#define VXLAN_OVERHEAD_V4 (IPV4_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN)
#define VXLAN_OVERHEAD_V6 (IPV6_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN)

struct vxlan_template {
    uint8_t header[VXLAN_OVERHEAD_V6]; /* outer IP + UDP + VXLAN, per-packet fields zero */
    uint8_t len;                       /* VXLAN_OVERHEAD_V4 or VXLAN_OVERHEAD_V6 */
    bool ipv6;
    bool udp_checksum;
    uint32_t ip_sum;     /* IPv4: partial sum of the header with length/checksum zero */
    uint32_t pseudo_sum; /* partial sum of the UDP pseudo-header without the length */
};

/* Prepares the outer headers from local to remote, UDP destination port dst_port.
 * udp_checksum applies to IPv4 (IPv6 always computes it). Returns 0, or EINVAL when the
 * two addresses are of different families or local is unset. */
int vxlan_template_init(struct vxlan_template *t, const struct ip_addr *local,
                        const struct ip_addr *remote, uint16_t dst_port, bool udp_checksum);

/* UDP source port for an inner flow hash: in [49152, 65535]. */
static inline uint16_t vxlan_source_port(uint32_t flow_hash)
{
    return (uint16_t)(VXLAN_SPORT_MIN | (flow_hash & 0x3fff));
}

/* Pushes the outer headers in front of p for vni, with flags (0, or
 * VXLAN_FLAG_REPLICATE) set in the VXLAN flags byte besides I. Uses
 * p->meta.flow_hash for the source port. Returns DROP_NONE, DROP_UNDERLAY_MTU
 * when the outer IP datagram would exceed underlay_mtu (p unchanged), or
 * DROP_NO_HEADROOM. A super-frame (meta.ol.gso) gets the header as a template
 * for the datagrams it becomes: no MTU check, no UDP checksum, its outer
 * lengths meaningless (the VTEP's socket cuts it, see io/vtep_io.h). */
enum drop_reason vxlan_encap_flags(struct pkt *p, const struct vxlan_template *t, uint32_t vni,
                                   uint32_t underlay_mtu, uint8_t flags);

/* vxlan_encap_flags() with the I flag alone: a plain RFC 7348 header. */
static inline enum drop_reason vxlan_encap(struct pkt *p, const struct vxlan_template *t,
                                           uint32_t vni, uint32_t underlay_mtu)
{
    return vxlan_encap_flags(p, t, vni, underlay_mtu, 0);
}

/* Checks the VXLAN header at p->data (the UDP payload of a received datagram) and
 * removes it: on DROP_NONE, *vni is set, *flags gets the flags byte (I and the
 * reserved bits, the replication marker among them) and p->data is the inner
 * Ethernet frame. Drops: DROP_VXLAN_TRUNCATED (shorter than header + inner
 * Ethernet header), DROP_VXLAN_BAD_FLAGS (I flag clear). Reserved bits are
 * otherwise ignored (RFC 7348). Inline: a handful of instructions on the
 * per-packet path, where a call and the flags through memory would cost more. */
static inline enum drop_reason vxlan_decap_flags(struct pkt *p, uint32_t *vni, uint8_t *flags)
{
    const uint8_t *h = p->data;

    if (WEFT_UNLIKELY(p->len < VXLAN_HEADER_LEN + 14)) {
        return DROP_VXLAN_TRUNCATED;
    }
    if (WEFT_UNLIKELY(!(h[0] & VXLAN_FLAG_I))) {
        return DROP_VXLAN_BAD_FLAGS;
    }
    *vni = (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
    *flags = h[0];
    pkt_pull(p, VXLAN_HEADER_LEN);
    return DROP_NONE;
}

/* vxlan_decap_flags() for callers that have no use for the flags. */
static inline enum drop_reason vxlan_decap(struct pkt *p, uint32_t *vni)
{
    uint8_t flags;
    return vxlan_decap_flags(p, vni, &flags);
}

#endif
