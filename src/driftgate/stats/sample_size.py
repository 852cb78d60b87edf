"""How many cases a paired pass/fail comparison needs, and what a given size can detect.

Sample size for McNemar's test (Connor 1987; Miettinen 1968), two-sided level alpha:

    n = ( z_{1-alpha/2} * sqrt(psi) + z_{power} * sqrt(psi - delta^2) )^2 / delta^2

delta is the difference in pass rates and psi the share of *discordant* cases (one version
passes, the other fails). Only discordant cases carry information, so psi matters as much
as delta: the same 5-point drop needs ~4x fewer cases when the versions disagree on 10 %
of cases than when they disagree on 40 %.

psi comes from the two pass rates p1 = baseline, p2 = baseline - delta and the
correlation rho (phi coefficient) between a case's two outcomes:

    P(both pass) = p1 p2 + rho sqrt(p1 (1-p1) p2 (1-p2)),    psi = p1 + p2 - 2 P(both pass)

rho = 0 treats the runs as independent (the most cases); two versions on one golden set
are positively correlated because a hard case tends to be hard for both, and how strongly
depends on how much the versions differ. The default rho = 0.5 is a middle value, not a
measurement: it can be optimistic (bench/calibration.py simulates a population where the
true rho is ~0.25 and psi 0.26 instead of the default's 0.18). Better: measure psi from a
previous paired run of the same kind of change — (wins + losses) / n of its
`PairedResult` — and pass it as `discordance`.
P(both pass) is clipped to what the margins allow when the default rho is infeasible
(e.g. a baseline of 99 % against 50 %); an explicit infeasible rho is an error.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from ..errors import ConfigError
from ._arrays import check_positive_int, check_probability

DEFAULT_CORRELATION = 0.5
_N = NormalDist()


def _rates(baseline: float, delta: float) -> tuple[float, float, float]:
    p1 = float(baseline)
    d = float(delta)
    if not 0.0 <= p1 <= 1.0:
        raise ConfigError(f"must be a pass rate in [0, 1], got {baseline!r}", field="baseline")
    if not math.isfinite(d) or d == 0.0:
        raise ConfigError(f"must be a non-zero difference, got {delta!r}", field="delta")
    p2 = p1 - d
    if not 0.0 <= p2 <= 1.0:
        raise ConfigError(
            f"baseline {p1:g} - delta {d:g} = {p2:g} is not a pass rate", field="delta"
        )
    return p1, p2, d


def discordance_from(
    baseline: float,
    delta: float,
    *,
    correlation: float | None = None,
    discordance: float | None = None,
) -> float:
    """The discordant share psi for pass rates baseline and baseline - delta.

    Give at most one of `correlation` (phi between paired outcomes; default 0.5, see the
    module docstring) and `discordance` (psi itself, checked for feasibility).
    """
    p1, p2, d = _rates(baseline, delta)
    if correlation is not None and discordance is not None:
        raise ConfigError("give correlation or discordance, not both", field="discordance")
    if discordance is not None:
        psi = float(discordance)
        # psi splits into p10 = (psi + d)/2 (A passes, B fails) and p01 = (psi - d)/2;
        # each must fit inside the marginal pass and fail rates.
        p10, p01 = (psi + d) / 2.0, (psi - d) / 2.0
        if not (
            math.isfinite(psi)
            and p01 >= -1e-12
            and p10 >= -1e-12
            and p10 <= min(p1, 1.0 - p2) + 1e-12
            and p01 <= min(p2, 1.0 - p1) + 1e-12
        ):
            raise ConfigError(
                f"discordant share {discordance!r} is impossible for pass rates "
                f"{p1:g} and {p2:g} (it must be at least |delta| = {abs(d):g})",
                field="discordance",
            )
        return psi
    explicit = correlation is not None
    rho = DEFAULT_CORRELATION if correlation is None else float(correlation)
    if not -1.0 <= rho <= 1.0:
        raise ConfigError(f"must be in [-1, 1], got {correlation!r}", field="correlation")
    lo, hi = max(0.0, p1 + p2 - 1.0), min(p1, p2)
    p11 = p1 * p2 + rho * math.sqrt(p1 * (1.0 - p1) * p2 * (1.0 - p2))
    if explicit and not lo - 1e-12 <= p11 <= hi + 1e-12:
        raise ConfigError(
            f"correlation {rho:g} is impossible for pass rates {p1:g} and {p2:g}",
            field="correlation",
            hint="use a smaller correlation, or give the discordant share directly",
        )
    p11 = min(max(p11, lo), hi)
    return max(p1 + p2 - 2.0 * p11, abs(d))


def _z_alpha(alpha: float) -> float:
    return _N.inv_cdf(1.0 - check_probability(alpha, "alpha") / 2.0)


def _power_at(delta: float, psi: float, n: float, z_a: float) -> float:
    spread = psi - delta * delta
    signal = abs(delta) * math.sqrt(n) - z_a * math.sqrt(psi)
    if spread <= 0.0:  # every discordant pair goes one way: no sampling noise left
        return 1.0 if signal > 0.0 else 0.0
    return _N.cdf(signal / math.sqrt(spread))


def power(
    baseline: float,
    delta: float,
    n: int,
    *,
    alpha: float = 0.05,
    correlation: float | None = None,
    discordance: float | None = None,
) -> float:
    """Probability that a two-sided paired test at level `alpha` detects a change of
    `delta` (pass rate baseline → baseline - delta) with `n` cases (normal approximation
    of McNemar's test; the exact test is slightly more conservative at small n)."""
    n = check_positive_int(n, "n")
    psi = discordance_from(baseline, delta, correlation=correlation, discordance=discordance)
    return _power_at(float(delta), psi, n, _z_alpha(alpha))


def required_cases(
    baseline: float,
    delta: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    correlation: float | None = None,
    discordance: float | None = None,
) -> int:
    """Paired cases needed to detect a pass-rate change of `delta` with the given power.

    `delta` > 0 is a drop (baseline → baseline - delta), < 0 a gain; the formula is in
    the module docstring. Example: baseline 0.8, a 5-point drop, default correlation →
    553 cases; with a measured discordant share of 0.2 → 626.
    """
    z_b = _N.inv_cdf(check_probability(power, "power"))
    z_a = _z_alpha(alpha)
    psi = discordance_from(baseline, delta, correlation=correlation, discordance=discordance)
    d2 = float(delta) ** 2
    n = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - d2, 0.0))) ** 2 / d2
    # Guard the ceiling against 625.0000000001-style rounding of an exact integer.
    return max(1, math.ceil(n - 1e-9))


