"""compare_runs / compare_suite on simulator runs, the reports, and the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

import driftgate
import driftgate.cli.compare  # noqa: F401 - registers `compare` and `power` until cli/__init__ does
from driftgate import stats
from driftgate.cli import app
from driftgate.compare import Comparison, compare_runs, compare_suite
from driftgate.errors import ConfigError
from driftgate.providers.simulator import get_profile, register_profile
from driftgate.report.compare import write_comparison
from driftgate.report.compare_markdown import comparison_markdown
from driftgate.report.compare_terminal import render_comparison
from driftgate.store.runs import RunStore

LABELS = ["groceries", "dining", "transport", "rent"]
NEW = "cohort=new-bank-format"
V1, V2 = "sim/acmefast@v1", "sim/acmefast@v2"

# acme@v1/v2 without their 25 ms latency; same random stream, so v2 differs from v1 only
# where its lower accuracy on the new bank format makes it fail.
for _v in ("v1", "v2"):
    register_profile(
        f"acmefast@{_v}",
        get_profile(f"sim/acme@{_v}").model_copy(
            update={"latency_ms": 0.0, "latency_jitter_ms": 0.0}
        ),
    )


def write_ws(root: Path, n: int = 240, *, ids: str = "c", evalset: str = "tx") -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evalsets").mkdir(parents=True, exist_ok=True)
    (root / "driftgate.yaml").write_text("suite: evalsets/main.suite.yaml\n")
    for version, system in (("v1", "Pick one of"), ("v2", "Choose exactly one of")):
        (root / "prompts" / f"cat-{version}.yaml").write_text(
            f"name: cat\nversion: {version}\nmodel: {V1}\n"
            "messages:\n"
            f"  - {{role: system, content: '{system}: {', '.join(LABELS)}'}}\n"
            "  - {role: user, content: '{{ description }}'}\n"
            f"output: {{type: label, labels: [{', '.join(LABELS)}]}}\n"
        )
    with (root / "evalsets" / f"{evalset}.jsonl").open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": f"{ids}{i:03d}",
                        "vars": {"description": f"merchant {i}"},
                        "expected": LABELS[i % 4],
                        "segment": NEW if i % 2 == 0 else "cohort=established",
                        "metadata": {"source": f"doc-{i // 6}"},
                    }
                )
                + "\n"
            )
    (root / "evalsets" / "main.suite.yaml").write_text(
        f"prompts: [cat@v1]\nevalsets: [{evalset}]\n"
        "scorers:\n  - {type: label-match, metric: category}\npass_threshold: 0.5\n"
    )
    return root


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ws(tmp_path_factory.mktemp("cmp") / "ws")


@pytest.fixture(scope="module")
def two_arm_run(ws: Path):
    return driftgate.run(workspace=ws, models=[V1, V2])


@pytest.fixture(scope="module")
def cmp(ws: Path, two_arm_run) -> Comparison:
    return compare_runs(two_arm_run.id, workspace=ws)


def test_v2_is_worse_only_on_the_new_bank_format(cmp: Comparison, two_arm_run):
    assert cmp.a.arm == f"cat@v1 · {V1}" and cmp.b.arm == f"cat@v1 · {V2}"
    assert cmp.a.run_id == cmp.b.run_id == two_arm_run.id and cmp.a.status == "finished"
    assert cmp.a.fingerprints == ["fp_acme_v1_0a1b"] and cmp.b.model_id == V2
    assert cmp.n_common == 240 and cmp.verdict == "worse" and cmp.wins == 0
    segs = {s.segment: s for s in cmp.segments}
    new, old = segs[NEW].results["pass"], segs["cohort=established"].results["pass"]
    assert old.delta == 0.0 and old.losses == 0
    assert (
        new.delta < -0.05
        and new.ci_high < 0
        and new.p_value < 0.01
        and segs[NEW].verdict == "worse"
    )
    assert {f.segment for f in cmp.flipped} == {NEW} and all(
        f.direction == "regressed" for f in cmp.flipped
    )
    assert len(cmp.flipped) == cmp.losses == new.losses
    assert cmp.answer_mismatches == len(cmp.flipped)
    assert cmp.manifest_a is not None and cmp.manifest_a.id == two_arm_run.id


def test_reports_carry_the_key_numbers(cmp: Comparison, tmp_path: Path):
    from rich.console import Console

    text = comparison_markdown(cmp)
    assert text.startswith("## driftgate compare — 🔴 B is worse")
    assert f"{cmp.n_common} cases compared" in text and f"| {NEW} | 120 |" in text
    assert f"{len(cmp.regressed)} regressed (pass → fail)" in text
    con = Console(record=True, width=100)
    render_comparison(cmp, con)
    out = con.export_text()
    assert "B is worse" in out and NEW in out and "Flipped cases" in out
    write_comparison(tmp_path / "c.xml", cmp)
    root = ET.parse(tmp_path / "c.xml").getroot()
    assert root.get("tests") == "3" and root.get("failures") == "2"  # overall + new bank format
    failed = [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["overall (pass)", f"segment {NEW}"]
    write_comparison(tmp_path / "c.json", cmp)
    assert Comparison.model_validate_json((tmp_path / "c.json").read_text()) == cmp
    write_comparison(tmp_path / "c.html", cmp)
    html = (tmp_path / "c.html").read_text()
    assert "<script src" not in html and "http://" not in html and "https://" not in html
    assert 'id="flipped"' in html and "B is worse" in html
    with pytest.raises(ConfigError, match="unknown report format '.pdf'"):
        write_comparison(tmp_path / "c.pdf", cmp)


def test_two_runs_arms_matched_by_name_and_one_sided_cases(ws: Path, two_arm_run):
    partial = driftgate.run(workspace=ws, models=[V1, V2], limit=200)
    with pytest.raises(ConfigError, match="choose which to compare"):
        compare_runs(two_arm_run.id, partial.id, workspace=ws)
    c = compare_runs(two_arm_run.id, partial.id, workspace=ws, arm_a="acmefast@v2")
    assert c.a.arm == c.b.arm == f"cat@v1 · {V2}" and c.a.run_id != c.b.run_id
    assert c.n_common == 200 and len(c.only_a) == 40 and c.only_b == [] and c.only_a[0] == "c200"
    assert c.primary.delta == 0.0  # same model, same cache: identical answers
    assert any("40 of 240 cases were answered by A only" in w for w in c.warnings)


def test_unfinished_run_is_compared_with_a_warning(ws: Path):
    run = driftgate.run(workspace=ws, models=[V1, V2], limit=20)
    store = RunStore(ws / "runs")
    manifest = store.load(run.id)
    manifest.status = "interrupted"
    store.save(manifest)
    c = compare_runs(run.id[:-1], workspace=ws)  # a prefix (unique: 5 of the 6 random hex digits)
    assert c.n_common == 20 and c.a.status == "interrupted"
    assert any(
        f"run {run.id} was interrupted: compared on its 40 finished results" in w
        for w in c.warnings
    )


def test_different_golden_sets_and_no_common_case(tmp_path: Path):
    root = write_ws(tmp_path / "ws", n=12)
    first = driftgate.run(workspace=root, models=[V1])
    write_ws(root, n=12, evalset="other")  # the suite now runs `other`
    other = driftgate.run(workspace=root, models=[V1])
    with pytest.raises(
        ConfigError,
        match=r"different golden sets: A ran 'tx' \(digest \w+, evalsets/tx.jsonl\), B ran 'other'",
    ):
        compare_runs(first.id, other.id, workspace=root)
    write_ws(root, n=12, ids="d")  # same golden set name, new case ids
    renamed = driftgate.run(workspace=root, models=[V1])
    with pytest.raises(
        ConfigError, match="no case in common: A answered 12 cases .*c000.* B answered 12 .*d000"
    ):
        compare_runs(first.id, renamed.id, workspace=root)


def test_compare_suite_on_two_prompts_and_cluster_by_metadata(ws: Path):
    run, c = compare_suite(
        workspace=ws, prompts=["cat@v1", "cat@v2"], margin=0.05, cluster_by="metadata.source"
    )
    assert [p.ref for p in run.manifest.prompts] == ["cat@v1", "cat@v2"]
    assert (
        c.a.prompt == "cat@v1" and c.b.prompt == "cat@v2" and c.a.prompt_digest != c.b.prompt_digest
    )
    # The simulator answers from the case, not the wording: the prompts tie exactly.
    assert c.primary.delta == 0.0 and c.verdict == "equivalent" and c.answer_mismatch_rate == 0.0
    assert c.primary.n_clusters == 40 and c.primary.test == "cluster-sign-flip"
    with pytest.raises(ConfigError, match="two models or two prompts"):
        compare_suite(workspace=ws, models=[V1])
    two_prompts = driftgate.Suite(
        prompts=["cat@v1", "cat@v2"], evalsets=["tx"], scorers=[{"type": "label-match"}]
    )
    with pytest.raises(ConfigError, match="makes 4 arms"):
        compare_suite(two_prompts, workspace=ws, models=[V1, V2])


def test_cli_compare_exit_codes_and_outputs(ws: Path, two_arm_run, tmp_path: Path):
    runner = CliRunner()
    base = ["compare", two_arm_run.id, "-w", str(ws)]
    ok = runner.invoke(app, base)
    assert ok.exit_code == 0, ok.output
    assert "B is worse" in ok.output
    outs = [tmp_path / f"r.{e}" for e in ("md", "json", "xml", "html")]
    worse = runner.invoke(app, [*base, "--fail-on-worse", *sum((["-o", str(p)] for p in outs), [])])
    assert worse.exit_code == 1
    assert all(p.exists() and p.stat().st_size > 500 for p in outs)
    data = json.loads(
        runner.invoke(
            app, [*base, "--json", "--arm-a", "acmefast@v2", "--arm-b", "acmefast@v1"]
        ).output
    )
    assert data["verdict"] == "better" and data["a"]["model"] == V2
    one_step = runner.invoke(
        app, ["compare", "--models", f"{V1},{V2}", "-w", str(ws), "--limit", "40", "--json"]
    )
    assert one_step.exit_code == 0 and json.loads(one_step.output)["n_common"] == 40
    bad = runner.invoke(app, ["compare", "--models", V1, "-w", str(ws)])
    assert isinstance(bad.exception, ConfigError) and "two comma-separated names" in str(
        bad.exception
    )


def test_cli_power_matches_the_statistics():
    runner = CliRunner()
    r = runner.invoke(app, ["power", "--baseline", "0.85", "--delta", "0.03", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["cases_needed"] == stats.required_cases(0.85, 0.03) == 1209
    r = runner.invoke(
        app,
        [
            "power",
            "--baseline",
            "0.85",
            "--delta",
            "0.03",
            "--correlation",
            "0.3",
            "--cases",
            "400",
            "--alpha",
            "0.1",
        ],
    )
    assert (
        f"cases needed          {stats.required_cases(0.85, 0.03, alpha=0.1, correlation=0.3)}"
        in r.output
    )
    d = stats.detectable_delta(0.85, 400, alpha=0.1, correlation=0.3)
    assert f"a drop of {d * 100:.1f} points" in r.output
    assert f"{stats.power(0.85, 0.03, 400, alpha=0.1, correlation=0.3):.1%}" in r.output
    r = runner.invoke(app, ["power", "--baseline", "0.85"])
    assert isinstance(r.exception, ConfigError)


def test_cli_one_prompt_two_models(ws_root, monkeypatch):
    from typer.testing import CliRunner

    from driftgate.cli import app

    monkeypatch.chdir(ws_root)
    out = CliRunner().invoke(
        app, ["compare", "--models", "sim/acme@v1,sim/acme@v2", "--prompts", "cat@v1", "--json"]
    )
    assert out.exit_code == 0, out.output
    bad = CliRunner().invoke(app, ["compare", "--models", "sim/acme@v1", "--prompts", "cat@v1"])
    assert bad.exit_code != 0


def test_compare_suite_pairs_holds_the_other_axis_fixed(ws: Path):
    from driftgate.compare.runs import compare_suite_pairs

    two_prompts = driftgate.Suite(
        prompts=["cat@v1", "cat@v2"], evalsets=["tx"], scorers=[{"type": "label-match"}]
    )
    run, pairs = compare_suite_pairs(two_prompts, workspace=ws, models=[V1, V2])
    assert len(run.manifest.prompts) == 2
    # One comparison per prompt, the prompt the same on both sides, V2 against V1.
    assert [(c.a.prompt, c.b.prompt) for c in pairs] == [("cat@v1", "cat@v1"), ("cat@v2", "cat@v2")]
    assert all((c.a.model, c.b.model) == (V1, V2) for c in pairs)
    two_models = driftgate.Suite(
        prompts=["cat@v1", "cat@v2"],
        models=[V1, V2],
        evalsets=["tx"],
        scorers=[{"type": "label-match"}],
    )
    _, by_model = compare_suite_pairs(two_models, workspace=ws, prompts=["cat@v1", "cat@v2"])
    assert [(c.a.model, c.b.model) for c in by_model] == [(V1, V1), (V2, V2)]
    assert all((c.a.prompt, c.b.prompt) == ("cat@v1", "cat@v2") for c in by_model)


def test_cli_compare_models_on_a_two_prompt_suite_writes_one_report_per_prompt(
    ws: Path, tmp_path: Path
):
    (ws / "evalsets" / "two.suite.yaml").write_text(
        "prompts: [cat@v1, cat@v2]\nmodels: [" + V1 + ", " + V2 + "]\nevalsets: [tx]\n"
        "scorers:\n  - {type: label-match}\n"
    )
    out = tmp_path / "diff.md"
    res = CliRunner().invoke(
        app,
        ["compare", "--models", f"{V1},{V2}", "-c", "evalsets/two.suite.yaml", "-w", str(ws),
         "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "1/2: on cat@v1" in res.output and "2/2: on cat@v2" in res.output
    assert (tmp_path / "diff-cat-v1.md").is_file() and (tmp_path / "diff-cat-v2.md").is_file()
