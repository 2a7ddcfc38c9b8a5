"""lab.py - network-namespace topologies for Weft's system tests, benchmark and demo.

The field's classic layout: hosts on different L3 subnets joined by a router,
each host running its own weftd, guests behind the hosts' switches::

    guest a1 --+                                     +-- guest b1
    guest a2 --+-- host a ==== router ==== host b ---+-- guest b2
               10.N.1.2/24   .1     .1   10.N.2.2/24
                         (underlay MTU 1600)

Everything lives in network namespaces this module creates and always removes:
names start with ``wt<pid>-<lab>-`` (``ip netns list`` shows them), interface
names stay within 15 characters, and nothing is configured outside them, so
labs of several processes can run side by side.

Example::

    from lab import Lab

    with Lab() as lab:
        lab.add_router()
        a, b = lab.add_host("a", 1), lab.add_host("b", 2)
        for host, peer in ((a, b), (b, a)):
            host.start_weftd()
            host.weft("segment", "add", "5001", "--peer", peer.ip)
        a1 = a.add_guest("a1", "172.16.10.11/24", segment=5001)
        b1 = b.add_guest("b1", "172.16.10.21/24", segment=5001, backend="afpacket")
        assert a1.ping(b1.ip)
        print(a.weft_json("mac", "list", "5001"))

API summary
-----------
``Lab(net=1, underlay_mtu=1600, build_dir=None)``  context manager; ``close()`` removes all
``Lab.add_router(name="r")``                       the router namespace (IP forwarding on)
``Lab.classic(segments=(5001,))`` -> (a, b)         router + hosts a, b with weftd and peered segments
``Lab.add_host(name, subnet)`` -> Host              underlay 10.N.S.2/24 on ``ul0``, gateway 10.N.S.1
``Lab.add_linux_vtep_host(name, subnet, vni=5001)`` -> LinuxVtepHost (kernel vxlan + bridge)
``Lab.add_namespace(name)`` -> Namespace            a bare namespace (lo up, IPv6 off)
``Lab.add_veth(ns_a, if_a, ns_b, if_b, mtu=None)``  a veth pair between two namespaces
``Lab.capture(ns, ifname, bpf="")``                 context manager -> pcap path (dumpcap)
``Host.start_weftd(**opts)`` / ``stop_weftd()`` / ``kill_weftd(sig)`` / ``restart_weftd(**opts)``
``Host.weft(*args, check=True)`` -> CompletedProcess;  ``Host.weft_json(*args)`` -> data
``Host.add_guest(name, ip_cidr, segment=..., backend="tap"|"afpacket", mac=None,
                 trunk_vlans=None, native_vlan=None, port_args=())`` -> Guest
``Namespace.run(cmd)``, ``.ipcmd(*ip_args)``, ``.ping(ip, count=1)`` -> bool, ``.wait_ping(ip)``,
``.link_stats(ifname)``, ``.mac_of(ifname)``,
``.send_udp(dst, dport, payloads)``, ``.send_frames(ifname, frames)``, ``.popen(cmd)``
``Guest.add_vlan(vid, ip_cidr)`` (trunk guests), ``Guest.add_nested_guest(name, ip_cidr)`` (scenario 2)
``counter_delta(before, after)``, ``cleanup_stale()``, ``own_namespaces()``

Programs come from the meson build directory in WEFT_BUILD_DIR (absolute or
relative to the repository root; build/asan by default), as in conftest.py.
"""

import atexit
import contextlib
import ipaddress
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = {
    "weftd": "src/weftd/weftd",
    "weft": "src/cli/weft",
    "weft-controller": "src/controller/weft-controller",
}
# As in conftest.py: sanitizer reports must not go unnoticed.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:print_stacktrace=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}
SANITIZER_REPORT = re.compile(r"(ERROR: \w+Sanitizer|runtime error:|SUMMARY: \w+Sanitizer)")

# Bridges without multicast snooping: a snooping bridge joins 224.0.0.106 and sends
# IGMP reports into the segment, noise in exact counters.
BRIDGE_QUIET = ("mcast_snooping", "0")

PREFIX_RE = re.compile(r"^wt(\d+)-")
_lab_counter = 0
_open_labs = []


class LabError(AssertionError):
    """A lab operation failed (a command, weftd, a program missing).

    An AssertionError, so pytest reports it as a test failure with its message."""


def build_dir():
    """The meson build directory holding the programs under test."""
    path = pathlib.Path(os.environ.get("WEFT_BUILD_DIR", "build/asan"))
    return path if path.is_absolute() else REPO_ROOT / path


def program(name):
    """Absolute path of a built program (weftd, weft); LabError if it is missing."""
    path = build_dir() / PROGRAMS[name]
    if not os.access(path, os.X_OK):
        raise LabError(f"{name} is not built at {path}: run ninja -C {build_dir()}")
    return str(path)


