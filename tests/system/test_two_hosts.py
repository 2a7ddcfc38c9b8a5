"""Scenario 1, one segment across L3, and scenario 2, many MACs behind one port.

Host a (underlay 10.1.1.0/24) and host b (10.1.2.0/24) are joined by a router;
the underlay MTU is 1600. Each runs weftd with --vtep-ip its underlay address and
segment 5001 with the other as static peer. Two guests per host share the overlay
subnet 172.16.10.0/24 at guest MTU 1500: a1 and b1 on TAP ports, a2 and b2 on
veth pairs attached with AF_PACKET.
"""

import itertools
import json
import time
from types import SimpleNamespace

import pytest

from lab import Lab, counter_delta

VNI = 5001
GUESTS = {  # name: (host, address, backend)
    "a1": ("a", "172.16.10.11", "tap"),
    "a2": ("a", "172.16.10.12", "afpacket"),
    "b1": ("b", "172.16.10.21", "tap"),
    "b2": ("b", "172.16.10.22", "afpacket"),
}


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI,))
        hosts = {"a": a, "b": b}
        guests = {name: hosts[h].add_guest(name, f"{ip}/24", segment=VNI, backend=backend)
                  for name, (h, ip, backend) in GUESTS.items()}
        yield SimpleNamespace(lab=lab, a=a, b=b, g=guests)


def iperf3(server, client, seconds=2, reverse=False):
    """Runs a TCP iperf3 test from client to server guest -> the client's JSON report."""
    srv = server.popen(["iperf3", "-s", "-1", "-B", server.ip])
    try:
        deadline = time.monotonic() + 5
        report = None
        while time.monotonic() < deadline:  # the server needs a moment to listen
            args = ["iperf3", "-c", server.ip, "-t", seconds, "-J", "--connect-timeout", "2000"]
            result = client.run(args + (["-R"] if reverse else []), check=False,
                                timeout=seconds + 20)
            report = json.loads(result.stdout) if result.stdout.strip() else {"error": result.stderr}
            if "unable to connect" not in report.get("error", ""):
                break
            time.sleep(0.2)
        return report
    finally:
        srv.kill()
        srv.wait()


def test_guests_ping_each_other_within_and_across_hosts(topo):
    """Every guest reaches every other one, on its own host (local switching) and on
    the other host (VXLAN over the routed underlay), in both directions; the first
    ARP broadcast of each pair crosses the overlay by head-end replication."""
    failed = [f"{src}->{dst}" for src, dst in itertools.permutations(GUESTS, 2)
              if not topo.g[src].ping(topo.g[dst].ip, count=2)]
    assert not failed, f"no answer for {failed}"
    for host in (topo.a, topo.b):
        drops = host.drops()
        assert "underlay_mtu" not in drops and "vxlan_unknown_vtep" not in drops, drops


def test_macs_learned_on_ports_and_behind_peer_vtep(topo):
    """After the pings each host's MAC table holds its own guests on their ports and the
    other host's guests behind the other host's VTEP address (learned from the
    decapsulated frames' sources)."""
    for src, dst in itertools.permutations(GUESTS, 2):
        assert topo.g[src].ping(topo.g[dst].ip)
    for host, other in ((topo.a, topo.b), (topo.b, topo.a)):
        entries = {e["mac"]: e for e in host.weft_json("mac", "list", VNI)}
        for name, guest in topo.g.items():
            entry = entries.get(guest.mac)
            assert entry, f"{name}'s MAC {guest.mac} missing on {host.name}: {entries}"
            assert entry["vni"] == VNI and entry["static"] is False
            if guest.host is host:
                assert entry.get("port") == name and "vtep" not in entry, entry
            else:
                assert entry.get("vtep") == other.vtep_ip and "port" not in entry, entry
        segment = host.weft_json("segment", "show", VNI)
        assert segment["peers"] == [other.vtep_ip]
        assert sorted(segment["ports"]) == sorted(n for n, g in topo.g.items()
                                                  if g.host is host)


