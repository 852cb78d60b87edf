"""Vectorized, seeded bootstrap of a mean — over cases, or over clusters of cases.

Three paths, all exact resampling (no approximation such as the Poisson bootstrap):

* few distinct values (pass/fail differences are only -1, 0, 1; graded scores a handful
  of levels): the resampled counts of each value are Multinomial(n, observed shares), so
  one multinomial draw per resample replaces n index draws;
* many distinct values: index matrices in chunks of ~4M entries (bounded memory;
  `bootstrap_10k_s` in docs/architecture.md, Measured figures);
* clusters: resample whole clusters and take the ratio of resampled sums to resampled
  case counts, so clusters of unequal size weigh by their cases as in the point estimate.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

# Above this many distinct values the multinomial draw stops being the cheaper path.
_MULTINOMIAL_MAX_VALUES = 64
_CHUNK_ENTRIES = 1 << 22


def bootstrap_means(d: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """`n_boot` means of `d` resampled with replacement (case bootstrap)."""
    n = d.size
    if n == 0:
        raise ConfigError("cannot bootstrap an empty sample", field="d")
    values, counts = np.unique(d, return_counts=True)
    if values.size <= _MULTINOMIAL_MAX_VALUES and values.size < n:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        return (draws @ values) / n
    out = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, _CHUNK_ENTRIES // n)
    # int32 indices are ~10 % faster to draw than int64 and cover any realistic golden set.
    index_dtype = np.int32 if n < 2**31 else np.int64
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(rows, n), dtype=index_dtype)
        out[start : start + rows] = d[idx].mean(axis=1)
    return out


def cluster_bootstrap_means(
    d: np.ndarray, codes: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """`n_boot` means of `d` after resampling whole clusters (`codes` = 0..G-1)."""
    sums = np.bincount(codes, weights=d)
    sizes = np.bincount(codes).astype(np.float64)
    g = sums.size
    if g < 2:
        raise ConfigError(
            "the cluster bootstrap needs at least 2 clusters",
            field="clusters",
            hint="with a single cluster there is no between-cluster variation to measure",
        )
    out = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, _CHUNK_ENTRIES // g)
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(rows, g), dtype=np.int32 if g < 2**31 else np.int64)
        out[start : start + rows] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    return out


def percentile_interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval: the (1-c)/2 and (1+c)/2 quantiles of the bootstrap means."""
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)
