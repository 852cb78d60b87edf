"""Wilson intervals and standard errors against textbook and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftgate.errors import ConfigError
from driftgate.stats import clustered_stderr, stderr, wilson_interval, z_two_sided


def test_wilson_textbook_example() -> None:
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-5)
    assert high == pytest.approx(0.3662, abs=5e-5)


def test_wilson_edges() -> None:
    # 0 of 10 at 95 %: upper bound z^2 / (n + z^2) = 0.2775.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-5))
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(1 - 0.27753, abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_confidence() -> None:
    l90, h90 = wilson_interval(40, 100, confidence=0.90)
    l99, h99 = wilson_interval(40, 100, confidence=0.99)
    assert l99 < l90 < 0.4 < h90 < h99


@pytest.mark.parametrize(
    ("successes", "n", "field"), [(11, 10, "successes"), (-1, 10, "successes"), (1, -2, "n")]
)
def test_wilson_rejects_bad_counts(successes: int, n: int, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        wilson_interval(successes, n)


def test_z_two_sided() -> None:
    assert z_two_sided(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ConfigError, match="confidence"):
        z_two_sided(1.0)


def test_stderr_plain() -> None:
    values = [1.0, 0.0, 1.0, 1.0]
    # sample sd sqrt(0.25) = 0.5 → 0.5 / 2
    assert stderr(values) == pytest.approx(0.25)
    assert stderr([3.0]) == 0.0


def test_clustered_stderr_hand_computation() -> None:
    d = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    clusters = ["a", "a", "a", "b", "b", "c"]
    # mean 0.5; within-cluster sums of deviations: a 0.5, b -1.0, c 0.5
    expected = math.sqrt(0.25 + 1.0 + 0.25) / 6
    assert clustered_stderr(d, clusters) == pytest.approx(expected)


def test_clustered_stderr_singletons_equal_plain_ddof0() -> None:
    d = np.random.default_rng(1).normal(size=50)
    assert clustered_stderr(d, list(range(50))) == pytest.approx(d.std(ddof=0) / math.sqrt(50))


def test_clustered_stderr_grows_with_within_cluster_correlation() -> None:
    rng = np.random.default_rng(2)
    shared = np.repeat(rng.normal(size=20), 10)  # 20 clusters of 10 correlated cases
    d = shared + 0.1 * rng.normal(size=200)
    clusters = np.repeat(np.arange(20), 10).tolist()
    assert clustered_stderr(d, clusters) > 2.5 * stderr(d)


def test_clustered_stderr_rejects_wrong_length() -> None:
    with pytest.raises(ConfigError, match=r"\[clusters\].*2 cluster labels for 3 cases"):
        clustered_stderr([1.0, 2.0, 3.0], ["a", "b"])


def test_import_stays_light() -> None:
    # The statistics are used by CLI commands that must start fast: numpy only.
    import subprocess
    import sys

    code = (
        "import sys, driftgate.stats; "
        "print(sorted(m for m in ('scipy', 'sklearn', 'torch', 'litellm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
