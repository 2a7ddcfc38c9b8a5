/*
 * bench_control.c - the control-plane benchmark (issue 4, section 9).
 *
 * Starts a real weft-controller, configures it through its REST API (segments,
 * one logical port per simulated host), and plays N hosts from this one
 * process: N real TCP sessions on loopback, driven by one epoll loop, each
 * speaking the real agent protocol through src/proto (hello with the join
 * token, welcome, snapshot, full report, heartbeats, and the session order
 * checked on every message the controller sends). Then it measures:
 *
 *   - sync: from the first connect to every host holding its whole snapshot,
 *     and the REST setup time (the figure OVN publishes is a full sync);
 *   - MAC latency: a mac_learned report at one host until the mac_set update
 *     has reached every other host of the segment, p50/p99 over many trials;
 *   - memory: the controller's VmRSS growth per 100k MACs learned;
 *   - join: a host joining a segment that holds 100k MACs, from its hello to
 *     the last part of its snapshot.
 *
 * It prints one table. It passes or fails nothing, but it refuses to print a
 * figure whose run did not complete (a session error, a lost update).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/agent_proto.h"

#define TOKEN      "bench-control-join-token-0123456789"
#define BASE_VNI   10000u
#define REPORT_OPS 4096u /* ops per report message when learning many MACs */
#define TRIAL_WAIT 5.0   /* seconds before a trial counts as lost */
/* Handshakes in flight at once: the controller's listen backlog is 128, and
 * 1000 simultaneous connects overflow it (the kernel then drops and resets). */
#define CONNECT_WINDOW 64u

/* ---- options and small helpers -------------------------------------------- */

struct options {
    const char *controller;
    unsigned agents[8];
    unsigned n_agent_counts;
    unsigned segments;
    unsigned trials;
    unsigned macs;
    unsigned mac_agents;
    bool keep;
};

static struct options opt = {
    .controller = "build/release/src/controller/weft-controller",
    .agents = {10, 100, 1000},
    .n_agent_counts = 3,
    .segments = 1,
    .trials = 200,
    .macs = 100000,
    .mac_agents = 10,
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static pid_t controller_pid;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_control: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (controller_pid > 0) {
        kill(controller_pid, SIGTERM);
    }
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A port nobody listens on now (the controller binds it right after). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
        getsockname(fd, (struct sockaddr *)&sin, &len)) {
        die("cannot find a free port: %s", strerror(errno));
    }
    close(fd);
    return ntohs(sin.sin_port);
}

static long vm_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank ? rank - 1 : 0];
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- the controller process and its REST API ------------------------------- */

struct controller {
    char dir[64];
    unsigned api_port, agent_port;
    CURL *curl;
};

