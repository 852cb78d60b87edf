"""`plugin_output_length`: a drift signal registered on import (off unless configured)."""

from __future__ import annotations

from typing import Any

from driftgate.drift.signal_registry import InsufficientData, Measurement, signal


@signal("plugin_output_length", threshold=1.0, enabled=False, description="test plugin")
def plugin_output_length(ctx: Any, min_n: int) -> Measurement:
    raise InsufficientData(0, "test plugin signal")
