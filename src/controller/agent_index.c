/*
 * agent_index.c - the agent server's index of the store and the per-host views
 * (agent_index.h). Containers are jansson objects: string-keyed hash tables
 * that keep insertion order, so views and diffs come out deterministic and a
 * view compares with json_equal().
 */
#include "controller/agent_index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ether.h"
#include "lib/ip_addr.h"
#include "lib/log.h"

#define SEGMENTS_PREFIX "/config/segments/"
#define PORTS_PREFIX    "/config/ports/"
#define HOSTS_PREFIX    "/hosts/"
#define LEARNED_PREFIX  "/learned/"

struct agent_index {
    json_t *segments; /* name -> /config/segments value */
    json_t *ports;    /* name -> {"v": /config/ports value, "revision": N} */
    json_t *hosts;    /* id -> /hosts value */
    json_t *learned;  /* host -> {"mac/<vni>/<mac>": {"port","revision"}, "ip/...": {"mac",...}} */
    json_t *presence; /* host -> enum agent_presence (absent hosts are not kept) */
    /* Derived by agent_index_refresh(): */
    json_t *tables;     /* "<vni>" -> {"seg", "members": {host: ports}, "macs", "ips"} */
    json_t *host_ports; /* host -> {port name: [vni, ...]} */
};

bool agent_index_norm_mac(const char *text, char *buf)
{
    struct eth_addr m;

    if (!text || eth_addr_parse(text, &m) != 0) {
        return false;
    }
    eth_addr_format(m.bytes, buf);
    return true;
}

bool agent_index_norm_ip(const char *text, char *buf)
{
    struct ip_addr a;

    if (!text || ip_addr_parse(text, &a) != 0) {
        return false;
    }
    ip_addr_format(&a, buf);
    return true;
}

struct agent_index *agent_index_create(void)
{
    struct agent_index *idx = calloc(1, sizeof *idx);

    if (!idx) {
        return NULL;
    }
    idx->segments = json_object();
    idx->ports = json_object();
    idx->hosts = json_object();
    idx->learned = json_object();
    idx->presence = json_object();
    idx->tables = json_object();
    idx->host_ports = json_object();
    if (!idx->segments || !idx->ports || !idx->hosts || !idx->learned || !idx->presence ||
        !idx->tables || !idx->host_ports) {
        agent_index_destroy(idx);
        return NULL;
    }
    return idx;
}

void agent_index_destroy(struct agent_index *idx)
{
    if (!idx) {
        return;
    }
    json_decref(idx->segments);
    json_decref(idx->ports);
    json_decref(idx->hosts);
    json_decref(idx->learned);
    json_decref(idx->presence);
    json_decref(idx->tables);
    json_decref(idx->host_ports);
    free(idx);
}

