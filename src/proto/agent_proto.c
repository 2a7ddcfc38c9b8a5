/*
 * agent_proto.c - framing, JSON encoding and decoding, checks and session
 * order of the agent protocol (agent_proto.h, docs/agent-protocol.md).
 *
 * One set of rules serves both directions: agent_msg_decode() turns JSON into
 * the typed structs, refusing what cannot be represented (wrong JSON types,
 * numbers out of range, unknown or inapplicable fields, malformed addresses),
 * then runs agent_msg_check(), the same function agent_msg_encode() runs
 * before it writes anything. So a message either end accepts is one the other
 * end could have sent, and the two never drift apart.
 *
 * Every error text is built to be logged: it names the field by its path, and
 * quotes the peer's bytes only through quote(), which escapes anything that
 * is not printable ASCII and truncates, so that a peer cannot forge log lines.
 */
#include "proto/agent_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/compiler.h"

#define QUOTE_MAX      40 /* bytes of a peer's value shown in an error */
#define QUOTE_LEN      (QUOTE_MAX * 4 + 8)
#define KEEP_BUFFER    (64u << 10) /* a frame buffer larger than this is freed after use */
#define MIN_BUFFER     4096u
#define VERSION_MAX    65535u
#define VLANS_TEXT_MAX 20480u /* "1,3,5,...": every odd VLAN fits in about 10 KB */
#define DEFAULT_MTU    1500u
#define TPID_8021Q     0x8100u
#define TPID_8021AD    0x88a8u
#define DUMP_FLAGS     (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* ---- Names ----------------------------------------------------------------- */

static const char *const msg_names[AGENT_MSG_TYPE_COUNT] = {
    [AGENT_MSG_HELLO] = "hello",       [AGENT_MSG_WELCOME] = "welcome",
    [AGENT_MSG_SNAPSHOT] = "snapshot", [AGENT_MSG_UPDATE] = "update",
    [AGENT_MSG_REPORT] = "report",     [AGENT_MSG_HEARTBEAT] = "heartbeat",
    [AGENT_MSG_ERROR] = "error",
};

static const char *const bum_names[] = {
    [AGENT_BUM_HEAD_END] = "head-end",
    [AGENT_BUM_PROXY] = "proxy",
    [AGENT_BUM_MULTICAST] = "multicast",
};

static const char *const mode_names[] = {
    [AGENT_PORT_ACCESS] = "access",
    [AGENT_PORT_TRUNK] = "trunk",
};

static const char *const error_code_names[AGENT_ERR_CODE_COUNT] = {
    [AGENT_ERR_AUTH] = "auth",           [AGENT_ERR_VERSION] = "version",
    [AGENT_ERR_MALFORMED] = "malformed", [AGENT_ERR_TOO_LARGE] = "too_large",
    [AGENT_ERR_PROTOCOL] = "protocol",   [AGENT_ERR_TIMEOUT] = "timeout",
    [AGENT_ERR_REPLACED] = "replaced",   [AGENT_ERR_SHUTDOWN] = "shutdown",
    [AGENT_ERR_INTERNAL] = "internal",
};

/* The fields of the simple ops (struct agent_entry), and where each op may appear. */
enum {
    F_VNI = 1 << 0,
    F_MAC = 1 << 1,
    F_VTEP = 1 << 2,
    F_IP = 1 << 3,
    F_PORT = 1 << 4, /* entry.port, JSON key "port" */
    F_NAME = 1 << 5, /* entry.port, JSON key "name" (port_del, like port_set) */
};

enum {
    IN_SNAPSHOT = 1 << 0,
    IN_UPDATE = 1 << 1,
    IN_FULL_REPORT = 1 << 2,
    IN_REPORT = 1 << 3,
};

static const struct op_desc {
    const char *name;
    unsigned fields; /* simple ops only */
    unsigned where;
} op_descs[AGENT_OP_TYPE_COUNT] = {
    [AGENT_OP_SEGMENT_SET] = {"segment_set", 0, IN_SNAPSHOT | IN_UPDATE},
    [AGENT_OP_SEGMENT_DEL] = {"segment_del", F_VNI, IN_UPDATE},
    [AGENT_OP_VTEP_ADD] = {"vtep_add", F_VNI | F_VTEP, IN_SNAPSHOT | IN_UPDATE},
    [AGENT_OP_VTEP_DEL] = {"vtep_del", F_VNI | F_VTEP, IN_UPDATE},
    [AGENT_OP_MAC_SET] = {"mac_set", F_VNI | F_MAC | F_VTEP, IN_SNAPSHOT | IN_UPDATE},
    [AGENT_OP_MAC_DEL] = {"mac_del", F_VNI | F_MAC, IN_UPDATE},
    [AGENT_OP_IP_SET] = {"ip_set", F_VNI | F_IP | F_MAC, IN_SNAPSHOT | IN_UPDATE},
    [AGENT_OP_IP_DEL] = {"ip_del", F_VNI | F_IP, IN_UPDATE},
    [AGENT_OP_PORT_SET] = {"port_set", 0, IN_SNAPSHOT | IN_UPDATE},
    [AGENT_OP_PORT_DEL] = {"port_del", F_NAME, IN_UPDATE},
    [AGENT_OP_MAC_LEARNED] = {"mac_learned", F_VNI | F_MAC | F_PORT, IN_FULL_REPORT | IN_REPORT},
    [AGENT_OP_MAC_GONE] = {"mac_gone", F_VNI | F_MAC, IN_REPORT},
    [AGENT_OP_IP_LEARNED] = {"ip_learned", F_VNI | F_IP | F_MAC, IN_FULL_REPORT | IN_REPORT},
    [AGENT_OP_IP_GONE] = {"ip_gone", F_VNI | F_IP, IN_REPORT},
    [AGENT_OP_PORT_STATE] = {"port_state", 0, IN_FULL_REPORT | IN_REPORT},
};

const char *agent_msg_type_name(enum agent_msg_type type)
{
    return (unsigned)type < AGENT_MSG_TYPE_COUNT ? msg_names[type] : "?";
}

const char *agent_op_type_name(enum agent_op_type type)
{
    return (unsigned)type < AGENT_OP_TYPE_COUNT ? op_descs[type].name : "?";
}

const char *agent_bum_name(enum agent_bum bum)
{
    return (unsigned)bum < WEFT_ARRAY_SIZE(bum_names) ? bum_names[bum] : "?";
}

const char *agent_error_code_name(enum agent_error_code code)
{
    return (unsigned)code < AGENT_ERR_CODE_COUNT ? error_code_names[code] : "?";
}

/* Where a batch of this type may carry an op (IN_*). */
static unsigned batch_context(const struct agent_msg *m)
{
    switch (m->type) {
    case AGENT_MSG_SNAPSHOT:
        return IN_SNAPSHOT;
    case AGENT_MSG_UPDATE:
        return IN_UPDATE;
    case AGENT_MSG_REPORT:
        return m->batch.full ? IN_FULL_REPORT : IN_REPORT;
    default:
        return 0;
    }
}

static const char *context_name(unsigned where)
{
    switch (where) {
    case IN_SNAPSHOT:
        return "a snapshot";
    case IN_UPDATE:
        return "an update";
    case IN_FULL_REPORT:
        return "a full report";
    default:
        return "a report";
    }
}

/* ---- Errors ---------------------------------------------------------------- */

int agent_proto_err_errno(enum agent_proto_err_kind kind)
{
    switch (kind) {
    case AGENT_PROTO_ERR_NONE:
        return 0;
    case AGENT_PROTO_ERR_OVERSIZE:
        return EMSGSIZE;
    case AGENT_PROTO_ERR_TRUNCATED:
        return EPIPE;
    case AGENT_PROTO_ERR_JSON:
        return EBADMSG;
    case AGENT_PROTO_ERR_FIELD:
        return EINVAL;
    case AGENT_PROTO_ERR_UNKNOWN_TYPE:
        return ENOMSG;
    case AGENT_PROTO_ERR_ORDER:
        return EPROTO;
    case AGENT_PROTO_ERR_NOMEM:
        return ENOMEM;
    }
    return EINVAL;
}

enum agent_error_code agent_proto_error_code(const struct agent_proto_error *err)
{
    switch (err->kind) {
    case AGENT_PROTO_ERR_OVERSIZE:
        return AGENT_ERR_TOO_LARGE;
    case AGENT_PROTO_ERR_ORDER:
        return AGENT_ERR_PROTOCOL;
    case AGENT_PROTO_ERR_NOMEM:
    case AGENT_PROTO_ERR_NONE:
        return AGENT_ERR_INTERNAL;
    default:
        return AGENT_ERR_MALFORMED;
    }
}

static void clear_error(struct agent_proto_error *err)
{
    err->kind = AGENT_PROTO_ERR_NONE;
    err->field[0] = '\0';
    err->text[0] = '\0';
}

/* Sets *err and returns the errno of kind. field may be NULL or "". */
__attribute__((format(printf, 4, 5))) static int fail(struct agent_proto_error *err,
                                                      enum agent_proto_err_kind kind,
                                                      const char *field, const char *fmt, ...)
{
    char what[AGENT_PROTO_ERRTEXT_LEN - AGENT_PROTO_FIELD_LEN - 2];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(what, sizeof what, fmt, ap) < 0) {
        what[0] = '\0';
    }
    va_end(ap);
    err->kind = kind;
    if (!field) {
        field = "";
    }
    if (snprintf(err->field, sizeof err->field, "%s", field) < 0) {
        err->field[0] = '\0';
    }
    if (snprintf(err->text, sizeof err->text, "%s%s%s", err->field, err->field[0] ? ": " : "",
                 what) < 0) {
        err->text[0] = '\0';
    }
    return agent_proto_err_errno(kind);
}

/* Writes s (len bytes) in double quotes into buf, escaping all but printable ASCII
 * and cutting it at QUOTE_MAX bytes: peers' values are shown, never replayed raw. */
static const char *quote_n(const char *s, size_t len, char *buf)
{
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
        }
    }
    buf[o++] = '"';
    if (len > QUOTE_MAX) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static const char *quote(const char *s, char *buf)
{
    return quote_n(s, strlen(s), buf);
}

/* "path.key" (or "key" at the top) into out, AGENT_PROTO_FIELD_LEN bytes. A key from
 * the peer is reduced to safe characters, as it ends up in a log line. */
