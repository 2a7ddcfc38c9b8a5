/*
 * vswitch.h - the forwarding core: segments, ports, VTEP peers and the
 * pipeline that moves frames between them.
 *
 * Pure: no I/O, no clock, no allocation per packet. Configuration calls
 * (segments, ports, peers, static MACs) may allocate and are made by the
 * thread that owns the switch; the per-packet entry points take a batch of
 * buffers and produce a batch of (buffer, destination) pairs for the I/O layer:
 *
 *   port rx ──> vswitch_input_port()  ─┐   parse -> port VLAN -> segment ->
 *   vtep rx ──> vswitch_input_vxlan() ─┤   port security -> learn -> [ARP] -> lookup ->
 *                                      └─> unicast | flood (clones from the pool)
 *                                          -> egress: tag/untag | VXLAN encap
 *
 * Every frame that goes out is complete: VLAN tags as the egress port wants
 * them, or the outer IP/UDP/VXLAN headers for the remote VTEP. Every frame
 * that is not sent is returned to the pool and counted under a drop reason.
 *
 * VLANs: a segment may carry a local VLAN id (like OVS's local VLANs on br-int,
 * or a port group's VLAN on a distributed switch). An access port belongs to one
 * segment and its guest sends untagged frames (VST); a trunk port carries the
 * VLANs of its allowed list, each mapped to the segment that has that VLAN,
 * with an optional native VLAN sent untagged (VGT). Inside the switch frames
 * are untagged and carry their segment in metadata.
 *
 * ARP suppression (per segment): an ARP request from a local port for an
 * address in the ARP table is answered by the switch, out of that port, and
 * goes no further; other requests are flooded, and ARP traffic (from ports and
 * from the overlay) teaches the table. IPv4 only: IPv6 neighbour discovery is
 * forwarded as any multicast.
 *
 * Events: what the switch learns on its local ports (MACs, IP -> MAC) is
 * queued in a bounded ring for the owner to report to the controller.
 *
 * Path MTU: a known-unicast frame from a local port that would exceed the
 * underlay MTU once encapsulated is dropped (underlay_mtu) and, when it is
 * IPv4 with DF or IPv6, answered out of its ingress port with an ICMP
 * fragmentation-needed / packet-too-big giving the largest IP packet that
 * fits (core/icmp.h), at most pmtu_icmp_rate per port per second. Flooded
 * copies and IPv4 without DF are only dropped; the switch never fragments.
 */
#ifndef WEFT_CORE_VSWITCH_H
#define WEFT_CORE_VSWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "core/mac_table.h"
#include "core/pkt.h"
#include "lib/ether.h"
#include "lib/ip_addr.h"

#define VSWITCH_MAX_PORTS      4096u
#define PORT_MAX_BINDINGS      8
#define PORT_DEFAULT_MTU       1500
#define MAC_DEFAULT_AGE        300
#define MAC_DEFAULT_CAPACITY   (1u << 20)
#define VSWITCH_EVENTS_DEFAULT 4096
#define VSWITCH_EVENTS_MAX     (1u << 20)
#define VSWITCH_MAX_WORKERS    64

struct vswitch;
/* A thread of the data path: its buffer pool and its own counters (summed by
 * the *_counters() and vswitch_get_stats() readers). See "Workers" below. */
struct vswitch_worker;

struct vswitch_config {
    uint32_t max_segments;      /* <= MAC_TABLE_MAX_SEGMENTS */
    uint32_t mac_capacity;      /* entries in the MAC table, all segments together */
    uint32_t mac_age_seconds;   /* learned entries unseen this long are removed */
    struct ip_addr local_vtep4; /* underlay source address for IPv4 peers (zero: none) */
    struct ip_addr local_vtep6; /* underlay source address for IPv6 peers (zero: none) */
    uint16_t vxlan_port;        /* UDP destination port, 4789 (8472 for old Linux peers) */
    uint32_t underlay_mtu;      /* largest outer IP datagram the underlay carries */
    bool udp_checksum_v4;       /* compute the outer UDP checksum over IPv4 (IPv6 always) */
    uint32_t arp_capacity;      /* entries in the ARP table, all segments together */
    uint32_t arp_age_seconds;   /* learned IP -> MAC entries unseen this long are removed */
    uint32_t event_capacity;    /* learn events held until drained, 1 .. VSWITCH_EVENTS_MAX */
    uint32_t pmtu_icmp_rate;    /* too-big ICMP errors per port per second, 0 = never sent */
};

