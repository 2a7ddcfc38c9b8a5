/*
 * vswitch.c - the forwarding core: configuration of segments, ports and
 * peers, and the per-packet pipeline (see vswitch.h for the picture).
 *
 * Control-path structures (member lists, peer lists) are rebuilt on change so
 * that the per-packet path only reads flat arrays and hash maps. The switch
 * is configured by one thread; its data path may run on several workers
 * (vswitch.h, "Workers"): each counts in its own arrays, and the few writes
 * the data path makes to shared state (new or moved MAC and ARP entries,
 * the event ring, a port's too-big rate) happen under learn_lock.
 */
#include "vswitch.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/arp.h"
#include "core/icmp.h"
#include "core/parse.h"
#include "core/offload.h"
#include "core/vxlan.h"
#include "lib/compiler.h"
#include "lib/hash.h"
#include "lib/u64_map.h"
#include "lib/be.h"

#define VSWITCH_NO_SEGMENT UINT32_MAX
/* Inside a flood's destination list only: a VTEP copy to be marked for proxy
 * replication. Clear of VSWITCH_DEST_VTEP and of the 24-bit VTEP ids. */
#define DEST_REPLICATE 0x40000000u

/* A growable list of ids (member ports, promiscuous ports, peer VTEPs). */
struct id_list {
    uint32_t *ids;
    uint32_t n;
    uint32_t cap;
};

struct vs_port {
    bool in_use;
    struct port_config cfg;
    uint32_t mac_count;         /* learned entries pointing here (under learn_lock) */
    struct icmp_rate pmtu_rate; /* too-big errors sent back to this port (under learn_lock) */
};

struct vs_segment {
    bool in_use;
    uint32_t id; /* its index: where its counters are in each worker */
    struct segment_config cfg;
    struct id_list ports;    /* member ports, flood targets */
    struct id_list promisc;  /* promiscuous member ports */
    struct id_list peers;    /* remote VTEPs */
    struct id_list proxies;  /* BUM_PROXY: a proxy VTEP per remote subnet (peers) */
    struct id_list replicas; /* BUM_PROXY: the VTEPs of this host's subnet (peers) */
    uint32_t mcast_vtep;     /* BUM_MULTICAST: the group's VTEP id */
};

struct vs_vtep {
    uint32_t refs; /* segments using it as a peer or group; 0 = free slot */
    struct ip_addr addr;
    struct vxlan_template tmpl;
};

/* A worker's counters are its own (one writer per line); readers sum them. */
struct vswitch_worker {
    struct vswitch *sw;
    struct pkt_pool *pool;
    uint32_t now;                      /* the clock of the input call under way */
    struct vswitch_counters *port_ctr; /* VSWITCH_MAX_PORTS */
    struct vswitch_counters *seg_ctr;  /* cfg.max_segments */
    struct vswitch_counters *vtep_ctr; /* sw->n_vteps */
    struct vswitch_stats stats;        /* what the data path counts */
};

struct vswitch {
    struct vswitch_config cfg;
    struct vswitch_worker *workers[VSWITCH_MAX_WORKERS];
    uint32_t n_workers;
    pthread_mutex_t learn_lock; /* see the top of this file */
    struct mac_table *macs;
    struct mac_table *arps;  /* (segment, IPv4) -> MAC, see core/arp.h */
    struct vs_port *ports;   /* VSWITCH_MAX_PORTS */
    struct vs_segment *segs; /* cfg.max_segments */
    struct vs_vtep *vteps;   /* n_vteps slots, grown on demand */
    uint32_t n_vteps;
    struct u64_map *seg_by_vni;   /* vni -> segment */
    struct u64_map *vtep_by_addr; /* vtep_addr_key() -> vtep id */
    struct u64_map *peer_set;     /* peer_key(segment, vtep) -> 1 */
    uint64_t addr_seed;
    uint32_t vlan_seg[VLAN_ID_MAX + 1]; /* VLAN -> segment + 1, 0 = none */
    struct vswitch_event *events;       /* ring of cfg.event_capacity */
    uint32_t ev_head;                   /* oldest event */
    uint32_t ev_count;
    uint64_t ev_lost;           /* since the last drain that reported them */
    struct vswitch_stats stats; /* what the control path counts (aging), and events_lost */
};

/* ---- Small helpers -------------------------------------------------------- */

/* The learn lock (see the top of this file), taken only when several workers
 * share the switch: with one, its thread is the only one there is. Workers
 * are added before the data path runs, so the count does not change under a
 * holder. */
static void learn_lock(struct vswitch *sw)
{
    if (sw->n_workers > 1) {
        pthread_mutex_lock(&sw->learn_lock);
    }
}

static void learn_unlock(struct vswitch *sw)
{
    if (sw->n_workers > 1) {
        pthread_mutex_unlock(&sw->learn_lock);
    }
}

static int id_list_add(struct id_list *l, uint32_t id)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        uint32_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) {
            return ENOMEM;
        }
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

static void id_list_remove(struct id_list *l, uint32_t id)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->ids[i] == id) {
            /* Keep the order: flooding copies go out in configuration order. */
            memmove(&l->ids[i], &l->ids[i + 1], (l->n - i - 1) * sizeof *l->ids);
            l->n--;
            return;
        }
    }
}

static void id_list_free(struct id_list *l)
{
    free(l->ids);
    memset(l, 0, sizeof *l);
}

static bool id_list_has(const struct id_list *l, uint32_t id)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Copies up to max ids out; returns how many the list has. */
static uint32_t id_list_copy(const struct id_list *l, uint32_t *ids, uint32_t max)
{
    for (uint32_t i = 0; i < l->n && i < max; i++) {
        ids[i] = l->ids[i];
    }
    return l->n;
}

/* Frees every list of a segment. */
static void segment_lists_free(struct vs_segment *seg)
{
    id_list_free(&seg->ports);
    id_list_free(&seg->promisc);
    id_list_free(&seg->peers);
    id_list_free(&seg->proxies);
    id_list_free(&seg->replicas);
}

static uint64_t vtep_addr_key(const struct vswitch *sw, const struct ip_addr *a)
{
    /* Never 0 (the map's empty key); lookups compare the full address after. */
    return hash_words(a->bytes, sizeof a->bytes, sw->addr_seed) | 1;
}

static uint64_t peer_key(uint32_t segment, uint32_t vtep)
{
    return (uint64_t)(segment + 1) << 32 | vtep;
}

static bool segment_valid(const struct vswitch *sw, uint32_t segment)
{
    return segment < sw->cfg.max_segments && sw->segs[segment].in_use;
}

static bool port_valid(const struct vswitch *sw, uint32_t port)
{
    return port < VSWITCH_MAX_PORTS && sw->ports[port].in_use;
}

static void counters_add_packet(struct vswitch_counters *c, bool rx, uint32_t bytes)
{
    if (rx) {
        c->rx_packets++;
        c->rx_bytes += bytes;
    } else {
        c->tx_packets++;
        c->tx_bytes += bytes;
    }
}

/* ---- Creation ------------------------------------------------------------ */

void vswitch_config_default(struct vswitch_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_segments = 4096;
    cfg->mac_capacity = MAC_DEFAULT_CAPACITY;
    cfg->mac_age_seconds = MAC_DEFAULT_AGE;
    cfg->vxlan_port = VXLAN_DEFAULT_PORT;
    cfg->underlay_mtu = 1500;
    cfg->arp_capacity = ARP_DEFAULT_CAPACITY;
    cfg->arp_age_seconds = ARP_DEFAULT_AGE;
    cfg->event_capacity = VSWITCH_EVENTS_DEFAULT;
    cfg->pmtu_icmp_rate = ICMP_PMTU_RATE_DEFAULT;
}

struct vswitch *vswitch_create(const struct vswitch_config *cfg, struct pkt_pool *pool, int *error)
{
    struct vswitch *sw;

    if (!pool || cfg->max_segments == 0 || cfg->max_segments > MAC_TABLE_MAX_SEGMENTS ||
        cfg->mac_capacity == 0 || cfg->mac_age_seconds == 0 || cfg->vxlan_port == 0 ||
        cfg->underlay_mtu < 576 || cfg->underlay_mtu > 65535 || cfg->arp_capacity == 0 ||
        cfg->arp_age_seconds == 0 || cfg->event_capacity == 0 ||
        cfg->event_capacity > VSWITCH_EVENTS_MAX ||
        (!ip_addr_is_zero(&cfg->local_vtep4) && !ip_addr_is_v4(&cfg->local_vtep4)) ||
        (!ip_addr_is_zero(&cfg->local_vtep6) && ip_addr_is_v4(&cfg->local_vtep6))) {
        *error = EINVAL;
        return NULL;
    }
    *error = ENOMEM;
    sw = calloc(1, sizeof *sw);
    if (!sw) {
        return NULL;
    }
    sw->cfg = *cfg;
    pthread_mutex_init(&sw->learn_lock, NULL);
    sw->addr_seed = hash_random_seed();
    sw->macs = mac_table_create(cfg->mac_capacity);
    sw->arps = mac_table_create(cfg->arp_capacity);
    sw->events = calloc(cfg->event_capacity, sizeof *sw->events);
    sw->ports = calloc(VSWITCH_MAX_PORTS, sizeof *sw->ports);
    sw->segs = calloc(cfg->max_segments, sizeof *sw->segs);
    sw->seg_by_vni = u64_map_create(64);
    sw->vtep_by_addr = u64_map_create(64);
    sw->peer_set = u64_map_create(64);
    if (!sw->macs || !sw->arps || !sw->events || !sw->ports || !sw->segs || !sw->seg_by_vni ||
        !sw->vtep_by_addr || !sw->peer_set || !vswitch_worker_add(sw, pool)) {
        vswitch_destroy(sw);
        return NULL;
    }
    *error = 0;
    return sw;
}

static void worker_free(struct vswitch_worker *w)
{
    if (w) {
        free(w->port_ctr);
        free(w->seg_ctr);
        free(w->vtep_ctr);
        free(w);
    }
}

