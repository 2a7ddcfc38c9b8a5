#!/usr/bin/python3
"""demo.py - Weft's two-host lab, end to end, in network namespaces.

Builds the topology the field uses to explain overlays: host A in 10.1.1.0/24
and host B in 10.1.2.0/24, a router between them (underlay MTU 1600), a weftd
on each host, and two guests per host in one overlay subnet 172.16.10.0/24 on
segment 5001 (one guest per host on a TAP port, one on a veth/AF_PACKET port).
It shows guests on different L3 subnets talking over one segment, and what the
switches learned. Everything is removed at the end.

Run through scripts/demo.sh, which builds first. --hold keeps the lab up
until Enter is pressed and prints the commands to explore it.
"""
import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "system"))
from lab import Lab  # noqa: E402


def step(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(host, *args):
    print(f"$ weft {' '.join(args)}   # on host {host.name}")
    print(host.weft(*args).stdout.rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold", action="store_true",
                        help="keep the lab up until Enter, with commands to explore it")
    args = parser.parse_args()

    with Lab() as lab:
        step("Underlay: host A 10.1.1.2/24 and host B 10.1.2.2/24, a router between them")
        lab.add_router()
        a, b = lab.add_host("a", 1), lab.add_host("b", 2)
        for host, peer in ((a, b), (b, a)):
            host.start_weftd()
            host.weft("segment", "add", "5001", "--peer", peer.ip)
            print(f"host {host.name}: weftd, VTEP {host.ip}, segment 5001 with peer {peer.ip}")

        step("Guests: one overlay subnet 172.16.10.0/24 on segment 5001, across both hosts")
        guests = {
            "a1": a.add_guest("a1", "172.16.10.11/24", segment=5001, backend="tap"),
            "a2": a.add_guest("a2", "172.16.10.12/24", segment=5001, backend="afpacket"),
            "b1": b.add_guest("b1", "172.16.10.21/24", segment=5001, backend="tap"),
            "b2": b.add_guest("b2", "172.16.10.22/24", segment=5001, backend="afpacket"),
        }
        for name, g in guests.items():
            print(f"guest {name}: {g.ip} on host {g.host.name} ({g.backend} port)")

        step("Pings: every guest to every other, within and across hosts")
        failures = 0
        for src_name, src in guests.items():
            for dst_name, dst in guests.items():
                if src is dst:
                    continue
                ok = src.wait_ping(dst.ip, timeout=5)
                failures += not ok
                where = "same host" if src.host is dst.host else "across the router"
                print(f"  {src_name} -> {dst_name} ({dst.ip}, {where}): {'ok' if ok else 'FAILED'}")
        ok = guests["a1"].ping(guests["b1"].ip, count=3, size=1472, df=True)
        failures += not ok
        print(f"  a1 -> b1 with a 1500-byte DF packet (1550 bytes on the underlay): "
              f"{'ok' if ok else 'FAILED'}")

        step("What host A's switch knows")
        show(a, "port", "list")
        show(a, "mac", "list", "5001")
        show(a, "segment", "show", "5001")

        if args.hold:
            step("The lab stays up; explore it, then press Enter to tear it down")
            weft = pathlib.Path(os.environ.get("WEFT_BUILD_DIR", "build/release")) / "src/cli/weft"
            print(f"  {weft} -s {a.socket} port show a1")
            print(f"  {weft} -s {b.socket} stats")
            print(f"  ip netns exec {guests['a1'].ns} ping {guests['b2'].ip}")
            print(f"  ip netns exec {lab.router.ns} tshark -i to-a -f 'udp port 4789' -c 5 -V")
            input()

        step("Tearing down: weftd stopped, namespaces removed")
    print("\n" + ("demo finished: guests on two L3 subnets share segment 5001"
                  if failures == 0 else f"demo finished with {failures} failed checks"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
