/*
 * afpacket.c - the "afpacket" port backend: an existing interface (the host
 * end of a container's veth pair, a QEMU TAP, a physical or VLAN uplink)
 * through an AF_PACKET socket.
 *
 * Receive uses a TPACKET_V3 ring: the kernel fills blocks of frames in
 * shared memory and weftd walks them without a system call per frame.
 * PACKET_VNET_HDR puts a virtio-net header in front of each frame, which says
 * whether the sender left the L4 checksum partial (the veth default, with tx
 * checksum offload on) or handed over a TSO/USO super-frame; both travel
 * through the switch as they are (pkt meta.ol), so guests keep their default
 * offloads on. Transmit uses sendmmsg(), one call per burst, with each frame's
 * virtio-net header: super-frames and partial checksums go to the interface
 * whole (the kernel segments them only if the device cannot take them),
 * bypassing the qdisc layer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/offload.h"
#include "io/port_backend.h"
#include "lib/compiler.h"

#define RING_BLOCK_SIZE (1u << 18) /* holds a 64 KB super-frame several times */
#define RING_BLOCK_NR   16
#define RING_FRAME_SIZE 2048
#define RING_TIMEOUT_MS \
    1 /* a block goes to user space at the latest this long after its first frame */
#define TX_BATCH 64

struct afpacket_io {
    struct port_io io;
    uint8_t *ring;
    size_t ring_size;
    uint32_t block;                  /* block being read */
    uint32_t pkt_left;               /* frames left in it, 0 = not started */
    struct tpacket3_hdr *next_frame; /* next frame in it */
};

static void afpacket_close(struct port_io *io)
{
    struct afpacket_io *af = (struct afpacket_io *)io;

    if (!af) {
        return;
    }
    if (af->ring) {
        munmap(af->ring, af->ring_size);
    }
    if (io->fd >= 0) {
        close(io->fd);
    }
    free(af);
}

