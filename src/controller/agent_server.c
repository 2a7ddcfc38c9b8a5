/*
 * agent_server.c - the controller's side of the agent protocol
 * (docs/agent-protocol.md, "What the controller does").
 *
 * One libevent bufferevent per session. Bytes go through agent_proto's frame
 * decoder and session-order checker; every message sent is checked and
 * encoded by agent_proto too. The desired state and the learned tables come
 * from one store watch on "/" into agent_index; after each batch of store
 * events every session whose view the batch touched gets the difference
 * between the view it was sent and its view now, as one update at the
 * batch's revision (or a snapshot, should the difference not fit in one
 * message). The index computes that difference from what the batch changed
 * only, for a session whose sent view is the index's previous one ("synced");
 * others get a whole view compared. So the only state a session holds is the
 * view it was sent, and a host that comes back can resume from it.
 *
 * Hosts write to the store through reports: one transaction per report,
 * holding only what changed in /learned/<host>/..., and /hosts/<host> at
 * hello and at disconnect. Presence (connected, stale, withdrawn) lives here:
 * a gone host's entries and VTEP stay for stale_seconds, then its /learned
 * keys are deleted and /hosts/<host> rewritten in one transaction, so the
 * withdrawal reaches the other hosts at a store revision like every change.
 */
#include "controller/agent_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "controller/agent_index.h"
#include "controller/store.h"
#include "lib/log.h"
#include "proto/agent_proto.h"

/* Room for a whole cluster of hosts reconnecting at once (after a controller
 * restart): 1000 hellos must not overflow the accept queue (the kernel caps
 * it at net.core.somaxconn, 4096 by default). */
#define AGENT_SERVER_BACKLOG  4096
#define AGENT_SEND_QUEUE_MAX  (64u << 20) /* a session whose peer stops reading is closed */
#define AGENT_CLOSE_LINGER_MS 2000        /* time the last bytes get to leave before close */
#define AGENT_AUTH_DELAY_MS   100         /* first failed hello's delay; doubles per failure */
#define AGENT_AUTH_DELAY_MAX  30000
#define AGENT_AUTH_FORGET_S   900 /* a source's failures are forgotten after this long */
#define AGENT_AUTH_TABLE_MAX  4096
#define AGENT_FULL_REPORT_MAX (64u * AGENT_PROTO_MAX_OPS)  /* entries in one full report */
#define AGENT_PART_BUDGET     (AGENT_PROTO_MAX_MSG - 4096) /* room left for the envelope */
/* Store changes wait this long before the sessions get them, so that a burst
 * (hosts joining at once: each changes every member's VTEP list) becomes one
 * update per member rather than one per change. */
#define AGENT_SYNC_DELAY_MS 5

enum session_state {
    SESSION_HELLO,      /* waiting for the hello */
    SESSION_AUTH_DELAY, /* the hello failed authentication; the error goes after a delay */
    SESSION_WAIT_INDEX, /* hello written to the store; waiting for the index to show it */
    SESSION_OPEN,       /* welcomed and given its state */
    SESSION_CLOSING,    /* error sent; the last bytes are leaving */
};

struct agent_host;

struct agent_session {
    struct agent_session *next;
    struct agent_server *srv;
    struct bufferevent *bev;
    char peer[64];      /* "ADDR:PORT" */
    char peer_addr[48]; /* "ADDR", for the failed-attempt delay */
    enum session_state state;
    struct agent_proto_decoder dec;
    struct agent_proto_session ps;
    struct event *dead_timer; /* hello timeout, then dead_ms without input */
    struct event *hb_timer;   /* heartbeat_ms without output */
    struct event *aux_timer;  /* the delayed auth error, then the close linger */
    struct agent_host *host;  /* after a successful hello */
    struct agent_hello hello;
    uint64_t wait_rev;  /* SESSION_WAIT_INDEX: the revision of the hello's write */
    bool record_queued; /* SESSION_WAIT_INDEX: its /hosts record waits for the next write */
    json_t *sent;       /* the view the host was sent */
    uint64_t view_rev;  /* the revision at which sent last changed */
    bool pending;       /* sent differs from the index's view, waiting for a revision */
    bool synced;        /* sent is the host's view as of the index's last refresh */
    json_t *full;       /* a full report in parts: sub-key -> value */
    json_t *full_ports;
    time_t since;
};

struct agent_host {
    struct agent_host *next; /* in its bucket of srv->host_buckets */
    struct agent_server *srv;
    char id[AGENT_PROTO_HOST_MAX + 1];
    struct agent_session *session;
    /* The view of the last session, so that the next can resume from it. */
    json_t *saved_view;
    uint64_t saved_view_rev, saved_delivered;
    struct ip_addr saved_vtep;
    uint8_t saved_prefix;
    struct event *stale_timer;
    json_t *port_states; /* port -> {"up","reason"}, as last reported */
};

struct agent_server {
    struct event_base *base;
    struct store *store;
    struct agent_server_config cfg;
    char *token;
    struct evconnlistener *listener;
    struct store_watch *watch;
    struct agent_index *idx;
    uint64_t index_rev;       /* the revision the index was last refreshed at (sessions have it) */
    uint64_t applied_rev;     /* the last revision applied to the index, refreshed or not */
    struct event *sync_timer; /* refreshes the index and syncs the sessions */
    struct event *record_timer; /* writes the queued hellos' /hosts records */
    struct agent_session *sessions;
    struct agent_host **host_buckets; /* hash table of the hosts by id */
    size_t n_buckets, n_hosts;
    json_t *auth_failures; /* address -> [failures, time of the last] */
    bool stopping;
};

