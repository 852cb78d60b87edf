"""promptfoo configs (`promptfooconfig.yaml`) as driftgate prompts, a golden set and a suite.

`translate(path, ws)` reads the config (and the files it names) into driftgate's own
definitions; `write(translation, out, ws)` writes them as files (`driftgate import
promptfoo`), and `materialize(ws, path)` writes them under `.driftgate/promptfoo/` and
returns the Suite that `driftgate run -c promptfooconfig.yaml` runs — one translation for
both. Per-test assertions become each case's `metadata.assert` (the `asserts` scorer);
`defaultTest` the scorer's own items. Anything not supported is a ConfigError naming the
key, the file and line, and the nearest supported alternative.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..workspace import Workspace
from .promptfoo_asserts import Context, Where, transform_spec, translate_assert
from .promptfoo_prompts import call_functions, provider_prompts
from .promptfoo_prompts import prompts as read_prompts
from .promptfoo_prompts import slug as _slug
from .promptfoo_providers import judge_model, provider_tools, translate_provider
from .promptfoo_tests import load_tests

FILENAMES = re.compile(r"^promptfooconfig[^/]*\.(ya?ml|json)$")
_MARKERS = {"providers", "targets", "tests", "defaultTest"}
_TOP = {"description", "prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions"}
_TOP_ALTERNATIVES = {
    "scenarios": "list the combined tests under `tests`",
    "redteam": "driftgate has no red-team generator; write the attacks as `tests`",
    "outputPath": "pass --output FILE to `driftgate run`",
    "env": "export the variables in the shell (keys are never stored)",
    "sharing": "reports are files: --output report.html",
    "nunjucksFilters": "use jinja2's built-in filters in the prompt",
    "derivedMetrics": "a `python` assertion, or `driftgate query` over the results",
    "extensions": "none: driftgate runs no hooks",
    "commandLineOptions": "pass the options to `driftgate run`",
    "writeLatestResults": "every run is stored under runs/",
}


def is_promptfoo_config(path: Path) -> bool:
    """A promptfoo config by its file name or its keys (a driftgate suite has neither)."""
    if FILENAMES.match(path.name):
        return True
    if path.name.endswith((".suite.yaml", ".suite.yml")):
        return False  # driftgate's own: not read twice
    if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
        return False
    from .._files import load_data

    try:
        data = load_data(path)
    except ConfigError:
        return False
    return isinstance(data, dict) and bool(_MARKERS & set(data)) and "evalsets" not in data


@dataclass
class Translation:
    source: Path
    name: str
    description: str | None
    prompts: list[dict[str, Any]]
    models: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    scorer: dict[str, Any]
    max_concurrency: int | None = None
    repeat: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def translate(path: Path, ws: Workspace) -> Translation:
    from .._files import load_data, read_text

    path = ws.inside(path, what="promptfoo config")
    text = read_text(path)
    data = load_data(path, text)
    top = Where(path, text)
    if not isinstance(data, dict):
        raise top.error("a promptfoo config must be a mapping")
    for key in data:
        if key not in _TOP:
            hint = _TOP_ALTERNATIVES.get(key, "supported: " + ", ".join(sorted(_TOP)))
            raise top.error(f"promptfoo key {key!r} is not supported", key=key, hint=hint)
    cx = Context(base=path.parent, rel=lambda p: _rel(ws, p))
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = _load_ref(default, path.parent, top.at("defaultTest"))
    scorer, default_vars = _default_test(default, top.at("defaultTest"), cx)
    prompts = read_prompts(data.get("prompts"), top.at("prompts"), cx)
    providers = data.get("providers", data.get("targets"))
    pkey = "providers" if "providers" in data else "targets"
    models = [
        translate_provider(p, top.at(pkey, i))
        for i, p in enumerate(
            providers if isinstance(providers, list) else [providers] if providers else []
        )
    ]
    tools = provider_tools(models, top.at(pkey), path.parent)  # the prompts' tools
    provider_prompts(models, prompts, top.at(pkey))
    for p in prompts:
        del p["_id"]
    for p in prompts:
        p.update(tools)
    cases = [
        _case(i, t, default_vars, cx)
        for i, t in enumerate(
            _expanded(load_tests(data.get("tests"), top.at("tests"), path.parent))
        )
    ]
    if not cases:
        raise top.error("the config has no tests", key="tests", hint="add `tests:` with `vars`")
    call_functions(prompts, cases)
    options = data.get("evaluateOptions") or {}
    tr = Translation(
        source=path,
        name=_slug(path.parent.name if path.stem.startswith("promptfooconfig") else path.stem),
        description=data.get("description"),
        prompts=prompts,
        models=models,
        cases=cases,
        scorer=scorer,
        max_concurrency=options.get("maxConcurrency"),
        repeat=options.get("repeat"),
    )
    for key in options:
        if key not in ("maxConcurrency", "repeat"):
            raise top.at("evaluateOptions").error(
                f"evaluateOptions key {key!r} is not supported",
                key=key,
                hint="supported: maxConcurrency, repeat",
            )
    _validate(tr, top)
    return tr


def _default_test(raw: Any, where: Where, cx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(raw, dict):
        raise where.error("defaultTest must be a mapping")
    for key in raw:
        if key not in ("vars", "assert", "options", "threshold", "metadata"):
            raise where.error(f"defaultTest key {key!r} is not supported", key=key)
    options = raw.get("options") or {}
    scorer: dict[str, Any] = {"type": "asserts"}
    for key, value in options.items():
        if key in ("transform", "postprocess"):
            scorer["transform"] = transform_spec(value, where.at("options", key), cx)
        elif key == "provider":
            cx.judge_model = judge_model(value, where.at("options", key))
        else:
            raise where.at("options").error(
                f"defaultTest option {key!r} is not supported",
                key=key,
                hint="supported: transform, provider",
            )
    scorer["items"] = [
        translate_assert(a, where.at("assert", i), cx)
        for i, a in enumerate(raw.get("assert") or [])
    ]
    cx.default_judged = [
        f"assert[{i}]"
        for i, item in enumerate(scorer["items"])
        if any(x["type"].removeprefix("not-") == "llm-judge" for x in _flat([item]))
    ]
    if raw.get("threshold") is not None:
        scorer["threshold"] = raw["threshold"]
    return scorer, dict(raw.get("vars") or {})


def _expanded(tests: list[tuple[dict[str, Any], Where]]) -> list[tuple[dict[str, Any], Where]]:
    """promptfoo runs a test once per combination of its list-valued vars."""
    out = []
    for test, where in tests:
        vars_ = test.get("vars") or {}
        lists = {k: v for k, v in vars_.items() if isinstance(v, list)}
        if not lists:
            out.append((test, where))
            continue
        for combo in itertools.product(*lists.values()):
            out.append(({**test, "vars": {**vars_, **dict(zip(lists, combo, strict=True))}}, where))
    return out


def _case(
    i: int, written: tuple[dict[str, Any], Where], default_vars: dict[str, Any], cx: Context
) -> dict[str, Any]:
    test, where = written
    described = f" ({test['description']!r})" if test.get("description") else ""
    where = dataclasses.replace(where, test=f"test {i + 1}{described}")
    meta: dict[str, Any] = {}
    for key in test:
        if key == "provider":  # every case runs on every arm: no per-test model
            raise where.error(
                "test key 'provider' is not supported: every test runs on every provider",
                key=key,
                hint="put the test in a config of its own with that provider; for the grader "
                "of model-graded assertions use `options: {provider: ...}`",
            )
        if key not in ("description", "vars", "assert", "options", "threshold", "metadata"):
            raise where.error(
                f"test key {key!r} is not supported",
                key=key,
                hint="supported: description, vars, assert, options, threshold, metadata",
            )
    if test.get("description"):
        meta["description"] = str(test["description"])
    options = test.get("options") or {}
    if "provider" in options:  # the grader of this test's model-graded assertions
        cx = _test_grader(options["provider"], where.at("options", "provider"), cx)
    asserts = [
        translate_assert(a, where.at("assert", j), cx)
        for j, a in enumerate(test.get("assert") or [])
    ]
    if asserts:
        meta["assert"] = asserts
    for key, value in options.items():
        if key in ("transform", "postprocess"):
            meta["transform"] = transform_spec(value, where.at("options", key), cx)
        elif key != "provider":
            raise where.at("options").error(
                f"test option {key!r} is not supported",
                key=key,
                hint="supported: transform, provider",
            )
    if test.get("threshold") is not None:
        meta["threshold"] = test["threshold"]
    for key, value in (test.get("metadata") or {}).items():
        meta.setdefault(key, value)
    vars_ = {**default_vars, **(test.get("vars") or {})}
    return {
        "id": str(i + 1),
        "vars": _file_vars(vars_, cx.base, where.at("vars")),
        "metadata": meta,
    }


def _test_grader(raw: Any, where: Where, cx: Context) -> Context:
    """A test's `options.provider`: the judge of its own model-graded assertions (one with
    its own `provider` keeps it). defaultTest's are shared by every test, so a test cannot
    re-grade them: that is an error, not a silent mix of graders."""
    if cx.default_judged:
        raise where.error(
            "a test's grading provider cannot re-grade defaultTest's model-graded assertions "
            f"({', '.join(cx.default_judged)})",
            hint="set defaultTest.options.provider, or give each assertion its own `provider`",
        )
    return dataclasses.replace(cx, judge_model=judge_model(raw, where))


def _file_vars(vars_: dict[str, Any], base: Path, where: Where) -> dict[str, Any]:
    out = {}
    for key, value in vars_.items():
        if isinstance(value, str) and value.startswith("file://"):
            value = _load_ref(value, base, where.at(key), parse=False)
        out[key] = value
    return out


def _load_ref(ref: str, base: Path, where: Where, *, parse: bool = True) -> Any:
    from .._files import load_data, read_text

    path = base / ref[len("file://") :]
    if not path.is_file():
        raise where.error(f"file {ref!r} not found (relative to {base})")
    if parse and path.suffix in (".yaml", ".yml", ".json"):
        return load_data(path)
    if path.suffix in (".py", ".js"):
        raise where.error(f"{ref!r}: script files are not supported here", hint="inline the value")
    return read_text(path)


_LOAD = re.compile(r"\b([A-Za-z_]\w*)\s*\|\s*load\b")


def _apply_load(tr: Translation) -> None:
    """nunjucks' `x | load` (parse the var as JSON; `{% for m in messages | load %}`): the
    vars are parsed once here and the filter dropped, so jinja2 needs no such filter."""
    loaded: set[str] = set()
    for p in tr.prompts:
        for m in p["messages"]:
            if "content" in m:  # not an {insert: VAR} entry
                loaded |= set(_LOAD.findall(m["content"]))
                m["content"] = _LOAD.sub(lambda mm: mm.group(1), m["content"])
    for case in tr.cases:
        for name in loaded & set(case["vars"]):
            if isinstance(case["vars"][name], str):
                try:
                    case["vars"][name] = json.loads(case["vars"][name])
                except json.JSONDecodeError:
                    raise ConfigError(
                        f"case {case['id']}: var {name!r} is not JSON, but a prompt loads it (| load)",
                        path=tr.source,
                    ) from None


# ---- validation and files ------------------------------------------------------------


def _validate(tr: Translation, top: Where) -> None:
    """Everything a run would refuse, refused here where the promptfoo config says it."""
    from pydantic import ValidationError

    from ..prompt import Prompt
    from ..scoring.build import build_scorer

    _apply_load(tr)
    for p in tr.prompts:
        where = p.pop("_where")
        try:
            Prompt.model_validate({k: v for k, v in p.items() if v is not None})._templates  # noqa: B018
        except (ValidationError, ConfigError) as exc:
            raise where.error(f"prompt {p['name']!r}: {exc}") from None
    awaits = logprobs = False
    items = [*tr.scorer["items"], *(i for c in tr.cases for i in c["metadata"].get("assert", []))]
    for item in _flat(items):
        options = {k: v for k, v in item.items() if k != "transform"}
        s = build_scorer(options)  # assertions were checked one by one; options here
        awaits = awaits or not s.sync
        logprobs = logprobs or s.wants_logprobs
    tr.scorer["sync"] = not awaits
    if logprobs:  # the run asks every model for the answer's token logprobs
        tr.scorer["logprobs"] = True


def _flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.extend(_flat(item["assert"]) if item["type"] == "assert-set" else [item])
    return out


def _rel(ws: Workspace, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ws.root))
    except ValueError:
        return str(path)
