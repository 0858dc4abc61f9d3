"""unit: the import graph keeps its layers — engines/ imports nothing of ours, core/ nothing of
app/, workers/ or agent/, neither workers/ nor agent/ reaches up into app/, and the packages form
no circle. Every import counts, including those inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
OURS = ("engines", "core", "app", "workers", "agent")
# What each package may import of ours (besides itself).
ALLOWED = {
    "engines": set(),
    "core": {"engines"},
    "workers": {"core", "engines", "agent"},
    "agent": {"core", "engines"},
    "app": {"core", "engines", "workers", "agent"},
}


def imports() -> dict[str, set[tuple[str, str]]]:
    """Package → {(importing file, imported top-level package of ours)}."""
    out: dict[str, set[tuple[str, str]]] = {p: set() for p in OURS}
    for pkg in OURS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in OURS and top != pkg:
                        out[pkg].add((str(path.relative_to(ROOT)), top))
    return out


def test_no_package_imports_above_its_layer() -> None:
    found = imports()
    wrong = sorted((f, top) for pkg, edges in found.items() for f, top in edges if top not in ALLOWED[pkg])
    assert not wrong, f"imports that reach up a layer: {wrong}"
    assert found["workers"] and found["agent"]  # the walk sees imports at all


def test_the_packages_form_no_circle() -> None:
    graph = {pkg: {top for _, top in edges} for pkg, edges in imports().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, f"import circle: {' → '.join([*path, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for pkg in OURS:
        if pkg not in state:
            visit(pkg, [pkg])
