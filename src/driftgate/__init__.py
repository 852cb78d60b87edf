"""driftgate: evaluate, compare, gate and monitor prompts and models.

The public API. Names are imported lazily so `import driftgate` (and the CLI's start-up)
costs almost nothing; the first use of a name imports what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "Case",
    "Comparison",
    "EvalSet",
    "ModelConfig",
    "Prompt",
    "Run",
    "RunManifest",
    "CaseResult",
    "Score",
    "ScoreContext",
    "Scorer",
    "ScorerConfig",
    "Suite",
    "Workspace",
    "DriftgateError",
    "ConfigError",
    "compare_results",
    "compare_runs",
    "compare_suite",
    "embed",
    "query",
    "resolve",
    "Resolver",
    "ResolvedArtifact",
    "promote",
    "rollback",
    "register_artifacts",
    "evaluate_gate",
    "GatePolicy",
    "GateVerdict",
    "load_prompt",
    "load_suite",
    "register_provider",
    "resume",
    "retrain",
    "loop",
    "LoopResult",
    "Router",
    "run",
    "scorer",
    "__version__",
]

_LAZY = {
    "loop": "driftgate.loops",
    "LoopResult": "driftgate.loops",
    "Case": "driftgate.evalset",
    "EvalSet": "driftgate.evalset",
    "ModelConfig": "driftgate.providers.base",
    "register_provider": "driftgate.providers",
    "Prompt": "driftgate.prompt",
    "load_prompt": "driftgate.prompt",
    "Run": "driftgate.engine.runner",
    "run": "driftgate.engine.runner",
    "resume": "driftgate.engine.runner",
    "RunManifest": "driftgate.store.records",
    "CaseResult": "driftgate.store.records",
    "Score": "driftgate.scoring.base",
    "ScoreContext": "driftgate.scoring.base",
    "Scorer": "driftgate.scoring.base",
    "ScorerConfig": "driftgate.scoring.base",
    "scorer": "driftgate.scoring.base",
    "Suite": "driftgate.suite",
    "load_suite": "driftgate.suite",
    "Workspace": "driftgate.workspace",
    "DriftgateError": "driftgate.errors",
    "ConfigError": "driftgate.errors",
    "embed": "driftgate.embedding",
    "Comparison": "driftgate.compare",
    "compare_results": "driftgate.compare",
    "compare_runs": "driftgate.compare",
    "compare_suite": "driftgate.compare",
    "query": "driftgate.store.query",
    "resolve": "driftgate.registry.serving",
    "Resolver": "driftgate.registry.serving",
    "ResolvedArtifact": "driftgate.registry.serving",
    "promote": "driftgate.registry.moves",
    "rollback": "driftgate.registry.moves",
    "register_artifacts": "driftgate.registry.record",
    "evaluate_gate": "driftgate.gate",
    "Router": "driftgate.router",
    "retrain": "driftgate.retraining",
    "GatePolicy": "driftgate.gate",
    "GateVerdict": "driftgate.gate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'driftgate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .compare import Comparison, compare_results, compare_runs, compare_suite
    from .embedding import embed
    from .engine.runner import Run, resume, run
    from .errors import ConfigError, DriftgateError
    from .evalset import Case, EvalSet
    from .gate import GatePolicy, GateVerdict, evaluate_gate
    from .prompt import Prompt, load_prompt
    from .providers import register_provider
    from .providers.base import ModelConfig
    from .registry.moves import promote, rollback
    from .registry.record import register_artifacts
    from .registry.serving import ResolvedArtifact, Resolver, resolve
    from .scoring.base import Score, ScoreContext, Scorer, ScorerConfig, scorer
    from .store.query import query
    from .store.records import CaseResult, RunManifest
    from .suite import Suite, load_suite
    from .workspace import Workspace
