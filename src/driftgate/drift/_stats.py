"""The statistics behind the signals: two-sample tests and distances, numpy first.

KS is implemented here (numpy); the chi-square distribution comes from scipy (installed
with scikit-learn) and the domain classifier from scikit-learn, both imported lazily.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

Z_CAP = 1000.0  # a z-score with zero spread: finite, so stored JSON stays valid
RARE = "(rare)"


# ---- paired flags and z-scores ---------------------------------------------------------


def paired_z(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(z, mean difference b - a, its standard error) of paired values."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = d.size
    mean = float(d.mean()) if n else 0.0
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    se = sd / math.sqrt(n) if n else 0.0
    return z_of(mean, se), mean, se


def z_of(delta: float, se: float) -> float:
    if se > 0:
        return max(-Z_CAP, min(Z_CAP, delta / se)) + 0.0  # + 0.0: no "-0" in reports
    return 0.0 if delta == 0 else math.copysign(Z_CAP, delta)


# ---- Kolmogorov–Smirnov ----------------------------------------------------------------


def ks_2samp(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Two-sample KS statistic D and its asymptotic p-value (conservative with ties)."""
    xa = np.sort(np.asarray(a, dtype=np.float64))
    xb = np.sort(np.asarray(b, dtype=np.float64))
    n, m = xa.size, xb.size
    grid = np.concatenate([xa, xb])
    cdf_a = np.searchsorted(xa, grid, side="right") / n
    cdf_b = np.searchsorted(xb, grid, side="right") / m
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = math.sqrt(n * m / (n + m))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)  # Stephens' small-sample correction


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution."""
    if x < 0.2:
        return 1.0
    total = sum((-1) ** (j - 1) * math.exp(-2.0 * j * j * x * x) for j in range(1, 101))
    return min(1.0, max(0.0, 2.0 * total))


def ks_critical(alpha: float, n: int, m: int) -> float:
    """D above which two samples of sizes n and m differ at level alpha (asymptotic)."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / (n * m))


# ---- categorical distributions ---------------------------------------------------------


def pooled_counts(
    a: Sequence[Hashable], b: Sequence[Hashable], *, min_count: int = 5
) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Category counts of both samples; categories seen < min_count times in total are
    pooled into one, so a long tail of one-off values does not dominate a chi-square."""
    ca, cb = Counter(a), Counter(b)
    keep = [k for k in dict.fromkeys([*ca, *cb]) if ca[k] + cb[k] >= min_count]
    rare = [k for k in dict.fromkeys([*ca, *cb]) if ca[k] + cb[k] < min_count]
    cats: list[Hashable] = sorted(keep, key=str)
    va = [ca[k] for k in cats]
    vb = [cb[k] for k in cats]
    if rare:
        cats.append(RARE)
        va.append(sum(ca[k] for k in rare))
        vb.append(sum(cb[k] for k in rare))
    return cats, np.array(va, dtype=np.float64), np.array(vb, dtype=np.float64)


def js_distance(ca: np.ndarray, cb: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two count vectors."""
    p = ca / ca.sum()
    q = cb / cb.sum()
    m = (p + q) / 2.0

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return math.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def chi_square(ca: np.ndarray, cb: np.ndarray) -> tuple[float, int, float]:
    """Chi-square test of homogeneity of two count vectors: (statistic, dof, p-value)."""
    from scipy.stats import chi2  # lazy: scipy comes with scikit-learn

    table = np.vstack([ca, cb])
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, dof, float(chi2.sf(stat, dof))


def js_critical(alpha: float, dof: int, n_a: int, n_b: int) -> float:
    """JS distance that two samples from one distribution exceed with probability alpha.

    For small differences JSD (nats) ≈ X² / (4 n) with X² the chi-square statistic and n
    the harmonic-mean sample size, so the chi-square quantile gives the JS quantile.
    """
    from scipy.stats import chi2

    n = 2.0 * n_a * n_b / (n_a + n_b)
    return math.sqrt(float(chi2.ppf(1.0 - alpha, max(dof, 1))) / (4.0 * n * math.log(2.0)))