static int afpacket_open(const struct port_io_args *args, struct port_io **out,
                         const char **error_msg)
{
    struct afpacket_io *af = calloc(1, sizeof *af);
    int one = 1, version = TPACKET_V3, error, saved_ns;

    if (!af) {
        *error_msg = "out of memory";
        return ENOMEM;
    }
    af->io.backend = &port_backend_afpacket;
    af->io.mode = "tpacket-v3";
    af->io.offloads = true;
    af->io.fd = -1;
    strncpy(af->io.ifname, args->ifname, IF_NAMESIZE - 1);
    /* A socket belongs to the namespace it is made in, wherever it is used from. */
    error = port_io_netns_enter(args->netns, &saved_ns);
    if (error) {
        *error_msg = "cannot enter the network namespace (does it exist under /run/netns?)";
        free(af);
        return error;
    }
    af->io.fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    int ifindex = af->io.fd < 0 ? 0 : port_io_link_up(args->ifname);
    port_io_netns_leave(saved_ns);
    if (af->io.fd < 0) {
        *error_msg = "cannot open an AF_PACKET socket (are we root?)";
        goto fail;
    }
    if (!ifindex) {
        *error_msg = "no such interface, or it cannot be brought up";
        goto fail;
    }
    struct tpacket_req3 req = {
        .tp_block_size = RING_BLOCK_SIZE,
        .tp_block_nr = RING_BLOCK_NR,
        .tp_frame_size = RING_FRAME_SIZE,
        .tp_frame_nr = RING_BLOCK_SIZE / RING_FRAME_SIZE * RING_BLOCK_NR,
        .tp_retire_blk_tov = RING_TIMEOUT_MS,
    };
    /* The vnet header option must precede the ring; the ring must precede bind. */
    if (setsockopt(af->io.fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0 ||
        setsockopt(af->io.fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
        setsockopt(af->io.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        *error_msg = "cannot set up the TPACKET_V3 ring with vnet headers";
        goto fail;
    }
    /* Best effort: frames weftd sends must not come back to it, and skipping the
     * qdisc saves a lock per frame; older kernels lack the options. */
    setsockopt(af->io.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    setsockopt(af->io.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    af->ring_size = (size_t)RING_BLOCK_SIZE * RING_BLOCK_NR;
    af->ring = mmap(NULL, af->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, af->io.fd, 0);
    if (af->ring == MAP_FAILED) {
        af->ring = NULL;
        *error_msg = "cannot map the packet ring";
        goto fail;
    }
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ALL),
        .sll_ifindex = ifindex,
    };
    if (bind(af->io.fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        *error_msg = "cannot bind the AF_PACKET socket to the interface";
        goto fail;
    }
    /* A switch port takes every frame, not only those to the interface's MAC;
     * the membership is dropped by the kernel when the socket closes. */
    struct packet_mreq mreq = {.mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC};
    if (setsockopt(af->io.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
        *error_msg = "cannot make the interface promiscuous";
        goto fail;
    }
    *out = &af->io;
    return 0;

fail:
    error = errno ? errno : EINVAL;
    afpacket_close(&af->io);
    return error;
}

static struct tpacket_block_desc *afpacket_block(struct afpacket_io *af, uint32_t i)
{
    return (struct tpacket_block_desc *)(af->ring + (size_t)i * RING_BLOCK_SIZE);
}

/* Turns one ring frame into a switch frame; false when it is dropped. */
static bool afpacket_take(struct afpacket_io *af, const struct tpacket3_hdr *h,
                          struct pkt_pool *pool, struct pkt **out)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    const struct virtio_net_hdr *vh =
        (const struct virtio_net_hdr *)(frame - sizeof(struct virtio_net_hdr));
    uint32_t len = h->tp_snaplen;

    if (WEFT_UNLIKELY(h->tp_snaplen < h->tp_len)) {
        af->io.rx_drops[DROP_OVERSIZE]++; /* cut short by the ring: never pass a partial frame */
        return false;
    }
    struct pkt *p = pkt_pool_copy_in(pool, frame, len);
    if (WEFT_UNLIKELY(!p)) {
        af->io.rx_drops[len > pkt_pool_data_room(pool) && len > pkt_pool_large_room(pool)
                            ? DROP_OVERSIZE
                            : DROP_NO_BUFFER]++;
        return false;
    }
    if (WEFT_UNLIKELY(vh->flags || vh->gso_type != VIRTIO_NET_HDR_GSO_NONE)) {
        enum drop_reason reason = offload_from_vnet(vh, &p->meta.ol);
        if (WEFT_UNLIKELY(reason != DROP_NONE)) {
            af->io.rx_drops[reason]++;
            pkt_pool_put(pool, p);
            return false;
        }
    }
    *out = p;
    return true;
}

static uint32_t afpacket_rx_burst(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                                  uint32_t max)
{
    struct afpacket_io *af = (struct afpacket_io *)io;
    uint32_t n = 0;

    while (n < max) {
        struct tpacket_block_desc *bd = afpacket_block(af, af->block);
        if (af->pkt_left == 0) {
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
                break;
            }
            af->pkt_left = bd->hdr.bh1.num_pkts;
            af->next_frame =
                (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
        }
        while (af->pkt_left && n < max) {
            const struct tpacket3_hdr *h = af->next_frame;
            n += afpacket_take(af, h, pool, &pkts[n]);
            af->next_frame = (struct tpacket3_hdr *)((uint8_t *)af->next_frame + h->tp_next_offset);
            af->pkt_left--;
        }
        if (af->pkt_left == 0) {
            /* Block done: give it back to the kernel and move to the next one. */
            __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
            af->block = (af->block + 1) % RING_BLOCK_NR;
        }
    }
    return n;
}

static uint32_t afpacket_tx_burst(struct port_io *io, struct pkt **pkts, uint32_t n)
{
    struct virtio_net_hdr vh[TX_BATCH];
    struct mmsghdr msgs[TX_BATCH];
    struct iovec iov[TX_BATCH][2];
    uint32_t sent = 0;

    for (uint32_t base = 0; base < n; base += TX_BATCH) {
        uint32_t count = n - base < TX_BATCH ? n - base : TX_BATCH;
        memset(msgs, 0, count * sizeof msgs[0]);
        for (uint32_t i = 0; i < count; i++) {
            const struct offload_info *ol = &pkts[base + i]->meta.ol;
            offload_to_vnet(ol, pkts[base + i]->data, pkts[base + i]->len, &vh[i]);
            iov[i][0].iov_base = &vh[i];
            iov[i][0].iov_len = sizeof vh[i];
            iov[i][1].iov_base = pkts[base + i]->data;
            iov[i][1].iov_len = pkts[base + i]->len;
            msgs[i].msg_hdr.msg_iov = iov[i];
            msgs[i].msg_hdr.msg_iovlen = 2;
        }
        uint32_t done = 0;
        while (done < count) {
            int r = sendmmsg(io->fd, msgs + done, count - done, MSG_DONTWAIT);
            if (r <= 0) {
                /* The frame at done was refused (queue full, link down): count it, go on. */
                io->tx_errors++;
                done++;
                continue;
            }
            done += (uint32_t)r;
            sent += (uint32_t)r;
        }
    }
    return sent;
}

static void afpacket_poll_stats(struct port_io *io)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;

    /* Reading the statistics resets them in the kernel: add, never assign. */
    if (getsockopt(io->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        io->rx_drops[DROP_RING_OVERFLOW] += st.tp_drops;
    }
}

const struct port_backend port_backend_afpacket = {
    .name = "afpacket",
    .help = "existing interface via AF_PACKET (TPACKET_V3 ring): a container's veth, a QEMU "
            "TAP, an uplink",
    .open = afpacket_open,
    .destroy = NULL,
    .rx_burst = afpacket_rx_burst,
    .tx_burst = afpacket_tx_burst,
    .close = afpacket_close,
    .poll_stats = afpacket_poll_stats,
};
