/*
 * control.c - weftd's control socket.
 *
 * A unix stream socket (mode 0660: root, plus the group given with --group).
 * Each request is one line of JSON, {"cmd": "...", "args": {...}}; each reply is
 * one line, {"ok": true, "data": ...} or {"ok": false, "code": "invalid" |
 * "not_found" | "conflict" | "failed", "error": "what is wrong and what to do"}.
 * docs/control-protocol.md lists the commands. A client that sends more than
 * CONTROL_MAX_REQUEST bytes without a newline, or garbage, gets an error reply
 * and is disconnected; nothing it sent is applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "weft_version.h"
#include "weftd.h"

#define CONTROL_MAX_REQUEST (1u << 20)
#define CONTROL_MAX_CLIENTS 64

struct control_client {
    int fd;
    char *buf;
    size_t len, cap;
    struct weftd_source source;
};

static unsigned n_clients;

int weftd_control_open(struct weftd *d)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    if (strlen(d->socket_path) >= sizeof addr.sun_path) {
        log_error("control socket path %s is too long", d->socket_path);
        return ENAMETOOLONG;
    }
    strcpy(addr.sun_path, d->socket_path);
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0) {
        return errno;
    }
    /* A socket file left by a crashed weftd is stale: nobody answers on it. */
    if (connect(d->listen_fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        log_error("another weftd answers on %s: stop it or use --socket", d->socket_path);
        close(d->listen_fd);
        return EADDRINUSE;
    }
    close(d->listen_fd);
    unlink(d->socket_path);
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117);
    int error = bind(d->listen_fd, (struct sockaddr *)&addr, sizeof addr) ? errno : 0;
    umask(old);
    if (!error && d->socket_group != (gid_t)-1 && chown(d->socket_path, 0, d->socket_group)) {
        error = errno;
    }
    if (!error && listen(d->listen_fd, 16)) {
        error = errno;
    }
    if (error) {
        log_error("cannot listen on %s: %s", d->socket_path, strerror(error));
        close(d->listen_fd);
        d->listen_fd = -1;
        return error;
    }
    d->listen_source = (struct weftd_source){SOURCE_LISTEN, NULL};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->listen_source};
    return epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->listen_fd, &ev) ? errno : 0;
}

void weftd_control_close(struct weftd *d)
{
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        unlink(d->socket_path);
        d->listen_fd = -1;
    }
}

void weftd_control_accept(struct weftd *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (n_clients >= CONTROL_MAX_CLIENTS) {
        log_warn("control: too many clients, refusing one");
        close(fd);
        return;
    }
    struct control_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->source = (struct weftd_source){SOURCE_CLIENT, c};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->source};
    if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
        close(fd);
        free(c);
        return;
    }
    n_clients++;
}

static void client_close(struct weftd *d, struct control_client *c)
{
    epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
    n_clients--;
}

/* Writes the whole reply; waits for a slow reader at most a second. */
static int client_send(struct control_client *c, json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    size_t len, done = 0;
    int error = 0;

    if (!text) {
        return ENOMEM;
    }
    len = strlen(text);
    text[len++] = '\n'; /* replaces the NUL: the buffer is not used as a string after */
    while (done < len && !error) {
        ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) <= 0) {
                error = ETIMEDOUT;
            }
        } else {
            error = errno ? errno : EPIPE;
        }
    }
    free(text);
    return error;
}

/* ---- Commands ---------------------------------------------------------------- */

typedef enum weftd_status command_fn(struct weftd *d, json_t *args, json_t **data, char *msg);

static enum weftd_status arg_vni(json_t *args, uint32_t *vni, char *msg)
{
    json_t *v = json_object_get(args, "vni");

    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > VXLAN_VNI_MAX) {
        return weftd_error(msg, WEFTD_INVALID, "'vni' must be an integer from 1 to 16777215");
    }
    *vni = (uint32_t)json_integer_value(v);
    return WEFTD_OK;
}

static enum weftd_status arg_string(json_t *args, const char *key, const char **out, char *msg)
{
    json_t *v = json_object_get(args, key);

    if (!json_is_string(v)) {
        return weftd_error(msg, WEFTD_INVALID, "'%s' is required (a string)", key);
    }
    *out = json_string_value(v);
    return WEFTD_OK;
}