struct vswitch_worker *vswitch_worker_add(struct vswitch *sw, struct pkt_pool *pool)
{
    if (!pool || sw->n_workers == VSWITCH_MAX_WORKERS) {
        return NULL;
    }
    struct vswitch_worker *w = calloc(1, sizeof *w);
    if (!w) {
        return NULL;
    }
    w->sw = sw;
    w->pool = pool;
    w->port_ctr = calloc(VSWITCH_MAX_PORTS, sizeof *w->port_ctr);
    w->seg_ctr = calloc(sw->cfg.max_segments, sizeof *w->seg_ctr);
    w->vtep_ctr = sw->n_vteps ? calloc(sw->n_vteps, sizeof *w->vtep_ctr) : NULL;
    if (!w->port_ctr || !w->seg_ctr || (sw->n_vteps && !w->vtep_ctr)) {
        worker_free(w);
        return NULL;
    }
    sw->workers[sw->n_workers++] = w;
    return w;
}

struct vswitch_worker *vswitch_worker_get(struct vswitch *sw, uint32_t i)
{
    return i < sw->n_workers ? sw->workers[i] : NULL;
}

uint32_t vswitch_worker_count(const struct vswitch *sw)
{
    return sw->n_workers;
}

/* Adds up n counters of 64 bits each, read while workers may be adding to them. */
static void sum_u64(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

void vswitch_worker_stats(const struct vswitch_worker *w, struct vswitch_stats *out)
{
    memset(out, 0, sizeof *out);
    sum_u64((uint64_t *)out, (const uint64_t *)&w->stats, sizeof *out / sizeof(uint64_t));
}

static_assert(sizeof(struct vswitch_counters) % sizeof(uint64_t) == 0, "counters are u64");
static_assert(sizeof(struct vswitch_stats) % sizeof(uint64_t) == 0, "stats are u64");
#define COUNTERS_U64 (sizeof(struct vswitch_counters) / sizeof(uint64_t))

/* The kinds of object a worker keeps counters for, one array each. */
enum counters_kind { COUNTERS_PORT, COUNTERS_SEGMENT, COUNTERS_VTEP };

static struct vswitch_counters *worker_counters(const struct vswitch_worker *w,
                                                enum counters_kind kind)
{
    return kind == COUNTERS_PORT      ? w->port_ctr
           : kind == COUNTERS_SEGMENT ? w->seg_ctr
                                      : w->vtep_ctr;
}

/* The sum over workers of one object's counters. */
static void counters_sum(const struct vswitch *sw, enum counters_kind kind, uint32_t index,
                         struct vswitch_counters *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < sw->n_workers; i++) {
        const struct vswitch_counters *c = &worker_counters(sw->workers[i], kind)[index];
        sum_u64((uint64_t *)out, (const uint64_t *)c, COUNTERS_U64);
    }
}

/* Zeroes one object's counters in every worker (it is new, or its id reused). */
static void counters_clear(struct vswitch *sw, enum counters_kind kind, uint32_t index)
{
    for (uint32_t i = 0; i < sw->n_workers; i++) {
        memset(&worker_counters(sw->workers[i], kind)[index], 0, sizeof(struct vswitch_counters));
    }
}

void vswitch_destroy(struct vswitch *sw)
{
    if (!sw) {
        return;
    }
    if (sw->segs) {
        for (uint32_t i = 0; i < sw->cfg.max_segments; i++) {
            segment_lists_free(&sw->segs[i]);
        }
    }
    for (uint32_t i = 0; i < sw->n_workers; i++) {
        worker_free(sw->workers[i]);
    }
    pthread_mutex_destroy(&sw->learn_lock);
    free(sw->segs);
    free(sw->ports);
    free(sw->vteps);
    mac_table_destroy(sw->macs);
    mac_table_destroy(sw->arps);
    free(sw->events);
    u64_map_destroy(sw->seg_by_vni);
    u64_map_destroy(sw->vtep_by_addr);
    u64_map_destroy(sw->peer_set);
    free(sw);
}

const struct vswitch_config *vswitch_get_config(const struct vswitch *sw)
{
    return &sw->cfg;
}

/* ---- Learn events -------------------------------------------------------- */

/* Queues an event; a full ring loses it (the owner resyncs, see vswitch.h). */
static void event_push(struct vswitch *sw, const struct vswitch_event *ev)
{
    uint32_t cap = sw->cfg.event_capacity;

    if (WEFT_UNLIKELY(sw->ev_count == cap)) {
        sw->ev_lost++;
        sw->stats.events_lost++;
        return;
    }
    uint32_t i = sw->ev_head + sw->ev_count;
    sw->events[i >= cap ? i - cap : i] = *ev;
    sw->ev_count++;
}

/* Where a MAC destination is, as an event says it: a port, or behind the overlay. */
static uint16_t event_port(uint32_t dest)
{
    return dest & MAC_DEST_VTEP ? PKT_PORT_OVERLAY : (uint16_t)dest;
}

WEFT_COLD static void mac_event(struct vswitch *sw, enum vswitch_event_type type, uint32_t segment,
                                uint64_t mac, uint32_t dest, uint32_t old_dest)
{
    struct vswitch_event ev = {
        .type = type,
        .segment = segment,
        .port = event_port(dest),
        .old_port = event_port(old_dest),
    };

    eth_addr_from_u64(mac, ev.mac.bytes);
    event_push(sw, &ev);
}

uint32_t vswitch_events_drain(struct vswitch *sw, struct vswitch_event *events, uint32_t max,
                              uint64_t *lost)
{
    learn_lock(sw);
    uint32_t n = max < sw->ev_count ? max : sw->ev_count;

    for (uint32_t i = 0; i < n; i++) {
        events[i] = sw->events[sw->ev_head];
        sw->ev_head = sw->ev_head + 1 == sw->cfg.event_capacity ? 0 : sw->ev_head + 1;
    }
    sw->ev_count -= n;
    if (lost) {
        *lost = sw->ev_lost;
        sw->ev_lost = 0;
    }
    learn_unlock(sw);
    return n;
}

/* ---- MAC bookkeeping ----------------------------------------------------- */

/* Keeps the per-port learned-MAC counts right as entries leave the table. */
static void mac_entry_gone(const struct mac_entry *e, void *ctx)
{
    struct vswitch *sw = ctx;

    if (!e->is_static && !(e->dest & MAC_DEST_VTEP)) {
        sw->ports[e->dest & MAC_DEST_INDEX_MASK].mac_count--;
    }
}

struct mac_match {
    uint32_t segment; /* VSWITCH_NO_SEGMENT: any */
    uint32_t dest;    /* UINT32_MAX: any */
};

static bool mac_entry_matches(const struct mac_entry *e, void *ctx)
{
    const struct mac_match *m = ctx;
    return (m->segment == VSWITCH_NO_SEGMENT || mac_entry_segment(e) == m->segment) &&
           (m->dest == UINT32_MAX || e->dest == m->dest);
}

static void vswitch_mac_flush(struct vswitch *sw, uint32_t segment, uint32_t dest)
{
    struct mac_match m = {.segment = segment, .dest = dest};
    mac_table_flush(sw->macs, mac_entry_matches, &m, mac_entry_gone, sw);
}

/* Aging of a MAC table entry: as any removal, and an event for a local port's. */
static void mac_entry_aged(const struct mac_entry *e, void *ctx)
{
    struct vswitch *sw = ctx;

    mac_entry_gone(e, sw);
    if (!(e->dest & MAC_DEST_VTEP)) {
        mac_event(sw, VSWITCH_EVENT_MAC_AGED, mac_entry_segment(e), mac_entry_mac(e), e->dest,
                  e->dest);
    }
}

/* ---- VTEPs --------------------------------------------------------------- */

static int vtep_lookup(const struct vswitch *sw, const struct ip_addr *addr, uint32_t *vtep)
{
    uint32_t id;

    if (u64_map_get(sw->vtep_by_addr, vtep_addr_key(sw, addr), &id) &&
        ip_addr_equal(&sw->vteps[id].addr, addr)) {
        *vtep = id;
        return 0;
    }
    return ENOENT;
}

/* Finds or creates the VTEP for addr and takes a reference on it. */
static int vtep_get(struct vswitch *sw, const struct ip_addr *addr, uint32_t *vtep)
{
    const struct ip_addr *local;
    uint32_t id;
    int error;

    if (vtep_lookup(sw, addr, &id) == 0) {
        sw->vteps[id].refs++;
        *vtep = id;
        return 0;
    }
    local = ip_addr_is_v4(addr) ? &sw->cfg.local_vtep4 : &sw->cfg.local_vtep6;
    if (ip_addr_is_zero(local)) {
        return EAFNOSUPPORT;
    }
    for (id = 0; id < sw->n_vteps && sw->vteps[id].refs; id++) {
    }
    if (id == sw->n_vteps) {
        uint32_t n = sw->n_vteps ? sw->n_vteps * 2 : 16;
        if (n > MAC_DEST_INDEX_MASK + 1) {
            return ENOSPC;
        }
        struct vs_vtep *v = realloc(sw->vteps, n * sizeof *v);
        if (!v) {
            return ENOMEM;
        }
        memset(v + sw->n_vteps, 0, (n - sw->n_vteps) * sizeof *v);
        sw->vteps = v;
        for (uint32_t i = 0; i < sw->n_workers; i++) {
            struct vswitch_worker *w = sw->workers[i];
            struct vswitch_counters *c = realloc(w->vtep_ctr, n * sizeof *c);
            if (!c) {
                return ENOMEM; /* the VTEP slots grew, the ids stay unused */
            }
            memset(c + sw->n_vteps, 0, (n - sw->n_vteps) * sizeof *c);
            w->vtep_ctr = c;
        }
        sw->n_vteps = n;
    }
    struct vs_vtep *v = &sw->vteps[id];
    memset(v, 0, sizeof *v);
    counters_clear(sw, COUNTERS_VTEP, id);
    error = vxlan_template_init(&v->tmpl, local, addr, sw->cfg.vxlan_port, sw->cfg.udp_checksum_v4);
    if (!error) {
        uint32_t other;
        /* Two addresses hashing to one key cannot both be VTEPs: refuse the second. */
        error = u64_map_get(sw->vtep_by_addr, vtep_addr_key(sw, addr), &other)
                    ? EADDRINUSE
                    : u64_map_put(sw->vtep_by_addr, vtep_addr_key(sw, addr), id);
    }
    if (error) {
        return error;
    }
    v->addr = *addr;
    v->refs = 1;
    *vtep = id;
    return 0;
}

