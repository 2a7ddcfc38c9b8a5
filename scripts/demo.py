#!/usr/bin/python3
"""demo.py - Weft end to end: a controller, three hosts on two L3 subnets, two segments.

Builds, in network namespaces:

    ctl 10.1.0.2 (weft-controller: REST API, embedded SQLite store, agent sessions)
                         |
                      router ------------------------------+
                 10.1.1.0/24 (bridged)               10.1.2.0/24
                  |                |                      |
          host A 10.1.1.2   host C 10.1.1.3       host B 10.1.2.2     (a weftd each)

and two logical segments, declared once through the controller's API with the
`weft` CLI: "web" (VNI 5001, head-end replication) and "db" (its VNI allocated
from a pool, proxy replication: one copy per remote subnet). Guests are
namespaces on veth pairs whose host ends are the logical ports. It shows guests
on different L3 subnets talking over one segment, the segments kept apart, the
controller's tables (VTEPs, MACs, ARP), ARP answered by the first host, and
traffic going on while the controller is down. Everything is removed at the end.

Run through scripts/demo.sh, which builds first. --hold keeps the lab up
until Enter is pressed and prints the commands to explore it.
"""
import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "system"))
from controller import Controller  # noqa: E402
from lab import Lab, LabError  # noqa: E402

HOSTS = (("a", 1, 2), ("c", 1, 3), ("b", 2, 2))  # name, underlay subnet, address index
# guest, host, segment, MAC, address
GUESTS = (
    ("web-a1", "a", "web", "02:00:00:00:01:11", "172.16.10.11"),
    ("web-c1", "c", "web", "02:00:00:00:01:31", "172.16.10.31"),
    ("web-b1", "b", "web", "02:00:00:00:01:21", "172.16.10.21"),
    ("db-a2", "a", "db", "02:00:00:00:02:12", "172.16.20.12"),
    ("db-b2", "b", "db", "02:00:00:00:02:22", "172.16.20.22"),
)


