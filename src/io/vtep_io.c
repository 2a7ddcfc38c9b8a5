/*
 * vtep_io.c - UDP receive and raw-IP send sockets of the VTEP (see vtep_io.h).
 *
 * The receive socket is bound to the wildcard address, not to the VTEP's own:
 * Linux hands a multicast datagram only to sockets bound to the wildcard or to
 * that group, and a segment in multicast mode receives its BUM traffic on its
 * group. IP_PKTINFO then tells each datagram's destination, and whatever was
 * sent to another address of the host is dropped and counted, so the socket
 * accepts no more than one bound to the VTEP address plus its joined groups
 * (IP_MULTICAST_ALL off: only groups this socket joined).
 */
#include "vtep_io.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/compiler.h"

#define VTEP_BATCH  64
#define VTEP_RCVBUF (8 << 20)
#define VTEP_SNDBUF (8 << 20)

/* A sockaddr for addr:port in the address's own family; returns its length. */
static socklen_t vtep_sockaddr(const struct ip_addr *addr, uint16_t port,
                               struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ip_addr_is_v4(addr)) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, addr->bytes + 12, 4);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, addr->bytes, 16);
    return sizeof *sin6;
}

void vtep_io_close(struct vtep_io *io)
{
    if (io) {
        if (io->rx_fd >= 0) {
            close(io->rx_fd);
        }
        if (io->tx_fd >= 0) {
            close(io->tx_fd);
        }
        free(io);
    }
}

/* Multicast the raw socket sends (a segment's group) leaves by the interface
 * that holds the VTEP address, whatever the routing table says about groups. */
