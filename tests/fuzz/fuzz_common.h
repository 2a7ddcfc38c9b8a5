/*
 * fuzz_common.h - the switch both libFuzzer harnesses drive, and the checks
 * they make after every input.
 *
 * The switch is built once per process (fuzz_switch_get()); each input starts
 * from the same state (fuzz_begin_input() forgets the learned MACs and resets
 * the clock), so every input reproduces on its own. An input is a sequence of
 * records, each one frame through the switch, so that one input can learn a
 * MAC and then send to it, move it, fill the small MAC table or hit a port's
 * MAC limit, or teach the ARP table an address and then ask for it. The clock
 * advances one second per record and entries (MAC and ARP) age out after
 * FUZZ_MAC_AGE seconds.
 *
 * A record starts with a control byte:
 *   bits 0-3  which source: a port for fuzz_port_frame, an underlay address
 *             or a port for fuzz_vxlan_datagram (each harness lists them)
 *   bit  4    the batch holds three copies of the frame instead of one
 *   bit  5    chained: a 16-bit big-endian length follows, then that many
 *             bytes of frame, then the next record (a length past the end of
 *             the input takes what is left)
 *   bits 6-7  output mode: FUZZ_MODE_*
 * Without bit 5 the rest of the input is the frame (or VXLAN payload): a
 * one-record input is the control byte followed by the frame.
 *
 * After each record the harness calls fuzz_run(), which checks and aborts with
 * a message on the first broken invariant: libFuzzer then saves the input.
 */
#ifndef WEFT_TESTS_FUZZ_COMMON_H
#define WEFT_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pkt.h"
#include "core/vswitch.h"

#define FUZZ_POOL_SIZE  64
#define FUZZ_MAC_CAP    8 /* 5 static entries: the fourth learned MAC finds it full */
#define FUZZ_MAC_AGE    5 /* seconds; the clock advances by one per record */
#define FUZZ_ARP_CAP    4 /* 1 static entry: the fourth learned address finds it full */
#define FUZZ_EVENT_CAP  8 /* small enough that a record can overflow it */
#define FUZZ_UNDERLAY   1400
#define FUZZ_OUT_CAP    64
#define FUZZ_BATCH_MAX  3
#define FUZZ_NO_PORT    4095 /* a port id that is never configured */
#define FUZZ_N_PORTS    10
#define FUZZ_N_SEGMENTS 4

#define FUZZ_CTL_COPIES  0x10
#define FUZZ_CTL_CHAINED 0x20
#define FUZZ_CTL_MODE(m) ((uint8_t)((m) << 6))

/* Output modes (bits 6-7 of the control byte). */
enum fuzz_mode {
    FUZZ_MODE_PLAIN,    /* room for every output */
    FUZZ_MODE_FLUSH,    /* two slots and a flush callback */
    FUZZ_MODE_TX_FULL,  /* two slots, no flush: the rest is DROP_TX_FULL */
    FUZZ_MODE_PRESSURE, /* all but two free buffers taken: floods hit DROP_NO_BUFFER */
};

struct fuzz_switch {
    struct pkt_pool *pool;
    struct vswitch *sw;
    uint16_t ports[FUZZ_N_PORTS]; /* port ids, in the order of fuzz_common.c */
    uint32_t segs[FUZZ_N_SEGMENTS];
    uint32_t now;
    uint32_t pool_initial;
};

/* One record of an input. */
struct fuzz_input {
    unsigned source; /* bits 0-3, not reduced */
    unsigned copies; /* 1 or FUZZ_BATCH_MAX */
    enum fuzz_mode mode;
    const uint8_t *frame;
    size_t len;
    /* Per copy of the batch: its frame and, for the overlay, its sender.
     * fuzz_next_record() sets every copy's frame to the record's and the
     * senders to NULL; a harness may vary them. */
    const uint8_t *copy_frame[FUZZ_BATCH_MAX];
    size_t copy_len[FUZZ_BATCH_MAX];
    const struct ip_addr *copy_src[FUZZ_BATCH_MAX];
};

/* The process-wide switch, built on the first call. */
struct fuzz_switch *fuzz_switch_get(void);

/* Forgets the MACs and addresses learned by the previous input, and its
 * events, and resets the clock. */
void fuzz_begin_input(struct fuzz_switch *fs);

/* Takes the next record off the input (*data, *size advance past it); false
 * when nothing is left. */
bool fuzz_next_record(const uint8_t **data, size_t *size, struct fuzz_input *in);

/* Advances the clock by one second, ages the MAC table, and runs one record
 * through vswitch_input_port() (in_port is a port id, possibly unconfigured)
 * or, with in_port == PKT_PORT_OVERLAY, through vswitch_input_vxlan() with
 * in->copy_src[] as the senders. Checks every output, frees it, and checks the
 * pool, the counters and the tables afterwards; for the overlay, also that
 * each datagram was accepted into, or dropped from, the segment its VNI and
 * sender call for (counted per segment, per VTEP and per drop reason). Drains
 * and checks the learn events. */
void fuzz_run(struct fuzz_switch *fs, const struct fuzz_input *in, uint16_t in_port);

/* frame_parse() on an exact-size heap copy (so that ASan sees any read past the
 * end), with the checks on the metadata it fills. */
void fuzz_parse_exact(const uint8_t *frame, size_t len);

#endif
