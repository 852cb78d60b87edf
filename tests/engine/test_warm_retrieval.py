"""The executor embeds a batch's retrieval texts in one call before the templates render."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from driftgate.engine.executor import warm_retrieval


class FakeIndex:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], int | None]] = []
        self.fail = fail

    def search_many(self, texts: list[str], k: int | None = None) -> list[Any]:
        self.calls.append((texts, k))
        if self.fail:
            raise RuntimeError("embedder gone")
        return []

    def retrieve(self, text: str, k: int | None = None) -> list[Any]:
        return []


def item(index: FakeIndex | None, template: str, **vars: Any) -> Any:
    context = {"retrieve": index.retrieve} if index is not None else {}
    prompt = SimpleNamespace(messages=[SimpleNamespace(role="user", content=template)])
    return SimpleNamespace(
        arm=SimpleNamespace(context=context, prompt=prompt), case=SimpleNamespace(vars=vars)
    )


KNN = "{{ retrieve(description, k=9) | tojson }}"


def test_one_search_per_index_with_each_retrieved_text_once() -> None:
    a, b = FakeIndex(), FakeIndex()
    warm_retrieval(
        [
            item(a, KNN, description="TESCO 22", bank="lumen"),
            item(a, KNN, description="UBER TRIP", bank="lumen"),
            item(a, KNN, description="TESCO 22", bank="harbour"),
            item(b, "{% for r in retrieve(memo) %}{{ r.text }}{% endfor %}", memo="x", other="y"),
            item(b, "{{ retrieve( memo ) }}", memo="z"),
        ]
    )
    assert a.calls == [(["TESCO 22", "UBER TRIP"], 1)]  # `bank` is not retrieved with
    assert b.calls == [(["x", "z"], 1)]


def test_nothing_to_warm_and_failures_are_left_to_the_render() -> None:
    idx = FakeIndex()
    warm_retrieval([item(idx, "{{ retrieve(a ~ b) }}", a="1", b="2")] * 3)  # an expression
    warm_retrieval([item(None, KNN, description="x"), item(None, KNN, description="y")])
    warm_retrieval([item(idx, KNN, description="only one")])  # a single text: no gain
    assert idx.calls == []
    broken = FakeIndex(fail=True)
    warm_retrieval([item(broken, KNN, description="x"), item(broken, KNN, description="y")])
    assert len(broken.calls) == 1  # tried, and the error did not escape
