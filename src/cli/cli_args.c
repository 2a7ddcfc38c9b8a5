/*
 * cli_args.c - checks of command-line arguments that cost nothing: numbers and
 * their ranges, address syntax, names. What needs weftd's state (does the
 * segment exist, is the name taken) is left to weftd, which says so itself.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "core/vxlan.h"
#include "lib/ether.h"
#include "lib/ip_addr.h"
#include "lib/name.h"

/* Reads a decimal number with nothing around it; 0 or EINVAL/ERANGE. */
static int cli_strtoul(const char *text, int base, unsigned long *out)
{
    char *end;

    if (!isdigit((unsigned char)text[0])) {
        return EINVAL;
    }
    errno = 0;
    *out = strtoul(text, &end, base);
    if (errno) {
        return errno;
    }
    return *end == '\0' ? 0 : EINVAL;
}

int cli_parse_vni(const char *prog, const char *text, uint32_t *vni)
{
    unsigned long v;

    if (cli_strtoul(text, 10, &v) || v < 1 || v > VXLAN_VNI_MAX) {
        return cli_usage_error(prog, "invalid VNI '%s': use a number from 1 to %u", text,
                               VXLAN_VNI_MAX);
    }
    *vni = (uint32_t)v;
    return 0;
}

int cli_parse_uint(const char *prog, const char *what, const char *text, unsigned long min,
                   unsigned long max, uint32_t *out)
{
    unsigned long v;

    /* Base 0: "0x8100" is as good as "33024". */
    if (cli_strtoul(text, 0, &v) || v < min || v > max) {
        return cli_usage_error(prog, "invalid %s '%s': use a number from %lu to %lu", what, text,
                               min, max);
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_check_mac(const char *prog, const char *text)
{
    struct eth_addr mac;

    if (eth_addr_parse(text, &mac)) {
        return cli_usage_error(prog,
                               "invalid MAC address '%s': use six hex pairs like "
                               "02:00:00:00:00:01",
                               text);
    }
    return 0;
}

int cli_check_ip(const char *prog, const char *what, const char *text)
{
    struct ip_addr addr;

    if (ip_addr_parse(text, &addr)) {
        return cli_usage_error(prog, "invalid %s '%s': use an IPv4 or IPv6 address", what, text);
    }
    return 0;
}

int cli_check_port_name(const char *prog, const char *text)
{
    if (!name_valid(text, 31)) {
        return cli_usage_error(prog,
                               "invalid port name '%s': use 1 to 31 letters, digits, '-', "
                               "'_' or '.'",
                               text);
    }
    return 0;
}

int cli_check_ifname(const char *prog, const char *text)
{
    size_t len = strlen(text);

    if (len == 0 || len >= IF_NAMESIZE || strchr(text, '/') || strchr(text, ' ')) {
        return cli_usage_error(prog,
                               "invalid interface name '%s': at most %d characters, no '/' "
                               "or spaces",
                               text, IF_NAMESIZE - 1);
    }
    return 0;
}

int cli_check_vlan_list(const char *prog, const char *text)
{
    const char *p = text;

    if (*p == '\0') {
        return cli_usage_error(prog, "empty VLAN list: give VLANs like 101,200-210");
    }
    while (*p) {
        char *end;
        unsigned long lo, hi;

        if (!isdigit((unsigned char)*p)) {
            break;
        }
        lo = hi = strtoul(p, &end, 10);
        p = end;
        if (*p == '-') {
            if (!isdigit((unsigned char)p[1])) {
                break;
            }
            hi = strtoul(p + 1, &end, 10);
            p = end;
        }
        if (lo < 1 || lo > VLAN_ID_MAX || hi < 1 || hi > VLAN_ID_MAX) {
            return cli_usage_error(prog, "VLAN %lu in '%s' is outside 1-%d",
                                   lo < 1 || lo > VLAN_ID_MAX ? lo : hi, text, VLAN_ID_MAX);
        }
        if (lo > hi) {
            return cli_usage_error(prog, "VLAN range %lu-%lu in '%s' runs backwards", lo, hi, text);
        }
        if (*p == ',' && p[1] != '\0') {
            p++;
        } else if (*p) {
            break;
        }
    }
    if (*p) {
        return cli_usage_error(prog,
                               "invalid VLAN list '%s': use numbers and ranges like "
                               "101,200-210",
                               text);
    }
    return 0;
}
