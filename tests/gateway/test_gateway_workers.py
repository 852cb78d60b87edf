# ruff: noqa: F811 - pytest fixtures imported from gwkit are parameters by the same name
"""Several gateway processes on one workspace: a canary rollback made through one worker,
and alias moves made by the library, are served by another worker without a restart;
`driftgate serve --workers 2` starts, serves and shuts down cleanly; an edited route file
is served from the next request on."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gwkit import ROUTE, chat, gw_root, write_route  # noqa: F401 - fixtures
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from driftgate.gateway import create_app
from driftgate.registry.moves import promote, rollback
from driftgate.registry.prompts import find_prompt
from driftgate.registry.record import register_artifacts
from driftgate.router import Router, read_decisions, read_feedback
from driftgate.workspace import Workspace

DRIFTGATE = str(Path(sys.executable).with_name("driftgate"))
STARTUP_S = 30.0  # two processes starting at once on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(root: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`driftgate serve` in its own process over `root`: its base URL, once ready; stopped
    with SIGINT (a graceful shutdown) on the way out."""
    port = free_port()
    proc = subprocess.Popen(
        [DRIFTGATE, "serve", "--port", str(port), "--log-level", "warning", *extra],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"driftgate serve exited ({proc.returncode}): {out}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"driftgate serve at {base} was not ready within {STARTUP_S} s")


def arm_of(http: httpx.Client, base: str, user: str) -> str:
    r = http.post(f"{base}/v1/chat/completions", json=chat("route/cat", user=user))
    assert r.status_code == 200, r.text
    return r.headers["x-driftgate-arm"]


def version_of(http: httpx.Client, base: str, model: str) -> str:
    r = http.post(f"{base}/v1/chat/completions", json=chat(model))
    assert r.status_code == 200, r.text
    return r.headers["x-driftgate-version"].partition(";digest=")[2]


def register_two_versions(root: Path) -> tuple[str, str]:
    """cat@1 (production) and cat@2 (registered, not promoted); the prompt file is left as
    v1, which the route serves. Returns both digests."""
    prompt = root / "prompts" / "cat.yaml"
    original = prompt.read_text()
    register_artifacts(root, "cat")
    promote("cat@1", skip_gate=True, force=True, reason="test", workspace=root)
    prompt.write_text(original.replace("version: v1", "version: v2").replace("Pick", "Choose"))
    register_artifacts(root, "cat")
    prompt.write_text(original)
    ws = Workspace.find(root)
    return find_prompt(ws, "cat@1").digest, find_prompt(ws, "cat@2").digest


def test_a_rollback_and_alias_moves_reach_a_second_worker_without_a_restart(
    gw_root: Path,
) -> None:
    v1, v2 = register_two_versions(gw_root)
    reference = Router("cat", workspace=gw_root)  # the library's assignment, before the move
    users = [f"user-{i}" for i in range(80)]
    on_candidate = [u for u in users if reference.choose(u).name == "candidate"]
    assert on_candidate
    with (
        serving(gw_root) as (a, _),
        serving(gw_root) as (b, _),
        httpx.Client(timeout=10) as http,
    ):
        assert {arm_of(http, b, u) for u in on_candidate} == {"candidate"}
        assert version_of(http, b, "cat@production") == v1
        # Feedback by id alone lands on either worker: the id names its route.
        for model in ("route/cat", "cat@production"):
            answered = http.post(f"{a}/v1/chat/completions", json=chat(model)).json()["id"]
            fb = http.post(f"{b}/v1/feedback", json={"request_id": answered, "verdict": "accept"})
            assert fb.status_code == 200, fb.text
            assert fb.json()["route"] == ("cat" if model == "route/cat" else "@gateway")
        rolled_back = False
        for i in range(600):  # users accept production's answers, reject the candidate's
            r = http.post(f"{a}/v1/chat/completions", json=chat("route/cat", user=f"u{i}"))
            verdict = "accept" if r.headers["x-driftgate-arm"] == "production" else "reject"
            fb = http.post(f"{a}/v1/feedback", json={"request_id": r.json()["id"],
                                                      "verdict": verdict})  # fmt: skip
            canary = fb.json()["canary"]
            if canary and canary["action"] == "rollback":
                rolled_back, moved_at = True, time.time()
                break
        assert rolled_back and canary["rollback_arms"] == ["candidate"]
        # Worker B, which routed these users to the candidate, now routes them by the new
        # weights: no request reaches the rolled-back arm.
        assert {arm_of(http, b, u) for u in on_candidate} == {"production"}
        families = text_string_to_metric_families(http.get(f"{b}/metrics").text)
        weights = {
            s.labels["arm"]: s.value
            for f in families
            if f.name == "driftgate_gateway_canary_weight"
            for s in f.samples
            if s.labels["route"] == "cat"
        }
        assert weights == {"production": 100.0, "candidate": 0.0}
        # Alias moves made by the library while both serve.
        promote("cat@2", skip_gate=True, force=True, reason="test", workspace=gw_root)
        assert version_of(http, b, "cat@production") == v2
        assert version_of(http, a, "cat@production") == v2
        rollback("prompt/cat", reason="test", workspace=gw_root)
        assert version_of(http, b, "cat@production") == v1
    logged = read_decisions(Workspace.find(gw_root), "cat")
    assert not [d for d in logged if d.arm == "candidate" and d.ts > moved_at]


def test_serve_with_two_workers_starts_serves_and_shuts_down_cleanly(gw_root: Path) -> None:
    with serving(gw_root, "--workers", "2") as (base, proc), httpx.Client(timeout=10) as http:
        ids = []
        for i in range(30):  # a new connection each: either worker may take it
            fresh = {"connection": "close"}
            r = http.post(f"{base}/v1/chat/completions", json=chat("route/cat", user=f"u{i}"),
                          headers=fresh)  # fmt: skip
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
            fb = http.post(f"{base}/v1/feedback", json={"request_id": ids[-1],
                           "verdict": "accept"}, headers=fresh)  # fmt: skip
            assert fb.status_code == 200, fb.text
        assert http.get(f"{base}/readyz").json()["status"] == "ready"
        # A scrape lands on either worker; each one sums both workers' counts.
        for _ in range(6):
            text = http.get(f"{base}/metrics", headers={"connection": "close"}).text
            served = sum(
                s.value
                for f in text_string_to_metric_families(text)
                if f.name == "driftgate_gateway_requests"
                for s in f.samples
                if s.name.endswith("_total") and s.labels["kind"] == "route"
            )
            assert served == 30, text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    logged = read_decisions(Workspace.find(gw_root), "cat")
    # Graceful: every answer and its shadow call were logged before the workers exited.
    assert sorted(d.id for d in logged if not d.shadow) == sorted(ids)
    assert sorted(d.id for d in logged if d.shadow) == sorted(ids)
    fed = read_feedback(Workspace.find(gw_root), "cat")
    assert sorted(f.request_id for f in fed) == sorted(ids)


def test_an_edited_route_file_is_served_from_the_next_request(gw_root: Path) -> None:
    with TestClient(create_app(gw_root)) as c:
        r = c.post("/v1/chat/completions", json=chat("route/cat", user="u1"))
        assert r.headers["x-driftgate-arm"] in ("production", "candidate")
        before = c.app.state.gateway.pool.routers["cat"]  # type: ignore[attr-defined]
        only = ROUTE.replace("weight: 80", "weight: 0").replace("weight: 20", "weight: 100")
        write_route(gw_root, only, "cat")
        arms = {c.post("/v1/chat/completions", json=chat("route/cat", user=f"u{i}"))
                .headers["x-driftgate-arm"] for i in range(20)}  # fmt: skip
        assert arms == {"candidate"}
        after = c.app.state.gateway.pool.routers["cat"]  # type: ignore[attr-defined]
        assert after is not before and after.digest != before.digest
        write_route(gw_root, only.replace("prompt: cat@v1", "prompt: cat@v9"), "cat")
        r = c.post("/v1/chat/completions", json=chat("route/cat"))
        assert r.status_code == 500 and r.json()["error"]["code"] == "bad_route"
        assert c.get("/readyz").json()["failed"].keys() == {"cat"}
        (gw_root / "routes" / "cat.yaml").unlink()
        r = c.post("/v1/chat/completions", json=chat("route/cat"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        assert c.get("/readyz").status_code == 200
    digests = {d.route_digest for d in read_decisions(Workspace.find(gw_root), "cat")}
    assert digests == {before.digest, after.digest}  # both routers flushed their logs
