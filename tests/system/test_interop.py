"""Scenario 3: any standard VTEP at the far end must interoperate.

Weft hosts a (10.1.1.2) and b (10.1.2.2) and a third host c (10.1.3.2) whose VTEP is
the Linux kernel's own: `ip link add vx0 type vxlan id 5001 dstport 4789 local
10.1.3.2 nolearning` in a bridge with guest c1, head-end replication to a and b
through all-zero FDB entries (`bridge fdb append 00:00:00:00:00:00 dev vx0 dst ...`).
Segment 5001 on a and b lists the two other VTEPs as peers.

Host c's underlay interface runs with transmit offloads off (`ethtool -K ul0 tx
off`): see Lab.add_linux_vtep_host for why a veth underlay needs it.

The wire format is checked by tshark, independently of Weft and Linux, on the
router's link to host a.
"""

import time
from types import SimpleNamespace

import pytest

from capture_fields import tshark_rows
from lab import Lab

VNI = 5001


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        lab.add_router()
        a, b = lab.add_host("a", 1), lab.add_host("b", 2)
        c = lab.add_linux_vtep_host("c", 3, vni=VNI, peers=[a.vtep_ip, b.vtep_ip])
        for host, others in ((a, (b, c)), (b, (a, c))):
            host.start_weftd()
            host.weft("segment", "add", VNI, *[x for o in others for x in ("--peer", o.vtep_ip)])
        g = SimpleNamespace(a1=a.add_guest("a1", "172.16.10.11/24", segment=VNI),
                            b1=b.add_guest("b1", "172.16.10.21/24", segment=VNI,
                                           backend="afpacket"),
                            c1=c.add_guest("c1", "172.16.10.31/24"))
        yield SimpleNamespace(lab=lab, a=a, b=b, c=c, g=g)


def iperf3(server, client, seconds=2, reverse=False):
    """A TCP iperf3 run between two guests -> the client's JSON report."""
    import json
    srv = server.popen(["iperf3", "-s", "-1", "-B", server.ip])
    try:
        deadline = time.monotonic() + 5
        while True:
            args = ["iperf3", "-c", server.ip, "-t", seconds, "-J", "--connect-timeout", "2000"]
            result = client.run(args + (["-R"] if reverse else []), check=False,
                                timeout=seconds + 20)
            report = json.loads(result.stdout) if result.stdout.strip() else {"error": result.stderr}
            if "unable to connect" not in report.get("error", "") or time.monotonic() > deadline:
                return report
            time.sleep(0.2)
    finally:
        srv.kill()
        srv.wait()


def test_linux_vtep_guest_and_weft_guests_ping_both_ways(topo):
    """The guest behind the kernel's VTEP and the guests behind Weft's reach each other
    in both directions (ARP broadcasts replicated both ways, unicast learned both
    ways): c1 <-> a1 (TAP port) and c1 <-> b1 (AF_PACKET port)."""
    g = topo.g
    for src, dst in ((g.c1, g.a1), (g.a1, g.c1), (g.c1, g.b1), (g.b1, g.c1)):
        assert src.ping(dst.ip, count=2), f"{src.name} -> {dst.name}"


def test_weft_learns_linux_guest_behind_linux_vtep(topo):
    """Weft learns c1's MAC behind the Linux VTEP's address, and the Linux bridge
    learns a1's MAC on its vxlan port: each side understood the other's frames."""
    g, a, c = topo.g, topo.a, topo.c
    assert g.a1.ping(g.c1.ip)
    entries = {e["mac"]: e for e in a.weft_json("mac", "list", VNI)}
    assert entries[g.c1.mac].get("vtep") == c.vtep_ip, entries
    fdb = c.run(["bridge", "fdb", "show", "br", "br0"]).stdout
    assert any(line.startswith(g.a1.mac) and "dev vx0" in line for line in fdb.splitlines()), fdb


@pytest.mark.parametrize("reverse", [False, True], ids=["linux-to-weft", "weft-to-linux"])
def test_iperf3_tcp_between_linux_and_weft_guests(topo, reverse):
    """A two-second TCP stream between c1 (client) and a1 (server), in each direction
    (-R: a1 sends), completes with data received and no error."""
    report = iperf3(topo.g.a1, topo.g.c1, seconds=2, reverse=reverse)
    assert "error" not in report, report.get("error")
    received = report["end"]["sum_received"]
    assert received["bits_per_second"] > 0
    assert received["bytes"] > 1_000_000, received


def test_vxlan_wire_format_checked_by_tshark(topo):
    """On the router's link to host a, tshark decodes Weft's datagrams as standard
    VXLAN: UDP to port 4789 from a source port in 49152-65535 (flow entropy, RFC 7348),
    I flag set, VNI 5001, outer IPv4 with DF and TTL 64 and a zero UDP checksum, the
    inner frame untagged Ethernet with the guest's addresses. They go to both b and the
    Linux VTEP c, and the kernel's datagrams from c decode with VNI 5001 too."""
    g, a, b, c = topo.g, topo.a, topo.b, topo.c
    with topo.lab.capture(topo.lab.router, topo.a.router_if, "udp port 4789") as pcap:
        assert g.a1.ping(g.c1.ip, count=3)
        assert g.a1.ping(g.b1.ip, count=3)
    fields = ("ip.src", "ip.dst", "ip.flags.df", "ip.ttl", "udp.srcport", "udp.dstport",
              "udp.checksum", "vxlan.flag_i", "vxlan.vni", "eth.src", "vlan.id")
    # A field's occurrences as a list: outer first, then inner.
    rows = [dict(zip(fields, (column.split(",") for column in row)))
            for row in tshark_rows(pcap, *fields, display_filter="vxlan && icmp")]
    from_weft = [r for r in rows if r["ip.src"][0] == a.vtep_ip]
    from_linux = [r for r in rows if r["ip.src"][0] == c.vtep_ip]
    assert {r["ip.dst"][0] for r in from_weft} == {b.vtep_ip, c.vtep_ip}, rows
    assert len(from_weft) == 6 and len(from_linux) == 3, rows
    for r in from_weft:
        assert r["vxlan.vni"] == [str(VNI)], r
        assert r["vxlan.flag_i"] in (["True"], ["1"]), r
        assert r["udp.dstport"] == ["4789"] and 49152 <= int(r["udp.srcport"][0]) <= 65535, r
        assert r["ip.flags.df"][0] in ("1", "True") and r["ip.ttl"][0] == "64", r
        assert int(r["udp.checksum"][0], 16) == 0, r
        assert r["ip.src"][1] == g.a1.ip and r["eth.src"][-1] == g.a1.mac, r
        assert r["vlan.id"] == [""], r  # RFC 7348 section 6: no inner tag
    for r in from_linux:
        assert r["vxlan.vni"] == [str(VNI)] and r["udp.dstport"] == ["4789"], r
        assert r["ip.src"][1] == g.c1.ip, r
    # No datagram with another VNI crossed the link.
    vnis = {row[0].split(",")[0]  # of every frame that has a VNI
            for row in tshark_rows(pcap, "vxlan.vni", display_filter="vxlan.vni")}
    assert vnis == {str(VNI)}, vnis