static enum weftd_status cmd_status(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    char text[IP_ADDR_STRLEN];
    json_t *vteps = json_array();
    unsigned n_ports = 0;

    (void)args;
    (void)msg;
    for (unsigned f = 0; f < 2; f++) {
        if (d->vtep[f]) {
            json_array_append_new(vteps, json_string(ip_addr_format(&d->vtep[f]->local, text)));
        }
    }
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        n_ports += d->ports[i].in_use;
    }
    *data = json_pack("{ss ss so sI sI sI sI ss sI sI}", "name", d->name, "version", WEFT_VERSION,
                      "vtep", vteps, "vxlan_port", (json_int_t)d->sw_config.vxlan_port,
                      "underlay_mtu", (json_int_t)d->sw_config.underlay_mtu, "mac_age",
                      (json_int_t)d->sw_config.mac_age_seconds, "uptime",
                      (json_int_t)(weftd_now() - d->started_monotonic), "datadir", d->datadir,
                      "ports", (json_int_t)n_ports, "workers", (json_int_t)d->n_workers);
    if (d->agent) {
        json_object_set_new(*data, "controller", weftd_agent_status_json(d));
    }
    return WEFTD_OK;
}

static enum weftd_status cmd_segment_add(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)data;
    return weftd_segment_add(d, args, msg);
}

static enum weftd_status cmd_segment_del(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    uint32_t vni = 0;
    enum weftd_status st = arg_vni(args, &vni, msg);

    (void)data;
    return st ? st : weftd_segment_del(d, vni, msg);
}

static enum weftd_status cmd_segment_list(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)args;
    (void)msg;
    *data = json_array();
    for (uint32_t s = 0; s < d->sw_config.max_segments; s++) {
        if (vswitch_segment_get(d->sw, s)) {
            json_array_append_new(*data, weftd_segment_json(d, s, true));
        }
    }
    return WEFTD_OK;
}

static enum weftd_status cmd_segment_show(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    uint32_t vni = 0, segment;
    enum weftd_status st = arg_vni(args, &vni, msg);

    if (st) {
        return st;
    }
    if (vswitch_segment_find(d->sw, vni, &segment)) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "segment %u does not exist", vni);
    }
    *data = weftd_segment_json(d, segment, true);
    return WEFTD_OK;
}

static enum weftd_status cmd_port_add(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)data;
    return weftd_port_add(d, args, msg);
}

static enum weftd_status cmd_port_set(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    const char *name = NULL;
    enum weftd_status st = arg_string(args, "name", &name, msg);

    (void)data;
    if (st) {
        return st;
    }
    json_t *changes = json_deep_copy(args);
    json_object_del(changes, "name");
    st = weftd_port_set(d, name, changes, msg);
    json_decref(changes);
    return st;
}

static enum weftd_status cmd_port_del(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    const char *name = NULL;
    enum weftd_status st = arg_string(args, "name", &name, msg);

    (void)data;
    return st ? st : weftd_port_del(d, name, msg);
}

static enum weftd_status cmd_port_list(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)args;
    (void)msg;
    *data = json_array();
    for (unsigned i = 0; i < VSWITCH_MAX_PORTS; i++) {
        if (d->ports[i].in_use) {
            json_array_append_new(*data, weftd_port_json(d, &d->ports[i], true));
        }
    }
    return WEFTD_OK;
}

static enum weftd_status cmd_port_show(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    const char *name = NULL;
    enum weftd_status st = arg_string(args, "name", &name, msg);
    struct weftd_port *port;

    if (st) {
        return st;
    }
    if (!(port = weftd_port_by_name(d, name))) {
        return weftd_error(msg, WEFTD_NOT_FOUND, "no port %s (weft port list)", name);
    }
    *data = weftd_port_json(d, port, true);
    return WEFTD_OK;
}

static enum weftd_status cmd_peer(struct weftd *d, json_t *args, bool add, char *msg)
{
    uint32_t vni = 0;
    const char *ip = NULL;
    enum weftd_status st = arg_vni(args, &vni, msg);

    if (st || (st = arg_string(args, "ip", &ip, msg))) {
        return st;
    }
    return add ? weftd_peer_add(d, vni, ip, msg) : weftd_peer_del(d, vni, ip, msg);
}

static enum weftd_status cmd_peer_add(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)data;
    return cmd_peer(d, args, true, msg);
}

static enum weftd_status cmd_peer_del(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)data;
    return cmd_peer(d, args, false, msg);
}

/* A table of the switch, of one segment if args name its "vni" (0: all). */
static enum weftd_status table_list(struct weftd *d, json_t *args, json_t **data, char *msg,
                                    json_t *(*table_json)(const struct weftd *, uint32_t))
{
    uint32_t vni = 0;

    if (json_object_get(args, "vni")) {
        enum weftd_status st = arg_vni(args, &vni, msg);
        if (st) {
            return st;
        }
    }
    *data = table_json(d, vni);
    return WEFTD_OK;
}

