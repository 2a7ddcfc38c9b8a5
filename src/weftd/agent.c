/*
 * agent.c - weftd's session with weft-controller (docs/agent-protocol.md).
 *
 * With --controller, the controller gives this host its segments, VTEPs, MAC
 * and IP tables and bound ports; weftd applies them to the switch and reports
 * back what the switch learns on its local ports and the state of the bound
 * ports' devices. One non-blocking TCP session in the daemon's epoll loop,
 * driven by a 100 ms tick (connect backoff, heartbeats, the dead timer, report
 * batching), every message through agent_proto's codec and session checker.
 *
 * The controller-given state is kept as a model, a JSON tree whose leaves are
 * the controller's own ops in canonical form:
 *
 *   {"segments": {"5001": {"config": {segment_set op}, "vteps": {"10.1.2.2": true},
 *                          "macs": {"02:..": "10.1.2.2"}, "ips": {"172.16.10.21": "02:.."}}},
 *    "ports": {"vm1": {port_set op}}}
 *
 * It is saved in datadir/controller-state.json with its revision and epoch
 * after every applied snapshot or update, and restored at start (decoded
 * strictly by agent_proto again), so a weftd restarted while every controller
 * is down forwards for the guests it knew. Nothing is flushed when a session
 * ends: the switch keeps forwarding on the last state.
 *
 * Conflicts: a local object (made with `weft`) wins over the controller's of
 * the same VNI, VLAN or port name. The controller's stays in the model, is
 * logged, reported down (ports) and retried every second, so deleting the
 * local object hands it to the controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/arp.h"
#include "lib/log.h"
#include "proto/agent_proto.h"
#include "weft_version.h"
#include "weftd.h"

#define STATE_FILE       "controller-state.json"
#define STATE_VERSION    1
#define TICK_MS          100
#define BACKOFF_MIN_MS   1000
#define BACKOFF_MAX_MS   30000
#define RECONCILE_MS     1000
#define SEND_QUEUE_MAX   (64u << 20)
#define RECV_CHUNK       65536
#define EVENTS_PER_DRAIN 1024
#define ENCODE_LIMIT     (64u << 20) /* re-encoding a received message: never the limit */

enum agent_state {
    AGENT_WAITING,    /* backoff before the next attempt */
    AGENT_CONNECTING, /* TCP connect in progress */
    AGENT_HELLO,      /* hello sent, waiting for the welcome */
    AGENT_SYNCING,    /* welcomed, the snapshot has not come yet */
    AGENT_CONNECTED,  /* in sync: updates, reports, heartbeats */
};

static const char *const state_names[] = {
    [AGENT_WAITING] = "waiting", [AGENT_CONNECTING] = "connecting", [AGENT_HELLO] = "hello",
    [AGENT_SYNCING] = "syncing", [AGENT_CONNECTED] = "connected",
};

/* A snapshot part as received, with its ops in canonical JSON for the model. */
struct snapshot_part {
    struct agent_msg msg;
    json_t *ops;
};

struct weftd_agent {
    struct weftd_agent_options opts;
    char token[AGENT_PROTO_TOKEN_MAX + 1];
    struct ip_addr vtep;
    uint8_t prefix_len;

    /* The session. */
    enum agent_state state;
    unsigned current; /* index into opts.controllers */
    int fd, timer_fd;
    struct weftd_source source, timer_source;
    struct agent_proto_session session;
    struct agent_proto_decoder decoder;
    uint8_t *out;
    size_t out_len, out_off;
    bool want_write;
    uint64_t connect_ms, last_send_ms, last_recv_ms, next_attempt_ms, backoff_ms;
    uint32_t heartbeat_ms, dead_ms;
    char session_epoch[AGENT_PROTO_EPOCH_MAX + 1];
    uint64_t session_revision; /* applied in this session, for our heartbeats */
    bool full_report_due;
    struct snapshot_part *parts;
    uint32_t n_parts;
    json_t *reported; /* port name -> "up" or "down:reason" sent this session */
    struct agent_op *delta;
    uint32_t n_delta, cap_delta;

    /* The controller-given state. */
    json_t *model;
    json_t *port_reasons; /* port name -> why the controller's port is not applied */
    char epoch[AGENT_PROTO_EPOCH_MAX + 1];
    uint64_t revision;
    bool dirty;   /* save the model at the next tick */
    bool pending; /* something conflicts: reconcile every second */
    uint64_t last_reconcile_ms;
    bool quiet; /* reconciling: conflicts were logged already */

    /* For `weft status`. */
    time_t since;
    char last_error[AGENT_PROTO_TEXT_MAX + 64];
    char logged_error[AGENT_PROTO_TEXT_MAX + 64]; /* the last one logged */
};

static void agent_close(struct weftd *d, bool retry);

/* ---- Small helpers ------------------------------------------------------------ */

static void set_state(struct weftd_agent *a, enum agent_state state)
{
    if (a->state != state) {
        a->state = state;
        a->since = time(NULL);
    }
}

static json_t *model_segment(json_t *model, uint32_t vni)
{
    char key[16];

    snprintf(key, sizeof key, "%u", vni);
    return json_object_get(json_object_get(model, "segments"), key);
}

static json_t *model_new(void)
{
    return json_pack("{s{} s{}}", "segments", "ports");
}

static bool segment_is_ctl(const struct weftd *d, uint32_t vni, uint32_t *segment)
{
    return vswitch_segment_find(d->sw, vni, segment) == 0 && d->segment_from_controller[*segment];
}

/* The ops of a received message in canonical JSON (the controller's own form),
 * for the model. */
static json_t *ops_json(const struct agent_msg *m)
{
    struct agent_proto_error err;
    uint8_t *frame = NULL;
    size_t len = 0;
    json_t *body, *ops = NULL;

    if (agent_msg_encode(m, ENCODE_LIMIT, &frame, &len, &err)) {
        return NULL;
    }
    body = json_loadb((const char *)frame + AGENT_PROTO_HEADER_LEN, len - AGENT_PROTO_HEADER_LEN, 0,
                      NULL);
    free(frame);
    ops = json_incref(json_object_get(body, "ops"));
    json_decref(body);
    return ops;
}

static enum bum_replication bum_of(enum agent_bum bum)
{
    return bum == AGENT_BUM_MULTICAST ? BUM_MULTICAST
           : bum == AGENT_BUM_PROXY   ? BUM_PROXY
                                      : BUM_HEAD_END;
}

/* ---- The model ------------------------------------------------------------------ */

/* Checks that each op names what exists by then (docs/agent-protocol.md: a segment
 * that a segment_set of the batch or the state created, a VTEP of that segment);
 * base is the state the ops apply to. 0, or EPROTO with why set. */
struct overlay {
    json_t *base;
    json_t *segs;  /* "5001" -> true (exists), false (deleted) */
    json_t *vteps; /* "5001/10.1.2.2" -> true / false */
};

static bool overlay_segment(struct overlay *o, uint32_t vni)
{
    char key[16];
    json_t *v;

    snprintf(key, sizeof key, "%u", vni);
    v = json_object_get(o->segs, key);
    return v ? json_is_true(v) : model_segment(o->base, vni) != NULL;
}

static bool overlay_vtep(struct overlay *o, uint32_t vni, const struct ip_addr *vtep)
{
    char key[64], ip[IP_ADDR_STRLEN], seg[16];
    json_t *v;

    ip_addr_format(vtep, ip);
    snprintf(key, sizeof key, "%u/%s", vni, ip);
    snprintf(seg, sizeof seg, "%u", vni);
    if ((v = json_object_get(o->vteps, key))) {
        return json_is_true(v);
    }
    /* A segment (re)created in this batch starts without the base's VTEPs. */
    if (json_object_get(o->segs, seg)) {
        return false;
    }
    return json_object_get(json_object_get(model_segment(o->base, vni), "vteps"), ip) != NULL;
}

