"""The simulator: determinism, known accuracy per segment, profiles, overrides, failures."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from driftgate.errors import ConfigError, UnknownNameError
from driftgate.providers import create_provider
from driftgate.providers.base import CaseHint, Completion, CompletionRequest, ModelConfig
from driftgate.providers.retry import complete_with_retries
from driftgate.providers.simulator import (
    REFUSAL,
    SimError,
    SimProfile,
    SimProvider,
    case_header,
    get_profile,
    parse_case_header,
    profiles,
    register_profile,
    simulate,
)

LABELS = ["groceries", "rent", "transport", "salary"]
MSGS = [
    {"role": "system", "content": "You label bank transactions."},
    {"role": "user", "content": "TESCO 22"},
]
NEW = "cohort=new-bank-format"


def _hint(i: int, segment: str | None = None, repeat: int = 0) -> CaseHint:
    return CaseHint(
        id=f"c{i}",
        expected=LABELS[i % 4],
        segment=segment,
        labels=LABELS,
        output_type="label",
        repeat=repeat,
    )


def _answers(model: str, n: int, segment: str | None = None) -> list[str]:
    out = []
    for i in range(n):
        r = simulate(model, _hint(i, segment), MSGS)
        assert isinstance(r, Completion)
        out.append(r.text)
    return out


def _accuracy(model: str, n: int = 2000, segment: str | None = None) -> float:
    answers = _answers(model, n, segment)
    return sum(a == LABELS[i % 4] for i, a in enumerate(answers)) / n


def test_deterministic_and_repeat_changes_draws() -> None:
    a = [simulate("sim/acme@v1", _hint(i), MSGS) for i in range(200)]
    b = [simulate("sim/acme@v1", _hint(i), MSGS) for i in range(200)]
    assert a == b
    r1 = [simulate("sim/acme@v1", _hint(i, repeat=1), MSGS).text for i in range(200)]
    assert r1 != [x.text for x in a]  # repeats are fresh samples


def test_accuracy_per_segment_and_shared_stream() -> None:
    assert _accuracy("sim/acme@v1") == pytest.approx(0.9, abs=0.02)
    assert _accuracy("sim/acme@v2", segment="cohort=established") == pytest.approx(0.9, abs=0.02)
    assert _accuracy("sim/acme@v2", segment=NEW) == pytest.approx(0.8, abs=0.025)
    assert _accuracy("sim/perfect@v1", n=300) == 1.0
    # v1 and v2 share a stream: identical off the degraded segment, and on it v2 is wrong
    # wherever v1 is (a pure regression, as a paired comparison should see it).
    assert _answers("sim/acme@v1", 500, "cohort=established") == _answers(
        "sim/acme@v2", 500, "cohort=established"
    )
    v1, v2 = _answers("sim/acme@v1", 2000, NEW), _answers("sim/acme@v2", 2000, NEW)
    exp = [LABELS[i % 4] for i in range(2000)]
    assert all(b != e for a, b, e in zip(v1, v2, exp, strict=True) if a != e)
    assert sum(a != b for a, b in zip(v1, v2, strict=True)) == pytest.approx(200, abs=40)


def test_wrong_labels_stay_on_the_list() -> None:
    answers = _answers("sim/acme@v1?accuracy=0", 200)
    assert all(a in LABELS and a != LABELS[i % 4] for i, a in enumerate(answers))


def test_fingerprints_and_tokens() -> None:
    v1 = simulate("sim/acme@v1", _hint(1), MSGS)
    v2 = simulate("sim/acme@v2", _hint(1), MSGS)
    assert v1.fingerprint != v2.fingerprint and v1.model == "sim/acme@v1"
    assert v1.input_tokens == round(6 * 1.3)  # 6 words of messages
    assert v1.output_tokens == 1
    assert v1.cost_usd == pytest.approx((v1.input_tokens + 1) / 1000 * 0.002)
    assert 25 <= v1.latency_ms < 35


def test_verbosity_pads_without_changing_the_answer() -> None:
    for i in range(50):
        bare = simulate("sim/acme@v1", _hint(i), MSGS).text
        verbose = simulate("sim/acme@v3-verbose", _hint(i), MSGS).text
        words = verbose.split()
        assert len(words) == 21 and bare in words
        assert sum(w in LABELS for w in words) == 1


def test_json_output_and_format_errors() -> None:
    expected = {"category": "groceries", "amount": 12.5, "recurring": False}
    ok = broken = 0
    for i in range(2000):
        hint = CaseHint(id=f"j{i}", expected=expected, output_type="json")
        text = simulate("sim/acme@v4-jsonbreak", hint, MSGS).text
        try:
            parsed = json.loads(text)
        except ValueError:
            broken += 1
            continue
        assert set(parsed) == set(expected)  # wrong answers keep the shape
        ok += parsed == expected
    assert broken == pytest.approx(100, abs=30)
    assert ok / (2000 - broken) == pytest.approx(0.9, abs=0.03)


def test_label_format_error_is_off_list_and_text_without_truth() -> None:
    texts = _answers("sim/acme@v1?format_error_rate=1", 20)
    assert all(t not in LABELS and t for t in texts)
    a = simulate("sim/acme@v1", None, MSGS)
    b = simulate("sim/acme@v1", None, MSGS, response_format={"type": "json_object"})
    assert (
        a.text.startswith("simulated answer ")
        and a.text == simulate("sim/acme@v1", None, MSGS).text
    )
    assert set(json.loads(b.text)) == {"answer"}


def test_transient_failures_depend_on_attempt() -> None:
    errors = [simulate("sim/flaky@v1", _hint(i), MSGS) for i in range(2000)]
    failed = [i for i, e in enumerate(errors) if isinstance(e, SimError)]
    assert len(failed) == pytest.approx(400, abs=60)
    kinds = {errors[i].kind for i in failed}
    assert kinds == {"rate_limit", "server"}
    limited = next(errors[i] for i in failed if errors[i].kind == "rate_limit")
    assert limited.status == 429 and limited.retry_after == pytest.approx(0.05)
    retried = [simulate("sim/flaky@v1", _hint(i), MSGS, attempt=1) for i in failed]
    assert sum(isinstance(r, Completion) for r in retried) > 0.7 * len(failed)
    refused = _answers("sim/acme@v1?refusal_rate=0.5", 400)
    assert refused.count(REFUSAL) == pytest.approx(200, abs=40)


def test_overrides_and_errors() -> None:
    assert get_profile("sim/acme@v1?accuracy=0.7&latency_ms=50").latency_ms == 50
    assert _accuracy("sim/acme@v1?accuracy=0.7", n=1000) == pytest.approx(0.7, abs=0.04)
    seg = get_profile('sim/acme@v2?segment_accuracy={"cohort=x":0.5}').segment_accuracy
    assert seg == {NEW: 0.8, "cohort=x": 0.5}
    with pytest.raises(ConfigError, match="accuracyy") as e:
        get_profile("sim/acme@v1?accuracyy=0.7")
    assert "valid: accuracy" in str(e.value)
    with pytest.raises(ConfigError, match=r"\[accuracy\]"):
        get_profile("sim/acme@v1?accuracy=2")
    with pytest.raises(UnknownNameError) as u:
        create_provider(ModelConfig(id="sim/acme@v9"))
    assert "sim/acme@v1" in str(u.value) and "did you mean" in str(u.value)
    assert "sim/perfect@v1" in [f"sim/{n}" for n in profiles()]


def test_register_profile() -> None:
    register_profile("sim/tested@v1", SimProfile(accuracy=0.0, stream="acme"))
    assert _accuracy("sim/tested@v1", n=100) == 0.0
    with pytest.raises(ConfigError, match="NAME@VERSION"):
        register_profile("no-version", SimProfile())


def test_case_header_round_trip() -> None:
    hint = CaseHint(
        id="é-1", expected={"a": [1, "ü"]}, segment="s", labels=["x"], output_type="json", repeat=2
    )
    raw = case_header(hint)
    assert raw.isascii()
    assert parse_case_header(raw) == hint
    with pytest.raises(ValueError):
        parse_case_header('["no"]')


def test_provider_latency_and_scripted_retry() -> None:
    async def main() -> None:
        p = SimProvider(
            ModelConfig(id="sim/perfect@v1?latency_ms=40&fail_attempts=1&fail_kind=rate_limit")
        )
        req = CompletionRequest(model="x", messages=MSGS, case=_hint(3), timeout_s=5)
        sleeps: list[float] = []

        async def fake_sleep(s: float) -> None:
            sleeps.append(s)

        t = time.perf_counter()
        out, attempts = await complete_with_retries(p, req, max_retries=2, sleep=fake_sleep)
        elapsed = time.perf_counter() - t
        assert (out.text, attempts) == (LABELS[3], 2)
        assert sleeps and 0.05 <= sleeps[0] <= 0.055  # the profile's Retry-After
        assert elapsed >= 0.08  # two calls of 40 ms each
        # Timeouts stall until the caller's deadline.
        p2 = SimProvider(ModelConfig(id="sim/perfect@v1?timeout_rate=1"))
        req2 = CompletionRequest(model="x", messages=MSGS, case=_hint(4), timeout_s=0.05)
        with pytest.raises(SimError) as e:
            await p2.complete(req2)
        assert e.value.kind == "timeout"

    asyncio.run(main())


def test_case_difficulty_keeps_accuracy_and_correlates_versions():
    from driftgate.providers.base import CaseHint
    from driftgate.providers.simulator import simulate

    labels = ["a", "b", "c", "d"]
    n = 4000

    def outcomes(model: str) -> list[bool]:
        out = []
        for i in range(n):
            hint = CaseHint(id=f"k{i}", expected="a", labels=labels, output_type="label")
            out.append(simulate(model, hint, [{"role": "user", "content": "x"}]).text == "a")
        return out

    a = outcomes("sim/acme@v1?latency_ms=0&case_difficulty=1.5&seed=1")
    b = outcomes("sim/acme@v1?latency_ms=0&case_difficulty=1.5&seed=2")
    flat = outcomes("sim/acme@v1?latency_ms=0&seed=3")
    assert abs(sum(a) / n - 0.9) < 0.02 and abs(sum(b) / n - 0.9) < 0.02
    both_fail = sum(not x and not y for x, y in zip(a, b, strict=True)) / n
    indep_fail = sum(not x and not y for x, y in zip(a, flat, strict=True)) / n
    # Shared difficulty: the two seeds fail the same hard cases far more often than chance.
    assert both_fail > 2 * indep_fail


# ---- the simulator reads its prompt: labeled context that covers the case -------------

from driftgate.providers._sim_context import covers  # noqa: E402

CATS = ["groceries", "dining", "transport", "fuel", "rent"]
QUESTION = (
    "Which category is this bank transaction: {}?\n"
    "Choose one of: groceries, dining, transport, fuel, rent.\nAnswer with one word."
)


def _fewshot(examples: list[tuple[str, str]], description: str) -> list[dict[str, str]]:
    """Messages as prompts/categorize.few-shot.yaml renders them."""
    lines = "".join(f"{text} is {label}.\n" for text, label in examples)
    return [{"role": "user", "content": lines + "\n" + QUESTION.format(description)}]


SHELL_NEW = ("POS 02/03 PURCHASE *SHELL-RETAIL/LND REF1234", "fuel")
ODEON_NEW = ("POS 18/03 PURCHASE *ODEON-CIN/EDI REF4236", "dining")
TESCO_OLD = ("TESCO STORES 2231 LONDON", "groceries")


def test_covers_same_merchant_and_same_layout_with_the_label() -> None:
    case = "CONTACTLESS 21/03 PURCHASE *ASDA-EXPR-PFS/GLA REF8611"
    # A new-format fuel row covers new-format fuel cases through the layout's words ...
    assert covers(_fewshot([SHELL_NEW, TESCO_OLD], case), "fuel", CATS)
    # ... whatever other labels are shown in that layout, but not cases of another label.
    assert not covers(_fewshot([SHELL_NEW, TESCO_OLD], case), "groceries", CATS)
    assert covers(_fewshot([SHELL_NEW, ODEON_NEW], case), "fuel", CATS)
    assert not covers(_fewshot([TESCO_OLD, ODEON_NEW], case), "fuel", CATS)
    # The same merchant in any layout covers it, whatever else is in the layout.
    asda = ("ASDA EXPRESS PETROL BIRMINGHAM", "fuel")
    assert covers(
        _fewshot([asda, ODEON_NEW], "POS 09/03 PURCHASE *ASDA-EXPR-PFS/LND REF1"), "fuel", CATS
    )
    # Any shared word counts for the example's own label only; digits never count.
    shown = [("SHELL 0001 OXFORD", "fuel"), ("TESCO STORES 4625 LEEDS", "groceries")]
    assert covers(_fewshot(shown, "BP 4625 LEEDS"), "groceries", CATS)
    assert not covers(_fewshot(shown, "BP 4625 LEEDS"), "fuel", CATS)
    assert not covers(_fewshot(shown, "BP 0001 LEEDS WITH"), "fuel", CATS)  # digits, stopwords


def test_no_labeled_context_covers_nothing() -> None:
    zero_shot = [{"role": "user", "content": QUESTION.format("SHELL 0001 LONDON")}]
    assert not covers(zero_shot, "fuel", CATS)  # the option list names every label: no example
    assert not covers(MSGS, "groceries", LABELS)
    assert not covers(_fewshot([("SHELL 0001 LONDON", "fuel")], "SHELL 0001 LONDON"), None, CATS)
    # Label names are markers, not content: "fuel" in the input shares nothing.
    assert not covers(_fewshot([("JET 12 OXFORD", "fuel")], "JET-FUEL 9 LEEDS"), "rent", CATS)
    assert not covers(_fewshot([("BP 12 OXFORD", "fuel")], "JET-FUEL 9 LEEDS"), "fuel", CATS)
    # Structured answers are never covered.
    assert not covers(_fewshot([SHELL_NEW], SHELL_NEW[0]), {"category": "fuel"}, None)


def test_covers_block_and_chat_turn_layouts() -> None:
    blocks = (
        "You label transactions.\n\nTransaction: SHELL 0001 LONDON\nCategory: fuel\n\n"
        "Transaction: TESCO STORES 22 LEEDS\nCategory: groceries\n\n"
        "Transaction: SHELL 4 OXFORD\nCategory:"
    )
    msgs = [{"role": "user", "content": blocks}]
    assert covers(msgs, "fuel", CATS) and not covers(msgs, "groceries", CATS)
    turns = [
        {"role": "system", "content": "Answer with one category."},
        {"role": "user", "content": "SHELL 0001 LONDON"},
        {"role": "assistant", "content": "fuel"},
        {"role": "user", "content": "SHELL 4 OXFORD"},
    ]
    assert covers(turns, "fuel", CATS)
    # Free-text answers: the expected answer itself is the label looked for.
    qa = [
        {"role": "user", "content": "Capital of the French republic? Paris\n"},
        {"role": "user", "content": "Where does the French president live?"},
    ]
    assert covers(qa, "Paris", None) and not covers(qa, "Lyon", None)


def _outcomes(model: str, examples: list[tuple[str, str]], n: int = 600) -> list[bool]:
    out = []
    for i in range(n):
        hint = CaseHint(id=f"f{i}", expected="fuel", labels=CATS, output_type="label", segment=NEW)
        msgs = _fewshot(examples, f"POS {i % 28 + 1:02d}/03 PURCHASE *BP-CONNECT/LND REF{i:04d}")
        r = simulate(model, hint, msgs)
        assert isinstance(r, Completion)
        out.append(r.text == "fuel")
    return out


def test_covering_context_raises_accuracy_monotonically() -> None:
    register_profile("sim/ctx@v1", SimProfile(accuracy=0.7, context_boost=0.5, stream="ctx"))
    zero = _outcomes("sim/ctx@v1", [])
    covered = _outcomes("sim/ctx@v1", [SHELL_NEW, TESCO_OLD])
    uncovered = _outcomes("sim/ctx@v1", [TESCO_OLD])
    assert uncovered == zero  # context that covers nothing changes nothing
    assert sum(zero) / 600 == pytest.approx(0.7, abs=0.05)
    assert sum(covered) / 600 == pytest.approx(0.85, abs=0.04)  # 0.7 + 0.5 · 0.3
    assert all(c for z, c in zip(zero, covered, strict=True) if z)  # only wrong → right
    # Without a boost the prompt is ignored, exactly as before.
    assert _outcomes("sim/ctx@v1?context_boost=0", [SHELL_NEW, TESCO_OLD]) == zero
    # Per segment: the case's segment takes its own boost.
    full = _outcomes(f'sim/ctx@v1?segment_context_boost={{"{NEW}":1}}', [SHELL_NEW, TESCO_OLD])
    assert all(full)


def test_acme_profiles_boost_and_merge_segment_overrides() -> None:
    v2 = get_profile("sim/acme@v2")
    assert v2.context_boost == 0.6 and v2.context_boost_for(NEW) == 0.6
    p = get_profile('sim/acme@v2?segment_context_boost={"cohort=x":0.2}&context_boost=0.1')
    assert p.segment_context_boost == {"cohort=x": 0.2} and p.context_boost_for(NEW) == 0.1
    assert p.context_boost_for("cohort=x") == 0.2
    with pytest.raises(ConfigError, match="segment_context_boost"):
        get_profile('sim/acme@v2?segment_context_boost={"cohort=x":2}')
    assert get_profile("sim/perfect@v1").context_boost == 0.0
    # acme@v1 and acme@v2 still agree wherever their rates agree, covered or not.
    ex = [SHELL_NEW, TESCO_OLD]
    for i in range(300):
        hint = CaseHint(id=f"e{i}", expected="fuel", labels=CATS, output_type="label")
        msgs = _fewshot(ex, f"POS 01/03 PURCHASE *BP-CONNECT/LND REF{i:04d}")
        assert simulate("sim/acme@v1", hint, msgs).text == simulate("sim/acme@v2", hint, msgs).text


def test_sim_server_reads_the_prompt_like_the_provider() -> None:
    from driftgate.providers.sim_server import SimServer

    async def main() -> None:
        import aiohttp

        msgs = _fewshot([SHELL_NEW, TESCO_OLD], "POS 01/03 PURCHASE *BP-CONNECT/LND REF9")
        model = "sim/acme@v2?context_boost=1&latency_ms=0&latency_jitter_ms=0"
        async with SimServer() as base, aiohttp.ClientSession() as session:
            for i in range(40):
                hint = CaseHint(
                    id=f"h{i}", expected="fuel", labels=CATS, output_type="label", segment=NEW
                )
                body = {"model": model, "messages": msgs}
                headers = {"X-Driftgate-Case": case_header(hint)}
                async with session.post(
                    f"{base}/chat/completions", json=body, headers=headers
                ) as r:
                    text = (await r.json())["choices"][0]["message"]["content"]
                assert text == simulate(model, hint, msgs).text == "fuel"

    asyncio.run(main())