static void session_close(struct agent_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void agent_server_config_default(struct agent_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = "0.0.0.0:7443";
    cfg->heartbeat_ms = AGENT_PROTO_HEARTBEAT_MS;
    cfg->dead_ms = AGENT_PROTO_DEAD_MS;
    cfg->stale_seconds = 120;
}

static void rfc3339(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void timer_ms(struct event *ev, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* ---- Hosts -------------------------------------------------------------------- */

/* FNV-1a of a host id: its bucket. */
static size_t host_bucket(const struct agent_server *srv, const char *id)
{
    uint64_t x = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        x = (x ^ *p) * 1099511628211ull;
    }
    return (size_t)(x % srv->n_buckets);
}

static struct agent_host *host_find(const struct agent_server *srv, const char *id)
{
    if (!srv->n_buckets) {
        return NULL;
    }
    for (struct agent_host *h = srv->host_buckets[host_bucket(srv, id)]; h; h = h->next) {
        if (strcmp(h->id, id) == 0) {
            return h;
        }
    }
    return NULL;
}

/* Room for one more host: the table doubles when it holds one per bucket. */
static int hosts_reserve(struct agent_server *srv)
{
    if (srv->n_hosts < srv->n_buckets) {
        return 0;
    }
    size_t old_n = srv->n_buckets, n = old_n ? 2 * old_n : 64;
    struct agent_host **old = srv->host_buckets, **b = calloc(n, sizeof *b);
    if (!b) {
        return ENOMEM;
    }
    srv->host_buckets = b;
    srv->n_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        for (struct agent_host *h = old[i], *next; h; h = next) {
            next = h->next;
            size_t k = host_bucket(srv, h->id);
            h->next = b[k];
            b[k] = h;
        }
    }
    free(old);
    return 0;
}

static void host_stale_expired(evutil_socket_t fd, short what, void *ctx);

static struct agent_host *host_get(struct agent_server *srv, const char *id)
{
    struct agent_host *h = host_find(srv, id);

    if (h) {
        return h;
    }
    h = hosts_reserve(srv) == 0 ? calloc(1, sizeof *h) : NULL;
    if (!h) {
        return NULL;
    }
    h->srv = srv;
    snprintf(h->id, sizeof h->id, "%s", id);
    h->stale_timer = evtimer_new(srv->base, host_stale_expired, h);
    h->port_states = json_object();
    if (!h->stale_timer || !h->port_states) {
        if (h->stale_timer) {
            event_free(h->stale_timer);
        }
        json_decref(h->port_states);
        free(h);
        return NULL;
    }
    size_t k = host_bucket(srv, id);
    h->next = srv->host_buckets[k];
    srv->host_buckets[k] = h;
    srv->n_hosts++;
    return h;
}

static void host_free(struct agent_host *h)
{
    struct agent_host **pp = &h->srv->host_buckets[host_bucket(h->srv, h->id)];

    while (*pp != h) {
        pp = &(*pp)->next;
    }
    *pp = h->next;
    h->srv->n_hosts--;
    event_free(h->stale_timer);
    json_decref(h->saved_view);
    json_decref(h->port_states);
    free(h);
}

/* The /hosts/<id> value for a host now (registered kept from its record). */
static char *host_record(struct agent_server *srv, const char *id, const struct agent_hello *hello,
                         time_t now)
{
    const json_t *old = agent_index_host(srv->idx, id);
    char stamp[32], vtep[IP_ADDR_STRLEN];
    json_t *v;

    rfc3339(now, stamp, sizeof stamp);
    if (hello) {
        const char *registered = json_string_value(json_object_get(old, "registered"));
        v = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "id", id, "vtep",
                      ip_addr_format(&hello->vtep, vtep), "vtep_prefix_len",
                      (int)hello->vtep_prefix_len, "software", hello->software, "registered",
                      registered ? registered : stamp, "last_seen", stamp);
    } else {
        v = json_deep_copy(old);
        if (v) {
            json_object_set_new(v, "last_seen", json_string(stamp));
        }
    }
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(v);
    return text;
}

static int put_host_record(struct agent_server *srv, const char *id, const char *value,
                           uint64_t *rev)
{
    char key[sizeof "/hosts/" + AGENT_PROTO_HOST_MAX];
    snprintf(key, sizeof key, "/hosts/%s", id);
    int rc = store_put(srv->store, key, value, rev);
    if (rc) {
        log_error("agent server: cannot write %s: %s", key, store_errmsg(srv->store));
    }
    return rc;
}

/* A host's session ended: keep its entries for the stale time, say when it
 * was last seen (which also stamps a revision for the proxy re-pick). */
static void host_disconnected(struct agent_host *h)
{
    struct agent_server *srv = h->srv;

    agent_index_set_presence(srv->idx, h->id, AGENT_PRESENCE_STALE);
    timer_ms(h->stale_timer, srv->cfg.stale_seconds * 1000u);
    if (srv->stopping || !agent_index_host(srv->idx, h->id)) {
        return;
    }
    char *value = host_record(srv, h->id, NULL, time(NULL));
    if (value) {
        put_host_record(srv, h->id, value, NULL);
    }
    free(value);
}

static void host_stale_expired(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_host *h = ctx;
    struct agent_server *srv = h->srv;
    char prefix[sizeof "/learned//" + AGENT_PROTO_HOST_MAX];
    char key[sizeof "/hosts/" + AGENT_PROTO_HOST_MAX];
    const json_t *rec = agent_index_host(srv->idx, h->id);
    char *value = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    (void)fd;
    (void)what;
    log_info("agent server: host %s gone for %u s: its entries are withdrawn", h->id,
             srv->cfg.stale_seconds);
    agent_index_set_presence(srv->idx, h->id, AGENT_PRESENCE_ABSENT);
    json_object_clear(h->port_states);
    snprintf(prefix, sizeof prefix, "/learned/%s/", h->id);
    snprintf(key, sizeof key, "/hosts/%s", h->id);
    /* Rewriting the host's record makes a revision even when it learned
     * nothing, at which the others get their vtep_del. */
    struct store_op ops[2] = {{.type = STORE_OP_DELETE_PREFIX, .key = prefix},
                              {.type = STORE_OP_PUT, .key = key, .value = value}};
    struct store_txn txn = {.ops = ops, .n_ops = value ? 2 : 1};
    if (store_txn(srv->store, &txn, NULL) != 0) {
        log_error("agent server: cannot withdraw host %s: %s", h->id, store_errmsg(srv->store));
    }
    free(value);
}

/* ---- Sending ---------------------------------------------------------------- */

static void session_free_cb(evutil_socket_t fd, short what, void *ctx);

/* Queues a frame that the session order allows (the message's header: type,
 * revision, more), and re-arms the heartbeat. */
static int session_queue(struct agent_session *s, const struct agent_msg *header,
                         const uint8_t *frame, size_t len)
{
    struct agent_proto_error err;
    int rc;

    if ((rc = agent_proto_session_send(&s->ps, header, &err))) {
        log_error("agent server: session %s (%s): cannot send %s: %s", s->hello.host, s->peer,
                  agent_msg_type_name(header->type), err.text);
        return rc;
    }
    rc = bufferevent_write(s->bev, frame, len) == 0 ? 0 : ENOMEM;
    if (rc == 0 && header->type != AGENT_MSG_ERROR) {
        timer_ms(s->hb_timer, s->srv->cfg.heartbeat_ms);
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > AGENT_SEND_QUEUE_MAX) {
            return ENOBUFS;
        }
    }
    return rc;
}

/* Checks m, encodes and queues it. */
static int session_send(struct agent_session *s, const struct agent_msg *m)
{
    struct agent_proto_error err;
    uint8_t *frame = NULL;
    size_t len;
    int rc;

    if ((rc = agent_msg_encode(m, 0, &frame, &len, &err))) {
        log_error("agent server: session %s (%s): cannot send %s: %s", s->hello.host, s->peer,
                  agent_msg_type_name(m->type), err.text);
        return rc;
    }
    rc = session_queue(s, m, frame, len);
    free(frame);
    return rc;
}

/* Sends a snapshot part or an update whose ops the index built in wire form:
 * the JSON is written once, straight into the frame (a round trip through
 * agent_msg would write, parse and write it again for every host). Debug
 * builds (the tests) decode every such frame, which checks it as
 * agent_msg_encode() would. EMSGSIZE when it is over the message limit. */
