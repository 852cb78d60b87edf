"""promptfoo assertions → driftgate assertion items (the `asserts` scorer's, scoring/asserts.py).

One function, `translate_assert`, maps one promptfoo assertion (a mapping, or a CSV
`__expected` cell) to one item; anything it cannot honour is a ConfigError naming the key,
the file and line, and the nearest supported alternative — never a silent skip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# promptfoo type → driftgate scorer type, for assertions whose `value` carries over as is.
_SAME_VALUE = {
    "equals": "equals",
    "contains": "contains",
    "icontains": "icontains",
    "contains-any": "contains-any",
    "contains-all": "contains-all",
    "icontains-any": "icontains-any",
    "icontains-all": "icontains-all",
    "starts-with": "starts-with",
    "rouge-n": "rouge-n",
    "bleu": "bleu",
    "finish-reason": "finish-reason",
}
_NO_VALUE = {"is-refusal": "is-refusal", "is-sql": "is-sql"}
_JUDGED = {
    "llm-rubric": "{value}",
    "model-graded-closedqa": "The response meets this criterion: {value}",
    "factuality": "The response is factually consistent with this reference answer "
    "(it may add detail, but contradicts nothing in it): {value}",
    "answer-relevance": "The response is relevant to the user's request in the task input "
    "and answers it directly.",
}
_UNSUPPORTED = {
    "is-valid-openai-function-call": "the legacy `functions` API is not sent; tools are",
}
_ALTERNATIVE = {
    "is-valid-openai-function-call": "declare the functions as `tools` and assert "
    "`is-valid-openai-tools-call`",
}
# Tool-call assertions → driftgate's tool scorers (scoring/tools.py).
_TOOL_CALLS = {"is-valid-openai-tools-call": "tool-call-valid", "tool-call-f1": "tool-call-f1"}
KNOWN = (
    set(_SAME_VALUE)
    | set(_NO_VALUE)
    | set(_JUDGED)
    | set(_UNSUPPORTED)
    | {"regex", "is-json", "contains-json", "is-xml", "python", "javascript", "similar"}
    | {"levenshtein", "latency", "cost", "assert-set", "perplexity", "perplexity-score"}
    | set(_TOOL_CALLS)
)
_COMMON = {"type", "value", "threshold", "weight", "metric", "transform"}


@dataclass
class Where:
    """Where an assertion was written: the file, its text, and the path to the mapping in it
    (a CSV cell has a line and no path)."""

    path: Path
    text: str | None
    loc: tuple[Any, ...] = ()
    line: int | None = None
    test: str | None = None  # the test it belongs to, as an error names it

    def at(self, *more: Any) -> Where:
        return Where(self.path, self.text, self.loc + more, self.line, self.test)

    def error(self, message: str, key: str | None = None, hint: str | None = None) -> ConfigError:
        from .._files import format_loc, line_of

        if self.test:
            message = f"{self.test}: {message}"
        loc = self.loc + ((key,) if key else ())
        line = self.line
        if line is None and self.text is not None:
            line = line_of(self.text, loc, self.path.suffix)
        return ConfigError(
            message, path=self.path, line=line, field=format_loc(loc) or None, hint=hint
        )


@dataclass
class Context:
    """What an assertion's translation needs from the config around it."""

    base: Path  # the folder `file://` paths are relative to
    rel: Callable[[Path], str]  # a path as the workspace names it
    judge_model: str | None = None  # defaultTest's or a test's options.provider, translated
    default_judged: list[str] = field(default_factory=list)  # defaultTest's judged asserts


def translate_assert(raw: Any, where: Where, cx: Context) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise where.error("an assertion must be a mapping with `type`")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise where.error("an assertion needs a `type`", key="type")
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    if base not in KNOWN:
        raise where.error(
            f"unsupported assertion type {kind!r}",
            key="type",
            hint="supported: " + ", ".join(sorted(KNOWN - set(_UNSUPPORTED))),
        )
    if base in _UNSUPPORTED:
        raise where.error(
            f"assertion type {kind!r} is not supported: {_UNSUPPORTED[base]}",
            key="type",
            hint=f"nearest supported: {_ALTERNATIVE[base]}",
        )
    allowed = (
        _COMMON
        | ({"provider"} if base in _JUDGED else set())
        | ({"assert"} if base == "assert-set" else set())
    )
    for key in raw:
        if key not in allowed:
            raise where.error(
                f"assertion key {key!r} is not supported for {kind!r}",
                key=key,
                hint=f"keys driftgate reads here: {', '.join(sorted(allowed))}",
            )
    item = _body(base, raw, where, cx)
    if negate:
        if base == "assert-set":
            raise where.error("`not-assert-set` is not a promptfoo type", key="type")
        item["type"] = "not-" + item["type"]
    if base != "assert-set":
        _check(item, where)
    for key in ("weight", "metric"):
        if key in raw:
            item[key] = raw[key]
    if "transform" in raw:
        item["transform"] = transform_spec(raw["transform"], where.at("transform"), cx)
    return item


