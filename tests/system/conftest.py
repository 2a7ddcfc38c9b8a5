"""Shared fixtures of Weft's system tests.

The programs under test come from a meson build directory: WEFT_BUILD_DIR
(absolute, or relative to the repository root), build/asan by default, which
is what scripts/test.sh builds. A missing build or program fails the tests
that need it; it never skips them.
"""

import os
import pathlib
import re
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Program name -> path inside the build directory.
PROGRAMS = {
    "weftd": "src/weftd/weftd",
    "weft-controller": "src/controller/weft-controller",
    "weft": "src/cli/weft",
}

# Sanitizer reports must fail a test even where the exit status is not checked.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:print_stacktrace=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}
SANITIZER_REPORT = re.compile(r"(ERROR: \w+Sanitizer|runtime error:|SUMMARY: \w+Sanitizer)")


@pytest.fixture(scope="session")
def build_dir():
    path = pathlib.Path(os.environ.get("WEFT_BUILD_DIR", "build/asan"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path / "build.ninja").is_file():
        pytest.fail(f"{path} is not a meson build directory: run ./scripts/test.sh "
                    f"or set WEFT_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def program(build_dir):
    """program(name) -> absolute path of a built program; fails if it is missing."""

    def path_of(name):
        path = build_dir / PROGRAMS[name]
        if not os.access(path, os.X_OK):
            pytest.fail(f"{name} is not built at {path}: run ninja -C {build_dir}")
        return path

    return path_of


@pytest.fixture(scope="session")
def run(program):
    """run(name, *args) -> subprocess.CompletedProcess with text stdout/stderr.

    Fails the test when the program prints a sanitizer report."""

    def run_program(name, *args, timeout=30):
        env = dict(os.environ)
        for key, value in SANITIZER_ENV.items():
            env.setdefault(key, value)
        env["LC_ALL"] = "C"
        result = subprocess.run([str(program(name)), *args], capture_output=True, text=True,
                                timeout=timeout, env=env, check=False)
        if SANITIZER_REPORT.search(result.stderr):
            pytest.fail(f"sanitizer report from {name} {' '.join(args)}:\n{result.stderr}")
        return result

    return run_program


@pytest.fixture(scope="session")
def project_version():
    """The version in the top-level meson.build's project() call."""
    text = (REPO_ROOT / "meson.build").read_text()
    match = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", text, re.S)
    assert match, "no version in meson.build's project()"
    return match.group(1)


@pytest.fixture(scope="session")
def drop_reasons_def():
    """[(name, help)] from src/core/drop_reasons.def, in order."""
    text = (REPO_ROOT / "src/core/drop_reasons.def").read_text()
    entries = re.findall(r'^DROP_REASON\(\s*\w+\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*'
                         r'"((?:[^"\\]|\\.)*)"\s*\)', text, re.M)
    assert entries, "no DROP_REASON entries in drop_reasons.def"

    def unescape(s):
        return re.sub(r"\\(.)", r"\1", s)

    return [(unescape(name), unescape(help_text)) for name, help_text in entries]


@pytest.fixture(scope="module", autouse=True)
def namespaces_cleaned():
    """Every test module starts without stale lab namespaces and leaves none behind."""
    from lab import cleanup_stale, own_namespaces

    cleanup_stale()
    yield
    left = own_namespaces()
    assert not left, f"namespaces left behind: {left}"

