/*
 * state.c - what the control socket can change, and how it is kept.
 *
 * Every operation checks everything before it changes anything, so a refused
 * request leaves the switch as it was. After each change the whole
 * configuration is written to datadir/config.json through a temporary file,
 * fsync and rename: after a crash (even kill -9) the file is the old one or
 * the new one, never a mix, and weftd restarts with the same ports, segments
 * and peers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "weftd.h"

#define CONFIG_FILE    "config.json"
#define CONFIG_VERSION 1

enum weftd_status weftd_error(char *msg, enum weftd_status status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, WEFTD_MSG_MAX, fmt, ap);
    va_end(ap);
    return status;
}

/* Saves unless the configuration is being restored; a failure to save is
 * reported in the reply but does not undo the change, which is live. */
static enum weftd_status changed(struct weftd *d, char *msg)
{
    int error;

    if (d->restoring) {
        return WEFTD_OK;
    }
    error = weftd_save(d);
    if (error) {
        return weftd_error(msg, WEFTD_FAILED,
                           "applied, but saving %s/%s failed: %s; the change is lost on restart",
                           d->datadir, CONFIG_FILE, strerror(error));
    }
    return WEFTD_OK;
}

struct weftd_port *weftd_port_by_name(struct weftd *d, const char *name)
{
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        if (d->ports[i].in_use && strcmp(d->ports[i].name, name) == 0) {
            return &d->ports[i];
        }
    }
    return NULL;
}

static enum weftd_status find_segment(struct weftd *d, uint32_t vni, uint32_t *segment, char *msg)
{
    if (vswitch_segment_find(d->sw, vni, segment)) {
        return weftd_error(msg, WEFTD_NOT_FOUND,
                           "segment %u does not exist (weft segment list shows those that do)",
                           vni);
    }
    return WEFTD_OK;
}

bool weftd_segment_is_controllers(const struct weftd *d, uint32_t vni)
{
    uint32_t segment;

    return vswitch_segment_find(d->sw, vni, &segment) == 0 && d->segment_from_controller[segment];
}

/* A local command on what the controller gave this host is refused: the
 * controller would put it back, or worse, not know it changed. */
static enum weftd_status refuse_controllers(char *msg, const char *what)
{
    return weftd_error(msg, WEFTD_CONFLICT,
                       "%s is managed by weft-controller: change it through the controller's API "
                       "(weft status shows the session)",
                       what);
}

/* find_segment() for a local change: the segment must be a local one. */
static enum weftd_status find_local_segment(struct weftd *d, uint32_t vni, uint32_t *segment,
                                            char *msg)
{
    enum weftd_status st = find_segment(d, vni, segment, msg);
    char what[32];

    if (!st && d->segment_from_controller[*segment]) {
        snprintf(what, sizeof what, "segment %u", vni);
        return refuse_controllers(msg, what);
    }
    return st;
}

/* ---- Segments and peers ------------------------------------------------------ */

enum weftd_status weftd_peer_add(struct weftd *d, uint32_t vni, const char *ip, char *msg)
{
    struct ip_addr addr;
    uint32_t segment;
    enum weftd_status st = find_local_segment(d, vni, &segment, msg);

    if (st) {
        return st;
    }
    if (ip_addr_parse(ip, &addr) || ip_addr_is_zero(&addr) || ip_addr_is_multicast(&addr)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' is not a unicast IPv4 or IPv6 address", ip);
    }
    switch (vswitch_segment_peer_add(d->sw, segment, &addr, NULL)) {
    case 0:
        return changed(d, msg);
    case EEXIST:
        return weftd_error(msg, WEFTD_CONFLICT, "%s is already a peer of segment %u", ip, vni);
    case EAFNOSUPPORT:
        return weftd_error(msg, WEFTD_INVALID,
                           "%s is %s but this host has no VTEP address of that family (start "
                           "weftd with --vtep-ip)",
                           ip, ip_addr_is_v4(&addr) ? "IPv4" : "IPv6");
    default:
        return weftd_error(msg, WEFTD_FAILED, "cannot add peer %s: out of memory or VTEPs", ip);
    }
}

