"""Synthetic results and simulator workspaces shared by the drift tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from driftgate.providers.simulator import SimProfile, profiles, register_profile
from driftgate.store.records import CaseResult

LABELS = ["groceries", "dining", "transport", "rent"]


def results(
    n: int = 200,
    *,
    seed: int = 0,
    accuracy: float = 0.9,
    segment_accuracy: dict[str, float] | None = None,
    pad: int = 0,
    invalid: float = 0.0,
    refusals: float = 0.0,
    errors: float = 0.0,
    fingerprint: str = "fp_a",
    latency: float = 100.0,
    run_id: str = "run",
) -> list[CaseResult]:
    """One arm's label results: case i has segment new/old (1 in 2) and a known label.

    Each case draws from its own stream (seed, case), so two calls with one seed agree on
    every case where their rates agree — as two versions of a provider on a shared stream.
    """
    out = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        seg = "cohort=new" if i % 2 == 0 else "cohort=old"
        expected = LABELS[i % len(LABELS)]
        acc = (segment_accuracy or {}).get(seg, accuracy)
        u = rng.random()
        parse_error = None
        if u < refusals:
            text, parsed, parse_error = (
                "I'm sorry, but I can't help with that request.",
                None,
                "not a label",
            )
        elif u < refusals + invalid:
            text, parsed, parse_error = "unsure", None, "not one of the labels"
        else:
            parsed = (
                expected if rng.random() < acc else LABELS[(i + 1 + rng.randrange(3)) % len(LABELS)]
            )
            text = parsed if not pad else " ".join(["well"] * pad + [parsed] + ["indeed"] * pad)
        passed = parsed == expected
        error = None
        if rng.random() < errors:  # a provider error after retries: no output, never a pass
            text, parsed, parse_error, passed, error = (
                None,
                None,
                None,
                False,
                "server 500: simulated",
            )
        out.append(
            CaseResult(
                run_id=run_id,
                key=f"cat|m|tx|c{i:04d}|0",
                evalset="tx",
                case_id=f"c{i:04d}",
                segment=seg,
                prompt="cat",
                prompt_digest="d1",
                model="m",
                output=text,
                parsed=parsed,
                parse_error=parse_error,
                score=1.0 if passed else 0.0,
                passed=passed,
                error=error,
                error_kind="server" if error else None,
                input_tokens=20,
                output_tokens=len(text.split()) * 2 if text else None,
                cost_usd=None,
                latency_ms=latency * (0.8 + 0.4 * rng.random()),
                fingerprint=fingerprint,
                ts=0.0,
            )
        )
    return out


@pytest.fixture(scope="session", autouse=False)
def sklearn_loaded() -> None:
    """Import scikit-learn once, in setup: the first classifier otherwise pays ~2 s in a test."""
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.model_selection  # noqa: F401


def sim_workspace(root: Path, *, n_cases: int = 120, model: str = "sim/drifttest@prod") -> Path:
    """A one-prompt label workspace on `model`, segments cohort=new-bank-format / established."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evalsets").mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    (root / "prompts" / "cat.yaml").write_text(
        json.dumps(
            {
                "name": "cat",
                "model": model,
                "params": {"temperature": 0},
                "messages": [{"role": "user", "content": "Label: {{ description }}"}],
                "output": {"type": "label", "labels": LABELS},
            }
        )
    )
    write_cases(root / "evalsets" / "tx.jsonl", range(n_cases))
    (root / "evalsets" / "main.suite.yaml").write_text(
        "prompts: [cat]\nevalsets: [tx]\nscorers:\n  - {type: label-match, metric: category}\n"
        "pass_threshold: 0\nmax_concurrency: 16\n"
    )
    return root


def write_cases(path: Path, ids: range | list[int], *, relabel: set[int] | None = None) -> None:
    with path.open("w") as fh:
        for i in ids:
            label = LABELS[(i + (1 if relabel and i in relabel else 0)) % len(LABELS)]
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i:04d}",
                        "vars": {
                            "description": f"MERCHANT {i} REF{i * 7919 % 10007}",
                            "bank": "lumen" if i % 2 == 0 else "northwind",
                        },
                        "expected": label,
                        "segment": "cohort=new-bank-format" if i % 2 == 0 else "cohort=established",
                    }
                )
                + "\n"
            )


def set_provider(
    version: str, *, seed: int = 0, name: str = "drifttest@prod", **overrides: object
) -> None:
    """Make `sim/<name>` behave like the built-in `acme@<version>`, without latency."""
    base: SimProfile = profiles()[f"acme@{version}"]
    register_profile(
        name,
        base.model_copy(
            update={
                "seed": seed,
                "latency_ms": 0.0,
                "latency_jitter_ms": 0.0,
                **overrides,
            }
        ),
    )
