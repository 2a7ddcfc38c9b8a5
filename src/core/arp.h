/*
 * arp.h - ARP packets and the ARP table, for ARP suppression.
 *
 * The ARP table maps (segment, IPv4 address) to a MAC. It is a struct
 * mac_table (same hashing, capacity bound, aging and static entries) whose
 * key is mac_table_key(segment, address) and whose value is the MAC as a
 * 48-bit integer: one implementation for both tables, and mac_entry_segment()
 * works on either. Static entries come from the controller; learned ones from
 * the sender fields of ARP packets.
 *
 * IPv4 only: IPv6 neighbour discovery is not suppressed (it is carried as any
 * multicast frame).
 */
#ifndef WEFT_CORE_ARP_H
#define WEFT_CORE_ARP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mac_table.h"
#include "core/pkt.h"

#define ARP_LEN              28 /* Ethernet/IPv4 ARP: the only kind the parser accepts */
#define ARP_OP_REQUEST       1
#define ARP_OP_REPLY         2
#define ARP_DEFAULT_CAPACITY (1u << 16)
#define ARP_DEFAULT_AGE      300

/* The fields of an Ethernet/IPv4 ARP packet; addresses as integers in host
 * order (MACs as eth_addr_to_u64() makes them). */
struct arp_fields {
    uint16_t op;
    uint64_t sha; /* sender hardware address */
    uint32_t spa; /* sender protocol address */
    uint64_t tha;
    uint32_t tpa;
};

/* Reads the ARP packet at arp (ARP_LEN bytes, checked by frame_parse()). */
void arp_read(const uint8_t *arp, struct arp_fields *f);

/* Whether an IPv4 address can belong to a host: not in 0.0.0.0/8, 127.0.0.0/8
 * or 224.0.0.0/3 (multicast, reserved, broadcast). ARP probes (sender
 * 0.0.0.0) and garbage teach nothing. */
static inline bool arp_ip_is_host(uint32_t ip)
{
    uint32_t first = ip >> 24;
    return first != 0 && first != 127 && first < 224;
}

static inline uint64_t arp_table_key(uint32_t segment, uint32_t ip)
{
    return mac_table_key(segment, ip);
}

static inline uint32_t arp_entry_ip(const struct mac_entry *e)
{
    return (uint32_t)e->key;
}

static inline uint64_t arp_entry_mac(const struct mac_entry *e)
{
    return e->value;
}

/* Rewrites the ARP request in p (untagged, ARP header at p->meta.l3_ofs) into
 * the reply its target would send from mac: Ethernet to the requester, op 2,
 * sender mac and the requested address, target the requester's MAC and
 * address. The frame ends after the ARP packet (no padding). */
void arp_make_reply(struct pkt *p, uint64_t mac);

#endif
