/*
 * test_vswitch_workers.c - one switch, two workers on two threads at once.
 *
 * Worker 0 sends frames from port pa with sources A0..An-1 to B0..Bn-1; worker 1
 * sends from pb with sources B* to A*. Each learns what the other looks up, at
 * the same time, so every lookup races with inserts into the table it reads
 * (vswitch.h, "Workers"). What must hold under that race: a frame goes to the
 * right port or is flooded (never to a wrong port, as a torn entry would
 * send it); every MAC is learned once, at its port; and the counters, kept
 * per worker, add up to what was sent.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/vswitch.h"
#include "frames.h"

#define N_MACS   512 /* per worker */
#define ROUNDS   40  /* passes over the MACs */
#define BATCH    32
#define OUT_CAP  (BATCH * 8)
#define POOL_PKT 1024
#define NOW      1000u

struct side {
    struct vswitch *sw;
    struct vswitch_worker *worker;
    struct pkt_pool *pool;
    uint16_t in_port, right_port;     /* where its frames enter, where their destinations live */
    uint16_t pc;                      /* the third port, which only floods reach */
    char src_prefix, dst_prefix;      /* 'a' or 'b': the MACs 02:00:00:0a:hh:ll */
    uint32_t flooded, unicast, wrong; /* what became of its frames */
    uint64_t sent;
    pthread_barrier_t *after_first; /* both sides through round 0 */
};

struct world {
    struct vswitch *sw;
    struct pkt_pool *pool0;
    uint32_t segment;
    uint16_t pa, pb, pc;
};

static void mac_text(char *buf, char prefix, uint32_t i)
{
    snprintf(buf, 18, "02:00:00:0%c:%02x:%02x", prefix, (i >> 8) & 0xff, i & 0xff);
}

