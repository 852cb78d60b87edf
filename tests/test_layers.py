"""The package's layers: no import cycle, and every import points to the same or a lower layer.

The import graph is built the way `../shared/tools/import-cycles` builds it: every import that can
run counts, at any depth in a file (an import inside a function is still an edge), package
`__init__` files are modules, `from pkg import sub` depends on the submodule, and only imports
under `if TYPE_CHECKING:` are left out (they never run).

The layer rule (docs/architecture.md): a module imports only from its own layer or the layers
below it. Within a layer, modules may import each other as long as no cycle forms.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "driftgate"
SRC = Path(__file__).resolve().parents[1] / "src"

# Module (or package) name relative to `driftgate` -> layer, bottom up. The longest matching
# name wins, so one module can sit apart from its package; a package's own `__init__.py` is
# `PKG.__init__` (it falls under `PKG` unless listed). `__init__` alone is
# `driftgate/__init__.py`, the lazy public API: the top.
#
# Where the code placed a module rather than the first sketch in issue #13:
# * suite.py and artifacts/route.py sit with providers and scoring: a suite lists model
#   configs (providers.base.ModelConfig) and a route builds its scorers when it is read, so a
#   typo fails at load (exit 2).
# * store/ and the registry's versions and aliases sit below the engine: a run writes its
#   folder and records (store.runs, store.records), finds each prompt through the registry
#   (`registry.prompts.find_prompt`: file labels, then registered versions and aliases),
#   renders the few-shot set and index versions a prompt pins (`registry.binding`), and
#   records every artifact version it used (`registry.record`). What decides about versions
#   sits above the engine: the gate (`gate/`: policy, rules, evidence runs suites), and
#   `registry.moves` above the gate (promote gates before it moves an alias).
# * summary.py sits with the store: the runner builds a run's summary as results are written.
# * compare/ sits above the engine: `compare_suite` runs a suite as two arms.
LAYERS: dict[str, int] = {
    # 0 base: errors, the pydantic base, digests, file loading, plugins, statistics.
    "_version": 0,
    "_redact": 0,
    "_refusal": 0,
    "_tools": 0,
    "errors": 0,
    "_strict": 0,
    "_digest": 0,
    "_files": 0,
    "plugins": 0,
    "stats": 0,
    # 1 workspace and artifacts: files on disk and what they describe.
    "workspace": 1,
    "prompt": 1,
    "_sandbox": 1,
    "evalset": 1,
    "artifacts": 1,
    "embedding": 1,
    "_minilm": 1,
    "model_files": 1,
    "_gguf": 1,
    # 2 providers and scoring, and the specs that name models or scorers.
    "providers": 2,
    "scoring": 2,
    "suite": 2,
    "artifacts.route": 2,
    "routing": 2,  # learned routing rules (numpy; scikit-learn only to train)
    "artifacts.__init__": 2,  # re-exports the route's names
    # 3 stores: run folders and records, streaming summaries, versions and aliases.
    "store": 3,
    "summary": 3,
    "registry": 3,
    "scaffold": 3,
    # other tools' configs (promptfoo) translated into suites, prompts, golden sets and
    # scorer options; the engine's plan hands it a promptfoo config given as a suite.
    "compat": 3,
    # 4 the engine: plan, run, resume.
    "engine": 4,
    # 5 comparing runs and arms.
    "compare": 5,
    # 6 the gate, then the alias moves it guards.
    "gate": 6,
    "registry.moves": 7,
    # 8 what is built on gating and comparing.
    "ci": 8,
    "drift": 8,
    "router": 8,
    "retraining": 8,
    "loops": 8,
    "examples": 8,
    # `driftgate serve`: the OpenAI-compatible gateway over routers, prompts and models.
    # Its settings model sits with the workspace, whose `Settings.gateway` it is.
    "gateway": 8,
    "gateway.settings": 1,
    # The review queue: live answers worth a look, decisions → feedback and golden cases.
    # Its settings model sits with the workspace, like the gateway's.
    "review": 8,
    "review.settings": 1,
    # 9 every renderer.
    "report": 9,
    # 10 the command line and the public API.
    "cli": 10,
    # `driftgate ui`: the web app, over the library and its renderers (report.web).
    "ui": 10,
    "__init__": 10,
}


Modules = dict[str, tuple[Path, bool]]  # name -> (file, is a package)
Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first import}


def modules(src: Path = SRC, package: str = PACKAGE) -> Modules:
    mods: Modules = {}
    for path in (src / package).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


def _typing_only(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def _targets(node: ast.AST, base: str, mods: Modules) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        pkg = base
        for _ in range(node.level - 1):
            pkg = pkg.rpartition(".")[0]
        mod = f"{pkg}.{node.module}" if node.module else pkg
    else:
        mod = node.module or ""
    # `from pkg import sub` depends on the submodule; `from mod import name` on mod.
    return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]


def _resolve(name: str, mods: Modules) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(mods: Modules, package: str = PACKAGE) -> Graph:
    graph: Graph = {}
    for mod, (path, is_pkg) in mods.items():
        base = mod if is_pkg else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _typing_only(tree)
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            for target in _targets(node, base, mods):
                if target.split(".")[0] != package:
                    continue
                found = _resolve(target, mods)
                if found and found != mod:
                    line = getattr(node, "lineno", 0)
                    edges[found] = min(edges.get(found, line), line)
        graph[mod] = edges
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(graph):
        if root in index:
            continue
        enter(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    enter(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while not component or component[-1] != node:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str, mods: Modules, layers: dict[str, int] = LAYERS) -> int | None:
    """The layer of the longest LAYERS name that is the module or a package above it."""
    rel = "__init__" if module == PACKAGE else module.removeprefix(PACKAGE + ".")
    if module != PACKAGE and mods.get(module, (None, False))[1]:
        rel += ".__init__"
    best: str | None = None
    for key in layers:
        if (rel == key or rel.startswith(key + ".")) and (best is None or len(key) > len(best)):
            best = key
    return None if best is None else layers[best]


def upward_imports(graph: Graph, mods: Modules, layers: dict[str, int] = LAYERS) -> list[str]:
    """`file:line (layer a) imports module (layer b)` for every import with b > a."""
    wrong = []
    for mod, edges in sorted(graph.items()):
        here = layer_of(mod, mods, layers)
        for dep, line in sorted(edges.items()):
            there = layer_of(dep, mods, layers)
            if here is not None and there is not None and there > here:
                where = mods[mod][0].relative_to(SRC.parent) if mods is MODULES else mods[mod][0]
                wrong.append(f"  {where}:{line} (layer {here}) imports {dep} (layer {there})")
    return wrong


MODULES = modules()
GRAPH = import_graph(MODULES)


def test_graph_sees_the_package() -> None:
    # Guards the checks below against passing on an empty or mis-parsed graph.
    assert len(GRAPH) > 100
    assert "driftgate.engine.runner" in GRAPH["driftgate.engine"]
    assert any(dep.startswith("driftgate.scoring") for dep in GRAPH["driftgate.engine.plan"])


def test_no_import_cycle() -> None:
    found = cycles(GRAPH)
    lines = []
    for component in found:
        members = set(component)
        edges = [
            f"    {MODULES[m][0].relative_to(SRC.parent)}:{line} imports {dep}"
            for m in component
            for dep, line in sorted(GRAPH[m].items())
            if dep in members
        ]
        lines.append("cycle: " + ", ".join(component) + "\n" + "\n".join(edges))
    assert not found, (
        "import cycles (move the shared code down a layer; an import inside a function still "
        "counts, one under `if TYPE_CHECKING:` does not):\n" + "\n".join(lines)
    )


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in GRAPH if layer_of(m, MODULES) is None)
    assert not missing, (
        f"modules without a layer: {missing}; add each to LAYERS in tests/test_layers.py at the "
        "lowest layer whose modules it imports (and update docs/architecture.md)"
    )


def test_imports_point_down() -> None:
    wrong = upward_imports(GRAPH, MODULES)
    assert not wrong, (
        "imports that point up a layer (move the code the lower module needs down, or have "
        "the caller above pass it in):\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("driftgate", 10),
        ("driftgate.artifacts", 2),
        ("driftgate.artifacts.fewshot", 1),
        ("driftgate.gate", 6),
        ("driftgate.gate.rules", 6),
        ("driftgate.registry", 3),
        ("driftgate.registry.moves", 7),
        ("driftgate.scoring.base", 2),
        ("driftgate.nope", None),
    ],
)
def test_layer_lookup(module: str, layer: int | None) -> None:
    assert layer_of(module, MODULES) == layer


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """A small package with one violation of each kind, as the checks must see them."""
    pkg = tmp_path / "driftgate"
    (pkg / "low").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "low/__init__.py": "",
        # A function-level import counts; one under TYPE_CHECKING does not.
        "low/a.py": "def f():\n    from ..high import g\n",
        "low/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high import g\n",
        # `from pkg import sub` is an edge to the submodule: low.c <-> low.d is a cycle.
        "low/c.py": "from . import d\n",
        "low/d.py": "from .c import x\n",
        "high.py": "import os\nfrom driftgate.low import b\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    mods = modules(tmp_path)
    graph = import_graph(mods)
    assert graph["driftgate.low.a"] == {"driftgate.high": 2}
    assert graph["driftgate.low.b"] == {}
    assert graph["driftgate.high"] == {"driftgate.low.b": 2}
    assert cycles(graph) == [["driftgate.low.c", "driftgate.low.d"]]
    wrong = upward_imports(graph, mods, {"low": 0, "high": 1, "__init__": 2})
    assert len(wrong) == 1 and "imports driftgate.high (layer 1)" in wrong[0]
    assert wrong[0].endswith("(layer 0) imports driftgate.high (layer 1)")
    assert layer_of("driftgate.other", mods, {"low": 0}) is None