static json_t *parse_object(const char *key, const char *value)
{
    json_error_t jerr;
    json_t *v = json_loads(value, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(v)) {
        log_warn("agent index: store key %s is not a JSON object (%s); ignored", key,
                 v ? "another JSON type" : jerr.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* "/learned/<host>/mac/<vni>/<mac>" or ".../ip/<vni>/<ip>": host and the rest. */
static void apply_learned(struct agent_index *idx, const char *key, const char *value, uint64_t rev)
{
    const char *rest = key + strlen(LEARNED_PREFIX);
    const char *slash = strchr(rest, '/');
    char host[64], norm[IP_ADDR_STRLEN], sub[96];
    unsigned long vni;
    char *end;
    bool is_mac;

    if (!slash || slash == rest || (size_t)(slash - rest) >= sizeof host) {
        return;
    }
    memcpy(host, rest, (size_t)(slash - rest));
    host[slash - rest] = '\0';
    rest = slash + 1;
    if (strncmp(rest, "mac/", 4) == 0) {
        is_mac = true;
        rest += 4;
    } else if (strncmp(rest, "ip/", 3) == 0) {
        is_mac = false;
        rest += 3;
    } else {
        return;
    }
    vni = strtoul(rest, &end, 10);
    if (end == rest || *end != '/' || vni == 0 || vni > 0xffffff) {
        return;
    }
    if (!(is_mac ? agent_index_norm_mac(end + 1, norm) : agent_index_norm_ip(end + 1, norm))) {
        return;
    }
    snprintf(sub, sizeof sub, "%s/%lu/%s", is_mac ? "mac" : "ip", vni, norm);

    json_t *mine = json_object_get(idx->learned, host);
    if (!value) {
        if (mine) {
            json_object_del(mine, sub);
            if (json_object_size(mine) == 0) {
                json_object_del(idx->learned, host);
            }
        }
        return;
    }
    json_t *v = parse_object(key, value);
    const char *field = is_mac ? "port" : "mac";
    const char *text = v ? json_string_value(json_object_get(v, field)) : NULL;
    char mac[ETH_ADDR_STRLEN];
    if (!text || (!is_mac && !agent_index_norm_mac(text, mac))) {
        json_decref(v);
        return;
    }
    json_t *entry = json_pack("{s:s,s:I}", field, is_mac ? text : mac, "revision", (json_int_t)rev);
    json_decref(v);
    if (!entry) {
        return;
    }
    if (!mine) {
        mine = json_object();
        if (!mine || json_object_set_new(idx->learned, host, mine) != 0) {
            json_decref(entry);
            return;
        }
    }
    json_object_set_new(mine, sub, entry);
}

void agent_index_apply(struct agent_index *idx, const char *key, const char *value,
                       uint64_t mod_revision)
{
    json_t *table = NULL;
    const char *name = NULL;

    if (strncmp(key, SEGMENTS_PREFIX, strlen(SEGMENTS_PREFIX)) == 0) {
        table = idx->segments;
        name = key + strlen(SEGMENTS_PREFIX);
    } else if (strncmp(key, PORTS_PREFIX, strlen(PORTS_PREFIX)) == 0) {
        table = idx->ports;
        name = key + strlen(PORTS_PREFIX);
    } else if (strncmp(key, HOSTS_PREFIX, strlen(HOSTS_PREFIX)) == 0) {
        table = idx->hosts;
        name = key + strlen(HOSTS_PREFIX);
    } else if (strncmp(key, LEARNED_PREFIX, strlen(LEARNED_PREFIX)) == 0) {
        apply_learned(idx, key, value, mod_revision);
        return;
    } else {
        return;
    }
    if (!*name || strchr(name, '/')) {
        return;
    }
    json_t *v = value ? parse_object(key, value) : NULL;
    if (!v) {
        json_object_del(table, name);
        return;
    }
    if (table == idx->ports) {
        v = json_pack("{s:o,s:I}", "v", v, "revision", (json_int_t)mod_revision);
        if (!v) {
            return;
        }
    }
    json_object_set_new(table, name, v);
}

void agent_index_set_presence(struct agent_index *idx, const char *host, enum agent_presence p)
{
    if (p == AGENT_PRESENCE_ABSENT) {
        json_object_del(idx->presence, host);
    } else {
        json_object_set_new(idx->presence, host, json_integer(p));
    }
}

enum agent_presence agent_index_presence(const struct agent_index *idx, const char *host)
{
    json_t *p = json_object_get(idx->presence, host);
    return p ? (enum agent_presence)json_integer_value(p) : AGENT_PRESENCE_ABSENT;
}

const json_t *agent_index_host(const struct agent_index *idx, const char *id)
{
    return json_object_get(idx->hosts, id);
}

const json_t *agent_index_hosts(const struct agent_index *idx)
{
    return idx->hosts;
}

const json_t *agent_index_learned(const struct agent_index *idx, const char *host)
{
    return json_object_get(idx->learned, host);
}

/* The VTEP of a present host with a valid record, or NULL. */
static const char *present_vtep(const struct agent_index *idx, const char *host)
{
    if (agent_index_presence(idx, host) == AGENT_PRESENCE_ABSENT) {
        return NULL;
    }
    return json_string_value(json_object_get(json_object_get(idx->hosts, host), "vtep"));
}

static unsigned host_prefix(const struct agent_index *idx, const char *host)
{
    return (unsigned)json_integer_value(
        json_object_get(json_object_get(idx->hosts, host), "vtep_prefix_len"));
}

/* ---- Refresh: the segments' tables ----------------------------------------- */

/* Parses "101,200-210" into a bitmap of VLANs 1..4094; false when it is not one. */
static bool parse_vlans(const char *text, uint8_t *bits)
{
    const char *p = text;

    memset(bits, 0, 512);
    if (!p || !*p) {
        return false;
    }
    while (*p) {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (end == p) {
            return false;
        }
        if (*end == '-') {
            p = end + 1;
            hi = strtoul(p, &end, 10);
            if (end == p) {
                return false;
            }
        }
        if (lo < 1 || hi > 4094 || lo > hi) {
            return false;
        }
        for (unsigned long v = lo; v <= hi; v++) {
            bits[v / 8] |= (uint8_t)(1u << (v % 8));
        }
        if (*end == ',') {
            end++;
        } else if (*end) {
            return false;
        }
        p = end;
    }
    return true;
}

/* The VNIs a port's frames belong to: its segment (access) or the segments
 * carried by its VLANs (trunk). */
static json_t *port_vnis(const struct agent_index *idx, const json_t *port, const json_t *by_vlan)
{
    json_t *vnis = json_array();
    const char *mode = json_string_value(json_object_get(port, "mode"));

    if (!vnis) {
        return NULL;
    }
    if (mode && strcmp(mode, "trunk") == 0) {
        uint8_t bits[512];
        if (parse_vlans(json_string_value(json_object_get(port, "vlans")), bits)) {
            const char *vlan;
            json_t *vni;
            json_object_foreach((json_t *)by_vlan, vlan, vni)
            {
                unsigned v = (unsigned)atoi(vlan);
                if (bits[v / 8] & (1u << (v % 8))) {
                    json_array_append(vnis, vni);
                }
            }
        }
    } else {
        const char *seg = json_string_value(json_object_get(port, "segment"));
        json_t *cfg = seg ? json_object_get(idx->segments, seg) : NULL;
        json_t *vni = json_object_get(cfg, "vni");
        if (json_is_integer(vni)) {
            json_array_append(vnis, vni);
        }
    }
    return vnis;
}

static void set_mac_entry(json_t *macs, const char *mac, const char *host, const char *vtep,
                          const char *port, bool binding, json_int_t rev)
{
    json_t *e =
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "host", host, "vtep", vtep, "port", port ? port : "",
                  "source", binding ? "binding" : "learned", "revision", rev);
    if (e) {
        json_object_set_new(macs, mac, e);
    }
}

static void set_ip_entry(json_t *ips, const char *ip, const char *mac, const char *host,
                         bool binding, json_int_t rev)
{
    json_t *e = json_pack("{s:s,s:s,s:s,s:I}", "mac", mac, "host", host, "source",
                          binding ? "binding" : "learned", "revision", rev);
    if (e) {
        json_object_set_new(ips, ip, e);
    }
}

static bool is_binding(const json_t *entry)
{
    return strcmp(json_string_value(json_object_get(entry, "source")), "binding") == 0;
}

static json_int_t entry_rev(const json_t *entry)
{
    return json_integer_value(json_object_get(entry, "revision"));
}

/* Bindings of the port into the MAC and IP tables of each of its segments. */
static void add_bindings(struct agent_index *idx, const char *name, const json_t *rec,
                         const json_t *vnis)
{
    const json_t *port = json_object_get(rec, "v");
    const char *host = json_string_value(json_object_get(port, "host"));
    const char *vtep = host ? present_vtep(idx, host) : NULL;
    json_int_t rev = json_integer_value(json_object_get(rec, "revision"));
    size_t i, j;
    json_t *vni, *b;

    if (!vtep) {
        return;
    }
    json_array_foreach((json_t *)vnis, i, vni)
    {
        char key[16];
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(vni));
        json_t *t = json_object_get(idx->tables, key);
        json_t *macs = json_object_get(t, "macs"), *ips = json_object_get(t, "ips");
        json_array_foreach(json_object_get(port, "bindings"), j, b)
        {
            char mac[ETH_ADDR_STRLEN], ip[IP_ADDR_STRLEN];
            if (!agent_index_norm_mac(json_string_value(json_object_get(b, "mac")), mac)) {
                continue;
            }
            json_t *old = json_object_get(macs, mac);
            /* Two ports binding one MAC is refused by the API; should it happen,
             * the lower port name wins so that every refresh agrees. */
            if (!old || !is_binding(old) ||
                strcmp(name, json_string_value(json_object_get(old, "port"))) < 0) {
                set_mac_entry(macs, mac, host, vtep, name, true, rev);
            }
            if (agent_index_norm_ip(json_string_value(json_object_get(b, "ip")), ip)) {
                old = json_object_get(ips, ip);
                if (!old || rev > entry_rev(old)) {
                    set_ip_entry(ips, ip, mac, host, true, rev);
                }
            }
        }
    }
}

/* A present member host's reports into its segments' tables. */
static void add_learned(struct agent_index *idx, const char *host, const json_t *mine)
{
    const char *vtep = present_vtep(idx, host);
    const char *sub;
    json_t *e;

    if (!vtep) {
        return;
    }
    json_object_foreach((json_t *)mine, sub, e)
    {
        char kind[4], vni[16], addr[IP_ADDR_STRLEN];
        if (sscanf(sub, "%3[^/]/%15[^/]/%45s", kind, vni, addr) != 3) {
            continue;
        }
        json_t *t = json_object_get(idx->tables, vni);
        if (!json_object_get(json_object_get(t, "members"), host)) {
            continue; /* the host left the segment; its old reports count no more */
        }
        json_int_t rev = entry_rev(e);
        if (strcmp(kind, "mac") == 0) {
            json_t *macs = json_object_get(t, "macs");
            json_t *old = json_object_get(macs, addr);
            if (!old || (!is_binding(old) && rev > entry_rev(old))) {
                set_mac_entry(macs, addr, host, vtep, json_string_value(json_object_get(e, "port")),
                              false, rev);
            }
        } else {
            json_t *ips = json_object_get(t, "ips");
            json_t *old = json_object_get(ips, addr);
            if (!old || rev >= entry_rev(old)) {
                set_ip_entry(ips, addr, json_string_value(json_object_get(e, "mac")), host, false,
                             rev);
            }
        }
    }
}

int agent_index_refresh(struct agent_index *idx)
{
    json_t *tables = json_object(), *host_ports = json_object(), *by_vlan = json_object();
    const char *name;
    json_t *v;
    int rc = ENOMEM;

    if (!tables || !host_ports || !by_vlan) {
        goto out;
    }
    json_object_foreach(idx->segments, name, v)
    {
        json_int_t vni = json_integer_value(json_object_get(v, "vni"));
        json_int_t vlan = json_integer_value(json_object_get(v, "vlan"));
        char key[16];
        if (vni < 1 || vni > 0xffffff) {
            continue;
        }
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, vni);
        json_t *t = json_pack("{s:O,s:{},s:{},s:{}}", "seg", v, "members", "macs", "ips");
        if (!t || json_object_set_new(tables, key, t) != 0) {
            goto out;
        }
        if (vlan >= 1 && vlan <= 4094) {
            /* One VLAN carries one segment on a trunk: the lowest VNI, should
             * several claim it. */
            char vk[8];
            snprintf(vk, sizeof vk, "%" JSON_INTEGER_FORMAT, vlan);
            json_t *old = json_object_get(by_vlan, vk);
            if (!old || json_integer_value(old) > vni) {
                json_object_set_new(by_vlan, vk, json_integer(vni));
            }
        }
    }
    json_decref(idx->tables);
    idx->tables = tables;
    tables = NULL;

    json_object_foreach(idx->ports, name, v)
    {
        const json_t *port = json_object_get(v, "v");
        const char *host = json_string_value(json_object_get(port, "host"));
        if (!host) {
            continue;
        }
        json_t *vnis = port_vnis(idx, port, by_vlan);
        json_t *mine = json_object_get(host_ports, host);
        if (!vnis) {
            goto out;
        }
        if (!mine) {
            mine = json_object();
            json_object_set_new(host_ports, host, mine);
        }
        json_object_set_new(mine, name, vnis);
        size_t i;
        json_t *vni;
        json_array_foreach(vnis, i, vni)
        {
            char key[16];
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(vni));
            json_t *members = json_object_get(json_object_get(idx->tables, key), "members");
            json_int_t n = json_integer_value(json_object_get(members, host));
            json_object_set_new(members, host, json_integer(n + 1));
        }
        add_bindings(idx, name, v, vnis);
    }
    json_decref(idx->host_ports);
    idx->host_ports = host_ports;
    host_ports = NULL;

    json_object_foreach(idx->learned, name, v)
    {
        add_learned(idx, name, v);
    }
    rc = 0;
