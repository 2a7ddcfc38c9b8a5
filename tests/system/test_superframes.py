"""Super-frames end to end: guests with their default offloads on hand weftd 64 KB
TCP super-frames (TAP with IFF_VNET_HDR, veth through AF_PACKET with
PACKET_VNET_HDR); the VTEP cuts them into VXLAN datagrams sent with UDP GSO,
and the far weftd merges them back (software GRO) for its guest.

Two hosts as in test_two_hosts.py: host a (10.1.1.0/24) and host b
(10.1.2.0/24) behind a router, underlay MTU 1600, segment 5001 on access ports
(a1/b1 on TAP, a2/b2 on veth) and segment 5002 on VLAN 102 of trunk ports
(a3/b3, TAP, the guests sending tagged frames).
"""

import json
import time
from types import SimpleNamespace

import pytest

from capture_fields import vxlan_rows
from lab import Lab

VNI, VNI_TRUNK, VLAN = 5001, 5002, 102
GUESTS = {  # name: (host, address, backend)
    "a1": ("a", "172.16.10.11", "tap"),
    "a2": ("a", "172.16.10.12", "afpacket"),
    "b1": ("b", "172.16.10.21", "tap"),
    "b2": ("b", "172.16.10.22", "afpacket"),
}
TRUNK_GUESTS = {"a3": ("a", "172.16.20.13"), "b3": ("b", "172.16.20.23")}


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI, (VNI_TRUNK, ["--vlan", str(VLAN)])))
        hosts = {"a": a, "b": b}
        g = {name: hosts[h].add_guest(name, f"{ip}/24", segment=VNI, backend=backend)
             for name, (h, ip, backend) in GUESTS.items()}
        for name, (h, ip) in TRUNK_GUESTS.items():
            guest = hosts[h].add_guest(name, None, trunk_vlans=str(VLAN))
            guest.add_vlan(VLAN, f"{ip}/24")
            g[name] = guest
        for guest in g.values():  # the defaults, stated: offloads on
            guest.run(["ethtool", "-K", "eth0", "tx", "on", "tso", "on", "gso", "on"],
                      check=False)
        yield SimpleNamespace(lab=lab, a=a, b=b, g=g)


def iperf3(server, client, ip=None, seconds=2, streams=1, amount=None):
    """TCP iperf3 from client to server (at ip) for seconds, or until amount (bytes,
    iperf3 -n: "128M") is sent in all -> the client's JSON report."""
    ip = ip or server.ip
    length = ["-t", seconds] if amount is None else ["-n", amount]
    srv = server.popen(["iperf3", "-s", "-1", "-B", ip])
    try:
        deadline = time.monotonic() + 5
        report = {}
        while time.monotonic() < deadline:
            result = client.run(["iperf3", "-c", ip, *length, "-P", streams, "-J",
                                 "--connect-timeout", "2000"], check=False, timeout=seconds + 20)
            report = json.loads(result.stdout) if result.stdout.strip() else {"error": result.stderr}
            if "unable to connect" not in report.get("error", ""):
                break
            time.sleep(0.2)
        return report
    finally:
        srv.kill()
        srv.wait()


def gbits(report):
    assert "error" not in report, report.get("error")
    return report["end"]["sum_received"]["bits_per_second"] / 1e9


@pytest.mark.parametrize("src,dst", [("a1", "b1"), ("a2", "b2"), ("a1", "b2"), ("a2", "b1")])
def test_tcp_across_hosts_with_guest_offloads_on(topo, src, dst):
    """iperf3 TCP between guests on different hosts, offloads on at both ends, TAP and
    veth: the transfer runs at a sane rate and weftd drops nothing for offload reasons."""
    assert topo.g[src].wait_ping(topo.g[dst].ip)
    before = {h: h.drops() for h in (topo.a, topo.b)}
    rate = gbits(iperf3(topo.g[dst], topo.g[src]))
    assert rate > 0.2, f"{src}->{dst}: {rate:.2f} Gbit/s"
    for h in (topo.a, topo.b):
        after = h.drops()
        for reason in ("offload_bad", "offload_unsupported", "underlay_mtu", "oversize"):
            assert after.get(reason, 0) == before[h].get(reason, 0), (h.name, reason)