static int session_send_ops(struct agent_session *s, enum agent_msg_type type, uint64_t rev,
                            bool more, json_t *ops)
{
    struct agent_msg header;
    json_t *msg =
        type == AGENT_MSG_SNAPSHOT
            ? json_pack("{s:s,s:I,s:b,s:O}", "type", "snapshot", "revision", (json_int_t)rev,
                        "more", more, "ops", ops)
            : json_pack("{s:s,s:I,s:O}", "type", "update", "revision", (json_int_t)rev, "ops", ops);
    size_t len = msg ? json_dumpb(msg, NULL, 0, JSON_COMPACT) : 0;
    uint8_t *frame =
        len && len <= AGENT_PROTO_MAX_MSG ? malloc(AGENT_PROTO_HEADER_LEN + len) : NULL;
    int rc = 0;

    if (!frame) {
        rc = len > AGENT_PROTO_MAX_MSG ? EMSGSIZE : ENOMEM;
        goto out;
    }
    json_dumpb(msg, (char *)frame + AGENT_PROTO_HEADER_LEN, len, JSON_COMPACT);
    for (int i = 0; i < 4; i++) {
        frame[i] = (uint8_t)(len >> (24 - 8 * i));
    }
#ifndef NDEBUG
    struct agent_proto_error err;
    struct agent_msg check;
    if ((rc = agent_msg_decode(frame + AGENT_PROTO_HEADER_LEN, len, &check, &err))) {
        log_error("agent server: session %s (%s): built an invalid message: %s", s->hello.host,
                  s->peer, err.text);
        goto out;
    }
    agent_msg_free(&check);
#endif
    agent_msg_init(&header, type);
    header.batch.revision = rev;
    header.batch.more = more;
    header.batch.n_ops = (uint32_t)json_array_size(ops);
    rc = session_queue(s, &header, frame, AGENT_PROTO_HEADER_LEN + len);
out:
    free(frame);
    json_decref(msg);
    return rc;
}

static int send_heartbeat(struct agent_session *s, uint64_t rev)
{
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_HEARTBEAT);
    m.heartbeat.revision = rev;
    return session_send(s, &m);
}

/* The view as snapshot parts of at most AGENT_PROTO_MAX_OPS ops and 4 MiB,
 * each made when it goes (a whole view's ops at once would cost the memory
 * of many views). */
static int send_snapshot(struct agent_session *s, const json_t *view, uint64_t rev)
{
    json_t *empty = agent_view_empty();
    size_t i = 0; /* ops sent */
    bool more = true;
    int rc = empty ? 0 : ENOMEM;

    while (rc == 0 && more) {
        /* One op beyond a part tells whether another part follows. */
        json_t *ops = agent_view_diff_part(empty, view, i, AGENT_PROTO_MAX_OPS + 1);
        json_t *part = json_array();
        size_t n = json_array_size(ops), taken = 0, bytes = 0;
        while (ops && part && taken < n && taken < AGENT_PROTO_MAX_OPS) {
            json_t *op = json_array_get(ops, taken);
            /* Its size without writing it (the comma after it counted). */
            size_t len = json_dumpb(op, NULL, 0, JSON_COMPACT) + 1;
            if (taken > 0 && bytes + len > AGENT_PART_BUDGET) {
                break;
            }
            bytes += len;
            json_array_append(part, op);
            taken++;
        }
        more = taken < n;
        i += taken;
        rc = ops && part ? session_send_ops(s, AGENT_MSG_SNAPSHOT, rev, more, part) : ENOMEM;
        json_decref(part);
        json_decref(ops);
    }
    json_decref(empty);
    return rc;
}

/* Brings the host's state to the index's view at revision rev: one update,
 * or a snapshot when the difference does not fit in one message. A synced
 * session gets the difference from what changed since the last refresh;
 * others compare their whole view. When the host already has rev (a change
 * without a store revision), the difference waits for the next one. */
static int session_sync(struct agent_session *s, uint64_t rev)
{
    struct agent_index *idx = s->srv->idx;
    json_t *view = s->synced ? NULL : agent_index_host_view(idx, s->hello.host);
    /* More ops than one update holds mean a snapshot: those are not made. */
    size_t max = AGENT_PROTO_MAX_OPS + 1;
    json_t *ops = s->synced ? agent_index_host_changes(idx, s->hello.host, s->sent, max)
                  : view    ? agent_view_diff_part(s->sent, view, 0, max)
                            : NULL;
    int rc = 0;

    if (!ops) {
        rc = ENOMEM;
        goto out;
    }
    if (json_array_size(ops) == 0) {
        s->pending = false;
        s->synced = true;
        goto out;
    }
    if (rev <= s->ps.down_revision) {
        /* sent stays as it is: the next sync compares the whole view. */
        s->pending = true;
        s->synced = false;
        goto out;
    }
    if (json_array_size(ops) > AGENT_PROTO_MAX_OPS) {
        rc = EMSGSIZE;
    } else {
        rc = session_send_ops(s, AGENT_MSG_UPDATE, rev, false, ops);
    }
    if (rc == EMSGSIZE) {
        /* Too big for one update: resync. */
        if (!view && !(view = agent_index_host_view(idx, s->hello.host))) {
            rc = ENOMEM;
            goto out;
        }
        rc = send_snapshot(s, view, rev);
    }
    if (rc == 0 || rc == ENOBUFS) {
        if (view) {
            json_decref(s->sent);
            s->sent = json_incref(view);
            s->synced = true;
        } else {
            /* What went out was computed from sent, so it applies. */
            s->synced = agent_view_apply(s->sent, ops) == 0;
        }
        s->view_rev = rev;
        s->pending = false;
    }
out:
    json_decref(ops);
    json_decref(view);
    return rc;
}

static void session_sync_or_close(struct agent_session *s, uint64_t rev)
{
    int rc = session_sync(s, rev);
    if (rc == ENOBUFS) {
        session_close(s, -1, "send queue over %u MiB: the host does not read",
                      AGENT_SEND_QUEUE_MAX >> 20);
    } else if (rc) {
        session_close(s, AGENT_ERR_INTERNAL, "cannot send the host its changes: %s", strerror(rc));
    }
}

/* ---- Closing -------------------------------------------------------------- */

static void session_unlink(struct agent_session *s)
{
    struct agent_session **pp = &s->srv->sessions;
    while (*pp && *pp != s) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = s->next;
    }
}

static void session_destroy(struct agent_session *s)
{
    session_unlink(s);
    bufferevent_free(s->bev);
    event_free(s->dead_timer);
    event_free(s->hb_timer);
    event_free(s->aux_timer);
    agent_proto_decoder_destroy(&s->dec);
    json_decref(s->sent);
    json_decref(s->full);
    json_decref(s->full_ports);
    free(s);
}

static void session_free_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    session_destroy(ctx);
}

static void session_drained(struct bufferevent *bev, void *ctx)
{
    (void)bev;
    session_destroy(ctx);
}

/* Detaches the session from its host, keeping what the host was sent so that
 * its next session can resume. */
static void session_detach(struct agent_session *s, bool replaced)
{
    struct agent_host *h = s->host;

    if (!h) {
        return;
    }
    s->host = NULL;
    h->session = NULL;
    if (s->sent && s->ps.down == AGENT_DOWN_OPEN) {
        json_decref(h->saved_view);
        h->saved_view = json_incref(s->sent);
        h->saved_view_rev = s->view_rev;
        h->saved_delivered = s->ps.down_revision;
        h->saved_vtep = s->hello.vtep;
        h->saved_prefix = s->hello.vtep_prefix_len;
    }
    if (!replaced) {
        host_disconnected(h);
    }
}

/* Logs why the session ends (once), sends the error code (unless code < 0:
 * the peer ended it, or cannot be told), and frees the session once its last
 * bytes are out. Safe to call from the session's callbacks: the session is
 * freed from the loop, never inside this call. */
