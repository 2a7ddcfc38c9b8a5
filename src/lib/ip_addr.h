/*
 * ip_addr.h - one type for IPv4 and IPv6 addresses.
 *
 * VTEPs and port-security bindings may be either family. An IPv4 address is
 * stored as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), so comparing and
 * hashing never branch on the family and the 16 bytes are the whole key.
 */
#ifndef WEFT_LIB_IP_ADDR_H
#define WEFT_LIB_IP_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Long enough for any printed IPv6 address plus NUL (INET6_ADDRSTRLEN). */
#define IP_ADDR_STRLEN 46

struct ip_addr {
    uint8_t bytes[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
};

static inline bool ip_addr_is_v4(const struct ip_addr *a)
{
    static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->bytes, mapped_prefix, sizeof mapped_prefix) == 0;
}

static inline bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
    return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static inline bool ip_addr_is_zero(const struct ip_addr *a)
{
    static const struct ip_addr zero;
    return ip_addr_equal(a, &zero);
}

/* Multicast in either family: 224.0.0.0/4 or ff00::/8. */
static inline bool ip_addr_is_multicast(const struct ip_addr *a)
{
    return ip_addr_is_v4(a) ? (a->bytes[12] & 0xf0) == 0xe0 : a->bytes[0] == 0xff;
}

/* Sets a from 4 bytes in network order. */
void ip_addr_set_v4(struct ip_addr *a, const uint8_t *v4);
/* Sets a from 16 bytes in network order. */
void ip_addr_set_v6(struct ip_addr *a, const uint8_t *v6);
/* Parses a dotted quad or an IPv6 literal; returns 0 or EINVAL. */
int ip_addr_parse(const char *text, struct ip_addr *out);
/* Prints the address in its family's usual form into buf (IP_ADDR_STRLEN bytes). */
char *ip_addr_format(const struct ip_addr *a, char *buf);

#endif
