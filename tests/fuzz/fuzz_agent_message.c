/*
 * fuzz_agent_message.c - libFuzzer harness: the agent protocol's byte stream
 * (src/proto/agent_proto.h), as either daemon receives it from an untrusted peer.
 *
 * Input: one control byte, then the stream (frames: 4-byte big-endian length and
 * a JSON body). The control byte says how the stream is cut into chunks and which
 * end receives it:
 *   bits 0-2  chunking: 0 the whole input at once, 1 byte by byte, 2-7 chunks of
 *             pseudo-random sizes (1..2^n bytes) from a generator seeded by the byte
 *   bit  3    the decoder's limit is FUZZ_SMALL_MAX bytes instead of 4 MiB, so that
 *             oversize frames are reachable within libFuzzer's input sizes
 *   bit  4    the receiver is the agent (messages go through the session as the
 *             controller's), else the controller
 * For every message decoded, the harness checks, and aborts on a broken invariant:
 *   - agent_msg_check() accepts it (decode refuses all that encode would);
 *   - it encodes, decode(encode(m)) == m, and encoding that gives the same bytes;
 *   - the encoded frame, cut in two, comes back through a fresh decoder unchanged;
 *   - the session accepts it or refuses it with EPROTO, leaving its state as it was.
 * And on every error: the errno matches the kind, the text starts with the field
 * and holds no control character, the decoder stays failed, and finish() at the end
 * agrees with what is pending. Leaks are ASan's to find.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agent_proto.h"

#define FUZZ_SMALL_MAX 2048
#define MAX_MESSAGES   512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz invariant broken: %s: %s\n", what, detail ? detail : "");
    abort();
}

static void check_error(int rc, const struct agent_proto_error *err)
{
    if (rc != agent_proto_err_errno(err->kind)) {
        broken("errno does not match the error kind", err->text);
    }
    if (!memchr(err->field, '\0', sizeof err->field) ||
        !memchr(err->text, '\0', sizeof err->text)) {
        broken("error text not terminated", NULL);
    }
    if (strncmp(err->text, err->field, strlen(err->field)) != 0) {
        broken("error text does not start with its field", err->text);
    }
    for (const char *p = err->text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            broken("control character in an error text", err->field);
        }
    }
}

/* Decodes one frame, fed in two chunks cut at cut. */
static void decode_frame(const uint8_t *frame, size_t len, size_t cut, struct agent_msg *out)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    size_t used;
    int rc;

    agent_proto_decoder_init(&d, 0);
    rc = agent_proto_decoder_feed(&d, frame, cut, &used, out, &err);
    if (cut < len) {
        if (rc != EAGAIN || used != cut) {
            broken("re-decoding: a partial frame did not wait for more", err.text);
        }
        rc = agent_proto_decoder_feed(&d, frame + cut, len - cut, &used, out, &err);
        if (used != len - cut) {
            broken("re-decoding: frame not consumed whole", NULL);
        }
    }
    if (rc != 0) {
        broken("re-decoding an encoded message failed", err.text);
    }
    if (agent_proto_decoder_finish(&d, &err) != 0) {
        broken("re-decoding: bytes left after the frame", err.text);
    }
    agent_proto_decoder_destroy(&d);
}

static void check_message(const struct agent_msg *m, struct agent_proto_session *s, uint32_t salt)
{
    struct agent_proto_error err;
    uint8_t *frame, *again;
    size_t len, len2;
    struct agent_msg back;

    if (agent_msg_check(m, &err) != 0) {
        broken("a decoded message fails agent_msg_check()", err.text);
    }
    if (agent_msg_encode(m, 0, &frame, &len, &err) != 0) {
        broken("a decoded message does not encode", err.text);
    }
    decode_frame(frame, len, salt % (len + 1), &back);
    if (!agent_msg_equal(m, &back) || !agent_msg_equal(&back, m)) {
        broken("decode(encode(m)) != m", agent_msg_type_name(m->type));
    }
    if (agent_msg_encode(&back, 0, &again, &len2, &err) != 0 || len2 != len ||
        memcmp(frame, again, len) != 0) {
        broken("encoding is not canonical", agent_msg_type_name(m->type));
    }
    agent_msg_free(&back);
    free(frame);
    free(again);

    struct agent_proto_session before = *s;
    int rc = agent_proto_session_recv(s, m, &err);
    if (rc) {
        if (rc != EPROTO || err.kind != AGENT_PROTO_ERR_ORDER) {
            broken("session refused with something else than EPROTO", err.text);
        }
        check_error(rc, &err);
        if (memcmp(&before, s, sizeof before) != 0) {
            broken("a refused message changed the session", err.text);
        }
    }
}

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_proto_decoder d;
    struct agent_proto_session s;
    struct agent_proto_error err;
    unsigned messages = 0;
    int failed = 0;

    if (size < 1) {
        return 0;
    }
    uint8_t ctl = data[0];
    data++;
    size--;
    unsigned chunking = ctl & 7;
    uint32_t seed = 0x9e3779b9u ^ ((uint32_t)ctl << 8) ^ (uint32_t)size;

    agent_proto_decoder_init(&d, ctl & 8 ? FUZZ_SMALL_MAX : 0);
    /* The receiving end's session: an agent receives the controller's messages. */
    agent_proto_session_init(&s, ctl & 16 ? AGENT_PROTO_ROLE_AGENT : AGENT_PROTO_ROLE_CONTROLLER);

    size_t off = 0;
    while (off < size && !failed && messages < MAX_MESSAGES) {
        size_t chunk = size - off;
        if (chunking == 1) {
            chunk = 1;
        } else if (chunking > 1) {
            size_t cap = (size_t)1 << (chunking * 2);
            size_t pick = 1 + next_rand(&seed) % cap;
            chunk = pick < chunk ? pick : chunk;
        }
        const uint8_t *p = data + off;
        size_t left = chunk;
        off += chunk;
        while (left > 0) {
            struct agent_msg m;
            size_t used;
            int rc = agent_proto_decoder_feed(&d, p, left, &used, &m, &err);
            if (used > left) {
                broken("decoder consumed more than it was given", NULL);
            }
            p += used;
            left -= used;
            if (rc == EAGAIN) {
                if (left != 0) {
                    broken("EAGAIN with bytes left in the chunk", NULL);
                }
                break;
            }
            if (rc != 0) {
                check_error(rc, &err);
                /* The decoder stays failed: the session is closed. */
                struct agent_msg none;
                struct agent_proto_error again;
                size_t used2;
                if (agent_proto_decoder_feed(&d, p, left, &used2, &none, &again) != rc ||
                    used2 != 0) {
                    broken("a failed decoder went on", err.text);
                }
                failed = rc;
                break;
            }
            messages++;
            check_message(&m, &s, next_rand(&seed));
            agent_msg_free(&m);
            if (agent_proto_decoder_pending(&d) != 0) {
                broken("bytes pending right after a complete frame", NULL);
            }
        }
    }

    int rc = agent_proto_decoder_finish(&d, &err);
    if (failed) {
        if (rc != failed) {
            broken("finish() forgot the error", err.text);
        }
    } else if (off >= size) {
        if ((rc == 0) != (agent_proto_decoder_pending(&d) == 0)) {
            broken("finish() disagrees with what is pending", err.text);
        }
        if (rc) {
            if (rc != EPIPE) {
                broken("finish() failed with something else than EPIPE", err.text);
            }
            check_error(rc, &err);
        }
    }
    agent_proto_decoder_destroy(&d);
    return 0;
}
