"""The signal registry: one function per signal, registered by name with `@signal(...)`.

(Finding a signal by name, which loads the built-in signal modules and plugins first, is
`signal_lookup.py`: it sits above the built-ins, which import only this module.)

A signal function gets a context (the two sides being compared) and the minimum number of
observations it needs, and returns a `Measurement` — or raises `InsufficientData`. The
registry turns that into a `SignalResult`: it picks the threshold (config, then tuned, then
the signal's default or the adaptive one the measurement proposes) and the verdict
(`value > threshold` is drift). So a new signal is one decorated function:

    @signal("toxicity_rate", threshold=3.0, floor=2.0, min_n=50, description="…")
    def toxicity_rate(ctx: CheckContext, min_n: int) -> Measurement:
        ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InsufficientData as InsufficientData  # defined there, re-exported
from .schema import SignalResult, ThresholdSource

Kind = Literal["check", "traffic"]


@dataclass(slots=True)
class Measurement:
    """What a signal function measured. `threshold` is an adaptive default (e.g. one that
    depends on the sample sizes), used when neither config nor tuning sets one."""

    value: float
    n: int
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None


SignalFn = Callable[[Any, int], Measurement]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    name: str
    kind: Kind
    fn: SignalFn
    threshold: float | None  # None: the measurement's adaptive threshold
    floor: float  # the smallest threshold tuning may choose
    min_n: int
    tunable: bool
    unit: str
    description: str
    enabled: bool  # on unless a config says otherwise


SIGNALS: dict[str, SignalSpec] = {}


def signal(
    name: str,
    *,
    kind: Kind = "check",
    threshold: float | None = None,
    floor: float = 0.0,
    min_n: int = 30,
    tunable: bool = True,
    unit: str = "",
    description: str = "",
    enabled: bool = True,
) -> Callable[[SignalFn], SignalFn]:
    """Register a signal function under `name` (a later registration replaces it)."""

    def deco(fn: SignalFn) -> SignalFn:
        SIGNALS[name] = SignalSpec(
            name,
            kind,
            fn,
            threshold,
            floor,
            min_n,
            tunable,
            unit,
            description or (fn.__doc__ or "").strip(),
            enabled,
        )
        return fn

    return deco


def evaluate_signal(
    spec: SignalSpec,
    ctx: Any,
    *,
    config_threshold: float | None = None,
    tuned_threshold: float | None = None,
    min_n: int | None = None,
) -> SignalResult:
    """Run one signal and decide its verdict."""
    need = min_n or spec.min_n
    try:
        m = spec.fn(ctx, need)
    except InsufficientData as exc:
        need = exc.min_n or need
        return SignalResult(
            name=spec.name,
            verdict="insufficient_data",
            n=exc.n,
            min_n=need,
            summary=f"insufficient data: {exc.reason}",
        )
    threshold: float | None
    source: ThresholdSource
    if config_threshold is not None:
        threshold, source = config_threshold, "config"
    elif tuned_threshold is not None:
        threshold, source = tuned_threshold, "tuned"
    elif spec.threshold is not None:
        threshold, source = spec.threshold, "default"
    else:
        threshold, source = m.threshold, "adaptive"
    if threshold is None or not math.isfinite(m.value):
        return SignalResult(
            name=spec.name,
            value=None,
            verdict="insufficient_data",
            n=m.n,
            min_n=need,
            summary=f"insufficient data: {m.summary}",
            detail=m.detail,
        )
    # Rounded before deciding, so a verdict re-derived from the stored numbers (history,
    # tuning) is the verdict that was reported.
    value, threshold = round(float(m.value), 6), round(float(threshold), 6)
    return SignalResult(
        name=spec.name,
        value=value,
        threshold=threshold,
        threshold_source=source,
        verdict="drift" if value > threshold else "ok",
        n=m.n,
        min_n=need,
        summary=m.summary,
        detail=m.detail,
    )
