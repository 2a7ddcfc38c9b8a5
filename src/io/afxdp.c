/*
 * afxdp.c - the "afxdp" port backend (an existing interface through an AF_XDP
 * socket) and the "auto" backend (AF_XDP where it binds, TPACKET_V3 where not).
 *
 * One XSK socket on receive queue 0 shares a UMEM of 4 KB frames with the
 * kernel: the first half feeds the fill ring (receive), the second half is
 * weftd's own for transmit. Our XDP program (bpf/xsk_redirect.bpf.c, embedded
 * at build time) redirects every frame to the socket. It is attached through a
 * BPF link, so no bpffs is needed and the kernel detaches it when the link's
 * descriptor closes, also when weftd dies without cleaning up. Attach tries
 * native (driver) mode first, then generic (SKB) mode; bind tries zero-copy
 * where native mode runs, then copy mode, and retries for a while on EBUSY (a
 * socket closed a moment ago still holds the queue).
 *
 * AF_XDP carries no offload metadata. Two consequences, both handled here:
 * * A veth peer with tx checksum offload (the default) sends frames whose L4
 *   checksum is only partial; every received TCP/UDP frame is checked and
 *   completed where it is partial (xsk_csum.h).
 * * A TSO/GSO super-frame cannot be told apart from a frame too big for one
 *   4 KB chunk, and the kernel drops it. In native mode on a veth the kernel
 *   turns segmentation offload off on the peer itself; generic mode gives no
 *   such guarantee, so "auto" takes native mode only and otherwise runs
 *   TPACKET_V3, which carries super-frames whole with their vnet header.
 *
 * Threaded NAPI: in native mode the XDP program runs in the interface's NAPI
 * poll; switching /sys/class/net/IF/threaded on lets the scheduler put that
 * work on another core than the sender's. It is restored at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "io/port_backend.h"
#include "io/xsk_csum.h"
#include "lib/compiler.h"
#include "lib/log.h"

#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE /* 4096 */
#define RX_FRAMES  2048
#define TX_FRAMES  2048
#define NUM_FRAMES (RX_FRAMES + TX_FRAMES)
/* The largest frame one chunk holds (the kernel keeps XDP_PACKET_HEADROOM in
 * front of it in copy mode), and the MTU that leaves room for two VLAN tags. */
#define MAX_FRAME      (FRAME_SIZE - XDP_PACKET_HEADROOM)
#define MAX_MTU        (MAX_FRAME - 14 - 8)
#define BIND_RETRY_MS  2000
#define BIND_RETRY_GAP 20
/* sendto() in copy mode sends a limited batch and says EAGAIN for the rest. */
#define TX_KICKS 8

/* The embedded BPF object (built by src/io/meson.build from bpf/xsk_redirect.bpf.c). */
extern const unsigned char weft_xsk_redirect_obj[];
extern const unsigned long weft_xsk_redirect_obj_len;

struct afxdp_io {
    struct port_io io;
    char netns[PATH_MAX]; /* where the interface lives, to detach from there */
    int ifindex;
    uint8_t *area; /* the UMEM */
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    struct bpf_object *obj;
    int link_fd;
    uint64_t tx_free[TX_FRAMES]; /* transmit chunks not in the kernel's hands */
    uint32_t n_tx_free;
    struct xdp_statistics seen; /* the kernel's counters are cumulative */
    char threaded_saved;        /* '0' when we switched threaded NAPI on, else 0 */
};

/* libbpf and libxdp print their own diagnostics; ours say what failed, so
 * theirs are kept for --log-level debug. */
static int afxdp_lib_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[512];

    (void)level;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("libbpf: %s", line);
    return 0;
}

static int afxdp_xdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    return afxdp_lib_print((enum libbpf_print_level)level, fmt, ap);
}

/* Receive queues of the interface (ETHTOOL_GCHANNELS); 1 where it does not say. */
static unsigned afxdp_rx_queues(int fd, const char *ifname)
{
    struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
    struct ifreq ifr = {0};

    strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
    ifr.ifr_data = (void *)&ch;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
        return 1;
    }
    unsigned n = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
    return n ? n : 1;
}

