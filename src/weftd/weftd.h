/*
 * weftd.h - the host daemon's state, shared by its modules:
 *
 *   main.c      options, start-up, the event loop
 *   objects.c   JSON forms of segments, ports and MAC entries (one codec used for
 *               the control protocol and for the saved configuration alike)
 *   state.c     operations on segments, ports, peers and MACs; saving and
 *               restoring the configuration
 *   control.c   the unix control socket: one JSON request per line, one reply
 *   datapath.c  bursts from ports and the VTEP through the forwarding core
 *   worker.c    the data path's threads (--workers) and pausing them for changes
 *   agent.c     the session with weft-controller (--controller): the state it
 *               gives this host, applied to the switch and kept in the datadir,
 *               and reports of what the switch learns
 */
#ifndef WEFT_WEFTD_H
#define WEFT_WEFTD_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/vswitch.h"
#include "core/vxlan.h"
#include "io/port_backend.h"
#include "io/vtep_io.h"

#define WEFTD_NAME_MAX    32 /* port names, with the NUL */
#define WEFTD_NETNS_MAX   128
#define WEFTD_BURST       256
#define WEFTD_POOL_SIZE   8192
#define WEFTD_MAX_WORKERS 16

/* What an epoll event is about. */
enum weftd_source_kind {
    SOURCE_LISTEN,
    SOURCE_CLIENT,
    SOURCE_SIGNAL,
    SOURCE_TIMER,
    SOURCE_PORT,
    SOURCE_VTEP,
    SOURCE_AGENT,       /* the controller session's socket */
    SOURCE_AGENT_TIMER, /* the agent's 100 ms tick */
    SOURCE_WAKE,        /* a worker's eventfd: pause requested, or stop */
};

struct weftd_source {
    enum weftd_source_kind kind;
    void *ptr;
};

struct weftd_port {
    bool in_use;
    uint16_t id; /* the switch's port id, also this port's index */
    char name[WEFTD_NAME_MAX];
    const struct port_backend *backend;
    char ifname[IF_NAMESIZE];
    char netns[WEFTD_NETNS_MAX];
    struct port_io *io; /* NULL while the device cannot be opened (retried) */
    char io_error[160]; /* why, for `weft port show` */
    /* With several workers, a multi-queue TAP has a queue per worker:
     * queues[i] is worker i's (queues[0] == io); any other port has one queue,
     * read by worker id % n_workers and written by every worker (TAP writes and
     * AF_PACKET sendmmsg() are safe from several threads). */
    struct port_io *queues[WEFTD_MAX_WORKERS];
    uint32_t n_queues;
    struct weftd_source sources[WEFTD_MAX_WORKERS]; /* per queue */
    bool lost; /* a worker saw its device go (EPOLLHUP): the main thread closes it */
    /* Given by the controller: not editable locally, not in config.json. Its
     * device is whatever exists under its name (a TAP is attached as a TAP,
     * anything else through AF_PACKET), and is never destroyed by weftd. */
    bool from_controller;
};

/* A thread of the data path. Worker 0 is the main thread (its epoll is the
 * daemon's); the others run worker.c's loop on their own epoll. Each has its
 * own buffer pool, its own VTEP sockets (an SO_REUSEPORT group: the kernel
 * spreads the overlay's flows over them) and its own queue of multi-queue
 * ports, so that no two workers share a descriptor they read. */
struct weftd_worker {
    struct weftd *d;
    uint32_t id;
    pthread_t thread;
    int epoll_fd;
    int wake_fd; /* eventfd (workers but 0) */
    struct weftd_source wake_source;
    struct pkt_pool *pool;
    struct vswitch_worker *sw;
    struct vtep_io *vtep[2];
    struct weftd_source vtep_source[2];
};

struct weftd {
    /* Options. */
    char name[64];
    char datadir[PATH_MAX];
    char socket_path[PATH_MAX];
    gid_t socket_group; /* (gid_t)-1: root only */
    struct vswitch_config sw_config;
    uint32_t n_workers; /* --workers, 1 .. WEFTD_MAX_WORKERS */
    uint64_t poll_ns;   /* --poll-us: how long a data-path loop spins after a frame */

