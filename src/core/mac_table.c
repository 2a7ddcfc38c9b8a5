/*
 * mac_table.c - fixed-size open-addressing MAC table.
 *
 * Slots are 24-byte entries in one array (a 64-bit key, a 64-bit value, the
 * time last seen and the static flag), at most half of them used, found
 * by linear probing from a seeded multiply-shift hash of the 64-bit key. Deletion shifts
 * the rest of the cluster back (no tombstones), so lookups after heavy aging
 * stay as short as on a fresh table.
 */
#include "mac_table.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/compiler.h"
#include "lib/hash.h"

#define MAC_TABLE_MAX_CAPACITY (1u << 28)

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
    t->shift = 64 - (uint32_t)__builtin_ctz(n_slots);
    t->capacity = capacity;
    t->mult = hash_random_seed() | 1;
    return t;
}

void mac_table_destroy(struct mac_table *t)
{
    if (t) {
        free(t->slots);
        free(t);
    }
}

/* Learning for both kinds of key, from the slot mac_table_find() gave. */
enum mac_learn_result mac_table_learn_slot(struct mac_table *t, struct mac_entry *e, uint64_t key,
                                           uint64_t value, uint32_t now, uint64_t *old_value)
{
    if (WEFT_LIKELY(e->key == key)) {
        if (e->is_static) {
            return MAC_LEARN_STATIC;
        }
        /* Write only on change, so a steady flow does not dirty the line every packet. */
        if (e->last_seen != now) {
            __atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
        }
        if (WEFT_LIKELY(e->value == value)) {
            return MAC_LEARN_REFRESHED;
        }
        *old_value = e->value;
        /* One store: a lock-free reader sees the old place or the new one. */
        __atomic_store_n(&e->value, value, __ATOMIC_RELAXED);
        return MAC_LEARN_MOVED;
    }
    if (WEFT_UNLIKELY(t->count >= t->capacity)) {
        return MAC_LEARN_FULL;
    }
    /* The fields first, the key last: a reader that finds the key finds them. */
    e->value = value;
    e->last_seen = now;
    e->is_static = 0;
    __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
    t->count++;
    return MAC_LEARN_NEW;
}

enum mac_learn_result mac_table_learn_key(struct mac_table *t, uint64_t key, uint64_t value,
                                          uint32_t now, uint64_t *old_value)
{
    /* Key 0 marks an empty slot: learning it would fill one with a phantom. */
    WEFT_ASSERT(key != 0);
    return mac_table_learn_slot(t, mac_table_find(t, key), key, value, now, old_value);
}

/* Adds or replaces a static entry; *was_learned says whether a learned entry
 * was replaced, and *old gets its value. */
static int add_static(struct mac_table *t, uint64_t key, uint64_t value, uint32_t now,
                      bool *was_learned, uint64_t *old)
{
    struct mac_entry *e = mac_table_find(t, key);

    *was_learned = false;
    if (e->key == key) {
        if (!e->is_static) {
            *was_learned = true;
            *old = e->value;
        }
    } else {
        if (t->count >= t->capacity) {
            return ENOSPC;
        }
        e->key = key;
        t->count++;
    }
    e->value = value;
    e->last_seen = now;
    e->is_static = 1;
    return 0;
}

int mac_table_add_static(struct mac_table *t, uint32_t segment, uint64_t mac, uint32_t dest,
                         uint32_t now, uint32_t *replaced)
{
    bool was_learned;
    uint64_t old = 0;

    /* The group bit of the first octet: multicast and broadcast are never entries. */
    if (mac == 0 || (mac >> 40) & 1) {
        return EINVAL;
    }
    int error = add_static(t, mac_table_key(segment, mac), mac_table_dest_value(dest), now,
                           &was_learned, &old);
    if (!error && replaced) {
        *replaced = was_learned ? mac_table_value_dest(old) : UINT32_MAX;
    }
    return error;
}

int mac_table_add_static_key(struct mac_table *t, uint64_t key, uint64_t value, uint32_t now)
{
    bool was_learned;
    uint64_t old;

    return key ? add_static(t, key, value, now, &was_learned, &old) : EINVAL;
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

bool mac_table_delete_key(struct mac_table *t, uint64_t key)
{
    if (!key) {
        return false;
    }
    struct mac_entry *e = mac_table_find(t, key);
    if (!e->key) {
        return false;
    }
    mac_table_remove_slot(t, (uint32_t)(e - t->slots));
    return true;
}

bool mac_table_delete(struct mac_table *t, uint32_t segment, uint64_t mac)
{
    return mac_table_delete_key(t, mac_table_key(segment, mac));
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
