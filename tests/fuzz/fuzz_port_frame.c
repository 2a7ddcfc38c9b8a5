/*
 * fuzz_port_frame.c - libFuzzer harness: Ethernet frames received on ports.
 *
 * Input: records as fuzz_common.h describes; in the simplest input, one
 * control byte (bits 0-3 pick the ingress port among the ten of the fuzz
 * switch plus one unconfigured id) followed by the frame. Each frame goes
 * through frame_parse() alone on an exact-size buffer, then through
 * vswitch_input_port() of the switch of fuzz_common.c, whose outputs, pool and
 * tables are checked after every record.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

#define MAX_RECORDS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_switch *fs = fuzz_switch_get();
    struct fuzz_input in;

    fuzz_begin_input(fs);
    for (unsigned i = 0; i < MAX_RECORDS && fuzz_next_record(&data, &size, &in); i++) {
        fuzz_parse_exact(in.frame, in.len);
        unsigned choice = in.source % (FUZZ_N_PORTS + 1);
        uint16_t port = choice < FUZZ_N_PORTS ? fs->ports[choice] : FUZZ_NO_PORT;
        fuzz_run(fs, &in, port);
    }
    return 0;
}
