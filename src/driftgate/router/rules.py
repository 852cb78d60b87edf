"""A route's learned rules, as serving reads them: `rule/ROUTE@ALIAS` from the registry.

A rule arm (`{name: learned, rule: candidate, choices: [cheap, strong]}`) serves, per
request, the choice its rule picks from the request's variables and segment. The rule is a
registry version of `rule/ROUTE` (made by `driftgate retrain route/ROUTE`), so what serves
is a version, a promotion or a rollback is an alias move, and every process sees the move
on its next request (the registry's resolver re-reads the alias state when it changes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..artifacts.route import RouteArm, RouteSpec
    from ..registry.serving import ResolvedArtifact
    from ..routing.rule import RoutingRule


def rule_ref(route: str, selector: str) -> str:
    return f"rule/{route}@{selector}"


def resolve_rule_version(ws: Workspace, route: str, selector: str) -> ResolvedArtifact:
    """The registry version a rule arm's `rule:` names now (alias, number or digest)."""
    from ..registry.serving import resolve

    return resolve(rule_ref(route, selector), workspace=ws)


def resolve_rule(ws: Workspace, route: str, selector: str) -> RoutingRule:
    rule: RoutingRule = resolve_rule_version(ws, route, selector).definition
    return rule


def checked_rule(ws: Workspace, spec: RouteSpec, arm: RouteArm) -> RoutingRule:
    """The rule a rule arm serves, checked against the arm: it must pick among exactly the
    arm's choices (a rule trained for other arms would send requests nowhere)."""
    assert arm.rule is not None
    rule = resolve_rule(ws, spec.name, arm.rule)
    if sorted(rule.choices) != sorted(arm.choices):
        raise ConfigError(
            f"route {spec.name!r}: arm {arm.name!r} picks among {arm.choices}, but "
            f"{rule_ref(spec.name, arm.rule)} was trained for {rule.choices}",
            field=f"arms[{arm.name}].choices",
            hint=f"retrain: driftgate retrain route/{spec.name}",
        )
    return rule
