/*
 * agent_index.c - the agent server's index of the store and the per-host views
 * (agent_index.h). Containers are jansson objects: string-keyed hash tables
 * that keep insertion order, so views and diffs come out deterministic and a
 * view compares with json_equal().
 *
 * Every change is applied where it lands and marks what it may change: a
 * port updates its segments' members and its bindings' candidates; a host's
 * record or presence (at the next refresh) its VTEP in its segments and its
 * candidates; a segment its ports (those that name it, trunks when a VLAN
 * moves). Refresh re-elects the marked MACs and IPs only; views of hosts
 * whose ports or VTEP changed are rebuilt whole, others get the marked
 * entries only.
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

/*
 * A segment's table, tables["<vni>"]:
 *   "seg": its /config/segments value (absent while no segment has the VNI),
 *   "name": that segment's name,
 *   "members": {host: ports on the segment},
 *   "vteps": {VTEP: present members with it},
 *   "macs": {MAC: winner}, "ips": {IP: winner}, the winners (below),
 *   "mac_c", "ip_c": {addr: [candidate, ...]}, every
 *       binding and report of the address (valid or not: a candidate counts
 *       while its host is present, and a report while its host is a member),
 *   "picks": the proxy picks (proxy segments).
 * A table goes when it holds none of them.
 */
/* Winners and candidates are arrays, not objects: there is one of each per
 * MAC, and an array costs a fraction of an object's hash table.
 * A winner: [host, source, revision, value, port], value the MAC's VTEP or
 * the IP's MAC, port for MACs only. */
enum { WIN_HOST, WIN_SOURCE, WIN_REV, WIN_VALUE, WIN_PORT };
/* A candidate: [value, revision, name, host], value a report's port (MAC) or
 * MAC (IP), a binding's MAC (IP) or null (a MAC binding: the port is in its
 * name), name "b:<port>" or "l:<host>" (one string per name, in names),
 * host for bindings only (a report's is in its name). A report's candidate
 * is its learned entry (agent_index_learned()). */
enum { CAND_VALUE, CAND_REV, CAND_NAME, CAND_HOST };

struct agent_index {
    json_t *segments; /* name -> /config/segments value */
    json_t *ports;    /* name -> {"v": /config/ports value, "revision": N, "vnis": [vni, ...]} */
    json_t *hosts;    /* id -> /hosts value */
    json_t *learned;  /* host -> {"mac/<vni>/<mac>" | "ip/<vni>/<ip>": candidate (below)} */
    json_t *presence; /* host -> enum agent_presence (absent hosts are not kept) */
    /* Derived, kept change by change: */
    json_t
        *present;   /* host -> {"vtep", "prefix", "connected", "host"}: present hosts with a VTEP */
    json_t *tables; /* "<vni>" -> table (above) */
    json_t *host_ports; /* host -> {port name: [vni, ...]} */
    json_t *seg_ports;  /* segment name -> {port name: true}, the access ports naming it */
    json_t *trunks;     /* trunk port name -> true */
    json_t *by_vlan;    /* "<vlan>" -> the VNI that VLAN carries on trunks */
    /* What changed: */
    json_t *recheck;     /* hosts whose record or presence changed since the last refresh */
    json_t *dirty;       /* "<vni>" -> {"op"?: true, "vteps": {}, "macs": {}, "ips": {}} */
    json_t *dirty_hosts; /* hosts whose view is rebuilt whole */
    json_t *touched;     /* hosts whose view may have changed */
    /* Strings every table entry and view shares rather than copies: the
     * "source" values here, hosts' names and VTEPs in present (a view's MAC
     * -> VTEP value is its winner's, the winner's that of present). At 100k
     * MACs in views of many hosts, a string per entry is most of the memory. */
    json_t *src_binding, *src_learned;
    json_t *names; /* candidate name -> that string (kept: one per port and host ever seen) */
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
    json_t **all[] = {&idx->segments,  &idx->ports,       &idx->hosts,   &idx->learned,
                      &idx->presence,  &idx->present,     &idx->tables,  &idx->host_ports,
                      &idx->seg_ports, &idx->trunks,      &idx->by_vlan, &idx->recheck,
                      &idx->dirty,     &idx->dirty_hosts, &idx->touched, &idx->names};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!(*all[i] = json_object())) {
            agent_index_destroy(idx);
            return NULL;
        }
    }
    idx->src_binding = json_string("binding");
    idx->src_learned = json_string("learned");
    if (!idx->src_binding || !idx->src_learned) {
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
    json_t *all[] = {idx->segments,  idx->ports,       idx->hosts,   idx->learned,
                     idx->presence,  idx->present,     idx->tables,  idx->host_ports,
                     idx->seg_ports, idx->trunks,      idx->by_vlan, idx->recheck,
                     idx->dirty,     idx->dirty_hosts, idx->touched, idx->names};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        json_decref(all[i]);
    }
    json_decref(idx->src_binding);
    json_decref(idx->src_learned);
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

/* The object at obj[key], created empty when missing; NULL on ENOMEM. */
static json_t *child(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);

    if (!c) {
        c = json_object();
        if (!c || json_object_set_new(obj, key, c) != 0) {
            return NULL;
        }
    }
    return c;
}

/* Adds delta to the count obj[key], deleting it at 0: the count before. */
static json_int_t count_add(json_t *obj, const char *key, json_int_t delta)
{
    json_int_t n = json_integer_value(json_object_get(obj, key));

    if (n + delta <= 0) {
        json_object_del(obj, key);
    } else {
        json_object_set_new(obj, key, json_integer(n + delta));
    }
    return n;
}

static void vni_key(json_int_t vni, char *buf, size_t len)
{
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, vni);
}

static json_t *table_get(const struct agent_index *idx, json_int_t vni)
{
    char key[16];
    vni_key(vni, key, sizeof key);
    return json_object_get(idx->tables, key);
}

static json_t *table_make(struct agent_index *idx, json_int_t vni)
{
    json_t *t = table_get(idx, vni);
    char key[16];

    if (t) {
        return t;
    }
    vni_key(vni, key, sizeof key);
    t = json_pack("{s:{},s:{},s:{},s:{},s:{},s:{}}", "members", "vteps", "macs", "ips", "mac_c",
                  "ip_c");
    if (!t || json_object_set_new(idx->tables, key, t) != 0) {
        return NULL;
    }
    return t;
}

/* Drops a table that holds nothing any more. */
static void table_gc(struct agent_index *idx, json_int_t vni)
{
    json_t *t = table_get(idx, vni);
    static const char *const parts[] = {"members", "vteps", "macs", "ips", "mac_c", "ip_c"};

    if (!t || json_object_get(t, "seg")) {
        return;
    }
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (json_object_size(json_object_get(t, parts[i])) > 0) {
            return;
        }
    }
    char key[16];
    vni_key(vni, key, sizeof key);
    json_object_del(idx->tables, key);
}

