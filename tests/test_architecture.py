"""The package's layers: who may import whom, and no import cycles.

core < ledger < model < faults < scenario < cost < run < report < ensemble < cli, with the
exceptions written below. docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SIM = Path(__file__).resolve().parent.parent / "sim"

ALLOWED = {
    "core": {"core"},
    "ledger": {"core", "ledger"},
    "model": {"core", "ledger", "model"},
    "faults": {"core", "faults"},
    "scenario": {"core", "faults", "model", "scenario"},
    "cost": {"core", "cost"},
    "run": {"core", "ledger", "model", "faults", "scenario", "cost", "run"},
    "report": {"core", "report", "scenario", "ledger", "cost"},
    "ensemble": {
        "core",
        "ledger",
        "model",
        "faults",
        "scenario",
        "cost",
        "run",
        "report",
        "ensemble",
    },  # fmt: skip
}
# notebook helpers compute what-ifs with the table and network models directly
EXCEPTIONS = {("report.analysis", "model")}


def _modules():
    for path in sorted(SIM.rglob("*.py")):
        rel = path.relative_to(SIM).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield ".".join(["sim", *parts]), path


def _runtime_nodes(tree: ast.Module, top_level_only: bool):
    """Every node, or the top-level ones; never what sits under ``if TYPE_CHECKING:``."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        yield node
        if not top_level_only:
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path, top_level_only: bool = False):
    tree = ast.parse(path.read_text())
    for node in _runtime_nodes(tree, top_level_only):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sim"):
            yield node.module
            for a in node.names:  # from sim.report import plots
                yield f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("sim"):
                    yield a.name


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_layers_import_only_what_is_below_them():
    names = {m for m, _ in _modules()}
    bad = []
    for mod, path in _modules():
        layer = _layer(mod)
        if layer not in ALLOWED:
            continue
        for imp in _imports(path):
            if imp not in names and imp.rsplit(".", 1)[0] in names:
                imp = imp.rsplit(".", 1)[0]  # an attribute, not a module
            target = _layer(imp)
            if target is None or target in ALLOWED[layer]:
                continue
            if (mod.removeprefix("sim."), target) in EXCEPTIONS:
                continue
            bad.append(f"{mod} imports {imp}")
    assert not bad, "\n".join(bad)


def test_plots_never_load_the_model():
    for mod, path in _modules():
        if mod.startswith("sim.report.plots") or mod in ("sim.report.folder", "sim.report.results"):
            for imp in _imports(path):
                assert _layer(imp) not in ("model", "run", "faults"), (mod, imp)


def test_no_import_cycles():
    g = nx.DiGraph()
    names = {m for m, _ in _modules()}
    for mod, path in _modules():
        g.add_node(mod)
        for imp in _imports(path, top_level_only=True):
            if imp in names and imp != mod and not mod.startswith(imp + "."):
                g.add_edge(mod, imp)
    cycles = [c for c in nx.simple_cycles(g) if len(c) > 1]
    assert not cycles, cycles
