/*
 * weft-controller - Weft's management and control plane.
 *
 * Holds the desired state (transport zones, VNI pools, segments, logical
 * ports) in its store behind the REST API (api.h), and serves the agent
 * sessions of every weftd (agent_server.h), which push each host the slice it
 * needs. This file is the program: options, the data directory and its join
 * token, the libevent loop, and a clean stop on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/agent_server.h"
#include "controller/api.h"
#include "controller/store.h"
#include "lib/log.h"
#include "lib/prog.h"
#include "weft_version.h"

#define CONTROLLER_EXIT_FAIL  1
#define CONTROLLER_EXIT_USAGE 2
#define DEFAULT_DATADIR       "/var/lib/weft-controller"
#define DEFAULT_API_LISTEN    "127.0.0.1:7080"
#define DEFAULT_AGENT_LISTEN  "0.0.0.0:7443"
#define TOKEN_FILE_MAX        4096
#define JOIN_TOKEN_MIN        16
#define JOIN_TOKEN_MAX        256

static const char controller_help[] =
    "Usage: weft-controller [OPTION]...\n"
    "\n"
    "weft-controller is Weft's management and control plane. It holds the desired\n"
    "state (transport zones, VNI pools, segments, logical ports) behind a JSON REST\n"
    "API under /api/v1/ (docs/api.md), keeps the tables hosts learn (VTEPs, MACs,\n"
    "ARP), and pushes every weftd the slices it needs over one long-lived agent\n"
    "session per host. Its state lives in a store: embedded SQLite, one file in\n"
    "the data directory; every acknowledged write survives a crash.\n"
    "\n"
    "Options:\n"
    "  -d, --datadir DIR          where the controller keeps its state; created\n"
    "                             mode 0700 when absent (default " DEFAULT_DATADIR ")\n"
    "      --store URL            the store: sqlite:PATH (default sqlite:DIR/store.db)\n"
    "      --api-listen ADDR:PORT where the REST API listens; [ADDR]:PORT for IPv6\n"
    "                             (default " DEFAULT_API_LISTEN ": this host only)\n"
    "      --api-token-file FILE  require 'Authorization: Bearer TOKEN' on every API\n"
    "                             request, TOKEN being this file's first line\n"
    "                             (default: no token)\n"
    "      --agent-listen ADDR:PORT  where hosts' weftd agents connect\n"
    "                             (default " DEFAULT_AGENT_LISTEN ")\n"
    "      --join-token-file FILE the token hosts must present to join (16-256\n"
    "                             visible ASCII characters, the file's first line);\n"
    "                             default: DIR/join-token, generated at first start\n"
    "      --stale-time SECONDS   withdraw a vanished host's entries after this long\n"
    "                             (default 120)\n"
    "      --heartbeat-ms MS      agent session heartbeat interval (default 5000)\n"
    "      --dead-ms MS           a silent session is closed after this long\n"
    "                             (default 15000)\n"
    "      --log-level LEVEL      error, warn, info (default) or debug\n"
    "      --syslog               log to syslog as well as stderr\n"
    "  -h, --help                 print this help and exit\n"
    "  -V, --version              print the version and exit\n"
    "\n"
    "Stop it with SIGTERM or SIGINT. Exit status: 0 after a clean stop, 1 when\n"
    "weft-controller cannot start (the message says why), 2 on a usage error.\n";

struct controller_options {
    const char *datadir;
    const char *store_url;
    const char *api_listen;
    const char *api_token_file;
    const char *join_token_file;
    struct agent_server_config agent;
    enum log_level log_level;
    bool use_syslog;
};

static void parse_options(struct controller_options *o, int argc, char **argv)
{
    enum {
        OPT_STORE = 256,
        OPT_API_LISTEN,
        OPT_API_TOKEN,
        OPT_AGENT_LISTEN,
        OPT_JOIN_TOKEN,
        OPT_STALE,
        OPT_HEARTBEAT,
        OPT_DEAD,
        OPT_LEVEL,
        OPT_SYSLOG,
    };
    static const struct option options[] = {
        {"datadir", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, OPT_STORE},
        {"api-listen", required_argument, NULL, OPT_API_LISTEN},
        {"api-token-file", required_argument, NULL, OPT_API_TOKEN},
        {"agent-listen", required_argument, NULL, OPT_AGENT_LISTEN},
        {"join-token-file", required_argument, NULL, OPT_JOIN_TOKEN},
        {"stale-time", required_argument, NULL, OPT_STALE},
        {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
        {"dead-ms", required_argument, NULL, OPT_DEAD},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(o, 0, sizeof *o);
    o->datadir = DEFAULT_DATADIR;
    o->api_listen = DEFAULT_API_LISTEN;
    o->log_level = LOG_LEVEL_INFO;
    agent_server_config_default(&o->agent);
    o->agent.listen = DEFAULT_AGENT_LISTEN;
    while ((opt = getopt_long(argc, argv, "d:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            o->datadir = optarg;
            break;
        case OPT_STORE:
            o->store_url = optarg;
            break;
        case OPT_API_LISTEN:
            o->api_listen = optarg;
            break;
        case OPT_API_TOKEN:
            o->api_token_file = optarg;
            break;
        case OPT_AGENT_LISTEN:
            o->agent.listen = optarg;
            break;
        case OPT_JOIN_TOKEN:
            o->join_token_file = optarg;
            break;
        case OPT_STALE:
            o->agent.stale_seconds = (uint32_t)prog_option_number(optarg, 1, 86400, "--stale-time");
            break;
        case OPT_HEARTBEAT:
            o->agent.heartbeat_ms =
                (uint32_t)prog_option_number(optarg, 100, 600000, "--heartbeat-ms");
            break;
        case OPT_DEAD:
            o->agent.dead_ms = (uint32_t)prog_option_number(optarg, 300, 3600000, "--dead-ms");
            break;
        case OPT_LEVEL:
            if (log_level_parse(optarg, &o->log_level) != 0) {
                prog_usage_error("--log-level: '%s' is not error, warn, info or debug", optarg);
            }
            break;
        case OPT_SYSLOG:
            o->use_syslog = true;
            break;
        case 'h':
            prog_print_exit("%s", controller_help);
        case 'V':
            prog_print_exit("weft-controller %s\n", WEFT_VERSION);
        default:
            prog_usage_error(NULL); /* getopt_long() has named the bad option */
        }
    }
    prog_no_operands(argc, argv);
    if (o->agent.dead_ms <= o->agent.heartbeat_ms) {
        prog_usage_error("--dead-ms (%u) must be longer than --heartbeat-ms (%u)", o->agent.dead_ms,
                         o->agent.heartbeat_ms);
    }
}

