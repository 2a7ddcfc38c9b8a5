/*
 * fuzz_common.c - the switch the fuzz harnesses drive and the invariants they
 * check after every record of an input (see fuzz_common.h for the format).
 *
 * The switch:
 *
 *   local VTEPs 192.0.2.100 and 2001:db8::100, underlay MTU 1400, outer UDP
 *   checksums on IPv4 too, MAC table of 8 entries (5 static) aged after 5 s,
 *   ARP table of 4 entries (1 static) aged after 5 s, 8 learn events.
 *
 *   S0  VNI 100 VLAN 10  head-end  peers 192.0.2.1, 192.0.2.2, 2001:db8::1;
 *                        ARP suppression
 *   S1  VNI 200 VLAN 20  proxy     peers 192.0.2.1 (proxy), 192.0.2.2 and
 *                        2001:db8::1 (this host's subnet); inner VLAN tags allowed
 *   S2  VNI 300 no VLAN  multicast 239.1.1.1, peer 192.0.2.2
 *   S3  VNI 400 VLAN 30  head-end  no peer, one member (P3): floods go nowhere
 *
 *   P0 access S0                  P5 access S1, promiscuous, learning off
 *   P1 access S0, port security   P6 access S2, MTU 200
 *   P2 trunk 10,20 native 10      P7 access S0, admin down
 *   P3 trunk 802.1ad 20,30,       P8 access S2
 *      promiscuous                P9 trunk 20,40 (40: no segment), no native,
 *                                    MTU 9000
 *   P4 access S1, MAC limit 2
 *
 *   static MACs: S0 02:00:00:00:00:aa -> 192.0.2.1, 02:00:00:00:00:bb -> P0,
 *                S0 02:00:00:00:00:cc -> 2001:db8::1, 02:00:00:00:00:dd -> P7,
 *                S2 02:00:00:00:00:ee -> 192.0.2.2
 *   static ARP:  S0 10.0.0.11 -> 02:00:00:00:00:bb
 *   port security on P1: 02:00:00:00:00:01 with 10.0.0.1,
 *                        02:00:00:00:00:02 with any address,
 *                        02:00:00:00:00:03 with 2001:db8:1::3
 *
 * Invariants checked (a failure aborts, which libFuzzer reports as a crash):
 *   - every output buffer lies within its buffer, appears once, and goes to a
 *     configured, up port other than the ingress one (unless it is the ARP
 *     table's answer to a request from that port), or to a VTEP of its segment
 *     (for a frame from the overlay, only to this subnet's VTEPs of a proxy
 *     segment, unmarked);
 *   - port outputs fit the port's MTU and carry the trunk tag they should;
 *   - VTEP outputs are well-formed IPv4/IPv6 + UDP + VXLAN with the right
 *     lengths, addresses, VNI and checksums, within the underlay MTU, and the
 *     replication marker only on copies from a local port to a proxy;
 *   - the pool holds as many free buffers after each record as before;
 *   - tx counters grow by the number of outputs, and nothing vanishes
 *     (tx + drops >= inputs);
 *   - decapsulation: each datagram is taken by the segment of its VNI when its
 *     sender is a peer of that segment, and dropped as unknown VNI / unknown
 *     VTEP otherwise (per-segment rx and per-reason drop counters);
 *   - MAC table: entries point at valid destinations of their segment, learned
 *     entries are younger than the aging time, on ports that learn, behind
 *     port security's bindings, per-port counts match the table, MAC limits hold;
 *   - ARP table: entries of known segments, host addresses to unicast MACs,
 *     learned ones younger than the aging time and in suppression segments only;
 *   - learn events: of known segments and unicast MACs, about local ports, IP
 *     events for host addresses of suppression segments; losses are counted.
 */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "core/parse.h"
#include "core/vxlan.h"
#include "lib/checksum.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define FUZZ_HAVE_ASAN 1
#endif
#endif
#ifndef FUZZ_HAVE_ASAN
#define ASAN_POISON_MEMORY_REGION(addr, size)   ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

#define FUZZ_CLOCK_START 1000

#define FUZZ_CHECK(cond, ...)                                                                   \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static void parse_ip(const char *text, struct ip_addr *a)
{
    if (ip_addr_parse(text, a) != 0) {
        fprintf(stderr, "fuzz: bad address %s\n", text);
        abort();
    }
}

static struct eth_addr mac_n(uint8_t last)
{
    struct eth_addr m = {{0x02, 0, 0, 0, 0, last}};
    return m;
}

static void must(int error, const char *what)
{
    if (error) {
        fprintf(stderr, "fuzz: setting up the switch: %s: error %d\n", what, error);
        abort();
    }
}

static void add_peer(struct fuzz_switch *fs, unsigned seg, const char *addr)
{
    struct ip_addr a;
    parse_ip(addr, &a);
    must(vswitch_segment_peer_add(fs->sw, fs->segs[seg], &a, NULL), addr);
}

static void add_static(struct fuzz_switch *fs, unsigned seg, uint8_t last, uint32_t dest)
{
    struct eth_addr m = mac_n(last);
    must(vswitch_mac_add_static(fs->sw, fs->segs[seg], &m, dest, fs->now), "static MAC");
}

