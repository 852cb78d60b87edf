"""Shared fixtures: a small workspace on the in-process simulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

LABELS = ["groceries", "dining", "transport", "rent"]


def write_workspace(
    root: Path, *, n_cases: int = 40, model: str = "sim/perfect@v1", suite_extra: str = ""
) -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evalsets").mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "prompts" / "cat.yaml").write_text(
        "name: cat\n"
        "version: v1\n"
        f"model: {model}\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        "messages:\n"
        "  - {role: system, content: 'Pick one of: " + ", ".join(LABELS) + "'}\n"
        "  - {role: user, content: '{{ description }}'}\n"
        "output: {type: label, labels: [" + ", ".join(LABELS) + "]}\n"
    )
    with (root / "evalsets" / "tx.jsonl").open("w") as fh:
        for i in range(n_cases):
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i:03d}",
                        "vars": {"description": f"merchant {i}"},
                        "expected": LABELS[i % len(LABELS)],
                        "segment": "cohort=new" if i % 4 == 0 else "cohort=old",
                        "tags": ["even"] if i % 2 == 0 else ["odd"],
                    }
                )
                + "\n"
            )
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat@v1]\n"
        "evalsets: [tx]\n"
        "scorers:\n"
        "  - {type: label-match, metric: category}\n"
        "metrics: [accuracy, macro_f1]\n"
        "pass_threshold: 0.5\n" + suite_extra
    )
    return root


@pytest.fixture
def ws_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    return write_workspace(tmp_path / "ws")


def run_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, str, str]:
    """`driftgate ARGV` through `driftgate.cli.main` as a shell runs it: exit code, stdout,
    stderr (library errors become exit 2 there, as for users)."""
    from driftgate.cli import main

    monkeypatch.setattr(sys, "argv", ["driftgate", *argv])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def served(ws_root: Path) -> Any:
    """Route `cat` with 40 answered requests (segment by bank), a shadow on another model,
    and user feedback: 4 rejected, 4 edited, 12 accepted, the rest silent (the review
    queue's tests and the UI's)."""
    import asyncio

    from driftgate.router import Router
    from driftgate.workspace import Workspace

    fast = "latency_ms=0&latency_jitter_ms=0"
    (ws_root / "routes").mkdir()
    (ws_root / "routes" / "cat.yaml").write_text(
        "prompt: cat\nsegment_by: bank\narms:\n"
        f"  - {{name: main, prompt: cat@v1, model: 'sim/acme@v1?{fast}&accuracy=0.7', weight: 100}}\n"
        f"shadow:\n  - {{name: other, prompt: cat@v1, model: 'sim/acme@v2?{fast}&accuracy=0.5', sample: 1.0}}\n"
    )  # fmt: skip

    async def serve() -> None:
        router = Router("cat", workspace=ws_root)
        for i in range(40):
            bank = "lumen" if i % 2 else "northwind"
            await router.complete(
                {"description": f"merchant {i}", "bank": bank},
                request_id=f"r{i:02d}",
                expected=LABELS[i % len(LABELS)],
            )
            if i < 4:
                router.feedback(f"r{i:02d}", "reject")
            elif i < 8:
                router.feedback(f"r{i:02d}", "edit", correction="rent")
            elif i < 20:
                router.feedback(f"r{i:02d}", "accept")
        await router.aclose()

    asyncio.run(serve())
    return Workspace.find(ws_root)


@pytest.fixture(scope="session")
def s3_server() -> Any:
    """A loopback S3 server (moto) for the whole session (tests/s3.py)."""
    from s3 import start

    yield from start()


@pytest.fixture
def s3_url(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket's URL, with this process's environment pointed at the server."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return f"s3://{s3_server.new_bucket()}/team"
