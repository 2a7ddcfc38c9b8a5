/*
 * vtep_io.h - the VTEP's sockets: where VXLAN datagrams enter and leave a host.
 *
 * Receive: a UDP socket on the VXLAN port that takes datagrams sent to the
 * host's underlay (VTEP) address or to the multicast groups it joined, and
 * drops the rest (vtep_not_local); the kernel checks the outer IP/UDP headers
 * and checksums, and recvmmsg() hands over a burst of VXLAN payloads with
 * their senders.
 * Send: the core builds the whole outer IP/UDP/VXLAN header (the UDP source
 * port carries the inner flow's hash for ECMP), so datagrams leave through a
 * raw IP socket (header included) with sendmmsg(); the kernel routes them and
 * resolves the next hop on the underlay.
 */
#ifndef WEFT_IO_VTEP_IO_H
#define WEFT_IO_VTEP_IO_H

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
};

/* Opens both sockets. Returns 0 or a positive errno with *error_msg set. */
int vtep_io_open(const struct ip_addr *local, uint16_t port, struct vtep_io **io,
                 const char **error_msg);
void vtep_io_close(struct vtep_io *io);
/* Receives up to max datagrams; each buffer holds the UDP payload and
 * meta.outer_src the sender. */
uint32_t vtep_io_rx_burst(struct vtep_io *io, struct pkt_pool *pool, struct pkt **pkts,
                          uint32_t max);
/* Sends n encapsulated frames (starting at the outer IP header) to dsts[i]. */
uint32_t vtep_io_tx_burst(struct vtep_io *io, struct pkt **pkts, const struct ip_addr *const *dsts,
                          uint32_t n);
/* Joins or leaves an underlay multicast group on the receive socket. */
int vtep_io_multicast(struct vtep_io *io, const struct ip_addr *group, bool join);

#endif
