"""The controller's side of the agent protocol, over real TCP on loopback.

Starts the real weft-controller (its own temp datadir, free ports), creates
segments and ports through its REST API, and plays hosts from Python with the
wire protocol of docs/agent-protocol.md (4-byte big-endian length + JSON):
snapshots per host, updates on reports (never echoed to the reporter),
segments appearing and going with ports, proxy lists per subnet and their
re-pick, multicast, resume, authentication, malformed input, replaced
sessions and stale withdrawal.
"""

import json
import os
import socket
import struct
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from controller import LocalController

TOKEN = "test-join-token-0123456789"


class Controller(LocalController):
    """A weft-controller with short timers and debug logs, and a client of its API."""

    def __init__(self, tmp, stale=2, heartbeat_ms=200, dead_ms=10000):
        token_file = os.path.join(tmp, "join-token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        super().__init__(tmp, ["--join-token-file", token_file, "--stale-time", stale,
                               "--heartbeat-ms", heartbeat_ms, "--dead-ms", dead_ms,
                               "--log-level", "debug"])

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return json.loads(text) if text else None


@pytest.fixture
def ctl():
    with tempfile.TemporaryDirectory(prefix="weft-ctl-agents-") as tmp:
        c = Controller(tmp).start()
        try:
            yield c
        finally:
            assert c.stop() == 0, c.log_text()


