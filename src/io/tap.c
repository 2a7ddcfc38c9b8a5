/*
 * tap.c - the "tap" and "internal" port backends: a TAP device whose file
 * descriptor weftd holds. Frames the device's network stack sends arrive on
 * the descriptor; frames written to it arrive in that stack.
 *
 *   tap       a guest's NIC: move the device into a container's namespace, or
 *             let a VM's stack own it (for QEMU/libvirt, which open the TAP
 *             themselves, attach their TAP with the afpacket backend instead);
 *   internal  the host's own port on a segment (as an ESXi VMkernel port):
 *             the device stays in the host namespace and gets its address.
 *
 * The device is created if absent, or attached to if it exists and is free
 * (a persistent TAP made with `ip tuntap add mode tap`, or one weftd made
 * before a restart), inside the port's network namespace when one is given.
 * The descriptor carries a virtio-net header in front of every frame
 * (IFF_VNET_HDR) and the device offers the guest checksum offload and TSO
 * (TUNSETOFFLOAD, plus USO where the kernel has it): the guest hands over 64 KB
 * super-frames with partial checksums, which travel through the switch whole
 * (pkt meta.ol), and receives them the same way, one read() or write() per
 * super-frame instead of one per 1500 bytes.
 *
 * When weftd falls behind, the kernel drops what the guest sends at the TAP's
 * queue and counts it as the device's tx_dropped, which only the device's
 * namespace shows. So each TAP descriptor keeps a netlink socket made in that
 * namespace, and once a second (poll_stats, on a port's first queue) asks for
 * the device's counters and adds what tx_dropped grew by to the port's
 * ring_overflow drops.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/offload.h"
#include "io/port_backend.h"
#include "lib/compiler.h"

/* Debian 12's headers lack the USO flags; the kernel refuses USO4 without USO6. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#define TAP_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

/* Offers the guest the offloads weftd handles; false when the kernel takes none. */
static bool tap_offload(int fd)
{
    return ioctl(fd, TUNSETOFFLOAD, TAP_OFFLOADS | TUN_F_USO4 | TUN_F_USO6) == 0 ||
           ioctl(fd, TUNSETOFFLOAD, TAP_OFFLOADS) == 0;
}

/* A TAP port: the generic part first (port_backend.h), then what counts its
 * device's queue drops. */
struct tap_io {
    struct port_io io;
    int nl_fd;            /* NETLINK_ROUTE in the device's namespace, or -1 */
    int ifindex;          /* the device's index there */
    uint64_t tx_dropped;  /* the device's count when last read */
    bool tx_dropped_read; /* whether it was read (the first read is the baseline) */
};

static bool tap_read_tx_dropped(struct tap_io *t, uint64_t *tx_dropped);

/* In the device's namespace, at open: the netlink socket that polls its
 * counters (a netlink socket answers for the namespace it was made in), with a
 * short receive timeout so that a silent kernel cannot stall weftd, and the
 * drops so far as the baseline (a previous weftd counted those). */
static void tap_stats_open(struct tap_io *t, const char *ifname)
{
    struct timeval timeout = {.tv_sec = 0, .tv_usec = 100000};

    t->ifindex = (int)if_nametoindex(ifname);
    t->nl_fd = t->ifindex > 0 ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) : -1;
    if (t->nl_fd >= 0) {
        setsockopt(t->nl_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        t->tx_dropped_read = tap_read_tx_dropped(t, &t->tx_dropped);
    }
}