enum weftd_status weftd_peer_del(struct weftd *d, uint32_t vni, const char *ip, char *msg)
{
    struct ip_addr addr;
    uint32_t segment;
    enum weftd_status st = find_local_segment(d, vni, &segment, msg);

    if (st) {
        return st;
    }
    if (ip_addr_parse(ip, &addr)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' is not an IP address", ip);
    }
    if (vswitch_segment_peer_del(d->sw, segment, &addr)) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "%s is not a peer of segment %u", ip, vni);
    }
    return changed(d, msg);
}

int weftd_segment_join(struct weftd *d, const struct segment_config *cfg, bool join)
{
    struct vtep_io *vtep;

    if (cfg->bum != BUM_MULTICAST) {
        return 0;
    }
    vtep = d->vtep[ip_addr_is_v4(&cfg->mcast_group) ? 0 : 1];
    return vtep ? vtep_io_multicast(vtep, &cfg->mcast_group, join) : EAFNOSUPPORT;
}

enum weftd_status weftd_segment_add(struct weftd *d, json_t *spec, char *msg)
{
    struct segment_config cfg;
    json_t *peers = NULL, *item;
    uint32_t segment;
    size_t i;
    enum weftd_status st = weftd_segment_parse(spec, &cfg, &peers, msg);

    if (st) {
        return st;
    }
    /* Check the peers before creating anything. */
    json_array_foreach(peers, i, item)
    {
        struct ip_addr addr;
        if (!json_is_string(item) || ip_addr_parse(json_string_value(item), &addr) ||
            ip_addr_is_multicast(&addr) || ip_addr_is_zero(&addr)) {
            return weftd_error(msg, WEFTD_INVALID, "peer %zu is not a unicast IP address", i + 1);
        }
    }
    switch (vswitch_segment_add(d->sw, &cfg, &segment)) {
    case 0:
        break;
    case EEXIST:
        if (weftd_segment_is_controllers(d, cfg.vni)) {
            return weftd_error(msg, WEFTD_CONFLICT,
                               "segment %u is managed by weft-controller on this host", cfg.vni);
        }
        return weftd_error(msg, WEFTD_CONFLICT,
                           "segment %u or local VLAN %u is already in use (weft segment list)",
                           cfg.vni, cfg.vlan);
    case EAFNOSUPPORT:
        return weftd_error(msg, WEFTD_INVALID,
                           "the multicast group's family has no local VTEP address");
    case ENOSPC:
        return weftd_error(msg, WEFTD_CONFLICT, "no room for another segment");
    default:
        return weftd_error(msg, WEFTD_INVALID, "segment %u is not valid", cfg.vni);
    }
    int error = weftd_segment_join(d, &cfg, true);
    if (error) {
        vswitch_segment_del(d->sw, segment);
        return weftd_error(msg, WEFTD_FAILED, "cannot join multicast group: %s", strerror(error));
    }
    json_array_foreach(peers, i, item)
    {
        st = weftd_peer_add(d, cfg.vni, json_string_value(item), msg);
        if (st && st != WEFTD_CONFLICT) {
            weftd_segment_join(d, &cfg, false);
            vswitch_segment_del(d->sw, segment);
            return st;
        }
    }
    return changed(d, msg);
}

enum weftd_status weftd_segment_del(struct weftd *d, uint32_t vni, char *msg)
{
    uint32_t segment;
    enum weftd_status st = find_local_segment(d, vni, &segment, msg);

    if (st) {
        return st;
    }
    struct segment_config cfg = *vswitch_segment_get(d->sw, segment);
    if (vswitch_segment_del(d->sw, segment) == EBUSY) {
        return weftd_error(msg, WEFTD_CONFLICT,
                           "segment %u still has access ports: delete or move them first", vni);
    }
    weftd_segment_join(d, &cfg, false);
    return changed(d, msg);
}

