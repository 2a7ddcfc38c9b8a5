/*
 * test_agent_proto.c - unit tests of the agent protocol (src/proto/agent_proto.h):
 * every message and op through encode, the frame decoder and back; streams cut
 * at every byte; oversize, truncated and garbage input; each rule of the
 * specification refused with the field it names; error texts that are safe to
 * log; the session's order rules from both ends.
 *
 * JSON in this file is written with single quotes (sq()) so that it stays
 * readable in C strings.
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

#include "proto/agent_proto.h"

/* ---- helpers --------------------------------------------------------------- */

static struct ip_addr ip(const char *text)
{
    struct ip_addr a;
    assert_int_equal(ip_addr_parse(text, &a), 0);
    return a;
}

static struct eth_addr mac(const char *text)
{
    struct eth_addr m;
    assert_int_equal(eth_addr_parse(text, &m), 0);
    return m;
}

/* A heap copy of the JSON with ' turned into ", sized exactly (ASan sees overreads). */
static char *sq(const char *json, size_t *len)
{
    size_t n = strlen(json);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i++) {
        copy[i] = json[i] == '\'' ? '"' : json[i];
    }
    *len = n;
    return copy;
}

static int decode_sq(const char *json, struct agent_msg *m, struct agent_proto_error *err)
{
    size_t len;
    char *body = sq(json, &len);
    int rc = agent_msg_decode(body, len, m, err);
    free(body);
    return rc;
}

/* Decoding json must fail with kind, naming field; the text starts with the field
 * and holds no raw control character. */
static void expect_refused(const char *json, enum agent_proto_err_kind kind, const char *field)
{
    struct agent_msg m;
    struct agent_proto_error err;
    int rc = decode_sq(json, &m, &err);

    if (rc != agent_proto_err_errno(kind) || err.kind != kind || strcmp(err.field, field) != 0) {
        print_error("input %s\n  expected kind %d field '%s', got rc %d kind %d field '%s': %s\n",
                    json, kind, field, rc, err.kind, err.field, err.text);
        fail();
    }
    assert_int_equal(strncmp(err.text, field, strlen(field)), 0);
    for (const char *p = err.text; *p; p++) {
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
    agent_msg_free(&m); /* nothing to free after a failure, and that must be safe */
}

static void expect_accepted(const char *json, struct agent_msg *m)
{
    struct agent_proto_error err;
    int rc = decode_sq(json, m, &err);
    if (rc) {
        print_error("input %s\n  refused: %s\n", json, err.text);
        fail();
    }
}

/* Encodes m; returns the frame (caller frees). */
static uint8_t *encode_ok(const struct agent_msg *m, size_t *len)
{
    struct agent_proto_error err;
    uint8_t *frame;
    int rc = agent_msg_encode(m, 0, &frame, len, &err);
    if (rc) {
        print_error("encode %s: %s\n", agent_msg_type_name(m->type), err.text);
        fail();
    }
    assert_true(*len > AGENT_PROTO_HEADER_LEN);
    size_t body =
        (size_t)frame[0] << 24 | (size_t)frame[1] << 16 | (size_t)frame[2] << 8 | frame[3];
    assert_int_equal(body, *len - AGENT_PROTO_HEADER_LEN);
    return frame;
}

/* The body of m's frame as a NUL-terminated string, ' for " (to compare with sq text). */
static char *encode_text(const struct agent_msg *m)
{
    size_t len;
    uint8_t *frame = encode_ok(m, &len);
    char *text = malloc(len - AGENT_PROTO_HEADER_LEN + 1);
    assert_non_null(text);
    for (size_t i = AGENT_PROTO_HEADER_LEN; i < len; i++) {
        text[i - AGENT_PROTO_HEADER_LEN] = frame[i] == '"' ? '\'' : (char)frame[i];
    }
    text[len - AGENT_PROTO_HEADER_LEN] = '\0';
    free(frame);
    return text;
}

/* ---- the sample messages --------------------------------------------------------- */

#define N_SAMPLES 21

static struct ip_addr proxies[2], replicas[3];
static struct agent_op snapshot_ops[9], update_ops[10], full_ops[3], report_ops[5];

static void sample_segment(struct agent_op *op, uint32_t vni, enum agent_bum bum)
{
    op->type = AGENT_OP_SEGMENT_SET;
    op->segment.vni = vni;
    op->segment.bum = bum;
    if (bum == AGENT_BUM_MULTICAST) {
        op->segment.group = ip("239.1.1.1");
    }
    if (bum == AGENT_BUM_PROXY) {
        proxies[0] = ip("10.1.2.2");
        proxies[1] = ip("2001:db8::2");
        replicas[0] = ip("10.1.1.3");
        replicas[1] = ip("10.1.1.4");
        replicas[2] = ip("10.1.1.5");
        op->segment.proxies = proxies;
        op->segment.n_proxies = 2;
        op->segment.replicas = replicas;
        op->segment.n_replicas = 3;
        op->segment.vlan = 119;
        op->segment.allow_inner_vlan = true;
    }
    op->segment.arp_suppression = bum != AGENT_BUM_HEAD_END;
}

static void sample_entry(struct agent_op *op, enum agent_op_type type)
{
    op->type = type;
    op->entry.vni = 5001;
    op->entry.mac = mac("02:00:00:00:10:01");
    op->entry.vtep = ip("10.1.2.2");
    op->entry.ip = ip("172.16.10.11");
    strcpy(op->entry.port, "vm1-eth0");
}

static void sample_access_port(struct agent_op *op)
{
    op->type = AGENT_OP_PORT_SET;
    agent_port_default(&op->port);
    strcpy(op->port.name, "vm1-eth0");
    op->port.segment = 5001;
    op->port.port_security = true;
    op->port.n_bindings = 2;
    op->port.bindings[0].mac = mac("02:00:00:00:10:01");
    op->port.bindings[0].ip = ip("172.16.10.11");
    op->port.bindings[1].mac = mac("02:00:00:00:10:02"); /* any address */
    op->port.mac_limit = 16;
}

static void sample_trunk_port(struct agent_op *op)
{
    op->type = AGENT_OP_PORT_SET;
    agent_port_default(&op->port);
    strcpy(op->port.name, "svc.trunk_1");
    op->port.mode = AGENT_PORT_TRUNK;
    for (unsigned v = 100; v <= 110; v++) {
        op->port.vlans[v / 8] |= (uint8_t)(1u << (v % 8));
    }
    op->port.vlans[119 / 8] |= (uint8_t)(1u << (119 % 8));
    op->port.vlans[4094 / 8] |= (uint8_t)(1u << (4094 % 8));
    op->port.native_vlan = 119;
    op->port.tpid = 0x88a8;
    op->port.admin_up = false;
    op->port.mtu = 9000;
    op->port.learning = false;
    op->port.promiscuous = true;
}

/* Fills msgs with one of every message and every op; returns how many. */
static size_t samples(struct agent_msg *msgs)
{
    size_t n = 0;
    struct agent_msg *m;

    memset(snapshot_ops, 0, sizeof snapshot_ops);
    memset(update_ops, 0, sizeof update_ops);
    memset(full_ops, 0, sizeof full_ops);
    memset(report_ops, 0, sizeof report_ops);

    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_HELLO);
    m->hello.version = 1;
    m->hello.min_version = 1;
    strcpy(m->hello.host, "host-a.example");
    m->hello.vtep = ip("10.1.1.2");
    m->hello.vtep_prefix_len = 24;
    strcpy(m->hello.token, "K7f3-9qPz!x~2mLw");

    m = &msgs[n++]; /* resuming, IPv6 VTEP, with its software */
    agent_msg_init(m, AGENT_MSG_HELLO);
    m->hello.version = 3;
    m->hello.min_version = 1;
    strcpy(m->hello.host, "h");
    m->hello.vtep = ip("2001:db8:1::2");
    m->hello.vtep_prefix_len = 64;
    memset(m->hello.token, 'T', AGENT_PROTO_TOKEN_MAX);
    m->hello.revision = AGENT_PROTO_MAX_REVISION;
    strcpy(m->hello.epoch, "sqlite:4b1d:2024.1");
    strcpy(m->hello.software, "weftd 0.1.0 \xc3\xa9t\xc3\xa9");

    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_WELCOME);
    m->welcome.version = 1;
    strcpy(m->welcome.epoch, "sqlite:4b1d");
    m->welcome.heartbeat_ms = AGENT_PROTO_HEARTBEAT_MS;
    m->welcome.dead_ms = AGENT_PROTO_DEAD_MS;

    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_WELCOME);
    m->welcome.version = 1;
    strcpy(m->welcome.epoch, "e");
    m->welcome.resumed = true;
    m->welcome.revision = 41;
    m->welcome.heartbeat_ms = 100;
    m->welcome.dead_ms = 200;

    sample_segment(&snapshot_ops[0], 5001, AGENT_BUM_HEAD_END);
    sample_segment(&snapshot_ops[1], 5002, AGENT_BUM_PROXY);
    sample_segment(&snapshot_ops[2], AGENT_PROTO_VNI_MAX, AGENT_BUM_MULTICAST);
    sample_entry(&snapshot_ops[3], AGENT_OP_VTEP_ADD);
    sample_entry(&snapshot_ops[4], AGENT_OP_MAC_SET);
    sample_entry(&snapshot_ops[5], AGENT_OP_IP_SET);
    sample_access_port(&snapshot_ops[6]);
    sample_trunk_port(&snapshot_ops[7]);
    sample_entry(&snapshot_ops[8], AGENT_OP_VTEP_ADD);
    snapshot_ops[8].entry.vtep = ip("2001:db8::2");
    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_SNAPSHOT);
    m->batch.revision = 42;
    m->batch.more = true;
    m->batch.ops = snapshot_ops;
    m->batch.n_ops = 9;

    m = &msgs[n++]; /* an empty last part */
    agent_msg_init(m, AGENT_MSG_SNAPSHOT);
    m->batch.revision = 42;

    for (unsigned t = AGENT_OP_SEGMENT_SET; t <= AGENT_OP_PORT_DEL; t++) {
        sample_entry(&update_ops[t], t);
    }
    sample_segment(&update_ops[AGENT_OP_SEGMENT_SET], 7, AGENT_BUM_MULTICAST);
    update_ops[AGENT_OP_SEGMENT_SET].segment.group = ip("ff15::1");
    sample_access_port(&update_ops[AGENT_OP_PORT_SET]);
    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_UPDATE);
    m->batch.revision = 43;
    m->batch.ops = update_ops;
    m->batch.n_ops = 10;

    sample_entry(&full_ops[0], AGENT_OP_MAC_LEARNED);
    sample_entry(&full_ops[1], AGENT_OP_IP_LEARNED);
    full_ops[2].type = AGENT_OP_PORT_STATE;
    strcpy(full_ops[2].port_state.port, "vm1-eth0");
    full_ops[2].port_state.up = true;
    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_REPORT);
    m->batch.full = true;
    m->batch.ops = full_ops;
    m->batch.n_ops = 3;

    m = &msgs[n++]; /* an empty full report: nothing learned */
    agent_msg_init(m, AGENT_MSG_REPORT);
    m->batch.full = true;

    sample_entry(&report_ops[0], AGENT_OP_MAC_LEARNED);
    sample_entry(&report_ops[1], AGENT_OP_MAC_GONE);
    sample_entry(&report_ops[2], AGENT_OP_IP_LEARNED);
    sample_entry(&report_ops[3], AGENT_OP_IP_GONE);
    report_ops[4].type = AGENT_OP_PORT_STATE;
    strcpy(report_ops[4].port_state.port, "vm2");
    strcpy(report_ops[4].port_state.reason, "tap vm2: No such device");
    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_REPORT);
    m->batch.ops = report_ops;
    m->batch.n_ops = 5;

    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_HEARTBEAT);
    m = &msgs[n++];
    agent_msg_init(m, AGENT_MSG_HEARTBEAT);
    m->heartbeat.revision = 43;

    for (unsigned c = 0; c < AGENT_ERR_CODE_COUNT; c++) {
        m = &msgs[n++];
        agent_msg_init(m, AGENT_MSG_ERROR);
        m->error.code = (enum agent_error_code)c;
        snprintf(m->error.message, sizeof m->error.message, "code %s", agent_error_code_name(c));
    }
    assert_true(n <= N_SAMPLES);
    return n;
}