out:
    json_decref(tables);
    json_decref(host_ports);
    json_decref(by_vlan);
    return rc;
}

/* ---- Views --------------------------------------------------------------- */

json_t *agent_view_empty(void)
{
    return json_pack("{s:{},s:{}}", "segments", "ports");
}

bool agent_view_has_segment(const json_t *view, uint32_t vni)
{
    char key[16];
    snprintf(key, sizeof key, "%" PRIu32, vni);
    return json_object_get(json_object_get(view, "segments"), key) != NULL;
}

/* Whether a and b are in one subnet of prefix bits (IPv4 counts its 32 bits). */
static bool same_subnet(const struct ip_addr *a, const struct ip_addr *b, unsigned prefix)
{
    unsigned start = 0;

    if (ip_addr_is_v4(a) != ip_addr_is_v4(b)) {
        return false;
    }
    if (ip_addr_is_v4(a)) {
        start = 96;
    }
    for (unsigned bit = 0; bit < prefix && start + bit < 128; bit++) {
        unsigned i = (start + bit) / 8, m = 0x80u >> ((start + bit) % 8);
        if ((a->bytes[i] & m) != (b->bytes[i] & m)) {
            return false;
        }
    }
    return true;
}

/* The subnet of a VTEP as text ("10.1.1.0/24"), which names its proxy group. */
static void subnet_key(const struct ip_addr *a, unsigned prefix, char *buf, size_t len)
{
    struct ip_addr net = *a;
    unsigned start = ip_addr_is_v4(a) ? 96 : 0;
    char text[IP_ADDR_STRLEN];

    for (unsigned bit = start + prefix; bit < 128; bit++) {
        net.bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    }
    snprintf(buf, len, "%s/%u", ip_addr_format(&net, text), prefix);
}