/* ---- Ports --------------------------------------------------------------- */

/* A controller port's device: a TAP is attached as a TAP (unless a VM's QEMU
 * holds it: then through AF_PACKET, as a local afpacket port would), anything
 * else through AF_PACKET. An absent device is not created: the port waits. */
static int ctl_port_open(struct weftd_port *port, const struct port_io_args *args, const char **why)
{
    char path[64];
    int error;

    if (strlen(port->name) >= IF_NAMESIZE) {
        *why = "the name is longer than 15 characters, so no device can have it";
        return ENAMETOOLONG;
    }
    snprintf(path, sizeof path, "/sys/class/net/%s", port->ifname);
    if (access(path, F_OK) != 0) {
        *why = "no such device (the port attaches when it appears)";
        return ENODEV;
    }
    snprintf(path, sizeof path, "/sys/class/net/%s/tun_flags", port->ifname);
    if (access(path, F_OK) == 0) {
        port->backend = &port_backend_tap;
        error = port->backend->open(args, &port->io, why);
        if (error != EBUSY) {
            return error;
        }
    }
    port->backend = &port_backend_afpacket;
    return port->backend->open(args, &port->io, why);
}

/* Opens the port's device as its backend (or, for the controller's ports,
 * the device) says. */
static int port_open_backend(struct weftd_port *port, const struct port_io_args *args,
                             struct port_io **io, const char **why)
{
    return port->from_controller ? ctl_port_open(port, args, why)
                                 : port->backend->open(args, io, why);
}

/* With several workers, a TAP (or internal) port gets a queue per worker. */
static bool port_wants_queues(const struct weftd *d, const struct weftd_port *port)
{
    return d->n_workers > 1 &&
           (port->backend == &port_backend_tap || port->backend == &port_backend_internal);
}

static void port_close_queues(struct weftd_port *port)
{
    for (uint32_t q = 1; q < port->n_queues; q++) {
        port->backend->close(port->queues[q]);
        port->queues[q] = NULL;
    }
    port->n_queues = port->io ? 1 : 0;
}

static enum weftd_status port_open_io(struct weftd *d, struct weftd_port *port, char *msg)
{
    const char *why = "unknown error";
    struct port_io_args args = {.ifname = port->ifname,
                                .netns = port->netns,
                                .multi_queue = port_wants_queues(d, port),
                                .shared_tx = d->n_workers > 1};
    int error = port_open_backend(port, &args, &port->io, &why);

    if (error == EINVAL && args.multi_queue) {
        /* Made single-queue before (by weftd with one worker, or by hand): one
         * worker reads it, as any single-queue port. */
        log_info("port %s: %s exists single-queue, so one worker reads it (delete the device "
                 "to have it made again with a queue per worker)",
                 port->name, port->ifname);
        args.multi_queue = false;
        error = port_open_backend(port, &args, &port->io, &why);
    }
    if (error) {
        port->io = NULL;
        port->n_queues = 0;
        snprintf(port->io_error, sizeof port->io_error, "%s: %s (%s)", port->ifname, why,
                 strerror(error));
        return weftd_error(msg, WEFTD_FAILED, "port %s: %s", port->name, port->io_error);
    }
    port->queues[0] = port->io;
    port->n_queues = 1;
    port->lost = false;
    for (uint32_t q = 1; args.multi_queue && q < d->n_workers; q++) {
        error = port->backend->open(&args, &port->queues[q], &why);
        if (error) {
            log_warn("port %s: queue %u of %s: %s (%s); one worker reads the port", port->name, q,
                     port->ifname, why, strerror(error));
            port_close_queues(port);
            break;
        }
        port->n_queues = q + 1;
    }
    port->io_error[0] = '\0';
    return WEFTD_OK;
}

static void port_close_io(struct weftd *d, struct weftd_port *port, bool destroy)
{
    if (port->io) {
        weftd_watch_port(d, port, false);
        port_close_queues(port);
        if (destroy && port->backend->destroy && !port->from_controller) {
            port->backend->destroy(port->io);
        }
        port->backend->close(port->io);
        port->io = NULL;
        port->n_queues = 0;
        port->lost = false;
    }
}