static int overlay_check(struct overlay *o, const struct agent_op *op, uint32_t index, char *why,
                         size_t why_len)
{
    char key[64], ip[IP_ADDR_STRLEN];
    uint32_t vni = op->entry.vni;

    switch (op->type) {
    case AGENT_OP_SEGMENT_SET:
        snprintf(key, sizeof key, "%u", op->segment.vni);
        if (!overlay_segment(o, op->segment.vni)) {
            json_object_set_new(o->segs, key, json_true());
        }
        return 0;
    case AGENT_OP_PORT_SET:
        if (op->port.mode == AGENT_PORT_ACCESS && !overlay_segment(o, op->port.segment)) {
            snprintf(why, why_len, "ops[%u]: port %s names segment %u, which this host lacks",
                     index, op->port.name, op->port.segment);
            return EPROTO;
        }
        return 0;
    case AGENT_OP_PORT_DEL:
        return 0;
    default:
        break;
    }
    if (!overlay_segment(o, vni)) {
        snprintf(why, why_len, "ops[%u]: %s names segment %u, which this host lacks", index,
                 agent_op_type_name(op->type), vni);
        return EPROTO;
    }
    ip_addr_format(&op->entry.vtep, ip);
    snprintf(key, sizeof key, "%u/%s", vni, ip);
    switch (op->type) {
    case AGENT_OP_SEGMENT_DEL: {
        const char *k;
        json_t *v;
        void *tmp;
        char prefix[16];
        int n = snprintf(prefix, sizeof prefix, "%u/", vni);
        json_object_foreach_safe(o->vteps, tmp, k, v)
        {
            if (strncmp(k, prefix, (size_t)n) == 0) {
                json_object_del(o->vteps, k);
            }
        }
        snprintf(key, sizeof key, "%u", vni);
        json_object_set_new(o->segs, key, json_false());
        return 0;
    }
    case AGENT_OP_VTEP_ADD:
        json_object_set_new(o->vteps, key, json_true());
        return 0;
    case AGENT_OP_VTEP_DEL:
        json_object_set_new(o->vteps, key, json_false());
        return 0;
    case AGENT_OP_MAC_SET:
        if (!overlay_vtep(o, vni, &op->entry.vtep)) {
            snprintf(why, why_len, "ops[%u]: mac_set names VTEP %s, not a VTEP of segment %u",
                     index, ip, vni);
            return EPROTO;
        }
        return 0;
    default:
        return 0;
    }
}

/* Applies one op to the model (already checked). opj: the op in canonical JSON. */
static void model_apply(json_t *model, const struct agent_op *op, json_t *opj)
{
    json_t *segments = json_object_get(model, "segments");
    json_t *ports = json_object_get(model, "ports");
    char key[16], ip[IP_ADDR_STRLEN], mac[ETH_ADDR_STRLEN];
    json_t *seg;

    switch (op->type) {
    case AGENT_OP_SEGMENT_SET:
        snprintf(key, sizeof key, "%u", op->segment.vni);
        if ((seg = json_object_get(segments, key))) {
            json_object_set(seg, "config", opj);
        } else {
            json_object_set_new(
                segments, key,
                json_pack("{sO s{} s{} s{}}", "config", opj, "vteps", "macs", "ips"));
        }
        return;
    case AGENT_OP_PORT_SET:
        json_object_set(ports, op->port.name, opj);
        return;
    case AGENT_OP_PORT_DEL:
        json_object_del(ports, op->entry.port);
        return;
    default:
        break;
    }
    snprintf(key, sizeof key, "%u", op->entry.vni);
    seg = json_object_get(segments, key);
    ip_addr_format(op->type == AGENT_OP_VTEP_ADD || op->type == AGENT_OP_VTEP_DEL ? &op->entry.vtep
                                                                                  : &op->entry.ip,
                   ip);
    eth_addr_format(op->entry.mac.bytes, mac);
    switch (op->type) {
    case AGENT_OP_SEGMENT_DEL: {
        /* Ports on it go with it (the controller sends port_del first). */
        const char *name;
        json_t *port;
        void *tmp;
        json_object_foreach_safe(ports, tmp, name, port)
        {
            if (json_integer_value(json_object_get(port, "segment")) == op->entry.vni) {
                json_object_del(ports, name);
            }
        }
        json_object_del(segments, key);
        return;
    }
    case AGENT_OP_VTEP_ADD:
        json_object_set_new(json_object_get(seg, "vteps"), ip, json_true());
        return;
    case AGENT_OP_VTEP_DEL: {
        json_t *macs = json_object_get(seg, "macs"), *v;
        const char *k;
        void *tmp;
        json_object_del(json_object_get(seg, "vteps"), ip);
        json_object_foreach_safe(macs, tmp, k, v)
        {
            if (strcmp(json_string_value(v), ip) == 0) {
                json_object_del(macs, k);
            }
        }
        return;
    }
    case AGENT_OP_MAC_SET:
        ip_addr_format(&op->entry.vtep, ip);
        json_object_set_new(json_object_get(seg, "macs"), mac, json_string(ip));
        return;
    case AGENT_OP_MAC_DEL:
        json_object_del(json_object_get(seg, "macs"), mac);
        return;
    case AGENT_OP_IP_SET:
        json_object_set_new(json_object_get(seg, "ips"), ip, json_string(mac));
        return;
    case AGENT_OP_IP_DEL:
        json_object_del(json_object_get(seg, "ips"), ip);
        return;
    default:
        return;
    }
}

/* The model as snapshot bodies of at most AGENT_PROTO_MAX_OPS ops, decoded again
 * (strictly: a damaged state file is refused here). *parts gets them. */
static int model_to_parts(json_t *model, uint64_t revision, struct snapshot_part **parts,
                          uint32_t *n_parts, char *why, size_t why_len)
{
    json_t *all = json_array(), *seg, *v;
    const char *key, *k;
    int error = 0;

    json_object_foreach(json_object_get(model, "segments"), key, seg)
    {
        json_int_t vni = json_integer_value(json_object_get(json_object_get(seg, "config"), "vni"));
        json_array_append(all, json_object_get(seg, "config"));
        json_object_foreach(json_object_get(seg, "vteps"), k, v)
        {
            json_array_append_new(all,
                                  json_pack("{ss sI ss}", "op", "vtep_add", "vni", vni, "vtep", k));
        }
        json_object_foreach(json_object_get(seg, "macs"), k, v)
        {
            json_array_append_new(
                all, json_pack("{ss sI ss sO}", "op", "mac_set", "vni", vni, "mac", k, "vtep", v));
        }
        json_object_foreach(json_object_get(seg, "ips"), k, v)
        {
            json_array_append_new(
                all, json_pack("{ss sI ss sO}", "op", "ip_set", "vni", vni, "ip", k, "mac", v));
        }
    }
    json_object_foreach(json_object_get(model, "ports"), key, v)
    {
        json_array_append(all, v);
    }
    size_t total = json_array_size(all);
    uint32_t n = (uint32_t)((total + AGENT_PROTO_MAX_OPS - 1) / AGENT_PROTO_MAX_OPS);
    *parts = calloc(n ? n : 1, sizeof **parts);
    *n_parts = 0;
    if (!*parts) {
        json_decref(all);
        return ENOMEM;
    }
    for (uint32_t p = 0; p < (n ? n : 1) && !error; p++) {
        json_t *ops = json_array();
        for (size_t i = (size_t)p * AGENT_PROTO_MAX_OPS;
             i < total && i < (size_t)(p + 1) * AGENT_PROTO_MAX_OPS; i++) {
            json_array_append(ops, json_array_get(all, i));
        }
        json_t *body =
            json_pack("{ss sI sb sO}", "type", "snapshot", "revision",
                      (json_int_t)(revision ? revision : 1), "more", p + 1 < n, "ops", ops);
        char *text = json_dumps(body, JSON_COMPACT);
        struct agent_proto_error err;
        struct snapshot_part *part = &(*parts)[p];
        if (!text || agent_msg_decode(text, strlen(text), &part->msg, &err)) {
            snprintf(why, why_len, "%s", text ? err.text : "out of memory");
            error = EINVAL;
            json_decref(ops);
        } else {
            part->ops = ops;
            (*n_parts)++;
        }
        free(text);
        json_decref(body);
    }
    json_decref(all);
    return error;
}