static size_t curl_sink(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

static long api_request(struct controller *c, const char *method, const char *path,
                        const char *body)
{
    char url[256];
    long status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", c->api_port, path);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c->curl) == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdr);
    return status;
}

static void api_create(struct controller *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void api_create(struct controller *c, const char *path, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    long status = api_request(c, "POST", path, body);
    if (status != 201) {
        die("POST %s %s: HTTP %ld (controller log: %s/controller.log)", path, body, status, c->dir);
    }
}

static void controller_start(struct controller *c)
{
    char token_file[128], log_file[128], api[32], agent[32];
    snprintf(c->dir, sizeof(c->dir), "/tmp/weft-bench-control.XXXXXX");
    if (!mkdtemp(c->dir)) {
        die("mkdtemp: %s", strerror(errno));
    }
    snprintf(token_file, sizeof(token_file), "%s/token", c->dir);
    snprintf(log_file, sizeof(log_file), "%s/controller.log", c->dir);
    FILE *f = fopen(token_file, "w");
    if (!f || fprintf(f, "%s\n", TOKEN) < 0 || fclose(f)) {
        die("cannot write %s", token_file);
    }
    c->api_port = free_port();
    c->agent_port = free_port();
    snprintf(api, sizeof(api), "127.0.0.1:%u", c->api_port);
    snprintf(agent, sizeof(agent), "127.0.0.1:%u", c->agent_port);
    char data[96];
    snprintf(data, sizeof(data), "%s/data", c->dir);

    pid_t pid = fork();
    if (pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int fd = open(log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(opt.controller, opt.controller, "--datadir", data, "--api-listen", api,
              "--agent-listen", agent, "--join-token-file", token_file, "--log-level", "warn",
              (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", opt.controller, strerror(errno));
        _exit(127);
    }
    controller_pid = pid;
    c->curl = curl_easy_init();
    if (!c->curl) {
        die("curl_easy_init failed");
    }
    for (double t0 = now(); api_request(c, "GET", "/api/v1/status", NULL) != 200;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            controller_pid = 0;
            die("weft-controller exited at start (status %d); see %s", status, log_file);
        }
        if (now() - t0 > 15) {
            die("weft-controller's API did not answer within 15 s; see %s", log_file);
        }
        usleep(20000);
    }
}

static void controller_stop(struct controller *c)
{
    curl_easy_cleanup(c->curl);
    kill(controller_pid, SIGTERM);
    int status;
    for (int i = 0; i < 100 && waitpid(controller_pid, &status, WNOHANG) == 0; i++) {
        usleep(50000);
    }
    if (waitpid(controller_pid, &status, WNOHANG) == 0) {
        kill(controller_pid, SIGKILL);
        waitpid(controller_pid, &status, 0);
    }
    controller_pid = 0;
    if (!opt.keep) {
        nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        printf("  (kept %s)\n", c->dir);
    }
}

/* ---- simulated hosts ------------------------------------------------------- */

struct agent {
    int fd;
    unsigned idx;
    char host[AGENT_PROTO_HOST_MAX + 1];
    char port[AGENT_PROTO_PORT_MAX + 1];
    struct ip_addr vtep;
    uint32_t vni;
    struct agent_proto_decoder dec;
    struct agent_proto_session sess;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    bool want_out;
    uint32_t heartbeat_ms;
    uint64_t revision; /* highest applied */
    bool synced;       /* has its whole snapshot */
    double hello_at, synced_at, last_send;
    uint64_t snapshot_macs;
    uint64_t macs_seen; /* mac_set ops for MACs of the bench's learning phase */
    bool trial_got;
    double trial_at;
};

struct bench {
    int ep;
    struct agent *agents;
    unsigned n;
    unsigned n_synced;
    unsigned n_started, n_welcomed; /* sessions connected, and welcomed */
    /* The trial in flight. */
    bool trial_on;
    struct eth_addr trial_mac;
    uint32_t trial_vni;
    unsigned trial_src;
    unsigned trial_got;
    unsigned trial_need;
    double last_heartbeat_scan;
};

static struct bench B;

static void agent_flush(struct agent *a)
{
    while (a->out_off < a->out_len) {
        ssize_t w = send(a->fd, a->out + a->out_off, a->out_len - a->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) {
                break;
            }
            die("%s: send: %s", a->host, strerror(errno));
        }
        a->out_off += (size_t)w;
    }
    if (a->out_off == a->out_len) {
        a->out_off = a->out_len = 0;
    }
    bool want = a->out_len > 0;
    if (want != a->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = a};
        epoll_ctl(B.ep, EPOLL_CTL_MOD, a->fd, &ev);
        a->want_out = want;
    }
}

static void agent_send(struct agent *a, const struct agent_msg *m)
{
    struct agent_proto_error err;
    uint8_t *frame;
    size_t len;
    if (agent_proto_session_send(&a->sess, m, &err) || agent_msg_encode(m, 0, &frame, &len, &err)) {
        die("%s: cannot send %s: %s", a->host, agent_msg_type_name(m->type), err.text);
    }
    if (a->out_len + len > a->out_cap) {
        size_t cap = (a->out_len + len) * 2;
        uint8_t *grown = realloc(a->out, cap);
        if (!grown) {
            die("out of memory");
        }
        a->out = grown;
        a->out_cap = cap;
    }
    memcpy(a->out + a->out_len, frame, len);
    a->out_len += len;
    free(frame);
    a->last_send = now();
    agent_flush(a);
}

static void agent_connect(struct agent *a, unsigned port)
{
    a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        die("socket: %s (raise the open files limit)", strerror(errno));
    }
    int one = 1;
    setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(a->fd, (struct sockaddr *)&sin, sizeof(sin)) && errno != EINPROGRESS) {
        die("%s: connect: %s", a->host, strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = a};
    epoll_ctl(B.ep, EPOLL_CTL_ADD, a->fd, &ev);
    agent_proto_decoder_init(&a->dec, 0);
    agent_proto_session_init(&a->sess, AGENT_PROTO_ROLE_AGENT);

    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_HELLO);
    m.hello.version = AGENT_PROTO_VERSION;
    m.hello.min_version = AGENT_PROTO_VERSION;
    snprintf(m.hello.host, sizeof(m.hello.host), "%s", a->host);
    m.hello.vtep = a->vtep;
    m.hello.vtep_prefix_len = 24;
    snprintf(m.hello.token, sizeof(m.hello.token), "%s", TOKEN);
    snprintf(m.hello.software, sizeof(m.hello.software), "bench_control");
    a->hello_at = now();
    agent_send(a, &m);
}