/* Reads a token file's first line (without the newline) into buf. */
static int read_token_file(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(e));
        return e;
    }
    n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0') {
        snprintf(err, errlen, "the token file %s is empty; put the token on its first line", path);
        return EINVAL;
    }
    for (const char *p = buf; *p; p++) {
        if (*p <= ' ' || *p > '~') {
            snprintf(err, errlen,
                     "the token in %s has a space or a non-ASCII character; use visible ASCII "
                     "only",
                     path);
            return EINVAL;
        }
    }
    return 0;
}

/* The join token: from --join-token-file, or DIR/join-token, made with 32
 * random bytes (hex) at first start. Only the file's path is ever logged. */
static int load_join_token(const struct controller_options *o, char *token, size_t len, char *err,
                           size_t errlen)
{
    char path[4096];
    unsigned char raw[32];
    int fd, e;

    if (o->join_token_file) {
        e = read_token_file(o->join_token_file, token, len, err, errlen);
        if (!e && (strlen(token) < JOIN_TOKEN_MIN || strlen(token) > JOIN_TOKEN_MAX)) {
            snprintf(err, errlen, "the join token in %s must have %d to %d characters",
                     o->join_token_file, JOIN_TOKEN_MIN, JOIN_TOKEN_MAX);
            e = EINVAL;
        }
        return e;
    }
    snprintf(path, sizeof path, "%s/join-token", o->datadir);
    if (access(path, F_OK) == 0) {
        log_info("hosts join with the token in %s", path);
        return read_token_file(path, token, len, err, errlen);
    }
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        e = errno;
        snprintf(err, errlen, "cannot make a join token: getrandom: %s", strerror(e));
        return e;
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, token, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot write the join token to %s: %s", path, strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return e;
    }
    close(fd);
    log_info("made a join token for hosts in %s (give it to each weftd)", path);
    return 0;
}