/* ---- What changed ------------------------------------------------------------ */

static json_t *dirty_of(struct agent_index *idx, json_int_t vni)
{
    char key[16];
    json_t *d;

    vni_key(vni, key, sizeof key);
    d = json_object_get(idx->dirty, key);
    if (!d) {
        d = json_pack("{s:{},s:{},s:{}}", "vteps", "macs", "ips");
        if (!d || json_object_set_new(idx->dirty, key, d) != 0) {
            return NULL;
        }
    }
    return d;
}

static void mark_op(struct agent_index *idx, json_int_t vni)
{
    json_object_set_new(dirty_of(idx, vni), "op", json_true());
}

/* part: "vteps", "macs" or "ips". */
static void mark_entry(struct agent_index *idx, json_int_t vni, const char *part, const char *addr)
{
    json_object_set_new(json_object_get(dirty_of(idx, vni), part), addr, json_true());
}

static void mark_host(struct agent_index *idx, const char *host)
{
    json_object_set_new(idx->dirty_hosts, host, json_true());
}

const json_t *agent_index_touched(const struct agent_index *idx)
{
    return idx->touched;
}

void agent_index_clear_changes(struct agent_index *idx)
{
    json_object_clear(idx->dirty);
    json_object_clear(idx->dirty_hosts);
    json_object_clear(idx->touched);
}

/* ---- Hosts ------------------------------------------------------------------- */

/* The VTEP of a present host with a valid record, or NULL (as of the last
 * refresh, like everything derived). */
static const char *present_vtep(const struct agent_index *idx, const char *host)
{
    return json_string_value(json_object_get(json_object_get(idx->present, host), "vtep"));
}

/* present_vtep() and the host's name as the strings entries share. */
static json_t *present_field(const struct agent_index *idx, const char *host, const char *field)
{
    return json_object_get(json_object_get(idx->present, host), field);
}

static unsigned host_prefix(const struct agent_index *idx, const char *host)
{
    return (unsigned)json_integer_value(
        json_object_get(json_object_get(idx->present, host), "prefix"));
}

static bool host_connected(const struct agent_index *idx, const char *host)
{
    return json_is_true(json_object_get(json_object_get(idx->present, host), "connected"));
}

/* The VNIs of host's segments, as an object "<vni>" -> vni (new reference). */
static json_t *host_vnis(const struct agent_index *idx, const char *host)
{
    json_t *out = json_object();
    const char *name;
    json_t *vnis;

    json_object_foreach(json_object_get(idx->host_ports, host), name, vnis)
    {
        size_t i;
        json_t *vni;
        json_array_foreach(vnis, i, vni)
        {
            char key[16];
            vni_key(json_integer_value(vni), key, sizeof key);
            json_object_set(out, key, vni);
        }
    }
    return out;
}

/* "mac/<vni>/<addr>" or "ip/<vni>/<addr>" into its parts; false if not one. */
static bool parse_sub(const char *sub, bool *is_mac, json_int_t *vni, const char **addr)
{
    char *end;

    if (strncmp(sub, "mac/", 4) == 0) {
        *is_mac = true;
        sub += 4;
    } else if (strncmp(sub, "ip/", 3) == 0) {
        *is_mac = false;
        sub += 3;
    } else {
        return false;
    }
    *vni = (json_int_t)strtol(sub, &end, 10);
    if (end == sub || *end != '/') {
        return false;
    }
    *addr = end + 1;
    return true;
}

/* Marks what host reported (in segment vni, or in all when vni is 0). */
static void mark_learned(struct agent_index *idx, const char *host, json_int_t vni)
{
    const char *sub, *addr;
    json_t *e;

    json_object_foreach(json_object_get(idx->learned, host), sub, e)
    {
        bool is_mac;
        json_int_t v;
        if (parse_sub(sub, &is_mac, &v, &addr) && (vni == 0 || v == vni)) {
            mark_entry(idx, v, is_mac ? "macs" : "ips", addr);
        }
    }
}

/* Marks the addresses the port binds in its segments. */
static void mark_bindings(struct agent_index *idx, const json_t *rec)
{
    const json_t *port = json_object_get(rec, "v");
    size_t i, j;
    json_t *vni, *b;

    json_array_foreach(json_object_get(rec, "vnis"), i, vni)
    {
        json_array_foreach(json_object_get(port, "bindings"), j, b)
        {
            char mac[ETH_ADDR_STRLEN], ip[IP_ADDR_STRLEN];
            if (agent_index_norm_mac(json_string_value(json_object_get(b, "mac")), mac)) {
                mark_entry(idx, json_integer_value(vni), "macs", mac);
                if (agent_index_norm_ip(json_string_value(json_object_get(b, "ip")), ip)) {
                    mark_entry(idx, json_integer_value(vni), "ips", ip);
                }
            }
        }
    }
}

/* A member host's VTEP counts in the segment's VTEPs while it is present. */
static void vtep_count(struct agent_index *idx, json_int_t vni, const char *vtep, int delta)
{
    json_t *t = table_get(idx, vni);

    if (t && vtep) {
        count_add(json_object_get(t, "vteps"), vtep, delta);
        mark_entry(idx, vni, "vteps", vtep);
    }
}

/* A host's record or presence changed: what the tables count it as, and
 * everything that depends on it, follows. */
static void host_recheck(struct agent_index *idx, const char *host)
{
    const json_t *rec = json_object_get(idx->hosts, host);
    enum agent_presence p = agent_index_presence(idx, host);
    const char *vtep =
        p != AGENT_PRESENCE_ABSENT ? json_string_value(json_object_get(rec, "vtep")) : NULL;
    json_t *want = vtep ? json_pack("{s:s,s:I,s:b,s:s}", "vtep", vtep, "prefix",
                                    json_integer_value(json_object_get(rec, "vtep_prefix_len")),
                                    "connected", p == AGENT_PRESENCE_CONNECTED, "host", host)
                        : NULL;
    json_t *had = json_incref(json_object_get(idx->present, host));
    const char *old_vtep = json_string_value(json_object_get(had, "vtep"));

    if (json_equal(want, had) || (!want && !had)) {
        goto out;
    }
    bool moved = !old_vtep || !vtep || strcmp(old_vtep, vtep) != 0;
    if (want) {
        json_object_set(idx->present, host, want);
    } else {
        json_object_del(idx->present, host);
    }
    json_t *vnis = host_vnis(idx, host);
    const char *key;
    json_t *vni;
    json_object_foreach(vnis, key, vni)
    {
        if (moved) {
            vtep_count(idx, json_integer_value(vni), old_vtep, -1);
            vtep_count(idx, json_integer_value(vni), vtep, +1);
        }
        mark_op(idx, json_integer_value(vni)); /* proxies and replicas */
    }
    json_decref(vnis);
    if (moved) {
        const char *name;
        json_t *ignored;
        mark_learned(idx, host, 0);
        json_object_foreach(json_object_get(idx->host_ports, host), name, ignored)
        {
            mark_bindings(idx, json_object_get(idx->ports, name));
        }
    }
    mark_host(idx, host);
out:
    json_decref(want);
    json_decref(had);
}

