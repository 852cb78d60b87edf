"""Suite-level label metrics, checked against hand-computed values."""

from __future__ import annotations

import json

import pytest

from driftgate.errors import UnknownNameError
from driftgate.scoring.metrics import label_metrics


@pytest.fixture(scope="module", autouse=True)
def _sklearn_imported():
    import sklearn.metrics  # noqa: F401 - pay the ~1 s import once, outside the timed tests


ALL = ["accuracy", "macro_f1", "per_label", "confusion"]

# expected:  a a a b b c
# predicted: a a b b - c      ("-" = None: the output named no label)
EXPECTED = ["a", "a", "a", "b", "b", "c"]
PREDICTED = ["a", "a", "b", "b", None, "c"]


def test_hand_computed_values():
    m = label_metrics(EXPECTED, PREDICTED, ALL)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: P=2/2 R=2/3 F=0.8; b: P=1/2 R=1/2 F=0.5; c: P=R=F=1
    pl = m["per_label"]
    assert set(pl) == {"a", "b", "c"}  # no "<none>" row
    assert pl["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert pl["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert pl["c"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1})
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 1.0) / 3)
    assert m["confusion"] == {
        "labels": ["a", "b", "c", "<none>"],
        "matrix": [[2, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]],
    }
    json.dumps(m)  # plain types only
    assert type(m["accuracy"]) is float and type(pl["a"]["support"]) is int


def test_only_requested_metrics_and_no_none_column_without_nones():
    m = label_metrics(["x", "y"], ["x", "x"], ["accuracy", "confusion"])
    assert set(m) == {"n", "accuracy", "confusion"}
    assert m["accuracy"] == 0.5
    assert m["confusion"] == {"labels": ["x", "y"], "matrix": [[1, 0], [1, 0]]}


def test_cases_without_expected_are_skipped():
    m = label_metrics(["a", None, "b"], ["a", "b", "a"], ["accuracy"])
    assert m == {"n": 2, "accuracy": 0.5}


def test_label_set_normalizes_and_fixes_columns():
    m = label_metrics(
        ["Groceries", "rent"],
        ["groceries.", "RENT"],
        ["accuracy", "per_label"],
        labels=["groceries", "rent", "utilities"],
    )
    assert m["accuracy"] == 1.0
    assert list(m["per_label"]) == ["groceries", "rent", "utilities"]
    assert m["per_label"]["utilities"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_prediction_outside_label_set_still_counts():
    m = label_metrics(["a"], ["zzz"], ["accuracy", "per_label"], labels=["a"])
    assert m["accuracy"] == 0.0
    assert list(m["per_label"]) == ["a", "zzz"]


def test_empty_and_bad_input():
    assert label_metrics([], [], ["accuracy", "macro_f1"]) == {
        "n": 0,
        "accuracy": None,
        "macro_f1": None,
    }
    with pytest.raises(UnknownNameError) as exc:
        label_metrics(["a"], ["a"], ["acuracy"])
    assert exc.value.hint is not None and "accuracy" in exc.value.hint
    with pytest.raises(ValueError, match="1 expected labels but 2"):
        label_metrics(["a"], ["a", "b"], ["accuracy"])


def test_counts_match_scikit_learn_on_random_labels():
    import random

    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    from driftgate.scoring.metrics import NONE_LABEL, label_metrics

    rng = random.Random(4)
    labels = ["a", "b", "c", "d", "e"]
    exp = [rng.choice(labels[:4]) for _ in range(300)]
    pred = [rng.choice(labels + [None]) for _ in range(300)]
    got = label_metrics(
        exp, pred, ["accuracy", "macro_f1", "per_label", "confusion"], labels=labels
    )
    y_pred = [NONE_LABEL if p is None else p for p in pred]
    assert got["accuracy"] == sum(e == p for e, p in zip(exp, pred, strict=True)) / 300
    assert (
        abs(
            got["macro_f1"] - f1_score(exp, y_pred, labels=labels, average="macro", zero_division=0)
        )
        < 1e-12
    )
    p, r, f, s = precision_recall_fscore_support(
        exp, y_pred, labels=labels, average=None, zero_division=0
    )
    for i, lab in enumerate(labels):
        row = got["per_label"][lab]
        assert abs(row["precision"] - p[i]) < 1e-12 and abs(row["recall"] - r[i]) < 1e-12
        assert abs(row["f1"] - f[i]) < 1e-12 and row["support"] == s[i]
    cm = confusion_matrix(exp, y_pred, labels=labels + [NONE_LABEL])
    assert got["confusion"]["matrix"] == cm.tolist()
