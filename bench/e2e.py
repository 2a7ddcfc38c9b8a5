#!/usr/bin/python3
"""e2e.py - Weft end to end over the overlay, side by side with its peers.

Builds a two-host scenario in network namespaces (with tests/system/lab.py, the
system tests' topology library), once per implementation, and measures the same
things on each, in one invocation:

    vmA1 172.16.10.11 -+                                   +- vmB1 172.16.10.21
    vmA2 172.16.10.12 -+ hA  ul0 10.81.1.2/24     rtr      |  hB  ul0 10.81.2.2/24
                         (VTEP) -- to-hA 10.81.1.1 / to-hB 10.81.2.1 -- (VTEP)
    overlay 172.16.10.0/24 on VNI 5001, UDP 4789; underlay MTU 1600, guest MTU 1500

Implementations (--peers, comma-separated, in this order):
    weft           weftd per host, guests on `tap` ports (weftd holds the TAP fd)
    weft-afpacket  weftd per host, guests on veth, host ends as `afpacket` ports
    weft-w2        as weft, with weftd --workers 2 (two data-path threads per host)
    weft-poll      as weft, with weftd --poll-us 100 (spins 100 us after each frame)
    linux          kernel bridge + vxlan device, guests on veth, offloads on
    linux-txoff    the same with the guests' tx checksum/TSO off (as OVS needs)
    ovs            Open vSwitch userspace datapath (netdev), private ovsdb-server +
                   ovs-vswitchd per host, br-phy/br-int, guests' tx offload off

Measured per implementation (median of --reps): ping RTT vmA1->vmB1; TCP and UDP
request/response round trips vmA1->vmB1 (sockperf ping-pong, 64-byte messages: avg,
p50, p99); iperf3 TCP vmA1->vmB1 with 1 and 4 streams; iperf3 UDP 64-byte datagrams
at -b 0 (received datagrams/s, loss, and frames/s at vmB1's NIC); iperf3 TCP
vmA1->vmA2 on one host; busy cores of the machine (/proc/stat) and of the switch's
own processes during the 1-stream TCP run, and both per Gbit/s of that run.
Prints two tables (throughput; latency and CPU) with Weft's ratio to each peer,
Weft's added latency over the kernel's, and the issue's targets, and writes
build/bench-results/e2e-<stamp>/result.{json,md}. Needs root. See bench/README.md.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/system"))
import lab  # noqa: E402  (tests/system/lab.py: namespaces, veths, router, Linux VTEP host)
ALL_IMPLS = ["weft", "weft-afpacket", "weft-w2", "weft-poll", "linux", "linux-txoff", "ovs"]
DEFAULT_IMPLS = "weft,weft-afpacket,linux,linux-txoff,ovs"

VNI, VXLAN_PORT, UL_MTU, VM_MTU = 5001, 4789, 1600, 1500
RR_PORT = {"tcp": 11111, "udp": 11112}  # sockperf servers in vmB1
RR_MSG = 64  # bytes per request and per reply
UL_NET = 81  # underlay 10.81.1.0/24 (host A, lab subnet 1) and 10.81.2.0/24 (host B)
UL = f"10.{UL_NET}"
HOSTS = ("hA", "hB")
# guest -> host, overlay address, MAC; its namespace is <lab prefix><host>-<guest>
GUESTS = {
    "vmA1": ("hA", "172.16.10.11", "02:00:ac:10:0a:0b"),
    "vmA2": ("hA", "172.16.10.12", "02:00:ac:10:0a:0c"),
    "vmB1": ("hB", "172.16.10.21", "02:00:ac:10:0a:15"),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, ns=None, check=True, timeout=120, env=None):
    """Runs a command (in a namespace) and returns its stdout."""
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


# ---------------------------------------------------------------- topology
# Namespaces, veths, the router and the Linux VTEP host come from tests/system/lab.py,
# the topology library the system tests use; e2e.py adds the switches and the guests.

class Topo:
    """One build of the scenario inside a lab.Lab: .hosts and .guests by name."""

    def __init__(self, lab):
        self.lab, self.hosts, self.guests = lab, {}, {}

    def ns(self, name):
        return (self.guests.get(name) or self.hosts.get(name) or self.lab.router).ns

    def ip(self, guest):
        return GUESTS[guest][1]

    def veth_guest(self, g, host):
        """A guest namespace whose eth0 is a veth to v-<guest> in its host."""
        _, ip, mac = GUESTS[g]
        guest = lab.Guest(self.lab, g, self.lab.new_namespace(f"{host.name}-{g}"), host, None,
                          "veth")
        self.lab.add_veth(host, port_of(g), guest, "eth0", mtu=VM_MTU)
        guest.configure(f"{ip}/24", mac=mac, mtu=VM_MTU)
        self.guests[g] = guest
        return guest

    def guest_offload(self, on):
        for guest in self.guests.values():
            guest.run(["ethtool", "-K", "eth0", "tx", "on" if on else "off"], check=False)

    def check(self):
        """Underlay passes UL_MTU; every guest reaches every other; a 1500-byte DF ping
        crosses the overlay."""
        ha, hb = self.hosts["hA"], self.hosts["hB"]
        if not ha.ping(hb.ip, size=UL_MTU - 28, df=True, timeout=2):
            raise RuntimeError(f"underlay does not pass {UL_MTU}-byte packets hA -> hB")
        for a, ga in self.guests.items():
            for b in self.guests:
                if a != b and not ga.wait_ping(self.ip(b), timeout=10):
                    raise RuntimeError(f"overlay ping {a} -> {b} failed")
        if not self.guests["vmA1"].ping(self.ip("vmB1"), count=2, size=VM_MTU - 28, df=True):
            raise RuntimeError(f"overlay does not pass {VM_MTU}-byte DF packets vmA1 -> vmB1")


def port_of(guest):
    return "v-" + guest  # the host-side veth, and the weft port name


# ---------------------------------------------------------------- implementations

class Weft:
    """weftd on each host; guests on tap ports, or on veth through afpacket ports."""

    def __init__(self, backend, control, **weftd_opts):
        self.backend = backend
        self.weftd_opts = weftd_opts  # more weftd options (lab.Host.weftd_argv())
        self.control = control  # auto, cli or socket
        self.use_cli = None
        self.topo = None

    def request(self, host, cmd, args=None):
        """One request on weftd's JSON control socket (docs/control-protocol.md)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(host.socket))
            msg = {"cmd": cmd} if args is None else {"cmd": cmd, "args": args}
            s.sendall((json.dumps(msg) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = json.loads(buf)
        if not reply.get("ok"):
            raise RuntimeError(f"weftd {host.name} {cmd}: {reply.get('code')}: "
                               f"{reply.get('error')}")
        return reply.get("data")

    @staticmethod
    def cli_works(host):
        """True when the weft CLI drives weftd (it is being written: until then, the
        JSON socket)."""
        try:
            return isinstance(host.weft_json("stats"), dict)
        except (lab.LabError, OSError):
            return False

    def start(self, host):
        """weftd as lab's Host.start_weftd() runs it, waiting on the control socket
        (start_weftd() itself waits on `weft status`)."""
        log_file = open(host.log_path, "a")
        host.weftd = subprocess.Popen(host.cmd(host.weftd_argv(**self.weftd_opts)), stdout=log_file,
                                      stderr=subprocess.STDOUT, env=lab.program_env())
        log_file.close()
        for _ in range(200):
            if host.weftd.poll() is not None:
                raise RuntimeError(f"weftd on {host.name} exited: {host.weftd_log()}")
            try:
                self.request(host, "status")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"weftd on {host.name}: no answer on {host.socket}")

    def setup(self, topo):
        self.topo = topo
        for h, subnet in (("hA", 1), ("hB", 2)):
            topo.hosts[h] = topo.lab.add_host(h, subnet)
        for host in topo.hosts.values():
            self.start(host)
        self.use_cli = self.control == "cli" or (self.control == "auto" and
                                                 self.cli_works(topo.hosts["hA"]))
        log(f"weft: driving weftd with {'the weft CLI' if self.use_cli else 'its JSON socket'}")
        for host in topo.hosts.values():
            peer = [o.ip for o in topo.hosts.values() if o is not host][0]
            if self.use_cli:
                host.weft("segment", "add", VNI, "--peer", peer)
            else:
                self.request(host, "segment-add", {"vni": VNI, "peers": [peer]})
        for g, (h, ip, mac) in GUESTS.items():
            host = topo.hosts[h]
            if self.use_cli:
                guest = host.add_guest(g, f"{ip}/24", segment=VNI, backend=self.backend,
                                       mac=mac, mtu=VM_MTU)
            elif self.backend == "tap":  # weftd makes the TAP as eth0 inside the guest
                guest = lab.Guest(topo.lab, g, topo.lab.new_namespace(f"{h}-{g}"), host, g,
                                  "tap")
                self.request(host, "port-add", {"name": g, "backend": "tap", "ifname": "eth0",
                                                "netns": guest.ns, "segment": VNI})
                guest.configure(f"{ip}/24", mac=mac, mtu=VM_MTU)
            else:  # the host end of the guest's veth, in weftd's own namespace
                guest = topo.veth_guest(g, host)
                self.request(host, "port-add", {"name": g, "backend": "afpacket",
                                                "ifname": port_of(g), "segment": VNI})
            topo.guests[g] = guest

    def stats(self):
        out = {}
        for h, host in self.topo.hosts.items():
            try:
                out[h] = {"stats": self.request(host, "stats"),
                          "ports": self.request(host, "port-list")}
            except (OSError, RuntimeError, ValueError) as e:
                out[h] = {"error": str(e)}
        return out

    def switch_pids(self):
        return [h.weftd.pid for h in self.topo.hosts.values()]  # `ip netns exec` execs weftd

    def hold_env(self):
        return {f"WB_SOCK_{h}": str(host.socket) for h, host in self.topo.hosts.items()}


class Linux:
    """Kernel bridge br0 + vxlan device vx0 per host (lab's LinuxVtepHost), head-end
    FDB entry to the other VTEP; underlay tx offloads on (kernel to kernel)."""

    def __init__(self, tx_offload):
        self.guest_tx_offload = tx_offload

    def setup(self, topo):
        for h, subnet in (("hA", 1), ("hB", 2)):
            topo.hosts[h] = topo.lab.add_linux_vtep_host(h, subnet, vni=VNI,
                                                         vxlan_port=VXLAN_PORT,
                                                         tx_offload=True)
        for host in topo.hosts.values():
            host.add_peer([o.ip for o in topo.hosts.values() if o is not host][0])
        for g, (h, _, _) in GUESTS.items():
            topo.veth_guest(g, topo.hosts[h])
            topo.hosts[h].ipcmd("link", "set", port_of(g), "master", "br0")
        topo.guest_offload(self.guest_tx_offload)

    def stats(self):
        return {}

    def switch_pids(self):
        return []  # all in the kernel (softirq): see the machine's busy cores

    def hold_env(self):
        return {}


class Ovs:
    """OVS userspace datapath: per host a private ovsdb-server + ovs-vswitchd;
    br-phy owns ul0 and carries the VTEP address, br-int has the guests + vxlan0."""

    guest_tx_offload = False  # OVS 3.1 netdev would tunnel CHECKSUM_PARTIAL frames as they are

    def __init__(self):
        self.dirs, self.topo = {}, None

    def vsctl(self, h, *args):
        return self.topo.hosts[h].run(["ovs-vsctl", "--timeout=20",
                                       f"--db=unix:{self.dirs[h]}/db.sock", *args]).stdout

    def appctl(self, h, *args):
        return self.topo.hosts[h].run(["ovs-appctl", "-t", f"{self.dirs[h]}/ovs-vswitchd.ctl",
                                       *args], check=False).stdout

    def setup(self, topo):
        self.topo = topo
        schema = "/usr/share/openvswitch/vswitch.ovsschema"
        for h, subnet in (("hA", 1), ("hB", 2)):
            topo.hosts[h] = topo.lab.add_host(h, subnet)
        for g, (h, _, _) in GUESTS.items():
            topo.veth_guest(g, topo.hosts[h])
        topo.guest_offload(self.guest_tx_offload)
        for h, host in topo.hosts.items():
            d = pathlib.Path(topo.lab.tmpdir) / f"ovs-{h}"
            d.mkdir(parents=True, exist_ok=True)
            self.dirs[h] = d
            env = dict(os.environ, OVS_RUNDIR=str(d), OVS_LOGDIR=str(d), OVS_DBDIR=str(d))
            run(["ovsdb-tool", "create", str(d / "conf.db"), schema])
            run(["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{d}/db.sock",
                 f"--unixctl={d}/ovsdb-server.ctl", f"--pidfile={d}/ovsdb-server.pid",
                 f"--log-file={d}/ovsdb-server.log", "-vconsole:off", "--detach", "--no-chdir"],
                host.ns, env=env)
            self.vsctl(h, "--no-wait", "init")
            run(["ovs-vswitchd", f"unix:{d}/db.sock", f"--unixctl={d}/ovs-vswitchd.ctl",
                 f"--pidfile={d}/ovs-vswitchd.pid", f"--log-file={d}/ovs-vswitchd.log",
                 "-vconsole:off", "--detach", "--no-chdir"], host.ns, env=env)
            peer = [o.ip for o in topo.hosts.values() if o is not host][0]
            self.vsctl(h, "add-br", "br-phy", "--", "set", "Bridge", "br-phy",
                       "datapath_type=netdev", "fail-mode=standalone",
                       f"other_config:hwaddr={host.mac_of('ul0')}",
                       "--", "set", "Interface", "br-phy", f"mtu_request={UL_MTU}",
                       "--", "add-port", "br-phy", "ul0")
            # the VTEP address and the underlay route move to br-phy, where OVS looks
            host.ipcmd("addr", "flush", "dev", "ul0")
            host.ipcmd("addr", "add", f"{host.ip}/24", "dev", "br-phy")
            host.ipcmd("link", "set", "br-phy", "up")
            host.ipcmd("route", "add", f"{UL}.0.0/16", "via", host.gateway, "dev", "br-phy")
            self.vsctl(h, "add-br", "br-int", "--", "set", "Bridge", "br-int",
                       "datapath_type=netdev", "fail-mode=standalone",
                       "--", "add-port", "br-int", "vxlan0", "--", "set", "Interface", "vxlan0",
                       "type=vxlan", f"options:remote_ip={peer}", f"options:local_ip={host.ip}",
                       f"options:key={VNI}", f"options:dst_port={VXLAN_PORT}")
            for g, (gh, _, _) in GUESTS.items():
                if gh == h:
                    self.vsctl(h, "add-port", "br-int", port_of(g))
            host.ipcmd("link", "set", "br-int", "up")
            for _ in range(50):
                err = self.vsctl(h, "--bare", "--columns=name,error", "find", "Interface",
                                 "error!=[]").strip()
                if not err:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"OVS on {h}: interface errors: {err}")
            # primes the kernel's and OVS's (tnl/neigh, snooped on br-phy) ARP for the gateway
            if not host.ping(host.gateway, count=2):
                raise RuntimeError(f"OVS on {h}: gateway {host.gateway} unreachable via br-phy")

    def stats(self):
        return {h: {"pmd": self.appctl(h, "dpif-netdev/pmd-stats-show"),
                    "flows": self.appctl(h, "dpctl/dump-flows")} for h in self.topo.hosts}

    def switch_pids(self):
        pids = []
        for d in self.dirs.values():
            try:
                pids.append(int((d / "ovs-vswitchd.pid").read_text()))
            except (OSError, ValueError):
                pass
        return pids

    def hold_env(self):
        return {f"WB_OVS_{h}": str(d) for h, d in self.dirs.items()}


