"""Promotion gates: a policy of rules, and a verdict that lists every rule with its numbers.

    policy.py     GatePolicy and its rules; where the gate finds the policy file
    verdict.py    GateVerdict, RuleResult; the verdict as a line and as a table
    rules.py      evaluate_gate: the policy applied to two lists of results (pure)
    evidence.py   gate / gate_version: results of two registered prompt versions, from
                  stored runs or a new run, then evaluate_gate

The gate sits above the engine (it runs suites) and the registry's versions and aliases (it
gates registered versions); `registry.moves.promote` sits above the gate. `evaluate_gate`
and `gate` load lazily: the rules import numpy and the evidence the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .policy import (
    Budget,
    FloorRule,
    GatePolicy,
    NonInferiority,
    SegmentRule,
    find_policy,
    load_policy,
)
from .verdict import GateVerdict, RuleKind, RuleResult, Status

__all__ = [
    "Budget",
    "FloorRule",
    "GatePolicy",
    "GateVerdict",
    "NonInferiority",
    "RuleKind",
    "RuleResult",
    "SegmentRule",
    "Status",
    "evaluate_gate",
    "find_policy",
    "gate",
    "gate_version",
    "load_policy",
]

_LAZY = {"evaluate_gate": "rules", "gate": "evidence", "gate_version": "evidence"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'driftgate.gate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .evidence import gate, gate_version
    from .rules import evaluate_gate