static void vtep_put(struct vswitch *sw, uint32_t vtep)
{
    struct vs_vtep *v = &sw->vteps[vtep];

    WEFT_ASSERT(v->refs > 0);
    if (--v->refs == 0) {
        u64_map_del(sw->vtep_by_addr, vtep_addr_key(sw, &v->addr));
    }
}

const struct ip_addr *vswitch_vtep_addr(const struct vswitch *sw, uint32_t vtep)
{
    return vtep < sw->n_vteps && sw->vteps[vtep].refs ? &sw->vteps[vtep].addr : NULL;
}

int vswitch_vtep_find(const struct vswitch *sw, const struct ip_addr *addr, uint32_t *vtep)
{
    return vtep_lookup(sw, addr, vtep);
}

int vswitch_vtep_counters(const struct vswitch *sw, uint32_t vtep, struct vswitch_counters *out)
{
    if (!vswitch_vtep_addr(sw, vtep)) {
        return ENOENT;
    }
    counters_sum(sw, COUNTERS_VTEP, vtep, out);
    return 0;
}

int vswitch_segment_peer_add(struct vswitch *sw, uint32_t segment, const struct ip_addr *remote,
                             uint32_t *vtep)
{
    uint32_t id, one;
    int error;

    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    /* 0.0.0.0 is stored as ::ffff:0.0.0.0, which ip_addr_is_zero() does not see. */
    if (ip_addr_is_zero(remote) || ip_addr_is_multicast(remote) ||
        (ip_addr_is_v4(remote) &&
         !(remote->bytes[12] | remote->bytes[13] | remote->bytes[14] | remote->bytes[15]))) {
        return EINVAL;
    }
    if (vtep_lookup(sw, remote, &id) == 0 &&
        u64_map_get(sw->peer_set, peer_key(segment, id), &one)) {
        return EEXIST;
    }
    error = vtep_get(sw, remote, &id);
    if (error) {
        return error;
    }
    struct vs_segment *seg = &sw->segs[segment];
    error = id_list_add(&seg->peers, id);
    if (!error) {
        error = u64_map_put(sw->peer_set, peer_key(segment, id), 1);
        if (error) {
            id_list_remove(&seg->peers, id);
        }
    }
    if (error) {
        vtep_put(sw, id);
        return error;
    }
    if (vtep) {
        *vtep = id;
    }
    return 0;
}

static void segment_peer_remove(struct vswitch *sw, uint32_t segment, uint32_t vtep)
{
    vswitch_mac_flush(sw, segment, MAC_DEST_REMOTE(vtep));
    id_list_remove(&sw->segs[segment].peers, vtep);
    id_list_remove(&sw->segs[segment].proxies, vtep);
    id_list_remove(&sw->segs[segment].replicas, vtep);
    u64_map_del(sw->peer_set, peer_key(segment, vtep));
    vtep_put(sw, vtep);
}

int vswitch_segment_peer_del(struct vswitch *sw, uint32_t segment, const struct ip_addr *remote)
{
    uint32_t id, one;

    if (!segment_valid(sw, segment) || vtep_lookup(sw, remote, &id) ||
        !u64_map_get(sw->peer_set, peer_key(segment, id), &one)) {
        return ENOENT;
    }
    segment_peer_remove(sw, segment, id);
    return 0;
}

uint32_t vswitch_segment_peers(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                               uint32_t max)
{
    return segment_valid(sw, segment) ? id_list_copy(&sw->segs[segment].peers, vteps, max) : 0;
}

/* Turns addresses into peer ids appended to l (emptied first); ENOENT for an
 * address that is no peer of the segment, EINVAL for one already in l or in other. */
static int replication_ids(const struct vswitch *sw, uint32_t segment, const struct ip_addr *addrs,
                           uint32_t n, struct id_list *l, const struct id_list *other)
{
    uint32_t id, one;

    l->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (vtep_lookup(sw, &addrs[i], &id) != 0 ||
            !u64_map_get(sw->peer_set, peer_key(segment, id), &one)) {
            return ENOENT;
        }
        if (id_list_has(l, id) || (other && id_list_has(other, id))) {
            return EINVAL;
        }
        int error = id_list_add(l, id);
        if (error) {
            return error;
        }
    }
    return 0;
}

int vswitch_segment_replication_set(struct vswitch *sw, uint32_t segment,
                                    const struct ip_addr *proxies, uint32_t n_proxies,
                                    const struct ip_addr *replicas, uint32_t n_replicas)
{
    struct id_list p = {0}, r = {0};
    int error;

    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    /* Built aside and swapped in, so that a refused call changes nothing. */
    error = replication_ids(sw, segment, proxies, n_proxies, &p, NULL);
    if (!error) {
        error = replication_ids(sw, segment, replicas, n_replicas, &r, &p);
    }
    if (error) {
        id_list_free(&p);
        id_list_free(&r);
        return error;
    }
    struct vs_segment *seg = &sw->segs[segment];
    id_list_free(&seg->proxies);
    id_list_free(&seg->replicas);
    seg->proxies = p;
    seg->replicas = r;
    return 0;
}

uint32_t vswitch_segment_proxies(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                                 uint32_t max)
{
    return segment_valid(sw, segment) ? id_list_copy(&sw->segs[segment].proxies, vteps, max) : 0;
}

uint32_t vswitch_segment_replicas(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                                  uint32_t max)
{
    return segment_valid(sw, segment) ? id_list_copy(&sw->segs[segment].replicas, vteps, max) : 0;
}

/* ---- Ports and segment membership ---------------------------------------- */

void port_config_default(struct port_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->admin_up = true;
    cfg->mode = PORT_ACCESS;
    cfg->tpid = ETH_TYPE_VLAN;
    cfg->mtu = PORT_DEFAULT_MTU;
    cfg->learning = true;
}

/* Calls fn for every segment the port carries. */
static int port_for_each_segment(struct vswitch *sw, const struct port_config *cfg,
                                 int (*fn)(struct vs_segment *, uint32_t port, bool promisc),
                                 uint32_t port)
{
    int error = 0;

    if (cfg->mode == PORT_ACCESS) {
        return fn(&sw->segs[cfg->access_segment], port, cfg->promiscuous);
    }
    for (uint32_t vlan = 1; vlan <= VLAN_ID_MAX && !error; vlan++) {
        if (port_config_vlan_allowed(cfg, (uint16_t)vlan) && sw->vlan_seg[vlan]) {
            error = fn(&sw->segs[sw->vlan_seg[vlan] - 1], port, cfg->promiscuous);
        }
    }
    return error;
}

static int segment_member_add(struct vs_segment *seg, uint32_t port, bool promisc)
{
    int error = id_list_add(&seg->ports, port);

    if (!error && promisc) {
        error = id_list_add(&seg->promisc, port);
        if (error) {
            id_list_remove(&seg->ports, port);
        }
    }
    return error;
}

static int segment_member_remove(struct vs_segment *seg, uint32_t port, bool promisc)
{
    (void)promisc;
    id_list_remove(&seg->ports, port);
    id_list_remove(&seg->promisc, port);
    return 0;
}

static int port_config_check(const struct vswitch *sw, const struct port_config *cfg)
{
    if (cfg->mtu < 68 || cfg->mtu > 65535 || cfg->n_bindings > PORT_MAX_BINDINGS) {
        return EINVAL;
    }
    /* Bindings first: access ports, the usual home of port security, have them too. */
    for (uint32_t i = 0; i < cfg->n_bindings; i++) {
        const uint8_t *mac = cfg->bindings[i].mac.bytes;
        if (eth_addr_is_multicast(mac) || eth_addr_is_zero(mac)) {
            return EINVAL;
        }
    }
    if (cfg->mode == PORT_ACCESS) {
        return segment_valid(sw, cfg->access_segment) ? 0 : EINVAL;
    }
    if (cfg->mode != PORT_TRUNK || (cfg->tpid != ETH_TYPE_VLAN && cfg->tpid != ETH_TYPE_QINQ) ||
        cfg->native_vlan > VLAN_ID_MAX ||
        (cfg->native_vlan && !port_config_vlan_allowed(cfg, cfg->native_vlan)) ||
        port_config_vlan_allowed(cfg, 0) || port_config_vlan_allowed(cfg, 4095)) {
        return EINVAL;
    }
    return 0;
}

static int port_attach(struct vswitch *sw, uint16_t id, const struct port_config *cfg)
{
    struct vs_port *port = &sw->ports[id];
    int error;

    port->cfg = *cfg;
    port->in_use = true;
    error = port_for_each_segment(sw, cfg, segment_member_add, id);
    if (error) {
        port_for_each_segment(sw, cfg, segment_member_remove, id);
        port->in_use = false;
    }
    return error;
}

int vswitch_port_add(struct vswitch *sw, const struct port_config *cfg, uint16_t *port)
{
    uint32_t id;
    int error = port_config_check(sw, cfg);

    if (error) {
        return error;
    }
    for (id = 0; id < VSWITCH_MAX_PORTS && sw->ports[id].in_use; id++) {
    }
    if (id == VSWITCH_MAX_PORTS) {
        return ENOSPC;
    }
    memset(&sw->ports[id], 0, sizeof sw->ports[id]);
    counters_clear(sw, COUNTERS_PORT, id);
    error = port_attach(sw, (uint16_t)id, cfg);
    if (!error) {
        *port = (uint16_t)id;
    }
    return error;
}

static bool port_segments_equal(const struct port_config *a, const struct port_config *b)
{
    if (a->mode != b->mode) {
        return false;
    }
    return a->mode == PORT_ACCESS
               ? a->access_segment == b->access_segment
               : memcmp(a->allowed_vlans, b->allowed_vlans, sizeof a->allowed_vlans) == 0;
}