static void parts_free(struct snapshot_part *parts, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        agent_msg_free(&parts[i].msg);
        json_decref(parts[i].ops);
    }
    free(parts);
}

/* ---- Applying to the switch ------------------------------------------------------- */

static void conflict(struct weftd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A controller object that cannot be applied for now: logged (once, not on every
 * retry), and retried every second. */
static void conflict(struct weftd *d, const char *fmt, ...)
{
    char text[WEFTD_MSG_MAX];
    va_list ap;

    d->agent->pending = true;
    if (d->agent->quiet) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_warn("controller state: %s", text);
}

static void apply_segment_set(struct weftd *d, const struct agent_segment *s)
{
    struct segment_config cfg;
    uint32_t segment;
    int error;

    memset(&cfg, 0, sizeof cfg);
    cfg.vni = s->vni;
    cfg.vlan = s->vlan;
    cfg.bum = bum_of(s->bum);
    if (s->bum == AGENT_BUM_MULTICAST) {
        cfg.mcast_group = s->group;
    }
    cfg.allow_inner_vlan = s->allow_inner_vlan;
    cfg.arp_suppression = s->arp_suppression;
    if (vswitch_segment_find(d->sw, s->vni, &segment) == 0) {
        if (!d->segment_from_controller[segment]) {
            conflict(d,
                     "segment %u is a local segment of this host: the controller's is not "
                     "applied (weft segment del %u hands it to the controller)",
                     s->vni, s->vni);
            return;
        }
        const struct segment_config old = *vswitch_segment_get(d->sw, segment);
        if (old.vlan == cfg.vlan && old.bum == cfg.bum &&
            ip_addr_equal(&old.mcast_group, &cfg.mcast_group) &&
            old.allow_inner_vlan == cfg.allow_inner_vlan &&
            old.arp_suppression == cfg.arp_suppression) {
            return;
        }
        bool regroup = old.bum != cfg.bum || !ip_addr_equal(&old.mcast_group, &cfg.mcast_group);
        if (regroup && (error = weftd_segment_join(d, &cfg, true))) {
            log_error("segment %u: cannot join its multicast group: %s", s->vni, strerror(error));
        }
        if ((error = vswitch_segment_change(d->sw, segment, &cfg))) {
            if (regroup) {
                weftd_segment_join(d, &cfg, false);
            }
            conflict(d, "segment %u: the switch refused the change (%s): local VLAN %u in use?",
                     s->vni, strerror(error), s->vlan);
            return;
        }
        if (regroup) {
            weftd_segment_join(d, &old, false);
        }
        return;
    }
    error = vswitch_segment_add(d->sw, &cfg, &segment);
    if (error) {
        conflict(d, "segment %u cannot be created (%s)%s", s->vni, strerror(error),
                 error == EEXIST ? ": its local VLAN is a local segment's" : "");
        return;
    }
    d->segment_from_controller[segment] = true;
    if ((error = weftd_segment_join(d, &cfg, true))) {
        log_error("segment %u: cannot join its multicast group: %s", s->vni, strerror(error));
    }
    log_info("segment %u from the controller", s->vni);
}

static void apply_segment_del(struct weftd *d, uint32_t vni)
{
    uint32_t segment;

    if (!segment_is_ctl(d, vni, &segment)) {
        return;
    }
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        struct weftd_port *p = &d->ports[i];
        const struct port_config *pc = p->in_use ? vswitch_port_get(d->sw, p->id) : NULL;
        if (pc && p->from_controller && pc->mode == PORT_ACCESS && pc->access_segment == segment) {
            weftd_ctl_port_del(d, p);
        }
    }
    struct segment_config cfg = *vswitch_segment_get(d->sw, segment);
    if (vswitch_segment_del(d->sw, segment) == 0) {
        d->segment_from_controller[segment] = false;
        weftd_segment_join(d, &cfg, false);
        log_info("segment %u removed by the controller", vni);
    }
}

static void port_config_of(const struct agent_port *p, uint32_t segment, struct port_config *cfg)
{
    port_config_default(cfg);
    cfg->admin_up = p->admin_up;
    cfg->mode = p->mode == AGENT_PORT_TRUNK ? PORT_TRUNK : PORT_ACCESS;
    cfg->access_segment = segment;
    memcpy(cfg->allowed_vlans, p->vlans, sizeof cfg->allowed_vlans);
    cfg->native_vlan = p->native_vlan;
    cfg->tpid = p->tpid ? p->tpid : 0x8100;
    cfg->mtu = p->mtu;
    cfg->learning = p->learning;
    cfg->mac_limit = p->mac_limit;
    cfg->promiscuous = p->promiscuous;
    cfg->port_security = p->port_security;
    cfg->n_bindings = p->n_bindings;
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        cfg->bindings[i].mac = p->bindings[i].mac;
        cfg->bindings[i].ip = p->bindings[i].ip;
    }
}

static void apply_port_set(struct weftd *d, const struct agent_port *p)
{
    struct weftd_agent *a = d->agent;
    struct port_config cfg;
    char msg[WEFTD_MSG_MAX];
    uint32_t segment = 0;

    if (p->mode == AGENT_PORT_ACCESS && !segment_is_ctl(d, p->segment, &segment)) {
        snprintf(msg, sizeof msg, "its segment %u is not applied on this host%s", p->segment,
                 vswitch_segment_find(d->sw, p->segment, &segment) == 0
                     ? " (a local segment has its VNI)"
                     : "");
        json_object_set_new(a->port_reasons, p->name, json_string(msg));
        conflict(d, "port %s: %s", p->name, msg);
        return;
    }
    port_config_of(p, segment, &cfg);
    if (weftd_ctl_port_set(d, p->name, &cfg, msg) != WEFTD_OK) {
        json_object_set_new(a->port_reasons, p->name, json_string(msg));
        conflict(d, "port %s: %s", p->name, msg);
        return;
    }
    json_object_del(a->port_reasons, p->name);
}

static void apply_op(struct weftd *d, const struct agent_op *op)
{
    const struct agent_entry *e = &op->entry;
    const struct mac_entry *m;
    uint32_t segment, vtep;
    char ip[IP_ADDR_STRLEN];
    int error;

    switch (op->type) {
    case AGENT_OP_SEGMENT_SET:
        apply_segment_set(d, &op->segment);
        return;
    case AGENT_OP_SEGMENT_DEL:
        apply_segment_del(d, e->vni);
        return;
    case AGENT_OP_PORT_SET:
        apply_port_set(d, &op->port);
        return;
    case AGENT_OP_PORT_DEL: {
        struct weftd_port *port = weftd_port_by_name(d, e->port);
        json_object_del(d->agent->port_reasons, e->port);
        if (port && port->from_controller) {
            weftd_ctl_port_del(d, port);
            log_info("port %s removed by the controller", e->port);
        }
        return;
    }
    default:
        break;
    }
    if (!segment_is_ctl(d, e->vni, &segment)) {
        return; /* not applied (a conflict, logged with its segment) */
    }
    switch (op->type) {
    case AGENT_OP_VTEP_ADD:
        error = vswitch_segment_peer_add(d->sw, segment, &e->vtep, NULL);
        if (error && error != EEXIST) {
            log_error("segment %u: cannot add VTEP %s: %s", e->vni, ip_addr_format(&e->vtep, ip),
                      error == EAFNOSUPPORT ? "no local VTEP address of its family"
                                            : strerror(error));
        }
        return;
    case AGENT_OP_VTEP_DEL:
        vswitch_segment_peer_del(d->sw, segment, &e->vtep);
        return;
    case AGENT_OP_MAC_SET:
        if (vswitch_vtep_find(d->sw, &e->vtep, &vtep)) {
            return; /* its vtep_add failed, and said why */
        }
        m = vswitch_mac_lookup(d->sw, segment, &e->mac);
        if (m && m->is_static && m->dest == MAC_DEST_REMOTE(vtep)) {
            return;
        }
        if ((error = vswitch_mac_add_static(d->sw, segment, &e->mac, MAC_DEST_REMOTE(vtep),
                                            weftd_now()))) {
            log_error("segment %u: cannot add a static MAC: %s", e->vni, strerror(error));
        }
        return;
    case AGENT_OP_MAC_DEL:
        m = vswitch_mac_lookup(d->sw, segment, &e->mac);
        if (m && m->is_static) {
            vswitch_mac_del(d->sw, segment, &e->mac);
        }
        return;
    case AGENT_OP_IP_SET:
        if (!ip_addr_is_v4(&e->ip)) {
            return; /* the switch suppresses ARP only: IPv6 stays in the model */
        }
        m = vswitch_arp_lookup(d->sw, segment, &e->ip);
        if (m && m->is_static && arp_entry_mac(m) == eth_addr_to_u64(e->mac.bytes)) {
            return;
        }
        if ((error = vswitch_arp_add_static(d->sw, segment, &e->ip, &e->mac, weftd_now()))) {
            log_error("segment %u: cannot add ARP entry %s: %s", e->vni, ip_addr_format(&e->ip, ip),
                      strerror(error));
        }
        return;
    case AGENT_OP_IP_DEL:
        m = vswitch_arp_lookup(d->sw, segment, &e->ip);
        if (m && m->is_static) {
            vswitch_arp_del(d->sw, segment, &e->ip);
        }
        return;
    default:
        return;
    }
}

