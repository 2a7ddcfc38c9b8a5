/*
 * make_seeds.c - writes the seed corpora of the fuzz harnesses.
 *
 *   fuzz_make_seeds DIR
 *
 * creates DIR/fuzz_port_frame/ and DIR/fuzz_vxlan_datagram/ with a score of
 * small inputs: records (fuzz_common.h) of a control byte and a valid frame or
 * VXLAN payload built with tests/unit/frames.h, aimed at the paths of the fuzz
 * switch (fuzz_common.c): unicast to a local port and to IPv4/IPv6 VTEPs,
 * floods with head-end, proxy and multicast replication, trunks with 802.1Q
 * and 802.1ad tags, port security, MTU and underlay-MTU limits, a full output
 * array, a pool under pressure, ARP answered by the switch, datagrams marked
 * for proxy replication; and sequences: learn then unicast, MAC moves, a full
 * MAC table, a port's MAC limit, an address learned then asked for, a full
 * ARP table; and for fuzz_agent_message, streams of agent protocol frames
 * (both ends of a session, resumption, framing failures). scripts/fuzz.sh runs it before
 * fuzzing, so no binary seed is kept in the repository.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frames.h"
#include "fuzz_common.h"

/* Control byte: source index, batch of one (1) or three (3) copies, output mode. */
#define CTL(source, copies, mode) \
    ((uint8_t)((source) | ((copies) > 1 ? FUZZ_CTL_COPIES : 0) | FUZZ_CTL_MODE(mode)))

/* The fuzz switch's MACs (fuzz_common.c). */
#define M_SEC1   "02:00:00:00:00:01" /* bound on P1 to 10.0.0.1 */
#define M_SEC3   "02:00:00:00:00:03" /* bound on P1 to 2001:db8:1::3 */
#define M_REM4   "02:00:00:00:00:aa" /* S0, behind 192.0.2.1 */
#define M_P0     "02:00:00:00:00:bb" /* S0, static on P0 */
#define M_REM6   "02:00:00:00:00:cc" /* S0, behind 2001:db8::1 */
#define M_DOWN   "02:00:00:00:00:dd" /* S0, static on P7 (down) */
#define M_REM_S2 "02:00:00:00:00:ee" /* S2, behind 192.0.2.2 */
#define M_HOST   "02:00:00:00:10:01"
#define M_HOST2  "02:00:00:00:10:02"
#define M_HOST3  "02:00:00:00:10:03"
#define M_HOST4  "02:00:00:00:10:04"
#define M_FAR    "02:00:00:00:20:01"
#define M_BCAST  "ff:ff:ff:ff:ff:ff"
#define M_MCAST6 "33:33:00:00:00:01"
#define M_NONE   "00:00:00:00:00:00"
#define IP_P0    "10.0.0.11" /* S0, static ARP entry -> M_P0 */
/* VXLAN flags with the proxy replication marker. */
#define MARKED 0x09