/* Defaults: 4096 segments, 1M MACs, 300 s aging, port 4789, underlay MTU 1500,
 * 64K ARP entries aged after 300 s, 4096 events, 100 too-big errors per port
 * per second. */
void vswitch_config_default(struct vswitch_config *cfg);

/* Creates a switch whose flood copies come from pool, and whose drops go back to it.
 * Returns NULL on an invalid config (*error gets EINVAL) or ENOMEM. */
struct vswitch *vswitch_create(const struct vswitch_config *cfg, struct pkt_pool *pool, int *error);
void vswitch_destroy(struct vswitch *sw);
const struct vswitch_config *vswitch_get_config(const struct vswitch *sw);

/* ---- Segments ------------------------------------------------------------ */

enum bum_replication {
    BUM_HEAD_END,  /* one unicast copy per remote VTEP of the segment */
    BUM_MULTICAST, /* one copy to the segment's underlay multicast group */
    /* NSX's "unicast" mode: plain copies to the VTEPs of this host's underlay
     * subnet, and one copy per remote subnet to a proxy VTEP there, marked
     * (VXLAN_FLAG_REPLICATE) so that it replicates the frame to its own subnet.
     * The controller sets both lists: vswitch_segment_replication_set(). */
    BUM_PROXY,
};

struct segment_config {
    uint32_t vni;               /* 1 .. 0xffffff */
    uint16_t vlan;              /* local VLAN id for trunk ports, 0 = none */
    enum bum_replication bum;   /* how broadcast/unknown/multicast leave the host */
    struct ip_addr mcast_group; /* BUM_MULTICAST: the group */
    bool allow_inner_vlan;      /* accept decapsulated frames that carry a VLAN tag */
    bool arp_suppression;       /* answer ARP requests for known addresses at the first host */
};

/* Adds a segment; *segment gets its index. Errors: EINVAL (VNI out of range, VLAN > 4094,
 * multicast mode without a multicast group), EEXIST (VNI or VLAN already used), ENOSPC. */
int vswitch_segment_add(struct vswitch *sw, const struct segment_config *cfg, uint32_t *segment);
/* Changes a segment's parameters in place (VLAN, replication mode and group,
 * ARP suppression, inner VLANs); its ports, peers and tables stay. The VNI
 * cannot change. Errors: ENOENT, EINVAL (as vswitch_segment_add(), or another
 * VNI), EEXIST (the VLAN is another segment's), ENOSPC (no VTEP for the group). */
int vswitch_segment_change(struct vswitch *sw, uint32_t segment, const struct segment_config *cfg);
/* Removes a segment, its peers and its MAC entries. EBUSY while an access port is on it;
 * trunk ports simply stop carrying its VLAN. ENOENT if there is no such segment. */
int vswitch_segment_del(struct vswitch *sw, uint32_t segment);
/* Finds the segment of a VNI: 0 or ENOENT. */
int vswitch_segment_find(const struct vswitch *sw, uint32_t vni, uint32_t *segment);
const struct segment_config *vswitch_segment_get(const struct vswitch *sw, uint32_t segment);

/* ---- Ports --------------------------------------------------------------- */

enum port_vlan_mode {
    PORT_ACCESS, /* untagged guest; the switch puts it on access_segment */
    PORT_TRUNK,  /* tagged guest or uplink; allowed_vlans select the segments */
};

struct port_binding {
    struct eth_addr mac;
    struct ip_addr ip; /* zero: any address from this MAC */
};

struct port_config {
    bool admin_up;
    enum port_vlan_mode mode;
    uint32_t access_segment;    /* PORT_ACCESS */
    uint8_t allowed_vlans[512]; /* PORT_TRUNK: bitmap of VLANs 1..4094 */
    uint16_t native_vlan;       /* PORT_TRUNK: untagged frames belong here, 0 = drop them */
    uint16_t tpid;              /* PORT_TRUNK: 0x8100 (802.1Q) or 0x88a8 (802.1ad) */
    uint32_t mtu;               /* largest L3 payload of a frame; tags come on top */
    bool learning;              /* learn source MACs (many MACs behind one port allowed) */
    uint32_t mac_limit;         /* most MACs learned on this port, 0 = no limit */
    bool promiscuous;           /* gets a copy of every frame of its segments */
    bool port_security;         /* only sources in bindings[] may send */
    uint32_t n_bindings;
    struct port_binding bindings[PORT_MAX_BINDINGS];
};

