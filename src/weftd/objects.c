/*
 * objects.c - JSON forms of weftd's objects.
 *
 * One codec per object serves both the control protocol (what `weft` sends
 * and shows) and the saved configuration (config.json), so a field accepted
 * on the command line is a field that survives a restart. Parsing is strict:
 * an unknown field, a wrong type or an out-of-range value is refused with a
 * message naming the field and what it accepts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "lib/name.h"
#include "weftd.h"

static bool key_known(const char *key, const char *const *known)
{
    for (unsigned i = 0; known[i]; i++) {
        if (strcmp(key, known[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Refuses keys a spec does not know, listing the ones it does. */
static enum weftd_status check_keys(json_t *obj, const char *const *known, const char *what,
                                    char *msg)
{
    const char *key;
    json_t *value;
    char list[256] = "";

    if (!json_is_object(obj)) {
        return weftd_error(msg, WEFTD_INVALID, "%s must be a JSON object", what);
    }
    json_object_foreach(obj, key, value)
    {
        if (!key_known(key, known)) {
            for (unsigned i = 0; known[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, known[i], sizeof list - strlen(list) - 1);
            }
            return weftd_error(msg, WEFTD_INVALID, "unknown %s field '%s' (known: %s)", what, key,
                               list);
        }
    }
    return WEFTD_OK;
}

/* Reads an optional integer field in [min, max]; absent leaves *out as it is. */
static enum weftd_status get_int(json_t *obj, const char *key, long long min, long long max,
                                 uint32_t *out, char *msg)
{
    json_t *v = json_object_get(obj, key);

    if (!v) {
        return WEFTD_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' must be an integer from %lld to %lld", key,
                           min, max);
    }
    *out = (uint32_t)json_integer_value(v);
    return WEFTD_OK;
}

static enum weftd_status get_bool(json_t *obj, const char *key, bool *out, char *msg)
{
    json_t *v = json_object_get(obj, key);

    if (!v) {
        return WEFTD_OK;
    }
    if (!json_is_boolean(v)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' must be true or false", key);
    }
    *out = json_is_true(v);
    return WEFTD_OK;
}

static enum weftd_status get_string(json_t *obj, const char *key, const char **out, char *msg)
{
    json_t *v = json_object_get(obj, key);

    if (!v) {
        return WEFTD_OK;
    }
    if (!json_is_string(v)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' must be a string", key);
    }
    *out = json_string_value(v);
    return WEFTD_OK;
}

/* ---- Counters and statistics ----------------------------------------------- */

json_t *weftd_counters_json(const struct vswitch_counters *c)
{
    json_t *drops = json_object();

    for (unsigned r = 1; r < DROP_REASON_COUNT; r++) {
        if (c->drops[r]) {
            json_object_set_new(drops, drop_reason_name(r), json_integer((json_int_t)c->drops[r]));
        }
    }
    return json_pack("{sI sI sI sI sI so}", "rx_packets", (json_int_t)c->rx_packets, "rx_bytes",
                     (json_int_t)c->rx_bytes, "tx_packets", (json_int_t)c->tx_packets, "tx_bytes",
                     (json_int_t)c->tx_bytes, "flood_packets", (json_int_t)c->flood_packets,
                     "drops", drops);
}

static json_t *io_drops_json(const uint64_t *drops, uint64_t tx_errors)
{
    json_t *obj = json_object();

    for (unsigned r = 1; r < DROP_REASON_COUNT; r++) {
        if (drops[r]) {
            json_object_set_new(obj, drop_reason_name(r), json_integer((json_int_t)drops[r]));
        }
    }
    return json_pack("{so sI}", "rx_drops", obj, "tx_errors", (json_int_t)tx_errors);
}

/* Adds one queue's (or one worker's socket's) drops to a sum; they may still
 * be counting on their worker. */