def program_env():
    env = dict(os.environ)
    for key, value in SANITIZER_ENV.items():
        env.setdefault(key, value)
    env["LC_ALL"] = "C"
    return env


def sh(cmd, check=True, timeout=30, input=None):
    """Runs a command (a list, or a string for sh -c) in the test's own namespace."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            timeout=timeout, input=input, check=False)
    if check and result.returncode != 0:
        raise LabError(f"command failed ({result.returncode}): {shlex.join(map(str, cmd))}\n"
                       f"{result.stdout}{result.stderr}")
    return result


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace(ns):
    """Kills what still runs in a namespace of ours, then deletes it."""
    pids = sh(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    for _ in range(50):
        if not sh(["ip", "netns", "pids", ns], check=False).stdout.split():
            break
        time.sleep(0.02)
    sh(["ip", "netns", "del", ns], check=False)


def list_namespaces():
    out = sh(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def cleanup_stale():
    """Removes namespaces left by earlier runs (prefix wt<pid>- of a dead process).

    Namespaces of running processes (another lab in parallel) are left alone.
    Returns the names removed."""
    removed = []
    for ns in list_namespaces():
        match = PREFIX_RE.match(ns)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace(ns)
            removed.append(ns)
    return removed


def own_namespaces():
    """Namespaces of this process's labs that still exist."""
    return [ns for ns in list_namespaces() if ns.startswith(f"wt{os.getpid()}-")]


# A user-space 802.1Q subinterface, for kernels built without CONFIG_VLAN_8021Q (as
# some CI VMs are): argv parent, vid, tpid. It creates TAP device <parent>.<vid>;
# frames the stack sends there leave <parent> with the tag inserted; frames arriving
# on <parent> with that VLAN (the kernel strips the tag into the packet's metadata,
# which PACKET_AUXDATA returns; an inline tag is handled too) come up untagged.
# Like the kernel's VLAN device it keeps offloads: the TAP and the packet socket
# both carry a virtio-net header (IFF_VNET_HDR, PACKET_VNET_HDR) and the TAP offers
# checksum offload and TSO, so super-frames and partial checksums pass both ways
# (csum_start moved by the tag); without that the guest's stack would verify a
# partial checksum's seed as the whole checksum, and could send no super-frame.
# Every readable frame is taken per wake-up and the socket's receive buffer is
# large (SO_RCVBUFFORCE): a burst of a few hundred segments waits instead of being
# dropped unseen (the socket's drop count is all that would tell).
VLAN_RELAY = r"""
import fcntl, os, select, socket, struct, sys
parent, vid, tpid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SOL_PACKET, PACKET_AUXDATA, PACKET_VNET_HDR, PACKET_IGNORE_OUTGOING = 263, 8, 15, 23
TP_STATUS_VLAN_VALID, NEEDS_CSUM, VNET, ROOM, SO_RCVBUFFORCE = 0x10, 1, 10, 65600, 33
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, TUNSETIFF, TUNSETOFFLOAD = 2, 0x1000, 0x4000, 0x400454CA, 0x400454D0
TUN_F_CSUM_TSO = 0x1 | 0x2 | 0x4 | 0x8  # CSUM, TSO4, TSO6, TSO_ECN
tap = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", f"{parent}.{vid}".encode(),
                                        IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
fcntl.ioctl(tap, TUNSETOFFLOAD, TUN_F_CSUM_TSO)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
try:
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
except OSError:
    pass
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
s.bind((parent, 0))
print("ready", flush=True)
tag = struct.pack("!HH", tpid, vid)


def shifted(vnet, by):
    # The virtio-net header of the frame once its L3 header is by bytes further on.
    flags, gso, hdr_len, gso_size, start, ofs = struct.unpack("=BBHHHH", vnet)
    start += by if flags & NEEDS_CSUM else 0
    hdr_len += by if hdr_len else 0
    return struct.pack("=BBHHHH", flags, gso, hdr_len, gso_size, start, ofs)


def from_stack():
    while True:
        try:
            data = os.read(tap, ROOM)
        except BlockingIOError:
            return
        s.send(shifted(data[:VNET], 4) + data[VNET:VNET + 12] + tag + data[VNET + 12:])


def from_parent():
    while True:
        try:
            data, anc, _, addr = s.recvmsg(ROOM, socket.CMSG_SPACE(32), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        vnet, frame, tci = data[:VNET], data[VNET:], None
        for level, kind, cdata in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, _, _, _, _, vtci, vtpid = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID and (vtpid in (0, tpid)):
                    tci = vtci
        if tci is None and len(frame) >= 18 and struct.unpack("!H", frame[12:14])[0] == tpid:
            tci = struct.unpack("!H", frame[14:16])[0]
            vnet, frame = shifted(vnet, -4), frame[:12] + frame[16:]
        if tci is not None and tci & 0xfff == vid:
            os.write(tap, vnet + frame)


while True:
    ready, _, _ = select.select([tap, s], [], [])
    if tap in ready:
        from_stack()
    if s in ready:
        from_parent()
"""


