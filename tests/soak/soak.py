#!/usr/bin/python3
"""soak.py - weftd under load and churn for a long time, with several workers.

    scripts/soak.sh [--minutes N] [--workers N]    (builds build/asan first)

Two hosts as in the system tests (a 10.1.1.0/24, b 10.1.2.0/24 behind a router),
each running weftd --workers N (default 2) --mac-age 5 from the sanitizer build,
guests a1/b1 on TAP ports and a2/b2 on AF_PACKET ports, segment 5001. For the
whole run, all at once:

* traffic: TCP (4 streams a1 -> b1), 64-byte UDP (4 flows a2 -> b2), both in
  10-second rounds started again as they end (a minute in which host a takes
  fewer than 100,000 frames fails the run);
* MAC churn: bursts of frames from 500 new source MACs at a time out of a1 (the
  learn lock, the MAC table filling and aging out every 5 s under the workers);
* configuration churn, every 2 s on both hosts: a segment with a TAP port and a
  static MAC added, listed, and removed (each change parks the workers);
* every 60 s, weftd on host b killed with SIGKILL and started again (it comes
  back from its saved configuration, its TAPs and AF_PACKET ports reattached).

Every 5 s it checks that both weftds run, that their logs hold no sanitizer
report, and that a1 reaches b1 (after a restart, within 10 s). It prints a line
per minute and a summary, and exits 1 at the first failed check, with the end of
the failing weftd's log. All traffic stays in the namespaces it makes; they are
removed at the end, failure or not.
"""

import argparse
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/system"))
os.environ.setdefault("WEFT_BUILD_DIR", str(REPO / "build/asan"))
import lab as labmod  # noqa: E402

VNI = 5001
GUESTS = {"a1": ("a", "172.16.10.11", "tap"), "a2": ("a", "172.16.10.12", "afpacket"),
          "b1": ("b", "172.16.10.21", "tap"), "b2": ("b", "172.16.10.22", "afpacket")}

CHURN = r"""
import random, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(int(sys.argv[1])):
    src = bytes([0x02, 0x5a] + [random.randrange(256) for _ in range(4)])
    dst = b"\xff" * 6 if random.random() < 0.2 else bytes([0x02, 0x5b, 0, 0, 0, 1])
    s.send(dst + src + b"\x88\xb5" + bytes(46))  # local experimental: parsed, learned, flooded
"""


class Soak:
    def __init__(self, lab, workers):
        self.lab = lab
        self.workers = workers
        self.procs = {}
        self.round = 0
        self.restarts = 0
        self.changes = 0
        self.churned = 0

    def setup(self):
        self.a, self.b = self.lab.classic(segments=(VNI,), workers=self.workers, mac_age=5)
        hosts = {"a": self.a, "b": self.b}
        self.g = {name: hosts[h].add_guest(name, f"{ip}/24", segment=VNI, backend=backend)
                  for name, (h, ip, backend) in GUESTS.items()}
        self.last_rx = 0

    def keep_traffic(self):
        """Starts each load again when it has ended, each round against a server of
        its own on a new port (an iperf3 server whose test broke off, as when a
        weftd is killed, may wait a long time before it takes another)."""
        loads = {
            "tcp": ("a1", "b1", ["-P", "4", "-t", "10"]),
            "udp": ("a2", "b2", ["-u", "-b", "20M", "-l", "64", "-P", "4", "-t", "10"]),
        }
        for i, (name, (client, server, opts)) in enumerate(loads.items()):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                continue
            old = self.procs.pop(f"{name}-server", None)
            if old is not None:
                old.kill()
                old.wait()
            port = 5201 + 2 * (self.round % 200) + i
            srv = self.g[server]
            self.procs[f"{name}-server"] = srv.popen(["iperf3", "-s", "-1", "-B", srv.ip, "-p",
                                                      str(port)], stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.DEVNULL)
            time.sleep(0.2)
            self.procs[name] = self.g[client].popen(
                ["iperf3", "-c", srv.ip, "-p", str(port), *opts, "--connect-timeout", "2000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def mac_churn(self):
        self.g["a1"].run(["/usr/bin/python3", "-c", CHURN, "500"], check=False, timeout=30)
        self.churned += 500

    def config_churn(self):
        k = self.round % 50
        for host in (self.a, self.b):
            if not host.weftd_alive():
                continue
            vni = 6000 + k
            host.weft("segment", "add", vni, "--peer", self.b.vtep_ip if host is self.a
                      else self.a.vtep_ip, check=False)
            host.weft("port", "add", f"s{k}", "--backend", "tap", "--ifname", f"ws{k}",
                      "--segment", vni, check=False)
            host.weft("mac", "add", vni, f"02:5c:00:00:00:{k:02x}", "--port", f"s{k}", check=False)
            host.weft("mac", "list", check=False)
            host.weft("stats", check=False)
            host.weft("port", "del", f"s{k}", check=False)
            host.weft("segment", "del", vni, check=False)
            self.changes += 7

    def restart_b(self):
        self.b.restart_weftd(signal.SIGKILL)
        self.restarts += 1

    def check(self, after_restart=False):
        for host in (self.a, self.b):
            if not host.weftd_alive():
                raise labmod.LabError(f"weftd on {host.name} died:\n{host.weftd_log()[-3000:]}")
            host.check_weftd_log()
        if not self.g["a1"].wait_ping(self.g["b1"].ip, timeout=10 if after_restart else 5):
            raise labmod.LabError("a1 cannot reach b1")

    def run(self, minutes):
        start = time.monotonic()
        end = start + minutes * 60
        next_check = next_restart = next_report = start
        next_restart += 60
        next_report += 60
        while time.monotonic() < end:
            self.round += 1
            self.keep_traffic()
            self.mac_churn()
            self.config_churn()
            now = time.monotonic()
            restarted = False
            if now >= next_restart:
                self.restart_b()
                next_restart = now + 60
                restarted = True
            if restarted or now >= next_check:
                self.check(after_restart=restarted)
                next_check = now + 5
            if now >= next_report:
                stats = self.a.stats()
                # Traffic must keep flowing, restarts and all: millions of frames a
                # minute when it does, so a tenth of a million is a stall.
                rx = stats["total"]["rx_packets"]
                if rx - self.last_rx < 100000:
                    raise labmod.LabError(f"traffic stalled: host a took {rx - self.last_rx} "
                                          "frames in the last minute")
                self.last_rx = rx
                print(f"[{(now - start) / 60:5.1f} min] rounds {self.round} changes "
                      f"{self.changes} churned MACs {self.churned} restarts {self.restarts}; "
                      f"host a: rx {stats['total']['rx_packets']} mac_learned "
                      f"{stats['mac_learned']} mac_aged {stats['mac_aged']}", flush=True)
                next_report = now + 60
            time.sleep(max(0.0, 2.0 - (time.monotonic() - now)))
        self.check()

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None, help="for the MAC churn")
    args = ap.parse_args()
    random.seed(args.seed)
    began = time.monotonic()
    with labmod.Lab() as lab:
        soak = Soak(lab, args.workers)
        try:
            soak.setup()
            soak.run(args.minutes)
        except labmod.LabError as e:
            print(f"soak: FAILED after {(time.monotonic() - began) / 60:.1f} min: {e}",
                  file=sys.stderr)
            return 1
        finally:
            soak.stop()
    print(f"soak: passed: {args.minutes} min, {soak.round} rounds, {soak.changes} changes, "
          f"{soak.churned} churned MACs, {soak.restarts} restarts of host b's weftd "
          f"(--workers {args.workers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