static void io_drops_add(uint64_t *drops, uint64_t *tx_errors, const uint64_t *rx_drops,
                         const uint64_t *queue_tx_errors)
{
    for (unsigned r = 0; r < DROP_REASON_COUNT; r++) {
        drops[r] += __atomic_load_n(&rx_drops[r], __ATOMIC_RELAXED);
    }
    *tx_errors += __atomic_load_n(queue_tx_errors, __ATOMIC_RELAXED);
}

json_t *weftd_stats_json(const struct weftd *d)
{
    struct vswitch_stats s;
    json_t *io = json_object();

    json_t *ports = json_object();

    vswitch_get_stats(d->sw, &s);
    /* Ports apart from the VTEPs, so that no port name can be mistaken for a VTEP. */
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        const struct weftd_port *p = &d->ports[i];
        if (p->in_use && p->io) {
            uint64_t drops[DROP_REASON_COUNT] = {0}, tx_errors = 0;
            for (uint32_t q = 0; q < p->n_queues; q++) {
                io_drops_add(drops, &tx_errors, p->queues[q]->rx_drops, &p->queues[q]->tx_errors);
            }
            json_object_set_new(ports, p->name, io_drops_json(drops, tx_errors));
        }
    }
    json_object_set_new(io, "ports", ports);
    for (unsigned f = 0; f < 2; f++) {
        if (d->vtep[f]) {
            uint64_t drops[DROP_REASON_COUNT] = {0}, tx_errors = 0;
            for (uint32_t w = 0; w < d->n_workers; w++) {
                const struct vtep_io *v = d->workers[w].vtep[f];
                io_drops_add(drops, &tx_errors, v->rx_drops, &v->tx_errors);
            }
            json_object_set_new(io, f ? "vtep6" : "vtep4", io_drops_json(drops, tx_errors));
        }
    }
    /* Each worker's own frames in and out: how the flows spread over them. */
    json_t *workers = json_array();
    for (uint32_t w = 0; w < d->n_workers; w++) {
        struct vswitch_stats ws;
        vswitch_worker_stats(d->workers[w].sw, &ws);
        json_array_append_new(workers, weftd_counters_json(&ws.total));
    }
    json_t *stats = json_pack(
        "{so sI sI sI sI sI sI sI sI sI sI sI sI sI sI so}", "total", weftd_counters_json(&s.total),
        "mac_learned", (json_int_t)s.mac_learned, "mac_moves", (json_int_t)s.mac_moves, "mac_aged",
        (json_int_t)s.mac_aged, "mac_table_full", (json_int_t)s.mac_table_full, "arp_suppressed",
        (json_int_t)s.arp_suppressed, "arp_learned", (json_int_t)s.arp_learned, "arp_changed",
        (json_int_t)s.arp_changed, "arp_aged", (json_int_t)s.arp_aged, "arp_table_full",
        (json_int_t)s.arp_table_full, "events_lost", (json_int_t)s.events_lost, "proxy_replicated",
        (json_int_t)s.proxy_replicated, "proxy_mark_ignored", (json_int_t)s.proxy_mark_ignored,
        "pmtu_icmp_sent", (json_int_t)s.pmtu_icmp_sent, "pmtu_icmp_ratelimited",
        (json_int_t)s.pmtu_icmp_ratelimited, "io", io);
    json_object_set_new(stats, "workers", workers);
    return stats;
}

/* ---- Segments ------------------------------------------------------------ */

