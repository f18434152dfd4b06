"""The package's import graph: no cycles, no module importing another module's ``_private`` names.

Every ``from geoequity... import`` and ``import geoequity...`` of every module is read with
``ast`` (top-level and inside functions; ``if TYPE_CHECKING:`` blocks are annotations, not
imports). ``from pkg import name`` is an edge to the submodule ``pkg.name`` when it is one, else
to ``pkg``. Importing a ``_``-prefixed *module* (``_errors``, ``_kernels``) is allowed: those are
package-private modules; importing a ``_name`` defined in another module is not.

The whole package must be clean (``KNOWN_PRIVATE`` and ``KNOWN_CYCLES`` list accepted
exceptions: none); the cost layer (``costs.py``, ``network/``, the CLI's cost flags) is also
checked on its own, with the one-way rule inside ``network/``.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

PKG = REPO / "geoequity"
COST_LAYER = ("geoequity.costs", "geoequity.network", "geoequity.cli._common",
              "geoequity.cli.costs")
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, object]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return getattr(t, "id", None) == "TYPE_CHECKING" or getattr(t, "attr", None) == \
        "TYPE_CHECKING"


def import_graph():
    """The package's import graph (see :func:`import_graph_of`)."""
    return import_graph_of({m: p.read_text(encoding="utf-8") for m, p in _modules().items()})


def import_graph_of(sources: dict[str, str]):
    """``(edges, private)`` of modules given as ``{name: source text}``: module -> modules it
    imports, and the (module, from, _name) triples of private names imported across."""
    mods = sources
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = set()
    for mod, text in mods.items():
        tree = ast.parse(text)
        hidden = {id(c) for n in ast.walk(tree) if isinstance(n, ast.If) and _type_checking(n)
                  for c in ast.walk(n)}
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and \
                    (node.module or "").split(".")[0] == "geoequity":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in mods:
                        edges[mod].add(sub)
                        continue
                    edges[mod].add(node.module)
                    name = alias.name
                    if name.startswith("_") and not name.startswith("__") and \
                            node.module != mod:
                        private.add((mod, node.module, name))
            elif isinstance(node, ast.Import):
                edges[mod].update(a.name for a in node.names if a.name in mods)
    return edges, private


def cycles(edges) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.add(frozenset(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def _cost_layer(mod: str) -> bool:
    return any(mod == m or mod.startswith(m + ".") for m in COST_LAYER)


def test_the_checker_sees_a_cycle_and_a_private_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {
        frozenset({"a", "b", "c"})}
    edges, private = import_graph()
    # what it reads: the cost layer's real imports
    assert "geoequity.network.search" in edges["geoequity.costs"]
    assert "geoequity.network.arrays" in edges["geoequity.network.contract"]
    assert "geoequity.network._kernels" in edges["geoequity.network.search"]
    _, found = import_graph_of({"geoequity.a": "from geoequity.b import _x, y\n",
                                "geoequity.b": "_x = y = 1\n"})
    assert found == {("geoequity.a", "geoequity.b", "_x")}
    edges, _ = import_graph_of({"geoequity.c": "from typing import TYPE_CHECKING\n"
                                "if TYPE_CHECKING:\n    from geoequity.a import z\n"
                                "def f():\n    from geoequity.b import y\n",
                                "geoequity.a": "", "geoequity.b": ""})
    assert edges["geoequity.c"] == {"geoequity.b"}  # annotations only: no edge to a


def test_cost_layer_has_no_cycle_and_no_private_import():
    edges, private = import_graph()
    for comp in cycles(edges):
        assert not any(_cost_layer(m) for m in comp), sorted(comp)
    bad = [p for p in private if _cost_layer(p[0]) or _cost_layer(p[1])]
    assert bad == []
    # network/ modules below search never import costs or the search (data flows one way)
    for mod in ("graph", "snap", "contract", "arrays", "modes", "cache", "sources"):
        up = edges[f"geoequity.network.{mod}"]
        assert "geoequity.costs" not in up and "geoequity.network.search" not in up, mod


def test_no_new_cycle_or_private_import_anywhere():
    edges, private = import_graph()
    assert cycles(edges) <= KNOWN_CYCLES
    assert private <= KNOWN_PRIVATE


@pytest.mark.parametrize("module", ["geoequity.network.snap", "geoequity.network.contract",
                                    "geoequity.network.search", "geoequity.costs"])
def test_each_cost_layer_module_imports_on_its_own(module):
    r = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