static const char *dir_path;
static unsigned n_written;

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_make_seeds: mkdir %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void seed(const char *harness, const char *name, uint8_t ctl, const uint8_t *frame,
                 size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s/%s", dir_path, harness, name);
    f = fopen(path, "wb");
    if (!f || fputc(ctl, f) == EOF || fwrite(frame, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_make_seeds: writing %s failed\n", path);
        exit(1);
    }
    n_written++;
}

/* A multi-record input being built. */
struct records {
    uint8_t data[4 * FRAME_MAX];
    size_t len;
};

/* Appends a chained record (control byte, 16-bit length, frame). */
static void rec(struct records *r, uint8_t ctl, const uint8_t *frame, size_t len)
{
    if (r->len + 3 + len > sizeof r->data || len > 0xffff) {
        fprintf(stderr, "fuzz_make_seeds: seed too long\n");
        exit(1);
    }
    r->data[r->len++] = ctl | FUZZ_CTL_CHAINED;
    r->data[r->len++] = (uint8_t)(len >> 8);
    r->data[r->len++] = (uint8_t)len;
    memcpy(r->data + r->len, frame, len);
    r->len += len;
}

/* Writes a multi-record seed (the control byte of seed() is the first record's). */
static void seed_records(const char *harness, const char *name, struct records *r)
{
    seed(harness, name, r->data[0], r->data + 1, r->len - 1);
    r->len = 0;
}

/* Inserts an 802.1Q/802.1ad tag after the MAC addresses of the frame in buf. */
static size_t insert_tag(uint8_t *buf, size_t len, uint16_t tpid, uint16_t tci)
{
    memmove(buf + 16, buf + 12, len - 12);
    buf[12] = (uint8_t)(tpid >> 8);
    buf[13] = (uint8_t)tpid;
    buf[14] = (uint8_t)(tci >> 8);
    buf[15] = (uint8_t)tci;
    return len + 4;
}

static void port_seeds(void)
{
    static uint8_t b[FRAME_MAX];
    const char *h = "fuzz_port_frame";
    const struct frame_tag v20[] = {{0x8100, 20, 3}, {0, 0, 0}};
    const struct frame_tag qinq[] = {{0x88a8, 30, 1}, {0x8100, 5, 0}, {0, 0, 0}};
    const struct frame_tag prio[] = {{0x8100, 0, 5}, {0, 0, 0}};
    size_t n;

    n = frame_udp4(b, M_REM4, M_HOST, "10.0.0.10", "10.0.0.20", 1000, 2000, 18);
    seed(h, "p0-udp4-to-vtep4", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_arp(b, 1, M_HOST, "10.0.0.10", "00:00:00:00:00:00", "10.0.0.20");
    seed(h, "p0-arp-flood", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp4(b, M_REM6, M_SEC1, "10.0.0.1", "10.0.0.20", 68, 67, 32);
    seed(h, "p1-secure-udp4-to-vtep6", CTL(1, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_icmp6(b, M_MCAST6, M_SEC3, "2001:db8:1::3", "ff02::1", 8);
    seed(h, "p1-secure-icmp6-mcast", CTL(1, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp4_tagged(b, M_HOST2, M_HOST, v20, "10.0.1.1", "10.0.1.2", 53, 53, 20);
    seed(h, "p2-vlan20-unknown-flood", CTL(2, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp6(b, M_P0, M_HOST2, "2001:db8:2::1", "2001:db8:2::2", 4000, 4001, 16, 2);
    seed(h, "p2-native-udp6-ext", CTL(2, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp4_tagged(b, M_BCAST, M_HOST, qinq, "10.0.3.1", "10.0.3.255", 9, 9, 10);
    seed(h, "p3-qinq-bcast", CTL(3, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_tcp4(b, M_HOST2, M_HOST, "10.0.1.3", "10.0.1.4", 40000, 80, 1446);
    seed(h, "p4-tcp4-1500", CTL(4, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_icmp4(b, M_REM_S2, M_HOST, "10.0.2.1", "10.0.2.2", 56);
    seed(h, "p6-icmp4-to-vtep", CTL(6, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_arp(b, 1, M_HOST2, "10.0.2.3", "00:00:00:00:00:00", "10.0.2.4");
    seed(h, "p8-arp-mcast-flood", CTL(8, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp4_tagged(b, M_BCAST, M_HOST2, v20, "10.0.1.5", "10.0.1.255", 137, 137, 40);
    seed(h, "p9-bcast-flush", CTL(9, 4, FUZZ_MODE_FLUSH), b, n);
    n = frame_udp4(b, M_DOWN, M_HOST, "10.0.0.10", "10.0.0.30", 1, 2, 0);
    seed(h, "p0-to-down-port-txfull", CTL(0, 3, FUZZ_MODE_TX_FULL), b, n);
    n = frame_arp(b, 1, M_HOST2, "10.0.0.11", "00:00:00:00:00:00", "10.0.0.1");
    seed(h, "p2-arp-pressure", CTL(2, 2, FUZZ_MODE_PRESSURE), b, n);
    n = frame_udp4_tagged(b, M_P0, M_HOST, prio, "10.0.0.10", "10.0.0.11", 5, 6, 4);
    seed(h, "p0-priority-tagged", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    memset(b, 0xff, 10);
    seed(h, "runt", CTL(10, 1, FUZZ_MODE_PLAIN), b, 10);
    n = frame_arp(b, 1, M_HOST, "10.0.3.1", "00:00:00:00:00:00", "10.0.3.2");
    seed(h, "p3-untagged-no-native", CTL(3, 1, FUZZ_MODE_PLAIN), b, n);
    const struct frame_tag s30[] = {{0x88a8, 30, 0}, {0, 0, 0}};
    n = frame_udp4_tagged(b, M_BCAST, M_HOST, s30, "10.0.4.1", "10.0.4.255", 9, 9, 8);
    seed(h, "p3-s3-no-destination", CTL(3, 1, FUZZ_MODE_PLAIN), b, n);
    const struct frame_tag v40[] = {{0x8100, 40, 0}, {0, 0, 0}};
    n = frame_udp4_tagged(b, M_HOST2, M_HOST, v40, "10.0.5.1", "10.0.5.2", 9, 9, 8);
    seed(h, "p9-vlan40-no-segment", CTL(9, 1, FUZZ_MODE_PLAIN), b, n);

    /* ARP suppression (S0) and proxy replication (S1). */
    n = frame_arp(b, 1, M_HOST, "10.0.0.10", M_NONE, IP_P0);
    seed(h, "p0-arp-answered", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    seed(h, "p0-arp-answered-txfull", CTL(0, 3, FUZZ_MODE_TX_FULL), b, n);
    n = frame_arp(b, 1, M_HOST2, "10.0.0.12", M_NONE, IP_P0);
    n = insert_tag(b, n, 0x8100, 6 << 13 | 10);
    seed(h, "p2-tagged-arp-answered", CTL(2, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_arp(b, 1, M_HOST, "10.0.0.10", M_NONE, "10.0.0.10");
    seed(h, "p0-garp", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_arp(b, 1, M_HOST, "0.0.0.0", M_NONE, IP_P0);
    seed(h, "p0-arp-probe", CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    n = frame_udp4(b, M_BCAST, M_HOST, "10.0.1.10", "10.0.1.255", 1, 1, 8);
    seed(h, "p4-s1-proxy-flood", CTL(4, 1, FUZZ_MODE_PLAIN), b, n);

    /* Sequences. */
    static struct records r;
    n = frame_udp4(b, M_BCAST, M_HOST, "10.0.0.10", "10.0.0.255", 1, 1, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, n); /* H1 learned on P0 */
    n = frame_udp4(b, M_HOST, M_HOST2, "10.0.0.11", "10.0.0.10", 2, 2, 8);
    rec(&r, CTL(2, 1, FUZZ_MODE_PLAIN), b, n); /* P2 native -> H1: unicast to P0 */
    n = frame_udp4(b, M_HOST2, M_HOST, "10.0.0.10", "10.0.0.11", 3, 3, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, n); /* back: unicast to P2 */
    seed_records(h, "seq-learn-unicast", &r);

    n = frame_udp4(b, M_BCAST, M_HOST, "10.0.0.10", "10.0.0.255", 1, 1, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, n);
    rec(&r, CTL(2, 1, FUZZ_MODE_PLAIN), b, n); /* H1 moves to P2 */
    rec(&r, CTL(0, 3, FUZZ_MODE_PLAIN), b, n); /* and back */
    seed_records(h, "seq-mac-move", &r);

    const char *hosts[] = {M_HOST, M_HOST2, M_HOST3, M_HOST4};
    for (unsigned i = 0; i < 4; i++) {
        n = frame_udp4(b, M_P0, hosts[i], "10.0.0.10", "10.0.0.20", 1, 1, 8);
        rec(&r, CTL(2, 1, FUZZ_MODE_PLAIN), b, n); /* the fourth finds the table full */
    }
    seed_records(h, "seq-table-full", &r);

    for (unsigned i = 0; i < 3; i++) {
        n = frame_udp4(b, M_BCAST, hosts[i], "10.0.1.10", "10.0.1.255", 1, 1, 8);
        rec(&r, CTL(4, 1, FUZZ_MODE_PLAIN), b, n); /* the third is over P4's limit */
    }
    seed_records(h, "seq-mac-limit", &r);

    n = frame_udp4(b, M_BCAST, M_HOST, "10.0.1.10", "10.0.1.255", 1, 1, 8);
    rec(&r, CTL(4, 1, FUZZ_MODE_PLAIN), b, n); /* H1 on P4 (S1) */
    n = frame_udp4_tagged(b, M_HOST, M_HOST2, v20, "10.0.1.11", "10.0.1.10", 2, 2, 8);
    rec(&r, CTL(9, 1, FUZZ_MODE_PLAIN), b, n); /* unicast, copies to P3 and P5 */
    seed_records(h, "seq-promiscuous-unicast", &r);

    n = frame_arp(b, 1, M_HOST, "10.0.0.10", M_NONE, "10.0.0.20");
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, n); /* flooded; 10.0.0.10 learned */
    n = frame_arp(b, 1, M_HOST2, "10.0.0.20", M_NONE, "10.0.0.10");
    rec(&r, CTL(2, 1, FUZZ_MODE_PLAIN), b, n); /* answered from the table */
    n = frame_arp(b, 2, M_HOST3, "10.0.0.10", M_BCAST, "10.0.0.10");
    rec(&r, CTL(2, 1, FUZZ_MODE_PLAIN), b, n); /* gratuitous: 10.0.0.10 moves */
    seed_records(h, "seq-arp-learn-answer", &r);

    for (unsigned i = 0; i < 4; i++) {
        char addr[16];
        snprintf(addr, sizeof addr, "10.0.0.%u", 30 + i);
        n = frame_arp(b, 1, hosts[i], addr, M_NONE, "10.0.0.99");
        rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, n); /* the fourth finds the ARP table full */
    }
    seed_records(h, "seq-arp-table-full", &r);
}

static void vxlan_seeds(void)
{
    static uint8_t inner[FRAME_MAX], b[FRAME_MAX];
    const char *h = "fuzz_vxlan_datagram";
    const struct frame_tag v7[] = {{0x8100, 7, 2}, {0, 0, 0}};
    size_t n;

    n = frame_udp4(inner, M_BCAST, M_FAR, "10.0.0.50", "10.0.0.255", 67, 68, 30);
    seed(h, "v4peer-s0-bcast", CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    n = frame_udp4_tagged(inner, M_HOST2, M_FAR, v7, "10.0.1.50", "10.0.1.51", 7, 7, 12);
    seed(h, "v4peer-s1-inner-vlan", CTL(0, 1, FUZZ_MODE_PLAIN), b,
         frame_vxlan(b, 0x08, 200, inner, n));
    n = frame_arp(inner, 1, M_FAR, "10.0.2.50", "00:00:00:00:00:00", "10.0.2.1");
    seed(h, "v4peer-s2-arp", CTL(1, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 300, inner, n));
    n = frame_tcp4(inner, M_P0, M_FAR, "10.0.0.50", "10.0.0.10", 5000, 22, 64);
    seed(h, "v6peer-s0-to-p0", CTL(2, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    seed(h, "nonpeer-s0", CTL(3, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    seed(h, "unknown-vni", CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 999, inner, n));
    seed(h, "bad-flags", CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x00, 100, inner, n));
    n = frame_udp4(inner, M_REM4, M_FAR, "10.0.0.50", "10.0.0.60", 1, 2, 8);
    seed(h, "split-horizon", CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    n = frame_udp6(inner, M_HOST, M_FAR, "2001:db8:2::50", "2001:db8:2::1", 9, 9, 24, 1);
    seed(h, "v4peer-s0-udp6", CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    n = frame_arp(inner, 1, M_FAR, "10.0.0.50", "00:00:00:00:00:00", "10.0.0.1");
    seed(h, "v4peer-s0-arp-flush", CTL(0, 4, FUZZ_MODE_FLUSH), b,
         frame_vxlan(b, 0x08, 100, inner, n));
    seed(h, "v4peer-s0-arp-pressure", CTL(1, 3, FUZZ_MODE_PRESSURE), b,
         frame_vxlan(b, 0x08, 100, inner, n));
    /* The replication marker: honoured in S1 (proxy), ignored in S0. */
    n = frame_udp4(inner, M_BCAST, M_FAR, "10.0.1.50", "10.0.1.255", 1, 1, 8);
    seed(h, "proxy-s1-marked", CTL(0, 1, FUZZ_MODE_PLAIN), b,
         frame_vxlan(b, MARKED, 200, inner, n));
    seed(h, "proxy-s1-marked-from-replica", CTL(2, 3, FUZZ_MODE_FLUSH), b,
         frame_vxlan(b, MARKED, 200, inner, n));
    seed(h, "proxy-s0-marked-ignored", CTL(0, 1, FUZZ_MODE_PLAIN), b,
         frame_vxlan(b, MARKED, 100, inner, n));
    n = frame_arp(inner, 2, M_FAR, "10.0.0.50", M_HOST, "10.0.0.10");
    seed(h, "v4peer-s0-arp-reply-learned", CTL(0, 1, FUZZ_MODE_PLAIN), b,
         frame_vxlan(b, 0x08, 100, inner, n));

    /* Sequences; sources 8-15 are ports P0-P7 (fuzz_vxlan_datagram.c). */
    static struct records r;
    n = frame_udp4(inner, M_BCAST, M_FAR, "10.0.0.50", "10.0.0.255", 1, 1, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    n = frame_udp4(b, M_FAR, M_HOST, "10.0.0.10", "10.0.0.50", 2, 2, 8);
    rec(&r, CTL(8, 1, FUZZ_MODE_PLAIN), b, n); /* P0 -> FAR: encapsulated to 192.0.2.1 */
    seed_records(h, "seq-remote-learn-reply", &r);

    n = frame_udp4(inner, M_BCAST, M_FAR, "10.0.0.50", "10.0.0.255", 1, 1, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    rec(&r, CTL(8, 1, FUZZ_MODE_PLAIN), inner, n); /* FAR moves to P0 */
    rec(&r, CTL(1, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n)); /* and away */
    seed_records(h, "seq-remote-move", &r);

    n = frame_udp4(b, M_BCAST, M_HOST, "10.0.0.10", "10.0.0.255", 1, 1, 8);
    rec(&r, CTL(8, 1, FUZZ_MODE_PLAIN), b, n); /* H1 on P0 */
    n = frame_udp4(inner, M_HOST, M_FAR, "10.0.0.50", "10.0.0.10", 2, 2, 8);
    rec(&r, CTL(2, 3, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    seed_records(h, "seq-decap-unicast", &r);

    n = frame_udp4(inner, M_BCAST, M_FAR, "10.0.1.50", "10.0.1.255", 1, 1, 8);
    rec(&r, CTL(1, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 200, inner, n)); /* FAR: .2 */
    n = frame_udp4(inner, M_FAR, M_HOST, "10.0.1.51", "10.0.1.50", 2, 2, 8);
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, MARKED, 200, inner, n));
    seed_records(h, "seq-proxy-marked-to-replica", &r); /* the replicas only */

    n = frame_arp(inner, 2, M_FAR, "10.0.0.50", M_BCAST, "10.0.0.50");
    rec(&r, CTL(0, 1, FUZZ_MODE_PLAIN), b, frame_vxlan(b, 0x08, 100, inner, n));
    n = frame_arp(b, 1, M_HOST, "10.0.0.10", M_NONE, "10.0.0.50");
    rec(&r, CTL(8, 1, FUZZ_MODE_PLAIN), b, n); /* P0 asks: answered with FAR's MAC */
    seed_records(h, "seq-arp-overlay-teaches", &r);
}

/* ---- fuzz_agent_message: streams of agent protocol frames ---------------- */

/* The harness's control byte (fuzz_agent_message.c). */
#define AGENT_WHOLE      0x00
#define AGENT_BYTEWISE   0x01
#define AGENT_CHUNKS     0x03
#define AGENT_SMALL_MAX  0x08
#define AGENT_RECV_AGENT 0x10

struct agent_stream {
    uint8_t data[8192];
    size_t len;
};

/* Appends a frame whose body is json with ' for " (readable in C). */
static void agent_frame(struct agent_stream *st, const char *json)
{
    size_t n = strlen(json);

    if (st->len + 4 + n > sizeof st->data) {
        fprintf(stderr, "fuzz_make_seeds: agent seed too long\n");
        exit(1);
    }
    st->data[st->len++] = (uint8_t)(n >> 24);
    st->data[st->len++] = (uint8_t)(n >> 16);
    st->data[st->len++] = (uint8_t)(n >> 8);
    st->data[st->len++] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        st->data[st->len++] = json[i] == '\'' ? '"' : (uint8_t)json[i];
    }
}

static void agent_seed(const char *name, uint8_t ctl, struct agent_stream *st)
{
    seed("fuzz_agent_message", name, ctl, st->data, st->len);
    st->len = 0;
}

static const char agent_hello[] =
    "{'type':'hello','version':1,'min_version':1,'host':'host-a','vtep':'10.1.1.2',"
    "'vtep_prefix_len':24,'token':'K7f3-9qPz!x~2mLw','revision':0,'software':'weftd 0.1.0'}";
static const char agent_full_report[] =
    "{'type':'report','full':true,'more':false,'ops':["
    "{'op':'mac_learned','vni':5001,'port':'vm1','mac':'02:00:00:00:10:01'},"
    "{'op':'ip_learned','vni':5001,'ip':'172.16.10.11','mac':'02:00:00:00:10:01'},"
    "{'op':'port_state','port':'vm2','up':false,'reason':'tap vm2: No such device'}]}";
static const char agent_report[] =
    "{'type':'report','ops':["
    "{'op':'mac_learned','vni':5001,'port':'vm1','mac':'02:00:00:00:10:02'},"
    "{'op':'mac_gone','vni':5001,'mac':'02:00:00:00:10:01'},"
    "{'op':'ip_learned','vni':5001,'ip':'2001:db8:5::11','mac':'02:00:00:00:10:02'},"
    "{'op':'ip_gone','vni':5001,'ip':'172.16.10.11'},"
    "{'op':'port_state','port':'vm2','up':true}]}";
static const char agent_welcome[] =
    "{'type':'welcome','version':1,'epoch':'sqlite:4b1d','resumed':false,'revision':0,"
    "'heartbeat_ms':5000,'dead_ms':15000}";
static const char agent_snapshot[] =
    "{'type':'snapshot','revision':42,'more':true,'ops':["
    "{'op':'segment_set','vni':5001,'vlan':0,'bum':'head-end','arp_suppression':true,"
    "'allow_inner_vlan':false},"
    "{'op':'segment_set','vni':5002,'vlan':119,'bum':'proxy','proxies':['10.1.2.2'],"
    "'replicas':['10.1.1.3','2001:db8::3'],'arp_suppression':false,'allow_inner_vlan':true},"
    "{'op':'segment_set','vni':5003,'bum':'multicast','group':'239.1.1.1'},"
    "{'op':'vtep_add','vni':5001,'vtep':'10.1.2.2'},"
    "{'op':'mac_set','vni':5001,'mac':'02:00:00:00:20:01','vtep':'10.1.2.2'},"
    "{'op':'ip_set','vni':5001,'ip':'172.16.10.21','mac':'02:00:00:00:20:01'},"
    "{'op':'port_set','name':'vm1','mode':'access','segment':5001,'admin_up':true,'mtu':1500,"
    "'learning':true,'mac_limit':16,'promiscuous':false,'port_security':true,'bindings':["
    "{'mac':'02:00:00:00:10:01','ip':'172.16.10.11'},{'mac':'02:00:00:00:10:02'}]},"
    "{'op':'port_set','name':'trunk0','mode':'trunk','vlans':'100-110,119','native_vlan':119,"
    "'tpid':34984}]}";
static const char agent_update[] =
    "{'type':'update','revision':43,'ops':["
    "{'op':'segment_set','vni':7,'bum':'head-end'},{'op':'segment_del','vni':5003},"
    "{'op':'vtep_add','vni':5001,'vtep':'10.1.3.2'},{'op':'vtep_del','vni':5001,"
    "'vtep':'10.1.2.2'},{'op':'mac_set','vni':5001,'mac':'02:00:00:00:20:01',"
    "'vtep':'10.1.3.2'},{'op':'mac_del','vni':5001,'mac':'02:00:00:00:20:02'},"
    "{'op':'ip_set','vni':5001,'ip':'172.16.10.22','mac':'02:00:00:00:20:01'},"
    "{'op':'ip_del','vni':5001,'ip':'172.16.10.21'},"
    "{'op':'port_set','name':'vm3','segment':7},{'op':'port_del','name':'vm1'}]}";

static void agent_seeds(void)
{
    static struct agent_stream st;

    /* The controller's side of a session. */
    agent_frame(&st, agent_hello);
    agent_seed("ctl-hello", AGENT_WHOLE, &st);
    agent_frame(&st, agent_hello);
    agent_frame(&st, agent_full_report);
    agent_frame(&st, "{'type':'heartbeat','revision':0}");
    agent_frame(&st, agent_report);
    agent_frame(&st, "{'type':'error','code':'shutdown','message':'weftd stopping'}");
    agent_seed("ctl-session", AGENT_WHOLE, &st);
    agent_frame(&st, agent_hello);
    agent_frame(&st, agent_report); /* the first report must be full */
    agent_seed("ctl-session-chunks", AGENT_CHUNKS, &st);
    agent_frame(&st, "{'type':'hello','version':2,'host':'h6','vtep':'2001:db8:1::2',"
                     "'vtep_prefix_len':64,'token':'0123456789abcdef','revision':41,'epoch':'e1'}");
    agent_seed("ctl-hello-resume", AGENT_BYTEWISE, &st);

    /* The agent's side. */
    agent_frame(&st, agent_welcome);
    agent_frame(&st, agent_snapshot);
    agent_frame(&st, "{'type':'snapshot','revision':42,'more':false,'ops':[]}");
    agent_frame(&st, agent_update);
    agent_frame(&st, "{'type':'heartbeat','revision':50}");
    agent_frame(&st, "{'type':'error','code':'replaced','message':'a newer session'}");
    agent_seed("agent-session", AGENT_RECV_AGENT, &st);
    agent_frame(&st, agent_welcome);
    agent_frame(&st, agent_snapshot);
    agent_seed("agent-snapshot-bytewise", AGENT_RECV_AGENT | AGENT_BYTEWISE, &st);
    agent_frame(&st, "{'type':'welcome','version':1,'epoch':'e1','resumed':true,'revision':41,"
                     "'heartbeat_ms':100,'dead_ms':200}");
    agent_frame(&st, agent_update);
    agent_seed("agent-resume", AGENT_RECV_AGENT | AGENT_CHUNKS, &st);

    /* Framing failures. */
    static const uint8_t oversize[] = {0x00, 0x00, 0x09, 0x00, '{', '}'};
    seed("fuzz_agent_message", "oversize-small-max", AGENT_SMALL_MAX, oversize, sizeof oversize);
    static const uint8_t empty[] = {0, 0, 0, 0};
    seed("fuzz_agent_message", "empty-frame", AGENT_WHOLE, empty, sizeof empty);
    agent_frame(&st, agent_hello);
    st.len -= 20; /* the stream ends inside the body */
    agent_seed("truncated", AGENT_WHOLE, &st);
    agent_frame(&st, "{'type':'hello','version':1,");
    agent_seed("bad-json", AGENT_WHOLE, &st);
    agent_frame(&st, "{'type':'launch','revision':1}");
    agent_seed("unknown-type", AGENT_WHOLE, &st);
}

int main(int argc, char **argv)
{
    char path[4096];

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
        return 2;
    }
    dir_path = argv[1];
    make_dir(dir_path);
    snprintf(path, sizeof path, "%s/fuzz_port_frame", dir_path);
    make_dir(path);
    snprintf(path, sizeof path, "%s/fuzz_vxlan_datagram", dir_path);
    make_dir(path);
    snprintf(path, sizeof path, "%s/fuzz_agent_message", dir_path);
    make_dir(path);
    port_seeds();
    vxlan_seeds();
    agent_seeds();
    printf("fuzz_make_seeds: %u seeds in %s\n", n_written, dir_path);
    return 0;
}
