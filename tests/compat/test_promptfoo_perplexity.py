"""promptfoo's `perplexity` and `perplexity-score` on the simulator's token logprobs
(asked for because the config has them, `--model` override included), and on recorded
outputs, which have none: every such case is an error that says so, never a pass."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import run_main
from driftgate.providers.simulator import sim_token_logprobs

CONFIG = """\
prompts: ['Answer: {{ q }}']
providers: [openai:gpt-4o-mini]
tests:
  - vars: {q: one}
    assert:
      - {type: perplexity, threshold: 20, metric: ppl-loose}
      - {type: not-perplexity, threshold: 1.0, metric: ppl-not-tight}
      - {type: perplexity-score, metric: ppl-score}
  - vars: {q: two}
    assert:
      - {type: perplexity, threshold: 1.0, metric: ppl-tight}
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "driftgate.yaml").write_text("{}\n")
    (tmp_path / "promptfooconfig.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _rows(root: Path) -> dict[str, dict]:
    out = {}
    for run in (root / "runs").iterdir():
        for seg in (run / "results").glob("*.jsonl"):
            for line in seg.read_text().splitlines():
                row = json.loads(line)
                out[row["case_id"]] = row
    return out


def test_perplexity_on_the_simulators_logprobs(ws, capsys, monkeypatch):
    model = "sim/acme@v1"
    code, _, err = run_main(capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "-m", model)
    assert code == 1, err
    rows = _rows(ws)
    one = {a["metric"]: a for a in rows["1"]["scores"][0]["data"]["asserts"]}
    # simulated logprobs lie in [-2.5, -0.05): perplexity in (1.05, 12.2]
    assert one["ppl-loose"]["passed"] and one["ppl-not-tight"]["passed"]
    lps = sim_token_logprobs(rows["1"]["output"], model)
    ppl = math.exp(-sum(lps) / len(lps))
    assert one["ppl-score"]["value"] == pytest.approx(1 / (1 + ppl), rel=1e-5)
    assert rows["1"]["passed"] is True
    two = rows["2"]["scores"][0]["data"]["asserts"][0]
    assert two["passed"] is False and "> 1" in two["reason"]
    assert rows["2"]["error"] is None and rows["2"]["scores"][0]["error"] is None


def test_recorded_outputs_have_no_logprobs_so_each_case_errors(ws, capsys, monkeypatch):
    (ws / "rec.jsonl").write_text(
        json.dumps({"case_id": "1", "output": "one"})
        + "\n"
        + json.dumps({"case_id": "2", "output": "two"})
        + "\n"
    )
    code, _, err = run_main(
        capsys, monkeypatch, "run", "-c", "promptfooconfig.yaml", "-m", "replay/rec.jsonl"
    )
    assert code != 0, err
    for row in _rows(ws).values():
        (score,) = row["scores"]
        assert row["passed"] is False and score["passed"] is False
        assert "returns no token log-probabilities" in score["error"]
