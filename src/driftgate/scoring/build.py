"""Building a scorer by name: the built-in module that registers it is imported when the
name is first used, then entry-point plugins (`driftgate.scorers`) when it is not built in.

This module sits above the built-in scorer modules (they import `base` only), so the
registry table in `base` never imports what registers into it.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError, UnknownNameError
from .base import SCORERS, Negated, Scorer, ScorerConfig

# The module registering each scorer, imported when the scorer is first named, so a run
# imports only the scorers its suite uses (and never the heavy libraries of the semantic
# and judge scorers unless it uses them). A name missing here falls back to importing
# every built-in module.
_MODULES = {
    **dict.fromkeys(
        [
            "equals",
            "contains",
            "icontains",
            "contains-all",
            "icontains-all",
            "contains-any",
            "icontains-any",
            "starts-with",
            "regex",
            "length",
        ],
        "text",
    ),
    "json-valid": "structured",
    "json-path": "structured",
    "label-match": "matching",
    "numeric": "matching",
    "similarity": "matching",
    "fuzzy-match": "matching",
    "latency": "budgets",
    "cost": "budgets",
    "python": "custom",
    "semantic-similarity": "semantic",
    "embedding-label": "semantic",
    "llm-judge": "judge",
    "rubric": "judge",
    **dict.fromkeys(["levenshtein", "rouge-n", "bleu"], "overlap"),
    **dict.fromkeys(["is-xml", "is-sql", "is-refusal", "finish-reason"], "formats"),
    **dict.fromkeys(["python-assert", "javascript"], "script"),
    "asserts": "asserts",
    **dict.fromkeys(["tool-call", "tool-call-f1", "tool-call-valid"], "tools"),
    **dict.fromkeys(["perplexity", "perplexity-score"], "perplexity"),
}
_LAZY_SCORERS = {
    name: m for name, m in _MODULES.items() if m in ("semantic", "judge", "asserts", "perplexity")
}


def _ensure_builtins(name: str | None = None) -> None:
    """Register the built-in scorer `name` (None: every built-in, heavy ones included)."""

    module = _MODULES.get(name) if name is not None else None
    if module is not None:
        importlib.import_module(f"{__package__}.{module}")
        if name in SCORERS:
            return
    from . import builtins  # noqa: F401 - registers the light built-in scorers

    if name is None:
        for module in set(_LAZY_SCORERS.values()):
            importlib.import_module(f"{__package__}.{module}")


def scorer_names() -> list[str]:
    from ..plugins import load_plugins

    _ensure_builtins()
    load_plugins("driftgate.scorers", on_error="warn")
    return sorted(SCORERS)


def _line(source: str | None, index: int | None, key: str | None) -> int | None:
    """The line of `scorers[index].key` in the suite/route file `source`, when it is a file."""
    if source is None or index is None:
        return None
    from pathlib import Path

    from .._files import line_of

    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    loc: tuple[Any, ...] = ("scorers", index) + ((key,) if key else ())
    return line_of(text, loc, path.suffix)


def _check_templates(
    config: ScorerConfig, type_: str, source: str | None, index: int | None, at: str
) -> None:
    """A built-in scorer's option with template syntax that it does not render: an error
    now, naming the scorer and the option (plugins render what they like)."""
    if not type(config).__module__.startswith("driftgate."):
        return
    skip = type(config).templated | type(config).verbatim
    for name in type(config).model_fields:
        if name in skip or not _has_template(getattr(config, name)):
            continue
        rendered = ", ".join(sorted(type(config).templated)) or "none"
        raise ConfigError(
            f"scorer {type_!r} does not render templates in `{name}` (it renders: "
            f"{rendered}); the text would be compared as written and fail every case",
            path=source,
            line=_line(source, index, name),
            field=f"{at}.{type_}.{name}",
            hint="put the case's value in a rendered option, or drop the {{ }}",
        )


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False


def build_scorer(
    options: dict[str, Any] | ScorerConfig, *, source: str | None = None, index: int | None = None
) -> Scorer:
    """Build a scorer from its suite-file options (a mapping with `type`). `source` is the
    suite or route file, `index` the scorer's place in its `scorers:` list: errors name both,
    with the line."""
    at = f"scorers[{index}]" if index is not None else "scorers"
    data = (
        options.model_dump(exclude_unset=True)
        if isinstance(options, ScorerConfig)
        else dict(options)
    )
    type_ = data.get("type")
    if not isinstance(type_, str):
        raise ConfigError(
            "a scorer needs a `type`",
            path=source,
            line=_line(source, index, None),
            field=f"{at}.type",
        )
    negate = type_.startswith("not-")
    base = type_[4:] if negate else type_
    _ensure_builtins(base)
    if base not in SCORERS:
        from ..plugins import load_plugins

        load_plugins("driftgate.scorers", on_error="warn")
        if base not in SCORERS:  # still missing: a plugin that failed may have been it
            load_plugins("driftgate.scorers")
    cls = SCORERS.get(base)
    if cls is None:
        raise UnknownNameError(
            "scorer",
            type_,
            scorer_names(),
            path=source,
            line=_line(source, index, "type"),
            field=f"{at}.type",
        )
    try:
        config = cls.Config.model_validate({**data, "type": base})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = (
            err["msg"]
            if err["type"] != "extra_forbidden"
            else f"unknown option for scorer {type_!r}"
        )
        key = str(err["loc"][0]) if err["loc"] else None
        raise ConfigError(
            msg,
            path=source,
            line=_line(source, index, key),
            field=f"{at}.{type_}" + (f".{loc}" if loc else ""),
        ) from None
    _check_templates(config, type_, source, index, at)
    inner = cls(config)
    if not negate:
        return inner
    neg_config = config.model_copy(update={"type": type_, "metric": config.metric or type_})
    return Negated(inner, neg_config)
