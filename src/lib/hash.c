/*
 * hash.c - per-table random seeds.
 */
#include "hash.h"

#include <sys/random.h>
#include <time.h>

uint64_t hash_random_seed(void)
{
    uint64_t seed;

    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == sizeof seed) {
        return seed;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return hash_u64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
}
