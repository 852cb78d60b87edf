"""llm-judge: prompt, strict parsing, errors never pass; on a scripted fake provider."""

from __future__ import annotations

import asyncio
import json

import pytest

from driftgate.errors import ConfigError
from driftgate.providers import (
    Completion,
    CompletionRequest,
    ModelConfig,
    Provider,
    ProviderError,
    register_provider,
)
from driftgate.scoring import ScoreContext, build_scorer
from driftgate.scoring.judge import (
    JUDGE_TEMPLATE_VERSION,
    TEMPLATE_DIGEST,
    parse_json_verdict,
    parse_pass_fail,
)


class FakeJudge(Provider):
    """Answers with scripted texts (model id `fakejudge/NAME`); records requests."""

    script: list[str | ProviderError] = []
    requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        FakeJudge.requests.append(request)
        answer = FakeJudge.script.pop(0)
        if isinstance(answer, ProviderError):
            raise answer
        return Completion(text=answer, input_tokens=10, output_tokens=5, cost_usd=0.001)


@pytest.fixture(autouse=True)
def fake_provider() -> None:
    register_provider("fakejudge", FakeJudge)
    FakeJudge.script, FakeJudge.requests = [], []


def judge(**options):  # noqa: ANN003, ANN201 - test helper
    return build_scorer(
        {"type": "llm-judge", "rubric": "Names the right city.", "model": "fakejudge/a", **options}
    )


def grade(scorer, answer: str | ProviderError, ctx: ScoreContext | None = None):  # noqa: ANN001, ANN201
    FakeJudge.script.append(answer)
    return asyncio.run(
        scorer.evaluate(
            ctx or ScoreContext(output="Paris", expected="Paris", vars={"q": "Capital of France?"})
        )
    )


def test_json_verdict_passes_and_keeps_reasoning() -> None:
    s = grade(judge(judge_version="v7"), '{"reasoning": "It says Paris.", "score": 0.9}')
    assert s.passed and s.value == pytest.approx(0.9) and s.error is None
    assert s.data["reasoning"] == "It says Paris."
    assert s.data["judge_version"] == "v7"
    assert s.data["template_version"] == JUDGE_TEMPLATE_VERSION
    assert s.data["template_digest"] == TEMPLATE_DIGEST
    assert s.data["attempts"] == 1 and s.data["judge_cost_usd"] == 0.001


def test_prompt_carries_rubric_input_reference_and_output() -> None:
    grade(
        judge(),
        '{"reasoning": "ok", "score": 1}',
        ScoreContext(output="Lyon", reference="Paris", vars={"q": "Capital?"}),
    )
    req = FakeJudge.requests[0]
    assert req.model == "fakejudge/a" and req.params["temperature"] == 0
    system, user = req.messages[0]["content"], req.messages[1]["content"]
    assert '"score": <number from 0 to 1>' in system
    assert "Names the right city." in user and '"q": "Capital?"' in user
    assert "REFERENCE ANSWER:\nParis" in user and user.endswith("RESPONSE:\nLyon")


def test_scale_and_pass_score() -> None:
    s = judge(scale=[1, 5], pass_score=4)
    low = grade(s, '{"reasoning": "vague", "score": 3}')
    assert not low.passed and low.value == pytest.approx(0.5) and low.error is None
    high = grade(s, '```json\n{"reasoning": "good", "score": 4}\n```')
    assert high.passed and high.value == pytest.approx(0.75) and high.data["judge_score"] == 4
    assert "1 to 5" in FakeJudge.requests[0].messages[0]["content"]
    midpoint = grade(judge(scale=[1, 5]), '{"reasoning": "x", "score": 3}')
    assert midpoint.passed  # default pass_score: the midpoint, 3