static void agent_close(struct agent *a)
{
    if (a->fd >= 0) {
        close(a->fd);
        a->fd = -1;
    }
    agent_proto_decoder_destroy(&a->dec);
    free(a->out);
    a->out = NULL;
    a->out_len = a->out_off = a->out_cap = 0;
}

/* MACs the bench makes up: 02:b0:<agent 16 bits>:<counter 16 bits>. */
static struct eth_addr bench_mac(unsigned agent, unsigned n)
{
    struct eth_addr m = {
        {0x02, 0xb0, (uint8_t)(agent >> 8), (uint8_t)agent, (uint8_t)(n >> 8), (uint8_t)n}};
    return m;
}

static bool is_learning_mac(const struct eth_addr *m)
{
    return m->bytes[0] == 0x02 && m->bytes[1] == 0xb0;
}

static void on_mac_set(struct agent *a, const struct agent_entry *e, double t)
{
    if (B.trial_on && e->vni == B.trial_vni && !memcmp(&e->mac, &B.trial_mac, sizeof(e->mac)) &&
        a->idx != B.trial_src && !a->trial_got) {
        a->trial_got = true;
        a->trial_at = t;
        B.trial_got++;
    }
    if (is_learning_mac(&e->mac)) {
        a->macs_seen++;
    }
}

static void agent_message(struct agent *a, const struct agent_msg *m, double t)
{
    struct agent_proto_error err;
    if (agent_proto_session_recv(&a->sess, m, &err)) {
        die("%s: the controller broke the session order: %s", a->host, err.text);
    }
    switch (m->type) {
    case AGENT_MSG_WELCOME:
        a->heartbeat_ms = m->welcome.heartbeat_ms;
        B.n_welcomed++;
        break;
    case AGENT_MSG_SNAPSHOT:
        for (uint32_t i = 0; i < m->batch.n_ops; i++) {
            if (m->batch.ops[i].type == AGENT_OP_MAC_SET) {
                a->snapshot_macs++;
                if (is_learning_mac(&m->batch.ops[i].entry.mac)) {
                    a->macs_seen++;
                }
            }
        }
        if (!m->batch.more) {
            a->revision = m->batch.revision;
            if (!a->synced) {
                a->synced = true;
                a->synced_at = t;
                B.n_synced++;
                struct agent_msg r;
                agent_msg_init(&r, AGENT_MSG_REPORT);
                r.batch.full = true;
                agent_send(a, &r);
            }
        }
        break;
    case AGENT_MSG_UPDATE:
        a->revision = m->batch.revision;
        for (uint32_t i = 0; i < m->batch.n_ops; i++) {
            if (m->batch.ops[i].type == AGENT_OP_MAC_SET) {
                on_mac_set(a, &m->batch.ops[i].entry, t);
            }
        }
        break;
    case AGENT_MSG_HEARTBEAT:
        break;
    case AGENT_MSG_ERROR:
        die("%s: the controller closed the session: %s: %s", a->host,
            agent_error_code_name(m->error.code), m->error.message);
    default:
        die("%s: unexpected %s", a->host, agent_msg_type_name(m->type));
    }
}

