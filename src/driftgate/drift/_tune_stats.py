"""The statistics `drift tune` reads from past checks: each signal's past values (sorted,
with leave-one-check-out sums) and the probability that a trigger rule fires when signals
drift independently. Kept apart from the search over alphas in `tune.py`."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from .config import DriftConfig
from .schema import DriftCheck
from .triggers import rule_fires

_Z80 = NormalDist().inv_cdf(0.8)


@functools.lru_cache(maxsize=256)
def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1.0 - alpha)


class PastValues:
    """Per check and arm: each signal's value (None = insufficient data) and verdict."""

    def __init__(self, checks: Sequence[DriftCheck], names: list[str]) -> None:
        # rows: (check index, {signal: value or None}, {signal: recorded verdict}, signal names)
        self.rows: list[tuple[int, dict[str, float | None], dict[str, str], list[str]]] = []
        for i, c in enumerate(checks):
            for arm in c.arms:
                values = {
                    s.name: s.value if s.verdict != "insufficient_data" else None
                    for s in arm.signals
                }
                verdicts: dict[str, str] = {s.name: s.verdict for s in arm.signals}
                self.rows.append((i, values, verdicts, [s.name for s in arm.signals]))
        # Per signal: its past values sorted, and which check each came from (for leave-one-out).
        self.sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.sums: dict[
            str, tuple[tuple[int, float, float], dict[int, tuple[int, float, float]]]
        ] = {}
        for name in names:
            pairs = [(v[name], i) for i, v, _, _ in self.rows if v.get(name) is not None]
            vals = np.array([p[0] for p in pairs], dtype=np.float64)
            owners = np.array([p[1] for p in pairs], dtype=np.int64)
            order = np.argsort(vals, kind="stable")
            self.sorted[name] = (vals[order], owners[order])
            # Sums for leave-one-check-out means and variances without recomputing.
            per = {}
            for i in np.unique(owners):
                v = vals[owners == i]
                per[int(i)] = (v.size, float(v.sum()), float((v * v).sum()))
            self.sums[name] = ((vals.size, float(vals.sum()), float((vals * vals).sum())), per)

    def values(self, name: str) -> np.ndarray:
        return self.sorted[name][0]

    def normal_tail(self, name: str, threshold: float) -> float:
        vals = self.sorted[name][0]
        if vals.size < 3 or vals.std(ddof=1) == 0:
            return float(np.mean(vals > threshold)) if vals.size else 0.0
        return 1.0 - NormalDist(float(vals.mean()), float(vals.std(ddof=1))).cdf(threshold)

    def quantile(self, name: str, alpha: float, skip: int | None = None) -> float | None:
        """A cautious (1 - alpha) quantile of the past values, without check `skip`.

        A tail quantile from a few dozen values is noisy, and a threshold that happens to
        land low fires more often than alpha for ever after. So: the larger of the
        empirical quantile (an observed value) and a normal tolerance limit — mean + k·sd
        with k chosen so the limit lies above the true quantile with 80% confidence."""
        vals, owners = self.sorted[name]
        if skip is not None:
            vals = vals[owners != skip]
        if vals.size == 0:
            return None
        empirical = float(vals[math.ceil((1.0 - alpha) * (vals.size - 1))])
        (n, total, squares), per = self.sums[name]
        if skip is not None and skip in per:
            dn, dt, ds = per[skip]
            n, total, squares = n - dn, total - dt, squares - ds
        if n < 3:
            return empirical
        mean = total / n
        sd = math.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1))
        z = _z(alpha)
        k = z + _Z80 * math.sqrt(1.0 / n + z * z / (2.0 * (n - 1)))  # approximate tolerance factor
        return max(empirical, mean + k * sd)


class RulePatterns:
    """P(some rule fires) for independent signals with given drift probabilities.

    Rows (arms of checks) usually share one set of available signals, so the subsets of
    that set that fire a rule are enumerated once per set; each alpha then only needs the
    probability of every subset, a product over 2^n × n numbers (n ≤ ~14 signals)."""

    def __init__(self, cfg: DriftConfig) -> None:
        self.cfg = cfg
        self.cache: dict[
            tuple[tuple[str, ...], tuple[str, ...]], tuple[np.ndarray, np.ndarray]
        ] = {}

    def probability(self, avail: list[str], names: list[str], p: dict[str, float]) -> float:
        key = (tuple(avail), tuple(names))
        if key not in self.cache:
            n = len(avail)
            bits = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
            fire = np.array(
                [
                    any(
                        rule_fires({avail[j] for j in range(n) if row[j]}, r, names)
                        for r in self.cfg.triggers
                    )
                    for row in bits
                ]
            )
            self.cache[key] = (bits, fire)
        bits, fire = self.cache[key]
        probs = np.array([p.get(a, 0.0) for a in avail])
        subset = np.prod(np.where(bits, probs[None, :], 1.0 - probs[None, :]), axis=1)
        return float(subset[fire].sum())
