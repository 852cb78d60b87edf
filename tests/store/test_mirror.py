"""store/mirror.py: folders copied to the shared store and back, verified."""

from __future__ import annotations

from pathlib import Path

from driftgate.store.mirror import pull_tree, push_tree
from driftgate.store.objects import ObjectStore


def test_a_folder_goes_to_the_store_and_back_without_locks(s3_url: str, tmp_path: Path) -> None:
    store = ObjectStore.from_url(s3_url)
    src = tmp_path / "src"
    (src / "checks").mkdir(parents=True)
    (src / "checks" / "1.json").write_text('{"id": 1}')
    (src / "baseline.json").write_text('{"run": "a"}')
    (src / ".lock").write_text("")
    (src / "x.tmp").write_text("partial")
    assert push_tree(store, src, "state/drift/k") == 2
    assert push_tree(store, src, "state/drift/k") == 0  # the same bytes: nothing copied
    assert sorted(o.key for o in store.list("state/")) == [
        "state/drift/k/baseline.json",
        "state/drift/k/checks/1.json",
    ]
    dst = tmp_path / "dst"
    assert pull_tree(store, "state/drift/k", dst) == 2
    assert (dst / "checks" / "1.json").read_text() == '{"id": 1}'
    assert pull_tree(store, "state/drift/k", dst) == 0

    (src / "baseline.json").write_text('{"run": "b"}')  # replaced, same size
    assert push_tree(store, src, "state/drift/k") == 1
    assert pull_tree(store, "state/drift/k", dst) == 1
    assert (dst / "baseline.json").read_text() == '{"run": "b"}'


def test_item_files_are_not_fetched_again(s3_url: str, tmp_path: Path) -> None:
    store = ObjectStore.from_url(s3_url)
    store.put("p/checks/1.json", b"{}")
    dst = tmp_path / "dst"
    assert pull_tree(store, "p", dst) == 1
    (dst / "checks" / "1.json").write_text("XY")  # same size, different bytes
    assert pull_tree(store, "p", dst, replaceable=lambda rel: False) == 0
    assert pull_tree(store, "p", dst) == 1  # compared when it may have been replaced
