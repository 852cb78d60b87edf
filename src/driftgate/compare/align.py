"""Choosing the two arms, and lining their cases up.

An arm is one prompt on one model (`PROMPT · MODEL`, the key of `Summary.by_arm`). Cases are
matched by (golden set, case id); repeats of a case stay grouped so a reducer can turn
them into one value per case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..store.records import CaseResult, RunManifest
from ..summary import arm_key

CaseKey = tuple[str, str]  # (evalset, case_id)


# ---- arms ------------------------------------------------------------------------------
def arms_of(results: Iterable[CaseResult]) -> list[str]:
    """Arm names in order of first appearance."""
    seen: dict[str, None] = {}
    for r in results:
        seen.setdefault(arm_key(r.prompt, r.model), None)
    return list(seen)


def pick_arm(arms: Sequence[str], selector: str | None, *, where: str, option: str) -> str | None:
    """The arm named by `selector` (exact name, else a unique case-insensitive substring).

    Without a selector: the only arm, or None when there are several (undecided).
    """
    if selector is None:
        return arms[0] if len(arms) == 1 else None
    if selector in arms:
        return selector
    needle = selector.casefold()
    hits = [a for a in arms if needle in a.casefold()]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(arms) or "(no results)"
    if not hits:
        raise ConfigError(
            f"no arm of {where} matches {selector!r}; its arms: {listing}", field=option
        )
    raise ConfigError(
        f"{selector!r} matches several arms of {where}: {'; '.join(hits)}",
        field=option,
        hint="give more of the name: `PROMPT · MODEL`",
    )


def choose_arms(
    arms_a: Sequence[str],
    arms_b: Sequence[str],
    arm_a: str | None,
    arm_b: str | None,
    *,
    where_a: str,
    where_b: str,
) -> tuple[str, str]:
    """Pick the arm of each of two runs.

    Each side is decided by its own selector or by being the run's only arm; an undecided
    side takes the other side's arm name when it has it ("match arms by name"), else the
    other side's selector.
    """
    pa = pick_arm(arms_a, arm_a, where=where_a, option="arm_a")
    pb = pick_arm(arms_b, arm_b, where=where_b, option="arm_b")
    if pa is None and pb is None:
        common = [a for a in arms_a if a in arms_b]
        if len(common) == 1:
            return common[0], common[0]
        raise ConfigError(
            f"{where_a} has arms [{'; '.join(arms_a)}] and {where_b} has arms [{'; '.join(arms_b)}]; "
            "choose which to compare",
            field="arm_a",
            hint="--arm-a and --arm-b take `PROMPT · MODEL` or a unique part of it",
        )
    if pa is None:
        pa = pb if pb in arms_a else pick_arm(arms_a, arm_b, where=where_a, option="arm_b")
    if pb is None:
        pb = pa if pa in arms_b else pick_arm(arms_b, arm_a, where=where_b, option="arm_a")
    if pa is None or pb is None:
        undecided, arms = (where_a, arms_a) if pa is None else (where_b, arms_b)
        raise ConfigError(
            f"cannot tell which arm of {undecided} to compare: [{'; '.join(arms)}]",
            field="arm_a" if pa is None else "arm_b",
            hint="name it with --arm-a / --arm-b",
        )
    return pa, pb


def choose_arms_in_run(
    arms: Sequence[str], arm_a: str | None, arm_b: str | None, *, where: str
) -> tuple[str, str]:
    """Two arms of one run: named, or the run's two arms in plan order."""
    if len(arms) < 2:
        raise ConfigError(
            f"{where} has a single arm ({'; '.join(arms) or 'no results'}): nothing to compare it with",
            hint="name a second run: `driftgate compare RUN_A RUN_B`",
        )
    pa = pick_arm(arms, arm_a, where=where, option="arm_a") if arm_a is not None else None
    pb = pick_arm(arms, arm_b, where=where, option="arm_b") if arm_b is not None else None
    if pa is None and pb is None:
        if len(arms) != 2:
            raise ConfigError(
                f"{where} has {len(arms)} arms [{'; '.join(arms)}]; choose two",
                field="arm_a",
                hint="--arm-a and --arm-b take `PROMPT · MODEL` or a unique part of it",
            )
        pa, pb = arms[0], arms[1]
    elif pa is None or pb is None:
        chosen = pa or pb
        rest = [a for a in arms if a != chosen]
        if len(rest) != 1:
            raise ConfigError(
                f"{where} has {len(arms)} arms; name both with --arm-a and --arm-b",
                field="arm_b" if pb is None else "arm_a",
            )
        pa, pb = (chosen, rest[0]) if pb is None else (rest[0], chosen)
    assert pa is not None and pb is not None  # every branch above names both
    if pa == pb:
        raise ConfigError(f"--arm-a and --arm-b both select {pa!r}", field="arm_b")
    return pa, pb


# ---- cases -----------------------------------------------------------------------------
@dataclass(slots=True)
class CaseGroup:
    """The results of one case on one side, repeats in order."""

    evalset: str
    case_id: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def first(self) -> CaseResult:
        return self.results[0]


def group_cases(results: Iterable[CaseResult], *, side: str) -> dict[CaseKey, CaseGroup]:
    """Results of one arm by (evalset, case_id); several arms are an error."""
    groups: dict[CaseKey, CaseGroup] = {}
    arm: str | None = None
    for r in results:
        key = arm_key(r.prompt, r.model)
        if arm is None:
            arm = key
        elif key != arm:
            raise ConfigError(
                f"results {side} hold more than one arm ({arm!r} and {key!r})",
                field=f"results_{side}",
                hint="pass the results of one prompt × model per side",
            )
        g = groups.get((r.evalset, r.case_id))
        if g is None:
            g = groups[(r.evalset, r.case_id)] = CaseGroup(r.evalset, r.case_id)
        g.results.append(r)
    for g in groups.values():
        g.results.sort(key=lambda r: r.repeat)
    return groups


