/*
 * test_vswitch.c - unit tests of the forwarding core (core/vswitch.c).
 *
 * Crafted frames go in through vswitch_input_port() / vswitch_input_vxlan();
 * the tests assert exactly what comes out: the destinations (each exactly
 * once), the bytes (tags added or stripped, PCP, the outer IPv4/UDP/VXLAN
 * headers), the counters, and that every buffer goes back to the pool.
 *
 * The switch of every test (see setup()):
 *
 *   segment 5001 (VLAN 101): access a1, a2; trunks t1, t2; peers 10.0.2.1, 10.0.3.1
 *   segment 5002 (VLAN 102): access b1;     trunks t1, t2; peer  10.0.2.1
 *   local VTEP 10.0.1.1, underlay MTU 1600, VXLAN port 4789, aging 300 s.
 *
 * Segment 5001 does head-end replication without ARP suppression, except in
 * the tests that set it up with suppression (setup_arp) or in BUM_PROXY mode
 * (setup_proxy).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arp.h"
#include "core/parse.h"
#include "core/vswitch.h"
#include "core/vxlan.h"
#include "frames.h"
#include "lib/checksum.h"

#define POOL_SIZE 64
#define OUT_CAP   64
#define NOW       1000u

#define MAC1  "02:00:00:00:00:01" /* behind a1 */
#define MAC2  "02:00:00:00:00:02" /* behind a2 */
#define MAC3  "02:00:00:00:00:03" /* behind t1 */
#define MAC4  "02:00:00:00:00:04"
#define MAC5  "02:00:00:00:00:05"
#define MAC6  "02:00:00:00:00:06"
#define MAC7  "02:00:00:00:00:07"
#define MAC9  "02:00:00:00:00:09" /* never learned */
#define MACB  "02:00:00:00:00:0b" /* behind b1 */
#define MACR2 "02:00:00:00:02:01" /* behind VTEP 10.0.2.1 */
#define MACR3 "02:00:00:00:03:01" /* behind VTEP 10.0.3.1 */
#define BCAST "ff:ff:ff:ff:ff:ff"

#define IP1 "172.16.10.1"
#define IP2 "172.16.10.2"

#define VTEP_LOCAL "10.0.1.1"
#define VTEP2      "10.0.2.1"
#define VTEP3      "10.0.3.1"

#define DV(v) (VSWITCH_DEST_VTEP | (v))

struct fx {
    struct pkt_pool *pool;
    struct vswitch *sw;
    uint32_t pool_initial;
    uint32_t seg1, seg2;
    uint16_t a1, a2, b1, t1, t2;
    uint32_t v2, v3;
    struct vswitch_tx tx[OUT_CAP];
    struct vswitch_out out;
    uint8_t f[FRAME_MAX]; /* frame in */
    uint8_t e[FRAME_MAX]; /* frame expected */
    uint8_t x[FRAME_MAX]; /* scratch */
};

/* ---- Fixture ------------------------------------------------------------- */

static struct ip_addr ip(const char *text)
{
    struct ip_addr a;
    if (ip_addr_parse(text, &a) != 0) {
        fail_msg("bad IP in test: %s", text);
    }
    return a;
}

static struct eth_addr mac(const char *text)
{
    struct eth_addr m;
    if (eth_addr_parse(text, &m) != 0) {
        fail_msg("bad MAC in test: %s", text);
    }
    return m;
}

static void trunk_config(struct port_config *pc, uint16_t tpid, uint16_t native)
{
    port_config_default(pc);
    pc->mode = PORT_TRUNK;
    pc->tpid = tpid;
    pc->native_vlan = native;
}

static uint16_t add_access(struct fx *fx, uint32_t segment)
{
    struct port_config pc;
    uint16_t id = 0xffff;

    port_config_default(&pc);
    pc.access_segment = segment;
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), 0);
    return id;
}

static uint16_t add_port(struct fx *fx, const struct port_config *pc)
{
    uint16_t id = 0xffff;
    assert_int_equal(vswitch_port_add(fx->sw, pc, &id), 0);
    assert_true(id < VSWITCH_MAX_PORTS);
    return id;
}

static uint32_t add_segment_cfg(struct fx *fx, const struct segment_config *sc)
{
    uint32_t id = UINT32_MAX;

    assert_int_equal(vswitch_segment_add(fx->sw, sc, &id), 0);
    return id;
}

static uint32_t add_segment(struct fx *fx, uint32_t vni, uint16_t vlan)
{
    struct segment_config sc = {.vni = vni, .vlan = vlan, .bum = BUM_HEAD_END};
    return add_segment_cfg(fx, &sc);
}

static uint32_t add_peer(struct fx *fx, uint32_t segment, const char *addr)
{
    struct ip_addr a = ip(addr);
    uint32_t id = UINT32_MAX;

    assert_int_equal(vswitch_segment_peer_add(fx->sw, segment, &a, &id), 0);
    return id;
}

/* What a setup changes from the defaults (zero: the default). */
struct fx_options {
    uint32_t mac_capacity;
    uint32_t arp_capacity;
    uint32_t event_capacity;
    bool seg1_arp_suppression;
    enum bum_replication seg1_bum;
};

static int fx_setup(void **state, const struct fx_options *o)
{
    struct fx *fx = calloc(1, sizeof *fx);
    struct vswitch_config cfg;
    struct port_config pc;
    int error = -1;

    assert_non_null(fx);
    fx->pool = pkt_pool_create(POOL_SIZE, PKT_DEFAULT_DATA_ROOM);
    assert_non_null(fx->pool);
    fx->pool_initial = pkt_pool_available(fx->pool);
    assert_int_equal(fx->pool_initial, POOL_SIZE);

    vswitch_config_default(&cfg);
    cfg.local_vtep4 = ip(VTEP_LOCAL);
    cfg.underlay_mtu = 1600;
    cfg.mac_capacity = o->mac_capacity ? o->mac_capacity : cfg.mac_capacity;
    cfg.arp_capacity = o->arp_capacity ? o->arp_capacity : cfg.arp_capacity;
    cfg.event_capacity = o->event_capacity ? o->event_capacity : cfg.event_capacity;
    fx->sw = vswitch_create(&cfg, fx->pool, &error);
    assert_non_null(fx->sw);
    assert_int_equal(error, 0);

    struct segment_config sc1 = {
        .vni = 5001, .vlan = 101, .bum = o->seg1_bum, .arp_suppression = o->seg1_arp_suppression};
    fx->seg1 = add_segment_cfg(fx, &sc1);
    fx->seg2 = add_segment(fx, 5002, 102);
    assert_int_not_equal(fx->seg1, fx->seg2);

    fx->a1 = add_access(fx, fx->seg1);
    fx->a2 = add_access(fx, fx->seg1);
    fx->b1 = add_access(fx, fx->seg2);
    trunk_config(&pc, ETH_TYPE_VLAN, 0);
    port_config_allow_vlan(&pc, 101);
    port_config_allow_vlan(&pc, 102);
    fx->t1 = add_port(fx, &pc);
    fx->t2 = add_port(fx, &pc);

    fx->v2 = add_peer(fx, fx->seg1, VTEP2);
    fx->v3 = add_peer(fx, fx->seg1, VTEP3);
    assert_int_equal(add_peer(fx, fx->seg2, VTEP2), fx->v2); /* one VTEP, two segments */
    assert_int_not_equal(fx->v2, fx->v3);

    fx->out.tx = fx->tx;
    fx->out.cap = OUT_CAP;
    fx->out.n = 0;
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    const struct fx_options o = {0};
    return fx_setup(state, &o);
}

static int setup_small_table(void **state)
{
    const struct fx_options o = {.mac_capacity = 2};
    return fx_setup(state, &o);
}

static void out_free(struct fx *fx);

static int teardown(void **state)
{
    struct fx *fx = *state;
    uint32_t leftover = fx->out.n;

    /* Clean up first, so that a failed test does not leak the whole fixture. */
    out_free(fx);
    uint32_t available = pkt_pool_available(fx->pool);
    uint32_t initial = fx->pool_initial;
    vswitch_destroy(fx->sw);
    pkt_pool_destroy(fx->pool);
    free(fx);
    /* The test freed every output, and no buffer is missing from the pool. */
    assert_int_equal(leftover, 0);
    assert_int_equal(available, initial);
    return 0;
}

/* ---- Running frames and checking what comes out -------------------------- */

static void out_free(struct fx *fx)
{
    for (uint32_t i = 0; i < fx->out.n; i++) {
        pkt_pool_put(fx->pool, fx->out.tx[i].pkt);
    }
    fx->out.n = 0;
}

/* Sends one frame into a port; the outputs of the previous run must have been freed. */
static void run_port(struct fx *fx, uint16_t port, const uint8_t *frame, size_t len, uint32_t now)
{
    assert_int_equal(fx->out.n, 0);
    struct pkt *p = frame_to_pkt(fx->pool, frame, len);
    vswitch_input_port(fx->sw, port, &p, 1, now, &fx->out);
}

/* Sends one VXLAN datagram (its UDP payload) from the underlay address src. */
static void run_vxlan(struct fx *fx, const char *src, uint8_t flags, uint32_t vni,
                      const uint8_t *inner, size_t inner_len, uint32_t now)
{
    size_t len = frame_vxlan(fx->x, flags, vni, inner, inner_len);

    assert_int_equal(len, VXLAN_HEADER_LEN + inner_len);
    assert_int_equal(fx->out.n, 0);
    struct pkt *p = frame_to_pkt(fx->pool, fx->x, len);
    p->meta.outer_src = ip(src);
    vswitch_input_vxlan(fx->sw, &p, 1, now, &fx->out);
}

/* The outputs are exactly dests, each once (in any order). */
static void expect_dests(const struct fx *fx, const uint32_t *dests, uint32_t n)
{
    assert_int_equal(fx->out.n, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t seen = 0;
        for (uint32_t j = 0; j < fx->out.n; j++) {
            seen += fx->out.tx[j].dest == dests[i];
        }
        if (seen != 1) {
            fail_msg("destination 0x%x seen %u times, expected once", dests[i], seen);
        }
    }
}

#define EXPECT_DESTS(fx, ...)                                                   \
    do {                                                                        \
        const uint32_t dests_[] = {__VA_ARGS__};                                \
        expect_dests(fx, dests_, (uint32_t)(sizeof dests_ / sizeof dests_[0])); \
    } while (0)

static struct pkt *tx_for(const struct fx *fx, uint32_t dest)
{
    struct pkt *found = NULL;

    for (uint32_t i = 0; i < fx->out.n; i++) {
        if (fx->out.tx[i].dest == dest) {
            assert_null(found);
            found = fx->out.tx[i].pkt;
        }
    }
    if (!found) {
        fail_msg("no output to 0x%x", dest);
    }
    return found;
}

static void expect_frame(const struct fx *fx, uint32_t dest, const uint8_t *frame, size_t len)
{
    const struct pkt *p = tx_for(fx, dest);
    assert_int_equal(p->len, len);
    assert_memory_equal(p->data, frame, len);
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Flow hash the switch computes for a frame (it sets the outer UDP source port). */
static uint32_t flow_hash_of(const uint8_t *frame, size_t len)
{
    static uint8_t copy[FRAME_MAX];
    struct pkt p;

    memset(&p, 0, sizeof p);
    memcpy(copy, frame, len);
    p.head = copy;
    p.data = copy;
    p.len = (uint32_t)len;
    p.size = sizeof copy;
    assert_int_equal(frame_parse(&p), DROP_NONE);
    return p.meta.flow_hash;
}

/* The output to VTEP vtep is remote's IPv4/UDP/VXLAN datagram for vni around
 * inner, with flags in the VXLAN header. */
static void expect_vxlan_flags_to(const struct fx *fx, uint32_t vtep, const char *remote,
                                  uint32_t vni, const uint8_t *inner, size_t inner_len,
                                  uint8_t flags)
{
    const struct pkt *p = tx_for(fx, DV(vtep));
    const uint8_t *d = p->data;
    struct ip_addr local = ip(VTEP_LOCAL), rem = ip(remote);
    size_t total = VXLAN_OVERHEAD_V4 + inner_len;

    assert_int_equal(VXLAN_OVERHEAD_V4, 36);
    assert_int_equal(p->len, total);
    /* IPv4: version 4, IHL 5, TOS 0, length, ID 0, DF, TTL 64, UDP, valid checksum. */
    assert_int_equal(d[0], 0x45);
    assert_int_equal(d[1], 0);
    assert_int_equal(be16(d + 2), total);
    assert_int_equal(be16(d + 4), 0);
    assert_int_equal(be16(d + 6), 0x4000);
    assert_int_equal(d[8], 64);
    assert_int_equal(d[9], 17);
    assert_int_equal(csum_fold(csum_partial(d, 20, 0)), 0);
    assert_memory_equal(d + 12, local.bytes + 12, 4);
    assert_memory_equal(d + 16, rem.bytes + 12, 4);
    /* UDP: source port from the inner flow, 4789, length, checksum 0 (off for IPv4). */
    const uint8_t *udp = d + 20;
    assert_int_equal(be16(udp), vxlan_source_port(flow_hash_of(inner, inner_len)));
    assert_true(be16(udp) >= 49152);
    assert_int_equal(be16(udp + 2), 4789);
    assert_int_equal(be16(udp + 4), total - 20);
    assert_int_equal(be16(udp + 6), 0);
    /* VXLAN: flags, reserved zero, VNI. */
    const uint8_t *vx = udp + 8;
    const uint8_t vxh[8] = {flags,        0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8),
                            (uint8_t)vni, 0};
    assert_memory_equal(vx, vxh, 8);
    /* Inner frame untouched (and untagged: the caller passes the untagged frame). */
    assert_memory_equal(vx + 8, inner, inner_len);
    const struct ip_addr *a = vswitch_vtep_addr(fx->sw, vtep);
    assert_non_null(a);
    assert_true(ip_addr_equal(a, &rem));
}

/* The same with a plain RFC 7348 header: the I flag alone. */
static void expect_vxlan_to(const struct fx *fx, uint32_t vtep, const char *remote, uint32_t vni,
                            const uint8_t *inner, size_t inner_len)
{
    expect_vxlan_flags_to(fx, vtep, remote, vni, inner, inner_len, VXLAN_FLAG_I);
}

/* Copies frame into dst with an 802.1Q/802.1ad tag inserted after the MACs. */
static size_t with_tag(uint8_t *dst, const uint8_t *frame, size_t len, uint16_t tpid, uint8_t pcp,
                       uint16_t vid)
{
    uint16_t tci = (uint16_t)(pcp << 13 | vid);

    memmove(dst + 16, frame + 12, len - 12);
    memmove(dst, frame, 12);
    dst[12] = (uint8_t)(tpid >> 8);
    dst[13] = (uint8_t)tpid;
    dst[14] = (uint8_t)(tci >> 8);
    dst[15] = (uint8_t)tci;
    return len + 4;
}

/* Copies frame into dst without its outer tag. */
static size_t without_tag(uint8_t *dst, const uint8_t *frame, size_t len)
{
    memmove(dst, frame, 12);
    memmove(dst + 12, frame + 16, len - 16);
    return len - 4;
}

/* A UDP frame with 100 bytes of payload (142 bytes, well above the minimum). */
static size_t udp(uint8_t *buf, const char *dst, const char *src)
{
    size_t len = frame_udp4(buf, dst, src, IP1, IP2, 1000, 2000, 100);
    assert_int_equal(len, 142);
    return len;
}

static size_t udp_tagged(uint8_t *buf, const char *dst, const char *src, uint16_t tpid, uint8_t pcp,
                         uint16_t vid)
{
    const struct frame_tag tags[2] = {{.tpid = tpid, .vid = vid, .pcp = pcp}, {0}};
    size_t len = frame_udp4_tagged(buf, dst, src, tags, IP1, IP2, 1000, 2000, 100);
    assert_int_equal(len, 146);
    return len;
}

static struct vswitch_counters port_ctr(const struct fx *fx, uint16_t port)
{
    struct vswitch_counters c;
    assert_int_equal(vswitch_port_counters(fx->sw, port, &c), 0);
    return c;
}

static struct vswitch_counters seg_ctr(const struct fx *fx, uint32_t segment)
{
    struct vswitch_counters c;
    assert_int_equal(vswitch_segment_counters(fx->sw, segment, &c), 0);
    return c;
}

static struct vswitch_counters vtep_ctr(const struct fx *fx, uint32_t vtep)
{
    struct vswitch_counters c;
    assert_int_equal(vswitch_vtep_counters(fx->sw, vtep, &c), 0);
    return c;
}

static struct vswitch_stats stats(const struct fx *fx)
{
    struct vswitch_stats s;
    vswitch_get_stats(fx->sw, &s);
    return s;
}

static void expect_ctr(const struct vswitch_counters *c, uint64_t rx, uint64_t rx_bytes,
                       uint64_t tx, uint64_t tx_bytes, uint64_t flood)
{
    assert_int_equal(c->rx_packets, rx);
    assert_int_equal(c->rx_bytes, rx_bytes);
    assert_int_equal(c->tx_packets, tx);
    assert_int_equal(c->tx_bytes, tx_bytes);
    assert_int_equal(c->flood_packets, flood);
}

static uint64_t drops_sum(const struct vswitch_counters *c)
{
    uint64_t n = 0;
    for (int r = 0; r < DROP_REASON_COUNT; r++) {
        n += c->drops[r];
    }
    return n;
}

/* c counted exactly n drops in all, all of them for reason. */
static void expect_only_drops(const struct vswitch_counters *c, enum drop_reason reason, uint64_t n)
{
    assert_int_equal(c->drops[reason], n);
    assert_int_equal(drops_sum(c), n);
}

static void expect_no_drops(const struct vswitch_counters *c)
{
    assert_int_equal(drops_sum(c), 0);
}

static const struct mac_entry *lookup(const struct fx *fx, uint32_t segment, const char *m)
{
    struct eth_addr a = mac(m);
    return vswitch_mac_lookup(fx->sw, segment, &a);
}

static void expect_mac_at(const struct fx *fx, uint32_t segment, const char *m, uint32_t dest,
                          bool is_static)
{
    const struct mac_entry *e = lookup(fx, segment, m);
    if (!e) {
        fail_msg("%s not in the MAC table of segment %u", m, segment);
    }
    assert_int_equal(e->dest, dest);
    assert_int_equal(e->is_static, is_static);
}

/* Learns mac on a port by sending a frame from it to a1's MAC; frees the output. */
static void learn_on_port(struct fx *fx, uint16_t port, const char *src, uint32_t now)
{
    size_t len = udp(fx->x, BCAST, src);
    run_port(fx, port, fx->x, len, now);
    out_free(fx);
}

/* Learns mac behind a VTEP by a broadcast from it in vni; frees the output. */
static void learn_remote(struct fx *fx, const char *vtep, uint32_t vni, const char *src,
                         uint32_t now)
{
    uint8_t inner[256];
    size_t len = udp(inner, BCAST, src);
    run_vxlan(fx, vtep, VXLAN_FLAG_I, vni, inner, len, now);
    out_free(fx);
}

/* ---- Configuration ------------------------------------------------------- */

static void test_create_errors(void **state)
{
    struct fx *fx = *state;
    struct vswitch_config cfg;
    int error = 0;

    vswitch_config_default(&cfg);
    assert_int_equal(cfg.max_segments, 4096);
    assert_int_equal(cfg.mac_capacity, MAC_DEFAULT_CAPACITY);
    assert_int_equal(cfg.mac_age_seconds, 300);
    assert_int_equal(cfg.vxlan_port, 4789);
    assert_int_equal(cfg.underlay_mtu, 1500);
    assert_true(ip_addr_is_zero(&cfg.local_vtep4));

    cfg.max_segments = 0;
    assert_null(vswitch_create(&cfg, fx->pool, &error));
    assert_int_equal(error, EINVAL);
    vswitch_config_default(&cfg);
    cfg.max_segments = MAC_TABLE_MAX_SEGMENTS + 1;
    error = 0;
    assert_null(vswitch_create(&cfg, fx->pool, &error));
    assert_int_equal(error, EINVAL);
    vswitch_config_default(&cfg);
    cfg.mac_capacity = 0;
    error = 0;
    assert_null(vswitch_create(&cfg, fx->pool, &error));
    assert_int_equal(error, EINVAL);
    vswitch_config_default(&cfg);
    cfg.local_vtep4 = ip("2001:db8::1"); /* IPv6 where IPv4 is expected */
    error = 0;
    assert_null(vswitch_create(&cfg, fx->pool, &error));
    assert_int_equal(error, EINVAL);

    /* The ARP table and the event ring: defaults, and none of them empty. */
    vswitch_config_default(&cfg);
    assert_int_equal(cfg.arp_capacity, 65536);
    assert_int_equal(cfg.arp_age_seconds, 300);
    assert_int_equal(cfg.event_capacity, 4096);
    uint32_t *fields[] = {&cfg.arp_capacity, &cfg.arp_age_seconds, &cfg.event_capacity};
    for (size_t i = 0; i < 3; i++) {
        vswitch_config_default(&cfg);
        *fields[i] = 0;
        error = 0;
        assert_null(vswitch_create(&cfg, fx->pool, &error));
        assert_int_equal(error, EINVAL);
    }
    vswitch_config_default(&cfg);
    cfg.event_capacity = VSWITCH_EVENTS_MAX + 1;
    assert_null(vswitch_create(&cfg, fx->pool, &error));
    assert_int_equal(error, EINVAL);

    const struct vswitch_config *got = vswitch_get_config(fx->sw);
    assert_int_equal(got->underlay_mtu, 1600);
    struct ip_addr local = ip(VTEP_LOCAL);
    assert_true(ip_addr_equal(&got->local_vtep4, &local));
}

