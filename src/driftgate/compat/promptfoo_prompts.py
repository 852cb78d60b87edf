"""promptfoo `prompts` → driftgate prompt mappings: inline text, `file://` files (several
prompts separated by `---`, globs), chat messages in JSON/YAML, and Python prompt functions.

A prompt function (`file://prompt.py:make_prompt`) is the workspace's own Python, loaded
by the `python` assertion's loader (`scoring.script.load_python_file`) and held to the
`python` scorer's rule (`scoring.custom`: a function whose code is in the workspace, no
builtin, standard-library or installed one). It is called once per case with
`context = {"vars": {...}}` when the config is translated, and returns a string (one user
message; a JSON list of messages is read as chat) or a list of chat messages. The prompt
inserts the case's answer (`{insert: _prompt_NAME}`, a case variable), so what a model is
sent is in the golden set, for every model alike: `context` has no `provider`. A `.py`
without a function name is run as a script, as promptfoo does: the context as JSON in
`sys.argv[1]`, the prompt its standard output.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .promptfoo_asserts import Context, Where
from .promptfoo_tests import matched, path_glob

PromptFunction = Callable[[dict[str, Any]], Any]
_JS = (".js", ".ts", ".mjs", ".cjs")
_SCRIPT_TIMEOUT_S = 30


def prompts(raw: Any, where: Where, cx: Context) -> list[dict[str, Any]]:
    """Every prompt of `prompts:` as a mapping; a function's carries `_function` (the
    callable) until `call_functions` has filled the cases."""
    if raw is None:
        raise where.error(
            "the config has no prompts", hint="add `prompts: ['Say hello to {{name}}']`"
        )
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        at = where.at(i) if isinstance(raw, list) else where
        label = None
        if isinstance(item, dict):
            unknown = set(item) - {"id", "raw", "label"}
            if unknown:
                raise at.error(
                    f"prompt key {sorted(unknown)[0]!r} is not supported", key=sorted(unknown)[0]
                )
            label, item = item.get("label"), item.get("raw", item.get("id"))
        if not isinstance(item, str):
            raise at.error("a prompt must be a string, file://PATH or {raw|id, label}")
        seen: dict[str | None, int] = {}  # a file's `---` parts: NAME, NAME-2, …
        for messages, default_label, function in _prompt_texts(item, at, cx):
            j = seen[default_label] = seen.get(default_label, -1) + 1
            name = slug(label or default_label or f"prompt{len(out) + 1}")
            if j:
                name = f"{name}-{j + 1}"
            p = {"name": name, "description": label, "messages": messages, "_where": at}
            p["_id"] = item  # as written: a provider's `prompts:` may name it so
            if function is not None:
                p["_function"] = function
            out.append(p)
    names = [p["name"] for p in out]
    for p in out:
        if names.count(p["name"]) > 1:
            p["name"] = f"{p['name']}-{out.index(p) + 1}"
    return out


def provider_prompts(
    models: list[dict[str, Any]], prompts_: list[dict[str, Any]], where: Where
) -> None:
    """A provider's `prompts:` (the prompts it runs, by label, id as written, or name) as
    its model's `prompts` (names): only those prompt × model arms run. A name that matches
    no prompt, or a prompt no provider runs, is an error."""
    ran: set[str] = set()
    for i, m in enumerate(models):
        wanted = m.pop("_prompts", None)
        if wanted is None:
            ran |= {p["name"] for p in prompts_}
            continue
        names: list[str] = []
        for w in wanted:
            hits = [p["name"] for p in prompts_ if w in (p["description"], p["_id"], p["name"])]
            if not hits:
                raise where.at(i).error(
                    f"provider prompts entry {w!r} names no prompt",
                    key="prompts",
                    hint="name prompts by label, by id as written, or by name: "
                    + ", ".join(p["name"] for p in prompts_),
                )
            names += [h for h in hits if h not in names]
        m["prompts"] = names
        ran |= set(names)
    idle = [p["name"] for p in prompts_ if p["name"] not in ran]
    if models and idle:
        raise where.error(
            f"prompt {idle[0]!r} runs on no provider: every provider's `prompts:` leaves it out",
            hint="add it to a provider's `prompts:`, or remove the prompt",
        )


def call_functions(prompts_: list[dict[str, Any]], cases: list[dict[str, Any]]) -> None:
    """Each prompt function's messages for each case, as the case variable its prompt
    inserts; an error names the prompt, the case and what the function returned."""
    from ..prompt import inserted_messages

    for p in prompts_:
        function = p.pop("_function", None)
        if function is None:
            continue
        var = "_prompt_" + re.sub(r"\W", "_", p["name"])
        p["messages"] = [{"insert": var}]
        for case in cases:
            where: Where = p["_where"]
            try:
                value = function({"vars": dict(case["vars"])})
            except Exception as exc:  # the user's function failed for this case
                raise where.error(
                    f"prompt function {p['name']!r} raised {type(exc).__name__} for case "
                    f"{case['id']}: {exc}",
                    hint="context holds only `vars` (the function runs once per case)",
                ) from None
            if isinstance(value, str) and value.lstrip().startswith("["):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass  # a text prompt that opens with a bracket
            try:
                case["vars"][var] = inserted_messages(value, var)
            except ValueError as exc:
                raise where.error(
                    f"prompt function {p['name']!r} for case {case['id']}: {exc}",
                    hint="return a string or a list of {role, content} messages",
                ) from None


def _prompt_texts(
    item: str, where: Where, cx: Context
) -> list[tuple[list[dict[str, Any]], str | None, PromptFunction | None]]:
    from .._files import load_data, read_text

    if not item.startswith("file://"):
        return [(_messages(item, where), None, None)]
    rel, _, func = item[len("file://") :].partition(":")
    if path_glob(rel):
        paths = matched(rel, cx.base, where, what="prompts")
        return [t for p in paths for t in _prompt_texts(f"file://{p}", where, cx)]
    path = cx.base / rel
    if path.suffix in _JS:
        raise where.error(
            f"prompt {item!r}: JavaScript prompt functions are not supported",
            hint="write the function in Python (file://prompt.py:make_prompt(context)), or "
            "the prompt as a template (text or chat messages with {{ vars }})",
        )
    if func and path.suffix != ".py":
        raise where.error(
            f"prompt {item!r}: a function name (`:{func}`) needs a Python file",
            hint="file://prompt.py:FUNCTION",
        )
    if not path.is_file():
        raise where.error(f"prompt file {item!r} not found (relative to {cx.base})")
    if path.suffix == ".py":
        label = f"{path.stem}-{func}" if func else path.stem
        return [([], label, _function(path, func, where, cx))]
    if path.suffix in (".json", ".yaml", ".yml"):
        return [(_chat(load_data(path), where), path.stem, None)]
    parts = re.split(r"^---\s*$", read_text(path), flags=re.M)
    return [(_messages(p.strip(), where), path.stem, None) for p in parts if p.strip()]


def _function(path: Path, func: str, where: Where, cx: Context) -> PromptFunction:
    """The prompt function `func` of `path`, or the whole file run as promptfoo's script."""
    from ..scoring.custom import _check_allowed
    from ..scoring.script import load_python_file

    rel = cx.rel(path)
    if not func:
        return _script(path, where)
    try:
        loaded = load_python_file(rel, func)
        _check_allowed(f"{rel}:{func}", loaded.__module__ or "", loaded)
    except ValueError as exc:
        raise where.error(f"prompt function {rel}:{func}: {exc}") from None
    return loaded  # type: ignore[return-value]  # called with one argument, as promptfoo does