def make_impl(name, args):
    return {"weft": lambda: Weft("tap", args.control),
            "weft-afpacket": lambda: Weft("afpacket", args.control),
            "weft-w2": lambda: Weft("tap", args.control, workers=2),
            "weft-poll": lambda: Weft("tap", args.control, poll_us=100),
            "linux": lambda: Linux(True),
            "linux-txoff": lambda: Linux(False),
            "ovs": Ovs}[name]()


# ---------------------------------------------------------------- measurements

def cpu_snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)  # busy, total (idle and iowait are not busy)


def cpu_cores(a, b):
    dt = b[1] - a[1]
    return os.cpu_count() * (b[0] - a[0]) / dt if dt > 0 else 0.0


def proc_ticks(pids):
    """utime + stime of processes and all their threads, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


class Measure:
    def __init__(self, topo, impl, args, out_dir, tag):
        self.topo, self.impl, self.out_dir, self.tag = topo, impl, out_dir, tag
        self.dur, self.settle, self.rr_dur = args.duration, args.settle, args.rr_duration
        self.rep_no = 0

    def iperf(self, src, dst, *args, name):
        cmd = ["iperf3", "-c", GUESTS[dst][1], "-J", "--connect-timeout", "3000",
               "-t", str(self.dur), *args]
        j = {}
        for _ in range(3):
            r = subprocess.run(["ip", "netns", "exec", self.topo.ns(src), "timeout",
                                str(self.dur + 30)] + cmd, capture_output=True, text=True)
            try:
                j = json.loads(r.stdout)
            except ValueError:
                j = {"error": f"no JSON (exit {r.returncode}): {r.stderr.strip()[:200]}"}
            if not j.get("error"):
                break
            time.sleep(1)
        (self.out_dir / f"{self.tag}-{name}-{self.rep_no}.json").write_text(json.dumps(j))
        if j.get("error"):
            log(f"  iperf3 {name}: {j['error']}")
        return j

    def rx_packets(self, guest):
        """Frames the guest's NIC took in: what the switch delivered, before the guest's
        own UDP socket (a 64-byte flood overflows iperf3's receive buffer first)."""
        try:
            return int(run(["cat", "/sys/class/net/eth0/statistics/rx_packets"],
                           self.topo.ns(guest)))
        except (RuntimeError, ValueError):
            return None

    def ping_ms(self):
        out = run(["ping", "-c", "20", "-i", "0.2", "-q", GUESTS["vmB1"][1]],
                  self.topo.ns("vmA1"), check=False)
        m = re.search(r"= [\d.]+/([\d.]+)/", out)
        return float(m.group(1)) if m else None

    def rr(self, proto):
        """sockperf ping-pong vmA1 -> vmB1: one 64-byte request at a time, each answered
        by the server before the next; round-trip times in microseconds."""
        cmd = ["sockperf", "ping-pong", "-i", GUESTS["vmB1"][1], "-p", str(RR_PORT[proto]),
               "-t", str(self.rr_dur), "-m", str(RR_MSG), "--full-rtt"]
        if proto == "tcp":
            cmd.insert(2, "--tcp")
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns("vmA1"), "timeout",
                            str(self.rr_dur + 20)] + cmd, capture_output=True, text=True)
        out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
        (self.out_dir / f"{self.tag}-rr{proto}-{self.rep_no}.txt").write_text(out)
        got = {}
        for key, pat in (("avg", r"avg-rtt=([\d.]+)"), ("p50", r"percentile 50\.000 =\s*([\d.]+)"),
                         ("p99", r"percentile 99\.000 =\s*([\d.]+)"),
                         ("lost", r"# dropped messages = (\d+)")):
            m = re.search(pat, out)
            if m:
                got[key] = float(m.group(1))
        if "p50" not in got:
            log(f"  sockperf {proto}: no result (exit {r.returncode}): {out.strip()[-200:]}")
        return got

    def rep(self):
        r = {}
        self.rep_no += 1
        # The machine may be shared: wait (up to --settle s) for others' load to drop.
        deadline = time.monotonic() + self.settle
        while True:
            c0 = cpu_snap()
            time.sleep(1)
            r["bg_cores"] = round(cpu_cores(c0, cpu_snap()), 2)
            if r["bg_cores"] < BUSY_BG or time.monotonic() >= deadline:
                break
        if r["bg_cores"] >= BUSY_BG:
            log(f"  background load {r['bg_cores']} cores: figures of this rep are low")
        r["ping_ms"] = self.ping_ms()
        for proto in ("tcp", "udp"):
            got = self.rr(proto)
            for key in ("avg", "p50", "p99"):
                r[f"rr_{proto}_{key}_us"] = got.get(key)
            if proto == "udp":
                r["rr_udp_lost"] = got.get("lost")

        pids = self.impl.switch_pids()
        c0, p0, t0 = cpu_snap(), proc_ticks(pids), time.monotonic()
        j = self.iperf("vmA1", "vmB1", name="tcp1")
        c1, p1, t1 = cpu_snap(), proc_ticks(pids), time.monotonic()
        r["tcp1_gbps"] = gbps(j)
        r["tcp1_retrans"] = j.get("end", {}).get("sum_sent", {}).get("retransmits")
        r["tcp1_cores"] = round(cpu_cores(c0, c1), 2)
        hz = os.sysconf("SC_CLK_TCK")
        r["switch_cores"] = round((p1 - p0) / hz / (t1 - t0), 2) if pids else None
        if r["tcp1_gbps"]:  # CPU per Gbit/s: what a Gbit/s of TCP costs
            r["cores_per_gbps"] = round(r["tcp1_cores"] / r["tcp1_gbps"], 3)
            if r["switch_cores"] is not None:
                r["switch_cores_per_gbps"] = round(r["switch_cores"] / r["tcp1_gbps"], 3)

        r["tcp4_gbps"] = gbps(self.iperf("vmA1", "vmB1", "-P", "4", name="tcp4"))

        nic0 = self.rx_packets("vmB1")
        j = self.iperf("vmA1", "vmB1", "-u", "-l", "64", "-b", "0", name="udp64")
        nic1 = self.rx_packets("vmB1")
        if nic0 is not None and nic1 is not None:
            r["udp64_nic_kpps"] = round((nic1 - nic0) / self.dur / 1000, 1)
        end = j.get("end", {})
        sent = end.get("sum_sent", end.get("sum", {}))
        recv = end.get("sum_received", end.get("sum", {}))
        if sent:
            lost = recv.get("lost_packets", 0)
            got = recv.get("packets", 0) - lost
            secs = recv.get("seconds") or self.dur
            r["udp64_tx_kpps"] = round(sent.get("packets", 0) / (sent.get("seconds") or
                                                                   self.dur) / 1000, 1)
            r["udp64_rx_kpps"] = round(got / secs / 1000, 1)
            total = got + lost
            r["udp64_loss_pct"] = round(100 * lost / total, 2) if total else None

        r["local_tcp_gbps"] = gbps(self.iperf("vmA1", "vmA2", name="local"))
        return r