def counter_delta(before, after):
    """{key: after - before} for the keys whose count changed (flat dicts of ints)."""
    keys = set(before) | set(after)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: v for k, v in delta.items() if v}


@atexit.register
def _close_open_labs():
    for lab in list(_open_labs):
        with contextlib.suppress(Exception):
            lab.close()


class Namespace:
    """A network namespace of the lab: .ns is its name under /run/netns."""

    def __init__(self, lab, name, ns):
        self.lab = lab
        self.name = name
        self.ns = ns

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} ({self.ns})>"

    def cmd(self, cmd):
        """The argv that runs cmd (a list, or a string for sh -c) inside the namespace."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return ["ip", "netns", "exec", self.ns, *map(str, cmd)]

    def run(self, cmd, check=True, timeout=30, input=None):
        """Runs cmd inside the namespace -> CompletedProcess (text); LabError if it fails
        and check is true."""
        return sh(self.cmd(cmd), check=check, timeout=timeout, input=input)

    def popen(self, cmd, **kwargs):
        """Starts cmd inside the namespace; the lab kills it at close if it still runs."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        proc = subprocess.Popen(self.cmd(cmd), **kwargs)
        self.lab._procs.append(proc)
        return proc

    def ipcmd(self, *args, check=True):
        """Runs `ip -n <ns> ARGS...`."""
        return sh(["ip", "-n", self.ns, *map(str, args)], check=check)

    def sysctl(self, *settings):
        """sysctl("net.ipv4.ip_forward=1", ...) inside the namespace."""
        self.run(["sysctl", "-qw", *settings])

    def ping(self, ip, count=1, timeout=2.0, size=None, df=False, iface=None, interval=0.2):
        """Sends exactly count echo requests to ip (interval seconds apart) -> True when
        every one is answered, each within timeout seconds."""
        args = ["ping", "-n", "-q", "-c", count, "-i", interval, "-W", timeout]
        if size is not None:
            args += ["-s", size]
        if df:
            args += ["-M", "do"]
        if iface:
            args += ["-I", iface]
        out = self.run(args + [ip], check=False, timeout=count * interval + timeout + 10).stdout
        match = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        return bool(match) and int(match.group(1)) == count and int(match.group(2)) == count

    def wait_ping(self, ip, timeout=10.0, **kwargs):
        """Pings until one answer comes back or timeout seconds pass -> bool."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping(ip, count=1, timeout=1, **kwargs):
                return True
        return False

    def quiet_arp(self, ifname):
        """No ARP long after the traffic that needed it, to disturb exact counts:
        neighbours confirmed on ifname stay reachable for 10 minutes, and one learned
        from a request is confirmed at once when first used (no 5-second DELAY).
        (Per interface: a namespace has no neigh/default of its own.)"""
        key = ifname.replace(".", "/")
        self.sysctl(f"net.ipv4.neigh.{key}.base_reachable_time_ms=600000",
                    f"net.ipv4.neigh.{key}.delay_first_probe_time=0")

    def settle_neighbours(self, timeout=10.0):
        """Forgets unresolved neighbours (an INCOMPLETE entry goes on sending ARP
        requests after a failed ping) and waits until no entry is being re-validated,
        so no ARP frame of this namespace's making is still to come."""
        deadline = time.monotonic() + timeout
        while True:
            self.run(["ip", "neigh", "flush", "nud", "incomplete"], check=False)
            self.run(["ip", "neigh", "flush", "nud", "failed"], check=False)
            entries = json.loads(self.run(["ip", "-j", "neigh", "show"]).stdout or "[]")
            busy = [e for e in entries
                    if set(e.get("state", [])) & {"INCOMPLETE", "DELAY", "PROBE"}]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise LabError(f"neighbours of {self.ns} do not settle: {busy}")
            time.sleep(0.2)

    def link(self, ifname):
        """`ip -j -s link show` of one interface, as a dict."""
        return json.loads(self.ipcmd("-j", "-s", "link", "show", "dev", ifname).stdout)[0]

    def link_stats(self, ifname):
        """{"rx": {"packets", "bytes", ...}, "tx": {...}} of an interface."""
        return self.link(ifname)["stats64"]

    def mac_of(self, ifname):
        """The MAC address of an interface in the namespace."""
        return self.link(ifname)["address"]

    def send_udp(self, dst, dport, payloads, src=None, sport=0):
        """Sends each payload (bytes) as one UDP datagram from inside the namespace.

        A plain socket: the kernel builds IP and UDP (and fragments what exceeds the MTU)."""
        code = (
            "import json,socket,sys\n"
            "a=json.load(sys.stdin)\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.bind((a['src'],a['sport']))\n"
            "for p in a['payloads']:\n"
            "    s.sendto(bytes.fromhex(p),(a['dst'],a['dport']))\n")
        arg = {"dst": str(dst), "dport": int(dport), "src": src or "", "sport": int(sport),
               "payloads": [bytes(p).hex() for p in payloads]}
        self.run(["/usr/bin/python3", "-c", code], input=json.dumps(arg))

    def send_frames(self, ifname, frames):
        """Sends each frame (bytes, from the Ethernet header on) out of ifname as is."""
        code = (
            "import json,socket,sys\n"
            "a=json.load(sys.stdin)\n"
            "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n"
            "s.bind((a['ifname'],0))\n"
            "for f in a['frames']:\n"
            "    s.send(bytes.fromhex(f))\n")
        arg = {"ifname": ifname, "frames": [bytes(f).hex() for f in frames]}
        self.run(["/usr/bin/python3", "-c", code], input=json.dumps(arg))