static bool is_peer(const struct weftd *d, uint32_t segment, const struct ip_addr *addr)
{
    static uint32_t ids[AGENT_PROTO_MAX_REPLICATION];
    uint32_t n = vswitch_segment_peers(d->sw, segment, ids, AGENT_PROTO_MAX_REPLICATION);

    for (uint32_t i = 0; i < n && i < AGENT_PROTO_MAX_REPLICATION; i++) {
        if (ip_addr_equal(vswitch_vtep_addr(d->sw, ids[i]), addr)) {
            return true;
        }
    }
    return false;
}

/* Proxy replication lists from the model, for every controller segment: a
 * segment_set may name its proxies before their vtep_add, so this runs after a
 * whole batch, with the addresses that are peers by then. */
static void replication_sync(struct weftd *d)
{
    static struct ip_addr lists[2][AGENT_PROTO_MAX_REPLICATION];
    const char *key;
    json_t *seg;

    json_object_foreach(json_object_get(d->agent->model, "segments"), key, seg)
    {
        json_t *config = json_object_get(seg, "config");
        uint32_t segment, n[2] = {0, 0};
        if (strcmp(json_string_value(json_object_get(config, "bum")), "proxy") != 0 ||
            !segment_is_ctl(d, (uint32_t)json_integer_value(json_object_get(config, "vni")),
                            &segment)) {
            continue;
        }
        for (unsigned l = 0; l < 2; l++) {
            size_t i;
            json_t *item;
            json_array_foreach(json_object_get(config, l ? "replicas" : "proxies"), i, item)
            {
                struct ip_addr addr;
                if (ip_addr_parse(json_string_value(item), &addr) == 0 &&
                    n[l] < AGENT_PROTO_MAX_REPLICATION && is_peer(d, segment, &addr)) {
                    lists[l][n[l]++] = addr;
                }
            }
        }
        int error = vswitch_segment_replication_set(d->sw, segment, lists[0], n[0], lists[1], n[1]);
        if (error) {
            log_error("segment %s: cannot set its proxy replication: %s", key, strerror(error));
        }
    }
}

struct prune_ctx {
    struct weftd *d;
    json_t *model;
    struct ip_addr *ips;
    struct eth_addr *macs;
    uint32_t *segments;
    size_t n, cap;
    bool arp;
};

/* Collects (not deletes: the table is being walked) the static entries of
 * controller segments that the new model lacks. */
static void prune_collect(const struct mac_entry *e, void *ctx)
{
    struct prune_ctx *p = ctx;
    uint32_t segment = mac_entry_segment(e);
    const struct segment_config *cfg = vswitch_segment_get(p->d->sw, segment);
    char key[IP_ADDR_STRLEN];
    struct eth_addr mac;
    struct ip_addr ip;

    if (!e->is_static || !cfg || !p->d->segment_from_controller[segment]) {
        return;
    }
    json_t *seg = model_segment(p->model, cfg->vni);
    if (p->arp) {
        uint32_t v = arp_entry_ip(e);
        const uint8_t v4[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                               (uint8_t)v};
        ip_addr_set_v4(&ip, v4);
        ip_addr_format(&ip, key);
        if (json_object_get(json_object_get(seg, "ips"), key)) {
            return;
        }
    } else {
        eth_addr_from_u64(mac_entry_mac(e), mac.bytes);
        eth_addr_format(mac.bytes, key);
        if (json_object_get(json_object_get(seg, "macs"), key)) {
            return;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void *ips = realloc(p->ips, cap * sizeof *p->ips);
        if (ips) {
            p->ips = ips;
        }
        void *macs = realloc(p->macs, cap * sizeof *p->macs);
        if (macs) {
            p->macs = macs;
        }
        void *segs = realloc(p->segments, cap * sizeof *p->segments);
        if (segs) {
            p->segments = segs;
        }
        if (!ips || !macs || !segs) {
            return;
        }
        p->cap = cap;
    }
    p->ips[p->n] = ip;
    p->macs[p->n] = mac;
    p->segments[p->n++] = segment;
}

/* Removes from the switch what the controller gave before and the new model
 * lacks; what both have is left alone, so it never blinks. */
static void prune(struct weftd *d, json_t *model)
{
    struct prune_ctx p = {.d = d, .model = model};

    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        struct weftd_port *port = &d->ports[i];
        if (port->in_use && port->from_controller &&
            !json_object_get(json_object_get(model, "ports"), port->name)) {
            log_info("port %s: no longer bound to this host", port->name);
            weftd_ctl_port_del(d, port);
        }
    }
    for (uint32_t s = 0; s < d->sw_config.max_segments; s++) {
        const struct segment_config *cfg = vswitch_segment_get(d->sw, s);
        if (!cfg || !d->segment_from_controller[s]) {
            continue;
        }
        json_t *seg = model_segment(model, cfg->vni);
        if (!seg) {
            apply_segment_del(d, cfg->vni);
            continue;
        }
        uint32_t ids[1024];
        uint32_t n = vswitch_segment_peers(d->sw, s, ids, 1024);
        struct ip_addr gone[1024];
        uint32_t n_gone = 0;
        for (uint32_t i = 0; i < n && i < 1024; i++) {
            char ip[IP_ADDR_STRLEN];
            const struct ip_addr *addr = vswitch_vtep_addr(d->sw, ids[i]);
            if (!json_object_get(json_object_get(seg, "vteps"), ip_addr_format(addr, ip))) {
                gone[n_gone++] = *addr;
            }
        }
        for (uint32_t i = 0; i < n_gone; i++) {
            vswitch_segment_peer_del(d->sw, s, &gone[i]);
        }
    }
    vswitch_mac_foreach(d->sw, prune_collect, &p);
    for (size_t i = 0; i < p.n; i++) {
        vswitch_mac_del(d->sw, p.segments[i], &p.macs[i]);
    }
    p.n = 0;
    p.arp = true;
    vswitch_arp_foreach(d->sw, prune_collect, &p);
    for (size_t i = 0; i < p.n; i++) {
        vswitch_arp_del(d->sw, p.segments[i], &p.ips[i]);
    }
    free(p.ips);
    free(p.macs);
    free(p.segments);
}

/* ---- Snapshots, updates, the saved state -------------------------------------- */

/* Replaces the controller-given state with the parts (one snapshot): checked
 * whole first, then applied as a difference. 0 or EPROTO (why set). */
