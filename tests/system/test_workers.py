"""weftd --workers 2: the data path on two threads.

Two hosts as in test_two_hosts.py (a in 10.1.1.0/24, b in 10.1.2.0/24 behind a
router), both running weftd --workers 2, segment 5001 with TAP guests a1, a2, b1,
b2 (multi-queue TAPs: a queue per worker) and AF_PACKET guests a3, b3 (one queue,
read by one worker, written by both). What is checked: every guest reaches every
other; the flows of one guest spread over both workers, on the sender (TAP
queues) and on the receiver (the VTEP's SO_REUSEPORT sockets); configuration
changes under traffic (every one parks the workers) lose nothing; a TAP made
single-queue beforehand is still served; AF_XDP is refused with a reason.
"""

import itertools
import json
import subprocess
import time
from types import SimpleNamespace

import pytest

from lab import Lab

VNI = 5001
GUESTS = {  # name: (host, address, backend)
    "a1": ("a", "172.16.10.11", "tap"),
    "a2": ("a", "172.16.10.12", "tap"),
    "a3": ("a", "172.16.10.13", "afpacket"),
    "b1": ("b", "172.16.10.21", "tap"),
    "b2": ("b", "172.16.10.22", "tap"),
    "b3": ("b", "172.16.10.23", "afpacket"),
}


@pytest.fixture(scope="module")
def topo(program):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI,), workers=2)
        hosts = {"a": a, "b": b}
        g = {name: hosts[h].add_guest(name, f"{ip}/24", segment=VNI, backend=backend)
             for name, (h, ip, backend) in GUESTS.items()}
        yield SimpleNamespace(lab=lab, a=a, b=b, g=g)


def worker_rx(host):
    """Frames each worker of host's weftd has taken in, in worker order."""
    return [w["rx_packets"] for w in host.weft_json("stats")["workers"]]


def test_status_says_two_workers_and_taps_have_a_queue_each(topo):
    for host in (topo.a, topo.b):
        assert host.weft_json("status")["workers"] == 2
    for name, (h, _, backend) in GUESTS.items():
        port = getattr(topo, h).weft_json("port", "show", name)
        assert port["queues"] == (2 if backend == "tap" else 1), (name, port)


def test_every_guest_reaches_every_other(topo):
    for src, dst in itertools.permutations(GUESTS, 2):
        assert topo.g[src].wait_ping(GUESTS[dst][1], timeout=10), f"{src} -> {dst}"


def test_flows_of_one_guest_spread_over_both_workers(topo):
    """16 UDP flows from a1 to b1: on a they come in through both TAP queues,
    on b through both VTEP sockets (the outer source port is each flow's hash).
    All 16 on one worker would be a 2 ** -15 chance per host."""
    a1, b1 = topo.g["a1"], topo.g["b1"]
    before = {"a": worker_rx(topo.a), "b": worker_rx(topo.b)}
    srv = b1.popen(["iperf3", "-s", "-1", "-B", b1.ip])
    try:
        time.sleep(0.5)
        result = a1.run(["iperf3", "-c", b1.ip, "-u", "-b", "2M", "-l", "200", "-P", "16",
                         "-t", "2", "-J", "--connect-timeout", "2000"], check=False, timeout=30)
    finally:
        srv.kill()
        srv.wait()
    report = json.loads(result.stdout)
    assert "error" not in report, report.get("error")
    for h in ("a", "b"):
        after = worker_rx(getattr(topo, h))
        delta = [x - y for x, y in zip(after, before[h])]
        total = sum(delta)
        assert total > 1000, (h, delta)
        assert min(delta) > total * 0.05, f"host {h}: one worker did (nearly) all: {delta}"


