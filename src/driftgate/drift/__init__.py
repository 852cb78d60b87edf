"""Drift detection: provider drift, prompt drift, triggers, tuned thresholds, history.

    from driftgate.drift import check_drift, check_traffic, tune_thresholds

    check = check_drift()                 # re-run production, compare with the baseline
    check.alert, check.exit_code          # 1 when a trigger fired
    for arm in check.arms:
        for s in arm.signals:             # name, value, threshold, verdict, detail
            ...
    tune_thresholds(target=1/12)          # thresholds from past checks, persisted
    report = check_traffic("logs.jsonl", field="description", window=500)

Signals register by name (`signal_registry.signal`); `compare_sides(baseline, current)` is the
pure core that tests and benchmarks call on results they already hold. `series(checks)` is
each signal over time (`drift history`); the report layer renders it
(`driftgate.report.drift_history`).
"""

from __future__ import annotations

from .check import check_drift, compare_sides, stratified_sample
from .config import DriftConfig, SignalSettings, TrafficConfig, TriggerRule, load_drift_config
from .history import Point, checked, latest_alerted, series
from .schema import (
    ArmCheck,
    DriftBaseline,
    DriftCheck,
    GoldenSetChange,
    SignalResult,
    TrafficReport,
    TuningReport,
    UnreviewedArtifact,
)
from .signal_lookup import get_signal, signal_specs
from .signal_registry import InsufficientData, Measurement, signal
from .store import DriftStore
from .traffic import check_traffic, unreviewed_artifacts
from .tune import tune_from_checks, tune_thresholds

__all__ = [
    "ArmCheck",
    "DriftBaseline",
    "DriftCheck",
    "DriftConfig",
    "DriftStore",
    "GoldenSetChange",
    "InsufficientData",
    "Measurement",
    "Point",
    "SignalResult",
    "SignalSettings",
    "TrafficConfig",
    "TrafficReport",
    "TriggerRule",
    "TuningReport",
    "UnreviewedArtifact",
    "check_drift",
    "check_traffic",
    "checked",
    "compare_sides",
    "get_signal",
    "latest_alerted",
    "load_drift_config",
    "series",
    "signal",
    "signal_specs",
    "stratified_sample",
    "tune_from_checks",
    "tune_thresholds",
    "unreviewed_artifacts",
]
