/*
 * test_offload.c - the pure parts of super-frame handling (core/offload.h):
 * virtio-net header translation, segmentation into packets and into VXLAN
 * payloads for UDP GSO (headers built, payloads by iovec), the software GRO
 * merge rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/offload.h"
#include "frames.h"
#include "lib/checksum.h"

#define PAYLOAD  8000
#define GSO_SIZE 1000
#define HDR      (14 + 20 + 20)

static uint8_t frame[FRAME_MAX];

/* A TCP/IPv4 super-frame of PAYLOAD bytes (ACK|PSH), as a guest hands it over. */
static size_t super_frame(struct offload_info *ol)
{
    size_t len = frame_tcp4(frame, "02:00:00:00:00:02", "02:00:00:00:00:01", "10.0.0.1", "10.0.0.2",
                            1000, 2000, PAYLOAD);
    frame[14 + 20 + 13] = 0x18; /* ACK | PSH */
    *ol = (struct offload_info){.gso = OFFLOAD_GSO_TCP4,
                                .needs_csum = true,
                                .gso_size = GSO_SIZE,
                                .csum_start = 34,
                                .csum_offset = 16};
    return len;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The TCP checksum of a segment is valid (pseudo-header included). */
static void assert_tcp_csum_ok(const uint8_t *f, uint32_t len)
{
    uint32_t l4_len = len - 34;
    uint8_t tail[4] = {0, 6, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
    uint32_t sum = csum_partial(f + 26, 8, 0);
    sum = csum_partial(tail, 4, sum);
    assert_int_equal(csum_fold(csum_partial(f + 34, l4_len, sum)), 0);
    assert_int_equal(csum_fold(csum_partial(f + 14, 20, 0)), 0);
}

static void test_vnet_round_trip(void **state)
{
    (void)state;
    struct offload_info in = {.gso = OFFLOAD_GSO_TCP6,
                              .needs_csum = true,
                              .ecn = true,
                              .gso_size = 1440,
                              .csum_start = 54,
                              .csum_offset = 16};
    struct offload_info out;
    struct virtio_net_hdr vh;
    uint8_t hdrs[2000] = {0};

    /* hdr_len from the frame's TCP header: 20 bytes, then 32 with options. */
    hdrs[54 + 12] = 5 << 4;
    offload_to_vnet(&in, hdrs, sizeof hdrs, &vh);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
    assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(vh.hdr_len, 74);
    hdrs[54 + 12] = 8 << 4;
    offload_to_vnet(&in, hdrs, sizeof hdrs, &vh);
    assert_int_equal(vh.hdr_len, 86);
    offload_to_vnet(&in, hdrs, 60, &vh); /* never beyond the frame */
    assert_int_equal(vh.hdr_len, 60);
    hdrs[54 + 12] = 5 << 4;
    offload_to_vnet(&in, hdrs, sizeof hdrs, &vh);
    assert_int_equal(offload_from_vnet(&vh, &out), DROP_NONE);
    assert_int_equal(out.gso, in.gso);
    assert_true(out.needs_csum && out.ecn);
    assert_int_equal(out.gso_size, in.gso_size);
    assert_int_equal(out.csum_start, in.csum_start);
    assert_int_equal(out.csum_offset, in.csum_offset);

    memset(&vh, 0, sizeof vh);
    vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    vh.gso_size = 1000;
    assert_int_equal(offload_from_vnet(&vh, &out), DROP_OFFLOAD_UNSUPPORTED);
    vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    vh.gso_size = 0;
    assert_int_equal(offload_from_vnet(&vh, &out), DROP_OFFLOAD_BAD);
    vh.gso_type = 77;
    vh.gso_size = 100;
    assert_int_equal(offload_from_vnet(&vh, &out), DROP_OFFLOAD_BAD);
    /* A complete frame: no offloads. */
    memset(&vh, 0, sizeof vh);
    assert_int_equal(offload_from_vnet(&vh, &out), DROP_NONE);
    assert_false(out.needs_csum);
    assert_int_equal(out.gso, OFFLOAD_GSO_NONE);
}

static void test_segment_iov_vxlan_payloads(void **state)
{
    (void)state;
    static uint8_t hdrs[1 << 14], flat[1 << 16];
    struct iovec iov[64];
    const uint8_t vxlan[8] = {0x08, 0, 0, 0, 0, 0x13, 0x89, 0};
    struct offload_info ol;
    size_t len = super_frame(&ol);
    uint32_t seg_size;
    enum drop_reason reason;

    uint32_t segs = offload_segment_iov(frame, (uint32_t)len, &ol, vxlan, 8, hdrs, sizeof hdrs, iov,
                                        64, &seg_size, &reason);
    assert_int_equal(reason, DROP_NONE);
    assert_int_equal(segs, PAYLOAD / GSO_SIZE);
    assert_int_equal(seg_size, 8 + HDR + GSO_SIZE);
    /* What the kernel reads: the iovecs back to back, segments seg_size apart. */
    uint32_t total = 0;
    for (uint32_t i = 0; i < 2 * segs; i++) {
        memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
        total += (uint32_t)iov[i].iov_len;
    }
    assert_int_equal(total, segs * seg_size);
    assert_ptr_equal(iov[1].iov_base, frame + HDR); /* the payload is not copied */
    uint32_t seq0 = be32(frame + 34 + 4);
    for (uint32_t i = 0; i < segs; i++) {
        const uint8_t *d = flat + i * seg_size;
        const uint8_t *f = d + 8;
        assert_memory_equal(d, vxlan, 8);
        assert_int_equal(f[16] << 8 | f[17], 20 + 20 + GSO_SIZE); /* IP total length */
        assert_int_equal((f[18] << 8 | f[19]) - (frame[18] << 8 | frame[19]), i); /* ID + i */
        assert_int_equal(be32(f + 34 + 4), seq0 + i * GSO_SIZE);
        /* PSH on the last segment only. */
        assert_int_equal(f[34 + 13], i + 1 < segs ? 0x10 : 0x18);
        assert_memory_equal(f + HDR, frame + HDR + i * GSO_SIZE, GSO_SIZE);
        assert_tcp_csum_ok(f, HDR + GSO_SIZE);
    }
    /* Too little room for the headers or the iovecs is refused, not overrun. */
    assert_int_equal(offload_segment_iov(frame, (uint32_t)len, &ol, vxlan, 8, hdrs, 100, iov, 64,
                                         &seg_size, &reason),
                     0);
    assert_int_equal(reason, DROP_NO_BUFFER);
    assert_int_equal(offload_segment_iov(frame, (uint32_t)len, &ol, vxlan, 8, hdrs, sizeof hdrs,
                                         iov, 15, &seg_size, &reason),
                     0);
    assert_int_equal(reason, DROP_NO_BUFFER);
    /* A GSO type that does not match the frame. */
    ol.gso = OFFLOAD_GSO_TCP6;
    assert_int_equal(offload_segment_iov(frame, (uint32_t)len, &ol, vxlan, 8, hdrs, sizeof hdrs,
                                         iov, 64, &seg_size, &reason),
                     0);
    assert_int_equal(reason, DROP_OFFLOAD_BAD);
}

/* Segments a super-frame, then merges the segments back: the same frame. */
static void test_gro_merges_segments_back(void **state)
{
    (void)state;
    struct pkt_pool *pool = pkt_pool_create_tiered(64, 2048, 4, 65536);
    struct pkt *segs[16], *out[16];
    bool merged[16];
    struct offload_info ol;
    size_t len = super_frame(&ol);
    enum drop_reason reason;

    uint32_t n = offload_segment(frame, (uint32_t)len, &ol, pool, segs, 16, &reason);
    assert_int_equal(n, PAYLOAD / GSO_SIZE);
    uint32_t m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 1);
    assert_true(merged[0]);
    assert_int_equal(out[0]->len, len);
    assert_memory_equal(out[0]->data + HDR, frame + HDR, PAYLOAD);
    assert_memory_equal(out[0]->data, frame, 14 + 10); /* Ethernet, IP up to the checksum */
    assert_int_equal(out[0]->data[34 + 13], 0x18);     /* PSH from the last segment */
    assert_int_equal(out[0]->meta.ol.gso, OFFLOAD_GSO_TCP4);
    assert_int_equal(out[0]->meta.ol.gso_size, GSO_SIZE);
    assert_true(out[0]->meta.ol.needs_csum);
    assert_int_equal(out[0]->meta.ol.csum_start, 34);
    /* Completing the partial checksum gives a valid frame. */
    assert_int_equal(offload_csum_complete(out[0]->data, out[0]->len, 34, 16), DROP_NONE);
    assert_tcp_csum_ok(out[0]->data, out[0]->len);
    pkt_pool_put(pool, out[0]);
    for (uint32_t i = 0; i < n; i++) {
        pkt_pool_put(pool, segs[i]);
    }
    pkt_pool_destroy(pool);
}

/* What keeps segments apart: a gap in sequence numbers, another flow, a bad
 * checksum, a PSH in the middle (it ends the run). */
static void test_gro_rules(void **state)
{
    (void)state;
    struct pkt_pool *pool = pkt_pool_create_tiered(64, 2048, 4, 65536);
    struct pkt *segs[16], *out[16];
    bool merged[16];
    struct offload_info ol;
    size_t len = super_frame(&ol);
    enum drop_reason reason;
    uint32_t n = offload_segment(frame, (uint32_t)len, &ol, pool, segs, 16, &reason);

    /* Without segment 3: 0-2 merge, 4-7 merge. */
    struct pkt *gap[7] = {segs[0], segs[1], segs[2], segs[4], segs[5], segs[6], segs[7]};
    uint32_t m = offload_gro(gap, 7, pool, out, merged);
    assert_int_equal(m, 2);
    assert_true(merged[0] && merged[1]);
    assert_int_equal(out[0]->len, HDR + 3 * GSO_SIZE);
    assert_int_equal(out[1]->len, HDR + 4 * GSO_SIZE);
    pkt_pool_put(pool, out[0]);
    pkt_pool_put(pool, out[1]);

    /* A corrupted segment stays alone, as it came. */
    segs[2]->data[HDR + 5] ^= 0xff;
    m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 3);
    assert_true(merged[0]);
    assert_false(merged[1]);
    assert_ptr_equal(out[1], segs[2]);
    assert_true(merged[2]);
    pkt_pool_put(pool, out[0]);
    pkt_pool_put(pool, out[2]);
    segs[2]->data[HDR + 5] ^= 0xff;

    /* Another destination port: another flow. */
    segs[4]->data[34 + 3] ^= 1;
    m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 3);
    assert_false(merged[1]);
    for (uint32_t i = 0; i < m; i++) {
        if (merged[i]) {
            pkt_pool_put(pool, out[i]);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        pkt_pool_put(pool, segs[i]);
    }
    assert_int_equal(pkt_pool_available(pool), 64);
    pkt_pool_destroy(pool);
}

