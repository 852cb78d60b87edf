"""A real `driftgate run` against a server that fails ~10% of sends in every way a
provider fails (issue #16): 429 with Retry-After, 5xx, timeouts, connection resets,
malformed JSON, empty choices, truncated bodies, and keep-alive connections reset while
reused. Nothing is lost, nothing is duplicated, every send is counted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fault_server import KINDS, FaultServer, fault_suite

import driftgate.cli.run  # noqa: F401 - registers the commands
from conftest import run_main, write_workspace

N_CASES = 400


def _rows(root: Path) -> list[dict]:
    rows = []
    for seg in (root / "runs").glob("*/results/*.jsonl"):
        rows += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return rows


def test_ten_percent_mixed_faults_lose_and_duplicate_nothing(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = write_workspace(tmp_path / "ws", n_cases=N_CASES)
    with FaultServer(rate=0.1, seed=16, stall_s=0.6) as server:
        fault_suite(root, server.url)
        code, out, err = run_main(capsys, monkeypatch, "run", "--quiet", "-w", str(root))
    rows = _rows(root)
    keys = Counter(r["key"] for r in rows)
    assert len(keys) == N_CASES and max(keys.values()) == 1  # none lost, none twice
    assert {r["case_id"] for r in rows} == {f"c{i:03d}" for i in range(N_CASES)}
    for r in rows:  # scored, or recorded as an error of a known kind
        assert (r["passed"] and r["error"] is None) or (r["error"] and r["error_kind"]), r
    # Every send the server read is an attempt some row counts: no hidden re-sends.
    assert sum(r["attempts"] for r in rows) == server.requests
    assert {(r["case_id"], r["repeat"]): r["attempts"] for r in rows} == dict(server.sends)
    assert set(server.injected) == set(KINDS), server.injected  # every fault kind happened
    assert sum(server.injected.values()) >= 0.05 * N_CASES
    retried = [r for r in rows if r["attempts"] > 1]
    assert len(retried) >= 0.05 * N_CASES
    assert code == 0, err  # the retry policy absorbed 10% faults: every case scored


def test_keep_alive_resets_on_reused_connections_are_counted_retries(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    n = 200
    root = write_workspace(tmp_path / "ws", n_cases=n)
    # Every connection serves 3 requests, then resets on the 4th it reads.
    with FaultServer(rate=0, reset_idle_after=3) as server:
        fault_suite(root, server.url)
        code, _, err = run_main(capsys, monkeypatch, "run", "--quiet", "-w", str(root))
    rows = _rows(root)
    assert code == 0, err
    assert len(rows) == n == len({r["key"] for r in rows})
    assert server.injected["reset_reused"] > 0
    assert sum(r["attempts"] for r in rows) == server.requests
    assert sum(r["attempts"] - 1 for r in rows) == server.injected["reset_reused"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_that_never_clears_is_recorded_as_that_error(
    tmp_path: Path, capsys, monkeypatch, kind: str
) -> None:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    root = write_workspace(tmp_path / "ws", n_cases=3)
    with FaultServer(rate=1.0, kinds=(kind,), stall_s=0.4) as server:
        fault_suite(root, server.url)
        text = (root / "evalsets" / "main.suite.yaml").read_text()
        (root / "evalsets" / "main.suite.yaml").write_text(
            text.replace("max_retries: 6", "max_retries: 1")
        )
        code, _, err = run_main(capsys, monkeypatch, "run", "--quiet", "-w", str(root))
    rows = _rows(root)
    assert code == 3, err  # provider errors over budget
    expected_kind = {
        "rate_limit": "rate_limit",
        "server": "server",
        "timeout": "timeout",
        "reset": "server",
        "malformed": "bad_response",
        "empty_choices": "bad_response",
        "truncated": "bad_response",
    }[kind]
    assert len(rows) == 3 and all(r["error_kind"] == expected_kind for r in rows), rows
    assert all(r["attempts"] == 2 for r in rows)
    assert server.requests == 6
