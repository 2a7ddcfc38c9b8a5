/*
 * mac_table.h - the MAC table of every segment of a switch, in one hash table.
 *
 * Key: (segment index, MAC): the same MAC in two segments is two entries.
 * Value: where the MAC lives (a local port or a remote VTEP), whether it is
 * static (configured, or pushed by the controller: learning never overrides
 * it and aging never removes it), and when it was last seen.
 *
 * The table has a fixed capacity chosen at creation and never grows: a MAC
 * flood fills it, learning then stops (the caller floods unknown destinations
 * and counts), and memory stays bounded. Open addressing with linear probing,
 * at most half full, seeded hash so colliding keys cannot be precomputed.
 *
 * The same table, keyed by (segment, IPv4 address) with a MAC as value, is
 * the switch's ARP table (core/arp.h): the *_key functions below take a raw
 * key and a 64-bit value for it, so one implementation serves both.
 *
 * Concurrency (docs/architecture.md, "Workers"): lookups take no lock and
 * may run on any number of threads while ONE thread at a time (the caller
 * serializes them) inserts learned entries or changes their values: a new
 * entry's fields are written before its key is published with a release
 * store, and lookups read keys with acquire loads, so a reader sees either
 * no entry or a whole one; a value changes with one 64-bit store, so a
 * reader sees the old or the new one. Removals (delete, aging, flush), which
 * move entries within a cluster, and static entries are made only while no
 * reader runs (the owner pauses its workers for them).
 */
#ifndef WEFT_CORE_MAC_TABLE_H
#define WEFT_CORE_MAC_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/compiler.h"

/* Where a MAC lives, packed in 32 bits: kind in the top bit, index below. */
#define MAC_DEST_VTEP       0x80000000u
#define MAC_DEST_INDEX_MASK 0x00ffffffu
#define MAC_DEST_PORT(i)    ((uint32_t)(i))
#define MAC_DEST_REMOTE(i)  (MAC_DEST_VTEP | (uint32_t)(i))
/* Segment indices fit in 16 bits: the key is (segment << 48 | mac). */
#define MAC_TABLE_MAX_SEGMENTS 65535u

struct mac_entry {
    uint64_t key; /* segment << 48 | mac (ARP table: | IPv4 address); 0 = empty slot */
    union {
        uint32_t dest;  /* MAC table: MAC_DEST_PORT(n) or MAC_DEST_REMOTE(n) */
        uint64_t value; /* the value as the table compares and copies it (ARP table: the MAC) */
    };
    uint32_t last_seen; /* seconds, in the caller's clock */
    uint8_t is_static;
};

enum mac_learn_result {
    MAC_LEARN_REFRESHED, /* known at the same place (same value): timestamp updated */
    MAC_LEARN_NEW,       /* inserted */
    MAC_LEARN_MOVED,     /* known elsewhere (another value): moved, *old_dest says from where */
    MAC_LEARN_STATIC,    /* a static entry exists: left as it is */
    MAC_LEARN_FULL,      /* table at capacity: not learned */
};

/* Defined here only so that lookups and the refresh of a known entry inline
 * into the per-packet path (a call, its argument set-up and the result's
 * switch cost more than the probe itself); the fields are mac_table.c's. */
struct mac_table {
    struct mac_entry *slots;
    uint32_t mask;
    uint32_t count;
    uint32_t capacity;
    uint32_t shift; /* 64 - log2(slots) */
    uint64_t mult;  /* random and odd: the hash's seed */
};

/* Creates a table for up to capacity entries (1 .. 1<<28). NULL on bad size or ENOMEM. */
struct mac_table *mac_table_create(uint32_t capacity);
void mac_table_destroy(struct mac_table *table);

static inline uint64_t mac_table_key(uint32_t segment, uint64_t mac)
{
    return (uint64_t)segment << 48 | mac;
}

/* The slot where key's probe starts: multiply-shift hashing (the top bits of
 * key times a random odd number), a universal family, so which keys collide
 * depends on the table's random multiplier and cannot be precomputed; one
 * multiply where a full 64-bit mixer takes eight instructions. */
static inline uint32_t mac_table_home(const struct mac_table *t, uint64_t key)
{
    return (uint32_t)((key * t->mult) >> t->shift);
}

/* The slot holding key, or the empty slot where it would go (linear probing). */
static inline struct mac_entry *mac_table_find(const struct mac_table *t, uint64_t key)
{
    for (uint32_t i = mac_table_home(t, key);; i = (i + 1) & t->mask) {
        struct mac_entry *e = &t->slots[i];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (WEFT_LIKELY(k == key) || k == 0) {
            return e;
        }
    }
}

/* Starts loading the line of key's home slot: for a batch, ahead of its lookups. */
static inline void mac_table_prefetch(const struct mac_table *t, uint64_t key)
{
    WEFT_PREFETCH(&t->slots[mac_table_home(t, key)]);
}

/* The entry for key, or NULL. The pointer is valid until the next write. */
static inline const struct mac_entry *mac_table_lookup_key(const struct mac_table *t, uint64_t key)
{
    const struct mac_entry *e = mac_table_find(t, key);
    return e->key ? e : NULL;
}

/* The entry for (segment, mac) or NULL. The pointer is valid until the next write. */
static inline const struct mac_entry *mac_table_lookup(const struct mac_table *t, uint32_t segment,
                                                       uint64_t mac)
{
    return mac_table_lookup_key(t, mac_table_key(segment, mac));
}

