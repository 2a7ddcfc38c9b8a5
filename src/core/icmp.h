/*
 * icmp.h - the ICMP errors the switch sends on its own: IPv4 "fragmentation
 * needed and DF set" (RFC 792, RFC 1191) and ICMPv6 "packet too big" (RFC
 * 4443), back to a guest whose frame will not fit the underlay once
 * encapsulated. Without them the guest's path MTU discovery never learns of
 * the VXLAN overhead and its large packets vanish (the common complaint with
 * OVS and flannel); with them its stack lowers the path MTU (and TCP its MSS)
 * for that destination and goes on.
 *
 * What the guest receives looks like it came from the peer it was talking
 * to: Ethernet source = the destination MAC it used, IP source = the
 * original destination address. Linux (and other stacks) match an ICMP
 * error to a socket by the quoted header, not by who sent it (icmp_unreach()
 * -> ip_rt_frag_needed() / tcp_v4_err(), icmpv6_notify() -> tcp_v6_err(),
 * which checks the quoted TCP sequence number), so this is accepted for
 * same-subnet peers and for routed traffic alike, and the switch needs no
 * address of its own in the guest's subnet.
 *
 * Never sent (RFC 1812 section 4.3.2.7, RFC 4443 section 2.4): about ICMP
 * error messages, about fragments other than the first, about IPv4 without
 * DF (the switch does not fragment; those are dropped and counted), from or
 * to an address that is not a unicast host address, or for non-IP frames.
 * The caller rate-limits with struct icmp_rate.
 */
#ifndef WEFT_CORE_ICMP_H
#define WEFT_CORE_ICMP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"

#define ICMP_PMTU_RATE_DEFAULT 100 /* errors per port per second */
/* Largest IPv4 datagram of an ICMP error (RFC 1812 section 4.3.2.3). */
#define ICMP4_ERROR_MAX_LEN 576
/* Largest IPv6 packet of an ICMPv6 error: the IPv6 minimum MTU (RFC 4443 section 2.4 (c)). */
#define ICMP6_ERROR_MAX_LEN 1280
#define ICMP4_HEADER_LEN    8
#define ICMP6_HEADER_LEN    8

/* Whether the sender of p should be told that IP packets longer than mtu
 * bytes do not fit its path: p is parsed (p->meta as frame_parse() left it,
 * tags the switch removed gone, tags that ride along as payload still in
 * the frame), its destination MAC unicast, it is IPv4 with DF or IPv6, the
 * first fragment or none, not an ICMP error, between unicast host
 * addresses, and its IP packet longer than mtu. */
bool icmp_too_big_wanted(const struct pkt *p, uint32_t mtu);

/* Builds, in a buffer from pool, the error for p (icmp_too_big_wanted() said
 * yes) reporting mtu: the Ethernet header of p (tags that ride along kept)
 * with the addresses swapped, IPv4 (TOS 0xc0, DF, ID 0, TTL 64) + ICMP type
 * 3 code 4 with the next-hop MTU, or IPv6 (hop limit 64) + ICMPv6 type 2
 * with the MTU, then as much of p's IP packet as fits in max_len bytes of
 * IP datagram (at most ICMP4_ERROR_MAX_LEN / ICMP6_ERROR_MAX_LEN; pass the
 * MTU of the port it goes out of). Checksums complete; meta: p's L2 fields,
 * ingress port and segment, the L3/L4 fields of the new packet, no offload
 * work and no flow hash. NULL when no buffer is free or
 * max_len cannot hold the IP header and 8 bytes of p's payload. */
struct pkt *icmp_too_big_make(struct pkt_pool *pool, const struct pkt *p, uint32_t mtu,
                              uint32_t max_len);

/* A token bucket refilled with per_second tokens each second, holding at
 * most per_second: at most per_second errors in any second, bursts included.
 * Zero-initialise it; the clock is the switch's (seconds). */
struct icmp_rate {
    uint32_t tokens;
    uint32_t last; /* second of the last refill */
    bool primed;   /* the first take fills the bucket */
};

/* Takes a token at time now: true when an error may be sent. */
bool icmp_rate_take(struct icmp_rate *r, uint32_t now, uint32_t per_second);

#endif
