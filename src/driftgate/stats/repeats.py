"""Repeated runs of a case: reduce them to one score per case, and find flaky cases.

Sampling makes one answer a draw from the model's distribution of answers; repeating a
case k times and reducing removes that noise from the comparison (Miller 2024, "resample
answers"). What the reduced score *means* depends on the reducer:

* ``mean``     — expected score of one answer (graded scores kept as they are);
* ``majority`` — 1 when more than half of the repeats pass (ties fail: a coin-flip case
  is not a reliable pass), else 0;
* ``pass@k``   — probability that at least one of k answers passes, by the unbiased
  estimator 1 - C(m-c, k) / C(m, k) of Chen et al. (2021) over m repeats with c passes;
* ``all-k``    — probability that all k answers pass (pass^k, as in tau-bench):
  C(c, k) / C(m, k). The reliability a product needs when every user gets one answer.

For the last three a repeat passes when its score is ≥ `threshold` (0.5: 0/1 outcomes
work unchanged; pass graded scores through the scorer's own threshold first if they
differ). `k` defaults to the number of repeats of each case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from ..errors import ConfigError, UnknownNameError

Reducer = Literal["mean", "majority", "pass@k", "all-k"]
REDUCERS: tuple[str, ...] = ("mean", "majority", "pass@k", "all-k")


def reduce_repeats(
    scores_by_case: Mapping[str, Sequence[float]],
    how: Reducer = "mean",
    k: int | None = None,
    *,
    threshold: float = 0.5,
) -> dict[str, float]:
    """One score per case from its repeats, in the input's case order."""
    if how not in REDUCERS:
        raise UnknownNameError("reducer", str(how), list(REDUCERS))
    if k is not None:
        if how in ("mean", "majority"):
            raise ConfigError(f"k only applies to pass@k and all-k, not {how!r}", field="k")
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ConfigError(f"must be an integer ≥ 1, got {k!r}", field="k")
    out: dict[str, float] = {}
    for case_id, scores in scores_by_case.items():
        values = [float(s) for s in scores]
        m = len(values)
        if m == 0:
            raise ConfigError(f"case {case_id!r} has no repeats", field="scores")
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"case {case_id!r} has a non-finite score", field="scores")
        if how == "mean":
            out[case_id] = math.fsum(values) / m
            continue
        passes = sum(v >= threshold for v in values)
        if how == "majority":
            out[case_id] = 1.0 if 2 * passes > m else 0.0
            continue
        kk = m if k is None else int(k)
        if kk > m:
            raise ConfigError(
                f"k = {kk} but case {case_id!r} has only {m} repeats",
                field="k",
                hint="run at least k repeats (--repeat), or lower k",
            )
        total = math.comb(m, kk)
        if how == "pass@k":
            out[case_id] = 1.0 - math.comb(m - passes, kk) / total
        else:
            out[case_id] = math.comb(passes, kk) / total
    return out


def flaky_cases(outcomes_by_case: Mapping[str, Sequence[bool]]) -> list[str]:
    """Cases whose pass/fail outcome differs between repeats, in the input's order.

    A flaky case is where sampling noise lives: a single run scores it by luck, which is
    why repeats or a majority reducer belong on such cases before a gate decides.
    """
    return [case_id for case_id, outcomes in outcomes_by_case.items() if len(set(outcomes)) > 1]