static int apply_snapshot(struct weftd *d, struct snapshot_part *parts, uint32_t n, char *why,
                          size_t why_len)
{
    struct weftd_agent *a = d->agent;
    json_t *model = model_new();
    struct overlay o = {.base = model, .segs = json_object(), .vteps = json_object()};
    int error = 0;

    for (uint32_t p = 0; p < n && !error; p++) {
        for (uint32_t i = 0; i < parts[p].msg.batch.n_ops && !error; i++) {
            error = overlay_check(&o, &parts[p].msg.batch.ops[i], i, why, why_len);
        }
    }
    json_decref(o.segs);
    json_decref(o.vteps);
    if (error) {
        json_decref(model);
        return error;
    }
    for (uint32_t p = 0; p < n; p++) {
        for (uint32_t i = 0; i < parts[p].msg.batch.n_ops; i++) {
            model_apply(model, &parts[p].msg.batch.ops[i], json_array_get(parts[p].ops, i));
        }
    }
    prune(d, model);
    json_decref(a->model);
    a->model = model;
    json_object_clear(a->port_reasons);
    a->pending = false;
    for (uint32_t p = 0; p < n; p++) {
        for (uint32_t i = 0; i < parts[p].msg.batch.n_ops; i++) {
            apply_op(d, &parts[p].msg.batch.ops[i]);
        }
    }
    replication_sync(d);
    return 0;
}

static int apply_update(struct weftd *d, const struct agent_msg *m, char *why, size_t why_len)
{
    struct weftd_agent *a = d->agent;
    struct overlay o = {.base = a->model, .segs = json_object(), .vteps = json_object()};
    json_t *ops = ops_json(m);
    int error = ops ? 0 : ENOMEM;

    for (uint32_t i = 0; i < m->batch.n_ops && !error; i++) {
        error = overlay_check(&o, &m->batch.ops[i], i, why, why_len);
    }
    json_decref(o.segs);
    json_decref(o.vteps);
    if (error == ENOMEM) {
        snprintf(why, why_len, "out of memory");
    }
    for (uint32_t i = 0; i < m->batch.n_ops && !error; i++) {
        model_apply(a->model, &m->batch.ops[i], json_array_get(ops, i));
        apply_op(d, &m->batch.ops[i]);
    }
    if (!error) {
        replication_sync(d);
    }
    json_decref(ops);
    return error;
}

static void save_state(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    json_t *state = json_pack("{si ss sI sO}", "version", STATE_VERSION, "epoch", a->epoch,
                              "revision", (json_int_t)a->revision, "state", a->model);

    if (weftd_write_json(d, STATE_FILE, state) == 0) {
        a->dirty = false;
    }
    json_decref(state);
}

/* The last state the controller gave, applied as at the end of a snapshot. */
static void restore_state(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    char path[PATH_MAX + 32], why[AGENT_PROTO_ERRTEXT_LEN] = "";
    struct snapshot_part *parts = NULL;
    uint32_t n = 0;
    json_error_t jerr;
    json_t *state;
    json_int_t revision = 0;
    const char *epoch = "";

    snprintf(path, sizeof path, "%s/%s", d->datadir, STATE_FILE);
    if (access(path, F_OK) != 0) {
        log_info("no saved controller state at %s: starting with none", path);
        return;
    }
    state = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *model = NULL;
    json_int_t version = 0;
    if (!state ||
        json_unpack(state, "{sI ss sI so}", "version", &version, "epoch", &epoch, "revision",
                    &revision, "state", &model) ||
        version != STATE_VERSION || revision < 0 || strlen(epoch) > AGENT_PROTO_EPOCH_MAX ||
        !json_is_object(json_object_get(model, "segments")) ||
        !json_is_object(json_object_get(model, "ports"))) {
        log_error("%s is not a controller state of this weftd: ignored (the controller sends a "
                  "snapshot)",
                  path);
        json_decref(state);
        return;
    }
    if (model_to_parts(model, (uint64_t)revision, &parts, &n, why, sizeof why) ||
        apply_snapshot(d, parts, n, why, sizeof why)) {
        log_error("%s: %s: ignored (the controller sends a snapshot)", path, why);
    } else {
        snprintf(a->epoch, sizeof a->epoch, "%s", epoch);
        a->revision = (uint64_t)revision;
        log_info("restored the controller's state (revision %llu, epoch %s) from %s",
                 (unsigned long long)a->revision, a->epoch, path);
    }
    parts_free(parts, n);
    json_decref(state);
}

/* Applies the whole model again, quietly: what conflicted may fit now. */
static void reconcile(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    struct snapshot_part *parts = NULL;
    uint32_t n = 0;
    char why[AGENT_PROTO_ERRTEXT_LEN];

    a->pending = false;
    a->quiet = true;
    if (model_to_parts(a->model, a->revision, &parts, &n, why, sizeof why) == 0) {
        for (uint32_t p = 0; p < n; p++) {
            for (uint32_t i = 0; i < parts[p].msg.batch.n_ops; i++) {
                apply_op(d, &parts[p].msg.batch.ops[i]);
            }
        }
        replication_sync(d);
    }
    a->quiet = false;
    parts_free(parts, n);
}

/* ---- Sending ---------------------------------------------------------------------- */

static void watch_events(struct weftd *d, uint32_t events)
{
    struct weftd_agent *a = d->agent;
    struct epoll_event ev = {.events = events, .data.ptr = &a->source};

    epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, a->fd, &ev);
}

/* Writes what the queue holds; 0, or an errno when the connection failed. */
static int flush(struct weftd *d)
{
    struct weftd_agent *a = d->agent;

    while (a->out_off < a->out_len) {
        ssize_t n = send(a->fd, a->out + a->out_off, a->out_len - a->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n <= 0) {
            return errno ? errno : EPIPE;
        }
        a->out_off += (size_t)n;
    }
    if (a->out_off == a->out_len) {
        a->out_off = a->out_len = 0;
    }
    bool want = a->out_len > 0;
    if (want != a->want_write) {
        a->want_write = want;
        watch_events(d, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0));
    }
    return 0;
}