@pytest.mark.parametrize(
    "answer, why",
    [
        ("The answer is good. Score: 1", "not a JSON object"),
        ('Sure! {"reasoning": "fine", "score": 1}', "not a JSON object"),
        ('{"reasoning": "fine", "score": 1, "confidence": 0.2}', "exactly the keys"),
        ('{"reasoning": "fine", "score": "1"}', "not a number"),
        ('{"reasoning": "fine", "score": true}', "not a number"),
        ('{"reasoning": "fine", "score": 7}', "outside the scale"),
        ('[{"reasoning": "fine", "score": 1}]', "expected a JSON object"),
        ("", "not a JSON object"),
    ],
)
def test_unparseable_answers_are_errors_never_passes(answer: str, why: str) -> None:
    s = grade(judge(), answer)
    assert s.error is not None and why in s.error
    assert not s.passed and s.value == 0.0
    assert s.data["raw"] == answer


def test_negated_judge_error_stays_an_error() -> None:
    s = grade(
        build_scorer({"type": "not-llm-judge", "rubric": "r", "model": "fakejudge/a"}), "garbage"
    )
    assert s.error is not None and not s.passed


def test_verdict_format() -> None:
    s = judge(format="verdict")
    ok = grade(s, "It names Paris, which is right.\nVERDICT: PASS")
    assert (
        ok.passed and ok.value == 1.0 and ok.data["reasoning"] == "It names Paris, which is right."
    )
    fail = grade(s, "Wrong city.\n**Verdict: fail**")
    assert not fail.passed and fail.error is None
    bad = grade(s, "VERDICT: PASS\nbut actually no")
    assert bad.error is not None and not bad.passed
    assert "VERDICT: PASS" in FakeJudge.requests[0].messages[0]["content"]


def test_provider_failure_after_retries_is_an_error() -> None:
    s = judge(max_retries=1)
    FakeJudge.script.append(ProviderError("server", "boom", status=500))
    result = grade(s, ProviderError("server", "boom again", status=500))
    assert result.error is not None and "judge call failed" in result.error and not result.passed
    assert len(FakeJudge.requests) == 2  # first try + one retry


def test_rubric_alias_and_missing_output() -> None:
    s = build_scorer({"type": "rubric", "rubric": "r", "model": "fakejudge/a"})
    assert s.metric == "rubric"
    out = asyncio.run(s.evaluate(ScoreContext(output=None)))
    assert out.error and not out.passed and FakeJudge.requests == []


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="pass_score 9 is outside"):
        judge(scale=[1, 5], pass_score=9)
    with pytest.raises(ConfigError, match="low < high"):
        judge(scale=[5, 1])
    with pytest.raises(ConfigError, match="pass_score"):
        judge(threshold=0.5)
    with pytest.raises(ConfigError, match="rubric"):
        build_scorer({"type": "llm-judge", "model": "fakejudge/a"})


def test_parsers_directly() -> None:
    assert parse_json_verdict(json.dumps({"score": 2, "reasoning": "r"}), 0, 5) == (2.0, "r")
    assert parse_pass_fail("a\n\nb\nverdict: pass\n") == (True, "a\nb")


def test_local_model_judge_is_the_default() -> None:
    s = build_scorer({"type": "llm-judge", "rubric": "r"})
    assert s.config.model == "local/smollm2-135m"
    assert ModelConfig(id=s.config.model).id.startswith("local/")


@pytest.mark.slow
def test_local_model_as_judge_end_to_end() -> None:
    """The offline default judge answers; whatever it says is a score or an error, never a
    crash, and a non-JSON answer is kept for inspection."""
    from driftgate import model_files

    model_files.pull("smollm2-135m")
    s = build_scorer({"type": "llm-judge", "rubric": "The answer names Paris.", "max_tokens": 48})
    result = asyncio.run(s.evaluate(ScoreContext(output="Paris", vars={"q": "Capital of France?"})))
    if result.error is None:
        assert 0.0 <= result.value <= 1.0 and isinstance(result.data["reasoning"], str)
    else:
        assert result.error.startswith("unparseable judge answer") and not result.passed
        assert result.data["raw"]
    assert result.data["judge_model"] == "local/smollm2-135m"