def step(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


class Demo:
    def __init__(self, lab):
        self.lab = lab
        self.failures = 0
        self.guests = {}

    def check(self, ok, text):
        self.failures += not ok
        print(f"  {text}: {'ok' if ok else 'FAILED'}", flush=True)
        return ok

    def weft(self, *args):
        """Runs the CLI against the controller and shows it."""
        print(f"$ weft {' '.join(args)}")
        result = self.ctl.weft(*args, check=False)
        out = (result.stdout + result.stderr).rstrip()
        if out:
            print(out)
        if result.returncode != 0:
            self.failures += 1
            print(f"  (exit status {result.returncode}: FAILED)")
        return result

    def host_weft(self, host, *args):
        print(f"$ weft {' '.join(args)}   # on host {host.name}")
        print(host.weft(*args).stdout.rstrip())

    def build_underlay(self):
        step("Underlay: hosts A and C in 10.1.1.0/24, host B in 10.1.2.0/24, a router, "
             "the controller in 10.1.0.0/24")
        self.lab.add_router()
        self.ctl = Controller(self.lab).start()
        print(f"weft-controller on {self.ctl.ip}: agents on port 7443, REST API on "
              f"http://127.0.0.1:7080 in its namespace, store {self.ctl.datadir}/store.db")
        self.hosts = {}
        for name, subnet, index in HOSTS:
            host = self.lab.add_host(name, subnet, index=index)
            host.start_weftd(**self.ctl.weftd_opts())
            self.hosts[name] = host
            print(f"host {name.upper()}: weftd, VTEP {host.ip}, agent of {self.ctl.ip}")
        self.ctl.wait_connected(*self.hosts)
        self.weft("host", "list")

    def declare(self):
        step("Logical networks, declared once at the controller")
        self.weft("pool", "add", "tenants", "7000-7999")
        self.weft("segment", "add", "web", "--vni", "5001", "--bum", "head-end")
        self.weft("segment", "add", "db", "--pool", "tenants", "--bum", "proxy")
        self.weft("segment", "list")
        for name, host, segment, mac, ip in GUESTS:
            self.weft("port", "add", name, "--host", host, "--segment", segment, "--bind",
                      f"{mac},{ip}")

    def attach_guests(self):
        step("Guests: a namespace each, on a veth whose host end is its logical port")
        for name, host_name, segment, mac, ip in GUESTS:
            host = self.hosts[host_name]
            guest = self.lab.add_namespace(name)
            self.lab.add_veth(host, name, guest, "eth0")
            guest.ipcmd("link", "set", "eth0", "address", mac)
            guest.ipcmd("addr", "add", f"{ip}/24", "dev", "eth0")
            guest.ip = ip
            guest.host = host
            guest.segment = segment
            self.guests[name] = guest
            print(f"guest {name}: {ip} ({mac}) on host {host_name.upper()}, segment {segment}")

    def pings(self):
        step("Pings within each segment, across hosts and subnets")
        for src in self.guests.values():
            for dst in self.guests.values():
                if src is dst or src.segment != dst.segment:
                    continue
                where = ("same subnet" if src.host.subnet == dst.host.subnet
                         else "across the router")
                self.check(src.wait_ping(dst.ip, timeout=10),
                           f"{src.name} -> {dst.name} ({dst.ip}, host {src.host.name.upper()}"
                           f" -> {dst.host.name.upper()}, {where})")
        self.check(self.guests["web-a1"].ping(self.guests["web-b1"].ip, count=3, size=1472,
                                              df=True),
                   "web-a1 -> web-b1 with 1500-byte DF packets (1550 bytes on the underlay)")

    def tables(self):
        step("What the controller knows, per segment")
        self.weft("vtep", "list", "web")
        self.weft("mac", "list", "web")
        self.weft("arp", "list", "web")
        self.weft("vtep", "list", "db")
        step("What host A's switch was given (static entries, from the controller)")
        self.host_weft(self.hosts["a"], "segment", "list")
        self.host_weft(self.hosts["a"], "mac", "list")
        step("ARP answered by the first host (ARP suppression)")
        a = self.hosts["a"]
        before = a.weft_json("stats")["arp_suppressed"]
        guest = self.guests["web-a1"]
        guest.run(["ip", "neigh", "flush", "dev", "eth0"])
        self.check(guest.ping(self.guests["web-b1"].ip, count=1),
                   "web-a1 forgot its neighbours and pings web-b1 again")
        after = a.weft_json("stats")["arp_suppressed"]
        self.check(after > before, f"host A answered web-a1's ARP itself "
                                   f"(arp_suppressed {before} -> {after})")

    def isolation(self):
        step("Segments are separate broadcast domains")
        web, db = self.guests["web-a1"], self.guests["db-b2"]
        web.ipcmd("addr", "add", "172.16.20.99/24", "dev", "eth0")
        self.check(not web.ping(db.ip, count=2, timeout=1),
                   "web-a1, given an address in db's subnet, still cannot reach db-b2")
        web.ipcmd("addr", "del", "172.16.20.99/24", "dev", "eth0")

    def controller_down(self):
        step("The controller goes away: hosts keep forwarding on what they know")
        self.ctl.kill()
        print("weft-controller killed (SIGKILL)")
        src, dst = self.guests["web-a1"], self.guests["web-b1"]
        self.check(src.ping(dst.ip, count=5), "web-a1 -> web-b1 with no controller")
        self.ctl.start()
        print("weft-controller started again on the same store")
        self.ctl.wait_connected(*self.hosts)
        self.check(src.ping(dst.ip, count=3), "web-a1 -> web-b1 after the hosts resynced")
        self.weft("segment", "show", "web")

    def hold(self):
        step("The lab stays up; explore it, then press Enter to tear it down")
        print(f"  ip netns exec {self.ctl.ns} weft --controller http://127.0.0.1:7080 "
              f"mac list web")
        print(f"  weft -s {self.hosts['a'].socket} mac list")
        print(f"  ip netns exec {self.guests['web-a1'].ns} ping {self.guests['web-b1'].ip}")
        print(f"  ip netns exec {self.lab.router.ns} tshark -i to-b -f 'udp port 4789' -c 5 -V")
        input()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold", action="store_true",
                        help="keep the lab up until Enter, with commands to explore it")
    args = parser.parse_args()
    started = time.monotonic()
    with Lab() as lab:
        demo = Demo(lab)
        try:
            demo.build_underlay()
            demo.declare()
            demo.attach_guests()
            demo.pings()
            demo.tables()
            demo.isolation()
            demo.controller_down()
            if args.hold:
                demo.hold()
        except LabError as e:
            demo.failures += 1
            print(f"\ndemo stopped: {e}")
        step("Tearing down: weftd and weft-controller stopped, namespaces removed")
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s: " +
          ("guests on two L3 subnets share their segments, with or without the controller"
           if demo.failures == 0 else f"{demo.failures} failed checks"))
    return 1 if demo.failures else 0


if __name__ == "__main__":
    sys.exit(main())