/* Defaults: up, access, learning on, no limit, MTU 1500, TPID 0x8100. */
void port_config_default(struct port_config *cfg);
static inline void port_config_allow_vlan(struct port_config *cfg, uint16_t vlan)
{
    cfg->allowed_vlans[vlan / 8] |= (uint8_t)(1u << (vlan % 8));
}
static inline bool port_config_vlan_allowed(const struct port_config *cfg, uint16_t vlan)
{
    return cfg->allowed_vlans[vlan / 8] & (1u << (vlan % 8));
}

/* Adds a port; *port gets its id (< VSWITCH_MAX_PORTS). EINVAL with a bad config (no such
 * access segment, bad TPID, native VLAN not allowed, MTU out of 68..65535, too many
 * bindings), ENOSPC when every id is used. */
int vswitch_port_add(struct vswitch *sw, const struct port_config *cfg, uint16_t *port);
/* Replaces a port's configuration; the MACs learned on it are flushed when its segments
 * change. Errors as vswitch_port_add(), ENOENT for an unknown port. */
int vswitch_port_set(struct vswitch *sw, uint16_t port, const struct port_config *cfg);
/* Removes a port and the MAC entries pointing at it. */
int vswitch_port_del(struct vswitch *sw, uint16_t port);
const struct port_config *vswitch_port_get(const struct vswitch *sw, uint16_t port);
/* MACs currently learned on the port (what the MAC limit counts). */
uint32_t vswitch_port_mac_count(const struct vswitch *sw, uint16_t port);

/* ---- Remote VTEPs -------------------------------------------------------- */

/* Makes remote a peer of the segment (head-end flooding target, accepted source).
 * *vtep (may be NULL) gets the VTEP's id. EEXIST if already a peer, EINVAL for a
 * multicast or zero address, EAFNOSUPPORT without a local address of its family. */
int vswitch_segment_peer_add(struct vswitch *sw, uint32_t segment, const struct ip_addr *remote,
                             uint32_t *vtep);
/* Removes the peer and the segment's MACs learned behind it, and takes it off the
 * segment's replication lists. ENOENT if not a peer. */
int vswitch_segment_peer_del(struct vswitch *sw, uint32_t segment, const struct ip_addr *remote);
/* The peers of a segment: fills up to max ids, returns how many there are. */
uint32_t vswitch_segment_peers(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                               uint32_t max);
/* The address of a VTEP id (a peer or a multicast group), or NULL. */
const struct ip_addr *vswitch_vtep_addr(const struct vswitch *sw, uint32_t vtep);
/* Looks a VTEP up by address: 0 or ENOENT. */
int vswitch_vtep_find(const struct vswitch *sw, const struct ip_addr *addr, uint32_t *vtep);

/* BUM_PROXY replication targets of a segment, chosen by the controller (which
 * calls again when a proxy goes away). proxies: one VTEP per remote underlay
 * subnet; a frame flooded from a local port goes to each, marked. replicas:
 * the VTEPs of this host's own subnet; a flooded frame from a local port goes
 * to each, unmarked, and so does a marked frame from the overlay (except back
 * to its sender): this host is then the proxy for its subnet. Replaces both
 * lists; every address must be a peer of the segment, and appear once in the
 * two lists together. Allowed in any mode, used in BUM_PROXY only. Removing a
 * peer takes it off the lists. Errors: ENOENT (segment unknown, or an address
 * that is not a peer), EINVAL (an address listed twice), ENOMEM. */
int vswitch_segment_replication_set(struct vswitch *sw, uint32_t segment,
                                    const struct ip_addr *proxies, uint32_t n_proxies,
                                    const struct ip_addr *replicas, uint32_t n_replicas);
/* The lists as VTEP ids: fill up to max, return how many there are. */
uint32_t vswitch_segment_proxies(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                                 uint32_t max);
uint32_t vswitch_segment_replicas(const struct vswitch *sw, uint32_t segment, uint32_t *vteps,
                                  uint32_t max);

/* ---- MAC table ----------------------------------------------------------- */

/* Adds a static entry: dest is MAC_DEST_PORT(port) or MAC_DEST_REMOTE(vtep), where the
 * VTEP must be a peer of the segment. Errors: ENOENT (segment, port or peer unknown),
 * EINVAL (zero or multicast MAC), ENOSPC (table full). */
int vswitch_mac_add_static(struct vswitch *sw, uint32_t segment, const struct eth_addr *mac,
                           uint32_t dest, uint32_t now);