static void test_segment_config_errors(void **state)
{
    struct fx *fx = *state;
    struct segment_config sc = {.vni = 5001, .vlan = 0, .bum = BUM_HEAD_END};
    uint32_t id = 77;

    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EEXIST); /* VNI */
    sc.vni = 6000;
    sc.vlan = 101;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EEXIST); /* VLAN */
    sc.vlan = 0;
    sc.vni = 0;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    sc.vni = 0x1000000;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    sc.vni = 6000;
    sc.vlan = 4095;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    sc.vlan = 0;
    sc.bum = BUM_MULTICAST; /* without a group */
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    sc.mcast_group = ip("10.0.0.5"); /* not a multicast address */
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    assert_int_equal(id, 77);
    uint32_t found = 0;
    assert_int_equal(vswitch_segment_find(fx->sw, 6000, &found), ENOENT);

    /* Boundaries that are valid. */
    sc.bum = BUM_HEAD_END;
    sc.vni = 0xffffff;
    sc.vlan = 4094;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), 0);
    assert_int_equal(vswitch_segment_find(fx->sw, 0xffffff, &found), 0);
    assert_int_equal(found, id);
    const struct segment_config *got = vswitch_segment_get(fx->sw, id);
    assert_non_null(got);
    assert_int_equal(got->vni, 0xffffff);
    assert_int_equal(got->vlan, 4094);
    assert_int_equal(vswitch_segment_del(fx->sw, id), 0);
    assert_int_equal(vswitch_segment_find(fx->sw, 0xffffff, &found), ENOENT);
    assert_null(vswitch_segment_get(fx->sw, id));
    assert_int_equal(vswitch_segment_del(fx->sw, id), ENOENT);

    assert_int_equal(vswitch_segment_find(fx->sw, 5001, &found), 0);
    assert_int_equal(found, fx->seg1);
    assert_int_equal(vswitch_segment_find(fx->sw, 5002, &found), 0);
    assert_int_equal(found, fx->seg2);

    /* An access port holds its segment. */
    assert_int_equal(vswitch_segment_del(fx->sw, fx->seg1), EBUSY);
    assert_int_equal(vswitch_segment_del(fx->sw, fx->seg2), EBUSY);
    assert_int_equal(vswitch_segment_find(fx->sw, 5001, &found), 0);
}

static void test_port_config_errors(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;
    uint16_t id = 4242;

    port_config_default(&pc);
    assert_true(pc.admin_up);
    assert_int_equal(pc.mode, PORT_ACCESS);
    assert_true(pc.learning);
    assert_int_equal(pc.mac_limit, 0);
    assert_int_equal(pc.mtu, 1500);
    assert_int_equal(pc.tpid, 0x8100);
    assert_false(pc.promiscuous);
    assert_false(pc.port_security);

    pc.access_segment = 999; /* no such segment */
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    pc.access_segment = fx->seg1;
    pc.mtu = 67;
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    pc.mtu = 65536;
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    pc.mtu = 1500;
    pc.n_bindings = PORT_MAX_BINDINGS + 1;
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);

    trunk_config(&pc, 0x9100, 0); /* bad TPID */
    port_config_allow_vlan(&pc, 101);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    trunk_config(&pc, ETH_TYPE_VLAN, 102); /* native VLAN not in the allowed list */
    port_config_allow_vlan(&pc, 101);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    trunk_config(&pc, ETH_TYPE_VLAN, 0); /* VLAN 4095 is reserved */
    port_config_allow_vlan(&pc, 4095);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    trunk_config(&pc, ETH_TYPE_VLAN, 0); /* so is 0 */
    port_config_allow_vlan(&pc, 0);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    port_config_default(&pc);
    pc.mode = (enum port_vlan_mode)7;
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);

    /* Bindings with a MAC that can never be a source, on an access or a trunk port. */
    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.port_security = true;
    pc.n_bindings = 1;
    pc.bindings[0].mac = mac("00:00:00:00:00:00");
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    pc.bindings[0].mac = mac("01:00:5e:00:00:01");
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    pc.mode = PORT_TRUNK;
    port_config_allow_vlan(&pc, 101);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), EINVAL);
    assert_int_equal(id, 4242);

    /* Unknown ports. */
    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    assert_int_equal(vswitch_port_set(fx->sw, 4000, &pc), ENOENT);
    assert_int_equal(vswitch_port_del(fx->sw, 4000), ENOENT);
    assert_null(vswitch_port_get(fx->sw, 4000));
    struct vswitch_counters c;
    assert_int_equal(vswitch_port_counters(fx->sw, 4000, &c), ENOENT);

    const struct port_config *got = vswitch_port_get(fx->sw, fx->t1);
    assert_non_null(got);
    assert_int_equal(got->mode, PORT_TRUNK);
    assert_true(port_config_vlan_allowed(got, 101));
    assert_true(port_config_vlan_allowed(got, 102));
    assert_false(port_config_vlan_allowed(got, 103));
}

static void test_peer_config_errors(void **state)
{
    struct fx *fx = *state;
    struct ip_addr a = ip(VTEP2);
    uint32_t id = 0, vteps[4] = {0};

    assert_int_equal(vswitch_segment_peer_add(fx->sw, fx->seg1, &a, &id), EEXIST);
    a = ip("0.0.0.0");
    assert_int_equal(vswitch_segment_peer_add(fx->sw, fx->seg1, &a, &id), EINVAL);
    a = ip("239.1.1.1");
    assert_int_equal(vswitch_segment_peer_add(fx->sw, fx->seg1, &a, &id), EINVAL);
    a = ip("2001:db8::2"); /* no local IPv6 VTEP address */
    assert_int_equal(vswitch_segment_peer_add(fx->sw, fx->seg1, &a, &id), EAFNOSUPPORT);
    a = ip("10.0.9.9");
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &a), ENOENT);
    a = ip(VTEP3); /* a peer of segment 1, not of segment 2 */
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg2, &a), ENOENT);

    assert_int_equal(vswitch_segment_peers(fx->sw, fx->seg1, vteps, 4), 2);
    assert_true((vteps[0] == fx->v2 && vteps[1] == fx->v3) ||
                (vteps[0] == fx->v3 && vteps[1] == fx->v2));
    assert_int_equal(vswitch_segment_peers(fx->sw, fx->seg2, vteps, 4), 1);
    assert_int_equal(vteps[0], fx->v2);
    assert_int_equal(vswitch_vtep_find(fx->sw, &a, &id), 0);
    assert_int_equal(id, fx->v3);
    a = ip("10.0.9.9");
    assert_int_equal(vswitch_vtep_find(fx->sw, &a, &id), ENOENT);

    /* Static MACs: the VTEP must be a peer of that segment, the port must exist. */
    struct eth_addr m = mac(MAC9);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg2, &m, MAC_DEST_REMOTE(fx->v3), NOW),
                     ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m, MAC_DEST_REMOTE(999), NOW),
                     ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m, MAC_DEST_PORT(4000), NOW),
                     ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, 999, &m, MAC_DEST_PORT(fx->a1), NOW), ENOENT);
    /* A port that does not carry the segment: refused, or 5001 would leak into 5002. */
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m, MAC_DEST_PORT(fx->b1), NOW),
                     ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg2, &m, MAC_DEST_PORT(fx->a1), NOW),
                     ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg2, &m, MAC_DEST_PORT(fx->t1), NOW),
                     0); /* the trunk carries VLAN 102 */
    assert_int_equal(vswitch_mac_del(fx->sw, fx->seg2, &m), 0);
    struct eth_addr zero = mac("00:00:00:00:00:00"), bc = mac(BCAST);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &zero, MAC_DEST_PORT(fx->a1), NOW),
                     EINVAL);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &bc, MAC_DEST_PORT(fx->a1), NOW),
                     EINVAL);
    assert_null(lookup(fx, fx->seg1, MAC9));
    assert_null(lookup(fx, fx->seg2, MAC9));
    assert_int_equal(vswitch_mac_del(fx->sw, fx->seg1, &m), ENOENT);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg2, &m, MAC_DEST_REMOTE(fx->v2), NOW), 0);
    expect_mac_at(fx, fx->seg2, MAC9, MAC_DEST_REMOTE(fx->v2), true);
    assert_int_equal(vswitch_mac_del(fx->sw, fx->seg2, &m), 0);
    assert_null(lookup(fx, fx->seg2, MAC9));

    /* A peer removed can be added again. */
    a = ip(VTEP3);
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &a), 0);
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &a), ENOENT);
    assert_int_equal(vswitch_segment_peers(fx->sw, fx->seg1, vteps, 4), 1);
    assert_int_equal(vswitch_segment_peer_add(fx->sw, fx->seg1, &a, &id), 0);
    assert_int_equal(vswitch_segment_peers(fx->sw, fx->seg1, vteps, 4), 2);
}

/* ---- Flooding ------------------------------------------------------------ */

static void test_unknown_unicast_floods(void **state)
{
    struct fx *fx = *state;
    size_t len = udp(fx->f, MAC2, MAC1);

    run_port(fx, fx->a1, fx->f, len, NOW);
    /* Every local port of 5001 but a1, one copy per peer; nothing to b1 (5002). */
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE - 5);
    expect_frame(fx, fx->a2, fx->f, len);
    size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_frame(fx, fx->t2, fx->e, tlen);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    expect_vxlan_to(fx, fx->v3, VTEP3, 5001, fx->f, len);
    out_free(fx);

    /* Counters: 142 in; out 142 + 2 * 146 + 2 * 178. */
    struct vswitch_counters c = port_ctr(fx, fx->a1);
    expect_ctr(&c, 1, 142, 0, 0, 0);
    expect_no_drops(&c);
    c = port_ctr(fx, fx->a2);
    expect_ctr(&c, 0, 0, 1, 142, 1);
    c = port_ctr(fx, fx->t1);
    expect_ctr(&c, 0, 0, 1, 146, 1);
    c = port_ctr(fx, fx->b1);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 1, 142, 5, 142 + 2 * 146 + 2 * 178, 5);
    expect_no_drops(&c);
    c = seg_ctr(fx, fx->seg2);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    c = vtep_ctr(fx, fx->v2);
    expect_ctr(&c, 0, 0, 1, 178, 1);
    c = vtep_ctr(fx, fx->v3);
    expect_ctr(&c, 0, 0, 1, 178, 1);
    struct vswitch_stats s = stats(fx);
    expect_ctr(&s.total, 1, 142, 5, 142 + 2 * 146 + 2 * 178, 5);
    expect_no_drops(&s.total);
    assert_int_equal(s.mac_learned, 1);
    assert_int_equal(s.mac_moves, 0);

    /* The source was learned, in 5001 only. */
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), false);
    assert_int_equal(lookup(fx, fx->seg1, MAC1)->last_seen, NOW);
    assert_null(lookup(fx, fx->seg2, MAC1));
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a1), 1);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
}

static void test_broadcast_and_multicast_flood(void **state)
{
    struct fx *fx = *state;
    size_t len = frame_arp(fx->f, 1, MAC2, "172.16.10.2", "00:00:00:00:00:00", "172.16.10.1");

    /* ARP request (broadcast) from a2. */
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a1, fx->f, len);
    size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 101);
    expect_frame(fx, fx->t2, fx->e, tlen);
    expect_vxlan_to(fx, fx->v3, VTEP3, 5001, fx->f, len);
    out_free(fx);

    /* A multicast destination floods too, even once a1's MAC is known. */
    learn_on_port(fx, fx->a1, MAC1, NOW);
    len = frame_udp4(fx->f, "01:00:5e:01:02:03", MAC1, IP1, "239.1.2.3", 5000, 5000, 64);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a2, fx->f, len);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.flood_packets, 15);
    assert_int_equal(s.total.tx_packets, 15);
    expect_no_drops(&s.total);
}

static void test_flood_no_destination(void **state)
{
    struct fx *fx = *state;
    uint32_t seg = add_segment(fx, 7000, 0); /* no peers, one port */
    uint16_t only = add_access(fx, seg);
    size_t len = udp(fx->f, BCAST, MAC1);

    run_port(fx, only, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = seg_ctr(fx, seg);
    expect_ctr(&c, 1, 142, 0, 0, 0);
    expect_only_drops(&c, DROP_NO_DESTINATION, 1);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_NO_DESTINATION, 1);
    /* The source is learned all the same. */
    expect_mac_at(fx, seg, MAC1, MAC_DEST_PORT(only), false);
}

/* ---- Unicast ------------------------------------------------------------- */

static void test_known_unicast_one_port(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->a1, MAC1, NOW);
    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW + 1);
    EXPECT_DESTS(fx, fx->a1);
    expect_frame(fx, fx->a1, fx->f, len);
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE - 1);
    out_free(fx);

    struct vswitch_counters c = port_ctr(fx, fx->a1);
    expect_ctr(&c, 1, 142, 1, 142, 0);
    c = port_ctr(fx, fx->t1);
    expect_ctr(&c, 0, 0, 1, 146, 1); /* the learning broadcast only */
    c = vtep_ctr(fx, fx->v2);
    expect_ctr(&c, 0, 0, 1, 178, 1);

    /* Both ways once both are known. */
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW + 2);
    EXPECT_DESTS(fx, fx->a2);
    expect_frame(fx, fx->a2, fx->f, len);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.tx_packets, 5 + 1 + 1);
    assert_int_equal(s.total.flood_packets, 5);
    assert_int_equal(s.mac_learned, 2);
}

static void test_known_unicast_to_trunk(void **state)
{
    struct fx *fx = *state;

    /* MAC3 lives on trunk t1 in VLAN 101. */
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 3, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC3, MAC_DEST_PORT(fx->t1), false);
    assert_null(lookup(fx, fx->seg2, MAC3));

    /* From an access port: tagged 101, PCP 0. */
    len = udp(fx->f, MAC3, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1);
    size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    out_free(fx);

    /* From the other trunk: re-tagged 101 with the sender's PCP. */
    len = udp_tagged(fx->f, MAC3, MAC4, 0x8100, 6, 101);
    run_port(fx, fx->t2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1);
    expect_frame(fx, fx->t1, fx->f, len);
    out_free(fx);

    /* From the trunk to an access port: untagged. */
    len = udp_tagged(fx->f, MAC1, MAC3, 0x8100, 5, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    size_t ulen = without_tag(fx->e, fx->f, len);
    expect_frame(fx, fx->a1, fx->e, ulen);
    out_free(fx);

    struct vswitch_counters c = port_ctr(fx, fx->t1);
    expect_ctr(&c, 2, 2 * 146, 2, 2 * 146, 0);
    c = seg_ctr(fx, fx->seg1);
    /* rx counts the frames as they came in (tagged from trunks). */
    assert_int_equal(c.rx_packets, 4);
    assert_int_equal(c.rx_bytes, 146 + 142 + 146 + 146);
}

static void test_remote_learning_and_encap(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];
    size_t ilen = udp(inner, MAC1, MACR2); /* MAC1 unknown yet */

    /* From the overlay: flooded to the local ports only (split horizon). */
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    expect_frame(fx, fx->a1, inner, ilen);
    expect_frame(fx, fx->a2, inner, ilen);
    size_t tlen = with_tag(fx->e, inner, ilen, 0x8100, 0, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_frame(fx, fx->t2, fx->e, tlen);
    out_free(fx);

    /* The inner source is learned behind the sending VTEP, in 5001 only. */
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    assert_null(lookup(fx, fx->seg2, MACR2));

    struct vswitch_counters c = vtep_ctr(fx, fx->v2);
    expect_ctr(&c, 1, ilen, 0, 0, 0);
    c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 1, ilen, 4, 2 * 142 + 2 * 146, 4);
    struct vswitch_stats s = stats(fx);
    expect_ctr(&s.total, 1, ilen + VXLAN_HEADER_LEN, 4, 2 * 142 + 2 * 146, 4);
    assert_int_equal(s.mac_learned, 1);

    /* Unicast back: one encapsulated copy, to 10.0.2.1 only. */
    size_t len = udp(fx->f, MACR2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);
    c = vtep_ctr(fx, fx->v2);
    expect_ctr(&c, 1, ilen, 1, 178, 0);
    c = vtep_ctr(fx, fx->v3);
    expect_ctr(&c, 0, 0, 0, 0, 0);

    /* From a trunk in VLAN 101: the inner frame leaves untagged. */
    len = udp_tagged(fx->f, MACR2, MAC3, 0x8100, 7, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    size_t ulen = without_tag(fx->e, fx->f, len);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->e, ulen);
    out_free(fx);

    /* Segment 5002 has its own VNI on the wire. */
    learn_remote(fx, VTEP2, 5002, MACR2, NOW);
    expect_mac_at(fx, fx->seg2, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    len = udp(fx->f, MACR2, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5002, fx->f, len);
    out_free(fx);
}

static void test_vxlan_flow_entropy(void **state)
{
    struct fx *fx = *state;
    uint16_t first = 0;
    bool differ = false;

    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    /* Eight flows between the same two hosts: the outer source port follows the flow. */
    for (int i = 0; i < 8; i++) {
        size_t len = frame_udp4(fx->f, MACR2, MAC1, IP1, IP2, (uint16_t)(1000 + i), 2000, 100);
        run_port(fx, fx->a1, fx->f, len, NOW);
        EXPECT_DESTS(fx, DV(fx->v2));
        expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
        uint16_t sport = be16(tx_for(fx, DV(fx->v2))->data + 20);
        if (i == 0) {
            first = sport;
        } else if (sport != first) {
            differ = true;
        }
        out_free(fx);
    }
    assert_true(differ);
}

static void test_split_horizon(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];

    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    out_free(fx);

    /* From 10.0.3.1 to a MAC behind 10.0.2.1: never back into the overlay. */
    size_t ilen = udp(inner, MACR2, MACR3);
    run_vxlan(fx, VTEP3, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_SPLIT_HORIZON, 1);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_SPLIT_HORIZON, 1);
    c = vtep_ctr(fx, fx->v2);
    assert_int_equal(c.tx_packets, 0);
    /* Its source is learned nonetheless. */
    expect_mac_at(fx, fx->seg1, MACR3, MAC_DEST_REMOTE(fx->v3), false);

    /* Even to a MAC behind the sending VTEP itself. */
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, udp(inner, MACR2, MAC7), NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    expect_only_drops(&s.total, DROP_SPLIT_HORIZON, 2);

    /* A broadcast from the overlay reaches local ports only. */
    ilen = udp(inner, BCAST, MACR3);
    run_vxlan(fx, VTEP3, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.total.tx_packets, 4 + 4); /* learn_remote's flood and this one */
}

static void test_hairpin(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->a1, MAC1, NOW);
    size_t len = udp(fx->f, MAC1, MAC4); /* MAC4 also behind a1 */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, fx->a1);
    expect_only_drops(&c, DROP_HAIRPIN, 1);
    assert_int_equal(c.rx_packets, 2);
    c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_HAIRPIN, 1);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_HAIRPIN, 1);
    expect_mac_at(fx, fx->seg1, MAC4, MAC_DEST_PORT(fx->a1), false);
}

/* ---- VLANs --------------------------------------------------------------- */

static void test_access_port_vlans(void **state)
{
    struct fx *fx = *state;

    /* A VLAN-tagged frame on an access port is dropped, whatever the VLAN. */
    size_t len = udp_tagged(fx->f, BCAST, MAC1, 0x8100, 0, 101);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp_tagged(fx->f, BCAST, MAC1, 0x8100, 0, 55);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp_tagged(fx->f, BCAST, MAC1, 0x88a8, 0, 0);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, fx->a1);
    expect_only_drops(&c, DROP_VLAN_NOT_ALLOWED, 3);
    assert_int_equal(c.rx_packets, 3);
    assert_null(lookup(fx, fx->seg1, MAC1));

    /* A priority tag (VID 0) is accepted; its PCP rides along. */
    len = udp_tagged(fx->f, BCAST, MAC1, 0x8100, 5, 0);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    size_t ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->a2, fx->x, ulen);
    size_t tlen = with_tag(fx->e, fx->x, ulen, 0x8100, 5, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_frame(fx, fx->t2, fx->e, tlen);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->x, ulen);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), false);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_VLAN_NOT_ALLOWED, 3);
}