enum weftd_status weftd_port_add(struct weftd *d, json_t *spec, char *msg)
{
    struct weftd_port tmp = {0};
    struct port_config cfg;
    uint16_t id;
    enum weftd_status st = weftd_port_parse(d, spec, &tmp, &cfg, msg);

    if (st) {
        return st;
    }
    if (weftd_port_by_name(d, tmp.name)) {
        return weftd_error(msg, WEFTD_CONFLICT, "port %s exists (weft port show %s)", tmp.name,
                           tmp.name);
    }
    if (cfg.mode == PORT_ACCESS && d->segment_from_controller[cfg.access_segment]) {
        return weftd_error(msg, WEFTD_CONFLICT,
                           "segment %u is managed by weft-controller: bind the port through the "
                           "controller's API",
                           vswitch_segment_get(d->sw, cfg.access_segment)->vni);
    }
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        const struct weftd_port *p = &d->ports[i];
        if (p->in_use && strcmp(p->ifname, tmp.ifname) == 0 && strcmp(p->netns, tmp.netns) == 0) {
            return weftd_error(msg, WEFTD_CONFLICT, "interface %s is already port %s", tmp.ifname,
                               p->name);
        }
    }
    st = port_open_io(d, &tmp, msg);
    /* At restore the port is kept without its device, and retried; a new port
     * whose device cannot be opened is refused. */
    if (st && !d->restoring) {
        return st;
    }
    int error = vswitch_port_add(d->sw, &cfg, &id);
    if (error) {
        port_close_io(d, &tmp, true);
        return weftd_error(msg, error == ENOSPC ? WEFTD_CONFLICT : WEFTD_INVALID,
                           "the switch refused port %s: %s", tmp.name, strerror(error));
    }
    struct weftd_port *port = &d->ports[id];
    *port = tmp;
    port->in_use = true;
    port->id = id;
    if (port->io && weftd_watch_port(d, port, true)) {
        port_close_io(d, port, true);
        vswitch_port_del(d->sw, id);
        port->in_use = false;
        return weftd_error(msg, WEFTD_FAILED, "cannot watch port %s", tmp.name);
    }
    if (!port->io) {
        log_warn("port %s kept without its device, retrying: %s", port->name, port->io_error);
    }
    return changed(d, msg);
}

enum weftd_status weftd_port_set(struct weftd *d, const char *name, json_t *changes, char *msg)
{
    struct weftd_port *port = weftd_port_by_name(d, name);
    struct weftd_port tmp = {0};
    struct port_config cfg;
    const char *key;
    json_t *value;
    enum weftd_status st;

    if (!port) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "no port %s (weft port list)", name);
    }
    if (port->from_controller) {
        return refuse_controllers(msg, "this port");
    }
    if (!json_is_object(changes)) {
        return weftd_error(msg, WEFTD_INVALID, "changes must be a JSON object");
    }
    json_t *spec = weftd_port_json(d, port, false);
    json_object_foreach(changes, key, value)
    {
        if (!strcmp(key, "name") || !strcmp(key, "backend") || !strcmp(key, "ifname") ||
            !strcmp(key, "netns")) {
            json_decref(spec);
            return weftd_error(msg, WEFTD_INVALID,
                               "'%s' cannot change on a live port: delete and add it again", key);
        }
        /* Switching mode drops the other mode's fields. */
        if (!strcmp(key, "mode")) {
            json_object_del(spec, "segment");
            json_object_del(spec, "vlans");
            json_object_del(spec, "native_vlan");
            json_object_del(spec, "tpid");
        }
        json_object_set(spec, key, value);
    }
    st = weftd_port_parse(d, spec, &tmp, &cfg, msg);
    json_decref(spec);
    if (st) {
        return st;
    }
    int error = vswitch_port_set(d->sw, port->id, &cfg);
    if (error) {
        return weftd_error(msg, WEFTD_INVALID, "the switch refused the change: %s",
                           strerror(error));
    }
    return changed(d, msg);
}

