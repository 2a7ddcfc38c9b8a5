/*
 * datapath.c - bursts through the forwarding core.
 *
 * When a port's or the VTEP's descriptor is readable, up to WEFTD_BURST
 * frames are taken in one go, pushed through the switch, and its output is
 * sent in as few system calls as possible: every frame for the overlay in one
 * sendmmsg() per address family, and consecutive frames for one local port in
 * one tx burst. A few bursts per wake-up keep one busy port from starving the
 * rest of the loop.
 */
#include <errno.h>
#include <sys/epoll.h>

#include "lib/compiler.h"
#include "weftd.h"

#define BURSTS_PER_WAKE 8

/* Frames for one local port, as long as the run of equal destinations lasts. */
static void send_port_run(struct weftd *d, uint32_t port_id, struct pkt **pkts, uint32_t n)
{
    struct weftd_port *port = &d->ports[port_id];

    if (WEFT_LIKELY(port->in_use && port->io)) {
        port->io->backend->tx_burst(port->io, pkts, n);
    }
}

/* Sends what the switch produced; also its flush callback when a flood fills out. */
static void dispatch(struct vswitch_out *out)
{
    struct weftd *d = out->ctx;
    struct pkt *overlay[2][WEFTD_BURST * 2];
    const struct ip_addr *dsts[2][WEFTD_BURST * 2];
    uint32_t n_overlay[2] = {0, 0};
    struct pkt *run[WEFTD_BURST * 2];
    uint32_t n_run = 0, run_dest = UINT32_MAX;

    for (uint32_t i = 0; i < out->n; i++) {
        struct vswitch_tx *tx = &out->tx[i];
        if (tx->dest & VSWITCH_DEST_VTEP) {
            const struct ip_addr *dst = vswitch_vtep_addr(d->sw, tx->dest & ~VSWITCH_DEST_VTEP);
            unsigned f = ip_addr_is_v4(dst) ? 0 : 1;
            overlay[f][n_overlay[f]] = tx->pkt;
            dsts[f][n_overlay[f]++] = dst;
            continue;
        }
        if (tx->dest != run_dest && n_run) {
            send_port_run(d, run_dest, run, n_run);
            n_run = 0;
        }
        run_dest = tx->dest;
        run[n_run++] = tx->pkt;
    }
    if (n_run) {
        send_port_run(d, run_dest, run, n_run);
    }
    for (unsigned f = 0; f < 2; f++) {
        if (n_overlay[f] && d->vtep[f]) {
            vtep_io_tx_burst(d->vtep[f], overlay[f], dsts[f], n_overlay[f]);
        }
    }
    for (uint32_t i = 0; i < out->n; i++) {
        pkt_pool_put(d->pool, out->tx[i].pkt);
    }
    out->n = 0;
}

void weftd_port_input(struct weftd *d, struct weftd_port *port)
{
    struct pkt *pkts[WEFTD_BURST];
    /* Flooding multiplies frames; when this fills up, the switch flushes it early. */
    struct vswitch_tx tx[WEFTD_BURST * 2];
    struct vswitch_out out = {.tx = tx, .cap = WEFTD_BURST * 2, .flush = dispatch, .ctx = d};
    uint32_t now = weftd_now();

    for (int round = 0; round < BURSTS_PER_WAKE && port->io; round++) {
        uint32_t n = port->io->backend->rx_burst(port->io, d->pool, pkts, WEFTD_BURST / 2);
        if (n == 0) {
            break;
        }
        vswitch_input_port(d->sw, port->id, pkts, n, now, &out);
        dispatch(&out);
    }
}

void weftd_vtep_input(struct weftd *d, struct vtep_io *vtep)
{
    struct pkt *pkts[WEFTD_BURST];
    struct vswitch_tx tx[WEFTD_BURST * 2];
    struct vswitch_out out = {.tx = tx, .cap = WEFTD_BURST * 2, .flush = dispatch, .ctx = d};
    uint32_t now = weftd_now();

    for (int round = 0; round < BURSTS_PER_WAKE; round++) {
        uint32_t n = vtep_io_rx_burst(vtep, d->pool, pkts, WEFTD_BURST / 2);
        if (n == 0) {
            break;
        }
        vswitch_input_vxlan(d->sw, pkts, n, now, &out);
        dispatch(&out);
    }
}

int weftd_watch_port(struct weftd *d, struct weftd_port *port, bool add)
{
    port->source = (struct weftd_source){SOURCE_PORT, port};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &port->source};

    return epoll_ctl(d->epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, port->io->fd, &ev) ? errno
                                                                                          : 0;
}