/* The proxy picks of a segment: subnet -> VTEP, the lowest connected VTEP of
 * each subnet (the lowest of all when none is connected), so every host and
 * every refresh picks the same one and a proxy that disconnects is replaced. */
static json_t *proxy_picks(const struct agent_index *idx, const json_t *members)
{
    json_t *picks = json_object(), *best_connected = json_object();
    const char *host;
    json_t *n;

    if (!picks || !best_connected) {
        json_decref(picks);
        json_decref(best_connected);
        return NULL;
    }
    json_object_foreach((json_t *)members, host, n)
    {
        const char *vtep = present_vtep(idx, host);
        struct ip_addr a, cur;
        char key[IP_ADDR_STRLEN + 8];
        if (!vtep || ip_addr_parse(vtep, &a) != 0) {
            continue;
        }
        subnet_key(&a, host_prefix(idx, host), key, sizeof key);
        bool connected = agent_index_presence(idx, host) == AGENT_PRESENCE_CONNECTED;
        json_t *old = json_object_get(picks, key);
        bool old_connected = json_is_true(json_object_get(best_connected, key));
        bool better = !old;
        if (old) {
            ip_addr_parse(json_string_value(old), &cur);
            better = (connected && !old_connected) ||
                     (connected == old_connected && memcmp(a.bytes, cur.bytes, 16) < 0);
        }
        if (better) {
            json_object_set_new(picks, key, json_string(vtep));
            json_object_set_new(best_connected, key, json_boolean(connected));
        }
    }
    json_decref(best_connected);
    return picks;
}

