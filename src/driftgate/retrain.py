"""Retraining in one command: a prompt's few-shot set and index corpus rebuilt from new
labeled data, evaluated against what serves now, gated, and only then written.

    from driftgate.retrain import retrain
    result = retrain("categorize@few-shot", route="categorize", labels=["new-labels.jsonl"])

1. Labeled rows come from a route's feedback (`router.log.labeled_cases`) and from golden-set
   files (`vars` + `expected`). Later sources win on a shared id (explicit files over
   feedback). Rows whose id or whose vars equal a case of the suite's golden sets are
   dropped: the evaluation must not find its own answers in the prompt.
2. Candidates are built in a temporary copy of the workspace (prompts, golden sets,
   settings): a few-shot set re-selected from the old examples plus the new rows with the old
   set's strategy, per-label count and seed; an index corpus extended with the new rows
   (deduplicated by text, in the corpus file's own format).
3. The suite runs with only this prompt on the workspace (baseline) and on the copy
   (candidate); the copy shares the response cache and the runs folder, so the baseline costs
   nothing when it ran before and both runs can be compared later by id. The candidate's
   suite description is tagged, so no later gate or CI job takes its results as evidence for
   the prompt's digest (which does not cover the few-shot set or the corpus). Its registry
   state is the copy's own: a rejected candidate leaves no version behind.
4. When `evaluate_gate` passes and `apply` is set, exactly the bytes that were evaluated
   replace the workspace files (atomically, after checking that they did not change
   meanwhile) and are registered. Otherwise the workspace is left as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ._model import Strict
from .errors import ConfigError, ProviderErrorBudgetExceeded
from .gate import GateVerdict
from .workspace import Workspace, load_settings

if TYPE_CHECKING:
    from .artifacts.fewshot import FewShotSet
    from .prompt import Prompt
    from .suite import Suite


class LabelCounts(Strict):
    """What was collected, and what was left out and why."""

    sources: dict[str, int] = Field(default_factory=dict, description="Rows read per source.")
    rows: int = Field(0, description="Rows read in all.")
    duplicates: int = Field(0, description="Rows whose id a later source also had.")
    leaked: int = Field(0, description="Rows equal to a golden-set case (id or vars): dropped.")
    unusable: int = Field(0, description="Rows without a usable label.")
    used: int = Field(0, description="Rows handed to the artifact builders.")


class ArtifactChange(Strict):
    kind: Literal["fewshot", "index"]
    name: str
    path: str = Field(description="Workspace-relative file the new version replaces.")
    old_digest: str
    new_digest: str
    added: int = Field(0, description="Examples new to the set / corpus rows appended.")
    removed: int = Field(0, description="Examples of the old set not selected again.")
    size: int = Field(0, description="Examples / corpus rows of the new version.")
    skipped: int = Field(0, description="Labeled rows this artifact could not use.")
    version: str | None = Field(None, description="Registered ref, once applied.")

    @property
    def changed(self) -> bool:
        return self.old_digest != self.new_digest


class RetrainResult(Strict):
    prompt: str
    suite: str
    dry_run: bool
    labels: LabelCounts
    artifacts: list[ArtifactChange]
    baseline_run: str | None = None
    candidate_run: str | None = None
    verdict: GateVerdict | None = None
    passed: bool = Field(description="The gate passed (or there was nothing to change).")
    applied: bool = False
    registered: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def retrain(
    prompt: str,
    *,
    route: str | None = None,
    labels: list[str | Path] | None = None,
    suite: str | Path | None = None,
    workspace: Workspace | Path | str | None = None,
    model: str | None = None,
    apply: bool = True,
) -> RetrainResult:
    """Rebuild the few-shot set and/or index of `prompt` from new labeled rows, gate the
    result against the current artifacts, and (when it passes and `apply`) write it.

    `model` picks one model when the suite runs several (a gate compares one arm).
    Raises ConfigError (exit 2) when there is nothing to retrain or no labeled row to use.
    """
    from .engine.runner import run
    from .gate import evaluate_gate, find_policy
    from .suite import load_suite

    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    p = ws.prompt(prompt)
    prompt_rel = _prompt_file(ws, p)
    if not p.fewshot and not p.index:
        raise ConfigError(
            f"prompt {p.ref} has neither `fewshot:` nor `index:`: there is nothing to retrain",
            path=p.source,
            hint="retrain rebuilds few-shot sets and retrieval indexes; edit the prompt itself",
        )
    if not route and not labels:
        raise ConfigError(
            "no labeled data given", hint="pass --route NAME (user feedback) and/or --labels FILE"
        )
    suite_path = ws.inside(suite, what="suite file") if suite else ws.default_suite_path()
    suite_obj = load_suite(suite_path)
    models = _one_model(suite_obj, model)
    golden = [ws.evalset(ref) for ref in suite_obj.evalsets]
    counts, rows = collect_labels(ws, route=route, labels=labels, golden=golden, prompt=p)
    if not rows:
        raise ConfigError(
            f"no usable labeled rows ({counts.rows} read, {counts.leaked} in the golden sets, "
            f"{counts.unusable} without a label of the prompt)",
            hint="label some traffic (`driftgate route feedback`) or pass --labels FILE",
        )
    result = RetrainResult(
        prompt=p.ref,
        suite=_rel(ws, suite_path),
        dry_run=not apply,
        labels=counts,
        artifacts=[],
        passed=True,
    )
    with tempfile.TemporaryDirectory(prefix="driftgate-retrain-") as tmp:
        cand = _candidate_workspace(ws, Path(tmp), [suite_path, *(e.path for e in golden)])
        source = _describe_sources(counts)
        files: dict[str, bytes] = {}  # workspace-relative path → evaluated bytes
        if p.fewshot:
            change, data = _fewshot_candidate(ws, p, rows, source, result.notes)
            result.artifacts.append(change)
            files[change.path] = data
        if p.index:
            change, data = _index_candidate(ws, p, rows, golden)
            result.artifacts.append(change)
            files[change.path] = data
        originals = {rel: _sha(ws.root / rel) for rel in files}
        for rel, data in files.items():
            (cand.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (cand.root / rel).write_bytes(data)
        for change in result.artifacts:
            if change.kind == "index":  # its digest covers the corpus bytes: compute it now
                change.new_digest = _index_digest(cand, p.index or "")
        if not any(c.changed for c in result.artifacts):
            result.notes.append("the rebuilt artifacts equal the current ones: nothing to apply")
            return result

        tag = ", ".join(f"{c.kind}/{c.name} {c.new_digest[:12]}" for c in result.artifacts)
        meta = {
            "prompt": p.ref,
            "artifacts": {f"{c.kind}/{c.name}": c.new_digest for c in result.artifacts},
        }
        baseline = run(
            suite_path,
            workspace=ws,
            prompts=[prompt_rel],
            models=models,
            metadata={"retrain": {**meta, "role": "baseline"}},
        )
        candidate = run(
            _tagged(suite_obj, tag),
            workspace=cand,
            prompts=[prompt_rel],
            models=models,
            metadata={"retrain": {**meta, "role": "candidate"}},
        )
        for r in (baseline, candidate):
            if r.manifest.status != "finished":
                raise ProviderErrorBudgetExceeded(
                    f"retrain's run {r.id} ended {r.manifest.status} ({r.manifest.verdict}); "
                    "no verdict without complete results",
                    hint=f"`driftgate show {r.id}` lists the errors",
                )
        result.baseline_run, result.candidate_run = baseline.id, candidate.id
        result.verdict = evaluate_gate(
            candidate.results,
            baseline.results,
            find_policy(ws, p.name),
            candidate=f"{p.ref} with retrained {tag}",
            baseline=f"{p.ref} as it serves",
        )
        result.passed = result.verdict.passed
        if result.passed and apply:
            _apply(ws, files, originals)
            result.applied = True
            result.registered = _register(ws, result.artifacts)
    return result


# ---- labeled rows ----------------------------------------------------------------------
def collect_labels(
    ws: Workspace,
    *,
    route: str | None,
    labels: list[str | Path] | None,
    golden: list[Any],
    prompt: Prompt,
) -> tuple[LabelCounts, list[dict[str, Any]]]:
    """Labeled rows (`{id, vars, expected}`) from a route and golden-set files, deduplicated
    by id (later sources win), without golden-set cases and rows the prompt cannot use."""
    from .evalset import iter_cases
    from .router.log import labeled_cases

    counts = LabelCounts()
    by_id: dict[str, dict[str, Any]] = {}
    sources: list[tuple[str, list[dict[str, Any]]]] = []
    if route:
        sources.append((f"route:{route}", labeled_cases(ws, route)))
    for item in labels or []:
        path = _labels_path(ws, item)
        # Named as in the workspace when it is in it, else as given (not a temp path).
        name = _rel(ws, path) if ws.root in path.parents else str(item)
        sources.append((name, [c.model_dump() for c in iter_cases(path)]))
    for name, cases in sources:
        counts.sources[name] = len(cases)
        counts.rows += len(cases)
        for case in cases:
            if case["id"] in by_id:
                counts.duplicates += 1
                del by_id[case["id"]]  # re-inserted last: the later source's row wins
            by_id[case["id"]] = case
    ids: set[str] = set()
    seen_vars: set[str] = set()
    for es in golden:
        for case in es:
            ids.add(case.id)
            seen_vars.add(_vars_key(case.vars))
    allowed = set(prompt.output.labels or [])
    rows = []
    for case in by_id.values():
        if case["id"] in ids or _vars_key(case.get("vars") or {}) in seen_vars:
            counts.leaked += 1
            continue
        expected = case.get("expected")
        if isinstance(expected, bool) or not isinstance(expected, (str, int, float)):
            counts.unusable += 1  # no label, or a structured answer: not a few-shot label
            continue
        if allowed and str(expected) not in allowed:
            counts.unusable += 1
            continue
        rows.append({"id": case["id"], "vars": dict(case.get("vars") or {}), "expected": expected})
    counts.used = len(rows)
    return counts, rows


def _labels_path(ws: Workspace, item: str | Path) -> Path:
    """A labels file as given: absolute, else relative to the current folder, else to the
    workspace root."""
    path = Path(item).expanduser()
    for cand in [path] if path.is_absolute() else [Path.cwd() / path, ws.root / path]:
        if cand.is_file():
            return cand.resolve()
    raise ConfigError("labels file not found", path=item, hint="a golden-set file: vars + expected")


def _vars_key(variables: dict[str, Any]) -> str:
    return json.dumps(variables, sort_keys=True, ensure_ascii=False, default=str)


def _describe_sources(counts: LabelCounts) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.sources.items())


# ---- candidates ------------------------------------------------------------------------
def _fewshot_candidate(
    ws: Workspace, p: Prompt, rows: list[dict[str, Any]], source: str, notes: list[str]
) -> tuple[ArtifactChange, bytes]:
    """The few-shot set re-selected from its own examples plus the new rows."""
    from collections import Counter
    from datetime import date

    from .artifacts.fewshot import TFIDF_REPRESENTATION, build_fewshot, load_fewshot
    from .engine.plan import artifact_file

    path = artifact_file(ws, "fewshot", p.fewshot or "", p)
    old = load_fewshot(path)
    # New examples take the old examples' input shape: the template reads those keys.
    keys = set.intersection(*(set(e.input) for e in old.examples))
    pool = [
        {"id": f"previous-{i}", "vars": dict(e.input), "expected": e.label or e.output}
        for i, e in enumerate(old.examples)
    ]
    skipped = 0
    for row in rows:
        if not keys <= row["vars"].keys():
            skipped += 1
            continue
        variables = {k: row["vars"][k] for k in sorted(keys)} if keys else row["vars"]
        pool.append({"id": row["id"], "vars": variables, "expected": str(row["expected"])})
    strategy = old.strategy
    if strategy == "manual":
        strategy = "diverse"
        notes.append(f"few-shot set {old.name!r} was chosen by hand; re-selected by diversity")
    if strategy == "diverse" and old.provenance.representation not in (None, TFIDF_REPRESENTATION):
        notes.append(
            f"few-shot set {old.name!r} was selected on {old.provenance.representation}; "
            f"re-selected on {TFIDF_REPRESENTATION}"
        )
    new = build_fewshot(
        old.name,
        pool,
        per_label=max(Counter(e.label or e.output for e in old.examples).values()),
        strategy=strategy,
        # No seed recorded: None keeps the labels in first-seen order (select_fewshot), so a
        # hand-ordered set is not shuffled.
        seed=old.provenance.seed,
        description=old.description,
        source=f"retrain: previous set {old.digest[:12]} + {source}",
        created=date.today().isoformat(),
        text_field=next(iter(keys)) if len(keys) == 1 else "text",
    )
    before = {_example_key(e) for e in old.examples}
    after = {_example_key(e) for e in new.examples}
    change = ArtifactChange(
        kind="fewshot",
        name=old.name,
        path=_rel(ws, path),
        old_digest=old.digest,
        new_digest=new.digest,
        added=len(after - before),
        removed=len(before - after),
        size=len(new.examples),
        skipped=skipped,
    )
    return change, _fewshot_bytes(new, path.suffix)


def _example_key(example: Any) -> str:
    return json.dumps(example.model_dump(mode="json"), sort_keys=True)


def _fewshot_bytes(fs: FewShotSet, suffix: str) -> bytes:
    """The file as `save_fewshot` writes it (JSON for a .json file)."""
    data = fs.model_dump(mode="json", exclude_none=True)
    if suffix == ".json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).encode()


def _index_candidate(
    ws: Workspace, p: Prompt, rows: list[dict[str, Any]], golden: list[Any]
) -> tuple[ArtifactChange, bytes]:
    """The index corpus with the new rows appended (text not yet in it), same format."""
    from .artifacts.index import _raw_rows, load_corpus, load_index_spec
    from .engine.plan import artifact_file

    spec = load_index_spec(artifact_file(ws, "indexes", p.index or "", p))
    corpus = ws.inside(spec.corpus, what="corpus")
    if any(es.path.resolve() == corpus for es in golden):
        raise ConfigError(
            f"the corpus of index {spec.name!r} is a golden set of the suite: extending it "
            "would change what the candidate is evaluated on",
            path=corpus,
        )
    existing = load_corpus(spec, corpus)
    texts = {r["text"] for r in existing}
    ids = {r["id"] for r in existing}
    with_ids = any(spec.id_field in raw for raw, _ in _raw_rows(corpus))
    new_rows: list[dict[str, Any]] = []
    skipped = 0
    # What the prompt retrieves on: the corpus's own text field when a request has it, else
    # the one text variable the prompt's template uses (e.g. `retrieve(description)`).
    used = p.template_variables()
    for row in rows:
        text = row["vars"].get(spec.text_field)
        if text is None:
            texts_used = [v for k, v in row["vars"].items() if k in used and isinstance(v, str)]
            if len(texts_used) == 1:
                text = texts_used[0]
        if not isinstance(text, str) or not text.strip():
            skipped += 1
            continue
        if text in texts:
            continue  # deduplicated by text: the corpus already has it
        texts.add(text)
        rec: dict[str, Any] = {}
        if with_ids:
            rid, n = str(row["id"]), 1
            while rid in ids:
                n += 1
                rid = f"{row['id']}-{n}"
            ids.add(rid)
            rec[spec.id_field] = rid
        rec[spec.text_field] = text
        if spec.label_field is not None:
            rec[spec.label_field] = row["expected"]
        new_rows.append(rec)
    change = ArtifactChange(
        kind="index",
        name=spec.name,
        path=_rel(ws, corpus),
        old_digest=_index_digest(ws, spec.name),
        new_digest="",  # set once the candidate corpus is written
        added=len(new_rows),
        size=len(existing) + len(new_rows),
        skipped=skipped,
    )
    return change, _extended_corpus(corpus, new_rows)


def _extended_corpus(path: Path, rows: list[dict[str, Any]]) -> bytes:
    """The corpus file's bytes with `rows` added, keeping its format (and for JSONL and CSV,
    every existing byte)."""
    old = path.read_bytes()
    if not rows:
        return old
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        head = old if not old or old.endswith(b"\n") else old + b"\n"
        return head + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    if suffix == ".csv":
        import csv
        import io

        text = old.decode("utf-8")
        header = next(csv.reader(io.StringIO(text)))
        out = io.StringIO()
        ending = "\r\n" if "\r\n" in text else "\n"
        writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator=ending)
        writer.writerows({k: v for k, v in r.items() if k in header} for r in rows)
        head = text if not text or text.endswith(("\n", "\r")) else text + ending
        return (head + out.getvalue()).encode()
    from ._files import load_data

    data = load_data(path)
    target = data["rows"] if isinstance(data, dict) else data
    target.extend(rows)
    if suffix == ".json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).encode()


def _index_digest(ws: Workspace, name: str) -> str:
    """The index version the registry and the index cache would give the files as they are."""
    from .artifacts.index import find_index_spec
    from .registry.kinds import describe_index

    return describe_index(find_index_spec(ws.prompts_dir, name), ws.root)[2]


# ---- the candidate workspace ------------------------------------------------------------
def _candidate_workspace(ws: Workspace, root: Path, extra: list[Path]) -> Workspace:
    """A copy of what a run reads (settings, prompts, golden sets, the suite) under `root`,
    with the workspace's runs and cache folders and a registry state of its own."""
    for name in ("driftgate.yaml", "pyproject.toml"):
        if (ws.root / name).is_file():
            shutil.copy2(ws.root / name, root / name)
    for folder in (ws.prompts_dir, ws.evalsets_dir):
        if folder.is_dir():
            shutil.copytree(folder, root / _rel(ws, folder), dirs_exist_ok=True)
    for path in extra:  # a suite or golden set outside those folders
        target = root / _rel(ws, path)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    settings = load_settings(root).model_copy(
        update={
            "runs_dir": str(ws.runs_dir),
            "cache_dir": str(ws.cache_dir),
            "state_dir": str(root / ".driftgate-retrain"),
        }
    )
    return Workspace(root, settings)


