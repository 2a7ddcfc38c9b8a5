/*
 * u64_map.c - open addressing, linear probing, backward-shift deletion.
 *
 * Kept at most half full, so probe sequences stay short; grows by doubling.
 */
#include "u64_map.h"

#include <errno.h>
#include <stdlib.h>

#include "hash.h"

struct u64_map_slot {
    uint64_t key; /* 0 = empty */
    uint32_t value;
};

struct u64_map {
    struct u64_map_slot *slots;
    uint32_t mask; /* number of slots - 1 (a power of two minus one) */
    uint32_t count;
    uint64_t seed;
};

static uint32_t u64_map_home(const struct u64_map *map, uint64_t key)
{
    return (uint32_t)hash_u64(key ^ map->seed) & map->mask;
}

static int u64_map_alloc(struct u64_map *map, uint32_t n_slots)
{
    map->slots = calloc(n_slots, sizeof *map->slots);
    if (!map->slots) {
        return ENOMEM;
    }
    map->mask = n_slots - 1;
    map->count = 0;
    return 0;
}

struct u64_map *u64_map_create(uint32_t initial_capacity)
{
    struct u64_map *map = calloc(1, sizeof *map);
    uint32_t n_slots = 16;

    if (!map) {
        return NULL;
    }
    while (n_slots < initial_capacity * 2 && n_slots < (1u << 30)) {
        n_slots <<= 1;
    }
    map->seed = hash_random_seed();
    if (u64_map_alloc(map, n_slots)) {
        free(map);
        return NULL;
    }
    return map;
}

void u64_map_destroy(struct u64_map *map)
{
    if (map) {
        free(map->slots);
        free(map);
    }
}

static struct u64_map_slot *u64_map_find(const struct u64_map *map, uint64_t key)
{
    for (uint32_t i = u64_map_home(map, key);; i = (i + 1) & map->mask) {
        struct u64_map_slot *slot = &map->slots[i];
        if (slot->key == key || slot->key == 0) {
            return slot;
        }
    }
}

static int u64_map_grow(struct u64_map *map)
{
    struct u64_map_slot *old = map->slots;
    uint32_t old_n = map->mask + 1;

    if (old_n >= (1u << 30)) {
        return ENOMEM;
    }
    if (u64_map_alloc(map, old_n * 2)) {
        map->slots = old;
        return ENOMEM;
    }
    for (uint32_t i = 0; i < old_n; i++) {
        if (old[i].key) {
            *u64_map_find(map, old[i].key) = old[i];
            map->count++;
        }
    }
    free(old);
    return 0;
}

int u64_map_put(struct u64_map *map, uint64_t key, uint32_t value)
{
    if (key == 0) {
        return EINVAL;
    }
    struct u64_map_slot *slot = u64_map_find(map, key);
    if (slot->key == 0) {
        if ((map->count + 1) * 2 > map->mask + 1) {
            int error = u64_map_grow(map);
            if (error) {
                return error;
            }
            slot = u64_map_find(map, key);
        }
        slot->key = key;
        map->count++;
    }
    slot->value = value;
    return 0;
}

bool u64_map_get(const struct u64_map *map, uint64_t key, uint32_t *value)
{
    if (key == 0) {
        return false;
    }
    const struct u64_map_slot *slot = u64_map_find(map, key);
    if (slot->key == 0) {
        return false;
    }
    *value = slot->value;
    return true;
}

bool u64_map_del(struct u64_map *map, uint64_t key)
{
    if (key == 0) {
        return false;
    }
    struct u64_map_slot *slot = u64_map_find(map, key);
    if (slot->key == 0) {
        return false;
    }
    /* Backward shift: pull each later entry of the cluster into the hole when
     * its home slot does not lie (cyclically) between the hole and itself. */
    uint32_t hole = (uint32_t)(slot - map->slots);
    for (uint32_t i = (hole + 1) & map->mask; map->slots[i].key; i = (i + 1) & map->mask) {
        uint32_t home = u64_map_home(map, map->slots[i].key);
        if (((i - home) & map->mask) >= ((i - hole) & map->mask)) {
            map->slots[hole] = map->slots[i];
            hole = i;
        }
    }
    map->slots[hole].key = 0;
    map->count--;
    return true;
}

uint32_t u64_map_count(const struct u64_map *map)
{
    return map->count;
}