static const char *field_name(char *out, const char *path, const char *key)
{
    size_t o = 0;

    for (size_t i = 0; path[i] && o < AGENT_PROTO_FIELD_LEN - 1; i++) {
        out[o++] = path[i];
    }
    if (path[0] && o < AGENT_PROTO_FIELD_LEN - 1) {
        out[o++] = '.';
    }
    for (size_t i = 0; key[i] && o < AGENT_PROTO_FIELD_LEN - 1 && i < 24; i++) {
        char c = key[i];
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '[' || c == ']' || c == '.';
        out[o++] = safe ? c : '?';
    }
    out[o] = '\0';
    return out;
}

/* ---- Checks on values (shared by decode and encode) --------------------------- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static bool epoch_char(char c)
{
    return name_char(c) || c == ':';
}

static bool token_char(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Length of the NUL-terminated string in a buffer of size bytes, or size when the
 * buffer holds no NUL (a caller's struct that was never terminated). */
static size_t bounded_len(const char *s, size_t size)
{
    const char *nul = memchr(s, '\0', size);
    return nul ? (size_t)(nul - s) : size;
}

/* An identifier: min..max characters, each accepted by ok(). secret: never show it. */
static int check_ident(struct agent_proto_error *err, const char *path, const char *key,
                       const char *s, size_t size, size_t min, size_t max, bool (*ok)(char),
                       const char *charset, bool secret)
{
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    size_t len = bounded_len(s, size);

    field_name(f, path, key);
    if (len >= size || len > max) {
        return fail(err, AGENT_PROTO_ERR_FIELD, f, "longer than %zu characters", max);
    }
    if (len < min) {
        return len ? fail(err, AGENT_PROTO_ERR_FIELD, f, "shorter than %zu characters", min)
                   : fail(err, AGENT_PROTO_ERR_FIELD, f, "empty");
    }
    for (size_t i = 0; i < len; i++) {
        if (!ok(s[i])) {
            if (secret) {
                return fail(err, AGENT_PROTO_ERR_FIELD, f, "may only hold %s", charset);
            }
            return fail(err, AGENT_PROTO_ERR_FIELD, f, "%s: may only hold %s", quote(s, q),
                        charset);
        }
    }
    return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF) without
 * control characters: what jansson accepts in a string, minus what would break a log. */
static bool text_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        unsigned n, cp;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return false;
            }
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n) { /* the continuation bytes are cut off */
            return false;
        }
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

static int check_text(struct agent_proto_error *err, const char *path, const char *key,
                      const char *s, size_t size, size_t max)
{
    char f[AGENT_PROTO_FIELD_LEN];
    size_t len = bounded_len(s, size);

    field_name(f, path, key);
    if (len >= size || len > max) {
        return fail(err, AGENT_PROTO_ERR_FIELD, f, "longer than %zu bytes", max);
    }
    if (!text_ok((const unsigned char *)s, len)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, f, "not UTF-8 text without control characters");
    }
    return 0;
}

static int check_range(struct agent_proto_error *err, const char *path, const char *key, uint64_t v,
                       uint64_t min, uint64_t max)
{
    char f[AGENT_PROTO_FIELD_LEN];

    if (v < min || v > max) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, key),
                    "%llu is out of range %llu-%llu", (unsigned long long)v,
                    (unsigned long long)min, (unsigned long long)max);
    }
    return 0;
}

/* A host address: VTEPs, proxies, replicas, learned and bound IPs. */
static int check_host_ip(struct agent_proto_error *err, const char *path, const char *key,
                         const struct ip_addr *ip)
{
    char f[AGENT_PROTO_FIELD_LEN], text[IP_ADDR_STRLEN];

    if (ip_addr_is_zero(ip) || ip_addr_is_multicast(ip) ||
        (ip_addr_is_v4(ip) &&
         (ip->bytes[12] == 0 || (ip->bytes[12] == 255 && ip->bytes[13] == 255 &&
                                 ip->bytes[14] == 255 && ip->bytes[15] == 255)))) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, key),
                    "%s is not a unicast host address", ip_addr_format(ip, text));
    }
    return 0;
}

static int check_unicast_mac(struct agent_proto_error *err, const char *path, const char *key,
                             const struct eth_addr *mac)
{
    char f[AGENT_PROTO_FIELD_LEN], text[ETH_ADDR_STRLEN];

    if (eth_addr_is_multicast(mac->bytes) || eth_addr_is_zero(mac->bytes)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, key),
                    "%s is not a unicast MAC address", eth_addr_format(mac->bytes, text));
    }
    return 0;
}

static bool vlan_bit(const uint8_t *bitmap, unsigned vlan)
{
    return bitmap[vlan / 8] & (1u << (vlan % 8));
}

static int cmp_ip(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct ip_addr));
}

static int check_segment(struct agent_proto_error *err, const char *path,
                         const struct agent_segment *s)
{
    char f[AGENT_PROTO_FIELD_LEN], text[IP_ADDR_STRLEN];
    int rc;

    if ((rc = check_range(err, path, "vni", s->vni, 1, AGENT_PROTO_VNI_MAX)) ||
        (rc = check_range(err, path, "vlan", s->vlan, 0, AGENT_PROTO_VLAN_MAX))) {
        return rc;
    }
    switch (s->bum) {
    case AGENT_BUM_HEAD_END:
        return 0;
    case AGENT_BUM_MULTICAST:
        if (!ip_addr_is_multicast(&s->group)) {
            return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "group"),
                        "%s is not a multicast address", ip_addr_format(&s->group, text));
        }
        return 0;
    case AGENT_BUM_PROXY:
        break;
    default:
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "bum"), "unknown mode %d",
                    (int)s->bum);
    }

    /* Proxy mode: both lists, each address a unicast VTEP listed once in the two. */
    uint64_t total = (uint64_t)s->n_proxies + s->n_replicas;
    if (total > AGENT_PROTO_MAX_REPLICATION) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "replicas"),
                    "%llu proxies and replicas, at most %u", (unsigned long long)total,
                    AGENT_PROTO_MAX_REPLICATION);
    }
    if ((s->n_proxies && !s->proxies) || (s->n_replicas && !s->replicas)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "proxies"),
                    "count without a list");
    }
    for (int list = 0; list < 2; list++) {
        const struct ip_addr *a = list ? s->replicas : s->proxies;
        uint32_t n = list ? s->n_replicas : s->n_proxies;
        for (uint32_t i = 0; i < n; i++) {
            char key[24];
            snprintf(key, sizeof key, "%s[%u]", list ? "replicas" : "proxies", i);
            if ((rc = check_host_ip(err, path, key, &a[i]))) {
                return rc;
            }
        }
    }
    if (total < 2) {
        return 0;
    }
    /* Sorting a copy keeps this O(n log n): a quadratic scan of 1024 addresses per op,
     * times thousands of ops, would let one message cost seconds. */
    struct ip_addr *all = malloc((size_t)total * sizeof *all);
    if (!all) {
        return fail(err, AGENT_PROTO_ERR_NOMEM, path, "out of memory");
    }
    if (s->n_proxies) {
        memcpy(all, s->proxies, s->n_proxies * sizeof *all);
    }
    if (s->n_replicas) {
        memcpy(all + s->n_proxies, s->replicas, s->n_replicas * sizeof *all);
    }
    qsort(all, (size_t)total, sizeof *all, cmp_ip);
    rc = 0;
    for (uint64_t i = 1; i < total; i++) {
        if (ip_addr_equal(&all[i - 1], &all[i])) {
            rc = fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "replicas"),
                      "%s is listed twice in proxies and replicas", ip_addr_format(&all[i], text));
            break;
        }
    }
    free(all);
    return rc;
}

static int check_port(struct agent_proto_error *err, const char *path, const struct agent_port *p)
{
    char f[AGENT_PROTO_FIELD_LEN], key[24];
    int rc;

    if ((rc = check_ident(err, path, "name", p->name, sizeof p->name, 1, AGENT_PROTO_PORT_MAX,
                          name_char, "A-Z a-z 0-9 _ . -", false)) ||
        (rc = check_range(err, path, "mtu", p->mtu, AGENT_PROTO_MTU_MIN, AGENT_PROTO_MTU_MAX)) ||
        (rc = check_range(err, path, "bindings", p->n_bindings, 0, AGENT_PROTO_MAX_BINDINGS))) {
        return rc;
    }
    switch (p->mode) {
    case AGENT_PORT_ACCESS:
        if ((rc = check_range(err, path, "segment", p->segment, 1, AGENT_PROTO_VNI_MAX))) {
            return rc;
        }
        break;
    case AGENT_PORT_TRUNK: {
        bool any = false;
        for (unsigned v = 1; v <= AGENT_PROTO_VLAN_MAX && !any; v++) {
            any = vlan_bit(p->vlans, v);
        }
        if (!any || (p->vlans[0] & 1) || vlan_bit(p->vlans, 4095)) {
            return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "vlans"),
                        "a trunk needs allowed VLANs, all within 1-4094");
        }
        if (p->native_vlan &&
            (p->native_vlan > AGENT_PROTO_VLAN_MAX || !vlan_bit(p->vlans, p->native_vlan))) {
            return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "native_vlan"),
                        "%u is not one of the allowed VLANs", p->native_vlan);
        }
        if (p->tpid != TPID_8021Q && p->tpid != TPID_8021AD) {
            return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "tpid"),
                        "%u is neither 33024 (0x8100) nor 34984 (0x88a8)", p->tpid);
        }
        break;
    }
    default:
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "mode"), "unknown mode %d",
                    (int)p->mode);
    }
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        const struct agent_binding *b = &p->bindings[i];
        snprintf(key, sizeof key, "bindings[%u]", i);
        char sub[AGENT_PROTO_FIELD_LEN];
        field_name(sub, path, key);
        if ((rc = check_unicast_mac(err, sub, "mac", &b->mac)) ||
            (!ip_addr_is_zero(&b->ip) && (rc = check_host_ip(err, sub, "ip", &b->ip)))) {
            return rc;
        }
    }
    return 0;
}

