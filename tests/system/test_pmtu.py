"""Path MTU: a guest's packet too big for the underlay once encapsulated is answered.

Host a (10.1.1.0/24) and host b (10.1.2.0/24) behind a router, underlay MTU 1500
(weftd --underlay-mtu 1500): a guest at MTU 1500 sends 1514-byte frames, which do
not fit once VXLAN adds 36 bytes of outer IPv4/UDP/VXLAN (and 14 of Ethernet
below). weftd drops each such frame (counted as underlay_mtu) and, for IPv4 with
DF and for IPv6, sends the guest an ICMP fragmentation-needed / packet-too-big
with MTU 1450 (1500 - 36 - 14), so the guest's path MTU discovery lowers its
packets (and TCP its MSS) for that destination and traffic flows.

Guests: a1, b1 on TAP ports, a2, b2 on veth pairs (AF_PACKET, TSO on: their
super-frames are cut into 1448-byte segments that do not fit either), and a3, b3
on TAP ports with IPv6 enabled (the lab's namespaces have it off).
"""

import re
import time
from types import SimpleNamespace

import pytest

from lab import Lab, counter_delta

VNI = 5001
UNDERLAY_MTU = 1500
PATH_MTU = UNDERLAY_MTU - 36 - 14
GUESTS = {  # name: (host, address, backend)
    "a1": ("a", "172.16.10.11", "tap"),
    "a2": ("a", "172.16.10.12", "afpacket"),
    "a3": ("a", "172.16.10.13", "tap"),
    "b1": ("b", "172.16.10.21", "tap"),
    "b2": ("b", "172.16.10.22", "afpacket"),
    "b3": ("b", "172.16.10.23", "tap"),
}
IPV6 = {"a3": "fd00:10::13", "b3": "fd00:10::23"}
TRANSFER = 1 << 20


def enable_ipv6(guest, address):
    """IPv6 on in this guest only: its address without duplicate detection (no wait)."""
    guest.sysctl("net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                 f"net.ipv6.conf.{guest.ifname}.disable_ipv6=0",
                 f"net.ipv6.conf.{guest.ifname}.accept_dad=0")
    guest.ipcmd("addr", "add", f"{address}/64", "dev", guest.ifname, "nodad")
    guest.ip6 = address


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab(underlay_mtu=UNDERLAY_MTU) as lab:
        a, b = lab.classic(segments=(VNI,))
        hosts = {"a": a, "b": b}
        guests = {name: hosts[h].add_guest(name, f"{ip}/24", segment=VNI, backend=backend)
                  for name, (h, ip, backend) in GUESTS.items()}
        for name, address in IPV6.items():
            enable_ipv6(guests[name], address)
        for src, dst in (("a1", "b1"), ("b2", "a2"), ("a3", "b3")):
            assert guests[src].wait_ping(guests[dst].ip), f"{src} cannot reach {dst}"
        yield SimpleNamespace(lab=lab, a=a, b=b, g=guests)


def pmtu_stats(host):
    s = host.stats()
    return s["pmtu_icmp_sent"], s["pmtu_icmp_ratelimited"], s["total"]["drops"]


def route_mtu(guest, dst, v6=False):
    """The path MTU the guest's kernel has cached for dst (None: the link's)."""
    out = guest.run(["ip", *(["-6"] if v6 else []), "route", "get", dst]).stdout
    match = re.search(r"\bmtu (\d+)", out)
    return int(match.group(1)) if match else None


def ping_df(guest, dst, size, v6=False, count=3):
    """ping -M do: -> (all answered, ping's whole output)."""
    args = ["ping", *(["-6"] if v6 else []), "-n", "-M", "do", "-s", size, "-c", count,
            "-i", "0.2", "-W", "2", dst]
    result = guest.run(args, check=False, timeout=30)
    out = result.stdout + result.stderr
    match = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    ok = bool(match) and match.group(1) == match.group(2) == str(count)
    return ok, out


SERVER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
n = 0
while True:
    data = c.recv(65536)
    if not data:
        break
    n += len(data)
