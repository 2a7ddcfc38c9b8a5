"""weft-controller's REST API (docs/api.md), driven over real sockets.

Each test starts the real weft-controller from the build directory on free
loopback ports with a temporary data directory, talks to it with urllib, and
kills it at the end. Covered: CRUD of every object, pool allocation, every
4xx class with its JSON error, the 409 conflicts (segment VLANs unique among
them), If-Match, the bearer token, restart with the same revisions, kill -9
during concurrent writes (nothing acknowledged lost, nothing half-written),
and where the API listens.
"""

import concurrent.futures
import json
import os
import sqlite3
import stat
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import SANITIZER_ENV, SANITIZER_REPORT
from controller import LocalController, free_port


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def error(self):
        return self.body["error"]


class Controller(LocalController):
    """One weft-controller process on loopback, and a client of its API."""

    def __init__(self, tmp, datadir, args=()):
        super().__init__(tmp, args, datadir)
        self.token = None

    def stop(self):
        """SIGTERM: must stop cleanly (exit 0, no sanitizer report)."""
        rc = super().stop()
        assert rc == 0, self.log_text()

    def request(self, method, path, body=None, headers=None, raw=None, token=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.url + "/api/v1" + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        token = token if token is not None else self.token
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                text = r.read()
                return Reply(r.status, r.headers, json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            return Reply(e.code, e.headers, json.loads(text) if text else None)

    def ok(self, method, path, body=None, status=None, **kw):
        r = self.request(method, path, body, **kw)
        want = status or {"POST": 201, "DELETE": 204}.get(method, 200)
        assert r.status == want, (method, path, r.status, r.body)
        return r.body


@pytest.fixture
def controllers(tmp_path):
    """controllers(args=(), datadir=None) -> a started Controller; all killed at the end."""
    started = []

    def start(args=(), datadir=None):
        c = Controller(tmp_path, datadir or tmp_path / "data", args)
        started.append(c)
        return c.start()

    yield start
    for c in started:
        if c.proc and c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()
        text = c.log_text()
        assert not SANITIZER_REPORT.search(text), text


@pytest.fixture
def ctl(controllers):
    return controllers()


def assert_error(reply, status, code, field=None, words=()):
    assert reply.status == status, (reply.status, reply.body)
    err = reply.error()
    assert err["status"] == status and err["code"] == code, err
    assert len(err["message"]) > 20, err
    if field is not None:
        assert err.get("field") == field, err
    for w in words:
        assert w in err["message"], err


# ---- CRUD ------------------------------------------------------------------------


def test_crud_of_every_object(ctl):
    zone = ctl.ok("POST", "/transport-zones", {"name": "tz", "hosts": ["host-a", "host-b"]})
    assert zone == {"name": "tz", "description": "", "hosts": ["host-a", "host-b"],
                    "revision": zone["revision"]}
    pool = ctl.ok("POST", "/vni-pools", {"name": "tenants", "start": 10000, "end": 10009})
    assert pool["allocated"] == 0
    seg = ctl.ok("POST", "/segments", {"name": "web", "vni": 5001, "zone": "tz"})
    assert seg == {"name": "web", "vni": 5001, "pool": None, "zone": "tz",
                   "replication": "head-end", "multicast_group": None, "arp_suppression": True,
                   "vlan": 0, "allow_inner_vlan": False, "description": "",
                   "revision": seg["revision"]}
    r = ctl.request("POST", "/ports", {
        "name": "vm1", "host": "host-a", "segment": "web",
        "bindings": [{"mac": "02:00:00:00:10:01".upper(), "ip": "172.16.10.11"}]})
    assert r.status == 201 and r.headers["Location"] == "/api/v1/ports/vm1"
    port = r.body
    assert port["bindings"] == [{"mac": "02:00:00:00:10:01", "ip": "172.16.10.11"}]
    assert port["mode"] == "access" and port["mtu"] == 1500 and port["learning"] is True
    assert port["status"] == {"up": False, "reason": "host not connected"}
    assert zone["revision"] < pool["revision"] < seg["revision"] < port["revision"]

    for path, obj in [("/transport-zones/tz", zone), ("/vni-pools/tenants", pool),
                      ("/segments/web", seg)]:
        assert ctl.ok("GET", path) == obj
    assert ctl.ok("GET", "/ports/vm1")["revision"] == port["revision"]
    assert [p["name"] for p in ctl.ok("GET", "/ports")["items"]] == ["vm1"]

    seg2 = ctl.ok("PATCH", "/segments/web", {"replication": "multicast",
                                             "multicast_group": "239.1.1.1",
                                             "description": "front end"})
    assert seg2["replication"] == "multicast" and seg2["revision"] > port["revision"]
    assert ctl.ok("GET", "/segments/web") == seg2
    # A PATCH that changes nothing writes nothing.
    assert ctl.ok("PATCH", "/segments/web", {"description": "front end"}) == seg2
    port2 = ctl.ok("PATCH", "/ports/vm1", {"host": "host-b", "mtu": 9000})
    assert port2["host"] == "host-b" and port2["mtu"] == 9000
    trunk = ctl.ok("POST", "/ports", {"name": "uplink", "host": "host-a", "mode": "trunk",
                                      "vlans": "101,200-210", "native_vlan": 101,
                                      "tpid": 34984})
    assert trunk["segment"] is None and trunk["vlans"] == "101,200-210"
    zone2 = ctl.ok("PATCH", "/transport-zones/tz", {"hosts": ["host-a", "host-b", "host-c"]})
    assert zone2["hosts"][-1] == "host-c"

    assert [p["name"] for p in ctl.ok("GET", "/ports?host=host-a")["items"]] == ["uplink"]
    assert [p["name"] for p in ctl.ok("GET", "/ports?segment=web&host=host-b")["items"]] == \
        ["vm1"]
    assert ctl.ok("GET", "/ports?segment=web&host=host-a")["items"] == []

    for path in ["/ports/vm1", "/ports/uplink", "/segments/web", "/vni-pools/tenants",
                 "/transport-zones/tz"]:
        ctl.ok("DELETE", path)
        assert_error(ctl.request("GET", path), 404, "not_found")
    for coll in ["/ports", "/segments", "/vni-pools", "/transport-zones"]:
        assert ctl.ok("GET", coll) == {"items": []}


def test_status_hosts_and_tables(ctl):
    st = ctl.ok("GET", "/status")
    assert st["store"] == "sqlite" and st["epoch"].startswith("sqlite:")
    assert st["hosts"] == {"registered": 0, "connected": 0}
    assert isinstance(st["revision"], int) and st["uptime_s"] >= 0
    assert ctl.ok("GET", "/hosts") == {"items": []}
    assert_error(ctl.request("GET", "/hosts/host-a"), 404, "not_found")
    assert_error(ctl.request("DELETE", "/hosts/host-a"), 404, "not_found")
    ctl.ok("POST", "/segments", {"name": "web", "vni": 5001})
    ctl.ok("POST", "/ports", {"name": "vm1", "host": "host-a", "segment": "web"})
    assert_error(ctl.request("DELETE", "/hosts/host-a"), 409, "conflict", words=["vm1"])
    for table in ["vteps", "macs", "arp"]:
        assert "items" in ctl.ok("GET", f"/segments/web/{table}")
        assert_error(ctl.request("GET", f"/segments/nope/{table}"), 404, "not_found")
    # One transaction per request: the segment and its index, the port.
    assert ctl.ok("GET", "/status")["revision"] == st["revision"] + 2


def test_pool_allocation_takes_lowest_free_vni(ctl):
    ctl.ok("POST", "/vni-pools", {"name": "p", "start": 100, "end": 103})
    ctl.ok("POST", "/segments", {"name": "fixed", "vni": 101})
    got = [ctl.ok("POST", "/segments", {"name": f"s{i}", "pool": "p"})["vni"] for i in range(3)]
    assert got == [100, 102, 103]
    assert_error(ctl.request("POST", "/segments", {"name": "s3", "pool": "p"}), 409, "conflict",
                 field="pool", words=["full"])
    assert ctl.ok("GET", "/vni-pools/p")["allocated"] == 3
    ctl.ok("DELETE", "/segments/s1")
    assert ctl.ok("POST", "/segments", {"name": "again", "pool": "p"})["vni"] == 102
    # vni with pool must lie in it; vni and pool are fixed once made.
    assert_error(ctl.request("POST", "/segments", {"name": "x", "pool": "p", "vni": 5000}), 422,
                 "invalid", field="vni")
    assert_error(ctl.request("PATCH", "/segments/s0", {"vni": 7}), 422, "invalid", field="vni")
    assert_error(ctl.request("PATCH", "/segments/s0", {"pool": None}), 422, "invalid",
                 field="pool")
    assert_error(ctl.request("DELETE", "/vni-pools/p"), 409, "conflict", words=["allocated"])
    # Shrinking the pool below what it allocated is refused.
    assert_error(ctl.request("PATCH", "/vni-pools/p", {"end": 100}), 409, "conflict")


# ---- Errors ------------------------------------------------------------------------


def test_every_4xx_class_has_a_json_error(ctl):
    assert_error(ctl.request("POST", "/segments", raw=b"{not json"), 400, "bad_request",
                 words=["not JSON"])
    assert_error(ctl.request("POST", "/segments", raw=b"[1]"), 400, "bad_request",
                 words=["object"])
    assert_error(ctl.request("POST", "/segments", raw=b'{"name": "a", "name": "b"}'), 400,
                 "bad_request")
    assert_error(ctl.request("POST", "/segments", {"name": "web", "vni": 5001, "vnii": 1}), 422,
                 "invalid", field="vnii", words=["unknown field 'vnii'"])
    assert_error(ctl.request("POST", "/segments", {"name": "web", "vni": "5001"}), 422,
                 "invalid", field="vni")
    assert_error(ctl.request("POST", "/segments", {"name": "web", "vni": 16777216}), 422,
                 "invalid", field="vni", words=["16777215"])
    assert_error(ctl.request("POST", "/segments", {"name": "web"}), 422, "invalid", field="vni")
    assert_error(ctl.request("POST", "/segments", {"vni": 5}), 422, "invalid", field="name")
    assert_error(ctl.request("POST", "/segments", {"name": "bad name", "vni": 5}), 422,
                 "invalid", field="name")
    assert_error(ctl.request("POST", "/segments", {"name": "w", "vni": 5, "replication": "x"}),
                 422, "invalid", field="replication", words=["head-end"])
    assert_error(ctl.request("POST", "/segments", {"name": "w", "vni": 5,
                                                   "replication": "multicast"}),
                 422, "invalid", field="multicast_group")
    assert_error(ctl.request("POST", "/segments", {"name": "w", "vni": 5, "zone": "nope"}), 422,
                 "invalid", field="zone")
    assert_error(ctl.request("POST", "/segments", {"name": "w", "vni": 5,
                                                   "arp_suppression": 1}),
                 422, "invalid", field="arp_suppression")
    assert_error(ctl.request("POST", "/ports", {"name": "sixteen-chars-xx", "host": "h",
                                                "segment": "s"}), 422, "invalid", field="name")
    assert_error(ctl.request("POST", "/ports", {"name": "p", "host": "h", "segment": "nope"}),
                 422, "invalid", field="segment")
    assert_error(ctl.request("POST", "/ports", {"name": "p", "host": "h", "segment": "s",
                                                "bindings": [{"mac": "01:00:5e:00:00:01"}]}),
                 422, "invalid", field="bindings[0].mac")
    assert_error(ctl.request("POST", "/ports", {"name": "p", "host": "h", "mode": "trunk",
                                                "vlans": "5000"}), 422, "invalid",
                 field="vlans")
    assert_error(ctl.request("POST", "/vni-pools", {"name": "p", "start": 10, "end": 9}), 422,
                 "invalid", field="end")
    assert_error(ctl.request("POST", "/segments", raw=b'{"name": "' + b"x" * (1 << 20) + b'"}'),
                 413, "too_large")
    assert_error(ctl.request("GET", "/nothing"), 404, "not_found")
    assert_error(ctl.request("GET", "/segments/web/extra/more"), 404, "not_found")
    assert_error(ctl.request("GET", "/segments/nope"), 404, "not_found", words=["nope"])
    assert_error(ctl.request("GET", "/ports?hots=a"), 422, "invalid", field="hots")
    r = ctl.request("PUT", "/segments", {"name": "x"})
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"
    r = ctl.request("POST", "/segments/web", {})
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, PATCH, DELETE"
    assert ctl.request("DELETE", "/status").headers["Allow"] == "GET"
    # Nothing of the refused requests was written.
    assert ctl.ok("GET", "/segments") == {"items": []}


def test_conflicts_are_409(ctl):
    ctl.ok("POST", "/transport-zones", {"name": "tz", "hosts": ["host-a"]})
    ctl.ok("POST", "/vni-pools", {"name": "p1", "start": 1000, "end": 1999})
    ctl.ok("POST", "/segments", {"name": "web", "vni": 5001, "zone": "tz"})
    ctl.ok("POST", "/segments", {"name": "db", "vni": 5002})
    assert_error(ctl.request("POST", "/segments", {"name": "web2", "vni": 5001}), 409,
                 "conflict", field="vni", words=["VNI 5001 is used by segment 'web'"])
    assert_error(ctl.request("POST", "/segments", {"name": "web", "vni": 7}), 409, "conflict",
                 field="name", words=["already exists"])
    assert_error(ctl.request("POST", "/vni-pools", {"name": "p2", "start": 1999, "end": 3000}),
                 409, "conflict", words=["p1"])
    mac = "02:00:00:00:10:01"
    ctl.ok("POST", "/ports", {"name": "vm1", "host": "host-a", "segment": "web",
                              "bindings": [{"mac": mac, "ip": "10.0.0.1"}]})
    assert_error(ctl.request("POST", "/ports", {"name": "vm2", "host": "host-a",
                                                "segment": "web", "bindings": [{"mac": mac}]}),
                 409, "conflict", field="bindings", words=[mac, "vm1"])
    assert_error(ctl.request("POST", "/ports", {"name": "vm2", "host": "host-a",
                                                "segment": "web",
                                                "bindings": [{"mac": "02:00:00:00:10:02",
                                                              "ip": "10.0.0.1"}]}),
                 409, "conflict", field="bindings", words=["10.0.0.1"])
    # The same MAC on another segment is fine; so is moving it within the port.
    ctl.ok("POST", "/ports", {"name": "vm2", "host": "h9", "segment": "db",
                              "bindings": [{"mac": mac, "ip": "10.0.0.1"}]})
    ctl.ok("PATCH", "/ports/vm1", {"bindings": [{"mac": "02:00:00:00:10:03"}]})
    ctl.ok("POST", "/ports", {"name": "vm3", "host": "host-a", "segment": "web",
                              "bindings": [{"mac": mac, "ip": "10.0.0.1"}]})
    assert_error(ctl.request("POST", "/ports", {"name": "vm4", "host": "host-b",
                                                "segment": "web"}),
                 409, "conflict", field="host", words=["host-b", "tz"])
    assert_error(ctl.request("PATCH", "/ports/vm2", {"segment": "web", "host": "host-a"}), 409,
                 "conflict",
                 field="bindings")
    assert_error(ctl.request("PATCH", "/transport-zones/tz", {"hosts": []}), 409, "conflict",
                 words=["host-a"])
    assert_error(ctl.request("DELETE", "/segments/web"), 409, "conflict", words=["vm1"])
    assert_error(ctl.request("DELETE", "/transport-zones/tz"), 409, "conflict", words=["web"])
    ctl.ok("POST", "/segments", {"name": "pooled", "pool": "p1"})
    assert_error(ctl.request("DELETE", "/vni-pools/p1"), 409, "conflict", words=["pooled"])
    # After the ports go, the MAC is free again and everything can be deleted.
    for p in ["vm1", "vm2", "vm3"]:
        ctl.ok("DELETE", f"/ports/{p}")
    ctl.ok("POST", "/ports", {"name": "vm5", "host": "host-a", "segment": "web",
                              "bindings": [{"mac": mac, "ip": "10.0.0.1"}]})
    ctl.ok("DELETE", "/ports/vm5")
    for path in ["/segments/web", "/segments/db", "/segments/pooled", "/vni-pools/p1",
                 "/transport-zones/tz"]:
        ctl.ok("DELETE", path)
    ctl.ok("POST", "/segments", {"name": "web2", "vni": 5001})


def test_segment_vlan_is_unique(controllers, tmp_path):
    """A host's switch takes one segment per VLAN (a second is EEXIST), and a trunk's VLAN
    names its segment store-wide: two segments never share a vlan, whatever their zones."""
    ctl = controllers()
    ctl.ok("POST", "/transport-zones", {"name": "tz-a", "hosts": ["host-a"]})
    ctl.ok("POST", "/transport-zones", {"name": "tz-b", "hosts": ["host-b"]})
    ctl.ok("POST", "/segments", {"name": "web", "vni": 5001, "vlan": 101, "zone": "tz-a"})
    ctl.ok("POST", "/segments", {"name": "db", "vni": 5002, "vlan": 102})
    # vlan 0 is "none": any number of segments may have it.
    ctl.ok("POST", "/segments", {"name": "plain", "vni": 5003})
    ctl.ok("POST", "/segments", {"name": "plain2", "vni": 5004, "vlan": 0})
    before = (ctl.ok("GET", "/segments"), ctl.ok("GET", "/status")["revision"])

    # Create and PATCH onto a VLAN another segment holds: 409 naming it, also across zones.
    for method, path, body in [
            ("POST", "/segments", {"name": "web2", "vni": 5010, "vlan": 101}),
            ("POST", "/segments", {"name": "web2", "vni": 5010, "vlan": 101, "zone": "tz-b"}),
            ("PATCH", "/segments/db", {"vlan": 101}),
            ("PATCH", "/segments/plain", {"vlan": 101, "description": "x"})]:
        assert_error(ctl.request(method, path, body), 409, "conflict", field="vlan",
                     words=["VLAN 101", "segment 'web'"])
    assert_error(ctl.request("PATCH", "/segments/web", {"vlan": 102}), 409, "conflict",
                 field="vlan", words=["VLAN 102", "segment 'db'"])
    # The refused requests wrote nothing: the same objects, the same revision.
    assert (ctl.ok("GET", "/segments"), ctl.ok("GET", "/status")["revision"]) == before

    # A segment keeps its own VLAN through a PATCH of anything else.
    ctl.ok("PATCH", "/segments/web", {"description": "front end", "vlan": 101})
    # Changing a VLAN frees the old one: db moves to 103, 102 is taken by another.
    ctl.ok("PATCH", "/segments/db", {"vlan": 103})
    ctl.ok("PATCH", "/segments/plain", {"vlan": 102})
    assert_error(ctl.request("POST", "/segments", {"name": "x", "vni": 5011, "vlan": 103}),
                 409, "conflict", field="vlan", words=["segment 'db'"])
    # Removing it (vlan 0) frees it too.
    ctl.ok("PATCH", "/segments/db", {"vlan": 0})
    ctl.ok("POST", "/segments", {"name": "x", "vni": 5011, "vlan": 103})
    # Deleting a segment frees its VLAN (and its VNI).
    ctl.ok("DELETE", "/segments/web")
    ctl.ok("POST", "/segments", {"name": "web2", "vni": 5001, "vlan": 101, "zone": "tz-b"})
    assert {s["name"]: s["vlan"] for s in ctl.ok("GET", "/segments")["items"]} == \
        {"db": 0, "plain": 102, "plain2": 0, "web2": 101, "x": 103}

    ctl.stop()
    check_indexes(read_store(tmp_path / "data"))


def test_segment_vlan_concurrent_writers_one_wins(ctl):
    """Many requests racing for one VLAN: exactly one gets it, every other is a 409 naming the
    winner, and the store ends with one segment on the VLAN."""
    for i in range(8):
        ctl.ok("POST", "/segments", {"name": f"old{i}", "vni": 6000 + i})

    def create(i):
        return ctl.request("POST", "/segments", {"name": f"new{i}", "vni": 7000 + i,
                                                 "vlan": 300})

    def patch(i):
        return ctl.request("PATCH", f"/segments/old{i}", {"vlan": 300})

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda f_i: f_i[0](f_i[1]),
                                [(f, i) for i in range(8) for f in (create, patch)]))
    won = [r for r in replies if r.status in (200, 201)]
    assert len(won) == 1, [(r.status, r.body) for r in replies]
    winner = won[0].body["name"]
    for r in replies:
        if r is not won[0]:
            assert_error(r, 409, "conflict", field="vlan", words=[f"segment '{winner}'"])
    on_300 = [s["name"] for s in ctl.ok("GET", "/segments")["items"] if s["vlan"] == 300]
    assert on_300 == [winner]