/* All samples, framed, back to back. */
static uint8_t *sample_stream(struct agent_msg *msgs, size_t *n_msgs, size_t *len)
{
    uint8_t *stream = NULL;

    *n_msgs = samples(msgs);
    *len = 0;
    for (size_t i = 0; i < *n_msgs; i++) {
        size_t flen;
        uint8_t *frame = encode_ok(&msgs[i], &flen);
        stream = realloc(stream, *len + flen);
        assert_non_null(stream);
        memcpy(stream + *len, frame, flen);
        *len += flen;
        free(frame);
    }
    return stream;
}

/* Feeds the stream in chunks ending at cuts[] (ascending, the last = len) and checks that
 * the samples come out in order. */
static void feed_and_check(const uint8_t *stream, size_t len, const size_t *cuts, size_t n_cuts,
                           const struct agent_msg *msgs, size_t n_msgs)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    size_t got = 0, start = 0;

    assert_int_equal(cuts[n_cuts - 1], len);
    agent_proto_decoder_init(&d, 0);
    for (size_t c = 0; c < n_cuts; c++) {
        const uint8_t *p = stream + start;
        size_t left = cuts[c] - start;
        while (1) {
            struct agent_msg m;
            size_t used;
            int rc = agent_proto_decoder_feed(&d, p, left, &used, &m, &err);
            assert_true(used <= left);
            p += used;
            left -= used;
            if (rc == EAGAIN) {
                assert_int_equal(left, 0);
                break;
            }
            if (rc) {
                print_error("decode: %s\n", err.text);
                fail();
            }
            assert_true(got < n_msgs);
            assert_true(agent_msg_equal(&m, &msgs[got]));
            agent_msg_free(&m);
            got++;
        }
        start = cuts[c];
    }
    assert_int_equal(got, n_msgs);
    assert_int_equal(agent_proto_decoder_finish(&d, &err), 0);
    assert_int_equal(agent_proto_decoder_pending(&d), 0);
    agent_proto_decoder_destroy(&d);
}

/* ---- round trips ----------------------------------------------------------------- */

/* The errno of each kind, as agent_proto.h documents it: the other tests
 * check every failure's rc against agent_proto_err_errno(). */
static void test_err_errno(void **state)
{
    static const int expected[][2] = {
        {AGENT_PROTO_ERR_NONE, 0},          {AGENT_PROTO_ERR_OVERSIZE, EMSGSIZE},
        {AGENT_PROTO_ERR_TRUNCATED, EPIPE}, {AGENT_PROTO_ERR_JSON, EBADMSG},
        {AGENT_PROTO_ERR_FIELD, EINVAL},    {AGENT_PROTO_ERR_UNKNOWN_TYPE, ENOMSG},
        {AGENT_PROTO_ERR_ORDER, EPROTO},    {AGENT_PROTO_ERR_NOMEM, ENOMEM},
    };

    (void)state;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal(agent_proto_err_errno((enum agent_proto_err_kind)expected[i][0]),
                         expected[i][1]);
    }
}