static void session_close(struct agent_session *s, int code, const char *fmt, ...)
{
    char reason[AGENT_PROTO_TEXT_MAX + 1];
    va_list ap;

    if (s->state == SESSION_CLOSING) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    log_info("controller: session %s (%s) closed: %s%s%s", s->hello.host[0] ? s->hello.host : "-",
             s->peer, code >= 0 ? agent_error_code_name((enum agent_error_code)code) : "",
             code >= 0 ? ": " : "", reason);
    if (code >= 0) {
        struct agent_msg m;
        agent_msg_init(&m, AGENT_MSG_ERROR);
        m.error.code = (enum agent_error_code)code;
        snprintf(m.error.message, sizeof m.error.message, "%s", reason);
        session_send(s, &m);
    }
    session_detach(s, code == AGENT_ERR_REPLACED);
    s->state = SESSION_CLOSING;
    s->record_queued = false;
    evtimer_del(s->dead_timer);
    evtimer_del(s->hb_timer);
    evtimer_del(s->aux_timer);
    bufferevent_disable(s->bev, EV_READ);
    event_free(s->aux_timer);
    s->aux_timer = evtimer_new(s->srv->base, session_free_cb, s);
    if (!s->aux_timer) {
        /* Cannot wait for the bytes: free on the next loop turn regardless. */
        s->aux_timer = NULL;
    }
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 && s->aux_timer) {
        event_active(s->aux_timer, EV_TIMEOUT, 0);
        return;
    }
    bufferevent_setcb(s->bev, NULL, session_drained, NULL, s);
    if (s->aux_timer) {
        timer_ms(s->aux_timer, AGENT_CLOSE_LINGER_MS);
    }
}

/* ---- Hello ---------------------------------------------------------------- */

static bool token_equal(const char *given, const char *expected)
{
    size_t lg = strlen(given), le = strlen(expected);
    unsigned char diff = (unsigned char)(lg != le);

    /* Every byte of the expected token is compared whatever the input, so
     * the time taken says nothing about how much of it matched. */
    for (size_t i = 0; i < le; i++) {
        unsigned char g = i < lg ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)expected[i]);
    }
    return diff == 0;
}

static uint32_t auth_failed(struct agent_server *srv, const char *addr)
{
    time_t now = time(NULL);
    json_t *e = json_object_get(srv->auth_failures, addr);
    json_int_t n = 0;

    if (e && now - json_integer_value(json_array_get(e, 1)) < AGENT_AUTH_FORGET_S) {
        n = json_integer_value(json_array_get(e, 0));
    }
    if (!e && json_object_size(srv->auth_failures) >= AGENT_AUTH_TABLE_MAX) {
        json_object_clear(srv->auth_failures); /* bounded memory over precise delays */
    }
    n++;
    json_object_set_new(srv->auth_failures, addr, json_pack("[I,I]", n, (json_int_t)now));
    uint64_t delay = (uint64_t)AGENT_AUTH_DELAY_MS << (n - 1 < 20 ? n - 1 : 20);
    return delay > AGENT_AUTH_DELAY_MAX ? AGENT_AUTH_DELAY_MAX : (uint32_t)delay;
}

static void auth_delay_done(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_session *s = ctx;
    (void)fd;
    (void)what;
    session_close(s, AGENT_ERR_AUTH, "wrong join token for host %s", s->hello.host);
}

/* Welcome, then the difference from the previous session's view as an update
 * (resume) or the whole view as a snapshot. */
static void session_begin(struct agent_session *s)
{
    struct agent_server *srv = s->srv;
    struct agent_host *h = s->host;
    const struct agent_hello *hello = &s->hello;
    struct agent_msg m;
    int rc;

    bool resume = hello->revision > 0 && strcmp(hello->epoch, store_epoch(srv->store)) == 0 &&
                  h->saved_view && ip_addr_equal(&h->saved_vtep, &hello->vtep) &&
                  h->saved_prefix == hello->vtep_prefix_len &&
                  h->saved_view_rev <= hello->revision && hello->revision <= h->saved_delivered &&
                  hello->revision <= srv->index_rev;
    agent_msg_init(&m, AGENT_MSG_WELCOME);
    m.welcome.version = hello->version < AGENT_PROTO_VERSION ? hello->version : AGENT_PROTO_VERSION;
    snprintf(m.welcome.epoch, sizeof m.welcome.epoch, "%s", store_epoch(srv->store));
    m.welcome.resumed = resume;
    m.welcome.revision = resume ? hello->revision : 0;
    m.welcome.heartbeat_ms = srv->cfg.heartbeat_ms;
    m.welcome.dead_ms = srv->cfg.dead_ms;
    if ((rc = session_send(s, &m))) {
        session_close(s, AGENT_ERR_INTERNAL, "cannot send the welcome");
        return;
    }
    s->state = SESSION_OPEN;
    s->since = time(NULL);
    timer_ms(s->dead_timer, srv->cfg.dead_ms);
    if (resume) {
        s->sent = h->saved_view;
        s->view_rev = h->saved_view_rev;
        h->saved_view = NULL;
        log_info("agent server: host %s (%s) resumes from revision %llu", hello->host, s->peer,
                 (unsigned long long)hello->revision);
        session_sync_or_close(s, srv->index_rev);
        return;
    }
    json_t *view = agent_index_host_view(srv->idx, hello->host);
    rc = view ? send_snapshot(s, view, srv->index_rev) : ENOMEM;
    if (rc == 0 || rc == ENOBUFS) {
        s->sent = view;
        s->view_rev = srv->index_rev;
        s->synced = true; /* the view of the index's last refresh */
        view = NULL;
    }
    json_decref(view);
    if (rc == ENOBUFS) {
        session_close(s, -1, "send queue over %u MiB: the host does not read",
                      AGENT_SEND_QUEUE_MAX >> 20);
    } else if (rc) {
        session_close(s, AGENT_ERR_INTERNAL, "cannot send the snapshot: %s", strerror(rc));
    }
}

