"""Suite-level label metrics: accuracy, macro-F1, per-label precision/recall/F1, confusion.

Per-case scorers say whether each answer is right; these say how a classifier prompt does
over the whole set — which labels it confuses, whether a rare label is never predicted.

A prediction of None (the output named no label, or the call failed) is wrong: it enters
as the sentinel `<none>`, which counts against accuracy and recall but is not a label of
its own in the per-label rows or the macro average. Cases with no expected label are left
out (they cannot be right or wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UnknownNameError
from .parsing import normalize_label

NONE_LABEL = "<none>"
METRICS = ("accuracy", "macro_f1", "per_label", "confusion")


def label_metrics(
    expected: list[str | None],
    predicted: list[str | None],
    names: list[str],
    *,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """Compute the metrics in `names` (⊆ accuracy, macro_f1, per_label, confusion).

    `labels`: the prompt's label set. When given, expected and predicted values are mapped
    to it by `normalize_label` (so "Groceries" counts as `groceries`), and every label gets
    a per-label row, even one absent from this set of cases — columns stay stable from run
    to run. Otherwise the labels are those seen, sorted.

    Returns plain JSON-serializable types, with `n`, the number of cases counted:

        {"n": 4, "accuracy": 0.75, "macro_f1": 0.7778,
         "per_label": {"rent": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}, …},
         "confusion": {"labels": ["groceries", "rent", "<none>"], "matrix": [[2, 0, 0], …]}}

    Rows of the confusion matrix are expected labels, columns predicted; the `<none>`
    column appears only when some prediction was None.
    """
    for name in names:
        if name not in METRICS:
            raise UnknownNameError("metric", name, list(METRICS))
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")

    canon = _canonicalizer(labels)
    y_true: list[str] = []
    y_pred: list[str] = []
    for e, p in zip(expected, predicted, strict=True):
        if e is None:
            continue
        y_true.append(canon(str(e)))
        y_pred.append(NONE_LABEL if p is None else canon(str(p)))

    seen = set(y_true) | set(y_pred)
    seen.discard(NONE_LABEL)
    label_list = list(labels) if labels is not None else []
    label_list += sorted(seen - set(label_list))  # predictions outside the set still count
    out: dict[str, Any] = {"n": len(y_true)}
    if not y_true:
        # Nothing to score: say so explicitly rather than report a perfect 0/0.
        for name in names:
            out[name] = None
        return out

    from sklearn.metrics import (  # lazy: ~1 s to import
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    if "accuracy" in names:
        out["accuracy"] = float(accuracy_score(y_true, y_pred))
    if "macro_f1" in names:
        out["macro_f1"] = float(
            f1_score(y_true, y_pred, labels=label_list, average="macro", zero_division=0)
        )
    if "per_label" in names:
        p, r, f, s = precision_recall_fscore_support(
            y_true, y_pred, labels=label_list, average=None, zero_division=0
        )
        out["per_label"] = {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(label_list)
        }
    if "confusion" in names:
        cm_labels = label_list + ([NONE_LABEL] if NONE_LABEL in y_pred else [])
        matrix = confusion_matrix(y_true, y_pred, labels=cm_labels)
        out["confusion"] = {"labels": cm_labels, "matrix": matrix.astype(int).tolist()}
    return out


def _canonicalizer(labels: list[str] | None) -> Callable[[str], str]:
    if labels is None:
        return lambda s: s
    by_norm: dict[str, str] = {}
    for lab in labels:
        by_norm.setdefault(normalize_label(lab), lab)

    def canon(s: str) -> str:
        return by_norm.get(normalize_label(s), s)

    return canon