static int tap_open_mode(const struct port_io_args *args, struct port_io **out,
                         const char **error_msg, const struct port_backend *backend)
{
    struct ifreq ifr;
    struct tap_io *t;
    struct port_io *io;
    int fd = -1, saved_ns, error;

    if (strlen(args->ifname) == 0 || strlen(args->ifname) >= IF_NAMESIZE) {
        *error_msg = "interface name must be 1 to 15 characters";
        return EINVAL;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        *error_msg = "out of memory";
        return ENOMEM;
    }
    io = &t->io;
    t->nl_fd = -1;
    /* The device is created (or found) in the guest's namespace directly: the
     * descriptor keeps working from ours once we are back. */
    error = port_io_netns_enter(args->netns, &saved_ns);
    if (error) {
        *error_msg = "cannot enter the network namespace (does it exist under /run/netns?)";
        free(t);
        return error;
    }
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *error_msg = "cannot open /dev/net/tun (is the tun module available, are we root?)";
        goto fail;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (args->multi_queue ? IFF_MULTI_QUEUE : 0);
    strncpy(ifr.ifr_name, args->ifname, IF_NAMESIZE - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        *error_msg = errno == EBUSY ? "TAP device is already held by another process"
                     : errno == EINVAL && args->multi_queue
                         ? "the TAP device exists single-queue"
                         : "TUNSETIFF failed: is the name taken by a non-TAP device?";
        goto fail;
    }
    /* Persistent: if weftd stops or crashes the guest keeps its NIC, and the
     * restarted weftd attaches to the same device. */
    if (ioctl(fd, TUNSETPERSIST, 1) < 0 || !port_io_link_up(args->ifname)) {
        *error_msg = "cannot make the TAP device persistent and up";
        goto fail;
    }
    tap_stats_open(t, args->ifname);
    port_io_netns_leave(saved_ns);
    io->offloads = tap_offload(fd);
    io->backend = backend;
    io->fd = fd;
    io->mode = "tap";
    strncpy(io->ifname, args->ifname, IF_NAMESIZE - 1);
    *out = io;
    return 0;

fail:
    error = errno ? errno : EINVAL;
    if (fd >= 0) {
        close(fd);
    }
    port_io_netns_leave(saved_ns);
    free(t);
    return error;
}

static int tap_open(const struct port_io_args *args, struct port_io **io, const char **error_msg)
{
    return tap_open_mode(args, io, error_msg, &port_backend_tap);
}

static int internal_open(const struct port_io_args *args, struct port_io **io,
                         const char **error_msg)
{
    if (args->netns && *args->netns) {
        *error_msg = "an internal port belongs to the host's namespace; use a tap port for a guest";
        return EINVAL;
    }
    return tap_open_mode(args, io, error_msg, &port_backend_internal);
}

/* Port deleted: the device goes with it. */
static void tap_destroy(struct port_io *io)
{
    ioctl(io->fd, TUNSETPERSIST, 0);
}

/* Turns a frame read with its virtio-net header into a switch frame in p. */
static bool tap_take(struct port_io *io, struct pkt *p, const struct virtio_net_hdr *vh)
{
    enum drop_reason reason = offload_from_vnet(vh, &p->meta.ol);

    if (WEFT_UNLIKELY(reason != DROP_NONE)) {
        io->rx_drops[reason]++;
        return false;
    }
    if (WEFT_UNLIKELY(p->meta.ol.needs_csum && !io->offloads)) {
        /* The device offered no offloads, yet the frame is partial: finish it here. */
        reason = offload_csum_complete(p->data, p->len, vh->csum_start, vh->csum_offset);
        p->meta.ol.needs_csum = false;
        if (reason != DROP_NONE) {
            io->rx_drops[reason]++;
            return false;
        }
    }
    return true;
}

/* Frames are read into a large buffer (a super-frame needs one); a frame that
 * fits an ordinary buffer is copied into one so the large buffer serves the
 * next read. */
static uint32_t tap_rx_burst(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                             uint32_t max)
{
    struct pkt *big = pkt_pool_get_large(pool);
    uint32_t n = 0;

    while (n < max) {
        struct virtio_net_hdr vh;
        struct pkt *p = big ? big : pkt_pool_get(pool);
        if (WEFT_UNLIKELY(!p)) {
            /* Leave the frame in the device queue: it is read on the next round. */
            break;
        }
        uint32_t room = big ? pkt_pool_large_room(pool) : pkt_pool_data_room(pool);
        struct iovec iov[2] = {{&vh, sizeof vh}, {p->data, room}};
        ssize_t len = readv(io->fd, iov, 2);
        if (len <= (ssize_t)sizeof vh) {
            if (p != big) {
                pkt_pool_put(pool, p);
            }
            break;
        }
        p->len = (uint32_t)len - (uint32_t)sizeof vh;
        if (WEFT_UNLIKELY(p->len == room)) {
            io->rx_drops[DROP_OVERSIZE]++; /* possibly cut short: never pass a partial frame */
            if (p != big) {
                pkt_pool_put(pool, p);
            }
            continue;
        }
        if (p == big && p->len <= pkt_pool_data_room(pool)) {
            p = pkt_pool_copy_in(pool, big->data, big->len);
            if (!p) {
                io->rx_drops[DROP_NO_BUFFER]++;
                continue;
            }
        } else if (p == big) {
            big = pkt_pool_get_large(pool);
        }
        if (WEFT_UNLIKELY(!tap_take(io, p, &vh))) {
            pkt_pool_put(pool, p);
            continue;
        }
        pkts[n++] = p;
    }
    if (big) {
        pkt_pool_put(pool, big);
    }
    return n;
}

