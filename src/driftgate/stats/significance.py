"""Two-sided significance tests for paired differences.

* `mcnemar_exact` — paired pass/fail: under "no difference" each discordant pair (one
  version passes, the other fails) is equally likely to go either way, so the count of
  one kind is Binomial(b01 + b10, 1/2). Exact, so it stays valid for the handful of
  discordant pairs a small golden set produces, where the chi-square version is not.
* `sign_flip_test` — paired scores of any kind: under "no difference" the sign of each
  per-case difference is a coin flip (Fisher's randomization test). Exact enumeration for
  up to 16 non-zero differences; a seeded Monte Carlo estimate above that.

Only numpy and the standard library: scipy's import (`import_scipy_stats_s`,
bench/import_costs.py) is not needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ._arrays import as_scores, check_positive_int

# Up to this many discordant pairs the binomial tail is summed in exact integers; above it
# in log space (relative error ~1e-10, far below what any decision depends on).
_EXACT_INT_MAX = 5_000
# 2**16 sign patterns × 16 values is a 1M-entry matrix: cheap to enumerate exactly.
EXACT_SIGN_FLIP_MAX = 16
# Bound the Monte Carlo work matrix (permutations × cases) to ~4M entries per chunk.
_CHUNK_ENTRIES = 1 << 22


def mcnemar_exact(b01: int, b10: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts.

    `b01`: cases that fail in run A and pass in run B; `b10`: the reverse. Concordant
    pairs carry no information about the difference and are not needed. Equals
    `scipy.stats.binomtest(b01, b01 + b10, 0.5).pvalue`.
    """
    b01 = check_positive_int(b01, "b01", minimum=0)
    b10 = check_positive_int(b10, "b10", minimum=0)
    n = b01 + b10
    k = min(b01, b10)
    if n == 0 or 2 * k == n:
        return 1.0
    # The Binomial(n, 1/2) distribution is symmetric, so the two-sided p-value (sum of
    # outcomes no more likely than the observed one) is twice the smaller tail.
    if n <= _EXACT_INT_MAX:
        term, tail = 1, 1
        for i in range(k):
            term = term * (n - i) // (i + 1)
            tail += term
        return min(1.0, tail / (1 << (n - 1)))
    j = np.arange(k, dtype=np.float64)
    log_comb = np.concatenate(([0.0], np.cumsum(np.log(n - j) - np.log(j + 1.0))))
    log_terms = log_comb - n * math.log(2.0)
    top = float(log_terms.max())
    log_tail = top + math.log(float(np.exp(log_terms - top).sum()))
    return min(1.0, 2.0 * math.exp(log_tail))


def sign_flip_test(d: Sequence[float] | np.ndarray, n_perm: int = 10_000, seed: int = 0) -> float:
    """Two-sided sign-flip (paired permutation) p-value for the mean of `d` being 0.

    Statistic: |sum of d|. Zeros are dropped first (flipping them changes nothing), and
    with at most 16 non-zero differences every sign pattern is enumerated, so the p-value
    is exact. Otherwise `n_perm` random patterns are drawn from `seed`, and the p-value is
    (1 + hits) / (1 + n_perm), which never reports 0 and keeps the test valid.
    """
    arr = as_scores(d, "d")
    n_perm = check_positive_int(n_perm, "n_perm")
    nz = arr[arr != 0.0]
    m = nz.size
    if m == 0:
        return 1.0
    observed = abs(float(nz.sum()))
    # Sums of the same values in another order differ in the last bits; without a
    # tolerance the observed pattern itself could fail to count as "at least as extreme".
    tol = 1e-9 * float(np.abs(nz).sum())
    if m <= EXACT_SIGN_FLIP_MAX:
        patterns = np.arange(1 << m, dtype=np.int64)[:, None]
        bits = ((patterns >> np.arange(m, dtype=np.int64)) & 1).astype(np.float64)
        sums = 2.0 * (bits @ nz) - nz.sum()
        return float(np.mean(np.abs(sums) >= observed - tol))
    rng = np.random.default_rng(seed)
    total = float(nz.sum())
    n_bytes = (m + 7) // 8
    chunk = max(1, _CHUNK_ENTRIES // m)
    hits = 0
    for start in range(0, n_perm, chunk):
        rows = min(chunk, n_perm - start)
        # One random bit per sign, 8 per byte: ~8× less generator work than drawing ±1s.
        raw = rng.integers(0, 256, size=(rows, n_bytes), dtype=np.uint8)
        signs = np.unpackbits(raw, axis=1, count=m)
        # sum(s_i d_i) with s_i = 2 b_i - 1  ==  2 (b · d) - sum(d)
        sums = 2.0 * (signs @ nz) - total
        hits += int(np.count_nonzero(np.abs(sums) >= observed - tol))
    return (1.0 + hits) / (1.0 + n_perm)


def discordant_counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(b01, b10) for two aligned 0/1 arrays: A fails & B passes, A passes & B fails."""
    if a.shape != b.shape:
        raise ConfigError(f"runs have {a.size} and {b.size} cases", field="b")
    b01 = int(np.count_nonzero((a == 0.0) & (b == 1.0)))
    b10 = int(np.count_nonzero((a == 1.0) & (b == 0.0)))
    return b01, b10