def _tagged(suite: Suite, tag: str) -> Suite:
    """The suite with a description naming the candidate: another suite key, so no gate or
    CI job reuses the candidate's results for the prompt's digest alone."""
    desc = f"{suite.description or 'suite'} [retrain candidate: {tag}]"
    return suite.model_copy(update={"description": desc})


def _one_model(suite: Suite, model: str | None) -> list[Any] | None:
    """The model to evaluate on (None: the suite's only one, or the prompt's own)."""
    from .providers.base import ModelConfig

    if model is None:
        if len(suite.models) > 1:
            raise ConfigError(
                f"the suite runs {len(suite.models)} models; a retrain gate compares on one",
                field="models",
                hint="pick it with --model (" + ", ".join(m.name for m in suite.models) + ")",
            )
        return None
    same = [m for m in suite.models if model in (m.name, m.id)]
    return [same[0] if same else ModelConfig(id=model)]


def _prompt_file(ws: Workspace, p: Prompt) -> str:
    from .prompt import load_prompt

    if p.source is None or not Path(p.source).is_file() or load_prompt(p.source).digest != p.digest:
        raise ConfigError(
            f"prompt {p.ref} is not a file of the workspace (a registered version?)",
            hint="retrain a prompt by its file's name or label, e.g. categorize@few-shot",
        )
    return _rel(ws, Path(p.source))


