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
#include <sys/uio.h>

#include "core/drop.h"
#include "core/pkt.h"

#include <linux/virtio_net.h>

/* Linux headers of this vintage lack the USO type. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* The offloads a virtio-net header asks for (struct offload_info lives in
 * core/pkt.h, in every frame's metadata). DROP_OFFLOAD_UNSUPPORTED for UFO,
 * DROP_OFFLOAD_BAD for an unknown type or a super-frame without a size. */
enum drop_reason offload_from_vnet(const struct virtio_net_hdr *vh, struct offload_info *info);
/* The virtio-net header for frame (len bytes) carrying info; for a super-frame
 * its hdr_len, the headers up to the L4 payload (a hint for the receiver's
 * allocation), is read from the frame: the TCP header's own length, options
 * included, or UDP's 8 bytes. */
void offload_to_vnet(const struct offload_info *info, const uint8_t *frame, uint32_t len,
                     struct virtio_net_hdr *vh);

/* Header length (through the L4 header) and the length of its largest segment
 * once cut, for a super-frame whose meta (l3_ofs, l4_ofs) is parsed; 0 when the
 * frame does not hold what its GSO type says. */
uint32_t offload_gso_hdr_len(const struct pkt *p);
uint32_t offload_gso_seg_len(const struct pkt *p);

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

/* Cuts a super-frame as offload_segment() does, for one UDP GSO send without
 * copying its payload: segment i is iov[2i] (the prefix_len bytes of prefix, a
 * VXLAN header, then the segment's own headers with their checksums, written to
 * hdrs) and iov[2i + 1] (its payload, where it lies in frame, which must outlive
 * the send); every (prefix + segment) is *seg_size bytes long but the last, which
 * may be shorter. Returns the number of segments (0 on error, *reason says why:
 * DROP_OFFLOAD_BAD, or DROP_NO_BUFFER when hdrs_size or max_iov is too small). */
uint32_t offload_segment_iov(const uint8_t *frame, uint32_t len, const struct offload_info *info,
                             const uint8_t *prefix, uint32_t prefix_len, uint8_t *hdrs,
                             uint32_t hdrs_size, struct iovec *iov, uint32_t max_iov,
                             uint32_t *seg_size, enum drop_reason *reason);

/* Software GRO: merges runs of consecutive TCP segments of one flow among
 * in[0..n) (same addresses, VLAN tags (up to two), ports, ACK, window, options
 * and flags, contiguous sequence numbers, equal sizes but the last, valid
 * checksums, no SYN/FIN/RST/URG/CWR, PSH only on the last) into super-frames in
 * large buffers from pool.
 * out gets the frames to send, in order: each one of in (untouched) or, where
 * merged[i] is true, a new buffer the caller sends and returns to the pool; the
 * in buffers stay the caller's. Returns how many are in out (at most n). */
uint32_t offload_gro(struct pkt *const *in, uint32_t n, struct pkt_pool *pool, struct pkt **out,
                     bool *merged);

#endif
