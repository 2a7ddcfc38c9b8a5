/*
 * fuzz_vxlan_datagram.c - libFuzzer harness: VXLAN datagrams from the underlay.
 *
 * Input: records as fuzz_common.h describes; in the simplest input, one
 * control byte followed by a VXLAN datagram's UDP payload (VXLAN header, inner
 * frame). Bits 0-3 of the control byte pick the sender: sources 0-7 are the
 * underlay addresses below, and the payload goes through vxlan_decap() +
 * frame_parse() alone on an exact-size buffer, then through
 * vswitch_input_vxlan(); sources 8-15 are the ports P0-P7 of the fuzz switch
 * and the record is a frame for vswitch_input_port(), so that one input can
 * mix the two (a MAC learned behind a VTEP moving to a port, a reply to a
 * remote MAC learned from the overlay). Outputs, pool and tables are checked
 * after every record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vxlan.h"
#include "fuzz_common.h"

#define MAX_RECORDS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Senders: peers of some segments, a non-peer, the multicast group, our own
 * address, the zero address, and an IPv6 non-peer. */
static const char *const sources[] = {
    "192.0.2.1",   /* peer of S0 and S1 */
    "192.0.2.2",   /* peer of S0 and S2 */
    "2001:db8::1", /* peer of S0 */
    "198.51.100.7", "239.1.1.1", "192.0.2.100", "0.0.0.0", "2001:db8::99",
};
#define N_SOURCES (sizeof sources / sizeof sources[0])

static struct ip_addr source_addrs[N_SOURCES];

/* vxlan_decap() and frame_parse() on a buffer that ends exactly with the input. */
static void decap_exact(const uint8_t *payload, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    struct pkt p;
    uint32_t vni = UINT32_MAX;

    if (!buf) {
        abort();
    }
    memcpy(buf, payload, len);
    memset(&p, 0, sizeof p);
    p.head = buf;
    p.data = buf;
    p.len = (uint32_t)len;
    p.size = (uint32_t)len;
    if (vxlan_decap(&p, &vni) == DROP_NONE) {
        if (vni > VXLAN_VNI_MAX || p.data != buf + VXLAN_HEADER_LEN ||
            p.len != len - VXLAN_HEADER_LEN || p.len < 14) {
            fprintf(stderr, "fuzz invariant broken: vxlan_decap: vni %u, %u bytes left of %zu\n",
                    vni, p.len, len);
            abort();
        }
        fuzz_parse_exact(p.data, p.len);
    }
    free(buf);
}

/* A batch of three is made of different datagrams, so that the switch's
 * per-batch decapsulation cache meets changes of VNI and of sender: the
 * second copy carries another VNI (one of the fuzz switch's, or none of
 * them), the third comes from the next sender of the list. */
static void vary_batch(struct fuzz_input *in)
{
    static const uint32_t vnis[] = {100, 200, 300, 400, 999};
    static uint8_t second[PKT_DEFAULT_DATA_ROOM];

    if (in->len >= VXLAN_HEADER_LEN && in->len <= sizeof second) {
        uint32_t vni = vnis[(in->frame[6] + 1u) % (sizeof vnis / sizeof vnis[0])];
        memcpy(second, in->frame, in->len);
        second[4] = (uint8_t)(vni >> 16);
        second[5] = (uint8_t)(vni >> 8);
        second[6] = (uint8_t)vni;
        in->copy_frame[1] = second;
    }
    in->copy_src[2] = &source_addrs[(in->source + 1) % N_SOURCES];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_switch *fs = fuzz_switch_get();
    struct fuzz_input in;

    if (ip_addr_is_zero(&source_addrs[0])) {
        for (size_t i = 0; i < N_SOURCES; i++) {
            if (ip_addr_parse(sources[i], &source_addrs[i]) != 0) {
                abort();
            }
        }
    }
    fuzz_begin_input(fs);
    for (unsigned i = 0; i < MAX_RECORDS && fuzz_next_record(&data, &size, &in); i++) {
        if (in.source >= N_SOURCES) {
            fuzz_run(fs, &in, fs->ports[in.source - N_SOURCES]);
            continue;
        }
        decap_exact(in.frame, in.len);
        for (unsigned k = 0; k < FUZZ_BATCH_MAX; k++) {
            in.copy_src[k] = &source_addrs[in.source];
        }
        if (in.copies > 1) {
            vary_batch(&in);
        }
        fuzz_run(fs, &in, PKT_PORT_OVERLAY);
    }
    return 0;
}