static void *side_run(void *arg)
{
    struct side *s = arg;
    uint8_t frame[256];
    struct vswitch_tx tx[OUT_CAP];
    struct vswitch_out out = {.tx = tx, .cap = OUT_CAP};
    char src[18], dst[18];

    for (uint32_t round = 0; round < ROUNDS; round++) {
        if (round == 1) {
            /* Round 0 is the race (each side inserting what the other looks up);
             * from here on both sides' MACs are known, whatever the scheduling. */
            pthread_barrier_wait(s->after_first);
        }
        for (uint32_t base = 0; base < N_MACS; base += BATCH) {
            struct pkt *pkts[BATCH];
            for (uint32_t k = 0; k < BATCH; k++) {
                mac_text(src, s->src_prefix, base + k);
                mac_text(dst, s->dst_prefix, base + k);
                size_t len =
                    frame_udp4(frame, dst, src, "172.16.0.1", "172.16.0.2", 1000, 2000, 18);
                pkts[k] = frame_to_pkt(s->pool, frame, len);
            }
            out.n = 0;
            vswitch_worker_input_port(s->worker, s->in_port, pkts, BATCH, NOW, &out);
            /* Outputs come in frame order: a frame to a known MAC has one, to
             * the port of its destination; a flooded one has two, the other
             * ports in port order (right_port, then pc). Anything else (the
             * ingress port, a VTEP, pc alone) is a wrong delivery. */
            for (uint32_t i = 0; i < out.n;) {
                uint32_t dest = out.tx[i].dest;
                if (dest != s->right_port) {
                    s->wrong++;
                    i++;
                } else if (i + 1 < out.n && out.tx[i + 1].dest == s->pc) {
                    s->flooded++;
                    i += 2;
                } else {
                    s->unicast++;
                    i++;
                }
            }
            for (uint32_t i = 0; i < out.n; i++) {
                pkt_pool_put(s->pool, out.tx[i].pkt);
            }
            s->sent += BATCH;
        }
    }
    return NULL;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct vswitch_config cfg;
    struct segment_config sc = {.vni = 5001, .bum = BUM_HEAD_END};
    struct port_config pc;
    int error;

    assert_non_null(w);
    w->pool0 = pkt_pool_create(POOL_PKT, PKT_DEFAULT_DATA_ROOM);
    assert_non_null(w->pool0);
    vswitch_config_default(&cfg);
    w->sw = vswitch_create(&cfg, w->pool0, &error);
    assert_non_null(w->sw);
    assert_int_equal(vswitch_segment_add(w->sw, &sc, &w->segment), 0);
    port_config_default(&pc);
    pc.access_segment = w->segment;
    assert_int_equal(vswitch_port_add(w->sw, &pc, &w->pa), 0);
    assert_int_equal(vswitch_port_add(w->sw, &pc, &w->pb), 0);
    assert_int_equal(vswitch_port_add(w->sw, &pc, &w->pc), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    vswitch_destroy(w->sw);
    pkt_pool_destroy(w->pool0);
    free(w);
    return 0;
}

static void test_worker_add_limits(void **state)
{
    struct world *w = *state;

    assert_int_equal(vswitch_worker_count(w->sw), 1);
    assert_null(vswitch_worker_add(w->sw, NULL));
    assert_non_null(vswitch_worker_get(w->sw, 0));
    assert_null(vswitch_worker_get(w->sw, 1));
    for (uint32_t i = 1; i < VSWITCH_MAX_WORKERS; i++) {
        assert_non_null(vswitch_worker_add(w->sw, w->pool0));
    }
    assert_null(vswitch_worker_add(w->sw, w->pool0));
    assert_int_equal(vswitch_worker_count(w->sw), VSWITCH_MAX_WORKERS);
}

static void test_two_workers_learn_and_forward_at_once(void **state)
{
    struct world *w = *state;
    struct pkt_pool *pool1 = pkt_pool_create(POOL_PKT, PKT_DEFAULT_DATA_ROOM);
    assert_non_null(pool1);
    struct vswitch_worker *w1 = vswitch_worker_add(w->sw, pool1);
    assert_non_null(w1);

    struct side a = {.sw = w->sw,
                     .worker = vswitch_worker_get(w->sw, 0),
                     .pool = w->pool0,
                     .in_port = w->pa,
                     .right_port = w->pb,
                     .pc = w->pc,
                     .src_prefix = 'a',
                     .dst_prefix = 'b'};
    struct side b = {.sw = w->sw,
                     .worker = w1,
                     .pool = pool1,
                     .in_port = w->pb,
                     .right_port = w->pa,
                     .pc = w->pc,
                     .src_prefix = 'b',
                     .dst_prefix = 'a'};
    pthread_t ta, tb;
    pthread_barrier_t after_first;
    assert_int_equal(pthread_barrier_init(&after_first, NULL, 2), 0);
    a.after_first = b.after_first = &after_first;
    assert_int_equal(pthread_create(&ta, NULL, side_run, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, side_run, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&after_first);

    assert_int_equal(a.wrong, 0);
    assert_int_equal(b.wrong, 0);
    /* After round 0 both sides' MACs are known: every later frame is unicast. */
    assert_true(a.unicast >= (ROUNDS - 1) * N_MACS);
    assert_true(b.unicast >= (ROUNDS - 1) * N_MACS);

    /* Every MAC learned exactly once, where it lives. */
    struct vswitch_stats st;
    vswitch_get_stats(w->sw, &st);
    assert_int_equal(st.mac_learned, 2 * N_MACS);
    assert_int_equal(st.mac_moves, 0);
    for (uint32_t i = 0; i < N_MACS; i++) {
        char text[18];
        struct eth_addr m;
        mac_text(text, 'a', i);
        assert_int_equal(eth_addr_parse(text, &m), 0);
        const struct mac_entry *e = vswitch_mac_lookup(w->sw, w->segment, &m);
        assert_non_null(e);
        assert_int_equal(e->dest, MAC_DEST_PORT(w->pa));
        mac_text(text, 'b', i);
        assert_int_equal(eth_addr_parse(text, &m), 0);
        e = vswitch_mac_lookup(w->sw, w->segment, &m);
        assert_non_null(e);
        assert_int_equal(e->dest, MAC_DEST_PORT(w->pb));
    }
    assert_int_equal(vswitch_port_mac_count(w->sw, w->pa), N_MACS);
    assert_int_equal(vswitch_port_mac_count(w->sw, w->pb), N_MACS);

    /* The counters of both workers, summed. */
    struct vswitch_counters ca, cb, cc, cs;
    assert_int_equal(vswitch_port_counters(w->sw, w->pa, &ca), 0);
    assert_int_equal(vswitch_port_counters(w->sw, w->pb, &cb), 0);
    assert_int_equal(vswitch_port_counters(w->sw, w->pc, &cc), 0);
    assert_int_equal(vswitch_segment_counters(w->sw, w->segment, &cs), 0);
    assert_int_equal(ca.rx_packets, a.sent);
    assert_int_equal(cb.rx_packets, b.sent);
    assert_int_equal(st.total.rx_packets, a.sent + b.sent);
    assert_int_equal(cs.rx_packets, a.sent + b.sent);
    /* pa gets b's unicast and flooded frames, pc every flooded frame of both. */
    assert_int_equal(ca.tx_packets, b.unicast + b.flooded);
    assert_int_equal(cb.tx_packets, a.unicast + a.flooded);
    assert_int_equal(cc.tx_packets, a.flooded + b.flooded);
    assert_int_equal(cs.tx_packets, st.total.tx_packets);
    assert_int_equal(st.total.tx_packets, a.unicast + b.unicast + 2 * (a.flooded + b.flooded));

    /* Events: one per MAC learned on a local port, none lost. */
    struct vswitch_event ev[4 * N_MACS];
    uint64_t lost = 1;
    assert_int_equal(vswitch_events_drain(w->sw, ev, 4 * N_MACS, &lost), 2 * N_MACS);
    assert_int_equal(lost, 0);

    /* Every buffer back in its own worker's pool. */
    assert_int_equal(pkt_pool_available(w->pool0), POOL_PKT);
    assert_int_equal(pkt_pool_available(pool1), POOL_PKT);
    vswitch_destroy(w->sw); /* before its worker's pool */
    w->sw = NULL;
    pkt_pool_destroy(pool1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worker_add_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_learn_and_forward_at_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