static void handle_hello(struct agent_session *s, const struct agent_msg *m)
{
    struct agent_server *srv = s->srv;
    const struct agent_hello *hello = &m->hello;
    char vtep[IP_ADDR_STRLEN];

    s->hello = *hello;
    if (!token_equal(hello->token, srv->token)) {
        uint32_t delay = auth_failed(srv, s->peer_addr);
        memset(s->hello.token, 0, sizeof s->hello.token);
        s->state = SESSION_AUTH_DELAY;
        bufferevent_disable(s->bev, EV_READ);
        evtimer_del(s->dead_timer);
        event_free(s->aux_timer);
        s->aux_timer = evtimer_new(srv->base, auth_delay_done, s);
        if (!s->aux_timer) {
            session_close(s, AGENT_ERR_AUTH, "wrong join token for host %s", hello->host);
            return;
        }
        timer_ms(s->aux_timer, delay);
        return;
    }
    memset(s->hello.token, 0, sizeof s->hello.token);
    json_object_del(srv->auth_failures, s->peer_addr);
    if (hello->min_version > AGENT_PROTO_VERSION) {
        session_close(s, AGENT_ERR_VERSION,
                      "the host speaks versions %u-%u, this controller version %u only",
                      hello->min_version, hello->version, AGENT_PROTO_VERSION);
        return;
    }
    struct agent_host *h = host_get(srv, hello->host);
    if (!h) {
        session_close(s, AGENT_ERR_INTERNAL, "out of memory");
        return;
    }
    if (h->session) {
        session_close(h->session, AGENT_ERR_REPLACED, "a newer session of %s from %s", hello->host,
                      s->peer);
    }
    h->session = s;
    s->host = h;
    evtimer_del(h->stale_timer);

    /* The record changes when the host is new, moved its VTEP or software, or
     * was not connected (so that others get its VTEP at a revision). */
    const json_t *rec = agent_index_host(srv->idx, hello->host);
    bool was_connected = agent_index_presence(srv->idx, hello->host) == AGENT_PRESENCE_CONNECTED;
    bool same =
        rec && was_connected &&
        strcmp(json_string_value(json_object_get(rec, "vtep")) ?: "",
               ip_addr_format(&hello->vtep, vtep)) == 0 &&
        json_integer_value(json_object_get(rec, "vtep_prefix_len")) == hello->vtep_prefix_len &&
        strcmp(json_string_value(json_object_get(rec, "software")) ?: "", hello->software) == 0;
    agent_index_set_presence(srv->idx, hello->host, AGENT_PRESENCE_CONNECTED);
    s->state = SESSION_WAIT_INDEX;
    s->wait_rev = srv->index_rev;
    if (!same) {
        /* Written with the other hellos of this loop turn, in one transaction. */
        s->record_queued = true;
        s->wait_rev = UINT64_MAX;
        if (!evtimer_pending(srv->record_timer, NULL)) {
            timer_ms(srv->record_timer, 0);
        }
        return;
    }
    if (srv->index_rev >= s->wait_rev) {
        session_begin(s);
    }
}

/* Writes the /hosts records of the hellos queued since the last call, in one
 * transaction: one commit (and fsync) for a burst of hosts joining, not one
 * each. Their welcomes wait for the index to show it. */
static void write_records(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_server *srv = ctx;
    size_t n = 0, i = 0;
    uint64_t rev = 0;
    int rc = 0;

    (void)fd;
    (void)what;
    for (struct agent_session *s = srv->sessions; s; s = s->next) {
        n += s->record_queued;
    }
    struct store_op *ops = calloc(n ? n : 1, sizeof *ops);
    char(*keys)[sizeof "/hosts/" + AGENT_PROTO_HOST_MAX] = calloc(n ? n : 1, sizeof *keys);
    if (!ops || !keys) {
        rc = ENOMEM;
    }
    for (struct agent_session *s = srv->sessions; s && rc == 0; s = s->next) {
        if (!s->record_queued) {
            continue;
        }
        snprintf(keys[i], sizeof keys[i], "/hosts/%s", s->hello.host);
        ops[i] = (struct store_op){.type = STORE_OP_PUT,
                                   .key = keys[i],
                                   .value = host_record(srv, s->hello.host, &s->hello, time(NULL))};
        rc = ops[i++].value ? 0 : ENOMEM;
    }
    if (rc == 0 && n > 0) {
        struct store_txn txn = {.ops = ops, .n_ops = n};
        if ((rc = store_txn(srv->store, &txn, &rev))) {
            log_error("agent server: cannot write the records of %zu hosts: %s", n,
                      store_errmsg(srv->store));
        }
    }
    for (struct agent_session *s = srv->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->record_queued) {
            continue;
        }
        s->record_queued = false;
        if (rc) {
            session_close(s, AGENT_ERR_INTERNAL, "the controller cannot write its store");
        } else {
            s->wait_rev = rev; /* welcomed once the index shows it */
        }
    }
    for (size_t k = 0; ops && k < i; k++) {
        free((char *)ops[k].value);
    }
    free(ops);
    free(keys);
}

/* ---- Reports -------------------------------------------------------------- */

struct txn_builder {
    struct store_op *ops;
    char **strings;
    size_t n, cap, n_strings;
    int error;
};

static char *txn_string(struct txn_builder *b, char *text)
{
    if (!text) {
        b->error = ENOMEM;
        return NULL;
    }
    char **more = realloc(b->strings, (b->n_strings + 1) * sizeof *more);
    if (!more) {
        free(text);
        b->error = ENOMEM;
        return NULL;
    }
    b->strings = more;
    b->strings[b->n_strings++] = text;
    return text;
}

static void txn_add(struct txn_builder *b, enum store_op_type type, const char *host,
                    const char *sub, const json_t *value)
{
    char key[256];

    if (b->error) {
        return;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        struct store_op *ops = realloc(b->ops, cap * sizeof *ops);
        if (!ops) {
            b->error = ENOMEM;
            return;
        }
        b->ops = ops;
        b->cap = cap;
    }
    snprintf(key, sizeof key, "/learned/%s/%s", host, sub);
    struct store_op *op = &b->ops[b->n];
    op->type = type;
    op->key = txn_string(b, strdup(key));
    op->value = value ? txn_string(b, json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS)) : NULL;
    if (!b->error) {
        b->n++;
    }
}

static void txn_free(struct txn_builder *b)
{
    for (size_t i = 0; i < b->n_strings; i++) {
        free(b->strings[i]);
    }
    free(b->strings);
    free(b->ops);
}

/* The value a report's op gives the sub-key (mac: {"port"}, ip: {"mac"}), or
 * NULL when it deletes it; sub gets "mac/<vni>/<mac>" or "ip/<vni>/<ip>". */
static json_t *report_entry(const struct agent_op *op, char *sub, size_t len)
{
    char a[IP_ADDR_STRLEN], b[ETH_ADDR_STRLEN];
    const struct agent_entry *e = &op->entry;

    switch (op->type) {
    case AGENT_OP_MAC_LEARNED:
    case AGENT_OP_MAC_GONE:
        snprintf(sub, len, "mac/%u/%s", e->vni, eth_addr_format(e->mac.bytes, b));
        return op->type == AGENT_OP_MAC_LEARNED ? json_pack("{s:s}", "port", e->port) : NULL;
    default:
        snprintf(sub, len, "ip/%u/%s", e->vni, ip_addr_format(&e->ip, a));
        return op->type == AGENT_OP_IP_LEARNED
                   ? json_pack("{s:s}", "mac", eth_addr_format(e->mac.bytes, b))
                   : NULL;
    }
}

/* Whether the stored entry already says what value says, with the host as
 * the table's source (a report from a host that is not the source moves the
 * entry to it, so it is written even when unchanged). */
static bool entry_current(struct agent_server *srv, const char *host, const char *sub,
                          const json_t *value, bool need_source)
{
    const json_t *mine = json_object_get(agent_index_learned(srv->idx, host), sub);
    const char *field = strncmp(sub, "mac/", 4) == 0 ? "port" : "mac";
    char kind[4], addr[IP_ADDR_STRLEN];
    unsigned vni;

    /* mine: [port or MAC, revision] */
    if (!mine || strcmp(json_string_value(json_array_get(mine, 0)) ?: "",
                        json_string_value(json_object_get(value, field))) != 0) {
        return false;
    }
    if (!need_source) {
        return true;
    }
    if (sscanf(sub, "%3[^/]/%u/%45s", kind, &vni, addr) != 3) {
        return false;
    }
    return agent_index_is_source(srv->idx, host, kind, vni, addr);
}