/* Removes an entry, static or learned. ENOENT if absent. */
int vswitch_mac_del(struct vswitch *sw, uint32_t segment, const struct eth_addr *mac);
/* Looks an entry up; NULL if absent. Valid until the next change to the switch. */
const struct mac_entry *vswitch_mac_lookup(const struct vswitch *sw, uint32_t segment,
                                           const struct eth_addr *mac);
/* Removes learned MAC entries older than the configured age; returns how many.
 * Ages the ARP table too (stats.arp_aged counts those). */
uint32_t vswitch_age(struct vswitch *sw, uint32_t now);
/* Calls fn for each entry of the MAC table. */
void vswitch_mac_foreach(const struct vswitch *sw, mac_table_removed_fn *fn, void *ctx);

/* ---- ARP table ----------------------------------------------------------- */

/* Entries are struct mac_entry: arp_entry_ip() and arp_entry_mac() (core/arp.h)
 * read them, mac_entry_segment() gives the segment. */

/* Adds or replaces a static entry (the controller's; never overridden by
 * learning, never aged). Errors: ENOENT (segment), EINVAL (ip not an IPv4 host
 * address, mac zero or multicast), ENOSPC (table full). */
int vswitch_arp_add_static(struct vswitch *sw, uint32_t segment, const struct ip_addr *ip,
                           const struct eth_addr *mac, uint32_t now);
/* Removes an entry, static or learned. ENOENT if absent. */
int vswitch_arp_del(struct vswitch *sw, uint32_t segment, const struct ip_addr *ip);
/* Looks an entry up; NULL if absent. Valid until the next change to the switch. */
const struct mac_entry *vswitch_arp_lookup(const struct vswitch *sw, uint32_t segment,
                                           const struct ip_addr *ip);
/* Calls fn for each entry of the ARP table. */
void vswitch_arp_foreach(const struct vswitch *sw, mac_table_removed_fn *fn, void *ctx);

/* ---- Learn events -------------------------------------------------------- */

enum vswitch_event_type {
    VSWITCH_EVENT_MAC_LEARNED, /* a new MAC on a local port: segment, mac, port */
    VSWITCH_EVENT_MAC_MOVED,   /* a learned MAC moved to or from a local port: segment, mac,
                                * port (where it is now) and old_port (where it was), either
                                * PKT_PORT_OVERLAY for "behind a remote VTEP" */
    VSWITCH_EVENT_MAC_AGED,    /* a MAC learned on a local port timed out: segment, mac, port */
    VSWITCH_EVENT_IP_LEARNED,  /* ARP from a local port taught ip -> mac, new or changed:
                                * segment, ip, mac, port (where the ARP came in) */
};

struct vswitch_event {
    enum vswitch_event_type type;
    uint32_t segment;
    uint16_t port;     /* a local port id, or PKT_PORT_OVERLAY */
    uint16_t old_port; /* VSWITCH_EVENT_MAC_MOVED: where it was; otherwise = port */
    struct eth_addr mac;
    struct ip_addr ip; /* VSWITCH_EVENT_IP_LEARNED: IPv4; otherwise zero */
};

/* Moves up to max queued events, oldest first, into events; returns how many.
 * Only learning on local ports makes events (what is behind remote VTEPs is
 * the controller's to say). When the ring is full new events are lost and
 * counted: *lost (may be NULL) gets how many since the last call that
 * reported them (also in stats.events_lost). After a loss the owner should
 * drain, then resync from vswitch_mac_foreach() and vswitch_arp_foreach(). */
uint32_t vswitch_events_drain(struct vswitch *sw, struct vswitch_event *events, uint32_t max,
                              uint64_t *lost);

/* ---- Counters ------------------------------------------------------------ */

/* Aligned to cache lines: the workers' arrays of them never share a line,
 * and an array index costs a shift and an add rather than a multiply. */
struct vswitch_counters {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t flood_packets; /* of tx: copies made by flooding */
    uint64_t drops[DROP_REASON_COUNT];
} __attribute__((aligned(64)));