BUSY_BG = 0.2  # busy cores of other processes above which a repetition waits


def gbps(j):
    bps = j.get("end", {}).get("sum_received", {}).get("bits_per_second")
    return round(bps / 1e9, 3) if bps else None


# ---------------------------------------------------------------- report

# metric, header, format, better: "hi" or "lo" (the weft/<peer> ratio is shown), or None
THROUGHPUT = [
    ("tcp1_gbps", "TCP1 Gb/s", "{:.2f}", "hi"),
    ("tcp1_retrans", "TCP1 retr", "{:.0f}", None),
    ("tcp4_gbps", "TCP4 Gb/s", "{:.2f}", "hi"),
    ("udp64_rx_kpps", "UDP64 rx kpps", "{:.1f}", "hi"),
    ("udp64_tx_kpps", "(sent)", "{:.1f}", None),
    ("udp64_nic_kpps", "UDP64 NIC kpps", "{:.1f}", "hi"),
    ("udp64_loss_pct", "loss %", "{:.1f}", None),
    ("local_tcp_gbps", "local TCP Gb/s", "{:.2f}", "hi"),
    ("bg_cores", "bg cores", "{:.2f}", None),
]
LATENCY_CPU = [
    ("ping_ms", "ping ms", "{:.3f}", "lo"),
    ("rr_tcp_avg_us", "TCP RR avg us", "{:.1f}", "lo"),
    ("rr_tcp_p50_us", "p50", "{:.1f}", "lo"),
    ("rr_tcp_p99_us", "p99", "{:.1f}", "lo"),
    ("rr_udp_p50_us", "UDP RR p50 us", "{:.1f}", "lo"),
    ("rr_udp_p99_us", "p99", "{:.1f}", "lo"),
    ("rr_tcp_add_us", "+TCP RR us", "{:+.1f}", None),
    ("ping_add_us", "+ping us", "{:+.1f}", None),
    ("tcp1_cores", "busy cores", "{:.2f}", "lo"),
    ("cores_per_gbps", "per Gb/s", "{:.3f}", "lo"),
    ("switch_cores", "switch cores", "{:.2f}", "lo"),
    ("switch_cores_per_gbps", "per Gb/s", "{:.3f}", "lo"),
    ("bg_cores", "bg cores", "{:.2f}", None),
]
KERNEL_REFS = ("linux", "linux-txoff")  # the reference of "added latency", first present