def test_segment_vlan_keys_completed_at_start(controllers, tmp_path):
    """A store from before VLANs were unique has no VLAN keys, and may have two segments on
    one VLAN: the controller writes the missing keys at start (the first by name gets a
    shared VLAN), logs the clash, and refuses the next segment on either VLAN."""
    ctl = controllers()
    ctl.ok("POST", "/segments", {"name": "a", "vni": 5001, "vlan": 10})
    ctl.ok("POST", "/segments", {"name": "b", "vni": 5002, "vlan": 20})
    ctl.stop()
    # Make it such an old store: no VLAN keys, b on a's VLAN.
    db = sqlite3.connect(f"{tmp_path}/data/store.db")
    with db:
        db.execute("DELETE FROM kv WHERE key LIKE '/config/index/vlan/%'")
        (value,) = db.execute("SELECT value FROM kv WHERE key = '/config/segments/b'").fetchone()
        db.execute("UPDATE kv SET value = ? WHERE key = '/config/segments/b'",
                   (json.dumps(dict(json.loads(value), vlan=10)),))
    db.close()

    ctl = controllers()
    assert "segment 'b'" in ctl.log_text() and "VLAN 10 is used by segment 'a'" in \
        ctl.log_text()
    assert_error(ctl.request("POST", "/segments", {"name": "c", "vni": 5003, "vlan": 10}),
                 409, "conflict", field="vlan", words=["segment 'a'"])
    # b may only move off the VLAN; then a keeps it and b holds its new one.
    assert_error(ctl.request("PATCH", "/segments/b", {"description": "x"}), 409, "conflict",
                 field="vlan", words=["segment 'a'"])
    ctl.ok("PATCH", "/segments/b", {"vlan": 20})
    ctl.stop()
    check_indexes(read_store(tmp_path / "data"))


