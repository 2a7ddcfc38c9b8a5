/*
 * agent_proto.h - the agent protocol between each host's weftd and
 * weft-controller (docs/agent-protocol.md is the specification; this is its
 * one implementation, shared by both ends).
 *
 * A session is one TCP (or TLS) stream carrying frames: a 4-byte big-endian
 * length, then that many bytes of one JSON object whose "type" names the
 * message. The agent says hello (host id, VTEP, join token, protocol versions,
 * the revision it last applied); the controller welcomes it and either resumes
 * from that revision or sends a snapshot of everything the host needs; then
 * revisioned updates flow down and reports of what the host learns flow up,
 * with heartbeats both ways.
 *
 * The peer is untrusted on both ends. The frame decoder takes arbitrary chunks
 * of the stream, holds memory in proportion to the bytes actually received,
 * never more than one message, and turns every problem (an oversize length, a
 * stream cut mid-frame, bad JSON, a wrong or unknown field, an unknown type)
 * into an error that names the field and is safe to log: the peer's bytes are
 * quoted with non-printable characters escaped, and the join token is never
 * echoed. agent_proto_session checks the order of messages (hello first,
 * snapshots whole, revisions increasing). Everything here is pure: no I/O, no
 * clock, no global state; the daemons own the sockets and timers.
 *
 * Memory: agent_msg_decode() allocates a message's op array and the address
 * lists of segment ops; agent_msg_free() releases them. A message a caller
 * builds for agent_msg_encode() is only read, so it may point anywhere.
 */
#ifndef WEFT_PROTO_AGENT_PROTO_H
#define WEFT_PROTO_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ether.h"
#include "lib/ip_addr.h"

/* ---- Limits (docs/agent-protocol.md, "Limits") ----------------------------- */

#define AGENT_PROTO_VERSION    1 /* the highest protocol version this code speaks */
#define AGENT_PROTO_HEADER_LEN 4
/* Largest JSON body either end must accept; a larger announced length closes the
 * session before any of its bytes are read. */
#define AGENT_PROTO_MAX_MSG (4u << 20)
/* Most JSON values in one body, counted before parsing, so that a message of tiny
 * values (`[1,1,1,...]`) cannot make the parser allocate ~50 bytes per input byte. */
#define AGENT_PROTO_MAX_VALUES (1u << 19)
#define AGENT_PROTO_MAX_OPS    8192u /* ops in one snapshot part, update or report */
/* Proxies and replicas of one segment together (each address appears once). */
#define AGENT_PROTO_MAX_REPLICATION 1024u
#define AGENT_PROTO_MAX_BINDINGS    8u /* = PORT_MAX_BINDINGS of the switch */
/* Revisions stay exact in every JSON implementation (IEEE doubles). */
#define AGENT_PROTO_MAX_REVISION ((UINT64_C(1) << 53) - 1)
#define AGENT_PROTO_VNI_MAX      0xffffffu
#define AGENT_PROTO_VLAN_MAX     4094u
#define AGENT_PROTO_HOST_MAX     63u /* host id: [A-Za-z0-9_.-] */
#define AGENT_PROTO_PORT_MAX     31u /* port name: [A-Za-z0-9_.-], as weftd's */
#define AGENT_PROTO_TOKEN_MIN    16u /* join token: visible ASCII */
#define AGENT_PROTO_TOKEN_MAX    256u
#define AGENT_PROTO_EPOCH_MAX    64u  /* controller state identity: [A-Za-z0-9_.:-] */
#define AGENT_PROTO_SOFTWARE_MAX 64u  /* free text, e.g. "weftd 0.1.0" */
#define AGENT_PROTO_TEXT_MAX     255u /* error messages, port-down reasons */
#define AGENT_PROTO_MTU_MIN      68u
#define AGENT_PROTO_MTU_MAX      65535u

/* Timers (milliseconds). The controller picks the session's values in welcome. */
#define AGENT_PROTO_HELLO_TIMEOUT_MS 10000u /* connect to welcome, either side */
#define AGENT_PROTO_HEARTBEAT_MS     5000u  /* default: send when idle this long */
#define AGENT_PROTO_DEAD_MS          15000u /* default: peer silent this long is dead */
#define AGENT_PROTO_HEARTBEAT_MIN_MS 100u
#define AGENT_PROTO_HEARTBEAT_MAX_MS 60000u
#define AGENT_PROTO_DEAD_MAX_MS      600000u /* and at least twice heartbeat_ms */