LEGEND = ("ratios are Weft's median / the peer's: above 1x is better for Gb/s and kpps, "
          "below 1x for ping, RR round trips and cores; +TCP RR us and +ping us: Weft's "
          "median TCP RR p50 and ping average minus the kernel's ({ref}), in microseconds")


def median(values):
    v = [x for x in values if isinstance(x, (int, float))]
    return statistics.median(v) if v else None


def kernel_ref(results):
    return next((k for k in KERNEL_REFS if k in results), None)


def add_derived(results):
    """Figures across implementations, stored in each Weft result's "median" (they
    have no per-repetition values): added latency over the kernel's, in us."""
    ref = kernel_ref(results)
    if not ref:
        return
    km = results[ref]["median"]
    for w in [n for n in results if n.startswith("weft")]:
        wm = results[w]["median"]
        if wm.get("rr_tcp_p50_us") is not None and km.get("rr_tcp_p50_us") is not None:
            wm["rr_tcp_add_us"] = round(wm["rr_tcp_p50_us"] - km["rr_tcp_p50_us"], 1)
        if wm.get("ping_ms") is not None and km.get("ping_ms") is not None:
            wm["ping_add_us"] = round(1000 * (wm["ping_ms"] - km["ping_ms"]), 1)
        wm["added_over"] = ref