def test_if_match(ctl):
    seg = ctl.ok("POST", "/segments", {"name": "web", "vni": 5001})
    rev = seg["revision"]
    assert_error(ctl.request("PATCH", "/segments/web", {"vlan": 10},
                             headers={"If-Match": str(rev + 1)}), 412, "precondition_failed")
    seg = ctl.ok("PATCH", "/segments/web", {"vlan": 10}, headers={"If-Match": f'"{rev}"'})
    assert_error(ctl.request("DELETE", "/segments/web", headers={"If-Match": str(rev)}), 412,
                 "precondition_failed")
    assert_error(ctl.request("DELETE", "/segments/web", headers={"If-Match": "x"}), 400,
                 "bad_request")
    ctl.ok("DELETE", "/segments/web", headers={"If-Match": str(seg["revision"])})


def test_bearer_token(controllers, tmp_path):
    token_file = tmp_path / "api-token"
    token_file.write_text("s3cret-api-token\n")
    ctl = controllers(["--api-token-file", str(token_file)])
    r = ctl.request("GET", "/status")
    assert_error(r, 401, "unauthorized", words=["Bearer"])
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(ctl.request("GET", "/status", token="s3cret-api-tokeN"), 401, "unauthorized")
    assert_error(ctl.request("GET", "/status", token="s3cret-api-token-longer"), 401,
                 "unauthorized")
    assert_error(ctl.request("GET", "/nothing", token="wrong"), 401, "unauthorized")
    assert_error(ctl.request("POST", "/segments", {"name": "w", "vni": 1}), 401, "unauthorized")
    ctl.token = "s3cret-api-token"
    ctl.ok("GET", "/status")
    ctl.ok("POST", "/segments", {"name": "w", "vni": 1})