static void fail(struct weftd *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks, encodes and queues a message. 0, EMSGSIZE (split it), or another errno
 * after which the session is closed. */
static int send_msg(struct weftd *d, const struct agent_msg *m)
{
    struct weftd_agent *a = d->agent;
    struct agent_proto_error err;
    uint8_t *frame;
    size_t len;
    int error = agent_msg_encode(m, 0, &frame, &len, &err);

    if (error) {
        if (error != EMSGSIZE) {
            log_error("controller session: cannot encode %s: %s", agent_msg_type_name(m->type),
                      err.text);
        }
        return error;
    }
    if ((error = agent_proto_session_send(&a->session, m, &err))) {
        log_error("controller session: refusing to send %s: %s", agent_msg_type_name(m->type),
                  err.text);
        free(frame);
        return error;
    }
    if (a->out_len + len > SEND_QUEUE_MAX) {
        free(frame);
        return ENOBUFS;
    }
    uint8_t *out = realloc(a->out, a->out_len + len);
    if (!out) {
        free(frame);
        return ENOMEM;
    }
    a->out = out;
    memcpy(a->out + a->out_len, frame, len);
    a->out_len += len;
    free(frame);
    a->last_send_ms = weftd_now_ms();
    return flush(d);
}

/* Sends ops as one report, or as several (full: parts; otherwise separate
 * delta reports) when they do not fit in one message. */
static int send_report(struct weftd *d, bool full, struct agent_op *ops, uint32_t n)
{
    uint32_t chunk = AGENT_PROTO_MAX_OPS, done = 0;
    int error = 0;

    do {
        struct agent_msg m;
        agent_msg_init(&m, AGENT_MSG_REPORT);
        m.batch.full = full;
        m.batch.n_ops = n - done < chunk ? n - done : chunk;
        m.batch.more = full && done + m.batch.n_ops < n;
        m.batch.ops = ops + done;
        error = send_msg(d, &m);
        if (error == EMSGSIZE && chunk > 1) {
            chunk /= 2;
            error = 0;
            continue;
        }
        done += m.batch.n_ops;
    } while (!error && done < n);
    return error;
}

/* ---- Reports ---------------------------------------------------------------------- */

static int delta_push(struct weftd_agent *a, const struct agent_op *op)
{
    if (a->n_delta == a->cap_delta) {
        uint32_t cap = a->cap_delta ? a->cap_delta * 2 : 256;
        struct agent_op *ops = realloc(a->delta, cap * sizeof *ops);
        if (!ops) {
            return ENOMEM;
        }
        a->delta = ops;
        a->cap_delta = cap;
    }
    a->delta[a->n_delta++] = *op;
    return 0;
}

/* The state of a controller port as reported: up, or down and why. */
static void port_state_of(struct weftd *d, const char *name, struct agent_port_state *ps)
{
    struct weftd_port *port = weftd_port_by_name(d, name);
    const char *reason;

    memset(ps, 0, sizeof *ps);
    snprintf(ps->port, sizeof ps->port, "%s", name);
    if (port && port->from_controller) {
        ps->up = port->io != NULL;
        reason = port->io ? "" : port->io_error;
    } else {
        reason = json_string_value(json_object_get(d->agent->port_reasons, name));
        reason = reason ? reason : "not applied on this host";
    }
    snprintf(ps->reason, sizeof ps->reason, "%s", reason);
}

/* Adds port_state ops for the model's ports whose state changed since last sent. */
static void port_states(struct weftd *d, bool all)
{
    struct weftd_agent *a = d->agent;
    const char *name;
    json_t *v;
    char text[AGENT_PROTO_TEXT_MAX + 8];

    json_object_foreach(json_object_get(a->model, "ports"), name, v)
    {
        struct agent_op op = {.type = AGENT_OP_PORT_STATE};
        port_state_of(d, name, &op.port_state);
        snprintf(text, sizeof text, "%s:%s", op.port_state.up ? "up" : "down",
                 op.port_state.reason);
        const char *last = json_string_value(json_object_get(a->reported, name));
        if (all || !last || strcmp(last, text) != 0) {
            if (delta_push(a, &op) == 0) {
                json_object_set_new(a->reported, name, json_string(text));
            }
        }
    }
}

struct full_ctx {
    struct weftd *d;
};

static void full_mac(const struct mac_entry *e, void *ctx)
{
    struct weftd *d = ((struct full_ctx *)ctx)->d;
    uint32_t segment = mac_entry_segment(e);
    const struct segment_config *cfg = vswitch_segment_get(d->sw, segment);
    struct agent_op op = {.type = AGENT_OP_MAC_LEARNED};

    if (e->is_static || (e->dest & MAC_DEST_VTEP) || !cfg || !d->segment_from_controller[segment]) {
        return;
    }
    op.entry.vni = cfg->vni;
    eth_addr_from_u64(mac_entry_mac(e), op.entry.mac.bytes);
    snprintf(op.entry.port, sizeof op.entry.port, "%s",
             d->ports[e->dest & MAC_DEST_INDEX_MASK].name);
    delta_push(d->agent, &op);
}

/* IPs whose MAC is on a local port: what this host can vouch for. */
static void full_ip(const struct mac_entry *e, void *ctx)
{
    struct weftd *d = ((struct full_ctx *)ctx)->d;
    uint32_t segment = mac_entry_segment(e);
    const struct segment_config *cfg = vswitch_segment_get(d->sw, segment);
    struct agent_op op = {.type = AGENT_OP_IP_LEARNED};
    uint32_t v = arp_entry_ip(e);
    const uint8_t v4[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    if (e->is_static || !cfg || !d->segment_from_controller[segment]) {
        return;
    }
    eth_addr_from_u64(arp_entry_mac(e), op.entry.mac.bytes);
    const struct mac_entry *m = vswitch_mac_lookup(d->sw, segment, &op.entry.mac);
    if (!m || m->is_static || (m->dest & MAC_DEST_VTEP)) {
        return;
    }
    op.entry.vni = cfg->vni;
    ip_addr_set_v4(&op.entry.ip, v4);
    delta_push(d->agent, &op);
}

static int send_full_report(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    struct full_ctx ctx = {d};
    int error;

    a->n_delta = 0;
    json_object_clear(a->reported);
    vswitch_mac_foreach(d->sw, full_mac, &ctx);
    vswitch_arp_foreach(d->sw, full_ip, &ctx);
    port_states(d, true);
    error = send_report(d, true, a->delta, a->n_delta);
    a->n_delta = 0;
    a->full_report_due = false;
    return error;
}

/* The learn events since the last tick as ops (controller segments only). */
static bool drain_events(struct weftd *d)
{
    static struct vswitch_event events[EVENTS_PER_DRAIN];
    struct weftd_agent *a = d->agent;
    uint64_t lost = 0, lost_now;
    bool open = a->state == AGENT_CONNECTED || a->state == AGENT_SYNCING;
    uint32_t n;

    do {
        n = vswitch_events_drain(d->sw, events, EVENTS_PER_DRAIN, &lost_now);
        lost += lost_now;
        for (uint32_t i = 0; open && i < n; i++) {
            const struct vswitch_event *ev = &events[i];
            const struct segment_config *cfg = vswitch_segment_get(d->sw, ev->segment);
            struct agent_op op = {.type = AGENT_OP_MAC_LEARNED};
            if (!cfg || !d->segment_from_controller[ev->segment]) {
                continue;
            }
            op.entry.vni = cfg->vni;
            op.entry.mac = ev->mac;
            switch (ev->type) {
            case VSWITCH_EVENT_MAC_LEARNED:
            case VSWITCH_EVENT_MAC_MOVED:
                if (ev->port == PKT_PORT_OVERLAY) {
                    op.type = AGENT_OP_MAC_GONE;
                } else {
                    snprintf(op.entry.port, sizeof op.entry.port, "%s", d->ports[ev->port].name);
                }
                break;
            case VSWITCH_EVENT_MAC_AGED:
                op.type = AGENT_OP_MAC_GONE;
                break;
            case VSWITCH_EVENT_IP_LEARNED:
                op.type = AGENT_OP_IP_LEARNED;
                op.entry.ip = ev->ip;
                break;
            }
            if (delta_push(a, &op)) {
                lost++;
            }
        }
    } while (n == EVENTS_PER_DRAIN);
    return lost > 0;
}

/* ---- The session ------------------------------------------------------------------ */

static void log_session(struct weftd *d, bool error, const char *text)
{
    struct weftd_agent *a = d->agent;

    snprintf(a->last_error, sizeof a->last_error, "%s", text);
    /* Once per change: a controller that stays away is not logged every retry. */
    if (strcmp(a->logged_error, text) != 0) {
        snprintf(a->logged_error, sizeof a->logged_error, "%s", text);
        if (error) {
            log_warn("controller %s: %s", a->opts.controllers[a->current], text);
        } else {
            log_info("controller %s: %s", a->opts.controllers[a->current], text);
        }
    }
}

/* Ends the session: code >= 0 sends that error first. The state stays applied. */
static void fail(struct weftd *d, int code, const char *fmt, ...)
{
    struct weftd_agent *a = d->agent;
    char text[sizeof a->last_error];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (code >= 0 && a->fd >= 0) {
        struct agent_msg m;
        agent_msg_init(&m, AGENT_MSG_ERROR);
        m.error.code = (enum agent_error_code)code;
        snprintf(m.error.message, sizeof m.error.message, "%.*s", (int)AGENT_PROTO_TEXT_MAX, text);
        send_msg(d, &m);
    }
    log_session(d, true, text);
    agent_close(d, true);
}

static void agent_close(struct weftd *d, bool retry)
{
    struct weftd_agent *a = d->agent;

    if (a->fd >= 0) {
        epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, a->fd, NULL);
        close(a->fd);
        a->fd = -1;
    }
    agent_proto_decoder_destroy(&a->decoder);
    parts_free(a->parts, a->n_parts);
    a->parts = NULL;
    a->n_parts = 0;
    free(a->out);
    a->out = NULL;
    a->out_len = a->out_off = 0;
    a->want_write = false;
    a->n_delta = 0;
    if (retry) {
        /* Backoff with +-20% jitter, so that hosts do not come back in step. */
        uint64_t jitter = a->backoff_ms / 5;
        uint64_t wait = a->backoff_ms - jitter + (uint64_t)random() % (2 * jitter + 1);
        a->next_attempt_ms = weftd_now_ms() + wait;
        a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
        a->current = (a->current + 1) % a->opts.n_controllers;
        set_state(a, AGENT_WAITING);
    }
}

/* "10.0.0.5:7443" or "[fd00::5]:7443", numeric (no DNS lookup blocks the loop). */
static int resolve(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res;

    if (!colon || colon == text) {
        return EINVAL;
    }
    size_t hlen = (size_t)(colon - text);
    if (text[0] == '[' && hlen >= 2 && text[hlen - 1] == ']') {
        snprintf(host, sizeof host, "%.*s", (int)(hlen - 2), text + 1);
    } else {
        snprintf(host, sizeof host, "%.*s", (int)hlen, text);
    }
    if (getaddrinfo(host, colon + 1, &hints, &res)) {
        return EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void connect_start(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    const char *addr = a->opts.controllers[a->current];
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;

    if (resolve(addr, &ss, &len)) {
        fail(d, -1, "'%s' is not a numeric ADDR:PORT", addr);
        return;
    }
    a->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        fail(d, -1, "socket: %s", strerror(errno));
        return;
    }
    setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(a->fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
        fail(d, -1, "connect: %s", strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = &a->source};
    epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, a->fd, &ev);
    a->want_write = true;
    agent_proto_session_init(&a->session, AGENT_PROTO_ROLE_AGENT);
    agent_proto_decoder_init(&a->decoder, 0);
    a->connect_ms = a->last_recv_ms = weftd_now_ms();
    set_state(a, AGENT_CONNECTING);
}

static void send_hello(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    struct agent_msg m;

    agent_msg_init(&m, AGENT_MSG_HELLO);
    m.hello.version = AGENT_PROTO_VERSION;
    m.hello.min_version = AGENT_PROTO_VERSION;
    snprintf(m.hello.host, sizeof m.hello.host, "%s", d->name);
    m.hello.vtep = a->vtep;
    m.hello.vtep_prefix_len = a->prefix_len;
    snprintf(m.hello.token, sizeof m.hello.token, "%s", a->token);
    if (a->revision && a->epoch[0]) {
        m.hello.revision = a->revision;
        snprintf(m.hello.epoch, sizeof m.hello.epoch, "%s", a->epoch);
    }
    snprintf(m.hello.software, sizeof m.hello.software, "weftd %s", WEFT_VERSION);
    set_state(a, AGENT_HELLO);
    int error = send_msg(d, &m);
    if (error) {
        fail(d, -1, "cannot send hello: %s", strerror(error));
    }
}

static void on_welcome(struct weftd *d, const struct agent_welcome *w)
{
    struct weftd_agent *a = d->agent;
    char text[128];

    a->heartbeat_ms = w->heartbeat_ms;
    a->dead_ms = w->dead_ms;
    a->backoff_ms = BACKOFF_MIN_MS;
    snprintf(a->session_epoch, sizeof a->session_epoch, "%s", w->epoch);
    if (w->resumed) {
        a->session_revision = w->revision;
        set_state(a, AGENT_CONNECTED);
        snprintf(text, sizeof text, "connected, resumed at revision %llu",
                 (unsigned long long)w->revision);
    } else {
        a->session_revision = 0;
        set_state(a, AGENT_SYNCING);
        snprintf(text, sizeof text, "connected, waiting for a snapshot");
    }
    log_session(d, false, text);
    a->last_error[0] = '\0';
    int error = send_full_report(d);
    if (error) {
        fail(d, -1, "cannot send the full report: %s", strerror(error));
    }
}

/* Handles one message that passed the session's order check. false: the session
 * is closed. */
static bool on_message(struct weftd *d, struct agent_msg *m)
{
    struct weftd_agent *a = d->agent;
    char why[AGENT_PROTO_ERRTEXT_LEN];

    switch (m->type) {
    case AGENT_MSG_WELCOME:
        on_welcome(d, &m->welcome);
        return a->fd >= 0;
    case AGENT_MSG_SNAPSHOT: {
        struct snapshot_part *parts = realloc(a->parts, (a->n_parts + 1) * sizeof *parts);
        json_t *ops = ops_json(m);
        if (!parts || !ops) {
            if (parts) {
                a->parts = parts;
            }
            json_decref(ops);
            fail(d, AGENT_ERR_INTERNAL, "out of memory for a snapshot");
            return false;
        }
        a->parts = parts;
        a->parts[a->n_parts].msg = *m;
        a->parts[a->n_parts++].ops = ops;
        agent_msg_init(m, AGENT_MSG_HEARTBEAT); /* the part owns the ops now */
        if (a->parts[a->n_parts - 1].msg.batch.more) {
            return true;
        }
        uint64_t revision = a->parts[0].msg.batch.revision;
        if (apply_snapshot(d, a->parts, a->n_parts, why, sizeof why)) {
            fail(d, AGENT_ERR_PROTOCOL, "snapshot refused: %s", why);
            return false;
        }
        parts_free(a->parts, a->n_parts);
        a->parts = NULL;
        a->n_parts = 0;
        snprintf(a->epoch, sizeof a->epoch, "%s", a->session_epoch);
        a->revision = a->session_revision = revision;
        a->dirty = true;
        if (a->state != AGENT_CONNECTED) {
            set_state(a, AGENT_CONNECTED);
            log_info("controller %s: in sync at revision %llu", a->opts.controllers[a->current],
                     (unsigned long long)revision);
        }
        return true;
    }
    case AGENT_MSG_UPDATE:
        if (apply_update(d, m, why, sizeof why)) {
            fail(d, AGENT_ERR_PROTOCOL, "update refused: %s", why);
            return false;
        }
        a->revision = a->session_revision = m->batch.revision;
        a->dirty = true;
        return true;
    case AGENT_MSG_HEARTBEAT:
        if (m->heartbeat.revision > a->session_revision) {
            a->revision = a->session_revision = m->heartbeat.revision;
            a->dirty = true;
        }
        return true;
    case AGENT_MSG_ERROR:
        fail(d, -1, "closed the session: %s: %s", agent_error_code_name(m->error.code),
             m->error.message);
        return false;
    default:
        fail(d, AGENT_ERR_PROTOCOL, "unexpected %s", agent_msg_type_name(m->type));
        return false;
    }
}

static void on_readable(struct weftd *d)
{
    static uint8_t buf[RECV_CHUNK];
    struct weftd_agent *a = d->agent;
    struct agent_proto_error err;

    for (;;) {
        ssize_t n = recv(a->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            if (n == 0 && agent_proto_decoder_finish(&a->decoder, &err) == EPIPE) {
                fail(d, -1, "the connection ended inside a message (truncated)");
            } else {
                fail(d, -1, "the connection closed%s%s", n ? ": " : "", n ? strerror(errno) : "");
            }
            return;
        }
        a->last_recv_ms = weftd_now_ms();
        size_t off = 0;
        while (off < (size_t)n) {
            struct agent_msg m;
            size_t used = 0;
            int error =
                agent_proto_decoder_feed(&a->decoder, buf + off, (size_t)n - off, &used, &m, &err);
            off += used;
            if (error == EAGAIN) {
                break;
            }
            if (error) {
                fail(d, (int)agent_proto_error_code(&err), "%s", err.text);
                return;
            }
            if (agent_proto_session_recv(&a->session, &m, &err)) {
                agent_msg_free(&m);
                fail(d, AGENT_ERR_PROTOCOL, "%s", err.text);
                return;
            }
            bool alive = on_message(d, &m);
            agent_msg_free(&m);
            if (!alive) {
                return;
            }
        }
    }
}

void weftd_agent_event(struct weftd *d, uint32_t events)
{
    struct weftd_agent *a = d->agent;

    if (!a || a->fd < 0) {
        return;
    }
    if (a->state == AGENT_CONNECTING) {
        int error = 0;
        socklen_t len = sizeof error;
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &error, &len) || error) {
            fail(d, -1, "connect: %s", strerror(error ? error : errno));
            return;
        }
        send_hello(d);
        return;
    }
    if (events & EPOLLOUT) {
        int error = flush(d);
        if (error) {
            fail(d, -1, "send: %s", strerror(error));
            return;
        }
    }
    if (a->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        on_readable(d);
    }
}