static int cmp_ip_json(const void *a, const void *b)
{
    struct ip_addr x, y;
    ip_addr_parse(json_string_value(*(json_t *const *)a), &x);
    ip_addr_parse(json_string_value(*(json_t *const *)b), &y);
    return memcmp(x.bytes, y.bytes, 16);
}

/* Sorts an array of IP strings by address, for a canonical segment_set. */
static json_t *sorted_ips(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **items = n ? malloc(n * sizeof *items) : NULL;
    json_t *out = json_array();

    if ((n && !items) || !out) {
        free(items);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = json_array_get(list, i);
    }
    if (n) {
        qsort(items, n, sizeof *items, cmp_ip_json);
    }
    for (size_t i = 0; i < n; i++) {
        json_array_append(out, items[i]);
    }
    free(items);
    return out;
}

/* The segment_set op host gets for a segment (its replication lists are its own). */
static json_t *segment_op(const struct agent_index *idx, const json_t *t, const char *host,
                          const struct ip_addr *self)
{
    const json_t *seg = json_object_get(t, "seg");
    const char *repl = json_string_value(json_object_get(seg, "replication"));
    json_t *op = json_pack(
        "{s:s,s:O,s:I,s:s,s:b,s:b}", "op", "segment_set", "vni", json_object_get(seg, "vni"),
        "vlan", json_integer_value(json_object_get(seg, "vlan")), "bum", repl ? repl : "head-end",
        "arp_suppression", json_is_true(json_object_get(seg, "arp_suppression")),
        "allow_inner_vlan", json_is_true(json_object_get(seg, "allow_inner_vlan")));
    if (!op || !repl) {
        return op;
    }
    if (strcmp(repl, "multicast") == 0) {
        json_object_set(op, "group", json_object_get(seg, "multicast_group"));
    } else if (strcmp(repl, "proxy") == 0) {
        const json_t *members = json_object_get(t, "members");
        unsigned prefix = host_prefix(idx, host);
        json_t *replicas = json_array(), *proxies = json_array();
        json_t *picks = proxy_picks(idx, members);
        const char *h, *key;
        json_t *n, *pick;
        json_object_foreach((json_t *)members, h, n)
        {
            const char *vtep = present_vtep(idx, h);
            struct ip_addr a;
            if (vtep && strcmp(h, host) != 0 && ip_addr_parse(vtep, &a) == 0 &&
                !ip_addr_equal(&a, self) && same_subnet(&a, self, prefix)) {
                json_array_append_new(replicas, json_string(vtep));
            }
        }
        json_object_foreach(picks, key, pick)
        {
            struct ip_addr a;
            if (ip_addr_parse(json_string_value(pick), &a) == 0 && !ip_addr_equal(&a, self) &&
                !same_subnet(&a, self, prefix)) {
                json_array_append(proxies, pick);
            }
        }
        json_object_set_new(op, "proxies", sorted_ips(proxies));
        json_object_set_new(op, "replicas", sorted_ips(replicas));
        json_decref(replicas);
        json_decref(proxies);
        json_decref(picks);
    }
    return op;
}

/* The port_set op of a port (vni: its segment, for access ports). */
static json_t *port_op(const char *name, const json_t *port, const json_t *vnis)
{
    const char *mode = json_string_value(json_object_get(port, "mode"));
    bool trunk = mode && strcmp(mode, "trunk") == 0;
    json_t *op = json_pack("{s:s,s:s,s:s}", "op", "port_set", "name", name, "mode",
                           trunk ? "trunk" : "access");
    json_t *bindings = json_array();
    size_t i;
    json_t *b;

    if (!op || !bindings) {
        json_decref(op);
        json_decref(bindings);
        return NULL;
    }
    if (trunk) {
        json_object_set(op, "vlans", json_object_get(port, "vlans"));
        json_object_set_new(op, "native_vlan",
                            json_integer(json_integer_value(json_object_get(port, "native_vlan"))));
        json_t *tpid = json_object_get(port, "tpid");
        json_object_set_new(op, "tpid", json_integer(tpid ? json_integer_value(tpid) : 0x8100));
    } else {
        json_object_set(op, "segment", json_array_get(vnis, 0));
    }
    json_t *admin_up = json_object_get(port, "admin_up");
    json_t *mtu = json_object_get(port, "mtu");
    json_t *learning = json_object_get(port, "learning");
    json_object_set_new(op, "admin_up", json_boolean(!admin_up || json_is_true(admin_up)));
    json_object_set_new(op, "mtu", json_integer(mtu ? json_integer_value(mtu) : 1500));
    json_object_set_new(op, "learning", json_boolean(!learning || json_is_true(learning)));
    json_object_set_new(op, "mac_limit",
                        json_integer(json_integer_value(json_object_get(port, "mac_limit"))));
    json_object_set_new(op, "promiscuous",
                        json_boolean(json_is_true(json_object_get(port, "promiscuous"))));
    json_object_set_new(op, "port_security",
                        json_boolean(json_is_true(json_object_get(port, "port_security"))));
    json_array_foreach(json_object_get(port, "bindings"), i, b)
    {
        char mac[ETH_ADDR_STRLEN], ip[IP_ADDR_STRLEN];
        if (!agent_index_norm_mac(json_string_value(json_object_get(b, "mac")), mac)) {
            continue;
        }
        json_t *item = json_pack("{s:s}", "mac", mac);
        if (item && agent_index_norm_ip(json_string_value(json_object_get(b, "ip")), ip)) {
            json_object_set_new(item, "ip", json_string(ip));
        }
        json_array_append_new(bindings, item);
    }
    json_object_set_new(op, "bindings", bindings);
    return op;
}

