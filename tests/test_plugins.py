"""Entry-point plugins: the test plugin in tests/plugins is found through a `.dist-info`
folder put on sys.path (no pip install), as an installed package would be."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import driftgate
from conftest import run_main, write_workspace
from driftgate import plugins
from driftgate.drift import signal_lookup, signal_registry
from driftgate.errors import ConfigError
from driftgate.providers import ModelConfig, create_provider, provider_prefixes
from driftgate.scoring import build as scoring

PLUGIN_DIR = Path(__file__).parent / "plugins"


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    """Each test starts with no plugin loaded and leaves no plugin registered: what a test
    plugin added is removed, built-ins first imported during the test stay."""
    import driftgate.providers as providers

    registries = [scoring.SCORERS, providers._FACTORIES, signal_registry.SIGNALS]
    before = [set(r) for r in registries]
    plugins.reset_plugins()
    yield
    plugins.reset_plugins()
    for registry, keys in zip(registries, before, strict=True):
        for key in set(registry) - keys:
            if not _module_of(registry[key]).startswith("driftgate."):
                del registry[key]
    for name in [m for m in sys.modules if m.startswith(("driftgate_testplugin", "dg_"))]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _module_of(obj: object) -> str:
    if isinstance(obj, str):  # a provider registered as "module:factory"
        return obj
    return getattr(getattr(obj, "fn", obj), "__module__", "") or ""


@pytest.fixture
def testplugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    importlib.invalidate_caches()


def broken_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = root / "driftgate_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: driftgate-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[driftgate.scorers]\nbroken = driftgate_no_such_module.scorers\n"
    )
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()


def test_a_suite_runs_with_a_plugin_provider_and_scorer(
    testplugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    ws = write_workspace(tmp_path / "ws", n_cases=8, model="testplug/groceries")
    suite = ws / "evalsets" / "main.suite.yaml"
    suite.write_text(
        suite.read_text().replace(
            "  - {type: label-match, metric: category}\n",
            "  - {type: label-match, metric: category}\n"
            "  - {type: always-pass-plugin, metric: nonempty}\n",
        )
    )
    run = driftgate.run(workspace=ws, no_cache=True)
    assert len(run.results) == 8
    for r in run.results:
        assert r.error is None and r.output == "groceries"
        by_metric = {s.metric: s for s in r.scores}
        assert by_metric["nonempty"].passed and by_metric["nonempty"].reason == "plugin"
        # The plugin's provider answers `groceries` to every case: right for 1 case in 4.
        assert by_metric["category"].passed == (r.expected == "groceries")


def test_listing_loads_plugins_of_every_kind(testplugin: None):
    assert "always-pass-plugin" in scorer_names_now()
    assert "testplug" in provider_prefixes()
    assert "plugin_output_length" in signal_lookup.known_signals("check")
    infos = plugins.plugin_infos("driftgate.scorers")
    assert [(i.name, i.value, i.dist, i.error) for i in infos] == [
        ("always-pass-plugin", "driftgate_testplugin.scorers", "driftgate-testplugin 0.1", None)
    ]


def scorer_names_now() -> list[str]:
    return scoring.scorer_names()


def test_a_lookup_loads_plugins_once_and_only_for_unknown_names(
    testplugin: None, monkeypatch: pytest.MonkeyPatch
):
    scans: list[str] = []
    real = plugins._entry_points
    monkeypatch.setattr(plugins, "_entry_points", lambda g: scans.append(g) or real(g))
    scoring.build_scorer({"type": "equals"})
    create_provider(ModelConfig(id="sim/perfect@v1"))
    signal_lookup.get_signal("label_shift")
    assert scans == []  # built-ins never scan the installed distributions
    assert scoring.build_scorer({"type": "not-always-pass-plugin"}).metric
    assert signal_lookup.get_signal("plugin_output_length").name == "plugin_output_length"
    assert create_provider(ModelConfig(id="testplug/rent")).label == "rent"
    scoring.build_scorer({"type": "always-pass-plugin"})
    assert sorted(scans) == ["driftgate.providers", "driftgate.scorers", "driftgate.signals"]


def test_an_unknown_name_is_still_unknown_with_plugins(testplugin: None):
    with pytest.raises(driftgate.errors.UnknownNameError, match="always-pass-plugin"):
        scoring.build_scorer({"type": "always-pass-plugn"})  # the suggestion lists plugins


def test_a_broken_plugin_is_named_and_leaves_built_ins_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    broken_plugin(tmp_path / "site", monkeypatch)
    with pytest.warns(UserWarning, match="plugin 'broken'.*ModuleNotFoundError"):
        names = scoring.scorer_names()
    assert "equals" in names and "broken" not in names
    with pytest.raises(ConfigError) as info:
        scoring.build_scorer({"type": "from-the-broken-plugin"})
    msg = str(info.value)
    assert "plugin 'broken'" in msg and "driftgate-broken 1.0" in msg
    assert "driftgate.scorers: broken = driftgate_no_such_module.scorers" in msg
    assert "ModuleNotFoundError" in msg and "driftgate_no_such_module" in msg
    assert "pip uninstall" in msg
    assert scoring.build_scorer({"type": "equals"}).metric == "equals"


def test_a_broken_plugin_does_not_hide_a_working_one(
    testplugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    broken_plugin(tmp_path / "site", monkeypatch)
    with pytest.warns(UserWarning, match="plugin 'broken'"):
        built = scoring.build_scorer({"type": "always-pass-plugin"})
    assert built.metric == "always-pass-plugin"
    assert plugins.load_plugins("driftgate.scorers", on_error="warn") == ["always-pass-plugin"]


def test_a_callable_entry_point_is_called(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "site"
    (root / "dg_callplug").mkdir(parents=True)
    (root / "dg_callplug" / "__init__.py").write_text(
        "from driftgate.providers import Provider\n"
        "class CallPlug(Provider):\n"
        "    async def complete(self, request):\n        raise NotImplementedError\n"
        "def register():\n"
        "    from driftgate.providers import register_provider\n"
        "    register_provider('callplug', CallPlug)\n"
    )
    info = root / "dg_callplug-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dg-callplug\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text("[driftgate.providers]\ncp = dg_callplug:register\n")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    try:
        assert plugins.load_plugins("driftgate.providers") == ["cp"]
        assert "callplug" in provider_prefixes()
        assert type(create_provider(ModelConfig(id="callplug/x"))).__name__ == "CallPlug"
    finally:
        sys.modules.pop("dg_callplug", None)


def test_help_does_not_scan_entry_points():
    code = (
        "import sys\nfrom driftgate.cli import main\n"
        "sys.argv = ['driftgate', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('PLUGINS', 'driftgate.plugins' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "Usage: driftgate" in out
    assert out.rstrip().endswith("PLUGINS False")


def test_a_run_on_built_ins_never_loads_plugins(ws_root: Path, monkeypatch: pytest.MonkeyPatch):
    def refuse(group: str, **_: object) -> list[str]:
        raise AssertionError(f"plugins of {group} loaded for a built-in")

    monkeypatch.setattr(plugins, "load_plugins", refuse)
    assert driftgate.run(workspace=ws_root, no_cache=True).manifest.verdict == "passed"


def test_the_plugins_command_lists_each_group(
    testplugin: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    broken_plugin(tmp_path / "site", monkeypatch)
    code, out, _ = run_main(capsys, monkeypatch, "plugins")
    assert code == 0
    assert "driftgate.providers: 1\n  testplug = driftgate_testplugin.provider:register" in out
    assert "always-pass-plugin = driftgate_testplugin.scorers (driftgate-testplugin 0.1)  ok" in out
    assert "broken = driftgate_no_such_module.scorers (driftgate-broken 1.0)  FAILED: " in out
    code, out, _ = run_main(capsys, monkeypatch, "plugins", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["plugin-signals"]["group"] == "driftgate.signals"
    assert rows["broken"]["error"].startswith("ModuleNotFoundError")