json_t *weftd_segment_json(const struct weftd *d, uint32_t segment, bool with_counters)
{
    const struct segment_config *cfg = vswitch_segment_get(d->sw, segment);
    uint32_t ids[1024];
    uint32_t n = vswitch_segment_peers(d->sw, segment, ids, 1024);
    char text[IP_ADDR_STRLEN];
    json_t *peers = json_array();
    json_t *obj;

    for (uint32_t i = 0; i < n && i < 1024; i++) {
        json_array_append_new(peers,
                              json_string(ip_addr_format(vswitch_vtep_addr(d->sw, ids[i]), text)));
    }
    obj = json_pack("{sI sI ss sb so}", "vni", (json_int_t)cfg->vni, "vlan", (json_int_t)cfg->vlan,
                    "bum",
                    cfg->bum == BUM_MULTICAST ? "multicast"
                    : cfg->bum == BUM_PROXY   ? "proxy"
                                              : "head-end",
                    "allow_inner_vlan", cfg->allow_inner_vlan, "peers", peers);
    if (cfg->bum == BUM_MULTICAST) {
        json_object_set_new(obj, "group", json_string(ip_addr_format(&cfg->mcast_group, text)));
    }
    if (with_counters) {
        struct vswitch_counters c;
        json_t *ports = json_array();
        vswitch_segment_counters(d->sw, segment, &c);
        for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
            const struct weftd_port *p = &d->ports[i];
            const struct port_config *pc = p->in_use ? vswitch_port_get(d->sw, p->id) : NULL;
            if (pc && ((pc->mode == PORT_ACCESS && pc->access_segment == segment) ||
                       (pc->mode == PORT_TRUNK && cfg->vlan &&
                        port_config_vlan_allowed(pc, cfg->vlan)))) {
                json_array_append_new(ports, json_string(p->name));
            }
        }
        json_object_set_new(obj, "ports", ports);
        json_object_set_new(obj, "counters", weftd_counters_json(&c));
        /* Status only: neither is a field a local segment spec takes. */
        json_object_set_new(obj, "arp_suppression", json_boolean(cfg->arp_suppression));
        json_object_set_new(
            obj, "origin",
            json_string(d->segment_from_controller[segment] ? "controller" : "local"));
    }
    return obj;
}

enum weftd_status weftd_segment_parse(json_t *spec, struct segment_config *cfg, json_t **peers,
                                      char *msg)
{
    static const char *const known[] = {"vni",   "vlan", "bum", "group", "allow_inner_vlan",
                                        "peers", NULL};
    const char *bum = "head-end", *group = NULL;
    uint32_t vni = 0, vlan = 0;
    enum weftd_status st;

    memset(cfg, 0, sizeof *cfg);
    if ((st = check_keys(spec, known, "segment", msg)) ||
        (st = get_int(spec, "vni", 1, VXLAN_VNI_MAX, &vni, msg)) ||
        (st = get_int(spec, "vlan", 0, VLAN_ID_MAX, &vlan, msg)) ||
        (st = get_string(spec, "bum", &bum, msg)) ||
        (st = get_string(spec, "group", &group, msg)) ||
        (st = get_bool(spec, "allow_inner_vlan", &cfg->allow_inner_vlan, msg))) {
        return st;
    }
    if (!vni) {
        return weftd_error(msg, WEFTD_INVALID, "a segment needs 'vni' (1 to 16777215)");
    }
    cfg->vni = vni;
    cfg->vlan = (uint16_t)vlan;
    if (strcmp(bum, "head-end") == 0) {
        cfg->bum = BUM_HEAD_END;
        if (group) {
            return weftd_error(msg, WEFTD_INVALID, "'group' only applies with bum 'multicast'");
        }
    } else if (strcmp(bum, "multicast") == 0) {
        cfg->bum = BUM_MULTICAST;
        if (!group || ip_addr_parse(group, &cfg->mcast_group) ||
            !ip_addr_is_multicast(&cfg->mcast_group)) {
            return weftd_error(msg, WEFTD_INVALID,
                               "bum 'multicast' needs 'group', an IPv4 or IPv6 multicast "
                               "address such as 239.1.1.1");
        }
    } else {
        return weftd_error(msg, WEFTD_INVALID, "'bum' must be 'head-end' or 'multicast', not '%s'",
                           bum);
    }
    *peers = json_object_get(spec, "peers");
    if (*peers && !json_is_array(*peers)) {
        return weftd_error(msg, WEFTD_INVALID, "'peers' must be an array of addresses");
    }
    return WEFTD_OK;
}

/* ---- Ports --------------------------------------------------------------- */

