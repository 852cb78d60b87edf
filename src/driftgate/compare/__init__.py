"""Compare two arms (prompt × model) of one or two runs: paired statistics on the cases
both answered, per segment, with the cases that flipped and the cost and latency deltas.

    from driftgate.compare import compare_runs, compare_suite, compare_results

    cmp = compare_runs("20261121-2231", "latest")       # two stored runs (ids or prefixes)
    cmp = compare_runs(run_id, arm_a="cat@v1", arm_b="cat@v2")   # two arms of one run
    run, cmp = compare_suite(models=["sim/acme@v1", "sim/acme@v2"])
    cmp.verdict, cmp.primary.delta, cmp.primary.ci_low, cmp.regressed

Rendering lives in the report layer: `driftgate.report.compare.write_comparison(path, cmp)`
writes .md, .json, .xml (JUnit) or .html by extension.
"""

from __future__ import annotations

from .core import compare_results
from .runs import compare_runs, compare_suite
from .schema import (
    Comparison,
    FlippedCase,
    Histogram,
    SegmentComparison,
    Side,
    UsageDelta,
)

__all__ = [
    "Comparison",
    "FlippedCase",
    "Histogram",
    "SegmentComparison",
    "Side",
    "UsageDelta",
    "compare_results",
    "compare_runs",
    "compare_suite",
]
