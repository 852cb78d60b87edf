"""`drift traffic`: prompt drift on logged production inputs, and unreviewed prompt changes.

    report = check_traffic("logs/inputs.jsonl", field="description", window=1000)
    report.alert, report.signals, report.unreviewed

Production inputs (a JSONL log, one request per line) are compared with the inputs of the
suite's golden sets — is the traffic still what the prompt and its golden set were built
for? — and, with `reference=` (another log) or `window=N` (the last N records against the
N before them), with a reference window, where logged confidence and feedback (edits,
overrides) are compared too. The signals are in `traffic_signals.py`. The report also
lists the prompt files (of the workspace, or only the suite's) whose current digest no
stored run evaluated. It alerts when a trigger rule fires; an unreviewed prompt is a notice
unless the drift settings say `traffic: {unreviewed: alert}`. The report is stored under
the suite's drift folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from ..prompt import Prompt
from ..registry.prompts import find_prompt, workspace_prompts
from ..store.runs import RunStore
from ..suite import Suite
from ..workspace import Workspace
from . import _stats
from .config import DriftConfig
from .schema import SignalResult, TrafficReport, UnreviewedArtifact
from .signal_lookup import signal_specs
from .signal_registry import evaluate_signal
from .store import new_id
from .target import Target
from .traffic_signals import Record, TrafficContext, flat, lookup, read_log
from .triggers import fired_rules
from .vectorize import Vectorizer, resolve_vectorizer


def check_traffic(
    inputs: Path | str | list[Record] | None = None,
    *,
    route: str | None = None,
    suite: Suite | Path | str | None = None,
    workspace: Workspace | Path | str | None = None,
    field: str | None = None,
    reference: Path | str | list[Record] | None = None,
    window: int | None = None,
    categorical: list[str] | None = None,
    config: DriftConfig | None = None,
    vectorizer: str | Vectorizer | None = None,
    check_unreviewed: bool = True,
    unreviewed_scope: Literal["workspace", "suite"] = "workspace",
    save: bool = True,
    source: str | None = None,
) -> TrafficReport:
    """Compare logged inputs with the golden sets (and a reference window); see the module.

    The inputs are `inputs` (a JSONL log, or records) or, with `route`, that route's own
    traffic log (`driftgate route`), feedback included: one of the two. `source` names
    records passed as a list in the report (e.g. "route categorize"); a file is named by
    its path.
    """
    target = Target(suite, workspace=workspace, config=config)
    cfg = target.config
    tcfg = cfg.traffic
    current, source = _inputs(target.ws, inputs, route, source)
    ref, current, ref_name = _reference(target.ws, current, reference, window)
    golden = [case.vars for ref_ in target.suite.evalsets for case in target.ws.evalset(ref_)]
    name = _text_field(target, field or tcfg.field, golden, current, path=_path_of(inputs, source))
    ctx = _context(cfg, name, golden, current, ref, categorical, vectorizer)
    signals = _signals(target, ctx)
    report = TrafficReport(
        id=new_id(),
        key=target.key,
        inputs=source,
        field=name,
        records=len(current),
        reference=ref_name,
        signals=signals,
        fired=fired_rules(signals, tcfg.triggers),
    )
    if len(current) > (limit := tcfg.max_records):
        report.notes.append(f"{len(current)} records: compared on a seeded sample of {limit}")
    if check_unreviewed:
        _add_unreviewed(target, report, unreviewed_scope)
    report.unreviewed_alerts = tcfg.unreviewed == "alert"
    report.alert = bool(report.fired or (report.unreviewed and report.unreviewed_alerts))
    if save:
        target.store.save_traffic(report)
    return report


def _inputs(
    ws: Workspace,
    inputs: Path | str | list[Record] | None,
    route: str | None,
    source: str | None,
) -> tuple[list[Record], str]:
    """The records to check and how the report names them: a log file, records given in
    Python, or a route's traffic log."""
    if (inputs is None) == (route is None):
        raise ConfigError("give --inputs FILE or --route NAME (one of them)", field="inputs")
    if route is not None:
        from ..router import load_route_ref, traffic_records

        route_name = load_route_ref(ws, route).name
        inputs = traffic_records(ws, route_name)
        source = source or f"route {route_name}"
    assert inputs is not None  # one of the two, checked above
    current = _records(ws, inputs, "inputs")
    if source is None:
        source = str(inputs) if not isinstance(inputs, list) else "records given in Python"
    return current, source


def _path_of(inputs: Path | str | list[Record] | None, source: str) -> str | None:
    """The log file to name in an error about its records (none for records in memory)."""
    return source if inputs is not None and not isinstance(inputs, list) else None


def _reference(
    ws: Workspace,
    current: list[Record],
    reference: Path | str | list[Record] | None,
    window: int | None,
) -> tuple[list[Record] | None, list[Record], str | None]:
    """The reference window (another log, or the `window` records before the last
    `window`), the current records left to compare, and the reference's name."""
    if reference is not None and window is not None:
        raise ConfigError("give --reference or --window, not both", field="window")
    if reference is not None:
        ref = _records(ws, reference, "reference")
        ref_name = str(reference) if not isinstance(reference, list) else "records given in Python"
        return ref, current, ref_name
    if window is None:
        return None, current, None
    if window < 1 or len(current) < 2 * window:
        raise ConfigError(
            f"--window {window} needs at least {2 * window} records; the log has {len(current)}",
            field="window",
        )
    ref_name = f"the {window} records before the last {window}"
    return current[-2 * window : -window], current[-window:], ref_name


