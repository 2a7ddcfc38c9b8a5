/*
 * vtep_io.h - the VTEP's sockets: where VXLAN datagrams enter and leave a host.
 *
 * Receive: a UDP socket on the VXLAN port that takes datagrams sent to the
 * host's underlay (VTEP) address or to the multicast groups it joined, and
 * drops the rest (vtep_not_local); the kernel checks the outer IP/UDP headers
 * and checksums, and recvmmsg() hands over a burst of VXLAN payloads with
 * their senders.
 * UDP_GRO is on: the kernel hands over runs of datagrams of one sender and
 * source port coalesced (with their size in a control message); consecutive
 * segments of one inner TCP flow in a run become one super-frame here (software
 * GRO, in one copy), the other datagrams one buffer each.
 * Send: the core builds the whole outer IP/UDP/VXLAN header (the UDP source
 * port carries the inner flow's hash for ECMP), so ordinary datagrams leave
 * through a raw IP socket (header included) with sendmmsg(); the kernel routes
 * them and resolves the next hop on the underlay. A super-frame (meta.ol.gso)
 * is cut here into equal VXLAN payloads (inner headers and checksums per
 * segment, core/offload.h; the payloads are not copied, the kernel reads them
 * from the frame through an iovec) and handed over in one sendmmsg() with UDP GSO
 * (UDP_SEGMENT) on a UDP socket bound to the flow's source port, made on first
 * use, so its datagrams carry the same outer source port as the flow's ordinary
 * ones; the kernel builds their outer IP/UDP headers. Linux refuses UDP GSO
 * without checksums, so these datagrams carry an outer UDP checksum even over
 * IPv4 (computed by the NIC's offload where there is one). Where the port is
 * taken by another socket of the host, or too many are open, the flow's
 * super-frames leave by a shared socket on an ephemeral port.
 */
#ifndef WEFT_IO_VTEP_IO_H
#define WEFT_IO_VTEP_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "core/pkt.h"
#include "lib/ip_addr.h"

struct vtep_io {
    int rx_fd; /* UDP on the wildcard address and port: the event loop waits on it */
    int tx_fd; /* raw IP, header included, bound to local; multicast leaves by local's link */
    struct ip_addr local;
    uint16_t port;
    uint64_t rx_drops[DROP_REASON_COUNT];
    uint64_t tx_errors;
    uint32_t rx_overflow_seen; /* the socket's drop total when last read */
    int *sport_fds;            /* per outer source port - 49152: fd + 1, 0 none yet, -1 taken */
    uint32_t n_sport_fds;      /* sockets open in sport_fds */
    int shared_fd;             /* UDP on an ephemeral port, for the flows without their own */
    uint64_t shared_fd_retry;  /* while shared_fd cannot be made: when to try again (s) */
    uint8_t *gso_buf;          /* the VXLAN and inner headers of a super-frame's segments */
    uint8_t *rx_spill;         /* per receive slot: coalesced datagrams beyond the buffer */
    uint8_t *rx_straddle;      /* the datagram of a run that spans buffer and spill */
    uint64_t tx_gso_sends;     /* super-frames sent with UDP GSO */
    bool shared;               /* one of a group: see vtep_io_open() */
};

/* Most buffers one vtep_io_rx_burst() can fill per datagram received: the
 * kernel coalesces at most 64 datagrams (UDP_GRO). */
#define VTEP_IO_GRO_SEGS 64

/* Opens both sockets. shared: one of several (one per worker of weftd), all
 * opened with it: the receive sockets form an SO_REUSEPORT group, over which
 * the kernel spreads datagrams by a hash of their addresses and ports, so by
 * the outer source port that carries each inner flow's hash (RSS); multicast
 * reaches only the one that joined (IP_MULTICAST_ALL is off). The per-flow
 * send sockets may share their port between the workers' sets too.
 * Returns 0 or a positive errno with *error_msg set. */
int vtep_io_open(const struct ip_addr *local, uint16_t port, bool shared, struct vtep_io **io,
                 const char **error_msg);
void vtep_io_close(struct vtep_io *io);
/* Receives datagrams into up to max buffers (at least VTEP_IO_GRO_SEGS: one
 * system call takes max / VTEP_IO_GRO_SEGS coalesced runs); each buffer holds
 * one UDP payload and meta.outer_src the sender. */
uint32_t vtep_io_rx_burst(struct vtep_io *io, struct pkt_pool *pool, struct pkt **pkts,
                          uint32_t max);
/* Sends n encapsulated frames (starting at the outer IP header) to dsts[i]. */
uint32_t vtep_io_tx_burst(struct vtep_io *io, struct pkt **pkts, const struct ip_addr *const *dsts,
                          uint32_t n);
/* Joins or leaves an underlay multicast group on the receive socket. */
int vtep_io_multicast(struct vtep_io *io, const struct ip_addr *group, bool join);

#endif
