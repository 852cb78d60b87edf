"""Which base arm each head arm is compared with, and which head arms a change touched."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from driftgate.ci.baseline import ArmSpec, changed_arms, pair_arms


def spec(ref: str, model: str, digest: str | None = None) -> ArmSpec:
    name, _, _ = ref.partition("@")
    prompt = SimpleNamespace(ref=ref, name=name, digest=digest or ref)
    arm = SimpleNamespace(prompt=prompt, model=SimpleNamespace(name=model), name=f"{ref} · {model}")
    return ArmSpec(arm)  # type: ignore[arg-type]


def names(pairs: list[ArmSpec | None]) -> list[str | None]:
    return [p.name if p else None for p in pairs]


def side(arms: list[ArmSpec], key: str = "k", evalsets: Any = None) -> Any:
    return SimpleNamespace(arms=arms, suite_key=key, evalsets=evalsets or {"tx": "d"})


def test_the_same_version_on_the_same_model_is_the_pair() -> None:
    versions = ["cat@zero-shot", "cat@few-shot"]
    head = [spec(v, m) for v in versions for m in ("v1", "v2")]
    base = [spec(v, m) for v in reversed(versions) for m in ("v2", "v1")]
    assert names(pair_arms(head, base)) == [h.name for h in head]


def test_a_new_model_pairs_with_the_old_one_only_when_unambiguous() -> None:
    assert names(pair_arms([spec("cat@1", "v2")], [spec("cat@1", "v1")])) == ["cat@1 · v1"]
    two = [spec("cat@1", "v1"), spec("cat@1", "v3")]
    assert names(pair_arms([spec("cat@1", "v2"), spec("cat@1", "v4")], two)) == [None, None]


def test_a_new_version_replaces_the_one_the_head_no_longer_runs() -> None:
    base = [spec("cat@1", "m"), spec("dog@1", "m")]
    head = [spec("cat@2", "m"), spec("dog@1", "m")]
    assert names(pair_arms(head, base)) == ["cat@1 · m", "dog@1 · m"]
    # Both kept and a third added: the new version has nothing it replaces.
    assert names(pair_arms([*base, spec("cat@3", "m")], base))[-1] is None
    # Two new versions for one old: no guess.
    assert names(pair_arms([spec("cat@2", "m"), spec("cat@3", "m")], base)) == [None, None]
    # Version and model both new, one arm each: still the replacement.
    assert names(pair_arms([spec("cat@2", "x")], [spec("cat@1", "m")])) == ["cat@1 · m"]


def test_changed_arms_names_what_the_change_touched() -> None:
    base = [spec("cat@1", "m"), spec("cat@2", "m"), spec("dog@1", "m")]
    head = [spec("cat@1", "m", digest="new"), spec("cat@2", "m"), spec("dog@2", "m")]
    pairs = pair_arms(head, base)
    assert changed_arms(side(head), side(base), pairs, None) == {
        0: "prompt changed",
        2: "new version (base: dog@1)",
    }
    assert changed_arms(side(head), side(base), pairs, "gate policy changed")[1] == (
        "gate policy changed"
    )
    assert set(changed_arms(side(head), side(base, key="other"), pairs, None).values()) >= {
        "suite settings changed"
    }
    golden = changed_arms(side(head), side(base, evalsets={"tx": "old"}), pairs, None)
    assert golden[1] == "golden set changed"
    assert changed_arms(side(head), None, [None] * 3, None) == dict.fromkeys(range(3), "new suite")
    assert changed_arms(side(head), side(base), [None, None, None], None) == dict.fromkeys(
        range(3), "new arm"
    )
