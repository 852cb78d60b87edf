"""`driftgate ui` as a user starts it: a real server process on loopback, and the refusal
to serve beyond loopback without a token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import run_main


def test_beyond_loopback_without_a_token_is_refused(
    ws_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFTGATE_UI_TOKEN", raising=False)
    code, out, err = run_main(capsys, monkeypatch, "ui", "--host", "0.0.0.0", "-w", str(ws_root))
    assert code == 2
    assert "without a token" in err and "--token" in err


def test_ui_serves_until_interrupted(ws_root: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DRIFTGATE_UI_TOKEN": "t0ken"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftgate.cli", "ui", "--port", str(port), "-w", str(ws_root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/runs", timeout=1)
            except urllib.error.HTTPError as exc:
                assert exc.code == 401  # the token from the environment is required
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/runs?token=t0ken", timeout=5)
        assert page.status == 200 and b"Runs" in page.read()
    finally:
        proc.send_signal(subprocess.signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://localhost:{port}/" in out and "t0ken" not in out + err
