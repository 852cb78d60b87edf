"""`driftgate register | versions | diff | gate | promote | rollback | aliases | audit`,
and `driftgate registry repair | verify | unset`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

registry_app = typer.Typer(
    help="Maintain the artifact registry's alias state.", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")

SuiteOption = typer.Option(
    None, "--config", "-c", help="Suite to gate with (default: the workspace's)."
)
PolicyOption = typer.Option(
    None,
    "--policy",
    help="Gate policy file (default: gates/NAME.yaml, gates/default.yaml, built in).",
)
ModelOption = typer.Option(
    None, "--model", "-m", help="Model to gate on when the suite lists several."
)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "–"


@app.command("register")
def register_cmd(
    target: str = typer.Argument(
        None, help="A file, KIND/NAME or a prompt NAME (default: everything)."
    ),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Record the current version of artifacts in the registry (same content: same version)."""
    from ..registry import register_artifacts

    errors: list[str] = []
    done = register_artifacts(workspace(ws_path), target, errors=errors)
    if json_out:
        print_json(
            [{"created": c, **r.model_dump(mode="json", exclude={"definition"})} for r, c in done]
        )
    else:
        for rec, created in done:
            state = "registered" if created else "unchanged "
            print(f"{state} {rec.ref:<32} {rec.digest}  {rec.source or ''}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        raise typer.Exit(2)


@app.command("versions")
def versions_cmd(
    target: str = typer.Argument(..., help="KIND/NAME, e.g. prompt/categorize"),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """List the versions of an artifact, with the aliases pointing at each."""
    from ..registry import list_versions

    rows, warnings = list_versions(target, workspace=workspace(ws_path))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if json_out:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print(f"{'seq':>4}  {'digest':<12}  {'created':<19}  {'aliases':<24}  source")
    for r in rows:
        print(
            f"{r.seq:>4}  {r.digest:<12}  {_when(r.created_at):<19}  {','.join(r.aliases):<24}  {r.source or ''}"
        )


@app.command("diff")
def diff_cmd(
    a: str = typer.Argument(..., help="KIND/NAME@x"),
    b: str = typer.Argument(..., help="@y (same artifact) or KIND/NAME@y"),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Diff two versions (normalized definitions) and show how each scored in stored runs."""
    from ..registry import diff_versions

    d = diff_versions(a, b, workspace=workspace(ws_path))
    if json_out:
        print_json(d.model_dump(mode="json"))
        return
    print(d.diff or f"{d.a} and {d.b} have the same definition")
    for label, rows in ((d.a, d.evals_a), (d.b, d.evals_b)):
        print(f"\nruns of {label}:" + ("" if rows else " none stored"))
        for r in rows:
            rate = f"{r.pass_rate:.3f}" if r.pass_rate is not None else "–"
            print(
                f"  {r.run_id}  {_when(r.created_at)}  pass rate {rate}  ({r.results or 0} results)  {r.arm}"
            )


@app.command("gate")
def gate_cmd(
    candidate: str = typer.Argument(..., help="A registered version: prompt/NAME@N"),
    against: str = typer.Option("production", "--against", help="An alias or a version (@N)."),
    config: Path = SuiteOption,
    policy: Path = PolicyOption,
    model: str = ModelOption,
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Evaluate the gate policy for a candidate version (exit 0 pass, 1 fail, 2 bad input)."""
    from ..gate import gate
    from ..report.gate import render_verdict

    verdict = gate(
        candidate, against, suite=config, policy=policy, workspace=workspace(ws_path), model=model
    )
    if json_out:
        print_json(verdict.model_dump(mode="json"))
    else:
        print(render_verdict(verdict))
    raise typer.Exit(0 if verdict.passed else 1)


@app.command("promote")
def promote_cmd(
    ref: str = typer.Argument(..., help="The version to promote: KIND/NAME@N (or @DIGEST, @ALIAS)"),
    to: str = typer.Option("production", "--to", help="Alias to move."),
    force: bool = typer.Option(
        False, "--force", help="Promote even if the gate fails (needs --reason)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why: recorded in the audit log."),
    skip_gate: bool = typer.Option(
        False, "--skip-gate", help="Do not evaluate the gate (needs --force)."
    ),
    config: Path = SuiteOption,
    policy: Path = PolicyOption,
    model: str = ModelOption,
    json_out: bool = JsonOption,
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress lines while the gate runs its suite."
    ),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Gate a version, then point an alias at it (the old production becomes `previous`).

    Few-shot sets and indexes have no production: prompt versions pin them by digest, so
    promote the prompt version bound to a new set (`driftgate retrain` registers one). A
    route's rule (`rule/ROUTE@candidate`) is gated by the canary of the arm serving it.

    Exit codes: 0 moved (or already there), 1 the gate failed, 2 bad input, 4 the alias
    moved concurrently while the gate ran (another promote or rollback won the
    compare-and-swap): nothing moved; the message says where it points now; run again.
    """
    from ..engine.progress import quiet as quiet_progress
    from ..registry import GateFailed, promote
    from ..report.gate import render_verdict

    try:
        with quiet_progress(quiet):
            if ref.startswith("rule/"):  # a route's rule: gated by its arm's canary
                from ..router.operations import promote_rule

                result = promote_rule(
                    ref, to, workspace=workspace(ws_path), force=force, reason=reason,
                    skip_gate=skip_gate,
                )  # fmt: skip
            else:
                result = promote(
                    ref,
                    to,
                    force=force,
                    reason=reason,
                    skip_gate=skip_gate,
                    suite=config,
                    policy=policy,
                    model=model,
                    workspace=workspace(ws_path),
                )
    except GateFailed as exc:
        if json_out:
            print_json({"moved": False, "verdict": exc.verdict.model_dump(mode="json")})
        else:
            print(render_verdict(exc.verdict))
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    if result.verdict is not None:
        print(render_verdict(result.verdict))
    print(result.message)


@app.command("rollback")
def rollback_cmd(
    target: str = typer.Argument(..., help="KIND/NAME"),
    reason: str = typer.Option(None, "--reason", help="Why: recorded in the audit log."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Move production back to previous (and previous to the rolled-back version).

    A prompt version pins its few-shot set and index, so rolling back the prompt restores
    exactly the messages that served before; few-shot sets and indexes are not rolled back
    on their own.
    """
    from ..registry import rollback

    result = rollback(target, reason=reason, workspace=workspace(ws_path))
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print(result.message)


@app.command("aliases")
def aliases_cmd(
    target: str = typer.Argument(None, help="KIND/NAME (default: every artifact)."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Show where each alias points."""
    from ..registry.history import alias_rows

    rows = alias_rows(workspace(ws_path), target)
    if json_out:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        print("no aliases set")
    for r in rows:
        seq = f"@{r.seq}" if r.seq else "(missing version)"
        print(f"{r.target:<32} {r.alias:<12} {seq:<6} {r.digest}")


@app.command("audit")
def audit_cmd(
    target: str = typer.Argument(None, help="KIND/NAME (default: every artifact)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Most recent N entries."),
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """The append-only log of alias moves: who, when, from, to, why, gate verdict."""
    from ..registry import Registry, parse_ref

    reg = Registry.of(workspace(ws_path))
    entries = reg.aliases.audit(parse_ref(target).target if target else None)[-limit:]
    if json_out:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    for e in entries:
        move = f"{_seq(e.from_seq, e.from_digest)} → {_seq(e.to_seq, e.to_digest)}"
        flags = " FORCED" if e.forced else ""
        print(f"{_when(e.ts)}  {e.who:<10} {e.action:<8} {e.target} {e.alias} {move}{flags}")
        if e.reason:
            print(f"    why: {e.reason}")
        if e.gate:
            print(f"    gate: {e.gate}")
    if any(e.who == "unknown" for e in entries):
        print(
            "note: moves by `unknown` had no DRIFTGATE_USER, USER, LOGNAME or git user.name; "
            "set DRIFTGATE_USER (e.g. in CI) to name who moves aliases",
            file=sys.stderr,
        )


def _seq(seq: int | None, digest: str | None) -> str:
    return f"@{seq}" if seq else (digest or "(unset)")


@registry_app.command("repair")
def repair_cmd(ws_path: Path = WorkspaceOption) -> None:
    """Rebuild the alias state from the audit log (after corruption or a bad edit)."""
    from ..registry import repair

    problem, state = repair(workspace(ws_path))
    if problem is None:
        print("alias state is healthy and matches the audit log; nothing to repair")
    else:
        print(f"repaired: {problem}")
        print(
            f"rebuilt {sum(len(a) for a in state.aliases.values())} aliases of {len(state.aliases)} artifacts"
        )


@registry_app.command("verify")
def verify_cmd(ws_path: Path = WorkspaceOption) -> None:
    """Check the alias state's checksum and that every alias points at a stored version."""
    from ..registry.history import verify_aliases

    aliases, counter = verify_aliases(workspace(ws_path))
    print(f"ok: {aliases} aliases, state counter {counter}")


@registry_app.command("unset")
def unset_cmd(
    target: str = typer.Argument(..., help="KIND/NAME"),
    alias: str = typer.Argument(..., help="A label (not production or previous)."),
    reason: str = typer.Option(None, "--reason", help="Recorded in the audit log."),
    ws_path: Path = WorkspaceOption,
) -> None:
    """Remove an alias label."""
    from ..registry import unset_alias

    print(unset_alias(target, alias, reason=reason, workspace=workspace(ws_path)).message)