static int afxdp_mtu(int fd, const char *ifname)
{
    struct ifreq ifr = {0};

    strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
    return ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -1 : ifr.ifr_mtu;
}

/* Reads or writes /sys/class/net/IF/threaded; weftd's own namespace only (sysfs
 * shows the namespace it was mounted in). Returns the old value or 0. */
static char afxdp_threaded(const char *ifname, char value)
{
    char path[64], old = 0;

    snprintf(path, sizeof path, "/sys/class/net/%s/threaded", ifname);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    if (read(fd, &old, 1) != 1 || (value && pwrite(fd, &value, 1, 0) != 1)) {
        old = 0;
    }
    close(fd);
    return old;
}

static void afxdp_close(struct port_io *io)
{
    struct afxdp_io *x = (struct afxdp_io *)io;
    int saved_ns;

    if (!x) {
        return;
    }
    if (x->threaded_saved) {
        afxdp_threaded(io->ifname, x->threaded_saved);
    }
    if (x->xsk) {
        xsk_socket__delete(x->xsk);
    }
    if (x->umem) {
        xsk_umem__delete(x->umem);
    }
    /* Closing the link detaches the program; in the interface's namespace in
     * case the kernel needs it there (it does not today, but costs nothing). */
    if (x->link_fd >= 0) {
        int err = port_io_netns_enter(x->netns, &saved_ns);
        close(x->link_fd);
        if (!err) {
            port_io_netns_leave(saved_ns);
        }
    }
    bpf_object__close(x->obj);
    if (x->area) {
        munmap(x->area, (size_t)NUM_FRAMES * FRAME_SIZE);
    }
    free(x);
}

/* Attaches the program natively, else generically; *flags says how. */
static int afxdp_attach(struct afxdp_io *x, bool native_only, uint32_t *flags, const char **why)
{
    struct bpf_program *prog;
    int err;

    x->obj = bpf_object__open_mem(weft_xsk_redirect_obj, weft_xsk_redirect_obj_len, NULL);
    if (!x->obj) {
        *why = "cannot open the embedded XDP program";
        return errno ? errno : EINVAL;
    }
    if ((err = bpf_object__load(x->obj)) != 0) {
        *why = "the kernel refused to load the XDP program (BPF not permitted?)";
        return -err;
    }
    prog = bpf_object__find_program_by_name(x->obj, "weft_xsk");
    if (!prog) {
        *why = "the embedded object has no XDP program weft_xsk";
        return ENOENT;
    }
    static const uint32_t modes[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
    for (unsigned i = 0; i < (native_only ? 1u : 2u); i++) {
        LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = modes[i]);
        x->link_fd = bpf_link_create(bpf_program__fd(prog), x->ifindex, BPF_XDP, &opts);
        if (x->link_fd >= 0) {
            *flags = modes[i];
            return 0;
        }
        err = errno;
        if (err == EBUSY || err == EEXIST) {
            *why = "another XDP program is attached to the interface (one per interface)";
            return err;
        }
    }
    *why = native_only ? "the driver has no native XDP mode here (veth MTU above ~3.5 KB?)"
                       : "cannot attach the XDP program, natively or generically";
    return err;
}