# ---- applying ----------------------------------------------------------------------------
def _apply(ws: Workspace, files: dict[str, bytes], originals: dict[str, str]) -> None:
    from .store._atomic import write_atomic

    for rel, sha in originals.items():
        if _sha(ws.root / rel) != sha:
            raise ConfigError(
                "changed while retrain ran; nothing was applied",
                path=ws.root / rel,
                hint="run retrain again on the current file",
            )
    for rel, data in files.items():
        write_atomic(ws.root / rel, data)


def _register(ws: Workspace, changes: list[ArtifactChange]) -> list[str]:
    from .registry import register_artifacts

    refs = []
    for change in changes:
        if not change.changed:
            continue
        for record, _ in register_artifacts(ws, f"{change.kind}/{change.name}"):
            change.version = record.ref
            refs.append(record.ref)
    return refs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(ws: Workspace, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def render_result(result: RetrainResult) -> str:
    """What retrain collected, rebuilt, decided and did, for the terminal."""
    from .gate import render_verdict

    c = result.labels
    lines = [
        f"retrain {result.prompt} (suite {result.suite})",
        f"  labeled rows: {c.rows} read from {_describe_sources(c) or 'nothing'}; "
        f"{c.duplicates} duplicate ids, {c.leaked} in the golden sets (dropped), "
        f"{c.unusable} without a label of the prompt; {c.used} used",
    ]
    for a in result.artifacts:
        what = (
            f"{a.added} examples new, {a.removed} replaced, {a.size} in all"
            if a.kind == "fewshot"
            else f"{a.added} corpus rows added, {a.size} in all"
        )
        skipped = f", {a.skipped} rows unusable" if a.skipped else ""
        digests = f"{a.old_digest[:12]} → {a.new_digest[:12]}" if a.changed else "unchanged"
        lines.append(f"  {a.kind}/{a.name} ({a.path}): {digests}; {what}{skipped}")
    if result.verdict is not None:
        lines.append(f"  runs: baseline {result.baseline_run}, candidate {result.candidate_run}")
        lines.append(render_verdict(result.verdict))
    lines += [f"note: {n}" for n in result.notes]
    if result.applied:
        lines.append("applied: " + ", ".join(result.registered or ["files written"]))
    elif result.verdict is None:
        lines.append("nothing to apply")
    elif not result.passed:
        lines.append("not applied: the gate failed; the workspace is unchanged")
    else:
        lines.append("dry run: the gate passed; nothing written (would apply)")
    return "\n".join(lines)
