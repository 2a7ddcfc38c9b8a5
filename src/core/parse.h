/*
 * parse.h - bounds-checked parsing of Ethernet frames.
 *
 * Walks Ethernet II, up to two VLAN tags (802.1ad S-tag and/or 802.1Q
 * C-tags), ARP, IPv4 (options, fragments), IPv6 (extension headers skipped,
 * at most PARSE_IPV6_MAX_EXT of them), TCP, UDP, ICMP and ICMPv6. It fills
 * pkt->meta (offsets, ethertype, protocol, flow hash) and returns DROP_NONE,
 * or the reason the frame is malformed. It never reads beyond len.
 *
 * Other ethertypes (LLDP, MPLS, ...) are not malformed: a switch carries them
 * at L2, so they parse with l3_ofs set and nothing deeper.
 */
#ifndef WEFT_CORE_PARSE_H
#define WEFT_CORE_PARSE_H

#include <stdint.h>

#include "core/drop.h"
#include "core/pkt.h"

#define PARSE_IPV6_MAX_EXT 8
#define PARSE_MAX_TAGS     2

/* Parses p->data[0..len) and fills p->meta (in_port and segment are left as they are). */
enum drop_reason frame_parse(struct pkt *p);

/* No fragment header in the chain (a real offset field has its low 3 bits clear). */
#define PARSE_IPV6_NO_FRAGMENT 0xffff

/* Walks the IPv6 extension-header chain of the packet at ip (end: its length
 * from ip, fixed header included), stepping over hop-by-hop, routing,
 * destination-options, fragment and AH headers, at most PARSE_IPV6_MAX_EXT.
 * DROP_NONE with *proto the upper-layer protocol and *l4 its offset from ip,
 * *frag the fragment offset field masked (0 for a first fragment) or
 * PARSE_IPV6_NO_FRAGMENT; DROP_IPV6_EXT_CHAIN for a chain too long or cut
 * short. Used by frame_parse() and by whoever must look again (icmp.c). */
enum drop_reason parse_ipv6_chain(const uint8_t *ip, uint32_t end, uint8_t *proto, uint32_t *l4,
                                  uint16_t *frag);

/* frame_parse() without the flow hash (meta.flow_hash is left 0): the same
 * checks, drops and offsets. The switch parses every frame this way and
 * computes frame_flow_hash() only for the frames it encapsulates, the one
 * place it is used. */
enum drop_reason frame_parse_headers(struct pkt *p);

/* Flow hash of the parsed frame: the IP addresses, protocol and L4 ports when
 * the frame is IP, the MAC addresses and ethertype otherwise. Called by
 * frame_parse(), and by the switch before it encapsulates a frame parsed with
 * frame_parse_headers(). */
uint32_t frame_flow_hash(const struct pkt *p);

#endif
