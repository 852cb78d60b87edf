"""`driftgate ui`'s Compare page: the paired verdict (the static report's values) and the
flipped cases side by side, with a word-level diff of their outputs."""

from __future__ import annotations

from typing import Any

from ..store.records import RunManifest
from .html import text


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """A word-level diff of two outputs as (op, text) pieces, op in "same", "del", "ins";
    the template escapes each piece (outputs are untrusted)."""
    import difflib
    import re

    wa, wb = re.findall(r"\S+|\s+", a), re.findall(r"\S+|\s+", b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(wa[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(wa[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(wb[j1:j2])))
    return out


MAX_DIFFS = 200  # flipped cases diffed on the page


def compare_values(
    cmp: Any, runs: list[RunManifest], picked: dict[str, str | None]
) -> dict[str, Any]:
    """The compare page: the pickers, the paired verdict (the static report's body) and the
    flipped cases side by side with a word diff of their outputs."""
    from ._compare_format import VERDICT_TEXT
    from .html_compare import comparison_page

    values: dict[str, Any] = {
        "runs": [(m.id, f"{m.id} · {m.suite or '—'}") for m in runs],
        "picked": picked,
        "page": None,
    }
    if cmp is None:
        return values
    page = comparison_page(cmp)
    diffs = []
    for f in cmp.flipped[:MAX_DIFFS]:
        a = text(f.output_a if f.error_a is None else "error: " + f.error_a)
        b = text(f.output_b if f.error_b is None else "error: " + f.error_b)
        diffs.append(
            {"case": f.case_id, "direction": f.direction, "segment": f.segment or "",
             "expected": text(f.expected), "diff": word_diff(a, b)}
        )  # fmt: skip
    return {
        **values,
        "page": page,
        "verdict": cmp.verdict,
        "verdict_text": VERDICT_TEXT[cmp.verdict],
        "diffs": diffs,
    }
