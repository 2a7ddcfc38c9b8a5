"""BUM replication modes and ARP suppression, counted on the underlay.

Four hosts on two underlay subnets (a and c in 10.N.1.0/24, b and d in
10.N.2.0/24), all agents of one weft-controller, and three segments, one per
replication mode. One guest namespace per host has a NIC on each segment. A
broadcast frame from host a's guest must reach every other guest exactly once,
and the VXLAN datagrams each host sends are counted on its link to the router:

* head-end: host a sends one copy to each of the three other VTEPs;
* proxy (NSX's unicast mode): host a sends one copy to c (its own subnet) and one
  to the proxy the controller picked in the other subnet, which alone sends the
  copy on to its neighbour: one datagram crosses between the subnets;
* multicast: host a sends one datagram to the segment's group, which the router
  (static multicast routes, as an underlay with PIM would have) carries to the
  other subnet.

ARP suppression: a request for an address the controller knows is answered by the
guest's own host; no ARP crosses the underlay.
"""
import contextlib
import json
import struct
import subprocess

import pytest

from capture_fields import tshark_rows
from controller import Controller
from lab import Lab

HOSTS = (("a", 1, 2), ("c", 1, 3), ("b", 2, 2), ("d", 2, 3))
SEGMENTS = (  # name, VNI, replication, NIC in the guests, overlay subnet
    ("he", 6001, "head-end", "eth1", 1),
    ("px", 6002, "proxy", "eth2", 2),
    ("mc", 6003, "multicast", "eth3", 3),
)
GROUP = "239.1.1.3"
PROBE_ETHERTYPE = 0x88B5  # IEEE local experimental: nothing else sends it

