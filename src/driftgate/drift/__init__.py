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
pure core that tests and benchmarks call on results they already hold.
"""

from __future__ import annotations

from .check import check_drift, compare_sides, stratified_sample
from .config import DriftConfig, SignalSettings, TrafficConfig, TriggerRule, load_drift_config
from .history import history_html, history_json, render_history, sparkline
from .model import (
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
    "SignalResult",
    "SignalSettings",
    "TrafficConfig",
    "TrafficReport",
    "TriggerRule",
    "TuningReport",
    "UnreviewedArtifact",
    "check_drift",
    "check_traffic",
    "compare_sides",
    "get_signal",
    "history_html",
    "history_json",
    "load_drift_config",
    "render_history",
    "signal",
    "signal_specs",
    "sparkline",
    "stratified_sample",
    "tune_from_checks",
    "tune_thresholds",
    "unreviewed_artifacts",
]
