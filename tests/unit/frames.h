/*
 * frames.h - builders of crafted frames for unit tests, fuzz seeds and the
 * benchmark. Each writes a complete, valid frame (correct lengths and IPv4
 * header/L4 checksums) into buf and returns its length; callers then damage
 * it on purpose where a test needs a malformed frame.
 *
 * MAC and IP arguments are text ("02:00:00:00:00:01", "172.16.10.11") so a
 * test reads like a packet trace. A builder aborts on unparsable text: that is
 * a bug in the test, not an input under test.
 */
#ifndef WEFT_TESTS_FRAMES_H
#define WEFT_TESTS_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "core/pkt.h"

/* Room any builder needs at most. */
#define FRAME_MAX 9216

struct frame_tag {
    uint16_t tpid; /* 0x8100 or 0x88a8; 0 ends the list */
    uint16_t vid;
    uint8_t pcp;
};

/* Ethernet header with up to two tags (tags may be NULL); returns 14 + 4 * tags. */
size_t frame_put_eth(uint8_t *buf, const char *dst, const char *src, const struct frame_tag *tags,
                     uint16_t eth_type);
/* Untagged IPv4/UDP frame with payload_len bytes of payload (pattern 0, 1, 2, ...). */
size_t frame_udp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len);
/* Same with tags (may be NULL). */
size_t frame_udp4_tagged(uint8_t *buf, const char *dst_mac, const char *src_mac,
                         const struct frame_tag *tags, const char *src_ip, const char *dst_ip,
                         uint16_t sport, uint16_t dport, size_t payload_len);
/* IPv4/TCP frame (SYN, 20-byte header) with payload_len bytes of payload. */
size_t frame_tcp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len);
/* IPv4 ICMP echo request with payload_len bytes of payload. */
size_t frame_icmp4(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                   const char *dst_ip, size_t payload_len);
/* IPv6/UDP frame; ext_headers hop-by-hop option headers (8 bytes each) before UDP. */
size_t frame_udp6(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                  const char *dst_ip, uint16_t sport, uint16_t dport, size_t payload_len,
                  unsigned ext_headers);
/* IPv6 ICMPv6 echo request. */
size_t frame_icmp6(uint8_t *buf, const char *dst_mac, const char *src_mac, const char *src_ip,
                   const char *dst_ip, size_t payload_len);
/* ARP request (op 1, broadcast destination) or reply (op 2, unicast to target_mac). */
size_t frame_arp(uint8_t *buf, uint16_t op, const char *sender_mac, const char *sender_ip,
                 const char *target_mac, const char *target_ip);
/* A VXLAN datagram's UDP payload: 8-byte header (flags, vni) then the inner frame. */
size_t frame_vxlan(uint8_t *buf, uint8_t flags, uint32_t vni, const uint8_t *inner,
                   size_t inner_len);

/* Copies a frame into a buffer from pool (aborts if the pool is empty). */
struct pkt *frame_to_pkt(struct pkt_pool *pool, const uint8_t *frame, size_t len);

#endif