class Agent:
    """A fake weftd: speaks the wire protocol, records what it gets."""

    def __init__(self, ctl, host, vtep, prefix=24, token=TOKEN, revision=0, epoch=None,
                 hello=True):
        self.ctl = ctl
        self.host = host
        self.vtep = vtep
        self.sock = socket.create_connection(("127.0.0.1", ctl.agent_port), timeout=5)
        self.buf = b""
        self.welcome = None
        self.rev = revision  # the highest revision delivered, for our heartbeats
        self.beating = False  # heartbeats once our full report is out
        self.last_sent = time.time()
        if hello:
            msg = {"type": "hello", "version": 1, "min_version": 1, "host": host,
                   "vtep": vtep, "vtep_prefix_len": prefix, "token": token,
                   "revision": revision, "software": "fake 1"}
            if revision:
                msg["epoch"] = epoch
            self.send(msg)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        self.last_sent = time.time()

    def recv(self, timeout=5):
        """The next message other than a heartbeat; None when the peer closed."""
        while True:
            m = self.recv_any(timeout)
            if m is None or m["type"] != "heartbeat":
                return m

    def recv_any(self, timeout=5):
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    m = json.loads(body)
                    if m["type"] in ("snapshot", "update", "heartbeat") and not m.get("more"):
                        self.rev = max(self.rev, m["revision"])
                    return m
            if self.beating and time.time() - self.last_sent > 0.15:
                self.send({"type": "heartbeat", "revision": self.rev})
            left = min(deadline - time.time(), 0.1)
            if deadline - time.time() <= 0:
                raise AssertionError(f"{self.host}: nothing received in {timeout}s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buf += data

    def start(self, full=None):
        """Welcome, the snapshot (all parts) and our full report -> (welcome, ops)."""
        self.welcome = self.recv()
        assert self.welcome["type"] == "welcome", self.welcome
        ops = []
        if not self.welcome["resumed"]:
            while True:
                m = self.recv()
                assert m["type"] == "snapshot", m
                ops += m["ops"]
                if not m.get("more"):
                    break
        self.send({"type": "report", "full": True, "more": False, "ops": full or []})
        self.beating = True
        return self.welcome, ops

    def expect_update(self, timeout=5):
        m = self.recv(timeout)
        assert m is not None and m["type"] == "update", m
        return m

    def expect_quiet(self, seconds=0.7):
        """Nothing but heartbeats for a while."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                m = self.recv_any(deadline - time.time())
            except AssertionError:
                return
            assert m is not None and m["type"] == "heartbeat", m

    def expect_error(self, code, timeout=5):
        m = self.recv(timeout)
        assert m is not None and m["type"] == "error" and m["code"] == code, m
        assert self.recv(timeout) is None  # then the controller closes
        return m

    def close(self):
        self.sock.close()


def ops_of(ops, name):
    return [o for o in ops if o["op"] == name]


def seg(ctl, name, vni, **kw):
    return ctl.api("POST", "/segments", {"name": name, "vni": vni, **kw})


def port(ctl, name, host, segment, **kw):
    return ctl.api("POST", "/ports", {"name": name, "host": host, "segment": segment, **kw})


def test_snapshot_per_host_and_updates_not_echoed(ctl):
    seg(ctl, "web", 5001)
    seg(ctl, "db", 5002)
    port(ctl, "vm1", "host-a", "web", bindings=[{"mac": "02:00:00:00:10:01", "ip": "172.16.10.11"}])
    port(ctl, "vm2", "host-b", "web")
    port(ctl, "vm3", "host-c", "db")
    a = Agent(ctl, "host-a", "10.1.1.2")
    _, a_ops = a.start()
    b = Agent(ctl, "host-b", "10.1.2.2")
    welcome, b_ops = b.start()
    assert welcome["version"] == 1 and welcome["resumed"] is False
    assert welcome["heartbeat_ms"] == 200 and welcome["dead_ms"] == 10000
    c = Agent(ctl, "host-c", "10.1.3.2")
    _, c_ops = c.start()

    # b's snapshot: web only, a's VTEP, a's bound MAC and IP, its own port.
    assert [o["vni"] for o in ops_of(b_ops, "segment_set")] == [5001]
    assert ops_of(b_ops, "vtep_add") == [{"op": "vtep_add", "vni": 5001, "vtep": "10.1.1.2"}]
    assert ops_of(b_ops, "mac_set") == [
        {"op": "mac_set", "vni": 5001, "mac": "02:00:00:00:10:01", "vtep": "10.1.1.2"}]
    assert ops_of(b_ops, "ip_set") == [
        {"op": "ip_set", "vni": 5001, "ip": "172.16.10.11", "mac": "02:00:00:00:10:01"}]
    assert [o["name"] for o in ops_of(b_ops, "port_set")] == ["vm2"]
    # c: db only, no other VTEP.
    assert [o["vni"] for o in ops_of(c_ops, "segment_set")] == [5002]
    assert not ops_of(c_ops, "vtep_add")

    # a got b's VTEP when b joined.
    up = a.expect_update()
    assert {"op": "vtep_add", "vni": 5001, "vtep": "10.1.2.2"} in up["ops"]
    assert not ops_of(a_ops, "mac_set")  # its own bound MAC is not sent back to it

    # b reports a MAC: a gets it, b and c do not.
    b.send({"type": "report", "full": False, "more": False, "ops": [
        {"op": "mac_learned", "vni": 5001, "port": "vm2", "mac": "02:00:00:00:20:01"},
        {"op": "ip_learned", "vni": 5001, "ip": "172.16.10.21", "mac": "02:00:00:00:20:01"}]})
    up = a.expect_update()
    assert {"op": "mac_set", "vni": 5001, "mac": "02:00:00:00:20:01",
            "vtep": "10.1.2.2"} in up["ops"]
    assert {"op": "ip_set", "vni": 5001, "ip": "172.16.10.21",
            "mac": "02:00:00:00:20:01"} in up["ops"]
    b.expect_quiet()
    c.expect_quiet(0.3)
    macs = ctl.api("GET", "/segments/web/macs")["items"]
    assert {"mac": "02:00:00:00:20:01", "host": "host-b", "vtep": "10.1.2.2", "port": "vm2",
            "source": "learned"}.items() <= next(
                m for m in macs if m["mac"] == "02:00:00:00:20:01").items()

    # The MAC moves to a (scenario 11): b gets the new VTEP; then b's late
    # mac_gone changes nothing.
    a.send({"type": "report", "full": False, "more": False, "ops": [
        {"op": "mac_learned", "vni": 5001, "port": "vm1", "mac": "02:00:00:00:20:01"}]})
    up = b.expect_update()
    assert {"op": "mac_set", "vni": 5001, "mac": "02:00:00:00:20:01",
            "vtep": "10.1.1.2"} in up["ops"]
    up = a.expect_update()  # a had it behind b: the controller takes it back
    assert {"op": "mac_del", "vni": 5001, "mac": "02:00:00:00:20:01"} in up["ops"]
    b.send({"type": "report", "full": False, "more": False, "ops": [
        {"op": "mac_gone", "vni": 5001, "mac": "02:00:00:00:20:01"}]})
    a.expect_quiet()

    hosts = ctl.api("GET", "/hosts")["items"]
    assert [h["id"] for h in hosts] == ["host-a", "host-b", "host-c"]
    assert all(h["connected"] for h in hosts)
    for x in (a, b, c):
        x.close()


def test_segment_comes_with_first_port_and_goes_with_last(ctl):
    seg(ctl, "web", 5001)
    port(ctl, "vm9", "host-b", "web")
    a = Agent(ctl, "host-a", "10.1.1.2")
    _, ops = a.start()
    assert ops == []
    port(ctl, "vm1", "host-a", "web")
    up = a.expect_update()
    names = [o["op"] for o in up["ops"]]
    assert names[0] == "segment_set" and names[-1] == "port_set", names
    port(ctl, "vm2", "host-a", "web")
    up = a.expect_update()
    assert [o["op"] for o in up["ops"]] == ["port_set"]
    ctl.api("DELETE", "/ports/vm1")
    up = a.expect_update()
    assert up["ops"] == [{"op": "port_del", "name": "vm1"}]
    ctl.api("DELETE", "/ports/vm2")
    up = a.expect_update()
    assert up["ops"] == [{"op": "port_del", "name": "vm2"},
                         {"op": "segment_del", "vni": 5001}]
    a.close()


def segment_set(ops, vni):
    return [o for o in ops if o["op"] == "segment_set" and o["vni"] == vni][-1]


def test_proxy_lists_per_subnet_and_repick(ctl):
    seg(ctl, "web", 5001, replication="proxy")
    hosts = {"h1": "10.1.1.2", "h2": "10.1.1.3", "h3": "10.1.2.2", "h4": "10.1.2.3"}
    for i, h in enumerate(hosts):
        port(ctl, f"vm{i}", h, "web")
    agents = {}
    for h, vtep in hosts.items():
        agents[h] = Agent(ctl, h, vtep)
        agents[h].start()
        for other in list(agents.values())[:-1]:
            other.expect_update()
    # h1 asks for its state again (a fresh session) to see the final lists.
    agents["h1"].close()
    time.sleep(0.3)
    a = Agent(ctl, "h1", "10.1.1.2")
    _, ops = a.start()
    s = segment_set(ops, 5001)
    assert s["bum"] == "proxy"
    assert s["replicas"] == ["10.1.1.3"] and s["proxies"] == ["10.1.2.2"]
    vteps = ctl.api("GET", "/segments/web/vteps")["items"]
    assert {v["vtep"] for v in vteps if v["proxy"]} == {"10.1.1.2", "10.1.2.2"}
    # The proxy of the other subnet goes: h1 gets h4 instead.
    agents["h3"].close()
    deadline = time.time() + 5
    while True:
        up = a.expect_update()
        sets = ops_of(up["ops"], "segment_set")
        if sets:
            assert sets[-1]["proxies"] == ["10.1.2.3"], up
            break
        assert time.time() < deadline
    a.close()
    for h in ("h2", "h4"):
        agents[h].close()


def test_multicast_group(ctl):
    seg(ctl, "mc", 6001, replication="multicast", multicast_group="239.1.1.1")
    port(ctl, "vm1", "host-a", "mc")
    a = Agent(ctl, "host-a", "10.1.1.2")
    _, ops = a.start()
    s = segment_set(ops, 6001)
    assert s["bum"] == "multicast" and s["group"] == "239.1.1.1"
    a.close()


def test_resume_same_epoch_gets_only_the_difference(ctl):
    seg(ctl, "web", 5001)
    port(ctl, "vm1", "host-a", "web")
    a = Agent(ctl, "host-a", "10.1.1.2")
    welcome, ops = a.start()
    epoch = welcome["epoch"]
    rev = 0
    deadline = time.time() + 3
    while time.time() < deadline:  # the heartbeats carry the revision to resume from
        m = a.recv_any()
        if m["type"] == "heartbeat":
            rev = m["revision"]
            break
    assert rev > 0
    a.close()
    port(ctl, "vm2", "host-a", "web")
    a = Agent(ctl, "host-a", "10.1.1.2", revision=rev, epoch=epoch)
    welcome = a.recv()
    assert welcome["type"] == "welcome" and welcome["resumed"] is True
    assert welcome["revision"] == rev
    up = a.expect_update()
    assert [o["op"] for o in up["ops"]] == ["port_set"] and up["ops"][0]["name"] == "vm2"
    a.send({"type": "report", "full": True, "more": False, "ops": []})
    a.close()
    # Another epoch: a snapshot.
    b = Agent(ctl, "host-a", "10.1.1.2", revision=rev, epoch="sqlite:other")
    welcome, ops = b.start()
    assert welcome["resumed"] is False
    assert sorted(o["name"] for o in ops_of(ops, "port_set")) == ["vm1", "vm2"]
    b.close()


def test_wrong_token_gets_auth(ctl):
    a = Agent(ctl, "host-a", "10.1.1.2", token="wrong-token-wrong-token")
    a.expect_error("auth")
    assert "wrong-token" not in ctl.log_text()


def test_bad_input_closes_only_that_session(ctl):
    seg(ctl, "web", 5001)
    port(ctl, "vm1", "host-a", "web")
    good = Agent(ctl, "host-a", "10.1.1.2")
    good.start()
    cases = [
        (struct.pack(">I", 5 << 20), "too_large"),
        (struct.pack(">I", 5) + b"nope!", "malformed"),
        (b"\x00\x00\x00\x02{}", "malformed"),
    ]
    for data, code in cases:
        x = Agent(ctl, "host-x", "10.1.9.2", hello=False)
        x.send_raw(data)
        x.expect_error(code)
    # Out of order: a report before the hello.
    x = Agent(ctl, "host-x", "10.1.9.2", hello=False)
    x.send({"type": "report", "full": True, "more": False, "ops": []})
    x.expect_error("protocol")
    # A delta report before the full one.
    y = Agent(ctl, "host-y", "10.1.9.3")
    y.recv()
    y.recv()
    y.send({"type": "report", "full": False, "more": False, "ops": [
        {"op": "mac_gone", "vni": 5001, "mac": "02:00:00:00:00:01"}]})
    y.expect_error("protocol")
    # The good session still works.
    good.send({"type": "heartbeat", "revision": 0})
    m = good.recv_any(3)
    assert m["type"] == "heartbeat"
    assert ctl.api("GET", "/hosts/host-a")["connected"] is True
    good.close()


def test_replaced_session(ctl):
    a1 = Agent(ctl, "host-a", "10.1.1.2")
    a1.start()
    a2 = Agent(ctl, "host-a", "10.1.1.2")
    a2.start()
    a1.expect_error("replaced")
    a2.send({"type": "heartbeat", "revision": 0})
    assert ctl.api("GET", "/hosts/host-a")["connected"] is True
    a2.close()


def test_stale_withdrawal(ctl):
    seg(ctl, "web", 5001)
    port(ctl, "vm1", "host-a", "web")
    port(ctl, "vm2", "host-b", "web")
    a = Agent(ctl, "host-a", "10.1.1.2")
    a.start()
    b = Agent(ctl, "host-b", "10.1.2.2")
    b.start(full=[{"op": "mac_learned", "vni": 5001, "port": "vm2", "mac": "02:00:00:00:20:01"}])
    up = a.expect_update()
    assert ops_of(up["ops"], "vtep_add")
    up = a.expect_update()
    assert ops_of(up["ops"], "mac_set")
    b.close()
    t0 = time.time()
    # Within the stale time (2 s) nothing is withdrawn ...
    deadline = t0 + 5
    while True:
        up = a.expect_update(6)
        dels = ops_of(up["ops"], "vtep_del")
        if dels:
            break
        assert not ops_of(up["ops"], "mac_del"), up
        assert time.time() < deadline
    assert time.time() - t0 >= 1.5
    assert {"op": "mac_del", "vni": 5001, "mac": "02:00:00:00:20:01"} in up["ops"]
    assert ctl.api("GET", "/segments/web/macs")["items"] == [] or all(
        m["host"] != "host-b" for m in ctl.api("GET", "/segments/web/macs")["items"])
    a.close()