/* ---- Errors ---------------------------------------------------------------- */

enum agent_proto_err_kind {
    AGENT_PROTO_ERR_NONE,
    AGENT_PROTO_ERR_OVERSIZE,     /* EMSGSIZE: length over the limit (decode or encode) */
    AGENT_PROTO_ERR_TRUNCATED,    /* EPIPE: the stream ended inside a frame */
    AGENT_PROTO_ERR_JSON,         /* EBADMSG: empty, not JSON, not an object, too many values */
    AGENT_PROTO_ERR_FIELD,        /* EINVAL: a field missing, unknown, of the wrong type or value */
    AGENT_PROTO_ERR_UNKNOWN_TYPE, /* ENOMSG: "type" names no message of this version */
    AGENT_PROTO_ERR_ORDER,        /* EPROTO: a valid message at the wrong time (session) */
    AGENT_PROTO_ERR_NOMEM,        /* ENOMEM */
};

#define AGENT_PROTO_FIELD_LEN   64
#define AGENT_PROTO_ERRTEXT_LEN 256

/* Why a call failed, for the log and for the error message sent before closing.
 * text starts with the field's path ("ops[3].mac: ...") when there is one. */
struct agent_proto_error {
    enum agent_proto_err_kind kind;
    char field[AGENT_PROTO_FIELD_LEN]; /* "" or e.g. "ops[3].bindings[1].ip" */
    char text[AGENT_PROTO_ERRTEXT_LEN];
};

/* Codes of the error message (what a peer is told before the session closes). */
enum agent_error_code {
    AGENT_ERR_AUTH,      /* "auth": unknown host or bad join token */
    AGENT_ERR_VERSION,   /* "version": no protocol version in common */
    AGENT_ERR_MALFORMED, /* "malformed": a message failed to decode */
    AGENT_ERR_TOO_LARGE, /* "too_large": a frame over the size limit */
    AGENT_ERR_PROTOCOL,  /* "protocol": a message out of order */
    AGENT_ERR_TIMEOUT,   /* "timeout": no hello/welcome in time, or the peer went silent */
    AGENT_ERR_REPLACED,  /* "replaced": a newer session of the same host took over */
    AGENT_ERR_SHUTDOWN,  /* "shutdown": the sender is stopping */
    AGENT_ERR_INTERNAL,  /* "internal": the sender failed (memory, store) */
    AGENT_ERR_CODE_COUNT
};

/* The errno a failed call returns with this kind (0 for AGENT_PROTO_ERR_NONE):
 * the one named beside each kind above. */
int agent_proto_err_errno(enum agent_proto_err_kind kind);

/* The error code to send for a local decode or order error. */
enum agent_error_code agent_proto_error_code(const struct agent_proto_error *err);

/* ---- Messages -------------------------------------------------------------- */

enum agent_msg_type {
    AGENT_MSG_HELLO,     /* agent -> controller, first */
    AGENT_MSG_WELCOME,   /* controller -> agent, first */
    AGENT_MSG_SNAPSHOT,  /* controller -> agent: the host's whole state, in parts */
    AGENT_MSG_UPDATE,    /* controller -> agent: changes at one revision */
    AGENT_MSG_REPORT,    /* agent -> controller: what the host learned (full or changes) */
    AGENT_MSG_HEARTBEAT, /* both ways */
    AGENT_MSG_ERROR,     /* both ways, last: the sender closes after it */
    AGENT_MSG_TYPE_COUNT
};