enum weftd_status weftd_port_del(struct weftd *d, const char *name, char *msg)
{
    struct weftd_port *port = weftd_port_by_name(d, name);

    if (!port) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "no port %s (weft port list)", name);
    }
    if (port->from_controller) {
        return refuse_controllers(msg, "this port");
    }
    port_close_io(d, port, true);
    vswitch_port_del(d->sw, port->id);
    port->in_use = false;
    return changed(d, msg);
}

void weftd_ports_retry(struct weftd *d)
{
    char msg[WEFTD_MSG_MAX];

    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        struct weftd_port *port = &d->ports[i];
        if (port->in_use && port->io && __atomic_load_n(&port->lost, __ATOMIC_ACQUIRE)) {
            weftd_port_lost(d, port); /* seen by the worker that reads it */
            continue;                 /* retried from the next tick, as when seen here */
        }
        if (port->in_use && port->io && port->backend->poll_stats) {
            port->backend->poll_stats(port->io);
        }
        if (port->in_use && !port->io && port_open_io(d, port, msg) == WEFTD_OK) {
            if (weftd_watch_port(d, port, true)) {
                port_close_io(d, port, false);
            } else {
                log_info("port %s: device %s is back", port->name, port->ifname);
            }
        }
    }
}

void weftd_port_lost(struct weftd *d, struct weftd_port *port)
{
    int error = 0;
    socklen_t len = sizeof error;

    /* AF_PACKET sockets say why (ENETDOWN when the interface was deleted);
     * a TAP descriptor has no socket error: its device went with its namespace. */
    if (getsockopt(port->io->fd, SOL_SOCKET, SO_ERROR, &error, &len) || !error) {
        error = ENODEV;
    }
    snprintf(port->io_error, sizeof port->io_error, "%s: device went away (%s); retrying",
             port->ifname, strerror(error));
    log_warn("port %s: %s", port->name, port->io_error);
    port_close_io(d, port, false);
}

void weftd_ports_close(struct weftd *d)
{
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        if (d->ports[i].in_use) {
            port_close_io(d, &d->ports[i], false);
        }
    }
}

enum weftd_status weftd_ctl_port_set(struct weftd *d, const char *name,
                                     const struct port_config *cfg, char *msg)
{
    struct weftd_port *port = weftd_port_by_name(d, name);
    uint16_t id;
    int error;

    if (port && !port->from_controller) {
        return weftd_error(msg, WEFTD_CONFLICT,
                           "a local port of this name exists on the host (weft port del %s hands "
                           "the name to the controller)",
                           name);
    }
    if (port) {
        error = vswitch_port_set(d->sw, port->id, cfg);
        return error ? weftd_error(msg, WEFTD_INVALID, "the switch refused the port: %s",
                                   strerror(error))
                     : WEFTD_OK;
    }
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        const struct weftd_port *p = &d->ports[i];
        if (p->in_use && !p->netns[0] && strcmp(p->ifname, name) == 0) {
            return weftd_error(msg, WEFTD_CONFLICT,
                               "its device %s is already local port %s (weft port del %s)", name,
                               p->name, p->name);
        }
    }
    if ((error = vswitch_port_add(d->sw, cfg, &id))) {
        return weftd_error(msg, error == ENOSPC ? WEFTD_CONFLICT : WEFTD_INVALID,
                           "the switch refused the port: %s", strerror(error));
    }
    port = &d->ports[id];
    *port = (struct weftd_port){
        .in_use = true, .id = id, .backend = &port_backend_afpacket, .from_controller = true};
    snprintf(port->name, sizeof port->name, "%s", name);
    snprintf(port->ifname, sizeof port->ifname, "%.*s", IF_NAMESIZE - 1, name);
    if (port_open_io(d, port, msg) == WEFTD_OK && weftd_watch_port(d, port, true)) {
        port_close_io(d, port, false);
        snprintf(port->io_error, sizeof port->io_error, "cannot watch the device");
    }
    if (!port->io) {
        log_warn("port %s (from the controller) waits for its device: %s", name, port->io_error);
    } else {
        log_info("port %s (from the controller) attached to %s (%s)", name, port->ifname,
                 port->io->mode);
    }
    return WEFTD_OK;
}