json_t *agent_index_host_view(const struct agent_index *idx, const char *host)
{
    json_t *view = agent_view_empty();
    json_t *segments = json_object_get(view, "segments"), *ports = json_object_get(view, "ports");
    const char *self_text = present_vtep(idx, host);
    struct ip_addr self;
    const char *name;
    json_t *vnis;

    if (!view || !self_text || ip_addr_parse(self_text, &self) != 0) {
        return view; /* no VTEP: the host gets nothing */
    }
    json_object_foreach(json_object_get(idx->host_ports, host), name, vnis)
    {
        const json_t *port = json_object_get(json_object_get(idx->ports, name), "v");
        const char *mode = json_string_value(json_object_get(port, "mode"));
        bool trunk = mode && strcmp(mode, "trunk") == 0;
        size_t i;
        json_t *vni;
        if (!trunk && json_array_size(vnis) == 0) {
            continue; /* its segment is gone: nothing to attach it to */
        }
        json_array_foreach(vnis, i, vni)
        {
            char key[16];
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(vni));
            if (json_object_get(segments, key)) {
                continue;
            }
            json_t *t = json_object_get(idx->tables, key);
            json_t *s = json_pack("{s:o,s:{},s:{},s:{}}", "op", segment_op(idx, t, host, &self),
                                  "vteps", "macs", "ips");
            if (!s || json_object_set_new(segments, key, s) != 0) {
                json_decref(view);
                return NULL;
            }
            json_t *vteps = json_object_get(s, "vteps"), *macs = json_object_get(s, "macs");
            json_t *ips = json_object_get(s, "ips");
            const char *h, *addr;
            json_t *n, *e;
            json_object_foreach(json_object_get(t, "members"), h, n)
            {
                const char *vtep = present_vtep(idx, h);
                if (vtep && strcmp(vtep, self_text) != 0) {
                    json_object_set_new(vteps, vtep, json_true());
                }
            }
            json_object_foreach(json_object_get(t, "macs"), addr, e)
            {
                const char *vtep = json_string_value(json_object_get(e, "vtep"));
                if (json_object_get(vteps, vtep)) {
                    json_object_set_new(macs, addr, json_string(vtep));
                }
            }
            json_object_foreach(json_object_get(t, "ips"), addr, e)
            {
                /* Never back to the host the report came from: it knows. */
                if (is_binding(e) ||
                    strcmp(json_string_value(json_object_get(e, "host")), host) != 0) {
                    json_object_set(ips, addr, json_object_get(e, "mac"));
                }
            }
        }
        json_t *op = port_op(name, port, vnis);
        if (!op || json_object_set_new(ports, name, op) != 0) {
            json_decref(view);
            return NULL;
        }
    }
    return view;
}

bool agent_index_is_source(const struct agent_index *idx, const char *host, const char *kind,
                           uint32_t vni, const char *addr)
{
    char key[16];
    snprintf(key, sizeof key, "%" PRIu32, vni);
    json_t *t = json_object_get(idx->tables, key);
    json_t *e =
        json_object_get(json_object_get(t, strcmp(kind, "mac") == 0 ? "macs" : "ips"), addr);
    return e && !is_binding(e) && strcmp(json_string_value(json_object_get(e, "host")), host) == 0;
}

unsigned agent_index_host_ports(const struct agent_index *idx, const char *host)
{
    return (unsigned)json_object_size(json_object_get(idx->host_ports, host));
}

static int cmp_int_json(const void *a, const void *b)
{
    json_int_t x = json_integer_value(*(json_t *const *)a);
    json_int_t y = json_integer_value(*(json_t *const *)b);
    return (x > y) - (x < y);
}

