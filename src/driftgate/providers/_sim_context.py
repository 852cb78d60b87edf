"""What the simulated model "reads" in its prompt: does the rendered context cover the case?

A real model answers better when its prompt shows labeled examples like the case at hand:
few-shot examples, retrieved neighbours. The simulator models that with one deterministic
predicate, `covers(messages, expected, labels)`, computed from the rendered messages alone
(so it is the same in-process and over HTTP, and needs nothing but the usual case hint):

1. **Labels.** For a `label` output the prompt's label list; otherwise the expected answer
   itself when it is a short string (≤ 64 characters, ≤ 5 words); any other expected answer
   (JSON objects, long texts) is never covered. A line *names* a label when the label occurs
   in it as a whole word, case-insensitively.
2. **The case's input.** The last user message, from the line after its last line that names
   exactly one label (its examples, if any, come before the question) to its end; of those,
   the lines that name no label. For the example workspace's prompts that is the question line
   with the transaction (`Which category is this bank transaction: POS 21/03 ...?`); the
   option list names every label and is skipped.
3. **Context entries.** Everything before the input: each line naming exactly one label is an
   example of that label, together with up to 3 label-free lines directly above it (no blank
   line between; an assistant message continues the message before it), so `X is fuel.`,
   `Transaction: X` / `Category: fuel` and user `X` / assistant `fuel` turns all count.
   Lines naming several labels (option lists) are instructions, not examples.
4. **Distinctive words.** Maximal runs of letters, at least 3 long, case-folded, minus a
   few English function words (`the`, `with`, `which`, ...) and the label names themselves
   (a label in an example line marks its answer, it is not content). A field name that
   starts a line (`Transaction:`, `Category:`, `Q:`) is the template's wording, not
   content, and is skipped. Numbers, dates and reference codes' digits never count.
5. **Covered** when a context entry labeled with the case's expected answer shares a
   distinctive word with the case's input.

So a row with the same merchant covers that merchant (`ASDA-EXPR-PFS` under `fuel` covers
`POS 02/03 PURCHASE *ASDA-EXPR-PFS/LND REF1234`), and a new-bank-format row labeled `fuel`
covers the new-format fuel cases through the layout's words (`PURCHASE`, `REF`): an example
in the case's own layout with the right answer is what teaches a model to read that layout.
Like a model swayed by surface overlap with its demonstrations, any shared word counts,
a city included; examples of other labels sharing words neither help nor hurt (a right
answer only ever becomes more likely). A prompt without labeled context (zero-shot) covers
nothing, so the simulator answers it exactly as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

_WORD = re.compile(r"[^\W\d_]{3,}")
_FIELD_NAME = re.compile(r"^\s*[^\W\d_][^\W\d]{0,30}(?: [^\W\d]{1,30}){0,2}:(?=\s|$)")
_STOP = frozenset(
    "the and for from with this that these those are was were you your our has have had not "
    "but all any can one two its into per which what who whom how why when where use only "
    "answer answers choose word words one each than then them they their there here".split()
)
_MAX_LABEL_CHARS = 64
_MAX_LABEL_WORDS = 5
_ABOVE = 3  # label-free lines above a labeled line that belong to its example


def answer_labels(expected: Any, labels: Sequence[str] | None) -> tuple[str, ...] | None:
    """The labels lines are checked for: the label list, or the short expected answer alone."""
    if labels:
        return tuple(str(x) for x in labels)
    if isinstance(expected, str):
        text = expected.strip()
        if 0 < len(text) <= _MAX_LABEL_CHARS and len(text.split()) <= _MAX_LABEL_WORDS:
            return (text,)
    return None


@functools.lru_cache(maxsize=64)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
    # Whole words: not preceded or followed by a letter or digit.
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)


def _named(line: str, pattern: re.Pattern[str]) -> frozenset[str]:
    return frozenset(m.casefold() for m in pattern.findall(line)) if line else frozenset()


def _words(lines: Sequence[str], labels: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for line in lines:
        found.update(w.casefold() for w in _WORD.findall(_FIELD_NAME.sub("", line, count=1)))
    return found - _STOP - labels


def _lines(messages: Sequence[dict[str, Any]]) -> tuple[list[tuple[int, str, str]], int]:
    """(message index, role, line) of every line, and the index of the last user message."""
    out: list[tuple[int, str, str]] = []
    last_user = len(messages) - 1
    for i, message in enumerate(messages):
        role = str(message.get("role", ""))
        if role == "user":
            last_user = i
        out.extend((i, role, line) for line in str(message.get("content") or "").split("\n"))
    return out, last_user


def covers(messages: Sequence[dict[str, Any]], expected: Any, labels: Sequence[str] | None) -> bool:
    """Whether the rendered context covers the case (definition in the module docstring)."""
    label_set = answer_labels(expected, labels)
    if label_set is None or expected is None or not messages:
        return False
    target = str(expected).strip().casefold()
    pattern = _label_pattern(label_set)
    lines, last_user = _lines(messages)
    # The input: the last user message after its last single-label line.
    start = next(k for k, (i, _, _) in enumerate(lines) if i == last_user)
    end = max(k for k, (i, _, _) in enumerate(lines) if i == last_user) + 1
    query_from = start
    for k in range(start, end):
        if len(_named(lines[k][2], pattern)) == 1:
            query_from = k + 1
    all_labels = frozenset(x.casefold() for x in label_set)
    query = [line for _, _, line in lines[query_from:end] if not _named(line, pattern)]
    input_words = _words(query, all_labels)
    if not input_words:
        return False
    context = "\x1e".join(f"{i}\x1f{role}\x1f{line}" for i, role, line in lines[:query_from])
    return bool(input_words & _label_words(context, label_set).get(target, frozenset()))


@functools.lru_cache(maxsize=256)
def _label_words(context: str, label_set: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """label → the distinctive words of the context entries of that label.

    Keyed by the context's text, so a few-shot prompt's examples are parsed once per process
    however many cases render them.
    """
    pattern = _label_pattern(label_set)
    all_labels = frozenset(x.casefold() for x in label_set)
    by_word: dict[str, set[str]] = {}
    above: list[str] = []
    previous: tuple[int, str] | None = None
    for item in context.split("\x1e") if context else ():
        index, role, line = item.split("\x1f", 2)
        message = int(index)
        # A new message starts a new example unless it is the answer turn to the one before.
        if previous is not None and message != previous[0] and role != "assistant":
            above = []
        previous = (message, role)
        named = _named(line, pattern)
        if not named:
            above = [*above, line][-_ABOVE:] if line.strip() else []
            continue
        if len(named) == 1:
            (label,) = named
            for word in _words([*above, line], all_labels):
                by_word.setdefault(word, set()).add(label)
        above = []
    out: dict[str, set[str]] = {}
    for word, owners in by_word.items():
        for owner in owners:
            out.setdefault(owner, set()).add(word)
    return {label: frozenset(words) for label, words in out.items()}
