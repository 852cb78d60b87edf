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
    _check_arguments(expected, predicted, names)
    y_true, y_pred = _canonical_pairs(expected, predicted, labels)
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

    # Counted directly: the same definitions as scikit-learn's accuracy_score, f1_score and
    # precision_recall_fscore_support (labels=label_list, zero_division=0) — the tests check
    # against scikit-learn — without its import (`import_sklearn_s`, bench/import_costs.py)
    # on every run.
    matrix = _confusion_matrix(y_true, y_pred, label_list)
    if "accuracy" in names:
        out["accuracy"] = sum(matrix[i][i] for i in range(len(label_list))) / len(y_true)
    rows = _per_label_rows(matrix, label_list)
    if "macro_f1" in names:
        out["macro_f1"] = sum(r["f1"] for r in rows.values()) / len(rows) if rows else 0.0
    if "per_label" in names:
        out["per_label"] = rows
    if "confusion" in names:
        with_none = NONE_LABEL in y_pred
        cm_labels = label_list + ([NONE_LABEL] if with_none else [])
        keep = len(cm_labels)
        out["confusion"] = {
            "labels": cm_labels,
            "matrix": [row[:keep] for row in matrix[:keep]],
        }
    return out


def _check_arguments(
    expected: list[str | None], predicted: list[str | None], names: list[str]
) -> None:
    for name in names:
        if name not in METRICS:
            raise UnknownNameError("metric", name, list(METRICS))
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")


def _canonical_pairs(
    expected: list[str | None], predicted: list[str | None], labels: list[str] | None
) -> tuple[list[str], list[str]]:
    """(expected, predicted) of the cases with a label, both mapped onto `labels`; a missing
    prediction becomes NONE_LABEL."""
    canon = _canonicalizer(labels)
    y_true: list[str] = []
    y_pred: list[str] = []
    for e, p in zip(expected, predicted, strict=True):
        if e is None:
            continue
        y_true.append(canon(str(e)))
        y_pred.append(NONE_LABEL if p is None else canon(str(p)))
    return y_true, y_pred


def _confusion_matrix(
    y_true: list[str], y_pred: list[str], label_list: list[str]
) -> list[list[int]]:
    """Counts of (expected, predicted): rows and columns in `label_list` order, then NONE_LABEL."""
    index = {lab: i for i, lab in enumerate(label_list)}
    index[NONE_LABEL] = len(label_list)
    size = len(label_list) + 1
    matrix = [[0] * size for _ in range(size)]
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[index[t]][index[p]] += 1
    return matrix


def _per_label_rows(
    matrix: list[list[int]], label_list: list[str]
) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support of each label (0.0 where a ratio is 0/0)."""
    rows: dict[str, dict[str, float | int]] = {}
    for i, lab in enumerate(label_list):
        tp = matrix[i][i]
        support = sum(matrix[i])
        n_predicted = sum(row[i] for row in matrix)
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return rows


def _canonicalizer(labels: list[str] | None) -> Callable[[str], str]:
    if labels is None:
        return lambda s: s
    by_norm: dict[str, str] = {}
    for lab in labels:
        by_norm.setdefault(normalize_label(lab), lab)

    def canon(s: str) -> str:
        return by_norm.get(normalize_label(s), s)

    return canon
