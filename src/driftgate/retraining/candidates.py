"""New few-shot set and index versions built from a base prompt's pinned ones plus labeled
rows, registered in the registry (immutable), never written to the workspace.

- A few-shot set is re-selected from the old examples plus the new rows with the old set's
  strategy, per-label count and seed.
- An index corpus is extended with the new rows (deduplicated by text, in the corpus
  file's own format); the new bytes are kept by the registry (`registry/blobs.py`), so the
  new index version is built from them and rebuilt whenever its vectors are gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .._strict import Strict
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..artifacts.fewshot import FewShotSet, Strategy
    from ..artifacts.index import IndexSpec
    from ..prompt import Prompt
    from ..registry.kinds import IndexVersion


class ArtifactChange(Strict):
    kind: Literal["fewshot", "index"]
    name: str
    old_digest: str
    new_digest: str
    old_version: str | None = Field(None, description="Registered ref of the base's version.")
    version: str | None = Field(None, description="Registered ref of the new version.")
    added: int = Field(0, description="Examples new to the set / corpus rows appended.")
    removed: int = Field(0, description="Examples of the old set not selected again.")
    size: int = Field(0, description="Examples / corpus rows of the new version.")
    skipped: int = Field(0, description="Labeled rows this artifact could not use.")

    @property
    def changed(self) -> bool:
        return self.old_digest != self.new_digest

    @property
    def ref(self) -> str:
        """The prompt-side reference pinning the new version (`NAME@DIGEST`)."""
        return f"{self.name}@{self.new_digest}"


def _ref_of(ws: Workspace, kind: str, name: str, digest: str) -> str | None:
    from ..registry import Registry

    record = Registry.of(ws).versions.get(kind, name, digest)
    return record.ref if record else None


# ---- few-shot sets ----------------------------------------------------------------------
def fewshot_candidate(
    ws: Workspace, base: Prompt, rows: list[dict[str, Any]], source: str, notes: list[str]
) -> ArtifactChange:
    """The base's few-shot set re-selected from its own examples plus the new rows, and
    registered as a version of the set."""
    from collections import Counter
    from datetime import date

    from ..artifacts.fewshot import build_fewshot
    from ..registry import Registry
    from ..registry.binding import fewshot_version

    old = fewshot_version(ws, base.fewshot or "")
    # New examples take the old examples' input shape: the template reads those keys.
    keys = set.intersection(*(set(e.input) for e in old.examples))
    pool, skipped = _pool(old, rows, keys)
    new = build_fewshot(
        old.name,
        pool,
        per_label=max(Counter(e.label or e.output for e in old.examples).values()),
        strategy=_strategy(old, notes),
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
        old_digest=old.digest,
        new_digest=new.digest,
        old_version=_ref_of(ws, "fewshot", old.name, old.digest),
        added=len(after - before),
        removed=len(before - after),
        size=len(new.examples),
        skipped=skipped,
    )
    if change.changed:
        # The workspace's registry: on a shared store the version is created there too.
        store = Registry.of(ws).versions
        record, _ = store.register("fewshot", new.name, new.digest, new.model_dump(mode="json"))
        change.version = record.ref
    else:
        change.version = change.old_version
    return change


def _pool(
    old: FewShotSet, rows: list[dict[str, Any]], keys: set[str]
) -> tuple[list[dict[str, Any]], int]:
    """The old set's examples plus each row that has the template's input keys (others
    are skipped and counted), in the shape `build_fewshot` selects from."""
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
    return pool, skipped


def _strategy(old: FewShotSet, notes: list[str]) -> Strategy:
    """The old set's selection strategy, except that a hand-picked set is re-selected by
    diversity, and a diverse one on TF-IDF (the representation retrain uses): noted."""
    from ..artifacts.fewshot import TFIDF_REPRESENTATION

    strategy: Strategy = "diverse" if old.strategy == "manual" else old.strategy
    if old.strategy == "manual":
        notes.append(f"few-shot set {old.name!r} was chosen by hand; re-selected by diversity")
    if strategy == "diverse" and old.provenance.representation not in (None, TFIDF_REPRESENTATION):
        notes.append(
            f"few-shot set {old.name!r} was selected on {old.provenance.representation}; "
            f"re-selected on {TFIDF_REPRESENTATION}"
        )
    return strategy


def _example_key(example: Any) -> str:
    return json.dumps(example.model_dump(mode="json"), sort_keys=True)


# ---- indexes ------------------------------------------------------------------------------
def index_base(ws: Workspace, ref: str) -> tuple[IndexSpec, Path, IndexVersion]:
    """(spec, corpus file, version) of the index version a bound ref pins: the workspace's
    files when they are that version, else the registry's version and kept corpus."""
    from ..errors import ConfigError
    from ..prompt import artifact_name, artifact_selector
    from ..registry.binding import kept_corpus, record_of, workspace_index
    from ..registry.kinds import IndexVersion, rebuild

    name, digest = artifact_name(ref), artifact_selector(ref)
    try:
        _path, spec, corpus, definition = workspace_index(ws, name)
        version = IndexVersion.model_validate(definition)
        if version.digest == digest:
            return spec, corpus, version
    except ConfigError:
        pass
    version = rebuild(record_of(ws, "index", ref))
    return version.index_spec(), kept_corpus(ws, ref, version), version


def index_candidate(ws: Workspace, base: Prompt, rows: list[dict[str, Any]]) -> ArtifactChange:
    """The base's index with the new rows appended to its corpus (text not yet in it),
    registered as a version of the index with its corpus bytes."""
    from ..artifacts.index import _raw_rows, load_corpus
    from ..registry.binding import register_index_corpus

    spec, corpus, old = index_base(ws, base.index or "")
    existing = load_corpus(spec, corpus)
    texts = {r["text"] for r in existing}
    ids = {r["id"] for r in existing}
    with_ids = any(spec.id_field in raw for raw, _ in _raw_rows(corpus))
    new_rows: list[dict[str, Any]] = []
    skipped = 0
    # What the prompt retrieves on: the corpus's own text field when a request has it, else
    # the one text variable the prompt's template uses (e.g. `retrieve(description)`).
    used = base.template_variables()
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
        old_digest=old.digest,
        new_digest=old.digest,
        old_version=_ref_of(ws, "index", spec.name, old.digest),
        added=len(new_rows),
        size=len(existing) + len(new_rows),
        skipped=skipped,
    )
    if new_rows:
        data = extended_corpus(corpus, new_rows)
        record = register_index_corpus(ws, spec, data, corpus.suffix, old.embedder)
        change.new_digest, change.version = record.digest, record.ref
    else:
        change.version = change.old_version
    return change


def extended_corpus(path: Path, rows: list[dict[str, Any]]) -> bytes:
    """The corpus file's bytes with `rows` added, keeping its format (and for JSONL and CSV,
    every existing byte)."""
    old = path.read_bytes()
    if not rows:
        return old
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        start = old if not old or old.endswith(b"\n") else old + b"\n"
        return start + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
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
    from .._files import load_data

    data = load_data(path)
    target = data["rows"] if isinstance(data, dict) else data
    target.extend(rows)
    if suffix == ".json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).encode()