static void test_round_trip_every_message(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    size_t n = samples(msgs);
    bool seen_op[AGENT_OP_TYPE_COUNT] = {false};
    bool seen_msg[AGENT_MSG_TYPE_COUNT] = {false};
    (void)state;

    for (size_t i = 0; i < n; i++) {
        size_t len, len2;
        uint8_t *frame = encode_ok(&msgs[i], &len);
        struct agent_msg back;
        struct agent_proto_error err;

        assert_int_equal(agent_msg_decode(frame + 4, len - 4, &back, &err), 0);
        assert_true(agent_msg_equal(&back, &msgs[i]));
        assert_true(agent_msg_equal(&msgs[i], &back));
        /* Canonical: the decoded message encodes to the same bytes. */
        uint8_t *again = encode_ok(&back, &len2);
        assert_int_equal(len, len2);
        assert_memory_equal(frame, again, len);
        seen_msg[msgs[i].type] = true;
        if (msgs[i].type == AGENT_MSG_SNAPSHOT || msgs[i].type == AGENT_MSG_UPDATE ||
            msgs[i].type == AGENT_MSG_REPORT) {
            for (uint32_t k = 0; k < back.batch.n_ops; k++) {
                seen_op[back.batch.ops[k].type] = true;
            }
        }
        agent_msg_free(&back);
        free(frame);
        free(again);
    }
    for (unsigned t = 0; t < AGENT_MSG_TYPE_COUNT; t++) {
        assert_true(seen_msg[t]);
    }
    for (unsigned t = 0; t < AGENT_OP_TYPE_COUNT; t++) {
        assert_true(seen_op[t]);
    }
}

static void test_not_equal_when_a_field_differs(void **state)
{
    struct agent_msg a[N_SAMPLES], b[N_SAMPLES];
    (void)state;

    samples(a);
    memcpy(b, a, sizeof b);
    assert_true(agent_msg_equal(&a[0], &b[0]));
    b[0].hello.vtep_prefix_len = 25;
    assert_false(agent_msg_equal(&a[0], &b[0]));
    assert_false(agent_msg_equal(&a[0], &a[2])); /* different types */

    /* Ops are compared field by field, in order. */
    struct agent_op ops[9];
    memcpy(ops, snapshot_ops, sizeof ops);
    struct agent_msg c = a[4];
    c.batch.ops = ops;
    assert_true(agent_msg_equal(&a[4], &c));
    ops[7].port.vlans[200 / 8] |= 1u << (200 % 8);
    assert_false(agent_msg_equal(&a[4], &c));
    memcpy(ops, snapshot_ops, sizeof ops);
    struct ip_addr other[3] = {replicas[0], replicas[2], replicas[1]};
    ops[1].segment.replicas = other;
    assert_false(agent_msg_equal(&a[4], &c));

    /* Fields the mode does not use are ignored. */
    memcpy(ops, snapshot_ops, sizeof ops);
    ops[0].segment.group = ip("239.9.9.9");      /* head-end */
    ops[6].port.tpid = 0x88a8;                   /* access */
    ops[3].entry.mac = mac("02:00:00:00:99:99"); /* vtep_add */
    assert_true(agent_msg_equal(&a[4], &c));
}

/* The wire form the documentation shows. */
static void test_canonical_text(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    char *text;
    (void)state;

    samples(msgs);
    text = encode_text(&msgs[0]);
    assert_string_equal(text, "{'type':'hello','version':1,'min_version':1,'host':'host-a.example',"
                              "'vtep':'10.1.1.2','vtep_prefix_len':24,'token':'K7f3-9qPz!x~2mLw',"
                              "'revision':0}");
    free(text);

    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_UPDATE);
    m.batch.revision = 43;
    m.batch.ops = &snapshot_ops[4];
    m.batch.n_ops = 1;
    text = encode_text(&m);
    assert_string_equal(text, "{'type':'update','revision':43,'ops':[{'op':'mac_set','vni':5001,"
                              "'mac':'02:00:00:00:10:01','vtep':'10.1.2.2'}]}");
    free(text);

    m.batch.ops = &snapshot_ops[7];
    text = encode_text(&m);
    assert_string_equal(text, "{'type':'update','revision':43,'ops':[{'op':'port_set',"
                              "'name':'svc.trunk_1','mode':'trunk','vlans':'100-110,119,4094',"
                              "'native_vlan':119,'tpid':34984,'admin_up':false,'mtu':9000,"
                              "'learning':false,'mac_limit':0,'promiscuous':true,"
                              "'port_security':false,'bindings':[]}]}");
    free(text);

    m.batch.ops = &snapshot_ops[1];
    text = encode_text(&m);
    assert_string_equal(text, "{'type':'update','revision':43,'ops':[{'op':'segment_set',"
                              "'vni':5002,'vlan':119,'bum':'proxy','proxies':['10.1.2.2',"
                              "'2001:db8::2'],'replicas':['10.1.1.3','10.1.1.4','10.1.1.5'],"
                              "'arp_suppression':true,'allow_inner_vlan':true}]}");
    free(text);
}

/* Optional fields take their defaults; input order, spacing and VLAN list order are free. */
static void test_defaults_and_lenient_forms(void **state)
{
    struct agent_msg m;
    (void)state;

    expect_accepted("{'type':'hello','version':2,'host':'a','vtep':'10.0.0.1',"
                    "'vtep_prefix_len':16,'token':'0123456789abcdef'}",
                    &m);
    assert_int_equal(m.hello.min_version, 2);
    assert_int_equal(m.hello.revision, 0);
    assert_string_equal(m.hello.epoch, "");

    expect_accepted(" { 'ops' : [ { 'vni' : 9, 'op' : 'segment_set' } ] ,\n"
                    "'revision':1, 'type':'snapshot' } ",
                    &m);
    assert_int_equal(m.batch.n_ops, 1);
    assert_int_equal(m.batch.ops[0].segment.bum, AGENT_BUM_HEAD_END);
    assert_false(m.batch.ops[0].segment.arp_suppression);
    assert_false(m.batch.more);
    agent_msg_free(&m);

    expect_accepted("{'type':'update','revision':5,'ops':[{'op':'port_set','name':'p',"
                    "'mode':'trunk','vlans':'300,1-3,2'}]}",
                    &m);
    struct agent_port *p = &m.batch.ops[0].port;
    assert_int_equal(p->tpid, 0x8100);
    assert_true(p->admin_up && p->learning);
    assert_int_equal(p->mtu, 1500);
    assert_int_equal(p->vlans[0], 0x0e); /* 1, 2, 3 */
    assert_true(p->vlans[300 / 8] & (1u << (300 % 8)));
    agent_msg_free(&m);

    expect_accepted("{'type':'error','code':'shutdown'}", &m);
    assert_int_equal(m.error.code, AGENT_ERR_SHUTDOWN);
    assert_string_equal(m.error.message, "");
}

/* ---- framing ---------------------------------------------------------------------- */

static void test_split_at_every_byte(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    size_t n, len;
    uint8_t *stream = sample_stream(msgs, &n, &len);
    (void)state;

    /* One cut anywhere. */
    for (size_t k = 0; k <= len; k++) {
        size_t cuts[2] = {k, len};
        feed_and_check(stream, len, cuts, 2, msgs, n);
    }
    /* Byte by byte. */
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t k = 0; k < len; k++) {
        cuts[k] = k + 1;
    }
    feed_and_check(stream, len, cuts, len, msgs, n);
    free(cuts);
    free(stream);
}

static void test_split_twice_in_first_frames(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    size_t n, len;
    uint8_t *stream = sample_stream(msgs, &n, &len);
    (void)state;

    /* Two cuts close together anywhere in the first three frames: a header split
     * across three chunks, a chunk holding the end of one frame and the start of the
     * next header, and so on. */
    size_t first = ((size_t)stream[2] << 8 | stream[3]) + 4;
    size_t limit = first + ((size_t)stream[first + 2] << 8 | stream[first + 3]) + 4 + 40;
    static const size_t gaps[] = {0, 1, 2, 3, 5, 37};
    for (size_t a = 0; a <= limit; a++) {
        for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
            size_t cuts[3] = {a, a + gaps[g], len};
            feed_and_check(stream, len, cuts, 3, msgs, n);
        }
    }
    free(stream);
}

