/*
 * arp.c - reading ARP packets and answering a request in place (see arp.h).
 */
#include "arp.h"

#include <string.h>

#include "lib/ether.h"

static inline uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void arp_read(const uint8_t *arp, struct arp_fields *f)
{
    f->op = (uint16_t)(arp[6] << 8 | arp[7]);
    f->sha = eth_addr_to_u64(arp + 8);
    f->spa = read_be32(arp + 14);
    f->tha = eth_addr_to_u64(arp + 18);
    f->tpa = read_be32(arp + 24);
}

void arp_make_reply(struct pkt *p, uint64_t mac)
{
    uint8_t *d = p->data;
    uint8_t *arp = d + p->meta.l3_ofs;
    uint8_t requester_ip[4], asked_ip[4];

    memcpy(requester_ip, arp + 14, 4);
    memcpy(asked_ip, arp + 24, 4);
    /* To the frame's own source: that is who sent the request through this port. */
    memcpy(d, d + ETH_ADDR_LEN, ETH_ADDR_LEN);
    eth_addr_from_u64(mac, d + ETH_ADDR_LEN);
    arp[6] = 0;
    arp[7] = ARP_OP_REPLY;
    memcpy(arp + 18, arp + 8, ETH_ADDR_LEN); /* target hardware: the requester */
    eth_addr_from_u64(mac, arp + 8);
    memcpy(arp + 14, asked_ip, 4);
    memcpy(arp + 24, requester_ip, 4);
    p->len = p->meta.l3_ofs + ARP_LEN;
}