/* host gains (delta +1) or loses (-1) a port on segment vni. */
static void member_add(struct agent_index *idx, json_int_t vni, const char *host, int delta)
{
    json_t *t = delta > 0 ? table_make(idx, vni) : table_get(idx, vni);

    if (!t) {
        return;
    }
    json_int_t before = count_add(json_object_get(t, "members"), host, delta);
    if ((before == 0) != (before + delta <= 0)) {
        /* It joins or leaves: its VTEP and what it reported count, or not. */
        vtep_count(idx, vni, present_vtep(idx, host), delta);
        mark_op(idx, vni);
        mark_learned(idx, host, vni);
    }
    if (delta < 0) {
        table_gc(idx, vni);
    }
}

/* ---- Candidates and winners -------------------------------------------------- */

/* The string of candidate name cand (borrowed; NULL on ENOMEM). */
static json_t *cand_name_json(struct agent_index *idx, const char *cand)
{
    json_t *s = json_object_get(idx->names, cand);

    if (!s && (s = json_string(cand)) && json_object_set_new(idx->names, cand, s) != 0) {
        return NULL;
    }
    return s;
}

static const char *cand_name(const json_t *e)
{
    return json_string_value(json_array_get(e, CAND_NAME));
}

/* The candidate named cand of a list of them (its index in *at), or NULL. */
static json_t *cand_find(const json_t *list, const char *cand, size_t *at)
{
    size_t i;
    json_t *e;

    json_array_foreach((json_t *)list, i, e)
    {
        if (strcmp(cand_name(e), cand) == 0) {
            if (at) {
                *at = i;
            }
            return e;
        }
    }
    return NULL;
}

/* Sets (entry, a new reference, named cand) or removes (NULL) candidate
 * cand of addr in segment vni's MAC or IP candidates, and marks addr. */
static void cand_set(struct agent_index *idx, json_int_t vni, bool is_mac, const char *addr,
                     const char *cand, json_t *entry)
{
    json_t *t = entry ? table_make(idx, vni) : table_get(idx, vni);
    json_t *all = json_object_get(t, is_mac ? "mac_c" : "ip_c");
    json_t *list = json_object_get(all, addr);
    size_t at;

    if (entry && !list &&
        (!all || !(list = json_array()) || json_object_set_new(all, addr, list) != 0)) {
        list = NULL;
    }
    if (!list) {
        json_decref(entry);
        return;
    }
    mark_entry(idx, vni, is_mac ? "macs" : "ips", addr);
    json_t *old = cand_find(list, cand, &at);
    if (entry) {
        if (old) {
            json_array_set_new(list, at, entry);
        } else {
            json_array_append_new(list, entry);
        }
        return;
    }
    if (old) {
        json_array_remove(list, at);
    }
    if (json_array_size(list) == 0) {
        json_object_del(all, addr);
        table_gc(idx, vni);
    }
}

static json_int_t entry_rev(const json_t *cand)
{
    return json_integer_value(json_array_get(cand, CAND_REV));
}

/* Whether a winner is a binding. */
static bool is_binding(const json_t *win)
{
    return strcmp(json_string_value(json_array_get(win, WIN_SOURCE)), "binding") == 0;
}

/* A winner's field as text. */
static const char *win_str(const json_t *win, size_t field)
{
    return json_string_value(json_array_get(win, field));
}

/* The host a candidate counts for, when it counts now: NULL otherwise. */
static const char *cand_host(const struct agent_index *idx, const json_t *t, const char *cand,
                             const json_t *e)
{
    const char *host = cand[0] == 'b' ? json_string_value(json_array_get(e, CAND_HOST)) : cand + 2;

    if (!host || !present_vtep(idx, host)) {
        return NULL;
    }
    if (cand[0] == 'l' && !json_object_get(json_object_get(t, "members"), host)) {
        return NULL; /* the host left the segment; its old reports count no more */
    }
    return host;
}

/* Whether candidate a (binding or not, revision, name) beats b for a MAC:
 * bindings win (the lowest port name, should two ports bind it, which the API
 * refuses), then the latest report (the lowest host name on a tie). */
static bool mac_beats(bool ab, json_int_t ar, const char *an, bool bb, json_int_t br,
                      const char *bn)
{
    if (ab != bb) {
        return ab;
    }
    if (!ab && ar != br) {
        return ar > br;
    }
    return strcmp(an, bn) < 0;
}

/* For an IP: the highest revision; a report wins a tie; then the lowest name. */
static bool ip_beats(bool ab, json_int_t ar, const char *an, bool bb, json_int_t br, const char *bn)
{
    if (ar != br) {
        return ar > br;
    }
    if (ab != bb) {
        return bb;
    }
    return strcmp(an, bn) < 0;
}

/* The winning entry of addr now (new reference), or NULL. */
static json_t *elect(const struct agent_index *idx, const json_t *t, bool is_mac, const char *addr)
{
    const json_t *all = json_object_get(json_object_get(t, is_mac ? "mac_c" : "ip_c"), addr);
    const char *best = NULL, *best_host = NULL;
    const json_t *best_e = NULL;
    size_t i;
    json_t *e;

    json_array_foreach((json_t *)all, i, e)
    {
        const char *cand = cand_name(e);
        const char *host = cand_host(idx, t, cand, e);
        if (!host) {
            continue;
        }
        bool b = cand[0] == 'b';
        if (!best || (is_mac ? mac_beats : ip_beats)(b, entry_rev(e), cand + 2, best[0] == 'b',
                                                     entry_rev(best_e), best + 2)) {
            best = cand;
            best_e = e;
            best_host = host;
        }
    }
    if (!best) {
        return NULL;
    }
    bool binding = best[0] == 'b';
    json_t *host = present_field(idx, best_host, "host");
    json_t *source = binding ? idx->src_binding : idx->src_learned;
    json_t *rev = json_array_get(best_e, CAND_REV);
    if (!is_mac) {
        return json_pack("[OOOO]", host, source, rev, json_array_get(best_e, CAND_VALUE));
    }
    json_t *vtep = present_field(idx, best_host, "vtep");
    return binding
               ? json_pack("[OOOOs]", host, source, rev, vtep, best + 2)
               : json_pack("[OOOOO]", host, source, rev, vtep, json_array_get(best_e, CAND_VALUE));
}

/* Re-elects the marked addresses of one part ("macs" or "ips") of a table,
 * unmarking those whose winner stays. */
