"""Prompt-drift signals on logged production inputs (the flow is in `traffic.py`).

A log record is a JSON object; the input text is `field` at the top level or under
`vars` / `input`. Current inputs are compared with the golden set's inputs and, when there
is one, with a reference window:

  input_shift         domain-classifier ROC AUC, golden set vs current inputs
  far_inputs          share of inputs farther from every golden case than the golden set's
                      own nearest-neighbour distances (calibrated at `far_quantile`)
  psi_categorical     largest PSI over categorical fields (bank, currency, …)
  psi_length          PSI of input lengths, binned on the golden set's deciles
  input_shift_window  domain-classifier AUC, reference window vs current
  psi_window          largest PSI (categorical fields and lengths), reference vs current
  confidence_drop     drop of a logged `confidence`, reference vs current (z)
  edit_rate           increase of feedback edits, reference vs current (z)
  override_rate       increase of overrides / rejections, reference vs current (z)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as _field  # the context has a member named `field`
from pathlib import Path
from typing import Any

import numpy as np

from . import _stats
from .signal_registry import InsufficientData, Measurement, signal
from .vectorize import Vectorizer, tfidf, vectorizer_name

Record = dict[str, Any]


@dataclass
class TrafficContext:
    field: str
    golden: list[Record]  # the golden set's case vars
    current: list[Record]
    reference: list[Record] | None = None
    categorical: list[str] = _field(default_factory=list)
    vectorize: Vectorizer = tfidf
    seed: int = 0
    far_quantile: float = 0.95

    def texts(self, records: list[Record]) -> list[str]:
        return [t for t in (lookup(r, self.field) for r in records) if isinstance(t, str)]


def lookup(record: Record, name: str) -> Any:
    """`name` at the top level of a log record, else under `vars` or `input`."""
    if name in record:
        return record[name]
    for nest in ("vars", "input", "inputs"):
        inner = record.get(nest)
        if isinstance(inner, dict) and name in inner:
            return inner[name]
    return None


def read_log(path: Path) -> list[Record]:
    """The records of a JSONL log; a bad line is an error naming it."""
    from .._files import iter_json_objects, read_text

    return [
        rec for _, rec in iter_json_objects(read_text(path).splitlines(), path, what="a log record")
    ]


# ---- against the golden set ------------------------------------------------------------


def _auc(ctx: TrafficContext, a: list[str], b: list[str], min_n: int, what: str) -> Measurement:
    if min(len(a), len(b)) < min_n:
        raise InsufficientData(
            min(len(a), len(b)), f"{len(a)} and {len(b)} inputs; needs {min_n} a side"
        )
    X = ctx.vectorize(a + b)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(int)
    auc = _stats.domain_auc(X, y, seed=ctx.seed)
    sd = _stats.auc_null_sd(len(a), len(b))
    return Measurement(
        auc,
        len(a) + len(b),
        f"a classifier tells current inputs from {what} with ROC AUC {auc:.3f}",
        {
            "n_a": len(a),
            "n_b": len(b),
            "null_sd": sd,
            "vectorizer": vectorizer_name(ctx.vectorize, "custom"),
        },
        threshold=max(0.55, 0.5 + 3.0 * sd),
    )


@signal(
    "input_shift",
    kind="traffic",
    floor=0.52,
    min_n=20,
    unit="ROC AUC",
    description="Domain classifier AUC, golden-set inputs vs production inputs",
)
def input_shift(ctx: TrafficContext, min_n: int) -> Measurement:
    return _auc(ctx, ctx.texts(ctx.golden), ctx.texts(ctx.current), min_n, "golden-set inputs")


@signal(
    "far_inputs",
    kind="traffic",
    floor=0.0,
    min_n=20,
    unit="share",
    description="Share of inputs farther from every golden case than the golden set's own spread",
)
def far_inputs(ctx: TrafficContext, min_n: int) -> Measurement:
    g, c = ctx.texts(ctx.golden), ctx.texts(ctx.current)
    if len(g) < min_n or len(c) < min_n:
        raise InsufficientData(
            min(len(g), len(c)), f"{len(g)} golden and {len(c)} current inputs; needs {min_n}"
        )
    X = ctx.vectorize(g + c)
    G, C = X[: len(g)], X[len(g) :]
    # Calibrated on the golden set itself: each case's distance to its nearest *other* case.
    limit = float(np.quantile(_stats.nn_cosine_distance(G, G, exclude_self=True), ctx.far_quantile))
    dist = _stats.nn_cosine_distance(C, G)
    far = dist > limit
    share = float(far.mean())
    expected = 1.0 - ctx.far_quantile
    examples = [c[i] for i in np.flatnonzero(far)[:3]]
    return Measurement(
        share,
        len(c),
        f"{share:.1%} of inputs are far from every golden case "
        f"(expected ~{expected:.0%}; distance > {limit:.3f})",
        {
            "distance_threshold": limit,
            "expected_share": expected,
            "far": int(far.sum()),
            "examples": examples,
        },
        threshold=expected + 3.0 * math.sqrt(expected * (1 - expected) / len(c)),
    )


def _psi_threshold(k: int, n_a: int, n_b: int) -> float:
    # Between two samples of one distribution PSI ≈ (1/n_a + 1/n_b) · χ²(k - 1): keep the
    # usual 0.1 ("moderate shift") but stay above the 99.9% point of that noise, which for
    # a few hundred records and a few bins is well over 0.1.
    from scipy.stats import chi2

    return max(0.1, float(chi2.ppf(0.999, max(k - 1, 1))) * (1.0 / n_a + 1.0 / n_b))


def flat(record: Record) -> Record:
    """Top-level fields with those under `vars` / `input` merged in (top level wins)."""
    out: Record = {}
    for nest in ("inputs", "input", "vars"):
        inner = record.get(nest)
        if isinstance(inner, dict):
            out.update(inner)
    out.update({k: v for k, v in record.items() if not isinstance(v, dict)})
    return out


# Fields of a route's log records that say how a request was served, not what was asked:
# the arm moves with every canary step by design, and feedback has signals of its own.
SERVING_FIELDS = frozenset({"arm", "feedback", "id", "ts"})


def categorical_fields(golden: list[Record], current: list[Record], given: list[str]) -> list[str]:
    """The given fields, or those that look categorical: strings with ≤ 20 distinct values."""
    if given:
        return given
    names: dict[str, set[Any]] = {}
    for rec in golden:
        for k, v in flat(rec).items():
            if k.split(".", 1)[0] in SERVING_FIELDS:
                continue
            names.setdefault(k, set()).add(v if isinstance(v, str) else None)
    return [
        k
        for k, vals in names.items()
        if None not in vals
        and 1 < len(vals) <= 20
        and any(lookup(r, k) is not None for r in current[:200])
    ]


def _max_psi(pairs: list[tuple[str, list[Any], list[Any]]], min_n: int) -> Measurement:
    rows: list[dict[str, Any]] = []
    for name, a, b in pairs:
        if min(len(a), len(b)) >= min_n:
            k = len(set(a) | set(b))
            rows.append(
                {
                    "field": name,
                    "psi": _stats.psi(a, b),
                    "threshold": _psi_threshold(k, len(a), len(b)),
                }
            )
    if not rows:
        raise InsufficientData(0, f"no field with {min_n} values a side")
    worst = max(rows, key=lambda r: r["psi"] / r["threshold"])
    return Measurement(
        worst["psi"],
        len(rows),
        f"largest PSI {worst['psi']:.3f} on {worst['field']}",
        {"fields": rows, "worst": worst["field"]},
        threshold=worst["threshold"],
    )


@signal(
    "psi_categorical",
    kind="traffic",
    floor=0.0,
    min_n=20,
    unit="PSI",
    description="Largest population stability index over categorical input fields",
)
def psi_categorical(ctx: TrafficContext, min_n: int) -> Measurement:
    fields = categorical_fields(ctx.golden, ctx.current, ctx.categorical)
    if not fields:
        raise InsufficientData(0, "no categorical field (name them with --categorical)")
    return _max_psi([(f, _values(ctx.golden, f), _values(ctx.current, f)) for f in fields], min_n)


def _values(records: list[Record], name: str) -> list[str]:
    return [str(v) for v in (lookup(r, name) for r in records) if v is not None]


@signal(
    "psi_length",
    kind="traffic",
    floor=0.0,
    min_n=20,
    unit="PSI",
    description="PSI of input lengths on the golden set's length deciles",
)
def psi_length(ctx: TrafficContext, min_n: int) -> Measurement:
    g = [len(t) for t in ctx.texts(ctx.golden)]
    c = [len(t) for t in ctx.texts(ctx.current)]
    if min(len(g), len(c)) < min_n:
        raise InsufficientData(min(len(g), len(c)), f"{len(g)} and {len(c)} inputs; needs {min_n}")
    m = _max_psi([("length", _stats.numeric_bins(g, g), _stats.numeric_bins(g, c))], min_n)
    m.summary = (
        f"input length PSI {m.value:.3f} (median {np.median(g):.0f} → {np.median(c):.0f} chars)"
    )
    return m


# ---- against the reference window -------------------------------------------------------


def _reference(ctx: TrafficContext) -> list[Record]:
    if ctx.reference is None:
        raise InsufficientData(0, "no reference window (--reference FILE or --window N)")
    return ctx.reference


@signal(
    "input_shift_window",
    kind="traffic",
    floor=0.52,
    min_n=20,
    unit="ROC AUC",
    description="Domain classifier AUC, reference window vs current inputs",
)
def input_shift_window(ctx: TrafficContext, min_n: int) -> Measurement:
    return _auc(
        ctx, ctx.texts(_reference(ctx)), ctx.texts(ctx.current), min_n, "the reference window"
    )


@signal(
    "psi_window",
    kind="traffic",
    floor=0.0,
    min_n=20,
    unit="PSI",
    description="Largest PSI (categorical fields, lengths), reference window vs current",
)
def psi_window(ctx: TrafficContext, min_n: int) -> Measurement:
    ref = _reference(ctx)
    rl = [len(t) for t in ctx.texts(ref)]
    cl = [len(t) for t in ctx.texts(ctx.current)]
    pairs: list[tuple[str, list[Any], list[Any]]] = [
        (f, _values(ref, f), _values(ctx.current, f))
        for f in categorical_fields(ref, ctx.current, ctx.categorical)
    ]
    if min(len(rl), len(cl)) >= min_n:
        pairs.append(("length", _stats.numeric_bins(rl, rl), _stats.numeric_bins(rl, cl)))
    return _max_psi(pairs, min_n)


def _proxy(ctx: TrafficContext, min_n: int, get: Any, what: str, sign: float) -> Measurement:
    cur = [v for v in map(get, ctx.current) if v is not None]
    if len(cur) < min_n:
        raise InsufficientData(len(cur), f"{len(cur)} records carry {what}; needs {min_n}")
    ref = [v for v in map(get, _reference(ctx)) if v is not None]
    if len(ref) < min_n:
        raise InsufficientData(
            len(ref), f"{len(ref)} reference records carry {what}; needs {min_n}"
        )
    a, b = np.array(ref, float), np.array(cur, float)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    z = _stats.z_of(sign * (b.mean() - a.mean()), se)
    return Measurement(
        z,
        a.size + b.size,
        f"{what} {a.mean():.3f} → {b.mean():.3f} (z={z:.2f})",
        {"mean_reference": float(a.mean()), "mean_current": float(b.mean()), "stderr": se},
    )


def _number(rec: Record, name: str) -> float | None:
    v = lookup(rec, name)
    if v is None and isinstance(rec.get("feedback"), dict):
        v = rec["feedback"].get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _feedback(rec: Record, kinds: tuple[str, ...], flag: str) -> float | None:
    fb = rec.get("feedback")
    action = fb.get("action") if isinstance(fb, dict) else fb
    if isinstance(action, str):
        return 1.0 if action.lower() in kinds else 0.0
    v = rec.get(flag)
    return float(v) if isinstance(v, bool) else None


@signal(
    "confidence_drop",
    kind="traffic",
    threshold=3.0,
    floor=2.0,
    min_n=20,
    unit="z",
    description="Drop of the logged model confidence, reference vs current",
)
def confidence_drop(ctx: TrafficContext, min_n: int) -> Measurement:
    return _proxy(ctx, min_n, lambda r: _number(r, "confidence"), "mean confidence", -1.0)


@signal(
    "edit_rate",
    kind="traffic",
    threshold=3.0,
    floor=2.0,
    min_n=20,
    unit="z",
    description="Increase of user edits (feedback), reference vs current",
)
def edit_rate(ctx: TrafficContext, min_n: int) -> Measurement:
    return _proxy(
        ctx, min_n, lambda r: _feedback(r, ("edit", "edited"), "edited"), "edit rate", 1.0
    )


@signal(
    "override_rate",
    kind="traffic",
    threshold=3.0,
    floor=2.0,
    min_n=20,
    unit="z",
    description="Increase of overrides and rejections (feedback), reference vs current",
)
def override_rate(ctx: TrafficContext, min_n: int) -> Measurement:
    kinds = ("override", "overridden", "reject", "rejected")
    return _proxy(ctx, min_n, lambda r: _feedback(r, kinds, "overridden"), "override rate", 1.0)
