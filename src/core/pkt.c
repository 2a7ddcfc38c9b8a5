/*
 * pkt.c - the packet buffer pool: one allocation at creation, a LIFO free
 * stack afterwards (the most recently freed buffer is the most likely to be
 * warm in cache).
 */
#include "pkt.h"

#include <stdlib.h>

#include "lib/compiler.h"

struct pkt_pool {
    struct pkt *pkts; /* descriptors, indexed by pkt->index */
    uint8_t *memory;  /* count * buf_size bytes of buffers */
    uint32_t *free;   /* stack of free indices */
    uint32_t n_free;
    uint32_t count;
    uint32_t buf_size; /* PKT_HEADROOM + data room */
};

struct pkt_pool *pkt_pool_create(uint32_t count, uint32_t data_room)
{
    struct pkt_pool *pool = calloc(1, sizeof *pool);

    if (!pool || count == 0) {
        free(pool);
        return NULL;
    }
    /* Cache-line multiple so that every frame starts on its own line. */
    pool->buf_size = (PKT_HEADROOM + data_room + 63u) & ~63u;
    pool->count = count;
    pool->pkts = calloc(count, sizeof *pool->pkts);
    pool->free = calloc(count, sizeof *pool->free);
    pool->memory = aligned_alloc(64, (size_t)count * pool->buf_size);
    if (!pool->pkts || !pool->free || !pool->memory) {
        pkt_pool_destroy(pool);
        return NULL;
    }
    for (uint32_t i = 0; i < count; i++) {
        struct pkt *p = &pool->pkts[i];
        p->index = i;
        p->head = pool->memory + (size_t)i * pool->buf_size;
        p->size = pool->buf_size;
        pool->free[i] = count - 1 - i;
    }
    pool->n_free = count;
    return pool;
}

void pkt_pool_destroy(struct pkt_pool *pool)
{
    if (!pool) {
        return;
    }
    free(pool->memory);
    free(pool->free);
    free(pool->pkts);
    free(pool);
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
    WEFT_ASSERT(p->index < pool->count && &pool->pkts[p->index] == p);
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
    if (len > pkt_pool_data_room(pool)) {
        return NULL;
    }
    struct pkt *p = pkt_pool_get(pool);
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
    if (WEFT_UNLIKELY(pool->n_free == 0)) {
        return NULL;
    }
    struct pkt *p = &pool->pkts[pool->free[--pool->n_free]];
    p->data = p->head + pkt_headroom(src);
    p->len = src->len;
    p->meta = src->meta;
    memcpy(p->data, src->data, src->len);
    return p;
}
