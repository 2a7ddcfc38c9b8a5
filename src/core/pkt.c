/*
 * pkt.c - the packet buffer pool: one allocation at creation, a LIFO free
 * stack afterwards (the most recently freed buffer is the most likely to be
 * warm in cache).
 */
#include "pkt.h"

#include <stdlib.h>

#include "lib/compiler.h"

struct pkt_pool {
    struct pkt *pkts; /* descriptors, indexed by pkt->index: count small, then large_count */
    uint8_t *memory;  /* count * buf_size bytes of buffers */
    uint32_t *free;   /* stack of free indices */
    uint32_t n_free;
    uint32_t count;
    uint32_t buf_size; /* PKT_HEADROOM + data room */
    /* The large tier (super-frames): its own memory and free stack. */
    uint8_t *large_memory;
    uint32_t *large_free;
    uint32_t n_large_free;
    uint32_t large_count;
    uint32_t large_size;
};

/* Cache-line multiple so that every frame starts on its own line. */
static uint32_t buf_size_for(uint32_t data_room)
{
    return (PKT_HEADROOM + data_room + 63u) & ~63u;
}

static void tier_init(struct pkt_pool *pool, uint32_t first, uint32_t count, uint8_t *memory,
                      uint32_t size, uint32_t *free_stack)
{
    for (uint32_t i = 0; i < count; i++) {
        struct pkt *p = &pool->pkts[first + i];
        p->index = first + i;
        p->head = memory + (size_t)i * size;
        p->size = size;
        free_stack[i] = first + count - 1 - i;
    }
}

struct pkt_pool *pkt_pool_create_tiered(uint32_t count, uint32_t data_room, uint32_t large_count,
                                        uint32_t large_room)
{
    struct pkt_pool *pool = calloc(1, sizeof *pool);

    if (!pool || count == 0) {
        free(pool);
        return NULL;
    }
    pool->buf_size = buf_size_for(data_room);
    pool->count = count;
    pool->pkts = calloc((size_t)count + large_count, sizeof *pool->pkts);
    pool->free = calloc(count, sizeof *pool->free);
    pool->memory = aligned_alloc(64, (size_t)count * pool->buf_size);
    if (!pool->pkts || !pool->free || !pool->memory) {
        pkt_pool_destroy(pool);
        return NULL;
    }
    tier_init(pool, 0, count, pool->memory, pool->buf_size, pool->free);
    pool->n_free = count;
    if (large_count) {
        pool->large_size = buf_size_for(large_room);
        pool->large_free = calloc(large_count, sizeof *pool->large_free);
        pool->large_memory = aligned_alloc(64, (size_t)large_count * pool->large_size);
        if (!pool->large_free || !pool->large_memory) {
            pkt_pool_destroy(pool);
            return NULL;
        }
        pool->large_count = large_count;
        tier_init(pool, count, large_count, pool->large_memory, pool->large_size, pool->large_free);
        pool->n_large_free = large_count;
    }
    return pool;
}

struct pkt_pool *pkt_pool_create(uint32_t count, uint32_t data_room)
{
    return pkt_pool_create_tiered(count, data_room, 0, 0);
}

void pkt_pool_destroy(struct pkt_pool *pool)
{
    if (!pool) {
        return;
    }
    free(pool->large_memory);
    free(pool->large_free);
    free(pool->memory);
    free(pool->free);
    free(pool->pkts);
    free(pool);
}

struct pkt *pkt_pool_get_large(struct pkt_pool *pool)
{
    if (pool->n_large_free == 0) {
        return NULL;
    }
    struct pkt *p = &pool->pkts[pool->large_free[--pool->n_large_free]];
    pkt_reset(p);
    return p;
}

uint32_t pkt_pool_large_room(const struct pkt_pool *pool)
{
    return pool->large_count ? pool->large_size - PKT_HEADROOM : 0;
}

struct pkt *pkt_pool_get(struct pkt_pool *pool)
{
    if (WEFT_UNLIKELY(pool->n_free == 0)) {
        return NULL;
    }
    struct pkt *p = &pool->pkts[pool->free[--pool->n_free]];
    pkt_reset(p);
    return p;
}

void pkt_pool_put(struct pkt_pool *pool, struct pkt *p)
{
    if (WEFT_UNLIKELY(p->index >= pool->count)) {
        WEFT_ASSERT(p->index < pool->count + pool->large_count && &pool->pkts[p->index] == p);
        WEFT_ASSERT(pool->n_large_free < pool->large_count);
        pool->large_free[pool->n_large_free++] = p->index;
        return;
    }
    WEFT_ASSERT(&pool->pkts[p->index] == p);
    WEFT_ASSERT(pool->n_free < pool->count);
    pool->free[pool->n_free++] = p->index;
}

uint32_t pkt_pool_available(const struct pkt_pool *pool)
{
    return pool->n_free;
}

uint32_t pkt_pool_data_room(const struct pkt_pool *pool)
{
    return pool->buf_size - PKT_HEADROOM;
}

struct pkt *pkt_pool_copy_in(struct pkt_pool *pool, const void *frame, uint32_t len)
{
    struct pkt *p;
    if (len > pkt_pool_data_room(pool)) {
        if (len > pkt_pool_large_room(pool)) {
            return NULL;
        }
        p = pkt_pool_get_large(pool);
    } else {
        p = pkt_pool_get(pool);
    }
    if (p) {
        memcpy(p->data, frame, len);
        p->len = len;
    }
    return p;
}

struct pkt *pkt_pool_clone(struct pkt_pool *pool, const struct pkt *src)
{
    /* Straight from the free stack: every field pkt_reset() would clear is
     * overwritten below (a flood makes one clone per destination). */
    struct pkt *p;
    if (WEFT_UNLIKELY(src->len > pool->buf_size - pkt_headroom(src))) {
        p = pkt_pool_get_large(pool);
        if (!p) {
            return NULL;
        }
    } else {
        if (WEFT_UNLIKELY(pool->n_free == 0)) {
            return NULL;
        }
        p = &pool->pkts[pool->free[--pool->n_free]];
    }
    p->data = p->head + pkt_headroom(src);
    p->len = src->len;
    p->meta = src->meta;
    memcpy(p->data, src->data, src->len);
    return p;
}