int vswitch_port_set(struct vswitch *sw, uint16_t port, const struct port_config *cfg)
{
    if (!port_valid(sw, port)) {
        return ENOENT;
    }
    int error = port_config_check(sw, cfg);
    if (error) {
        return error;
    }
    struct port_config old = sw->ports[port].cfg;
    port_for_each_segment(sw, &old, segment_member_remove, port);
    error = port_attach(sw, port, cfg);
    if (error) {
        /* Out of memory half way: put the old membership back as it was. */
        port_attach(sw, port, &old);
        return error;
    }
    if (!port_segments_equal(&old, cfg)) {
        vswitch_mac_flush(sw, VSWITCH_NO_SEGMENT, MAC_DEST_PORT(port));
    }
    return 0;
}

int vswitch_port_del(struct vswitch *sw, uint16_t port)
{
    if (!port_valid(sw, port)) {
        return ENOENT;
    }
    port_for_each_segment(sw, &sw->ports[port].cfg, segment_member_remove, port);
    vswitch_mac_flush(sw, VSWITCH_NO_SEGMENT, MAC_DEST_PORT(port));
    sw->ports[port].in_use = false;
    return 0;
}

const struct port_config *vswitch_port_get(const struct vswitch *sw, uint16_t port)
{
    return port_valid(sw, port) ? &sw->ports[port].cfg : NULL;
}

uint32_t vswitch_port_mac_count(const struct vswitch *sw, uint16_t port)
{
    return port_valid(sw, port) ? sw->ports[port].mac_count : 0;
}

int vswitch_port_counters(const struct vswitch *sw, uint16_t port, struct vswitch_counters *out)
{
    if (!port_valid(sw, port)) {
        return ENOENT;
    }
    counters_sum(sw, COUNTERS_PORT, port, out);
    return 0;
}

/* ---- Segments ------------------------------------------------------------ */

int vswitch_segment_add(struct vswitch *sw, const struct segment_config *cfg, uint32_t *segment)
{
    uint32_t id, existing;
    int error;

    if (cfg->vni == 0 || cfg->vni > VXLAN_VNI_MAX || cfg->vlan > VLAN_ID_MAX ||
        (cfg->bum != BUM_HEAD_END && cfg->bum != BUM_MULTICAST && cfg->bum != BUM_PROXY) ||
        (cfg->bum == BUM_MULTICAST && !ip_addr_is_multicast(&cfg->mcast_group))) {
        return EINVAL;
    }
    if (u64_map_get(sw->seg_by_vni, cfg->vni, &existing) ||
        (cfg->vlan && sw->vlan_seg[cfg->vlan])) {
        return EEXIST;
    }
    for (id = 0; id < sw->cfg.max_segments && sw->segs[id].in_use; id++) {
    }
    if (id == sw->cfg.max_segments) {
        return ENOSPC;
    }
    struct vs_segment *seg = &sw->segs[id];
    segment_lists_free(seg);
    memset(seg, 0, sizeof *seg);
    seg->id = id;
    seg->cfg = *cfg;
    counters_clear(sw, COUNTERS_SEGMENT, id);
    if (cfg->bum == BUM_MULTICAST) {
        error = vtep_get(sw, &cfg->mcast_group, &seg->mcast_vtep);
        if (error) {
            return error;
        }
    }
    error = u64_map_put(sw->seg_by_vni, cfg->vni, id);
    if (error) {
        if (cfg->bum == BUM_MULTICAST) {
            vtep_put(sw, seg->mcast_vtep);
        }
        return error;
    }
    seg->in_use = true;
    if (cfg->vlan) {
        sw->vlan_seg[cfg->vlan] = id + 1;
        /* Trunks that already allow this VLAN start carrying the new segment. */
        for (uint32_t p = 0; p < VSWITCH_MAX_PORTS; p++) {
            const struct vs_port *port = &sw->ports[p];
            if (port->in_use && port->cfg.mode == PORT_TRUNK &&
                port_config_vlan_allowed(&port->cfg, cfg->vlan)) {
                segment_member_add(seg, p, port->cfg.promiscuous);
            }
        }
    }
    *segment = id;
    return 0;
}

int vswitch_segment_change(struct vswitch *sw, uint32_t segment, const struct segment_config *cfg)
{
    uint32_t mcast_vtep = 0;

    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    struct vs_segment *seg = &sw->segs[segment];
    if (cfg->vni != seg->cfg.vni || cfg->vlan > VLAN_ID_MAX ||
        (cfg->bum != BUM_HEAD_END && cfg->bum != BUM_MULTICAST && cfg->bum != BUM_PROXY) ||
        (cfg->bum == BUM_MULTICAST && !ip_addr_is_multicast(&cfg->mcast_group))) {
        return EINVAL;
    }
    if (cfg->vlan && cfg->vlan != seg->cfg.vlan && sw->vlan_seg[cfg->vlan]) {
        return EEXIST;
    }
    /* Take the new group's VTEP before letting go of the old one, so a failure
     * changes nothing. */
    if (cfg->bum == BUM_MULTICAST) {
        int error = vtep_get(sw, &cfg->mcast_group, &mcast_vtep);
        if (error) {
            return error;
        }
    }
    if (seg->cfg.bum == BUM_MULTICAST) {
        vtep_put(sw, seg->mcast_vtep);
    }
    seg->mcast_vtep = mcast_vtep;
    if (cfg->vlan != seg->cfg.vlan) {
        /* Trunks carry the segment by its VLAN: move their membership along. */
        for (uint32_t p = 0; p < VSWITCH_MAX_PORTS; p++) {
            const struct vs_port *port = &sw->ports[p];
            if (!port->in_use || port->cfg.mode != PORT_TRUNK) {
                continue;
            }
            if (seg->cfg.vlan && port_config_vlan_allowed(&port->cfg, seg->cfg.vlan)) {
                segment_member_remove(seg, p, port->cfg.promiscuous);
            }
            if (cfg->vlan && port_config_vlan_allowed(&port->cfg, cfg->vlan)) {
                segment_member_add(seg, p, port->cfg.promiscuous);
            }
        }
        if (seg->cfg.vlan) {
            sw->vlan_seg[seg->cfg.vlan] = 0;
        }
        if (cfg->vlan) {
            sw->vlan_seg[cfg->vlan] = segment + 1;
        }
    }
    seg->cfg = *cfg;
    return 0;
}

int vswitch_segment_del(struct vswitch *sw, uint32_t segment)
{
    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    for (uint32_t p = 0; p < VSWITCH_MAX_PORTS; p++) {
        const struct vs_port *port = &sw->ports[p];
        if (port->in_use && port->cfg.mode == PORT_ACCESS && port->cfg.access_segment == segment) {
            return EBUSY;
        }
    }
    struct vs_segment *seg = &sw->segs[segment];
    while (seg->peers.n) {
        segment_peer_remove(sw, segment, seg->peers.ids[seg->peers.n - 1]);
    }
    vswitch_mac_flush(sw, segment, UINT32_MAX);
    struct mac_match m = {.segment = segment, .dest = UINT32_MAX};
    mac_table_flush(sw->arps, mac_entry_matches, &m, NULL, NULL);
    if (seg->cfg.bum == BUM_MULTICAST) {
        vtep_put(sw, seg->mcast_vtep);
    }
    if (seg->cfg.vlan) {
        sw->vlan_seg[seg->cfg.vlan] = 0;
    }
    u64_map_del(sw->seg_by_vni, seg->cfg.vni);
    segment_lists_free(seg);
    seg->in_use = false;
    return 0;
}

int vswitch_segment_find(const struct vswitch *sw, uint32_t vni, uint32_t *segment)
{
    return u64_map_get(sw->seg_by_vni, vni, segment) ? 0 : ENOENT;
}

const struct segment_config *vswitch_segment_get(const struct vswitch *sw, uint32_t segment)
{
    return segment_valid(sw, segment) ? &sw->segs[segment].cfg : NULL;
}

int vswitch_segment_counters(const struct vswitch *sw, uint32_t segment,
                             struct vswitch_counters *out)
{
    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    counters_sum(sw, COUNTERS_SEGMENT, segment, out);
    return 0;
}

void vswitch_get_stats(const struct vswitch *sw, struct vswitch_stats *out)
{
    *out = sw->stats;
    for (uint32_t i = 0; i < sw->n_workers; i++) {
        sum_u64((uint64_t *)out, (const uint64_t *)&sw->workers[i]->stats,
                sizeof *out / sizeof(uint64_t));
    }
}

/* ---- MAC table API --------------------------------------------------------- */

/* True when the port carries the segment: its access segment, or its VLAN on a trunk. */
static bool port_carries(const struct vswitch *sw, uint32_t port, uint32_t segment)
{
    const struct port_config *cfg = &sw->ports[port].cfg;
    uint16_t vlan = sw->segs[segment].cfg.vlan;

    if (cfg->mode == PORT_ACCESS) {
        return cfg->access_segment == segment;
    }
    return vlan && port_config_vlan_allowed(cfg, vlan);
}

int vswitch_mac_add_static(struct vswitch *sw, uint32_t segment, const struct eth_addr *mac,
                           uint32_t dest, uint32_t now)
{
    uint32_t replaced, one;
    int error;

    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    if (dest & MAC_DEST_VTEP) {
        if (!u64_map_get(sw->peer_set, peer_key(segment, dest & MAC_DEST_INDEX_MASK), &one)) {
            return ENOENT;
        }
    } else if (!port_valid(sw, dest) || !port_carries(sw, dest, segment)) {
        return ENOENT; /* a port outside the segment would leak its frames to another */
    }
    error =
        mac_table_add_static(sw->macs, segment, eth_addr_to_u64(mac->bytes), dest, now, &replaced);
    if (!error && replaced != UINT32_MAX && !(replaced & MAC_DEST_VTEP)) {
        sw->ports[replaced].mac_count--;
    }
    return error;
}

int vswitch_mac_del(struct vswitch *sw, uint32_t segment, const struct eth_addr *mac)
{
    const struct mac_entry *e = vswitch_mac_lookup(sw, segment, mac);

    if (!e) {
        return ENOENT;
    }
    mac_entry_gone(e, sw);
    mac_table_delete(sw->macs, segment, eth_addr_to_u64(mac->bytes));
    return 0;
}

const struct mac_entry *vswitch_mac_lookup(const struct vswitch *sw, uint32_t segment,
                                           const struct eth_addr *mac)
{
    return mac_table_lookup(sw->macs, segment, eth_addr_to_u64(mac->bytes));
}

