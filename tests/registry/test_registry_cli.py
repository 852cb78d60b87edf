"""The registry commands end to end through `driftgate.cli.main` (exit codes included)."""

import json
from pathlib import Path

import pytest

import driftgate.cli.registry  # noqa: F401 - registers the commands (cli/__init__ will import it)
from conftest import run_main


def cli(capsys, monkeypatch, root: Path, *args: str) -> tuple[int, str, str]:
    return run_main(capsys, monkeypatch, *args, "-w", str(root))


def set_model(root: Path, model: str) -> None:
    p = root / "prompts" / "cat.yaml"
    lines = [f"model: {model}" if x.startswith("model:") else x for x in p.read_text().splitlines()]
    p.write_text("\n".join(lines) + "\n")


def test_register_versions_promote_gate_rollback_audit(ws_root: Path, capsys, monkeypatch):
    run = lambda *a: cli(capsys, monkeypatch, ws_root, *a)  # noqa: E731
    code, out, _ = run("register")
    assert code == 0 and "registered prompt/cat@1" in out
    assert "unchanged  prompt/cat@1" in run("register", "prompt/cat")[1]
    code, out, _ = run("promote", "prompt/cat@1")
    assert code == 0 and "production of prompt/cat: (unset) → prompt/cat@1" in out
    set_model(ws_root, "sim/acme@v1?accuracy=0.5")
    run("register")
    code, out, err = run("gate", "prompt/cat@2")
    assert code == 1 and "gate FAILED" in out and "FAIL  non-inferiority" in out
    code, out, err = run("promote", "prompt/cat@2")
    assert code == 1 and "gate FAILED" in out and "nothing moved" in err
    code, out, err = run("promote", "prompt/cat@2", "--force")
    assert code == 2 and "--reason" in err
    code, out, _ = run("promote", "prompt/cat@2", "--force", "--reason", "vendor outage")
    assert code == 0 and "(gate failed; forced)" in out
    code, out, _ = run("versions", "prompt/cat")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[4]) for r in rows] == [("1", "previous"), ("2", "production")]
    code, out, _ = run("rollback", "prompt/cat", "--reason", "pages")
    assert code == 0 and "rolled back" in out
    code, out, _ = run("aliases", "prompt/cat", "--json")
    assert {(r["alias"], r["seq"]) for r in json.loads(out)} == {("production", 1), ("previous", 2)}
    code, out, _ = run("audit", "prompt/cat")
    assert out.count("promote") == 2 and "FORCED" in out and "why: vendor outage" in out
    assert "gate: FAIL" in out and "rollback" in out
    code, out, _ = run("diff", "prompt/cat@1", "@2")
    assert (
        code == 0 and "-model: sim/perfect@v1" in out and "+model: sim/acme@v1?accuracy=0.5" in out
    )
    assert "pass rate 1.000" in out  # stored runs of both versions


def test_bad_input_exits_2_and_moves_nothing(ws_root: Path, capsys, monkeypatch):
    run = lambda *a: cli(capsys, monkeypatch, ws_root, *a)  # noqa: E731
    run("register")
    code, _, err = run("promote", "prompt/cat@5")
    assert code == 2 and "prompt/cat@5 does not exist" in err
    code, _, err = run("promote", "prompt/cat@production", "--to", "production")
    assert code == 2 and "alias cycle" in err
    (ws_root / "gates").mkdir()
    (ws_root / "gates/cat.yaml").write_text("floors:\n  - {metric: acuracy, min: 0.9}\n")
    code, _, err = run("promote", "prompt/cat@1")
    assert code == 2 and "unknown metric 'acuracy'" in err and "gates/cat.yaml" in err
    (ws_root / "gates/cat.yaml").write_text("required_evalsets: [holdout]\n")
    code, _, err = run("gate", "prompt/cat@1")
    assert code == 2 and "holdout" in err
    assert not (ws_root / ".driftgate/registry/aliases.json").exists()
    assert not (ws_root / ".driftgate/registry/audit.jsonl").exists()


def test_corrupt_state_verify_and_repair(ws_root: Path, capsys, monkeypatch):
    run = lambda *a: cli(capsys, monkeypatch, ws_root, *a)  # noqa: E731
    run("register")
    run("promote", "prompt/cat@1", "--to", "candidate")
    assert run("registry", "verify")[0] == 0
    state = ws_root / ".driftgate/registry/aliases.json"
    state.write_text(state.read_text()[:-20])
    code, _, err = run("aliases")
    assert code == 2 and "corrupt alias state" in err and "registry repair" in err
    assert run("registry", "verify")[0] == 2
    code, out, _ = run("registry", "repair")
    assert code == 0 and "repaired" in out
    code, out, _ = run("aliases", "--json")
    assert [(r["alias"], r["seq"]) for r in json.loads(out)] == [("candidate", 1)]
    assert "nothing to repair" in run("registry", "repair")[1]


@pytest.mark.parametrize("args", [("versions", "prompt/dog"), ("diff", "prompt/cat@1", "@9")])
def test_unknown_artifacts_exit_2(ws_root: Path, capsys, monkeypatch, args):
    cli(capsys, monkeypatch, ws_root, "register")
    code, _, err = cli(capsys, monkeypatch, ws_root, *args)
    assert code == 2 and err.startswith("error:")


def test_a_promote_that_loses_the_race_exits_4_and_says_where_the_alias_is(
    ws_root: Path, capsys, monkeypatch
):
    import driftgate.registry.moves as moves
    from driftgate.errors import EXIT_ALIAS_MOVED
    from driftgate.registry import Registry, promote

    run = lambda *a: cli(capsys, monkeypatch, ws_root, *a)  # noqa: E731
    force = ("--force", "--skip-gate", "--reason", "test")
    run("register")
    assert run("promote", "prompt/cat@1", *force)[0] == 0
    for model in ("sim/perfect@v1?seed=2", "sim/perfect@v1?seed=3"):
        set_model(ws_root, model)
        run("register")
    real_pause = moves.pause

    def someone_else_promotes(point: str) -> None:
        if point == "gate":
            monkeypatch.setattr(moves, "pause", real_pause)
            promote("prompt/cat@3", workspace=ws_root, force=True, skip_gate=True, reason="x")

    monkeypatch.setattr(moves, "pause", someone_else_promotes)
    code, _, err = run("promote", "prompt/cat@2", *force)
    assert code == EXIT_ALIAS_MOVED == 4
    assert "moved while you were gating" in err and "concurrent" in err
    assert "now points to @3" in err and "nothing moved" in err and "again" in err
    assert Registry.of(ws_root).aliases_of("prompt/cat")["production"] == (
        Registry.of(ws_root).find("cat@3").digest
    )