def transform_spec(raw: Any, where: Where, cx: Context) -> str:
    """A transform as the `asserts` scorer runs it, built now so that JavaScript that does
    not compile, a missing JS engine or a missing Python file is named when the config
    loads, not when the first case runs. A `file://` path is relative to the config."""
    from ..scoring.script import make_transform

    if not isinstance(raw, str) or not raw.strip():
        raise where.error(
            "a transform must be inline JavaScript or file://x.py", hint="e.g. output.trim()"
        )
    spec = raw
    if raw.startswith("file://"):
        path, sep, func = raw[len("file://") :].partition(":")
        spec = "file://" + cx.rel(cx.base / path) + sep + func
    try:
        make_transform(spec)
    except (ValueError, ConfigError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        raise where.error(
            f"transform {raw!r}: {message}",
            hint="fix the transform, or write it in Python as file://transform.py "
            "(get_transform(output, context))",
        ) from None
    return spec


def _check(item: dict[str, Any], where: Where) -> None:
    """Build the scorer now: a bad option or code that does not compile is named here."""
    from ..scoring.build import build_scorer

    try:
        build_scorer(item)
    except ConfigError as exc:
        raise where.error(f"assertion {item['type']!r}: {exc.message}") from None


def _body(base: str, raw: dict[str, Any], where: Where, cx: Context) -> dict[str, Any]:
    value = raw.get("value")
    threshold = raw.get("threshold")
    if base in _SAME_VALUE:
        item: dict[str, Any] = {"type": _SAME_VALUE[base]}
        if value is None:
            raise where.error(f"{base!r} needs a `value`", key="value")
        if base in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",")]
        item["value"] = value
        if threshold is not None:
            item["threshold"] = threshold
        return item
    if base in _NO_VALUE:
        if value is not None:
            raise where.error(
                f"{base!r} options are not supported (driftgate checks the form only)",
                key="value",
                hint="remove `value`; check tables or dialects with a `python` assertion",
            )
        return {"type": _NO_VALUE[base]}
    if base == "assert-set":
        subs = raw.get("assert")
        if not isinstance(subs, list) or not subs:
            raise where.error("an assert-set needs a non-empty `assert` list", key="assert")
        item = {
            "type": "assert-set",
            "assert": [translate_assert(s, where.at("assert", i), cx) for i, s in enumerate(subs)],
        }
        if threshold is not None:
            item["threshold"] = threshold
        return item
    return _special(base, value, threshold, raw, where, cx)


def _special(
    base: str, value: Any, threshold: Any, raw: dict[str, Any], where: Where, cx: Context
) -> dict[str, Any]:
    if base == "regex":
        if not isinstance(value, str):
            raise where.error("`regex` needs a pattern string as `value`", key="value")
        return {"type": "regex", "pattern": value}
    if base in ("is-json", "contains-json"):
        item: dict[str, Any] = {"type": "json-valid", "strict": base == "is-json"}
        if value is not None:
            item["schema"] = _schema(value, where, cx)
        return item
    if base == "is-xml":
        item = {"type": "is-xml"}
        if isinstance(value, dict):
            unknown = set(value) - {"requiredElements"}
            if unknown:
                raise where.error(
                    f"is-xml option {sorted(unknown)[0]!r} is not supported", key="value"
                )
            item["required_elements"] = list(value.get("requiredElements") or [])
        elif value is not None:
            raise where.error("is-xml `value` must be {requiredElements: [...]}", key="value")
        return item
    if base in ("python", "javascript"):
        return _code(base, value, threshold, where, cx)
    if base in _TOOL_CALLS:
        return _tool_calls(base, value, threshold, where)
    if base in ("perplexity", "perplexity-score"):  # from the answer's token logprobs
        if value is not None:
            raise where.error(f"{base!r} takes no `value`", key="value", hint="use `threshold`")
        return {"type": base} | ({} if threshold is None else {"threshold": threshold})
    if base == "similar":
        item = {
            "type": "semantic-similarity",
            "threshold": 0.75 if threshold is None else threshold,
        }
        if value is None:
            raise where.error("`similar` needs a `value`", key="value")
        item["value"] = value
        return item
    if base in _JUDGED:
        return _judge(base, value, threshold, raw, where, cx)
    if base == "levenshtein":
        if value is None:
            raise where.error("`levenshtein` needs a `value`", key="value")
        return {"type": "levenshtein", "value": value, "max_distance": int(threshold or 5)}
    # latency, cost: the threshold is the budget
    if threshold is None:
        raise where.error(f"{base!r} needs a `threshold` (the budget)", key="threshold")
    return {"type": base, "max_ms" if base == "latency" else "max_usd": threshold}