void weftd_agent_tick(struct weftd *d)
{
    struct weftd_agent *a = d->agent;
    uint64_t ticks, now = weftd_now_ms();

    if (!a || read(a->timer_fd, &ticks, sizeof ticks) != sizeof ticks) {
        return;
    }
    bool lost = drain_events(d);
    if (a->pending && now - a->last_reconcile_ms >= RECONCILE_MS) {
        a->last_reconcile_ms = now;
        reconcile(d);
    }
    switch (a->state) {
    case AGENT_WAITING:
        if (now >= a->next_attempt_ms) {
            connect_start(d);
        }
        break;
    case AGENT_CONNECTING:
    case AGENT_HELLO:
        if (now - a->connect_ms >= AGENT_PROTO_HELLO_TIMEOUT_MS) {
            fail(d, a->state == AGENT_HELLO ? AGENT_ERR_TIMEOUT : -1, "no welcome within %u s",
                 AGENT_PROTO_HELLO_TIMEOUT_MS / 1000);
        }
        break;
    case AGENT_SYNCING:
    case AGENT_CONNECTED: {
        int error = 0;
        if (now - a->last_recv_ms >= a->dead_ms) {
            fail(d, AGENT_ERR_TIMEOUT, "nothing received for %u ms", a->dead_ms);
            break;
        }
        if (lost || a->full_report_due) {
            log_warn("the switch lost learn events: sending a full report");
            error = send_full_report(d);
        } else {
            port_states(d, false);
            if (a->n_delta) {
                error = send_report(d, false, a->delta, a->n_delta);
            }
        }
        a->n_delta = 0;
        if (!error && now - a->last_send_ms >= a->heartbeat_ms) {
            struct agent_msg m;
            agent_msg_init(&m, AGENT_MSG_HEARTBEAT);
            m.heartbeat.revision = a->session_revision;
            error = send_msg(d, &m);
        }
        if (error) {
            fail(d, -1, "send: %s", strerror(error));
        }
        break;
    }
    }
    a->n_delta = 0;
    if (a->dirty) {
        save_state(d);
    }
}

