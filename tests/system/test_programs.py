"""The three programs' command lines: --help, --version, usage errors, and
'weft drop-reasons' as a table and as JSON."""

import json
import re
import subprocess

import pytest

ALL_PROGRAMS = ["weftd", "weft-controller", "weft"]
# Drop reasons every release must list (scenario 1: an underlay too small for
# encapsulated frames must be reported, not silent).
REQUIRED_REASONS = ["runt", "vxlan_unknown_vni", "underlay_mtu"]


@pytest.mark.parametrize("name", ALL_PROGRAMS)
@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_explains_program_and_options(run, name, option):
    result = run(name, option)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith(f"Usage: {name} "), out
    assert "--help" in out and "--version" in out
    # Says what the program is, not just its syntax.
    assert "Weft" in out
    assert len(out.splitlines()) >= 8


@pytest.mark.parametrize("name", ALL_PROGRAMS)
@pytest.mark.parametrize("option", ["--version", "-V"])
def test_version_prints_name_and_project_version(run, name, option, project_version):
    result = run(name, option)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{name} {project_version}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("name", ALL_PROGRAMS)
def test_unknown_long_option_is_a_usage_error(run, name):
    result = run(name, "--no-such-option")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--no-such-option" in result.stderr
    assert f"{name} --help" in result.stderr


@pytest.mark.parametrize("name", ALL_PROGRAMS)
def test_unknown_short_option_is_a_usage_error(run, name):
    result = run(name, "-Z")
    assert result.returncode == 2
    assert "'Z'" in result.stderr
    assert f"{name} --help" in result.stderr


@pytest.mark.parametrize("name", ["weftd", "weft-controller"])
def test_daemons_reject_arguments(run, name):
    result = run(name, "extra")
    assert result.returncode == 2
    assert "'extra'" in result.stderr


def test_controller_that_cannot_start_says_why(run, tmp_path):
    # A controller that cannot start must fail loudly with a sentence rather
    # than pretend to serve (tests/system/test_controller_api.py has the rest).
    result = run("weft-controller", "--datadir", str(tmp_path / "no" / "such"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "weft-controller error: cannot create the data directory" in result.stderr


def test_weft_without_command_is_a_usage_error(run):
    result = run("weft")
    assert result.returncode == 2
    assert "no command" in result.stderr
    assert "weft --help" in result.stderr


def test_weft_unknown_command_is_a_usage_error(run):
    result = run("weft", "frobnicate")
    assert result.returncode == 2
    assert "'frobnicate'" in result.stderr


def test_weft_help_lists_commands(run):
    result = run("weft", "--help")
    assert re.search(r"^\s+drop-reasons\s+\S", result.stdout, re.M), result.stdout


def test_weft_global_options_after_the_command(run, drop_reasons_def):
    """--controller, --token-file, -o and -s may follow the command too (drop-reasons
    needs neither weftd nor a controller)."""
    for args in (["-o", "json", "--token-file", "/nonexistent", "-s", "/nonexistent"],
                 ["--controller", "http://127.0.0.1:9", "-o", "json"],
                 ["--controller=http://127.0.0.1:9", "--output=json"]):
        result = run("weft", "drop-reasons", *args)
        assert result.returncode == 0, (args, result.stderr)
        assert [(r["name"], r["help"]) for r in json.loads(result.stdout)] == drop_reasons_def
    # Controller mode has no local-only commands, wherever --controller is.
    result = run("weft", "peer", "list", "--controller", "http://127.0.0.1:9")
    assert result.returncode == 2 and "unknown command 'peer'" in result.stderr
    assert "--controller" in run("weft", "--help").stdout


@pytest.mark.parametrize("args,message", [
    (["--contr", "http://127.0.0.1:9"], "write --controller in full"),
    (["--controller"], "'--controller' requires an argument"),
    (["--token-file="], "--token-file is empty"),
    (["--controler=http://127.0.0.1:9"], "'--controler"),
])
def test_weft_global_option_errors_after_the_command(run, args, message):
    result = run("weft", "drop-reasons", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr, result.stderr


def test_drop_reasons_help(run):
    result = run("weft", "drop-reasons", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: weft drop-reasons")
    assert "-o" in result.stdout and "json" in result.stdout


def parse_table(stdout):
    """Rows of 'weft drop-reasons' as (name, help), checking the alignment."""
    lines = stdout.splitlines()
    header = lines[0]
    assert re.match(r"^NAME\s+DESCRIPTION$", header), header
    column = header.index("DESCRIPTION")
    rows = []
    for line in lines[1:]:
        name, gap, help_text = line[:column], line[column - 2:column], line[column:]
        assert gap == "  " and not help_text.startswith(" "), f"misaligned row: {line!r}"
        rows.append((name.rstrip(), help_text))
    return rows


def test_drop_reasons_table(run, drop_reasons_def):
    result = run("weft", "drop-reasons")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = parse_table(result.stdout)
    assert rows == drop_reasons_def
    names = [name for name, _ in rows]
    for reason in REQUIRED_REASONS:
        assert reason in names
    assert "none" not in names


@pytest.mark.parametrize("args", [["-o", "json"], ["--output=json"], ["--output", "json"]])
def test_drop_reasons_json(run, drop_reasons_def, args):
    result = run("weft", "drop-reasons", *args)
    assert result.returncode == 0, result.stderr
    reasons = json.loads(result.stdout)
    assert isinstance(reasons, list)
    assert all(set(r) == {"name", "help"} for r in reasons)
    assert [(r["name"], r["help"]) for r in reasons] == drop_reasons_def
    by_name = {r["name"]: r["help"] for r in reasons}
    for reason in REQUIRED_REASONS:
        assert by_name.get(reason), f"{reason} missing or without help"


def test_drop_reasons_table_format_is_explicit_too(run):
    assert run("weft", "drop-reasons", "-o", "table").stdout == run("weft", "drop-reasons").stdout


@pytest.mark.parametrize("args", [["-o", "xml"], ["-o"], ["extra"]])
def test_drop_reasons_usage_errors(run, args):
    result = run("weft", "drop-reasons", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "weft drop-reasons --help" in result.stderr
    if args[-1] != "-o":
        assert f"'{args[-1]}'" in result.stderr


def test_drop_reasons_reports_failed_write(program):
    # A full disk must not look like success to a script.
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(program("weft")), "drop-reasons"], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "writing output failed" in result.stderr
