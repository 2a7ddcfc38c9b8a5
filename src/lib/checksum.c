/*
 * checksum.c - RFC 1071 one's-complement sum over a byte range.
 *
 * Sums 16-bit words in memory order; because one's-complement addition is
 * byte-order independent (RFC 1071 section 2), the folded result can be stored
 * back into a header as is.
 */
#include "checksum.h"

#include <string.h>

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = sum;

    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc += (w & 0xffffffffu) + (w >> 32);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint16_t w = 0;
        memcpy(&w, p, 1);
        acc += w;
    }
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}