static void test_trunk_allowed_vlans(void **state)
{
    struct fx *fx = *state;

    /* VLAN 101 on t1 -> segment 5001. */
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 3, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t2, DV(fx->v2), DV(fx->v3));
    size_t ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->a1, fx->x, ulen);
    expect_frame(fx, fx->a2, fx->x, ulen);
    expect_frame(fx, fx->t2, fx->f, len); /* same tag, same PCP */
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->x, ulen);
    expect_vxlan_to(fx, fx->v3, VTEP3, 5001, fx->x, ulen);
    out_free(fx);

    /* VLAN 102 on t1 -> segment 5002: b1, t2 (tag 102), and 5002's only peer. */
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->b1, fx->t2, DV(fx->v2));
    ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->b1, fx->x, ulen);
    expect_frame(fx, fx->t2, fx->f, len);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5002, fx->x, ulen);
    out_free(fx);

    /* One MAC, two VLANs: two entries on the same trunk. */
    expect_mac_at(fx, fx->seg1, MAC3, MAC_DEST_PORT(fx->t1), false);
    expect_mac_at(fx, fx->seg2, MAC3, MAC_DEST_PORT(fx->t1), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 2);

    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 1, 146, 5, 2 * 142 + 146 + 2 * 178, 5);
    c = seg_ctr(fx, fx->seg2);
    expect_ctr(&c, 1, 146, 3, 142 + 146 + 178, 3);
    c = port_ctr(fx, fx->t2);
    expect_ctr(&c, 0, 0, 2, 2 * 146, 2);
}

static void test_trunk_vlan_errors(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    trunk_config(&pc, ETH_TYPE_VLAN, 0);
    port_config_allow_vlan(&pc, 101);
    port_config_allow_vlan(&pc, 103); /* no segment has VLAN 103 */
    uint16_t t3 = add_port(fx, &pc);

    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102); /* not allowed on t3 */
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, BCAST, MAC3); /* untagged, no native VLAN */
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 0); /* priority tag, no native VLAN */
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, t3);
    expect_only_drops(&c, DROP_VLAN_NOT_ALLOWED, 3);

    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 4095); /* reserved VID */
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    c = port_ctr(fx, t3);
    expect_only_drops(&c, DROP_VLAN_NOT_ALLOWED, 4);

    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 103); /* allowed, but no segment */
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    c = port_ctr(fx, t3);
    assert_int_equal(c.drops[DROP_NO_SEGMENT], 1);
    assert_int_equal(drops_sum(&c), 5);
    assert_int_equal(c.rx_packets, 5);

    /* None of this reached a segment or the MAC table. */
    c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    expect_no_drops(&c);
    c = seg_ctr(fx, fx->seg2);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    assert_null(lookup(fx, fx->seg1, MAC3));
    assert_null(lookup(fx, fx->seg2, MAC3));
    assert_int_equal(vswitch_port_mac_count(fx->sw, t3), 0);

    /* Only VLAN 101 goes through t3, and only 101 comes out of it. */
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 101);
    run_port(fx, t3, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);
    len = udp(fx->f, BCAST, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2, DV(fx->v2));
    out_free(fx);
}

static void test_trunk_native_vlan(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    trunk_config(&pc, ETH_TYPE_VLAN, 101);
    port_config_allow_vlan(&pc, 101);
    port_config_allow_vlan(&pc, 102);
    uint16_t t3 = add_port(fx, &pc);

    /* Untagged in on the native VLAN: segment 5001. */
    size_t len = udp(fx->f, BCAST, MAC5);
    run_port(fx, t3, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a1, fx->f, len);
    size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC5, MAC_DEST_PORT(t3), false);

    /* Priority-tagged on the native VLAN: segment 5001, tag removed, PCP kept. */
    len = udp_tagged(fx->f, BCAST, MAC5, 0x8100, 4, 0);
    run_port(fx, t3, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    size_t ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->a1, fx->x, ulen);
    tlen = with_tag(fx->e, fx->x, ulen, 0x8100, 4, 101);
    expect_frame(fx, fx->t2, fx->e, tlen);
    out_free(fx);

    /* Tagged 101 on a trunk whose native VLAN is 101 is accepted too. */
    len = udp_tagged(fx->f, BCAST, MAC5, 0x8100, 0, 101);
    run_port(fx, t3, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);

    /* Out of the native VLAN: untagged. Out of VLAN 102: tagged. */
    len = udp(fx->f, MAC5, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, t3);
    expect_frame(fx, t3, fx->f, len);
    out_free(fx);
    len = udp(fx->f, BCAST, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2, t3, DV(fx->v2));
    tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 102);
    expect_frame(fx, t3, fx->e, tlen);
    out_free(fx);

    /* Tagged 102 in: segment 5002. */
    len = udp_tagged(fx->f, MACB, MAC6, 0x8100, 0, 102);
    run_port(fx, t3, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->b1);
    ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->b1, fx->x, ulen);
    out_free(fx);
    expect_mac_at(fx, fx->seg2, MAC6, MAC_DEST_PORT(t3), false);
    struct vswitch_stats s = stats(fx);
    expect_no_drops(&s.total);
}

static void test_trunk_8021ad(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    trunk_config(&pc, ETH_TYPE_QINQ, 0);
    port_config_allow_vlan(&pc, 101);
    uint16_t s1 = add_port(fx, &pc);
    assert_int_equal(vswitch_port_get(fx->sw, s1)->tpid, 0x88a8);

    /* S-tag 101 in: segment 5001, S-tag stripped; 802.1Q trunks get a C-tag. */
    size_t len = udp_tagged(fx->f, BCAST, MAC5, 0x88a8, 2, 101);
    run_port(fx, s1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    size_t ulen = without_tag(fx->x, fx->f, len);
    expect_frame(fx, fx->a1, fx->x, ulen);
    size_t tlen = with_tag(fx->e, fx->x, ulen, 0x8100, 2, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->x, ulen);
    out_free(fx);

    /* Out of the 802.1ad trunk: TPID 0x88a8. */
    len = udp(fx->f, MAC5, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, s1);
    tlen = with_tag(fx->e, fx->f, len, 0x88a8, 0, 101);
    expect_frame(fx, s1, fx->e, tlen);
    out_free(fx);

    /* QinQ: S-tag 101 then C-tag 7: the S-tag goes, the customer tag stays. */
    const struct frame_tag tags[3] = {
        {.tpid = 0x88a8, .vid = 101, .pcp = 1}, {.tpid = 0x8100, .vid = 7, .pcp = 0}, {0}};
    len = frame_udp4_tagged(fx->f, MAC1, MAC5, tags, IP1, IP2, 1000, 2000, 100);
    assert_int_equal(len, 150);
    run_port(fx, s1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    ulen = without_tag(fx->x, fx->f, len);
    assert_int_equal(be16(fx->x + 12), 0x8100);
    expect_frame(fx, fx->a1, fx->x, ulen);
    out_free(fx);

    /* A C-tag alone is not this trunk's tag: untagged to it, and no native VLAN. */
    len = udp_tagged(fx->f, BCAST, MAC5, 0x8100, 0, 101);
    run_port(fx, s1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, s1);
    expect_only_drops(&c, DROP_VLAN_NOT_ALLOWED, 1);
}

static void test_segment_isolation(void **state)
{
    struct fx *fx = *state;
    uint16_t b2 = add_access(fx, fx->seg2);

    /* The same two MACs in both segments. */
    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    learn_on_port(fx, fx->b1, MAC1, NOW);
    learn_on_port(fx, b2, MAC2, NOW);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), false);
    expect_mac_at(fx, fx->seg2, MAC1, MAC_DEST_PORT(fx->b1), false);
    expect_mac_at(fx, fx->seg1, MAC2, MAC_DEST_PORT(fx->a2), false);
    expect_mac_at(fx, fx->seg2, MAC2, MAC_DEST_PORT(b2), false);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_learned, 4);
    assert_int_equal(s.mac_moves, 0);

    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);
    run_port(fx, b2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->b1);
    out_free(fx);

    /* Broadcast in 5002 stays in 5002. */
    len = udp(fx->f, BCAST, MAC2);
    run_port(fx, b2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->b1, fx->t1, fx->t2, DV(fx->v2));
    size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 102);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5002, fx->f, len);
    out_free(fx);

    /* From the overlay: VNI 5002 to 5002's MAC1 (b1), not a1. */
    uint8_t inner[256];
    size_t ilen = udp(inner, MAC1, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5002, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->b1);
    out_free(fx);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.mac_moves, 0);
    expect_no_drops(&s.total);
}

/* ---- Learning ------------------------------------------------------------ */

static void test_many_macs_behind_one_port(void **state)
{
    struct fx *fx = *state;
    char m[ETH_ADDR_STRLEN];

    for (int i = 0; i < 100; i++) {
        snprintf(m, sizeof m, "02:00:00:00:10:%02x", i);
        size_t len = udp_tagged(fx->f, BCAST, m, 0x8100, 0, 101);
        run_port(fx, fx->t1, fx->f, len, NOW + (uint32_t)i);
        assert_int_equal(fx->out.n, 5);
        out_free(fx);
    }
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 100);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_learned, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(m, sizeof m, "02:00:00:00:10:%02x", i);
        expect_mac_at(fx, fx->seg1, m, MAC_DEST_PORT(fx->t1), false);
        assert_int_equal(lookup(fx, fx->seg1, m)->last_seen, NOW + (uint32_t)i);
        size_t len = udp(fx->f, m, MAC1);
        run_port(fx, fx->a1, fx->f, len, NOW + 100);
        EXPECT_DESTS(fx, fx->t1);
        size_t tlen = with_tag(fx->e, fx->f, len, 0x8100, 0, 101);
        expect_frame(fx, fx->t1, fx->e, tlen);
        out_free(fx);
    }
}

static void test_mac_limit(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.mac_limit = 2;
    uint16_t lim = add_port(fx, &pc);

    learn_on_port(fx, lim, MAC5, NOW);
    learn_on_port(fx, lim, MAC6, NOW);
    assert_int_equal(vswitch_port_mac_count(fx->sw, lim), 2);

    /* A third source is dropped, not learned, not forwarded. */
    size_t len = udp(fx->f, BCAST, MAC7);
    run_port(fx, lim, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    assert_null(lookup(fx, fx->seg1, MAC7));
    struct vswitch_counters c = port_ctr(fx, lim);
    expect_only_drops(&c, DROP_MAC_LIMIT, 1);
    c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_MAC_LIMIT, 1);
    assert_int_equal(vswitch_port_mac_count(fx->sw, lim), 2);

    /* Known sources still go through. */
    len = udp(fx->f, BCAST, MAC5);
    run_port(fx, lim, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);

    /* A MAC moving onto the full port counts as new on it: dropped, left where it was. */
    learn_on_port(fx, fx->a1, MAC1, NOW);
    len = udp(fx->f, BCAST, MAC1);
    run_port(fx, lim, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), false);
    c = port_ctr(fx, lim);
    expect_only_drops(&c, DROP_MAC_LIMIT, 2);

    /* Room again once one of its MACs is gone. */
    struct eth_addr m5 = mac(MAC5);
    assert_int_equal(vswitch_mac_del(fx->sw, fx->seg1, &m5), 0);
    assert_int_equal(vswitch_port_mac_count(fx->sw, lim), 1);
    len = udp(fx->f, BCAST, MAC7);
    run_port(fx, lim, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC7, MAC_DEST_PORT(lim), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, lim), 2);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_MAC_LIMIT, 2);
}

static void test_learning_off(void **state)
{
    struct fx *fx = *state;
    struct port_config pc = *vswitch_port_get(fx->sw, fx->a2);

    pc.learning = false;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a2, &pc), 0);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    assert_null(lookup(fx, fx->seg1, MAC2));
    size_t len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5); /* still unknown: flooded */
    out_free(fx);
}

static void test_static_mac_not_overridden(void **state)
{
    struct fx *fx = *state;
    struct eth_addr m1 = mac(MAC1), m2 = mac(MAC2), m9 = mac(MAC9);

    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m1, MAC_DEST_PORT(fx->a1), NOW), 0);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), true);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a1), 0); /* limit counts learned only */

    /* MAC1 appears on a2: the static entry stays, no move. */
    learn_on_port(fx, fx->a2, MAC1, NOW + 1);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), true);
    assert_int_equal(lookup(fx, fx->seg1, MAC1)->last_seen, NOW);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_moves, 0);
    assert_int_equal(s.mac_learned, 0);

    /* Frames to MAC1 go to a1 only, from a2 too. */
    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW + 2);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);

    /* Nor does a MAC behind a VTEP move a static entry. */
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MAC1);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW + 3);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), true);

    /* A static entry replaces a learned one, and the port's learned count drops. */
    learn_on_port(fx, fx->a2, MAC2, NOW);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 1);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m2, MAC_DEST_PORT(fx->t1), NOW), 0);
    expect_mac_at(fx, fx->seg1, MAC2, MAC_DEST_PORT(fx->t1), true);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1);
    out_free(fx);

    /* A static MAC behind a peer: unicast encapsulation to that peer only. */
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m9, MAC_DEST_REMOTE(fx->v3), NOW),
                     0);
    len = udp(fx->f, MAC9, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v3));
    expect_vxlan_to(fx, fx->v3, VTEP3, 5001, fx->f, len);
    out_free(fx);
    /* ... which learning from another VTEP does not move. */
    ilen = udp(inner, BCAST, MAC9);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC9, MAC_DEST_REMOTE(fx->v3), true);

    /* Static entries do not age. */
    assert_int_equal(vswitch_age(fx->sw, NOW + 100000), 0);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a1), true);
    s = stats(fx);
    assert_int_equal(s.mac_moves, 0);
    assert_int_equal(s.mac_aged, 0);
    expect_no_drops(&s.total);
}

static void test_mac_moves(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->b1, MAC1, NOW); /* same MAC in 5002: not a move */
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a1), 1);

    /* Port to port. */
    learn_on_port(fx, fx->a2, MAC1, NOW + 1);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->a2), false);
    assert_int_equal(lookup(fx, fx->seg1, MAC1)->last_seen, NOW + 1);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a1), 0);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 1);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_moves, 1);
    assert_int_equal(s.mac_learned, 2);
    size_t len = udp(fx->f, MAC1, MAC4);
    run_port(fx, fx->a1, fx->f, len, NOW + 1);
    EXPECT_DESTS(fx, fx->a2);
    out_free(fx);

    /* Port to VTEP. */
    learn_remote(fx, VTEP2, 5001, MAC1, NOW + 2);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_REMOTE(fx->v2), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    s = stats(fx);
    assert_int_equal(s.mac_moves, 2);
    run_port(fx, fx->a1, fx->f, len, NOW + 2);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);

    /* VTEP to VTEP. */
    learn_remote(fx, VTEP3, 5001, MAC1, NOW + 3);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_REMOTE(fx->v3), false);
    s = stats(fx);
    assert_int_equal(s.mac_moves, 3);

    /* VTEP back to a (trunk) port. */
    len = udp_tagged(fx->f, BCAST, MAC1, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW + 4);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC1, MAC_DEST_PORT(fx->t1), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 1);
    s = stats(fx);
    assert_int_equal(s.mac_moves, 4);
    assert_int_equal(s.mac_learned, 3); /* MAC1 in each segment, and MAC4 */

    /* 5002's MAC1 never moved. */
    expect_mac_at(fx, fx->seg2, MAC1, MAC_DEST_PORT(fx->b1), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->b1), 1);
    expect_no_drops(&s.total);
}

static void test_aging(void **state)
{
    struct fx *fx = *state;
    struct eth_addr m9 = mac(MAC9);

    learn_on_port(fx, fx->a1, MAC1, 100);
    learn_remote(fx, VTEP2, 5001, MACR2, 150);
    learn_on_port(fx, fx->a2, MAC2, 300);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m9, MAC_DEST_PORT(fx->a1), 0), 0);

    assert_int_equal(vswitch_age(fx->sw, 399), 0);
    /* Exactly 300 s unseen: gone. */
    assert_int_equal(vswitch_age(fx->sw, 400), 1);
    assert_null(lookup(fx, fx->seg1, MAC1));
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a1), 0);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_aged, 1);

    assert_int_equal(vswitch_age(fx->sw, 449), 0);
    assert_int_equal(vswitch_age(fx->sw, 450), 1);
    assert_null(lookup(fx, fx->seg1, MACR2));

    /* Seen again at 500: MAC2 lives until 800. */
    learn_on_port(fx, fx->a2, MAC2, 500);
    assert_int_equal(vswitch_age(fx->sw, 799), 0);
    expect_mac_at(fx, fx->seg1, MAC2, MAC_DEST_PORT(fx->a2), false);
    assert_int_equal(vswitch_age(fx->sw, 800), 1);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    s = stats(fx);
    assert_int_equal(s.mac_aged, 3);
    expect_mac_at(fx, fx->seg1, MAC9, MAC_DEST_PORT(fx->a1), true);

    /* Aged out: flooded again. */
    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, 900);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
}

/* A switch of a test's own, on the fixture's pool: one segment (VNI 42), two
 * access ports. */
struct mini_switch {
    struct vswitch *sw;
    uint32_t seg;
    uint16_t p1, p2;
};

static struct mini_switch mini_switch(struct fx *fx, const struct vswitch_config *cfg,
                                      const struct segment_config *sc)
{
    struct mini_switch m = {0};
    struct port_config pc;
    int error = -1;

    m.sw = vswitch_create(cfg, fx->pool, &error);
    assert_non_null(m.sw);
    assert_int_equal(vswitch_segment_add(m.sw, sc, &m.seg), 0);
    port_config_default(&pc);
    pc.access_segment = m.seg;
    assert_int_equal(vswitch_port_add(m.sw, &pc, &m.p1), 0);
    assert_int_equal(vswitch_port_add(m.sw, &pc, &m.p2), 0);
    return m;
}

static void test_aging_configurable(void **state)
{
    struct fx *fx = *state;
    struct vswitch_config cfg;

    vswitch_config_default(&cfg);
    cfg.local_vtep4 = ip(VTEP_LOCAL);
    cfg.mac_age_seconds = 10;
    const struct segment_config sc = {.vni = 42, .bum = BUM_HEAD_END};
    struct mini_switch m = mini_switch(fx, &cfg, &sc);
    struct vswitch *sw = m.sw;
    uint32_t seg = m.seg;
    uint16_t p1 = m.p1, p2 = m.p2;

    size_t len = udp(fx->f, BCAST, MAC1);
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, p1, &p, 1, 5, &fx->out);
    EXPECT_DESTS(fx, p2);
    out_free(fx);
    struct eth_addr m1 = mac(MAC1);
    assert_non_null(vswitch_mac_lookup(sw, seg, &m1));
    assert_int_equal(vswitch_age(sw, 14), 0);
    assert_int_equal(vswitch_age(sw, 15), 1);
    assert_null(vswitch_mac_lookup(sw, seg, &m1));
    vswitch_destroy(sw);
}

static void test_table_full_still_forwards(void **state)
{
    struct fx *fx = *state; /* MAC table of 2 entries */

    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.mac_learned, 2);
    assert_int_equal(s.mac_table_full, 0);

    /* A third source: not learned, forwarded all the same, counted. */
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);
    assert_null(lookup(fx, fx->seg1, MAC3));
    s = stats(fx);
    assert_int_equal(s.mac_table_full, 1);
    assert_int_equal(s.mac_learned, 2);
    expect_no_drops(&s.total);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 0);

    /* Frames to it are flooded. */
    len = udp(fx->f, MAC3, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* Full from the overlay side too. */
    uint8_t inner[256];
    size_t ilen = udp(inner, MAC1, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.mac_table_full, 2);
    assert_null(lookup(fx, fx->seg1, MACR2));

    /* Known MACs are untouched; room again after a delete. */
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2);
    out_free(fx);
    struct eth_addr m2 = mac(MAC2);
    assert_int_equal(vswitch_mac_del(fx->sw, fx->seg1, &m2), 0);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    learn_on_port(fx, fx->a1, MAC4, NOW);
    expect_mac_at(fx, fx->seg1, MAC4, MAC_DEST_PORT(fx->a1), false);
    s = stats(fx);
    assert_int_equal(s.mac_learned, 3);
    assert_int_equal(s.mac_table_full, 2);
}

/* ---- Port flags ---------------------------------------------------------- */

