"""Restart: weftd killed with SIGKILL in the middle of traffic comes back, from its
saved configuration (datadir/config.json), with the same ports, segments, peers and
static MACs, re-attaches to the guests' devices (the persistent TAP it made, the
veth it was given) and forwards again.

The classic two hosts with segment 5001; on host a guests a1 (tap, with a MAC
limit and a binding) and a2 (afpacket), a trunk port and a static MAC; on host b
guest b1.
"""

import re
import signal
import time
from types import SimpleNamespace

import pytest

from lab import Lab

VNI = 5001
STATIC_MAC = "02:00:00:00:77:77"


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI, (5002, ["--vlan", "102"])))
        a1 = a.add_guest("a1", "172.16.10.11/24", segment=VNI, mac="02:00:00:00:10:11",
                         port_args=("--mac-limit", "8", "--bind", "02:00:00:00:10:11,172.16.10.11"))
        a2 = a.add_guest("a2", "172.16.10.12/24", segment=VNI, backend="afpacket")
        a.add_guest("tr", None, trunk_vlans="102", port_args=("--mtu", "1400"))
        a.weft("mac", "add", VNI, STATIC_MAC, "--vtep", b.vtep_ip)
        b1 = b.add_guest("b1", "172.16.10.21/24", segment=VNI)
        yield SimpleNamespace(lab=lab, a=a, b=b, g={"a1": a1, "a2": a2, "b1": b1})


def configuration(host):
    """What must survive a restart: status basics, ports and segments without their
    run-time state, and the static MAC entries."""
    status = host.weft_json("status")
    volatile = {"counters", "macs", "io", "io_error"}
    return {
        "status": {k: status[k] for k in ("name", "vtep", "vxlan_port", "underlay_mtu", "datadir",
                                          "ports")},
        "ports": sorted(({k: v for k, v in p.items() if k not in volatile}
                         for p in host.weft_json("port", "list")), key=lambda p: p["name"]),
        "segments": sorted(({k: v for k, v in s.items() if k != "counters"}
                            for s in host.weft_json("segment", "list")), key=lambda s: s["vni"]),
        "static_macs": sorted((m["vni"], m["mac"], m.get("vtep"), m.get("port"))
                              for m in host.weft_json("mac", "list") if m["static"]),
    }


def reply_times(ping_output):
    """Timestamps (ping -D) of the echo replies in ping's output."""
    return [float(t) for t in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", ping_output, re.M)]


@pytest.mark.parametrize("guest", ["a1", "a2"], ids=["tap", "afpacket"])
def test_kill9_during_ping_then_restart_restores_config_and_traffic(topo, guest):
    """While guest pings b1 every 0.1 s, weftd on host a is killed with SIGKILL: the
    pings stop being answered. Started again with the same datadir it reports the same
    configuration (`weft port list` and the rest equal to before), its ports are
    attached again (io not "down"), and the same running ping gets answers again."""
    a, g, b1 = topo.a, topo.g[guest], topo.g["b1"]
    assert g.ping(b1.ip)
    before = configuration(a)
    pinger = g.popen(["ping", "-n", "-D", "-i", "0.1", "-W", "1", b1.ip])
    time.sleep(1.0)
    a.kill_weftd(signal.SIGKILL)
    killed_at = time.time()
    assert not g.ping(b1.ip, count=2, timeout=1), "pings answered with weftd dead"
    a.start_weftd(**a.weftd_opts)
    restarted_at = time.time()
    assert g.wait_ping(b1.ip, timeout=10), "no answer after the restart"
    time.sleep(1.0)
    pinger.send_signal(signal.SIGINT)
    out, _ = pinger.communicate(timeout=10)
    times = reply_times(out)
    assert any(t < killed_at for t in times), out
    assert any(t > restarted_at for t in times), out
    assert configuration(a) == before
    for port in a.weft_json("port", "list"):
        assert port["io"] != "down", port
    assert "restored the configuration" in a.weftd_log()


def test_sigterm_stops_cleanly_and_restart_restores(topo):
    """SIGTERM stops weftd with exit status 0 (and, in the sanitizer build, no leak
    report); the next start has the same configuration, and traffic from both guests
    on host a flows again."""
    a = topo.a
    before = configuration(a)
    a.stop_weftd()
    a.start_weftd(**a.weftd_opts)
    assert configuration(a) == before
    for name in ("a1", "a2"):
        assert topo.g[name].wait_ping(topo.g["b1"].ip, timeout=10), name


def test_deleted_device_is_reported_then_reattached(topo):
    """The veth under an afpacket port is deleted while weftd runs: the port shows
    why it is down (no busy loop on the dead socket: weftd stays nearly idle), and
    once the interface exists again weftd attaches it by itself and traffic flows."""
    a, a2, b1 = topo.a, topo.g["a2"], topo.g["b1"]
    a.ipcmd("link", "del", "v-a2")
    deadline = time.monotonic() + 10
    while a.weft_json("port", "show", "a2")["io"] != "down":
        assert time.monotonic() < deadline, "weftd did not notice the device went away"
        time.sleep(0.2)
    assert "went away" in a.weft_json("port", "show", "a2")["io_error"]
    cpu_before = sum(map(int, open(f"/proc/{a.weftd.pid}/stat").read().split()[13:15]))
    time.sleep(2)
    cpu_after = sum(map(int, open(f"/proc/{a.weftd.pid}/stat").read().split()[13:15]))
    # clock ticks of 1/100 s: a spinning loop would burn close to 200 in 2 s
    assert cpu_after - cpu_before < 50, "weftd spins on a dead port"

    topo.lab.add_veth(a, "v-a2", a2, "eth0")
    a2.configure("172.16.10.12/24")
    deadline = time.monotonic() + 10
    while a.weft_json("port", "show", "a2")["io"] == "down":
        assert time.monotonic() < deadline, "weftd did not re-attach the new device"
        time.sleep(0.2)
    assert a2.wait_ping(b1.ip, timeout=10)