static int commit_report(struct agent_session *s, struct txn_builder *b)
{
    if (b->error) {
        return b->error;
    }
    if (b->n == 0) {
        return 0;
    }
    struct store_txn txn = {.ops = b->ops, .n_ops = b->n};
    int rc = store_txn(s->srv->store, &txn, NULL);
    if (rc) {
        log_error("agent server: cannot store the report of %s: %s", s->hello.host,
                  store_errmsg(s->srv->store));
    }
    return rc;
}

static void set_port_state(json_t *states, const struct agent_port_state *ps)
{
    json_object_set_new(states, ps->port,
                        json_pack("{s:b,s:s}", "up", ps->up, "reason", ps->reason));
}

/* The whole full report is in: replace the host's entries with it, as a
 * difference. */
static int apply_full_report(struct agent_session *s)
{
    const char *host = s->hello.host;
    const json_t *mine = agent_index_learned(s->srv->idx, host);
    struct txn_builder b = {0};
    const char *sub;
    json_t *v;

    json_object_foreach(s->full, sub, v)
    {
        if (!entry_current(s->srv, host, sub, v, false)) {
            txn_add(&b, STORE_OP_PUT, host, sub, v);
        }
    }
    json_object_foreach((json_t *)mine, sub, v)
    {
        if (!json_object_get(s->full, sub)) {
            txn_add(&b, STORE_OP_DELETE, host, sub, NULL);
        }
    }
    int rc = commit_report(s, &b);
    txn_free(&b);
    if (s->host) {
        json_decref(s->host->port_states);
        s->host->port_states = s->full_ports;
        s->full_ports = NULL;
    }
    json_decref(s->full);
    json_decref(s->full_ports);
    s->full = s->full_ports = NULL;
    return rc;
}

static void handle_report(struct agent_session *s, const struct agent_msg *m)
{
    const struct agent_batch *r = &m->batch;
    struct txn_builder b = {0};
    int rc = 0;

    if (r->full && !s->full) {
        s->full = json_object();
        s->full_ports = json_object();
        if (!s->full || !s->full_ports) {
            session_close(s, AGENT_ERR_INTERNAL, "out of memory");
            return;
        }
    }
    for (uint32_t i = 0; i < r->n_ops && !b.error; i++) {
        const struct agent_op *op = &r->ops[i];
        char sub[96];
        if (op->type == AGENT_OP_PORT_STATE) {
            set_port_state(r->full ? s->full_ports : s->host->port_states, &op->port_state);
            continue;
        }
        /* A report about a segment the host was not given (or just lost) is
         * ignored: only a segment's hosts write its tables. */
        if (!agent_view_has_segment(s->sent, op->entry.vni)) {
            continue;
        }
        json_t *value = report_entry(op, sub, sizeof sub);
        if (r->full) {
            if (json_object_size(s->full) >= AGENT_FULL_REPORT_MAX) {
                json_decref(value);
                session_close(s, AGENT_ERR_PROTOCOL, "full report over %u entries",
                              AGENT_FULL_REPORT_MAX);
                return;
            }
            json_object_set_new(s->full, sub, value);
        } else if (value) {
            if (!entry_current(s->srv, s->hello.host, sub, value, true)) {
                txn_add(&b, STORE_OP_PUT, s->hello.host, sub, value);
            }
            json_decref(value);
        } else if (json_object_get(agent_index_learned(s->srv->idx, s->hello.host), sub)) {
            txn_add(&b, STORE_OP_DELETE, s->hello.host, sub, NULL);
        }
    }
    if (r->full) {
        rc = r->more ? 0 : apply_full_report(s);
    } else {
        rc = commit_report(s, &b);
    }
    txn_free(&b);
    if (rc) {
        session_close(s, AGENT_ERR_INTERNAL, "the controller cannot store the report");
    }
}

/* ---- Input ---------------------------------------------------------------- */

static void handle_msg(struct agent_session *s, const struct agent_msg *m)
{
    struct agent_proto_error err;

    if (agent_proto_session_recv(&s->ps, m, &err) != 0) {
        session_close(s, AGENT_ERR_PROTOCOL, "%s", err.text);
        return;
    }
    switch (m->type) {
    case AGENT_MSG_HELLO:
        handle_hello(s, m);
        break;
    case AGENT_MSG_REPORT:
        handle_report(s, m);
        break;
    case AGENT_MSG_ERROR:
        session_close(s, -1, "the host sent %s: %s", agent_error_code_name(m->error.code),
                      m->error.message);
        break;
    default: /* heartbeat: a sign of life, which the read already counted */
        break;
    }
}

static void session_read(struct bufferevent *bev, void *ctx)
{
    struct agent_session *s = ctx;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (s->state == SESSION_OPEN) {
        timer_ms(s->dead_timer, s->srv->cfg.dead_ms);
    }
    while (s->state != SESSION_CLOSING && s->state != SESSION_AUTH_DELAY &&
           evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in), used = 0;
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
        struct agent_proto_error err;
        struct agent_msg m;
        int rc = agent_proto_decoder_feed(&s->dec, data, len, &used, &m, &err);
        evbuffer_drain(in, used);
        if (rc == EAGAIN) {
            continue;
        }
        if (rc) {
            session_close(s, agent_proto_error_code(&err), "%s", err.text);
            return;
        }
        handle_msg(s, &m);
        agent_msg_free(&m);
    }
}