static void test_promiscuous(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.promiscuous = true;
    uint16_t pr = add_port(fx, &pc);
    pc.access_segment = fx->seg2;
    uint16_t pr2 = add_port(fx, &pc);

    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    struct vswitch_counters before = port_ctr(fx, pr);
    assert_int_equal(before.tx_packets, 2); /* the two learning broadcasts */

    /* Known unicast a2 -> a1: a1 and a copy to the promiscuous port of 5001 only. */
    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, pr);
    expect_frame(fx, fx->a1, fx->f, len);
    expect_frame(fx, pr, fx->f, len);
    out_free(fx);
    struct vswitch_counters c = port_ctr(fx, pr);
    expect_ctr(&c, 0, 0, 3, 3 * 142, 2); /* the copy is not a flood copy */
    c = port_ctr(fx, pr2);
    expect_ctr(&c, 0, 0, 0, 0, 0);

    /* A broadcast reaches it once. */
    len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, pr, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* Unicast to a remote MAC, and from the overlay to a local one. */
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    len = udp(fx->f, MACR2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2), pr);
    expect_frame(fx, pr, fx->f, len); /* the copy is not encapsulated */
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);
    uint8_t inner[256];
    size_t ilen = udp(inner, MAC2, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a2, pr);
    expect_frame(fx, pr, inner, ilen);
    out_free(fx);

    /* Its own frames are not copied back to it. */
    len = udp(fx->f, MAC1, MAC6);
    run_port(fx, pr, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);
    /* Nor is a frame addressed to it copied twice. */
    len = udp(fx->f, MAC6, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, pr);
    out_free(fx);
    c = port_ctr(fx, pr2);
    expect_ctr(&c, 0, 0, 0, 0, 0);
}

static void test_port_security(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.port_security = true;
    pc.n_bindings = 2;
    pc.bindings[0].mac = mac(MAC5);
    pc.bindings[0].ip = ip("192.168.1.5");
    pc.bindings[1].mac = mac(MAC6); /* any IP */
    uint16_t sp = add_port(fx, &pc);

    /* Forged IP from a bound MAC. */
    size_t len = frame_udp4(fx->f, MAC9, MAC5, "192.168.1.6", IP2, 68, 67, 100);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    /* Unbound MAC. */
    len = frame_udp4(fx->f, MAC9, MAC7, "192.168.1.5", IP2, 68, 67, 100);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    /* ARP with a forged sender IP. */
    len = frame_arp(fx->f, 1, MAC5, "192.168.1.6", "00:00:00:00:00:00", "192.168.1.1");
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    /* ARP whose sender MAC is not the frame's source. */
    len = frame_arp(fx->f, 1, MAC7, "192.168.1.5", "00:00:00:00:00:00", "192.168.1.1");
    struct eth_addr m5 = mac(MAC5);
    memcpy(fx->f + 6, m5.bytes, 6);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    /* IPv6 from a MAC bound to an IPv4 address only. */
    len = frame_udp6(fx->f, MAC9, MAC5, "2001:db8::5", "2001:db8::1", 1000, 2000, 64, 0);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);

    struct vswitch_counters c = port_ctr(fx, sp);
    assert_int_equal(c.drops[DROP_PORT_SECURITY_IP], 3);
    assert_int_equal(c.drops[DROP_PORT_SECURITY_MAC], 2);
    assert_int_equal(drops_sum(&c), 5);
    assert_int_equal(c.rx_packets, 5);
    c = seg_ctr(fx, fx->seg1);
    assert_int_equal(c.drops[DROP_PORT_SECURITY_IP], 3);
    assert_int_equal(c.drops[DROP_PORT_SECURITY_MAC], 2);
    assert_int_equal(drops_sum(&c), 5);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.drops[DROP_PORT_SECURITY_IP], 3);
    assert_int_equal(s.total.drops[DROP_PORT_SECURITY_MAC], 2);
    assert_int_equal(drops_sum(&s.total), 5);
    /* Nothing forged was learned. */
    assert_null(lookup(fx, fx->seg1, MAC5));
    assert_null(lookup(fx, fx->seg1, MAC7));
    assert_int_equal(s.mac_learned, 0);

    /* The bound pair passes: UDP, ARP, and DHCP from 0.0.0.0. */
    len = frame_udp4(fx->f, MAC9, MAC5, "192.168.1.5", IP2, 1000, 2000, 100);
    run_port(fx, sp, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a1, fx->f, len);
    out_free(fx);
    len = frame_arp(fx->f, 1, MAC5, "192.168.1.5", "00:00:00:00:00:00", "192.168.1.1");
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    len = frame_udp4(fx->f, BCAST, MAC5, "0.0.0.0", "255.255.255.255", 68, 67, 100);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    /* A binding without an IP allows any address, IPv4 or IPv6. */
    len = frame_udp4(fx->f, MAC9, MAC6, "10.9.9.9", IP2, 1000, 2000, 100);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    len = frame_udp6(fx->f, MAC9, MAC6, "2001:db8::6", "2001:db8::1", 1000, 2000, 64, 0);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    /* IPv6 link-local and the unspecified address (DAD) pass: a host needs them
     * before it has the address it is bound to. */
    len = frame_udp6(fx->f, MAC9, MAC5, "fe80::5", "fe80::1", 1000, 2000, 64, 0);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    len = frame_icmp6(fx->f, "33:33:ff:00:00:05", MAC5, "::", "ff02::1:ff00:5", 24);
    run_port(fx, sp, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MAC5, MAC_DEST_PORT(sp), false);
    expect_mac_at(fx, fx->seg1, MAC6, MAC_DEST_PORT(sp), false);
    c = port_ctr(fx, sp);
    assert_int_equal(drops_sum(&c), 5);
    assert_int_equal(c.rx_packets, 12);

    /* Other ports are not checked. */
    len = frame_udp4(fx->f, MAC9, MAC7, "192.168.1.6", IP2, 1000, 2000, 100);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 6);
    out_free(fx);
}

/* ---- BUM replication by multicast --------------------------------------- */

static void test_multicast_bum(void **state)
{
    struct fx *fx = *state;
    struct segment_config sc = {.vni = 5003, .vlan = 103, .bum = BUM_MULTICAST};
    uint32_t seg3 = 0, mv = 0;

    sc.mcast_group = ip("239.1.1.3");
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &seg3), 0);
    struct ip_addr group = ip("239.1.1.3");
    assert_int_equal(vswitch_vtep_find(fx->sw, &group, &mv), 0);
    assert_int_equal(add_peer(fx, seg3, VTEP2), fx->v2);
    uint16_t c1 = add_access(fx, seg3);
    uint16_t c2 = add_access(fx, seg3);

    /* Broadcast and unknown unicast: the local port and one copy to the group. */
    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, c1, fx->f, len, NOW);
    EXPECT_DESTS(fx, c2, DV(mv));
    expect_frame(fx, c2, fx->f, len);
    expect_vxlan_to(fx, mv, "239.1.1.3", 5003, fx->f, len);
    out_free(fx);
    len = udp(fx->f, MAC9, MAC1);
    run_port(fx, c1, fx->f, len, NOW);
    EXPECT_DESTS(fx, c2, DV(mv));
    out_free(fx);

    /* Decapsulated from a peer: learned; BUM from the overlay stays local. */
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5003, inner, ilen, NOW);
    EXPECT_DESTS(fx, c1, c2);
    out_free(fx);
    expect_mac_at(fx, seg3, MACR2, MAC_DEST_REMOTE(fx->v2), false);

    /* Known unicast still goes to the one VTEP. */
    len = udp(fx->f, MACR2, MAC1);
    run_port(fx, c1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5003, fx->f, len);
    out_free(fx);

    struct vswitch_counters c = vtep_ctr(fx, mv);
    expect_ctr(&c, 0, 0, 2, 2 * 178, 2);

    /* Head-end segments still copy per peer. */
    len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* The group goes with the segment. */
    assert_int_equal(vswitch_port_del(fx->sw, c1), 0);
    assert_int_equal(vswitch_port_del(fx->sw, c2), 0);
    assert_int_equal(vswitch_segment_del(fx->sw, seg3), 0);
    assert_int_equal(vswitch_vtep_find(fx->sw, &group, &mv), ENOENT);
    struct ip_addr v2a = ip(VTEP2);
    assert_int_equal(vswitch_vtep_find(fx->sw, &v2a, &mv), 0);
    assert_int_equal(mv, fx->v2);
}

/* ---- Underlay options: IPv6, UDP checksum, port, limits ------------------ */

static uint16_t udp_checksum_over(const uint8_t *pseudo, size_t pseudo_len, const uint8_t *udp,
                                  size_t udp_len)
{
    return csum_fold(csum_partial(udp, udp_len, csum_partial(pseudo, pseudo_len, 0)));
}

static void test_underlay_options(void **state)
{
    struct fx *fx = *state;
    struct vswitch_config cfg;
    int error = -1;

    vswitch_config_default(&cfg);
    cfg.local_vtep4 = ip(VTEP_LOCAL);
    cfg.local_vtep6 = ip("2001:db8::1");
    cfg.udp_checksum_v4 = true;
    cfg.vxlan_port = 8472;
    cfg.max_segments = 1;
    struct vswitch *sw = vswitch_create(&cfg, fx->pool, &error);
    assert_non_null(sw);
    struct segment_config sc = {.vni = 0x10203, .bum = BUM_HEAD_END};
    uint32_t seg = 0, seg_other = 0, v4 = 0, v6 = 0;
    assert_int_equal(vswitch_segment_add(sw, &sc, &seg), 0);
    sc.vni = 0x10204;
    assert_int_equal(vswitch_segment_add(sw, &sc, &seg_other), ENOSPC); /* max_segments */
    struct ip_addr r4 = ip(VTEP2), r6 = ip("2001:db8::2");
    assert_int_equal(vswitch_segment_peer_add(sw, seg, &r4, &v4), 0);
    assert_int_equal(vswitch_segment_peer_add(sw, seg, &r6, &v6), 0);
    struct port_config pc;
    port_config_default(&pc);
    pc.access_segment = seg;
    uint16_t port = 0;
    assert_int_equal(vswitch_port_add(sw, &pc, &port), 0);

    size_t len = udp(fx->f, BCAST, MAC1);
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, port, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, DV(v4), DV(v6));
    uint32_t hash = flow_hash_of(fx->f, len);

    /* IPv4 with the UDP checksum asked for: valid and not zero, port 8472. */
    const uint8_t *d = tx_for(fx, DV(v4))->data;
    assert_int_equal(tx_for(fx, DV(v4))->len, 36 + len);
    assert_int_equal(d[0], 0x45);
    assert_int_equal(csum_fold(csum_partial(d, 20, 0)), 0);
    assert_int_equal(be16(d + 22), 8472);
    assert_int_not_equal(be16(d + 26), 0);
    uint8_t pseudo4[12] = {0};
    memcpy(pseudo4, d + 12, 8);
    pseudo4[9] = 17;
    pseudo4[10] = (uint8_t)((len + 16) >> 8);
    pseudo4[11] = (uint8_t)(len + 16);
    assert_int_equal(udp_checksum_over(pseudo4, sizeof pseudo4, d + 20, len + 16), 0);
    assert_int_equal(d[20 + 8 + 4], 0x01);
    assert_int_equal(d[20 + 8 + 5], 0x02);
    assert_int_equal(d[20 + 8 + 6], 0x03);

    /* IPv6: version 6, flow label from the inner flow, hop limit 64, UDP checksum valid. */
    const struct pkt *p6 = tx_for(fx, DV(v6));
    d = p6->data;
    assert_int_equal(p6->len, VXLAN_OVERHEAD_V6 + len);
    assert_int_equal(d[0], 0x60);
    assert_int_equal(d[1] >> 4, 0);
    assert_int_equal((uint32_t)(d[1] & 0x0f) << 16 | (uint32_t)d[2] << 8 | d[3], hash & 0xfffff);
    assert_int_equal(be16(d + 4), len + 16);
    assert_int_equal(d[6], 17);
    assert_int_equal(d[7], 64);
    assert_memory_equal(d + 8, cfg.local_vtep6.bytes, 16);
    assert_memory_equal(d + 24, r6.bytes, 16);
    const uint8_t *u = d + 40;
    assert_int_equal(be16(u), vxlan_source_port(hash));
    assert_int_equal(be16(u + 2), 8472);
    assert_int_equal(be16(u + 4), len + 16);
    assert_int_not_equal(be16(u + 6), 0);
    uint8_t pseudo6[40] = {0};
    memcpy(pseudo6, d + 8, 32);
    pseudo6[34] = (uint8_t)((len + 16) >> 8);
    pseudo6[35] = (uint8_t)(len + 16);
    pseudo6[39] = 17;
    assert_int_equal(udp_checksum_over(pseudo6, sizeof pseudo6, u, len + 16), 0);
    const uint8_t vxh[8] = {0x08, 0, 0, 0, 0x01, 0x02, 0x03, 0};
    assert_memory_equal(u + 8, vxh, 8);
    assert_memory_equal(u + 16, fx->f, len);
    out_free(fx);

    /* Learned behind the IPv6 peer, then unicast to it only. */
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);
    len = frame_vxlan(fx->x, VXLAN_FLAG_I, 0x10203, inner, ilen);
    p = frame_to_pkt(fx->pool, fx->x, len);
    p->meta.outer_src = r6;
    vswitch_input_vxlan(sw, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, port);
    out_free(fx);
    struct eth_addr mr = mac(MACR2);
    const struct mac_entry *e = vswitch_mac_lookup(sw, seg, &mr);
    assert_non_null(e);
    assert_int_equal(e->dest, MAC_DEST_REMOTE(v6));
    len = udp(fx->f, MACR2, MAC1);
    p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, port, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, DV(v6));
    out_free(fx);
    vswitch_destroy(sw);
}

static void test_port_ids_exhausted(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;
    uint16_t id = 0, last = 0;
    uint32_t added = 0;

    port_config_default(&pc);
    pc.access_segment = fx->seg2;
    while (vswitch_port_add(fx->sw, &pc, &id) == 0) {
        assert_true(id < VSWITCH_MAX_PORTS);
        last = id;
        added++;
    }
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), ENOSPC);
    assert_int_equal(added, VSWITCH_MAX_PORTS - 5); /* the fixture has 5 ports */
    /* A freed id is reused; the switch still works at full size. */
    assert_int_equal(vswitch_port_del(fx->sw, last), 0);
    assert_int_equal(vswitch_port_add(fx->sw, &pc, &id), 0);
    assert_int_equal(id, last);
    size_t len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* A broadcast in 5002 has 4093 local destinations and a peer: 63 free buffers
     * for copies, the original for the last; every other copy is counted. */
    len = udp(fx->f, BCAST, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, POOL_SIZE);
    assert_int_equal(pkt_pool_available(fx->pool), 0);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_NO_BUFFER, (VSWITCH_MAX_PORTS - 5) + 2 + 1 - POOL_SIZE);
    assert_int_equal(s.total.tx_packets, 5 + POOL_SIZE);
    out_free(fx);
}

/* ---- Decapsulation errors ------------------------------------------------ */

static void test_decap_errors(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);

    run_vxlan(fx, VTEP2, 0x00, 5001, inner, ilen, NOW); /* no I flag */
    assert_int_equal(fx->out.n, 0);
    run_vxlan(fx, VTEP2, 0xf7, 5001, inner, ilen, NOW); /* everything but I */
    assert_int_equal(fx->out.n, 0);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, 13, NOW); /* inner Ethernet cut */
    assert_int_equal(fx->out.n, 0);
    struct pkt *p = frame_to_pkt(fx->pool, inner, 7); /* not even a VXLAN header */
    p->meta.outer_src = ip(VTEP2);
    vswitch_input_vxlan(fx->sw, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 0);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 7777, inner, ilen, NOW); /* VNI not served */
    assert_int_equal(fx->out.n, 0);
    run_vxlan(fx, "10.0.9.9", VXLAN_FLAG_I, 5001, inner, ilen, NOW); /* not a peer at all */
    assert_int_equal(fx->out.n, 0);
    run_vxlan(fx, VTEP3, VXLAN_FLAG_I, 5002, inner, ilen, NOW); /* peer of 5001 only */
    assert_int_equal(fx->out.n, 0);

    /* Accepted datagrams whose inner frame is refused. */
    size_t tlen = udp_tagged(fx->x + 512, BCAST, MACR2, 0x8100, 0, 101);
    uint8_t tagged[256];
    memcpy(tagged, fx->x + 512, tlen);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, tagged, tlen, NOW);
    assert_int_equal(fx->out.n, 0);
    uint8_t bad[256];
    size_t blen = udp(bad, BCAST, "03:00:00:00:00:01"); /* group bit in the source */
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, bad, blen, NOW);
    assert_int_equal(fx->out.n, 0);
    blen = udp(bad, BCAST, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, bad, 30, NOW); /* IPv4 header cut */
    assert_int_equal(fx->out.n, 0);

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.rx_packets, 10);
    assert_int_equal(s.total.drops[DROP_VXLAN_BAD_FLAGS], 2);
    assert_int_equal(s.total.drops[DROP_VXLAN_TRUNCATED], 2);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VNI], 1);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VTEP], 2);
    assert_int_equal(s.total.drops[DROP_VXLAN_INNER_VLAN], 1);
    assert_int_equal(s.total.drops[DROP_SRC_MAC_INVALID], 1);
    assert_int_equal(s.total.drops[DROP_IPV4_TRUNCATED], 1);
    assert_int_equal(drops_sum(&s.total), 10);
    assert_int_equal(s.total.tx_packets, 0);
    assert_int_equal(s.mac_learned, 0);
    assert_null(lookup(fx, fx->seg1, MACR2));
    assert_null(lookup(fx, fx->seg2, MACR2));

    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    assert_int_equal(c.drops[DROP_VXLAN_UNKNOWN_VTEP], 1);
    assert_int_equal(c.drops[DROP_VXLAN_INNER_VLAN], 1);
    assert_int_equal(c.drops[DROP_SRC_MAC_INVALID], 1);
    assert_int_equal(c.drops[DROP_IPV4_TRUNCATED], 1);
    assert_int_equal(drops_sum(&c), 4);
    assert_int_equal(c.rx_packets, 3); /* the three from the peer that reached the segment */
    c = seg_ctr(fx, fx->seg2);
    expect_only_drops(&c, DROP_VXLAN_UNKNOWN_VTEP, 1);
    assert_int_equal(c.rx_packets, 0);
    c = vtep_ctr(fx, fx->v2);
    assert_int_equal(c.rx_packets, 3);
    c = vtep_ctr(fx, fx->v3);
    assert_int_equal(c.rx_packets, 0);

    /* Reserved bits are ignored (RFC 7348): only the I flag matters. */
    size_t len = frame_vxlan(fx->x, 0xff, 5001, inner, ilen);
    fx->x[1] = 0xaa;
    fx->x[2] = 0xbb;
    fx->x[3] = 0xcc;
    fx->x[7] = 0xdd;
    p = frame_to_pkt(fx->pool, fx->x, len);
    p->meta.outer_src = ip(VTEP2);
    vswitch_input_vxlan(fx->sw, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    expect_frame(fx, fx->a1, inner, ilen);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);
}

static void test_decap_inner_vlan_allowed(void **state)
{
    struct fx *fx = *state;
    struct segment_config sc = {.vni = 0xabc004, /* every VNI byte in use */
                                .bum = BUM_HEAD_END,
                                .allow_inner_vlan = true};
    uint32_t seg4 = 0;

    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &seg4), 0);
    add_peer(fx, seg4, VTEP2);
    uint16_t d1 = add_access(fx, seg4);
    uint16_t d2 = add_access(fx, seg4);

    /* The customer's tag is payload here: delivered as it came. */
    uint8_t inner[256];
    size_t ilen = udp_tagged(inner, BCAST, MACR2, 0x8100, 3, 9);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 0xabc004, inner, ilen, NOW);
    EXPECT_DESTS(fx, d1, d2);
    expect_frame(fx, d1, inner, ilen);
    expect_frame(fx, d2, inner, ilen);
    out_free(fx);
    expect_mac_at(fx, seg4, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    uint32_t found = 0;
    assert_int_equal(vswitch_segment_find(fx->sw, 0xabc004, &found), 0);
    assert_int_equal(found, seg4);

    /* And back, with the three bytes of the VNI on the wire. */
    size_t len = udp(fx->f, MACR2, MAC1);
    run_port(fx, d1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 0xabc004, fx->f, len);
    assert_int_equal(tx_for(fx, DV(fx->v2))->data[20 + 8 + 4], 0xab);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    expect_no_drops(&s.total);
}

/* ---- MTU ----------------------------------------------------------------- */

