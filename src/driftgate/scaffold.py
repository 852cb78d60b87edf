"""`driftgate init`: make any folder a workspace, and `driftgate schema`: JSON Schemas.

The scaffold is small and runs offline at once on the simulator, so a new user sees a
full run before writing anything of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError

_SETTINGS = """\
# driftgate workspace settings (the same keys work in [tool.driftgate] of pyproject.toml)
suite: evalsets/example.suite.yaml
"""

_PROMPT = """\
# A prompt: chat messages as jinja2 templates (sandboxed, undefined variables are errors).
name: sentiment
version: v1
model: sim/acme@v1
params: {temperature: 0, max_tokens: 8}
messages:
  - role: system
    content: "Classify the sentiment of the review. Answer with one word: positive, negative or neutral."
  - role: user
    content: "{{ review }}"
output:
  type: label
  labels: [positive, negative, neutral]
"""

_CASES = [
    {
        "id": "r1",
        "vars": {"review": "Loved it, would buy again."},
        "expected": "positive",
        "segment": "web",
    },
    {
        "id": "r2",
        "vars": {"review": "Broke after two days."},
        "expected": "negative",
        "segment": "web",
    },
    {
        "id": "r3",
        "vars": {"review": "It is a phone case."},
        "expected": "neutral",
        "segment": "app",
    },
    {
        "id": "r4",
        "vars": {"review": "Fantastic support team!"},
        "expected": "positive",
        "segment": "app",
    },
    {
        "id": "r5",
        "vars": {"review": "Never arrived, no refund."},
        "expected": "negative",
        "segment": "app",
    },
]

_SUITE = """\
# A suite: prompts x models x golden sets x scorers x repeats.
description: Example sentiment suite (runs offline on the simulator)
prompts: [sentiment@v1]
evalsets: [example]
scorers:
  - {type: label-match, metric: sentiment}
  - {type: latency, max_ms: 10000, weight: 0}
metrics: [accuracy, macro_f1]
pass_threshold: 0.6
"""


def init_workspace(root: Path, *, force: bool = False) -> list[Path]:
    """Create the workspace files under `root`; existing files are kept unless `force`."""
    root = Path(root)
    files: dict[Path, str] = {
        root / "driftgate.yaml": _SETTINGS,
        root / "prompts" / "sentiment.yaml": _PROMPT,
        root / "evalsets" / "example.jsonl": "".join(json.dumps(c) + "\n" for c in _CASES),
        root / "evalsets" / "example.suite.yaml": _SUITE,
        root / "routes" / ".gitkeep": "",
        root / "runs" / ".gitkeep": "",
    }
    if (root / "pyproject.toml").exists() and "[tool.driftgate]" in (
        root / "pyproject.toml"
    ).read_text():
        files.pop(root / "driftgate.yaml")
    existing = [p for p in files if p.exists() and p.stat().st_size > 0]
    if existing and not force:
        raise ConfigError(
            f"{len(existing)} file(s) already exist, e.g. {existing[0]}",
            hint="pass --force to overwrite them, or init an empty folder",
        )
    written = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    gitignore = root / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    wanted = [".driftgate/", "runs/*", "!runs/.gitkeep"]
    missing = [w for w in wanted if w not in lines]
    if missing:
        gitignore.write_text("\n".join(lines + missing) + "\n")
        written.append(gitignore)
    return written


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of every configuration and persisted file, keyed by file name."""
    from .evalset import Case
    from .prompt import Prompt
    from .scoring.base import SCORERS
    from .scoring.build import scorer_names
    from .store.records import CaseResult, RunManifest
    from .suite import Suite
    from .workspace import Settings

    scorer_names()  # registers built-ins
    suite = Suite.model_json_schema()
    variants = []
    for name, cls in sorted(SCORERS.items()):
        s = cls.Config.model_json_schema()
        s["properties"]["type"] = {"enum": [name, f"not-{name}"]}
        s["title"] = name
        variants.append(s)
    suite["properties"]["scorers"]["items"] = {"anyOf": variants}
    out = {
        "driftgate.settings.schema.json": Settings.model_json_schema(),
        "driftgate.prompt.schema.json": Prompt.model_json_schema(by_alias=True),
        "driftgate.suite.schema.json": suite,
        "driftgate.case.schema.json": Case.model_json_schema(),
        "driftgate.manifest.schema.json": RunManifest.model_json_schema(),
        "driftgate.result.schema.json": CaseResult.model_json_schema(),
    }
    optional = {
        "driftgate.fewshot.schema.json": ("driftgate.artifacts.fewshot", "FewShotSet"),
        "driftgate.index.schema.json": ("driftgate.artifacts.index", "IndexSpec"),
        "driftgate.route.schema.json": ("driftgate.artifacts.route", "RouteSpec"),
        "driftgate.gate.schema.json": ("driftgate.gate", "GatePolicy"),
    }
    import importlib

    for fname, (mod, attr) in optional.items():
        try:
            out[fname] = getattr(importlib.import_module(mod), attr).model_json_schema()
        except (ImportError, AttributeError):
            continue
    return out


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in json_schemas().items():
        p = folder / name
        p.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        paths.append(p)
    return paths