/* The union of struct mac_entry on its own: a MAC table destination becomes
 * the 64-bit value the table stores, and back, laid out as in an entry so
 * that e->dest reads right whatever the byte order. (A whole entry as the
 * go-between would be built on the stack on the per-packet path.) */
union mac_value {
    uint64_t value;
    uint32_t dest;
};

static inline uint64_t mac_table_dest_value(uint32_t dest)
{
    union mac_value v = {.value = 0};
    v.dest = dest;
    return v.value;
}

static inline uint32_t mac_table_value_dest(uint64_t value)
{
    union mac_value v = {.value = value};
    return v.dest;
}

/* mac_table_learn()'s every case but the steady one (see there); e is
 * mac_table_find(t, key). Not for other callers. */
enum mac_learn_result mac_table_learn_slot(struct mac_table *table, struct mac_entry *e,
                                           uint64_t key, uint64_t value, uint32_t now,
                                           uint64_t *old_value);

/* The steady case of learning on its own, which needs no lock: key known,
 * learned (not static), at value; its time is brought to now (only written
 * when the second changed, so a steady flow does not dirty the line every
 * packet; a relaxed store, as several readers may refresh one entry).
 * False for every other case, which mac_table_learn() handles. */
static inline bool mac_table_refresh(struct mac_table *t, uint64_t key, uint64_t value,
                                     uint32_t now)
{
    struct mac_entry *e = mac_table_find(t, key);

    if (WEFT_LIKELY(e->key == key && e->value == value && !e->is_static)) {
        if (e->last_seen != now) {
            __atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
        }
        return true;
    }
    return false;
}

/* Learns mac at dest: see enum mac_learn_result. *old_dest is set on MAC_LEARN_MOVED.
 * Inline for its steady case, a known learned entry at the same place: one
 * probe, and a write only when the second changed (a steady flow does not
 * dirty the line every packet). */
static inline enum mac_learn_result mac_table_learn(struct mac_table *t, uint32_t segment,
                                                    uint64_t mac, uint32_t dest, uint32_t now,
                                                    uint32_t *old_dest)
{
    uint64_t key = mac_table_key(segment, mac);
    uint64_t value = mac_table_dest_value(dest);
    struct mac_entry *e = mac_table_find(t, key);

    if (WEFT_LIKELY(e->key == key && e->value == value && !e->is_static)) {
        if (e->last_seen != now) {
            __atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
        }
        return MAC_LEARN_REFRESHED;
    }
    uint64_t old = 0;
    enum mac_learn_result r = mac_table_learn_slot(t, e, key, value, now, &old);
    if (r == MAC_LEARN_MOVED) {
        *old_dest = mac_table_value_dest(old);
    }
    return r;
}
/* Adds or replaces a static entry (replacing a learned one). Returns 0, ENOSPC when full,
 * EINVAL for a zero or multicast MAC. *replaced (may be NULL) gets the old learned dest,
 * or UINT32_MAX if there was no learned entry. */
int mac_table_add_static(struct mac_table *table, uint32_t segment, uint64_t mac, uint32_t dest,
                         uint32_t now, uint32_t *replaced);
/* Removes (segment, mac), static or not; returns true if it was there. */
bool mac_table_delete(struct mac_table *table, uint32_t segment, uint64_t mac);

/* The same operations on a raw key and a 64-bit value, for tables
 * keyed otherwise than by MAC (the ARP table; mac_table_lookup_key() is above).
 * Learning and static entries behave as above; the caller checks that key and
 * value make sense. */
/* key must not be 0 (the mark of an empty slot): asserted. */
enum mac_learn_result mac_table_learn_key(struct mac_table *table, uint64_t key, uint64_t value,
                                          uint32_t now, uint64_t *old_value);
/* 0, ENOSPC when full, EINVAL for key 0. */
int mac_table_add_static_key(struct mac_table *table, uint64_t key, uint64_t value, uint32_t now);
bool mac_table_delete_key(struct mac_table *table, uint64_t key);

/* Called for every entry removed by aging or flushing, before it goes. */
typedef void mac_table_removed_fn(const struct mac_entry *entry, void *ctx);
/* Decides, for mac_table_flush(), whether an entry goes. */
typedef bool mac_table_match_fn(const struct mac_entry *entry, void *ctx);

/* Removes learned entries not seen for max_age seconds; returns how many. */
uint32_t mac_table_age(struct mac_table *table, uint32_t now, uint32_t max_age,
                       mac_table_removed_fn *removed, void *ctx);
/* Removes every entry (static included) for which match() is true; returns how many. */
uint32_t mac_table_flush(struct mac_table *table, mac_table_match_fn *match, void *match_ctx,
                         mac_table_removed_fn *removed, void *ctx);
/* Calls fn for every entry, in table order. */
void mac_table_foreach(const struct mac_table *table, mac_table_removed_fn *fn, void *ctx);

uint32_t mac_table_count(const struct mac_table *table);
uint32_t mac_table_capacity(const struct mac_table *table);

static inline uint32_t mac_entry_segment(const struct mac_entry *e)
{
    return (uint32_t)(e->key >> 48);
}

static inline uint64_t mac_entry_mac(const struct mac_entry *e)
{
    return e->key & 0xffffffffffffull;
}

#endif
