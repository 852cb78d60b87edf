"""Per-suite drift settings: `evalsets/<suite>.drift.yaml` (or the defaults).

    # evalsets/categorize-sim.drift.yaml — the `drift:` key is optional
    drift:
      sample: 400                      # fixed stratified sample per golden set (default: all)
      metric: pass                     # what score_change compares: pass, score or a scorer metric
      triggers:                        # an alert when any rule fires; these are the defaults:
        - {name: two-signals, min_signals: 2}       # any two signals moving together
        - {name: quality, min_signals: 1, signals: [score_change, format_validity, error_rate]}
      signals:
        answer_mismatch: {threshold: 0.15}
        latency_change: {enabled: false}
        output_mmd: {enabled: true}    # MMD of output embeddings, besides the classifier AUC
      traffic:
        field: description
        categorical: [bank, currency]
        unreviewed: notice             # a prompt no run evaluated: notice (default) or alert

Thresholds: a value set here wins over a tuned one (`drift tune`), which wins over the
signal's default. Signal names are checked against the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .._strict import Strict
from ..errors import ConfigError
from .triggers import TriggerRule

# Two signals moving together, as the monitoring literature advises; but a quality signal
# (scores, broken outputs, errors) is what users feel, so one of those alone alerts too.
DEFAULT_TRIGGERS = (
    TriggerRule(name="two-signals", min_signals=2),
    TriggerRule(
        name="quality", min_signals=1, signals=["score_change", "format_validity", "error_rate"]
    ),
)


class SignalSettings(Strict):
    enabled: bool | None = Field(None, description="Default: on (output_mmd: off)")
    threshold: float | None = Field(None, description="Fixed threshold (beats a tuned one)")
    min_n: int | None = Field(None, ge=1, description="Observations needed for a verdict")


class TrafficConfig(Strict):
    field: str | None = Field(None, description="The input text field of a log record")
    categorical: list[str] = Field(default_factory=list, description="Fields compared with PSI")
    far_quantile: float = Field(
        0.95,
        gt=0.5,
        lt=1.0,
        description="Golden-set quantile of nearest-neighbour distance that calls an input far",
    )
    triggers: list[TriggerRule] = Field(default_factory=lambda: [TriggerRule(min_signals=2)])
    signals: dict[str, SignalSettings] = Field(default_factory=dict)
    max_records: int = Field(
        5000, ge=10, description="Per side; larger inputs are subsampled (seeded)"
    )
    # A prompt file no run evaluated is worth knowing, but it is not drift: by default a
    # scheduled `drift traffic` prints it and exits 0, so it does not page anyone.
    unreviewed: Literal["notice", "alert"] = Field(
        "notice",
        description="A prompt whose digest no run evaluated: `notice` (printed, exit 0) or "
        "`alert` (exit 1, like a fired rule)",
    )


class DriftConfig(Strict):
    sample: int | None = Field(None, ge=1, description="Stratified sample size per golden set")
    metric: str = Field(
        "pass", description="Metric of score_change: pass, score or a scorer metric"
    )
    min_segment_cases: int = Field(
        20, ge=2, description="Segments smaller than this are not tested alone"
    )
    triggers: list[TriggerRule] = Field(
        default_factory=lambda: [r.model_copy() for r in DEFAULT_TRIGGERS],
        description="Alert when any rule fires (default: any two signals, or one quality signal)",
    )
    signals: dict[str, SignalSettings] = Field(default_factory=dict)
    vectorizer: Literal["auto", "embedder", "tfidf"] = Field(
        "auto", description="auto: the embedder when it loads, else character n-gram TF-IDF"
    )
    n_boot: int = Field(2000, ge=100, description="Bootstrap resamples of the score interval")
    seed: int = 0
    target_false_alarm_rate: float = Field(
        1 / 12, gt=0, lt=1, description="Default target of `drift tune`"
    )
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)

    @model_validator(mode="after")
    def _known_signals(self) -> DriftConfig:
        problem = _unknown_signal(self.model_dump())
        if problem is not None:
            raise ValueError(problem[1])
        return self

    def settings(self, name: str, kind: str = "check") -> SignalSettings:
        table = self.signals if kind == "check" else self.traffic.signals
        return table.get(name) or SignalSettings()


def _unknown_signal(data: dict[str, Any]) -> tuple[tuple[Any, ...], str] | None:
    """(location, message) of the first signal name the registry does not know."""
    import difflib

    from .signal_lookup import known_signals

    for kind, section in (("check", data), ("traffic", data.get("traffic") or {})):
        if not isinstance(section, dict):
            continue
        base = () if kind == "check" else ("traffic",)
        valid = known_signals(kind)
        places: list[tuple[tuple[Any, ...], Any]] = [
            (base + ("signals", k), k) for k in section.get("signals") or {}
        ]
        for i, rule in enumerate(section.get("triggers") or []):
            if isinstance(rule, dict):
                places += [
                    (base + ("triggers", i, "signals", j), n)
                    for j, n in enumerate(rule.get("signals") or [])
                ]
        for loc, name in places:
            if name not in valid:
                close = difflib.get_close_matches(str(name), valid, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return loc, f"unknown {kind} signal {name!r}{hint} (valid: {', '.join(valid)})"
    return None


def config_path(suite_path: Path | None, evalsets_dir: Path) -> Path | None:
    """`<suite>.drift.yaml` next to the suite file, else in evalsets/; None when absent."""
    if suite_path is None:
        return None
    stem = suite_path.name
    for suffix in (".suite.yaml", ".suite.yml", ".yaml", ".yml", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for folder in dict.fromkeys((suite_path.parent, evalsets_dir)):
        for suffix in (".drift.yaml", ".drift.yml"):
            cand = folder / f"{stem}{suffix}"
            if cand.exists():
                return cand
    return None


def load_drift_config(path: Path | None) -> DriftConfig:
    """Read a drift settings file (top-level `drift:` optional); None gives the defaults."""
    if path is None:
        return DriftConfig()
    from .._files import load_data, read_text, validation_error

    text = read_text(path)
    data = load_data(path, text)
    if data is None:
        return DriftConfig()
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and set(data) == {"drift"}:
        data, prefix = data["drift"] or {}, ("drift",)
    if not isinstance(data, dict):
        raise ConfigError("drift settings must be a mapping", path=path)
    from pydantic import ValidationError

    from .._files import format_loc, line_of

    problem = _unknown_signal(data)
    if problem is not None:
        loc, message = problem
        raise ConfigError(
            message, path=path, line=line_of(text, prefix + loc), field=format_loc(loc)
        )
    try:
        return DriftConfig.model_validate(data)
    except ValidationError as exc:
        loc = prefix + tuple(exc.errors()[0]["loc"])
        raise validation_error(exc, path, base_line=line_of(text, loc)) from None