static int check_op(struct agent_proto_error *err, const char *path, const struct agent_op *op,
                    unsigned where)
{
    char f[AGENT_PROTO_FIELD_LEN];
    int rc;

    if ((unsigned)op->type >= AGENT_OP_TYPE_COUNT) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "op"), "unknown op %d",
                    (int)op->type);
    }
    const struct op_desc *d = &op_descs[op->type];
    if (!(d->where & where)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, field_name(f, path, "op"),
                    "\"%s\" is not allowed in %s", d->name, context_name(where));
    }
    switch (op->type) {
    case AGENT_OP_SEGMENT_SET:
        return check_segment(err, path, &op->segment);
    case AGENT_OP_PORT_SET:
        return check_port(err, path, &op->port);
    case AGENT_OP_PORT_STATE:
        if ((rc = check_ident(err, path, "port", op->port_state.port, sizeof op->port_state.port, 1,
                              AGENT_PROTO_PORT_MAX, name_char, "A-Z a-z 0-9 _ . -", false))) {
            return rc;
        }
        return check_text(err, path, "reason", op->port_state.reason, sizeof op->port_state.reason,
                          AGENT_PROTO_TEXT_MAX);
    default:
        break;
    }
    const struct agent_entry *e = &op->entry;
    if (((d->fields & F_VNI) &&
         (rc = check_range(err, path, "vni", e->vni, 1, AGENT_PROTO_VNI_MAX))) ||
        ((d->fields & (F_PORT | F_NAME)) &&
         (rc = check_ident(err, path, d->fields & F_PORT ? "port" : "name", e->port, sizeof e->port,
                           1, AGENT_PROTO_PORT_MAX, name_char, "A-Z a-z 0-9 _ . -", false))) ||
        ((d->fields & F_IP) && (rc = check_host_ip(err, path, "ip", &e->ip))) ||
        ((d->fields & F_MAC) && (rc = check_unicast_mac(err, path, "mac", &e->mac))) ||
        ((d->fields & F_VTEP) && (rc = check_host_ip(err, path, "vtep", &e->vtep)))) {
        return rc;
    }
    return 0;
}

static int check_batch(const struct agent_msg *m, struct agent_proto_error *err)
{
    const struct agent_batch *b = &m->batch;
    unsigned where = batch_context(m);
    char path[AGENT_PROTO_FIELD_LEN];
    int rc;

    if (m->type != AGENT_MSG_REPORT &&
        (rc = check_range(err, "", "revision", b->revision, 1, AGENT_PROTO_MAX_REVISION))) {
        return rc;
    }
    if (m->type == AGENT_MSG_REPORT && b->more && !b->full) {
        return fail(err, AGENT_PROTO_ERR_FIELD, "more", "only a full report comes in parts");
    }
    if (b->n_ops > AGENT_PROTO_MAX_OPS) {
        return fail(err, AGENT_PROTO_ERR_FIELD, "ops", "%u ops, at most %u", b->n_ops,
                    AGENT_PROTO_MAX_OPS);
    }
    if (b->n_ops == 0 &&
        (m->type == AGENT_MSG_UPDATE || (m->type == AGENT_MSG_REPORT && !b->full))) {
        return fail(err, AGENT_PROTO_ERR_FIELD, "ops", "empty (send a heartbeat instead)");
    }
    if (b->n_ops && !b->ops) {
        return fail(err, AGENT_PROTO_ERR_FIELD, "ops", "count without a list");
    }
    for (uint32_t i = 0; i < b->n_ops; i++) {
        snprintf(path, sizeof path, "ops[%u]", i);
        if ((rc = check_op(err, path, &b->ops[i], where))) {
            return rc;
        }
    }
    return 0;
}

static int check_hello(const struct agent_hello *h, struct agent_proto_error *err)
{
    int rc;
    unsigned max_prefix = ip_addr_is_v4(&h->vtep) ? 32 : 128;

    if ((rc = check_range(err, "", "version", h->version, 1, VERSION_MAX)) ||
        (rc = check_range(err, "", "min_version", h->min_version, 1, h->version)) ||
        (rc = check_ident(err, "", "host", h->host, sizeof h->host, 1, AGENT_PROTO_HOST_MAX,
                          name_char, "A-Z a-z 0-9 _ . -", false)) ||
        (rc = check_host_ip(err, "", "vtep", &h->vtep)) ||
        (rc = check_range(err, "", "vtep_prefix_len", h->vtep_prefix_len, 1, max_prefix)) ||
        (rc = check_ident(err, "", "token", h->token, sizeof h->token, AGENT_PROTO_TOKEN_MIN,
                          AGENT_PROTO_TOKEN_MAX, token_char, "visible ASCII", true)) ||
        (rc = check_range(err, "", "revision", h->revision, 0, AGENT_PROTO_MAX_REVISION)) ||
        (rc = check_text(err, "", "software", h->software, sizeof h->software,
                         AGENT_PROTO_SOFTWARE_MAX))) {
        return rc;
    }
    if (h->revision == 0) {
        if (bounded_len(h->epoch, sizeof h->epoch)) {
            return fail(err, AGENT_PROTO_ERR_FIELD, "epoch", "only with a revision");
        }
        return 0;
    }
    return check_ident(err, "", "epoch", h->epoch, sizeof h->epoch, 1, AGENT_PROTO_EPOCH_MAX,
                       epoch_char, "A-Z a-z 0-9 _ . : -", false);
}

static int check_welcome(const struct agent_welcome *w, struct agent_proto_error *err)
{
    int rc;

    if ((rc = check_range(err, "", "version", w->version, 1, VERSION_MAX)) ||
        (rc = check_ident(err, "", "epoch", w->epoch, sizeof w->epoch, 1, AGENT_PROTO_EPOCH_MAX,
                          epoch_char, "A-Z a-z 0-9 _ . : -", false)) ||
        (rc = check_range(err, "", "revision", w->revision, w->resumed ? 1 : 0,
                          AGENT_PROTO_MAX_REVISION)) ||
        (rc = check_range(err, "", "heartbeat_ms", w->heartbeat_ms, AGENT_PROTO_HEARTBEAT_MIN_MS,
                          AGENT_PROTO_HEARTBEAT_MAX_MS)) ||
        (rc = check_range(err, "", "dead_ms", w->dead_ms, 2ull * w->heartbeat_ms,
                          AGENT_PROTO_DEAD_MAX_MS))) {
        return rc;
    }
    if (!w->resumed && w->revision) {
        return fail(err, AGENT_PROTO_ERR_FIELD, "revision",
                    "%llu without \"resumed\": must be 0 (a snapshot follows)",
                    (unsigned long long)w->revision);
    }
    return 0;
}

int agent_msg_check(const struct agent_msg *m, struct agent_proto_error *err)
{
    struct agent_proto_error local;

    if (!err) {
        err = &local;
    }
    clear_error(err);
    switch (m->type) {
    case AGENT_MSG_HELLO:
        return check_hello(&m->hello, err);
    case AGENT_MSG_WELCOME:
        return check_welcome(&m->welcome, err);
    case AGENT_MSG_SNAPSHOT:
    case AGENT_MSG_UPDATE:
    case AGENT_MSG_REPORT:
        return check_batch(m, err);
    case AGENT_MSG_HEARTBEAT:
        return check_range(err, "", "revision", m->heartbeat.revision, 0, AGENT_PROTO_MAX_REVISION);
    case AGENT_MSG_ERROR:
        if ((unsigned)m->error.code >= AGENT_ERR_CODE_COUNT) {
            return fail(err, AGENT_PROTO_ERR_FIELD, "code", "unknown code %d", (int)m->error.code);
        }
        return check_text(err, "", "message", m->error.message, sizeof m->error.message,
                          AGENT_PROTO_TEXT_MAX);
    default:
        return fail(err, AGENT_PROTO_ERR_UNKNOWN_TYPE, "type", "unknown message type %d",
                    (int)m->type);
    }
}

/* ---- Messages: init and free --------------------------------------------------- */

void agent_msg_init(struct agent_msg *m, enum agent_msg_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

void agent_port_default(struct agent_port *port)
{
    memset(port, 0, sizeof *port);
    port->mode = AGENT_PORT_ACCESS;
    port->admin_up = true;
    port->mtu = DEFAULT_MTU;
    port->learning = true;
}

static bool is_batch(enum agent_msg_type t)
{
    return t == AGENT_MSG_SNAPSHOT || t == AGENT_MSG_UPDATE || t == AGENT_MSG_REPORT;
}

void agent_msg_free(struct agent_msg *m)
{
    if (!m || !is_batch(m->type)) {
        return;
    }
    for (uint32_t i = 0; m->batch.ops && i < m->batch.n_ops; i++) {
        struct agent_op *op = &m->batch.ops[i];
        if (op->type == AGENT_OP_SEGMENT_SET) {
            free(op->segment.proxies);
            free(op->segment.replicas);
        }
    }
    free(m->batch.ops);
    m->batch.ops = NULL;
    m->batch.n_ops = 0;
}

/* ---- Decoding ---------------------------------------------------------------- */

/* One JSON object being decoded, with its path for error texts. */
struct jobj {
    json_t *obj;
    const char *path;
    struct agent_proto_error *err;
};

static int missing(const struct jobj *o, const char *key)
{
    char f[AGENT_PROTO_FIELD_LEN];
    return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key), "missing");
}

static int wrong_type(const struct jobj *o, const char *key, const char *want)
{
    char f[AGENT_PROTO_FIELD_LEN];
    return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key), "must be %s", want);
}

/* Refuses keys not in known (NULL-terminated). */
static int only_keys(const struct jobj *o, const char *const *known)
{
    const char *key;
    json_t *value;
    char f[AGENT_PROTO_FIELD_LEN];

    json_object_foreach(o->obj, key, value)
    {
        bool found = false;
        for (const char *const *k = known; *k && !found; k++) {
            found = strcmp(*k, key) == 0;
        }
        if (!found) {
            return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                        "unknown field");
        }
    }
    return 0;
}

/* A field this type or mode does not use, present anyway. */
static int unused_field(const struct jobj *o, const char *key, const char *why)
{
    char f[AGENT_PROTO_FIELD_LEN];

    if (json_object_get(o->obj, key)) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key), "only %s", why);
    }
    return 0;
}

static int get_uint(const struct jobj *o, const char *key, bool required, uint64_t def,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o->obj, key);
    char f[AGENT_PROTO_FIELD_LEN];

    if (!v) {
        if (required) {
            return missing(o, key);
        }
        *out = def;
        return 0;
    }
    if (!json_is_integer(v)) {
        return wrong_type(o, key, "an integer");
    }
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                    "%lld is out of range %llu-%llu", (long long)x, (unsigned long long)min,
                    (unsigned long long)max);
    }
    *out = (uint64_t)x;
    return 0;
}

