"""weft in controller mode: the real weft binary against a real weft-controller
on loopback (its store in a temporary directory).

Every verb, as a table and as -o json (checked against what the API itself
answers), the errors people meet (unknown objects, a VNI in use, bad input
caught before anything is sent, a missing or wrong token, nobody listening),
and the ways to select the controller (--controller, WEFT_CONTROLLER; an
http_proxy in the environment is never used)."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import SANITIZER_ENV, SANITIZER_REPORT
from controller import LocalController, free_port

TOKEN = "h5-cli-test-token-0123456789abcdef"
JOIN_TOKEN = "h5-cli-test-join-token-0123456789abcdef"


class Controller(LocalController):
    """A weft-controller on loopback with an API token, and a client of its API."""

    def __init__(self, tmp):
        self.token_file = tmp / "api-token"
        self.token_file.write_text(TOKEN + "\n")
        join = tmp / "join-token"
        join.write_text(JOIN_TOKEN + "\n")
        super().__init__(tmp, ["--join-token-file", join, "--api-token-file", self.token_file])

    def api(self, method, path, body=None, token=TOKEN):
        """(status, JSON or None) of a request made without weft."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/v1/{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None

    def get(self, path):
        status, body = self.api("GET", path)
        assert status == 200, (path, status, body)
        return body


@pytest.fixture(scope="module")
def controller(program, tmp_path_factory):
    ctl = Controller(tmp_path_factory.mktemp("weft-ctl-cli")).start()
    yield ctl
    ctl.stop()


@pytest.fixture(scope="module")
def weft(program, controller):
    """weft(*args, env=None, controller=True) -> CompletedProcess.

    By default with --controller and --token-file of the test's controller;
    WEFT_* and proxy variables of the caller's environment are not passed."""

    def run_weft(*args, env=None, use_controller=True, token=True):
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("WEFT_") and "proxy" not in k.lower()}
        base.update(SANITIZER_ENV)
        base["LC_ALL"] = "C"
        base.update(env or {})
        argv = [str(program("weft"))]
        if use_controller:
            argv += ["--controller", controller.url]
        if token:
            argv += ["--token-file", str(controller.token_file)]
        result = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30,
                                env=base, check=False)
        assert not SANITIZER_REPORT.search(result.stderr), result.stderr
        return result

    return run_weft