static int reelect(const struct agent_index *idx, json_t *t, json_t *marked, bool is_mac)
{
    json_t *winners = json_object_get(t, is_mac ? "macs" : "ips");
    const char *addr;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(marked, tmp, addr, v)
    {
        json_t *w = elect(idx, t, is_mac, addr);
        json_t *old = json_object_get(winners, addr);
        if (w ? old && json_equal(w, old) : !old) {
            json_decref(w);
            json_object_del(marked, addr);
        } else if (w) {
            if (json_object_set_new(winners, addr, w) != 0) {
                return ENOMEM;
            }
        } else {
            json_object_del(winners, addr);
        }
    }
    return 0;
}

/* ---- Ports ------------------------------------------------------------------- */

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

static bool valid_vni(const json_t *vni)
{
    return json_is_integer(vni) && json_integer_value(vni) >= 1 &&
           json_integer_value(vni) <= 0xffffff;
}

static bool is_trunk(const json_t *port)
{
    const char *mode = json_string_value(json_object_get(port, "mode"));
    return mode && strcmp(mode, "trunk") == 0;
}

/* The VNIs a port's frames belong to: its segment (access) or the segments
 * carried by its VLANs (trunk), each once. */
static json_t *port_vnis(const struct agent_index *idx, const json_t *port)
{
    json_t *vnis = json_array();

    if (!vnis) {
        return NULL;
    }
    if (is_trunk(port)) {
        uint8_t bits[512];
        if (parse_vlans(json_string_value(json_object_get(port, "vlans")), bits)) {
            const char *vlan;
            json_t *vni;
            json_object_foreach(idx->by_vlan, vlan, vni)
            {
                unsigned v = (unsigned)atoi(vlan);
                bool seen = false;
                for (size_t i = 0; i < json_array_size(vnis); i++) {
                    seen = seen || json_equal(json_array_get(vnis, i), vni);
                }
                if (!seen && (bits[v / 8] & (1u << (v % 8)))) {
                    json_array_append(vnis, vni);
                }
            }
        }
    } else {
        const char *seg = json_string_value(json_object_get(port, "segment"));
        json_t *vni = json_object_get(json_object_get(idx->segments, seg ? seg : ""), "vni");
        if (valid_vni(vni)) {
            json_array_append(vnis, vni);
        }
    }
    return vnis;
}

/* Adds (or, with add false, removes) the port's bindings as candidates in
 * its segments. */
static void port_bindings(struct agent_index *idx, const char *name, const json_t *rec, bool add)
{
    const json_t *port = json_object_get(rec, "v");
    const char *host = json_string_value(json_object_get(port, "host"));
    json_int_t rev = json_integer_value(json_object_get(rec, "revision"));
    char cand[8 + 256];
    size_t i, j;
    json_t *vni, *b;

    snprintf(cand, sizeof cand, "b:%s", name);
    json_array_foreach(json_object_get(rec, "vnis"), i, vni)
    {
        json_int_t v = json_integer_value(vni);
        json_t *t = table_get(idx, v);
        json_array_foreach(json_object_get(port, "bindings"), j, b)
        {
            char mac[ETH_ADDR_STRLEN], ip[IP_ADDR_STRLEN];
            if (!agent_index_norm_mac(json_string_value(json_object_get(b, "mac")), mac)) {
                continue;
            }
            bool has_ip = agent_index_norm_ip(json_string_value(json_object_get(b, "ip")), ip);
            if (!add) {
                cand_set(idx, v, true, mac, cand, NULL);
                if (has_ip) {
                    cand_set(idx, v, false, ip, cand, NULL);
                }
                continue;
            }
            /* A MAC or IP the port binds twice: its first binding counts. */
            t = table_make(idx, v);
            json_t *named = cand_name_json(idx, cand);
            if (named &&
                !cand_find(json_object_get(json_object_get(t, "mac_c"), mac), cand, NULL)) {
                cand_set(idx, v, true, mac, cand, json_pack("[nIOs]", rev, named, host));
            }
            if (named && has_ip &&
                !cand_find(json_object_get(json_object_get(t, "ip_c"), ip), cand, NULL)) {
                cand_set(idx, v, false, ip, cand, json_pack("[sIOs]", mac, rev, named, host));
            }
        }
    }
}

/* The port's record leaves (attach false) or enters the derived state. */
static void port_link(struct agent_index *idx, const char *name, const json_t *rec, bool attach)
{
    const json_t *port = json_object_get(rec, "v");
    const char *host = json_string_value(json_object_get(port, "host"));
    const char *seg = json_string_value(json_object_get(port, "segment"));
    size_t i;
    json_t *vni;

    if (is_trunk(port)) {
        if (attach) {
            json_object_set_new(idx->trunks, name, json_true());
        } else {
            json_object_del(idx->trunks, name);
        }
    } else if (seg) {
        json_t *mine = attach ? child(idx->seg_ports, seg) : json_object_get(idx->seg_ports, seg);
        if (attach) {
            json_object_set_new(mine, name, json_true());
        } else {
            json_object_del(mine, name);
            if (mine && json_object_size(mine) == 0) {
                json_object_del(idx->seg_ports, seg);
            }
        }
    }
    if (!host) {
        return; /* bound to no host: nothing to give anyone */
    }
    if (attach) {
        json_object_set(child(idx->host_ports, host), name, json_object_get(rec, "vnis"));
    } else {
        json_t *mine = json_object_get(idx->host_ports, host);
        json_object_del(mine, name);
        if (mine && json_object_size(mine) == 0) {
            json_object_del(idx->host_ports, host);
        }
    }
    json_array_foreach(json_object_get(rec, "vnis"), i, vni)
    {
        member_add(idx, json_integer_value(vni), host, attach ? 1 : -1);
    }
    port_bindings(idx, name, rec, attach);
    mark_host(idx, host);
}

/* Sets (value, stolen) or deletes (NULL) port name. */
static void port_update(struct agent_index *idx, const char *name, json_t *value, uint64_t rev)
{
    json_t *old = json_object_get(idx->ports, name);

    if (old) {
        port_link(idx, name, old, false);
        json_object_del(idx->ports, name);
    }
    if (!value) {
        return;
    }
    json_t *vnis = port_vnis(idx, value);
    json_t *rec =
        vnis ? json_pack("{s:o,s:I,s:o}", "v", value, "revision", (json_int_t)rev, "vnis", vnis)
             : NULL;
    if (!vnis) {
        json_decref(value);
    }
    if (rec && json_object_set_new(idx->ports, name, rec) == 0) {
        port_link(idx, name, rec, true);
    }
}

/* A segment moved: the port's segments again, when they changed. */
static void port_revisit(struct agent_index *idx, const char *name)
{
    json_t *rec = json_object_get(idx->ports, name);
    json_t *vnis = rec ? port_vnis(idx, json_object_get(rec, "v")) : NULL;

    if (vnis && !json_equal(vnis, json_object_get(rec, "vnis"))) {
        json_incref(rec);
        port_link(idx, name, rec, false);
        json_object_set(rec, "vnis", vnis);
        port_link(idx, name, rec, true);
        json_decref(rec);
    }
    json_decref(vnis);
}

