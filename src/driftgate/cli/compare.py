"""`driftgate compare` (two runs, two arms of a run, or run-and-compare) and `driftgate power`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._app import app
from ._common import JsonOption, WorkspaceOption, print_json, workspace

if TYPE_CHECKING:
    from ..compare.schema import Comparison


def _pair(value: str | None, option: str, *, allow_one: bool = False) -> list[str] | None:
    """Two comma-separated names (the sides), or one when the other axis holds the pair."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) != 2 and not (allow_one and len(items) == 1):
        from ..errors import ConfigError

        want = "one name (the other option names the pair) or two" if allow_one else "two"
        raise ConfigError(
            f"--{option} takes {want} comma-separated names, got {value!r}", field=option
        )
    return items


# Options of `driftgate compare`, named here so the command reads as what it does.
ArmAOption = typer.Option(
    None, "--arm-a", help="Arm of A: `PROMPT · MODEL` or a unique part of it."
)
ArmBOption = typer.Option(
    None, "--arm-b", help="Arm of B: `PROMPT · MODEL` or a unique part of it."
)
ModelsOption = typer.Option(None, "--models", help="Run the suite on two models and compare: A,B.")
PromptsOption = typer.Option(
    None, "--prompts", help="Run two prompt versions and compare: P@v1,P@v2."
)
ConfigOption = typer.Option(None, "--config", "-c", help="Suite file for --models/--prompts.")
MetricOption = typer.Option(
    "pass", "--metric", help="Decides the verdict: pass, score or a scorer metric."
)
ReducerOption = typer.Option(
    "mean", "--reducer", help="Repeats → one value per case: mean, majority, pass@k, all-k."
)
KOption = typer.Option(
    None, "--k", min=1, help="k for pass@k / all-k (default: the number of repeats)."
)
ClusterOption = typer.Option(
    None,
    "--cluster-by",
    help="Clustered errors by segment, tags, evalset, metadata.KEY or vars.KEY.",
)
MarginOption = typer.Option(
    0.0, "--margin", min=0, help="Tolerated drop (0.02 = 2 points of pass rate)."
)
ConfidenceOption = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Interval level.")
SeedOption = typer.Option(0, "--seed", min=0, help="Bootstrap seed (same seed, same numbers).")
RepeatOption = typer.Option(
    None, "--repeat", min=1, help="With --models/--prompts: repeat each case N times."
)
LimitOption = typer.Option(
    None, "--limit", min=1, help="With --models/--prompts: first N cases per golden set."
)
NoCacheOption = typer.Option(
    False, "--no-cache", help="With --models/--prompts: call providers again."
)
OutputOption = typer.Option(
    None, "--output", "-o", help="Write the comparison: .md .json .xml (JUnit) .html (repeatable)."
)
FlippedOption = typer.Option(
    None,
    "--flipped",
    min=0,
    help="Show up to N flipped cases (default: 10 on the terminal, 20 in a Markdown "
    "report; 0: the counts only).",
)
FailOnWorseOption = typer.Option(
    False, "--fail-on-worse", help="Exit 1 when the verdict is `worse`."
)


