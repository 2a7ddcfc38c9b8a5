/*
 * ip_addr.c - parsing and printing of struct ip_addr, through inet_pton/ntop.
 */
#include "ip_addr.h"

#include <arpa/inet.h>
#include <errno.h>

void ip_addr_set_v4(struct ip_addr *a, const uint8_t *v4)
{
    memset(a->bytes, 0, 10);
    a->bytes[10] = 0xff;
    a->bytes[11] = 0xff;
    memcpy(a->bytes + 12, v4, 4);
}

void ip_addr_set_v6(struct ip_addr *a, const uint8_t *v6)
{
    memcpy(a->bytes, v6, 16);
}

int ip_addr_parse(const char *text, struct ip_addr *out)
{
    uint8_t buf[16];

    if (inet_pton(AF_INET, text, buf) == 1) {
        ip_addr_set_v4(out, buf);
        return 0;
    }
    if (inet_pton(AF_INET6, text, buf) == 1) {
        ip_addr_set_v6(out, buf);
        return 0;
    }
    return EINVAL;
}

char *ip_addr_format(const struct ip_addr *a, char *buf)
{
    if (ip_addr_is_v4(a)) {
        inet_ntop(AF_INET, a->bytes + 12, buf, IP_ADDR_STRLEN);
    } else {
        inet_ntop(AF_INET6, a->bytes, buf, IP_ADDR_STRLEN);
    }
    return buf;
}