struct vswitch_stats {
    struct vswitch_counters total;  /* rx: every frame in; drops: every drop by reason */
    uint64_t mac_learned;           /* new entries learned */
    uint64_t mac_moves;             /* learned entries that moved port<->port or port<->VTEP */
    uint64_t mac_aged;              /* entries removed by aging */
    uint64_t mac_table_full;        /* sources not learned because the table was full */
    uint64_t arp_suppressed;        /* ARP requests answered by the switch */
    uint64_t arp_learned;           /* new IP -> MAC entries learned */
    uint64_t arp_changed;           /* learned entries whose MAC changed (gratuitous ARP) */
    uint64_t arp_aged;              /* learned entries removed by aging */
    uint64_t arp_table_full;        /* addresses not learned because the table was full */
    uint64_t events_lost;           /* learn events lost to a full ring */
    uint64_t proxy_replicated;      /* marked frames this host replicated to its subnet */
    uint64_t proxy_mark_ignored;    /* marked frames of a segment not in BUM_PROXY mode */
    uint64_t pmtu_icmp_sent;        /* ICMP frag-needed / packet-too-big sent to local guests */
    uint64_t pmtu_icmp_ratelimited; /* ... not sent: the port's rate limit was reached */
};

int vswitch_port_counters(const struct vswitch *sw, uint16_t port, struct vswitch_counters *out);
int vswitch_segment_counters(const struct vswitch *sw, uint32_t segment,
                             struct vswitch_counters *out);
/* rx: datagrams from this VTEP, tx: datagrams to it (drops unused). */
int vswitch_vtep_counters(const struct vswitch *sw, uint32_t vtep, struct vswitch_counters *out);
void vswitch_get_stats(const struct vswitch *sw, struct vswitch_stats *out);

/* ---- Workers ------------------------------------------------------------- */

/* Several threads may run the data path of one switch at once, each as a
 * worker with its own pool and counters (no counter line is written by two
 * threads). The tables are read without locks; what the data path writes to
 * shared state (a new or moved MAC or ARP entry, the event ring, a port's
 * too-big rate) is serialized by one lock taken only then, never for a
 * known MAC. Every other call of this header (configuration, aging, static
 * entries, table walks that keep pointers) must run while no worker is inside
 * vswitch_worker_input_*(): the owner pauses its workers around them. The
 * readers of counters and vswitch_events_drain() may run at any time.
 * A switch is created with worker 0 (the pool given to vswitch_create()). */

/* Adds a worker taking buffers from pool; NULL when VSWITCH_MAX_WORKERS
 * exist or on ENOMEM. Call before the data path runs on it. */
struct vswitch_worker *vswitch_worker_add(struct vswitch *sw, struct pkt_pool *pool);
/* Worker i (0 .. vswitch_worker_count() - 1). */
struct vswitch_worker *vswitch_worker_get(struct vswitch *sw, uint32_t i);
uint32_t vswitch_worker_count(const struct vswitch *sw);
/* What worker w alone has counted (vswitch_get_stats() sums them all, and the
 * control path's own counts): how the load spreads over the workers. */
void vswitch_worker_stats(const struct vswitch_worker *w, struct vswitch_stats *out);

/* ---- Data path ----------------------------------------------------------- */

/* A destination in a vswitch_tx: a port id, or VSWITCH_DEST_VTEP | VTEP id. */
#define VSWITCH_DEST_VTEP 0x80000000u

struct vswitch_tx {
    struct pkt *pkt; /* owned by the caller from now on */
    uint32_t dest;
};

struct vswitch_out {
    struct vswitch_tx *tx; /* caller's array */
    uint32_t cap;          /* its size */
    uint32_t n;            /* filled by the switch (appended to: reset it per batch) */
    /* Optional: called when the array is full, to send and release what is in it
     * and reset n. Without it, frames beyond cap are dropped (DROP_TX_FULL). */
    void (*flush)(struct vswitch_out *out);
    void *ctx; /* for flush */
};

/* Frames received on a local port, on worker w. Each buffer is owned by the switch from
 * the call on: it ends up in out or back in w's pool. now is in seconds (the MAC table's
 * clock). */
void vswitch_worker_input_port(struct vswitch_worker *w, uint16_t port, struct pkt **pkts,
                               uint32_t n, uint32_t now, struct vswitch_out *out);
/* VXLAN datagrams, on worker w: each buffer holds the UDP payload (the VXLAN header
 * first) with meta.outer_src set to the sender's underlay address. */
void vswitch_worker_input_vxlan(struct vswitch_worker *w, struct pkt **pkts, uint32_t n,
                                uint32_t now, struct vswitch_out *out);
/* The same on worker 0, for a switch run by one thread. */
void vswitch_input_port(struct vswitch *sw, uint16_t port, struct pkt **pkts, uint32_t n,
                        uint32_t now, struct vswitch_out *out);
void vswitch_input_vxlan(struct vswitch *sw, struct pkt **pkts, uint32_t n, uint32_t now,
                         struct vswitch_out *out);

#endif
