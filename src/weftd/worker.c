/*
 * worker.c - the data path's threads (--workers N).
 *
 * Worker 0 is the main thread: it runs the data path between control events
 * in main.c's loop, as weftd with one worker always did. Workers 1..N-1 each
 * run a loop of their own over an epoll holding their VTEP sockets, their
 * queues of multi-queue ports, the single-queue ports given to them (by port
 * id) and an eventfd. Flows spread over the workers by hash, as RSS does on a
 * NIC: the kernel picks the socket of the VTEP's SO_REUSEPORT group by the
 * outer addresses and ports (the source port carries the inner flow's hash),
 * and the queue of a multi-queue TAP by the guest's flow hash.
 *
 * The switch is read by all of them without locks (core/vswitch.h,
 * "Workers"). Whatever the main thread changes (the switch's configuration
 * and aging, ports opened or closed, VTEP joins) it changes with the workers
 * parked: weftd_workers_pause() raises a flag and wakes every worker through
 * its eventfd; a worker that sees the flag drops the events it holds (a port
 * they name may be gone when it resumes; level-triggered epoll reports the
 * rest again) and waits on a condition variable until weftd_workers_resume().
 * A control event costs the data path one such pause, tens of microseconds.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "weftd.h"

int weftd_queue_epoll(const struct weftd *d, const struct weftd_port *port, uint32_t q)
{
    uint32_t w = port->n_queues > 1 ? q : port->id % d->n_workers;
    return d->workers[w].epoll_fd;
}

int weftd_poll_timeout(const struct weftd *d, bool had_frames, uint64_t *spin_until)
{
    struct timespec ts;

    if (d->poll_ns == 0) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (had_frames) {
        *spin_until = now + d->poll_ns;
    }
    return now < *spin_until ? 0 : -1;
}

static bool pause_requested(const struct weftd *d)
{
    return __atomic_load_n(&d->pause_requested, __ATOMIC_ACQUIRE);
}

/* Waits, outside the data path, for the main thread to be done. */
static void worker_park(struct weftd_worker *w)
{
    struct weftd *d = w->d;
    uint64_t count;

    (void)!read(w->wake_fd, &count, sizeof count);
    pthread_mutex_lock(&d->pause_lock);
    d->n_paused++;
    pthread_cond_broadcast(&d->pause_cond);
    while (d->pause_requested && !d->stopping) {
        pthread_cond_wait(&d->pause_cond, &d->pause_lock);
    }
    d->n_paused--;
    pthread_mutex_unlock(&d->pause_lock);
}

/* A port's device went: its queue leaves this epoll now (it would report the
 * hang-up on every wait), and the main thread closes the port on its next
 * tick (weftd_ports_retry()). */
static void worker_port_lost(struct weftd_worker *w, struct weftd_port *port)
{
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, weftd_port_queue(port, w->id)->fd, NULL);
    __atomic_store_n(&port->lost, true, __ATOMIC_RELEASE);
}

static void *worker_main(void *arg)
{
    struct weftd_worker *w = arg;
    struct weftd *d = w->d;
    struct epoll_event events[64];
    uint64_t spin_until = 0;
    int timeout = -1;

    while (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
        int n = epoll_wait(w->epoll_fd, events, 64, timeout);
        if (pause_requested(d)) {
            worker_park(w);
            continue;
        }
        timeout = weftd_poll_timeout(d, n > 0, &spin_until);
        for (int i = 0; i < n; i++) {
            struct weftd_source *src = events[i].data.ptr;
            if (src->kind == SOURCE_PORT) {
                if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                    worker_port_lost(w, src->ptr);
                } else {
                    weftd_port_input(w, src->ptr);
                }
            } else if (src->kind == SOURCE_VTEP) {
                weftd_vtep_input(w, src->ptr);
            }
        }
    }
    return NULL;
}

int weftd_watch(int epoll_fd, int fd, struct weftd_source *src, enum weftd_source_kind kind,
                void *ptr)
{
    *src = (struct weftd_source){kind, ptr};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) ? errno : 0;
}

int weftd_worker_open_vteps(struct weftd *d, struct weftd_worker *w)
{
    const struct ip_addr *locals[2] = {&d->sw_config.local_vtep4, &d->sw_config.local_vtep6};
    char text[IP_ADDR_STRLEN];

    for (unsigned f = 0; f < 2; f++) {
        const char *why = "";
        if (ip_addr_is_zero(locals[f])) {
            continue;
        }
        int error =
            vtep_io_open(locals[f], d->sw_config.vxlan_port, d->n_workers > 1, &w->vtep[f], &why);
        if (!error) {
            error = weftd_watch(w->epoll_fd, w->vtep[f]->rx_fd, &w->vtep_source[f], SOURCE_VTEP,
                                w->vtep[f]);
        }
        if (error) {
            log_error("VTEP %s port %u (worker %u): %s (%s)", ip_addr_format(locals[f], text),
                      d->sw_config.vxlan_port, w->id, why, strerror(error));
            return error;
        }
    }
    return 0;
}

