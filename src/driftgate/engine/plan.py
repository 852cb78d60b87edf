"""Turning a suite into a validated plan before anything runs or is written.

Everything that can be wrong with the input (files, prompts, models, scorers, templates,
filters) is found here, so a bad suite exits 2 with nothing stored.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TemplateError, UnknownNameError
from ..evalset import Case, EvalSet
from ..prompt import Prompt
from ..providers.base import ModelConfig
from ..scoring.base import Scorer
from ..scoring.build import build_scorer
from ..suite import Suite, load_suite
from ..workspace import Workspace
from .options import RunOptions, check_plan_size

# Small golden sets are kept in memory after validation (a parsed case takes ~20 times
# its bytes on disk) instead of being parsed again for the run: at most this many cases
# from files of at most this many bytes in all. Larger ones are streamed twice, so memory
# stays flat however large they are.
KEEP_CASES = 5000
KEEP_BYTES = 512 * 1024


@dataclass
class Arm:
    """One prompt on one model: a column of the eval matrix."""

    prompt: Prompt
    model: ModelConfig
    params: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)  # few-shot examples, retrieve()
    max_stored_chars: int = 1_000_000  # the workspace's setting (results.bounded_text)

    @property
    def name(self) -> str:
        return f"{self.prompt.ref} · {self.model.name}"

    @cached_property
    def parse(self) -> Callable[[str | None], tuple[Any, str | None]]:
        """The prompt's output parser, compiled once per arm (hot path)."""
        from ..scoring.parsing import output_parser

        return output_parser(self.prompt.output)

    def response_format(self) -> dict[str, Any] | None:
        if self.prompt.output.type == "json":
            return {"type": "json_object"}
        return None

    def request_labels(self) -> list[str] | None:
        """The label set every request carries (`CompletionRequest.labels`): the prompt's
        labels when its output is a label, else None."""
        return self.prompt.request_labels()


@dataclass
class Plan:
    workspace: Workspace
    suite: Suite
    suite_path: Path | None
    arms: list[Arm]
    evalsets: list[EvalSet]
    scorers: list[Scorer]
    options: RunOptions
    repeat: int
    case_filter: Callable[[Case], bool]
    selected: dict[str, set[str] | None]  # evalset → sampled ids (None = all)
    counts: dict[str, int]  # evalset → selected cases
    # evalset → its cases that pass the filter, kept from validation when the golden sets
    # are small (see KEEP_CASES), so running them does not parse the files again.
    kept: dict[str, list[Case]] = field(default_factory=dict)

    @property
    def planned(self) -> int:
        return sum(self.counts.values()) * len(self.arms) * self.repeat

    def cases(self, evalset: EvalSet) -> Iterator[Case]:
        """Stream the selected cases of one golden set, in file order."""
        chosen = self.selected.get(evalset.name)
        kept = self.kept.get(evalset.name)
        filtered = kept is not None
        taken = 0
        for case in kept if kept is not None else evalset:
            if not filtered and not self.case_filter(case):
                continue
            if chosen is not None and case.id not in chosen:
                continue
            if self.options.limit is not None and taken >= self.options.limit:
                break
            taken += 1
            # After --limit: the limit picks the run's cases, the shard its part of them.
            shard = self.options.shard
            if shard is not None and not shard.owns(evalset.name, case.id):
                continue
            yield case


def parse_filter(terms: list[str]) -> Callable[[Case], bool]:
    """`--filter` terms: `id:GLOB`, `segment:GLOB`, `tag:GLOB`, or a bare GLOB matching any.

    Terms are combined with AND; each may hold alternatives separated by `|`.
    """
    checks: list[Callable[[Case], bool]] = []
    for term in terms:
        for part in [t for t in term.split(",") if t.strip()]:
            field_, sep, pattern = part.strip().partition(":")
            if not sep:
                field_, pattern = "any", field_
            if field_ not in ("id", "segment", "tag", "any"):
                raise ConfigError(
                    f"bad filter {part!r}: field must be id, segment or tag",
                    hint="e.g. --filter segment:cohort=new-bank-format --filter 'id:t-0*'",
                )
            alts = pattern.split("|")

            def check(case: Case, field_: str = field_, alts: list[str] = alts) -> bool:
                values: list[str]
                if field_ == "id":
                    values = [case.id]
                elif field_ == "segment":
                    values = [case.segment or ""]
                elif field_ == "tag":
                    values = case.tags
                else:
                    values = [case.id, case.segment or "", *case.tags]
                return any(fnmatch.fnmatchcase(v, a) for v in values for a in alts)

            checks.append(check)
    if not checks:
        return lambda case: True
    return lambda case: all(c(case) for c in checks)