static void test_many_frames_in_one_chunk(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    size_t n, len;
    uint8_t *stream = sample_stream(msgs, &n, &len);
    size_t cuts[1];
    (void)state;

    cuts[0] = len;
    feed_and_check(stream, len, cuts, 1, msgs, n);
    free(stream);
}

static void test_oversize_refused_from_header(void **state)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    struct agent_msg m;
    size_t used;
    /* One byte over the limit, followed by bytes that must never be read. */
    const uint8_t big[] = {0x00, 0x40, 0x00, 0x01, '{', '}'};
    (void)state;

    agent_proto_decoder_init(&d, 0);
    assert_int_equal(agent_proto_decoder_feed(&d, big, sizeof big, &used, &m, &err), EMSGSIZE);
    assert_int_equal(err.kind, AGENT_PROTO_ERR_OVERSIZE);
    assert_int_equal(used, 4);
    assert_null(d.buf);
    assert_non_null(strstr(err.text, "4194305"));
    /* Sticky. */
    assert_int_equal(agent_proto_decoder_feed(&d, big + 4, 2, &used, &m, &err), EMSGSIZE);
    assert_int_equal(used, 0);
    assert_int_equal(agent_proto_decoder_finish(&d, &err), EMSGSIZE);
    agent_proto_decoder_destroy(&d);

    /* Exactly the limit passes the header; a smaller limit for tests. */
    const uint8_t at[] = {0x00, 0x00, 0x00, 0x10};
    const uint8_t over[] = {0x00, 0x00, 0x00, 0x11};
    agent_proto_decoder_init(&d, 16);
    assert_int_equal(agent_proto_decoder_feed(&d, at, 4, &used, &m, &err), EAGAIN);
    agent_proto_decoder_destroy(&d);
    agent_proto_decoder_init(&d, 16);
    assert_int_equal(agent_proto_decoder_feed(&d, over, 4, &used, &m, &err), EMSGSIZE);
    agent_proto_decoder_destroy(&d);

    /* The largest length a header can say. */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    agent_proto_decoder_init(&d, 0);
    assert_int_equal(agent_proto_decoder_feed(&d, huge, 4, &used, &m, &err), EMSGSIZE);
    agent_proto_decoder_destroy(&d);
}

static void test_memory_follows_bytes_received(void **state)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    struct agent_msg m;
    size_t used;
    uint8_t head[14] = {0x00, 0x40, 0x00, 0x00, '{'};
    (void)state;

    /* 4 MiB announced, 10 bytes sent: a small buffer, then a clean truncation. */
    memset(head + 5, ' ', 9);
    agent_proto_decoder_init(&d, 0);
    assert_int_equal(agent_proto_decoder_feed(&d, head, sizeof head, &used, &m, &err), EAGAIN);
    assert_int_equal(used, sizeof head);
    assert_true(d.buf_cap <= 4096);
    assert_int_equal(agent_proto_decoder_pending(&d), 14);
    assert_int_equal(agent_proto_decoder_finish(&d, &err), EPIPE);
    assert_int_equal(err.kind, AGENT_PROTO_ERR_TRUNCATED);
    assert_non_null(strstr(err.text, "10 bytes into a message of 4194304"));
    agent_proto_decoder_destroy(&d);

    /* A large frame's buffer is let go once it is decoded. */
    size_t body = 200000;
    uint8_t *frame = malloc(body + 4);
    assert_non_null(frame);
    frame[0] = 0;
    frame[1] = (uint8_t)(body >> 16);
    frame[2] = (uint8_t)(body >> 8);
    frame[3] = (uint8_t)body;
    memset(frame + 4, ' ', body);
    memcpy(frame + 4, "{\"type\":\"heartbeat\",\"revision\":7}", 33);
    agent_proto_decoder_init(&d, 0);
    assert_int_equal(agent_proto_decoder_feed(&d, frame, body + 4, &used, &m, &err), 0);
    assert_int_equal(m.heartbeat.revision, 7);
    assert_null(d.buf);
    agent_proto_decoder_destroy(&d);
    free(frame);
}

static void test_truncated_at_close(void **state)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    struct agent_msg m, msgs[N_SAMPLES];
    size_t used, len;
    (void)state;

    samples(msgs);
    uint8_t *frame = encode_ok(&msgs[10], &len);
    for (size_t cut = 0; cut <= len; cut++) {
        agent_proto_decoder_init(&d, 0);
        int rc = agent_proto_decoder_feed(&d, frame, cut, &used, &m, &err);
        assert_int_equal(rc, cut == len ? 0 : EAGAIN);
        agent_msg_free(&m);
        rc = agent_proto_decoder_finish(&d, &err);
        if (cut == 0 || cut == len) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, EPIPE);
            assert_int_equal(err.kind, AGENT_PROTO_ERR_TRUNCATED);
            assert_non_null(strstr(err.text, cut < 4 ? "frame header" : "bytes into a message"));
        }
        agent_proto_decoder_destroy(&d);
    }
    free(frame);
}

/* Body bytes behind a valid header: each must close the session with the right kind. */
static void expect_frame_refused(const char *body, size_t len, enum agent_proto_err_kind kind)
{
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    struct agent_msg m;
    size_t used;
    static const char trailer[] = "\x00\x00\x00\x0a{\"type\":1}";
    const size_t tlen = sizeof trailer - 1;
    uint8_t *frame = malloc(len + 4 + tlen);
    assert_non_null(frame);
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    memcpy(frame + 4, body, len);
    /* A valid frame behind it, which a failed decoder must not deliver. */
    memcpy(frame + 4 + len, trailer, tlen);

    agent_proto_decoder_init(&d, 0);
    int rc = agent_proto_decoder_feed(&d, frame, len + 4 + tlen, &used, &m, &err);
    if (rc != agent_proto_err_errno(kind) || err.kind != kind) {
        print_error("body of %zu bytes: rc %d kind %d: %s\n", len, rc, err.kind, err.text);
        fail();
    }
    assert_int_equal(used, len + 4);
    assert_int_equal(agent_proto_decoder_feed(&d, frame + used, tlen, &used, &m, &err), rc);
    assert_int_equal(used, 0);
    agent_proto_decoder_destroy(&d);
    free(frame);
}

static void refused_str(const char *body, enum agent_proto_err_kind kind)
{
    expect_frame_refused(body, strlen(body), kind);
}

static void test_garbage_refused(void **state)
{
    (void)state;
    static const char nul_in_string[] = "{\"type\":\"hel\0lo\"}";
    static const char escaped_nul[] = "{\"type\":\"hel\\u0000lo\"}";

    refused_str("", AGENT_PROTO_ERR_JSON);
    refused_str("not json", AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"heartbeat\",\"revision\":1", AGENT_PROTO_ERR_JSON);
    refused_str("[1,2]", AGENT_PROTO_ERR_JSON);
    refused_str("\"hello\"", AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"heartbeat\",\"revision\":1} {}", AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"heartbeat\",\"revision\":1,\"revision\":2}", AGENT_PROTO_ERR_JSON);
    expect_frame_refused(nul_in_string, sizeof nul_in_string - 1, AGENT_PROTO_ERR_JSON);
    expect_frame_refused(escaped_nul, sizeof escaped_nul - 1, AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"\xff\xfe\"}", AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\\ud800\"}",
                AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"heartbeat\",\"revision\":99999999999999999999}", AGENT_PROTO_ERR_JSON);
    refused_str("{\"type\":\"launch\"}", AGENT_PROTO_ERR_UNKNOWN_TYPE);
    refused_str("{\"revision\":1}", AGENT_PROTO_ERR_FIELD);

    /* Deep nesting: refused by the parser's depth limit, without a crash. */
    size_t deep = 100000;
    char *nest = malloc(deep);
    assert_non_null(nest);
    memset(nest, '[', deep);
    expect_frame_refused(nest, deep, AGENT_PROTO_ERR_JSON);
    free(nest);

    /* Too many values, counted before the parser allocates for them. */
    size_t n_values = AGENT_PROTO_MAX_VALUES + 1;
    char *many = malloc(2 * n_values + 2);
    assert_non_null(many);
    many[0] = '[';
    for (size_t i = 0; i < n_values; i++) {
        many[1 + 2 * i] = '1';
        many[2 + 2 * i] = ',';
    }
    many[2 * n_values] = ']';
    struct agent_msg m;
    struct agent_proto_error err;
    assert_int_equal(agent_msg_decode(many, 2 * n_values + 1, &m, &err), EBADMSG);
    assert_non_null(strstr(err.text, "JSON values"));
    free(many);
}

