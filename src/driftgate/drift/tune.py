"""`drift tune`: thresholds from the history of past checks, so the trigger rarely cries wolf.

Past checks without drift show how much each statistic moves by chance: the sampling noise
of the golden set, the provider's own nondeterminism, latency jitter. Each threshold is
put at the (1 - alpha) quantile of its signal's past values (the larger of the empirical
quantile and a normal tolerance limit, so a small history does not put it low), with one
alpha for all signals, and alpha is the largest for which the *trigger* (k-of-n rules, any arm) would
have fired on at most `safety × target` of the past checks. That rate is estimated
leave-one-check-out — each check judged with thresholds from the others, because a
threshold fitted on a check always spares it — and, as a floor, from each signal's own
exceedance rate as if signals were independent (a steadier estimate than a count of a
few alarms). `safety` (default 0.8) leaves room for the
noise of an estimate from a few dozen checks.

Signals that are not tunable (a fingerprint change) or whose threshold is fixed in the
config keep their threshold; a tuned threshold never goes under the signal's floor (the
smallest change worth reporting). The report says what each threshold can then detect.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..summary import wilson
from ._tune_stats import PastValues, RulePatterns
from .config import DriftConfig
from .schema import DriftCheck, TunedSignal, TuningReport
from .signal_lookup import signal_specs
from .signal_registry import SignalSpec
from .triggers import rule_fires

if TYPE_CHECKING:
    from ..suite import Suite
    from ..workspace import Workspace
    from .target import Target

_Z80 = NormalDist().inv_cdf(0.8)
# Tail probabilities tried per signal, from very strict to lax.
_ALPHAS = np.geomspace(0.0005, 0.5, 40)


def _validated(
    checks: Sequence[DriftCheck],
    cfg: DriftConfig,
    target: float | None,
    safety: float,
    min_history: int,
) -> tuple[float, list[DriftCheck]]:
    """The target rate to use and the checks to tune on, or a ConfigError saying why not."""
    target = cfg.target_false_alarm_rate if target is None else target
    if not 0 < target < 1:
        raise ConfigError(
            f"the target false-alarm rate must be in (0, 1), got {target}", field="target"
        )
    if not 0 < safety <= 1:
        raise ConfigError(f"safety must be in (0, 1], got {safety}", field="safety")
    usable = [c for c in checks if c.status == "checked" and c.arms]
    if len(usable) < min_history:
        raise ConfigError(
            f"{len(usable)} past checks; tuning needs at least {min_history}",
            field="history",
            hint="run `driftgate drift check` on a schedule and tune once history builds up",
        )
    return target, usable


class _Tuner:
    """The thresholds one alpha gives, and the false-alarm rate they would have had.

    Kept together because every alpha tried re-reads the same history, specs and
    fixed thresholds; the subset enumeration of `_Patterns` is cached across alphas."""

    def __init__(self, usable: list[DriftCheck], cfg: DriftConfig) -> None:
        self.usable, self.cfg = usable, cfg
        self.specs = {s.name: s for s in signal_specs("check")}
        # Not tuned: signals that cannot be (a fingerprint) and thresholds fixed in the config.
        self.fixed = {
            n: cfg.settings(n).threshold
            for n in self.specs
            if not self.specs[n].tunable or cfg.settings(n).threshold is not None
        }
        self.names = [n for n in self.specs if n not in self.fixed]
        self.hist = PastValues(usable, self.names)
        self.patterns = RulePatterns(cfg)

    def thresholds(self, alpha: float, skip: int | None = None) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for n in self.names:
            q = self.hist.quantile(n, alpha, skip)
            out[n] = max(q, self.specs[n].floor) if q is not None else None
        return out

    def drifted(
        self,
        values: dict[str, float | None],
        verdicts: dict[str, str],
        names: list[str],
        th: dict[str, float | None],
    ) -> set[str]:
        """The signals of one row over their threshold: tuned, fixed, else as recorded."""
        out = set()
        for n in names:
            v = values.get(n)
            if n in th:
                t = th[n]
                if v is not None and t is not None and v > t:
                    out.add(n)
            elif n in self.fixed and (f := self.fixed[n]) is not None:
                if v is not None and v > f:
                    out.add(n)
            elif verdicts.get(n) == "drift":
                out.add(n)
        return out

    def loo_rate(self, alpha: float) -> float:
        """max(observed leave-one-out alarm rate, the rate if signals were independent).

        The observed rate counts a handful of alarms and is noisy; the independence model
        uses each signal's own (better estimated) exceedance rate. Taking the larger keeps
        the correlation the observed rate sees, without its luck."""
        per_check = {i: self.thresholds(alpha, skip=i) for i in range(len(self.usable))}
        alarmed, p = self._observed(per_check)
        self._at_least_alpha(p, alpha)
        quiet = np.ones(len(self.usable))
        for i, values, _, names in self.hist.rows:
            avail = [n for n in names if values.get(n) is not None or n not in per_check[i]]
            quiet[i] *= 1.0 - self.patterns.probability(avail, names, p)
        return max(len(alarmed) / len(self.usable), float(np.mean(1.0 - quiet)))

    def _observed(
        self, per_check: dict[int, dict[str, float | None]]
    ) -> tuple[set[int], dict[str, float]]:
        """Checks whose trigger fired leave-one-out, and each signal's exceedance rate."""
        alarmed: set[int] = set()
        hits: dict[str, int] = {}
        seen: dict[str, int] = {}
        for i, values, verdicts, names in self.hist.rows:
            d = self.drifted(values, verdicts, names, per_check[i])
            if any(rule_fires(d, r, names) for r in self.cfg.triggers):
                alarmed.add(i)
            for n in names:
                if values.get(n) is not None or n not in per_check[i]:
                    seen[n] = seen.get(n, 0) + 1
                    hits[n] = hits.get(n, 0) + (n in d)
        return alarmed, {n: hits[n] / seen[n] for n in seen}

    def _at_least_alpha(self, p: dict[str, float], alpha: float) -> None:
        """A count of a few exceedances is noisy: a signal at its (1 - alpha) quantile
        exceeds it with probability alpha by construction; one held at its floor, with the
        normal fit's tail probability there. Take the larger of the two (in place)."""
        full = self.thresholds(alpha)
        for n in self.names:
            t = full.get(n)
            if n in p and t is not None:
                floor = self.specs[n].floor
                p[n] = max(p[n], alpha if t > floor else self.hist.normal_tail(n, t))

    def choose_alpha(self, aim: float, target: float) -> tuple[float, float, list[str]]:
        """The laxest alpha whose rate stays under `aim` (strict → lax; stop at the first
        over it), its rate, and a note when even the strictest is over."""
        chosen, rate = None, None
        for alpha in _ALPHAS:
            r = self.loo_rate(float(alpha))
            if r > aim:
                break
            chosen, rate = float(alpha), r
        if chosen is not None and rate is not None:
            return chosen, rate, []
        strictest = float(_ALPHAS[0])
        rate = self.loo_rate(strictest)
        note = (
            f"even the strictest thresholds would have alarmed on {rate:.1%} of past checks "
            f"(target {target:.1%}): signals outside tuning (fixed thresholds, fingerprints) fire"
        )
        return strictest, rate, [note]

    def tuned_signals(self, alpha: float, report: TuningReport) -> None:
        """Each tuned signal's threshold at `alpha` and what it detects, into `report`."""
        final = self.thresholds(alpha)
        for name in self.names:
            t = final[name]
            vals = self.hist.values(name)
            if t is None:
                report.notes.append(
                    f"{name}: no past value (insufficient data every time); default kept"
                )
                continue
            report.thresholds[name] = TunedSignal(
                name=name,
                threshold=round(t, 6),
                null_n=int(vals.size),
                null_mean=float(vals.mean()),
                null_sd=float(vals.std(ddof=1)) if vals.size > 1 else None,
                null_max=float(vals.max()),
                floor_applied=t == self.specs[name].floor,
                detectable=_detectable(self.specs[name], t, vals, self.usable),
            )