static void agent_readable(struct agent *a)
{
    static uint8_t buf[256 * 1024];
    for (;;) {
        ssize_t n = recv(a->fd, buf, sizeof(buf), 0);
        if (n == 0) {
            die("%s: the controller closed the connection (%s)", a->host,
                a->synced ? "after the snapshot" : "before the snapshot");
        }
        if (n < 0) {
            if (errno == EAGAIN) {
                return;
            }
            die("%s: recv: %s (%s)", a->host, strerror(errno),
                a->synced         ? "after the snapshot"
                : a->heartbeat_ms ? "welcomed"
                                  : "before the welcome");
        }
        double t = now();
        size_t off = 0;
        while (off < (size_t)n) {
            struct agent_msg m;
            struct agent_proto_error err;
            size_t used = 0;
            int rc = agent_proto_decoder_feed(&a->dec, buf + off, (size_t)n - off, &used, &m, &err);
            off += used;
            if (rc == EAGAIN) {
                break;
            }
            if (rc) {
                die("%s: bad message from the controller: %s", a->host, err.text);
            }
            agent_message(a, &m, t);
            agent_msg_free(&m);
        }
    }
}

/* Heartbeats at half the welcome's interval, carrying the applied revision. */
static void heartbeats(void)
{
    double t = now();
    if (t - B.last_heartbeat_scan < 0.1) {
        return;
    }
    B.last_heartbeat_scan = t;
    for (unsigned i = 0; i < B.n; i++) {
        struct agent *a = &B.agents[i];
        if (a->fd >= 0 && a->synced && a->heartbeat_ms &&
            t - a->last_send > a->heartbeat_ms / 2000.0) {
            struct agent_msg m;
            agent_msg_init(&m, AGENT_MSG_HEARTBEAT);
            m.heartbeat.revision = a->revision;
            agent_send(a, &m);
        }
    }
}

/* Runs the loop until done() or the deadline; returns whether done() held. */
static bool pump(double seconds, bool (*done)(void))
{
    struct epoll_event ev[256];
    double end = now() + seconds;
    while (!(done && done())) {
        double left = end - now();
        if (left <= 0) {
            return false;
        }
        int timeout = left > 0.1 ? 100 : (int)(left * 1000) + 1;
        int n = epoll_wait(B.ep, ev, 256, timeout);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct agent *a = ev[i].data.ptr;
            if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                agent_readable(a);
            }
            if (ev[i].events & EPOLLOUT) {
                agent_flush(a);
            }
        }
        heartbeats();
    }
    return true;
}

static bool all_synced(void)
{
    return B.n_synced == B.n;
}

static bool trial_done(void)
{
    return B.trial_got == B.trial_need;
}

static void agents_make(unsigned n, unsigned first)
{
    B.agents = calloc(n, sizeof(*B.agents));
    if (!B.agents) {
        die("out of memory");
    }
    B.n = n;
    B.n_synced = 0;
    for (unsigned i = 0; i < n; i++) {
        struct agent *a = &B.agents[i];
        unsigned id = first + i;
        char vtep[32];
        a->fd = -1;
        a->idx = i;
        snprintf(a->host, sizeof(a->host), "bench-h%u", id);
        snprintf(a->port, sizeof(a->port), "p%u", id);
        snprintf(vtep, sizeof(vtep), "10.%u.%u.2", (id >> 8) + 1, id & 255);
        if (ip_addr_parse(vtep, &a->vtep)) {
            die("host %u: no VTEP address for it (%s)", id, vtep);
        }
        a->vni = BASE_VNI + i % opt.segments;
    }
}

static void agents_free(void)
{
    for (unsigned i = 0; i < B.n; i++) {
        agent_close(&B.agents[i]);
    }
    free(B.agents);
    B.agents = NULL;
    B.n = 0;
}

static void setup_segments(struct controller *c, unsigned segments)
{
    for (unsigned s = 0; s < segments; s++) {
        api_create(c, "/api/v1/segments", "{\"name\":\"seg%u\",\"vni\":%u}", s, BASE_VNI + s);
    }
}

