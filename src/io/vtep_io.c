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
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/offload.h"
#include "core/vxlan.h"
#include "lib/compiler.h"

#define VTEP_BATCH  64
#define VTEP_RCVBUF (8 << 20)
#define VTEP_SNDBUF (8 << 20)
/* Receive: datagrams per recvmmsg(), each with room for a coalesced run. */
#define VTEP_RX_MSGS  32
#define VTEP_GRO_ROOM 65536
/* Send: the outer source ports (49152 + 14 bits of the flow hash) and the
 * most sockets held for them; the flows beyond share one. */
#define VTEP_SPORTS        16384
#define VTEP_MAX_SPORT_FDS 512
#define VTEP_SPORT_SNDBUF  (1 << 20)
#define VTEP_GSO_MAX_SEGS  64 /* the kernel's UDP_MAX_SEGMENTS */
#define VTEP_GSO_MAX_MSGS  4  /* sends per super-frame: 256 segments, 64 KB at MSS 256 */
/* The headers of those segments: VXLAN + the inner frame's through TCP (at most
 * 14 + 8 + 40 + 60, two tags and IPv6 included). */
#define VTEP_GSO_BUF         (VTEP_GSO_MAX_MSGS * VTEP_GSO_MAX_SEGS * (VXLAN_HEADER_LEN + 128))
#define VTEP_UDP_MAX_PAYLOAD 65507 /* 65535 - IPv4 - UDP headers */

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
        if (io->shared_fd >= 0) {
            close(io->shared_fd);
        }
        for (uint32_t i = 0; io->sport_fds && i < VTEP_SPORTS; i++) {
            if (io->sport_fds[i] > 0) {
                close(io->sport_fds[i] - 1);
            }
        }
        free(io->sport_fds);
        free(io->gso_buf);
        free(io->rx_spill);
        free(io->rx_straddle);
        free(io);
    }
}

/* Multicast the raw socket sends (a segment's group) leaves by the interface
 * that holds the VTEP address, whatever the routing table says about groups. */
