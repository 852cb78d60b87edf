"""Finding drift signals by name: the built-in signal modules register on first lookup, then
entry-point plugins (`driftgate.signals`) when a name is not built in or a list is asked for.

This module sits above the built-ins (`signals.py`, `traffic_signals.py`), which import only
`signal_registry`, so the registry never imports what registers into it.
"""

from __future__ import annotations

from ..errors import UnknownNameError
from .signal_registry import SIGNALS, Kind, SignalSpec


def _load_builtins() -> None:
    # The built-in signals register on import; importing here keeps the registry complete
    # whichever module asks first.
    from . import signals as _signals  # noqa: F401
    from . import traffic_signals as _traffic  # noqa: F401


def signal_specs(kind: Kind) -> list[SignalSpec]:
    from ..plugins import load_plugins

    _load_builtins()
    load_plugins("driftgate.signals", on_error="warn")
    return [s for s in SIGNALS.values() if s.kind == kind]


def known_signals(kind: str) -> list[str]:
    return [s.name for s in signal_specs(kind)]  # type: ignore[arg-type]


def get_signal(name: str) -> SignalSpec:
    _load_builtins()
    if name not in SIGNALS:
        from ..plugins import load_plugins

        load_plugins("driftgate.signals", on_error="warn")
        if name not in SIGNALS:  # still missing: a plugin that failed may have been it
            load_plugins("driftgate.signals")
    spec = SIGNALS.get(name)
    if spec is None:
        raise UnknownNameError("drift signal", name, list(SIGNALS))
    return spec