/* ---- each rule refused with its field ---------------------------------------------- */

#define HELLO_HEAD "{'type':'hello','version':1,'host':'a','token':'0123456789abcdef',"
#define UPD        "{'type':'update','revision':2,'ops':["
#define SNAP       "{'type':'snapshot','revision':2,'ops':["
#define FULL       "{'type':'report','full':true,'ops':["
#define REP        "{'type':'report','ops':["
#define ACCESS     "{'op':'port_set','name':'p','segment':5,"
#define TRUNK      "{'op':'port_set','name':'p','mode':'trunk',"

static const struct {
    const char *json;
    const char *field;
} field_cases[] = {
    /* hello */
    {HELLO_HEAD "'vtep':'10.0.0.1'}", "vtep_prefix_len"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':33}", "vtep_prefix_len"},
    {HELLO_HEAD "'vtep':'2001:db8::1','vtep_prefix_len':0}", "vtep_prefix_len"},
    {HELLO_HEAD "'vtep':'224.0.0.5','vtep_prefix_len':24}", "vtep"},
    {HELLO_HEAD "'vtep':'0.0.0.0','vtep_prefix_len':24}", "vtep"},
    {HELLO_HEAD "'vtep':'10.0.0.256','vtep_prefix_len':24}", "vtep"},
    {HELLO_HEAD "'vtep':10,'vtep_prefix_len':24}", "vtep"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'revision':3}", "epoch"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'epoch':'e'}", "epoch"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'revision':3,'epoch':'a b'}", "epoch"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'revision':9007199254740992,"
                "'epoch':'e'}",
     "revision"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'revision':-1}", "revision"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'min_version':2}", "min_version"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'software':'a\\nb'}", "software"},
    {HELLO_HEAD "'vtep':'10.0.0.1','vtep_prefix_len':24,'role':'admin'}", "role"},
    {"{'type':'hello','version':0,'host':'a','token':'0123456789abcdef','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "version"},
    {"{'type':'hello','version':1.0,'host':'a','token':'0123456789abcdef','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "version"},
    {"{'type':'hello','version':1,'host':'a/b','token':'0123456789abcdef','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "host"},
    {"{'type':'hello','version':1,'host':'','token':'0123456789abcdef','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "host"},
    {"{'type':'hello','version':1,'host':"
     "'a234567890123456789012345678901234567890123456789012345678901234',"
     "'token':'0123456789abcdef','vtep':'10.0.0.1','vtep_prefix_len':24}",
     "host"},
    {"{'type':'hello','version':1,'host':'a','token':'short','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "token"},
    {"{'type':'hello','version':1,'host':'a','token':'0123456789 abcdef','vtep':'10.0.0.1',"
     "'vtep_prefix_len':24}",
     "token"},
    {"{'type':'hello','version':1,'host':'a','vtep':'10.0.0.1','vtep_prefix_len':24}", "token"},
    /* welcome */
    {"{'type':'welcome','version':1,'epoch':'e','resumed':false,'revision':0,"
     "'heartbeat_ms':1000,'dead_ms':1999}",
     "dead_ms"},
    {"{'type':'welcome','version':1,'epoch':'e','resumed':false,'revision':0,"
     "'heartbeat_ms':99,'dead_ms':1000}",
     "heartbeat_ms"},
    {"{'type':'welcome','version':1,'epoch':'e','resumed':true,'revision':0,"
     "'heartbeat_ms':1000,'dead_ms':3000}",
     "revision"},
    {"{'type':'welcome','version':1,'epoch':'e','resumed':false,'revision':5,"
     "'heartbeat_ms':1000,'dead_ms':3000}",
     "revision"},
    {"{'type':'welcome','version':1,'epoch':'e','resumed':'yes','revision':0,"
     "'heartbeat_ms':1000,'dead_ms':3000}",
     "resumed"},
    {"{'type':'welcome','version':1,'resumed':false,'revision':0,"
     "'heartbeat_ms':1000,'dead_ms':3000}",
     "epoch"},
    /* batches */
    {"{'type':'update','revision':2,'ops':[]}", "ops"},
    {"{'type':'update','revision':0,'ops':[{'op':'segment_del','vni':1}]}", "revision"},
    {"{'type':'update','ops':[{'op':'segment_del','vni':1}]}", "revision"},
    {"{'type':'update','revision':2,'more':true,'ops':[{'op':'segment_del','vni':1}]}", "more"},
    {"{'type':'update','revision':2,'ops':{}}", "ops"},
    {"{'type':'snapshot','revision':2}", "ops"},
    {"{'type':'report','ops':[]}", "ops"},
    {"{'type':'report','more':true,'ops':[{'op':'mac_gone','vni':1,'mac':'02:00:00:00:00:01'}]}",
     "more"},
    {"{'type':'report','full':1,'ops':[]}", "full"},
    {"{'type':'heartbeat'}", "revision"},
    {"{'type':'heartbeat','revision':'1'}", "revision"},
    {"{'type':'error','code':'oops'}", "code"},
    {"{'type':'error','code':'auth','message':'a\\u0007b'}", "message"},
    /* ops: where they may appear */
    {SNAP "{'op':'mac_del','vni':1,'mac':'02:00:00:00:00:01'}]}", "ops[0].op"},
    {SNAP "{'op':'mac_learned','vni':1,'mac':'02:00:00:00:00:01','port':'p'}]}", "ops[0].op"},
    {FULL "{'op':'mac_gone','vni':1,'mac':'02:00:00:00:00:01'}]}", "ops[0].op"},
    {REP "{'op':'mac_set','vni':1,'mac':'02:00:00:00:00:01','vtep':'10.0.0.1'}]}", "ops[0].op"},
    {UPD "{'op':'ip_learned','vni':1,'ip':'10.0.0.9','mac':'02:00:00:00:00:01'}]}", "ops[0].op"},
    {UPD "{'op':'frobnicate'}]}", "ops[0].op"},
    {UPD "{'vni':1}]}", "ops[0].op"},
    {UPD "7]}", "ops[0]"},
    /* ops: fields */
    {UPD "{'op':'segment_del','vni':1},{'op':'segment_del','vni':0}]}", "ops[1].vni"},
    {UPD "{'op':'segment_del','vni':16777216}]}", "ops[0].vni"},
    {UPD "{'op':'segment_del','vni':'5001'}]}", "ops[0].vni"},
    {UPD "{'op':'segment_del','vni':1,'mac':'02:00:00:00:00:01'}]}", "ops[0].mac"},
    {UPD "{'op':'mac_set','vni':1,'mac':'02:00:00:00:00:1','vtep':'10.0.0.1'}]}", "ops[0].mac"},
    {UPD "{'op':'mac_set','vni':1,'mac':'02:00:00:00:00:01:','vtep':'10.0.0.1'}]}", "ops[0].mac"},
    {UPD "{'op':'mac_set','vni':1,'mac':'01:00:5e:00:00:01','vtep':'10.0.0.1'}]}", "ops[0].mac"},
    {UPD "{'op':'mac_set','vni':1,'mac':'00:00:00:00:00:00','vtep':'10.0.0.1'}]}", "ops[0].mac"},
    {UPD "{'op':'mac_set','vni':1,'mac':'02:00:00:00:00:01','vtep':'ff02::1'}]}", "ops[0].vtep"},
    {UPD "{'op':'mac_set','vni':1,'mac':'02:00:00:00:00:01'}]}", "ops[0].vtep"},
    {UPD "{'op':'ip_set','vni':1,'ip':'255.255.255.255','mac':'02:00:00:00:00:01'}]}", "ops[0].ip"},
    {UPD "{'op':'ip_set','vni':1,'ip':'10.0.0.1/24','mac':'02:00:00:00:00:01'}]}", "ops[0].ip"},
    {UPD "{'op':'vtep_add','vni':1,'vtep':'0.1.2.3'}]}", "ops[0].vtep"},
    {UPD "{'op':'port_del','port':'p'}]}", "ops[0].port"},
    {UPD "{'op':'port_del','name':'has space'}]}", "ops[0].name"},
    {REP "{'op':'mac_learned','vni':1,'mac':'02:00:00:00:00:01'}]}", "ops[0].port"},
    {REP "{'op':'port_state','port':'p'}]}", "ops[0].up"},
    {REP "{'op':'port_state','port':'p','up':false,'reason':'a\\u001bb'}]}", "ops[0].reason"},
    /* segment_set */
    {UPD "{'op':'segment_set','vni':1,'bum':'flood'}]}", "ops[0].bum"},
    {UPD "{'op':'segment_set','vni':1,'vlan':4095}]}", "ops[0].vlan"},
    {UPD "{'op':'segment_set','vni':1,'bum':'multicast'}]}", "ops[0].group"},
    {UPD "{'op':'segment_set','vni':1,'bum':'multicast','group':'10.0.0.1'}]}", "ops[0].group"},
    {UPD "{'op':'segment_set','vni':1,'group':'239.1.1.1'}]}", "ops[0].group"},
    {UPD "{'op':'segment_set','vni':1,'proxies':[]}]}", "ops[0].proxies"},
    {UPD "{'op':'segment_set','vni':1,'bum':'multicast','group':'239.1.1.1','replicas':[]}]}",
     "ops[0].replicas"},
    {UPD "{'op':'segment_set','vni':1,'bum':'proxy','proxies':['10.0.0.1','x']}]}",
     "ops[0].proxies[1]"},
    {UPD "{'op':'segment_set','vni':1,'bum':'proxy','proxies':['10.0.0.1',5]}]}",
     "ops[0].proxies[1]"},
    {UPD "{'op':'segment_set','vni':1,'bum':'proxy','replicas':['239.0.0.1']}]}",
     "ops[0].replicas[0]"},
    {UPD "{'op':'segment_set','vni':1,'bum':'proxy','proxies':['10.0.0.1'],"
         "'replicas':['10.0.0.2','10.0.0.1']}]}",
     "ops[0].replicas"},
    {UPD "{'op':'segment_set','vni':1,'bum':'proxy','proxies':'10.0.0.1'}]}", "ops[0].proxies"},
    {UPD "{'op':'segment_set','vni':1,'arp_suppression':'on'}]}", "ops[0].arp_suppression"},
    /* port_set */
    {UPD "{'op':'port_set','name':'p'}]}", "ops[0].segment"},
    {UPD "{'op':'port_set','segment':5}]}", "ops[0].name"},
    {UPD "{'op':'port_set','name':'a23456789012345678901234567890123','segment':5}]}",
     "ops[0].name"},
    {UPD ACCESS "'mode':'hybrid'}]}", "ops[0].mode"},
    {UPD ACCESS "'vlans':'1'}]}", "ops[0].vlans"},
    {UPD ACCESS "'tpid':33024}]}", "ops[0].tpid"},
    {UPD ACCESS "'native_vlan':1}]}", "ops[0].native_vlan"},
    {UPD ACCESS "'mtu':67}]}", "ops[0].mtu"},
    {UPD ACCESS "'mtu':65536}]}", "ops[0].mtu"},
    {UPD ACCESS "'mac_limit':4294967296}]}", "ops[0].mac_limit"},
    {UPD ACCESS "'bindings':[{'mac':'02:00:00:00:00:01','ip':'10.0.0.1'},{'ip':'10.0.0.2'}]}]}",
     "ops[0].bindings[1].mac"},
    {UPD ACCESS "'bindings':[{'mac':'ff:ff:ff:ff:ff:ff'}]}]}", "ops[0].bindings[0].mac"},
    {UPD ACCESS "'bindings':[{'mac':'02:00:00:00:00:01','ip':'224.1.1.1'}]}]}",
     "ops[0].bindings[0].ip"},
    {UPD ACCESS "'bindings':[{'mac':'02:00:00:00:00:01','vlan':3}]}]}", "ops[0].bindings[0].vlan"},
    {UPD ACCESS "'bindings':['02:00:00:00:00:01']}]}", "ops[0].bindings[0]"},
    {UPD ACCESS "'bindings':[{'mac':'02:00:00:00:00:01'},{'mac':'02:00:00:00:00:01'},"
                "{'mac':'02:00:00:00:00:01'},{'mac':'02:00:00:00:00:01'},"
                "{'mac':'02:00:00:00:00:01'},{'mac':'02:00:00:00:00:01'},"
                "{'mac':'02:00:00:00:00:01'},{'mac':'02:00:00:00:00:01'},"
                "{'mac':'02:00:00:00:00:01'}]}]}",
     "ops[0].bindings"},
    {UPD TRUNK "'segment':5,'vlans':'1'}]}", "ops[0].segment"},
    {UPD TRUNK "'tpid':33024}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':''}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'0'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'4095'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'5-3'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'1,'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':',1'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'1,,2'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'1-2-3'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':' 1'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'000001'}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':[1,2]}]}", "ops[0].vlans"},
    {UPD TRUNK "'vlans':'10-20','native_vlan':21}]}", "ops[0].native_vlan"},
    {UPD TRUNK "'vlans':'10-20','tpid':37120}]}", "ops[0].tpid"},
};

static void test_each_field_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof field_cases / sizeof field_cases[0]; i++) {
        expect_refused(field_cases[i].json, AGENT_PROTO_ERR_FIELD, field_cases[i].field);
    }
}

static void test_array_limits(void **state)
{
    struct agent_msg m;
    struct agent_proto_error err;
    (void)state;

    /* AGENT_PROTO_MAX_OPS ops pass, one more is refused. */
    const char *op = "{\"op\":\"segment_del\",\"vni\":1},";
    size_t op_len = strlen(op);
    for (unsigned extra = 0; extra < 2; extra++) {
        size_t n = AGENT_PROTO_MAX_OPS + extra;
        char *json = malloc(64 + n * op_len);
        assert_non_null(json);
        size_t o = (size_t)sprintf(json, "{\"type\":\"update\",\"revision\":1,\"ops\":[");
        for (size_t i = 0; i < n; i++) {
            memcpy(json + o, op, op_len);
            o += op_len;
        }
        json[o - 1] = ']';
        json[o++] = '}';
        int rc = agent_msg_decode(json, o, &m, &err);
        if (extra) {
            assert_int_equal(rc, EINVAL);
            assert_string_equal(err.field, "ops");
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(m.batch.n_ops, AGENT_PROTO_MAX_OPS);
            agent_msg_free(&m);
        }
        free(json);
    }

    /* Proxies and replicas: at most AGENT_PROTO_MAX_REPLICATION together. */
    for (unsigned extra = 0; extra < 2; extra++) {
        size_t n = AGENT_PROTO_MAX_REPLICATION + extra;
        char *json = malloc(256 + n * 20);
        assert_non_null(json);
        size_t o = (size_t)sprintf(json, "{\"type\":\"update\",\"revision\":1,\"ops\":[{\"op\":"
                                         "\"segment_set\",\"vni\":1,\"bum\":\"proxy\","
                                         "\"proxies\":[\"10.9.9.9\"],\"replicas\":[");
        for (size_t i = 1; i < n; i++) {
            o += (size_t)sprintf(json + o, "\"10.0.%zu.%zu\",", i / 250, 1 + i % 250);
        }
        o--;
        o += (size_t)sprintf(json + o, "]}]}");
        int rc = agent_msg_decode(json, o, &m, &err);
        if (extra) {
            assert_int_equal(rc, EINVAL);
            assert_string_equal(err.field, "ops[0].replicas");
        } else {
            if (rc) {
                print_error("%s\n", err.text);
            }
            assert_int_equal(rc, 0);
            assert_int_equal(m.batch.ops[0].segment.n_replicas, AGENT_PROTO_MAX_REPLICATION - 1);
            agent_msg_free(&m);
        }
        free(json);
    }
}

/* The peer's bytes never reach the text raw, and the token never appears at all. */
static void test_error_text_is_safe_to_log(void **state)
{
    struct agent_msg m;
    struct agent_proto_error err;
    (void)state;

    assert_int_equal(decode_sq(UPD "{'op':'segment_del\\n[ERROR] forged','vni':1}]}", &m, &err),
                     EINVAL);
    assert_null(strchr(err.text, '\n'));
    assert_non_null(strstr(err.text, "\\x0a"));

    assert_int_equal(decode_sq(UPD "{'op':'segment_del','vni':1,'x\\ny':2}]}", &m, &err), EINVAL);
    assert_string_equal(err.field, "ops[0].x?y");

    const char *secret = "s3cret s3cret s3cret";
    char json[256];
    snprintf(json, sizeof json,
             "{'type':'hello','version':1,'host':'a','token':'%s','vtep':'10.0.0.1',"
             "'vtep_prefix_len':24}",
             secret);
    assert_int_equal(decode_sq(json, &m, &err), EINVAL);
    assert_string_equal(err.field, "token");
    assert_null(strstr(err.text, "s3cret"));

    char longtok[400];
    memset(longtok, 'x', sizeof longtok);
    longtok[sizeof longtok - 1] = '\0';
    char bigjson[512];
    snprintf(bigjson, sizeof bigjson,
             "{'type':'hello','version':1,'host':'a','vtep':'10.0.0.1','vtep_prefix_len':24,"
             "'token':'%.300s'}",
             longtok);
    assert_int_equal(decode_sq(bigjson, &m, &err), EINVAL);
    assert_string_equal(err.field, "token");
    assert_null(strstr(err.text, "xxxx"));

    /* A long value is cut. */
    char longname[300];
    snprintf(longname, sizeof longname, UPD "{'op':'port_del','name':'%0200d'}]}", 7);
    assert_int_equal(decode_sq(longname, &m, &err), EINVAL);
    assert_true(strlen(err.text) < 120);
    assert_non_null(strstr(err.text, "..."));

    /* The wire code to send back for each kind. */
    err.kind = AGENT_PROTO_ERR_OVERSIZE;
    assert_int_equal(agent_proto_error_code(&err), AGENT_ERR_TOO_LARGE);
    err.kind = AGENT_PROTO_ERR_FIELD;
    assert_int_equal(agent_proto_error_code(&err), AGENT_ERR_MALFORMED);
    err.kind = AGENT_PROTO_ERR_ORDER;
    assert_int_equal(agent_proto_error_code(&err), AGENT_ERR_PROTOCOL);
    assert_string_equal(agent_error_code_name(AGENT_ERR_TOO_LARGE), "too_large");
    assert_string_equal(agent_error_code_name(AGENT_ERR_CODE_COUNT), "?");
    assert_string_equal(agent_op_type_name(AGENT_OP_PORT_STATE), "port_state");
    assert_string_equal(agent_bum_name(AGENT_BUM_PROXY), "proxy");
    assert_string_equal(agent_msg_type_name(AGENT_MSG_TYPE_COUNT), "?");
}

/* agent_msg_encode() runs the same checks: nothing invalid ever goes out. */
static void test_encode_refuses_invalid(void **state)
{
    struct agent_msg msgs[N_SAMPLES], m;
    struct agent_proto_error err;
    uint8_t *frame;
    size_t len;
    struct agent_op ops[9];
    (void)state;

    samples(msgs);
    m = msgs[0];
    memset(m.hello.host, 'a', sizeof m.hello.host); /* no NUL */
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_null(frame);
    assert_string_equal(err.field, "host");

    memcpy(ops, snapshot_ops, sizeof ops);
    m = msgs[4];
    m.batch.ops = ops;
    ops[5].entry.mac = mac("03:00:00:00:00:01");
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "ops[5].mac");

    memcpy(ops, snapshot_ops, sizeof ops);
    ops[1].segment.replicas[2] = ops[1].segment.proxies[1];
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "ops[1].replicas");
    sample_segment(&ops[1], 5002, AGENT_BUM_PROXY);

    memcpy(ops, snapshot_ops, sizeof ops);
    ops[7].port.native_vlan = 99;
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "ops[7].native_vlan");

    memcpy(ops, snapshot_ops, sizeof ops);
    ops[2].type = AGENT_OP_IP_DEL; /* not in a snapshot */
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "ops[2].op");

    m = msgs[9];
    m.batch.more = true; /* a delta report in parts */
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "more");

    m = msgs[12];
    m.error.code = AGENT_ERR_CODE_COUNT;
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "code");

    m = msgs[12];
    strcpy(m.error.message, "bad \xc3");
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), EINVAL);
    assert_string_equal(err.field, "message");

    /* Over the size limit: EMSGSIZE, so that the sender splits. */
    m = msgs[4];
    assert_int_equal(agent_msg_encode(&m, 200, &frame, &len, &err), EMSGSIZE);
    assert_int_equal(err.kind, AGENT_PROTO_ERR_OVERSIZE);
    assert_null(frame);

    m.type = (enum agent_msg_type)99;
    assert_int_equal(agent_msg_encode(&m, 0, &frame, &len, &err), ENOMSG);
    agent_msg_free(NULL);
}