static enum weftd_status cmd_mac_list(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    return table_list(d, args, data, msg, weftd_macs_json);
}

static enum weftd_status cmd_arp_list(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    return table_list(d, args, data, msg, weftd_arps_json);
}

static enum weftd_status cmd_mac_add(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)data;
    return weftd_mac_add(d, args, msg);
}

static enum weftd_status cmd_mac_del(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    uint32_t vni = 0;
    const char *mac = NULL;
    enum weftd_status st = arg_vni(args, &vni, msg);

    (void)data;
    if (st || (st = arg_string(args, "mac", &mac, msg))) {
        return st;
    }
    return weftd_mac_del(d, vni, mac, msg);
}

static enum weftd_status cmd_stats(struct weftd *d, json_t *args, json_t **data, char *msg)
{
    (void)args;
    (void)msg;
    *data = weftd_stats_json(d);
    return WEFTD_OK;
}

static const struct {
    const char *name;
    command_fn *fn;
} commands[] = {
    {"status", cmd_status},
    {"segment-add", cmd_segment_add},
    {"segment-del", cmd_segment_del},
    {"segment-list", cmd_segment_list},
    {"segment-show", cmd_segment_show},
    {"port-add", cmd_port_add},
    {"port-set", cmd_port_set},
    {"port-del", cmd_port_del},
    {"port-list", cmd_port_list},
    {"port-show", cmd_port_show},
    {"peer-add", cmd_peer_add},
    {"peer-del", cmd_peer_del},
    {"mac-list", cmd_mac_list},
    {"mac-add", cmd_mac_add},
    {"mac-del", cmd_mac_del},
    {"arp-list", cmd_arp_list},
    {"stats", cmd_stats},
};

static const char *const status_codes[] = {
    [WEFTD_OK] = "ok",
    [WEFTD_INVALID] = "invalid",
    [WEFTD_NOT_FOUND] = "not_found",
    [WEFTD_CONFLICT] = "conflict",
    [WEFTD_FAILED] = "failed",
};

static json_t *handle_request(struct weftd *d, const char *line)
{
    char msg[WEFTD_MSG_MAX] = "";
    json_error_t jerr;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    json_t *data = NULL;
    enum weftd_status st = WEFTD_INVALID;

    if (!req || !json_is_object(req)) {
        snprintf(msg, sizeof msg, "request is not a JSON object: %s",
                 req ? "wrong type" : jerr.text);
    } else {
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        json_t *args = json_object_get(req, "args");
        if (!args) {
            args = json_object();
        } else {
            json_incref(args);
        }
        st = WEFTD_NOT_FOUND;
        snprintf(msg, sizeof msg, "unknown command '%s' (see docs/control-protocol.md)",
                 cmd ? cmd : "(none)");
        for (unsigned i = 0; cmd && i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp(cmd, commands[i].name) == 0) {
                msg[0] = '\0';
                st = json_is_object(args)
                         ? commands[i].fn(d, args, &data, msg)
                         : weftd_error(msg, WEFTD_INVALID, "'args' must be a JSON object");
                break;
            }
        }
        json_decref(args);
    }
    json_decref(req);
    if (st == WEFTD_OK) {
        return json_pack("{sb so}", "ok", 1, "data", data ? data : json_null());
    }
    json_decref(data);
    return json_pack("{sb ss ss}", "ok", 0, "code", status_codes[st], "error", msg);
}

void weftd_control_client(struct weftd *d, struct weftd_source *src, uint32_t events)
{
    struct control_client *c = src->ptr;

    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            char *buf = cap > CONTROL_MAX_REQUEST + 4096 ? NULL : realloc(c->buf, cap);
            if (!buf) {
                json_t *reply = json_pack("{sb ss ss}", "ok", 0, "code", "invalid", "error",
                                          "request longer than 1 MiB: refused");
                client_send(c, reply);
                json_decref(reply);
                client_close(d, c);
                return;
            }
            c->buf = buf;
            c->cap = cap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            client_close(d, c);
            return;
        }
        if (n < 0) {
            break;
        }
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        char *newline;
        while ((newline = memchr(c->buf, '\n', c->len))) {
            *newline = '\0';
            json_t *reply = handle_request(d, c->buf);
            int error = client_send(c, reply);
            json_decref(reply);
            size_t used = (size_t)(newline - c->buf) + 1;
            memmove(c->buf, newline + 1, c->len - used);
            c->len -= used;
            c->buf[c->len] = '\0';
            if (error) {
                client_close(d, c);
                return;
            }
        }
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        client_close(d, c);
    }
}