/* Worker i > 0: pool, switch worker, epoll, eventfd, VTEP sockets. */
static int worker_open(struct weftd *d, struct weftd_worker *w)
{
    int error;

    w->pool = pkt_pool_create_tiered(WEFTD_POOL_SIZE, PKT_DEFAULT_DATA_ROOM, 256, 65536 + 64);
    w->sw = w->pool ? vswitch_worker_add(d->sw, w->pool) : NULL;
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->sw || w->epoll_fd < 0 || w->wake_fd < 0) {
        log_error("worker %u: cannot create its pool, epoll or eventfd", w->id);
        return ENOMEM;
    }
    if ((error = weftd_watch(w->epoll_fd, w->wake_fd, &w->wake_source, SOURCE_WAKE, NULL))) {
        return error;
    }
    return weftd_worker_open_vteps(d, w);
}

static void worker_close(struct weftd_worker *w)
{
    for (unsigned f = 0; f < 2; f++) {
        vtep_io_close(w->vtep[f]);
        w->vtep[f] = NULL;
    }
    if (w->epoll_fd >= 0) {
        close(w->epoll_fd);
    }
    if (w->wake_fd >= 0) {
        close(w->wake_fd);
    }
    w->epoll_fd = w->wake_fd = -1;
    /* The pool stays until the switch, whose worker counts on it, is gone. */
}

int weftd_workers_start(struct weftd *d)
{
    struct weftd_worker *w0 = &d->workers[0];

    pthread_mutex_init(&d->pause_lock, NULL);
    pthread_cond_init(&d->pause_cond, NULL);
    /* Field by field: its vtep_source[] are registered with the epoll already. */
    w0->d = d;
    w0->id = 0;
    w0->epoll_fd = d->epoll_fd;
    w0->wake_fd = -1;
    w0->pool = d->pool;
    w0->sw = vswitch_worker_get(d->sw, 0);
    w0->vtep[0] = d->vtep[0];
    w0->vtep[1] = d->vtep[1];
    for (uint32_t i = 1; i < d->n_workers; i++) {
        struct weftd_worker *w = &d->workers[i];
        *w = (struct weftd_worker){.d = d, .id = i, .epoll_fd = -1, .wake_fd = -1};
        int error = worker_open(d, w);
        if (!error) {
            error = pthread_create(&w->thread, NULL, worker_main, w);
        }
        if (error) {
            log_error("worker %u: cannot start: %s", i, strerror(error));
            worker_close(w);
            pkt_pool_destroy(w->pool); /* its switch worker never runs */
            w->pool = NULL;
            d->n_workers = i; /* the ones started are stopped by weftd_workers_stop() */
            return error;
        }
    }
    if (d->n_workers > 1) {
        log_info("%u data-path workers", d->n_workers);
    }
    return 0;
}

static void wake_all(struct weftd *d)
{
    uint64_t one = 1;

    for (uint32_t i = 1; i < d->n_workers; i++) {
        (void)!write(d->workers[i].wake_fd, &one, sizeof one);
    }
}

/* Sets one of the flags the workers watch (pause_requested, stopping) under the
 * pause lock, so that a parked worker cannot miss the change, and with wake,
 * makes every worker's epoll_wait() return to see it. */
static void workers_flag(struct weftd *d, bool *flag, bool value, bool wake)
{
    pthread_mutex_lock(&d->pause_lock);
    __atomic_store_n(flag, value, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&d->pause_cond);
    pthread_mutex_unlock(&d->pause_lock);
    if (wake) {
        wake_all(d);
    }
}

void weftd_workers_stop(struct weftd *d)
{
    if (d->n_workers <= 1) {
        return;
    }
    workers_flag(d, &d->stopping, true, true);
    for (uint32_t i = 1; i < d->n_workers; i++) {
        pthread_join(d->workers[i].thread, NULL);
        worker_close(&d->workers[i]);
    }
}

void weftd_workers_pause(struct weftd *d)
{
    if (d->n_workers <= 1) {
        return;
    }
    workers_flag(d, &d->pause_requested, true, true);
    pthread_mutex_lock(&d->pause_lock);
    while (d->n_paused < d->n_workers - 1) {
        pthread_cond_wait(&d->pause_cond, &d->pause_lock);
    }
    pthread_mutex_unlock(&d->pause_lock);
}

void weftd_workers_resume(struct weftd *d)
{
    if (d->n_workers > 1) {
        workers_flag(d, &d->pause_requested, false, false);
    }
}