def build_plan(
    suite: Suite | Path | str | None = None,
    *,
    workspace: Workspace | None = None,
    options: RunOptions | None = None,
    prompts: list[str] | None = None,
    models: list[str | ModelConfig] | None = None,
) -> Plan:
    ws = workspace or Workspace.find()
    options = options or RunOptions()
    suite_obj, suite_path = _suite(ws, suite, prompts, models)
    where = str(suite_path) if suite_path else "suite"
    arms = _arms(ws, suite_obj, where)
    scorers = _scorers(suite_obj, where)
    if any(s.wants_logprobs for s in scorers):  # perplexity reads the answer's logprobs
        for arm in arms:
            arm.params.setdefault("logprobs", True)
    evalsets = _evalsets(ws, suite_obj, suite_path)
    case_filter = parse_filter(options.filter or ([suite_obj.filter] if suite_obj.filter else []))
    repeat = options.repeat or suite_obj.repeat
    seed = options.seed if options.seed is not None else suite_obj.seed

    # First pass over the golden sets: validate every case, count, sample, and check that
    # every prompt renders for each distinct shape of case (cheap; catches undefined vars).
    selected: dict[str, set[str] | None] = {}
    counts: dict[str, int] = {}
    kept: dict[str, list[Case]] = {}
    room = _KeepRoom(KEEP_CASES, KEEP_BYTES)
    for es in evalsets:
        scan = _scan(es, arms, case_filter, options, seed, room)
        selected[es.name] = scan.selected
        counts[es.name] = scan.count
        if scan.keep is not None:
            kept[es.name] = scan.keep
            room.cases -= len(scan.keep)
            room.bytes -= scan.size
        if scan.count == 0:
            raise ConfigError(
                f"golden set {es.name!r} has no case to run"
                + (" after --filter" if options.filter else ""),
                path=es.path,
            )
    check_plan_size(sum(counts.values()), len(arms), repeat, options.force)
    return Plan(
        ws,
        suite_obj,
        suite_path,
        arms,
        evalsets,
        scorers,
        options,
        repeat,
        case_filter,
        selected,
        counts,
        kept,
    )


def _suite(
    ws: Workspace,
    suite: Suite | Path | str | None,
    prompts: list[str] | None,
    models: list[str | ModelConfig] | None,
) -> tuple[Suite, Path | None]:
    """The suite (the workspace's default when None) with `prompts`/`models` overriding its
    own, and its file when it came from one (named in errors and the manifest)."""
    suite_path: Path | None = None
    if suite is None:
        suite_path = ws.default_suite_path()
        suite_obj = load_suite(suite_path)
    elif isinstance(suite, Suite):
        suite_obj = suite
    else:
        suite_path = ws.inside(suite, what="suite file")
        from ..compat.promptfoo import is_promptfoo_config

        if is_promptfoo_config(suite_path):  # promptfoo configs run unchanged (#18)
            from ..compat.promptfoo_files import materialize

            suite_obj = materialize(ws, suite_path)
        else:
            suite_obj = load_suite(suite_path)
    if prompts:
        suite_obj = suite_obj.model_copy(update={"prompts": prompts})
    if models:
        configs = [m if isinstance(m, ModelConfig) else ModelConfig(id=m) for m in models]
        suite_obj = suite_obj.model_copy(update={"models": configs})
    return suite_obj, suite_path


def _arms(ws: Workspace, suite: Suite, where: str) -> list[Arm]:
    """Every prompt × model, each validated: a model to run on, no duplicate, a provider
    for its model id, its few-shot set and index loaded."""
    # Bound (by `find_prompt`): each arm's identity (manifest, results) covers its few-shot
    # set and index.
    from ..registry.prompts import find_prompt

    arms: list[Arm] = []
    for p in [find_prompt(ws, ref) for ref in suite.prompts]:
        model_cfgs = suite.models or ([ModelConfig(id=p.model)] if p.model else [])
        if not model_cfgs:
            raise ConfigError(
                f"prompt {p.ref} names no model and the suite lists none",
                path=where,
                field="models",
                hint="add `model:` to the prompt or `models:` to the suite",
            )
        for m in model_cfgs:
            if m.prompts is not None and p.name not in m.prompts:
                continue  # this model runs only the prompts it names
            params = {**p.params.as_kwargs(), **m.params}
            arms.append(Arm(p, m, params, max_stored_chars=ws.settings.max_stored_chars))
    names = [a.name for a in arms]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(
            f"the suite lists the same prompt × model twice: {sorted(dupes)}", path=where
        )

    from ..providers import create_provider  # validates model ids/prefixes early

    for arm in arms:
        try:
            create_provider(arm.model, workspace=ws)
        except UnknownNameError as exc:
            raise _model_source(exc, suite, where, arm) from None
        arm.context = artifact_context(ws, arm.prompt)
    return arms