    /* Data plane. */
    struct pkt_pool *pool; /* worker 0's */
    struct vswitch *sw;
    struct vtep_io *vtep[2]; /* worker 0's: [0] IPv4, [1] IPv6; NULL when not configured */
    struct weftd_port ports[VSWITCH_MAX_PORTS];
    struct weftd_worker workers[WEFTD_MAX_WORKERS];
    /* Pausing the workers but 0 (worker.c). */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    bool pause_requested; /* read by the workers without the lock (atomic) */
    bool stopping;
    uint32_t n_paused;

    /* Control plane. */
    int epoll_fd;
    int listen_fd;
    int signal_fd;
    int timer_fd;
    struct weftd_source listen_source, signal_source, timer_source;
    uint64_t started_monotonic;
    bool running;
    bool restoring; /* applying the saved configuration: do not save it again */

    /* Controller mode (--controller): NULL without it. */
    struct weftd_agent *agent;
    bool segment_from_controller[MAC_TABLE_MAX_SEGMENTS]; /* by segment index */
};

/* Seconds on the monotonic clock: the MAC table's time base. */
uint32_t weftd_now(void);

/* Milliseconds on the monotonic clock: the agent's timers. */
uint64_t weftd_now_ms(void);

/* ---- state.c ---- */

/* Error kinds of an operation, mapped to the reply's "code" (like HTTP 4xx/5xx). */
enum weftd_status {
    WEFTD_OK,
    WEFTD_INVALID,   /* the request is wrong: fix it */
    WEFTD_NOT_FOUND, /* it names something that does not exist */
    WEFTD_CONFLICT,  /* it clashes with what exists */
    WEFTD_FAILED,    /* the system refused (device, memory): see the message */
};

