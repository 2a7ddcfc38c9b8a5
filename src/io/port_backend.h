/*
 * port_backend.h - how weftd moves frames in and out of a port.
 *
 * Every port backend fills one ops table (struct port_backend); weftd only
 * calls through it, so a new backend (vhost-user) is one new file
 * plus one line in port_backend.c. Lifecycle:
 *
 *   open()      create or attach to the device named ifname (in the given
 *               network namespace), non-blocking, return a struct port_io
 *               (the backend's state starts with it);
 *   rx_burst()  move up to max received frames into buffers from the pool;
 *               never blocks; frames the backend must drop (truncated, bad
 *               offload metadata, no buffer) are counted in io->rx_drops;
 *   tx_burst()  send n frames in as few system calls as the device allows;
 *               the buffers stay the caller's; refusals count in tx_errors;
 *   close()     release everything; accepts NULL. A device the backend made
 *               persistent stays, so guests keep their NIC while weftd restarts;
 *   destroy()   (optional) remove such a device when its port is deleted.
 *
 * io->fd is what the event loop waits on for received frames.
 */
#ifndef WEFT_IO_PORT_BACKEND_H
#define WEFT_IO_PORT_BACKEND_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "core/pkt.h"

struct port_backend;

struct port_io {
    const struct port_backend *backend;
    int fd;
    char ifname[IF_NAMESIZE];
    const char *mode;  /* how it runs, for status: "tap", "tpacket-v3", ... */
    char mode_buf[96]; /* where mode points when it is made up at open ("auto") */
    uint64_t rx_drops[DROP_REASON_COUNT];
    uint64_t tx_errors;
    /* tx_burst() takes frames with offloads pending (pkt meta.ol: super-frames,
     * partial checksums) and hands them on with a virtio-net header; without,
     * the caller completes them first (core/offload.h). */
    bool offloads;
};

/* Where a port's device is. */
struct port_io_args {
    const char *ifname;
    const char *netns; /* network namespace holding (or to hold) the device: a name under
                        * /run/netns or a path; NULL or "" for weftd's own namespace */
    /* TAP and internal ports: attach as one queue of a multi-queue device
     * (IFF_MULTI_QUEUE; created so when new), so that each of weftd's workers
     * reads and writes a queue of its own and the kernel spreads the guest's
     * flows over them by hash. EINVAL when the device exists single-queue.
     * Other backends ignore it. */
    bool multi_queue;
    /* Several threads will send on the port (weftd --workers > 1): a backend
     * whose transmit path has one producer (AF_XDP) refuses, and says so. */
    bool shared_tx;
};

struct port_backend {
    const char *name;
    const char *help;
    /* Returns 0 or a positive errno; *error_msg (static text) says what went wrong. */
    int (*open)(const struct port_io_args *args, struct port_io **io, const char **error_msg);
    /* Removes what open() created for good (a persistent device); NULL if nothing. */
    void (*destroy)(struct port_io *io);
    uint32_t (*rx_burst)(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                         uint32_t max);
    uint32_t (*tx_burst)(struct port_io *io, struct pkt **pkts, uint32_t n);
    void (*close)(struct port_io *io);
    /* Optional, called once a second: adds what the kernel dropped before the
     * frames reached weftd (a full ring) to rx_drops. */
    void (*poll_stats)(struct port_io *io);
};

/* The backends, each defined in its own file. */
extern const struct port_backend port_backend_tap;
extern const struct port_backend port_backend_internal;
extern const struct port_backend port_backend_afpacket;
extern const struct port_backend port_backend_afxdp;
extern const struct port_backend port_backend_auto;

/* The backend called name, or NULL. */
const struct port_backend *port_backend_find(const char *name);
/* All backends, NULL-terminated, for help texts. */
const struct port_backend *const *port_backend_list(void);

/* Shared by the backends: brings ifname up and returns its ifindex, or 0 with errno set. */
int port_io_link_up(const char *ifname);
/* Moves the calling thread into netns (nothing for NULL/""); *saved gets a descriptor of
 * the namespace to return to with port_io_netns_leave(). Returns 0 or errno. */
int port_io_netns_enter(const char *netns, int *saved);
void port_io_netns_leave(int saved);

#endif
