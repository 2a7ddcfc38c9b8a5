"""controller.py - weft-controller in a lab: its own management namespace, its REST API.

The controller runs in namespace <prefix>ctl, attached to the lab's router on the
management subnet 10.N.0.0/24 (the controller at 10.N.0.2, the router at .1), so
every host reaches its agent port over the underlay, as in a real data centre.
Its REST API listens on the namespace's loopback. Tests talk to it with
Controller.api() (sockets opened inside that namespace, see netns_socket()) and
run the CLI there with Controller.weft().

    with Lab() as lab:
        ctl = Controller(lab).start()
        a = lab.add_host("a", 1)
        a.start_weftd(**ctl.weftd_opts())
        ctl.api("POST", "/segments", {"name": "web", "vni": 5001})

LocalController is the other way the tests run it: on loopback, no namespace
(no root needed), free ports, its data directory and log in a temporary
directory; the tests that drive its API or play agents over TCP subclass it
with the client they need.
"""
import ctypes
import http.client
import json
import os
import pathlib
import shlex
import socket
import subprocess
import threading
import time
import uuid

from lab import SANITIZER_ENV, SANITIZER_REPORT, LabError, program, program_env

API_PORT = 7080
AGENT_PORT = 7443
JOIN_TOKEN = "lab-join-token-0123456789abcdef"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def netns_socket(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A socket that belongs to network namespace ns (by name, /run/netns/<ns>).

    setns() moves only the calling thread, so a short-lived thread enters the
    namespace, creates the socket and ends; the socket stays in that namespace and
    works from any thread."""
    result = {}

    def make():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["sock"] = socket.socket(family, kind)
        except OSError as e:
            result["error"] = e

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


def wait_started(proc, ready, log, timeout, error):
    """Waits until ready() (an OSError counts as not yet) while weft-controller
    runs as proc; raises error with log() if it exits or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise error(f"weft-controller exited with {proc.returncode}:\n{log()}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise error(f"weft-controller did not answer within {timeout}s:\n{log()}")
        time.sleep(0.05)


class _NetnsHTTPConnection(http.client.HTTPConnection):
    def __init__(self, ns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self):
        self.sock = netns_socket(self._ns)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


class ApiError(AssertionError):
    """A request the test expected to succeed did not."""


class Controller:
    """weft-controller in the lab's management namespace."""

    def __init__(self, lab, name="ctl", stale_time=None, api_token=None, extra_args=()):
        self.lab = lab
        self.name = name
        self.ip = f"10.{lab.net}.0.2"
        self.gateway = f"10.{lab.net}.0.1"
        self.ns_obj = lab.add_namespace(name)
        self.ns = self.ns_obj.ns
        self.dir = pathlib.Path(lab.tmpdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.datadir = self.dir / "data"
        self.log_path = self.dir / "controller.log"
        self.token_file = self.dir / "join-token"
        self.token_file.write_text(JOIN_TOKEN + "\n")
        os.chmod(self.token_file, 0o600)
        self.api_token = api_token
        self.api_token_file = None
        if api_token:
            self.api_token_file = self.dir / "api-token"
            self.api_token_file.write_text(api_token + "\n")
            os.chmod(self.api_token_file, 0o600)
        self.stale_time = stale_time
        self.extra_args = list(extra_args)
        self.proc = None
        if not lab.router:
            lab.add_router()
        lab.add_veth(lab.router, "to-ctl", self.ns_obj, "mgmt0")
        lab.router.ipcmd("addr", "add", f"{self.gateway}/24", "dev", "to-ctl")
        self.ns_obj.ipcmd("addr", "add", f"{self.ip}/24", "dev", "mgmt0")
        self.ns_obj.ipcmd("route", "add", f"10.{lab.net}.0.0/16", "via", self.gateway)

    # ---- the process --------------------------------------------------------------

    def argv(self):
        argv = [program("weft-controller"), "--datadir", str(self.datadir),
                "--api-listen", f"127.0.0.1:{API_PORT}",
                "--agent-listen", f"{self.ip}:{AGENT_PORT}",
                "--join-token-file", str(self.token_file)]
        if self.api_token_file:
            argv += ["--api-token-file", str(self.api_token_file)]
        if self.stale_time is not None:
            argv += ["--stale-time", str(self.stale_time)]
        return argv + self.extra_args

    def start(self, timeout=15.0):
        """Starts weft-controller and waits until GET /status answers -> self."""
        if self.alive():
            raise LabError("weft-controller already runs")
        log = open(self.log_path, "a")
        log.write(f"==== {time.strftime('%H:%M:%S')} {shlex.join(self.argv())}\n")
        log.flush()
        self.proc = subprocess.Popen(self.ns_obj.cmd(self.argv()), stdout=log,
                                     stderr=subprocess.STDOUT, env=program_env())
        log.close()
        self.lab._procs.append(self.proc)
        wait_started(self.proc, lambda: self.request("GET", "/status", timeout=1)[0] == 200,
                     self.log, timeout, LabError)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=9):
        """Kills the controller (SIGKILL by default) and waits for it."""
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def stop(self):
        """SIGTERM, so a clean stop (and the sanitizers' leak check) happens."""
        self.kill(15)
        if self.proc.returncode not in (0, None):
            raise LabError(f"weft-controller exited with {self.proc.returncode}:\n{self.log()}")

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def weftd_opts(self):
        """Options that make a lab Host's weftd an agent of this controller."""
        return {"controller": f"{self.ip}:{AGENT_PORT}", "join_token_file": self.token_file}

    # ---- the REST API --------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request to /api/v1<path> -> (status, parsed JSON body or None)."""
        conn = _NetnsHTTPConnection(self.ns, "127.0.0.1", API_PORT, timeout)
        hdrs = {"Content-Type": "application/json"}
        if self.api_token:
            hdrs["Authorization"] = f"Bearer {self.api_token}"
        hdrs.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, "/api/v1" + path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(raw) if raw else None)

    def api(self, method, path, body=None, expect=None):
        """A request that must succeed (2xx, or the status given) -> the JSON body."""
        status, doc = self.request(method, path, body)
        if (expect is None and not 200 <= status < 300) or (expect is not None and
                                                               status != expect):
            raise ApiError(f"{method} {path} {json.dumps(body) if body else ''} -> "
                           f"{status} {doc}")
        return doc

    def items(self, path):
        return self.api("GET", path)["items"]

    def wait_for(self, predicate, what, timeout=10.0):
        """Polls predicate() until it returns something true -> that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise LabError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.1)

    def add_hosts(self, specs):
        """Adds a lab host per (name, subnet, index), its weftd an agent of this
        controller, and waits until all are connected -> {name: Host}."""
        hosts = {}
        for name, subnet, index in specs:
            host = self.lab.add_host(name, subnet, index=index)
            host.start_weftd(**self.weftd_opts())
            hosts[name] = host
        self.wait_connected(*hosts)
        return hosts

    def wait_connected(self, *hosts, timeout=15.0):
        """Waits until every named host has a session with the controller."""
        def connected():
            state = {h["id"]: h.get("connected") for h in self.items("/hosts")}
            return all(state.get(name) for name in hosts)
        self.wait_for(connected, f"hosts {', '.join(hosts)} to connect", timeout)

    def weft(self, *args, check=True, timeout=30):
        """Runs `weft --controller http://127.0.0.1:7080 ARGS` in the controller's
        namespace -> CompletedProcess."""
        argv = [program("weft"), "--controller", f"http://127.0.0.1:{API_PORT}"]
        if self.api_token_file:
            argv += ["--token-file", str(self.api_token_file)]
        return self.ns_obj.run(argv + [str(a) for a in args], check=check, timeout=timeout)


def free_port():
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalController:
    """weft-controller on loopback: free API and agent ports, datadir (default
    tmp/data) and a log of its own in tmp, args added to the command line."""

    def __init__(self, tmp, args=(), datadir=None):
        self.tmp = pathlib.Path(tmp)
        self.datadir = pathlib.Path(datadir) if datadir else self.tmp / "data"
        self.args = [str(a) for a in args]
        self.api_port = free_port()
        self.agent_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = self.tmp / f"controller-{uuid.uuid4().hex[:6]}.log"
        self.proc = None

    def argv(self):
        return [program("weft-controller"), "--datadir", str(self.datadir),
                "--api-listen", f"127.0.0.1:{self.api_port}",
                "--agent-listen", f"127.0.0.1:{self.agent_port}", *self.args]

    def start(self, timeout=15.0):
        """Starts it and waits until the API listens (the agent port opens
        first) -> self."""
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, **SANITIZER_ENV))

        def listens():
            with socket.create_connection(("127.0.0.1", self.api_port), timeout=1):
                return True

        wait_started(self.proc, listens, self.log_text, timeout, AssertionError)
        return self

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, so that a clean stop (and the sanitizers' leak check) runs
        (SIGKILL after timeout); no sanitizer report in the log -> exit status."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.log_text()
        assert not SANITIZER_REPORT.search(text), text
        return self.proc.returncode

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