def psi(reference: Sequence[Hashable], current: Sequence[Hashable], *, eps: float = 1e-4) -> float:
    """Population stability index between two categorical samples (bins = categories)."""
    cats = list(dict.fromkeys([*reference, *current]))
    cr, cc = Counter(reference), Counter(current)
    r = np.array([cr[k] for k in cats], dtype=np.float64) / max(len(reference), 1)
    c = np.array([cc[k] for k in cats], dtype=np.float64) / max(len(current), 1)
    r, c = np.clip(r, eps, None), np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_bins(reference: Sequence[float], values: Sequence[float], bins: int = 10) -> list[int]:
    """Bin `values` on the reference's quantile edges (for PSI on a numeric quantity)."""
    ref = np.asarray(reference, dtype=np.float64)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right").tolist()


# ---- multivariate: domain classifier, MMD, nearest neighbours --------------------------


def auc_null_sd(n_a: int, n_b: int) -> float:
    """Standard deviation of a ROC AUC between two samples of one distribution."""
    return math.sqrt((n_a + n_b + 1) / (12.0 * n_a * n_b))


def domain_auc(X: Any, y: np.ndarray, *, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated ROC AUC of a logistic regression telling side 1 from side 0.

    0.5 means the sides are indistinguishable; out-of-fold predictions only, so a flexible
    classifier cannot make identical distributions look different. Identical rows (the same
    output on both sides, or a repeated case) share a fold: split apart, each held-out row's
    twin would sit in training with the other label and pull the AUC far below 0.5 (byte-
    identical sides gave about 0.2). Tied scores count half (roc_auc_score's ranking).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    groups = _row_groups(X)
    counts = np.bincount(y.astype(int), minlength=2)
    k = int(min(folds, counts.min(), len(np.unique(groups))))
    if k < 2:
        return 0.5
    clf = LogisticRegression(C=1.0, max_iter=1000, solver="liblinear")
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    proba = cross_val_predict(clf, X, y, cv=cv, groups=groups, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def _row_groups(X: Any) -> np.ndarray:
    """One group id per distinct row of `X` (identical rows share an id)."""
    Z = np.ascontiguousarray(_dense(X))
    _, ids = np.unique(
        Z.view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1]))), return_inverse=True
    )
    return ids.reshape(-1)


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def mmd_test(
    X: Any, y: np.ndarray, *, seed: int = 0, n_perm: int = 200
) -> tuple[float, float, float]:
    """Unbiased MMD² with an RBF kernel (median-distance bandwidth) and a permutation test:
    (mmd², p-value, 99th percentile of its permutation distribution)."""
    Z = _dense(X)
    sq = np.sum(Z * Z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)
    off = d2[np.triu_indices_from(d2, k=1)]
    med = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    K = np.exp(-d2 / med)
    np.fill_diagonal(K, 0.0)

    def stat(labels: np.ndarray) -> float:
        a, b = labels == 0, labels == 1
        na, nb = int(a.sum()), int(b.sum())
        kaa = K[np.ix_(a, a)].sum() / (na * (na - 1))
        kbb = K[np.ix_(b, b)].sum() / (nb * (nb - 1))
        kab = K[np.ix_(a, b)].sum() / (na * nb)
        return float(kaa + kbb - 2.0 * kab)

    observed = stat(y)
    rng = np.random.default_rng(seed)
    null = np.array([stat(rng.permutation(y)) for _ in range(n_perm)])
    p = (1 + int(np.sum(null >= observed))) / (n_perm + 1)
    return observed, p, float(np.quantile(null, 0.99))


def nn_cosine_distance(
    queries: Any, reference: Any, *, exclude_self: bool = False, block: int = 1024
) -> np.ndarray:
    """For each query row, 1 - cosine similarity to its nearest reference row.

    Rows are L2-normalized here (TF-IDF rows and embeddings already are). With
    `exclude_self` (queries is reference) a row's own match is skipped: leave-one-out.
    """
    Q, R = _normalize(queries), _normalize(reference)
    out = np.empty(Q.shape[0], dtype=np.float64)
    for start in range(0, Q.shape[0], block):
        sims = Q[start : start + block] @ R.T
        sims = _dense(sims)
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        out[start : start + block] = 1.0 - sims.max(axis=1)
    return np.clip(out, 0.0, 2.0)


def _normalize(X: Any) -> Any:
    if hasattr(X, "toarray"):
        from sklearn.preprocessing import normalize

        return normalize(X)
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def subsample(items: list[Any], limit: int, seed: int) -> list[Any]:
    """At most `limit` items, a seeded random subset in original order."""
    if len(items) <= limit:
        return items
    idx = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    return [items[i] for i in idx]