/* Pushes a VLAN tag (tpid, vid) in front of each of segs[0..n). */
static void push_tags(struct pkt **segs, uint32_t n, uint8_t tpid_hi, uint8_t tpid_lo, uint8_t vid)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *d = pkt_push(segs[i], 4);
        assert_non_null(d);
        if (!d) {
            return; /* not reached; tells -O3 that d is a real buffer */
        }
        memmove(d, d + 4, 12);
        d[12] = tpid_hi, d[13] = tpid_lo, d[14] = 0x00, d[15] = vid;
    }
}

/* Tagged segments (a trunk port's, 802.1ad over 802.1Q too) merge as untagged
 * ones do: the super-frame keeps the tags, its csum_start counts them, and cut
 * again it gives the segments back. Another VLAN is another flow. */
static void test_gro_merges_tagged_frames(void **state)
{
    (void)state;
    struct pkt_pool *pool = pkt_pool_create_tiered(64, 2048, 4, 65536);
    struct pkt *segs[16], *out[16], *again[16];
    bool merged[16];
    struct offload_info ol;
    size_t len = super_frame(&ol);
    enum drop_reason reason;
    uint32_t n = offload_segment(frame, (uint32_t)len, &ol, pool, segs, 16, &reason);

    push_tags(segs, n, 0x81, 0x00, 102); /* 802.1Q, VLAN 102 */
    uint32_t m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 1);
    assert_true(merged[0]);
    assert_int_equal(out[0]->len, len + 4);
    assert_memory_equal(out[0]->data, segs[0]->data, 18); /* addresses and tag */
    assert_int_equal(out[0]->meta.ol.csum_start, 38);
    assert_int_equal(out[0]->meta.ol.gso_size, GSO_SIZE);
    uint32_t k =
        offload_segment(out[0]->data, out[0]->len, &out[0]->meta.ol, pool, again, 16, &reason);
    assert_int_equal(k, n);
    for (uint32_t i = 0; i < k; i++) {
        assert_int_equal(again[i]->len, segs[i]->len);
        assert_memory_equal(again[i]->data, segs[i]->data, segs[i]->len);
        pkt_pool_put(pool, again[i]);
    }
    pkt_pool_put(pool, out[0]);

    /* Segment 4 on VLAN 103: three runs. */
    segs[4]->data[15] = 103;
    m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 3);
    assert_true(merged[0] && !merged[1] && merged[2]);
    assert_ptr_equal(out[1], segs[4]);
    pkt_pool_put(pool, out[0]);
    pkt_pool_put(pool, out[2]);
    segs[4]->data[15] = 102;

    /* 802.1ad over 802.1Q: still one run, csum_start after both tags. */
    push_tags(segs, n, 0x88, 0xa8, 7);
    m = offload_gro(segs, n, pool, out, merged);
    assert_int_equal(m, 1);
    assert_true(merged[0]);
    assert_int_equal(out[0]->meta.ol.csum_start, 42);
    assert_int_equal(offload_csum_complete(out[0]->data, out[0]->len, 42, 16), DROP_NONE);
    pkt_pool_put(pool, out[0]);
    for (uint32_t i = 0; i < n; i++) {
        pkt_pool_put(pool, segs[i]);
    }
    assert_int_equal(pkt_pool_available(pool), 64);
    pkt_pool_destroy(pool);
}

/* The fused copy and sum GRO uses: the same sum as csum_partial(), the bytes
 * copied, for every length and alignment around its 32-byte rounds. */
static void test_csum_partial_copy(void **state)
{
    (void)state;
    static uint8_t src[200], dst[200];
    for (size_t i = 0; i < sizeof src; i++) {
        src[i] = (uint8_t)(i * 37 + 11);
    }
    for (size_t ofs = 0; ofs < 4; ofs++) {
        for (size_t len = 0; len + ofs <= 140; len++) {
            memset(dst, 0, sizeof dst);
            uint32_t a = csum_partial(src + ofs, len, 0x1234);
            uint32_t b = csum_partial_copy(dst, src + ofs, len, 0x1234);
            assert_int_equal(csum_fold(a), csum_fold(b));
            assert_memory_equal(dst, src + ofs, len);
            assert_int_equal(dst[len], 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vnet_round_trip),
        cmocka_unit_test(test_segment_iov_vxlan_payloads),
        cmocka_unit_test(test_gro_merges_segments_back),
        cmocka_unit_test(test_gro_rules),
        cmocka_unit_test(test_gro_merges_tagged_frames),
        cmocka_unit_test(test_csum_partial_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