static void test_underlay_mtu(void **state)
{
    struct fx *fx = *state;
    struct port_config pc;

    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.mtu = 9000;
    uint16_t big = add_port(fx, &pc);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);

    /* 1564-byte frame + 36 = 1600: fits exactly. */
    size_t len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1522);
    assert_int_equal(len, 1564);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);

    /* One byte more: dropped and counted, never truncated; the guest is told
     * (DF is set) the largest packet that fits, 1600 - 36 - 14 (see the PMTU tests). */
    len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1523);
    assert_int_equal(len, 1565);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, big);
    assert_int_equal(be16(tx_for(fx, big)->data + 14 + 20 + 6), 1550);
    out_free(fx);
    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_UNDERLAY_MTU, 1);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 1);
    c = vtep_ctr(fx, fx->v2);
    assert_int_equal(c.tx_packets, 1);

    /* Flooded: local ports of MTU 1500 cannot take 1551 bytes of L3, peers cannot either. */
    len = frame_udp4(fx->f, MAC9, MAC5, IP1, IP2, 1000, 2000, 1523);
    run_port(fx, big, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_UNDERLAY_MTU], 3);
    assert_int_equal(s.total.drops[DROP_OVERSIZE], 4);
    assert_int_equal(drops_sum(&s.total), 7);

    /* 1564 bytes flooded: the peers take it, the 1500-byte ports do not. */
    len = frame_udp4(fx->f, MAC9, MAC5, IP1, IP2, 1000, 2000, 1522);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2), DV(fx->v3));
    expect_vxlan_to(fx, fx->v3, VTEP3, 5001, fx->f, len);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_OVERSIZE], 8);
    assert_int_equal(drops_sum(&s.total), 11);

    /* From a jumbo trunk: the tag is not counted against the egress port's MTU twice,
     * nor forgotten: 1500 bytes of L3 reach a1, 1501 do not. */
    struct port_config tc;
    trunk_config(&tc, ETH_TYPE_VLAN, 0);
    port_config_allow_vlan(&tc, 101);
    tc.mtu = 9000;
    uint16_t jt = add_port(fx, &tc);
    learn_on_port(fx, fx->a1, MAC1, NOW);
    const struct frame_tag tag101[2] = {{.tpid = 0x8100, .vid = 101}, {0}};
    len = frame_udp4_tagged(fx->f, MAC1, MAC6, tag101, IP1, IP2, 1000, 2000, 1473);
    assert_int_equal(len, 1519);
    run_port(fx, jt, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_OVERSIZE], 9);
    len = frame_udp4_tagged(fx->f, MAC1, MAC6, tag101, IP1, IP2, 1000, 2000, 1472);
    run_port(fx, jt, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    assert_int_equal(tx_for(fx, fx->a1)->len, 1514);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_OVERSIZE], 9);

    /* Egress MTU boundary: 1514 bytes reach a 1500-byte access port, tagged 1518 a trunk. */
    len = frame_udp4(fx->f, MAC9, MAC5, IP1, IP2, 1000, 2000, 1472);
    assert_int_equal(len, 1514);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, jt, DV(fx->v2), DV(fx->v3));
    assert_int_equal(tx_for(fx, fx->t1)->len, 1518);
    assert_int_equal(tx_for(fx, jt)->len, 1518);
    out_free(fx);
}

/* ---- Path MTU: ICMP errors back to the guest ------------------------------ */

/* A 9000-byte access port of segment 5001 with MACR2 known behind VTEP2: its
 * frames up to 1564 bytes fit the 1600-byte underlay. */
static uint16_t pmtu_setup(struct fx *fx)
{
    struct port_config pc;

    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.mtu = 9000;
    uint16_t big = add_port(fx, &pc);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    return big;
}

/* The output to port is an IPv4 frag-needed (its IP header at l3) from ip_from
 * to ip_to, MTU mtu, quoting orig_ip (the IP packet that was too big). */
static void expect_frag_needed(const struct fx *fx, uint16_t port, size_t l3, const char *mac_from,
                               const char *mac_to, const uint8_t *orig_ip, uint16_t mtu)
{
    const struct pkt *q = tx_for(fx, port);
    const uint8_t *d = q->data;
    struct eth_addr from = mac(mac_from), to = mac(mac_to);

    assert_int_equal(q->len, l3 + 576);
    assert_memory_equal(d, to.bytes, 6);
    assert_memory_equal(d + 6, from.bytes, 6);
    const uint8_t *ip = d + l3;
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(be16(ip + 2), 576);
    assert_int_equal(ip[9], 1);
    assert_int_equal(csum_fold(csum_partial(ip, 20, 0)), 0);
    assert_memory_equal(ip + 12, orig_ip + 16, 4);
    assert_memory_equal(ip + 16, orig_ip + 12, 4);
    assert_int_equal(ip[20], 3);
    assert_int_equal(ip[21], 4);
    assert_int_equal(be16(ip + 26), mtu);
    assert_memory_equal(ip + 28, orig_ip, 548);
    assert_int_equal(csum_fold(csum_partial(ip + 20, 556, 0)), 0);
}

static void test_pmtu_icmp_access_port(void **state)
{
    struct fx *fx = *state;
    uint16_t big = pmtu_setup(fx);

    /* 1551 bytes of IP (a 1565-byte frame, DF set by the builder): one too many. */
    size_t len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1523);
    struct vswitch_counters c0 = port_ctr(fx, big); /* it got learn_remote()'s broadcast */
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, big);
    expect_frag_needed(fx, big, 14, MACR2, MAC5, fx->f + 14, 1550);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 1);
    assert_int_equal(s.pmtu_icmp_ratelimited, 0);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 1); /* the frame itself still counts */
    struct vswitch_counters c = port_ctr(fx, big);
    assert_int_equal(c.tx_packets - c0.tx_packets, 1);
    assert_int_equal(c.tx_bytes - c0.tx_bytes, 14 + 576);

    /* Without DF: dropped and counted, no error (the switch does not fragment). */
    fx->f[14 + 6] = 0;
    fx->f[14 + 10] = fx->f[14 + 11] = 0;
    uint16_t sum = csum_fold(csum_partial(fx->f + 14, 20, 0));
    memcpy(fx->f + 14 + 10, &sum, 2);
    run_port(fx, big, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 1);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 2);

    /* An ICMP error that is too big: never answered with another. */
    len = frame_icmp4(fx->f, MACR2, MAC5, IP1, IP2, 1523);
    fx->f[14 + 20] = 11;
    run_port(fx, big, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    /* ... an echo request is. */
    len = frame_icmp4(fx->f, MACR2, MAC5, IP1, IP2, 1523);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, big);
    out_free(fx);

    /* Non-IP, too big: dropped only. */
    len = frame_put_eth(fx->f, MACR2, MAC5, NULL, 0x88b5);
    memset(fx->f + len, 0x45, 1551);
    run_port(fx, big, fx->f, len + 1551, NOW);
    assert_int_equal(fx->out.n, 0);

    /* Flooded (unknown destination), too big: dropped at each peer, no error. */
    len = frame_udp4(fx->f, MAC9, MAC5, IP1, IP2, 1000, 2000, 1523);
    struct vswitch_stats before = stats(fx);
    run_port(fx, big, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_UNDERLAY_MTU] - before.total.drops[DROP_UNDERLAY_MTU], 2);
    assert_int_equal(s.pmtu_icmp_sent, 2);

    /* Priority-tagged (VID 0) on the access port: the tag is the switch's, removed,
     * so it does not ride along (MTU 1550) and the error goes back untagged. */
    const struct frame_tag prio[2] = {{.tpid = 0x8100, .vid = 0, .pcp = 3}, {0}};
    len = frame_udp4_tagged(fx->f, MACR2, MAC5, prio, IP1, IP2, 1000, 2000, 1523);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, big);
    assert_int_equal(be16(tx_for(fx, big)->data + 12), ETH_TYPE_IPV4);
    expect_frag_needed(fx, big, 14, MACR2, MAC5, fx->f + 18, 1550);
    out_free(fx);
}

static void test_pmtu_icmp_trunk_port(void **state)
{
    struct fx *fx = *state;
    struct port_config tc;

    trunk_config(&tc, ETH_TYPE_VLAN, 0);
    port_config_allow_vlan(&tc, 101);
    tc.mtu = 9000;
    uint16_t jt = add_port(fx, &tc);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);

    /* Tagged VLAN 101, PCP 5: the switch's tag does not ride along (MTU 1550), and the
     * error goes back tagged as any frame to that trunk, PCP kept. */
    const struct frame_tag tag101[2] = {{.tpid = 0x8100, .vid = 101, .pcp = 5}, {0}};
    size_t len = frame_udp4_tagged(fx->f, MACR2, MAC6, tag101, IP1, IP2, 1000, 2000, 1523);
    run_port(fx, jt, fx->f, len, NOW);
    EXPECT_DESTS(fx, jt);
    const uint8_t *d = tx_for(fx, jt)->data;
    assert_int_equal(be16(d + 12), 0x8100);
    assert_int_equal(be16(d + 14), 5 << 13 | 101);
    expect_frag_needed(fx, jt, 18, MACR2, MAC6, fx->f + 18, 1550);
    out_free(fx);

    /* A customer tag inside (QinQ payload to this switch) rides along: 4 bytes less
     * for IP (1546), and the error carries it back under the segment's tag. */
    const struct frame_tag two[3] = {
        {.tpid = 0x8100, .vid = 101, .pcp = 0}, {.tpid = 0x8100, .vid = 7, .pcp = 0}, {0}};
    len = frame_udp4_tagged(fx->f, MACR2, MAC6, two, IP1, IP2, 1000, 2000, 1519);
    assert_int_equal(len, 1569); /* 1565 with the inner tag after the outer one is gone */
    run_port(fx, jt, fx->f, len, NOW);
    EXPECT_DESTS(fx, jt);
    d = tx_for(fx, jt)->data;
    assert_int_equal(be16(d + 14) & 0x0fff, 101);
    assert_memory_equal(d + 16, fx->f + 16, 6); /* inner tag and ethertype */
    expect_frag_needed(fx, jt, 22, MACR2, MAC6, fx->f + 22, 1546);
    out_free(fx);

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 2);
}

static void test_pmtu_icmp_ipv6(void **state)
{
    struct fx *fx = *state;
    uint16_t big = pmtu_setup(fx);

    /* 1551 bytes of IPv6 over the IPv4 underlay: told MTU 1550. */
    size_t len = frame_udp6(fx->f, MACR2, MAC5, "2001:db8::5", "2001:db8::7", 1, 2, 1503, 0);
    assert_int_equal(len, 1565);
    run_port(fx, big, fx->f, len, NOW);
    EXPECT_DESTS(fx, big);
    const struct pkt *q = tx_for(fx, big);
    const uint8_t *ip = q->data + 14;
    assert_int_equal(q->len, 14 + 1280);
    assert_int_equal(be16(q->data + 12), ETH_TYPE_IPV6);
    assert_int_equal(ip[6], 58);
    assert_memory_equal(ip + 8, fx->f + 14 + 24, 16);
    assert_memory_equal(ip + 24, fx->f + 14 + 8, 16);
    assert_int_equal(ip[40], 2);
    assert_int_equal(be16(ip + 44) << 16 | be16(ip + 46), 1550);
    assert_memory_equal(ip + 48, fx->f + 14, 1232);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 1);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 1);
}

/* Over an IPv6 underlay the outer headers take 56 bytes: MTU 1600 - 56 - 14. */
static void test_pmtu_icmp_ipv6_underlay(void **state)
{
    struct fx *fx = *state;
    struct vswitch_config cfg;
    int error = -1;

    vswitch_config_default(&cfg);
    cfg.local_vtep6 = ip("2001:db8::1");
    cfg.underlay_mtu = 1600;
    struct vswitch *sw = vswitch_create(&cfg, fx->pool, &error);
    assert_non_null(sw);
    struct segment_config sc = {.vni = 77, .bum = BUM_HEAD_END};
    uint32_t seg = 0, v6 = 0;
    assert_int_equal(vswitch_segment_add(sw, &sc, &seg), 0);
    struct ip_addr r6 = ip("2001:db8::2");
    assert_int_equal(vswitch_segment_peer_add(sw, seg, &r6, &v6), 0);
    struct eth_addr m = mac(MACR2);
    assert_int_equal(vswitch_mac_add_static(sw, seg, &m, MAC_DEST_REMOTE(v6), NOW), 0);
    struct port_config pc;
    port_config_default(&pc);
    pc.access_segment = seg;
    pc.mtu = 9000;
    uint16_t port = 0;
    assert_int_equal(vswitch_port_add(sw, &pc, &port), 0);

    size_t len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1503);
    assert_int_equal(len, 1545); /* 1545 + 56 = 1601 */
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, port, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, port);
    expect_frag_needed(fx, port, 14, MACR2, MAC5, fx->f + 14, 1530);
    out_free(fx);
    vswitch_destroy(sw);
}

/* At most 100 errors per port per second (the default); the rest are counted. */
static void test_pmtu_icmp_rate_limit(void **state)
{
    struct fx *fx = *state;
    uint16_t big = pmtu_setup(fx);
    size_t len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1523);

    for (int i = 0; i < 100; i++) {
        run_port(fx, big, fx->f, len, NOW);
        EXPECT_DESTS(fx, big);
        out_free(fx);
    }
    for (int i = 0; i < 5; i++) {
        run_port(fx, big, fx->f, len, NOW);
        assert_int_equal(fx->out.n, 0);
    }
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 100);
    assert_int_equal(s.pmtu_icmp_ratelimited, 5);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 105);
    /* Another port has its own bucket. */
    struct port_config pc;
    port_config_default(&pc);
    pc.access_segment = fx->seg1;
    pc.mtu = 9000;
    uint16_t other = add_port(fx, &pc);
    len = frame_udp4(fx->f, MACR2, MAC6, IP1, IP2, 1000, 2000, 1523);
    run_port(fx, other, fx->f, len, NOW);
    EXPECT_DESTS(fx, other);
    out_free(fx);
    /* The next second refills the bucket. */
    len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1523);
    run_port(fx, big, fx->f, len, NOW + 1);
    EXPECT_DESTS(fx, big);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.pmtu_icmp_sent, 102);
    assert_int_equal(s.pmtu_icmp_ratelimited, 5);
}

/* pmtu_icmp_rate 0: never sent, only dropped. */
static void test_pmtu_icmp_off(void **state)
{
    struct fx *fx = *state;
    struct vswitch_config cfg;
    int error = -1;

    vswitch_config_default(&cfg);
    assert_int_equal(cfg.pmtu_icmp_rate, 100);
    cfg.local_vtep4 = ip(VTEP_LOCAL);
    cfg.pmtu_icmp_rate = 0;
    struct vswitch *sw = vswitch_create(&cfg, fx->pool, &error);
    assert_non_null(sw);
    struct segment_config sc = {.vni = 77, .bum = BUM_HEAD_END};
    uint32_t seg = 0, v = 0;
    assert_int_equal(vswitch_segment_add(sw, &sc, &seg), 0);
    struct ip_addr r = ip(VTEP2);
    assert_int_equal(vswitch_segment_peer_add(sw, seg, &r, &v), 0);
    struct eth_addr m = mac(MACR2);
    assert_int_equal(vswitch_mac_add_static(sw, seg, &m, MAC_DEST_REMOTE(v), NOW), 0);
    struct port_config pc;
    port_config_default(&pc);
    pc.access_segment = seg;
    uint16_t port = 0;
    assert_int_equal(vswitch_port_add(sw, &pc, &port), 0);
    size_t len = frame_udp4(fx->f, MACR2, MAC5, IP1, IP2, 1000, 2000, 1472); /* 1514 + 36 > 1500 */
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, port, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_stats s;
    vswitch_get_stats(sw, &s);
    assert_int_equal(s.pmtu_icmp_sent, 0);
    assert_int_equal(s.pmtu_icmp_ratelimited, 0);
    expect_only_drops(&s.total, DROP_UNDERLAY_MTU, 1);
    vswitch_destroy(sw);
}

/* ---- Malformed frames and resource limits -------------------------------- */

static void test_malformed_frames(void **state)
{
    struct fx *fx = *state;
    size_t len;

    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, 10, NOW); /* runt */
    assert_int_equal(fx->out.n, 0);
    len = udp_tagged(fx->f, MAC2, MAC1, 0x8100, 0, 0);
    run_port(fx, fx->a1, fx->f, 16, NOW); /* tag cut short */
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, 30, NOW); /* IPv4 header cut */
    assert_int_equal(fx->out.n, 0);
    fx->f[14] = 0x55; /* IPv4 version 5 */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, MAC2, MAC1);
    fx->f[14 + 20 + 4] = 0;
    fx->f[14 + 20 + 5] = 4; /* UDP length 4 */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = frame_arp(fx->f, 1, MAC1, IP1, "00:00:00:00:00:00", IP2);
    size_t arp_len = len;
    fx->f[15] = 6; /* hardware type 6 */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, MAC2, "01:00:5e:00:00:01"); /* multicast source */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, MAC2, "00:00:00:00:00:00"); /* zero source */
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    len = frame_udp4(fx->f, MAC2, MAC1, IP1, IP2, 1000, 2000, 1473); /* 1501 bytes of L3 */
    assert_int_equal(len, 1515);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    const struct frame_tag tag101[2] = {{.tpid = 0x8100, .vid = 101}, {0}};
    len = frame_udp4_tagged(fx->f, MAC2, MAC3, tag101, IP1, IP2, 1000, 2000, 1473);
    assert_int_equal(len, 1519);
    run_port(fx, fx->t1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);

    struct vswitch_counters c = port_ctr(fx, fx->a1);
    assert_int_equal(c.drops[DROP_RUNT], 1);
    assert_int_equal(c.drops[DROP_VLAN_TRUNCATED], 1);
    assert_int_equal(c.drops[DROP_IPV4_TRUNCATED], 1);
    assert_int_equal(c.drops[DROP_IPV4_BAD_HEADER], 1);
    assert_int_equal(c.drops[DROP_UDP_BAD_LENGTH], 1);
    assert_int_equal(c.drops[DROP_ARP_MALFORMED], 1);
    assert_int_equal(c.drops[DROP_SRC_MAC_INVALID], 2);
    assert_int_equal(c.drops[DROP_OVERSIZE], 1);
    assert_int_equal(drops_sum(&c), 9);
    assert_int_equal(c.rx_packets, 9);
    assert_int_equal(c.rx_bytes, 10 + 16 + 30 + 142 + 142 + arp_len + 142 + 142 + 1515);
    c = port_ctr(fx, fx->t1);
    expect_only_drops(&c, DROP_OVERSIZE, 1);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(drops_sum(&s.total), 10);
    assert_int_equal(s.total.rx_packets, 10);
    assert_int_equal(s.total.tx_packets, 0);
    assert_int_equal(s.mac_learned, 0);
    c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    expect_no_drops(&c);

    /* The largest frames that fit pass. */
    len = frame_udp4(fx->f, MAC2, MAC1, IP1, IP2, 1000, 2000, 1472);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
    len = frame_udp4_tagged(fx->f, MAC2, MAC3, tag101, IP1, IP2, 1000, 2000, 1472);
    run_port(fx, fx->t1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
}

static void test_tx_full(void **state)
{
    struct fx *fx = *state;

    fx->out.cap = 2;
    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 2);
    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_TX_FULL, 3);
    assert_int_equal(c.tx_packets, 2);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_TX_FULL, 3);
    assert_int_equal(s.total.tx_packets, 2);
    out_free(fx);
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE);

    /* Known unicast into a full batch. */
    learn_on_port(fx, fx->a2, MAC2, NOW); /* 2 of 5 fit, 3 more drops */
    fx->out.cap = 0;
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    expect_only_drops(&s.total, DROP_TX_FULL, 7);
    fx->out.cap = OUT_CAP;
}

static void test_no_buffer_for_flood(void **state)
{
    struct fx *fx = *state;
    struct pkt *held[POOL_SIZE];
    uint32_t n_held = 0;

    size_t len = udp(fx->f, BCAST, MAC1);
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    for (struct pkt *h; (h = pkt_pool_get(fx->pool)) != NULL;) {
        held[n_held++] = h;
    }
    assert_int_equal(n_held, POOL_SIZE - 1);

    /* Five destinations, no buffer for copies: the original goes to one of them. */
    vswitch_input_port(fx->sw, fx->a1, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 1);
    uint32_t d = fx->out.tx[0].dest;
    assert_true(d == fx->a2 || d == fx->t1 || d == fx->t2 || d == DV(fx->v2) || d == DV(fx->v3));
    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_only_drops(&c, DROP_NO_BUFFER, 4);
    expect_ctr(&c, 1, 142, 1, c.tx_bytes, 1);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_NO_BUFFER, 4);
    out_free(fx);

    /* From the overlay too. */
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);
    len = frame_vxlan(fx->x, VXLAN_FLAG_I, 5001, inner, ilen);
    p = frame_to_pkt(fx->pool, fx->x, len);
    p->meta.outer_src = ip(VTEP2);
    vswitch_input_vxlan(fx->sw, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 1);
    s = stats(fx);
    expect_only_drops(&s.total, DROP_NO_BUFFER, 7);
    out_free(fx);

    for (uint32_t i = 0; i < n_held; i++) {
        pkt_pool_put(fx->pool, held[i]);
    }
}