def ok(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def refused(result, *words, status=1):
    """A failed command: its exit status, nothing on stdout, one 'weft...' message."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("weft"), result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return result.stderr


def as_json(result):
    return json.loads(ok(result))


def table(text):
    """Rows of a table as lists of cells (cells have no spaces in these tests)."""
    lines = text.splitlines()
    return [line.split() for line in lines[1:]], lines[0].split()


def fields(text):
    """'key: value' lines -> {key: value} (the last of repeated keys)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def without_volatile(obj):
    """Status and port objects change by themselves (uptime, last seen)."""
    return {k: v for k, v in obj.items() if k not in ("uptime_s", "status")}


# ---- status -------------------------------------------------------------------


def test_status_shows_the_controller(weft, controller):
    out = ok(weft("status"))
    f = fields(out)
    api = controller.get("status")
    assert f["version"] == api["version"]
    assert f["store"] == api["store"]
    assert "hosts registered" in f and "hosts connected" in f
    got = as_json(weft("-o", "json", "status"))
    assert without_volatile(got).keys() == without_volatile(api).keys()
    assert got["version"] == api["version"] and got["store"] == api["store"]


def test_json_option_after_the_command(weft, controller):
    assert as_json(weft("status", "-o", "json"))["store"] == controller.get("status")["store"]


# ---- zones ---------------------------------------------------------------------


def test_zone_verbs(weft, controller):
    ok(weft("zone", "add", "tz-cli", "--host", "h-a", "--host", "h-b",
            "--description", "the lab"))
    api = controller.get("transport-zones/tz-cli")
    assert api["hosts"] == ["h-a", "h-b"] and api["description"] == "the lab"
    assert as_json(weft("-o", "json", "zone", "show", "tz-cli")) == api
    assert as_json(weft("-o", "json", "zone", "list")) == controller.get("transport-zones")

    rows, header = table(ok(weft("zone", "list")))
    assert header == ["NAME", "HOSTS", "DESCRIPTION"]
    assert ["tz-cli", "h-a,h-b", "the", "lab"] in rows
    f = fields(ok(weft("zone", "show", "tz-cli")))
    assert f["name"] == "tz-cli" and f["hosts"] == "h-a,h-b"

    ok(weft("zone", "set", "tz-cli", "--host", "h-c"))
    assert controller.get("transport-zones/tz-cli")["hosts"] == ["h-c"]
    ok(weft("zone", "set", "tz-cli", "--no-hosts"))
    assert controller.get("transport-zones/tz-cli")["hosts"] == []
    ok(weft("zone", "del", "tz-cli"))
    assert controller.api("GET", "transport-zones/tz-cli")[0] == 404
    refused(weft("zone", "show", "tz-cli"), "tz-cli")


def test_zone_usage_errors_send_nothing(weft, controller):
    before = controller.get("transport-zones")
    refused(weft("zone", "add", "bad/name"), "invalid zone name 'bad/name'", status=2)
    refused(weft("zone", "add", "tz-x", "--host", "a b"), "invalid host id", status=2)
    refused(weft("zone", "set", "tz-x"), "nothing to change", status=2)
    refused(weft("zone", "add", "tz-x", "--host", "a", "--no-hosts"), status=2)
    refused(weft("zone", "frob"), "unknown command 'frob'", status=2)
    assert controller.get("transport-zones") == before


# ---- pools ---------------------------------------------------------------------


def test_pool_verbs_and_overlap(weft, controller):
    ok(weft("pool", "add", "p-cli", "20000-20009", "--description", "tenants"))
    api = controller.get("vni-pools/p-cli")
    assert (api["start"], api["end"]) == (20000, 20009)
    assert as_json(weft("-o", "json", "pool", "show", "p-cli")) == api
    assert as_json(weft("-o", "json", "pool", "list")) == controller.get("vni-pools")
    rows, header = table(ok(weft("pool", "list")))
    assert header[:4] == ["NAME", "START", "END", "ALLOCATED"]
    assert ["p-cli", "20000", "20009", "0", "tenants"] in rows

    err = refused(weft("pool", "add", "p-cli2", "20005-20100"))
    assert err.count("\n") == 1 and "overlap" in err.lower(), err
    refused(weft("pool", "add", "p-cli3", "30-20"), "runs backwards", status=2)
    refused(weft("pool", "add", "p-cli3", "1-99999999"), "invalid pool end VNI", status=2)
    refused(weft("pool", "add", "p-cli3"), "missing", status=2)
    assert controller.api("GET", "vni-pools/p-cli2")[0] == 404

    # A segment allocated from the pool gets its lowest VNI.
    ok(weft("segment", "add", "seg-pool", "--pool", "p-cli"))
    assert controller.get("segments/seg-pool")["vni"] == 20000
    assert controller.get("vni-pools/p-cli")["allocated"] == 1
    refused(weft("pool", "del", "p-cli"))
    ok(weft("segment", "del", "seg-pool"))
    ok(weft("pool", "del", "p-cli"))
    assert controller.api("GET", "vni-pools/p-cli")[0] == 404


def test_pool_set(weft, controller):
    ok(weft("pool", "add", "p-set", "21000-21009"))
    ok(weft("pool", "add", "p-set-next", "21100-21109"))
    try:
        # Widen it and describe it; a change prints nothing, in either format.
        assert ok(weft("-o", "json", "pool", "set", "p-set", "--end", "21019",
                       "--description", "grown")) == ""
        api = controller.get("vni-pools/p-set")
        assert (api["start"], api["end"], api["description"]) == (21000, 21019, "grown")
        ok(weft("pool", "set", "p-set", "--start", "20990", "--end", "21019"))
        assert controller.get("vni-pools/p-set")["start"] == 20990

        # A VNI allocated from the pool holds its range around it (weft takes
        # --vni or --pool; the API both, for a VNI of the pool's choosing).
        status, _ = controller.api("POST", "segments",
                                   {"name": "seg-in-pool", "pool": "p-set", "vni": 21008})
        assert status == 201
        before = controller.get("vni-pools/p-set")
        err = refused(weft("pool", "set", "p-set", "--end", "21005"),
                      "seg-in-pool", "21008", "20990-21005")
        assert err.startswith("weft: ") and err.count("\n") == 1, err
        refused(weft("pool", "set", "p-set", "--start", "21009"), "seg-in-pool", "21008")
        # Overlapping another pool, or an end below the start the pool keeps.
        refused(weft("pool", "set", "p-set", "--end", "21100"), "overlap", "p-set-next")
        refused(weft("pool", "set", "p-set", "--start", "21020"), "must not be below")
        assert controller.get("vni-pools/p-set") == before

        # Checked before anything is sent.
        refused(weft("pool", "set", "p-set", "--start", "21005", "--end", "21001"),
                "runs backwards", status=2)
        refused(weft("pool", "set", "p-set", "--end", "16777216"), "invalid pool end VNI",
                status=2)
        refused(weft("pool", "set", "p-set", "--start", "0"), "invalid pool start VNI",
                status=2)
        refused(weft("pool", "set", "p-set"), "nothing to change", status=2)
        refused(weft("pool", "set", "p-set", "--end"), "requires an argument", status=2)
        refused(weft("pool", "set", "p-set", "--vni", "5"), "--vni", status=2)
        assert controller.get("vni-pools/p-set") == before
        refused(weft("pool", "set", "no-such-pool", "--end", "5"), "no-such-pool")
    finally:
        weft("segment", "del", "seg-in-pool")
        ok(weft("pool", "del", "p-set"))
        ok(weft("pool", "del", "p-set-next"))


# ---- optimistic concurrency: --if-match --------------------------------------------


def revision_shown(weft, group, name):
    """The revision 'weft GROUP show NAME' prints, as a string."""
    return fields(ok(weft(group, "show", name)))["revision"]


def test_show_prints_the_revision_that_if_match_takes(weft, controller):
    ok(weft("segment", "add", "rev-cli", "--vni", "5330"))
    try:
        rev = revision_shown(weft, "segment", "rev-cli")
        assert rev == str(controller.get("segments/rev-cli")["revision"])
        ok(weft("segment", "set", "rev-cli", "--vlan", "130", "--if-match", rev))
        api = controller.get("segments/rev-cli")
        assert api["vlan"] == 130 and str(api["revision"]) != rev
        assert revision_shown(weft, "segment", "rev-cli") == str(api["revision"])
    finally:
        weft("segment", "del", "rev-cli")


def test_changed_object_is_refused_with_412(weft, controller):
    """Two people read the same revision; the second change is refused and says
    how to re-read the object, and nothing of it is applied."""
    ok(weft("segment", "add", "race-cli", "--vni", "5331"))
    try:
        seen = revision_shown(weft, "segment", "race-cli")
        ok(weft("segment", "set", "race-cli", "--vlan", "131", "--if-match", seen))
        after_first = controller.get("segments/race-cli")

        err = refused(weft("segment", "set", "race-cli", "--vlan", "132", "--if-match", seen),
                      f"changed since revision {seen}", "nothing was done",
                      "weft segment show race-cli")
        assert err.startswith("weft: ") and err.count("\n") == 1, err
        assert controller.get("segments/race-cli") == after_first
        # The revision the message says to re-read is the one that works.
        ok(weft("segment", "set", "race-cli", "--vlan", "132", "--if-match",
                revision_shown(weft, "segment", "race-cli")))
        assert controller.get("segments/race-cli")["vlan"] == 132

        # del too: refused at an old revision, done at the current one.
        refused(weft("segment", "del", "race-cli", "--if-match", seen), "changed since",
                "weft segment show race-cli")
        assert controller.api("GET", "segments/race-cli")[0] == 200
        ok(weft("segment", "del", "race-cli", "--if-match",
                revision_shown(weft, "segment", "race-cli")))
        assert controller.api("GET", "segments/race-cli")[0] == 404
    finally:
        weft("segment", "del", "race-cli")


@pytest.mark.parametrize("group,add,change", [
    ("zone", ["zone", "add", "tz-rev"], ["--description", "x"]),
    ("pool", ["pool", "add", "p-rev", "22000-22009"], ["--end", "22019"]),
    ("port", ["port", "add", "vm-rev", "--host", "h-a", "--trunk", "10"], ["--mtu", "9000"]),
])
def test_if_match_on_every_revisioned_object(weft, controller, group, add, change):
    name = add[2]
    ok(weft(*add))
    try:
        stale = revision_shown(weft, group, name)
        ok(weft(group, "set", name, *change, "--if-match", stale))
        refused(weft(group, "set", name, "--description", "y", "--if-match", stale),
                f"{group} '{name}' changed since revision {stale}")
        refused(weft(group, "del", name, "--if-match", stale), "changed since")
        ok(weft(group, "del", name, "--if-match", revision_shown(weft, group, name)))
    finally:
        weft(group, "del", name)


def test_if_match_usage_errors_send_nothing(weft, controller):
    ok(weft("zone", "add", "tz-ifm"))
    try:
        before = controller.get("transport-zones/tz-ifm")
        for bad in ["abc", "0", "-1", "12x", "\"5\"", "99999999999999999999999"]:
            refused(weft("zone", "set", "tz-ifm", "--description", "z", "--if-match", bad),
                    f"invalid revision '{bad}'", status=2)
        refused(weft("zone", "del", "tz-ifm", "--if-match"), "requires an argument", status=2)
        # Only changes take it; the controller keeps no revision to match for
        # forgetting a host.
        refused(weft("zone", "add", "tz-x", "--if-match", "5"), "if-match", status=2)
        refused(weft("zone", "show", "tz-ifm", "--if-match", "5"), "if-match", status=2)
        refused(weft("host", "del", "h-x", "--if-match", "5"), "if-match", status=2)
        assert controller.get("transport-zones/tz-ifm") == before
    finally:
        ok(weft("zone", "del", "tz-ifm"))


@pytest.mark.parametrize("group,verb", [
    ("zone", "set"), ("zone", "del"), ("pool", "set"), ("pool", "del"),
    ("segment", "set"), ("segment", "del"), ("port", "set"), ("port", "del")])
def test_if_match_is_in_the_help(weft, group, verb):
    assert "--if-match REVISION" in ok(weft(group, verb, "--help"))


# ---- segments -------------------------------------------------------------------


def test_segment_verbs(weft, controller):
    ok(weft("segment", "add", "web-cli", "--vni", "5301", "--vlan", "101",
            "--no-arp-suppression"))
    api = controller.get("segments/web-cli")
    assert api["vni"] == 5301 and api["vlan"] == 101 and api["arp_suppression"] is False
    assert api["replication"] == "head-end"
    assert as_json(weft("-o", "json", "segment", "show", "web-cli")) == api
    assert as_json(weft("-o", "json", "segment", "list")) == controller.get("segments")

    rows, header = table(ok(weft("segment", "list")))
    assert header[:2] == ["NAME", "VNI"]
    row = next(r for r in rows if r[0] == "web-cli")
    assert row[1] == "5301" and "head-end" in row and "101" in row and "no" in row
    f = fields(ok(weft("segment", "show", "web-cli")))
    assert f["vni"] == "5301" and f["replication"] == "head-end"
    assert f["arp suppression"] == "no"

    ok(weft("segment", "set", "web-cli", "--bum", "multicast", "--group", "239.1.2.3",
            "--arp-suppression"))
    api = controller.get("segments/web-cli")
    assert api["replication"] == "multicast" and api["multicast_group"] == "239.1.2.3"
    assert api["arp_suppression"] is True
    ok(weft("segment", "set", "web-cli", "--bum", "proxy"))
    assert controller.get("segments/web-cli")["replication"] == "proxy"
    ok(weft("segment", "del", "web-cli"))
    assert controller.api("GET", "segments/web-cli")[0] == 404


def test_segment_vni_in_use_is_refused_and_changes_nothing(weft, controller):
    ok(weft("segment", "add", "a-cli", "--vni", "5302"))
    before = controller.get("segments")
    err = refused(weft("segment", "add", "b-cli", "--vni", "5302"), "5302", "a-cli")
    assert err.startswith("weft: ") and err.count("\n") == 1
    status, body = controller.api("POST", "segments", {"name": "b-cli", "vni": 5302})
    assert status == 409 and body["error"]["message"] in err
    assert controller.get("segments") == before
    ok(weft("segment", "del", "a-cli"))


def test_segment_usage_errors(weft, controller):
    before = controller.get("segments")
    refused(weft("segment", "add", "x-cli", "--vni", "0"), "invalid VNI '0'", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "16777216"), "invalid VNI", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "12abc"), "invalid VNI", status=2)
    refused(weft("segment", "add", "x-cli"), "--vni", "--pool", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--pool", "p"), "exclude", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--bum", "flood"),
            "head-end|proxy|multicast", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--bum", "multicast"), "--group",
            status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--group", "239.1.1.1"),
            "--bum multicast", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--bum", "multicast", "--group",
                 "10.0.0.1"), "multicast address", status=2)
    refused(weft("segment", "add", "x-cli", "--vni", "5", "--vlan", "4095"), "VLAN", status=2)
    refused(weft("segment", "set", "x-cli", "--vni", "6"), "--vni", status=2)
    refused(weft("segment", "show"), "missing segment name", status=2)
    refused(weft("segment", "show", "a", "b"), "unexpected argument 'b'", status=2)
    assert controller.get("segments") == before