enum agent_op_type {
    /* controller -> agent (snapshot: the _set/_add ones; update: all ten) */
    AGENT_OP_SEGMENT_SET, /* segment: create or change its parameters (not its tables) */
    AGENT_OP_SEGMENT_DEL, /* entry.vni: the segment and all of its tables go */
    AGENT_OP_VTEP_ADD,    /* entry.vni, entry.vtep: a remote VTEP of the segment */
    AGENT_OP_VTEP_DEL,    /* entry.vni, entry.vtep (its MACs go with it) */
    AGENT_OP_MAC_SET,     /* entry.vni, entry.mac, entry.vtep: the MAC is behind that VTEP */
    AGENT_OP_MAC_DEL,     /* entry.vni, entry.mac */
    AGENT_OP_IP_SET,      /* entry.vni, entry.ip, entry.mac: ARP suppression table */
    AGENT_OP_IP_DEL,      /* entry.vni, entry.ip */
    AGENT_OP_PORT_SET,    /* port: a logical port bound to this host, created or replaced */
    AGENT_OP_PORT_DEL,    /* entry.port */
    /* agent -> controller (full report: the _learned ones and port_state) */
    AGENT_OP_MAC_LEARNED, /* entry.vni, entry.mac, entry.port: learned on a local port */
    AGENT_OP_MAC_GONE,    /* entry.vni, entry.mac: aged out or moved off this host */
    AGENT_OP_IP_LEARNED,  /* entry.vni, entry.ip, entry.mac: from ARP on a local port */
    AGENT_OP_IP_GONE,     /* entry.vni, entry.ip */
    AGENT_OP_PORT_STATE,  /* port_state: a bound port's device is up or down, and why */
    AGENT_OP_TYPE_COUNT
};

enum agent_bum {
    AGENT_BUM_HEAD_END,  /* "head-end": a copy to every VTEP of the segment */
    AGENT_BUM_PROXY,     /* "proxy": copies to proxies (marked) and replicas (plain) */
    AGENT_BUM_MULTICAST, /* "multicast": one copy to the group */
};

enum agent_port_mode {
    AGENT_PORT_ACCESS, /* "access" */
    AGENT_PORT_TRUNK,  /* "trunk" */
};

struct agent_segment {
    uint32_t vni;  /* 1 .. AGENT_PROTO_VNI_MAX */
    uint16_t vlan; /* local VLAN id on trunk ports, 0 = none */
    enum agent_bum bum;
    struct ip_addr group;  /* AGENT_BUM_MULTICAST: a multicast address; otherwise ignored */
    bool arp_suppression;  /* answer ARP from the IP -> MAC table at the first host */
    bool allow_inner_vlan; /* accept decapsulated frames carrying a VLAN tag */
    /* AGENT_BUM_PROXY only (otherwise ignored): one proxy VTEP per remote underlay
     * subnet, and the VTEPs of this host's own subnet; unicast, each listed once
     * in the two lists together, at most AGENT_PROTO_MAX_REPLICATION. */
    uint32_t n_proxies, n_replicas;
    struct ip_addr *proxies, *replicas;
};

struct agent_binding {
    struct eth_addr mac; /* unicast */
    struct ip_addr ip;   /* zero: any address from this MAC */
};

struct agent_port {
    char name[AGENT_PROTO_PORT_MAX + 1];
    enum agent_port_mode mode;
    /* access: segment (a VNI); trunk: vlans, native_vlan, tpid. The other mode's
     * fields are ignored. */
    uint32_t segment;
    uint8_t vlans[512];   /* bitmap of allowed VLANs 1..4094, at least one */
    uint16_t native_vlan; /* 0 (untagged frames dropped) or an allowed VLAN */
    uint16_t tpid;        /* 0x8100 (default) or 0x88a8 */
    bool admin_up;        /* default true */
    uint32_t mtu;         /* AGENT_PROTO_MTU_MIN..MAX, default 1500 */
    bool learning;        /* default true */
    uint32_t mac_limit;   /* 0 = no limit */
    bool promiscuous;
    bool port_security;  /* only bindings may send */
    uint32_t n_bindings; /* <= AGENT_PROTO_MAX_BINDINGS */
    struct agent_binding bindings[AGENT_PROTO_MAX_BINDINGS];
};

struct agent_port_state {
    char port[AGENT_PROTO_PORT_MAX + 1];
    bool up;
    char reason[AGENT_PROTO_TEXT_MAX + 1]; /* "" or why it is down */
};

/* Fields of the simple ops; each op uses those its enum comment lists and ignores the
 * rest (decode leaves them zero). */
struct agent_entry {
    uint32_t vni;
    struct eth_addr mac;
    struct ip_addr vtep;
    struct ip_addr ip;
    char port[AGENT_PROTO_PORT_MAX + 1];
};

struct agent_op {
    enum agent_op_type type;
    union {
        struct agent_segment segment;       /* AGENT_OP_SEGMENT_SET */
        struct agent_port port;             /* AGENT_OP_PORT_SET */
        struct agent_port_state port_state; /* AGENT_OP_PORT_STATE */
        struct agent_entry entry;           /* the others */
    };
};