/* "101,200-210" for the allowed VLANs of a trunk. */
static json_t *vlan_list_json(const struct port_config *cfg)
{
    char text[4096] = "";
    size_t used = 0;

    for (uint32_t v = 1; v <= VLAN_ID_MAX; v++) {
        if (!port_config_vlan_allowed(cfg, (uint16_t)v)) {
            continue;
        }
        uint32_t end = v;
        while (end < VLAN_ID_MAX && port_config_vlan_allowed(cfg, (uint16_t)(end + 1))) {
            end++;
        }
        used += (size_t)snprintf(text + used, sizeof text - used, used ? ",%u" : "%u", v);
        if (end > v) {
            used += (size_t)snprintf(text + used, sizeof text - used, "-%u", end);
        }
        v = end;
        if (used >= sizeof text - 16) {
            break;
        }
    }
    return json_string(text);
}

/* Accepts "101,200-210", a number, or an array of numbers and such strings. */
static enum weftd_status vlan_list_parse(json_t *v, struct port_config *cfg, char *msg)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            enum weftd_status st = vlan_list_parse(item, cfg, msg);
            if (st) {
                return st;
            }
        }
        return WEFTD_OK;
    }
    if (json_is_integer(v)) {
        json_int_t vlan = json_integer_value(v);
        if (vlan < 1 || vlan > VLAN_ID_MAX) {
            return weftd_error(msg, WEFTD_INVALID, "VLAN %lld is out of range 1-4094",
                               (long long)vlan);
        }
        port_config_allow_vlan(cfg, (uint16_t)vlan);
        return WEFTD_OK;
    }
    if (!json_is_string(v)) {
        return weftd_error(msg, WEFTD_INVALID, "'vlans' must be like \"101,200-210\"");
    }
    const char *p = json_string_value(v);
    while (*p) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p) {
            return weftd_error(msg, WEFTD_INVALID,
                               "bad VLAN list '%s': use numbers and ranges like 101,200-210",
                               json_string_value(v));
        }
        p = end;
        if (*p == '-') {
            hi = strtol(p + 1, &end, 10);
            if (end == p + 1) {
                return weftd_error(msg, WEFTD_INVALID, "bad VLAN range in '%s'",
                                   json_string_value(v));
            }
            p = end;
        }
        if (lo < 1 || hi > VLAN_ID_MAX || lo > hi) {
            return weftd_error(msg, WEFTD_INVALID, "VLAN range %ld-%ld is outside 1-4094", lo, hi);
        }
        for (long vlan = lo; vlan <= hi; vlan++) {
            port_config_allow_vlan(cfg, (uint16_t)vlan);
        }
        if (*p == ',') {
            p++;
        } else if (*p) {
            return weftd_error(msg, WEFTD_INVALID, "bad character '%c' in VLAN list '%s'", *p,
                               json_string_value(v));
        }
    }
    return WEFTD_OK;
}

static enum weftd_status bindings_parse(json_t *v, struct port_config *cfg, char *msg)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v)) {
        return weftd_error(msg, WEFTD_INVALID,
                           "'bindings' must be an array of {\"mac\": ..., \"ip\": ...}");
    }
    if (json_array_size(v) > PORT_MAX_BINDINGS) {
        return weftd_error(msg, WEFTD_INVALID, "at most %d bindings per port", PORT_MAX_BINDINGS);
    }
    cfg->n_bindings = 0;
    json_array_foreach(v, i, item)
    {
        static const char *const known[] = {"mac", "ip", NULL};
        struct port_binding *b = &cfg->bindings[cfg->n_bindings];
        const char *mac = NULL, *ip = NULL;
        enum weftd_status st;
        memset(b, 0, sizeof *b);
        if ((st = check_keys(item, known, "binding", msg)) ||
            (st = get_string(item, "mac", &mac, msg)) || (st = get_string(item, "ip", &ip, msg))) {
            return st;
        }
        if (!mac || eth_addr_parse(mac, &b->mac) || eth_addr_is_multicast(b->mac.bytes) ||
            eth_addr_is_zero(b->mac.bytes)) {
            return weftd_error(msg, WEFTD_INVALID,
                               "binding %zu: 'mac' must be a unicast MAC like 02:00:00:00:00:01",
                               i + 1);
        }
        if (ip && ip_addr_parse(ip, &b->ip)) {
            return weftd_error(msg, WEFTD_INVALID, "binding %zu: '%s' is not an IP address", i + 1,
                               ip);
        }
        cfg->n_bindings++;
    }
    return WEFTD_OK;
}