# ---- Durability -----------------------------------------------------------------------


def test_restart_keeps_everything_with_the_same_revisions(controllers, tmp_path):
    ctl = controllers()
    ctl.ok("POST", "/transport-zones", {"name": "tz", "hosts": ["h1"]})
    ctl.ok("POST", "/vni-pools", {"name": "p", "start": 10, "end": 20})
    ctl.ok("POST", "/segments", {"name": "web", "pool": "p", "zone": "tz"})
    ctl.ok("POST", "/ports", {"name": "vm1", "host": "h1", "segment": "web",
                              "bindings": [{"mac": "02:00:00:00:00:01"}]})
    before = {c: ctl.ok("GET", c) for c in ["/transport-zones", "/vni-pools", "/segments",
                                           "/ports"]}
    status = ctl.ok("GET", "/status")
    token = (tmp_path / "data" / "join-token").read_text()
    ctl.stop()
    ctl2 = controllers()
    assert {c: ctl2.ok("GET", c) for c in before} == before
    st2 = ctl2.ok("GET", "/status")
    assert (st2["epoch"], st2["revision"]) == (status["epoch"], status["revision"])
    assert (tmp_path / "data" / "join-token").read_text() == token
    # The indexes came back too.
    assert_error(ctl2.request("POST", "/ports", {"name": "vm2", "host": "h1", "segment": "web",
                                                 "bindings": [{"mac": "02:00:00:00:00:01"}]}),
                 409, "conflict")