static uint32_t remote(struct fuzz_switch *fs, const char *addr)
{
    struct ip_addr a;
    uint32_t id;
    parse_ip(addr, &a);
    must(vswitch_vtep_find(fs->sw, &a, &id), addr);
    return MAC_DEST_REMOTE(id);
}

static void build(struct fuzz_switch *fs)
{
    struct vswitch_config cfg;
    struct segment_config sc;
    struct port_config pc;
    int error = 0;

    fs->now = FUZZ_CLOCK_START;
    fs->pool = pkt_pool_create(FUZZ_POOL_SIZE, PKT_DEFAULT_DATA_ROOM);
    FUZZ_CHECK(fs->pool, "no memory for the pool");
    vswitch_config_default(&cfg);
    cfg.max_segments = 8;
    cfg.mac_capacity = FUZZ_MAC_CAP;
    cfg.mac_age_seconds = FUZZ_MAC_AGE;
    cfg.underlay_mtu = FUZZ_UNDERLAY;
    cfg.udp_checksum_v4 = true;
    cfg.arp_capacity = FUZZ_ARP_CAP;
    cfg.arp_age_seconds = FUZZ_MAC_AGE;
    cfg.event_capacity = FUZZ_EVENT_CAP;
    parse_ip("192.0.2.100", &cfg.local_vtep4);
    parse_ip("2001:db8::100", &cfg.local_vtep6);
    fs->sw = vswitch_create(&cfg, fs->pool, &error);
    must(fs->sw ? 0 : error, "vswitch_create");

    static const struct {
        uint32_t vni;
        uint16_t vlan;
        enum bum_replication bum;
        bool inner_vlan, arp;
    } segs[FUZZ_N_SEGMENTS] = {{100, 10, BUM_HEAD_END, false, true},
                               {200, 20, BUM_PROXY, true, false},
                               {300, 0, BUM_MULTICAST, false, false},
                               {400, 30, BUM_HEAD_END, false, false}};
    for (unsigned i = 0; i < FUZZ_N_SEGMENTS; i++) {
        memset(&sc, 0, sizeof sc);
        sc.vni = segs[i].vni;
        sc.vlan = segs[i].vlan;
        sc.bum = segs[i].bum;
        sc.allow_inner_vlan = segs[i].inner_vlan;
        sc.arp_suppression = segs[i].arp;
        if (sc.bum == BUM_MULTICAST) {
            parse_ip("239.1.1.1", &sc.mcast_group);
        }
        must(vswitch_segment_add(fs->sw, &sc, &fs->segs[i]), "segment");
    }
    add_peer(fs, 0, "192.0.2.1");
    add_peer(fs, 0, "192.0.2.2");
    add_peer(fs, 0, "2001:db8::1");
    add_peer(fs, 1, "192.0.2.1");
    add_peer(fs, 1, "192.0.2.2");
    add_peer(fs, 1, "2001:db8::1");
    add_peer(fs, 2, "192.0.2.2");
    struct ip_addr proxy, replicas[2];
    parse_ip("192.0.2.1", &proxy);
    parse_ip("192.0.2.2", &replicas[0]);
    parse_ip("2001:db8::1", &replicas[1]);
    must(vswitch_segment_replication_set(fs->sw, fs->segs[1], &proxy, 1, replicas, 2),
         "replication lists");

    for (unsigned i = 0; i < FUZZ_N_PORTS; i++) {
        port_config_default(&pc);
        switch (i) {
        case 0:
            pc.access_segment = fs->segs[0];
            break;
        case 1:
            pc.access_segment = fs->segs[0];
            pc.port_security = true;
            pc.n_bindings = 3;
            pc.bindings[0].mac = mac_n(1);
            parse_ip("10.0.0.1", &pc.bindings[0].ip);
            pc.bindings[1].mac = mac_n(2);
            pc.bindings[2].mac = mac_n(3);
            parse_ip("2001:db8:1::3", &pc.bindings[2].ip);
            break;
        case 2:
            pc.mode = PORT_TRUNK;
            port_config_allow_vlan(&pc, 10);
            port_config_allow_vlan(&pc, 20);
            pc.native_vlan = 10;
            break;
        case 3:
            pc.mode = PORT_TRUNK;
            pc.tpid = 0x88a8;
            port_config_allow_vlan(&pc, 20);
            port_config_allow_vlan(&pc, 30);
            pc.promiscuous = true;
            break;
        case 4:
            pc.access_segment = fs->segs[1];
            pc.mac_limit = 2;
            break;
        case 5:
            pc.access_segment = fs->segs[1];
            pc.promiscuous = true;
            pc.learning = false;
            break;
        case 6:
            pc.access_segment = fs->segs[2];
            pc.mtu = 200;
            break;
        case 7:
            pc.access_segment = fs->segs[0];
            pc.admin_up = false;
            break;
        case 8:
            pc.access_segment = fs->segs[2];
            break;
        default:
            pc.mode = PORT_TRUNK;
            port_config_allow_vlan(&pc, 20);
            port_config_allow_vlan(&pc, 40);
            pc.mtu = 9000;
            break;
        }
        must(vswitch_port_add(fs->sw, &pc, &fs->ports[i]), "port");
    }
    add_static(fs, 0, 0xaa, remote(fs, "192.0.2.1"));
    add_static(fs, 0, 0xbb, MAC_DEST_PORT(fs->ports[0]));
    add_static(fs, 0, 0xcc, remote(fs, "2001:db8::1"));
    add_static(fs, 0, 0xdd, MAC_DEST_PORT(fs->ports[7]));
    add_static(fs, 2, 0xee, remote(fs, "192.0.2.2"));
    struct ip_addr arp_ip;
    struct eth_addr arp_mac = mac_n(0xbb);
    parse_ip("10.0.0.11", &arp_ip);
    must(vswitch_arp_add_static(fs->sw, fs->segs[0], &arp_ip, &arp_mac, fs->now), "static ARP");
    fs->pool_initial = pkt_pool_available(fs->pool);
}