enum weftd_status weftd_port_parse(const struct weftd *d, json_t *spec, struct weftd_port *port,
                                   struct port_config *cfg, char *msg)
{
    static const char *const known[] = {
        "name",      "backend",     "ifname",        "netns",    "admin_up", "mode",
        "segment",   "vlans",       "native_vlan",   "tpid",     "mtu",      "learning",
        "mac_limit", "promiscuous", "port_security", "bindings", NULL};
    const char *name = NULL, *backend = NULL, *ifname = NULL, *netns = "", *mode = "access";
    uint32_t vni = 0, native = 0, tpid = ETH_TYPE_VLAN, mtu = PORT_DEFAULT_MTU, limit = 0;
    enum weftd_status st;
    json_t *v;

    port_config_default(cfg);
    if ((st = check_keys(spec, known, "port", msg)) ||
        (st = get_string(spec, "name", &name, msg)) ||
        (st = get_string(spec, "backend", &backend, msg)) ||
        (st = get_string(spec, "ifname", &ifname, msg)) ||
        (st = get_string(spec, "netns", &netns, msg)) ||
        (st = get_string(spec, "mode", &mode, msg)) ||
        (st = get_bool(spec, "admin_up", &cfg->admin_up, msg)) ||
        (st = get_int(spec, "segment", 1, VXLAN_VNI_MAX, &vni, msg)) ||
        (st = get_int(spec, "native_vlan", 0, VLAN_ID_MAX, &native, msg)) ||
        (st = get_int(spec, "tpid", 0, 0xffff, &tpid, msg)) ||
        (st = get_int(spec, "mtu", 68, 65535, &mtu, msg)) ||
        (st = get_bool(spec, "learning", &cfg->learning, msg)) ||
        (st = get_int(spec, "mac_limit", 0, MAC_DEFAULT_CAPACITY, &limit, msg)) ||
        (st = get_bool(spec, "promiscuous", &cfg->promiscuous, msg)) ||
        (st = get_bool(spec, "port_security", &cfg->port_security, msg))) {
        return st;
    }
    if (!name || !name_valid(name, WEFTD_NAME_MAX - 1)) {
        return weftd_error(msg, WEFTD_INVALID,
                           "a port needs a 'name' of 1-31 letters, digits, '-', '_' or '.'");
    }
    if (!backend || !(port->backend = port_backend_find(backend))) {
        return weftd_error(msg, WEFTD_INVALID,
                           "'backend' must be tap (a guest's TAP), afpacket, afxdp or auto "
                           "(an existing interface) or internal (the host's own port)");
    }
    if (!ifname) {
        ifname = name;
    }
    if (strlen(ifname) >= IF_NAMESIZE || !*ifname) {
        return weftd_error(msg, WEFTD_INVALID,
                           "interface name '%s' is longer than 15 characters: give a shorter "
                           "'ifname'",
                           ifname);
    }
    if (strlen(netns) >= WEFTD_NETNS_MAX) {
        return weftd_error(msg, WEFTD_INVALID, "'netns' is too long");
    }
    snprintf(port->name, sizeof port->name, "%s", name);
    snprintf(port->ifname, sizeof port->ifname, "%s", ifname);
    snprintf(port->netns, sizeof port->netns, "%s", netns);
    cfg->mtu = mtu;
    cfg->mac_limit = limit;
    if (strcmp(mode, "access") == 0) {
        cfg->mode = PORT_ACCESS;
        if (!vni) {
            return weftd_error(msg, WEFTD_INVALID,
                               "an access port needs 'segment' (the VNI it belongs to)");
        }
        if (vswitch_segment_find(d->sw, vni, &cfg->access_segment)) {
            return weftd_error(msg, WEFTD_NOT_FOUND,
                               "segment %u does not exist: create it first (weft segment add %u)",
                               vni, vni);
        }
        if (json_object_get(spec, "vlans") || native) {
            return weftd_error(msg, WEFTD_INVALID,
                               "'vlans' and 'native_vlan' are for trunk ports (mode trunk)");
        }
    } else if (strcmp(mode, "trunk") == 0) {
        cfg->mode = PORT_TRUNK;
        if (vni) {
            return weftd_error(msg, WEFTD_INVALID,
                               "a trunk port carries the segments of its 'vlans'; 'segment' is "
                               "for access ports");
        }
        if (!(v = json_object_get(spec, "vlans"))) {
            return weftd_error(msg, WEFTD_INVALID,
                               "a trunk port needs 'vlans', e.g. \"101,200-210\"");
        }
        if ((st = vlan_list_parse(v, cfg, msg))) {
            return st;
        }
        if (tpid != ETH_TYPE_VLAN && tpid != ETH_TYPE_QINQ) {
            return weftd_error(msg, WEFTD_INVALID,
                               "'tpid' must be 0x8100 (33024, 802.1Q) or 0x88a8 (34984, 802.1ad)");
        }
        cfg->tpid = (uint16_t)tpid;
        cfg->native_vlan = (uint16_t)native;
        if (native && !port_config_vlan_allowed(cfg, (uint16_t)native)) {
            return weftd_error(msg, WEFTD_INVALID, "native VLAN %u must be in 'vlans'", native);
        }
    } else {
        return weftd_error(msg, WEFTD_INVALID, "'mode' must be 'access' or 'trunk', not '%s'",
                           mode);
    }
    if ((v = json_object_get(spec, "bindings")) && (st = bindings_parse(v, cfg, msg))) {
        return st;
    }
    if (cfg->port_security && cfg->n_bindings == 0) {
        return weftd_error(msg, WEFTD_INVALID,
                           "port security without 'bindings' would drop everything: bind the "
                           "guest's MAC (and IP)");
    }
    return WEFTD_OK;
}