def targets(results):
    """Issue 5's targets per Weft implementation: (impl, target, figure, met)."""
    out = []

    def ratio(w, p, m):
        a, b = results[w]["median"].get(m), results.get(p, {}).get("median", {}).get(m)
        return a / b if a is not None and b else None
    for w in [n for n in results if n.startswith("weft")]:
        for m, label in (("tcp1_gbps", "TCP1"), ("tcp4_gbps", "TCP4")):
            x = ratio(w, "linux", m)
            if x is not None:
                out.append((w, f"{label} across hosts >= 1.0x linux", f"{x:.2f}x", x >= 1.0))
        for m, label in (("udp64_rx_kpps", "rx"), ("udp64_nic_kpps", "NIC")):
            x = ratio(w, "ovs", m)
            if x is not None:
                out.append((w, f"UDP64 {label} kpps >= 2x ovs", f"{x:.2f}x", x >= 2.0))
        add = results[w]["median"].get("rr_tcp_add_us")
        if add is not None:
            out.append((w, f"TCP RR p50 added over {results[w]['median']['added_over']} "
                           "<= 20 us", f"{add:+.1f} us", add <= 20))
    return out


def targets_text(results):
    return "\n".join(f"{w}: {t}: {v} {'met' if ok else 'NOT met'}"
                     for w, t, v, ok in targets(results))


