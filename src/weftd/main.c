/*
 * weftd - Weft's per-host daemon.
 *
 * One weftd runs on every host. It owns the host's ports (TAP devices for
 * guests, AF_PACKET for existing interfaces, internal ports for the host
 * itself), its VXLAN tunnel endpoint and its forwarding tables, and moves
 * frames through the forwarding core in src/core. The main thread runs one
 * epoll loop: the control socket, a one-second timer (MAC aging, retrying
 * missing devices), signals, and the data path in bursts (worker 0); with
 * --workers N, N-1 more threads run the data path too (worker.c), parked
 * while the main thread handles anything but frames.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/prog.h"
#include "weft_version.h"
#include "weftd.h"

#define WEFTD_EXIT_USAGE 2
#define DEFAULT_DATADIR  "/var/lib/weft"
#define DEFAULT_SOCKET   "/run/weft/weftd.sock"

static const char weftd_help[] =
    "Usage: weftd [OPTION]...\n"
    "\n"
    "weftd is Weft's per-host daemon, one on every host. It owns the host's ports\n"
    "(TAP devices for guests, AF_PACKET for existing interfaces such as a\n"
    "container's veth, internal ports for the host itself), its VXLAN tunnel\n"
    "endpoint (UDP on the host's underlay address) and its forwarding tables: MAC\n"
    "learning, VLANs, and VXLAN (RFC 7348) between hosts on different L3 subnets.\n"
    "It is driven by 'weft' over a unix socket and saves its configuration, so a\n"
    "restart (even after kill -9) comes back with the same ports and segments.\n"
    "\n"
    "Options:\n"
    "  -n, --name NAME          this host's name (default: the hostname)\n"
    "  -t, --vtep-ip ADDR       underlay address of the VTEP; give it once per\n"
    "                           family (one IPv4, one IPv6). Must be configured on\n"
    "                           an interface of this host\n"
    "      --vxlan-port PORT    VXLAN UDP port (default 4789; 8472 for old Linux peers)\n"
    "      --underlay-mtu N     largest outer IP datagram the underlay carries\n"
    "                           (default 1500; 1550 carries 1500-byte guest frames,\n"
    "                           labs use 1600). Bigger frames are dropped and counted\n"
    "                           as underlay_mtu\n"
    "      --udp-checksum       compute the outer UDP checksum over IPv4 too\n"
    "                           (IPv6 always has it)\n"
    "      --pmtu-icmp-rate N   most ICMP frag-needed / packet-too-big errors sent\n"
    "                           to a port's guests per second, for frames too big\n"
    "                           for the underlay (default 100; 0: never, only drop)\n"
    "      --mac-age SECONDS    forget learned MACs unseen this long (default 300)\n"
    "      --mac-capacity N     MAC table size, all segments (default 1048576)\n"
    "      --workers N          threads running the data path, 1 to 16 (default 1,\n"
    "                           right for 2 cores; one per core beyond the guests'\n"
    "                           own). Flows spread over them by hash: the VTEP's\n"
    "                           sockets share the VXLAN port (SO_REUSEPORT), TAP\n"
    "                           ports get a queue per worker (multi-queue TAP)\n"
    "      --poll-us N          after frames, keep polling for more for N\n"
    "                           microseconds before sleeping (default 0: sleep at\n"
    "                           once). Cuts the wake-up from each frame's latency\n"
    "                           while traffic flows, at the price of a busy core\n"
    "  -d, --datadir DIR        where the configuration is kept (default " DEFAULT_DATADIR ")\n"
    "  -s, --socket PATH        control socket (default " DEFAULT_SOCKET ")\n"
    "  -g, --group GROUP        group allowed to use the control socket (default:\n"
    "                           root only)\n"
    "      --log-level LEVEL    error, warn, info (default) or debug\n"
    "      --syslog             log to syslog as well as stderr\n"
    "      --controller ADDR:PORT  weft-controller's agent address ([V6]:PORT for\n"
    "                           IPv6); repeat for a cluster, tried in turn. The\n"
    "                           controller then gives this host its segments,\n"
    "                           ports and tables; without it weftd is driven by\n"
    "                           'weft' alone\n"
    "      --join-token-file FILE  the join token (first line of FILE)\n"
    "      --vtep-prefix-len N  length of the VTEP's underlay subnet, for proxy\n"
    "                           replication (default: from the interface holding\n"
    "                           the --vtep-ip address)\n"
    "  -h, --help               print this help and exit\n"
    "  -V, --version            print the version and exit\n"
    "\n"
    "Stop it with SIGTERM or SIGINT. Exit status: 0 after a clean stop, 1 when\n"
    "weftd cannot run (the message says why), 2 on a usage error.\n";

uint32_t weftd_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)ts.tv_sec;
}

uint64_t weftd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void parse_options(struct weftd *d, int argc, char **argv, enum log_level *level,
                          bool *use_syslog, struct weftd_agent_options *agent)
{
    enum {
        OPT_PORT = 256,
        OPT_MTU,
        OPT_CSUM,
        OPT_AGE,
        OPT_CAPACITY,
        OPT_LEVEL,
        OPT_SYSLOG,
        OPT_CONTROLLER,
        OPT_TOKEN_FILE,
        OPT_PREFIX_LEN,
        OPT_WORKERS,
        OPT_POLL,
        OPT_PMTU_RATE
    };
    static const struct option options[] = {
        {"name", required_argument, NULL, 'n'},
        {"vtep-ip", required_argument, NULL, 't'},
        {"vxlan-port", required_argument, NULL, OPT_PORT},
        {"underlay-mtu", required_argument, NULL, OPT_MTU},
        {"udp-checksum", no_argument, NULL, OPT_CSUM},
        {"mac-age", required_argument, NULL, OPT_AGE},
        {"mac-capacity", required_argument, NULL, OPT_CAPACITY},
        {"datadir", required_argument, NULL, 'd'},
        {"socket", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"controller", required_argument, NULL, OPT_CONTROLLER},
        {"join-token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"vtep-prefix-len", required_argument, NULL, OPT_PREFIX_LEN},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"poll-us", required_argument, NULL, OPT_POLL},
        {"pmtu-icmp-rate", required_argument, NULL, OPT_PMTU_RATE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "n:t:d:s:g:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            snprintf(d->name, sizeof d->name, "%s", optarg);
            break;
        case 't': {
            struct ip_addr addr;
            if (ip_addr_parse(optarg, &addr) || ip_addr_is_zero(&addr) ||
                ip_addr_is_multicast(&addr)) {
                prog_usage_error("--vtep-ip: '%s' is not a unicast IPv4 or IPv6 address", optarg);
            }
            struct ip_addr *slot =
                ip_addr_is_v4(&addr) ? &d->sw_config.local_vtep4 : &d->sw_config.local_vtep6;
            if (!ip_addr_is_zero(slot)) {
                prog_usage_error("--vtep-ip: one address per family (a second one: %s)", optarg);
            }
            *slot = addr;
            break;
        }
        case OPT_PORT:
            d->sw_config.vxlan_port =
                (uint16_t)prog_option_number(optarg, 1, 65535, "--vxlan-port");
            break;
        case OPT_MTU:
            d->sw_config.underlay_mtu =
                (uint32_t)prog_option_number(optarg, 576, 65535, "--underlay-mtu");
            break;
        case OPT_CSUM:
            d->sw_config.udp_checksum_v4 = true;
            break;
        case OPT_AGE:
            d->sw_config.mac_age_seconds =
                (uint32_t)prog_option_number(optarg, 1, 86400, "--mac-age");
            break;
        case OPT_CAPACITY:
            d->sw_config.mac_capacity =
                (uint32_t)prog_option_number(optarg, 16, 1u << 28, "--mac-capacity");
            break;
        case 'd':
            snprintf(d->datadir, sizeof d->datadir, "%s", optarg);
            break;
        case 's':
            snprintf(d->socket_path, sizeof d->socket_path, "%s", optarg);
            break;
        case 'g': {
            struct group *g = getgrnam(optarg);
            if (!g) {
                prog_usage_error("--group: no group '%s' on this host", optarg);
            }
            d->socket_group = g->gr_gid;
            break;
        }
        case OPT_LEVEL:
            if (log_level_parse(optarg, level)) {
                prog_usage_error("--log-level: '%s' is not error, warn, info or debug", optarg);
            }
            break;
        case OPT_SYSLOG:
            *use_syslog = true;
            break;
        case OPT_CONTROLLER:
            if (agent->n_controllers == WEFTD_MAX_CONTROLLERS) {
                prog_usage_error("--controller: at most %d controllers", WEFTD_MAX_CONTROLLERS);
            }
            if (strlen(optarg) >= sizeof agent->controllers[0] || !strrchr(optarg, ':')) {
                prog_usage_error("--controller: '%s' is not ADDR:PORT", optarg);
            }
            snprintf(agent->controllers[agent->n_controllers++], sizeof agent->controllers[0], "%s",
                     optarg);
            break;
        case OPT_TOKEN_FILE:
            snprintf(agent->token_file, sizeof agent->token_file, "%s", optarg);
            break;
        case OPT_PREFIX_LEN:
            agent->vtep_prefix_len = (int)prog_option_number(optarg, 1, 128, "--vtep-prefix-len");
            break;
        case OPT_WORKERS:
            d->n_workers = (uint32_t)prog_option_number(optarg, 1, WEFTD_MAX_WORKERS, "--workers");
            break;
        case OPT_PMTU_RATE:
            d->sw_config.pmtu_icmp_rate =
                (uint32_t)prog_option_number(optarg, 0, 1000000, "--pmtu-icmp-rate");
            break;
        case OPT_POLL:
            d->poll_ns = 1000u * (uint64_t)prog_option_number(optarg, 0, 1000000, "--poll-us");
            break;
        case 'h':
            prog_print_exit("%s", weftd_help);
        case 'V':
            prog_print_exit("weftd %s\n", WEFT_VERSION);
        default:
            prog_usage_error(NULL); /* getopt_long() has named the bad option */
        }
    }
    prog_no_operands(argc, argv);
    if (agent->n_controllers && !agent->token_file[0]) {
        prog_usage_error("--controller needs --join-token-file");
    }
    if (agent->n_controllers && ip_addr_is_zero(&d->sw_config.local_vtep4) &&
        ip_addr_is_zero(&d->sw_config.local_vtep6)) {
        prog_usage_error("--controller needs --vtep-ip (the address other hosts send to)");
    }
}

