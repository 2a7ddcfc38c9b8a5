/*
 * pkt.h - packet buffers and the fixed pool they come from.
 *
 * A buffer is one contiguous block: PKT_HEADROOM bytes in front of the frame
 * so that VLAN tags and VXLAN outer headers are pushed in place, never copied,
 * then room for the largest frame. Buffers live in a pool allocated once at
 * start-up; the fast path takes and returns them through a free stack and
 * never calls malloc.
 *
 * Ownership: whoever holds a struct pkt pointer owns it until it hands it on
 * (to a tx batch) or returns it with pkt_pool_put().
 */
#ifndef WEFT_CORE_PKT_H
#define WEFT_CORE_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/ip_addr.h"

/* Room for outer Ethernet + IPv6 + UDP + VXLAN (14 + 40 + 8 + 8) and two tags, rounded up. */
#define PKT_HEADROOM 128
/* Default data room: a 9000-byte jumbo frame with two tags. */
#define PKT_DEFAULT_DATA_ROOM 9216

/* Checksum and segmentation work a guest left to "the NIC", from its
 * virtio-net header (core/offload.h finishes it where the egress demands).
 * csum_start counts from the start of the Ethernet frame (the inner one once
 * encapsulated), so VLAN tags pushed or pulled move it; nothing else does. */
enum offload_gso {
    OFFLOAD_GSO_NONE,
    OFFLOAD_GSO_TCP4,   /* TCP over IPv4, cut at gso_size bytes of payload */
    OFFLOAD_GSO_TCP6,   /* TCP over IPv6 */
    OFFLOAD_GSO_UDP_L4, /* UDP segmentation (USO): one datagram per gso_size bytes */
    OFFLOAD_GSO_UFO,    /* UDP fragmentation (deprecated): not supported */
};

struct offload_info {
    uint8_t gso;          /* enum offload_gso */
    bool needs_csum;      /* L4 checksum partial: complete at csum_start + csum_offset */
    bool ecn;             /* TCP super-frame with CWR set (VIRTIO_NET_HDR_GSO_ECN) */
    uint16_t gso_size;    /* payload bytes per segment */
    uint16_t csum_start;  /* from the start of the Ethernet frame */
    uint16_t csum_offset; /* from csum_start */
};

/* What the parser learnt about a frame; offsets are from pkt->data. The
 * parser's fields come first, so that it clears them with one memset of
 * PKT_META_PARSED_LEN bytes (a couple of stores) instead of field by field. */
struct pkt_meta {
    uint16_t vlan;            /* VLAN the frame belongs to on ingress (0 = untagged) */
    uint16_t tag_tpid;        /* TPID of the outermost tag (0x8100 or 0x88a8), 0 if untagged */
    uint16_t eth_type;        /* ethertype after the tags */
    uint16_t l3_ofs;          /* start of the L3 header */
    uint16_t l4_ofs;          /* start of the L4 header, 0 if none (any fragment, non-IP) */
    uint8_t pcp;              /* 802.1p priority of the ingress tag, restored on egress tags */
    uint8_t n_tags;           /* tags the parser saw (0..2) */
    uint8_t ip_proto;         /* IPv4 protocol / IPv6 final next header, 0 if not IP */
    uint8_t is_fragment;      /* IPv4/IPv6 fragment (first or later) */
    uint16_t in_port;         /* ingress port id (PKT_PORT_OVERLAY when decapsulated) */
    uint32_t segment;         /* segment index inside the switch */
    uint32_t flow_hash;       /* hash of the inner flow, for the outer UDP source port */
    struct ip_addr outer_src; /* decapsulation: the remote VTEP the datagram came from */
    struct offload_info ol;   /* offloads pending on the frame (all zero: a complete frame) */
};

/* Bytes of struct pkt_meta that the parser owns (vlan .. is_fragment). */
#define PKT_META_PARSED_LEN offsetof(struct pkt_meta, in_port)

#define PKT_PORT_OVERLAY 0xffff

struct pkt {
    uint8_t *data;  /* first byte of the frame */
    uint32_t len;   /* frame length */
    uint32_t index; /* slot in the pool */
    uint8_t *head;  /* start of the buffer (data - head = headroom) */
    uint32_t size;  /* bytes from head to the end of the buffer */
    struct pkt_meta meta;
};

static inline uint32_t pkt_headroom(const struct pkt *p)
{
    return (uint32_t)(p->data - p->head);
}

static inline uint32_t pkt_tailroom(const struct pkt *p)
{
    return p->size - pkt_headroom(p) - p->len;
}

/* Grows the frame at the front by n bytes; returns the new start, or NULL without headroom. */
static inline uint8_t *pkt_push(struct pkt *p, uint32_t n)
{
    if (pkt_headroom(p) < n) {
        return NULL;
    }
    p->data -= n;
    p->len += n;
    return p->data;
}

/* Removes n bytes from the front of the frame (n <= len). */
static inline void pkt_pull(struct pkt *p, uint32_t n)
{
    p->data += n;
    p->len -= n;
}

/* Resets the buffer to hold nothing, with the full headroom in front. */
static inline void pkt_reset(struct pkt *p)
{
    p->data = p->head + PKT_HEADROOM;
    p->len = 0;
    memset(&p->meta, 0, sizeof p->meta);
}

struct pkt_pool;

/* Allocates count buffers of PKT_HEADROOM + data_room bytes each. NULL on ENOMEM. */
struct pkt_pool *pkt_pool_create(uint32_t count, uint32_t data_room);
/* The same, plus a second tier of large_count buffers of large_room bytes for
 * super-frames (pkt_pool_get_large()); pkt_pool_put() takes either kind. */
struct pkt_pool *pkt_pool_create_tiered(uint32_t count, uint32_t data_room, uint32_t large_count,
                                        uint32_t large_room);
void pkt_pool_destroy(struct pkt_pool *pool);
/* Takes a reset buffer from the pool, or NULL when every buffer is in use. */
struct pkt *pkt_pool_get(struct pkt_pool *pool);
/* Takes a reset large buffer (pkt_pool_large_room() bytes), or NULL when there is
 * no large tier or all its buffers are in use. */
struct pkt *pkt_pool_get_large(struct pkt_pool *pool);
/* Largest frame a large buffer holds; 0 without a large tier. */
uint32_t pkt_pool_large_room(const struct pkt_pool *pool);
/* Returns a buffer to its pool. */
void pkt_pool_put(struct pkt_pool *pool, struct pkt *p);
/* Buffers currently free. */
uint32_t pkt_pool_available(const struct pkt_pool *pool);
/* Largest frame a buffer of this pool holds, headroom excluded. */
uint32_t pkt_pool_data_room(const struct pkt_pool *pool);
/* Copies frame bytes into a fresh buffer from the pool; NULL if none free or too long. */
struct pkt *pkt_pool_copy_in(struct pkt_pool *pool, const void *frame, uint32_t len);
/* A new buffer holding the same frame and metadata, headroom preserved (a large one
 * when the frame needs it); NULL if none free. */
struct pkt *pkt_pool_clone(struct pkt_pool *pool, const struct pkt *p);

#endif
