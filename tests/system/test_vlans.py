"""VLANs at the edge of the switch, and isolation between segments.

Hosts a and b (as in test_two_hosts) carry two segments: 5001 with local VLAN 101
and 5002 with local VLAN 102. Both segments use the same overlay subnet and, on
purpose, the same guest MAC and IP addresses:

    segment 5001 (VLAN 101): a1 on a (tap),      b1 on b (tap)
    segment 5002 (VLAN 102): c1 on a (afpacket), d1 on b (afpacket)
    a1 and c1: 02:00:00:00:10:01 / 172.16.10.11; b1 and d1: 02:00:00:00:10:02 / .21

Trunk guest t on host a (`--trunk 101,102`) sends 802.1Q frames from eth0.101
(172.16.10.31, segment 5001) and eth0.102 (172.16.10.32, segment 5002).
"""

import time
from types import SimpleNamespace

import pytest
from scapy.all import ARP, Dot1Q, Ether, ICMP, IP, raw

from capture_fields import tshark_rows
from lab import Lab, counter_delta

MAC_A = "02:00:00:00:10:01"
MAC_B = "02:00:00:00:10:02"
IP_A = "172.16.10.11"
IP_B = "172.16.10.21"
T101 = "172.16.10.31"
T102 = "172.16.10.32"


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=((5001, ["--vlan", "101"]), (5002, ["--vlan", "102"])))
        g = SimpleNamespace(
            a1=a.add_guest("a1", f"{IP_A}/24", segment=5001, mac=MAC_A),
            c1=a.add_guest("c1", f"{IP_A}/24", segment=5002, mac=MAC_A, backend="afpacket"),
            b1=b.add_guest("b1", f"{IP_B}/24", segment=5001, mac=MAC_B),
            d1=b.add_guest("d1", f"{IP_B}/24", segment=5002, mac=MAC_B, backend="afpacket"),
            t=a.add_guest("t", None, trunk_vlans="101,102"),
        )
        # One subnet on two interfaces: each answers ARP only for its own address,
        # answers leave by the interface of their source address (policy routing), and
        # tests pick the interface of what they send with `ping -I`.
        g.t.sysctl("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
        for vid, addr in ((101, T101), (102, T102)):
            dev = g.t.add_vlan(vid, f"{addr}/24")
            g.t.ipcmd("route", "add", "172.16.10.0/24", "dev", dev, "src", addr, "table", vid)
            g.t.ipcmd("rule", "add", "from", addr, "table", vid)
        yield SimpleNamespace(lab=lab, a=a, b=b, g=g)


def rx(topo):
    """Received packets of every guest interface that belongs to one segment."""
    g = topo.g
    return {"a1": g.a1.rx_packets(), "b1": g.b1.rx_packets(), "t.101": g.t.rx_packets("eth0.101"),
            "c1": g.c1.rx_packets(), "d1": g.d1.rx_packets(), "t.102": g.t.rx_packets("eth0.102")}


SEG_5001 = ("a1", "b1", "t.101")
SEG_5002 = ("c1", "d1", "t.102")


def test_trunk_vlan_101_reaches_segment_5001_only(topo):
    """Frames the trunk guest tags with VLAN 101 reach segment 5001's guests on both
    hosts (a1 locally, b1 across VXLAN) and none of segment 5002's, although c1 and d1
    have the very same MAC and IP addresses."""
    g = topo.g
    topo.lab.settle_neighbours()
    before = rx(topo)
    assert g.t.ping(IP_A, count=3, iface="eth0.101")
    assert g.t.ping(IP_B, count=3, iface="eth0.101")
    delta = counter_delta(before, rx(topo))
    assert delta.get("a1", 0) >= 3 and delta.get("b1", 0) >= 3, delta
    assert not [k for k in delta if k in SEG_5002], f"frames leaked into 5002: {delta}"


def test_trunk_vlan_102_reaches_segment_5002_only(topo):
    """The same from eth0.102: VLAN 102 frames reach c1 and d1 (segment 5002), never
    a1 or b1."""
    g = topo.g
    topo.lab.settle_neighbours()
    before = rx(topo)
    assert g.t.ping(IP_A, count=3, iface="eth0.102")
    assert g.t.ping(IP_B, count=3, iface="eth0.102")
    delta = counter_delta(before, rx(topo))
    assert delta.get("c1", 0) >= 3 and delta.get("d1", 0) >= 3, delta
    assert not [k for k in delta if k in SEG_5001], f"frames leaked into 5001: {delta}"


def test_trunk_egress_carries_the_segment_vlan(topo):
    """Frames to the trunk port leave tagged with their segment's local VLAN: a
    capture on t's eth0 while a1 (5001) and d1 (5002, across VXLAN) ping t shows
    only 802.1Q tags 101 and 102, each with the right inner source address, and no
    untagged frame."""
    g = topo.g
    with topo.lab.capture(g.t, "eth0") as pcap:
        assert g.a1.ping(T101, count=2)
        assert g.d1.ping(T102, count=2)
    rows = list(tshark_rows(pcap, "vlan.id", "ip.src", "ip.dst", display_filter="icmp"))
    requests_in = {(vid, src) for vid, src, dst in rows if dst in (T101, T102)}
    assert requests_in == {("101", IP_A), ("102", IP_B)}, rows
    assert all(vid in ("101", "102") for vid, _, _ in rows), rows


def test_access_guests_reach_only_their_segment(topo):
    """An access guest's untagged frames belong to its port's segment: a1 (5001)
    reaches t's VLAN 101 address but not its VLAN 102 one; c1 (5002) the reverse."""
    g = topo.g
    assert g.a1.ping(T101)
    assert not g.a1.ping(T102, count=1, timeout=1)
    assert g.c1.ping(T102)
    assert not g.c1.ping(T101, count=1, timeout=1)


def test_disallowed_and_untagged_frames_on_trunk_are_dropped(topo):
    """Broadcast frames the trunk sends with VLAN 103 (not allowed) or untagged (no
    native VLAN), and frames an access guest sends tagged, are dropped and counted as
    vlan_not_allowed on their ingress port; no guest of either segment receives
    them."""
    g, a = topo.g, topo.a
    t_mac = g.t.mac
    arp = ARP(hwsrc=t_mac, psrc="172.16.10.33", pdst=IP_A)
    frames_103 = [raw(Ether(src=t_mac, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=103) / arp)] * 5
    untagged = [raw(Ether(src=t_mac, dst="ff:ff:ff:ff:ff:ff") / arp)] * 4
    tagged_on_access = [raw(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=101) / IP(src=IP_A, dst=IP_B)
                            / ICMP())] * 3
    topo.lab.settle_neighbours()
    port_t = a.weft_json("port", "show", "t")["counters"]["drops"]
    port_a1 = a.weft_json("port", "show", "a1")["counters"]["drops"]
    total = a.drops()
    before = rx(topo)
    g.t.send_frames("eth0", frames_103 + untagged)
    g.a1.send_frames("eth0", tagged_on_access)
    time.sleep(0.3)
    assert counter_delta(port_t, a.weft_json("port", "show", "t")["counters"]["drops"]) == \
        {"vlan_not_allowed": 9}
    assert counter_delta(port_a1, a.weft_json("port", "show", "a1")["counters"]["drops"]) == \
        {"vlan_not_allowed": 3}
    assert counter_delta(total, a.drops()) == {"vlan_not_allowed": 12}
    assert counter_delta(before, rx(topo)) == {}