static void setup_port(struct controller *c, const struct agent *a, unsigned segment)
{
    api_create(c, "/api/v1/ports", "{\"name\":\"%s\",\"host\":\"%s\",\"segment\":\"seg%u\"}",
               a->port, a->host, segment);
}

static bool may_connect(void)
{
    return all_synced() || (B.n_started < B.n && B.n_started - B.n_welcomed < CONNECT_WINDOW);
}

/* Connects every agent, CONNECT_WINDOW handshakes at a time, and waits for
 * all snapshots. */
static double connect_all(struct controller *c, double limit)
{
    double t0 = now();
    B.n_started = B.n_welcomed = 0;
    while (!all_synced()) {
        while (B.n_started < B.n && B.n_started - B.n_welcomed < CONNECT_WINDOW) {
            agent_connect(&B.agents[B.n_started++], c->agent_port);
        }
        if (!pump(limit - (now() - t0), may_connect)) {
            die("only %u of %u hosts had their snapshot after %.0f s", B.n_synced, B.n, limit);
        }
    }
    return now() - t0;
}

/* ---- the measurements ------------------------------------------------------ */

struct latency_row {
    unsigned n;
    double setup_s, sync_s;
    double p50_ms, p99_ms, max_ms;
    unsigned trials, lost;
    unsigned fanout;
};

static void report_one_mac(struct agent *a, struct eth_addr mac)
{
    struct agent_op op = {.type = AGENT_OP_MAC_LEARNED};
    op.entry.vni = a->vni;
    op.entry.mac = mac;
    snprintf(op.entry.port, sizeof(op.entry.port), "%s", a->port);
    struct agent_msg m;
    agent_msg_init(&m, AGENT_MSG_REPORT);
    m.batch.n_ops = 1;
    m.batch.ops = &op;
    agent_send(a, &m);
}

static void run_latency(unsigned n, struct latency_row *row)
{
    struct controller c;
    controller_start(&c);
    agents_make(n, 0);
    double t0 = now();
    setup_segments(&c, opt.segments);
    for (unsigned i = 0; i < n; i++) {
        setup_port(&c, &B.agents[i], i % opt.segments);
    }
    row->setup_s = now() - t0;
    row->n = n;
    row->sync_s = connect_all(&c, 120);
    pump(1.0, NULL); /* let the vtep_add updates of the joins settle */

    double *lat = calloc(opt.trials, sizeof(double));
    unsigned ok = 0;
    for (unsigned t = 0; t < opt.trials; t++) {
        struct agent *src = &B.agents[(t * 7919u) % n];
        B.trial_on = true;
        B.trial_mac = bench_mac(0xffff, t); /* outside the learning phase's range */
        B.trial_mac.bytes[1] = 0xa0;
        B.trial_vni = src->vni;
        B.trial_src = src->idx;
        B.trial_got = 0;
        B.trial_need = 0;
        for (unsigned i = 0; i < n; i++) {
            B.agents[i].trial_got = false;
            if (i != src->idx && B.agents[i].vni == src->vni) {
                B.trial_need++;
            }
        }
        row->fanout = B.trial_need;
        double start = now();
        report_one_mac(src, B.trial_mac);
        if (pump(TRIAL_WAIT, trial_done)) {
            double last = start;
            for (unsigned i = 0; i < n; i++) {
                if (B.agents[i].trial_got && B.agents[i].trial_at > last) {
                    last = B.agents[i].trial_at;
                }
            }
            lat[ok++] = (last - start) * 1000.0;
        }
        B.trial_on = false;
    }
    row->trials = opt.trials;
    row->lost = opt.trials - ok;
    if (ok) {
        qsort(lat, ok, sizeof(double), cmp_double);
        row->p50_ms = percentile(lat, ok, 50);
        row->p99_ms = percentile(lat, ok, 99);
        row->max_ms = lat[ok - 1];
    }
    free(lat);
    agents_free();
    controller_stop(&c);
}

struct mac_row {
    unsigned agents, macs;
    long rss0_kib, rss1_kib;
    double learn_s;
    double join_s;
    uint64_t join_macs;
};

static uint64_t learning_total;