/* ---- Start, stop, status ----------------------------------------------------------- */

static int read_token(struct weftd_agent *a, const char *path)
{
    FILE *f = fopen(path, "re");
    char line[AGENT_PROTO_TOKEN_MAX + 4] = "";

    if (!f) {
        log_error("--join-token-file %s: %s", path, strerror(errno));
        return errno;
    }
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t len = got ? strcspn(line, "\r\n") : 0;
    line[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (line[i] <= ' ' || line[i] > '~') {
            len = 0;
        }
    }
    if (len < AGENT_PROTO_TOKEN_MIN || len > AGENT_PROTO_TOKEN_MAX) {
        log_error("--join-token-file %s: the first line must be the join token, %u to %u visible "
                  "ASCII characters (weft-controller prints it)",
                  path, AGENT_PROTO_TOKEN_MIN, AGENT_PROTO_TOKEN_MAX);
        return EINVAL;
    }
    memcpy(a->token, line, len + 1);
    return 0;
}

/* The prefix length of the interface address equal to the VTEP's. */
static int find_prefix_len(const struct ip_addr *vtep)
{
    struct ifaddrs *list, *ifa;
    int len = -1;

    if (getifaddrs(&list)) {
        return -1;
    }
    for (ifa = list; ifa && len < 0; ifa = ifa->ifa_next) {
        struct ip_addr addr, mask;
        const uint8_t *bytes;
        unsigned n;
        if (!ifa->ifa_addr || !ifa->ifa_netmask) {
            continue;
        }
        if (ifa->ifa_addr->sa_family == AF_INET) {
            ip_addr_set_v4(&addr,
                           (const uint8_t *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr);
            ip_addr_set_v4(&mask,
                           (const uint8_t *)&((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr);
            bytes = mask.bytes + 12;
            n = 4;
        } else if (ifa->ifa_addr->sa_family == AF_INET6) {
            ip_addr_set_v6(&addr,
                           (const uint8_t *)&((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr);
            ip_addr_set_v6(&mask,
                           (const uint8_t *)&((struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr);
            bytes = mask.bytes;
            n = 16;
        } else {
            continue;
        }
        if (ip_addr_equal(&addr, vtep)) {
            len = 0;
            for (unsigned i = 0; i < n; i++) {
                len += __builtin_popcount(bytes[i]);
            }
        }
    }
    freeifaddrs(list);
    return len;
}

int weftd_agent_start(struct weftd *d, const struct weftd_agent_options *opts)
{
    struct weftd_agent *a = calloc(1, sizeof *a);
    char text[IP_ADDR_STRLEN];
    int error;

    if (!a) {
        return ENOMEM;
    }
    d->agent = a;
    a->opts = *opts;
    a->fd = a->timer_fd = -1;
    a->model = model_new();
    a->port_reasons = json_object();
    a->reported = json_object();
    a->backoff_ms = BACKOFF_MIN_MS;
    a->since = time(NULL);
    a->source = (struct weftd_source){SOURCE_AGENT, NULL};
    a->timer_source = (struct weftd_source){SOURCE_AGENT_TIMER, NULL};
    srandom((unsigned)(weftd_now_ms() ^ (uint64_t)getpid()));
    if ((error = read_token(a, opts->token_file))) {
        return error;
    }
    a->vtep = ip_addr_is_zero(&d->sw_config.local_vtep4) ? d->sw_config.local_vtep6
                                                         : d->sw_config.local_vtep4;
    int len = opts->vtep_prefix_len >= 0 ? opts->vtep_prefix_len : find_prefix_len(&a->vtep);
    if (len < 1 || len > (ip_addr_is_v4(&a->vtep) ? 32 : 128)) {
        log_error("the VTEP address %s %s: give its subnet with --vtep-prefix-len",
                  ip_addr_format(&a->vtep, text),
                  len < 0 ? "is on no interface of this host" : "has an invalid prefix length");
        return EINVAL;
    }
    a->prefix_len = (uint8_t)len;
    for (unsigned i = 0; i < opts->n_controllers; i++) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (resolve(opts->controllers[i], &ss, &sl)) {
            log_error("--controller %s: not a numeric ADDR:PORT ([V6]:PORT for IPv6)",
                      opts->controllers[i]);
            return EINVAL;
        }
    }
    restore_state(d);
    a->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec tick = {.it_interval = {0, TICK_MS * 1000000L},
                              .it_value = {0, TICK_MS * 1000000L}};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &a->timer_source};
    if (a->timer_fd < 0 || timerfd_settime(a->timer_fd, 0, &tick, NULL) ||
        epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, a->timer_fd, &ev)) {
        log_error("cannot set up the agent's timer: %s", strerror(errno));
        return errno;
    }
    log_info("controller mode: host %s, VTEP %s/%u, %u controller(s), first %s", d->name,
             ip_addr_format(&a->vtep, text), a->prefix_len, opts->n_controllers,
             opts->controllers[0]);
    connect_start(d);
    return 0;
}

void weftd_agent_stop(struct weftd *d)
{
    struct weftd_agent *a = d->agent;

    if (!a) {
        return;
    }
    if (a->fd >= 0 && a->state >= AGENT_HELLO) {
        struct agent_msg m;
        agent_msg_init(&m, AGENT_MSG_ERROR);
        m.error.code = AGENT_ERR_SHUTDOWN;
        snprintf(m.error.message, sizeof m.error.message, "weftd is stopping");
        send_msg(d, &m);
    }
    if (a->dirty) {
        save_state(d);
    }
    agent_close(d, false);
    if (a->timer_fd >= 0) {
        close(a->timer_fd);
    }
    free(a->delta);
    json_decref(a->model);
    json_decref(a->port_reasons);
    json_decref(a->reported);
    free(a);
    d->agent = NULL;
}

json_t *weftd_agent_status_json(const struct weftd *d)
{
    const struct weftd_agent *a = d->agent;
    json_t *list = json_array();

    for (unsigned i = 0; i < a->opts.n_controllers; i++) {
        json_array_append_new(list, json_string(a->opts.controllers[i]));
    }
    return json_pack("{ss ss sI ss sI ss so sI}", "address", a->opts.controllers[a->current],
                     "state", state_names[a->state], "revision", (json_int_t)a->revision, "epoch",
                     a->epoch, "since", (json_int_t)a->since, "last_error", a->last_error,
                     "controllers", list, "segments",
                     (json_int_t)json_object_size(json_object_get(a->model, "segments")));
}