uint32_t vswitch_age(struct vswitch *sw, uint32_t now)
{
    uint32_t n = mac_table_age(sw->macs, now, sw->cfg.mac_age_seconds, mac_entry_aged, sw);
    sw->stats.mac_aged += n;
    sw->stats.arp_aged += mac_table_age(sw->arps, now, sw->cfg.arp_age_seconds, NULL, NULL);
    return n;
}

void vswitch_mac_foreach(const struct vswitch *sw, mac_table_removed_fn *fn, void *ctx)
{
    mac_table_foreach(sw->macs, fn, ctx);
}

/* ---- ARP table API ---------------------------------------------------------- */

/* The ARP table key of an address, or 0 when the segment is unknown or the
 * address is not an IPv4 host address (which the table never holds). */
static uint64_t arp_key_of(const struct vswitch *sw, uint32_t segment, const struct ip_addr *ip)
{
    const uint8_t *b = ip->bytes + 12;
    uint32_t v4 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];

    return segment_valid(sw, segment) && ip_addr_is_v4(ip) && arp_ip_is_host(v4)
               ? arp_table_key(segment, v4)
               : 0;
}

int vswitch_arp_add_static(struct vswitch *sw, uint32_t segment, const struct ip_addr *ip,
                           const struct eth_addr *mac, uint32_t now)
{
    if (!segment_valid(sw, segment)) {
        return ENOENT;
    }
    uint64_t key = arp_key_of(sw, segment, ip);
    if (!key || eth_addr_is_multicast(mac->bytes) || eth_addr_is_zero(mac->bytes)) {
        return EINVAL;
    }
    return mac_table_add_static_key(sw->arps, key, eth_addr_to_u64(mac->bytes), now);
}

int vswitch_arp_del(struct vswitch *sw, uint32_t segment, const struct ip_addr *ip)
{
    return mac_table_delete_key(sw->arps, arp_key_of(sw, segment, ip)) ? 0 : ENOENT;
}

const struct mac_entry *vswitch_arp_lookup(const struct vswitch *sw, uint32_t segment,
                                           const struct ip_addr *ip)
{
    uint64_t key = arp_key_of(sw, segment, ip);
    return key ? mac_table_lookup_key(sw->arps, key) : NULL;
}

void vswitch_arp_foreach(const struct vswitch *sw, mac_table_removed_fn *fn, void *ctx)
{
    mac_table_foreach(sw->arps, fn, ctx);
}

/* ---- Data path ------------------------------------------------------------ */

/* The MAC address at mac as eth_addr_to_u64() gives it, in one 8-byte load:
 * the two bytes after the address are read too, so mac must be the
 * destination or the source of a whole Ethernet header. */
