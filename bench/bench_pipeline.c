/*
 * bench_pipeline.c - the in-memory pipeline benchmark: frames through the
 * forwarding core on one core, no I/O, no other thread.
 *
 *   bench_pipeline [--scenario l2|encap|decap|flood|all] [--size 64|1500|all]
 *                  [--batch N] [--packets N] [--warmup N] [--quiet]
 *
 * One switch, built and taught once, like a host that has run for a while:
 *
 *   segment VNI 100: 64 access ports with 10,000 local MACs learned (host h
 *                    on port h % 64), 8 peer VTEPs (10.0.1.1-8) with 10,000
 *                    remote MACs learned from their traffic (host r behind
 *                    peer r % 8)
 *   segment VNI 200: one access port and the same 8 peers, head-end flooding
 *   default config otherwise (MAC table of 1M entries, aging 300 s, IPv4
 *   underlay without outer UDP checksum), underlay MTU 9000, buffers of the
 *   default data room (9216 B), as weftd has them.
 *
 * Scenarios (every frame IPv4/UDP, size = bytes of the Ethernet frame without
 * FCS, so "64" is 64 bytes handed to the switch):
 *
 *   l2     vswitch_input_port(): a batch from one access port, each frame from
 *          one of the port's hosts to a random host on another port (known
 *          unicast, source refreshed in the MAC table); ports in turn
 *   encap  vswitch_input_port(): local host -> random remote MAC, so every
 *          frame leaves VXLAN-encapsulated (outer IPv4/UDP/VXLAN) to its VTEP
 *   decap  vswitch_input_vxlan(): datagrams from the 8 peers in turn, inner
 *          frame from a remote host behind that peer to a random local host
 *   flood  vswitch_input_port(): broadcast on the VNI 200 port: head-end
 *          replication, 8 encapsulated copies per frame (7 clones + original)
 *
 * What is timed: only the call to vswitch_input_port()/vswitch_input_vxlan()
 * for each batch (clock_gettime(CLOCK_MONOTONIC) before and after; the
 * measured cost of that pair of calls is subtracted per batch). Not timed:
 * taking input buffers from the pool and restoring each frame from its
 * template (memcpy, MACs written), and returning the outputs to the pool.
 * The input frames are therefore in cache, as after a copy from a socket or
 * ring. A warm-up of --warmup packets precedes every timed run.
 *
 * Mpps and ns/pkt count input frames; "out/in" is output frames per input.
 * Each batch's outputs are checked (count and destinations), and a run with a
 * drop is reported as an error: a benchmark of dropped frames would flatter.
 * bench/run-pipeline.sh builds a release build, runs this, and counts
 * instructions per packet with callgrind.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/drop.h"
#include "core/pkt.h"
#include "core/vswitch.h"
#include "core/vxlan.h"
#include "frames.h"
#include "lib/ether.h"
#include "lib/ip_addr.h"

/* Under callgrind (bench/run-pipeline.sh runs it with --collect-atstart=no),
 * instructions are counted inside the timed calls only. Outside valgrind the
 * client request is a few no-op instructions. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_COLLECT_TOGGLE() CALLGRIND_TOGGLE_COLLECT
#endif
#endif
#ifndef BENCH_COLLECT_TOGGLE
#define BENCH_COLLECT_TOGGLE() ((void)0)
#endif

#define N_PORTS        64
#define N_LOCAL        10000
#define N_PEERS        8
#define N_REMOTE       10000
#define BATCH_MAX      256
#define POOL_SIZE      4096
#define FLOOD_COPIES   N_PEERS
#define OUT_CAP        (BATCH_MAX * FLOOD_COPIES + 64)
#define NOW            1000
#define VNI_MAIN       100
#define VNI_FLOOD      200
#define DEFAULT_PKTS   4000000ull
#define DEFAULT_WARMUP 200000ull

enum scenario { SC_L2, SC_ENCAP, SC_DECAP, SC_FLOOD, SC_COUNT };

static const char *const scenario_names[SC_COUNT] = {"l2", "encap", "decap", "flood"};

struct bench {
    struct pkt_pool *pool;
    struct vswitch *sw;
    uint32_t seg_main, seg_flood;
    uint16_t ports[N_PORTS];
    uint16_t flood_port;
    struct ip_addr peers[N_PEERS];
    uint32_t peer_ids[N_PEERS];
    /* Current frame templates (one per scenario and size, MACs rewritten per frame). */
    uint8_t tmpl[FRAME_MAX];
    size_t tmpl_len;
    uint32_t size;
    uint64_t rng;
    uint64_t batch_no;
    double timer_overhead_ns;
    int cycles_fd;              /* perf counter of this thread's user-mode cycles, or -1 */
    double cycles_overhead;     /* cycles the counting adds per batch */
    uint32_t expect[BATCH_MAX]; /* unicast scenarios: where each frame of the batch must go */
};

