"""The built-in scorers, registered on import (`build._ensure_builtins` imports this module).

One module per family, so a new scorer is one class in the right file:

* `text`       — equals, contains, icontains, contains-any/-all, icontains-any/-all,
                 starts-with, regex, length
* `structured` — json-valid, json-path
* `matching`   — label-match, numeric, similarity
* `budgets`    — latency, cost
* `custom`     — python (a user-written function)

Any of them negates as `not-NAME`. Semantic (embedding) and model-judged scorers live in
`semantic.py` and `judge.py`, which register only when their dependencies import.
"""

from __future__ import annotations

from . import budgets, custom, matching, structured, text
from .matching import first_number, levenshtein, similarity
from .structured import parse_path, resolve_path

__all__ = [
    "budgets",
    "custom",
    "first_number",
    "levenshtein",
    "matching",
    "parse_path",
    "resolve_path",
    "similarity",
    "structured",
    "text",
]