struct flush_ctx {
    struct pkt_pool *pool;
    uint32_t calls;
    uint32_t sent;
    uint32_t dests[16];
};

/* Plays the I/O layer: "sends" what is in the batch, then empties it. */
static void flush_out(struct vswitch_out *out)
{
    struct flush_ctx *c = out->ctx;

    c->calls++;
    for (uint32_t i = 0; i < out->n; i++) {
        if (c->sent < 16) {
            c->dests[c->sent] = out->tx[i].dest;
        }
        c->sent++;
        pkt_pool_put(c->pool, out->tx[i].pkt);
    }
    out->n = 0;
}

static void test_tx_flush_callback(void **state)
{
    struct fx *fx = *state;
    struct flush_ctx c = {.pool = fx->pool};

    /* A batch of 2 with a flush callback: all 5 copies leave, none dropped. */
    fx->out.cap = 2;
    fx->out.flush = flush_out;
    fx->out.ctx = &c;
    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.sent + fx->out.n, 5);
    assert_int_equal(fx->out.n, 1);
    flush_out(&fx->out);
    const uint32_t want[] = {fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3)};
    for (int i = 0; i < 5; i++) {
        int seen = 0;
        for (int j = 0; j < 5; j++) {
            seen += c.dests[j] == want[i];
        }
        assert_int_equal(seen, 1);
    }
    struct vswitch_stats s = stats(fx);
    expect_no_drops(&s.total);
    assert_int_equal(s.total.tx_packets, 5);
    fx->out.flush = NULL;
    fx->out.ctx = NULL;
    fx->out.cap = OUT_CAP;
}

/* A buffer handed in without headroom (an I/O layer that did not reserve it):
 * a tag or the outer headers cannot be pushed; counted, never written out of bounds. */
static struct pkt *pkt_without_headroom(struct fx *fx, const uint8_t *frame, size_t len)
{
    struct pkt *p = frame_to_pkt(fx->pool, frame, len);
    memmove(p->head, p->data, p->len);
    p->data = p->head;
    assert_int_equal(pkt_headroom(p), 0);
    return p;
}

static void test_no_headroom(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->t1, MAC3, NOW); /* untagged on t1: dropped, nothing learned */
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    out_free(fx);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);

    len = udp(fx->f, MAC3, MAC1); /* to a trunk: needs 4 bytes for the tag */
    struct pkt *p = pkt_without_headroom(fx, fx->f, len);
    vswitch_input_port(fx->sw, fx->a1, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 0);
    len = udp(fx->f, MACR2, MAC1); /* to a VTEP: needs 36 */
    p = pkt_without_headroom(fx, fx->f, len);
    vswitch_input_port(fx->sw, fx->a1, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 0);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    len = udp(fx->f, MAC2, MAC1); /* untagged to an access port: needs none */
    p = pkt_without_headroom(fx, fx->f, len);
    vswitch_input_port(fx->sw, fx->a1, &p, 1, NOW, &fx->out);
    EXPECT_DESTS(fx, fx->a2);
    expect_frame(fx, fx->a2, fx->f, len);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.drops[DROP_NO_HEADROOM], 2);
    assert_int_equal(s.total.drops[DROP_VLAN_NOT_ALLOWED], 1);
    assert_int_equal(drops_sum(&s.total), 3);
}

/* ---- Ports going down or away -------------------------------------------- */

static void test_port_down(void **state)
{
    struct fx *fx = *state;
    struct port_config pc = *vswitch_port_get(fx->sw, fx->a2);

    learn_on_port(fx, fx->a2, MAC2, NOW);
    pc.admin_up = false;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a2, &pc), 0);
    assert_false(vswitch_port_get(fx->sw, fx->a2)->admin_up);

    /* Nothing goes in... */
    size_t len = udp(fx->f, BCAST, MAC4);
    run_port(fx, fx->a2, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, fx->a2);
    expect_only_drops(&c, DROP_PORT_DOWN, 1);
    assert_int_equal(c.rx_packets, 2);
    assert_null(lookup(fx, fx->seg1, MAC4));

    /* ... nor out: not flooded to, and unicast to it dropped. */
    len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    uint8_t inner[256];
    size_t ilen = udp(inner, MAC2, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_PORT_DOWN, 3);
    c = port_ctr(fx, fx->a2);
    assert_int_equal(c.tx_packets, 0);

    /* Up again. */
    pc.admin_up = true;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a2, &pc), 0);
    len = udp(fx->f, MAC2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2);
    out_free(fx);
}

static void test_input_on_unknown_port(void **state)
{
    struct fx *fx = *state;

    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, 4000, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(vswitch_port_del(fx->sw, fx->a2), 0);
    run_port(fx, fx->a2, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_PORT_DOWN, 2);
    /* Every frame in is counted, even on a port that does not exist. */
    assert_int_equal(s.total.rx_packets, 2);
    assert_int_equal(s.total.rx_bytes, 2 * 142);
    assert_null(lookup(fx, fx->seg1, MAC1));
}

static void test_port_del_flushes_macs(void **state)
{
    struct fx *fx = *state;
    struct eth_addr m9 = mac(MAC9);

    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->a2, MAC2, NOW);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m9, MAC_DEST_PORT(fx->a1), NOW), 0);

    assert_int_equal(vswitch_port_del(fx->sw, fx->a1), 0);
    assert_null(lookup(fx, fx->seg1, MAC1));
    assert_null(lookup(fx, fx->seg1, MAC9));
    expect_mac_at(fx, fx->seg1, MAC2, MAC_DEST_PORT(fx->a2), false);
    assert_null(vswitch_port_get(fx->sw, fx->a1));
    struct vswitch_counters c;
    assert_int_equal(vswitch_port_counters(fx->sw, fx->a1, &c), ENOENT);
    assert_int_equal(vswitch_port_del(fx->sw, fx->a1), ENOENT);

    /* Frames to its MACs are unknown again; it is no flood target. */
    size_t len = udp(fx->f, MAC1, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);
    len = udp(fx->f, MAC9, MAC2);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* A new port (perhaps with the same id) starts clean. */
    uint16_t again = add_access(fx, fx->seg1);
    assert_int_equal(vswitch_port_mac_count(fx->sw, again), 0);
    c = port_ctr(fx, again);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    assert_int_equal(vswitch_segment_del(fx->sw, fx->seg1), EBUSY);
}

static void test_port_set_flushes_on_segment_change(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->a2, MAC2, NOW);
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    out_free(fx);
    expect_mac_at(fx, fx->seg2, MAC3, MAC_DEST_PORT(fx->t1), false);

    /* Same segments, new flags: MACs kept. */
    struct port_config pc = *vswitch_port_get(fx->sw, fx->a2);
    pc.mac_limit = 10;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a2, &pc), 0);
    expect_mac_at(fx, fx->seg1, MAC2, MAC_DEST_PORT(fx->a2), false);

    /* a2 moves to 5002: its MACs go, and it floods in 5002 now. */
    pc.access_segment = fx->seg2;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a2, &pc), 0);
    assert_null(lookup(fx, fx->seg1, MAC2));
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->a2), 0);
    len = udp(fx->f, BCAST, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2));
    out_free(fx);

    /* t1 stops carrying 102: its MACs go, it leaves 5002's flood list. */
    trunk_config(&pc, ETH_TYPE_VLAN, 0);
    port_config_allow_vlan(&pc, 101);
    assert_int_equal(vswitch_port_set(fx->sw, fx->t1, &pc), 0);
    assert_null(lookup(fx, fx->seg2, MAC3));
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t2, DV(fx->v2));
    out_free(fx);
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_counters c = port_ctr(fx, fx->t1);
    expect_only_drops(&c, DROP_VLAN_NOT_ALLOWED, 1);
}

static void test_peer_del_flushes_macs(void **state)
{
    struct fx *fx = *state;
    struct eth_addr m9 = mac(MAC9);
    struct ip_addr a2 = ip(VTEP2);
    uint32_t vteps[4], id = 0;

    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    learn_remote(fx, VTEP2, 5002, MACR2, NOW);
    learn_remote(fx, VTEP3, 5001, MACR3, NOW);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m9, MAC_DEST_REMOTE(fx->v2), NOW),
                     0);

    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &a2), 0);
    assert_null(lookup(fx, fx->seg1, MACR2));
    assert_null(lookup(fx, fx->seg1, MAC9));
    expect_mac_at(fx, fx->seg1, MACR3, MAC_DEST_REMOTE(fx->v3), false);
    expect_mac_at(fx, fx->seg2, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    assert_int_equal(vswitch_segment_peers(fx->sw, fx->seg1, vteps, 4), 1);
    assert_int_equal(vteps[0], fx->v3);

    /* 5001 floods to 10.0.3.1 only and refuses 10.0.2.1. */
    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v3));
    out_free(fx);
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_stats s = stats(fx);
    expect_only_drops(&s.total, DROP_VXLAN_UNKNOWN_VTEP, 1);

    /* 5002 still uses it. */
    assert_int_equal(vswitch_vtep_find(fx->sw, &a2, &id), 0);
    assert_int_equal(id, fx->v2);
    len = udp(fx->f, MACR2, MACB);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5002, fx->f, len);
    out_free(fx);

    /* Its last segment gone, the VTEP is gone. */
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg2, &a2), 0);
    assert_null(lookup(fx, fx->seg2, MACR2));
    assert_int_equal(vswitch_vtep_find(fx->sw, &a2, &id), ENOENT);
    assert_null(vswitch_vtep_addr(fx->sw, fx->v2));
    struct vswitch_counters c;
    assert_int_equal(vswitch_vtep_counters(fx->sw, fx->v2, &c), ENOENT);
    run_port(fx, fx->b1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1, fx->t2);
    out_free(fx);
}

static void test_segment_del_with_trunks(void **state)
{
    struct fx *fx = *state;

    learn_on_port(fx, fx->b1, MACB, NOW);
    learn_remote(fx, VTEP2, 5002, MACR2, NOW);
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    out_free(fx);
    expect_mac_at(fx, fx->seg2, MAC3, MAC_DEST_PORT(fx->t1), false);
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 1);
    assert_int_equal(vswitch_segment_del(fx->sw, fx->seg2), EBUSY);
    assert_int_equal(vswitch_port_del(fx->sw, fx->b1), 0);
    assert_int_equal(vswitch_segment_del(fx->sw, fx->seg2), 0);
    assert_null(lookup(fx, fx->seg2, MACR2));
    assert_null(lookup(fx, fx->seg2, MAC3)); /* learned on a trunk: gone with the segment */
    assert_int_equal(vswitch_port_mac_count(fx->sw, fx->t1), 0);
    uint32_t found = 0;
    assert_int_equal(vswitch_segment_find(fx->sw, 5002, &found), ENOENT);
    struct vswitch_counters c;
    assert_int_equal(vswitch_segment_counters(fx->sw, fx->seg2, &c), ENOENT);

    /* The trunks no longer carry VLAN 102; VNI 5002 is no longer served. */
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 0);
    c = port_ctr(fx, fx->t1);
    expect_only_drops(&c, DROP_NO_SEGMENT, 1);
    uint8_t inner[256];
    size_t ilen = udp(inner, BCAST, MACR2);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5002, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VNI], 1);

    /* VLAN 101 is unaffected. */
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);

    /* Back again: the trunks that allow 102 carry it at once, with no peers yet. */
    uint32_t seg = add_segment(fx, 5002, 102);
    assert_null(lookup(fx, seg, MAC3));
    assert_null(lookup(fx, seg, MACR2));
    len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t2);
    expect_frame(fx, fx->t2, fx->f, len);
    out_free(fx);
    expect_mac_at(fx, seg, MAC3, MAC_DEST_PORT(fx->t1), false);
}

/* ---- Batches ------------------------------------------------------------- */

static void test_batch_in_order(void **state)
{
    struct fx *fx = *state;
    struct pkt *pkts[3];
    uint8_t frames[3][256];
    size_t lens[3];

    learn_on_port(fx, fx->a2, MAC2, NOW);
    size_t len = udp_tagged(fx->f, BCAST, MAC3, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    out_free(fx);

    lens[0] = udp(frames[0], MAC2, MAC1);
    lens[1] = udp(frames[1], MAC3, MAC1);
    lens[2] = udp(frames[2], BCAST, MAC1);
    for (int i = 0; i < 3; i++) {
        pkts[i] = frame_to_pkt(fx->pool, frames[i], lens[i]);
    }
    vswitch_input_port(fx->sw, fx->a1, pkts, 3, NOW, &fx->out);
    assert_int_equal(fx->out.n, 7);
    assert_int_equal(fx->out.tx[0].dest, fx->a2);
    assert_memory_equal(fx->out.tx[0].pkt->data, frames[0], lens[0]);
    assert_int_equal(fx->out.tx[1].dest, fx->t1);
    assert_int_equal(fx->out.tx[1].pkt->len, lens[1] + 4);

    /* The switch appends: a second call adds after what is there. */
    struct pkt *p = frame_to_pkt(fx->pool, frames[0], lens[0]);
    vswitch_input_port(fx->sw, fx->a1, &p, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 8);
    assert_int_equal(fx->out.tx[7].dest, fx->a2);
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE - 8);

    /* And a batch of datagrams. */
    uint8_t inner[2][256];
    size_t ilen[2];
    struct pkt *dg[2];
    ilen[0] = udp(inner[0], MAC9, MACR2);
    ilen[1] = udp(inner[1], MAC2, MACR3);
    for (int i = 0; i < 2; i++) {
        len = frame_vxlan(fx->x, VXLAN_FLAG_I, 5001, inner[i], ilen[i]);
        dg[i] = frame_to_pkt(fx->pool, fx->x, len);
    }
    dg[0]->meta.outer_src = ip(VTEP2);
    dg[1]->meta.outer_src = ip(VTEP3);
    vswitch_input_vxlan(fx->sw, dg, 2, NOW, &fx->out);
    assert_int_equal(fx->out.n, 8 + 4 + 1); /* MAC9 unknown: flooded; MAC2 known */
    assert_int_equal(fx->out.tx[12].dest, fx->a2);
    assert_memory_equal(fx->out.tx[12].pkt->data, inner[1], ilen[1]);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    expect_mac_at(fx, fx->seg1, MACR3, MAC_DEST_REMOTE(fx->v3), false);
}

/* One batch of datagrams from several senders and VNIs: each is checked on its own
 * (a peer of one segment is not accepted in another just because it came first). */
static void test_vxlan_batch_mixed_senders(void **state)
{
    struct fx *fx = *state;
    const struct {
        const char *src;
        uint32_t vni;
    } in[6] = {{VTEP3, 5001}, {VTEP3, 5002}, {"10.0.9.9", 5001},
               {VTEP3, 5001}, {VTEP2, 5002}, {VTEP3, 7777}};
    struct pkt *dg[6];
    uint8_t inner[256];

    for (int i = 0; i < 6; i++) {
        char src_mac[ETH_ADDR_STRLEN];
        snprintf(src_mac, sizeof src_mac, "02:00:00:00:05:%02x", i);
        size_t ilen = udp(inner, MAC9, src_mac);
        size_t len = frame_vxlan(fx->x, VXLAN_FLAG_I, in[i].vni, inner, ilen);
        dg[i] = frame_to_pkt(fx->pool, fx->x, len);
        dg[i]->meta.outer_src = ip(in[i].src);
    }
    vswitch_input_vxlan(fx->sw, dg, 6, NOW, &fx->out);
    /* Accepted: #0 and #3 (5001: a1 a2 t1 t2 each), #4 (5002: b1 t1 t2). */
    assert_int_equal(fx->out.n, 4 + 4 + 3);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VTEP], 2);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VNI], 1);
    assert_int_equal(drops_sum(&s.total), 3);
    expect_mac_at(fx, fx->seg1, "02:00:00:00:05:00", MAC_DEST_REMOTE(fx->v3), false);
    expect_mac_at(fx, fx->seg1, "02:00:00:00:05:03", MAC_DEST_REMOTE(fx->v3), false);
    expect_mac_at(fx, fx->seg2, "02:00:00:00:05:04", MAC_DEST_REMOTE(fx->v2), false);
    assert_null(lookup(fx, fx->seg2, "02:00:00:00:05:01"));
    assert_null(lookup(fx, fx->seg1, "02:00:00:00:05:02"));
    struct vswitch_counters c = vtep_ctr(fx, fx->v3);
    assert_int_equal(c.rx_packets, 2);
    c = vtep_ctr(fx, fx->v2);
    assert_int_equal(c.rx_packets, 1);

    /* The next batch sees a peer removed in between. */
    struct ip_addr a3 = ip(VTEP3);
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &a3), 0);
    size_t ilen = udp(inner, MAC9, MACR3);
    size_t len = frame_vxlan(fx->x, VXLAN_FLAG_I, 5001, inner, ilen);
    dg[0] = frame_to_pkt(fx->pool, fx->x, len);
    dg[0]->meta.outer_src = a3;
    vswitch_input_vxlan(fx->sw, dg, 1, NOW, &fx->out);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    assert_int_equal(s.total.drops[DROP_VXLAN_UNKNOWN_VTEP], 3);
}

/* ---- ARP suppression ------------------------------------------------------ */

#define IP3   "172.16.10.3"
#define IP9   "172.16.10.9"  /* never known */
#define IPR2  "172.16.10.21" /* MACR2's, behind VTEP 10.0.2.1 */
#define IPR3  "172.16.10.31" /* MACR3's, behind VTEP 10.0.3.1 */
#define NOMAC "00:00:00:00:00:00"

static int setup_arp(void **state)
{
    const struct fx_options o = {.seg1_arp_suppression = true};
    return fx_setup(state, &o);
}

static int setup_arp_small(void **state)
{
    const struct fx_options o = {.seg1_arp_suppression = true, .arp_capacity = 2};
    return fx_setup(state, &o);
}

static void arp_static(struct fx *fx, uint32_t segment, const char *addr, const char *m)
{
    struct ip_addr a = ip(addr);
    struct eth_addr e = mac(m);
    assert_int_equal(vswitch_arp_add_static(fx->sw, segment, &a, &e, NOW), 0);
}

static const struct mac_entry *arp_lookup(const struct fx *fx, uint32_t segment, const char *addr)
{
    struct ip_addr a = ip(addr);
    return vswitch_arp_lookup(fx->sw, segment, &a);
}

/* The ARP table maps addr to m in segment. */
static void expect_arp(const struct fx *fx, uint32_t segment, const char *addr, const char *m,
                       bool is_static)
{
    const struct mac_entry *e = arp_lookup(fx, segment, addr);
    struct ip_addr a = ip(addr);
    struct eth_addr want = mac(m);

    if (!e) {
        fail_msg("%s not in the ARP table of segment %u", addr, segment);
    }
    assert_int_equal(arp_entry_mac(e), eth_addr_to_u64(want.bytes));
    assert_int_equal(arp_entry_ip(e), (uint32_t)a.bytes[12] << 24 | (uint32_t)a.bytes[13] << 16 |
                                          (uint32_t)a.bytes[14] << 8 | a.bytes[15]);
    assert_int_equal(mac_entry_segment(e), segment);
    assert_int_equal(e->is_static, is_static);
}

static uint32_t drain(struct fx *fx, struct vswitch_event *ev, uint32_t max, uint64_t *lost)
{
    return vswitch_events_drain(fx->sw, ev, max, lost);
}

/* ev is the event described; addr NULL for a MAC event (its ip must be zero). */
static void expect_event(const struct vswitch_event *ev, enum vswitch_event_type type,
                         uint32_t segment, uint16_t port, uint16_t old_port, const char *m,
                         const char *addr)
{
    struct eth_addr want = mac(m);
    struct ip_addr a = {0};

    if (addr) {
        a = ip(addr);
    }
    assert_int_equal(ev->type, type);
    assert_int_equal(ev->segment, segment);
    assert_int_equal(ev->port, port);
    assert_int_equal(ev->old_port, old_port);
    assert_memory_equal(ev->mac.bytes, want.bytes, ETH_ADDR_LEN);
    assert_memory_equal(ev->ip.bytes, a.bytes, sizeof a.bytes);
}

/* Drains up to max events, none of them lost; returns how many. */
static uint32_t drain_all(struct fx *fx, struct vswitch_event *ev, uint32_t max)
{
    uint64_t lost = 99;
    uint32_t n = drain(fx, ev, max, &lost);
    assert_int_equal(lost, 0);
    return n;
}

/* ev[0] and ev[1]: a new host on port of segment 5001, its MAC then its address. */
static void expect_host_events(const struct fx *fx, const struct vswitch_event *ev, uint16_t port,
                               const char *m, const char *addr)
{
    expect_event(&ev[0], VSWITCH_EVENT_MAC_LEARNED, fx->seg1, port, port, m, NULL);
    expect_event(&ev[1], VSWITCH_EVENT_IP_LEARNED, fx->seg1, port, port, m, addr);
}

