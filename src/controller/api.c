/*
 * api.c - the REST API's HTTP side: an evhttp server on the controller's
 * loop. Every request is checked in the same order (bearer token, path,
 * method, query, body size, JSON) before a handler of api_objects.c runs, and
 * every error leaves as the JSON of docs/api.md, with a sentence that says
 * what to fix.
 *
 * The loop is single-threaded, so one request runs at a time; handlers still
 * guard every write with compare-and-swap so that several controllers can
 * share one store (etcd).
 */
#include "controller/api.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "controller/api_internal.h"
#include "lib/log.h"
#include "lib/name.h"

/* docs/api.md: bodies over 1 MiB are refused. evhttp itself cuts off bodies
 * over twice that before reading them (413 without a JSON body), so a
 * client cannot make the controller buffer an unbounded body. */
#define API_BODY_MAX      (1u << 20)
#define API_HTTP_BODY_MAX (2u << 20)
#define API_PATH_PARTS    4

void *api_check_alloc(void *p)
{
    if (!p) {
        log_error("out of memory in the REST API; exiting");
        abort();
    }
    return p;
}

char *api_strdup(const char *s)
{
    return api_check_alloc(strdup(s));
}

char *api_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return api_check_alloc(n < 0 ? NULL : s);
}

int api_fail(struct api_error *err, int status, const char *field, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

int api_fail_store(struct api *api, struct api_error *err, int e, const char *what)
{
    log_error("store failed while %s: %s (%s)", what, strerror(e), store_errmsg(api->store));
    return api_fail(err, e == EAGAIN ? 503 : 500, NULL,
                    "the store failed while %s (%s); nothing was changed, retry later", what,
                    strerror(e));
}

static const char *api_error_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 412:
        return "precondition_failed";
    case 413:
        return "too_large";
    case 422:
        return "invalid";
    case 503:
        return "unavailable";
    default:
        return "internal";
    }
}

static const char *api_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void api_send_json(struct evhttp_request *req, int status, const json_t *body)
{
    struct evbuffer *buf = api_check_alloc(evbuffer_new());

    if (body) {
        char *text = api_check_alloc(json_dumps(body, JSON_COMPACT));
        evbuffer_add(buf, text, strlen(text));
        evbuffer_add(buf, "\n", 1);
        free(text);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
    }
    evhttp_send_reply(req, status, api_reason(status), buf);
    evbuffer_free(buf);
}

static void api_send_error(struct evhttp_request *req, const struct api_error *err)
{
    json_t *e = api_check_alloc(json_pack("{si ss ss}", "status", err->status, "code",
                                          api_error_code(err->status), "message", err->message));
    json_t *body;

    if (err->field[0]) {
        json_object_set_new(e, "field", json_string(err->field));
    }
    body = api_check_alloc(json_pack("{so}", "error", e));
    if (err->status >= 500) {
        log_warn("%s: %d %s", evhttp_request_get_uri(req), err->status, err->message);
    }
    api_send_json(req, err->status, body);
    json_decref(body);
}

/* Compares in time that depends on the lengths only, not on where the
 * strings differ, so the token cannot be guessed byte by byte. */
static bool api_token_equal(const char *given, size_t given_len, const char *token,
                            size_t token_len)
{
    unsigned char diff = given_len != token_len;

    for (size_t i = 0; i < token_len; i++) {
        diff |= (unsigned char)(token[i] ^ (i < given_len ? given[i] : 0));
    }
    return diff == 0;
}

static int api_check_auth(struct api *api, struct evhttp_request *req, struct api_error *err)
{
    const char *h;
    static const char scheme[] = "Bearer ";

    if (!api->token) {
        return 0;
    }
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"weft-controller\"");
        return api_fail(err, 401, NULL,
                        "this controller requires a bearer token: send 'Authorization: Bearer "
                        "<token>' with the token of its --api-token-file");
    }
    if (strncasecmp(h, scheme, sizeof scheme - 1) != 0 ||
        !api_token_equal(h + sizeof scheme - 1, strlen(h + sizeof scheme - 1), api->token,
                         api->token_len)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"weft-controller\", error=\"invalid_token\"");
        return api_fail(err, 401, NULL,
                        "the bearer token is wrong; use the token of the controller's "
                        "--api-token-file");
    }
    return 0;
}

enum api_method {
    API_GET = 1 << 0,
    API_POST = 1 << 1,
    API_PATCH = 1 << 2,
    API_DELETE = 1 << 3,
};

static unsigned api_method_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return API_GET;
    case EVHTTP_REQ_POST:
        return API_POST;
    case EVHTTP_REQ_PATCH:
        return API_PATCH;
    case EVHTTP_REQ_DELETE:
        return API_DELETE;
    default:
        return 0;
    }
}