class Guest(Namespace):
    """A guest: its own namespace whose eth0 is a port of a host's switch.

    .host, .port (the weft port name; None behind a Linux VTEP), .backend, .ifname,
    .ip (address without prefix, or None), .mac."""

    def __init__(self, lab, name, ns, host, port, backend, ifname="eth0"):
        super().__init__(lab, name, ns)
        self.host = host
        self.port = port
        self.backend = backend
        self.ifname = ifname
        self.ip = None
        self.mac = None

    def configure(self, ip_cidr=None, mac=None, mtu=1500):
        dev = self.ifname
        if mac:
            self.ipcmd("link", "set", dev, "down")
            self.ipcmd("link", "set", dev, "address", mac)
        self.ipcmd("link", "set", dev, "mtu", mtu)
        self.ipcmd("link", "set", dev, "up")
        self.quiet_arp(dev)
        if ip_cidr:
            self.ipcmd("addr", "add", ip_cidr, "dev", dev)
            self.ip = str(ipaddress.ip_interface(ip_cidr).ip)
        self.mac = self.link(dev)["address"]

    def add_vlan(self, vid, ip_cidr=None, mac=None, tpid=0x8100):
        """Adds the 802.1Q subinterface eth0.<vid> (for trunk guests); returns its name.

        The kernel's VLAN device when it has one (CONFIG_VLAN_8021Q); otherwise a TAP
        device of that name with a small relay process that tags what it sends and
        passes up what arrives on eth0 with its VLAN (see VLAN_RELAY)."""
        dev = f"{self.ifname}.{vid}"
        if len(dev) > 15:
            raise LabError(f"interface name {dev!r} is longer than 15 characters")
        result = self.ipcmd("link", "add", "link", self.ifname, "name", dev, "type", "vlan",
                            "proto", "802.1ad" if tpid == 0x88a8 else "802.1Q", "id", vid,
                            check=False)
        if result.returncode != 0:
            if "Unknown device type" not in result.stderr:
                raise LabError(f"cannot add {dev}: {result.stderr}")
            relay = self.popen(["/usr/bin/python3", "-c", VLAN_RELAY, self.ifname, vid, tpid],
                               stdin=subprocess.DEVNULL)
            line = relay.stdout.readline()
            if line.strip() != "ready":
                relay.kill()
                raise LabError(f"VLAN relay for {dev} failed: {line}{relay.stderr.read()}")
        if mac:
            self.ipcmd("link", "set", dev, "address", mac)
        self.ipcmd("link", "set", dev, "up")
        self.quiet_arp(dev)
        if ip_cidr:
            self.ipcmd("addr", "add", ip_cidr, "dev", dev)
        return dev

    def add_nested_guest(self, name, ip_cidr=None, mac=None):
        """Scenario 2, a guest that is itself a bridge: the first call puts eth0 into a
        Linux bridge br0 inside this guest; each call adds a namespace on a veth port
        of br0 -> Guest (.host is this guest, .port None), so several MACs arrive on
        this guest's one switch port."""
        if not getattr(self, "nested", None):
            self.nested = {}
            self.ipcmd("link", "add", "br0", "type", "bridge", *BRIDGE_QUIET)
            self.ipcmd("link", "set", self.ifname, "master", "br0")
            self.ipcmd("link", "set", "br0", "up")
        ns = self.lab.new_namespace(f"{self.host.name}-{self.name}-{name}")
        inner = Guest(self.lab, name, ns, self, None, "linux-bridge")
        host_if = f"v-{name}"[:15]
        self.lab.add_veth(self, host_if, inner, "eth0")
        self.ipcmd("link", "set", host_if, "master", "br0", "up")
        inner.configure(ip_cidr, mac=mac)
        self.nested[name] = inner
        return inner

    def rx_packets(self, ifname=None):
        return self.link_stats(ifname or self.ifname)["rx"]["packets"]


