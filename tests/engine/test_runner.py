import json
from pathlib import Path

import pytest

import driftgate
from driftgate.errors import ConfigError, TemplateError, UnknownNameError
from driftgate.store.runs import RunStore


def test_run_scores_and_stores_every_case(ws_root: Path):
    run = driftgate.run(workspace=ws_root)
    assert run.manifest.status == "finished" and run.passed and run.exit_code == 0
    assert len(run.results) == 40
    r = run.results[0]
    assert r.scores[0].metric == "category" and r.passed and r.parsed == r.expected
    assert r.messages[1]["content"].startswith("merchant")
    m = run.manifest
    assert m.prompts[0].ref == "cat@v1" and len(m.prompts[0].digest) == 12
    assert m.evalsets[0].cases == 40 and m.planned == 40
    assert m.summary.pass_rate == 1.0 and m.summary.metrics  # accuracy / macro-F1 per arm
    # The run is on disk and found again.
    again = RunStore(ws_root / "runs").load(run.id)
    assert again.summary.results == 40


def test_filter_sample_limit_and_repeat(ws_root: Path):
    assert len(driftgate.run(workspace=ws_root, filter="segment:cohort=new").results) == 10
    assert (
        len(driftgate.run(workspace=ws_root, filter=["tag:even", "segment:cohort=old"]).results)
        == 10
    )
    assert len(driftgate.run(workspace=ws_root, limit=3).results) == 3
    s1 = {r.case_id for r in driftgate.run(workspace=ws_root, sample=7, seed=3).results}
    s2 = {r.case_id for r in driftgate.run(workspace=ws_root, sample=7, seed=3).results}
    assert len(s1) == 7 and s1 == s2
    rep = driftgate.run(workspace=ws_root, repeat=3, limit=5)
    assert len(rep.results) == 15 and len({r.key for r in rep.results}) == 15


def test_cache_serves_a_rerun_and_no_cache_bypasses(ws_root: Path):
    first = driftgate.run(workspace=ws_root)
    assert not any(r.cached for r in first.results)
    second = driftgate.run(workspace=ws_root)
    assert all(r.cached for r in second.results)
    third = driftgate.run(workspace=ws_root, no_cache=True)
    assert not any(r.cached for r in third.results)
    # --no-cache refreshes the cache: a first run without it still fills it.
    fresh = ws_root.parent / "fresh"
    import shutil

    shutil.copytree(ws_root, fresh, ignore=shutil.ignore_patterns(".driftgate", "runs"))
    driftgate.run(workspace=fresh, no_cache=True)
    assert all(r.cached for r in driftgate.run(workspace=fresh).results)


def test_provider_errors_are_never_passes_and_fail_the_run(ws_root: Path):
    flaky = driftgate.ModelConfig(id="sim/flaky@v1?error_rate=0.5", max_retries=0)
    run = driftgate.run(workspace=ws_root, models=[flaky], max_error_rate=0.01)
    assert run.manifest.verdict == "provider_errors" and run.exit_code == 3
    errs = [r for r in run.results if r.error]
    assert errs and not any(r.passed for r in errs)


def test_below_threshold_exits_1(ws_root: Path):
    run = driftgate.run(workspace=ws_root, models=["sim/acme@v1?accuracy=0.2"])
    assert run.manifest.verdict == "below_threshold" and run.exit_code == 1


def test_bad_suite_writes_nothing(ws_root: Path):
    suite = ws_root / "evalsets" / "main.suite.yaml"
    suite.write_text(suite.read_text().replace("label-match", "label-mtch"))
    with pytest.raises(UnknownNameError, match="label-match"):
        driftgate.run(workspace=ws_root)
    assert RunStore(ws_root / "runs").ids() == []


def test_undefined_variable_is_caught_before_anything_runs(ws_root: Path):
    p = ws_root / "prompts" / "cat.yaml"
    p.write_text(p.read_text().replace("{{ description }}", "{{ descripton }}"))
    with pytest.raises(TemplateError) as err:
        driftgate.run(workspace=ws_root)
    assert "c000" in str(err.value) and "descripton" in str(err.value)
    assert RunStore(ws_root / "runs").ids() == []


def test_unknown_model_prefix_lists_profiles(ws_root: Path):
    with pytest.raises(UnknownNameError):
        driftgate.run(workspace=ws_root, models=["sim/nope@v9"])


def test_filter_that_selects_nothing(ws_root: Path):
    with pytest.raises(ConfigError, match="no case to run"):
        driftgate.run(workspace=ws_root, filter="segment:nothing")


def test_results_survive_as_json_lines(ws_root: Path):
    run = driftgate.run(workspace=ws_root, limit=4)
    segs = list((ws_root / "runs" / run.id / "results").glob("*.jsonl"))
    assert len(segs) == 1
    lines = segs[0].read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["run_id"] == run.id


def test_explicit_cases_and_metadata_are_kept_for_resume(ws_root: Path):
    run = driftgate.run(
        workspace=ws_root, cases={"tx": ["c001", "c005", "nope"]}, metadata={"why": "test"}
    )
    assert sorted(r.case_id for r in run.results) == ["c001", "c005"]
    assert run.manifest.settings["cases"] == {"tx": ["c001", "c005", "nope"]}
    assert run.manifest.settings["metadata"] == {"why": "test"}
    assert run.plan is not None and run.plan.planned == 2


def test_long_lived_objects_are_frozen_only_during_the_run():
    import gc

    from driftgate.engine.runner import _long_lived_objects_frozen

    assert gc.get_freeze_count() == 0
    with _long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a process that froze objects itself keeps them frozen
    try:
        before = gc.get_freeze_count()
        with _long_lived_objects_frozen():
            pass
        # Neither unfrozen nor frozen again. (Not `== before`: a thread of the session, such
        # as the tests' S3 server, may free an object that was frozen with the rest.)
        assert 0 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()