struct fuzz_switch *fuzz_switch_get(void)
{
    static struct fuzz_switch fs;

    if (!fs.sw) {
        build(&fs);
    }
    return &fs;
}

void fuzz_begin_input(struct fuzz_switch *fs)
{
    struct vswitch_event ev[FUZZ_EVENT_CAP];
    uint64_t lost;

    /* Aging at a time past every learned entry's expiry removes them all;
     * static entries stay. Then the clock starts over, with no event left
     * from before. */
    vswitch_age(fs->sw, fs->now + FUZZ_MAC_AGE);
    while (vswitch_events_drain(fs->sw, ev, FUZZ_EVENT_CAP, &lost)) {
    }
    fs->now = FUZZ_CLOCK_START;
}

bool fuzz_next_record(const uint8_t **data, size_t *size, struct fuzz_input *in)
{
    const uint8_t *d = *data;
    size_t n = *size;

    if (n == 0) {
        return false;
    }
    in->source = d[0] & 0x0f;
    in->copies = d[0] & FUZZ_CTL_COPIES ? FUZZ_BATCH_MAX : 1;
    in->mode = (enum fuzz_mode)(d[0] >> 6);
    if (!(d[0] & FUZZ_CTL_CHAINED) || n < 3) {
        in->frame = d + 1;
        in->len = n - 1;
        *data = d + n;
        *size = 0;
    } else {
        size_t len = (size_t)d[1] << 8 | d[2];
        if (len > n - 3) {
            len = n - 3;
        }
        in->frame = d + 3;
        in->len = len;
        *data = d + 3 + len;
        *size = n - 3 - len;
    }
    for (unsigned i = 0; i < FUZZ_BATCH_MAX; i++) {
        in->copy_frame[i] = in->frame;
        in->copy_len[i] = in->len;
        in->copy_src[i] = NULL;
    }
    return true;
}

/* ---- Output checks ---------------------------------------------------------- */

struct run {
    struct vswitch_out out; /* first: the flush callback gets it back */
    struct fuzz_switch *fs;
    uint16_t in_port; /* PKT_PORT_OVERLAY for decapsulated input */
    uint32_t n_outputs;
    uint8_t seen[FUZZ_POOL_SIZE];
};

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool segment_has_peer(const struct vswitch *sw, uint32_t segment, uint32_t vtep)
{
    uint32_t ids[16];
    uint32_t n = vswitch_segment_peers(sw, segment, ids, 16);

    FUZZ_CHECK(n <= 16, "segment %u has %u peers", segment, n);
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == vtep) {
            return true;
        }
    }
    return false;
}

/* Whether a port carries a segment (access segment, or an allowed VLAN of a trunk). */
static bool port_carries(const struct vswitch *sw, const struct port_config *pc, uint32_t segment)
{
    const struct segment_config *sc = vswitch_segment_get(sw, segment);

    if (!sc) {
        return false;
    }
    if (pc->mode == PORT_ACCESS) {
        return pc->access_segment == segment;
    }
    return sc->vlan && port_config_vlan_allowed(pc, sc->vlan);
}

