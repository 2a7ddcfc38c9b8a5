/*
 * offload.h - software completion of what a guest left to "the NIC":
 * partial L4 checksums and GSO super-frames.
 *
 * A guest (or a veth/TAP peer) with offloads on hands over TCP/UDP frames
 * whose L4 checksum is only seeded with the pseudo-header sum (CHECKSUM_PARTIAL)
 * and super-frames of up to 64 KB that a NIC would cut into MSS-sized segments.
 * The port backends learn which frames are which from the virtio-net header
 * (IFF_VNET_HDR, PACKET_VNET_HDR) and describe them with struct offload_info;
 * these functions then finish the job in software so that what leaves the
 * switch is always a valid frame.
 */
#ifndef WEFT_CORE_OFFLOAD_H
#define WEFT_CORE_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "core/pkt.h"

enum offload_gso {
    OFFLOAD_GSO_NONE,
    OFFLOAD_GSO_TCP4,   /* TCP over IPv4, cut at gso_size bytes of payload */
    OFFLOAD_GSO_TCP6,   /* TCP over IPv6 */
    OFFLOAD_GSO_UDP_L4, /* UDP segmentation (USO): one datagram per gso_size bytes */
    OFFLOAD_GSO_UFO,    /* UDP fragmentation (deprecated): not supported */
};

struct offload_info {
    enum offload_gso gso;
    bool needs_csum;      /* L4 checksum partial: complete at csum_start + csum_offset */
    uint16_t gso_size;    /* payload bytes per segment */
    uint16_t csum_start;  /* from the start of the frame */
    uint16_t csum_offset; /* from csum_start */
};

/* Completes a partial checksum in place: the one's-complement sum of everything
 * from csum_start to the end (the checksum field holds the pseudo-header sum, as
 * Linux leaves it) is folded into the field. DROP_OFFLOAD_BAD when the offsets do
 * not fit the frame. */
enum drop_reason offload_csum_complete(uint8_t *frame, uint32_t len, uint16_t csum_start,
                                       uint16_t csum_offset);

/* Cuts a super-frame into frames of at most info->gso_size payload bytes, each
 * with its own headers and complete checksums (IPv4 total length, ID + i and header
 * checksum; IPv6 payload length; TCP sequence numbers, FIN/PSH on the last segment
 * only, CWR on the first only), in buffers taken from pool. Returns how many were
 * written to out (at most max_out); on 0, *reason says why and nothing is held. */
uint32_t offload_segment(const uint8_t *frame, uint32_t len, const struct offload_info *info,
                         struct pkt_pool *pool, struct pkt **out, uint32_t max_out,
                         enum drop_reason *reason);

#endif
