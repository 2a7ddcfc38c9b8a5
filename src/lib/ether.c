/*
 * ether.c - text forms of MAC addresses, for configuration and display.
 */
#include "ether.h"

#include <errno.h>
#include <stdio.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int eth_addr_parse(const char *text, struct eth_addr *out)
{
    /* Exactly six two-digit hex groups with one separator kind: strict on purpose,
     * so that a typo never silently becomes a different address. */
    char sep;

    /* text[2] is only read once text[0] and text[1] are known not to be the NUL. */
    if (!text[0] || !text[1]) {
        return EINVAL;
    }
    sep = text[2];
    if (sep != ':' && sep != '-') {
        return EINVAL;
    }
    for (int i = 0; i < ETH_ADDR_LEN; i++) {
        const char *p = text + i * 3;
        int hi = hex_digit(p[0]);
        int lo = hi < 0 ? -1 : hex_digit(p[1]);

        if (lo < 0 || p[2] != (i == ETH_ADDR_LEN - 1 ? '\0' : sep)) {
            return EINVAL;
        }
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

char *eth_addr_format(const uint8_t *mac, char *buf)
{
    snprintf(buf, ETH_ADDR_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    return buf;
}