static uint32_t tap_tx_burst(struct port_io *io, struct pkt **pkts, uint32_t n)
{
    uint32_t sent = 0;

    for (uint32_t i = 0; i < n; i++) {
        struct pkt *p = pkts[i];
        struct virtio_net_hdr vh;
        offload_to_vnet(&p->meta.ol, p->data, p->len, &vh);
        struct iovec iov[2] = {{&vh, sizeof vh}, {p->data, p->len}};
        if (writev(io->fd, iov, 2) == (ssize_t)(sizeof vh + p->len)) {
            sent++;
        } else {
            io->tx_errors++;
        }
    }
    return sent;
}

static void tap_close(struct port_io *io)
{
    struct tap_io *t = (struct tap_io *)io;

    if (t) {
        close(io->fd);
        if (t->nl_fd >= 0) {
            close(t->nl_fd);
        }
        free(t);
    }
}

/* The device's tx_dropped (frames its stack sent that the TAP's queue had no
 * room for), asked of the kernel over netlink; false if it cannot be had. */
static bool tap_read_tx_dropped(struct tap_io *t, uint64_t *tx_dropped)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = {
        .nh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST},
        .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = t->ifindex}};
    union {
        struct nlmsghdr nh;
        char buf[16384];
    } reply;

    if (send(t->nl_fd, &req, sizeof req, 0) != (ssize_t)sizeof req) {
        return false;
    }
    ssize_t len = recv(t->nl_fd, &reply, sizeof reply, 0);
    if (len < (ssize_t)NLMSG_LENGTH(sizeof(struct ifinfomsg)) || !NLMSG_OK(&reply.nh, len) ||
        reply.nh.nlmsg_type != RTM_NEWLINK) {
        return false;
    }
    struct ifinfomsg *ifi = NLMSG_DATA(&reply.nh);
    int attrs_len = (int)IFLA_PAYLOAD(&reply.nh);
    for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, attrs_len); a = RTA_NEXT(a, attrs_len)) {
        if (a->rta_type == IFLA_STATS64 && RTA_PAYLOAD(a) >= sizeof(struct rtnl_link_stats64)) {
            struct rtnl_link_stats64 st;
            memcpy(&st, RTA_DATA(a), sizeof st);
            *tx_dropped = st.tx_dropped;
            return true;
        }
    }
    return false;
}

/* Once a second: the device's queue drops since the last look become the
 * port's ring_overflow. */
static void tap_poll_stats(struct port_io *io)
{
    struct tap_io *t = (struct tap_io *)io;
    uint64_t now;

    if (t->nl_fd < 0 || !tap_read_tx_dropped(t, &now)) {
        return;
    }
    if (t->tx_dropped_read && now > t->tx_dropped) {
        io->rx_drops[DROP_RING_OVERFLOW] += now - t->tx_dropped;
    }
    t->tx_dropped = now;
    t->tx_dropped_read = true;
}

const struct port_backend port_backend_tap = {
    .name = "tap",
    .help = "TAP device held by weftd: a container's or VM's NIC (move it into the guest)",
    .open = tap_open,
    .destroy = tap_destroy,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .close = tap_close,
    .poll_stats = tap_poll_stats,
};

const struct port_backend port_backend_internal = {
    .name = "internal",
    .help = "TAP device left in the host's namespace: the host's own port on a segment",
    .open = internal_open,
    .destroy = tap_destroy,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .close = tap_close,
    .poll_stats = tap_poll_stats,
};