struct result {
    uint64_t packets;
    uint64_t outputs;
    double ns;
    double cycles; /* 0 without a cycle counter */
};

static void die(const char *what, int error)
{
    fprintf(stderr, "bench_pipeline: %s: %s\n", what, strerror(error));
    exit(1);
}

static void must(int error, const char *what)
{
    if (error) {
        die(what, error);
    }
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A counter of the cycles this thread spends in user mode (perf_event_open),
 * or -1 where the kernel does not allow it. Unlike the clock, it does not run
 * while another process has the core, so it is steadier on a busy machine. */
static int open_cycle_counter(void)
{
    struct perf_event_attr attr;

    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = PERF_COUNT_HW_CPU_CYCLES;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static double read_cycles(int fd)
{
    uint64_t v = 0;

    if (fd < 0 || read(fd, &v, sizeof v) != sizeof v) {
        return 0;
    }
    return (double)v;
}

/* MAC of local host h (02:00:0a:..) and remote host r (02:00:0b:..). */
static void local_mac(uint32_t h, uint8_t *mac)
{
    eth_addr_from_u64(0x02000a000000ull | h, mac);
}

static void remote_mac(uint32_t r, uint8_t *mac)
{
    eth_addr_from_u64(0x02000b000000ull | r, mac);
}

static const uint8_t broadcast[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- Outputs ------------------------------------------------------------------ */

static struct vswitch_tx tx_array[OUT_CAP];

static void release_outputs(struct bench *b, struct vswitch_out *out)
{
    for (uint32_t i = 0; i < out->n; i++) {
        pkt_pool_put(b->pool, out->tx[i].pkt);
    }
    out->n = 0;
}

static uint64_t total_drops(const struct vswitch *sw)
{
    struct vswitch_stats st;
    uint64_t n = 0;

    vswitch_get_stats(sw, &st);
    for (unsigned i = 0; i < DROP_REASON_COUNT; i++) {
        n += st.total.drops[i];
    }
    return n;
}

static void report_drops(const struct vswitch *sw)
{
    struct vswitch_stats st;

    vswitch_get_stats(sw, &st);
    for (unsigned i = 1; i < DROP_REASON_COUNT; i++) {
        if (st.total.drops[i]) {
            fprintf(stderr, "  drops %s: %" PRIu64 "\n", drop_reason_name((enum drop_reason)i),
                    st.total.drops[i]);
        }
    }
}

/* ---- Setup ---------------------------------------------------------------------- */

/* One frame through a port or from a peer, outputs discarded (teaching the switch). */
static void teach(struct bench *b, const uint8_t *frame, size_t len, int port, int peer)
{
    struct vswitch_out out = {.tx = tx_array, .cap = OUT_CAP};
    struct pkt *p = frame_to_pkt(b->pool, frame, len);

    if (port >= 0) {
        vswitch_input_port(b->sw, (uint16_t)port, &p, 1, NOW, &out);
    } else {
        p->meta.outer_src = b->peers[peer];
        vswitch_input_vxlan(b->sw, &p, 1, NOW, &out);
    }
    release_outputs(b, &out);
}

static void build(struct bench *b)
{
    struct vswitch_config cfg;
    struct segment_config sc;
    struct port_config pc;
    uint8_t frame[128], dgram[160];
    char addr[32];
    int error = 0;

    b->pool = pkt_pool_create(POOL_SIZE, PKT_DEFAULT_DATA_ROOM);
    if (!b->pool) {
        die("pkt_pool_create", ENOMEM);
    }
    vswitch_config_default(&cfg);
    cfg.underlay_mtu = 9000;
    must(ip_addr_parse("10.0.0.1", &cfg.local_vtep4), "local VTEP");
    b->sw = vswitch_create(&cfg, b->pool, &error);
    if (!b->sw) {
        die("vswitch_create", error);
    }
    memset(&sc, 0, sizeof sc);
    sc.vni = VNI_MAIN;
    must(vswitch_segment_add(b->sw, &sc, &b->seg_main), "segment");
    sc.vni = VNI_FLOOD;
    must(vswitch_segment_add(b->sw, &sc, &b->seg_flood), "segment");
    for (unsigned i = 0; i < N_PEERS; i++) {
        snprintf(addr, sizeof addr, "10.0.1.%u", i + 1);
        must(ip_addr_parse(addr, &b->peers[i]), "peer address");
        must(vswitch_segment_peer_add(b->sw, b->seg_main, &b->peers[i], &b->peer_ids[i]), "peer");
        must(vswitch_segment_peer_add(b->sw, b->seg_flood, &b->peers[i], NULL), "peer");
    }
    for (unsigned i = 0; i < N_PORTS; i++) {
        port_config_default(&pc);
        pc.access_segment = b->seg_main;
        must(vswitch_port_add(b->sw, &pc, &b->ports[i]), "port");
    }
    port_config_default(&pc);
    pc.access_segment = b->seg_flood;
    must(vswitch_port_add(b->sw, &pc, &b->flood_port), "port");

    /* Teach: a broadcast from every local host on its port, and from every
     * remote host through its VTEP. */
    size_t len = frame_udp4(frame, "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", "192.168.0.1",
                            "192.168.255.255", 1000, 2000, 18);
    for (uint32_t h = 0; h < N_LOCAL; h++) {
        local_mac(h, frame + ETH_ADDR_LEN);
        teach(b, frame, len, b->ports[h % N_PORTS], -1);
    }
    for (uint32_t r = 0; r < N_REMOTE; r++) {
        remote_mac(r, frame + ETH_ADDR_LEN);
        size_t dlen = frame_vxlan(dgram, VXLAN_FLAG_I, VNI_MAIN, frame, len);
        teach(b, dgram, dlen, -1, (int)(r % N_PEERS));
    }
    if (total_drops(b->sw)) {
        fprintf(stderr, "bench_pipeline: drops while teaching the switch\n");
        report_drops(b->sw);
        exit(1);
    }
}

/* The frame template of a scenario and size: IPv4/UDP, MACs filled per frame. */
static void set_template(struct bench *b, enum scenario sc, uint32_t size)
{
    uint8_t inner[FRAME_MAX];
    size_t len = frame_udp4(inner, "02:00:00:00:00:02", "02:00:00:00:00:01", "192.168.0.1",
                            "192.168.0.2", 1000, 2000, size - 42);

    b->size = size;
    if (sc == SC_DECAP) {
        b->tmpl_len = frame_vxlan(b->tmpl, VXLAN_FLAG_I, VNI_MAIN, inner, len);
    } else {
        memcpy(b->tmpl, inner, len);
        b->tmpl_len = len;
    }
}

/* ---- Batches ---------------------------------------------------------------------- */

/* Fills pkts[0..n) for the next batch of a scenario (untimed). Returns the
 * port the batch arrives on (or -1 for the overlay) and sets *peer. */
static int prepare(struct bench *b, enum scenario sc, struct pkt **pkts, uint32_t n, uint32_t *peer)
{
    uint64_t batch = b->batch_no++;
    uint32_t port_index = (uint32_t)(batch % N_PORTS);
    uint32_t per_port = N_LOCAL / N_PORTS;
    uint32_t per_peer = N_REMOTE / N_PEERS;

    *peer = (uint32_t)(batch % N_PEERS);
    for (uint32_t i = 0; i < n; i++) {
        struct pkt *p = pkt_pool_get(b->pool);
        if (!p) {
            die("pool empty", ENOBUFS);
        }
        memcpy(p->data, b->tmpl, b->tmpl_len);
        p->len = (uint32_t)b->tmpl_len;
        uint8_t *eth = p->data;
        uint32_t src = port_index + N_PORTS * (uint32_t)((batch * n + i) % per_port);
        uint32_t dst;
        switch (sc) {
        case SC_L2:
            do {
                dst = (uint32_t)(xorshift(&b->rng) % N_LOCAL);
            } while (dst % N_PORTS == port_index);
            local_mac(dst, eth);
            local_mac(src, eth + ETH_ADDR_LEN);
            b->expect[i] = b->ports[dst % N_PORTS];
            break;
        case SC_ENCAP:
            dst = (uint32_t)(xorshift(&b->rng) % N_REMOTE);
            remote_mac(dst, eth);
            local_mac(src, eth + ETH_ADDR_LEN);
            b->expect[i] = VSWITCH_DEST_VTEP | b->peer_ids[dst % N_PEERS];
            break;
        case SC_DECAP:
            eth += VXLAN_HEADER_LEN;
            dst = (uint32_t)(xorshift(&b->rng) % N_LOCAL);
            local_mac(dst, eth);
            b->expect[i] = b->ports[dst % N_PORTS];
            remote_mac(*peer + N_PEERS * (uint32_t)((batch * n + i) % per_peer),
                       eth + ETH_ADDR_LEN);
            p->meta.outer_src = b->peers[*peer];
            break;
        default:
            memcpy(eth, broadcast, ETH_ADDR_LEN);
            local_mac(src, eth + ETH_ADDR_LEN);
            break;
        }
        pkts[i] = p;
    }
    switch (sc) {
    case SC_L2:
    case SC_ENCAP:
        return b->ports[port_index];
    case SC_DECAP:
        return -1;
    default:
        return b->flood_port;
    }
}

/* Checks a batch's outputs (untimed): their number, and their destinations
 * (unicast: each frame where its destination MAC lives; flood: VTEPs only). */
static void check_outputs(struct bench *b, enum scenario sc, const struct vswitch_out *out,
                          uint32_t n, int port)
{
    uint32_t want = sc == SC_FLOOD ? n * FLOOD_COPIES : n;
    bool bad = out->n != want;

    for (uint32_t i = 0; i < out->n && !bad; i++) {
        uint32_t dest = out->tx[i].dest;
        bad = sc == SC_FLOOD ? !(dest & VSWITCH_DEST_VTEP) : dest != b->expect[i];
    }
    (void)port;
    if (bad) {
        fprintf(stderr, "bench_pipeline: %s: %u inputs gave %u outputs (%u expected)\n",
                scenario_names[sc], n, out->n, want);
        report_drops(b->sw);
        exit(1);
    }
}

/* Runs `packets` frames of a scenario through the switch in batches of `batch`. */
static struct result run(struct bench *b, enum scenario sc, uint32_t batch, uint64_t packets,
                         bool timed)
{
    struct pkt *pkts[BATCH_MAX];
    struct vswitch_out out = {.tx = tx_array, .cap = OUT_CAP};
    struct result r = {0};
    uint32_t peer;

    while (r.packets < packets) {
        uint32_t n = packets - r.packets < batch ? (uint32_t)(packets - r.packets) : batch;
        int port = prepare(b, sc, pkts, n, &peer);
        double c0 = timed ? read_cycles(b->cycles_fd) : 0;
        double t0 = timed ? now_ns() : 0;
        if (timed) {
            BENCH_COLLECT_TOGGLE();
        }
        if (port >= 0) {
            vswitch_input_port(b->sw, (uint16_t)port, pkts, n, NOW, &out);
        } else {
            vswitch_input_vxlan(b->sw, pkts, n, NOW, &out);
        }
        if (timed) {
            BENCH_COLLECT_TOGGLE();
            r.ns += now_ns() - t0 - b->timer_overhead_ns;
            r.cycles += read_cycles(b->cycles_fd) - c0 - b->cycles_overhead;
        }
        check_outputs(b, sc, &out, n, port);
        r.packets += n;
        r.outputs += out.n;
        release_outputs(b, &out);
    }
    return r;
}

/* The cost of the measurement around each batch (clock_gettime() pair, cycle
 * counter reads) with nothing in between: the smallest of several averages,
 * so that an interruption does not inflate it. */
static void measure_overhead(struct bench *b)
{
    b->timer_overhead_ns = 1e9;
    b->cycles_overhead = 1e9;
    for (int round = 0; round < 5; round++) {
        const int n = 100000;
        double ns = 0, cycles = 0;
        for (int i = 0; i < n; i++) {
            double c0 = read_cycles(b->cycles_fd);
            double t0 = now_ns();
            ns += now_ns() - t0;
            cycles += read_cycles(b->cycles_fd) - c0;
        }
        if (ns / n < b->timer_overhead_ns) {
            b->timer_overhead_ns = ns / n;
        }
        if (cycles / n < b->cycles_overhead) {
            b->cycles_overhead = cycles / n;
        }
    }
}

/* ---- Main ------------------------------------------------------------------------- */

static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: bench_pipeline [--scenario l2|encap|decap|flood|all] [--size 64|1500|all]\n"
            "                      [--batch N (1..%d; default 32 and 256)] [--packets N]\n"
            "                      [--warmup N] [--repeat N] [--quiet]\n",
            BATCH_MAX);
    exit(status);
}

static uint64_t parse_count(const char *text, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text ? text : "", &end, 10);
    if (!text || errno || *end || v < min || v > max) {
        fprintf(stderr, "bench_pipeline: bad number \"%s\" (%" PRIu64 "..%" PRIu64 ")\n",
                text ? text : "", min, max);
        usage(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static struct bench b;
    bool want_sc[SC_COUNT] = {true, true, true, true};
    uint32_t sizes[2] = {64, 1500}, n_sizes = 2;
    uint32_t batches[2] = {32, 256}, n_batches = 2;
    uint64_t packets = DEFAULT_PKTS, warmup = DEFAULT_WARMUP;
    unsigned repeat = 3;
    bool quiet = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--scenario")) {
            i++;
            if (val && strcmp(val, "all") != 0) {
                bool found = false;
                for (int s = 0; s < SC_COUNT; s++) {
                    want_sc[s] = !strcmp(val, scenario_names[s]);
                    found |= want_sc[s];
                }
                if (!found) {
                    usage(2);
                }
            }
        } else if (!strcmp(arg, "--size")) {
            i++;
            if (!val) {
                usage(2);
            }
            if (strcmp(val, "all") != 0) {
                sizes[0] = (uint32_t)parse_count(val, 64, 1500);
                if (sizes[0] != 64 && sizes[0] != 1500) {
                    usage(2);
                }
                n_sizes = 1;
            }
        } else if (!strcmp(arg, "--batch")) {
            i++;
            batches[0] = (uint32_t)parse_count(val, 1, BATCH_MAX);
            n_batches = 1;
        } else if (!strcmp(arg, "--packets")) {
            i++;
            packets = parse_count(val, 1, UINT64_MAX / 2);
        } else if (!strcmp(arg, "--warmup")) {
            i++;
            warmup = parse_count(val, 0, UINT64_MAX / 2);
        } else if (!strcmp(arg, "--repeat")) {
            i++;
            repeat = (unsigned)parse_count(val, 1, 100);
        } else if (!strcmp(arg, "--quiet")) {
            quiet = true;
        } else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(0);
        } else {
            usage(2);
        }
    }

    b.rng = 0x9e3779b97f4a7c15ull;
    build(&b);
    b.cycles_fd = open_cycle_counter();
    measure_overhead(&b);
    if (!quiet) {
        printf("bench_pipeline: one core, in memory; %d ports with %d local MACs, %d peer VTEPs "
               "with %d remote MACs learned\n",
               N_PORTS, N_LOCAL, N_PEERS, N_REMOTE);
        printf("timed: the vswitch_input_port()/vswitch_input_vxlan() call per batch only "
               "(clock_gettime pair: %.1f ns/batch subtracted; user-mode cycle counter: %s);\n"
               "untimed: restoring input frames from templates (memcpy), returning outputs "
               "to the pool.\n%" PRIu64 " warm-up packets, then the best of %u runs "
               "(lowest ns/pkt; cycles/pkt also the lowest).\n\n",
               b.timer_overhead_ns, b.cycles_fd >= 0 ? "yes" : "not available", warmup, repeat);
        printf("%-8s %6s %6s %10s %9s %9s %9s %7s\n", "scenario", "size", "batch", "packets",
               "Mpps", "ns/pkt", "cyc/pkt", "out/in");
    }
    for (int s = 0; s < SC_COUNT; s++) {
        if (!want_sc[s]) {
            continue;
        }
        for (uint32_t zi = 0; zi < n_sizes; zi++) {
            for (uint32_t bi = 0; bi < n_batches; bi++) {
                double best_ns = 0, best_cycles = 0;
                struct result r = {0};
                set_template(&b, (enum scenario)s, sizes[zi]);
                run(&b, (enum scenario)s, batches[bi], warmup, false);
                for (unsigned k = 0; k < repeat; k++) {
                    uint64_t drops = total_drops(b.sw);
                    r = run(&b, (enum scenario)s, batches[bi], packets, true);
                    if (total_drops(b.sw) != drops) {
                        fprintf(stderr, "bench_pipeline: drops during the run\n");
                        report_drops(b.sw);
                        return 1;
                    }
                    double ns = r.ns / (double)r.packets;
                    double cycles = r.cycles / (double)r.packets;
                    if (k == 0 || ns < best_ns) {
                        best_ns = ns;
                    }
                    if (k == 0 || cycles < best_cycles) {
                        best_cycles = cycles;
                    }
                }
                if (!quiet) {
                    char cyc[32] = "-";
                    if (b.cycles_fd >= 0) {
                        snprintf(cyc, sizeof cyc, "%.1f", best_cycles);
                    }
                    printf("%-8s %6u %6u %10" PRIu64 " %9.2f %9.2f %9s %7.2f\n", scenario_names[s],
                           sizes[zi], batches[bi], r.packets, best_ns > 0 ? 1e3 / best_ns : 0,
                           best_ns, cyc, (double)r.outputs / (double)r.packets);
                    fflush(stdout);
                }
            }
        }
    }
    if (b.cycles_fd >= 0) {
        close(b.cycles_fd);
    }
    vswitch_destroy(b.sw);
    pkt_pool_destroy(b.pool);
    return 0;
}
