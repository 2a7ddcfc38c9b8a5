/*
 * xsk_csum.h - finding and finishing partial L4 checksums in frames that came
 * without offload metadata (the afxdp backend).
 *
 * A veth peer with tx checksum offload on (the default) hands the kernel TCP
 * and UDP frames whose checksum field holds only the pseudo-header sum
 * (CHECKSUM_PARTIAL). AF_PACKET and TAP say so in a virtio-net header; AF_XDP
 * says nothing, so the afxdp backend checks every IPv4/IPv6 TCP/UDP frame: a
 * valid checksum is left alone, a field that holds exactly the folded
 * pseudo-header sum is what such a sender leaves and is completed, anything
 * else is passed on as it is (the receiver drops it, as it would off a wire).
 */
#ifndef WEFT_IO_XSK_CSUM_H
#define WEFT_IO_XSK_CSUM_H

#include <stdint.h>

enum xsk_csum_result {
    XSK_CSUM_NONE,      /* not an unfragmented TCP/UDP datagram, or UDP without checksum */
    XSK_CSUM_VALID,     /* the checksum was already right */
    XSK_CSUM_COMPLETED, /* it held the pseudo-header sum only: now computed */
    XSK_CSUM_BAD,       /* wrong, and not a partial checksum: left as it is */
};

/* Checks, and completes where partial, the L4 checksum of the Ethernet frame
 * (up to two VLAN tags) of len bytes in place. */
enum xsk_csum_result xsk_csum_fixup(uint8_t *frame, uint32_t len);

#endif