/* ---- Segments ---------------------------------------------------------------- */

/* The table of vni belongs to the segment of the lowest name with that VNI
 * (the API refuses two; should it happen, every refresh agrees). */
static void segment_claim(struct agent_index *idx, json_int_t vni)
{
    const char *name, *best = NULL;
    json_t *v, *best_v = NULL;

    json_object_foreach(idx->segments, name, v)
    {
        if (json_integer_value(json_object_get(v, "vni")) == vni &&
            (!best || strcmp(name, best) < 0)) {
            best = name;
            best_v = v;
        }
    }
    json_t *t = best ? table_make(idx, vni) : table_get(idx, vni);
    if (!t) {
        return;
    }
    if (best) {
        json_object_set(t, "seg", best_v);
        json_object_set_new(t, "name", json_string(best));
    } else {
        json_object_del(t, "seg");
        json_object_del(t, "name");
        json_object_del(t, "picks");
    }
    mark_op(idx, vni);
    table_gc(idx, vni);
}

/* VLAN -> VNI for trunks: one VLAN carries one segment, the lowest VNI
 * should several claim it. Whether it changed. */
static bool rebuild_by_vlan(struct agent_index *idx)
{
    json_t *by_vlan = json_object();
    const char *name;
    json_t *v;

    if (!by_vlan) {
        return false;
    }
    json_object_foreach(idx->segments, name, v)
    {
        json_t *vni = json_object_get(v, "vni");
        json_int_t vlan = json_integer_value(json_object_get(v, "vlan"));
        char vk[8];
        if (!valid_vni(vni) || vlan < 1 || vlan > 4094) {
            continue;
        }
        snprintf(vk, sizeof vk, "%" JSON_INTEGER_FORMAT, vlan);
        json_t *old = json_object_get(by_vlan, vk);
        if (!old || json_integer_value(old) > json_integer_value(vni)) {
            json_object_set(by_vlan, vk, vni);
        }
    }
    bool changed = !json_equal(by_vlan, idx->by_vlan);
    json_decref(idx->by_vlan);
    idx->by_vlan = by_vlan;
    return changed;
}

/* Visits a copy of the keys of obj (which fn may change). */
static void foreach_key_copy(struct agent_index *idx, const json_t *obj,
                             void (*fn)(struct agent_index *, const char *))
{
    json_t *copy = json_copy((json_t *)obj);
    const char *key;
    json_t *v;

    json_object_foreach(copy, key, v)
    {
        fn(idx, key);
    }
    json_decref(copy);
}

/* Sets (value, stolen) or deletes (NULL) segment name. */
static void segment_update(struct agent_index *idx, const char *name, json_t *value)
{
    json_t *old = json_incref(json_object_get(idx->segments, name));
    json_t *old_vni = json_object_get(old, "vni"), *new_vni = json_object_get(value, "vni");
    bool moved = !json_equal(old_vni, new_vni) ||
                 !json_equal(json_object_get(old, "vlan"), json_object_get(value, "vlan")) ||
                 !old != !value;

    if (value) {
        json_object_set_new(idx->segments, name, value);
    } else {
        json_object_del(idx->segments, name);
    }
    if (valid_vni(old_vni)) {
        segment_claim(idx, json_integer_value(old_vni));
    }
    if (valid_vni(new_vni) && !json_equal(old_vni, new_vni)) {
        segment_claim(idx, json_integer_value(new_vni));
    }
    if (moved) {
        bool vlans_moved = rebuild_by_vlan(idx);
        foreach_key_copy(idx, json_object_get(idx->seg_ports, name), port_revisit);
        if (vlans_moved) {
            foreach_key_copy(idx, idx->trunks, port_revisit);
        }
    }
    json_decref(old);
}

/* ---- Applying the store ------------------------------------------------------ */

/* "/learned/<host>/mac/<vni>/<mac>" or ".../ip/<vni>/<ip>": host and the rest. */
static void apply_learned(struct agent_index *idx, const char *key, const char *value, uint64_t rev)
{
    const char *rest = key + strlen(LEARNED_PREFIX);
    const char *slash = strchr(rest, '/');
    char host[64], norm[IP_ADDR_STRLEN], sub[96], cand[80];
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
    snprintf(cand, sizeof cand, "l:%s", host);

    json_t *mine = json_object_get(idx->learned, host);
    json_t *v = value ? parse_object(key, value) : NULL;
    const char *text = v ? json_string_value(json_object_get(v, is_mac ? "port" : "mac")) : NULL;
    char mac[ETH_ADDR_STRLEN];
    json_t *entry = NULL;
    json_t *name = text ? cand_name_json(idx, cand) : NULL;
    if (name && (is_mac || agent_index_norm_mac(text, mac))) {
        entry = json_pack("[sIO]", is_mac ? text : mac, (json_int_t)rev, name);
    }
    json_decref(v);
    if (!entry) {
        /* Deleted, or a value that does not parse: the index holds it as absent. */
        if (mine && json_object_get(mine, sub)) {
            json_object_del(mine, sub);
            if (json_object_size(mine) == 0) {
                json_object_del(idx->learned, host);
            }
            cand_set(idx, (json_int_t)vni, is_mac, norm, cand, NULL);
        }
        return;
    }
    mine = child(idx->learned, host);
    if (!mine || json_object_set(mine, sub, entry) != 0) {
        json_decref(entry);
        return;
    }
    cand_set(idx, (json_int_t)vni, is_mac, norm, cand, entry); /* shares the entry */
}

