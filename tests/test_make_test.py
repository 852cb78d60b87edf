"""`make test` runs exactly what CI runs, the browser tests included: a missing Chromium
fails them there (with how to get it) instead of passing by skipping."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_make_test_and_make_test_installs_and_requires_the_browser():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [
        ln for ln in ci.splitlines() if ln.strip() and not ln.startswith(("#", "set ", "cd "))
    ]
    assert commands == ["make test"]
    make = (ROOT / "Makefile").read_text()
    assert "\ntest: $(STAMP) browser\n" in make
    assert "DRIFTGATE_REQUIRE_BROWSER=1 $(BIN)/pytest" in make
    assert "apt-get install -y -qq chromium" in make


def _browser_tests(require: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRIFTGATE_CHROMIUM": "/nonexistent/chromium"}
    env.pop("DRIFTGATE_REQUIRE_BROWSER", None)
    if require:
        env["DRIFTGATE_REQUIRE_BROWSER"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "slow",
            "-p",
            "no:cacheprovider",
            "tests/report/test_html_browser.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )


def test_missing_chromium_fails_under_make_test_and_skips_under_bare_pytest():
    required = _browser_tests(require=True)
    assert required.returncode == 1, required.stdout[-2000:]
    assert "make test needs headless Chromium" in required.stdout
    assert "make browser" in required.stdout
    bare = _browser_tests(require=False)
    assert bare.returncode == 0 and "skipped" in bare.stdout, bare.stdout[-2000:]