/* mkdir -p with mode for the last component. */
static int make_dirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) && errno != EEXIST) {
                return errno;
            }
            *p = '/';
        }
    }
    return mkdir(buf, mode) && errno != EEXIST ? errno : 0;
}

/* Worker 0's VTEP sockets, on the main loop's epoll (worker.c makes the rest). */
static int open_vteps(struct weftd *d)
{
    struct weftd_worker *w0 = &d->workers[0];
    char text[IP_ADDR_STRLEN];

    w0->epoll_fd = d->epoll_fd;
    int error = weftd_worker_open_vteps(d, w0);
    for (unsigned f = 0; f < 2; f++) {
        d->vtep[f] = w0->vtep[f];
        if (!error && d->vtep[f]) {
            log_info("VTEP %s listening on UDP %u", ip_addr_format(&d->vtep[f]->local, text),
                     d->sw_config.vxlan_port);
        }
    }
    return error;
}

static int setup(struct weftd *d)
{
    sigset_t mask;
    int error;

    if ((error = make_dirs(d->datadir, 0700))) {
        log_error("cannot create data directory %s: %s", d->datadir, strerror(error));
        return error;
    }
    char sock_dir[PATH_MAX];
    snprintf(sock_dir, sizeof sock_dir, "%s", d->socket_path);
    char *slash = strrchr(sock_dir, '/');
    if (slash && slash != sock_dir) {
        *slash = '\0';
        make_dirs(sock_dir, 0755);
    }
    /* The large tier holds guests' 64 KB super-frames (and their merges, GRO). */
    d->pool = pkt_pool_create_tiered(WEFTD_POOL_SIZE, PKT_DEFAULT_DATA_ROOM, 256, 65536 + 64);
    d->sw = d->pool ? vswitch_create(&d->sw_config, d->pool, &error) : NULL;
    d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!d->sw || d->epoll_fd < 0) {
        log_error("cannot create the switch: %s", strerror(d->pool ? error : ENOMEM));
        return ENOMEM;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec tick = {.it_interval = {1, 0}, .it_value = {1, 0}};
    if (d->signal_fd < 0 || d->timer_fd < 0 || timerfd_settime(d->timer_fd, 0, &tick, NULL) ||
        weftd_watch(d->epoll_fd, d->signal_fd, &d->signal_source, SOURCE_SIGNAL, NULL) ||
        weftd_watch(d->epoll_fd, d->timer_fd, &d->timer_source, SOURCE_TIMER, NULL)) {
        log_error("cannot set up signals and timers: %s", strerror(errno));
        return errno;
    }
    /* The control socket first: it refuses to start beside a running weftd,
     * before the saved ports are attached. */
    if ((error = weftd_control_open(d)) || (error = open_vteps(d)) ||
        (error = weftd_workers_start(d)) || (error = weftd_restore(d))) {
        return error;
    }
    return 0;
}