# A static multicast router for the lab's router namespace: one VIF per underlay
# link (the subnet bridges and plain links), and an (S, G) route from each VTEP to
# every other link. It holds the kernel's mroute socket until killed.
MROUTER = r"""
import json, socket, struct, sys, time
cfg = json.load(sys.stdin)
MRT_INIT, MRT_ADD_VIF, MRT_ADD_MFC, VIFF_USE_IFINDEX, MAXVIFS = 200, 202, 204, 0x8, 32
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
s.setsockopt(socket.IPPROTO_IP, MRT_INIT, struct.pack("i", 1))
vifs = {}
for i, ifname in enumerate(cfg["ifs"]):
    vifs[ifname] = i
    s.setsockopt(socket.IPPROTO_IP, MRT_ADD_VIF,
                 struct.pack("HBBIi4s", i, VIFF_USE_IFINDEX, 1, 0,
                             socket.if_nametoindex(ifname), bytes(4)))
for src, ifname in cfg["sources"]:
    ttls = [0 if v == vifs[ifname] else 1 for v in range(MAXVIFS)]
    s.setsockopt(socket.IPPROTO_IP, MRT_ADD_MFC,
                 struct.pack("4s4sH32BIIIi", socket.inet_aton(src),
                             socket.inet_aton(cfg["group"]), vifs[ifname], *ttls, 0, 0, 0, 0))
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def topo():
    with Lab() as lab:
        ctl = Controller(lab).start()  # and the lab's router
        hosts = ctl.add_hosts(HOSTS)
        links = {f"sub{s}" for _, s, _ in HOSTS}
        sources = [[h.ip, f"sub{h.subnet}"] for h in hosts.values()]
        mrouter = lab.router.popen(["/usr/bin/python3", "-c", MROUTER], stdin=subprocess.PIPE)
        mrouter.stdin.write(json.dumps({"ifs": sorted(links), "group": GROUP,
                                        "sources": sources}))
        mrouter.stdin.close()
        assert mrouter.stdout.readline().strip() == "ready", mrouter.stderr.read()

        for name, vni, mode, _, _ in SEGMENTS:
            spec = {"name": name, "vni": vni, "replication": mode, "arp_suppression": True}
            if mode == "multicast":
                spec["multicast_group"] = GROUP
            ctl.api("POST", "/segments", spec)
        guests = {}
        for i, (host_name, host) in enumerate(hosts.items()):
            guest = lab.add_namespace(f"g{host_name}")
            guest.macs = {}
            guest.ips = {}
            for seg, _, _, nic, net in SEGMENTS:
                port = f"{seg}-{host_name}"
                mac = f"02:00:00:{net:02x}:00:{i + 1:02x}"
                ip = f"172.16.{net}.{i + 1}"
                lab.add_veth(host, port, guest, nic)
                guest.ipcmd("link", "set", nic, "address", mac)
                guest.ipcmd("addr", "add", f"{ip}/24", "dev", nic)
                guest.macs[seg], guest.ips[seg] = mac, ip
                ctl.api("POST", "/ports", {"name": port, "host": host_name, "segment": seg,
                                           "bindings": [{"mac": mac, "ip": ip}]})
            guests[host_name] = guest
        # Every port attached and every host wired: each guest reaches every other.
        for seg, _, _, nic, _ in SEGMENTS:
            for src in guests.values():
                for dst in guests.values():
                    if src is not dst:
                        assert src.wait_ping(dst.ips[seg], timeout=15, iface=nic), \
                            f"{src.name} -> {dst.name} on {seg}\n{ctl.log()}"
        yield type("Topo", (), {"lab": lab, "ctl": ctl, "hosts": hosts, "guests": guests})
        ctl.stop()


def flood_once(topo, seg, nic):
    """Sends one broadcast probe from host a's guest on seg, capturing every host's
    link to the router and every guest's NIC -> (datagrams sent per host as
    [(src, dst, flags)], probes received per guest)."""
    lab, hosts, guests = topo.lab, topo.hosts, topo.guests
    with contextlib.ExitStack() as stack:
        links = {name: stack.enter_context(lab.capture(lab.router, h.router_if,
                                                       f"udp port 4789 and src host {h.ip}"))
                 for name, h in hosts.items()}
        nics = {name: stack.enter_context(lab.capture(g, nic, f"ether proto {PROBE_ETHERTYPE}",
                                                      name=f"{g.name}-{nic}"))
                for name, g in guests.items()}
        src_mac = bytes.fromhex(guests["a"].macs[seg].replace(":", ""))
        frame = b"\xff" * 6 + src_mac + struct.pack("!H", PROBE_ETHERTYPE) + b"weft-probe" * 5
        guests["a"].send_frames(nic, [frame])
    probe = f"eth.type == {PROBE_ETHERTYPE:#x}"
    sent = {name: [tuple(r) for r in tshark_rows(pcap, "ip.src", "ip.dst", "vxlan.flags",
                                                 display_filter=f"vxlan && {probe}")]
            for name, pcap in links.items()}
    got = {name: sum(1 for _ in tshark_rows(pcap, "eth.src", display_filter=probe))
           for name, pcap in nics.items()}
    return sent, got


def test_head_end_sends_a_copy_to_every_vtep(topo):
    sent, got = flood_once(topo, "he", "eth1")
    h = topo.hosts
    assert sorted(dst for _, dst, _ in sent["a"]) == sorted([h["b"].ip, h["c"].ip, h["d"].ip])
    assert sent["b"] == sent["c"] == sent["d"] == []
    assert got == {"a": 1, "b": 1, "c": 1, "d": 1}, got  # a: its own frame


def test_proxy_sends_one_copy_per_remote_subnet(topo):
    h = topo.hosts
    vteps = {v["host"]: v for v in topo.ctl.items("/segments/px/vteps")}
    proxies = [name for name, v in vteps.items() if v.get("proxy")]
    sent, got = flood_once(topo, "px", "eth2")
    dests = sorted(dst for _, dst, _ in sent["a"])
    remote = [d for d in dests if d.startswith(f"10.{topo.lab.net}.2.")]
    assert h["c"].ip in dests and len(dests) == 2 and len(remote) == 1, sent
    proxy = "b" if remote[0] == h["b"].ip else "d"
    other = "d" if proxy == "b" else "b"
    assert proxy in proxies, (proxy, vteps)
    # The proxy alone replicates, and only within its own subnet; c does not.
    assert [dst for _, dst, _ in sent[proxy]] == [h[other].ip], sent
    assert sent[other] == [] and sent["c"] == []
    assert got == {"a": 1, "b": 1, "c": 1, "d": 1}, got  # a: its own frame


def test_proxy_is_picked_again_when_it_goes_away(topo):
    h = topo.hosts
    vteps = {v["host"]: v for v in topo.ctl.items("/segments/px/vteps")}
    proxy = next(name for name, v in vteps.items()
                 if v.get("proxy") and name in ("b", "d"))
    other = "d" if proxy == "b" else "b"
    h[proxy].stop_weftd()
    try:
        topo.ctl.wait_for(lambda: any(v["host"] == other and v.get("proxy")
                                      for v in topo.ctl.items("/segments/px/vteps")),
                          f"{other} to become the proxy of its subnet", timeout=20)
        sent, got = flood_once(topo, "px", "eth2")
        assert h[other].ip in [dst for _, dst, _ in sent["a"]], sent
        assert got["c"] == 1 and got[other] == 1
    finally:
        h[proxy].start_weftd(**h[proxy].weftd_opts)
        topo.ctl.wait_connected(proxy)


def test_multicast_sends_one_datagram_to_the_group(topo):
    sent, got = flood_once(topo, "mc", "eth3")
    assert [dst for _, dst, _ in sent["a"]] == [GROUP], sent
    assert sent["b"] == sent["c"] == sent["d"] == []
    assert got == {"a": 1, "b": 1, "c": 1, "d": 1}, got  # a: its own frame


def test_arp_suppression_answers_at_the_first_host(topo):
    """Host a answers its guest's ARP request for a guest on b from the controller's
    table: the reply comes back, no ARP leaves host a on the underlay."""
    lab, a = topo.lab, topo.hosts["a"]
    guest = topo.guests["a"]
    target = topo.guests["b"].ips["he"]
    before = a.weft_json("stats")["arp_suppressed"]
    with lab.capture(lab.router, a.router_if, f"udp port 4789 and src host {a.ip}") as pcap:
        guest.run(["ip", "neigh", "flush", "dev", "eth1"])
        assert guest.ping(target, count=1, iface="eth1")
    arps = list(tshark_rows(pcap, "arp.dst.proto_ipv4", display_filter="vxlan && arp"))
    assert arps == [], arps
    assert a.weft_json("stats")["arp_suppressed"] > before
