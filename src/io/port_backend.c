/*
 * port_backend.c - the table of port backends and link helpers they share.
 */
#include "port_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

static const struct port_backend *const backends[] = {
    &port_backend_tap,      /* tap.c */
    &port_backend_afpacket, /* afpacket.c */
    &port_backend_afxdp,    /* afxdp.c */
    &port_backend_auto,     /* afxdp.c: afxdp, else afpacket */
    &port_backend_internal, /* tap.c */
    NULL,
};

const struct port_backend *port_backend_find(const char *name)
{
    for (unsigned i = 0; backends[i]; i++) {
        if (strcmp(backends[i]->name, name) == 0) {
            return backends[i];
        }
    }
    return NULL;
}

const struct port_backend *const *port_backend_list(void)
{
    return backends;
}

int port_io_link_up(const char *ifname)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int index = 0;

    if (fd < 0) {
        return 0;
    }
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0 && ioctl(fd, SIOCGIFINDEX, &ifr) == 0) {
            index = ifr.ifr_ifindex;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return index;
}

int port_io_netns_enter(const char *netns, int *saved)
{
    char path[PATH_MAX];
    int target, error = 0;

    *saved = -1;
    if (!netns || !*netns) {
        return 0;
    }
    snprintf(path, sizeof path, strchr(netns, '/') ? "%s" : "/run/netns/%s", netns);
    *saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (*saved < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
        error = errno ? errno : ENOENT;
        if (*saved >= 0) {
            close(*saved);
        }
        *saved = -1;
    }
    if (target >= 0) {
        close(target);
    }
    return error;
}

void port_io_netns_leave(int saved)
{
    if (saved >= 0) {
        /* Returning to our own namespace cannot fail while we hold its descriptor. */
        if (setns(saved, CLONE_NEWNET) < 0) {
            abort();
        }
        close(saved);
    }
}
