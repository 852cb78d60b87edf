"""The built-in scorers, registered on import (`build._ensure_builtins` imports this module).

One module per family, so a new scorer is one class in the right file:

* `text`       — equals, contains, icontains, contains-any/-all, icontains-any/-all,
                 starts-with, regex, length
* `structured` — json-valid, json-path
* `matching`   — label-match, numeric, similarity, fuzzy-match
* `budgets`    — latency, cost
* `custom`     — python (a user-written function)
* `overlap`    — levenshtein, rouge-n, bleu
* `formats`    — is-xml, is-sql, is-refusal, finish-reason
* `script`     — python-assert, javascript (code inline in a config)
* `tools`      — tool-call, tool-call-f1, tool-call-valid

Any of them negates as `not-NAME`. Semantic (embedding) and model-judged scorers live in
`semantic.py` and `judge.py`, which register only when their dependencies import; `asserts`
(per-case assertion lists) in `asserts.py`, which builds other scorers.
"""

from __future__ import annotations

from . import budgets, custom, formats, matching, overlap, script, structured, text, tools
from .matching import first_number, levenshtein, similarity
from .structured import parse_path, resolve_path

__all__ = [
    "budgets",
    "custom",
    "first_number",
    "formats",
    "levenshtein",
    "matching",
    "overlap",
    "parse_path",
    "resolve_path",
    "script",
    "similarity",
    "structured",
    "text",
    "tools",
]