def _tool_calls(base: str, value: Any, threshold: Any, where: Where) -> dict[str, Any]:
    """`is-valid-openai-tools-call` checks the calls against the tools the prompt sends;
    `tool-call-f1`'s `value` is the expected tool names (a list, or comma-separated)."""
    item: dict[str, Any] = {"type": _TOOL_CALLS[base]}
    if base == "tool-call-f1":
        if not isinstance(value, list | str) or not value:
            raise where.error(
                "`tool-call-f1` needs the expected tool names as `value`", key="value"
            )
        item["value"] = value
    elif value is not None:
        raise where.error(
            f"{base!r} takes no `value`: the calls are checked against the tools the prompt "
            "declares (a provider's `config.tools`)",
            key="value",
        )
    if threshold is not None:
        item["threshold"] = threshold
    return item


def _code(base: str, value: Any, threshold: Any, where: Where, cx: Context) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{base!r} needs code (or file://…) as `value`", key="value")
    item: dict[str, Any] = {"type": "python-assert" if base == "python" else "javascript"}
    if value.startswith("file://"):
        path, _, func = value[len("file://") :].partition(":")
        if base == "javascript":
            raise where.error(
                "javascript files are not supported, only inline javascript",
                key="value",
                hint="inline the function body, or port it to a `python` assertion (file://x.py)",
            )
        item["file"] = cx.rel(cx.base / path)
        item["function"] = func or "get_assert"
    else:
        item["code"] = value
    if threshold is not None:
        item["threshold"] = threshold
    return item


def _judge(
    base: str, value: Any, threshold: Any, raw: dict[str, Any], where: Where, cx: Context
) -> dict[str, Any]:
    if base != "answer-relevance" and not isinstance(value, str):
        raise where.error(f"{base!r} needs its criterion as a string `value`", key="value")
    item: dict[str, Any] = {"type": "llm-judge", "rubric": _JUDGED[base].format(value=value)}
    provider = raw.get("provider")
    if provider is not None:
        from .promptfoo_providers import judge_model

        item["model"] = judge_model(provider, where.at("provider"))
    elif cx.judge_model:
        item["model"] = cx.judge_model
    if threshold is not None:
        item["pass_score"] = threshold
    return item


def _schema(value: Any, where: Where, cx: Context) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("file://"):
        from .._files import load_data

        path = cx.base / value[len("file://") :]
        if not path.is_file():
            raise where.error(f"schema file {value!r} not found", key="value")
        data = load_data(path)
        if isinstance(data, dict):
            return data
    raise where.error("the JSON schema must be a mapping or file://schema.json", key="value")


# ---- CSV `__expected` cells ------------------------------------------------------------

_CELL = re.compile(r"^(?P<type>[a-z][a-z0-9-]*)(?:\((?P<num>[0-9.]+)\))?(?::(?P<rest>.*))?$", re.S)
_CELL_ALIASES = {"grade": "llm-rubric", "fn": "javascript", "eval": "javascript"}


def expected_cell(cell: str) -> dict[str, Any]:
    """promptfoo's CSV assertion syntax: `icontains:bonjour`, `not-contains:x`,
    `similar(0.8):text`, `grade:rubric`, `javascript:code`, `is-json`; anything else equals."""
    m = _CELL.match(cell.strip())
    if m:
        kind = m["type"]
        base = kind[4:] if kind.startswith("not-") else kind
        base = _CELL_ALIASES.get(base, base)
        if base in KNOWN and (
            m["rest"] is not None
            or base in ("is-json", "is-xml", "is-sql", "is-refusal", "contains-json")
        ):
            out: dict[str, Any] = {"type": ("not-" if kind.startswith("not-") else "") + base}
            if m["rest"] is not None and m["rest"].strip():
                out["value"] = (
                    m["rest"].strip() if base not in ("python", "javascript") else m["rest"]
                )
            if m["num"] is not None:
                out["threshold"] = float(m["num"])
            return out
    return {"type": "equals", "value": cell}