def test_unknown_segment(weft, controller):
    err = refused(weft("segment", "show", "no-such-seg"), "no-such-seg")
    status, body = controller.api("GET", "segments/no-such-seg")
    assert status == 404 and err == f"weft: {body['error']['message']}\n"
    refused(weft("segment", "del", "no-such-seg"), "no-such-seg")
    refused(weft("mac", "list", "no-such-seg"), "no-such-seg")


# ---- ports and the segment's tables ---------------------------------------------------


def test_port_verbs_and_tables(weft, controller):
    ok(weft("segment", "add", "p-seg", "--vni", "5310"))
    ok(weft("segment", "add", "p-seg2", "--vni", "5311", "--vlan", "211"))
    ok(weft("port", "add", "vm1", "--host", "host-a", "--segment", "p-seg",
            "--bind", "02:00:00:00:53:01,172.16.53.1", "--port-security", "--mtu", "9000",
            "--mac-limit", "4", "--no-learning"))
    ok(weft("port", "add", "vm2", "--host", "host-b", "--segment", "p-seg",
            "--bind", "02:00:00:00:53:02", "--down", "--promiscuous"))
    api = controller.get("ports/vm1")
    assert api["segment"] == "p-seg" and api["mode"] == "access" and api["mtu"] == 9000
    assert api["bindings"] == [{"mac": "02:00:00:00:53:01", "ip": "172.16.53.1"}]
    assert api["port_security"] is True and api["learning"] is False
    assert api["mac_limit"] == 4
    vm2 = controller.get("ports/vm2")
    assert vm2["admin_up"] is False and vm2["promiscuous"] is True

    got = as_json(weft("-o", "json", "port", "show", "vm1"))
    assert without_volatile(got) == without_volatile(api)
    listed = as_json(weft("-o", "json", "port", "list"))
    assert [p["name"] for p in listed["items"]] == \
        [p["name"] for p in controller.get("ports")["items"]]
    filtered = as_json(weft("-o", "json", "port", "list", "--host", "host-b"))
    assert [p["name"] for p in filtered["items"]] == ["vm2"]
    assert [p["name"] for p in
            as_json(weft("-o", "json", "port", "list", "--segment", "p-seg"))["items"]] == \
        ["vm1", "vm2"]

    rows, header = table(ok(weft("port", "list")))
    assert header[:4] == ["NAME", "HOST", "MODE", "SEGMENT/VLANS"]
    assert rows[0][:5] == ["vm1", "host-a", "access", "p-seg", "9000"]
    f = fields(ok(weft("port", "show", "vm1")))
    assert f["host"] == "host-a" and f["segment"] == "p-seg" and f["mtu"] == "9000"
    assert "mac=02:00:00:00:53:01 ip=172.16.53.1" in f["bindings"]
    assert f["status up"] == "no"

    # The controller's tables of the segment, as the API gives them.
    for name, path, header in [
            ("mac", "macs", ["MAC", "HOST", "VTEP", "PORT", "SOURCE"]),
            ("arp", "arp", ["IP", "MAC", "HOST", "SOURCE"]),
            ("vtep", "vteps", ["HOST", "VTEP", "CONNECTED", "PORTS", "PROXY"])]:
        api_table = controller.get(f"segments/p-seg/{path}")
        assert as_json(weft("-o", "json", name, "list", "p-seg")) == api_table
        rows, got_header = table(ok(weft(name, "list", "p-seg")))
        assert got_header == header and len(rows) == len(api_table["items"])

    # A MAC bound twice in one segment: 409, nothing changed.
    before = controller.get("ports")
    refused(weft("port", "add", "vm3", "--host", "host-a", "--segment", "p-seg",
                 "--bind", "02:00:00:00:53:01"), "02:00:00:00:53:01")
    # An unknown segment names it.
    refused(weft("port", "add", "vm3", "--host", "host-a", "--segment", "nope-seg"), "nope-seg")
    assert without_volatile_list(controller.get("ports")) == without_volatile_list(before)

    # set: changes only what it is given; mode switches both ways.
    ok(weft("port", "set", "vm1", "--mtu", "1500", "--learning"))
    api = controller.get("ports/vm1")
    assert api["mtu"] == 1500 and api["learning"] is True and api["port_security"] is True
    ok(weft("port", "set", "vm2", "--no-bindings", "--trunk", "211", "--native-vlan", "211",
            "--tpid", "0x88a8"))
    api = controller.get("ports/vm2")
    assert api["mode"] == "trunk" and api["vlans"] == "211" and api["segment"] is None
    assert api["native_vlan"] == 211 and api["tpid"] == 0x88a8
    rows, _ = table(ok(weft("port", "list", "--host", "host-b")))
    assert rows[0][:4] == ["vm2", "host-b", "trunk", "211"]
    ok(weft("port", "set", "vm2", "--segment", "p-seg2", "--host", "host-c", "--up"))
    api = controller.get("ports/vm2")
    assert api["mode"] == "access" and api["segment"] == "p-seg2" and api["host"] == "host-c"
    assert api["vlans"] is None and api["admin_up"] is True

    refused(weft("segment", "del", "p-seg"))  # still has a port
    for name in ("vm1", "vm2"):
        ok(weft("port", "del", name))
    assert controller.get("ports")["items"] == []
    ok(weft("segment", "del", "p-seg"))
    ok(weft("segment", "del", "p-seg2"))


