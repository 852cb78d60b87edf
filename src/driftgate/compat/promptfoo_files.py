"""A translated promptfoo config as driftgate files: `driftgate import promptfoo` writes them
where the user says; `driftgate run -c promptfooconfig.yaml` under `.driftgate/promptfoo/`.

    OUT/prompts/NAME.yaml   one per promptfoo prompt
    OUT/evalsets/NAME.jsonl the tests, each with its assertions in `metadata.assert`
    OUT/NAME.suite.yaml     prompts × providers × the golden set, scored by `asserts`
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .._digest import digest
from ..errors import ConfigError
from ..suite import Suite
from ..workspace import Workspace
from .promptfoo import Translation, translate


def suite_data(tr: Translation, prompt_refs: list[str], evalset_ref: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if tr.description:
        data["description"] = tr.description
    data["prompts"] = prompt_refs
    if tr.models:
        data["models"] = tr.models
    data["evalsets"] = [evalset_ref]
    data["scorers"] = [tr.scorer]
    if tr.repeat:
        data["repeat"] = tr.repeat
    if tr.max_concurrency:
        data["max_concurrency"] = tr.max_concurrency
    return data


def files(tr: Translation, out: Path, ws: Workspace) -> dict[Path, str]:
    """Every file of the translation under `out`, with its text. Prompts are named by
    path unless `out` is the workspace root (then by name, as hand-written ones are)."""
    at_root = out.resolve() == ws.root and ws.prompts_dir == ws.root / "prompts"
    texts: dict[Path, str] = {}
    refs = []
    for p in tr.prompts:
        path = (ws.prompts_dir if at_root else out / "prompts") / f"{p['name']}.yaml"
        body = {k: v for k, v in p.items() if v is not None}
        texts[path] = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
        refs.append(p["name"] if at_root else _rel(ws, path))
    es = (ws.evalsets_dir if at_root else out / "evalsets") / f"{tr.name}.jsonl"
    texts[es] = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in tr.cases)
    suite = out / f"{tr.name}.suite.yaml"
    data = suite_data(tr, refs, tr.name if at_root else _rel(ws, es))
    texts[suite] = (
        f"# translated from {_rel(ws, tr.source)} by `driftgate import promptfoo`\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    )
    return texts


def write(tr: Translation, out: Path, ws: Workspace, *, force: bool = False) -> Path:
    """Write the translation's files under `out`; an existing file is refused unless
    `force`. Returns the suite file."""
    out = ws.inside(out, what="output folder")
    texts = files(tr, out, ws)
    clash = [p for p in texts if p.exists() and p.read_text(encoding="utf-8") != texts[p]]
    if clash and not force:
        raise ConfigError(
            f"{len(clash)} file(s) exist already, e.g. {_rel(ws, clash[0])}",
            hint="pass --force to overwrite them, or --out another folder",
        )
    for path, text in texts.items():
        _write_atomic(path, text)
    return next(p for p in texts if p.name.endswith(".suite.yaml"))


def materialize(ws: Workspace, config: Path) -> Suite:
    """The Suite `run -c promptfooconfig.yaml` runs: the translation written under
    `.driftgate/promptfoo/<name>-<digest>/` (content-addressed: a rerun reuses it)."""
    from .._files import load_model

    tr = translate(config, ws)
    key = digest([tr.prompts, tr.models, tr.cases, tr.scorer, tr.description], length=12)
    out = ws.state_dir / "promptfoo" / f"{tr.name}-{key}"
    suite_path = write(tr, out, ws, force=True)
    return load_model(Suite, suite_path)


def _write_atomic(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _rel(ws: Workspace, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ws.root))
    except ValueError:
        return str(path)
