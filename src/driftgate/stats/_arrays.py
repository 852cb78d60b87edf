"""Input checks shared by the statistics functions.

Scores arrive from stored runs, report code and users' notebooks; a NaN or a length
mismatch there would otherwise surface as a silently wrong interval, so every public
function converts its inputs here and fails with a ConfigError naming the argument.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError


def as_scores(values: Any, field: str) -> np.ndarray:
    """A finite 1-D float64 array, or a ConfigError naming `field` and the bad position."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scores must be numbers: {exc}", field=field) from None
    if arr.ndim != 1:
        raise ConfigError(f"scores must be a flat sequence, got shape {arr.shape}", field=field)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ConfigError(
            f"score at position {int(bad[0])} is {arr[bad[0]]!r}; scores must be finite",
            field=field,
            hint="score provider errors as failures (0) before comparing runs",
        )
    return arr


def as_clusters(clusters: Sequence[Hashable], n: int, field: str = "clusters") -> np.ndarray:
    """Cluster labels → integer codes 0..G-1 in order of first appearance."""
    if len(clusters) != n:
        raise ConfigError(f"got {len(clusters)} cluster labels for {n} cases", field=field)
    codes: dict[Hashable, int] = {}
    out = np.empty(n, dtype=np.intp)
    for i, label in enumerate(clusters):
        try:
            out[i] = codes.setdefault(label, len(codes))
        except TypeError:
            raise ConfigError(
                f"cluster label at position {i} ({label!r}) is not hashable", field=field
            ) from None
    return out


def is_binary(arr: np.ndarray) -> bool:
    """True when every value is exactly 0 or 1 (pass/fail outcomes)."""
    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def check_probability(value: float, field: str, *, open_low: bool = True) -> float:
    """A float in (0, 1) — or [0, 1) when `open_low` is False."""
    v = float(value)
    low_ok = v > 0.0 if open_low else v >= 0.0
    if not (low_ok and v < 1.0):
        bounds = "(0, 1)" if open_low else "[0, 1)"
        raise ConfigError(f"must be in {bounds}, got {value!r}", field=field)
    return v


def check_positive_int(value: int, field: str, minimum: int = 1) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"must be an integer ≥ {minimum}, got {value!r}", field=field)
    return int(value)
