"""The AF_XDP port backend ("afxdp") and the "auto" backend, on two hosts.

The classic two-host topology of lab.py (different underlay subnets, a router,
underlay MTU 1600): on each host a guest behind a veth pair whose host end is
attached with the backend under test, and a TAP guest beside it. The guests keep
their default offloads (tx checksum offload on, so TCP frames arrive with partial
checksums that AF_XDP does not flag). Then the cases where AF_XDP must not be
used (an MTU too large for its 4 KB frames, another XDP program on the
interface): "auto" falls back to TPACKET_V3 and says why, "afxdp" refuses. And
that no XDP program is left behind at port delete, at weftd stop or kill -9.
"""

import itertools
import os
import time
from types import SimpleNamespace

import pytest

from lab import Guest, Lab
from test_two_hosts import iperf3

# AF_XDP rings have one producer: weftd refuses afxdp ports with several workers
# (test_workers.py checks that), so under WEFT_TEST_WORKERS this file has nothing to run.
pytestmark = pytest.mark.skipif(int(os.environ.get("WEFT_TEST_WORKERS", "1")) > 1,
                                reason="AF_XDP ports need weftd --workers 1")

VNI = 5001
GUESTS = {  # name: (host, address, on the backend under test)
    "x1": ("a", "172.16.10.11", True),
    "x2": ("a", "172.16.10.12", False),
    "y1": ("b", "172.16.10.21", True),
    "y2": ("b", "172.16.10.22", False),
}


def add_veth_guest(host, name, ip_cidr, backend=None, mtu=1500, check=True):
    """A guest namespace on a veth pair whose host end is v-<name>; with a backend,
    that end becomes port `name` of host's weftd -> (Guest, CompletedProcess of
    `weft port add` or None)."""
    lab = host.lab
    guest = Guest(lab, name, lab.new_namespace(f"{host.name}-{name}"), host, name, backend)
    lab.add_veth(host, f"v-{name}", guest, "eth0", mtu=mtu)
    guest.configure(ip_cidr, mtu=mtu)
    return guest, add_port(host, name, backend, check=check) if backend else None


def add_port(host, name, backend, check=True):
    return host.weft("port", "add", name, "--backend", backend, "--ifname", f"v-{name}",
                     "--segment", VNI, check=check)


def csum_errors(guest):
    """The guest's TcpInCsumErrors counter."""
    out = guest.run(["nstat", "-az", "TcpInCsumErrors"]).stdout
    return int(out.split("TcpInCsumErrors")[1].split()[0])


def xdp_attached(host, ifname):
    """True when `ip link show` lists an XDP program (any mode) on ifname."""
    out = host.run(["ip", "link", "show", "dev", ifname]).stdout
    return "xdp" in out.split("link/")[0] or "prog/xdp" in out


def napi_threaded(host, ifname):
    return host.run(["cat", f"/sys/class/net/{ifname}/threaded"]).stdout.strip()


def port_io(host, name):
    return host.weft_json("port", "show", name)["io"]


@pytest.fixture(scope="module", params=["afxdp", "auto"])
def topo(request, program, namespaces_cleaned):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI,))
        hosts = {"a": a, "b": b}
        guests = {}
        for name, (h, ip, xdp) in GUESTS.items():
            if xdp:
                guests[name] = add_veth_guest(hosts[h], name, f"{ip}/24", request.param)[0]
            else:
                guests[name] = hosts[h].add_guest(name, f"{ip}/24", segment=VNI)
        yield SimpleNamespace(lab=lab, a=a, b=b, g=guests, backend=request.param)


def test_port_status_says_afxdp_native_copy(topo):
    """On veth AF_XDP binds natively in copy mode (veth has no zero-copy); the port's
    io says so, the program is on the interface, threaded NAPI is on."""
    for host, name in ((topo.a, "x1"), (topo.b, "y1")):
        assert port_io(host, name) == "afxdp-native-copy"
        assert host.weft_json("port", "show", name)["backend"] == topo.backend
        assert xdp_attached(host, f"v-{name}")
        assert napi_threaded(host, f"v-{name}") == "1"


def test_guests_ping_across_hosts_both_ways(topo):
    failed = [f"{src}->{dst}" for src, dst in itertools.permutations(GUESTS, 2)
              if not topo.g[src].ping(topo.g[dst].ip, count=2)]
    assert not failed, f"no answer for {failed}"


def test_full_size_df_ping(topo):
    """1500-byte IP packets with DF set cross the overlay from and to AF_XDP guests."""
    for src, dst in (("x1", "y1"), ("y1", "x1"), ("x1", "y2"), ("y2", "x1")):
        assert topo.g[src].ping(topo.g[dst].ip, count=2, size=1472, df=True), f"{src}->{dst}"


@pytest.mark.parametrize("src,dst", [("x1", "y1"), ("y1", "x1"), ("y2", "x1")])
def test_iperf3_tcp_with_guest_checksum_offload_on(topo, src, dst):
    """TCP from guests with tx checksum offload on: the partial checksums are
    completed by weftd (without that the receiver counts TcpInCsumErrors and iperf3
    never connects)."""
    before = csum_errors(topo.g[dst])
    report = iperf3(topo.g[dst], topo.g[src], seconds=2)
    assert "error" not in report, report
    assert report["end"]["sum_received"]["bytes"] > 1_000_000, report["end"]
    assert csum_errors(topo.g[dst]) == before