def _text_field(
    target: Target,
    field: str | None,
    golden: list[Record],
    current: list[Record],
    *,
    path: str | None,
) -> str:
    """The input text field compared: given, else guessed; some record must have it."""
    name = field or _guess_field(target, golden)
    if not any(isinstance(lookup(r, name), str) for r in current):
        raise ConfigError(
            f"no log record has a text field {name!r}",
            path=path,
            field=name,
            hint=f"fields of the first record: {', '.join(sorted(flat(current[0]))[:12])}",
        )
    return name


def _context(
    cfg: DriftConfig,
    name: str,
    golden: list[Record],
    current: list[Record],
    ref: list[Record] | None,
    categorical: list[str] | None,
    vectorizer: str | Vectorizer | None,
) -> TrafficContext:
    """What the signals read: each side a seeded sample of at most `traffic.max_records`
    (larger inputs are subsampled, each side with its own seed so a check repeats)."""
    tcfg, limit = cfg.traffic, cfg.traffic.max_records
    vectorize, _ = resolve_vectorizer(vectorizer if vectorizer is not None else cfg.vectorizer)
    return TrafficContext(
        field=name,
        golden=_stats.subsample(golden, limit, cfg.seed),
        current=_stats.subsample(current, limit, cfg.seed + 1),
        reference=_stats.subsample(ref, limit, cfg.seed + 2) if ref is not None else None,
        categorical=list(categorical or tcfg.categorical),
        vectorize=vectorize,
        seed=cfg.seed,
        far_quantile=tcfg.far_quantile,
    )


def _signals(target: Target, ctx: TrafficContext) -> list[SignalResult]:
    """Every enabled traffic signal, each at its configured or tuned threshold."""
    cfg = target.config
    tuned = target.tuned()
    signals = []
    for spec in signal_specs("traffic"):
        s = cfg.settings(spec.name, "traffic")
        if not (s.enabled if s.enabled is not None else spec.enabled):
            continue
        signals.append(
            evaluate_signal(
                spec,
                ctx,
                config_threshold=s.threshold,
                tuned_threshold=tuned.threshold(spec.name) if tuned else None,
                min_n=s.min_n,
            )
        )
    return signals


def _add_unreviewed(
    target: Target, report: TrafficReport, scope: Literal["workspace", "suite"]
) -> None:
    """Prompts (the suite's, or every prompt file) whose digest no run evaluated."""
    prompts = (
        [find_prompt(target.ws, ref_) for ref_ in target.suite.prompts]
        if scope == "suite"
        else None
    )  # None: every prompt file of the workspace
    report.unreviewed = unreviewed_artifacts(target.ws, prompts)
    for u in report.unreviewed:
        report.notes.append(
            f"prompt {u.ref} ({u.source}) has digest {u.digest}, which no run evaluated"
            + (f"; last evaluated: {', '.join(u.evaluated_digests)}" if u.evaluated_digests else "")
        )


def _records(ws: Workspace, source: Path | str | list[Record], what: str) -> list[Record]:
    if isinstance(source, list):
        records = source
    else:
        path = Path(source)
        if not path.is_absolute():
            path = Path.cwd() / path if (Path.cwd() / path).exists() else ws.root / path
        records = read_log(path)
    if not records:
        raise ConfigError(
            f"the {what} log has no records", path=None if isinstance(source, list) else source
        )
    return records


def _guess_field(target: Target, golden: list[Record]) -> str:
    """The one text variable the suite's prompts use, when there is exactly one."""
    used: set[str] = set()
    for ref in target.suite.prompts:
        used |= find_prompt(target.ws, ref).template_variables()
    texts = sorted(v for v in used if any(isinstance(g.get(v), str) for g in golden[:50]))
    if len(texts) == 1:
        return texts[0]
    raise ConfigError(
        "cannot tell which input field to compare"
        + (f" (the prompts use {', '.join(texts)})" if texts else ""),
        field="field",
        hint="pass --field NAME, or set `traffic: {field: NAME}` in the drift settings",
    )


# ---- unreviewed changes ------------------------------------------------------------------
# A prompt's identity is the digest of its normalized definition, and every run manifest
# records the digests it evaluated. A prompt edited and shipped without a run has a digest
# no manifest knows: an unreviewed change, whatever the traffic looks like.


def evaluated_digests(ws: Workspace) -> dict[str, list[tuple[str, str]]]:
    """prompt name → [(digest, run id)] over every stored run with results, oldest first."""
    out: dict[str, list[tuple[str, str]]] = {}
    for manifest in RunStore(ws.runs_dir).list():
        if manifest.summary is None or not manifest.summary.results:
            continue  # a run killed before any result evaluated nothing
        for p in manifest.prompts:
            out.setdefault(p.name, []).append((p.digest, manifest.id))
    return out


def unreviewed_artifacts(
    ws: Workspace, prompts: list[Prompt] | None = None
) -> list[UnreviewedArtifact]:
    """The prompts (default: every prompt of the workspace) whose digest no run evaluated."""
    seen = evaluated_digests(ws)
    out = []
    for p in prompts if prompts is not None else workspace_prompts(ws):
        history = seen.get(p.name, [])
        if any(d == p.digest for d, _ in history):
            continue
        out.append(
            UnreviewedArtifact(
                ref=p.ref,
                digest=p.digest,
                source=str(p.source.relative_to(ws.root)) if p.source else None,
                evaluated_digests=list(dict.fromkeys(d for d, _ in history))[-5:],
                last_evaluated_run=history[-1][1] if history else None,
            )
        )
    return out