static void api_allow_header(struct evhttp_request *req, unsigned allowed)
{
    char text[64] = "";
    static const char *const names[] = {"GET", "POST", "PATCH", "DELETE"};

    for (unsigned i = 0; i < 4; i++) {
        if (allowed & (1u << i)) {
            if (text[0]) {
                strcat(text, ", ");
            }
            strcat(text, names[i]);
        }
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", text);
}

/* A parsed request: path parts under /api/v1/, query, body. */
struct api_request {
    char *parts[API_PATH_PARTS];
    size_t n_parts;
    struct evkeyvalq query;
    bool has_query;
    json_t *body;
    const char *if_match;
};

static int api_split_path(const char *path, struct api_request *r)
{
    static const char root[] = "/api/v1/";
    const char *p;

    if (!path || strncmp(path, root, sizeof root - 1) != 0) {
        return ENOENT;
    }
    p = path + sizeof root - 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || r->n_parts == API_PATH_PARTS) {
            return ENOENT;
        }
        r->parts[r->n_parts++] = api_check_alloc(strndup(p, len));
        p += len + (slash ? 1 : 0);
        if (slash && !*p) {
            return ENOENT; /* a trailing slash names nothing */
        }
    }
    return r->n_parts ? 0 : ENOENT;
}

/* Only GET /ports takes parameters (host, segment); anything else is a typo
 * that would otherwise silently list everything. */
static int api_check_query(struct api_request *r, const char *const *known, struct api_error *err)
{
    struct evkeyval *kv;

    if (!r->has_query) {
        return 0;
    }
    TAILQ_FOREACH(kv, &r->query, next)
    {
        bool ok = false;
        for (size_t i = 0; known && known[i]; i++) {
            ok = ok || strcmp(kv->key, known[i]) == 0;
        }
        if (!ok) {
            return api_fail(err, 422, kv->key, "unknown query parameter '%s'%s", kv->key,
                            known ? "; GET /api/v1/ports takes host and segment" : "");
        }
        if (!name_valid(kv->value, 63)) {
            return api_fail(err, 422, kv->key, "query parameter '%s' must be a name, not '%s'",
                            kv->key, kv->value);
        }
    }
    return 0;
}

static int api_read_body(struct evhttp_request *req, struct api_request *r, struct api_error *err)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    const char *data;

    if (len > API_BODY_MAX) {
        return api_fail(err, 413, NULL,
                        "the request body is %zu bytes; the controller takes at most 1 MiB (%u "
                        "bytes)",
                        len, API_BODY_MAX);
    }
    data = (const char *)evbuffer_pullup(in, -1);
    r->body = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->body) {
        return api_fail(err, 400, NULL,
                        "the body is not JSON (%s at line %d, column %d); send a JSON object",
                        jerr.text, jerr.line, jerr.column);
    }
    if (!json_is_object(r->body)) {
        return api_fail(err, 400, NULL, "the body must be a JSON object, not %s",
                        json_is_array(r->body) ? "an array" : "a scalar");
    }
    return 0;
}

static const struct api_kind *const api_kinds[] = {
    &api_zone_kind,
    &api_pool_kind,
    &api_segment_kind,
    &api_port_kind,
};

static const struct api_kind *api_kind_of(const char *collection)
{
    for (size_t i = 0; i < sizeof api_kinds / sizeof api_kinds[0]; i++) {
        if (strcmp(api_kinds[i]->collection, collection) == 0) {
            return api_kinds[i];
        }
    }
    return NULL;
}

static bool api_is_table(const char *s)
{
    return strcmp(s, "vteps") == 0 || strcmp(s, "macs") == 0 || strcmp(s, "arp") == 0;
}

/* Which methods a path takes; 0 when there is no such path. */
static unsigned api_route_methods(const struct api_request *r, const struct api_kind **kind)
{
    const char *c = r->parts[0];

    *kind = api_kind_of(c);
    if (strcmp(c, "status") == 0) {
        return r->n_parts == 1 ? API_GET : 0;
    }
    if (strcmp(c, "hosts") == 0) {
        return r->n_parts == 1 ? API_GET : r->n_parts == 2 ? API_GET | API_DELETE : 0;
    }
    if (!*kind) {
        return 0;
    }
    if (r->n_parts == 1) {
        return API_GET | API_POST;
    }
    if (r->n_parts == 2) {
        return API_GET | API_PATCH | API_DELETE;
    }
    if (r->n_parts == 3 && *kind == &api_segment_kind && api_is_table(r->parts[2])) {
        return API_GET;
    }
    return 0;
}

static int api_dispatch(struct api *api, struct evhttp_request *req, struct api_request *r,
                        struct api_reply *reply, struct api_error *err)
{
    static const char *const port_filters[] = {"host", "segment", NULL};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = evhttp_uri_get_query(uri);
    unsigned method = api_method_of(evhttp_request_get_command(req));
    const struct api_kind *kind;
    unsigned allowed;
    int status;