def tune_from_checks(
    checks: Sequence[DriftCheck],
    *,
    config: DriftConfig | None = None,
    target: float | None = None,
    safety: float = 0.8,
    min_history: int = 20,
    key: str | None = None,
) -> TuningReport:
    """Choose thresholds from past checks (see the module docstring); pure, nothing saved."""
    cfg = config or DriftConfig()
    target, usable = _validated(checks, cfg, target, safety, min_history)
    tuner = _Tuner(usable, cfg)
    chosen, rate, notes = tuner.choose_alpha(safety * target, target)
    n = len(usable)
    ci = wilson(round(rate * n), n)
    report = TuningReport(
        key=key,
        created_at=time.time(),
        target=target,
        safety=safety,
        alpha=chosen,
        history=n,
        estimated_false_alarm_rate=rate,
        estimated_rate_ci_high=ci[1] if ci else 1.0,
        met=rate <= target,
        fixed={k: v if v is not None else tuner.specs[k].threshold for k, v in tuner.fixed.items()},
        notes=notes,
    )
    tuner.tuned_signals(chosen, report)
    return report


def _median_detail(checks: Sequence[DriftCheck], name: str, key: str) -> float | None:
    xs = [
        float(v)
        for c in checks
        for a in c.arms
        for s in a.signals
        if s.name == name and isinstance(v := s.detail.get(key), int | float)
    ]
    return float(np.median(xs)) if xs else None


