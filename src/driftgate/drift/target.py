"""The monitored configuration of a drift check: a suite's matrix, or what a route serves.

    target = drift_target("evalsets/cat.suite.yaml", models=["sim/acme@v2"])
    target = drift_target(route="categorize")
    check_drift(target); tune_thresholds(target); target.store.checks()

A target carries its key (what the history is stored under), its store and its drift
settings, so a command builds it once and passes it to the check, the tuning and the
renderers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..suite import Suite, load_suite
from ..workspace import Workspace
from .config import DriftConfig, config_path, load_drift_config
from .schema import TuningReport
from .store import DriftStore, drift_key


class Target:
    """The monitored configuration: suite, model override, its key, store and settings."""

    def __init__(
        self,
        suite: Suite | Path | str | None,
        *,
        workspace: Workspace | Path | str | None,
        models: list[str] | None = None,
        config: DriftConfig | None = None,
    ) -> None:
        self.ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        self.path: Path | None = None
        if isinstance(suite, Suite):
            self.suite = suite
        else:
            self.path = (
                self.ws.default_suite_path()
                if suite is None
                else self.ws.inside(suite, what="suite file")
            )
            self.suite = load_suite(self.path)
        self.name = str(self.path.relative_to(self.ws.root)) if self.path else None
        self.models = list(models or [])
        self.sample: int | None = None  # a route's loop policy may fix its sample size
        self.key = drift_key(self.name, self.models, self.suite.model_dump(mode="json"))
        self.store = DriftStore.for_key(self.ws, self.key)
        self.config = (
            config
            if config is not None
            else load_drift_config(config_path(self.path, self.ws.evalsets_dir))
        )

    @classmethod
    def for_route(
        cls,
        route: str,
        *,
        workspace: Workspace | Path | str | None,
        config: DriftConfig | None = None,
    ) -> Target:
        """What a route serves: its baseline arm's prompt and model on the suite of its
        `loop:` policy (else the workspace's suite), golden sets and scorers as that suite's.

        The prompt stays a ref (`categorize@production`), so the key and history survive
        promotions; a promoted version shows as a prompt change in the check's notes and
        `driftgate loop` records a new baseline after it moves production.
        """
        from ..router.router import load_route_ref

        ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        spec = load_route_ref(ws, route)
        policy = spec.loop
        path = (
            ws.inside(policy.suite, what="suite file")
            if policy is not None and policy.suite
            else ws.default_suite_path()
        )
        base = load_suite(path)
        arm = next(a for a in spec.arms if a.name == spec.baseline_arm)
        if arm.rule is not None:
            raise ConfigError(
                f"route {spec.name!r}: the baseline arm {arm.name!r} is a rule arm; drift is "
                "checked on one prompt and model",
                field="baseline",
                hint="make a prompt arm the baseline, or check one of its choices' prompts",
            )
        data = base.model_dump(mode="json", exclude={"prompts", "models"})
        data["description"] = f"route {spec.name}: arm {arm.name} ({base.description or path.name})"
        suite = Suite.model_validate(
            {**data, "prompts": [arm.prompt], "models": [arm.model] if arm.model else []}
        )
        target = cls(
            suite,
            workspace=ws,
            config=config
            if config is not None
            else load_drift_config(config_path(path, ws.evalsets_dir)),
        )
        target.sample = policy.drift_sample if policy is not None else None
        target.name = f"route/{spec.name}"
        target.key = drift_key(target.name, [], None)
        target.store = DriftStore.for_key(ws, target.key)
        return target

    def tuned(self) -> TuningReport | None:
        return self.store.load_thresholds()


def drift_target(
    suite: Suite | Path | str | None = None,
    *,
    workspace: Workspace | Path | str | None = None,
    models: list[str] | None = None,
    route: str | None = None,
    config: DriftConfig | None = None,
) -> Target:
    """The monitored configuration of a check: a suite's matrix (`models` overriding its
    models), or with `route` what that route serves (`Target.for_route`). Built once and
    passed to `check_drift`, `tune_thresholds` and the renderers (its triggers)."""
    if route is None:
        return Target(suite, workspace=workspace, models=models, config=config)
    if suite is not None or models:
        raise ConfigError(
            "give a suite or --route, not both: a route's check runs what its baseline "
            "arm serves on its loop policy's suite",
            field="route",
        )
    return Target.for_route(route, workspace=workspace, config=config)