    if ((status = api_check_auth(api, req, err)) != 0) {
        return status;
    }
    if (api_split_path(evhttp_uri_get_path(uri), r) != 0 ||
        (allowed = api_route_methods(r, &kind)) == 0) {
        return api_fail(err, 404, NULL,
                        "no such path: %s; the API's resources are under /api/v1/ (status, "
                        "transport-zones, vni-pools, segments, ports, hosts)",
                        evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "");
    }
    if (!(method & allowed)) {
        api_allow_header(req, allowed);
        return api_fail(err, 405, NULL, "this path does not take that method; it takes %s",
                        evhttp_find_header(evhttp_request_get_output_headers(req), "Allow"));
    }
    if (query) {
        if (evhttp_parse_query_str(query, &r->query) != 0) {
            return api_fail(err, 400, NULL, "the query string '%s' cannot be parsed", query);
        }
        r->has_query = true;
    }
    status = api_check_query(
        r, kind == &api_port_kind && r->n_parts == 1 && method == API_GET ? port_filters : NULL,
        err);
    if (status) {
        return status;
    }
    if (method & (API_POST | API_PATCH)) {
        if ((status = api_read_body(req, r, err)) != 0) {
            return status;
        }
    }
    r->if_match = evhttp_find_header(evhttp_request_get_input_headers(req), "If-Match");

    if (strcmp(r->parts[0], "status") == 0) {
        return api_status(api, reply, err);
    }
    if (strcmp(r->parts[0], "hosts") == 0) {
        if (r->n_parts == 1) {
            return api_hosts_list(api, reply, err);
        }
        return method == API_GET ? api_host_get(api, r->parts[1], reply, err)
                                 : api_host_delete(api, r->parts[1], err);
    }
    if (r->n_parts == 3) {
        return api_segment_table(api, r->parts[1], r->parts[2], reply, err);
    }
    if (r->n_parts == 1) {
        if (method == API_POST) {
            return api_object_create(api, kind, r->body, reply, err);
        }
        return api_object_list(
            api, kind, r->has_query ? evhttp_find_header(&r->query, "host") : NULL,
            r->has_query ? evhttp_find_header(&r->query, "segment") : NULL, reply, err);
    }
    switch (method) {
    case API_GET:
        return api_object_get(api, kind, r->parts[1], reply, err);
    case API_PATCH:
        return api_object_patch(api, kind, r->parts[1], r->body, r->if_match, reply, err);
    default:
        return api_object_delete(api, kind, r->parts[1], r->if_match, err);
    }
}

static void api_handle(struct evhttp_request *req, void *ctx)
{
    struct api *api = ctx;
    struct api_request r;
    struct api_reply reply = {0};
    struct api_error err = {0};
    int status;

    memset(&r, 0, sizeof r);
    TAILQ_INIT(&r.query);
    status = api_dispatch(api, req, &r, &reply, &err);
    if (status >= 400) {
        api_send_error(req, &err);
    } else {
        if (reply.location) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Location", reply.location);
        }
        api_send_json(req, status, reply.body);
    }
    log_debug("%s -> %d", evhttp_request_get_uri(req), status);
    json_decref(reply.body);
    free(reply.location);
    json_decref(r.body);
    if (r.has_query) {
        evhttp_clear_headers(&r.query);
    }
    for (size_t i = 0; i < r.n_parts; i++) {
        free(r.parts[i]);
    }
}

int api_start(struct event_base *base, struct store *store, struct agent_server *agents,
              const struct api_config *cfg, struct api **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    struct api *api;
    evutil_socket_t fd = -1;
    int e;

    if (evutil_parse_sockaddr_port(cfg->listen, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "API listen address '%s' is not ADDR:PORT or [ADDR]:PORT",
                 cfg->listen);
        return EINVAL;
    }
    api = api_check_alloc(calloc(1, sizeof *api));
    api->base = base;
    api->store = store;
    api->agents = agents;
    api->store_scheme = cfg->store_scheme;
    clock_gettime(CLOCK_MONOTONIC, &api->started);
    if (cfg->token) {
        api->token = api_strdup(cfg->token);
        api->token_len = strlen(cfg->token);
    }
    if ((e = api_index_backfill(api, err, errlen)) != 0) {
        goto fail;
    }
    api->http = api_check_alloc(evhttp_new(base));
    evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(api->http, API_HTTP_BODY_MAX);
    evhttp_set_max_headers_size(api->http, 64 * 1024);
    evhttp_set_timeout(api->http, 60);
    evhttp_set_gencb(api->http, api_handle, api);

    /* Our own socket, so that the error is the kernel's (EADDRINUSE), not a
     * NULL from evhttp. */
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || evutil_make_listen_socket_reuseable(fd) != 0 ||
        bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) != 0 || listen(fd, 128) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot listen for the REST API on %s: %s", cfg->listen, strerror(e));
        goto fail;
    }
    if (!evhttp_accept_socket_with_handle(api->http, fd)) {
        e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot serve the REST API on %s: %s", cfg->listen, strerror(e));
        goto fail;
    }
    *out = api;
    return 0;
fail:
    if (fd >= 0) {
        evutil_closesocket(fd);
    }
    api_stop(api);
    return e;
}

void api_stop(struct api *api)
{
    if (!api) {
        return;
    }
    if (api->http) {
        evhttp_free(api->http);
    }
    free(api->token);
    free(api);
}
