"""llm-judge: prompt, strict parsing, errors never pass; on a scripted fake provider."""

from __future__ import annotations

import asyncio
import json

import pytest

from driftgate.errors import ConfigError, JudgeParseError
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
    SCORED_TEMPLATE_DIGEST,
    TEMPLATE_DIGEST,
    parse_json_verdict,
    parse_pass_fail,
    verdict_probs,
)


class FakeJudge(Provider):
    """Answers with scripted texts (model id `fakejudge/NAME`); records requests."""

    script: list[str | ProviderError] = []
    requests: list[CompletionRequest] = []
    probs: list[dict[str, float] | None] = []  # label_probs to return, in order

    async def complete(self, request: CompletionRequest) -> Completion:
        FakeJudge.requests.append(request)
        answer = FakeJudge.script.pop(0)
        if isinstance(answer, ProviderError):
            raise answer
        probs = FakeJudge.probs.pop(0) if FakeJudge.probs else None
        return Completion(
            text=answer, input_tokens=10, output_tokens=5, cost_usd=0.001, label_probs=probs
        )


@pytest.fixture(autouse=True)
def fake_provider() -> None:
    register_provider("fakejudge", FakeJudge)
    FakeJudge.script, FakeJudge.requests, FakeJudge.probs = [], [], []


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


def test_constrained_pass_fail_scores_the_verdict_probabilities() -> None:
    s = judge(constrained=True)
    FakeJudge.probs.append({"PASS": 0.7, "FAIL": 0.3})
    out = grade(s, "PASS")
    req = FakeJudge.requests[0]
    assert req.labels == ["PASS", "FAIL"] and req.params["temperature"] == 0
    assert "Answer with one word: PASS" in req.messages[0]["content"]
    assert out.error is None and out.passed and out.value == pytest.approx(0.7)
    assert out.data["verdict_probs"] == {"PASS": 0.7, "FAIL": 0.3}
    assert "P(PASS) 0.70 ≥ 0.5" in out.reason and "FAIL=0.30" in out.reason
    assert out.data["template_digest"] == SCORED_TEMPLATE_DIGEST != TEMPLATE_DIGEST
    FakeJudge.probs.append({"PASS": 0.2, "FAIL": 0.8})
    low = grade(judge(constrained=True, scale=[0, 10]), "PASS")  # the text is not the verdict
    assert not low.passed and low.value == pytest.approx(0.2)
    assert low.data["judge_score"] == pytest.approx(2.0)


def test_constrained_scale_is_the_expected_value() -> None:
    s = judge(constrained=True, scale=[1, 5], pass_score=4)
    FakeJudge.probs.append({"1": 0.1, "2": 0.1, "3": 0.2, "4": 0.4, "5": 0.2})
    out = grade(s, "4")
    assert FakeJudge.requests[0].labels == ["1", "2", "3", "4", "5"]
    assert "one number from 1 to 5" in FakeJudge.requests[0].messages[0]["content"]
    assert out.data["judge_score"] == pytest.approx(3.5)  # 0.1+0.2+0.6+1.6+1.0
    assert out.value == pytest.approx(2.5 / 4) and not out.passed
    # A scale that is not 3-10 integer points is judged PASS/FAIL.
    assert judge(constrained=True, scale=[0, 100]).verdict_options() == ["PASS", "FAIL"]
    assert judge(constrained=True, format="verdict").verdict_options() == ["PASS", "FAIL"]


def test_constrained_without_probabilities_reads_an_exact_option() -> None:
    s = judge(constrained=True)
    assert grade(s, " pass.").value == 1.0
    bad = grade(s, "It names Paris, so PASS")
    assert bad.error is not None and "none of PASS, FAIL" in bad.error and not bad.passed
    assert bad.data["raw"] == "It names Paris, so PASS"


def test_verdict_probs_directly() -> None:
    assert verdict_probs(["PASS", "FAIL"], {"pass": 1.0, "fail": 3.0}, "") == {
        "PASS": 0.25,
        "FAIL": 0.75,
    }
    assert verdict_probs(["1", "2"], None, "2") == {"1": 0.0, "2": 1.0}
    with pytest.raises(JudgeParseError):
        verdict_probs(["1", "2"], {"7": 1.0}, "seven")


def test_constrained_by_default_only_for_local_judges() -> None:
    assert build_scorer({"type": "llm-judge", "rubric": "r"}).constrained
    assert not judge().constrained
    assert not build_scorer({"type": "llm-judge", "rubric": "r", "constrained": False}).constrained


@pytest.mark.slow
def test_local_model_judge_always_parses() -> None:
    """The offline default judge scores the verdict options: every judgement parses, with
    probabilities that sum to 1, and the same case gets the same verdict."""
    from driftgate import model_files

    model_files.pull("smollm2-135m")
    s = build_scorer({"type": "llm-judge", "rubric": "The answer names the capital city."})
    scale = build_scorer({"type": "rubric", "rubric": "The answer is right.", "scale": [1, 5]})
    outputs = ["Paris", "Lyon", "I don't know", "", "{not json", "PASS"]

    async def main() -> list:
        return await asyncio.gather(
            *(
                j.evaluate(ScoreContext(output=o, vars={"q": "Capital of France?"}))
                for j in (s, scale)
                for o in outputs
            )
        )

    first, again = asyncio.run(main()), asyncio.run(main())
    for result in first:
        assert result.error is None, result.error
        assert sum(result.data["verdict_probs"].values()) == pytest.approx(1.0)
        assert 0.0 <= result.value <= 1.0
        assert result.data["judge_model"] == "local/smollm2-135m"
    assert [r.value for r in first] == [r.value for r in again]