def test_delete_detaches_and_readd_binds_again(topo):
    """Port delete leaves no XDP program and restores threaded NAPI; adding the
    port again at once binds natively again (EBUSY on the queue is retried)."""
    topo.a.weft("port", "del", "x1")
    assert not xdp_attached(topo.a, "v-x1")
    assert napi_threaded(topo.a, "v-x1") == "0"
    add_port(topo.a, "x1", topo.backend)
    assert port_io(topo.a, "x1") == "afxdp-native-copy"
    assert topo.g["x1"].wait_ping(topo.g["y1"].ip)


def test_weftd_stop_and_kill_leave_no_program(topo):
    """SIGTERM closes the port; SIGKILL closes weftd's descriptors, and with them the
    BPF link: either way the interface has no XDP program. The restarted weftd
    restores its ports from its saved state and binds AF_XDP again."""
    for stop in (topo.a.stop_weftd, topo.a.kill_weftd):
        stop()
        assert not xdp_attached(topo.a, "v-x1"), stop.__name__
        topo.a.restart_weftd()
        assert port_io(topo.a, "x1") == "afxdp-native-copy"
    assert topo.g["x1"].wait_ping(topo.g["y1"].ip)


@pytest.fixture(scope="module")
def one_host(program, namespaces_cleaned):
    program("weftd"), program("weft")
    with Lab() as lab:
        a, b = lab.classic(segments=(VNI,))
        peer = b.add_guest("p1", "172.16.10.31/24", segment=VNI)
        yield SimpleNamespace(lab=lab, a=a, b=b, peer=peer)


def test_mtu_too_large_for_afxdp_falls_back_to_tpacket(one_host):
    """A 9000-byte MTU does not fit a 4 KB AF_XDP frame: afxdp refuses with the
    reason, auto runs TPACKET_V3 and says why."""
    guest, result = add_veth_guest(one_host.a, "m1", "172.16.10.41/24", "afxdp", mtu=9000,
                                   check=False)
    assert result.returncode != 0
    assert "MTU" in result.stderr and "AF_XDP" in result.stderr, result.stderr
    assert not xdp_attached(one_host.a, "v-m1")
    add_port(one_host.a, "m1", "auto")
    io = port_io(one_host.a, "m1")
    assert io.startswith("tpacket-v3 (afxdp: ") and "MTU" in io, io
    assert guest.wait_ping(one_host.peer.ip)
    one_host.a.weft("port", "del", "m1")


def test_mtu_above_native_limit_is_generic_or_tpacket(one_host):
    """veth takes native XDP only up to an MTU of about 3.5 KB: at 3700 afxdp runs in
    generic mode, which carries TCP once the guest's TSO is off (with it on, the
    kernel drops its super-frames: the reason auto takes native mode only); auto
    falls back to TPACKET_V3."""
    guest, _ = add_veth_guest(one_host.a, "g1", "172.16.10.42/24", "afxdp", mtu=3700)
    assert port_io(one_host.a, "g1") == "afxdp-generic-copy"
    assert xdp_attached(one_host.a, "v-g1")
    guest.run(["ethtool", "-K", "eth0", "tso", "off", "gso", "off"])
    report = iperf3(one_host.peer, guest, seconds=2)
    assert "error" not in report, report
    assert report["end"]["sum_received"]["bytes"] > 1_000_000, report["end"]
    guest.run(["ethtool", "-K", "eth0", "tso", "on", "gso", "on"])
    one_host.a.weft("port", "del", "g1")
    assert not xdp_attached(one_host.a, "v-g1")
    add_port(one_host.a, "g1", "auto")
    io = port_io(one_host.a, "g1")
    assert io.startswith("tpacket-v3 (afxdp: ") and "native" in io, io
    assert guest.wait_ping(one_host.peer.ip)
    one_host.a.weft("port", "del", "g1")


def test_other_xdp_program_falls_back_and_is_left_alone(one_host, build_dir):
    """An interface that has someone else's XDP program (one per interface here):
    afxdp refuses, auto runs TPACKET_V3, and the other program stays attached after
    the port is deleted."""
    guest, _ = add_veth_guest(one_host.a, "o1", "172.16.10.43/24")
    obj = f"{build_dir}/src/io/xsk_redirect.bpf.o"
    one_host.a.run(["ip", "link", "set", "dev", "v-o1", "xdpgeneric", "obj", obj, "sec", "xdp"])
    result = add_port(one_host.a, "o1", "afxdp", check=False)
    assert result.returncode != 0 and "another XDP program" in result.stderr, result.stderr
    add_port(one_host.a, "o1", "auto")
    io = port_io(one_host.a, "o1")
    assert io.startswith("tpacket-v3 (afxdp: another XDP program"), io
    # The foreign program passes frames to the kernel's stack, where AF_PACKET sees them.
    assert guest.wait_ping(one_host.peer.ip)
    one_host.a.weft("port", "del", "o1")
    time.sleep(0.1)
    assert xdp_attached(one_host.a, "v-o1")