def detectable_delta(
    baseline: float,
    n: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    correlation: float | None = None,
    discordance: float | None = None,
) -> float:
    """Smallest drop from `baseline` that `n` paired cases detect with the given power.

    Found by bisection (to 1e-7) on `power(...)`, which grows with the drop. Raises a
    ConfigError when even the largest possible drop is not detectable with that power.
    """
    n = check_positive_int(n, "n")
    target = check_probability(power, "power")
    z_a = _z_alpha(alpha)
    p1 = float(baseline)
    if not 0.0 < p1 <= 1.0:
        raise ConfigError(f"must be a pass rate in (0, 1], got {baseline!r}", field="baseline")
    low, high = 0.0, p1
    if discordance is not None:
        psi = float(discordance)
        # Drops compatible with a fixed discordant share psi, from p10 = (psi + delta)/2
        # and p01 = (psi - delta)/2 fitting inside the pass and fail rates.
        low, high = max(0.0, psi - 2.0 * (1.0 - p1)), min(p1, psi, 2.0 * p1 - psi)
        if not (math.isfinite(psi) and high > 0.0 and low <= high):
            raise ConfigError(
                f"discordant share {discordance!r} is impossible for baseline {p1:g}",
                field="discordance",
            )

    def achieved(delta: float) -> float:
        psi = discordance_from(p1, delta, correlation=correlation, discordance=discordance)
        return _power_at(delta, psi, n, z_a)

    if achieved(high) < target:
        raise ConfigError(
            f"with {n} cases no drop from {p1:g} (up to {high:g}) reaches power {target:g}",
            field="n",
            hint="add cases, or lower the power / raise alpha",
        )
    if low > 0.0 and achieved(low) >= target:
        return low
    while high - low > 1e-7:
        mid = (low + high) / 2.0
        if achieved(mid) >= target:
            high = mid
        else:
            low = mid
    return high