static void session_event(struct bufferevent *bev, short what, void *ctx)
{
    struct agent_session *s = ctx;
    struct agent_proto_error err;

    (void)bev;
    if (what & BEV_EVENT_EOF) {
        if (agent_proto_decoder_finish(&s->dec, &err) != 0) {
            session_close(s, -1, "%s", err.text);
        } else {
            session_close(s, -1, "the host closed the connection");
        }
    } else if (what & BEV_EVENT_ERROR) {
        session_close(s, -1, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

static void session_dead(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_session *s = ctx;
    (void)fd;
    (void)what;
    if (s->state == SESSION_OPEN) {
        session_close(s, AGENT_ERR_TIMEOUT, "nothing received for %u ms", s->srv->cfg.dead_ms);
    } else {
        session_close(s, AGENT_ERR_TIMEOUT, "no hello within %u s",
                      AGENT_PROTO_HELLO_TIMEOUT_MS / 1000);
    }
}

static void session_heartbeat(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_session *s = ctx;
    (void)fd;
    (void)what;
    if (s->state != SESSION_OPEN || s->ps.down != AGENT_DOWN_OPEN) {
        return;
    }
    /* The host has everything up to the index's revision, unless a change
     * waits for a revision. */
    uint64_t rev = s->pending || s->srv->index_rev < s->ps.down_revision ? s->ps.down_revision
                                                                         : s->srv->index_rev;
    int rc = send_heartbeat(s, rev);
    if (rc == ENOBUFS) {
        session_close(s, -1, "send queue over %u MiB: the host does not read",
                      AGENT_SEND_QUEUE_MAX >> 20);
    } else if (rc) {
        session_close(s, AGENT_ERR_INTERNAL, "cannot send a heartbeat");
    }
}

static void format_peer(const struct sockaddr *sa, char *peer, size_t plen, char *addr, size_t alen)
{
    char text[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        port = ntohs(in->sin_port);
        snprintf(peer, plen, "%s:%u", text, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        port = ntohs(in6->sin6_port);
        snprintf(peer, plen, "[%s]:%u", text, port);
    } else {
        snprintf(peer, plen, "?");
    }
    snprintf(addr, alen, "%s", text);
}

static void agent_server_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                                int salen, void *ctx)
{
    struct agent_server *srv = ctx;
    struct agent_session *s = calloc(1, sizeof *s);

    (void)l;
    (void)salen;
    if (!s) {
        evutil_closesocket(fd);
        return;
    }
    s->srv = srv;
    format_peer(sa, s->peer, sizeof s->peer, s->peer_addr, sizeof s->peer_addr);
    agent_proto_decoder_init(&s->dec, 0);
    agent_proto_session_init(&s->ps, AGENT_PROTO_ROLE_CONTROLLER);
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->dead_timer = evtimer_new(srv->base, session_dead, s);
    s->hb_timer = evtimer_new(srv->base, session_heartbeat, s);
    s->aux_timer = evtimer_new(srv->base, session_free_cb, s);
    if (!s->bev || !s->dead_timer || !s->hb_timer || !s->aux_timer) {
        log_error("agent server: out of memory for a session from %s", s->peer);
        if (!s->bev) {
            evutil_closesocket(fd);
        }
        s->next = NULL;
        if (s->bev) {
            bufferevent_free(s->bev);
        }
        if (s->dead_timer) {
            event_free(s->dead_timer);
        }
        if (s->hb_timer) {
            event_free(s->hb_timer);
        }
        if (s->aux_timer) {
            event_free(s->aux_timer);
        }
        free(s);
        return;
    }
    s->next = srv->sessions;
    srv->sessions = s;
    bufferevent_setcb(s->bev, session_read, NULL, session_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    timer_ms(s->dead_timer, AGENT_PROTO_HELLO_TIMEOUT_MS);
}

/* ---- The store watch -------------------------------------------------------- */

static void agent_server_changed(const struct store_event *events, size_t n, uint64_t revision,
                                 void *ctx)
{
    struct agent_server *srv = ctx;

    for (size_t i = 0; i < n; i++) {
        const struct store_event *e = &events[i];
        agent_index_apply(srv->idx, e->kv.key, e->type == STORE_EVENT_PUT ? e->kv.value : NULL,
                          e->kv.mod_revision);
    }
    if (revision > srv->applied_rev) {
        srv->applied_rev = revision;
    }
    if (!evtimer_pending(srv->sync_timer, NULL)) {
        timer_ms(srv->sync_timer, AGENT_SYNC_DELAY_MS);
    }
}

/* The changes applied since the last call reach the sessions: one refresh of
 * the index, one update per session they touched. */
static void sync_sessions(evutil_socket_t fd, short what, void *ctx)
{
    struct agent_server *srv = ctx;

    (void)fd;
    (void)what;
    if (srv->applied_rev > srv->index_rev) {
        srv->index_rev = srv->applied_rev;
    }
    if (agent_index_refresh(srv->idx) != 0) {
        log_error("agent server: out of memory refreshing the index");
        return; /* what changed stays recorded: the next batch sends it */
    }
    /* Only the sessions the batch touched (and those whose sent view is not
     * the index's last one) have anything to get. */
    const json_t *touched = agent_index_touched(srv->idx);
    for (struct agent_session *s = srv->sessions, *next; s; s = next) {
        next = s->next;
        if (s->state == SESSION_OPEN) {
            if (!s->synced || json_object_get(touched, s->hello.host)) {
                session_sync_or_close(s, srv->index_rev);
            }
        } else if (s->state == SESSION_WAIT_INDEX && s->wait_rev <= srv->index_rev) {
            session_begin(s);
        }
    }
    agent_index_clear_changes(srv->idx);
}

/* ---- Start and stop --------------------------------------------------------- */

int agent_server_start(struct event_base *base, struct store *store,
                       const struct agent_server_config *cfg, struct agent_server **out, char *err,
                       size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    struct agent_server *srv = NULL;
    struct store_kv_list all = {0};
    int rc;

    if (!cfg->join_token || strlen(cfg->join_token) < AGENT_PROTO_TOKEN_MIN ||
        strlen(cfg->join_token) > AGENT_PROTO_TOKEN_MAX) {
        snprintf(err, errlen, "the join token must be %u-%u visible ASCII characters",
                 AGENT_PROTO_TOKEN_MIN, AGENT_PROTO_TOKEN_MAX);
        return EINVAL;
    }
    for (const char *p = cfg->join_token; *p; p++) {
        if (*p <= ' ' || *p > '~') {
            snprintf(err, errlen, "the join token must be visible ASCII characters only");
            return EINVAL;
        }
    }
    if (cfg->heartbeat_ms < AGENT_PROTO_HEARTBEAT_MIN_MS ||
        cfg->heartbeat_ms > AGENT_PROTO_HEARTBEAT_MAX_MS || cfg->dead_ms < 2 * cfg->heartbeat_ms ||
        cfg->dead_ms > AGENT_PROTO_DEAD_MAX_MS) {
        snprintf(err, errlen,
                 "heartbeat must be %u-%u ms and dead time 2 x heartbeat .. %u ms (got %u and %u)",
                 AGENT_PROTO_HEARTBEAT_MIN_MS, AGENT_PROTO_HEARTBEAT_MAX_MS,
                 AGENT_PROTO_DEAD_MAX_MS, cfg->heartbeat_ms, cfg->dead_ms);
        return EINVAL;
    }
    if (evutil_parse_sockaddr_port(cfg->listen, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "agent listen address '%s' is not ADDR:PORT or [ADDR]:PORT",
                 cfg->listen);
        return EINVAL;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv || !(srv->token = strdup(cfg->join_token)) || !(srv->idx = agent_index_create()) ||
        !(srv->auth_failures = json_object()) ||
        !(srv->sync_timer = evtimer_new(base, sync_sessions, srv)) ||
        !(srv->record_timer = evtimer_new(base, write_records, srv))) {
        snprintf(err, errlen, "out of memory");
        rc = ENOMEM;
        goto fail;
    }
    srv->base = base;
    srv->store = store;
    srv->cfg = *cfg;
    srv->cfg.join_token = srv->token;

    if ((rc = store_range(store, "/", &all, &srv->index_rev))) {
        snprintf(err, errlen, "cannot read the store: %s", store_errmsg(store));
        goto fail;
    }
    for (size_t i = 0; i < all.n; i++) {
        agent_index_apply(srv->idx, all.items[i].key, all.items[i].value,
                          all.items[i].mod_revision);
    }
    store_kv_list_free(&all);
    srv->applied_rev = srv->index_rev;
    /* Hosts known from before start as gone: they get their stale time to
     * come back before anything of theirs is withdrawn. */
    const char *id;
    json_t *rec;
    json_object_foreach((json_t *)agent_index_hosts(srv->idx), id, rec)
    {
        struct agent_host *h = host_get(srv, id);
        if (!h) {
            snprintf(err, errlen, "out of memory");
            rc = ENOMEM;
            goto fail;
        }
        agent_index_set_presence(srv->idx, id, AGENT_PRESENCE_STALE);
        timer_ms(h->stale_timer, cfg->stale_seconds * 1000u);
    }
    if ((rc = agent_index_refresh(srv->idx))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    agent_index_clear_changes(srv->idx); /* no session holds a view yet */
    if ((rc = store_watch(store, "/", srv->index_rev, agent_server_changed, srv, &srv->watch))) {
        snprintf(err, errlen, "cannot watch the store: %s", store_errmsg(store));
        goto fail;
    }
    srv->listener =
        evconnlistener_new_bind(base, agent_server_accept, srv,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                AGENT_SERVER_BACKLOG, (struct sockaddr *)&ss, sslen);
    if (!srv->listener) {
        rc = errno ? errno : EADDRINUSE;
        snprintf(err, errlen, "cannot listen for agents on %s: %s", cfg->listen, strerror(rc));
        goto fail;
    }
    log_info("agent server: listening on %s, store revision %llu", cfg->listen,
             (unsigned long long)srv->index_rev);
    *out = srv;
    return 0;
fail:
    store_kv_list_free(&all);
    agent_server_stop(srv);
    return rc;
}

void agent_server_stop(struct agent_server *srv)
{
    if (!srv) {
        return;
    }
    srv->stopping = true;
    if (srv->listener) {
        evconnlistener_free(srv->listener);
    }
    while (srv->sessions) {
        struct agent_session *s = srv->sessions;
        if (s->state != SESSION_CLOSING) {
            session_close(s, AGENT_ERR_SHUTDOWN, "the controller is stopping");
        }
        /* One try to hand the last bytes to the kernel: the loop ends now. */
        evbuffer_write(bufferevent_get_output(s->bev), bufferevent_getfd(s->bev));
        session_destroy(s);
    }
    for (size_t i = 0; i < srv->n_buckets; i++) {
        while (srv->host_buckets[i]) {
            host_free(srv->host_buckets[i]);
        }
    }
    free(srv->host_buckets);
    if (srv->watch) {
        store_unwatch(srv->store, srv->watch);
    }
    if (srv->sync_timer) {
        event_free(srv->sync_timer);
    }
    if (srv->record_timer) {
        event_free(srv->record_timer);
    }
    agent_index_destroy(srv->idx);
    json_decref(srv->auth_failures);
    free(srv->token);
    free(srv);
}

/* ---- Views for the REST API ---------------------------------------------------- */

static unsigned connected_count(const struct agent_server *srv)
{
    unsigned n = 0;
    for (const struct agent_session *s = srv->sessions; s; s = s->next) {
        n += s->host != NULL && s->state == SESSION_OPEN;
    }
    return n;
}

json_t *agent_server_hosts_summary_json(const struct agent_server *srv)
{
    return json_pack("{s:I,s:I}", "registered",
                     (json_int_t)json_object_size(agent_index_hosts(srv->idx)), "connected",
                     (json_int_t)connected_count(srv));
}

json_t *agent_server_host_json(const struct agent_server *srv, const char *id)
{
    const json_t *rec = agent_index_host(srv->idx, id);
    const struct agent_host *h = host_find(srv, id);
    const struct agent_session *s = h ? h->session : NULL;
    bool connected = s && s->state == SESSION_OPEN;
    char since[32];

    if (!rec) {
        return NULL;
    }
    json_t *v =
        json_pack("{s:s,s:O,s:O,s:O,s:b,s:O}", "id", id, "vtep", json_object_get(rec, "vtep"),
                  "vtep_prefix_len", json_object_get(rec, "vtep_prefix_len"), "software",
                  json_object_get(rec, "software"), "connected", connected, "last_seen",
                  json_object_get(rec, "last_seen"));
    if (!v) {
        return NULL;
    }
    if (connected) {
        rfc3339(s->since, since, sizeof since);
        json_object_set_new(v, "last_seen", json_string(since));
        json_object_set_new(v, "connected_since", json_string(since));
        json_object_set_new(v, "peer", json_string(s->peer));
        json_object_set_new(v, "revision", json_integer((json_int_t)s->ps.down_revision));
    } else {
        json_object_set_new(v, "connected_since", json_null());
        json_object_set_new(v, "peer", json_null());
        json_object_set_new(v, "revision", json_integer(h ? (json_int_t)h->saved_delivered : 0));
    }
    json_object_set_new(v, "ports", json_integer(agent_index_host_ports(srv->idx, id)));
    json_object_set_new(v, "segments", agent_index_host_segments(srv->idx, id));
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *agent_server_hosts_json(const struct agent_server *srv)
{
    const json_t *hosts = agent_index_hosts(srv->idx);
    size_t n = json_object_size(hosts), i = 0;
    const char **ids = n ? malloc(n * sizeof *ids) : NULL;
    json_t *items = json_array();
    const char *id;
    json_t *rec;

    if ((n && !ids) || !items) {
        free(ids);
        json_decref(items);
        return NULL;
    }
    json_object_foreach((json_t *)hosts, id, rec)
    {
        ids[i++] = id;
    }
    if (n) {
        qsort(ids, n, sizeof *ids, cmp_str);
    }
    for (i = 0; i < n; i++) {
        json_array_append_new(items, agent_server_host_json(srv, ids[i]));
    }
    free(ids);
    return json_pack("{s:o}", "items", items);
}

json_t *agent_server_port_status_json(const struct agent_server *srv, const char *host,
                                      const char *port)
{
    const struct agent_host *h = host_find(srv, host);

    if (!h || !h->session || h->session->state != SESSION_OPEN) {
        return json_pack("{s:b,s:s}", "up", 0, "reason", "host not connected");
    }
    json_t *st = json_object_get(h->port_states, port);
    if (!st) {
        return json_pack("{s:b,s:s}", "up", 0, "reason", "not reported by the host yet");
    }
    return json_deep_copy(st);
}

json_t *agent_server_segment_vteps_json(const struct agent_server *srv, uint32_t vni)
{
    return agent_index_segment_vteps_json(srv->idx, vni);
}

json_t *agent_server_segment_macs_json(const struct agent_server *srv, uint32_t vni)
{
    return agent_index_segment_macs_json(srv->idx, vni);
}

json_t *agent_server_segment_arp_json(const struct agent_server *srv, uint32_t vni)
{
    return agent_index_segment_arp_json(srv->idx, vni);
}

int agent_server_host_forget(struct agent_server *srv, const char *id)
{
    struct agent_host *h = host_find(srv, id);
    char prefix[sizeof "/learned//" + AGENT_PROTO_HOST_MAX];
    char key[sizeof "/hosts/" + AGENT_PROTO_HOST_MAX];

    if (!h && !agent_index_host(srv->idx, id)) {
        return ENOENT;
    }
    if (h) {
        struct agent_session *s = h->session;
        if (s) {
            /* Not a disconnect: nothing of the host is kept or rewritten. */
            s->host = NULL;
            h->session = NULL;
            session_close(s, AGENT_ERR_AUTH, "host %s was removed from the controller", id);
        }
        host_free(h);
    }
    agent_index_set_presence(srv->idx, id, AGENT_PRESENCE_ABSENT);
    snprintf(prefix, sizeof prefix, "/learned/%s/", id);
    snprintf(key, sizeof key, "/hosts/%s", id);
    struct store_op ops[2] = {{.type = STORE_OP_DELETE_PREFIX, .key = prefix},
                              {.type = STORE_OP_DELETE, .key = key}};
    struct store_txn txn = {.ops = ops, .n_ops = 2};
    int rc = store_txn(srv->store, &txn, NULL);
    if (rc) {
        log_error("agent server: cannot forget host %s: %s", id, store_errmsg(srv->store));
    }
    return rc;
}