static int get_u32(const struct jobj *o, const char *key, bool required, uint64_t def, uint64_t min,
                   uint64_t max, uint32_t *out)
{
    uint64_t v;
    int rc = get_uint(o, key, required, def, min, max, &v);
    if (!rc) {
        *out = (uint32_t)v;
    }
    return rc;
}

static int get_u16(const struct jobj *o, const char *key, bool required, uint64_t def, uint64_t min,
                   uint64_t max, uint16_t *out)
{
    uint64_t v;
    int rc = get_uint(o, key, required, def, min, max, &v);
    if (!rc) {
        *out = (uint16_t)v;
    }
    return rc;
}

static int get_bool(const struct jobj *o, const char *key, bool required, bool def, bool *out)
{
    json_t *v = json_object_get(o->obj, key);

    if (!v) {
        if (required) {
            return missing(o, key);
        }
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        return wrong_type(o, key, "true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* A string field: *out points into the JSON (NULL when absent and optional). */
static int get_string(const struct jobj *o, const char *key, bool required, const char **out,
                      size_t *len)
{
    json_t *v = json_object_get(o->obj, key);

    *out = NULL;
    *len = 0;
    if (!v) {
        return required ? missing(o, key) : 0;
    }
    if (!json_is_string(v)) {
        return wrong_type(o, key, "a string");
    }
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* Copies a string field into a char array; the checks run later on the copy. Longer
 * than the array is refused here, as the copy could not hold it. secret: do not
 * quote it. */
static int get_chars(const struct jobj *o, const char *key, bool required, char *out, size_t size,
                     bool secret)
{
    const char *s;
    size_t len;
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    int rc = get_string(o, key, required, &s, &len);

    if (rc || !s) {
        return rc;
    }
    /* jansson refuses \u0000 (no JSON_ALLOW_NUL), so strlen and length agree. */
    if (len >= size) {
        if (secret) {
            return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                        "longer than %zu characters", size - 1);
        }
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                    "%s is longer than %zu characters", quote_n(s, len, q), size - 1);
    }
    memcpy(out, s, len + 1);
    return 0;
}

static int parse_ip_text(const struct jobj *o, const char *key, const char *s, size_t len,
                         struct ip_addr *out)
{
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];

    if (len >= IP_ADDR_STRLEN || ip_addr_parse(s, out) != 0) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                    "%s is not an IP address", quote_n(s, len, q));
    }
    return 0;
}

static int get_ip(const struct jobj *o, const char *key, bool required, struct ip_addr *out)
{
    const char *s;
    size_t len;
    int rc = get_string(o, key, required, &s, &len);

    if (rc || !s) {
        return rc;
    }
    return parse_ip_text(o, key, s, len, out);
}

static int get_mac(const struct jobj *o, const char *key, struct eth_addr *out)
{
    const char *s;
    size_t len;
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    int rc = get_string(o, key, true, &s, &len);

    if (rc) {
        return rc;
    }
    if (len != ETH_ADDR_STRLEN - 1 || eth_addr_parse(s, out) != 0) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                    "%s is not a MAC address (aa:bb:cc:dd:ee:ff)", quote_n(s, len, q));
    }
    return 0;
}

/* A string field holding one of names[0..n); *out gets its index. */
static int get_enum(const struct jobj *o, const char *key, bool required, unsigned def,
                    const char *const *names, unsigned n, unsigned *out)
{
    const char *s;
    size_t len;
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    int rc = get_string(o, key, required, &s, &len);

    if (rc) {
        return rc;
    }
    if (!s) {
        *out = def;
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key), "unknown value %s",
                quote_n(s, len, q));
}

/* An array field of at most max elements; absent and optional gives NULL. */
static int get_array(const struct jobj *o, const char *key, bool required, size_t max, json_t **out)
{
    json_t *v = json_object_get(o->obj, key);
    char f[AGENT_PROTO_FIELD_LEN];

    *out = NULL;
    if (!v) {
        return required ? missing(o, key) : 0;
    }
    if (!json_is_array(v)) {
        return wrong_type(o, key, "an array");
    }
    if (json_array_size(v) > max) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, field_name(f, o->path, key),
                    "%zu elements, at most %zu", json_array_size(v), max);
    }
    *out = v;
    return 0;
}

static int get_ip_list(const struct jobj *o, const char *key, struct ip_addr **list, uint32_t *n)
{
    json_t *arr;
    char f[AGENT_PROTO_FIELD_LEN];
    int rc = get_array(o, key, false, AGENT_PROTO_MAX_REPLICATION, &arr);

    if (rc || !arr || json_array_size(arr) == 0) {
        return rc;
    }
    *list = calloc(json_array_size(arr), sizeof **list);
    if (!*list) {
        return fail(o->err, AGENT_PROTO_ERR_NOMEM, field_name(f, o->path, key), "out of memory");
    }
    *n = (uint32_t)json_array_size(arr);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        char item[48];
        snprintf(item, sizeof item, "%s[%zu]", key, i);
        if (!json_is_string(v)) {
            return wrong_type(o, item, "an IP address string");
        }
        if ((rc = parse_ip_text(o, item, json_string_value(v), json_string_length(v),
                                &(*list)[i]))) {
            return rc;
        }
    }
    return 0;
}

/* "101,200-210": VLANs 1-4094, items ascending is not required (a set is a set). */
static int parse_vlans(const struct jobj *o, const char *s, size_t len, uint8_t *bitmap)
{
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    size_t i = 0;

    field_name(f, o->path, "vlans");
    if (len == 0 || len > VLANS_TEXT_MAX) {
        return fail(o->err, AGENT_PROTO_ERR_FIELD, f, "must be a list like \"101,200-210\"");
    }
    while (i < len) {
        unsigned lo = 0, hi, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 5) {
            lo = lo * 10 + (unsigned)(s[i++] - '0');
            digits++;
        }
        hi = lo;
        if (digits && i < len && s[i] == '-') {
            i++;
            hi = 0;
            digits = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 5) {
                hi = hi * 10 + (unsigned)(s[i++] - '0');
                digits++;
            }
        }
        if (!digits || (i < len && s[i] != ',') || (i + 1 == len) || lo < 1 ||
            hi > AGENT_PROTO_VLAN_MAX || lo > hi) {
            return fail(o->err, AGENT_PROTO_ERR_FIELD, f,
                        "%s is not a list of VLANs 1-4094 like \"101,200-210\"",
                        quote_n(s, len, q));
        }
        for (unsigned v = lo; v <= hi; v++) {
            bitmap[v / 8] |= (uint8_t)(1u << (v % 8));
        }
        i++; /* the comma, or past the end */
    }
    return 0;
}

static int decode_segment(const struct jobj *o, struct agent_segment *s)
{
    static const char *const keys[] = {"op",
                                       "vni",
                                       "vlan",
                                       "bum",
                                       "group",
                                       "proxies",
                                       "replicas",
                                       "arp_suppression",
                                       "allow_inner_vlan",
                                       NULL};
    unsigned bum = AGENT_BUM_HEAD_END; /* set by get_enum(); -O3 cannot tell */
    int rc;

    if ((rc = only_keys(o, keys)) ||
        (rc = get_u32(o, "vni", true, 0, 1, AGENT_PROTO_VNI_MAX, &s->vni)) ||
        (rc = get_u16(o, "vlan", false, 0, 0, AGENT_PROTO_VLAN_MAX, &s->vlan)) ||
        (rc = get_enum(o, "bum", false, AGENT_BUM_HEAD_END, bum_names, WEFT_ARRAY_SIZE(bum_names),
                       &bum)) ||
        (rc = get_bool(o, "arp_suppression", false, false, &s->arp_suppression)) ||
        (rc = get_bool(o, "allow_inner_vlan", false, false, &s->allow_inner_vlan))) {
        return rc;
    }
    s->bum = (enum agent_bum)bum;
    if (s->bum == AGENT_BUM_MULTICAST) {
        if ((rc = get_ip(o, "group", true, &s->group))) {
            return rc;
        }
    } else if ((rc = unused_field(o, "group", "with \"bum\": \"multicast\""))) {
        return rc;
    }
    if (s->bum == AGENT_BUM_PROXY) {
        return (rc = get_ip_list(o, "proxies", &s->proxies, &s->n_proxies))
                   ? rc
                   : get_ip_list(o, "replicas", &s->replicas, &s->n_replicas);
    }
    if ((rc = unused_field(o, "proxies", "with \"bum\": \"proxy\"")) ||
        (rc = unused_field(o, "replicas", "with \"bum\": \"proxy\""))) {
        return rc;
    }
    return 0;
}

static int decode_binding(const struct jobj *parent, json_t *j, size_t i, struct agent_binding *b)
{
    static const char *const keys[] = {"mac", "ip", NULL};
    char path[AGENT_PROTO_FIELD_LEN], item[32];
    struct jobj o = {j, path, parent->err};
    int rc;

    snprintf(item, sizeof item, "bindings[%zu]", i);
    field_name(path, parent->path, item);
    if (!json_is_object(j)) {
        return wrong_type(parent, item, "an object");
    }
    if ((rc = only_keys(&o, keys)) || (rc = get_mac(&o, "mac", &b->mac)) ||
        (rc = get_ip(&o, "ip", false, &b->ip))) {
        return rc;
    }
    return 0;
}