static inline uint64_t frame_mac(const uint8_t *mac)
{
    uint64_t v;

    memcpy(&v, mac, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v >> 16;
}

/* The group (multicast) bit of the first octet, in frame_mac()'s number. */
#define MAC_GROUP_BIT (1ull << 40)

/* Sets the flow hash that encapsulation takes the outer UDP source port (and
 * the IPv6 flow label) from. Frames are parsed without it
 * (frame_parse_headers()): most never leave through a VTEP, and those that do
 * get it here, once, before any copy is made. */
static inline void set_flow_hash(struct pkt *p)
{
    p->meta.flow_hash = frame_flow_hash(p);
}

static void drop_pkt(struct vswitch_worker *w, struct pkt *p, enum drop_reason reason,
                     struct vswitch_counters *port_ctr, struct vswitch_counters *seg_ctr)
{
    w->stats.total.drops[reason]++;
    if (port_ctr) {
        port_ctr->drops[reason]++;
    }
    if (seg_ctr) {
        seg_ctr->drops[reason]++;
    }
    pkt_pool_put(w->pool, p);
}

/* A frame longer than max_len may still pass when it is a super-frame whose
 * segments each fit (checked where a frame is too long, so never on the
 * ordinary path). */
static bool gso_fits(const struct pkt *p, uint32_t max_len)
{
    uint32_t seg = p->meta.ol.gso ? offload_gso_seg_len(p) : 0;
    return seg && seg <= max_len;
}

/* Frames with offloads pending before encapsulation: a partial checksum is
 * completed (the datagram leaves as it is); a super-frame stays whole for the
 * VTEP's socket to cut (vtep_io.h), if each of its datagrams fits the underlay. */
static enum drop_reason vtep_offload_prepare(struct pkt *p, uint32_t overhead,
                                             uint32_t underlay_mtu)
{
    struct offload_info *ol = &p->meta.ol;

    if (ol->gso) {
        uint32_t seg = offload_gso_seg_len(p);
        if (seg == 0) {
            return DROP_OFFLOAD_BAD;
        }
        return seg + overhead > underlay_mtu ? DROP_UNDERLAY_MTU : DROP_NONE;
    }
    enum drop_reason reason =
        offload_csum_complete(p->data, p->len, ol->csum_start, ol->csum_offset);
    ol->needs_csum = false;
    return reason;
}

/* True when out can take one more frame, flushing it first if the caller allows. */
static inline bool out_has_room(struct vswitch_out *out)
{
    if (WEFT_LIKELY(out->n < out->cap)) {
        return true;
    }
    if (out->flush) {
        out->flush(out);
    }
    return out->n < out->cap;
}

static inline bool out_push(struct vswitch_out *out, struct pkt *p, uint32_t dest)
{
    if (WEFT_UNLIKELY(!out_has_room(out))) {
        return false;
    }
    /* One load of the slot: stores through it could alias out (-fno-strict-aliasing). */
    struct vswitch_tx *slot = &out->tx[out->n++];
    slot->pkt = p;
    slot->dest = dest;
    return true;
}

static void count_tx(struct vswitch_worker *w, struct vswitch_counters *dst_ctr,
                     struct vs_segment *seg, uint32_t bytes, bool flood)
{
    /* Both addresses taken before the first store, which (-fno-strict-aliasing)
     * would otherwise make the compiler load w's fields again. */
    struct vswitch_counters *seg_ctr = &w->seg_ctr[seg->id];
    struct vswitch_counters *total = &w->stats.total;

    counters_add_packet(dst_ctr, false, bytes);
    counters_add_packet(seg_ctr, false, bytes);
    counters_add_packet(total, false, bytes);
    if (flood) {
        dst_ctr->flood_packets++;
        seg_ctr->flood_packets++;
        total->flood_packets++;
    }
}

/* Sends an (untagged, internal) frame out of a local port, tagging it if needed. */
static inline void emit_port(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                             uint32_t port_id, struct vs_segment *seg, bool flood)
{
    struct vswitch *sw = w->sw;
    struct vs_port *port = &sw->ports[port_id];
    const struct port_config *cfg = &port->cfg;
    bool tag = cfg->mode == PORT_TRUNK && seg->cfg.vlan != cfg->native_vlan;

    /* Tags still in the frame here are payload to the switch (a QinQ customer tag). */
    uint32_t max_len = cfg->mtu + ETH_HEADER_LEN + VLAN_HEADER_LEN * p->meta.n_tags;
    if (WEFT_UNLIKELY(p->len > max_len) && !gso_fits(p, max_len)) {
        drop_pkt(w, p, DROP_OVERSIZE, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    if (WEFT_UNLIKELY(!out_has_room(out))) {
        drop_pkt(w, p, DROP_TX_FULL, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    if (WEFT_UNLIKELY(tag)) {
        uint8_t *d = pkt_push(p, VLAN_HEADER_LEN);
        if (WEFT_UNLIKELY(!d)) {
            drop_pkt(w, p, DROP_NO_HEADROOM, NULL, &w->seg_ctr[seg->id]);
            return;
        }
        memmove(d, d + VLAN_HEADER_LEN, 2 * ETH_ADDR_LEN);
        write_be16(d + 12, cfg->tpid);
        write_be16(d + 14, (uint16_t)(p->meta.pcp << VLAN_PCP_SHIFT | seg->cfg.vlan));
        if (p->meta.ol.needs_csum) {
            p->meta.ol.csum_start = (uint16_t)(p->meta.ol.csum_start + VLAN_HEADER_LEN);
        }
    }
    /* Room was made above: the entry is written without checking again. */
    struct vswitch_tx *slot = &out->tx[out->n++];
    slot->pkt = p;
    slot->dest = port_id;
    count_tx(w, &w->port_ctr[port_id], seg, p->len, flood);
}

/* A frame from a local port too big for the underlay once encapsulated for
 * vtep: tells its sender, out of the ingress port (tagged as that port
 * wants), the largest IP packet that fits: the underlay MTU less the outer
 * headers of vtep's family and the frame's own Ethernet header (with any tag
 * that rides along). p is left to the caller, who drops it. */
WEFT_COLD static void pmtu_reply(struct vswitch_worker *w, struct vswitch_out *out,
                                 const struct pkt *p, const struct vs_vtep *vtep,
                                 struct vs_segment *seg)
{
    struct vswitch *sw = w->sw;
    uint32_t overhead = (uint32_t)vtep->tmpl.len + p->meta.l3_ofs;
    struct vs_port *port = &sw->ports[p->meta.in_port];

    if (sw->cfg.pmtu_icmp_rate == 0 || sw->cfg.underlay_mtu <= overhead ||
        !icmp_too_big_wanted(p, sw->cfg.underlay_mtu - overhead)) {
        return;
    }
    learn_lock(sw); /* the port's rate is shared by the workers */
    bool allowed = icmp_rate_take(&port->pmtu_rate, w->now, sw->cfg.pmtu_icmp_rate);
    learn_unlock(sw);
    if (!allowed) {
        w->stats.pmtu_icmp_ratelimited++;
        return;
    }
    struct pkt *icmp =
        icmp_too_big_make(w->pool, p, sw->cfg.underlay_mtu - overhead, port->cfg.mtu);
    if (!icmp) {
        return;
    }
    w->stats.pmtu_icmp_sent++;
    emit_port(w, out, icmp, p->meta.in_port, seg, false);
}

/* Encapsulates a frame for a remote VTEP (or the segment's multicast group),
 * with VXLAN flags beyond I when vxlan_flags asks (the replication marker). */
static void emit_vtep(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                      uint32_t vtep_id, struct vs_segment *seg, bool flood, uint8_t vxlan_flags)
{
    struct vswitch *sw = w->sw;
    struct vs_vtep *vtep = &sw->vteps[vtep_id];

    if (WEFT_UNLIKELY(!out_has_room(out))) {
        drop_pkt(w, p, DROP_TX_FULL, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    enum drop_reason reason = DROP_NONE;
    if (WEFT_UNLIKELY(p->meta.ol.gso || p->meta.ol.needs_csum)) {
        reason = vtep_offload_prepare(p, vtep->tmpl.len, sw->cfg.underlay_mtu);
    }
    if (WEFT_LIKELY(reason == DROP_NONE)) {
        reason = vxlan_encap_flags(p, &vtep->tmpl, seg->cfg.vni, sw->cfg.underlay_mtu, vxlan_flags);
    }
    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        /* Known unicast from a guest only: flooded copies are dropped silently. */
        if (reason == DROP_UNDERLAY_MTU && !flood && p->meta.in_port != PKT_PORT_OVERLAY) {
            pmtu_reply(w, out, p, vtep, seg);
        }
        drop_pkt(w, p, reason, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    out_push(out, p, VSWITCH_DEST_VTEP | vtep_id);
    count_tx(w, &w->vtep_ctr[vtep_id], seg, p->len, flood);
}

/* One destination of a frame: a local port, or a VTEP when VSWITCH_DEST_VTEP is
 * set (marked for proxy replication when DEST_REPLICATE is set too).
 * emit(), emit_port(), unicast() and learn() are marked inline because GCC's
 * own limits stopped inlining them into the per-packet path once this file
 * grew: that cost 60-80 instructions per 64-byte frame (bench_pipeline under
 * callgrind), and emit_port() out of line alone ~30 (its prologue and
 * epilogue). Inlining forward() or emit_vtep() as well costs more than it
 * saves (register pressure: +10 to +30 per frame, measured). */
static inline void emit(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                        uint32_t dest, struct vs_segment *seg, bool flood)
{
    if (dest & VSWITCH_DEST_VTEP) {
        emit_vtep(w, out, p, dest & MAC_DEST_INDEX_MASK, seg, flood,
                  dest & DEST_REPLICATE ? VXLAN_FLAG_REPLICATE : 0);
    } else {
        emit_port(w, out, p, dest, seg, flood);
    }
}

/* Sends a copy of p (which stays untouched) to each of dests. */
static void emit_clones(struct vswitch_worker *w, struct vswitch_out *out, const struct pkt *p,
                        const uint32_t *dests, uint32_t n, struct vs_segment *seg, bool flood)
{
    for (uint32_t i = 0; i < n; i++) {
        struct pkt *copy = pkt_pool_clone(w->pool, p);
        if (WEFT_UNLIKELY(!copy)) {
            w->stats.total.drops[DROP_NO_BUFFER]++;
            w->seg_ctr[seg->id].drops[DROP_NO_BUFFER]++;
            continue;
        }
        emit(w, out, copy, dests[i], seg, flood);
    }
}

/* Destinations of one flood, gathered in stack-sized chunks: a segment wider
 * than a chunk is sent chunk by chunk, so there is no allocation and no limit. */
#define FLOOD_CHUNK 64

struct flood_dests {
    uint32_t ids[FLOOD_CHUNK];
    uint32_t n;
    uint32_t sent; /* destinations already served from full chunks */
};

static void flood_add(struct vswitch_worker *w, struct vswitch_out *out, const struct pkt *p,
                      struct vs_segment *seg, struct flood_dests *fd, uint32_t dest)
{
    fd->ids[fd->n++] = dest;
    if (WEFT_UNLIKELY(fd->n == FLOOD_CHUNK)) {
        emit_clones(w, out, p, fd->ids, fd->n, seg, true);
        fd->sent += fd->n;
        fd->n = 0;
    }
}

/* Floods within the segment: every up member port but the ingress one, then,
 * for frames from a local port only (split horizon), the overlay as the
 * segment's mode says. The last destination gets the original buffer; the
 * others get copies. */
static void flood(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                  struct vs_segment *seg, uint32_t in_port)
{
    struct vswitch *sw = w->sw;
    struct flood_dests fd;

    fd.n = 0;
    fd.sent = 0;
    for (uint32_t i = 0; i < seg->ports.n; i++) {
        uint32_t q = seg->ports.ids[i];
        if (q != in_port && sw->ports[q].cfg.admin_up) {
            flood_add(w, out, p, seg, &fd, q);
        }
    }
    if (in_port != PKT_PORT_OVERLAY) {
        if (seg->cfg.bum == BUM_MULTICAST || seg->peers.n) {
            set_flow_hash(p); /* the copies inherit it */
        }
        if (seg->cfg.bum == BUM_MULTICAST) {
            flood_add(w, out, p, seg, &fd, VSWITCH_DEST_VTEP | seg->mcast_vtep);
        } else if (WEFT_UNLIKELY(seg->cfg.bum == BUM_PROXY)) {
            /* This subnet directly; each other subnet through its proxy. */
            for (uint32_t i = 0; i < seg->replicas.n; i++) {
                flood_add(w, out, p, seg, &fd, VSWITCH_DEST_VTEP | seg->replicas.ids[i]);
            }
            for (uint32_t i = 0; i < seg->proxies.n; i++) {
                flood_add(w, out, p, seg, &fd,
                          VSWITCH_DEST_VTEP | DEST_REPLICATE | seg->proxies.ids[i]);
            }
        } else {
            for (uint32_t i = 0; i < seg->peers.n; i++) {
                flood_add(w, out, p, seg, &fd, VSWITCH_DEST_VTEP | seg->peers.ids[i]);
            }
        }
    }
    if (fd.n == 0) {
        if (fd.sent) {
            pkt_pool_put(w->pool, p);
        } else {
            drop_pkt(w, p, DROP_NO_DESTINATION, NULL, &w->seg_ctr[seg->id]);
        }
        return;
    }
    emit_clones(w, out, p, fd.ids, fd.n - 1, seg, true);
    emit(w, out, p, fd.ids[fd.n - 1], seg, true);
}

/* Known unicast: copies to the segment's promiscuous ports first, then the
 * original. Inline: see emit(). */
static inline void unicast(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                           struct vs_segment *seg, uint32_t in_port, uint32_t dest)
{
    struct vswitch *sw = w->sw;
    for (uint32_t i = 0; WEFT_UNLIKELY(i < seg->promisc.n); i++) {
        uint32_t q = seg->promisc.ids[i];
        if (q != in_port && q != dest && sw->ports[q].cfg.admin_up) {
            emit_clones(w, out, p, &q, 1, seg, false);
        }
    }
    emit(w, out, p, dest, seg, false);
}

/* Looks the destination MAC up and sends the frame on. */
static void forward(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                    struct vs_segment *seg, uint32_t segment, uint32_t in_port)
{
    struct vswitch *sw = w->sw;
    uint64_t dst = frame_mac(p->data);

    if (dst & MAC_GROUP_BIT) {
        flood(w, out, p, seg, in_port);
        return;
    }
    const struct mac_entry *e = mac_table_lookup(sw->macs, segment, dst);
    if (!e) {
        flood(w, out, p, seg, in_port);
        return;
    }
    if (e->dest & MAC_DEST_VTEP) {
        if (WEFT_UNLIKELY(in_port == PKT_PORT_OVERLAY)) {
            drop_pkt(w, p, DROP_SPLIT_HORIZON, NULL, &w->seg_ctr[seg->id]);
            return;
        }
        set_flow_hash(p);
        unicast(w, out, p, seg, in_port, VSWITCH_DEST_VTEP | (e->dest & MAC_DEST_INDEX_MASK));
        return;
    }
    if (WEFT_UNLIKELY(e->dest == in_port)) {
        drop_pkt(w, p, DROP_HAIRPIN, in_port == PKT_PORT_OVERLAY ? NULL : &w->port_ctr[in_port],
                 &w->seg_ctr[seg->id]);
        return;
    }
    if (WEFT_UNLIKELY(!sw->ports[e->dest].cfg.admin_up)) {
        drop_pkt(w, p, DROP_PORT_DOWN, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    unicast(w, out, p, seg, in_port, e->dest);
}

/* learn()'s every case but the steady one, under the lock (the table's one
 * writer at a time, the MAC counts and the event ring with it). */
static enum drop_reason learn_change(struct vswitch_worker *w, uint32_t segment, uint64_t src,
                                     uint32_t dest, uint32_t now, struct vs_port *port)
{
    struct vswitch *sw = w->sw;
    enum drop_reason verdict = DROP_NONE;
    uint32_t old = 0;

    learn_lock(sw);
    if (port && port->cfg.mac_limit && port->mac_count >= port->cfg.mac_limit) {
        const struct mac_entry *e = mac_table_lookup(sw->macs, segment, src);
        if (!e || (e->dest != dest && !e->is_static)) {
            learn_unlock(sw);
            return DROP_MAC_LIMIT;
        }
    }
    switch (mac_table_learn(sw->macs, segment, src, dest, now, &old)) {
    case MAC_LEARN_REFRESHED: /* another worker learned it meanwhile */
    case MAC_LEARN_STATIC:
        break;
    case MAC_LEARN_NEW:
        w->stats.mac_learned++;
        if (port) {
            port->mac_count++;
            mac_event(sw, VSWITCH_EVENT_MAC_LEARNED, segment, src, dest, dest);
        }
        break;
    case MAC_LEARN_MOVED:
        w->stats.mac_moves++;
        if (!(old & MAC_DEST_VTEP)) {
            sw->ports[old].mac_count--;
        }
        if (port) {
            port->mac_count++;
        }
        /* A move between two VTEPs is the controller's news, not ours. */
        if (port || !(old & MAC_DEST_VTEP)) {
            mac_event(sw, VSWITCH_EVENT_MAC_MOVED, segment, src, dest, old);
        }
        break;
    case MAC_LEARN_FULL:
        w->stats.mac_table_full++;
        break;
    }
    learn_unlock(sw);
    return verdict;
}

/* Learns the source MAC of a frame at dest. Returns DROP_MAC_LIMIT when a
 * port at its limit would gain a new MAC, DROP_NONE otherwise (a full table
 * is not a drop: the frame is forwarded and the miss counted). Inline: see
 * emit(). */
static inline enum drop_reason learn(struct vswitch_worker *w, struct mac_table *macs,
                                     uint32_t segment, uint64_t src, uint32_t dest, uint32_t now,
                                     struct vs_port *port)
{
    /* The steady state, a known MAC at the same place: no lock. */
    if (WEFT_LIKELY(mac_table_refresh(macs, mac_table_key(segment, src), mac_table_dest_value(dest),
                                      now))) {
        return DROP_NONE;
    }
    return learn_change(w, segment, src, dest, now, port);
}

/* Learns ip -> mac from an ARP packet that came in on in_port (PKT_PORT_OVERLAY:
 * decapsulated); what a local port teaches becomes an event. */
static void arp_learn(struct vswitch_worker *w, uint32_t segment, uint32_t ip, uint64_t mac,
                      uint16_t in_port, uint32_t now)
{
    struct vswitch *sw = w->sw;
    uint64_t key = arp_table_key(segment, ip);
    uint64_t old = 0;

    if (mac_table_refresh(sw->arps, key, mac, now)) {
        return;
    }
    learn_lock(sw);
    switch (mac_table_learn_key(sw->arps, key, mac, now, &old)) {
    case MAC_LEARN_REFRESHED:
    case MAC_LEARN_STATIC:
        learn_unlock(sw);
        return;
    case MAC_LEARN_NEW:
        w->stats.arp_learned++;
        break;
    case MAC_LEARN_MOVED:
        w->stats.arp_changed++;
        break;
    case MAC_LEARN_FULL:
        w->stats.arp_table_full++;
        learn_unlock(sw);
        return;
    }
    if (in_port != PKT_PORT_OVERLAY) {
        struct vswitch_event ev = {
            .type = VSWITCH_EVENT_IP_LEARNED,
            .segment = segment,
            .port = in_port,
            .old_port = in_port,
        };
        uint8_t v4[4] = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
        ip_addr_set_v4(&ev.ip, v4);
        eth_addr_from_u64(mac, ev.mac.bytes);
        event_push(sw, &ev);
    }
    learn_unlock(sw);
}

/* ARP in a segment with suppression on (p untagged, parsed, of segment):
 * learns the sender's address (requests, replies and gratuitous ARP alike;
 * not from a port with learning off), then answers a request from a local
 * port for an address the table knows,
 * out of that port. Returns true when p became the answer; false when it is
 * to be forwarded as usual (unknown address, a request from the overlay,
 * whose sender's host has answered already, or a host announcing or probing
 * its own address). */
WEFT_COLD static bool arp_input(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                                struct vs_segment *seg, uint32_t segment, uint16_t in_port,
                                uint32_t now)
{
    struct vswitch *sw = w->sw;
    struct arp_fields a;

    arp_read(p->data + p->meta.l3_ofs, &a);
    /* A unicast MAC (group bit clear) for a host address: probes (sender
     * 0.0.0.0) and garbage teach nothing. */
    bool sender_ok = a.sha && !((a.sha >> 40) & 1) && arp_ip_is_host(a.spa);
    bool may_learn = in_port == PKT_PORT_OVERLAY || sw->ports[in_port].cfg.learning;
    if ((a.op == ARP_OP_REQUEST || a.op == ARP_OP_REPLY) && sender_ok && may_learn) {
        arp_learn(w, segment, a.spa, a.sha, in_port, now);
    }
    if (in_port == PKT_PORT_OVERLAY || a.op != ARP_OP_REQUEST || a.spa == a.tpa ||
        !arp_ip_is_host(a.tpa)) {
        return false;
    }
    const struct mac_entry *e = mac_table_lookup_key(sw->arps, arp_table_key(segment, a.tpa));
    if (!e || arp_entry_mac(e) == a.sha) {
        return false;
    }
    arp_make_reply(p, arp_entry_mac(e));
    w->stats.arp_suppressed++;
    emit(w, out, p, in_port, seg, false);
    return true;
}

/* Port security: the source MAC must be bound on the port, and an IPv4, ARP
 * or IPv6 source address must be one bound to that MAC (a binding without an
 * address allows any). Addresses a host uses before it has one are allowed:
 * 0.0.0.0 (DHCP, ARP probes, RFC 5227), :: (DAD) and IPv6 link-local. */
static enum drop_reason port_security_check(const struct port_config *cfg, const struct pkt *p)
{
    const uint8_t *d = p->data;
    const uint8_t *l3 = d + p->meta.l3_ofs;
    struct ip_addr src;
    bool mac_bound = false;

    switch (p->meta.eth_type) {
    case ETH_TYPE_IPV4:
        ip_addr_set_v4(&src, l3 + 12);
        break;
    case ETH_TYPE_ARP:
        if (memcmp(l3 + 8, d + 6, ETH_ADDR_LEN) != 0) {
            return DROP_PORT_SECURITY_MAC; /* ARP sender MAC differs from the frame's */
        }
        ip_addr_set_v4(&src, l3 + 14);
        break;
    case ETH_TYPE_IPV6:
        ip_addr_set_v6(&src, l3 + 8);
        if (ip_addr_is_zero(&src) || (src.bytes[0] == 0xfe && (src.bytes[1] & 0xc0) == 0x80)) {
            src = (struct ip_addr){0};
        }
        break;
    default:
        src = (struct ip_addr){0};
        break;
    }
    if (ip_addr_is_v4(&src) && !(src.bytes[12] | src.bytes[13] | src.bytes[14] | src.bytes[15])) {
        src = (struct ip_addr){0};
    }
    for (uint32_t i = 0; i < cfg->n_bindings; i++) {
        const struct port_binding *b = &cfg->bindings[i];
        if (memcmp(b->mac.bytes, d + 6, ETH_ADDR_LEN) != 0) {
            continue;
        }
        mac_bound = true;
        if (ip_addr_is_zero(&b->ip) || ip_addr_is_zero(&src) || ip_addr_equal(&b->ip, &src)) {
            return DROP_NONE;
        }
    }
    return mac_bound ? DROP_PORT_SECURITY_IP : DROP_PORT_SECURITY_MAC;
}

/* Finds the segment of a frame from a port (VST on access, VGT on trunks) and
 * says whether its outer tag is to be removed. */
static enum drop_reason classify(const struct vswitch *sw, const struct port_config *cfg,
                                 const struct pkt *p, uint32_t *segment, bool *strip)
{
    const struct pkt_meta *m = &p->meta;

    if (cfg->mode == PORT_ACCESS) {
        /* Untagged, or priority-tagged (VID 0, 802.1p only) frames only. */
        if (m->n_tags && (m->tag_tpid != ETH_TYPE_VLAN || m->vlan != 0)) {
            return DROP_VLAN_NOT_ALLOWED;
        }
        *strip = m->n_tags != 0;
        *segment = cfg->access_segment;
        return DROP_NONE;
    }
    /* A tag of another TPID than the trunk's is payload to this port. */
    bool tagged = m->n_tags && m->tag_tpid == cfg->tpid;
    uint16_t vlan = tagged && m->vlan ? m->vlan : cfg->native_vlan;
    if (vlan == 0 || vlan > VLAN_ID_MAX || !port_config_vlan_allowed(cfg, vlan)) {
        return DROP_VLAN_NOT_ALLOWED;
    }
    if (!sw->vlan_seg[vlan]) {
        return DROP_NO_SEGMENT;
    }
    *strip = tagged;
    *segment = sw->vlan_seg[vlan] - 1;
    return DROP_NONE;
}

/* Removes the outer tag in place: the MAC addresses move up 4 bytes. */
static void strip_tag(struct pkt *p)
{
    memmove(p->data + VLAN_HEADER_LEN, p->data, 2 * ETH_ADDR_LEN);
    pkt_pull(p, VLAN_HEADER_LEN);
    if (p->meta.ol.needs_csum) { /* otherwise it is 0 and means nothing */
        p->meta.ol.csum_start = (uint16_t)(p->meta.ol.csum_start - VLAN_HEADER_LEN);
    }
    p->meta.l3_ofs -= VLAN_HEADER_LEN;
    if (p->meta.l4_ofs) {
        p->meta.l4_ofs -= VLAN_HEADER_LEN;
    }
    p->meta.n_tags--;
}

/* What port_input_one() reads of its port for every frame, copied once per
 * batch (the configuration does not change during a call): in locals, the
 * values are not reloaded after each store to a frame, which the compiler
 * must otherwise assume may alias them (-fno-strict-aliasing). */
struct port_rx {
    struct vs_port *port;
    struct mac_table *macs;
    struct vswitch_counters *seg_ctr; /* the worker's, by segment */
    uint32_t max_len; /* cfg.mtu + ETH_HEADER_LEN: longer untagged frames are oversize */
    uint16_t id;
    bool learning;
    bool security;
};

static void port_input_one(struct vswitch_worker *w, const struct port_rx *rx, struct pkt *p,
                           uint32_t now, struct vswitch_out *out)
{
    struct vswitch *sw = w->sw;
    struct vs_port *port = rx->port;
    const struct port_config *cfg = &port->cfg;
    uint16_t port_id = rx->id;
    uint32_t segment;
    bool strip = false;
    enum drop_reason reason;

    p->meta.in_port = port_id;
    reason = frame_parse_headers(p);
    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        drop_pkt(w, p, reason, &w->port_ctr[port_id], NULL);
        return;
    }
    uint32_t max_len = rx->max_len + VLAN_HEADER_LEN * p->meta.n_tags;
    if (WEFT_UNLIKELY(p->len > max_len) && !gso_fits(p, max_len)) {
        drop_pkt(w, p, p->meta.ol.gso ? DROP_OFFLOAD_BAD : DROP_OVERSIZE, &w->port_ctr[port_id],
                 NULL);
        return;
    }
    uint64_t src = frame_mac(p->data + ETH_ADDR_LEN);
    if (WEFT_UNLIKELY((src & MAC_GROUP_BIT) || src == 0)) {
        drop_pkt(w, p, DROP_SRC_MAC_INVALID, &w->port_ctr[port_id], NULL);
        return;
    }
    reason = classify(sw, cfg, p, &segment, &strip);
    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        drop_pkt(w, p, reason, &w->port_ctr[port_id], NULL);
        return;
    }
    struct vs_segment *seg = &sw->segs[segment];
    counters_add_packet(&rx->seg_ctr[segment], true, p->len);
    if (WEFT_UNLIKELY(rx->security)) {
        reason = port_security_check(cfg, p);
        if (reason != DROP_NONE) {
            drop_pkt(w, p, reason, &w->port_ctr[port_id], &w->seg_ctr[seg->id]);
            return;
        }
    }
    if (WEFT_LIKELY(rx->learning)) {
        reason = learn(w, rx->macs, segment, src, MAC_DEST_PORT(port_id), now, port);
        if (WEFT_UNLIKELY(reason != DROP_NONE)) {
            drop_pkt(w, p, reason, &w->port_ctr[port_id], &w->seg_ctr[seg->id]);
            return;
        }
    }
    if (strip) {
        strip_tag(p);
    }
    p->meta.segment = segment;
    /* One compare on the fast path; a tag left here is payload (QinQ), not ours to read. */
    if (WEFT_UNLIKELY(p->meta.eth_type == ETH_TYPE_ARP) && seg->cfg.arp_suppression &&
        !p->meta.n_tags && arp_input(w, out, p, seg, segment, port_id, now)) {
        return;
    }
    forward(w, out, p, seg, segment, port_id);
}

void vswitch_worker_input_port(struct vswitch_worker *w, uint16_t port_id, struct pkt **pkts,
                               uint32_t n, uint32_t now, struct vswitch_out *out)
{
    struct vswitch *sw = w->sw;
    if (WEFT_UNLIKELY(!port_valid(sw, port_id))) {
        for (uint32_t i = 0; i < n; i++) {
            counters_add_packet(&w->stats.total, true, pkts[i]->len); /* "every frame in" */
            drop_pkt(w, pkts[i], DROP_PORT_DOWN, NULL, NULL);
        }
        return;
    }
    struct vs_port *port = &sw->ports[port_id];
    const struct port_config *cfg = &port->cfg;
    struct port_rx rx = {
        .port = port,
        .macs = sw->macs,
        .seg_ctr = w->seg_ctr,
        .max_len = cfg->mtu + ETH_HEADER_LEN,
        .id = port_id,
        .learning = cfg->learning,
        .security = cfg->port_security,
    };
    bool up = cfg->admin_up;
    uint64_t bytes = 0;
    w->now = now;
    for (uint32_t i = 0; i < n; i++) {
        struct pkt *p = pkts[i];
        if (i + 1 < n) {
            WEFT_PREFETCH(pkts[i + 1]->data);
        }
        bytes += p->len;
        if (WEFT_UNLIKELY(!up)) {
            p->meta.in_port = port_id;
            drop_pkt(w, p, DROP_PORT_DOWN, &w->port_ctr[port_id], NULL);
            continue;
        }
        port_input_one(w, &rx, p, now, out);
    }
    /* Every frame in counts, whatever became of it: once per batch. */
    w->port_ctr[port_id].rx_packets += n;
    w->port_ctr[port_id].rx_bytes += bytes;
    w->stats.total.rx_packets += n;
    w->stats.total.rx_bytes += bytes;
}

/* The last (sender, VNI) a batch accepted, as VPP's last-tunnel cache: the
 * datagrams of a batch mostly come from one VTEP for one VNI, and this saves
 * the three hash lookups (VNI, VTEP address, peer set) for all but the first.
 * It lives for one vswitch_input_vxlan() call, so configuration changes,
 * which happen between calls, never meet a stale entry. */
struct decap_cache {
    bool valid;
    uint32_t vni;
    struct ip_addr src;
    uint32_t segment;
    uint32_t vtep;
};

/* A frame marked for proxy replication, from peer sender, in a BUM_PROXY
 * segment: copies to the VTEPs of this host's subnet but the sender, unmarked
 * (so never replicated again), and the frame itself delivered here as any
 * from the overlay. When its destination is known behind a VTEP, there is
 * nothing to deliver here: the last copy takes the original buffer instead
 * of a drop being counted for a frame that did go on. */
static void proxy_input(struct vswitch_worker *w, struct vswitch_out *out, struct pkt *p,
                        struct vs_segment *seg, uint32_t segment, uint32_t sender)
{
    struct vswitch *sw = w->sw;
    const struct id_list *l = &seg->replicas;
    uint32_t last = UINT32_MAX; /* the last replica that is not the sender */
    bool local = true;

    set_flow_hash(p);
    for (uint32_t i = l->n; i-- > 0;) {
        if (l->ids[i] != sender) {
            last = i;
            break;
        }
    }
    if (!eth_addr_is_multicast(p->data)) {
        const struct mac_entry *e = mac_table_lookup(sw->macs, segment, eth_addr_to_u64(p->data));
        local = !e || !(e->dest & MAC_DEST_VTEP);
    }
    w->stats.proxy_replicated++;
    for (uint32_t i = 0; i < l->n; i++) {
        uint32_t dest = VSWITCH_DEST_VTEP | l->ids[i];
        if (l->ids[i] != sender && (local || i != last)) {
            emit_clones(w, out, p, &dest, 1, seg, true);
        }
    }
    if (!local && last != UINT32_MAX) {
        emit(w, out, p, VSWITCH_DEST_VTEP | l->ids[last], seg, true);
        return;
    }
    forward(w, out, p, seg, segment, PKT_PORT_OVERLAY);
}

/* The rest of vxlan_input_one() for ARP (learned from, in a suppression
 * segment; never answered) and for frames marked for proxy replication. */
WEFT_COLD static void vxlan_input_special(struct vswitch_worker *w, struct vswitch_out *out,
                                          struct pkt *p, struct vs_segment *seg, uint32_t segment,
                                          uint32_t sender, uint8_t flags, uint32_t now)
{
    if (p->meta.eth_type == ETH_TYPE_ARP && seg->cfg.arp_suppression && !p->meta.n_tags) {
        arp_input(w, out, p, seg, segment, PKT_PORT_OVERLAY, now);
    }
    if (flags & VXLAN_FLAG_REPLICATE) {
        if (seg->cfg.bum == BUM_PROXY) {
            proxy_input(w, out, p, seg, segment, sender);
            return;
        }
        w->stats.proxy_mark_ignored++;
    }
    forward(w, out, p, seg, segment, PKT_PORT_OVERLAY);
}

static void vxlan_input_one(struct vswitch_worker *w, struct pkt *p, uint32_t now,
                            struct vswitch_out *out, struct decap_cache *cache)
{
    struct vswitch *sw = w->sw;
    uint32_t vni, segment, vtep_id, one;
    uint8_t flags;
    enum drop_reason reason;

    counters_add_packet(&w->stats.total, true, p->len);
    reason = vxlan_decap_flags(p, &vni, &flags);
    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        drop_pkt(w, p, reason, NULL, NULL);
        return;
    }
    if (WEFT_LIKELY(cache->valid && cache->vni == vni &&
                    ip_addr_equal(&cache->src, &p->meta.outer_src))) {
        segment = cache->segment;
        vtep_id = cache->vtep;
    } else {
        if (WEFT_UNLIKELY(!u64_map_get(sw->seg_by_vni, vni, &segment))) {
            drop_pkt(w, p, DROP_VXLAN_UNKNOWN_VNI, NULL, NULL);
            return;
        }
        if (WEFT_UNLIKELY(vtep_lookup(sw, &p->meta.outer_src, &vtep_id) != 0 ||
                          !u64_map_get(sw->peer_set, peer_key(segment, vtep_id), &one))) {
            drop_pkt(w, p, DROP_VXLAN_UNKNOWN_VTEP, NULL, &w->seg_ctr[segment]);
            return;
        }
        cache->valid = true;
        cache->vni = vni;
        cache->src = p->meta.outer_src;
        cache->segment = segment;
        cache->vtep = vtep_id;
    }
    struct vs_segment *seg = &sw->segs[segment];
    counters_add_packet(&w->vtep_ctr[vtep_id], true, p->len);
    counters_add_packet(&w->seg_ctr[segment], true, p->len);
    reason = frame_parse_headers(p);
    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        drop_pkt(w, p, reason, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    if (WEFT_UNLIKELY(p->meta.n_tags && !seg->cfg.allow_inner_vlan)) {
        drop_pkt(w, p, DROP_VXLAN_INNER_VLAN, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    uint64_t src = frame_mac(p->data + ETH_ADDR_LEN);
    if (WEFT_UNLIKELY((src & MAC_GROUP_BIT) || src == 0)) {
        drop_pkt(w, p, DROP_SRC_MAC_INVALID, NULL, &w->seg_ctr[seg->id]);
        return;
    }
    learn(w, sw->macs, segment, src, MAC_DEST_REMOTE(vtep_id), now, NULL);
    p->meta.in_port = PKT_PORT_OVERLAY;
    p->meta.segment = segment;
    /* One test on the fast path for both rare cases. */
    if (WEFT_UNLIKELY((flags & VXLAN_FLAG_REPLICATE) || p->meta.eth_type == ETH_TYPE_ARP)) {
        vxlan_input_special(w, out, p, seg, segment, vtep_id, flags, now);
        return;
    }
    forward(w, out, p, seg, segment, PKT_PORT_OVERLAY);
}

void vswitch_worker_input_vxlan(struct vswitch_worker *w, struct pkt **pkts, uint32_t n,
                                uint32_t now, struct vswitch_out *out)
{
    struct decap_cache cache = {.valid = false};

    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            WEFT_PREFETCH(pkts[i + 1]->data);
        }
        vxlan_input_one(w, pkts[i], now, out, &cache);
    }
}

void vswitch_input_port(struct vswitch *sw, uint16_t port_id, struct pkt **pkts, uint32_t n,
                        uint32_t now, struct vswitch_out *out)
{
    vswitch_worker_input_port(sw->workers[0], port_id, pkts, n, now, out);
}

void vswitch_input_vxlan(struct vswitch *sw, struct pkt **pkts, uint32_t n, uint32_t now,
                         struct vswitch_out *out)
{
    vswitch_worker_input_vxlan(sw->workers[0], pkts, n, now, out);
}
