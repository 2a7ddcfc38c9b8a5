/*
 * u64_map.h - an open-addressing hash map from 64-bit keys to 32-bit values.
 *
 * Used for the control-path-written, fast-path-read indices of the switch
 * (VNI -> segment, segment+VTEP membership, VTEP address -> VTEP). Linear
 * probing with backward-shift deletion (no tombstones, so lookups stay short
 * however many deletes happen). Key 0 is reserved as "empty": callers keep it
 * out of their key space. The map grows on insert (control path only);
 * lookups never allocate.
 */
#ifndef WEFT_LIB_U64_MAP_H
#define WEFT_LIB_U64_MAP_H

#include <stdbool.h>
#include <stdint.h>

struct u64_map;

struct u64_map *u64_map_create(uint32_t initial_capacity);
void u64_map_destroy(struct u64_map *map);
/* Inserts or replaces; returns 0, EINVAL for key 0, or ENOMEM. */
int u64_map_put(struct u64_map *map, uint64_t key, uint32_t value);
/* Returns true and sets *value when key is present. */
bool u64_map_get(const struct u64_map *map, uint64_t key, uint32_t *value);
/* Removes key; returns true if it was present. */
bool u64_map_del(struct u64_map *map, uint64_t key);
uint32_t u64_map_count(const struct u64_map *map);

#endif