static bool all_macs_seen(void)
{
    for (unsigned i = 0; i < B.n; i++) {
        /* Each host sees every MAC but its own. */
        uint64_t own = learning_total / B.n + (i < learning_total % B.n);
        if (B.agents[i].macs_seen < learning_total - own) {
            return false;
        }
    }
    return true;
}

static bool joiner_synced(void)
{
    return B.agents[B.n - 1].synced;
}

static void run_macs(struct mac_row *row)
{
    unsigned na = opt.mac_agents;
    struct controller c;
    controller_start(&c);
    /* na learners and, last, the host that joins later; one segment. */
    unsigned segments = opt.segments;
    opt.segments = 1;
    agents_make(na + 1, 50000);
    opt.segments = segments;
    setup_segments(&c, 1);
    for (unsigned i = 0; i <= na; i++) {
        setup_port(&c, &B.agents[i], 0);
    }
    B.n = na; /* the joiner stays out for now */
    connect_all(&c, 60);
    pump(1.0, NULL);
    row->agents = na;
    row->macs = opt.macs;
    row->rss0_kib = vm_rss_kib(controller_pid);

    /* Every learner reports its share, in reports of REPORT_OPS. */
    learning_total = opt.macs;
    struct agent_op *ops = calloc(REPORT_OPS, sizeof(*ops));
    double t0 = now();
    for (unsigned i = 0; i < na; i++) {
        struct agent *a = &B.agents[i];
        unsigned share = opt.macs / na + (i < opt.macs % na);
        for (unsigned done = 0; done < share;) {
            unsigned k = share - done < REPORT_OPS ? share - done : REPORT_OPS;
            for (unsigned j = 0; j < k; j++) {
                ops[j] = (struct agent_op){.type = AGENT_OP_MAC_LEARNED};
                ops[j].entry.vni = a->vni;
                ops[j].entry.mac = bench_mac(i, done + j);
                snprintf(ops[j].entry.port, sizeof(ops[j].entry.port), "%s", a->port);
            }
            struct agent_msg m;
            agent_msg_init(&m, AGENT_MSG_REPORT);
            m.batch.n_ops = k;
            m.batch.ops = ops;
            agent_send(a, &m);
            done += k;
        }
    }
    free(ops);
    if (!pump(600, all_macs_seen)) {
        die("the %u MACs did not reach every host within 600 s", opt.macs);
    }
    row->learn_s = now() - t0;
    pump(1.0, NULL);
    row->rss1_kib = vm_rss_kib(controller_pid);

    /* The joiner: hello to the last part of its snapshot. */
    B.n = na + 1;
    struct agent *j = &B.agents[na];
    agent_connect(j, c.agent_port);
    if (!pump(120, joiner_synced)) {
        die("the joining host had no snapshot after 120 s");
    }
    row->join_s = j->synced_at - j->hello_at;
    row->join_macs = j->snapshot_macs;
    agents_free();
    controller_stop(&c);
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: bench_control [--controller PATH] [--agents N,N,...] [--segments M]\n"
            "                     [--trials T] [--macs K] [--mac-agents A] [--keep]\n"
            "  --controller PATH  the weft-controller to start (default %s)\n"
            "  --agents LIST      host counts to run, comma-separated (default 10,100,1000)\n"
            "  --segments M       segments the hosts are spread over, round robin (default 1:\n"
            "                     every host in one segment, the largest fan-out)\n"
            "  --trials T         MAC latency trials per host count (default 200)\n"
            "  --macs K           MACs learned for the memory and join figures (default 100000;\n"
            "                     0 skips them)\n"
            "  --mac-agents A     hosts that learn those MACs (default 10)\n"
            "  --keep             keep each run's directory (controller log and store)\n",
            opt.controller);
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"controller", required_argument, NULL, 'c'},
        {"agents", required_argument, NULL, 'n'},
        {"segments", required_argument, NULL, 's'},
        {"trials", required_argument, NULL, 't'},
        {"macs", required_argument, NULL, 'm'},
        {"mac-agents", required_argument, NULL, 'a'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt.controller = optarg;
            break;
        case 'n': {
            opt.n_agent_counts = 0;
            for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
                unsigned v = (unsigned)strtoul(tok, NULL, 10);
                if (v < 2 || v > 60000 || opt.n_agent_counts == 8) {
                    die("--agents: '%s': give up to 8 counts of 2-60000 hosts", tok);
                }
                opt.agents[opt.n_agent_counts++] = v;
            }
            break;
        }
        case 's':
            opt.segments = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            opt.trials = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            opt.macs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'a':
            opt.mac_agents = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'k':
            opt.keep = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc || opt.segments < 1 || opt.trials < 1 || opt.mac_agents < 2 ||
        opt.mac_agents > 256) {
        usage(stderr);
        exit(2);
    }
    for (unsigned i = 0; i < opt.n_agent_counts; i++) {
        if (opt.agents[i] < 2 * opt.segments) {
            die("--agents %u over --segments %u leaves a segment with fewer than two hosts",
                opt.agents[i], opt.segments);
        }
    }
    if (access(opt.controller, X_OK)) {
        die("%s: %s (build it, or give --controller)", opt.controller, strerror(errno));
    }
}