/* ---- session order --------------------------------------------------------------- */

struct pair {
    struct agent_proto_session agent, ctl;
};

static void pair_init(struct pair *p)
{
    agent_proto_session_init(&p->agent, AGENT_PROTO_ROLE_AGENT);
    agent_proto_session_init(&p->ctl, AGENT_PROTO_ROLE_CONTROLLER);
}

/* from_agent: the agent sends, the controller receives. Both ends must agree. */
static int pass(struct pair *p, bool from_agent, const struct agent_msg *m)
{
    struct agent_proto_error e1, e2;
    struct agent_proto_session *tx = from_agent ? &p->agent : &p->ctl;
    struct agent_proto_session *rx = from_agent ? &p->ctl : &p->agent;
    struct agent_proto_session before = *rx;
    int rc_tx = agent_proto_session_send(tx, m, &e1);
    int rc_rx = agent_proto_session_recv(rx, m, &e2);
    assert_int_equal(rc_tx, rc_rx);
    if (rc_rx) {
        assert_int_equal(rc_rx, EPROTO);
        assert_int_equal(e2.kind, AGENT_PROTO_ERR_ORDER);
        assert_memory_equal(&before, rx, sizeof before);
    }
    return rc_rx;
}

static struct agent_msg hello(uint64_t revision)
{
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_HELLO);
    m.hello.version = 2;
    m.hello.min_version = 1;
    m.hello.revision = revision;
    return m;
}

