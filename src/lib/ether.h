/*
 * ether.h - Ethernet addresses and header layouts.
 *
 * MAC addresses are kept as 6-byte arrays on the wire and as 48-bit integers
 * (network order folded into the low bits) in tables, where one 64-bit compare
 * beats memcmp.
 */
#ifndef WEFT_LIB_ETHER_H
#define WEFT_LIB_ETHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ADDR_LEN    6
#define ETH_HEADER_LEN  14
#define VLAN_HEADER_LEN 4
#define ETH_TYPE_IPV4   0x0800
#define ETH_TYPE_ARP    0x0806
#define ETH_TYPE_VLAN   0x8100 /* 802.1Q customer tag */
#define ETH_TYPE_QINQ   0x88a8 /* 802.1ad service tag */
#define ETH_TYPE_IPV6   0x86dd
#define VLAN_VID_MASK   0x0fff
#define VLAN_PCP_SHIFT  13
#define VLAN_ID_MAX     4094
/* Length of a printed MAC address, "aa:bb:cc:dd:ee:ff" plus NUL. */
#define ETH_ADDR_STRLEN 18

struct eth_addr {
    uint8_t bytes[ETH_ADDR_LEN];
};

static inline uint64_t eth_addr_to_u64(const uint8_t *mac)
{
    return ((uint64_t)mac[0] << 40) | ((uint64_t)mac[1] << 32) | ((uint64_t)mac[2] << 24) |
           ((uint64_t)mac[3] << 16) | ((uint64_t)mac[4] << 8) | (uint64_t)mac[5];
}

static inline void eth_addr_from_u64(uint64_t v, uint8_t *mac)
{
    for (int i = 5; i >= 0; i--) {
        mac[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Group bit set: broadcast or multicast. Such a MAC is never a valid source. */
static inline bool eth_addr_is_multicast(const uint8_t *mac)
{
    return mac[0] & 1;
}

static inline bool eth_addr_is_zero(const uint8_t *mac)
{
    return !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

/* Parses "aa:bb:cc:dd:ee:ff" (or with '-'); returns 0 or EINVAL. */
int eth_addr_parse(const char *text, struct eth_addr *out);
/* Writes "aa:bb:cc:dd:ee:ff" into buf (at least ETH_ADDR_STRLEN bytes); returns buf. */
char *eth_addr_format(const uint8_t *mac, char *buf);

#endif