json_t *agent_index_host_segments(const struct agent_index *idx, const char *host)
{
    json_t *seen = json_object(), *out = json_array();
    const char *name;
    json_t *vnis;

    if (!seen || !out) {
        json_decref(seen);
        json_decref(out);
        return NULL;
    }
    json_object_foreach(json_object_get(idx->host_ports, host), name, vnis)
    {
        size_t i;
        json_t *vni;
        json_array_foreach(vnis, i, vni)
        {
            char key[16];
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(vni));
            if (!json_object_get(seen, key)) {
                json_object_set_new(seen, key, json_true());
                json_array_append(out, vni);
            }
        }
    }
    json_decref(seen);
    size_t n = json_array_size(out);
    json_t **items = n ? malloc(n * sizeof *items) : NULL;
    if (items) {
        for (size_t i = 0; i < n; i++) {
            items[i] = json_incref(json_array_get(out, i));
        }
        qsort(items, n, sizeof *items, cmp_int_json);
        json_array_clear(out);
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(out, items[i]);
        }
        free(items);
    }
    return out;
}

/* ---- Diff -------------------------------------------------------------------- */

static int append_op(json_t *ops, json_t *op)
{
    return op && json_array_append_new(ops, op) == 0 ? 0 : ENOMEM;
}

static json_t *entry_op(const char *op, const char *vni, const char *field, const char *addr,
                        const char *vfield, const char *value)
{
    json_t *o = json_pack("{s:s,s:I,s:s}", "op", op, "vni", (json_int_t)strtoll(vni, NULL, 10),
                          field, addr);
    if (o && vfield) {
        json_object_set_new(o, vfield, json_string(value));
    }
    return o;
}

/* The entries of table (one of "vteps", "macs", "ips") that a has and b lacks
 * (or, with changed, holds with another value), as ops named op. */
static int diff_table(json_t *ops, const char *vni, const json_t *a, const json_t *b,
                      const char *table, bool changed, const char *op, const char *field,
                      const char *vfield)
{
    const json_t *ta = json_object_get(a, table), *tb = json_object_get(b, table);
    const char *addr;
    json_t *v;

    json_object_foreach((json_t *)ta, addr, v)
    {
        json_t *other = json_object_get(tb, addr);
        if (other && !(changed && !json_equal(v, other))) {
            continue;
        }
        if (append_op(ops, entry_op(op, vni, field, addr, vfield, json_string_value(v)))) {
            return ENOMEM;
        }
    }
    return 0;
}

json_t *agent_view_diff(const json_t *old_view, const json_t *new_view)
{
    const json_t *os = json_object_get(old_view, "segments");
    const json_t *ns = json_object_get(new_view, "segments");
    const json_t *op = json_object_get(old_view, "ports");
    const json_t *np = json_object_get(new_view, "ports");
    json_t *ops = json_array();
    const char *key;
    json_t *s, *o;

    if (!ops) {
        return NULL;
    }
    /* 1. New segments. In proxy mode first without replication lists, which
     * may only name VTEPs the segment has (added next). */
    json_object_foreach((json_t *)ns, key, s)
    {
        if (json_object_get(os, key)) {
            continue;
        }
        json_t *seg = json_deep_copy(json_object_get(s, "op"));
        if (seg && json_object_get(seg, "proxies")) {
            json_object_set_new(seg, "proxies", json_array());
            json_object_set_new(seg, "replicas", json_array());
        }
        if (append_op(ops, seg)) {
            goto fail;
        }
    }
    /* 2. New VTEPs. */
    json_object_foreach((json_t *)ns, key, s)
    {
        if (diff_table(ops, key, s, json_object_get(os, key), "vteps", false, "vtep_add", "vtep",
                       NULL)) {
            goto fail;
        }
    }
    /* 3. Segment parameters and replication lists. */
    json_object_foreach((json_t *)ns, key, s)
    {
        const json_t *want = json_object_get(s, "op");
        const json_t *had = json_object_get(json_object_get(os, key), "op");
        if (!had) {
            const json_t *proxies = json_object_get(want, "proxies");
            const json_t *replicas = json_object_get(want, "replicas");
            if (json_array_size(proxies) + json_array_size(replicas) == 0) {
                continue; /* step 1 sent it whole */
            }
        } else if (json_equal(had, want)) {
            continue;
        }
        if (append_op(ops, json_deep_copy(want))) {
            goto fail;
        }
    }
    /* 4. Entries that go, in segments that stay; then the VTEPs that go. */
    json_object_foreach((json_t *)os, key, o)
    {
        json_t *n = json_object_get(ns, key);
        if (n && (diff_table(ops, key, o, n, "macs", false, "mac_del", "mac", NULL) ||
                  diff_table(ops, key, o, n, "ips", false, "ip_del", "ip", NULL) ||
                  diff_table(ops, key, o, n, "vteps", false, "vtep_del", "vtep", NULL))) {
            goto fail;
        }
    }
    /* 5. Entries that are new or changed. */
    json_object_foreach((json_t *)ns, key, s)
    {
        json_t *old = json_object_get(os, key);
        if (diff_table(ops, key, s, old, "macs", true, "mac_set", "mac", "vtep") ||
            diff_table(ops, key, s, old, "ips", true, "ip_set", "ip", "mac")) {
            goto fail;
        }
    }
    /* 6. Ports: those that go, then those that are new or changed. */
    json_object_foreach((json_t *)op, key, o)
    {
        if (!json_object_get(np, key) &&
            append_op(ops, json_pack("{s:s,s:s}", "op", "port_del", "name", key))) {
            goto fail;
        }
    }
    json_object_foreach((json_t *)np, key, s)
    {
        json_t *old = json_object_get(op, key);
        if ((!old || !json_equal(old, s)) && append_op(ops, json_deep_copy(s))) {
            goto fail;
        }
    }
    /* 7. Segments that go, after the ports on them. */
    json_object_foreach((json_t *)os, key, o)
    {
        if (!json_object_get(ns, key) &&
            append_op(ops, json_pack("{s:s,s:I}", "op", "segment_del", "vni",
                                     (json_int_t)strtoll(key, NULL, 10)))) {
            goto fail;
        }
    }
    return ops;
fail:
    json_decref(ops);
    return NULL;
}