@pytest.mark.parametrize("client,server", [("a1", "b1"), ("b2", "a2")],
                         ids=["tap-to-tap", "afpacket-to-afpacket"])
def test_iperf3_tcp_across_hosts(topo, client, server):
    """A TCP stream across the hosts at guest MTU 1500 runs for two seconds without
    error: full-size segments (1550-byte VXLAN datagrams) cross the 1600-byte underlay.
    The veth guests keep their default offloads (TSO, partial checksums), which weftd
    completes in software."""
    before = topo.a.drops(), topo.b.drops()
    report = iperf3(topo.g[server], topo.g[client], seconds=2)
    assert "error" not in report, report.get("error")
    received = report["end"]["sum_received"]
    assert received["bits_per_second"] > 0
    assert received["bytes"] > 1_000_000, received
    after = topo.a.drops(), topo.b.drops()
    for b, a in zip(before, after):
        delta = counter_delta(b, a)
        assert "underlay_mtu" not in delta and "oversize" not in delta, delta


def test_full_size_df_ping_fits_1600_underlay(topo):
    """A 1472-byte ping with DF (a 1500-byte IP packet, 1514-byte frame, 1550-byte
    outer datagram) crosses the hosts both ways, and no host counts underlay_mtu."""
    for src, dst in (("a1", "b1"), ("b1", "a1"), ("a2", "b2"), ("b2", "a2")):
        assert topo.g[src].ping(topo.g[dst].ip, count=2, size=1472, df=True), f"{src}->{dst}"
    for host in (topo.a, topo.b):
        stats = host.stats()
        assert "underlay_mtu" not in stats["total"]["drops"], stats["total"]["drops"]
        assert "oversize" not in stats["total"]["drops"], stats["total"]["drops"]


def test_underlay_too_small_is_counted_not_silent(topo):
    """With weftd on host a restarted with --underlay-mtu 1540, the same 1472-byte DF
    ping across hosts fails: the echo request it could not encapsulate is counted as
    underlay_mtu (in the total, in segment 5001 and in `weft drops`), so the user is
    told, and the guest gets a frag-needed for 1490 (test_pmtu.py has the details),
    after which its kernel refuses the other two itself. Small frames still pass.
    Host a gets its 1600 back afterwards, and a1 forgets the path MTU it learnt."""
    a, a1, b1 = topo.a, topo.g["a1"], topo.g["b1"]
    try:
        a.restart_weftd(underlay_mtu=1540)
        assert a.weft_json("status")["underlay_mtu"] == 1540
        assert a1.wait_ping(b1.ip), "small pings must still cross after the restart"
        before = a.drops()
        assert not a1.ping(b1.ip, count=3, size=1472, df=True, timeout=1)
        after = a.drops()
        assert counter_delta(before, after) == {"underlay_mtu": 1}
        assert a.stats()["pmtu_icmp_sent"] >= 1
        segment = a.weft_json("segment", "show", VNI)
        assert segment["counters"]["drops"].get("underlay_mtu") == after["underlay_mtu"]
        assert "underlay_mtu" in a.weft("drops").stdout
        # 1540 still carries a 1490-byte guest packet (1540 - 50).
        assert a1.ping(b1.ip, size=1462, df=True)
        assert counter_delta(after, a.drops()) == {}
    finally:
        a.restart_weftd(underlay_mtu=a.lab.underlay_mtu)
        a1.run(["ip", "route", "flush", "cache"])
    assert a.weft_json("status")["underlay_mtu"] == 1600
    assert a1.wait_ping(b1.ip)
    assert a1.ping(b1.ip, size=1472, df=True)