/* Nothing queued, nothing lost. */
static void expect_no_events(struct fx *fx)
{
    struct vswitch_event ev;
    uint64_t lost = 99;
    assert_int_equal(drain(fx, &ev, 1, &lost), 0);
    assert_int_equal(lost, 0);
}

static void test_arp_config(void **state)
{
    struct fx *fx = *state;
    /* The segment flag is kept; off unless asked. */
    assert_true(vswitch_segment_get(fx->sw, fx->seg1)->arp_suppression);
    assert_false(vswitch_segment_get(fx->sw, fx->seg2)->arp_suppression);

    /* Static entries: what is refused. */
    struct ip_addr a = ip(IP2);
    struct eth_addr m = mac(MAC2);
    assert_int_equal(vswitch_arp_add_static(fx->sw, 999, &a, &m, NOW), ENOENT);
    static const char *const bad_ips[] = {"2001:db8::2", "0.0.0.0",   "0.1.2.3",        "127.0.0.1",
                                          "224.0.0.1",   "240.0.0.1", "255.255.255.255"};
    for (size_t i = 0; i < sizeof bad_ips / sizeof bad_ips[0]; i++) {
        struct ip_addr b = ip(bad_ips[i]);
        assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &b, &m, NOW), EINVAL);
        assert_null(vswitch_arp_lookup(fx->sw, fx->seg1, &b));
        assert_int_equal(vswitch_arp_del(fx->sw, fx->seg1, &b), ENOENT);
    }
    struct eth_addr zero = mac(NOMAC), bcast = mac(BCAST), mcast = mac("01:00:5e:00:00:01");
    assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &a, &zero, NOW), EINVAL);
    assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &a, &bcast, NOW), EINVAL);
    assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &a, &mcast, NOW), EINVAL);
    assert_null(arp_lookup(fx, fx->seg1, IP2));

    /* Added, replaced, per segment, removed. */
    arp_static(fx, fx->seg1, IP2, MAC2);
    expect_arp(fx, fx->seg1, IP2, MAC2, true);
    assert_null(arp_lookup(fx, fx->seg2, IP2));
    assert_null(arp_lookup(fx, 999, IP2));
    arp_static(fx, fx->seg1, IP2, MAC5);
    expect_arp(fx, fx->seg1, IP2, MAC5, true);
    arp_static(fx, fx->seg2, IP2, MACB);
    expect_arp(fx, fx->seg2, IP2, MACB, true);
    expect_arp(fx, fx->seg1, IP2, MAC5, true);
    assert_int_equal(vswitch_arp_del(fx->sw, 999, &a), ENOENT);
    assert_int_equal(vswitch_arp_del(fx->sw, fx->seg1, &a), 0);
    assert_int_equal(vswitch_arp_del(fx->sw, fx->seg1, &a), ENOENT);
    assert_null(arp_lookup(fx, fx->seg1, IP2));
    expect_arp(fx, fx->seg2, IP2, MACB, true);
    /* Controller actions make no events. */
    expect_no_events(fx);
}

/* The request a1 sends for IP2 is answered from the table, out of a1, with
 * exactly the reply IP2's owner would send; nothing else goes anywhere. */
static void test_arp_suppressed_reply(void **state)
{
    struct fx *fx = *state;
    static const uint8_t reply[42] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* to the requester */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* from IP2's MAC */
        0x08, 0x06,                         /* ARP */
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4 */
        0x00, 0x02,                         /* reply */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* sender: MAC2 */
        0xac, 0x10, 0x0a, 0x02,             /*         172.16.10.2 */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* target: MAC1 */
        0xac, 0x10, 0x0a, 0x01,             /*         172.16.10.1 */
    };

    arp_static(fx, fx->seg1, IP2, MAC2);
    size_t len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IP2);
    assert_int_equal(len, 42);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    expect_frame(fx, fx->a1, reply, sizeof reply);
    /* The same as frame_arp() builds for a reply. */
    assert_int_equal(frame_arp(fx->e, 2, MAC2, IP2, MAC1, IP1), 42);
    assert_memory_equal(fx->e, reply, 42);
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE - 1);
    out_free(fx);

    /* In and out of a1, and nowhere else. */
    struct vswitch_counters c[4] = {port_ctr(fx, fx->a1), seg_ctr(fx, fx->seg1),
                                    port_ctr(fx, fx->a2), vtep_ctr(fx, fx->v2)};
    for (int i = 0; i < 4; i++) {
        uint64_t n = i < 2;
        expect_ctr(&c[i], n, n * 42, n, n * 42, 0);
        expect_no_drops(&c[i]);
    }
    struct vswitch_stats s = stats(fx);
    expect_ctr(&s.total, 1, 42, 1, 42, 0);
    expect_no_drops(&s.total);
    assert_int_equal(s.arp_suppressed, 1);
    assert_int_equal(s.arp_learned, 1);

    /* The requester taught its own address, and said so. */
    expect_arp(fx, fx->seg1, IP1, MAC1, false);
    assert_int_equal(arp_lookup(fx, fx->seg1, IP1)->last_seen, NOW);
    expect_arp(fx, fx->seg1, IP2, MAC2, true);
    struct vswitch_event ev[4];
    assert_int_equal(drain_all(fx, ev, 4), 2);
    expect_host_events(fx, ev, fx->a1, MAC1, IP1);

    /* A request padded to 60 bytes gets the same 42-byte answer. */
    memset(fx->f + 42, 0xee, 18);
    run_port(fx, fx->a1, fx->f, 60, NOW + 1);
    EXPECT_DESTS(fx, fx->a1);
    expect_frame(fx, fx->a1, reply, sizeof reply);
    out_free(fx);
    s = stats(fx);
    assert_int_equal(s.arp_suppressed, 2);
    assert_int_equal(s.arp_learned, 1); /* refreshed */
    assert_int_equal(arp_lookup(fx, fx->seg1, IP1)->last_seen, NOW + 1);
    expect_no_events(fx);
}

/* From a trunk, the answer goes back tagged with the segment's VLAN and the
 * request's priority; from an access port with a priority tag, untagged. */
static void test_arp_suppressed_on_trunk(void **state)
{
    struct fx *fx = *state;

    arp_static(fx, fx->seg1, IP2, MAC2);
    size_t len = frame_arp(fx->x, 1, MAC3, IP3, NOMAC, IP2);
    len = with_tag(fx->f, fx->x, len, 0x8100, 5, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->t1);
    size_t elen = frame_arp(fx->x, 2, MAC2, IP2, MAC3, IP3);
    elen = with_tag(fx->e, fx->x, elen, 0x8100, 5, 101);
    assert_int_equal(elen, 46);
    expect_frame(fx, fx->t1, fx->e, elen);
    out_free(fx);
    struct vswitch_counters c = port_ctr(fx, fx->t1);
    expect_ctr(&c, 1, 46, 1, 46, 0);
    expect_arp(fx, fx->seg1, IP3, MAC3, false);

    /* Segment 5002 on the same trunk has no suppression: flooded. */
    arp_static(fx, fx->seg2, IP2, MAC2);
    len = frame_arp(fx->x, 1, MAC3, IP3, NOMAC, IP2);
    len = with_tag(fx->f, fx->x, len, 0x8100, 0, 102);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->b1, fx->t2, DV(fx->v2));
    expect_frame(fx, fx->t2, fx->f, len);
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg2, IP3)); /* and nothing learned there */

    /* Priority-tagged on an access port. */
    len = frame_arp(fx->x, 1, MAC1, IP1, NOMAC, IP2);
    len = with_tag(fx->f, fx->x, len, 0x8100, 3, 0);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    elen = frame_arp(fx->e, 2, MAC2, IP2, MAC1, IP1);
    expect_frame(fx, fx->a1, fx->e, elen);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_suppressed, 2);
    expect_no_drops(&s.total);
}

/* An unknown address is flooded as before; the answer, from the overlay here,
 * teaches the table, and the next request for it is answered locally. A
 * request from the overlay is learned from but never answered. */
static void test_arp_unknown_floods_answer_teaches(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];

    size_t len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IPR2);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a2, fx->f, len);
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg1, IPR2));

    /* The answer from behind VTEP2, unicast to MAC1. */
    size_t ilen = frame_arp(inner, 2, MACR2, IPR2, MAC1, IP1);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1);
    expect_frame(fx, fx->a1, inner, ilen);
    out_free(fx);
    expect_arp(fx, fx->seg1, IPR2, MACR2, false);
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);

    /* a2 asks: answered here, the underlay never sees it. */
    len = frame_arp(fx->f, 1, MAC2, IP2, NOMAC, IPR2);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2);
    size_t elen = frame_arp(fx->e, 2, MACR2, IPR2, MAC2, IP2);
    expect_frame(fx, fx->a2, fx->e, elen);
    out_free(fx);
    struct vswitch_counters c = vtep_ctr(fx, fx->v2);
    expect_ctr(&c, 1, ilen, 1, 36 + 42, 1); /* rx: the reply; tx: the first flood only */

    /* A request from the overlay for a known address: flooded locally, not answered. */
    ilen = frame_arp(inner, 1, MACR3, IPR3, NOMAC, IP1);
    run_vxlan(fx, VTEP3, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    expect_frame(fx, fx->a1, inner, ilen);
    out_free(fx);
    expect_arp(fx, fx->seg1, IPR3, MACR3, false);

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_suppressed, 1);
    assert_int_equal(s.arp_learned, 4); /* IP1, IPR2, IP2, IPR3 */
    expect_no_drops(&s.total);
    /* Events for what local ports taught only. */
    struct vswitch_event ev[8];
    assert_int_equal(drain_all(fx, ev, 8), 4);
    expect_host_events(fx, ev, fx->a1, MAC1, IP1);
    expect_host_events(fx, ev + 2, fx->a2, MAC2, IP2);
}

/* Gratuitous ARP (request or reply with sender = target address) is never
 * answered and updates learned entries, from a port or the overlay; static
 * entries stay the controller's. */
static void test_arp_gratuitous_updates(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];
    struct vswitch_event ev[8];

    size_t len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IP9);
    run_port(fx, fx->a1, fx->f, len, NOW);
    out_free(fx);
    expect_arp(fx, fx->seg1, IP1, MAC1, false);
    assert_int_equal(drain(fx, ev, 8, NULL), 2);

    /* IP1 moves to MAC5 behind a2: its announcement is flooded, not answered. */
    len = frame_arp(fx->f, 1, MAC5, IP1, NOMAC, IP1);
    run_port(fx, fx->a2, fx->f, len, NOW + 1);
    EXPECT_DESTS(fx, fx->a1, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a1, fx->f, len);
    out_free(fx);
    expect_arp(fx, fx->seg1, IP1, MAC5, false);
    assert_int_equal(arp_lookup(fx, fx->seg1, IP1)->last_seen, NOW + 1);
    assert_int_equal(drain_all(fx, ev, 8), 2);
    expect_host_events(fx, ev, fx->a2, MAC5, IP1);

    /* Then behind VTEP2, by a gratuitous reply: learned, no event. */
    size_t ilen = frame_arp(inner, 2, MACR2, IP1, BCAST, IP1);
    run_vxlan(fx, VTEP2, VXLAN_FLAG_I, 5001, inner, ilen, NOW + 2);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    out_free(fx);
    expect_arp(fx, fx->seg1, IP1, MACR2, false);
    expect_no_events(fx);

    /* A static entry is not moved by an announcement, nor reported. */
    arp_static(fx, fx->seg1, IP2, MAC2);
    len = frame_arp(fx->f, 1, MAC6, IP2, NOMAC, IP2);
    run_port(fx, fx->a1, fx->f, len, NOW + 3);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
    expect_arp(fx, fx->seg1, IP2, MAC2, true);
    assert_int_equal(drain(fx, ev, 8, NULL), 1); /* MAC6 on a1 */
    assert_int_equal(ev[0].type, VSWITCH_EVENT_MAC_LEARNED);

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_learned, 1);
    assert_int_equal(s.arp_changed, 2);
    assert_int_equal(s.arp_suppressed, 0);
}

/* What is forwarded as usual even with suppression on. */
static void test_arp_not_answered(void **state)
{
    struct fx *fx = *state;

    arp_static(fx, fx->seg1, IP1, MAC1);
    /* A host probing for its own address (RFC 5227): it must not hear itself. */
    size_t len = frame_arp(fx->f, 1, MAC1, "0.0.0.0", NOMAC, IP1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* Another host probing for that address hears that it is taken; the probe
     * (sender 0.0.0.0) teaches nothing. */
    len = frame_arp(fx->f, 1, MAC2, "0.0.0.0", NOMAC, IP1);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2);
    size_t elen = frame_arp(fx->e, 2, MAC1, IP1, MAC2, "0.0.0.0");
    expect_frame(fx, fx->a2, fx->e, elen);
    out_free(fx);

    /* A customer tag left in the frame (QinQ payload) hides the ARP from the switch. */
    size_t alen = frame_arp(fx->e, 1, MAC3, IP3, NOMAC, IP1);
    alen = with_tag(fx->x, fx->e, alen, 0x8100, 0, 7);
    len = with_tag(fx->f, fx->x, alen, 0x8100, 0, 101);
    run_port(fx, fx->t1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t2, DV(fx->v2), DV(fx->v3));
    expect_frame(fx, fx->a1, fx->x, alen);
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg1, IP3));

    /* Operations other than request and reply (3: RARP request). */
    len = frame_arp(fx->f, 3, MAC2, IP2, BCAST, IP1);
    run_port(fx, fx->a2, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->t1, fx->t2, DV(fx->v2), DV(fx->v3));
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg1, IP2));

    /* A request for a target that is no host address. */
    len = frame_arp(fx->f, 1, MAC2, IP2, NOMAC, "224.0.0.1");
    run_port(fx, fx->a2, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
    expect_arp(fx, fx->seg1, IP2, MAC2, false);

    /* A port with learning off teaches nothing, and is answered all the same. */
    struct port_config pc = *vswitch_port_get(fx->sw, fx->a1);
    pc.learning = false;
    assert_int_equal(vswitch_port_set(fx->sw, fx->a1, &pc), 0);
    len = frame_arp(fx->f, 1, MAC5, IP9, NOMAC, IP2);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    elen = frame_arp(fx->e, 2, MAC2, IP2, MAC5, IP9);
    expect_frame(fx, fx->a1, fx->e, elen);
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg1, IP9));

    /* A sender MAC that is multicast teaches nothing. */
    len = frame_arp(fx->f, 1, MAC2, IP3, NOMAC, IP9);
    fx->f[22] = 0x03; /* sender hardware address, first octet: group bit */
    run_port(fx, fx->a2, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
    assert_null(arp_lookup(fx, fx->seg1, IP3));

    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_suppressed, 2);
    assert_int_equal(s.arp_learned, 1); /* IP2 */
    expect_no_drops(&s.total);
}

/* Learned entries age like MACs, by their own age; static ones stay. */
static void test_arp_aging(void **state)
{
    struct fx *fx = *state;

    size_t len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IP9);
    run_port(fx, fx->a1, fx->f, len, 100);
    out_free(fx);
    len = frame_arp(fx->f, 1, MAC2, IP2, NOMAC, IP9);
    run_port(fx, fx->a2, fx->f, len, 300);
    out_free(fx);
    arp_static(fx, fx->seg1, IP3, MAC3);

    assert_int_equal(vswitch_age(fx->sw, 399), 0);
    assert_non_null(arp_lookup(fx, fx->seg1, IP1));
    /* The return value counts MACs (MAC1 here); ARP entries go to arp_aged. */
    assert_int_equal(vswitch_age(fx->sw, 400), 1);
    assert_null(arp_lookup(fx, fx->seg1, IP1));
    expect_arp(fx, fx->seg1, IP2, MAC2, false);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_aged, 1);
    assert_int_equal(s.mac_aged, 1);
    assert_int_equal(vswitch_age(fx->sw, 600), 1);
    assert_null(arp_lookup(fx, fx->seg1, IP2));
    expect_arp(fx, fx->seg1, IP3, MAC3, true);
    s = stats(fx);
    assert_int_equal(s.arp_aged, 2);

    /* Aged out: flooded again. */
    len = frame_arp(fx->f, 1, MAC3, IP3, NOMAC, IP1);
    run_port(fx, fx->a1, fx->f, len, 700);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);

    /* Its own age: 10 s, where MACs keep 300. */
    struct vswitch_config cfg;
    vswitch_config_default(&cfg);
    cfg.arp_age_seconds = 10;
    const struct segment_config sc = {.vni = 42, .arp_suppression = true};
    struct mini_switch m = mini_switch(fx, &cfg, &sc);
    struct vswitch *sw = m.sw;
    uint32_t seg = m.seg;
    len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IP9);
    struct pkt *p = frame_to_pkt(fx->pool, fx->f, len);
    vswitch_input_port(sw, m.p1, &p, 1, 50, &fx->out);
    EXPECT_DESTS(fx, m.p2);
    out_free(fx);
    struct ip_addr a1 = ip(IP1);
    assert_non_null(vswitch_arp_lookup(sw, seg, &a1));
    assert_int_equal(vswitch_age(sw, 59), 0);
    assert_non_null(vswitch_arp_lookup(sw, seg, &a1));
    assert_int_equal(vswitch_age(sw, 60), 0);
    assert_null(vswitch_arp_lookup(sw, seg, &a1));
    struct eth_addr m1 = mac(MAC1);
    assert_non_null(vswitch_mac_lookup(sw, seg, &m1));
    vswitch_destroy(sw);
}

/* A full ARP table learns no more (counted); requests for what it could not
 * learn are flooded; a static entry does not fit either. */
static void test_arp_table_full(void **state)
{
    struct fx *fx = *state;
    static const char *const macs[] = {MAC1, MAC2, MAC3};
    static const char *const ips[] = {IP1, IP2, IP3};

    for (int i = 0; i < 3; i++) {
        size_t len = frame_arp(fx->f, 1, macs[i], ips[i], NOMAC, IP9);
        run_port(fx, fx->a1, fx->f, len, NOW);
        out_free(fx);
    }
    expect_arp(fx, fx->seg1, IP1, MAC1, false);
    expect_arp(fx, fx->seg1, IP2, MAC2, false);
    assert_null(arp_lookup(fx, fx->seg1, IP3));
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.arp_learned, 2);
    assert_int_equal(s.arp_table_full, 1);
    struct ip_addr a = ip(IP9);
    struct eth_addr m = mac(MAC9);
    assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &a, &m, NOW), ENOSPC);

    size_t len = frame_arp(fx->f, 1, MAC1, IP1, NOMAC, IP3);
    run_port(fx, fx->a1, fx->f, len, NOW);
    assert_int_equal(fx->out.n, 5);
    out_free(fx);
    len = frame_arp(fx->f, 1, MAC3, IP3, NOMAC, IP2);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a1);
    out_free(fx);
    /* Deleting makes room. */
    struct ip_addr a1 = ip(IP1);
    assert_int_equal(vswitch_arp_del(fx->sw, fx->seg1, &a1), 0);
    assert_int_equal(vswitch_arp_add_static(fx->sw, fx->seg1, &a, &m, NOW), 0);
}

static void count_entry(const struct mac_entry *e, void *ctx)
{
    (void)e;
    (*(uint32_t *)ctx)++;
}

/* Deleting a segment removes its ARP entries, learned and static. */
static void test_arp_segment_del_flushes(void **state)
{
    struct fx *fx = *state;
    struct segment_config sc = {.vni = 5003, .arp_suppression = true};
    uint32_t seg3 = add_segment_cfg(fx, &sc);
    uint32_t n = 0;

    arp_static(fx, seg3, IP1, MAC1);
    arp_static(fx, seg3, IP2, MAC2);
    arp_static(fx, fx->seg1, IP1, MAC1);
    vswitch_arp_foreach(fx->sw, count_entry, &n);
    assert_int_equal(n, 3);
    assert_int_equal(vswitch_segment_del(fx->sw, seg3), 0);
    n = 0;
    vswitch_arp_foreach(fx->sw, count_entry, &n);
    assert_int_equal(n, 1);
    expect_arp(fx, fx->seg1, IP1, MAC1, true);
    /* A new segment in the same slot starts empty. */
    assert_int_equal(add_segment_cfg(fx, &sc), seg3);
    assert_null(arp_lookup(fx, seg3, IP1));
}

/* ---- Learn events --------------------------------------------------------- */

static int setup_small_events(void **state)
{
    const struct fx_options o = {.event_capacity = 4};
    return fx_setup(state, &o);
}

/* Learned, moved (port to port, VTEP to port, port to VTEP) and aged on local
 * ports; nothing for what happens behind VTEPs only, or for static entries. */