static int make_datadir(const char *dir, char *err, size_t errlen)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(e));
        return e;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "the data directory %s is not a directory", dir);
        return ENOTDIR;
    }
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
    (void)what;
    log_info("%s: stopping", strsignal((int)sig));
    event_base_loopexit(ctx, NULL);
}

int main(int argc, char **argv)
{
    static char prog_name[] = "weft-controller";
    struct controller_options o;
    char err[8192] = "";
    char store_url[4200];
    char join_token[TOKEN_FILE_MAX];
    char api_token[TOKEN_FILE_MAX];
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    struct store *store = NULL;
    struct agent_server *agents = NULL;
    struct api *api = NULL;
    struct api_config api_cfg = {0};
    char scheme[16];
    int rc = CONTROLLER_EXIT_FAIL;

    argv[0] = prog_name; /* getopt_long() prefixes its messages with argv[0] */
    prog_init(prog_name, CONTROLLER_EXIT_USAGE);
    parse_options(&o, argc, argv);
    log_init(prog_name, o.log_level, o.use_syslog);
    signal(SIGPIPE, SIG_IGN);

    if (make_datadir(o.datadir, err, sizeof err) != 0) {
        goto out;
    }
    if (o.store_url) {
        snprintf(store_url, sizeof store_url, "%s", o.store_url);
    } else {
        snprintf(store_url, sizeof store_url, "sqlite:%s/store.db", o.datadir);
    }
    snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(store_url, ":"), store_url);
    if (load_join_token(&o, join_token, sizeof join_token, err, sizeof err) != 0) {
        goto out;
    }
    if (o.api_token_file &&
        read_token_file(o.api_token_file, api_token, sizeof api_token, err, sizeof err) != 0) {
        goto out;
    }

    base = event_base_new();
    if (!base) {
        snprintf(err, sizeof err, "cannot create the event loop");
        goto out;
    }
    if (store_open(store_url, base, &store, err, sizeof err) != 0) {
        goto out;
    }
    o.agent.join_token = join_token;
    if (agent_server_start(base, store, &o.agent, &agents, err, sizeof err) != 0) {
        goto out;
    }
    api_cfg.listen = o.api_listen;
    api_cfg.token = o.api_token_file ? api_token : NULL;
    api_cfg.store_scheme = scheme;
    if (api_start(base, store, agents, &api_cfg, &api, err, sizeof err) != 0) {
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        snprintf(err, sizeof err, "cannot watch SIGTERM and SIGINT");
        goto out;
    }
    log_info("weft-controller %s: store %s (revision %llu), REST API on %s%s, agents on %s",
             WEFT_VERSION, store_url, (unsigned long long)store_revision(store), o.api_listen,
             api_cfg.token ? " (bearer token required)" : "", o.agent.listen);
    if (event_base_dispatch(base) != 0) {
        snprintf(err, sizeof err, "the event loop failed");
        goto out;
    }
    rc = EXIT_SUCCESS;
out:
    if (rc != EXIT_SUCCESS) {
        log_error("%s", err);
    }
    api_stop(api);
    agent_server_stop(agents);
    store_close(store);
    if (sigterm) {
        event_free(sigterm);
    }
    if (sigint) {
        event_free(sigint);
    }
    if (base) {
        event_base_free(base);
    }
    explicit_bzero(join_token, sizeof join_token);
    explicit_bzero(api_token, sizeof api_token);
    return rc;
}