def _detectable(
    spec: SignalSpec, threshold: float, vals: np.ndarray, checks: Sequence[DriftCheck]
) -> str:
    """What shift the threshold detects with 80% power, in words."""
    z = threshold + _Z80
    if spec.name == "score_change":
        groups: dict[str, list[float]] = {}
        for c in checks:
            for a in c.arms:
                s = a.signal("score_change")
                for g in s.detail.get("groups", []) if s else []:
                    if g.get("stderr"):
                        groups.setdefault(g["group"], []).append(g["stderr"])
        parts = [
            f"{name}: a drop of {z * float(np.median(se)) * 100:.1f} points"
            for name, se in groups.items()
        ]
        return "; ".join(parts) or f"a drop of {z:.2f} standard errors"
    if spec.unit == "z":
        n = _median_detail(checks, spec.name, "pairs")
        p0 = _median_detail(checks, spec.name, "rate_a") or 0.0
        if n:
            # Paired flags: z ≈ Δ √n / √(2 p0 + Δ); solved for Δ.
            delta = (z * z + math.sqrt(z**4 + 8 * n * z * z * p0)) / (2 * n)
            return f"an increase of {delta * 100:.1f} points (from {p0:.1%}, {n:.0f} pairs)"
        return f"a shift of {z:.2f} standard errors"
    sd = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    unit = f" {spec.unit}" if spec.unit else ""
    return f"a change that moves {spec.name} to about {threshold + _Z80 * sd:.3g}{unit} (threshold {threshold:.3g})"


def tune_thresholds(
    suite: Target | Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    models: list[str] | None = None,
    target: float | None = None,
    safety: float = 0.8,
    min_history: int = 20,
    exclude: Sequence[str] = (),
    exclude_alerts: bool = False,
    save: bool = True,
) -> TuningReport:
    """Tune from the stored checks of a suite and (unless `save=False`) persist the result
    as `thresholds.json`, which later checks use. `exclude` takes check ids (or unique
    prefixes) of known incidents; `exclude_alerts` drops every check that alerted. `suite`
    may be a `Target` already built (by `drift_target`), as the CLI does to render it."""
    from .target import Target

    t = suite if isinstance(suite, Target) else Target(suite, workspace=workspace, models=models)
    checks = t.store.checks()
    dropped = []
    for ex in exclude:
        hits = [c.id for c in checks if c.id.startswith(ex)]
        if len(hits) != 1:
            raise ConfigError(f"--exclude {ex!r} matches {len(hits)} checks", field="exclude")
        dropped += hits
    if exclude_alerts:
        dropped += [c.id for c in checks if c.alert and c.id not in dropped]
    kept = [c for c in checks if c.id not in dropped]
    report = tune_from_checks(
        kept, config=t.config, target=target, safety=safety, min_history=min_history, key=t.key
    )
    report.excluded = dropped
    if save:
        t.store.save_thresholds(report)
    return report


def apply_thresholds(
    check: DriftCheck, report: TuningReport, config: DriftConfig | None = None
) -> DriftCheck:
    """The check as it would have been judged with `report`'s thresholds (a copy): how the
    history is replayed to see which past checks tuned thresholds would have alerted on."""
    from .triggers import apply_triggers

    cfg = config or DriftConfig()
    out = check.model_copy(deep=True)
    for arm in out.arms:
        for s in arm.signals:
            t = report.threshold(s.name)
            if (
                t is None
                or s.value is None
                or s.verdict == "insufficient_data"
                or s.threshold_source == "config"
            ):
                continue
            s.threshold, s.threshold_source = t, "tuned"
            s.verdict = "drift" if s.value > t else "ok"
        apply_triggers(arm, cfg.triggers)
    out.alert = any(a.alert for a in out.arms)
    out.thresholds_tuned_at = report.created_at
    return out