def _evalsets(ws: Workspace, suite: Suite, suite_path: Path | None) -> list[EvalSet]:
    """The suite's golden sets; an unknown one names the suite file and line it is listed on."""
    from .._files import line_of

    out = []
    for i, ref in enumerate(suite.evalsets):
        try:
            out.append(ws.evalset(ref))
        except (UnknownNameError, ConfigError) as exc:
            if suite_path is None or exc.path:
                raise
            try:
                line = line_of(suite_path.read_text(encoding="utf-8"), ("evalsets", i))
            except OSError:
                line = None
            if isinstance(exc, UnknownNameError):
                raise exc.located(path=suite_path, line=line, field=f"evalsets[{i}]") from None
            # a bad name, a path out of the workspace: where the suite lists it
            raise ConfigError(
                exc.message, path=suite_path, line=line, field=f"evalsets[{i}]", hint=exc.hint
            ) from None
    return out


def _model_source(exc: UnknownNameError, suite: Suite, where: str, arm: Arm) -> UnknownNameError:
    """An unknown model/provider named where it came from: the suite's `models:`, the
    prompt file's `model:`, or the --model option when the suite file lists no models."""
    import re

    from .._files import line_of

    if exc.path:
        return exc
    source = Path(where) if suite.models else arm.prompt.source
    key = "models" if suite.models else "model"
    try:
        text = source.read_text(encoding="utf-8") if source else ""
    except OSError:
        text = ""
    if re.search(rf"^{key}\s*:", text, re.MULTILINE):
        return exc.located(path=source, line=line_of(text, (key,)), field=key)
    return exc.located(path=None, field="--model" if suite.models else key)


def _scorers(suite: Suite, where: str) -> list[Scorer]:
    scorers = [build_scorer(s, source=where, index=i) for i, s in enumerate(suite.scorers)]
    metrics = [s.metric for s in scorers]
    if len(set(metrics)) != len(metrics):
        raise ConfigError(
            "two scorers report the same metric name; give one a `metric:`",
            path=where,
            field="scorers",
        )
    return scorers


@dataclass
class _KeepRoom:
    """What is left of the in-memory budget for golden sets (see KEEP_CASES)."""

    cases: int
    bytes: int


@dataclass
class _Scan:
    """One golden set after validation: what runs, how many, and its cases when kept."""

    selected: set[str] | None  # sampled or requested ids (None = all)
    count: int
    keep: list[Case] | None
    size: int  # bytes on disk


class _Reservoir:
    """A uniform sample of `k` case ids in one pass (reservoir sampling), seeded per set."""

    def __init__(self, k: int | None, seed: str) -> None:
        self.k = k
        self.rng = random.Random(seed)
        self.ids: list[str] = []
        self.n = 0  # cases offered (all of them are counted, sampled or not)

    def offer(self, case_id: str) -> None:
        self.n += 1
        if self.k is None:
            return
        if len(self.ids) < self.k:
            self.ids.append(case_id)
        else:
            j = self.rng.randrange(self.n)
            if j < self.k:
                self.ids[j] = case_id


def _scan(
    es: EvalSet,
    arms: list[Arm],
    case_filter: Callable[[Case], bool],
    options: RunOptions,
    seed: int,
    room: _KeepRoom,
) -> _Scan:
    """Read one golden set once: validate every case, render each prompt once per shape
    of case, sample, and keep the cases in memory while they fit the room left."""
    reservoir = _Reservoir(options.sample, f"{seed}:{es.name}")
    seen_shapes: set[frozenset[str]] = set()
    seen_ids: set[str] = set()
    size = _file_size(es.path)
    keep: list[Case] | None = [] if room.cases > 0 and size <= room.bytes else None
    for case in es:
        if not case_filter(case):
            continue
        if keep is not None:
            if len(keep) < room.cases:
                keep.append(case)
            else:
                keep = None  # too many to hold: the run streams the file again
        if options.cases is not None:
            seen_ids.add(case.id)
        shape = frozenset(case.vars)
        if shape not in seen_shapes:
            seen_shapes.add(shape)
            _check_renders(es, arms, case)
        reservoir.offer(case.id)
    selected: set[str] | None = None
    n = reservoir.n
    if options.cases is not None:
        selected = set(options.cases.get(es.name, ())) & seen_ids
        n = len(selected)
    elif options.sample is not None:
        selected = set(reservoir.ids)
        n = len(reservoir.ids)
    count = min(n, options.limit) if options.limit is not None else n
    return _Scan(selected, count, keep, size)


def _check_renders(es: EvalSet, arms: list[Arm], case: Case) -> None:
    """Every arm's prompt renders this case (undefined variables are caught before a run)."""
    for arm in arms:
        try:
            arm.prompt.render({**case.template_context(), **arm.context}, case_id=case.id)
        except TemplateError as exc:
            raise TemplateError(f"{es.path}: {exc.message}", hint=exc.hint) from None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 1 << 62  # unknown: never kept (reading it reports the real problem)


def artifact_context(ws: Workspace, prompt: Prompt) -> dict[str, Any]:
    """Few-shot examples and the retrieval function a prompt's template can use: the exact
    versions its bound refs pin (an unbound prompt is bound first), from the workspace
    files when they are those versions, else from the registry (`registry.binding`)."""
    if not prompt.fewshot and not prompt.index:
        return {}
    from ..registry.binding import render_context

    return render_context(ws, prompt)