static void on_signal(struct weftd *d)
{
    struct signalfd_siginfo info;

    while (read(d->signal_fd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            log_info("SIGHUP: nothing to reload, the configuration is live");
            continue;
        }
        log_info("signal %u: stopping", info.ssi_signo);
        d->running = false;
    }
}

static void on_timer(struct weftd *d)
{
    uint64_t ticks;

    if (read(d->timer_fd, &ticks, sizeof ticks) == sizeof ticks) {
        vswitch_age(d->sw, weftd_now());
        weftd_ports_retry(d);
    }
}

/* Everything but frames: with the other workers parked (worker.c). */
static void control_event(struct weftd *d, struct weftd_source *src, uint32_t events)
{
    weftd_workers_pause(d);
    switch (src->kind) {
    case SOURCE_PORT: /* its device went */
        weftd_port_lost(d, src->ptr);
        break;
    case SOURCE_LISTEN:
        weftd_control_accept(d);
        break;
    case SOURCE_CLIENT:
        weftd_control_client(d, src, events);
        break;
    case SOURCE_SIGNAL:
        on_signal(d);
        break;
    case SOURCE_TIMER:
        on_timer(d);
        break;
    case SOURCE_AGENT:
        weftd_agent_event(d, events);
        break;
    case SOURCE_AGENT_TIMER:
        weftd_agent_tick(d);
        break;
    case SOURCE_VTEP:
    case SOURCE_WAKE:
        break;
    }
    weftd_workers_resume(d);
}

