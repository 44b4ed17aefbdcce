"""Imports only go down: the import graph of `nasdsl`, read from the source with `ast` (imports
inside functions included, since a lazy import is a dependency all the same), has no cycle; no
module imports another's private names; the command line is the top floor."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nasdsl"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every nasdsl import in one module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "nasdsl"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nasdsl":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, None) if sub in modules else (target, alias.name))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module, _ in _imports(name, path, modules):
            while module not in modules:   # `import nasdsl.x.y` of a name: its module
                module = module.rpartition(".")[0]
            targets.add(module)
        graph[name] = targets - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_walker_sees_the_imports_it_should():
    graph = _graph()
    assert "nasdsl.ops.catalog" in graph["nasdsl.analysis.shapes"]        # at module level
    assert "nasdsl.analysis.costs" in graph["nasdsl.space"]               # inside a method
    assert "nasdsl.ops.modules" in graph["nasdsl"]                        # the package's own __init__
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_cycle():
    assert _cycle(_graph()) is None


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    private = sorted(f"{name} imports {target}.{imported}"
                     for name, path in modules.items()
                     for target, imported in _imports(name, path, modules)
                     if imported and imported.startswith("_") and not imported.startswith("__"))
    assert private == []


def test_the_command_line_is_the_top_floor():
    """Nothing in the library imports `nasdsl.cli` (only `python -m nasdsl` runs it), and the
    training loop imports no search driver (the drivers call it)."""
    graph = _graph()
    assert sorted(name for name, targets in graph.items() if "nasdsl.cli" in targets) == ["nasdsl.__main__"]
    assert not {t for t in graph["nasdsl.train"] if t.startswith("nasdsl.search")}
    # the argument helpers the drivers share live in the library, below both
    assert "nasdsl.options" in graph["nasdsl.search.multitrial"] and "nasdsl.options" in graph["nasdsl.cli"]