struct agent_hello {
    uint32_t version;     /* highest protocol version the agent speaks, >= 1 */
    uint32_t min_version; /* lowest, 1 .. version */
    char host[AGENT_PROTO_HOST_MAX + 1];
    struct ip_addr vtep;     /* the host's VTEP (underlay) address, unicast */
    uint8_t vtep_prefix_len; /* of its underlay subnet: 1-32 (IPv4), 1-128 (IPv6) */
    char token[AGENT_PROTO_TOKEN_MAX + 1];
    uint64_t revision;                           /* last applied, 0 = none (then epoch "") */
    char epoch[AGENT_PROTO_EPOCH_MAX + 1];       /* of that revision (from the last welcome) */
    char software[AGENT_PROTO_SOFTWARE_MAX + 1]; /* optional, "" = absent */
};

struct agent_welcome {
    uint32_t version; /* the session's version: in the hello's range, <= the controller's */
    char epoch[AGENT_PROTO_EPOCH_MAX + 1];
    bool resumed;      /* true: updates after revision follow; false: a snapshot follows */
    uint64_t revision; /* resumed: the hello's revision; otherwise 0 */
    uint32_t heartbeat_ms, dead_ms;
};

/* snapshot: revision, more, ops; update: revision, ops (at least one);
 * report: full, more (only with full), ops (at least one unless full).
 * Fields a type does not use are ignored (not encoded, not compared). */
struct agent_batch {
    uint64_t revision;
    bool full;
    bool more; /* further parts of this snapshot or full report follow */
    uint32_t n_ops;
    struct agent_op *ops;
};

struct agent_heartbeat {
    /* controller: the host has everything up to this revision (>= the last one sent);
     * agent: the revision it has applied in this session (0 before any). */
    uint64_t revision;
};

struct agent_error_msg {
    enum agent_error_code code;
    char message[AGENT_PROTO_TEXT_MAX + 1];
};

struct agent_msg {
    enum agent_msg_type type;
    union {
        struct agent_hello hello;
        struct agent_welcome welcome;
        struct agent_batch batch; /* snapshot, update, report */
        struct agent_heartbeat heartbeat;
        struct agent_error_msg error;
    };
};

/* Wire names: "hello", "mac_set", "head-end", "too_large"...; "?" when out of range. */
const char *agent_msg_type_name(enum agent_msg_type type);
const char *agent_op_type_name(enum agent_op_type type);
const char *agent_bum_name(enum agent_bum bum);
const char *agent_error_code_name(enum agent_error_code code);

/* Zeroes *m and sets its type. */
void agent_msg_init(struct agent_msg *m, enum agent_msg_type type);
/* Sets a port to the defaults: access, up, MTU 1500, learning, everything else 0. */
void agent_port_default(struct agent_port *port);
/* Frees what agent_msg_decode() allocated (ops, segment address lists) and zeroes
 * the batch; accepts NULL and messages without allocations. */
void agent_msg_free(struct agent_msg *m);

/* Checks a message against every rule of the specification that one message can
 * be checked for (ranges, syntax, which fields a type and mode use, which ops a
 * message may carry). 0, EINVAL or ENOMEM, with *err set. */
int agent_msg_check(const struct agent_msg *m, struct agent_proto_error *err);

/* Decodes one JSON body into *m (which needs no init and on failure holds nothing
 * to free). 0, EBADMSG, EINVAL, ENOMSG or ENOMEM with *err set. Unknown fields,
 * duplicate keys and trailing bytes are refused. */
int agent_msg_decode(const void *body, size_t len, struct agent_msg *m,
                     struct agent_proto_error *err);

/* Checks and encodes *m as a whole frame (header and canonical JSON: compact, fields in
 * a fixed order) in a malloc()ed buffer the caller frees. max_msg bounds the body
 * (0 = AGENT_PROTO_MAX_MSG); a larger one gives EMSGSIZE, so the caller can split a
 * snapshot or report into more parts. 0, EINVAL, EMSGSIZE or ENOMEM. */
int agent_msg_encode(const struct agent_msg *m, size_t max_msg, uint8_t **frame, size_t *frame_len,
                     struct agent_proto_error *err);

/* Whether two valid messages are the same on the wire. */
bool agent_msg_equal(const struct agent_msg *a, const struct agent_msg *b);

/* ---- Frame decoder --------------------------------------------------------- */

/* Reassembles frames from a byte stream and decodes them. Holds at most one
 * partial frame, allocated as its bytes arrive (an announced length reserves
 * nothing). After any error it stays failed: the session must close. */