/* A fresh UMEM and socket on queue 0, zero-copy first where native; EBUSY retried. */
static int afxdp_bind(struct afxdp_io *x, uint32_t xdp_flags, bool *zerocopy, const char **why)
{
    const struct xsk_umem_config ucfg = {
        .fill_size = RX_FRAMES,
        .comp_size = TX_FRAMES,
        .frame_size = FRAME_SIZE,
        .frame_headroom = 0,
        .flags = 0,
    };
    int err = 0;

    for (int zc = xdp_flags == XDP_FLAGS_DRV_MODE; zc >= 0; zc--) {
        const struct xsk_socket_config scfg = {
            .rx_size = RX_FRAMES,
            .tx_size = TX_FRAMES,
            .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
            .xdp_flags = xdp_flags,
            .bind_flags = (uint16_t)((zc ? XDP_ZEROCOPY : XDP_COPY) | XDP_USE_NEED_WAKEUP),
        };
        for (int waited = 0;; waited += BIND_RETRY_GAP) {
            err = -xsk_umem__create(&x->umem, x->area, (uint64_t)NUM_FRAMES * FRAME_SIZE, &x->fill,
                                    &x->comp, &ucfg);
            if (err) {
                x->umem = NULL;
                *why = "cannot register the UMEM (locked memory limit?)";
                return err;
            }
            err = -xsk_socket__create(&x->xsk, x->io.ifname, 0, x->umem, &x->rx, &x->tx, &scfg);
            if (!err) {
                *zerocopy = zc;
                return 0;
            }
            x->xsk = NULL;
            xsk_umem__delete(x->umem);
            x->umem = NULL;
            if (err != EBUSY || waited >= BIND_RETRY_MS) {
                break;
            }
            nanosleep(&(struct timespec){.tv_nsec = BIND_RETRY_GAP * 1000000L}, NULL);
        }
    }
    *why = err == EBUSY ? "the queue's AF_XDP socket is still in use"
                        : "cannot bind an AF_XDP socket to queue 0";
    return err;
}

/* Opens the backend; native_only for "auto" (see the comment at the top). */
static int afxdp_open_mode(const struct port_io_args *args, bool native_only, struct port_io **out,
                           const char **why)
{
    struct afxdp_io *x = calloc(1, sizeof *x);
    uint32_t xdp_flags = 0;
    bool zerocopy = false;
    int err, saved_ns, fd = -1;

    if (args->shared_tx) { /* "auto" then takes TPACKET_V3, giving this reason */
        *why = "AF_XDP rings have one producer: run weftd with --workers 1";
        free(x);
        return ENOTSUP;
    }
    if (!x) {
        *why = "out of memory";
        return ENOMEM;
    }
    x->io.backend = &port_backend_afxdp;
    x->io.fd = -1;
    x->link_fd = -1;
    strncpy(x->io.ifname, args->ifname, IF_NAMESIZE - 1);
    snprintf(x->netns, sizeof x->netns, "%s", args->netns ? args->netns : "");
    libbpf_set_print(afxdp_lib_print);
    libxdp_set_print(afxdp_xdp_print);
    if ((err = port_io_netns_enter(args->netns, &saved_ns)) != 0) {
        *why = "cannot enter the network namespace (does it exist under /run/netns?)";
        free(x);
        return err;
    }
    x->ifindex = port_io_link_up(args->ifname);
    if (!x->ifindex) {
        err = errno ? errno : ENODEV;
        *why = "no such interface, or it cannot be brought up";
        goto done;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unsigned queues = fd < 0 ? 1 : afxdp_rx_queues(fd, args->ifname);
    int mtu = fd < 0 ? -1 : afxdp_mtu(fd, args->ifname);
    if (queues > 1) {
        err = EOPNOTSUPP;
        *why = "the interface has several receive queues (AF_XDP serves queue 0 only)";
        goto done;
    }
    if (mtu > MAX_MTU) {
        err = EMSGSIZE;
        *why = "the interface's MTU is above what one 4 KB AF_XDP frame holds";
        goto done;
    }
    x->area = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x->area == MAP_FAILED) {
        x->area = NULL;
        err = errno;
        *why = "cannot map the UMEM";
        goto done;
    }
    if ((err = afxdp_attach(x, native_only, &xdp_flags, why)) ||
        (err = afxdp_bind(x, xdp_flags, &zerocopy, why))) {
        goto done;
    }
    x->io.fd = xsk_socket__fd(x->xsk);
    if ((err = -xsk_socket__update_xskmap(
             x->xsk, bpf_map__fd(bpf_object__find_map_by_name(x->obj, "weft_xsks"))))) {
        *why = "cannot put the socket in the XDP program's map";
        goto done;
    }
    uint32_t idx;
    if (xsk_ring_prod__reserve(&x->fill, RX_FRAMES, &idx) != RX_FRAMES) {
        err = ENOBUFS;
        *why = "cannot fill the fill ring";
        goto done;
    }
    for (uint32_t i = 0; i < RX_FRAMES; i++) {
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * FRAME_SIZE;
    }
    xsk_ring_prod__submit(&x->fill, RX_FRAMES);
    for (uint32_t i = 0; i < TX_FRAMES; i++) {
        x->tx_free[i] = (uint64_t)(RX_FRAMES + i) * FRAME_SIZE;
    }
    x->n_tx_free = TX_FRAMES;
    if (xdp_flags == XDP_FLAGS_DRV_MODE && !x->netns[0] && afxdp_threaded(args->ifname, 0) == '0') {
        x->threaded_saved = afxdp_threaded(args->ifname, '1');
    }
    x->io.mode = xdp_flags == XDP_FLAGS_SKB_MODE ? "afxdp-generic-copy"
                 : zerocopy                      ? "afxdp-native-zerocopy"
                                                 : "afxdp-native-copy";
done:
    if (fd >= 0) {
        close(fd);
    }
    port_io_netns_leave(saved_ns);
    if (err) {
        x->io.fd = -1;
        afxdp_close(&x->io);
        return err;
    }
    *out = &x->io;
    return 0;
}

