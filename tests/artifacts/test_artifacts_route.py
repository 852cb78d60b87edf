from pathlib import Path

import pytest

from driftgate.artifacts.route import RouteSpec, load_route
from driftgate.errors import ConfigError, UnknownNameError

GOOD = """\
name: categorize
arms:
  - {name: production, prompt: categorize@production, model: local/smollm2-135m, weight: 90}
  - {name: candidate, prompt: categorize@candidate, weight: 10}
shadow:
  - {name: next, prompt: categorize@few-shot, model: sim/acme@v2, sample: 0.5}
fallbacks: [sim/acme@v1]
"""


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_route(tmp_path: Path):
    route = load_route(_write(tmp_path, GOOD))
    assert [a.name for a in route.live_arms] == ["production", "candidate"]
    assert route.arm("candidate").model is None
    assert route.arm("next").sample == 0.5
    assert route.fallbacks == ["sim/acme@v1"]
    with pytest.raises(UnknownNameError, match="did you mean 'candidate'"):
        route.arm("candidat")


def test_weights_must_sum_to_100(tmp_path: Path):
    text = GOOD.replace("weight: 10}", "weight: 5}")
    with pytest.raises(ConfigError) as exc:
        load_route(_write(tmp_path, text))
    assert exc.value.field == "arms"
    assert exc.value.line == 2
    assert "must sum to 100, got 95 (production=90, candidate=5)" in str(exc.value)


def test_negative_weight_names_the_arm(tmp_path: Path):
    text = GOOD.replace("weight: 10}", "weight: -10}")
    with pytest.raises(ConfigError) as exc:
        load_route(_write(tmp_path, text))
    assert exc.value.field == "arms[1].weight"
    assert exc.value.line == 4


def test_duplicate_and_clashing_names(tmp_path: Path):
    dup = GOOD.replace("name: candidate", "name: production")
    with pytest.raises(ConfigError, match="duplicate arm 'production'"):
        load_route(_write(tmp_path, dup))
    clash = GOOD.replace("name: next", "name: candidate")
    with pytest.raises(ConfigError, match="shadow arm name 'candidate' is also a live arm") as exc:
        load_route(_write(tmp_path, clash))
    assert exc.value.field == "shadow"
    fb = GOOD.replace("[sim/acme@v1]", "[sim/acme@v1, sim/acme@v1]")
    with pytest.raises(ConfigError, match="duplicate fallback model"):
        load_route(_write(tmp_path, fb))


def test_unknown_field_and_name_from_stem(tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown field") as exc:
        load_route(_write(tmp_path, GOOD + "fallback: [x]\n"))
    assert exc.value.field == "fallback" and exc.value.line == 8
    route = load_route(_write(tmp_path, GOOD.replace("name: categorize\n", ""), "checkout.yaml"))
    assert route.name == "checkout"


def test_with_weights_revalidates():
    route = RouteSpec.model_validate(
        {
            "name": "r",
            "arms": [
                {"name": "a", "prompt": "p@1", "weight": 90},
                {"name": "b", "prompt": "p@2", "weight": 10},
            ],
        }
    )
    moved = route.with_weights({"a": 50, "b": 50})
    assert [a.weight for a in moved.arms] == [50, 50]
    assert moved.digest != route.digest
    assert route.arms[0].weight == 90  # the original is untouched
    with pytest.raises(ConfigError, match="sum to 100"):
        route.with_weights({"a": 50})
    with pytest.raises(UnknownNameError):
        route.with_weights({"c": 10})


def test_example_route_file_is_valid():
    route = load_route(Path(__file__).resolve().parents[2] / "routes" / "categorize.yaml")
    assert {a.name: a.weight for a in route.arms} == {"production": 100, "candidate": 0}
    assert [a.prompt for a in route.arms] == ["categorize@production", "categorize@candidate"]
    assert len(route.shadow) == 1 and route.fallbacks
    assert route.loop is not None and route.canary.ramp[-1] == 100


def test_canary_policy_defaults_and_refusals(tmp_path: Path):
    route = load_route(_write(tmp_path, GOOD))
    assert (route.canary.margin, route.canary.alpha, route.canary.ramp) == (0.03, 0.05, [])
    with pytest.raises(ConfigError, match="increase") as exc:
        load_route(_write(tmp_path, GOOD + "canary: {ramp: [50, 25]}\n"))
    assert exc.value.field == "canary.ramp"
    with pytest.raises(ConfigError) as exc:
        load_route(_write(tmp_path, GOOD + "canary: {margin: 0.03, marign: 0.05}\n"))
    assert exc.value.field == "canary.marign"  # extra fields are refused
    with pytest.raises(ConfigError):
        load_route(_write(tmp_path, GOOD + "canary: {margin: 0}\n"))


def test_segment_by_and_scorers(tmp_path: Path):
    text = GOOD + "segment_by: bank\nscorers: [{type: label-match}]\n"
    route = load_route(_write(tmp_path, text))
    assert route.segment_by == "bank" and route.scorers == [{"type": "label-match"}]
    with pytest.raises(ConfigError, match="unknown scorer 'lable-match'") as exc:
        load_route(_write(tmp_path, GOOD + "scorers: [{type: lable-match}]\n"))
    assert (
        exc.value.field == "scorers[0].type"
        and exc.value.line == 8
        and exc.value.path.endswith("r.yaml")
    )
    assert "label-match" in (exc.value.hint or "")
    with pytest.raises(ConfigError, match="needs a `type`"):
        load_route(_write(tmp_path, GOOD + "scorers: [{value: x}]\n"))