def test_segment_tables_hold_the_bindings(weft, controller):
    """docs/api.md: a port's bindings are in its segment's MAC and ARP tables
    before any traffic, even before its host connects."""
    ok(weft("segment", "add", "t-seg", "--vni", "5320"))
    ok(weft("port", "add", "tvm1", "--host", "host-a", "--segment", "t-seg",
            "--bind", "02:00:00:00:53:21,172.16.53.21"))
    try:
        rows, _ = table(ok(weft("mac", "list", "t-seg")))
        # VTEP: whatever the controller knows of host-a, which never connected.
        assert len(rows) == 1, rows
        assert rows[0][:2] == ["02:00:00:00:53:21", "host-a"], rows
        assert rows[0][3:] == ["tvm1", "binding"], rows
        rows, _ = table(ok(weft("arp", "list", "t-seg")))
        assert rows == [["172.16.53.21", "02:00:00:00:53:21", "host-a", "binding"]], rows
    finally:
        ok(weft("port", "del", "tvm1"))
        ok(weft("segment", "del", "t-seg"))


def without_volatile_list(listing):
    return [without_volatile(p) for p in listing["items"]]


def test_port_usage_errors(weft, controller):
    before = controller.get("ports")
    refused(weft("port", "add", "vm1", "--segment", "s"), "--host", status=2)
    refused(weft("port", "add", "vm1", "--host", "h"), "--segment", "--trunk", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--segment", "s", "--trunk", "1"),
            "exclude", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--segment", "s", "--tpid", "0x88a8"),
            "trunk", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--trunk", "1", "--tpid", "0x9100"),
            "TPID", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--trunk", "10-5"), "backwards",
            status=2)
    refused(weft("port", "add", "a-name-that-is-too-long", "--host", "h", "--segment", "s"),
            "1 to 15", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--segment", "s", "--bind", "zz"),
            "invalid MAC", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--segment", "s", "--bind",
                 "02:00:00:00:00:01,fe80::1"), "IPv4", status=2)
    refused(weft("port", "add", "vm1", "--host", "h", "--segment", "s", "--mtu", "67"),
            "MTU", status=2)
    refused(weft("port", "set", "vm1", "--bind", "02:00:00:00:00:01", "--no-bindings"),
            "exclude", status=2)
    refused(weft("port", "list", "--trunk", "5"), status=2)
    assert controller.get("ports") == before