static int afxdp_open(const struct port_io_args *args, struct port_io **out, const char **why)
{
    return afxdp_open_mode(args, false, out, why);
}

/* Gives n chunks back to the fill ring; there is always room, as every rx
 * chunk is either in the fill ring, in the rx ring or in our hands. */
static void afxdp_refill(struct afxdp_io *x, const uint64_t *addrs, uint32_t n)
{
    uint32_t idx;

    if (WEFT_UNLIKELY(xsk_ring_prod__reserve(&x->fill, n, &idx) != n)) {
        abort(); /* a broken invariant: chunks would leak */
    }
    for (uint32_t i = 0; i < n; i++) {
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
    }
    xsk_ring_prod__submit(&x->fill, n);
    if (xsk_ring_prod__needs_wakeup(&x->fill)) {
        recvfrom(x->io.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
}

static uint32_t afxdp_rx_burst(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                               uint32_t max)
{
    struct afxdp_io *x = (struct afxdp_io *)io;
    uint64_t addrs[256];
    uint32_t idx, n = 0;

    if (max > 256) {
        max = 256;
    }
    uint32_t got = xsk_ring_cons__peek(&x->rx, max, &idx);
    for (uint32_t i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        addrs[i] = xsk_umem__extract_addr(d->addr);
        struct pkt *p = pkt_pool_copy_in(pool, xsk_umem__get_data(x->area, d->addr), d->len);
        if (WEFT_UNLIKELY(!p)) {
            io->rx_drops[d->len > pkt_pool_data_room(pool) ? DROP_OVERSIZE : DROP_NO_BUFFER]++;
            continue;
        }
        xsk_csum_fixup(p->data, p->len);
        pkts[n++] = p;
    }
    if (got) {
        xsk_ring_cons__release(&x->rx, got);
        afxdp_refill(x, addrs, got);
    }
    return n;
}

/* Takes back the transmit chunks the kernel is done with. */
static void afxdp_complete(struct afxdp_io *x)
{
    uint32_t idx, n = xsk_ring_cons__peek(&x->comp, TX_FRAMES, &idx);

    for (uint32_t i = 0; i < n; i++) {
        x->tx_free[x->n_tx_free++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
    }
    if (n) {
        xsk_ring_cons__release(&x->comp, n);
    }
}

static uint32_t afxdp_tx_burst(struct port_io *io, struct pkt **pkts, uint32_t n)
{
    struct afxdp_io *x = (struct afxdp_io *)io;
    uint32_t idx, fit = 0, queued = 0;

    afxdp_complete(x);
    for (uint32_t i = 0; i < n; i++) {
        fit += pkts[i]->len <= MAX_FRAME;
    }
    /* Reserve only what will be filled: the ring cannot give slots back. */
    uint32_t room = xsk_ring_prod__reserve(&x->tx, fit < x->n_tx_free ? fit : x->n_tx_free, &idx);
    io->tx_errors += n - room; /* no chunk or slot free, or a frame no chunk holds */
    for (uint32_t i = 0; i < n && queued < room; i++) {
        if (WEFT_UNLIKELY(pkts[i]->len > MAX_FRAME)) {
            continue;
        }
        uint64_t addr = x->tx_free[--x->n_tx_free];
        memcpy(xsk_umem__get_data(x->area, addr), pkts[i]->data, pkts[i]->len);
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + queued++);
        d->addr = addr;
        d->len = pkts[i]->len;
    }
    if (!queued) {
        return 0;
    }
    xsk_ring_prod__submit(&x->tx, queued);
    for (int kick = 0; kick < TX_KICKS && xsk_ring_prod__needs_wakeup(&x->tx); kick++) {
        if (sendto(io->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0 ||
            (errno != EAGAIN && errno != EBUSY)) {
            break;
        }
    }
    afxdp_complete(x);
    return queued;
}

static void afxdp_poll_stats(struct port_io *io)
{
    struct afxdp_io *x = (struct afxdp_io *)io;
    struct xdp_statistics st;
    socklen_t len = sizeof st;

    /* Cumulative in the kernel: add what is new since the last look. A full
     * ring or an empty fill ring means weftd fell behind; what the kernel drops
     * "for other reasons" in copy mode is a frame longer than a chunk (a
     * super-frame from a sender with segmentation offload, in generic mode). */
    if (getsockopt(io->fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
        io->rx_drops[DROP_RING_OVERFLOW] +=
            (st.rx_ring_full - x->seen.rx_ring_full) +
            (st.rx_fill_ring_empty_descs - x->seen.rx_fill_ring_empty_descs);
        io->rx_drops[DROP_OVERSIZE] += st.rx_dropped - x->seen.rx_dropped;
        x->seen = st;
    }
}

const struct port_backend port_backend_afxdp = {
    .name = "afxdp",
    .help = "existing single-queue interface via an AF_XDP socket (native XDP, else generic)",
    .open = afxdp_open,
    .destroy = NULL,
    .rx_burst = afxdp_rx_burst,
    .tx_burst = afxdp_tx_burst,
    .close = afxdp_close,
    .poll_stats = afxdp_poll_stats,
};

/* "auto": the opened backend's own ops do the work; these only forward to it. */
static int auto_open(const struct port_io_args *args, struct port_io **out, const char **why)
{
    const char *xdp_why = "unknown error";
    int err = afxdp_open_mode(args, true, out, &xdp_why);

    if (!err) {
        return 0;
    }
    err = port_backend_afpacket.open(args, out, why);
    if (!err) {
        snprintf((*out)->mode_buf, sizeof(*out)->mode_buf, "%s (afxdp: %s)", (*out)->mode, xdp_why);
        (*out)->mode = (*out)->mode_buf;
    }
    return err;
}

static uint32_t auto_rx_burst(struct port_io *io, struct pkt_pool *pool, struct pkt **pkts,
                              uint32_t max)
{
    return io->backend->rx_burst(io, pool, pkts, max);
}

static uint32_t auto_tx_burst(struct port_io *io, struct pkt **pkts, uint32_t n)
{
    return io->backend->tx_burst(io, pkts, n);
}

static void auto_close(struct port_io *io)
{
    if (io) {
        io->backend->close(io);
    }
}

static void auto_poll_stats(struct port_io *io)
{
    if (io->backend->poll_stats) {
        io->backend->poll_stats(io);
    }
}

const struct port_backend port_backend_auto = {
    .name = "auto",
    .help = "existing interface: AF_XDP in native mode where it binds, else AF_PACKET "
            "(TPACKET_V3); the port's mode says which and why",
    .open = auto_open,
    .destroy = NULL,
    .rx_burst = auto_rx_burst,
    .tx_burst = auto_tx_burst,
    .close = auto_close,
    .poll_stats = auto_poll_stats,
};