static int decode_port(const struct jobj *o, struct agent_port *p)
{
    static const char *const keys[] = {
        "op",          "name",        "mode",          "segment",  "vlans",
        "native_vlan", "tpid",        "admin_up",      "mtu",      "learning",
        "mac_limit",   "promiscuous", "port_security", "bindings", NULL};
    unsigned mode = AGENT_PORT_ACCESS; /* set by get_enum(); -O3 cannot tell */
    json_t *arr;
    int rc;

    agent_port_default(p);
    if ((rc = only_keys(o, keys)) ||
        (rc = get_chars(o, "name", true, p->name, sizeof p->name, false)) ||
        (rc = get_enum(o, "mode", false, AGENT_PORT_ACCESS, mode_names, WEFT_ARRAY_SIZE(mode_names),
                       &mode)) ||
        (rc = get_bool(o, "admin_up", false, true, &p->admin_up)) ||
        (rc = get_u32(o, "mtu", false, DEFAULT_MTU, AGENT_PROTO_MTU_MIN, AGENT_PROTO_MTU_MAX,
                      &p->mtu)) ||
        (rc = get_bool(o, "learning", false, true, &p->learning)) ||
        (rc = get_u32(o, "mac_limit", false, 0, 0, UINT32_MAX, &p->mac_limit)) ||
        (rc = get_bool(o, "promiscuous", false, false, &p->promiscuous)) ||
        (rc = get_bool(o, "port_security", false, false, &p->port_security)) ||
        (rc = get_array(o, "bindings", false, AGENT_PROTO_MAX_BINDINGS, &arr))) {
        return rc;
    }
    p->mode = (enum agent_port_mode)mode;
    for (size_t i = 0; arr && i < json_array_size(arr); i++) {
        if ((rc = decode_binding(o, json_array_get(arr, i), i, &p->bindings[i]))) {
            return rc;
        }
        p->n_bindings++;
    }
    if (p->mode == AGENT_PORT_ACCESS) {
        if ((rc = get_u32(o, "segment", true, 0, 1, AGENT_PROTO_VNI_MAX, &p->segment)) ||
            (rc = unused_field(o, "vlans", "on trunk ports")) ||
            (rc = unused_field(o, "native_vlan", "on trunk ports")) ||
            (rc = unused_field(o, "tpid", "on trunk ports"))) {
            return rc;
        }
        return 0;
    }
    const char *vlans;
    size_t len;
    if ((rc = unused_field(o, "segment", "on access ports (trunks take \"vlans\")")) ||
        (rc = get_string(o, "vlans", true, &vlans, &len)) ||
        (rc = parse_vlans(o, vlans, len, p->vlans)) ||
        (rc = get_u16(o, "native_vlan", false, 0, 0, AGENT_PROTO_VLAN_MAX, &p->native_vlan)) ||
        (rc = get_u16(o, "tpid", false, TPID_8021Q, 0, UINT16_MAX, &p->tpid))) {
        return rc;
    }
    return 0;
}

static int decode_entry(const struct jobj *o, const struct op_desc *d, struct agent_entry *e)
{
    const char *keys[8];
    unsigned n = 0;
    int rc;

    keys[n++] = "op";
    if (d->fields & F_VNI) {
        keys[n++] = "vni";
    }
    if (d->fields & F_PORT) {
        keys[n++] = "port";
    }
    if (d->fields & F_NAME) {
        keys[n++] = "name";
    }
    if (d->fields & F_IP) {
        keys[n++] = "ip";
    }
    if (d->fields & F_MAC) {
        keys[n++] = "mac";
    }
    if (d->fields & F_VTEP) {
        keys[n++] = "vtep";
    }
    keys[n] = NULL;
    if ((rc = only_keys(o, keys))) {
        return rc;
    }
    if (((d->fields & F_VNI) &&
         (rc = get_u32(o, "vni", true, 0, 1, AGENT_PROTO_VNI_MAX, &e->vni))) ||
        ((d->fields & F_PORT) &&
         (rc = get_chars(o, "port", true, e->port, sizeof e->port, false))) ||
        ((d->fields & F_NAME) &&
         (rc = get_chars(o, "name", true, e->port, sizeof e->port, false))) ||
        ((d->fields & F_IP) && (rc = get_ip(o, "ip", true, &e->ip))) ||
        ((d->fields & F_MAC) && (rc = get_mac(o, "mac", &e->mac))) ||
        ((d->fields & F_VTEP) && (rc = get_ip(o, "vtep", true, &e->vtep)))) {
        return rc;
    }
    return 0;
}

static int decode_op(json_t *j, const char *path, unsigned where, struct agent_op *op,
                     struct agent_proto_error *err)
{
    struct jobj o = {j, path, err};
    const char *name;
    size_t len;
    char f[AGENT_PROTO_FIELD_LEN], q[QUOTE_LEN];
    int rc;

    if (!json_is_object(j)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, path, "must be an object");
    }
    if ((rc = get_string(&o, "op", true, &name, &len))) {
        return rc;
    }
    field_name(f, path, "op");
    unsigned t = 0;
    while (t < AGENT_OP_TYPE_COUNT && strcmp(op_descs[t].name, name) != 0) {
        t++;
    }
    if (t == AGENT_OP_TYPE_COUNT) {
        return fail(err, AGENT_PROTO_ERR_FIELD, f, "unknown op %s", quote_n(name, len, q));
    }
    /* Refused before its fields are read, so the error says what is really wrong. */
    if (!(op_descs[t].where & where)) {
        return fail(err, AGENT_PROTO_ERR_FIELD, f, "\"%s\" is not allowed in %s", op_descs[t].name,
                    context_name(where));
    }
    op->type = (enum agent_op_type)t;
    switch (op->type) {
    case AGENT_OP_SEGMENT_SET:
        return decode_segment(&o, &op->segment);
    case AGENT_OP_PORT_SET:
        return decode_port(&o, &op->port);
    case AGENT_OP_PORT_STATE: {
        static const char *const keys[] = {"op", "port", "up", "reason", NULL};
        struct agent_port_state *ps = &op->port_state;
        if ((rc = only_keys(&o, keys)) ||
            (rc = get_chars(&o, "port", true, ps->port, sizeof ps->port, false)) ||
            (rc = get_bool(&o, "up", true, false, &ps->up)) ||
            (rc = get_chars(&o, "reason", false, ps->reason, sizeof ps->reason, false))) {
            return rc;
        }
        return 0;
    }
    default:
        return decode_entry(&o, &op_descs[t], &op->entry);
    }
}

static int decode_batch(const struct jobj *o, struct agent_msg *m)
{
    static const char *const snapshot_keys[] = {"type", "revision", "more", "ops", NULL};
    static const char *const update_keys[] = {"type", "revision", "ops", NULL};
    static const char *const report_keys[] = {"type", "full", "more", "ops", NULL};
    struct agent_batch *b = &m->batch;
    json_t *arr;
    char path[AGENT_PROTO_FIELD_LEN];
    int rc;

    switch (m->type) {
    case AGENT_MSG_SNAPSHOT:
        rc = only_keys(o, snapshot_keys);
        if (!rc) {
            rc = get_uint(o, "revision", true, 0, 1, AGENT_PROTO_MAX_REVISION, &b->revision);
        }
        if (!rc) {
            rc = get_bool(o, "more", false, false, &b->more);
        }
        break;
    case AGENT_MSG_UPDATE:
        rc = only_keys(o, update_keys);
        if (!rc) {
            rc = get_uint(o, "revision", true, 0, 1, AGENT_PROTO_MAX_REVISION, &b->revision);
        }
        break;
    default:
        rc = only_keys(o, report_keys);
        if (!rc) {
            rc = get_bool(o, "full", false, false, &b->full);
        }
        if (!rc) {
            rc = get_bool(o, "more", false, false, &b->more);
        }
        break;
    }
    if (rc || (rc = get_array(o, "ops", true, AGENT_PROTO_MAX_OPS, &arr))) {
        return rc;
    }
    size_t n = json_array_size(arr);
    if (n) {
        b->ops = calloc(n, sizeof *b->ops);
        if (!b->ops) {
            return fail(o->err, AGENT_PROTO_ERR_NOMEM, "ops", "out of memory");
        }
        b->n_ops = (uint32_t)n;
    }
    unsigned where = batch_context(m);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "ops[%zu]", i);
        if ((rc = decode_op(json_array_get(arr, i), path, where, &b->ops[i], o->err))) {
            return rc;
        }
    }
    return 0;
}

static int decode_hello(const struct jobj *o, struct agent_hello *h)
{
    static const char *const keys[] = {"type",  "version",         "min_version", "host",
                                       "vtep",  "vtep_prefix_len", "token",       "revision",
                                       "epoch", "software",        NULL};
    uint64_t prefix;
    int rc;

    if ((rc = only_keys(o, keys)) ||
        (rc = get_u32(o, "version", true, 0, 1, VERSION_MAX, &h->version)) ||
        (rc = get_u32(o, "min_version", false, h->version, 1, h->version, &h->min_version)) ||
        (rc = get_chars(o, "host", true, h->host, sizeof h->host, false)) ||
        (rc = get_ip(o, "vtep", true, &h->vtep)) ||
        (rc = get_uint(o, "vtep_prefix_len", true, 0, 1, ip_addr_is_v4(&h->vtep) ? 32 : 128,
                       &prefix)) ||
        (rc = get_chars(o, "token", true, h->token, sizeof h->token, true)) ||
        (rc = get_uint(o, "revision", false, 0, 0, AGENT_PROTO_MAX_REVISION, &h->revision)) ||
        (rc = get_chars(o, "epoch", h->revision > 0, h->epoch, sizeof h->epoch, false)) ||
        (rc = get_chars(o, "software", false, h->software, sizeof h->software, false))) {
        return rc;
    }
    h->vtep_prefix_len = (uint8_t)prefix;
    return 0;
}

static int decode_welcome(const struct jobj *o, struct agent_welcome *w)
{
    static const char *const keys[] = {"type",     "version",      "epoch",   "resumed",
                                       "revision", "heartbeat_ms", "dead_ms", NULL};
    int rc;

    if ((rc = only_keys(o, keys)) ||
        (rc = get_u32(o, "version", true, 0, 1, VERSION_MAX, &w->version)) ||
        (rc = get_chars(o, "epoch", true, w->epoch, sizeof w->epoch, false)) ||
        (rc = get_bool(o, "resumed", true, false, &w->resumed)) ||
        (rc = get_uint(o, "revision", true, 0, 0, AGENT_PROTO_MAX_REVISION, &w->revision)) ||
        (rc = get_u32(o, "heartbeat_ms", true, 0, AGENT_PROTO_HEARTBEAT_MIN_MS,
                      AGENT_PROTO_HEARTBEAT_MAX_MS, &w->heartbeat_ms)) ||
        (rc = get_u32(o, "dead_ms", true, 0, 0, AGENT_PROTO_DEAD_MAX_MS, &w->dead_ms))) {
        return rc;
    }
    return 0;
}

/* Counts JSON values (roughly: separators and openings outside strings) before the
 * parser allocates anything for them. */