# ---- hosts -------------------------------------------------------------------------


def test_host_verbs(weft, controller):
    listing = as_json(weft("-o", "json", "host", "list"))
    assert listing == controller.get("hosts")
    rows, header = table(ok(weft("host", "list")))
    assert header[:3] == ["ID", "VTEP", "CONNECTED"]
    assert len(rows) == len(listing["items"])
    err = refused(weft("host", "show", "no-such-host"), "no-such-host")
    assert err == f"weft: {controller.api('GET', 'hosts/no-such-host')[1]['error']['message']}\n"
    refused(weft("host", "del", "no-such-host"), "no-such-host")
    refused(weft("host", "add", "h"), "unknown command 'add'", status=2)


# ---- selecting the controller, tokens, reachability --------------------------------------


def test_environment_selects_the_controller(weft, controller):
    env = {"WEFT_CONTROLLER": controller.url, "WEFT_API_TOKEN_FILE": str(controller.token_file)}
    got = as_json(weft("-o", "json", "status", env=env, use_controller=False, token=False))
    assert got["store"] == controller.get("status")["store"]
    # A trailing slash names the same controller.
    env["WEFT_CONTROLLER"] = controller.url + "/"
    assert as_json(weft("-o", "json", "segment", "list", env=env, use_controller=False,
                        token=False)) == controller.get("segments")


