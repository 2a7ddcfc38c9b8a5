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
 * The kernel hands this descriptor one frame per read(); offloads (vnet
 * header, super-frames) are left off here, so every frame is complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "io/port_backend.h"
#include "lib/compiler.h"

static int tap_open_mode(const struct port_io_args *args, struct port_io **out,
                         const char **error_msg, const struct port_backend *backend)
{
    struct ifreq ifr;
    struct port_io *io;
    int fd = -1, saved_ns, error;

    if (strlen(args->ifname) == 0 || strlen(args->ifname) >= IF_NAMESIZE) {
        *error_msg = "interface name must be 1 to 15 characters";
        return EINVAL;
    }
    io = calloc(1, sizeof *io);
    if (!io) {
        *error_msg = "out of memory";
        return ENOMEM;
    }
    /* The device is created (or found) in the guest's namespace directly: the
     * descriptor keeps working from ours once we are back. */
    error = port_io_netns_enter(args->netns, &saved_ns);
    if (error) {
        *error_msg = "cannot enter the network namespace (does it exist under /run/netns?)";
        free(io);
        return error;
    }
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *error_msg = "cannot open /dev/net/tun (is the tun module available, are we root?)";
        goto fail;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, args->ifname, IF_NAMESIZE - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        *error_msg = errno == EBUSY ? "TAP device is already held by another process"
                                    : "TUNSETIFF failed: is the name taken by a non-TAP device?";
        goto fail;
    }
    /* Persistent: if weftd stops or crashes the guest keeps its NIC, and the
     * restarted weftd attaches to the same device. */
    if (ioctl(fd, TUNSETPERSIST, 1) < 0 || !port_io_link_up(args->ifname)) {
        *error_msg = "cannot make the TAP device persistent and up";
        goto fail;
    }
    port_io_netns_leave(saved_ns);
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
    free(io);
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

static uint32_t tap_rx_burst(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                             uint32_t max)
{
    uint32_t n = 0;

    while (n < max) {
        struct pkt *p = pkt_pool_get(pool);
        if (WEFT_UNLIKELY(!p)) {
            /* Leave the frame in the device queue: it is read on the next round. */
            break;
        }
        ssize_t len = read(io->fd, p->data, pkt_pool_data_room(pool));
        if (len <= 0) {
            pkt_pool_put(pool, p);
            break;
        }
        p->len = (uint32_t)len;
        pkts[n++] = p;
    }
    return n;
}

static uint32_t tap_tx_burst(struct port_io *io, struct pkt **pkts, uint32_t n)
{
    uint32_t sent = 0;

    for (uint32_t i = 0; i < n; i++) {
        if (write(io->fd, pkts[i]->data, pkts[i]->len) == (ssize_t)pkts[i]->len) {
            sent++;
        } else {
            io->tx_errors++;
        }
    }
    return sent;
}

static void tap_close(struct port_io *io)
{
    if (io) {
        close(io->fd);
        free(io);
    }
}

const struct port_backend port_backend_tap = {
    .name = "tap",
    .help = "TAP device held by weftd: a container's or VM's NIC (move it into the guest)",
    .open = tap_open,
    .destroy = tap_destroy,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .close = tap_close,
};

const struct port_backend port_backend_internal = {
    .name = "internal",
    .help = "TAP device left in the host's namespace: the host's own port on a segment",
    .open = internal_open,
    .destroy = tap_destroy,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .close = tap_close,
};