/* Fills msg (size WEFTD_MSG_MAX) and returns status: the common error path. */
#define WEFTD_MSG_MAX 512
enum weftd_status weftd_error(char *msg, enum weftd_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct weftd_port *weftd_port_by_name(struct weftd *d, const char *name);
enum weftd_status weftd_segment_add(struct weftd *d, json_t *spec, char *msg);
enum weftd_status weftd_segment_del(struct weftd *d, uint32_t vni, char *msg);
enum weftd_status weftd_port_add(struct weftd *d, json_t *spec, char *msg);
enum weftd_status weftd_port_set(struct weftd *d, const char *name, json_t *changes, char *msg);
enum weftd_status weftd_port_del(struct weftd *d, const char *name, char *msg);
enum weftd_status weftd_peer_add(struct weftd *d, uint32_t vni, const char *ip, char *msg);
enum weftd_status weftd_peer_del(struct weftd *d, uint32_t vni, const char *ip, char *msg);
enum weftd_status weftd_mac_add(struct weftd *d, json_t *spec, char *msg);
enum weftd_status weftd_mac_del(struct weftd *d, uint32_t vni, const char *mac, char *msg);
/* Once a second: collects the devices' own drop counts and tries again to
 * open ports whose device was missing. */
void weftd_ports_retry(struct weftd *d);
/* Writes the configuration to datadir/config.json atomically. */
int weftd_save(struct weftd *d);
/* Writes json to datadir/name through a temporary file, fsync and rename. */
int weftd_write_json(struct weftd *d, const char *name, json_t *json);
/* Applies datadir/config.json if it exists. */
int weftd_restore(struct weftd *d);
/* A port's descriptor reported an error (its device is gone): close it; the
 * one-second retry attaches it again when the device is back. */
void weftd_port_lost(struct weftd *d, struct weftd_port *port);
/* Closes every port (devices stay for the next start). */
void weftd_ports_close(struct weftd *d);
/* The controller's port name: created (attached to the device of that name,
 * kept without it while it is absent) or its configuration replaced whole.
 * A local port of that name is a conflict (the local one stays). */
enum weftd_status weftd_ctl_port_set(struct weftd *d, const char *name,
                                     const struct port_config *cfg, char *msg);
/* Removes a controller port (its device stays). */
void weftd_ctl_port_del(struct weftd *d, struct weftd_port *port);
/* Whether the segment with this VNI exists and belongs to the controller. */
bool weftd_segment_is_controllers(const struct weftd *d, uint32_t vni);
/* Joins (or leaves) the group of a multicast segment on the VTEP of its
 * family; 0 for other segments, EAFNOSUPPORT without such a VTEP. */
int weftd_segment_join(struct weftd *d, const struct segment_config *cfg, bool join);

/* ---- objects.c ---- */

json_t *weftd_segment_json(const struct weftd *d, uint32_t segment, bool with_counters);
json_t *weftd_port_json(const struct weftd *d, const struct weftd_port *port, bool with_status);
json_t *weftd_counters_json(const struct vswitch_counters *c);
json_t *weftd_macs_json(const struct weftd *d, uint32_t vni_filter);
json_t *weftd_stats_json(const struct weftd *d);
json_t *weftd_arps_json(const struct weftd *d, uint32_t vni_filter);
/* Parses a segment spec into cfg; peers (optional) are returned borrowed. */
enum weftd_status weftd_segment_parse(json_t *spec, struct segment_config *cfg, json_t **peers,
                                      char *msg);
/* Parses a port spec (name, backend, ifname, netns and the switch settings). */
enum weftd_status weftd_port_parse(const struct weftd *d, json_t *spec, struct weftd_port *port,
                                   struct port_config *cfg, char *msg);

/* ---- control.c ---- */

int weftd_control_open(struct weftd *d);
void weftd_control_accept(struct weftd *d);
void weftd_control_client(struct weftd *d, struct weftd_source *src, uint32_t events);
void weftd_control_close(struct weftd *d);

/* ---- agent.c ---- */

#define WEFTD_MAX_CONTROLLERS 8

/* Options of controller mode, parsed in main.c. */
struct weftd_agent_options {
    char controllers[WEFTD_MAX_CONTROLLERS][128]; /* "ADDR:PORT", "[V6]:PORT" */
    unsigned n_controllers;
    char token_file[PATH_MAX];
    int vtep_prefix_len; /* -1: from the interface holding the VTEP address */
};

/* Loads the controller's last state from the datadir, applies it, and starts
 * connecting. 0 or an errno (logged). */
int weftd_agent_start(struct weftd *d, const struct weftd_agent_options *opts);
void weftd_agent_event(struct weftd *d, uint32_t events);
void weftd_agent_tick(struct weftd *d);
/* The session for `weft status`: address, state, revision, epoch, since, last error. */
json_t *weftd_agent_status_json(const struct weftd *d);
/* Says goodbye (error "shutdown") and frees everything. */
void weftd_agent_stop(struct weftd *d);

/* ---- worker.c ---- */

/* Registers fd with an epoll for EPOLLIN, its events naming src (filled in). */
int weftd_watch(int epoll_fd, int fd, struct weftd_source *src, enum weftd_source_kind kind,
                void *ptr);
/* Opens worker w's VTEP sockets (one per configured family; a SO_REUSEPORT
 * group with several workers) and registers them with w->epoll_fd. 0 or an
 * errno (logged). */
int weftd_worker_open_vteps(struct weftd *d, struct weftd_worker *w);
/* Makes d->n_workers workers: worker 0 from d's pool, epoll and VTEPs (open
 * already), the others with their own, started. 0 or an errno (logged). */
int weftd_workers_start(struct weftd *d);
/* Stops and joins the workers but 0 and frees what they own. */
void weftd_workers_stop(struct weftd *d);
/* Parks every worker but 0 outside the data path, until resume; nested calls
 * are not allowed. No-op with one worker. Everything that changes the switch,
 * the ports or the VTEPs runs between the two. */
void weftd_workers_pause(struct weftd *d);
void weftd_workers_resume(struct weftd *d);
/* The epoll_wait() timeout of a data-path loop: 0 (poll again at once) until
 * --poll-us have passed since the last round that had frames (had_frames;
 * *spin_until keeps the deadline), then -1 (sleep until an event). Always -1
 * without --poll-us. */
int weftd_poll_timeout(const struct weftd *d, bool had_frames, uint64_t *spin_until);
/* The epoll of the worker that reads a port's queue q. */
int weftd_queue_epoll(const struct weftd *d, const struct weftd_port *port, uint32_t q);
/* Worker w's queue of a port (for its reads and writes). */
static inline struct port_io *weftd_port_queue(const struct weftd_port *port, uint32_t w)
{
    return port->n_queues > 1 ? port->queues[w] : port->io;
}

/* ---- datapath.c ---- */

/* Bursts from worker w's queue of port, or from its VTEP socket, through the switch. */
void weftd_port_input(struct weftd_worker *w, struct weftd_port *port);
void weftd_vtep_input(struct weftd_worker *w, struct vtep_io *vtep);
/* Registers each queue of a port with the event loop of the worker that reads
 * it (or removes them). */
int weftd_watch_port(struct weftd *d, struct weftd_port *port, bool add);

#endif