def read_store(datadir):
    db = sqlite3.connect(f"file:{datadir}/store.db", uri=True)
    try:
        return {k: (json.loads(v), rev) for k, v, rev in
                db.execute("SELECT key, value, mod_rev FROM kv")}
    finally:
        db.close()


def check_indexes(kv):
    """Every index key points at an object that holds it, and every object's keys exist."""
    segs = {k.split("/")[-1]: v for k, (v, _) in kv.items() if k.startswith("/config/segments/")}
    ports = {k.split("/")[-1]: v for k, (v, _) in kv.items() if k.startswith("/config/ports/")}
    want = {}
    for name, s in segs.items():
        want[f"/config/index/vni/{s['vni']}"] = {"segment": name}
        if s["vlan"]:
            want[f"/config/index/vlan/{s['vlan']}"] = {"segment": name}
    for name, p in ports.items():
        vni = segs[p["segment"]]["vni"]
        for b in p["bindings"]:
            want[f"/config/index/binding-mac/{vni}/{b['mac']}"] = {"port": name}
            if "ip" in b:
                want[f"/config/index/binding-ip/{vni}/{b['ip']}"] = {"port": name}
    have = {k: v for k, (v, _) in kv.items() if k.startswith("/config/index/")}
    assert have == want


def test_kill9_during_concurrent_writes_loses_nothing_acknowledged(controllers, tmp_path):
    ctl = controllers()
    ctl.ok("POST", "/vni-pools", {"name": "p", "start": 100, "end": 100000})
    ctl.ok("POST", "/segments", {"name": "base", "vni": 1})
    acked = {}

    def writer(i):
        if i % 2:
            body = {"name": f"s{i}", "pool": "p"}
            path = "/segments"
        else:
            body = {"name": f"p{i}", "host": f"h{i % 7}", "segment": "base",
                    "bindings": [{"mac": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
                                  "ip": f"10.0.{i // 256}.{i % 256}"}]}
            path = "/ports"
        try:
            r = ctl.request("POST", path, body)
        except OSError:
            return
        if r.status == 201:
            acked[f"/config/{path[1:]}/{body['name']}"] = r.body["revision"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(writer, i) for i in range(2000)]
        deadline = time.monotonic() + 30
        while len(acked) < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        ctl.kill9()
        for f in futures:
            f.result()
    assert len(acked) >= 150, "too few writes were acknowledged before the kill"
    assert len(acked) < 2000, "every write finished before the kill; nothing was tested"

    kv = read_store(tmp_path / "data")
    for key, rev in acked.items():
        assert key in kv, f"{key} was acknowledged (revision {rev}) but is lost"
        assert kv[key][1] == rev
    check_indexes(kv)
    vnis = [v["vni"] for k, (v, _) in kv.items() if k.startswith("/config/segments/")]
    assert len(vnis) == len(set(vnis))

    ctl2 = controllers()
    names = {s["name"] for s in ctl2.ok("GET", "/segments")["items"]} | \
        {p["name"] for p in ctl2.ok("GET", "/ports")["items"]}
    assert {k.split("/")[-1] for k in acked} <= names
    ctl2.stop()


