"""A run's manifest at its start: what ran (artifact digests, models, golden sets, scorers,
settings) and where (git revision), so any result can be traced and any run reproduced."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from .._digest import digest
from .._version import __version__
from ..providers.base import ModelConfig
from ..store.records import EvalSetInfo, PromptInfo, RunManifest
from ..store.runs import new_run_id
from .plan import Plan


def new_manifest(plan: Plan) -> RunManifest:
    rev, dirty = _git_state(plan.workspace.root)
    suite_data = plan.suite.model_dump(mode="json", exclude_defaults=False)
    settings: dict[str, Any] = {
        **plan.options.as_settings(),
        "repeat": plan.repeat,
        "suite": suite_data,
    }
    return RunManifest(
        id=new_run_id(),
        suite=str(plan.suite_path.relative_to(plan.workspace.root)) if plan.suite_path else None,
        suite_digest=digest(suite_data),
        description=plan.suite.description,
        created_at=time.time(),
        git_revision=rev,
        git_dirty=dirty,
        driftgate_version=__version__,
        prompts=[
            PromptInfo(
                ref=p.ref,
                name=p.name,
                version=p.version,
                digest=p.digest,
                source=str(p.source.relative_to(plan.workspace.root)) if p.source else None,
            )
            for p in {a.prompt.ref: a.prompt for a in plan.arms}.values()
        ],
        models=[_public_model(a.model) for a in {a.model.name: a for a in plan.arms}.values()],
        evalsets=[
            EvalSetInfo(
                name=es.name,
                path=str(es.path.relative_to(plan.workspace.root)),
                digest=es.digest(),
                cases=plan.counts[es.name],
            )
            for es in plan.evalsets
        ],
        scorers=[
            dict(s.config.model_dump(exclude_defaults=True), type=s.config.type)
            for s in plan.scorers
        ],
        settings=settings,
        planned=plan.planned,
        pass_threshold=plan.suite.pass_threshold,
        max_error_rate=plan.options.max_error_rate
        if plan.options.max_error_rate is not None
        else plan.suite.max_error_rate,
    )


def _public_model(m: ModelConfig) -> dict[str, Any]:
    # api_key_env is the variable's name, never its value; nothing else here is secret.
    return m.model_dump(exclude_defaults=True) | {"id": m.id}


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None, None
        st = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip(), bool(st.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