print(n, flush=True)
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
c.sendall(b"w" * int(sys.argv[3]))
c.shutdown(socket.SHUT_WR)
c.recv(1)
"""


def tcp_transfer(client, server, dst, port=5555, size=TRANSFER, timeout=30):
    """Sends size bytes over one TCP connection from client to server's dst address ->
    (bytes the server received, seconds it took)."""
    srv = server.popen(["/usr/bin/python3", "-c", SERVER, dst, port])
    try:
        assert srv.stdout.readline().strip() == "ready", srv.stderr.read()
        start = time.monotonic()
        client.run(["/usr/bin/python3", "-c", CLIENT, dst, port, size], timeout=timeout)
        received = int(srv.stdout.readline().strip() or -1)
        return received, time.monotonic() - start
    finally:
        srv.kill()
        srv.wait()


def test_df_ping_too_big_gets_frag_needed(topo):
    """a1's 1472-byte DF ping to b1 (a 1500-byte packet) does not fit the 1500-byte
    underlay once encapsulated: ping reports "Frag needed and DF set (mtu = 1450)" (or,
    once the kernel has learnt it, a local "message too long, mtu=1450"), a1's route to
    b1 caches MTU 1450, host a counts the ICMP it sent and still the drop; a 1422-byte
    DF ping (1450 bytes of IP) then crosses."""
    a, a1, b1 = topo.a, topo.g["a1"], topo.g["b1"]
    assert route_mtu(a1, b1.ip) is None
    sent0, limited0, drops0 = pmtu_stats(a)
    ok, out = ping_df(a1, b1.ip, 1472)
    assert not ok, out
    assert re.search(rf"(Frag needed and DF set \(mtu = {PATH_MTU}\)|mtu={PATH_MTU})", out), out
    assert route_mtu(a1, b1.ip) == PATH_MTU
    sent, limited, drops = pmtu_stats(a)
    assert sent - sent0 >= 1
    assert limited == limited0
    assert counter_delta(drops0, drops).get("underlay_mtu", 0) >= 1
    ok, out = ping_df(a1, b1.ip, PATH_MTU - 28)
    assert ok, out


def test_non_df_too_big_is_dropped_and_counted_without_icmp(topo):
    """Without DF (ping -M dont, which also makes Linux ignore the path MTU it knows)
    the 1500-byte packets are dropped and counted as underlay_mtu, and no ICMP is
    sent: weftd does not fragment, and RFC 1191 errors are for DF packets only."""
    a, a1, b2 = topo.a, topo.g["a1"], topo.g["b2"]
    assert a1.wait_ping(b2.ip)
    sent0, _, drops0 = pmtu_stats(a)
    result = a1.run(["ping", "-n", "-M", "dont", "-s", 1472, "-c", 2, "-i", "0.2", "-W", 1,
                     b2.ip], check=False)
    assert "2 packets transmitted, 0 received" in result.stdout, result.stdout + result.stderr
    sent, _, drops = pmtu_stats(a)
    assert sent == sent0
    assert counter_delta(drops0, drops) == {"underlay_mtu": 2}
    assert route_mtu(a1, b2.ip) is None


# Pairs whose server has no path MTU cached toward the client either: it would
# advertise the lowered MSS in its SYN-ACK and no packet would be too big.
@pytest.mark.parametrize("client,server", [("b1", "a3"), ("a2", "b2")],
                         ids=["tap", "afpacket-tso"])
def test_tcp_across_hosts_completes_by_pmtud(topo, client, server):
    """1 MB over TCP across the hosts, guest MTU 1500 on a 1500-byte underlay: the
    first full-size segments are refused with frag-needed, the client's kernel lowers
    its path MTU to 1450 (and its MSS), and the transfer completes. Without the ICMP
    the connection would hang after the handshake."""
    c, s = topo.g[client], topo.g[server]
    sender = c.host
    assert route_mtu(c, s.ip) is None
    sent0, _, drops0 = pmtu_stats(sender)
    received, seconds = tcp_transfer(c, s, s.ip)
    assert received == TRANSFER, f"server got {received} of {TRANSFER} bytes"
    assert route_mtu(c, s.ip) == PATH_MTU
    sent, _, drops = pmtu_stats(sender)
    assert sent - sent0 >= 1
    assert counter_delta(drops0, drops).get("underlay_mtu", 0) >= 1
    assert seconds < 20


def test_ipv6_packet_too_big(topo):
    """IPv6 (guests a3 and b3): a 1452-byte ping (a 1500-byte packet; IPv6 routers never
    fragment, so DF is implied) gets "Packet too big: mtu=1450", the route caches 1450,
    a 1402-byte ping then crosses, and 1 MB over TCP from b3 to a3 completes."""
    a, a3, b3 = topo.a, topo.g["a3"], topo.g["b3"]
    deadline = time.monotonic() + 15
    while not ping_df(a3, b3.ip6, 56, v6=True, count=1)[0]:  # neighbour discovery first
        assert time.monotonic() < deadline, "a3 cannot reach b3 over IPv6"
    sent0, _, _ = pmtu_stats(a)
    ok, out = ping_df(a3, b3.ip6, 1452, v6=True)
    assert not ok, out
    assert re.search(rf"(Packet too big: mtu={PATH_MTU}|mtu={PATH_MTU})", out), out
    assert route_mtu(a3, b3.ip6, v6=True) == PATH_MTU
    sent, _, _ = pmtu_stats(a)
    assert sent - sent0 >= 1
    ok, out = ping_df(a3, b3.ip6, PATH_MTU - 48, v6=True)
    assert ok, out
    # a3 would advertise its lowered MSS to b3: it forgets what it learnt first.
    a3.run(["ip", "-6", "route", "flush", "cache"])
    assert route_mtu(a3, b3.ip6, v6=True) is None
    assert route_mtu(b3, a3.ip6, v6=True) is None
    b = topo.b
    sent0, _, _ = pmtu_stats(b)
    received, _ = tcp_transfer(b3, a3, a3.ip6, port=5556)
    assert received == TRANSFER
    assert route_mtu(b3, a3.ip6, v6=True) == PATH_MTU
    assert pmtu_stats(b)[0] - sent0 >= 1


def test_pmtu_icmp_rate_zero_only_drops(topo):
    """weftd --pmtu-icmp-rate 0: a too-big DF packet is dropped and counted, and no
    ICMP goes back (so the guest learns nothing and its route keeps the link MTU);
    the default budget is back after the next restart."""
    a, a1, b3 = topo.a, topo.g["a1"], topo.g["b3"]
    a1.run(["ip", "route", "flush", "cache"])
    assert route_mtu(a1, b3.ip) is None
    a.restart_weftd(pmtu_icmp_rate=0)
    try:
        assert a1.wait_ping(b3.ip, timeout=10)
        sent0, limited0, drops0 = pmtu_stats(a)
        ok, out = ping_df(a1, b3.ip, 1472, count=2)
        assert not ok, out
        assert "Frag needed" not in out, out
        sent, limited, drops = pmtu_stats(a)
        assert (sent, limited) == (sent0, limited0)
        assert counter_delta(drops0, drops).get("underlay_mtu", 0) == 2
        assert route_mtu(a1, b3.ip) is None
    finally:
        a.restart_weftd(pmtu_icmp_rate=None)
        assert a1.wait_ping(b3.ip, timeout=10)
