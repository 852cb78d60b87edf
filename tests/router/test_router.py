"""Serving a route on the simulator: assignment, stickiness, shadows, fallbacks, rollback."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import LABELS
from driftgate.errors import ConfigError, TemplateError, UnknownNameError
from driftgate.providers import ProviderError
from driftgate.router import Router, bucket, labeled_cases, read_decisions, read_feedback
from driftgate.workspace import Workspace


def write_route(root: Path, body: str, name: str = "cat") -> Path:
    (root / "routes").mkdir(exist_ok=True)
    path = root / "routes" / f"{name}.yaml"
    path.write_text(body)
    return path


FAST = "latency_ms=0&latency_jitter_ms=0"
ROUTE = f"""
sticky_key: user_id
arms:
  - {{name: production, prompt: cat@v1, model: "sim/acme@v1?{FAST}", weight: 80}}
  - {{name: candidate, prompt: cat@v1, model: "sim/acme@v1?{FAST}&accuracy=0.3", weight: 20}}
shadow:
  - {{name: next, prompt: cat@v1, model: "sim/acme@v2?{FAST}", sample: 1.0}}
canary: {{min_feedback: 25, check_every: 25}}
"""


def cases(n: int) -> list[dict]:
    return [
        {"id": f"r{i:04d}", "vars": {"description": f"merchant {i}", "user_id": f"u{i % 97}"},
         "expected": LABELS[i % len(LABELS)]}
        for i in range(n)
    ]  # fmt: skip


async def serve(router: Router, items: list[dict], *, feedback: bool = True) -> list:
    out = []
    for c in items:
        d = await router.complete(c["vars"], request_id=c["id"], expected=c["expected"])
        out.append(d)
        if feedback:
            ok = d.parsed == c["expected"]
            router.feedback(
                d.id, "accept" if ok else "edit", correction=None if ok else c["expected"]
            )
    await router.aclose()
    return out


def test_bucket_is_stable_and_uniform() -> None:
    assert bucket("r", "user-1") == bucket("r", "user-1")
    assert bucket("r", "user-1") != bucket("other", "user-1")
    points = [bucket("r", str(i)) for i in range(20_000)]
    assert all(0 <= p < 100 for p in points)
    assert abs(sum(p < 20 for p in points) / len(points) - 0.20) < 0.015


def test_weights_split_traffic_and_users_stay_on_their_arm(ws_root: Path) -> None:
    write_route(ws_root, ROUTE.replace("canary:", "# canary:"))
    router = Router("cat", workspace=ws_root)
    share = Counter(router.choose(f"user-{i}").name for i in range(10_000))
    assert abs(share["candidate"] / 10_000 - 0.20) < 0.02
    decisions = asyncio.run(serve(router, cases(200), feedback=False))
    arm_of_user: dict[str, set[str]] = {}
    for c, d in zip(cases(200), decisions, strict=True):
        arm_of_user.setdefault(c["vars"]["user_id"], set()).add(d.arm)
    assert all(len(arms) == 1 for arms in arm_of_user.values())  # sticky
    logged = read_decisions(Workspace.find(ws_root), "cat")
    live = [d for d in logged if not d.shadow]
    assert len(live) == 200 and len([d for d in logged if d.shadow]) == 200  # sample 1.0
    assert {d.id for d in logged if d.shadow} == {d.id for d in live}  # mirrors share the id
    assert all(d.sticky and "u" not in d.sticky for d in live)  # a hash, not the user id
    assert all("user_id" not in d.vars and "description" in d.vars for d in logged)
    assert all(d.prompt == "cat@v1" and d.prompt_digest for d in live)


def test_a_bad_canary_is_rolled_back_by_itself(ws_root: Path) -> None:
    write_route(ws_root, ROUTE)
    router = Router("cat", workspace=ws_root)
    asyncio.run(serve(router, cases(600)))
    verdict = router.last_canary
    assert verdict is not None and verdict.rollback_arms == ["candidate"]
    assert router.weights == {"production": 100.0, "candidate": 0.0}
    # Another serving process (a new Router) routes by the moved weights at once.
    other = Router("cat", workspace=ws_root)
    assert {other.choose(f"user-{i}").name for i in range(500)} == {"production"}
    # Shadow calls ran in the background (here: at `aclose`); a check now scores them too.
    stats = {(a.arm, a.shadow): a for a in router.check_canary().arms}
    assert stats[("candidate", False)].acceptance < 0.5 < stats[("production", False)].acceptance
    assert stats[("next", True)].labeled > 0 and stats[("next", True)].agreement > 0.5


def test_an_equal_canary_waits_for_evidence_then_is_healthy_and_stays(ws_root: Path) -> None:
    write_route(ws_root, ROUTE.replace("&accuracy=0.3", ""))
    router = Router("cat", workspace=ws_root)
    asyncio.run(serve(router, cases(400)))
    # ~80 labeled answers cannot show it is within 3 points of the baseline: it waits.
    assert router.last_canary is not None and router.last_canary.action == "wait"
    assert router.weights == {"production": 80.0, "candidate": 20.0}
    # Within a 25-point margin they can (the same log judged under a wider policy).
    from driftgate.router import check_canary
    from driftgate.router.tally import Tally

    wide = router.spec.model_copy(
        update={"canary": router.spec.canary.model_copy(update={"margin": 0.25})}
    )
    tally = Tally(router.digest, router._tally.folder)
    assert check_canary(router.ws, wide, tally=tally).action == "healthy"


def test_fallbacks_answer_when_the_arm_model_fails(ws_root: Path) -> None:
    write_route(
        ws_root,
        "arms:\n"
        '  - {name: main, prompt: cat@v1, model: "sim/acme@v1?error_rate=1.0&retry_after_s=0", weight: 100}\n'
        "fallbacks: [sim/perfect@v1]\n",
    )
    router = Router("cat", workspace=ws_root)
    router._arms["main"].models[0] = (
        router._arms["main"].models[0].model_copy(update={"max_retries": 1})
    )
    d = asyncio.run(serve(router, cases(1), feedback=False))[0]
    assert d.fallback and d.model == "sim/perfect@v1" and d.parsed == LABELS[0]
    assert d.attempts == 3  # two on the failing model, one on the fallback


def test_every_model_failing_raises_after_logging(ws_root: Path) -> None:
    write_route(
        ws_root,
        "arms:\n"
        '  - {name: main, prompt: cat@v1, model: "sim/acme@v1?error_rate=1.0&retry_after_s=0", weight: 100}\n',
    )
    router = Router("cat", workspace=ws_root)
    router._arms["main"].models[0] = (
        router._arms["main"].models[0].model_copy(update={"max_retries": 0})
    )
    with pytest.raises(ProviderError):
        asyncio.run(serve(router, cases(1), feedback=False))
    (d,) = read_decisions(Workspace.find(ws_root), "cat")
    assert d.error and d.error_kind in {"rate_limit", "server"} and d.output is None


def test_template_errors_are_logged_and_raised(ws_root: Path) -> None:
    write_route(
        ws_root, "arms:\n  - {name: main, prompt: cat@v1, model: sim/acme@v1, weight: 100}\n"
    )
    router = Router("cat", workspace=ws_root)

    async def go() -> None:
        await router.complete({"other": "x"})

    with pytest.raises(TemplateError, match="description"):
        asyncio.run(go())
    (d,) = read_decisions(Workspace.find(ws_root), "cat")
    assert d.error_kind == "template"


def test_a_failing_shadow_never_reaches_the_live_answer(ws_root: Path) -> None:
    write_route(
        ws_root,
        "arms:\n  - {name: main, prompt: cat@v1, model: sim/perfect@v1, weight: 100}\n"
        'shadow:\n  - {name: broken, prompt: cat@v1, model: "sim/acme@v1?error_rate=1.0&retry_after_s=0"}\n',
    )
    router = Router("cat", workspace=ws_root)
    router._arms["broken"].models[0] = (
        router._arms["broken"].models[0].model_copy(update={"max_retries": 0})
    )
    decisions = asyncio.run(serve(router, cases(5)))
    assert all(d.error is None and not d.shadow for d in decisions)
    shadows = [d for d in read_decisions(Workspace.find(ws_root), "cat") if d.shadow]
    assert len(shadows) == 5 and all(d.error for d in shadows)


def test_bad_routes_fail_at_start(ws_root: Path) -> None:
    with pytest.raises(UnknownNameError, match="route"):
        Router("nope", workspace=ws_root)
    write_route(
        ws_root, "arms:\n  - {name: main, prompt: cat@v9, model: sim/acme@v1, weight: 100}\n"
    )
    with pytest.raises(UnknownNameError, match="cat@v9"):
        Router("cat", workspace=ws_root)
    write_route(ws_root, "arms:\n  - {name: main, prompt: cat@v1, weight: 90}\n")
    with pytest.raises(ConfigError, match="sum to 100") as err:
        Router("cat", workspace=ws_root)
    assert "cat.yaml" in str(err.value)


def test_feedback_becomes_golden_cases(ws_root: Path) -> None:
    write_route(
        ws_root, "arms:\n  - {name: main, prompt: cat@v1, model: sim/acme@v1, weight: 100}\n"
    )
    router = Router("cat", workspace=ws_root)

    async def go() -> list:
        out = [
            await router.complete({"description": f"shop {i}"}, request_id=f"q{i}")
            for i in range(4)
        ]
        await router.aclose()
        return out

    d0, d1, d2, d3 = asyncio.run(go())
    router.feedback("q0", "accept")
    router.feedback("q1", "edit", correction="rent")
    router.feedback("q2", "reject")  # no correction: nothing certain to learn
    router.feedback("q3", "reject", correction="dining")
    router.feedback("q3", "accept")  # the latest word wins... but the accept has no label
    ws = Workspace.find(ws_root)
    assert len(read_feedback(ws, "cat")) == 5
    got = {c["id"]: c for c in labeled_cases(ws, "cat")}
    assert set(got) == {"q0", "q1", "q3"}
    assert got["q0"]["expected"] == d0.parsed and got["q1"]["expected"] == "rent"
    assert got["q3"]["expected"] == d3.parsed  # accepted answer after the correction
    assert got["q1"]["vars"] == {"description": "shop 1"}
    from driftgate.evalset import Case

    for c in got.values():
        Case.model_validate(json.loads(json.dumps(c)))  # a valid golden-set line


def test_an_alias_arm_follows_promotion_without_a_restart(ws_root: Path) -> None:
    from driftgate.registry.moves import promote
    from driftgate.registry.record import register_artifacts

    prompt = ws_root / "prompts" / "cat.yaml"
    register_artifacts(ws_root, "cat")
    promote("cat@1", skip_gate=True, force=True, reason="test", workspace=ws_root)
    write_route(
        ws_root,
        "arms:\n  - {name: main, prompt: cat@production, model: sim/perfect@v1, weight: 100}\n",
    )
    router = Router("cat", workspace=ws_root)
    first = asyncio.run(router.complete({"description": "x"}))
    # A new version (a different system message) is registered and promoted elsewhere.
    prompt.write_text(
        prompt.read_text()
        .replace("version: v1", "version: v2")
        .replace("Pick one of", "Choose from")
    )
    register_artifacts(ws_root, "cat")
    promote("cat@2", skip_gate=True, force=True, reason="test", workspace=ws_root)
    second = asyncio.run(router.complete({"description": "x"}))
    assert first.prompt_digest != second.prompt_digest
    assert second.prompt.startswith("cat@")


def test_synchronous_callers_get_the_same_router(ws_root: Path) -> None:
    write_route(ws_root, ROUTE)
    router = Router("cat", workspace=ws_root)
    decisions = [
        router.complete_sync(c["vars"], request_id=c["id"], expected=c["expected"])
        for c in cases(20)
    ]
    assert all(d.error is None and not d.shadow for d in decisions)
    router.close()  # waits for the shadow calls still running in the background
    logged = read_decisions(Workspace.find(ws_root), "cat")
    assert len([d for d in logged if d.shadow]) == 20 and len(logged) == 40
    assert router._loop is None and router._thread is None


def test_a_healthy_canary_ramps_up_step_by_step(ws_root: Path) -> None:
    route = ROUTE.replace("&accuracy=0.3", "").replace(
        "canary: {{min_feedback: 25, check_every: 25}}".format(),
        "canary: {min_feedback: 25, check_every: 25, margin: 0.25, ramp: [50, 100]}",
    )
    assert "ramp" in route
    write_route(ws_root, route)
    router = Router("cat", workspace=ws_root)
    asyncio.run(serve(router, cases(400)))
    # 20% → 50% once the candidate is within the (wide, for speed) margin on 25 labeled
    # answers; then 25 more at 50% → 100%.
    from driftgate.router import history

    reasons = [h.reason for h in history(Workspace.find(ws_root), "cat")]
    assert [r.rpartition("→ ")[2] for r in reasons] == ["50%", "100%"]
    assert router.weights == {"production": 0.0, "candidate": 100.0}
    steps = history(Workspace.find(ws_root), "cat")
    assert steps[1].evidence["candidate"] - steps[0].evidence["candidate"] >= 25


def test_ramp_steps_must_increase() -> None:
    from pydantic import ValidationError

    from driftgate.artifacts.route import CanaryPolicy

    CanaryPolicy(ramp=[10, 50, 100])
    for bad in ([50, 25], [0, 50], [50, 150], [50, 50]):
        with pytest.raises(ValidationError):
            CanaryPolicy(ramp=bad)


def test_calls_wait_for_a_slot_outside_the_provider_timeout(ws_root: Path) -> None:
    """A provider that serves one call at a time (like the local model) gets one at a time."""
    from driftgate.providers.base import Completion, Provider

    in_flight, peak = 0, 0

    class OneAtATime(Provider):
        max_concurrency = 1

        async def complete(self, request):  # noqa: ANN001, ANN201
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return Completion(text=LABELS[0])

    write_route(
        ws_root, "arms:\n  - {name: main, prompt: cat@v1, model: sim/perfect@v1, weight: 100}\n"
    )
    router = Router("cat", workspace=ws_root)
    router._providers["sim/perfect@v1"] = OneAtATime(router._arms["main"].models[0])

    async def go() -> list:
        out = await asyncio.gather(*(router.complete({"description": str(i)}) for i in range(6)))
        await router.aclose()
        return out

    assert all(d.parsed == LABELS[0] for d in asyncio.run(go())) and peak == 1


def test_a_live_arm_at_weight_0_is_mirrored_when_the_state_says_so(ws_root: Path) -> None:
    from driftgate.router import check_canary, set_weights

    write_route(ws_root, ROUTE.replace("weight: 80", "weight: 100").replace("weight: 20", "weight: 0"))  # fmt: skip
    router = Router("cat", workspace=ws_root)
    ws = router.ws
    set_weights(ws, router.spec, {"candidate": 0}, shadow_arms=["candidate"], reason="trial")
    served = asyncio.run(serve(router, cases(60)))
    assert {d.arm for d in served} == {"production"}  # never returned
    decisions = read_decisions(ws, "cat")
    mirrored = [d for d in decisions if d.arm == "candidate"]
    assert len(mirrored) == 60 and all(d.shadow for d in mirrored)
    shadow = check_canary(ws, router.spec).finding("candidate", shadow=True)
    assert shadow is not None and shadow.labeled == 60  # paired with the live answers


@pytest.mark.parametrize(("route_cap", "expected_peak"), [(None, 40), (3, 3)])
def test_in_flight_calls_capped_only_by_the_route(
    ws_root: Path, route_cap: int | None, expected_peak: int
) -> None:
    """No eval-run default (32) queues a gateway's calls; `max_in_flight` caps them."""
    from driftgate.artifacts.route import load_route
    from driftgate.providers.base import Completion, Provider

    in_flight, peak = 0, 0

    class Counting(Provider):
        async def complete(self, request):  # noqa: ANN001, ANN201
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1
            return Completion(text=LABELS[0])

    cap = "" if route_cap is None else f"max_in_flight: {route_cap}\n"
    write_route(
        ws_root,
        cap + "arms:\n  - {name: main, prompt: cat@v1, model: sim/perfect@v1, weight: 100}\n",
    )
    router = Router("cat", workspace=ws_root)
    router._providers["sim/perfect@v1"] = Counting(router._arms["main"].models[0])

    async def go() -> list:
        out = await asyncio.gather(*(router.complete({"description": str(i)}) for i in range(40)))
        await router.aclose()
        return out

    assert all(d.parsed == LABELS[0] for d in asyncio.run(go())) and peak == expected_peak
    # An unset cap leaves the route's identity as it was before the field existed.
    spec = load_route(ws_root / "routes" / "cat.yaml")
    assert ("max_in_flight" in spec.model_dump(exclude_unset=True)) == (route_cap is not None)
