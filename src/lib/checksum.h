/*
 * checksum.h - the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624), for the outer IPv4 header and the UDP checksum of VXLAN.
 */
#ifndef WEFT_LIB_CHECKSUM_H
#define WEFT_LIB_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds data to a 32-bit one's-complement accumulator; fold with csum_fold(). */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);
/* The same, copying the len bytes of src to dst (which must not overlap) on the
 * way: a copy and its checksum in one pass. */
uint32_t csum_partial_copy(void *dst, const void *src, size_t len, uint32_t sum);

/* Folds a 32-bit accumulator to the 16-bit checksum (complemented), network order. */
static inline uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

#endif