void agent_index_apply(struct agent_index *idx, const char *key, const char *value,
                       uint64_t mod_revision)
{
    const char *name = NULL;
    enum { SEGMENT, PORT, HOST } kind;

    if (strncmp(key, SEGMENTS_PREFIX, strlen(SEGMENTS_PREFIX)) == 0) {
        kind = SEGMENT;
        name = key + strlen(SEGMENTS_PREFIX);
    } else if (strncmp(key, PORTS_PREFIX, strlen(PORTS_PREFIX)) == 0) {
        kind = PORT;
        name = key + strlen(PORTS_PREFIX);
    } else if (strncmp(key, HOSTS_PREFIX, strlen(HOSTS_PREFIX)) == 0) {
        kind = HOST;
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
    switch (kind) {
    case SEGMENT:
        segment_update(idx, name, v);
        break;
    case PORT:
        port_update(idx, name, v, mod_revision);
        break;
    case HOST:
        if (v) {
            json_object_set_new(idx->hosts, name, v);
        } else {
            json_object_del(idx->hosts, name);
        }
        json_object_set_new(idx->recheck, name, json_true());
        break;
    }
}

void agent_index_set_presence(struct agent_index *idx, const char *host, enum agent_presence p)
{
    if (p == AGENT_PRESENCE_ABSENT) {
        json_object_del(idx->presence, host);
    } else {
        json_object_set_new(idx->presence, host, json_integer(p));
    }
    json_object_set_new(idx->recheck, host, json_true());
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

static json_t *proxy_picks(const struct agent_index *idx, const json_t *members);

int agent_index_refresh(struct agent_index *idx)
{
    const char *key;
    json_t *d, *v;
    void *tmp;
    int rc = 0;

    json_object_foreach(idx->recheck, key, v)
    {
        host_recheck(idx, key);
    }
    json_object_clear(idx->recheck);
    json_object_foreach_safe(idx->dirty, tmp, key, d)
    {
        json_t *t = json_object_get(idx->tables, key);
        if (!t) {
            json_object_del(idx->dirty, key); /* its hosts lost it: they are rebuilt whole */
            continue;
        }
        if (rc == 0) {
            rc = reelect(idx, t, json_object_get(d, "macs"), true);
        }
        if (rc == 0) {
            rc = reelect(idx, t, json_object_get(d, "ips"), false);
        }
        if (json_object_get(d, "op")) {
            const char *repl =
                json_string_value(json_object_get(json_object_get(t, "seg"), "replication"));
            if (repl && strcmp(repl, "proxy") == 0) {
                json_object_set_new(t, "picks", proxy_picks(idx, json_object_get(t, "members")));
            } else {
                json_object_del(t, "picks");
            }
        }
        if (!json_object_get(d, "op") && json_object_size(json_object_get(d, "vteps")) == 0 &&
            json_object_size(json_object_get(d, "macs")) == 0 &&
            json_object_size(json_object_get(d, "ips")) == 0) {
            json_object_del(idx->dirty, key);
            continue;
        }
        const char *h;
        json_object_foreach(json_object_get(t, "members"), h, v)
        {
            json_object_set_new(idx->touched, h, json_true());
        }
    }
    json_object_foreach(idx->dirty_hosts, key, v)
    {
        json_object_set_new(idx->touched, key, json_true());
    }
    if (rc) {
        /* Half re-elected: no change list can be trusted; every view is rebuilt. */
        json_object_foreach(idx->hosts, key, v)
        {
            mark_host(idx, key);
            json_object_set_new(idx->touched, key, json_true());
        }
    }
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
        bool connected = host_connected(idx, host);
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
        json_t *picks = json_object_get(t, "picks"); /* refresh computed them */
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

/* The VTEP host (whose VTEP is self) is given for a VTEP of the table: the
 * segment's present members' VTEPs but its own. */
static const char *seen_vtep(const json_t *t, const char *vtep, const char *self)
{
    return vtep && strcmp(vtep, self) != 0 && json_object_get(json_object_get(t, "vteps"), vtep)
               ? vtep
               : NULL;
}

/* The VTEP host is given for a MAC of the table (the winner's string,
 * borrowed), or NULL. */
static json_t *seen_mac(const json_t *t, const char *mac, const char *self)
{
    json_t *vtep = json_array_get(json_object_get(json_object_get(t, "macs"), mac), WIN_VALUE);
    return seen_vtep(t, json_string_value(vtep), self) ? vtep : NULL;
}

/* The MAC host is given for an IP of the table (borrowed), or NULL: never
 * back to the host the report came from, which knows. */
static json_t *seen_ip(const json_t *t, const char *ip, const char *host)
{
    const json_t *e = json_object_get(json_object_get(t, "ips"), ip);
    if (!e || (!is_binding(e) && strcmp(win_str(e, WIN_HOST), host) == 0)) {
        return NULL;
    }
    return json_array_get(e, WIN_VALUE);
}

static json_t *segment_part(json_t *op)
{
    return op ? json_pack("{s:o,s:{},s:{},s:{}}", "op", op, "vteps", "macs", "ips") : NULL;
}

/* Everything host gets of one segment. */
static json_t *segment_view(const struct agent_index *idx, const json_t *t, const char *host,
                            const char *self_text, const struct ip_addr *self)
{
    json_t *s = segment_part(segment_op(idx, t, host, self));
    json_t *vteps = json_object_get(s, "vteps"), *macs = json_object_get(s, "macs");
    json_t *ips = json_object_get(s, "ips");
    const char *addr;
    json_t *e;

    json_object_foreach(json_object_get(t, "vteps"), addr, e)
    {
        if (strcmp(addr, self_text) != 0) {
            json_object_set_new(vteps, addr, json_true());
        }
    }
    json_object_foreach(json_object_get(t, "macs"), addr, e)
    {
        json_t *vtep = seen_mac(t, addr, self_text);
        if (vtep) {
            json_object_set(macs, addr, vtep);
        }
    }
    json_object_foreach(json_object_get(t, "ips"), addr, e)
    {
        json_t *mac = seen_ip(t, addr, host);
        if (mac) {
            json_object_set(ips, addr, mac);
        }
    }
    return s;
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
        size_t i;
        json_t *vni;
        if (!is_trunk(port) && json_array_size(vnis) == 0) {
            continue; /* its segment is gone: nothing to attach it to */
        }
        json_array_foreach(vnis, i, vni)
        {
            char key[16];
            vni_key(json_integer_value(vni), key, sizeof key);
            const json_t *t = json_object_get(idx->tables, key);
            if (json_object_get(segments, key) || !json_object_get(t, "seg")) {
                continue;
            }
            json_t *s = segment_view(idx, t, host, self_text, &self);
            if (!s || json_object_set_new(segments, key, s) != 0) {
                json_decref(view);
                return NULL;
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

/* The marked entries of one part of a table, in old (as sent had them) and
 * new (as host gets them now). */
static void changed_part(const json_t *t, const json_t *marked, const json_t *had, json_t *old,
                         json_t *now, const char *part, const char *host, const char *self)
{
    const char *addr;
    json_t *ignored;

    json_object_foreach((json_t *)marked, addr, ignored)
    {
        json_t *was = json_object_get(json_object_get(had, part), addr);
        json_t *is;
        if (was) {
            json_object_set(json_object_get(old, part), addr, was);
        }
        if (strcmp(part, "vteps") == 0) {
            is = seen_vtep(t, addr, self) ? json_true() : NULL;
        } else if (strcmp(part, "macs") == 0) {
            is = json_incref(seen_mac(t, addr, self));
        } else {
            is = json_incref(seen_ip(t, addr, host));
        }
        if (is) {
            json_object_set_new(json_object_get(now, part), addr, is);
        }
    }
}

json_t *agent_index_host_changes(const struct agent_index *idx, const char *host,
                                 const json_t *sent, size_t max)
{
    const char *self_text = present_vtep(idx, host);
    const json_t *had_segments = json_object_get(sent, "segments");
    json_t *old = agent_view_empty(), *now = agent_view_empty(), *vnis = NULL, *ops = NULL;
    struct ip_addr self;
    const char *key;
    json_t *vni;

    if (!old || !now) {
        goto out;
    }
    if (json_object_get(idx->dirty_hosts, host) || !self_text ||
        ip_addr_parse(self_text, &self) != 0) {
        goto whole;
    }
    /* Its segments are those of sent (they change only with its ports or
     * VTEP, which rebuild it whole); each gets its marked entries. */
    vnis = host_vnis(idx, host);
    json_object_foreach(vnis, key, vni)
    {
        const json_t *d = json_object_get(idx->dirty, key);
        const json_t *t = json_object_get(idx->tables, key);
        const json_t *had = json_object_get(had_segments, key);
        if (!d) {
            continue;
        }
        if (!had || !json_object_get(t, "seg")) {
            goto whole;
        }
        json_t *op = json_object_get(d, "op") ? segment_op(idx, t, host, &self)
                                              : json_incref(json_object_get(had, "op"));
        json_t *o = segment_part(json_incref(json_object_get(had, "op")));
        json_t *n = segment_part(op);
        if (!o || !n || json_object_set_new(json_object_get(old, "segments"), key, o) != 0 ||
            json_object_set_new(json_object_get(now, "segments"), key, n) != 0) {
            json_decref(o);
            json_decref(n);
            goto out;
        }
        static const char *const parts[] = {"vteps", "macs", "ips"};
        for (size_t i = 0; i < 3; i++) {
            changed_part(t, json_object_get(d, parts[i]), had, o, n, parts[i], host, self_text);
        }
    }
    ops = agent_view_diff_part(old, now, 0, max);
    goto out;
whole:
    json_decref(now);
    now = agent_index_host_view(idx, host);
    ops = now ? agent_view_diff_part(sent, now, 0, max) : NULL;
out:
    json_decref(vnis);
    json_decref(old);
    json_decref(now);
    return ops;
}

int agent_view_apply(json_t *view, const json_t *ops)
{
    json_t *segments = json_object_get(view, "segments"), *ports = json_object_get(view, "ports");
    size_t i;
    json_t *op;

    json_array_foreach((json_t *)ops, i, op)
    {
        const char *type = json_string_value(json_object_get(op, "op"));
        char key[16];
        int rc = 0;
        vni_key(json_integer_value(json_object_get(op, "vni")), key, sizeof key);
        json_t *s = json_object_get(segments, key);
        if (!type) {
            return EINVAL;
        } else if (strcmp(type, "segment_set") == 0) {
            rc = s ? json_object_set(s, "op", op)
                   : json_object_set_new(segments, key, segment_part(json_incref(op)));
        } else if (strcmp(type, "segment_del") == 0) {
            json_object_del(segments, key);
        } else if (strcmp(type, "port_set") == 0) {
            rc = json_object_set(ports, json_string_value(json_object_get(op, "name")), op);
        } else if (strcmp(type, "port_del") == 0) {
            json_object_del(ports, json_string_value(json_object_get(op, "name")));
        } else {
            /* Entries: {vtep,mac,ip}_{add,set,del}, in a segment the host has. */
            static const struct {
                const char *set, *del, *part, *field, *value;
            } kinds[] = {{"vtep_add", "vtep_del", "vteps", "vtep", NULL},
                         {"mac_set", "mac_del", "macs", "mac", "vtep"},
                         {"ip_set", "ip_del", "ips", "ip", "mac"}};
            size_t k = 0;
            while (k < 3 && strcmp(type, kinds[k].set) != 0 && strcmp(type, kinds[k].del) != 0) {
                k++;
            }
            json_t *part = json_object_get(s, k < 3 ? kinds[k].part : "");
            const char *addr =
                k < 3 ? json_string_value(json_object_get(op, kinds[k].field)) : NULL;
            if (!part || !addr) {
                return EINVAL;
            }
            if (strcmp(type, kinds[k].del) == 0) {
                json_object_del(part, addr);
            } else {
                rc = json_object_set(
                    part, addr, kinds[k].value ? json_object_get(op, kinds[k].value) : json_true());
            }
        }
        if (rc) {
            return ENOMEM;
        }
    }
    return 0;
}

bool agent_index_is_source(const struct agent_index *idx, const char *host, const char *kind,
                           uint32_t vni, const char *addr)
{
    char key[16];
    snprintf(key, sizeof key, "%" PRIu32, vni);
    json_t *t = json_object_get(idx->tables, key);
    json_t *e =
        json_object_get(json_object_get(t, strcmp(kind, "mac") == 0 ? "macs" : "ips"), addr);
    return e && !is_binding(e) && strcmp(win_str(e, WIN_HOST), host) == 0;
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

/* The ops of a difference being made: only those numbered skip .. end - 1
 * are made, so that a large one (a snapshot) can be sent in parts without
 * all of it in memory at once. */
struct diff_out {
    json_t *ops;
    size_t skip, end, seen; /* seen: ops counted so far */
};

/* Counts the next op: whether it is to be made. */
static bool take(struct diff_out *out)
{
    return out->seen++ >= out->skip && out->seen <= out->end;
}

static int append_op(struct diff_out *out, json_t *op)
{
    return op && json_array_append_new(out->ops, op) == 0 ? 0 : ENOMEM;
}

/* value (shared, not copied: a view that applies the op shares it too). */
static json_t *entry_op(const char *op, const char *vni, const char *field, const char *addr,
                        const char *vfield, json_t *value)
{
    json_t *o = json_pack("{s:s,s:I,s:s}", "op", op, "vni", (json_int_t)strtoll(vni, NULL, 10),
                          field, addr);
    if (o && vfield && json_object_set(o, vfield, value) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The entries of table (one of "vteps", "macs", "ips") that a has and b lacks
 * (or, with changed, holds with another value), as ops named op. */
static int diff_table(struct diff_out *out, const char *vni, const json_t *a, const json_t *b,
                      const char *table, bool changed, const char *op, const char *field,
                      const char *vfield)
{
    const json_t *ta = json_object_get(a, table), *tb = json_object_get(b, table);
    const char *addr;
    json_t *v;

    json_object_foreach((json_t *)ta, addr, v)
    {
        json_t *other = json_object_get(tb, addr);
        if (out->seen >= out->end) {
            return 0; /* past the window: nothing more to make */
        }
        if (other && !(changed && !json_equal(v, other))) {
            continue;
        }
        if (take(out) && append_op(out, entry_op(op, vni, field, addr, vfield, v))) {
            return ENOMEM;
        }
    }
    return 0;
}

json_t *agent_view_diff(const json_t *old_view, const json_t *new_view)
{
    return agent_view_diff_part(old_view, new_view, 0, SIZE_MAX);
}

json_t *agent_view_diff_part(const json_t *old_view, const json_t *new_view, size_t skip,
                             size_t max)
{
    const json_t *os = json_object_get(old_view, "segments");
    const json_t *ns = json_object_get(new_view, "segments");
    const json_t *op = json_object_get(old_view, "ports");
    const json_t *np = json_object_get(new_view, "ports");
    struct diff_out out = {
        .ops = json_array(), .skip = skip, .end = max > SIZE_MAX - skip ? SIZE_MAX : skip + max};
    const char *key;
    json_t *s, *o;

    if (!out.ops) {
        return NULL;
    }
    /* 1. New segments. In proxy mode first without replication lists, which
     * may only name VTEPs the segment has (added next). */
    json_object_foreach((json_t *)ns, key, s)
    {
        if (json_object_get(os, key) || !take(&out)) {
            continue;
        }
        json_t *seg = json_deep_copy(json_object_get(s, "op"));
        if (seg && json_object_get(seg, "proxies")) {
            json_object_set_new(seg, "proxies", json_array());
            json_object_set_new(seg, "replicas", json_array());
        }
        if (append_op(&out, seg)) {
            goto fail;
        }
    }
    /* 2. New VTEPs. */
    json_object_foreach((json_t *)ns, key, s)
    {
        if (diff_table(&out, key, s, json_object_get(os, key), "vteps", false, "vtep_add", "vtep",
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
        if (take(&out) && append_op(&out, json_deep_copy(want))) {
            goto fail;
        }
    }
    /* 4. Entries that go, in segments that stay; then the VTEPs that go. */
    json_object_foreach((json_t *)os, key, o)
    {
        json_t *n = json_object_get(ns, key);
        if (n && (diff_table(&out, key, o, n, "macs", false, "mac_del", "mac", NULL) ||
                  diff_table(&out, key, o, n, "ips", false, "ip_del", "ip", NULL) ||
                  diff_table(&out, key, o, n, "vteps", false, "vtep_del", "vtep", NULL))) {
            goto fail;
        }
    }
    /* 5. Entries that are new or changed. */
    json_object_foreach((json_t *)ns, key, s)
    {
        json_t *old = json_object_get(os, key);
        if (diff_table(&out, key, s, old, "macs", true, "mac_set", "mac", "vtep") ||
            diff_table(&out, key, s, old, "ips", true, "ip_set", "ip", "mac")) {
            goto fail;
        }
    }
    /* 6. Ports: those that go, then those that are new or changed. */
    json_object_foreach((json_t *)op, key, o)
    {
        if (!json_object_get(np, key) && take(&out) &&
            append_op(&out, json_pack("{s:s,s:s}", "op", "port_del", "name", key))) {
            goto fail;
        }
    }
    json_object_foreach((json_t *)np, key, s)
    {
        json_t *old = json_object_get(op, key);
        if ((!old || !json_equal(old, s)) && take(&out) && append_op(&out, json_deep_copy(s))) {
            goto fail;
        }
    }
    /* 7. Segments that go, after the ports on them. */
    json_object_foreach((json_t *)os, key, o)
    {
        if (!json_object_get(ns, key) && take(&out) &&
            append_op(&out, json_pack("{s:s,s:I}", "op", "segment_del", "vni",
                                      (json_int_t)strtoll(key, NULL, 10)))) {
            goto fail;
        }
    }
    return out.ops;
fail:
    json_decref(out.ops);
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

/* A binding of addr that does not count yet because its host has never said
 * hello (no VTEP): *port gets the port. The REST views show it, with no VTEP,
 * since the API promises a port's bindings in the tables before any traffic;
 * hosts are sent it once the host is there. NULL when there is none. */
static const json_t *pending_binding(const json_t *t, bool is_mac, const char *addr,
                                     const char **port)
{
    const json_t *all = json_object_get(json_object_get(t, is_mac ? "mac_c" : "ip_c"), addr);
    const json_t *best = NULL;
    size_t i;
    json_t *e;

    /* Should two ports bind it (the API refuses that), the lowest port name, as
     * when the bindings count. */
    json_array_foreach((json_t *)all, i, e)
    {
        const char *cand = cand_name(e);
        if (cand[0] == 'b' && (!best || strcmp(cand + 2, *port) < 0)) {
            *port = cand + 2;
            best = e;
        }
    }
    return best;
}

json_t *agent_index_segment_macs_json(const struct agent_index *idx, uint32_t vni)
{
    const json_t *t = table_of(idx, vni);
    const json_t *macs = json_object_get(t, "macs");
    json_t *items = json_array();
    size_t n;
    const char **keys = sorted_keys(json_object_get(t, "mac_c"), &n);

    if (!items || !keys) {
        json_decref(items);
        free(keys);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_object_get(macs, keys[i]);
        const char *port;
        json_t *item;
        if (!e) {
            const json_t *b = pending_binding(t, true, keys[i], &port);
            if (b) {
                json_array_append_new(items, json_pack("{s:s,s:O,s:n,s:s,s:s}", "mac", keys[i],
                                                       "host", json_array_get(b, CAND_HOST), "vtep",
                                                       "port", port, "source", "binding"));
            }
            continue;
        }
        item = json_pack("{s:s,s:O,s:O,s:O,s:O}", "mac", keys[i], "host",
                         json_array_get(e, WIN_HOST), "vtep", json_array_get(e, WIN_VALUE), "port",
                         json_array_get(e, WIN_PORT), "source", json_array_get(e, WIN_SOURCE));
        if (item && !is_binding(e)) {
            json_object_set(item, "revision", json_array_get(e, WIN_REV));
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
    const json_t *t = table_of(idx, vni);
    const json_t *ips = json_object_get(t, "ips");
    json_t *items = json_array();
    size_t n;
    const char **keys = sorted_keys(json_object_get(t, "ip_c"), &n);

    if (!items || !keys) {
        json_decref(items);
        free(keys);
        return NULL;
    }
    qsort(keys, n, sizeof *keys, cmp_ip_key);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_object_get(ips, keys[i]);
        const char *port;
        if (!e) {
            const json_t *b = pending_binding(t, false, keys[i], &port);
            if (b) {
                json_array_append_new(items,
                                      json_pack("{s:s,s:O,s:O,s:s}", "ip", keys[i], "mac",
                                                json_array_get(b, CAND_VALUE), "host",
                                                json_array_get(b, CAND_HOST), "source", "binding"));
            }
            continue;
        }
        json_array_append_new(items, json_pack("{s:s,s:O,s:O,s:O}", "ip", keys[i], "mac",
                                               json_array_get(e, WIN_VALUE), "host",
                                               json_array_get(e, WIN_HOST), "source",
                                               json_array_get(e, WIN_SOURCE)));
    }
    free(keys);
    return json_pack("{s:o}", "items", items);
}