json_t *weftd_port_json(const struct weftd *d, const struct weftd_port *port, bool with_status)
{
    const struct port_config *cfg = vswitch_port_get(d->sw, port->id);
    json_t *obj =
        json_pack("{ss ss ss sb ss sI sb sI sb sb}", "name", port->name, "backend",
                  port->backend->name, "ifname", port->ifname, "admin_up", cfg->admin_up, "mode",
                  cfg->mode == PORT_ACCESS ? "access" : "trunk", "mtu", (json_int_t)cfg->mtu,
                  "learning", cfg->learning, "mac_limit", (json_int_t)cfg->mac_limit, "promiscuous",
                  cfg->promiscuous, "port_security", cfg->port_security);
    char text[IP_ADDR_STRLEN];

    if (port->netns[0]) {
        json_object_set_new(obj, "netns", json_string(port->netns));
    }
    if (cfg->mode == PORT_ACCESS) {
        json_object_set_new(obj, "segment",
                            json_integer(vswitch_segment_get(d->sw, cfg->access_segment)->vni));
    } else {
        json_object_set_new(obj, "vlans", vlan_list_json(cfg));
        json_object_set_new(obj, "native_vlan", json_integer(cfg->native_vlan));
        json_object_set_new(obj, "tpid", json_integer(cfg->tpid));
    }
    if (cfg->n_bindings) {
        json_t *bindings = json_array();
        for (uint32_t i = 0; i < cfg->n_bindings; i++) {
            const struct port_binding *b = &cfg->bindings[i];
            json_t *item = json_pack("{ss}", "mac", eth_addr_format(b->mac.bytes, text));
            if (!ip_addr_is_zero(&b->ip)) {
                json_object_set_new(item, "ip", json_string(ip_addr_format(&b->ip, text)));
            }
            json_array_append_new(bindings, item);
        }
        json_object_set_new(obj, "bindings", bindings);
    }
    if (with_status) {
        struct vswitch_counters c;
        vswitch_port_counters(d->sw, port->id, &c);
        json_object_set_new(obj, "id", json_integer(port->id));
        json_object_set_new(obj, "origin",
                            json_string(port->from_controller ? "controller" : "local"));
        json_object_set_new(obj, "io", json_string(port->io ? port->io->mode : "down"));
        json_object_set_new(obj, "queues", json_integer(port->n_queues));
        if (!port->io) {
            json_object_set_new(obj, "io_error", json_string(port->io_error));
        }
        json_object_set_new(obj, "macs", json_integer(vswitch_port_mac_count(d->sw, port->id)));
        json_object_set_new(obj, "counters", weftd_counters_json(&c));
    }
    return obj;
}

