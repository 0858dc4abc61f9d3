"""unit: the import contract written in pyproject.toml ([tool.layers]) holds over every import of
our code, including those inside functions: engines/ imports nothing of ours, core/ only engines/,
agent/ and workers/ only core/ and engines/, app/ those and `workers.tasks` (to enqueue) and
nothing imports app/. And no module imports itself through a circle of other modules, and none is
imported by a string (`importlib.import_module`, `__import__`), which this walk could not see: the
providers' engines (engines/providers/) are made by factories that import them by name."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["layers"]
OURS = tuple(CONTRACT)


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of our packages."""
    out = {}
    for pkg in OURS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports() -> dict[str, set[str]]:
    """Module → the modules of ours it imports (`from a import b` is a.b when that is a module)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for name in targets:
                if name.split(".")[0] in OURS:
                    while name not in mods and "." in name:
                        name = name.rpartition(".")[0]
                    if name != mod:
                        graph[mod].add(name)
    return graph


def allowed(importer: str, imported: str) -> bool:
    """Whether module `importer` may import module `imported` under the contract."""
    src, dst = importer.split(".")[0], imported.split(".")[0]
    if src == dst:
        return True
    return any(imported == rule or imported.startswith(rule + ".") for rule in CONTRACT[src])


def test_the_contract_covers_our_packages_and_engines_stay_alone() -> None:
    assert set(OURS) == {"engines", "core", "app", "workers", "agent"}
    assert CONTRACT["engines"] == []
    assert not any(rule.split(".")[0] == "app" for rules in CONTRACT.values() for rule in rules)


def test_no_module_imports_what_the_contract_forbids() -> None:
    graph = imports()
    wrong = sorted(f"{a} → {b}" for a, targets in graph.items() for b in targets if not allowed(a, b))
    assert not wrong, "imports the contract in pyproject.toml [tool.layers] forbids:\n" + "\n".join(wrong)
    # The walk sees imports at all, relative ones included, and those inside functions: a
    # provider's engines are imported by its record's factories when first made.
    assert "core.settings" in graph["core.runtime"] and "workers.tasks" in graph["app.transcripts"]
    assert {"engines.providers.xai.stt", "engines.providers.google.translation",
            "engines.providers.local.whisper"} <= set().union(*(graph[f"engines.providers.{p}"]
                                                                for p in ("xai", "google", "local")))
    assert "engines.providers" in graph["core.providers"]


STRING_IMPORTS = {"import_module", "__import__"}


def test_no_module_is_imported_by_a_string() -> None:
    """Not ours (a string the walk cannot follow past the layers), nor anyone's: which module a
    computed name means cannot be told from the source, so none is allowed."""
    found = []
    for mod, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            func = node.func if isinstance(node, ast.Call) else None
            name = (func.id if isinstance(func, ast.Name)
                    else func.attr if isinstance(func, ast.Attribute) else "")
            if name in STRING_IMPORTS:
                found.append(f"{mod}:{node.lineno}")
    assert not found, "imports by a string:\n" + "\n".join(found)


def test_no_module_is_part_of_an_import_circle() -> None:
    graph = imports()
    state: dict[str, int] = {}
    circles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" → ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not circles, "import circles:\n" + "\n".join(circles)