def test_underlay_mtu_above_the_link_counts_tx_errors(topo):
    """The opposite mistake: weftd told the underlay carries 1700 bytes when its link
    carries 1600. Guests a1 and b1 at MTU 1600 send 1572-byte DF pings (1650-byte
    datagrams); weftd encapsulates them, the kernel refuses to send them (DF, larger
    than the link), and each refusal is counted in `weft stats` io.vtep4.tx_errors:
    loss the user can see, never silent."""
    a, a1, b1 = topo.a, topo.g["a1"], topo.g["b1"]
    try:
        a.restart_weftd(underlay_mtu=1700)
        for guest in (a1, b1):
            guest.host.weft("port", "set", guest.port, "--mtu", "1600")
            guest.ipcmd("link", "set", guest.ifname, "mtu", "1600")
        assert a1.wait_ping(b1.ip)
        before = a.stats()
        assert not a1.ping(b1.ip, count=3, size=1572, df=True, timeout=1)
        after = a.stats()
        assert after["io"]["vtep4"]["tx_errors"] - before["io"]["vtep4"]["tx_errors"] == 3
        assert counter_delta(before["total"]["drops"], after["total"]["drops"]) == {}
    finally:
        for guest in (a1, b1):
            guest.ipcmd("link", "set", guest.ifname, "mtu", "1500")
            guest.host.weft("port", "set", guest.port, "--mtu", "1500", check=False)
        a.restart_weftd(underlay_mtu=a.lab.underlay_mtu)
    assert a1.wait_ping(b1.ip)


def test_many_macs_behind_one_port(topo):
    """A guest that is itself a bridge (a3: eth0 in a Linux bridge with two inner
    namespaces on veth ports) sends several MACs through one TAP port. Both inner
    addresses are reachable from the other host, and host a's MAC table has both MACs
    on port a3 (and host b has them behind a's VTEP)."""
    a, b, b1 = topo.a, topo.b, topo.g["b1"]
    a3 = a.add_guest("a3", None, segment=VNI)
    inner = [a3.add_nested_guest("n1", "172.16.10.41/24"),
             a3.add_nested_guest("n2", "172.16.10.42/24")]
    for guest in inner:
        assert b1.ping(guest.ip, count=2), f"{guest.name} unreachable from b1"
        assert guest.ping(topo.g["b2"].ip), f"{guest.name} cannot reach b2"
    on_a3 = {e["mac"] for e in a.weft_json("mac", "list", VNI) if e.get("port") == "a3"}
    assert on_a3 == {g.mac for g in inner}
    assert a.weft_json("port", "show", "a3")["macs"] == 2
    behind_a = {e["mac"] for e in b.weft_json("mac", "list", VNI) if e.get("vtep") == a.vtep_ip}
    assert {g.mac for g in inner} <= behind_a
    assert "mac_limit" not in a.drops()


BLAST = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"x" * 100, (sys.argv[1], 9))
"""


@pytest.mark.parametrize("guest", ["a1", "a2"], ids=["tap", "afpacket"])
def test_frames_weftd_could_not_take_are_counted(topo, guest):
    """weftd stopped (SIGSTOP) while a guest sends 20000 datagrams: its TAP's queue
    (about 2000 frames with the qdisc's) or its AF_PACKET ring (about 4000 small
    frames) overflows in the kernel. Once weftd runs again, the port's
    ring_overflow drops say so within a few seconds, instead of the loss being
    invisible to `weft stats`."""
    import signal

    a, g = topo.a, topo.g[guest]
    dst = topo.g["b1"].ip

    def overflow():
        io = a.stats()["io"]["ports"].get(guest, {})
        return io.get("rx_drops", {}).get("ring_overflow", 0)

    assert g.wait_ping(dst)
    before = overflow()
    a.weftd.send_signal(signal.SIGSTOP)
    try:
        g.run(["/usr/bin/python3", "-c", BLAST, dst, 20000], timeout=60)
    finally:
        a.weftd.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 5
    while overflow() - before < 5000:  # counted once a second, all at once or in parts
        assert time.monotonic() < deadline, f"{overflow() - before} counted of >= 5000 lost"
        time.sleep(0.3)
    assert g.wait_ping(dst)