void weftd_ctl_port_del(struct weftd *d, struct weftd_port *port)
{
    port_close_io(d, port, false);
    vswitch_port_del(d->sw, port->id);
    port->in_use = false;
    port->from_controller = false;
}

/* ---- Static MACs ---------------------------------------------------------- */

enum weftd_status weftd_mac_add(struct weftd *d, json_t *spec, char *msg)
{
    json_int_t vni = 0;
    const char *mac_text = NULL, *port_name = NULL, *vtep_text = NULL;
    struct eth_addr mac;
    uint32_t segment, dest;
    enum weftd_status st;

    if (json_unpack(spec, "{sI ss s?s s?s !}", "vni", &vni, "mac", &mac_text, "port", &port_name,
                    "vtep", &vtep_text)) {
        return weftd_error(msg, WEFTD_INVALID,
                           "a static MAC needs 'vni', 'mac' and one of 'port' or 'vtep'");
    }
    if (vni < 1 || vni > VXLAN_VNI_MAX ||
        (st = find_local_segment(d, (uint32_t)vni, &segment, msg))) {
        return vni < 1 || vni > VXLAN_VNI_MAX
                   ? weftd_error(msg, WEFTD_INVALID, "'vni' must be from 1 to 16777215")
                   : st;
    }
    if (eth_addr_parse(mac_text, &mac) || eth_addr_is_multicast(mac.bytes) ||
        eth_addr_is_zero(mac.bytes)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' is not a unicast MAC address", mac_text);
    }
    if (!port_name == !vtep_text) {
        return weftd_error(msg, WEFTD_INVALID, "give exactly one of 'port' or 'vtep'");
    }
    if (port_name) {
        struct weftd_port *port = weftd_port_by_name(d, port_name);
        if (!port) {
            return weftd_error(msg, WEFTD_NOT_FOUND, "no port %s", port_name);
        }
        dest = MAC_DEST_PORT(port->id);
    } else {
        struct ip_addr addr;
        uint32_t vtep;
        if (ip_addr_parse(vtep_text, &addr) || vswitch_vtep_find(d->sw, &addr, &vtep)) {
            return weftd_error(msg, WEFTD_NOT_FOUND,
                               "%s is not a peer VTEP (weft peer add %lld %s first)", vtep_text,
                               (long long)vni, vtep_text);
        }
        dest = MAC_DEST_REMOTE(vtep);
    }
    switch (vswitch_mac_add_static(d->sw, segment, &mac, dest, weftd_now())) {
    case 0:
        return changed(d, msg);
    case ENOENT:
        return weftd_error(msg, WEFTD_NOT_FOUND, "%s is not a peer of segment %lld", vtep_text,
                           (long long)vni);
    default:
        return weftd_error(msg, WEFTD_CONFLICT, "the MAC table is full");
    }
}

enum weftd_status weftd_mac_del(struct weftd *d, uint32_t vni, const char *mac_text, char *msg)
{
    struct eth_addr mac;
    uint32_t segment;
    enum weftd_status st = find_local_segment(d, vni, &segment, msg);

    if (st) {
        return st;
    }
    if (eth_addr_parse(mac_text, &mac)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' is not a MAC address", mac_text);
    }
    if (vswitch_mac_del(d->sw, segment, &mac)) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "%s is not in segment %u's MAC table", mac_text,
                           vni);
    }
    return changed(d, msg);
}

/* ---- Persistence ---------------------------------------------------------- */