def test_same_macs_and_ips_in_two_segments_never_leak(topo):
    """Segments 5001 and 5002 hold identical MAC/IP pairs on both hosts. 30 pings in
    5001 (a1 -> b1) leave every interface of 5002 (c1, d1, t's eth0.102) without a
    single received frame, and 30 pings in 5002 (c1 -> d1) leave 5001's untouched.
    Each host's MAC table holds each MAC once per segment, at the right place."""
    g, a, b = topo.g, topo.a, topo.b
    for src, dst, quiet in ((g.a1, IP_B, SEG_5002), (g.c1, IP_B, SEG_5001)):
        assert src.ping(dst)  # ARP resolved before counting
        topo.lab.settle_neighbours()
        before = rx(topo)
        assert src.ping(dst, count=30, interval=0.01)
        delta = counter_delta(before, rx(topo))
        leaked = {k: v for k, v in delta.items() if k in quiet}
        assert not leaked, f"pings from {src.name} leaked: {leaked}"
    for host, local, remote in ((a, MAC_A, MAC_B), (b, MAC_B, MAC_A)):
        other = b if host is a else a
        for vni, port in ((5001, "a1" if host is a else "b1"), (5002, "c1" if host is a else "d1")):
            entries = {e["mac"]: e for e in host.weft_json("mac", "list", vni)}
            assert entries[local].get("port") == port, entries
            assert entries[remote].get("vtep") == other.vtep_ip, entries
