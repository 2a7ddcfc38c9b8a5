"""Bad input: hostile or broken datagrams on the VTEP, and invalid CLI calls.

The classic two hosts (a 10.1.1.2, b 10.1.2.2, segment 5001 peered) with guests a1
(tap) and b1 (afpacket). Datagrams built with scapy are sent to host a's VTEP (UDP
4789) from inside host b's namespace (a configured peer) or from the router (a peer
of another segment, or of none). Each must be counted under its drop reason in
`weft stats -o json`, exactly (nothing else may change), while weftd stays up and
the guests keep pinging.
"""

import json
import time
from types import SimpleNamespace

import pytest
from scapy.all import ARP, Dot1Q, Ether, ICMP, IP, UDP, Raw, raw
from scapy.layers.vxlan import VXLAN

from lab import Lab, counter_delta

VNI = 5001
STRANGER_MAC = "02:00:00:00:99:01"  # behind peer b in the peer cases
NONPEER_MAC = "02:00:00:00:99:02"  # in the non-peer cases: must never be learned
STRANGER_IP = "10.{net}.1.3"  # on the router: no peer of any segment


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI,))
        # The router speaks from two more underlay addresses: 10.1.1.1 is a peer of
        # segment 5003 on host a (a VTEP a knows, but not in 5001), 10.1.1.3 of none.
        a.weft("segment", "add", 5003, "--peer", a.gateway)
        lab.router.ipcmd("addr", "add", f"{STRANGER_IP.format(net=lab.net)}/24", "dev",
                         a.router_if)
        a1 = a.add_guest("a1", "172.16.10.11/24", segment=VNI)
        b1 = b.add_guest("b1", "172.16.10.21/24", segment=VNI, backend="afpacket")
        assert a1.ping(b1.ip) and b1.ping(a1.ip)
        yield SimpleNamespace(lab=lab, a=a, b=b, a1=a1, b1=b1)


def icmp_frame(topo, dst_mac=None, src_mac=STRANGER_MAC, payload=b"x" * 16):
    """An inner Ethernet/IPv4/ICMP frame for a1 from a MAC not otherwise in use."""
    return (Ether(src=src_mac, dst=dst_mac or topo.a1.mac) /
            IP(src="172.16.10.99", dst=topo.a1.ip) / ICMP() / Raw(payload))


def snapshot(host):
    """What bad input may change: the switch's drops and the VTEP socket's drops."""
    stats = host.stats()
    return {"total": dict(stats["total"]["drops"]),
            "vtep4": dict(stats["io"]["vtep4"]["rx_drops"])}