class Host(Namespace):
    """A host with an underlay address and (after start_weftd) its own weftd.

    .ip / .vtep_ip (10.N.S.2), .gateway (10.N.S.1), .subnet (S), .ul_if ("ul0"),
    .dir (its temporary directory: weftd's datadir, socket and log)."""

    def __init__(self, lab, name, ns, subnet, index=2):
        super().__init__(lab, name, ns)
        self.subnet = subnet
        self.ip = lab.underlay_ip(subnet, index)
        self.vtep_ip = self.ip
        self.gateway = lab.gateway_ip(subnet)
        self.ul_if = "ul0"
        self.dir = pathlib.Path(lab.tmpdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.datadir = self.dir / "data"
        self.socket = self.dir / "weftd.sock"
        self.log_path = self.dir / "weftd.log"
        self.weftd = None
        self.weftd_opts = {}
        self.guests = {}

    # ---- weftd --------------------------------------------------------------

    def weftd_argv(self, **opts):
        # WEFT_TEST_WORKERS=N runs every weftd of the suite with --workers N.
        merged = {"name": self.name, "vtep_ip": self.vtep_ip,
                  "underlay_mtu": self.lab.underlay_mtu, "datadir": self.datadir,
                  "socket": self.socket, "workers": os.environ.get("WEFT_TEST_WORKERS")}
        merged.update(opts)
        argv = [program("weftd")]
        for key, value in merged.items():
            flag = "--" + key.replace("_", "-")
            if value is None or value is False:
                continue
            if value is True:
                argv.append(flag)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    argv += [flag, str(item)]
            else:
                argv += [flag, str(value)]
        return argv

    def start_weftd(self, timeout=15.0, **opts):
        """Starts weftd in this host's namespace and waits until `weft status` answers.

        Options: name, vtep_ip, underlay_mtu (default: the lab's), datadir, socket, and
        any other weftd option with underscores for dashes (True: a flag; a list:
        repeated). The options are remembered for restart_weftd()."""
        if self.weftd_alive():
            raise LabError(f"weftd already runs on {self.name}")
        self.weftd_opts = dict(opts)
        log = open(self.log_path, "a")
        log.write(f"==== {time.strftime('%H:%M:%S')} {shlex.join(self.weftd_argv(**opts))}\n")
        log.flush()
        # `ip netns exec` execs weftd: the pid is weftd's.
        self.weftd = subprocess.Popen(self.cmd(self.weftd_argv(**opts)), stdout=log,
                                      stderr=subprocess.STDOUT, env=program_env())
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.weftd.poll() is not None:
                raise LabError(f"weftd on {self.name} exited with {self.weftd.returncode}:\n"
                               f"{self.weftd_log()}")
            if self.socket.exists():
                result = self.weft("status", check=False)
                if result.returncode == 0:
                    return self.weftd
                if result.returncode == 2:  # a usage error will not go away by waiting
                    raise LabError(f"`weft status` is a usage error: {result.stderr}")
            if time.monotonic() > deadline:
                raise LabError(f"weftd on {self.name} did not answer within {timeout}s:\n"
                               f"{self.weftd_log()}")
            time.sleep(0.05)

    def weftd_alive(self):
        return self.weftd is not None and self.weftd.poll() is None

    def weftd_log(self):
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def kill_weftd(self, sig=signal.SIGKILL, timeout=15.0):
        """Sends sig to weftd and waits for it to exit; returns the exit status."""
        if not self.weftd_alive():
            raise LabError(f"weftd is not running on {self.name}")
        self.weftd.send_signal(sig)
        try:
            return self.weftd.wait(timeout)
        except subprocess.TimeoutExpired:
            self.weftd.kill()
            self.weftd.wait()
            raise LabError(f"weftd on {self.name} ignored signal {sig} for {timeout}s")

    def stop_weftd(self):
        """Stops weftd with SIGTERM; LabError unless it exits with 0 and no sanitizer
        report."""
        status = self.kill_weftd(signal.SIGTERM)
        self.check_weftd_log()
        if status != 0:
            raise LabError(f"weftd on {self.name} exited with {status} after SIGTERM:\n"
                           f"{self.weftd_log()}")

    def restart_weftd(self, sig=signal.SIGKILL, **opts):
        """Kills weftd (if it runs) and starts it again with the same datadir and options
        (opts replace or add to those of the last start)."""
        if self.weftd_alive():
            self.kill_weftd(sig)
        merged = dict(self.weftd_opts)
        merged.update(opts)
        return self.start_weftd(**merged)

    def check_weftd_log(self):
        log = self.weftd_log()
        if SANITIZER_REPORT.search(log):
            raise LabError(f"sanitizer report from weftd on {self.name}:\n{log}")

    # ---- weft -------------------------------------------------------------------

    def weft(self, *args, check=True, timeout=30, socket=None):
        """Runs `weft -s <this host's socket> ARGS...` -> CompletedProcess (text).

        With check, a non-zero exit raises LabError with weft's stderr. A sanitizer
        report always does."""
        argv = [program("weft"), "-s", str(socket or self.socket), *map(str, args)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                env=program_env(), check=False)
        if SANITIZER_REPORT.search(result.stderr):
            raise LabError(f"sanitizer report from {shlex.join(argv)}:\n{result.stderr}")
        if check and result.returncode != 0:
            raise LabError(f"{shlex.join(argv)} exited with {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
        return result

    def weft_json(self, *args):
        """The daemon's data for `weft -o json ARGS...`, parsed."""
        out = self.weft("-o", "json", *args).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:
            raise LabError(f"weft -o json {' '.join(map(str, args))} printed no JSON ({e}):\n"
                           f"{out}")

    def stats(self):
        return self.weft_json("stats")

    def drops(self):
        """{reason: count} of the whole switch (`weft stats`' total.drops)."""
        return dict(self.stats()["total"]["drops"])

    # ---- guests -------------------------------------------------------------------

    def add_guest(self, name, ip_cidr=None, segment=None, backend="tap", mac=None,
                  trunk_vlans=None, native_vlan=None, mtu=1500, port_args=()):
        """Makes a guest namespace whose eth0 is port `name` of this host's weftd.

        backend "tap": weftd creates eth0 as a TAP device inside the guest's namespace;
        "afpacket": a veth pair, eth0 in the guest and v-<name> in the host, attached
        by weftd. Access port on `segment` (a VNI), or a trunk of `trunk_vlans`
        ("101,102" or a list) with an optional native VLAN. port_args: more
        `weft port add` options. mac: the guest's MAC (default: the kernel's)."""
        if name in self.guests:
            raise LabError(f"guest {name} exists on {self.name}")
        ns = self.lab.new_namespace(f"{self.name}-{name}")
        guest = Guest(self.lab, name, ns, self, name, backend)
        self.guests[name] = guest
        port = ["port", "add", name, "--backend", backend]
        if backend == "tap":
            port += ["--ifname", "eth0", "--netns", ns]
        elif backend == "afpacket":
            host_if = f"v-{name}"[:15]
            self.lab.add_veth(self, host_if, guest, "eth0")
            port += ["--ifname", host_if]
        else:
            raise LabError(f"backend {backend!r}: use tap or afpacket")
        if trunk_vlans is not None:
            if not isinstance(trunk_vlans, str):
                trunk_vlans = ",".join(map(str, trunk_vlans))
            port += ["--trunk", trunk_vlans]
            if native_vlan is not None:
                port += ["--native-vlan", native_vlan]
        elif segment is not None:
            port += ["--segment", segment]
        else:
            raise LabError("add_guest needs segment= or trunk_vlans=")
        self.weft(*port, *port_args)
        guest.configure(ip_cidr, mac=mac, mtu=mtu)
        return guest


class LinuxVtepHost(Namespace):
    """A host whose VTEP is the Linux kernel's: vxlan device vx0 (nolearning) in bridge
    br0, guests on veth ports of br0, head-end replication through all-zero FDB entries.

    .ip / .vtep_ip, .gateway, .subnet, .ul_if ("ul0"), .vni."""

    def __init__(self, lab, name, ns, subnet, vni):
        super().__init__(lab, name, ns)
        self.subnet = subnet
        self.ip = self.vtep_ip = lab.underlay_ip(subnet)
        self.gateway = lab.gateway_ip(subnet)
        self.ul_if = "ul0"
        self.vni = vni
        self.guests = {}

    def add_peer(self, ip):
        """Sends broadcast/unknown frames (and those to MACs seen behind it) to VTEP ip."""
        self.run(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", ip])

    def add_guest(self, name, ip_cidr=None, mac=None, mtu=1500):
        ns = self.lab.new_namespace(f"{self.name}-{name}")
        guest = Guest(self.lab, name, ns, self, None, "linux-bridge")
        self.guests[name] = guest
        host_if = f"v-{name}"[:15]
        self.lab.add_veth(self, host_if, guest, "eth0", mtu=mtu)
        self.ipcmd("link", "set", host_if, "master", "br0", "up")
        guest.configure(ip_cidr, mac=mac, mtu=mtu)
        return guest


class Lab:
    """A set of namespaces forming one topology; a context manager that removes all of
    it (processes, namespaces, the temporary directory) on exit, even after a failure.

    net: the N of the underlay addresses 10.N.S.0/24. underlay_mtu: MTU of the underlay
    links, also weftd's default --underlay-mtu."""

    def __init__(self, net=1, underlay_mtu=1600, keep_tmpdir=False):
        global _lab_counter
        cleanup_stale()
        _lab_counter += 1
        self.prefix = f"wt{os.getpid()}-{_lab_counter}-"
        self.net = net
        self.underlay_mtu = underlay_mtu
        self.tmpdir = tempfile.mkdtemp(prefix=self.prefix)
        self.keep_tmpdir = keep_tmpdir
        self.namespaces = []
        self.router = None
        self.hosts = {}
        self._procs = []
        self._closed = False
        _open_labs.append(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(check=exc_type is None)
        return False

    # ---- addressing ---------------------------------------------------------------

    def underlay_ip(self, subnet, index=2):
        return f"10.{self.net}.{subnet}.{index}"

    def gateway_ip(self, subnet):
        return f"10.{self.net}.{subnet}.1"

    # ---- building -----------------------------------------------------------------

    def new_namespace(self, name):
        """Creates namespace <prefix><name> (lo up, IPv6 off, rp_filter off) -> its name."""
        ns = self.prefix + name
        sh(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Quiet namespaces, so that tests can count frames exactly: no IPv6 (no router
        # solicitations, MLD reports or DAD; see also Namespace.quiet_arp()). No
        # reverse-path filter (a trunk guest has several interfaces in one subnet).
        sh(["ip", "netns", "exec", ns, "sysctl", "-qw",
            "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
            "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"])
        return ns

    def add_namespace(self, name):
        """A bare namespace of the lab -> Namespace."""
        return Namespace(self, name, self.new_namespace(name))

    def add_veth(self, a, if_a, b, if_b, mtu=None):
        """A veth pair: if_a in namespace a, if_b in namespace b (Namespace objects or
        names), both up."""
        ns_a = getattr(a, "ns", a)
        ns_b = getattr(b, "ns", b)
        for ifname in (if_a, if_b):
            if len(ifname) > 15:
                raise LabError(f"interface name {ifname!r} is longer than 15 characters")
        sh(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
            "netns", ns_b])
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            if mtu:
                sh(["ip", "-n", ns, "link", "set", ifname, "mtu", str(mtu)])
            sh(["ip", "-n", ns, "link", "set", ifname, "up"])

    def add_router(self, name="r"):
        """The router joining the hosts' underlay subnets (IP forwarding on)."""
        if self.router:
            raise LabError("the lab has a router already")
        self.router = self.add_namespace(name)
        self.router.sysctl("net.ipv4.ip_forward=1")
        return self.router

    def _attach_underlay(self, host):
        if not self.router:
            self.add_router()
        router_if = f"to-{host.name}"[:15]
        host.router_if = router_if
        self.add_veth(self.router, router_if, host, host.ul_if, mtu=self.underlay_mtu)
        neighbours = [h for h in self.hosts.values() if h.subnet == host.subnet]
        if not neighbours:
            self.router.ipcmd("addr", "add", f"{host.gateway}/24", "dev", router_if)
        else:
            # A second host on a subnet: the subnet becomes one L2 segment, a bridge
            # in the router (its "top-of-rack switch") holding the gateway address.
            bridge = f"sub{host.subnet}"
            if not self.router.run(["ip", "link", "show", bridge], check=False).returncode == 0:
                first = neighbours[0].router_if
                self.router.ipcmd("link", "add", bridge, "mtu", self.underlay_mtu, "type",
                                  "bridge", *BRIDGE_QUIET)
                self.router.ipcmd("addr", "del", f"{host.gateway}/24", "dev", first)
                self.router.ipcmd("link", "set", first, "master", bridge)
                self.router.ipcmd("addr", "add", f"{host.gateway}/24", "dev", bridge)
                self.router.ipcmd("link", "set", bridge, "up")
            self.router.ipcmd("link", "set", router_if, "master", bridge)
        host.ip_cidr = f"{host.ip}/24"
        host.ipcmd("addr", "add", host.ip_cidr, "dev", host.ul_if)
        host.ipcmd("route", "add", f"10.{self.net}.0.0/16", "via", host.gateway)

    def add_host(self, name, subnet, index=2):
        """A host on underlay subnet 10.N.<subnet>.0/24 (address .<index> on ul0,
        gateway .1 on the router, MTU as the lab's) -> Host. Several hosts may share a
        subnet (give each its own index): the router then bridges their links. Start
        its weftd with start_weftd()."""
        if name in self.hosts:
            raise LabError(f"host {name} exists")
        if any(h.subnet == subnet and h.ip == self.underlay_ip(subnet, index)
               for h in self.hosts.values()):
            raise LabError(f"address {self.underlay_ip(subnet, index)} is taken: give "
                           f"host {name} another index")
        host = Host(self, name, self.new_namespace(name), subnet, index)
        self._attach_underlay(host)
        self.hosts[name] = host
        return host

    def add_linux_vtep_host(self, name, subnet, vni=5001, vxlan_port=4789, peers=(),
                            tx_offload=False):
        """A host using the kernel's own VTEP: vx0 (`ip link add vx0 type vxlan id VNI
        dstport 4789 local <ip> nolearning`) in bridge br0 -> LinuxVtepHost.

        Add guests with .add_guest(), remote VTEPs with .add_peer(ip) (or peers=).

        tx_offload=False turns transmit checksum offload off on the underlay veth
        (`ethtool -K ul0 tx off`), which also turns TSO/GSO off there. Why: a frame
        the kernel encapsulates keeps CHECKSUM_PARTIAL (its inner TCP/UDP checksum not
        yet written, left to the NIC) and, with TSO, stays one super-frame of up to
        64 KB. A real NIC finishes both on the wire; a veth passes the skb on as it is,
        the router forwards it unchanged, and the receiving host's UDP socket (weftd's
        VTEP) reads the payload as it stands: inner frames with unfinished checksums,
        which the guest then drops, and VXLAN datagrams far beyond the underlay MTU.
        The kernel's own vxlan receiver never notices, because it keeps the skb's
        checksum state and segments GSO packets itself. With tx off, the kernel
        completes checksums and segments in software before the veth, as a NIC would.
        """
        if name in self.hosts:
            raise LabError(f"host {name} exists")
        host = LinuxVtepHost(self, name, self.new_namespace(name), subnet, vni)
        self._attach_underlay(host)
        if not tx_offload:
            host.run(["ethtool", "-K", host.ul_if, "tx", "off"])
        host.ipcmd("link", "add", "vx0", "type", "vxlan", "id", vni, "dstport", vxlan_port,
                "local", host.ip, "nolearning")
        host.ipcmd("link", "add", "br0", "type", "bridge", *BRIDGE_QUIET)
        host.ipcmd("link", "set", "vx0", "master", "br0", "up")
        host.ipcmd("link", "set", "br0", "up")
        for peer in peers:
            host.add_peer(peer)
        self.hosts[name] = host
        return host

    def classic(self, segments=(5001,), names=("a", "b"), **weftd_opts):
        """The classic topology: a router and one host per name on subnets 1, 2, ...,
        each running weftd (weftd_opts passed on), with every segment added on every
        host and the other hosts as its static peers -> the hosts, in order.

        segments: VNIs, or (VNI, [more `weft segment add` options]) pairs."""
        hosts = [self.add_host(name, i + 1) for i, name in enumerate(names)]
        for host in hosts:
            host.start_weftd(**weftd_opts)
            for seg in segments:
                vni, extra = (seg, []) if isinstance(seg, int) else seg
                peers = [arg for other in hosts if other is not host
                         for arg in ("--peer", other.vtep_ip)]
                host.weft("segment", "add", vni, *extra, *peers)
        return hosts

    # ---- observing ----------------------------------------------------------------

    @contextlib.contextmanager
    def capture(self, ns, ifname, bpf="", name=None):
        """Captures on ifname inside namespace ns (dumpcap) while the block runs;
        yields the pcap path, complete once the block has ended."""
        ns = getattr(ns, "ns", ns)
        path = pathlib.Path(self.tmpdir) / f"{name or ifname}-{time.monotonic_ns()}.pcap"
        if not shutil.which("dumpcap"):
            raise LabError("dumpcap (tshark) is not installed: run scripts/install-deps.sh")
        argv = ["ip", "netns", "exec", ns, "dumpcap", "-q", "-i", ifname, "-w", str(path)]
        if bpf:
            argv += ["-f", bpf]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        self._procs.append(proc)
        # dumpcap prints "Capturing on '<if>'" once the socket is bound and filtering
        # (-q keeps only the packet counts off); a non-empty file alone comes earlier,
        # and frames sent before the socket is bound are silently missed.
        started = threading.Event()
        errors = []

        def read_stderr():
            for line in proc.stderr:
                errors.append(line)
                if line.startswith("Capturing on"):
                    started.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        deadline = time.monotonic() + 10
        while not started.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise LabError(f"dumpcap did not start: {''.join(errors)}")
        time.sleep(0.2)
        try:
            yield path
        finally:
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def settle_neighbours(self):
        """settle_neighbours() in every guest of the lab (see Namespace)."""
        for host in self.hosts.values():
            for guest in host.guests.values():
                guest.settle_neighbours()
                for inner in getattr(guest, "nested", {}).values():
                    inner.settle_neighbours()

    # ---- teardown -----------------------------------------------------------------

    def close(self, check=False):
        """Stops every weftd (SIGTERM, so leak checks run) and started process, deletes
        the namespaces and the temporary directory. With check, raises LabError if a
        weftd printed a sanitizer report or did not exit cleanly."""
        if self._closed:
            return
        self._closed = True
        problems = []
        for host in self.hosts.values():
            if isinstance(host, Host) and host.weftd_alive():
                try:
                    host.stop_weftd()
                except LabError as e:
                    problems.append(str(e))
            if isinstance(host, Host):
                try:
                    host.check_weftd_log()
                except LabError as e:
                    problems.append(str(e))
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)
        for ns in reversed(self.namespaces):
            _kill_namespace(ns)
        self.namespaces = []
        if not self.keep_tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self in _open_labs:
            _open_labs.remove(self)
        if check and problems:
            raise LabError("\n".join(problems))