def test_tcp_streams_across_hosts(topo):
    a2, b2 = topo.g["a2"], topo.g["b2"]
    srv = b2.popen(["iperf3", "-s", "-1", "-B", b2.ip])
    try:
        time.sleep(0.5)
        result = a2.run(["iperf3", "-c", b2.ip, "-P", "4", "-t", "2", "-J",
                         "--connect-timeout", "2000"], check=False, timeout=30)
    finally:
        srv.kill()
        srv.wait()
    report = json.loads(result.stdout)
    assert "error" not in report, report.get("error")
    gbits = report["end"]["sum_received"]["bits_per_second"] / 1e9
    assert gbits > 0.1, f"{gbits:.3f} Gbit/s with 4 streams over two workers"


def test_configuration_changes_under_traffic_lose_nothing(topo):
    """While 8 UDP flows keep both workers of both hosts busy (a1 -> b1, TAP queues
    and VTEP sockets), a ping every 10 ms goes a3 -> b3 and segments and a TAP port
    come and go on both hosts: each change parks the workers (and a new port's
    queues join their epolls), and no ping is lost, nor is any worker stalled."""
    a, b = topo.a, topo.b
    a1, b1, a3, b3 = topo.g["a1"], topo.g["b1"], topo.g["a3"], topo.g["b3"]
    before = {h.name: worker_rx(h) for h in (a, b)}
    srv = b1.popen(["iperf3", "-s", "-1", "-B", b1.ip])
    time.sleep(0.5)
    load = a1.popen(["iperf3", "-c", b1.ip, "-u", "-b", "5M", "-l", "200", "-P", "8",
                     "-t", "6", "--connect-timeout", "2000"])
    pinger = a3.popen(["ping", "-n", "-q", "-i", "0.01", "-c", "400", b3.ip])
    try:
        for i in range(10):
            for host in (a, b):
                host.weft("segment", "add", 5100 + i)
                host.weft("port", "add", f"x{i}", "--backend", "tap", "--ifname", f"wx{i}",
                          "--segment", 5100 + i)
                assert host.weft_json("port", "show", f"x{i}")["queues"] == 2
                host.weft("mac", "list")
                host.weft("port", "del", f"x{i}")
                host.weft("segment", "del", 5100 + i)
        out, _ = pinger.communicate(timeout=60)
        load.communicate(timeout=60)
    finally:
        for proc in (pinger, load, srv):
            proc.kill()
            proc.wait()
    assert " 0% packet loss" in out, out
    for host in (a, b):
        assert host.weftd_alive()
        delta = [x - y for x, y in zip(worker_rx(host), before[host.name])]
        assert min(delta) > 100, f"host {host.name}: a worker carried nothing: {delta}"


def test_single_queue_tap_made_beforehand_is_served(topo):
    """A TAP created single-queue (by hand, or by a weftd with one worker) cannot get
    a queue per worker: weftd attaches its one queue, says so, and frames flow."""
    a = topo.a
    guest_ns = topo.lab.new_namespace("a-sq")
    subprocess.run(["ip", "-n", guest_ns, "tuntap", "add", "dev", "eth0", "mode", "tap",
                    "vnet_hdr"], check=True)
    a.weft("port", "add", "sq", "--backend", "tap", "--ifname", "eth0", "--netns", guest_ns,
           "--segment", VNI)
    try:
        port = a.weft_json("port", "show", "sq")
        assert port["io"] == "tap" and port["queues"] == 1, port
        assert "exists single-queue" in a.weftd_log()
        run = ["ip", "netns", "exec", guest_ns]
        subprocess.run(run + ["ip", "addr", "add", "172.16.10.31/24", "dev", "eth0"], check=True)
        subprocess.run(run + ["ip", "link", "set", "eth0", "up"], check=True)
        ping = subprocess.run(run + ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "5",
                                     GUESTS["b1"][1]], capture_output=True, text=True)
        assert ping.returncode == 0, ping.stdout
    finally:
        a.weft("port", "del", "sq")


def test_afxdp_is_refused_with_a_reason(topo):
    a = topo.a
    result = a.weft("port", "add", "x1", "--backend", "afxdp", "--ifname", "lo",
                    "--segment", VNI, check=False)
    assert result.returncode != 0
    assert "--workers 1" in result.stderr, result.stderr
    assert "x1" not in json.dumps(a.weft_json("port", "list"))