static json_t *config_json(const struct weftd *d)
{
    json_t *segments = json_array(), *ports = json_array(), *macs = json_array();
    uint32_t segment;

    for (segment = 0; segment < d->sw_config.max_segments; segment++) {
        if (vswitch_segment_get(d->sw, segment) && !d->segment_from_controller[segment]) {
            json_array_append_new(segments, weftd_segment_json(d, segment, false));
        }
    }
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        if (d->ports[i].in_use && !d->ports[i].from_controller) {
            json_array_append_new(ports, weftd_port_json(d, &d->ports[i], false));
        }
    }
    /* Static entries only: learned ones are relearned from traffic. */
    json_t *all = weftd_macs_json(d, 0);
    size_t i;
    json_t *item;
    json_array_foreach(all, i, item)
    {
        /* Local ones only: the controller's are in controller-state.json. */
        if (json_is_true(json_object_get(item, "static")) &&
            !weftd_segment_is_controllers(
                d, (uint32_t)json_integer_value(json_object_get(item, "vni")))) {
            json_object_del(item, "static");
            json_object_del(item, "age");
            json_array_append(macs, item);
        }
    }
    json_decref(all);
    return json_pack("{si so so so}", "version", CONFIG_VERSION, "segments", segments, "ports",
                     ports, "static_macs", macs);
}

int weftd_write_json(struct weftd *d, const char *name, json_t *json)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    int fd, error = 0;

    snprintf(path, sizeof path, "%s/%s", d->datadir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", d->datadir, name);
    errno = 0;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || json_dumpfd(json, fd, JSON_INDENT(2) | JSON_SORT_KEYS) ||
        write(fd, "\n", 1) != 1 || fsync(fd)) {
        error = errno ? errno : EIO;
    }
    if (fd >= 0 && close(fd) && !error) {
        error = errno;
    }
    if (!error && rename(tmp, path)) {
        error = errno;
    }
    if (!error) {
        /* The rename itself is durable only once the directory is synced. */
        int dir = open(d->datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            fsync(dir);
            close(dir);
        }
    } else {
        unlink(tmp);
        log_error("saving %s failed: %s", path, strerror(error));
    }
    return error;
}

int weftd_save(struct weftd *d)
{
    json_t *config = config_json(d);
    int error = weftd_write_json(d, CONFIG_FILE, config);

    json_decref(config);
    return error;
}

/* Applies one array of the saved configuration, logging what cannot be applied. */
static void restore_each(struct weftd *d, json_t *config, const char *key,
                         enum weftd_status (*apply)(struct weftd *, json_t *, char *))
{
    char msg[WEFTD_MSG_MAX];
    size_t i;
    json_t *item;

    json_array_foreach(json_object_get(config, key), i, item)
    {
        if (apply(d, item, msg) && msg[0]) {
            log_error("restoring %s #%zu: %s", key, i + 1, msg);
        }
    }
}

int weftd_restore(struct weftd *d)
{
    char path[PATH_MAX + 16];
    json_error_t jerr;
    json_t *config;

    snprintf(path, sizeof path, "%s/%s", d->datadir, CONFIG_FILE);
    if (access(path, F_OK) != 0) {
        log_info("no saved configuration at %s: starting empty", path);
        return 0;
    }
    config = json_load_file(path, 0, &jerr);
    if (!config) {
        log_error("%s is not valid JSON (line %d: %s): move it away to start empty", path,
                  jerr.line, jerr.text);
        return EINVAL;
    }
    json_t *version = json_object_get(config, "version");
    if (!json_is_integer(version) || json_integer_value(version) != CONFIG_VERSION) {
        log_error("%s has an unknown version: move it away to start empty", path);
        json_decref(config);
        return EINVAL;
    }
    d->restoring = true;
    restore_each(d, config, "segments", weftd_segment_add);
    restore_each(d, config, "ports", weftd_port_add);
    restore_each(d, config, "static_macs", weftd_mac_add);
    d->restoring = false;
    json_decref(config);
    log_info("restored the configuration from %s", path);
    return 0;
}