static int vtep_io_multicast_if(struct vtep_io *io)
{
    if (ip_addr_is_v4(&io->local)) {
        struct ip_mreqn mreq;
        memset(&mreq, 0, sizeof mreq);
        memcpy(&mreq.imr_address, io->local.bytes + 12, 4);
        return setsockopt(io->tx_fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0 ? errno
                                                                                          : 0;
    }
    struct ifaddrs *ifas, *ifa;
    int ifindex = 0;
    if (getifaddrs(&ifas) < 0) {
        return errno;
    }
    for (ifa = ifas; ifa && !ifindex; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET6 &&
            memcmp(((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr.s6_addr, io->local.bytes,
                   16) == 0) {
            ifindex = (int)if_nametoindex(ifa->ifa_name);
        }
    }
    freeifaddrs(ifas);
    if (!ifindex) {
        return EADDRNOTAVAIL;
    }
    return setsockopt(io->tx_fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0
               ? errno
               : 0;
}

int vtep_io_open(const struct ip_addr *local, uint16_t port, struct vtep_io **out,
                 const char **error_msg)
{
    struct vtep_io *io = calloc(1, sizeof *io);
    struct sockaddr_storage ss;
    int family = ip_addr_is_v4(local) ? AF_INET : AF_INET6;
    int one = 1, zero = 0, size, error;
    struct ip_addr wildcard;

    /* The wildcard of the local address's family (:: or ::ffff:0.0.0.0). */
    memset(&wildcard, 0, sizeof wildcard);
    if (family == AF_INET) {
        ip_addr_set_v4(&wildcard, (const uint8_t[4]){0, 0, 0, 0});
    }

    if (!io) {
        *error_msg = "out of memory";
        return ENOMEM;
    }
    io->local = *local;
    io->port = port;
    io->tx_fd = -1;
    io->rx_fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (io->rx_fd < 0) {
        *error_msg = "cannot open the VTEP's UDP socket";
        goto fail;
    }
    if (family == AF_INET6) {
        setsockopt(io->rx_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    size = VTEP_RCVBUF;
    setsockopt(io->rx_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    /* Each datagram then says how many the socket has dropped so far. */
    setsockopt(io->rx_fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    if (family == AF_INET) {
        setsockopt(io->rx_fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        setsockopt(io->rx_fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
    } else {
        setsockopt(io->rx_fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        setsockopt(io->rx_fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
    }
    /* IPPROTO_RAW implies that we supply the IP header (IP_HDRINCL / IPV6_HDRINCL). */
    io->tx_fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (io->tx_fd < 0) {
        *error_msg = "cannot open the VTEP's raw send socket (needs CAP_NET_RAW)";
        goto fail;
    }
    /* Binding the send socket to the VTEP address checks that the host has it. */
    if (bind(io->tx_fd, (struct sockaddr *)&ss, vtep_sockaddr(local, 0, &ss)) < 0) {
        *error_msg = errno == EADDRNOTAVAIL ? "the VTEP address is not configured on this host"
                                            : "cannot bind the VTEP's raw send socket";
        goto fail;
    }
    if (bind(io->rx_fd, (struct sockaddr *)&ss, vtep_sockaddr(&wildcard, port, &ss)) < 0) {
        *error_msg = errno == EADDRINUSE ? "the VXLAN port is taken (a kernel vxlan device?)"
                                         : "cannot bind the VTEP's UDP socket";
        goto fail;
    }
    size = VTEP_SNDBUF;
    setsockopt(io->tx_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if ((error = vtep_io_multicast_if(io))) {
        *error_msg = "cannot send multicast from the VTEP address's interface";
        errno = error;
        goto fail;
    }
    *out = io;
    return 0;

fail:
    error = errno ? errno : EINVAL;
    vtep_io_close(io);
    return error;
}

static void sockaddr_to_ip(const struct sockaddr_storage *ss, struct ip_addr *out)
{
    if (ss->ss_family == AF_INET) {
        ip_addr_set_v4(out, (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
    } else {
        ip_addr_set_v6(out, ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr);
    }
}

/* A datagram's control messages: SO_RXQ_OVFL, the socket's running total of
 * datagrams dropped for want of buffer, is counted; the destination address
 * (IP_PKTINFO / IPV6_PKTINFO) must be the VTEP's own or a multicast group. */
static bool vtep_io_accept(struct vtep_io *io, struct msghdr *msg)
{
    bool accept = true;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t total;
            memcpy(&total, CMSG_DATA(c), sizeof total);
            io->rx_drops[DROP_RING_OVERFLOW] += (uint32_t)(total - io->rx_overflow_seen);
            io->rx_overflow_seen = total;
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            const uint8_t *dst = (const uint8_t *)&info.ipi_addr;
            accept = memcmp(dst, io->local.bytes + 12, 4) == 0 || (dst[0] & 0xf0) == 0xe0;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            accept = memcmp(info.ipi6_addr.s6_addr, io->local.bytes, 16) == 0 ||
                     info.ipi6_addr.s6_addr[0] == 0xff;
        }
    }
    return accept;
}

uint32_t vtep_io_rx_burst(struct vtep_io *io, struct pkt_pool *pool, struct pkt **pkts,
                          uint32_t max)
{
    struct mmsghdr msgs[VTEP_BATCH];
    struct iovec iov[VTEP_BATCH];
    struct sockaddr_storage from[VTEP_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } control[VTEP_BATCH];
    uint32_t want = max < VTEP_BATCH ? max : VTEP_BATCH;
    uint32_t have = 0, n = 0;

    for (; have < want; have++) {
        struct pkt *p = pkt_pool_get(pool);
        if (!p) {
            break;
        }
        pkts[have] = p;
        iov[have].iov_base = p->data;
        iov[have].iov_len = pkt_pool_data_room(pool);
        memset(&msgs[have], 0, sizeof msgs[have]);
        msgs[have].msg_hdr.msg_iov = &iov[have];
        msgs[have].msg_hdr.msg_iovlen = 1;
        msgs[have].msg_hdr.msg_name = &from[have];
        msgs[have].msg_hdr.msg_namelen = sizeof from[have];
        msgs[have].msg_hdr.msg_control = control[have].buf;
        msgs[have].msg_hdr.msg_controllen = sizeof control[have].buf;
    }
    int r = have ? recvmmsg(io->rx_fd, msgs, have, MSG_DONTWAIT, NULL) : 0;
    uint32_t got = r > 0 ? (uint32_t)r : 0;
    for (uint32_t i = 0; i < got; i++) {
        struct pkt *p = pkts[i];
        if (WEFT_UNLIKELY(!vtep_io_accept(io, &msgs[i].msg_hdr))) {
            io->rx_drops[DROP_VTEP_NOT_LOCAL]++;
            pkt_pool_put(pool, p);
            continue;
        }
        if (WEFT_UNLIKELY(msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
            io->rx_drops[DROP_OVERSIZE]++;
            pkt_pool_put(pool, p);
            continue;
        }
        p->len = msgs[i].msg_len;
        sockaddr_to_ip(&from[i], &p->meta.outer_src);
        pkts[n++] = p;
    }
    for (uint32_t i = got; i < have; i++) {
        pkt_pool_put(pool, pkts[i]);
    }
    return n;
}

uint32_t vtep_io_tx_burst(struct vtep_io *io, struct pkt **pkts, const struct ip_addr *const *dsts,
                          uint32_t n)
{
    struct mmsghdr msgs[VTEP_BATCH];
    struct iovec iov[VTEP_BATCH];
    struct sockaddr_storage to[VTEP_BATCH];
    uint32_t sent = 0;

    for (uint32_t base = 0; base < n; base += VTEP_BATCH) {
        uint32_t count = n - base < VTEP_BATCH ? n - base : VTEP_BATCH;
        for (uint32_t i = 0; i < count; i++) {
            memset(&msgs[i], 0, sizeof msgs[i]);
            iov[i].iov_base = pkts[base + i]->data;
            iov[i].iov_len = pkts[base + i]->len;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &to[i];
            /* Raw sockets take the port as 0: the header already holds it. */
            msgs[i].msg_hdr.msg_namelen = vtep_sockaddr(dsts[base + i], 0, &to[i]);
        }
        uint32_t done = 0;
        while (done < count) {
            int r = sendmmsg(io->tx_fd, msgs + done, count - done, MSG_DONTWAIT);
            if (r <= 0) {
                io->tx_errors++; /* no route, no neighbour, buffer full: skip this one */
                done++;
                continue;
            }
            done += (uint32_t)r;
            sent += (uint32_t)r;
        }
    }
    return sent;
}

int vtep_io_multicast(struct vtep_io *io, const struct ip_addr *group, bool join)
{
    if (ip_addr_is_v4(group)) {
        struct ip_mreqn mreq;
        memset(&mreq, 0, sizeof mreq);
        memcpy(&mreq.imr_multiaddr, group->bytes + 12, 4);
        memcpy(&mreq.imr_address, io->local.bytes + 12, 4);
        return setsockopt(io->rx_fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP,
                          &mreq, sizeof mreq) < 0
                   ? errno
                   : 0;
    }
    struct ipv6_mreq mreq6;
    memset(&mreq6, 0, sizeof mreq6);
    memcpy(&mreq6.ipv6mr_multiaddr, group->bytes, 16);
    return setsockopt(io->rx_fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP,
                      &mreq6, sizeof mreq6) < 0
               ? errno
               : 0;
}