static void run(struct weftd *d)
{
    struct epoll_event events[64];
    struct weftd_worker *w0 = &d->workers[0];
    uint64_t spin_until = 0;
    int timeout = -1;

    d->running = true;
    while (d->running) {
        int n = epoll_wait(d->epoll_fd, events, 64, timeout);
        bool had_frames = false;
        for (int i = 0; i < n; i++) {
            struct weftd_source *src = events[i].data.ptr;
            if (src->kind == SOURCE_PORT && !(events[i].events & (EPOLLERR | EPOLLHUP))) {
                weftd_port_input(w0, src->ptr);
                had_frames = true;
            } else if (src->kind == SOURCE_VTEP) {
                weftd_vtep_input(w0, src->ptr);
                had_frames = true;
            } else {
                control_event(d, src, events[i].events);
            }
        }
        timeout = weftd_poll_timeout(d, had_frames, &spin_until);
    }
}

static void teardown(struct weftd *d)
{
    weftd_agent_stop(d);
    weftd_control_close(d);
    weftd_workers_stop(d);
    weftd_ports_close(d);
    for (unsigned f = 0; f < 2; f++) {
        vtep_io_close(d->vtep[f]);
    }
    vswitch_destroy(d->sw);
    pkt_pool_destroy(d->pool);
    for (uint32_t i = 1; i < d->n_workers; i++) {
        pkt_pool_destroy(d->workers[i].pool);
    }
    if (d->epoll_fd >= 0) {
        close(d->epoll_fd);
    }
}

int main(int argc, char **argv)
{
    static struct weftd daemon; /* large (the port table): not on the stack */
    static char prog_name[] = "weftd";
    struct weftd *d = &daemon;
    enum log_level level = LOG_LEVEL_INFO;
    bool use_syslog = false;
    static struct weftd_agent_options agent = {.vtep_prefix_len = -1};

    argv[0] = prog_name; /* getopt_long() prefixes its messages with argv[0] */
    prog_init(prog_name, WEFTD_EXIT_USAGE);
    vswitch_config_default(&d->sw_config);
    d->n_workers = 1;
    d->socket_group = (gid_t)-1;
    d->listen_fd = d->epoll_fd = d->signal_fd = d->timer_fd = -1;
    snprintf(d->datadir, sizeof d->datadir, "%s", DEFAULT_DATADIR);
    snprintf(d->socket_path, sizeof d->socket_path, "%s", DEFAULT_SOCKET);
    if (gethostname(d->name, sizeof d->name - 1)) {
        snprintf(d->name, sizeof d->name, "weft-host");
    }
    parse_options(d, argc, argv, &level, &use_syslog, &agent);
    log_init("weftd", level, use_syslog);
    d->started_monotonic = weftd_now();
    int error = setup(d);
    if (!error && agent.n_controllers) {
        error = weftd_agent_start(d, &agent);
    }
    if (!error) {
        log_info("weftd %s (%s) ready on %s", WEFT_VERSION, d->name, d->socket_path);
        run(d);
    }
    teardown(d);
    return error ? EXIT_FAILURE : EXIT_SUCCESS;
}