@app.command("compare")
def compare_cmd(
    run_a: str = typer.Argument(None, help="Run A (id, unique prefix or `latest`); the baseline."),
    run_b: str = typer.Argument(None, help="Run B, the candidate (default: another arm of run A)."),
    arm_a: str = ArmAOption,
    arm_b: str = ArmBOption,
    models: str = ModelsOption,
    prompts: str = PromptsOption,
    config: Path = ConfigOption,
    metric: str = MetricOption,
    reducer: str = ReducerOption,
    k: int = KOption,
    cluster_by: str = ClusterOption,
    margin: float = MarginOption,
    confidence: float = ConfidenceOption,
    seed: int = SeedOption,
    repeat: int = RepeatOption,
    limit: int = LimitOption,
    no_cache: bool = NoCacheOption,
    output: list[Path] = OutputOption,
    flipped: int | None = FlippedOption,
    fail_on_worse: bool = FailOnWorseOption,
    json_out: bool = JsonOption,
    ws_path: Path = WorkspaceOption,
) -> None:
    """Compare two arms on the cases both answered: paired deltas with intervals and
    p-values, per segment, flipped cases side by side, cost and latency deltas.

    \b
      driftgate compare RUN_A RUN_B                 two runs (arms matched by name)
      driftgate compare RUN --arm-a v1 --arm-b v2   two arms of one run
      driftgate compare --models sim/acme@v1,sim/acme@v2 [-c SUITE]
      driftgate compare --prompts cat@v1,cat@v2 [-c SUITE]

    With --models and a suite of several prompts, the two models are compared on each
    prompt in turn (and --prompts on each model): one comparison per pair, each report
    file named after the prompt or model held fixed; --json prints a list then.
    """
    from ..compare.runs import compare_runs_or_suite
    from ..report.compare import write_comparison

    comparisons = compare_runs_or_suite(
        run_a, run_b, arm_a=arm_a, arm_b=arm_b, suite=config, workspace=workspace(ws_path),
        # One name is enough on an axis when the other names the pair.
        models=_pair(models, "models", allow_one=bool(prompts and "," in prompts)),
        prompts=_pair(prompts, "prompts", allow_one=bool(models and "," in models)),
        repeat=repeat, limit=limit, no_cache=no_cache, metric=metric, reducer=reducer, k=k,
        cluster_by=cluster_by, confidence=confidence, seed=seed, margin=margin,
    )  # fmt: skip
    written = [
        (report_path(path, cmp, by_model=bool(models), several=len(comparisons) > 1), cmp)
        for path in output or []
        for cmp in comparisons
    ]
    for path, cmp in written:
        write_comparison(path, cmp, max_flipped=flipped)
    if json_out:
        dumped = [cmp.model_dump(mode="json") for cmp in comparisons]
        print_json(dumped[0] if len(dumped) == 1 else dumped)
    else:
        from ..report.compare_terminal import render_comparison

        for i, cmp in enumerate(comparisons):
            if len(comparisons) > 1:
                fixed = cmp.a.prompt if models else cmp.a.model
                print(f"{'' if i == 0 else chr(10)}── {i + 1}/{len(comparisons)}: on {fixed} ──")
            render_comparison(cmp, max_flipped=10 if flipped is None else flipped)
        for path, _ in written:
            print(f"report: {path}")
    worse = any(cmp.verdict == "worse" for cmp in comparisons)
    raise typer.Exit(1 if fail_on_worse and worse else 0)


def report_path(path: Path, cmp: Comparison, *, by_model: bool, several: bool) -> Path:
    """`path` itself for one comparison; with several (one per prompt or model held fixed),
    `diff.html` becomes `diff-categorize-zero-shot.html` and so on."""
    if not several:
        return path
    fixed = cmp.a.prompt if by_model else cmp.a.model
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", fixed).strip("-")
    return path.with_name(f"{path.stem}-{slug}{path.suffix}")


@app.command("power")
def power_cmd(
    baseline: float = typer.Option(
        ..., "--baseline", min=0, max=1, help="Current pass rate, e.g. 0.85."
    ),
    delta: float = typer.Option(
        None, "--delta", help="Change to detect, in pass rate (0.03 = 3 points)."
    ),
    correlation: float = typer.Option(
        None, "--correlation", min=-1, max=1, help="Correlation of paired outcomes (default 0.5)."
    ),
    discordance: float = typer.Option(
        None,
        "--discordance",
        min=0,
        max=1,
        help="Measured share of cases the versions disagree on (from a past comparison; beats --correlation).",
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", min=0.0001, max=0.5, help="Significance level (two-sided)."
    ),
    power: float = typer.Option(
        0.8, "--power", min=0.05, max=0.9999, help="Wanted chance of detecting it."
    ),
    cases: int = typer.Option(
        None, "--cases", min=1, help="A golden-set size: what can it detect?"
    ),
    json_out: bool = JsonOption,
) -> None:
    """Size a golden set: cases needed to detect a change of --delta (paired McNemar test),
    and with --cases N the smallest change N cases detect and the power at --delta."""
    from ..compare.power import golden_set_power

    plan = golden_set_power(
        baseline, delta=delta, cases=cases, alpha=alpha, power=power, correlation=correlation,
        discordance=discordance,
    )  # fmt: skip
    if json_out:
        print_json(plan.as_json())
        return
    rows = [
        ("baseline pass rate", f"{baseline * 100:.1f}%"),
        ("alpha / power", f"{alpha:g} / {power:.0%}"),
    ]
    if delta is not None:
        rows += [
            (
                "change to detect",
                f"{-delta * 100:+.1f} points ({baseline * 100:.1f}% → {(baseline - delta) * 100:.1f}%)",
            ),
            ("discordant share", f"{plan.discordance:.3f}"),
            ("cases needed", str(plan.cases_needed)),
        ]
    if cases is not None and plan.detectable_delta is not None:  # set whenever cases is
        rows.append(
            (f"detectable with {cases}", f"a drop of {plan.detectable_delta * 100:.1f} points")
        )
        if delta is not None:
            rows.append((f"power with {cases}", f"{plan.power_at_delta:.1%}"))
    width = max(len(label) for label, _ in rows) + 3
    for label, value in rows:
        print(f"{label:<{width}}{value}")