static void test_events_mac(void **state)
{
    struct fx *fx = *state;
    struct vswitch_event ev[8];
    uint64_t lost = 1;
    const uint16_t ovl = PKT_PORT_OVERLAY;

    learn_on_port(fx, fx->a1, MAC1, NOW);
    learn_on_port(fx, fx->a1, MAC1, NOW + 1); /* refreshed */
    learn_on_port(fx, fx->a2, MAC1, NOW + 1);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW + 1);
    learn_remote(fx, VTEP3, 5001, MACR2, NOW + 1); /* VTEP to VTEP */
    learn_on_port(fx, fx->a2, MACR2, NOW + 2);
    learn_remote(fx, VTEP2, 5001, MAC1, NOW + 3);
    struct eth_addr m9 = mac(MAC9);
    assert_int_equal(vswitch_mac_add_static(fx->sw, fx->seg1, &m9, MAC_DEST_PORT(fx->a1), NOW), 0);
    learn_on_port(fx, fx->b1, MACB, NOW + 4);

    /* Oldest first, a few at a time. */
    assert_int_equal(drain(fx, ev, 2, &lost), 2);
    assert_int_equal(lost, 0);
    expect_event(&ev[0], VSWITCH_EVENT_MAC_LEARNED, fx->seg1, fx->a1, fx->a1, MAC1, NULL);
    expect_event(&ev[1], VSWITCH_EVENT_MAC_MOVED, fx->seg1, fx->a2, fx->a1, MAC1, NULL);
    assert_int_equal(drain(fx, ev, 8, &lost), 3);
    expect_event(&ev[0], VSWITCH_EVENT_MAC_MOVED, fx->seg1, fx->a2, ovl, MACR2, NULL);
    expect_event(&ev[1], VSWITCH_EVENT_MAC_MOVED, fx->seg1, ovl, fx->a2, MAC1, NULL);
    expect_event(&ev[2], VSWITCH_EVENT_MAC_LEARNED, fx->seg2, fx->b1, fx->b1, MACB, NULL);
    expect_no_events(fx);

    /* Aging: MAC1 is behind VTEP2 now (no event), MACR2 on a2 and MACB on b1 are local. */
    assert_int_equal(vswitch_age(fx->sw, NOW + 1000), 3);
    assert_int_equal(drain(fx, ev, 8, &lost), 2);
    bool seen_a2 = false, seen_b1 = false;
    for (int i = 0; i < 2; i++) {
        if (ev[i].port == fx->a2) {
            expect_event(&ev[i], VSWITCH_EVENT_MAC_AGED, fx->seg1, fx->a2, fx->a2, MACR2, NULL);
            seen_a2 = true;
        } else {
            expect_event(&ev[i], VSWITCH_EVENT_MAC_AGED, fx->seg2, fx->b1, fx->b1, MACB, NULL);
            seen_b1 = true;
        }
    }
    assert_true(seen_a2 && seen_b1);
    /* Deleting a port flushes its MACs without events: the owner did it. */
    learn_on_port(fx, fx->a2, MAC2, NOW + 1000);
    assert_int_equal(drain(fx, ev, 8, NULL), 1);
    assert_int_equal(vswitch_port_del(fx->sw, fx->a2), 0);
    expect_no_events(fx);
    assert_int_equal(stats(fx).events_lost, 0);
}

/* A full ring loses the newest events and says how many, once; the ring wraps. */
static void test_events_overflow(void **state)
{
    struct fx *fx = *state;
    struct vswitch_event ev[8];
    char text[6][ETH_ADDR_STRLEN];
    uint64_t lost = 0;

    for (int i = 0; i < 6; i++) {
        snprintf(text[i], sizeof text[i], "02:00:00:00:01:%02x", i);
        learn_on_port(fx, fx->a1, text[i], NOW);
    }
    assert_int_equal(drain(fx, ev, 8, &lost), 4);
    assert_int_equal(lost, 2);
    for (int i = 0; i < 4; i++) {
        expect_event(&ev[i], VSWITCH_EVENT_MAC_LEARNED, fx->seg1, fx->a1, fx->a1, text[i], NULL);
    }
    assert_int_equal(stats(fx).events_lost, 2);
    expect_no_events(fx); /* reported once */
    assert_int_equal(stats(fx).events_lost, 2);

    /* Wrap around: 3 in, 2 out, 3 more in (the last slots, then the first). */
    for (int i = 0; i < 3; i++) {
        learn_on_port(fx, fx->a2, text[i], NOW); /* moves */
    }
    assert_int_equal(drain(fx, ev, 2, &lost), 2);
    assert_int_equal(lost, 0);
    expect_event(&ev[0], VSWITCH_EVENT_MAC_MOVED, fx->seg1, fx->a2, fx->a1, text[0], NULL);
    expect_event(&ev[1], VSWITCH_EVENT_MAC_MOVED, fx->seg1, fx->a2, fx->a1, text[1], NULL);
    for (int i = 0; i < 3; i++) {
        learn_on_port(fx, fx->b1, text[i], NOW); /* new in 5002 */
    }
    assert_int_equal(drain(fx, ev, 8, &lost), 4);
    assert_int_equal(lost, 0);
    expect_event(&ev[0], VSWITCH_EVENT_MAC_MOVED, fx->seg1, fx->a2, fx->a1, text[2], NULL);
    for (int i = 0; i < 3; i++) {
        expect_event(&ev[i + 1], VSWITCH_EVENT_MAC_LEARNED, fx->seg2, fx->b1, fx->b1, text[i],
                     NULL);
    }
    /* NULL for lost: the count waits for a caller that asks. */
    for (int i = 0; i < 10; i++) {
        char m[ETH_ADDR_STRLEN];
        snprintf(m, sizeof m, "02:00:00:00:02:%02x", i);
        learn_on_port(fx, fx->a1, m, NOW);
    }
    assert_int_equal(drain(fx, ev, 8, NULL), 4);
    assert_int_equal(drain(fx, ev, 8, &lost), 0);
    assert_int_equal(lost, 6);
    assert_int_equal(stats(fx).events_lost, 8);
}

/* ---- Proxy replication ----------------------------------------------------- */

#define VTEP_R1 "10.0.1.2" /* in this host's subnet */
#define VTEP_R2 "10.0.1.3" /* in this host's subnet */
#define VTEP_X  "10.0.2.2" /* in VTEP2's subnet: VTEP2 is its proxy */
#define MACX    "02:00:00:00:22:01"

struct proxy_fx {
    uint32_t r1, r2, x;
};

static int setup_proxy(void **state)
{
    const struct fx_options o = {.seg1_bum = BUM_PROXY};
    return fx_setup(state, &o);
}

/* Segment 5001 in proxy mode: this host's subnet 10.0.1.0/24 holds r1 and r2;
 * VTEP2 is the proxy of 10.0.2.0/24 (where x is), VTEP3 of 10.0.3.0/24. */
static struct proxy_fx proxy_lists(struct fx *fx)
{
    struct proxy_fx p = {
        .r1 = add_peer(fx, fx->seg1, VTEP_R1),
        .r2 = add_peer(fx, fx->seg1, VTEP_R2),
        .x = add_peer(fx, fx->seg1, VTEP_X),
    };
    const struct ip_addr proxies[2] = {ip(VTEP2), ip(VTEP3)};
    const struct ip_addr replicas[2] = {ip(VTEP_R1), ip(VTEP_R2)};
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, proxies, 2, replicas, 2), 0);
    return p;
}

static void test_proxy_config(void **state)
{
    struct fx *fx = *state;
    uint32_t ids[4] = {0};

    assert_int_equal(vswitch_segment_get(fx->sw, fx->seg1)->bum, BUM_PROXY);
    struct segment_config sc = {.vni = 7000, .bum = (enum bum_replication)7};
    uint32_t id = 0;
    assert_int_equal(vswitch_segment_add(fx->sw, &sc, &id), EINVAL);
    assert_int_equal(vswitch_segment_proxies(fx->sw, fx->seg1, ids, 4), 0);
    assert_int_equal(vswitch_segment_replicas(fx->sw, fx->seg1, ids, 4), 0);

    struct proxy_fx p = proxy_lists(fx);
    assert_int_equal(vswitch_segment_proxies(fx->sw, fx->seg1, ids, 4), 2);
    assert_int_equal(ids[0], fx->v2);
    assert_int_equal(ids[1], fx->v3);
    assert_int_equal(vswitch_segment_replicas(fx->sw, fx->seg1, ids, 1), 2); /* max 1 */
    assert_int_equal(ids[0], p.r1);
    assert_int_equal(ids[1], fx->v3); /* untouched beyond max */

    /* Refused calls change nothing. */
    const struct ip_addr v2 = ip(VTEP2), v3 = ip(VTEP3), r1 = ip(VTEP_R1), none = ip("10.0.9.9");
    const struct ip_addr twice[2] = {v2, v2};
    assert_int_equal(vswitch_segment_replication_set(fx->sw, 999, &v2, 1, NULL, 0), ENOENT);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, &none, 1, NULL, 0), ENOENT);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, &v2, 1, &none, 1), ENOENT);
    /* VTEP3 exists, but is no peer of 5002. */
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg2, &v3, 1, NULL, 0), ENOENT);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, twice, 2, NULL, 0), EINVAL);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, NULL, 0, twice, 2), EINVAL);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, &v2, 1, &v2, 1), EINVAL);
    assert_int_equal(vswitch_segment_proxies(fx->sw, fx->seg1, ids, 4), 2);
    assert_int_equal(vswitch_segment_replicas(fx->sw, fx->seg1, ids, 4), 2);
    assert_int_equal(vswitch_segment_proxies(fx->sw, 999, ids, 4), 0);

    /* A peer that goes away leaves the lists; the rest stays in order. */
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &r1), 0);
    assert_int_equal(vswitch_segment_replicas(fx->sw, fx->seg1, ids, 4), 1);
    assert_int_equal(ids[0], p.r2);
    assert_int_equal(vswitch_segment_peer_del(fx->sw, fx->seg1, &v2), 0);
    assert_int_equal(vswitch_segment_proxies(fx->sw, fx->seg1, ids, 4), 1);
    assert_int_equal(ids[0], fx->v3);

    /* The controller re-picks; then clears. */
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, &v3, 1, NULL, 0), 0);
    assert_int_equal(vswitch_segment_replicas(fx->sw, fx->seg1, ids, 4), 0);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, NULL, 0, NULL, 0), 0);
    assert_int_equal(vswitch_segment_proxies(fx->sw, fx->seg1, ids, 4), 0);
    /* Allowed in other modes (kept for when the mode is proxy). */
    const struct ip_addr v2b = ip(VTEP2);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg2, &v2b, 1, NULL, 0), 0);
}

/* From a local port: local ports, a plain copy to each VTEP of this subnet and
 * a marked copy to each proxy; not to VTEP_X, which its proxy serves. */
static void test_proxy_flood_from_port(void **state)
{
    struct fx *fx = *state;
    struct proxy_fx p = proxy_lists(fx);
    const uint8_t marked = VXLAN_FLAG_I | VXLAN_FLAG_REPLICATE;

    size_t len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(p.r1), DV(p.r2), DV(fx->v2), DV(fx->v3));
    assert_int_equal(pkt_pool_available(fx->pool), POOL_SIZE - 7);
    expect_frame(fx, fx->a2, fx->f, len);
    expect_vxlan_to(fx, p.r1, VTEP_R1, 5001, fx->f, len);
    expect_vxlan_to(fx, p.r2, VTEP_R2, 5001, fx->f, len);
    expect_vxlan_flags_to(fx, fx->v2, VTEP2, 5001, fx->f, len, marked);
    expect_vxlan_flags_to(fx, fx->v3, VTEP3, 5001, fx->f, len, marked);
    /* On the wire: byte 28 (after outer IPv4 and UDP) is the flags byte. */
    assert_int_equal(tx_for(fx, DV(fx->v2))->data[28], 0x09);
    assert_int_equal(tx_for(fx, DV(p.r1))->data[28], 0x08);
    out_free(fx);
    struct vswitch_counters c = seg_ctr(fx, fx->seg1);
    expect_ctr(&c, 1, 142, 7, 142 + 2 * 146 + 4 * 178, 7);
    c = vtep_ctr(fx, p.x);
    expect_ctr(&c, 0, 0, 0, 0, 0);
    c = vtep_ctr(fx, fx->v3);
    expect_ctr(&c, 0, 0, 1, 178, 1);

    /* Unknown unicast the same way. */
    len = udp(fx->f, MAC9, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2, DV(p.r1), DV(p.r2), DV(fx->v2), DV(fx->v3));
    out_free(fx);

    /* Known unicast: straight to the VTEP, unmarked, proxy or not. */
    learn_remote(fx, VTEP_X, 5001, MACX, NOW);
    len = udp(fx->f, MACX, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(p.x));
    expect_vxlan_to(fx, p.x, VTEP_X, 5001, fx->f, len);
    out_free(fx);
    learn_remote(fx, VTEP2, 5001, MACR2, NOW);
    len = udp(fx->f, MACR2, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, DV(fx->v2));
    expect_vxlan_to(fx, fx->v2, VTEP2, 5001, fx->f, len);
    out_free(fx);

    /* Lists not set (yet): local ports only. */
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, NULL, 0, NULL, 0), 0);
    len = udp(fx->f, BCAST, MAC1);
    run_port(fx, fx->a1, fx->f, len, NOW);
    EXPECT_DESTS(fx, fx->a2, fx->t1, fx->t2);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    expect_no_drops(&s.total);
    assert_int_equal(s.proxy_replicated, 0);
}

/* A marked frame from a peer: delivered here and replicated, unmarked, to
 * this subnet's VTEPs but its sender; an unmarked one stays local. */
static void test_proxy_replicates_marked(void **state)
{
    struct fx *fx = *state;
    struct proxy_fx p = proxy_lists(fx);
    const uint8_t marked = VXLAN_FLAG_I | VXLAN_FLAG_REPLICATE;
    uint8_t inner[256];

    size_t ilen = udp(inner, BCAST, MACR2);
    run_vxlan(fx, VTEP2, marked, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(p.r1), DV(p.r2));
    expect_frame(fx, fx->a1, inner, ilen);
    size_t tlen = with_tag(fx->e, inner, ilen, 0x8100, 0, 101);
    expect_frame(fx, fx->t1, fx->e, tlen);
    expect_vxlan_to(fx, p.r1, VTEP_R1, 5001, inner, ilen); /* marker gone */
    expect_vxlan_to(fx, p.r2, VTEP_R2, 5001, inner, ilen);
    out_free(fx);
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.proxy_replicated, 1);
    assert_int_equal(s.total.flood_packets, 6);
    struct vswitch_counters c = vtep_ctr(fx, p.r1);
    expect_ctr(&c, 0, 0, 1, 36 + 142, 1);

    /* From a VTEP of this subnet: not sent back to it. */
    ilen = udp(inner, BCAST, MAC5);
    run_vxlan(fx, VTEP_R1, marked, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2, DV(p.r2));
    out_free(fx);

    /* Unmarked: split horizon as ever. */
    ilen = udp(inner, BCAST, MACR3);
    run_vxlan(fx, VTEP3, VXLAN_FLAG_I, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    out_free(fx);

    /* Marked, to a MAC known here on a1: a1 and the subnet. */
    learn_on_port(fx, fx->a1, MAC1, NOW);
    ilen = udp(inner, MAC1, MACR3);
    run_vxlan(fx, VTEP3, marked, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, DV(p.r1), DV(p.r2));
    expect_frame(fx, fx->a1, inner, ilen);
    out_free(fx);

    /* Marked, to a MAC known behind r2: the subnet only, and no drop counted. */
    learn_remote(fx, VTEP_R2, 5001, MAC6, NOW);
    ilen = udp(inner, MAC6, MACR3);
    run_vxlan(fx, VTEP3, marked, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, DV(p.r1), DV(p.r2));
    expect_vxlan_to(fx, p.r2, VTEP_R2, 5001, inner, ilen);
    out_free(fx);
    s = stats(fx);
    expect_no_drops(&s.total);
    assert_int_equal(s.proxy_replicated, 4);

    /* ... unless the only VTEP of the subnet is the sender: then it went nowhere. */
    const struct ip_addr r2 = ip(VTEP_R2);
    assert_int_equal(vswitch_segment_replication_set(fx->sw, fx->seg1, NULL, 0, &r2, 1), 0);
    ilen = udp(inner, MAC6, MAC7);
    run_vxlan(fx, VTEP_R2, marked, 5001, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    expect_only_drops(&s.total, DROP_SPLIT_HORIZON, 1);
    /* Nothing from the overlay went to a proxy: their one datagram each is
     * learn_on_port()'s flood from a1. */
    assert_int_equal(vtep_ctr(fx, fx->v2).tx_packets, 1);
    assert_int_equal(vtep_ctr(fx, fx->v3).tx_packets, 1);
}

/* The marker means nothing outside proxy mode, and only peers are heard. */
static void test_proxy_mark_ignored(void **state)
{
    struct fx *fx = *state;
    uint8_t inner[256];
    const uint8_t marked = VXLAN_FLAG_I | VXLAN_FLAG_REPLICATE;

    size_t ilen = udp(inner, BCAST, MACR2);
    run_vxlan(fx, VTEP2, marked, 5001, inner, ilen, NOW);
    EXPECT_DESTS(fx, fx->a1, fx->a2, fx->t1, fx->t2);
    out_free(fx);
    struct vswitch_stats s = stats(fx);
    assert_int_equal(s.proxy_mark_ignored, 1);
    assert_int_equal(s.proxy_replicated, 0);
    expect_mac_at(fx, fx->seg1, MACR2, MAC_DEST_REMOTE(fx->v2), false);

    run_vxlan(fx, "10.0.9.9", marked, 5001, inner, ilen, NOW);
    assert_int_equal(fx->out.n, 0);
    s = stats(fx);
    expect_only_drops(&s.total, DROP_VXLAN_UNKNOWN_VTEP, 1);
    assert_int_equal(s.proxy_mark_ignored, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_errors),
        T(test_segment_config_errors),
        T(test_port_config_errors),
        T(test_peer_config_errors),
        T(test_unknown_unicast_floods),
        T(test_broadcast_and_multicast_flood),
        T(test_flood_no_destination),
        T(test_known_unicast_one_port),
        T(test_known_unicast_to_trunk),
        T(test_remote_learning_and_encap),
        T(test_vxlan_flow_entropy),
        T(test_split_horizon),
        T(test_hairpin),
        T(test_access_port_vlans),
        T(test_trunk_allowed_vlans),
        T(test_trunk_vlan_errors),
        T(test_trunk_native_vlan),
        T(test_trunk_8021ad),
        T(test_segment_isolation),
        T(test_many_macs_behind_one_port),
        T(test_mac_limit),
        T(test_learning_off),
        T(test_static_mac_not_overridden),
        T(test_mac_moves),
        T(test_aging),
        T(test_aging_configurable),
        cmocka_unit_test_setup_teardown(test_table_full_still_forwards, setup_small_table,
                                        teardown),
        T(test_promiscuous),
        T(test_port_security),
        T(test_multicast_bum),
        T(test_underlay_options),
        T(test_port_ids_exhausted),
        T(test_decap_errors),
        T(test_decap_inner_vlan_allowed),
        T(test_underlay_mtu),
        T(test_pmtu_icmp_access_port),
        T(test_pmtu_icmp_trunk_port),
        T(test_pmtu_icmp_ipv6),
        T(test_pmtu_icmp_ipv6_underlay),
        T(test_pmtu_icmp_rate_limit),
        T(test_pmtu_icmp_off),
        T(test_malformed_frames),
        T(test_tx_full),
        T(test_tx_flush_callback),
        T(test_no_buffer_for_flood),
        T(test_no_headroom),
        T(test_port_down),
        T(test_input_on_unknown_port),
        T(test_port_del_flushes_macs),
        T(test_port_set_flushes_on_segment_change),
        T(test_peer_del_flushes_macs),
        T(test_segment_del_with_trunks),
        T(test_batch_in_order),
        T(test_vxlan_batch_mixed_senders),
        cmocka_unit_test_setup_teardown(test_arp_config, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_suppressed_reply, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_suppressed_on_trunk, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_unknown_floods_answer_teaches, setup_arp,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_arp_gratuitous_updates, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_not_answered, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_aging, setup_arp, teardown),
        cmocka_unit_test_setup_teardown(test_arp_table_full, setup_arp_small, teardown),
        T(test_arp_segment_del_flushes),
        T(test_events_mac),
        cmocka_unit_test_setup_teardown(test_events_overflow, setup_small_events, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_config, setup_proxy, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_flood_from_port, setup_proxy, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_replicates_marked, setup_proxy, teardown),
        T(test_proxy_mark_ignored),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