/* Room for every session's socket, here and in the controller (which inherits it). */
static void raise_nofile(void)
{
    struct rlimit rl;
    unsigned most = 0;
    for (unsigned i = 0; i < opt.n_agent_counts; i++) {
        most = opt.agents[i] > most ? opt.agents[i] : most;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < most + 64) {
        die("the open files limit (%lu) is too low for %u hosts", (unsigned long)rl.rlim_cur, most);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    B.ep = epoll_create1(EPOLL_CLOEXEC);

    struct latency_row rows[8];
    for (unsigned i = 0; i < opt.n_agent_counts; i++) {
        fprintf(stderr, "bench_control: %u hosts...\n", opt.agents[i]);
        run_latency(opt.agents[i], &rows[i]);
    }
    struct mac_row mr = {0};
    if (opt.macs) {
        fprintf(stderr, "bench_control: %u MACs over %u hosts...\n", opt.macs, opt.mac_agents);
        run_macs(&mr);
    }

    printf("== control plane: %s, %u segment(s), %u trials, %ld cores, all on one machine\n",
           opt.controller, opt.segments, opt.trials, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%7s %8s %9s %9s %10s %10s %10s %6s\n", "hosts", "fan-out", "setup_s", "sync_s",
           "mac_p50_ms", "mac_p99_ms", "mac_max_ms", "lost");
    for (unsigned i = 0; i < opt.n_agent_counts; i++) {
        const struct latency_row *r = &rows[i];
        printf("%7u %8u %9.2f %9.3f %10.2f %10.2f %10.2f %6u\n", r->n, r->fanout, r->setup_s,
               r->sync_s, r->p50_ms, r->p99_ms, r->max_ms, r->lost);
    }
    printf("  setup_s: REST calls making the segments and one port per host; sync_s: every host\n"
           "  connects (64 handshakes at a time), until the last one holds its whole snapshot; "
           "mac_*: a\n"
           "  mac_learned report at one host until mac_set reached all fan-out hosts.\n");
    if (opt.macs) {
        double per100k = (double)(mr.rss1_kib - mr.rss0_kib) / 1024.0 * 100000.0 / mr.macs;
        printf("\n%u MACs learned by %u hosts of one segment:\n", mr.macs, mr.agents);
        printf("  learned and delivered to every other host in %.2f s (%.0f MACs/s)\n", mr.learn_s,
               mr.macs / mr.learn_s);
        printf("  controller VmRSS %.1f MiB -> %.1f MiB: %.1f MiB per 100k MACs\n",
               mr.rss0_kib / 1024.0, mr.rss1_kib / 1024.0, per100k);
        printf(
            "  a host joining that segment: snapshot of %llu MACs in %.3f s (hello to last part)\n",
            (unsigned long long)mr.join_macs, mr.join_s);
    }
    printf("\nOVN's published scale test: 1000 simulated hypervisors, 10k logical ports, a full\n"
           "sync in about 11 s (compare sync_s at 1000 hosts; Weft's target: a single change\n"
           "delivered to 1000 hosts in well under a second, the mac_p99_ms column).\n");
    curl_global_cleanup();
    return 0;
}