/* ---- MAC table ------------------------------------------------------------- */

struct mac_dump {
    const struct weftd *d;
    json_t *list;
    uint32_t vni_filter;
    uint32_t now;
};

static void mac_dump_entry(const struct mac_entry *e, void *ctx)
{
    struct mac_dump *dump = ctx;
    const struct segment_config *seg = vswitch_segment_get(dump->d->sw, mac_entry_segment(e));
    char text[IP_ADDR_STRLEN];
    uint8_t mac[ETH_ADDR_LEN];

    if (!seg || (dump->vni_filter && seg->vni != dump->vni_filter)) {
        return;
    }
    eth_addr_from_u64(mac_entry_mac(e), mac);
    json_t *item = json_pack("{sI ss sb sI}", "vni", (json_int_t)seg->vni, "mac",
                             eth_addr_format(mac, text), "static", (int)e->is_static, "age",
                             (json_int_t)(e->is_static ? 0 : dump->now - e->last_seen));
    uint32_t index = e->dest & MAC_DEST_INDEX_MASK;
    if (e->dest & MAC_DEST_VTEP) {
        json_object_set_new(
            item, "vtep", json_string(ip_addr_format(vswitch_vtep_addr(dump->d->sw, index), text)));
    } else {
        json_object_set_new(item, "port", json_string(dump->d->ports[index].name));
    }
    json_array_append_new(dump->list, item);
}

json_t *weftd_macs_json(const struct weftd *d, uint32_t vni_filter)
{
    struct mac_dump dump = {
        .d = d, .list = json_array(), .vni_filter = vni_filter, .now = weftd_now()};

    vswitch_mac_foreach(d->sw, mac_dump_entry, &dump);
    return dump.list;
}

/* ---- ARP table ------------------------------------------------------------- */

static void arp_dump_entry(const struct mac_entry *e, void *ctx)
{
    struct mac_dump *dump = ctx;
    const struct segment_config *seg = vswitch_segment_get(dump->d->sw, mac_entry_segment(e));
    char ip_text[IP_ADDR_STRLEN], mac_text[IP_ADDR_STRLEN];
    uint8_t mac[ETH_ADDR_LEN];
    uint32_t ip_host = arp_entry_ip(e);
    const uint8_t v4[4] = {(uint8_t)(ip_host >> 24), (uint8_t)(ip_host >> 16),
                           (uint8_t)(ip_host >> 8), (uint8_t)ip_host};
    struct ip_addr ip;

    if (!seg || (dump->vni_filter && seg->vni != dump->vni_filter)) {
        return;
    }
    ip_addr_set_v4(&ip, v4);
    eth_addr_from_u64(arp_entry_mac(e), mac);
    json_array_append_new(
        dump->list, json_pack("{sI ss ss sb sI}", "vni", (json_int_t)seg->vni, "ip",
                              ip_addr_format(&ip, ip_text), "mac", eth_addr_format(mac, mac_text),
                              "static", (int)e->is_static, "age",
                              (json_int_t)(e->is_static ? 0 : dump->now - e->last_seen)));
}

json_t *weftd_arps_json(const struct weftd *d, uint32_t vni_filter)
{
    struct mac_dump dump = {
        .d = d, .list = json_array(), .vni_filter = vni_filter, .now = weftd_now()};

    vswitch_arp_foreach(d->sw, arp_dump_entry, &dump);
    return dump.list;
}