struct agent_proto_decoder {
    size_t max_msg;
    uint8_t header[AGENT_PROTO_HEADER_LEN];
    uint32_t header_have;
    uint32_t body_len; /* valid once header_have == AGENT_PROTO_HEADER_LEN */
    uint32_t body_have;
    uint8_t *buf;
    size_t buf_cap;
    uint64_t frames; /* complete frames so far, for error texts */
    int error;       /* sticky: 0 or the errno of the first failure */
    struct agent_proto_error last_error;
};

/* max_msg: largest body accepted, 0 = AGENT_PROTO_MAX_MSG (smaller only for tests). */
void agent_proto_decoder_init(struct agent_proto_decoder *d, size_t max_msg);
void agent_proto_decoder_destroy(struct agent_proto_decoder *d);

/* Consumes bytes of data[0..len) until a frame completes. *consumed gets how many.
 * Returns 0 with *m holding the decoded message (free it with agent_msg_free()); the
 * caller calls again with the rest of the chunk. EAGAIN: all of the chunk consumed,
 * no frame complete yet. Otherwise an errno (EMSGSIZE, EBADMSG, EINVAL, ENOMSG,
 * ENOMEM) with *err set: close the session. */
int agent_proto_decoder_feed(struct agent_proto_decoder *d, const uint8_t *data, size_t len,
                             size_t *consumed, struct agent_msg *m, struct agent_proto_error *err);

/* The stream ended: 0 when it ended between frames, EPIPE (truncated) inside one,
 * or the sticky error. */
int agent_proto_decoder_finish(struct agent_proto_decoder *d, struct agent_proto_error *err);

/* Bytes of an incomplete frame held (header included). */
size_t agent_proto_decoder_pending(const struct agent_proto_decoder *d);

/* ---- Session order ----------------------------------------------------------- */

enum agent_proto_role {
    AGENT_PROTO_ROLE_AGENT,      /* this end is weftd */
    AGENT_PROTO_ROLE_CONTROLLER, /* this end is weft-controller */
};

/* Where each direction stands (docs/agent-protocol.md, "Session"). */
enum agent_proto_up_state {
    AGENT_UP_HELLO,       /* nothing yet: hello (or error) comes first */
    AGENT_UP_WELCOME,     /* hello sent: only error until the welcome */
    AGENT_UP_FULL_REPORT, /* welcomed: a full report must come before any delta report */
    AGENT_UP_FULL_MORE,   /* inside a multi-part full report */
    AGENT_UP_OPEN,
    AGENT_UP_CLOSED, /* after an error message */
};

enum agent_proto_down_state {
    AGENT_DOWN_WELCOME,       /* welcome (after the hello) or error comes first */
    AGENT_DOWN_SNAPSHOT,      /* not resumed: a snapshot must come next */
    AGENT_DOWN_SNAPSHOT_MORE, /* inside a multi-part snapshot */
    AGENT_DOWN_OPEN,
    AGENT_DOWN_CLOSED,
};

/* Both directions of one session, seen from one end. Every message this end sends
 * goes through agent_proto_session_send() and every one it receives through
 * agent_proto_session_recv(), so that revisions can be checked across directions. */
struct agent_proto_session {
    enum agent_proto_role role;
    enum agent_proto_up_state up;
    enum agent_proto_down_state down;
    uint32_t version;       /* from the welcome, 0 before */
    uint32_t hello_version; /* the hello's range of versions */
    uint32_t hello_min_version;
    uint64_t hello_revision; /* the revision the agent said it had */
    uint64_t snapshot_rev;   /* revision of the snapshot in progress */
    uint64_t down_revision;  /* highest revision delivered (complete) to the agent */
    uint64_t agent_revision; /* highest revision the agent said it applied */
};

void agent_proto_session_init(struct agent_proto_session *s, enum agent_proto_role role);
/* 0, or EPROTO (*err: AGENT_PROTO_ERR_ORDER) when m may not go or come now; the
 * state only moves on success. recv: send an error "protocol" and close. send: a bug
 * of this end, refuse to send. */
int agent_proto_session_send(struct agent_proto_session *s, const struct agent_msg *m,
                             struct agent_proto_error *err);
int agent_proto_session_recv(struct agent_proto_session *s, const struct agent_msg *m,
                             struct agent_proto_error *err);

#endif