# (id, sender, datagrams(topo) -> [bytes], expected {"total"|"vtep4": {reason: n}});
# sender: "peer" (host b), "other-peer" (10.1.1.1, a peer of 5003 only), "stranger".
CASES = [
    ("truncated-header", "peer",
     lambda t: [b"\x08\x00\x00"] * 3,
     {"total": {"vxlan_truncated": 3}}),
    ("header-without-frame", "peer",
     lambda t: [raw(VXLAN(vni=VNI))] * 2,
     {"total": {"vxlan_truncated": 2}}),
    ("i-flag-clear", "peer",
     lambda t: [raw(VXLAN(flags=0, vni=VNI) / icmp_frame(t))] * 4,
     {"total": {"vxlan_bad_flags": 4}}),
    ("unknown-vni", "peer",
     lambda t: [raw(VXLAN(vni=7777) / icmp_frame(t))] * 5,
     {"total": {"vxlan_unknown_vni": 5}}),
    # An inner frame shorter than an Ethernet header (a runt): the VXLAN layer refuses
    # it as vxlan_truncated ("shorter than its header plus an inner Ethernet header").
    ("runt-inner-frame", "peer",
     lambda t: [raw(VXLAN(vni=VNI)) + bytes.fromhex("ffffffffffff02000000") ] * 2,
     {"total": {"vxlan_truncated": 2}}),
    # Bigger than any frame weftd takes in (its buffers hold 9216 bytes): the socket
    # truncates it and the VTEP drops it before the switch sees it.
    ("oversize-datagram", "peer",
     lambda t: [raw(VXLAN(vni=VNI) / icmp_frame(t, payload=b"x" * 10000))] * 2,
     {"vtep4": {"oversize": 2}}),
    # Fits the VTEP, but the inner frame exceeds a1's MTU of 1500.
    ("inner-frame-over-port-mtu", "peer",
     lambda t: [raw(VXLAN(vni=VNI) / icmp_frame(t, payload=b"x" * 1600))] * 3,
     {"total": {"oversize": 3}}),
    ("inner-vlan-tag", "peer",
     lambda t: [raw(VXLAN(vni=VNI) / Ether(src=STRANGER_MAC, dst=t.a1.mac) / Dot1Q(vlan=5) /
                    IP(dst=t.a1.ip) / ICMP())] * 2,
     {"total": {"vxlan_inner_vlan": 2}}),
    ("inner-source-mac-broadcast", "peer",
     lambda t: [raw(VXLAN(vni=VNI) / icmp_frame(t, src_mac="ff:ff:ff:ff:ff:ff"))] * 2,
     {"total": {"src_mac_invalid": 2}}),
    ("inner-ipv4-truncated", "peer",
     lambda t: [raw(VXLAN(vni=VNI) / Ether(src=STRANGER_MAC, dst=t.a1.mac, type=0x0800)) +
                b"\x45\x00\x00\x54"] * 2,
     {"total": {"ipv4_truncated": 2}}),
    ("non-peer-source", "stranger",
     lambda t: [raw(VXLAN(vni=VNI) / icmp_frame(t, src_mac=NONPEER_MAC))] * 3,
     {"total": {"vxlan_unknown_vtep": 3}}),
    ("peer-of-another-segment", "other-peer",
     lambda t: [raw(VXLAN(vni=VNI) / icmp_frame(t, src_mac=NONPEER_MAC))] * 2,
     {"total": {"vxlan_unknown_vtep": 2}}),
    ("non-peer-arp-broadcast", "stranger",
     lambda t: [raw(VXLAN(vni=VNI) / Ether(src=NONPEER_MAC, dst="ff:ff:ff:ff:ff:ff") /
                    ARP(hwsrc=NONPEER_MAC, psrc="172.16.10.98", pdst=t.a1.ip))] * 2,
     {"total": {"vxlan_unknown_vtep": 2}}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_vxlan_datagrams_are_counted_and_harmless(topo, case):
    """Malformed or unwelcome datagrams to host a's VTEP are dropped and counted under
    exactly their drop reason (the delta of `weft stats -o json` is exactly the
    expected one); nothing reaches a1; weftd stays up and the guests keep pinging."""
    _, sender, build, expected = case
    a, a1 = topo.a, topo.a1
    source = topo.b if sender == "peer" else topo.lab.router
    src_ip = {"peer": topo.b.vtep_ip, "other-peer": a.gateway,
              "stranger": STRANGER_IP.format(net=topo.lab.net)}[sender]
    datagrams = build(topo)
    topo.lab.settle_neighbours()
    before, rx_before = snapshot(a), a1.rx_packets()
    source.send_udp(a.vtep_ip, 4789, datagrams, src=src_ip)
    want = {k: {**before[k], **{r: before[k].get(r, 0) + n for r, n in v.items()}}
            for k, v in expected.items()}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(snapshot(a)[k] != v for k, v in want.items()):
        time.sleep(0.05)
    time.sleep(0.1)  # anything more would show now
    after = snapshot(a)
    for key in ("total", "vtep4"):
        assert counter_delta(before[key], after[key]) == expected.get(key, {}), \
            f"{key} drops changed by {counter_delta(before[key], after[key])}"
    assert a1.rx_packets() == rx_before, "a dropped datagram reached a1"
    assert a.weftd_alive(), a.weftd_log()
    assert a1.ping(topo.b1.ip) and topo.b1.ping(a1.ip)
    macs = {e["mac"]: e for e in a.weft_json("mac", "list", VNI)}
    if sender != "peer":
        assert NONPEER_MAC not in macs, "learned a MAC from a non-peer"


def test_datagram_to_another_address_of_the_host_is_not_taken(topo):
    """The VTEP's socket listens on the wildcard address (so that multicast groups
    reach it), but only datagrams to the VTEP address itself (or a joined group) are
    VXLAN for Weft: one from a peer to another address of host a is dropped as
    vtep_not_local, and nothing reaches a1."""
    a, a1 = topo.a, topo.a1
    other = f"10.{topo.lab.net}.1.9"
    a.ipcmd("addr", "add", f"{other}/24", "dev", a.ul_if)
    try:
        topo.lab.settle_neighbours()
        before, rx_before = snapshot(a), a1.rx_packets()
        topo.b.send_udp(other, 4789, [raw(VXLAN(vni=VNI) / icmp_frame(topo))] * 2,
                        src=topo.b.vtep_ip)
        deadline = time.monotonic() + 3
        while (time.monotonic() < deadline and
               snapshot(a)["vtep4"].get("vtep_not_local", 0) < before["vtep4"].get(
                   "vtep_not_local", 0) + 2):
            time.sleep(0.05)
        after = snapshot(a)
        assert counter_delta(before["vtep4"], after["vtep4"]) == {"vtep_not_local": 2}
        assert counter_delta(before["total"], after["total"]) == {}
        assert a1.rx_packets() == rx_before
    finally:
        a.ipcmd("addr", "del", f"{other}/24", "dev", a.ul_if)
    assert a1.ping(topo.b1.ip)


def config_snapshot(host, guest_ns):
    """Everything an invalid call must leave alone: ports and segments (without their
    counters), static MACs, the saved configuration, and the guest's interfaces."""
    volatile = {"counters", "macs", "io", "io_error"}
    ports = [{k: v for k, v in p.items() if k not in volatile}
             for p in host.weft_json("port", "list")]
    segments = [{k: v for k, v in s.items() if k != "counters"}
                for s in host.weft_json("segment", "list")]
    static = [m for m in host.weft_json("mac", "list") if m["static"]]
    saved = json.loads((host.datadir / "config.json").read_text())
    links = sorted(link["ifname"] for link in
                   json.loads(host.lab.hosts["a"].run(
                       ["ip", "-n", guest_ns, "-j", "link", "show"]).stdout))
    return {"ports": ports, "segments": segments, "static": static, "saved": saved,
            "links": links}


# (id, args, allowed exit codes, text the message must contain, case-insensitive)
INVALID_CALLS = [
    ("port-unknown-segment",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "9999"], {1}, "9999"),
    ("port-bad-bind-mac",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "5001", "--bind", "02:00:00:00:00"], {1, 2}, ""),
    ("port-multicast-bind-mac",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "5001", "--port-security", "--bind", "01:00:5e:00:00:01"], {1, 2}, ""),
    ("port-trunk-without-vlans",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--trunk"], {2}, ""),
    ("port-trunk-empty-vlans",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--trunk", ""], {1, 2}, ""),
    ("port-trunk-vlan-out-of-range",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--trunk", "101,4095"], {1, 2}, "4095"),
    ("port-native-vlan-not-allowed",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--trunk", "101", "--native-vlan", "7"], {1, 2}, ""),
    ("port-segment-and-trunk",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "5001", "--trunk", "101"], {1, 2}, ""),
    ("port-without-backend", ["port", "add", "gx", "--segment", "5001"], {1, 2}, "backend"),
    ("port-unknown-backend",
     ["port", "add", "gx", "--backend", "vhost", "--segment", "5001"], {1, 2}, "backend"),
    ("port-bad-name",
     ["port", "add", "g/x", "--backend", "tap", "--netns", "{ns}", "--segment", "5001"],
     {1, 2}, ""),
    ("port-name-taken",
     ["port", "add", "a1", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "5001"], {1}, "a1"),
    ("port-security-without-bindings",
     ["port", "add", "gx", "--backend", "tap", "--ifname", "gx", "--netns", "{ns}",
      "--segment", "5001", "--port-security"], {1, 2}, ""),
    ("port-missing-device",
     ["port", "add", "gx", "--backend", "afpacket", "--ifname", "nosuchif",
      "--segment", "5001"], {1}, "nosuchif"),
    ("port-set-unknown", ["port", "set", "nosuch", "--down"], {1}, "nosuch"),
    ("port-del-unknown", ["port", "del", "nosuch"], {1}, "nosuch"),
    ("segment-vni-zero", ["segment", "add", "0"], {1, 2}, ""),
    ("segment-vni-too-big", ["segment", "add", "16777216"], {1, 2}, ""),
    ("segment-exists", ["segment", "add", "5001"], {1}, "5001"),
    ("segment-bad-peer", ["segment", "add", "6001", "--peer", "10.1.2"], {1, 2}, ""),
    ("segment-multicast-without-group",
     ["segment", "add", "6001", "--bum", "multicast"], {1, 2}, ""),
    ("segment-del-in-use", ["segment", "del", "5001"], {1}, "5001"),
    ("peer-bad-address", ["peer", "add", "5001", "not-an-ip"], {1, 2}, ""),
    ("peer-unknown-segment", ["peer", "add", "9999", "10.1.3.2"], {1}, "9999"),
    ("peer-multicast", ["peer", "add", "5001", "239.1.1.1"], {1, 2}, ""),
    ("mac-bad-address", ["mac", "add", "5001", "zz:zz", "--port", "a1"], {1, 2}, ""),
    ("mac-unknown-port", ["mac", "add", "5001", "02:00:00:00:00:42", "--port", "nosuch"],
     {1}, "nosuch"),
    ("mac-not-a-peer", ["mac", "add", "5001", "02:00:00:00:00:42", "--vtep", "10.9.9.9"],
     {1}, "10.9.9.9"),
    ("unknown-subcommand", ["port", "frobnicate"], {2}, "frobnicate"),
]


@pytest.mark.parametrize("call", INVALID_CALLS, ids=[c[0] for c in INVALID_CALLS])
def test_invalid_cli_calls_are_refused_and_change_nothing(topo, call):
    """An invalid `weft` call exits with 1 (weftd refused) or 2 (usage error) and a
    message on stderr, prints nothing on stdout, and leaves the ports, segments, static
    MACs, the saved configuration and the guest's interfaces exactly as they were (no
    TAP device left behind by a refused port)."""
    _, args, codes, needle = call
    a = topo.a
    ns = topo.a1.ns
    before = config_snapshot(a, ns)
    result = a.weft(*[x.format(ns=ns) for x in args], check=False)
    assert result.returncode in codes, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("weft"), result.stderr
    if result.returncode == 1:
        assert result.stderr.startswith("weft: "), result.stderr
    assert needle.lower() in result.stderr.lower(), result.stderr
    assert config_snapshot(a, ns) == before
    assert a.weftd_alive()


def test_weftd_unreachable_is_exit_code_3(topo):
    """With no weftd behind the socket, weft says so and exits with 3."""
    result = topo.a.weft("status", check=False, socket=topo.a.dir / "no-such.sock")
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert result.stderr.startswith("weft: ") and result.stdout == ""