def underlay_capture(lab, host, fn):
    """Runs fn() while host's underlay VXLAN datagrams are captured -> the pcap's path."""
    with lab.capture(host, host.ul_if, "udp port 4789") as pcap:
        fn()
    return pcap


class FlowOrder:
    """The data segments of one TCP flow in capture order, counted pair by pair: how
    often one starts before the previous one ended (a step back), and how often right
    where it ended."""

    def __init__(self):
        self.segments = self.back = self.contiguous = 0
        self.end = None  # sequence number after the previous segment

    def add(self, seq, length):
        if self.end is not None:
            gap = (seq - self.end) % 2**32
            self.back += gap > 2**31
            self.contiguous += gap == 0
        self.end = (seq + length) % 2**32
        self.segments += 1


# Of each datagram with inner TCP; tshark gives ip.* as "outer,inner".
SEGMENT_FIELDS = ("udp.srcport", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "ip.len",
                  "ip.checksum.status", "tcp.checksum.status", "tcp.seq_raw", "tcp.len")


def check_segments(pcap):
    """The VXLAN datagrams of a TCP transfer: every inner IP/TCP checksum valid, each
    inner segment fits a 1500 MTU, and per flow the data sequence numbers are contiguous
    (no segment starts before the previous one ended: the capture itself loses
    datagrams at these rates, so gaps are not held against the switch, overlaps and
    steps back are). Returns {flow: outer sports}."""
    flows, sports = {}, {}
    for row in vxlan_rows(pcap, "vxlan && ip.proto == 6", *SEGMENT_FIELDS):
        sport, src, tcp_sport, dst, tcp_dport, ip_len, ip_sum, tcp_sum, seq, length = row
        inner_len = int(ip_len.split(",")[-1])
        assert inner_len <= 1500, f"inner IP packet of {inner_len} bytes: {row}"
        # Status 1: verified good (0 bad, 2 not verifiable, "" no TCP header dissected).
        assert ip_sum.split(",")[-1] == "1", f"inner IPv4 checksum: {row}"
        assert tcp_sum == "1", f"inner TCP checksum: {row}"
        if int(length) == 0:
            continue
        flow = (src.split(",")[-1], int(tcp_sport), dst.split(",")[-1], int(tcp_dport))
        sports.setdefault(flow, set()).add(int(sport))
        flows.setdefault(flow, FlowOrder()).add(int(seq), int(length))
    assert flows, "no TCP data seen on the underlay"
    for flow, order in flows.items():
        # A retransmission may step back once in a while.
        assert order.back <= max(2, order.segments // 100), \
            f"{flow}: {order.back} overlaps in {order.segments}"
        assert order.contiguous > order.segments // 4, f"{flow}: not a stream"
    return sports


def test_super_frames_arrive_as_valid_segments_with_per_flow_ports(topo):
    """A bulk transfer from a TAP guest (64 KB super-frames from its stack) crosses the
    underlay as MTU-sized VXLAN datagrams with valid inner checksums and contiguous
    sequence numbers; each flow keeps one outer UDP source port, and four flows do not
    all share one (ECMP entropy). The transfer is 128 MB (about a second here), so the
    capture stays that size on a faster machine too."""
    a1, b1 = topo.g["a1"], topo.g["b1"]
    assert a1.wait_ping(b1.ip)
    tx_before = a1.link_stats("eth0")
    reports = []
    pcap = underlay_capture(topo.lab, topo.b, lambda: reports.append(
        iperf3(b1, a1, streams=4, amount="128M")))
    assert gbits(reports[0]) > 0
    sent = a1.link_stats("eth0")
    # The guest handed over super-frames: far fewer frames than 1448-byte segments.
    frames = sent["tx"]["packets"] - tx_before["tx"]["packets"]
    segments = sent["tx"]["bytes"] - tx_before["tx"]["bytes"]
    assert frames * 3 < segments / 1448, "the guest did not send super-frames"
    sports = check_segments(pcap)
    assert all(len(s) == 1 for s in sports.values()), sports
    assert len({next(iter(s)) for s in sports.values()}) > 1, sports


def test_receiving_guest_gets_merged_super_frames(topo):
    """The far weftd merges consecutive segments of a flow (software GRO): the receiving
    TAP guest gets far fewer frames than there were datagrams."""
    a1, b1 = topo.g["a1"], topo.g["b1"]
    assert a1.wait_ping(b1.ip)
    before = b1.link_stats("eth0")
    report = iperf3(b1, a1, seconds=1)
    after = b1.link_stats("eth0")
    received = report["end"]["sum_received"]["bytes"]
    frames = after["rx"]["packets"] - before["rx"]["packets"]
    assert frames * 3 < received / 1448, f"{frames} frames for {received} bytes"


def tcp_csum_errors(guest):
    """The guest's TcpInCsumErrors: segments its TCP dropped as corrupt."""
    out = guest.run(["nstat", "-az", "TcpInCsumErrors"], check=False).stdout
    return sum(int(line.split()[1]) for line in out.splitlines()
               if line.startswith("TcpInCsumErrors"))


def test_gso_on_trunk_port_with_vlan_tags(topo):
    """Tagged frames from a trunk port (VLAN 102, guest offloads on) cross to the far
    trunk guest at a sane rate, and none arrives there with a bad checksum: the
    merged tagged super-frames reach the guest's VLAN device with their partial
    checksums (once ~1 Mbit/s, every merged frame counted in TcpInCsumErrors: the
    lab's user-space VLAN device dropped the virtio-net header, see lab.VLAN_RELAY;
    test_trunk_offload.py checks the rest)."""
    a3, b3 = topo.g["a3"], topo.g["b3"]
    ip_b3 = TRUNK_GUESTS["b3"][1]
    a3.run(["ethtool", "-K", f"eth0.{VLAN}", "tso", "on", "gso", "on"], check=False)
    assert a3.wait_ping(ip_b3)
    errors = tcp_csum_errors(b3)
    rate = gbits(iperf3(b3, a3, ip=ip_b3))
    assert tcp_csum_errors(b3) == errors, "the trunk guest received corrupt segments"
    assert rate > 0.1, f"{rate:.2f} Gbit/s over the trunk"


def test_mixed_small_and_large_frames_keep_order(topo):
    """Small request/response exchanges interleaved with bulk data on one connection
    (iperf3 with small writes then big ones, both directions) arrive in order: the
    receiver saw no out-of-order segments (TcpExt counters) beyond noise."""
    a1, b1 = topo.g["a1"], topo.g["b1"]

    def ofo(guest):
        out = guest.run(["nstat", "-az", "TcpExtTCPOFOQueue"], check=False).stdout
        return sum(int(line.split()[1]) for line in out.splitlines()
                   if line.startswith("TcpExtTCPOFOQueue"))

    before = ofo(b1)
    for length in ("200", "128K", "100", "64K"):
        srv = b1.popen(["iperf3", "-s", "-1", "-B", b1.ip])
        try:
            time.sleep(0.3)
            r = a1.run(["iperf3", "-c", b1.ip, "-t", "1", "-l", length, "-J"], check=False,
                       timeout=30)
            assert json.loads(r.stdout)["end"]["sum_received"]["bytes"] > 0
        finally:
            srv.kill()
            srv.wait()
    assert ofo(b1) - before < 50, "segments arrived out of order"
