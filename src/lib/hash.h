/*
 * hash.h - fast non-cryptographic hashing for tables and flow entropy.
 *
 * hash_u64() is a 64-bit finalizer (from SplitMix64): every input bit affects
 * every output bit, so table indices can be taken from its high bits.
 * Table keys come from traffic anyone can send, so each table mixes in a
 * per-table random seed to keep collision floods from being precomputed.
 */
#ifndef WEFT_LIB_HASH_H
#define WEFT_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Hash of a byte range whose length is a multiple of 4 (addresses, ports). */
static inline uint64_t hash_words(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed;

    for (size_t i = 0; i + 4 <= len; i += 4) {
        uint32_t w = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        h = hash_u64(h ^ w);
    }
    return h;
}

/* A random seed for a table, from getrandom(); falls back to a clock value. */
uint64_t hash_random_seed(void);

#endif