static size_t count_values(const uint8_t *p, size_t n)
{
    size_t count = 1;
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

static int decode_root(json_t *root, struct agent_msg *m, struct agent_proto_error *err)
{
    struct jobj o = {root, "", err};
    const char *type;
    size_t len;
    char q[QUOTE_LEN];
    int rc;

    if (!json_is_object(root)) {
        return fail(err, AGENT_PROTO_ERR_JSON, NULL, "not a JSON object");
    }
    if ((rc = get_string(&o, "type", true, &type, &len))) {
        return rc;
    }
    unsigned t = 0;
    while (t < AGENT_MSG_TYPE_COUNT && strcmp(msg_names[t], type) != 0) {
        t++;
    }
    if (t == AGENT_MSG_TYPE_COUNT) {
        return fail(err, AGENT_PROTO_ERR_UNKNOWN_TYPE, "type", "unknown message type %s",
                    quote_n(type, len, q));
    }
    m->type = (enum agent_msg_type)t;
    switch (m->type) {
    case AGENT_MSG_HELLO:
        return decode_hello(&o, &m->hello);
    case AGENT_MSG_WELCOME:
        return decode_welcome(&o, &m->welcome);
    case AGENT_MSG_HEARTBEAT: {
        static const char *const keys[] = {"type", "revision", NULL};
        return (rc = only_keys(&o, keys))
                   ? rc
                   : get_uint(&o, "revision", true, 0, 0, AGENT_PROTO_MAX_REVISION,
                              &m->heartbeat.revision);
    }
    case AGENT_MSG_ERROR: {
        static const char *const keys[] = {"type", "code", "message", NULL};
        unsigned code = AGENT_ERR_INTERNAL; /* set by get_enum(); -O3 cannot tell */
        if ((rc = only_keys(&o, keys)) ||
            (rc = get_enum(&o, "code", true, 0, error_code_names, AGENT_ERR_CODE_COUNT, &code)) ||
            (rc = get_chars(&o, "message", false, m->error.message, sizeof m->error.message,
                            false))) {
            return rc;
        }
        m->error.code = (enum agent_error_code)code;
        return 0;
    }
    default:
        return decode_batch(&o, m);
    }
}

int agent_msg_decode(const void *body, size_t len, struct agent_msg *m,
                     struct agent_proto_error *err)
{
    struct agent_proto_error local;
    json_error_t jerr;
    char q[QUOTE_LEN];
    int rc;

    if (!err) {
        err = &local;
    }
    clear_error(err);
    memset(m, 0, sizeof *m);
    if (len == 0) {
        return fail(err, AGENT_PROTO_ERR_JSON, NULL, "empty message");
    }
    if (len > AGENT_PROTO_MAX_MSG) {
        return fail(err, AGENT_PROTO_ERR_OVERSIZE, NULL, "message of %zu bytes, at most %u", len,
                    AGENT_PROTO_MAX_MSG);
    }
    if (count_values(body, len) > AGENT_PROTO_MAX_VALUES) {
        return fail(err, AGENT_PROTO_ERR_JSON, NULL, "more than %u JSON values",
                    AGENT_PROTO_MAX_VALUES);
    }
    /* No JSON_DECODE_ANY (objects only), no JSON_ALLOW_NUL (C strings stay whole),
     * no JSON_DISABLE_EOF_CHECK (nothing may follow the object). */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            return fail(err, AGENT_PROTO_ERR_NOMEM, NULL, "out of memory parsing JSON");
        }
        /* jansson's text may quote the input: escape it like any peer bytes. */
        return fail(err, AGENT_PROTO_ERR_JSON, NULL, "bad JSON at byte %d: %s", jerr.position,
                    quote(jerr.text, q));
    }
    rc = decode_root(root, m, err);
    json_decref(root);
    if (!rc) {
        rc = agent_msg_check(m, err);
    }
    if (rc) {
        agent_msg_free(m);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

/* ---- Encoding ------------------------------------------------------------------ */

/* Builders record the first allocation failure in *ok instead of checking each call. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new(obj, key, value) != 0) {
        *ok = false;
    }
}

static json_t *ip_json(const struct ip_addr *ip)
{
    char text[IP_ADDR_STRLEN];
    return json_string(ip_addr_format(ip, text));
}

static json_t *mac_json(const struct eth_addr *mac)
{
    char text[ETH_ADDR_STRLEN];
    return json_string(eth_addr_format(mac->bytes, text));
}

static json_t *ip_list_json(const struct ip_addr *a, uint32_t n, bool *ok)
{
    json_t *arr = json_array();

    for (uint32_t i = 0; arr && i < n; i++) {
        json_t *v = ip_json(&a[i]);
        if (!v || json_array_append_new(arr, v) != 0) {
            *ok = false;
        }
    }
    return arr;
}

/* Canonical "1-10,20": ascending, ranges merged. */
static json_t *vlans_json(const uint8_t *bitmap)
{
    char *text = malloc(VLANS_TEXT_MAX);
    size_t o = 0;
    json_t *j;

    if (!text) {
        return NULL;
    }
    for (unsigned v = 1; v <= AGENT_PROTO_VLAN_MAX; v++) {
        if (!vlan_bit(bitmap, v)) {
            continue;
        }
        unsigned hi = v;
        while (hi < AGENT_PROTO_VLAN_MAX && vlan_bit(bitmap, hi + 1)) {
            hi++;
        }
        int n = hi == v ? snprintf(text + o, VLANS_TEXT_MAX - o, "%s%u", o ? "," : "", v)
                        : snprintf(text + o, VLANS_TEXT_MAX - o, "%s%u-%u", o ? "," : "", v, hi);
        o += (size_t)n;
        v = hi;
    }
    text[o] = '\0';
    j = json_string(text);
    free(text);
    return j;
}

static json_t *op_json(const struct agent_op *op, bool *ok)
{
    json_t *j = json_object();

    if (!j) {
        *ok = false;
        return NULL;
    }
    put(j, "op", json_string(op_descs[op->type].name), ok);
    switch (op->type) {
    case AGENT_OP_SEGMENT_SET: {
        const struct agent_segment *s = &op->segment;
        put(j, "vni", json_integer(s->vni), ok);
        put(j, "vlan", json_integer(s->vlan), ok);
        put(j, "bum", json_string(bum_names[s->bum]), ok);
        if (s->bum == AGENT_BUM_MULTICAST) {
            put(j, "group", ip_json(&s->group), ok);
        }
        if (s->bum == AGENT_BUM_PROXY) {
            put(j, "proxies", ip_list_json(s->proxies, s->n_proxies, ok), ok);
            put(j, "replicas", ip_list_json(s->replicas, s->n_replicas, ok), ok);
        }
        put(j, "arp_suppression", json_boolean(s->arp_suppression), ok);
        put(j, "allow_inner_vlan", json_boolean(s->allow_inner_vlan), ok);
        break;
    }
    case AGENT_OP_PORT_SET: {
        const struct agent_port *p = &op->port;
        put(j, "name", json_string(p->name), ok);
        put(j, "mode", json_string(mode_names[p->mode]), ok);
        if (p->mode == AGENT_PORT_ACCESS) {
            put(j, "segment", json_integer(p->segment), ok);
        } else {
            put(j, "vlans", vlans_json(p->vlans), ok);
            put(j, "native_vlan", json_integer(p->native_vlan), ok);
            put(j, "tpid", json_integer(p->tpid), ok);
        }
        put(j, "admin_up", json_boolean(p->admin_up), ok);
        put(j, "mtu", json_integer(p->mtu), ok);
        put(j, "learning", json_boolean(p->learning), ok);
        put(j, "mac_limit", json_integer(p->mac_limit), ok);
        put(j, "promiscuous", json_boolean(p->promiscuous), ok);
        put(j, "port_security", json_boolean(p->port_security), ok);
        json_t *arr = json_array();
        for (uint32_t i = 0; arr && i < p->n_bindings; i++) {
            json_t *b = json_object();
            if (b) {
                put(b, "mac", mac_json(&p->bindings[i].mac), ok);
                if (!ip_addr_is_zero(&p->bindings[i].ip)) {
                    put(b, "ip", ip_json(&p->bindings[i].ip), ok);
                }
            }
            if (!b || json_array_append_new(arr, b) != 0) {
                *ok = false;
            }
        }
        put(j, "bindings", arr, ok);
        break;
    }
    case AGENT_OP_PORT_STATE:
        put(j, "port", json_string(op->port_state.port), ok);
        put(j, "up", json_boolean(op->port_state.up), ok);
        if (op->port_state.reason[0]) {
            put(j, "reason", json_string(op->port_state.reason), ok);
        }
        break;
    default: {
        const struct agent_entry *e = &op->entry;
        unsigned f = op_descs[op->type].fields;
        if (f & F_VNI) {
            put(j, "vni", json_integer(e->vni), ok);
        }
        if (f & F_PORT) {
            put(j, "port", json_string(e->port), ok);
        }
        if (f & F_NAME) {
            put(j, "name", json_string(e->port), ok);
        }
        if (f & F_IP) {
            put(j, "ip", ip_json(&e->ip), ok);
        }
        if (f & F_MAC) {
            put(j, "mac", mac_json(&e->mac), ok);
        }
        if (f & F_VTEP) {
            put(j, "vtep", ip_json(&e->vtep), ok);
        }
        break;
    }
    }
    return j;
}

static json_t *msg_json(const struct agent_msg *m, bool *ok)
{
    json_t *j = json_object();

    if (!j) {
        *ok = false;
        return NULL;
    }
    put(j, "type", json_string(msg_names[m->type]), ok);
    switch (m->type) {
    case AGENT_MSG_HELLO: {
        const struct agent_hello *h = &m->hello;
        put(j, "version", json_integer(h->version), ok);
        put(j, "min_version", json_integer(h->min_version), ok);
        put(j, "host", json_string(h->host), ok);
        put(j, "vtep", ip_json(&h->vtep), ok);
        put(j, "vtep_prefix_len", json_integer(h->vtep_prefix_len), ok);
        put(j, "token", json_string(h->token), ok);
        put(j, "revision", json_integer((json_int_t)h->revision), ok);
        if (h->revision) {
            put(j, "epoch", json_string(h->epoch), ok);
        }
        if (h->software[0]) {
            put(j, "software", json_string(h->software), ok);
        }
        break;
    }
    case AGENT_MSG_WELCOME: {
        const struct agent_welcome *w = &m->welcome;
        put(j, "version", json_integer(w->version), ok);
        put(j, "epoch", json_string(w->epoch), ok);
        put(j, "resumed", json_boolean(w->resumed), ok);
        put(j, "revision", json_integer((json_int_t)w->revision), ok);
        put(j, "heartbeat_ms", json_integer(w->heartbeat_ms), ok);
        put(j, "dead_ms", json_integer(w->dead_ms), ok);
        break;
    }
    case AGENT_MSG_SNAPSHOT:
    case AGENT_MSG_UPDATE:
    case AGENT_MSG_REPORT: {
        const struct agent_batch *b = &m->batch;
        if (m->type == AGENT_MSG_REPORT) {
            put(j, "full", json_boolean(b->full), ok);
            put(j, "more", json_boolean(b->more), ok);
        } else {
            put(j, "revision", json_integer((json_int_t)b->revision), ok);
            if (m->type == AGENT_MSG_SNAPSHOT) {
                put(j, "more", json_boolean(b->more), ok);
            }
        }
        json_t *arr = json_array();
        for (uint32_t i = 0; arr && i < b->n_ops && *ok; i++) {
            json_t *op = op_json(&b->ops[i], ok);
            if (!op || json_array_append_new(arr, op) != 0) {
                *ok = false;
            }
        }
        put(j, "ops", arr, ok);
        break;
    }
    case AGENT_MSG_HEARTBEAT:
        put(j, "revision", json_integer((json_int_t)m->heartbeat.revision), ok);
        break;
    case AGENT_MSG_ERROR:
        put(j, "code", json_string(error_code_names[m->error.code]), ok);
        put(j, "message", json_string(m->error.message), ok);
        break;
    default:
        *ok = false;
        break;
    }
    return j;
}

int agent_msg_encode(const struct agent_msg *m, size_t max_msg, uint8_t **frame, size_t *frame_len,
                     struct agent_proto_error *err)
{
    struct agent_proto_error local;
    bool ok = true;
    int rc;

    if (!err) {
        err = &local;
    }
    *frame = NULL;
    *frame_len = 0;
    if (max_msg == 0 || max_msg > AGENT_PROTO_MAX_MSG) {
        max_msg = AGENT_PROTO_MAX_MSG;
    }
    if ((rc = agent_msg_check(m, err))) {
        return rc;
    }
    json_t *root = msg_json(m, &ok);
    if (!ok) {
        json_decref(root);
        return fail(err, AGENT_PROTO_ERR_NOMEM, NULL, "out of memory encoding %s",
                    msg_names[m->type]);
    }
    size_t len = json_dumpb(root, NULL, 0, DUMP_FLAGS);
    if (len == 0) {
        json_decref(root);
        return fail(err, AGENT_PROTO_ERR_NOMEM, NULL, "out of memory encoding %s",
                    msg_names[m->type]);
    }
    if (len > max_msg) {
        json_decref(root);
        return fail(err, AGENT_PROTO_ERR_OVERSIZE, NULL,
                    "%s of %zu bytes is over the limit of %zu: split it", msg_names[m->type], len,
                    max_msg);
    }
    uint8_t *buf = malloc(AGENT_PROTO_HEADER_LEN + len);
    if (!buf) {
        json_decref(root);
        return fail(err, AGENT_PROTO_ERR_NOMEM, NULL, "out of memory encoding %s",
                    msg_names[m->type]);
    }
    size_t written = json_dumpb(root, (char *)buf + AGENT_PROTO_HEADER_LEN, len, DUMP_FLAGS);
    json_decref(root);
    WEFT_ASSERT(written == len);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    *frame = buf;
    *frame_len = AGENT_PROTO_HEADER_LEN + len;
    clear_error(err);
    return 0;
}

/* ---- Equality ----------------------------------------------------------------- */

static bool segment_equal(const struct agent_segment *a, const struct agent_segment *b)
{
    if (a->vni != b->vni || a->vlan != b->vlan || a->bum != b->bum ||
        a->arp_suppression != b->arp_suppression || a->allow_inner_vlan != b->allow_inner_vlan) {
        return false;
    }
    if (a->bum == AGENT_BUM_MULTICAST) {
        return ip_addr_equal(&a->group, &b->group);
    }
    if (a->bum != AGENT_BUM_PROXY) {
        return true;
    }
    return a->n_proxies == b->n_proxies && a->n_replicas == b->n_replicas &&
           (!a->n_proxies || !memcmp(a->proxies, b->proxies, a->n_proxies * sizeof *a->proxies)) &&
           (!a->n_replicas ||
            !memcmp(a->replicas, b->replicas, a->n_replicas * sizeof *a->replicas));
}

static bool port_equal(const struct agent_port *a, const struct agent_port *b)
{
    if (strcmp(a->name, b->name) || a->mode != b->mode || a->admin_up != b->admin_up ||
        a->mtu != b->mtu || a->learning != b->learning || a->mac_limit != b->mac_limit ||
        a->promiscuous != b->promiscuous || a->port_security != b->port_security ||
        a->n_bindings != b->n_bindings) {
        return false;
    }
    for (uint32_t i = 0; i < a->n_bindings; i++) {
        if (memcmp(a->bindings[i].mac.bytes, b->bindings[i].mac.bytes, ETH_ADDR_LEN) ||
            !ip_addr_equal(&a->bindings[i].ip, &b->bindings[i].ip)) {
            return false;
        }
    }
    if (a->mode == AGENT_PORT_ACCESS) {
        return a->segment == b->segment;
    }
    return !memcmp(a->vlans, b->vlans, sizeof a->vlans) && a->native_vlan == b->native_vlan &&
           a->tpid == b->tpid;
}

static bool op_equal(const struct agent_op *a, const struct agent_op *b)
{
    if (a->type != b->type || (unsigned)a->type >= AGENT_OP_TYPE_COUNT) {
        return false;
    }
    switch (a->type) {
    case AGENT_OP_SEGMENT_SET:
        return segment_equal(&a->segment, &b->segment);
    case AGENT_OP_PORT_SET:
        return port_equal(&a->port, &b->port);
    case AGENT_OP_PORT_STATE:
        return !strcmp(a->port_state.port, b->port_state.port) &&
               a->port_state.up == b->port_state.up &&
               !strcmp(a->port_state.reason, b->port_state.reason);
    default: {
        unsigned f = op_descs[a->type].fields;
        const struct agent_entry *x = &a->entry, *y = &b->entry;
        return (!(f & F_VNI) || x->vni == y->vni) &&
               (!(f & F_MAC) || !memcmp(x->mac.bytes, y->mac.bytes, ETH_ADDR_LEN)) &&
               (!(f & F_VTEP) || ip_addr_equal(&x->vtep, &y->vtep)) &&
               (!(f & F_IP) || ip_addr_equal(&x->ip, &y->ip)) &&
               (!(f & (F_PORT | F_NAME)) || !strcmp(x->port, y->port));
    }
    }
}

bool agent_msg_equal(const struct agent_msg *a, const struct agent_msg *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case AGENT_MSG_HELLO: {
        const struct agent_hello *x = &a->hello, *y = &b->hello;
        return x->version == y->version && x->min_version == y->min_version &&
               !strcmp(x->host, y->host) && ip_addr_equal(&x->vtep, &y->vtep) &&
               x->vtep_prefix_len == y->vtep_prefix_len && !strcmp(x->token, y->token) &&
               x->revision == y->revision && !strcmp(x->epoch, y->epoch) &&
               !strcmp(x->software, y->software);
    }
    case AGENT_MSG_WELCOME: {
        const struct agent_welcome *x = &a->welcome, *y = &b->welcome;
        return x->version == y->version && !strcmp(x->epoch, y->epoch) &&
               x->resumed == y->resumed && x->revision == y->revision &&
               x->heartbeat_ms == y->heartbeat_ms && x->dead_ms == y->dead_ms;
    }
    case AGENT_MSG_SNAPSHOT:
    case AGENT_MSG_UPDATE:
    case AGENT_MSG_REPORT: {
        const struct agent_batch *x = &a->batch, *y = &b->batch;
        bool report = a->type == AGENT_MSG_REPORT;
        if ((!report && x->revision != y->revision) || (report && x->full != y->full) ||
            (a->type != AGENT_MSG_UPDATE && x->more != y->more) || x->n_ops != y->n_ops) {
            return false;
        }
        for (uint32_t i = 0; i < x->n_ops; i++) {
            if (!op_equal(&x->ops[i], &y->ops[i])) {
                return false;
            }
        }
        return true;
    }
    case AGENT_MSG_HEARTBEAT:
        return a->heartbeat.revision == b->heartbeat.revision;
    case AGENT_MSG_ERROR:
        return a->error.code == b->error.code && !strcmp(a->error.message, b->error.message);
    default:
        return false;
    }
}