def table(results, columns, md=False):
    """Rows: implementations, then weft/<peer> ratios of the medians."""
    names = list(results)
    head = ["impl"] + [c[1] for c in columns]
    rows = []
    for n in names:
        med = results[n]["median"]
        rows.append([n] + [("-" if med.get(m) is None else f.format(med[m]))
                           for m, _, f, _ in columns])
    for w in [n for n in names if n.startswith("weft")]:
        for p in [n for n in names if not n.startswith("weft")]:
            row = [f"{w}/{p}"]
            for m, _, _, better in columns:
                a, b = results[w]["median"].get(m), results[p]["median"].get(m)
                row.append(f"{a / b:.2f}x" if better and a is not None and b else "")
            rows.append(row)
    if md:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def environment():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "n/a"
    return {"kernel": platform.release(), "cpus": os.cpu_count(),
            "iperf3": first(["iperf3", "--version"]),
            "ovs": first(["ovs-vswitchd", "--version"]),
            "weft": first(["git", "-C", str(REPO), "describe", "--always", "--dirty"])}


# ---------------------------------------------------------------- main

def bench_one(name, args, out_dir, stamp):
    impl = make_impl(name, args)
    res = {"reps": [], "median": {}}
    try:
        with lab.Lab(net=UL_NET, underlay_mtu=UL_MTU, keep_tmpdir=args.keep_run) as the_lab:
            log(f"[{name}] topology + setup ({the_lab.prefix}*, {the_lab.tmpdir})")
            topo = Topo(the_lab)
            the_lab.add_router("rtr")
            impl.setup(topo)
            topo.check()
            if args.hold:
                env = dict(os.environ, WB_IMPL=name, WB_RUN_DIR=the_lab.tmpdir,
                           WB_SWITCH_PIDS=" ".join(map(str, impl.switch_pids())),
                           **{f"WB_NS_{n}": topo.ns(n) for n in ["rtr", *HOSTS, *GUESTS]},
                           **impl.hold_env())
                log(f"[{name}] --hold: {args.hold}")
                subprocess.run(["bash", "-c", args.hold], env=env)
                return None
            for g in ("vmB1", "vmA2"):
                with open(pathlib.Path(the_lab.tmpdir) / f"iperf3-{g}.log", "w") as f:
                    topo.guests[g].popen(["iperf3", "-s"], stdout=f, stderr=subprocess.STDOUT)
            for proto, port in RR_PORT.items():
                with open(pathlib.Path(the_lab.tmpdir) / f"sockperf-{proto}.log", "w") as f:
                    topo.guests["vmB1"].popen(
                        ["sockperf", "server", "-i", GUESTS["vmB1"][1], "-p", str(port)] +
                        (["--tcp"] if proto == "tcp" else []), stdout=f, stderr=subprocess.STDOUT)
            time.sleep(0.5)
            m = Measure(topo, impl, args, out_dir, f"{stamp}-{name}")
            for i in range(args.reps):
                log(f"[{name}] rep {i + 1}/{args.reps} ({args.duration} s per iperf3 run)")
                r = m.rep()
                log(f"[{name}]   " + " ".join(f"{k}={v}" for k, v in r.items()))
                res["reps"].append(r)
            res["switch"] = impl.stats()
            if args.keep_run:
                log(f"[{name}] run dir kept: {the_lab.tmpdir}")
    except Exception as e:  # one broken implementation must not lose the others' figures
        log(f"[{name}] FAILED: {e}")
        res["error"] = str(e)
    keys = {k for r in res["reps"] for k in r}
    res["median"] = {k: median([r.get(k) for r in res["reps"]]) for k in keys}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Implementations: " + ", ".join(ALL_IMPLS))
    ap.add_argument("--duration", type=int, default=5, help="seconds per iperf3 run (5)")
    ap.add_argument("--rr-duration", type=int, default=3,
                    help="seconds per sockperf request/response run, TCP and UDP (3)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions; the table shows medians (3)")
    ap.add_argument("--settle", type=int, default=30,
                    help="before each repetition, wait up to this many seconds for the "
                         "machine's background load to drop below 0.2 cores (30)")
    ap.add_argument("--peers", default=DEFAULT_IMPLS, help=f"implementations ({DEFAULT_IMPLS})")
    ap.add_argument("--build-dir", type=pathlib.Path, default=REPO / "build/release",
                    help="meson build directory with weftd (build/release)")
    ap.add_argument("--out", type=pathlib.Path, default=REPO / "build/bench-results",
                    help="where results go (build/bench-results)")
    ap.add_argument("--hold", metavar="CMD",
                    help="debug: build each topology, run CMD in bash, tear down (no measurement)")
    ap.add_argument("--control", choices=["auto", "cli", "socket"], default="auto",
                    help="how weftd is configured: the weft CLI (through lab.py), its JSON "
                         "socket, or auto: the CLI when `weft -o json stats` works (auto)")
    ap.add_argument("--keep-run", action="store_true",
                    help="keep the labs' directories (daemons' logs, OVS databases)")
    args = ap.parse_args()
    args.build_dir = args.build_dir.resolve()

    if os.geteuid() != 0:
        sys.exit("e2e.py: needs root (network namespaces)")
    impls = [p.strip() for p in args.peers.split(",") if p.strip()]
    bad = [p for p in impls if p not in ALL_IMPLS]
    if bad or not impls:
        sys.exit(f"e2e.py: unknown implementation {bad}; choose from {', '.join(ALL_IMPLS)}")
    if any(p.startswith("weft") for p in impls) and not os.access(
            args.build_dir / "src/weftd/weftd", os.X_OK):
        sys.exit(f"e2e.py: no weftd in {args.build_dir} (bench/run-e2e.sh builds it)")
    need = ["ip", "ping", "iperf3", "sockperf", "ethtool", "bridge"]
    if "ovs" in impls:
        need += ["ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovsdb-tool", "ovs-appctl"]
    missing = [c for c in need if not shutil.which(c)]
    if missing:
        sys.exit(f"e2e.py: missing {' '.join(missing)} (bench/run-e2e.sh installs them)")
    # lab.py takes its programs from WEFT_BUILD_DIR
    os.environ["WEFT_BUILD_DIR"] = str(args.build_dir)

    # SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` tears its topology down.
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = args.out / f"e2e-{stamp}"
    if not args.hold:
        out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    results = {}
    try:
        for name in impls:
            r = bench_one(name, args, out_dir, stamp)
            if r is not None:
                results[name] = r
    except KeyboardInterrupt:
        log("interrupted: topology removed")
        return 130
    if args.hold:
        return 0

    add_derived(results)
    legend = LEGEND.format(ref=kernel_ref(results) or "no kernel peer measured")
    what = (f"{args.reps} rep(s), {args.duration} s per iperf3 run, {args.rr_duration} s per "
            "sockperf run, medians")
    print(f"\nWeft e2e: {what}; {time.monotonic() - t0:.0f} s\n\nThroughput:")
    print(table(results, THROUGHPUT))
    print("\nLatency and CPU (cores during the TCP1 run, and per Gbit/s of it):")
    print(table(results, LATENCY_CPU))
    print(legend)
    if targets(results):
        print("\nTargets (issue 5):\n" + targets_text(results))
    errors = {n: r["error"] for n, r in results.items() if "error" in r}
    for n, e in errors.items():
        print(f"{n}: FAILED: {e}")
    meta = {"stamp": stamp, "duration": args.duration, "rr_duration": args.rr_duration,
            "reps": args.reps, "impls": impls,
            "seconds": round(time.monotonic() - t0), "env": environment()}
    goals = [{"impl": w, "target": t, "figure": v, "met": ok} for w, t, v, ok in targets(results)]
    (out_dir / "result.json").write_text(json.dumps({"meta": meta, "results": results,
                                                     "targets": goals}, indent=1, default=str))
    md = [f"# Weft e2e benchmark {stamp}", "",
          f"{what}. Environment: {json.dumps(meta['env'])}", "", "Throughput:", "",
          table(results, THROUGHPUT, md=True), "", "Latency and CPU:", "",
          table(results, LATENCY_CPU, md=True), "", legend + ". Columns: bench/README.md.", ""]
    md += ["Targets (issue 5):", ""] + ["- " + t for t in targets_text(results).splitlines()]
    md += [""]
    md += [f"- {n}: FAILED: {e}" for n, e in errors.items()]
    md += ["", "Raw values per repetition:", ""]
    md += [f"- **{n}**: " + "; ".join(json.dumps(r) for r in res["reps"])
           for n, res in results.items()]
    (out_dir / "result.md").write_text("\n".join(md) + "\n")
    for f in ("result.json", "result.md"):
        shutil.copyfile(out_dir / f, args.out / f"e2e-latest.{f.split('.')[1]}")
    print(f"results: {out_dir}/result.{{json,md}} (also {args.out}/e2e-latest.*)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
