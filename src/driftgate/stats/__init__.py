"""Statistics for deciding between two runs of one golden set.

Paired differences with intervals (Bonett–Price for pass/fail, else bootstrap; a cluster
bootstrap when cases share a source), exact McNemar and sign-flip tests, Wilson intervals,
reducers for repeated runs, power / sample-size calculations, and confidence sequences for
decisions under continuous monitoring (`sequential`: the canary guard's). numpy and the
standard library only; every random draw comes from an explicit seed, so the same inputs
always give the same verdict.
"""

from __future__ import annotations

from .intervals import (
    clustered_stderr,
    paired_proportion_interval,
    stderr,
    wilson_interval,
    z_two_sided,
)
from .paired import (
    IntervalName,
    PairedResult,
    TestName,
    Verdict,
    align_pairs,
    non_inferior,
    paired_difference,
    verdict,
)
from .repeats import REDUCERS, Reducer, flaky_cases, reduce_repeats
from .sample_size import (
    DEFAULT_CORRELATION,
    detectable_delta,
    discordance_from,
    power,
    required_cases,
)
from .sequential import Sums, difference_bound, mean_bound, paired_bound, tuned_for
from .significance import EXACT_SIGN_FLIP_MAX, mcnemar_exact, sign_flip_test

__all__ = [
    "DEFAULT_CORRELATION",
    "EXACT_SIGN_FLIP_MAX",
    "IntervalName",
    "REDUCERS",
    "PairedResult",
    "Reducer",
    "Sums",
    "TestName",
    "Verdict",
    "align_pairs",
    "clustered_stderr",
    "detectable_delta",
    "difference_bound",
    "discordance_from",
    "flaky_cases",
    "mcnemar_exact",
    "mean_bound",
    "non_inferior",
    "paired_bound",
    "paired_proportion_interval",
    "paired_difference",
    "power",
    "reduce_repeats",
    "required_cases",
    "sign_flip_test",
    "stderr",
    "tuned_for",
    "verdict",
    "wilson_interval",
    "z_two_sided",
]
