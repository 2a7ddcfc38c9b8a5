/*
 * xsk_redirect.bpf.c - the XDP program of weftd's "afxdp" port backend.
 *
 * Every frame received on the interface goes to the AF_XDP socket bound to
 * its receive queue (the XSKMAP entry for ctx->rx_queue_index). A queue with
 * no socket in the map passes its frames to the kernel's stack, as if no
 * program were attached, rather than dropping them.
 *
 * Built by meson with clang-14 -target bpf and embedded in weftd (no bpffs
 * is needed: the program is loaded from memory and attached with a BPF link,
 * which the kernel removes when weftd's descriptor closes, even on kill -9).
 */
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} weft_xsks SEC(".maps");

SEC("xdp")
int weft_xsk(struct xdp_md *ctx)
{
    return bpf_redirect_map(&weft_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
