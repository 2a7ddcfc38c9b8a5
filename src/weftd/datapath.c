/*
 * datapath.c - bursts through the forwarding core.
 *
 * When a port's or the VTEP's descriptor is readable, up to WEFTD_BURST
 * frames are taken in one go, pushed through the switch, and its output is
 * sent in as few system calls as possible: every frame for the overlay in one
 * sendmmsg() per address family, and consecutive frames for one local port in
 * one tx burst. A few bursts per wake-up keep one busy port from starving the
 * rest of the loop.
 *
 * Offloads end here, where the egress is known: a port that takes them
 * (port_io.offloads) gets super-frames whole, tagged or not, and runs of TCP
 * segments of one flow merged into super-frames (software GRO, core/offload.h);
 * a port that does not gets super-frames cut and partial checksums completed.
 */
#include <errno.h>
#include <sys/epoll.h>

#include "core/offload.h"
#include "lib/compiler.h"
#include "weftd.h"

#define BURSTS_PER_WAKE 8
/* Most segments a super-frame becomes: 64 KB at a small MSS. */
#define MAX_SEGMENTS 128

/* Frames for a port without offloads: super-frames cut and partial checksums
 * completed before they go. */
static void send_complete(struct weftd_worker *w, struct port_io *io, struct pkt **pkts, uint32_t n)
{
    struct pkt *segs[MAX_SEGMENTS];
    uint32_t start = 0;

    for (uint32_t i = 0; i < n; i++) {
        struct offload_info *ol = &pkts[i]->meta.ol;
        if (WEFT_LIKELY(!ol->gso && !ol->needs_csum)) {
            continue;
        }
        if (!ol->gso) {
            if (offload_csum_complete(pkts[i]->data, pkts[i]->len, ol->csum_start,
                                      ol->csum_offset) != DROP_NONE) {
                io->tx_errors++;
            }
            ol->needs_csum = false;
            continue;
        }
        io->backend->tx_burst(io, pkts + start, i - start);
        enum drop_reason reason;
        uint32_t k =
            offload_segment(pkts[i]->data, pkts[i]->len, ol, w->pool, segs, MAX_SEGMENTS, &reason);
        if (k == 0) {
            io->tx_errors++;
        }
        io->backend->tx_burst(io, segs, k);
        for (uint32_t j = 0; j < k; j++) {
            pkt_pool_put(w->pool, segs[j]);
        }
        start = i + 1;
    }
    io->backend->tx_burst(io, pkts + start, n - start);
}

/* Frames for one local port, as long as the run of equal destinations lasts. */
static void send_port_run(struct weftd_worker *w, uint32_t port_id, struct pkt **pkts, uint32_t n)
{
    struct weftd_port *port = &w->d->ports[port_id];
    struct pkt *merged[WEFTD_BURST * 2];
    bool fresh[WEFTD_BURST * 2];

    if (WEFT_UNLIKELY(!port->in_use || !port->io)) {
        return;
    }
    struct port_io *io = weftd_port_queue(port, w->id);
    if (!io->offloads) {
        send_complete(w, io, pkts, n);
        return;
    }
    uint32_t m = offload_gro(pkts, n, w->pool, merged, fresh);
    io->backend->tx_burst(io, merged, m);
    for (uint32_t i = 0; i < m; i++) {
        if (fresh[i]) {
            pkt_pool_put(w->pool, merged[i]);
        }
    }
}

/* Sends what the switch produced; also its flush callback when a flood fills out. */
static void dispatch(struct vswitch_out *out)
{
    struct weftd_worker *w = out->ctx;
    struct pkt *overlay[2][WEFTD_BURST * 2];
    const struct ip_addr *dsts[2][WEFTD_BURST * 2];
    uint32_t n_overlay[2] = {0, 0};
    struct pkt *run[WEFTD_BURST * 2];
    uint32_t n_run = 0, run_dest = UINT32_MAX;

    for (uint32_t i = 0; i < out->n; i++) {
        struct vswitch_tx *tx = &out->tx[i];
        if (tx->dest & VSWITCH_DEST_VTEP) {
            const struct ip_addr *dst = vswitch_vtep_addr(w->d->sw, tx->dest & ~VSWITCH_DEST_VTEP);
            unsigned f = ip_addr_is_v4(dst) ? 0 : 1;
            overlay[f][n_overlay[f]] = tx->pkt;
            dsts[f][n_overlay[f]++] = dst;
            continue;
        }
        if (tx->dest != run_dest && n_run) {
            send_port_run(w, run_dest, run, n_run);
            n_run = 0;
        }
        run_dest = tx->dest;
        run[n_run++] = tx->pkt;
    }
    if (n_run) {
        send_port_run(w, run_dest, run, n_run);
    }
    for (unsigned f = 0; f < 2; f++) {
        if (n_overlay[f] && w->vtep[f]) {
            vtep_io_tx_burst(w->vtep[f], overlay[f], dsts[f], n_overlay[f]);
        }
    }
    for (uint32_t i = 0; i < out->n; i++) {
        pkt_pool_put(w->pool, out->tx[i].pkt);
    }
    out->n = 0;
}

void weftd_port_input(struct weftd_worker *w, struct weftd_port *port)
{
    struct pkt *pkts[WEFTD_BURST];
    /* Flooding multiplies frames; when this fills up, the switch flushes it early. */
    struct vswitch_tx tx[WEFTD_BURST * 2];
    struct vswitch_out out = {.tx = tx, .cap = WEFTD_BURST * 2, .flush = dispatch, .ctx = w};
    uint32_t now = weftd_now();
    struct port_io *io = weftd_port_queue(port, w->id);

    for (int round = 0; round < BURSTS_PER_WAKE && io; round++) {
        uint32_t n = io->backend->rx_burst(io, w->pool, pkts, WEFTD_BURST / 2);
        if (n == 0) {
            break;
        }
        vswitch_worker_input_port(w->sw, port->id, pkts, n, now, &out);
        dispatch(&out);
    }
}

void weftd_vtep_input(struct weftd_worker *w, struct vtep_io *vtep)
{
    /* Each datagram received may be a coalesced run (UDP_GRO). */
    struct pkt *pkts[WEFTD_BURST / 8 * VTEP_IO_GRO_SEGS];
    struct vswitch_tx tx[WEFTD_BURST * 2];
    struct vswitch_out out = {.tx = tx, .cap = WEFTD_BURST * 2, .flush = dispatch, .ctx = w};
    uint32_t now = weftd_now();

    for (int round = 0; round < BURSTS_PER_WAKE; round++) {
        uint32_t n = vtep_io_rx_burst(vtep, w->pool, pkts, WEFTD_BURST / 8 * VTEP_IO_GRO_SEGS);
        if (n == 0) {
            break;
        }
        vswitch_worker_input_vxlan(w->sw, pkts, n, now, &out);
        dispatch(&out);
    }
}

int weftd_watch_port(struct weftd *d, struct weftd_port *port, bool add)
{
    int error = 0;

    for (uint32_t q = 0; q < port->n_queues; q++) {
        port->sources[q] = (struct weftd_source){SOURCE_PORT, port};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &port->sources[q]};
        if (epoll_ctl(weftd_queue_epoll(d, port, q), add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                      port->queues[q]->fd, &ev) &&
            !error) {
            error = errno;
        }
    }
    return error;
}