def _script(path: Path, where: Where) -> PromptFunction:
    from ..workspace import Workspace

    resolved = Workspace.find().inside(path, what="prompt script")

    def run(context: dict[str, Any]) -> str:
        done = subprocess.run(  # noqa: S603 - the workspace's own script, as a python scorer
            [sys.executable, str(resolved), json.dumps(context, default=str)],
            capture_output=True,
            text=True,
            timeout=_SCRIPT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"the script exited with {done.returncode}: {tail}")
        return done.stdout.rstrip("\n")

    return run


def _messages(text: str, where: Where) -> list[dict[str, Any]]:
    if text.lstrip().startswith("["):
        try:
            return _chat(json.loads(text), where)
        except json.JSONDecodeError:
            pass  # a text prompt that opens with a bracket
    return [{"role": "user", "content": nunjucks(text)}]


def _chat(data: Any, where: Where) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise where.error("a chat prompt must be a list of {role, content} messages")
    out = []
    for m in data:
        if m.get("role") not in ("system", "user", "assistant") or not isinstance(
            m.get("content"), str
        ):
            raise where.error(
                f"chat message {m!r}: roles system, user, assistant with text content only",
                hint="a case's conversation goes in a variable the prompt inserts: "
                "{insert: messages}",
            )
        out.append({"role": m["role"], "content": nunjucks(m["content"])})
    return out


def nunjucks(text: str) -> str:
    """nunjucks → jinja2: the same syntax but for the filters that differ (`dump`)."""
    return re.sub(r"\|\s*dump\b", "| tojson", text)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.").lower()[:60] or "promptfoo"