static int vtep_io_multicast_if(const struct vtep_io *io, int fd)
{
    if (ip_addr_is_v4(&io->local)) {
        struct ip_mreqn mreq;
        memset(&mreq, 0, sizeof mreq);
        memcpy(&mreq.imr_address, io->local.bytes + 12, 4);
        return setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0 ? errno : 0;
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
    return setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0 ? errno
                                                                                         : 0;
}

int vtep_io_open(const struct ip_addr *local, uint16_t port, bool shared, struct vtep_io **out,
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
    io->shared = shared;
    io->tx_fd = -1;
    io->shared_fd = -1;
    io->sport_fds = calloc(VTEP_SPORTS, sizeof *io->sport_fds);
    io->gso_buf = malloc(VTEP_GSO_BUF);
    io->rx_spill = malloc((size_t)VTEP_RX_MSGS * VTEP_GRO_ROOM);
    io->rx_straddle = malloc(VTEP_GRO_ROOM);
    if (!io->sport_fds || !io->gso_buf || !io->rx_spill || !io->rx_straddle) {
        io->rx_fd = -1;
        errno = ENOMEM;
        *error_msg = "out of memory";
        goto fail;
    }
    io->rx_fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (io->rx_fd < 0) {
        *error_msg = "cannot open the VTEP's UDP socket";
        goto fail;
    }
    if (family == AF_INET6) {
        setsockopt(io->rx_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (shared && setsockopt(io->rx_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        *error_msg = "cannot share the VXLAN port between workers (SO_REUSEPORT)";
        goto fail;
    }
    size = VTEP_RCVBUF;
    setsockopt(io->rx_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    /* Each datagram then says how many the socket has dropped so far. */
    setsockopt(io->rx_fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    /* Best effort (Linux 5.0+): runs of datagrams arrive coalesced. */
    setsockopt(io->rx_fd, SOL_UDP, UDP_GRO, &one, sizeof one);
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
    if ((error = vtep_io_multicast_if(io, io->tx_fd))) {
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

/* The gso_size of a coalesced run (UDP_GRO control message), 0 if none. */
static uint32_t vtep_io_gro_size(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int size;
            memcpy(&size, CMSG_DATA(c), sizeof size);
            return size > 0 ? (uint32_t)size : 0;
        }
    }
    return 0;
}

/* Copies len bytes at ofs of a run held in head (room bytes) then spill. */
static void run_copy(uint8_t *dst, const uint8_t *head, uint32_t room, const uint8_t *spill,
                     uint32_t ofs, uint32_t len)
{
    if (ofs < room) {
        uint32_t part = room - ofs < len ? room - ofs : len;
        memcpy(dst, head + ofs, part);
        dst += part;
        ofs += part;
        len -= part;
    }
    memcpy(dst, spill + (ofs - room), len);
}

/* Turns a coalesced run of total bytes (datagrams of size bytes, the last
 * maybe shorter) into frames for the switch, appended to out; returns how many.
 * The datagrams are looked at in place, as views of their inner frames (the one
 * that straddles p's buffer and spill copied to rx_straddle), and merged by
 * software GRO (core/offload.h) where they carry consecutive segments of one TCP
 * flow behind the same VXLAN header: such a run becomes one super-frame in one
 * copy, instead of a buffer per datagram merged again on the way out. What is not
 * merged gets a buffer per datagram; p keeps the first when it stays alone. */
static uint32_t vtep_io_run(struct vtep_io *io, struct pkt_pool *pool, struct pkt *p,
                            const uint8_t *spill, uint32_t total, uint32_t size, struct pkt **out)
{
    struct pkt views[VTEP_IO_GRO_SEGS], *in[VTEP_IO_GRO_SEGS], *frames[VTEP_IO_GRO_SEGS];
    bool merged[VTEP_IO_GRO_SEGS];
    uint32_t room = pkt_pool_data_room(pool), count = 0, n = 0;
    bool same_vxlan = true;

    for (uint32_t ofs = 0; ofs < total && count < VTEP_IO_GRO_SEGS; ofs += size, count++) {
        uint32_t len = total - ofs < size ? total - ofs : size;
        const uint8_t *d = ofs + len <= room ? p->data + ofs : spill + (ofs - room);
        if (ofs < room && ofs + len > room) {
            run_copy(io->rx_straddle, p->data, room, spill, ofs, len);
            d = io->rx_straddle;
        }
        /* The VXLAN header stays in front of each view (merged frames get the first's). */
        views[count] = (struct pkt){.data = (uint8_t *)(uintptr_t)d, .len = len};
        in[count] = &views[count];
        same_vxlan =
            same_vxlan && len > VXLAN_HEADER_LEN && memcmp(d, p->data, VXLAN_HEADER_LEN) == 0;
    }
    uint32_t m = count;
    if (same_vxlan) {
        for (uint32_t i = 0; i < count; i++) {
            pkt_pull(&views[i], VXLAN_HEADER_LEN);
        }
        m = offload_gro(in, count, pool, frames, merged);
        for (uint32_t i = 0; i < count; i++) {
            views[i].data -= VXLAN_HEADER_LEN;
            views[i].len += VXLAN_HEADER_LEN;
        }
    } else {
        memcpy(frames, in, count * sizeof *in);
        memset(merged, 0, count * sizeof *merged);
    }
    for (uint32_t i = 0; i < m; i++) {
        struct pkt *q = frames[i];
        if (merged[i]) {
            uint8_t *vxlan = pkt_push(q, VXLAN_HEADER_LEN); /* a fresh buffer: headroom */
            if (WEFT_UNLIKELY(!vxlan)) {
                io->rx_drops[DROP_NO_HEADROOM]++;
                pkt_pool_put(pool, q);
                continue;
            }
            memcpy(vxlan, p->data, VXLAN_HEADER_LEN);
        } else if (i == 0 && q == in[0]) {
            q = p; /* the first datagram, alone: it stays where it was received */
            q->len = views[0].len;
        } else {
            const struct pkt *view = q;
            q = pkt_pool_get(pool);
            if (WEFT_UNLIKELY(!q)) {
                io->rx_drops[DROP_NO_BUFFER]++;
                continue;
            }
            memcpy(q->data, view->data, view->len);
            q->len = view->len;
        }
        q->meta.outer_src = p->meta.outer_src;
        out[n++] = q;
    }
    if (n == 0 || out[0] != p) {
        pkt_pool_put(pool, p);
    }
    return n;
}

uint32_t vtep_io_rx_burst(struct vtep_io *io, struct pkt_pool *pool, struct pkt **pkts,
                          uint32_t max)
{
    struct mmsghdr msgs[VTEP_RX_MSGS];
    struct iovec iov[VTEP_RX_MSGS][2];
    struct sockaddr_storage from[VTEP_RX_MSGS];
    struct pkt *bufs[VTEP_RX_MSGS];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
                 CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control[VTEP_RX_MSGS];
    uint32_t want = max / VTEP_IO_GRO_SEGS;
    uint32_t room = pkt_pool_data_room(pool);
    uint32_t have = 0, n = 0;

    want = want == 0 ? 1 : want > VTEP_RX_MSGS ? VTEP_RX_MSGS : want;
    for (; have < want; have++) {
        struct pkt *p = pkt_pool_get(pool);
        if (!p) {
            break;
        }
        bufs[have] = p;
        iov[have][0].iov_base = p->data;
        iov[have][0].iov_len = room;
        iov[have][1].iov_base = io->rx_spill + (size_t)have * VTEP_GRO_ROOM;
        iov[have][1].iov_len = VTEP_GRO_ROOM;
        memset(&msgs[have], 0, sizeof msgs[have]);
        msgs[have].msg_hdr.msg_iov = iov[have];
        msgs[have].msg_hdr.msg_iovlen = 2;
        msgs[have].msg_hdr.msg_name = &from[have];
        msgs[have].msg_hdr.msg_namelen = sizeof from[have];
        msgs[have].msg_hdr.msg_control = control[have].buf;
        msgs[have].msg_hdr.msg_controllen = sizeof control[have].buf;
    }
    int r = have ? recvmmsg(io->rx_fd, msgs, have, MSG_DONTWAIT, NULL) : 0;
    uint32_t got = r > 0 ? (uint32_t)r : 0;
    for (uint32_t i = 0; i < got; i++) {
        struct pkt *p = bufs[i];
        struct msghdr *mh = &msgs[i].msg_hdr;
        uint32_t len = msgs[i].msg_len;
        uint32_t size = vtep_io_gro_size(mh);
        if (WEFT_UNLIKELY(!vtep_io_accept(io, mh))) {
            io->rx_drops[DROP_VTEP_NOT_LOCAL]++;
            pkt_pool_put(pool, p);
            continue;
        }
        /* A datagram longer than a buffer (or a run cut short) cannot be passed. */
        if (WEFT_UNLIKELY((mh->msg_flags & MSG_TRUNC) || (len > room && (!size || size > room)))) {
            io->rx_drops[DROP_OVERSIZE]++;
            pkt_pool_put(pool, p);
            continue;
        }
        sockaddr_to_ip(&from[i], &p->meta.outer_src);
        if (size && len > size) {
            n += vtep_io_run(io, pool, p, io->rx_spill + (size_t)i * VTEP_GRO_ROOM, len, size,
                             pkts + n);
            continue;
        }
        p->len = len;
        pkts[n++] = p;
    }
    for (uint32_t i = got; i < have; i++) {
        pkt_pool_put(pool, bufs[i]);
    }
    return n;
}

/* Ordinary datagrams, outer headers built by the core: the raw socket. */
static uint32_t vtep_io_raw_send(struct vtep_io *io, struct pkt **pkts,
                                 const struct ip_addr *const *dsts, uint32_t n)
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

/* A UDP send socket on the VTEP address and port sport (0: ephemeral); -1 if
 * the port is taken. It never receives: a filter drops whatever reaches it. */
static int vtep_io_udp_socket(const struct vtep_io *io, uint16_t sport)
{
    static struct sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_fprog prog = {.len = 1, .filter = drop_all};
    struct sockaddr_storage ss;
    bool v4 = ip_addr_is_v4(&io->local);
    int size = VTEP_SPORT_SNDBUF;
    /* DF set and the device MTU used, as for the raw socket's datagrams. */
    int pmtu = v4 ? IP_PMTUDISC_PROBE : IPV6_PMTUDISC_PROBE;
    int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    int one = 1;

    /* The workers' sets each open a socket for the same flow ports. */
    if ((io->shared && sport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
        bind(fd, (struct sockaddr *)&ss, vtep_sockaddr(&io->local, sport, &ss)) < 0 ||
        vtep_io_multicast_if(io, fd) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (v4) {
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    }
    return fd;
}

/* The socket a super-frame with outer source port sport leaves by. */
static int vtep_io_sport_fd(struct vtep_io *io, uint16_t sport)
{
    int *slot = sport >= VXLAN_SPORT_MIN ? &io->sport_fds[sport - VXLAN_SPORT_MIN] : NULL;

    if (slot && *slot > 0) {
        return *slot - 1;
    }
    if (slot && *slot == 0 && io->n_sport_fds < VTEP_MAX_SPORT_FDS) {
        int fd = vtep_io_udp_socket(io, sport);
        *slot = fd < 0 ? -1 : fd + 1;
        if (fd >= 0) {
            io->n_sport_fds++;
            return fd;
        }
    }
    if (io->shared_fd < 0) {
        /* Tried at most once a second: while the host has no descriptor to
         * spare, a socket() per super-frame would only add to the load. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        if ((uint64_t)ts.tv_sec >= io->shared_fd_retry) {
            io->shared_fd = vtep_io_udp_socket(io, 0);
            io->shared_fd_retry = (uint64_t)ts.tv_sec + 1;
        }
    }
    return io->shared_fd;
}

/* A super-frame (outer headers from the core in front) as UDP GSO sends: each
 * datagram is its VXLAN and inner headers (built in gso_buf) and its payload, read
 * by the kernel where it lies in the frame (scatter-gather, no copy here). */
static bool vtep_io_gso_send(struct vtep_io *io, const struct pkt *p, const struct ip_addr *dst)
{
    uint32_t outer = (p->data[0] >> 4) == 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const uint8_t *udp = p->data + outer;
    const uint8_t *vxlan = udp + UDP_HEADER_LEN;
    uint32_t hdr = outer + UDP_HEADER_LEN + VXLAN_HEADER_LEN;
    uint16_t sport = (uint16_t)(udp[0] << 8 | udp[1]);
    struct iovec iov[2 * VTEP_GSO_MAX_MSGS * VTEP_GSO_MAX_SEGS];
    uint32_t seg_size;
    enum drop_reason reason;

    if (WEFT_UNLIKELY(p->len <= hdr)) {
        return false;
    }
    uint32_t segs = offload_segment_iov(p->data + hdr, p->len - hdr, &p->meta.ol, vxlan,
                                        VXLAN_HEADER_LEN, io->gso_buf, VTEP_GSO_BUF, iov,
                                        sizeof iov / sizeof iov[0], &seg_size, &reason);
    int fd = segs ? vtep_io_sport_fd(io, sport) : -1;
    if (fd < 0) {
        return false;
    }
    /* At most 64 segments and 64 KB per send: a super-frame may take a few. */
    uint32_t per_msg = VTEP_UDP_MAX_PAYLOAD / seg_size;
    per_msg = per_msg > VTEP_GSO_MAX_SEGS ? VTEP_GSO_MAX_SEGS : per_msg;
    struct sockaddr_storage to;
    socklen_t to_len = vtep_sockaddr(dst, io->port, &to);
    struct mmsghdr msgs[VTEP_GSO_MAX_MSGS];
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } control[VTEP_GSO_MAX_MSGS];
    uint32_t n = 0;
    for (uint32_t first = 0; first < segs; first += per_msg, n++) {
        uint32_t count = segs - first < per_msg ? segs - first : per_msg;
        memset(&msgs[n], 0, sizeof msgs[n]);
        msgs[n].msg_hdr.msg_iov = iov + 2 * first;
        msgs[n].msg_hdr.msg_iovlen = 2 * count;
        msgs[n].msg_hdr.msg_name = &to;
        msgs[n].msg_hdr.msg_namelen = to_len;
        msgs[n].msg_hdr.msg_control = control[n].buf;
        msgs[n].msg_hdr.msg_controllen = sizeof control[n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso = (uint16_t)seg_size;
        memcpy(CMSG_DATA(c), &gso, sizeof gso);
    }
    int r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
    io->tx_gso_sends++;
    return r == (int)n;
}

uint32_t vtep_io_tx_burst(struct vtep_io *io, struct pkt **pkts, const struct ip_addr *const *dsts,
                          uint32_t n)
{
    uint32_t sent = 0, start = 0;

    /* In order: the ordinary frames before a super-frame go first. */
    for (uint32_t i = 0; i < n; i++) {
        if (WEFT_LIKELY(!pkts[i]->meta.ol.gso)) {
            continue;
        }
        sent += vtep_io_raw_send(io, pkts + start, dsts + start, i - start);
        if (vtep_io_gso_send(io, pkts[i], dsts[i])) {
            sent++;
        } else {
            io->tx_errors++;
        }
        start = i + 1;
    }
    return sent + vtep_io_raw_send(io, pkts + start, dsts + start, n - start);
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