/* ---- Frame decoder ------------------------------------------------------------- */

void agent_proto_decoder_init(struct agent_proto_decoder *d, size_t max_msg)
{
    memset(d, 0, sizeof *d);
    d->max_msg = max_msg == 0 || max_msg > AGENT_PROTO_MAX_MSG ? AGENT_PROTO_MAX_MSG : max_msg;
}

void agent_proto_decoder_destroy(struct agent_proto_decoder *d)
{
    if (d) {
        free(d->buf);
        d->buf = NULL;
        d->buf_cap = 0;
    }
}

size_t agent_proto_decoder_pending(const struct agent_proto_decoder *d)
{
    return d->header_have + d->body_have;
}

static int decoder_fail(struct agent_proto_decoder *d, int rc, struct agent_proto_error *err)
{
    d->error = rc;
    d->last_error = *err;
    return rc;
}

int agent_proto_decoder_feed(struct agent_proto_decoder *d, const uint8_t *data, size_t len,
                             size_t *consumed, struct agent_msg *m, struct agent_proto_error *err)
{
    struct agent_proto_error local;
    size_t used = 0;
    int rc;

    if (!err) {
        err = &local;
    }
    clear_error(err);
    memset(m, 0, sizeof *m);
    *consumed = 0;
    if (d->error) {
        *err = d->last_error;
        return d->error;
    }
    while (d->header_have < AGENT_PROTO_HEADER_LEN && used < len) {
        d->header[d->header_have++] = data[used++];
        if (d->header_have == AGENT_PROTO_HEADER_LEN) {
            d->body_len = (uint32_t)d->header[0] << 24 | (uint32_t)d->header[1] << 16 |
                          (uint32_t)d->header[2] << 8 | d->header[3];
            d->body_have = 0;
            /* Judged on the header alone: nothing of an oversize body is ever read. */
            if (d->body_len == 0) {
                *consumed = used;
                return decoder_fail(d,
                                    fail(err, AGENT_PROTO_ERR_JSON, NULL,
                                         "empty message (length 0) after %llu messages",
                                         (unsigned long long)d->frames),
                                    err);
            }
            if (d->body_len > d->max_msg) {
                *consumed = used;
                return decoder_fail(d,
                                    fail(err, AGENT_PROTO_ERR_OVERSIZE, NULL,
                                         "message of %u bytes is over the limit of %zu",
                                         d->body_len, d->max_msg),
                                    err);
            }
        }
    }
    if (d->header_have < AGENT_PROTO_HEADER_LEN) {
        *consumed = used;
        return EAGAIN;
    }

    size_t take = d->body_len - d->body_have;
    if (take > len - used) {
        take = len - used;
    }
    size_t need = (size_t)d->body_have + take;
    if (need > d->buf_cap) {
        /* Grow with what arrived, not with what was announced: a peer that announces
         * 4 MiB and sends 10 bytes costs 4 KiB. Doubling keeps copies linear. */
        size_t cap = d->buf_cap ? d->buf_cap * 2 : MIN_BUFFER;
        if (cap < need) {
            cap = need;
        }
        if (cap > d->body_len) {
            cap = d->body_len;
        }
        uint8_t *nb = realloc(d->buf, cap);
        if (!nb) {
            *consumed = used;
            return decoder_fail(d, fail(err, AGENT_PROTO_ERR_NOMEM, NULL, "out of memory"), err);
        }
        d->buf = nb;
        d->buf_cap = cap;
    }
    if (take) {
        memcpy(d->buf + d->body_have, data + used, take);
    }
    d->body_have += (uint32_t)take;
    used += take;
    *consumed = used;
    if (d->body_have < d->body_len) {
        return EAGAIN;
    }

    rc = agent_msg_decode(d->buf, d->body_len, m, err);
    d->frames++;
    d->header_have = 0;
    d->body_have = 0;
    d->body_len = 0;
    if (d->buf_cap > KEEP_BUFFER) {
        /* One 4 MiB snapshot must not pin 4 MiB for the rest of a quiet session. */
        free(d->buf);
        d->buf = NULL;
        d->buf_cap = 0;
    }
    return rc ? decoder_fail(d, rc, err) : 0;
}