/* ---- The REST API's views ------------------------------------------------------ */

static const json_t *table_of(const struct agent_index *idx, uint32_t vni)
{
    char key[16];
    snprintf(key, sizeof key, "%" PRIu32, vni);
    return json_object_get(idx->tables, key);
}

static int cmp_item_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (a malloc()ed array the caller frees). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    const char **keys = malloc((json_object_size(obj) + 1) * sizeof *keys);
    const char *k;
    json_t *v;

    *n = 0;
    if (!keys) {
        return NULL;
    }
    json_object_foreach((json_t *)obj, k, v)
    {
        keys[(*n)++] = k;
    }
    qsort(keys, *n, sizeof *keys, cmp_item_key);
    return keys;
}

json_t *agent_index_segment_vteps_json(const struct agent_index *idx, uint32_t vni)
{
    const json_t *t = table_of(idx, vni);
    const json_t *members = json_object_get(t, "members");
    const char *repl = json_string_value(json_object_get(json_object_get(t, "seg"), "replication"));
    json_t *picks = repl && strcmp(repl, "proxy") == 0 ? proxy_picks(idx, members) : NULL;
    json_t *items = json_array();
    size_t n;
    const char **hosts = sorted_keys(members, &n);

    if (!items || !hosts) {
        json_decref(picks);
        json_decref(items);
        free(hosts);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *vtep = present_vtep(idx, hosts[i]);
        bool proxy = false;
        const char *k;
        json_t *pick;
        if (!vtep) {
            continue;
        }
        json_object_foreach(picks, k, pick)
        {
            proxy = proxy || strcmp(json_string_value(pick), vtep) == 0;
        }
        json_array_append_new(
            items, json_pack("{s:s,s:s,s:b,s:O,s:b}", "host", hosts[i], "vtep", vtep, "connected",
                             agent_index_presence(idx, hosts[i]) == AGENT_PRESENCE_CONNECTED,
                             "ports", json_object_get(members, hosts[i]), "proxy", proxy));
    }
    free(hosts);
    json_decref(picks);
    return json_pack("{s:o}", "items", items);
}

json_t *agent_index_segment_macs_json(const struct agent_index *idx, uint32_t vni)
{
    const json_t *macs = json_object_get(table_of(idx, vni), "macs");
    json_t *items = json_array();
    size_t n;
    const char **keys = sorted_keys(macs, &n);

    if (!items || !keys) {
        json_decref(items);
        free(keys);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_object_get(macs, keys[i]);
        json_t *item =
            json_pack("{s:s,s:O,s:O,s:O,s:O}", "mac", keys[i], "host", json_object_get(e, "host"),
                      "vtep", json_object_get(e, "vtep"), "port", json_object_get(e, "port"),
                      "source", json_object_get(e, "source"));
        if (item && !is_binding(e)) {
            json_object_set(item, "revision", json_object_get(e, "revision"));
        }
        json_array_append_new(items, item);
    }
    free(keys);
    return json_pack("{s:o}", "items", items);
}

static int cmp_ip_key(const void *a, const void *b)
{
    struct ip_addr x, y;
    ip_addr_parse(*(const char *const *)a, &x);
    ip_addr_parse(*(const char *const *)b, &y);
    return memcmp(x.bytes, y.bytes, 16);
}

json_t *agent_index_segment_arp_json(const struct agent_index *idx, uint32_t vni)
{
    const json_t *ips = json_object_get(table_of(idx, vni), "ips");
    json_t *items = json_array();
    size_t n;
    const char **keys = sorted_keys(ips, &n);

    if (!items || !keys) {
        json_decref(items);
        free(keys);
        return NULL;
    }
    qsort(keys, n, sizeof *keys, cmp_ip_key);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_object_get(ips, keys[i]);
        json_array_append_new(items, json_pack("{s:s,s:O,s:O,s:O}", "ip", keys[i], "mac",
                                               json_object_get(e, "mac"), "host",
                                               json_object_get(e, "host"), "source",
                                               json_object_get(e, "source")));
    }
    free(keys);
    return json_pack("{s:o}", "items", items);
}