# ---- The process -------------------------------------------------------------------------


def test_join_token_made_once_mode_0600_never_logged(controllers, tmp_path):
    ctl = controllers()
    path = tmp_path / "data" / "join-token"
    token = path.read_text().strip()
    assert len(token) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    ctl.stop()
    log = ctl.log_text()
    assert str(path) in log and token not in log


def test_api_listens_only_where_told(program, tmp_path):
    """Default --api-listen is loopback: in a fresh namespace with a second address, the API
    answers on 127.0.0.1:7080 and nowhere else."""
    ns = f"wapi{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        def nsrun(*argv, **kw):
            return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, **kw)

        nsrun("ip", "link", "set", "lo", "up")
        nsrun("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        nsrun("ip", "addr", "add", "192.0.2.10/24", "dev", "v0")
        nsrun("ip", "link", "set", "v0", "up")
        nsrun("ip", "link", "set", "v1", "up")
        env = dict(os.environ, **SANITIZER_ENV)
        log = open(tmp_path / "ctl.log", "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, str(program("weft-controller")),
                                 "--datadir", str(tmp_path / "d"), "--agent-listen",
                                 "127.0.0.1:7443"], stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        probe = ("import socket,sys\n"
                 "def c(a):\n"
                 "    try:\n"
                 "        socket.create_connection((a, 7080), timeout=2).close(); return 'open'\n"
                 "    except OSError: return 'closed'\n"
                 "print(c('127.0.0.1'), c('192.0.2.10'))\n")
        deadline = time.monotonic() + 15
        while True:
            out = nsrun("python3", "-c", probe, capture_output=True, text=True).stdout.split()
            if out[0] == "open" or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert out == ["open", "closed"], (tmp_path / "ctl.log").read_text()
    finally:
        if proc:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_start_failures_exit_1_with_a_sentence(controllers, run, tmp_path):
    ctl = controllers()
    # The API port is taken (by the running controller).
    r = run("weft-controller", "--datadir", str(tmp_path / "d2"), "--api-listen",
            f"127.0.0.1:{ctl.api_port}", "--agent-listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert "cannot listen for the REST API" in r.stderr and "in use" in r.stderr
    # The store file cannot be opened.
    (tmp_path / "d3").mkdir()
    (tmp_path / "d3" / "store.db").mkdir()
    r = run("weft-controller", "--datadir", str(tmp_path / "d3"), "--api-listen",
            f"127.0.0.1:{free_port()}", "--agent-listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "error:" in r.stderr, r.stderr
    r = run("weft-controller", "--datadir", str(tmp_path / "no" / "such"))
    assert r.returncode == 1 and "cannot create the data directory" in r.stderr
    r = run("weft-controller", "--api-token-file", str(tmp_path / "missing"), "--datadir",
            str(tmp_path / "d4"))
    assert r.returncode == 1 and "token file" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--stale-time", "0"], "--stale-time takes a number"),
    (["--heartbeat-ms", "x"], "--heartbeat-ms takes a number"),
    (["--log-level", "loud"], "--log-level"),
    (["--heartbeat-ms", "5000", "--dead-ms", "4000"], "--dead-ms"),
])
def test_usage_errors_exit_2(run, args, words):
    r = run("weft-controller", *args)
    assert r.returncode == 2 and words in r.stderr and "--help" in r.stderr, r.stderr


def test_help_explains_every_option(run):
    out = run("weft-controller", "--help").stdout
    for opt in ["--datadir", "--store", "--api-listen", "--api-token-file", "--agent-listen",
                "--join-token-file", "--stale-time", "--heartbeat-ms", "--dead-ms",
                "--log-level", "--syslog", "127.0.0.1:7080", "0.0.0.0:7443"]:
        assert opt in out