static bool list_has(const uint32_t *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Whether p, going out of a port (with the port's tag when tagged), is an ARP
 * reply that says what the ARP table says: the switch's answer to a request. */
static bool is_arp_answer(const struct vswitch *sw, const struct pkt *p,
                          const struct segment_config *sc, bool tagged)
{
    uint32_t ofs = 12 + (tagged ? 4u : 0u);
    const uint8_t *d = p->data;

    if (!sc->arp_suppression || p->len != ofs + 2 + ARP_LEN || be16(d + ofs) != 0x0806) {
        return false;
    }
    const uint8_t *arp = d + ofs + 2;
    struct ip_addr spa;
    ip_addr_set_v4(&spa, arp + 14);
    const struct mac_entry *e = vswitch_arp_lookup(sw, p->meta.segment, &spa);
    return be16(arp + 6) == ARP_OP_REPLY && memcmp(arp + 8, d + 6, 6) == 0 && e &&
           arp_entry_mac(e) == eth_addr_to_u64(arp + 8);
}

/* The switch's own path MTU error (core/icmp.h) back to the ingress port: IPv4
 * ICMP type 3 code 4, or ICMPv6 type 2, right after the IP header (the tag the
 * egress pushed is not in meta's offsets). */
static bool is_pmtu_answer(const struct pkt *p, bool tagged)
{
    uint32_t l4 = p->meta.l4_ofs + (tagged ? 4u : 0u);
    const uint8_t *d = p->data;

    if (!p->meta.l4_ofs || p->len < l4 + 8) {
        return false;
    }
    return (p->meta.ip_proto == 1 && d[l4] == 3 && d[l4 + 1] == 4) ||
           (p->meta.ip_proto == 58 && d[l4] == 2 && d[l4 + 1] == 0);
}

static void check_port_output(struct run *r, const struct pkt *p, uint32_t port)
{
    const struct vswitch *sw = r->fs->sw;
    const struct port_config *pc = vswitch_port_get(sw, (uint16_t)port);
    const struct segment_config *sc = vswitch_segment_get(sw, p->meta.segment);

    FUZZ_CHECK(port < VSWITCH_MAX_PORTS && pc, "output to unknown port %u", port);
    FUZZ_CHECK(pc->admin_up, "output to port %u which is down", port);
    FUZZ_CHECK(sc, "output frame of unknown segment %u", p->meta.segment);
    FUZZ_CHECK(port_carries(sw, pc, p->meta.segment), "port %u does not carry segment %u", port,
               p->meta.segment);
    FUZZ_CHECK(p->len >= 14, "port output of %u bytes", p->len);
    bool tagged = pc->mode == PORT_TRUNK && sc->vlan != pc->native_vlan;
    FUZZ_CHECK(port != r->in_port || is_arp_answer(sw, p, sc, tagged) || is_pmtu_answer(p, tagged),
               "frame sent back out of its ingress port %u", port);
    FUZZ_CHECK(p->len <= pc->mtu + 14 + 4u * (p->meta.n_tags + tagged),
               "%u-byte frame out of port %u (MTU %u, %u tags)", p->len, port, pc->mtu,
               p->meta.n_tags);
    if (tagged) {
        FUZZ_CHECK(p->len >= 18 && be16(p->data + 12) == pc->tpid &&
                       (be16(p->data + 14) & 0x0fff) == sc->vlan &&
                       (be16(p->data + 14) >> 13) == p->meta.pcp,
                   "trunk port %u: frame of segment VLAN %u leaves with TPID %04x TCI %04x", port,
                   sc->vlan, be16(p->data + 12), be16(p->data + 14));
    }
}

static void check_vtep_output(struct run *r, const struct pkt *p, uint32_t vtep)
{
    const struct vswitch *sw = r->fs->sw;
    const struct vswitch_config *cfg = vswitch_get_config(sw);
    const struct ip_addr *addr = vswitch_vtep_addr(sw, vtep);
    const struct segment_config *sc = vswitch_segment_get(sw, p->meta.segment);
    const uint8_t *ip = p->data;
    uint8_t pseudo[40];
    uint32_t sum;

    uint32_t ids[16];

    FUZZ_CHECK(addr, "output to unknown VTEP %u", vtep);
    FUZZ_CHECK(sc, "output frame of unknown segment %u", p->meta.segment);
    uint32_t n_replicas = vswitch_segment_replicas(sw, p->meta.segment, ids, 16);
    bool replica = sc->bum == BUM_PROXY && list_has(ids, n_replicas, vtep);
    uint32_t n_proxies = vswitch_segment_proxies(sw, p->meta.segment, ids, 16);
    bool proxy = sc->bum == BUM_PROXY && list_has(ids, n_proxies, vtep);
    FUZZ_CHECK(r->in_port != PKT_PORT_OVERLAY || replica,
               "frame from the overlay sent to VTEP %u, not of this subnet", vtep);
    FUZZ_CHECK(segment_has_peer(sw, p->meta.segment, vtep) ||
                   (sc->bum == BUM_MULTICAST && ip_addr_equal(&sc->mcast_group, addr)),
               "VTEP %u is not a peer of segment %u", vtep, p->meta.segment);
    FUZZ_CHECK(p->len <= cfg->underlay_mtu, "%u-byte datagram for underlay MTU %u", p->len,
               cfg->underlay_mtu);
    bool v4 = ip_addr_is_v4(addr);
    uint32_t l3 = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    FUZZ_CHECK(p->len >= l3 + UDP_HEADER_LEN + VXLAN_HEADER_LEN + 14, "%u-byte datagram", p->len);
    const uint8_t *udp = ip + l3;
    const uint8_t *vx = udp + UDP_HEADER_LEN;
    uint32_t udp_len = p->len - l3;
    if (v4) {
        FUZZ_CHECK(ip[0] == 0x45 && be16(ip + 2) == p->len && ip[6] == 0x40 && ip[9] == 17 &&
                       ip[8] == 64,
                   "bad outer IPv4 header");
        FUZZ_CHECK(csum_fold(csum_partial(ip, IPV4_HEADER_LEN, 0)) == 0, "bad IPv4 checksum");
        FUZZ_CHECK(memcmp(ip + 12, cfg->local_vtep4.bytes + 12, 4) == 0 &&
                       memcmp(ip + 16, addr->bytes + 12, 4) == 0,
                   "bad outer IPv4 addresses");
        memcpy(pseudo, ip + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = 17;
        pseudo[10] = (uint8_t)(udp_len >> 8);
        pseudo[11] = (uint8_t)udp_len;
        sum = csum_partial(pseudo, 12, 0);
    } else {
        FUZZ_CHECK((ip[0] >> 4) == 6 && be16(ip + 4) == udp_len && ip[6] == 17 && ip[7] == 64,
                   "bad outer IPv6 header");
        FUZZ_CHECK(memcmp(ip + 8, cfg->local_vtep6.bytes, 16) == 0 &&
                       memcmp(ip + 24, addr->bytes, 16) == 0,
                   "bad outer IPv6 addresses");
        memcpy(pseudo, ip + 8, 32);
        memset(pseudo + 32, 0, 8);
        pseudo[34] = (uint8_t)(udp_len >> 8);
        pseudo[35] = (uint8_t)udp_len;
        pseudo[39] = 17;
        sum = csum_partial(pseudo, 40, 0);
    }
    FUZZ_CHECK(be16(udp) >= VXLAN_SPORT_MIN && be16(udp + 2) == cfg->vxlan_port &&
                   be16(udp + 4) == udp_len,
               "bad outer UDP header: ports %u -> %u, length %u of %u", be16(udp), be16(udp + 2),
               be16(udp + 4), udp_len);
    if (!v4 || cfg->udp_checksum_v4) {
        FUZZ_CHECK(be16(udp + 6) != 0 && csum_fold(csum_partial(udp, udp_len, sum)) == 0,
                   "bad outer UDP checksum %04x", be16(udp + 6));
    }
    bool marked = vx[0] == (VXLAN_FLAG_I | VXLAN_FLAG_REPLICATE);
    FUZZ_CHECK((vx[0] == VXLAN_FLAG_I || marked) && !vx[1] && !vx[2] && !vx[3] && !vx[7],
               "bad VXLAN flags or reserved bits");
    FUZZ_CHECK(!marked || (proxy && r->in_port != PKT_PORT_OVERLAY),
               "replication marker on a datagram to VTEP %u (proxy: %d, from the overlay: %d)",
               vtep, proxy, r->in_port == PKT_PORT_OVERLAY);
    FUZZ_CHECK(((uint32_t)vx[4] << 16 | (uint32_t)vx[5] << 8 | vx[6]) == sc->vni,
               "VNI %u for segment VNI %u", (uint32_t)vx[4] << 16 | (uint32_t)vx[5] << 8 | vx[6],
               sc->vni);
}

static void check_and_free(struct run *r)
{
    struct fuzz_switch *fs = r->fs;

    for (uint32_t i = 0; i < r->out.n; i++) {
        const struct vswitch_tx *tx = &r->out.tx[i];
        struct pkt *p = tx->pkt;

        FUZZ_CHECK(p, "output %u has no buffer", i);
        FUZZ_CHECK(p->index < FUZZ_POOL_SIZE, "buffer index %u", p->index);
        FUZZ_CHECK(!r->seen[p->index], "buffer %u output twice", p->index);
        r->seen[p->index] = 1;
        FUZZ_CHECK(p->data >= p->head && p->len <= p->size &&
                       (size_t)(p->data - p->head) <= p->size - p->len,
                   "frame outside its buffer: headroom %td, length %u, size %u", p->data - p->head,
                   p->len, p->size);
        if (tx->dest & VSWITCH_DEST_VTEP) {
            check_vtep_output(r, p, tx->dest & ~VSWITCH_DEST_VTEP);
        } else {
            check_port_output(r, p, tx->dest);
        }
    }
    /* Freed buffers may come back in the next flush of the same input. */
    for (uint32_t i = 0; i < r->out.n; i++) {
        r->seen[r->out.tx[i].pkt->index] = 0;
        pkt_pool_put(fs->pool, r->out.tx[i].pkt);
    }
    r->n_outputs += r->out.n;
    r->out.n = 0;
}

static void flush_out(struct vswitch_out *out)
{
    check_and_free((struct run *)out->ctx);
}

/* ---- Table checks ------------------------------------------------------------ */

struct table_check {
    struct fuzz_switch *fs;
    uint32_t learned[FUZZ_N_PORTS];
    uint32_t entries;
};

static unsigned port_slot(const struct fuzz_switch *fs, uint32_t port)
{
    for (unsigned i = 0; i < FUZZ_N_PORTS; i++) {
        if (fs->ports[i] == port) {
            return i;
        }
    }
    FUZZ_CHECK(0, "MAC entry points at unknown port %u", port);
    return 0;
}

static void check_entry(const struct mac_entry *e, void *ctx)
{
    struct table_check *tc = ctx;
    const struct vswitch *sw = tc->fs->sw;
    uint32_t segment = mac_entry_segment(e);
    uint64_t mac = mac_entry_mac(e);

    tc->entries++;
    FUZZ_CHECK(vswitch_segment_get(sw, segment), "MAC entry of unknown segment %u", segment);
    FUZZ_CHECK(mac && !((mac >> 40) & 1), "MAC entry for %012llx", (unsigned long long)mac);
    if (!e->is_static) {
        FUZZ_CHECK(tc->fs->now - e->last_seen < FUZZ_MAC_AGE,
                   "learned entry seen at %u survives aging at %u", e->last_seen, tc->fs->now);
    }
    if (e->dest & MAC_DEST_VTEP) {
        FUZZ_CHECK(segment_has_peer(sw, segment, e->dest & MAC_DEST_INDEX_MASK),
                   "MAC entry behind VTEP %u, not a peer of segment %u",
                   e->dest & MAC_DEST_INDEX_MASK, segment);
        return;
    }
    unsigned slot = port_slot(tc->fs, e->dest);
    const struct port_config *pc = vswitch_port_get(sw, (uint16_t)e->dest);
    FUZZ_CHECK(port_carries(sw, pc, segment), "MAC entry on port %u outside its segment %u",
               e->dest, segment);
    if (e->is_static) {
        return;
    }
    tc->learned[slot]++;
    FUZZ_CHECK(pc->learning, "MAC learned on port %u where learning is off", e->dest);
    if (pc->port_security) {
        bool bound = false;
        for (uint32_t i = 0; i < pc->n_bindings; i++) {
            bound |= eth_addr_to_u64(pc->bindings[i].mac.bytes) == mac;
        }
        FUZZ_CHECK(bound, "MAC %012llx learned on port %u without a binding",
                   (unsigned long long)mac, e->dest);
    }
}

static void check_arp_entry(const struct mac_entry *e, void *ctx)
{
    struct table_check *tc = ctx;
    uint32_t segment = mac_entry_segment(e);
    const struct segment_config *sc = vswitch_segment_get(tc->fs->sw, segment);
    uint64_t mac = arp_entry_mac(e);

    tc->entries++;
    FUZZ_CHECK(sc, "ARP entry of unknown segment %u", segment);
    FUZZ_CHECK(arp_ip_is_host(arp_entry_ip(e)), "ARP entry for %08x", arp_entry_ip(e));
    FUZZ_CHECK(mac && !((mac >> 40) & 1), "ARP entry to MAC %012llx", (unsigned long long)mac);
    if (!e->is_static) {
        FUZZ_CHECK(sc->arp_suppression, "address learned in segment %u without ARP suppression",
                   segment);
        FUZZ_CHECK(tc->fs->now - e->last_seen < FUZZ_MAC_AGE,
                   "learned address seen at %u survives aging at %u", e->last_seen, tc->fs->now);
    }
}

static void check_events(struct fuzz_switch *fs, uint64_t lost_before)
{
    struct vswitch_event ev[FUZZ_EVENT_CAP];
    struct vswitch_stats st;
    uint64_t lost = 0;
    uint32_t n = vswitch_events_drain(fs->sw, ev, FUZZ_EVENT_CAP, &lost);

    FUZZ_CHECK(n <= FUZZ_EVENT_CAP, "%u events drained", n);
    vswitch_get_stats(fs->sw, &st);
    FUZZ_CHECK(st.events_lost - lost_before == lost, "%llu events lost, stats count %llu",
               (unsigned long long)lost, (unsigned long long)(st.events_lost - lost_before));
    FUZZ_CHECK(lost == 0 || n == FUZZ_EVENT_CAP, "events lost with room in the ring");
    for (uint32_t i = 0; i < n; i++) {
        const struct vswitch_event *e = &ev[i];
        const struct segment_config *sc = vswitch_segment_get(fs->sw, e->segment);
        bool local = e->port != PKT_PORT_OVERLAY && vswitch_port_get(fs->sw, e->port);
        FUZZ_CHECK(sc, "event %d of unknown segment %u", (int)e->type, e->segment);
        FUZZ_CHECK(!eth_addr_is_multicast(e->mac.bytes) && !eth_addr_is_zero(e->mac.bytes),
                   "event %d for a non-unicast MAC", (int)e->type);
        if (e->type == VSWITCH_EVENT_IP_LEARNED) {
            const uint8_t *v4 = e->ip.bytes + 12;
            FUZZ_CHECK(sc->arp_suppression && ip_addr_is_v4(&e->ip),
                       "IP event in segment %u without suppression", e->segment);
            FUZZ_CHECK(arp_ip_is_host((uint32_t)v4[0] << 24 | (uint32_t)v4[1] << 16 |
                                      (uint32_t)v4[2] << 8 | v4[3]),
                       "IP event for a non-host address");
        }
        switch (e->type) {
        case VSWITCH_EVENT_MAC_MOVED:
            FUZZ_CHECK(e->port != e->old_port, "MAC moved from port %u to itself", e->port);
            FUZZ_CHECK(local || vswitch_port_get(fs->sw, e->old_port),
                       "MAC moved between two VTEPs reported");
            break;
        case VSWITCH_EVENT_MAC_LEARNED:
        case VSWITCH_EVENT_MAC_AGED:
        case VSWITCH_EVENT_IP_LEARNED:
            FUZZ_CHECK(local && e->old_port == e->port, "event %d about port %u/%u", (int)e->type,
                       e->port, e->old_port);
            break;
        default:
            FUZZ_CHECK(0, "event type %d", (int)e->type);
        }
    }
}

static void check_tables(struct fuzz_switch *fs)
{
    struct table_check tc = {.fs = fs};

    vswitch_arp_foreach(fs->sw, check_arp_entry, &tc);
    FUZZ_CHECK(tc.entries <= FUZZ_ARP_CAP, "%u entries in an ARP table of %u", tc.entries,
               FUZZ_ARP_CAP);
    tc.entries = 0;
    vswitch_mac_foreach(fs->sw, check_entry, &tc);
    FUZZ_CHECK(tc.entries <= FUZZ_MAC_CAP, "%u entries in a table of %u", tc.entries, FUZZ_MAC_CAP);
    for (unsigned i = 0; i < FUZZ_N_PORTS; i++) {
        const struct port_config *pc = vswitch_port_get(fs->sw, fs->ports[i]);
        uint32_t count = vswitch_port_mac_count(fs->sw, fs->ports[i]);
        FUZZ_CHECK(count == tc.learned[i], "port %u counts %u learned MACs, the table has %u",
                   fs->ports[i], count, tc.learned[i]);
        FUZZ_CHECK(!pc->mac_limit || count <= pc->mac_limit, "port %u has %u MACs, limit %u",
                   fs->ports[i], count, pc->mac_limit);
    }
}

/* ---- Running an input -------------------------------------------------------- */

static uint64_t drops_total(const struct vswitch_stats *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < DROP_REASON_COUNT; i++) {
        n += s->total.drops[i];
    }
    return n;
}

/* What the switch should make of each datagram of an overlay batch, from the
 * control-plane view of segments and peers: the totals that the counters must
 * show after the batch. */
struct decap_expect {
    uint32_t unknown_vni, unknown_vtep;
    uint32_t seg_rx[FUZZ_N_SEGMENTS];
    struct vswitch_counters seg_before[FUZZ_N_SEGMENTS];
};

static void expect_decap(struct fuzz_switch *fs, const struct fuzz_input *in,
                         struct decap_expect *x)
{
    memset(x, 0, sizeof *x);
    for (unsigned i = 0; i < FUZZ_N_SEGMENTS; i++) {
        vswitch_segment_counters(fs->sw, fs->segs[i], &x->seg_before[i]);
    }
    for (unsigned i = 0; i < in->copies; i++) {
        const uint8_t *h = in->copy_frame[i];
        uint32_t segment, vtep;

        if (in->copy_len[i] < VXLAN_HEADER_LEN + 14 || !(h[0] & VXLAN_FLAG_I)) {
            continue; /* vxlan_decap() drops it: checked by decap_exact() */
        }
        uint32_t vni = (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
        if (vswitch_segment_find(fs->sw, vni, &segment) != 0) {
            x->unknown_vni++;
        } else if (vswitch_vtep_find(fs->sw, in->copy_src[i], &vtep) != 0 ||
                   !segment_has_peer(fs->sw, segment, vtep)) {
            x->unknown_vtep++;
        } else {
            for (unsigned k = 0; k < FUZZ_N_SEGMENTS; k++) {
                x->seg_rx[k] += fs->segs[k] == segment;
            }
        }
    }
}

static void check_decap(struct fuzz_switch *fs, const struct decap_expect *x,
                        const struct vswitch_stats *before, const struct vswitch_stats *after)
{
    uint64_t vni_drops =
        after->total.drops[DROP_VXLAN_UNKNOWN_VNI] - before->total.drops[DROP_VXLAN_UNKNOWN_VNI];
    uint64_t vtep_drops =
        after->total.drops[DROP_VXLAN_UNKNOWN_VTEP] - before->total.drops[DROP_VXLAN_UNKNOWN_VTEP];

    FUZZ_CHECK(vni_drops == x->unknown_vni && vtep_drops == x->unknown_vtep,
               "unknown VNI/VTEP drops %llu/%llu, expected %u/%u", (unsigned long long)vni_drops,
               (unsigned long long)vtep_drops, x->unknown_vni, x->unknown_vtep);
    for (unsigned k = 0; k < FUZZ_N_SEGMENTS; k++) {
        struct vswitch_counters now;
        vswitch_segment_counters(fs->sw, fs->segs[k], &now);
        uint64_t rx = now.rx_packets - x->seg_before[k].rx_packets;
        FUZZ_CHECK(rx == x->seg_rx[k], "segment %u took %llu datagrams, expected %u", k,
                   (unsigned long long)rx, x->seg_rx[k]);
    }
}

void fuzz_run(struct fuzz_switch *fs, const struct fuzz_input *in, uint16_t in_port)
{
    struct pkt *batch[FUZZ_BATCH_MAX];
    struct pkt *held[FUZZ_POOL_SIZE];
    struct vswitch_tx tx[FUZZ_OUT_CAP];
    struct vswitch_stats before, after;
    uint32_t n_held = 0;
    static struct run r; /* static: keeps its 64 x 16 bytes of outputs off the stack */

    struct decap_expect expect;

    for (unsigned i = 0; i < in->copies; i++) {
        if (in->copy_len[i] > pkt_pool_data_room(fs->pool)) {
            return;
        }
    }
    fs->now++;
    vswitch_get_stats(fs->sw, &before);
    uint64_t events_lost_before = before.events_lost; /* aging makes events too */
    vswitch_age(fs->sw, fs->now);
    memset(&r, 0, sizeof r);
    r.fs = fs;
    r.in_port = in_port;
    r.out.tx = tx;
    r.out.cap = in->mode == FUZZ_MODE_FLUSH || in->mode == FUZZ_MODE_TX_FULL ? 2 : FUZZ_OUT_CAP;
    r.out.flush = in->mode == FUZZ_MODE_FLUSH ? flush_out : NULL;
    r.out.ctx = &r;

    for (unsigned i = 0; i < in->copies; i++) {
        batch[i] = pkt_pool_copy_in(fs->pool, in->copy_frame[i], (uint32_t)in->copy_len[i]);
        FUZZ_CHECK(batch[i], "pool empty before the input");
        if (in_port == PKT_PORT_OVERLAY) {
            FUZZ_CHECK(in->copy_src[i], "no sender for datagram %u", i);
            batch[i]->meta.outer_src = *in->copy_src[i];
        }
        /* Bytes past the frame are out of bounds for the switch: let ASan say so.
         * (The headroom in front stays open: encapsulation and tagging use it.) */
        ASAN_POISON_MEMORY_REGION(batch[i]->data + batch[i]->len, pkt_tailroom(batch[i]));
    }
    if (in->mode == FUZZ_MODE_PRESSURE) {
        while (pkt_pool_available(fs->pool) > 2) {
            held[n_held++] = pkt_pool_get(fs->pool);
        }
    }
    if (in_port == PKT_PORT_OVERLAY) {
        expect_decap(fs, in, &expect);
    }
    vswitch_get_stats(fs->sw, &before);
    if (in_port == PKT_PORT_OVERLAY) {
        vswitch_input_vxlan(fs->sw, batch, in->copies, fs->now, &r.out);
    } else {
        vswitch_input_port(fs->sw, in_port, batch, in->copies, fs->now, &r.out);
    }
    vswitch_get_stats(fs->sw, &after);
    for (unsigned i = 0; i < in->copies; i++) {
        ASAN_UNPOISON_MEMORY_REGION(batch[i]->head, batch[i]->size);
    }
    check_and_free(&r);
    for (uint32_t i = 0; i < n_held; i++) {
        pkt_pool_put(fs->pool, held[i]);
    }

    FUZZ_CHECK(pkt_pool_available(fs->pool) == fs->pool_initial,
               "%u free buffers after the input, %u before: %s", pkt_pool_available(fs->pool),
               fs->pool_initial,
               pkt_pool_available(fs->pool) < fs->pool_initial ? "leak" : "double free");
    FUZZ_CHECK(after.total.tx_packets - before.total.tx_packets == r.n_outputs,
               "tx counter grew by %llu for %u outputs",
               (unsigned long long)(after.total.tx_packets - before.total.tx_packets), r.n_outputs);
    FUZZ_CHECK(after.total.tx_packets - before.total.tx_packets + drops_total(&after) -
                       drops_total(&before) >=
                   in->copies,
               "%u frames in, fewer sent or dropped", in->copies);
    if (in_port == PKT_PORT_OVERLAY || vswitch_port_get(fs->sw, in_port)) {
        FUZZ_CHECK(after.total.rx_packets - before.total.rx_packets == in->copies,
                   "rx counter grew by %llu for %u frames",
                   (unsigned long long)(after.total.rx_packets - before.total.rx_packets),
                   in->copies);
    }
    if (in_port == PKT_PORT_OVERLAY) {
        check_decap(fs, &expect, &before, &after);
    }
    check_tables(fs);
    check_events(fs, events_lost_before);
}

/* ---- Parser alone -------------------------------------------------------------- */

void fuzz_parse_exact(const uint8_t *frame, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    struct pkt p;

    FUZZ_CHECK(buf, "no memory");
    memcpy(buf, frame, len);
    memset(&p, 0, sizeof p);
    p.head = buf;
    p.data = buf;
    p.len = (uint32_t)len;
    p.size = (uint32_t)len;

    enum drop_reason reason = frame_parse(&p);
    FUZZ_CHECK(reason < DROP_REASON_COUNT, "reason %d", (int)reason);
    if (reason == DROP_NONE) {
        const struct pkt_meta *m = &p.meta;
        struct pkt_meta first = *m;

        FUZZ_CHECK(len >= 14, "%zu-byte frame parsed", len);
        FUZZ_CHECK(m->n_tags <= PARSE_MAX_TAGS && m->l3_ofs == 14 + 4u * m->n_tags &&
                       m->l3_ofs <= len,
                   "%u tags, L3 at %u of %zu", m->n_tags, m->l3_ofs, len);
        if (m->eth_type == 0x0800 && m->ip_proto) {
            FUZZ_CHECK(m->l3_ofs + 20u <= len, "IPv4 header past the end");
        }
        if (m->eth_type == 0x86dd && m->ip_proto) {
            FUZZ_CHECK(m->l3_ofs + 40u <= len, "IPv6 header past the end");
        }
        if (m->l4_ofs) {
            unsigned need = m->ip_proto == 6    ? 20
                            : m->ip_proto == 17 ? 8
                            : m->ip_proto == 1  ? 8
                            : m->ip_proto == 58 ? 4
                                                : 0;
            FUZZ_CHECK(m->l4_ofs >= m->l3_ofs + 20u && m->l4_ofs + need <= len,
                       "L4 (proto %u) at %u of %zu", m->ip_proto, m->l4_ofs, len);
            FUZZ_CHECK(!m->is_fragment, "L4 offset set on a fragment");
        }
        /* Deterministic: a second parse gives the same result (nothing left uninitialised). */
        FUZZ_CHECK(frame_parse(&p) == DROP_NONE && first.flow_hash == m->flow_hash &&
                       first.l3_ofs == m->l3_ofs && first.l4_ofs == m->l4_ofs &&
                       first.eth_type == m->eth_type && first.ip_proto == m->ip_proto &&
                       first.vlan == m->vlan && first.pcp == m->pcp &&
                       first.is_fragment == m->is_fragment,
                   "second parse differs");
    }
    free(buf);
}
