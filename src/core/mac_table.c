/*
 * mac_table.c - fixed-size open-addressing MAC table.
 *
 * Slots are 24-byte entries in one array, at most half of them used, found
 * by linear probing from a seeded hash of the 64-bit key. Deletion shifts
 * the rest of the cluster back (no tombstones), so lookups after heavy aging
 * stay as short as on a fresh table.
 */
#include "mac_table.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/compiler.h"
#include "lib/hash.h"

#define MAC_TABLE_MAX_CAPACITY (1u << 28)

struct mac_table {
    struct mac_entry *slots;
    uint32_t mask;
    uint32_t count;
    uint32_t capacity;
    uint64_t seed;
};

struct mac_table *mac_table_create(uint32_t capacity)
{
    if (capacity == 0 || capacity > MAC_TABLE_MAX_CAPACITY) {
        return NULL;
    }
    struct mac_table *t = calloc(1, sizeof *t);
    uint32_t n_slots = 16;

    if (!t) {
        return NULL;
    }
    while (n_slots < capacity * 2) {
        n_slots <<= 1;
    }
    t->slots = calloc(n_slots, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = n_slots - 1;
    t->capacity = capacity;
    t->seed = hash_random_seed();
    return t;
}

void mac_table_destroy(struct mac_table *t)
{
    if (t) {
        free(t->slots);
        free(t);
    }
}

static inline uint32_t mac_table_home(const struct mac_table *t, uint64_t key)
{
    return (uint32_t)(hash_u64(key ^ t->seed) >> 32) & t->mask;
}

/* The slot holding key, or the empty slot where it would go. */
static inline struct mac_entry *mac_table_find(const struct mac_table *t, uint64_t key)
{
    for (uint32_t i = mac_table_home(t, key);; i = (i + 1) & t->mask) {
        struct mac_entry *e = &t->slots[i];
        if (WEFT_LIKELY(e->key == key) || e->key == 0) {
            return e;
        }
    }
}

const struct mac_entry *mac_table_lookup(const struct mac_table *t, uint32_t segment, uint64_t mac)
{
    const struct mac_entry *e = mac_table_find(t, mac_table_key(segment, mac));
    return e->key ? e : NULL;
}

enum mac_learn_result mac_table_learn(struct mac_table *t, uint32_t segment, uint64_t mac,
                                      uint32_t dest, uint32_t now, uint32_t *old_dest)
{
    uint64_t key = mac_table_key(segment, mac);
    struct mac_entry *e = mac_table_find(t, key);

    if (WEFT_LIKELY(e->key == key)) {
        if (e->is_static) {
            return MAC_LEARN_STATIC;
        }
        /* Write only on change, so a steady flow does not dirty the line every packet. */
        if (e->last_seen != now) {
            e->last_seen = now;
        }
        if (WEFT_LIKELY(e->dest == dest)) {
            return MAC_LEARN_REFRESHED;
        }
        *old_dest = e->dest;
        e->dest = dest;
        return MAC_LEARN_MOVED;
    }
    if (WEFT_UNLIKELY(t->count >= t->capacity)) {
        return MAC_LEARN_FULL;
    }
    e->key = key;
    e->dest = dest;
    e->last_seen = now;
    e->is_static = 0;
    t->count++;
    return MAC_LEARN_NEW;
}

int mac_table_add_static(struct mac_table *t, uint32_t segment, uint64_t mac, uint32_t dest,
                         uint32_t now, uint32_t *replaced)
{
    /* The group bit of the first octet: multicast and broadcast are never entries. */
    if (mac == 0 || (mac >> 40) & 1) {
        return EINVAL;
    }
    uint64_t key = mac_table_key(segment, mac);
    struct mac_entry *e = mac_table_find(t, key);
    uint32_t old = UINT32_MAX;

    if (e->key == key) {
        if (!e->is_static) {
            old = e->dest;
        }
    } else {
        if (t->count >= t->capacity) {
            return ENOSPC;
        }
        e->key = key;
        t->count++;
    }
    e->dest = dest;
    e->last_seen = now;
    e->is_static = 1;
    if (replaced) {
        *replaced = old;
    }
    return 0;
}

/* Empties slot hole and shifts the rest of its cluster back (as in u64_map.c). */
static void mac_table_remove_slot(struct mac_table *t, uint32_t hole)
{
    for (uint32_t i = (hole + 1) & t->mask; t->slots[i].key; i = (i + 1) & t->mask) {
        uint32_t home = mac_table_home(t, t->slots[i].key);
        if (((i - home) & t->mask) >= ((i - hole) & t->mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    t->slots[hole].key = 0;
    t->count--;
}

bool mac_table_delete(struct mac_table *t, uint32_t segment, uint64_t mac)
{
    struct mac_entry *e = mac_table_find(t, mac_table_key(segment, mac));

    if (!e->key) {
        return false;
    }
    mac_table_remove_slot(t, (uint32_t)(e - t->slots));
    return true;
}

/* Removes every entry match() selects. A removal may shift a later entry into
 * the current slot, so the slot is examined again before moving on; entries
 * that wrap from the start of the array to its end may be examined twice,
 * which is harmless because a kept entry stays kept. */
static uint32_t mac_table_remove_if(struct mac_table *t, mac_table_match_fn *match, void *match_ctx,
                                    mac_table_removed_fn *removed, void *ctx)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i <= t->mask;) {
        struct mac_entry *e = &t->slots[i];
        if (e->key && match(e, match_ctx)) {
            if (removed) {
                removed(e, ctx);
            }
            mac_table_remove_slot(t, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

struct mac_age_ctx {
    uint32_t now;
    uint32_t max_age;
};

static bool mac_entry_expired(const struct mac_entry *e, void *ctx)
{
    const struct mac_age_ctx *age = ctx;
    return !e->is_static && age->now - e->last_seen >= age->max_age;
}

uint32_t mac_table_age(struct mac_table *t, uint32_t now, uint32_t max_age,
                       mac_table_removed_fn *removed, void *ctx)
{
    struct mac_age_ctx age = {.now = now, .max_age = max_age};
    return mac_table_remove_if(t, mac_entry_expired, &age, removed, ctx);
}

uint32_t mac_table_flush(struct mac_table *t, mac_table_match_fn *match, void *match_ctx,
                         mac_table_removed_fn *removed, void *ctx)
{
    return mac_table_remove_if(t, match, match_ctx, removed, ctx);
}

void mac_table_foreach(const struct mac_table *t, mac_table_removed_fn *fn, void *ctx)
{
    for (uint32_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].key) {
            fn(&t->slots[i], ctx);
        }
    }
}

uint32_t mac_table_count(const struct mac_table *t)
{
    return t->count;
}

uint32_t mac_table_capacity(const struct mac_table *t)
{
    return t->capacity;
}