static struct agent_msg welcome(bool resumed, uint64_t revision, uint32_t version)
{
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_WELCOME);
    m.welcome.version = version;
    m.welcome.resumed = resumed;
    m.welcome.revision = revision;
    return m;
}

static struct agent_msg batch(enum agent_msg_type t, uint64_t revision, bool full, bool more)
{
    struct agent_msg m;
    agent_msg_init(&m, t);
    m.batch.revision = revision;
    m.batch.full = full;
    m.batch.more = more;
    return m;
}

static struct agent_msg beat(uint64_t revision)
{
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_HEARTBEAT);
    m.heartbeat.revision = revision;
    return m;
}

static struct agent_msg error_msg(void)
{
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_ERROR);
    m.error.code = AGENT_ERR_SHUTDOWN;
    return m;
}

static void test_session_fresh(void **state)
{
    struct pair p;
    struct agent_msg m;
    (void)state;

    pair_init(&p);
    m = beat(0);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* before the hello */
    m = batch(AGENT_MSG_REPORT, 0, true, false);
    assert_int_equal(pass(&p, true, &m), EPROTO);
    m = welcome(false, 0, 1);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* welcome before the hello */
    m = hello(0);
    assert_int_equal(pass(&p, true, &m), 0);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* a second hello */
    m = beat(0);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* before the welcome */
    m = welcome(false, 0, 3);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* version outside 1-2 */
    m = welcome(true, 5, 2);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* nothing to resume */
    m = welcome(false, 0, 2);
    assert_int_equal(pass(&p, false, &m), 0);
    assert_int_equal(p.agent.version, 2);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* a second welcome */

    /* Down: the snapshot must come first, whole, at one revision. */
    m = batch(AGENT_MSG_UPDATE, 10, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = beat(10);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = batch(AGENT_MSG_SNAPSHOT, 10, false, true);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(10);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* inside the snapshot */
    m = batch(AGENT_MSG_UPDATE, 11, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = batch(AGENT_MSG_SNAPSHOT, 11, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* another revision */

    /* Up, meanwhile: heartbeats at 0 (nothing applied yet), then the full report. */
    m = beat(0);
    assert_int_equal(pass(&p, true, &m), 0);
    m = beat(10);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* not delivered yet */
    m = batch(AGENT_MSG_REPORT, 0, false, false);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* the first report is full */
    m = batch(AGENT_MSG_REPORT, 0, true, true);
    assert_int_equal(pass(&p, true, &m), 0);
    m = beat(0);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* inside the full report */
    m = batch(AGENT_MSG_REPORT, 0, false, false);
    assert_int_equal(pass(&p, true, &m), EPROTO);
    m = batch(AGENT_MSG_REPORT, 0, true, false);
    assert_int_equal(pass(&p, true, &m), 0);
    m = batch(AGENT_MSG_REPORT, 0, false, false);
    assert_int_equal(pass(&p, true, &m), 0);

    m = batch(AGENT_MSG_SNAPSHOT, 10, false, false);
    assert_int_equal(pass(&p, false, &m), 0);
    assert_int_equal(p.agent.down, AGENT_DOWN_OPEN);
    m = beat(10);
    assert_int_equal(pass(&p, true, &m), 0);
    m = beat(9);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* going back */

    /* Updates strictly increasing; heartbeats may repeat the revision. */
    m = batch(AGENT_MSG_UPDATE, 10, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = batch(AGENT_MSG_UPDATE, 15, false, false);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(15);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(14);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = beat(20);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(20);
    assert_int_equal(pass(&p, true, &m), 0);

    /* A resync snapshot, not behind what was delivered. */
    m = batch(AGENT_MSG_SNAPSHOT, 19, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = batch(AGENT_MSG_SNAPSHOT, 20, false, false);
    assert_int_equal(pass(&p, false, &m), 0);

    /* Messages of the other direction. */
    m = batch(AGENT_MSG_UPDATE, 30, false, false);
    assert_int_equal(agent_proto_session_send(&p.agent, &m, NULL), EPROTO);
    m = batch(AGENT_MSG_REPORT, 0, false, false);
    assert_int_equal(agent_proto_session_recv(&p.agent, &m, NULL), EPROTO);
    m = hello(0);
    assert_int_equal(agent_proto_session_send(&p.ctl, &m, NULL), EPROTO);

    /* An error closes its direction. */
    m = error_msg();
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(30);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = error_msg();
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = beat(20);
    assert_int_equal(pass(&p, true, &m), 0); /* the other direction still checks */
}

static void test_session_resume(void **state)
{
    struct pair p;
    struct agent_msg m;
    (void)state;

    pair_init(&p);
    m = hello(41);
    assert_int_equal(pass(&p, true, &m), 0);
    m = welcome(true, 40, 1);
    assert_int_equal(pass(&p, false, &m), EPROTO); /* not the hello's revision */
    m = welcome(true, 41, 1);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(41);
    assert_int_equal(pass(&p, true, &m), 0); /* the agent has 41 already */
    m = batch(AGENT_MSG_UPDATE, 41, false, false);
    assert_int_equal(pass(&p, false, &m), EPROTO);
    m = batch(AGENT_MSG_UPDATE, 44, false, false);
    assert_int_equal(pass(&p, false, &m), 0);
    m = batch(AGENT_MSG_REPORT, 0, true, false);
    assert_int_equal(pass(&p, true, &m), 0);

    /* Not resumed: a fresh snapshot may be behind the hello's revision (new epoch). */
    pair_init(&p);
    m = hello(41);
    assert_int_equal(pass(&p, true, &m), 0);
    m = welcome(false, 0, 1);
    assert_int_equal(pass(&p, false, &m), 0);
    m = beat(41);
    assert_int_equal(pass(&p, true, &m), EPROTO); /* this session delivered nothing */
    m = batch(AGENT_MSG_SNAPSHOT, 3, false, false);
    assert_int_equal(pass(&p, false, &m), 0);

    /* An agent may give up before the welcome. */
    pair_init(&p);
    m = error_msg();
    assert_int_equal(pass(&p, true, &m), 0);
    m = hello(0);
    assert_int_equal(pass(&p, true, &m), EPROTO);
}

/* The decoder, the checks and the session together, as a controller would run them. */
static void test_stream_through_session(void **state)
{
    struct agent_msg msgs[N_SAMPLES];
    struct agent_proto_session s;
    struct agent_proto_decoder d;
    struct agent_proto_error err;
    uint8_t *stream = NULL;
    size_t len = 0;
    (void)state;

    samples(msgs);
    const size_t order[] = {0, 7, 10, 9, 8, 12};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        size_t flen;
        uint8_t *f = encode_ok(&msgs[order[i]], &flen);
        stream = realloc(stream, len + flen);
        assert_non_null(stream);
        memcpy(stream + len, f, flen);
        len += flen;
        free(f);
    }
    agent_proto_session_init(&s, AGENT_PROTO_ROLE_CONTROLLER);
    agent_proto_decoder_init(&d, 0);
    size_t off = 0, got = 0;
    while (off < len) {
        struct agent_msg m;
        size_t used;
        int rc = agent_proto_decoder_feed(&d, stream + off, len - off, &used, &m, &err);
        off += used;
        if (rc == EAGAIN) {
            break;
        }
        assert_int_equal(rc, 0);
        if (got == 1) {
            /* The controller has answered the hello. */
            struct agent_msg w = welcome(false, 0, 1);
            assert_int_equal(agent_proto_session_send(&s, &w, &err), 0);
        }
        /* hello, full report, heartbeat at 0, delta report, full report, error. */
        rc = agent_proto_session_recv(&s, &m, &err);
        if (rc) {
            print_error("message %zu: %s\n", got, err.text);
        }
        assert_int_equal(rc, 0);
        agent_msg_free(&m);
        got++;
    }
    assert_int_equal(got, 6);
    assert_int_equal(s.up, AGENT_UP_CLOSED);
    agent_proto_decoder_destroy(&d);
    free(stream);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_errno),
        cmocka_unit_test(test_round_trip_every_message),
        cmocka_unit_test(test_not_equal_when_a_field_differs),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_defaults_and_lenient_forms),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_split_twice_in_first_frames),
        cmocka_unit_test(test_many_frames_in_one_chunk),
        cmocka_unit_test(test_oversize_refused_from_header),
        cmocka_unit_test(test_memory_follows_bytes_received),
        cmocka_unit_test(test_truncated_at_close),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_each_field_refused),
        cmocka_unit_test(test_array_limits),
        cmocka_unit_test(test_error_text_is_safe_to_log),
        cmocka_unit_test(test_encode_refuses_invalid),
        cmocka_unit_test(test_session_fresh),
        cmocka_unit_test(test_session_resume),
        cmocka_unit_test(test_stream_through_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
