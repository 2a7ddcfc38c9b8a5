"""Hosts driven by weft-controller: weftd's agent client end to end.

Three hosts on two underlay subnets (a on 10.N.1.0/24, b and c on 10.N.2.0/24)
joined by the lab's router, one weft-controller in the management namespace,
one segment with ARP suppression created through the REST API, one port per
host bound through the API (the host end of a veth whose other end is a
guest namespace's eth0). Checks:

* every guest pings every other (the controller wired VTEPs, MACs and ports);
* the controller's /segments/web/macs shows the MACs the hosts learned;
* each host shows the segment and port as the controller's, and refuses to
  change them locally;
* ARP suppression: an ARP request for a known guest is answered by the first
  host, and no ARP crosses the underlay;
* with every controller killed, traffic between known guests keeps flowing;
  started again, the hosts resync (weft status: connected) without losing a
  packet of a steady ping;
* weftd killed with -9 while the controller is down comes back from its saved
  controller state and still forwards.
"""
import signal
import time

import pytest

from capture_fields import tshark_rows
from controller import Controller
from lab import Lab

SEGMENT = {"name": "web", "vni": 5001, "replication": "head-end", "arp_suppression": True}
HOSTS = (("a", 1, 2), ("b", 2, 2), ("c", 2, 3))


def session(host):
    return host.weft_json("status").get("controller", {})


def wait_session(host, state="connected", timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session(host).get("state") == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"{host.name}: session not {state}: {session(host)}\n{host.weftd_log()}")


@pytest.fixture(scope="module")
def topo():
    with Lab() as lab:
        ctl = Controller(lab).start()  # and the lab's router
        hosts = ctl.add_hosts(HOSTS)
        ctl.api("POST", "/segments", SEGMENT)
        guests = {}
        for i, name in enumerate(hosts):
            guest = lab.add_namespace(f"g{name}")
            guest.mac = f"02:00:00:00:10:{i + 1:02x}"
            guest.ip = f"172.16.10.{i + 11}"
            port = f"web-{name}"
            lab.add_veth(hosts[name], port, guest, "eth0")
            guest.ipcmd("link", "set", "eth0", "address", guest.mac)
            guest.ipcmd("addr", "add", f"{guest.ip}/24", "dev", "eth0")
            ctl.api("POST", "/ports", {"name": port, "host": name, "segment": "web",
                                       "bindings": [{"mac": guest.mac, "ip": guest.ip}]})
            guests[name] = guest
        for src in guests.values():
            for dst in guests.values():
                if src is not dst:
                    assert src.wait_ping(dst.ip, timeout=20), \
                        f"{src.name} -> {dst.name}\n{ctl.log()}\n{hosts['a'].weftd_log()}"
        yield type("Topo", (), {"lab": lab, "ctl": ctl, "hosts": hosts, "guests": guests})
        if ctl.alive():
            ctl.stop()
        for host in hosts.values():
            host.check_weftd_log()


def test_controller_tables_show_learned_macs(topo):
    macs = {m["mac"]: m for m in topo.ctl.items("/segments/web/macs")}
    for name, guest in topo.guests.items():
        assert guest.mac in macs, macs
        assert macs[guest.mac]["host"] == name
    for host in topo.hosts.values():
        assert session(host)["state"] == "connected"
        assert session(host)["revision"] > 0


def test_host_marks_controller_objects_and_refuses_local_edits(topo):
    a = topo.hosts["a"]
    seg = [s for s in a.weft_json("segment", "list") if s["vni"] == 5001][0]
    assert seg["origin"] == "controller"
    assert seg["arp_suppression"] is True
    assert sorted(seg["peers"]) == sorted(h.ip for n, h in topo.hosts.items() if n != "a")
    port = a.weft_json("port", "show", "web-a")
    assert port["origin"] == "controller" and port["io"] != "down"
    result = a.weft("segment", "del", "5001", check=False)
    assert result.returncode != 0 and "managed by weft-controller" in result.stderr
    result = a.weft("port", "del", "web-a", check=False)
    assert result.returncode != 0 and "managed by weft-controller" in result.stderr
    # The controller's static entries for the other guests, MAC and ARP.
    arp = {e["ip"]: e for e in a.weft_json("arp", "list", "5001")}
    for name in ("b", "c"):
        assert arp[topo.guests[name].ip]["mac"] == topo.guests[name].mac
        assert arp[topo.guests[name].ip]["static"] is True


def test_arp_suppression_answers_at_the_first_host(topo):
    lab, a = topo.lab, topo.hosts["a"]
    ga, gb = topo.guests["a"], topo.guests["b"]
    ga.ipcmd("neigh", "flush", "dev", "eth0")
    with lab.capture(lab.router, a.router_if, "udp port 4789") as pcap:
        assert ga.wait_ping(gb.ip, timeout=5)
    # The ping crossed the underlay, its ARP did not.
    assert list(tshark_rows(pcap, "ip.src", display_filter="vxlan && icmp"))
    assert list(tshark_rows(pcap, "arp.src.proto_ipv4", display_filter="vxlan && arp")) == []
    neigh = ga.run(["ip", "neigh", "show", gb.ip, "dev", "eth0"]).stdout
    assert gb.mac in neigh, neigh


def test_hosts_forward_without_the_controller_and_resync(topo):
    ctl, hosts, ga, gb, gc = topo.ctl, topo.hosts, *topo.guests.values()
    ctl.kill(signal.SIGKILL)
    for host in hosts.values():
        wait_session(host, "waiting", timeout=25)
    assert ga.ping(gb.ip, count=5) and gc.ping(ga.ip, count=5)
    # A steady ping across the restart: not one packet lost.
    steady = ga.popen(["ping", "-n", "-q", "-i", "0.1", "-c", "150", gc.ip])
    time.sleep(1)
    ctl.start()
    for host in hosts.values():
        wait_session(host, "connected", timeout=40)
    out, _ = steady.communicate(timeout=60)
    assert " 0% packet loss" in out, out
    assert ga.ping(gb.ip, count=3)


def test_weftd_restarted_without_controller_forwards_from_saved_state(topo):
    ctl, a = topo.ctl, topo.hosts["a"]
    ga, gb = topo.guests["a"], topo.guests["b"]
    ctl.kill(signal.SIGKILL)
    a.restart_weftd(signal.SIGKILL)
    status = session(a)
    assert status["state"] != "connected" and status["revision"] > 0, status
    seg = [s for s in a.weft_json("segment", "list") if s["vni"] == 5001][0]
    assert seg["origin"] == "controller"
    assert ga.wait_ping(gb.ip, timeout=10), a.weftd_log()
    assert ga.ping(gb.ip, count=5)
    ctl.start()
    wait_session(a, "connected", timeout=40)
    assert ga.ping(gb.ip, count=3)