int agent_proto_decoder_finish(struct agent_proto_decoder *d, struct agent_proto_error *err)
{
    struct agent_proto_error local;

    if (!err) {
        err = &local;
    }
    clear_error(err);
    if (d->error) {
        *err = d->last_error;
        return d->error;
    }
    if (d->header_have == 0) {
        return 0;
    }
    if (d->header_have < AGENT_PROTO_HEADER_LEN) {
        return decoder_fail(d,
                            fail(err, AGENT_PROTO_ERR_TRUNCATED, NULL,
                                 "stream ended inside a frame header (%u of %u bytes)",
                                 d->header_have, AGENT_PROTO_HEADER_LEN),
                            err);
    }
    return decoder_fail(d,
                        fail(err, AGENT_PROTO_ERR_TRUNCATED, NULL,
                             "stream ended %u bytes into a message of %u bytes", d->body_have,
                             d->body_len),
                        err);
}

/* ---- Session order ----------------------------------------------------------------- */

void agent_proto_session_init(struct agent_proto_session *s, enum agent_proto_role role)
{
    memset(s, 0, sizeof *s);
    s->role = role;
    s->up = AGENT_UP_HELLO;
    s->down = AGENT_DOWN_WELCOME;
}

/* Agent -> controller. */
static int session_up(struct agent_proto_session *s, const struct agent_msg *m,
                      struct agent_proto_error *err)
{
    const char *t = msg_names[m->type];

    if (s->up == AGENT_UP_CLOSED) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s after the agent's error message", t);
    }
    switch (m->type) {
    case AGENT_MSG_HELLO:
        if (s->up != AGENT_UP_HELLO) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "type", "a second hello");
        }
        s->hello_revision = m->hello.revision;
        s->hello_version = m->hello.version;
        s->hello_min_version = m->hello.min_version;
        s->up = AGENT_UP_WELCOME;
        return 0;
    case AGENT_MSG_ERROR:
        s->up = AGENT_UP_CLOSED;
        return 0;
    case AGENT_MSG_REPORT:
    case AGENT_MSG_HEARTBEAT:
        break;
    default:
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s is not an agent's message", t);
    }
    if (s->up == AGENT_UP_HELLO || s->up == AGENT_UP_WELCOME) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s before %s", t,
                    s->up == AGENT_UP_HELLO ? "the hello" : "the welcome");
    }
    if (m->type == AGENT_MSG_HEARTBEAT) {
        uint64_t rev = m->heartbeat.revision;
        if (s->up == AGENT_UP_FULL_MORE) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "type", "heartbeat inside a full report");
        }
        if (rev < s->agent_revision || rev > s->down_revision) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "revision",
                        "%llu: applied revisions go from %llu up to at most %llu, the last "
                        "one delivered",
                        (unsigned long long)rev, (unsigned long long)s->agent_revision,
                        (unsigned long long)s->down_revision);
        }
        s->agent_revision = rev;
        return 0;
    }
    if (!m->batch.full) {
        if (s->up != AGENT_UP_OPEN) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "full",
                        s->up == AGENT_UP_FULL_MORE ? "a delta report inside a full report"
                                                    : "the first report of a session is full");
        }
        return 0;
    }
    s->up = m->batch.more ? AGENT_UP_FULL_MORE : AGENT_UP_OPEN;
    return 0;
}

/* Controller -> agent. */
static int session_down(struct agent_proto_session *s, const struct agent_msg *m,
                        struct agent_proto_error *err)
{
    const char *t = msg_names[m->type];

    if (s->down == AGENT_DOWN_CLOSED) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s after the controller's error message",
                    t);
    }
    switch (m->type) {
    case AGENT_MSG_ERROR:
        s->down = AGENT_DOWN_CLOSED;
        return 0;
    case AGENT_MSG_WELCOME: {
        const struct agent_welcome *w = &m->welcome;
        if (s->down != AGENT_DOWN_WELCOME) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "type", "a second welcome");
        }
        if (s->up == AGENT_UP_HELLO) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "type", "welcome before the hello");
        }
        if (w->version < s->hello_min_version || w->version > s->hello_version) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "version",
                        "%u is outside the hello's versions %u-%u", w->version,
                        s->hello_min_version, s->hello_version);
        }
        if (w->resumed && (s->hello_revision == 0 || w->revision != s->hello_revision)) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "revision",
                        "resumed at %llu, but the hello had %llu", (unsigned long long)w->revision,
                        (unsigned long long)s->hello_revision);
        }
        s->version = w->version;
        s->down = w->resumed ? AGENT_DOWN_OPEN : AGENT_DOWN_SNAPSHOT;
        s->down_revision = w->resumed ? w->revision : 0;
        if (s->up == AGENT_UP_WELCOME) {
            s->up = AGENT_UP_FULL_REPORT;
        }
        return 0;
    }
    case AGENT_MSG_SNAPSHOT:
    case AGENT_MSG_UPDATE:
    case AGENT_MSG_HEARTBEAT:
        break;
    default:
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s is not a controller's message", t);
    }
    if (s->down == AGENT_DOWN_WELCOME) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s before the welcome", t);
    }
    uint64_t rev = m->type == AGENT_MSG_HEARTBEAT ? m->heartbeat.revision : m->batch.revision;
    if (m->type == AGENT_MSG_SNAPSHOT) {
        if (s->down == AGENT_DOWN_SNAPSHOT_MORE && rev != s->snapshot_rev) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "revision",
                        "%llu: every part of a snapshot has its first part's %llu",
                        (unsigned long long)rev, (unsigned long long)s->snapshot_rev);
        }
        if (s->down == AGENT_DOWN_OPEN && rev < s->down_revision) {
            return fail(err, AGENT_PROTO_ERR_ORDER, "revision",
                        "a new snapshot at %llu, behind revision %llu already delivered",
                        (unsigned long long)rev, (unsigned long long)s->down_revision);
        }
        s->snapshot_rev = rev;
        if (m->batch.more) {
            s->down = AGENT_DOWN_SNAPSHOT_MORE;
        } else {
            s->down = AGENT_DOWN_OPEN;
            s->down_revision = rev;
        }
        return 0;
    }
    if (s->down != AGENT_DOWN_OPEN) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "type", "%s %s", t,
                    s->down == AGENT_DOWN_SNAPSHOT ? "before the snapshot" : "inside a snapshot");
    }
    if (m->type == AGENT_MSG_UPDATE ? rev <= s->down_revision : rev < s->down_revision) {
        return fail(err, AGENT_PROTO_ERR_ORDER, "revision", "%s at %llu after revision %llu", t,
                    (unsigned long long)rev, (unsigned long long)s->down_revision);
    }
    s->down_revision = rev;
    return 0;
}

static int session_step(struct agent_proto_session *s, const struct agent_msg *m, bool upward,
                        struct agent_proto_error *err)
{
    struct agent_proto_error local;
    struct agent_proto_session next = *s;
    int rc;

    if (!err) {
        err = &local;
    }
    clear_error(err);
    if ((unsigned)m->type >= AGENT_MSG_TYPE_COUNT) {
        return fail(err, AGENT_PROTO_ERR_UNKNOWN_TYPE, "type", "unknown message type %d",
                    (int)m->type);
    }
    /* Worked on a copy: a refused message leaves the session as it was. */
    rc = upward ? session_up(&next, m, err) : session_down(&next, m, err);
    if (!rc) {
        *s = next;
    }
    return rc;
}

int agent_proto_session_send(struct agent_proto_session *s, const struct agent_msg *m,
                             struct agent_proto_error *err)
{
    return session_step(s, m, s->role == AGENT_PROTO_ROLE_AGENT, err);
}

int agent_proto_session_recv(struct agent_proto_session *s, const struct agent_msg *m,
                             struct agent_proto_error *err)
{
    return session_step(s, m, s->role == AGENT_PROTO_ROLE_CONTROLLER, err);
}