def test_without_controller_weft_drives_weftd(weft, tmp_path):
    result = weft("status", env={"WEFT_SOCKET": str(tmp_path / "none.sock")},
                  use_controller=False, token=False)
    refused(result, "cannot reach weftd", str(tmp_path / "none.sock"), status=3)


def test_proxy_from_the_environment_is_not_used(weft, controller):
    env = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "all_proxy": "http://127.0.0.1:9"}
    assert as_json(weft("-o", "json", "status", env=env))["store"] == \
        controller.get("status")["store"]


def test_missing_token_says_to_pass_it(weft, controller):
    err = refused(weft("segment", "list", token=False), "--token-file")
    assert controller.api("GET", "segments", token=None)[0] == 401
    assert err.startswith("weft: ")


def test_wrong_token_is_refused(weft, controller, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token\n")
    refused(weft("--token-file", str(wrong), "status", token=False), str(wrong), "refused")
    refused(weft("--token-file", str(tmp_path / "absent"), "status", token=False),
            "cannot read the API token", str(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    refused(weft("--token-file", str(empty), "status", token=False), "empty")


def test_unreachable_controller_names_the_url(weft):
    url = f"http://127.0.0.1:{free_port()}"
    err = refused(weft("status", env={"WEFT_CONTROLLER": url}, use_controller=False,
                       token=False), url, "weft-controller running", "--controller", status=3)
    assert err.count("\n") == 1


def test_invalid_controller_url_is_a_usage_error(weft):
    refused(weft("status", env={"WEFT_CONTROLLER": "127.0.0.1:7080"}, use_controller=False,
                 token=False), "invalid controller URL", status=2)
    refused(weft("--controller", "", "status", use_controller=False, token=False), "empty",
            status=2)


# ---- global options after the command --------------------------------------------------


def test_global_options_after_the_command(weft, controller):
    url, token = controller.url, str(controller.token_file)
    want = controller.get("segments")
    for args in (["segment", "list", "--controller", url, "--token-file", token, "-o", "json"],
                 ["segment", "list", f"--controller={url}", f"--token-file={token}",
                  "--output=json"],
                 ["segment", "--controller", url, "-o", "json", "list", "--token-file", token],
                 ["-o", "json", "segment", "list", "--token-file", token, "--controller", url]):
        assert as_json(weft(*args, use_controller=False, token=False)) == want, args
    got = as_json(weft("status", "-o", "json", "--controller", url, "--token-file", token,
                       use_controller=False, token=False))
    assert got["store"] == controller.get("status")["store"]
    # Help follows the mode too.
    out = ok(weft("segment", "add", "--help", "--controller", url, use_controller=False,
                  token=False))
    assert out.startswith("Usage: weft segment add NAME")
    out = ok(weft("--help", "--controller", url, use_controller=False, token=False))
    assert out.startswith("Usage: weft --controller URL")


def test_last_controller_wins(weft, controller):
    """As with any option given twice: the one after the command, over the one
    before it and over WEFT_CONTROLLER."""
    nobody = f"http://127.0.0.1:{free_port()}"
    env = {"WEFT_CONTROLLER": nobody}
    for args, extra in ((["--controller", nobody, "status"], {}),
                        (["status"], env), (["--controller", nobody, "status"], env)):
        result = weft(*args, "-o", "json", "--controller", controller.url, env=extra,
                      use_controller=False)
        assert as_json(result)["store"] == controller.get("status")["store"], args
    refused(weft("status", "--controller", nobody, use_controller=False), nobody, status=3)


def test_command_options_keep_their_values(weft, controller):
    """In controller mode the command's parser knows every option: a value
    that looks like a global option stays the value it was given to."""
    ok(weft("segment", "add", "val-cli", "--vni", "5332", "--description", "--controller"))
    try:
        assert controller.get("segments/val-cli")["description"] == "--controller"
        ok(weft("segment", "set", "val-cli", "--description", "-o"))
        assert controller.get("segments/val-cli")["description"] == "-o"
    finally:
        ok(weft("segment", "del", "val-cli"))
    # After "--", everything is an operand: here a segment name.
    refused(weft("segment", "show", "--", "--controller"), "no segment '--controller'")


def test_global_option_errors_after_the_command(weft, controller, tmp_path):
    local = {"WEFT_SOCKET": str(tmp_path / "none.sock")}
    # Without a controller, an abbreviation after the command cannot choose
    # controller mode, and nothing is sent anywhere.
    refused(weft("segment", "list", "--contr", controller.url, env=local,
                 use_controller=False, token=False), "--controller in full", status=2)
    refused(weft("segment", "list", "--controler", controller.url, env=local,
                 use_controller=False, token=False), "--controler", status=2)
    refused(weft("segment", "list", "--controller", env=local, use_controller=False,
                 token=False), "requires an argument", status=2)
    refused(weft("segment", "list", "--controller", "127.0.0.1:7080", use_controller=False,
                 token=False), "invalid controller URL", status=2)
    refused(weft("segment", "list", "--controller=", use_controller=False, token=False),
            "empty", status=2)
    refused(weft("segment", "list", "--token-file=", use_controller=False), "empty", status=2)
    # After "--" it is an operand, and weft stays local: the local command
    # checks it as a VNI.
    refused(weft("segment", "show", "--", "--controller", env=local, use_controller=False,
                 token=False), "invalid VNI '--controller'", status=2)
    # Unknown options after the command, in controller mode.
    refused(weft("segment", "list", "--bogus"), "--bogus", "weft segment list --help",
            status=2)
    refused(weft("pool", "set", "p", "--range", "1-5"), "--range", status=2)


def test_local_only_command_is_refused(weft):
    refused(weft("peer", "list"), "unknown command 'peer'", status=2)


# ---- help ---------------------------------------------------------------------------

VERBS = {
    "zone": ["add", "set", "list", "show", "del"],
    "pool": ["add", "set", "list", "show", "del"],
    "segment": ["add", "set", "list", "show", "del"],
    "port": ["add", "set", "list", "show", "del"],
    "host": ["list", "show", "del"],
    "vtep": ["list"],
    "mac": ["list"],
    "arp": ["list"],
}


@pytest.mark.parametrize("group", sorted(VERBS))
def test_every_command_explains_itself(weft, group):
    out = ok(weft(group, "--help"))
    assert out.startswith(f"Usage: weft {group} ")
    for verb in VERBS[group]:
        assert f"weft {group} {verb}" in out
        text = ok(weft(group, verb, "--help"))
        assert text.startswith(f"Usage: weft {group} {verb}"), text
        assert "--help" in text
        assert max(len(line) for line in text.splitlines()) <= 80, text


def test_top_level_help(weft, controller):
    out = ok(weft("--help", use_controller=False, token=False))
    assert "--controller" in out and "WEFT_CONTROLLER" in out and "--token-file" in out
    out = ok(weft("--help", env={"WEFT_CONTROLLER": controller.url}, use_controller=False))
    assert out.startswith("Usage: weft --controller URL")
    for group in VERBS:
        assert f"\n  {group} " in out, group
    assert max(len(line) for line in out.splitlines()) <= 80
    result = weft()
    refused(result, "missing command", "segment", status=2)
