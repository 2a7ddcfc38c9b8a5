/*
 * test_xsk_csum.c - unit tests of io/xsk_csum.c, the partial-checksum rule of
 * the afxdp backend: valid checksums are left alone; a field holding exactly
 * the pseudo-header sum (what a sender with tx checksum offload leaves) is
 * completed to the same bytes a full computation gives, for TCP and UDP over
 * IPv4, IPv6 and two VLAN tags; wrong checksums, UDP without checksum,
 * fragments, other protocols and truncated frames are left as they are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frames.h"
#include "io/xsk_csum.h"
#include "lib/checksum.h"

#define MAC_A "02:00:00:00:00:01"
#define MAC_B "02:00:00:00:00:02"
#define IP_A  "172.16.10.11"
#define IP_B  "172.16.10.21"
#define IP6_A "2001:db8:10::11"
#define IP6_B "2001:db8:10::21"

static uint8_t f[FRAME_MAX], want[FRAME_MAX];

/* Replaces the L4 checksum at l4 + field with the folded pseudo-header sum, as
 * Linux leaves it in a CHECKSUM_PARTIAL frame; l3 is the IP header's offset. */
static void make_partial(uint8_t *frame, size_t len, size_t l3, size_t l4, size_t field)
{
    int v6 = frame[l3] >> 4 == 6;
    uint32_t l4_len = (uint32_t)(len - l4);
    uint8_t tail[4] = {0, v6 ? frame[l3 + 6] : frame[l3 + 9], (uint8_t)(l4_len >> 8),
                       (uint8_t)l4_len};
    uint32_t sum = v6 ? csum_partial(frame + l3 + 8, 32, 0) : csum_partial(frame + l3 + 12, 8, 0);
    uint16_t partial = (uint16_t)~csum_fold(csum_partial(tail, sizeof tail, sum));
    memcpy(frame + l4 + field, &partial, sizeof partial);
}

static void assert_completed(size_t len, size_t l3, size_t l4, size_t field)
{
    memcpy(want, f, len);
    make_partial(f, len, l3, l4, field);
    assert_memory_not_equal(f, want, len);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_COMPLETED);
    assert_memory_equal(f, want, len);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_VALID);
}

static void test_valid_left_alone(void **state)
{
    (void)state;
    size_t len = frame_tcp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 80, 100);
    memcpy(want, f, len);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_VALID);
    assert_memory_equal(f, want, len);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 53, 33, 0);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_VALID);
}

static void test_partial_tcp4_completed(void **state)
{
    (void)state;
    assert_completed(frame_tcp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 80, 1460), 14, 34, 16);
    assert_completed(frame_tcp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 80, 0), 14, 34, 16);
}

static void test_partial_udp6_completed(void **state)
{
    (void)state;
    assert_completed(frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 53, 999, 0), 14, 54, 6);
}

static void test_partial_udp4_behind_two_tags_completed(void **state)
{
    (void)state;
    const struct frame_tag tags[] = {{0x88a8, 100, 0}, {0x8100, 200, 0}, {0, 0, 0}};
    size_t len = frame_udp4_tagged(f, MAC_B, MAC_A, tags, IP_A, IP_B, 1000, 53, 501);
    assert_completed(len, 22, 42, 6);
}

static void test_wrong_checksum_left_as_it_is(void **state)
{
    (void)state;
    size_t len = frame_tcp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 80, 100);
    f[len - 1] ^= 0x40; /* payload corrupted after the checksum was computed */
    memcpy(want, f, len);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_BAD);
    assert_memory_equal(f, want, len);
}

static void test_nothing_to_check(void **state)
{
    (void)state;
    size_t len = frame_udp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 53, 20);
    f[40] = f[41] = 0; /* IPv4 UDP without checksum */
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_NONE);
    len = frame_icmp4(f, MAC_B, MAC_A, IP_A, IP_B, 56);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_NONE);
    len = frame_tcp4(f, MAC_B, MAC_A, IP_A, IP_B, 1000, 80, 100);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len - 1), XSK_CSUM_NONE); /* cut short */
    assert_int_equal(xsk_csum_fixup(f, 20), XSK_CSUM_NONE);
    f[14 + 6] |= 0x20; /* more fragments: the checksum covers the whole datagram */
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_NONE);
    len = frame_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1000, 53, 20, 1); /* extension header */
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_NONE);
    len = frame_arp(f, 1, MAC_A, IP_A, "00:00:00:00:00:00", IP_B);
    assert_int_equal(xsk_csum_fixup(f, (uint32_t)len), XSK_CSUM_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_left_alone),
        cmocka_unit_test(test_partial_tcp4_completed),
        cmocka_unit_test(test_partial_udp6_completed),
        cmocka_unit_test(test_partial_udp4_behind_two_tags_completed),
        cmocka_unit_test(test_wrong_checksum_left_as_it_is),
        cmocka_unit_test(test_nothing_to_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