def case_label(key: CaseKey, qualified: bool) -> str:
    return f"{key[0]}:{key[1]}" if qualified else key[1]


# ---- metric values ---------------------------------------------------------------------
def metric_value(r: CaseResult, metric: str) -> float | None:
    """One result's value of a metric; None when the result does not have it.

    A provider/template error is a failure (0.0) for every metric: the case was asked and
    not answered, and leaving it out would reward a version for failing.
    """
    if metric == "pass":
        return 1.0 if r.passed and r.error is None else 0.0
    if metric == "score":
        if r.score is not None:
            return float(r.score)
        return 0.0 if r.error is not None else None
    for s in r.scores:
        if s.metric == metric:
            return float(s.value) if s.error is None else 0.0
    return 0.0 if r.error is not None and not r.scores else None


def scorer_metrics(groups: Iterable[CaseGroup]) -> list[str]:
    """Scorer metric names in order of first appearance."""
    names: dict[str, None] = {}
    for g in groups:
        for r in g.results:
            for s in r.scores:
                names.setdefault(s.metric, None)
    return list(names)


# ---- pairing two sides ---------------------------------------------------------------
_SHOW_IDS = 5


@dataclass
class AlignedCases:
    """The cases both sides answered (in A's order) and what either side ran alone."""

    ga: dict[CaseKey, CaseGroup]
    gb: dict[CaseKey, CaseGroup]
    keys: list[CaseKey]
    common_sets: list[str]
    qualified: bool  # more than one golden set: labels carry the golden set's name

    @property
    def labels(self) -> list[str]:
        return [case_label(key, self.qualified) for key in self.keys]

    @property
    def a_groups(self) -> list[CaseGroup]:
        return [self.ga[key] for key in self.keys]

    @property
    def b_groups(self) -> list[CaseGroup]:
        return [self.gb[key] for key in self.keys]

    @property
    def only_a(self) -> list[str]:
        return [case_label(key, self.qualified) for key in self.ga if key not in self.gb]

    @property
    def only_b(self) -> list[str]:
        return [case_label(key, self.qualified) for key in self.gb if key not in self.ga]

    def warnings(self) -> list[str]:
        """What the comparison leaves out: cases and golden sets of one side only."""
        out = []
        for side, only, total in (
            ("A", self.only_a, len(self.ga)),
            ("B", self.only_b, len(self.gb)),
        ):
            if only:
                out.append(
                    f"{len(only)} of {total} cases were answered by {side} only and are left out "
                    f"(e.g. {', '.join(only[:_SHOW_IDS])})"
                )
        ea, eb = evalsets_of(self.ga), evalsets_of(self.gb)
        out += [f"golden set {name!r} was run by A only" for name in ea if name not in eb]
        out += [f"golden set {name!r} was run by B only" for name in eb if name not in ea]
        return out


def align_cases(
    ga: dict[CaseKey, CaseGroup],
    gb: dict[CaseKey, CaseGroup],
    manifest_a: RunManifest | None,
    manifest_b: RunManifest | None,
) -> AlignedCases:
    """Pair the two sides' cases; a ConfigError names what keeps them from pairing."""
    for side, groups in (("A", ga), ("B", gb)):
        if not groups:
            raise ConfigError(
                f"side {side} has no results to compare", field=f"results_{side.lower()}"
            )
    ea, eb = evalsets_of(ga), evalsets_of(gb)
    common_sets = [e for e in ea if e in eb]
    if not common_sets:
        raise ConfigError(
            "the two sides ran different golden sets: "
            f"A ran {_describe_sets(ea, manifest_a)}, B ran {_describe_sets(eb, manifest_b)}",
            field="evalset",
            hint="compare runs of the same golden set",
        )
    qualified = len(set(ea) | set(eb)) > 1
    keys = [key for key in ga if key in gb]
    if not keys:
        raise ConfigError(
            f"no case in common: A answered {len(ga)} cases (e.g. {_ids(ga, qualified)}), "
            f"B answered {len(gb)} (e.g. {_ids(gb, qualified)}) of "
            f"{_describe_sets(common_sets, manifest_a)}",
            field="case_id",
            hint="the golden set's case ids changed between the runs",
        )
    if len(keys) < 2:
        raise ConfigError(
            f"only one case in common ({case_label(keys[0], qualified)}): a paired comparison needs at least 2",
            field="case_id",
        )
    return AlignedCases(ga, gb, keys, common_sets, qualified)


def evalsets_of(groups: Mapping[CaseKey, CaseGroup]) -> list[str]:
    return list(dict.fromkeys(key[0] for key in groups))


def _describe_sets(names: Iterable[str], manifest: RunManifest | None) -> str:
    info = {e.name: e for e in manifest.evalsets} if manifest else {}
    parts = []
    for name in names:
        e = info.get(name)
        parts.append(f"{name!r} (digest {e.digest}, {e.path})" if e else repr(name))
    return ", ".join(parts) or "nothing"


def _ids(groups: Mapping[CaseKey, CaseGroup], qualified: bool) -> str:
    return ", ".join(case_label(key, qualified) for key in list(groups)[:3])
